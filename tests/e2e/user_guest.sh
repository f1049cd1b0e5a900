#!/bin/bash
# user_guest.sh - vwire's built-in default (no arguments: user-mode networking behind a
# virtio-net device on the default vhost-user socket) with a real QEMU guest attached by the
# command line vwire prints: the guest gets a DHCP lease and the large MTU, fetches a page
# and 64 MiB (checked by SHA-256) from a server on the host's loopback through 10.0.2.2
# (the native engine, vwire's default), and opens 200 concurrent TCP
# connections through the NAT, all of which carry their data.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/guest.sh
. "$E2E_DIR/lib/guest.sh"

require_cmd qemu-system-x86_64 iperf3 python3 base64 mkfifo awk
require_vwire --fast
guest_build

export XDG_RUNTIME_DIR=$E2E_TMP
SOCK=$E2E_TMP/vwire.sock
spawn -o "$E2E_TMP/vwire.out" "$VWIRE"
VW=$SPAWN_PID
wait_for_socket "$SOCK" 10 || { cat "$E2E_TMP/vwire.out" >&2; e2e_fail "no socket at the default path"; }
grep -q -- "-chardev socket,id=vwire0,path=$SOCK,reconnect=1" "$E2E_TMP/vwire.out" ||
	e2e_fail "vwire did not print the QEMU command line for $SOCK"

# A page on the host's loopback, and an iperf3 server there.
mkdir -p "$E2E_TMP/www"
head -c 100000 /dev/urandom | base64 -w0 >"$E2E_TMP/www/page.txt"
head -c 64M /dev/urandom >"$E2E_TMP/www/big.bin"
PORT=$((20000 + $$ % 20000))
spawn python3 -m http.server --bind 127.0.0.1 --directory "$E2E_TMP/www" "$PORT"
spawn iperf3 -s -B 127.0.0.1 -p $((PORT + 1))
spawn iperf3 -s -B 127.0.0.1 -p $((PORT + 2))
wait_for_tcp_listen "$PORT" "" 10 || e2e_fail "http server did not start"

# The NIC as printed, plus vectors=0 (QEMU 7.2 under TCG crashes with MSI-X on vhost-user).
guest_boot g --dhcp -- -chardev "socket,id=vwire0,path=$SOCK,reconnect=1" \
	-netdev vhost-user,id=net0,chardev=vwire0 \
	-device virtio-net-pci,netdev=net0,host_mtu=65520,vectors=0
guest_wait_ready g 180 || e2e_fail "guest did not boot"
out=$(guest_run g 'ip -4 -o addr show dev eth0; cat /sys/class/net/eth0/mtu')
grep -q 'inet 10\.0\.2\.15/24' <<<"$out" || e2e_fail "no DHCP lease 10.0.2.15: $out"
grep -qx 65520 <<<"$out" || e2e_fail "guest MTU is not 65520: $out"
e2e_log "DHCP lease 10.0.2.15, MTU 65520"

guest_fetch_check g "http://10.0.2.2:$PORT/page.txt" "$E2E_TMP/www/page.txt"
e2e_log "page from the host's loopback fetched intact through 10.0.2.2"
# 64 MiB into the guest: the data path that reads a socket straight into the guest's buffers.
guest_fetch_check g "http://10.0.2.2:$PORT/big.bin" "$E2E_TMP/www/big.bin" 120
lent=$(python3 "$E2E_DIR/lib/qmp.py" "$E2E_TMP/vwire.qmp" query-netdevs | python3 -c '
import json, sys
print(sum(d.get("counters", {}).get("tcp-lent-frames", 0) for d in json.load(sys.stdin)))')
((lent > 0)) || e2e_fail "no frame was read straight into the guest's buffers (tcp-lent-frames 0)"
e2e_log "64 MiB from the host's loopback fetched intact (sha256), $lent frames read into lent buffers"

# 200 concurrent connections: two iperf3 clients of 100 parallel streams each, at once.
out=$(guest_run g -t 120 "iperf3 -c 10.0.2.2 -p $((PORT + 1)) -P 100 -t 3 -f m >/tmp/a.log 2>&1 &
	iperf3 -c 10.0.2.2 -p $((PORT + 2)) -P 100 -t 3 -f m >/tmp/b.log 2>&1; wait
	cat /tmp/a.log /tmp/b.log") || e2e_fail "200 concurrent connections: $(tail -5 <<<"$out")"
# Every one of the 200 streams reports what the server received, and none is empty.
streams=$(grep -E '^\[ *[0-9]+\].*receiver' <<<"$out" | grep -vc ' 0\.00 Bytes') || true
sums=$(grep -c 'SUM.*receiver' <<<"$out") || true
((streams == 200 && sums == 2)) ||
	e2e_fail "expected 200 streams with data and 2 sums, got $streams and $sums: $(grep SUM <<<"$out")"
e2e_log "200 concurrent TCP connections through the NAT: $(grep 'SUM.*receiver' <<<"$out" | awk '{ print $6, $7 }' | tr '\n' ' ')"

out=$(guest_run g -t 60 "iperf3 -c 10.0.2.2 -p $((PORT + 1)) -t 5 -f m") || e2e_fail "iperf3 failed"
e2e_log "guest -> host through user mode: $(iperf3_mbits <<<"$out") Mbit/s"
guest_stop g || true
kill_pid "$VW"
[[ ! -e $SOCK ]] || e2e_fail "the socket was left behind"
echo "1 passed, 0 failed"
