// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * packet.c - the only parser of a guest's frame headers in the native user-mode engine.
 *
 * unet_frame_parse() walks Ethernet, IPv4 or IPv6 (skipping its hop-by-hop, routing and
 * destination options headers) and TCP/UDP/ICMP/ICMPv6 through the bounds-checked packet_rd*()
 * helpers (packet.h's unet_rd*() accessors on the frame), refuses what does not fit (one enum
 * unet_drop reason each) and fills a struct unet_frame whose offsets the protocol code trusts.
 * Towards the guest, unet_put_eth_ipv4/6() and unet_ipv4/6_pseudo_sum() write headers and
 * start their checksums.
 */
#include <string.h>

#include "core/offload.h"
#include "usernet/packet.h"

#define ETH_OFF_DST 0
#define ETH_OFF_SRC UNET_ETH_ALEN
#define ETH_OFF_TYPE (2 * UNET_ETH_ALEN)

#define IPV4_VERSION 4
#define IPV4_OFF_VER_IHL 0
#define IPV4_OFF_TOS 1
#define IPV4_OFF_TOT_LEN 2
#define IPV4_OFF_ID 4
#define IPV4_OFF_FRAG 6
#define IPV4_OFF_TTL 8
#define IPV4_OFF_PROTO 9
#define IPV4_OFF_CSUM 10
#define IPV4_OFF_SADDR 12
#define IPV4_OFF_DADDR 16
#define IPV4_ADDR_LEN 4
#define IPV4_IHL_MASK 0x0f
#define IPV4_IHL_UNIT 4
#define IPV4_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_DEFAULT_TTL 64
#define IPV4_PSEUDO_HLEN 12

/* RFC 8200 */
#define IPV6_VERSION 6
#define IPV6_OFF_VER 0
#define IPV6_OFF_PLEN 4
#define IPV6_OFF_NEXT 6
#define IPV6_OFF_HOPS 7
#define IPV6_OFF_SADDR 8
#define IPV6_OFF_DADDR 24
#define IPV6_ADDR_LEN 16
#define IPV6_VERSION_SHIFT 4
#define IPV6_PSEUDO_HLEN 40
#define IPV6_PSEUDO_OFF_LEN (2 * IPV6_ADDR_LEN)
#define IPV6_PSEUDO_OFF_NEXT (IPV6_PSEUDO_HLEN - 1)
#define IPV6_EXT_HOPOPTS 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_DSTOPTS 60
#define IPV6_EXT_OFF_NEXT 0
#define IPV6_EXT_OFF_LEN 1
/* An extension header's length field counts 8-byte units after its first 8 bytes. */
#define IPV6_EXT_UNIT 8
#define IPV6_EXT_MIN_LEN 8
/* IPv4-mapped IPv6 addresses (RFC 4291 2.5.5.2): ::ffff:a.b.c.d */
#define IPV6_MAPPED_OFF_FFFF 10
#define IPV6_MAPPED_OFF_V4 12

#define TCP_OFF_SPORT 0
#define TCP_OFF_DPORT 2
#define TCP_OFF_SEQ 4
#define TCP_OFF_ACK 8
#define TCP_OFF_DOFF 12
#define TCP_OFF_FLAGS 13
#define TCP_OFF_WINDOW 14
#define TCP_DOFF_SHIFT 4
#define TCP_DOFF_UNIT 4

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_OPT_MSS_LEN 4
#define TCP_OPT_WSCALE 3
#define TCP_OPT_WSCALE_LEN 3
#define TCP_OPT_MIN_LEN 2
#define TCP_WSCALE_MAX 14

#define UDP_OFF_SPORT 0
#define UDP_OFF_DPORT 2
#define UDP_OFF_LEN 4

#define ICMP_OFF_TYPE 0
#define ICMP_OFF_CODE 1
#define ICMP_OFF_ID 4
#define ICMP_OFF_SEQ 6

/* The bytes of @f at hand, as a view for the unet_rd*() accessors of packet.h. */
#define PACKET_BYTES(f) (&(const struct unet_bytes){ .p = (f)->data, .len = (f)->avail })

/* Is [@off, @off + @n) inside the bytes at @f->data? */
static bool packet_has(const struct unet_frame *f, size_t off, size_t n)
{
	return unet_has(PACKET_BYTES(f), off, n);
}

/* Readers of frame bytes: out-of-range reads give 0 (callers check the header first). */
static uint8_t packet_rd8(const struct unet_frame *f, size_t off)
{
	uint8_t v;

	return unet_rd8(PACKET_BYTES(f), off, &v) ? v : 0;
}

static uint16_t packet_rd16(const struct unet_frame *f, size_t off)
{
	uint16_t v;

	return unet_rd16(PACKET_BYTES(f), off, &v) ? v : 0;
}

static uint32_t packet_rd32(const struct unet_frame *f, size_t off)
{
	uint32_t v;

	return unet_rd32(PACKET_BYTES(f), off, &v) ? v : 0;
}

/* A transport header of @hlen bytes at @f->l4_off: inside the segment, and at hand. */
static enum unet_drop packet_l4_header(const struct unet_frame *f, size_t hlen)
{
	if (hlen > f->l4_len)
		return UNET_DROP_L4_HEADER;
	if (!packet_has(f, f->l4_off, hlen))
		return UNET_DROP_SHORT;
	return UNET_DROP_NONE;
}

/* TCP options between the fixed header and @hlen: MSS and window scale are kept. */
static enum unet_drop packet_tcp_options(struct unet_frame *f, size_t hlen)
{
	size_t i = UNET_TCP_HLEN;

	while (i < hlen) {
		uint8_t kind = packet_rd8(f, f->l4_off + i);
		uint8_t olen;

		if (kind == TCP_OPT_EOL)
			break;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (hlen - i < TCP_OPT_MIN_LEN)
			return UNET_DROP_L4_HEADER;
		olen = packet_rd8(f, f->l4_off + i + 1);
		if (olen < TCP_OPT_MIN_LEN || olen > hlen - i)
			return UNET_DROP_L4_HEADER;
		if (kind == TCP_OPT_MSS && olen == TCP_OPT_MSS_LEN) {
			f->mss = packet_rd16(f, f->l4_off + i + 2);
		} else if (kind == TCP_OPT_WSCALE && olen == TCP_OPT_WSCALE_LEN) {
			uint8_t ws = packet_rd8(f, f->l4_off + i + 2);

			f->wscale = ws > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : ws;
			f->has_wscale = true;
		}
		i += olen;
	}
	return UNET_DROP_NONE;
}

/* The TCP header at @f->l4_off: inside the segment and the bytes at hand, options parsed. */
static enum unet_drop packet_tcp(struct unet_frame *f)
{
	enum unet_drop why = packet_l4_header(f, UNET_TCP_HLEN);
	size_t hlen;

	if (why != UNET_DROP_NONE)
		return why;
	hlen = (size_t)(packet_rd8(f, f->l4_off + TCP_OFF_DOFF) >> TCP_DOFF_SHIFT) * TCP_DOFF_UNIT;
	if (hlen < UNET_TCP_HLEN)
		return UNET_DROP_L4_HEADER;
	why = packet_l4_header(f, hlen);
	if (why != UNET_DROP_NONE)
		return why;

	f->sport = packet_rd16(f, f->l4_off + TCP_OFF_SPORT);
	f->dport = packet_rd16(f, f->l4_off + TCP_OFF_DPORT);
	f->seq = packet_rd32(f, f->l4_off + TCP_OFF_SEQ);
	f->ack = packet_rd32(f, f->l4_off + TCP_OFF_ACK);
	f->tcp_flags = packet_rd8(f, f->l4_off + TCP_OFF_FLAGS);
	f->window = packet_rd16(f, f->l4_off + TCP_OFF_WINDOW);
	f->payload_off = f->l4_off + hlen;
	f->payload_len = f->l4_len - hlen;
	return packet_tcp_options(f, hlen);
}

/* The UDP header at @f->l4_off; the payload's length is the UDP length's. */
static enum unet_drop packet_udp(struct unet_frame *f)
{
	enum unet_drop why = packet_l4_header(f, UNET_UDP_HLEN);
	uint16_t ulen;

	if (why != UNET_DROP_NONE)
		return why;
	ulen = packet_rd16(f, f->l4_off + UDP_OFF_LEN);
	/* A UDP length short of the IP payload is allowed: what follows it is padding. */
	if (ulen < UNET_UDP_HLEN || ulen > f->l4_len)
		return UNET_DROP_L4_HEADER;

	f->sport = packet_rd16(f, f->l4_off + UDP_OFF_SPORT);
	f->dport = packet_rd16(f, f->l4_off + UDP_OFF_DPORT);
	f->payload_off = f->l4_off + UNET_UDP_HLEN;
	f->payload_len = (size_t)ulen - UNET_UDP_HLEN;
	return UNET_DROP_NONE;
}

/* Is @type an echo request or reply of @f's ICMP version? */
static bool packet_icmp_is_echo(const struct unet_frame *f, uint8_t type)
{
	if (f->ip_version == IPV6_VERSION)
		return type == UNET_ICMP6_ECHO || type == UNET_ICMP6_ECHOREPLY;
	return type == UNET_ICMP_ECHO || type == UNET_ICMP_ECHOREPLY;
}

/* The ICMP or ICMPv6 header at @f->l4_off (both 8 bytes, type and code first); identifier
 * and sequence only for echo and its reply. */
static enum unet_drop packet_icmp(struct unet_frame *f)
{
	enum unet_drop why = packet_l4_header(f, UNET_ICMP_HLEN);

	if (why != UNET_DROP_NONE)
		return why;

	f->icmp_type = packet_rd8(f, f->l4_off + ICMP_OFF_TYPE);
	f->icmp_code = packet_rd8(f, f->l4_off + ICMP_OFF_CODE);
	if (packet_icmp_is_echo(f, f->icmp_type)) {
		f->icmp_id = packet_rd16(f, f->l4_off + ICMP_OFF_ID);
		f->icmp_seq = packet_rd16(f, f->l4_off + ICMP_OFF_SEQ);
	}
	f->payload_off = f->l4_off + UNET_ICMP_HLEN;
	f->payload_len = f->l4_len - UNET_ICMP_HLEN;
	return UNET_DROP_NONE;
}

/* The transport header at @f->l4_off, by @f->proto: ICMP goes with IPv4, ICMPv6 with IPv6. */
static enum unet_drop packet_l4(struct unet_frame *f)
{
	uint8_t icmp = f->ip_version == IPV6_VERSION ? IPPROTO_ICMPV6 : IPPROTO_ICMP;

	if (f->proto == IPPROTO_TCP)
		return packet_tcp(f);
	if (f->proto == IPPROTO_UDP)
		return packet_udp(f);
	if (f->proto == icmp)
		return packet_icmp(f);
	return UNET_DROP_PROTO;
}

/* ::ffff:@a into @a6 (zeroed by the parse already, but written whole here). */
static void packet_v4_mapped(struct in_addr a, struct in6_addr *a6)
{
	memset(a6, 0, sizeof(*a6));
	a6->s6_addr[IPV6_MAPPED_OFF_FFFF] = 0xff;
	a6->s6_addr[IPV6_MAPPED_OFF_FFFF + 1] = 0xff;
	memcpy(a6->s6_addr + IPV6_MAPPED_OFF_V4, &a.s_addr, IPV4_ADDR_LEN);
}

/* The IPv4 header at @f->l3_off, then its transport. Headers not at hand, or a total length
 * past the frame, are UNET_DROP_SHORT; values that contradict each other UNET_DROP_IP_HEADER. */
static enum unet_drop packet_ipv4(struct unet_frame *f)
{
	size_t l3 = f->l3_off, ihl, tot_len;
	uint16_t frag;

	if (!packet_has(f, l3, UNET_IPV4_HLEN))
		return UNET_DROP_SHORT;
	if (packet_rd8(f, l3 + IPV4_OFF_VER_IHL) >> 4 != IPV4_VERSION)
		return UNET_DROP_IP_HEADER;
	ihl = (size_t)(packet_rd8(f, l3 + IPV4_OFF_VER_IHL) & IPV4_IHL_MASK) * IPV4_IHL_UNIT;
	tot_len = packet_rd16(f, l3 + IPV4_OFF_TOT_LEN);
	if (ihl < UNET_IPV4_HLEN || tot_len < ihl)
		return UNET_DROP_IP_HEADER;
	/* The headers say more than the frame holds; less is Ethernet padding, ignored. */
	if (tot_len > f->len - l3 || !packet_has(f, l3, ihl))
		return UNET_DROP_SHORT;
	if (offload_csum_fold(offload_csum_add(0, f->data + l3, ihl)) != 0)
		return UNET_DROP_IP_HEADER;
	frag = packet_rd16(f, l3 + IPV4_OFF_FRAG);
	if (frag & (IPV4_MF | IPV4_FRAG_OFFSET_MASK))
		return UNET_DROP_FRAGMENT;

	f->ip_version = IPV4_VERSION;
	f->ttl = packet_rd8(f, l3 + IPV4_OFF_TTL);
	f->proto = packet_rd8(f, l3 + IPV4_OFF_PROTO);
	memcpy(&f->saddr, f->data + l3 + IPV4_OFF_SADDR, IPV4_ADDR_LEN);
	memcpy(&f->daddr, f->data + l3 + IPV4_OFF_DADDR, IPV4_ADDR_LEN);
	packet_v4_mapped(f->saddr, &f->saddr6);
	packet_v4_mapped(f->daddr, &f->daddr6);
	f->l4_off = l3 + ihl;
	f->l4_len = tot_len - ihl;
	return packet_l4(f);
}

/*
 * Skip the extension headers from @f->l4_off (the first after the fixed header, @nh its type)
 * up to @end, the payload's end. Hop-by-hop options may only come first (RFC 8200 4.1). A
 * header longer than what the payload length leaves is UNET_DROP_IP_HEADER; one inside the
 * packet but not inside @f->avail UNET_DROP_SHORT. Leaves @f->l4_off at the transport header
 * and @nh its protocol.
 */
static enum unet_drop packet_ipv6_ext(struct unet_frame *f, size_t end, uint8_t *nh)
{
	size_t off = f->l4_off, ext_len;

	while (*nh == IPV6_EXT_HOPOPTS || *nh == IPV6_EXT_ROUTING || *nh == IPV6_EXT_DSTOPTS) {
		if (*nh == IPV6_EXT_HOPOPTS && off != f->l3_off + UNET_IPV6_HLEN)
			return UNET_DROP_IP_HEADER;
		if (end - off < IPV6_EXT_MIN_LEN)
			return UNET_DROP_IP_HEADER;
		if (!packet_has(f, off, IPV6_EXT_MIN_LEN))
			return UNET_DROP_SHORT;
		ext_len = ((size_t)packet_rd8(f, off + IPV6_EXT_OFF_LEN) + 1) * IPV6_EXT_UNIT;
		if (ext_len > end - off)
			return UNET_DROP_IP_HEADER;
		if (!packet_has(f, off, ext_len))
			return UNET_DROP_SHORT;
		*nh = packet_rd8(f, off + IPV6_EXT_OFF_NEXT);
		off += ext_len;
	}
	f->l4_off = off;
	return UNET_DROP_NONE;
}

/* The IPv6 header at @f->l3_off, its extension headers, then its transport. A payload length
 * past the frame is UNET_DROP_SHORT (less is Ethernet padding, ignored). */
static enum unet_drop packet_ipv6(struct unet_frame *f)
{
	size_t l3 = f->l3_off, plen, end;
	enum unet_drop why;
	uint8_t nh;

	if (!packet_has(f, l3, UNET_IPV6_HLEN))
		return UNET_DROP_SHORT;
	if (packet_rd8(f, l3 + IPV6_OFF_VER) >> IPV6_VERSION_SHIFT != IPV6_VERSION)
		return UNET_DROP_IP_HEADER;
	plen = packet_rd16(f, l3 + IPV6_OFF_PLEN);
	/* @len >= @avail >= l3 + UNET_IPV6_HLEN: no underflow. */
	if (plen > f->len - l3 - UNET_IPV6_HLEN)
		return UNET_DROP_SHORT;

	f->ip_version = IPV6_VERSION;
	f->ttl = packet_rd8(f, l3 + IPV6_OFF_HOPS);
	memcpy(&f->saddr6, f->data + l3 + IPV6_OFF_SADDR, IPV6_ADDR_LEN);
	memcpy(&f->daddr6, f->data + l3 + IPV6_OFF_DADDR, IPV6_ADDR_LEN);
	nh = packet_rd8(f, l3 + IPV6_OFF_NEXT);
	f->l4_off = l3 + UNET_IPV6_HLEN;
	end = f->l4_off + plen;
	why = packet_ipv6_ext(f, end, &nh);
	if (why != UNET_DROP_NONE)
		return why;
	f->proto = nh;
	f->l4_len = end - f->l4_off;
	if (nh == IPV6_EXT_FRAGMENT)
		return UNET_DROP_FRAGMENT;
	return packet_l4(f);
}

enum unet_drop unet_frame_parse(const uint8_t *data, size_t avail, size_t len, struct unet_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->data = data;
	f->avail = avail;
	f->len = len;
	if (avail > len || avail < UNET_ETH_HLEN)
		return UNET_DROP_SHORT;

	memcpy(f->dst_mac, data + ETH_OFF_DST, UNET_ETH_ALEN);
	memcpy(f->src_mac, data + ETH_OFF_SRC, UNET_ETH_ALEN);
	f->ethertype = packet_rd16(f, ETH_OFF_TYPE);
	f->l3_off = UNET_ETH_HLEN;

	/* 802.1Q tags and everything else fall to the default. */
	switch (f->ethertype) {
	case UNET_ETHERTYPE_ARP:
		return UNET_DROP_NONE;
	case UNET_ETHERTYPE_IPV4:
		return packet_ipv4(f);
	case UNET_ETHERTYPE_IPV6:
		return packet_ipv6(f);
	default:
		return UNET_DROP_ETHERTYPE;
	}
}

const char *unet_drop_name(enum unet_drop why)
{
	static const char *const names[UNET_DROP_MAX] = {
		[UNET_DROP_NONE] = "none",
		[UNET_DROP_SHORT] = "drop-short",
		[UNET_DROP_ETHERTYPE] = "drop-ethertype",
		[UNET_DROP_IP_HEADER] = "drop-ip-header",
		[UNET_DROP_FRAGMENT] = "drop-fragment",
		[UNET_DROP_L4_HEADER] = "drop-l4-header",
		[UNET_DROP_PROTO] = "drop-proto",
	};

	if ((unsigned int)why >= UNET_DROP_MAX || !names[why])
		return "drop-unknown";
	return names[why];
}

size_t unet_put_eth_ipv4(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
			 struct in_addr saddr, struct in_addr daddr, uint8_t proto, size_t l4_len,
			 uint16_t id)
{
	uint8_t *ip = buf + UNET_ETH_HLEN;
	uint16_t csum;

	memcpy(buf + ETH_OFF_DST, dst_mac, UNET_ETH_ALEN);
	memcpy(buf + ETH_OFF_SRC, src_mac, UNET_ETH_ALEN);
	unet_wr16(buf + ETH_OFF_TYPE, UNET_ETHERTYPE_IPV4);

	memset(ip, 0, UNET_IPV4_HLEN);
	ip[IPV4_OFF_VER_IHL] = IPV4_VERSION << 4 | UNET_IPV4_HLEN / IPV4_IHL_UNIT;
	ip[IPV4_OFF_TOS] = 0;
	unet_wr16(ip + IPV4_OFF_TOT_LEN, (uint16_t)(UNET_IPV4_HLEN + l4_len));
	unet_wr16(ip + IPV4_OFF_ID, id);
	ip[IPV4_OFF_TTL] = IPV4_DEFAULT_TTL;
	ip[IPV4_OFF_PROTO] = proto;
	memcpy(ip + IPV4_OFF_SADDR, &saddr, IPV4_ADDR_LEN);
	memcpy(ip + IPV4_OFF_DADDR, &daddr, IPV4_ADDR_LEN);
	/* offload_csum_fold() gives wire byte order: stored as is. */
	csum = offload_csum_fold(offload_csum_add(0, ip, UNET_IPV4_HLEN));
	memcpy(ip + IPV4_OFF_CSUM, &csum, sizeof(csum));
	return UNET_ETH_HLEN + UNET_IPV4_HLEN;
}

uint64_t unet_ipv4_pseudo_sum(struct in_addr saddr, struct in_addr daddr, uint8_t proto,
			      size_t l4_len)
{
	uint8_t ph[IPV4_PSEUDO_HLEN] = { 0 };

	/* Summed as bytes in wire order by offload_csum_add() itself, so that its host-order
	 * words agree with those of the transport header summed after it. */
	memcpy(ph, &saddr, IPV4_ADDR_LEN);
	memcpy(ph + IPV4_ADDR_LEN, &daddr, IPV4_ADDR_LEN);
	ph[2 * IPV4_ADDR_LEN + 1] = proto;
	unet_wr16(ph + 2 * IPV4_ADDR_LEN + 2, (uint16_t)l4_len);
	return offload_csum_add(0, ph, sizeof(ph));
}

size_t unet_put_eth_ipv6(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
			 const struct in6_addr *saddr, const struct in6_addr *daddr, uint8_t proto,
			 size_t l4_len, uint8_t hop_limit)
{
	uint8_t *ip = buf + UNET_ETH_HLEN;

	memcpy(buf + ETH_OFF_DST, dst_mac, UNET_ETH_ALEN);
	memcpy(buf + ETH_OFF_SRC, src_mac, UNET_ETH_ALEN);
	unet_wr16(buf + ETH_OFF_TYPE, UNET_ETHERTYPE_IPV6);

	/* Traffic class and flow label 0. */
	memset(ip, 0, UNET_IPV6_HLEN);
	ip[IPV6_OFF_VER] = IPV6_VERSION << IPV6_VERSION_SHIFT;
	unet_wr16(ip + IPV6_OFF_PLEN, (uint16_t)l4_len);
	ip[IPV6_OFF_NEXT] = proto;
	ip[IPV6_OFF_HOPS] = hop_limit;
	memcpy(ip + IPV6_OFF_SADDR, saddr, IPV6_ADDR_LEN);
	memcpy(ip + IPV6_OFF_DADDR, daddr, IPV6_ADDR_LEN);
	return UNET_ETH_HLEN + UNET_IPV6_HLEN;
}

uint64_t unet_ipv6_pseudo_sum(const struct in6_addr *saddr, const struct in6_addr *daddr,
			      uint8_t proto, size_t l4_len)
{
	uint8_t ph[IPV6_PSEUDO_HLEN] = { 0 };

	/* Bytes in wire order, as unet_ipv4_pseudo_sum() does, for the same reason. */
	memcpy(ph, saddr, IPV6_ADDR_LEN);
	memcpy(ph + IPV6_ADDR_LEN, daddr, IPV6_ADDR_LEN);
	unet_wr32(ph + IPV6_PSEUDO_OFF_LEN, (uint32_t)l4_len);
	ph[IPV6_PSEUDO_OFF_NEXT] = proto;
	return offload_csum_add(0, ph, sizeof(ph));
}
