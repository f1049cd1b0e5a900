#!/usr/bin/env bash
# tap_hub.sh - two network namespaces joined by vwire: each gets a tap that vwire created in
# the host namespace (the tap's fd survives the move), and the taps meet on hub 0.
# Promises checked: ping both ways and iperf3 TCP through a hub and through a learning switch;
# with vnet_hdr=on taps GSO frames cross whole (B's tap receives frames larger than the MTU,
# and with vnet_hdr=off it does not); a 64-byte UDP flood arrives in order, its frames read
# and written through io_uring in batches (fewer system calls than frames, by query-netdevs),
# and with uring=off by plain calls; deleting one tap's link under traffic is logged, vwire
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
	vw_qmp=$E2E_TMP/$tag.qmp
	spawn -o "$E2E_TMP/vwire-$tag.out" "$VWIRE" "$@" -D "$vw_log" -pidfile "$E2E_TMP/$tag.pid" \
		-qmp "unix:$vw_qmp,server=on,wait=off"
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

# udp_flood CASE: 2 s of 64-byte UDP at full blast from A to B; fails when a datagram came
# out of order or none arrived.
udp_flood() {
	local json
	ip netns exec "$nsb" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	local spid=$!
	wait_for_tcp_listen 5201 "$nsb" || e2e_fail "$1: no iperf3 server"
	json=$(ip netns exec "$nsa" iperf3 -c 10.99.1.2 -p 5201 -u -l 64 -b 0 -t 2 -J) ||
		e2e_fail "$1: UDP iperf3 failed"
	wait "$spid" || true
	# The server's count, which the client reports per stream.
	result=$(python3 -c 'import json, sys
s = json.load(sys.stdin)["end"]["streams"][0]["udp"]
print(s["packets"] - s["lost_packets"], s["out_of_order"])' <<<"$json")
	read -r got ooo <<<"$result"
	((got > 0)) || e2e_fail "$1: no UDP datagram arrived"
	((ooo == 0)) || e2e_fail "$1: $ooo UDP datagrams out of order"
	e2e_log "$1: UDP flood: $got datagrams received, none out of order"
}

# tap_counters: "uring calls frames" summed over taps tA and tB (query-netdevs).
tap_counters() {
	python3 "$E2E_DIR/lib/qmp.py" "$vw_qmp" query-netdevs | python3 -c '
import json, sys
u = c = f = 0
for d in json.load(sys.stdin):
    if d["id"] in ("tA", "tB"):
        k = d["counters"]
        u += k["uring"]
        c += k["uring-calls"]
        f += k["uring-rx-frames"] + k["uring-tx-frames"]
print(u, c, f)'
}

rx_stats() { # NETNS DEV: "packets bytes"
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets" \
		"/sys/class/net/$2/statistics/rx_bytes" | tr '\n' ' '
}

uring_available ||
	e2e_log "io_uring is off in this kernel or build: every case checks plain calls instead"

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
	udp_flood "$name"
	read -r uring calls frames <<<"$(tap_counters)"
	if [[ $topts == *uring=off* ]] || ! uring_available; then
		((uring == 0 && calls == 0)) || e2e_fail "$name: uring=off, yet $calls io_uring calls"
	else
		((uring == 2)) || e2e_fail "$name: $uring of 2 taps use io_uring"
		# Batches: the run's frames (TCP, then the flood) took fewer system calls.
		((frames * 2 > calls * 3)) ||
			e2e_fail "$name: $frames frames in $calls io_uring calls: no batches"
	fi
	e2e_log "$name: io_uring on $uring taps, $frames frames in $calls calls"
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
# Plain read and writev, one frame per call.
run_case uring_off ",uring=off" ""

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
