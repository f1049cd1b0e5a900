#!/bin/bash
# user_guest.sh - TCP between a QEMU guest and a server on the host's loopback through user-mode
# networking: vwire's -netdev user (engine=native and engine=slirp, behind its vhost-user
# virtio-net device; ENGINES="native" for one) against
# QEMU's own -netdev user and against passt (attached with QEMU's -netdev stream), same guest
# image, same run. iperf3 guest -> host and host -> guest (-R), $SECONDS_PER_RUN s, best of
# $RUNS. The guests run under TCG (this machine's /dev/kvm cannot run a stock kernel).
# Usage: bench/user_guest.sh  (builds build/ if needed; passt is optional)
set -euo pipefail
E2E_NAME=bench_user_guest
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"
# shellcheck source=../tests/e2e/lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_cmd qemu-system-x86_64 iperf3 awk
require_vwire --build
SECONDS_PER_RUN=${SECONDS_PER_RUN:-6}
RUNS=${RUNS:-2}
PORT=$((25000 + $$ % 10000))
guest_build
spawn iperf3 -s -B 127.0.0.1 -p "$PORT"
wait_for_tcp_listen "$PORT" "" 10 || e2e_fail "iperf3 server did not start"

declare -A R
# measure GUEST SERVER_ADDR KEY
measure() {
	local name=$1 addr=$2 key=$3 flag
	for flag in "" -R; do
		R[$key${flag:+_rx}]=$(guest_iperf3_best "$name" "$RUNS" 3 -c "$addr" -p "$PORT" \
			-t "$SECONDS_PER_RUN" ${flag:+"$flag"})
	done
	guest_stop "$name" || true
}

# QEMU's own user mode (MTU 1500: QEMU 7.2 has no option for more).
guest_boot q --dhcp -- -netdev user,id=n0 -device virtio-net-pci,netdev=n0,vectors=0
guest_wait_ready q 180 || e2e_fail "QEMU user guest did not boot"
measure q 10.0.2.2 qemu

# passt, with its default MTU 65520; its gateway address reaches the host's loopback.
if command -v passt >/dev/null; then
	# passt drops to nobody when run as root: its socket lives outside our private dir.
	psock=/tmp/vwire-bench-passt-$$.sock
	on_cleanup "rm -f $psock"
	spawn passt -f -1 -s "$psock"
	wait_for_socket "$psock" 10 || e2e_fail "passt did not start"
	gw=$(ip -4 route show default | awk '{ print $3; exit }')
	guest_boot p --dhcp --mtu 65520 -- \
		-netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$psock" \
		-device virtio-net-pci,netdev=n0,vectors=0
	guest_wait_ready p 180 || e2e_fail "passt guest did not boot"
	measure p "$gw" passt
else
	R[passt]=n/a R[passt_rx]=n/a
fi

# vwire at QEMU's MTU and at its built-in default (MTU 65520), with each engine.
for engine in ${ENGINES:-native slirp}; do
	for mtu in 1500 65520; do
		sock=$E2E_TMP/vw$engine$mtu.sock
		spawn -o "$E2E_TMP/vwire$engine$mtu.log" "$VWIRE" \
			-netdev "user,id=u0,mtu=$mtu,engine=$engine" \
			-device "virtio-net,id=v0,netdev=u0,mtu=$mtu,socket=$sock"
		vw=$SPAWN_PID
		wait_for_socket "$sock" 10 || e2e_fail "vwire did not start"
		guest_boot "v$engine$mtu" --dhcp -- -chardev "socket,id=c0,path=$sock,reconnect=1" \
			-netdev vhost-user,id=n0,chardev=c0 \
			-device "virtio-net-pci,netdev=n0,host_mtu=$mtu,vectors=0"
		guest_wait_ready "v$engine$mtu" 180 || e2e_fail "vwire guest did not boot"
		measure "v$engine$mtu" 10.0.2.2 "$engine$mtu"
		kill_pid "$vw"
	done
done

echo
echo "user-mode TCP, TCG guest (Gbit/s, iperf3 ${SECONDS_PER_RUN}s, best of $RUNS)"
echo
echo "| path | MTU | guest -> host | host -> guest | ÷ QEMU (out / in) | ÷ passt (out / in) |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| QEMU 7.2 -netdev user | 1500 | ${R[qemu]} | ${R[qemu_rx]} | - | - |"
echo "| passt | 65520 | ${R[passt]} | ${R[passt_rx]} | - | - |"
for engine in ${ENGINES:-native slirp}; do
	for mtu in 1500 65520; do
		k=$engine$mtu
		echo "| vwire -netdev user,engine=$engine | $mtu | ${R[$k]} | ${R[${k}_rx]} |" \
			"$(ratio "${R[$k]}" "${R[qemu]}") / $(ratio "${R[${k}_rx]}" "${R[qemu_rx]}") |" \
			"$(ratio "${R[$k]}" "${R[passt]}") / $(ratio "${R[${k}_rx]}" "${R[passt_rx]}") |"
	done
done
