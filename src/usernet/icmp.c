// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * icmp.c - the guest's pings, IPv4 and IPv6: an echo request to one of the engine's addresses
 * is answered here; one to any other address goes out through an unprivileged ping socket
 * (one per guest identifier and destination, so the kernel keeps the identifiers apart), and
 * the replies come back with the guest's identifier. Without ping sockets
 * (net.ipv4.ping_group_range) such requests are dropped and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usernet/unet.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* A quiet echo flow ends after this long. */
#define UNET_ICMP_TIMEOUT_NS 60000000000LL
#define UNET_ICMP_OFF_CSUM 2
#define UNET_ICMP_OFF_ID 4
/* Replies read from a socket per event. */
#define UNET_ICMP_BUDGET 32

/**
 * struct unet_icmp - the echo requests of one guest identifier to one destination
 * @f:		the flow (gport: the guest's identifier)
 * @last_ns:	last request or reply
 */
struct unet_icmp {
	struct unet_flow f;
	int64_t last_ns;
};

/* An echo reply from @saddr to the guest: @body is the message after its 8-byte header. */
static void unet_icmp_reply(struct usernet *u, const struct in6_addr *saddr,
			    const struct in6_addr *daddr, uint16_t id, uint16_t seq,
			    const uint8_t *body, size_t len)
{
	bool v4 = unet_is_v4(saddr);
	uint8_t hdr[UNET_ICMP_HLEN] = { v4 ? UNET_ICMP_ECHOREPLY : UNET_ICMP6_ECHOREPLY, 0, 0, 0,
					(uint8_t)(id >> 8), (uint8_t)id,
					(uint8_t)(seq >> 8), (uint8_t)seq };

	if ((v4 ? UNET_IPV4_HLEN : UNET_IPV6_HLEN) + UNET_ICMP_HLEN + len > u->cfg.mtu)
		return;
	unet_send_datagram(u, saddr, daddr, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, hdr, sizeof(hdr),
			   UNET_ICMP_OFF_CSUM, body, len);
}

void unet_icmp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		     int iovcnt, size_t frame_off)
{
	uint8_t *msg = u->payload;
	const uint8_t *body = msg + UNET_ICMP_HLEN;
	bool v4 = f->proto == IPPROTO_ICMP;
	struct unet_flow *fl;
	struct unet_icmp *e;

	if (f->icmp_type != (v4 ? UNET_ICMP_ECHO : UNET_ICMP6_ECHO) ||
	    UNET_ICMP_HLEN + f->payload_len > u->payload_size)
		return;
	/* The whole message from the guest's buffers: a large echo lies beyond f->avail. */
	if (net_iov_to_buf(iov, iovcnt, frame_off + f->l4_off, msg,
			   UNET_ICMP_HLEN + f->payload_len) != UNET_ICMP_HLEN + f->payload_len)
		return;
	if (unet_is_engine_addr(u, &f->daddr6)) {
		unet_icmp_reply(u, &f->daddr6, &f->saddr6, f->icmp_id, f->icmp_seq, body,
				f->payload_len);
		return;
	}
	fl = unet_flow_find(u, f->proto, &f->saddr6, f->icmp_id, &f->daddr6, 0);
	if (!fl) {
		struct sockaddr_storage to;
		socklen_t to_len;
		int fd;

		if (unet_map_remote(u, &f->daddr6, 0, f->proto, &to, &to_len) < 0)
			return;
		fd = socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, f->proto);
		if (fd < 0) {
			u->counters[UNET_C_NO_ROUTE]++;
			return;
		}
		if (connect(fd, (struct sockaddr *)&to, to_len) < 0) {
			close(fd);
			return;
		}
		e = calloc(1, sizeof(*e));
		if (!e) {
			close(fd);
			return;
		}
		unet_flow_init(&e->f, UNET_K_ICMP, f->proto, fd, &f->saddr6, f->icmp_id, &f->daddr6,
			       0);
		if (unet_flow_add(u, &e->f) < 0) {
			close(fd);
			free(e);
			return;
		}
		if (unet_watch(u, fd, e, EPOLLIN) < 0) {
			unet_flow_remove(u, &e->f);
			return;
		}
		u->counters[UNET_C_ICMP_OPENED]++;
	} else {
		e = (struct unet_icmp *)fl;
	}
	/* The kernel sets the identifier and the checksum of what a ping socket sends. */
	send(e->f.fd, msg, UNET_ICMP_HLEN + f->payload_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	e->last_ns = loop_now_ns();
}

void unet_icmp_event(struct usernet *u, struct unet_flow *f, uint32_t events)
{
	struct unet_icmp *e = (struct unet_icmp *)f;

	(void)events;
	f->more = false;
	for (int i = 0; i < UNET_ICMP_BUDGET; i++) {
		ssize_t n = recv(e->f.fd, u->payload, u->payload_size, MSG_DONTWAIT);
		const uint8_t *m = u->payload;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			continue;
		}
		if (n < UNET_ICMP_HLEN ||
		    m[0] != (e->f.proto == IPPROTO_ICMP ? UNET_ICMP_ECHOREPLY : UNET_ICMP6_ECHOREPLY))
			continue;
		unet_icmp_reply(u, &e->f.raddr, &e->f.gaddr, e->f.gport,
				(uint16_t)(m[6] << 8 | m[7]), m + UNET_ICMP_HLEN,
				(size_t)n - UNET_ICMP_HLEN);
		e->last_ns = loop_now_ns();
	}
	f->more = true;
}

void unet_icmp_tick(struct usernet *u, struct unet_flow *f, int64_t now)
{
	struct unet_icmp *e = (struct unet_icmp *)f;

	if (f->more) {
		unet_icmp_event(u, f, EPOLLIN);
		return;
	}
	if (now - e->last_ns > UNET_ICMP_TIMEOUT_NS)
		unet_flow_remove(u, &e->f);
}

void unet_icmp_free(struct usernet *u, struct unet_flow *f)
{
	unet_flow_remove(u, f);
}
