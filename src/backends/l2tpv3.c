// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * l2tpv3.c - -netdev l2tpv3: Ethernet frames in static L2TPv3 sessions (RFC 3931, an Ethernet
 * pseudowire without a control connection), byte-compatible with QEMU 7.2's net/l2tpv3.c.
 *
 * The socket is UDP (udp=on) or raw IP protocol 115, IPv4 or IPv6; the dgram client
 * (dgram.c) moves the datagrams, batched in, with this file's header around each frame:
 * [UDP only: 4-byte data header 0x00030000] session id, [cookie of 32 or 64 bits],
 * [counter], [offset bytes], all big endian. A datagram in is checked (length, session,
 * cookie; a raw IPv4 socket also hands over the IP header, skipped by its length field)
 * before its frame goes on; anything else is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/dgram.h"
#include "backends/l2tpv3.h"
#include "core/netdev.h"
#include "vwire/error.h"

#define L2TPV3_PROTO 115
#define L2TPV3_DATA_PACKET 0x30000u
#define L2TPV3_MAX_OFFSET 256

static void l2tpv3_put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t l2tpv3_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

int l2tpv3_layout(struct l2tpv3_hdr *h, const struct netdev_l2tpv3_opts *o, struct error *err)
{
	size_t off = 0;

	memset(h, 0, sizeof(*h));
	if (!o->has_txsession)
		return error_set(err, -EINVAL, "Parameter 'txsession' is missing");
	if (o->has_rxcookie != o->has_txcookie)
		return error_set(err, -EINVAL, "require both 'rxcookie' and 'txcookie' or neither");
	if (o->offset > L2TPV3_MAX_OFFSET)
		return error_set(err, -EINVAL, "offset must be less than 256 bytes");
	if (o->txsession > UINT32_MAX || o->rxsession > UINT32_MAX)
		return error_set(err, -EINVAL, "a session id is 32 bits");
	h->udp = o->udp;
	h->ipv4_raw = !o->udp && !o->ipv6;
	h->tx_session = (uint32_t)o->txsession;
	h->rx_session = (uint32_t)(o->has_rxsession ? o->rxsession : o->txsession);
	h->cookie = o->has_txcookie;
	h->cookie64 = o->cookie64;
	if (h->cookie && !h->cookie64 && (o->txcookie > UINT32_MAX || o->rxcookie > UINT32_MAX))
		return error_set(err, -EINVAL, "a 32-bit cookie is too large (cookie64=on?)");
	h->tx_cookie = o->txcookie;
	h->rx_cookie = o->rxcookie;
	/* pincounter sends a counter that is always 0, so it implies the counter field. */
	h->counter = o->counter || o->pincounter;
	h->pin_counter = o->pincounter;
	if (h->udp)
		off += 4;
	h->session_off = off;
	off += 4;
	h->cookie_off = off;
	if (h->cookie)
		off += h->cookie64 ? 8 : 4;
	h->counter_off = off;
	if (h->counter)
		off += 4;
	h->len = off + o->offset;
	return 0;
}

void l2tpv3_form(struct l2tpv3_hdr *h, uint8_t *hdr)
{
	memset(hdr, 0, h->len);
	if (h->udp)
		l2tpv3_put32(hdr, L2TPV3_DATA_PACKET);
	l2tpv3_put32(hdr + h->session_off, h->tx_session);
	if (h->cookie && h->cookie64) {
		l2tpv3_put32(hdr + h->cookie_off, (uint32_t)(h->tx_cookie >> 32));
		l2tpv3_put32(hdr + h->cookie_off + 4, (uint32_t)h->tx_cookie);
	} else if (h->cookie) {
		l2tpv3_put32(hdr + h->cookie_off, (uint32_t)h->tx_cookie);
	}
	if (h->counter && !h->pin_counter)
		l2tpv3_put32(hdr + h->counter_off, ++h->tx_counter);
}

long l2tpv3_decap(const struct l2tpv3_hdr *h, const uint8_t *d, size_t len)
{
	size_t ip = 0;
	uint64_t cookie;

	if (h->ipv4_raw) {
		/* A raw IPv4 socket hands over the IP header: skip it by its own length. */
		if (len < 20 || (d[0] >> 4) != 4 || (d[0] & 0xf) < 5)
			return -EPROTO;
		ip = (size_t)(d[0] & 0xf) * 4;
	}
	if (len < ip + h->len + 14)
		return -EMSGSIZE; /* no room for the header and an Ethernet header */
	d += ip;
	if (h->cookie) {
		cookie = h->cookie64 ? ((uint64_t)l2tpv3_get32(d + h->cookie_off) << 32 |
					l2tpv3_get32(d + h->cookie_off + 4))
				     : l2tpv3_get32(d + h->cookie_off);
		if (cookie != h->rx_cookie)
			return -EACCES;
	}
	if (l2tpv3_get32(d + h->session_off) != h->rx_session)
		return -ENOENT;
	return (long)(ip + h->len);
}

/* The dgram client's hooks. */
static void l2tpv3_form_hook(void *opaque, uint8_t *hdr)
{
	l2tpv3_form(opaque, hdr);
}

static long l2tpv3_decap_hook(void *opaque, const uint8_t *d, size_t len)
{
	return l2tpv3_decap(opaque, d, len);
}

/* getaddrinfo for the socket: UDP with a port, or raw protocol 115 without one. */
static int l2tpv3_resolve(const struct netdev_l2tpv3_opts *o, const char *what, const char *host,
			  const char *port, struct addrinfo **out, struct error *err)
{
	struct addrinfo hints = {
		.ai_family = o->ipv6 ? AF_INET6 : AF_INET,
		.ai_socktype = o->udp ? SOCK_DGRAM : SOCK_RAW,
		.ai_protocol = o->udp ? 0 : L2TPV3_PROTO,
	};
	int gai;

	if (!host)
		return error_set(err, -EINVAL, "'%s' is missing", what);
	gai = getaddrinfo(host, o->udp ? port : NULL, &hints, out);
	if (gai)
		return error_set(err, -EINVAL, "%s=%s: %s", what, host, gai_strerror(gai));
	return 0;
}

int net_init_l2tpv3(const struct netdev_l2tpv3_opts *o, const char *id, struct loop *loop,
		    struct error *err)
{
	struct dgram_encap encap = { .form = l2tpv3_form_hook, .decap = l2tpv3_decap_hook };
	struct addrinfo *src = NULL, *dst = NULL;
	struct dgram_config cfg = { .model = "l2tpv3", .encap = &encap };
	struct l2tpv3_hdr *h;
	struct netaddr dest;
	char info[160];
	int fd, ret;

	if (o->udp && (!o->srcport || !o->dstport))
		return error_set(err, -EINVAL, "need both src and dst port for udp");
	h = calloc(1, sizeof(*h));
	if (!h)
		return error_set(err, -ENOMEM, "out of memory");
	ret = l2tpv3_layout(h, o, err);
	if (ret < 0)
		goto out;
	ret = l2tpv3_resolve(o, "src", o->src, o->srcport, &src, err);
	if (ret < 0)
		goto out;
	ret = l2tpv3_resolve(o, "dst", o->dst, o->dstport, &dst, err);
	if (ret < 0)
		goto out;
	fd = socket(src->ai_family, src->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    src->ai_protocol);
	if (fd < 0) {
		ret = error_set(err, -errno, "socket creation failed: %s", strerror(errno));
		goto out;
	}
	if (bind(fd, src->ai_addr, src->ai_addrlen) < 0) {
		ret = error_set(err, -errno, "bind to src=%s failed: %s", o->src, strerror(errno));
		close(fd);
		goto out;
	}
	memset(&dest, 0, sizeof(dest));
	memcpy(&dest.ss, dst->ai_addr, dst->ai_addrlen);
	dest.len = dst->ai_addrlen;
	encap.hdr_len = h->len;
	encap.opaque = h;
	snprintf(info, sizeof(info), "l2tpv3: connected");
	cfg.fd = fd;
	cfg.dest = &dest;
	cfg.info = info;
	cfg.priv = h;
	ret = dgram_net_new(loop, id, &cfg, err);
	h = NULL; /* the client owns it now, even on failure */
out:
	free(h);
	if (src)
		freeaddrinfo(src);
	if (dst)
		freeaddrinfo(dst);
	return ret;
}
