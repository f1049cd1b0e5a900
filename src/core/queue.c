// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue.c - a client's incoming queue, with QEMU's NetQueue semantics.
 *
 * A send is delivered at once when the receiver can take it and nothing older waits;
 * otherwise the packet is copied into a held buffer and appended, and the sender is told 0.
 * net_queue_flush() delivers in order until the receiver refuses one, firing each sent_cb.
 * The queue is bounded: a full queue drops. Held buffers are recycled through a free list,
 * so a busy queue allocates nothing per packet once warm. A sender of bursts that keeps the
 * packets the owner did not take leaves a waiter instead (no data, never dropped): when the
 * flush reaches it, its sent_cb fires and it sends them again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/queue.h"

/* How many released buffers a queue keeps for reuse. */
#define NET_QUEUE_FREE_MAX 64

struct net_packet {
	struct net_packet *next;
	struct net_client *sender;
	bool waiter;
	unsigned int flags;
	net_sent_cb *sent_cb;
	size_t size;
	size_t cap;
	uint8_t data[];
};

struct net_queue {
	net_queue_deliver_fn *deliver;
	void *opaque;
	struct net_packet *head;
	struct net_packet **tail;
	unsigned int len;
	unsigned int nwaiters;
	unsigned int limit;
	bool delivering;
	struct net_packet *free_list;
	unsigned int nfree;
};

struct net_queue *net_queue_new(net_queue_deliver_fn *deliver, void *opaque, unsigned int limit)
{
	struct net_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->deliver = deliver;
	q->opaque = opaque;
	q->tail = &q->head;
	q->limit = limit ? limit : 1;
	return q;
}

static struct net_packet *net_queue_get_buf(struct net_queue *q, size_t size)
{
	struct net_packet **pp, *p;
	size_t cap;

	for (pp = &q->free_list; *pp; pp = &(*pp)->next) {
		if ((*pp)->cap >= size) {
			p = *pp;
			*pp = p->next;
			q->nfree--;
			return p;
		}
	}
	/* Round up so that one buffer serves packets of similar sizes later. */
	cap = size <= 2048 ? 2048 : (size + 4095) & ~(size_t)4095;
	p = malloc(sizeof(*p) + cap);
	if (p)
		p->cap = cap;
	return p;
}

static void net_queue_put_buf(struct net_queue *q, struct net_packet *p)
{
	if (q->nfree >= NET_QUEUE_FREE_MAX) {
		free(p);
		return;
	}
	p->next = q->free_list;
	q->free_list = p;
	q->nfree++;
}

/* Return false when the packet was dropped (queue full or no memory). */
static bool net_queue_append(struct net_queue *q, struct net_client *sender, unsigned int flags,
			     const struct iovec *iov, int iovcnt, net_sent_cb *sent_cb)
{
	size_t size = net_iov_size(iov, iovcnt);
	struct net_packet *p;

	if (q->len >= q->limit)
		return false;
	p = net_queue_get_buf(q, size);
	if (!p)
		return false;
	p->next = NULL;
	p->sender = sender;
	p->waiter = false;
	p->flags = flags;
	p->sent_cb = sent_cb;
	p->size = net_iov_to_buf(iov, iovcnt, 0, p->data, size);
	*q->tail = p;
	q->tail = &p->next;
	q->len++;
	return true;
}

static ssize_t net_queue_deliver(struct net_queue *q, struct net_client *sender, unsigned int flags,
				 const struct iovec *iov, int iovcnt)
{
	ssize_t ret;

	q->delivering = true;
	ret = q->deliver(sender, flags, iov, iovcnt, q->opaque);
	q->delivering = false;
	return ret;
}

ssize_t net_queue_send_iov(struct net_queue *q, struct net_client *sender, unsigned int flags,
			   const struct iovec *iov, int iovcnt, net_sent_cb *sent_cb,
			   bool can_deliver, bool *dropped)
{
	ssize_t ret;

	*dropped = false;
	/* Older packets go first: try to drain them before this one may overtake them. */
	if (q->head && can_deliver && !q->delivering)
		net_queue_flush(q);
	if (q->delivering || !can_deliver || q->head) {
		if (!net_queue_append(q, sender, flags, iov, iovcnt, sent_cb)) {
			*dropped = true;
			return (ssize_t)net_iov_size(iov, iovcnt);
		}
		return 0;
	}
	ret = net_queue_deliver(q, sender, flags, iov, iovcnt);
	if (ret == 0) {
		if (!net_queue_append(q, sender, flags, iov, iovcnt, sent_cb)) {
			*dropped = true;
			return (ssize_t)net_iov_size(iov, iovcnt);
		}
		return 0;
	}
	return ret;
}

bool net_queue_flush(struct net_queue *q)
{
	if (q->delivering)
		return q->head == NULL;
	while (q->head) {
		struct net_packet *p = q->head;
		struct iovec iov = { .iov_base = p->data, .iov_len = p->size };
		ssize_t ret = 0;

		if (!p->waiter) {
			ret = net_queue_deliver(q, p->sender, p->flags, &iov, 1);
			if (ret == 0)
				return false;
		}
		/* Unlink before the callback: it may send again into this queue. */
		q->head = p->next;
		if (!q->head)
			q->tail = &q->head;
		if (p->waiter)
			q->nwaiters--;
		else
			q->len--;
		if (p->sent_cb)
			p->sent_cb(p->sender, ret);
		net_queue_put_buf(q, p);
	}
	return true;
}

void net_queue_purge(struct net_queue *q, struct net_client *from)
{
	struct net_packet **pp = &q->head, *purged = NULL, **last = &purged, *p;

	/* Unlink them all before the callbacks: a sender may send again into this queue. */
	while (*pp) {
		p = *pp;
		if (from && p->sender != from) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->waiter)
			q->nwaiters--;
		else
			q->len--;
		p->next = NULL;
		*last = p;
		last = &p->next;
	}
	q->tail = pp;
	while (purged) {
		p = purged;
		purged = p->next;
		if (p->sent_cb)
			p->sent_cb(p->sender, 0);
		net_queue_put_buf(q, p);
	}
}

unsigned int net_queue_len(const struct net_queue *q)
{
	return q->len + q->nwaiters;
}

bool net_queue_can_pass(struct net_queue *q, bool can_deliver)
{
	if (q->head && can_deliver && !q->delivering)
		net_queue_flush(q);
	return can_deliver && !q->delivering && !q->head;
}

void net_queue_set_delivering(struct net_queue *q, bool on)
{
	q->delivering = on;
}

bool net_queue_hold(struct net_queue *q, struct net_client *sender, const struct net_pkt *pkt,
		    net_sent_cb *sent_cb)
{
	return net_queue_append(q, sender, pkt->flags, pkt->iov, pkt->iovcnt, sent_cb);
}

int net_queue_add_waiter(struct net_queue *q, struct net_client *sender, net_sent_cb *sent_cb)
{
	struct net_packet *p;

	for (p = q->head; p; p = p->next)
		if (p->waiter && p->sender == sender)
			return 0;
	p = net_queue_get_buf(q, 0);
	if (!p)
		return -ENOMEM;
	p->next = NULL;
	p->sender = sender;
	p->waiter = true;
	p->flags = 0;
	p->sent_cb = sent_cb;
	p->size = 0;
	*q->tail = p;
	q->tail = &p->next;
	q->nwaiters++;
	return 0;
}

void net_queue_set_limit(struct net_queue *q, unsigned int limit)
{
	q->limit = limit ? limit : 1;
}

void net_queue_free(struct net_queue *q)
{
	struct net_packet *p, *next;

	if (!q)
		return;
	net_queue_purge(q, NULL);
	for (p = q->free_list; p; p = next) {
		next = p->next;
		free(p);
	}
	free(q);
}
