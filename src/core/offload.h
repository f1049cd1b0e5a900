/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * offload.h - the virtio-net header, and finishing its offloads in software for a receiver
 * that takes plain Ethernet frames (socket, user mode, a hub port towards one).
 */
#ifndef VWIRE_CORE_OFFLOAD_H
#define VWIRE_CORE_OFFLOAD_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_client;

/*
 * struct virtio_net_hdr_v1 and the VIRTIO_NET_HDR_F_* / VIRTIO_NET_HDR_GSO_* constants come from
 * the kernel's uapi header, so that the device, the tap and this file agree on one layout.
 */
#include <linux/virtio_net.h>

/**
 * typedef offload_deliver_fn - deliver one plain frame to @nc
 * @nc:		the receiver
 * @iov:	the frame
 * @iovcnt:	pieces
 * @flags:	NET_FLAG_* (without NET_FLAG_VNET_HDR)
 *
 * Return: as net_client_ops.receive_iov
 */
typedef ssize_t offload_deliver_fn(struct net_client *nc, const struct iovec *iov, int iovcnt,
				   unsigned int flags);

/**
 * offload_deliver_plain() - strip the vnet header of a packet, finish its checksum and
 *			     segment a GSO frame, delivering each resulting frame with @deliver
 * @nc:		the receiver
 * @iov:	the packet, beginning with struct virtio_net_hdr_v1
 * @iovcnt:	pieces
 * @flags:	NET_FLAG_* to deliver with
 * @deliver:	how to deliver one frame
 *
 * Return: > 0 when delivered (every segment offered once), 0 when the receiver refused the
 *	   first frame (nothing was delivered: retry the whole packet later), negative errno
 *	   when the packet is malformed or of a kind that cannot be finished (dropped)
 */
ssize_t offload_deliver_plain(struct net_client *nc, const struct iovec *iov, int iovcnt,
			      unsigned int flags, offload_deliver_fn *deliver);

#endif
