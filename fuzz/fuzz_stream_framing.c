// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_stream_framing.c - libFuzzer harness for the stream framing (a stream or socket peer's
 * bytes): the input is written into one end of a socketpair whose other end is a -netdev
 * stream, in chunks with loop rounds between them, then the stream is ended. A reference
 * parser in this file predicts the frames; the netdev must hand on exactly those, in order,
 * and close the connection by itself (on a bad length or at the end of the stream).
 *
 * Input: [0] flags (FUZZ_F_*), [1] chunk size selector, then the peer's bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* The endpoint refuses packets until the first chunk is in: frames wait in its queue. */
#define FUZZ_F_REFUSE_FIRST 0x01
#define FUZZ_HDR 2
#define FUZZ_MAX_FRAMES 4096
#define FUZZ_MAX_ROUNDS 8000

struct fuzz_ep {
	struct net_client nc;
	bool refuse;
	unsigned int got;
	uint32_t len[FUZZ_MAX_FRAMES];
	uint32_t sum[FUZZ_MAX_FRAMES];
};

static uint32_t fuzz_sum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static ssize_t fuzz_ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags)
{
	static uint8_t buf[NET_MAX_PACKET + 1];
	struct fuzz_ep *e = (struct fuzz_ep *)nc;
	size_t n = net_iov_size(iov, iovcnt);

	if (e->refuse)
		return 0;
	if (n == 0 || n > NET_MAX_PACKET)
		abort(); /* the framing must never hand on these */
	net_iov_to_buf(iov, iovcnt, 0, buf, n);
	if (e->got < FUZZ_MAX_FRAMES) {
		e->len[e->got] = (uint32_t)n;
		e->sum[e->got] = fuzz_sum(buf, n);
	}
	e->got++;
	return (ssize_t)n;
}

static const struct net_client_ops fuzz_ep_ops = {
	.type = "fuzz-ep",
	.size = sizeof(struct fuzz_ep),
	.receive_iov = fuzz_ep_receive,
};

static struct loop *fuzz_loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The frames a correct parser finds in @p: fills @e's record; returns their count. */
static unsigned int fuzz_reference(const uint8_t *p, size_t n, struct fuzz_ep *e)
{
	unsigned int count = 0;

	while (n >= 4) {
		uint32_t len;

		memcpy(&len, p, 4);
		len = ntohl(len);
		if (len > NET_MAX_PACKET || n - 4 < len)
			break;
		if (len) {
			if (count < FUZZ_MAX_FRAMES) {
				e->len[count] = len;
				e->sum[count] = fuzz_sum(p + 4, len);
			}
			count++;
		}
		p += 4 + len;
		n -= 4 + len;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_ep want;
	struct error err = { 0 };
	struct fuzz_ep *ep;
	size_t chunk, off = 0;
	unsigned int expect, rounds = 0;
	char text[64];
	uint8_t sink[256];
	int sv[2];
	bool closed = false;

	if (size < FUZZ_HDR)
		return 0;
	if (!fuzz_loop) {
		fuzz_loop = loop_new();
		log_set_level(LOG_LEVEL_ERROR);
		if (!fuzz_loop)
			abort();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	snprintf(text, sizeof(text), "stream,id=fz,addr.type=fd,addr.str=%d", sv[1]);
	if (netdev_add(fuzz_loop, text, &err) < 0)
		abort();
	ep = (struct fuzz_ep *)net_client_new(&fuzz_ep_ops, fuzz_loop, net_find("fz"), NULL, NULL);
	if (!ep)
		abort();
	ep->refuse = data[0] & FUZZ_F_REFUSE_FIRST;
	chunk = 1 + (size_t)data[1] * 16;
	data += FUZZ_HDR;
	size -= FUZZ_HDR;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);

	while (off < size && rounds++ < FUZZ_MAX_ROUNDS) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = send(sv[0], data + off, n, MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN)
			break; /* the netdev closed its end: a bad length */
		if (w > 0)
			off += (size_t)w;
		loop_run_once(fuzz_loop, 0);
		if (ep->refuse) {
			ep->refuse = false;
			net_flush_queued(&ep->nc);
		}
	}
	/* What the peer did send (all of it, unless the netdev closed first) decides the frames. */
	expect = fuzz_reference(data, off, &want);
	shutdown(sv[0], SHUT_WR);
	/* The netdev must end the connection: at a bad length, or after the end of the stream. */
	while (!closed && rounds++ < FUZZ_MAX_ROUNDS) {
		ssize_t r;

		loop_run_once(fuzz_loop, 1);
		r = read(sv[0], sink, sizeof(sink));
		closed = r == 0 || (r < 0 && errno == ECONNRESET);
	}
	if (!closed)
		abort();
	if (ep->got != expect)
		abort();
	for (unsigned int i = 0; i < expect && i < FUZZ_MAX_FRAMES; i++)
		if (ep->len[i] != want.len[i] || ep->sum[i] != want.sum[i])
			abort();
	net_client_free(&ep->nc);
	netdev_del("fz", NULL);
	close(sv[0]);
	return 0;
}
