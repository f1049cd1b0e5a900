// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * usernet.c - the native user-mode engine: a guest frame is parsed once (packet.c) and handed
 * to the protocol that owns it: ARP and DHCP are answered here, TCP, UDP and ICMP echo go to
 * their flows (tcp.c, udp.c, icmp.c), each mirrored onto a host socket. Every host socket
 * sits in one inner epoll set, edge-triggered, whose fd the loop watches; a periodic tick runs
 * retransmissions and timeouts while flows exist. Frames to the guest leave through the
 * output callback with a vnet header; a flow that frees itself is only unlinked at once and
 * freed after the event batch, so later events of the batch never touch freed memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/offload.h"
#include "usernet/arp.h"
#include "usernet/dhcpv6.h"
#include "usernet/ndp.h"
#include "usernet/unet.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Events taken from the inner epoll set per wake-up. */
#define UNET_EVENTS_MAX 64
/* Bytes of a guest frame copied to parse its headers (the rest of a small one later). */
#define UNET_HDR_PEEK 256
/* Hop limit of IPv6 packets to the guest (not NDP's). */
#define UNET_HOP_LIMIT 64
#define UNET_RESOLV_CONF "/etc/resolv.conf"
#define UNET_DNS_PORT 53
/* Length of an Ethernet/IPv4 ARP body. */
#define UNET_ARP_BODY_LEN 28
#define UNET_LOOPBACK_NET 0x7f000000u
#define UNET_LOOPBACK_MASK 0xff000000u

static const char *const unet_counter_names[UNET_C_MAX] = {
	[UNET_C_TCP_OPENED] = "tcp-opened",
	[UNET_C_TCP_REFUSED] = "tcp-refused",
	[UNET_C_TCP_RESETS] = "tcp-resets",
	[UNET_C_TCP_RETRANSMITS] = "tcp-retransmits",
	[UNET_C_TCP_LENT] = "tcp-lent-frames",
	[UNET_C_UDP_OPENED] = "udp-opened",
	[UNET_C_ICMP_OPENED] = "icmp-opened",
	[UNET_C_FLOWS_FULL] = "flows-full",
	[UNET_C_RESTRICTED] = "restricted",
	[UNET_C_NO_ROUTE] = "no-route",
	[UNET_C_BAD_SEGMENT] = "bad-segment",
};

/* The flow table */

static uint64_t unet_addr_fold(const struct in6_addr *a)
{
	uint64_t hi, lo;

	memcpy(&hi, a->s6_addr, sizeof(hi));
	memcpy(&lo, a->s6_addr + 8, sizeof(lo));
	return hi * 0xff51afd7ed558ccdull ^ lo;
}

static unsigned int unet_flow_hash(uint8_t proto, const struct in6_addr *gaddr, uint16_t gport,
				   const struct in6_addr *raddr, uint16_t rport)
{
	uint64_t h = unet_addr_fold(gaddr) ^ (unet_addr_fold(raddr) * 0xc4ceb9fe1a85ec53ull) ^
		     ((uint64_t)gport << 24 | (uint64_t)rport << 8 | proto) * 0x9e3779b97f4a7c15ull;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (unsigned int)h & (UNET_HASH_BUCKETS - 1);
}

/**
 * unet_flow_find() - the flow of a key
 * @u:		the engine
 * @proto:	protocol
 * @gaddr:	guest address
 * @gport:	guest port
 * @raddr:	remote address as the guest sees it
 * @rport:	remote port
 *
 * Return: the flow or NULL
 */
struct unet_flow *unet_flow_find(struct usernet *u, uint8_t proto, const struct in6_addr *gaddr,
				 uint16_t gport, const struct in6_addr *raddr, uint16_t rport)
{
	struct unet_flow *f = u->buckets[unet_flow_hash(proto, gaddr, gport, raddr, rport)];

	for (; f; f = f->hnext) {
		if (f->proto == proto && f->gport == gport && f->rport == rport &&
		    IN6_ARE_ADDR_EQUAL(&f->gaddr, gaddr) && IN6_ARE_ADDR_EQUAL(&f->raddr, raddr))
			return f;
	}
	return NULL;
}

/**
 * unet_flow_add() - enter a flow whose key is filled in
 * @u:	the engine
 * @f:	the flow
 *
 * Return: 0, or -ENOSPC when the engine has max_flows flows (counted)
 */
int unet_flow_add(struct usernet *u, struct unet_flow *f)
{
	unsigned int b;

	if (u->nflows >= u->max_flows) {
		u->counters[UNET_C_FLOWS_FULL]++;
		log_ratelimited_warn(&u->rl, "user mode: %u flows, the most it keeps: a new one "
				     "is refused (%llu so far)", u->max_flows,
				     (unsigned long long)u->counters[UNET_C_FLOWS_FULL]);
		return -ENOSPC;
	}
	b = unet_flow_hash(f->proto, &f->gaddr, f->gport, &f->raddr, f->rport);
	f->hnext = u->buckets[b];
	u->buckets[b] = f;
	f->prev = NULL;
	f->next = u->flows;
	if (u->flows)
		u->flows->prev = f;
	u->flows = f;
	f->dead = false;
	u->nflows++;
	unet_tick_arm(u);
	return 0;
}

/**
 * unet_flow_init() - fill what every flow has (not yet in the table)
 * @f:		the flow
 * @kind:	UNET_K_TCP, UNET_K_UDP or UNET_K_ICMP
 * @proto:	its IP protocol
 * @fd:		its host socket (-1: none of its own)
 * @gaddr:	the guest's address
 * @gport:	the guest's port (ICMP: the echo identifier)
 * @raddr:	the remote address, as the guest sees it
 * @rport:	the remote port
 */
void unet_flow_init(struct unet_flow *f, enum unet_kind kind, uint8_t proto, int fd,
		    const struct in6_addr *gaddr, uint16_t gport, const struct in6_addr *raddr,
		    uint16_t rport)
{
	f->kind = (uint8_t)kind;
	f->proto = proto;
	f->fd = fd;
	f->gaddr = *gaddr;
	f->gport = gport;
	f->raddr = *raddr;
	f->rport = rport;
}

/**
 * unet_flow_remove() - close a flow's socket and take it out of the table; its memory is
 *			freed after the current event batch
 * @u:	the engine
 * @f:	the flow
 */
void unet_flow_remove(struct usernet *u, struct unet_flow *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	struct unet_flow **pp = &u->buckets[unet_flow_hash(f->proto, &f->gaddr, f->gport,
							  &f->raddr, f->rport)];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	if (f->prev)
		f->prev->next = f->next;
	else
		u->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	u->nflows--;
	f->dead = true;
	f->next = u->dead;
	u->dead = f;
}

static void unet_free_dead(struct usernet *u)
{
	while (u->dead) {
		struct unet_flow *f = u->dead;

		u->dead = f->next;
		free(f);
	}
}

/* The inner epoll set */

/**
 * unet_watch() - put a socket in the inner epoll set, edge-triggered
 * @u:		the engine
 * @fd:		the socket
 * @obj:	a flow or a forwarding rule (its first member says which)
 * @events:	EPOLLIN, EPOLLOUT, ... (EPOLLET is added)
 *
 * Return: 0 or a negative errno
 */
int unet_watch(struct usernet *u, int fd, void *obj, uint32_t events)
{
	struct epoll_event ev = { .events = events | EPOLLET, .data.ptr = obj };

	return epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void unet_dispatch(struct usernet *u, void *obj, uint32_t events)
{
	enum unet_kind kind = *(const uint8_t *)obj;

	switch (kind) {
	case UNET_K_TCP:
		unet_tcp_event(u, obj, events);
		break;
	case UNET_K_UDP:
		unet_udp_event(u, obj, events);
		break;
	case UNET_K_ICMP:
		unet_icmp_event(u, obj, events);
		break;
	case UNET_K_FWD_TCP:
		unet_tcp_accept(obj);
		break;
	case UNET_K_FWD_UDP:
		unet_udp_hostfwd_readable(obj);
		break;
	}
}

static void unet_epoll_readable(void *opaque)
{
	struct usernet *u = opaque;
	struct epoll_event ev[UNET_EVENTS_MAX];
	int n;

	n = epoll_wait(u->epfd, ev, UNET_EVENTS_MAX, 0);
	for (int i = 0; i < n; i++) {
		struct unet_flow *f = ev[i].data.ptr;

		/* A flow freed earlier in this batch is on the dead list, marked. */
		if ((f->kind == UNET_K_TCP || f->kind == UNET_K_UDP || f->kind == UNET_K_ICMP) &&
		    f->dead)
			continue;
		unet_dispatch(u, f, ev[i].events);
	}
	unet_free_dead(u);
}

/* Timers */

static void unet_tick_fired(void *opaque)
{
	struct usernet *u = opaque;
	int64_t now = loop_now_ns();
	struct unet_flow *f, *next;

	for (f = u->flows; f; f = next) {
		next = f->next;
		switch (f->kind) {
		case UNET_K_TCP:
			unet_tcp_tick(u, f, now);
			break;
		case UNET_K_UDP:
			unet_udp_tick(u, f, now);
			break;
		case UNET_K_ICMP:
			unet_icmp_tick(u, f, now);
			break;
		default:
			break;
		}
		/* A tick frees only its own flow: @next is still linked. */
	}
	unet_free_dead(u);
	if (u->flows)
		loop_timer_mod(u->tick, now + UNET_TICK_NS);
}

/**
 * unet_tick_arm() - make sure the periodic tick runs (while flows exist)
 * @u: the engine
 */
void unet_tick_arm(struct usernet *u)
{
	if (!loop_timer_pending(u->tick))
		loop_timer_mod(u->tick, loop_now_ns() + UNET_TICK_NS);
}

/* Frames to the guest */

/**
 * unet_vnet_hdr_put() - write a struct virtio_net_hdr_v1 (little-endian fields)
 * @buf:	NET_VNET_HDR_LEN bytes
 * @flags:	VIRTIO_NET_HDR_F_*
 * @gso_type:	VIRTIO_NET_HDR_GSO_*
 * @hdr_len:	length of the headers
 * @gso_size:	payload per segment
 * @csum_start:	where the checksum starts
 * @csum_offset: where in it the checksum goes
 *
 * Return: NET_VNET_HDR_LEN
 */
size_t unet_vnet_hdr_put(uint8_t *buf, uint8_t flags, uint8_t gso_type, uint16_t hdr_len,
			 uint16_t gso_size, uint16_t csum_start, uint16_t csum_offset)
{
	struct virtio_net_hdr_v1 h = {
		.flags = flags,
		.gso_type = gso_type,
		.hdr_len = htole16(hdr_len),
		.gso_size = htole16(gso_size),
		.csum_start = htole16(csum_start),
		.csum_offset = htole16(csum_offset),
	};

	memcpy(buf, &h, NET_VNET_HDR_LEN);
	return NET_VNET_HDR_LEN;
}

/**
 * unet_output() - send a frame (vnet header first) to the guest
 * @u:		the engine
 * @iov:	the frame
 * @iovcnt:	pieces
 *
 * Return: as usernet_output_fn; 0 also marks the engine blocked until usernet_resume()
 */
ssize_t unet_output(struct usernet *u, const struct iovec *iov, int iovcnt)
{
	ssize_t ret = u->output(u->opaque, iov, iovcnt);

	if (ret == 0)
		u->blocked = true;
	return ret;
}

/**
 * unet_put_l3() - the Ethernet and IP headers of a frame to the guest, from the engine's MAC;
 *		   IPv4 for addresses of that family, IPv6 otherwise
 * @u:		the engine
 * @buf:	UNET_L3_HLEN_MAX bytes
 * @saddr:	source (the remote end as the guest sees it)
 * @daddr:	destination (the guest)
 * @proto:	protocol
 * @l4_len:	transport length
 *
 * Return: bytes written
 */
size_t unet_put_l3(struct usernet *u, uint8_t *buf, const struct in6_addr *saddr,
		   const struct in6_addr *daddr, uint8_t proto, size_t l4_len)
{
	static const uint8_t broadcast[UNET_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t *dst = u->guest_mac_known ? u->guest_mac : broadcast;

	if (unet_is_v4(saddr))
		return unet_put_eth_ipv4(buf, dst, u->host_mac, unet_v4(saddr), unet_v4(daddr),
					 proto, l4_len, u->ip_id++);
	return unet_put_eth_ipv6(buf, dst, u->host_mac, saddr, daddr, proto, l4_len,
				 UNET_HOP_LIMIT);
}

/**
 * unet_pseudo_sum() - the pseudo-header sum of either family
 * @saddr:	source
 * @daddr:	destination
 * @proto:	protocol
 * @l4_len:	transport length
 *
 * Return: the unfolded sum
 */
uint64_t unet_pseudo_sum(const struct in6_addr *saddr, const struct in6_addr *daddr, uint8_t proto,
			 size_t l4_len)
{
	if (unet_is_v4(saddr))
		return unet_ipv4_pseudo_sum(unet_v4(saddr), unet_v4(daddr), proto, l4_len);
	return unet_ipv6_pseudo_sum(saddr, daddr, proto, l4_len);
}

/**
 * unet_send_plain() - send a whole frame built in one buffer, without offloads
 * @u:		the engine
 * @frame:	the Ethernet frame
 * @len:	its length
 *
 * Return: as unet_output()
 */
ssize_t unet_send_plain(struct usernet *u, const uint8_t *frame, size_t len)
{
	uint8_t vh[NET_VNET_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = vh, .iov_len = sizeof(vh) },
		{ .iov_base = (void *)frame, .iov_len = len },
	};

	/* Every checksum is computed: a guest that takes vnet headers need not check. */
	unet_vnet_hdr_put(vh, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
	return unet_output(u, iov, 2);
}

/**
 * unet_send_datagram() - a UDP or ICMP packet to the guest, its checksum computed here
 * @u:		the engine
 * @saddr:	source
 * @daddr:	destination
 * @proto:	IPPROTO_UDP or IPPROTO_ICMPV6 (checksum with the pseudo-header), or
 *		IPPROTO_ICMP (without)
 * @l4_hdr:	the transport header, its checksum field zero (written here)
 * @l4_hdr_len:	its length
 * @csum_off:	where in it the checksum goes
 * @data:	the payload
 * @len:	its length (the packet must fit the MTU)
 *
 * Return: as unet_output()
 */
ssize_t unet_send_datagram(struct usernet *u, const struct in6_addr *saddr,
			   const struct in6_addr *daddr, uint8_t proto, uint8_t *l4_hdr,
			   size_t l4_hdr_len, size_t csum_off, const uint8_t *data, size_t len)
{
	uint8_t hdr[NET_VNET_HDR_LEN + UNET_L3_HLEN_MAX];
	struct iovec iov[3] = {
		{ .iov_base = hdr },
		{ .iov_base = l4_hdr, .iov_len = l4_hdr_len },
		{ .iov_base = (void *)data, .iov_len = len },
	};
	uint64_t sum = proto == IPPROTO_ICMP ?
		       0 : unet_pseudo_sum(saddr, daddr, proto, l4_hdr_len + len);
	uint16_t csum;

	unet_vnet_hdr_put(hdr, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
	iov[0].iov_len = NET_VNET_HDR_LEN + unet_put_l3(u, hdr + NET_VNET_HDR_LEN, saddr, daddr,
							proto, l4_hdr_len + len);
	memset(l4_hdr + csum_off, 0, 2);
	sum = offload_csum_add(sum, l4_hdr, l4_hdr_len);
	sum = offload_csum_add(sum, data, len);
	csum = offload_csum_fold(sum);
	/* UDP sends a zero sum as all ones (zero means none). */
	if (proto == IPPROTO_UDP && !csum)
		csum = 0xffff;
	memcpy(l4_hdr + csum_off, &csum, sizeof(csum));
	return unet_output(u, iov, 3);
}

/**
 * unet_need_guest_mac() - ask for the guest's MAC (an ARP request) when it is not known yet
 * @u:		the engine
 * @gaddr:	the guest's address
 */
void unet_need_guest_mac(struct usernet *u, const struct in6_addr *gaddr)
{
	uint8_t frame[UNET_ARP_FRAME_LEN];
	size_t len;

	/* One Ethernet address serves both families: ARP finds it. */
	if (u->guest_mac_known || !unet_is_v4(gaddr))
		return;
	len = unet_arp_request(&u->cfg, unet_v4(gaddr), frame, sizeof(frame));
	if (len)
		unet_send_plain(u, frame, len);
}

/**
 * unet_iov_slice() - the iovecs of @len bytes of @iov from @off (pointers into @iov's buffers)
 * @iov:	the whole
 * @iovcnt:	its pieces
 * @off:	where the slice starts
 * @len:	its length
 * @out:	filled
 * @max:	room in @out
 *
 * Return: pieces in @out, or -EINVAL when @iov is shorter or @max too small
 */
int unet_iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len,
		   struct iovec *out, int max)
{
	int n = 0;

	for (int i = 0; i < iovcnt && len; i++) {
		size_t piece = iov[i].iov_len;

		if (off >= piece) {
			off -= piece;
			continue;
		}
		if (n == max)
			return -EINVAL;
		piece -= off;
		if (piece > len)
			piece = len;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[n].iov_len = piece;
		n++;
		len -= piece;
		off = 0;
	}
	return len ? -EINVAL : n;
}

/* guestfwd= rules */

static bool unet_in_net(const struct usernet *u, struct in_addr a)
{
	return (a.s_addr & u->cfg.mask.s_addr) == u->cfg.net.s_addr;
}

/* The rule for @server:@port (@port 0: any rule of @server). */
static struct unet_guestfwd *unet_guestfwd_find(struct usernet *u, struct in_addr server,
						uint16_t port)
{
	for (struct unet_guestfwd *g = u->guestfwds; g; g = g->next) {
		if (g->server.s_addr == server.s_addr && (!port || g->port == port))
			return g;
	}
	return NULL;
}

/* The target protocol address of an ARP request. */
static int unet_arp_target(const struct unet_frame *f, struct in_addr *target)
{
	/* Ethernet/IPv4 ARP: the target protocol address is the body's last 4 of 28 bytes. */
	if (f->l3_off + UNET_ARP_BODY_LEN > f->avail)
		return -EINVAL;
	memcpy(target, f->data + f->l3_off + UNET_ARP_BODY_LEN - sizeof(*target),
	       sizeof(*target));
	return 0;
}

int usernet_guestfwd_add(struct usernet *u, struct in_addr server, uint16_t port,
			 const struct sockaddr *target, socklen_t target_len)
{
	struct unet_guestfwd *g;

	if (!unet_in_net(u, server) || server.s_addr == u->cfg.host.s_addr ||
	    server.s_addr == u->cfg.dns.s_addr || target_len > sizeof(g->target) || !port)
		return -EINVAL;
	if (unet_guestfwd_find(u, server, port))
		return -EEXIST;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->server = server;
	g->port = port;
	memcpy(&g->target, target, target_len);
	g->target_len = target_len;
	g->next = u->guestfwds;
	u->guestfwds = g;
	return 0;
}

/* Addresses */

static struct in6_addr unet_present_peer4(struct usernet *u, struct in_addr peer)
{
	uint32_t a = ntohl(peer.s_addr);

	if (a == INADDR_ANY || (a & UNET_LOOPBACK_MASK) == UNET_LOOPBACK_NET)
		return unet_mapped(u->cfg.host);
	return unet_mapped(peer);
}

static bool unet_in_prefix6(const struct usernet *u, const struct in6_addr *a)
{
	unsigned int bits = u->cfg.prefix6_len;

	for (unsigned int i = 0; i < 16 && bits; i++) {
		uint8_t m = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if ((a->s6_addr[i] & m) != (u->cfg.prefix6.s6_addr[i] & m))
			return false;
		bits -= bits >= 8 ? 8 : bits;
	}
	return true;
}

/**
 * unet_is_engine_addr() - whether @a is one the engine answers for itself (the host's, the
 *			   DNS server's, its link-local)
 * @u:	the engine
 * @a:	the address
 *
 * Return: true or false
 */
bool unet_is_engine_addr(struct usernet *u, const struct in6_addr *a)
{
	if (unet_is_v4(a)) {
		struct in_addr v4 = unet_v4(a);

		return v4.s_addr == u->cfg.host.s_addr || v4.s_addr == u->cfg.dns.s_addr;
	}
	return u->cfg.ipv6 && (IN6_ARE_ADDR_EQUAL(a, &u->cfg.host6) ||
			       IN6_ARE_ADDR_EQUAL(a, &u->cfg.dns6) ||
			       IN6_ARE_ADDR_EQUAL(a, &u->host_ll));
}

static int unet_map_remote4(struct usernet *u, struct in_addr raddr, uint16_t rport,
			    uint8_t proto, struct sockaddr_storage *to, socklen_t *to_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)to;
	uint32_t a = ntohl(raddr.s_addr);

	sin->sin_family = AF_INET;
	sin->sin_port = htons(rport);
	*to_len = sizeof(*sin);
	if (raddr.s_addr == u->cfg.host.s_addr) {
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (raddr.s_addr == u->cfg.dns.s_addr && rport == UNET_DNS_PORT &&
	    proto != IPPROTO_ICMP && u->resolver_len) {
		memcpy(to, &u->resolver, u->resolver_len);
		*to_len = u->resolver_len;
		return 0;
	}
	if (unet_in_net(u, raddr) || a == INADDR_ANY || a == INADDR_BROADCAST ||
	    IN_MULTICAST(a) || (a & UNET_LOOPBACK_MASK) == UNET_LOOPBACK_NET)
		return -EHOSTUNREACH;
	sin->sin_addr = raddr;
	return 0;
}

static int unet_map_remote6(struct usernet *u, const struct in6_addr *raddr, uint16_t rport,
			    uint8_t proto, struct sockaddr_storage *to, socklen_t *to_len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)to;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(rport);
	*to_len = sizeof(*sin6);
	if (!u->cfg.ipv6)
		return -EHOSTUNREACH;
	if (IN6_ARE_ADDR_EQUAL(raddr, &u->cfg.host6)) {
		sin6->sin6_addr = in6addr_loopback;
		return 0;
	}
	if (IN6_ARE_ADDR_EQUAL(raddr, &u->cfg.dns6) && rport == UNET_DNS_PORT &&
	    proto != IPPROTO_ICMPV6 && u->resolver_len) {
		memcpy(to, &u->resolver, u->resolver_len);
		*to_len = u->resolver_len;
		return 0;
	}
	if (unet_in_prefix6(u, raddr) || IN6_IS_ADDR_UNSPECIFIED(raddr) ||
	    IN6_IS_ADDR_LOOPBACK(raddr) || IN6_IS_ADDR_MULTICAST(raddr) ||
	    IN6_IS_ADDR_LINKLOCAL(raddr) || IN6_IS_ADDR_V4MAPPED(raddr))
		return -EHOSTUNREACH;
	sin6->sin6_addr = *raddr;
	return 0;
}

/**
 * unet_map_remote() - where on the host a guest's flow to @raddr:@rport goes
 * @u:		the engine
 * @raddr:	the destination the guest chose
 * @rport:	its port
 * @proto:	IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6
 * @to:		filled
 * @to_len:	set to its length
 *
 * A guestfwd= rule leads where it says (restricted or not). The host address leads to the
 * host's loopback, the DNS address (port 53) to the host's resolver; other addresses of the
 * virtual network, broadcast, multicast, link-local and loopback lead nowhere; with
 * restrict=on nothing else leads anywhere.
 *
 * Return: 0, -EPERM (restricted) or -EHOSTUNREACH (counted)
 */
int unet_map_remote(struct usernet *u, const struct in6_addr *raddr, uint16_t rport,
		    uint8_t proto, struct sockaddr_storage *to, socklen_t *to_len)
{
	int ret;

	memset(to, 0, sizeof(*to));
	if (proto == IPPROTO_TCP && unet_is_v4(raddr)) {
		struct unet_guestfwd *g = unet_guestfwd_find(u, unet_v4(raddr), rport);

		if (g) {
			memcpy(to, &g->target, g->target_len);
			*to_len = g->target_len;
			return 0;
		}
	}
	if (u->cfg.restricted) {
		u->counters[UNET_C_RESTRICTED]++;
		return -EPERM;
	}
	if (unet_is_v4(raddr))
		ret = unet_map_remote4(u, unet_v4(raddr), rport, proto, to, to_len);
	else
		ret = unet_map_remote6(u, raddr, rport, proto, to, to_len);
	if (ret < 0)
		u->counters[UNET_C_NO_ROUTE]++;
	return ret;
}

/**
 * unet_present_peer() - the address the guest sees for a host peer: the host address for
 *			 the host's own (loopback or unspecified), the peer's otherwise
 * @u:		the engine
 * @peer:	the peer's real address (AF_INET or AF_INET6)
 * @port:	set to its port (host order)
 *
 * Return: the address to use in frames to the guest (IPv4 as ::ffff:a.b.c.d)
 */
struct in6_addr unet_present_peer(struct usernet *u, const struct sockaddr_storage *peer,
				  uint16_t *port)
{
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;

		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			return u->cfg.host6;
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return sin6->sin6_addr;
		return unet_present_peer4(u, unet_v4(&sin6->sin6_addr));
	}
	*port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
	return unet_present_peer4(u, ((const struct sockaddr_in *)peer)->sin_addr);
}

/* The first nameserver of resolv.conf (IPv4 preferred), as libslirp forwards 10.0.2.3 to it. */
static void unet_read_resolver(struct usernet *u)
{
	FILE *f = fopen(UNET_RESOLV_CONF, "re");
	char line[256], addr[64];
	bool have6 = false;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(UNET_DNS_PORT) };
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
					     .sin6_port = htons(UNET_DNS_PORT) };

		if (sscanf(line, " nameserver %63s", addr) != 1)
			continue;
		if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
			memcpy(&u->resolver, &sin, sizeof(sin));
			u->resolver_len = sizeof(sin);
			break;
		}
		if (!have6 && inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
			memcpy(&u->resolver, &sin6, sizeof(sin6));
			u->resolver_len = sizeof(sin6);
			have6 = true;
		}
	}
	fclose(f);
}

/* Frames from the guest */

static void unet_learn_guest(struct usernet *u, const uint8_t *mac)
{
	/* A unicast source only: a broadcast or multicast source is not a station. */
	if (mac[0] & 1)
		return;
	if (!u->guest_mac_known || memcmp(u->guest_mac, mac, UNET_ETH_ALEN)) {
		memcpy(u->guest_mac, mac, UNET_ETH_ALEN);
		u->guest_mac_known = true;
	}
}

static void unet_arp_input(struct usernet *u, const struct unet_frame *f)
{
	uint8_t reply[UNET_ARP_FRAME_LEN];
	size_t len = unet_arp_answer(&u->cfg, f, reply, sizeof(reply), NULL);
	struct in_addr target;

	/* A guestfwd= server answers as the host does, with a MAC of its own address: ask
	 * arp.c on behalf of a network whose host address is that server. */
	if (!len && unet_arp_target(f, &target) == 0 && unet_guestfwd_find(u, target, 0)) {
		struct usernet_config cfg = u->cfg;

		cfg.host = target;
		len = unet_arp_answer(&cfg, f, reply, sizeof(reply), NULL);
	}
	if (len)
		unet_send_plain(u, reply, len);
}

static void unet_dhcp_input(struct usernet *u, const struct unet_frame *f)
{
	size_t len = unet_dhcp_answer(&u->dhcp, &u->cfg, f, u->scratch, sizeof(u->scratch), NULL);

	if (len)
		unet_send_plain(u, u->scratch, len);
}

/* The guest's IPv6 control traffic: NDP and stateless DHCPv6, answered here. */
static bool unet_ipv6_service(struct usernet *u, const struct unet_frame *f)
{
	size_t len = 0;

	if (f->proto == IPPROTO_ICMPV6 && f->icmp_type >= UNET_ICMP6_RS &&
	    f->icmp_type <= UNET_ICMP6_NA)
		len = unet_ndp_answer(&u->cfg, u->host_mac, f, u->scratch, sizeof(u->scratch));
	else if (f->proto == IPPROTO_UDP && f->dport == UNET_DHCPV6_SERVER_PORT)
		len = unet_dhcpv6_answer(&u->cfg, u->host_mac, f, u->scratch, sizeof(u->scratch));
	else
		return false;
	if (len)
		unet_send_plain(u, u->scratch, len);
	return true;
}

/* The first frame of a guest: tell it of the IPv6 router at once, not only when it asks. */
static void unet_greet_guest(struct usernet *u)
{
	size_t len;

	if (u->ra_sent || !u->cfg.ipv6)
		return;
	u->ra_sent = true;
	len = unet_ndp_advertise(&u->cfg, u->host_mac, u->scratch, sizeof(u->scratch));
	if (len)
		unet_send_plain(u, u->scratch, len);
}

void usernet_input(struct usernet *u, const struct iovec *iov, int iovcnt, bool vnet_hdr)
{
	size_t off = vnet_hdr ? NET_VNET_HDR_LEN : 0;
	size_t total = net_iov_size(iov, iovcnt);
	struct unet_frame f;
	enum unet_drop why;
	size_t len, avail;

	if (total < off) {
		u->drops[UNET_DROP_SHORT]++;
		return;
	}
	len = total - off;
	/* Headers come first: TCP needs no more, its payload goes from the guest's buffers. */
	avail = len < UNET_HDR_PEEK ? len : UNET_HDR_PEEK;
	net_iov_to_buf(iov, iovcnt, off, u->hdr, avail);
	why = unet_frame_parse(u->hdr, avail, len, &f);
	if (why == UNET_DROP_NONE && f.proto != IPPROTO_TCP && len > avail) {
		size_t more = (len < sizeof(u->hdr) ? len : sizeof(u->hdr)) - avail;

		net_iov_to_buf(iov, iovcnt, off + avail, u->hdr + avail, more);
		avail += more;
		why = unet_frame_parse(u->hdr, avail, len, &f);
	}
	if (why != UNET_DROP_NONE) {
		u->drops[why]++;
		return;
	}
	unet_learn_guest(u, f.src_mac);
	if (f.ethertype == UNET_ETHERTYPE_ARP) {
		unet_arp_input(u, &f);
		return;
	}
	if (f.ip_version == 6) {
		if (!u->cfg.ipv6) {
			u->drops[UNET_DROP_ETHERTYPE]++;
			return;
		}
		if (unet_ipv6_service(u, &f))
			return;
	}
	unet_greet_guest(u);
	switch (f.proto) {
	case IPPROTO_TCP:
		unet_tcp_input(u, &f, iov, iovcnt, off);
		break;
	case IPPROTO_UDP:
		if (f.dport == UNET_DHCP_SERVER_PORT)
			unet_dhcp_input(u, &f);
		else
			unet_udp_input(u, &f, iov, iovcnt, off);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		unet_icmp_input(u, &f, iov, iovcnt, off);
		break;
	default:
		break;
	}
	unet_free_dead(u);
}

void usernet_resume(struct usernet *u)
{
	struct unet_flow *f, *next;

	u->blocked = false;
	for (f = u->flows; f && !u->blocked; f = next) {
		next = f->next;
		if (f->kind == UNET_K_TCP)
			unet_tcp_resume(u, f);
	}
	unet_free_dead(u);
}

/* Forwarding rules */

static void unet_hostfwd_close(struct usernet *u, struct unet_hostfwd *fwd)
{
	epoll_ctl(u->epfd, EPOLL_CTL_DEL, fwd->fd, NULL);
	close(fwd->fd);
	free(fwd);
}

int usernet_hostfwd_add(struct usernet *u, bool udp, const struct sockaddr_in *host,
			const struct sockaddr_in *guest)
{
	struct unet_hostfwd *fwd;
	int one = 1, ret;

	for (fwd = u->fwds; fwd; fwd = fwd->next) {
		/* The same rule twice: what bind() would say of the second (QEMU's wording). */
		if (fwd->udp == udp && fwd->host.sin_port == host->sin_port &&
		    fwd->host.sin_addr.s_addr == host->sin_addr.s_addr)
			return -EADDRINUSE;
	}
	fwd = calloc(1, sizeof(*fwd));
	if (!fwd)
		return -ENOMEM;
	fwd->kind = udp ? UNET_K_FWD_UDP : UNET_K_FWD_TCP;
	fwd->u = u;
	fwd->udp = udp;
	fwd->host = *host;
	fwd->host.sin_family = AF_INET;
	fwd->guest = *guest;
	if (!fwd->guest.sin_addr.s_addr)
		fwd->guest.sin_addr = u->cfg.dhcp_start;
	fwd->fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0);
	if (fwd->fd < 0) {
		ret = -errno;
		free(fwd);
		return ret;
	}
	setsockopt(fwd->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fwd->fd, (struct sockaddr *)&fwd->host, sizeof(fwd->host)) < 0 ||
	    (!udp && listen(fwd->fd, SOMAXCONN) < 0)) {
		ret = -errno;
		goto err;
	}
	ret = unet_watch(u, fwd->fd, fwd, EPOLLIN);
	if (ret < 0)
		goto err;
	fwd->next = u->fwds;
	u->fwds = fwd;
	return 0;
err:
	close(fwd->fd);
	free(fwd);
	return ret;
}

int usernet_hostfwd_remove(struct usernet *u, bool udp, const struct sockaddr_in *host)
{
	for (struct unet_hostfwd **pp = &u->fwds; *pp; pp = &(*pp)->next) {
		struct unet_hostfwd *fwd = *pp;

		if (fwd->udp == udp && fwd->host.sin_port == host->sin_port &&
		    fwd->host.sin_addr.s_addr == host->sin_addr.s_addr) {
			*pp = fwd->next;
			unet_udp_forget_fwd(u, fwd);
			unet_hostfwd_close(u, fwd);
			return 0;
		}
	}
	return -ENOENT;
}

/* Life */

struct usernet *usernet_new(struct loop *loop, const struct usernet_config *cfg,
			    usernet_output_fn *output, void *opaque, int *errp)
{
	struct usernet *u = calloc(1, sizeof(*u));
	int ret = -ENOMEM;

	if (!u)
		goto fail;
	u->epfd = -1;
	u->loop = loop;
	u->cfg = *cfg;
	if (!u->cfg.mtu)
		u->cfg.mtu = 1500;
	u->output = output;
	u->opaque = opaque;
	u->max_flows = cfg->max_flows ? cfg->max_flows : UNET_MAX_FLOWS_DEFAULT;
	unet_arp_mac(cfg->host, u->host_mac);
	unet_ndp_link_local(u->host_mac, &u->host_ll);
	u->host4 = unet_mapped(cfg->host);
	u->buckets = calloc(UNET_HASH_BUCKETS, sizeof(*u->buckets));
	u->payload_size = UNET_PAYLOAD_BUF;
	u->payload = malloc(u->payload_size);
	u->tick = loop_timer_new(loop, unet_tick_fired, u);
	u->tcp_wnd_timer = loop_timer_new(loop, unet_tcp_wnd_poll, u);
	if (!u->buckets || !u->payload || !u->tick || !u->tcp_wnd_timer)
		goto err;
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (u->epfd < 0) {
		ret = -errno;
		goto err;
	}
	ret = loop_set_fd_handler(loop, u->epfd, NULL, unet_epoll_readable, NULL, u);
	if (ret < 0)
		goto err;
	unet_read_resolver(u);
	return u;
err:
	usernet_free(u);
fail:
	if (errp)
		*errp = ret;
	return NULL;
}

void usernet_set_lend(struct usernet *u, usernet_lend_fn *lend, usernet_commit_fn *commit)
{
	u->lend = lend;
	u->commit = commit;
}

void usernet_set_gso(struct usernet *u, usernet_gso_fn *gso)
{
	u->gso = gso;
}

void usernet_free(struct usernet *u)
{
	if (!u)
		return;
	while (u->flows) {
		struct unet_flow *f = u->flows;

		switch (f->kind) {
		case UNET_K_TCP:
			unet_tcp_free(u, f);
			break;
		case UNET_K_UDP:
			unet_udp_free(u, f);
			break;
		default:
			unet_icmp_free(u, f);
			break;
		}
	}
	unet_free_dead(u);
	while (u->fwds) {
		struct unet_hostfwd *fwd = u->fwds;

		u->fwds = fwd->next;
		unet_hostfwd_close(u, fwd);
	}
	while (u->guestfwds) {
		struct unet_guestfwd *g = u->guestfwds;

		u->guestfwds = g->next;
		free(g);
	}
	if (u->epfd >= 0) {
		loop_set_fd_handler(u->loop, u->epfd, NULL, NULL, NULL, NULL);
		close(u->epfd);
	}
	loop_timer_free(u->tick);
	loop_timer_free(u->tcp_wnd_timer);
	free(u->payload);
	free(u->buckets);
	free(u);
}

/* The monitor */

static void unet_addr_str(const struct in6_addr *a, char *buf, size_t size)
{
	if (unet_is_v4(a)) {
		struct in_addr v4 = unet_v4(a);

		inet_ntop(AF_INET, &v4, buf, (socklen_t)size);
	} else {
		inet_ntop(AF_INET6, a, buf, (socklen_t)size);
	}
}

void usernet_print_flows(struct usernet *u, FILE *out)
{
	char host[INET6_ADDRSTRLEN], guest[INET6_ADDRSTRLEN];

	fprintf(out, "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\n");
	for (struct unet_hostfwd *fwd = u->fwds; fwd; fwd = fwd->next) {
		inet_ntop(AF_INET, &fwd->host.sin_addr, host, sizeof(host));
		inet_ntop(AF_INET, &fwd->guest.sin_addr, guest, sizeof(guest));
		fprintf(out, "  %-19s%3d %15s %5d %15s %5d %5d %5d\n",
			fwd->udp ? "UDP[HOST_FORWARD]" : "TCP[HOST_FORWARD]", fwd->fd,
			fwd->host.sin_addr.s_addr ? host : "*", ntohs(fwd->host.sin_port), guest,
			ntohs(fwd->guest.sin_port), 0, 0);
	}
	for (struct unet_flow *f = u->flows; f; f = f->next) {
		unet_addr_str(&f->gaddr, guest, sizeof(guest));
		unet_addr_str(&f->raddr, host, sizeof(host));
		fprintf(out, "  %-19s%3d %15s %5d %15s %5d %5d %5d\n",
			f->kind == UNET_K_TCP ? unet_tcp_state(f) :
			f->kind == UNET_K_UDP ? "UDP" : "ICMP",
			f->fd, guest, f->gport, host, f->rport, 0, 0);
	}
}

void usernet_counters(struct usernet *u, usernet_counter_fn *add, void *opaque)
{
	add(opaque, "flows", u->nflows);
	for (int i = 0; i < UNET_C_MAX; i++)
		add(opaque, unet_counter_names[i], u->counters[i]);
	for (int i = 1; i < UNET_DROP_MAX; i++)
		add(opaque, unet_drop_name(i), u->drops[i]);
}
