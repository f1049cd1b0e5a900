// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_overlay.c - libFuzzer harness for what -netdev vxlan and -netdev geneve read from the
 * underlay: the check of a datagram (header, Geneve's option TLVs), the flow hash of a
 * frame, and the joining of received TCP segments into one GSO frame (offload_coalesce).
 * The first byte picks: bit 1 clear, a datagram (bit 0: Geneve or VXLAN) whose accepted frame
 * must lie inside it with room for an Ethernet header; bit 1 set, frames to join, each
 * behind a 2-byte length. ASan catches any read outside them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/overlay.h"
#include "core/offload.h"

#define FUZZ_FRAMES 16

static void fuzz_coalesce(const uint8_t *data, size_t size)
{
	struct iovec frames[FUZZ_FRAMES];
	uint8_t hdr[OFFLOAD_COALESCE_HDR];
	unsigned int n = 0;
	size_t hdr_len = 0;
	int m;

	while (n < FUZZ_FRAMES && size >= 2) {
		size_t len = (size_t)(data[0] << 8 | data[1]);

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		/* Each frame in a buffer of exactly its size. */
		frames[n].iov_base = malloc(len ? len : 1);
		memcpy(frames[n].iov_base, data, len);
		frames[n++].iov_len = len;
		data += len;
		size -= len;
	}
	if (n) {
		m = offload_coalesce(frames, n, hdr, &hdr_len);
		if (m < 1 || (unsigned int)m > n)
			abort();
		for (int i = 0; m > 1 && i < m; i++)
			if (hdr_len > OFFLOAD_COALESCE_HDR || hdr_len < 12 ||
			    hdr_len - 12 > frames[i].iov_len)
				abort();
	}
	for (unsigned int i = 0; i < n; i++)
		free(frames[i].iov_base);
}

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
	if (data[0] & 2) {
		fuzz_coalesce(data + 1, size - 1);
		return 0;
	}
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
