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
import socket
import sys
import time


class QMPError(Exception):
    """An {"error": ...} reply."""

    def __init__(self, err):
        super().__init__("%s: %s" % (err.get("class"), err.get("desc")))
        self.err_class = err.get("class")
        self.desc = err.get("desc")


class QMP:
    """One connection: greeting read and capabilities negotiated on connect()."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.events = []
        self.greeting = None

    def connect(self, negotiate=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)
        self.greeting = self.recv()
        if "QMP" not in self.greeting:
            raise RuntimeError("no QMP greeting: %r" % self.greeting)
        if negotiate:
            self.command("qmp_capabilities")
        return self

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def recv(self):
        """The next message (one JSON object a line)."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by vwire")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send_raw(self, data):
        self.sock.sendall(data)

    def execute(self, cmd, args=None, msg_id=None):
        """Send a command; return its reply (events seen first are kept in .events)."""
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        if msg_id is not None:
            req["id"] = msg_id
        self.send_raw(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def command(self, cmd, args=None):
        """Run a command; return its "return" value or raise QMPError."""
        reply = self.execute(cmd, args)
        if "error" in reply:
            raise QMPError(reply["error"])
        return reply["return"]

    def hmp(self, line):
        """Run a human monitor command; return its text with plain newlines."""
        text = self.command("human-monitor-command", {"command-line": line})
        return text.replace("\r\n", "\n")


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
