#!/usr/bin/env bash
# iothread.sh - -object iothread, without root.
# Promises checked: bad iothread options and duplicate ids are refused naming them, with a
# non-zero status, as is -device ...,iothread= naming an unknown iothread; QMP device_add on
# an iothread refuses a netdev of the main loop (made by netdev_add) naming both; a running
# daemon (sandboxed) has one thread per iothread, named "IO <id>", sandboxed as the main
# thread (capabilities; mount namespace and root when it has no files left) and listed by
# QMP query-iothreads with its poll-max-ns; QMP object-add makes one at run time under the seccomp filter and object-del stops it;
# SIGTERM stops and joins them all, exit 0.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP=$E2E_DIR/lib/qmp.py
require_cmd python3
require_vwire

sock=$E2E_TMP/qmp.sock
vsock=$E2E_TMP/vhost.sock
out=$E2E_TMP/out
hp=hubport,id=h0,hubid=0
checks=0

qmp() { python3 "$QMP" "$sock" "$@"; }

# expect_fail EXPECTED_STDERR ARGS...: vwire must exit non-zero and print EXPECTED_STDERR.
expect_fail() {
	local want=$1 rc=0
	shift
	timeout 10 "$VWIRE" "$@" >"$out" 2>&1 || rc=$?
	((rc != 0)) || e2e_fail "'vwire $*' succeeded"
	((rc != 124)) || e2e_fail "'vwire $*' did not exit"
	grep -qF -- "$want" "$out" || e2e_fail "'vwire $*': expected '$want', got: $(cat "$out")"
	checks=$((checks + 1))
}

# 1. Bad options, each named.
expect_fail "vwire: -object iothread,id=io1,poll-max-ns=abc: poll-max-ns=abc: expected a non-negative number" \
	-object iothread,id=io1,poll-max-ns=abc -netdev $hp
expect_fail "vwire: -object iothread,id=io1,poll-max-ns=-1: poll-max-ns=-1: expected a non-negative number" \
	-object iothread,id=io1,poll-max-ns=-1 -netdev $hp
expect_fail "vwire: -object iothread,id=io1,colour=red: -object iothread: invalid parameter 'colour'" \
	-object iothread,id=io1,colour=red
expect_fail "vwire: -object iothread,poll-max-ns=5: Parameter 'id' is missing" \
	-object iothread,poll-max-ns=5
expect_fail "vwire: -object iothread,id=io1: Duplicate ID 'io1' for object" \
	-object iothread,id=io1 -object iothread,id=io1
expect_fail "iothread=io9: no such iothread" \
	-netdev $hp -device "virtio-net,netdev=h0,socket=$vsock,iothread=io9"
[[ ! -e $vsock ]] || e2e_fail "a refused device left its socket behind"

# 2. A running daemon, sandboxed as by default.
spawn -o "$E2E_TMP/vwire.log" "$VWIRE" -qmp "unix:$sock,server=on,wait=off" \
	-object iothread,id=io1,poll-max-ns=1000 -netdev $hp
pid=$SPAWN_PID main=$SPAWN_PID
wait_for_socket "$sock" || e2e_fail "no QMP socket: $(cat "$E2E_TMP/vwire.log")"

# thread_of ID: the thread-id query-iothreads gives ID, with its poll-max-ns ("TID NS").
thread_of() {
	qmp query-iothreads | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["id"] == sys.argv[1]:
        print(t["thread-id"], t["poll-max-ns"])' "$1"
}
# comm_of TID: the kernel's name of a thread of the daemon.
comm_of() { cat "/proc/$pid/task/$1/comm" 2>/dev/null || true; }

read -r tid ns <<<"$(thread_of io1)"
[[ -n $tid && $tid != 0 ]] || e2e_fail "query-iothreads: no io1: $(qmp query-iothreads)"
[[ $ns == 1000 ]] || e2e_fail "io1: poll-max-ns $ns, expected 1000"
[[ $(comm_of "$tid") == "IO io1" ]] || e2e_fail "thread $tid is '$(comm_of "$tid")', not 'IO io1'"
checks=$((checks + 1))

# sandbox_of TID: what the sandbox takes away, as the thread has it (capabilities, mount
# namespace, root): the same for every thread, the command line's iothreads included.
sandbox_of() {
	local t=/proc/$pid/task/$1
	echo "$(grep CapEff "$t/status") $(readlink "$t/ns/mnt") $(readlink "$t/root")"
}
[[ $(sandbox_of "$tid") == "$(sandbox_of "$pid")" ]] ||
	e2e_fail "io1 escaped the sandbox: '$(sandbox_of "$tid")', main: '$(sandbox_of "$pid")'"
checks=$((checks + 1))

# At run time, under the seccomp filter: a thread is made, and stopped again.
qmp object-add '{"qom-type": "iothread", "id": "io2"}' >/dev/null
read -r tid2 ns <<<"$(thread_of io2)"
[[ -n $tid2 && $tid2 != 0 ]] || e2e_fail "object-add io2: not listed: $(qmp query-iothreads)"
[[ $ns == 32768 ]] || e2e_fail "io2: poll-max-ns $ns, expected the default 32768"
[[ $(comm_of "$tid2") == "IO io2" ]] || e2e_fail "thread $tid2 is '$(comm_of "$tid2")'"
[[ $(sandbox_of "$tid2") == "$(sandbox_of "$pid")" ]] || e2e_fail "io2 escaped the sandbox"
if qmp object-add '{"qom-type": "iothread", "id": "io2"}' 2>"$out"; then
	e2e_fail "a second io2 was made"
fi
grep -qF "Duplicate ID 'io2'" "$out" || e2e_fail "duplicate io2: $(cat "$out")"
if qmp device_add "{\"driver\": \"virtio-net\", \"netdev\": \"h0\", \"socket\": \"$vsock\", \"iothread\": \"io2\"}" 2>"$out"; then
	e2e_fail "device_add with iothread= worked"
fi
grep -qF "netdev=h0: it runs on another thread than the device (iothread=io2)" "$out" ||
	e2e_fail "device_add iothread=io2: $(cat "$out")"
qmp object-del '{"id": "io2"}' >/dev/null
[[ -z $(thread_of io2) ]] || e2e_fail "object-del io2: still listed"
wait_until 5 test ! -e "/proc/$pid/task/$tid2" || e2e_fail "object-del io2: thread $tid2 still runs"
[[ $(comm_of "$tid") == "IO io1" ]] || e2e_fail "io1 went away with io2"
pid_alive "$pid" || e2e_fail "vwire died: $(cat "$E2E_TMP/vwire.log")"
checks=$((checks + 1))

# 3. Without QMP nor pid file the sandbox takes the file system away too (as root): the
# iothreads are started after it, in the same mount namespace and root as the main thread.
spawn -o "$E2E_TMP/bare.log" "$VWIRE" -object iothread,id=io3 -netdev $hp
bare=$SPAWN_PID
wait_until 10 grep -qs "started" "$E2E_TMP/bare.log" || e2e_fail "bare: $(cat "$E2E_TMP/bare.log")"
tid3=
for t in /proc/"$bare"/task/*; do
	[[ $(cat "$t/comm" 2>/dev/null) == "IO io3" ]] && tid3=${t##*/}
done
[[ -n $tid3 ]] || e2e_fail "bare: no thread 'IO io3'"
pid=$bare
[[ $(sandbox_of "$tid3") == "$(sandbox_of "$bare")" ]] ||
	e2e_fail "io3 escaped the sandbox: '$(sandbox_of "$tid3")', main: '$(sandbox_of "$bare")'"
kill_pid "$bare"
checks=$((checks + 1))
pid=$main

# 4. SIGTERM: the iothreads are stopped and joined, exit 0.
kill -TERM "$pid"
wait_until 10 pid_gone "$pid" || e2e_fail "vwire did not stop on SIGTERM"
rc=0
wait "$pid" || rc=$?
forget_pid "$pid"
((rc == 0)) || e2e_fail "exit status $rc after SIGTERM: $(cat "$E2E_TMP/vwire.log")"
if grep -qiE "error|sanitizer|forbidden" "$E2E_TMP/vwire.log"; then
	e2e_fail "vwire's log: $(cat "$E2E_TMP/vwire.log")"
fi
checks=$((checks + 1))

echo "iothread: $checks checks passed"
