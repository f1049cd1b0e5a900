// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vde.c - the vde back end (-netdev vde), a port of a VDE switch through libvdeplug, with
 * QEMU 7.2's options (sock, port, group, mode) and 'info network' text.
 *
 * A frame from the switch is read with vde_recv() into the client's own buffer when the data
 * fd is readable and the peer can take it, and sent to the peer; a frame from the peer is
 * gathered into a second buffer and given to vde_send() (libvdeplug sends flat buffers only).
 * A peer that queues a frame stops the reading until it flushes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <libvdeplug.h>

#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* The largest frame vwire moves (64 KiB, as QEMU's NET_BUFSIZE covers). */
#define VDE_BUF_SIZE 69632

/**
 * struct vde - one vde back end
 * @nc:		the net client (first: the core hands it back)
 * @conn:	the switch connection
 * @fd:		its data fd
 * @rx:		a frame from the switch
 * @tx:		a frame to the switch, gathered
 * @rl:		rate limit of send errors
 */
struct vde {
	struct net_client nc;
	VDECONN *conn;
	int fd;
	uint8_t rx[VDE_BUF_SIZE];
	uint8_t tx[VDE_BUF_SIZE];
	struct log_ratelimit rl;
};

static void vde_read(void *opaque);

static bool vde_can_read(void *opaque)
{
	return net_can_send(&((struct vde *)opaque)->nc);
}

static void vde_sent(struct net_client *nc, ssize_t ret)
{
	/* The peer flushed: the gate (vde_can_read) opens again on the next round. */
}

static void vde_read(void *opaque)
{
	struct vde *s = opaque;
	ssize_t n = vde_recv(s->conn, s->rx, sizeof(s->rx), 0);

	if (n <= 0)
		return;
	net_send_iov(&s->nc, &(struct iovec){ s->rx, (size_t)n }, 1, 0, vde_sent);
}

static ssize_t vde_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags)
{
	struct vde *s = (struct vde *)nc;
	size_t len = net_iov_size(iov, iovcnt);
	ssize_t ret;

	if (len > sizeof(s->tx)) {
		log_ratelimited_warn(&s->rl, "netdev %s: a %zu-byte frame is too large; dropped",
				     nc->name, len);
		return (ssize_t)len;
	}
	net_iov_to_buf(iov, iovcnt, 0, s->tx, len);
	do {
		ret = vde_send(s->conn, s->tx, len, 0);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		log_ratelimited_warn(&s->rl, "netdev %s: vde_send: %s", nc->name, strerror(errno));
	/* A switch that cannot take it now loses it, as a wire would: the frame is done. */
	return (ssize_t)len;
}

static void vde_cleanup(struct net_client *nc)
{
	struct vde *s = (struct vde *)nc;

	if (s->conn) {
		loop_set_fd_handler(nc->loop, s->fd, NULL, NULL, NULL, NULL);
		vde_close(s->conn);
		s->conn = NULL;
	}
}

static const struct net_client_ops vde_ops = {
	.type = "vde",
	.size = sizeof(struct vde),
	.receive_iov = vde_receive_iov,
	.cleanup = vde_cleanup,
};

int net_init_vde(const struct netdev_vde_opts *o, const char *id, struct loop *loop,
		 struct error *err)
{
	struct vde_open_args args = {
		.port = (int)o->port,
		.group = o->group,
		.mode = (mode_t)(o->has_mode ? o->mode : 0700),
	};
	struct vde *s;
	VDECONN *conn;
	int ret;

	if (o->port > 65535) {
		error_set(err, -EINVAL, "port=%llu: out of range", (unsigned long long)o->port);
		return -EINVAL;
	}
	if (o->mode > 07777) {
		error_set(err, -EINVAL, "mode=%llo: not a file mode", (unsigned long long)o->mode);
		return -EINVAL;
	}
	conn = vde_open(o->sock, (char *)"vwire", &args);
	if (!conn) {
		ret = errno ? -errno : -EIO;
		error_set(err, ret, "Could not open vde: %s", strerror(-ret));
		return ret;
	}
	s = (struct vde *)net_client_new(&vde_ops, loop, NULL, NULL, id);
	if (!s) {
		vde_close(conn);
		error_set(err, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	s->conn = conn;
	s->fd = vde_datafd(conn);
	s->nc.is_netdev = true;
	snprintf(s->nc.info_str, sizeof(s->nc.info_str), "sock=%s,fd=%d", o->sock ? o->sock : "",
		 s->fd);
	ret = loop_set_fd_handler(loop, s->fd, vde_can_read, vde_read, NULL, s);
	if (ret < 0) {
		error_set(err, ret, "cannot watch the vde fd: %s", strerror(-ret));
		net_client_free(&s->nc);
		return ret;
	}
	return 0;
}
