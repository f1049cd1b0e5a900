#!/usr/bin/env bash
# user_netns.sh - -netdev user end to end: a network namespace plays the guest. vwire (in the
# host namespace) makes a tap, the test moves it into the namespace, and the tap meets the
# user netdev on hub 0.
# Promises checked: DHCP gives 10.0.2.15 (router .2, DNS .3); the DNS forwarder answers a
# fixed name; HTTP from the namespace to a server on the host's 127.0.0.1 through 10.0.2.2;
# 200 concurrent TCP connections each bring back their payload intact; hostfwd reaches a
# server inside the namespace; guestfwd=...-tcp:HOST:PORT gives each guest connection its own
# host connection; an RA gives an fec0:: address and fec0::2 answers ping; hostfwd_add and
# hostfwd_remove at run time through QMP (human-monitor-command and the QMP commands);
# restrict=on refuses the host's services while hostfwd still works.
# USER_ENGINE=native runs it all on the native engine (user_native_netns.sh does), and the
# engine's own counters (query-netdevs) must show that it carried the traffic.
#
# DNS: libslirp forwards 10.0.2.3:53 to the first nameserver of /etc/resolv.conf, port 53.
# To make that deterministic without touching the machine's resolver, vwire runs in a
# private mount namespace (unshare -m) where /etc/resolv.conf is a bind mount of a file naming
# a loopback address of this test's own (127.77.x.y), on which the test's dnsmasq answers
# test.vwire. with 10.0.2.123 and nothing else (no upstream servers, no /etc/hosts).
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP_PY=$E2E_DIR/lib/qmp.py
require_root
require_cmd ip python3 curl busybox dnsmasq unshare mount ss
require_file /dev/net/tun "tun device"
require_file "$QMP_PY" "QMP helper"
require_vwire
"$VWIRE" -netdev help 2>&1 | e2e_grep -x user || e2e_skip "$VWIRE was built without libslirp"

tap=$(e2e_ifname vwu)
ns=vwu$E2E_SUFFIX
make_netns "$ns"
vw_pid=
vw_log=
vw_out=
qmp_sock=$E2E_TMP/qmp.sock

in_ns() { ip netns exec "$ns" "$@"; }

engine=${USER_ENGINE:-slirp}
case $engine in
slirp | native) ;;
*) e2e_fail "USER_ENGINE=$engine: must be slirp or native" ;;
esac
native() { [[ $engine == native ]]; }

# A loopback address of our own for the DNS server; nothing of the machine's may use it.
dns_addr=127.77.$((($$ >> 8) & 255)).$(($$ & 255 | 1))
if ss -Hlun "src $dns_addr:53 or src 0.0.0.0:53 or src [::]:53" | e2e_grep .; then
	e2e_skip "a DNS server already listens on a wildcard or on $dns_addr port 53"
fi
printf 'nameserver %s\n' "$dns_addr" >"$E2E_TMP/resolv.conf"
spawn -o "$E2E_TMP/dnsmasq.log" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--conf-file=/dev/null --bind-interfaces --listen-address="$dns_addr" --port=53 \
	--address=/test.vwire/10.0.2.123 --pid-file="$E2E_TMP/dnsmasq.pid" --log-queries \
	--log-facility=-
_e2e_wait 10 "dnsmasq on $dns_addr:53" sh -c "ss -Hlun 'src $dns_addr:53' | grep -q ." ||
	{ cat "$E2E_TMP/dnsmasq.log"; e2e_fail "dnsmasq did not start"; }

# Host side: an HTTP server on 127.0.0.1 with a backlog large enough for 200 connections.
mkdir -p "$E2E_TMP/www" "$E2E_TMP/nswww"
head -c 3000000 /dev/urandom >"$E2E_TMP/www/big.bin"
for i in $(seq 0 9); do head -c $((100000 + i * 7919)) /dev/urandom >"$E2E_TMP/www/p$i.bin"; done
echo "served from inside $ns" >"$E2E_TMP/nswww/hello.txt"
cat >"$E2E_TMP/serve.py" <<'EOF'
import http.server, os, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
os.chdir(sys.argv[1])
Server((sys.argv[2], int(sys.argv[3])), Quiet).serve_forever()
EOF
http_port=$(free_port)
spawn -o "$E2E_TMP/http.log" python3 "$E2E_TMP/serve.py" "$E2E_TMP/www" 127.0.0.1 "$http_port"
wait_for_tcp_listen "$http_port"

# Host side of guestfwd: an echo server that numbers its connections.
cat >"$E2E_TMP/echo.py" <<'EOF'
import socket, sys, threading
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=256)
count = 0
lock = threading.Lock()
def serve(c):
    global count
    with lock:
        count += 1
        open(sys.argv[2], "w").write("%d\n" % count)
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
echo_port=$(free_port)
spawn -o "$E2E_TMP/echo.log" python3 "$E2E_TMP/echo.py" "$echo_port" "$E2E_TMP/echo.count"
wait_for_tcp_listen "$echo_port"

# start_vwire TAG USER_OPTS: vwire with tap -- hub 0 -- user, in its own mount namespace
# whose /etc/resolv.conf names our DNS server; the tap is moved into $ns and brought up.
start_vwire() {
	local tag=$1 uopts=$2
	vw_log=$E2E_TMP/vwire-$tag.log
	vw_out=$E2E_TMP/vwire-$tag.out
	rm -f "$qmp_sock"
	spawn -o "$vw_out" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$E2E_TMP/resolv.conf" \
		"$VWIRE" -netdev "tap,id=t0,ifname=$tap" -netdev "user,id=u0,engine=$engine,$uopts" \
		-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=u0 \
		-qmp "unix:$qmp_sock,server=on,wait=off" -D "$vw_log"
	vw_pid=$SPAWN_PID
	wait_for_link "$tap" ||
		{ cat "$vw_out" "$vw_log" 2>/dev/null; e2e_fail "$tag: no $tap"; }
	wait_for_socket "$qmp_sock" || e2e_fail "$tag: no QMP socket"
	move_tap "$tap" "$ns"
}

stop_vwire() {
	pid_alive "$vw_pid" || e2e_fail "vwire died"
	kill_pid "$vw_pid"
	vw_pid=
	wait_until 10 link_absent "$tap" "$ns" || e2e_fail "$tap outlived vwire"
	# A sanitized build reports leaks and errors at exit.
	! grep -q Sanitizer "$vw_out" || { cat "$vw_out"; e2e_fail "vwire: sanitizer report"; }
}

# dhcp: lease an address with busybox udhcpc; the script applies it and records it.
cat >"$E2E_TMP/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface" scope global
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	echo "ip=$ip mask=$mask router=$router dns=$dns" >"$LEASE_FILE"
	;;
esac
exit 0
EOF
chmod +x "$E2E_TMP/udhcpc.script"
dhcp() {
	rm -f "$E2E_TMP/lease"
	in_ns env LEASE_FILE="$E2E_TMP/lease" busybox udhcpc -i "$tap" -n -q -f -t 5 -T 1 \
		-s "$E2E_TMP/udhcpc.script" >"$E2E_TMP/udhcpc.log" 2>&1 ||
		{ cat "$E2E_TMP/udhcpc.log"; e2e_fail "no DHCP lease"; }
	cat "$E2E_TMP/lease"
}

qmp_hmp() { # LINE: a human monitor command; prints its text
	python3 "$QMP_PY" hmp "$qmp_sock" "$1"
}
qmp_cmd() { # COMMAND [JSON-ARGS]: a QMP command; prints its return, fails on an error
	python3 "$QMP_PY" "$qmp_sock" "$@"
}

fetch_ok() { # URL FILE: fetch from inside the namespace and compare
	in_ns curl -sf --max-time 30 -o "$E2E_TMP/got" "$1" || e2e_fail "curl $1 failed"
	cmp -s "$E2E_TMP/got" "$2" || e2e_fail "curl $1: content differs"
}

host_get() { # PORT: GET hello.txt from the host through a hostfwd
	curl -sf --max-time 10 "http://127.0.0.1:$1/hello.txt"
}

fwd_port=$(free_port)
start_vwire open "hostfwd=tcp:127.0.0.1:$fwd_port-10.0.2.15:8080,guestfwd=tcp:10.0.2.100:7777-tcp:127.0.0.1:$echo_port"

lease=$(dhcp)
e2e_log "lease: $lease"
[[ $lease == "ip=10.0.2.15 mask=24 router=10.0.2.2 dns=10.0.2.3" ]] ||
	e2e_fail "unexpected lease: $lease"

answer=$(in_ns busybox nslookup test.vwire. 10.0.2.3 2>&1) || true
grep -q 'Address.*10\.0\.2\.123' <<<"$answer" ||
	{ echo "$answer"; cat "$E2E_TMP/dnsmasq.log"; e2e_fail "DNS: test.vwire. did not resolve"; }
e2e_log "DNS: test.vwire. -> 10.0.2.123 through 10.0.2.3"

fetch_ok "http://10.0.2.2:$http_port/big.bin" "$E2E_TMP/www/big.bin"
e2e_log "HTTP: 3 MB from the host's 127.0.0.1 through 10.0.2.2, intact"

cat >"$E2E_TMP/many.py" <<'EOF'
import sys, threading, urllib.request
base, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
expect = [open("%s/p%d.bin" % (root, i), "rb").read() for i in range(10)]
ok, bad, lock = [0], [], threading.Lock()
start = threading.Barrier(n)
def fetch(i):
    start.wait()
    try:
        data = urllib.request.urlopen("%s/p%d.bin" % (base, i % 10), timeout=60).read()
        good = data == expect[i % 10]
    except Exception as e:
        good, data = False, repr(e)
    with lock:
        if good:
            ok[0] += 1
        else:
            bad.append((i, data if isinstance(data, str) else len(data)))
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("%d/%d intact" % (ok[0], n), bad[:5])
sys.exit(0 if ok[0] == n else 1)
EOF
out=$(in_ns python3 "$E2E_TMP/many.py" "http://10.0.2.2:$http_port" "$E2E_TMP/www" 200) ||
	e2e_fail "200 concurrent connections: $out"
e2e_log "200 concurrent TCP connections: $out"

spawn -n "$ns" -o "$E2E_TMP/nshttp.log" python3 "$E2E_TMP/serve.py" "$E2E_TMP/nswww" 10.0.2.15 8080
wait_for_tcp_listen 8080 "$ns"
[[ $(host_get "$fwd_port") == "served from inside $ns" ]] || e2e_fail "hostfwd: no answer"
e2e_log "hostfwd: 127.0.0.1:$fwd_port reaches 10.0.2.15:8080"

cat >"$E2E_TMP/gfwd.py" <<'EOF'
import socket, sys, threading
n, bad = int(sys.argv[1]), []
def talk(i):
    msg = ("connection %d " % i).encode() * 20000  # ~300 KB: wraps the relay's rings
    try:
        with socket.create_connection(("10.0.2.100", 7777), timeout=20) as s:
            def send():
                s.sendall(msg)
                s.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            sender.start()
            got = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                got += data
            sender.join()
        if got != msg:
            bad.append((i, len(got)))
    except Exception as e:
        bad.append((i, repr(e)))
threads = [threading.Thread(target=talk, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("%d/%d echoed" % (n - len(bad), n), bad[:5])
sys.exit(1 if bad else 0)
EOF
if native; then
	# The engine's counters: the connections above were its own.
	opened=$(qmp_cmd query-netdevs | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d["id"] == "u0":
        print(d["counters"]["tcp-opened"])' || true)
	((${opened:-0} >= 201)) || e2e_fail "native engine: tcp-opened is '$opened', not >= 201"
	e2e_log "native engine: $opened TCP connections opened"
fi
out=$(in_ns python3 "$E2E_TMP/gfwd.py" 20) || e2e_fail "guestfwd: $out"
conns=$(cat "$E2E_TMP/echo.count")
((conns == 20)) || e2e_fail "guestfwd: the host saw $conns connections for 20 guest connections"
e2e_log "guestfwd: 20 guest connections to 10.0.2.100:7777, 20 host connections, $out"

# IPv6: libslirp's router advertisement gives an fec0:: address; fec0::2 answers.
has_fec0() { ip -n "$ns" -6 addr show dev "$tap" | grep 'inet6 fec0:' | e2e_grep -v tentative; }
wait_until 15 has_fec0 || { ip -n "$ns" -6 addr show; e2e_fail "no fec0:: address"; }
in_ns ping -6 -c 3 -i 0.2 -W 2 fec0::2 >/dev/null || e2e_fail "ping fec0::2 failed"
e2e_log "IPv6: $(ip -n "$ns" -6 addr show dev "$tap" | grep -o 'fec0:[0-9a-f:]*/64'), ping fec0::2 ok"

# hostfwd_add / hostfwd_remove at run time, as HMP text and as QMP commands.
port2=$(free_port)
reply=$(qmp_hmp "hostfwd_add u0 tcp:127.0.0.1:$port2-10.0.2.15:8080") ||
	e2e_fail "hostfwd_add: $reply"
[[ -z $reply ]] || e2e_fail "hostfwd_add printed: $reply"
[[ $(host_get "$port2") == "served from inside $ns" ]] || e2e_fail "run-time hostfwd: no answer"
reply=$(qmp_hmp "hostfwd_remove u0 tcp:127.0.0.1:$port2")
[[ $reply == "host forwarding rule for tcp:127.0.0.1:$port2 removed"* ]] ||
	e2e_fail "hostfwd_remove: $reply"
host_get "$port2" >/dev/null 2>&1 && e2e_fail "the removed hostfwd still answers"
reply=$(qmp_hmp "info usernet")
grep -q "^Hub 0 (u0):" <<<"$reply" || e2e_fail "info usernet: $reply"
reply=$(qmp_hmp "hostfwd_remove u0 tcp:127.0.0.1:$port2")
[[ $reply == *"not found"* ]] || e2e_fail "hostfwd_remove twice: $reply"
qmp_cmd hostfwd_add "{\"netdev\": \"u0\", \"rule\": \"tcp:127.0.0.1:$port2-:8080\"}" >/dev/null ||
	e2e_fail "QMP hostfwd_add failed"
[[ $(host_get "$port2") == "served from inside $ns" ]] || e2e_fail "QMP hostfwd_add: no answer"
qmp_cmd hostfwd_remove "{\"rule\": \"tcp:127.0.0.1:$port2\"}" >/dev/null ||
	e2e_fail "QMP hostfwd_remove failed"
host_get "$port2" >/dev/null 2>&1 && e2e_fail "the QMP-removed hostfwd still answers"
qmp_cmd hostfwd_remove "{\"rule\": \"tcp:127.0.0.1:$port2\"}" >/dev/null 2>&1 &&
	e2e_fail "QMP hostfwd_remove of a missing rule succeeded"
e2e_log "hostfwd_add/hostfwd_remove at run time: HMP and QMP"
stop_vwire

# restrict=on: the guest gets no router nor DNS, cannot reach the host, hostfwd still works.
fwd_port=$(free_port)
start_vwire restricted "restrict=on,hostfwd=tcp:127.0.0.1:$fwd_port-10.0.2.15:8080"
lease=$(dhcp)
[[ $lease == "ip=10.0.2.15 mask=24 router= dns=" ]] || e2e_fail "restricted lease: $lease"
in_ns curl -sf --max-time 5 -o /dev/null "http://10.0.2.2:$http_port/p0.bin" &&
	e2e_fail "restrict=on: the host's HTTP server was reached"
in_ns ip neigh show 10.0.2.2 | e2e_grep lladdr || e2e_fail "restrict=on: 10.0.2.2 did not even answer ARP"
[[ $(host_get "$fwd_port") == "served from inside $ns" ]] || e2e_fail "restrict=on: hostfwd failed"
e2e_log "restrict=on: host unreachable from the namespace, hostfwd works"
stop_vwire
echo "PASS: $E2E_NAME"
