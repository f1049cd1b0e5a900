/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.h - the stream net client: length-prefixed frames over one TCP or unix connection,
 * as a server (one peer at a time) or a client (optionally reconnecting). -netdev stream
 * creates it from addresses; -netdev socket's listen=, connect= and stream fd= use it too.
 */
#ifndef VWIRE_BACKENDS_STREAM_H
#define VWIRE_BACKENDS_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/netaddr.h"
#include "core/unix-socket.h"

struct error;
struct loop;

/**
 * struct stream_config - how to make a stream client
 * @model:	its model ("stream" or "socket")
 * @socket_style: describe it (info_str, logs) as QEMU's -netdev socket does
 * @listen_fd:	server: a listening socket, taken over; or -1
 * @conn_fd:	a connected stream socket, taken over; or -1
 * @connect_to:	client: the addresses to connect to, tried in order; or NULL
 * @reconnect_s: client: seconds between connection attempts after a failure (0: never)
 * @keep_alive:	client: set SO_KEEPALIVE on the connection
 * @owned:	server: the unix socket file @listen_fd is bound to (unix_socket_listen()),
 *		taken over and removed at cleanup while still the same file; or zeroed
 *
 * Exactly one of @listen_fd, @conn_fd and @connect_to is given.
 */
struct stream_config {
	const char *model;
	bool socket_style;
	int listen_fd;
	int conn_fd;
	const struct netaddr_list *connect_to;
	uint64_t reconnect_s;
	bool keep_alive;
	struct unix_socket_owned owned;
};

/**
 * stream_listen_open() - a listening socket on the first of @addrs that binds
 * @addrs:	candidate addresses (inet, or abstract unix: a unix path goes through
 *		unix_socket_listen() instead)
 * @port_to:	inet: also try the ports after each address's own up to this one (0: none)
 * @v6only:	inet6: set IPV6_V6ONLY
 * @err:	what failed, naming the address
 *
 * Return: the socket (non-blocking, close-on-exec) or a negative errno
 */
int stream_listen_open(const struct netaddr_list *addrs, unsigned int port_to, bool v6only,
		       struct error *err);

/**
 * stream_net_new() - create a stream client named @id (not peered)
 * @loop:	the event loop
 * @id:		its name
 * @cfg:	what it serves or connects to (its fds are taken over, even on failure)
 * @err:	what failed
 *
 * A client without @reconnect_s whose first connection attempt fails at once is an error;
 * with @reconnect_s it keeps trying.
 *
 * Return: 0 or a negative errno
 */
int stream_net_new(struct loop *loop, const char *id, const struct stream_config *cfg,
		   struct error *err);

#endif
