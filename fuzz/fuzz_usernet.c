// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_usernet.c - libFuzzer harness for the whole native user-mode engine: frame parser and
 * flow state machines (TCP, UDP, ICMP, IPv4 and IPv6, hostfwd and guestfwd), driven through
 * the public API (usernet.h) on a real event loop, the host's sockets replaced by fakes in
 * memory. Link-time wrapping (-Wl,--wrap=socket,... in meson.build) sends each socket call to
 * the fakes: fds from FUZZ_FD_BASE up, whose state (connect outcome, the host peer's data, end
 * of file, reset, room to write, datagrams) the input decides; other fds go to the real calls.
 * The engine's inner epoll set is real but holds only an eventfd, readable while a fake has an
 * edge pending; epoll_wait() on that set reports the fakes' edges with what is ready at that
 * moment, as the kernel does. clock_gettime(CLOCK_MONOTONIC) runs ahead by what the input
 * says, so that the loop's timers (tick, retransmissions, timeouts) fire at once.
 *
 * The input: two configuration bytes (fuzz_config()), then steps, each a kind byte and its
 * arguments: a raw guest frame; a TCP segment, SYN, UDP datagram, ping, NDP or ARP request
 * built from a model of the guest (checksums and sequence numbers mostly right); a socket
 * event; time passing; usernet_resume(); a full guest side; a forwarding rule. The loop runs
 * without waiting after each step. Invariants, abort() when broken: every frame to the guest
 * parses with unet_frame_parse(), its checksums are right (NEEDS_CSUM ones finished first) and
 * it fits the MTU (GSO: per segment); TCP data to the guest is the host peer's bytes at their
 * sequence numbers, and a FIN follows all of them; what reaches a socket is the guest's bytes
 * at their offsets (the guest's TCP byte at sequence s is always fuzz_gbyte(s)) and never more
 * than the guest sent; no acknowledgement of bytes the socket did not take; a SYN-ACK only
 * after a connect() that worked; after a tick, no datagram left unread on a watched socket;
 * no socket without a flow or rule to own it, used after close() or closed twice; at the end,
 * every fake closed. FUZZ_USERNET_TRACE=1 prints each frame in and out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "usernet/packet.h"
#include "usernet/usernet.h"
#include "vwire/loop.h"

#define FUZZ_IP(a, b, c, d) \
	htonl((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Fake sockets: fd numbers FUZZ_FD_BASE + index, never reused within an input. */
#define FUZZ_FD_BASE 1000
#define FUZZ_FAKES 192
/* Datagrams queued on a fake at most: more than the engine reads per event (UDP 64, ICMP 32). */
#define FUZZ_DGRAMS 72
/* Connections waiting on a fake listener at most. */
#define FUZZ_BACKLOG 4
/* Bytes the host peer may have sent that the engine has not consumed. */
#define FUZZ_RX_MAX (1u << 20)
/* A fake's send buffer: what it starts with, and the most it grows to. */
#define FUZZ_SNDBUF 16384u
#define FUZZ_SNDBUF_MAX (4u << 20)
/* Pieces the guest's side lends at most, and the size of each after the first (lend mode 1). */
#define FUZZ_LEND_IOV 64
#define FUZZ_LEND_PIECE 1500
/* Lend mode 2's first piece: too short for the headers (the engine must copy instead). */
#define FUZZ_LEND_SHORT 40
/* Lend modes 1 and 3's first piece: the headers and a little data. */
#define FUZZ_LEND_HEAD 96
/* Guest connections the harness's guest model follows. */
#define FUZZ_GCONNS 8
/* Steps per input, and loop rounds after each. */
#define FUZZ_STEPS 200
#define FUZZ_ROUNDS 4
/* The engine's periodic tick (UNET_TICK_NS). */
#define FUZZ_TICK_NS 100000000LL
#define FUZZ_VNET_HLEN 12
#define FUZZ_FRAME_MAX 65600
#define FUZZ_L4_OFF (UNET_ETH_HLEN + UNET_IPV4_HLEN)
#define FUZZ_TCP_OFF_CSUM 16
#define FUZZ_UDP_OFF_CSUM 6
#define FUZZ_ICMP_OFF_CSUM 2
#define FUZZ_DHCP_PORT 67
#define FUZZ_DHCPV6_SERVER_PORT 547
#define FUZZ_DHCPV6_CLIENT_PORT 546
#define FUZZ_DNS_PORT 53
#define FUZZ_GUESTFWD_PORT 80
/* The guest's IPv6 interface identifier (from its MAC, EUI-64). */
#define FUZZ_GUEST_IID 0x505400fffe123456ull
#define FUZZ_HOP_LIMIT 64
#define FUZZ_NDP_HOP_LIMIT 255

static const uint8_t fuzz_guest_mac[UNET_ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t fuzz_host_mac[UNET_ETH_ALEN] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t fuzz_bcast[UNET_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

enum fuzz_step {
	FUZZ_S_RAW,
	FUZZ_S_TCP,
	FUZZ_S_SYN,
	FUZZ_S_UDP,
	FUZZ_S_PING,
	FUZZ_S_ARP,
	FUZZ_S_SOCKET,
	FUZZ_S_TIME,
	FUZZ_S_RESUME,
	FUZZ_S_BLOCK,
	FUZZ_S_FWD,
	FUZZ_S_TCP2, /* more weight for segments */
	FUZZ_S_SOCKET2,
	FUZZ_S_MAX
};

enum fuzz_ev {
	FUZZ_E_DATA,
	FUZZ_E_EOF,
	FUZZ_E_RST,
	FUZZ_E_CONNECTED,
	FUZZ_E_REFUSED,
	FUZZ_E_WRITABLE,
	FUZZ_E_DGRAM,
	FUZZ_E_ACCEPT,
	FUZZ_E_ERROR,
	FUZZ_E_MAX
};

/* A fake's life, as TCP sees it (datagram sockets stay FUZZ_F_OPEN). */
enum fuzz_fstate {
	FUZZ_F_OPEN,		/* new (TCP: closed, as a fresh socket) */
	FUZZ_F_CONNECTING,
	FUZZ_F_CONNECTED,
	FUZZ_F_LISTENING,
	FUZZ_F_DOWN,		/* reset or refused: errors, then end of file */
};

/**
 * struct fuzz_dgram - a datagram waiting on a fake
 * @data:	its bytes
 * @len:	their number
 * @from:	its source
 */
struct fuzz_dgram {
	uint8_t *data;
	size_t len;
	struct sockaddr_in from;
};

/**
 * struct fuzz_fake - a socket in memory
 * @open:		not closed yet
 * @stream:		SOCK_STREAM (otherwise a datagram socket)
 * @icmp:		a ping socket
 * @state:		enum fuzz_fstate
 * @ever_connected:	connect() worked at some point (a SYN-ACK may go to the guest)
 * @err:		pending SO_ERROR
 * @eof:		the host peer closed its side
 * @shut_wr:		shutdown(SHUT_WR) was called
 * @peek_off:		SO_PEEK_OFF (-1: off)
 * @rx_appended:	stream bytes the host peer sent
 * @rx_consumed:	of them, read without MSG_PEEK
 * @salt:		varies the host peer's bytes
 * @sndbuf:		send buffer size
 * @queued:		bytes written, not yet acknowledged by the peer
 * @tx_total:		bytes the engine wrote
 * @local:		an AF_UNIX stream (a guestfwd= target)
 * @has_key:		@gaddr..@rport name the engine's flow
 * @gaddr:		guest address of the flow (IPv4 as ::ffff:a.b.c.d)
 * @gport:		guest port
 * @raddr:		remote address as the guest sees it
 * @rport:		remote port
 * @guest_isn_known:	@guest_isn is known
 * @guest_isn:		the guest's initial sequence number
 * @engine_isn_known:	@engine_isn is known
 * @engine_isn:		the engine's, from its SYN or SYN-ACK
 * @fwd_guest:		for a hostfwd rule's socket: where it leads (address 0: 10.0.2.15)
 * @dq:			queued datagrams
 * @ndq:		how many
 * @reads:		datagrams the engine took
 * @reads_seen:		@reads at the last tick's check
 * @backlog:		peers of connections waiting to be accepted
 * @nbacklog:		how many
 * @registered:		in the inner epoll set
 * @events:		with these events
 * @data:		and this tag
 * @listed:		an edge is pending (on the ready list)
 * @next_ready:		next on the ready list
 */
struct fuzz_fake {
	bool open;
	bool stream;
	bool icmp;
	uint8_t state;
	bool ever_connected;
	int err;
	bool eof;
	bool shut_wr;
	int peek_off;
	uint64_t rx_appended;
	uint64_t rx_consumed;
	uint8_t salt;
	uint32_t sndbuf;
	uint32_t queued;
	uint64_t tx_total;
	bool local;
	bool has_key;
	struct in6_addr gaddr;
	uint16_t gport;
	struct in6_addr raddr;
	uint16_t rport;
	bool guest_isn_known;
	uint32_t guest_isn;
	bool engine_isn_known;
	uint32_t engine_isn;
	struct sockaddr_in fwd_guest;
	struct fuzz_dgram dq[FUZZ_DGRAMS];
	int ndq;
	unsigned int reads;
	unsigned int reads_seen;
	struct sockaddr_in backlog[FUZZ_BACKLOG];
	int nbacklog;
	bool registered;
	uint32_t events;
	epoll_data_t data;
	bool listed;
	int next_ready;
};

/**
 * struct fuzz_gconn - the guest's side of a TCP connection, as the harness models it
 * @used:	slot taken
 * @gaddr:	the guest's address (IPv4 as ::ffff:a.b.c.d)
 * @raddr:	remote address
 * @gport:	guest port
 * @rport:	remote port
 * @snd_nxt:	the guest's next sequence number
 * @rcv_nxt:	the engine's next sequence number, as seen in its frames
 * @peer_ack:	the engine's last acknowledgement number
 */
struct fuzz_gconn {
	bool used;
	struct in6_addr gaddr;
	struct in6_addr raddr;
	uint16_t gport;
	uint16_t rport;
	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t peer_ack;
};

/**
 * struct fuzz_in - the input being read
 * @p:		next byte
 * @left:	bytes left
 */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

/**
 * struct fuzz_state - one input's world
 * @nfakes:		fake sockets given out
 * @ready_head:		first fake with an edge pending (-1: none)
 * @ready_tail:		last
 * @inner_epfd:		the engine's epoll set (-1 before usernet_new())
 * @evfd:		the eventfd in it, readable while edges are pending
 * @creating:		usernet_new() runs: its epoll_create1() is the inner set
 * @time_ns:		how far CLOCK_MONOTONIC runs ahead
 * @mtu:		the engine's MTU
 * @ipv6:		the engine serves IPv6
 * @no_peek_off:	setsockopt(SO_PEEK_OFF) fails
 * @connect_mode:	how connect() on a stream answers (0: EINPROGRESS, 1: done, 2: refused)
 * @socket_fail:	socket() fails with EMFILE
 * @bind_fail:		bind() fails with EADDRINUSE
 * @no_ping:		ping sockets fail with EACCES
 * @block_next:		the next frame to the guest is "queued" (output returns 0)
 * @lend_mode:		how the guest's side lends buffers (fuzz_config())
 * @lends:		lend calls so far
 * @lent:		the pieces lent, each its own allocation (ASan sees past its end)
 * @lent_len:		their sizes
 * @nlent:		how many (0: none lent)
 * @cur_valid:		a guest frame is being handled: @cur_* describe it
 * @cur_saddr:		its source address (IPv4 as ::ffff:a.b.c.d)
 * @cur_daddr:		its destination
 * @cur_sport:		its source port
 * @cur_dport:		its destination port
 * @cur_seq:		its TCP sequence number
 * @cur_syn:		it is a SYN
 * @guest_tcp_bytes:	TCP payload bytes of every guest frame
 * @guest_udp_bytes:	UDP payload bytes of every guest frame
 * @host_tcp_bytes:	bytes the engine wrote to stream fakes
 * @host_udp_bytes:	bytes the engine sent on datagram fakes
 * @rules:		hostfwd rules in place
 * @gconn:		the guest model's connections
 * @next_isn:		the guest model's next initial sequence number
 * @fake:		the fake sockets
 * @frame:		room to build a guest frame
 * @out:		room to copy a frame to the guest
 */
struct fuzz_state {
	int nfakes;
	int ready_head;
	int ready_tail;
	int inner_epfd;
	int evfd;
	bool creating;
	int64_t time_ns;
	unsigned int mtu;
	bool ipv6;
	bool no_peek_off;
	uint8_t connect_mode;
	bool socket_fail;
	bool bind_fail;
	bool no_ping;
	bool block_next;
	uint8_t lend_mode;
	unsigned int lends;
	uint8_t *lent[FUZZ_LEND_IOV];
	size_t lent_len[FUZZ_LEND_IOV];
	int nlent;
	bool cur_valid;
	struct in6_addr cur_saddr;
	struct in6_addr cur_daddr;
	uint16_t cur_sport;
	uint16_t cur_dport;
	uint32_t cur_seq;
	bool cur_syn;
	uint64_t guest_tcp_bytes;
	uint64_t guest_udp_bytes;
	uint64_t host_tcp_bytes;
	uint64_t host_udp_bytes;
	int rules;
	struct fuzz_gconn gconn[FUZZ_GCONNS];
	uint32_t next_isn;
	struct fuzz_fake fake[FUZZ_FAKES];
	uint8_t frame[FUZZ_FRAME_MAX];
	uint8_t out[FUZZ_FRAME_MAX + FUZZ_VNET_HLEN];
};

static struct fuzz_state fz = { .inner_epfd = -1, .evfd = -1, .ready_head = -1 };

/* The real calls (--wrap) */
int __real_socket(int domain, int type, int protocol);
int __real_connect(int fd, const struct sockaddr *addr, socklen_t len);
int __real_bind(int fd, const struct sockaddr *addr, socklen_t len);
int __real_listen(int fd, int backlog);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen);
ssize_t __real_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen);
int __real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __real_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int __real_shutdown(int fd, int how);
int __real_close(int fd);
int __real_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int __real_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int __real_epoll_create1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __real_clock_gettime(clockid_t clk, struct timespec *ts);

/* The wrappers' own prototypes (-Wmissing-prototypes) */
int __wrap_socket(int domain, int type, int protocol);
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len);
int __wrap_bind(int fd, const struct sockaddr *addr, socklen_t len);
int __wrap_listen(int fd, int backlog);
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen);
ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen);
int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int __wrap_shutdown(int fd, int how);
int __wrap_close(int fd);
int __wrap_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int __wrap_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int __wrap_epoll_create1(int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The guest's TCP bytes: the one at sequence number @s (any connection). */
static uint8_t fuzz_gbyte(uint32_t s)
{
	return (uint8_t)(s + (s >> 8) * 3 + (s >> 16) * 5 + (s >> 24) * 7);
}

/* The host peer's stream bytes: the one at offset @p of a fake salted @salt. */
static uint8_t fuzz_hbyte(uint64_t p, uint8_t salt)
{
	return (uint8_t)(p * 11 + (p >> 8) * 13 + (p >> 16) * 17 + salt);
}

/* Checksums, RFC 1071 by the book */

static uint32_t fuzz_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2) {
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
		if (sum > 0xffff0000u)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t fuzz_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Addresses as the engine keys flows: IPv6, or IPv4 as ::ffff:a.b.c.d */

static struct in6_addr fuzz_a4(uint32_t be)
{
	struct in6_addr a = { .s6_addr = { [10] = 0xff, [11] = 0xff } };

	memcpy(&a.s6_addr[12], &be, sizeof(be));
	return a;
}

/* The IPv6 address @hi::@lo (@hi the first 32 bits, @lo the last 64). */
static struct in6_addr fuzz_a6(uint32_t hi, uint64_t lo)
{
	struct in6_addr a = { 0 };

	for (int i = 0; i < 4; i++)
		a.s6_addr[i] = (uint8_t)(hi >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		a.s6_addr[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	return a;
}

static bool fuzz_is4(const struct in6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(a);
}

/* The guest's address of @a's family: 10.0.2.15, or its SLAAC address in fec0::/64. */
static struct in6_addr fuzz_guest_addr(const struct in6_addr *a)
{
	return fuzz_is4(a) ? fuzz_a4(FUZZ_IP(10, 0, 2, 15)) : fuzz_a6(0xfec00000, FUZZ_GUEST_IID);
}

/* The pseudo-header's sum (RFC 768 for IPv4, RFC 8200 8.1 for IPv6). */
static uint32_t fuzz_pseudo(const struct in6_addr *s, const struct in6_addr *d, uint8_t proto,
			    size_t len)
{
	if (fuzz_is4(s))
		return fuzz_sum(&s->s6_addr[12], 4, fuzz_sum(&d->s6_addr[12], 4,
							    proto + (uint32_t)len));
	return fuzz_sum(s->s6_addr, 16, fuzz_sum(d->s6_addr, 16, proto + (uint32_t)(len >> 16) +
						 (uint32_t)(len & 0xffff)));
}

static void fuzz_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void fuzz_put32(uint8_t *p, uint32_t v)
{
	fuzz_put16(p, (uint16_t)(v >> 16));
	fuzz_put16(p + 2, (uint16_t)v);
}

static uint16_t fuzz_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reading the input */

static uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)(fuzz_u8(in) << 8 | fuzz_u8(in));
}

/* Up to @len bytes of the input into @out, zeros when it runs out. */
static void fuzz_bytes(struct fuzz_in *in, uint8_t *out, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(out, in->p, n);
	memset(out + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

/* The fakes */

static struct fuzz_fake *fuzz_fake_of(int fd)
{
	struct fuzz_fake *f;

	if (fd < FUZZ_FD_BASE || fd >= FUZZ_FD_BASE + fz.nfakes)
		return NULL;
	f = &fz.fake[fd - FUZZ_FD_BASE];
	if (!f->open)
		abort(); /* used after close() */
	return f;
}

static int fuzz_fd_of(const struct fuzz_fake *f)
{
	return FUZZ_FD_BASE + (int)(f - fz.fake);
}

static int fuzz_fail(int err)
{
	errno = err;
	return -1;
}

/* What the kernel's poll would say of @f now. */
static uint32_t fuzz_readiness(const struct fuzz_fake *f)
{
	uint32_t ev = 0;

	if (!f->stream) {
		ev = EPOLLOUT;
		if (f->ndq)
			ev |= EPOLLIN;
		if (f->err)
			ev |= EPOLLERR;
		return ev;
	}
	switch (f->state) {
	case FUZZ_F_OPEN:
		return EPOLLOUT | EPOLLHUP; /* a fresh TCP socket is closed */
	case FUZZ_F_CONNECTING:
		return 0;
	case FUZZ_F_LISTENING:
		return f->nbacklog ? EPOLLIN : 0;
	case FUZZ_F_CONNECTED:
		if (f->rx_appended > f->rx_consumed)
			ev |= EPOLLIN;
		if (f->eof)
			ev |= EPOLLIN | EPOLLRDHUP;
		if (!f->shut_wr && f->queued < f->sndbuf)
			ev |= EPOLLOUT;
		if (f->eof && f->shut_wr)
			ev |= EPOLLHUP;
		return ev;
	default:
		return EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLHUP | (f->err ? EPOLLERR : 0);
	}
}

/* Something happened to @f: an edge for the inner epoll set, if it watches @f. */
static void fuzz_edge(struct fuzz_fake *f)
{
	int i = (int)(f - fz.fake);

	if (!f->registered || f->listed)
		return;
	f->listed = true;
	f->next_ready = -1;
	if (fz.ready_head < 0) {
		uint64_t one = 1;

		fz.ready_head = i;
		if (write(fz.evfd, &one, sizeof(one)) != sizeof(one))
			abort();
	} else {
		fz.fake[fz.ready_tail].next_ready = i;
	}
	fz.ready_tail = i;
}

static struct fuzz_fake *fuzz_fake_new(bool stream)
{
	struct fuzz_fake *f;

	if (fz.nfakes == FUZZ_FAKES)
		return NULL;
	f = &fz.fake[fz.nfakes++];
	memset(f, 0, sizeof(*f));
	f->open = true;
	f->stream = stream;
	f->state = FUZZ_F_OPEN;
	f->peek_off = -1;
	f->sndbuf = FUZZ_SNDBUF;
	f->salt = (uint8_t)(fz.nfakes * 37);
	f->next_ready = -1;
	return f;
}

static void fuzz_fake_drop_dgrams(struct fuzz_fake *f)
{
	for (int i = 0; i < f->ndq; i++)
		free(f->dq[i].data);
	f->ndq = 0;
}

/* The open stream fake of the engine's flow whose frames go from @raddr:@rport to
 * @gaddr:@gport, or NULL. */
static struct fuzz_fake *fuzz_fake_by_key(const struct in6_addr *gaddr, uint16_t gport,
					  const struct in6_addr *raddr, uint16_t rport)
{
	for (int i = fz.nfakes - 1; i >= 0; i--) {
		struct fuzz_fake *f = &fz.fake[i];

		if (f->open && f->stream && f->has_key && f->gport == gport && f->rport == rport &&
		    IN6_ARE_ADDR_EQUAL(&f->gaddr, gaddr) && IN6_ARE_ADDR_EQUAL(&f->raddr, raddr))
			return f;
	}
	return NULL;
}

/* Wrapped socket calls: fakes here, anything else to the real ones */

int __wrap_socket(int domain, int type, int protocol)
{
	int base = type & 0xf;
	struct fuzz_fake *f;

	if ((domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX) ||
	    (base != SOCK_STREAM && base != SOCK_DGRAM))
		return __real_socket(domain, type, protocol);
	if (fz.socket_fail)
		return fuzz_fail(EMFILE);
	if ((protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6) && fz.no_ping)
		return fuzz_fail(EACCES);
	f = fuzz_fake_new(base == SOCK_STREAM);
	if (!f)
		return fuzz_fail(EMFILE);
	f->icmp = protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6;
	f->local = domain == AF_UNIX;
	if (fz.cur_valid) {
		/* Made for the guest frame being handled: its flow. */
		f->has_key = true;
		f->gaddr = fz.cur_saddr;
		f->gport = fz.cur_sport;
		f->raddr = fz.cur_daddr;
		f->rport = fz.cur_dport;
		if (f->stream && fz.cur_syn) {
			f->guest_isn_known = true;
			f->guest_isn = fz.cur_seq;
		}
	}
	return fuzz_fd_of(f);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_connect(fd, addr, len);
	if (!addr || len < sizeof(sa_family_t))
		return fuzz_fail(EINVAL);
	if (!f->stream)
		return fz.connect_mode == 2 ? fuzz_fail(ENETUNREACH) : 0;
	if (f->state != FUZZ_F_OPEN)
		return fuzz_fail(EISCONN);
	switch (fz.connect_mode) {
	case 1:
		f->state = FUZZ_F_CONNECTED;
		f->ever_connected = true;
		fuzz_edge(f);
		return 0;
	case 2:
		f->state = FUZZ_F_DOWN;
		return fuzz_fail(ECONNREFUSED);
	default:
		f->state = FUZZ_F_CONNECTING;
		return fuzz_fail(EINPROGRESS);
	}
}

int __wrap_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_bind(fd, addr, len);
	return fz.bind_fail ? fuzz_fail(EADDRINUSE) : 0;
}

int __wrap_listen(int fd, int backlog)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_listen(fd, backlog);
	if (!f->stream)
		return fuzz_fail(EOPNOTSUPP);
	f->state = FUZZ_F_LISTENING;
	return 0;
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct fuzz_fake *f = fuzz_fake_of(fd), *c;
	struct sockaddr_in peer;

	if (!f)
		return __real_accept4(fd, addr, len, flags);
	if (f->state != FUZZ_F_LISTENING)
		return fuzz_fail(EINVAL);
	if (!f->nbacklog)
		return fuzz_fail(EAGAIN);
	peer = f->backlog[0];
	memmove(f->backlog, f->backlog + 1, sizeof(peer) * (size_t)--f->nbacklog);
	c = fuzz_fake_new(true);
	if (!c)
		return fuzz_fail(EMFILE);
	f = fuzz_fake_of(fd); /* (the table does not move, but be plain about it) */
	c->state = FUZZ_F_CONNECTED;
	c->ever_connected = true;
	c->has_key = true;
	c->gaddr = fuzz_a4(f->fwd_guest.sin_addr.s_addr ? f->fwd_guest.sin_addr.s_addr :
							  FUZZ_IP(10, 0, 2, 15));
	c->gport = ntohs(f->fwd_guest.sin_port);
	/* The engine shows the host's own addresses as 10.0.2.2. */
	c->raddr = fuzz_a4((ntohl(peer.sin_addr.s_addr) >> 24) == 127 || !peer.sin_addr.s_addr ?
			   FUZZ_IP(10, 0, 2, 2) : peer.sin_addr.s_addr);
	c->rport = ntohs(peer.sin_port);
	if (addr && len) {
		socklen_t n = *len < sizeof(peer) ? *len : (socklen_t)sizeof(peer);

		memcpy(addr, &peer, n);
		*len = sizeof(peer);
	}
	return fuzz_fd_of(c);
}

/* The engine writes @len bytes of @iov to stream fake @f: check them against the guest's. */
static void fuzz_check_written(struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt,
			       size_t len)
{
	uint64_t pos = f->tx_total;

	for (size_t i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
		const uint8_t *b = iov[i].iov_base;

		for (size_t k = 0; k < n && f->guest_isn_known; k++, pos++)
			if (b[k] != fuzz_gbyte(f->guest_isn + 1 + (uint32_t)pos))
				abort(); /* not the guest's byte at this offset */
		len -= n;
	}
}

static ssize_t fuzz_stream_send(struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt)
{
	size_t total = 0, room;

	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (f->state == FUZZ_F_CONNECTING)
		return fuzz_fail(EAGAIN);
	if (f->err) {
		int e = f->err;

		f->err = 0;
		return fuzz_fail(e);
	}
	if (f->state != FUZZ_F_CONNECTED || f->shut_wr)
		return fuzz_fail(EPIPE);
	room = f->sndbuf > f->queued ? f->sndbuf - f->queued : 0;
	if (!room)
		return fuzz_fail(EAGAIN);
	if (total > room)
		total = room;
	fuzz_check_written(f, iov, iovcnt, total);
	f->tx_total += total;
	f->queued += (uint32_t)total;
	fz.host_tcp_bytes += total;
	if (fz.host_tcp_bytes > fz.guest_tcp_bytes)
		abort(); /* more written to sockets than the guest ever sent */
	return (ssize_t)total;
}

static ssize_t fuzz_dgram_send(struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt)
{
	size_t total = 0;

	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (f->err) {
		int e = f->err;

		f->err = 0;
		return fuzz_fail(e);
	}
	if (f->icmp) {
		const uint8_t *h = iov[0].iov_base;

		/* What goes out of a ping socket is an echo request, its header first. */
		if (total < UNET_ICMP_HLEN || iov[0].iov_len < 1 ||
		    (h[0] != UNET_ICMP_ECHO && h[0] != UNET_ICMP6_ECHO))
			abort();
		return (ssize_t)total;
	}
	fz.host_udp_bytes += total;
	if (fz.host_udp_bytes > fz.guest_udp_bytes)
		abort();
	return (ssize_t)total;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_sendmsg(fd, msg, flags);
	if (f->state == FUZZ_F_LISTENING)
		return fuzz_fail(EPIPE);
	return f->stream ? fuzz_stream_send(f, msg->msg_iov, msg->msg_iovlen) :
			   fuzz_dgram_send(f, msg->msg_iov, msg->msg_iovlen);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!fuzz_fake_of(fd))
		return __real_send(fd, buf, len, flags);
	return __wrap_sendmsg(fd, &mh, flags);
}

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_name = (void *)addr,
			     .msg_namelen = alen };

	if (!fuzz_fake_of(fd))
		return __real_sendto(fd, buf, len, flags, addr, alen);
	return __wrap_sendmsg(fd, &mh, flags);
}

/* Copy @len bytes of the host peer's stream from offset @pos into @iov. */
static void fuzz_fill(const struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt,
		      uint64_t pos, size_t len)
{
	for (size_t i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
		uint8_t *b = iov[i].iov_base;

		for (size_t k = 0; k < n; k++)
			b[k] = fuzz_hbyte(pos++, f->salt);
		len -= n;
	}
}

/* TCP's recvmsg() as Linux does it: MSG_PEEK from SO_PEEK_OFF, MSG_TRUNC discards. */
static ssize_t fuzz_stream_recv(struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt,
				int flags)
{
	bool peek = flags & MSG_PEEK;
	uint64_t start = f->rx_consumed + (peek && f->peek_off > 0 ? (uint64_t)f->peek_off : 0);
	size_t want = 0, n;

	for (size_t i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	if (f->state == FUZZ_F_LISTENING)
		return fuzz_fail(ENOTCONN);
	if (f->state == FUZZ_F_OPEN || f->state == FUZZ_F_CONNECTING)
		return fuzz_fail(f->state == FUZZ_F_OPEN ? ENOTCONN : EAGAIN);
	if (f->rx_appended <= start) {
		if (f->err) {
			int e = f->err;

			f->err = 0;
			return fuzz_fail(e);
		}
		if (f->eof || f->state == FUZZ_F_DOWN)
			return 0;
		return fuzz_fail(EAGAIN);
	}
	if (!want)
		return 0;
	n = f->rx_appended - start < want ? (size_t)(f->rx_appended - start) : want;
	if (!(flags & MSG_TRUNC))
		fuzz_fill(f, iov, iovcnt, start, n);
	if (peek) {
		if (f->peek_off >= 0)
			f->peek_off += (int)n;
	} else {
		f->rx_consumed += n;
		if (f->peek_off >= 0)
			f->peek_off = f->peek_off > (int)n ? f->peek_off - (int)n : 0;
	}
	return (ssize_t)n;
}

static ssize_t fuzz_dgram_recv(struct fuzz_fake *f, const struct iovec *iov, size_t iovcnt,
			       int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct fuzz_dgram d;
	size_t room = 0, n, off = 0;

	if (f->err) {
		int e = f->err;

		f->err = 0;
		return fuzz_fail(e);
	}
	if (!f->ndq)
		return fuzz_fail(EAGAIN);
	d = f->dq[0];
	if (!(flags & MSG_PEEK)) {
		memmove(f->dq, f->dq + 1, sizeof(d) * (size_t)(f->ndq - 1));
		f->ndq--;
		f->reads++;
	}
	for (size_t i = 0; i < iovcnt; i++)
		room += iov[i].iov_len;
	n = d.len < room ? d.len : room;
	for (size_t i = 0; i < iovcnt && off < n; i++) {
		size_t k = iov[i].iov_len < n - off ? iov[i].iov_len : n - off;

		memcpy(iov[i].iov_base, d.data + off, k);
		off += k;
	}
	if (from && fromlen) {
		socklen_t k = *fromlen < sizeof(d.from) ? *fromlen : (socklen_t)sizeof(d.from);

		memcpy(from, &d.from, k);
		*fromlen = sizeof(d.from);
	}
	if (!(flags & MSG_PEEK))
		free(d.data);
	return (ssize_t)((flags & MSG_TRUNC) ? d.len : n);
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_recvmsg(fd, msg, flags);
	if (f->stream)
		return fuzz_stream_recv(f, msg->msg_iov, msg->msg_iovlen, flags);
	return fuzz_dgram_recv(f, msg->msg_iov, msg->msg_iovlen, flags, msg->msg_name,
			       &msg->msg_namelen);
}

ssize_t __wrap_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = buf ? len : 0 };
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_recvfrom(fd, buf, len, flags, addr, alen);
	if (f->stream) {
		/* recv(fd, NULL, n, MSG_TRUNC) discards n bytes on TCP, not on a unix stream. */
		if (!buf && (!(flags & MSG_TRUNC) || f->local))
			return fuzz_fail(EFAULT);
		iov.iov_len = len;
		return fuzz_stream_recv(f, &iov, 1, flags);
	}
	return fuzz_dgram_recv(f, &iov, 1, flags, addr, alen);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
	if (!fuzz_fake_of(fd))
		return __real_recv(fd, buf, len, flags);
	return __wrap_recvfrom(fd, buf, len, flags, NULL, NULL);
}

int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_getsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET && name == SO_MEMINFO) {
		uint32_t mi[SK_MEMINFO_VARS] = { 0 };
		socklen_t n = *len < sizeof(mi) ? *len : (socklen_t)sizeof(mi);

		mi[SK_MEMINFO_SNDBUF] = f->sndbuf;
		mi[SK_MEMINFO_WMEM_QUEUED] = f->queued;
		mi[SK_MEMINFO_RCVBUF] = FUZZ_RX_MAX;
		memcpy(val, mi, n);
		*len = n;
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_ERROR && *len >= sizeof(int)) {
		memcpy(val, &f->err, sizeof(int));
		*len = sizeof(int);
		f->err = 0;
		return 0;
	}
	return fuzz_fail(ENOPROTOOPT);
}

int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_setsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET && name == SO_PEEK_OFF) {
		int v;

		if (fz.no_peek_off)
			return fuzz_fail(EOPNOTSUPP);
		if (len < sizeof(v))
			return fuzz_fail(EINVAL);
		memcpy(&v, val, sizeof(v));
		f->peek_off = v < 0 ? -1 : v;
		return 0;
	}
	return 0;
}

int __wrap_shutdown(int fd, int how)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_shutdown(fd, how);
	if (!f->stream || f->state != FUZZ_F_CONNECTED)
		return fuzz_fail(ENOTCONN);
	if (how == SHUT_WR || how == SHUT_RDWR)
		f->shut_wr = true;
	return 0;
}

int __wrap_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = FUZZ_IP(127, 0, 0, 1),
				 .sin_port = htons(40000) };
	struct fuzz_fake *f = fuzz_fake_of(fd);
	socklen_t n;

	if (!f)
		return __real_getsockname(fd, addr, len);
	n = *len < sizeof(a) ? *len : (socklen_t)sizeof(a);
	memcpy(addr, &a, n);
	*len = sizeof(a);
	return 0;
}

int __wrap_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_getpeername(fd, addr, len);
	if (f->state != FUZZ_F_CONNECTED)
		return fuzz_fail(ENOTCONN);
	return __wrap_getsockname(fd, addr, len);
}

int __wrap_close(int fd)
{
	struct fuzz_fake *f;

	if (fd >= FUZZ_FD_BASE && fd < FUZZ_FD_BASE + fz.nfakes && !fz.fake[fd - FUZZ_FD_BASE].open)
		abort(); /* closed twice */
	f = fuzz_fake_of(fd);
	if (!f) {
		if (fd >= 0 && fd == fz.inner_epfd) {
			__real_close(fz.evfd);
			fz.evfd = -1;
			fz.inner_epfd = -1;
		}
		return __real_close(fd);
	}
	f->open = false;
	f->registered = false;
	fuzz_fake_drop_dgrams(f);
	return 0;
}

/* The inner epoll set */

int __wrap_epoll_create1(int flags)
{
	int fd = __real_epoll_create1(flags);
	struct epoll_event ev = { .events = EPOLLIN };

	if (fd < 0 || !fz.creating || fz.inner_epfd >= 0)
		return fd;
	fz.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fz.evfd < 0 || __real_epoll_ctl(fd, EPOLL_CTL_ADD, fz.evfd, &ev) < 0)
		abort();
	fz.inner_epfd = fd;
	fz.ready_head = fz.ready_tail = -1;
	return fd;
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fuzz_fake *f = fuzz_fake_of(fd);

	if (!f)
		return __real_epoll_ctl(epfd, op, fd, ev);
	if (epfd != fz.inner_epfd)
		abort(); /* a fake may only be in the engine's set */
	switch (op) {
	case EPOLL_CTL_ADD:
		if (f->registered)
			return fuzz_fail(EEXIST);
		f->registered = true;
		f->events = ev->events;
		f->data = ev->data;
		break;
	case EPOLL_CTL_MOD:
		if (!f->registered)
			return fuzz_fail(ENOENT);
		f->events = ev->events;
		f->data = ev->data;
		break;
	case EPOLL_CTL_DEL:
		if (!f->registered)
			return fuzz_fail(ENOENT);
		f->registered = false;
		return 0;
	default:
		return fuzz_fail(EINVAL);
	}
	/* Adding (or changing) reports what is ready already, as the kernel does. */
	if (fuzz_readiness(f) & (f->events | EPOLLERR | EPOLLHUP))
		fuzz_edge(f);
	return 0;
}

int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	int n = 0;

	if (epfd != fz.inner_epfd || epfd < 0)
		return __real_epoll_wait(epfd, ev, max, timeout);
	while (fz.ready_head >= 0 && n < max) {
		struct fuzz_fake *f = &fz.fake[fz.ready_head];
		uint32_t r;

		fz.ready_head = f->next_ready;
		f->listed = false;
		if (!f->open || !f->registered)
			continue;
		/* Edge-triggered: reported once, with what is ready at this moment. */
		r = fuzz_readiness(f) & (f->events | EPOLLERR | EPOLLHUP);
		if (!r)
			continue;
		ev[n].events = r;
		ev[n].data = f->data;
		n++;
	}
	if (fz.ready_head < 0) {
		uint64_t v;

		fz.ready_tail = -1;
		if (read(fz.evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			abort();
	}
	return n;
}

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
	int ret = __real_clock_gettime(clk, ts);

	if (ret == 0 && clk == CLOCK_MONOTONIC && fz.time_ns) {
		int64_t ns = (int64_t)ts->tv_nsec + fz.time_ns % 1000000000LL;

		ts->tv_sec += (time_t)(fz.time_ns / 1000000000LL + ns / 1000000000LL);
		ts->tv_nsec = (long)(ns % 1000000000LL);
	}
	return ret;
}

/* Frames to the guest: the invariants */

static struct fuzz_gconn *fuzz_gconn_find(const struct in6_addr *raddr, uint16_t gport,
					  uint16_t rport)
{
	for (int i = 0; i < FUZZ_GCONNS; i++) {
		struct fuzz_gconn *c = &fz.gconn[i];

		if (c->used && c->gport == gport && c->rport == rport &&
		    IN6_ARE_ADDR_EQUAL(&c->raddr, raddr))
			return c;
	}
	return NULL;
}

static struct fuzz_gconn *fuzz_gconn_new(const struct in6_addr *gaddr,
					 const struct in6_addr *raddr, uint16_t gport,
					 uint16_t rport)
{
	struct fuzz_gconn *c = fuzz_gconn_find(raddr, gport, rport);

	if (!c) {
		/* Slots are reused round robin. */
		c = &fz.gconn[fz.next_isn % FUZZ_GCONNS];
		for (int i = 0; i < FUZZ_GCONNS; i++)
			if (!fz.gconn[i].used) {
				c = &fz.gconn[i];
				break;
			}
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->gaddr = *gaddr;
	c->raddr = *raddr;
	c->gport = gport;
	c->rport = rport;
	fz.next_isn = fz.next_isn * 1103515245u + 12345u;
	c->snd_nxt = fz.next_isn;
	return c;
}

/* A TCP frame to the guest: against the fake socket of its flow and the guest model. */
static void fuzz_check_tcp(const struct unet_frame *r, const uint8_t *frame)
{
	struct fuzz_fake *f = fuzz_fake_by_key(&r->daddr6, r->dport, &r->saddr6, r->sport);
	struct fuzz_gconn *c = fuzz_gconn_find(&r->saddr6, r->dport, r->sport);
	uint32_t seg = (uint32_t)r->payload_len + !!(r->tcp_flags & UNET_TCP_FIN);

	if ((r->tcp_flags & (UNET_TCP_SYN | UNET_TCP_ACK)) == UNET_TCP_SYN && !c)
		c = fuzz_gconn_new(&r->daddr6, &r->saddr6, r->dport, r->sport);
	if (c) {
		if (r->tcp_flags & UNET_TCP_SYN)
			c->rcv_nxt = r->seq + 1;
		else if ((int32_t)(r->seq - c->rcv_nxt) <= 0 &&
			 (int32_t)(r->seq + seg - c->rcv_nxt) > 0)
			c->rcv_nxt = r->seq + seg;
		if (r->tcp_flags & UNET_TCP_ACK)
			c->peer_ack = r->ack;
	}
	if (!f || (r->tcp_flags & UNET_TCP_RST))
		return;
	if (r->tcp_flags & UNET_TCP_SYN) {
		if ((r->tcp_flags & UNET_TCP_ACK) && !f->ever_connected)
			abort(); /* a SYN-ACK for a connection the host never accepted */
		if (r->payload_len)
			abort();
		if (f->engine_isn_known && f->engine_isn != r->seq)
			abort(); /* a connection's SYNs all carry its ISN */
		f->engine_isn_known = true;
		f->engine_isn = r->seq;
		return;
	}
	if (!f->engine_isn_known)
		abort(); /* data or FIN before any SYN */
	if (!f->guest_isn_known && (r->tcp_flags & UNET_TCP_ACK)) {
		/* A forwarded connection: the engine's first ACK acknowledges the guest's SYN. */
		f->guest_isn_known = true;
		f->guest_isn = r->ack - 1;
	}
	/* Never acknowledge what the socket did not take (the FIN: once shut down). */
	if (f->guest_isn_known && (r->tcp_flags & UNET_TCP_ACK) &&
	    (uint32_t)(r->ack - f->guest_isn - 1) > f->tx_total + f->shut_wr)
		abort();
	if (r->payload_len) {
		uint64_t pos = (uint32_t)(r->seq - f->engine_isn - 1);

		if (pos + r->payload_len > f->rx_appended)
			abort(); /* bytes the host peer never sent */
		for (size_t i = 0; i < r->payload_len; i++)
			if (frame[r->payload_off + i] != fuzz_hbyte(pos + i, f->salt))
				abort(); /* not the host's byte at this sequence number */
	}
	if ((r->tcp_flags & UNET_TCP_FIN) &&
	    r->seq != f->engine_isn + 1 + (uint32_t)f->rx_appended)
		abort(); /* a FIN before the end of the host's data */
}

/* FUZZ_USERNET_TRACE=1 in the environment: one line per frame in and out on stderr. */
static void fuzz_trace(const char *dir, const struct unet_frame *r)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_USERNET_TRACE") != NULL;
	if (!on)
		return;
	fprintf(stderr, "%s: ethertype %04x ip %u proto %u %u -> %u flags %02x seq %u ack %u "
		"win %u icmp %u len %zu\n", dir, r->ethertype, r->ip_version, r->proto, r->sport,
		r->dport, r->tcp_flags, r->seq, r->ack, r->window, r->icmp_type, r->payload_len);
}

/* The transport checksum of a frame to the guest, NEEDS_CSUM finished first as the guest's
 * stack would: the field holds the pseudo-header's sum. */
static void fuzz_check_csum(const struct virtio_net_hdr_v1 *vh, uint8_t *frame, size_t len,
			    const struct unet_frame *r)
{
	size_t l4 = r->l4_off, field = (size_t)vh->csum_start + vh->csum_offset;
	uint32_t sum = 0;

	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (vh->csum_start != l4 || field + 2 > len ||
		    (r->proto == IPPROTO_TCP ? vh->csum_offset != FUZZ_TCP_OFF_CSUM :
		     r->proto == IPPROTO_UDP ? vh->csum_offset != FUZZ_UDP_OFF_CSUM : true))
			abort();
		fuzz_put16(frame + field, fuzz_fold(fuzz_sum(frame + l4, len - l4, 0)));
	} else if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		abort(); /* GSO without a checksum to finish */
	}
	if (r->proto != IPPROTO_ICMP)
		sum = fuzz_pseudo(&r->saddr6, &r->daddr6, r->proto, r->l4_len);
	if (r->proto == IPPROTO_UDP && !fuzz_get16(frame + l4 + FUZZ_UDP_OFF_CSUM))
		abort(); /* the engine always sums (and IPv6 must) */
	if (fuzz_fold(fuzz_sum(frame + l4, r->l4_len, sum)) != 0)
		abort();
}

/* A frame to the guest, vnet header first: parse it, check its checksums and what it says. */
static void fuzz_check_output(const struct iovec *iov, int iovcnt)
{
	struct virtio_net_hdr_v1 vh;
	struct unet_frame r;
	uint8_t *frame = fz.out + FUZZ_VNET_HLEN;
	size_t len = 0, tot;
	bool v4;

	for (int i = 0; i < iovcnt; i++) {
		if (len + iov[i].iov_len > sizeof(fz.out))
			abort(); /* larger than any frame may be */
		memcpy(fz.out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (len < FUZZ_VNET_HLEN + UNET_ETH_HLEN)
		abort();
	memcpy(&vh, fz.out, sizeof(vh));
	len -= FUZZ_VNET_HLEN;
	if (vh.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		abort();
	/* From one of the engine's MACs (52:55 and an address: the host's, the DNS server's). */
	if (memcmp(frame + UNET_ETH_ALEN, fuzz_host_mac, 2))
		abort();
	if (unet_frame_parse(frame, len, len, &r) != UNET_DROP_NONE)
		abort();
	fuzz_trace("out", &r);
	v4 = r.ip_version == 4;
	/* To a unicast MAC, broadcast, or (IPv6) an IPv6 multicast MAC. */
	if ((frame[0] & 1) && memcmp(frame, fuzz_bcast, UNET_ETH_ALEN) &&
	    (v4 || frame[0] != 0x33 || frame[1] != 0x33))
		abort();
	if (r.ethertype == UNET_ETHERTYPE_ARP) {
		if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE || len < UNET_ETH_HLEN + 28)
			abort();
		return;
	}
	if (!v4 && (r.ip_version != 6 || !fz.ipv6))
		abort(); /* IPv6 only when it is on */
	/* The engine writes no options and no extension headers, and never pads. */
	tot = v4 ? fuzz_get16(frame + r.l3_off + 2) :
		   (size_t)fuzz_get16(frame + r.l3_off + 4) + UNET_IPV6_HLEN;
	if (tot != len - r.l3_off ||
	    r.l4_off != r.l3_off + (v4 ? UNET_IPV4_HLEN : UNET_IPV6_HLEN))
		abort();
	if (r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP &&
	    r.proto != (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6))
		abort();
	fuzz_check_csum(&vh, frame, len, &r);
	switch (r.proto) {
	case IPPROTO_ICMP:
		if (r.icmp_type != UNET_ICMP_ECHOREPLY || tot > fz.mtu)
			abort();
		return;
	case IPPROTO_ICMPV6:
		/* Echo replies and the engine's NDP: router and neighbour messages. */
		if (r.icmp_type == UNET_ICMP6_ECHOREPLY ? tot > fz.mtu :
		    r.icmp_type != UNET_ICMP6_RA && r.icmp_type != UNET_ICMP6_NS &&
		    r.icmp_type != UNET_ICMP6_NA)
			abort();
		return;
	case IPPROTO_UDP:
		/* A flow's datagram the link cannot carry is dropped (DHCP answers are not). */
		if (r.sport != FUZZ_DHCP_PORT && r.sport != FUZZ_DHCPV6_SERVER_PORT && tot > fz.mtu)
			abort();
		return;
	default:
		break;
	}
	if (vh.gso_type == (v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6)) {
		if (!vh.gso_size || r.payload_len <= vh.gso_size || vh.hdr_len != r.payload_off ||
		    vh.gso_size + (r.payload_off - r.l3_off) > fz.mtu)
			abort();
	} else if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE || tot > fz.mtu) {
		abort();
	}
	fuzz_check_tcp(&r, frame);
}

/* The guest's side lends receive buffers for one frame (usernet_set_lend()). */
static int fuzz_lend(void *opaque, struct iovec *iov, int max_iov, size_t max_len)
{
	size_t left = max_len, first;
	int n = 0;

	(void)opaque;
	if (fz.nlent || max_iov < 1 || max_len > sizeof(fz.out))
		abort(); /* lent twice without a commit, or a frame no guest takes */
	if ((fz.lend_mode & 3) == 3 && (fz.lends & 1))
		left = 0; /* nothing to lend this time */
	fz.lends++;
	if (fz.lend_mode & 4)
		left /= 2; /* less than asked for */
	first = (fz.lend_mode & 3) == 0 ? left : (fz.lend_mode & 3) == 2 ? FUZZ_LEND_SHORT :
									    FUZZ_LEND_HEAD;
	if (max_iov > FUZZ_LEND_IOV)
		max_iov = FUZZ_LEND_IOV;
	while (left && n < max_iov) {
		size_t len = n == 0 ? first : FUZZ_LEND_PIECE;

		if (len > left || n == max_iov - 1)
			len = left;
		fz.lent[n] = malloc(len);
		if (!fz.lent[n])
			abort();
		fz.lent_len[n] = len;
		iov[n].iov_base = fz.lent[n];
		iov[n].iov_len = len;
		left -= len;
		n++;
	}
	fz.nlent = n;
	return n;
}

/* The frame written into the lent buffers: checked as any other, and the buffers go back. */
static void fuzz_commit(void *opaque, size_t len)
{
	struct iovec iov[FUZZ_LEND_IOV];
	int n = 0;

	(void)opaque;
	if (!fz.nlent)
		abort(); /* a commit without a lend */
	for (int i = 0; i < fz.nlent && len; i++) {
		iov[n].iov_base = fz.lent[i];
		iov[n].iov_len = len < fz.lent_len[i] ? len : fz.lent_len[i];
		len -= iov[n++].iov_len;
	}
	if (len)
		abort(); /* more than was lent */
	if (n)
		fuzz_check_output(iov, n);
	for (int i = 0; i < fz.nlent; i++)
		free(fz.lent[i]);
	fz.nlent = 0;
}

static ssize_t fuzz_output(void *opaque, const struct iovec *iov, int iovcnt)
{
	(void)opaque;
	fuzz_check_output(iov, iovcnt);
	if (fz.block_next) {
		fz.block_next = false;
		return 0;
	}
	return 1;
}

/* Guest frames */

/* Mutations would almost never keep an IPv4 header checksum right: set it (and, with the
 * identification's low bit, lengths that fit the frame), as fuzz_unet_dhcp.c does. */
static void fuzz_fix_ipv4(uint8_t *d, size_t size)
{
	size_t ihl, l3 = UNET_ETH_HLEN;

	if (size < l3 + UNET_IPV4_HLEN || fuzz_get16(d + 12) != UNET_ETHERTYPE_IPV4)
		return;
	ihl = (size_t)(d[l3] & 0x0f) * 4;
	if (ihl < UNET_IPV4_HLEN || ihl > size - l3)
		return;
	if ((d[l3 + 5] & 1) && size - l3 <= 0xffff) {
		fuzz_put16(d + l3 + 2, (uint16_t)(size - l3));
		if (d[l3 + 9] == IPPROTO_UDP && size - l3 - ihl >= UNET_UDP_HLEN)
			fuzz_put16(d + l3 + ihl + 4, (uint16_t)(size - l3 - ihl));
	}
	fuzz_put16(d + l3 + 10, 0);
	fuzz_put16(d + l3 + 10, fuzz_fold(fuzz_sum(d + l3, ihl, 0)));
}

/*
 * Hand a frame to the engine: as one piece or several, with a vnet header or without. A TCP
 * payload is made the guest's bytes (fuzz_gbyte()) first, so that what reaches a socket can be
 * checked; the frame's addresses tell socket() which flow it is making a socket for.
 */
static void fuzz_deliver(struct usernet *u, uint8_t *frame, size_t len, uint8_t mode)
{
	uint8_t vh[FUZZ_VNET_HLEN] = { 0 };
	struct iovec iov[4];
	struct unet_frame f;
	int n = 0;

	if (unet_frame_parse(frame, len, len, &f) == UNET_DROP_NONE && f.ip_version) {
		fz.cur_valid = true;
		fz.cur_saddr = f.saddr6;
		fz.cur_daddr = f.daddr6;
		fz.cur_sport = f.sport;
		fz.cur_dport = f.dport;
		fz.cur_seq = f.seq;
		fz.cur_syn = f.proto == IPPROTO_TCP && (f.tcp_flags & UNET_TCP_SYN);
		if (f.proto == IPPROTO_TCP) {
			for (size_t i = 0; i < f.payload_len; i++)
				frame[f.payload_off + i] = fuzz_gbyte(f.seq + (uint32_t)i);
			fz.guest_tcp_bytes += f.payload_len;
		} else if (f.proto == IPPROTO_UDP) {
			fz.guest_udp_bytes += f.payload_len;
		}
	}
	if (fz.cur_valid)
		fuzz_trace("in", &f);
	if (mode & 1) {
		iov[n].iov_base = vh;
		iov[n++].iov_len = sizeof(vh);
	}
	if ((mode & 2) && len > 2) {
		/* Cut in three where the mode says: headers and payload apart. */
		size_t a = ((size_t)(mode >> 2) * len) / 64, b = a + (len - a) / 2;

		iov[n].iov_base = frame;
		iov[n++].iov_len = a;
		iov[n].iov_base = frame + a;
		iov[n++].iov_len = b - a;
		iov[n].iov_base = frame + b;
		iov[n++].iov_len = len - b;
	} else {
		iov[n].iov_base = frame;
		iov[n++].iov_len = len;
	}
	usernet_input(u, iov, n, mode & 1);
	fz.cur_valid = false;
}

/* Ethernet and IP headers of a guest frame to the engine (IPv4 or IPv6 by @src's family);
 * returns where the transport header goes. */
static size_t fuzz_put_ip(uint8_t *b, const struct in6_addr *src, const struct in6_addr *dst,
			  uint8_t proto, size_t l4_len, uint8_t hops)
{
	uint8_t *ip = b + UNET_ETH_HLEN;

	memcpy(b, fuzz_host_mac, UNET_ETH_ALEN);
	memcpy(b + UNET_ETH_ALEN, fuzz_guest_mac, UNET_ETH_ALEN);
	if (!fuzz_is4(src)) {
		fuzz_put16(b + 12, UNET_ETHERTYPE_IPV6);
		memset(ip, 0, UNET_IPV6_HLEN);
		ip[0] = 0x60;
		fuzz_put16(ip + 4, (uint16_t)l4_len);
		ip[6] = proto;
		ip[7] = hops;
		memcpy(ip + 8, src->s6_addr, 16);
		memcpy(ip + 24, dst->s6_addr, 16);
		return UNET_ETH_HLEN + UNET_IPV6_HLEN;
	}
	fuzz_put16(b + 12, UNET_ETHERTYPE_IPV4);
	memset(ip, 0, UNET_IPV4_HLEN);
	ip[0] = 0x45;
	fuzz_put16(ip + 2, (uint16_t)(UNET_IPV4_HLEN + l4_len));
	ip[8] = hops;
	ip[9] = proto;
	memcpy(ip + 12, &src->s6_addr[12], 4);
	memcpy(ip + 16, &dst->s6_addr[12], 4);
	fuzz_put16(ip + 10, fuzz_fold(fuzz_sum(ip, UNET_IPV4_HLEN, 0)));
	return FUZZ_L4_OFF;
}

/* The remote addresses a guest talks to: the engine's, a guestfwd= server, the outside, and
 * ones that lead nowhere; IPv6 ones when the engine serves IPv6 and @sel asks. */
static struct in6_addr fuzz_remote(uint8_t sel)
{
	const uint32_t v4[] = {
		FUZZ_IP(10, 0, 2, 2), FUZZ_IP(10, 0, 2, 2), FUZZ_IP(10, 0, 2, 2),
		FUZZ_IP(10, 0, 2, 3), FUZZ_IP(192, 0, 2, 1), FUZZ_IP(10, 0, 2, 100),
		FUZZ_IP(10, 0, 2, 9), FUZZ_IP(127, 0, 0, 1), FUZZ_IP(255, 255, 255, 255),
		FUZZ_IP(224, 0, 0, 1),
	};
	const struct in6_addr v6[] = {
		fuzz_a6(0xfec00000, 2), fuzz_a6(0xfec00000, 2), fuzz_a6(0xfec00000, 3),
		fuzz_a6(0x20010db8, 1), fuzz_a6(0xfec00000, 9), fuzz_a6(0, 1),
		fuzz_a6(0xff020000, 1), fuzz_a6(0xfe800000, 1), fuzz_a6(0, 0xffffc0000201ull),
	};

	if (fz.ipv6 && (sel & 0x80))
		return v6[(sel & 0x7f) % (sizeof(v6) / sizeof(v6[0]))];
	return fuzz_a4(v4[sel % (sizeof(v4) / sizeof(v4[0]))]);
}

/* A TCP segment from the guest, options as @opt says, payload of @plen bytes. */
static void fuzz_send_tcp(struct usernet *u, struct fuzz_in *in, const struct in6_addr *saddr,
			  const struct in6_addr *daddr, uint16_t sport, uint16_t dport,
			  uint32_t seq, uint32_t ack, uint8_t flags, uint16_t window, uint8_t opt,
			  size_t plen)
{
	size_t olen = 0, hlen, l4 = fuzz_is4(saddr) ? FUZZ_L4_OFF : UNET_ETH_HLEN + UNET_IPV6_HLEN;
	uint8_t *tcp = fz.frame + l4;

	if (plen > 0xffff - UNET_IPV6_HLEN - 60)
		plen = 0xffff - UNET_IPV6_HLEN - 60;
	memset(tcp, 0, 60);
	if (opt & 1) { /* MSS */
		tcp[20 + olen] = 2;
		tcp[21 + olen] = 4;
		fuzz_put16(tcp + 22 + olen, (opt & 2) ? fuzz_u16(in) : 1460);
		olen += 4;
	}
	if (opt & 4) { /* window scale */
		tcp[20 + olen] = 1;
		tcp[21 + olen] = 3;
		tcp[22 + olen] = 3;
		tcp[23 + olen] = (opt & 8) ? fuzz_u8(in) : 7;
		olen += 4;
	}
	if (opt & 16) { /* SACK permitted and a timestamp, to be skipped */
		static const uint8_t more[12] = { 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };

		memcpy(tcp + 20 + olen, more, sizeof(more));
		olen += sizeof(more);
	}
	hlen = UNET_TCP_HLEN + olen;
	fuzz_put16(tcp, sport);
	fuzz_put16(tcp + 2, dport);
	fuzz_put32(tcp + 4, seq);
	fuzz_put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((hlen / 4) << 4);
	tcp[13] = flags;
	fuzz_put16(tcp + 14, window);
	for (size_t i = 0; i < plen; i++)
		tcp[hlen + i] = fuzz_gbyte(seq + (uint32_t)i);
	fuzz_put_ip(fz.frame, saddr, daddr, IPPROTO_TCP, hlen + plen, FUZZ_HOP_LIMIT);
	fuzz_put16(tcp + FUZZ_TCP_OFF_CSUM,
		   fuzz_fold(fuzz_sum(tcp, hlen + plen,
				      fuzz_pseudo(saddr, daddr, IPPROTO_TCP, hlen + plen))));
	fuzz_deliver(u, fz.frame, l4 + hlen + plen, fuzz_u8(in));
}

/* A datagram (UDP, ICMP, ICMPv6) from the guest whose transport header and payload are at
 * fz.frame + the offset for @saddr's family, checksum field at @csum_off (zero). */
static void fuzz_send_dgram(struct usernet *u, struct fuzz_in *in, const struct in6_addr *saddr,
			    const struct in6_addr *daddr, uint8_t proto, size_t l4_len,
			    size_t csum_off, uint8_t hops)
{
	size_t l4 = fuzz_put_ip(fz.frame, saddr, daddr, proto, l4_len, hops);
	uint32_t sum = proto == IPPROTO_ICMP ? 0 : fuzz_pseudo(saddr, daddr, proto, l4_len);

	fuzz_put16(fz.frame + l4 + csum_off, fuzz_fold(fuzz_sum(fz.frame + l4, l4_len, sum)));
	fuzz_deliver(u, fz.frame, l4 + l4_len, fuzz_u8(in));
}

static size_t fuzz_len(struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);

	/* Mostly small; sometimes a segment's worth, sometimes up to 64 KiB. */
	if (sel < 128)
		return sel;
	if (sel < 224)
		return fuzz_u16(in) % 3000;
	return fuzz_u16(in);
}

static uint16_t fuzz_window(uint8_t sel)
{
	static const uint16_t w[] = { 0xffff, 512, 64240, 0, 1, 16, 100, 4096 };

	return w[sel % (sizeof(w) / sizeof(w[0]))];
}

/* A new connection from the guest: its SYN. */
static void fuzz_step_syn(struct usernet *u, struct fuzz_in *in)
{
	struct in6_addr daddr = fuzz_remote(fuzz_u8(in)), gaddr = fuzz_guest_addr(&daddr);
	uint16_t dport = fuzz_u8(in) & 3 ? (uint16_t)(fuzz_u8(in) % 4 + FUZZ_GUESTFWD_PORT) :
					   fuzz_u16(in);
	uint16_t gport = (uint16_t)(40000 + fuzz_u8(in) % 16);
	uint8_t opt = fuzz_u8(in);
	struct fuzz_gconn *c;

	if (opt & 0x80)
		dport = FUZZ_DNS_PORT;
	c = fuzz_gconn_new(&gaddr, &daddr, gport, dport);
	fuzz_send_tcp(u, in, &gaddr, &daddr, gport, dport, c->snd_nxt, 0, UNET_TCP_SYN,
		      fuzz_window(fuzz_u8(in)), opt, 0);
	c->snd_nxt++;
}

/* A segment of a connection of the guest model: mostly what a guest would send. */
static void fuzz_step_tcp(struct usernet *u, struct fuzz_in *in)
{
	struct fuzz_gconn *c = &fz.gconn[fuzz_u8(in) % FUZZ_GCONNS];
	uint8_t kind = fuzz_u8(in), flags = UNET_TCP_ACK, opt = 0;
	uint32_t seq, ack;
	size_t plen = 0;

	if (!c->used) {
		fuzz_step_syn(u, in);
		return;
	}
	switch (kind & 7) {
	case 0:
		break; /* a pure ACK */
	case 1:
		plen = fuzz_len(in);
		flags |= UNET_TCP_PSH;
		break;
	case 2:
		plen = fuzz_len(in);
		flags |= UNET_TCP_FIN;
		break;
	case 3:
		flags = UNET_TCP_RST | (kind & 8 ? UNET_TCP_ACK : 0);
		break;
	case 4:
		/* The answer to the engine's SYN (a forwarded connection), or a SYN again. */
		flags = UNET_TCP_SYN | (kind & 8 ? UNET_TCP_ACK : 0);
		opt = fuzz_u8(in);
		if (kind & 16)
			c->snd_nxt--;
		break;
	case 5:
		c->snd_nxt = c->peer_ack; /* go back to what the engine acknowledged */
		plen = fuzz_len(in);
		break;
	case 6:
		flags = fuzz_u8(in);
		plen = fuzz_len(in);
		break;
	default:
		plen = fuzz_len(in);
		break;
	}
	seq = c->snd_nxt;
	ack = c->rcv_nxt;
	if (kind & 0x20)
		seq += (uint32_t)(int16_t)fuzz_u16(in);
	if (kind & 0x40)
		ack += (uint32_t)(int16_t)fuzz_u16(in);
	fuzz_send_tcp(u, in, &c->gaddr, &c->raddr, c->gport, c->rport, seq, ack, flags,
		      fuzz_window(fuzz_u8(in)), opt, plen);
	if (!(kind & 0x20))
		c->snd_nxt += (uint32_t)plen + !!(flags & UNET_TCP_SYN) + !!(flags & UNET_TCP_FIN);
	if (flags & UNET_TCP_RST)
		c->used = false;
}

static void fuzz_step_udp(struct usernet *u, struct fuzz_in *in)
{
	struct in6_addr daddr = fuzz_remote(fuzz_u8(in)), saddr = fuzz_guest_addr(&daddr);
	uint8_t sel = fuzz_u8(in);
	bool v4 = fuzz_is4(&daddr);
	uint8_t *udp = fz.frame + (v4 ? FUZZ_L4_OFF : UNET_ETH_HLEN + UNET_IPV6_HLEN);
	uint16_t dport = sel & 1 ? FUZZ_DNS_PORT :
			 sel & 2 ? (v4 ? FUZZ_DHCP_PORT : FUZZ_DHCPV6_SERVER_PORT) : fuzz_u16(in);
	uint16_t sport = sel & 4 ? (v4 ? 68 : FUZZ_DHCPV6_CLIENT_PORT) :
			 (uint16_t)(50000 + fuzz_u8(in) % 8);
	size_t plen = fuzz_len(in);

	if (plen > 0xffff - UNET_IPV6_HLEN - UNET_UDP_HLEN)
		plen = 0xffff - UNET_IPV6_HLEN - UNET_UDP_HLEN;
	if (sel & 8) /* everyone: the broadcast, or DHCPv6's servers */
		daddr = v4 ? fuzz_a4(FUZZ_IP(255, 255, 255, 255)) : fuzz_a6(0xff020000, 0x10002);
	fuzz_put16(udp, sport);
	fuzz_put16(udp + 2, dport);
	fuzz_put16(udp + 4, (uint16_t)(UNET_UDP_HLEN + plen));
	fuzz_put16(udp + 6, 0);
	fuzz_bytes(in, udp + UNET_UDP_HLEN, plen);
	fuzz_send_dgram(u, in, &saddr, &daddr, IPPROTO_UDP, UNET_UDP_HLEN + plen,
			FUZZ_UDP_OFF_CSUM, FUZZ_HOP_LIMIT);
}

/* An echo request, or (IPv6) an NDP message to the engine. */
static void fuzz_step_ping(struct usernet *u, struct fuzz_in *in)
{
	struct in6_addr daddr = fuzz_remote(fuzz_u8(in)), saddr = fuzz_guest_addr(&daddr);
	bool v4 = fuzz_is4(&daddr);
	uint8_t *icmp = fz.frame + (v4 ? FUZZ_L4_OFF : UNET_ETH_HLEN + UNET_IPV6_HLEN);
	uint8_t type = fuzz_u8(in), hops = FUZZ_HOP_LIMIT;
	size_t plen = fuzz_len(in) % 2000;

	icmp[0] = v4 ? UNET_ICMP_ECHO : UNET_ICMP6_ECHO;
	if (type & 0x80) {
		icmp[0] = type;
	} else if (!v4 && (type & 0x40)) {
		/* A router solicitation to all routers, or a neighbour solicitation for us. */
		icmp[0] = type & 1 ? UNET_ICMP6_NS : UNET_ICMP6_RS;
		daddr = type & 1 ? fuzz_a6(0xff020000, 0x1ff000002ull) : fuzz_a6(0xff020000, 2);
		hops = FUZZ_NDP_HOP_LIMIT;
	}
	icmp[1] = 0;
	fuzz_put16(icmp + 2, 0);
	fuzz_put16(icmp + 4, (uint16_t)(fuzz_u8(in) % 4));
	fuzz_put16(icmp + 6, fuzz_u16(in));
	fuzz_bytes(in, icmp + UNET_ICMP_HLEN, plen);
	if (icmp[0] == UNET_ICMP6_NS && plen >= 16) /* its target: the host's address */
		memcpy(icmp + UNET_ICMP_HLEN, fuzz_a6(0xfec00000, 2).s6_addr, 16);
	fuzz_send_dgram(u, in, &saddr, &daddr, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
			UNET_ICMP_HLEN + plen, FUZZ_ICMP_OFF_CSUM, hops);
}

static void fuzz_step_arp(struct usernet *u, struct fuzz_in *in)
{
	uint8_t *b = fz.frame, *arp = b + UNET_ETH_HLEN, sel = fuzz_u8(in);
	uint32_t target = sel & 2 ? FUZZ_IP(10, 0, 2, 100) :
			  sel & 1 ? FUZZ_IP(10, 0, 2, 3) : FUZZ_IP(10, 0, 2, 2);
	uint32_t sender = FUZZ_IP(10, 0, 2, 15);

	memset(b, 0, 60);
	memcpy(b, fuzz_bcast, UNET_ETH_ALEN);
	memcpy(b + UNET_ETH_ALEN, fuzz_guest_mac, UNET_ETH_ALEN);
	fuzz_put16(b + 12, UNET_ETHERTYPE_ARP);
	fuzz_put16(arp, 1);
	fuzz_put16(arp + 2, UNET_ETHERTYPE_IPV4);
	arp[4] = 6;
	arp[5] = 4;
	fuzz_put16(arp + 6, 1);
	memcpy(arp + 8, fuzz_guest_mac, UNET_ETH_ALEN);
	memcpy(arp + 14, &sender, 4);
	memcpy(arp + 24, &target, 4);
	fuzz_deliver(u, b, 60, 1);
}

static void fuzz_step_raw(struct usernet *u, struct fuzz_in *in)
{
	size_t len = fuzz_u16(in) % 2048;
	uint8_t mode = fuzz_u8(in);

	if (len > in->left)
		len = in->left;
	fuzz_bytes(in, fz.frame, len);
	fuzz_fix_ipv4(fz.frame, len);
	fuzz_deliver(u, fz.frame, len, mode);
}

/* Something happens on the host side of a fake socket. */
static void fuzz_step_socket(struct fuzz_in *in)
{
	int open[FUZZ_FAKES], nopen = 0;
	uint8_t pick = fuzz_u8(in), ev = fuzz_u8(in);
	struct fuzz_fake *f;

	for (int i = 0; i < fz.nfakes; i++)
		if (fz.fake[i].open)
			open[nopen++] = i;
	if (!nopen)
		return;
	f = &fz.fake[open[pick % nopen]];
	switch (ev % FUZZ_E_MAX) {
	case FUZZ_E_DATA:
		if (f->stream && f->state == FUZZ_F_CONNECTED && !f->eof) {
			size_t n = fuzz_len(in) + 1;

			if (f->rx_appended - f->rx_consumed + n <= FUZZ_RX_MAX)
				f->rx_appended += n;
		}
		break;
	case FUZZ_E_EOF:
		if (f->stream && f->state == FUZZ_F_CONNECTED)
			f->eof = true;
		break;
	case FUZZ_E_RST:
		if (f->stream && f->state == FUZZ_F_CONNECTED) {
			f->state = FUZZ_F_DOWN;
			f->err = ECONNRESET;
		}
		break;
	case FUZZ_E_CONNECTED:
		if (f->stream && f->state == FUZZ_F_CONNECTING) {
			f->state = FUZZ_F_CONNECTED;
			f->ever_connected = true;
		}
		break;
	case FUZZ_E_REFUSED:
		if (f->stream && f->state == FUZZ_F_CONNECTING) {
			f->state = FUZZ_F_DOWN;
			f->err = ev & 0x80 ? ETIMEDOUT : ECONNREFUSED;
		}
		break;
	case FUZZ_E_WRITABLE: {
		uint32_t drain = (uint32_t)fuzz_u16(in) << (ev >> 5);

		f->queued = drain >= f->queued ? 0 : f->queued - drain;
		if ((ev & 0x10) && f->sndbuf < FUZZ_SNDBUF_MAX)
			f->sndbuf *= 2;
		break;
	}
	case FUZZ_E_DGRAM:
		/* One datagram, or (the event byte's high bits) a burst of copies at one edge. */
		if (!f->stream && f->ndq < FUZZ_DGRAMS) {
			struct fuzz_dgram *d = &f->dq[f->ndq];
			uint8_t sel = fuzz_u8(in);
			int copies = (ev >> 4) == 15 ? FUZZ_DGRAMS : ev >> 4;

			d->len = sel & 0x80 ? fuzz_u16(in) : sel & 0x7f;
			d->data = malloc(d->len ? d->len : 1);
			if (!d->data)
				abort();
			fuzz_bytes(in, d->data, d->len);
			if (f->icmp && d->len >= UNET_ICMP_HLEN && !(sel & 0x40))
				d->data[0] = UNET_ICMP_ECHOREPLY;
			d->from.sin_family = AF_INET;
			d->from.sin_addr.s_addr = sel & 0x20 ? FUZZ_IP(192, 0, 2, 7) :
						  sel & 0x10 ? 0 : FUZZ_IP(127, 0, 0, 1);
			d->from.sin_port = htons((uint16_t)(30000 + fuzz_u8(in) % 4));
			f->ndq++;
			for (int k = 0; k < copies && f->ndq < FUZZ_DGRAMS; k++) {
				struct fuzz_dgram *c = &f->dq[f->ndq++];

				*c = *d;
				c->data = malloc(d->len ? d->len : 1);
				if (!c->data)
					abort();
				memcpy(c->data, d->data, d->len);
			}
		}
		break;
	case FUZZ_E_ACCEPT:
		if (f->state == FUZZ_F_LISTENING && f->nbacklog < FUZZ_BACKLOG) {
			struct sockaddr_in *p = &f->backlog[f->nbacklog++];
			uint8_t sel = fuzz_u8(in);

			memset(p, 0, sizeof(*p));
			p->sin_family = AF_INET;
			p->sin_addr.s_addr = sel & 1 ? FUZZ_IP(192, 0, 2, 9) : FUZZ_IP(127, 0, 0, 1);
			p->sin_port = htons((uint16_t)(33000 + (sel >> 1) % 8));
		}
		break;
	default:
		if (!f->stream)
			f->err = ECONNREFUSED;
		break;
	}
	fuzz_edge(f);
}

/* A guestfwd= rule: the guest's connections to 10.0.2.100:80 (or 81) reach a TCP or unix
 * target (10.0.2.2 is refused: the host's own address). */
static void fuzz_guestfwd(struct usernet *u, uint8_t sel)
{
	struct in_addr server = { .s_addr = sel & 1 ? FUZZ_IP(10, 0, 2, 2) :
						      FUZZ_IP(10, 0, 2, 100) };
	uint16_t port = (uint16_t)(FUZZ_GUESTFWD_PORT + ((sel >> 2) & 1));
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	socklen_t len;

	switch ((sel >> 3) & 3) {
	case 2:
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(9000);
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
		break;
	case 3:
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, "/nonexistent/fuzz-usernet.sock");
		len = sizeof(*un);
		break;
	default:
		in4->sin_family = AF_INET;
		in4->sin_port = htons(9000);
		in4->sin_addr.s_addr = FUZZ_IP(127, 0, 0, 1);
		len = sizeof(*in4);
		break;
	}
	(void)usernet_guestfwd_add(u, server, port, (struct sockaddr *)&ss, len);
}

/* A hostfwd= rule added or removed, or a guestfwd= rule added. */
static void fuzz_step_fwd(struct usernet *u, struct fuzz_in *in)
{
	uint8_t sel = fuzz_u8(in);
	struct sockaddr_in host = { .sin_family = AF_INET }, guest = { .sin_family = AF_INET };
	bool udp = sel & 1;
	int before = fz.nfakes;

	if ((sel & 0x60) == 0x60) {
		fuzz_guestfwd(u, sel);
		return;
	}

	host.sin_addr.s_addr = sel & 2 ? 0 : FUZZ_IP(127, 0, 0, 1);
	host.sin_port = htons((uint16_t)(2200 + (sel >> 2) % 4));
	guest.sin_addr.s_addr = sel & 0x10 ? FUZZ_IP(10, 0, 2, 20) : 0;
	guest.sin_port = htons((uint16_t)(22 + (sel >> 5) % 2));
	if (sel & 0x80) {
		if (usernet_hostfwd_remove(u, udp, &host) == 0)
			fz.rules--;
		return;
	}
	if (usernet_hostfwd_add(u, udp, &host, &guest) == 0) {
		if (fz.nfakes != before + 1)
			abort();
		fz.fake[before].fwd_guest = guest;
		fz.rules++;
	}
}

/* Time passes; returns how much (ns). */
static int64_t fuzz_step_time(struct fuzz_in *in)
{
	static const int64_t ms[] = { 1, 5, 20, 100, 101, 150, 250, 1000, 2000, 9000,
				      11000, 61000, 181000, 601000 };
	int64_t ns = ms[fuzz_u8(in) % (sizeof(ms) / sizeof(ms[0]))] * 1000000LL;

	fz.time_ns += ns;
	return ns;
}

/* After a tick: a socket the engine watches that still holds datagrams was read from since
 * the last look (the engine reads on after its per-event budget on the tick: edge-triggered,
 * nothing else would wake it). */
static void fuzz_check_drained(void)
{
	for (int i = 0; i < fz.nfakes; i++) {
		struct fuzz_fake *f = &fz.fake[i];

		if (f->open && f->registered && !f->stream && f->ndq && !f->err &&
		    f->reads == f->reads_seen)
			abort();
		f->reads_seen = f->reads;
	}
}

struct fuzz_count {
	uint64_t flows;
};

static void fuzz_counter(void *opaque, const char *name, uint64_t value)
{
	struct fuzz_count *c = opaque;

	if (!strcmp(name, "flows"))
		c->flows = value;
}

/* No socket without a flow or a rule to own it. */
static void fuzz_check_leaks(struct usernet *u)
{
	struct fuzz_count c = { 0 };
	uint64_t open = 0;

	usernet_counters(u, fuzz_counter, &c);
	for (int i = 0; i < fz.nfakes; i++)
		open += fz.fake[i].open;
	if (open > c.flows + (uint64_t)fz.rules)
		abort();
}

/*
 * The network (QEMU's defaults, fec0::/64 for IPv6) and the fakes' ways, from two bytes:
 * @opts bit 0 IPv6 on, bits 1-2 restrict=on (3) or at most 3 flows (2), bit 3 no SO_PEEK_OFF,
 * bits 4-5 connect() (0 in progress, 1 done at once, 2 refused at once), bit 6 bind() fails,
 * bit 7 no ping sockets; @mtu_sel bits 0-3 the MTU (at least 1280 with IPv6), bit 7 the guest's
 * side lends buffers, bits 4-6 how (fuzz_lend()).
 */
static void fuzz_config(struct usernet_config *cfg, uint8_t opts, uint8_t mtu_sel)
{
	static const unsigned int mtus[] = { 1500, 1500, 576, 68, 9000, 65520, 1280 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->net.s_addr = FUZZ_IP(10, 0, 2, 0);
	cfg->mask.s_addr = FUZZ_IP(255, 255, 255, 0);
	cfg->host.s_addr = FUZZ_IP(10, 0, 2, 2);
	cfg->dns.s_addr = FUZZ_IP(10, 0, 2, 3);
	cfg->dhcp_start.s_addr = FUZZ_IP(10, 0, 2, 15);
	cfg->mtu = mtus[(mtu_sel & 0xf) % (sizeof(mtus) / sizeof(mtus[0]))];
	fz.lend_mode = (mtu_sel & 0x80) ? (uint8_t)(8 | ((mtu_sel >> 4) & 7)) : 0;
	cfg->ipv6 = opts & 1;
	if (cfg->ipv6) {
		cfg->prefix6 = fuzz_a6(0xfec00000, 0);
		cfg->prefix6_len = 64;
		cfg->host6 = fuzz_a6(0xfec00000, 2);
		cfg->dns6 = fuzz_a6(0xfec00000, 3);
		if (cfg->mtu < 1280)
			cfg->mtu = 1500;
	}
	cfg->restricted = ((opts >> 1) & 3) == 3;
	cfg->max_flows = ((opts >> 1) & 3) == 2 ? 3 : 0;
	fz.mtu = cfg->mtu;
	fz.ipv6 = cfg->ipv6;
	fz.no_peek_off = opts & 8;
	fz.connect_mode = (uint8_t)((opts >> 4) & 3) % 3;
	fz.socket_fail = false;
	fz.bind_fail = opts & 0x40;
	fz.no_ping = opts & 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { .p = data, .left = size };
	struct usernet_config cfg;
	struct usernet *u;
	struct loop *loop;
	int err = 0;

	/* Everything before the fakes (each is set up when given out). */
	memset(&fz, 0, offsetof(struct fuzz_state, fake));
	fz.inner_epfd = fz.evfd = -1;
	fz.ready_head = fz.ready_tail = -1;
	fz.next_isn = 0x5eed;
	fuzz_config(&cfg, fuzz_u8(&in), fuzz_u8(&in));
	loop = loop_new();
	if (!loop)
		abort();
	fz.creating = true;
	u = usernet_new(loop, &cfg, fuzz_output, NULL, &err);
	fz.creating = false;
	if (!u || fz.inner_epfd < 0)
		abort();
	if (fz.lend_mode)
		usernet_set_lend(u, fuzz_lend, fuzz_commit);

	for (int step = 0; step < FUZZ_STEPS && in.left; step++) {
		bool ticked = false;

		switch (fuzz_u8(&in) % FUZZ_S_MAX) {
		case FUZZ_S_RAW:
			fuzz_step_raw(u, &in);
			break;
		case FUZZ_S_TCP:
		case FUZZ_S_TCP2:
			fuzz_step_tcp(u, &in);
			break;
		case FUZZ_S_SYN:
			fuzz_step_syn(u, &in);
			break;
		case FUZZ_S_UDP:
			fuzz_step_udp(u, &in);
			break;
		case FUZZ_S_PING:
			fuzz_step_ping(u, &in);
			break;
		case FUZZ_S_ARP:
			fuzz_step_arp(u, &in);
			break;
		case FUZZ_S_SOCKET:
		case FUZZ_S_SOCKET2:
			fuzz_step_socket(&in);
			break;
		case FUZZ_S_TIME:
			ticked = fuzz_step_time(&in) >= FUZZ_TICK_NS;
			break;
		case FUZZ_S_RESUME:
			usernet_resume(u);
			break;
		case FUZZ_S_BLOCK: {
			uint8_t sel = fuzz_u8(&in);

			/* The guest's side fills up at the next frame; socket() fails from now. */
			fz.block_next = !(sel & 1);
			fz.socket_fail = (sel & 6) == 6;
			break;
		}
		default:
			fuzz_step_fwd(u, &in);
			break;
		}
		for (int r = 0; r < FUZZ_ROUNDS && loop_run_once(loop, 0) > 0; r++)
			;
		fuzz_check_leaks(u);
		if (ticked)
			fuzz_check_drained();
	}

	usernet_free(u);
	loop_run_once(loop, 0);
	loop_free(loop);
	for (int i = 0; i < fz.nfakes; i++)
		if (fz.fake[i].open)
			abort(); /* a socket the engine never closed */
	if (fz.nlent)
		abort(); /* buffers lent and never committed */
	if (fz.inner_epfd >= 0)
		abort();
	fz.time_ns = 0;
	return 0;
}
