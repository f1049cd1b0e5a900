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

/* struct virtio_net_hdr_v1 flags (virtio 1.2, 5.1.6) */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO 4

/* struct virtio_net_hdr_v1 gso_type */
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/**
 * struct virtio_net_hdr_v1 - the header before every frame on a virtio-net queue, and before
 *			      NET_FLAG_VNET_HDR packets in the core (little-endian fields)
 * @flags:		VIRTIO_NET_HDR_F_*
 * @gso_type:		VIRTIO_NET_HDR_GSO_*
 * @hdr_len:		length of the headers to copy into each segment
 * @gso_size:		payload bytes per segment
 * @csum_start:		where checksumming starts
 * @csum_offset:	where from csum_start the checksum is stored
 * @num_buffers:	mergeable rx buffers used (rx only)
 */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

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
