#!/bin/bash
# guest_tap.sh - TCP between a QEMU guest and the host through a tap, vwire against QEMU's own
# path, same guest image, same run:
#   qemu:  -netdev tap,vhost=off -device virtio-net-pci          (QEMU's built-in tap back end)
#   vwire: vwire -netdev tap -device virtio-net (vhost-user)     -netdev vhost-user in QEMU
# For each: iperf3 guest -> host and host -> guest (-R), $SECONDS_PER_RUN s, best of $RUNS.
# Prints a markdown table with the ratios. Guests run under TCG (this machine's /dev/kvm cannot
# run a stock kernel), so the guest's CPU is slow and the figures are TCG figures.
# Usage: bench/guest_tap.sh  (root; builds build/ if needed; DEVICE_OPTS=poll=on adds options
# to vwire's -device virtio-net)
set -euo pipefail
E2E_NAME=bench_guest_tap
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"
# shellcheck source=../tests/e2e/lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 iperf3 ip awk
require_vwire --build
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
RUNS=${RUNS:-2}
guest_build

NS=vwbg-$E2E_SUFFIX
HOST_IP=10.235.0.1
GUEST_IP=10.235.0.2
make_netns "$NS"
spawn -n "$NS" iperf3 -s

# measure NAME [DIRECTION_FLAG] - best Gbit/s of $RUNS runs
measure() {
	guest_iperf3_best "$1" "$RUNS" 2 -c "$HOST_IP" -t "$SECONDS_PER_RUN" ${2:+"$2"}
}

declare -A R
# QEMU's own tap back end, QEMU inside the namespace so that it opens the tap there.
TAPQ=$(e2e_ifname vwbq)
make_tap "$TAPQ" "$NS"
ip -n "$NS" addr add "$HOST_IP/24" dev "$TAPQ"
guest_boot q --netns "$NS" --ip "$GUEST_IP/24" -- \
	-netdev "tap,id=n0,ifname=$TAPQ,script=no,downscript=no,vhost=off" \
	-device virtio-net-pci,netdev=n0,vectors=0
guest_wait_ready q 180 || e2e_fail "QEMU tap guest did not boot"
R[qemu_tx]=$(measure q)
R[qemu_rx]=$(measure q -R)
guest_stop q || true
ip -n "$NS" link del "$TAPQ"

# vwire: tap (moved into the namespace) and virtio-net over vhost-user.
TAPV=$(e2e_ifname vwbv)
spawn -o "$E2E_TMP/vwire.log" "$VWIRE" -netdev "tap,id=t0,ifname=$TAPV,vnet_hdr=on" \
	-device "virtio-net,id=v0,netdev=t0,socket=$E2E_TMP/vu.sock${DEVICE_OPTS:+,$DEVICE_OPTS}"
VW=$SPAWN_PID
wait_for_socket "$E2E_TMP/vu.sock" 10 || e2e_fail "vwire did not start"
move_tap "$TAPV" "$NS" "$HOST_IP/24"
guest_boot v --ip "$GUEST_IP/24" -- \
	-chardev "socket,id=c0,path=$E2E_TMP/vu.sock,reconnect=1" \
	-netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0,vectors=0
guest_wait_ready v 180 || e2e_fail "vwire guest did not boot"
R[vwire_tx]=$(measure v)
R[vwire_rx]=$(measure v -R)
guest_stop v || true
kill_pid "$VW"

echo
echo "| guest TCP through a tap (TCG guest, iperf3 ${SECONDS_PER_RUN}s, best of $RUNS) | QEMU tap,vhost=off | vwire (vhost-user) | vwire / QEMU |"
echo "|---|---|---|---|"
echo "| guest -> host, Gbit/s | ${R[qemu_tx]} | ${R[vwire_tx]} | $(ratio "${R[vwire_tx]}" "${R[qemu_tx]}") |"
echo "| host -> guest, Gbit/s | ${R[qemu_rx]} | ${R[vwire_rx]} | $(ratio "${R[vwire_rx]}" "${R[qemu_rx]}") |"
