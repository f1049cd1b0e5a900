#!/bin/bash
# vhost_user_migrate.sh - live migration of a running guest between two QEMU processes, each
# attached to its own vwire virtio-net device (both on one vwire hub with a tap into a network
# namespace of ours). A ping running in the guest goes on after the migration: vwire logs the
# guest's writes into the dirty log during it (VHOST_F_LOG_ALL, LOG_SHMFD), and the destination
# announces the guest's MAC afterwards (SEND_RARP).
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_root
require_cmd qemu-system-x86_64 ip base64 mkfifo awk python3
[[ -e /dev/net/tun ]] || e2e_skip "no /dev/net/tun"
require_vwire
guest_build

NS=vwmg-$E2E_SUFFIX
TAP=$(e2e_ifname vwmg)
HOST_IP=10.234.0.1
GUEST_IP=10.234.0.2
MEM=256
make_netns "$NS"

# qmp SOCKET JSON - one QMP command to QEMU, its reply on stdout.
qmp() {
	python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())
f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n"); f.flush()
json.loads(f.readline())
f.write(sys.argv[2] + "\n"); f.flush()
while True:
    r = json.loads(f.readline())
    if "return" in r or "error" in r:
        print(json.dumps(r)); break
PY
}

VW_LOG=$E2E_TMP/vwire.log
spawn -o "$VW_LOG" "$VWIRE" -netdev "tap,id=t0,ifname=$TAP,vnet_hdr=on" \
	-netdev hubport,id=p0,hubid=0,netdev=t0 \
	-netdev hubport,id=p1,hubid=0 -netdev hubport,id=p2,hubid=0 \
	-device "virtio-net,id=va,netdev=p1,socket=$E2E_TMP/a.sock" \
	-device "virtio-net,id=vb,netdev=p2,socket=$E2E_TMP/b.sock"
VW_PID=$SPAWN_PID
wait_for_socket "$E2E_TMP/b.sock" 10 || { cat "$VW_LOG" >&2; e2e_fail "vwire did not start"; }
move_tap "$TAP" "$NS" "$HOST_IP/24"

nic() { # SOCKET
	echo -chardev "socket,id=c0,path=$1,reconnect=1" -netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,vectors=0
}
# shellcheck disable=SC2046
guest_boot src --mem "$MEM" --ip "$GUEST_IP/24" -- $(nic "$E2E_TMP/a.sock")
guest_wait_ready src 180 || e2e_fail "source guest did not boot"
guest_run src -t 30 "ping -c 2 -W 2 $HOST_IP" >/dev/null || e2e_fail "no traffic before migration"
# shellcheck disable=SC2046
guest_boot dst --mem "$MEM" --ip "$GUEST_IP/24" -- $(nic "$E2E_TMP/b.sock") \
	-incoming "unix:$E2E_TMP/mig.sock"
wait_for_socket "$E2E_TMP/mig.sock" 20 || e2e_fail "destination QEMU does not listen"

guest_run src "ping -i 0.1 $HOST_IP >/tmp/ping.log 2>&1 &" >/dev/null
sleep 2
before=$(guest_run src 'grep -c "bytes from" /tmp/ping.log')
e2e_log "migrating (pings answered so far: $before)"
qmp "$(guest_qmp src)" '{"execute": "migrate", "arguments": {"uri": "unix:'"$E2E_TMP"'/mig.sock"}}' >/dev/null
status=
for ((i = 0; i < 300; i++)); do
	status=$(qmp "$(guest_qmp src)" '{"execute": "query-migrate"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["return"].get("status",""))')
	[[ $status == completed || $status == failed ]] && break
	sleep 0.2
done
[[ $status == completed ]] || { tail -20 "$VW_LOG" >&2; e2e_fail "migration did not complete: $status"; }
e2e_log "migration completed"
# The source is paused after a completed migration; the destination runs the guest now. Its
# console file is new, so mark the command channel usable for guest_run.
kill_pid "$(guest_pid src)"
echo VWIRE-GUEST-READY >>"$(guest_log dst)"
sleep 3
after=$(guest_run dst -t 30 'grep -c "bytes from" /tmp/ping.log') ||
	e2e_fail "the migrated guest does not answer"
e2e_log "pings answered: $before before, $after after the migration"
((after >= before + 15)) || { tail -20 "$VW_LOG" >&2; e2e_fail "ping did not continue after the migration ($before -> $after)"; }
grep -q "vb: announcing 52:54:00:12:34:56" "$VW_LOG" || e2e_log "note: no RARP announcement was requested"
guest_stop dst || true
kill_pid "$VW_PID"
echo "1 passed, 0 failed"
