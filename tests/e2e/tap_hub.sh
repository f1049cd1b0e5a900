#!/usr/bin/env bash
# tap_hub.sh - two network namespaces joined by vwire: each gets a tap that vwire created in
# the host namespace (the tap's fd survives the move), and the taps meet on hub 0.
# Promises checked: ping both ways and iperf3 TCP through a hub and through a learning switch;
# with vnet_hdr=on taps GSO frames cross whole (B's tap receives frames larger than the MTU,
# and with vnet_hdr=off it does not); deleting one tap's link under traffic is logged, vwire
# keeps running and the other taps still talk.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_root
require_cmd ip ping iperf3 python3
require_file /dev/net/tun "tun device"
require_vwire

ta=$(e2e_ifname vwA) tb=$(e2e_ifname vwB) tc=$(e2e_ifname vwC)
nsa=vwtA$E2E_SUFFIX nsb=vwtB$E2E_SUFFIX nsc=vwtC$E2E_SUFFIX
make_netns "$nsa"
make_netns "$nsb"
make_netns "$nsc"
vw_pid=
vw_log=
result=

# start_vwire TAG ARGS...: run vwire with these -netdev options; wait until its taps exist.
start_vwire() {
	local tag=$1 dev
	shift
	vw_log=$E2E_TMP/vwire-$tag.log
	spawn -o "$E2E_TMP/vwire-$tag.out" "$VWIRE" "$@" -D "$vw_log" -pidfile "$E2E_TMP/$tag.pid"
	vw_pid=$SPAWN_PID
	for dev in "$ta" "$tb"; do
		wait_for_link "$dev" ||
			{ cat "$E2E_TMP/vwire-$tag.out" "$vw_log" 2>/dev/null; e2e_fail "$tag: no $dev"; }
	done
}

stop_vwire() {
	kill_pid "$vw_pid"
	vw_pid=
}

ping_ok() { # NETNS ADDR
	ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" >/dev/null ||
		e2e_fail "ping $2 from $1 failed"
}

# iperf_tcp CASE: 3 s of TCP from A to B; sets result to Gbit/s; fails on nothing received.
iperf_tcp() {
	local gbps
	gbps=$(iperf3_tcp_gbits "$nsb" "$nsa" 10.99.1.2 3 2) || e2e_fail "$1: iperf3 failed"
	python3 -c "import sys; sys.exit(0 if $gbps > 0.01 else 1)" ||
		e2e_fail "$1: TCP gave $gbps Gbit/s"
	result=$gbps
}

rx_stats() { # NETNS DEV: "packets bytes"
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets" \
		"/sys/class/net/$2/statistics/rx_bytes" | tr '\n' ' '
}

# run_case NAME TAP_OPTS HUBPORT_OPTS: A and B through hub 0; ping, TCP; sets result to the
# average size of the frames B's tap received during the TCP run.
run_case() {
	local name=$1 topts=$2 hopts=$3 before after
	start_vwire "$name" -netdev "tap,id=tA,ifname=$ta$topts" -netdev "tap,id=tB,ifname=$tb$topts" \
		-netdev "hubport,id=hA,hubid=0,netdev=tA$hopts" \
		-netdev "hubport,id=hB,hubid=0,netdev=tB$hopts"
	move_tap "$ta" "$nsa" 10.99.1.1/24
	move_tap "$tb" "$nsb" 10.99.1.2/24
	ping_ok "$nsa" 10.99.1.2
	ping_ok "$nsb" 10.99.1.1
	before=$(rx_stats "$nsb" "$tb")
	iperf_tcp "$name"
	e2e_log "$name: TCP $result Gbit/s"
	after=$(rx_stats "$nsb" "$tb")
	pid_alive "$vw_pid" || e2e_fail "$name: vwire died"
	stop_vwire
	# The taps go with vwire's fds; wait so that the names are free for the next case.
	wait_until 10 link_absent "$ta" "$nsa" || e2e_fail "$ta outlived vwire"
	wait_until 10 link_absent "$tb" "$nsb" || e2e_fail "$tb outlived vwire"
	read -r p0 b0 <<<"$before"
	read -r p1 b1 <<<"$after"
	result=$(((b1 - b0) / (p1 - p0)))
}

run_case hub "" ""
e2e_log "hub: average frame into B $result bytes"
run_case switch "" ",learning=on"
e2e_log "learning switch: average frame into B $result bytes"

# GSO: with vnet headers the kernel hands whole 64 KiB TCP frames through; without, MTU frames.
run_case vnet_hdr_on ",vnet_hdr=on" ""
e2e_log "vnet_hdr=on: average frame into B $result bytes"
((result > 1514)) || e2e_fail "vnet_hdr=on: frames into B average $result bytes: GSO did not pass"
run_case vnet_hdr_off ",vnet_hdr=off" ""
e2e_log "vnet_hdr=off: average frame into B $result bytes"
((result <= 1514)) || e2e_fail "vnet_hdr=off: frames into B average $result bytes"

# A tap vanishes under traffic: B's link is deleted while A pings B; A and C keep talking.
start_vwire gone -netdev "tap,id=tA,ifname=$ta" -netdev "tap,id=tB,ifname=$tb" \
	-netdev "tap,id=tC,ifname=$tc" -netdev hubport,id=hA,hubid=0,netdev=tA \
	-netdev hubport,id=hB,hubid=0,netdev=tB -netdev hubport,id=hC,hubid=0,netdev=tC
move_tap "$ta" "$nsa" 10.99.1.1/24
move_tap "$tb" "$nsb" 10.99.1.2/24
move_tap "$tc" "$nsc" 10.99.1.3/24
ping_ok "$nsa" 10.99.1.2
spawn -n "$nsa" -o "$E2E_TMP/ping-b.log" ping -i 0.02 -w 10 10.99.1.2
sleep 1
ip -n "$nsb" link del "$tb"
wait_for_log_line "$vw_log" "tap $tb is gone" 10 || e2e_fail "vwire did not log the vanished tap"
sleep 1
pid_alive "$vw_pid" || e2e_fail "vwire died when $tb vanished"
ping_ok "$nsa" 10.99.1.3
ping_ok "$nsc" 10.99.1.1
pid_alive "$vw_pid" || e2e_fail "vwire died"
e2e_log "vanished tap: logged, vwire alive, A and C still talk"
echo "PASS: $E2E_NAME"
