#!/usr/bin/env bash
# tap_hub.sh - forwarding speed of tap -> hub -> tap between two network namespaces, vwire
# against QEMU's hub with the same -netdev options, in one run. Each implementation creates
# two taps in the host namespace; the script moves them into namespaces A and B and runs
# iperf3 from A to B: 64-byte UDP at full blast (packets per second received by the iperf3
# server, and delivered into B's interface), 64-byte UDP at a fixed rate (packets forwarded per
# CPU-second of vwire or QEMU, which other load on the machine disturbs least) and TCP
# (Gbit/s). Prints a markdown table of the median (and range) of RUNS runs, alternating the
# two, and the ratio vwire/QEMU. IMPLS="vwire vwire-plain qemu" adds vwire with uring=off on
# its taps (a read or writev per frame instead of a batch per system call through io_uring).
#   sudo bench/tap_hub.sh            (VWIRE=path/to/vwire RUNS=3 SECS=5 to change)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
VWIRE=${VWIRE:-$top/build/vwire}
QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
IMPLS=${IMPLS:-vwire qemu}
FIXED_RATE=${FIXED_RATE:-20M} # offered 64-byte UDP for the CPU-per-packet run (~39 kpps)
sfx=$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vwire-bench.XXXXXX")
pid=
nsa=vwbA$sfx nsb=vwbB$sfx ta=vwbtA$sfx tb=vwbtB$sfx

# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"
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
on_cleanup cleanup # run by common.sh's EXIT trap

# start IMPL: run vwire or QEMU with two taps joined by hub 0, and wait for both taps.
start() {
	local extra=
	[[ $1 == vwire-plain ]] && extra=,uring=off
	local netdevs=(-netdev "tap,id=a,ifname=$ta,script=no,downscript=no"
		-netdev "tap,id=b,ifname=$tb,script=no,downscript=no"
		-netdev hubport,id=ha,hubid=0,netdev=a -netdev hubport,id=hb,hubid=0,netdev=b)
	case $1 in
	vwire*) "$VWIRE" "${netdevs[@]/%downscript=no/downscript=no$extra}" -D "$tmp/vwire.log" \
		-pidfile "$tmp/vwire.pid" >"$tmp/vwire.out" 2>&1 & ;;
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


# One run of IMPL: prints "udp_rx_pps udp_delivered_pps pkts_per_cpu_second tcp_gbps".
measure() {
	local before after udp tcp p0 p1 c0 c1
	start "$1"
	plumb
	before=$(rx_packets)
	udp=$(iperf -u -l 64 -b 0 -t "$SECS")
	after=$(rx_packets)
	# The forwarder's CPU per packet at a rate the machine sustains: robust to other load.
	p0=$(rx_packets) c0=$(cpu_ticks "$pid")
	iperf -u -l 64 -b "$FIXED_RATE" -t "$SECS" >/dev/null
	p1=$(rx_packets) c1=$(cpu_ticks "$pid")
	tcp=$(iperf -t "$SECS")
	stop
	unplumb
	python3 - "$udp" "$tcp" "$before" "$after" "$SECS" "$p0" "$p1" "$c0" "$c1" \
		"$(getconf CLK_TCK)" <<'EOF'
import json, sys
udp, tcp = json.loads(sys.argv[1]), json.loads(sys.argv[2])
before, after, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
p0, p1, c0, c1, hz = (int(a) for a in sys.argv[6:11])
s = udp["end"]["sum"]
received = s["packets"] - s["lost_packets"]
cpu = max(c1 - c0, 1) / hz
print(received / s["seconds"], (after - before) / secs, (p1 - p0) / cpu,
      tcp["end"]["sum_received"]["bits_per_second"] / 1e9)
EOF
}

# Alternate them, so that a change in the machine's load falls on all alike.
for impl in $IMPLS; do : >"$tmp/$impl.runs"; done
for ((r = 1; r <= RUNS; r++)); do
	for impl in $IMPLS; do
		echo "run $r/$RUNS: $impl" >&2
		measure "$impl" >>"$tmp/$impl.runs"
		echo "  $(tail -1 "$tmp/$impl.runs")" >&2
	done
done

python3 - "$tmp" "$SECS" "$RUNS" $IMPLS <<'EOF'
import statistics, sys
def load(p):
    rows = [list(map(float, l.split())) for l in open(p) if l.strip()]
    return list(zip(*rows))
impls = sys.argv[4:]
runs = {i: load(f"{sys.argv[1]}/{i}.runs") for i in impls}
names = ["UDP 64 B flood, received by iperf3 (Mpps)",
         "UDP 64 B flood, delivered into B's tap (Mpps)",
         "UDP 64 B at a fixed rate, packets per CPU-second of the forwarder (M)",
         "TCP (Gbit/s)"]
scale = [1e-6, 1e-6, 1e-6, 1]
def cell(col, k):
    return f"{statistics.median(col) * k:.3f} ({min(col) * k:.3f}-{max(col) * k:.3f})"
# Ratios of vwire to each other implementation, of medians.
pairs = [("vwire", o) for o in impls if o != "vwire" and "vwire" in impls]
print(f"median (min-max) of {sys.argv[3]} runs of {sys.argv[2]} s, {', '.join(impls)} alternating\n")
print("| tap -> hub -> tap | " + " | ".join(impls) + "".join(f" | {a}/{b}" for a, b in pairs) + " |")
print("|---|" + "---:|" * (len(impls) + len(pairs)))
for j, (n, k) in enumerate(zip(names, scale)):
    row = [cell(runs[i][j], k) for i in impls]
    for a, b in pairs:
        ma, mb = statistics.median(runs[a][j]), statistics.median(runs[b][j])
        row.append(f"{ma / mb if mb else float('nan'):.2f}")
    print(f"| {n} | " + " | ".join(row) + " |")
EOF
