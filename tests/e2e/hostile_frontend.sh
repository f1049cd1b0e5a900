#!/bin/bash
# hostile_frontend.sh - a vhost-user front end that attacks vwire through the fds it sends, and
# one that loses kicks. Three virtio-net devices on one hub: A and B, driven well by
# build/vu-frontend (tests/tools/vu-frontend.c), carry numbered frames from A to B; H is attacked:
#   shrink-mem       guest memory memfd truncated to 0 under a running tx ring, then a kick
#   shrink-inflight  the front end's inflight memfd truncated to 0 after the rings started
#   block-call       a call fd that is a one-page pipe nobody reads, 2000 notifications
#   hup-kick         a kick fd that is a pipe whose writer is closed (EPOLLHUP for ever)
# After each: vwire still runs, A -> B still forwards, vwire uses (almost) no CPU while idle,
# and at the end it exits cleanly with no sanitizer report. skip-kick: A posts tx frames and B
# posts rx buffers without kicking, right when vwire asked for kicks again: every frame still
# arrives (vwire's re-check of idle rings), with split and with packed rings.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_vwire
FRONTEND=$(dirname "$VWIRE")/vu-frontend
[[ -x $FRONTEND ]] || e2e_fail "no vu-frontend next to $VWIRE (built with vwire by ninja)"

sock=$E2E_TMP
vlog=$E2E_TMP/vwire.log
spawn -o "$vlog" "$VWIRE" \
	-netdev hubport,id=p0,hubid=0 -netdev hubport,id=p1,hubid=0 -netdev hubport,id=p2,hubid=0 \
	-device "virtio-net,id=h,netdev=p0,socket=$sock/h.sock" \
	-device "virtio-net,id=a,netdev=p1,socket=$sock/a.sock" \
	-device "virtio-net,id=b,netdev=p2,socket=$sock/b.sock"
vpid=$SPAWN_PID
for s in h a b; do
	wait_for_socket "$sock/$s.sock" 10 || { cat "$vlog"; e2e_fail "vwire did not listen"; }
done

run() { # [-P] MODE [SOCKETS...]
	local packed=()
	[[ $1 != -P ]] || { packed=(-P); shift; }
	local mode=$1
	shift
	e2e_log "$mode ${packed[*]}"
	if ! timeout 120 "$FRONTEND" -p "$vpid" "${packed[@]}" "$mode" "$@"; then
		tail -30 "$vlog"
		e2e_fail "$mode"
	fi
}

run forward "$sock/a.sock" "$sock/b.sock"
run skip-kick "$sock/a.sock" "$sock/b.sock"
run -P forward "$sock/a.sock" "$sock/b.sock"
run -P skip-kick "$sock/a.sock" "$sock/b.sock"
for attack in shrink-mem shrink-inflight block-call hup-kick; do
	run "$attack" "$sock/h.sock" "$sock/a.sock" "$sock/b.sock"
done

grep -q "shrank the file behind its guest memory" "$vlog" ||
	e2e_fail "no log line for the shrunk guest memory"
grep -q "shrank the file behind its inflight buffer" "$vlog" ||
	e2e_fail "no log line for the shrunk inflight buffer"
grep -q "kick fd of queue 1 hung up" "$vlog" || e2e_fail "no log line for the hung-up kick fd"

stop_vwire_clean "$vpid" "$vlog"
e2e_log "vwire lived through every attack; the other devices kept forwarding"
