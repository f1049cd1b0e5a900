# shellcheck shell=bash
# guest.sh - boot and drive the vwire test guest (tests/e2e/guest) under QEMU TCG.
# Source after common.sh.  guest_boot starts qemu-system-x86_64 with the cached kernel and
# initramfs, the console (ttyS0) in $E2E_TMP/guest-NAME/serial.log and the command channel
# (ttyS1) on the FIFOs ctl.in/ctl.out, which this shell keeps open; guest_run writes
# "TAG BASE64(command)" to ctl.in and reads the answer up to "VWIRE-CTL-END TAG rc=N" from
# ctl.out.  QEMU's PID is recorded, so the EXIT trap of common.sh kills a guest left running.

GUEST_QEMU=${GUEST_QEMU:-qemu-system-x86_64}
# Kernel parameters of every boot: serial console, no reboot loop on panic, and options that
# make a TCG boot faster (no mitigations to pay for, no TSC checks against slow timers).
GUEST_BASE_APPEND="console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable no_timer_check"
GUEST_KERNEL=
GUEST_INITRD=
# Seconds from guest_boot to VWIRE-GUEST-READY of the last guest_wait_ready.
# shellcheck disable=SC2034 # read by the tests
GUEST_BOOT_SECONDS=

declare -A _GUEST_PID=() _GUEST_DIR=() _GUEST_IN=() _GUEST_OUT=() _GUEST_T0=() _GUEST_RC=()

# guest_build - build (or find up to date) the guest kernel and initramfs; sets GUEST_KERNEL
# and GUEST_INITRD.  Skips the test (77) when a tool or package the build needs is missing.
guest_build() {
	local dir rc=0
	[[ -n $GUEST_KERNEL ]] && return 0
	dir=$("$E2E_DIR/guest/build-initramfs.sh") || rc=$?
	((rc != 77)) || e2e_skip "test guest cannot be built (see message above)"
	((rc == 0)) || e2e_fail "building the test guest failed (rc $rc)"
	GUEST_KERNEL=$dir/kernel
	GUEST_INITRD=$dir/initramfs.cpio
}

_guest_known() {
	[[ -n ${_GUEST_DIR[$1]:-} ]] || e2e_fail "no guest named '$1'"
}

# guest_boot NAME [OPTION]... [-- QEMU_ARG...] - start guest NAME in the background.
# Options (each adds a vwire.* kernel parameter, see tests/e2e/guest/build-initramfs.sh):
#   --ip ADDR/PREFIX  --ip6 ADDR/PREFIX  --gw ADDR  --dhcp  --mtu N
#   --cmd TEXT     shell text run once ready; see guest_wait_result
#   --poweroff     power off after --cmd (or right after boot without one)
#   --no-ctl       no command channel (guest_run unavailable)
#   --append TEXT  more kernel parameters
#   --netns NS     run QEMU inside network namespace NS (taps there are opened by QEMU)
#   --mem MIB      guest RAM (default 512), a shared memfd backend as vhost-user needs
#   --smp N        vCPUs (default 1)
# QEMU_ARGs follow "--": the NICs, e.g. -netdev tap,id=n0,ifname=T,script=no,downscript=no
# -device virtio-net-pci,netdev=n0.  Sets GUEST_PID.  Returns at once; see guest_wait_ready.
# A NAME may be booted again once its QEMU has exited (logs go to guest-NAME.2/ and so on).
GUEST_PID=
guest_boot() {
	local name=$1 ns='' mem=512 smp=1 append=$GUEST_BASE_APPEND dir
	shift
	if [[ -n ${_GUEST_DIR[$name]:-} ]]; then
		! pid_alive "${_GUEST_PID[$name]}" || e2e_fail "guest '$name' is already running"
		_guest_close "$name"
		unset "_GUEST_RC[$name]"
	fi
	while [[ $# -gt 0 ]]; do
		case $1 in
		--ip) append+=" vwire.ip=$2"; shift 2 ;;
		--ip6) append+=" vwire.ip6=$2"; shift 2 ;;
		--gw) append+=" vwire.gw=$2"; shift 2 ;;
		--mtu) append+=" vwire.mtu=$2"; shift 2 ;;
		--dhcp) append+=" vwire.dhcp=1"; shift ;;
		--cmd) append+=" vwire.cmd64=$(printf '%s' "$2" | base64 -w0)"; shift 2 ;;
		--poweroff) append+=" vwire.poweroff=1"; shift ;;
		--no-ctl) append+=" vwire.ctl=0"; shift ;;
		--append) append+=" $2"; shift 2 ;;
		--netns) ns=$2; shift 2 ;;
		--mem) mem=$2; shift 2 ;;
		--smp) smp=$2; shift 2 ;;
		--) shift; break ;;
		*) e2e_fail "guest_boot: unknown option $1" ;;
		esac
	done
	((${#append} < 2000)) || e2e_fail "guest_boot: kernel command line too long"
	guest_build
	guest_prepare "$name"
	dir=$GUEST_DIR
	# QEMU 7.2 under TCG drops a guest's memory barriers when maxcpus is 1 (it then thinks no
	# other CPU can watch): the guest's avail->idx store and vwire's avail_event store cross and
	# a kick is lost. maxcpus of 2 or more keeps the barriers; vwire survives a lost kick anyway
	# (it re-checks idle rings), but a test should not depend on that to be quick.
	local maxcpus=$((smp < 2 ? 2 : smp))
	${ns:+ip netns exec "$ns"} "$GUEST_QEMU" \
		-name "vwire-$name" -accel tcg -machine pc -smp "$smp,maxcpus=$maxcpus" -m "${mem}M" \
		-object "memory-backend-memfd,id=mem,size=${mem}M,share=on" -numa node,memdev=mem \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$append" \
		-chardev "file,id=con,path=$dir/serial.log" -serial chardev:con \
		-chardev "pipe,id=ctl,path=$dir/ctl" -serial chardev:ctl \
		-qmp "unix:$dir/qmp.sock,server=on,wait=off" \
		"$@" </dev/null >"$dir/qemu.log" 2>&1 &
	GUEST_PID=$!
	_GUEST_PID[$name]=$GUEST_PID
	record_pid "$GUEST_PID"
}

# guest_prepare NAME - the work dir of a guest about to boot, for a test that starts QEMU
# itself (e.g. through libvirt): the console log serial.log and the command channel FIFOs
# ctl.in/ctl.out (QEMU's "-chardev pipe,path=DIR/ctl" on the second serial port), which this
# shell keeps open. Sets GUEST_DIR. Then guest_adopt NAME PID once QEMU runs.
GUEST_DIR=
guest_prepare() {
	local name=$1 dir fin fout i
	# A name booted again gets a new dir, so the earlier logs stay for a post-mortem.
	dir=$E2E_TMP/guest-$name
	i=1
	while [[ -e $dir ]]; do
		dir=$E2E_TMP/guest-$name.$((++i))
	done
	mkdir -p "$dir"
	mkfifo "$dir/ctl.in" "$dir/ctl.out"
	: >"$dir/serial.log"
	_GUEST_DIR[$name]=$dir
	# Read-write opens never block and keep the FIFOs alive whatever QEMU does.
	exec {fin}<>"$dir/ctl.in" {fout}<>"$dir/ctl.out"
	_GUEST_IN[$name]=$fin
	_GUEST_OUT[$name]=$fout
	_GUEST_T0[$name]=$(date +%s%N)
	GUEST_DIR=$dir
}

# guest_adopt NAME PID - the QEMU of guest NAME (prepared by guest_prepare) is PID, started by
# someone else: guest_wait_ready and guest_run work on it. Not recorded for the EXIT trap:
# whoever started it stops it.
guest_adopt() {
	_guest_known "$1"
	_GUEST_PID[$1]=$2
}

# guest_pid NAME / guest_log NAME / guest_dir NAME / guest_qmp NAME - QEMU's PID, the
# console log, the guest's work dir, QEMU's QMP socket path.
guest_pid() { _guest_known "$1"; echo "${_GUEST_PID[$1]}"; }
guest_log() { _guest_known "$1"; echo "${_GUEST_DIR[$1]}/serial.log"; }
guest_dir() { _guest_known "$1"; echo "${_GUEST_DIR[$1]}"; }
guest_qmp() { _guest_known "$1"; echo "${_GUEST_DIR[$1]}/qmp.sock"; }

# guest_dump NAME - print the end of the console and QEMU logs on stderr (for failures).
guest_dump() {
	local dir=${_GUEST_DIR[$1]:-}
	[[ -n $dir ]] || return 0
	{
		echo "--- guest $1: qemu.log"
		tail -n 20 "$dir/qemu.log"
		echo "--- guest $1: serial.log (last 40 lines)"
		tail -n 40 "$dir/serial.log" | tr -d '\r'
		echo "---"
	} >&2
}

# guest_wait_ready NAME [TIMEOUT] - wait (default 120 s) for VWIRE-GUEST-READY; sets
# GUEST_BOOT_SECONDS.  Returns 1, with the logs on stderr, on timeout or if QEMU exits.
guest_wait_ready() {
	local name=$1 timeout=${2:-120} log deadline
	_guest_known "$name"
	log=${_GUEST_DIR[$name]}/serial.log
	deadline=$((_GUEST_T0[$name] + timeout * 1000000000))
	until grep -q '^VWIRE-GUEST-READY' "$log"; do
		if ! pid_alive "${_GUEST_PID[$name]}"; then
			echo "guest $name: QEMU exited before the guest was ready" >&2
			guest_dump "$name"
			return 1
		fi
		if (($(date +%s%N) > deadline)); then
			echo "guest $name: not ready after ${timeout}s" >&2
			guest_dump "$name"
			return 1
		fi
		sleep 0.05
	done
	# shellcheck disable=SC2034 # read by the tests
	GUEST_BOOT_SECONDS=$(awk -v ns=$(($(date +%s%N) - _GUEST_T0[$name])) \
		'BEGIN { printf "%.2f", ns / 1e9 }')
	grep -a 'VWIRE-ERROR' "$log" | tr -d '\r' >&2 || true
}

# guest_run NAME [-t TIMEOUT] COMMAND... - run COMMAND (shell text, the words joined by
# spaces) in the guest through the ttyS1 channel; print its stdout+stderr and return its exit
# status.  Waits for the guest to be ready first.  Returns 124 after TIMEOUT seconds (default
# 60) without an answer, 125 if QEMU exits.  Commands run one at a time, in order; start
# servers in the background with their own redirections ("iperf3 -s -D", "cmd >/tmp/x 2>&1 &").
guest_run() {
	local name=$1 timeout=60 tag line partial='' started=0 deadline prefix in out
	shift
	if [[ ${1:-} == -t ]]; then
		timeout=$2
		shift 2
	fi
	_guest_known "$name"
	grep -q '^VWIRE-GUEST-READY' "${_GUEST_DIR[$name]}/serial.log" ||
		guest_wait_ready "$name" || return 125
	in=${_GUEST_IN[$name]}
	out=${_GUEST_OUT[$name]}
	tag=$(date +%s%N)$RANDOM
	printf '%s %s\n' "$tag" "$(printf '%s' "$*" | base64 -w0)" >&"$in"
	deadline=$(($(date +%s) + timeout))
	while :; do
		if ! IFS= read -r -t 1 -u "$out" line; then
			# A timed-out read keeps the bytes it consumed: hold them for the next one.
			partial+=$line
			if ! pid_alive "${_GUEST_PID[$name]}"; then
				echo "guest $name: QEMU exited during '$*'" >&2
				return 125
			fi
			if (($(date +%s) >= deadline)); then
				echo "guest $name: no answer to '$*' after ${timeout}s" >&2
				return 124
			fi
			continue
		fi
		line=$partial$line
		partial=
		if ((started == 0)); then
			[[ $line == *"VWIRE-CTL-BEGIN $tag" ]] && started=1
			continue
		fi
		if [[ $line == *"VWIRE-CTL-END $tag rc="* ]]; then
			prefix=${line%%VWIRE-CTL-END "$tag"*}
			[[ -z $prefix ]] || printf '%s\n' "$prefix"
			return "${line##*rc=}"
		fi
		printf '%s\n' "$line"
	done
}

# guest_fetch_check NAME URL FILE [TIMEOUT] - the guest downloads URL (wget, default 60 s);
# fail the test unless what it got is the host's FILE, byte for byte (SHA-256).
guest_fetch_check() {
	local name=$1 url=$2 file=$3 timeout=${4:-60} sum_host sum_guest
	sum_host=$(sha256sum <"$file" | cut -d' ' -f1)
	sum_guest=$(guest_run "$name" -t "$timeout" "wget -q -O - $url | sha256sum | cut -d' ' -f1") ||
		e2e_fail "guest $name: fetching $url failed"
	[[ $sum_guest == "$sum_host" ]] || e2e_fail "guest $name: $url differs: $sum_guest != $sum_host"
}

# guest_wait_result NAME [TIMEOUT] - wait (default 120 s) for the --cmd command to finish;
# print its output (the console lines between VWIRE-CMD-BEGIN and VWIRE-RESULT) and return
# its exit status (124 on timeout, 125 if QEMU exits first).
guest_wait_result() {
	local name=$1 timeout=${2:-120} log deadline rc
	_guest_known "$name"
	log=${_GUEST_DIR[$name]}/serial.log
	deadline=$(($(date +%s) + timeout))
	until grep -q '^VWIRE-RESULT: rc=' "$log"; do
		if ! pid_alive "${_GUEST_PID[$name]}"; then
			grep -q '^VWIRE-RESULT: rc=' "$log" && break
			echo "guest $name: QEMU exited before the command finished" >&2
			guest_dump "$name"
			return 125
		fi
		if (($(date +%s) >= deadline)); then
			echo "guest $name: command did not finish in ${timeout}s" >&2
			guest_dump "$name"
			return 124
		fi
		sleep 0.1
	done
	tr -d '\r' <"$log" | awk '/^VWIRE-RESULT: rc=/ { exit } on { print } /^VWIRE-CMD-BEGIN/ { on = 1 }'
	rc=$(tr -d '\r' <"$log" | sed -n 's/^VWIRE-RESULT: rc=\([0-9]*\).*/\1/p' | head -n1)
	return "$rc"
}

# guest_iperf3_best NAME RUNS DECIMALS IPERF3_ARG... - run "iperf3 IPERF3_ARG... -f m" in the
# guest RUNS times (120 s each at the most); print the best rate its receiver reported, in
# Gbit/s with DECIMALS decimals (0 when no run reported one).
guest_iperf3_best() {
	local name=$1 runs=$2 dec=$3 best=0 out g r
	shift 3
	for ((r = 0; r < runs; r++)); do
		out=$(guest_run "$name" -t 120 "iperf3 $* -f m") || continue
		g=$(iperf3_mbits <<<"$out" | awk -v d="$dec" '{ printf "%." d "f", $1 / 1000 }')
		best=$(awk -v a="$best" -v b="${g:-0}" 'BEGIN { print (b > a) ? b : a }')
	done
	echo "$best"
}

# guest_wait_exit NAME [TIMEOUT] - wait (default 30 s) for QEMU to exit on its own (e.g. after
# --poweroff); return QEMU's exit status, or 124 on timeout.
guest_wait_exit() {
	local name=$1 timeout=${2:-30} pid i
	_guest_known "$name"
	pid=${_GUEST_PID[$name]}
	for ((i = 0; i < timeout * 10; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	pid_alive "$pid" && return 124
	_guest_close "$name"
	# Bash gives a child's status to one wait only: keep it for later callers.
	if [[ -z ${_GUEST_RC[$name]:-} ]]; then
		_GUEST_RC[$name]=0
		wait "$pid" || _GUEST_RC[$name]=$?
		forget_pid "$pid"
	fi
	return "${_GUEST_RC[$name]}"
}

_guest_close() {
	local in=${_GUEST_IN[$1]:-} out=${_GUEST_OUT[$1]:-}
	[[ -n $in ]] && exec {in}>&-
	[[ -n $out ]] && exec {out}>&-
	_GUEST_IN[$1]=
	_GUEST_OUT[$1]=
}

# guest_stop NAME [TIMEOUT] - power the guest off through the command channel (SIGTERM to
# QEMU when the guest has none) and wait (default 20 s) for QEMU to exit; kill QEMU if it does
# not.  Returns 0 on a clean exit, 1 if QEMU had to be killed or failed.
guest_stop() {
	local name=$1 timeout=${2:-20} pid rc=0
	_guest_known "$name"
	pid=${_GUEST_PID[$name]}
	if pid_alive "$pid"; then
		if [[ -n ${_GUEST_IN[$name]:-} ]] &&
			grep -q '^VWIRE-GUEST-READY' "${_GUEST_DIR[$name]}/serial.log" &&
			! tr '\0' ' ' <"/proc/$pid/cmdline" | e2e_grep 'vwire\.ctl=0'; then
			printf 'stop %s\n' "$(printf 'poweroff -f' | base64 -w0)" >&"${_GUEST_IN[$name]}"
		else
			kill -TERM "$pid" 2>/dev/null || true
		fi
	fi
	guest_wait_exit "$name" "$timeout" || rc=$?
	if ((rc == 124)); then
		echo "guest $name: QEMU still running after ${timeout}s, killing it" >&2
		kill_pid "$pid"
		_guest_close "$name"
		return 1
	fi
	((rc == 0)) || { echo "guest $name: QEMU exited with status $rc" >&2; return 1; }
}
