// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stream.c - -netdev stream: Ethernet frames over one TCP or unix connection, in QEMU 7.2's
 * wire format (stream-framing.c), as a server or as a client.
 *
 * A server polls its listening socket only while it has no peer: it accepts one connection,
 * and a second waits in the backlog until the first ends, as in QEMU. A client connects
 * without blocking the loop; with reconnect=N a failed attempt or a lost connection arms a
 * timer that tries again N seconds later. While not connected, packets sent to it are
 * dropped. -netdev socket's listen= and connect= are this client with IPv4 addresses.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backends/netaddr.h"
#include "backends/stream-framing.h"
#include "backends/stream.h"
#include "core/event.h"
#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Pending connections a server lets wait while it serves one (QEMU asks for 0). */
#define STREAM_LISTEN_BACKLOG 1
#define STREAM_NS_PER_S 1000000000LL

/**
 * struct stream_state - a stream client
 * @nc:			the net client (first)
 * @link:		the connection's framing
 * @socket_style:	describe it as -netdev socket does
 * @listen_fd:		server: the listening socket, or -1
 * @listen_desc:	server: what it listens on, printed
 * @peers:		client: the addresses to connect to
 * @next_peer:		client: the one being tried
 * @connecting_fd:	client: a connection in progress, or -1
 * @keep_alive:		client: SO_KEEPALIVE
 * @failing:		client: the last attempt failed (logged once per series)
 * @reconnect_timer:	client: fires the next attempt
 * @reconnect_ns:	client: delay between attempts (0: none)
 * @owned:		server: the unix socket file it bound, removed at cleanup if still ours
 * @rl:			rate limit of accept errors
 */
struct stream_state {
	struct net_client nc;
	struct stream_framing link;
	bool socket_style;
	int listen_fd;
	char listen_desc[NETADDR_STRLEN];
	struct netaddr_list peers;
	unsigned int next_peer;
	int connecting_fd;
	bool keep_alive;
	bool failing;
	struct loop_timer *reconnect_timer;
	int64_t reconnect_ns;
	struct unix_socket_owned owned;
	struct log_ratelimit rl;
};

static void stream_set_info(struct stream_state *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stream_set_info(struct stream_state *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->nc.info_str, sizeof(s->nc.info_str), fmt, ap);
	va_end(ap);
}

/* An address as this client prints it: "1.2.3.4:5" for socket, a URI for stream. */
static char *stream_describe(const struct stream_state *s, const struct sockaddr *sa,
			     socklen_t len, char *buf, size_t size)
{
	if (s->socket_style && sa->sa_family == AF_INET)
		return netaddr_format_ip_port((const struct sockaddr_in *)sa, buf, size);
	return netaddr_format(sa, len, buf, size);
}

/* The peer being (or last) connected to. */
static const struct netaddr *stream_peer_addr(const struct stream_state *s)
{
	return &s->peers.addr[s->next_peer < s->peers.count ? s->next_peer : 0];
}

static char *stream_peer_desc(const struct stream_state *s, char *buf, size_t size)
{
	const struct netaddr *a = stream_peer_addr(s);

	return stream_describe(s, (const struct sockaddr *)&a->ss, a->len, buf, size);
}

/*
 * QEMU's NETDEV_STREAM_CONNECTED {"netdev-id", "addr": SocketAddress} when @sa is given,
 * NETDEV_STREAM_DISCONNECTED {"netdev-id"} when NULL; -netdev socket sends neither, as in QEMU.
 */
static void stream_post_event(const struct stream_state *s, const struct sockaddr *sa,
			      socklen_t len)
{
	struct json_object *data, *addr = NULL;

	if (s->socket_style)
		return;
	if (sa) {
		addr = netaddr_to_json(sa, len);
		if (!addr)
			return;
	}
	data = json_object_new_object();
	json_object_object_add(data, "netdev-id", json_object_new_string(s->nc.name));
	if (addr)
		json_object_object_add(data, "addr", addr);
	event_post(sa ? "NETDEV_STREAM_CONNECTED" : "NETDEV_STREAM_DISCONNECTED", data);
}

static void stream_sent(struct net_client *nc, ssize_t ret)
{
	stream_framing_rx_resume(&((struct stream_state *)nc)->link);
}

static void stream_accept(void *opaque);

static void stream_watch_listen(struct stream_state *s)
{
	loop_set_fd_handler(s->nc.loop, s->listen_fd, NULL, stream_accept, NULL, s);
	stream_set_info(s, "%slistening on %s", s->socket_style ? "socket: " : "", s->listen_desc);
}

static void stream_info_disconnected(struct stream_state *s, const char *what)
{
	char peer[NETADDR_STRLEN];

	stream_peer_desc(s, peer, sizeof(peer));
	if (s->socket_style)
		stream_set_info(s, "socket: connect to %s", peer);
	else
		stream_set_info(s, "%s %s", what, peer);
}

static void stream_arm_reconnect(struct stream_state *s)
{
	loop_timer_mod(s->reconnect_timer, loop_now_ns() + s->reconnect_ns);
	stream_info_disconnected(s, "connecting to");
}

static void stream_closed(void *opaque, bool error, const char *reason)
{
	struct stream_state *s = opaque;

	if (error)
		log_warn("%s %s: connection closed: %s", s->nc.model, s->nc.name, reason);
	else
		log_info("%s %s: connection closed: %s", s->nc.model, s->nc.name, reason);
	stream_post_event(s, NULL, 0);
	if (s->listen_fd >= 0)
		stream_watch_listen(s);
	else if (s->peers.count && s->reconnect_ns)
		stream_arm_reconnect(s);
	else if (s->peers.count)
		stream_info_disconnected(s, "disconnected from");
	else
		stream_set_info(s, "%sdisconnected", s->socket_style ? "socket: " : "");
}

/* Hand a connected socket to the framing; @fd is consumed. */
static int stream_start(struct stream_state *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		/*
		 * Frames are whole packets: Nagle would only delay them (QEMU sets this on the
		 * connecting side only; its listening side waits for ACKs). The framing pushes
		 * once per loop round instead, which setting TCP_NODELAY again does.
		 */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (s->keep_alive)
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	return stream_framing_attach(&s->link, fd);
}

static void stream_accept(void *opaque)
{
	struct stream_state *s = opaque;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char who[NETADDR_STRLEN];
	int fd, ret;

	fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_ratelimited_warn(&s->rl, "%s %s: accept: %s", s->nc.model, s->nc.name,
					     strerror(errno));
		return;
	}
	/* As QEMU names a unix connection by the server's path, a TCP one by the peer. */
	if (ss.ss_family == AF_UNIX) {
		len = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
	}
	stream_describe(s, (struct sockaddr *)&ss, len, who, sizeof(who));
	loop_set_fd_handler(s->nc.loop, s->listen_fd, NULL, NULL, NULL, NULL);
	ret = stream_start(s, fd);
	if (ret < 0) {
		log_warn("%s %s: cannot serve a connection from %s: %s", s->nc.model, s->nc.name,
			 who, strerror(-ret));
		stream_watch_listen(s);
		return;
	}
	if (s->socket_style)
		stream_set_info(s, "socket: connection from %s", who);
	else
		stream_set_info(s, "%s", who);
	log_info("%s %s: connection from %s", s->nc.model, s->nc.name, who);
	stream_post_event(s, (struct sockaddr *)&ss, len);
}

static int stream_connected(struct stream_state *s, int fd)
{
	const struct netaddr *a;
	char peer[NETADDR_STRLEN];
	int ret;

	stream_peer_desc(s, peer, sizeof(peer));
	ret = stream_start(s, fd);
	if (ret < 0)
		return ret;
	s->failing = false;
	if (s->socket_style)
		stream_set_info(s, "socket: connect to %s", peer);
	else
		stream_set_info(s, "%s", peer);
	log_info("%s %s: connected to %s", s->nc.model, s->nc.name, peer);
	a = stream_peer_addr(s);
	stream_post_event(s, (const struct sockaddr *)&a->ss, a->len);
	return 0;
}

static void stream_connect_done(void *opaque);

/* Try the addresses from next_peer on. Return 0 once connected or connecting, else -errno. */
static int stream_connect_next(struct stream_state *s)
{
	int ret = -ECONNREFUSED;

	for (; s->next_peer < s->peers.count; s->next_peer++) {
		const struct netaddr *a = &s->peers.addr[s->next_peer];
		int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
			return stream_connected(s, fd);
		if (errno == EINPROGRESS || errno == EINTR) {
			s->connecting_fd = fd;
			loop_set_fd_handler(s->nc.loop, fd, NULL, NULL, stream_connect_done, s);
			stream_info_disconnected(s, "connecting to");
			return 0;
		}
		/* A unix listener with a full backlog says EAGAIN: this attempt failed. */
		ret = -errno;
		close(fd);
	}
	return ret;
}

static void stream_connect_failed(struct stream_state *s, int ret)
{
	char peer[NETADDR_STRLEN];

	s->next_peer = 0;
	stream_peer_desc(s, peer, sizeof(peer));
	if (!s->failing) {
		if (s->reconnect_ns)
			log_warn("%s %s: cannot connect to %s: %s; trying again every %lld s",
				 s->nc.model, s->nc.name, peer, strerror(-ret),
				 (long long)(s->reconnect_ns / STREAM_NS_PER_S));
		else
			log_warn("%s %s: cannot connect to %s: %s", s->nc.model, s->nc.name, peer,
				 strerror(-ret));
	}
	s->failing = true;
	if (s->reconnect_ns)
		stream_arm_reconnect(s);
	else if (s->socket_style)
		stream_info_disconnected(s, "");
	else
		stream_set_info(s, "connection error: %s", strerror(-ret));
}

static void stream_connect_done(void *opaque)
{
	struct stream_state *s = opaque;
	int fd = s->connecting_fd, soerr = 0, ret;
	socklen_t len = sizeof(soerr);

	s->connecting_fd = -1;
	loop_set_fd_handler(s->nc.loop, fd, NULL, NULL, NULL, NULL);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (!soerr) {
		ret = stream_connected(s, fd);
		if (ret < 0)
			stream_connect_failed(s, ret);
		return;
	}
	close(fd);
	ret = -soerr;
	if (++s->next_peer < s->peers.count)
		ret = stream_connect_next(s);
	if (ret < 0)
		stream_connect_failed(s, ret);
}

static void stream_reconnect(void *opaque)
{
	struct stream_state *s = opaque;
	int ret;

	if (stream_framing_connected(&s->link) || s->connecting_fd >= 0)
		return;
	s->next_peer = 0;
	ret = stream_connect_next(s);
	if (ret < 0)
		stream_connect_failed(s, ret);
}

static ssize_t stream_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				  unsigned int flags)
{
	return stream_framing_write(&((struct stream_state *)nc)->link, iov, iovcnt);
}

static bool stream_can_receive(struct net_client *nc)
{
	return stream_framing_can_write(&((struct stream_state *)nc)->link);
}

static void stream_cleanup(struct net_client *nc)
{
	struct stream_state *s = (struct stream_state *)nc;

	loop_timer_free(s->reconnect_timer);
	s->reconnect_timer = NULL;
	if (s->connecting_fd >= 0) {
		loop_set_fd_handler(nc->loop, s->connecting_fd, NULL, NULL, NULL, NULL);
		close(s->connecting_fd);
		s->connecting_fd = -1;
	}
	if (s->listen_fd >= 0) {
		loop_set_fd_handler(nc->loop, s->listen_fd, NULL, NULL, NULL, NULL);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	stream_framing_destroy(&s->link);
	unix_socket_unlink_owned(&s->owned);
}

static const struct net_client_ops stream_ops = {
	.type = "stream",
	.size = sizeof(struct stream_state),
	.receive_iov = stream_receive_iov,
	.can_receive = stream_can_receive,
	.cleanup = stream_cleanup,
};

static int stream_listen_one(const struct netaddr *a, bool v6only)
{
	int fd, one = 1, v6 = v6only, ret;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->ss.ss_family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->ss.ss_family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)) < 0)
			goto err;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	    listen(fd, STREAM_LISTEN_BACKLOG) < 0)
		goto err;
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

static unsigned int stream_port(const struct netaddr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

static void stream_set_port(struct netaddr *a, unsigned int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

int stream_listen_open(const struct netaddr_list *addrs, unsigned int port_to, bool v6only,
		       struct error *err)
{
	char desc[NETADDR_STRLEN] = "";
	int ret = -EADDRNOTAVAIL;

	for (unsigned int i = 0; i < addrs->count; i++) {
		struct netaddr a = addrs->addr[i];
		unsigned int port = stream_port(&a);
		unsigned int last = a.ss.ss_family != AF_UNIX && port_to > port ? port_to : port;

		netaddr_format((const struct sockaddr *)&a.ss, a.len, desc, sizeof(desc));
		for (unsigned int p = port; p <= last; p++) {
			int fd;

			stream_set_port(&a, p);
			fd = stream_listen_one(&a, v6only);
			if (fd >= 0)
				return fd;
			ret = fd;
			if (ret != -EADDRINUSE)
				break;
		}
	}
	if (port_to && addrs->count && addrs->addr[0].ss.ss_family != AF_UNIX)
		return error_set(err, ret, "can't listen on %s (ports up to %u): %s", desc,
				 port_to, strerror(-ret));
	return error_set(err, ret, "can't listen on %s: %s", desc, strerror(-ret));
}

/* The listening socket's own address, printed (its port when port 0 or a range was asked). */
static void stream_describe_listen(struct stream_state *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(s->listen_desc, sizeof(s->listen_desc), "fd %d", s->listen_fd);
		return;
	}
	stream_describe(s, (struct sockaddr *)&ss, len, s->listen_desc, sizeof(s->listen_desc));
}

static int stream_setup_server(struct stream_state *s, const struct stream_config *cfg,
			       struct error *err)
{
	s->listen_fd = cfg->listen_fd;
	stream_describe_listen(s);
	stream_watch_listen(s);
	return 0;
}

static int stream_setup_fd(struct stream_state *s, int fd, struct error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char who[NETADDR_STRLEN];
	int ret;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		stream_describe(s, (struct sockaddr *)&ss, len, who, sizeof(who));
	else
		snprintf(who, sizeof(who), "fd=%d", fd);
	if (s->socket_style)
		stream_set_info(s, "socket: fd=%d", fd);
	else
		stream_set_info(s, "%s", who);
	ret = stream_start(s, fd);
	if (ret < 0)
		return error_set(err, ret, "cannot use file descriptor %d: %s", fd,
				 strerror(-ret));
	return 0;
}

static int stream_setup_client(struct stream_state *s, const struct stream_config *cfg,
			       struct error *err)
{
	char peer[NETADDR_STRLEN];
	int ret;

	s->peers = *cfg->connect_to;
	s->keep_alive = cfg->keep_alive;
	s->reconnect_ns = (int64_t)cfg->reconnect_s * STREAM_NS_PER_S;
	s->reconnect_timer = loop_timer_new(s->nc.loop, stream_reconnect, s);
	if (!s->reconnect_timer)
		return error_set(err, -ENOMEM, "out of memory");
	ret = stream_connect_next(s);
	if (ret == 0)
		return 0;
	if (!s->reconnect_ns) {
		s->next_peer = 0;
		stream_peer_desc(s, peer, sizeof(peer));
		return error_set(err, ret, "can't connect to %s: %s", peer, strerror(-ret));
	}
	stream_connect_failed(s, ret);
	return 0;
}

int stream_net_new(struct loop *loop, const char *id, const struct stream_config *cfg,
		   struct error *err)
{
	struct stream_state *s;
	int ret;

	s = (struct stream_state *)net_client_new(&stream_ops, loop, NULL, cfg->model, id);
	if (!s) {
		struct unix_socket_owned owned = cfg->owned;

		ret = -errno;
		if (cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		if (cfg->conn_fd >= 0)
			close(cfg->conn_fd);
		unix_socket_unlink_owned(&owned);
		return error_set(err, ret, "cannot create netdev '%s': %s", id, strerror(-ret));
	}
	s->owned = cfg->owned;
	s->nc.is_netdev = true;
	s->socket_style = cfg->socket_style;
	s->listen_fd = -1;
	s->connecting_fd = -1;
	s->link.fd = -1;
	ret = stream_framing_init(&s->link, &s->nc, stream_sent, stream_closed, s);
	if (ret < 0) {
		error_set(err, ret, "out of memory");
		if (cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		if (cfg->conn_fd >= 0)
			close(cfg->conn_fd);
		goto err;
	}
	if (cfg->listen_fd >= 0)
		ret = stream_setup_server(s, cfg, err);
	else if (cfg->conn_fd >= 0)
		ret = stream_setup_fd(s, cfg->conn_fd, err);
	else
		ret = stream_setup_client(s, cfg, err);
	if (ret < 0)
		goto err;
	return 0;
err:
	net_client_free(&s->nc);
	return ret;
}

/* -netdev stream */

static const char *const stream_types[] = { "inet", "unix", "fd" };

enum stream_addr_type { STREAM_INET, STREAM_UNIX, STREAM_FD };

/* Reject an addr.* key given for a type it does not belong to. */
static int stream_check_keys(const struct netdev_addr_opts *a, enum stream_addr_type t,
			     bool server, struct error *err)
{
	const struct {
		const char *key;
		bool given;
		unsigned int types; /* bit per enum stream_addr_type */
	} keys[] = {
		{ "addr.host", a->host != NULL, 1u << STREAM_INET },
		{ "addr.port", a->port != NULL, 1u << STREAM_INET },
		{ "addr.numeric", a->numeric, 1u << STREAM_INET },
		{ "addr.keep-alive", a->keep_alive, 1u << STREAM_INET },
		{ "addr.ipv4", a->has_ipv4, 1u << STREAM_INET },
		{ "addr.ipv6", a->has_ipv6, 1u << STREAM_INET },
		{ "addr.to", a->to != 0, 1u << STREAM_INET },
		{ "addr.path", a->path != NULL, 1u << STREAM_UNIX },
		{ "addr.abstract", a->abstract, 1u << STREAM_UNIX },
		{ "addr.tight", a->has_tight, 1u << STREAM_UNIX },
		{ "addr.str", a->str != NULL, 1u << STREAM_FD },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].given && !(keys[i].types & (1u << t)))
			return error_set(err, -EINVAL, "%s is not valid with addr.type=%s",
					 keys[i].key, stream_types[t]);
	if (t == STREAM_INET && !a->host)
		return error_set(err, -EINVAL, "Parameter 'addr.host' is missing");
	if (t == STREAM_INET && !a->port)
		return error_set(err, -EINVAL, "Parameter 'addr.port' is missing");
	if (t == STREAM_UNIX && !a->path)
		return error_set(err, -EINVAL, "Parameter 'addr.path' is missing");
	if (t == STREAM_FD && !a->str)
		return error_set(err, -EINVAL, "Parameter 'addr.str' is missing");
	if (server && a->keep_alive)
		return error_set(err, -EINVAL,
				 "addr.keep-alive=on: not supported for a listening socket");
	if (!server && a->to)
		return error_set(err, -EINVAL, "addr.to=%llu: only for server=on",
				 (unsigned long long)a->to);
	return 0;
}

static int stream_open_fd(const char *str, struct error *err)
{
	int fd, type = 0, ret;
	socklen_t len = sizeof(type);

	ret = netaddr_fd(str, &fd, err);
	if (ret < 0) {
		error_prepend(err, "addr.str=%s: ", str);
		return ret;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
		close(fd);
		return error_set(err, -EINVAL, "addr.str=%s: not a stream socket", str);
	}
	return fd;
}

int net_init_stream(const struct netdev_stream_opts *o, const char *id, struct loop *loop,
		    struct error *err)
{
	const struct netdev_addr_opts *a = &o->addr;
	struct stream_config cfg = {
		.model = "stream", .listen_fd = -1, .conn_fd = -1, .keep_alive = a->keep_alive,
	};
	struct netaddr_list addrs = { 0 };
	enum stream_addr_type t;
	int ret, fd, i;

	if (!a->type)
		return error_set(err, -EINVAL, "Parameter 'addr.type' is missing");
	for (i = STREAM_INET; i <= STREAM_FD; i++)
		if (!strcmp(a->type, stream_types[i]))
			break;
	if (i > STREAM_FD)
		return error_set(err, -EINVAL, "addr.type=%s: expected inet, unix or fd", a->type);
	t = (enum stream_addr_type)i;
	ret = stream_check_keys(a, t, o->server, err);
	if (ret < 0)
		return ret;
	if (o->reconnect && o->server)
		return error_set(err, -EINVAL, "reconnect=%llu: not valid with server=on",
				 (unsigned long long)o->reconnect);
	if (o->reconnect && t == STREAM_FD)
		return error_set(err, -EINVAL, "reconnect=%llu: not valid with addr.type=fd",
				 (unsigned long long)o->reconnect);
	cfg.reconnect_s = o->reconnect;
	switch (t) {
	case STREAM_INET:
		ret = netaddr_resolve_inet(a, o->server, &addrs, err);
		if (ret < 0) {
			error_prepend(err, "addr.host=%s,addr.port=%s: ", a->host, a->port);
			return ret;
		}
		if (o->server && a->to && a->to > 65535)
			return error_set(err, -EINVAL, "addr.to=%llu: not a port number",
					 (unsigned long long)a->to);
		break;
	case STREAM_UNIX:
		addrs.count = 1;
		ret = netaddr_unix(a->path, a->abstract, a->has_tight ? a->tight : true,
				   &addrs.addr[0], err);
		if (ret < 0) {
			error_prepend(err, "addr.path=%s: ", a->path);
			return ret;
		}
		break;
	case STREAM_FD:
		fd = stream_open_fd(a->str, err);
		if (fd < 0)
			return fd;
		if (o->server) {
			/* As QEMU: put it in the listening state (or just resize its backlog). */
			if (listen(fd, STREAM_LISTEN_BACKLOG) < 0) {
				ret = error_set(err, -errno, "addr.str=%s: can't listen: %s",
						a->str, strerror(errno));
				close(fd);
				return ret;
			}
			cfg.listen_fd = fd;
		} else {
			cfg.conn_fd = fd;
		}
		return stream_net_new(loop, id, &cfg, err);
	}
	if (o->server) {
		bool v6only = a->has_ipv6 && a->ipv6 && !(a->has_ipv4 && a->ipv4);

		if (t == STREAM_UNIX && !a->abstract) {
			fd = unix_socket_listen(a->path, SOCK_STREAM, STREAM_LISTEN_BACKLOG,
						&cfg.owned, err);
		} else {
			fd = stream_listen_open(&addrs, (unsigned int)a->to, v6only, err);
		}
		if (fd < 0)
			return fd;
		cfg.listen_fd = fd;
	} else {
		cfg.connect_to = &addrs;
	}
	return stream_net_new(loop, id, &cfg, err);
}
