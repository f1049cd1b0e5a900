/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dgram.h - the datagram net client: one Ethernet frame per datagram over a UDP or unix
 * datagram socket, as QEMU's dgram back end and -netdev socket's udp=, mcast= and datagram
 * fd= carry them. -netdev dgram creates it from addresses; -netdev socket uses it too.
 */
#ifndef VWIRE_BACKENDS_DGRAM_H
#define VWIRE_BACKENDS_DGRAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/netaddr.h"
#include "core/unix-socket.h"

struct error;
struct loop;

/**
 * struct dgram_encap - a header around each frame (l2tpv3), for the dgram client to add and
 *			strip
 * @hdr_len:	bytes of header before each frame sent
 * @form:	write the header of the next frame into @hdr (@hdr_len bytes)
 * @decap:	check a received datagram of @len bytes (untrusted); return the offset of the
 *		frame in it, or a negative errno to drop it
 * @opaque:	passed to both
 */
struct dgram_encap {
	size_t hdr_len;
	void (*form)(void *opaque, uint8_t *hdr);
	long (*decap)(void *opaque, const uint8_t *d, size_t len);
	void *opaque;
};

/**
 * struct dgram_config - how to make a datagram client
 * @model:	its model ("dgram" or "socket")
 * @fd:		a bound datagram socket, taken over
 * @dest:	where frames are sent; NULL: send() on a socket that is already connected
 * @info:	its info_str
 * @owned:	the unix socket file @fd is bound to (unix_socket_listen()), taken over and
 *		removed at cleanup while still the same file; or zeroed
 * @encap:	a header around each frame (copied), or NULL
 * @priv:	memory the client frees (free()) at cleanup, e.g. @encap's opaque; or NULL
 *
 * A unix @dest is also connect()ed to, and again every second, so that a full receiver
 * makes the socket unwritable (exact flow control) rather than failing every send; until it
 * is there, frames are sent with sendto() and dropped if nobody listens.
 */
struct dgram_config {
	const char *model;
	int fd;
	const struct netaddr *dest;
	const char *info;
	struct unix_socket_owned owned;
	const struct dgram_encap *encap;
	void *priv;
};

/**
 * dgram_net_new() - create a datagram client named @id (not peered)
 * @loop:	the event loop
 * @id:		its name
 * @cfg:	its socket and @priv (taken over, even on failure) and destination
 * @err:	what failed
 *
 * Return: 0 or a negative errno
 */
int dgram_net_new(struct loop *loop, const char *id, const struct dgram_config *cfg,
		  struct error *err);

/**
 * dgram_mcast_open() - a UDP socket in a multicast group, as QEMU makes one: SO_REUSEADDR so
 *			several processes share the group and port, bound to the group's address,
 *			IP_ADD_MEMBERSHIP on @localaddr's interface (NULL: any), IP_MULTICAST_LOOP
 *			on (so that members on this host hear each other, and also themselves),
 *			IP_MULTICAST_IF @localaddr when given
 * @group:	the group's address and port
 * @localaddr:	the interface's address, or NULL
 * @err:	what failed
 *
 * Return: the socket (non-blocking, close-on-exec) or a negative errno
 */
int dgram_mcast_open(const struct sockaddr_in *group, const struct in_addr *localaddr,
		     struct error *err);

#endif
