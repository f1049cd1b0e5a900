// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * netaddr.c - socket addresses for the socket, stream and dgram back ends.
 *
 * Text from the options becomes struct sockaddr here and nowhere else: QEMU's IPv4 host:port
 * rules for -netdev socket and dgram, getaddrinfo for -netdev stream's inet addresses (with
 * its ipv4/ipv6/numeric flags), unix paths, inherited fd numbers; and back to text for
 * info_str and log lines.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backends/netaddr.h"
#include "core/netdev.h"
#include "vwire/error.h"

#define NETADDR_PORT_MAX 65535

static int netaddr_parse_port(const char *port, unsigned int *out, struct error *err)
{
	unsigned long v;
	char *end;

	if (!port || !isdigit((unsigned char)*port))
		return error_set(err, -EINVAL, "port number '%s' is invalid", port ? port : "");
	errno = 0;
	v = strtoul(port, &end, 10);
	if (errno || *end || v > NETADDR_PORT_MAX)
		return error_set(err, -EINVAL, "port number '%s' is invalid", port);
	*out = (unsigned int)v;
	return 0;
}

int netaddr_inet4(const char *host, const char *port, struct sockaddr_in *out, struct error *err)
{
	unsigned int p;
	int ret;

	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (!host || !*host) {
		out->sin_addr.s_addr = htonl(INADDR_ANY);
	} else if (isdigit((unsigned char)host[0])) {
		if (!inet_aton(host, &out->sin_addr))
			return error_set(err, -EINVAL,
					 "host address '%s' is not a valid IPv4 address", host);
	} else {
		struct addrinfo hints = { .ai_family = AF_INET }, *res;

		if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
			return error_set(err, -EINVAL, "can't resolve host address '%s'", host);
		out->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	ret = netaddr_parse_port(port, &p, err);
	if (ret < 0)
		return ret;
	out->sin_port = htons((uint16_t)p);
	return 0;
}

int netaddr_host_port(const char *str, struct sockaddr_in *out, struct error *err)
{
	const char *colon = strchr(str, ':');
	char host[256];
	size_t n;

	if (!colon)
		return error_set(err, -EINVAL,
				 "host address '%s' doesn't contain ':' separating host from port",
				 str);
	n = (size_t)(colon - str);
	if (n >= sizeof(host))
		return error_set(err, -EINVAL, "host address '%.*s' is too long", (int)n, str);
	memcpy(host, str, n);
	host[n] = '\0';
	return netaddr_inet4(host, colon + 1, out, err);
}

int netaddr_unix(const char *path, bool abstract, bool tight, struct netaddr *out,
		 struct error *err)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
	size_t len = strlen(path);
	size_t room = sizeof(sun->sun_path) - (abstract ? 1 : 0);

	memset(out, 0, sizeof(*out));
	if (!len)
		return error_set(err, -EINVAL, "an empty unix socket path");
	/* A plain path needs its terminating NUL; an abstract name has a leading NUL instead. */
	if (abstract ? len > room : len >= room)
		return error_set(err, -EINVAL,
				 "UNIX socket path '%s' is too long (at most %zu bytes)", path,
				 abstract ? room : room - 1);
	sun->sun_family = AF_UNIX;
	if (abstract) {
		memcpy(sun->sun_path + 1, path, len);
		out->len = tight ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)
				 : (socklen_t)sizeof(*sun);
	} else {
		memcpy(sun->sun_path, path, len + 1);
		out->len = (socklen_t)sizeof(*sun);
	}
	return 0;
}

/* QEMU's inet_ai_family_from_address(): which families addr.ipv4/addr.ipv6 allow. */
static int netaddr_family(const struct netdev_addr_opts *a, struct error *err)
{
	if (a->has_ipv4 && a->has_ipv6 && !a->ipv4 && !a->ipv6)
		return error_set(err, -EINVAL, "cannot disable IPv4 and IPv6 at the same time");
	if (a->has_ipv4 && a->ipv4 && a->has_ipv6 && a->ipv6)
		return AF_UNSPEC;
	if ((a->has_ipv6 && a->ipv6) || (a->has_ipv4 && !a->ipv4))
		return AF_INET6;
	if ((a->has_ipv4 && a->ipv4) || (a->has_ipv6 && !a->ipv6))
		return AF_INET;
	return AF_UNSPEC;
}

int netaddr_resolve_inet(const struct netdev_addr_opts *a, bool passive, struct netaddr_list *out,
			 struct error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	const char *host = a->host;
	int family, ret;

	memset(out, 0, sizeof(*out));
	family = netaddr_family(a, err);
	if (family < 0)
		return family;
	hints.ai_family = family;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	if (a->numeric)
		hints.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	if (host && !*host)
		host = NULL;
	if (!host && !passive)
		return error_set(err, -EINVAL, "a host to connect to is needed");
	ret = getaddrinfo(host, a->port, &hints, &res);
	if (ret != 0)
		return error_set(err, -EINVAL, "address resolution failed for %s:%s: %s",
				 host ? host : "", a->port, gai_strerror(ret));
	for (ai = res; ai && out->count < NETADDR_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out->addr[0].ss))
			continue;
		memcpy(&out->addr[out->count].ss, ai->ai_addr, ai->ai_addrlen);
		out->addr[out->count].len = ai->ai_addrlen;
		out->count++;
	}
	freeaddrinfo(res);
	if (!out->count)
		return error_set(err, -EINVAL, "no usable address for %s:%s", host ? host : "",
				 a->port);
	return 0;
}

int netaddr_fd(const char *str, int *fd, struct error *err)
{
	unsigned long v;
	char *end;

	if (!str || !isdigit((unsigned char)*str))
		return error_set(err, -EINVAL, "'%s' is not a file descriptor number "
				 "(fd names are not supported)", str ? str : "");
	errno = 0;
	v = strtoul(str, &end, 10);
	if (errno || *end || v > (unsigned long)INT32_MAX)
		return error_set(err, -EINVAL, "'%s' is not a file descriptor number", str);
	if (fcntl((int)v, F_GETFD) < 0)
		return error_set(err, -EBADF, "file descriptor %lu is not open", v);
	*fd = (int)v;
	return 0;
}

char *netaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "tcp:%s:%u", ip, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "tcp:[%s]:%u", ip, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;

		if (n > sizeof(sun->sun_path))
			n = sizeof(sun->sun_path);
		if (n && sun->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)strnlen(sun->sun_path + 1, n - 1),
				 sun->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(sun->sun_path, n),
				 sun->sun_path);
		break;
	}
	default:
		snprintf(buf, size, "family %d", sa->sa_family);
		break;
	}
	return buf;
}

char *netaddr_format_ip_port(const struct sockaddr_in *sin, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
	return buf;
}

/* Add "key": "value" to @o; false when out of memory. */
static bool netaddr_json_add(struct json_object *o, const char *key, struct json_object *v)
{
	return v && !json_object_object_add(o, key, v);
}

struct json_object *netaddr_to_json(const struct sockaddr *sa, socklen_t len)
{
	struct json_object *o = json_object_new_object();
	char ip[INET6_ADDRSTRLEN], port[8];
	bool ok;

	if (!o)
		return NULL;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		bool v6 = sa->sa_family == AF_INET6;
		const void *a = v6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
				     (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

		inet_ntop(sa->sa_family, a, ip, sizeof(ip));
		snprintf(port, sizeof(port), "%u",
			 ntohs(v6 ? ((const struct sockaddr_in6 *)sa)->sin6_port :
				    ((const struct sockaddr_in *)sa)->sin_port));
		ok = netaddr_json_add(o, "type", json_object_new_string("inet")) &&
		     netaddr_json_add(o, "host", json_object_new_string(ip)) &&
		     netaddr_json_add(o, "port", json_object_new_string(port)) &&
		     (!v6 || netaddr_json_add(o, "ipv6", json_object_new_boolean(true)));
	} else if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;
		bool abstract;

		if (n > sizeof(sun->sun_path))
			n = sizeof(sun->sun_path);
		abstract = n && sun->sun_path[0] == '\0';
		ok = netaddr_json_add(o, "type", json_object_new_string("unix")) &&
		     netaddr_json_add(o, "path",
				      abstract ? json_object_new_string_len(
							 sun->sun_path + 1,
							 (int)strnlen(sun->sun_path + 1, n - 1)) :
						 json_object_new_string_len(
							 sun->sun_path,
							 (int)strnlen(sun->sun_path, n))) &&
		     (!abstract || netaddr_json_add(o, "abstract", json_object_new_boolean(true)));
	} else {
		ok = false;
	}
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
