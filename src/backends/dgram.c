// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dgram.c - -netdev dgram: one Ethernet frame per UDP or unix datagram, as QEMU 7.2's
 * net/dgram.c sends them (unicast, multicast, or over an inherited socket).
 *
 * In: recvmmsg fills a batch of buffers in one call; the frames go to net_send_burst() as
 * one burst straight from their buffers; what the peer did not take stays there until the
 * sent_cb, and the socket is polled only while the peer can take packets.
 * Out: a burst goes out in one sendmmsg of the packets' own iovecs (a packet handed on alone
 * in one sendmsg); EAGAIN leaves the rest to the core and polls for write, then
 * net_flush_queued(). Errors drop the frame, as a lossy wire does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/dgram.h"
#include "backends/netaddr.h"
#include "core/log.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Datagrams read per recvmmsg. */
#define DGRAM_BATCH 16
/* Largest frame taken from a datagram; a longer one is dropped. */
#define DGRAM_MAX_FRAME NET_MAX_PACKET
/* Longest header of an encapsulated frame (l2tpv3: 16 bytes and an offset of up to 256). */
#define DGRAM_MAX_HDR 512
/* Most pieces of a frame sent behind a header; a frame in more is dropped. */
#define DGRAM_ENCAP_IOV 64
/* How often a unix socket re-connects to its destination (which may have been restarted). */
#define DGRAM_RECONNECT_NS 1000000000LL

/**
 * struct dgram_state - a datagram client
 * @nc:		the net client (first)
 * @fd:		its socket
 * @dest:	destination of sendmsg
 * @has_dest:	@dest is set (else the socket is connected already)
 * @unix_dest:	@dest is a unix path: keep the socket connected to it
 * @connected:	the socket is connected to @dest now
 * @reconnect:	re-connects a unix socket every DGRAM_RECONNECT_NS
 * @want_write:	a send returned EAGAIN: waiting for the socket to be writable
 * @bufs:	DGRAM_BATCH input buffers of DGRAM_MAX_FRAME bytes
 * @msgs:	recvmmsg's headers, one per buffer
 * @iovs:	their iovecs
 * @rx_count:	datagrams in the current batch
 * @rx_next:	first one not yet handed on
 * @rx_blocked:	the peer did not take the whole batch: wait for the sent_cb
 * @rx_bh:	hands on the rest of a batch after the sent_cb
 * @owned:	the unix socket file it bound, removed at cleanup if still ours
 * @rl:		rate limit of the logs peers can cause
 * @encap:	the header around each frame (form NULL: none); with one, frames go out one at
 *		a time and headers are checked in
 * @hdr:	the header of the frame being sent
 * @priv:	dgram_config's priv, freed at cleanup
 */
struct dgram_state {
	struct net_client nc;
	int fd;
	struct netaddr dest;
	bool has_dest;
	bool unix_dest;
	bool connected;
	struct loop_timer *reconnect;
	bool want_write;
	uint8_t *bufs;
	struct mmsghdr msgs[DGRAM_BATCH];
	struct iovec iovs[DGRAM_BATCH];
	unsigned int rx_count;
	unsigned int rx_next;
	bool rx_blocked;
	struct loop_bh *rx_bh;
	struct unix_socket_owned owned;
	struct log_ratelimit rl;
	struct dgram_encap encap;
	uint8_t hdr[DGRAM_MAX_HDR];
	void *priv;
};

static void dgram_read(void *opaque);
static void dgram_writable(void *opaque);

static bool dgram_can_read(void *opaque)
{
	struct dgram_state *s = opaque;

	return !s->rx_blocked && s->rx_next == s->rx_count && net_can_send(&s->nc);
}

static void dgram_update_handler(struct dgram_state *s)
{
	loop_set_fd_handler(s->nc.loop, s->fd, dgram_can_read, dgram_read,
			    s->want_write ? dgram_writable : NULL, s);
}

static void dgram_sent(struct net_client *nc, ssize_t ret)
{
	struct dgram_state *s = (struct dgram_state *)nc;

	s->rx_blocked = false;
	if (s->rx_next < s->rx_count)
		loop_bh_schedule(s->rx_bh);
}

/* Hand on the rest of the batch as one burst; what the peer did not take waits for the sent_cb. */
static void dgram_deliver(struct dgram_state *s)
{
	struct net_pkt pkts[DGRAM_BATCH];
	struct iovec iov[DGRAM_BATCH];
	unsigned int idx[DGRAM_BATCH], m = 0, taken;

	if (s->rx_blocked)
		return;
	for (unsigned int i = s->rx_next; i < s->rx_count; i++) {
		if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			log_ratelimited_warn(&s->rl, "%s %s: dropped a datagram over %u bytes",
					     s->nc.model, s->nc.name,
					     (unsigned int)DGRAM_MAX_FRAME);
			continue;
		}
		/* QEMU stops reading for good on an empty datagram; it carries nothing: skip. */
		if (!s->msgs[i].msg_len)
			continue;
		iov[m] = (struct iovec){ s->iovs[i].iov_base, s->msgs[i].msg_len };
		if (s->encap.form) {
			long off = s->encap.decap(s->encap.opaque, iov[m].iov_base,
						  iov[m].iov_len);

			if (off < 0 || (size_t)off >= iov[m].iov_len) {
				log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG,
						    "%s %s: dropped a datagram: %s", s->nc.model,
						    s->nc.name, strerror(off < 0 ? (int)-off : EINVAL));
				continue;
			}
			iov[m].iov_base = (uint8_t *)iov[m].iov_base + off;
			iov[m].iov_len -= (size_t)off;
		}
		pkts[m] = (struct net_pkt){ .iov = &iov[m], .iovcnt = 1, .len = iov[m].iov_len };
		idx[m++] = i;
	}
	taken = m ? net_send_burst(&s->nc, pkts, m, dgram_sent) : 0;
	if (taken < m) {
		s->rx_next = idx[taken];
		s->rx_blocked = true;
		return;
	}
	s->rx_next = s->rx_count = 0;
}

static void dgram_rx_bh(void *opaque)
{
	dgram_deliver(opaque);
}

static void dgram_read(void *opaque)
{
	struct dgram_state *s = opaque;
	int n;

	for (unsigned int i = 0; i < DGRAM_BATCH; i++)
		s->msgs[i].msg_hdr.msg_flags = 0;
	n = recvmmsg(s->fd, s->msgs, DGRAM_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: receive: %s",
					    s->nc.model, s->nc.name, strerror(errno));
		return;
	}
	s->rx_count = (unsigned int)n;
	s->rx_next = 0;
	dgram_deliver(s);
}

/* Keep a unix socket connected to its destination: see struct dgram_config. */
static void dgram_connect(struct dgram_state *s)
{
	s->connected = connect(s->fd, (const struct sockaddr *)&s->dest.ss, s->dest.len) == 0;
}

static void dgram_reconnect(void *opaque)
{
	struct dgram_state *s = opaque;

	dgram_connect(s);
	loop_timer_mod(s->reconnect, loop_now_ns() + DGRAM_RECONNECT_NS);
}

static void dgram_writable(void *opaque)
{
	struct dgram_state *s = opaque;

	s->want_write = false;
	dgram_update_handler(s);
	net_flush_queued(&s->nc);
}

/* Where a message goes: the destination while the socket is not connected to it. */
static void dgram_set_dest(struct dgram_state *s, struct msghdr *msg)
{
	bool named = s->has_dest && !s->connected;

	msg->msg_name = named ? &s->dest.ss : NULL;
	msg->msg_namelen = named ? s->dest.len : 0;
}

static ssize_t dgram_send(struct dgram_state *s, struct msghdr *msg)
{
	ssize_t n;

	dgram_set_dest(s, msg);
	do {
		n = sendmsg(s->fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * A send failed with -@err. EAGAIN: return true to try again at once when an unconnected
 * unix socket could connect (it is never told when the receiver has room), else poll for
 * write and return false. Any other error loses the frame, as on a wire: return false.
 */
static bool dgram_send_failed(struct dgram_state *s, int err)
{
	if (err == EAGAIN) {
		if (s->unix_dest && !s->connected) {
			dgram_connect(s);
			if (s->connected)
				return true;
		}
		s->want_write = true;
		dgram_update_handler(s);
		return false;
	}
	if (s->connected && (err == ECONNREFUSED || err == ENOTCONN)) {
		/* The receiver went away; the kernel dropped the association. */
		s->connected = false;
	}
	/* Nobody listening, or a transient error: the frame is lost. */
	log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: send: %s", s->nc.model, s->nc.name,
			    strerror(err));
	return false;
}

static ssize_t dgram_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				 unsigned int flags)
{
	struct dgram_state *s = (struct dgram_state *)nc;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	struct iovec v[DGRAM_ENCAP_IOV];
	ssize_t n;

	if (s->want_write)
		return 0;
	if (s->encap.form) {
		if (iovcnt >= DGRAM_ENCAP_IOV) {
			log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: a frame in %d pieces: "
					    "dropped", s->nc.model, s->nc.name, iovcnt);
			return (ssize_t)net_iov_size(iov, iovcnt);
		}
		s->encap.form(s->encap.opaque, s->hdr);
		v[0] = (struct iovec){ s->hdr, s->encap.hdr_len };
		memcpy(&v[1], iov, (size_t)iovcnt * sizeof(*iov));
		msg.msg_iov = v;
		msg.msg_iovlen = (size_t)iovcnt + 1;
	}
	do {
		n = dgram_send(s, &msg);
	} while (n < 0 && dgram_send_failed(s, (int)-n));
	if (n >= 0)
		return (ssize_t)net_iov_size(iov, iovcnt);
	return s->want_write ? 0 : n;
}

/*
 * The whole burst in one sendmmsg. The kernel stops at the first message it cannot send:
 * EAGAIN leaves that one and the rest to the core; another error drops just that one.
 */
static unsigned int dgram_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
					unsigned int n)
{
	struct dgram_state *s = (struct dgram_state *)nc;
	struct mmsghdr msgs[NET_BURST_MAX];
	unsigned int done = 0;

	if (s->want_write)
		return 0;
	if (s->encap.form) {
		/* One header buffer: each frame goes out on its own (an error loses just it). */
		for (; done < n; done++)
			if (!dgram_receive_iov(nc, pkts[done].iov, pkts[done].iovcnt,
					       pkts[done].flags))
				break;
		return done;
	}
	for (unsigned int i = 0; i < n; i++)
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = (struct iovec *)pkts[i].iov,
						   .msg_iovlen = (size_t)pkts[i].iovcnt };
	while (done < n) {
		int sent;

		for (unsigned int i = done; i < n; i++)
			dgram_set_dest(s, &msgs[i].msg_hdr);
		sent = sendmmsg(s->fd, msgs + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent > 0) {
			done += (unsigned int)sent;
			continue;
		}
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0 && dgram_send_failed(s, errno))
			continue;
		if (s->want_write)
			break;
		net_rx_dropped(nc, &pkts[done++]);
	}
	return done;
}

static void dgram_cleanup(struct net_client *nc)
{
	struct dgram_state *s = (struct dgram_state *)nc;

	loop_timer_free(s->reconnect);
	s->reconnect = NULL;
	if (s->fd >= 0) {
		loop_set_fd_handler(nc->loop, s->fd, NULL, NULL, NULL, NULL);
		close(s->fd);
		s->fd = -1;
	}
	loop_bh_free(s->rx_bh);
	s->rx_bh = NULL;
	free(s->bufs);
	s->bufs = NULL;
	unix_socket_unlink_owned(&s->owned);
	free(s->priv);
	s->priv = NULL;
}

static const struct net_client_ops dgram_ops = {
	.type = "dgram",
	.size = sizeof(struct dgram_state),
	.receive_iov = dgram_receive_iov,
	.receive_burst = dgram_receive_burst,
	.cleanup = dgram_cleanup,
};

static int dgram_setup(struct dgram_state *s, const struct dgram_config *cfg)
{
	s->bufs = malloc((size_t)DGRAM_BATCH * DGRAM_MAX_FRAME);
	s->rx_bh = loop_bh_new(s->nc.loop, dgram_rx_bh, s);
	if (!s->bufs || !s->rx_bh)
		return -ENOMEM;
	for (unsigned int i = 0; i < DGRAM_BATCH; i++) {
		s->iovs[i].iov_base = s->bufs + (size_t)i * DGRAM_MAX_FRAME;
		s->iovs[i].iov_len = DGRAM_MAX_FRAME;
		s->msgs[i].msg_hdr.msg_iov = &s->iovs[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if (cfg->dest) {
		s->dest = *cfg->dest;
		s->has_dest = true;
		s->unix_dest = cfg->dest->ss.ss_family == AF_UNIX;
	}
	if (s->unix_dest) {
		s->reconnect = loop_timer_new(s->nc.loop, dgram_reconnect, s);
		if (!s->reconnect)
			return -ENOMEM;
		dgram_reconnect(s);
	}
	if (cfg->encap) {
		if (cfg->encap->hdr_len > sizeof(s->hdr))
			return -EINVAL;
		s->encap = *cfg->encap;
	}
	snprintf(s->nc.info_str, sizeof(s->nc.info_str), "%s", cfg->info);
	dgram_update_handler(s);
	return 0;
}

int dgram_net_new(struct loop *loop, const char *id, const struct dgram_config *cfg,
		  struct error *err)
{
	struct dgram_state *s;
	int ret;

	s = (struct dgram_state *)net_client_new(&dgram_ops, loop, NULL, cfg->model, id);
	if (!s) {
		struct unix_socket_owned owned = cfg->owned;

		ret = -errno;
		close(cfg->fd);
		free(cfg->priv);
		unix_socket_unlink_owned(&owned);
		return error_set(err, ret, "cannot create netdev '%s': %s", id, strerror(-ret));
	}
	s->nc.is_netdev = true;
	s->fd = cfg->fd;
	s->owned = cfg->owned;
	s->priv = cfg->priv;
	ret = dgram_setup(s, cfg);
	if (ret < 0) {
		net_client_free(&s->nc);
		return error_set(err, ret, "out of memory");
	}
	return 0;
}

int dgram_mcast_open(const struct sockaddr_in *group, const struct in_addr *localaddr,
		     struct error *err)
{
	struct ip_mreq imr = { .imr_multiaddr = group->sin_addr };
	char where[NETADDR_STRLEN];
	int fd, one = 1, ret;
	const char *what;

	netaddr_format_ip_port(group, where, sizeof(where));
	if (!IN_MULTICAST(ntohl(group->sin_addr.s_addr)))
		return error_set(err, -EINVAL, "%s is not a multicast address", where);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "can't create a datagram socket: %s",
				 strerror(errno));
	imr.imr_interface.s_addr = localaddr ? localaddr->s_addr : htonl(INADDR_ANY);
	what = "SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto err;
	what = "bind";
	if (bind(fd, (const struct sockaddr *)group, sizeof(*group)) < 0)
		goto err;
	what = "IP_ADD_MEMBERSHIP";
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &imr, sizeof(imr)) < 0)
		goto err;
	what = "IP_MULTICAST_LOOP";
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one)) < 0)
		goto err;
	what = "IP_MULTICAST_IF";
	if (localaddr &&
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, localaddr, sizeof(*localaddr)) < 0)
		goto err;
	return fd;
err:
	ret = -errno;
	close(fd);
	return error_set(err, ret, "multicast group %s: %s: %s", where, what, strerror(-ret));
}

/* -netdev dgram */

static const char *const dgram_types[] = { "inet", "unix", "fd" };

enum dgram_addr_type { DGRAM_INET, DGRAM_UNIX, DGRAM_FD };

/* Check one of local.* / remote.*: its type, and that only its type's keys are given. */
static int dgram_check_addr(const struct netdev_addr_opts *a, const char *which,
			    enum dgram_addr_type *t, struct error *err)
{
	int i;

	if (!a->type)
		return error_set(err, -EINVAL, "Parameter '%s.type' is missing", which);
	for (i = DGRAM_INET; i <= DGRAM_FD; i++)
		if (!strcmp(a->type, dgram_types[i]))
			break;
	if (i > DGRAM_FD)
		return error_set(err, -EINVAL, "%s.type=%s: expected inet, unix or fd", which,
				 a->type);
	*t = (enum dgram_addr_type)i;
	if ((a->host || a->port) && *t != DGRAM_INET)
		return error_set(err, -EINVAL, "%s.%s is not valid with %s.type=%s", which,
				 a->host ? "host" : "port", which, a->type);
	if (a->path && *t != DGRAM_UNIX)
		return error_set(err, -EINVAL, "%s.path is not valid with %s.type=%s", which,
				 which, a->type);
	if (a->str && *t != DGRAM_FD)
		return error_set(err, -EINVAL, "%s.str is not valid with %s.type=%s", which,
				 which, a->type);
	if (*t == DGRAM_INET && !a->host)
		return error_set(err, -EINVAL, "Parameter '%s.host' is missing", which);
	if (*t == DGRAM_INET && !a->port)
		return error_set(err, -EINVAL, "Parameter '%s.port' is missing", which);
	if (*t == DGRAM_UNIX && !a->path)
		return error_set(err, -EINVAL, "Parameter '%s.path' is missing", which);
	if (*t == DGRAM_FD && !a->str)
		return error_set(err, -EINVAL, "Parameter '%s.str' is missing", which);
	return 0;
}

static int dgram_inet(const struct netdev_addr_opts *a, const char *which,
		      struct sockaddr_in *sin, struct error *err)
{
	int ret = netaddr_inet4(a->host, a->port, sin, err);

	if (ret < 0)
		error_prepend(err, "%s.host=%s,%s.port=%s: ", which, a->host, which, a->port);
	return ret;
}

static int dgram_init_mcast(const struct netdev_dgram_opts *o, const struct sockaddr_in *group,
			    const char *id, struct loop *loop, struct error *err,
			    enum dgram_addr_type lt)
{
	struct netaddr dest = { .len = sizeof(*group) };
	struct dgram_config cfg = { .model = "dgram", .dest = &dest };
	struct in_addr local, *localp = NULL;
	char where[NETADDR_STRLEN], info[sizeof(where) + 8];
	int fd;

	if (o->has_local && lt != DGRAM_INET)
		return error_set(err, -EINVAL, "local.type=%s: a multicast remote takes only "
				 "an inet local address", o->local.type);
	if (o->has_local) {
		if (!inet_aton(o->local.host, &local))
			return error_set(err, -EINVAL,
					 "local.host=%s: not a valid IPv4 address", o->local.host);
		localp = &local;
	}
	fd = dgram_mcast_open(group, localp, err);
	if (fd < 0) {
		error_prepend(err, "remote.host=%s: ", o->remote.host);
		return fd;
	}
	memcpy(&dest.ss, group, sizeof(*group));
	snprintf(info, sizeof(info), "mcast=%s",
		 netaddr_format_ip_port(group, where, sizeof(where)));
	cfg.fd = fd;
	cfg.info = info;
	return dgram_net_new(loop, id, &cfg, err);
}

static int dgram_bind(int family, const struct netaddr *local, struct error *err)
{
	int fd, one = 1, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "can't create a datagram socket: %s",
				 strerror(errno));
	if (family == AF_INET)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&local->ss, local->len) < 0) {
		char where[NETADDR_STRLEN];

		ret = -errno;
		close(fd);
		netaddr_format((const struct sockaddr *)&local->ss, local->len, where,
			       sizeof(where));
		return error_set(err, ret, "can't bind to %s: %s", where, strerror(-ret));
	}
	return fd;
}

static int dgram_init_fd(const struct netdev_addr_opts *a, const char *id, struct loop *loop,
			 struct error *err)
{
	struct dgram_config cfg = { .model = "dgram" };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	char info[64];
	int fd, type = 0, ret;

	ret = netaddr_fd(a->str, &fd, err);
	if (ret < 0) {
		error_prepend(err, "local.str=%s: ", a->str);
		return ret;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM) {
		close(fd);
		return error_set(err, -EINVAL, "local.str=%s: not a datagram socket", a->str);
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		snprintf(info, sizeof(info), "fd=%d %s", fd,
			 ss.ss_family == AF_UNIX ? "unix" : "inet");
	else
		snprintf(info, sizeof(info), "fd=%d", fd);
	cfg.fd = fd;
	cfg.info = info;
	return dgram_net_new(loop, id, &cfg, err);
}

int net_init_dgram(const struct netdev_dgram_opts *o, const char *id, struct loop *loop,
		   struct error *err)
{
	struct dgram_config cfg = { .model = "dgram" };
	enum dgram_addr_type lt = DGRAM_INET, rt = DGRAM_INET;
	struct netaddr local = { 0 }, remote = { 0 };
	char info[2 * NETADDR_STRLEN + 8], l[NETADDR_STRLEN], r[NETADDR_STRLEN];
	int ret, fd;

	if (o->has_local && (ret = dgram_check_addr(&o->local, "local", &lt, err)) < 0)
		return ret;
	if (o->has_remote && (ret = dgram_check_addr(&o->remote, "remote", &rt, err)) < 0)
		return ret;
	if (o->has_remote && rt == DGRAM_INET) {
		struct sockaddr_in group;

		ret = dgram_inet(&o->remote, "remote", &group, err);
		if (ret < 0)
			return ret;
		if (IN_MULTICAST(ntohl(group.sin_addr.s_addr)))
			return dgram_init_mcast(o, &group, id, loop, err, lt);
	}
	if (!o->has_local)
		return error_set(err, -EINVAL, "Parameter 'local.type' is missing "
				 "(a local address is needed unless remote is a multicast group)");
	if (lt == DGRAM_FD) {
		if (o->has_remote)
			return error_set(err, -EINVAL, "remote.type=%s: no remote address with "
					 "local.type=fd", o->remote.type);
		return dgram_init_fd(&o->local, id, loop, err);
	}
	if (!o->has_remote)
		return error_set(err, -EINVAL, "Parameter 'remote.type' is missing "
				 "(local.type=%s needs a remote address)", o->local.type);
	if (rt != lt)
		return error_set(err, -EINVAL, "remote.type=%s: must be the same as local.type=%s",
				 o->remote.type, o->local.type);
	if (lt == DGRAM_INET) {
		local.len = remote.len = sizeof(struct sockaddr_in);
		ret = dgram_inet(&o->local, "local", (struct sockaddr_in *)&local.ss, err);
		if (ret == 0)
			ret = dgram_inet(&o->remote, "remote", (struct sockaddr_in *)&remote.ss,
					 err);
		if (ret < 0)
			return ret;
		snprintf(info, sizeof(info), "udp=%s/%s",
			 netaddr_format_ip_port((struct sockaddr_in *)&local.ss, l, sizeof(l)),
			 netaddr_format_ip_port((struct sockaddr_in *)&remote.ss, r, sizeof(r)));
		fd = dgram_bind(local.ss.ss_family, &local, err);
	} else {
		ret = netaddr_unix(o->local.path, false, true, &local, err);
		if (ret < 0) {
			error_prepend(err, "local.path=%s: ", o->local.path);
			return ret;
		}
		ret = netaddr_unix(o->remote.path, false, true, &remote, err);
		if (ret < 0) {
			error_prepend(err, "remote.path=%s: ", o->remote.path);
			return ret;
		}
		snprintf(info, sizeof(info), "udp=%s:%s", o->local.path, o->remote.path);
		/* A stale socket file of an earlier run is replaced, a live one refused. */
		fd = unix_socket_listen(o->local.path, SOCK_DGRAM, 0, &cfg.owned, err);
	}
	if (fd < 0)
		return fd;
	cfg.fd = fd;
	cfg.dest = &remote;
	cfg.info = info;
	return dgram_net_new(loop, id, &cfg, err);
}
