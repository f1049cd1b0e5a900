#!/usr/bin/env bash
# socket_interop.sh - the socket, stream, dgram, vde and l2tpv3 back ends between two namespaces.
# Each side is a process in the host namespace (so 127.0.0.1 and unix paths are shared) that
# makes a tap, joined by a hub to a socket/stream/dgram netdev; the test moves each tap into
# its namespace. Promises checked:
#   - vwire to vwire: ping both ways and 3 s of iperf3 TCP over socket udp=, mcast=, TCP
#     listen/connect, stream inet and unix, dgram inet and unix;
#   - QEMU 7.2 as the peer (the wire format is the same): socket TCP, stream inet and unix in
#     both roles, dgram inet and unix, socket udp= and mcast=: ping both ways, iperf3 TCP;
#   - vde: vwire and vwire, vwire and QEMU's -netdev vde, on a vde_switch;
#   - l2tpv3 over UDP (IPv4, IPv6) and IP, cookies and counters: vwire and vwire, and QEMU;
#   - a stream peer sending garbage (a huge length, random bytes, a frame cut short) is
#     logged and disconnected, and the server then serves a real peer;
#   - a client with reconnect=1 finds its server again after the server is killed and
#     restarted, and ping resumes.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QEMU=${QEMU:-qemu-system-x86_64}
require_root
require_cmd ip ping iperf3 python3 "$QEMU"
require_file /dev/net/tun "tun device"
require_vwire

ta=$(e2e_ifname vwsA) tb=$(e2e_ifname vwsB)
nsa=vwsA$E2E_SUFFIX nsb=vwsB$E2E_SUFFIX
mac_a=02:97:00:00:00:0a mac_b=02:97:00:00:00:0b
make_netns "$nsa"
make_netns "$nsb"
net=0 # third octet of the current case's subnet, 10.97.$net.0/24
pid_a='' pid_b='' log_a='' log_b='' seq=0

# start_side A|B vwire|qemu NETDEV: run one side (its tap, NETDEV with id=s, both on hub 0),
# wait for its tap, move it into the side's namespace with a fixed MAC and 10.97.$net.1 or .2.
start_side() {
	local side=$1 kind=$2 netdev=$3 tap ns mac addr log pid
	if [[ $side == A ]]; then tap=$ta ns=$nsa mac=$mac_a addr=10.97.$net.1
	else tap=$tb ns=$nsb mac=$mac_b addr=10.97.$net.2; fi
	seq=$((seq + 1))
	log=$E2E_TMP/$kind-$side-$net-$seq.log
	if [[ $kind == vwire ]]; then
		spawn -o "$log.out" "$VWIRE" -netdev "tap,id=t,ifname=$tap" -netdev "$netdev" \
			-netdev hubport,id=h1,hubid=0,netdev=t -netdev hubport,id=h2,hubid=0,netdev=s \
			-D "$log" -pidfile "$E2E_TMP/$side.pid"
	else
		spawn -o "$log" "$QEMU" -M none -nodefaults -display none \
			-netdev "tap,id=t,ifname=$tap,script=no,downscript=no" -netdev "$netdev" \
			-netdev hubport,id=h1,hubid=0,netdev=t -netdev hubport,id=h2,hubid=0,netdev=s
	fi
	pid=$SPAWN_PID
	wait_for_link "$tap" ||
		{ cat "$log"* >&2 2>/dev/null; e2e_fail "$side ($kind $netdev): no tap $tap"; }
	move_tap "$tap" "$ns" "$addr/24" "$mac"
	if [[ $side == A ]]; then pid_a=$pid log_a=$log; else pid_b=$pid log_b=$log; fi
}

# stop_side A|B: stop it, wait for its tap to go; a sanitizer report in its output fails.
stop_side() {
	local log
	if [[ $1 == A ]]; then
		kill_pid "$pid_a"
		wait_until 10 link_absent "$ta" "$nsa" || e2e_fail "$ta outlived its process"
		log=$log_a
	else
		kill_pid "$pid_b"
		wait_until 10 link_absent "$tb" "$nsb" || e2e_fail "$tb outlived its process"
		log=$log_b
	fi
	if grep -qE "Sanitizer|runtime error" "$log"* 2>/dev/null; then
		cat "$log"* >&2
		e2e_fail "side $1: sanitizer report"
	fi
}

ping_ok() { # NETNS ADDR WHAT [TRIES]
	local i
	for ((i = 0; i < ${4:-3}; i++)); do
		ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" >/dev/null && return 0
	done
	e2e_fail "$3: ping $2 from $1 failed"
}

# iperf_tcp WHAT: 3 s of TCP from A to B; prints Gbit/s, fails when nothing got through.
iperf_tcp() {
	local gbps
	gbps=$(iperf3_tcp_gbits "$nsb" "$nsa" "10.97.$net.2" 3) || e2e_fail "$1: iperf3 failed"
	awk -v g="$gbps" 'BEGIN { exit !(g > 0.005) }' || e2e_fail "$1: TCP gave $gbps Gbit/s"
	echo "$gbps"
}

# run_case WHAT KIND_A NETDEV_A KIND_B NETDEV_B: A starts first (the server, if any).
run_case() {
	local what=$1 gbps
	net=$((net + 1))
	start_side A "$2" "$3"
	start_side B "$4" "$5"
	ping_ok "$nsb" "10.97.$net.1" "$what"
	ping_ok "$nsa" "10.97.$net.2" "$what"
	gbps=$(iperf_tcp "$what")
	pid_alive "$pid_a" || e2e_fail "$what: side A died"
	pid_alive "$pid_b" || e2e_fail "$what: side B died"
	stop_side B
	stop_side A
	e2e_log "$what: ping both ways, TCP $gbps Gbit/s"
}

sock=$E2E_TMP/s.sock da=$E2E_TMP/a.dgram db=$E2E_TMP/b.dgram

# vwire to vwire, every flavour.
p=$(free_port udp) q=$(free_port udp)
run_case "vwire socket udp" vwire "socket,id=s,udp=127.0.0.1:$q,localaddr=127.0.0.1:$p" \
	vwire "socket,id=s,udp=127.0.0.1:$p,localaddr=127.0.0.1:$q"
p=$(free_port udp)
run_case "vwire socket mcast" vwire "socket,id=s,mcast=239.255.97.1:$p,localaddr=127.0.0.1" \
	vwire "socket,id=s,mcast=239.255.97.1:$p,localaddr=127.0.0.1"
p=$(free_port tcp)
run_case "vwire socket tcp" vwire "socket,id=s,listen=127.0.0.1:$p" \
	vwire "socket,id=s,connect=127.0.0.1:$p"
p=$(free_port tcp)
run_case "vwire stream inet" \
	vwire "stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=$p" \
	vwire "stream,id=s,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=$p"
run_case "vwire stream unix" vwire "stream,id=s,server=on,addr.type=unix,addr.path=$sock" \
	vwire "stream,id=s,addr.type=unix,addr.path=$sock"
p=$(free_port udp) q=$(free_port udp)
run_case "vwire dgram inet" \
	vwire "dgram,id=s,local.type=inet,local.host=127.0.0.1,local.port=$p,remote.type=inet,remote.host=127.0.0.1,remote.port=$q" \
	vwire "dgram,id=s,local.type=inet,local.host=127.0.0.1,local.port=$q,remote.type=inet,remote.host=127.0.0.1,remote.port=$p"
run_case "vwire dgram unix" \
	vwire "dgram,id=s,local.type=unix,local.path=$da,remote.type=unix,remote.path=$db" \
	vwire "dgram,id=s,local.type=unix,local.path=$db,remote.type=unix,remote.path=$da"

# QEMU 7.2 as the peer, in both roles where there are roles.
for order in "vwire qemu" "qemu vwire"; do
	read -r first second <<<"$order"
	p=$(free_port tcp)
	run_case "socket tcp, $first listens, $second connects" \
		"$first" "socket,id=s,listen=127.0.0.1:$p" "$second" "socket,id=s,connect=127.0.0.1:$p"
	p=$(free_port tcp)
	run_case "stream inet, $first server, $second client" \
		"$first" "stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=$p" \
		"$second" "stream,id=s,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=$p"
	run_case "stream unix, $first server, $second client" \
		"$first" "stream,id=s,server=on,addr.type=unix,addr.path=$sock" \
		"$second" "stream,id=s,server=off,addr.type=unix,addr.path=$sock"
done
p=$(free_port udp) q=$(free_port udp)
run_case "dgram inet, vwire and qemu" \
	vwire "dgram,id=s,local.type=inet,local.host=127.0.0.1,local.port=$p,remote.type=inet,remote.host=127.0.0.1,remote.port=$q" \
	qemu "dgram,id=s,local.type=inet,local.host=127.0.0.1,local.port=$q,remote.type=inet,remote.host=127.0.0.1,remote.port=$p"
run_case "dgram unix, vwire and qemu" \
	vwire "dgram,id=s,local.type=unix,local.path=$da,remote.type=unix,remote.path=$db" \
	qemu "dgram,id=s,local.type=unix,local.path=$db,remote.type=unix,remote.path=$da"
p=$(free_port udp) q=$(free_port udp)
run_case "socket udp, vwire and qemu" \
	vwire "socket,id=s,udp=127.0.0.1:$q,localaddr=127.0.0.1:$p" \
	qemu "socket,id=s,udp=127.0.0.1:$p,localaddr=127.0.0.1:$q"
p=$(free_port udp)
run_case "socket mcast, vwire and qemu" \
	vwire "socket,id=s,mcast=239.255.97.2:$p,localaddr=127.0.0.1" \
	qemu "socket,id=s,mcast=239.255.97.2:$p,localaddr=127.0.0.1"

# vde: both sides on a vde_switch (Debian's vde2), vwire with vwire, then vwire with QEMU's
# own -netdev vde. Left out with a note when vwire was built without libvdeplug or there is
# no vde_switch.
if ! "$VWIRE" -netdev help | e2e_grep -x vde; then
	e2e_log "vwire was built without vde: no vde cases"
elif ! command -v vde_switch >/dev/null; then
	e2e_log "no vde_switch (Debian's vde2): no vde cases"
else
	sw=$E2E_TMP/vde.sw
	vde_switch -s "$sw" -d -p "$E2E_TMP/vde.pid" >"$E2E_TMP/vde.log" 2>&1 ||
		e2e_fail "vde_switch did not start: $(cat "$E2E_TMP/vde.log")"
	# The daemon writes its pid file after the parent returned.
	wait_until 10 test -s "$E2E_TMP/vde.pid" || e2e_fail "vde_switch wrote no pid file"
	record_pid "$(cat "$E2E_TMP/vde.pid")"
	# libvdeplug loads its transport plugins with dlopen(RTLD_DEEPBIND), which the ASan
	# runtime refuses (google/sanitizers#611): these cases run the build without sanitizers.
	vwire_asan=$VWIRE
	VWIRE=${VWIRE_FAST:-$VWIRE}
	run_case "vde, vwire and vwire" vwire "vde,id=s,sock=$sw" vwire "vde,id=s,sock=$sw,port=7"
	run_case "vde, vwire and qemu" vwire "vde,id=s,sock=$sw,mode=0770" qemu "vde,id=s,sock=$sw"
	VWIRE=$vwire_asan
	kill_pid "$(cat "$E2E_TMP/vde.pid")"
fi

# l2tpv3: static sessions (session ids 0x11 one way, 0x22 the other), UDP over IPv4 and IPv6
# and raw IP protocol 115, with cookies of 32 and 64 bits and counters; vwire with vwire and
# with QEMU 7.2's own -netdev l2tpv3.
l2tp() { # SRCPORT DSTPORT TXSESSION RXSESSION EXTRA
	echo "l2tpv3,id=s,src=127.0.0.1,dst=127.0.0.1,udp=on,srcport=$1,dstport=$2,txsession=$3,rxsession=$4$5"
}
p=$(free_port udp) q=$(free_port udp)
run_case "l2tpv3 udp, 32-bit cookies and pinned counters, vwire and vwire" \
	vwire "$(l2tp "$p" "$q" 0x11 0x22 ,txcookie=0xa1,rxcookie=0xb2,pincounter=on,counter=on)" \
	vwire "$(l2tp "$q" "$p" 0x22 0x11 ,txcookie=0xb2,rxcookie=0xa1,pincounter=on,counter=on)"
p=$(free_port udp) q=$(free_port udp)
run_case "l2tpv3 udp, 64-bit cookies, counter and offset, vwire and qemu" \
	vwire "$(l2tp "$p" "$q" 0x11 0x22 ,cookie64=on,txcookie=0x0102030405060708,rxcookie=0x1112131415161718,counter=on,offset=8)" \
	qemu "$(l2tp "$q" "$p" 0x22 0x11 ,cookie64=on,txcookie=0x1112131415161718,rxcookie=0x0102030405060708,counter=on,offset=8)"
p=$(free_port udp) q=$(free_port udp)
run_case "l2tpv3 udp over IPv6, vwire and qemu" \
	vwire "l2tpv3,id=s,src=::1,dst=::1,ipv6=on,udp=on,srcport=$p,dstport=$q,txsession=0x11,rxsession=0x22" \
	qemu "l2tpv3,id=s,src=::1,dst=::1,ipv6=on,udp=on,srcport=$q,dstport=$p,txsession=0x22,rxsession=0x11"
run_case "l2tpv3 ip (protocol 115), cookies, vwire and qemu" \
	vwire "l2tpv3,id=s,src=127.0.0.1,dst=127.0.0.1,txsession=0x11,rxsession=0x22,txcookie=7,rxcookie=8" \
	qemu "l2tpv3,id=s,src=127.0.0.1,dst=127.0.0.1,txsession=0x22,rxsession=0x11,txcookie=8,rxcookie=7"
# The Linux kernel's own L2TPv3 pseudowire as a third peer needs l2tp_eth and l2tp_ip.
if ! modprobe -q l2tp_eth 2>/dev/null || ! modprobe -q l2tp_ip 2>/dev/null; then
	e2e_log "no l2tp_eth/l2tp_ip in this kernel ($(uname -r)): the kernel's pseudowire is not tried"
fi

# Garbage from a stream peer: each bad peer is logged and dropped, then a real peer works.
garbage_peer() { # PORT MODE: connect, misbehave, and succeed when vwire closes the connection
	python3 - "$@" <<'EOF'
import os, socket, struct, sys
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if mode == "huge":
    s.sendall(b"\xff\xff\xff\xff" + os.urandom(1000))
elif mode == "random":
    s.sendall(b"\x7f" + os.urandom(65535))
elif mode == "short":
    s.sendall(struct.pack(">I", 1000) + os.urandom(10))
    s.shutdown(socket.SHUT_WR)
try:
    while s.recv(65536):
        pass
except ConnectionResetError:
    pass
EOF
}
net=$((net + 1))
p=$(free_port tcp)
start_side A vwire "stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=$p"
for mode in huge random short; do
	garbage_peer "$p" "$mode" || e2e_fail "garbage ($mode): vwire did not close the connection"
done
wait_for_log_line "$log_a" "connection closed: frame length 4294967295 over the limit" 5 ||
	e2e_fail "the huge length was not logged"
wait_for_log_line "$log_a" "connection closed: frame length 2[0-9]+ over the limit" 5 ||
	e2e_fail "the random bytes were not logged"
wait_for_log_line "$log_a" "connection closed: end of stream inside a frame \(10 of 1000" 5 ||
	e2e_fail "the frame cut short was not logged"
pid_alive "$pid_a" || e2e_fail "vwire died of garbage"
start_side B vwire "stream,id=s,addr.type=inet,addr.host=127.0.0.1,addr.port=$p"
ping_ok "$nsb" "10.97.$net.1" "after garbage"
ping_ok "$nsa" "10.97.$net.2" "after garbage"
stop_side B
stop_side A
e2e_log "garbage: huge length, random bytes and a cut frame logged and dropped; then served"

# Reconnect: the server is killed and restarted; the client with reconnect=1 comes back.
net=$((net + 1))
start_side A vwire "stream,id=s,server=on,addr.type=unix,addr.path=$sock"
start_side B vwire "stream,id=s,addr.type=unix,addr.path=$sock,reconnect=1"
ping_ok "$nsb" "10.97.$net.1" "before restart"
stop_side A
wait_for_log_line "$log_b" "connection closed" 5 || e2e_fail "the client did not see its server go"
sleep 1.5
start_side A vwire "stream,id=s,server=on,addr.type=unix,addr.path=$sock"
wait_for_log_line "$log_a" "connection from" 5 || e2e_fail "the client did not reconnect"
ping_ok "$nsb" "10.97.$net.1" "after restart" 5
ping_ok "$nsa" "10.97.$net.2" "after restart"
[[ $(grep -c "connected to" "$log_b") -ge 2 ]] || e2e_fail "the client log shows no reconnection"
stop_side B
stop_side A
e2e_log "reconnect: the client found the restarted server, ping resumed"
echo "PASS: $E2E_NAME"
