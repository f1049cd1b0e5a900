#!/bin/bash
# e1000_guest.sh - vwire's e1000 (82540EM) model driven by the stock Debian kernel's e1000
# driver in a QEMU 7.2 guest. QEMU forwards the PCI function to vwire (-device
# x-pci-proxy-dev, connected by "vwirectl pci-exec"); under TCG QEMU delivers nothing from the
# proxy's irqfd, so vwire raises INTx through QEMU's qtest socket.
#   1. -netdev user: the driver probes, the link comes up, DHCP gives 10.0.2.15, a page from
#      the host's loopback arrives intact through 10.0.2.2, iperf3 both ways through the NAT
#      (the guest's TSO frames go whole to the native engine, which takes vnet headers), no
#      frame dropped on its way into the device.
#   2. -netdev tap (vnet_hdr=on) into a namespace of ours, the device polling its socket
#      (poll-us): ping and iperf3 both ways, a VLAN
#      (802.1Q tags inserted, stripped and filtered by the device for the driver), set_link
#      off and on seen by the guest as carrier, then a reboot of the guest (QEMU resets
#      the machine and sends DEVICE_RESET) and a second boot whose device works again.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 iperf3 ip ping python3 base64 mkfifo awk sha256sum tshark
[[ -e /dev/net/tun ]] || e2e_skip "no /dev/net/tun"
require_vwire
qemu-system-x86_64 -device help 2>&1 | e2e_grep '"x-pci-proxy-dev"' ||
	e2e_skip "this QEMU has no x-pci-proxy-dev"
"$VWIRE" -device help 2>&1 | e2e_grep -x e1000 || e2e_fail "vwire lists no e1000 device"
VWIRECTL=${VWIRECTL:-$(dirname "$VWIRE")/vwirectl}
[[ -x $VWIRECTL ]] || e2e_fail "no vwirectl next to $VWIRE (copied there by meson)"
QMP=$E2E_DIR/lib/qmp.py
guest_build

# QEMU started by vwirectl, which connects to vwire's PCI socket and hands QEMU the fd.
PCI_SOCK=$E2E_TMP/e1000.sock
QTEST_SOCK=$E2E_TMP/qtest.sock
cat >"$E2E_TMP/qemu-e1000" <<EOF
#!/bin/sh
exec "$VWIRECTL" pci-exec "$PCI_SOCK" qemu-system-x86_64 "\$@"
EOF
chmod +x "$E2E_TMP/qemu-e1000"
# shellcheck disable=SC2034 # read by guest_boot (lib/guest.sh)
GUEST_QEMU=$E2E_TMP/qemu-e1000
# qtest is a test interface: whoever reaches the socket owns the guest. It lives in $E2E_TMP
# (mode 0700). -accel tcg stays explicit (guest_boot): -qtest alone would pick the qtest
# accelerator, which runs no guest code.
QEMU_NIC=(-qtest "unix:$QTEST_SOCK,server=on,wait=off" -qtest-log /dev/null
	-device "x-pci-proxy-dev,id=p0,fd={fd}")
chmod 700 "$E2E_TMP"

VW_LOG=
VW_PID=
fail() {
	[[ -z $VW_LOG ]] || { echo "--- vwire log"; tail -n 30 "$VW_LOG"; } >&2
	e2e_fail "$@"
}

# start_vwire NAME NETDEV [OPTS] - vwire with an e1000 (id e0, more device options OPTS) on
# NETDEV (id n0), QMP on NAME.qmp.
start_vwire() {
	VW_LOG=$E2E_TMP/vwire-$1.log
	spawn -o "$VW_LOG" "$VWIRE" -qmp "unix:$E2E_TMP/$1.qmp,server=on,wait=off" \
		-netdev "$2" -device "e1000,id=e0,netdev=n0,mac=52:54:00:e1:00:01,socket=$PCI_SOCK,qtest=$QTEST_SOCK${3:+,$3}"
	VW_PID=$SPAWN_PID
	wait_for_socket "$PCI_SOCK" 10 || fail "vwire did not listen on $PCI_SOCK"
}

# check_driver NAME - eth0 is driven by e1000, with our MAC, and its carrier is up.
check_driver() {
	local out
	out=$(guest_run "$1" 'basename $(readlink /sys/class/net/eth0/device/driver); cat /sys/class/net/eth0/address')
	[[ $out == "e1000"$'\n'"52:54:00:e1:00:01" ]] || fail "eth0: driver and MAC are '$out'"
	wait_until 20 carrier_is "$1" 1 || fail "the guest's link did not come up"
}

# check_quiet - a healthy guest makes vwire warn of nothing (a broken ring, a dropped frame).
check_quiet() {
	! grep -aE "vwire (warning|error)" "$VW_LOG" >&2 || fail "vwire warned of the device or its guest"
}

carrier_is() {
	[[ $(guest_run "$1" 'cat /sys/class/net/eth0/carrier 2>&1') == "$2" ]]
}

# vwire's own count of what the device moved (query-netdevs), for the log.
e0_counts() {
	python3 "$QMP" "$E2E_TMP/$1.qmp" query-netdevs | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d.get("name") == "e0" or d.get("id") == "e0":
        print("rx %s tx %s" % (d.get("rx-packets"), d.get("tx-packets")))'
}

# What the core dropped on its way into the device (query-netdevs rx-dropped).
e0_dropped() {
	python3 "$QMP" "$E2E_TMP/$1.qmp" query-netdevs | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d.get("name") == "e0" or d.get("id") == "e0":
        print(d.get("rx-dropped"))'
}

# --- 1. user-mode networking: DHCP, a page, iperf3 through the NAT --------------------------
mkdir -p "$E2E_TMP/www"
head -c 300000 /dev/urandom | base64 -w0 >"$E2E_TMP/www/page.txt"
PORT=$(free_port)
spawn python3 -m http.server --bind 127.0.0.1 --directory "$E2E_TMP/www" "$PORT"
spawn iperf3 -s -B 127.0.0.1 -p $((PORT + 1))
wait_for_tcp_listen "$PORT" "" 10 || fail "http server did not start"

start_vwire user "user,id=n0"
guest_boot u --dhcp -- "${QEMU_NIC[@]}"
guest_wait_ready u 180 || fail "guest did not boot"
e2e_log "[user] guest booted in ${GUEST_BOOT_SECONDS}s"
check_driver u
out=$(guest_run u 'ip -4 -o addr show dev eth0')
grep -q 'inet 10\.0\.2\.15/24' <<<"$out" || fail "no DHCP lease 10.0.2.15: $out"
e2e_log "[user] e1000 probed, link up, DHCP lease 10.0.2.15"
guest_fetch_check u "http://10.0.2.2:$PORT/page.txt" "$E2E_TMP/www/page.txt"
e2e_log "[user] page from the host's loopback fetched intact"
out=$(guest_run u -t 90 "iperf3 -c 10.0.2.2 -p $((PORT + 1)) -t 3 -f m") ||
	fail "iperf3 guest -> host through user mode failed: $out"
e2e_log "[user] guest -> host: $(iperf3_mbits <<<"$out") Mbit/s"
out=$(guest_run u -t 90 "iperf3 -c 10.0.2.2 -p $((PORT + 1)) -t 3 -f m -R") ||
	fail "iperf3 host -> guest through user mode failed: $out"
e2e_log "[user] host -> guest: $(iperf3_mbits <<<"$out") Mbit/s ($(e0_counts user))"
# The engine frames TCP data a segment at a time for a device without vnet headers, so a full
# ring holds frames back: none may be lost on the way in (a GSO frame cut by the core was).
dropped=$(e0_dropped user)
[[ $dropped == 0 ]] || fail "the core dropped $dropped frames on their way into the e1000"
guest_stop u || fail "the guest did not power off"
check_quiet
stop_vwire_clean "$VW_PID" "$VW_LOG" || fail "vwire did not exit cleanly"

# --- 2. a tap into a namespace: ping, iperf3, set_link, reset --------------------------------
NS=vwe1-$E2E_SUFFIX
TAP=$(e2e_ifname vwe1)
HOST_IP=10.233.0.1
GUEST_IP=10.233.0.2
make_netns "$NS"
# The device polls the proxy socket before its loop sleeps (poll-us): the vCPU's accesses are
# answered from the poll handler, through set_link and the guest's reboot as well.
start_vwire tap "tap,id=n0,ifname=$TAP,vnet_hdr=on" poll-us=1000
move_tap "$TAP" "$NS" "$HOST_IP/24"
spawn -n "$NS" iperf3 -s
guest_boot t --ip "$GUEST_IP/24" -- "${QEMU_NIC[@]}" -action reboot=reset
guest_wait_ready t 180 || fail "guest did not boot"
check_driver t
out=$(guest_run t -t 60 "ping -c 3 -W 2 $HOST_IP") || fail "guest -> host ping failed: $out"
ip netns exec "$NS" ping -c 3 -W 2 "$GUEST_IP" >/dev/null || fail "host -> guest ping failed"
e2e_log "[tap] ping both ways"
out=$(guest_run t -t 90 "iperf3 -c $HOST_IP -t 3 -f m") || fail "iperf3 guest -> host failed: $out"
e2e_log "[tap] guest -> host: $(iperf3_mbits <<<"$out") Mbit/s"
out=$(guest_run t -t 90 "iperf3 -c $HOST_IP -t 3 -f m -R") || fail "iperf3 host -> guest failed: $out"
e2e_log "[tap] host -> guest: $(iperf3_mbits <<<"$out") Mbit/s ($(e0_counts tap))"

# 802.1Q: the guest's driver hands tags to the device (VLE with CTRL.VME) and has it strip them
# on receive (VP) and filter by VLAN id (VFTA). This kernel has no 8021q module, so the host
# side sends a tagged ARP request for the guest's VLAN address itself (a raw packet socket) and
# tshark must read the guest's answer with the same tag on the tap.
guest_run t "ip link add link eth0 name eth0.5 type vlan id 5 && ip addr add 10.233.5.2/24 dev \
eth0.5 && ip link set eth0.5 up" >/dev/null || fail "the guest could not make a VLAN interface"
# (Frames from the guest's MAC only: the capture also sees the requests sent out of the tap.)
spawn -n "$NS" -o "$E2E_TMP/tshark-vlan.txt" tshark -l -n -i "$TAP" -a duration:20 -c 1 \
	-f "vlan 5 and ether src 52:54:00:e1:00:01 and arp" -T fields -e vlan.id -e arp.opcode \
	-e arp.src.proto_ipv4 -e arp.dst.proto_ipv4
TSHARK_PID=$SPAWN_PID
wait_until 15 grep -q "Capturing on" "$E2E_TMP/tshark-vlan.txt" || fail "tshark did not start"
send_tagged_arp() { # VLAN_ID: who-has 10.233.5.2 tell 10.233.5.1, tagged, out of the tap
	ip netns exec "$NS" python3 - "$TAP" "$1" <<'PY'
import socket, struct, sys
tap, vid = sys.argv[1], int(sys.argv[2])
mine = bytes.fromhex("020000000501")
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mine, socket.inet_aton("10.233.5.1"),
                  bytes(6), socket.inet_aton("10.233.5.2"))
frame = b"\xff" * 6 + mine + struct.pack("!HHH", 0x8100, vid, 0x0806) + arp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((tap, 0))
s.send(frame)
PY
}
tagged_answer() {
	send_tagged_arp 5
	grep -q "^5[[:space:]]2[[:space:]]10\.233\.5\.2[[:space:]]10\.233\.5\.1" \
		"$E2E_TMP/tshark-vlan.txt"
}
wait_until 15 tagged_answer || fail "no ARP answer tagged VLAN 5 from the guest: \
$(cat "$E2E_TMP/tshark-vlan.txt")"
wait_until 10 pid_gone "$TSHARK_PID" || fail "tshark did not stop"
kill_pid "$TSHARK_PID"
guest_run t "ip link del eth0.5" >/dev/null || fail "the guest could not remove its VLAN"
e2e_log "[tap] 802.1Q: a tagged request reached the guest's VLAN 5, its answer left tagged"

python3 "$QMP" "$E2E_TMP/tap.qmp" set_link '{"name": "e0", "up": false}' >/dev/null
wait_until 20 carrier_is t 0 || fail "set_link off: the guest still has carrier"
! ip netns exec "$NS" ping -c 2 -W 1 "$GUEST_IP" >/dev/null 2>&1 ||
	fail "set_link off: the guest still answers"
python3 "$QMP" "$E2E_TMP/tap.qmp" set_link '{"name": "e0", "up": true}' >/dev/null
wait_until 20 carrier_is t 1 || fail "set_link on: the guest has no carrier"
ip netns exec "$NS" ping -c 3 -W 2 "$GUEST_IP" >/dev/null || fail "set_link on: no ping"
e2e_log "[tap] set_link off/on: the guest saw its carrier go and come back"

# The guest reboots: QEMU resets the machine, the proxy with it (DEVICE_RESET), and the kernel
# boots again (guest_boot's -no-reboot is overridden for this guest by -action reboot=reset).
guest_run t '(sleep 1; reboot -f) >/dev/null 2>&1 &' >/dev/null
ready_twice() { (($(grep -ac '^VWIRE-GUEST-READY' "$(guest_log t)") >= 2)); }
wait_until 180 ready_twice || { guest_dump t; fail "the guest did not boot again after the reset"; }
check_driver t
out=$(guest_run t -t 60 "ping -c 3 -W 2 $HOST_IP") || fail "after reset: ping failed: $out"
grep -q "pci-proxy e0: the hypervisor reset the device" "$VW_LOG" ||
	fail "the reboot did not reset the device (no DEVICE_RESET)"
e2e_log "[tap] guest reboot: the device was reset and works in the second boot"
guest_stop t || fail "the guest did not power off"
check_quiet
stop_vwire_clean "$VW_PID" "$VW_LOG" || fail "vwire did not exit cleanly"
[[ ! -e $PCI_SOCK ]] || fail "the PCI socket was left behind"
echo "1 passed, 0 failed"
