// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hub-link.c - the two ends of a link between the parts of a hub on two event loops.
 *
 * Each direction has a pool of HUB_LINK_BUFFERS packet buffers and two single-producer
 * single-consumer rings: "full" carries filled buffers from the sending end's thread to the
 * receiving end's, "free" carries them back once sent on. An end's receive_burst copies each
 * packet into a free buffer (the only copy: the packet's owner keeps its own memory), puts
 * the burst on "full" and wakes the other loop once, unless a wake is pending already. The
 * other end's bottom half takes up to a burst off the ring and sends it to its peer (its
 * hub part). What that peer does not take stays in the ring's buffers until the peer
 * flushes; the buffers come back only when sent, so a slow part holds back the sending
 * part: an end's room is its free buffers, and an end that ran out is resumed (its queue
 * flushed) by the other thread through a bottom half once buffers come back.
 *
 * Nothing is allocated per packet; the pools are mapped once (pages touched as frames need
 * them). The ends are freed separately, on or after their threads (hub.c never frees a link
 * while its threads run); the lock keeps a thread from waking an end being freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/hub-link.h"
#include "core/spsc-ring.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* One buffer: the packet's length and flags, then its bytes; HUB_LINK_STRIDE bytes apart. */
struct hub_link_buf {
	uint32_t len;
	uint32_t flags;
	uint8_t data[];
};

#define HUB_LINK_STRIDE ((sizeof(struct hub_link_buf) + NET_MAX_PACKET + 63) & ~(size_t)63)

/**
 * struct hub_link_dir - one direction: what one end sends to the other
 * @full:	filled buffers, from the sending end's thread to the receiving end's
 * @free:	sent buffers, back to the sending end's thread
 * @pool:	the buffers
 * @wake:	a wake of the receiving end is pending (cleared by it before it looks)
 * @starved:	the sending end found no free buffer (cleared by the receiving end as it
 *		returns some, which then resumes the sender)
 */
struct hub_link_dir {
	struct spsc_ring *full;
	struct spsc_ring *free;
	uint8_t *pool;
	atomic_bool wake;
	atomic_bool starved;
};

struct hub_link;

/**
 * struct hub_link_end - one end, a net client on its loop
 * @nc:		the client
 * @link:	the link
 * @side:	0 or 1: sends on @link->dir[side], receives on the other
 * @rx_bh:	sends what the other end put on the ring to the peer
 * @resume_bh:	flushes this end's queue once the other end returned buffers
 * @held:	buffers taken off the ring and not yet taken by the peer, oldest first
 * @nheld:	how many
 */
struct hub_link_end {
	struct net_client nc;
	struct hub_link *link;
	unsigned int side;
	struct loop_bh *rx_bh;
	struct loop_bh *resume_bh;
	struct hub_link_buf *held[NET_BURST_MAX];
	unsigned int nheld;
};

/**
 * struct hub_link - the two ends and their directions
 * @lock:	held while waking an end, and while an end goes: no wake reaches a freed one
 * @end:	the ends, NULL once freed
 * @dir:	dir[i] carries what end[i] sends
 */
struct hub_link {
	pthread_mutex_t lock;
	struct hub_link_end *end[2];
	struct hub_link_dir dir[2];
};

static struct hub_link_buf *hub_link_buf_at(struct hub_link_dir *d, unsigned int i)
{
	return (struct hub_link_buf *)(d->pool + (size_t)i * HUB_LINK_STRIDE);
}

/* Schedule a bottom half of the end on @side from the other thread, unless it is gone. */
static void hub_link_wake(struct hub_link *link, unsigned int side, bool resume)
{
	pthread_mutex_lock(&link->lock);
	if (link->end[side])
		loop_bh_schedule_threadsafe(resume ? link->end[side]->resume_bh :
						     link->end[side]->rx_bh);
	pthread_mutex_unlock(&link->lock);
}

/* Free buffers this end may fill now. */
static unsigned int hub_link_room(struct hub_link_end *end)
{
	struct hub_link_dir *d = &end->link->dir[end->side];
	unsigned int n = spsc_ring_count(d->free);

	if (n)
		return n;
	/* Announce the shortage, then look again: buffers returned meanwhile are not missed. */
	atomic_store(&d->starved, true);
	atomic_thread_fence(memory_order_seq_cst);
	return spsc_ring_count(d->free);
}

/*
 * A burst was taken in part: the core holds the end until net_flush_queued(), which the
 * resume does. Announce the shortage; buffers that came back before the other thread could see
 * it would not bring a resume from there: resume from here then.
 */
static void hub_link_ran_short(struct hub_link_end *end)
{
	struct hub_link_dir *d = &end->link->dir[end->side];

	atomic_store(&d->starved, true);
	atomic_thread_fence(memory_order_seq_cst);
	if (spsc_ring_count(d->free))
		loop_bh_schedule(end->resume_bh);
}

static unsigned int hub_link_rx_room(struct net_client *nc)
{
	return hub_link_room((struct hub_link_end *)nc);
}

static bool hub_link_can_receive(struct net_client *nc)
{
	return hub_link_room((struct hub_link_end *)nc) > 0;
}

/* Frames with vnet headers cross whole: the far part strips them for peers that want none. */
static bool hub_link_accepts_vnet_hdr(struct net_client *nc)
{
	(void)nc;
	return true;
}

static unsigned int hub_link_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
					   unsigned int n)
{
	struct hub_link_end *end = (struct hub_link_end *)nc;
	struct hub_link_dir *d = &end->link->dir[end->side];
	void *bufs[NET_BURST_MAX];
	unsigned int nbufs, filled = 0, i;

	/* The core hands a receive_burst at most NET_BURST_MAX packets. */
	nbufs = spsc_ring_dequeue_burst(d->free, bufs, n);
	if (!nbufs && hub_link_room(end))
		nbufs = spsc_ring_dequeue_burst(d->free, bufs, n);
	if (!nbufs)
		return 0;
	for (i = 0; i < n && filled < nbufs; i++) {
		struct hub_link_buf *b = bufs[filled];

		if (pkts[i].len > NET_MAX_PACKET) {
			net_rx_dropped(nc, &pkts[i]);
			continue;
		}
		b->len = (uint32_t)net_iov_to_buf(pkts[i].iov, pkts[i].iovcnt, 0, b->data,
						  pkts[i].len);
		b->flags = pkts[i].flags;
		filled++;
	}
	/* Buffers left over go back; the ring has room for every buffer of the pool. */
	if (filled < nbufs)
		spsc_ring_enqueue_burst(d->free, bufs + filled, nbufs - filled);
	if (filled) {
		spsc_ring_enqueue_burst(d->full, bufs, filled);
		if (!atomic_exchange(&d->wake, true))
			hub_link_wake(end->link, !end->side, false);
	}
	if (i < n)
		hub_link_ran_short(end);
	return i;
}

/* A packet out of the end's queue (net_flush_queued()): a burst of one. */
static ssize_t hub_link_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				    unsigned int flags)
{
	struct net_pkt pkt = { iov, iovcnt, flags, net_iov_size(iov, iovcnt) };

	if (pkt.len > NET_MAX_PACKET)
		return -EMSGSIZE; /* counted by the core */
	return hub_link_receive_burst(nc, &pkt, 1) ? (ssize_t)pkt.len : 0;
}

/* Return @n sent buffers to the sending end, and resume it if it had run short. */
static void hub_link_recycle(struct hub_link_end *end, struct hub_link_dir *d, void **bufs,
			     unsigned int n)
{
	spsc_ring_enqueue_burst(d->free, bufs, n);
	/* Pairs with hub_link_room(): either it sees these buffers or this sees its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&d->starved) && atomic_exchange(&d->starved, false))
		hub_link_wake(end->link, !end->side, true);
}

static void hub_link_sent(struct net_client *nc, ssize_t ret)
{
	(void)ret;
	loop_bh_schedule(((struct hub_link_end *)nc)->rx_bh);
}

/* Send up to a burst of held and ring buffers to the peer; true if the peer took them all. */
static bool hub_link_send_once(struct hub_link_end *end, bool *more)
{
	struct hub_link_dir *d = &end->link->dir[!end->side];
	struct net_pkt pkts[NET_BURST_MAX];
	struct iovec iov[NET_BURST_MAX];
	void *done[NET_BURST_MAX];
	unsigned int n, taken;

	n = end->nheld;
	if (n < NET_BURST_MAX)
		n += spsc_ring_dequeue_burst(d->full, (void **)end->held + n, NET_BURST_MAX - n);
	*more = n == NET_BURST_MAX;
	if (!n)
		return true;
	for (unsigned int i = 0; i < n; i++) {
		struct hub_link_buf *b = end->held[i];

		iov[i] = (struct iovec){ .iov_base = b->data, .iov_len = b->len };
		pkts[i] = (struct net_pkt){ &iov[i], 1, b->flags, b->len };
	}
	taken = net_send_burst(&end->nc, pkts, n, hub_link_sent);
	memcpy(done, end->held, taken * sizeof(done[0]));
	end->nheld = n - taken;
	memmove(end->held, end->held + taken, end->nheld * sizeof(end->held[0]));
	if (taken)
		hub_link_recycle(end, d, done, taken);
	return taken == n;
}

/* On this end's loop: the other end put packets on the ring, or the peer may take more. */
static void hub_link_rx_bh(void *opaque)
{
	struct hub_link_end *end = opaque;
	struct hub_link_dir *d = &end->link->dir[!end->side];
	bool more;

	/* Cleared before looking: a burst put on the ring after this wakes the loop again. */
	atomic_store(&d->wake, false);
	atomic_thread_fence(memory_order_seq_cst);
	if (!hub_link_send_once(end, &more))
		return; /* hub_link_sent() goes on */
	/* A ring that had more waits for the next round, after the loop's fds had their turn. */
	if (more)
		loop_bh_schedule(end->rx_bh);
}

/* On this end's loop: the other end returned buffers after this one ran short. */
static void hub_link_resume_bh(void *opaque)
{
	struct hub_link_end *end = opaque;

	net_flush_queued(&end->nc);
}

static void hub_link_free(struct hub_link *link)
{
	for (unsigned int i = 0; i < 2; i++) {
		spsc_ring_free(link->dir[i].full);
		spsc_ring_free(link->dir[i].free);
		if (link->dir[i].pool)
			munmap(link->dir[i].pool, HUB_LINK_BUFFERS * HUB_LINK_STRIDE);
	}
	pthread_mutex_destroy(&link->lock);
	free(link);
}

static void hub_link_cleanup(struct net_client *nc)
{
	struct hub_link_end *end = (struct hub_link_end *)nc;
	struct hub_link *link = end->link;
	bool last;

	pthread_mutex_lock(&link->lock);
	link->end[end->side] = NULL;
	last = !link->end[!end->side];
	pthread_mutex_unlock(&link->lock);
	loop_bh_free(end->rx_bh);
	loop_bh_free(end->resume_bh);
	if (last)
		hub_link_free(link);
}

static void hub_link_counters(struct net_client *nc, net_counter_fn *add, void *opaque)
{
	struct hub_link_end *end = (struct hub_link_end *)nc;

	add(opaque, "link-free-buffers", spsc_ring_count(end->link->dir[end->side].free));
	add(opaque, "link-held", end->nheld);
}

static const struct net_client_ops hub_link_ops = {
	.type = "hub-link",
	.size = sizeof(struct hub_link_end),
	.receive_iov = hub_link_receive_iov,
	.can_receive = hub_link_can_receive,
	.cleanup = hub_link_cleanup,
	.accepts_vnet_hdr = hub_link_accepts_vnet_hdr,
	.receive_burst = hub_link_receive_burst,
	.rx_room = hub_link_rx_room,
	.counters = hub_link_counters,
};

static int hub_link_dir_init(struct hub_link_dir *d)
{
	void *bufs[HUB_LINK_BUFFERS];

	d->full = spsc_ring_new(HUB_LINK_BUFFERS);
	d->free = spsc_ring_new(HUB_LINK_BUFFERS);
	d->pool = mmap(NULL, HUB_LINK_BUFFERS * HUB_LINK_STRIDE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->pool == MAP_FAILED)
		d->pool = NULL;
	if (!d->full || !d->free || !d->pool)
		return -ENOMEM;
	for (unsigned int i = 0; i < HUB_LINK_BUFFERS; i++)
		bufs[i] = hub_link_buf_at(d, i);
	spsc_ring_enqueue_burst(d->free, bufs, HUB_LINK_BUFFERS);
	atomic_init(&d->wake, false);
	atomic_init(&d->starved, false);
	return 0;
}

static struct hub_link_end *hub_link_end_new(struct hub_link *link, unsigned int side,
					     struct loop *loop, const char *name)
{
	struct hub_link_end *end;
	char buf[128];

	snprintf(buf, sizeof(buf), "%s.%c", name, side ? 'b' : 'a');
	end = (struct hub_link_end *)net_client_new(&hub_link_ops, loop, NULL, "hub-link", buf);
	if (!end)
		return NULL;
	end->link = link;
	end->side = side;
	end->nc.internal = true;
	link->end[side] = end;
	end->rx_bh = loop_bh_new(loop, hub_link_rx_bh, end);
	end->resume_bh = loop_bh_new(loop, hub_link_resume_bh, end);
	snprintf(end->nc.info_str, sizeof(end->nc.info_str), "hub-link,buffers=%u",
		 HUB_LINK_BUFFERS);
	if (!end->rx_bh || !end->resume_bh)
		return NULL;
	return end;
}

int hub_link_new(struct loop *loop_a, struct loop *loop_b, const char *name,
		 struct net_client **end_a, struct net_client **end_b)
{
	struct hub_link *link = calloc(1, sizeof(*link));
	struct hub_link_end *a = NULL, *b = NULL;

	if (!link)
		return -ENOMEM;
	pthread_mutex_init(&link->lock, NULL);
	if (hub_link_dir_init(&link->dir[0]) < 0 || hub_link_dir_init(&link->dir[1]) < 0)
		goto fail;
	a = hub_link_end_new(link, 0, loop_a, name);
	if (a)
		b = hub_link_end_new(link, 1, loop_b, name);
	if (!a || !b)
		goto fail;
	*end_a = &a->nc;
	*end_b = &b->nc;
	return 0;
fail:
	if (link->end[0] || link->end[1]) {
		/* The second end freed frees the link. */
		struct hub_link_end *e1 = link->end[1];

		if (link->end[0])
			net_client_free(&link->end[0]->nc);
		if (e1)
			net_client_free(&e1->nc);
		return -ENOMEM;
	}
	hub_link_free(link);
	return -ENOMEM;
}
