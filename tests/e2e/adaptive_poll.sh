#!/bin/bash
# adaptive_poll.sh - virtio-net with poll-us=50: the event loop polls the rings for up to 50 us
# before it sleeps, and notifications come back on when it stops. Devices A and B on one hub,
# driven by build/vu-frontend (tests/tools/vu-frontend.c): frames go from A to B for a few
# seconds (split, then packed rings), kicks lost by the driver are still made up for, and after
# each run, with both front ends still connected and idle, vwire uses under 5% of a core over
# 2 s (the loop sleeps in epoll_wait instead of spinning). vwire exits cleanly at the end.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_vwire
FRONTEND=$(dirname "$VWIRE")/vu-frontend
[[ -x $FRONTEND ]] || e2e_fail "no vu-frontend next to $VWIRE (built with vwire by ninja)"
IDLE_MAX=${IDLE_MAX:-5}

sock=$E2E_TMP
vlog=$E2E_TMP/vwire.log
spawn -o "$vlog" "$VWIRE" \
	-netdev hubport,id=p1,hubid=0 -netdev hubport,id=p2,hubid=0 \
	-device "virtio-net,id=a,netdev=p1,socket=$sock/a.sock,poll-us=50" \
	-device "virtio-net,id=b,netdev=p2,socket=$sock/b.sock,poll-us=50"
vpid=$SPAWN_PID
for s in a b; do
	wait_for_socket "$sock/$s.sock" 10 || { cat "$vlog"; e2e_fail "vwire did not listen"; }
done

run() { # FRONTEND_ARGS...
	e2e_log "$*"
	if ! timeout 120 "$FRONTEND" -p "$vpid" -i "$IDLE_MAX" "$@" "$sock/a.sock" "$sock/b.sock"; then
		tail -30 "$vlog"
		e2e_fail "$*"
	fi
}

run -t 3 traffic
run -P -t 3 traffic
run skip-kick
run -P forward

stop_vwire_clean "$vpid" "$vlog"
! grep broken "$vlog" || e2e_fail "a queue broke"
e2e_log "poll-us=50 forwards, makes up for lost kicks and sleeps when idle"
