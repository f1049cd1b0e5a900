#!/bin/bash
# iothread_traffic.sh - devices on two iothreads, driven by DPDK's testpmd, under
# ThreadSanitizer when the test command built it (VWIRE_TSAN).
# Four vwire virtio-net devices: v0 and v3 on iothread io1, v1 and v2 on io2; v0 and v1 are
# ports of hub 0, v2 and v3 of hub 1, so every frame crosses from one thread to the other
# through a hub's link. testpmd forwards port 0 <-> 1 and 2 <-> 3.
# Promises checked:
#  1. io forwarding (2 x 32 frames circling per pair): frames flow on all four ports for the
#     whole run, and none is lost on the way between the threads;
#  2. flowgen (testpmd sends all the time) while QMP, from the main thread, adds hub ports on
#     the main loop to both hubs and deletes them, flips the links of all four devices, and
#     reads query-netdevs and info network: afterwards every port receives again, the links
#     are up, the devices and their iothreads are as before;
#  3. vwire stops on SIGTERM with status 0, and (ThreadSanitizer) reports no data race.
# Needs root, 2 MB hugepages (reserved here and given back) and dpdk-testpmd (dpdk-dev).
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/dpdk.sh
. "$E2E_DIR/lib/dpdk.sh"

require_root
require_cmd dpdk-testpmd python3 awk
if [[ -n ${VWIRE_TSAN:-} && -x $VWIRE_TSAN ]]; then
	VWIRE=$VWIRE_TSAN
	e2e_log "vwire built with ThreadSanitizer: $VWIRE"
else
	VWIRE=${VWIRE:-$E2E_DIR/../../build/vwire}
	e2e_log "no ThreadSanitizer build (VWIRE_TSAN): races are not looked for; $VWIRE"
fi
[[ -x $VWIRE ]] || e2e_fail "no vwire binary at $VWIRE"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
QMP=$E2E_DIR/lib/qmp.py
SECS=${SECS:-6}
TP_MEM=1024
PREFIX=vwire$E2E_SUFFIX
hugepages_setup "$TP_MEM" "$PREFIX"
qsock=$E2E_TMP/qmp.sock
checks=0

qmp() { python3 "$QMP" "$qsock" "$@"; }

# run MODE CHURN: vwire and testpmd in forward mode MODE; CHURN=1 runs the QMP load meanwhile.
run() {
	local mode=$1 churn=$2 name=$1
	local vlog=$E2E_TMP/vwire-$name.log tlog=$E2E_TMP/testpmd-$name.log vw tp i
	local port rx tx rxd txd err blocks bytes last prev pps total_rx=0 total_tx=0
	local tp_ports=() dev_args=() io
	fail() {
		tail -30 "$tlog" >&2
		tail -40 "$vlog" >&2
		e2e_fail "[$name] $*"
	}
	for i in 0 1 2 3; do
		case $i in 0 | 3) io=io1 ;; *) io=io2 ;; esac
		dev_args+=(-device "virtio-net,id=v$i,netdev=h$i,socket=$E2E_TMP/$name-$i.sock,iothread=$io")
		tp_ports+=(--vdev "net_virtio_user$i,path=$E2E_TMP/$name-$i.sock,queues=1")
	done
	spawn -o "$vlog" "$VWIRE" -qmp "unix:$qsock,server=on,wait=off" \
		-object iothread,id=io1 -object iothread,id=io2 \
		-netdev hubport,id=h0,hubid=0 -netdev hubport,id=h1,hubid=0 \
		-netdev hubport,id=h2,hubid=1 -netdev hubport,id=h3,hubid=1 "${dev_args[@]}"
	vw=$SPAWN_PID
	for i in 0 1 2 3; do
		wait_for_socket "$E2E_TMP/$name-$i.sock" 20 || fail "vwire did not listen"
	done
	wait_for_socket "$qsock" 10 || fail "no QMP socket"
	spawn -o "$tlog" dpdk-testpmd -l 0-1 --no-pci --single-file-segments -m "$TP_MEM" \
		--huge-dir "$HUGE_DIR" --file-prefix="$PREFIX" "${tp_ports[@]}" \
		-- --forward-mode="$mode" --auto-start --tx-first --stats-period 1
	tp=$SPAWN_PID
	wait_for_log_line "$tlog" "NIC statistics for port 3" 90 || fail "testpmd did not start"
	if ((churn)); then
		churn_qmp "$SECS" || fail "QMP load failed"
	else
		sleep "$SECS"
	fi
	# After the load: links up, and every port must receive again.
	sleep 3
	pid_alive "$vw" || fail "vwire died"
	kill -INT "$tp"
	wait_until 15 pid_gone "$tp" || fail "testpmd did not exit on SIGINT"
	kill_pid "$tp"
	grep -q "Forward statistics for port 3" "$tlog" || fail "testpmd printed no forward statistics"
	while read -r port rx tx rxd txd err blocks bytes last prev pps; do
		e2e_log "[$name] port $port: rx $rx tx $tx, last second $pps pkt/s"
		((rx >= 1000)) || fail "port $port: received only $rx packets"
		((last > prev && pps > 0)) || fail "port $port: packets stopped flowing ($prev -> $last)"
		((err == 0)) || fail "port $port: errors"
		total_rx=$((total_rx + rx))
		total_tx=$((total_tx + tx))
	done < <(testpmd_stats "$tlog" 4)
	if [[ $mode == io ]]; then
		# Only the tx_first frames circle (2 x 32 per pair): none may be lost between threads
		# beyond those inside vwire when forwarding stopped.
		((total_tx - total_rx >= 0 && total_tx - total_rx <= 4 * 32)) ||
			fail "sent $total_tx, received $total_rx: frames were lost"
	fi
	pid_alive "$vw" || fail "vwire died"
	stop_vwire_clean "$vw" "$vlog"
	if grep -E "broken|ThreadSanitizer" "$vlog" >&2; then
		fail "vwire logged a broken queue or a race"
	fi
	checks=$((checks + 1))
	e2e_log "[$name] ok"
}

# churn_qmp SECS: QMP commands from the main thread for SECS seconds, then checks.
churn_qmp() {
	VWIRE_QMP_SOCK=$qsock python3 - "$1" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["VWIRE_SRC"], "src", "ctl"))
from vwirectl import QMP, QMPError

q = QMP(os.environ["VWIRE_QMP_SOCK"]).connect()
end = time.time() + float(sys.argv[1])
rounds = 0
while time.time() < end:
    for hub in (0, 1):
        q.command("netdev_add", {"type": "hubport", "id": "x%d" % hub, "hubid": hub})
    for dev in ("v0", "v1", "v2", "v3"):
        q.command("set_link", {"name": dev, "up": False})
    nets = q.command("query-netdevs")
    down = [n["id"] for n in nets if n["id"] in ("v0", "v1", "v2", "v3") and n["link-up"]]
    assert not down, "links still up: %s" % down
    q.hmp("info network")
    for dev in ("v0", "v1", "v2", "v3"):
        q.command("set_link", {"name": dev, "up": True})
    for hub in (0, 1):
        q.command("netdev_del", {"id": "x%d" % hub})
    rounds += 1
    time.sleep(0.05)
nets = {n["id"]: n for n in q.command("query-netdevs")}
for dev in ("v0", "v1", "v2", "v3"):
    assert nets[dev]["link-up"], "%s: link down at the end" % dev
assert "x0" not in nets and "x1" not in nets, "deleted hub ports still listed"
threads = {t["id"] for t in q.command("query-iothreads")}
assert threads == {"io1", "io2"}, threads
try:
    q.command("object-del", {"id": "io1"})
    raise AssertionError("object-del of an iothread in use worked")
except QMPError as e:
    assert "in use" in e.desc, e.desc
print("QMP load: %d rounds" % rounds)
q.close()
EOF
}

export VWIRE_SRC=$E2E_DIR/../..
run io 0
run flowgen 1
echo "iothread_traffic: $checks runs passed"
