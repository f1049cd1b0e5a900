#!/usr/bin/env bash
# tap_hub.sh - forwarding speed of tap -> hub -> tap between two network namespaces, vwire
# against QEMU's hub with the same -netdev options, in one run. Each implementation creates
# two taps in the host namespace; the script moves them into namespaces A and B and runs
# iperf3 from A to B: 64-byte UDP at full blast (packets per second received by the iperf3
# server, and delivered into B's interface) and TCP (Gbit/s). Prints a markdown table of the
# median of RUNS runs and the ratio vwire/QEMU.
#   sudo bench/tap_hub.sh            (VWIRE=path/to/vwire RUNS=3 SECS=5 to change)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
VWIRE=${VWIRE:-$top/build/vwire}
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
sfx=$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vwire-bench.XXXXXX")
pid=
nsa=vwbA$sfx nsb=vwbB$sfx ta=vwbtA$sfx tb=vwbtB$sfx

skip() { echo "SKIP: $*" >&2; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root"
for c in ip iperf3 python3 "$QEMU"; do command -v "$c" >/dev/null || skip "missing $c"; done
[[ -x $VWIRE ]] || skip "no vwire binary at $VWIRE (build it, or set VWIRE=)"

stop() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	fi
}
cleanup() {
	set +e
	stop
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsb" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# start IMPL: run vwire or QEMU with two taps joined by hub 0, and wait for both taps.
start() {
	local netdevs=(-netdev "tap,id=a,ifname=$ta,script=no,downscript=no"
		-netdev "tap,id=b,ifname=$tb,script=no,downscript=no"
		-netdev hubport,id=ha,hubid=0,netdev=a -netdev hubport,id=hb,hubid=0,netdev=b)
	case $1 in
	vwire) "$VWIRE" "${netdevs[@]}" -D "$tmp/vwire.log" -pidfile "$tmp/vwire.pid" \
		>"$tmp/vwire.out" 2>&1 & ;;
	qemu) "$QEMU" -M none -nodefaults -display none -nographic "${netdevs[@]}" \
		>"$tmp/qemu.out" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 100); do
		ip link show "$ta" >/dev/null 2>&1 && ip link show "$tb" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$tmp"/*.out "$tmp"/*.log 2>/dev/null >&2
	echo "FAIL: $1 did not create $ta and $tb" >&2
	exit 1
}

# Namespaces A and B each get one tap: 10.99.0.1 and 10.99.0.2.
plumb() {
	ip netns add "$nsa"
	ip netns add "$nsb"
	ip link set "$ta" netns "$nsa"
	ip link set "$tb" netns "$nsb"
	ip -n "$nsa" addr add 10.99.0.1/24 dev "$ta"
	ip -n "$nsb" addr add 10.99.0.2/24 dev "$tb"
	for n in "$nsa:$ta" "$nsb:$tb"; do
		ip -n "${n%%:*}" link set lo up
		ip -n "${n%%:*}" link set "${n#*:}" up
	done
	ip netns exec "$nsa" ping -c 1 -W 2 10.99.0.2 >/dev/null ||
		ip netns exec "$nsa" ping -c 3 -W 2 10.99.0.2 >/dev/null
}

unplumb() {
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
}

rx_packets() {
	ip netns exec "$nsb" cat "/sys/class/net/$tb/statistics/rx_packets"
}

# iperf3 CLIENT-ARGS...: a one-shot server in B, the client in A; prints the client's JSON.
iperf() {
	ip netns exec "$nsb" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	local spid=$!
	for _ in $(seq 50); do
		ip netns exec "$nsb" ss -Hltn "sport = :5201" | grep -q . && break
		sleep 0.1
	done
	ip netns exec "$nsa" iperf3 -c 10.99.0.2 -p 5201 -J "$@"
	wait "$spid" || true
}

# One run of IMPL: prints "udp_rx_pps udp_delivered_pps tcp_gbps".
measure() {
	local before after udp tcp
	start "$1"
	plumb
	before=$(rx_packets)
	udp=$(iperf -u -l 64 -b 0 -t "$SECS")
	after=$(rx_packets)
	tcp=$(iperf -t "$SECS")
	stop
	unplumb
	python3 - "$udp" "$tcp" "$before" "$after" "$SECS" <<'EOF'
import json, sys
udp, tcp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
before, after, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = udp["end"]["sum"]
received = s["packets"] - s["lost_packets"]
print(received / s["seconds"], (after - before) / secs,
      tcp["end"]["sum_received"]["bits_per_second"] / 1e9)
EOF
}

for impl in vwire qemu; do
	: >"$tmp/$impl.runs"
	for ((r = 1; r <= RUNS; r++)); do
		echo "run $r/$RUNS: $impl" >&2
		measure "$impl" >>"$tmp/$impl.runs"
		echo "  $(tail -1 "$tmp/$impl.runs")" >&2
	done
done

python3 - "$tmp/vwire.runs" "$tmp/qemu.runs" "$SECS" "$RUNS" <<'EOF'
import statistics, sys
def load(p):
    rows = [list(map(float, l.split())) for l in open(p) if l.strip()]
    return [statistics.median(c) for c in zip(*rows)]
v, q = load(sys.argv[1]), load(sys.argv[2])
names = ["UDP 64 B, received by iperf3 (Mpps)", "UDP 64 B, delivered into B's tap (Mpps)",
         "TCP (Gbit/s)"]
scale = [1e-6, 1e-6, 1]
print(f"median of {sys.argv[4]} runs, {sys.argv[3]} s each\n")
print("| tap -> hub -> tap | vwire | QEMU | vwire/QEMU |")
print("|---|---:|---:|---:|")
for n, a, b, k in zip(names, v, q, scale):
    print(f"| {n} | {a * k:.3f} | {b * k:.3f} | {a / b if b else float('nan'):.2f} |")
EOF
