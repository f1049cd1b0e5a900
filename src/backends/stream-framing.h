/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream-framing.h - Ethernet frames over one connected byte stream (TCP or unix), as QEMU's
 * socket and stream back ends carry them: each frame is preceded by its length, 4 bytes big
 * endian. Shared by -netdev stream and the listen=/connect= flavours of -netdev socket.
 *
 * In: big reads into a per-connection buffer, every complete frame in it sent from the owner's
 * net client straight out of the buffer; reading stops while the peer cannot take more.
 * Out: one sendmsg of the length and the packet's own iovecs; a partial write leaves the rest
 * of that one frame in a buffer, and nothing more is taken until it has gone. On TCP the
 * frames of one loop round leave as few segments (MSG_MORE, then one push per round).
 */
#ifndef VWIRE_BACKENDS_STREAM_FRAMING_H
#define VWIRE_BACKENDS_STREAM_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vwire/net.h"

struct loop;
struct loop_bh;

/* The length that precedes each frame: 4 bytes, network byte order. */
#define STREAM_FRAMING_HDR_LEN 4
/* Longest frame accepted from a peer; a longer length closes the connection. QEMU's own limit
 * is its read buffer (69632 bytes); no Ethernet frame vwire carries comes near either. */
#define STREAM_FRAMING_MAX_FRAME NET_MAX_PACKET
/* Input buffer of a connection: several frames per read. */
#define STREAM_FRAMING_RBUF_SIZE (256 * 1024)
/* Frames handed on per event before the rest waits for a bottom half (fairness). */
#define STREAM_FRAMING_WEIGHT 512
/* Packet pieces written in one sendmsg without flattening the packet first. */
#define STREAM_FRAMING_IOV_MAX 64

/**
 * typedef stream_framing_closed_fn - the connection was closed because of the peer
 * @opaque:	the owner's pointer
 * @error:	false for an orderly end of stream between frames, true for anything else
 * @reason:	why (end of stream, a bad frame length, a read or write error)
 */
typedef void stream_framing_closed_fn(void *opaque, bool error, const char *reason);

/**
 * struct stream_framing - one connection's framing state
 * @nc:		the owner's net client: frames read are sent from it
 * @loop:	the event loop
 * @fd:		the connected socket, or -1 when not connected
 * @rbuf:	input buffer (STREAM_FRAMING_RBUF_SIZE bytes)
 * @rstart:	first unparsed byte in @rbuf
 * @rend:	end of the data in @rbuf
 * @rx_blocked:	the peer queued a frame of ours: read nothing until @sent_cb
 * @rx_bh:	continues parsing buffered frames (after @sent_cb, or past the weight)
 * @wbuf:	unsent rest of one frame (4 + STREAM_FRAMING_MAX_FRAME bytes)
 * @woff:	first unsent byte in @wbuf
 * @wlen:	unsent bytes from @woff
 * @want_write:	waiting for the socket to become writable
 * @cork:	TCP: send with MSG_MORE and push once per loop round (@push_bh)
 * @corked:	frames were sent with MSG_MORE since the last push
 * @push_bh:	pushes corked frames out at the end of the loop round
 * @sent_cb:	the owner's completion for frames its peer queued; it calls
 *		stream_framing_rx_resume()
 * @closed:	told when the connection closes because of the peer
 * @opaque:	passed to @closed
 */
struct stream_framing {
	struct net_client *nc;
	struct loop *loop;
	int fd;
	uint8_t *rbuf;
	size_t rstart;
	size_t rend;
	bool rx_blocked;
	struct loop_bh *rx_bh;
	uint8_t *wbuf;
	size_t woff;
	size_t wlen;
	bool want_write;
	bool cork;
	bool corked;
	struct loop_bh *push_bh;
	net_sent_cb *sent_cb;
	stream_framing_closed_fn *closed;
	void *opaque;
};

/**
 * stream_framing_init() - set up @f for @nc, not connected
 * @f:		the state (owned by the caller)
 * @nc:		the client frames are sent from
 * @sent_cb:	completion passed to net_send_iov(); must call stream_framing_rx_resume()
 * @closed:	told when the peer closes or breaks the connection
 * @opaque:	passed to @closed
 *
 * Return: 0 or -ENOMEM
 */
int stream_framing_init(struct stream_framing *f, struct net_client *nc, net_sent_cb *sent_cb,
			stream_framing_closed_fn *closed, void *opaque);

/**
 * stream_framing_attach() - start carrying frames over @fd (made non-blocking); @f takes it
 * @f:	the state, not connected
 * @fd:	a connected stream socket
 *
 * Return: 0, or a negative errno (@fd is then closed)
 */
int stream_framing_attach(struct stream_framing *f, int fd);

/**
 * stream_framing_detach() - close the connection (if any) and forget partial frames both ways;
 *			     packets waiting in the client's incoming queue are then dropped
 * @f: the state
 */
void stream_framing_detach(struct stream_framing *f);

/**
 * stream_framing_destroy() - detach and free the buffers
 * @f: the state (may be only partly initialised)
 */
void stream_framing_destroy(struct stream_framing *f);

/**
 * stream_framing_connected() - whether a connection is attached
 * @f: the state
 *
 * Return: true or false
 */
bool stream_framing_connected(const struct stream_framing *f);

/**
 * stream_framing_write() - the receive_iov of the owner: write one frame
 * @f:		the state
 * @iov:	the packet
 * @iovcnt:	its pieces
 *
 * Return: the packet's length when written (or dropped: not connected, too long, write
 *	   error), 0 when the socket cannot take it now (call again after net_flush_queued)
 */
ssize_t stream_framing_write(struct stream_framing *f, const struct iovec *iov, int iovcnt);

/**
 * stream_framing_can_write() - the can_receive of the owner
 * @f: the state
 *
 * Return: false while the rest of a frame or a blocked write waits
 */
bool stream_framing_can_write(const struct stream_framing *f);

/**
 * stream_framing_rx_resume() - the peer took a queued frame: read again
 * @f: the state
 */
void stream_framing_rx_resume(struct stream_framing *f);

#endif
