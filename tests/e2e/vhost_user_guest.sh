#!/bin/bash
# vhost_user_guest.sh - a QEMU guest whose virtio_net driver talks to vwire's virtio-net device
# over vhost-user, with a tap back end whose far side is in a network namespace of ours:
# ping and iperf3 both ways, then the variants the device promises: packed ring,
# mrg_rxbuf=off, two queue pairs used by the guest (multiqueue tap), and the device with its
# tap on an iothread.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 iperf3 ip ss base64 mkfifo awk
[[ -e /dev/net/tun ]] || e2e_skip "no /dev/net/tun"
require_vwire --fast
guest_build

NS=vwvu-$E2E_SUFFIX
HOST_IP=10.232.0.1
make_netns "$NS"
spawn -n "$NS" iperf3 -s
IPERF_PID=$SPAWN_PID

# run_variant NAME DEVICE_OPTS QEMU_DEV_OPTS QUEUES - one vwire, one guest, traffic both ways.
run_variant() {
	local name=$1 devopts=$2 qdevopts=$3 queues=$4
	local tap sock log guest_ip=10.232.0.2 out mbits
	fail() { tail -30 "$log" >&2; e2e_fail "$@"; }
	tap=$(e2e_ifname "vw${name:0:3}")
	sock=$E2E_TMP/$name.sock
	log=$E2E_TMP/vwire-$name.log
	e2e_log "[$name] vwire: tap $tap, virtio-net $devopts"
	# io1 is used by the iothread variant only.
	spawn -o "$log" "$VWIRE" -qmp "unix:$E2E_TMP/$name.qmp,server=on,wait=off" \
		-object iothread,id=io1 -netdev "tap,id=t0,ifname=$tap,vnet_hdr=on,queues=$queues" \
		-device "virtio-net,id=v0,netdev=t0,socket=$sock,queues=$queues$devopts"
	local vw=$SPAWN_PID
	wait_for_socket "$sock" 10 || fail "[$name] vwire did not listen"
	move_tap "$tap" "$NS"
	ip -n "$NS" addr add "$HOST_IP/24" dev "$tap" 2>/dev/null || true

	# vectors=0: QEMU 7.2 under TCG crashes in vhost_net_start when MSI-X vectors are
	# unmasked for a vhost-user NIC (its config-interrupt path calls a vhost-user op that is
	# NULL); with INTx it does not get there.
	local qemu_nic=(-chardev "socket,id=c0,path=$sock,reconnect=1"
		-netdev "vhost-user,id=n0,chardev=c0,queues=$queues"
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,vectors=0$qdevopts")
	local smp=1
	((queues > 1)) && smp=2
	guest_boot "$name" --smp "$smp" --ip "$guest_ip/24" -- "${qemu_nic[@]}"
	guest_wait_ready "$name" 180 || fail "[$name] guest did not boot"
	out=$(guest_run "$name" 'basename $(readlink /sys/class/net/eth0/device/driver)')
	[[ $out == virtio_net ]] || fail "[$name] eth0 driver is '$out'"
	if ((queues > 1)); then
		guest_run "$name" "ethtool -L eth0 combined $queues 2>/dev/null || true" >/dev/null
	fi
	out=$(guest_run "$name" -t 60 "ping -c 3 -W 2 $HOST_IP") ||
		fail "[$name] guest -> host ping failed: $out"
	ip netns exec "$NS" ping -c 3 -W 2 "$guest_ip" >/dev/null ||
		fail "[$name] host -> guest ping failed"
	out=$(guest_run "$name" -t 90 "iperf3 -c $HOST_IP -t 3 -f m") ||
		fail "[$name] iperf3 guest -> host failed: $out"
	mbits=$(iperf3_mbits <<<"$out")
	e2e_log "[$name] guest -> host: $mbits Mbit/s"
	out=$(guest_run "$name" -t 90 "iperf3 -c $HOST_IP -t 3 -f m -R") ||
		fail "[$name] iperf3 host -> guest failed: $out"
	mbits=$(iperf3_mbits <<<"$out")
	e2e_log "[$name] host -> guest: $mbits Mbit/s"
	if ((queues > 1)); then
		# Every queue pair of the device must have carried packets both ways: vwire's
		# per-queue counters say so (the guest spreads flows over its queues by hash).
		guest_run "$name" -t 90 "iperf3 -c $HOST_IP -t 2 -P 8 -f m" >/dev/null ||
			fail "[$name] parallel iperf3 failed"
		out=$(python3 "$E2E_DIR/lib/qmp.py" "$E2E_TMP/$name.qmp" query-netdevs)
		python3 - "$queues" "$out" <<'PY' || fail "[$name] a queue pair carried nothing: $out"
import json, sys
want, devs = int(sys.argv[1]), json.loads(sys.argv[2])
qs = [d for d in devs if d.get("id") == "v0" or d.get("name") == "v0"]
def c(d, k):
    return d.get(k, d.get("counters", {}).get(k, 0))
busy = [d for d in qs if c(d, "rx-packets") > 0 and c(d, "tx-packets") > 0]
print("queues of v0:", [(d.get("queue-index", d.get("queue")), c(d, "rx-packets"), c(d, "tx-packets")) for d in qs])
sys.exit(0 if len(qs) == want and len(busy) == want else 1)
PY
	fi
	guest_stop "$name" || true
	kill_pid "$vw"
	grep -q "broken" "$log" && fail "[$name] a queue broke"
	e2e_log "[$name] ok"
}

VARIANTS=${VARIANTS:-split packed nomrg mq iothread}
for v in $VARIANTS; do
	case $v in
	split) run_variant split "" "" 1 ;;
	packed) run_variant packed "" ",packed=on" 1 ;;
	nomrg) run_variant nomrg ",mrg_rxbuf=off" ",mrg_rxbuf=off" 1 ;;
	mq) run_variant mq "" ",mq=on" 2 ;;
	# The device and its two-queue tap on an iothread (the daemon makes the tap there).
	iothread) run_variant iothread ",iothread=io1" ",mq=on" 2 ;;
	*) e2e_fail "unknown variant $v" ;;
	esac
done
kill_pid "$IPERF_PID"
