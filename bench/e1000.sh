#!/bin/bash
# e1000.sh - TCP between a QEMU guest's e1000 driver and the host through a tap, vwire's e1000
# model against QEMU's built-in one, same guest image, same run:
#   qemu:  -netdev tap,vhost=off -device e1000                       (QEMU's own model)
#   vwire: vwire -netdev tap -device e1000,socket=...,qtest=...      -device x-pci-proxy-dev
#          and again with poll-us=$POLL_US (default 1000) on the device
# For each: iperf3 guest -> host and host -> guest (-R), $SECONDS_PER_RUN s, best of $RUNS.
# Prints a markdown table with the ratios. Guests run under TCG (this machine's /dev/kvm cannot
# run a stock kernel), so vwire's model is reached through QEMU's proxy (every register access
# is a message to vwire and back) and its interrupts through qtest: TCG figures.
# Usage: bench/e1000.sh  (root; builds build/ if needed)
set -euo pipefail
E2E_NAME=bench_e1000
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"
# shellcheck source=../tests/e2e/lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 iperf3 ip awk python3
require_vwire --build
VWIRECTL=$(dirname "$VWIRE")/vwirectl
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
RUNS=${RUNS:-2}
POLL_US=${POLL_US:-1000}
guest_build

NS=vwbe-$E2E_SUFFIX
HOST_IP=10.236.0.1
GUEST_IP=10.236.0.2
make_netns "$NS"
spawn -n "$NS" iperf3 -s

# measure NAME [DIRECTION_FLAG] - best Gbit/s of $RUNS runs
measure() {
	guest_iperf3_best "$1" "$RUNS" 3 -c "$HOST_IP" -t "$SECONDS_PER_RUN" ${2:+"$2"}
}

declare -A R
# QEMU's own e1000 on its own tap back end, QEMU inside the namespace (it opens the tap there).
TAPQ=$(e2e_ifname vwbq)
make_tap "$TAPQ" "$NS"
ip -n "$NS" addr add "$HOST_IP/24" dev "$TAPQ"
guest_boot q --netns "$NS" --ip "$GUEST_IP/24" -- \
	-netdev "tap,id=n0,ifname=$TAPQ,script=no,downscript=no,vhost=off" -device e1000,netdev=n0
guest_wait_ready q 180 || e2e_fail "QEMU e1000 guest did not boot"
R[qemu_tx]=$(measure q)
R[qemu_rx]=$(measure q -R)
guest_stop q || true
ip -n "$NS" link del "$TAPQ"

# vwire's e1000 on a tap moved into the namespace; QEMU forwards the PCI function to it.
# measure_vwire KEY [DEVICE_OPTS] - boot the guest on a fresh vwire, measure both ways.
chmod 700 "$E2E_TMP"
cat >"$E2E_TMP/qemu-e1000" <<EOF
#!/bin/sh
exec "$VWIRECTL" pci-exec "$E2E_TMP/e1000.sock" qemu-system-x86_64 "\$@"
EOF
chmod +x "$E2E_TMP/qemu-e1000"
measure_vwire() {
	local tap
	tap=$(e2e_ifname vwbv)
	spawn -o "$E2E_TMP/vwire-$1.log" "$VWIRE" -netdev "tap,id=t0,ifname=$tap,vnet_hdr=on" \
		-device "e1000,id=e0,netdev=t0,socket=$E2E_TMP/e1000.sock,qtest=$E2E_TMP/qtest.sock${2:+,$2}"
	local vw=$SPAWN_PID
	wait_for_socket "$E2E_TMP/e1000.sock" 10 || e2e_fail "vwire did not start"
	move_tap "$tap" "$NS" "$HOST_IP/24"
	GUEST_QEMU=$E2E_TMP/qemu-e1000 guest_boot "$1" --ip "$GUEST_IP/24" -- \
		-qtest "unix:$E2E_TMP/qtest.sock,server=on,wait=off" -qtest-log /dev/null \
		-device "x-pci-proxy-dev,id=p0,fd={fd}"
	guest_wait_ready "$1" 180 || e2e_fail "vwire e1000 guest did not boot"
	R[$1_tx]=$(measure "$1")
	R[$1_rx]=$(measure "$1" -R)
	guest_stop "$1" || true
	kill_pid "$vw"
	rm -f "$E2E_TMP/e1000.sock" # stale if vwire could not unlink it
}
measure_vwire v
measure_vwire vp "poll-us=$POLL_US"

echo
echo "| guest TCP through a tap, e1000 (TCG guest, iperf3 ${SECONDS_PER_RUN}s, best of $RUNS) | QEMU -device e1000 | vwire -device e1000 | vwire / QEMU | vwire poll-us=$POLL_US | vwire poll-us / QEMU |"
echo "|---|---|---|---|---|---|"
for d in tx rx; do
	[[ $d == tx ]] && what="guest -> host" || what="host -> guest"
	echo "| $what, Gbit/s | ${R[qemu_$d]} | ${R[v_$d]} | $(ratio "${R[v_$d]}" "${R[qemu_$d]}") | ${R[vp_$d]} | $(ratio "${R[vp_$d]}" "${R[qemu_$d]}") |"
done
