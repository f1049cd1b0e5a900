#!/usr/bin/env bash
# bridge.sh - -netdev bridge and -netdev tap,helper=: vwire, started inside a namespace that
# holds a Linux bridge (10.98.0.1), has QEMU's bridge helper create a tap and attach it to the
# bridge; a hub joins that tap to a second tap, moved into another namespace (10.98.0.2).
# Promises checked: the helper's tap is a port of the bridge, and ping crosses
# bridge -> helper tap -> hub -> tap both ways; a bridge the helper's ACL refuses is an error
# naming the helper's complaint. The helper needs "allow <br>" in /etc/qemu/bridge.conf: the
# test adds its own line (creating the file if absent) and removes exactly that at the end.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

HELPER=${HELPER:-/usr/lib/qemu/qemu-bridge-helper}
ACL=/etc/qemu/bridge.conf
require_root
require_cmd ip ping
require_file /dev/net/tun "tun device"
require_file "$HELPER" "bridge helper (package qemu-system-common)"
require_vwire

br=$(e2e_ifname vwbr) tap=$(e2e_ifname vwbt)
nsx=vwbrX$E2E_SUFFIX nsy=vwbrY$E2E_SUFFIX
acl_line="allow $br"

# The ACL line, added so that cleanup removes exactly it (and the file/dir if we made them).
if [[ -e $ACL ]]; then
	echo "$acl_line" >>"$ACL"
	on_cleanup "sed -i '/^allow $br\$/d' '$ACL'"
else
	[[ -d ${ACL%/*} ]] || { mkdir -p "${ACL%/*}"; on_cleanup "rmdir '${ACL%/*}' 2>/dev/null"; }
	echo "$acl_line" >"$ACL"
	on_cleanup "rm -f '$ACL'"
fi

make_netns "$nsx"
make_netns "$nsy"
ip -n "$nsx" link add "$br" type bridge
ip -n "$nsx" addr add 10.98.0.1/24 dev "$br"
ip -n "$nsx" link set "$br" up

bridge_empty() { [[ -z $(ip -n "$nsx" -o link show master "$br") ]]; }

# run_case NAME BRIDGE_NETDEV: vwire inside X with the bridge netdev "b" and tap "t" on hub 0.
run_case() {
	local name=$1 bnetdev=$2 log=$E2E_TMP/vwire-$1.log pid ports
	spawn -n "$nsx" -o "$E2E_TMP/vwire-$name.out" "$VWIRE" -netdev "$bnetdev" \
		-netdev "tap,id=t,ifname=$tap" -netdev hubport,id=hb,hubid=0,netdev=b \
		-netdev hubport,id=ht,hubid=0,netdev=t -D "$log" -pidfile "$E2E_TMP/$name.pid"
	pid=$SPAWN_PID
	if ! wait_for_link "$tap" "$nsx"; then
		cat "$E2E_TMP/vwire-$name.out" "$log" 2>/dev/null >&2
		e2e_fail "$name: vwire did not start"
	fi
	ports=$(ip -n "$nsx" -o link show master "$br" | awk -F': ' '{ print $2 }' | cut -d@ -f1)
	[[ -n $ports ]] || e2e_fail "$name: no tap attached to $br"
	e2e_log "$name: ports of $br: $ports"
	ip -n "$nsx" link set "$tap" netns "$nsy"
	ip -n "$nsy" addr add 10.98.0.2/24 dev "$tap"
	ip -n "$nsy" link set "$tap" up
	ip -n "$nsy" link set lo up
	ip netns exec "$nsy" ping -c 3 -i 0.2 -W 2 10.98.0.1 >/dev/null ||
		e2e_fail "$name: ping 10.98.0.1 (the bridge) from $nsy failed"
	ip netns exec "$nsx" ping -c 3 -i 0.2 -W 2 10.98.0.2 >/dev/null ||
		e2e_fail "$name: ping 10.98.0.2 from the bridge's namespace failed"
	pid_alive "$pid" || e2e_fail "$name: vwire died"
	kill_pid "$pid"
	# The helper's tap leaves the bridge with vwire's fd.
	wait_until 10 bridge_empty || e2e_fail "$name: a tap stayed on $br after vwire exited"
	wait_until 10 link_absent "$tap" "$nsy" || true
	e2e_log "$name: ping both ways through $br"
}

run_case bridge "bridge,id=b,br=$br,helper=$HELPER"
run_case tap-helper "tap,id=b,br=$br,helper=$HELPER"

# A bridge the ACL does not allow: vwire refuses to start and says why.
out=$E2E_TMP/refused.out
spawn -n "$nsx" -o "$out" "$VWIRE" -netdev "bridge,id=b,br=vwno$E2E_SUFFIX,helper=$HELPER" \
	-D "$E2E_TMP/refused.log"
wait_until 10 pid_gone "$SPAWN_PID" || e2e_fail "vwire started with a refused bridge"
grep -qi "bridge helper.*failed" "$out" "$E2E_TMP/refused.log" 2>/dev/null ||
	{ cat "$out" >&2; e2e_fail "no message naming the helper's failure"; }
e2e_log "refused bridge: $(grep -hi 'bridge helper' "$out" "$E2E_TMP/refused.log" 2>/dev/null | head -1)"
echo "PASS: $E2E_NAME"
