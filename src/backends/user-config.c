// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * user-config.c - -netdev user's typed options checked and turned into libslirp's SlirpConfig
 * with QEMU 7.2's defaults and rules (10.0.2.0/24, host .2, DNS .3, DHCP from .15, fec0::/64),
 * and QEMU's text syntax of forwarding rules decoded into addresses. Nothing here touches a
 * running stack: user.c applies the result.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "backends/user-config.h"
#include "backends/user.h"
#include "core/netdev.h"
#include "vwire/error.h"

/* The SlirpConfig layout we fill: version 4 has timer_new_opaque and disable_dhcp. */
#define USER_CONFIG_SLIRP_VERSION 4

/* QEMU's defaults: 10.0.2.0/24, the host at .2, DNS at .3, DHCP from .15, fec0::/64. */
#define USER_CONFIG_NET 0x0a000200u
#define USER_CONFIG_MASK 0xffffff00u
#define USER_CONFIG_HOST_PART 0x0202u
#define USER_CONFIG_DNS_PART 0x0203u
#define USER_CONFIG_DHCP_PART 0x020fu
#define USER_CONFIG_IPV6_PREFIX "fec0::"
#define USER_CONFIG_IPV6_PREFIXLEN 64
#define USER_CONFIG_IPV6_PREFIXLEN_MAX 126
#define USER_CONFIG_IPV6_HOST_PART 2
#define USER_CONFIG_IPV6_DNS_PART 3
/* QEMU's bounds for a netmask given as a prefix length. */
#define USER_CONFIG_NETMASK_BITS_MIN 4
#define USER_CONFIG_NETMASK_BITS_MAX 32

/* DNS names (RFC 1035 section 2.3.4) and the BOOTP file field (RFC 951). */
#define USER_CONFIG_NAME_MAX 255
#define USER_CONFIG_LABEL_MAX 63
#define USER_CONFIG_BOOTFILE_MAX 127

#define USER_CONFIG_PORT_MAX 65535

/* QEMU's netmask for an address given without one: by its class or private range. */
static uint32_t user_config_classful_mask(uint32_t addr)
{
	if (!(addr & 0x80000000u))
		return 0xff000000u; /* class A */
	if ((addr & 0xfff00000u) == 0xac100000u)
		return 0xfff00000u; /* 172.16.0.0/12 */
	if ((addr & 0xc0000000u) == 0x80000000u)
		return 0xffff0000u; /* class B */
	if ((addr & 0xffff0000u) == 0xc0a80000u)
		return 0xffff0000u; /* 192.168.0.0/16 */
	if ((addr & 0xffff0000u) == 0xc6330000u)
		return 0xffff0000u; /* 198.51.0.0/16 */
	if ((addr & 0xe0000000u) == 0xe0000000u)
		return 0xffffff00u; /* class C */
	return 0xfffffff0u;
}

/* net=addr[/mask]: mask as a prefix length or dotted quad. */
static int user_config_net(const char *text, struct in_addr *net, struct in_addr *mask,
			   struct error *err)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);

	if (n >= sizeof(addr))
		return error_set(err, -EINVAL, "net=%s: not an IPv4 address", text);
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (!inet_aton(addr, net))
		return error_set(err, -EINVAL, "net=%s: not an IPv4 address", text);
	if (!slash) {
		mask->s_addr = htonl(user_config_classful_mask(ntohl(net->s_addr)));
	} else {
		char *end;
		long bits;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] && !*end && !errno) {
			if (bits < USER_CONFIG_NETMASK_BITS_MIN ||
			    bits > USER_CONFIG_NETMASK_BITS_MAX)
				return error_set(err, -EINVAL,
						 "net=%s: netmask length must be %d to %d", text,
						 USER_CONFIG_NETMASK_BITS_MIN,
						 USER_CONFIG_NETMASK_BITS_MAX);
			mask->s_addr = htonl((uint32_t)(0xffffffffull << (32 - bits)));
		} else if (!inet_aton(slash + 1, mask)) {
			return error_set(err, -EINVAL, "net=%s: bad netmask", text);
		}
	}
	net->s_addr &= mask->s_addr;
	return 0;
}

static int user_config_in_net(const char *key, const char *text, struct in_addr net,
			      struct in_addr mask, struct in_addr *out, struct error *err)
{
	if (!inet_aton(text, out))
		return error_set(err, -EINVAL, "%s=%s: not an IPv4 address", key, text);
	if ((out->s_addr & mask.s_addr) != net.s_addr) {
		char netbuf[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &net, netbuf, sizeof(netbuf));
		return error_set(err, -EINVAL, "%s=%s: not inside net %s/%d", key, text, netbuf,
				 __builtin_popcount(mask.s_addr));
	}
	return 0;
}

static int user_config_ipv4(const struct netdev_user_opts *o, SlirpConfig *c, struct error *err)
{
	struct in_addr net = { htonl(USER_CONFIG_NET) }, mask = { htonl(USER_CONFIG_MASK) };
	int ret;

	if (o->net) {
		ret = user_config_net(o->net, &net, &mask, err);
		if (ret < 0)
			return ret;
	}
	c->vnetwork = net;
	c->vnetmask = mask;
	c->vhost.s_addr = net.s_addr | (htonl(USER_CONFIG_HOST_PART) & ~mask.s_addr);
	c->vnameserver.s_addr = net.s_addr | (htonl(USER_CONFIG_DNS_PART) & ~mask.s_addr);
	c->vdhcp_start.s_addr = net.s_addr | (htonl(USER_CONFIG_DHCP_PART) & ~mask.s_addr);
	if (o->host && (ret = user_config_in_net("host", o->host, net, mask, &c->vhost, err)) < 0)
		return ret;
	if (o->dns &&
	    (ret = user_config_in_net("dns", o->dns, net, mask, &c->vnameserver, err)) < 0)
		return ret;
	if (c->vnameserver.s_addr == c->vhost.s_addr)
		return error_set(err, -EINVAL, "dns=%s: must differ from the host address",
				 o->dns ? o->dns : inet_ntoa(c->vnameserver));
	if (o->dhcpstart &&
	    (ret = user_config_in_net("dhcpstart", o->dhcpstart, net, mask, &c->vdhcp_start,
				     err)) < 0)
		return ret;
	if (c->vdhcp_start.s_addr == c->vhost.s_addr ||
	    c->vdhcp_start.s_addr == c->vnameserver.s_addr)
		return error_set(err, -EINVAL,
				 "dhcpstart=%s: must differ from the host and DNS addresses",
				 o->dhcpstart ? o->dhcpstart : inet_ntoa(c->vdhcp_start));
	return 0;
}

static bool user_config_in6_same_net(const struct in6_addr *a, const struct in6_addr *b, int bits)
{
	for (int i = 0; i < 16 && bits > 0; i++, bits -= 8) {
		uint8_t m = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if ((a->s6_addr[i] & m) != (b->s6_addr[i] & m))
			return false;
	}
	return true;
}

static int user_config_in6_net(const char *key, const char *text, const SlirpConfig *c,
			       struct in6_addr *out, struct error *err)
{
	if (inet_pton(AF_INET6, text, out) != 1)
		return error_set(err, -EINVAL, "%s=%s: not an IPv6 address", key, text);
	if (!user_config_in6_same_net(out, &c->vprefix_addr6, c->vprefix_len))
		return error_set(err, -EINVAL, "%s=%s: not inside ipv6-net", key, text);
	return 0;
}

static int user_config_ipv6(const struct netdev_user_opts *o, SlirpConfig *c, struct error *err)
{
	const char *text = o->ipv6_net ? o->ipv6_net : USER_CONFIG_IPV6_PREFIX;
	const char *slash = strchr(text, '/');
	char addr[INET6_ADDRSTRLEN + 1];
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	long bits = USER_CONFIG_IPV6_PREFIXLEN;
	int ret;

	if (n >= sizeof(addr))
		return error_set(err, -EINVAL, "ipv6-net=%s: not an IPv6 prefix", text);
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET6, addr, &c->vprefix_addr6) != 1)
		return error_set(err, -EINVAL, "ipv6-net=%s: not an IPv6 prefix", text);
	if (slash) {
		char *end;

		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || bits < 1 || bits > USER_CONFIG_IPV6_PREFIXLEN_MAX)
			return error_set(err, -EINVAL,
					 "ipv6-net=%s: prefix length must be 1 to %d", text,
					 USER_CONFIG_IPV6_PREFIXLEN_MAX);
	}
	c->vprefix_len = (uint8_t)bits;
	c->vhost6 = c->vprefix_addr6;
	c->vhost6.s6_addr[15] |= USER_CONFIG_IPV6_HOST_PART;
	c->vnameserver6 = c->vprefix_addr6;
	c->vnameserver6.s6_addr[15] |= USER_CONFIG_IPV6_DNS_PART;
	if (o->ipv6_host &&
	    (ret = user_config_in6_net("ipv6-host", o->ipv6_host, c, &c->vhost6, err)) < 0)
		return ret;
	if (o->ipv6_dns &&
	    (ret = user_config_in6_net("ipv6-dns", o->ipv6_dns, c, &c->vnameserver6, err)) < 0)
		return ret;
	return 0;
}

/* A DNS name: at most 255 characters, labels of 1 to 63 (a final dot allowed). */
static bool user_config_valid_dns_name(const char *name)
{
	size_t label = 0, len = strlen(name);

	if (!len || len > USER_CONFIG_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p != '.') {
			if (++label > USER_CONFIG_LABEL_MAX)
				return false;
			continue;
		}
		if (!label)
			return false;
		label = 0;
	}
	return true;
}

static int user_config_names(const struct netdev_user_opts *o, struct user_config *uc,
			     struct error *err)
{
	SlirpConfig *c = &uc->cfg;

	if (o->hostname && strlen(o->hostname) > USER_CONFIG_NAME_MAX)
		return error_set(err, -EINVAL, "hostname=%s: at most %d characters", o->hostname,
				 USER_CONFIG_NAME_MAX);
	if (o->domainname && (!*o->domainname || strlen(o->domainname) > USER_CONFIG_NAME_MAX))
		return error_set(err, -EINVAL, "domainname=%s: must have 1 to %d characters",
				 o->domainname, USER_CONFIG_NAME_MAX);
	if (o->tftp_server_name && strlen(o->tftp_server_name) > USER_CONFIG_NAME_MAX)
		return error_set(err, -EINVAL, "tftp-server-name=%s: at most %d characters",
				 o->tftp_server_name, USER_CONFIG_NAME_MAX);
	if (o->bootfile && strlen(o->bootfile) > USER_CONFIG_BOOTFILE_MAX)
		return error_set(err, -EINVAL, "bootfile=%s: at most %d characters", o->bootfile,
				 USER_CONFIG_BOOTFILE_MAX);
	c->vhostname = o->hostname;
	c->vdomainname = o->domainname;
	c->tftp_server_name = o->tftp_server_name;
	c->tftp_path = o->tftp;
	c->bootfile = o->bootfile;
	if (!o->dnssearch.count)
		return 0;
	uc->dnssearch = calloc(o->dnssearch.count + 1, sizeof(*uc->dnssearch));
	if (!uc->dnssearch)
		return error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < o->dnssearch.count; i++) {
		if (!user_config_valid_dns_name(o->dnssearch.items[i]))
			return error_set(err, -EINVAL,
					 "dnssearch=%s: not a domain name (at most %d characters, "
					 "labels of 1 to %d)",
					 o->dnssearch.items[i], USER_CONFIG_NAME_MAX,
					 USER_CONFIG_LABEL_MAX);
		uc->dnssearch[i] = o->dnssearch.items[i];
	}
	c->vdnssearch = uc->dnssearch;
	return 0;
}

int user_config_parse(const struct netdev_user_opts *o, struct user_config *uc,
		      struct error *err)
{
	SlirpConfig *c = &uc->cfg;
	bool ipv4 = true, ipv6 = true;
	int ret;

	memset(uc, 0, sizeof(*uc));
	if (o->smb || o->smbserver)
		return error_set(err, -ENOTSUP,
				 "%s=%s: not supported: vwire does not start an SMB server; share "
				 "files with hostfwd or virtiofs",
				 o->smb ? "smb" : "smbserver", o->smb ? o->smb : o->smbserver);
	/* As QEMU: naming one family on alone turns the other off. */
	if ((o->has_ipv6 && o->ipv6 && !o->has_ipv4) || (o->has_ipv4 && !o->ipv4))
		ipv4 = false;
	if ((o->has_ipv4 && o->ipv4 && !o->has_ipv6) || (o->has_ipv6 && !o->ipv6))
		ipv6 = false;
	if (!ipv4 && (o->net || o->host || o->dns || o->dhcpstart))
		return error_set(err, -EINVAL,
				 "ipv4=off: net, host, dns and dhcpstart cannot be given");
	if (!ipv6 && (o->ipv6_net || o->ipv6_host || o->ipv6_dns))
		return error_set(err, -EINVAL,
				 "ipv6=off: ipv6-net, ipv6-host and ipv6-dns cannot be given");
	if (!ipv4 && !ipv6)
		return error_set(err, -EINVAL, "ipv4=off,ipv6=off: nothing left to carry");
	if (o->mtu < USER_MTU_MIN)
		return error_set(err, -EINVAL, "mtu=%llu: at least %d", (unsigned long long)o->mtu,
				 USER_MTU_MIN);
	if (ipv6 && o->mtu < USER_MTU_MIN_IPV6)
		return error_set(err, -EINVAL, "mtu=%llu: IPv6 needs at least %d (or ipv6=off)",
				 (unsigned long long)o->mtu, USER_MTU_MIN_IPV6);

	c->version = USER_CONFIG_SLIRP_VERSION;
	c->restricted = o->restrict_;
	c->in_enabled = ipv4;
	c->in6_enabled = ipv6;
	c->if_mtu = o->mtu;
	c->if_mru = o->mtu;
	ret = user_config_ipv4(o, c, err);
	if (ret < 0)
		return ret;
	ret = user_config_ipv6(o, c, err);
	if (ret < 0)
		return ret;
	return user_config_names(o, uc, err);
}

void user_config_release(struct user_config *uc)
{
	free(uc->dnssearch);
	uc->dnssearch = NULL;
	uc->cfg.vdnssearch = NULL;
}

/* Forwarding rules */

/* Copy the text before @sep into @buf and step past it (QEMU's get_str_sep). */
static int user_config_next_field(char *buf, size_t size, const char **p, int sep)
{
	const char *end = strchr(*p, sep);
	size_t n;

	if (!end)
		return -1;
	n = (size_t)(end - *p);
	if (n >= size)
		return -1;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p = end + 1;
	return 0;
}

static int user_config_port(const char *text, int min, int *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	v = strtol(text, &end, 0);
	if (errno || *end || v < min || v > USER_CONFIG_PORT_MAX)
		return -1;
	*port = (int)v;
	return 0;
}

/* [tcp|udp]:[hostaddr]:, then hostport up to @sep (none: to the end), stepping @p past it.
 * Return NULL or the reason it is bad. */
static const char *user_config_host_side(const char **p, bool *udp, struct sockaddr_in *host,
					 int sep)
{
	const char *port_text;
	char buf[256];
	int port;

	memset(host, 0, sizeof(*host));
	host->sin_family = AF_INET;
	host->sin_addr.s_addr = htonl(INADDR_ANY);
	if (user_config_next_field(buf, sizeof(buf), p, ':') < 0)
		return "No : separators";
	if (!strcmp(buf, "tcp") || !buf[0])
		*udp = false;
	else if (!strcmp(buf, "udp"))
		*udp = true;
	else
		return "Bad protocol name";
	if (user_config_next_field(buf, sizeof(buf), p, ':') < 0)
		return "Missing : separator";
	if (buf[0] && !inet_aton(buf, &host->sin_addr))
		return "Bad host address";
	if (!sep) {
		port_text = *p;
	} else {
		if (user_config_next_field(buf, sizeof(buf), p, sep) < 0)
			return "Bad host port separator";
		port_text = buf;
	}
	if (user_config_port(port_text, 0, &port) < 0)
		return "Bad host port";
	host->sin_port = htons((uint16_t)port);
	return NULL;
}

const char *user_config_parse_hostfwd(const char *rule, bool *udp, struct sockaddr_in *host,
				      struct sockaddr_in *guest)
{
	const char *p = rule, *why;
	char buf[256];
	int port;

	why = user_config_host_side(&p, udp, host, '-');
	if (why)
		return why;
	memset(guest, 0, sizeof(*guest));
	guest->sin_family = AF_INET;
	if (user_config_next_field(buf, sizeof(buf), &p, ':') < 0)
		return "Missing guest address";
	if (buf[0] && !inet_aton(buf, &guest->sin_addr))
		return "Bad guest address";
	if (user_config_port(p, 1, &port) < 0)
		return "Bad guest port";
	guest->sin_port = htons((uint16_t)port);
	return NULL;
}


const char *user_config_parse_hostfwd_remove(const char *rule, bool *udp,
					     struct sockaddr_in *host)
{
	const char *p = rule;

	return user_config_host_side(&p, udp, host, 0);
}

const char *user_config_parse_guestfwd(const char *rule, struct in_addr *server, int *port,
				       const char **dev)
{
	const char *p = rule;
	char buf[256];

	server->s_addr = 0;
	if (user_config_next_field(buf, sizeof(buf), &p, ':') < 0 || (strcmp(buf, "tcp") && buf[0]))
		return "expected [tcp]:[server]:port-dev";
	if (user_config_next_field(buf, sizeof(buf), &p, ':') < 0)
		return "missing : after the server address";
	if (buf[0] && !inet_aton(buf, server))
		return "bad server address";
	if (user_config_next_field(buf, sizeof(buf), &p, '-') < 0 ||
	    user_config_port(buf, 1, port) < 0)
		return "bad server port";
	*dev = p;
	return NULL;
}
