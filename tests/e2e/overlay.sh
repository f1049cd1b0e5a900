#!/usr/bin/env bash
# overlay.sh - -netdev vxlan and -netdev geneve: VMs of three hosts on one L2 segment, two
# hosts running vwire and one running Linux's own vxlan or geneve device as the far end.
# Namespaces play the parts: ul is the underlay switch (a bridge), h1 h2 h3 the hosts on it
# (10.88.0.N/24 and fd88::N/64), v1 and v2 the VMs of h1 and h2, each with the tap its host's
# vwire made (vwire runs inside h1 or h2, its tap moved into v1 or v2); h3's Linux device
# carries 192.168.88.3 itself. Promises checked:
#   - VXLAN over IPv4 and over IPv6, Geneve over IPv4 and over IPv6, VXLAN with a multicast
#     group instead of remotes: ping across every pair, iperf3 TCP across (taps with vnet
#     headers and TSO on: the VMs' GSO frames are segmented before encapsulation);
#   - VMs with the underlay's own MTU: 1500-byte frames cross in fragmented datagrams;
#   - learning: vwire's table (query-vxlan-fdb) holds v2's MAC behind h2 and h3's behind h3,
#     and Linux's (bridge fdb) holds v1's MAC behind h1;
#   - static entries and flooding-list remotes added and removed over QMP and vwirectl;
#   - malformed datagrams from the underlay (short, wrong flags, another VNI; Geneve options
#     past the end, a critical option) are dropped and counted in query-netdevs, and traffic
#     still flows; a Geneve frame behind a non-critical option goes on;
#   - where this kernel has no geneve device, tshark decodes vwire's Geneve datagrams;
#   - a remote that disappears (its underlay link down) and returns: ping resumes.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_root
require_cmd ip bridge ethtool ping iperf3 python3 tshark
require_file /dev/net/tun "tun device"
require_vwire

S=$E2E_SUFFIX
ul=vwoU$S h1=vwo1$S h2=vwo2$S h3=vwo3$S v1=vwoV1$S v2=vwoV2$S
tap1=$(e2e_ifname vwoT1) tap2=$(e2e_ifname vwoT2)
mac1=02:88:00:00:00:01 mac2=02:88:00:00:00:02 mac3=02:88:00:00:00:03
for ns in "$ul" "$h1" "$h2" "$h3" "$v1" "$v2"; do
	make_netns "$ns"
done
ip -n "$ul" link add br0 type bridge
ip -n "$ul" link set br0 up
for n in 1 2 3; do
	eval "hns=\$h$n"
	# shellcheck disable=SC2154 # set by eval
	ip -n "$hns" link add eth0 type veth peer name "p$n" netns "$ul"
	ip -n "$hns" link set eth0 up
	# A veth never finishes a checksum it was handed to offload: frames that Linux's device
	# encapsulates would reach vwire with the inner TCP checksum unfinished (a NIC finishes
	# it). So the hosts' underlay links finish checksums in software.
	ip netns exec "$hns" ethtool -K eth0 tx off >/dev/null
	ip -n "$ul" link set "p$n" master br0 up
	ip -n "$hns" addr add "10.88.0.$n/24" dev eth0
	ip -n "$hns" addr add "fd88::$n/64" dev eth0 nodad
done

pid1='' pid2='' log1='' log2='' round=0 vm_mtu=1450

qmp_h() { # 1|2 COMMAND [JSON]
	python3 "$E2E_TOP/tests/e2e/lib/qmp.py" "$E2E_TMP/h$1.qmp" "${@:2}"
}

# start_vwire N NETDEV: vwire in host N with a tap (vnet headers on) and NETDEV (id=x) on hub
# 0; its tap goes to VM N with MAC and 192.168.88.N.
start_vwire() {
	local n=$1 netdev=$2 hns vns tap mac log
	eval "hns=\$h$n vns=\$v$n tap=\$tap$n mac=\$mac$n"
	log=$E2E_TMP/vwire-$n-$round.log
	rm -f "$E2E_TMP/h$n.qmp"
	spawn -n "$hns" -o "$log.out" "$VWIRE" -netdev "tap,id=t,ifname=$tap,vnet_hdr=on" \
		-netdev "$netdev" -netdev hubport,id=p1,hubid=0,netdev=t \
		-netdev hubport,id=p2,hubid=0,netdev=x -D "$log" \
		-qmp "unix:$E2E_TMP/h$n.qmp,server=on,wait=off"
	eval "pid$n=\$SPAWN_PID log$n=\$log"
	wait_for_link "$tap" "$hns" || { cat "$log"* >&2; e2e_fail "vwire in h$n: no tap"; }
	wait_for_socket "$E2E_TMP/h$n.qmp" || e2e_fail "vwire in h$n: no QMP socket"
	ip -n "$hns" link set "$tap" netns "$vns"
	ip -n "$vns" link set "$tap" address "$mac" mtu "$vm_mtu" up
	ip -n "$vns" addr add "192.168.88.$n/24" dev "$tap"
}

stop_vwire() { # N
	local n=$1 pid log
	eval "pid=\$pid$n log=\$log$n"
	kill_pid "$pid"
	if grep -qE "Sanitizer|runtime error" "$log"* 2>/dev/null; then
		cat "$log"* >&2
		e2e_fail "vwire in h$n: sanitizer report"
	fi
}

ping_ok() { # NETNS ADDR WHAT
	local i
	for ((i = 0; i < 3; i++)); do
		ip netns exec "$1" ping -c 2 -i 0.2 -W 2 "$2" >/dev/null && return 0
	done
	e2e_fail "$3: ping $2 from $1 failed"
}

iperf_ok() { # SERVER_NS CLIENT_NS ADDR WHAT
	local gbps
	gbps=$(iperf3_tcp_gbits "$1" "$2" "$3" 2) || e2e_fail "$4: iperf3 to $3 failed"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0.005) }' || e2e_fail "$4: TCP gave $gbps Gbit/s"
	echo "$gbps"
}

# counter N NAME: the vwire of host N's counter NAME of netdev x.
counter() {
	qmp_h "$1" query-netdevs | python3 -c 'import json, sys
for n in json.load(sys.stdin):
    if n["id"] == "x":
        print(n["counters"][sys.argv[1]])' "$2"
}


# fdb_has N MAC REMOTE: vwire of host N has MAC behind REMOTE (learnt).
fdb_has() {
	qmp_h "$1" query-vxlan-fdb "{\"netdev\": \"x\"}" | python3 -c 'import json, sys
sys.exit(not any(e["mac"] == sys.argv[1] and e["remote"] == sys.argv[2] and not e["static"]
                 for e in json.load(sys.stdin)))' "$2" "$3"
}

# send_raw NETNS ADDR PORT HEX: one UDP datagram of bytes HEX.
send_raw() {
	ip netns exec "$1" python3 -c 'import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
socket.socket(fam, socket.SOCK_DGRAM).sendto(bytes.fromhex(sys.argv[3]), (sys.argv[1], int(sys.argv[2])))' \
		"$2" "$3" "$4"
}

# expect_drop WHAT COUNTER ADDR PORT HEX: a datagram from h2 to vwire h1 bumps COUNTER by one.
expect_drop() {
	local before
	before=$(counter 1 "$2")
	send_raw "$h2" "$3" "$4" "$5"
	wait_until 5 test_counter 1 "$2" $((before + 1)) || e2e_fail "$1: $2 did not go up by one"
}
test_counter() { [[ $(counter "$1" "$2") == "$3" ]]; }

frame="ffffffffffff$(tr -d : <<<"$mac3")0806$(printf '00%.0s' {1..46})"

# round PROTO FAMILY [group]: one configuration of all three hosts, and its checks.
round() {
	local proto=$1 fam=$2 mode=${3:-remotes} u1 u2 u3 opts port linux gbps have3=1 tpid
	round=$((round + 1))
	# The overlay's overhead: 50 bytes over IPv4, 70 over IPv6.
	if [[ $fam == 6 ]]; then
		u1=fd88::1 u2=fd88::2 u3=fd88::3 vm_mtu=1430
	else
		u1=10.88.0.1 u2=10.88.0.2 u3=10.88.0.3 vm_mtu=1450
	fi
	port=4789
	[[ $proto == vxlan ]] || port=6081
	opts="vni=42,port=$port"
	if [[ $mode == group ]]; then
		start_vwire 1 "$proto,id=x,$opts,local=$u1,group=239.1.1.88"
		start_vwire 2 "$proto,id=x,$opts,local=$u2,group=239.1.1.88"
		ip -n "$h3" link add ov0 type vxlan id 42 local "$u3" group 239.1.1.88 dev eth0 \
			dstport "$port"
	else
		start_vwire 1 "$proto,id=x,$opts,local=$u1,remote=$u2,remote=$u3"
		start_vwire 2 "$proto,id=x,$opts,local=$u2,remote=$u1,remote=$u3"
		if [[ $proto == vxlan ]]; then
			ip -n "$h3" link add ov0 type vxlan id 42 local "$u3" dstport "$port"
			bridge -n "$h3" fdb append 00:00:00:00:00:00 dev ov0 dst "$u1"
			bridge -n "$h3" fdb append 00:00:00:00:00:00 dev ov0 dst "$u2"
		elif ! ip -n "$h3" link add ov0 type geneve id 42 remote "$u1" dstport "$port" \
			2>/dev/null; then
			# This kernel has no geneve module: vwire and vwire only.
			e2e_log "$proto over IPv$fam: Linux has no geneve device here: h3 left out"
			have3=0
		fi
		# (Linux's geneve device has one remote and no table: it reaches h1 only.)
	fi
	linux="$proto over IPv$fam${3:+ ($mode)}"
	if ((have3)); then
		ip -n "$h3" link set ov0 address "$mac3" mtu "$vm_mtu" up
		ip -n "$h3" addr add 192.168.88.3/24 dev ov0
	fi

	# The VMs' TCP leaves in GSO frames, which vwire cuts before wrapping them.
	ip netns exec "$v1" ethtool -k "$tap1" | e2e_grep "^tcp-segmentation-offload: on" ||
		e2e_fail "$linux: v1's tap does not do TSO: $(ip netns exec "$v1" ethtool -k "$tap1")"
	ping_ok "$v1" 192.168.88.2 "$linux: v1 -> v2"
	ping_ok "$v2" 192.168.88.1 "$linux: v2 -> v1"
	if ((have3)); then
		ping_ok "$v1" 192.168.88.3 "$linux: v1 -> h3"
		ping_ok "$h3" 192.168.88.1 "$linux: h3 -> v1"
	fi
	if ((have3)) && [[ $proto == vxlan ]]; then
		ping_ok "$v2" 192.168.88.3 "$linux: v2 -> h3"
		ping_ok "$h3" 192.168.88.2 "$linux: h3 -> v2"
	fi
	gbps=$(iperf_ok "$v2" "$v1" 192.168.88.2 "$linux: v1 -> v2")
	e2e_log "$linux: TCP v1 -> v2 $gbps Gbit/s"
	if ((have3)); then
		gbps=$(iperf_ok "$h3" "$v1" 192.168.88.3 "$linux: v1 -> h3")
		e2e_log "$linux: TCP v1 -> h3 (Linux) $gbps Gbit/s"
		gbps=$(iperf_ok "$v1" "$h3" 192.168.88.1 "$linux: h3 -> v1")
		e2e_log "$linux: TCP h3 (Linux) -> v1 $gbps Gbit/s"
	fi

	if [[ $round == 1 ]]; then
		# VMs with the underlay's MTU: their frames leave in fragmented datagrams (GSO
		# frames cut one datagram at a time, as the kernel cannot segment them).
		ip -n "$v1" link set "$tap1" mtu 1500
		ip -n "$v2" link set "$tap2" mtu 1500
		ip netns exec "$v1" ping -c 2 -i 0.2 -W 2 -M do -s 1472 192.168.88.2 >/dev/null ||
			e2e_fail "$linux: 1500-byte frames did not cross a 1500-byte underlay"
		gbps=$(iperf_ok "$v2" "$v1" 192.168.88.2 "$linux: v1 -> v2, MTU 1500")
		e2e_log "$linux: TCP v1 -> v2 with MTU 1500 (fragmented underlay) $gbps Gbit/s"
		ip -n "$v1" link set "$tap1" mtu "$vm_mtu"
		ip -n "$v2" link set "$tap2" mtu "$vm_mtu"
	fi

	# Learning, both ways.
	wait_until 5 fdb_has 1 "$mac2" "$u2" || e2e_fail "$linux: h1 did not learn v2 behind $u2"
	if ((have3)); then
		wait_until 5 fdb_has 1 "$mac3" "$u3" ||
			e2e_fail "$linux: h1 did not learn h3 behind $u3"
	fi
	if ((have3)) && [[ $proto == vxlan ]]; then
		bridge -n "$h3" fdb show dev ov0 | e2e_grep "^$mac1 dst $u1 " ||
			e2e_fail "$linux: Linux did not learn v1 behind $u1: $(bridge -n "$h3" fdb show dev ov0)"
	fi

	# Malformed datagrams from the underlay are dropped and counted.
	if [[ $proto == vxlan ]]; then
		expect_drop "$linux" rx-short "$u1" "$port" 0800000000002a00
		expect_drop "$linux" rx-bad-header "$u1" "$port" "0c000000"00002a00"$frame"
		expect_drop "$linux" rx-other-vni "$u1" "$port" "08000000"00002b00"$frame"
	else
		expect_drop "$linux" rx-short "$u1" "$port" 00006558
		expect_drop "$linux" rx-bad-options "$u1" "$port" "02006558"00002a00"01020304$frame"
		expect_drop "$linux" rx-critical-options "$u1" "$port" \
			"01406558"00002a00"01028000$frame"
		expect_drop "$linux" rx-other-vni "$u1" "$port" "00006558"00002b00"$frame"
		expect_drop "$linux" rx-bad-header "$u1" "$port" "40006558"00002a00"$frame"
		# A frame behind a non-critical option (class 0x0102, type 1, one word) is taken:
		# its source MAC (h3's, not otherwise on this segment now) is learnt behind h2.
		send_raw "$h2" "$u1" "$port" "02006558"00002a00"0102010111223344$frame"
		wait_until 5 fdb_has 1 "$mac3" "$u2" ||
			e2e_fail "$linux: a frame behind an option was not taken"
		# An independent reader of the wire format: tshark decodes what vwire sends.
		spawn -n "$ul" -o "$E2E_TMP/tshark-$round.txt" tshark -l -n -i br0 -a duration:5 \
			-f "udp port $port" -Y "geneve.vni == 42 && icmp" -T fields -e geneve.vni \
			-e eth.src
		tpid=$SPAWN_PID
		sleep 2
		ip netns exec "$v1" ping -c 4 -i 0.2 192.168.88.2 >/dev/null || true
		wait_until 10 pid_gone "$tpid" || e2e_fail "$linux: tshark did not stop"
		kill_pid "$tpid"
		grep -q "^0x00002a.*,$mac1" "$E2E_TMP/tshark-$round.txt" ||
			e2e_fail "$linux: tshark read: $(cat "$E2E_TMP/tshark-$round.txt")"
	fi
	ping_ok "$v1" 192.168.88.2 "$linux: after malformed datagrams"

	((have3 == 0)) || ip -n "$h3" link del ov0
	stop_vwire 2
	stop_vwire 1
}

round vxlan 4

# The table over QMP, on a fresh pair.
round=$((round + 1))
start_vwire 1 "vxlan,id=x,vni=7,local=10.88.0.1"
start_vwire 2 "vxlan,id=x,vni=7,local=10.88.0.2"
if ip netns exec "$v1" ping -c 1 -W 1 192.168.88.2 >/dev/null 2>&1; then
	e2e_fail "ping went through without remotes or a table"
fi
[[ $(counter 1 tx-no-destination) -gt 0 ]] || e2e_fail "tx-no-destination did not count"
qmp_h 1 vxlan-fdb-add '{"netdev": "x", "mac": "00:00:00:00:00:00", "remote": "10.88.0.2"}' >/dev/null
# The static entry through vwirectl, as a user would add it.
vwirectl_h() { # N ARGS...
	python3 "$E2E_TOP/src/ctl/vwirectl.py" -s "$E2E_TMP/h$1.qmp" "${@:2}"
}
vwirectl_h 2 fdb_add x "$mac1" 10.88.0.1
ping_ok "$v1" 192.168.88.2 "remote and static entry added over QMP"
vwirectl_h 2 fdb x | e2e_grep -E "^$mac1 +10\.88\.0\.1 +static" ||
	e2e_fail "static entry not shown: $(vwirectl_h 2 fdb x)"
vwirectl_h 1 fdb x | e2e_grep -E "^00:00:00:00:00:00 +10\.88\.0\.2 +static" ||
	e2e_fail "flooding remote not shown: $(vwirectl_h 1 fdb x)"
if qmp_h 1 vxlan-fdb-add '{"netdev": "x", "mac": "zz", "remote": "10.88.0.2"}' 2>"$E2E_TMP/err"; then
	e2e_fail "a bad MAC was taken"
fi
grep -q "mac=zz" "$E2E_TMP/err" || e2e_fail "the error does not name the MAC: $(cat "$E2E_TMP/err")"
if qmp_h 1 vxlan-fdb-add '{"netdev": "x", "mac": "00:00:00:00:00:00", "remote": "fd88::2"}' 2>/dev/null; then
	e2e_fail "an IPv6 remote was taken by an IPv4 netdev"
fi
vwirectl_h 2 fdb_del x "$mac1"
qmp_h 1 vxlan-fdb-del '{"netdev": "x", "mac": "00:00:00:00:00:00", "remote": "10.88.0.2"}' >/dev/null
ip -n "$v1" neigh flush dev "$tap1"
if ip netns exec "$v1" ping -c 1 -W 1 192.168.88.2 >/dev/null 2>&1; then
	e2e_fail "ping went through after the remote was removed"
fi

# A remote that disappears and returns.
qmp_h 1 vxlan-fdb-add '{"netdev": "x", "mac": "00:00:00:00:00:00", "remote": "10.88.0.2"}' >/dev/null
qmp_h 2 vxlan-fdb-add '{"netdev": "x", "mac": "00:00:00:00:00:00", "remote": "10.88.0.1"}' >/dev/null
ping_ok "$v1" 192.168.88.2 "before the remote goes"
ip -n "$h2" link set eth0 down
if ip netns exec "$v1" ping -c 2 -i 0.2 -W 1 192.168.88.2 >/dev/null 2>&1; then
	e2e_fail "ping went through while h2's link was down"
fi
ip -n "$h2" link set eth0 up
# Linux drops a link's IPv6 addresses when it goes down.
ip -n "$h2" addr add fd88::2/64 dev eth0 nodad
wait_until 15 ip netns exec "$v1" ping -c 1 -W 1 192.168.88.2 >/dev/null ||
	e2e_fail "ping did not resume after h2 came back"
e2e_log "QMP table, flooding list and a returning remote: ok"
stop_vwire 2
stop_vwire 1

round vxlan 6
round geneve 4
round geneve 6
round vxlan 4 group
e2e_log "all rounds passed"
