#!/usr/bin/env bash
# socket.sh - forwarding speed of tap -> socket -> tap across two processes, vwire against QEMU
# with the same -netdev options, in one run. Each side is one process with a tap and a socket,
# stream or dgram netdev joined by hub 0; the script moves side A's tap into namespace A and
# side B's into B, and runs iperf3 from A to B: 64-byte UDP at full blast (packets per second
# received by the iperf3 server) and TCP (Gbit/s). Prints a markdown table of the median of
# RUNS runs per flavour and the ratio vwire/QEMU.
#   sudo bench/socket.sh       (VWIRE=path/to/vwire RUNS=3 SECS=5 FLAVOURS="tcp unix udp")
set -euo pipefail
E2E_NAME=bench_socket
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"

QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
FLAVOURS=${FLAVOURS:-tcp unix udp dgram-unix}
require_root
require_cmd ip iperf3 python3 "$QEMU"
require_vwire
tmp=$E2E_TMP
pids=()
nsa=vwbsA$E2E_SUFFIX nsb=vwbsB$E2E_SUFFIX ta=$(e2e_ifname vwbsA) tb=$(e2e_ifname vwbsB)

stop() {
	local p
	for p in "${pids[@]}"; do
		kill_pid "$p"
	done
	pids=()
}

# netdevs FLAVOUR: sets net_a and net_b, the two sides' netdev (A is the server, if any).
netdevs() {
	local p q
	case $1 in
	tcp) p=$(free_port tcp)
		net_a="socket,id=s,listen=127.0.0.1:$p" net_b="socket,id=s,connect=127.0.0.1:$p" ;;
	unix) net_a="stream,id=s,server=on,addr.type=unix,addr.path=$tmp/s.sock"
		net_b="stream,id=s,server=off,addr.type=unix,addr.path=$tmp/s.sock" ;;
	udp) p=$(free_port udp) q=$(free_port udp)
		net_a="socket,id=s,udp=127.0.0.1:$q,localaddr=127.0.0.1:$p"
		net_b="socket,id=s,udp=127.0.0.1:$p,localaddr=127.0.0.1:$q" ;;
	dgram-unix)
		net_a="dgram,id=s,local.type=unix,local.path=$tmp/a.dg,remote.type=unix,remote.path=$tmp/b.dg"
		net_b="dgram,id=s,local.type=unix,local.path=$tmp/b.dg,remote.type=unix,remote.path=$tmp/a.dg" ;;
	*) echo "unknown flavour $1" >&2; exit 2 ;;
	esac
}

# start IMPL TAP NETDEV: one side: its tap and NETDEV on hub 0; waits for the tap.
start() {
	local impl=$1 tap=$2 netdev=$3
	local args=(-netdev "tap,id=t,ifname=$tap,script=no,downscript=no" -netdev "$netdev"
		-netdev hubport,id=h1,hubid=0,netdev=t -netdev hubport,id=h2,hubid=0,netdev=s)
	case $impl in
	vwire) spawn -o "$tmp/$impl-$tap.out" "$VWIRE" "${args[@]}" -D "$tmp/vwire-$tap.log" ;;
	qemu) spawn -o "$tmp/$impl-$tap.out" "$QEMU" -M none -nodefaults -display none -nographic \
		"${args[@]}" ;;
	esac
	pids+=("$SPAWN_PID")
	wait_for_link "$tap" ||
		{ cat "$tmp"/*.out "$tmp"/*.log 2>/dev/null >&2; e2e_fail "$impl did not create $tap"; }
}

plumb() {
	make_netns "$nsa"
	make_netns "$nsb"
	move_tap "$ta" "$nsa" 10.98.0.1/24
	move_tap "$tb" "$nsb" 10.98.0.2/24
	ip netns exec "$nsa" ping -c 1 -W 2 10.98.0.2 >/dev/null ||
		ip netns exec "$nsa" ping -c 3 -W 2 10.98.0.2 >/dev/null
}

unplumb() {
	del_netns "$nsa"
	del_netns "$nsb"
}

# iperf3 CLIENT-ARGS...: a one-shot server in B, the client in A; prints the client's JSON.
iperf() {
	ip netns exec "$nsb" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	local spid=$!
	wait_for_tcp_listen 5201 "$nsb" 5 || true
	ip netns exec "$nsa" iperf3 -c 10.98.0.2 -p 5201 -J "$@"
	wait "$spid" || true
}

# One run of IMPL over FLAVOUR: prints "udp_rx_pps tcp_gbps".
measure() {
	local udp tcp
	netdevs "$2"
	start "$1" "$ta" "$net_a"
	start "$1" "$tb" "$net_b"
	plumb
	udp=$(iperf -u -l 64 -b 0 -t "$SECS")
	tcp=$(iperf -t "$SECS")
	stop
	unplumb
	python3 - "$udp" "$tcp" <<'EOF'
import json, sys
udp, tcp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
s = udp["end"]["sum"]
print((s["packets"] - s["lost_packets"]) / s["seconds"],
      tcp["end"]["sum_received"]["bits_per_second"] / 1e9)
EOF
}

# vwire and QEMU runs alternate, so that a change in the machine's load hits both alike.
for fl in $FLAVOURS; do
	: >"$tmp/$fl.vwire.runs"
	: >"$tmp/$fl.qemu.runs"
	for ((r = 1; r <= RUNS; r++)); do
		for impl in vwire qemu; do
			echo "run $r/$RUNS: $fl, $impl" >&2
			measure "$impl" "$fl" >>"$tmp/$fl.$impl.runs"
			echo "  $(tail -1 "$tmp/$fl.$impl.runs")" >&2
		done
	done
done

python3 - "$tmp" "$SECS" "$RUNS" $FLAVOURS <<'EOF'
import statistics, sys
tmp, secs, runs, flavours = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
what = {"tcp": "socket listen=/connect= (TCP)", "unix": "stream, unix socket",
        "udp": "socket udp=", "dgram-unix": "dgram, unix sockets"}
def load(p):
    rows = [list(map(float, l.split())) for l in open(p) if l.strip()]
    return [(statistics.median(c), min(c), max(c)) for c in zip(*rows)]
print(f"median (and range) of {runs} runs, {secs} s each\n")
print("| tap -> socket -> tap, two processes | vwire | QEMU | vwire/QEMU (medians) |")
print("|---|---:|---:|---:|")
for fl in flavours:
    v, q = load(f"{tmp}/{fl}.vwire.runs"), load(f"{tmp}/{fl}.qemu.runs")
    for i, (n, k) in enumerate([("UDP 64 B received (Mpps)", 1e-6), ("TCP (Gbit/s)", 1)]):
        cell = lambda m: f"{m[0] * k:.3f} ({m[1] * k:.3f}-{m[2] * k:.3f})"
        print(f"| {what[fl]}: {n} | {cell(v[i])} | {cell(q[i])} | "
              f"{v[i][0] / q[i][0] if q[i][0] else float('nan'):.2f} |")
EOF
