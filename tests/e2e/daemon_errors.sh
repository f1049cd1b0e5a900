#!/usr/bin/env bash
# daemon_errors.sh - the vwire command line and its QMP socket, without root.
# Promises checked: every bad option is refused with "vwire: -OPTION TEXT: message" naming
# the value, a non-zero status, and no pid file or QMP socket left behind; -readconfig
# builds the same things as -netdev and reports bad files by line; -daemonize returns only
# once the daemon runs (or prints the daemon's error and fails); the pid file is locked;
# SIGTERM and QMP quit shut down cleanly; set_link, netdev_add/netdev_del and
# 'info network' work at run time through tests/e2e/lib/qmp.py.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP=$E2E_DIR/lib/qmp.py
require_cmd python3
require_vwire

pidf=$E2E_TMP/vwire.pid
sock=$E2E_TMP/qmp.sock
qmpopt="unix:$sock,server=on,wait=off"
out=$E2E_TMP/out
checks=0

qmp() { python3 "$QMP" "$sock" "$@"; }
hmp() { python3 "$QMP" hmp "$sock" "$@"; }

# no_leftovers WHAT: neither the pid file nor the QMP socket may exist.
no_leftovers() {
	[[ ! -e $pidf ]] || e2e_fail "$1: pid file left behind"
	[[ ! -e $sock ]] || e2e_fail "$1: QMP socket left behind"
}

# expect_fail EXPECTED_STDERR ARGS...: vwire must exit non-zero, print a line containing
# EXPECTED_STDERR (fixed string) and leave nothing behind.
expect_fail() {
	local want=$1 rc=0
	shift
	timeout 10 "$VWIRE" -pidfile "$pidf" -qmp "$qmpopt" "$@" >"$out" 2>&1 || rc=$?
	((rc != 0)) || e2e_fail "'vwire $*' succeeded"
	((rc != 124)) || e2e_fail "'vwire $*' did not exit"
	grep -qF -- "$want" "$out" ||
		e2e_fail "'vwire $*': expected '$want', got: $(cat "$out")"
	no_leftovers "vwire $*"
	checks=$((checks + 1))
}

# 1. Malformed options, each named with its text.
hp=hubport,id=h0,hubid=0
expect_fail "vwire: -netdev frob,id=x: type 'frob' is not supported" -netdev frob,id=x
expect_fail "vwire: -netdev hubport,hubid=0: Parameter 'id' is missing" -netdev hubport,hubid=0
expect_fail "vwire: -netdev $hp: Duplicate ID 'h0'" -netdev $hp -netdev $hp
expect_fail "vwire: -netdev $hp,colour=red: -netdev hubport: invalid parameter 'colour'" \
	-netdev $hp,colour=red
expect_fail "vwire: -netdev $hp,learning=maybe: learning=maybe: expected on or off" \
	-netdev $hp,learning=maybe
expect_fail "vwire: -netdev hubport,id=h0,hubid=zero: hubid=zero: expected a non-negative number" \
	-netdev hubport,id=h0,hubid=zero
expect_fail "vwire: -netdev $hp,netdev=ghost: netdev=ghost: no such netdev" -netdev $hp,netdev=ghost
expect_fail "vwire: -netdev hubport,id=h0: Parameter 'hubid' is missing" -netdev hubport,id=h0
expect_fail "vwire: -netdev hubport,,id=x: " -netdev hubport,,id=x
expect_fail "vwire: -object nosuch,id=o: " -object nosuch,id=o
vx=vxlan,id=x
expect_fail "vwire: -netdev $vx,local=127.0.0.1: 'vni' is missing" -netdev $vx,local=127.0.0.1
expect_fail "vwire: -netdev $vx,vni=16777216,local=127.0.0.1: vni=16777216: out of range" \
	-netdev $vx,vni=16777216,local=127.0.0.1
expect_fail "vwire: -netdev $vx,vni=1: 'local' is missing" -netdev $vx,vni=1
expect_fail "vwire: -netdev $vx,vni=1,local=host: local=host: not a unicast IPv4 or IPv6 address" \
	-netdev $vx,vni=1,local=host
expect_fail "remote=::1: not a unicast address of 127.0.0.1's family" \
	-netdev $vx,vni=1,local=127.0.0.1,remote=::1
expect_fail "group=10.0.0.1: not a multicast address" \
	-netdev geneve,id=g,vni=1,local=127.0.0.1,group=10.0.0.1
expect_fail "local=192.0.2.99: no interface has this address" \
	-netdev $vx,vni=1,local=192.0.2.99
expect_fail "port=70000: " -netdev $vx,vni=1,local=127.0.0.1,port=70000
expect_fail "vwire: -device nosuch: " -device nosuch
vn="virtio-net,id=v0,netdev=h0,socket=$E2E_TMP/v0.sock"
expect_fail "vwire: -device $vn,poll=on,poll-us=50: poll=on and poll-us=50 cannot be combined" \
	-netdev $hp -device "$vn,poll=on,poll-us=50"
expect_fail "vwire: -device $vn,poll-us=200000: poll-us=200000" -netdev $hp -device "$vn,poll-us=200000"
e1=e1000,id=e0,netdev=h0
expect_fail "vwire: -device $e1: exactly one of 'socket' and 'fd' is needed" -netdev $hp -device $e1
expect_fail "vwire: -device $e1,socket=$E2E_TMP/e.sock,fd=3: exactly one of 'socket' and 'fd'" \
	-netdev $hp -device "$e1,socket=$E2E_TMP/e.sock,fd=3"
expect_fail "vwire: -device $e1,fd=abc: fd=abc: not a file descriptor number" -netdev $hp -device "$e1,fd=abc"
expect_fail "vwire: -device $e1,fd=99: fd=99: not a socket" -netdev $hp -device "$e1,fd=99"
expect_fail "netdev=nosuch: no such netdev" -device "e1000,id=e0,netdev=nosuch,socket=$E2E_TMP/e.sock"
expect_fail "mac=01:00:00:00:00:01: expected a unicast" -netdev $hp \
	-device "$e1,socket=$E2E_TMP/e.sock,mac=01:00:00:00:00:01"
expect_fail "socket: cannot bind $E2E_TMP/no/e.sock" -netdev $hp -device "$e1,socket=$E2E_TMP/no/e.sock"
[[ ! -e $E2E_TMP/e.sock ]] || e2e_fail "a refused e1000 left its socket behind"
expect_fail "vwire: -frobnicate: invalid option" -frobnicate
expect_fail "vwire: -netdev: requires an argument" -netdev
# The earlier, valid netdevs are torn down too (nothing is left half-made); a later
# option's error still names that option.
expect_fail "vwire: -netdev hubport,id=h2,hubid=0,x=1:" -netdev $hp -netdev hubport,id=h1,hubid=0 \
	-netdev hubport,id=h2,hubid=0,x=1

# 2. Bad -qmp, -D, -pidfile forms.
expect_fail "vwire: -qmp tcp:127.0.0.1:4444,server=on,wait=off: only unix:PATH sockets" \
	-qmp tcp:127.0.0.1:4444,server=on,wait=off -netdev $hp
expect_fail "vwire: -qmp unix:$E2E_TMP/other.sock: server=on is required" \
	-qmp "unix:$E2E_TMP/other.sock" -netdev $hp
expect_fail "vwire: -qmp unix:$E2E_TMP/other.sock,server=on,wait=on: wait=on: only wait=off" \
	-qmp "unix:$E2E_TMP/other.sock,server=on,wait=on" -netdev $hp
expect_fail "vwire: -D $E2E_TMP/no/such/dir/log: cannot open" -D "$E2E_TMP/no/such/dir/log" \
	-netdev $hp
rc=0
timeout 10 "$VWIRE" -pidfile "$E2E_TMP/no/such/dir/pid" -netdev $hp >"$out" 2>&1 || rc=$?
((rc != 0)) && grep -qF "vwire: -pidfile $E2E_TMP/no/such/dir/pid: cannot open pid file" "$out" ||
	e2e_fail "bad -pidfile: rc=$rc $(cat "$out")"

# 3. -readconfig: bad files are reported by line; a good one is used.
cfg=$E2E_TMP/vwire.cfg
expect_fail "vwire: -readconfig $E2E_TMP/none.cfg: cannot open" -readconfig "$E2E_TMP/none.cfg"
printf '[netdev "h0"]\n  type = "hubport"\n  hubid = "0"\ngarbage here\n' >"$cfg"
expect_fail "vwire: -readconfig $cfg:4: parse error" -readconfig "$cfg"
printf '[machine]\n  type = "q35"\n' >"$cfg"
expect_fail "vwire: -readconfig $cfg:1: there is no option group 'machine'" -readconfig "$cfg"
printf '[netdev "h0"]\n  hubid = "0"\n' >"$cfg"
expect_fail "vwire: -readconfig $cfg:1: [netdev] section has no type" -readconfig "$cfg"
printf '# ok\n[netdev "h0"]\n  type = "hubport"\n  hubid = "0"\n\n[netdev "h1"]\n  type = "hubport"\n  hubid = "0"\n  learning = "perhaps"\n' >"$cfg"
expect_fail "vwire: $cfg:6: -netdev hubport,id=h1,hubid=0,learning=perhaps: learning=perhaps" \
	-readconfig "$cfg"

# 4. -daemonize: the parent prints the daemon's error and fails.
expect_fail "vwire: -netdev hubport,id=hx: Parameter 'hubid' is missing" -daemonize \
	-netdev hubport,id=hx
e2e_log "$checks refusals checked"

# 5. -daemonize success: the parent returns once the daemon is up; the pid file is locked.
printf '[netdev "hA"]\n  type = "hubport"\n  hubid = "0"\n[netdev "hB"]\n  type = "hubport"\n  hubid = "0"\n' >"$cfg"
timeout 10 "$VWIRE" -daemonize -pidfile "$pidf" -qmp "$qmpopt" -readconfig "$cfg" \
	-name e2e -D "$E2E_TMP/daemon.log" >"$out" 2>&1 || e2e_fail "-daemonize: $(cat "$out")"
[[ -s $pidf && -S $sock ]] || e2e_fail "-daemonize returned before the pid file and socket"
dpid=$(cat "$pidf")
record_pid "$dpid"
pid_alive "$dpid" || e2e_fail "pid file names $dpid, which does not run"
[[ $(awk '{ print $4 }' "/proc/$dpid/stat") == 1 ]] || true # reparented (not required)
rc=0
timeout 10 "$VWIRE" -pidfile "$pidf" -netdev hubport,id=z,hubid=9 >"$out" 2>&1 || rc=$?
((rc != 0)) && grep -qF "vwire: -pidfile $pidf: cannot lock pid file" "$out" ||
	e2e_fail "a second instance took the locked pid file: $(cat "$out")"
[[ $(cat "$pidf") == "$dpid" ]] || e2e_fail "the refused instance changed the pid file"
[[ $(qmp query-name) == '{"name": "e2e"}' ]] || e2e_fail "query-name: $(qmp query-name)"
kill -TERM "$dpid"
wait_until 5 pid_gone "$dpid" || e2e_fail "daemon ignored SIGTERM"
no_leftovers "daemon after SIGTERM"
grep -q "terminating on signal 15" "$E2E_TMP/daemon.log" || e2e_fail "no shutdown in the log"
e2e_log "-daemonize, pid file lock and SIGTERM shutdown OK"

# 6. Foreground daemon driven over QMP.
"$VWIRE" -pidfile "$pidf" -qmp "$qmpopt" -readconfig "$cfg" -D "$E2E_TMP/fg.log" \
	</dev/null >"$E2E_TMP/fg.out" 2>&1 &
vpid=$!
record_pid "$vpid"
wait_for_socket "$sock" || e2e_fail "no QMP socket: $(cat "$E2E_TMP/fg.out")"

link_of() { # NAME: true or false
	qmp query-netdevs | python3 -c '
import json, sys
print(str([e for e in json.load(sys.stdin) if e["id"] == sys.argv[1]][0]["link-up"]).lower())' "$1"
}
[[ $(link_of hA) == true ]] || e2e_fail "hA starts down"
qmp set_link '{"name": "hA", "up": false}' >/dev/null
[[ $(link_of hA) == false ]] || e2e_fail "set_link off did not take"
qmp set_link '{"name": "hA", "up": true}' >/dev/null
[[ $(link_of hA) == true ]] || e2e_fail "set_link on did not take"
if qmp set_link '{"name": "ghost", "up": true}' 2>"$out"; then e2e_fail "set_link ghost worked"; fi
grep -qF "DeviceNotFound: Device 'ghost' not found" "$out" || e2e_fail "set_link ghost: $(cat "$out")"

qmp netdev_add '{"type": "hubport", "id": "hC", "hubid": 1}' >/dev/null
# QEMU's order: the newest hub first, and in each hub the newest port first.
want=$'hub 1\n \\ hC\nhub 0\n \\ hB\n \\ hA'
got=$(hmp info network)
[[ $got == "$want" ]] || e2e_fail "info network: got '$got', want '$want'"
if qmp netdev_add '{"type": "hubport", "id": "hC", "hubid": 1}' 2>"$out"; then
	e2e_fail "duplicate netdev_add worked"
fi
grep -qF "Duplicate ID 'hC'" "$out" || e2e_fail "duplicate netdev_add: $(cat "$out")"
qmp netdev_del '{"id": "hC"}' >/dev/null
got=$(hmp info network)
[[ $got == $'hub 0\n \\ hB\n \\ hA' ]] || e2e_fail "after netdev_del: '$got'"
[[ $(hmp info version) == "0.1.0 (vwire)" ]] || e2e_fail "info version: $(hmp info version)"
e2e_log "QMP set_link, netdev_add/netdev_del and info network OK"

# A client that sends garbage gets an error and the daemon serves the next one.
printf '{"execute": "qmp_capabilities"}\n{oops\n{"execute": "query-status"}\n' |
	python3 "$QMP" raw "$sock" 1 >"$out"
grep -q '"JSON parse error' "$out" || e2e_fail "no parse error reply: $(cat "$out")"
grep -q '"running": true' "$out" || e2e_fail "no reply after the parse error: $(cat "$out")"

# QMP quit: exit 0, everything removed.
qmp quit >/dev/null
rc=0
wait_until 5 pid_gone "$vpid" || true
wait "$vpid" || rc=$?
((rc == 0)) || e2e_fail "vwire exited $rc after quit"
no_leftovers "daemon after quit"

# 7. SIGINT in the foreground: exit 0, nothing left.
"$VWIRE" -pidfile "$pidf" -qmp "unix:$sock,server,nowait" -netdev $hp </dev/null \
	>"$E2E_TMP/int.out" 2>&1 &
vpid=$!
record_pid "$vpid"
wait_for_socket "$sock" || e2e_fail "no QMP socket: $(cat "$E2E_TMP/int.out")"
kill -INT "$vpid"
rc=0
wait "$vpid" || rc=$?
((rc == 0)) || e2e_fail "vwire exited $rc on SIGINT"
no_leftovers "daemon after SIGINT"
e2e_log "quit and SIGINT shut down cleanly"

# 8. Help and version.
"$VWIRE" -netdev help | e2e_grep -x hubport || e2e_fail "-netdev help does not list hubport"
"$VWIRE" -netdev hubport,help | e2e_grep "hubid" || e2e_fail "-netdev hubport,help"
"$VWIRE" --version | e2e_grep "^vwire version 0.1.0" || e2e_fail "--version"
"$VWIRE" -h | e2e_grep -- "-readconfig" || e2e_fail "-h"
for v in -version --version -V; do
	timeout 5 "$VWIRE" "$v" >"$out" 2>&1 || e2e_fail "$v: exit status $? (expected 0, at once)"
	[[ $(wc -l <"$out") == 1 ]] || e2e_fail "$v: printed more than one line: $(cat "$out")"
done

# 9. Log timestamps: ISO 8601 in UTC by default and with -msg timestamp=on, none with =off.
log_first_line() {
	local log=$E2E_TMP/ts.log vpid
	rm -f "$log"
	"$VWIRE" -D "$log" "$@" -netdev hubport,id=h0,hubid=0 &
	vpid=$!
	wait_for_log_line "$log" "started" 10 || e2e_fail "vwire $* did not start"
	kill "$vpid"
	wait "$vpid" || true
	grep "started" "$log"
}
iso='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z vwire info: started'
log_first_line | e2e_grep -E "$iso" || e2e_fail "default log line: $(log_first_line)"
log_first_line -msg timestamp=on | e2e_grep -E "$iso" || e2e_fail "-msg timestamp=on"
log_first_line -msg timestamp | e2e_grep -E "$iso" || e2e_fail "-msg timestamp"
log_first_line -msg timestamp=off | e2e_grep -E '^vwire info: started' || e2e_fail "-msg timestamp=off"
expect_fail "vwire: -msg timestamp=maybe: timestamp=maybe: expected on or off" -msg timestamp=maybe
expect_fail "vwire: -msg color=on: -msg: invalid parameter 'color'" -msg color=on
e2e_log "log timestamps: ISO 8601 UTC, -msg timestamp=on|off"
echo "PASS: $E2E_NAME"
