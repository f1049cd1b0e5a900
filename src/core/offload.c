// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * offload.c - finishing virtio-net offloads in software for receivers of plain frames.
 *
 * offload_deliver_plain() strips the vnet header. A frame that asks for nothing is passed on
 * without a copy; otherwise it is made flat (once, into a scratch buffer) and handed to
 * offload_segment(), which checks every header through bounds-checked readers, then emits
 * the finished frame(s): headers rebuilt in a small buffer, payload pointing into the frame.
 */
#include <endian.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/offload.h"
#include "vwire/net.h"

/* ETH_P_* and ETH_ALEN come from <linux/if_ether.h>. */
#define ETH_TYPE_OFFSET (2 * ETH_ALEN)
#define VLAN_HLEN 4
#define OFFLOAD_MAX_VLAN_TAGS 2

#define IPV4_MIN_HLEN 20
#define IPV4_VERSION 4
#define IPV4_OFF_TOT_LEN 2
#define IPV4_OFF_ID 4
#define IPV4_OFF_FRAG 6
#define IPV4_OFF_PROTO 9
#define IPV4_OFF_CSUM 10
#define IPV4_OFF_SADDR 12
#define IPV4_ADDR_LEN 4
#define IPV4_DF 0x4000
#define IPV4_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_MAX_TOT_LEN 0xffff

#define IPV6_HLEN 40
#define IPV6_VERSION 6
#define IPV6_OFF_PAYLOAD_LEN 4
#define IPV6_OFF_NEXT 6
#define IPV6_OFF_SADDR 8
#define IPV6_ADDR_LEN 16
#define IPV6_FRAG_HLEN 8
#define IPV6_FRAG_MF 0x0001
#define IPV6_MAX_PAYLOAD_LEN 0xffff

#define TCP_MIN_HLEN 20
#define TCP_OFF_SEQ 4
#define TCP_OFF_DOFF 12
#define TCP_OFF_FLAGS 13
#define TCP_OFF_CSUM 16
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

#define UDP_HLEN 8
#define UDP_OFF_LEN 4
#define UDP_OFF_CSUM 6

/* IP fragments carry multiples of 8 bytes, but the last. */
#define IP_FRAG_UNIT 8

/* Room for every header of one segment: Ethernet, two tags, IPv4 or IPv6 with its fragment
 * header, TCP with options. */
#define OFFLOAD_MAX_HDR 256

/**
 * struct offload_view - untrusted bytes, read only through the offload_rd*() helpers
 * @p:		the bytes
 * @len:	how many
 */
struct offload_view {
	const uint8_t *p;
	size_t len;
};

static bool offload_has(const struct offload_view *v, size_t off, size_t len)
{
	return off <= v->len && len <= v->len - off;
}

static bool offload_rd8(const struct offload_view *v, size_t off, uint8_t *out)
{
	if (!offload_has(v, off, 1))
		return false;
	*out = v->p[off];
	return true;
}

static bool offload_rd16(const struct offload_view *v, size_t off, uint16_t *out)
{
	if (!offload_has(v, off, 2))
		return false;
	*out = (uint16_t)(v->p[off] << 8 | v->p[off + 1]);
	return true;
}

static bool offload_rd32(const struct offload_view *v, size_t off, uint32_t *out)
{
	if (!offload_has(v, off, 4))
		return false;
	*out = (uint32_t)v->p[off] << 24 | (uint32_t)v->p[off + 1] << 16 |
	       (uint32_t)v->p[off + 2] << 8 | v->p[off + 3];
	return true;
}

/**
 * struct offload_hdrs - headers of one segment being built
 * @b:		the bytes
 * @len:	how many are in use
 */
struct offload_hdrs {
	uint8_t b[OFFLOAD_MAX_HDR];
	size_t len;
};

/* Writers into the headers being built; offsets come from a checked layout, and are checked
 * again here so that a mistake cannot write outside the buffer. */
static void offload_wr8(struct offload_hdrs *h, size_t off, uint8_t v)
{
	if (off < h->len)
		h->b[off] = v;
}

static void offload_wr16(struct offload_hdrs *h, size_t off, uint16_t v)
{
	if (off < h->len && h->len - off >= 2) {
		h->b[off] = (uint8_t)(v >> 8);
		h->b[off + 1] = (uint8_t)v;
	}
}

static void offload_wr32(struct offload_hdrs *h, size_t off, uint32_t v)
{
	offload_wr16(h, off, (uint16_t)(v >> 16));
	offload_wr16(h, off + 2, (uint16_t)v);
}

/* Store a checksum computed by offload_csum_fold() (it is already in wire byte order). */
static void offload_wr_csum(uint8_t *at, uint16_t csum)
{
	memcpy(at, &csum, sizeof(csum));
}

uint64_t offload_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	uint32_t w32;
	uint16_t w16;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w32, p, 4);
		sum += w32;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		sum += w16;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&w16, last, 2);
		sum += w16;
	}
	return sum;
}

uint16_t offload_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint64_t offload_csum_add_iov(uint64_t sum, const struct iovec *iov, int iovcnt, size_t offset,
			      size_t len)
{
	bool odd = false;

	for (int i = 0; i < iovcnt && len; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		uint64_t part;
		uint16_t folded;

		if (offset >= n) {
			offset -= n;
			continue;
		}
		p += offset;
		n -= offset;
		offset = 0;
		if (n > len)
			n = len;
		part = offload_csum_add(0, p, n);
		while (part >> 16)
			part = (part & 0xffff) + (part >> 16);
		folded = (uint16_t)part;
		/* Bytes that start at an odd place sit in the other half of each 16-bit word. */
		sum += odd ? (uint16_t)(folded << 8 | folded >> 8) : folded;
		odd ^= n & 1;
		len -= n;
	}
	return sum;
}

/**
 * struct offload_layout - where the headers of a frame are, once checked
 * @l3:		offset of the IP header
 * @l4:		offset of the TCP or UDP header
 * @data:	offset of the payload
 * @end:	end of the IP packet (the frame's length)
 * @ipv6:	IPv6 rather than IPv4
 * @ip_id:	IPv4 identification
 */
struct offload_layout {
	size_t l3;
	size_t l4;
	size_t data;
	size_t end;
	bool ipv6;
	uint16_t ip_id;
};

/* Ethernet with up to two VLAN tags: the EtherType and where the IP header starts. */
static int offload_parse_eth(const struct offload_view *v, uint16_t *type, size_t *l3)
{
	size_t off = ETH_TYPE_OFFSET;

	if (!offload_rd16(v, off, type))
		return -EINVAL;
	for (int tags = 0; *type == ETH_P_8021Q || *type == ETH_P_8021AD; tags++) {
		if (tags == OFFLOAD_MAX_VLAN_TAGS)
			return -EOPNOTSUPP;
		off += VLAN_HLEN;
		if (!offload_rd16(v, off, type))
			return -EINVAL;
	}
	*l3 = off + 2;
	return 0;
}

static int offload_parse_ipv4(const struct offload_view *v, uint8_t proto,
			      struct offload_layout *lo)
{
	uint16_t tot_len, frag;
	uint8_t vihl, p;
	size_t ihl;

	if (!offload_rd8(v, lo->l3, &vihl) || vihl >> 4 != IPV4_VERSION)
		return -EINVAL;
	ihl = (size_t)(vihl & 0x0f) * 4;
	if (ihl < IPV4_MIN_HLEN || !offload_has(v, lo->l3, ihl))
		return -EINVAL;
	if (!offload_rd16(v, lo->l3 + IPV4_OFF_TOT_LEN, &tot_len) ||
	    !offload_rd16(v, lo->l3 + IPV4_OFF_ID, &lo->ip_id) ||
	    !offload_rd16(v, lo->l3 + IPV4_OFF_FRAG, &frag) ||
	    !offload_rd8(v, lo->l3 + IPV4_OFF_PROTO, &p))
		return -EINVAL;
	/* A GSO frame is never padded: its IP length is the rest of the frame, exactly. */
	if (tot_len != v->len - lo->l3)
		return -EINVAL;
	if (frag & (IPV4_MF | IPV4_FRAG_OFFSET_MASK))
		return -EINVAL;
	if (p != proto)
		return -EINVAL;
	lo->l4 = lo->l3 + ihl;
	return 0;
}

static int offload_parse_ipv6(const struct offload_view *v, uint8_t proto,
			      struct offload_layout *lo)
{
	uint16_t payload_len;
	uint8_t ver, next;

	if (!offload_rd8(v, lo->l3, &ver) || ver >> 4 != IPV6_VERSION)
		return -EINVAL;
	if (!offload_has(v, lo->l3, IPV6_HLEN) ||
	    !offload_rd16(v, lo->l3 + IPV6_OFF_PAYLOAD_LEN, &payload_len) ||
	    !offload_rd8(v, lo->l3 + IPV6_OFF_NEXT, &next))
		return -EINVAL;
	if (payload_len != v->len - lo->l3 - IPV6_HLEN)
		return -EINVAL;
	if (next != proto)
		return -EOPNOTSUPP; /* extension headers (or another protocol) */
	lo->l4 = lo->l3 + IPV6_HLEN;
	return 0;
}

/*
 * Check the frame's headers for a @proto GSO frame of family @ipv6 (-1: either) and find
 * them. Every length field must agree with the frame's length.
 */
static int offload_parse(const struct offload_view *v, int ipv6, uint8_t proto,
			 struct offload_layout *lo)
{
	uint16_t type, udp_len;
	uint8_t doff;
	int ret;

	memset(lo, 0, sizeof(*lo));
	lo->end = v->len;
	ret = offload_parse_eth(v, &type, &lo->l3);
	if (ret < 0)
		return ret;
	lo->ipv6 = type == ETH_P_IPV6;
	if (type == ETH_P_IP && ipv6 != 1)
		ret = offload_parse_ipv4(v, proto, lo);
	else if (type == ETH_P_IPV6 && ipv6 != 0)
		ret = offload_parse_ipv6(v, proto, lo);
	else
		ret = -EINVAL;
	if (ret < 0)
		return ret;
	if (proto == IPPROTO_TCP) {
		if (!offload_has(v, lo->l4, TCP_MIN_HLEN) ||
		    !offload_rd8(v, lo->l4 + TCP_OFF_DOFF, &doff))
			return -EINVAL;
		if ((size_t)(doff >> 4) * 4 < TCP_MIN_HLEN ||
		    !offload_has(v, lo->l4, (size_t)(doff >> 4) * 4))
			return -EINVAL;
		lo->data = lo->l4 + (size_t)(doff >> 4) * 4;
	} else {
		if (!offload_has(v, lo->l4, UDP_HLEN) ||
		    !offload_rd16(v, lo->l4 + UDP_OFF_LEN, &udp_len))
			return -EINVAL;
		if (udp_len != v->len - lo->l4)
			return -EINVAL;
		lo->data = lo->l4 + UDP_HLEN;
	}
	/* Cannot fail with the limits above; kept so that the header buffer can never overflow. */
	if (lo->data + IPV6_FRAG_HLEN > OFFLOAD_MAX_HDR)
		return -EINVAL;
	return 0;
}

/* What hdr says besides the GSO type must agree with the headers found. */
static int offload_check_hdr(const struct virtio_net_hdr_v1 *hdr, size_t len,
			     const struct offload_layout *lo, size_t csum_field)
{
	if (le16toh(hdr->hdr_len) > len)
		return -EINVAL;
	if ((hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (le16toh(hdr->csum_start) != lo->l4 || le16toh(hdr->csum_offset) != csum_field))
		return -EINVAL;
	return 0;
}

/* Sum of the pseudo-header of a transport segment of @l4_len bytes, from the headers built. */
static uint64_t offload_pseudo_sum(const struct offload_hdrs *h, const struct offload_layout *lo,
				   uint8_t proto, size_t l4_len)
{
	uint8_t tail[4] = { 0, 0, 0, proto };
	uint64_t sum;

	if (lo->ipv6) {
		uint8_t len32[4] = { (uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16),
				     (uint8_t)(l4_len >> 8), (uint8_t)l4_len };

		sum = offload_csum_add(0, h->b + lo->l3 + IPV6_OFF_SADDR, 2 * IPV6_ADDR_LEN);
		sum = offload_csum_add(sum, len32, sizeof(len32));
		return offload_csum_add(sum, tail, sizeof(tail));
	}
	tail[2] = (uint8_t)(l4_len >> 8);
	tail[3] = (uint8_t)l4_len;
	tail[1] = proto;
	sum = offload_csum_add(0, h->b + lo->l3 + IPV4_OFF_SADDR, 2 * IPV4_ADDR_LEN);
	return offload_csum_add(sum, tail, sizeof(tail));
}

static void offload_ipv4_csum(struct offload_hdrs *h, const struct offload_layout *lo)
{
	size_t ihl = lo->l4 - lo->l3;

	offload_wr16(h, lo->l3 + IPV4_OFF_CSUM, 0);
	offload_wr_csum(h->b + lo->l3 + IPV4_OFF_CSUM,
			offload_csum_fold(offload_csum_add(0, h->b + lo->l3, ihl)));
}

/* IP lengths of a segment carrying @seg bytes of payload after headers of h->len bytes. */
static void offload_set_ip_len(struct offload_hdrs *h, const struct offload_layout *lo,
			       size_t seg, uint16_t id)
{
	if (lo->ipv6) {
		offload_wr16(h, lo->l3 + IPV6_OFF_PAYLOAD_LEN,
			     (uint16_t)(h->len - lo->l3 - IPV6_HLEN + seg));
		return;
	}
	offload_wr16(h, lo->l3 + IPV4_OFF_TOT_LEN, (uint16_t)(h->len - lo->l3 + seg));
	offload_wr16(h, lo->l3 + IPV4_OFF_ID, id);
	offload_ipv4_csum(h, lo);
}

/*
 * Emit one frame; 'refused' only counts for the first. Returns false when segmenting must
 * stop (the first frame was refused).
 */
static bool offload_emit(offload_emit_fn *emit, void *opaque, const struct iovec *iov, int n,
			 int *count)
{
	ssize_t ret = emit(opaque, iov, n);

	if (ret == 0 && *count == 0)
		return false;
	(*count)++;
	return true;
}

/* TSO and USO: every segment gets a copy of the headers, fixed up, and its payload slice. */
static int offload_gso_l4(const uint8_t *frame, const struct offload_layout *lo, uint8_t proto,
			  size_t gso_size, offload_emit_fn *emit, void *opaque)
{
	const struct offload_view v = { frame, lo->end };
	struct offload_hdrs h = { .len = lo->data };
	size_t plen = lo->end - lo->data, off = 0, seg;
	size_t csum_at = lo->l4 + (proto == IPPROTO_TCP ? TCP_OFF_CSUM : UDP_OFF_CSUM);
	uint32_t seq = 0;
	uint8_t tcp_flags = 0;
	int count = 0;

	if (proto == IPPROTO_TCP && (!offload_rd32(&v, lo->l4 + TCP_OFF_SEQ, &seq) ||
				     !offload_rd8(&v, lo->l4 + TCP_OFF_FLAGS, &tcp_flags)))
		return -EINVAL;
	for (unsigned int i = 0; i == 0 || off < plen; i++, off += seg) {
		struct iovec iov[2];
		bool last;
		uint64_t sum;
		uint16_t csum;

		seg = plen - off < gso_size ? plen - off : gso_size;
		last = off + seg == plen;
		memcpy(h.b, frame, h.len);
		offload_set_ip_len(&h, lo, seg, (uint16_t)(lo->ip_id + i));
		if (proto == IPPROTO_TCP) {
			uint8_t f = tcp_flags;

			if (!last)
				f &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
			if (i)
				f &= (uint8_t)~TCP_FLAG_CWR;
			offload_wr32(&h, lo->l4 + TCP_OFF_SEQ, seq + (uint32_t)off);
			offload_wr8(&h, lo->l4 + TCP_OFF_FLAGS, f);
		} else {
			offload_wr16(&h, lo->l4 + UDP_OFF_LEN, (uint16_t)(UDP_HLEN + seg));
		}
		offload_wr16(&h, csum_at, 0);
		sum = offload_pseudo_sum(&h, lo, proto, h.len - lo->l4 + seg);
		sum = offload_csum_add(sum, h.b + lo->l4, h.len - lo->l4);
		sum = offload_csum_add(sum, frame + lo->data + off, seg);
		csum = offload_csum_fold(sum);
		if (proto == IPPROTO_UDP && csum == 0)
			csum = 0xffff; /* 0 would mean "no checksum" */
		offload_wr_csum(h.b + csum_at, csum);
		iov[0] = (struct iovec){ h.b, h.len };
		iov[1] = (struct iovec){ (void *)(frame + lo->data + off), seg };
		if (!offload_emit(emit, opaque, iov, seg ? 2 : 1, &count))
			return 0;
	}
	return count;
}

static uint32_t offload_ipv6_frag_id(void)
{
	static uint32_t next;

	if (!next && getrandom(&next, sizeof(next), GRND_NONBLOCK) != sizeof(next))
		next = 1;
	return next++;
}

/*
 * UFO: the UDP datagram (header included) is cut into IP fragments of @unit bytes (a
 * multiple of 8); the UDP header, finished in @udp, goes in the first one.
 */
static int offload_ufo_fragment(const uint8_t *frame, const struct offload_layout *lo,
				const uint8_t *udp, size_t unit, offload_emit_fn *emit,
				void *opaque)
{
	struct offload_hdrs h = { .len = lo->l4 };
	size_t tlen = lo->end - lo->l4, off, piece;
	uint32_t id = 0;
	int count = 0;

	if (lo->ipv6) {
		h.len += IPV6_FRAG_HLEN;
		id = offload_ipv6_frag_id();
	}
	for (off = 0; off < tlen; off += piece) {
		struct iovec iov[3];
		bool last;
		int n = 1;

		piece = tlen - off < unit ? tlen - off : unit;
		last = off + piece == tlen;
		memcpy(h.b, frame, lo->l4);
		if (lo->ipv6) {
			size_t fh = lo->l4;

			offload_wr8(&h, lo->l3 + IPV6_OFF_NEXT, IPPROTO_FRAGMENT);
			offload_wr16(&h, lo->l3 + IPV6_OFF_PAYLOAD_LEN,
				     (uint16_t)(IPV6_FRAG_HLEN + piece));
			offload_wr8(&h, fh, IPPROTO_UDP);
			offload_wr8(&h, fh + 1, 0);
			offload_wr16(&h, fh + 2, (uint16_t)(off | (last ? 0 : IPV6_FRAG_MF)));
			offload_wr32(&h, fh + 4, id);
		} else {
			offload_wr16(&h, lo->l3 + IPV4_OFF_TOT_LEN,
				     (uint16_t)(IPV4_MIN_HLEN + piece));
			offload_wr16(&h, lo->l3 + IPV4_OFF_FRAG,
				     (uint16_t)(off / IP_FRAG_UNIT | (last ? 0 : IPV4_MF)));
			offload_ipv4_csum(&h, lo);
		}
		iov[0] = (struct iovec){ h.b, h.len };
		if (off == 0) {
			/* unit >= 8: the whole UDP header is in the first fragment. */
			iov[n++] = (struct iovec){ (void *)udp, UDP_HLEN };
			if (piece > UDP_HLEN)
				iov[n++] = (struct iovec){ (void *)(frame + lo->data),
							   piece - UDP_HLEN };
		} else {
			iov[n++] = (struct iovec){ (void *)(frame + lo->l4 + off), piece };
		}
		if (!offload_emit(emit, opaque, iov, n, &count))
			return 0;
	}
	return count;
}

static int offload_ufo(const uint8_t *frame, const struct offload_layout *lo,
		       const struct virtio_net_hdr_v1 *hdr, size_t gso_size,
		       offload_emit_fn *emit, void *opaque)
{
	size_t unit = gso_size & ~(size_t)(IP_FRAG_UNIT - 1);
	struct offload_hdrs h = { .len = lo->l4 };
	uint8_t udp[UDP_HLEN];
	int count = 0;

	if (!unit)
		return -EINVAL;
	/* Options would have to be sorted into copied and not copied ones: not worth it. */
	if (!lo->ipv6 && lo->l4 - lo->l3 != IPV4_MIN_HLEN)
		return -EOPNOTSUPP;
	memcpy(udp, frame + lo->l4, UDP_HLEN);
	memcpy(h.b, frame, lo->l4);
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		/* The checksum covers the whole datagram, whatever the fragments. */
		uint64_t sum = offload_pseudo_sum(&h, lo, IPPROTO_UDP, lo->end - lo->l4);
		uint16_t csum;

		sum = offload_csum_add(sum, udp, UDP_OFF_CSUM);
		sum = offload_csum_add(sum, frame + lo->data, lo->end - lo->data);
		csum = offload_csum_fold(sum);
		offload_wr_csum(udp + UDP_OFF_CSUM, csum ? csum : 0xffff);
	}
	if (lo->end - lo->l4 > unit)
		return offload_ufo_fragment(frame, lo, udp, unit, emit, opaque);
	/* Fits in one: sent whole, only its checksums finished. */
	if (!lo->ipv6)
		offload_ipv4_csum(&h, lo);
	{
		struct iovec iov[3] = {
			{ h.b, h.len },
			{ udp, UDP_HLEN },
			{ (void *)(frame + lo->data), lo->end - lo->data },
		};

		if (!offload_emit(emit, opaque, iov, 3, &count))
			return 0;
	}
	return count;
}

/* NEEDS_CSUM alone: the sum from csum_start to the end goes at csum_start + csum_offset. */
static int offload_csum_only(const uint8_t *frame, size_t len,
			     const struct virtio_net_hdr_v1 *hdr, offload_emit_fn *emit,
			     void *opaque)
{
	const struct offload_view v = { frame, len };
	size_t start = le16toh(hdr->csum_start), field = le16toh(hdr->csum_offset);
	size_t at = start + field;
	uint16_t csum;
	int count = 0;

	if (!offload_has(&v, start, field + 2))
		return -EINVAL;
	csum = offload_csum_fold(offload_csum_add(0, frame + start, len - start));
	if (csum == 0)
		csum = 0xffff; /* as Linux: same value for TCP, and not "none" for UDP */
	{
		struct iovec iov[3] = {
			{ (void *)frame, at },
			{ &csum, 2 },
			{ (void *)(frame + at + 2), len - at - 2 },
		};

		if (!offload_emit(emit, opaque, iov, 3, &count))
			return 0;
	}
	return count;
}

int offload_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *hdr,
		    offload_emit_fn *emit, void *opaque)
{
	const struct offload_view v = { frame, len };
	uint8_t gso = hdr->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	size_t gso_size = le16toh(hdr->gso_size);
	struct offload_layout lo;
	uint8_t proto;
	int ipv6, ret;

	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (ecn)
			return -EINVAL;
		if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
			struct iovec iov = { (void *)frame, len };
			int count = 0;

			return offload_emit(emit, opaque, &iov, 1, &count) ? count : 0;
		}
		return offload_csum_only(frame, len, hdr, emit, opaque);
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		proto = IPPROTO_TCP;
		ipv6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
	case VIRTIO_NET_HDR_GSO_UDP:
		if (ecn)
			return -EINVAL;
		proto = IPPROTO_UDP;
		ipv6 = -1;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!gso_size)
		return -EINVAL;
	ret = offload_parse(&v, ipv6, proto, &lo);
	if (ret < 0)
		return ret;
	ret = offload_check_hdr(hdr, len, &lo, proto == IPPROTO_TCP ? TCP_OFF_CSUM : UDP_OFF_CSUM);
	if (ret < 0)
		return ret;
	if (gso == VIRTIO_NET_HDR_GSO_UDP)
		return offload_ufo(frame, &lo, hdr, gso_size, emit, opaque);
	return offload_gso_l4(frame, &lo, proto, gso_size, emit, opaque);
}

/* Coalescing: the inverse of TSO, for a receiver that takes vnet headers */

/* Whether the TCP (and IPv4 header) checksums of a parsed frame are right. */
static bool offload_tcp_csum_ok(const uint8_t *f, const struct offload_layout *lo)
{
	size_t l4_len = lo->end - lo->l4;
	uint8_t pseudo[4] = { 0, IPPROTO_TCP, (uint8_t)(l4_len >> 8), (uint8_t)l4_len };
	uint64_t sum;

	if (lo->ipv6) {
		/* Upper-layer length (32 bits), three zero bytes, next header. */
		const uint8_t v6[8] = { 0, 0, (uint8_t)(l4_len >> 8), (uint8_t)l4_len,
					0, 0, 0, IPPROTO_TCP };

		sum = offload_csum_add(0, f + lo->l3 + IPV6_OFF_SADDR, 2 * IPV6_ADDR_LEN);
		sum = offload_csum_add(sum, v6, sizeof(v6));
	} else {
		if (offload_csum_fold(offload_csum_add(0, f + lo->l3, lo->l4 - lo->l3)))
			return false;
		sum = offload_csum_add(0, f + lo->l3 + IPV4_OFF_SADDR, 2 * IPV4_ADDR_LEN);
		sum = offload_csum_add(sum, pseudo, sizeof(pseudo));
	}
	return offload_csum_fold(offload_csum_add(sum, f + lo->l4, l4_len)) == 0;
}

static uint32_t offload_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Whether frame @f (layout @lo) continues the run that @f0 (layout @lo0) starts, @seq being
 * the sequence number it must have: the same addresses, ports, header lengths, options, ack,
 * window and flags (but PSH), only the lengths, IPv4 id and checksums differing.
 */
static bool offload_continues(const uint8_t *f0, const struct offload_layout *lo0,
			      const uint8_t *f, const struct offload_layout *lo, uint32_t seq)
{
	const uint8_t *t0 = f0 + lo0->l4, *t = f + lo->l4;

	if (lo->ipv6 != lo0->ipv6 || lo->l3 != lo0->l3 || lo->l4 != lo0->l4 ||
	    lo->data != lo0->data)
		return false;
	if (memcmp(f, f0, lo->l3))
		return false;
	if (lo->ipv6) {
		if (memcmp(f + lo->l3, f0 + lo->l3, IPV6_OFF_PAYLOAD_LEN) ||
		    memcmp(f + lo->l3 + IPV6_OFF_NEXT, f0 + lo->l3 + IPV6_OFF_NEXT,
			   IPV6_HLEN - IPV6_OFF_NEXT))
			return false;
	} else {
		if (memcmp(f + lo->l3, f0 + lo->l3, IPV4_OFF_TOT_LEN) ||
		    memcmp(f + lo->l3 + IPV4_OFF_FRAG, f0 + lo->l3 + IPV4_OFF_FRAG,
			   IPV4_OFF_CSUM - IPV4_OFF_FRAG) ||
		    memcmp(f + lo->l3 + IPV4_OFF_SADDR, f0 + lo->l3 + IPV4_OFF_SADDR,
			   lo->l4 - lo->l3 - IPV4_OFF_SADDR))
			return false;
	}
	/* Ports; then ack, data offset, flags but PSH, window; urgent pointer and options. */
	return !memcmp(t, t0, TCP_OFF_SEQ) && offload_get32(t + TCP_OFF_SEQ) == seq &&
	       !memcmp(t + 8, t0 + 8, TCP_OFF_FLAGS - 8) &&
	       (t[TCP_OFF_FLAGS] & ~TCP_FLAG_PSH) == t0[TCP_OFF_FLAGS] &&
	       !memcmp(t + 14, t0 + 14, TCP_OFF_CSUM - 14) &&
	       !memcmp(t + 18, t0 + 18, lo->data - lo->l4 - 18);
}

int offload_coalesce(const struct iovec *frames, unsigned int n, uint8_t *hdr, size_t *hdr_len)
{
	struct offload_layout lo0, lo;
	struct virtio_net_hdr_v1 vh = { 0 };
	const uint8_t *f0 = frames[0].iov_base;
	size_t seg, total, data_len;
	struct offload_hdrs h;
	uint32_t seq;
	unsigned int k;
	uint8_t flags;

	if (n < 2 || offload_parse(&(struct offload_view){ f0, frames[0].iov_len }, -1,
				   IPPROTO_TCP, &lo0) < 0)
		return 1;
	seg = lo0.end - lo0.data;
	flags = f0[lo0.l4 + TCP_OFF_FLAGS];
	/* Only plain data segments with ACK (and ECE) start a run. */
	if (!seg || (flags & ~0x50) || !(flags & 0x10) || !offload_tcp_csum_ok(f0, &lo0))
		return 1;
	seq = offload_get32(f0 + lo0.l4 + TCP_OFF_SEQ) + (uint32_t)seg;
	total = lo0.end;
	for (k = 1; k < n; k++) {
		const uint8_t *f = frames[k].iov_base;
		size_t len;

		if (offload_parse(&(struct offload_view){ f, frames[k].iov_len }, -1, IPPROTO_TCP,
				  &lo) < 0 ||
		    !offload_continues(f0, &lo0, f, &lo, seq))
			break;
		len = lo.end - lo.data;
		/* The merged IP packet's length must fit 16 bits, whatever the family. */
		if (!len || len > seg || total + len - lo0.l3 > IPV4_MAX_TOT_LEN ||
		    !offload_tcp_csum_ok(f, &lo))
			break;
		total += len;
		seq += (uint32_t)len;
		flags |= f[lo.l4 + TCP_OFF_FLAGS] & TCP_FLAG_PSH;
		/* A short segment or a push ends the run. */
		if (len < seg || (f[lo.l4 + TCP_OFF_FLAGS] & TCP_FLAG_PSH)) {
			k++;
			break;
		}
	}
	if (k < 2)
		return 1;
	/* The first frame's headers, with the lengths of the whole and a partial checksum. */
	h.len = lo0.data;
	memcpy(h.b, f0, lo0.data);
	data_len = total - lo0.l4;
	if (lo0.ipv6) {
		offload_wr16(&h, lo0.l3 + IPV6_OFF_PAYLOAD_LEN, (uint16_t)(total - lo0.l3 - IPV6_HLEN));
	} else {
		offload_wr16(&h, lo0.l3 + IPV4_OFF_TOT_LEN, (uint16_t)(total - lo0.l3));
		offload_ipv4_csum(&h, &lo0);
	}
	offload_wr8(&h, lo0.l4 + TCP_OFF_FLAGS, flags);
	offload_wr_csum(h.b + lo0.l4 + TCP_OFF_CSUM,
			(uint16_t)~offload_csum_fold(offload_pseudo_sum(&h, &lo0, IPPROTO_TCP,
									data_len)));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = lo0.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	vh.hdr_len = htole16((uint16_t)lo0.data);
	vh.gso_size = htole16((uint16_t)seg);
	vh.csum_start = htole16((uint16_t)lo0.l4);
	vh.csum_offset = htole16(TCP_OFF_CSUM);
	memcpy(hdr, &vh, NET_VNET_HDR_LEN);
	memcpy(hdr + NET_VNET_HDR_LEN, h.b, h.len);
	*hdr_len = NET_VNET_HDR_LEN + h.len;
	return (int)k;
}

/* The glue between offload_segment() and a net client */

/**
 * struct offload_ctx - where offload_deliver_emit() delivers
 * @nc:		the receiver
 * @flags:	NET_FLAG_* to deliver with
 * @deliver:	how
 * @offered:	frames offered so far
 */
struct offload_ctx {
	struct net_client *nc;
	unsigned int flags;
	offload_deliver_fn *deliver;
	unsigned int offered;
};

static ssize_t offload_deliver_emit(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct offload_ctx *ctx = opaque;
	ssize_t ret = ctx->deliver(ctx->nc, iov, iovcnt, ctx->flags);

	/* Past the first, a refused segment cannot be held back for later: it is lost. */
	if (ret == 0 && ctx->offered)
		ctx->nc->stats.rx_dropped++;
	ctx->offered++;
	return ret;
}

/* Pieces of a frame passed on without a copy; a frame in more is made flat. */
#define OFFLOAD_MAX_IOV 64

/* The flat copy of a frame: one per thread, as each event loop thread delivers on its own. */
static _Thread_local uint8_t offload_scratch[NET_MAX_PACKET];
static _Thread_local bool offload_scratch_busy;

int offload_plain_iov(const struct iovec *iov, int iovcnt, struct iovec *out, int max)
{
	struct virtio_net_hdr_v1 hdr;
	size_t skip = NET_VNET_HDR_LEN;
	int n = 0;

	if (net_iov_peek(iov, iovcnt, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return -EINVAL;
	if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE || (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	for (int i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		if (n == max)
			return -ENOBUFS;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return n ? n : -EINVAL;
}

ssize_t offload_deliver_plain(struct net_client *nc, const struct iovec *iov, int iovcnt,
			      unsigned int flags, offload_deliver_fn *deliver)
{
	static struct log_ratelimit rl;
	struct offload_ctx ctx = { nc, flags, deliver, 0 };
	struct iovec rest[OFFLOAD_MAX_IOV];
	struct virtio_net_hdr_v1 hdr;
	size_t len;
	const uint8_t *frame;
	int n, ret;

	if (net_iov_to_buf(iov, iovcnt, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return -EINVAL;
	len = net_iov_size(iov, iovcnt) - sizeof(hdr);
	if (!len)
		return -EINVAL;
	n = offload_plain_iov(iov, iovcnt, rest, OFFLOAD_MAX_IOV);
	if (n > 0)
		return deliver(nc, rest, n, flags);
	if (len > sizeof(offload_scratch))
		return -EMSGSIZE;
	/* Headers are read once, from a copy the guest cannot change under us. */
	if (offload_scratch_busy)
		return -EBUSY;
	offload_scratch_busy = true;
	net_iov_to_buf(iov, iovcnt, sizeof(hdr), offload_scratch, len);
	frame = offload_scratch;
	ret = offload_segment(frame, len, &hdr, offload_deliver_emit, &ctx);
	offload_scratch_busy = false;
	if (ret < 0)
		log_ratelimited_warn(&rl, "%s: dropped a frame whose offloads cannot be finished "
				     "(flags %#x, gso_type %#x, gso_size %u): %s",
				     nc->name, hdr.flags, hdr.gso_type,
				     (unsigned int)le16toh(hdr.gso_size), strerror(-ret));
	if (ret <= 0)
		return ret;
	return (ssize_t)len;
}
