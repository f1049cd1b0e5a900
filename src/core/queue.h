/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * queue.h - a client's incoming queue: packets that arrived while it could not receive.
 */
#ifndef VWIRE_CORE_QUEUE_H
#define VWIRE_CORE_QUEUE_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vwire/net.h"

/**
 * typedef net_queue_deliver_fn - hand a packet to the queue's owner
 * @sender:	who sent it
 * @flags:	NET_FLAG_*
 * @iov:	the packet
 * @iovcnt:	pieces
 * @opaque:	the queue's opaque
 *
 * Return: as net_client_ops.receive_iov (0: cannot take it now)
 */
typedef ssize_t net_queue_deliver_fn(struct net_client *sender, unsigned int flags,
				     const struct iovec *iov, int iovcnt, void *opaque);

/**
 * net_queue_new() - an empty queue
 * @deliver:	delivers to the owner
 * @opaque:	passed to @deliver
 * @limit:	most packets held
 *
 * Return: the queue or NULL
 */
struct net_queue *net_queue_new(net_queue_deliver_fn *deliver, void *opaque, unsigned int limit);

/**
 * net_queue_free() - purge every packet (their sent_cbs fire) and free the queue
 * @q: the queue (NULL ignored)
 */
void net_queue_free(struct net_queue *q);

/**
 * net_queue_send_iov() - deliver now if possible and nothing waits, otherwise append
 * @q:		the receiver's queue
 * @sender:	the sender
 * @flags:	NET_FLAG_*
 * @iov:	the packet
 * @iovcnt:	pieces
 * @sent_cb:	completion for a queued packet
 * @can_deliver: the receiver can receive now
 * @dropped:	set to true when the packet was dropped because the queue was full
 *
 * Return: the delivered length, the length of a dropped packet, or 0 when queued
 */
ssize_t net_queue_send_iov(struct net_queue *q, struct net_client *sender, unsigned int flags,
			   const struct iovec *iov, int iovcnt, net_sent_cb *sent_cb,
			   bool can_deliver, bool *dropped);

/**
 * net_queue_flush() - deliver queued packets in order until the owner refuses one
 * @q: the queue
 *
 * Return: true when the queue is empty
 */
bool net_queue_flush(struct net_queue *q);

/**
 * net_queue_purge() - drop the packets from @from (NULL: all); their sent_cbs get 0
 * @q:		the queue
 * @from:	the sender
 */
void net_queue_purge(struct net_queue *q, struct net_client *from);

/**
 * net_queue_can_pass() - whether a packet may go to the owner now, ahead of nothing
 * @q:		the receiver's queue
 * @can_deliver: the receiver can receive now
 *
 * Older packets go first: they are flushed when the receiver can take them.
 *
 * Return: true when nothing waits, no delivery runs and @can_deliver
 */
bool net_queue_can_pass(struct net_queue *q, bool can_deliver);

/**
 * net_queue_set_delivering() - a burst is being delivered to the owner (sends meanwhile queue)
 * @q:	the queue
 * @on:	true while it runs
 */
void net_queue_set_delivering(struct net_queue *q, bool on);

/**
 * net_queue_hold() - append a copy of @pkt (the owner could not take it)
 * @q:		the queue
 * @sender:	who sent it
 * @pkt:	the packet
 * @sent_cb:	completion, or NULL
 *
 * Return: true, or false when it was dropped (queue full, no memory)
 */
bool net_queue_hold(struct net_queue *q, struct net_client *sender, const struct net_pkt *pkt,
		    net_sent_cb *sent_cb);

/**
 * net_queue_add_waiter() - call @sent_cb (with 0) when a flush reaches this point of the queue
 * @q:		the queue
 * @sender:	the sender that keeps packets the owner did not take
 * @sent_cb:	its completion
 *
 * One waiter per sender: a second call while one waits adds nothing.
 *
 * Return: 0 or -ENOMEM
 */
int net_queue_add_waiter(struct net_queue *q, struct net_client *sender, net_sent_cb *sent_cb);

/**
 * net_queue_len() - packets (and senders) waiting
 * @q: the queue
 *
 * Return: count
 */
unsigned int net_queue_len(const struct net_queue *q);

/**
 * net_queue_set_limit() - change the bound (packets already held stay)
 * @q:		the queue
 * @limit:	most packets held, at least 1
 */
void net_queue_set_limit(struct net_queue *q, unsigned int limit);

#endif
