#!/bin/bash
# guest_selftest.sh - proves the e2e test guest works on its own, without vwire.
# Guest 1: QEMU (inside a netns of ours) opens a tap there with its own tap back end and a
# virtio-net-pci NIC; the guest pings the tap's address (boot command), answers commands on
# its ttyS1 channel, and runs iperf3 -c for 3 s against iperf3 -s in the netns.  Guest 2: QEMU
# user networking (restrict=on, nothing leaves QEMU) and udhcpc, then powers itself off.
# Prints the boot time and the iperf3 throughput.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 iperf3 ip ss base64 mkfifo awk
guest_build

NS=vwgst-$E2E_SUFFIX
TAP=$(e2e_ifname vwgt)
HOST_IP=10.231.0.1
GUEST_IP=10.231.0.2
# Under TCG a few hundred Mbit/s is normal; below this the NIC path is broken, not slow.
MIN_MBITS=10

make_netns "$NS"
make_tap "$TAP" "$NS"
ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP"
spawn -n "$NS" iperf3 -s -B "$HOST_IP"
wait_for_tcp_listen 5201 "$NS"

e2e_log "booting guest with tap $TAP in $NS"
guest_boot g1 --netns "$NS" --ip "$GUEST_IP/24" --cmd "ping -c 3 -W 2 $HOST_IP" -- \
	-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
	-device virtio-net-pci,netdev=n0
guest_wait_ready g1 120 || e2e_fail "guest did not boot"
BOOT1=$GUEST_BOOT_SECONDS
e2e_log "boot to VWIRE-GUEST-READY: ${BOOT1}s"

out=$(guest_wait_result g1 60) || e2e_fail "boot command (ping $HOST_IP) failed: $out"
grep -q ' 3 received' <<<"$out" || e2e_fail "ping output unexpected: $out"
e2e_log "guest -> host ping: $(grep -o '[0-9]* received.*' <<<"$out")"

# The command channel must carry output and exit status both ways.
rc=0
out=$(guest_run g1 'echo hello; echo oops >&2; exit 3') || rc=$?
[[ $rc == 3 && $out == $'hello\noops' ]] ||
	e2e_fail "guest_run: expected rc 3 and hello/oops, got rc $rc: $out"
out=$(guest_run g1 printf no-newline) || e2e_fail "guest_run printf failed"
[[ $out == no-newline ]] || e2e_fail "guest_run lost output without final newline: '$out'"
# shellcheck disable=SC2016 # expanded by the guest's shell
driver=$(guest_run g1 'basename $(readlink /sys/class/net/eth0/device/driver)')
[[ $driver == virtio_net ]] || e2e_fail "eth0 driver is '$driver', not virtio_net"

ip netns exec "$NS" ping -c 2 -W 2 "$GUEST_IP" >/dev/null || e2e_fail "host -> guest ping failed"
e2e_log "host -> guest ping: ok"

out=$(guest_run g1 -t 90 "iperf3 -c $HOST_IP -t 3 -f m") || e2e_fail "iperf3 in guest failed: $out"
mbits=$(iperf3_mbits <<<"$out")
[[ -n $mbits ]] || e2e_fail "no receiver line in iperf3 output: $out"
awk -v m="$mbits" -v min="$MIN_MBITS" 'BEGIN { exit !(m >= min) }' ||
	e2e_fail "iperf3 throughput $mbits Mbit/s is below $MIN_MBITS Mbit/s"
GBITS=$(awk -v m="$mbits" 'BEGIN { printf "%.3f", m / 1000 }')
e2e_log "iperf3 guest -> host (TCG, tap, 3 s): $GBITS Gbit/s"

guest_stop g1 || e2e_fail "guest did not power off cleanly"
e2e_log "guest powered off"

# DHCP through QEMU's user networking; the guest powers itself off after its command.
e2e_log "booting guest with -netdev user and udhcpc"
guest_boot g2 --dhcp --poweroff --no-ctl --cmd 'ip -4 -o addr show dev eth0' -- \
	-netdev user,id=n0,restrict=on,net=10.0.2.0/24 -device virtio-net-pci,netdev=n0
guest_wait_ready g2 120 || e2e_fail "guest 2 did not boot"
out=$(guest_wait_result g2 30) || e2e_fail "guest 2 command failed: $out"
grep -q 'inet 10\.0\.2\.15/24' <<<"$out" || e2e_fail "no DHCP lease 10.0.2.15/24: $out"
# (restrict=on makes slirp's DHCP offer no router, so there is no default route to check.)
grep -q 'VWIRE-ERROR' "$(guest_log g2)" && e2e_fail "guest 2 reported errors: $(grep VWIRE-ERROR "$(guest_log g2)")"
guest_wait_exit g2 30 || e2e_fail "guest 2 did not power itself off"
e2e_log "DHCP on user networking: ok (${GUEST_BOOT_SECONDS}s to ready)"

echo "guest_selftest: boot ${BOOT1}s, iperf3 ${GBITS} Gbit/s"
echo "PASS: $E2E_NAME"
