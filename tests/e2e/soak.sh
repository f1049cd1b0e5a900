#!/bin/bash
# soak.sh - many devices, restart storms and control-socket churn under the ASan+LSan daemon.
#
# One vwire serves SOAK_PAIRS pairs of virtio-net devices driven by tests/tools/vu-frontend
# (each pair on a hub of its own; odd pairs with packed rings), two devices that vwire connects to testpmd's virtio-user
# ports (reconnect=1), and, when QEMU is there, a QEMU guest on a tap (QEMU reconnects):
# 2 * SOAK_PAIRS + 3 devices (33 by default). Then:
#   1. SOAK_RESTARTS rounds: traffic on every pair, QMP netdev_add/netdev_del and set_link
#      churn, one front end killed at random, and vwire killed (SIGKILL) or stopped (SIGTERM:
#      it must exit 0 with no sanitizer report) under that traffic, then started again;
#   2. on the last vwire: the number of open fds and the RSS once everything is attached, then
#      SOAK_STORMS rounds of front ends that connect, carry traffic and are killed at random,
#      with QMP churn; afterwards the fds are back to that number and the RSS close to it;
#   3. every device forwards at the end: each pair, testpmd's ports, the guest's ping; vwire
#      stops on SIGTERM with exit 0 and no leak or sanitizer report.
# Short by default (the test command runs it); SOAK=long runs the issue's long form (50
# restarts, 30 storms), and SOAK_* variables set each count.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/dpdk.sh
. "$E2E_DIR/lib/dpdk.sh"

require_root
require_cmd python3 awk ip stdbuf mkfifo
require_vwire
FRONTEND=$(dirname "$VWIRE")/vu-frontend
[[ -x $FRONTEND ]] || e2e_fail "no vu-frontend next to $VWIRE (built with vwire by ninja)"

if [[ ${SOAK:-} == long ]]; then
	: "${SOAK_RESTARTS:=50}" "${SOAK_STORMS:=30}" "${SOAK_QMP:=40}"
fi
SOAK_PAIRS=${SOAK_PAIRS:-15}
SOAK_RESTARTS=${SOAK_RESTARTS:-4}
SOAK_STORMS=${SOAK_STORMS:-4}
SOAK_QMP=${SOAK_QMP:-10}
# Leak checks need the memory that was freed to be given back, not held in ASan's quarantine.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:quarantine_size_mb=8

T=$E2E_TMP
QMP=$T/qmp.sock
NS=vwsk-$E2E_SUFFIX
TAP=$(e2e_ifname vwsk)
HOST_IP=10.234.0.1
GUEST_IP=10.234.0.2

# Test parts that need what this machine may lack are left out with a note, not skipped whole.
WITH_TESTPMD=1 WITH_GUEST=1
command -v dpdk-testpmd >/dev/null || { WITH_TESTPMD=0; e2e_log "no dpdk-testpmd: no testpmd devices"; }
if ! command -v qemu-system-x86_64 >/dev/null || [[ ! -e /dev/net/tun ]]; then
	WITH_GUEST=0
	e2e_log "no qemu-system-x86_64 or /dev/net/tun: no guest"
fi

vwire_args=(-qmp "unix:$QMP,server=on,wait=off")
for ((i = 0; i < SOAK_PAIRS; i++)); do
	vwire_args+=(-netdev "hubport,id=a$i,hubid=$((i + 10))" -netdev "hubport,id=b$i,hubid=$((i + 10))"
		-device "virtio-net,id=va$i,netdev=a$i,socket=$T/a$i.sock"
		-device "virtio-net,id=vb$i,netdev=b$i,socket=$T/b$i.sock")
done
if ((WITH_TESTPMD)); then
	vwire_args+=(-netdev hubport,id=t0,hubid=0 -netdev hubport,id=t1,hubid=0
		-device "virtio-net,id=vt0,netdev=t0,socket=$T/t0.sock,server=off,reconnect=1"
		-device "virtio-net,id=vt1,netdev=t1,socket=$T/t1.sock,server=off,reconnect=1")
fi
if ((WITH_GUEST)); then
	vwire_args+=(-netdev "tap,id=g0,ifname=$TAP,vnet_hdr=on"
		-device "virtio-net,id=vg,netdev=g0,socket=$T/g.sock")
	make_netns "$NS"
fi

VW_PID= VW_RUN=0 VW_LOG=
start_vwire() {
	VW_RUN=$((VW_RUN + 1))
	VW_LOG=$T/vwire.$VW_RUN.log
	spawn -o "$VW_LOG" "$VWIRE" "${vwire_args[@]}"
	VW_PID=$SPAWN_PID
	wait_for_log_line "$VW_LOG" "started" 30 || { tail -20 "$VW_LOG"; e2e_fail "vwire did not start"; }
	wait_for_socket "$QMP" 10 || e2e_fail "no QMP socket"
	if ((WITH_GUEST)); then
		move_tap "$TAP" "$NS" "$HOST_IP/24"
	fi
}

# check_log LOG - no sanitizer report and no broken queue in a vwire log.
check_log() {
	if grep -qE "Sanitizer|runtime error|LeakSanitizer" "$1"; then
		grep -E -A30 "Sanitizer|runtime error" "$1" | head -60 >&2
		e2e_fail "sanitizer report in $1"
	fi
	! grep -q "broken" "$1" || { grep broken "$1" >&2; e2e_fail "a queue broke ($1)"; }
}

# stop_vwire SIGNAL - KILL, or TERM and check a clean exit (status 0, nothing reported).
stop_vwire() {
	local st=0
	kill "-$1" "$VW_PID"
	wait "$VW_PID" || st=$?
	forget_pid "$VW_PID"
	if [[ $1 == TERM ]]; then
		check_log "$VW_LOG"
		[[ $st == 0 ]] || { tail -20 "$VW_LOG"; e2e_fail "vwire exited with $st on SIGTERM"; }
	fi
}

# qmp_churn N - N rounds on one QMP connection: add a hub port and a pair's link down, then
# take them back. Every command must succeed.
qmp_churn() {
	python3 - "$QMP" "$1" "$SOAK_PAIRS" "$E2E_DIR/lib" <<'EOF'
import random, sys
sys.path.insert(0, sys.argv[4])
from qmp import QMP
conn = QMP(sys.argv[1]).connect()
for k in range(int(sys.argv[2])):
    pair = random.randrange(int(sys.argv[3]))
    conn.command("netdev_add", {"type": "hubport", "id": "x%d" % k, "hubid": 1000 + k % 4})
    conn.command("set_link", {"name": "a%d" % pair, "up": False})
    conn.command("query-netdevs")
    conn.command("set_link", {"name": "a%d" % pair, "up": True})
    conn.command("netdev_del", {"id": "x%d" % k})
conn.close()
EOF
}

# pair_ring I - vu-frontend's flag for pair I's rings: packed for odd pairs.
pair_ring() {
	((${1} % 2 == 0)) || echo -P
}

# traffic_all SECONDS - vu-frontend traffic on every pair in the background (pids in TRAFFIC).
TRAFFIC=()
traffic_all() {
	local i
	TRAFFIC=()
	for ((i = 0; i < SOAK_PAIRS; i++)); do
		spawn -o "$T/traffic.$i.log" "$FRONTEND" $(pair_ring "$i") -t "$1" traffic \
			"$T/a$i.sock" "$T/b$i.sock"
		TRAFFIC+=("$SPAWN_PID")
	done
}

# traffic_kill_all - end every traffic front end (they fail once vwire goes: that is expected).
traffic_kill_all() {
	local p
	for p in "${TRAFFIC[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		forget_pid "$p"
	done
	TRAFFIC=()
}

# forward_all - each pair forwards 100 frames (vu-frontend forward), one pair after the other.
forward_all() {
	local i
	for ((i = 0; i < SOAK_PAIRS; i++)); do
		# shellcheck disable=SC2046 # the flag or nothing
		timeout 60 "$FRONTEND" -p "$VW_PID" $(pair_ring "$i") forward "$T/a$i.sock" \
			"$T/b$i.sock" 2>"$T/fwd.log" ||
			{ cat "$T/fwd.log" >&2; tail -20 "$VW_LOG"; e2e_fail "pair $i does not forward"; }
	done
}

fd_count() { find "/proc/$VW_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$VW_PID/status"; }

# testpmd: interactive, commands through a FIFO; vwire connects to its two sockets.
TP_PID= TP_IN=
start_testpmd() {
	local tlog=$T/testpmd.log
	hugepages_setup 512 "vwsk$E2E_SUFFIX"
	mkfifo "$T/tp.in"
	exec {TP_IN}<>"$T/tp.in"
	# Not spawn(): testpmd reads its commands from the FIFO, not /dev/null; unbuffered, so that
	# the answers are in the log at once.
	stdbuf -o0 dpdk-testpmd -l 0-1 --no-pci --single-file-segments -m 512 \
		--huge-dir "$HUGE_DIR" --file-prefix="vwsk$E2E_SUFFIX" \
		--vdev "net_virtio_user0,path=$T/t0.sock,queues=1,server=1" \
		--vdev "net_virtio_user1,path=$T/t1.sock,queues=1,server=1" \
		-- -i --forward-mode=io <"$T/tp.in" >"$tlog" 2>&1 &
	TP_PID=$!
	record_pid "$TP_PID"
	# It listens on one socket after the other: t1 once vwire attached to t0.
	wait_for_socket "$T/t0.sock" 60 || { tail -20 "$tlog"; e2e_fail "testpmd did not listen"; }
}

# testpmd_blocks_at_least LOG N - the log holds N whole statistics blocks (each ends in a line
# of #s), looked at anew on each call.
testpmd_blocks_at_least() {
	(($(grep -cE '^ *#+$' "$1") >= $2))
}

# testpmd_rx_total - the sum of RX-packets over testpmd's ports, asked now.
testpmd_rx_total() {
	local tlog=$T/testpmd.log n
	n=$(grep -cE '^ *#+$' "$tlog" || true)
	echo "show port stats all" >&"$TP_IN"
	wait_until 10 testpmd_blocks_at_least "$tlog" $((n + 2)) ||
		{ tail -30 "$tlog" >&2; e2e_log "testpmd does not answer"; return 1; }
	awk '/RX-packets:/ { v[++k] = $2 } END { print v[k - 1] + v[k] }' "$tlog"
}

# testpmd_flowing - packets circle through testpmd and vwire (restart them with tx_first).
testpmd_flowing() {
	local a b
	echo "stop" >&"$TP_IN"
	echo "start tx_first 4" >&"$TP_IN"
	sleep 1
	# Called in a condition, where errexit is off: each failure must return by itself.
	a=$(testpmd_rx_total) || return 1
	sleep 1
	b=$(testpmd_rx_total) || return 1
	((b > a)) || { tail -30 "$T/testpmd.log"; return 1; }
	e2e_log "testpmd: $((b - a)) packets in a second"
}

if ((WITH_TESTPMD)); then
	start_testpmd
fi
start_vwire
if ((WITH_GUEST)); then
	# shellcheck source=lib/guest.sh
	. "$E2E_DIR/lib/guest.sh"
	guest_build
	guest_boot g --ip "$GUEST_IP/24" -- \
		-chardev "socket,id=c0,path=$T/g.sock,reconnect=1" \
		-netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57,vectors=0
	guest_wait_ready g 180 || e2e_fail "the guest did not boot"
fi

guest_ping() {
	local i
	((WITH_GUEST)) || return 0
	for ((i = 0; i < 15; i++)); do
		guest_run g -t 20 "ping -c 1 -W 2 $HOST_IP" >/dev/null 2>&1 && return 0
	done
	return 1
}

wait_attached() {
	if ((WITH_TESTPMD)); then
		wait_for_log_line "$VW_LOG" "vt1: front end connected" 30 || e2e_fail "testpmd not attached"
	fi
	if ((WITH_GUEST)); then
		wait_for_log_line "$VW_LOG" "vg: front end connected" 30 || e2e_fail "QEMU not attached"
	fi
}

wait_attached
forward_all
guest_ping || e2e_fail "the guest does not reach the host"
e2e_log "$((2 * SOAK_PAIRS + 2 * WITH_TESTPMD + WITH_GUEST)) devices attached and forwarding"
if ((WITH_GUEST)); then
	guest_run g "ping -i 0.2 $HOST_IP >/tmp/ping.log 2>&1 &" >/dev/null
fi
if ((WITH_TESTPMD)); then
	testpmd_flowing || e2e_fail "testpmd's packets do not flow"
fi

# 1. Restarts under traffic.
for ((r = 1; r <= SOAK_RESTARTS; r++)); do
	traffic_all 30
	sleep 1
	qmp_churn "$SOAK_QMP" || { tail -20 "$VW_LOG"; e2e_fail "QMP churn failed"; }
	vi=$((RANDOM % ${#TRAFFIC[@]}))
	# A front end that already ended failed a check: say which and why.
	kill -KILL "${TRAFFIC[vi]}" 2>/dev/null || {
		cat "$T/traffic.$vi.log" >&2
		tail -30 "$VW_LOG"
		e2e_fail "round $r: traffic front end $vi ended before its time"
	}
	sleep 0.5
	pid_alive "$VW_PID" || { tail -30 "$VW_LOG"; e2e_fail "vwire died in round $r"; }
	sig=KILL
	((r % 2 == 0)) && sig=TERM
	stop_vwire "$sig"
	traffic_kill_all
	e2e_log "round $r: vwire stopped with SIG$sig under traffic; starting it again"
	start_vwire
	wait_attached
done

# 2. The last vwire: fds and RSS before and after storms of front ends and QMP churn.
forward_all
if ((WITH_TESTPMD)); then
	testpmd_flowing || e2e_fail "testpmd's packets do not flow after the restarts"
fi
guest_ping || e2e_fail "the guest does not reach the host after the restarts"
# One round first, so that what the allocator keeps for good is there in the baseline too.
traffic_all 2
qmp_churn "$SOAK_QMP"
sleep 3
traffic_kill_all
sleep 1
fds0=$(fd_count)
rss0=$(rss_kb)
for ((s = 1; s <= SOAK_STORMS; s++)); do
	traffic_all 3
	sleep 1
	for ((k = 0; k < SOAK_PAIRS / 3; k++)); do
		kill -KILL "${TRAFFIC[RANDOM % ${#TRAFFIC[@]}]}" 2>/dev/null || true
	done
	qmp_churn "$SOAK_QMP" || { tail -20 "$VW_LOG"; e2e_fail "QMP churn failed"; }
	sleep 2.5
	traffic_kill_all
done
sleep 1
fds1=$(fd_count)
rss1=$(rss_kb)
e2e_log "open fds $fds0 -> $fds1, RSS $rss0 -> $rss1 KiB after $SOAK_STORMS storms"
((fds1 == fds0)) || { ls -l "/proc/$VW_PID/fd" >&2; e2e_fail "open fds grew from $fds0 to $fds1"; }
((rss1 <= rss0 + rss0 / 4 + 16384)) || e2e_fail "RSS grew from $rss0 to $rss1 KiB"

# 3. Everything forwards; vwire stops cleanly.
forward_all
if ((WITH_TESTPMD)); then
	testpmd_flowing || e2e_fail "testpmd's packets do not flow at the end"
fi
guest_ping || e2e_fail "the guest does not reach the host at the end"
if ((WITH_GUEST)); then
	guest_stop g || true
fi
stop_vwire TERM
for log in "$T"/vwire.*.log; do
	check_log "$log"
done
e2e_log "soak done: $SOAK_RESTARTS restarts, $SOAK_STORMS storms, no crash, leak or fd growth"
