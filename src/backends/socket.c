// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * socket.c - -netdev socket, QEMU's older interface to the same two wires: listen=host:port
 * and connect=host:port carry length-prefixed frames over TCP (the stream client, stream.c),
 * udp=host:port with localaddr=host:port and mcast=group:port carry one frame per datagram
 * (the datagram client, dgram.c), fd= takes over an inherited socket of either kind.
 *
 * This file only turns QEMU's socket options (IPv4 host:port strings) into sockets and hands
 * them on; the clients it makes describe themselves as QEMU's socket back end does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/dgram.h"
#include "backends/netaddr.h"
#include "backends/stream.h"
#include "core/netdev.h"
#include "vwire/error.h"

static int socket_init_fd(const struct netdev_socket_opts *o, const char *id, struct loop *loop,
			  struct error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	char info[64];
	int fd, type = 0, ret;

	ret = netaddr_fd(o->fd, &fd, err);
	if (ret < 0) {
		error_prepend(err, "fd=%s: ", o->fd);
		return ret;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		close(fd);
		return error_set(err, -EINVAL, "fd=%s: not a socket", o->fd);
	}
	if (type == SOCK_STREAM) {
		struct stream_config cfg = {
			.model = "socket", .socket_style = true, .listen_fd = -1, .conn_fd = fd,
		};

		return stream_net_new(loop, id, &cfg, err);
	}
	if (type == SOCK_DGRAM) {
		struct dgram_config cfg = { .model = "socket", .fd = fd, .info = info };

		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			snprintf(info, sizeof(info), "socket: fd=%d %s", fd,
				 ss.ss_family == AF_UNIX ? "unix" : "inet");
		else
			snprintf(info, sizeof(info), "socket: fd=%d", fd);
		return dgram_net_new(loop, id, &cfg, err);
	}
	close(fd);
	return error_set(err, -EINVAL,
			 "fd=%s: socket type %d must be either SOCK_DGRAM or SOCK_STREAM", o->fd,
			 type);
}

static int socket_init_listen(const struct netdev_socket_opts *o, const char *id,
			      struct loop *loop, struct error *err)
{
	struct stream_config cfg = {
		.model = "socket", .socket_style = true, .listen_fd = -1, .conn_fd = -1,
	};
	struct netaddr_list addrs = { .count = 1 };
	int ret;

	addrs.addr[0].len = sizeof(struct sockaddr_in);
	ret = netaddr_host_port(o->listen, (struct sockaddr_in *)&addrs.addr[0].ss, err);
	if (ret == 0)
		ret = cfg.listen_fd = stream_listen_open(&addrs, 0, false, err);
	if (ret < 0) {
		error_prepend(err, "listen=%s: ", o->listen);
		return ret;
	}
	return stream_net_new(loop, id, &cfg, err);
}

static int socket_init_connect(const struct netdev_socket_opts *o, const char *id,
			       struct loop *loop, struct error *err)
{
	struct stream_config cfg = {
		.model = "socket", .socket_style = true, .listen_fd = -1, .conn_fd = -1,
	};
	struct netaddr_list addrs = { .count = 1 };
	int ret;

	addrs.addr[0].len = sizeof(struct sockaddr_in);
	ret = netaddr_host_port(o->connect, (struct sockaddr_in *)&addrs.addr[0].ss, err);
	if (ret == 0) {
		cfg.connect_to = &addrs;
		ret = stream_net_new(loop, id, &cfg, err);
	}
	if (ret < 0)
		error_prepend(err, "connect=%s: ", o->connect);
	return ret;
}

static int socket_init_mcast(const struct netdev_socket_opts *o, const char *id,
			     struct loop *loop, struct error *err)
{
	struct netaddr dest = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *group = (struct sockaddr_in *)&dest.ss;
	struct dgram_config cfg = { .model = "socket", .dest = &dest };
	struct in_addr local, *localp = NULL;
	char where[NETADDR_STRLEN], info[NETADDR_STRLEN + 16];
	int ret, fd;

	ret = netaddr_host_port(o->mcast, group, err);
	if (ret < 0) {
		error_prepend(err, "mcast=%s: ", o->mcast);
		return ret;
	}
	if (o->localaddr) {
		if (!inet_aton(o->localaddr, &local))
			return error_set(err, -EINVAL,
					 "localaddr=%s: not a valid IPv4 address", o->localaddr);
		localp = &local;
	}
	fd = dgram_mcast_open(group, localp, err);
	if (fd < 0) {
		error_prepend(err, "mcast=%s: ", o->mcast);
		return fd;
	}
	snprintf(info, sizeof(info), "socket: mcast=%s",
		 netaddr_format_ip_port(group, where, sizeof(where)));
	cfg.fd = fd;
	cfg.info = info;
	return dgram_net_new(loop, id, &cfg, err);
}

static int socket_init_udp(const struct netdev_socket_opts *o, const char *id,
			   struct loop *loop, struct error *err)
{
	struct netaddr dest = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *raddr = (struct sockaddr_in *)&dest.ss, laddr;
	struct dgram_config cfg = { .model = "socket", .dest = &dest };
	char where[NETADDR_STRLEN], info[NETADDR_STRLEN + 16];
	int ret, fd, one = 1;

	if (!o->localaddr)
		return error_set(err, -EINVAL, "localaddr= is mandatory with udp=");
	ret = netaddr_host_port(o->localaddr, &laddr, err);
	if (ret < 0) {
		error_prepend(err, "localaddr=%s: ", o->localaddr);
		return ret;
	}
	ret = netaddr_host_port(o->udp, raddr, err);
	if (ret < 0) {
		error_prepend(err, "udp=%s: ", o->udp);
		return ret;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "can't create a datagram socket: %s",
				 strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&laddr, sizeof(laddr)) < 0) {
		ret = -errno;
		close(fd);
		return error_set(err, ret, "localaddr=%s: can't bind: %s", o->localaddr,
				 strerror(-ret));
	}
	snprintf(info, sizeof(info), "socket: udp=%s",
		 netaddr_format_ip_port(raddr, where, sizeof(where)));
	cfg.fd = fd;
	cfg.info = info;
	return dgram_net_new(loop, id, &cfg, err);
}

int net_init_socket(const struct netdev_socket_opts *o, const char *id, struct loop *loop,
		    struct error *err)
{
	int kinds = !!o->fd + !!o->listen + !!o->connect + !!o->mcast + !!o->udp;

	if (kinds != 1)
		return error_set(err, -EINVAL, "exactly one of listen=, connect=, mcast=, udp= "
				 "or fd= is required");
	if (o->localaddr && !o->mcast && !o->udp)
		return error_set(err, -EINVAL, "localaddr= is only valid with mcast= or udp=");
	if (o->fd)
		return socket_init_fd(o, id, loop, err);
	if (o->listen)
		return socket_init_listen(o, id, loop, err);
	if (o->connect)
		return socket_init_connect(o, id, loop, err);
	if (o->mcast)
		return socket_init_mcast(o, id, loop, err);
	return socket_init_udp(o, id, loop, err);
}
