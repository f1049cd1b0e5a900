/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hub-link.h - a link between two event loops (threads) for one hub: a pair of net clients,
 * one on each loop, that pass packets to each other through bounded lock-free rings.
 *
 * hub.c splits a hub whose ports live on several loops into one part per loop and joins
 * every two parts with a link: each end is peered with a port of its part, so a packet the
 * part sends to that port reaches the other part as if it came from a port there.
 */
#ifndef VWIRE_CORE_HUB_LINK_H
#define VWIRE_CORE_HUB_LINK_H

struct loop;
struct net_client;

/* Packets in flight one way: buffers of a link's direction (a power of two). */
#define HUB_LINK_BUFFERS 256

/**
 * hub_link_new() - make the two ends of a link, each a net client on its loop
 * @loop_a:	the loop of the first end
 * @loop_b:	the loop of the second
 * @name:	the name of the ends (each gets ".a" or ".b" after it)
 * @end_a:	the first end, out
 * @end_b:	the second end, out
 *
 * A packet the first end receives is copied into a buffer of the link and handed to the
 * second end's loop, which sends it to the second end's peer (and the other way round).
 * Back-pressure crosses: an end's room is its free buffers, and an end whose peer holds
 * back keeps the rest until the peer flushes. Main thread only, while neither loop runs
 * (before the threads start, or with iothread_pause_all()). Each end is freed on its own
 * with net_client_free(); the link goes with the second of them.
 *
 * Return: 0, or a negative errno
 */
int hub_link_new(struct loop *loop_a, struct loop *loop_b, const char *name,
		 struct net_client **end_a, struct net_client **end_b);

#endif
