#!/usr/bin/env bash
# testpmd.sh - packet rate of vwire as a vhost-user switch, against DPDK's own vhost PMD in the
# same role, and against Open vSwitch with DPDK (two dpdkvhostuser ports, port-to-port flows)
# when Debian's openvswitch-switch-dpdk is installed, in one run. DPDK's testpmd with two virtio-user ports (io forwarding, tx_first)
# sends every packet it receives on one port out of the other; the switch joins the two
# vhost-user sockets back to back, so packets circle testpmd -> switch -> testpmd. The switch is
# vwire (two virtio-net devices on one hub; kick mode, poll=on, or adaptive polling with
# poll-us=ADAPTIVE_US, default 50), a second testpmd with
# two net_vhost ports in io forwarding, or ovs-vswitchd-dpdk with its PMD thread on core 1 (its
# own database, run directory and sockets in a scratch directory; stopped after each run). Each side has one core: testpmd's virtio-user side
# runs on core 0, the switch on core 1 (all of vwire's threads: VWIRE_CPUS; the vhost testpmd's
# forwarding and main lcores are both on core 1). Measured for SECS seconds after WARM seconds
# of warm-up: packets per second received by testpmd (both ports), and the switch's CPU time
# per packet (/proc/PID/stat utime+stime over the same window, divided by the packets). Prints
# a markdown table of the median and the best of RUNS interleaved runs, with the ratios
# vwire/DPDK (on a machine shared with other work the best run is the least disturbed one).
#   sudo bench/testpmd.sh        (VWIRE=path/to/vwire RUNS=3 SECS=5 WARM=3 SIZES="64 1500"
#                                 BURSTS=4: bursts of 32 packets per port tx_first injects;
#                                 SWITCHES="dpdk ovs vwire vwire-poll": which switches, dpdk
#                                 first; ovs is left out when it is not installed;
#                                 vwire-adaptive: poll-us=ADAPTIVE_US (50);
#                                 vwire-iothread: the devices on one -object iothread;
#                                 PAIRS=2: four testpmd ports, two hubs, vwire only:
#                                 vwire-2iothreads puts each pair on its own iothread;
#                                 VWIRE_CPUS=1: the cores vwire's threads may use;
#                                 VWIRE_BASE=path/to/other/vwire adds vwire-base and
#                                 vwire-base-poll (vwire-base-iothread can be asked
#                                 for): another build, e.g. main, for a change's
#                                 before and after in the same interleaved run;
#                                 VWIRE_WRAP="valgrind --tool=callgrind ..." runs vwire
#                                 under a profiler)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
VWIRE=${VWIRE:-$top/build/vwire}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
WARM=${WARM:-3}
SIZES=${SIZES:-64 1500}
BURSTS=${BURSTS:-4}
ADAPTIVE_US=${ADAPTIVE_US:-50}
OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
PAIRS=${PAIRS:-1}
VWIRE_CPUS=${VWIRE_CPUS:-1}
if ((PAIRS > 1)); then
	SWITCHES=${SWITCHES:-vwire vwire-iothread vwire-2iothreads}
	[[ " $SWITCHES " != *" dpdk "* && " $SWITCHES " != *" ovs "* ]] ||
		{ echo "FAIL: PAIRS=$PAIRS: DPDK and OVS are measured with one pair only" >&2; exit 1; }
fi
if [[ -z ${SWITCHES:-} ]]; then
	SWITCHES="dpdk vwire vwire-poll"
	[[ -x $OVS_VSWITCHD ]] && SWITCHES="dpdk ovs vwire vwire-poll"
	[[ -z ${VWIRE_BASE:-} ]] || SWITCHES+=" vwire-base vwire-base-poll"
fi
MEM=512
# OVS's DPDK memory: with 512 MB its mbuf pools leave no room for a second port's vrings.
OVS_MEM=1024
sfx=$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vwire-bench-testpmd.XXXXXX")
hp=/sys/kernel/mm/hugepages/hugepages-2048kB
hp_added=0 huge_dir= huge_mounted=0
sw_pid= tp_pid=
s0=$tmp/s0.sock s1=$tmp/s1.sock
ovs=$tmp/ovs

# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"
skip() { echo "SKIP: $*" >&2; exit 77; }
die() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || skip "needs root"
for c in dpdk-testpmd taskset python3 mkfifo; do command -v "$c" >/dev/null || skip "missing $c"; done
[[ -x $VWIRE ]] || skip "no vwire binary at $VWIRE (build it, or set VWIRE=)"
(($(nproc) >= 2)) || skip "needs 2 cores"
[[ -w $hp/nr_hugepages ]] || skip "no 2 MB hugepages"

stop_pid() {
	[[ -n $1 ]] || return 0
	kill -INT "$1" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# stop_ovs - ask ovs-vswitchd and ovsdb-server of this run to exit (then kill what is left).
stop_ovs() {
	[[ -d $ovs ]] || return 0
	local p
	# Deleting the bridge has OVS remove the devices its netdev datapath made (br0,
	# ovs-netdev); exiting alone leaves them behind.
	ovs-vsctl --db="unix:$ovs/db.sock" --timeout=10 --if-exists del-br br0 >/dev/null 2>&1
	ovs-appctl -t "$ovs/ovs-vswitchd.ctl" exit >/dev/null 2>&1
	ovs-appctl -t "$ovs/ovsdb-server.ctl" exit >/dev/null 2>&1
	for p in "$ovs"/*.pid; do
		[[ -f $p ]] && stop_pid "$(cat "$p")"
	done
	rm -rf "$ovs" "$huge_dir"/ovs*"$sfx"map_* /var/run/dpdk/ovs*"$sfx"
}
cleanup() {
	set +e
	exec 3>&-
	stop_ovs
	stop_pid "$tp_pid"
	stop_pid "$sw_pid"
	[[ -n $huge_dir ]] && rm -rf "$huge_dir"/vwb*"$sfx"map_*
	rm -rf /var/run/dpdk/vwb*"$sfx"
	((huge_mounted)) && umount "$huge_dir"
	# Only the pages added here: another user may have added some meanwhile.
	((hp_added)) && echo $(($(cat "$hp/nr_hugepages") - hp_added)) >"$hp/nr_hugepages"
	rm -rf "$tmp"
}
on_cleanup cleanup # run by common.sh's EXIT trap

# Two testpmd instances of MEM MB each (or testpmd and OVS), and room for the EAL's own.
need=$((2 * (MEM / 2 + 16)))
[[ " $SWITCHES " == *" ovs "* ]] && need=$((MEM / 2 + OVS_MEM / 2 + 32))
if (($(cat "$hp/free_hugepages") < need)); then
	hp_added=$((need - $(cat "$hp/free_hugepages")))
	echo $(($(cat "$hp/nr_hugepages") + hp_added)) >"$hp/nr_hugepages"
	(($(cat "$hp/free_hugepages") >= need)) || skip "cannot reserve $need 2 MB hugepages"
fi
if awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
	huge_dir=/dev/hugepages
else
	huge_dir=$tmp/huge
	mkdir "$huge_dir"
	mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir"
	huge_mounted=1
fi

wait_file() { # path what
	for _ in $(seq 300); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	die "timeout waiting for $2"
}
wait_line() { # file regex what
	for _ in $(seq 300); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -30 "$1" >&2
	die "timeout waiting for $3"
}

# start_ovs - Open vSwitch with DPDK, its PMD thread on core 1, as the issue that set the anchor
# measured it: two dpdkvhostuser ports (OVS is the socket server), port-to-port flows. Sets
# sw_pid to ovs-vswitchd and s0/s1 to its sockets.
start_ovs() {
	local vsctl=(ovs-vsctl --db="unix:$ovs/db.sock")
	mkdir -p "$ovs"
	export OVS_RUNDIR=$ovs OVS_LOGDIR=$ovs OVS_DBDIR=$ovs
	ovsdb-tool create "$ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
	ovsdb-server "$ovs/conf.db" --remote="punix:$ovs/db.sock" --pidfile="$ovs/ovsdb-server.pid" \
		--unixctl="$ovs/ovsdb-server.ctl" --detach --log-file="$ovs/ovsdb-server.log" \
		2>>"$ovs/start.log"
	"${vsctl[@]}" --no-wait init
	"${vsctl[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		other_config:dpdk-socket-mem="$OVS_MEM" other_config:dpdk-socket-limit="$OVS_MEM" \
		other_config:pmd-cpu-mask=0x2 \
		other_config:dpdk-extra="--no-pci --single-file-segments --huge-dir=$huge_dir --file-prefix=ovs$sfx"
	taskset -c 1 "$OVS_VSWITCHD" "unix:$ovs/db.sock" --pidfile="$ovs/ovs-vswitchd.pid" \
		--unixctl="$ovs/ovs-vswitchd.ctl" --detach --log-file="$ovs/ovs-vswitchd.log" \
		2>>"$ovs/start.log"
	"${vsctl[@]}" add-br br0 -- set bridge br0 datapath_type=netdev
	"${vsctl[@]}" add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuser ofport_request=1
	"${vsctl[@]}" add-port br0 vhu1 -- set Interface vhu1 type=dpdkvhostuser ofport_request=2
	ovs-ofctl del-flows br0
	ovs-ofctl add-flow br0 in_port=1,actions=output:2
	ovs-ofctl add-flow br0 in_port=2,actions=output:1
	sw_pid=$(cat "$ovs/ovs-vswitchd.pid")
	s0=$ovs/vhu0 s1=$ovs/vhu1
}

# start_switch vwire|vwire-poll|vwire-adaptive|dpdk|ovs: the switch on core 1, listening on $s0
# and $s1.
start_switch() {
	s0=$tmp/s0.sock s1=$tmp/s1.sock
	rm -f "$s0" "$s1"
	case $1 in
	ovs)
		start_ovs
		;;
	vwire | vwire-poll | vwire-adaptive | vwire-base | vwire-base-poll | vwire-iothread | \
	vwire-base-iothread | vwire-2iothreads)
		local poll= bin=$VWIRE args=() i
		[[ $1 == *-poll ]] && poll=,poll=on
		[[ $1 == *-adaptive ]] && poll=,poll-us=$ADAPTIVE_US
		[[ $1 == vwire-base* ]] && bin=$VWIRE_BASE
		# On iothreads, which poll as QEMU's do (poll-max-ns 32768): all on one, or a pair
		# on each.
		[[ $1 == *iothread* ]] && args=(-object iothread,id=io1 -object iothread,id=io2)
		# Pair k: hub k, ports 2k and 2k+1.
		for ((i = 0; i < 2 * PAIRS; i++)); do
			case $1 in
			*-iothread) poll=,iothread=io1 ;;
			*-2iothreads) poll=,iothread=io$((i / 2 % 2 + 1)) ;;
			esac
			args+=(-netdev "hubport,id=h$i,hubid=$((i / 2))"
				-device "virtio-net,id=v$i,netdev=h$i,socket=$tmp/s$i.sock$poll")
		done
		# valgrind cannot apply a seccomp filter to every thread (TSYNC): no sandbox there.
		[[ -z ${VWIRE_WRAP:-} ]] || args+=(-sandbox off)
		# shellcheck disable=SC2086 # VWIRE_WRAP is a command line, e.g. a profiler.
		taskset -c "$VWIRE_CPUS" ${VWIRE_WRAP:-} "$bin" "${args[@]}" \
			-D "$tmp/vwire.log" >"$tmp/switch.out" 2>&1 &
		;;
	dpdk)
		# Non-interactive, statistics once an hour: it forwards until SIGINT.
		dpdk-testpmd --lcores '0@1,1@1' --no-pci --single-file-segments -m "$MEM" \
			--huge-dir "$huge_dir" --file-prefix="vwbv$sfx" \
			--vdev "net_vhost0,iface=$s0,queues=1" --vdev "net_vhost1,iface=$s1,queues=1" \
			-- --forward-mode=io --auto-start --stats-period 3600 </dev/null \
			>"$tmp/switch.out" 2>&1 &
		;;
	esac
	[[ $1 == ovs ]] || sw_pid=$!
	wait_file "$s0" "$1 socket $s0"
	wait_file "$s1" "$1 socket $s1"
	for ((i = 2; i < 2 * PAIRS; i++)); do
		wait_file "$tmp/s$i.sock" "$1 socket $i"
	done
}

# measure SWITCH SIZE: prints "pps switch_cpu_seconds packets" for one run.
measure() {
	local sw=$1 size=$2 fifo=$tmp/cmd log=$tmp/virtio.log c0 c1 more=() i
	start_switch "$sw"
	for ((i = 2; i < 2 * PAIRS; i++)); do
		more+=(--vdev "net_virtio_user$i,path=$tmp/s$i.sock,queues=1")
	done
	rm -f "$fifo"
	mkfifo "$fifo"
	dpdk-testpmd --lcores '0@0,1@0' --no-pci --single-file-segments -m "$MEM" \
		--huge-dir "$huge_dir" --file-prefix="vwbu$sfx" \
		--vdev "net_virtio_user0,path=$s0,queues=1" \
		--vdev "net_virtio_user1,path=$s1,queues=1" "${more[@]}" \
		-- -i --forward-mode=io --txpkts="$size" <"$fifo" >"$log" 2>&1 &
	tp_pid=$!
	exec 3>"$fifo"
	wait_line "$log" "testpmd> " "testpmd's prompt"
	echo "start tx_first $BURSTS" >&3
	sleep "$WARM"
	# testpmd's Rx-pps is over the time between two "show port stats" (its own clock).
	echo "show port stats all" >&3
	c0=$(cpu_ticks "$sw_pid")
	sleep "$SECS"
	echo "show port stats all" >&3
	c1=$(cpu_ticks "$sw_pid")
	sleep 0.5
	echo "stop" >&3
	echo "quit" >&3
	exec 3>&-
	for _ in $(seq 100); do
		kill -0 "$tp_pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$tp_pid"
	tp_pid=
	if [[ $sw == ovs ]]; then
		stop_ovs
	else
		stop_pid "$sw_pid"
	fi
	sw_pid=
	grep -q "broken" "$tmp/vwire.log" 2>/dev/null && die "$sw: a queue broke"
	awk -v ticks=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '
	# Only the "show port stats" blocks: "stop" prints cumulative RX-packets lines too.
	/NIC statistics for port/ { p = $(NF - 1); n[p]++; nic = 1 }
	/Forward statistics|Accumulated forward/ { nic = 0 }
	nic && /RX-packets:/ { pk[p, n[p]] = $2 }
	nic && /Rx-pps:/ { pps[p, n[p]] = $2 }
	END {
		for (p in n) {
			if (n[p] < 2) { print "no statistics" > "/dev/stderr"; exit 1 }
			rate += pps[p, n[p]]
			pkts += pk[p, n[p]] - pk[p, n[p] - 1]
		}
		if (!rate) { print "no statistics" > "/dev/stderr"; exit 1 }
		printf "%.0f %.3f %.0f\n", rate, ticks / hz, pkts
	}' "$log" || { tail -40 "$log" >&2; die "$sw: no statistics from testpmd"; }
}

load0=$(cut -d' ' -f1 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do
	for size in $SIZES; do
		for sw in $SWITCHES; do
			echo "run $r/$RUNS: $size bytes, $sw" >&2
			res=$(measure "$sw" "$size")
			echo "  $res" >&2
			echo "$size $sw $res" >>"$tmp/results"
		done
	done
done
load1=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$tmp/results" "$RUNS" "$SECS" "$BURSTS" "$load0" "$load1" "$SWITCHES" "$ADAPTIVE_US" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    size, sw, pps, cpu, pkts = line.split()
    rows.setdefault((int(size), sw), []).append((float(pps), float(cpu), float(pkts)))
runs, secs, bursts = sys.argv[2], sys.argv[3], int(sys.argv[4])
print(f"{runs} runs of {secs} s each; {bursts * 32} packets circling per direction; "
      f"load average {sys.argv[5]} before, {sys.argv[6]} after\n")
switches = sys.argv[7].split()
with_ovs = "ovs" in switches
print("| frame | switch on core 1 | Mpps median | Mpps best | switch CPU ns/packet (median) "
      "| /DPDK median | /DPDK best |" + (" /OVS-DPDK median |" if with_ovs else ""))
print("|---:|---|---:|---:|---:|---:|---:|" + ("---:|" if with_ovs else ""))
names = {"dpdk": "DPDK vhost PMD (testpmd io, polls)", "vwire": "vwire, kick mode",
         "vwire-poll": "vwire, poll=on", "ovs": "Open vSwitch with DPDK, port to port",
         "vwire-adaptive": f"vwire, poll-us={sys.argv[8]}",
         "vwire-iothread": "vwire, devices on one iothread (poll-max-ns 32768)",
         "vwire-2iothreads": "vwire, a pair of devices on each of two iothreads",
         "vwire-base": "VWIRE_BASE, kick mode", "vwire-base-poll": "VWIRE_BASE, poll=on",
         "vwire-base-iothread": "VWIRE_BASE, devices on one iothread"}
for size in sorted({k[0] for k in rows}):
    dpdk = [r[0] for r in rows.get((size, "dpdk"), [])]
    ovs = [r[0] for r in rows.get((size, "ovs"), [])]
    for sw in switches:
        pps = [r[0] for r in rows[(size, sw)]]
        med, best = statistics.median(pps), max(pps)
        ns = statistics.median(r[1] / r[2] * 1e9 if r[2] else float("nan")
                               for r in rows[(size, sw)])
        def ratio(a, b):
            return f"{a / b:.2f}" if b else "n/a"
        def median(v):
            return statistics.median(v) if v else 0
        ratios = " | |" if sw == "dpdk" else \
            f" {ratio(med, median(dpdk))} | {ratio(best, max(dpdk, default=0))} |"
        if with_ovs:
            ratios += " |" if sw in ("dpdk", "ovs") else \
                f" {ratio(med, median(ovs))} |"
        print(f"| {size} B | {names[sw]} | {med / 1e6:.3f} | {best / 1e6:.3f} | {ns:.0f} |{ratios}")
EOF
