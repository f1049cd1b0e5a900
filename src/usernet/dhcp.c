// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dhcp.c - the DHCPv4 server of the native user-mode engine (RFC 2131/2132), serving what
 * QEMU's user mode serves. A guest's BOOTREQUEST, parsed by unet_frame_parse(), is read
 * through packet.h's bounds-checked unet_rd*() into a struct unet_dhcp_req; a lease is found
 * or taken by the client's MAC; the reply (OFFER, ACK or NAK) is built whole: Ethernet, IPv4
 * and UDP headers with their checksums, then BOOTP and its options. unet_dns_encode() writes
 * the RFC 1035 names of option 119, and of DHCPv6's option 24 (dhcpv6.c).
 */
#include <arpa/inet.h>
#include <string.h>

#include "core/offload.h"
#include "usernet/arp.h"
#include "usernet/dhcp.h"
#include "usernet/usernet.h"

/* BOOTP (RFC 951, RFC 2131 section 2) */
#define BOOTP_OP_REQUEST 1
#define BOOTP_OP_REPLY 2
#define BOOTP_HTYPE_ETHER 1
#define BOOTP_OFF_OP 0
#define BOOTP_OFF_HTYPE 1
#define BOOTP_OFF_HLEN 2
#define BOOTP_OFF_XID 4
#define BOOTP_OFF_FLAGS 10
#define BOOTP_OFF_CIADDR 12
#define BOOTP_OFF_YIADDR 16
#define BOOTP_OFF_SIADDR 20
#define BOOTP_OFF_CHADDR 28
#define BOOTP_OFF_COOKIE 236
#define BOOTP_OFF_OPTIONS 240
#define BOOTP_XID_LEN 4
#define BOOTP_FLAGS_LEN 2
#define BOOTP_CHADDR_LEN 16
#define BOOTP_ADDR_LEN 4
/* The smallest BOOTP message (RFC 951's 64-byte vendor area): replies are padded to it. */
#define BOOTP_MIN_LEN 300

/* DHCP (RFC 2131, RFC 2132) */
#define DHCP_COOKIE_LEN 4
#define DHCP_OPT_PAD 0
#define DHCP_OPT_NETMASK 1
#define DHCP_OPT_ROUTER 3
#define DHCP_OPT_DNS 6
#define DHCP_OPT_HOSTNAME 12
#define DHCP_OPT_DOMAIN 15
#define DHCP_OPT_MTU 26
#define DHCP_OPT_REQ_ADDR 50
#define DHCP_OPT_LEASE 51
#define DHCP_OPT_MSG_TYPE 53
#define DHCP_OPT_SERVER_ID 54
#define DHCP_OPT_MAX_MSG 57
#define DHCP_OPT_SEARCH 119 /* RFC 3397 */
#define DHCP_OPT_END 255
#define DHCP_OPT_HDR 2
#define DHCP_OPT_MAX_LEN 255

#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_DECLINE 4
#define DHCP_ACK 5
#define DHCP_NAK 6
#define DHCP_RELEASE 7
#define DHCP_INFORM 8

/* The IP datagram every client takes (RFC 2131 section 2), and larger if option 57 says. */
#define DHCP_MIN_MAX_MSG 576
/* Option 26: RFC 2132's smallest MTU; the largest a 16-bit value carries. */
#define DHCP_MTU_MIN 68
#define DHCP_MTU_MAX 65535
#define DHCP_MTU_DEFAULT 1500

/* RFC 1035 names, for option 119 (UNET_DNS_NAME_MAX and UNET_DNS_LABELS_MAX in dhcp.h) */
#define DNS_LABEL_MAX 63
#define DNS_PTR 0xc0
#define DNS_PTR_LEN 2
#define DNS_PTR_OFF_MAX 0x3fff

#define IPV4_VERSION 4
#define UNET_DHCP_HDRS (UNET_ETH_HLEN + UNET_IPV4_HLEN + UNET_UDP_HLEN)
#define UDP_OFF_SPORT 0
#define UDP_OFF_DPORT 2
#define UDP_OFF_LEN 4
#define UDP_OFF_CSUM 6

static const uint8_t unet_dhcp_cookie[DHCP_COOKIE_LEN] = { 99, 130, 83, 99 };

/**
 * struct unet_dhcp_req - what the server uses of a request
 * @type:	DHCP message type (option 53; 0: absent)
 * @xid:	transaction id, copied to the reply
 * @flags:	flags, copied to the reply
 * @ciaddr:	the client's address field
 * @chaddr:	client hardware address field, copied to the reply (the MAC is its first 6)
 * @req_addr:	option 50 (0: absent)
 * @server_id:	option 54 (0: absent)
 * @max_msg:	the largest IP datagram the client takes
 */
struct unet_dhcp_req {
	uint8_t type;
	uint8_t xid[BOOTP_XID_LEN];
	uint8_t flags[BOOTP_FLAGS_LEN];
	struct in_addr ciaddr;
	uint8_t chaddr[BOOTP_CHADDR_LEN];
	struct in_addr req_addr;
	struct in_addr server_id;
	size_t max_msg;
};

/**
 * struct unet_dhcp_opts - options being written into a reply
 * @p:		where they start (after the magic cookie)
 * @len:	written so far
 * @room:	most bytes they may take, the end option not counted
 */
struct unet_dhcp_opts {
	uint8_t *p;
	size_t len;
	size_t room;
};

/**
 * struct unet_dhcp_search - option 119's data, RFC 1035 names with compression (RFC 3397)
 * @buf:	the names, one after another
 * @ends:	where each name ends in @buf (names that do not encode are left out)
 * @n:		names encoded
 * @labels:	offsets in @buf of every label written in full, where a pointer may lead
 * @nlabels:	how many
 */
struct unet_dhcp_search {
	uint8_t buf[USERNET_DNSSEARCH_MAX * UNET_DNS_NAME_MAX];
	size_t ends[USERNET_DNSSEARCH_MAX];
	unsigned int n;
	uint16_t labels[USERNET_DNSSEARCH_MAX * UNET_DNS_LABELS_MAX];
	unsigned int nlabels;
};

/* One option of a request, its value at [@off, @off + @len) of @m (inside: checked). */
static bool unet_dhcp_parse_option(struct unet_dhcp_req *req, const struct unet_bytes *m,
				   uint8_t code, size_t off, uint8_t len)
{
	uint16_t max_msg;

	switch (code) {
	case DHCP_OPT_MSG_TYPE:
		if (len != 1)
			return false;
		/* The first one counts. */
		if (!req->type && !unet_rd8(m, off, &req->type))
			return false;
		return true;
	case DHCP_OPT_REQ_ADDR:
		return len == BOOTP_ADDR_LEN && unet_rd(m, off, &req->req_addr, len);
	case DHCP_OPT_SERVER_ID:
		return len == BOOTP_ADDR_LEN && unet_rd(m, off, &req->server_id, len);
	case DHCP_OPT_MAX_MSG:
		/* A malformed or too small maximum is ignored: every client takes 576. */
		if (len == sizeof(max_msg) && unet_rd16(m, off, &max_msg) &&
		    max_msg > DHCP_MIN_MAX_MSG)
			req->max_msg = max_msg;
		return true;
	default:
		return true;
	}
}

/*
 * Read a BOOTREQUEST from the UDP payload of @f. Every option's length must lie inside the
 * message (pad skipped, end stops; a message that ends without an end option is taken).
 */
static bool unet_dhcp_parse(const struct unet_frame *f, struct unet_dhcp_req *req)
{
	uint8_t op, htype, hlen, cookie[DHCP_COOKIE_LEN], code, len;
	struct unet_bytes m;
	size_t off;

	memset(req, 0, sizeof(*req));
	req->max_msg = DHCP_MIN_MAX_MSG;
	if (f->ip_version != IPV4_VERSION || f->proto != IPPROTO_UDP ||
	    f->dport != UNET_DHCP_SERVER_PORT)
		return false;
	if (!unet_frame_bytes(f, f->payload_off, f->payload_len, &m) || m.len < BOOTP_OFF_OPTIONS)
		return false;

	if (!unet_rd8(&m, BOOTP_OFF_OP, &op) || !unet_rd8(&m, BOOTP_OFF_HTYPE, &htype) ||
	    !unet_rd8(&m, BOOTP_OFF_HLEN, &hlen) ||
	    !unet_rd(&m, BOOTP_OFF_COOKIE, cookie, sizeof(cookie)))
		return false;
	if (op != BOOTP_OP_REQUEST || htype != BOOTP_HTYPE_ETHER || hlen != UNET_ETH_ALEN ||
	    memcmp(cookie, unet_dhcp_cookie, sizeof(cookie)))
		return false;
	if (!unet_rd(&m, BOOTP_OFF_XID, req->xid, sizeof(req->xid)) ||
	    !unet_rd(&m, BOOTP_OFF_FLAGS, req->flags, sizeof(req->flags)) ||
	    !unet_rd(&m, BOOTP_OFF_CIADDR, &req->ciaddr, BOOTP_ADDR_LEN) ||
	    !unet_rd(&m, BOOTP_OFF_CHADDR, req->chaddr, sizeof(req->chaddr)))
		return false;

	for (off = BOOTP_OFF_OPTIONS; unet_rd8(&m, off, &code);) {
		if (code == DHCP_OPT_PAD) {
			off++;
			continue;
		}
		if (code == DHCP_OPT_END)
			break;
		if (!unet_rd8(&m, off + 1, &len) || len > m.len - (off + DHCP_OPT_HDR))
			return false;
		if (!unet_dhcp_parse_option(req, &m, code, off + DHCP_OPT_HDR, len))
			return false;
		off += DHCP_OPT_HDR + len;
	}
	return req->type != 0;
}

static struct in_addr unet_dhcp_lease_addr(const struct usernet_config *cfg, int i)
{
	struct in_addr a = { .s_addr = htonl(ntohl(cfg->dhcp_start.s_addr) + (uint32_t)i) };

	return a;
}

/* The lease @addr would be, or -1 when it is not one of the server's. */
static int unet_dhcp_lease_index(const struct usernet_config *cfg, struct in_addr addr)
{
	uint32_t i = ntohl(addr.s_addr) - ntohl(cfg->dhcp_start.s_addr);

	return i < UNET_DHCP_LEASES ? (int)i : -1;
}

static int unet_dhcp_lease_find(const struct unet_dhcp *d, const uint8_t *mac)
{
	for (int i = 0; i < UNET_DHCP_LEASES; i++)
		if (d->lease[i].in_use && !memcmp(d->lease[i].mac, mac, UNET_ETH_ALEN))
			return i;
	return -1;
}

static int unet_dhcp_lease_take(struct unet_dhcp *d, int i, const uint8_t *mac)
{
	d->lease[i].in_use = true;
	memcpy(d->lease[i].mac, mac, UNET_ETH_ALEN);
	return i;
}

/*
 * The client's lease, or a new one: the address it asks for (@want) when that one is free,
 * as libslirp honours a rebooting client's old address; else the first free one, unless
 * @only_want. Return: its index, or -1.
 */
static int unet_dhcp_lease_get(struct unet_dhcp *d, const struct usernet_config *cfg,
			       const uint8_t *mac, struct in_addr want, bool only_want)
{
	int i = unet_dhcp_lease_find(d, mac);

	if (i >= 0)
		return i;
	i = want.s_addr ? unet_dhcp_lease_index(cfg, want) : -1;
	if (i >= 0 && !d->lease[i].in_use)
		return unet_dhcp_lease_take(d, i, mac);
	if (only_want)
		return -1;
	for (i = 0; i < UNET_DHCP_LEASES; i++)
		if (!d->lease[i].in_use)
			return unet_dhcp_lease_take(d, i, mac);
	return -1;
}

static bool unet_dhcp_put(struct unet_dhcp_opts *o, uint8_t code, const void *val, size_t len)
{
	if (len > DHCP_OPT_MAX_LEN || o->len > o->room || DHCP_OPT_HDR + len > o->room - o->len)
		return false;
	o->p[o->len++] = code;
	o->p[o->len++] = (uint8_t)len;
	memcpy(o->p + o->len, val, len);
	o->len += len;
	return true;
}

static bool unet_dhcp_put_addr(struct unet_dhcp_opts *o, uint8_t code, struct in_addr addr)
{
	return unet_dhcp_put(o, code, &addr.s_addr, BOOTP_ADDR_LEN);
}

/* A string option; one that is empty or too long for an option is left out. */
static void unet_dhcp_put_string(struct unet_dhcp_opts *o, uint8_t code, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len)
		(void)unet_dhcp_put(o, code, s, len);
}

size_t unet_dns_encode(const char *name, uint8_t enc[UNET_DNS_NAME_MAX],
		       size_t lab[UNET_DNS_LABELS_MAX], unsigned int *nlab)
{
	size_t len = 0, n = strlen(name);
	unsigned int labels = 0;

	if (nlab)
		*nlab = 0;
	if (n && name[n - 1] == '.')
		n--;
	if (!n)
		return 0;
	for (size_t i = 0; i <= n;) {
		const char *dot = memchr(name + i, '.', n - i);
		size_t l = dot ? (size_t)(dot - (name + i)) : n - i;

		/* The label, its length byte and the root's zero must fit. */
		if (!l || l > DNS_LABEL_MAX || len + 1 + l + 1 > UNET_DNS_NAME_MAX ||
		    labels >= UNET_DNS_LABELS_MAX)
			return 0;
		if (lab)
			lab[labels] = len;
		labels++;
		enc[len++] = (uint8_t)l;
		memcpy(enc + len, name + i, l);
		len += l;
		i += l + 1;
	}
	enc[len++] = 0;
	if (nlab)
		*nlab = labels;
	return len;
}

/* Does the name at @pos of @s->buf (which may end in a pointer) equal the uncompressed @name? */
static bool unet_dhcp_dns_same(const struct unet_dhcp_search *s, size_t pos, const uint8_t *name)
{
	/* Pointers only lead back, so a name has fewer of them than it has labels. */
	for (unsigned int hops = 0; hops <= UNET_DNS_LABELS_MAX;) {
		uint8_t l = s->buf[pos];

		if ((l & DNS_PTR) == DNS_PTR) {
			pos = (size_t)(l & ~DNS_PTR) << 8 | s->buf[pos + 1];
			hops++;
			continue;
		}
		if (l != name[0])
			return false;
		if (!l)
			return true;
		if (memcmp(s->buf + pos + 1, name + 1, l))
			return false;
		pos += 1 + (size_t)l;
		name += 1 + (size_t)l;
	}
	return false;
}

_Static_assert(sizeof(((struct unet_dhcp_search *)0)->buf) <= DNS_PTR_OFF_MAX,
	       "every offset in option 119's data must fit a compression pointer");

/* Append @name to @s, its longest suffix already there replaced by a pointer to it. */
static void unet_dhcp_search_add(struct unet_dhcp_search *s, const char *name)
{
	size_t base = s->n ? s->ends[s->n - 1] : 0, lab[UNET_DNS_LABELS_MAX], len, keep, ptr = 0;
	uint8_t enc[UNET_DNS_NAME_MAX];
	bool compressed = false;
	unsigned int nlab, i, k;

	if (s->n >= USERNET_DNSSEARCH_MAX)
		return;
	len = unet_dns_encode(name, enc, lab, &nlab);
	if (!len)
		return;
	keep = len;
	for (i = 0; i < nlab && !compressed; i++)
		for (k = 0; k < s->nlabels && !compressed; k++)
			if (unet_dhcp_dns_same(s, s->labels[k], enc + lab[i])) {
				keep = lab[i];
				ptr = s->labels[k];
				compressed = true;
			}
	/* A compressed name is shorter than in full, so each name takes at most 255 bytes. */
	memcpy(s->buf + base, enc, keep);
	for (i = 0; i < nlab && lab[i] < keep; i++)
		s->labels[s->nlabels++] = (uint16_t)(base + lab[i]);
	len = base + keep;
	if (compressed) {
		s->buf[len++] = (uint8_t)(DNS_PTR | ptr >> 8);
		s->buf[len++] = (uint8_t)ptr;
	}
	s->ends[s->n++] = len;
}

/*
 * Option 119 (RFC 3397) for @names. Data over 255 bytes is split into consecutive 119
 * options that the client joins (RFC 3396). When the reply has no room for every name, the
 * last ones are left out whole: a pointer only leads back, so the names kept stay whole.
 */
static void unet_dhcp_put_search(struct unet_dhcp_opts *o, const char *const *names)
{
	struct unet_dhcp_search s;
	size_t len = 0, left, off, chunk;
	unsigned int i;

	if (!names)
		return;
	s.n = 0;
	s.nlabels = 0;
	for (i = 0; i < USERNET_DNSSEARCH_MAX && names[i]; i++)
		unet_dhcp_search_add(&s, names[i]);
	left = o->room - o->len;
	for (i = s.n; i > 0 && !len; i--) {
		size_t l = s.ends[i - 1];

		if (l + DHCP_OPT_HDR * ((l + DHCP_OPT_MAX_LEN - 1) / DHCP_OPT_MAX_LEN) <= left)
			len = l;
	}
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < DHCP_OPT_MAX_LEN ? len - off : DHCP_OPT_MAX_LEN;
		(void)unet_dhcp_put(o, DHCP_OPT_SEARCH, s.buf + off, chunk);
	}
}

/* Options 1, 3, 6, 26, 12, 15 and 119 of an OFFER or ACK; the optional ones as room allows. */
static bool unet_dhcp_put_config(struct unet_dhcp_opts *o, const struct usernet_config *cfg)
{
	uint8_t mtu[2];

	if (!unet_dhcp_put_addr(o, DHCP_OPT_NETMASK, cfg->mask))
		return false;
	if (!cfg->restricted && (!unet_dhcp_put_addr(o, DHCP_OPT_ROUTER, cfg->host) ||
				 !unet_dhcp_put_addr(o, DHCP_OPT_DNS, cfg->dns)))
		return false;
	if (cfg->mtu && cfg->mtu != DHCP_MTU_DEFAULT && cfg->mtu >= DHCP_MTU_MIN &&
	    cfg->mtu <= DHCP_MTU_MAX) {
		unet_wr16(mtu, (uint16_t)cfg->mtu);
		if (!unet_dhcp_put(o, DHCP_OPT_MTU, mtu, sizeof(mtu)))
			return false;
	}
	unet_dhcp_put_string(o, DHCP_OPT_HOSTNAME, cfg->hostname);
	unet_dhcp_put_string(o, DHCP_OPT_DOMAIN, cfg->domainname);
	unet_dhcp_put_search(o, cfg->dnssearch);
	return true;
}

/*
 * Build the whole reply frame of @type for @req: @yiaddr is the lease (0 in a NAK and in
 * the ACK to an INFORM), @lease whether option 51 goes with it. The BOOTP message stays
 * within what the client takes (576 bytes of IP, or its option 57).
 */
static size_t unet_dhcp_reply(const struct usernet_config *cfg, const struct unet_dhcp_req *req,
			      uint8_t type, struct in_addr yiaddr, bool lease, uint8_t *out,
			      size_t out_size)
{
	uint8_t *udp = out + UNET_ETH_HLEN + UNET_IPV4_HLEN, *bootp = udp + UNET_UDP_HLEN;
	struct in_addr bcast = { .s_addr = htonl(INADDR_BROADCAST) };
	uint8_t mac[UNET_ETH_ALEN], secs[4];
	size_t max = req->max_msg - UNET_IPV4_HLEN - UNET_UDP_HLEN, bootp_len, udp_len;
	struct unet_dhcp_opts o;
	uint16_t csum;

	if (out_size > UNET_DHCP_REPLY_MAX)
		out_size = UNET_DHCP_REPLY_MAX;
	if (out_size < UNET_DHCP_HDRS + BOOTP_MIN_LEN)
		return 0;
	if (max > out_size - UNET_DHCP_HDRS)
		max = out_size - UNET_DHCP_HDRS;
	memset(out, 0, UNET_DHCP_HDRS + max);

	bootp[BOOTP_OFF_OP] = BOOTP_OP_REPLY;
	bootp[BOOTP_OFF_HTYPE] = BOOTP_HTYPE_ETHER;
	bootp[BOOTP_OFF_HLEN] = UNET_ETH_ALEN;
	memcpy(bootp + BOOTP_OFF_XID, req->xid, sizeof(req->xid));
	memcpy(bootp + BOOTP_OFF_FLAGS, req->flags, sizeof(req->flags));
	/* RFC 2131 table 3: an ACK keeps the client's ciaddr, a NAK names no server. */
	if (type == DHCP_ACK)
		memcpy(bootp + BOOTP_OFF_CIADDR, &req->ciaddr, BOOTP_ADDR_LEN);
	memcpy(bootp + BOOTP_OFF_YIADDR, &yiaddr, BOOTP_ADDR_LEN);
	if (type != DHCP_NAK)
		memcpy(bootp + BOOTP_OFF_SIADDR, &cfg->host, BOOTP_ADDR_LEN);
	memcpy(bootp + BOOTP_OFF_CHADDR, req->chaddr, sizeof(req->chaddr));
	memcpy(bootp + BOOTP_OFF_COOKIE, unet_dhcp_cookie, DHCP_COOKIE_LEN);

	o.p = bootp + BOOTP_OFF_OPTIONS;
	o.len = 0;
	o.room = max - BOOTP_OFF_OPTIONS - 1; /* the end option always fits */
	if (!unet_dhcp_put(&o, DHCP_OPT_MSG_TYPE, &type, sizeof(type)) ||
	    !unet_dhcp_put_addr(&o, DHCP_OPT_SERVER_ID, cfg->host))
		return 0;
	if (type != DHCP_NAK) {
		unet_wr32(secs, UNET_DHCP_LEASE_SECS);
		if (lease && !unet_dhcp_put(&o, DHCP_OPT_LEASE, secs, sizeof(secs)))
			return 0;
		if (!unet_dhcp_put_config(&o, cfg))
			return 0;
	}
	o.p[o.len++] = DHCP_OPT_END;
	bootp_len = BOOTP_OFF_OPTIONS + o.len;
	if (bootp_len < BOOTP_MIN_LEN)
		bootp_len = BOOTP_MIN_LEN;

	udp_len = UNET_UDP_HLEN + bootp_len;
	unet_arp_mac(cfg->host, mac);
	unet_put_eth_ipv4(out, req->chaddr, mac, cfg->host, bcast, IPPROTO_UDP, udp_len, 0);
	unet_wr16(udp + UDP_OFF_SPORT, UNET_DHCP_SERVER_PORT);
	unet_wr16(udp + UDP_OFF_DPORT, UNET_DHCP_CLIENT_PORT);
	unet_wr16(udp + UDP_OFF_LEN, (uint16_t)udp_len);
	csum = offload_csum_fold(offload_csum_add(
		unet_ipv4_pseudo_sum(cfg->host, bcast, IPPROTO_UDP, udp_len), udp, udp_len));
	/* 0 means "no checksum" in UDP: its equal, all ones, goes instead. */
	if (!csum)
		csum = 0xffff;
	memcpy(udp + UDP_OFF_CSUM, &csum, sizeof(csum));
	return UNET_DHCP_HDRS + bootp_len;
}

/* OFFER or ACK lease @i; a lease taken for this message is given back if no reply fits. */
static size_t unet_dhcp_grant(struct unet_dhcp *d, const struct usernet_config *cfg,
			      const struct unet_dhcp_req *req, uint8_t type, int i, bool fresh,
			      uint8_t *out, size_t out_size, struct in_addr *assigned)
{
	struct in_addr addr = unet_dhcp_lease_addr(cfg, i);
	size_t n = unet_dhcp_reply(cfg, req, type, addr, true, out, out_size);

	if (!n && fresh)
		memset(&d->lease[i], 0, sizeof(d->lease[i]));
	if (n && type == DHCP_ACK && assigned)
		*assigned = addr;
	return n;
}

size_t unet_dhcp_answer(struct unet_dhcp *d, const struct usernet_config *cfg,
			const struct unet_frame *f, uint8_t *out, size_t out_size,
			struct in_addr *assigned)
{
	struct in_addr none = { 0 }, want;
	struct unet_dhcp_req req;
	bool fresh;
	int i;

	if (assigned)
		assigned->s_addr = 0;
	if (!unet_dhcp_parse(f, &req))
		return 0;
	fresh = unet_dhcp_lease_find(d, req.chaddr) < 0;

	switch (req.type) {
	case DHCP_DISCOVER:
		i = unet_dhcp_lease_get(d, cfg, req.chaddr, req.req_addr, false);
		if (i < 0)
			return 0;
		return unet_dhcp_grant(d, cfg, &req, DHCP_OFFER, i, fresh, out, out_size, NULL);
	case DHCP_REQUEST:
		/* The client took another server's offer. */
		if (req.server_id.s_addr && req.server_id.s_addr != cfg->host.s_addr)
			return 0;
		/* Option 50 when selecting or rebooting, ciaddr when renewing (RFC 2131 4.3.2). */
		want = req.req_addr.s_addr ? req.req_addr : req.ciaddr;
		i = unet_dhcp_lease_get(d, cfg, req.chaddr, want, want.s_addr != 0);
		if (i < 0 && !want.s_addr)
			return 0;
		if (i < 0 || (want.s_addr && want.s_addr != unet_dhcp_lease_addr(cfg, i).s_addr))
			return unet_dhcp_reply(cfg, &req, DHCP_NAK, none, false, out, out_size);
		return unet_dhcp_grant(d, cfg, &req, DHCP_ACK, i, fresh, out, out_size, assigned);
	case DHCP_RELEASE:
		i = unet_dhcp_lease_find(d, req.chaddr);
		if (i >= 0)
			memset(&d->lease[i], 0, sizeof(d->lease[i]));
		return 0;
	case DHCP_INFORM:
		/* The client has its address: configuration only, no lease (RFC 2131 3.4). */
		return unet_dhcp_reply(cfg, &req, DHCP_ACK, none, false, out, out_size);
	default:
		/* DECLINE (an address in use on a network the engine alone serves) and others. */
		return 0;
	}
}
