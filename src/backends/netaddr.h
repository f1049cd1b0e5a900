/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netaddr.h - socket addresses of the socket, stream and dgram back ends: QEMU's host:port
 * parsing (IPv4, as its socket and dgram back ends), getaddrinfo lists for stream's inet
 * addresses, unix paths (plain or abstract), inherited fd numbers, and their printed forms.
 */
#ifndef VWIRE_BACKENDS_NETADDR_H
#define VWIRE_BACKENDS_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>

struct error;
struct json_object;
struct netdev_addr_opts;

/* Room for any printed address: "unix:" and a 108-byte path, or "tcp:[v6]:port". */
#define NETADDR_STRLEN 160

/* Most addresses a stream inet address resolves to that are tried in turn. */
#define NETADDR_MAX 8

/**
 * struct netaddr - one socket address
 * @ss:		the address
 * @len:	its length
 */
struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/**
 * struct netaddr_list - the addresses a name resolved to, in getaddrinfo's order
 * @addr:	the addresses
 * @count:	how many
 */
struct netaddr_list {
	struct netaddr addr[NETADDR_MAX];
	unsigned int count;
};

/**
 * netaddr_inet4() - QEMU's convert_host_port(): an IPv4 address from a host and a port
 * @host:	dotted quad, a name (resolved to IPv4), or "" for any address
 * @port:	a number from 0 to 65535
 * @out:	the address
 * @err:	what is wrong
 *
 * Return: 0 or -EINVAL
 */
int netaddr_inet4(const char *host, const char *port, struct sockaddr_in *out, struct error *err);

/**
 * netaddr_host_port() - QEMU's parse_host_port(): "host:port" into an IPv4 address
 * @str:	the text; the host part may be empty (any address)
 * @out:	the address
 * @err:	what is wrong
 *
 * Return: 0 or -EINVAL
 */
int netaddr_host_port(const char *str, struct sockaddr_in *out, struct error *err);

/**
 * netaddr_unix() - a unix socket address
 * @path:	the path, or the name of an abstract socket
 * @abstract:	an abstract socket (no file)
 * @tight:	for an abstract name, the address length covers only the name (QEMU's default)
 * @out:	the address
 * @err:	what is wrong (a path too long)
 *
 * Return: 0 or -EINVAL
 */
int netaddr_unix(const char *path, bool abstract, bool tight, struct netaddr *out,
		 struct error *err);

/**
 * netaddr_resolve_inet() - resolve a stream inet address (addr.host, addr.port, addr.ipv4,
 *			    addr.ipv6, addr.numeric) as QEMU's inet_parse/getaddrinfo do
 * @a:		the options
 * @passive:	for a listening socket (an empty host means any address)
 * @out:	the addresses, at least one on success
 * @err:	what is wrong
 *
 * Return: 0 or -EINVAL
 */
int netaddr_resolve_inet(const struct netdev_addr_opts *a, bool passive, struct netaddr_list *out,
			 struct error *err);

/**
 * netaddr_fd() - an inherited file descriptor given by number (addr.str=, fd=)
 * @str:	the number
 * @fd:	the descriptor, checked to be open
 * @err:	what is wrong
 *
 * Return: 0 or -EINVAL / -EBADF
 */
int netaddr_fd(const char *str, int *fd, struct error *err);

/**
 * netaddr_format() - print an address as a URI: "tcp:1.2.3.4:5", "tcp:[::1]:5", "unix:/p",
 *		      "unix:@name" (abstract)
 * @sa:		the address
 * @len:	its length
 * @buf:	output, NETADDR_STRLEN bytes
 * @size:	its size
 *
 * Return: @buf
 */
char *netaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/**
 * netaddr_format_ip_port() - print an IPv4 address as QEMU's socket back end does: "1.2.3.4:5"
 * @sin:	the address
 * @buf:	output
 * @size:	its size
 *
 * Return: @buf
 */
char *netaddr_format_ip_port(const struct sockaddr_in *sin, char *buf, size_t size);

/**
 * netaddr_to_json() - an address as QAPI's SocketAddress, as QEMU's stream events carry it:
 *		       {"type": "inet", "host": "1.2.3.4", "port": "5"} (plus "ipv6": true for
 *		       IPv6), {"type": "unix", "path": "/p"} (plus "abstract": true)
 * @sa:		the address
 * @len:	its length
 *
 * Return: a new object, or NULL when out of memory
 */
struct json_object *netaddr_to_json(const struct sockaddr *sa, socklen_t len);

#endif
