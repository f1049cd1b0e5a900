# shellcheck shell=bash
# common.sh - shared helpers of the vwire end-to-end tests (source it; bash, set -euo pipefail).
# A test makes its namespaces, taps and veths and starts its processes through these helpers;
# each is recorded, and one EXIT trap (e2e_cleanup) kills the recorded PIDs, runs the registered
# cleanup commands, deletes the recorded links and namespaces by name and removes $E2E_TMP.
# Skips exit 77 with a "SKIP:" message naming what is missing.

# Unique per test run: use it in every name the test creates (interface names <= 15 chars).
E2E_SUFFIX=${E2E_SUFFIX:-$$}
E2E_NAME=${E2E_NAME:-$(basename "${BASH_SOURCE[-1]}" .sh)}
# shellcheck disable=SC2034 # used by the tests
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The top of the source tree.
E2E_TOP=$(cd "$E2E_DIR/../.." && pwd)
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vwire-e2e-$E2E_NAME.XXXXXX")
# The daemon under test: tests/run-all.sh sets VWIRE (the ASan+UBSan build) and VWIRE_FAST (the
# plain build); by default the plain build at the top of the tree. See require_vwire.
VWIRE=${VWIRE:-$E2E_TOP/build/vwire}

_E2E_PIDS=()
_E2E_NETNS=()
_E2E_LINKS=()
_E2E_HOOKS=()

# e2e_log MSG... - print a timestamped progress line on stderr.
e2e_log() {
	printf '[%s %s] %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*" >&2
}

# e2e_skip MSG... - skip the test (exit 77).
e2e_skip() {
	echo "SKIP: $E2E_NAME: $*" >&2
	exit 77
}

# e2e_fail MSG... - fail the test (exit 1); the EXIT trap cleans up.
e2e_fail() {
	echo "FAIL: $E2E_NAME: $*" >&2
	exit 1
}

# e2e_grep GREP-ARGS... - whether standard input has a line that grep's arguments match (as
# grep -q), after reading all of it. Not "CMD | grep -q": grep -q leaves at the first match,
# and CMD, if it writes again (bridge and ip flush every line), dies of SIGPIPE, which
# pipefail turns into a failed test.
e2e_grep() {
	local input
	input=$(cat)
	grep -q "$@" <<<"$input"
}

# require_root - skip unless running as root (namespaces, taps).
require_root() {
	[[ $(id -u) == 0 ]] || e2e_skip "needs root"
}

# require_cmd CMD... - skip naming every command that is not in PATH.
require_cmd() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || e2e_skip "missing command(s): ${missing[*]}"
}

# require_file PATH [WHAT] - skip when PATH does not exist.
require_file() {
	[[ -e $1 ]] || e2e_skip "missing ${2:-file} $1"
}

# require_vwire [--fast | --build] - fail unless $VWIRE is an executable. --fast, for scripts
# whose QEMU guests under TCG are slow enough already: use the plain build $VWIRE_FAST when it is
# set. --build, for the bench scripts: when $VWIRE is missing, build the tree's build/ first.
# shellcheck disable=SC2120 # the arguments are optional
require_vwire() {
	local build=$E2E_TOP/build
	case ${1:-} in
	--fast) VWIRE=${VWIRE_FAST:-$VWIRE} ;;
	--build)
		if [[ ! -x $VWIRE ]]; then
			e2e_log "building $build"
			[[ -f $build/build.ninja ]] || meson setup "$build" >/dev/null ||
				e2e_fail "meson setup $build failed"
			ninja -C "$build" >/dev/null || e2e_fail "ninja -C $build failed"
		fi
		;;
	esac
	[[ -x $VWIRE ]] ||
		e2e_fail "no vwire binary at $VWIRE (build it: meson setup build && ninja -C build; or set VWIRE)"
}

# e2e_ifname PREFIX - print PREFIX$E2E_SUFFIX, failing if it exceeds IFNAMSIZ-1 (15).
e2e_ifname() {
	local n=$1$E2E_SUFFIX
	((${#n} <= 15)) || e2e_fail "interface name $n is longer than 15 characters"
	echo "$n"
}

# record_pid PID... - kill these processes (TERM, then KILL) at cleanup.
record_pid() {
	_E2E_PIDS+=("$@")
}

# forget_pid PID - stop tracking PID (it exited and was waited for: its number may be reused).
forget_pid() {
	local i
	for i in "${!_E2E_PIDS[@]}"; do
		[[ ${_E2E_PIDS[i]} != "$1" ]] || unset "_E2E_PIDS[i]"
	done
	_E2E_PIDS=("${_E2E_PIDS[@]}")
}

# on_cleanup CMD - run the shell text CMD at cleanup, after the processes are killed and
# before links and namespaces are deleted (last registered runs first).
on_cleanup() {
	_E2E_HOOKS+=("$1")
}

# spawn [-n NETNS] [-o LOGFILE] CMD [ARG]... - start CMD in the background (inside NETNS if
# given, output to LOGFILE or $E2E_TMP/<cmd>.<n>.log), record its PID, and set SPAWN_PID.
SPAWN_PID=
spawn() {
	local ns='' log=''
	while [[ $# -gt 0 ]]; do
		case $1 in
		-n) ns=$2; shift 2 ;;
		-o) log=$2; shift 2 ;;
		*) break ;;
		esac
	done
	[[ -n $log ]] || log=$E2E_TMP/$(basename "$1").${#_E2E_PIDS[@]}.log
	if [[ -n $ns ]]; then
		# ip netns exec execs the command: the PID is the command's own.
		ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	else
		"$@" </dev/null >"$log" 2>&1 &
	fi
	SPAWN_PID=$!
	record_pid "$SPAWN_PID"
}

# pid_alive PID - true while PID runs (a reaped or zombie process is not alive).
pid_alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

# kill_pid PID [GRACE] - TERM, wait up to GRACE seconds (default 3), then KILL; reap if a child
# and stop tracking it.
kill_pid() {
	local pid=$1 grace=${2:-3} i
	if pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

# stop_vwire_clean PID LOG - SIGTERM the vwire PID (a child of this shell, logging to LOG): it
# must exit with status 0 and LOG must hold no sanitizer report.
stop_vwire_clean() {
	local st=0
	kill -TERM "$1"
	wait "$1" || st=$?
	forget_pid "$1"
	if grep -qE "Sanitizer|runtime error" "$2"; then
		cat "$2"
		e2e_fail "sanitizer report"
	fi
	[[ $st == 0 ]] || { tail -30 "$2"; e2e_fail "vwire exited with $st"; }
}

# make_netns NAME - create network namespace NAME with lo up; deleted at cleanup.
make_netns() {
	ip netns add "$1"
	_E2E_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# del_netns NAME - delete namespace NAME now (one that make_netns made, for a script that
# makes it again); its links go with it.
del_netns() {
	local i
	ip netns del "$1" 2>/dev/null || true
	for i in "${!_E2E_NETNS[@]}"; do
		[[ ${_E2E_NETNS[i]} != "$1" ]] || unset "_E2E_NETNS[i]"
	done
	_E2E_NETNS=("${_E2E_NETNS[@]}")
}

# make_tap NAME [NETNS] - create tap NAME (in NETNS if given), brought up; deleted at cleanup.
make_tap() {
	local name=$1 ns=${2:-}
	if [[ -n $ns ]]; then
		ip -n "$ns" tuntap add dev "$name" mode tap
		ip -n "$ns" link set "$name" up
	else
		ip tuntap add dev "$name" mode tap
		ip link set "$name" up
	fi
	_E2E_LINKS+=("$ns:$name")
}

# make_veth NAME PEER [NETNS [PEER_NETNS]] - create a veth pair, each end moved into its
# namespace if given, both up; deleted at cleanup.
make_veth() {
	local a=$1 b=$2 nsa=${3:-} nsb=${4:-}
	ip link add "$a" type veth peer name "$b"
	_E2E_LINKS+=(":$a")
	if [[ -n $nsa ]]; then
		ip link set "$a" netns "$nsa"
		_E2E_LINKS[-1]="$nsa:$a"
	fi
	[[ -n $nsb ]] && ip link set "$b" netns "$nsb"
	ip ${nsa:+-n "$nsa"} link set "$a" up
	ip ${nsb:+-n "$nsb"} link set "$b" up
}

# link_present DEV [NETNS] - true while link DEV exists (in NETNS if not empty).
link_present() {
	ip ${2:+-n "$2"} link show "$1" >/dev/null 2>&1
}

# link_absent DEV [NETNS] - true once link DEV is gone (from NETNS if not empty).
link_absent() {
	! link_present "$@"
}

# move_tap DEV NETNS [ADDR/PREFIX [MAC]] - move link DEV of this namespace (a tap vwire or QEMU
# made: its fd survives the move) into NETNS, set its MAC and add ADDR if given, bring it up.
move_tap() {
	local dev=$1 ns=$2 addr=${3:-} mac=${4:-}
	ip link set "$dev" netns "$ns"
	[[ -z $mac ]] || ip -n "$ns" link set "$dev" address "$mac"
	[[ -z $addr ]] || ip -n "$ns" addr add "$addr" dev "$dev"
	ip -n "$ns" link set "$dev" up
}

# e2e_cleanup - the EXIT trap: kill recorded processes, run hooks, delete links, namespaces
# and $E2E_TMP (kept when E2E_KEEP=1).  Installed by sourcing this file.
e2e_cleanup() {
	local rc=$? i entry ns name
	set +e
	trap - EXIT INT TERM
	for ((i = ${#_E2E_PIDS[@]} - 1; i >= 0; i--)); do
		kill_pid "${_E2E_PIDS[i]}"
	done
	for ((i = ${#_E2E_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${_E2E_HOOKS[i]}"
	done
	for ((i = ${#_E2E_LINKS[@]} - 1; i >= 0; i--)); do
		entry=${_E2E_LINKS[i]}
		ns=${entry%%:*}
		name=${entry#*:}
		ip ${ns:+-n "$ns"} link del "$name" 2>/dev/null
	done
	for ((i = ${#_E2E_NETNS[@]} - 1; i >= 0; i--)); do
		ip netns del "${_E2E_NETNS[i]}" 2>/dev/null
	done
	if [[ ${E2E_KEEP:-0} == 1 || ($rc != 0 && $rc != 77 && ${E2E_KEEP:-0} == fail) ]]; then
		echo "$E2E_NAME: kept $E2E_TMP" >&2
	else
		rm -rf "$E2E_TMP"
	fi
	exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS CMD... - poll CMD every 0.1 s until it succeeds (0) or SECONDS pass (1,
# silently). CMD runs in this function: its locals have names of their own.
wait_until() {
	local _wu_deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		(($(date +%s%N) <= _wu_deadline)) || return 1
		sleep 0.1
	done
}

# _e2e_wait TIMEOUT WHAT CMD... - wait_until, and on timeout print a message naming WHAT.
_e2e_wait() {
	local timeout=$1 what=$2
	shift 2
	wait_until "$timeout" "$@" || {
		echo "timeout (${timeout}s) waiting for $what" >&2
		return 1
	}
}

# pid_gone PID - true once PID no longer runs (for wait_until).
pid_gone() {
	! pid_alive "$1"
}

# wait_for_file PATH [TIMEOUT] - wait until PATH exists (default 10 s); 1 on timeout.
wait_for_file() {
	_e2e_wait "${2:-10}" "file $1" test -e "$1"
}

# wait_for_socket PATH [TIMEOUT] - wait until PATH is a unix socket (default 10 s).
wait_for_socket() {
	_e2e_wait "${2:-10}" "socket $1" test -S "$1"
}

# wait_for_log_line FILE REGEX [TIMEOUT] - wait until a line of FILE matches the extended
# regular expression REGEX (default 30 s); 1 on timeout.
wait_for_log_line() {
	_e2e_wait "${3:-30}" "/$2/ in $1" grep -qE -- "$2" "$1" 2>/dev/null
}

_e2e_listening() {
	local ns=$1 port=$2
	${ns:+ip netns exec "$ns"} ss -Hltn "sport = :$port" | grep . >/dev/null
}

# wait_for_tcp_listen PORT [NETNS] [TIMEOUT] - wait until a TCP socket listens on PORT
# (inside NETNS if not empty; default 10 s).
wait_for_tcp_listen() {
	_e2e_wait "${3:-10}" "TCP listener on port $1${2:+ in $2}" _e2e_listening "${2:-}" "$1"
}

# wait_for_link DEV [NETNS] [TIMEOUT] - wait until link DEV exists (in NETNS if not empty;
# default 10 s); 1 on timeout.
wait_for_link() {
	_e2e_wait "${3:-10}" "link $1${2:+ in $2}" link_present "$1" "${2:-}"
}

# free_port [tcp|udp] - print a port of 127.0.0.1 free at this moment (default tcp).
# shellcheck disable=SC2120 # the arguments are optional
free_port() {
	python3 - "${1:-tcp}" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

# iperf3_mbits - read iperf3's text output (-f m) on stdin; print the receiver's Mbit/s
# (nothing when there is no receiver line).
iperf3_mbits() {
	awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }'
}

# uring_available - whether vwire's taps can have io_uring rings here: the kernel allows
# io_uring (kernel.io_uring_disabled is 0, or absent) and $VWIRE was built with liburing.
uring_available() {
	local d=/proc/sys/kernel/io_uring_disabled
	[[ ! -r $d || $(cat "$d") == 0 ]] && ldd "$VWIRE" 2>/dev/null | grep -q liburing
}

# iperf3_tcp_gbits SERVER_NETNS CLIENT_NETNS ADDR SECONDS [DECIMALS] - a one-shot iperf3 server
# (port 5201) in SERVER_NETNS and SECONDS of TCP to it at ADDR from CLIENT_NETNS; print the
# Gbit/s the server received (DECIMALS decimals, default 3). 1 when either side fails.
iperf3_tcp_gbits() {
	local sns=$1 cns=$2 addr=$3 secs=$4 dec=${5:-3} spid json
	ip netns exec "$sns" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
	spid=$!
	if ! wait_for_tcp_listen 5201 "$sns" ||
		! json=$(ip netns exec "$cns" iperf3 -c "$addr" -p 5201 -t "$secs" -J); then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		return 1
	fi
	wait "$spid" || true
	python3 -c 'import json, sys
print("%.*f" % (int(sys.argv[1]),
                json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' \
		"$dec" <<<"$json"
}

# cpu_ticks PID - user + system clock ticks the whole process has used so far.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ratio A B - print A / B with two decimals, or n/a when B is not a positive number.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}
