#!/usr/bin/env bash
# user_native_flows.sh - the native user-mode engine (-netdev user,engine=native) under load
# and abuse, beyond user_netns.sh. vwire runs in a "host" namespace of the test's own (whose
# sysctls it may set: ping sockets for everyone), where the host's servers listen on 127.0.0.1
# (10.0.2.2 to the guest) and on 198.51.100.1 (reached by that address, over the default
# route); its tap goes to a "guest" namespace with 10.0.2.15/24 and IPv6 off (so that every
# frame the guest sends is IPv4 or ARP, and the drop counters count only the test's).
# Promises checked, each for MTU 1500 and MTU 65520 (vwire restarted, the tap's MTU the same):
# 1 GiB each way over TCP, its sha256 checked at the far end; 1000 concurrent connections
# (all open at once: flows >= 1000), each echoing its own payload intact; half-close either
# way (data flows on after the other side's FIN); a closed port refuses at once (ECONNREFUSED,
# tcp-refused); a host that resets (SO_LINGER 0), after the guest spoke or as soon as it
# accepts, gives the guest ECONNRESET, never a hang nor a refusal, and the flow goes
# (tcp-resets); a connection idle for 20 s carries data both ways; UDP echo through 10.0.2.2
# up to the MTU, and a hostfwd=udp rule into the guest; ping through a ping socket
# (icmp-opened) and ping of 10.0.2.2, answered by the engine, up to the MTU; malformed frames
# (truncated, bad lengths, bad checksum, bad TCP data offset and options, fragments, unknown
# protocol and ethertype) each counted once under its drop-* reason, vwire alive and TCP
# still working; 3000 SYNs from random ports to a closed port each answered with a reset and
# the flow table back to what it was; once every connection ended vwire holds no TCP socket;
# vwire exits cleanly (status 0, no sanitizer report). Last, the same engine run as nobody
# with no capability (-runas) moves 64 MiB each way and pings out.
#
# All of it runs on $VWIRE, the sanitized daemon of tests/run-all.sh, the 1 GiB transfers too:
# with vnet headers the guest's TCP crosses as 64 KiB GSO frames at either MTU, and a GiB took
# 1.5 to 3 s under ASan+UBSan on 2 shared cores (the whole test about a minute), so the plain
# build ($VWIRE_FAST) would buy nothing.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

QMP_PY=$E2E_DIR/lib/qmp.py
require_root
require_cmd ip python3 ping sysctl ss
require_file /dev/net/tun "tun device"
require_file "$QMP_PY" "QMP helper"
require_vwire
"$VWIRE" -netdev help 2>&1 | e2e_grep -x user || e2e_skip "$VWIRE has no user netdev"

hns=vwnH$E2E_SUFFIX
gns=vwnG$E2E_SUFFIX
tap=$(e2e_ifname vwn)
qmp_sock=$E2E_TMP/qmp.sock
peers=$E2E_TMP/peers.py
# Ports of peers.py (fixed: the host namespace is ours alone); P_HOSTFWD is the hostfwd rule's.
P_UDP=5009
P_HOSTFWD=5100
P_GUEST_UDP=6100
hostfwd=hostfwd=udp:127.0.0.1:$P_HOSTFWD-10.0.2.15:$P_GUEST_UDP
IDLE=20
BULK=$((1 << 30))
vw_pid=
vw_out=

make_netns "$hns"
make_netns "$gns"
# The host: ping sockets for every group (icmp.c needs them); a second address, on lo (no
# dummy links needed), which the engine reaches as itself, not as 10.0.2.2.
ip netns exec "$hns" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
ip -n "$hns" addr add 198.51.100.1/32 dev lo
# The guest: no IPv6 (its router solicitations and MLD reports would count as drop-ethertype).
if [[ -d /proc/sys/net/ipv6 ]]; then
	ip netns exec "$gns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
fi

in_h() { ip netns exec "$hns" "$@"; }
in_g() { ip netns exec "$gns" "$@"; }

# The peers, host and guest side: python3 peers.py ROLE ARGS (see each function).
cat >"$peers" <<'EOF'
"""peers.py - the test's peers: "host" (every server, in the host namespace) and one client
or raw-frame sender per check (in the guest namespace; "udp" also in the host, for hostfwd)."""
import asyncio
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

# A deterministic stream: chunks of a seeded random block, each stamped with its index (so
# a lost, repeated or reordered segment changes the hash); the odd size keeps chunk edges off
# segment edges. Hashed on the fly at both ends: nothing is stored.
CHUNK = (1 << 20) + 13
# Fixed ports: the host namespace is the test's own.
(P_SINK, P_SOURCE, P_ECHO, P_HC_GUEST, P_HC_HOST, P_RESET, P_IDLE, P_CLOSED, P_UDP,
 P_RESET_NOW) = range(5001, 5011)
HC_BYTES = 4 << 20


def chunks(seed, n):
    buf = bytearray(random.Random(seed).randbytes(CHUNK))
    mv = memoryview(buf)
    i = 0
    while n:
        buf[0:8] = i.to_bytes(8, "big")
        k = min(n, CHUNK)
        yield mv[:k]
        n -= k
        i += 1


def send_stream(s, seed, n):
    h = hashlib.sha256()
    for c in chunks(seed, n):
        h.update(c)
        s.sendall(c)
    return h.hexdigest()


def stream_sha(seed, n):
    h = hashlib.sha256()
    for c in chunks(seed, n):
        h.update(c)
    return h.hexdigest()


def recv_hash(s, n=None):
    """Bytes up to @n (or to end of file) hashed: (count, sha256)."""
    h, got = hashlib.sha256(), 0
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    while n is None or got < n:
        k = s.recv_into(mv, len(buf) if n is None else min(len(buf), n - got))
        if not k:
            break
        h.update(mv[:k])
        got += k
    return got, h.hexdigest()


def recv_all(s):
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d


def recv_line(s):
    out = b""
    while not out.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        out += d
    return out.decode().strip()


# The host's servers

def h_sink(c):
    n, sha = recv_hash(c)
    c.sendall(b"%d %s\n" % (n, sha.encode()))


def h_source(c):
    n, seed = map(int, recv_line(c).split())
    sha = send_stream(c, seed, n)
    c.sendall(sha.encode())


def h_echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def h_hc_guest(c):
    # The guest sent, then shut its side: it still takes ours to the end.
    n, sha = recv_hash(c)
    c.sendall(b"%d %s\n" % (n, sha.encode()))
    send_stream(c, 7, HC_BYTES)


def h_hc_host(c):
    # We send, then shut our side: the guest's data still reaches us to the end.
    send_stream(c, 9, HC_BYTES)
    c.shutdown(socket.SHUT_WR)
    n, sha = recv_hash(c)
    print("hc-host got %d %s" % (n, sha), flush=True)


def h_reset(c):
    # Reset after the guest has spoken: the connection is established on both sides.
    recv_line(c)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset_now_loop(srv):
    # Reset as soon as accepted (here, not in a thread of its own: as fast as can be), so
    # that the reset may come before the engine has seen its connect() complete.
    while True:
        c, _ = srv.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


def h_idle(c):
    idle = int(recv_line(c).split()[1])
    c.sendall(b"hello\n")
    time.sleep(idle)
    c.sendall(b"host-after-idle\n")
    if recv_line(c) == "guest-after-idle":
        c.sendall(b"bye\n")


def serve_conn(fn, c):
    try:
        with c:
            fn(c)
    except Exception as e:  # pylint: disable=broad-except
        print("%s: %r" % (fn.__name__, e), flush=True)


def accept_loop(srv, fn):
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve_conn, args=(fn, c), daemon=True).start()


def udp_echo_loop(s):
    while True:
        d, peer = s.recvfrom(65536)
        s.sendto(d, peer)


def host_serve():
    threading.stack_size(256 * 1024)
    for port, fn in ((P_SINK, h_sink), (P_SOURCE, h_source), (P_ECHO, h_echo),
                     (P_HC_GUEST, h_hc_guest), (P_HC_HOST, h_hc_host), (P_RESET, h_reset),
                     (P_IDLE, h_idle)):
        srv = socket.create_server(("0.0.0.0", port), backlog=4096)
        threading.Thread(target=accept_loop, args=(srv, fn), daemon=True).start()
    srv = socket.create_server(("0.0.0.0", P_RESET_NOW), backlog=4096)
    threading.Thread(target=reset_now_loop, args=(srv,), daemon=True).start()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", P_UDP))
    threading.Thread(target=udp_echo_loop, args=(u,), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


# The guest's clients

def connect(addr, port, timeout=30):
    return socket.create_connection((addr, port), timeout=timeout)


def g_put(addr, n, seed):
    with connect(addr, P_SINK) as s:
        t = time.monotonic()
        sha = send_stream(s, int(seed), int(n))
        s.shutdown(socket.SHUT_WR)
        far = recv_line(s)
        t = time.monotonic() - t
    if far != "%s %s" % (n, sha):
        sys.exit("sent %s bytes sha256 %s, the host got %s" % (n, sha, far))
    print("%.1f s, sha256 %s... matches at the host" % (t, sha[:16]))


def g_get(addr, n, seed):
    n = int(n)
    with connect(addr, P_SOURCE) as s:
        t = time.monotonic()
        s.sendall(b"%d %s\n" % (n, seed.encode()))
        got, sha = recv_hash(s, n)
        far = recv_all(s).decode()
        t = time.monotonic() - t
    if got != n or far != sha:
        sys.exit("got %d of %d bytes sha256 %s, the host sent sha256 %s" % (got, n, sha, far))
    print("%.1f s, sha256 %s... as the host sent" % (t, sha[:16]))


def g_many(addr, n, ready, go):
    n = int(n)

    async def one(i, r, w):
        msg = random.Random(i).randbytes(1 + i * 7919 % 32768)

        async def send():
            w.write(msg)
            await w.drain()
            w.write_eof()
        sender = asyncio.create_task(send())
        got = await r.read()
        await sender
        w.close()
        return got == msg

    async def main():
        conns = await asyncio.gather(*(asyncio.open_connection(addr, P_ECHO) for _ in range(n)),
                                     return_exceptions=True)
        bad = [c for c in conns if isinstance(c, BaseException)]
        if bad:
            sys.exit("%d of %d connections failed: %r" % (len(bad), n, bad[:3]))
        open(ready, "w").close()
        while not os.path.exists(go):
            await asyncio.sleep(0.05)
        res = await asyncio.wait_for(
            asyncio.gather(*(one(i, r, w) for i, (r, w) in enumerate(conns)),
                           return_exceptions=True), 120)
        good = sum(1 for x in res if x is True)
        if good != n:
            sys.exit("%d/%d intact: %r" % (good, n, [x for x in res if x is not True][:3]))
        print("%d/%d intact" % (good, n))
    asyncio.run(main())


def g_hc_guest(addr):
    with connect(addr, P_HC_GUEST) as s:
        sha = send_stream(s, 5, HC_BYTES)
        s.shutdown(socket.SHUT_WR)
        far = recv_line(s)
        got, rsha = recv_hash(s)
    if far != "%d %s" % (HC_BYTES, sha):
        sys.exit("the host got %s of our %d bytes %s" % (far, HC_BYTES, sha))
    if (got, rsha) != (HC_BYTES, stream_sha(7, HC_BYTES)):
        sys.exit("after our FIN, %d bytes came, not the host's %d" % (got, HC_BYTES))
    print("the host got our %d bytes; after our FIN its %d bytes came intact" % (HC_BYTES, got))


def g_hc_host(addr):
    with connect(addr, P_HC_HOST) as s:
        got, rsha = recv_hash(s)
        if (got, rsha) != (HC_BYTES, stream_sha(9, HC_BYTES)):
            sys.exit("before the host's FIN, %d bytes came, not %d intact" % (got, HC_BYTES))
        sha = send_stream(s, 11, HC_BYTES)
    print("%d %s" % (HC_BYTES, sha))


def g_reset(addr, n):
    """A host that resets after our hello, then @n at once that reset as soon as accepted:
    each must end in ECONNRESET (at recv, or at connect when the reset follows the handshake
    at once), never in ECONNREFUSED (the host accepted), end of file or a hang."""
    with connect(addr, P_RESET, timeout=10) as s:
        s.sendall(b"hello\n")
        t = time.monotonic()
        try:
            d = s.recv(100)
            sys.exit("after hello: recv gave %r instead of ECONNRESET" % d)
        except ConnectionResetError:
            pass
        except OSError as e:
            sys.exit("after hello: recv: %r after %.1f s instead of ECONNRESET" %
                     (e, time.monotonic() - t))
        t = time.monotonic() - t

    async def one():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(addr, P_RESET_NOW), 10)
        except ConnectionResetError:
            return "ECONNRESET"
        except (OSError, asyncio.TimeoutError) as e:
            return "connect: %r" % e
        try:
            return "recv gave %r" % await asyncio.wait_for(r.read(100), 10)
        except ConnectionResetError:
            return "ECONNRESET"
        except (OSError, asyncio.TimeoutError) as e:
            return "recv: %r" % e
        finally:
            w.close()

    async def all_at_once():
        # Together, so that the engine meets their SYNs in batches: a reset may then come
        # before it has seen its connect() complete.
        return await asyncio.gather(*(one() for _ in range(int(n))))
    seen = {}
    for what in asyncio.run(all_at_once()):
        seen[what] = seen.get(what, 0) + 1
    if set(seen) - {"ECONNRESET"}:
        sys.exit("after hello: ECONNRESET; %s reset at once: %s" % (n, seen))
    print("ECONNRESET %.3f s after hello, and for %s reset at once" % (t, n))


def g_refused(addr):
    t = time.monotonic()
    try:
        connect(addr, P_CLOSED, timeout=10).close()
        sys.exit("connected to a closed port")
    except ConnectionRefusedError:
        pass
    except OSError as e:
        sys.exit("not refused: %r after %.1f s" % (e, time.monotonic() - t))
    t = time.monotonic() - t
    # The guest's SYN is answered at once: no retransmission (1 s) came into it.
    if t >= 0.9:
        sys.exit("ECONNREFUSED only after %.1f s" % t)
    print("ECONNREFUSED after %.3f s" % t)


def g_idle(addr, idle):
    idle = int(idle)
    with connect(addr, P_IDLE, timeout=idle + 30) as s:
        s.sendall(b"idle %d\n" % idle)
        if recv_line(s) != "hello":
            sys.exit("no hello")
        t = time.monotonic()
        line = recv_line(s)
        t = time.monotonic() - t
        if line != "host-after-idle":
            sys.exit("after %.1f s idle: %r from the host" % (t, line))
        s.sendall(b"guest-after-idle\n")
        if recv_line(s) != "bye":
            sys.exit("the host did not answer after the idle time")
    print("idle %.1f s, then data both ways" % t)


def g_udp(addr, port, sizes):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((addr, int(port)))
    for i, size in enumerate(map(int, sizes.split(","))):
        msg = random.Random(i).randbytes(size)
        for _ in range(3):  # UDP may lose one; three losses in a row are a failure
            s.send(msg)
            try:
                got = s.recv(65536)
                break
            except socket.timeout:
                got = None
        if got != msg:
            sys.exit("datagram %d (%d bytes): %s" % (i, size, "lost" if got is None else
                                                      "%d bytes back, differing" % len(got)))
    print("%d datagrams (%s bytes) echoed" % (i + 1, sizes))


def g_udp_serve(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("ready", flush=True)
    udp_echo_loop(s)


# Raw frames on the guest's tap (AF_PACKET)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


GUEST, HOST = "10.0.2.15", "10.0.2.2"


def ip4(proto, l4, tot=None, frag=0, ver_ihl=0x45, bad_csum=False, src=GUEST, dst=HOST):
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, 20 + len(l4) if tot is None else tot, 0x4242,
                    frag, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h) ^ (0x0101 if bad_csum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + l4


def tcp(sport, dport, seq, flags, doff=5, opts=b"", ack=0, payload=b"", src=GUEST, dst=HOST):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 64240, 0, 0) + opts
    seg = h + payload
    c = csum(struct.pack("!4s4sBBH", socket.inet_aton(src), socket.inet_aton(dst), 0, 6,
                         len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(sport, dport, payload, ulen=None):
    ulen = 8 + len(payload) if ulen is None else ulen
    return struct.pack("!HHHH", sport, dport, ulen, 0) + payload


def g_hostile(ifname, src_mac, dst_mac):
    """Malformed frames, each refused for one reason: prints the drop counters' growth due."""
    eth = mac(dst_mac) + mac(src_mac)
    ip = eth + b"\x08\x00"
    dgram = udp(40000, P_UDP, b"x" * 32)
    frames = [  # what, the counter that must count it, the frame
        ("truncated IPv4 header", "drop-short", ip + ip4(17, dgram)[:10]),
        ("IP total length past the frame", "drop-short", ip + ip4(17, dgram, tot=200)),
        ("bad IP header checksum", "drop-ip-header", ip + ip4(17, dgram, bad_csum=True)),
        ("IP header length of 4 words", "drop-ip-header", ip + ip4(17, dgram, ver_ihl=0x44)),
        ("IP version 6 under IPv4's ethertype", "drop-ip-header",
         ip + ip4(17, dgram, ver_ihl=0x65)),
        ("TCP data offset past the segment", "drop-l4-header",
         ip + ip4(6, tcp(40001, P_ECHO, 1, 0x02, doff=15))),
        ("TCP option of length 0", "drop-l4-header",
         ip + ip4(6, tcp(40002, P_ECHO, 1, 0x02, doff=6, opts=b"\x02\x00\x00\x00"))),
        ("IPv4 first fragment (MF)", "drop-fragment", ip + ip4(17, dgram, frag=0x2000)),
        ("IPv4 later fragment (offset)", "drop-fragment", ip + ip4(17, b"z" * 16, frag=185)),
        ("UDP length past the packet", "drop-l4-header",
         ip + ip4(17, udp(40003, P_UDP, b"w", ulen=200))),
        ("ICMP shorter than its header", "drop-l4-header", ip + ip4(1, b"\x08\x00\x00\x00")),
        ("IP protocol 47 (GRE)", "drop-proto", ip + ip4(47, b"\0" * 8)),
        ("ethertype 0x88b5", "drop-ethertype", eth + b"\x88\xb5" + b"\0" * 46),
    ]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    due = {}
    for _, counter, frame in frames:
        s.send(frame)
        due[counter] = due.get(counter, 0) + 1
    print(" ".join("%s=%d" % kv for kv in sorted(due.items())))


def g_synburst(ifname, src_mac, dst_mac, count):
    """@count SYNs from random ports to the closed port: prints "sent answered"."""
    count = int(count)
    rng = random.Random(3)
    ports = rng.sample(range(1024, 65536), count)
    seqs = {p: rng.getrandbits(32) for p in ports}
    eth = mac(dst_mac) + mac(src_mac) + b"\x08\x00"
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    cap.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
    cap.bind((ifname, 0))
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    out.bind((ifname, 0))
    mss = b"\x02\x04\x05\xb4"
    frames = [eth + ip4(6, tcp(p, P_CLOSED, seqs[p], 0x02, doff=6, opts=mss)) for p in ports]
    for f in frames:
        out.send(f)
    answered = set()
    cap.settimeout(3)
    while len(answered) < count:
        try:
            f, addr = cap.recvfrom(2048)
        except socket.timeout:
            break
        if addr[2] != socket.PACKET_HOST or len(f) < 54 or f[23] != 6:
            continue
        ihl = (f[14] & 15) * 4
        t = f[14 + ihl:]
        sport, dport, _, ack = struct.unpack("!HHII", t[:12])
        if (sport == P_CLOSED and dport in seqs and t[13] & 0x04 and
                ack == (seqs[dport] + 1) & 0xffffffff):
            answered.add(dport)
    print(count, len(answered))


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"host": host_serve, "put": g_put, "get": g_get, "many": g_many, "hc-guest": g_hc_guest,
     "hc-host": g_hc_host, "refused": g_refused, "reset": g_reset, "idle": g_idle,
     "udp": g_udp, "udp-serve": g_udp_serve, "hostile": g_hostile,
     "synburst": g_synburst}[cmd](*sys.argv[2:])
EOF

# start_vwire TAG MTU: vwire in the host namespace: tap -- hub 0 -- user (native, with a UDP
# hostfwd into the guest); its tap moved to the guest namespace with the same MTU.
start_vwire() {
	local tag=$1 mtu=$2
	vw_out=$E2E_TMP/vwire-$tag.out
	rm -f "$qmp_sock"
	spawn -n "$hns" -o "$vw_out" "$VWIRE" \
		-netdev "tap,id=t0,ifname=$tap,script=no,downscript=no,vnet_hdr=on" \
		-netdev "user,id=u0,engine=native,mtu=$mtu,$hostfwd" \
		-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=u0 \
		-qmp "unix:$qmp_sock,server=on,wait=off" -D "$E2E_TMP/vwire-$tag.log"
	vw_pid=$SPAWN_PID
	wait_for_link "$tap" "$hns" || { cat "$vw_out"; e2e_fail "$tag: no $tap"; }
	wait_for_socket "$qmp_sock" || e2e_fail "$tag: no QMP socket"
	# The tap's fd survives the move; a long transmit queue lets the SYN burst reach vwire.
	ip -n "$hns" link set "$tap" netns "$gns"
	ip -n "$gns" link set "$tap" mtu "$mtu" txqueuelen 5000 up
	ip -n "$gns" addr add 10.0.2.15/24 dev "$tap"
	ip -n "$gns" route add default via 10.0.2.2
}

# stop_vwire TAG: SIGTERM; vwire must exit within 30 s with status 0 and no sanitizer report
# (stop_vwire_clean's checks, with a bound on the wait), and take its tap with it.
stop_vwire() {
	local st=0
	pid_alive "$vw_pid" || { cat "$vw_out"; e2e_fail "$1: vwire died"; }
	kill -TERM "$vw_pid"
	wait_until 30 pid_gone "$vw_pid" || e2e_fail "$1: vwire still runs 30 s after SIGTERM"
	wait "$vw_pid" || st=$?
	forget_pid "$vw_pid"
	vw_pid=
	if grep -qE "Sanitizer|runtime error" "$vw_out"; then
		cat "$vw_out"
		e2e_fail "$1: sanitizer report"
	fi
	((st == 0)) || { tail -30 "$vw_out"; e2e_fail "$1: vwire exited with status $st"; }
	wait_until 10 link_absent "$tap" "$gns" || e2e_fail "$1: $tap outlived vwire"
}

# reap PID SECONDS: wait for a spawned process (KILL after SECONDS); return its status.
reap() {
	local st=0
	wait_until "$2" pid_gone "$1" || kill -KILL "$1" 2>/dev/null || true
	wait "$1" || st=$?
	forget_pid "$1"
	return "$st"
}

# counters: the user netdev's counters, "name value" a line (query-netdevs).
counters() {
	python3 "$QMP_PY" "$qmp_sock" query-netdevs | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d["id"] == "u0":
        for k, v in d["counters"].items():
            print(k, v)'
}

# snap ARRAY: the counters into the associative array ARRAY (C0 before, C1 after).
declare -A C0=() C1=()
snap() {
	local -n _snap=$1
	local k v
	_snap=()
	while read -r k v; do _snap["$k"]=$v; done < <(counters)
	[[ -n ${_snap[flows]:-} ]] || e2e_fail "no counters from query-netdevs"
}

# delta NAME: how much counter NAME grew from C0 to C1.
delta() {
	echo $((${C1[$1]:-0} - ${C0[$1]:-0}))
}

# flows_at_most N: the engine has N flows or fewer (for wait_until).
flows_at_most() {
	snap C1
	((C1[flows] <= $1))
}

# start_host TAG: the host's servers (peers.py host) in the host namespace.
host_pid=
host_log=
start_host() {
	host_log=$E2E_TMP/host-$1.log
	spawn -n "$hns" -o "$host_log" python3 "$peers" host
	host_pid=$SPAWN_PID
	wait_for_log_line "$host_log" '^ready$' 10 || { cat "$host_log"; e2e_fail "no host servers"; }
}

# The checks of one MTU, on a vwire started with it.
flows_checks() {
	local tag=$1 mtu=$2 out pid n sizes

	# A connection that stays idle for $IDLE s while the rest runs, then talks both ways.
	spawn -n "$gns" -o "$E2E_TMP/idle-$tag.out" python3 "$peers" idle 10.0.2.2 "$IDLE"
	idle_pid=$SPAWN_PID

	# Ping: 10.0.2.2 is answered by the engine, 198.51.100.1 through a ping socket.
	snap C0
	for n in 56 $((mtu - 28)); do
		in_g ping -c 2 -i 0.2 -W 2 -s "$n" 10.0.2.2 >/dev/null ||
			e2e_fail "$tag: ping -s $n 10.0.2.2 failed"
	done
	snap C1
	(($(delta icmp-opened) == 0)) || e2e_fail "$tag: a ping of 10.0.2.2 opened a ping socket"
	for n in 56 $((mtu - 28)); do
		in_g ping -c 2 -i 0.2 -W 2 -s "$n" 198.51.100.1 >/dev/null ||
			e2e_fail "$tag: ping -s $n 198.51.100.1 failed"
	done
	snap C1
	(($(delta icmp-opened) >= 1)) || e2e_fail "$tag: ping of 198.51.100.1: no icmp-opened"
	e2e_log "$tag: ping of 10.0.2.2 (the engine) and 198.51.100.1 (a ping socket," \
		"icmp-opened +$(delta icmp-opened)), 56 and $((mtu - 28)) bytes"

	# A closed port refuses at once.
	snap C0
	out=$(in_g python3 "$peers" refused 10.0.2.2 2>&1) || e2e_fail "$tag: closed port: $out"
	snap C1
	(($(delta tcp-refused) == 1)) || e2e_fail "$tag: closed port: tcp-refused +$(delta tcp-refused)"
	e2e_log "$tag: closed port of 10.0.2.2: $out, tcp-refused +1"

	# A host that resets, after the guest spoke and (200 connections at once) as soon as it
	# accepts: the guest gets ECONNRESET, not a hang nor a refusal; the flows go.
	snap C0
	out=$(in_g python3 "$peers" reset 10.0.2.2 200 2>&1) || e2e_fail "$tag: host reset: $out"
	wait_until 5 flows_at_most "${C0[flows]}" ||
		e2e_fail "$tag: host reset: ${C1[flows]} flows, ${C0[flows]} before"
	(($(delta tcp-refused) == 0 && $(delta tcp-resets) == 201)) || e2e_fail "$tag: host reset:" \
		"tcp-refused +$(delta tcp-refused), tcp-resets +$(delta tcp-resets), not +0 and +201"
	e2e_log "$tag: host reset (SO_LINGER 0): $out; tcp-resets +201, flows back to ${C1[flows]}"

	# Half-close either way.
	out=$(in_g python3 "$peers" hc-guest 198.51.100.1 2>&1) ||
		e2e_fail "$tag: guest half-close: $out"
	e2e_log "$tag: guest half-close: $out"
	out=$(in_g python3 "$peers" hc-host 198.51.100.1 2>&1) ||
		e2e_fail "$tag: host half-close: $out"
	wait_for_log_line "$host_log" "^hc-host got $out\$" 10 || {
		cat "$host_log"
		e2e_fail "$tag: host half-close: the host did not get the guest's $out"
	}
	e2e_log "$tag: host half-close: the guest's 4 MiB reached the host after its FIN, intact"

	# UDP echo through 10.0.2.2, datagrams up to the MTU; a hostfwd=udp rule into the guest.
	sizes=1,100,1000,$((mtu - 28))
	((mtu <= 1500)) || sizes=$sizes,8972,32768
	snap C0
	out=$(in_g python3 "$peers" udp 10.0.2.2 "$P_UDP" "$sizes" 2>&1) ||
		e2e_fail "$tag: UDP echo: $out"
	snap C1
	(($(delta udp-opened) == 1)) || e2e_fail "$tag: UDP echo: udp-opened +$(delta udp-opened)"
	e2e_log "$tag: UDP through 10.0.2.2: $out, one flow"
	spawn -n "$gns" -o "$E2E_TMP/udp-serve-$tag.log" python3 "$peers" udp-serve 10.0.2.15 \
		"$P_GUEST_UDP"
	pid=$SPAWN_PID
	wait_for_log_line "$E2E_TMP/udp-serve-$tag.log" '^ready$' 10 ||
		e2e_fail "$tag: no UDP server in the guest"
	out=$(in_h python3 "$peers" udp 127.0.0.1 "$P_HOSTFWD" "$sizes" 2>&1) ||
		e2e_fail "$tag: UDP hostfwd: $out"
	kill_pid "$pid"
	e2e_log "$tag: ${hostfwd#hostfwd=}: $out"

	# 1000 concurrent connections: all open at once, then each echoes its own payload.
	rm -f "$E2E_TMP/many.ready" "$E2E_TMP/many.go"
	spawn -n "$gns" -o "$E2E_TMP/many-$tag.out" python3 "$peers" many 10.0.2.2 1000 \
		"$E2E_TMP/many.ready" "$E2E_TMP/many.go"
	pid=$SPAWN_PID
	wait_until 60 test -e "$E2E_TMP/many.ready" ||
		{ cat "$E2E_TMP/many-$tag.out"; e2e_fail "$tag: 1000 connections did not open"; }
	snap C1
	((C1[flows] >= 1000)) || e2e_fail "$tag: 1000 connections open, but ${C1[flows]} flows"
	touch "$E2E_TMP/many.go"
	reap "$pid" 120 ||
		{ cat "$E2E_TMP/many-$tag.out"; e2e_fail "$tag: 1000 connections failed"; }
	e2e_log "$tag: 1000 concurrent connections (${C1[flows]} flows at once):" \
		"$(cat "$E2E_TMP/many-$tag.out")"
}

# The bulk transfers: BULK bytes each way.
bulk_checks() {
	local tag=$1 out
	out=$(in_g python3 "$peers" put 10.0.2.2 "$BULK" 1 2>&1) ||
		e2e_fail "$tag: bulk guest -> host: $out"
	e2e_log "$tag: $((BULK >> 20)) MiB guest -> 10.0.2.2: $out"
	out=$(in_g python3 "$peers" get 198.51.100.1 "$BULK" 2 2>&1) ||
		e2e_fail "$tag: bulk host -> guest: $out"
	e2e_log "$tag: $((BULK >> 20)) MiB 198.51.100.1 -> guest: $out"
}

# all_dropped: every drop-* counter of DUE grew by at least its due (for wait_until).
declare -A DUE=()
all_dropped() {
	local k
	snap C1
	for k in "${!DUE[@]}"; do
		(($(delta "$k") >= DUE[$k])) || return 1
	done
}

# Hostile frames, then a SYN burst; vwire lives on and TCP still works.
hostile_checks() {
	local tag=$1 out gmac emac due kv k sent answered

	gmac=$(in_g cat "/sys/class/net/$tap/address")
	emac=$(ip -n "$gns" neigh show 10.0.2.2 |
		awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
	[[ -n $emac ]] || e2e_fail "$tag: the guest knows no MAC for 10.0.2.2"
	snap C0
	due=$(in_g python3 "$peers" hostile "$tap" "$gmac" "$emac" 2>&1) ||
		e2e_fail "$tag: hostile frames: $due"
	DUE=()
	for kv in $due; do DUE[${kv%=*}]=${kv#*=}; done
	wait_until 5 all_dropped || true
	for k in "${!DUE[@]}"; do
		[[ -n ${C1[$k]:-} ]] || e2e_fail "$tag: no counter $k"
	done
	# Each frame counted once, under its own reason.
	for k in "${!C1[@]}"; do
		[[ $k == drop-* ]] || continue
		(($(delta "$k") == ${DUE[$k]:-0})) || e2e_fail "$tag: hostile frames:" \
			"$k +$(delta "$k"), not +${DUE[$k]:-0} (due: $due)"
	done
	pid_alive "$vw_pid" || { cat "$vw_out"; e2e_fail "$tag: vwire died of hostile frames"; }
	out=$(in_g python3 "$peers" put 10.0.2.2 1048576 3 2>&1) ||
		e2e_fail "$tag: TCP after hostile frames: $out"
	e2e_log "$tag: hostile frames counted ($due), vwire alive, TCP works"

	snap C0
	out=$(in_g python3 "$peers" synburst "$tap" "$gmac" "$emac" 3000 2>&1) ||
		e2e_fail "$tag: SYN burst: $out"
	read -r sent answered <<<"$out"
	pid_alive "$vw_pid" || { cat "$vw_out"; e2e_fail "$tag: vwire died of a SYN burst"; }
	wait_until 10 flows_at_most "${C0[flows]}" ||
		e2e_fail "$tag: SYN burst: ${C1[flows]} flows remain, ${C0[flows]} before"
	((sent == 3000 && answered == sent)) || e2e_fail "$tag: SYN burst: $answered of $sent SYNs" \
		"answered with a reset (tcp-refused +$(delta tcp-refused), flows-full +$(delta flows-full))"
	e2e_log "$tag: $sent SYNs from random ports to a closed port: $answered resets," \
		"tcp-refused +$(delta tcp-refused), flows back to ${C1[flows]}"
}

# vwire_tcp_sockets: how many TCP sockets vwire holds in the host namespace (TIME-WAIT ones
# belong to no process).
vwire_tcp_sockets() {
	local s
	s=$(in_h ss -Htanp)
	grep -c "pid=$vw_pid," <<<"$s" || true
}

# no_tcp_left: vwire holds no TCP socket any more (for wait_until).
no_tcp_left() {
	(($(vwire_tcp_sockets) == 0))
}

# Everything for one MTU.
idle_pid=
run_mtu() {
	local mtu=$1 tag=mtu$1
	start_host "$tag"
	start_vwire "$tag" "$mtu"
	flows_checks "$tag" "$mtu"
	bulk_checks "$tag"
	hostile_checks "$tag"
	reap "$idle_pid" $((IDLE + 30)) ||
		{ cat "$E2E_TMP/idle-$tag.out"; e2e_fail "$tag: idle connection failed"; }
	e2e_log "$tag: $(cat "$E2E_TMP/idle-$tag.out")"
	# Every connection has ended: vwire keeps none of their host sockets.
	wait_until 10 no_tcp_left || {
		python3 "$QMP_PY" hmp "$qmp_sock" "info usernet" || true
		e2e_fail "$tag: vwire holds $(vwire_tcp_sockets) TCP sockets after every connection ended"
	}
	snap C1
	e2e_log "$tag: every connection ended: vwire holds no TCP socket;" \
		"${C1[flows]} flows left (UDP and ICMP, until they time out)"
	stop_vwire "$tag"
	e2e_log "$tag: vwire exited with status 0, no sanitizer report"
	kill_pid "$host_pid"
}

# The engine needs no privilege: vwire drops to nobody with no capability left once its tap
# exists (-runas; without -qmp, which would keep CAP_NET_ADMIN for taps made later), and the
# guest still moves data both ways and pings out through a ping socket.
is_nobody_without_caps() {
	grep -qE '^Uid:\s+65534\s' "/proc/$vw_pid/status" &&
		grep -qE '^CapEff:\s+0+$' "/proc/$vw_pid/status"
}
rootless_checks() {
	local tag=rootless out
	start_host "$tag"
	vw_out=$E2E_TMP/vwire-$tag.out
	spawn -n "$hns" -o "$vw_out" "$VWIRE" -runas nobody \
		-netdev "tap,id=t0,ifname=$tap,script=no,downscript=no,vnet_hdr=on" \
		-netdev "user,id=u0,engine=native" \
		-netdev hubport,id=h0,hubid=0,netdev=t0 -netdev hubport,id=h1,hubid=0,netdev=u0 \
		-D "$E2E_TMP/vwire-$tag.log"
	vw_pid=$SPAWN_PID
	wait_for_link "$tap" "$hns" || { cat "$vw_out"; e2e_fail "$tag: no $tap"; }
	wait_until 10 is_nobody_without_caps ||
		e2e_fail "$tag: vwire is not nobody without capabilities: $(grep -E '^(Uid|CapEff)' \
			"/proc/$vw_pid/status" | tr '\n' ' ')"
	ip -n "$hns" link set "$tap" netns "$gns"
	ip -n "$gns" link set "$tap" up
	ip -n "$gns" addr add 10.0.2.15/24 dev "$tap"
	ip -n "$gns" route add default via 10.0.2.2
	out=$(in_g python3 "$peers" put 10.0.2.2 $((64 << 20)) 3 2>&1) ||
		e2e_fail "$tag: guest -> host as nobody: $out"
	out=$(in_g python3 "$peers" get 198.51.100.1 $((64 << 20)) 4 2>&1) ||
		e2e_fail "$tag: host -> guest as nobody: $out"
	in_g ping -c 2 -i 0.2 -W 2 198.51.100.1 >/dev/null || e2e_fail "$tag: ping as nobody failed"
	e2e_log "$tag: vwire as nobody with no capability: 64 MiB each way intact, ping out"
	stop_vwire "$tag"
	kill_pid "$host_pid"
}

run_mtu 1500
run_mtu 65520
rootless_checks
echo "PASS: $E2E_NAME"
