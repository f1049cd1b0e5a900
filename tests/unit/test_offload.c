// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_offload.c - software offloads: real TCPv4/TCPv6/UDP frames with known payloads are
 * segmented (TSO, USO) or fragmented (UFO), or have their checksum finished, and every
 * resulting frame is checked field by field against checksums computed here independently.
 * Hostile headers must be refused without emitting anything or reading out of bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

#include "core/log.h"
#include "core/offload.h"
#include "vwire/net.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

/* What a test frame looks like. */
struct spec {
	bool ipv6;
	uint8_t proto; /* 6 or 17 */
	bool vlan;
	int ip_opt_words;
	int tcp_opt_words;
	size_t payload;
	uint32_t seq;
	uint8_t tcp_flags;
	uint16_t ip_id;
};

/* Where its headers are. */
struct layout {
	size_t l3, l4, data, len;
};

/* The pseudo-header sum for a transport segment of @l4len bytes of the packet at @l3. */
static uint32_t ref_pseudo(const uint8_t *pkt, size_t l3, bool ipv6, uint8_t proto,
			   size_t l4len)
{
	if (ipv6)
		return ref_sum(pkt + l3 + 8, 32, 0) + (uint32_t)(l4len >> 16) +
		       (uint32_t)(l4len & 0xffff) + proto;
	return ref_sum(pkt + l3 + 12, 8, 0) + proto + (uint32_t)l4len;
}

static uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 31 + 7);
}

static size_t build(uint8_t *b, const struct spec *s, struct layout *lo)
{
	static const uint8_t dst[6] = { 0x52, 0x54, 0, 0, 0, 2 };
	static const uint8_t src[6] = { 0x52, 0x54, 0, 0, 0, 1 };
	size_t off = 12, ihl, l4h;

	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	if (s->vlan) {
		put16(b + off, 0x8100);
		put16(b + off + 2, 100);
		off += 4;
	}
	put16(b + off, s->ipv6 ? 0x86dd : 0x0800);
	lo->l3 = off + 2;
	ihl = s->ipv6 ? 40 : 20 + 4 * (size_t)s->ip_opt_words;
	lo->l4 = lo->l3 + ihl;
	l4h = s->proto == 6 ? 20 + 4 * (size_t)s->tcp_opt_words : 8;
	lo->data = lo->l4 + l4h;
	lo->len = lo->data + s->payload;

	memset(b + lo->l3, 0, lo->data - lo->l3);
	if (s->ipv6) {
		uint8_t *ip = b + lo->l3;

		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(lo->len - lo->l3 - 40));
		ip[6] = s->proto;
		ip[7] = 64;
		ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8, ip[23] = 1;
		ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8, ip[39] = 2;
	} else {
		uint8_t *ip = b + lo->l3;

		ip[0] = (uint8_t)(0x40 | ihl / 4);
		put16(ip + 2, (uint16_t)(lo->len - lo->l3));
		put16(ip + 4, s->ip_id);
		put16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = s->proto;
		put32(ip + 12, 0x0a000001);
		put32(ip + 16, 0x0a000002);
		memset(ip + 20, 1, ihl - 20); /* NOP options */
		put16(ip + 10, ref_fold(ref_sum(ip, ihl, 0)));
	}
	if (s->proto == 6) {
		uint8_t *th = b + lo->l4;

		put16(th, 40000);
		put16(th + 2, 80);
		put32(th + 4, s->seq);
		put32(th + 8, 0x11223344);
		th[12] = (uint8_t)(l4h / 4 << 4);
		th[13] = s->tcp_flags;
		put16(th + 14, 0xffff);
		memset(th + 20, 1, l4h - 20);
		/* What a guest leaves for the device: the pseudo-header sum, not complemented. */
		put16(th + 16, (uint16_t)~ref_fold(ref_pseudo(b, lo->l3, s->ipv6, 6,
							      lo->len - lo->l4)));
	} else {
		uint8_t *uh = b + lo->l4;

		put16(uh, 5353);
		put16(uh + 2, 53);
		put16(uh + 4, (uint16_t)(lo->len - lo->l4));
		put16(uh + 6, (uint16_t)~ref_fold(ref_pseudo(b, lo->l3, s->ipv6, 17,
							     lo->len - lo->l4)));
	}
	for (size_t i = 0; i < s->payload; i++)
		b[lo->data + i] = payload_byte(i);
	return lo->len;
}

static struct virtio_net_hdr_v1 vhdr(uint8_t gso_type, uint16_t gso_size, const struct layout *lo,
				     uint16_t csum_offset)
{
	struct virtio_net_hdr_v1 h = { 0 };

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = gso_type;
	h.hdr_len = htole16((uint16_t)lo->data);
	h.gso_size = htole16(gso_size);
	h.csum_start = htole16((uint16_t)lo->l4);
	h.csum_offset = htole16(csum_offset);
	return h;
}

/* Every emitted frame, flattened. */
#define MAX_SEGS 128
static struct {
	uint8_t *seg[MAX_SEGS];
	size_t len[MAX_SEGS];
	unsigned int n;
	unsigned int calls;
	int refuse_at; /* call index answered with 0, or -1 */
} out;

static ssize_t collect(void *opaque, const struct iovec *iov, int iovcnt)
{
	size_t len = net_iov_size(iov, iovcnt);

	assert_true(iovcnt >= 1 && iovcnt <= OFFLOAD_MAX_EMIT_IOV);
	if ((int)out.calls++ == out.refuse_at)
		return 0;
	assert_true(out.n < MAX_SEGS);
	out.seg[out.n] = malloc(len ? len : 1);
	assert_non_null(out.seg[out.n]);
	assert_int_equal(net_iov_to_buf(iov, iovcnt, 0, out.seg[out.n], len), len);
	out.len[out.n++] = len;
	return (ssize_t)len;
}

static int reset(void **state)
{
	for (unsigned int i = 0; i < out.n; i++)
		free(out.seg[i]);
	memset(&out, 0, sizeof(out));
	out.refuse_at = -1;
	return 0;
}

/* Run @frame (copied into a buffer of exactly @len bytes, so overreads are caught). */
static int run(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *h)
{
	uint8_t *exact = malloc(len ? len : 1);
	int ret;

	assert_non_null(exact);
	memcpy(exact, frame, len);
	ret = offload_segment(exact, len, h, collect, NULL);
	free(exact);
	return ret;
}

static void check_ipv4_hdr(const uint8_t *seg, const struct layout *lo, size_t seglen)
{
	const uint8_t *ip = seg + lo->l3;
	size_t ihl = lo->l4 - lo->l3;

	assert_int_equal(get16(ip + 2), seglen - lo->l3);
	assert_int_equal(ref_fold(ref_sum(ip, ihl, 0)), 0);
}

/* The transport checksum of a whole segment, pseudo-header included, must verify. */
static void check_l4_csum(const uint8_t *seg, size_t seglen, const struct layout *lo, bool ipv6,
			  uint8_t proto)
{
	size_t l4len = seglen - lo->l4;
	uint32_t sum = ref_pseudo(seg, lo->l3, ipv6, proto, l4len);

	assert_int_equal(ref_fold(ref_sum(seg + lo->l4, l4len, sum)), 0);
	if (proto == 17)
		assert_int_not_equal(get16(seg + lo->l4 + 6), 0);
}

/* Segments of a TSO/USO frame: headers, lengths, sequence, flags, checksums, payload. */
static void check_segments(const uint8_t *orig, const struct spec *s, const struct layout *lo,
			   size_t mss)
{
	size_t off = 0;
	unsigned int nseg = s->payload ? (unsigned int)((s->payload + mss - 1) / mss) : 1;

	assert_int_equal(out.n, nseg);
	for (unsigned int i = 0; i < out.n; i++) {
		const uint8_t *seg = out.seg[i];
		size_t plen = s->payload - off < mss ? s->payload - off : mss;
		bool last = i + 1 == out.n;

		assert_int_equal(out.len[i], lo->data + plen);
		assert_memory_equal(seg, orig, lo->l3); /* Ethernet and VLAN */
		if (s->ipv6) {
			assert_int_equal(get16(seg + lo->l3 + 4), out.len[i] - lo->l3 - 40);
			assert_memory_equal(seg + lo->l3 + 6, orig + lo->l3 + 6, 34);
		} else {
			check_ipv4_hdr(seg, lo, out.len[i]);
			assert_int_equal(get16(seg + lo->l3 + 4), (uint16_t)(s->ip_id + i));
			assert_int_equal(get16(seg + lo->l3 + 6), 0x4000);
			assert_memory_equal(seg + lo->l3 + 12, orig + lo->l3 + 12,
					    lo->l4 - lo->l3 - 12);
		}
		if (s->proto == 6) {
			uint8_t want = s->tcp_flags;

			assert_int_equal(get32(seg + lo->l4 + 4), (uint32_t)(s->seq + off));
			assert_int_equal(get32(seg + lo->l4 + 8), 0x11223344);
			if (!last)
				want &= (uint8_t)~(TCP_FIN | TCP_PSH);
			if (i)
				want &= (uint8_t)~TCP_CWR;
			assert_int_equal(seg[lo->l4 + 13], want);
			assert_memory_equal(seg + lo->l4, orig + lo->l4, 4);
			assert_memory_equal(seg + lo->l4 + 12, orig + lo->l4 + 12, 1);
			assert_memory_equal(seg + lo->l4 + 14, orig + lo->l4 + 14, 2);
			assert_memory_equal(seg + lo->l4 + 18, orig + lo->l4 + 18,
					    lo->data - lo->l4 - 18);
		} else {
			assert_int_equal(get16(seg + lo->l4 + 4), 8 + plen);
			assert_memory_equal(seg + lo->l4, orig + lo->l4, 4);
		}
		check_l4_csum(seg, out.len[i], lo, s->ipv6, s->proto);
		assert_memory_equal(seg + lo->data, orig + lo->data + off, plen);
		off += plen;
	}
	assert_int_equal(off, s->payload);
}

static void tso_case(const struct spec *s, uint16_t mss, uint8_t gso_type)
{
	static uint8_t f[70000];
	struct layout lo;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, s, &lo);
	int ret;

	h = vhdr(gso_type, mss, &lo, s->proto == 6 ? 16 : 6);
	reset(NULL);
	ret = run(f, len, &h);
	assert_int_equal(ret, (int)out.n);
	check_segments(f, s, &lo, mss);
}

static void test_tso_v4(void **state)
{
	struct spec s = { .proto = 6, .payload = 4000, .seq = 0xfffffa00, .ip_id = 0x1234,
			  .tcp_flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR };

	tso_case(&s, 1448, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 3);
	/* A frame of the largest size the core carries. */
	s.payload = 65535 - 40;
	tso_case(&s, 1460, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 45);
}

static void test_tso_v4_vlan_options(void **state)
{
	struct spec s = { .proto = 6, .vlan = true, .ip_opt_words = 1, .tcp_opt_words = 3,
			  .payload = 2501, .seq = 1000, .ip_id = 0xffff,
			  .tcp_flags = TCP_ACK | TCP_PSH };

	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 3);
	assert_int_equal(get16(out.seg[1] + 18 + 4), 0); /* the IP id wraps */
}

static void test_tso_v6_ecn(void **state)
{
	struct spec s = { .ipv6 = true, .proto = 6, .payload = 3000, .seq = 7,
			  .tcp_flags = TCP_ACK | TCP_CWR | TCP_FIN };

	tso_case(&s, 1440, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
	assert_int_equal(out.n, 3);
	s.vlan = true;
	s.tcp_opt_words = 10;
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV6);
}

static void test_tso_edges(void **state)
{
	struct spec s = { .proto = 6, .seq = 5, .tcp_flags = TCP_ACK | TCP_FIN };

	s.payload = 2 * 1000; /* exact multiple */
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 2);
	s.payload = 999; /* less than one segment */
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 1);
	s.payload = 0; /* headers only */
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 1);
	s.payload = 7; /* tiny segments, odd lengths */
	tso_case(&s, 1, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 7);
}

static void test_uso(void **state)
{
	struct spec s = { .proto = 17, .payload = 3000, .ip_id = 40 };

	tso_case(&s, 1200, VIRTIO_NET_HDR_GSO_UDP_L4);
	assert_int_equal(out.n, 3);
	s.ipv6 = true;
	s.vlan = true;
	tso_case(&s, 1200, VIRTIO_NET_HDR_GSO_UDP_L4);
	assert_int_equal(out.n, 3);
	s.payload = 1201;
	tso_case(&s, 1200, VIRTIO_NET_HDR_GSO_UDP_L4);
	assert_int_equal(out.n, 2);
}

/* Put IP fragments back together and check the datagram against the original. */
static void check_reassembly(const uint8_t *orig, const struct spec *s, const struct layout *lo,
			     size_t unit)
{
	static uint8_t dgram[70000];
	size_t total = lo->len - lo->l4, got = 0;
	size_t fh = lo->l4; /* IPv6: the fragment header follows the fixed header */
	uint32_t id6 = 0;

	for (unsigned int i = 0; i < out.n; i++) {
		const uint8_t *seg = out.seg[i];
		size_t hl = s->ipv6 ? lo->l4 + 8 : lo->l4, piece = out.len[i] - hl, off;
		bool more, last = i + 1 == out.n;

		assert_true(out.len[i] >= hl);
		assert_memory_equal(seg, orig, lo->l3);
		if (s->ipv6) {
			assert_int_equal(seg[lo->l3 + 6], 44);
			assert_int_equal(get16(seg + lo->l3 + 4), 8 + piece);
			assert_memory_equal(seg + lo->l3 + 7, orig + lo->l3 + 7, 33);
			assert_int_equal(seg[fh], 17);
			assert_int_equal(seg[fh + 1], 0);
			off = get16(seg + fh + 2) & 0xfff8;
			more = get16(seg + fh + 2) & 1;
			assert_int_equal(get16(seg + fh + 2) & 6, 0);
			if (i == 0)
				id6 = get32(seg + fh + 4);
			assert_int_equal(get32(seg + fh + 4), id6);
		} else {
			check_ipv4_hdr(seg, lo, out.len[i]);
			assert_int_equal(get16(seg + lo->l3 + 4), s->ip_id); /* one id for all */
			off = (size_t)(get16(seg + lo->l3 + 6) & 0x1fff) * 8;
			more = get16(seg + lo->l3 + 6) & 0x2000;
			if (out.n > 1) /* fragments do not say "do not fragment" */
				assert_int_equal(get16(seg + lo->l3 + 6) & 0x4000, 0);
		}
		assert_int_equal(more, !last);
		assert_int_equal(off, got);
		assert_int_equal(piece, last ? total - got : unit);
		memcpy(dgram + off, seg + hl, piece);
		got += piece;
	}
	assert_int_equal(got, total);
	/* The datagram: as sent but for its checksum, which must now verify. */
	assert_memory_equal(dgram, orig + lo->l4, 6);
	assert_memory_equal(dgram + 8, orig + lo->l4 + 8, total - 8);
	assert_int_equal(ref_fold(ref_sum(dgram, total, ref_pseudo(orig, lo->l3, s->ipv6, 17,
								   total))),
			 0);
}

static void ufo_case(const struct spec *s, uint16_t gso_size, size_t unit, unsigned int nfrags)
{
	static uint8_t f[70000];
	struct layout lo;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, s, &lo);

	h = vhdr(VIRTIO_NET_HDR_GSO_UDP, gso_size, &lo, 6);
	reset(NULL);
	assert_int_equal(run(f, len, &h), (int)nfrags);
	assert_int_equal(out.n, nfrags);
	check_reassembly(f, s, &lo, unit);
}

static void test_ufo_v4(void **state)
{
	struct spec s = { .proto = 17, .payload = 3000, .ip_id = 0x4242 };

	ufo_case(&s, 1480, 1480, 3); /* 3008 bytes: 1480 + 1480 + 48 */
	ufo_case(&s, 1475, 1472, 3); /* rounded down to a multiple of 8 */
	s.vlan = true;
	s.payload = 65535 - 28;
	ufo_case(&s, 1480, 1480, 45);
	s.payload = 1000; /* fits: sent whole, checksums finished, not a fragment */
	ufo_case(&s, 1480, 1480, 1);
}

static void test_ufo_v6(void **state)
{
	struct spec s = { .ipv6 = true, .proto = 17, .payload = 4000 };

	ufo_case(&s, 1448, 1448, 3);
	s.payload = 7;
	ufo_case(&s, 8, 8, 2); /* 15 bytes: 8 + 7 */
}

static void test_ufo_refused(void **state)
{
	struct spec s = { .proto = 17, .payload = 3000, .ip_opt_words = 1 };
	static uint8_t f[4000];
	struct layout lo;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, &s, &lo);

	reset(NULL);
	h = vhdr(VIRTIO_NET_HDR_GSO_UDP, 1480, &lo, 6);
	assert_int_equal(run(f, len, &h), -EOPNOTSUPP); /* IPv4 options */
	s.ip_opt_words = 0;
	len = build(f, &s, &lo);
	h = vhdr(VIRTIO_NET_HDR_GSO_UDP, 7, &lo, 6);
	assert_int_equal(run(f, len, &h), -EINVAL); /* fragments under 8 bytes */
	h = vhdr(VIRTIO_NET_HDR_GSO_UDP | VIRTIO_NET_HDR_GSO_ECN, 1480, &lo, 6);
	assert_int_equal(run(f, len, &h), -EINVAL);
	assert_int_equal(out.calls, 0);
}

static void test_csum_only(void **state)
{
	static uint8_t f[3000];
	struct spec specs[] = {
		{ .proto = 17, .payload = 101 },
		{ .proto = 6, .payload = 1400, .tcp_flags = TCP_ACK },
		{ .ipv6 = true, .proto = 6, .vlan = true, .payload = 77 },
		{ .ipv6 = true, .proto = 17, .payload = 0 },
	};

	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		struct spec *s = &specs[k];
		struct virtio_net_hdr_v1 h;
		struct layout lo;
		size_t len = build(f, s, &lo), field = lo.l4 + (s->proto == 6 ? 16 : 6);

		h = vhdr(VIRTIO_NET_HDR_GSO_NONE, 0, &lo, s->proto == 6 ? 16 : 6);
		reset(NULL);
		assert_int_equal(run(f, len, &h), 1);
		assert_int_equal(out.n, 1);
		assert_int_equal(out.len[0], len);
		assert_memory_equal(out.seg[0], f, field);
		assert_memory_equal(out.seg[0] + field + 2, f + field + 2, len - field - 2);
		check_l4_csum(out.seg[0], len, &lo, s->ipv6, s->proto);
	}
}

static void test_csum_anywhere(void **state)
{
	/* No parsing: any start and offset inside the frame, even odd ones. */
	uint8_t f[64];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };

	for (size_t i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 13 + 1);
	h.csum_start = htole16(21);
	h.csum_offset = htole16(40);
	reset(NULL);
	assert_int_equal(run(f, sizeof(f), &h), 1);
	/* The stored value C of the original field value F satisfies F + sum(region with C) ==
	 * 0 in one's complement: what makes a TCP or UDP checksum verify. */
	{
		uint8_t region[64];
		uint16_t field = get16(f + 61);

		memcpy(region, out.seg[0] + 21, sizeof(f) - 21);
		assert_int_equal(ref_fold(ref_sum(region, sizeof(f) - 21, field)), 0);
		assert_memory_equal(out.seg[0], f, 61);
		assert_memory_equal(out.seg[0] + 63, f + 63, 1);
	}
	h.csum_start = htole16(62);
	h.csum_offset = htole16(0);
	reset(NULL);
	assert_int_equal(run(f, sizeof(f), &h), 1); /* the last two bytes */
	assert_int_equal(ref_fold(ref_sum(out.seg[0] + 62, 2, get16(f + 62))), 0);
}

static void test_plain_passes(void **state)
{
	uint8_t f[60] = { 1, 2, 3 };
	struct virtio_net_hdr_v1 h = { 0 };

	reset(NULL);
	assert_int_equal(run(f, sizeof(f), &h), 1);
	assert_int_equal(out.len[0], 60);
	assert_memory_equal(out.seg[0], f, 60);
}

/* Every hostile header is refused before anything is emitted. */
static void expect_refused(const uint8_t *f, size_t len, const struct virtio_net_hdr_v1 *h,
			   int err)
{
	reset(NULL);
	assert_int_equal(run(f, len, h), err);
	assert_int_equal(out.calls, 0);
}

static void test_hostile_csum(void **state)
{
	uint8_t f[100] = { 0 };
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	const uint16_t bad[][2] = {
		{ 100, 0 }, { 99, 0 }, { 98, 1 }, { 0, 99 }, { 0xffff, 0 }, { 0, 0xffff },
		{ 0xffff, 0xffff }, { 50, 49 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h.csum_start = htole16(bad[i][0]);
		h.csum_offset = htole16(bad[i][1]);
		expect_refused(f, sizeof(f), &h, -EINVAL);
	}
	h.csum_start = htole16(98);
	h.csum_offset = 0;
	reset(NULL);
	assert_int_equal(run(f, sizeof(f), &h), 1); /* the very end still fits */
	expect_refused(f, 0, &h, -EINVAL);
}

static void test_hostile_gso(void **state)
{
	static uint8_t f[5000], g[5000];
	struct spec s4 = { .proto = 6, .payload = 3000, .tcp_flags = TCP_ACK };
	struct spec s6 = { .ipv6 = true, .proto = 6, .payload = 3000 };
	struct layout lo, lo6;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, &s4, &lo);

	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 0, &lo, 16);
	expect_refused(f, len, &h, -EINVAL); /* gso_size 0 */

	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 16);
	/* Every truncation of a good frame: the lengths no longer agree. */
	for (size_t cut = 0; cut < len; cut += cut < 80 ? 1 : 97)
		expect_refused(f, cut, &h, -EINVAL);

	memcpy(g, f, len);
	g[lo.l3] = 0x44; /* ihl 4 */
	expect_refused(g, len, &h, -EINVAL);
	g[lo.l3] = 0x4f; /* ihl 15, in a frame that ends before 60 bytes of IP header */
	put16(g + lo.l3 + 2, 50);
	expect_refused(g, lo.l3 + 50, &h, -EINVAL);
	memcpy(g, f, len);
	g[lo.l3] = 0x65; /* not version 4 */
	expect_refused(g, len, &h, -EINVAL);

	const uint16_t lies[] = { 0, 19, (uint16_t)(len - lo.l3 - 1), (uint16_t)(len - lo.l3 + 1),
				  0xffff };
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		memcpy(g, f, len);
		put16(g + lo.l3 + 2, lies[i]);
		expect_refused(g, len, &h, -EINVAL);
	}

	memcpy(g, f, len);
	put16(g + lo.l3 + 6, 0x2000); /* already a fragment */
	expect_refused(g, len, &h, -EINVAL);
	memcpy(g, f, len);
	g[lo.l3 + 9] = 17; /* UDP in a TCP GSO frame */
	expect_refused(g, len, &h, -EINVAL);
	memcpy(g, f, len);
	g[lo.l4 + 12] = 0x40; /* data offset 4 */
	expect_refused(g, len, &h, -EINVAL);
	memcpy(g, f, len);
	g[lo.l4 + 12] = 0xf0; /* data offset 15 past a frame with no payload */
	expect_refused(g, lo.data, &h, -EINVAL);
	memcpy(g, f, len);
	put16(g + 12, 0x0806); /* ARP */
	expect_refused(g, len, &h, -EINVAL);
	memcpy(g, f, len);
	put16(g + 12, 0x8100);
	put16(g + 16, 0x8100);
	expect_refused(g, len, &h, -EINVAL); /* tags eat the IP header: lengths disagree */
	put16(g + 20, 0x8100);
	expect_refused(g, len, &h, -EOPNOTSUPP); /* three tags */

	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 16);
	h.hdr_len = htole16((uint16_t)(len + 1));
	expect_refused(f, len, &h, -EINVAL);
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 16);
	h.csum_start = htole16((uint16_t)(lo.l4 + 1));
	expect_refused(f, len, &h, -EINVAL);
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 6);
	expect_refused(f, len, &h, -EINVAL);
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV6, 1000, &lo, 16);
	expect_refused(f, len, &h, -EINVAL); /* IPv4 frame, IPv6 type */
	h = vhdr(2, 1000, &lo, 16);
	expect_refused(f, len, &h, -EOPNOTSUPP);
	h = vhdr(VIRTIO_NET_HDR_GSO_NONE | VIRTIO_NET_HDR_GSO_ECN, 0, &lo, 16);
	expect_refused(f, len, &h, -EINVAL);

	len = build(f, &s6, &lo6);
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV6, 1000, &lo6, 16);
	memcpy(g, f, len);
	put16(g + lo6.l3 + 4, (uint16_t)(len - lo6.l3 - 40 + 1));
	expect_refused(g, len, &h, -EINVAL);
	memcpy(g, f, len);
	g[lo6.l3 + 6] = 0; /* hop-by-hop options header */
	expect_refused(g, len, &h, -EOPNOTSUPP);
	expect_refused(f, lo6.l3 + 39, &h, -EINVAL);
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo6, 16);
	expect_refused(f, len, &h, -EINVAL);
}

static void test_hostile_udp(void **state)
{
	static uint8_t f[5000];
	struct spec s = { .proto = 17, .payload = 3000 };
	struct layout lo;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, &s, &lo);

	h = vhdr(VIRTIO_NET_HDR_GSO_UDP_L4, 1000, &lo, 6);
	put16(f + lo.l4 + 4, (uint16_t)(len - lo.l4 + 1)); /* UDP length lies */
	expect_refused(f, len, &h, -EINVAL);
	put16(f + lo.l4 + 4, 7);
	expect_refused(f, len, &h, -EINVAL);
	h = vhdr(VIRTIO_NET_HDR_GSO_UDP, 1000, &lo, 6);
	expect_refused(f, len, &h, -EINVAL);
	expect_refused(f, lo.l4 + 7, &h, -EINVAL); /* UDP header cut */
}

/* A refusal of the first frame stops everything; later ones do not. */
static void test_refusal(void **state)
{
	static uint8_t f[5000];
	struct spec s = { .proto = 6, .payload = 3000, .tcp_flags = TCP_ACK };
	struct layout lo;
	struct virtio_net_hdr_v1 h;
	size_t len = build(f, &s, &lo);

	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 16);
	reset(NULL);
	out.refuse_at = 0;
	assert_int_equal(run(f, len, &h), 0);
	assert_int_equal(out.calls, 1);
	reset(NULL);
	out.refuse_at = 1;
	assert_int_equal(run(f, len, &h), 3);
	assert_int_equal(out.calls, 3);
}

/* offload_deliver_plain(): the glue used by the core */

struct glue {
	struct net_client nc;
	unsigned int calls;
	int refuse_at;
	const void *first_base;
	size_t bytes;
};

static ssize_t glue_deliver(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	struct glue *g = (struct glue *)nc;

	assert_int_equal(flags, NET_FLAG_RAW);
	if (g->calls == 0)
		g->first_base = iov[0].iov_base;
	if ((int)g->calls++ == g->refuse_at)
		return 0;
	g->bytes += net_iov_size(iov, iovcnt);
	return (ssize_t)net_iov_size(iov, iovcnt);
}

/* @pkt cut into @n pieces (header and frame mixed). */
static ssize_t deliver_in_pieces(struct glue *g, const uint8_t *pkt, size_t len, int n)
{
	struct iovec iov[200];
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		size_t piece = i + 1 == n ? len - off : len / (size_t)n;

		iov[i] = (struct iovec){ (void *)(pkt + off), piece };
		off += piece;
	}
	return offload_deliver_plain(&g->nc, iov, n, NET_FLAG_RAW, glue_deliver);
}

static void test_deliver_plain(void **state)
{
	static uint8_t pkt[12 + 5000];
	struct spec s = { .proto = 6, .payload = 3000, .tcp_flags = TCP_ACK };
	struct glue g = { .nc = { .name = (char *)"g" }, .refuse_at = -1 };
	struct virtio_net_hdr_v1 h = { 0 };
	struct layout lo;
	size_t len = build(pkt + 12, &s, &lo);
	FILE *devnull = fopen("/dev/null", "w");

	log_set_file(devnull);
	/* Nothing asked: the header is skipped, the frame is not copied. */
	memcpy(pkt, &h, 12);
	assert_int_equal(deliver_in_pieces(&g, pkt, 12 + len, 1), (ssize_t)len);
	assert_ptr_equal(g.first_base, pkt + 12);
	assert_int_equal(g.bytes, len);
	/* So many pieces that it is made flat. */
	g = (struct glue){ .nc = { .name = (char *)"g" }, .refuse_at = -1 };
	assert_int_equal(deliver_in_pieces(&g, pkt, 12 + len, 150), (ssize_t)len);
	assert_int_equal(g.bytes, len);
	assert_int_equal(g.calls, 1);

	/* TSO, split across pieces: three segments. */
	h = vhdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &lo, 16);
	memcpy(pkt, &h, 12);
	g = (struct glue){ .nc = { .name = (char *)"g" }, .refuse_at = -1 };
	assert_true(deliver_in_pieces(&g, pkt, 12 + len, 7) > 0);
	assert_int_equal(g.calls, 3);
	assert_int_equal(g.bytes, 3 * lo.data + s.payload);
	/* First segment refused: nothing delivered, retry later. */
	g = (struct glue){ .nc = { .name = (char *)"g" }, .refuse_at = 0 };
	assert_int_equal(deliver_in_pieces(&g, pkt, 12 + len, 3), 0);
	assert_int_equal(g.calls, 1);
	/* A later one: counted as a drop, the rest still offered. */
	g = (struct glue){ .nc = { .name = (char *)"g" }, .refuse_at = 1 };
	assert_true(deliver_in_pieces(&g, pkt, 12 + len, 3) > 0);
	assert_int_equal(g.calls, 3);
	assert_int_equal(g.nc.stats.rx_dropped, 1);
	/* Malformed: dropped with an error. */
	h.gso_size = 0;
	memcpy(pkt, &h, 12);
	g = (struct glue){ .nc = { .name = (char *)"g" }, .refuse_at = -1 };
	assert_int_equal(deliver_in_pieces(&g, pkt, 12 + len, 2), -EINVAL);
	assert_int_equal(g.calls, 0);
	/* Shorter than a vnet header. */
	assert_int_equal(deliver_in_pieces(&g, pkt, 11, 1), -EINVAL);
	log_set_file(stderr);
	fclose(devnull);
}

/* Coalescing: segments of a TSO frame merge back into it (offload_coalesce). */
static int coalesce_out(unsigned int first, unsigned int n, uint8_t *hdr, size_t *hdr_len)
{
	struct iovec v[MAX_SEGS];

	for (unsigned int i = 0; i < n; i++)
		v[i] = (struct iovec){ out.seg[first + i], out.len[first + i] };
	return offload_coalesce(v, n, hdr, hdr_len);
}

static void coalesce_case(const struct spec *s, uint16_t mss, uint8_t gso_type)
{
	static uint8_t f[70000];
	uint8_t hdr[OFFLOAD_COALESCE_HDR];
	struct virtio_net_hdr_v1 vh;
	struct layout lo;
	size_t len = build(f, s, &lo), hdr_len, off;
	int n;

	tso_case(s, mss, gso_type);
	n = coalesce_out(0, out.n, hdr, &hdr_len);
	assert_int_equal(n, (int)out.n);
	assert_int_equal(hdr_len, NET_VNET_HDR_LEN + lo.data);
	memcpy(&vh, hdr, sizeof(vh));
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.gso_type, gso_type & ~VIRTIO_NET_HDR_GSO_ECN);
	assert_int_equal(le16toh(vh.gso_size), mss);
	assert_int_equal(le16toh(vh.hdr_len), lo.data);
	assert_int_equal(le16toh(vh.csum_start), lo.l4);
	assert_int_equal(le16toh(vh.csum_offset), 16);
	/* The headers are the TSO frame's own, its pseudo-header sum included; then the data. */
	assert_memory_equal(hdr + NET_VNET_HDR_LEN, f, lo.data);
	off = lo.data;
	for (unsigned int i = 0; i < out.n; i++) {
		assert_memory_equal(out.seg[i] + lo.data, f + off, out.len[i] - lo.data);
		off += out.len[i] - lo.data;
	}
	assert_int_equal(off, len);
}

static void test_coalesce(void **state)
{
	struct spec s = { .proto = 6, .vlan = true, .ip_opt_words = 1, .tcp_opt_words = 3,
			  .payload = 4000, .seq = 0xfffffa00, .ip_id = 7,
			  .tcp_flags = TCP_ACK | TCP_PSH };
	uint8_t hdr[OFFLOAD_COALESCE_HDR];
	size_t hdr_len;

	coalesce_case(&s, 1448, VIRTIO_NET_HDR_GSO_TCPV4);
	s.ipv6 = true;
	coalesce_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV6);
	s = (struct spec){ .proto = 6, .payload = 65535 - 40, .tcp_flags = TCP_ACK };
	coalesce_case(&s, 1460, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 45);

	/* Runs stop: at a bad checksum, a gap, another flow, other flags, a shorter segment. */
	s = (struct spec){ .proto = 6, .payload = 6000, .tcp_flags = TCP_ACK };
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 6);
	out.seg[3][out.len[3] - 1] ^= 1;
	assert_int_equal(coalesce_out(0, 6, hdr, &hdr_len), 3);
	assert_int_equal(coalesce_out(3, 3, hdr, &hdr_len), 1);
	assert_int_equal(coalesce_out(4, 2, hdr, &hdr_len), 2);
	assert_int_equal(coalesce_out(1, 1, hdr, &hdr_len), 1);
	out.seg[3][out.len[3] - 1] ^= 1;
	assert_int_equal(coalesce_out(0, 6, hdr, &hdr_len), 6);
	/* A gap: segment 1 then 3. */
	memcpy(out.seg[2], out.seg[3], out.len[3]);
	assert_int_equal(coalesce_out(0, 4, hdr, &hdr_len), 2);
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	/* Another source port (its checksum fixed up the same way). */
	out.seg[2][14 + 20 + 1] ^= 1;
	out.seg[2][14 + 20 + 17] ^= 1;
	assert_int_equal(coalesce_out(0, 6, hdr, &hdr_len), 2);
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	/* A FIN in the middle (and its checksum): not merged. */
	out.seg[2][14 + 20 + 13] |= TCP_FIN;
	out.seg[2][14 + 20 + 17] -= TCP_FIN;
	assert_int_equal(coalesce_out(0, 6, hdr, &hdr_len), 2);
	/* A frame after a shorter one is not merged: the run ends at the short one. */
	s.payload = 2500;
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(out.n, 3);
	memcpy(out.seg[1], out.seg[2], out.len[2]);
	out.len[1] = out.len[2];
	assert_int_equal(coalesce_out(0, 3, hdr, &hdr_len), 1);
	/* UDP, or a lone frame: nothing to merge. */
	s = (struct spec){ .proto = 17, .payload = 3000 };
	tso_case(&s, 1000, VIRTIO_NET_HDR_GSO_UDP_L4);
	assert_int_equal(coalesce_out(0, out.n, hdr, &hdr_len), 1);
	reset(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tso_v4, reset),
		cmocka_unit_test_teardown(test_tso_v4_vlan_options, reset),
		cmocka_unit_test_teardown(test_tso_v6_ecn, reset),
		cmocka_unit_test_teardown(test_tso_edges, reset),
		cmocka_unit_test_teardown(test_uso, reset),
		cmocka_unit_test_teardown(test_ufo_v4, reset),
		cmocka_unit_test_teardown(test_ufo_v6, reset),
		cmocka_unit_test_teardown(test_ufo_refused, reset),
		cmocka_unit_test_teardown(test_csum_only, reset),
		cmocka_unit_test_teardown(test_coalesce, reset),
		cmocka_unit_test_teardown(test_csum_anywhere, reset),
		cmocka_unit_test_teardown(test_plain_passes, reset),
		cmocka_unit_test_teardown(test_hostile_csum, reset),
		cmocka_unit_test_teardown(test_hostile_gso, reset),
		cmocka_unit_test_teardown(test_hostile_udp, reset),
		cmocka_unit_test_teardown(test_refusal, reset),
		cmocka_unit_test(test_deliver_plain),
	};

	reset(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
