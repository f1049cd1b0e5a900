// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_unet_packet.c - the user-mode engine's frame parser: real TCP/UDP/ICMP/ARP frames built
 * here (IPv4 header checksums computed here independently) parse field by field; each kind of
 * malformed frame is refused for its own reason; every truncation of a valid frame is refused
 * or parses with its offsets inside; headers written by unet_put_eth_ipv4() parse back, and a
 * UDP checksum started with unet_ipv4_pseudo_sum() verifies with a textbook checksum. IPv6
 * the same way: extension headers skipped or refused, fragments refused, every truncation,
 * ICMPv6 and TCP over IPv6, unet_put_eth_ipv6() and unet_ipv6_pseudo_sum().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

#include "core/offload.h"
#include "usernet/packet.h"

#define IP_PROTO_GRE 47
#define IP_PROTO_ESP 50
#define IP6_NH_HOPOPTS 0
#define IP6_NH_ROUTING 43
#define IP6_NH_FRAGMENT 44
#define IP6_NH_NONE 59
#define IP6_NH_DSTOPTS 60
#define IP6_HLEN 40
#define ETH_P_8021Q 0x8100
#define IPV4_MF 0x2000
#define IPV4_DF 0x4000
#define FRAME_MAX 512

static const uint8_t dst_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };
static const uint8_t src_mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };

/* A TCP SYN's options as Linux sends them: MSS 1460, SACK permitted, timestamps, NOP,
 * window scale 7. */
static const uint8_t syn_opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
				      0, 0, 0, 0, 1, 3, 3, 7 };

/* Recompute the IPv4 header checksum of the frame at @b (header at 14, IHL from it). */
static void fix_ip_csum(uint8_t *b)
{
	size_t ihl = (size_t)(b[14] & 0xf) * 4;

	put16(b + 24, 0);
	put16(b + 24, ref_fold(ref_sum(b + 14, ihl, 0)));
}

/*
 * An Ethernet + IPv4 frame carrying @l4 (@l4len bytes) as protocol @proto, with @ipopt bytes
 * of IP options (NOPs) and @pad bytes of Ethernet padding after the IP total length.
 * Return: the frame's length
 */
static size_t build_ip(uint8_t *b, uint8_t proto, size_t ipopt, const uint8_t *l4, size_t l4len,
		       size_t pad)
{
	size_t ihl = 20 + ipopt;

	memset(b, 0, FRAME_MAX);
	memcpy(b, dst_mac, 6);
	memcpy(b + 6, src_mac, 6);
	put16(b + 12, 0x0800);
	b[14] = (uint8_t)(0x40 | ihl / 4);
	put16(b + 16, (uint16_t)(ihl + l4len));
	put16(b + 18, 0x1234);
	put16(b + 20, IPV4_DF);
	b[22] = 63;
	b[23] = proto;
	b[26] = 10, b[27] = 0, b[28] = 2, b[29] = 15;
	b[30] = 93, b[31] = 184, b[32] = 216, b[33] = 34;
	memset(b + 34, 1, ipopt);
	memcpy(b + 14 + ihl, l4, l4len);
	memset(b + 14 + ihl + l4len, 0xee, pad);
	fix_ip_csum(b);
	return 14 + ihl + l4len + pad;
}

/* A TCP segment with @optlen bytes of options and @paylen payload bytes into @l4. */
static size_t build_tcp_l4(uint8_t *l4, uint8_t flags, const uint8_t *opts, size_t optlen,
			   size_t paylen)
{
	size_t hlen = 20 + optlen;

	memset(l4, 0, hlen);
	put16(l4, 40000);
	put16(l4 + 2, 80);
	put32(l4 + 4, 0xdeadbeef);
	put32(l4 + 8, 0x01020304);
	l4[12] = (uint8_t)(hlen / 4 << 4);
	l4[13] = flags;
	put16(l4 + 14, 64240);
	if (optlen)
		memcpy(l4 + 20, opts, optlen);
	for (size_t i = 0; i < paylen; i++)
		l4[hlen + i] = (uint8_t)(i * 7 + 3);
	return hlen + paylen;
}

static size_t build_tcp(uint8_t *b, const uint8_t *opts, size_t optlen, size_t paylen, size_t pad)
{
	uint8_t l4[FRAME_MAX];
	size_t n = build_tcp_l4(l4, UNET_TCP_SYN, opts, optlen, paylen);

	return build_ip(b, 6, 0, l4, n, pad);
}

static size_t build_udp(uint8_t *b, size_t paylen, size_t pad)
{
	uint8_t l4[FRAME_MAX] = { 0 };

	put16(l4, 5353);
	put16(l4 + 2, 53);
	put16(l4 + 4, (uint16_t)(8 + paylen));
	memset(l4 + 8, 0x5a, paylen);
	return build_ip(b, 17, 0, l4, 8 + paylen, pad);
}

/* What every accepted frame must satisfy. */
static void check_inside(const struct unet_frame *f)
{
	assert_true(f->avail <= f->len);
	assert_int_equal(f->l3_off, 14);
	if (f->ethertype != UNET_ETHERTYPE_IPV4 && f->ethertype != UNET_ETHERTYPE_IPV6)
		return;
	assert_int_equal(f->ip_version, f->ethertype == UNET_ETHERTYPE_IPV4 ? 4 : 6);
	assert_true(f->l4_off >= f->l3_off + (f->ip_version == 4 ? 20 : 40));
	assert_true(f->l4_off <= f->avail);
	assert_true(f->l4_off + f->l4_len <= f->len);
	assert_true(f->payload_off >= f->l4_off && f->payload_off <= f->len);
	assert_true(f->payload_off + f->payload_len <= f->l4_off + f->l4_len);
	assert_true(f->payload_off <= f->avail);
}

static void test_tcp_syn(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_tcp(b, syn_opts, sizeof(syn_opts), 0, 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_ptr_equal(f.data, b);
	assert_memory_equal(f.dst_mac, dst_mac, 6);
	assert_memory_equal(f.src_mac, src_mac, 6);
	assert_int_equal(f.ethertype, UNET_ETHERTYPE_IPV4);
	assert_int_equal(f.ip_version, 4);
	assert_int_equal(f.ttl, 63);
	assert_int_equal(f.saddr.s_addr, inet_addr("10.0.2.15"));
	assert_int_equal(f.daddr.s_addr, inet_addr("93.184.216.34"));
	/* The same addresses v4-mapped. */
	{
		static const uint8_t s6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
						10, 0, 2, 15 };
		static const uint8_t d6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
						93, 184, 216, 34 };

		assert_memory_equal(&f.saddr6, s6, 16);
		assert_memory_equal(&f.daddr6, d6, 16);
	}
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(f.l4_off, 34);
	assert_int_equal(f.l4_len, 40);
	assert_int_equal(f.sport, 40000);
	assert_int_equal(f.dport, 80);
	assert_int_equal(f.seq, 0xdeadbeef);
	assert_int_equal(f.ack, 0x01020304);
	assert_int_equal(f.tcp_flags, UNET_TCP_SYN);
	assert_int_equal(f.window, 64240);
	assert_int_equal(f.mss, 1460);
	assert_true(f.has_wscale);
	assert_int_equal(f.wscale, 7);
	assert_int_equal(f.payload_off, 74);
	assert_int_equal(f.payload_len, 0);

	/* No options: no MSS, no window scale. */
	len = build_tcp(b, NULL, 0, 100, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.mss, 0);
	assert_false(f.has_wscale);
	assert_int_equal(f.payload_off, 54);
	assert_int_equal(f.payload_len, 100);
	assert_int_equal(b[f.payload_off + 99], (uint8_t)(99 * 7 + 3));

	/* IP options are skipped. */
	{
		uint8_t l4[FRAME_MAX];
		size_t n = build_tcp_l4(l4, UNET_TCP_ACK, syn_opts, sizeof(syn_opts), 10);

		len = build_ip(b, 6, 8, l4, n, 0);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		assert_int_equal(f.l4_off, 42);
		assert_int_equal(f.payload_off, 82);
		assert_int_equal(f.payload_len, 10);
		assert_int_equal(f.tcp_flags, UNET_TCP_ACK);
	}
}

static void test_padding(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_udp(b, 4, 18);

	assert_int_equal(len, 64);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.l4_len, 12);
	assert_int_equal(f.payload_len, 4);

	len = build_tcp(b, syn_opts, sizeof(syn_opts), 3, 7);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.l4_len, 43);
	assert_int_equal(f.payload_len, 3);
	assert_int_equal(f.payload_off + f.payload_len, len - 7);
}

static void test_truncation(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_tcp(b, syn_opts, sizeof(syn_opts), 50, 0);
	enum unet_drop why;

	for (size_t n = 0; n < len; n++) {
		/* The frame itself cut short. */
		why = unet_frame_parse(b, n, n, &f);
		if (why == UNET_DROP_NONE)
			check_inside(&f);
		else
			assert_int_equal(why, UNET_DROP_SHORT);
		/* Only the first n bytes handed over: headers must still be inside them. */
		why = unet_frame_parse(b, n, len, &f);
		if (n < 74) {
			assert_int_equal(why, UNET_DROP_SHORT);
		} else {
			assert_int_equal(why, UNET_DROP_NONE);
			check_inside(&f);
			assert_int_equal(f.payload_len, 50);
		}
	}
	assert_int_equal(unet_frame_parse(b, len, len - 1, &f), UNET_DROP_SHORT);
	assert_int_equal(unet_frame_parse(b, 13, 13, &f), UNET_DROP_SHORT);
}

static void test_bad_ip_header(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_tcp(b, NULL, 0, 20, 0);

	/* IHL below 5. */
	b[14] = 0x44;
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	/* Not version 4. */
	b[14] = 0x65;
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	/* IHL past the total length. */
	b[14] = 0x4f;
	put16(b + 16, 40);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	/* IHL past the frame. */
	len = build_tcp(b, NULL, 0, 0, 0);
	b[14] = 0x4f;
	put16(b + 16, 60);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_SHORT);

	/* Total length below the header, and past the frame. */
	len = build_tcp(b, NULL, 0, 20, 0);
	put16(b + 16, 19);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	put16(b + 16, (uint16_t)(len - 14 + 1));
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_SHORT);
	put16(b + 16, (uint16_t)(len - 14));
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);

	/* A wrong header checksum, one bit off or zero. */
	b[25] ^= 1;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	put16(b + 24, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	/* A changed field under a right checksum. */
	fix_ip_csum(b);
	b[22]--;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
}

static void test_fragment(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_udp(b, 16, 0);

	put16(b + 20, IPV4_MF);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_FRAGMENT);
	put16(b + 20, IPV4_DF | 1);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_FRAGMENT);
	put16(b + 20, 0x1fff);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_FRAGMENT);
	put16(b + 20, 0);
	fix_ip_csum(b);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
}

static void test_tcp_data_offset(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len;

	for (uint8_t doff = 0; doff < 5; doff++) {
		len = build_tcp(b, NULL, 0, 40, 0);
		b[34 + 12] = (uint8_t)(doff << 4);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	}
	/* 15 words = 60 bytes, but the segment holds 20 + 10. */
	len = build_tcp(b, NULL, 0, 10, 0);
	b[34 + 12] = 15 << 4;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	/* Past the IP total length though inside the frame (padding is not the segment). */
	len = build_tcp(b, NULL, 0, 0, 40);
	b[34 + 12] = 6 << 4;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	/* A segment shorter than a TCP header. */
	{
		uint8_t l4[19] = { 0 };

		len = build_ip(b, 6, 0, l4, sizeof(l4), 20);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	}
}

static enum unet_drop parse_opts(const uint8_t *opts, size_t optlen, struct unet_frame *f)
{
	static uint8_t b[FRAME_MAX];
	size_t len = build_tcp(b, opts, optlen, 8, 0);

	return unet_frame_parse(b, len, len, f);
}

static void test_tcp_options(void **state)
{
	struct unet_frame f;
	static const uint8_t len0[4] = { 2, 0, 1, 1 };
	static const uint8_t len1[4] = { 1, 8, 1, 0 };
	static const uint8_t past[4] = { 1, 1, 8, 10 };
	static const uint8_t last_kind[4] = { 1, 1, 1, 2 };
	static const uint8_t mss_past[4] = { 1, 2, 4, 5 };
	static const uint8_t big_ws[4] = { 3, 3, 200, 0 };
	static const uint8_t eol_then_junk[8] = { 3, 3, 5, 0, 2, 0, 9, 9 };
	static const uint8_t odd_mss[8] = { 2, 6, 1, 2, 3, 4, 0, 0 };
	static const uint8_t unknown[8] = { 30, 6, 1, 2, 3, 4, 1, 1 };

	assert_int_equal(parse_opts(len0, 4, &f), UNET_DROP_L4_HEADER);
	assert_int_equal(parse_opts(len1, 4, &f), UNET_DROP_L4_HEADER);
	assert_int_equal(parse_opts(past, 4, &f), UNET_DROP_L4_HEADER);
	assert_int_equal(parse_opts(last_kind, 4, &f), UNET_DROP_L4_HEADER);
	assert_int_equal(parse_opts(mss_past, 4, &f), UNET_DROP_L4_HEADER);

	assert_int_equal(parse_opts(big_ws, 4, &f), UNET_DROP_NONE);
	assert_true(f.has_wscale);
	assert_int_equal(f.wscale, 14);
	assert_int_equal(f.payload_len, 8);

	assert_int_equal(parse_opts(eol_then_junk, 8, &f), UNET_DROP_NONE);
	assert_true(f.has_wscale);
	assert_int_equal(f.wscale, 5);
	assert_int_equal(f.mss, 0);

	/* An MSS option of the wrong length is skipped, as is an unknown kind. */
	assert_int_equal(parse_opts(odd_mss, 8, &f), UNET_DROP_NONE);
	assert_int_equal(f.mss, 0);
	assert_int_equal(parse_opts(unknown, 8, &f), UNET_DROP_NONE);
	assert_int_equal(f.mss, 0);
	assert_false(f.has_wscale);
}

static void test_udp(void **state)
{
	uint8_t b[FRAME_MAX];
	struct unet_frame f;
	size_t len = build_udp(b, 100, 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.sport, 5353);
	assert_int_equal(f.dport, 53);
	assert_int_equal(f.l4_len, 108);
	assert_int_equal(f.payload_off, 42);
	assert_int_equal(f.payload_len, 100);

	/* A UDP length within the IP payload: the rest is padding. */
	put16(b + 38, 50);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.payload_len, 42);
	/* Past the IP payload, or below its own header. */
	put16(b + 38, 109);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	put16(b + 38, 7);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	/* An IP payload shorter than a UDP header. */
	{
		uint8_t l4[7] = { 0 };

		len = build_ip(b, 17, 0, l4, sizeof(l4), 20);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	}
}

static void test_icmp(void **state)
{
	uint8_t b[FRAME_MAX];
	uint8_t l4[64] = { UNET_ICMP_ECHO, 0, 0, 0, 0x12, 0x34, 0, 7 };
	struct unet_frame f;
	size_t len = build_ip(b, 1, 0, l4, sizeof(l4), 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.proto, IPPROTO_ICMP);
	assert_int_equal(f.icmp_type, UNET_ICMP_ECHO);
	assert_int_equal(f.icmp_code, 0);
	assert_int_equal(f.icmp_id, 0x1234);
	assert_int_equal(f.icmp_seq, 7);
	assert_int_equal(f.payload_off, 42);
	assert_int_equal(f.payload_len, 56);

	l4[0] = UNET_ICMP_ECHOREPLY;
	len = build_ip(b, 1, 0, l4, 8, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.icmp_id, 0x1234);
	assert_int_equal(f.payload_len, 0);

	/* Not an echo: no identifier or sequence. */
	l4[0] = UNET_ICMP_UNREACH;
	l4[1] = 3;
	len = build_ip(b, 1, 0, l4, 36, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.icmp_type, UNET_ICMP_UNREACH);
	assert_int_equal(f.icmp_code, 3);
	assert_int_equal(f.icmp_id, 0);
	assert_int_equal(f.icmp_seq, 0);

	len = build_ip(b, 1, 0, l4, 7, 20);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
}

static void test_not_served(void **state)
{
	uint8_t b[FRAME_MAX];
	uint8_t l4[24] = { 0 };
	struct unet_frame f;
	size_t len = build_ip(b, IP_PROTO_GRE, 0, l4, sizeof(l4), 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);

	/* ICMPv6 is not an IPv4 protocol. */
	len = build_ip(b, IPPROTO_ICMPV6, 0, l4, sizeof(l4), 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);

	/* A VLAN tag in front of a valid IPv4 frame. */
	len = build_udp(b, 10, 0);
	memmove(b + 16, b + 12, len - 12);
	put16(b + 12, ETH_P_8021Q);
	put16(b + 14, 100);
	assert_int_equal(unet_frame_parse(b, len + 4, len + 4, &f), UNET_DROP_ETHERTYPE);
	assert_int_equal(f.ethertype, ETH_P_8021Q);

	/* ARP: only the Ethernet fields. */
	memset(b, 0, 60);
	memcpy(b, dst_mac, 6);
	memcpy(b + 6, src_mac, 6);
	put16(b + 12, UNET_ETHERTYPE_ARP);
	assert_int_equal(unet_frame_parse(b, 60, 60, &f), UNET_DROP_NONE);
	assert_int_equal(f.ethertype, UNET_ETHERTYPE_ARP);
	assert_int_equal(f.ip_version, 0);
	assert_int_equal(f.l3_off, 14);
	assert_memory_equal(f.src_mac, src_mac, 6);
	assert_int_equal(unet_frame_parse(b, 14, 14, &f), UNET_DROP_NONE);
}

static void test_put_eth_ipv4(void **state)
{
	uint8_t b[FRAME_MAX] = { 0 };
	struct in_addr saddr = { .s_addr = inet_addr("10.0.2.2") };
	struct in_addr daddr = { .s_addr = inet_addr("10.0.2.15") };
	struct unet_frame f;

	/* Odd and even payloads: the odd byte is where host-order summing could go wrong. */
	for (size_t paylen = 0; paylen < 40; paylen += 13) {
		size_t l4_len = 8 + paylen, hl, len;
		uint8_t *udp;
		uint16_t csum;
		uint32_t ref;

		hl = unet_put_eth_ipv4(b, src_mac, dst_mac, saddr, daddr, IPPROTO_UDP, l4_len,
				       0xbeef);
		assert_int_equal(hl, 34);
		udp = b + hl;
		put16(udp, 53);
		put16(udp + 2, 33000);
		put16(udp + 4, (uint16_t)l4_len);
		put16(udp + 6, 0);
		for (size_t i = 0; i < paylen; i++)
			udp[8 + i] = (uint8_t)(0xf0 + i);
		csum = offload_csum_fold(offload_csum_add(
			unet_ipv4_pseudo_sum(saddr, daddr, IPPROTO_UDP, l4_len), udp, l4_len));
		memcpy(udp + 6, &csum, 2);
		len = hl + l4_len;

		/* The header, field by field, and its checksum by the textbook. */
		assert_int_equal(get16(b + 12), 0x0800);
		assert_int_equal(b[14], 0x45);
		assert_int_equal(b[15], 0);
		assert_int_equal(get16(b + 16), 20 + l4_len);
		assert_int_equal(get16(b + 18), 0xbeef);
		assert_int_equal(get16(b + 20), 0);
		assert_int_equal(b[22], 64);
		assert_int_equal(b[23], IPPROTO_UDP);
		assert_int_equal(ref_fold(ref_sum(b + 14, 20, 0)), 0);

		/* The UDP checksum by the textbook: pseudo-header, then the datagram. */
		ref = ref_sum(b + 26, 8, 0) + IPPROTO_UDP + (uint32_t)l4_len;
		assert_int_equal(ref_fold(ref_sum(udp, l4_len, ref)), 0);
		put16(udp + 6, 0);
		assert_int_equal(ref_fold(ref_sum(udp, l4_len, ref)), get16((uint8_t *)&csum));

		memcpy(udp + 6, &csum, 2);
		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		check_inside(&f);
		assert_memory_equal(f.dst_mac, src_mac, 6);
		assert_memory_equal(f.src_mac, dst_mac, 6);
		assert_int_equal(f.saddr.s_addr, saddr.s_addr);
		assert_int_equal(f.daddr.s_addr, daddr.s_addr);
		assert_int_equal(f.ttl, 64);
		assert_int_equal(f.sport, 53);
		assert_int_equal(f.dport, 33000);
		assert_int_equal(f.payload_len, paylen);
	}
}

/* ---- IPv6 ---- */

/* fe80::5054:ff:fe12:3456 (the guest's link-local) and 2001:db8::1. */
static const uint8_t guest6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0, 0xff,
				    0xfe, 0x12, 0x34, 0x56 };
static const uint8_t remote6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
				     0, 0, 0, 1 };

/*
 * An Ethernet + IPv6 frame: next header @nh, then @ext (@extlen bytes of extension headers,
 * built by the caller, whose own next header fields lead to the transport), then @l4, then
 * @pad bytes of Ethernet padding after the payload length. Return: the frame's length
 */
static size_t build_ip6(uint8_t *b, uint8_t nh, const uint8_t *ext, size_t extlen,
			const uint8_t *l4, size_t l4len, size_t pad)
{
	memset(b, 0, FRAME_MAX);
	memcpy(b, dst_mac, 6);
	memcpy(b + 6, src_mac, 6);
	put16(b + 12, 0x86dd);
	/* Traffic class 0xab, flow label 0xcdef1: not the parser's business. */
	put32(b + 14, 6u << 28 | 0xabu << 20 | 0xcdef1);
	put16(b + 18, (uint16_t)(extlen + l4len));
	b[20] = nh;
	b[21] = 63;
	memcpy(b + 22, guest6, 16);
	memcpy(b + 38, remote6, 16);
	if (extlen)
		memcpy(b + 54, ext, extlen);
	memcpy(b + 54 + extlen, l4, l4len);
	memset(b + 54 + extlen + l4len, 0xee, pad);
	return 54 + extlen + l4len + pad;
}

static size_t build_udp_l4(uint8_t *l4, size_t paylen)
{
	memset(l4, 0, 8);
	put16(l4, 546);
	put16(l4 + 2, 547);
	put16(l4 + 4, (uint16_t)(8 + paylen));
	memset(l4 + 8, 0x5a, paylen);
	return 8 + paylen;
}

/* An extension header at @p: next header @nh, @len bytes (a multiple of 8), PadN inside. */
static size_t build_ext(uint8_t *p, uint8_t nh, size_t len)
{
	memset(p, 0, len);
	p[0] = nh;
	p[1] = (uint8_t)(len / 8 - 1);
	p[2] = 1; /* PadN */
	p[3] = (uint8_t)(len - 4);
	return len;
}

static void test_ipv6_tcp(void **state)
{
	uint8_t b[FRAME_MAX], l4[FRAME_MAX];
	struct unet_frame f;
	size_t n = build_tcp_l4(l4, UNET_TCP_SYN, syn_opts, sizeof(syn_opts), 30);
	size_t len = build_ip6(b, IPPROTO_TCP, NULL, 0, l4, n, 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_memory_equal(f.dst_mac, dst_mac, 6);
	assert_memory_equal(f.src_mac, src_mac, 6);
	assert_int_equal(f.ethertype, UNET_ETHERTYPE_IPV6);
	assert_int_equal(f.ip_version, 6);
	assert_int_equal(f.l3_off, 14);
	assert_int_equal(f.ttl, 63);
	assert_int_equal(f.saddr.s_addr, 0);
	assert_int_equal(f.daddr.s_addr, 0);
	assert_memory_equal(&f.saddr6, guest6, 16);
	assert_memory_equal(&f.daddr6, remote6, 16);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(f.l4_off, 54);
	assert_int_equal(f.l4_len, 70);
	assert_int_equal(f.sport, 40000);
	assert_int_equal(f.dport, 80);
	assert_int_equal(f.seq, 0xdeadbeef);
	assert_int_equal(f.ack, 0x01020304);
	assert_int_equal(f.tcp_flags, UNET_TCP_SYN);
	assert_int_equal(f.window, 64240);
	assert_int_equal(f.mss, 1460);
	assert_true(f.has_wscale);
	assert_int_equal(f.wscale, 7);
	assert_int_equal(f.payload_off, 94);
	assert_int_equal(f.payload_len, 30);
	assert_int_equal(b[f.payload_off + 29], (uint8_t)(29 * 7 + 3));

	/* Padding after the payload length is ignored. */
	len = build_ip6(b, IPPROTO_TCP, NULL, 0, l4, n, 9);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.l4_len, 70);
	assert_int_equal(f.payload_len, 30);

	/* The TCP header's checks hold as for IPv4: a data offset past the segment. */
	len = build_ip6(b, IPPROTO_TCP, NULL, 0, l4, 20 + 20, 40);
	b[54 + 12] = 15 << 4;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
}

static void test_ipv6_header(void **state)
{
	uint8_t b[FRAME_MAX], l4[FRAME_MAX];
	struct unet_frame f;
	size_t n = build_udp_l4(l4, 20), len;

	len = build_ip6(b, IPPROTO_UDP, NULL, 0, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.sport, 546);
	assert_int_equal(f.dport, 547);
	assert_int_equal(f.payload_off, 62);
	assert_int_equal(f.payload_len, 20);

	/* Not version 6. */
	b[14] = 0x40;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	b[14] = 0x70;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	b[14] = 0x6a;

	/* A payload length past the frame; shorter is fine if the transport fits. */
	put16(b + 18, (uint16_t)(n + 1));
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_SHORT);
	put16(b + 18, 0xffff);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_SHORT);
	put16(b + 18, (uint16_t)(n - 1));
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	put16(b + 18, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	put16(b + 18, (uint16_t)n);
	put16(b + 58, 10);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.payload_len, 2);

	/* Shorter than the fixed header. */
	assert_int_equal(unet_frame_parse(b, 53, 53, &f), UNET_DROP_SHORT);
	assert_int_equal(unet_frame_parse(b, 53, len, &f), UNET_DROP_SHORT);

	/* Transports the engine does not serve, ICMP for IPv4 among them. */
	len = build_ip6(b, IP_PROTO_GRE, NULL, 0, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);
	len = build_ip6(b, IPPROTO_ICMP, NULL, 0, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);
	len = build_ip6(b, IP_PROTO_ESP, NULL, 0, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);
	len = build_ip6(b, IP6_NH_NONE, NULL, 0, l4, 0, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);
}

static void test_ipv6_ext(void **state)
{
	uint8_t b[FRAME_MAX], l4[FRAME_MAX], ext[FRAME_MAX];
	struct unet_frame f;
	size_t n = build_udp_l4(l4, 12), e = 0, len;

	/* Hop-by-hop (8), destination options (16), routing (8), destination options (24). */
	e += build_ext(ext + e, IP6_NH_DSTOPTS, 8);
	e += build_ext(ext + e, IP6_NH_ROUTING, 16);
	e += build_ext(ext + e, IP6_NH_DSTOPTS, 8);
	e += build_ext(ext + e, IPPROTO_UDP, 24);
	len = build_ip6(b, IP6_NH_HOPOPTS, ext, e, l4, n, 6);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.l4_off, 54 + 56);
	assert_int_equal(f.l4_len, n);
	assert_int_equal(f.payload_off, 54 + 56 + 8);
	assert_int_equal(f.payload_len, 12);
	assert_int_equal(f.dport, 547);

	/* Every header must be inside what was handed over: the UDP header's last byte. */
	assert_int_equal(unet_frame_parse(b, 54 + 56 + 7, len, &f), UNET_DROP_SHORT);
	assert_int_equal(unet_frame_parse(b, 54 + 56 + 8, len, &f), UNET_DROP_NONE);
	/* An extension header's last byte. */
	assert_int_equal(unet_frame_parse(b, 54 + 55, len, &f), UNET_DROP_SHORT);

	/* An extension header longer than the payload length leaves. */
	put16(b + 18, 30);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	put16(b + 18, 4);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);
	/* Ending exactly at the payload: no room for UDP. */
	put16(b + 18, 56);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);
	put16(b + 18, (uint16_t)(e + n));
	b[54 + 56 - 24 + 1] = 30; /* the last one's length: 248 bytes */
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);

	/* Hop-by-hop options only come first. */
	e = build_ext(ext, IP6_NH_HOPOPTS, 8);
	e += build_ext(ext + e, IPPROTO_UDP, 8);
	len = build_ip6(b, IP6_NH_DSTOPTS, ext, e, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_IP_HEADER);

	/* A fragment header, first or after others; an ESP header after options. */
	len = build_ip6(b, IP6_NH_FRAGMENT, l4, 8, l4, n, 0);
	b[54] = IPPROTO_UDP;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_FRAGMENT);
	e = build_ext(ext, IP6_NH_FRAGMENT, 8);
	len = build_ip6(b, IP6_NH_HOPOPTS, ext, e, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_FRAGMENT);
	e = build_ext(ext, IP_PROTO_ESP, 8);
	len = build_ip6(b, IP6_NH_DSTOPTS, ext, e, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_PROTO);

	/* Many headers, up to the 256 bytes the engine hands over. */
	e = 0;
	for (int i = 0; i < 24; i++)
		e += build_ext(ext + e, i == 23 ? IPPROTO_UDP : IP6_NH_DSTOPTS, 8);
	len = build_ip6(b, IP6_NH_DSTOPTS, ext, e, l4, n, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.l4_off, 54 + 192);
	assert_int_equal(unet_frame_parse(b, 54 + 192 + 7, len, &f), UNET_DROP_SHORT);
}

static void test_ipv6_truncation(void **state)
{
	uint8_t b[FRAME_MAX], l4[FRAME_MAX], ext[FRAME_MAX];
	struct unet_frame f;
	enum unet_drop why;
	size_t e, n, len, hdrs;

	e = build_ext(ext, IP6_NH_DSTOPTS, 16);
	e += build_ext(ext + e, IPPROTO_TCP, 8);
	n = build_tcp_l4(l4, UNET_TCP_ACK, syn_opts, sizeof(syn_opts), 50);
	len = build_ip6(b, IP6_NH_HOPOPTS, ext, e, l4, n, 0);
	hdrs = 54 + e + 40;

	for (size_t k = 0; k < len; k++) {
		/* The frame itself cut short. */
		why = unet_frame_parse(b, k, k, &f);
		if (why == UNET_DROP_NONE)
			check_inside(&f);
		else
			assert_int_equal(why, UNET_DROP_SHORT);
		/* Only the first k bytes handed over: headers must still be inside them. */
		why = unet_frame_parse(b, k, len, &f);
		if (k < hdrs) {
			assert_int_equal(why, UNET_DROP_SHORT);
		} else {
			assert_int_equal(why, UNET_DROP_NONE);
			check_inside(&f);
			assert_int_equal(f.payload_off, hdrs);
			assert_int_equal(f.payload_len, 50);
		}
	}
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(unet_frame_parse(b, len, len - 1, &f), UNET_DROP_SHORT);

	/* ICMPv6 too: the 8-byte header in what was handed over. */
	memset(l4, 0, 32);
	l4[0] = UNET_ICMP6_ECHO;
	len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, 32, 0);
	for (size_t k = 0; k < len; k++) {
		why = unet_frame_parse(b, k, k, &f);
		assert_int_equal(why, UNET_DROP_SHORT);
		why = unet_frame_parse(b, k, len, &f);
		assert_int_equal(why, k < 62 ? UNET_DROP_SHORT : UNET_DROP_NONE);
		if (why == UNET_DROP_NONE)
			check_inside(&f);
	}
}

static void test_ipv6_icmp(void **state)
{
	uint8_t b[FRAME_MAX];
	uint8_t l4[64] = { UNET_ICMP6_ECHO, 0, 0, 0, 0x12, 0x34, 0, 9 };
	struct unet_frame f;
	size_t len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, sizeof(l4), 0);

	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	check_inside(&f);
	assert_int_equal(f.ip_version, 6);
	assert_int_equal(f.proto, IPPROTO_ICMPV6);
	assert_int_equal(f.icmp_type, UNET_ICMP6_ECHO);
	assert_int_equal(f.icmp_code, 0);
	assert_int_equal(f.icmp_id, 0x1234);
	assert_int_equal(f.icmp_seq, 9);
	assert_int_equal(f.l4_off, 54);
	assert_int_equal(f.l4_len, 64);
	assert_int_equal(f.payload_off, 62);
	assert_int_equal(f.payload_len, 56);

	l4[0] = UNET_ICMP6_ECHOREPLY;
	len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, 8, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.icmp_type, UNET_ICMP6_ECHOREPLY);
	assert_int_equal(f.icmp_id, 0x1234);
	assert_int_equal(f.icmp_seq, 9);
	assert_int_equal(f.payload_len, 0);

	/* ICMPv4's echo type number is not an echo in ICMPv6, nor is a neighbour
	 * solicitation: its body (reserved, target, options) is the payload. */
	l4[0] = UNET_ICMP_ECHO;
	len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, 8, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.icmp_id, 0);
	assert_int_equal(f.icmp_seq, 0);
	l4[0] = UNET_ICMP6_NS;
	l4[1] = 0;
	len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, 32, 0);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
	assert_int_equal(f.icmp_type, UNET_ICMP6_NS);
	assert_int_equal(f.icmp_id, 0);
	assert_int_equal(f.payload_off, 62);
	assert_int_equal(f.payload_len, 24);

	/* Shorter than 8 bytes, with padding behind. */
	len = build_ip6(b, IPPROTO_ICMPV6, NULL, 0, l4, 7, 20);
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_L4_HEADER);

	/* After extension headers. */
	{
		uint8_t ext[8], fr[FRAME_MAX];

		build_ext(ext, IPPROTO_ICMPV6, 8);
		l4[0] = UNET_ICMP6_ECHO;
		len = build_ip6(fr, IP6_NH_HOPOPTS, ext, 8, l4, 16, 0);
		assert_int_equal(unet_frame_parse(fr, len, len, &f), UNET_DROP_NONE);
		assert_int_equal(f.l4_off, 62);
		assert_int_equal(f.icmp_id, 0x1234);
		assert_int_equal(f.payload_off, 70);
		assert_int_equal(f.payload_len, 8);
	}
}

static void test_put_eth_ipv6(void **state)
{
	uint8_t b[FRAME_MAX] = { 0 };
	struct in6_addr saddr, daddr;
	struct unet_frame f;

	memcpy(&saddr, remote6, 16);
	memcpy(&daddr, guest6, 16);
	for (size_t paylen = 0; paylen < 40; paylen += 13) {
		size_t l4_len = 8 + paylen, hl, len;
		uint8_t *udp;
		uint16_t csum;
		uint32_t ref;

		hl = unet_put_eth_ipv6(b, src_mac, dst_mac, &saddr, &daddr, IPPROTO_UDP, l4_len,
				       64);
		assert_int_equal(hl, 54);
		udp = b + hl;
		put16(udp, 547);
		put16(udp + 2, 546);
		put16(udp + 4, (uint16_t)l4_len);
		put16(udp + 6, 0);
		for (size_t i = 0; i < paylen; i++)
			udp[8 + i] = (uint8_t)(0xf0 + i);
		csum = offload_csum_fold(offload_csum_add(
			unet_ipv6_pseudo_sum(&saddr, &daddr, IPPROTO_UDP, l4_len), udp, l4_len));
		memcpy(udp + 6, &csum, 2);
		len = hl + l4_len;

		assert_memory_equal(b, src_mac, 6);
		assert_memory_equal(b + 6, dst_mac, 6);
		assert_int_equal(get16(b + 12), 0x86dd);
		assert_int_equal(b[14], 0x60);
		assert_int_equal(b[15], 0);
		assert_int_equal(get16(b + 16), 0);
		assert_int_equal(get16(b + 18), l4_len);
		assert_int_equal(b[20], IPPROTO_UDP);
		assert_int_equal(b[21], 64);
		assert_memory_equal(b + 22, remote6, 16);
		assert_memory_equal(b + 38, guest6, 16);

		/* The textbook: addresses, 32-bit length, 24 zero bits and next header. */
		ref = ref_sum(b + 22, 32, 0) + (uint32_t)l4_len + IPPROTO_UDP;
		assert_int_equal(ref_fold(ref_sum(udp, l4_len, ref)), 0);
		put16(udp + 6, 0);
		assert_int_equal(ref_fold(ref_sum(udp, l4_len, ref)), get16((uint8_t *)&csum));
		memcpy(udp + 6, &csum, 2);

		assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_NONE);
		check_inside(&f);
		assert_memory_equal(f.dst_mac, src_mac, 6);
		assert_memory_equal(f.src_mac, dst_mac, 6);
		assert_int_equal(f.ip_version, 6);
		assert_memory_equal(&f.saddr6, remote6, 16);
		assert_memory_equal(&f.daddr6, guest6, 16);
		assert_int_equal(f.ttl, 64);
		assert_int_equal(f.sport, 547);
		assert_int_equal(f.dport, 546);
		assert_int_equal(f.payload_len, paylen);
	}

	/* Hop limit 255 and a length over 255 (both bytes of it). */
	unet_put_eth_ipv6(b, src_mac, dst_mac, &saddr, &daddr, IPPROTO_ICMPV6, 0x1234, 255);
	assert_int_equal(get16(b + 18), 0x1234);
	assert_int_equal(b[20], IPPROTO_ICMPV6);
	assert_int_equal(b[21], 255);

	/* A length over 65535 in the pseudo-header: its upper 16 bits count too. */
	{
		uint32_t ref = ref_sum(b + 22, 32, 0) + 1 + 0x0002 + IPPROTO_TCP;

		assert_int_equal(offload_csum_fold(unet_ipv6_pseudo_sum(&saddr, &daddr, IPPROTO_TCP,
									0x10002)),
				 (uint16_t)htons(ref_fold(ref)));
	}
}

static void test_drop_names(void **state)
{
	assert_string_equal(unet_drop_name(UNET_DROP_NONE), "none");
	assert_string_equal(unet_drop_name(UNET_DROP_SHORT), "drop-short");
	assert_string_equal(unet_drop_name(UNET_DROP_ETHERTYPE), "drop-ethertype");
	assert_string_equal(unet_drop_name(UNET_DROP_IP_HEADER), "drop-ip-header");
	assert_string_equal(unet_drop_name(UNET_DROP_FRAGMENT), "drop-fragment");
	assert_string_equal(unet_drop_name(UNET_DROP_L4_HEADER), "drop-l4-header");
	assert_string_equal(unet_drop_name(UNET_DROP_PROTO), "drop-proto");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_syn),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bad_ip_header),
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_tcp_data_offset),
		cmocka_unit_test(test_tcp_options),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_not_served),
		cmocka_unit_test(test_put_eth_ipv4),
		cmocka_unit_test(test_ipv6_tcp),
		cmocka_unit_test(test_ipv6_header),
		cmocka_unit_test(test_ipv6_ext),
		cmocka_unit_test(test_ipv6_truncation),
		cmocka_unit_test(test_ipv6_icmp),
		cmocka_unit_test(test_put_eth_ipv6),
		cmocka_unit_test(test_drop_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
