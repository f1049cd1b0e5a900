// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * udp.c - the guest's UDP as flows: the first datagram from a guest port to a remote port
 * opens a connected host socket (the DNS address leads to the host's resolver), later ones
 * reuse it, and what the socket receives goes back to the guest from the remote it chose.
 * A forwarded host port makes a flow per host peer that shares the rule's socket. Flows end
 * after a quiet while (DNS sooner).
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

/* A quiet flow ends after this long; a DNS query's after a shorter while. */
#define UNET_UDP_TIMEOUT_NS 180000000000LL
#define UNET_UDP_DNS_TIMEOUT_NS 10000000000LL
#define UNET_UDP_DNS_PORT 53
#define UNET_UDP_OFF_LEN 4
#define UNET_UDP_OFF_CSUM 6
/* Pieces of a guest datagram's payload sent at once. */
#define UNET_UDP_IOV_MAX 16
/* Datagrams read from a socket per event, so one flow cannot hold the loop. */
#define UNET_UDP_BUDGET 64

/**
 * struct unet_udp - one UDP flow
 * @f:		the flow (its socket: -1 for a forwarded port's, which uses @fwd's)
 * @fwd:	the forwarding rule it came through, or NULL
 * @peer:	the host peer of a forwarded flow
 * @peer_len:	its length
 * @timeout_ns:	how long it may be quiet
 * @last_ns:	last datagram either way
 */
struct unet_udp {
	struct unet_flow f;
	struct unet_hostfwd *fwd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int64_t timeout_ns;
	int64_t last_ns;
};

static struct unet_udp *unet_udp_alloc(struct usernet *u, const struct in6_addr *gaddr,
				       uint16_t gport, const struct in6_addr *raddr, uint16_t rport,
				       int fd)
{
	struct unet_udp *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	unet_flow_init(&d->f, UNET_K_UDP, IPPROTO_UDP, fd, gaddr, gport, raddr, rport);
	d->timeout_ns = rport == UNET_UDP_DNS_PORT ? UNET_UDP_DNS_TIMEOUT_NS : UNET_UDP_TIMEOUT_NS;
	d->last_ns = loop_now_ns();
	if (unet_flow_add(u, &d->f) < 0) {
		free(d);
		return NULL;
	}
	if (fd >= 0 && unet_watch(u, fd, d, EPOLLIN) < 0) {
		d->f.fd = -1; /* the caller closes it */
		unet_flow_remove(u, &d->f);
		return NULL;
	}
	u->counters[UNET_C_UDP_OPENED]++;
	return d;
}

/* A datagram from the remote end of @d to the guest. */
static void unet_udp_to_guest(struct usernet *u, struct unet_udp *d, const uint8_t *data,
			      size_t len)
{
	uint8_t hdr[UNET_UDP_HLEN];
	size_t l4_len = UNET_UDP_HLEN + len;
	size_t ip_hlen = unet_is_v4(&d->f.gaddr) ? UNET_IPV4_HLEN : UNET_IPV6_HLEN;

	/* No fragments: a datagram larger than the link's MTU is dropped. */
	if (l4_len + ip_hlen > u->cfg.mtu) {
		u->counters[UNET_C_BAD_SEGMENT]++;
		return;
	}
	hdr[0] = (uint8_t)(d->f.rport >> 8);
	hdr[1] = (uint8_t)d->f.rport;
	hdr[2] = (uint8_t)(d->f.gport >> 8);
	hdr[3] = (uint8_t)d->f.gport;
	hdr[UNET_UDP_OFF_LEN] = (uint8_t)(l4_len >> 8);
	hdr[UNET_UDP_OFF_LEN + 1] = (uint8_t)l4_len;
	unet_send_datagram(u, &d->f.raddr, &d->f.gaddr, IPPROTO_UDP, hdr, sizeof(hdr),
			   UNET_UDP_OFF_CSUM, data, len);
	d->last_ns = loop_now_ns();
}

void unet_udp_input(struct usernet *u, const struct unet_frame *f, const struct iovec *iov,
		    int iovcnt, size_t frame_off)
{
	struct unet_flow *fl = unet_flow_find(u, IPPROTO_UDP, &f->saddr6, f->sport, &f->daddr6,
					      f->dport);
	struct iovec piece[UNET_UDP_IOV_MAX];
	struct msghdr mh = { .msg_iov = piece };
	struct unet_udp *d;
	int cnt;

	if (!fl) {
		struct sockaddr_storage to;
		socklen_t to_len;
		int fd;

		if (unet_map_remote(u, &f->daddr6, f->dport, IPPROTO_UDP, &to, &to_len) < 0)
			return;
		fd = socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return;
		if (connect(fd, (struct sockaddr *)&to, to_len) < 0) {
			close(fd);
			return;
		}
		d = unet_udp_alloc(u, &f->saddr6, f->sport, &f->daddr6, f->dport, fd);
		if (!d) {
			close(fd);
			return;
		}
	} else {
		d = (struct unet_udp *)fl;
	}
	cnt = unet_iov_slice(iov, iovcnt, frame_off + f->payload_off, f->payload_len, piece,
			     UNET_UDP_IOV_MAX);
	if (cnt < 0) {
		u->counters[UNET_C_BAD_SEGMENT]++;
		return;
	}
	mh.msg_iovlen = (size_t)cnt;
	if (d->fwd) {
		mh.msg_name = &d->peer;
		mh.msg_namelen = d->peer_len;
		sendmsg(d->fwd->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		sendmsg(d->f.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	d->last_ns = loop_now_ns();
}

void unet_udp_event(struct usernet *u, struct unet_flow *f, uint32_t events)
{
	struct unet_udp *d = (struct unet_udp *)f;

	(void)events;
	f->more = false;
	for (int i = 0; i < UNET_UDP_BUDGET; i++) {
		ssize_t n = recv(d->f.fd, u->payload, u->payload_size, MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			continue; /* an ICMP error from the remote: nothing to tell the guest */
		}
		if ((size_t)n > u->payload_size)
			continue;
		unet_udp_to_guest(u, d, u->payload, (size_t)n);
	}
	f->more = true;
}

void unet_udp_hostfwd_readable(struct unet_hostfwd *fwd)
{
	struct usernet *u = fwd->u;
	struct in6_addr gaddr = unet_mapped(fwd->guest.sin_addr);
	uint16_t gport = ntohs(fwd->guest.sin_port);

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fwd->fd, u->payload, u->payload_size, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&peer, &plen);
		struct in6_addr raddr;
		struct unet_flow *fl;
		struct unet_udp *d;
		uint16_t rport;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			continue;
		}
		if ((size_t)n > u->payload_size || plen > sizeof(peer))
			continue;
		raddr = unet_present_peer(u, &peer, &rport);
		fl = unet_flow_find(u, IPPROTO_UDP, &gaddr, gport, &raddr, rport);
		if (fl) {
			d = (struct unet_udp *)fl;
		} else {
			d = unet_udp_alloc(u, &gaddr, gport, &raddr, rport, -1);
			if (!d)
				continue;
			d->fwd = fwd;
			d->peer = peer;
			d->peer_len = plen;
			d->timeout_ns = UNET_UDP_TIMEOUT_NS;
		}
		unet_need_guest_mac(u, &d->f.gaddr);
		unet_udp_to_guest(u, d, u->payload, (size_t)n);
	}
}

void unet_udp_forget_fwd(struct usernet *u, struct unet_hostfwd *fwd)
{
	struct unet_flow *f, *next;

	for (f = u->flows; f; f = next) {
		next = f->next;
		if (f->kind == UNET_K_UDP && ((struct unet_udp *)f)->fwd == fwd)
			unet_flow_remove(u, f);
	}
}

void unet_udp_tick(struct usernet *u, struct unet_flow *f, int64_t now)
{
	struct unet_udp *d = (struct unet_udp *)f;

	if (f->more) {
		unet_udp_event(u, f, EPOLLIN);
		return;
	}
	if (now - d->last_ns > d->timeout_ns)
		unet_flow_remove(u, &d->f);
}

void unet_udp_free(struct usernet *u, struct unet_flow *f)
{
	unet_flow_remove(u, f);
}
