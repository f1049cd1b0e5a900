// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dhcpv6.c - stateless DHCPv6 (RFC 8415) for the native user-mode engine. A guest's message
 * to UDP port 547, parsed by unet_frame_parse(), is read through packet.h's bounds-checked
 * unet_rd*(); an INFORMATION-REQUEST whose options all lie inside it gets a REPLY built whole
 * here: Ethernet, IPv6 from the engine's link-local address, UDP with its checksum, then the
 * transaction id and options 1, 2, 23 and 24 (names encoded by dhcp.c's unet_dns_encode()).
 */
#include <string.h>

#include "core/offload.h"
#include "usernet/dhcp.h"
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

/* The server's DUID-LL, of its MAC. */
static void unet_dhcpv6_duid(const uint8_t mac[UNET_ETH_ALEN], uint8_t duid[DUID_LL_LEN])
{
	unet_wr16(duid, DUID_LL);
	unet_wr16(duid + DUID_LL_OFF_HW, DUID_HW_ETHERNET);
	memcpy(duid + DUID_LL_OFF_ADDR, mac, UNET_ETH_ALEN);
}

/* One option of a request, its value at [@off, @off + @len) of @m (inside: checked). */
static bool unet_dhcpv6_parse_option(struct unet_dhcpv6_req *req, const struct unet_bytes *m,
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
			if (!unet_rd(m, off, req->client_id, len))
				return false;
			req->client_id_len = len;
		}
		return true;
	case DHCPV6_OPT_SERVERID:
		/* Meant for another server (RFC 8415 16.12). */
		unet_dhcpv6_duid(mac, ours);
		return len == DUID_LL_LEN && unet_rd(m, off, theirs, len) &&
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
	uint16_t code, len16;
	struct unet_bytes m;
	size_t off, len;
	uint8_t type;

	memset(req, 0, sizeof(*req));
	if (f->ip_version != IPV6_VERSION || f->proto != IPPROTO_UDP ||
	    f->dport != UNET_DHCPV6_SERVER_PORT)
		return false;
	if (!unet_frame_bytes(f, f->payload_off, f->payload_len, &m))
		return false;

	if (!unet_rd8(&m, DHCPV6_OFF_TYPE, &type) || type != DHCPV6_INFORMATION_REQUEST ||
	    !unet_rd(&m, DHCPV6_OFF_XID, req->xid, sizeof(req->xid)))
		return false;
	for (off = DHCPV6_HLEN; off < m.len; off += DHCPV6_OPT_HDR + len) {
		/* Reading the length checks that the whole option header lies inside. */
		if (!unet_rd16(&m, off + DHCPV6_OPT_OFF_CODE, &code) ||
		    !unet_rd16(&m, off + DHCPV6_OPT_OFF_LEN, &len16))
			return false;
		len = len16;
		if (len > m.len - off - DHCPV6_OPT_HDR)
			return false;
		if (!unet_dhcpv6_parse_option(req, &m, mac, code, off + DHCPV6_OPT_HDR, len))
			return false;
	}
	return true;
}

static bool unet_dhcpv6_put(struct unet_dhcpv6_opts *o, uint16_t code, const void *val, size_t len)
{
	if (o->len > o->room || len > o->room - o->len || DHCPV6_OPT_HDR > o->room - o->len - len)
		return false;
	unet_wr16(o->p + o->len + DHCPV6_OPT_OFF_CODE, code);
	unet_wr16(o->p + o->len + DHCPV6_OPT_OFF_LEN, (uint16_t)len);
	memcpy(o->p + o->len + DHCPV6_OPT_HDR, val, len);
	o->len += DHCPV6_OPT_HDR + len;
	return true;
}

/*
 * Option 24 for @names, uncompressed (RFC 8415 10): those that encode, in order, as many as
 * the reply has room for (the first that does not fit ends the list). No option when none is
 * left.
 */
static void unet_dhcpv6_put_search(struct unet_dhcpv6_opts *o, const char *const *names)
{
	uint8_t enc[UNET_DNS_NAME_MAX], *data;
	size_t room, len = 0, n;

	if (!names || o->len > o->room || o->room - o->len < DHCPV6_OPT_HDR)
		return;
	room = o->room - o->len - DHCPV6_OPT_HDR;
	data = o->p + o->len + DHCPV6_OPT_HDR;
	for (unsigned int i = 0; i < USERNET_DNSSEARCH_MAX && names[i]; i++) {
		n = unet_dns_encode(names[i], enc, NULL, NULL);
		if (!n)
			continue;
		if (n > room - len)
			break;
		memcpy(data + len, enc, n);
		len += n;
	}
	if (!len)
		return;
	unet_wr16(o->p + o->len + DHCPV6_OPT_OFF_CODE, DHCPV6_OPT_DOMAIN_LIST);
	unet_wr16(o->p + o->len + DHCPV6_OPT_OFF_LEN, (uint16_t)len);
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
	unet_wr16(udp + UDP_OFF_SPORT, UNET_DHCPV6_SERVER_PORT);
	unet_wr16(udp + UDP_OFF_DPORT, UNET_DHCPV6_CLIENT_PORT);
	unet_wr16(udp + UDP_OFF_LEN, (uint16_t)udp_len);
	memset(udp + UDP_OFF_CSUM, 0, sizeof(csum));
	csum = offload_csum_fold(offload_csum_add(
		unet_ipv6_pseudo_sum(&ll, &f->saddr6, IPPROTO_UDP, udp_len), udp, udp_len));
	/* 0 means "no checksum", which IPv6 forbids: its equal, all ones, goes instead. */
	if (!csum)
		csum = UDP_CSUM_ONES;
	memcpy(udp + UDP_OFF_CSUM, &csum, sizeof(csum));
	return UNET_ETH_HLEN + UNET_IPV6_HLEN + udp_len;
}
