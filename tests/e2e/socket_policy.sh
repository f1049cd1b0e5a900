#!/usr/bin/env bash
# socket_policy.sh - the unix socket policy of every listener (vhost-user, QMP, stream, dgram
# and the built-in default's socket), without root.
# Promises checked: a second vwire on a path a running one listens on fails with "PATH is in
# use by another process" and status 1, leaves nothing behind, and the first one stays
# reachable with its socket files in place after the second exits; a stale socket file (its
# owner killed) is replaced; a regular file or a symlink at the path is refused and left
# alone; at exit vwire removes its own socket files but not one that replaced them.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP=$E2E_DIR/lib/qmp.py
require_cmd python3
require_vwire

q1=$E2E_TMP/q1.sock q2=$E2E_TMP/q2.sock
vs=$E2E_TMP/vhost.sock ss=$E2E_TMP/stream.sock
dl=$E2E_TMP/dgram-local.sock dr=$E2E_TMP/dgram-remote.sock
out=$E2E_TMP/out

# connects PATH: a stream connect() to PATH succeeds.
connects() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}

# start_first: a vwire listening on all four paths; sets first.
start_first() {
	spawn -o "$E2E_TMP/first.out" "$VWIRE" -qmp "unix:$q1,server=on,wait=off" \
		-netdev hubport,id=h0,hubid=0 -device "virtio-net,id=v0,netdev=h0,socket=$vs" \
		-netdev "stream,id=s0,server=on,addr.type=unix,addr.path=$ss" \
		-netdev "dgram,id=d0,local.type=unix,local.path=$dl,remote.type=unix,remote.path=$dr"
	first=$SPAWN_PID
	for p in "$q1" "$vs" "$ss" "$dl"; do
		wait_for_socket "$p" || e2e_fail "first vwire: no $p: $(cat "$E2E_TMP/first.out")"
	done
}

# first_intact WHAT: the first vwire runs, answers QMP and keeps all its socket files.
first_intact() {
	local p
	pid_alive "$first" || e2e_fail "$1: the first vwire died: $(cat "$E2E_TMP/first.out")"
	python3 "$QMP" "$q1" query-version | e2e_grep '"qemu"' ||
		e2e_fail "$1: the first vwire does not answer QMP"
	for p in "$q1" "$vs" "$ss" "$dl"; do
		[[ -S $p ]] || e2e_fail "$1: $p is gone"
	done
	connects "$vs" || e2e_fail "$1: the first vwire's vhost-user socket does not answer"
	connects "$ss" || e2e_fail "$1: the first vwire's stream socket does not answer"
}

# expect_refused WANT ARGS...: vwire (with its own QMP socket $q2) exits 1 naming WANT, and
# leaves no $q2 behind.
expect_refused() {
	local want=$1 rc=0
	shift
	timeout 10 "$VWIRE" -qmp "unix:$q2,server=on,wait=off" "$@" >"$out" 2>&1 || rc=$?
	((rc == 1)) || e2e_fail "'vwire $*': status $rc, not 1: $(cat "$out")"
	grep -qF -- "$want" "$out" || e2e_fail "'vwire $*': no '$want' in: $(cat "$out")"
	[[ ! -e $q2 ]] || e2e_fail "'vwire $*': left $q2 behind"
}

start_first
first_intact "start"

# A second vwire on each of the first one's paths.
expect_refused "$vs is in use by another process" \
	-netdev hubport,id=h0,hubid=0 -device "virtio-net,id=v0,netdev=h0,socket=$vs"
first_intact "second vwire on the vhost-user socket"
rc=0
timeout 10 "$VWIRE" -qmp "unix:$q1,server=on,wait=off" >"$out" 2>&1 || rc=$?
((rc == 1)) || e2e_fail "second vwire on the QMP socket: status $rc: $(cat "$out")"
grep -qF "$q1 is in use by another process" "$out" ||
	e2e_fail "second vwire on the QMP socket: $(cat "$out")"
first_intact "second vwire on the QMP socket"
expect_refused "$ss is in use by another process" \
	-netdev "stream,id=s0,server=on,addr.type=unix,addr.path=$ss"
first_intact "second vwire on the stream socket"
expect_refused "$dl is in use by another process" \
	-netdev "dgram,id=d0,local.type=unix,local.path=$dl,remote.type=unix,remote.path=$E2E_TMP/x"
first_intact "second vwire on the dgram socket"
# netdev_add at run time follows the same rule, inside the running vwire too.
rc=0
python3 "$QMP" "$q1" netdev_add "{\"type\": \"stream\", \"id\": \"s1\", \"server\": true,
	\"addr\": {\"type\": \"unix\", \"path\": \"$vs\"}}" >"$out" 2>&1 || rc=$?
if ((rc != 1)) || ! grep -qF "$vs is in use by another process" "$out"; then
	e2e_fail "netdev_add on the vhost-user socket: status $rc: $(cat "$out")"
fi
first_intact "netdev_add on the vhost-user socket"
e2e_log "a second vwire on any of the first one's sockets is refused; the first is intact"

# Stale files: the first one killed outright leaves them; a new vwire replaces them all.
kill -KILL "$first"
{ wait "$first"; } 2>/dev/null || true
forget_pid "$first"
for p in "$q1" "$vs" "$ss" "$dl"; do
	[[ -S $p ]] || e2e_fail "SIGKILL: $p is gone (no stale file to test with)"
	! connects "$p" || e2e_fail "SIGKILL: $p still answers"
done
start_first
first_intact "stale files replaced"
e2e_log "stale socket files are replaced"

# At exit: our own files are removed, but not a socket someone put in place of ours.
python3 - "$ss" <<'PY' &
import os, socket, sys, time
tmp = sys.argv[1] + ".other"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(tmp)
s.listen(1)
os.rename(tmp, sys.argv[1])
time.sleep(30)
PY
other=$!
record_pid "$other"
wait_until 5 connects "$ss" || e2e_fail "the other socket at $ss does not answer"
kill_pid "$first"
for p in "$q1" "$vs" "$dl"; do
	[[ ! -e $p ]] || e2e_fail "exit: $p left behind"
done
[[ -S $ss ]] || e2e_fail "exit: vwire removed the socket that replaced its own at $ss"
connects "$ss" || e2e_fail "exit: the socket that replaced vwire's at $ss does not answer"
kill_pid "$other"
rm -f "$ss"
e2e_log "at exit, only vwire's own socket files are removed"

# Not a socket: a regular file or a symlink is refused and left alone.
echo data >"$vs"
expect_refused "$vs exists and is not a socket" \
	-netdev hubport,id=h0,hubid=0 -device "virtio-net,id=v0,netdev=h0,socket=$vs"
[[ $(cat "$vs") == data ]] || e2e_fail "the regular file at $vs was changed"
ln -s "$E2E_TMP/elsewhere.sock" "$ss"
expect_refused "$ss exists and is not a socket" \
	-netdev "stream,id=s0,server=on,addr.type=unix,addr.path=$ss"
[[ -L $ss && ! -e $E2E_TMP/elsewhere.sock ]] || e2e_fail "the symlink at $ss was followed"
rm -f "$vs" "$ss"
e2e_log "a regular file or a symlink at the path is refused and kept"

# The built-in default (user-mode networking) on $XDG_RUNTIME_DIR/vwire.sock.
xdg=$E2E_TMP/xdg
mkdir -m 0700 "$xdg"
XDG_RUNTIME_DIR=$xdg spawn -o "$E2E_TMP/default.out" "$VWIRE"
def=$SPAWN_PID
default_up() { [[ -S $xdg/vwire.sock ]] || ! pid_alive "$def"; }
wait_until 10 default_up || true
if grep -q "no built-in default" "$E2E_TMP/default.out"; then
	e2e_log "no built-in default in this build (no libslirp): its socket is not checked"
else
	[[ -S $xdg/vwire.sock ]] ||
		e2e_fail "the built-in default did not start: $(cat "$E2E_TMP/default.out")"
	grep -qF "path=$xdg/vwire.sock" "$E2E_TMP/default.out" ||
		e2e_fail "the printed QEMU command line does not name $xdg/vwire.sock"
	rc=0
	XDG_RUNTIME_DIR=$xdg timeout 10 "$VWIRE" >"$out" 2>&1 || rc=$?
	if ((rc != 1)) || ! grep -qF "$xdg/vwire.sock is in use by another process" "$out"; then
		e2e_fail "a second default vwire: status $rc: $(cat "$out")"
	fi
	pid_alive "$def" || e2e_fail "the first default vwire died"
	connects "$xdg/vwire.sock" || e2e_fail "the first default vwire lost its socket"
	kill_pid "$def"
	[[ ! -e $xdg/vwire.sock ]] || e2e_fail "the default socket was left behind"
	e2e_log "a second default vwire is refused"
fi
e2e_log "PASS"
