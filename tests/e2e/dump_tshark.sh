#!/usr/bin/env bash
# dump_tshark.sh - pcap files written by vwire, read back by tshark (no root needed).
# Two UDP netdevs on loopback (-netdev dgram and QEMU's -netdev socket,udp=) meet on hub 0 with
# a dump port (len=128); filter-dump watches netdev a both ways and netdev b's rx only.
# python3 sends known Ethernet frames, one per datagram as QEMU's udp socket format, into each
# netdev and checks they come out of the other; tshark must then list exactly those frames, in
# order, with their lengths (and the long one cut at 128 bytes in the dump port's file).
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

require_cmd python3 tshark
require_vwire
T=$E2E_TMP

# Frames: "A" ones enter netdev a, "B" ones netdev b. Fields as tshark prints them with
# -e eth.src -e eth.dst -e ip.src -e ip.dst -e udp.dstport -e frame.len -e frame.cap_len.
cat >"$T/frames.py" <<'EOF'
import socket, struct, sys

def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def frame(src_mac, dst_mac, src_ip, dst_ip, dport, size):
    payload = bytes((i * 7 + dport) & 0xff for i in range(size))
    udp = struct.pack('!HHHH', 4000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return bytes.fromhex(dst_mac.replace(':', '')) + bytes.fromhex(src_mac.replace(':', '')) + \
        b'\x08\x00' + ip + udp

A = [frame('02:00:00:00:0a:0%d' % i, '02:00:00:00:0b:01', '10.9.0.%d' % i, '10.9.1.1',
           5000 + i, 10 + 100 * i) for i in range(1, 4)]
A.append(frame('02:00:00:00:0a:09', '02:00:00:00:0b:01', '10.9.0.9', '10.9.1.1', 5009, 1400))
B = [frame('02:00:00:00:0b:0%d' % i, '02:00:00:00:0a:01', '10.9.1.%d' % i, '10.9.0.1',
           6000 + i, 20 + 50 * i) for i in range(1, 3)]

def fields(f, snap):
    mac = lambda b: ':'.join('%02x' % x for x in b)
    return ','.join([mac(f[6:12]), mac(f[0:6]), socket.inet_ntoa(f[26:30]),
                     socket.inet_ntoa(f[30:34]), str(struct.unpack('!H', f[36:38])[0]),
                     str(len(f)), str(min(len(f), snap))])

if sys.argv[1] == 'ports':
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    print(' '.join(str(p) for p in ports), flush=True)
elif sys.argv[1] == 'expect':
    for f in (A + B if sys.argv[2] == 'all' else A):
        print(fields(f, int(sys.argv[3])))
elif sys.argv[1] == 'send':
    pa, qa, pb, qb = (int(x) for x in sys.argv[2:6])
    sa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sa.bind(('127.0.0.1', qa))
    sb.bind(('127.0.0.1', qb))
    sa.settimeout(5)
    sb.settimeout(5)
    # One at a time, each waited for at the other side, so that the order is known.
    for frames, tx, rx, port in ((A, sa, sb, pa), (B, sb, sa, pb)):
        for f in frames:
            tx.sendto(f, ('127.0.0.1', port))
            got = rx.recv(65536)
            if got != f:
                sys.exit('frame %s came out as %s' % (f[:16].hex(), got[:16].hex()))
EOF

# The daemon refuses a file it cannot create, naming the option and value.
if "$VWIRE" -netdev dump,id=d0,file=/nonexistent/x.pcap >"$T/bad.out" 2>&1; then
	e2e_fail "vwire accepted file=/nonexistent/x.pcap"
fi
grep -q 'file=/nonexistent/x.pcap: cannot open: No such file or directory' "$T/bad.out" ||
	{ cat "$T/bad.out"; e2e_fail "no error naming file=/nonexistent/x.pcap"; }

read -r pa qa pb qb < <(python3 "$T/frames.py" ports)
e2e_log "netdev a: 127.0.0.1:$pa <-> $qa, netdev b: 127.0.0.1:$pb <-> $qb"
spawn -o "$T/vwire.out" "$VWIRE" -D "$T/vwire.log" \
	-netdev "dgram,id=a,local.type=inet,local.host=127.0.0.1,local.port=$pa,remote.type=inet,remote.host=127.0.0.1,remote.port=$qa" \
	-netdev "socket,id=b,udp=127.0.0.1:$qb,localaddr=127.0.0.1:$pb" \
	-netdev hubport,id=pa,hubid=0,netdev=a \
	-netdev hubport,id=pb,hubid=0,netdev=b \
	-netdev "dump,id=d0,file=$T/hub.pcap,len=128" \
	-netdev hubport,id=pd,hubid=0,netdev=d0 \
	-object "filter-dump,id=fa,netdev=a,file=$T/a.pcap" \
	-object "filter-dump,id=fb,netdev=b,file=$T/b-rx.pcap,queue=rx"
vw_pid=$SPAWN_PID
for _ in $(seq 100); do
	grep -q started "$T/vwire.log" 2>/dev/null && break
	pid_alive "$vw_pid" || break
	sleep 0.1
done
grep -q started "$T/vwire.log" 2>/dev/null ||
	{ cat "$T/vwire.out" "$T/vwire.log" 2>/dev/null; e2e_fail "vwire did not start"; }

python3 "$T/frames.py" send "$pa" "$qa" "$pb" "$qb" ||
	{ cat "$T/vwire.log"; e2e_fail "frames were not forwarded between a and b"; }
# An orderly stop closes the files (every record is written when its packet passes); a
# sanitized build reports what it found by its exit status.
kill -TERM "$vw_pid"
wait_until 5 pid_gone "$vw_pid" || { kill_pid "$vw_pid"; e2e_fail "vwire did not stop on SIGTERM"; }
rc=0
wait "$vw_pid" || rc=$?
forget_pid "$vw_pid"
[[ $rc == 0 ]] || { cat "$T/vwire.out"; e2e_fail "vwire exited with status $rc"; }

check() {
	local file=$1 which=$2 snap=$3
	python3 "$T/frames.py" expect "$which" "$snap" >"$T/want"
	tshark -r "$file" -T fields -E separator=, -e eth.src -e eth.dst -e ip.src -e ip.dst \
		-e udp.dstport -e frame.len -e frame.cap_len >"$T/got" 2>"$T/tshark.err" ||
		{ cat "$T/tshark.err"; e2e_fail "tshark cannot read $file"; }
	diff -u "$T/want" "$T/got" || e2e_fail "$file does not list exactly the frames sent"
	e2e_log "$(basename "$file"): $(wc -l <"$T/got") frames as sent"
}
check "$T/hub.pcap" all 128
check "$T/a.pcap" all 65536
check "$T/b-rx.pcap" a-only 65536
head -c 4 "$T/hub.pcap" | od -An -tx4 | e2e_grep a1b2c3d4 || e2e_fail "not a classic pcap"
e2e_log "PASS"
