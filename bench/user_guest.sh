#!/bin/bash
# user_guest.sh - TCP between a QEMU guest and a server on the host's loopback through user-mode
# networking: vwire's -netdev user (engine=native and engine=slirp, behind its vhost-user
# virtio-net device; ENGINES="native" for one) against QEMU's own -netdev user and against
# passt (attached with QEMU's -netdev stream), at MTU 1500 and 65520, same guest image, same
# run. iperf3 guest -> host and host -> guest (-R), $SECONDS_PER_RUN s, best of $RUNS, and the
# forwarder's CPU seconds for 1 GiB more each way. The guests run under TCG (this machine's
# /dev/kvm cannot run a stock kernel).
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

declare -A R C
# measure GUEST SERVER_ADDR KEY [FORWARDER_PID]: the best rate of each direction in R; with a
# forwarder (not QEMU's own user mode, whose process is the TCG guest too), the CPU seconds it
# spends on one more transfer of 1 GiB each way in C.
measure() {
	local name=$1 addr=$2 key=$3 pid=${4:-} flag k t0 t1
	for flag in "" -R; do
		k=$key${flag:+_rx}
		R[$k]=$(guest_iperf3_best "$name" "$RUNS" 3 -c "$addr" -p "$PORT" \
			-t "$SECONDS_PER_RUN" ${flag:+"$flag"})
		C[$k]=n/a
		[[ -n $pid ]] || continue
		t0=$(cpu_ticks "$pid")
		guest_run "$name" -t 120 "iperf3 -c $addr -p $PORT -n 1G $flag -f m" >/dev/null ||
			continue
		t1=$(cpu_ticks "$pid")
		C[$k]=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
	done
	guest_stop "$name" || true
}

# QEMU's own user mode (MTU 1500: QEMU 7.2 has no option for more).
guest_boot q --dhcp -- -netdev user,id=n0 -device virtio-net-pci,netdev=n0,vectors=0
guest_wait_ready q 180 || e2e_fail "QEMU user guest did not boot"
measure q 10.0.2.2 qemu

# passt at both MTUs (its default is 65520); its gateway address reaches the host's loopback.
for mtu in 1500 65520; do
	if ! command -v passt >/dev/null; then
		R[passt$mtu]=n/a R[passt${mtu}_rx]=n/a C[passt$mtu]=n/a C[passt${mtu}_rx]=n/a
		continue
	fi
	# passt drops to nobody when run as root: its socket lives outside our private dir.
	psock=/tmp/vwire-bench-passt-$$-$mtu.sock
	on_cleanup "rm -f $psock"
	spawn passt -f -1 -s "$psock" -m "$mtu"
	ppid=$SPAWN_PID
	wait_for_socket "$psock" 10 || e2e_fail "passt did not start"
	gw=$(ip -4 route show default | awk '{ print $3; exit }')
	guest_boot "p$mtu" --dhcp --mtu "$mtu" -- \
		-netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$psock" \
		-device virtio-net-pci,netdev=n0,vectors=0
	guest_wait_ready "p$mtu" 180 || e2e_fail "passt guest did not boot"
	measure "p$mtu" "$gw" "passt$mtu" "$ppid"
done

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
		measure "v$engine$mtu" 10.0.2.2 "$engine$mtu" "$vw"
		kill_pid "$vw"
	done
done

echo
echo "user-mode TCP, TCG guest (Gbit/s, iperf3 ${SECONDS_PER_RUN}s, best of $RUNS; CPU: the"
echo "forwarder's seconds for 1 GiB more each way)"
echo
echo "| path | MTU | guest -> host | CPU s/GiB | host -> guest | CPU s/GiB | ÷ QEMU (out / in) | ÷ passt same MTU (out / in) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| QEMU 7.2 -netdev user | 1500 | ${R[qemu]} | n/a | ${R[qemu_rx]} | n/a | - | - |"
for mtu in 1500 65520; do
	echo "| passt | $mtu | ${R[passt$mtu]} | ${C[passt$mtu]} | ${R[passt${mtu}_rx]} |" \
		"${C[passt${mtu}_rx]} | $(ratio "${R[passt$mtu]}" "${R[qemu]}") /" \
		"$(ratio "${R[passt${mtu}_rx]}" "${R[qemu_rx]}") | - |"
done
for engine in ${ENGINES:-native slirp}; do
	for mtu in 1500 65520; do
		k=$engine$mtu p=passt$mtu
		echo "| vwire -netdev user,engine=$engine | $mtu | ${R[$k]} | ${C[$k]} |" \
			"${R[${k}_rx]} | ${C[${k}_rx]} |" \
			"$(ratio "${R[$k]}" "${R[qemu]}") / $(ratio "${R[${k}_rx]}" "${R[qemu_rx]}") |" \
			"$(ratio "${R[$k]}" "${R[$p]}") / $(ratio "${R[${k}_rx]}" "${R[${p}_rx]}") |"
	done
done
