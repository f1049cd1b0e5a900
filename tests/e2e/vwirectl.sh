#!/usr/bin/env bash
# vwirectl.sh - vwirectl (src/ctl/vwirectl.py) against a running vwire: every subcommand, its
# errors and exit status, and the QMP events it follows. Three virtio-net devices h, a, b on hub
# 0 are driven by build/vu-frontend (tests/tools/vu-frontend.c); a user netdev takes host
# forwards; two stream netdevs connect to each other.
# Promises checked: info network and query-netdevs show the clients (--json is QMP's reply);
# set_link changes link-up and sends NETDEV_LINK_CHANGED; netdev_add (QEMU option syntax, nested
# addr.*) and netdev_del work and fail with status 1 and vwire's reason; hostfwd_add makes a
# listening host port that hostfwd_remove takes away; stats counts the frames a front end sent
# and --watch refreshes with rates; events prints VHOST_USER_CONNECTED/DISCONNECTED when a front
# end comes and goes, VIRTIO_QUEUE_BROKEN when a guest breaks a ring, NETDEV_STREAM_CONNECTED/
# DISCONNECTED with QEMU 8's data, and SHUTDOWN, then exits 0; usage errors and a missing socket
# exit 2. Without -s, vwirectl finds the default run's socket in $XDG_RUNTIME_DIR.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_cmd python3 ss
require_vwire
FRONTEND=$(dirname "$VWIRE")/vu-frontend
[[ -x $FRONTEND ]] || e2e_fail "no vu-frontend next to $VWIRE (built with vwire by ninja)"
VWIRECTL=${VWIRECTL:-$(dirname "$VWIRE")/vwirectl}
[[ -x $VWIRECTL ]] || e2e_fail "no vwirectl next to $VWIRE (copied there by meson)"
"$VWIRE" -netdev help 2>&1 | e2e_grep -w user || e2e_skip "vwire built without user mode (libslirp)"

sock=$E2E_TMP/qmp.sock
vlog=$E2E_TMP/vwire.log
ctl() { "$VWIRECTL" -s "$sock" "$@"; }
# expect_status STATUS WHAT CMD... - CMD must exit with STATUS; its stderr is in $E2E_TMP/err.
expect_status() {
	local want=$1 what=$2 st=0
	shift 2
	"$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" || st=$?
	[[ $st == "$want" ]] || {
		cat "$E2E_TMP/out" "$E2E_TMP/err"
		e2e_fail "$what: exit $st, expected $want"
	}
}
# json_check PYTHON-EXPR - evaluate EXPR with j = the JSON on stdin; fail unless true.
json_check() {
	python3 -c 'import json, sys
j = json.load(sys.stdin)
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
link_up() { # ID - print True/False from query-netdevs --json
	ctl query-netdevs --json | python3 -c 'import json, sys
print([c for c in json.load(sys.stdin) if c["id"] == sys.argv[1]][0]["link-up"])' "$1"
}
evlog=$E2E_TMP/events.log
event_seen() { grep -qE -- "$1" "$evlog"; }
wait_event() { wait_until 10 event_seen "$1" || { cat "$evlog"; e2e_fail "no event /$1/"; }; }

spawn -o "$E2E_TMP/vwire.out" "$VWIRE" -D "$vlog" -qmp "unix:$sock,server=on,wait=off" \
	-netdev hubport,id=p0,hubid=0 -netdev hubport,id=p1,hubid=0 -netdev hubport,id=p2,hubid=0 \
	-device "virtio-net,id=h,netdev=p0,socket=$E2E_TMP/h.sock" \
	-device "virtio-net,id=a,netdev=p1,socket=$E2E_TMP/a.sock" \
	-device "virtio-net,id=b,netdev=p2,socket=$E2E_TMP/b.sock" \
	-netdev user,id=u0
vpid=$SPAWN_PID
wait_for_socket "$sock" || { cat "$E2E_TMP/vwire.out"; e2e_fail "no QMP socket"; }

# events: started first, it sees all that follows.
spawn -o "$evlog" "$VWIRECTL" -s "$sock" events
epid=$SPAWN_PID
# Ready once it prints an event: toggle a link until one shows.
events_ready() {
	ctl set_link p0 off && ctl set_link p0 on && event_seen '"name": "p0", "up": true'
}
wait_until 10 events_ready || { cat "$evlog"; e2e_fail "vwirectl events printed no event"; }

e2e_log "info network, query-netdevs"
expect_status 0 "info network" ctl info network
grep -q "^hub 0" "$E2E_TMP/out" && grep -qE '\\ p1: a: index=0,type=virtio-net' "$E2E_TMP/out" &&
	grep -q "^u0: index=0,type=user" "$E2E_TMP/out" ||
	{ cat "$E2E_TMP/out"; e2e_fail "info network lacks the hub, a or u0"; }
expect_status 0 "query-netdevs" ctl query-netdevs
grep -qE '^a +virtio-net +p1 +up' "$E2E_TMP/out" ||
	{ cat "$E2E_TMP/out"; e2e_fail "query-netdevs: no line for a"; }
ctl query-netdevs --json | json_check 'sorted(c["id"] for c in j) == ["a", "b", "h", "p0", "p1", "p2", "u0"]' ||
	e2e_fail "query-netdevs --json: not the seven clients"

e2e_log "set_link"
expect_status 0 "set_link off" ctl set_link p1 off
[[ $(link_up p1) == False ]] || e2e_fail "set_link p1 off: p1 still up"
wait_event 'NETDEV_LINK_CHANGED \{"name": "p1", "up": false\}'
expect_status 0 "set_link on" ctl set_link p1 on
[[ $(link_up p1) == True ]] || e2e_fail "set_link p1 on: p1 still down"
wait_event 'NETDEV_LINK_CHANGED \{"name": "p1", "up": true\}'
expect_status 1 "set_link of no client" ctl set_link nosuch off
grep -q "Device 'nosuch' not found" "$E2E_TMP/err" || e2e_fail "set_link nosuch: $(cat "$E2E_TMP/err")"
expect_status 2 "set_link maybe" ctl set_link p1 maybe

e2e_log "netdev_add, netdev_del"
expect_status 0 "netdev_add hubport" ctl netdev_add hubport,id=p9,hubid=3
ctl query-netdevs --json | json_check '[c for c in j if c["id"] == "p9" and c["hubid"] == 3]' ||
	e2e_fail "netdev_add: no p9 on hub 3"
expect_status 1 "netdev_add bogus" ctl netdev_add bogus,id=x9
grep -q "type 'bogus' is not supported" "$E2E_TMP/err" || e2e_fail "netdev_add bogus: $(cat "$E2E_TMP/err")"
expect_status 2 "netdev_add without id" ctl netdev_add hubport,hubid=1
expect_status 0 "netdev_del" ctl netdev_del p9
ctl query-netdevs --json | json_check 'not [c for c in j if c["id"] == "p9"]' ||
	e2e_fail "netdev_del: p9 still there"
expect_status 1 "netdev_del again" ctl netdev_del p9
grep -q "Device 'p9' not found" "$E2E_TMP/err" || e2e_fail "netdev_del p9 again: $(cat "$E2E_TMP/err")"

e2e_log "stream peers: NETDEV_STREAM_CONNECTED/DISCONNECTED"
port=$(free_port)
expect_status 0 "stream server" \
	ctl netdev_add "stream,id=s0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=$port"
expect_status 0 "stream client" \
	ctl netdev_add "stream,id=s1,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=$port"
wait_event "NETDEV_STREAM_CONNECTED \{\"addr\": \{\"host\": \"127.0.0.1\", \"port\": \"$port\", \"type\": \"inet\"\}, \"netdev-id\": \"s1\"\}"
wait_event 'NETDEV_STREAM_CONNECTED \{"addr": \{"host": "127.0.0.1", "port": "[0-9]+", "type": "inet"\}, "netdev-id": "s0"\}'
expect_status 0 "netdev_del s1" ctl netdev_del s1
wait_event 'NETDEV_STREAM_DISCONNECTED \{"netdev-id": "s0"\}'
expect_status 0 "netdev_del s0" ctl netdev_del s0

e2e_log "hostfwd_add, hostfwd_remove"
fport=$(free_port)
expect_status 0 "hostfwd_add" ctl hostfwd_add u0 "tcp:127.0.0.1:$fport-:22"
wait_for_tcp_listen "$fport" || e2e_fail "hostfwd_add: nothing listens on $fport"
expect_status 1 "hostfwd_add bad rule" ctl hostfwd_add u0 tcp:bad
grep -q "Invalid host forwarding rule" "$E2E_TMP/err" || e2e_fail "hostfwd_add bad: $(cat "$E2E_TMP/err")"
expect_status 0 "hostfwd_remove" ctl hostfwd_remove u0 "tcp:127.0.0.1:$fport"
port_closed() { ! ss -Hltn "sport = :$1" | e2e_grep .; }
wait_until 5 port_closed "$fport" || e2e_fail "hostfwd_remove: $fport still listens"

e2e_log "front ends: VHOST_USER_* events, stats"
timeout 60 "$FRONTEND" -p "$vpid" forward "$E2E_TMP/a.sock" "$E2E_TMP/b.sock" ||
	{ tail -20 "$vlog"; e2e_fail "vu-frontend forward"; }
for d in a b; do
	wait_event "VHOST_USER_CONNECTED \\{\"id\": \"$d\", \"path\": \"$E2E_TMP/$d.sock\"\\}"
	wait_event "VHOST_USER_DISCONNECTED \\{\"id\": \"$d\", \"path\": \"$E2E_TMP/$d.sock\"\\}"
done
expect_status 0 "stats" ctl stats
# The forward run sends 100 frames of 64 bytes from a to b.
grep -qE '^a +virtio-net +0 +0 +100 +6400 ' "$E2E_TMP/out" &&
	grep -qE '^b +virtio-net +100 +6400 +0 +0 ' "$E2E_TMP/out" ||
	{ cat "$E2E_TMP/out"; e2e_fail "stats: not 100 frames a -> b"; }
timeout -s INT 1.6 "$VWIRECTL" -s "$sock" stats --watch 0.5 >"$E2E_TMP/watch" || true
(($(grep -c '^ID ' "$E2E_TMP/watch") >= 2)) && grep -q 'RX-PPS' "$E2E_TMP/watch" ||
	{ cat "$E2E_TMP/watch"; e2e_fail "stats --watch did not refresh with rates"; }
expect_status 2 "stats --watch 0" ctl stats --watch 0

e2e_log "a guest that breaks its ring: VIRTIO_QUEUE_BROKEN"
timeout 60 "$FRONTEND" -p "$vpid" shrink-mem "$E2E_TMP/h.sock" "$E2E_TMP/a.sock" "$E2E_TMP/b.sock" ||
	{ tail -20 "$vlog"; e2e_fail "vu-frontend shrink-mem"; }
wait_event 'VIRTIO_QUEUE_BROKEN \{"id": "h", "queue": [0-9]+, "reason": ".+"\}'

e2e_log "errors: usage and connection"
expect_status 2 "no command" "$VWIRECTL" -s "$sock"
expect_status 2 "unknown command" ctl frobnicate
expect_status 2 "info without network" ctl info
expect_status 2 "missing socket" "$VWIRECTL" -s "$E2E_TMP/none.sock" info network
grep -q "cannot talk to vwire at $E2E_TMP/none.sock" "$E2E_TMP/err" ||
	e2e_fail "missing socket: $(cat "$E2E_TMP/err")"
# A usage error is found before any connection.
expect_status 2 "usage error without vwire" "$VWIRECTL" -s "$E2E_TMP/none.sock" set_link a maybe
grep -q "'maybe' is neither on nor off" "$E2E_TMP/err" || e2e_fail "set_link maybe: $(cat "$E2E_TMP/err")"
expect_status 1 "qmp unknown command" ctl qmp no-such-command
# pci-exec: the program must be given the connection, and the socket must be there.
expect_status 2 "pci-exec without {fd}" "$VWIRECTL" pci-exec "$E2E_TMP/none.sock" true
grep -q "no '{fd}' in the arguments" "$E2E_TMP/err" || e2e_fail "pci-exec: $(cat "$E2E_TMP/err")"
expect_status 2 "pci-exec to no socket" "$VWIRECTL" pci-exec "$E2E_TMP/none.sock" echo "{fd}"
grep -q "$E2E_TMP/none.sock" "$E2E_TMP/err" || e2e_fail "pci-exec: $(cat "$E2E_TMP/err")"
expect_status 0 "qmp with arguments" ctl qmp query-netdevs '{}'

e2e_log "quit: SHUTDOWN ends events with status 0"
expect_status 0 "qmp quit" ctl qmp quit
wait_until 10 pid_gone "$vpid" || e2e_fail "vwire did not quit"
st=0
wait "$vpid" || st=$?
forget_pid "$vpid"
[[ $st == 0 ]] || { tail -20 "$vlog"; e2e_fail "vwire exited with $st"; }
! grep -qE "Sanitizer|runtime error" "$vlog" "$E2E_TMP/vwire.out" || e2e_fail "sanitizer report"
wait_until 10 pid_gone "$epid" || e2e_fail "vwirectl events still runs after SHUTDOWN"
st=0
wait "$epid" || st=$?
forget_pid "$epid"
[[ $st == 0 ]] || { cat "$evlog"; e2e_fail "vwirectl events exited with $st"; }
grep -q 'SHUTDOWN {"guest": false, "reason": "host-qmp-quit"}' "$evlog" || e2e_fail "no SHUTDOWN"

e2e_log "the default run: vwirectl finds its QMP socket without -s"
run=$E2E_TMP/run
mkdir -m 0700 "$run"
# Without arguments (no -D either): the log goes to the spawn's output file.
spawn -o "$E2E_TMP/default.out" env XDG_RUNTIME_DIR="$run" "$VWIRE"
dpid=$SPAWN_PID
wait_for_socket "$run/vwire.qmp" || { cat "$E2E_TMP/default.out"; e2e_fail "no default QMP socket"; }
grep -q "QMP control socket $run/vwire.qmp" "$E2E_TMP/default.out" ||
	e2e_fail "the default run does not name its QMP socket"
expect_status 0 "default socket" env XDG_RUNTIME_DIR="$run" "$VWIRECTL" info network
grep -q "^vnet0: index=0,type=virtio-net" "$E2E_TMP/out" ||
	{ cat "$E2E_TMP/out"; e2e_fail "default run: no vnet0"; }
stop_vwire_clean "$dpid" "$E2E_TMP/default.out"
[[ ! -e $run/vwire.qmp ]] || e2e_fail "the default QMP socket stayed behind"
e2e_log "every vwirectl subcommand worked; events came as front ends and peers came and went"
