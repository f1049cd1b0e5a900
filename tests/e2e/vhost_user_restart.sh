#!/bin/bash
# vhost_user_restart.sh - vwire's virtio-net device survives what happens to either side:
#  1. vwire is killed under traffic and started again: QEMU reattaches (reconnect=1) and the
#     guest's traffic resumes without a guest reboot;
#  2. QEMU is killed: vwire logs it, keeps running, and a new QEMU on the same socket works;
#  3. the guest resets the device (driver unbound and bound again): traffic resumes.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 ip base64 mkfifo awk
[[ -e /dev/net/tun ]] || e2e_skip "no /dev/net/tun"
require_vwire
guest_build

NS=vwrs-$E2E_SUFFIX
TAP=$(e2e_ifname vwrs)
SOCK=$E2E_TMP/vu.sock
HOST_IP=10.233.0.1
GUEST_IP=10.233.0.2
make_netns "$NS"

VW_PID=
VW_RUN=0
start_vwire() {
	VW_RUN=$((VW_RUN + 1))
	VW_LOG=$E2E_TMP/vwire.$VW_RUN.log
	spawn -o "$VW_LOG" "$VWIRE" -netdev "tap,id=t0,ifname=$TAP,vnet_hdr=on" \
		-device "virtio-net,id=v0,netdev=t0,socket=$SOCK"
	VW_PID=$SPAWN_PID
	wait_for_log_line "$VW_LOG" "started" 10 || { cat "$VW_LOG" >&2; e2e_fail "vwire did not start"; }
	# A new tap each time: move it into the namespace (its fd survives the move).
	move_tap "$TAP" "$NS" "$HOST_IP/24"
}

boot() {
	guest_boot "$1" --ip "$GUEST_IP/24" -- \
		-chardev "socket,id=c0,path=$SOCK,reconnect=1" \
		-netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,vectors=0
	guest_wait_ready "$1" 180 || e2e_fail "guest $1 did not boot"
}

# guest_ping NAME - the guest reaches the host within 30 s.
guest_ping() {
	local i
	for ((i = 0; i < 15; i++)); do
		guest_run "$1" -t 20 "ping -c 1 -W 2 $HOST_IP" >/dev/null 2>&1 && return 0
	done
	return 1
}

start_vwire
boot g1
guest_ping g1 || e2e_fail "no traffic before the restart"
e2e_log "guest reaches the host through vwire"

# 1. Restart vwire under traffic.
guest_run g1 "ping -i 0.2 $HOST_IP >/tmp/ping.log 2>&1 &" >/dev/null
sleep 2
kill -KILL "$VW_PID"
wait "$VW_PID" 2>/dev/null || true
e2e_log "vwire killed under traffic; starting it again"
sleep 1
start_vwire
wait_for_log_line "$VW_LOG" "front end connected" 30 || { cat "$VW_LOG" >&2; e2e_fail "QEMU did not reconnect"; }
guest_ping g1 || { cat "$VW_LOG" >&2; e2e_fail "traffic did not resume after the restart"; }
out=$(guest_run g1 "kill %1 2>/dev/null; killall ping 2>/dev/null; tail -3 /tmp/ping.log")
e2e_log "traffic resumed after restart without a guest reboot (${out//$'\n'/ })"

# 3. Device reset by the guest: unbind and bind the driver.
dev=$(guest_run g1 'basename $(readlink /sys/class/net/eth0/device)')
guest_run g1 "echo $dev > /sys/bus/virtio/drivers/virtio_net/unbind; echo $dev > /sys/bus/virtio/drivers/virtio_net/bind; sleep 1; ip link set eth0 up; ip addr add $GUEST_IP/24 dev eth0" >/dev/null ||
	e2e_fail "could not rebind the driver"
guest_ping g1 || { cat "$VW_LOG" >&2; e2e_fail "traffic did not resume after a device reset"; }
e2e_log "device reset by the guest: traffic resumes"

# 2. Kill QEMU: vwire stays, and the next QEMU on the same socket works.
kill -KILL "$(guest_pid g1)"
wait_for_log_line "$VW_LOG" "front end disconnected" 10 || e2e_fail "vwire did not notice QEMU leaving"
sleep 0.5
pid_alive "$VW_PID" || { cat "$VW_LOG" >&2; e2e_fail "vwire died with QEMU"; }
boot g2
guest_ping g2 || { cat "$VW_LOG" >&2; e2e_fail "the next QEMU got no traffic"; }
e2e_log "a new QEMU on the same socket works"
guest_stop g2 || true
kill_pid "$VW_PID"
! grep -q "broken" "$E2E_TMP"/vwire.*.log || e2e_fail "a queue broke"
echo "3 passed, 0 failed"
