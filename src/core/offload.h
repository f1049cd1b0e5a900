/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * offload.h - the virtio-net header, and finishing its offloads in software for a receiver
 * that takes plain Ethernet frames (socket, user mode, a hub port towards one).
 *
 * net.c calls offload_deliver_plain() for such a receiver; offload_segment() is the pure part
 * (parse, checksum, segment), usable on a flat buffer without any net client.
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

/* UDP segmentation (USO, virtio 1.2); older uapi headers lack it. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/**
 * offload_csum_add() - add bytes to an Internet checksum (RFC 1071), summed in host order over
 *			native words, so that the folded sum stored as is (memcpy) is right on
 *			the wire whatever the byte order; only a sum's last piece may have an
 *			odd length
 * @sum:	the sum so far (0 to start)
 * @p:		the bytes
 * @len:	how many
 *
 * Return: the new sum
 */
uint64_t offload_csum_add(uint64_t sum, const uint8_t *p, size_t len);

/**
 * offload_csum_add_iov() - offload_csum_add() over @len bytes of @iov from @offset, in pieces
 *			    of any length (one of odd length shifts the rest by a byte)
 * @sum:	the sum so far (0 to start); the bytes start at an even offset of the summed data
 * @iov:	the data
 * @iovcnt:	pieces
 * @offset:	where to start in @iov
 * @len:	how many bytes (fewer if @iov ends first)
 *
 * Return: the new sum
 */
uint64_t offload_csum_add_iov(uint64_t sum, const struct iovec *iov, int iovcnt, size_t offset,
			      size_t len);

/**
 * offload_csum_fold() - the checksum of a sum: folded to 16 bits and complemented, in wire
 *			 byte order (~ of it is the partial sum a NEEDS_CSUM header expects)
 * @sum:	the sum
 *
 * Return: the checksum, to be stored with memcpy
 */
uint16_t offload_csum_fold(uint64_t sum);

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
 * typedef offload_emit_fn - take one finished frame from offload_segment()
 * @opaque:	the caller's
 * @iov:	the frame, Ethernet header first (valid only during the call)
 * @iovcnt:	pieces (at most OFFLOAD_MAX_EMIT_IOV)
 *
 * Return: > 0 when taken, 0 when refused for now, negative errno when dropped
 */
typedef ssize_t offload_emit_fn(void *opaque, const struct iovec *iov, int iovcnt);

/* Most pieces of one frame handed to an offload_emit_fn. */
#define OFFLOAD_MAX_EMIT_IOV 3

/**
 * offload_segment() - finish what @hdr asks of the plain frame @frame: store its checksum,
 *		       or cut a GSO frame (TCPv4/v6, UDP_L4, UDP by IP fragmentation) into
 *		       frames of at most gso_size payload, each with its own lengths and checksums
 * @frame:	the frame (Ethernet header first), left unchanged: finished headers are built
 *		aside and emitted with pointers into @frame for the payload
 * @len:	its length
 * @hdr:	its virtio-net header (guest-controlled: every field is checked)
 * @emit:	called once per resulting frame, in order
 * @opaque:	for @emit
 *
 * The frame is checked whole before the first call to @emit, so that a malformed one emits
 * nothing. hdr_len is only a hint (Linux guests put their linear length there): the header
 * length is computed from the headers themselves, and a hdr_len beyond the frame is refused.
 *
 * Return: the number of frames offered to @emit (>= 1); 0 when @emit refused the first one
 *	   (the others were not offered); -EINVAL for a malformed frame or header, -EOPNOTSUPP
 *	   for one that cannot be finished here (an IPv6 extension header, IPv4 options with
 *	   UFO, an unknown GSO type)
 */
int offload_segment(const uint8_t *frame, size_t len, const struct virtio_net_hdr_v1 *hdr,
		    offload_emit_fn *emit, void *opaque);

/* Room for what offload_coalesce() builds: a vnet header and a frame's headers. */
#define OFFLOAD_COALESCE_HDR (12 + 256)

/**
 * offload_coalesce() - merge the TCP segments of one flow at the start of @frames into one
 *			GSO frame, the inverse of offload_segment() (as GRO does): each after the
 *			first must carry the next bytes of the same flow with the same headers
 *			(addresses, ports, options, ack, window, flags but PSH), its checksums
 *			right, and the same length as the first but the last, which may be shorter
 * @frames:	frames, each one Ethernet frame in one piece (untrusted)
 * @n:		how many
 * @hdr:	OFFLOAD_COALESCE_HDR bytes: the merged frame's vnet header (NEEDS_CSUM, GSO
 *		TCPV4 or TCPV6) and its headers are built here
 * @hdr_len:	set to their length; the merged frame is @hdr then the payload of each frame
 *		merged, which starts at @hdr_len - 12 in every one of them
 *
 * Return: how many frames were merged (>= 2), or 1 when the first merges with none (it goes
 *	   on as it is)
 */
int offload_coalesce(const struct iovec *frames, unsigned int n, uint8_t *hdr, size_t *hdr_len);

/**
 * offload_plain_iov() - the frame after a vnet header that asks for nothing, without copying
 * @iov:	the packet, beginning with struct virtio_net_hdr_v1
 * @iovcnt:	pieces
 * @out:	the frame's pieces (pointing into @iov's buffers)
 * @max:	room in @out
 *
 * Return: pieces in @out; 0 when the header asks for a checksum or segmentation (use
 *	   offload_deliver_plain()); -EINVAL (no frame after the header), -ENOBUFS (@max too small)
 */
int offload_plain_iov(const struct iovec *iov, int iovcnt, struct iovec *out, int max);

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
