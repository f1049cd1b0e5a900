/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdpass.h - for tests and test tools that play a vhost-user front end: send iovecs with fds
 * (SCM_RIGHTS) over a unix socket, as a front end sends a message with its fds.
 */
#ifndef VWIRE_TESTS_FDPASS_H
#define VWIRE_TESTS_FDPASS_H

#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The most fds one call passes (vhost-user messages carry at most 8; tests send a few more). */
#define FDPASS_MAX_FDS 16

/**
 * fdpass_send() - sendmsg() @iov with @nfds fds attached to its first byte
 * @sock:	a unix socket
 * @iov:	what to send
 * @iovcnt:	how many iovecs
 * @fds:	the fds (not taken)
 * @nfds:	how many, at most FDPASS_MAX_FDS
 *
 * Return: what sendmsg() returns (MSG_NOSIGNAL: a closed peer gives -1 with EPIPE)
 */
static inline ssize_t fdpass_send(int sock, const struct iovec *iov, int iovcnt, const int *fds,
				  int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	struct cmsghdr *c;

	if (nfds > 0 && nfds <= FDPASS_MAX_FDS) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

#endif
