// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_unet_dhcp.c - libFuzzer harness for the native user-mode engine's ARP responder, DHCP
 * server, NDP responder and DHCPv6 server: the input is one guest frame, copied into a buffer
 * of exactly its size and parsed with unet_frame_parse(); an ARP frame goes to
 * unet_arp_answer() and unet_arp_sender(), a UDP datagram to port 67 to unet_dhcp_answer(),
 * whose leases persist across inputs, an IPv6 frame to unet_ndp_answer() and
 * unet_dhcpv6_answer(). Every reply must be a frame the engine's own parser takes, checksums
 * right.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/offload.h"
#include "usernet/arp.h"
#include "usernet/dhcp.h"
#include "usernet/dhcpv6.h"
#include "usernet/ndp.h"
#include "usernet/packet.h"
#include "usernet/usernet.h"

#define FUZZ_IP(a, b, c, d) \
	htonl((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static const char *const fuzz_search[] = { "example.com", "corp.example.com",
					   "lab.corp.example.com", NULL };

/* The leases, kept from one input to the next (emptied when full, to keep offering). */
static struct unet_dhcp fuzz_dhcp;

/* The engine's MAC (libslirp's for 10.0.2.2). */
static const uint8_t fuzz_mac[UNET_ETH_ALEN] = { 0x52, 0x55, 10, 0, 2, 2 };

/* fec0::/64 (odd-length inputs: 2001:db8:a5a5::/56, stray bits past the length), ::2, ::3;
 * IPv6 off for lengths of 3 modulo 4, where nothing must be answered. */
static void fuzz_config6(struct usernet_config *cfg, size_t size)
{
	static const uint8_t odd_prefix[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xa5, 0xa5, 0xa5, 0xa5 };

	cfg->ipv6 = size % 4 != 3;
	cfg->prefix6_len = 64;
	cfg->prefix6.s6_addr[0] = 0xfe;
	cfg->prefix6.s6_addr[1] = 0xc0;
	if (size & 1) {
		memcpy(&cfg->prefix6, odd_prefix, sizeof(odd_prefix));
		cfg->prefix6_len = 56;
	}
	cfg->host6 = cfg->prefix6;
	cfg->host6.s6_addr[15] = 2;
	cfg->dns6 = cfg->prefix6;
	cfg->dns6.s6_addr[15] = 3;
}

/* QEMU's defaults; odd-length inputs run with restrict=on and a large MTU. */
static void fuzz_config(struct usernet_config *cfg, bool odd)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->net.s_addr = FUZZ_IP(10, 0, 2, 0);
	cfg->mask.s_addr = FUZZ_IP(255, 255, 255, 0);
	cfg->host.s_addr = FUZZ_IP(10, 0, 2, 2);
	cfg->dns.s_addr = FUZZ_IP(10, 0, 2, 3);
	cfg->dhcp_start.s_addr = FUZZ_IP(10, 0, 2, 15);
	cfg->restricted = odd;
	cfg->mtu = odd ? 65520 : 1500;
	cfg->hostname = "vwire-guest";
	cfg->domainname = "example.com";
	cfg->dnssearch = fuzz_search;
}

static void fuzz_arp(const struct usernet_config *cfg, const struct unet_frame *f)
{
	uint8_t *out = malloc(UNET_ARP_FRAME_LEN), mac[UNET_ETH_ALEN];
	struct in_addr sender, ip;
	struct unet_frame r;
	size_t n;

	n = unet_arp_answer(cfg, f, out, UNET_ARP_FRAME_LEN, &sender);
	if (n != 0 && n != UNET_ARP_FRAME_LEN)
		abort();
	if (n) {
		if (unet_frame_parse(out, n, n, &r) != UNET_DROP_NONE ||
		    r.ethertype != UNET_ETHERTYPE_ARP || unet_arp_sender(&r, &ip, mac))
			abort();
		if (ip.s_addr != cfg->host.s_addr && ip.s_addr != cfg->dns.s_addr)
			abort();
	}
	(void)unet_arp_sender(f, &ip, mac);
	free(out);
}

static void fuzz_dhcp_reply(const uint8_t *out, size_t n)
{
	struct unet_frame r;
	uint64_t sum;

	if (n < UNET_ETH_HLEN + UNET_IPV4_HLEN + UNET_UDP_HLEN + 300 || n > UNET_DHCP_REPLY_MAX)
		abort();
	if (unet_frame_parse(out, n, n, &r) != UNET_DROP_NONE || r.proto != IPPROTO_UDP ||
	    r.sport != UNET_DHCP_SERVER_PORT || r.dport != UNET_DHCP_CLIENT_PORT ||
	    r.payload_off + r.payload_len != n)
		abort();
	sum = unet_ipv4_pseudo_sum(r.saddr, r.daddr, IPPROTO_UDP, r.l4_len);
	if (offload_csum_fold(offload_csum_add(sum, out + r.l4_off, r.l4_len)) != 0)
		abort();
}

/*
 * Mutations would almost never keep an IPv4 header checksum right (unet_frame_parse()'s own
 * checks are fuzzed by the other harnesses): it is set here. With the IP identification's
 * low bit set, the IP and UDP lengths are also made to fit the frame, so that the DHCP body
 * grows and shrinks with the input.
 */
static void fuzz_fix_ipv4(uint8_t *d, size_t size)
{
	size_t ihl, l3 = UNET_ETH_HLEN;
	uint16_t v;

	if (size < l3 + UNET_IPV4_HLEN || d[12] != 0x08 || d[13] != 0x00)
		return;
	ihl = (size_t)(d[l3] & 0x0f) * 4;
	if (ihl < UNET_IPV4_HLEN || ihl > size - l3)
		return;
	if ((d[l3 + 5] & 1) && size - l3 <= 0xffff) {
		v = htons((uint16_t)(size - l3));
		memcpy(d + l3 + 2, &v, sizeof(v));
		if (d[l3 + 9] == IPPROTO_UDP && size - l3 - ihl >= UNET_UDP_HLEN) {
			v = htons((uint16_t)(size - l3 - ihl));
			memcpy(d + l3 + ihl + 4, &v, sizeof(v));
		}
	}
	memset(d + l3 + 10, 0, 2);
	v = offload_csum_fold(offload_csum_add(0, d + l3, ihl));
	memcpy(d + l3 + 10, &v, sizeof(v));
}

/*
 * As for IPv4, checksums are set here. With the flow label's low bit set, the payload length
 * is made to fit the frame (and a UDP header right after the IPv6 header's length too). An
 * ICMPv6 message that parses then gets its checksum (an NDP message must have it right).
 */
static void fuzz_fix_ipv6(uint8_t *d, size_t size)
{
	size_t l3 = UNET_ETH_HLEN, l4 = l3 + UNET_IPV6_HLEN;
	struct unet_frame f;
	uint16_t v;

	if (size < l4 || d[12] != 0x86 || d[13] != 0xdd)
		return;
	if ((d[l3 + 3] & 1) && size - l4 <= 0xffff) {
		v = htons((uint16_t)(size - l4));
		memcpy(d + l3 + 4, &v, sizeof(v));
		if (d[l3 + 6] == IPPROTO_UDP && size - l4 >= UNET_UDP_HLEN)
			memcpy(d + l4 + 4, &v, sizeof(v));
	}
	if (unet_frame_parse(d, size, size, &f) != UNET_DROP_NONE || f.proto != IPPROTO_ICMPV6)
		return;
	memset(d + f.l4_off + 2, 0, 2);
	v = offload_csum_fold(offload_csum_add(
		unet_ipv6_pseudo_sum(&f.saddr6, &f.daddr6, IPPROTO_ICMPV6, f.l4_len),
		d + f.l4_off, f.l4_len));
	memcpy(d + f.l4_off + 2, &v, sizeof(v));
}

/* A reply of ours to the guest: IPv6 from the engine's MAC, @proto, its checksum right. */
static void fuzz_check_ipv6_reply(const uint8_t *out, size_t n, uint8_t proto,
				  struct unet_frame *r)
{
	uint64_t sum;

	if (unet_frame_parse(out, n, n, r) != UNET_DROP_NONE || r->ip_version != 6 ||
	    r->proto != proto || memcmp(r->src_mac, fuzz_mac, UNET_ETH_ALEN) ||
	    r->l4_off + r->l4_len != n)
		abort();
	sum = unet_ipv6_pseudo_sum(&r->saddr6, &r->daddr6, proto, r->l4_len);
	if (offload_csum_fold(offload_csum_add(sum, out + r->l4_off, r->l4_len)) != 0)
		abort();
}

/* NDP: only a router or neighbour solicitation is answered, by an advertisement. */
static void fuzz_ndp(const struct usernet_config *cfg, const struct unet_frame *f)
{
	uint8_t *out = malloc(UNET_NDP_FRAME_MAX);
	struct in6_addr ll, target;
	struct unet_frame r;
	size_t n;

	n = unet_ndp_answer(cfg, fuzz_mac, f, out, UNET_NDP_FRAME_MAX);
	if (n > UNET_NDP_FRAME_MAX || (n && !cfg->ipv6) || (n && f->ttl != 255))
		abort();
	if (n) {
		fuzz_check_ipv6_reply(out, n, IPPROTO_ICMPV6, &r);
		unet_ndp_link_local(fuzz_mac, &ll);
		if (r.ttl != 255 || r.icmp_code != 0)
			abort();
		if (f->icmp_type == UNET_ICMP6_RS) {
			if (r.icmp_type != UNET_ICMP6_RA || memcmp(&r.saddr6, &ll, sizeof(ll)))
				abort();
		} else if (f->icmp_type == UNET_ICMP6_NS) {
			if (r.icmp_type != UNET_ICMP6_NA || r.payload_len < 16 ||
			    memcmp(&r.daddr6, &f->saddr6, sizeof(ll)))
				abort();
			memcpy(&target, out + r.payload_off, sizeof(target));
			if (memcmp(&target, &cfg->host6, sizeof(target)) &&
			    memcmp(&target, &cfg->dns6, sizeof(target)) &&
			    memcmp(&target, &ll, sizeof(target)))
				abort();
		} else {
			abort();
		}
	}
	/* The same message from a smaller buffer: never more than it holds. */
	if (unet_ndp_answer(cfg, fuzz_mac, f, out, n ? n - 1 : 0) != 0)
		abort();
	free(out);
}

/* DHCPv6: a REPLY with the request's transaction id, to the client's port. */
static void fuzz_dhcpv6(const struct usernet_config *cfg, const struct unet_frame *f)
{
	uint8_t *out = malloc(UNET_DHCPV6_REPLY_MAX);
	struct unet_frame r;
	size_t n;

	n = unet_dhcpv6_answer(cfg, fuzz_mac, f, out, UNET_DHCPV6_REPLY_MAX);
	if (n > UNET_DHCPV6_REPLY_MAX || (n && !cfg->ipv6))
		abort();
	if (n) {
		fuzz_check_ipv6_reply(out, n, IPPROTO_UDP, &r);
		if (r.sport != UNET_DHCPV6_SERVER_PORT || r.dport != UNET_DHCPV6_CLIENT_PORT ||
		    r.payload_len < 4 || out[r.payload_off] != 7 ||
		    memcmp(out + r.payload_off + 1, f->data + f->payload_off + 1, 3) ||
		    memcmp(&r.daddr6, &f->saddr6, sizeof(r.daddr6)))
			abort();
	}
	free(out);
}

/* An IPv6 frame: to both responders, whole and as the engine's first 256 bytes. */
static void fuzz_ipv6(const struct usernet_config *cfg, const uint8_t *d, size_t size,
		      const struct unet_frame *f)
{
	struct unet_frame part;

	fuzz_ndp(cfg, f);
	fuzz_dhcpv6(cfg, f);
	if (size > 256 && unet_frame_parse(d, 256, size, &part) == UNET_DROP_NONE) {
		fuzz_ndp(cfg, &part);
		fuzz_dhcpv6(cfg, &part);
	}
}

static void fuzz_dhcp_full_reset(void)
{
	for (int i = 0; i < UNET_DHCP_LEASES; i++)
		if (!fuzz_dhcp.lease[i].in_use)
			return;
	memset(&fuzz_dhcp, 0, sizeof(fuzz_dhcp));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usernet_config cfg;
	struct in_addr assigned;
	struct unet_frame f;
	uint8_t *d, *out;
	size_t n;

	/* A copy of exactly the frame's size, so that ASan sees any read past its end. */
	d = malloc(size ? size : 1);
	memcpy(d, data, size);
	fuzz_config(&cfg, size & 1);
	fuzz_config6(&cfg, size);
	fuzz_fix_ipv4(d, size);
	fuzz_fix_ipv6(d, size);

	if (unet_frame_parse(d, size, size, &f) == UNET_DROP_NONE) {
		if (f.ethertype == UNET_ETHERTYPE_ARP) {
			fuzz_arp(&cfg, &f);
		} else if (f.ip_version == 6) {
			fuzz_ipv6(&cfg, d, size, &f);
		} else if (f.proto == IPPROTO_UDP && f.dport == UNET_DHCP_SERVER_PORT) {
			out = malloc(UNET_DHCP_REPLY_MAX);
			n = unet_dhcp_answer(&fuzz_dhcp, &cfg, &f, out, UNET_DHCP_REPLY_MAX,
					     &assigned);
			if (n)
				fuzz_dhcp_reply(out, n);
			else if (assigned.s_addr)
				abort();
			free(out);
			fuzz_dhcp_full_reset();
			/* The engine's view of only the first 256 bytes: nothing beyond is read. */
			if (size > 256 && unet_frame_parse(d, 256, size, &f) == UNET_DROP_NONE) {
				out = malloc(UNET_DHCP_REPLY_MAX);
				(void)unet_dhcp_answer(&fuzz_dhcp, &cfg, &f, out,
						       UNET_DHCP_REPLY_MAX, NULL);
				free(out);
			}
		}
	}
	free(d);
	return 0;
}
