#!/bin/bash
# dpdk_testpmd.sh - DPDK's testpmd as an independent vhost-user front end: its virtio-user PMD
# drives two vwire virtio-net devices whose back ends are two ports of one hub, and io
# forwarding sends what port 0 receives out of port 1 and back (tx_first starts 2 x 32
# packets circling testpmd -> vwire -> testpmd). Checks, for split and packed rings, kick,
# poll and adaptive poll (poll-us=50) mode, mrg_rxbuf on and off, 4000-byte frames over several
# rx buffers, vwire as the socket's client, VIRTIO_F_IN_ORDER taken, not taken and not offered,
# and more packets in flight than rx buffers (backpressure through the hub):
# packets still flow at the end, frames keep their length, no errors, no queue broken.
# Needs root, 2 MB hugepages (reserved here and given back) and dpdk-testpmd (dpdk-dev).
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# shellcheck source=lib/dpdk.sh
. "$E2E_DIR/lib/dpdk.sh"

require_root
require_cmd dpdk-testpmd awk mount umount
VWIRE=${VWIRE:-$E2E_DIR/../../build/vwire}
[[ -x $VWIRE ]] || e2e_fail "no vwire binary at $VWIRE"
SECS=${SECS:-4}
# testpmd's memory (-m, MB) and the 2 MB pages it needs, with room for the EAL's own.
TP_MEM=1024
PREFIX=vwire$E2E_SUFFIX
# Packets tx_first puts in flight per port: testpmd's burst (default 32).
BURST_DEFAULT=32
hugepages_setup "$TP_MEM" "$PREFIX"

# run_variant NAME FRAME VWIRE_DEV_OPTS VIRTIO_USER_ARGS [TESTPMD_ARG]... - vwire with two
# hub-joined devices, testpmd on both; FRAME is the length every received frame must have.
run_variant() {
	local name=$1 frame=$2 devopts=$3 vuargs=$4
	shift 4
	local s0=$E2E_TMP/$name-0.sock s1=$E2E_TMP/$name-1.sock
	local vlog=$E2E_TMP/vwire-$name.log tlog=$E2E_TMP/testpmd-$name.log
	local vw tp client=0 i line total_rx=0 total_tx=0
	local port rx tx rxd txd err blocks bytes last prev pps burst=$BURST_DEFAULT arg
	for arg in "$@"; do
		[[ $arg == --burst=* ]] && burst=${arg#--burst=}
	done
	fail() {
		tail -40 "$tlog" >&2
		tail -20 "$vlog" >&2
		e2e_fail "[$name] $*"
	}
	[[ $devopts == *server=off* ]] && client=1
	local vwire_cmd=("$VWIRE" -netdev hubport,id=h0,hubid=0 -netdev hubport,id=h1,hubid=0
		-device "virtio-net,id=v0,netdev=h0,socket=$s0$devopts"
		-device "virtio-net,id=v1,netdev=h1,socket=$s1$devopts" -D "$vlog")
	local tp_cmd=(dpdk-testpmd -l 0-1 --no-pci --single-file-segments -m "$TP_MEM"
		--huge-dir "$HUGE_DIR" --file-prefix="$PREFIX"
		--vdev "net_virtio_user0,path=$s0,queues=1$vuargs"
		--vdev "net_virtio_user1,path=$s1,queues=1$vuargs"
		-- --forward-mode=io --auto-start --tx-first --stats-period 1 "$@")

	e2e_log "[$name] vwire virtio-net$devopts; virtio_user$vuargs $*"
	if ((client)); then
		# testpmd listens (server=1) and waits for vwire, one socket after the other.
		spawn -o "$tlog" "${tp_cmd[@]}"
		tp=$SPAWN_PID
		wait_for_socket "$s0" 30 || fail "testpmd did not listen on $s0"
		spawn -o "$E2E_TMP/vwire-$name.out" "${vwire_cmd[@]}"
		vw=$SPAWN_PID
	else
		spawn -o "$E2E_TMP/vwire-$name.out" "${vwire_cmd[@]}"
		vw=$SPAWN_PID
		wait_for_socket "$s0" 10 && wait_for_socket "$s1" 10 || fail "vwire did not listen"
		spawn -o "$tlog" "${tp_cmd[@]}"
		tp=$SPAWN_PID
	fi
	wait_for_log_line "$tlog" "NIC statistics for port 1" 60 || fail "testpmd did not start forwarding"
	sleep "$SECS"
	pid_alive "$vw" || fail "vwire died"
	# SIGINT: testpmd stops forwarding and prints its forward statistics.
	kill -INT "$tp"
	for ((i = 0; i < 100; i++)); do
		pid_alive "$tp" || break
		sleep 0.1
	done
	pid_alive "$tp" && fail "testpmd did not exit on SIGINT"
	kill_pid "$tp"
	grep -q "Forward statistics for port 1" "$tlog" || fail "testpmd printed no forward statistics"

	while read -r port rx tx rxd txd err blocks bytes last prev pps; do
		e2e_log "[$name] port $port: rx $rx tx $tx, last second $pps pkt/s"
		((blocks >= 2)) || fail "port $port: only $blocks statistics periods"
		((rx >= 10000)) || fail "port $port: received only $rx packets"
		((last > prev && pps > 0)) || fail "port $port: packets stopped flowing ($prev -> $last)"
		((err == 0 && rxd == 0 && txd == 0)) ||
			fail "port $port: $err errors, $rxd rx / $txd tx dropped"
		# Counters read while forwarding runs on another core may be a packet apart.
		(((bytes + last / 2) / last == frame)) ||
			fail "port $port: $bytes bytes in $last packets, not $frame-byte frames"
		total_rx=$((total_rx + rx))
		total_tx=$((total_tx + tx))
	done < <(testpmd_stats "$tlog")
	# Only the tx_first packets circle; after thousands of rounds none may have been lost
	# beyond those still inside vwire when forwarding stopped.
	((total_tx - total_rx >= 0 && total_tx - total_rx <= 2 * burst)) ||
		fail "sent $total_tx, received $total_rx"
	pid_alive "$vw" || fail "vwire died"
	kill_pid "$vw"
	if grep -E "broken|rx buffers too small" "$vlog" >&2; then
		fail "vwire logged a broken queue or a dropped frame"
	fi
	((client)) || grep -q "v1: front end connected" "$vlog" || fail "no front end on v1"
	# VIRTIO_F_IN_ORDER (bit 35): offered unless in_order=off, taken unless in_order=0.
	local feat want_in_order=1
	[[ $devopts == *in_order=off* || $vuargs == *in_order=0* ]] && want_in_order=0
	feat=$(sed -n 's/.*v0: the driver accepted features \(0x[0-9a-f]*\).*/\1/p' "$vlog" | tail -1)
	[[ -n $feat ]] || fail "vwire logged no accepted features"
	(((feat >> 35 & 1) == want_in_order)) ||
		fail "features $feat: VIRTIO_F_IN_ORDER is not $want_in_order"
	e2e_log "[$name] ok"
}

JUMBO=(--txpkts=1500,1500,1000 --max-pkt-len=9000 --enable-scatter)
VARIANTS=${VARIANTS:-split split-poll split-adaptive packed packed-poll nomrg packed-nomrg-poll jumbo
	packed-jumbo client backpressure backpressure-poll backpressure-adaptive split-not-in-order
	packed-no-in-order}
for v in $VARIANTS; do
	case $v in
	split) run_variant "$v" 64 "" "" ;;
	split-poll) run_variant "$v" 64 ",poll=on" "" ;;
	packed) run_variant "$v" 64 "" ",packed_vq=1" ;;
	packed-poll) run_variant "$v" 64 ",poll=on" ",packed_vq=1" ;;
	# The loop polls up to 50 us before it sleeps, with the guest's notifications off.
	split-adaptive) run_variant "$v" 64 ",poll-us=50" "" ;;
	nomrg) run_variant "$v" 1500 "" ",mrg_rxbuf=0" --txpkts=1500 ;;
	packed-nomrg-poll) run_variant "$v" 1500 ",poll=on" ",mrg_rxbuf=0,packed_vq=1" --txpkts=1500 ;;
	# 4000-byte frames: three tx segments, two rx buffers each (num_buffers = 2).
	jumbo) run_variant "$v" 4000 "" ",mrg_rxbuf=1" "${JUMBO[@]}" ;;
	# DPDK 22.11 marks the virtio-net header entry of its packed indirect tx tables
	# device-writable, which the virtio spec does not allow and vwire refuses: chain instead.
	packed-jumbo) run_variant "$v" 4000 ",indirect_desc=off" ",mrg_rxbuf=1,packed_vq=1" "${JUMBO[@]}" ;;
	client) run_variant "$v" 64 ",server=off,reconnect=1" ",server=1" ;;
	# Twice as many packets in flight as a port has rx buffers: vwire's rx rings run dry, the
	# hub holds the other device's tx back, and everything must resume when buffers return.
	backpressure) run_variant "$v" 64 "" "" --rxd=64 --burst=128 ;;
	backpressure-poll) run_variant "$v" 64 ",poll=on" ",packed_vq=1" --rxd=64 --burst=128 ;;
	backpressure-adaptive) run_variant "$v" 64 ",poll-us=50" ",packed_vq=1" --rxd=64 --burst=128 ;;
	# VIRTIO_F_IN_ORDER is taken by default: also the driver's paths without it (not taken,
	# and not offered).
	split-not-in-order) run_variant "$v" 64 "" ",in_order=0" --rxd=64 --burst=128 ;;
	packed-no-in-order) run_variant "$v" 64 ",in_order=off" ",packed_vq=1" ;;
	*) e2e_fail "unknown variant $v" ;;
	esac
done
