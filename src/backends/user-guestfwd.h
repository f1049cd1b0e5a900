/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * user-guestfwd.h - the relay behind guestfwd=...-tcp:HOST:PORT of -netdev user: libslirp
 * connects each guest connection to a private unix socket (slirp_add_unix), and the relay
 * connects each of those to HOST:PORT and copies the bytes both ways.
 */
#ifndef VWIRE_BACKENDS_USER_GUESTFWD_H
#define VWIRE_BACKENDS_USER_GUESTFWD_H

#include <sys/socket.h>

struct error;
struct loop;
struct user_guestfwd;

/**
 * user_guestfwd_resolve() - HOST:PORT or [HOST]:PORT into an address (getaddrinfo)
 * @host_port:	the text after "tcp:"
 * @target:	filled
 * @target_len:	set to its length
 * @err:	what is wrong, naming @host_port
 *
 * Return: 0 or -EINVAL
 */
int user_guestfwd_resolve(const char *host_port, struct sockaddr_storage *target,
			  socklen_t *target_len, struct error *err);

/**
 * user_guestfwd_new() - listen on a new private unix socket and relay to @host_port
 * @loop:	event loop
 * @host_port:	HOST:PORT ([HOST]:PORT for an IPv6 address), resolved now
 * @err:	what is wrong, naming @host_port
 *
 * Return: the relay, or NULL with @err set
 */
struct user_guestfwd *user_guestfwd_new(struct loop *loop, const char *host_port,
					struct error *err);

/**
 * user_guestfwd_path() - the unix socket to hand to slirp_add_unix()
 * @g: the relay
 *
 * Return: its path
 */
const char *user_guestfwd_path(const struct user_guestfwd *g);

/**
 * user_guestfwd_free() - close every relayed connection and the socket, remove its directory
 * @g: the relay (NULL is ignored)
 */
void user_guestfwd_free(struct user_guestfwd *g);

#endif
