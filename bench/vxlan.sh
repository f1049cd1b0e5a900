#!/usr/bin/env bash
# vxlan.sh - forwarding speed of tap -> overlay -> overlay -> tap between two hosts simulated by
# network namespaces: vwire's vxlan and geneve back ends against the kernel's vxlan device and
# QEMU 7.2's dgram (a UDP tunnel without a header), in one run. Two "host" namespaces hA and hB
# share an underlay veth (10.78.0.1/24 - 10.78.0.2/24, MTU 1500); on each host one tunnel end
# joins the underlay to an interface in a "VM" namespace vA or vB (192.168.78.1/24 and .2/24,
# MTU 1450 so that nothing fragments under VXLAN's 50 bytes). iperf3 runs from vA to vB: TCP
# (Gbit/s received) and 64-byte UDP at full blast (packets per second received by the server).
# Flavours:
#   linux-vxlan   in each host: vxlan device vx0, bridge br0, a veth whose peer is in the VM
#   vwire-vxlan   in each host: vwire -netdev tap + -netdev vxlan on hub 0, the tap moved to the VM
#   vwire-geneve  the same with -netdev geneve (UDP port 6081)
#   qemu-dgram    in each host: qemu-system-x86_64 -M none, -netdev tap + -netdev dgram (inet)
#   linux-vxlan-nogso (not run by default) linux-vxlan with TSO and GSO off on the VMs' veths: a
#                 tap whose peer takes no vnet header (vwire's and QEMU's here) has them off, so
#                 TCP through it goes in MTU-sized frames, where the kernel's own path carries
#                 64 KiB segments as far as the underlay
# Every namespace, link and process is made anew for each measurement; the flavours take turns
# in each round, so that a change in the machine's load hits them alike. Prints a markdown table
# of the median (and range) of RUNS runs per flavour and the ratios of vwire-vxlan to
# linux-vxlan and to qemu-dgram. A flavour that does not come up (its process exits, or no ping
# through it) is reported with its logs and counted as failed; the others go on, and the script
# exits 1 after the table.
#   sudo bench/vxlan.sh   (VWIRE=path/to/vwire QEMU=... RUNS=3 SECS=5 FLAVOURS="linux-vxlan ...")
set -euo pipefail
# shellcheck disable=SC2034 # read by common.sh
E2E_NAME=bench_vxlan
# shellcheck source=../tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib/common.sh"

QEMU=${QEMU:-qemu-system-x86_64}
RUNS=${RUNS:-3}
SECS=${SECS:-5}
FLAVOURS=${FLAVOURS:-linux-vxlan vwire-vxlan vwire-geneve qemu-dgram}
VNI=42
VXLAN_PORT=4789
DGRAM_PORT=4789 # QEMU's dgram: plain Ethernet frames in UDP, on the port VXLAN would use
OVERLAY_MTU=1450
UNDER_A=10.78.0.1 UNDER_B=10.78.0.2
VM_A=192.168.78.1 VM_B=192.168.78.2

for fl in $FLAVOURS; do
	case $fl in
	linux-vxlan | linux-vxlan-nogso | vwire-vxlan | vwire-geneve | qemu-dgram) ;;
	*) echo "unknown flavour $fl (linux-vxlan linux-vxlan-nogso vwire-vxlan vwire-geneve qemu-dgram)" >&2; exit 2 ;;
	esac
done
require_root
need=(ip iperf3 python3 ping)
[[ " $FLAVOURS " != *" linux-vxlan-nogso "* ]] || need+=(ethtool)
[[ " $FLAVOURS " != *" qemu-dgram "* ]] || need+=("$QEMU")
require_cmd "${need[@]}"
[[ " $FLAVOURS " != *" vwire-"* ]] || require_vwire
tmp=$E2E_TMP
pids=()
ha=vwvxhA$E2E_SUFFIX hb=vwvxhB$E2E_SUFFIX va=vwvxvA$E2E_SUFFIX vb=vwvxvB$E2E_SUFFIX
# The underlay veth's ends, and the VM's interface (a tap, or a veth for linux-vxlan). They are
# made inside the namespaces above, never in this one; the suffix names them in a capture.
ua=$(e2e_ifname vwvxuA) ub=$(e2e_ifname vwvxuB)
ta=$(e2e_ifname vwvxtA) tb=$(e2e_ifname vwvxtB)

# stop: end the processes of this measurement, by PID.
stop() {
	local p
	for p in "${pids[@]}"; do
		kill_pid "$p"
	done
	pids=()
}

# hosts: the four namespaces and the underlay between hA and hB.
hosts() {
	local ns
	for ns in "$ha" "$hb" "$va" "$vb"; do
		make_netns "$ns"
	done
	ip -n "$ha" link add "$ua" type veth peer name "$ub" netns "$hb"
	ip -n "$ha" addr add "$UNDER_A/24" dev "$ua"
	ip -n "$hb" addr add "$UNDER_B/24" dev "$ub"
	ip -n "$ha" link set "$ua" up
	ip -n "$hb" link set "$ub" up
}

# unhosts: delete the four namespaces, and with them every link in them.
unhosts() {
	local ns
	for ns in "$ha" "$hb" "$va" "$vb"; do
		del_netns "$ns"
	done
}

# vm_if VM DEV ADDR: the VM side of a host, DEV (already in namespace VM) with ADDR/24.
vm_if() {
	ip -n "$1" link set "$2" mtu "$OVERLAY_MTU"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" link set "$2" up
}

# linux_host HOST VM LOCAL REMOTE DEV: the kernel's vxlan vx0 and a veth (DEV in the VM, its
# peer vm0 in the host) on bridge br0.
linux_host() {
	local h=$1 v=$2 local=$3 remote=$4 dev=$5
	ip -n "$h" link add vx0 type vxlan id "$VNI" local "$local" remote "$remote" \
		dstport "$VXLAN_PORT"
	ip -n "$h" link add br0 type bridge
	ip -n "$h" link add vm0 type veth peer name "$dev" netns "$v"
	ip -n "$h" link set vx0 mtu "$OVERLAY_MTU"
	ip -n "$h" link set vm0 mtu "$OVERLAY_MTU"
	ip -n "$h" link set vx0 master br0
	ip -n "$h" link set vm0 master br0
	ip -n "$h" link set vx0 up
	ip -n "$h" link set vm0 up
	ip -n "$h" link set br0 up
	vm_if "$v" "$dev" "$([[ $v == "$va" ]] && echo "$VM_A" || echo "$VM_B")"
}

# _up_or_dead PID HOST TAP: true once TAP exists in HOST or PID has exited (for wait_until).
_up_or_dead() {
	link_present "$3" "$2" || ! pid_alive "$1"
}

# proc_host FLAVOUR HOST VM LOCAL REMOTE TAP: vwire or QEMU inside HOST with TAP and the
# flavour's tunnel on hub 0; once TAP is there it moves into VM. 1 when the process exits first
# or makes no TAP.
proc_host() {
	local fl=$1 h=$2 v=$3 local=$4 remote=$5 tap=$6 log=$tmp/logs/$1-$2
	local tunnel args
	case $fl in
	vwire-vxlan) tunnel="vxlan,id=x,vni=$VNI,local=$local,remote=$remote" ;;
	vwire-geneve) tunnel="geneve,id=x,vni=$VNI,local=$local,remote=$remote" ;;
	qemu-dgram) tunnel="dgram,id=x,local.type=inet,local.host=$local,local.port=$DGRAM_PORT"
		tunnel+=",remote.type=inet,remote.host=$remote,remote.port=$DGRAM_PORT" ;;
	esac
	# vwire's taps carry vnet headers, so that TCP crosses the overlay in GSO frames (cut
	# before wrapping, joined again after); QEMU's dgram takes none.
	local tap_opts="tap,id=t,ifname=$tap,script=no,downscript=no"
	[[ $fl != vwire-* ]] || tap_opts+=",vnet_hdr=on"
	# shellcheck disable=SC2054 # the commas are the netdevs' own
	args=(-netdev "$tap_opts" -netdev "$tunnel"
		-netdev hubport,id=h1,hubid=0,netdev=t -netdev hubport,id=h2,hubid=0,netdev=x)
	case $fl in
	vwire-*) spawn -n "$h" -o "$log.out" "$VWIRE" "${args[@]}" -D "$log.log" ;;
	qemu-*) spawn -n "$h" -o "$log.out" "$QEMU" -M none -nodefaults -display none -nographic \
		"${args[@]}" ;;
	esac
	pids+=("$SPAWN_PID")
	wait_until 10 _up_or_dead "$SPAWN_PID" "$h" "$tap" || true
	link_present "$tap" "$h" || return 1
	ip -n "$h" link set "$tap" netns "$v"
	vm_if "$v" "$tap" "$([[ $v == "$va" ]] && echo "$VM_A" || echo "$VM_B")"
}

_ping_b() {
	ip netns exec "$va" ping -c 1 -W 1 "$VM_B" >/dev/null 2>&1
}

# tunnels FLAVOUR: the flavour's tunnel ends in both hosts, joined to the VMs; 1 when vwire or
# QEMU does not come up.
tunnels() {
	case $1 in
	linux-vxlan*)
		linux_host "$ha" "$va" "$UNDER_A" "$UNDER_B" "$ta"
		linux_host "$hb" "$vb" "$UNDER_B" "$UNDER_A" "$tb"
		if [[ $1 == linux-vxlan-nogso ]]; then
			ip netns exec "$va" ethtool -K "$ta" tso off gso off >/dev/null
			ip netns exec "$vb" ethtool -K "$tb" tso off gso off >/dev/null
		fi
		;;
	*)
		proc_host "$1" "$ha" "$va" "$UNDER_A" "$UNDER_B" "$ta" || return 1
		proc_host "$1" "$hb" "$vb" "$UNDER_B" "$UNDER_A" "$tb" || return 1
		;;
	esac
}

# iperf OUT CLIENT-ARGS...: a one-shot server in vB, the client in vA; its JSON into OUT.
iperf() {
	local out=$1 spid st=0
	shift
	spawn -n "$vb" -o "$tmp/logs/iperf3-server.out" iperf3 -s -1 -p 5201
	spid=$SPAWN_PID
	wait_for_tcp_listen 5201 "$vb" 5 || true
	ip netns exec "$va" iperf3 -c "$VM_B" -p 5201 -J "$@" >"$out" || st=$?
	# The one-shot server ends by itself after its test; kill_pid only waits then.
	kill_pid "$spid" 5
	return "$st"
}

# fail_report FLAVOUR WHAT: say why a measurement of FLAVOUR failed, with its processes' output.
fail_report() {
	local f
	echo "  $1: $2" >&2
	for f in "$tmp"/logs/*; do
		[[ -s $f ]] || continue
		echo "  --- ${f##*/}" >&2
		tail -20 "$f" | sed 's/^/  | /' >&2
	done
}

# measure FLAVOUR: one run; prints "udp_rx_pps tcp_gbps", or "nan nan" when it failed.
measure() {
	local fl=$1 ok=0
	rm -rf "$tmp/logs" "$tmp"/*.json
	mkdir "$tmp/logs"
	hosts
	if ! tunnels "$fl"; then
		fail_report "$fl" "vwire or QEMU did not make its tap"
	elif ! wait_until 10 _ping_b; then
		fail_report "$fl" "no ping from $VM_A to $VM_B in 10 s"
	elif ! iperf "$tmp/udp.json" -u -l 64 -b 0 -t "$SECS" ||
		! iperf "$tmp/tcp.json" -t "$SECS"; then
		fail_report "$fl" "iperf3 failed"
	else
		ok=1
	fi
	stop
	unhosts
	if ((ok == 0)); then
		echo "nan nan"
		return
	fi
	python3 - "$tmp/udp.json" "$tmp/tcp.json" <<'EOF'
import json, sys
udp, tcp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
s = udp["end"]["sum"]
print((s["packets"] - s["lost_packets"]) / s["seconds"],
      tcp["end"]["sum_received"]["bits_per_second"] / 1e9)
EOF
}

load() {
	cut -d' ' -f1-3 /proc/loadavg
}

e2e_log "load average before: $(load)"
for fl in $FLAVOURS; do
	: >"$tmp/$fl.runs"
done
for ((r = 1; r <= RUNS; r++)); do
	for fl in $FLAVOURS; do
		e2e_log "run $r/$RUNS: $fl"
		measure "$fl" >>"$tmp/$fl.runs"
		e2e_log "  $(tail -1 "$tmp/$fl.runs")"
	done
done
e2e_log "load average after: $(load)"

# shellcheck disable=SC2086 # one argument per flavour
python3 - "$tmp" "$SECS" "$RUNS" $FLAVOURS <<'EOF'
import math, statistics, sys
tmp, secs, runs, flavours = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
what = {"linux-vxlan": "linux-vxlan (kernel vxlan + bridge + veth)",
        "linux-vxlan-nogso": "linux-vxlan-nogso (the same, VMs' TSO and GSO off)",
        "vwire-vxlan": "vwire-vxlan (-netdev vxlan)",
        "vwire-geneve": "vwire-geneve (-netdev geneve)",
        "qemu-dgram": "qemu-dgram (QEMU 7.2 -netdev dgram, inet)"}
med = {}
def cell(col, k):
    ok = [c for c in col if not math.isnan(c)]
    failed = len(col) - len(ok)
    if not ok:
        return float("nan"), "failed"
    m = statistics.median(ok)
    s = f"{m * k:.3f} ({min(ok) * k:.3f}-{max(ok) * k:.3f})"
    return m, s + (f", {failed} failed" if failed else "")
print(f"median (and range) of {runs} runs, {secs} s each\n")
print("| tap -> overlay -> overlay -> tap | TCP (Gbit/s) | UDP 64 B received (kpps) |")
print("|---|---:|---:|")
for fl in flavours:
    rows = [list(map(float, l.split())) for l in open(f"{tmp}/{fl}.runs") if l.strip()]
    udp, tcp = cell([r[0] for r in rows], 1e-3), cell([r[1] for r in rows], 1)
    med[fl] = (tcp[0], udp[0])
    print(f"| {what[fl]} | {tcp[1]} | {udp[1]} |")
def ratio(a, b):
    return "n/a" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"
for base in ("linux-vxlan", "qemu-dgram"):
    if "vwire-vxlan" in med and base in med:
        v, b = med["vwire-vxlan"], med[base]
        print(f"| vwire-vxlan / {base} (medians) | {ratio(v[0], b[0])} | {ratio(v[1], b[1])} |")
EOF
# The table is printed either way; a failed run makes the exit status 1.
! grep -q nan "$tmp"/*.runs || e2e_fail "some runs failed (see above)"
