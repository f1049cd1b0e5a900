#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""qmp.py - a small QMP client for the e2e tests (python3 standard library only).

    python3 qmp.py SOCKET COMMAND [JSON-ARGS]   run COMMAND; print its return as JSON
    python3 qmp.py hmp SOCKET "info network"     run a human monitor command; print its text
    python3 qmp.py raw SOCKET [WAIT]             send stdin as-is after negotiating; print
                                                 every line received for WAIT seconds (0.5)

Exit status: 0 on success, 1 when the command returned an error (printed on stderr as
"CLASS: desc"), 2 on a usage or connection problem.
"""
import json
import os
import socket
import sys
import time


# The client class is vwirectl's (src/ctl/vwirectl.py): one QMP client in the tree.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "src", "ctl"))
from vwirectl import QMP, QMPError  # noqa: E402  pylint: disable=wrong-import-position


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        if argv[1] == "hmp":
            with_conn = QMP(argv[2]).connect()
            sys.stdout.write(with_conn.hmp(" ".join(argv[3:])))
            with_conn.close()
            return 0
        if argv[1] == "raw":
            conn = QMP(argv[2]).connect()
            wait = float(argv[3]) if len(argv) > 3 else 0.5
            conn.send_raw(sys.stdin.buffer.read())
            end = time.time() + wait
            conn.sock.settimeout(0.1)
            while time.time() < end:
                try:
                    print(json.dumps(conn.recv()))
                except socket.timeout:
                    continue
                except ConnectionError:
                    break
            conn.close()
            return 0
        path, cmd = argv[1], argv[2]
        args = json.loads(argv[3]) if len(argv) > 3 else None
        conn = QMP(path).connect()
        ret = conn.command(cmd, args)
        conn.close()
        print(json.dumps(ret))
        return 0
    except QMPError as e:
        sys.stderr.write("%s\n" % e)
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        sys.stderr.write("qmp.py: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
