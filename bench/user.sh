#!/usr/bin/env bash
# user.sh - TCP throughput through user-mode networking, in one run: a network namespace (the
# "guest") talks to an iperf3 server on the host's 127.0.0.1 through
#   vwire:  tap (moved into the namespace) -- hub -- -netdev user (libslirp), MTU 1500 and
#           65520 (mtu=65520; the tap in the namespace gets the same MTU),
#   native: the same with engine=native (vwire's own engine), the tap with vnet_hdr=on so
#           that TSO frames cross whole,
#   QEMU:   the same -netdev tap/hubport/user line in qemu-system-x86_64 -M none (MTU 1500:
#           QEMU's user netdev has no MTU option),
#   pasta:  passt's namespace mode joined to the namespace, MTU 1500 and 65520, as a
#           reference of a translating (not TCP-terminating) design.
# Both directions (namespace -> host, and host -> namespace with iperf3 -R). Cases run
# interleaved, RUNS rounds of SECS seconds each; the table shows medians, the forwarder's CPU
# use (user+system, % of one core, and seconds per gigabyte moved) and ratios against QEMU
# and pasta.
#   sudo bench/user.sh        (VWIRE=path/to/vwire RUNS=3 SECS=5 PASTA=pasta to change;
#                              CASES="native-1500 pasta-1500" for some only)
set -euo pipefail
E2E_NAME=bench_user
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"

QEMU=${QEMU:-qemu-system-x86_64}
PASTA=${PASTA:-pasta}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
require_root
require_cmd ip iperf3 python3 "$QEMU"
require_vwire
have_pasta=1
command -v "$PASTA" >/dev/null || { have_pasta=0; echo "no $PASTA: its rows are left out" >&2; }

ns=vwbu$E2E_SUFFIX tap=$(e2e_ifname vwbut) port=$((20000 + E2E_SUFFIX % 20000))
pid=

# stop: end the current case's forwarder and delete the namespace.
stop() {
	if [[ -n $pid ]]; then
		kill_pid "$pid"
		pid=
	fi
	del_netns "$ns"
}

spawn -o "$E2E_TMP/iperf-server.log" iperf3 -s -B 127.0.0.1 -p "$port"
wait_for_tcp_listen "$port" "" 5 || e2e_fail "iperf3 server did not start"

has_default_route() { ip -n "$ns" -4 route show default 2>/dev/null | e2e_grep .; }

# start CASE: the forwarder for CASE (impl-mtu) with the namespace plumbed; sets $server to
# the address that reaches the host's 127.0.0.1 from inside the namespace.
start() {
	local impl=${1%-*} mtu=${1#*-} dev
	local tapdev=(-netdev "tap,id=t0,ifname=$tap,script=no,downscript=no")
	local hub=(-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=u0)
	make_netns "$ns"
	case $impl in
	vwire) spawn -o "$E2E_TMP/vwire.out" "$VWIRE" "${tapdev[@]}" -netdev "user,id=u0,mtu=$mtu,engine=slirp" \
		"${hub[@]}" -D "$E2E_TMP/vwire.log" ;;
	native) spawn -o "$E2E_TMP/vwire.out" ${VWIRE_WRAP:-} "$VWIRE" \
		-netdev "tap,id=t0,ifname=$tap,script=no,downscript=no,vnet_hdr=on" \
		-netdev "user,id=u0,mtu=$mtu,engine=native" "${hub[@]}" -D "$E2E_TMP/vwire.log" ;;
	qemu) spawn -o "$E2E_TMP/qemu.out" "$QEMU" -M none -nodefaults -display none -nographic \
		"${tapdev[@]}" -netdev user,id=u0 "${hub[@]}" ;;
	pasta) spawn -o "$E2E_TMP/pasta.out" "$PASTA" --runas 0 --netns "$ns" --config-net -f \
		--mtu "$mtu" -4 ;;
	esac
	pid=$SPAWN_PID
	if [[ $impl == pasta ]]; then
		wait_until 10 has_default_route ||
			{ cat "$E2E_TMP/pasta.out" >&2; e2e_fail "pasta set no route"; }
		server=$(ip -n "$ns" -4 route show default | awk '{ print $3; exit }')
		dev=$(ip -n "$ns" -4 route show default | awk '{ print $5; exit }')
		ip -n "$ns" link set "$dev" mtu "$mtu"
		return 0
	fi
	wait_for_link "$tap" || { cat "$E2E_TMP"/*.out >&2 2>/dev/null; e2e_fail "no $tap"; }
	move_tap "$tap" "$ns" 10.0.2.15/24
	ip -n "$ns" link set "$tap" mtu "$mtu"
	ip -n "$ns" route add default via 10.0.2.2
	server=10.0.2.2
}


# measure CASE DIR: one iperf3 run (DIR "up": namespace -> host, "down": -R); prints
# "Gbit/s cpu%".
measure() {
	local extra=() json t0 t1
	[[ $2 == down ]] && extra=(-R)
	for _ in 1 2 3; do # the first connection can race the namespace's ARP/NDP
		t0=$(cpu_ticks "$pid")
		if json=$(ip netns exec "$ns" iperf3 -c "$server" -p "$port" -t "$SECS" -J \
			"${extra[@]}" 2>/dev/null); then
			t1=$(cpu_ticks "$pid")
			python3 - "$json" "$t0" "$t1" "$SECS" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
j = json.loads(sys.argv[1])
t0, t1, secs, hz = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print("%.3f %.0f" % (j["end"]["sum_received"]["bits_per_second"] / 1e9,
                     100.0 * (t1 - t0) / hz / secs))
EOF
			return 0
		fi
		sleep 1
	done
	echo "0 0"
}

cases=(${CASES:-native-1500 native-65520 vwire-1500 vwire-65520 qemu-1500})
((have_pasta)) && [[ -z ${CASES:-} ]] && cases+=(pasta-1500 pasta-65520)
for ((r = 1; r <= RUNS; r++)); do
	for c in "${cases[@]}"; do
		start "$c"
		for dir in up down; do
			m=$(measure "$c" "$dir")
			echo "$m" >>"$E2E_TMP/$c.$dir"
			echo "run $r/$RUNS $c $dir: $m" >&2
		done
		stop
	done
done

python3 - "$E2E_TMP" "$RUNS" "$SECS" "${cases[@]}" <<'EOF'
import statistics, sys
tmp, runs, secs, cases = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def med(case, d):
    rows = [list(map(float, l.split())) for l in open("%s/%s.%s" % (tmp, case, d)) if l.strip()]
    return [statistics.median(c) for c in zip(*rows)]
res = {(c, d): med(c, d) for c in cases for d in ("up", "down")}
def ratio(a, b):
    return "%.2f" % (a / b) if b else "-"
names = {"vwire": "vwire -netdev user (libslirp)", "native": "vwire -netdev user,engine=native", "qemu": "QEMU 7.2 -netdev user", "pasta": "pasta"}
print("median of %s runs, %s s each; CPU: the forwarder's user+system time, %% of one core\n"
      % (runs, secs))
def per_gb(m):  # the forwarder's CPU seconds per gigabyte moved
    return "%.2f" % (m[1] / 100.0 / (m[0] / 8.0)) if m[0] else "-"
print("| path | MTU | ns -> host Gbit/s | CPU | CPU s/GB | host -> ns Gbit/s | CPU | CPU s/GB "
      "| ÷ QEMU (up / down) | ÷ pasta same MTU (up / down) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in cases:
    impl, mtu = c.split("-")
    up, down = res[(c, "up")], res[(c, "down")]
    q = ("qemu-1500", "up") in res and (res[("qemu-1500", "up")], res[("qemu-1500", "down")])
    p = ("pasta-" + mtu, "up") in res and (res[("pasta-" + mtu, "up")],
                                           res[("pasta-" + mtu, "down")])
    vs_q = "%s / %s" % (ratio(up[0], q[0][0]), ratio(down[0], q[1][0])) if q and impl != "qemu" else "-"
    vs_p = "%s / %s" % (ratio(up[0], p[0][0]), ratio(down[0], p[1][0])) if p and impl != "pasta" else "-"
    print("| %s | %s | %.2f | %.0f%% | %s | %.2f | %.0f%% | %s | %s | %s |"
          % (names[impl], mtu, up[0], up[1], per_gb(up), down[0], down[1], per_gb(down),
             vs_q, vs_p))
EOF
