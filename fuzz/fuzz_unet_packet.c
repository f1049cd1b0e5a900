// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_unet_packet.c - libFuzzer harness for the user-mode engine's parser of guest frames
 * (unet_frame_parse). The first byte picks how many of the frame's bytes are handed over (the
 * engine hands over its first 256, or the whole frame); the rest is the frame, of which those
 * bytes are copied to a buffer of exactly their size, so that ASan sees any read past them. An
 * accepted frame, IPv4 or IPv6 (extension headers skipped), must have every header inside them,
 * every offset inside the frame, and its addresses in both forms consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usernet/packet.h"

#define FUZZ_AVAIL_MAX 256

static void fuzz_check(const struct unet_frame *f, const uint8_t *d, size_t avail, size_t len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	volatile uint8_t sink = 0;
	size_t end;

	if (f->data != d || f->avail != avail || f->len != len || avail < UNET_ETH_HLEN)
		abort();
	if (f->l3_off != UNET_ETH_HLEN || f->l3_off > avail)
		abort();
	if (f->ethertype == UNET_ETHERTYPE_ARP) {
		if (f->ip_version != 0)
			abort();
		return;
	}
	if (f->l4_off > avail)
		abort();
	if (f->ethertype == UNET_ETHERTYPE_IPV4) {
		if (f->ip_version != 4 || f->l4_off < f->l3_off + UNET_IPV4_HLEN ||
		    f->proto == IPPROTO_ICMPV6)
			abort();
		/* ::ffff:a.b.c.d */
		if (memcmp(f->saddr6.s6_addr, v4mapped, sizeof(v4mapped)) ||
		    memcmp(f->daddr6.s6_addr, v4mapped, sizeof(v4mapped)) ||
		    memcmp(f->saddr6.s6_addr + 12, &f->saddr, 4) ||
		    memcmp(f->daddr6.s6_addr + 12, &f->daddr, 4))
			abort();
	} else if (f->ethertype == UNET_ETHERTYPE_IPV6) {
		if (f->ip_version != 6 || f->l4_off < f->l3_off + UNET_IPV6_HLEN ||
		    (f->l4_off - f->l3_off - UNET_IPV6_HLEN) % 8 || f->proto == IPPROTO_ICMP ||
		    f->saddr.s_addr || f->daddr.s_addr)
			abort();
		if (memcmp(&f->saddr6, d + f->l3_off + 8, 16) ||
		    memcmp(&f->daddr6, d + f->l3_off + 24, 16) || f->ttl != d[f->l3_off + 7])
			abort();
		/* The transport ends where the payload length says. */
		if (f->l4_off + f->l4_len !=
		    f->l3_off + UNET_IPV6_HLEN + (size_t)(d[f->l3_off + 4] << 8 | d[f->l3_off + 5]))
			abort();
	} else {
		abort();
	}
	if (f->l4_len > len - f->l4_off)
		abort();
	if (f->payload_off < f->l4_off || f->payload_off > avail)
		abort();
	if (f->payload_len > len - f->payload_off ||
	    f->payload_off + f->payload_len > f->l4_off + f->l4_len)
		abort();
	switch (f->proto) {
	case IPPROTO_TCP:
		if (f->payload_off < f->l4_off + UNET_TCP_HLEN || (f->has_wscale && f->wscale > 14))
			abort();
		break;
	case IPPROTO_UDP:
		if (f->payload_off != f->l4_off + UNET_UDP_HLEN)
			abort();
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (f->payload_off != f->l4_off + UNET_ICMP_HLEN)
			abort();
		break;
	default:
		abort();
	}
	/* Every header and payload byte that was handed over, for ASan to check. */
	end = f->payload_off + f->payload_len;
	if (end > avail)
		end = avail;
	for (size_t i = 0; i < end; i++)
		sink ^= f->data[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unet_frame f;
	enum unet_drop why;
	size_t len, avail;
	uint8_t *d;

	if (size < 1)
		return 0;
	len = size - 1;
	/* 0: the first FUZZ_AVAIL_MAX bytes, as the engine does; 0xff: the whole frame;
	 * otherwise that many bytes (fewer than the headers need, often). */
	if (data[0] == 0)
		avail = FUZZ_AVAIL_MAX;
	else if (data[0] == UINT8_MAX)
		avail = len;
	else
		avail = data[0];
	if (avail > len)
		avail = len;
	d = malloc(avail ? avail : 1);
	memcpy(d, data + 1, avail);
	why = unet_frame_parse(d, avail, len, &f);
	if ((unsigned int)why >= UNET_DROP_MAX || !unet_drop_name(why))
		abort();
	if (why == UNET_DROP_NONE)
		fuzz_check(&f, d, avail, len);
	free(d);
	return 0;
}
