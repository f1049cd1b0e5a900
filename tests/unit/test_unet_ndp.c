// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_unet_ndp.c - the native user-mode engine's IPv6 neighbour discovery and stateless
 * DHCPv6 server: guest frames are built here byte by byte (ICMPv6 and UDP checksums computed
 * here, RFC 1071 by the book), parsed with unet_frame_parse(), answered, and every answer is
 * decoded field by field and option by option, its checksum recomputed. Invalid, hostile and
 * truncated messages must get no answer, and ASan sees every buffer exact.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

#include "usernet/dhcpv6.h"
#include "usernet/ndp.h"
#include "usernet/packet.h"
#include "usernet/usernet.h"

#define ETH_HLEN 14
#define IP6_HLEN 40
#define UDP_HLEN 8
#define HDRS (ETH_HLEN + IP6_HLEN)
#define FRAME_MAX 1600

#define ICMP6 58
#define RS 133
#define RA 134
#define NS 135
#define NA 136

#define OPT_SLLA 1
#define OPT_TLLA 2
#define OPT_PREFIX 3
#define OPT_MTU 5
#define OPT_RDNSS 25

#define INFO_REQ 11
#define REPLY 7
#define D6_CLIENTID 1
#define D6_SERVERID 2
#define D6_IA_NA 3
#define D6_ORO 6
#define D6_ELAPSED 8
#define D6_DNS 23
#define D6_DOMAINS 24

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t eng_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
static const uint8_t all_routers_mac[6] = { 0x33, 0x33, 0, 0, 0, 2 };
static const uint8_t dhcp_mcast_mac[6] = { 0x33, 0x33, 0, 1, 0, 2 };

/* The engine's link-local, by hand: fe80::5055:aff:fe00:202 (U/L bit of 0x52 flipped). */
static const uint8_t eng_ll[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				    0x50, 0x55, 0x0a, 0xff, 0xfe, 0x00, 0x02, 0x02 };
static const uint8_t guest_ll[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				      0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56 };
static const uint8_t unspec[16];
static const uint8_t all_nodes[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t all_routers[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t dhcp_servers[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2 };
static const uint8_t prefix6[16] = { 0xfe, 0xc0 };
static const uint8_t host6[16] = { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t dns6[16] = { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3 };
static const uint8_t guest6[16] = { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0x00, 0xff,
				    0xfe, 0x12, 0x34, 0x56 };
static const char *const search[] = { "example.com", "corp.example.com.", NULL };

/* The RFC 8200 8.1 pseudo-header of the IPv6 header at @ip, by the book. */
static uint32_t ref_pseudo(const uint8_t *ip, uint8_t nh, size_t len)
{
	return ref_sum(ip + 8, 32, 0) + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + nh;
}

/* QEMU's -netdev user,ipv6=on defaults. */
static struct usernet_config default_cfg(void)
{
	struct usernet_config cfg = {
		.net = { htonl(0x0a000200) },
		.mask = { htonl(0xffffff00) },
		.host = { htonl(0x0a000202) },
		.dns = { htonl(0x0a000203) },
		.dhcp_start = { htonl(0x0a00020f) },
		.mtu = 1500,
		.dnssearch = search,
		.ipv6 = true,
		.prefix6_len = 64,
	};

	memcpy(&cfg.prefix6, prefix6, 16);
	memcpy(&cfg.host6, host6, 16);
	memcpy(&cfg.dns6, dns6, 16);
	return cfg;
}

/*
 * An Ethernet + IPv6 frame from the guest carrying @l4 (@l4len bytes, next header @nh) with
 * hop limit @hops; for ICMPv6 the checksum at @l4 + 2 is set by the book. Return: its length
 */
static size_t ip6_frame(uint8_t *b, const uint8_t *eth_dst, const uint8_t *src,
			const uint8_t *dst, uint8_t hops, uint8_t nh, const uint8_t *l4,
			size_t l4len)
{
	memset(b, 0, FRAME_MAX);
	memcpy(b, eth_dst, 6);
	memcpy(b + 6, guest_mac, 6);
	put16(b + 12, 0x86dd);
	b[14] = 0x60;
	put16(b + 18, (uint16_t)l4len);
	b[20] = nh;
	b[21] = hops;
	memcpy(b + 22, src, 16);
	memcpy(b + 38, dst, 16);
	memcpy(b + HDRS, l4, l4len);
	if (nh == ICMP6) {
		uint32_t sum = ref_pseudo(b + 14, nh, l4len);

		put16(b + HDRS + 2, 0);
		put16(b + HDRS + 2, ref_fold(ref_sum(b + HDRS, l4len, sum)));
	}
	return HDRS + l4len;
}

/* Parse @b's first @avail of @len bytes (must be accepted) and ask for the NDP answer. */
static size_t ndp_ask(const struct usernet_config *cfg, const uint8_t *b, size_t avail,
		      size_t len, uint8_t *out, size_t out_size)
{
	struct unet_frame f;
	uint8_t *copy = malloc(avail);
	size_t n;

	/* A copy of exactly @avail bytes: ASan sees any read past them. */
	memcpy(copy, b, avail);
	assert_int_equal(unet_frame_parse(copy, avail, len, &f), UNET_DROP_NONE);
	n = unet_ndp_answer(cfg, eng_mac, &f, out, out_size);
	free(copy);
	return n;
}

/* An answer must be an IPv6 ICMPv6 frame from us, hop limit 255, checksum right by the book.
 * Return: where its ICMPv6 message starts. */
static const uint8_t *check_icmp6_answer(const uint8_t *out, size_t n, const uint8_t *eth_dst,
					 const uint8_t *src, const uint8_t *dst, uint8_t type)
{
	struct unet_frame r;
	const uint8_t *icmp = out + HDRS;

	assert_true(n >= HDRS + 8);
	assert_int_equal(unet_frame_parse(out, n, n, &r), UNET_DROP_NONE);
	assert_memory_equal(out, eth_dst, 6);
	assert_memory_equal(out + 6, eng_mac, 6);
	assert_int_equal(get16(out + 12), 0x86dd);
	assert_int_equal(get32(out + 14), 0x60000000); /* version, class 0, label 0 */
	assert_int_equal(get16(out + 18), n - HDRS);
	assert_int_equal(out[20], ICMP6);
	assert_int_equal(out[21], 255);
	assert_memory_equal(out + 22, src, 16);
	assert_memory_equal(out + 38, dst, 16);
	assert_int_equal(r.l4_len, n - HDRS);
	assert_int_equal(ref_fold(ref_sum(icmp, n - HDRS, ref_pseudo(out + 14, ICMP6, n - HDRS))),
			 0);
	assert_int_equal(icmp[0], type);
	assert_int_equal(icmp[1], 0);
	return icmp;
}

/* A router solicitation, with a source link-layer address option unless @slla is false. */
static size_t rs_body(uint8_t *m, bool slla)
{
	memset(m, 0, 16);
	m[0] = RS;
	if (!slla)
		return 8;
	m[8] = OPT_SLLA;
	m[9] = 1;
	memcpy(m + 10, guest_mac, 6);
	return 16;
}

/* A neighbour solicitation for @target, with the source link-layer address option. */
static size_t ns_body(uint8_t *m, const uint8_t *target, bool slla)
{
	memset(m, 0, 32);
	m[0] = NS;
	memcpy(m + 8, target, 16);
	if (!slla)
		return 24;
	m[24] = OPT_SLLA;
	m[25] = 1;
	memcpy(m + 26, guest_mac, 6);
	return 32;
}

/* The solicited-node multicast address of @a (RFC 4291 2.7.1). */
static void solicited_node(const uint8_t *a, uint8_t *sn)
{
	static const uint8_t pfx[13] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff };

	memcpy(sn, pfx, 13);
	memcpy(sn + 13, a + 13, 3);
}

/*
 * A router advertisement's fixed part and every option, decoded: @mtu 0 means no MTU
 * option is expected; @prefix, @plen the prefix information.
 */
static void check_ra(const uint8_t *ra, size_t len, unsigned int mtu, const uint8_t *prefix,
		     uint8_t plen)
{
	bool seen_slla = false, seen_mtu = false, seen_prefix = false, seen_rdnss = false;
	size_t off;

	assert_true(len >= 16);
	assert_int_equal(ra[4], 64);	 /* cur hop limit */
	assert_int_equal(ra[5], 0x40);	 /* M clear, O set */
	assert_int_equal(get16(ra + 6), UNET_NDP_ROUTER_LIFETIME);
	assert_int_equal(get32(ra + 8), 0);  /* reachable time */
	assert_int_equal(get32(ra + 12), 0); /* retrans timer */
	for (off = 16; off < len;) {
		const uint8_t *o = ra + off;
		size_t olen;

		assert_true(len - off >= 2);
		olen = (size_t)o[1] * 8;
		assert_true(olen > 0 && olen <= len - off);
		switch (o[0]) {
		case OPT_SLLA:
			assert_false(seen_slla);
			seen_slla = true;
			assert_int_equal(olen, 8);
			assert_memory_equal(o + 2, eng_mac, 6);
			break;
		case OPT_MTU:
			assert_false(seen_mtu);
			seen_mtu = true;
			assert_int_equal(olen, 8);
			assert_int_equal(get16(o + 2), 0);
			assert_int_equal(get32(o + 4), mtu);
			break;
		case OPT_PREFIX:
			assert_false(seen_prefix);
			seen_prefix = true;
			assert_int_equal(olen, 32);
			assert_int_equal(o[2], plen);
			assert_int_equal(o[3], 0xc0); /* on-link, autonomous */
			assert_int_equal(get32(o + 4), UNET_NDP_PREFIX_VALID);
			assert_int_equal(get32(o + 8), UNET_NDP_PREFIX_PREFERRED);
			assert_int_equal(get32(o + 12), 0);
			assert_memory_equal(o + 16, prefix, 16);
			break;
		case OPT_RDNSS:
			assert_false(seen_rdnss);
			seen_rdnss = true;
			assert_int_equal(olen, 24);
			assert_int_equal(get16(o + 2), 0);
			assert_int_equal(get32(o + 4), 1800);
			assert_memory_equal(o + 8, dns6, 16);
			break;
		default:
			fail_msg("unexpected option %u", o[0]);
		}
		off += olen;
	}
	assert_int_equal(off, len);
	assert_true(seen_slla && seen_prefix && seen_rdnss);
	assert_int_equal(seen_mtu, mtu != 0);
}

static void test_link_local(void **state)
{
	static const uint8_t local_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
	static const uint8_t local_ll[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
					      0x00, 0x00, 0x5e, 0xff, 0xfe, 0x10, 0x20, 0x30 };
	struct in6_addr ll;

	memset(&ll, 0xaa, sizeof(ll));
	unet_ndp_link_local(eng_mac, &ll);
	assert_memory_equal(&ll, eng_ll, 16);
	unet_ndp_link_local(local_mac, &ll);
	assert_memory_equal(&ll, local_ll, 16);
}

static void test_rs_ra(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_NDP_FRAME_MAX], m[64];
	size_t len, n;
	const uint8_t *ra;

	/* From the guest's link-local, with its link-layer address: unicast back. */
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, rs_body(m, true));
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	assert_int_equal(n, HDRS + 16 + 8 + 8 + 32 + 24);
	ra = check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA);
	check_ra(ra, n - HDRS, 1500, prefix6, 64);

	/* Without the option, too. */
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m,
			rs_body(m, false));
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	ra = check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA);
	check_ra(ra, n - HDRS, 1500, prefix6, 64);

	/* From ::, to every node. */
	len = ip6_frame(b, all_routers_mac, unspec, all_routers, 255, ICMP6, m, rs_body(m, false));
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	ra = check_icmp6_answer(out, n, all_nodes_mac, eng_ll, all_nodes, RA);
	check_ra(ra, n - HDRS, 1500, prefix6, 64);

	/* The room it needs, and one byte less. */
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, rs_body(m, true));
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, HDRS + 88), HDRS + 88);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, HDRS + 87), 0);
}

static void test_ra_config(void **state)
{
	struct usernet_config cfg = default_cfg();
	static const uint8_t odd[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0xff, 0xff,
					 0, 0, 0, 0, 0, 0, 0, 0x99 };
	static const uint8_t odd48[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01 };
	static const uint8_t odd60[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0xff, 0xf0 };
	uint8_t b[FRAME_MAX], out[UNET_NDP_FRAME_MAX], m[64];
	size_t len, n;
	const uint8_t *ra;

	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, rs_body(m, true));

	/* A jumbo MTU; none below IPv6's minimum (the option left out). */
	cfg.mtu = 9000;
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	check_ra(check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA), n - HDRS, 9000,
		 prefix6, 64);
	cfg.mtu = 1279;
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	assert_int_equal(n, HDRS + 80);
	check_ra(check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA), n - HDRS, 0, prefix6,
		 64);
	cfg.mtu = 1500;

	/* Bits past the prefix length are cleared, within a byte too. */
	memcpy(&cfg.prefix6, odd, 16);
	cfg.prefix6_len = 48;
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	ra = check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA);
	check_ra(ra, n - HDRS, 1500, odd48, 48);
	cfg.prefix6_len = 60;
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	ra = check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA);
	check_ra(ra, n - HDRS, 1500, odd60, 60);
	cfg.prefix6_len = 128;
	n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
	check_ra(check_icmp6_answer(out, n, guest_mac, eng_ll, guest_ll, RA), n - HDRS, 1500, odd,
		 128);

	/* IPv6 off: nothing. */
	cfg = default_cfg();
	cfg.ipv6 = false;
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
}

static void test_rs_invalid(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_NDP_FRAME_MAX], m[64];
	size_t len, ml;

	/* Not from the link: hop limit below 255. */
	ml = rs_body(m, true);
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 254, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 1, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* A code other than 0. */
	m[1] = 1;
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[1] = 0;
	/* A wrong checksum. */
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, ml);
	b[HDRS + 3] ^= 0x10;
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* From :: with a link-layer address option (RFC 4861 6.1.1). */
	len = ip6_frame(b, all_routers_mac, unspec, all_routers, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* From a multicast address. */
	len = ip6_frame(b, all_routers_mac, all_nodes, all_routers, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* An option of length 0, and one running past the message. */
	m[9] = 0;
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[9] = 2;
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* A lone option byte after the header. */
	m[9] = 1;
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, 9);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* Only part of the message handed over: every cut gets nothing, the whole an answer. */
	len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, m, ml);
	for (size_t avail = HDRS + 8; avail < len; avail++)
		assert_int_equal(ndp_ask(&cfg, b, avail, len, out, sizeof(out)), 0);
	assert_int_not_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* Other messages: a router or neighbour advertisement, an echo request. */
	m[0] = RA;
	len = ip6_frame(b, all_nodes_mac, guest_ll, all_nodes, 255, ICMP6, m, 16);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[0] = NA;
	len = ip6_frame(b, all_nodes_mac, guest_ll, all_nodes, 255, ICMP6, m, 24);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[0] = UNET_ICMP6_ECHO;
	len = ip6_frame(b, eng_mac, guest_ll, eng_ll, 255, ICMP6, m, 16);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
}

static void test_unsolicited_ra(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t out[UNET_NDP_FRAME_MAX];
	size_t n = unet_ndp_advertise(&cfg, eng_mac, out, sizeof(out));

	assert_int_equal(n, HDRS + 88);
	check_ra(check_icmp6_answer(out, n, all_nodes_mac, eng_ll, all_nodes, RA), n - HDRS, 1500,
		 prefix6, 64);
	assert_int_equal(unet_ndp_advertise(&cfg, eng_mac, out, n - 1), 0);
	assert_int_equal(unet_ndp_advertise(&cfg, eng_mac, out, 0), 0);
}

/* A solicited neighbour advertisement for @target, decoded. */
static void check_na(const uint8_t *out, size_t n, const uint8_t *target, const uint8_t *dst)
{
	const uint8_t *na;

	assert_int_equal(n, HDRS + 32);
	na = check_icmp6_answer(out, n, guest_mac, target, dst, NA);
	assert_int_equal(na[4], 0xe0); /* router, solicited, override */
	assert_int_equal(na[5], 0);
	assert_int_equal(get16(na + 6), 0);
	assert_memory_equal(na + 8, target, 16);
	assert_int_equal(na[24], OPT_TLLA);
	assert_int_equal(na[25], 1);
	assert_memory_equal(na + 26, eng_mac, 6);
}

static void test_ns_na(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_NDP_FRAME_MAX], m[64], sn[16];
	const uint8_t *targets[3] = { host6, dns6, eng_ll };
	size_t len, n;

	for (int i = 0; i < 3; i++) {
		solicited_node(targets[i], sn);
		/* Address resolution, from the guest's global and link-local addresses. */
		len = ip6_frame(b, all_nodes_mac, guest6, sn, 255, ICMP6, m,
				ns_body(m, targets[i], true));
		n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
		check_na(out, n, targets[i], guest6);
		len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m,
				ns_body(m, targets[i], true));
		n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
		check_na(out, n, targets[i], guest_ll);
		/* Reachability, unicast and without the option. */
		len = ip6_frame(b, eng_mac, guest_ll, targets[i], 255, ICMP6, m,
				ns_body(m, targets[i], false));
		n = ndp_ask(&cfg, b, len, len, out, sizeof(out));
		check_na(out, n, targets[i], guest_ll);
		/* Room for it, and not. */
		assert_int_equal(ndp_ask(&cfg, b, len, len, out, HDRS + 32), HDRS + 32);
		assert_int_equal(ndp_ask(&cfg, b, len, len, out, HDRS + 31), 0);
	}
}

static void test_ns_invalid(void **state)
{
	struct usernet_config cfg = default_cfg();
	static const uint8_t other[16] = { 0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4 };
	uint8_t b[FRAME_MAX], out[UNET_NDP_FRAME_MAX], m[64], sn[16];
	size_t len, ml;

	/* Not one of ours: another address, the guest's own, the prefix's. */
	solicited_node(other, sn);
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ns_body(m, other, true));
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ns_body(m, guest6, true));
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ns_body(m, unspec, true));
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	solicited_node(host6, sn);
	ml = ns_body(m, host6, true);
	/* Hop limit below 255. */
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 254, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 64, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* Duplicate address detection, from :: (without the option, as it must be sent). */
	len = ip6_frame(b, all_nodes_mac, unspec, sn, 255, ICMP6, m, ns_body(m, host6, false));
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* A code other than 0; a wrong checksum. */
	m[1] = 3;
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[1] = 0;
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ml);
	b[HDRS + 2] ^= 1;
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* Shorter than a solicitation: no whole target. */
	for (size_t k = 8; k < 24; k++) {
		len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, k);
		assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	}
	/* Options: of length 0, past the end, a lone byte. */
	m[25] = 0;
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[25] = 2;
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ml);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	m[25] = 1;
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, 25);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* Truncated: every cut of what is handed over gets nothing. */
	len = ip6_frame(b, all_nodes_mac, guest_ll, sn, 255, ICMP6, m, ml);
	for (size_t avail = HDRS + 8; avail < len; avail++)
		assert_int_equal(ndp_ask(&cfg, b, avail, len, out, sizeof(out)), 0);
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), HDRS + 32);

	/* IPv6 off. */
	cfg.ipv6 = false;
	assert_int_equal(ndp_ask(&cfg, b, len, len, out, sizeof(out)), 0);
}

/* ---- DHCPv6 ---- */

/* A DUID-LLT of the guest: type 1, hardware type 1, time, MAC. */
static const uint8_t client_duid[14] = { 0, 1, 0, 1, 0x2b, 0x3c, 0x4d, 0x5e,
					 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Append option @code with @len bytes of @val at @m + *@off. */
static void d6_opt(uint8_t *m, size_t *off, uint16_t code, const void *val, size_t len)
{
	put16(m + *off, code);
	put16(m + *off + 2, (uint16_t)len);
	memcpy(m + *off + 4, val, len);
	*off += 4 + len;
}

/* An INFORMATION-REQUEST as dhclient -6 -S sends it: client id, ORO (23, 24), elapsed time. */
static size_t d6_info_req(uint8_t *m, uint8_t type, bool client_id)
{
	static const uint8_t oro[4] = { 0, D6_DNS, 0, D6_DOMAINS };
	static const uint8_t elapsed[2] = { 0, 0 };
	size_t off = 4;

	m[0] = type;
	m[1] = 0xab, m[2] = 0xcd, m[3] = 0xef;
	if (client_id)
		d6_opt(m, &off, D6_CLIENTID, client_duid, sizeof(client_duid));
	d6_opt(m, &off, D6_ORO, oro, sizeof(oro));
	d6_opt(m, &off, D6_ELAPSED, elapsed, sizeof(elapsed));
	return off;
}

/* A UDP datagram from the guest's link-local 546 to ff02::1:2 547, checksum by the book. */
static size_t d6_frame(uint8_t *b, const uint8_t *src, const uint8_t *msg, size_t msglen)
{
	uint8_t udp[FRAME_MAX];
	size_t len;

	put16(udp, 546);
	put16(udp + 2, 547);
	put16(udp + 4, (uint16_t)(8 + msglen));
	put16(udp + 6, 0);
	memcpy(udp + 8, msg, msglen);
	len = ip6_frame(b, dhcp_mcast_mac, src, dhcp_servers, 1, IPPROTO_UDP, udp, 8 + msglen);
	put16(b + HDRS + 6, ref_fold(ref_sum(b + HDRS, 8 + msglen,
					     ref_pseudo(b + 14, IPPROTO_UDP, 8 + msglen))));
	return len;
}

static size_t d6_ask(const struct usernet_config *cfg, const uint8_t *b, size_t avail,
		     size_t len, uint8_t *out, size_t out_size)
{
	struct unet_frame f;
	uint8_t *copy = malloc(avail);
	size_t n;

	memcpy(copy, b, avail);
	assert_int_equal(unet_frame_parse(copy, avail, len, &f), UNET_DROP_NONE);
	n = unet_dhcpv6_answer(cfg, eng_mac, &f, out, out_size);
	free(copy);
	return n;
}

/**
 * struct d6_reply - a REPLY's options, decoded
 * @client_id:	option 1's value (NULL: absent)
 * @client_id_len: its length
 * @domains:	option 24's value (NULL: absent)
 * @domains_len: its length
 */
struct d6_reply {
	const uint8_t *client_id;
	size_t client_id_len;
	const uint8_t *domains;
	size_t domains_len;
};

/*
 * Check a reply frame whole: Ethernet, IPv6 from our link-local to the guest's, UDP 547 ->
 * 546 with its checksum by the book, REPLY with the transaction id; options 2 and 23 checked
 * here, 1 and 24 handed back in @r.
 */
static void check_d6_reply(const uint8_t *out, size_t n, struct d6_reply *r)
{
	static const uint8_t server_duid[10] = { 0, 3, 0, 1, 0x52, 0x55, 10, 0, 2, 2 };
	bool seen_server = false, seen_dns = false;
	const uint8_t *udp = out + HDRS, *msg = udp + 8;
	struct unet_frame f;
	size_t off, mlen;

	memset(r, 0, sizeof(*r));
	assert_true(n >= HDRS + 8 + 4 && n <= UNET_DHCPV6_REPLY_MAX);
	assert_int_equal(unet_frame_parse(out, n, n, &f), UNET_DROP_NONE);
	assert_memory_equal(out, guest_mac, 6);
	assert_memory_equal(out + 6, eng_mac, 6);
	assert_int_equal(get16(out + 12), 0x86dd);
	assert_int_equal(get32(out + 14), 0x60000000);
	assert_int_equal(get16(out + 18), n - HDRS);
	assert_int_equal(out[20], IPPROTO_UDP);
	assert_int_equal(out[21], 64);
	assert_memory_equal(out + 22, eng_ll, 16);
	assert_memory_equal(out + 38, guest_ll, 16);
	assert_int_equal(get16(udp), 547);
	assert_int_equal(get16(udp + 2), 546);
	assert_int_equal(get16(udp + 4), n - HDRS);
	assert_int_not_equal(get16(udp + 6), 0);
	assert_int_equal(ref_fold(ref_sum(udp, n - HDRS, ref_pseudo(out + 14, IPPROTO_UDP,
								    n - HDRS))),
			 0);
	assert_int_equal(f.payload_off, HDRS + 8);
	assert_int_equal(f.payload_len, n - HDRS - 8);

	mlen = n - HDRS - 8;
	assert_int_equal(msg[0], REPLY);
	assert_int_equal(msg[1], 0xab);
	assert_int_equal(msg[2], 0xcd);
	assert_int_equal(msg[3], 0xef);
	for (off = 4; off < mlen;) {
		uint16_t code, olen;

		assert_true(mlen - off >= 4);
		code = get16(msg + off);
		olen = get16(msg + off + 2);
		assert_true(olen <= mlen - off - 4);
		switch (code) {
		case D6_CLIENTID:
			assert_null(r->client_id);
			r->client_id = msg + off + 4;
			r->client_id_len = olen;
			break;
		case D6_SERVERID:
			assert_false(seen_server);
			seen_server = true;
			assert_int_equal(olen, sizeof(server_duid));
			assert_memory_equal(msg + off + 4, server_duid, sizeof(server_duid));
			break;
		case D6_DNS:
			assert_false(seen_dns);
			seen_dns = true;
			assert_int_equal(olen, 16);
			assert_memory_equal(msg + off + 4, dns6, 16);
			break;
		case D6_DOMAINS:
			assert_null(r->domains);
			r->domains = msg + off + 4;
			r->domains_len = olen;
			break;
		default:
			fail_msg("unexpected option %u", code);
		}
		off += 4 + (size_t)olen;
	}
	assert_int_equal(off, mlen);
	assert_true(seen_server && seen_dns);
}

static void test_dhcpv6_info(void **state)
{
	static const uint8_t names[] = "\x07" "example" "\x03" "com" "\x00"
				       "\x04" "corp" "\x07" "example" "\x03" "com" "\x00";
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_DHCPV6_REPLY_MAX], m[512];
	struct d6_reply r;
	size_t len, n;

	len = d6_frame(b, guest_ll, m, d6_info_req(m, INFO_REQ, true));
	n = d6_ask(&cfg, b, len, len, out, sizeof(out));
	check_d6_reply(out, n, &r);
	assert_non_null(r.client_id);
	assert_int_equal(r.client_id_len, sizeof(client_duid));
	assert_memory_equal(r.client_id, client_duid, sizeof(client_duid));
	assert_non_null(r.domains);
	assert_int_equal(r.domains_len, sizeof(names) - 1);
	assert_memory_equal(r.domains, names, sizeof(names) - 1);
	/* Option order: 1, 2, 23, 24 - and nothing else. */
	assert_int_equal(n, HDRS + 8 + 4 + 18 + 14 + 20 + 4 + sizeof(names) - 1);

	/* No client identifier: none echoed. No search list: no option 24. */
	len = d6_frame(b, guest_ll, m, d6_info_req(m, INFO_REQ, false));
	cfg.dnssearch = NULL;
	n = d6_ask(&cfg, b, len, len, out, sizeof(out));
	check_d6_reply(out, n, &r);
	assert_null(r.client_id);
	assert_null(r.domains);
	assert_int_equal(n, HDRS + 8 + 4 + 14 + 20);

	/* A bare message, no options at all; our own server identifier named. */
	{
		static const uint8_t bare[4] = { INFO_REQ, 0xab, 0xcd, 0xef };
		static const uint8_t ours[10] = { 0, 3, 0, 1, 0x52, 0x55, 10, 0, 2, 2 };
		size_t off = 4;

		len = d6_frame(b, guest_ll, bare, sizeof(bare));
		n = d6_ask(&cfg, b, len, len, out, sizeof(out));
		check_d6_reply(out, n, &r);
		memcpy(m, bare, 4);
		d6_opt(m, &off, D6_SERVERID, ours, sizeof(ours));
		len = d6_frame(b, guest_ll, m, off);
		n = d6_ask(&cfg, b, len, len, out, sizeof(out));
		check_d6_reply(out, n, &r);
	}

	/* Names that do not encode are left out; a trailing dot is fine. */
	{
		static const char *const odd[] = { "", "a..b", ".", "x.", NULL };
		static const uint8_t x[] = "\x01x";

		cfg.dnssearch = odd;
		len = d6_frame(b, guest_ll, m, d6_info_req(m, INFO_REQ, true));
		n = d6_ask(&cfg, b, len, len, out, sizeof(out));
		check_d6_reply(out, n, &r);
		assert_int_equal(r.domains_len, 3);
		assert_memory_equal(r.domains, x, 3);
	}

	/* IPv6 off: nothing. */
	cfg = default_cfg();
	cfg.ipv6 = false;
	len = d6_frame(b, guest_ll, m, d6_info_req(m, INFO_REQ, true));
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
}

/* Sixteen names of 250 bytes each: not all fit; those that do come whole, in order. */
static void test_dhcpv6_search_long(void **state)
{
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_DHCPV6_REPLY_MAX], m[512];
	static char names[16][251];
	const char *list[17];
	struct d6_reply r;
	size_t len, n, off;

	for (int i = 0; i < 16; i++) {
		/* Four labels of 61 bytes and "ab": 4 * 62 + 2 = 250 characters. */
		memset(names[i], 'a' + i, 250);
		for (int d = 1; d <= 4; d++)
			names[i][d * 62 - 1] = '.';
		names[i][250] = 0;
		list[i] = names[i];
	}
	list[16] = NULL;
	cfg.dnssearch = list;
	len = d6_frame(b, guest_ll, m, d6_info_req(m, INFO_REQ, true));
	n = d6_ask(&cfg, b, len, len, out, sizeof(out));
	check_d6_reply(out, n, &r);
	/* Each name takes 252 bytes: three fit in 1024 with the rest of the reply. */
	assert_int_equal(r.domains_len, 3 * 252);
	for (off = 0; off < r.domains_len; off += 252) {
		assert_int_equal(r.domains[off], 61);
		assert_int_equal(r.domains[off + 1], 'a' + off / 252);
		assert_int_equal(r.domains[off + 62 * 4], 2);
		assert_int_equal(r.domains[off + 251], 0);
	}

	/* Less room: fewer names; no room for the search list at all: none of it. */
	n = d6_ask(&cfg, b, len, len, out, HDRS + 8 + 4 + 18 + 14 + 20 + 4 + 252);
	check_d6_reply(out, n, &r);
	assert_int_equal(r.domains_len, 252);
	n = d6_ask(&cfg, b, len, len, out, HDRS + 8 + 4 + 18 + 14 + 20 + 4 + 251);
	check_d6_reply(out, n, &r);
	assert_null(r.domains);
	/* Not even for the DNS server: no reply. */
	assert_int_equal(d6_ask(&cfg, b, len, len, out, HDRS + 8 + 4 + 18 + 14 + 19), 0);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, 0), 0);
}

static void test_dhcpv6_not_answered(void **state)
{
	static const uint8_t types[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 0, 255 };
	static const uint8_t other_server[10] = { 0, 3, 0, 1, 0x52, 0x55, 10, 0, 2, 3 };
	static const uint8_t ia_na[12] = { 0, 0, 0, 1 };
	struct usernet_config cfg = default_cfg();
	uint8_t b[FRAME_MAX], out[UNET_DHCPV6_REPLY_MAX], m[512];
	size_t len, ml, off;

	/* SOLICIT, REQUEST, RENEW, ... every type but INFORMATION-REQUEST. */
	for (size_t i = 0; i < sizeof(types); i++) {
		len = d6_frame(b, guest_ll, m, d6_info_req(m, types[i], true));
		assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	}
	/* Shorter than the message header. */
	for (ml = 0; ml < 4; ml++) {
		len = d6_frame(b, guest_ll, m, ml);
		assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	}

	ml = d6_info_req(m, INFO_REQ, true);
	/* An option running past the message, by one byte and by a lot. */
	put16(m + 4 + 2, (uint16_t)(ml - 8 + 1));
	len = d6_frame(b, guest_ll, m, ml);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	put16(m + 4 + 2, 0xffff);
	len = d6_frame(b, guest_ll, m, ml);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* The last option exactly to the end is fine; a cut option header is not. */
	put16(m + 4 + 2, sizeof(client_duid));
	memset(m + ml, 0, 4);
	for (size_t cut = 1; cut < 4; cut++) {
		len = d6_frame(b, guest_ll, m, ml + cut);
		assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	}
	len = d6_frame(b, guest_ll, m, ml + 4);
	assert_int_not_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	/* A client identifier too short or too long to be a DUID. */
	off = 4;
	d6_opt(m, &off, D6_CLIENTID, client_duid, 1);
	len = d6_frame(b, guest_ll, m, off);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	{
		uint8_t big[131] = { 0, 4 };

		off = 4;
		d6_opt(m, &off, D6_CLIENTID, big, 131);
		len = d6_frame(b, guest_ll, m, off);
		assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
		off = 4;
		d6_opt(m, &off, D6_CLIENTID, big, 130);
		len = d6_frame(b, guest_ll, m, off);
		assert_int_not_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	}
	/* Another server's identifier; an identity association (RFC 8415 16.12). */
	off = d6_info_req(m, INFO_REQ, true);
	d6_opt(m, &off, D6_SERVERID, other_server, sizeof(other_server));
	len = d6_frame(b, guest_ll, m, off);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	off = d6_info_req(m, INFO_REQ, true);
	d6_opt(m, &off, D6_SERVERID, other_server, 9);
	len = d6_frame(b, guest_ll, m, off);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	off = d6_info_req(m, INFO_REQ, true);
	d6_opt(m, &off, D6_IA_NA, ia_na, sizeof(ia_na));
	len = d6_frame(b, guest_ll, m, off);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* From :: or a multicast address. */
	ml = d6_info_req(m, INFO_REQ, true);
	len = d6_frame(b, unspec, m, ml);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);
	len = d6_frame(b, all_nodes, m, ml);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* Not to port 547. */
	len = d6_frame(b, guest_ll, m, ml);
	put16(b + HDRS + 2, 548);
	assert_int_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* Only part of the message handed over: nothing, whatever the cut. */
	len = d6_frame(b, guest_ll, m, ml);
	for (size_t avail = HDRS + 8; avail < len; avail++)
		assert_int_equal(d6_ask(&cfg, b, avail, len, out, sizeof(out)), 0);
	assert_int_not_equal(d6_ask(&cfg, b, len, len, out, sizeof(out)), 0);

	/* A router solicitation is not DHCPv6's to answer, nor an INFORMATION-REQUEST NDP's. */
	{
		uint8_t rs[16];
		struct unet_frame f;

		len = ip6_frame(b, all_routers_mac, guest_ll, all_routers, 255, ICMP6, rs,
				rs_body(rs, true));
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		assert_int_equal(unet_dhcpv6_answer(&cfg, eng_mac, &f, out, sizeof(out)), 0);
		len = d6_frame(b, guest_ll, m, ml);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		assert_int_equal(unet_ndp_answer(&cfg, eng_mac, &f, out, sizeof(out)), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_local),
		cmocka_unit_test(test_rs_ra),
		cmocka_unit_test(test_ra_config),
		cmocka_unit_test(test_rs_invalid),
		cmocka_unit_test(test_unsolicited_ra),
		cmocka_unit_test(test_ns_na),
		cmocka_unit_test(test_ns_invalid),
		cmocka_unit_test(test_dhcpv6_info),
		cmocka_unit_test(test_dhcpv6_search_long),
		cmocka_unit_test(test_dhcpv6_not_answered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
