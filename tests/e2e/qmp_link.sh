#!/usr/bin/env bash
# qmp_link.sh - QMP changes a running vwire's real traffic. Two namespaces, each with a tap
# vwire created in the host namespace (moved in afterwards), meet on hub 0.
# Promises checked: ping A<->B works; set_link tA off stops it and on restores it; a tap
# and a hub port added with netdev_add at run time carry traffic to a third namespace, and
# netdev_del takes them away; 'info network' shows the hub and the taps on it.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP=$E2E_DIR/lib/qmp.py
require_root
require_cmd ip ping python3
require_file /dev/net/tun "tun device"
require_vwire

ta=$(e2e_ifname vqA) tb=$(e2e_ifname vqB) tc=$(e2e_ifname vqC)
nsa=vqlA$E2E_SUFFIX nsb=vqlB$E2E_SUFFIX nsc=vqlC$E2E_SUFFIX
sock=$E2E_TMP/qmp.sock
make_netns "$nsa"
make_netns "$nsb"
make_netns "$nsc"

qmp() { python3 "$QMP" "$sock" "$@"; }

pings() { ip netns exec "$1" ping -c 3 -i 0.2 -W 1 "$2" >/dev/null 2>&1; }
# A negative check leaves the kernel's neighbour entry for $2 probing (INCOMPLETE, three ARP
# probes a second apart), then FAILED: a ping that starts before it fails queues behind those
# probes and is dropped with them. On a loaded machine the QMP command in between is slow enough
# to land there every time (two busy loops reproduce it, with vwire's builds from before and
# after devices on iothreads alike). A fresh entry probes at once: forget the old one first.
ping_ok() {
	ip -n "$1" neigh flush to "$2" 2>/dev/null || true
	pings "$1" "$2" || e2e_fail "$3: ping $2 from $1 failed"
}
ping_fails() { ! pings "$1" "$2" || e2e_fail "$3: ping $2 from $1 passed"; }

spawn -o "$E2E_TMP/vwire.out" "$VWIRE" -D "$E2E_TMP/vwire.log" \
	-qmp "unix:$sock,server=on,wait=off" \
	-netdev "tap,id=tA,ifname=$ta" -netdev "tap,id=tB,ifname=$tb" \
	-netdev hubport,id=hA,hubid=0,netdev=tA -netdev hubport,id=hB,hubid=0,netdev=tB
vw_pid=$SPAWN_PID
wait_for_socket "$sock" || e2e_fail "no QMP socket: $(cat "$E2E_TMP/vwire.out")"
link_present "$ta" && link_present "$tb" || e2e_fail "vwire made no taps"
move_tap "$ta" "$nsa" 10.97.1.1/24
move_tap "$tb" "$nsb" 10.97.1.2/24

ping_ok "$nsa" 10.97.1.2 "start"
ping_ok "$nsb" 10.97.1.1 "start"
info=$(python3 "$QMP" hmp "$sock" info network)
grep -qE "^hub 0$" <<<"$info" || e2e_fail "info network has no hub 0: $info"
grep -qE "^ \\\\ hA: tA: index=0,type=tap," <<<"$info" || e2e_fail "info network: $info"
grep -qE "^ \\\\ hB: tB: index=0,type=tap," <<<"$info" || e2e_fail "info network: $info"

qmp set_link '{"name": "tA", "up": false}' >/dev/null
ping_fails "$nsa" 10.97.1.2 "set_link tA off"
ping_fails "$nsb" 10.97.1.1 "set_link tA off"
qmp set_link '{"name": "tA", "up": true}' >/dev/null
ping_ok "$nsa" 10.97.1.2 "set_link tA on"
ping_ok "$nsb" 10.97.1.1 "set_link tA on"
e2e_log "set_link off stops A<->B, on restores it"

# The hub port side too: a port whose link is down neither forwards nor receives.
qmp set_link '{"name": "hB", "up": false}' >/dev/null
ping_fails "$nsa" 10.97.1.2 "set_link hB off"
qmp set_link '{"name": "hB", "up": true}' >/dev/null
ping_ok "$nsa" 10.97.1.2 "set_link hB on"

# A third tap and hub port at run time.
qmp netdev_add "{\"type\": \"tap\", \"id\": \"tC\", \"ifname\": \"$tc\"}" >/dev/null
wait_for_link "$tc" "" 5 || e2e_fail "netdev_add made no tap $tc"
move_tap "$tc" "$nsc" 10.97.1.3/24
ping_fails "$nsa" 10.97.1.3 "tC not on the hub yet"
qmp netdev_add '{"type": "hubport", "id": "hC", "hubid": 0, "netdev": "tC"}' >/dev/null
ping_ok "$nsa" 10.97.1.3 "netdev_add hC"
ping_ok "$nsc" 10.97.1.2 "netdev_add hC"
python3 "$QMP" hmp "$sock" info network | e2e_grep -E "^ \\\\ hC: tC: index=0,type=tap," ||
	e2e_fail "info network lacks hC"
counts=$(qmp query-netdevs | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x["id"] == "tC"][0]
print(e["rx-packets"], e["tx-packets"])')
read -r rx tx <<<"$counts"
((rx > 0 && tx > 0)) || e2e_fail "tC counters rx=$rx tx=$tx after pings"
e2e_log "netdev_add of a tap and a hub port at run time carries traffic (tC rx=$rx tx=$tx)"

qmp netdev_del '{"id": "hC"}' >/dev/null
ping_fails "$nsa" 10.97.1.3 "netdev_del hC"
qmp netdev_del '{"id": "tC"}' >/dev/null
wait_until 5 link_absent "$tc" "$nsc" || e2e_fail "netdev_del tC left the tap"
ping_ok "$nsa" 10.97.1.2 "after netdev_del"
pid_alive "$vw_pid" || e2e_fail "vwire died"
e2e_log "netdev_del removes them; A<->B unaffected"

qmp quit >/dev/null
wait_until 5 pid_gone "$vw_pid" || e2e_fail "vwire did not quit"
[[ ! -e $sock ]] || e2e_fail "QMP socket left after quit"
echo "PASS: $E2E_NAME"
