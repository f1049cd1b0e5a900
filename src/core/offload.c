// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * offload.c - finishing virtio-net offloads in software for receivers of plain frames.
 *
 * A frame whose header asks for nothing is passed on without its header, without a copy.
 */
#include <errno.h>
#include <string.h>

#include "core/offload.h"
#include "vwire/net.h"

ssize_t offload_deliver_plain(struct net_client *nc, const struct iovec *iov, int iovcnt,
			      unsigned int flags, offload_deliver_fn *deliver)
{
	struct iovec rest[64];
	struct virtio_net_hdr_v1 hdr;
	size_t skip = NET_VNET_HDR_LEN;
	int n = 0;

	if (net_iov_to_buf(iov, iovcnt, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return -EINVAL;
	if (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE || (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return -EOPNOTSUPP;
	for (int i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		if (n == (int)(sizeof(rest) / sizeof(rest[0])))
			return -ENOBUFS;
		rest[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		rest[n].iov_len = iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return deliver(nc, rest, n, flags);
}
