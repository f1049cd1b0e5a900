#!/usr/bin/env bash
# sandbox.sh - what vwire gives up once its command line is created (src/daemon/sandbox.c).
# Promises checked: a forbidden system call kills vwire with a line naming it (stderr and the
# -D log); /proc/PID/status shows no capabilities (CAP_NET_ADMIN alone with a QMP socket),
# NoNewPrivs 1, Seccomp 2 (0 with -sandbox off) and the -runas user; the plain build runs a
# configuration that needs no files in an empty root; -runas nobody -chroot DIR with taps made
# before the drop still carry a ping between two namespaces; a tap made before the filter keeps
# its io_uring ring working under it, a tap QMP adds afterwards (io_uring refused) carries
# traffic with plain calls, and uring=on then is an error naming it, not a SIGSYS; bad
# -runas/-sandbox/-chroot values are refused naming the option and the value, exit 1.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_root
require_cmd ip ping setpriv
require_file /dev/net/tun "tun device"
require_vwire
QMP=$E2E_DIR/lib/qmp.py
id nobody >/dev/null 2>&1 || e2e_skip "no user nobody"

# CAP_NET_ADMIN is capability 12.
CAP_NET_ADMIN_MASK=0000000000001000
NONE=0000000000000000

# field PID NAME - the value of NAME: in /proc/PID/status (first column for Uid/Gid).
field() {
	awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status"
}

# start TAG ARGS... - run vwire with ARGS and -D; wait until it logs that it started.
start() {
	local tag=$1
	shift
	log=$E2E_TMP/$tag.log
	spawn -o "$E2E_TMP/$tag.out" "$VWIRE" "$@" -D "$log"
	pid=$SPAWN_PID
	wait_for_log_line "$log" "started" 10 ||
		{ cat "$E2E_TMP/$tag.out" "$log" 2>/dev/null; e2e_fail "$tag: vwire did not start"; }
}

# expect TAG FIELD VALUE - /proc/$pid/status FIELD is VALUE.
expect() {
	local got
	got=$(field "$pid" "$2")
	[[ $got == "$3" ]] || e2e_fail "$1: $2 is $got, not $3"
}

# (a) A forbidden system call: killed by SIGSYS, with the call named on stderr and in the log.
out=$E2E_TMP/violation.out
set +e
VWIRE_TEST_SANDBOX_VIOLATION=1 "$VWIRE" -netdev hubport,id=h0,hubid=0 -D "$E2E_TMP/violation.log" \
	>"$out" 2>&1
status=$?
set -e
((status == 128 + 31)) || e2e_fail "forbidden system call: exit status $status, not 159 (SIGSYS)"
line='vwire: -sandbox: forbidden system call [0-9]+ \(acct\): terminating'
grep -qE "$line" "$out" || e2e_fail "forbidden system call: stderr says: $(cat "$out")"
grep -qE "$line" "$E2E_TMP/violation.log" || e2e_fail "forbidden system call: not in the -D log"
e2e_log "violation: $(grep -E "$line" "$out")"

# With -sandbox off the same trigger does nothing.
VWIRE_TEST_SANDBOX_VIOLATION=1 start off -netdev hubport,id=h0,hubid=0 -sandbox off
expect "sandbox off" Seccomp 0
expect "sandbox off" NoNewPrivs 1
expect "sandbox off" CapEff "$NONE"
kill_pid "$pid"

# (b) Status of the default sandbox: no capabilities at all, as root; with -runas, the user.
start default -netdev hubport,id=h0,hubid=0
expect default Seccomp 2
expect default NoNewPrivs 1
expect default CapEff "$NONE"
expect default CapPrm "$NONE"
expect default CapBnd "$NONE"
# Nothing needs files at run time: the plain build runs in an empty root (a sanitized one
# keeps the file system for LeakSanitizer).
if [[ $VWIRE != *asan* ]] && [[ -n $(ls -A "/proc/$pid/root/" 2>/dev/null) ]]; then
	e2e_fail "default: the root of vwire is not empty: $(ls -A "/proc/$pid/root/")"
fi
kill_pid "$pid"

qmp=$E2E_TMP/qmp.sock
start qmp -netdev hubport,id=h0,hubid=0 -qmp "unix:$qmp,server=on,wait=off" -runas nobody
expect qmp Uid "$(id -u nobody)"
expect qmp Gid "$(id -g nobody)"
expect qmp Seccomp 2
expect qmp NoNewPrivs 1
# QMP may still create taps: CAP_NET_ADMIN alone.
expect qmp CapEff "$CAP_NET_ADMIN_MASK"
expect qmp CapPrm "$CAP_NET_ADMIN_MASK"
expect qmp CapBnd "$CAP_NET_ADMIN_MASK"
kill_pid "$pid"
# Started by a user without capabilities, with a QMP socket: it has no CAP_NET_ADMIN to keep,
# and runs (it once failed to drop capabilities it never had).
udir=$E2E_TMP/user
mkdir -m 0700 "$udir"
chown nobody "$udir"
chmod 0711 "$E2E_TMP"
spawn -o "$E2E_TMP/user.out" setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$VWIRE" -netdev hubport,id=h0,hubid=0 -qmp "unix:$udir/qmp.sock,server=on,wait=off" \
	-D "$udir/vwire.log"
pid=$SPAWN_PID
wait_for_log_line "$udir/vwire.log" "started" 10 ||
	{ cat "$E2E_TMP/user.out" "$udir/vwire.log" 2>/dev/null; e2e_fail "user with QMP: vwire did not start"; }
expect user Uid "$(id -u nobody)"
expect user Seccomp 2
expect user CapPrm "$NONE"
kill_pid "$pid"
e2e_log "status: Seccomp 2, NoNewPrivs 1, no capabilities (CAP_NET_ADMIN with QMP), user nobody"

# -daemonize: the detached daemon's stdio is /dev/null, opened before the root went away.
hd=hd$E2E_SUFFIX
"$VWIRE" -netdev "hubport,id=$hd,hubid=0" -daemonize -D "$E2E_TMP/daemon.log" ||
	e2e_fail "-daemonize: vwire failed to start"
pid=
for p in /proc/[0-9]*; do
	tr '\0' ' ' <"$p/cmdline" 2>/dev/null | e2e_grep -- "hubport,id=$hd,hubid=0" && pid=${p#/proc/}
done
[[ -n $pid ]] || e2e_fail "-daemonize: no daemon"
record_pid "$pid"
expect daemonize Seccomp 2
[[ $(readlink "/proc/$pid/fd/1") == /dev/null ]] ||
	e2e_fail "-daemonize: stdout is $(readlink "/proc/$pid/fd/1"), not /dev/null"
kill_pid "$pid"

# (c) -runas nobody -chroot: taps made as root before the drop still forward.
ta=$(e2e_ifname vwsA) tb=$(e2e_ifname vwsB)
nsa=vwsA$E2E_SUFFIX nsb=vwsB$E2E_SUFFIX
make_netns "$nsa"
make_netns "$nsb"
root=$E2E_TMP/root
mkdir "$root"
# LeakSanitizer cannot read /proc inside the chroot: no leak check for this run.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	start runas -netdev "tap,id=tA,ifname=$ta" -netdev "tap,id=tB,ifname=$tb" \
	-netdev hubport,id=hA,hubid=0,netdev=tA -netdev hubport,id=hB,hubid=0,netdev=tB \
	-runas nobody -chroot "$root"
expect runas Uid "$(id -u nobody)"
expect runas CapEff "$NONE"
[[ $(readlink "/proc/$pid/root") == "$root" ]] ||
	e2e_fail "runas: root of vwire is $(readlink "/proc/$pid/root"), not $root"
move_tap "$ta" "$nsa" 10.96.1.1/24
move_tap "$tb" "$nsb" 10.96.1.2/24
ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 10.96.1.2 >/dev/null || e2e_fail "runas: ping A->B failed"
ip netns exec "$nsb" ping -c 3 -i 0.2 -W 2 10.96.1.1 >/dev/null || e2e_fail "runas: ping B->A failed"
pid_alive "$pid" || e2e_fail "runas: vwire died"
kill_pid "$pid"
e2e_log "-runas nobody -chroot: ping through two taps and a hub"

# (d) io_uring under the filter: tA's ring, made before it, reads and writes; tB, added by
# QMP, finds io_uring refused and uses plain calls; uring=on is then an error.
sock=$E2E_TMP/uring.qmp
start uring -netdev "tap,id=tA,ifname=$ta" -netdev hubport,id=hA,hubid=0,netdev=tA \
	-qmp "unix:$sock,server=on,wait=off"
expect uring Seccomp 2
python3 "$QMP" "$sock" netdev_add "{\"type\": \"tap\", \"id\": \"tB\", \"ifname\": \"$tb\"}" \
	>/dev/null || e2e_fail "uring: netdev_add tap under the filter failed"
python3 "$QMP" "$sock" netdev_add \
	'{"type": "hubport", "id": "hB", "hubid": 0, "netdev": "tB"}' >/dev/null ||
	e2e_fail "uring: netdev_add hubport failed"
out=$E2E_TMP/uring-on.out
if python3 "$QMP" "$sock" netdev_add '{"type": "tap", "id": "tC", "uring": true}' 2>"$out"; then
	e2e_fail "uring: uring=on under the filter was accepted"
fi
# The filter's EPERM, or whatever kept io_uring from this kernel or build.
want=": Operation not permitted"
uring_available || want=
grep -qF "uring=on:" "$out" && grep -qF "io_uring is not available$want" "$out" ||
	e2e_fail "uring: uring=on says: $(cat "$out")"
move_tap "$ta" "$nsa" 10.96.2.1/24
move_tap "$tb" "$nsb" 10.96.2.2/24
ip netns exec "$nsa" ping -c 20 -i 0.01 -W 2 10.96.2.2 >/dev/null || e2e_fail "uring: ping A->B failed"
pid_alive "$pid" || e2e_fail "uring: vwire died"
read -r ua ca fa ub cb <<<"$(python3 "$QMP" "$sock" query-netdevs | python3 -c '
import json, sys
k = {d["id"]: d["counters"] for d in json.load(sys.stdin) if d["id"] in ("tA", "tB")}
a, b = k["tA"], k["tB"]
print(a["uring"], a["uring-calls"], a["uring-rx-frames"] + a["uring-tx-frames"], b["uring"],
      b["uring-calls"])')"
if uring_available; then
	((ua == 1 && ca > 0 && fa > 0)) || e2e_fail "uring: tA: ring $ua, $ca calls, $fa frames"
else
	((ua == 0)) || e2e_fail "uring: tA has a ring where io_uring is off"
	e2e_log "io_uring is off in this kernel or build: tA uses plain calls too"
fi
((ub == 0 && cb == 0)) || e2e_fail "uring: tB: ring $ub, $cb calls"
e2e_log "io_uring under the filter: tA's ring moved $fa frames in $ca calls; tB uses plain calls"
kill_pid "$pid"

# (e) Bad values: exit 1, naming the option and its value.
bad() { # OPTION VALUE EXPECTED-REGEX
	local o=$E2E_TMP/bad.out st=0
	"$VWIRE" -netdev hubport,id=h0,hubid=0 "$1" "$2" >"$o" 2>&1 || st=$?
	((st == 1)) || e2e_fail "$1 $2: exit status $st, not 1"
	grep -qE "^vwire: $1 $2: $3" "$o" || e2e_fail "$1 $2: says: $(cat "$o")"
	e2e_log "$1 $2: $(head -1 "$o")"
}
bad -runas nosuchuser$E2E_SUFFIX 'user "nosuchuser[0-9]+" does not exist'
bad -runas nobody:nosuchgroup$E2E_SUFFIX 'group "nosuchgroup[0-9]+" does not exist'
bad -sandbox bogus=1 "-sandbox: invalid parameter 'bogus'"
bad -sandbox on,spawn=maybe "invalid argument for spawn: 'maybe'"
bad -sandbox maybe "'maybe' is not on or off"
bad -chroot /nonexistent$E2E_SUFFIX "No such file or directory"
echo "PASS: $E2E_NAME"
