// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stream-framing.c - Ethernet frames over a connected byte stream, each behind a 4-byte
 * big-endian length (QEMU's socket/stream wire format).
 *
 * Read: the fd is polled only while the owner's peer can take a packet; one read fills the
 * 256 KiB buffer, every complete frame in it goes to net_send_iov() straight from the
 * buffer; a 0 from it (queued) stops reading until the sent_cb. A length over the limit or
 * the end of the stream inside a frame closes the connection with the reason.
 * Write: sendmsg(length, packet iovecs); EAGAIN returns 0 (the core keeps the packet); a
 * partial write keeps the frame's rest in a buffer, and write polling then drains it before
 * net_flush_queued() lets the next packet in, so frames are never interleaved.
 * On TCP, frames go with MSG_MORE and a bottom half pushes them once per loop round: the
 * frames of a round share segments (as Nagle would give) without Nagle's wait for an ACK.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/stream-framing.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define STREAM_FRAMING_WBUF_SIZE (STREAM_FRAMING_HDR_LEN + STREAM_FRAMING_MAX_FRAME)

static void stream_framing_read(void *opaque);
static void stream_framing_writable(void *opaque);

static uint32_t stream_framing_peek_len(const struct stream_framing *f)
{
	uint32_t be;

	memcpy(&be, f->rbuf + f->rstart, sizeof(be));
	return ntohl(be);
}

/* Whether the buffer holds a whole frame (or a bad length) that is not handed on yet. */
static bool stream_framing_frame_ready(const struct stream_framing *f)
{
	size_t avail = f->rend - f->rstart;
	uint32_t len;

	if (avail < STREAM_FRAMING_HDR_LEN)
		return false;
	len = stream_framing_peek_len(f);
	return len > STREAM_FRAMING_MAX_FRAME || avail - STREAM_FRAMING_HDR_LEN >= len;
}

/*
 * Read only when what is buffered has been handed on: frames held back by the peer's flow
 * control (or past the weight) go first, so that the end of the stream, read later, can
 * never overtake them.
 */
static bool stream_framing_can_read(void *opaque)
{
	struct stream_framing *f = opaque;

	return !f->rx_blocked && f->rend < STREAM_FRAMING_RBUF_SIZE &&
	       !stream_framing_frame_ready(f) && net_can_send(f->nc);
}

static void stream_framing_update_handler(struct stream_framing *f)
{
	if (f->fd < 0)
		return;
	loop_set_fd_handler(f->loop, f->fd, stream_framing_can_read, stream_framing_read,
			    f->want_write ? stream_framing_writable : NULL, f);
}

/* Close because of the peer, and tell the owner why. */
static void stream_framing_close(struct stream_framing *f, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void stream_framing_close(struct stream_framing *f, bool error, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	stream_framing_detach(f);
	if (f->closed)
		f->closed(f->opaque, error, reason);
}

/*
 * Hand on every complete frame in the buffer, up to the weight. Return false when the
 * connection was closed meanwhile (a bad frame, or a callback closed it).
 */
static bool stream_framing_parse(struct stream_framing *f)
{
	unsigned int sent = 0;

	while (!f->rx_blocked && f->rend - f->rstart >= STREAM_FRAMING_HDR_LEN) {
		uint32_t len = stream_framing_peek_len(f);
		struct iovec iov;
		ssize_t ret;

		if (len > STREAM_FRAMING_MAX_FRAME) {
			stream_framing_close(f, true, "frame length %u over the limit of %u bytes",
					     len, (unsigned int)STREAM_FRAMING_MAX_FRAME);
			return false;
		}
		if (f->rend - f->rstart - STREAM_FRAMING_HDR_LEN < len)
			break;
		if (sent == STREAM_FRAMING_WEIGHT) {
			loop_bh_schedule(f->rx_bh);
			break;
		}
		iov.iov_base = f->rbuf + f->rstart + STREAM_FRAMING_HDR_LEN;
		iov.iov_len = len;
		f->rstart += STREAM_FRAMING_HDR_LEN + len;
		/* QEMU hands on an empty frame; nothing can use one, so it is skipped. */
		if (!len)
			continue;
		ret = net_send_iov(f->nc, &iov, 1, 0, f->sent_cb);
		if (f->fd < 0)
			return false;
		if (ret == 0)
			f->rx_blocked = true; /* the peer copied it into its queue */
		sent++;
	}
	if (f->rstart == f->rend) {
		f->rstart = 0;
		f->rend = 0;
	} else if (f->rstart && STREAM_FRAMING_RBUF_SIZE - f->rend < STREAM_FRAMING_WBUF_SIZE) {
		/* Keep room for a whole frame behind the partial one; it is at most one frame. */
		memmove(f->rbuf, f->rbuf + f->rstart, f->rend - f->rstart);
		f->rend -= f->rstart;
		f->rstart = 0;
	}
	return true;
}

/* The peer ended the stream: cleanly between frames, or inside one. */
static void stream_framing_eof(struct stream_framing *f)
{
	size_t left = f->rend - f->rstart;

	if (left >= STREAM_FRAMING_HDR_LEN)
		stream_framing_close(f, true, "end of stream inside a frame (%zu of %u bytes)",
				     left - STREAM_FRAMING_HDR_LEN, stream_framing_peek_len(f));
	else if (left)
		stream_framing_close(f, true,
				     "end of stream inside a frame length (%zu of %u bytes)", left,
				     STREAM_FRAMING_HDR_LEN);
	else
		stream_framing_close(f, false, "closed by the peer");
}

static void stream_framing_read(void *opaque)
{
	struct stream_framing *f = opaque;
	ssize_t n;

	if (f->rend == STREAM_FRAMING_RBUF_SIZE)
		return; /* a read of 0 bytes would look like the end of the stream */
	n = read(f->fd, f->rbuf + f->rend, STREAM_FRAMING_RBUF_SIZE - f->rend);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		stream_framing_close(f, true, "read error: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		stream_framing_eof(f);
		return;
	}
	f->rend += (size_t)n;
	stream_framing_parse(f);
}

/* End of the loop round: push what MSG_MORE held back (setting TCP_NODELAY pushes). */
static void stream_framing_push_bh(void *opaque)
{
	struct stream_framing *f = opaque;
	int one = 1;

	if (f->fd >= 0 && f->corked)
		setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	f->corked = false;
}

static void stream_framing_rx_bh(void *opaque)
{
	struct stream_framing *f = opaque;

	if (f->fd >= 0)
		stream_framing_parse(f);
}

void stream_framing_rx_resume(struct stream_framing *f)
{
	f->rx_blocked = false;
	if (f->fd >= 0 && f->rend > f->rstart)
		loop_bh_schedule(f->rx_bh);
}

static void stream_framing_set_want_write(struct stream_framing *f, bool on)
{
	if (f->want_write == on)
		return;
	f->want_write = on;
	stream_framing_update_handler(f);
}

/* Write what is left of a frame. Return true when nothing is left. */
static bool stream_framing_drain(struct stream_framing *f)
{
	while (f->wlen) {
		ssize_t n = send(f->fd, f->wbuf + f->woff, f->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				stream_framing_close(f, true, "write error: %s", strerror(errno));
			return false;
		}
		f->woff += (size_t)n;
		f->wlen -= (size_t)n;
	}
	f->woff = 0;
	return true;
}

static void stream_framing_writable(void *opaque)
{
	struct stream_framing *f = opaque;

	if (!stream_framing_drain(f))
		return;
	stream_framing_set_want_write(f, false);
	net_flush_queued(f->nc);
}

/* A packet in more pieces than one sendmsg takes: send it from the buffer. */
static ssize_t stream_framing_write_flat(struct stream_framing *f, const struct iovec *iov,
					 int iovcnt, size_t len)
{
	uint32_t be = htonl((uint32_t)len);

	memcpy(f->wbuf, &be, sizeof(be));
	net_iov_to_buf(iov, iovcnt, 0, f->wbuf + STREAM_FRAMING_HDR_LEN, len);
	f->woff = 0;
	f->wlen = STREAM_FRAMING_HDR_LEN + len;
	if (!stream_framing_drain(f) && f->fd >= 0)
		stream_framing_set_want_write(f, true);
	return (ssize_t)len;
}

ssize_t stream_framing_write(struct stream_framing *f, const struct iovec *iov, int iovcnt)
{
	struct iovec v[STREAM_FRAMING_IOV_MAX + 1];
	size_t len = net_iov_size(iov, iovcnt), total;
	struct msghdr msg = { .msg_iov = v };
	uint32_t be;
	ssize_t n;

	if (f->fd < 0)
		return (ssize_t)len; /* not connected: the link is down, as in QEMU */
	if (f->wlen || f->want_write)
		return 0;
	if (!len || len > STREAM_FRAMING_MAX_FRAME)
		return -EMSGSIZE;
	if (iovcnt > STREAM_FRAMING_IOV_MAX)
		return stream_framing_write_flat(f, iov, iovcnt, len);
	be = htonl((uint32_t)len);
	v[0].iov_base = &be;
	v[0].iov_len = sizeof(be);
	memcpy(v + 1, iov, (size_t)iovcnt * sizeof(*iov));
	msg.msg_iovlen = (size_t)iovcnt + 1;
	total = len + sizeof(be);
	do {
		n = sendmsg(f->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (f->cork ? MSG_MORE : 0));
	} while (n < 0 && errno == EINTR);
	if (n > 0 && f->cork && !f->corked) {
		f->corked = true;
		loop_bh_schedule(f->push_bh);
	}
	if (n < 0) {
		if (errno == EAGAIN) {
			/* Nothing went out: the core keeps the packet and offers it again. */
			stream_framing_set_want_write(f, true);
			return 0;
		}
		stream_framing_close(f, true, "write error: %s", strerror(errno));
		return (ssize_t)len;
	}
	if ((size_t)n < total) {
		f->woff = 0;
		f->wlen = net_iov_to_buf(v, iovcnt + 1, (size_t)n, f->wbuf, total - (size_t)n);
		stream_framing_set_want_write(f, true);
	}
	return (ssize_t)len;
}

bool stream_framing_can_write(const struct stream_framing *f)
{
	return f->fd < 0 || (!f->wlen && !f->want_write);
}

bool stream_framing_connected(const struct stream_framing *f)
{
	return f->fd >= 0;
}

int stream_framing_attach(struct stream_framing *f, int fd)
{
	int flags = fcntl(fd, F_GETFL);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	f->fd = fd;
	f->rstart = f->rend = 0;
	f->woff = f->wlen = 0;
	f->rx_blocked = false;
	f->want_write = false;
	f->corked = false;
	f->cork = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		  (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	ret = loop_set_fd_handler(f->loop, fd, stream_framing_can_read, stream_framing_read, NULL,
				  f);
	if (ret < 0) {
		close(fd);
		f->fd = -1;
	}
	return ret;
}

void stream_framing_detach(struct stream_framing *f)
{
	if (f->fd < 0)
		return;
	loop_set_fd_handler(f->loop, f->fd, NULL, NULL, NULL, NULL);
	close(f->fd);
	f->fd = -1;
	f->rstart = f->rend = 0;
	f->woff = f->wlen = 0;
	f->rx_blocked = false;
	f->want_write = false;
	f->corked = false;
	if (f->rx_bh)
		loop_bh_cancel(f->rx_bh);
	if (f->push_bh)
		loop_bh_cancel(f->push_bh);
	/* Whatever waits for this connection now goes nowhere, as with QEMU's link down. */
	net_flush_queued(f->nc);
}

int stream_framing_init(struct stream_framing *f, struct net_client *nc, net_sent_cb *sent_cb,
			stream_framing_closed_fn *closed, void *opaque)
{
	memset(f, 0, sizeof(*f));
	f->nc = nc;
	f->loop = nc->loop;
	f->fd = -1;
	f->sent_cb = sent_cb;
	f->closed = closed;
	f->opaque = opaque;
	f->rbuf = malloc(STREAM_FRAMING_RBUF_SIZE);
	f->wbuf = malloc(STREAM_FRAMING_WBUF_SIZE);
	f->rx_bh = loop_bh_new(f->loop, stream_framing_rx_bh, f);
	f->push_bh = loop_bh_new(f->loop, stream_framing_push_bh, f);
	if (!f->rbuf || !f->wbuf || !f->rx_bh || !f->push_bh) {
		stream_framing_destroy(f);
		return -ENOMEM;
	}
	return 0;
}

void stream_framing_destroy(struct stream_framing *f)
{
	if (f->fd >= 0) {
		loop_set_fd_handler(f->loop, f->fd, NULL, NULL, NULL, NULL);
		close(f->fd);
		f->fd = -1;
	}
	loop_bh_free(f->rx_bh);
	f->rx_bh = NULL;
	loop_bh_free(f->push_bh);
	f->push_bh = NULL;
	free(f->rbuf);
	f->rbuf = NULL;
	free(f->wbuf);
	f->wbuf = NULL;
}
