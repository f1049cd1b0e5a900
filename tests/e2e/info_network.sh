#!/usr/bin/env bash
# info_network.sh - 'info network' lists what QEMU 7.2 lists, in QEMU's order, without root.
# The same -netdev options (three hubs made out of order, ports on them, socket, dgram and
# stream back ends, one socket on a hub port) go to QEMU 7.2 (-M none) and then to vwire; each
# prints 'info network' through its QMP socket. Promise checked: the lines agree up to each
# client's type (hubs and ports newest first, type=socket for -netdev socket); what follows
# the type is each program's own description of the connection and is not compared.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QEMU=${QEMU:-qemu-system-x86_64}
require_cmd python3 "$QEMU"
require_vwire

QMP=$E2E_DIR/lib/qmp.py
tcp=$(free_port tcp)
udp1=$(free_port udp)
udp2=$(free_port udp)
args=(-netdev hubport,id=p1,hubid=1 -netdev hubport,id=p2,hubid=0
	-netdev hubport,id=p3,hubid=1
	-netdev "socket,id=s0,listen=127.0.0.1:$tcp" -netdev hubport,id=p4,hubid=0,netdev=s0
	-netdev "dgram,id=d0,local.type=unix,local.path=$E2E_TMP/d0.a,remote.type=unix,remote.path=$E2E_TMP/d0.b"
	-netdev "stream,id=st0,server=on,addr.type=unix,addr.path=$E2E_TMP/st0.sock"
	-netdev hubport,id=p5,hubid=2
	-netdev "socket,id=s1,udp=127.0.0.1:$udp1,localaddr=127.0.0.1:$udp2")

# info_of NAME PROGRAM ARGS... - start PROGRAM with the options and a QMP socket, print its
# 'info network' cut after each type, stop it.
info_of() {
	local name=$1 sock=$E2E_TMP/$1.qmp pid
	shift
	rm -f "$E2E_TMP/d0.a" "$E2E_TMP/st0.sock"
	spawn -o "$E2E_TMP/$name.log" "$@" "${args[@]}" -qmp "unix:$sock,server=on,wait=off"
	pid=$SPAWN_PID
	wait_for_socket "$sock" 20 || { cat "$E2E_TMP/$name.log" >&2; e2e_fail "$name did not start"; }
	python3 "$QMP" hmp "$sock" "info network" >"$E2E_TMP/$name.info" ||
		e2e_fail "$name: info network failed"
	kill_pid "$pid"
	sed -E 's/(type=[a-z-]+),.*/\1/' "$E2E_TMP/$name.info"
}

qemu=$(info_of qemu "$QEMU" -M none -nodefaults -display none)
vwire=$(info_of vwire "$VWIRE")
[[ -n $qemu ]] || e2e_fail "QEMU printed nothing"
if [[ $qemu != "$vwire" ]]; then
	diff <(echo "$qemu") <(echo "$vwire") >&2 || true
	e2e_fail "info network differs from QEMU's (- QEMU, + vwire)"
fi
grep -q "^ \\\\ p4: s0: index=0,type=socket$" <<<"$vwire" || e2e_fail "no socket on p4: $vwire"
e2e_log "info network agrees with QEMU 7.2 ($(wc -l <<<"$vwire") lines)"
echo "PASS: $E2E_NAME"
