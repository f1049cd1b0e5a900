// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * net.c - net clients: the registry, peering, link state, filters and the send path.
 *
 * net_send_iov(sender) runs the sender's tx filters, then hands the packet to the peer's
 * incoming queue (queue.c), which delivers it to the peer's receive_iov at once or holds it.
 * Delivery runs the receiver's rx filters and honours link_down (drop silently) and
 * receive_disabled (hold until net_flush_queued()). A packet carrying a vnet header is
 * never handed to a client that does not accept one: its offloads are finished in software
 * (offload.c) and the header is stripped.
 *
 * net_send_burst(sender) hands a run of packets to the peer's receive_burst in one call
 * (receive_iov per packet for a peer without one), under the same rules: older queued
 * packets go first, what the peer did not take stays with a sender that can keep it (a
 * waiter in the peer's queue calls it back) or is copied into the queue.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/offload.h"
#include "core/queue.h"
#include "vwire/net.h"

static struct net_client *net_clients;

size_t net_iov_size(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

size_t net_iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset, void *buf, size_t len)
{
	size_t done = 0;

	if (iovcnt > 0 && offset < iov[0].iov_len && len <= iov[0].iov_len - offset) {
		memcpy(buf, (const uint8_t *)iov[0].iov_base + offset, len);
		return len;
	}
	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

struct net_client *net_first(void)
{
	return net_clients;
}

struct net_client *net_find(const char *name)
{
	for (struct net_client *nc = net_clients; nc; nc = nc->next)
		if (!strcmp(nc->name, name) && nc->queue_index == 0 && !nc->internal)
			return nc;
	return NULL;
}

unsigned int net_find_queues(const char *name, struct net_client **out, unsigned int max)
{
	unsigned int n = 0;

	for (struct net_client *nc = net_clients; nc; nc = nc->next) {
		if (strcmp(nc->name, name) || nc->internal)
			continue;
		if (nc->queue_index < max)
			out[nc->queue_index] = nc;
		n++;
	}
	return n;
}

static bool net_rx_filters_pass(struct net_client *nc, enum net_filter_dir dir,
				const struct iovec *iov, int iovcnt, unsigned int flags)
{
	for (struct net_filter *f = nc->filters; f; f = f->next)
		if ((f->dirs & dir) && !f->ops->receive_iov(f, dir, iov, iovcnt, flags))
			return false;
	return true;
}

static ssize_t net_deliver_raw(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags)
{
	ssize_t ret;

	if (nc->filters && !net_rx_filters_pass(nc, NET_FILTER_RX, iov, iovcnt, flags))
		return (ssize_t)net_iov_size(iov, iovcnt);
	ret = nc->ops->receive_iov(nc, iov, iovcnt, flags);
	if (ret == 0) {
		nc->receive_disabled = true;
	} else if (ret < 0) {
		nc->stats.rx_dropped++;
		ret = (ssize_t)net_iov_size(iov, iovcnt);
	} else {
		nc->stats.rx_packets++;
		nc->stats.rx_bytes += (uint64_t)ret;
	}
	return ret;
}

/* The queue's deliver function: the receiver is the queue's opaque. */
static ssize_t net_deliver(struct net_client *sender, unsigned int flags, const struct iovec *iov,
			   int iovcnt, void *opaque)
{
	struct net_client *nc = opaque;
	size_t size = net_iov_size(iov, iovcnt);

	(void)sender;
	if (nc->link_down)
		return (ssize_t)size;
	if (nc->receive_disabled)
		return 0;
	if ((flags & NET_FLAG_VNET_HDR) && !net_accepts_vnet_hdr(nc)) {
		ssize_t ret = offload_deliver_plain(nc, iov, iovcnt, flags & ~NET_FLAG_VNET_HDR,
						    net_deliver_raw);

		if (ret < 0) {
			nc->stats.rx_dropped++;
			return (ssize_t)size;
		}
		return ret ? (ssize_t)size : 0;
	}
	return net_deliver_raw(nc, iov, iovcnt, flags);
}

/* Pieces a stripped frame may have on the burst path; frames in more take the per-packet path. */
#define NET_PLAIN_IOV 4

/* Hand @pkts to @nc as they are: its receive_burst, or receive_iov per packet. */
static unsigned int net_deliver_burst_raw(struct net_client *nc, const struct net_pkt *pkts,
					  unsigned int n)
{
	unsigned int taken, i;
	uint64_t bytes = 0;

	if (nc->filters || !nc->ops->receive_burst) {
		for (i = 0; i < n; i++) {
			if (i && nc->ops->can_receive && !nc->ops->can_receive(nc))
				break;
			if (net_deliver_raw(nc, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags) == 0)
				break;
		}
		return i;
	}
	nc->burst_dropped = 0;
	nc->burst_dropped_bytes = 0;
	taken = nc->ops->receive_burst(nc, pkts, n);
	for (i = 0; i < taken; i++)
		bytes += pkts[i].len;
	nc->stats.rx_packets += taken - nc->burst_dropped;
	nc->stats.rx_bytes += bytes - nc->burst_dropped_bytes;
	if (taken < n)
		nc->receive_disabled = true;
	return taken;
}

/*
 * @nc takes no vnet headers: strip the headers that ask for nothing (the frames are passed
 * on in runs, uncopied) and finish the offloads of the others one packet at a time.
 */
static unsigned int net_deliver_burst_plain(struct net_client *nc, const struct net_pkt *pkts,
					    unsigned int n)
{
	struct net_pkt plain[NET_BURST_MAX];
	struct iovec iov[NET_BURST_MAX * NET_PLAIN_IOV];
	unsigned int done = 0;

	while (done < n) {
		unsigned int m = 0, taken;
		ssize_t ret;

		for (; done + m < n; m++) {
			const struct net_pkt *p = &pkts[done + m];
			int k;

			plain[m] = *p;
			if (!(p->flags & NET_FLAG_VNET_HDR))
				continue;
			k = offload_plain_iov(p->iov, p->iovcnt, iov + m * NET_PLAIN_IOV,
					      NET_PLAIN_IOV);
			if (k <= 0)
				break;
			plain[m].iov = iov + m * NET_PLAIN_IOV;
			plain[m].iovcnt = k;
			plain[m].flags &= ~NET_FLAG_VNET_HDR;
			plain[m].len -= NET_VNET_HDR_LEN;
		}
		if (m) {
			taken = net_deliver_burst_raw(nc, plain, m);
			done += taken;
			if (taken < m)
				return done;
			continue;
		}
		ret = net_deliver(NULL, pkts[done].flags, pkts[done].iov, pkts[done].iovcnt, nc);
		if (ret == 0)
			return done;
		done++;
	}
	return done;
}

/* Deliver @pkts to @nc now, as far as it takes them; return how many it took. */
static unsigned int net_deliver_burst(struct net_client *nc, const struct net_pkt *pkts,
				      unsigned int n)
{
	if (nc->link_down)
		return n;
	if (nc->receive_disabled)
		return 0;
	if (!net_accepts_vnet_hdr(nc)) {
		for (unsigned int i = 0; i < n; i++)
			if (pkts[i].flags & NET_FLAG_VNET_HDR)
				return net_deliver_burst_plain(nc, pkts, n);
	}
	return net_deliver_burst_raw(nc, pkts, n);
}

static bool net_name_taken(const char *name)
{
	for (struct net_client *nc = net_clients; nc; nc = nc->next)
		if (!strcmp(nc->name, name))
			return true;
	return false;
}

static char *net_unique_name(const char *model)
{
	char buf[128];

	for (unsigned int i = 0;; i++) {
		snprintf(buf, sizeof(buf), "%s.%u", model, i);
		if (!net_name_taken(buf))
			return strdup(buf);
	}
}

static void net_register(struct net_client *nc)
{
	struct net_client **pp = &net_clients;

	/* Keep creation order, as 'info network' lists them. */
	while (*pp)
		pp = &(*pp)->next;
	*pp = nc;
}

static struct net_client *net_client_alloc(const struct net_client_ops *ops, struct loop *loop,
					   const char *model, char *name)
{
	struct net_client *nc;

	if (!name)
		return NULL;
	nc = calloc(1, ops->size < sizeof(*nc) ? sizeof(*nc) : ops->size);
	if (!nc)
		goto err;
	nc->ops = ops;
	nc->loop = loop;
	nc->name = name;
	nc->model = strdup(model);
	nc->hubid = -1;
	nc->queues = 1;
	nc->incoming_queue = net_queue_new(net_deliver, nc, NET_QUEUE_DEFAULT_LEN);
	if (!nc->model || !nc->incoming_queue)
		goto err;
	return nc;
err:
	if (nc) {
		free(nc->model);
		net_queue_free(nc->incoming_queue);
		free(nc);
	}
	free(name);
	errno = ENOMEM;
	return NULL;
}

int net_peer_check(const struct net_client *peer, const struct loop *loop)
{
	if (peer && peer->peer)
		return -EBUSY;
	/* Peers call each other directly: one thread serves both. */
	if (peer && peer->loop != loop)
		return -EXDEV;
	return 0;
}

struct net_client *net_client_new(const struct net_client_ops *ops, struct loop *loop,
				  struct net_client *peer, const char *model, const char *name)
{
	struct net_client *nc;

	if (!model)
		model = ops->type;
	if (name && net_name_taken(name)) {
		errno = EEXIST;
		return NULL;
	}
	errno = -net_peer_check(peer, loop);
	if (errno)
		return NULL;
	nc = net_client_alloc(ops, loop, model, name ? strdup(name) : net_unique_name(model));
	if (!nc)
		return NULL;
	net_register(nc);
	if (peer) {
		nc->peer = peer;
		peer->peer = nc;
		if (peer->ops->peer_changed)
			peer->ops->peer_changed(peer);
	}
	return nc;
}

struct net_client *net_client_new_queue(struct net_client *first, unsigned int index)
{
	struct net_client *nc;

	nc = net_client_alloc(first->ops, first->loop, first->model, strdup(first->name));
	if (!nc)
		return NULL;
	nc->queue_index = index;
	nc->is_netdev = first->is_netdev;
	net_register(nc);
	return nc;
}

int net_peer(struct net_client *a, struct net_client *b)
{
	int ret = a->peer ? -EBUSY : net_peer_check(b, a->loop);

	if (a == b)
		return -EINVAL;
	if (ret < 0)
		return ret;
	a->peer = b;
	b->peer = a;
	if (a->ops->peer_changed)
		a->ops->peer_changed(a);
	if (b->ops->peer_changed)
		b->ops->peer_changed(b);
	return 0;
}

static void net_unpeer(struct net_client *nc)
{
	struct net_client *peer = nc->peer;

	if (!peer)
		return;
	/* Unpeered first: a sender called back by the purge may send again, to no peer then. */
	peer->peer = NULL;
	nc->peer = NULL;
	/* Nothing of ours may stay queued at the peer, and nothing of theirs at us. */
	net_queue_purge(peer->incoming_queue, nc);
	net_queue_purge(nc->incoming_queue, peer);
	if (peer->ops->peer_changed)
		peer->ops->peer_changed(peer);
}

void net_client_free(struct net_client *nc)
{
	struct net_client **pp;

	if (!nc)
		return;
	net_unpeer(nc);
	while (nc->filters)
		net_filter_detach_free(nc->filters);
	if (nc->ops->cleanup)
		nc->ops->cleanup(nc);
	net_queue_free(nc->incoming_queue);
	for (pp = &net_clients; *pp; pp = &(*pp)->next) {
		if (*pp == nc) {
			*pp = nc->next;
			break;
		}
	}
	free(nc->name);
	free(nc->model);
	free(nc);
}

void net_client_free_all(void)
{
	/* Front ends first, as QEMU tears down NICs before their back ends. */
	for (int pass = 0; pass < 2; pass++) {
		struct net_client *nc = net_clients, *next;

		for (; nc; nc = next) {
			next = nc->next;
			if (pass == 0 && nc->is_netdev)
				continue;
			net_client_free(nc);
			/* Freeing may free others (a device's queues): restart. */
			next = net_clients;
			if (pass == 0)
				while (next && next->is_netdev)
					next = next->next;
		}
	}
}

bool net_can_receive(struct net_client *nc)
{
	if (nc->receive_disabled)
		return false;
	if (nc->ops->can_receive && !nc->ops->can_receive(nc))
		return false;
	return true;
}

bool net_can_send(struct net_client *sender)
{
	if (!sender->peer || sender->link_down)
		return true;
	if (sender->peer->link_down)
		return true;
	return net_can_receive(sender->peer);
}

ssize_t net_send_iov(struct net_client *sender, const struct iovec *iov, int iovcnt,
		     unsigned int flags, net_sent_cb *sent_cb)
{
	struct net_client *peer = sender->peer;
	size_t size = net_iov_size(iov, iovcnt);
	bool dropped;
	ssize_t ret;

	if (!peer || sender->link_down || peer->link_down) {
		sender->stats.tx_dropped++;
		return (ssize_t)size;
	}
	if (sender->filters && !net_rx_filters_pass(sender, NET_FILTER_TX, iov, iovcnt, flags))
		return (ssize_t)size;
	ret = net_queue_send_iov(peer->incoming_queue, sender, flags, iov, iovcnt, sent_cb,
				 net_can_receive(peer), &dropped);
	if (dropped) {
		peer->stats.rx_dropped++;
		return ret;
	}
	sender->stats.tx_packets++;
	sender->stats.tx_bytes += size;
	return ret;
}

ssize_t net_send(struct net_client *sender, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return net_send_iov(sender, &iov, 1, 0, NULL);
}

/* The sender runs tx filters: one packet at a time, each seen by them once. */
static unsigned int net_send_burst_filtered(struct net_client *sender, const struct net_pkt *pkts,
					    unsigned int n, net_sent_cb *sent_cb)
{
	struct net_client *peer = sender->peer;

	for (unsigned int i = 0; i < n; i++) {
		if (sent_cb && (!net_can_receive(peer) || net_queue_length(peer))) {
			if (net_queue_add_waiter(peer->incoming_queue, sender, sent_cb) == 0)
				return i;
		}
		net_send_iov(sender, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags, NULL);
	}
	return n;
}

/* net_send_burst() of at most NET_BURST_MAX packets. */
static unsigned int net_send_burst_max(struct net_client *sender, const struct net_pkt *pkts,
				       unsigned int n, net_sent_cb *sent_cb)
{
	struct net_client *peer = sender->peer;
	struct net_queue *q;
	unsigned int taken = 0, i;
	bool can_deliver;

	if (!n)
		return 0;
	if (!peer || sender->link_down || peer->link_down) {
		sender->stats.tx_dropped += n;
		return n;
	}
	if (sender->filters)
		return net_send_burst_filtered(sender, pkts, n, sent_cb);
	q = peer->incoming_queue;
	can_deliver = !peer->receive_disabled &&
		      (peer->ops->receive_burst || !peer->ops->can_receive ||
		       peer->ops->can_receive(peer));
	if (net_queue_can_pass(q, can_deliver)) {
		net_queue_set_delivering(q, true);
		taken = net_deliver_burst(peer, pkts, n);
		net_queue_set_delivering(q, false);
	}
	for (i = 0; i < taken; i++)
		sender->stats.tx_bytes += pkts[i].len;
	sender->stats.tx_packets += taken;
	if (taken == n)
		return n;
	if (sent_cb && net_queue_add_waiter(q, sender, sent_cb) == 0)
		return taken;
	for (i = taken; i < n; i++) {
		if (!net_queue_hold(q, sender, &pkts[i], NULL)) {
			peer->stats.rx_dropped++;
			continue;
		}
		sender->stats.tx_packets++;
		sender->stats.tx_bytes += pkts[i].len;
	}
	return n;
}

unsigned int net_send_burst(struct net_client *sender, const struct net_pkt *pkts,
			    unsigned int n, net_sent_cb *sent_cb)
{
	unsigned int done = 0;

	/* A receive_burst (and the arrays of the burst path) never sees more than a burst. */
	while (n - done > NET_BURST_MAX) {
		unsigned int k = net_send_burst_max(sender, pkts + done, NET_BURST_MAX, sent_cb);

		done += k;
		if (k < NET_BURST_MAX)
			return done;
	}
	return done + net_send_burst_max(sender, pkts + done, n - done, sent_cb);
}

unsigned int net_send_room(struct net_client *sender)
{
	struct net_client *peer = sender->peer;

	if (!peer || sender->link_down || peer->link_down)
		return NET_ROOM_UNLIMITED;
	if (peer->receive_disabled)
		return 0;
	if (peer->ops->rx_room)
		return peer->ops->rx_room(peer);
	if (peer->ops->can_receive && !peer->ops->can_receive(peer))
		return 0;
	return NET_ROOM_UNLIMITED;
}

int net_send_wait(struct net_client *sender, net_sent_cb *sent_cb)
{
	if (!sender->peer)
		return 0;
	return net_queue_add_waiter(sender->peer->incoming_queue, sender, sent_cb);
}

void net_rx_dropped(struct net_client *nc, const struct net_pkt *pkt)
{
	nc->stats.rx_dropped++;
	nc->burst_dropped++;
	nc->burst_dropped_bytes += pkt->len;
}

int net_rx_lend(struct net_client *sender, struct iovec *iov, int max_iov, size_t max_len,
		unsigned int flags)
{
	struct net_client *peer = sender->peer;

	if (!peer || !peer->ops->rx_lend || sender->link_down || peer->link_down ||
	    sender->filters || peer->filters || net_queue_length(peer) || !net_can_receive(peer))
		return 0;
	return peer->ops->rx_lend(peer, iov, max_iov, max_len, flags);
}

void net_rx_commit(struct net_client *sender, size_t len, unsigned int flags)
{
	struct net_client *peer = sender->peer;

	peer->ops->rx_commit(peer, len, flags);
	if (!len)
		return;
	sender->stats.tx_packets++;
	sender->stats.tx_bytes += len;
	peer->stats.rx_packets++;
	peer->stats.rx_bytes += len;
}

bool net_flush_queued(struct net_client *nc)
{
	nc->receive_disabled = false;
	if (!net_queue_flush(nc->incoming_queue))
		return false;
	/* A hub retries what its other ports held back while nc could not take it. */
	if (nc->peer && nc->peer->ops->peer_flushed)
		nc->peer->ops->peer_flushed(nc->peer);
	return net_queue_len(nc->incoming_queue) == 0;
}

void net_purge_queued(struct net_client *nc, struct net_client *from)
{
	net_queue_purge(nc->incoming_queue, from);
}

unsigned int net_queue_length(const struct net_client *nc)
{
	return net_queue_len(nc->incoming_queue);
}

void net_set_queue_limit(struct net_client *nc, unsigned int limit)
{
	net_queue_set_limit(nc->incoming_queue, limit);
}

void net_set_link(struct net_client *nc, bool up)
{
	nc->link_down = !up;
	if (nc->ops->link_status_changed)
		nc->ops->link_status_changed(nc);
	if (!nc->peer)
		return;
	/* A front end follows its back end's link; a hub port or back end peer keeps its own. */
	if (!nc->peer->is_netdev)
		nc->peer->link_down = !up;
	if (nc->peer->ops->link_status_changed)
		nc->peer->ops->link_status_changed(nc->peer);
	if (up)
		net_flush_queued(nc->peer);
}

bool net_accepts_vnet_hdr(struct net_client *nc)
{
	return nc && nc->ops->accepts_vnet_hdr && nc->ops->accepts_vnet_hdr(nc);
}

bool net_peer_accepts_vnet_hdr(struct net_client *nc)
{
	return net_accepts_vnet_hdr(nc->peer);
}

void net_filter_attach(struct net_client *nc, struct net_filter *f)
{
	struct net_filter **pp = &nc->filters;

	while (*pp)
		pp = &(*pp)->next;
	f->nc = nc;
	f->next = NULL;
	*pp = f;
}

void net_filter_detach_free(struct net_filter *f)
{
	struct net_filter **pp;

	for (pp = &f->nc->filters; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (f->ops->cleanup)
		f->ops->cleanup(f);
	free(f->name);
	free(f);
}

struct net_filter *net_filter_find(const char *name)
{
	for (struct net_client *nc = net_clients; nc; nc = nc->next)
		for (struct net_filter *f = nc->filters; f; f = f->next)
			if (f->name && !strcmp(f->name, name))
				return f;
	return NULL;
}
