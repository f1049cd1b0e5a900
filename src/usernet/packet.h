/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * packet.h - guest frames read through bounds-checked accessors (packet.c): one parse turns
 * an untrusted Ethernet frame into the fields the engine's protocols use, and refuses
 * anything that does not fit; and the headers of frames to the guest written with their
 * checksums. Protocol code reads frame bytes only through struct unet_frame's checked offsets
 * and the unet_rd*() accessors of a struct unet_bytes view; it writes with unet_wr16/32().
 */
#ifndef VWIRE_USERNET_PACKET_H
#define VWIRE_USERNET_PACKET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UNET_ETH_ALEN 6
#define UNET_ETH_HLEN 14
#define UNET_ETHERTYPE_IPV4 0x0800
#define UNET_ETHERTYPE_ARP 0x0806
#define UNET_ETHERTYPE_IPV6 0x86dd
#define UNET_IPV4_HLEN 20
#define UNET_IPV6_HLEN 40
#define UNET_TCP_HLEN 20
#define UNET_UDP_HLEN 8
#define UNET_ICMP_HLEN 8

/* TCP flags */
#define UNET_TCP_FIN 0x01
#define UNET_TCP_SYN 0x02
#define UNET_TCP_RST 0x04
#define UNET_TCP_PSH 0x08
#define UNET_TCP_ACK 0x10

/* ICMP types */
#define UNET_ICMP_ECHOREPLY 0
#define UNET_ICMP_UNREACH 3
#define UNET_ICMP_ECHO 8

/* ICMPv6 types */
#define UNET_ICMP6_ECHO 128
#define UNET_ICMP6_ECHOREPLY 129
#define UNET_ICMP6_RS 133
#define UNET_ICMP6_RA 134
#define UNET_ICMP6_NS 135
#define UNET_ICMP6_NA 136

/**
 * struct unet_bytes - a view of untrusted bytes (a guest's message), only read through
 *		       unet_rd() and unet_rd8/16/32()
 * @p:		the bytes
 * @len:	how many
 */
struct unet_bytes {
	const uint8_t *p;
	size_t len;
};

/**
 * unet_has() - does [@off, @off + @n) lie inside @m?
 * @m:		the view
 * @off:	first byte
 * @n:		bytes
 *
 * Return: true if it does (with no overflow for any @off and @n)
 */
static inline bool unet_has(const struct unet_bytes *m, size_t off, size_t n)
{
	return off <= m->len && n <= m->len - off;
}

/**
 * unet_rd() - copy [@off, @off + @n) of @m to @dst if it lies inside @m
 * @m:		the view
 * @off:	first byte
 * @dst:	@n bytes, left untouched when the range does not lie inside
 * @n:		bytes
 *
 * Return: true if copied
 */
static inline bool unet_rd(const struct unet_bytes *m, size_t off, void *dst, size_t n)
{
	if (!unet_has(m, off, n))
		return false;
	memcpy(dst, m->p + off, n);
	return true;
}

/**
 * unet_rd8() - the byte at @off of @m
 * @m:		the view
 * @off:	where
 * @v:		set to it, or to 0 when it does not lie inside
 *
 * Return: true if it lies inside
 */
static inline bool unet_rd8(const struct unet_bytes *m, size_t off, uint8_t *v)
{
	*v = 0;
	return unet_rd(m, off, v, sizeof(*v));
}

/**
 * unet_rd16() - the big-endian 16-bit value at @off of @m, in host order
 * @m:		the view
 * @off:	where
 * @v:		set to it, or to 0 when it does not lie inside
 *
 * Return: true if it lies inside
 */
static inline bool unet_rd16(const struct unet_bytes *m, size_t off, uint16_t *v)
{
	uint8_t b[2] = { 0 };
	bool ok = unet_rd(m, off, b, sizeof(b));

	*v = (uint16_t)(b[0] << 8 | b[1]);
	return ok;
}

/**
 * unet_rd32() - the big-endian 32-bit value at @off of @m, in host order
 * @m:		the view
 * @off:	where
 * @v:		set to it, or to 0 when it does not lie inside
 *
 * Return: true if it lies inside
 */
static inline bool unet_rd32(const struct unet_bytes *m, size_t off, uint32_t *v)
{
	uint16_t hi, lo;
	/* The second read is only tried once @off + 2 is known to lie inside. */
	bool ok = unet_rd16(m, off, &hi) && unet_rd16(m, off + 2, &lo);

	*v = ok ? (uint32_t)hi << 16 | lo : 0;
	return ok;
}

/**
 * unet_wr16() - store @v big-endian at @p (a buffer of ours, not the guest's)
 * @p:		2 bytes
 * @v:		the value, host order
 */
static inline void unet_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/**
 * unet_wr32() - store @v big-endian at @p (a buffer of ours, not the guest's)
 * @p:		4 bytes
 * @v:		the value, host order
 */
static inline void unet_wr32(uint8_t *p, uint32_t v)
{
	unet_wr16(p, (uint16_t)(v >> 16));
	unet_wr16(p + 2, (uint16_t)v);
}

/* Why unet_frame_parse() refused a frame: one counter each. */
enum unet_drop {
	UNET_DROP_NONE = 0,
	UNET_DROP_SHORT,	/* shorter than its headers say */
	UNET_DROP_ETHERTYPE,	/* not ARP, IPv4 or IPv6 */
	UNET_DROP_IP_HEADER,	/* bad version, header length, total length or checksum */
	UNET_DROP_FRAGMENT,	/* an IPv4 fragment (MF set or offset), an IPv6 fragment header */
	UNET_DROP_L4_HEADER,	/* bad TCP data offset or options, UDP length */
	UNET_DROP_PROTO,	/* an IP protocol the engine does not serve */
	UNET_DROP_MAX
};

/**
 * struct unet_frame - a guest frame, parsed; every offset lies inside @len
 * @data:	the frame's first @avail bytes (Ethernet header first)
 * @avail:	bytes at @data: headers always lie inside; payload may lie beyond (@len)
 * @len:	the frame's whole length
 * @dst_mac:	Ethernet destination
 * @src_mac:	Ethernet source
 * @ethertype:	host order
 * @ip_version:	4 or 6 for IP, 0 otherwise (ARP: parse the ARP body at @l3_off yourself)
 * @l3_off:	where the network header starts (after an 802.1Q tag, none is accepted)
 * @ttl:	IPv4 TTL or IPv6 hop limit
 * @saddr:	IPv4 source (network order; 0 for IPv6)
 * @daddr:	IPv4 destination (network order; 0 for IPv6)
 * @saddr6:	source of either family: IPv6, or IPv4 as ::ffff:a.b.c.d
 * @daddr6:	destination, the same way
 * @proto:	IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP (IPv4) or IPPROTO_ICMPV6 (IPv6)
 * @l4_off:	where the transport header starts
 * @l4_len:	transport header and payload (inside @len): for IPv4 the total length less
 *		the header, for IPv6 the payload length less the extension headers
 * @sport:	TCP/UDP source port (host order)
 * @dport:	TCP/UDP destination port (host order)
 * @seq:	TCP sequence number (host order)
 * @ack:	TCP acknowledgement number (host order)
 * @tcp_flags:	TCP flags (UNET_TCP_*)
 * @window:	TCP window, unscaled (host order)
 * @mss:	TCP MSS option (0: absent)
 * @wscale:	TCP window scale option, clamped to 14 (valid when @has_wscale)
 * @has_wscale:	the window scale option is present
 * @icmp_type:	ICMP or ICMPv6 type
 * @icmp_code:	ICMP or ICMPv6 code
 * @icmp_id:	echo identifier (host order)
 * @icmp_seq:	echo sequence number (host order)
 * @payload_off: where the TCP/UDP payload (ICMP: after its 8-byte header) starts
 * @payload_len: its length (may reach beyond @avail, never beyond @len)
 */
struct unet_frame {
	const uint8_t *data;
	size_t avail;
	size_t len;
	uint8_t dst_mac[UNET_ETH_ALEN];
	uint8_t src_mac[UNET_ETH_ALEN];
	uint16_t ethertype;
	uint8_t ip_version;
	size_t l3_off;
	uint8_t ttl;
	struct in_addr saddr;
	struct in_addr daddr;
	struct in6_addr saddr6;
	struct in6_addr daddr6;
	uint8_t proto;
	size_t l4_off;
	size_t l4_len;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t tcp_flags;
	uint16_t window;
	uint16_t mss;
	uint8_t wscale;
	bool has_wscale;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t icmp_id;
	uint16_t icmp_seq;
	size_t payload_off;
	size_t payload_len;
};

/**
 * unet_frame_bytes() - the @len bytes at @off of a parsed frame as a view, if they lie inside
 *			the bytes at hand (@f->avail)
 * @f:		the frame
 * @off:	where they start, e.g. @f->l4_off or @f->payload_off
 * @len:	how many, e.g. @f->l4_len or @f->payload_len
 * @m:		set to the view (untouched when they do not lie inside)
 *
 * Return: true if they lie inside
 */
static inline bool unet_frame_bytes(const struct unet_frame *f, size_t off, size_t len,
				    struct unet_bytes *m)
{
	const struct unet_bytes all = { .p = f->data, .len = f->avail };

	if (!unet_has(&all, off, len))
		return false;
	m->p = f->data + off;
	m->len = len;
	return true;
}

/**
 * unet_frame_parse() - check and decode a guest frame's headers
 * @data:	the frame's first @avail bytes
 * @avail:	bytes at @data (at least every header must be there: the caller gives 256 or
 *		the whole frame, whichever is less)
 * @len:	the frame's whole length (>= @avail)
 * @f:		filled (zeroed first)
 *
 * An ARP frame is accepted with only the Ethernet fields filled (@l3_off set). An IPv4 frame
 * must have a valid header checksum, a total length inside @len (padding after it is
 * ignored), and no fragmentation. An IPv6 frame must have a payload length inside @len; its
 * hop-by-hop, routing and destination options headers are skipped (each inside the packet
 * and inside @avail), a fragment header or any other extension refuses it (FRAGMENT and
 * PROTO). TCP must have a data offset inside the segment and options that parse; UDP a
 * length that matches the IP length (or is within it); ICMP and ICMPv6 at least their
 * 8-byte header (for ICMPv6 NDP messages the body after those 8 bytes is the payload).
 *
 * Return: UNET_DROP_NONE, or why the frame is refused
 */
enum unet_drop unet_frame_parse(const uint8_t *data, size_t avail, size_t len,
				struct unet_frame *f);

/**
 * unet_drop_name() - a counter name for a reason, e.g. "drop-short"
 * @why: the reason
 *
 * Return: a static string
 */
const char *unet_drop_name(enum unet_drop why);

/**
 * unet_put_eth_ipv4() - write an Ethernet and IPv4 header (no options, DF clear, TTL 64),
 *			 with the IPv4 header checksum
 * @buf:	UNET_ETH_HLEN + UNET_IPV4_HLEN bytes
 * @dst_mac:	Ethernet destination
 * @src_mac:	Ethernet source
 * @saddr:	IPv4 source
 * @daddr:	IPv4 destination
 * @proto:	IP protocol
 * @l4_len:	transport header and payload length
 * @id:		IPv4 identification
 *
 * Return: UNET_ETH_HLEN + UNET_IPV4_HLEN
 */
size_t unet_put_eth_ipv4(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
			 struct in_addr saddr, struct in_addr daddr, uint8_t proto, size_t l4_len,
			 uint16_t id);

/**
 * unet_put_eth_ipv6() - write an Ethernet and IPv6 header (no extension headers)
 * @buf:	UNET_ETH_HLEN + UNET_IPV6_HLEN bytes
 * @dst_mac:	Ethernet destination
 * @src_mac:	Ethernet source
 * @saddr:	IPv6 source
 * @daddr:	IPv6 destination
 * @proto:	next header
 * @l4_len:	payload length (at most 65535)
 * @hop_limit:	hop limit (255 for NDP, 64 otherwise)
 *
 * Return: UNET_ETH_HLEN + UNET_IPV6_HLEN
 */
size_t unet_put_eth_ipv6(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
			 const struct in6_addr *saddr, const struct in6_addr *daddr, uint8_t proto,
			 size_t l4_len, uint8_t hop_limit);

/**
 * unet_ipv6_pseudo_sum() - the unfolded sum of an IPv6 pseudo-header (RFC 8200, 8.1)
 * @saddr:	source
 * @daddr:	destination
 * @proto:	next header
 * @l4_len:	upper-layer length
 *
 * Return: the sum, for offload_csum_add() and offload_csum_fold()
 */
uint64_t unet_ipv6_pseudo_sum(const struct in6_addr *saddr, const struct in6_addr *daddr,
			      uint8_t proto, size_t l4_len);

/**
 * unet_ipv4_pseudo_sum() - the unfolded Internet checksum sum of an IPv4 pseudo-header
 * @saddr:	source
 * @daddr:	destination
 * @proto:	protocol
 * @l4_len:	transport length
 *
 * Return: the sum, for offload_csum_add() and offload_csum_fold()
 */
uint64_t unet_ipv4_pseudo_sum(struct in_addr saddr, struct in_addr daddr, uint8_t proto,
			      size_t l4_len);

#endif
