// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_overlay.c - libFuzzer harness for the check of datagrams from the underlay of -netdev
 * vxlan and -netdev geneve (header, Geneve's option TLVs), and for the flow hash that reads
 * a frame's headers: the first byte picks the protocol, the rest is the datagram. A frame
 * accepted must lie inside the datagram with room for an Ethernet header; ASan catches any
 * read outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/overlay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct overlay_proto *proto;
	struct overlay_decoded dec;
	uint8_t *d;
	size_t len;
	int why;

	if (size < 1)
		return 0;
	proto = (data[0] & 1) ? &overlay_geneve : &overlay_vxlan;
	len = size - 1;
	/* A copy of exactly the datagram's size, so that ASan sees any read past its end. */
	d = malloc(len ? len : 1);
	memcpy(d, data + 1, len);
	why = proto->decap(d, len, &dec);
	if (why < 0 || why >= OVERLAY_DROP_COUNT)
		abort();
	if (!why) {
		if (dec.off < OVERLAY_HDR_LEN || dec.off + 14 > len || dec.vni > OVERLAY_VNI_MAX)
			abort();
		(void)overlay_flow_hash(d + dec.off, len - dec.off);
	}
	(void)overlay_flow_hash(d, len);
	free(d);
	return 0;
}
