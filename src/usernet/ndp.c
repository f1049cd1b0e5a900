// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ndp.c - IPv6 neighbour discovery (RFC 4861) for the native user-mode engine. A guest's
 * router or neighbour solicitation, parsed by unet_frame_parse(), is checked (hop limit 255,
 * code 0, checksum, length, options) through packet.h's bounds-checked unet_rd() on a view of
 * its ICMPv6 message; the answer, a router advertisement (prefix, MTU, RDNSS) or a neighbour
 * advertisement, is built whole here, Ethernet to ICMPv6 checksum.
 */
#include <string.h>

#include "core/offload.h"
#include "usernet/ndp.h"
#include "usernet/usernet.h"

/* Every NDP message is sent, and must arrive, with hop limit 255 (RFC 4861 6.1, 7.1). */
#define NDP_HOP_LIMIT 255
#define NDP_CODE 0

#define ICMP6_OFF_TYPE 0
#define ICMP6_OFF_CODE 1
#define ICMP6_OFF_CSUM 2

/* Router solicitation (4.1): type, code, checksum, reserved, then options. */
#define NDP_RS_LEN 8
/* Neighbour solicitation and advertisement (4.3, 4.4): then the target, then options. */
#define NDP_NS_LEN 24
#define NDP_NA_LEN 24
#define NDP_OFF_TARGET 8
#define NDP_NA_OFF_FLAGS 4
#define NDP_NA_ROUTER 0x80
#define NDP_NA_SOLICITED 0x40
#define NDP_NA_OVERRIDE 0x20

/* Router advertisement (4.2) */
#define NDP_RA_LEN 16
#define NDP_RA_OFF_CUR_HOPS 4
#define NDP_RA_OFF_FLAGS 5
#define NDP_RA_OFF_LIFETIME 6
#define NDP_RA_OFF_REACHABLE 8
#define NDP_RA_OFF_RETRANS 12
#define NDP_RA_MANAGED 0x80
#define NDP_RA_OTHER 0x40
#define NDP_RA_CUR_HOPS 64

/* Options (4.6): type, length in units of 8 bytes, value. */
#define NDP_OPT_SLLA 1
#define NDP_OPT_TLLA 2
#define NDP_OPT_PREFIX 3
#define NDP_OPT_MTU 5
#define NDP_OPT_RDNSS 25 /* RFC 8106 */
#define NDP_OPT_OFF_TYPE 0
#define NDP_OPT_OFF_LEN 1
#define NDP_OPT_HDR 2
#define NDP_OPT_UNIT 8
#define NDP_OPT_LLA_LEN 8
#define NDP_OPT_MTU_LEN 8
#define NDP_OPT_MTU_OFF_MTU 4
#define NDP_OPT_PREFIX_LEN 32
#define NDP_OPT_PREFIX_OFF_PLEN 2
#define NDP_OPT_PREFIX_OFF_FLAGS 3
#define NDP_OPT_PREFIX_OFF_VALID 4
#define NDP_OPT_PREFIX_OFF_PREFERRED 8
#define NDP_OPT_PREFIX_OFF_PREFIX 16
#define NDP_PREFIX_ON_LINK 0x80
#define NDP_PREFIX_AUTONOMOUS 0x40
#define NDP_OPT_RDNSS_LEN 24
#define NDP_OPT_RDNSS_OFF_LIFETIME 4
#define NDP_OPT_RDNSS_OFF_ADDR 8
/* RFC 8106 5.1: at least three times the longest interval between advertisements (600 s). */
#define NDP_RDNSS_LIFETIME (3 * 600)

/* The MTU option names no MTU below IPv6's minimum (RFC 8200 5). */
#define IPV6_MIN_MTU 1280
#define IPV6_VERSION 6
#define IPV6_ADDR_LEN 16
#define IPV6_ADDR_BITS 128
#define IPV6_MULTICAST 0xff
#define BYTE_BITS 8
#define BYTE_MASK_HIGH(n) ((uint8_t)(0xff00 >> (n))) /* the top @n of 8 bits */

/* Link-local addresses from a MAC: fe80::/64 and the modified EUI-64 (RFC 4291 2.5.1). */
#define LL_PREFIX0 0xfe
#define LL_PREFIX1 0x80
#define LL_OFF_IID 8
#define EUI64_UL_BIT 0x02
#define EUI64_FF 0xff
#define EUI64_FE 0xfe

#define UNET_NDP_HDRS (UNET_ETH_HLEN + UNET_IPV6_HLEN)

/* ff02::1 and its Ethernet address (RFC 2464 7: 33:33 and the address's last four bytes). */
static const struct in6_addr unet_ndp_all_nodes = {
	.s6_addr = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }
};
static const uint8_t unet_ndp_all_nodes_mac[UNET_ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };

static bool unet_ndp_unspecified(const struct in6_addr *a)
{
	static const struct in6_addr any;

	return !memcmp(a, &any, sizeof(any));
}

static bool unet_ndp_same(const struct in6_addr *a, const struct in6_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

void unet_ndp_link_local(const uint8_t mac[UNET_ETH_ALEN], struct in6_addr *ll)
{
	uint8_t *iid = ll->s6_addr + LL_OFF_IID;

	memset(ll, 0, sizeof(*ll));
	ll->s6_addr[0] = LL_PREFIX0;
	ll->s6_addr[1] = LL_PREFIX1;
	iid[0] = mac[0] ^ EUI64_UL_BIT;
	iid[1] = mac[1];
	iid[2] = mac[2];
	iid[3] = EUI64_FF;
	iid[4] = EUI64_FE;
	iid[5] = mac[3];
	iid[6] = mac[4];
	iid[7] = mac[5];
}

/*
 * The ICMPv6 message of @f as a view @m, if it is an NDP message the engine may answer: IPv6,
 * ICMPv6 of @type, hop limit 255, code 0, at least @min_len bytes, all of them inside
 * @f->avail, a right checksum, and a source that is not multicast.
 */
static bool unet_ndp_msg(const struct unet_frame *f, uint8_t type, size_t min_len,
			 struct unet_bytes *m)
{
	uint64_t sum;

	if (f->ip_version != IPV6_VERSION || f->proto != IPPROTO_ICMPV6 || f->icmp_type != type ||
	    f->icmp_code != NDP_CODE || f->ttl != NDP_HOP_LIMIT)
		return false;
	if (!unet_frame_bytes(f, f->l4_off, f->l4_len, m) || m->len < min_len)
		return false;
	if (f->saddr6.s6_addr[0] == IPV6_MULTICAST)
		return false;
	sum = unet_ipv6_pseudo_sum(&f->saddr6, &f->daddr6, IPPROTO_ICMPV6, m->len);
	return offload_csum_fold(offload_csum_add(sum, m->p, m->len)) == 0;
}

/*
 * Walk the options of @m from @off: each must have a non-zero length inside the message
 * (RFC 4861 6.1). @has_slla is set when a source link-layer address option is among them.
 */
static bool unet_ndp_options(const struct unet_bytes *m, size_t off, bool *has_slla)
{
	uint8_t hdr[NDP_OPT_HDR];
	size_t olen;

	*has_slla = false;
	while (off < m->len) {
		if (!unet_rd(m, off, hdr, sizeof(hdr)))
			return false;
		olen = (size_t)hdr[NDP_OPT_OFF_LEN] * NDP_OPT_UNIT;
		if (!olen || olen > m->len - off)
			return false;
		if (hdr[NDP_OPT_OFF_TYPE] == NDP_OPT_SLLA)
			*has_slla = true;
		off += olen;
	}
	return true;
}

/*
 * Put the Ethernet and IPv6 headers (hop limit 255) in front of the @icmp_len bytes of
 * ICMPv6 already at @out + UNET_NDP_HDRS, and set its checksum. Return: the frame's length.
 */
static size_t unet_ndp_finish(uint8_t *out, const uint8_t *dst_mac, const uint8_t *src_mac,
			      const struct in6_addr *src, const struct in6_addr *dst,
			      size_t icmp_len)
{
	uint8_t *icmp = out + UNET_NDP_HDRS;
	uint16_t csum;

	unet_put_eth_ipv6(out, dst_mac, src_mac, src, dst, IPPROTO_ICMPV6, icmp_len, NDP_HOP_LIMIT);
	memset(icmp + ICMP6_OFF_CSUM, 0, sizeof(csum));
	csum = offload_csum_fold(offload_csum_add(
		unet_ipv6_pseudo_sum(src, dst, IPPROTO_ICMPV6, icmp_len), icmp, icmp_len));
	memcpy(icmp + ICMP6_OFF_CSUM, &csum, sizeof(csum));
	return UNET_NDP_HDRS + icmp_len;
}

/* A link-layer address option (@type: source or target) at @p. Return: its length. */
static size_t unet_ndp_put_lla(uint8_t *p, uint8_t type, const uint8_t mac[UNET_ETH_ALEN])
{
	p[NDP_OPT_OFF_TYPE] = type;
	p[NDP_OPT_OFF_LEN] = NDP_OPT_LLA_LEN / NDP_OPT_UNIT;
	memcpy(p + NDP_OPT_HDR, mac, UNET_ETH_ALEN);
	return NDP_OPT_LLA_LEN;
}

/* The prefix information option (4.6.2) for @cfg's prefix, bits past its length cleared. */
static size_t unet_ndp_put_prefix(uint8_t *p, const struct usernet_config *cfg)
{
	unsigned int bits = cfg->prefix6_len < IPV6_ADDR_BITS ? cfg->prefix6_len : IPV6_ADDR_BITS;
	uint8_t *prefix = p + NDP_OPT_PREFIX_OFF_PREFIX;

	p[NDP_OPT_OFF_TYPE] = NDP_OPT_PREFIX;
	p[NDP_OPT_OFF_LEN] = NDP_OPT_PREFIX_LEN / NDP_OPT_UNIT;
	p[NDP_OPT_PREFIX_OFF_PLEN] = cfg->prefix6_len;
	p[NDP_OPT_PREFIX_OFF_FLAGS] = NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS;
	unet_wr32(p + NDP_OPT_PREFIX_OFF_VALID, UNET_NDP_PREFIX_VALID);
	unet_wr32(p + NDP_OPT_PREFIX_OFF_PREFERRED, UNET_NDP_PREFIX_PREFERRED);
	memcpy(prefix, &cfg->prefix6, IPV6_ADDR_LEN);
	for (unsigned int i = 0; i < IPV6_ADDR_LEN; i++) {
		unsigned int keep = bits > i * BYTE_BITS ? bits - i * BYTE_BITS : 0;

		if (keep < BYTE_BITS)
			prefix[i] &= BYTE_MASK_HIGH(keep);
	}
	return NDP_OPT_PREFIX_LEN;
}

/* A router advertisement to @dst (@dst_mac), options as unet_ndp_advertise() says. */
static size_t unet_ndp_ra(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  const uint8_t *dst_mac, const struct in6_addr *dst, uint8_t *out,
			  size_t out_size)
{
	uint8_t *ra = out + UNET_NDP_HDRS, *opt;
	size_t len = NDP_RA_LEN;
	struct in6_addr ll;

	if (out_size < UNET_NDP_HDRS + NDP_RA_LEN + NDP_OPT_LLA_LEN + NDP_OPT_MTU_LEN +
			       NDP_OPT_PREFIX_LEN + NDP_OPT_RDNSS_LEN)
		return 0;
	memset(ra, 0, NDP_RA_LEN);
	ra[ICMP6_OFF_TYPE] = UNET_ICMP6_RA;
	ra[ICMP6_OFF_CODE] = NDP_CODE;
	ra[NDP_RA_OFF_CUR_HOPS] = NDP_RA_CUR_HOPS;
	/* Addresses by SLAAC; DNS (search list) from stateless DHCPv6, which dhcpv6.c serves. */
	ra[NDP_RA_OFF_FLAGS] = NDP_RA_OTHER;
	unet_wr16(ra + NDP_RA_OFF_LIFETIME, UNET_NDP_ROUTER_LIFETIME);
	/* Reachable time and retransmission timer 0: unspecified by this router. */
	unet_wr32(ra + NDP_RA_OFF_REACHABLE, 0);
	unet_wr32(ra + NDP_RA_OFF_RETRANS, 0);

	len += unet_ndp_put_lla(ra + len, NDP_OPT_SLLA, mac);
	if (cfg->mtu >= IPV6_MIN_MTU) {
		opt = ra + len;
		memset(opt, 0, NDP_OPT_MTU_LEN);
		opt[NDP_OPT_OFF_TYPE] = NDP_OPT_MTU;
		opt[NDP_OPT_OFF_LEN] = NDP_OPT_MTU_LEN / NDP_OPT_UNIT;
		unet_wr32(opt + NDP_OPT_MTU_OFF_MTU, cfg->mtu);
		len += NDP_OPT_MTU_LEN;
	}
	opt = ra + len;
	memset(opt, 0, NDP_OPT_PREFIX_LEN);
	len += unet_ndp_put_prefix(opt, cfg);

	opt = ra + len;
	memset(opt, 0, NDP_OPT_RDNSS_LEN);
	opt[NDP_OPT_OFF_TYPE] = NDP_OPT_RDNSS;
	opt[NDP_OPT_OFF_LEN] = NDP_OPT_RDNSS_LEN / NDP_OPT_UNIT;
	unet_wr32(opt + NDP_OPT_RDNSS_OFF_LIFETIME, NDP_RDNSS_LIFETIME);
	memcpy(opt + NDP_OPT_RDNSS_OFF_ADDR, &cfg->dns6, IPV6_ADDR_LEN);
	len += NDP_OPT_RDNSS_LEN;

	unet_ndp_link_local(mac, &ll);
	return unet_ndp_finish(out, dst_mac, mac, &ll, dst, len);
}

/* A router solicitation (RFC 4861 6.1.1): a router advertisement back. */
static size_t unet_ndp_rs(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  const struct unet_frame *f, uint8_t *out, size_t out_size)
{
	struct unet_bytes m;
	bool has_slla;

	if (!unet_ndp_msg(f, UNET_ICMP6_RS, NDP_RS_LEN, &m) ||
	    !unet_ndp_options(&m, NDP_RS_LEN, &has_slla))
		return 0;
	/* A host without an address yet may not name its link-layer address. */
	if (unet_ndp_unspecified(&f->saddr6)) {
		if (has_slla)
			return 0;
		return unet_ndp_ra(cfg, mac, unet_ndp_all_nodes_mac, &unet_ndp_all_nodes, out,
				   out_size);
	}
	return unet_ndp_ra(cfg, mac, f->src_mac, &f->saddr6, out, out_size);
}

/*
 * A neighbour solicitation (RFC 4861 7.1.1) for one of the engine's addresses: a solicited
 * advertisement back from that address (as Linux answers), router flag set,
 * overriding, with our link-layer address. Duplicate address detection (source ::) is not
 * answered: none of the engine's addresses is the guest's to take.
 */
static size_t unet_ndp_ns(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  const struct unet_frame *f, uint8_t *out, size_t out_size)
{
	uint8_t *na = out + UNET_NDP_HDRS;
	struct in6_addr target, ll;
	struct unet_bytes m;
	bool has_slla;
	size_t len;

	if (!unet_ndp_msg(f, UNET_ICMP6_NS, NDP_NS_LEN, &m) ||
	    !unet_rd(&m, NDP_OFF_TARGET, &target, sizeof(target)) ||
	    !unet_ndp_options(&m, NDP_NS_LEN, &has_slla))
		return 0;
	if (unet_ndp_unspecified(&f->saddr6))
		return 0;
	unet_ndp_link_local(mac, &ll);
	if (!unet_ndp_same(&target, &cfg->host6) && !unet_ndp_same(&target, &cfg->dns6) &&
	    !unet_ndp_same(&target, &ll))
		return 0;
	if (out_size < UNET_NDP_HDRS + NDP_NA_LEN + NDP_OPT_LLA_LEN)
		return 0;

	memset(na, 0, NDP_NA_LEN);
	na[ICMP6_OFF_TYPE] = UNET_ICMP6_NA;
	na[ICMP6_OFF_CODE] = NDP_CODE;
	na[NDP_NA_OFF_FLAGS] = NDP_NA_ROUTER | NDP_NA_SOLICITED | NDP_NA_OVERRIDE;
	memcpy(na + NDP_OFF_TARGET, &target, sizeof(target));
	len = NDP_NA_LEN + unet_ndp_put_lla(na + NDP_NA_LEN, NDP_OPT_TLLA, mac);
	return unet_ndp_finish(out, f->src_mac, mac, &target, &f->saddr6, len);
}

size_t unet_ndp_answer(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
		       const struct unet_frame *f, uint8_t *out, size_t out_size)
{
	if (!cfg->ipv6 || f->ip_version != IPV6_VERSION || f->proto != IPPROTO_ICMPV6)
		return 0;
	if (out_size > UNET_NDP_FRAME_MAX)
		out_size = UNET_NDP_FRAME_MAX;
	switch (f->icmp_type) {
	case UNET_ICMP6_RS:
		return unet_ndp_rs(cfg, mac, f, out, out_size);
	case UNET_ICMP6_NS:
		return unet_ndp_ns(cfg, mac, f, out, out_size);
	default:
		return 0;
	}
}

size_t unet_ndp_advertise(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  uint8_t *out, size_t out_size)
{
	if (out_size > UNET_NDP_FRAME_MAX)
		out_size = UNET_NDP_FRAME_MAX;
	return unet_ndp_ra(cfg, mac, unet_ndp_all_nodes_mac, &unet_ndp_all_nodes, out, out_size);
}
