// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * user.c - user-mode networking (-netdev user) as one net client, served by one of two engines:
 * vwire's own (engine=native, the default, src/usernet/), which mirrors guest flows onto host
 * sockets, or libslirp (engine=slirp, also chosen for what the native engine lacks). The native engine gets each guest frame as it is and
 * sends frames to the guest with a vnet header; the rest of this comment is about libslirp.
 *
 * Out of the guest: a frame the peer sends goes to slirp_input() (copied into the client's
 * buffer only when it comes in pieces). Into the guest: each frame libslirp builds is sent to
 * the peer with net_send_iov() and no completion; libslirp has no flow control, so a peer
 * that cannot take it queues it and a full queue drops it (counted; TCP recovers).
 * Loop integration: libslirp's host sockets sit in one inner epoll set whose fd the loop
 * watches. A "round" (a bottom half, so at most one per loop round) runs after anything that
 * touches libslirp: a guest frame, a ready socket, a timer, a forwarding change. It gathers the
 * ready sockets (epoll_wait, no wait), calls slirp_pollfds_poll(), then slirp_pollfds_fill()
 * and brings the epoll set to exactly what libslirp asked for (one epoll_ctl per socket whose
 * interest changed, none otherwise), and arms a timer at the timeout libslirp returned for its
 * TCP timers. Every change of libslirp's state happens in one of those entry points and the
 * round runs before the loop sleeps again, so no event is missed; a socket libslirp does not
 * ask about is out of the set, so a readiness it would ignore (a hang-up) cannot spin the
 * loop. libslirp reports each socket it closes (unregister_poll_fd) and creates
 * (register_poll_fd) so that a reused fd number never inherits a stale registration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/user-config.h"
#include "backends/user-guestfwd.h"
#include "backends/user.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/netdev.h"
#include "usernet/usernet.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* libslirp's default guestfwd server: the network's .4 */
#define USER_GUESTFWD_PART 0x0204u
/* libslirp's timeouts are milliseconds on the clock_get_ns() clock. */
#define USER_NS_PER_MS 1000000LL

/**
 * struct user_fd - the inner epoll set's view of one of libslirp's sockets
 * @in_set:	registered in the set
 * @events:	the epoll events registered
 * @gen:	the fill that last asked for it; @idx is meaningful only when it is the latest
 * @idx:	the index add_poll gave it in that fill
 */
struct user_fd {
	bool in_set;
	uint32_t events;
	uint32_t gen;
	int idx;
};

/**
 * struct user_timer - a timer libslirp created (the router advertisement timer)
 * @u:		its netdev
 * @id:		libslirp's id for it, given back to slirp_handle_timer()
 * @cb_opaque:	libslirp's argument for it
 * @timer:	the loop timer
 * @next:	next timer of the netdev
 */
struct user_timer {
	struct user *u;
	SlirpTimerId id;
	void *cb_opaque;
	struct loop_timer *timer;
	struct user_timer *next;
};

/**
 * struct user_guestfwd_rule - where a guestfwd= rule listens in the guest's network
 * @addr:	server address
 * @port:	server port
 */
struct user_guestfwd_rule {
	struct in_addr addr;
	int port;
};

/**
 * struct user - a -netdev user
 * @nc:		the net client (first)
 * @slirp:	the libslirp stack
 * @epfd:	inner epoll set of libslirp's sockets; the loop watches this fd
 * @round_bh:	runs a round: poll libslirp's sockets, refill the set, re-arm @poll_timer
 * @poll_timer:	fires when libslirp's TCP timers are due
 * @fds:	per fd number: its place in the set
 * @nfds:	entries in @fds
 * @polled:	fds libslirp asked for in the latest fill, by index
 * @revents:	their ready events (SLIRP_POLL_*), gathered before slirp_pollfds_poll()
 * @npolled:	entries used in @polled and @revents
 * @prev:	the fds of the fill before (spare array swapped with @polled)
 * @nprev:	entries in @prev
 * @cap:	room in @polled, @prev, @revents and @events
 * @events:	buffer for epoll_wait()
 * @gen:	number of the latest fill
 * @in_slirp:	a libslirp call is running; libslirp is not re-entrant
 * @rx_buf:	a guest frame made contiguous for slirp_input() (NET_MAX_PACKET bytes)
 * @timers:	libslirp's timers
 * @net:	the IPv4 network
 * @mask:	its netmask
 * @guestfwds:	the guestfwd= rules' server addresses and ports
 * @nguestfwds:	their count
 * @relays:	relays of guestfwd= rules to tcp:HOST:PORT
 * @nrelays:	their count
 * @peer_drops:	frames for the guest dropped because the peer's queue was full
 * @rl:		rate limit of guest-caused warnings
 */
struct user {
	struct net_client nc;
	struct usernet *native;
	Slirp *slirp;
	int epfd;
	struct loop_bh *round_bh;
	struct loop_timer *poll_timer;
	struct user_fd *fds;
	size_t nfds;
	int *polled;
	int *revents;
	size_t npolled;
	int *prev;
	size_t nprev;
	size_t cap;
	struct epoll_event *events;
	uint32_t gen;
	bool in_slirp;
	uint8_t *rx_buf;
	struct user_timer *timers;
	struct in_addr net;
	struct in_addr mask;
	struct user_guestfwd_rule *guestfwds;
	size_t nguestfwds;
	struct user_guestfwd **relays;
	size_t nrelays;
	uint64_t peer_drops;
	struct log_ratelimit rl;
};

static const struct net_client_ops user_ops;

/* The inner epoll set */

static uint32_t user_slirp_to_epoll(int events)
{
	uint32_t ev = 0;

	if (events & SLIRP_POLL_IN)
		ev |= EPOLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= EPOLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= EPOLLPRI;
	return ev; /* epoll always reports errors and hang-ups */
}

static int user_epoll_to_slirp(uint32_t ev)
{
	int events = 0;

	if (ev & EPOLLIN)
		events |= SLIRP_POLL_IN;
	if (ev & EPOLLOUT)
		events |= SLIRP_POLL_OUT;
	if (ev & EPOLLPRI)
		events |= SLIRP_POLL_PRI;
	if (ev & EPOLLERR)
		events |= SLIRP_POLL_ERR;
	if (ev & EPOLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

static struct user_fd *user_fd_slot(struct user *u, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= u->nfds) {
		size_t n = u->nfds ? u->nfds : 64;
		struct user_fd *fds;

		while (n <= (size_t)fd)
			n *= 2;
		fds = realloc(u->fds, n * sizeof(*fds));
		if (!fds)
			return NULL;
		memset(fds + u->nfds, 0, (n - u->nfds) * sizeof(*fds));
		u->fds = fds;
		u->nfds = n;
	}
	return &u->fds[fd];
}

static int user_epoll_set(struct user *u, int fd, struct user_fd *slot, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int op = slot->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (slot->in_set && slot->events == events)
		return 0;
	if (epoll_ctl(u->epfd, op, fd, &ev) < 0) {
		/* Our record and the kernel's disagree (an fd closed behind our back): follow
		 * the kernel. */
		op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
		if (op < 0 || epoll_ctl(u->epfd, op, fd, &ev) < 0)
			return -errno;
	}
	slot->in_set = true;
	slot->events = events;
	return 0;
}

static void user_epoll_del(struct user *u, int fd, struct user_fd *slot)
{
	if (slot->in_set)
		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
	slot->in_set = false;
	slot->events = 0;
}

static int user_grow_polled(struct user *u)
{
	size_t cap = u->cap ? u->cap * 2 : 64;
	int *polled = realloc(u->polled, cap * sizeof(*polled));
	int *prev, *revents;
	struct epoll_event *events;

	if (!polled)
		return -ENOMEM;
	u->polled = polled;
	prev = realloc(u->prev, cap * sizeof(*prev));
	if (!prev)
		return -ENOMEM;
	u->prev = prev;
	revents = realloc(u->revents, cap * sizeof(*revents));
	if (!revents)
		return -ENOMEM;
	u->revents = revents;
	events = realloc(u->events, cap * sizeof(*events));
	if (!events)
		return -ENOMEM;
	u->events = events;
	u->cap = cap;
	return 0;
}

/* slirp_pollfds_fill()'s callback: libslirp wants @events on @fd until the next fill. */
static int user_add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	struct user_fd *slot = user_fd_slot(u, fd);
	uint32_t ev = user_slirp_to_epoll(events);
	int ret;

	if (!slot)
		goto fail;
	if (slot->gen == u->gen) {
		/* Asked twice in one fill: watch for both and share the index. */
		ev |= slot->events;
	} else {
		if (u->npolled == u->cap && user_grow_polled(u) < 0)
			goto fail;
		slot->gen = u->gen;
		slot->idx = (int)u->npolled;
		u->polled[u->npolled] = fd;
		u->revents[u->npolled] = 0;
		u->npolled++;
	}
	ret = user_epoll_set(u, fd, slot, ev);
	if (ret < 0) {
		log_ratelimited_warn(&u->rl, "%s: cannot watch socket %d: %s", u->nc.name, fd,
				     strerror(-ret));
		slot->gen = 0;
		return -1;
	}
	return slot->idx;
fail:
	/* Not watched this time; the poll timer brings the next round within a second. */
	log_ratelimited_warn(&u->rl, "%s: out of memory watching socket %d", u->nc.name, fd);
	return -1;
}

/* slirp_pollfds_poll()'s callback: what happened to the socket of index @idx. */
static int user_get_revents(int idx, void *opaque)
{
	struct user *u = opaque;

	if (idx < 0 || (size_t)idx >= u->npolled)
		return 0;
	return u->revents[idx];
}

static void user_gather_revents(struct user *u)
{
	int n;

	if (!u->npolled)
		return;
	/* The set never holds more sockets than the latest fill asked for. */
	n = epoll_wait(u->epfd, u->events, (int)u->npolled, 0);
	for (int i = 0; i < n; i++) {
		int fd = u->events[i].data.fd;
		struct user_fd *slot = (size_t)fd < u->nfds ? &u->fds[fd] : NULL;

		if (slot && slot->in_set && slot->gen == u->gen)
			u->revents[slot->idx] |= user_epoll_to_slirp(u->events[i].events);
	}
}

/* Take out of the set every socket the fill before asked for and this one did not. */
static void user_drop_unasked(struct user *u)
{
	for (size_t i = 0; i < u->nprev; i++) {
		int fd = u->prev[i];
		struct user_fd *slot = &u->fds[fd];

		if (slot->gen != u->gen)
			user_epoll_del(u, fd, slot);
	}
}

static void user_round(void *opaque)
{
	struct user *u = opaque;
	uint32_t timeout = UINT32_MAX;
	int *spare;

	if (u->in_slirp) {
		loop_bh_schedule(u->round_bh);
		return;
	}
	u->in_slirp = true;
	user_gather_revents(u);
	slirp_pollfds_poll(u->slirp, 0, user_get_revents, u);

	spare = u->prev;
	u->prev = u->polled;
	u->nprev = u->npolled;
	u->polled = spare;
	u->npolled = 0;
	if (++u->gen == 0) {
		/* 0 marks a slot no fill asked for; forget generations from before the wrap. */
		for (size_t i = 0; i < u->nfds; i++)
			u->fds[i].gen = 0;
		u->gen = 1;
	}
	slirp_pollfds_fill(u->slirp, &timeout, user_add_poll, u);
	user_drop_unasked(u);
	u->in_slirp = false;

	loop_timer_mod(u->poll_timer, loop_now_ns() + (int64_t)timeout * USER_NS_PER_MS);
	/* Frames that came back to us while libslirp ran were held in our queue. */
	if (u->nc.receive_disabled || net_queue_length(&u->nc))
		net_flush_queued(&u->nc);
}

static void user_schedule_round(struct user *u)
{
	loop_bh_schedule(u->round_bh);
}

static void user_epoll_readable(void *opaque)
{
	user_schedule_round(opaque);
}

static void user_poll_timer_fired(void *opaque)
{
	user_schedule_round(opaque);
}

/* libslirp's callbacks */

/*
 * libslirp computes every checksum of what it sends: a peer that takes vnet headers (a guest
 * that negotiated GUEST_CSUM) is told so with DATA_VALID and need not verify them again.
 */
static const struct virtio_net_hdr_v1 user_csum_valid_hdr = {
	.flags = VIRTIO_NET_HDR_F_DATA_VALID,
};

static ssize_t user_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user *u = opaque;
	struct iovec iov[2] = {
		{ .iov_base = (void *)&user_csum_valid_hdr, .iov_len = sizeof(user_csum_valid_hdr) },
		{ .iov_base = (void *)buf, .iov_len = len },
	};
	struct net_client *peer = u->nc.peer;
	uint64_t dropped = peer ? peer->stats.rx_dropped : 0;

	if (net_peer_accepts_vnet_hdr(&u->nc))
		net_send_iov(&u->nc, iov, 2, NET_FLAG_VNET_HDR, NULL);
	else
		net_send_iov(&u->nc, &iov[1], 1, 0, NULL);
	if (peer && u->nc.peer == peer && peer->stats.rx_dropped != dropped) {
		u->peer_drops++;
		log_ratelimited_warn(&u->rl, "%s: peer cannot keep up: %llu frames dropped",
				     u->nc.name, (unsigned long long)u->peer_drops);
	}
	return (ssize_t)len;
}

static void user_guest_error(const char *msg, void *opaque)
{
	struct user *u = opaque;

	log_ratelimited_warn(&u->rl, "%s: guest error: %s", u->nc.name, msg);
}

static int64_t user_clock_get_ns(void *opaque)
{
	return loop_now_ns();
}

static void user_timer_fired(void *opaque)
{
	struct user_timer *t = opaque;
	struct user *u = t->u;

	if (!u->slirp || u->in_slirp)
		return;
	u->in_slirp = true;
	slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
	u->in_slirp = false;
	user_schedule_round(u);
}

static void *user_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->timer = loop_timer_new(u->nc.loop, user_timer_fired, t);
	if (!t->timer) {
		free(t);
		return NULL;
	}
	t->u = u;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void user_timer_free(void *timer, void *opaque)
{
	struct user *u = opaque;
	struct user_timer **pp;

	for (pp = &u->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			loop_timer_free(((struct user_timer *)timer)->timer);
			free(timer);
			return;
		}
	}
}

static void user_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *t = timer;

	if (t)
		loop_timer_mod(t->timer, expire_ms * USER_NS_PER_MS);
}

static void user_register_poll_fd(int fd, void *opaque)
{
	struct user *u = opaque;
	struct user_fd *slot = (size_t)fd < u->nfds ? &u->fds[fd] : NULL;

	/* A new socket: whatever the number held before is gone with its old file. */
	if (slot) {
		slot->in_set = false;
		slot->events = 0;
		slot->gen = 0;
	}
}

static void user_unregister_poll_fd(int fd, void *opaque)
{
	struct user *u = opaque;
	struct user_fd *slot = (size_t)fd < u->nfds ? &u->fds[fd] : NULL;

	/* libslirp closes @fd next: leave the set before the number can be reused. */
	if (slot) {
		user_epoll_del(u, fd, slot);
		slot->gen = 0;
	}
}

static void user_notify(void *opaque)
{
	user_schedule_round(opaque);
}

static const SlirpCb user_slirp_cb = {
	.send_packet = user_send_packet,
	.guest_error = user_guest_error,
	.clock_get_ns = user_clock_get_ns,
	.timer_free = user_timer_free,
	.timer_mod = user_timer_mod,
	.register_poll_fd = user_register_poll_fd,
	.unregister_poll_fd = user_unregister_poll_fd,
	.notify = user_notify,
	.timer_new_opaque = user_timer_new_opaque,
};

/* The net client */

static ssize_t user_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				unsigned int flags)
{
	struct user *u = (struct user *)nc;
	size_t len = net_iov_size(iov, iovcnt);
	const uint8_t *frame;

	if (u->native) {
		usernet_input(u->native, iov, iovcnt, flags & NET_FLAG_VNET_HDR);
		return (ssize_t)len;
	}
	if (u->in_slirp) {
		/* Our own frame came back through the peer while libslirp runs (two user
		 * netdevs on one hub): hold it in our queue until the round. */
		user_schedule_round(u);
		return 0;
	}
	if (len > NET_MAX_PACKET)
		return -EMSGSIZE;
	if (iovcnt == 1) {
		frame = iov[0].iov_base;
	} else {
		net_iov_to_buf(iov, iovcnt, 0, u->rx_buf, len);
		frame = u->rx_buf;
	}
	u->in_slirp = true;
	slirp_input(u->slirp, frame, (int)len);
	u->in_slirp = false;
	user_schedule_round(u);
	return (ssize_t)len;
}

static void user_cleanup(struct net_client *nc)
{
	struct user *u = (struct user *)nc;

	usernet_free(u->native);
	u->native = NULL;
	if (u->slirp)
		slirp_cleanup(u->slirp); /* closes its sockets: unregister_poll_fd for each */
	u->slirp = NULL;
	for (size_t i = 0; i < u->nrelays; i++)
		user_guestfwd_free(u->relays[i]);
	free(u->relays);
	free(u->guestfwds);
	while (u->timers)
		user_timer_free(u->timers, u);
	if (u->epfd >= 0) {
		loop_set_fd_handler(nc->loop, u->epfd, NULL, NULL, NULL, NULL);
		close(u->epfd);
	}
	loop_timer_free(u->poll_timer);
	loop_bh_free(u->round_bh);
	free(u->fds);
	free(u->polled);
	free(u->prev);
	free(u->revents);
	free(u->events);
	free(u->rx_buf);
}

/* The native engine takes the guest's frames with their vnet header (TSO frames whole). */
static bool user_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct user *)nc)->native != NULL;
}

static void user_counters(struct net_client *nc, net_counter_fn *add, void *opaque)
{
	struct user *u = (struct user *)nc;

	if (u->native)
		usernet_counters(u->native, add, opaque);
}

static const struct net_client_ops user_ops = {
	.type = "user",
	.size = sizeof(struct user),
	.receive_iov = user_receive_iov,
	.cleanup = user_cleanup,
	.accepts_vnet_hdr = user_accepts_vnet_hdr,
	.counters = user_counters,
};

/* Forwarding rules */

static int user_add_hostfwd(struct user *u, const char *rule, struct error *err)
{
	struct sockaddr_in host, guest;
	const char *why;
	bool udp;
	int ret;

	why = user_config_parse_hostfwd(rule, &udp, &host, &guest);
	if (why)
		return error_set(err, -EINVAL, "Invalid host forwarding rule '%s' (%s)", rule, why);
	if (u->native) {
		ret = usernet_hostfwd_add(u->native, udp, &host, &guest);
		if (ret < 0)
			return error_set(err, ret, "Could not set up host forwarding rule '%s': %s",
					 rule, strerror(-ret));
		return 0;
	}
	u->in_slirp = true;
	errno = 0;
	ret = slirp_add_hostxfwd(u->slirp, (struct sockaddr *)&host, sizeof(host),
				 (struct sockaddr *)&guest, sizeof(guest),
				 udp ? SLIRP_HOSTFWD_UDP : 0);
	u->in_slirp = false;
	user_schedule_round(u);
	if (ret < 0) {
		int e = errno ? errno : EINVAL;

		return error_set(err, -e, "Could not set up host forwarding rule '%s': %s", rule,
				 strerror(e));
	}
	return 0;
}

static int user_remove_hostfwd(struct user *u, const char *rule, struct error *err)
{
	struct sockaddr_in host;
	const char *why;
	bool udp;
	int ret;

	why = user_config_parse_hostfwd_remove(rule, &udp, &host);
	if (why)
		return error_set(err, -EINVAL, "invalid format: '%s' (%s)", rule, why);
	if (u->native) {
		if (usernet_hostfwd_remove(u->native, udp, &host) < 0)
			return error_set(err, -ENOENT, "host forwarding rule for %s not found",
					 rule);
		return 0;
	}
	u->in_slirp = true;
	ret = slirp_remove_hostxfwd(u->slirp, (struct sockaddr *)&host, sizeof(host),
				    udp ? SLIRP_HOSTFWD_UDP : 0);
	u->in_slirp = false;
	user_schedule_round(u);
	if (ret < 0)
		return error_set(err, -ENOENT, "host forwarding rule for %s not found", rule);
	return 0;
}

/* guestfwd= targets: a TCP address (relayed), a unix socket or a command (libslirp's own). */
#define USER_GUESTFWD_TCP "tcp:"
#define USER_GUESTFWD_UNIX "unix:"
#define USER_GUESTFWD_CMD "cmd:"

static bool user_has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* guestfwd= of the native engine: it connects each guest connection to the target itself. */
static int user_native_guestfwd(struct user *u, struct in_addr server, int port, const char *dev,
				struct error *err)
{
	struct sockaddr_storage target;
	socklen_t len;
	int ret;

	if (user_has_prefix(dev, USER_GUESTFWD_TCP)) {
		ret = user_guestfwd_resolve(dev + strlen(USER_GUESTFWD_TCP), &target, &len, err);
		if (ret < 0)
			return ret;
	} else if (user_has_prefix(dev, USER_GUESTFWD_UNIX)) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&target;
		const char *path = dev + strlen(USER_GUESTFWD_UNIX);

		if (strlen(path) >= sizeof(sun->sun_path))
			return error_set(err, -EINVAL, "'%s': path too long", dev);
		memset(sun, 0, sizeof(*sun));
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, path);
		len = sizeof(*sun);
	} else {
		return error_set(err, -EINVAL, "'%s': not supported (use %sHOST:PORT or %sPATH)",
				 dev, USER_GUESTFWD_TCP, USER_GUESTFWD_UNIX);
	}
	ret = usernet_guestfwd_add(u->native, server, (uint16_t)port, (struct sockaddr *)&target,
				   len);
	if (ret < 0)
		return error_set(err, ret,
				 "conflicting or invalid server address (not inside net, the host "
				 "or the DNS address, or already forwarded)");
	return 0;
}

static int user_guestfwd_connect_to(struct user *u, struct in_addr server, int port,
				    const char *dev, struct error *err)
{
	struct user_guestfwd *relay = NULL, **relays;
	int ret;

	if (u->native)
		return user_native_guestfwd(u, server, port, dev, err);
	if (user_has_prefix(dev, USER_GUESTFWD_TCP)) {
		relays = realloc(u->relays, (u->nrelays + 1) * sizeof(*relays));
		if (!relays)
			return error_set(err, -ENOMEM, "out of memory");
		u->relays = relays;
		relay = user_guestfwd_new(u->nc.loop, dev + strlen(USER_GUESTFWD_TCP), err);
		if (!relay)
			return err ? err->code : -EINVAL;
		u->relays[u->nrelays++] = relay;
		ret = slirp_add_unix(u->slirp, user_guestfwd_path(relay), &server, port);
	} else if (user_has_prefix(dev, USER_GUESTFWD_UNIX)) {
		ret = slirp_add_unix(u->slirp, dev + strlen(USER_GUESTFWD_UNIX), &server, port);
	} else if (user_has_prefix(dev, USER_GUESTFWD_CMD)) {
		ret = slirp_add_exec(u->slirp, dev + strlen(USER_GUESTFWD_CMD), &server, port);
	} else {
		return error_set(err, -EINVAL,
				 "'%s': not supported (use %sHOST:PORT, %sPATH or %sCOMMAND)", dev,
				 USER_GUESTFWD_TCP, USER_GUESTFWD_UNIX, USER_GUESTFWD_CMD);
	}
	if (ret < 0)
		return error_set(err, -EINVAL,
				 "conflicting or invalid server address (not inside net, the host "
				 "or the DNS address, or already forwarded)");
	return 0;
}

/* QEMU's guestfwd syntax: [tcp]:[server]:port-dev */
static int user_add_guestfwd(struct user *u, const char *rule, struct error *err)
{
	struct in_addr server;
	const char *dev, *why;
	int port, ret;

	why = user_config_parse_guestfwd(rule, &server, &port, &dev);
	if (why)
		return error_set(err, -EINVAL, "guestfwd=%s: %s", rule, why);
	/* libslirp's default server: the network's .4 */
	if (!server.s_addr)
		server.s_addr = u->net.s_addr | (htonl(USER_GUESTFWD_PART) & ~u->mask.s_addr);
	for (size_t i = 0; i < u->nguestfwds; i++)
		if (u->guestfwds[i].addr.s_addr == server.s_addr && u->guestfwds[i].port == port)
			return error_set(err, -EEXIST, "guestfwd=%s: %s:%d is already forwarded",
					 rule, inet_ntoa(server), port);
	ret = user_guestfwd_connect_to(u, server, port, dev, err);
	if (ret < 0) {
		error_prepend(err, "guestfwd=%s: ", rule);
		return ret;
	}
	u->guestfwds[u->nguestfwds].addr = server;
	u->guestfwds[u->nguestfwds].port = port;
	u->nguestfwds++;
	return 0;
}

/* Creation */

static int user_setup(struct user *u, const struct netdev_user_opts *o, struct error *err)
{
	int ret;

	u->rx_buf = malloc(NET_MAX_PACKET);
	u->round_bh = loop_bh_new(u->nc.loop, user_round, u);
	u->poll_timer = loop_timer_new(u->nc.loop, user_poll_timer_fired, u);
	u->guestfwds = calloc(o->guestfwd.count + 1, sizeof(*u->guestfwds));
	if (!u->rx_buf || !u->round_bh || !u->poll_timer || !u->guestfwds)
		return error_set(err, -ENOMEM, "out of memory");
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (u->epfd < 0)
		return error_set(err, -errno, "epoll_create1: %s", strerror(errno));
	ret = loop_set_fd_handler(u->nc.loop, u->epfd, NULL, user_epoll_readable, NULL, u);
	if (ret < 0)
		return error_set(err, ret, "cannot watch the epoll set: %s", strerror(-ret));
	for (size_t i = 0; i < o->hostfwd.count; i++) {
		ret = user_add_hostfwd(u, o->hostfwd.items[i], err);
		if (ret < 0) {
			error_prepend(err, "hostfwd=%s: ", o->hostfwd.items[i]);
			return ret;
		}
	}
	for (size_t i = 0; i < o->guestfwd.count; i++) {
		ret = user_add_guestfwd(u, o->guestfwd.items[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * libslirp writes to its sockets with send() and no MSG_NOSIGNAL: a host peer that closed
 * would kill the process with SIGPIPE. QEMU ignores SIGPIPE process-wide; so do we, unless
 * the program chose a disposition of its own.
 */
static void user_ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

/* The native engine */

/*
 * engine=native|slirp (native when left out). What the native engine does not serve (TFTP,
 * BOOTP's file, guestfwd= to a command) selects libslirp, with a log line saying so.
 */
static int user_choose_engine(const struct netdev_user_opts *o, const char *id, bool *native,
			      struct error *err)
{
	const char *why = NULL;

	*native = false;
	if (o->engine && !strcmp(o->engine, "slirp"))
		return 0;
	if (o->engine && strcmp(o->engine, "native"))
		return error_set(err, -EINVAL, "engine=%s: must be native or slirp", o->engine);
	if (o->tftp || o->tftp_server_name)
		why = "tftp=";
	else if (o->bootfile)
		why = "bootfile=";
	for (size_t i = 0; !why && i < o->guestfwd.count; i++) {
		if (strstr(o->guestfwd.items[i], "-" USER_GUESTFWD_CMD))
			why = "guestfwd=...-cmd:";
	}
	if (why) {
		log_info("%s: engine=native does not serve %s: using libslirp", id, why);
		return 0;
	}
	*native = true;
	return 0;
}

/* The peer took a frame the native engine's output queued: the engine may send again. */
static void user_native_sent(struct net_client *nc, ssize_t ret)
{
	struct user *u = (struct user *)nc;

	(void)ret;
	if (u->native)
		usernet_resume(u->native);
}

/* A frame from the native engine, vnet header first: the core finishes its offloads for a
 * peer that takes none. */
static ssize_t user_native_output(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct user *u = opaque;

	return net_send_iov(&u->nc, iov, iovcnt, NET_FLAG_VNET_HDR, user_native_sent);
}

/* A peer that takes no vnet headers (an e1000) gets TCP data a segment per frame. */
static bool user_native_gso(void *opaque)
{
	struct user *u = opaque;

	return net_peer_accepts_vnet_hdr(&u->nc);
}

/* The native engine reads TCP data straight into a guest's buffers when its device takes
 * vnet headers (it writes a GSO header) and can lend them. */
static int user_native_lend(void *opaque, struct iovec *iov, int max_iov, size_t max_len)
{
	struct user *u = opaque;

	if (!net_peer_accepts_vnet_hdr(&u->nc))
		return 0;
	return net_rx_lend(&u->nc, iov, max_iov, max_len, NET_FLAG_VNET_HDR);
}

static void user_native_commit(void *opaque, size_t len)
{
	struct user *u = opaque;

	net_rx_commit(&u->nc, len, NET_FLAG_VNET_HDR);
}

static int user_native_setup(struct user *u, const struct netdev_user_opts *o,
			     const struct user_config *uc, struct error *err)
{
	struct usernet_config cfg = {
		.net = uc->cfg.vnetwork,
		.mask = uc->cfg.vnetmask,
		.host = uc->cfg.vhost,
		.dns = uc->cfg.vnameserver,
		.dhcp_start = uc->cfg.vdhcp_start,
		.restricted = uc->cfg.restricted,
		.mtu = (unsigned int)o->mtu,
		.hostname = o->hostname,
		.domainname = o->domainname,
		.dnssearch = uc->dnssearch,
		.ipv6 = uc->cfg.in6_enabled,
		.prefix6 = uc->cfg.vprefix_addr6,
		.prefix6_len = uc->cfg.vprefix_len,
		.host6 = uc->cfg.vhost6,
		.dns6 = uc->cfg.vnameserver6,
	};
	int ret = 0;

	if (!uc->cfg.in_enabled)
		return error_set(err, -EINVAL, "ipv4=off: engine=native needs IPv4");
	u->native = usernet_new(u->nc.loop, &cfg, user_native_output, u, &ret);
	if (!u->native)
		return error_set(err, ret, "cannot start the native engine: %s", strerror(-ret));
	usernet_set_lend(u->native, user_native_lend, user_native_commit);
	usernet_set_gso(u->native, user_native_gso);
	for (size_t i = 0; i < o->hostfwd.count; i++) {
		ret = user_add_hostfwd(u, o->hostfwd.items[i], err);
		if (ret < 0) {
			error_prepend(err, "hostfwd=%s: ", o->hostfwd.items[i]);
			return ret;
		}
	}
	u->guestfwds = calloc(o->guestfwd.count + 1, sizeof(*u->guestfwds));
	if (!u->guestfwds)
		return error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < o->guestfwd.count; i++) {
		ret = user_add_guestfwd(u, o->guestfwd.items[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int net_init_user(const struct netdev_user_opts *o, const char *id, struct loop *loop,
		  struct error *err)
{
	struct user_config uc;
	struct user *u;
	char netbuf[INET_ADDRSTRLEN];
	bool native = false;
	int ret;

	ret = user_config_parse(o, &uc, err);
	if (ret < 0)
		goto out;
	ret = user_choose_engine(o, id, &native, err);
	if (ret < 0)
		goto out;
	u = (struct user *)net_client_new(&user_ops, loop, NULL, "user", id);
	if (!u) {
		ret = error_set(err, -errno, "cannot create netdev '%s': %s", id, strerror(errno));
		goto out;
	}
	u->nc.is_netdev = true;
	u->epfd = -1;
	u->net = uc.cfg.vnetwork;
	u->mask = uc.cfg.vnetmask;
	if (native) {
		ret = user_native_setup(u, o, &uc, err);
		if (ret < 0)
			goto err;
	} else {
		u->slirp = slirp_new(&uc.cfg, &user_slirp_cb, u);
		if (!u->slirp) {
			ret = error_set(err, -EINVAL, "libslirp refused the configuration");
			goto err;
		}
		ret = user_setup(u, o, err);
		if (ret < 0)
			goto err;
	}
	user_ignore_sigpipe();
	inet_ntop(AF_INET, &uc.cfg.vnetwork, netbuf, sizeof(netbuf));
	snprintf(u->nc.info_str, sizeof(u->nc.info_str), "net=%s,restrict=%s", netbuf,
		 o->restrict_ ? "on" : "off");
	if (!native)
		user_schedule_round(u);
	ret = 0;
	goto out;
err:
	net_client_free(&u->nc);
out:
	user_config_release(&uc);
	return ret;
}

/* The monitor's commands */

static int user_lookup(const char *id, struct user **out, struct error *err)
{
	struct net_client *nc;

	if (id) {
		nc = net_find(id);
		if (!nc)
			return error_set(err, -ENOENT, "unrecognized netdev id '%s'", id);
		if (nc->ops != &user_ops)
			return error_set(err, -EINVAL,
					 "invalid device specified: '%s' is not a user netdev", id);
		*out = (struct user *)nc;
		return 0;
	}
	for (nc = net_first(); nc; nc = nc->next) {
		if (nc->ops == &user_ops) {
			*out = (struct user *)nc;
			return 0;
		}
	}
	return error_set(err, -ENOENT, "user mode network stack not in use");
}

int user_hostfwd_add(const char *netdev_id, const char *rule, struct error *err)
{
	struct user *u;
	int ret = user_lookup(netdev_id, &u, err);

	return ret < 0 ? ret : user_add_hostfwd(u, rule, err);
}

int user_hostfwd_remove(const char *netdev_id, const char *rule, struct error *err)
{
	struct user *u;
	int ret = user_lookup(netdev_id, &u, err);

	return ret < 0 ? ret : user_remove_hostfwd(u, rule, err);
}

void user_hmp_info_usernet(FILE *out)
{
	for (struct net_client *nc = net_first(); nc; nc = nc->next) {
		char *info;

		if (nc->ops != &user_ops)
			continue;
		if (((struct user *)nc)->native) {
			fprintf(out, "Hub %d (%s):\n", nc->peer ? nc->peer->hubid : -1, nc->name);
			usernet_print_flows(((struct user *)nc)->native, out);
			continue;
		}
		info = slirp_connection_info(((struct user *)nc)->slirp);
		fprintf(out, "Hub %d (%s):\n%s", nc->peer ? nc->peer->hubid : -1, nc->name,
			info ? info : "");
		free(info); /* GLib allocates with malloc since 2.46 */
	}
}

#define USER_HMP_WORD 256 /* matches the %255s below */

/* The monitor's "[netdev_id] rule" into the user netdev and the rule; 0 or prints why not. */
static int user_hmp_args(const char *args, char *id, char *rule, size_t size, struct user **u,
			 FILE *out)
{
	struct error err = { 0 };
	char extra;
	int n, ret;

	/* Each word fits: the whole line is shorter than one buffer. */
	n = strlen(args) < size ? sscanf(args, "%255s %255s %c", id, rule, &extra) : 0;
	if (n < 1 || n > 2) {
		fprintf(out, "expected [netdev_id] rule\n");
		return -EINVAL;
	}
	if (n == 1) {
		memcpy(rule, id, size);
		id[0] = '\0';
	}
	ret = user_lookup(id[0] ? id : NULL, u, &err);
	if (ret < 0)
		fprintf(out, "%s\n", err.msg);
	return ret;
}

int user_hmp_hostfwd_add(const char *args, FILE *out)
{
	char id[USER_HMP_WORD], rule[USER_HMP_WORD];
	struct error err = { 0 };
	struct user *u;
	int ret;

	ret = user_hmp_args(args, id, rule, sizeof(rule), &u, out);
	if (ret < 0)
		return ret;
	ret = user_add_hostfwd(u, rule, &err);
	if (ret < 0)
		fprintf(out, "%s\n", err.msg);
	return ret;
}

int user_hmp_hostfwd_remove(const char *args, FILE *out)
{
	char id[USER_HMP_WORD], rule[USER_HMP_WORD];
	struct error err = { 0 };
	struct user *u;
	int ret;

	ret = user_hmp_args(args, id, rule, sizeof(rule), &u, out);
	if (ret < 0)
		return ret;
	ret = user_remove_hostfwd(u, rule, &err);
	if (ret == -EINVAL)
		fprintf(out, "%s\n", err.msg);
	else
		fprintf(out, "host forwarding rule for %s %s\n", rule,
			ret ? "not found" : "removed");
	return ret;
}
