// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_usernet.c - the native user-mode engine through its public API: guest frames built here
 * go in with usernet_input(); every frame to the guest is recorded by the output callback and
 * checked at once (checksums recomputed here, NEEDS_CSUM ones finished as a receiver would).
 * The engine's host sockets meet real ones made here on 127.0.0.1 (10.0.2.2 to the guest).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wire.h"

#include "usernet/usernet.h"
#include "vwire/loop.h"

#define VNET_HLEN 12
#define ETH_HLEN 14
#define IP_HLEN 20
#define TCP_HLEN 20
#define UDP_HLEN 8
#define ICMP_HLEN 8
#define L4_OFF (ETH_HLEN + IP_HLEN)
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_BODY_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define IP_MF 0x2000
#define IP_OFFSET_MASK 0x1fff
#define IP_VERSION_IHL 0x45
#define GUEST_TTL 64
#define IP_ID 0x4242
#define ARP_HTYPE_ETHER 1

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_OFF_CSUM 16
#define UDP_OFF_CSUM 6
#define TCPOPT_END 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS 3

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define BOOTP_LEN 300
#define BOOTP_OFF_YIADDR 16
#define BOOTP_OFF_CHADDR 28
#define BOOTP_OFF_COOKIE 236
#define BOOTP_OFF_OPTS 240
#define DHCP_OPT_TYPE 53
#define DHCP_OPT_END 255
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2

/* What the guest offers in its SYNs: an MSS for a 1500-byte MTU and a window scale. */
#define GUEST_MSS 1460
#define GUEST_WS 7
#define GUEST_SYN_WINDOW 64240
/* 512 << 7: a 64 KiB window once scaled. */
#define GUEST_WINDOW 512
#define GUEST_ISN 1000000u

/* The engine's retransmission timeout and the loop's tick it runs on. */
#define RTO_MS 200
/* Longest wait for anything that should come at once. */
#define WAIT_MS 2000
#define MAX_FRAMES 4096

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define NET IP(10, 0, 2, 0)
#define HOST IP(10, 0, 2, 2)
#define DNS IP(10, 0, 2, 3)
#define GUEST IP(10, 0, 2, 15)

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t host_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t dhcp_cookie[4] = { 99, 130, 83, 99 };

/**
 * struct out_frame - a frame the engine sent to the guest, as decoded here
 * @buf:	vnet header then Ethernet frame (a NEEDS_CSUM checksum completed in place)
 * @len:	its length
 * @vh:		the vnet header
 * @eth:	the Ethernet frame
 * @eth_len:	its length
 * @ethertype:	host order
 * @saddr:	IPv4 source, host order
 * @daddr:	IPv4 destination, host order
 * @proto:	IP protocol
 * @l4:		transport header
 * @l4_len:	transport length (IPv4 total length less its header)
 * @sport:	TCP/UDP source port
 * @dport:	TCP/UDP destination port
 * @seq:	TCP sequence number
 * @ack:	TCP acknowledgement number
 * @tflags:	TCP flags
 * @window:	TCP window field
 * @thlen:	TCP header length
 * @payload:	TCP/UDP payload, ICMP body after its 8 bytes
 * @plen:	its length
 */
struct out_frame {
	uint8_t *buf;
	size_t len;
	struct virtio_net_hdr_v1 vh;
	const uint8_t *eth;
	size_t eth_len;
	uint16_t ethertype;
	uint32_t saddr;
	uint32_t daddr;
	uint8_t proto;
	const uint8_t *l4;
	size_t l4_len;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t tflags;
	uint16_t window;
	size_t thlen;
	const uint8_t *payload;
	size_t plen;
};

/**
 * struct conn - one guest TCP connection as the test's guest side sees it
 * @lfd:	the host listener it reaches (-1 for a hostfwd connection)
 * @afd:	the host end: accepted from @lfd, or the hostfwd client
 * @gport:	the guest's port
 * @rport:	the remote port (the listener's, or the client's for hostfwd)
 * @gseq:	the guest's next sequence number
 * @eisn:	the engine's initial sequence number
 * @erx:	next engine sequence number the guest expects
 */
struct conn {
	int lfd;
	int afd;
	uint16_t gport;
	uint16_t rport;
	uint32_t gseq;
	uint32_t eisn;
	uint32_t erx;
};

static struct loop *loop;
static struct usernet *unet;
static struct out_frame frames[MAX_FRAMES];
static size_t nframes;
/* The output callback says "queued, the guest's side is full" (0) for this frame index. */
static size_t block_at = SIZE_MAX;

/* Byte helpers (network order) */

static uint32_t ref_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, size_t len)
{
	return (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) + (daddr & 0xffff) + proto +
	       (uint32_t)len;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frames to the guest: recorded and checked */

/* Decode and check one frame to the guest; a NEEDS_CSUM checksum is completed in @o->buf. */
static void frame_check(struct out_frame *o)
{
	const uint8_t *ip;
	size_t tot;

	assert_true(o->len >= VNET_HLEN + ETH_HLEN);
	memcpy(&o->vh, o->buf, VNET_HLEN);
	o->eth = o->buf + VNET_HLEN;
	o->eth_len = o->len - VNET_HLEN;
	assert_memory_equal(o->eth + 6, host_mac, 6);
	assert_true(!memcmp(o->eth, guest_mac, 6) || !memcmp(o->eth, bcast_mac, 6));
	o->ethertype = get16(o->eth + 12);
	assert_true(o->vh.flags == 0 || o->vh.flags == VIRTIO_NET_HDR_F_DATA_VALID ||
		    o->vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
	if (o->ethertype == ETHERTYPE_ARP) {
		assert_int_equal(o->vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_true(o->eth_len >= ETH_HLEN + ARP_BODY_LEN);
		return;
	}
	assert_int_equal(o->ethertype, ETHERTYPE_IPV4);
	assert_true(o->eth_len >= L4_OFF);
	ip = o->eth + ETH_HLEN;
	assert_int_equal(ip[0], IP_VERSION_IHL);
	tot = get16(ip + 2);
	assert_true(tot >= IP_HLEN && tot <= o->eth_len - ETH_HLEN);
	assert_int_equal(tot, o->eth_len - ETH_HLEN); /* the engine never pads IPv4 */
	assert_int_equal(ref_fold(ref_sum(ip, IP_HLEN, 0)), 0);
	assert_int_equal(get16(ip + 6) & (IP_MF | IP_OFFSET_MASK), 0);
	o->saddr = get32(ip + 12);
	o->daddr = get32(ip + 16);
	o->proto = ip[9];
	o->l4 = ip + IP_HLEN;
	o->l4_len = tot - IP_HLEN;

	if (o->vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		uint8_t *field;

		/* The field holds the pseudo-header's sum: finish it as a receiver would. */
		assert_int_equal(o->vh.csum_start, L4_OFF);
		assert_true(o->proto == IPPROTO_TCP || o->proto == IPPROTO_UDP);
		assert_int_equal(o->vh.csum_offset,
				 o->proto == IPPROTO_TCP ? TCP_OFF_CSUM : UDP_OFF_CSUM);
		field = o->buf + VNET_HLEN + o->vh.csum_start + o->vh.csum_offset;
		put16(field, ref_fold(ref_sum(o->l4, o->l4_len, 0)));
	} else {
		assert_int_equal(o->vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	}
	if (o->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		assert_int_equal(o->vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
		assert_int_equal(o->proto, IPPROTO_TCP);
		assert_true(o->vh.gso_size > 0);
	}

	switch (o->proto) {
	case IPPROTO_TCP:
		assert_true(o->l4_len >= TCP_HLEN);
		assert_int_equal(ref_fold(ref_sum(o->l4, o->l4_len,
						  ref_pseudo(o->saddr, o->daddr, IPPROTO_TCP,
							     o->l4_len))), 0);
		o->sport = get16(o->l4);
		o->dport = get16(o->l4 + 2);
		o->seq = get32(o->l4 + 4);
		o->ack = get32(o->l4 + 8);
		o->thlen = (size_t)(o->l4[12] >> 4) * 4;
		o->tflags = o->l4[13];
		o->window = get16(o->l4 + 14);
		assert_true(o->thlen >= TCP_HLEN && o->thlen <= o->l4_len);
		o->payload = o->l4 + o->thlen;
		o->plen = o->l4_len - o->thlen;
		if (o->vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			assert_int_equal(o->vh.hdr_len, L4_OFF + o->thlen);
			assert_true(o->plen > o->vh.gso_size);
		}
		break;
	case IPPROTO_UDP:
		assert_true(o->l4_len >= UDP_HLEN);
		assert_int_equal(get16(o->l4 + 4), o->l4_len);
		assert_int_not_equal(get16(o->l4 + UDP_OFF_CSUM), 0);
		assert_int_equal(ref_fold(ref_sum(o->l4, o->l4_len,
						  ref_pseudo(o->saddr, o->daddr, IPPROTO_UDP,
							     o->l4_len))), 0);
		o->sport = get16(o->l4);
		o->dport = get16(o->l4 + 2);
		o->payload = o->l4 + UDP_HLEN;
		o->plen = o->l4_len - UDP_HLEN;
		break;
	case IPPROTO_ICMP:
		assert_true(o->l4_len >= ICMP_HLEN);
		assert_int_equal(ref_fold(ref_sum(o->l4, o->l4_len, 0)), 0);
		o->payload = o->l4 + ICMP_HLEN;
		o->plen = o->l4_len - ICMP_HLEN;
		break;
	default:
		fail_msg("IP protocol %u to the guest", o->proto);
	}
}

static ssize_t record_output(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct out_frame *o;
	size_t len = 0, off = 0;

	(void)opaque;
	assert_true(nframes < MAX_FRAMES);
	o = &frames[nframes];
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	o->buf = malloc(len);
	assert_non_null(o->buf);
	for (int i = 0; i < iovcnt; i++) {
		memcpy(o->buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	o->len = len;
	frame_check(o);
	if (nframes++ == block_at)
		return 0;
	return (ssize_t)len;
}

static void frames_clear(void)
{
	for (size_t i = 0; i < nframes; i++)
		free(frames[i].buf);
	memset(frames, 0, sizeof(frames[0]) * nframes);
	nframes = 0;
}

/* Lent receive buffers (usernet_set_lend()): a small first piece for the headers, the rest
 * in a second, each its own allocation so that ASan sees a write past either. */

#define LEND_HEAD 80

static uint8_t *lent[2];
static size_t lent_len[2];
static unsigned int lends, commits;

static int lend_buffers(void *opaque, struct iovec *iov, int max_iov, size_t max_len)
{
	(void)opaque;
	assert_true(max_iov >= 2);
	assert_null(lent[0]); /* one frame at a time */
	assert_true(max_len > LEND_HEAD);
	lent_len[0] = LEND_HEAD;
	lent_len[1] = max_len - LEND_HEAD;
	for (int i = 0; i < 2; i++) {
		lent[i] = malloc(lent_len[i]);
		assert_non_null(lent[i]);
		iov[i].iov_base = lent[i];
		iov[i].iov_len = lent_len[i];
	}
	lends++;
	return 2;
}

static void commit_buffers(void *opaque, size_t len)
{
	struct iovec iov[2];
	int n = 0;

	assert_non_null(lent[0]);
	assert_true(len <= lent_len[0] + lent_len[1]);
	commits++;
	for (int i = 0; i < 2 && len; i++) {
		iov[n].iov_base = lent[i];
		iov[n].iov_len = len < lent_len[i] ? len : lent_len[i];
		len -= iov[n++].iov_len;
	}
	if (n)
		record_output(opaque, iov, n);
	for (int i = 0; i < 2; i++) {
		free(lent[i]);
		lent[i] = NULL;
	}
}

/* Counters */

/**
 * struct counter_query - one counter looked up through usernet_counters()
 * @name:	its name
 * @value:	its value
 * @found:	it was reported
 */
struct counter_query {
	const char *name;
	uint64_t value;
	bool found;
};

static void counter_add(void *opaque, const char *name, uint64_t value)
{
	struct counter_query *q = opaque;

	if (!strcmp(name, q->name)) {
		q->value = value;
		q->found = true;
	}
}

static uint64_t counter(const char *name)
{
	struct counter_query q = { .name = name };

	usernet_counters(unet, counter_add, &q);
	assert_true(q.found);
	return q.value;
}

/* Guest frames */

static void guest_input(const uint8_t *frame, size_t len)
{
	uint8_t vh[VNET_HLEN] = { 0 };
	struct iovec iov[3] = {
		{ .iov_base = vh, .iov_len = sizeof(vh) },
		{ .iov_base = (void *)frame, .iov_len = len },
	};

	/* Long frames come in two pieces, as from a chain of guest buffers. */
	if (len > L4_OFF + TCP_HLEN + 1) {
		size_t cut = L4_OFF + TCP_HLEN + 1;

		iov[1].iov_len = cut;
		iov[2].iov_base = (void *)(frame + cut);
		iov[2].iov_len = len - cut;
		usernet_input(unet, iov, 3, true);
		return;
	}
	usernet_input(unet, iov, 2, true);
}

static size_t build_eth(uint8_t *b, const uint8_t *dst, uint16_t ethertype)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, guest_mac, 6);
	put16(b + 12, ethertype);
	return ETH_HLEN;
}

/* An IPv4 packet from the guest: Ethernet, IPv4 (checksum set), then @l4. */
static size_t build_ipv4(uint8_t *b, uint32_t saddr, uint32_t daddr, uint8_t proto,
			 const uint8_t *l4, size_t l4_len, uint16_t frag)
{
	uint8_t *ip = b + ETH_HLEN;

	build_eth(b, host_mac, ETHERTYPE_IPV4);
	memset(ip, 0, IP_HLEN);
	ip[0] = IP_VERSION_IHL;
	put16(ip + 2, (uint16_t)(IP_HLEN + l4_len));
	put16(ip + 4, IP_ID);
	put16(ip + 6, frag);
	ip[8] = GUEST_TTL;
	ip[9] = proto;
	put32(ip + 12, saddr);
	put32(ip + 16, daddr);
	put16(ip + 10, ref_fold(ref_sum(ip, IP_HLEN, 0)));
	memcpy(ip + IP_HLEN, l4, l4_len);
	return L4_OFF + l4_len;
}

/**
 * struct seg - a TCP segment from the guest (10.0.2.15)
 * @daddr:	destination (host order)
 * @sport:	guest port
 * @dport:	remote port
 * @seq:	sequence number
 * @ack:	acknowledgement number
 * @flags:	TCP flags
 * @window:	window field
 * @syn_opts:	MSS and window scale options
 * @data:	payload
 * @len:	its length
 */
struct seg {
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t window;
	bool syn_opts;
	const void *data;
	size_t len;
};

static void send_seg(const struct seg *s)
{
	size_t hlen = TCP_HLEN + (s->syn_opts ? 8 : 0), l4_len = hlen + s->len;
	uint8_t *tcp = malloc(l4_len), *frame = malloc(L4_OFF + l4_len);
	size_t n;

	assert_non_null(tcp);
	assert_non_null(frame);
	memset(tcp, 0, hlen);
	put16(tcp, s->sport);
	put16(tcp + 2, s->dport);
	put32(tcp + 4, s->seq);
	put32(tcp + 8, s->ack);
	tcp[12] = (uint8_t)((hlen / 4) << 4);
	tcp[13] = s->flags;
	put16(tcp + 14, s->window);
	if (s->syn_opts) {
		tcp[20] = TCPOPT_MSS;
		tcp[21] = 4;
		put16(tcp + 22, GUEST_MSS);
		tcp[24] = TCPOPT_NOP;
		tcp[25] = TCPOPT_WS;
		tcp[26] = 3;
		tcp[27] = GUEST_WS;
	}
	if (s->len)
		memcpy(tcp + hlen, s->data, s->len);
	put16(tcp + TCP_OFF_CSUM, ref_fold(ref_sum(tcp, l4_len, ref_pseudo(GUEST, s->daddr,
									      IPPROTO_TCP,
									      l4_len))));
	n = build_ipv4(frame, GUEST, s->daddr, IPPROTO_TCP, tcp, l4_len, 0);
	guest_input(frame, n);
	free(tcp);
	free(frame);
}

/* A segment of @c's guest side: its next sequence number, acknowledging all it saw. */
static void conn_send(struct conn *c, uint8_t flags, uint16_t window, const void *data,
		      size_t len)
{
	struct seg s = {
		.daddr = HOST, .sport = c->gport, .dport = c->rport, .seq = c->gseq,
		.ack = c->erx, .flags = flags, .window = window, .data = data, .len = len,
	};

	send_seg(&s);
	c->gseq += (uint32_t)len + ((flags & (TCP_FIN | TCP_SYN)) ? 1 : 0);
}

static size_t build_udp(uint8_t *frame, uint16_t sport, uint32_t daddr, uint16_t dport,
			const void *data, size_t len)
{
	uint8_t udp[2048];

	assert_true(len + UDP_HLEN <= sizeof(udp));
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint16_t)(UDP_HLEN + len));
	put16(udp + 6, 0);
	memcpy(udp + UDP_HLEN, data, len);
	put16(udp + 6, ref_fold(ref_sum(udp, UDP_HLEN + len,
					ref_pseudo(GUEST, daddr, IPPROTO_UDP, UDP_HLEN + len))));
	return build_ipv4(frame, GUEST, daddr, IPPROTO_UDP, udp, UDP_HLEN + len, 0);
}

/* The loop */

static void pump(int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end)
		loop_run_once(loop, 5);
}

typedef bool frame_pred(const struct out_frame *o, const void *arg);

/* Run the loop until a frame from index @from on matches, or @ms pass; its index or -1. */
static long wait_frame(size_t from, frame_pred *pred, const void *arg, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		for (size_t i = from; i < nframes; i++)
			if (pred(&frames[i], arg))
				return (long)i;
		from = nframes;
		if (now_ms() >= end)
			return -1;
		loop_run_once(loop, 5);
	}
}

static bool is_tcp_of(const struct out_frame *o, const void *arg)
{
	const struct conn *c = arg;

	return o->ethertype == ETHERTYPE_IPV4 && o->proto == IPPROTO_TCP && o->saddr == HOST &&
	       o->daddr == GUEST && o->sport == c->rport && o->dport == c->gport;
}

static bool is_data_of(const struct out_frame *o, const void *arg)
{
	return is_tcp_of(o, arg) && o->plen > 0;
}

static bool is_fin_of(const struct out_frame *o, const void *arg)
{
	return is_tcp_of(o, arg) && (o->tflags & TCP_FIN);
}

static bool is_rst_of(const struct out_frame *o, const void *arg)
{
	return is_tcp_of(o, arg) && (o->tflags & TCP_RST);
}

static bool is_synack_of(const struct out_frame *o, const void *arg)
{
	return is_tcp_of(o, arg) && (o->tflags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
}

static bool is_syn_of(const struct out_frame *o, const void *arg)
{
	return is_tcp_of(o, arg) && (o->tflags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static bool is_ack_upto(const struct out_frame *o, const void *arg)
{
	const struct conn *c = arg;

	return is_tcp_of(o, arg) && (o->tflags & TCP_ACK) && o->ack == c->gseq;
}

static size_t data_frames(size_t from, const struct conn *c)
{
	size_t n = 0;

	for (size_t i = from; i < nframes; i++)
		n += is_data_of(&frames[i], c);
	return n;
}

/* Host sockets */

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nobody listens on (bound, then closed). */
static uint16_t free_port(int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Wait until @fd has something for @events, pumping the loop meanwhile. */
static bool wait_fd(int fd, short events, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };

		if (poll(&p, 1, 0) == 1)
			return true;
		if (now_ms() >= end)
			return false;
		loop_run_once(loop, 5);
	}
}

static bool has_option(const struct out_frame *o, uint8_t kind, uint8_t len, uint32_t *value)
{
	const uint8_t *p = o->l4 + TCP_HLEN, *end = o->l4 + o->thlen;

	while (p < end) {
		if (p[0] == TCPOPT_END)
			break;
		if (p[0] == TCPOPT_NOP) {
			p++;
			continue;
		}
		if (end - p < 2 || p[1] < 2 || p[1] > end - p)
			return false;
		if (p[0] == kind) {
			if (p[1] != len)
				return false;
			*value = len == 4 ? get16(p + 2) : p[2];
			return true;
		}
		p += p[1];
	}
	return false;
}

/* The guest connects to a new listener on 127.0.0.1 (10.0.2.2 to it) and completes the
 * handshake; the engine's SYN-ACK is checked on the way. */
static void conn_open(struct conn *c, uint16_t gport)
{
	struct seg syn;
	uint32_t v;
	long i;

	memset(c, 0, sizeof(*c));
	c->lfd = tcp_listener(&c->rport);
	c->gport = gport;
	c->gseq = GUEST_ISN + gport;
	syn = (struct seg){ .daddr = HOST, .sport = c->gport, .dport = c->rport, .seq = c->gseq,
			    .flags = TCP_SYN, .window = GUEST_SYN_WINDOW, .syn_opts = true };
	send_seg(&syn);
	c->gseq++;
	i = wait_frame(0, is_synack_of, c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].ack, c->gseq);
	assert_true(has_option(&frames[i], TCPOPT_MSS, 4, &v));
	assert_true(v > 0 && v <= GUEST_MSS);
	assert_true(has_option(&frames[i], TCPOPT_WS, 3, &v));
	assert_true(v <= 14);
	assert_true(frames[i].window > 0);
	c->eisn = frames[i].seq;
	c->erx = c->eisn + 1;
	assert_true(wait_fd(c->lfd, POLLIN, WAIT_MS));
	c->afd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(c->afd >= 0);
	conn_send(c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_int_equal(counter("flows"), 1);
	frames_clear();
}

static void conn_close(struct conn *c)
{
	if (c->afd >= 0)
		close(c->afd);
	if (c->lfd >= 0)
		close(c->lfd);
	c->afd = c->lfd = -1;
}

/* Check @c's data frames from index @from on against @expect, whose first byte has sequence
 * number @base, and return how far from @base the guest has it all (starting from @have);
 * @c->erx follows. Frames may overlap or repeat: each must carry the right bytes. */
static size_t collect_data(struct conn *c, size_t from, uint32_t base, const uint8_t *expect,
			   size_t len, size_t have)
{
	bool progress = true;

	while (progress) {
		progress = false;
		for (size_t i = from; i < nframes; i++) {
			const struct out_frame *o = &frames[i];
			size_t off;

			if (!is_data_of(o, c))
				continue;
			off = (uint32_t)(o->seq - base);
			assert_true(off < len && o->plen <= len - off);
			assert_memory_equal(o->payload, expect + off, o->plen);
			if (off <= have && off + o->plen > have) {
				have = off + o->plen;
				progress = true;
			}
		}
	}
	c->erx = base + (uint32_t)have;
	return have;
}

static void fill_pattern(uint8_t *b, size_t len, unsigned int salt)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8) * 13 + salt);
}

/* Set-up and tear-down: a loop and an engine with QEMU's defaults */

static int setup(void **state)
{
	struct usernet_config cfg = {
		.net.s_addr = htonl(NET),
		.mask.s_addr = htonl(IP(255, 255, 255, 0)),
		.host.s_addr = htonl(HOST),
		.dns.s_addr = htonl(DNS),
		.dhcp_start.s_addr = htonl(GUEST),
		.mtu = 1500,
	};
	int err = 0;

	(void)state;
	loop = loop_new();
	assert_non_null(loop);
	unet = usernet_new(loop, &cfg, record_output, NULL, &err);
	assert_non_null(unet);
	nframes = 0;
	block_at = SIZE_MAX;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	usernet_free(unet);
	unet = NULL;
	/* Whatever the engine closed last is done with. */
	loop_run_once(loop, 0);
	loop_free(loop);
	loop = NULL;
	frames_clear();
	return 0;
}

/* ARP and DHCP */

static void test_arp(void **state)
{
	uint8_t b[60] = { 0 }, *arp = b + ETH_HLEN;
	const struct out_frame *o;

	(void)state;
	build_eth(b, bcast_mac, ETHERTYPE_ARP);
	put16(arp, ARP_HTYPE_ETHER);
	put16(arp + 2, ETHERTYPE_IPV4);
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, ARP_OP_REQUEST);
	memcpy(arp + 8, guest_mac, 6);
	put32(arp + 14, GUEST);
	put32(arp + 24, HOST);
	guest_input(b, sizeof(b));

	assert_int_equal(nframes, 1);
	o = &frames[0];
	assert_int_equal(o->ethertype, ETHERTYPE_ARP);
	assert_memory_equal(o->eth, guest_mac, 6);
	arp = o->buf + VNET_HLEN + ETH_HLEN;
	assert_int_equal(get16(arp + 6), ARP_OP_REPLY);
	assert_memory_equal(arp + 8, host_mac, 6);
	assert_int_equal(get32(arp + 14), HOST);
	assert_memory_equal(arp + 18, guest_mac, 6);
	assert_int_equal(get32(arp + 24), GUEST);
}

static void test_dhcp_discover(void **state)
{
	uint8_t bootp[BOOTP_LEN] = { 0 }, udp[UDP_HLEN + BOOTP_LEN], frame[1024], *p;
	const struct out_frame *o;
	size_t n;
	bool offer = false;

	(void)state;
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	put32(bootp + 4, 0xdeadbeef);
	memcpy(bootp + BOOTP_OFF_CHADDR, guest_mac, 6);
	memcpy(bootp + BOOTP_OFF_COOKIE, dhcp_cookie, 4);
	p = bootp + BOOTP_OFF_OPTS;
	*p++ = DHCP_OPT_TYPE;
	*p++ = 1;
	*p++ = DHCP_DISCOVER;
	*p = DHCP_OPT_END;
	put16(udp, DHCP_CLIENT_PORT);
	put16(udp + 2, DHCP_SERVER_PORT);
	put16(udp + 4, sizeof(udp));
	put16(udp + 6, 0);
	memcpy(udp + UDP_HLEN, bootp, sizeof(bootp));
	put16(udp + 6, ref_fold(ref_sum(udp, sizeof(udp), ref_pseudo(0, 0xffffffff, IPPROTO_UDP,
								       sizeof(udp)))));
	n = build_ipv4(frame, 0, 0xffffffff, IPPROTO_UDP, udp, sizeof(udp), 0);
	memcpy(frame, bcast_mac, 6);
	guest_input(frame, n);

	assert_int_equal(nframes, 1);
	o = &frames[0];
	assert_int_equal(o->proto, IPPROTO_UDP);
	assert_int_equal(o->sport, DHCP_SERVER_PORT);
	assert_int_equal(o->dport, DHCP_CLIENT_PORT);
	assert_int_equal(o->saddr, HOST);
	assert_true(o->plen >= BOOTP_OFF_OPTS);
	assert_int_equal(o->payload[0], 2); /* BOOTREPLY */
	assert_int_equal(get32(o->payload + 4), 0xdeadbeef);
	assert_int_equal(get32(o->payload + BOOTP_OFF_YIADDR), GUEST);
	assert_memory_equal(o->payload + BOOTP_OFF_COOKIE, dhcp_cookie, 4);
	for (size_t i = BOOTP_OFF_OPTS; i + 2 < o->plen && o->payload[i] != DHCP_OPT_END;) {
		if (o->payload[i] == 0) {
			i++;
			continue;
		}
		if (o->payload[i] == DHCP_OPT_TYPE)
			offer = o->payload[i + 2] == DHCP_OFFER;
		i += 2 + o->payload[i + 1];
	}
	assert_true(offer);
}

/* TCP */

static void test_tcp_handshake_and_guest_data(void **state)
{
	static const char msg[] = "hello from the guest, byte for byte";
	char buf[128];
	struct conn c;
	long i;

	(void)state;
	conn_open(&c, 40001);
	assert_int_equal(counter("tcp-opened"), 1);

	conn_send(&c, TCP_ACK | TCP_PSH, GUEST_WINDOW, msg, sizeof(msg));
	i = wait_frame(0, is_ack_upto, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.erx);
	assert_true(wait_fd(c.afd, POLLIN, WAIT_MS));
	assert_int_equal(recv(c.afd, buf, sizeof(buf), 0), sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));

	/* The same segment again (a retransmission): acknowledged, not written twice. */
	frames_clear();
	c.gseq -= sizeof(msg);
	conn_send(&c, TCP_ACK | TCP_PSH, GUEST_WINDOW, msg, sizeof(msg));
	assert_true(wait_frame(0, is_ack_upto, &c, WAIT_MS) >= 0);
	pump(20);
	assert_int_equal(recv(c.afd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	conn_close(&c);
}

/* Send @len bytes of @data from the host's end of @c; the guest must get all of them, in order. */
static void send_and_collect(struct conn *c, const uint8_t *data, size_t len)
{
	int64_t end = now_ms() + WAIT_MS;
	size_t have = 0;

	assert_int_equal(send(c->afd, data, len, 0), (ssize_t)len);
	while (have < len && now_ms() < end) {
		loop_run_once(loop, 5);
		have = collect_data(c, 0, c->eisn + 1, data, len, have);
	}
	assert_int_equal(have, len);
}

static void test_tcp_host_data_gso(void **state)
{
	enum { LEN = 20000 };
	uint8_t *data = malloc(LEN);
	bool gso = false;
	struct conn c;
	(void)state;
	conn_open(&c, 40002);
	fill_pattern(data, LEN, 3);
	send_and_collect(&c, data, LEN);
	for (size_t i = 0; i < nframes; i++) {
		if (!is_data_of(&frames[i], &c))
			continue;
		assert_true(frames[i].tflags & TCP_ACK);
		assert_int_equal(frames[i].ack, c.gseq);
		if (frames[i].vh.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) {
			assert_int_equal(frames[i].vh.gso_size, GUEST_MSS);
			gso = true;
		} else {
			assert_true(frames[i].plen <= GUEST_MSS);
		}
	}
	assert_true(gso);

	/* All acknowledged: nothing is sent again, however long we wait. */
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	frames_clear();
	pump(3 * RTO_MS);
	assert_int_equal(data_frames(0, &c), 0);
	assert_int_equal(counter("tcp-retransmits"), 0);
	conn_close(&c);
	free(data);
}

/* The guest's side takes no GSO frames (usernet_set_gso()): one segment per frame. */
static bool no_gso(void *opaque)
{
	(void)opaque;
	return false;
}

/*
 * A guest whose device takes no vnet headers (an e1000) gets host data a segment per frame,
 * never a GSO frame, all of it in order.
 */
static void test_tcp_host_data_no_gso(void **state)
{
	enum { LEN = 20000 };
	uint8_t *data = malloc(LEN);
	unsigned int segments = 0;
	struct conn c;
	(void)state;
	usernet_set_gso(unet, no_gso);
	conn_open(&c, 40031);
	fill_pattern(data, LEN, 5);
	send_and_collect(&c, data, LEN);
	for (size_t i = 0; i < nframes; i++) {
		if (!is_data_of(&frames[i], &c))
			continue;
		assert_int_equal(frames[i].vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		assert_true(frames[i].plen <= GUEST_MSS);
		segments++;
	}
	assert_true(segments >= LEN / GUEST_MSS);
	usernet_set_gso(unet, NULL);
	conn_close(&c);
	free(data);
}

static void test_tcp_guest_fin(void **state)
{
	char buf[16];
	struct conn c;
	long i;

	(void)state;
	conn_open(&c, 40003);
	conn_send(&c, TCP_FIN | TCP_ACK, GUEST_WINDOW, NULL, 0);
	i = wait_frame(0, is_ack_upto, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_true(wait_fd(c.afd, POLLIN, WAIT_MS));
	assert_int_equal(recv(c.afd, buf, sizeof(buf), 0), 0);

	/* The host side still talks, then closes: the guest gets data, then our FIN. */
	assert_int_equal(send(c.afd, "bye", 3, 0), 3);
	i = wait_frame(0, is_data_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.eisn + 1);
	assert_memory_equal(frames[i].payload, "bye", 3);
	c.erx += 3;
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	close(c.afd);
	c.afd = -1;
	i = wait_frame(0, is_fin_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.erx);
	c.erx++;
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_int_equal(counter("flows"), 0);
	conn_close(&c);
}

static void test_tcp_host_close(void **state)
{
	struct conn c;
	long i;

	(void)state;
	conn_open(&c, 40004);
	close(c.afd);
	c.afd = -1;
	i = wait_frame(0, is_fin_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_true(frames[i].tflags & TCP_ACK);
	assert_int_equal(frames[i].seq, c.eisn + 1);
	assert_int_equal(frames[i].plen, 0);
	c.erx++;
	/* The guest acknowledges it and closes its side too: the flow ends. */
	frames_clear();
	conn_send(&c, TCP_FIN | TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_true(wait_frame(0, is_ack_upto, &c, WAIT_MS) >= 0);
	assert_int_equal(counter("flows"), 0);
	conn_close(&c);
}

static void test_tcp_guest_rst(void **state)
{
	char buf[16];
	struct conn c;

	(void)state;
	conn_open(&c, 40005);
	conn_send(&c, TCP_RST, 0, NULL, 0);
	assert_int_equal(counter("flows"), 0);
	assert_true(wait_fd(c.afd, POLLIN | POLLERR, WAIT_MS));
	assert_int_equal(recv(c.afd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ECONNRESET);
	/* A reset is never answered. */
	pump(20);
	assert_int_equal(nframes, 0);
	conn_close(&c);
}

static void test_tcp_refused(void **state)
{
	struct conn c = { .lfd = -1, .afd = -1, .gport = 40006, .gseq = GUEST_ISN };
	struct seg syn;
	long i;

	(void)state;
	c.rport = free_port(SOCK_STREAM);
	syn = (struct seg){ .daddr = HOST, .sport = c.gport, .dport = c.rport, .seq = c.gseq,
			    .flags = TCP_SYN, .window = GUEST_SYN_WINDOW, .syn_opts = true };
	send_seg(&syn);
	i = wait_frame(0, is_rst_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].tflags, TCP_RST | TCP_ACK);
	assert_int_equal(frames[i].ack, c.gseq + 1);
	assert_int_equal(counter("tcp-refused"), 1);
	assert_int_equal(counter("flows"), 0);
	for (size_t k = 0; k < nframes; k++)
		assert_false(is_synack_of(&frames[k], &c));
}

static void test_tcp_unknown_flow(void **state)
{
	struct conn c = { .afd = -1, .gport = 40007 };
	struct seg s;

	(void)state;
	c.lfd = tcp_listener(&c.rport);
	s = (struct seg){ .daddr = HOST, .sport = c.gport, .dport = c.rport, .seq = 5000,
			  .ack = 777777, .flags = TCP_ACK, .window = GUEST_WINDOW,
			  .data = "x", .len = 1 };
	send_seg(&s);
	assert_int_equal(nframes, 1);
	assert_true(is_rst_of(&frames[0], &c));
	assert_int_equal(frames[0].tflags, TCP_RST);
	assert_int_equal(frames[0].seq, 777777);
	assert_int_equal(counter("flows"), 0);
	/* Nothing reached the host. */
	assert_false(wait_fd(c.lfd, POLLIN, 20));
	conn_close(&c);
}

static void test_tcp_retransmit_rto(void **state)
{
	uint8_t data[1000];
	struct conn c;
	int64_t sent;
	long i, j;

	(void)state;
	conn_open(&c, 40008);
	fill_pattern(data, sizeof(data), 9);
	assert_int_equal(send(c.afd, data, sizeof(data), 0), sizeof(data));
	i = wait_frame(0, is_data_of, &c, WAIT_MS);
	sent = now_ms();
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.eisn + 1);
	assert_int_equal(frames[i].plen, sizeof(data));
	assert_memory_equal(frames[i].payload, data, sizeof(data));

	/* No acknowledgement: after the RTO the same bytes go again, same sequence numbers. */
	j = wait_frame((size_t)i + 1, is_data_of, &c, WAIT_MS);
	assert_true(j >= 0);
	assert_true(now_ms() - sent >= RTO_MS - 20);
	assert_int_equal(frames[j].seq, c.eisn + 1);
	assert_int_equal(frames[j].plen, sizeof(data));
	assert_memory_equal(frames[j].payload, data, sizeof(data));
	assert_true(counter("tcp-retransmits") >= 1);

	/* Once acknowledged, never again. */
	c.erx += sizeof(data);
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	frames_clear();
	pump(3 * RTO_MS);
	assert_int_equal(data_frames(0, &c), 0);
	conn_close(&c);
}

static void test_tcp_dup_acks(void **state)
{
	enum { LEN = 3000 };
	uint8_t data[LEN];
	struct conn c;
	size_t have = 0, mark;
	int64_t end;

	(void)state;
	conn_open(&c, 40009);
	fill_pattern(data, LEN, 21);
	assert_int_equal(send(c.afd, data, LEN, 0), LEN);
	end = now_ms() + WAIT_MS;
	while (have < LEN && now_ms() < end) {
		loop_run_once(loop, 1);
		have = collect_data(&c, 0, c.eisn + 1, data, LEN, have);
	}
	assert_int_equal(have, LEN);

	/* The guest lost the first segment: it acknowledges the start again, three times
	 * (well inside the RTO). Two duplicates are not enough; the third resends. */
	c.erx = c.eisn + 1;
	mark = nframes;
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_int_equal(data_frames(mark, &c), 0);
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_true(data_frames(mark, &c) > 0);
	assert_int_equal(counter("tcp-retransmits"), 1);
	for (size_t i = mark; i < nframes; i++) {
		if (is_data_of(&frames[i], &c)) {
			assert_int_equal(frames[i].seq, c.eisn + 1);
			break;
		}
	}
	assert_int_equal(collect_data(&c, mark, c.eisn + 1, data, LEN, 0), LEN);
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	conn_close(&c);
}

static void test_tcp_zero_window(void **state)
{
	uint8_t data[100];
	struct conn c;
	int64_t end;
	size_t have = 0;

	(void)state;
	conn_open(&c, 40010);
	conn_send(&c, TCP_ACK, 0, NULL, 0);
	fill_pattern(data, sizeof(data), 33);
	assert_int_equal(send(c.afd, data, sizeof(data), 0), sizeof(data));
	pump(3 * RTO_MS / 2);
	assert_int_equal(data_frames(0, &c), 0);

	/* The window opens: the data comes. */
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	end = now_ms() + WAIT_MS;
	while (have < sizeof(data) && now_ms() < end) {
		have = collect_data(&c, 0, c.eisn + 1, data, sizeof(data), have);
		if (have < sizeof(data))
			loop_run_once(loop, 5);
	}
	assert_int_equal(have, sizeof(data));
	conn_close(&c);
}

/* A guest window smaller than what the host has: never more in flight than it allows. */
static void test_tcp_small_window(void **state)
{
	enum { LEN = 10000, WND = 2000 };
	uint8_t *data = malloc(LEN);
	struct conn c;
	size_t have = 0;
	int64_t end;

	(void)state;
	conn_open(&c, 40011);
	conn_send(&c, TCP_ACK, WND >> GUEST_WS, NULL, 0);
	fill_pattern(data, LEN, 5);
	assert_int_equal(send(c.afd, data, LEN, 0), LEN);
	end = now_ms() + WAIT_MS;
	while (have < LEN && now_ms() < end) {
		size_t n;

		loop_run_once(loop, 2);
		for (size_t i = 0; i < nframes; i++)
			if (is_data_of(&frames[i], &c))
				assert_true(frames[i].seq + frames[i].plen - c.erx <=
					    (WND >> GUEST_WS) << GUEST_WS);
		n = collect_data(&c, 0, c.eisn + 1, data, LEN, have) - have;
		have += n;
		if (n) {
			frames_clear();
			conn_send(&c, TCP_ACK, WND >> GUEST_WS, NULL, 0);
		}
	}
	assert_int_equal(have, LEN);
	conn_close(&c);
	free(data);
}

/* The guest sends 1 MiB inside the windows the engine offers while the host reads only when
 * the window has closed: every byte arrives once and in order (the engine acknowledges only
 * what the socket took, and says when it has room again). */
static void test_tcp_guest_bulk(void **state)
{
	enum { LEN = 1 << 20, SEG = GUEST_MSS };
	uint8_t *data = malloc(LEN), *got = malloc(LEN);
	uint32_t base, una, nxt, wnd = 0;
	size_t have = 0, seen = 0;
	int64_t end, last_progress;
	unsigned int dups = 0;
	struct conn c;

	(void)state;
	conn_open(&c, 40012);
	fill_pattern(data, LEN, 77);
	base = una = nxt = c.gseq;
	/* The SYN-ACK's window is not scaled; the ACKs' are, by 7 (the window scale offered). */
	wnd = 65535;
	end = now_ms() + 5 * WAIT_MS;
	last_progress = now_ms();
	while (have < LEN && now_ms() < end) {
		ssize_t n;

		while ((uint32_t)(nxt - una) < wnd && nxt - base < LEN) {
			size_t off = nxt - base, len = LEN - off < SEG ? LEN - off : SEG;
			struct seg sg = { .daddr = HOST, .sport = c.gport, .dport = c.rport,
					  .seq = nxt, .ack = c.erx, .flags = TCP_ACK,
					  .window = GUEST_WINDOW, .data = data + off };

			if (len > wnd - (nxt - una))
				len = wnd - (nxt - una);
			sg.len = len;
			send_seg(&sg);
			nxt += (uint32_t)len;
		}
		loop_run_once(loop, 1);
		for (; seen < nframes; seen++) {
			const struct out_frame *o = &frames[seen];

			if (!is_tcp_of(o, &c) || !(o->tflags & TCP_ACK))
				continue;
			assert_true((int32_t)(o->ack - una) >= 0 && (int32_t)(nxt - o->ack) >= 0);
			if (o->ack != una) {
				una = o->ack;
				dups = 0;
				last_progress = now_ms();
			} else if (una != nxt && ++dups == 3) {
				nxt = una; /* go back: the socket did not take it all */
				dups = 0;
			}
			wnd = (uint32_t)o->window << 7;
		}
		if (seen > MAX_FRAMES / 2) {
			frames_clear();
			seen = 0;
		}
		/* The host reads once the guest cannot send, and all it finds. */
		if ((uint32_t)(nxt - una) >= wnd || nxt - base == LEN) {
			while ((n = recv(c.afd, got + have, LEN - have, MSG_DONTWAIT)) > 0)
				have += (size_t)n;
		}
		if (una != nxt && now_ms() - last_progress > RTO_MS) {
			nxt = una; /* the guest's own retransmission timeout */
			last_progress = now_ms();
		}
	}
	assert_int_equal(have, LEN);
	assert_memory_equal(got, data, LEN);
	assert_int_equal(una, base + LEN);
	c.gseq = nxt;
	conn_close(&c);
	free(data);
	free(got);
}

/* The guest's side fills up (output returns 0): nothing more until usernet_resume(). */
static void test_tcp_backpressure(void **state)
{
	enum { LEN = 300000 };
	uint8_t *data = malloc(LEN);
	size_t have = 0, before;
	struct conn c;
	int64_t end;
	long i;

	(void)state;
	conn_open(&c, 40013);
	conn_send(&c, TCP_ACK, 0xffff, NULL, 0); /* an 8 MiB window */
	fill_pattern(data, LEN, 11);
	block_at = nframes;
	assert_int_equal(send(c.afd, data, LEN, 0), LEN);
	i = wait_frame(0, is_data_of, &c, WAIT_MS);
	assert_int_equal(i, (long)block_at);
	pump(50);
	assert_int_equal(data_frames(0, &c), 1);

	/* An acknowledgement does not unblock it either. */
	have = collect_data(&c, 0, c.eisn + 1, data, LEN, 0);
	conn_send(&c, TCP_ACK, 0xffff, NULL, 0);
	pump(20);
	assert_int_equal(data_frames(0, &c), 1);

	before = nframes;
	usernet_resume(unet);
	end = now_ms() + WAIT_MS;
	while (have < LEN && now_ms() < end) {
		size_t now = collect_data(&c, before, c.eisn + 1, data, LEN, have);

		/* Acknowledged, the socket's data makes room for more from the host. */
		if (now > have)
			conn_send(&c, TCP_ACK, 0xffff, NULL, 0);
		have = now;
		if (have < LEN)
			loop_run_once(loop, 2);
	}
	assert_int_equal(have, LEN);
	assert_true(nframes > before);
	conn_close(&c);
	free(data);
}

/* The host's FIN is not acknowledged: it goes again after the RTO, same sequence number. */
static void test_tcp_fin_retransmit(void **state)
{
	struct conn c;
	long i, j;

	(void)state;
	conn_open(&c, 40016);
	assert_int_equal(send(c.afd, "last words", 10, 0), 10);
	i = wait_frame(0, is_data_of, &c, WAIT_MS);
	assert_true(i >= 0);
	c.erx += 10;
	conn_send(&c, TCP_ACK, GUEST_WINDOW, NULL, 0);
	close(c.afd);
	c.afd = -1;
	i = wait_frame(0, is_fin_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.erx);
	assert_int_equal(frames[i].plen, 0);
	j = wait_frame((size_t)i + 1, is_fin_of, &c, WAIT_MS);
	assert_true(j >= 0);
	assert_int_equal(frames[j].seq, c.erx);
	assert_true(counter("tcp-retransmits") >= 1);
	/* Acknowledged, and the guest's FIN: the flow ends. */
	c.erx++;
	conn_send(&c, TCP_FIN | TCP_ACK, GUEST_WINDOW, NULL, 0);
	assert_int_equal(counter("flows"), 0);
	conn_close(&c);
}

/* Data for the guest read straight into lent buffers: the same frames, the same bytes. */
static void test_tcp_lend(void **state)
{
	enum { LEN = 100000 };
	uint8_t *data = malloc(LEN);
	size_t have = 0;
	struct conn c;
	int64_t end;

	(void)state;
	lends = commits = 0;
	usernet_set_lend(unet, lend_buffers, commit_buffers);
	conn_open(&c, 40017);
	conn_send(&c, TCP_ACK, 0xffff, NULL, 0); /* an 8 MiB window */
	fill_pattern(data, LEN, 99);
	assert_int_equal(send(c.afd, data, LEN, 0), LEN);
	end = now_ms() + WAIT_MS;
	while (have < LEN && now_ms() < end) {
		size_t now = collect_data(&c, 0, c.eisn + 1, data, LEN, have);

		if (now > have)
			conn_send(&c, TCP_ACK, 0xffff, NULL, 0);
		have = now;
		if (have < LEN)
			loop_run_once(loop, 2);
	}
	assert_int_equal(have, LEN);
	assert_true(lends > 0);
	assert_int_equal(lends, commits);
	assert_true(counter("tcp-lent-frames") > 0);
	assert_null(lent[0]);

	/* The host closes: the FIN follows. */
	close(c.afd);
	c.afd = -1;
	assert_true(wait_frame(0, is_fin_of, &c, WAIT_MS) >= 0);
	conn_close(&c);
	free(data);
}

/* The host resets its side: the guest gets a reset. */
static void test_tcp_host_rst(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct conn c;
	long i;

	(void)state;
	conn_open(&c, 40014);
	assert_int_equal(setsockopt(c.afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(c.afd);
	c.afd = -1;
	i = wait_frame(0, is_rst_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.erx);
	assert_int_equal(counter("flows"), 0);
	assert_int_equal(counter("tcp-resets"), 1);
	conn_close(&c);
}

/* The SYN-ACK was lost: the guest's SYN again gets the same SYN-ACK. */
static void test_tcp_syn_again(void **state)
{
	struct conn c;
	struct seg syn;
	long i;

	(void)state;
	conn_open(&c, 40015);
	syn = (struct seg){ .daddr = HOST, .sport = c.gport, .dport = c.rport, .seq = c.gseq - 1,
			    .flags = TCP_SYN, .window = GUEST_SYN_WINDOW, .syn_opts = true };
	send_seg(&syn);
	i = wait_frame(0, is_synack_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.eisn);
	assert_int_equal(frames[i].ack, c.gseq);
	assert_int_equal(counter("flows"), 1);
	assert_int_equal(counter("tcp-opened"), 1);
	conn_close(&c);
}

/* UDP and ICMP */

static bool is_udp_to(const struct out_frame *o, const void *arg)
{
	const uint16_t *ports = arg;

	return o->ethertype == ETHERTYPE_IPV4 && o->proto == IPPROTO_UDP &&
	       o->sport == ports[0] && o->dport == ports[1];
}

static void test_udp(void **state)
{
	static const char query[] = "a datagram from the guest";
	static const char reply[] = "and the host's answer, a little longer";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from;
	socklen_t len = sizeof(a);
	uint8_t frame[256];
	char buf[256], big[2000];
	uint16_t ports[2];
	const struct out_frame *o;
	int fd;
	long i;

	(void)state;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	ports[0] = ntohs(a.sin_port);
	ports[1] = 5555;

	guest_input(frame, build_udp(frame, ports[1], HOST, ports[0], query, sizeof(query)));
	assert_true(wait_fd(fd, POLLIN, WAIT_MS));
	len = sizeof(from);
	assert_int_equal(recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len),
			 sizeof(query));
	assert_memory_equal(buf, query, sizeof(query));
	assert_int_equal(counter("udp-opened"), 1);

	assert_int_equal(sendto(fd, reply, sizeof(reply), 0, (struct sockaddr *)&from, len),
			 sizeof(reply));
	i = wait_frame(0, is_udp_to, ports, WAIT_MS);
	assert_true(i >= 0);
	o = &frames[i];
	assert_int_equal(o->saddr, HOST);
	assert_int_equal(o->daddr, GUEST);
	assert_memory_equal(o->eth, guest_mac, 6);
	assert_int_equal(o->plen, sizeof(reply));
	assert_memory_equal(o->payload, reply, sizeof(reply));
	/* Its checksum, once more by hand: the sum over pseudo-header and datagram is ~0. */
	assert_int_equal(ref_fold(ref_sum(o->l4, o->l4_len,
					  ref_pseudo(HOST, GUEST, IPPROTO_UDP, o->l4_len))), 0);

	/* A second datagram of the same flow reuses it. */
	guest_input(frame, build_udp(frame, ports[1], HOST, ports[0], query, 3));
	assert_true(wait_fd(fd, POLLIN, WAIT_MS));
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 3);
	assert_int_equal(counter("udp-opened"), 1);

	/* A reply larger than the link's MTU is dropped (no fragments) and counted. */
	frames_clear();
	memset(big, 'b', sizeof(big));
	assert_int_equal(sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&from, len),
			 sizeof(big));
	assert_int_equal(sendto(fd, reply, 5, 0, (struct sockaddr *)&from, len), 5);
	i = wait_frame(0, is_udp_to, ports, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].plen, 5);
	assert_int_equal(nframes, 1);
	assert_int_equal(counter("bad-segment"), 1);
	close(fd);
}

static void test_icmp_echo(void **state)
{
	uint8_t icmp[ICMP_HLEN + 56], frame[256];
	const struct out_frame *o;

	(void)state;
	icmp[0] = ICMP_ECHO;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, 0x1234);
	put16(icmp + 6, 7);
	fill_pattern(icmp + ICMP_HLEN, sizeof(icmp) - ICMP_HLEN, 1);
	put16(icmp + 2, ref_fold(ref_sum(icmp, sizeof(icmp), 0)));
	guest_input(frame, build_ipv4(frame, GUEST, HOST, IPPROTO_ICMP, icmp, sizeof(icmp), 0));

	assert_int_equal(nframes, 1);
	o = &frames[0];
	assert_int_equal(o->proto, IPPROTO_ICMP);
	assert_int_equal(o->saddr, HOST);
	assert_int_equal(o->daddr, GUEST);
	assert_int_equal(o->l4[0], ICMP_ECHOREPLY);
	assert_int_equal(o->l4[1], 0);
	assert_int_equal(get16(o->l4 + 4), 0x1234);
	assert_int_equal(get16(o->l4 + 6), 7);
	assert_int_equal(o->plen, sizeof(icmp) - ICMP_HLEN);
	assert_memory_equal(o->payload, icmp + ICMP_HLEN, o->plen);
}

/* Forwarded ports */

static void test_hostfwd_tcp(void **state)
{
	struct sockaddr_in host = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in guest = { .sin_family = AF_INET, .sin_port = htons(22) };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	uint8_t arp[60] = { 0 }, *body = arp + ETH_HLEN;
	struct conn c = { .lfd = -1, .gport = 22 };
	struct seg synack;
	char buf[64];
	int ret = -1;
	long i;

	(void)state;
	/* A free port may be taken meanwhile: try a few. */
	for (int tries = 0; tries < 5 && ret; tries++) {
		host.sin_port = htons(free_port(SOCK_STREAM));
		ret = usernet_hostfwd_add(unet, false, &host, &guest);
	}
	assert_int_equal(ret, 0);
	assert_int_equal(usernet_hostfwd_add(unet, false, &host, &guest), -EADDRINUSE);

	/* The guest makes itself known (its MAC) with a gratuitous ARP. */
	build_eth(arp, bcast_mac, ETHERTYPE_ARP);
	put16(body, ARP_HTYPE_ETHER);
	put16(body + 2, ETHERTYPE_IPV4);
	body[4] = 6;
	body[5] = 4;
	put16(body + 6, ARP_OP_REQUEST);
	memcpy(body + 8, guest_mac, 6);
	put32(body + 14, GUEST);
	put32(body + 24, GUEST);
	guest_input(arp, sizeof(arp));
	frames_clear();

	c.afd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c.afd >= 0);
	assert_int_equal(connect(c.afd, (struct sockaddr *)&host, sizeof(host)), 0);
	assert_int_equal(getsockname(c.afd, (struct sockaddr *)&me, &len), 0);
	c.rport = ntohs(me.sin_port);

	i = wait_frame(0, is_syn_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].daddr, GUEST);
	assert_memory_equal(frames[i].eth, guest_mac, 6);
	c.eisn = frames[i].seq;
	c.erx = c.eisn + 1;
	assert_int_equal(counter("flows"), 1);

	c.gseq = GUEST_ISN;
	synack = (struct seg){ .daddr = HOST, .sport = c.gport, .dport = c.rport, .seq = c.gseq,
			       .ack = c.erx, .flags = TCP_SYN | TCP_ACK,
			       .window = GUEST_SYN_WINDOW, .syn_opts = true };
	frames_clear();
	send_seg(&synack);
	c.gseq++;
	assert_true(wait_frame(0, is_ack_upto, &c, WAIT_MS) >= 0);

	/* Host -> guest */
	assert_int_equal(send(c.afd, "ping", 4, 0), 4);
	i = wait_frame(0, is_data_of, &c, WAIT_MS);
	assert_true(i >= 0);
	assert_int_equal(frames[i].seq, c.erx);
	assert_int_equal(frames[i].plen, 4);
	assert_memory_equal(frames[i].payload, "ping", 4);
	c.erx += 4;

	/* Guest -> host */
	conn_send(&c, TCP_ACK | TCP_PSH, GUEST_WINDOW, "pong!", 5);
	assert_true(wait_fd(c.afd, POLLIN, WAIT_MS));
	assert_int_equal(recv(c.afd, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_memory_equal(buf, "pong!", 5);

	assert_int_equal(usernet_hostfwd_remove(unet, false, &host), 0);
	assert_int_equal(usernet_hostfwd_remove(unet, false, &host), -ENOENT);
	/* The connection made stays. */
	assert_int_equal(counter("flows"), 1);
	conn_close(&c);
}

/* Malformed frames */

static void test_malformed(void **state)
{
	uint8_t frame[256], *ip = frame + ETH_HLEN, tcp[TCP_HLEN] = { 0 };
	uint8_t vh_only[VNET_HLEN - 2] = { 0 };
	struct iovec iov = { .iov_base = vh_only, .iov_len = sizeof(vh_only) };
	uint64_t short0 = counter("drop-short"), hdr0 = counter("drop-ip-header");
	uint64_t frag0 = counter("drop-fragment"), l4_0 = counter("drop-l4-header");
	size_t n;

	(void)state;
	/* Shorter than a vnet header. */
	usernet_input(unet, &iov, 1, true);
	assert_int_equal(counter("drop-short"), short0 + 1);

	/* Truncated: the IP total length says more than the frame holds. */
	n = build_udp(frame, 5555, HOST, 53, "truncated datagram", 18);
	guest_input(frame, n - 5);
	assert_int_equal(counter("drop-short"), short0 + 2);

	/* A bad IPv4 header checksum. */
	n = build_udp(frame, 5555, HOST, 9999, "bad checksum", 12);
	ip[10] ^= 0x55;
	guest_input(frame, n);
	assert_int_equal(counter("drop-ip-header"), hdr0 + 1);

	/* Fragments: more-fragments set, and an offset, each with a right checksum. */
	n = build_ipv4(frame, GUEST, HOST, IPPROTO_UDP, (const uint8_t *)"12345678abcd", 12,
		       IP_MF);
	guest_input(frame, n);
	n = build_ipv4(frame, GUEST, HOST, IPPROTO_UDP, (const uint8_t *)"12345678abcd", 12, 185);
	guest_input(frame, n);
	assert_int_equal(counter("drop-fragment"), frag0 + 2);

	/* A TCP data offset past the segment. */
	put16(tcp, 40020);
	put16(tcp + 2, 80);
	tcp[12] = 15 << 4;
	tcp[13] = TCP_SYN;
	n = build_ipv4(frame, GUEST, HOST, IPPROTO_TCP, tcp, sizeof(tcp), 0);
	guest_input(frame, n);
	assert_int_equal(counter("drop-l4-header"), l4_0 + 1);

	pump(20);
	assert_int_equal(nframes, 0);
	assert_int_equal(counter("flows"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_discover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_handshake_and_guest_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tcp_host_data_gso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_host_data_no_gso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_guest_fin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_host_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_guest_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_unknown_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_retransmit_rto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_dup_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_zero_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_small_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_guest_bulk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_fin_retransmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_lend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_host_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_syn_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
