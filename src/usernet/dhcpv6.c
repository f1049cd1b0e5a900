// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dhcpv6.c - stateless DHCPv6 (RFC 8415) for the native user-mode engine. A guest's message
 * to UDP port 547, parsed by unet_frame_parse(), is read through the bounds-checked
 * unet_dhcpv6_rd(); an INFORMATION-REQUEST whose options all lie inside it gets a REPLY
 * built whole here: Ethernet, IPv6 from the engine's link-local address, UDP with its
 * checksum, then the transaction id and options 1, 2, 23 and 24.
 */
#include <string.h>

#include "core/offload.h"
#include "usernet/dhcpv6.h"
#include "usernet/ndp.h"
#include "usernet/usernet.h"

/* Messages (RFC 8415 7.3): type, a 3-byte transaction id, options. */
#define DHCPV6_REPLY 7
#define DHCPV6_INFORMATION_REQUEST 11
#define DHCPV6_OFF_TYPE 0
#define DHCPV6_OFF_XID 1
#define DHCPV6_XID_LEN 3
#define DHCPV6_HLEN 4

/* Options (21): a 2-byte code, a 2-byte length, the value. */
#define DHCPV6_OPT_CLIENTID 1
#define DHCPV6_OPT_SERVERID 2
#define DHCPV6_OPT_IA_NA 3
#define DHCPV6_OPT_IA_TA 4
#define DHCPV6_OPT_DNS_SERVERS 23 /* RFC 3646 */
#define DHCPV6_OPT_DOMAIN_LIST 24 /* RFC 3646 */
#define DHCPV6_OPT_IA_PD 25
#define DHCPV6_OPT_OFF_CODE 0
#define DHCPV6_OPT_OFF_LEN 2
#define DHCPV6_OPT_HDR 4

/* DUIDs (11): a 2-byte type, then at most 128 bytes. DUID-LL (11.4): type, hardware type,
 * link-layer address. */
#define DUID_TYPE_LEN 2
#define DUID_MAX_LEN (DUID_TYPE_LEN + 128)
#define DUID_LL 3
#define DUID_HW_ETHERNET 1
#define DUID_LL_OFF_HW 2
#define DUID_LL_OFF_ADDR 4
#define DUID_LL_LEN (DUID_LL_OFF_ADDR + UNET_ETH_ALEN)

/* RFC 1035 names, for option 24 (uncompressed: RFC 8415 10) */
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 255

#define IPV6_VERSION 6
#define IPV6_ADDR_LEN 16
#define IPV6_MULTICAST 0xff
/* Not NDP: the reply crosses no router, but any hop limit but 255 would do. */
#define DHCPV6_HOP_LIMIT 64

#define UDP_OFF_SPORT 0
#define UDP_OFF_DPORT 2
#define UDP_OFF_LEN 4
#define UDP_OFF_CSUM 6
#define UDP_CSUM_ONES 0xffff
#define UNET_DHCPV6_HDRS (UNET_ETH_HLEN + UNET_IPV6_HLEN + UNET_UDP_HLEN)

/**
 * struct unet_dhcpv6_msg - a guest's DHCPv6 message, only read through unet_dhcpv6_rd()
 * @p:		its bytes
 * @len:	how many
 */
struct unet_dhcpv6_msg {
	const uint8_t *p;
	size_t len;
};

/**
 * struct unet_dhcpv6_req - what the server uses of an INFORMATION-REQUEST
 * @xid:	transaction id, copied to the reply
 * @client_id:	the client's DUID (option 1), echoed
 * @client_id_len: its length (0: absent)
 */
struct unet_dhcpv6_req {
	uint8_t xid[DHCPV6_XID_LEN];
	uint8_t client_id[DUID_MAX_LEN];
	size_t client_id_len;
};

/**
 * struct unet_dhcpv6_opts - options being written into a reply
 * @p:		where they start (after the transaction id)
 * @len:	written so far
 * @room:	most bytes they may take
 */
struct unet_dhcpv6_opts {
	uint8_t *p;
	size_t len;
	size_t room;
};

/* Copy [@off, @off + @n) of @m to @dst if it lies inside the message. */
static bool unet_dhcpv6_rd(const struct unet_dhcpv6_msg *m, size_t off, void *dst, size_t n)
{
	if (off > m->len || n > m->len - off)
		return false;
	memcpy(dst, m->p + off, n);
	return true;
}

static uint16_t unet_dhcpv6_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void unet_dhcpv6_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The server's DUID-LL, of its MAC. */
static void unet_dhcpv6_duid(const uint8_t mac[UNET_ETH_ALEN], uint8_t duid[DUID_LL_LEN])
{
	unet_dhcpv6_wr16(duid, DUID_LL);
	unet_dhcpv6_wr16(duid + DUID_LL_OFF_HW, DUID_HW_ETHERNET);
	memcpy(duid + DUID_LL_OFF_ADDR, mac, UNET_ETH_ALEN);
}

/* One option of a request, its value at [@off, @off + @len) of @m (inside: checked). */
static bool unet_dhcpv6_parse_option(struct unet_dhcpv6_req *req, const struct unet_dhcpv6_msg *m,
				     const uint8_t mac[UNET_ETH_ALEN], uint16_t code, size_t off,
				     size_t len)
{
	uint8_t ours[DUID_LL_LEN], theirs[DUID_LL_LEN];

	switch (code) {
	case DHCPV6_OPT_CLIENTID:
		if (len < DUID_TYPE_LEN || len > DUID_MAX_LEN)
			return false;
		/* The first one counts. */
		if (!req->client_id_len) {
			if (!unet_dhcpv6_rd(m, off, req->client_id, len))
				return false;
			req->client_id_len = len;
		}
		return true;
	case DHCPV6_OPT_SERVERID:
		/* Meant for another server (RFC 8415 16.12). */
		unet_dhcpv6_duid(mac, ours);
		return len == DUID_LL_LEN && unet_dhcpv6_rd(m, off, theirs, len) &&
		       !memcmp(ours, theirs, sizeof(ours));
	case DHCPV6_OPT_IA_NA:
	case DHCPV6_OPT_IA_TA:
	case DHCPV6_OPT_IA_PD:
		/* Addresses are not this message's business (RFC 8415 16.12). */
		return false;
	default:
		return true;
	}
}

/*
 * Read an INFORMATION-REQUEST from the UDP payload of @f. Every option's header and value
 * must lie inside the message.
 */
static bool unet_dhcpv6_parse(const struct unet_frame *f, const uint8_t mac[UNET_ETH_ALEN],
			      struct unet_dhcpv6_req *req)
{
	uint8_t type, hdr[DHCPV6_OPT_HDR];
	struct unet_dhcpv6_msg m;
	size_t off, len;
	uint16_t code;

	memset(req, 0, sizeof(*req));
	if (f->ip_version != IPV6_VERSION || f->proto != IPPROTO_UDP ||
	    f->dport != UNET_DHCPV6_SERVER_PORT)
		return false;
	if (f->payload_off > f->avail || f->payload_len > f->avail - f->payload_off)
		return false;
	m.p = f->data + f->payload_off;
	m.len = f->payload_len;

	if (!unet_dhcpv6_rd(&m, DHCPV6_OFF_TYPE, &type, sizeof(type)) ||
	    type != DHCPV6_INFORMATION_REQUEST ||
	    !unet_dhcpv6_rd(&m, DHCPV6_OFF_XID, req->xid, sizeof(req->xid)))
		return false;
	for (off = DHCPV6_HLEN; off < m.len; off += DHCPV6_OPT_HDR + len) {
		if (!unet_dhcpv6_rd(&m, off, hdr, sizeof(hdr)))
			return false;
		len = unet_dhcpv6_get16(hdr + DHCPV6_OPT_OFF_LEN);
		if (len > m.len - off - DHCPV6_OPT_HDR)
			return false;
		code = unet_dhcpv6_get16(hdr + DHCPV6_OPT_OFF_CODE);
		if (!unet_dhcpv6_parse_option(req, &m, mac, code, off + DHCPV6_OPT_HDR, len))
			return false;
	}
	return true;
}

static bool unet_dhcpv6_put(struct unet_dhcpv6_opts *o, uint16_t code, const void *val, size_t len)
{
	if (o->len > o->room || len > o->room - o->len || DHCPV6_OPT_HDR > o->room - o->len - len)
		return false;
	unet_dhcpv6_wr16(o->p + o->len + DHCPV6_OPT_OFF_CODE, code);
	unet_dhcpv6_wr16(o->p + o->len + DHCPV6_OPT_OFF_LEN, (uint16_t)len);
	memcpy(o->p + o->len + DHCPV6_OPT_HDR, val, len);
	o->len += DHCPV6_OPT_HDR + len;
	return true;
}

/*
 * Encode @name (dots between labels, one trailing dot allowed) in RFC 1035 form at @enc,
 * uncompressed. Return: its length, or 0 for a name that does not encode (empty, an empty
 * label, a label over 63 bytes, more than 255 bytes in all).
 */
static size_t unet_dhcpv6_dns_encode(const char *name, uint8_t enc[DNS_NAME_MAX])
{
	size_t len = 0, n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	if (!n)
		return 0;
	for (size_t i = 0; i <= n;) {
		const char *dot = memchr(name + i, '.', n - i);
		size_t l = dot ? (size_t)(dot - (name + i)) : n - i;

		/* The label, its length byte and the root's zero must fit. */
		if (!l || l > DNS_LABEL_MAX || len + 1 + l + 1 > DNS_NAME_MAX)
			return 0;
		enc[len++] = (uint8_t)l;
		memcpy(enc + len, name + i, l);
		len += l;
		i += l + 1;
	}
	enc[len++] = 0;
	return len;
}

/*
 * Option 24 for @names: those that encode, in order, as many as the reply has room for
 * (the first that does not fit ends the list). No option when none is left.
 */
static void unet_dhcpv6_put_search(struct unet_dhcpv6_opts *o, const char *const *names)
{
	uint8_t enc[DNS_NAME_MAX], *data;
	size_t room, len = 0, n;

	if (!names || o->len > o->room || o->room - o->len < DHCPV6_OPT_HDR)
		return;
	room = o->room - o->len - DHCPV6_OPT_HDR;
	data = o->p + o->len + DHCPV6_OPT_HDR;
	for (unsigned int i = 0; i < USERNET_DNSSEARCH_MAX && names[i]; i++) {
		n = unet_dhcpv6_dns_encode(names[i], enc);
		if (!n)
			continue;
		if (n > room - len)
			break;
		memcpy(data + len, enc, n);
		len += n;
	}
	if (!len)
		return;
	unet_dhcpv6_wr16(o->p + o->len + DHCPV6_OPT_OFF_CODE, DHCPV6_OPT_DOMAIN_LIST);
	unet_dhcpv6_wr16(o->p + o->len + DHCPV6_OPT_OFF_LEN, (uint16_t)len);
	o->len += DHCPV6_OPT_HDR + len;
}

size_t unet_dhcpv6_answer(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  const struct unet_frame *f, uint8_t *out, size_t out_size)
{
	uint8_t *udp = out + UNET_ETH_HLEN + UNET_IPV6_HLEN, *msg = udp + UNET_UDP_HLEN;
	static const struct in6_addr any;
	uint8_t duid[DUID_LL_LEN];
	struct unet_dhcpv6_req req;
	struct unet_dhcpv6_opts o;
	struct in6_addr ll;
	size_t udp_len;
	uint16_t csum;

	if (!cfg->ipv6 || !unet_dhcpv6_parse(f, mac, &req))
		return 0;
	/* Clients send from a link-local address (RFC 8415 13.1); never from :: or a group. */
	if (f->saddr6.s6_addr[0] == IPV6_MULTICAST || !memcmp(&f->saddr6, &any, sizeof(any)))
		return 0;
	if (out_size > UNET_DHCPV6_REPLY_MAX)
		out_size = UNET_DHCPV6_REPLY_MAX;
	if (out_size < UNET_DHCPV6_HDRS + DHCPV6_HLEN)
		return 0;

	msg[DHCPV6_OFF_TYPE] = DHCPV6_REPLY;
	memcpy(msg + DHCPV6_OFF_XID, req.xid, sizeof(req.xid));
	o.p = msg + DHCPV6_HLEN;
	o.len = 0;
	o.room = out_size - UNET_DHCPV6_HDRS - DHCPV6_HLEN;
	unet_dhcpv6_duid(mac, duid);
	if (req.client_id_len &&
	    !unet_dhcpv6_put(&o, DHCPV6_OPT_CLIENTID, req.client_id, req.client_id_len))
		return 0;
	if (!unet_dhcpv6_put(&o, DHCPV6_OPT_SERVERID, duid, sizeof(duid)) ||
	    !unet_dhcpv6_put(&o, DHCPV6_OPT_DNS_SERVERS, &cfg->dns6, IPV6_ADDR_LEN))
		return 0;
	unet_dhcpv6_put_search(&o, cfg->dnssearch);

	udp_len = UNET_UDP_HLEN + DHCPV6_HLEN + o.len;
	unet_ndp_link_local(mac, &ll);
	unet_put_eth_ipv6(out, f->src_mac, mac, &ll, &f->saddr6, IPPROTO_UDP, udp_len,
			  DHCPV6_HOP_LIMIT);
	unet_dhcpv6_wr16(udp + UDP_OFF_SPORT, UNET_DHCPV6_SERVER_PORT);
	unet_dhcpv6_wr16(udp + UDP_OFF_DPORT, UNET_DHCPV6_CLIENT_PORT);
	unet_dhcpv6_wr16(udp + UDP_OFF_LEN, (uint16_t)udp_len);
	memset(udp + UDP_OFF_CSUM, 0, sizeof(csum));
	csum = offload_csum_fold(offload_csum_add(
		unet_ipv6_pseudo_sum(&ll, &f->saddr6, IPPROTO_UDP, udp_len), udp, udp_len));
	/* 0 means "no checksum", which IPv6 forbids: its equal, all ones, goes instead. */
	if (!csum)
		csum = UDP_CSUM_ONES;
	memcpy(udp + UDP_OFF_CSUM, &csum, sizeof(csum));
	return UNET_ETH_HLEN + UNET_IPV6_HLEN + udp_len;
}
