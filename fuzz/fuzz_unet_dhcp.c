// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_unet_dhcp.c - libFuzzer harness for the native user-mode engine's ARP responder and
 * DHCP server: the input is one guest frame, copied into a buffer of exactly its size and
 * parsed with unet_frame_parse(); an ARP frame goes to unet_arp_answer() and
 * unet_arp_sender(), a UDP datagram to port 67 to unet_dhcp_answer(), whose leases persist
 * across inputs. Every reply must be a frame the engine's own parser takes, checksums right.
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
#include "usernet/packet.h"
#include "usernet/usernet.h"

#define FUZZ_IP(a, b, c, d) \
	htonl((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static const char *const fuzz_search[] = { "example.com", "corp.example.com",
					   "lab.corp.example.com", NULL };

/* The leases, kept from one input to the next (emptied when full, to keep offering). */
static struct unet_dhcp fuzz_dhcp;

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
	fuzz_fix_ipv4(d, size);

	if (unet_frame_parse(d, size, size, &f) == UNET_DROP_NONE) {
		if (f.ethertype == UNET_ETHERTYPE_ARP) {
			fuzz_arp(&cfg, &f);
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
