// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_unet_packet.c - the user-mode engine's frame parser: real TCP/UDP/ICMP/ARP frames built
 * here (IPv4 header checksums computed here independently) parse field by field; each kind of
 * malformed frame is refused for its own reason; every truncation of a valid frame is refused
 * or parses with its offsets inside; headers written by unet_put_eth_ipv4() parse back, and a
 * UDP checksum started with unet_ipv4_pseudo_sum() verifies with a textbook checksum.
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

#include "core/offload.h"
#include "usernet/packet.h"

#define IP_PROTO_GRE 47
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

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Textbook RFC 1071: big-endian 16-bit words, odd byte padded, not yet folded. */
static uint32_t ref_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

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
	if (f->ethertype != UNET_ETHERTYPE_IPV4)
		return;
	assert_true(f->l4_off >= f->l3_off + 20 && f->l4_off <= f->avail);
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

	/* IPv6: not served yet. */
	put16(b + 12, UNET_ETHERTYPE_IPV6);
	b[14] = 0x60;
	assert_int_equal(unet_frame_parse(b, len, len, &f), UNET_DROP_ETHERTYPE);

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
		cmocka_unit_test(test_drop_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
