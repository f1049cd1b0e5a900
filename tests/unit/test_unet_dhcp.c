// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_unet_dhcp.c - the native user-mode engine's ARP responder and DHCP server: guest
 * frames are built here byte by byte, parsed with unet_frame_parse(), answered, and every
 * reply is decoded field by field, its checksums recomputed independently (RFC 1071 by the
 * book). Hostile and truncated messages must get no reply, and ASan sees every buffer exact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

#include "usernet/arp.h"
#include "usernet/dhcp.h"
#include "usernet/packet.h"
#include "usernet/usernet.h"

#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define HDRS (ETH_HLEN + IP_HLEN + UDP_HLEN)
#define ARP_LEN 28

#define BOOTP_FIXED 236
#define BOOTP_OPTS 240
#define BOOTP_MIN 300

#define DISCOVER 1
#define OFFER 2
#define REQUEST 3
#define DECLINE 4
#define ACK 5
#define NAK 6
#define RELEASE 7
#define INFORM 8

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t host_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t dns_mac[6] = { 0x52, 0x55, 10, 0, 2, 3 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t cookie[4] = { 99, 130, 83, 99 };

static struct in_addr addr(uint32_t host_order)
{
	struct in_addr a = { .s_addr = htonl(host_order) };

	return a;
}

/* QEMU 7.2's -netdev user defaults. */
static struct usernet_config default_cfg(void)
{
	struct usernet_config cfg = {
		.net = addr(IP(10, 0, 2, 0)),
		.mask = addr(IP(255, 255, 255, 0)),
		.host = addr(IP(10, 0, 2, 2)),
		.dns = addr(IP(10, 0, 2, 3)),
		.dhcp_start = addr(IP(10, 0, 2, 15)),
		.mtu = 1500,
	};

	return cfg;
}

/* ---- ARP ---- */

static size_t arp_frame(uint8_t *b, uint16_t htype, uint16_t ptype, uint8_t hlen, uint8_t plen,
			uint16_t op, const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
	memset(b, 0, 60);
	memcpy(b, bcast_mac, 6);
	memcpy(b + 6, sha, 6);
	put16(b + 12, 0x0806);
	put16(b + 14, htype);
	put16(b + 16, ptype);
	b[18] = hlen;
	b[19] = plen;
	put16(b + 20, op);
	memcpy(b + 22, sha, 6);
	put32(b + 28, spa);
	put32(b + 38, tpa);
	return 60;
}

static size_t arp_ask(const struct usernet_config *cfg, const uint8_t *frame, size_t len,
		      uint8_t *out, size_t out_size, struct in_addr *sender)
{
	struct unet_frame f;

	assert_int_equal(unet_frame_parse(frame, len, len, &f), UNET_DROP_NONE);
	return unet_arp_answer(cfg, &f, out, out_size, sender);
}

static void check_arp_reply(const uint8_t *r, const uint8_t *our_mac, uint32_t our_ip)
{
	static const uint8_t zero[60];

	assert_memory_equal(r, guest_mac, 6);
	assert_memory_equal(r + 6, our_mac, 6);
	assert_int_equal(get16(r + 12), 0x0806);
	assert_int_equal(get16(r + 14), 1);
	assert_int_equal(get16(r + 16), 0x0800);
	assert_int_equal(r[18], 6);
	assert_int_equal(r[19], 4);
	assert_int_equal(get16(r + 20), 2);
	assert_memory_equal(r + 22, our_mac, 6);
	assert_int_equal(get32(r + 28), our_ip);
	assert_memory_equal(r + 32, guest_mac, 6);
	assert_int_equal(get32(r + 38), IP(10, 0, 2, 15));
	assert_memory_equal(r + 42, zero, 60 - 42);
}

static void test_arp_answer(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t req[60], out[UNET_ARP_FRAME_LEN];
	struct in_addr sender;
	uint8_t mac[6];

	unet_arp_mac(cfg.host, mac);
	assert_memory_equal(mac, host_mac, 6);
	unet_arp_mac(cfg.dns, mac);
	assert_memory_equal(mac, dns_mac, 6);

	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 60);
	assert_int_equal(ntohl(sender.s_addr), IP(10, 0, 2, 15));
	check_arp_reply(out, host_mac, IP(10, 0, 2, 2));

	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 3));
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), NULL), 60);
	check_arp_reply(out, dns_mac, IP(10, 0, 2, 3));

	/* A probe (sender 0.0.0.0) is answered too, and says so. */
	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, 0, IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 60);
	assert_int_equal(sender.s_addr, 0);
	assert_int_equal(get32(out + 38), 0);

	/* The 42-byte unpadded frame works the same. */
	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 42, out, sizeof(out), NULL), 60);
	check_arp_reply(out, host_mac, IP(10, 0, 2, 2));
}

static void test_arp_not_answered(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t req[60], out[UNET_ARP_FRAME_LEN];
	struct in_addr sender;

	/* Another address: not ours, but the sender is still learnt. */
	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 4));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	assert_int_equal(ntohl(sender.s_addr), IP(10, 0, 2, 15));
	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 15));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), NULL), 0);

	/* A reply, and malformed bodies, are not answered and teach nothing. */
	arp_frame(req, 1, 0x0800, 6, 4, 2, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	assert_int_equal(sender.s_addr, 0);
	arp_frame(req, 6, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	arp_frame(req, 1, 0x86dd, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	arp_frame(req, 1, 0x0800, 8, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	arp_frame(req, 1, 0x0800, 6, 16, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, sizeof(out), &sender), 0);
	assert_int_equal(sender.s_addr, 0);

	/* Too little room for the reply. */
	arp_frame(req, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(arp_ask(&cfg, req, 60, out, UNET_ARP_FRAME_LEN - 1, NULL), 0);

	/* Every body shorter than 28 bytes, in a buffer of exactly its size. */
	for (size_t len = ETH_HLEN; len < ETH_HLEN + ARP_LEN; len++) {
		uint8_t *b = malloc(len);
		struct unet_frame f;
		struct in_addr ip;
		uint8_t mac[6];

		memcpy(b, req, len);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		assert_int_equal(unet_arp_answer(&cfg, &f, out, sizeof(out), NULL), 0);
		assert_int_equal(unet_arp_sender(&f, &ip, mac), -EINVAL);
		free(b);
	}

	/* A whole body beyond what the caller has flat (avail) is not read. */
	{
		struct unet_frame f;

		assert_int_equal(unet_frame_parse(req, 60, 60, &f), UNET_DROP_NONE);
		f.avail = ETH_HLEN + ARP_LEN - 1;
		assert_int_equal(unet_arp_answer(&cfg, &f, out, sizeof(out), NULL), 0);
	}
}

static void test_arp_request_sender(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t out[UNET_ARP_FRAME_LEN], reply[60];
	static const uint8_t zero[60];
	struct unet_frame f;
	struct in_addr ip;
	uint8_t mac[6];

	assert_int_equal(unet_arp_request(&cfg, addr(IP(10, 0, 2, 15)), out, sizeof(out) - 1), 0);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(unet_arp_request(&cfg, addr(IP(10, 0, 2, 15)), out, sizeof(out)), 60);
	assert_memory_equal(out, bcast_mac, 6);
	assert_memory_equal(out + 6, host_mac, 6);
	assert_int_equal(get16(out + 12), 0x0806);
	assert_int_equal(get16(out + 14), 1);
	assert_int_equal(get16(out + 16), 0x0800);
	assert_int_equal(out[18], 6);
	assert_int_equal(out[19], 4);
	assert_int_equal(get16(out + 20), 1);
	assert_memory_equal(out + 22, host_mac, 6);
	assert_int_equal(get32(out + 28), IP(10, 0, 2, 2));
	assert_memory_equal(out + 32, zero, 6);
	assert_int_equal(get32(out + 38), IP(10, 0, 2, 15));
	assert_memory_equal(out + 42, zero, 60 - 42);

	/* Read back: the sender is the host; the request is not one the engine answers. */
	assert_int_equal(unet_frame_parse(out, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(unet_arp_sender(&f, &ip, mac), 0);
	assert_int_equal(ntohl(ip.s_addr), IP(10, 0, 2, 2));
	assert_memory_equal(mac, host_mac, 6);
	assert_int_equal(unet_arp_answer(&cfg, &f, reply, sizeof(reply), NULL), 0);

	/* The guest's reply to it teaches its MAC. */
	arp_frame(reply, 1, 0x0800, 6, 4, 2, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	memcpy(reply, host_mac, 6);
	memcpy(reply + 32, host_mac, 6);
	assert_int_equal(unet_frame_parse(reply, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(unet_arp_sender(&f, &ip, mac), 0);
	assert_int_equal(ntohl(ip.s_addr), IP(10, 0, 2, 15));
	assert_memory_equal(mac, guest_mac, 6);

	/* And a reply of the engine's, read back, names the engine's address. */
	arp_frame(reply, 1, 0x0800, 6, 4, 1, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 3));
	assert_int_equal(arp_ask(&cfg, reply, 60, out, sizeof(out), NULL), 60);
	assert_int_equal(unet_frame_parse(out, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(unet_arp_sender(&f, &ip, mac), 0);
	assert_int_equal(ntohl(ip.s_addr), IP(10, 0, 2, 3));
	assert_memory_equal(mac, dns_mac, 6);

	/* Other ops and other hardware are refused. */
	arp_frame(reply, 1, 0x0800, 6, 4, 3, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(unet_frame_parse(reply, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(unet_arp_sender(&f, &ip, mac), -EINVAL);
	arp_frame(reply, 6, 0x0800, 6, 4, 2, guest_mac, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
	assert_int_equal(unet_frame_parse(reply, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(unet_arp_sender(&f, &ip, mac), -EINVAL);
}

/* ---- DHCP ---- */

/* A BOOTREQUEST under construction. */
struct msg {
	uint8_t b[1024];
	size_t len;
};

static void msg_start(struct msg *m, const uint8_t *mac, uint32_t xid, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->b[0] = 1;
	m->b[1] = 1;
	m->b[2] = 6;
	put32(m->b + 4, xid);
	put16(m->b + 10, flags);
	memcpy(m->b + 28, mac, 6);
	memcpy(m->b + BOOTP_FIXED, cookie, 4);
	m->len = BOOTP_OPTS;
}

static void msg_opt(struct msg *m, uint8_t code, uint8_t len, const void *val)
{
	m->b[m->len++] = code;
	m->b[m->len++] = len;
	memcpy(m->b + m->len, val, len);
	m->len += len;
}

static void msg_opt_addr(struct msg *m, uint8_t code, uint32_t a)
{
	uint8_t v[4];

	put32(v, a);
	msg_opt(m, code, 4, v);
}

static void msg_end(struct msg *m)
{
	m->b[m->len++] = 255;
	if (m->len < BOOTP_MIN)
		m->len = BOOTP_MIN;
}

/* A whole message of @type: 53, 50 when @req, 55 as Linux asks, end. */
static void msg_simple(struct msg *m, const uint8_t *mac, uint8_t type, uint32_t req,
		       uint32_t ciaddr)
{
	static const uint8_t prl[] = { 1, 3, 6, 12, 15, 26, 28, 51, 54, 119 };

	msg_start(m, mac, 0x12345678, 0);
	put32(m->b + 12, ciaddr);
	msg_opt(m, 53, 1, &type);
	if (req)
		msg_opt_addr(m, 50, req);
	msg_opt(m, 55, sizeof(prl), prl);
	msg_end(m);
}

/* Ethernet, IPv4 (0.0.0.0 -> 255.255.255.255) and UDP 68 -> 67 around @blen bytes. */
static size_t wrap(uint8_t *frame, const uint8_t *mac, const uint8_t *bootp, size_t blen)
{
	uint8_t *ip = frame + ETH_HLEN, *udp = ip + IP_HLEN;

	memcpy(frame, bcast_mac, 6);
	memcpy(frame + 6, mac, 6);
	put16(frame + 12, 0x0800);
	memset(ip, 0, IP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP_HLEN + UDP_HLEN + blen));
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 16, 0xffffffff);
	put16(ip + 10, ref_fold(ref_sum(ip, IP_HLEN, 0)));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(UDP_HLEN + blen));
	put16(udp + 6, 0);
	memcpy(udp + UDP_HLEN, bootp, blen);
	return HDRS + blen;
}

/* Send @m from @mac: the frame in a buffer of exactly its size. Return: the reply's length. */
static size_t ask(struct unet_dhcp *d, const struct usernet_config *cfg, const struct msg *m,
		  const uint8_t *mac, uint8_t *out, struct in_addr *assigned)
{
	size_t len = HDRS + m->len, n;
	uint8_t *frame = malloc(len);
	struct unet_frame f;

	wrap(frame, mac, m->b, m->len);
	assert_int_equal(unet_frame_parse(frame, len, len, &f), UNET_DROP_NONE);
	n = unet_dhcp_answer(d, cfg, &f, out, UNET_DHCP_REPLY_MAX, assigned);
	free(frame);
	return n;
}

/* A reply's options, decoded: each code's value, instances joined (RFC 3396). */
struct opts {
	uint8_t val[256][1024];
	size_t len[256];
	bool has[256];
	unsigned int count[256];
};

/* Check the reply's frame, IPv4, UDP and BOOTP headers; decode its options into @o. */
static void check_reply(const uint8_t *r, size_t n, const uint8_t *mac, uint32_t yiaddr,
			uint8_t type, struct opts *o)
{
	const uint8_t *ip = r + ETH_HLEN, *udp = ip + IP_HLEN, *bootp = udp + UDP_HLEN;
	size_t blen, off;
	uint32_t sum;
	struct unet_frame f;

	assert_true(n >= HDRS + BOOTP_MIN);
	assert_true(n <= UNET_DHCP_REPLY_MAX);
	blen = n - HDRS;

	/* Ethernet */
	assert_memory_equal(r, mac, 6);
	assert_memory_equal(r + 6, host_mac, 6);
	assert_int_equal(get16(r + 12), 0x0800);
	/* IPv4 */
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), n - ETH_HLEN);
	assert_int_equal(get16(ip + 6) & 0x3fff, 0);
	assert_true(ip[8] > 0);
	assert_int_equal(ip[9], 17);
	assert_int_equal(get32(ip + 12), IP(10, 0, 2, 2));
	assert_int_equal(get32(ip + 16), 0xffffffff);
	assert_int_equal(ref_fold(ref_sum(ip, IP_HLEN, 0)), 0);
	/* UDP, its checksum over the pseudo-header */
	assert_int_equal(get16(udp), 67);
	assert_int_equal(get16(udp + 2), 68);
	assert_int_equal(get16(udp + 4), UDP_HLEN + blen);
	assert_int_not_equal(get16(udp + 6), 0);
	sum = ref_sum(ip + 12, 8, 0) + 17 + (uint32_t)(UDP_HLEN + blen);
	assert_int_equal(ref_fold(ref_sum(udp, UDP_HLEN + blen, sum)), 0);
	/* The engine's own parser takes it too. */
	assert_int_equal(unet_frame_parse(r, n, n, &f), UNET_DROP_NONE);
	assert_int_equal(f.dport, 68);
	assert_int_equal(f.payload_len, blen);

	/* BOOTP */
	assert_int_equal(bootp[0], 2);
	assert_int_equal(bootp[1], 1);
	assert_int_equal(bootp[2], 6);
	assert_int_equal(bootp[3], 0);
	assert_int_equal(get32(bootp + 16), yiaddr);
	assert_int_equal(get32(bootp + 20), type == NAK ? 0 : IP(10, 0, 2, 2));
	assert_int_equal(get32(bootp + 24), 0);
	assert_memory_equal(bootp + 28, mac, 6);
	assert_memory_equal(bootp + BOOTP_FIXED, cookie, 4);

	memset(o, 0, sizeof(*o));
	for (off = BOOTP_OPTS;;) {
		uint8_t code, len;

		assert_true(off < blen);
		code = bootp[off];
		if (code == 0) {
			off++;
			continue;
		}
		if (code == 255)
			break;
		assert_true(off + 2 <= blen);
		len = bootp[off + 1];
		assert_true(off + 2 + len <= blen);
		assert_true(o->len[code] + len <= sizeof(o->val[code]));
		memcpy(o->val[code] + o->len[code], bootp + off + 2, len);
		o->len[code] += len;
		o->has[code] = true;
		o->count[code]++;
		off += 2 + (size_t)len;
	}
	/* Only pad after the end. */
	for (off++; off < blen; off++)
		assert_int_equal(bootp[off], 0);

	assert_true(o->has[53]);
	assert_int_equal(o->len[53], 1);
	assert_int_equal(o->val[53][0], type);
	assert_int_equal(o->len[54], 4);
	assert_int_equal(get32(o->val[54]), IP(10, 0, 2, 2));
	for (unsigned int c = 0; c < 256; c++)
		if (c != 119)
			assert_true(o->count[c] <= 1);
}

/* The options of a DISCOVER's OFFER, or of a REQUEST's ACK, under @cfg. */
static void check_config(const struct opts *o, const struct usernet_config *cfg, bool lease)
{
	assert_int_equal(o->has[51], lease);
	if (lease) {
		assert_int_equal(o->len[51], 4);
		assert_int_equal(get32(o->val[51]), UNET_DHCP_LEASE_SECS);
	}
	assert_int_equal(o->len[1], 4);
	assert_int_equal(get32(o->val[1]), IP(255, 255, 255, 0));
	if (cfg->restricted) {
		assert_false(o->has[3]);
		assert_false(o->has[6]);
	} else {
		assert_int_equal(o->len[3], 4);
		assert_int_equal(get32(o->val[3]), IP(10, 0, 2, 2));
		assert_int_equal(o->len[6], 4);
		assert_int_equal(get32(o->val[6]), IP(10, 0, 2, 3));
	}
	if (cfg->mtu && cfg->mtu != 1500) {
		assert_int_equal(o->len[26], 2);
		assert_int_equal(get16(o->val[26]), cfg->mtu);
	} else {
		assert_false(o->has[26]);
	}
	if (cfg->hostname) {
		assert_int_equal(o->len[12], strlen(cfg->hostname));
		assert_memory_equal(o->val[12], cfg->hostname, o->len[12]);
	} else {
		assert_false(o->has[12]);
	}
	if (cfg->domainname) {
		assert_int_equal(o->len[15], strlen(cfg->domainname));
		assert_memory_equal(o->val[15], cfg->domainname, o->len[15]);
	} else {
		assert_false(o->has[15]);
	}
	if (!cfg->dnssearch)
		assert_false(o->has[119]);
}

static void test_dhcp_offer(void **state)
{
	static const char *const search[] = { "example.com", "corp.example.com", NULL };
	/* RFC 3397: the second name's "example.com" is a pointer to offset 0. */
	static const uint8_t search_enc[] = { 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o',
					      'm', 0, 4, 'c', 'o', 'r', 'p', 0xc0, 0 };
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 };
	uint8_t out[UNET_DHCP_REPLY_MAX];
	static struct opts o;
	struct in_addr assigned;
	struct msg m;
	size_t n;

	cfg.hostname = "guest1";
	cfg.domainname = "example.com";
	cfg.dnssearch = search;
	cfg.mtu = 65520;

	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	put32(m.b + 4, 0xdeadbeef);
	put16(m.b + 10, 0x8000);
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	assert_int_not_equal(n, 0);
	assert_int_equal(assigned.s_addr, 0); /* an OFFER assigns nothing yet */
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
	assert_int_equal(get32(out + HDRS + 4), 0xdeadbeef);
	assert_int_equal(get16(out + HDRS + 10), 0x8000);
	assert_int_equal(get32(out + HDRS + 12), 0);
	check_config(&o, &cfg, true);
	assert_int_equal(o.len[119], sizeof(search_enc));
	assert_memory_equal(o.val[119], search_enc, sizeof(search_enc));
	assert_int_equal(o.count[119], 1);
	/* What is not asked for is not there. */
	assert_false(o.has[50]);
	assert_false(o.has[55]);

	/* The default MTU is not sent; with no names, no 12, 15, 119. */
	cfg = default_cfg();
	memset(&d, 0, sizeof(d));
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
	check_config(&o, &cfg, true);
	assert_int_equal(n, HDRS + BOOTP_MIN);
}

static void test_dhcp_ack_nak(void **state)
{
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 };
	uint8_t out[UNET_DHCP_REPLY_MAX];
	static struct opts o;
	struct in_addr assigned;
	struct msg m;
	size_t n;

	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	assert_int_not_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);

	/* REQUEST with option 50 and the server id (selecting). */
	msg_start(&m, guest_mac, 0x1111, 0);
	msg_opt(&m, 53, 1, &(uint8_t){ REQUEST });
	msg_opt_addr(&m, 50, IP(10, 0, 2, 15));
	msg_opt_addr(&m, 54, IP(10, 0, 2, 2));
	msg_end(&m);
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), ACK, &o);
	check_config(&o, &cfg, true);
	assert_int_equal(ntohl(assigned.s_addr), IP(10, 0, 2, 15));
	assert_int_equal(get32(out + HDRS + 4), 0x1111);

	/* Renewing: ciaddr, no option 50; ciaddr is echoed. */
	msg_simple(&m, guest_mac, REQUEST, 0, IP(10, 0, 2, 15));
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), ACK, &o);
	assert_int_equal(get32(out + HDRS + 12), IP(10, 0, 2, 15));
	assert_int_equal(ntohl(assigned.s_addr), IP(10, 0, 2, 15));

	/* Another address, by option 50 or by ciaddr: NAK, 53 and 54 only. */
	msg_simple(&m, guest_mac, REQUEST, IP(10, 0, 2, 20), 0);
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	check_reply(out, n, guest_mac, 0, NAK, &o);
	assert_int_equal(assigned.s_addr, 0);
	for (unsigned int c = 1; c < 255; c++)
		assert_int_equal(o.has[c], c == 53 || c == 54);
	msg_simple(&m, guest_mac, REQUEST, 0, IP(192, 168, 1, 5));
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, 0, NAK, &o);

	/* The client still has its lease. */
	msg_simple(&m, guest_mac, REQUEST, IP(10, 0, 2, 15), 0);
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), ACK, &o);

	/* A REQUEST for another server's offer is not for us. */
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 53, 1, &(uint8_t){ REQUEST });
	msg_opt_addr(&m, 50, IP(10, 0, 2, 15));
	msg_opt_addr(&m, 54, IP(10, 0, 2, 99));
	msg_end(&m);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, &assigned), 0);

	/* A client rebooting with an address of the pool that is free keeps it. */
	{
		const uint8_t mac2[6] = { 0x52, 0x54, 0, 0, 0, 2 };
		const uint8_t mac3[6] = { 0x52, 0x54, 0, 0, 0, 3 };

		msg_simple(&m, mac2, REQUEST, IP(10, 0, 2, 20), 0);
		n = ask(&d, &cfg, &m, mac2, out, &assigned);
		check_reply(out, n, mac2, IP(10, 0, 2, 20), ACK, &o);
		assert_int_equal(ntohl(assigned.s_addr), IP(10, 0, 2, 20));
		/* One rebooting with an address taken by another is NAKed. */
		msg_simple(&m, mac3, REQUEST, IP(10, 0, 2, 15), 0);
		n = ask(&d, &cfg, &m, mac3, out, NULL);
		check_reply(out, n, mac3, 0, NAK, &o);
		/* ... and was given nothing: its DISCOVER gets the first free address. */
		msg_simple(&m, mac3, DISCOVER, 0, 0);
		n = ask(&d, &cfg, &m, mac3, out, NULL);
		check_reply(out, n, mac3, IP(10, 0, 2, 16), OFFER, &o);
	}

	/* INFORM: configuration, no address, no lease time. */
	msg_simple(&m, guest_mac, INFORM, 0, IP(10, 0, 2, 15));
	n = ask(&d, &cfg, &m, guest_mac, out, &assigned);
	check_reply(out, n, guest_mac, 0, ACK, &o);
	check_config(&o, &cfg, false);
	assert_int_equal(assigned.s_addr, 0);

	/* DECLINE and unknown types get nothing. */
	msg_simple(&m, guest_mac, DECLINE, IP(10, 0, 2, 15), 0);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_simple(&m, guest_mac, 42, 0, 0);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_simple(&m, guest_mac, OFFER, 0, 0);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
}

static void test_dhcp_leases(void **state)
{
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 };
	uint8_t out[UNET_DHCP_REPLY_MAX], mac[6];
	static struct opts o;
	static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0xa };
	static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0xb };
	static const uint8_t mac_c[6] = { 0x52, 0x54, 0, 0, 0, 0xc };
	struct msg m;
	size_t n;
	int i;

	msg_simple(&m, mac_a, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac_a, out, NULL);
	check_reply(out, n, mac_a, IP(10, 0, 2, 15), OFFER, &o);
	msg_simple(&m, mac_b, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac_b, out, NULL);
	check_reply(out, n, mac_b, IP(10, 0, 2, 16), OFFER, &o);
	/* The same MAC again: the same lease. */
	msg_simple(&m, mac_a, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac_a, out, NULL);
	check_reply(out, n, mac_a, IP(10, 0, 2, 15), OFFER, &o);
	msg_simple(&m, mac_a, REQUEST, IP(10, 0, 2, 15), 0);
	n = ask(&d, &cfg, &m, mac_a, out, NULL);
	check_reply(out, n, mac_a, IP(10, 0, 2, 15), ACK, &o);

	/* RELEASE: no reply, and the address goes to the next client. */
	msg_simple(&m, mac_a, RELEASE, 0, IP(10, 0, 2, 15));
	assert_int_equal(ask(&d, &cfg, &m, mac_a, out, NULL), 0);
	msg_simple(&m, mac_c, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac_c, out, NULL);
	check_reply(out, n, mac_c, IP(10, 0, 2, 15), OFFER, &o);
	msg_simple(&m, mac_a, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac_a, out, NULL);
	check_reply(out, n, mac_a, IP(10, 0, 2, 17), OFFER, &o);

	/* Fill the pool: 16 clients, .15 to .30; the 17th gets nothing. */
	memset(&d, 0, sizeof(d));
	memcpy(mac, guest_mac, 6);
	for (i = 0; i < UNET_DHCP_LEASES; i++) {
		mac[5] = (uint8_t)i;
		msg_simple(&m, mac, DISCOVER, 0, 0);
		n = ask(&d, &cfg, &m, mac, out, NULL);
		check_reply(out, n, mac, IP(10, 0, 2, 15) + (uint32_t)i, OFFER, &o);
	}
	mac[5] = 16;
	msg_simple(&m, mac, DISCOVER, 0, 0);
	assert_int_equal(ask(&d, &cfg, &m, mac, out, NULL), 0);
	msg_simple(&m, mac, REQUEST, 0, 0);
	assert_int_equal(ask(&d, &cfg, &m, mac, out, NULL), 0);
	/* Known clients are still served. */
	mac[5] = 7;
	msg_simple(&m, mac, REQUEST, IP(10, 0, 2, 22), 0);
	n = ask(&d, &cfg, &m, mac, out, NULL);
	check_reply(out, n, mac, IP(10, 0, 2, 22), ACK, &o);
	/* One leaves, the 17th comes in. */
	msg_simple(&m, mac, RELEASE, 0, IP(10, 0, 2, 22));
	assert_int_equal(ask(&d, &cfg, &m, mac, out, NULL), 0);
	mac[5] = 16;
	msg_simple(&m, mac, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, mac, out, NULL);
	check_reply(out, n, mac, IP(10, 0, 2, 22), OFFER, &o);
}

static void test_dhcp_restricted(void **state)
{
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 };
	uint8_t out[UNET_DHCP_REPLY_MAX];
	static struct opts o;
	struct msg m;
	size_t n;

	cfg.restricted = true;
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
	check_config(&o, &cfg, true);
	msg_simple(&m, guest_mac, REQUEST, IP(10, 0, 2, 15), 0);
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), ACK, &o);
	check_config(&o, &cfg, true);
}

/* Option 119 over 255 bytes is split (RFC 3396); without room, whole names are left out. */
static void test_dhcp_search_long(void **state)
{
	char names[5][80];
	const char *list[6];
	uint8_t expect[400], out[UNET_DHCP_REPLY_MAX];
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 };
	static struct opts o;
	size_t elen = 0, n;
	struct msg m;
	uint8_t v[2];

	/* Five names of 65 bytes encoded, no common suffix. */
	for (int i = 0; i < 5; i++) {
		memset(names[i], 'a' + i, 60);
		snprintf(names[i] + 60, sizeof(names[i]) - 60, ".n%d", i);
		list[i] = names[i];
		expect[elen++] = 60;
		memset(expect + elen, 'a' + i, 60);
		elen += 60;
		expect[elen++] = 2;
		expect[elen++] = 'n';
		expect[elen++] = (uint8_t)('0' + i);
		expect[elen++] = 0;
	}
	list[5] = NULL;
	assert_int_equal(elen, 5 * 65);
	cfg.dnssearch = list;

	/* The client takes 1500 bytes (option 57): all five, in two options. */
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 53, 1, &(uint8_t){ DISCOVER });
	put16(v, 1500);
	msg_opt(&m, 57, 2, v);
	msg_end(&m);
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
	assert_int_equal(o.count[119], 2);
	assert_int_equal(o.len[119], elen);
	assert_memory_equal(o.val[119], expect, elen);
	assert_true(n - ETH_HLEN <= 1500);

	/* 576 bytes of IP: four names fit (264 bytes of options for them). */
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	n = ask(&d, &cfg, &m, guest_mac, out, NULL);
	check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
	assert_true(n - ETH_HLEN <= 576);
	assert_int_equal(o.count[119], 2);
	assert_int_equal(o.len[119], 4 * 65);
	assert_memory_equal(o.val[119], expect, 4 * 65);

	/* Invalid names are left out; duplicates and shared suffixes become pointers. */
	{
		static const char *const odd[] = { "a..b", "", ".", "x.", "x", "y.x", "b.y.x",
						   "Y.x", NULL };
		static const uint8_t enc[] = { 1, 'x', 0, 0xc0, 0, 1, 'y', 0xc0, 0,
					       1, 'b', 0xc0, 5, 1, 'Y', 0xc0, 0 };

		cfg.dnssearch = odd;
		msg_simple(&m, guest_mac, DISCOVER, 0, 0);
		n = ask(&d, &cfg, &m, guest_mac, out, NULL);
		check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
		assert_int_equal(o.len[119], sizeof(enc));
		assert_memory_equal(o.val[119], enc, sizeof(enc));
	}
}

/* Malformed requests: no reply, and no lease taken. */
static void test_dhcp_malformed(void **state)
{
	struct usernet_config cfg = default_cfg();
	struct unet_dhcp d = { 0 }, zero = { 0 };
	uint8_t out[UNET_DHCP_REPLY_MAX];
	struct msg m;

	/* Bad cookie, BOOTREPLY, other hardware, no option 53, 53 of the wrong length. */
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	m.b[BOOTP_FIXED + 3] = 98;
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	m.b[0] = 2;
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	m.b[1] = 6;
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	m.b[2] = 16;
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 12, 3, "abc");
	msg_end(&m);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 53, 2, (uint8_t[]){ DISCOVER, 0 });
	msg_end(&m);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);

	/* An option running past the end: its length, or its length byte, beyond. */
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 53, 1, &(uint8_t){ DISCOVER });
	m.len = BOOTP_MIN;
	m.b[BOOTP_MIN - 3] = 12;
	m.b[BOOTP_MIN - 2] = 2; /* 2 bytes but 1 left */
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	m.b[BOOTP_MIN - 2] = 1; /* fits exactly: no end option, still taken */
	assert_int_not_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	memset(&d, 0, sizeof(d));
	m.b[BOOTP_MIN - 3] = 0;
	m.b[BOOTP_MIN - 2] = 0;
	m.b[BOOTP_MIN - 1] = 12; /* a code, no length */
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	/* ... but pad and an early end are fine, and what follows the end is not read. */
	m.b[BOOTP_MIN - 1] = 0;
	m.b[BOOTP_MIN - 10] = 255;
	m.b[BOOTP_MIN - 3] = 12;
	m.b[BOOTP_MIN - 2] = 200;
	assert_int_not_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	memset(&d, 0, sizeof(d));

	/* Option 50 of the wrong length. */
	msg_start(&m, guest_mac, 1, 0);
	msg_opt(&m, 53, 1, &(uint8_t){ REQUEST });
	msg_opt(&m, 50, 3, (uint8_t[]){ 10, 0, 2 });
	msg_end(&m);
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);

	/* Shorter than the fixed header and cookie. */
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	m.len = BOOTP_OPTS - 1;
	assert_int_equal(ask(&d, &cfg, &m, guest_mac, out, NULL), 0);
	assert_memory_equal(&d, &zero, sizeof(d));

	/* A body beyond what the caller has flat (avail < len) is not read. */
	{
		uint8_t frame[HDRS + BOOTP_MIN];
		struct unet_frame f;

		msg_simple(&m, guest_mac, DISCOVER, 0, 0);
		wrap(frame, guest_mac, m.b, m.len);
		assert_int_equal(unet_frame_parse(frame, 256, sizeof(frame), &f), UNET_DROP_NONE);
		assert_int_equal(unet_dhcp_answer(&d, &cfg, &f, out, sizeof(out), NULL), 0);
		/* Not to port 67; and too little room to answer. */
		assert_int_equal(unet_frame_parse(frame, sizeof(frame), sizeof(frame), &f),
				 UNET_DROP_NONE);
		f.dport = 68;
		assert_int_equal(unet_dhcp_answer(&d, &cfg, &f, out, sizeof(out), NULL), 0);
		f.dport = 67;
		assert_int_equal(unet_dhcp_answer(&d, &cfg, &f, out, HDRS + BOOTP_MIN - 1, NULL),
				 0);
		assert_memory_equal(&d, &zero, sizeof(d));
		assert_int_equal(unet_dhcp_answer(&d, &cfg, &f, out, HDRS + BOOTP_MIN, NULL),
				 HDRS + BOOTP_MIN);
	}
}

/* Every truncation of a DISCOVER: the frame cut short, or the message cut with headers
 * that agree. Each gets no reply or a whole valid one. */
static void test_dhcp_truncated(void **state)
{
	static const char *const search[] = { "example.com", "corp.example.com", NULL };
	struct usernet_config cfg = default_cfg();
	uint8_t out[UNET_DHCP_REPLY_MAX], full[HDRS + 1024];
	struct unet_dhcp d = { 0 };
	static struct opts o;
	size_t len, n, cut;
	struct msg m;
	int replies = 0;

	cfg.hostname = "guest";
	cfg.dnssearch = search;
	msg_simple(&m, guest_mac, DISCOVER, 0, 0);
	len = wrap(full, guest_mac, m.b, m.len);

	for (cut = len; cut-- > 0;) {
		uint8_t *b = malloc(cut ? cut : 1);
		struct unet_frame f;

		memcpy(b, full, cut);
		if (unet_frame_parse(b, cut, cut, &f) == UNET_DROP_NONE && f.ethertype == 0x0800 &&
		    f.proto == 17) {
			n = unet_dhcp_answer(&d, &cfg, &f, out, sizeof(out), NULL);
			if (n)
				check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
			replies += n != 0;
		}
		free(b);
	}
	assert_int_equal(replies, 0); /* the IP length says more than is there */

	/* The message itself cut: with 53 whole and options ending on a boundary, a reply. */
	for (cut = m.len + 1; cut-- > 0;) {
		uint8_t *b = malloc(HDRS + cut);
		struct unet_frame f;

		wrap(b, guest_mac, m.b, cut);
		assert_int_equal(unet_frame_parse(b, HDRS + cut, HDRS + cut, &f), UNET_DROP_NONE);
		n = unet_dhcp_answer(&d, &cfg, &f, out, sizeof(out), NULL);
		if (n) {
			check_reply(out, n, guest_mac, IP(10, 0, 2, 15), OFFER, &o);
			check_config(&o, &cfg, true);
		}
		/* 53 ends at 243; 55 (12 bytes) at 255; the end option at 256. */
		if (cut < 243 || (cut > 243 && cut < 255))
			assert_int_equal(n, 0);
		else
			assert_int_not_equal(n, 0);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_answer),
		cmocka_unit_test(test_arp_not_answered),
		cmocka_unit_test(test_arp_request_sender),
		cmocka_unit_test(test_dhcp_offer),
		cmocka_unit_test(test_dhcp_ack_nak),
		cmocka_unit_test(test_dhcp_leases),
		cmocka_unit_test(test_dhcp_restricted),
		cmocka_unit_test(test_dhcp_search_long),
		cmocka_unit_test(test_dhcp_malformed),
		cmocka_unit_test(test_dhcp_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
