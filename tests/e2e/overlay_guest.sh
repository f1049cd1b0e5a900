#!/usr/bin/env bash
# overlay_guest.sh - a QEMU guest on another host's L2 segment through vwire's vxlan netdev,
# as the README's two-host example has it: the guest's virtio-net device (vhost-user) is peered
# straight with -netdev vxlan, and the far host is Linux's own vxlan device. Namespaces play
# the hosts: h1 (vwire) and h2 (Linux) joined by a veth underlay. Promises checked:
#   - ping both ways between the guest and the Linux host over VXLAN;
#   - iperf3 TCP both ways: the guest's GSO frames are cut before wrapping, and what Linux
#     sends is joined into GSO frames again for the guest (which takes them);
#   - vwire learns the Linux device's MAC behind h2, Linux learns the guest's behind h1.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd ip bridge ethtool ping iperf3 python3 qemu-system-x86_64
require_vwire
guest_build

h1=vwog1$E2E_SUFFIX h2=vwog2$E2E_SUFFIX
guest_mac=52:54:00:89:00:01 linux_mac=02:89:00:00:00:02
make_netns "$h1"
make_netns "$h2"
ip -n "$h1" link add eth0 type veth peer name eth0 netns "$h2"
for n in 1 2; do
	eval "ns=\$h$n"
	# shellcheck disable=SC2154 # set by eval
	ip -n "$ns" addr add "10.89.0.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	# A veth never finishes an offloaded inner checksum (see overlay.sh).
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
done
ip -n "$h2" link add vx0 type vxlan id 5 local 10.89.0.2 remote 10.89.0.1 dstport 4789
ip -n "$h2" link set vx0 address "$linux_mac" mtu 1450 up
ip -n "$h2" addr add 192.168.89.2/24 dev vx0

sock=$E2E_TMP/vx.sock qmp=$E2E_TMP/vwire.qmp log=$E2E_TMP/vwire.log
spawn -n "$h1" -o "$log.out" "$VWIRE" -D "$log" -qmp "unix:$qmp,server=on,wait=off" \
	-netdev vxlan,id=x,vni=5,local=10.89.0.1,remote=10.89.0.2 \
	-device "virtio-net,id=v0,netdev=x,socket=$sock,mtu=1450,mac=$guest_mac"
VW=$SPAWN_PID
wait_for_socket "$sock" 10 || { cat "$log"* >&2; e2e_fail "vwire did not listen"; }

# vectors=0: QEMU 7.2 under TCG crashes with MSI-X vectors on a vhost-user NIC.
guest_boot g --ip 192.168.89.1/24 --mtu 1450 -- -chardev "socket,id=c0,path=$sock,reconnect=1" \
	-netdev vhost-user,id=n0,chardev=c0 \
	-device "virtio-net-pci,netdev=n0,mac=$guest_mac,host_mtu=1450,vectors=0"
guest_wait_ready g 180 || e2e_fail "guest did not boot"
out=$(guest_run g -t 60 "ping -c 3 -W 2 192.168.89.2") || e2e_fail "guest -> Linux ping: $out"
ip netns exec "$h2" ping -c 3 -W 2 192.168.89.1 >/dev/null || e2e_fail "Linux -> guest ping failed"
e2e_log "ping both ways between the guest and Linux's vxlan"

spawn -n "$h2" iperf3 -s
wait_for_tcp_listen 5201 "$h2" || e2e_fail "iperf3 server did not start"
out=$(guest_run g -t 90 "iperf3 -c 192.168.89.2 -t 3 -f m") || e2e_fail "iperf3 guest -> Linux: $out"
e2e_log "guest -> Linux: $(iperf3_mbits <<<"$out") Mbit/s"
out=$(guest_run g -t 90 "iperf3 -c 192.168.89.2 -t 3 -f m -R") || e2e_fail "iperf3 Linux -> guest: $out"
e2e_log "Linux -> guest: $(iperf3_mbits <<<"$out") Mbit/s"

python3 "$E2E_DIR/lib/qmp.py" "$qmp" query-vxlan-fdb '{"netdev": "x"}' |
	grep -q "\"mac\": \"$linux_mac\", \"remote\": \"10.89.0.2\"" ||
	e2e_fail "vwire did not learn Linux's MAC behind 10.89.0.2"
bridge -n "$h2" fdb show dev vx0 | e2e_grep "^$guest_mac dst 10.89.0.1 " ||
	e2e_fail "Linux did not learn the guest's MAC: $(bridge -n "$h2" fdb show dev vx0)"
e2e_log "both tables learnt the other side"
guest_stop g || true
stop_vwire_clean "$VW" "$log.out"
e2e_log "passed"
