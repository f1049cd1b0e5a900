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
 * net_queue_len() - packets waiting
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
