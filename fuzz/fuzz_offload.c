// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_offload.c - libFuzzer harness for the software offloads: the input's first 12 bytes
 * are a struct virtio_net_hdr_v1, the rest is the frame. offload_segment() must refuse or
 * finish it without reading outside it, emit nothing when it refuses, and every TSO/USO
 * segment it emits must itself be a well-formed GSO frame that comes back unchanged when
 * segmented again as one. The same input then goes through offload_deliver_plain() in two
 * pieces split where its last byte says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/offload.h"
#include "vwire/net.h"

/**
 * struct fuzz_ctx - what the emit callbacks saw
 * @hdr:	the input's header
 * @count:	frames emitted
 */
struct fuzz_ctx {
	struct virtio_net_hdr_v1 hdr;
	int count;
};

static uint8_t fuzz_flat[NET_MAX_PACKET];

static size_t fuzz_flatten(const struct iovec *iov, int iovcnt)
{
	size_t len = net_iov_size(iov, iovcnt);

	if (iovcnt < 1 || iovcnt > OFFLOAD_MAX_EMIT_IOV || len > sizeof(fuzz_flat))
		abort();
	/* No piece may be longer than a packet (a length that wrapped around would be). */
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len > sizeof(fuzz_flat))
			abort();
	/* Reads every byte, so that a piece pointing outside the input is caught. */
	if (net_iov_to_buf(iov, iovcnt, 0, fuzz_flat, len) != len)
		abort();
	return len;
}

static ssize_t fuzz_same(void *opaque, const struct iovec *iov, int iovcnt)
{
	const uint8_t *seg = opaque;
	static uint8_t again[NET_MAX_PACKET];
	size_t len = net_iov_size(iov, iovcnt);

	if (len > sizeof(again) || net_iov_to_buf(iov, iovcnt, 0, again, len) != len ||
	    memcmp(again, seg, len))
		abort();
	return (ssize_t)len;
}

static ssize_t fuzz_emit(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct fuzz_ctx *ctx = opaque;
	size_t len = fuzz_flatten(iov, iovcnt);
	uint8_t gso = ctx->hdr.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	ctx->count++;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6 ||
	    gso == VIRTIO_NET_HDR_GSO_UDP_L4) {
		struct virtio_net_hdr_v1 one = { .gso_type = ctx->hdr.gso_type,
						 .gso_size = htole16(0xffff) };
		static uint8_t seg[NET_MAX_PACKET];

		memcpy(seg, fuzz_flat, len);
		if (offload_segment(seg, len, &one, fuzz_same, seg) != 1)
			abort();
	}
	return (ssize_t)len + 1;
}

static ssize_t fuzz_deliver(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	size_t len = net_iov_size(iov, iovcnt);

	if (iovcnt < 1 || len > sizeof(fuzz_flat) ||
	    net_iov_to_buf(iov, iovcnt, 0, fuzz_flat, len) != len)
		abort();
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len > sizeof(fuzz_flat))
			abort();
	return (ssize_t)len + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_client nc = { .name = (char *)"fuzz" };
	struct fuzz_ctx ctx = { 0 };
	struct iovec iov[2];
	size_t split;
	int ret;

	log_set_level(LOG_LEVEL_ERROR);
	if (size < NET_VNET_HDR_LEN || size > NET_MAX_PACKET)
		return 0;
	memcpy(&ctx.hdr, data, NET_VNET_HDR_LEN);
	ret = offload_segment(data + NET_VNET_HDR_LEN, size - NET_VNET_HDR_LEN, &ctx.hdr,
			      fuzz_emit, &ctx);
	/* A refusal emits nothing; otherwise every frame counted (the callback never says no). */
	if (ret < 0 ? ctx.count != 0 : ret != ctx.count || ret == 0)
		abort();

	split = data[size - 1] % (size + 1);
	iov[0] = (struct iovec){ (void *)data, split };
	iov[1] = (struct iovec){ (void *)(data + split), size - split };
	if (split && split < size)
		offload_deliver_plain(&nc, iov, 2, 0, fuzz_deliver);
	return 0;
}
