#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vwirectl - talk to a running vwire over its QMP control socket (python3 standard library only).

usage: vwirectl [-s SOCKET] COMMAND [ARGS]

commands:
  info network                  the netdevs, front ends and hubs, as QEMU's 'info network'
  query-netdevs [--json]        one line per net client (--json: QMP's reply as is)
  set_link ID on|off            set a client's link up or down
  netdev_add TYPE,id=ID[,...]   add a back end, in QEMU's option syntax (',,' is a comma)
  netdev_del ID                 remove a back end
  hostfwd_add [NETDEV] RULE     forward a host port into user-mode networking, as QEMU's
                                hostfwd_add: [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT
  hostfwd_remove [NETDEV] RULE  remove one: [tcp|udp]:[HOSTADDR]:HOSTPORT
  fdb NETDEV                    a vxlan or geneve netdev's forwarding table: MAC, remote host,
                                static or learnt and its age (MAC 00:00:00:00:00:00: flooding)
  fdb_add NETDEV MAC REMOTE     add a static entry; MAC 00:00:00:00:00:00 adds REMOTE to the
                                hosts broadcast and unknown unicast go to
  fdb_del NETDEV MAC [REMOTE]   remove one (REMOTE is needed for 00:00:00:00:00:00)
  stats [--watch [SECONDS]]     packets, bytes and drops per client; --watch refreshes them
                                (every SECONDS, default 1) with rates, until interrupted
  events [--json]               print QMP events, one line each, until interrupted
  qmp COMMAND [JSON-ARGUMENTS]  run any QMP command; print its return as JSON
  pci-exec PCISOCKET PROGRAM [ARG...]
                                connect to the socket= of a vwire PCI device (-device e1000)
                                and run PROGRAM (QEMU) with the connection as an inherited fd;
                                '{fd}' in the arguments becomes its number, as in
                                -device x-pci-proxy-dev,fd={fd}

SOCKET defaults to the QMP socket of vwire's built-in default run: $XDG_RUNTIME_DIR/vwire.qmp,
or /tmp/vwire-UID/vwire.qmp without XDG_RUNTIME_DIR. Start vwire with
'-qmp unix:SOCKET,server=on,wait=off' to get one elsewhere.

Exit status: 0 success; 1 vwire refused the command (its error is printed); 2 usage error or no
connection to vwire.
"""
import json
import os
import signal
import socket
import sys
import time

PROG = "vwirectl"


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

    def next_event(self):
        """The next event: one seen while waiting for a reply, else the next received."""
        if self.events:
            return self.events.pop(0)
        while True:
            msg = self.recv()
            if "event" in msg:
                return msg

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


class UsageError(Exception):
    """A command line vwirectl cannot run."""


class NoConnection(Exception):
    """vwire cannot be reached (the message says why and what to try)."""


class LazyQMP(QMP):
    """Connects at the first command, so that usage errors come first."""

    def ensure(self):
        if self.sock:
            return
        try:
            self.connect()
        except (OSError, ValueError, RuntimeError) as e:
            self.close()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            msg = "cannot talk to vwire at %s: %s" % (self.path, reason)
            if isinstance(e, (FileNotFoundError, ConnectionRefusedError)):
                msg += ("\n%s: is vwire running with -qmp unix:%s,server=on,wait=off?"
                        " (-s SOCKET picks another socket)" % (PROG, self.path))
            raise NoConnection(msg)

    def execute(self, cmd, args=None, msg_id=None):
        if not self.sock and cmd != "qmp_capabilities":
            self.ensure()
        return super().execute(cmd, args, msg_id)


def default_socket():
    """Where vwire's built-in default run puts its QMP socket (core/unix-socket.h)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/"):
        return os.path.join(xdg, "vwire.qmp")
    return "/tmp/vwire-%d/vwire.qmp" % os.geteuid()


def parse_opts(text):
    """QEMU's option syntax: 'TYPE,key=value,...' (',,' a literal comma) to QMP arguments.

    The first element without '=' is the type; a key given twice becomes a list."""
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1:i + 2] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    args = {}
    for n, part in enumerate(parts):
        if "=" not in part:
            if n == 0 and part:
                key, value = "type", part
            else:
                raise UsageError("'%s': expected key=value in '%s'" % (part, text))
        else:
            key, value = part.split("=", 1)
        if not key:
            raise UsageError("empty option name in '%s'" % text)
        if key in args:
            if not isinstance(args[key], list):
                args[key] = [args[key]]
            args[key].append(value)
        else:
            args[key] = value
    if "type" not in args:
        raise UsageError("'%s': no back end type (e.g. tap,id=net1,ifname=tap1)" % text)
    if "id" not in args:
        raise UsageError("'%s': no id=" % text)
    return args


def need(argv, lo, hi, usage):
    if not lo <= len(argv) <= hi:
        raise UsageError("usage: %s %s" % (PROG, usage))


def cmd_info(conn, argv):
    need(argv, 1, 1, "info network")
    if argv[0] != "network":
        raise UsageError("usage: %s info network" % PROG)
    sys.stdout.write(conn.hmp("info network"))
    return 0


def peer_of(c):
    if "peer" in c:
        return c["peer"]
    if "hubid" in c:
        return "hub %d" % c["hubid"]
    return "-"


def cmd_query_netdevs(conn, argv):
    if argv not in ([], ["--json"]):
        raise UsageError("usage: %s query-netdevs [--json]" % PROG)
    clients = conn.command("query-netdevs")
    if argv:
        print(json.dumps(clients, indent=2))
        return 0
    rows = [("ID", "TYPE", "PEER", "LINK", "INFO")]
    for c in clients:
        name = c["id"] if not c.get("queue-index") else "%s[%d]" % (c["id"], c["queue-index"])
        rows.append((name, c.get("type", "?"), peer_of(c),
                     "up" if c.get("link-up", True) else "down", c.get("info", "")))
    print_table(rows)
    return 0


def print_table(rows, right=()):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i == len(r) - 1 and i not in right:
                cells.append(str(v))
            elif i in right:
                cells.append(str(v).rjust(widths[i]))
            else:
                cells.append(str(v).ljust(widths[i]))
        print("  ".join(cells).rstrip())


def cmd_set_link(conn, argv):
    need(argv, 2, 2, "set_link ID on|off")
    if argv[1] not in ("on", "off"):
        raise UsageError("set_link: '%s' is neither on nor off" % argv[1])
    conn.command("set_link", {"name": argv[0], "up": argv[1] == "on"})
    return 0


def cmd_netdev_add(conn, argv):
    need(argv, 1, 1, "netdev_add TYPE,id=ID[,KEY=VALUE...]")
    conn.command("netdev_add", parse_opts(argv[0]))
    return 0


def cmd_netdev_del(conn, argv):
    need(argv, 1, 1, "netdev_del ID")
    conn.command("netdev_del", {"id": argv[0]})
    return 0


def hostfwd(conn, argv, cmd, usage):
    need(argv, 1, 2, usage)
    args = {"rule": argv[-1]}
    if len(argv) == 2:
        args["netdev"] = argv[0]
    conn.command(cmd, args)
    return 0


def cmd_hostfwd_add(conn, argv):
    return hostfwd(conn, argv, "hostfwd_add", "hostfwd_add [NETDEV] [tcp|udp]:[HOSTADDR]:"
                   "HOSTPORT-[GUESTADDR]:GUESTPORT")


def cmd_hostfwd_remove(conn, argv):
    return hostfwd(conn, argv, "hostfwd_remove",
                   "hostfwd_remove [NETDEV] [tcp|udp]:[HOSTADDR]:HOSTPORT")


def cmd_fdb(conn, argv):
    need(argv, 1, 1, "fdb NETDEV")
    rows = [("MAC", "REMOTE", "KIND", "AGE")]
    for e in conn.command("query-vxlan-fdb", {"netdev": argv[0]}):
        rows.append((e["mac"], e["remote"], "static" if e["static"] else "learnt",
                     "-" if e["static"] else "%ds" % e["age"]))
    print_table(rows)
    return 0


def cmd_fdb_add(conn, argv):
    need(argv, 3, 3, "fdb_add NETDEV MAC REMOTE")
    conn.command("vxlan-fdb-add", {"netdev": argv[0], "mac": argv[1], "remote": argv[2]})
    return 0


def cmd_fdb_del(conn, argv):
    need(argv, 2, 3, "fdb_del NETDEV MAC [REMOTE]")
    args = {"netdev": argv[0], "mac": argv[1]}
    if len(argv) == 3:
        args["remote"] = argv[2]
    conn.command("vxlan-fdb-del", args)
    return 0


STAT_KEYS = ("rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "rx-dropped", "tx-dropped")


def stats_rows(clients, before, dt):
    """The table's rows; with @before (id -> counters) and @dt, rates per second too."""
    head = ["ID", "TYPE", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-DROP", "TX-DROP",
            "QUEUED"]
    if before is not None:
        head += ["RX-PPS", "RX-BPS", "TX-PPS", "TX-BPS"]
    rows = [tuple(head)]
    for c in clients:
        key = (c["id"], c.get("queue-index", 0))
        name = c["id"] if not c.get("queue-index") else "%s[%d]" % key
        row = [name, c.get("type", "?")] + [c.get(k, 0) for k in STAT_KEYS]
        row.append(c.get("queue-length", 0))
        if before is not None:
            old = before.get(key)
            for k in ("rx-packets", "rx-bytes", "tx-packets", "tx-bytes"):
                row.append("-" if old is None or dt <= 0 else
                           "%.0f" % max(0, (c.get(k, 0) - old.get(k, 0)) / dt))
        rows.append(tuple(row))
    return rows


def cmd_stats(conn, argv):
    interval = None
    if argv:
        if argv[0] != "--watch" or len(argv) > 2:
            raise UsageError("usage: %s stats [--watch [SECONDS]]" % PROG)
        try:
            interval = float(argv[1]) if len(argv) == 2 else 1.0
        except ValueError:
            interval = -1
        if not interval > 0:
            raise UsageError("stats --watch: '%s' is not a positive number of seconds"
                             % argv[1])
    right = tuple(range(2, 13))
    if interval is None:
        print_table(stats_rows(conn.command("query-netdevs"), None, 0), right)
        return 0
    tty = sys.stdout.isatty()
    before, then = None, None
    while True:
        clients = conn.command("query-netdevs")
        now = time.monotonic()
        rows = stats_rows(clients, before if before is not None else {},
                          now - then if then else 0)
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J")
        print("%s  every %gs  (interrupt to stop)" % (time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                                      interval))
        print_table(rows, right)
        if not tty:
            print()
        sys.stdout.flush()
        before = {(c["id"], c.get("queue-index", 0)): c for c in clients}
        then = now
        time.sleep(interval)


def format_event(ev):
    ts = ev.get("timestamp", {})
    secs = ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    stamp += ".%06dZ" % ts.get("microseconds", 0)
    line = "%s %s" % (stamp, ev.get("event"))
    if "data" in ev:
        line += " " + json.dumps(ev["data"], sort_keys=True)
    return line


def cmd_events(conn, argv):
    if argv not in ([], ["--json"]):
        raise UsageError("usage: %s events [--json]" % PROG)
    conn.ensure()
    conn.sock.settimeout(None)
    while True:
        try:
            ev = conn.next_event()
        except ConnectionError:
            # After SHUTDOWN vwire closes the socket: the end of the stream, not a failure.
            return 0 if getattr(conn, "saw_shutdown", False) else fail_conn(conn)
        print(json.dumps(ev) if argv else format_event(ev), flush=True)
        if ev.get("event") == "SHUTDOWN":
            conn.saw_shutdown = True


def fail_conn(conn):
    sys.stderr.write("%s: %s: connection closed by vwire\n" % (PROG, conn.path))
    return 2


def cmd_qmp(conn, argv):
    need(argv, 1, 2, "qmp COMMAND [JSON-ARGUMENTS]")
    args = None
    if len(argv) == 2:
        try:
            args = json.loads(argv[1])
        except ValueError as e:
            raise UsageError("qmp: the arguments are not JSON: %s" % e)
        if not isinstance(args, dict):
            raise UsageError("qmp: the arguments must be a JSON object")
    print(json.dumps(conn.command(argv[0], args)))
    return 0


def cmd_pci_exec(conn, argv):
    if len(argv) < 2:
        raise UsageError("usage: pci-exec PCISOCKET PROGRAM [ARG...]")
    if not any("{fd}" in a for a in argv[2:]):
        raise UsageError("pci-exec: no '{fd}' in the arguments: the program would not use "
                         "the connection")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(argv[0])
    except OSError as e:
        raise NoConnection("%s: %s" % (argv[0], e.strerror))
    fd = s.detach()
    os.set_inheritable(fd, True)
    args = [a.replace("{fd}", str(fd)) for a in argv[1:]]
    try:
        os.execvp(args[0], args)
    except OSError as e:
        raise NoConnection("%s: %s" % (args[0], e.strerror))


COMMANDS = {
    "info": cmd_info,
    "query-netdevs": cmd_query_netdevs,
    "set_link": cmd_set_link,
    "netdev_add": cmd_netdev_add,
    "netdev_del": cmd_netdev_del,
    "hostfwd_add": cmd_hostfwd_add,
    "hostfwd_remove": cmd_hostfwd_remove,
    "fdb": cmd_fdb,
    "fdb_add": cmd_fdb_add,
    "fdb_del": cmd_fdb_del,
    "stats": cmd_stats,
    "events": cmd_events,
    "qmp": cmd_qmp,
    "pci-exec": cmd_pci_exec,
}


def main(argv):
    path = None
    args = argv[1:]
    while args and args[0].startswith("-"):
        if args[0] in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        if args[0] == "-s" and len(args) > 1:
            path, args = args[1], args[2:]
        elif args[0].startswith("--socket="):
            path, args = args[0].split("=", 1)[1], args[1:]
        else:
            sys.stderr.write("%s: unknown option '%s' (see %s -h)\n" % (PROG, args[0], PROG))
            return 2
    if not args:
        sys.stderr.write("%s: no command (see %s -h)\n" % (PROG, PROG))
        return 2
    fn = COMMANDS.get(args[0])
    if not fn:
        sys.stderr.write("%s: unknown command '%s' (see %s -h)\n" % (PROG, args[0], PROG))
        return 2
    path = path or default_socket()
    conn = LazyQMP(path)
    try:
        return fn(conn, args[1:])
    except NoConnection as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 2
    except UsageError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 2
    except QMPError as e:
        sys.stderr.write("%s: %s: %s\n" % (PROG, args[0], e.desc or e))
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        sys.stderr.write("%s: %s: %s\n" % (PROG, path, e))
        return 2
    finally:
        conn.close()


def run():
    # Interrupted: stop quietly (events and stats --watch run until then); 130 as a shell would.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        status = main(sys.argv)
        sys.stdout.flush()
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # The reader went away (vwirectl events | head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    sys.exit(status)


if __name__ == "__main__":
    run()
