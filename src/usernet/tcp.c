// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tcp.c - guest TCP connections mirrored onto host sockets, with no TCP stack in between.
 * Guest -> host: a segment's payload is written straight from the guest's buffers to the
 * socket and acknowledged as the kernel takes it; the window offered to the guest is the
 * socket's free send buffer. Host -> guest: data is read with MSG_PEEK (SO_PEEK_OFF keeps the
 * offset of what was sent) into frames of up to 64 KiB sent as GSO with a vnet header, and
 * discarded from the socket only when the guest acknowledges it, so that a retransmission
 * reads it again instead of keeping copies. Host-forwarded ports start with our SYN to the
 * guest; a guest's SYN starts a non-blocking connect() whose outcome answers it.
 */
#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/offload.h"
#include "usernet/unet.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* The window scale we offer (and use when the guest offers one too). */
#define UNET_TCP_WS 7
/* The MSS a guest that sends none gets (RFC 9293). */
#define UNET_TCP_MSS_DEFAULT 536
/* Retransmission timeout: first, and the most it backs off to. */
#define UNET_TCP_RTO_NS 200000000LL
#define UNET_TCP_RTO_MAX_NS 8000000000LL
/* Retransmissions of the same data before the connection is reset. */
#define UNET_TCP_RETRIES 15
/* SYNs sent to the guest for a forwarded connection, one a second. */
#define UNET_TCP_SYN_RETRIES 6
#define UNET_TCP_SYN_RTO_NS 1000000000LL
/* A connect() to the host that takes longer is given up (the guest gets a reset). */
#define UNET_TCP_CONNECT_TIMEOUT_NS 60000000000LL
/* A closing connection (a FIN sent either way) quiet for this long is reset. */
#define UNET_TCP_CLOSING_TIMEOUT_NS 600000000000LL
/* Duplicate acknowledgements that make the guest's sender retransmit (RFC 5681). */
#define UNET_TCP_DUP_ACKS 3
/* TCP option kinds and lengths */
#define UNET_TCPOPT_NOP 1
#define UNET_TCPOPT_MSS 2
#define UNET_TCPOPT_WS 3
#define UNET_TCPOPT_MSS_LEN 4
#define UNET_TCPOPT_WS_LEN 3
#define UNET_TCP_SYN_OPTS_LEN 8
#define UNET_TCP_OFF_CSUM 16
#define UNET_TCP_WINDOW_MAX 65535u
/* While a connection's offered window is below a quarter of its send buffer, the socket is
 * looked at this often, and the guest told as soon as it has room again (the kernel wakes no
 * one when a socket it never refused drains). */
#define UNET_TCP_WND_POLL_NS 1000000LL
/* Pieces of a guest segment's payload written at once. */
#define UNET_TCP_IOV_MAX 64

enum unet_tcp_state {
	UNET_TCP_CONNECTING,	/* the guest's SYN: connect() to the host in progress */
	UNET_TCP_SYN_TO_GUEST,	/* a forwarded connection: our SYN sent to the guest */
	UNET_TCP_ESTABLISHED,	/* both sides open (either may have sent its FIN) */
};

/**
 * struct unet_tcp - one mirrored connection
 * @f:		the flow (key, socket, links)
 * @state:	enum unet_tcp_state
 * @guest_fin:	the guest sent its FIN (the socket is shut down for writing)
 * @host_eof:	the socket said end of file
 * @fin_sent:	our FIN went to the guest (it is the sequence number before @snd_nxt)
 * @fin_acked:	the guest acknowledged it
 * @peek_off:	SO_PEEK_OFF works on the socket
 * @stalled:	the socket took less than a segment: tell the guest when it drains
 * @wnd_listed:	on the engine's list of connections whose window is watched
 * @trunc_copies: the socket does not discard with MSG_TRUNC (a unix stream)
 * @rdhup:	the peer shut its side down (EPOLLRDHUP), so no more data comes
 * @guest_ws:	the guest's window scale
 * @our_ws:	ours
 * @dup_acks:	duplicate acknowledgements seen in a row
 * @retries:	retransmissions without progress
 * @mss:	payload per segment to the guest
 * @isn:	our initial sequence number
 * @snd_una:	oldest of our bytes the guest has not acknowledged
 * @snd_nxt:	next of our bytes to send
 * @rcv_nxt:	next of the guest's bytes we expect
 * @guest_wnd:	the guest's window, bytes
 * @wnd_adv:	the window last offered to the guest, bytes
 * @wnd_next:	next on the engine's watched list
 * @sndbuf:	the socket's send buffer, as last read
 * @rto_ns:	current retransmission timeout
 * @deadline:	when to retransmit (0: nothing in flight) or give up a handshake
 * @last_ns:	last time the guest or the socket did anything
 */
struct unet_tcp {
	struct unet_flow f;
	uint8_t state;
	bool guest_fin;
	bool host_eof;
	bool fin_sent;
	bool fin_acked;
	bool peek_off;
	bool stalled;
	bool wnd_listed;
	bool trunc_copies;
	bool rdhup;
	uint8_t guest_ws;
	uint8_t our_ws;
	uint8_t dup_acks;
	uint8_t retries;
	uint16_t mss;
	uint32_t isn;
	uint32_t snd_una;
	uint32_t snd_nxt;
	uint32_t rcv_nxt;
	uint32_t guest_wnd;
	uint32_t wnd_adv;
	struct unet_tcp *wnd_next;
	uint32_t sndbuf;
	int64_t rto_ns;
	int64_t deadline;
	int64_t last_ns;
};

static struct unet_tcp *unet_tcp_of(struct unet_flow *f)
{
	return (struct unet_tcp *)f;
}

static uint32_t unet_tcp_new_isn(struct usernet *u)
{
	uint64_t x = (uint64_t)loop_now_ns() ^ ((uint64_t)u->nflows << 40) ^ (uintptr_t)u;

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32);
}

/*
 * The socket's room for more of the guest's data: the window we offer. The kernel counts a
 * send buffer in memory, overhead included (SO_MEMINFO's queued bytes against the buffer,
 * which grows with the connection): a quarter is kept back for that overhead, so that the
 * socket takes whatever the guest sends inside the window.
 */
static uint32_t unet_tcp_free_space(struct unet_tcp *t)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t sl = sizeof(mi);
	uint32_t room;

	if (getsockopt(t->f.fd, SOL_SOCKET, SO_MEMINFO, mi, &sl) < 0 ||
	    sl < (SK_MEMINFO_WMEM_QUEUED + 1) * sizeof(uint32_t))
		return 0;
	t->sndbuf = mi[SK_MEMINFO_SNDBUF];
	room = mi[SK_MEMINFO_SNDBUF] > mi[SK_MEMINFO_WMEM_QUEUED] ?
	       mi[SK_MEMINFO_SNDBUF] - mi[SK_MEMINFO_WMEM_QUEUED] : 0;
	return room - room / 4;
}

static void unet_tcp_wnd_watch(struct usernet *u, struct unet_tcp *t)
{
	if (t->wnd_listed)
		return;
	t->wnd_listed = true;
	t->wnd_next = u->tcp_wnd_list;
	u->tcp_wnd_list = t;
	if (!loop_timer_pending(u->tcp_wnd_timer))
		loop_timer_mod(u->tcp_wnd_timer, loop_now_ns() + UNET_TCP_WND_POLL_NS);
}

static void unet_tcp_wnd_unwatch(struct usernet *u, struct unet_tcp *t)
{
	struct unet_tcp **pp = (struct unet_tcp **)&u->tcp_wnd_list;

	if (!t->wnd_listed)
		return;
	while (*pp && *pp != t)
		pp = &(*pp)->wnd_next;
	if (*pp)
		*pp = t->wnd_next;
	t->wnd_listed = false;
}

static uint16_t unet_tcp_window_field(struct usernet *u, struct unet_tcp *t, bool syn)
{
	uint32_t wnd = t->guest_fin ? 0 : unet_tcp_free_space(t);

	t->wnd_adv = wnd;
	if (!t->guest_fin && wnd < t->sndbuf / 4 && t->f.fd >= 0 && !t->f.dead)
		unet_tcp_wnd_watch(u, t);

	if (!syn)
		wnd >>= t->our_ws;
	return (uint16_t)(wnd > UNET_TCP_WINDOW_MAX ? UNET_TCP_WINDOW_MAX : wnd);
}

static void unet_tcp_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void unet_tcp_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The guest's MSS option (0: none, RFC 9293's default), never more than the link carries
 * (t->mss starts at the MTU's). */
static void unet_tcp_guest_mss(struct unet_tcp *t, uint16_t guest_mss)
{
	uint16_t mss = guest_mss ? guest_mss : UNET_TCP_MSS_DEFAULT;

	if (mss < t->mss)
		t->mss = mss;
}

/* A TCP header from the remote end to the guest; returns its length. */
static size_t unet_tcp_put_hdr(uint8_t *p, struct unet_tcp *t, uint32_t seq, uint8_t flags,
			       uint16_t window, bool syn_opts)
{
	size_t len = UNET_TCP_HLEN + (syn_opts ? UNET_TCP_SYN_OPTS_LEN : 0);

	unet_tcp_put16(p, t->f.rport);
	unet_tcp_put16(p + 2, t->f.gport);
	unet_tcp_put32(p + 4, seq);
	unet_tcp_put32(p + 8, (flags & UNET_TCP_ACK) ? t->rcv_nxt : 0);
	p[12] = (uint8_t)((len / 4) << 4);
	p[13] = flags;
	unet_tcp_put16(p + 14, window);
	memset(p + 16, 0, 4);
	if (syn_opts) {
		p[20] = UNET_TCPOPT_MSS;
		p[21] = UNET_TCPOPT_MSS_LEN;
		unet_tcp_put16(p + 22, (uint16_t)(t->mss));
		p[24] = UNET_TCPOPT_NOP;
		p[25] = UNET_TCPOPT_WS;
		p[26] = UNET_TCPOPT_WS_LEN;
		p[27] = t->our_ws;
	}
	return len;
}

/* A segment without payload (SYN, ACK, FIN, RST), checksummed here. */
static void unet_tcp_send_flags(struct usernet *u, struct unet_tcp *t, uint32_t seq,
				uint8_t flags)
{
	bool syn = flags & UNET_TCP_SYN;
	uint8_t *frame = u->scratch;
	size_t l3 = UNET_ETH_HLEN + (unet_is_v4(&t->f.gaddr) ? UNET_IPV4_HLEN : UNET_IPV6_HLEN);
	size_t tcp_len;
	uint16_t csum;

	tcp_len = unet_tcp_put_hdr(frame + l3, t, seq, flags,
				   (flags & UNET_TCP_RST) ? 0 : unet_tcp_window_field(u, t, syn),
				   syn && !(flags & UNET_TCP_RST));
	if (syn && !t->our_ws && (flags & UNET_TCP_ACK)) {
		/* The guest offered no window scale: the SYN-ACK carries the MSS alone. */
		frame[l3 + 12] = (uint8_t)(((UNET_TCP_HLEN + UNET_TCPOPT_MSS_LEN) / 4) << 4);
		tcp_len = UNET_TCP_HLEN + UNET_TCPOPT_MSS_LEN;
	}
	unet_put_l3(u, frame, &t->f.raddr, &t->f.gaddr, IPPROTO_TCP, tcp_len);
	csum = offload_csum_fold(offload_csum_add(unet_pseudo_sum(&t->f.raddr, &t->f.gaddr,
								  IPPROTO_TCP, tcp_len),
						  frame + l3, tcp_len));
	memcpy(frame + l3 + UNET_TCP_OFF_CSUM, &csum, sizeof(csum));
	unet_send_plain(u, frame, l3 + tcp_len);
}

static void unet_tcp_send_ack(struct usernet *u, struct unet_tcp *t)
{
	unet_tcp_send_flags(u, t, t->snd_nxt, UNET_TCP_ACK);
}

/* A reset for a segment that belongs to no connection (RFC 9293, 3.10.7.1). */
static void unet_tcp_send_stray_rst(struct usernet *u, const struct unet_frame *f)
{
	struct unet_tcp t = {
		.f = { .gaddr = f->saddr6, .gport = f->sport, .raddr = f->daddr6, .rport = f->dport,
		       .fd = -1 },
	};
	uint32_t seg_len = (uint32_t)f->payload_len + !!(f->tcp_flags & UNET_TCP_SYN) +
			   !!(f->tcp_flags & UNET_TCP_FIN);

	if (f->tcp_flags & UNET_TCP_ACK) {
		unet_tcp_send_flags(u, &t, f->ack, UNET_TCP_RST);
	} else {
		t.rcv_nxt = f->seq + seg_len;
		unet_tcp_send_flags(u, &t, 0, UNET_TCP_RST | UNET_TCP_ACK);
	}
}

/* Close the socket (a reset to the host peer with @rst_host) and free the connection. */
static void unet_tcp_close(struct usernet *u, struct unet_tcp *t, bool rst_host)
{
	unet_tcp_wnd_unwatch(u, t);
	if (t->f.fd >= 0 && rst_host) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(t->f.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	unet_flow_remove(u, &t->f);
}

/* Reset both sides. */
static void unet_tcp_reset(struct usernet *u, struct unet_tcp *t)
{
	u->counters[UNET_C_TCP_RESETS]++;
	if (t->state != UNET_TCP_CONNECTING || t->rcv_nxt)
		unet_tcp_send_flags(u, t, t->snd_nxt, UNET_TCP_RST | UNET_TCP_ACK);
	unet_tcp_close(u, t, true);
}

static bool unet_tcp_done(struct usernet *u, struct unet_tcp *t)
{
	if (t->guest_fin && t->fin_acked) {
		unet_tcp_close(u, t, false);
		return true;
	}
	return false;
}

static void unet_tcp_set_peek_off(struct unet_tcp *t)
{
	int off = (int)(t->snd_nxt - t->snd_una - (t->fin_sent ? 1 : 0));

	if (t->peek_off &&
	    setsockopt(t->f.fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0)
		t->peek_off = false;
}

static void unet_tcp_send_fin(struct usernet *u, struct unet_tcp *t)
{
	if (t->fin_sent)
		return;
	unet_tcp_send_flags(u, t, t->snd_nxt, UNET_TCP_FIN | UNET_TCP_ACK);
	t->snd_nxt++;
	t->fin_sent = true;
	if (!t->deadline)
		t->deadline = loop_now_ns() + t->rto_ns;
}

/* The vnet, Ethernet, IP and TCP headers of a data frame of @len bytes from snd_nxt. */
static size_t unet_tcp_data_hdr(struct usernet *u, struct unet_tcp *t, uint8_t *hdr, size_t len,
				uint16_t window, bool psh)
{
	bool v4 = unet_is_v4(&t->f.gaddr), gso = len > t->mss;
	size_t l3 = UNET_ETH_HLEN + (v4 ? UNET_IPV4_HLEN : UNET_IPV6_HLEN);
	size_t l4 = NET_VNET_HDR_LEN + l3;
	uint16_t pseudo;

	unet_vnet_hdr_put(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM,
			  !gso ? VIRTIO_NET_HDR_GSO_NONE :
			  v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
			  (uint16_t)(l3 + UNET_TCP_HLEN), gso ? t->mss : 0, (uint16_t)l3,
			  UNET_TCP_OFF_CSUM);
	unet_tcp_put_hdr(hdr + l4, t, t->snd_nxt, UNET_TCP_ACK | (psh ? UNET_TCP_PSH : 0), window,
			 false);
	unet_put_l3(u, hdr + NET_VNET_HDR_LEN, &t->f.raddr, &t->f.gaddr, IPPROTO_TCP,
		    UNET_TCP_HLEN + len);
	/* NEEDS_CSUM: the field holds the pseudo-header's sum, not complemented. */
	pseudo = (uint16_t)~offload_csum_fold(unet_pseudo_sum(&t->f.raddr, &t->f.gaddr,
							      IPPROTO_TCP, UNET_TCP_HLEN + len));
	memcpy(hdr + l4 + UNET_TCP_OFF_CSUM, &pseudo, sizeof(pseudo));
	return l4 + UNET_TCP_HLEN;
}

/* The most payload one frame to the guest carries: whole segments in a GSO frame, or one. */
static size_t unet_tcp_frame_max(struct usernet *u, const struct unet_tcp *t)
{
	if (u->gso && !u->gso(u->opaque))
		return t->mss;
	return (UNET_GSO_PAYLOAD_MAX / t->mss) * t->mss;
}

/*
 * Frames of @n bytes read at @data go to the guest from snd_nxt on, in GSO frames of whole
 * segments (or a segment per frame); returns the bytes sent (fewer when the guest's side
 * filled up).
 */
static size_t unet_tcp_emit(struct usernet *u, struct unet_tcp *t, uint8_t *data, size_t n)
{
	size_t seg_max = unet_tcp_frame_max(u, t), off = 0;
	uint8_t hdr[NET_VNET_HDR_LEN + UNET_L3_HLEN_MAX + UNET_TCP_HLEN];
	uint16_t window = unet_tcp_window_field(u, t, false);

	while (off < n) {
		size_t len = n - off < seg_max ? n - off : seg_max;
		struct iovec iov[2] = {
			{ .iov_base = hdr },
			{ .iov_base = data + off, .iov_len = len },
		};
		ssize_t ret;

		iov[0].iov_len = unet_tcp_data_hdr(u, t, hdr, len, window, off + len == n);
		ret = unet_output(u, iov, 2);
		t->snd_nxt += (uint32_t)len;
		off += len;
		if (ret == 0)
			break; /* queued: the guest's side is full */
	}
	return off;
}

/*
 * One frame read with MSG_PEEK straight into receive buffers the guest's side lends, its
 * headers written in front of the data. Return: the bytes sent; 0 when the socket has
 * nothing new; -EAGAIN when nothing was lent (read into the payload buffer instead);
 * -EPIPE at end of file; another negative errno when the socket failed.
 */
static ssize_t unet_tcp_lend_frame(struct usernet *u, struct unet_tcp *t, size_t want)
{
	size_t seg_max = unet_tcp_frame_max(u, t);
	size_t hlen = NET_VNET_HDR_LEN + UNET_ETH_HLEN + UNET_TCP_HLEN +
		      (unet_is_v4(&t->f.gaddr) ? UNET_IPV4_HLEN : UNET_IPV6_HLEN);
	struct iovec iov[UNET_TCP_IOV_MAX], piece[UNET_TCP_IOV_MAX];
	struct msghdr mh = { .msg_iov = piece };
	int n, cnt;
	ssize_t got;

	if (want > seg_max)
		want = seg_max;
	n = u->lend(u->opaque, iov, UNET_TCP_IOV_MAX, hlen + want);
	if (n <= 0)
		return -EAGAIN;
	cnt = unet_iov_slice(iov, n, hlen, want, piece, UNET_TCP_IOV_MAX);
	if (iov[0].iov_len < hlen || cnt <= 0) {
		u->commit(u->opaque, 0);
		return -EAGAIN;
	}
	mh.msg_iovlen = (size_t)cnt;
	got = recvmsg(t->f.fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	if (got <= 0) {
		int err = got < 0 ? errno : EPIPE;

		u->commit(u->opaque, 0);
		return err == EAGAIN || err == EINTR ? 0 : -err;
	}
	unet_tcp_data_hdr(u, t, iov[0].iov_base, (size_t)got, unet_tcp_window_field(u, t, false),
			  true);
	u->commit(u->opaque, hlen + (size_t)got);
	u->counters[UNET_C_TCP_LENT]++;
	t->snd_nxt += (uint32_t)got;
	return got;
}

/* Read what the guest's window allows from the socket and send it; FIN at end of file. */
static void unet_tcp_to_guest(struct usernet *u, struct unet_tcp *t)
{
	while (t->state == UNET_TCP_ESTABLISHED && !t->fin_sent && !u->blocked &&
	       u->guest_mac_known) {
		uint32_t in_flight = t->snd_nxt - t->snd_una;
		size_t want, skip = 0, sent;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (in_flight >= t->guest_wnd)
			return; /* the guest's ACK calls again */
		want = t->guest_wnd - in_flight;
		if (u->lend && t->peek_off) {
			n = unet_tcp_lend_frame(u, t, want);
			if (n > 0) {
				t->last_ns = loop_now_ns();
				if (!t->deadline)
					t->deadline = t->last_ns + t->rto_ns;
				continue;
			}
			if (n == 0)
				return;
			if (n == -EPIPE) {
				t->host_eof = true;
				unet_tcp_send_fin(u, t);
				return;
			}
			if (n != -EAGAIN) {
				unet_tcp_reset(u, t);
				return;
			}
		}
		if (!t->peek_off) {
			/* Without SO_PEEK_OFF, what was sent is read again and skipped. */
			if (in_flight >= u->payload_size)
				return;
			skip = in_flight;
		}
		if (want > u->payload_size - skip)
			want = u->payload_size - skip;
		iov.iov_base = u->payload;
		iov.iov_len = skip + want;
		n = recvmsg(t->f.fd, &mh, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				unet_tcp_reset(u, t);
			return;
		}
		if ((size_t)n <= skip) {
			/* Nothing new. With SO_PEEK_OFF, 0 is the end of file; without it the
			 * socket holds only what was sent, and EPOLLRDHUP said whether more comes. */
			if (n == 0 || t->rdhup) {
				t->host_eof = true;
				unet_tcp_send_fin(u, t);
			}
			return;
		}
		t->last_ns = loop_now_ns();
		sent = unet_tcp_emit(u, t, u->payload + skip, (size_t)n - skip);
		if (!t->deadline)
			t->deadline = t->last_ns + t->rto_ns;
		if (sent < (size_t)n - skip) {
			unet_tcp_set_peek_off(t); /* the peek went further than what was sent */
			return;
		}
		/* Drained. A FIN that came with the data gives no edge of its own: after
		 * EPOLLRDHUP, look once more (0: the end of file). */
		if ((size_t)n < skip + want && !t->rdhup)
			return; /* the next EPOLLIN edge calls again */
	}
}

/* Send everything again from the oldest unacknowledged byte (go-back-N). */
static void unet_tcp_rewind(struct usernet *u, struct unet_tcp *t)
{
	u->counters[UNET_C_TCP_RETRANSMITS]++;
	t->snd_nxt = t->snd_una;
	if (t->fin_sent && !t->fin_acked)
		t->fin_sent = false;
	t->dup_acks = 0;
	unet_tcp_set_peek_off(t);
	t->deadline = 0;
	unet_tcp_to_guest(u, t);
	if (!t->deadline && t->snd_nxt != t->snd_una)
		t->deadline = loop_now_ns() + t->rto_ns;
}

/*
 * Drop @len bytes the guest has acknowledged from the socket. TCP discards them without a
 * copy (MSG_TRUNC); a unix stream (guestfwd=...-unix:) does not, and reads them into the
 * payload buffer instead.
 */
static int unet_tcp_discard(struct usernet *u, struct unet_tcp *t, uint32_t len)
{
	while (len) {
		size_t n = len < u->payload_size ? len : u->payload_size;
		ssize_t got = t->trunc_copies ? recv(t->f.fd, u->payload, n, MSG_DONTWAIT) :
				recv(t->f.fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT);

		if (got < 0 && errno == EFAULT && !t->trunc_copies) {
			t->trunc_copies = true;
			continue;
		}
		if (got <= 0)
			return got < 0 && errno == EAGAIN ? 0 : -EIO;
		len -= (uint32_t)got;
	}
	return 0;
}

/* The guest acknowledged up to @ack: drop that much from the socket. */
static void unet_tcp_acked(struct usernet *u, struct unet_tcp *t, uint32_t ack)
{
	uint32_t acked = ack - t->snd_una, data = acked;

	if (acked == 0 || acked > t->snd_nxt - t->snd_una)
		return;
	if (t->fin_sent && ack == t->snd_nxt) {
		t->fin_acked = true;
		data--;
	}
	if (data && unet_tcp_discard(u, t, data) < 0) {
		unet_tcp_reset(u, t);
		return;
	}
	t->snd_una = ack;
	t->dup_acks = 0;
	t->retries = 0;
	t->rto_ns = UNET_TCP_RTO_NS;
	t->deadline = t->snd_una == t->snd_nxt ? 0 : loop_now_ns() + t->rto_ns;
}

/* The guest's payload at @seq, @len bytes, to the socket; returns false if @t was freed. */
static bool unet_tcp_from_guest(struct usernet *u, struct unet_tcp *t, const struct unet_frame *f,
				const struct iovec *iov, int iovcnt, size_t frame_off)
{
	uint32_t have = t->rcv_nxt - f->seq;
	struct iovec piece[UNET_TCP_IOV_MAX];
	struct msghdr mh = { .msg_iov = piece };
	size_t len = f->payload_len;
	ssize_t n;
	int cnt;

	if ((int32_t)have < 0 || t->guest_fin) {
		/* A gap (a segment lost before it): ask for it again. */
		unet_tcp_send_ack(u, t);
		return true;
	}
	if (have >= len)
		return true; /* all of it came before */
	cnt = unet_iov_slice(iov, iovcnt, frame_off + f->payload_off + have, len - have, piece,
			     UNET_TCP_IOV_MAX);
	if (cnt < 0) {
		u->counters[UNET_C_BAD_SEGMENT]++;
		return true;
	}
	mh.msg_iovlen = (size_t)cnt;
	n = sendmsg(t->f.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			unet_tcp_reset(u, t);
			return false;
		}
		n = 0;
	}
	t->rcv_nxt += (uint32_t)n;
	if ((size_t)n < len - have)
		t->stalled = true;
	return true;
}

static void unet_tcp_established_input(struct usernet *u, struct unet_tcp *t,
				       const struct unet_frame *f, const struct iovec *iov,
				       int iovcnt, size_t frame_off)
{
	bool need_ack = false;

	if (f->tcp_flags & UNET_TCP_SYN) {
		/* Our SYN-ACK was lost and the guest asks again. */
		if (!(f->tcp_flags & UNET_TCP_ACK) && f->seq + 1 == t->rcv_nxt)
			unet_tcp_send_flags(u, t, t->isn, UNET_TCP_SYN | UNET_TCP_ACK);
		return;
	}
	if (f->tcp_flags & UNET_TCP_ACK) {
		uint32_t wnd = (uint32_t)f->window << t->guest_ws;

		if (f->ack == t->snd_una && !f->payload_len && !(f->tcp_flags & UNET_TCP_FIN) &&
		    t->snd_nxt != t->snd_una && wnd == t->guest_wnd) {
			if (++t->dup_acks == UNET_TCP_DUP_ACKS) {
				unet_tcp_rewind(u, t);
				if (t->f.dead)
					return;
			}
		} else {
			unet_tcp_acked(u, t, f->ack);
			if (t->f.dead)
				return;
		}
		t->guest_wnd = wnd;
	}
	if (f->payload_len) {
		if (!unet_tcp_from_guest(u, t, f, iov, iovcnt, frame_off))
			return;
		need_ack = true;
	} else if (f->seq != t->rcv_nxt && !(f->tcp_flags & UNET_TCP_FIN)) {
		/* An old sequence number: a window probe, or a lost ACK asked for again. */
		need_ack = true;
	}
	if ((f->tcp_flags & UNET_TCP_FIN) && !t->guest_fin &&
	    t->rcv_nxt == f->seq + (uint32_t)f->payload_len) {
		t->guest_fin = true;
		t->rcv_nxt++;
		shutdown(t->f.fd, SHUT_WR);
		need_ack = true;
	}
	t->last_ns = loop_now_ns();
	if (need_ack)
		unet_tcp_send_ack(u, t);
	if (unet_tcp_done(u, t))
		return;
	unet_tcp_to_guest(u, t);
}

/* The guest answered our SYN for a forwarded connection. */
static void unet_tcp_guest_synack(struct usernet *u, struct unet_tcp *t,
				  const struct unet_frame *f)
{
	if ((f->tcp_flags & (UNET_TCP_SYN | UNET_TCP_ACK)) != (UNET_TCP_SYN | UNET_TCP_ACK) ||
	    f->ack != t->isn + 1)
		return;
	t->rcv_nxt = f->seq + 1;
	t->snd_una = t->snd_nxt = t->isn + 1;
	if (f->has_wscale) {
		t->guest_ws = f->wscale;
	} else {
		t->guest_ws = 0;
		t->our_ws = 0;
	}
	t->guest_wnd = f->window; /* a SYN's window is never scaled */
	unet_tcp_guest_mss(t, f->mss);
	t->state = UNET_TCP_ESTABLISHED;
	t->deadline = 0;
	t->retries = 0;
	t->last_ns = loop_now_ns();
	unet_tcp_send_ack(u, t);
	unet_tcp_to_guest(u, t);
}

static struct unet_tcp *unet_tcp_alloc(struct usernet *u, const struct in6_addr *gaddr,
				       uint16_t gport, const struct in6_addr *raddr, uint16_t rport,
				       int fd)
{
	struct unet_tcp *t = calloc(1, sizeof(*t));
	int zero = 0;

	if (!t)
		return NULL;
	unet_flow_init(&t->f, UNET_K_TCP, IPPROTO_TCP, fd, gaddr, gport, raddr, rport);
	t->mss = (uint16_t)(u->cfg.mtu - UNET_TCP_HLEN -
			    (unet_is_v4(gaddr) ? UNET_IPV4_HLEN : UNET_IPV6_HLEN));
	t->isn = unet_tcp_new_isn(u);
	t->snd_una = t->snd_nxt = t->isn;
	t->rto_ns = UNET_TCP_RTO_NS;
	t->last_ns = loop_now_ns();
	t->peek_off = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0;
	if (unet_flow_add(u, &t->f) < 0) {
		free(t);
		return NULL;
	}
	if (unet_watch(u, fd, t, EPOLLIN | EPOLLOUT | EPOLLRDHUP) < 0) {
		t->f.fd = -1; /* the caller closes it */
		unet_flow_remove(u, &t->f);
		return NULL;
	}
	return t;
}

/* The guest's SYN: connect to where it leads. */
static void unet_tcp_connect(struct usernet *u, const struct unet_frame *f)
{
	struct sockaddr_storage to;
	socklen_t to_len;
	struct unet_tcp *t;
	int fd;

	if ((f->tcp_flags & (UNET_TCP_SYN | UNET_TCP_ACK | UNET_TCP_RST)) != UNET_TCP_SYN) {
		if (!(f->tcp_flags & UNET_TCP_RST))
			unet_tcp_send_stray_rst(u, f);
		return;
	}
	if (unet_map_remote(u, &f->daddr6, f->dport, IPPROTO_TCP, &to, &to_len) < 0) {
		unet_tcp_send_stray_rst(u, f);
		return;
	}
	fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		unet_tcp_send_stray_rst(u, f);
		return;
	}
	t = unet_tcp_alloc(u, &f->saddr6, f->sport, &f->daddr6, f->dport, fd);
	if (!t) {
		close(fd);
		unet_tcp_send_stray_rst(u, f);
		return;
	}
	t->rcv_nxt = f->seq + 1;
	t->guest_wnd = f->window;
	t->guest_ws = f->has_wscale ? f->wscale : 0;
	t->our_ws = f->has_wscale ? UNET_TCP_WS : 0;
	unet_tcp_guest_mss(t, f->mss);
	t->state = UNET_TCP_CONNECTING;
	t->deadline = loop_now_ns() + UNET_TCP_CONNECT_TIMEOUT_NS;
	u->counters[UNET_C_TCP_OPENED]++;
	if (connect(fd, (struct sockaddr *)&to, to_len) < 0 && errno != EINPROGRESS) {
		u->counters[UNET_C_TCP_REFUSED]++;
		unet_tcp_send_flags(u, t, 0, UNET_TCP_RST | UNET_TCP_ACK);
		unet_tcp_close(u, t, false);
	}
	/* Connected or not, EPOLLOUT tells: the SYN-ACK waits for it. */
}

/* connect() finished: answer the guest's SYN. */
static void unet_tcp_connected(struct usernet *u, struct unet_tcp *t)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(t->f.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err && err != ECONNRESET && err != EPIPE) {
		u->counters[UNET_C_TCP_REFUSED]++;
		unet_tcp_send_flags(u, t, 0, UNET_TCP_RST | UNET_TCP_ACK);
		unet_tcp_close(u, t, false);
		return;
	}
	unet_tcp_send_flags(u, t, t->isn, UNET_TCP_SYN | UNET_TCP_ACK);
	t->snd_una = t->snd_nxt = t->isn + 1;
	t->state = UNET_TCP_ESTABLISHED;
	if (err) {
		/* connect() succeeded and the host reset at once: the guest sees that too. */
		unet_tcp_reset(u, t);
		return;
	}
	t->deadline = 0;
	t->last_ns = loop_now_ns();
}

void unet_tcp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		    int iovcnt, size_t frame_off)
{
	struct unet_flow *fl = unet_flow_find(u, IPPROTO_TCP, &f->saddr6, f->sport, &f->daddr6,
					      f->dport);
	struct unet_tcp *t;

	if (!fl) {
		unet_tcp_connect(u, f);
		return;
	}
	t = unet_tcp_of(fl);
	if (f->tcp_flags & UNET_TCP_RST) {
		/* Only a reset inside the window we offered counts (RFC 5961's blind resets). */
		bool in_window = t->state == UNET_TCP_SYN_TO_GUEST ?
				 f->ack == t->isn + 1 || !(f->tcp_flags & UNET_TCP_ACK) :
				 f->seq - t->rcv_nxt <= t->wnd_adv + 1;

		if (in_window)
			unet_tcp_close(u, t, true);
		return;
	}
	switch (t->state) {
	case UNET_TCP_CONNECTING:
		break; /* the guest repeats its SYN: the answer comes with connect()'s */
	case UNET_TCP_SYN_TO_GUEST:
		unet_tcp_guest_synack(u, t, f);
		break;
	default:
		unet_tcp_established_input(u, t, f, iov, iovcnt, frame_off);
		break;
	}
}

void unet_tcp_event(struct usernet *u, struct unet_flow *f, uint32_t events)
{
	struct unet_tcp *t = unet_tcp_of(f);

	if (t->state == UNET_TCP_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		unet_tcp_connected(u, t);
		if (t->f.dead)
			return;
	}
	if (t->state != UNET_TCP_ESTABLISHED)
		return;
	if (events & EPOLLERR) {
		unet_tcp_reset(u, t);
		return;
	}
	if ((events & EPOLLOUT) && t->stalled) {
		/* Room again: a window update, and duplicates that make the guest resend what the
		 * socket could not take. */
		t->stalled = false;
		for (int i = 0; i <= UNET_TCP_DUP_ACKS; i++)
			unet_tcp_send_ack(u, t);
	}
	if (events & (EPOLLRDHUP | EPOLLHUP))
		t->rdhup = true;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		unet_tcp_to_guest(u, t);
	if (!t->f.dead)
		unet_tcp_done(u, t);
}

/**
 * unet_tcp_wnd_poll() - the window timer: tell the guest of room in the sockets it filled
 * @opaque: the engine
 */
void unet_tcp_wnd_poll(void *opaque)
{
	struct usernet *u = opaque;
	struct unet_tcp *t = u->tcp_wnd_list, *next;

	for (; t; t = next) {
		uint32_t space;

		next = t->wnd_next;
		space = unet_tcp_free_space(t);
		if (t->f.dead || t->guest_fin) {
			unet_tcp_wnd_unwatch(u, t);
			continue;
		}
		if (space < t->sndbuf / 4 || space <= t->wnd_adv)
			continue;
		unet_tcp_wnd_unwatch(u, t);
		unet_tcp_send_ack(u, t);
		if (t->stalled) {
			/* Duplicates make the guest send again what the socket refused. */
			t->stalled = false;
			for (int i = 0; i < UNET_TCP_DUP_ACKS; i++)
				unet_tcp_send_ack(u, t);
		}
	}
	if (u->tcp_wnd_list)
		loop_timer_mod(u->tcp_wnd_timer, loop_now_ns() + UNET_TCP_WND_POLL_NS);
}

void unet_tcp_accept(struct unet_hostfwd *fwd)
{
	struct usernet *u = fwd->u;
	struct in6_addr gaddr = unet_mapped(fwd->guest.sin_addr);
	uint16_t gport = ntohs(fwd->guest.sin_port);

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		struct unet_tcp *t;
		int fd = accept4(fwd->fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct in6_addr raddr;
		uint16_t rport;

		if (fd < 0)
			return;
		raddr = unet_present_peer(u, &peer, &rport);
		if (unet_flow_find(u, IPPROTO_TCP, &gaddr, gport, &raddr, rport)) {
			close(fd);
			continue;
		}
		t = unet_tcp_alloc(u, &gaddr, gport, &raddr, rport, fd);
		if (!t) {
			close(fd);
			continue;
		}
		u->counters[UNET_C_TCP_OPENED]++;
		t->state = UNET_TCP_SYN_TO_GUEST;
		t->our_ws = UNET_TCP_WS;
		t->snd_nxt = t->isn + 1;
		t->deadline = loop_now_ns() + UNET_TCP_SYN_RTO_NS;
		unet_need_guest_mac(u, &t->f.gaddr);
		if (u->guest_mac_known)
			unet_tcp_send_flags(u, t, t->isn, UNET_TCP_SYN);
	}
}

void unet_tcp_tick(struct usernet *u, struct unet_flow *f, int64_t now)
{
	struct unet_tcp *t = unet_tcp_of(f);

	switch (t->state) {
	case UNET_TCP_CONNECTING:
		if (now >= t->deadline) {
			unet_tcp_send_flags(u, t, 0, UNET_TCP_RST | UNET_TCP_ACK);
			unet_tcp_close(u, t, false);
		}
		return;
	case UNET_TCP_SYN_TO_GUEST:
		if (now < t->deadline)
			return;
		if (++t->retries > UNET_TCP_SYN_RETRIES) {
			unet_tcp_close(u, t, true);
			return;
		}
		t->deadline = now + UNET_TCP_SYN_RTO_NS;
		unet_need_guest_mac(u, &t->f.gaddr);
		if (u->guest_mac_known)
			unet_tcp_send_flags(u, t, t->isn, UNET_TCP_SYN);
		return;
	default:
		break;
	}
	if ((t->guest_fin || t->fin_sent) && now - t->last_ns > UNET_TCP_CLOSING_TIMEOUT_NS) {
		unet_tcp_reset(u, t);
		return;
	}
	if (t->deadline && now >= t->deadline) {
		if (++t->retries > UNET_TCP_RETRIES) {
			unet_tcp_reset(u, t);
			return;
		}
		t->rto_ns = t->rto_ns * 2 > UNET_TCP_RTO_MAX_NS ? UNET_TCP_RTO_MAX_NS : t->rto_ns * 2;
		unet_tcp_rewind(u, t);
	}
}

void unet_tcp_resume(struct usernet *u, struct unet_flow *f)
{
	unet_tcp_to_guest(u, unet_tcp_of(f));
}

void unet_tcp_free(struct usernet *u, struct unet_flow *f)
{
	unet_tcp_close(u, unet_tcp_of(f), true);
}

const char *unet_tcp_state(const struct unet_flow *f)
{
	const struct unet_tcp *t = (const struct unet_tcp *)f;

	switch (t->state) {
	case UNET_TCP_CONNECTING:
		return "TCP[SYN_SENT]";
	case UNET_TCP_SYN_TO_GUEST:
		return "TCP[SYN_RECEIVED]";
	default:
		if (t->guest_fin && t->fin_sent)
			return "TCP[LAST_ACK]";
		if (t->guest_fin)
			return "TCP[CLOSE_WAIT]";
		if (t->fin_sent)
			return "TCP[FIN_WAIT_1]";
		return "TCP[ESTABLISHED]";
	}
}
