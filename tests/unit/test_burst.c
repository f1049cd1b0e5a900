// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_burst.c - the burst contract of the core (net_send_burst, receive_burst, rx_room,
 * waiters): order, prefixes and resumption, copies for senders without sent_cb, purge, link
 * down, per-packet receivers, room, counters, vnet headers stripped without a copy, hubs and
 * switches forwarding whole or sorted bursts, and tx filters seeing each packet once.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hub.h"
#include "core/offload.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Where a test frame carries its tag (the first byte after the Ethernet header). */
#define TAG_OFF 14
/* Room of a receiver that limits nothing. */
#define ROOM_ALL (NET_ROOM_UNLIMITED / 2)
/* Packets and bytes of each a receiver records. */
#define REC_MAX 160
#define REC_BYTES 128

/**
 * struct rec - a receiver that takes @room packets, then refuses, and records what it took
 * @nc:		the client
 * @room:	packets it takes before refusing (decremented per packet taken)
 * @vnet:	whether it accepts vnet headers (burst_ops only)
 * @drop_tag:	receive_burst takes packets with this tag but drops them (0: none)
 * @got:	packets taken
 * @bursts:	receive_burst calls
 * @iov_calls:	receive_iov calls (refusals included)
 * @tag:	tag of each packet taken (0xff: too short to have one)
 * @base:	iov_base of its first piece
 * @len:	its length
 * @flags:	its flags
 * @data:	its first REC_BYTES bytes
 */
struct rec {
	struct net_client nc;
	unsigned int room;
	bool vnet;
	uint8_t drop_tag;
	unsigned int got;
	unsigned int bursts;
	unsigned int iov_calls;
	uint8_t tag[REC_MAX];
	const void *base[REC_MAX];
	size_t len[REC_MAX];
	unsigned int flags[REC_MAX];
	uint8_t data[REC_MAX][REC_BYTES];
};

static void rec_record(struct rec *r, const struct iovec *iov, int iovcnt, unsigned int flags)
{
	unsigned int i = r->got++;
	size_t len = net_iov_size(iov, iovcnt);

	assert_true(i < REC_MAX);
	r->base[i] = iov[0].iov_base;
	r->len[i] = len;
	r->flags[i] = flags;
	net_iov_to_buf(iov, iovcnt, 0, r->data[i], REC_BYTES);
	r->tag[i] = len > TAG_OFF ? r->data[i][TAG_OFF] : 0xff;
}

static ssize_t rec_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags)
{
	struct rec *r = (struct rec *)nc;

	r->iov_calls++;
	if (!r->room)
		return 0;
	r->room--;
	rec_record(r, iov, iovcnt, flags);
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static unsigned int rec_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
				      unsigned int n)
{
	struct rec *r = (struct rec *)nc;
	unsigned int take = n < r->room ? n : r->room;

	assert_true(n >= 1 && n <= NET_BURST_MAX);
	r->bursts++;
	r->room -= take;
	for (unsigned int i = 0; i < take; i++) {
		rec_record(r, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags);
		assert_int_equal(r->len[r->got - 1], pkts[i].len);
		if (r->drop_tag && r->tag[r->got - 1] == r->drop_tag)
			net_rx_dropped(nc, &pkts[i]);
	}
	return take;
}

static unsigned int rec_rx_room(struct net_client *nc)
{
	return ((struct rec *)nc)->room;
}

static bool rec_can_receive(struct net_client *nc)
{
	return ((struct rec *)nc)->room > 0;
}

static bool rec_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct rec *)nc)->vnet;
}

/* A receiver of bursts, with room. */
static const struct net_client_ops burst_ops = {
	.type = "bsink",
	.size = sizeof(struct rec),
	.receive_iov = rec_receive_iov,
	.receive_burst = rec_receive_burst,
	.rx_room = rec_rx_room,
	.accepts_vnet_hdr = rec_accepts_vnet_hdr,
};

/* A receiver of single packets only, that says nothing about room. */
static const struct net_client_ops iov_ops = {
	.type = "isink",
	.size = sizeof(struct rec),
	.receive_iov = rec_receive_iov,
};

/* A receiver of single packets that answers can_receive. */
static const struct net_client_ops iov_cr_ops = {
	.type = "csink",
	.size = sizeof(struct rec),
	.receive_iov = rec_receive_iov,
	.can_receive = rec_can_receive,
};

static struct loop *loop;
static unsigned int sent_calls;
static ssize_t sent_last;

static void on_sent(struct net_client *sender, ssize_t ret)
{
	(void)sender;
	sent_calls++;
	sent_last = ret;
}

/* Most test frames sent at once: more than a burst, to see the core cut them. */
#define TX_MAX (2 * NET_BURST_MAX + 8)

/* Test frames, in static memory the senders point into. */
static struct {
	uint8_t buf[TX_MAX][REC_BYTES];
	struct iovec iov[TX_MAX];
	struct net_pkt pkt[TX_MAX];
} tx;

static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0xa };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0xb };
static const uint8_t mac_c[6] = { 0x52, 0x54, 0, 0, 0, 0xc };
static const uint8_t mac_d[6] = { 0x52, 0x54, 0, 0, 0, 0xd };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Make tx.pkt[@i]: a frame of @len bytes from @src to @dst carrying @tag. */
static void pkt_make(unsigned int i, const uint8_t *dst, const uint8_t *src, uint8_t tag,
		     size_t len)
{
	assert_true(i < TX_MAX && len <= REC_BYTES);
	memset(tx.buf[i], 0, REC_BYTES);
	memcpy(tx.buf[i], dst, 6);
	memcpy(tx.buf[i] + 6, src, 6);
	tx.buf[i][TAG_OFF] = tag;
	tx.iov[i] = (struct iovec){ tx.buf[i], len };
	tx.pkt[i] = (struct net_pkt){ &tx.iov[i], 1, 0, len };
}

/* Make tx.pkt[0 .. @n): 60-byte frames tagged 1 .. @n. */
static void burst_make(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		pkt_make(i, mac_b, mac_a, (uint8_t)(i + 1), 60);
}

/* @r took exactly the packets tagged @tags, in this order. */
static void assert_tags(const struct rec *r, const uint8_t *tags, unsigned int n)
{
	assert_int_equal(r->got, n);
	assert_memory_equal(r->tag, tags, n);
}

/* @r took exactly the packets tagged 1 .. @n, in order. */
static void assert_tags_upto(const struct rec *r, unsigned int n)
{
	assert_int_equal(r->got, n);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(r->tag[i], i + 1);
}

static void rec_reset(struct rec *r)
{
	r->got = 0;
	r->bursts = 0;
	r->iov_calls = 0;
}

static void rec_reset_all(struct rec *const *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rec_reset(r[i]);
}

static struct rec *rec_new(const struct net_client_ops *ops, struct net_client *peer)
{
	struct rec *r = (struct rec *)net_client_new(ops, loop, peer, NULL, NULL);

	assert_non_null(r);
	r->room = ROOM_ALL;
	return r;
}

/* A sender peered with a new receiver of kind @ops. */
static struct net_client *pair_new(const struct net_client_ops *ops, struct rec **dst)
{
	*dst = rec_new(ops, NULL);
	return &rec_new(&iov_ops, &(*dst)->nc)->nc;
}

static int setup(void **state)
{
	(void)state;
	loop = loop_new();
	sent_calls = 0;
	sent_last = -1;
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	net_client_free_all();
	assert_null(net_first());
	assert_int_equal(hub_next_id(-1), -1);
	loop_free(loop);
	return 0;
}

/* 1: a prefix is taken in order; the sender keeps the rest and is called back on a flush. */
static void test_prefix_taken_rest_resent(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);
	unsigned int k;

	burst_make(8);
	dst->room = 3;
	k = net_send_burst(src, tx.pkt, 8, on_sent);
	assert_int_equal(k, 3);
	assert_tags_upto(dst, 3);
	assert_int_equal(dst->bursts, 1);
	assert_true(dst->nc.receive_disabled);
	/* Only a waiter is left at the peer: nothing of the rest was copied. */
	assert_int_equal(net_queue_length(&dst->nc), 1);
	assert_int_equal(sent_calls, 0);
	/* Room alone does not call the sender back: the receiver's flush does. */
	dst->room = ROOM_ALL;
	assert_int_equal(sent_calls, 0);
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_last, 0);
	assert_false(dst->nc.receive_disabled);
	assert_int_equal(dst->got, 3);
	/* The rest follows the prefix, with nothing of it delivered twice. */
	assert_int_equal(net_send_burst(src, tx.pkt + k, 8 - k, on_sent), 8 - k);
	assert_tags_upto(dst, 8);
	assert_int_equal(dst->bursts, 2);
	assert_int_equal(net_queue_length(&dst->nc), 0);
	assert_int_equal(sent_calls, 1);
}

/* The core hands a receive_burst at most NET_BURST_MAX packets, however many are sent. */
static void test_long_burst_cut(void **state)
{
	static uint8_t vbuf[TX_MAX][NET_VNET_HDR_LEN + 60];
	static struct iovec viov[TX_MAX];
	static struct net_pkt vpkt[TX_MAX];
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);
	const unsigned int n = TX_MAX;
	unsigned int k;

	burst_make(n);
	assert_int_equal(net_send_burst(src, tx.pkt, n, on_sent), n);
	assert_tags_upto(dst, n);
	assert_int_equal(dst->bursts, 3);

	/* Taking a prefix across the cut: the sender keeps the rest as before. */
	rec_reset(dst);
	dst->room = NET_BURST_MAX + 3;
	k = net_send_burst(src, tx.pkt, n, on_sent);
	assert_int_equal(k, NET_BURST_MAX + 3);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(net_send_burst(src, tx.pkt + k, n - k, on_sent), n - k);
	assert_tags_upto(dst, n);

	/* And so when vnet headers are stripped on the way. */
	rec_reset(dst);
	memset(vbuf, 0, sizeof(vbuf));
	for (unsigned int i = 0; i < n; i++) {
		vbuf[i][NET_VNET_HDR_LEN + TAG_OFF] = (uint8_t)(i + 1);
		viov[i] = (struct iovec){ vbuf[i], sizeof(vbuf[i]) };
		vpkt[i] = (struct net_pkt){ &viov[i], 1, NET_FLAG_VNET_HDR, sizeof(vbuf[i]) };
	}
	assert_int_equal(net_send_burst(src, vpkt, n, NULL), n);
	assert_tags_upto(dst, n);
	assert_ptr_equal(dst->base[n - 1], vbuf[n - 1] + NET_VNET_HDR_LEN);
}

/* 2: a sender without sent_cb has the rest copied into the peer's queue, within its bound. */
static void test_no_sent_cb_copies_rest(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);

	burst_make(6);
	dst->room = 2;
	assert_int_equal(net_send_burst(src, tx.pkt, 6, NULL), 6);
	assert_tags_upto(dst, 2);
	assert_int_equal(net_queue_length(&dst->nc), 4);
	assert_int_equal(src->stats.tx_packets, 6);
	assert_int_equal(src->stats.tx_bytes, 6 * 60);
	/* The copies are the sender's packets, not references to its buffers. */
	memset(tx.buf, 0, sizeof(tx.buf));
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_tags_upto(dst, 6);
	assert_int_equal(dst->nc.stats.rx_packets, 6);
	assert_int_equal(dst->nc.stats.rx_bytes, 6 * 60);

	/* The bound: what does not fit is dropped and counted at the peer. */
	rec_reset(dst);
	net_set_queue_limit(&dst->nc, 2);
	burst_make(6);
	dst->room = 1;
	assert_int_equal(net_send_burst(src, tx.pkt, 6, NULL), 6);
	assert_int_equal(net_queue_length(&dst->nc), 2);
	assert_int_equal(dst->nc.stats.rx_dropped, 3);
	assert_int_equal(src->stats.tx_packets, 6 + 3);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_tags_upto(dst, 3);
}

/* 3: packets queued earlier are delivered before a later burst, which waits behind them. */
static void test_older_packets_first(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);

	/* A packet refused by receive_iov is queued and disables the receiver. */
	burst_make(4);
	dst->room = 0;
	assert_int_equal(net_send_iov(src, tx.pkt[0].iov, 1, 0, NULL), 0);
	assert_true(dst->nc.receive_disabled);
	/* A burst sent now is held behind it, whether copied or kept by the sender. */
	assert_int_equal(net_send_burst(src, tx.pkt + 1, 2, NULL), 2);
	assert_int_equal(net_send_burst(src, tx.pkt + 3, 1, on_sent), 0);
	assert_int_equal(dst->got, 0);
	assert_int_equal(net_queue_length(&dst->nc), 4);
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_tags_upto(dst, 3);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(net_send_burst(src, tx.pkt + 3, 1, on_sent), 1);
	assert_tags_upto(dst, 4);

	/* The receiver may take packets again but has not flushed: the queue still goes first. */
	rec_reset(dst);
	dst->room = 0;
	assert_int_equal(net_send_iov(src, tx.pkt[0].iov, 1, 0, on_sent), 0);
	dst->room = ROOM_ALL;
	dst->nc.receive_disabled = false;
	assert_int_equal(net_send_burst(src, tx.pkt + 1, 3, on_sent), 3);
	assert_tags_upto(dst, 4);
	assert_int_equal(sent_calls, 2);
	assert_int_equal(sent_last, 60);

	/* The receiver takes only part of the queue: the burst waits behind the rest. */
	rec_reset(dst);
	dst->room = 0;
	assert_int_equal(net_send_burst(src, tx.pkt, 2, NULL), 2);
	dst->room = 1;
	dst->nc.receive_disabled = false;
	assert_int_equal(net_send_burst(src, tx.pkt + 2, 2, on_sent), 0);
	assert_tags_upto(dst, 1);
	assert_true(dst->nc.receive_disabled);
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(sent_calls, 3);
	assert_int_equal(net_send_burst(src, tx.pkt + 2, 2, on_sent), 2);
	assert_tags_upto(dst, 4);
}

/* 4: a waiter is one per sender, counts in the queue length and is purged with a callback. */
static void test_waiter_purged(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);

	burst_make(5);
	dst->room = 0;
	assert_int_equal(net_send_burst(src, tx.pkt, 3, on_sent), 0);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	assert_int_equal(net_send_burst(src, tx.pkt, 3, on_sent), 0);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	assert_int_equal(net_send_burst(src, tx.pkt + 3, 2, NULL), 2);
	assert_int_equal(net_queue_length(&dst->nc), 3);
	net_purge_queued(&dst->nc, src);
	assert_int_equal(net_queue_length(&dst->nc), 0);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_last, 0);

	/* Freeing the sender purges its waiter too. */
	sent_last = -1;
	assert_int_equal(net_send_burst(src, tx.pkt, 3, on_sent), 0);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	net_client_free(src);
	assert_int_equal(net_queue_length(&dst->nc), 0);
	assert_int_equal(sent_calls, 2);
	assert_int_equal(sent_last, 0);
	/* Nothing is left to fire on the next flush. */
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(sent_calls, 2);
	assert_int_equal(dst->got, 0);
}

static unsigned int resend_from, resend_n;

/* A sender that does what net.h asks: sends the rest from its sent_cb. */
static void resend_on_sent(struct net_client *sender, ssize_t ret)
{
	unsigned int k;

	on_sent(sender, ret);
	k = net_send_burst(sender, tx.pkt + resend_from, resend_n, resend_on_sent);
	resend_from += k;
	resend_n -= k;
}

/* 4b: a sender that sends the rest from the sent_cb a purge fires. */
static void test_purge_sender_resends(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);

	burst_make(4);
	dst->room = 0;
	resend_from = 0;
	resend_n = 4;
	assert_int_equal(net_send_burst(src, tx.pkt, 4, resend_on_sent), 0);
	/* Purged, it tries again at once and waits anew: that waiter is not purged. */
	net_purge_queued(&dst->nc, src);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_last, 0);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(sent_calls, 2);
	assert_int_equal(resend_n, 0);
	assert_tags_upto(dst, 4);

	/* Freed while waiting: its last try finds no peer, and nothing of it is left behind. */
	rec_reset(dst);
	dst->room = 0;
	resend_from = 0;
	resend_n = 4;
	assert_int_equal(net_send_burst(src, tx.pkt, 4, resend_on_sent), 0);
	net_client_free(src);
	assert_int_equal(sent_calls, 3);
	assert_int_equal(sent_last, 0);
	assert_int_equal(net_queue_length(&dst->nc), 0);
	dst->room = ROOM_ALL;
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(dst->got, 0);
}

/* 5: with either link down the burst is dropped whole and counted at the sender. */
static void test_link_down_drops_burst(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);
	struct net_client *lonely = &rec_new(&iov_ops, NULL)->nc;

	/* Two back ends: each keeps its own link. */
	src->is_netdev = dst->nc.is_netdev = true;
	burst_make(4);
	net_set_link(&dst->nc, false);
	assert_false(src->link_down);
	assert_int_equal(net_send_burst(src, tx.pkt, 4, on_sent), 4);
	assert_int_equal(src->stats.tx_dropped, 4);
	net_set_link(&dst->nc, true);
	net_set_link(src, false);
	assert_false(dst->nc.link_down);
	assert_int_equal(net_send_burst(src, tx.pkt, 4, on_sent), 4);
	assert_int_equal(src->stats.tx_dropped, 8);
	assert_int_equal(src->stats.tx_packets, 0);
	assert_int_equal(dst->got, 0);
	assert_int_equal(dst->bursts, 0);
	assert_int_equal(net_queue_length(&dst->nc), 0);
	assert_int_equal(sent_calls, 0);
	/* And so without a peer. */
	assert_int_equal(net_send_burst(lonely, tx.pkt, 3, on_sent), 3);
	assert_int_equal(lonely->stats.tx_dropped, 3);
}

/* 6: a receiver without receive_burst gets one packet at a time; a refusal ends the burst. */
static void test_per_packet_receiver(void **state)
{
	struct rec *dst, *cr;
	struct net_client *src = pair_new(&iov_ops, &dst);
	struct net_client *src2 = pair_new(&iov_cr_ops, &cr);

	burst_make(5);
	dst->room = 2;
	assert_int_equal(net_send_burst(src, tx.pkt, 5, on_sent), 2);
	assert_tags_upto(dst, 2);
	assert_int_equal(dst->iov_calls, 3);
	assert_true(dst->nc.receive_disabled);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(net_send_burst(src, tx.pkt + 2, 3, on_sent), 3);
	assert_tags_upto(dst, 5);
	assert_int_equal(dst->iov_calls, 6);

	/* One that answers can_receive is asked before each further packet. */
	cr->room = 2;
	assert_int_equal(net_send_burst(src2, tx.pkt, 5, on_sent), 2);
	assert_tags_upto(cr, 2);
	assert_int_equal(cr->iov_calls, 2);
	cr->room = ROOM_ALL;
	net_flush_queued(&cr->nc);
	assert_int_equal(sent_calls, 2);
	assert_int_equal(net_send_burst(src2, tx.pkt + 2, 3, on_sent), 3);
	assert_tags_upto(cr, 5);
}

/* 7: net_send_room() and net_send_wait(). */
static void test_send_room_and_wait(void **state)
{
	struct rec *dst, *cr, *plain;
	struct net_client *src = pair_new(&burst_ops, &dst);
	struct net_client *src_cr = pair_new(&iov_cr_ops, &cr);
	struct net_client *src_plain = pair_new(&iov_ops, &plain);
	struct net_client *lonely = &rec_new(&iov_ops, NULL)->nc;

	assert_int_equal(net_send_room(lonely), NET_ROOM_UNLIMITED);
	dst->room = 5;
	assert_int_equal(net_send_room(src), 5);
	dst->room = 0;
	assert_int_equal(net_send_room(src), 0);

	/* The sender waits; the receiver's flush calls it back. */
	assert_int_equal(net_send_wait(src, on_sent), 0);
	assert_int_equal(net_queue_length(&dst->nc), 1);
	dst->room = 3;
	assert_int_equal(sent_calls, 0);
	assert_true(net_flush_queued(&dst->nc));
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_last, 0);
	assert_int_equal(net_send_room(src), 3);

	/* A disabled receiver has no room, whatever rx_room says. */
	burst_make(5);
	assert_int_equal(net_send_burst(src, tx.pkt, 5, NULL), 5);
	assert_true(dst->nc.receive_disabled);
	dst->room = 7;
	assert_int_equal(net_send_room(src), 0);
	net_flush_queued(&dst->nc);
	assert_int_equal(net_send_room(src), 5);

	/* A link down limits nothing (everything is dropped). */
	src->is_netdev = dst->nc.is_netdev = true;
	dst->room = 0;
	net_set_link(&dst->nc, false);
	assert_int_equal(net_send_room(src), NET_ROOM_UNLIMITED);
	net_set_link(&dst->nc, true);
	assert_int_equal(net_send_room(src), 0);
	net_set_link(src, false);
	assert_int_equal(net_send_room(src), NET_ROOM_UNLIMITED);

	/* Without rx_room, can_receive decides; without either, nothing limits. */
	cr->room = 0;
	assert_int_equal(net_send_room(src_cr), 0);
	cr->room = 1;
	assert_int_equal(net_send_room(src_cr), NET_ROOM_UNLIMITED);
	plain->room = 0;
	assert_int_equal(net_send_room(src_plain), NET_ROOM_UNLIMITED);
}

/* 8: counters follow what was taken; net_rx_dropped() moves a packet to rx_dropped. */
static void test_counters(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);

	for (unsigned int i = 0; i < 5; i++)
		pkt_make(i, mac_b, mac_a, (uint8_t)(i + 1), 60 + i);
	dst->room = 3;
	dst->drop_tag = 2;
	assert_int_equal(net_send_burst(src, tx.pkt, 5, on_sent), 3);
	assert_int_equal(src->stats.tx_packets, 3);
	assert_int_equal(src->stats.tx_bytes, 60 + 61 + 62);
	assert_int_equal(dst->nc.stats.rx_packets, 2);
	assert_int_equal(dst->nc.stats.rx_bytes, 60 + 62);
	assert_int_equal(dst->nc.stats.rx_dropped, 1);
	assert_int_equal(src->stats.tx_dropped, 0);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_int_equal(net_send_burst(src, tx.pkt + 3, 2, on_sent), 2);
	assert_int_equal(src->stats.tx_packets, 5);
	assert_int_equal(src->stats.tx_bytes, 60 + 61 + 62 + 63 + 64);
	assert_int_equal(dst->nc.stats.rx_packets, 4);
	assert_int_equal(dst->nc.stats.rx_bytes, 60 + 62 + 63 + 64);
	assert_int_equal(dst->nc.stats.rx_dropped, 1);
}

/* One's complement sum of big-endian 16-bit words, not folded. */
static uint32_t csum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define UDP_FRAME_LEN (14 + 20 + 8 + 20)

/* A UDP/IPv4 frame at @f whose checksum field holds the pseudo-header sum, as a guest
 * leaves it for the device; return the sum of its pseudo-header. */
static uint32_t udp_frame(uint8_t *f)
{
	static const uint8_t ip[20] = { 0x45, 0, 0, 48, 0, 0, 0x40, 0, 64, 17, 0, 0,
					10, 0, 0, 1, 10, 0, 0, 2 };
	uint8_t *uh = f + 34;
	uint32_t pseudo = csum_add(ip + 12, 8, 0) + 17 + 28;
	uint16_t ipsum;

	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	f[12] = 0x08, f[13] = 0;
	memcpy(f + 14, ip, sizeof(ip));
	ipsum = csum_fold(csum_add(ip, sizeof(ip), 0));
	f[24] = (uint8_t)(ipsum >> 8), f[25] = (uint8_t)ipsum;
	uh[0] = 0x13, uh[1] = 0x88, uh[2] = 0x07, uh[3] = 0xd0, uh[4] = 0, uh[5] = 28;
	for (int i = 0; i < 20; i++)
		uh[8 + i] = (uint8_t)(i * 7 + 3);
	uh[6] = (uint8_t)(~csum_fold(pseudo) >> 8);
	uh[7] = (uint8_t)~csum_fold(pseudo);
	return pseudo;
}

/* 9: vnet headers that ask for nothing are stripped without a copy; a checksum is finished. */
static void test_vnet_hdr_stripped(void **state)
{
	static uint8_t vbuf[3][NET_VNET_HDR_LEN + UDP_FRAME_LEN];
	static uint8_t hdr1[NET_VNET_HDR_LEN], frame1[60];
	struct virtio_net_hdr_v1 csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	struct iovec iov[4];
	struct net_pkt pkts[3];
	struct rec *dst, *plain, *vdst;
	struct net_client *src = pair_new(&burst_ops, &dst);
	struct net_client *src_plain = pair_new(&iov_ops, &plain);
	struct net_client *src_v = pair_new(&burst_ops, &vdst);
	uint32_t pseudo;

	/* Headers of zeroes: one packet flat, one with the header in its own piece. */
	memset(vbuf, 0, sizeof(vbuf));
	vbuf[0][NET_VNET_HDR_LEN + TAG_OFF] = 1;
	vbuf[2][NET_VNET_HDR_LEN + TAG_OFF] = 3;
	memset(frame1, 0, sizeof(frame1));
	frame1[TAG_OFF] = 2;
	iov[0] = (struct iovec){ vbuf[0], NET_VNET_HDR_LEN + 60 };
	iov[1] = (struct iovec){ hdr1, sizeof(hdr1) };
	iov[2] = (struct iovec){ frame1, sizeof(frame1) };
	iov[3] = (struct iovec){ vbuf[2], NET_VNET_HDR_LEN + 60 };
	pkts[0] = (struct net_pkt){ &iov[0], 1, NET_FLAG_VNET_HDR, NET_VNET_HDR_LEN + 60 };
	pkts[1] = (struct net_pkt){ &iov[1], 2, NET_FLAG_VNET_HDR, NET_VNET_HDR_LEN + 60 };
	pkts[2] = (struct net_pkt){ &iov[3], 1, NET_FLAG_VNET_HDR, NET_VNET_HDR_LEN + 60 };

	vdst->vnet = true;
	assert_int_equal(net_send_burst(src_v, pkts, 3, on_sent), 3);
	assert_tags(vdst, (const uint8_t[]){ 0, 0, 0 }, 3);
	assert_ptr_equal(vdst->base[0], vbuf[0]);
	assert_int_equal(vdst->len[0], NET_VNET_HDR_LEN + 60);
	assert_true(vdst->flags[0] & NET_FLAG_VNET_HDR);

	for (int k = 0; k < 2; k++) {
		struct rec *r = k ? plain : dst;

		assert_int_equal(net_send_burst(k ? src_plain : src, pkts, 3, on_sent), 3);
		assert_tags(r, (const uint8_t[]){ 1, 2, 3 }, 3);
		assert_ptr_equal(r->base[0], vbuf[0] + NET_VNET_HDR_LEN);
		assert_ptr_equal(r->base[1], frame1);
		assert_ptr_equal(r->base[2], vbuf[2] + NET_VNET_HDR_LEN);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(r->len[i], 60);
			assert_false(r->flags[i] & NET_FLAG_VNET_HDR);
		}
		assert_int_equal(r->nc.stats.rx_bytes, 3 * 60);
	}
	assert_int_equal(dst->bursts, 1);
	assert_int_equal(dst->iov_calls, 0);

	/* A checksum asked for in the middle of a burst: finished, and the order kept. */
	rec_reset(dst);
	csum.csum_start = htole16(34);
	csum.csum_offset = htole16(6);
	memcpy(vbuf[1], &csum, sizeof(csum));
	pseudo = udp_frame(vbuf[1] + NET_VNET_HDR_LEN);
	iov[1] = (struct iovec){ vbuf[1], sizeof(vbuf[1]) };
	pkts[1] = (struct net_pkt){ &iov[1], 1, NET_FLAG_VNET_HDR, sizeof(vbuf[1]) };
	assert_int_equal(net_send_burst(src, pkts, 3, on_sent), 3);
	assert_tags(dst, (const uint8_t[]){ 1, 0x45, 3 }, 3);
	assert_int_equal(dst->len[1], UDP_FRAME_LEN);
	assert_false(dst->flags[1] & NET_FLAG_VNET_HDR);
	assert_memory_equal(dst->data[1], vbuf[1] + NET_VNET_HDR_LEN, 34 + 6);
	assert_int_equal(csum_fold(csum_add(dst->data[1] + 34, UDP_FRAME_LEN - 34, pseudo)), 0);
	assert_memory_not_equal(dst->data[1] + 40, vbuf[1] + NET_VNET_HDR_LEN + 40, 2);
	assert_ptr_equal(dst->base[0], vbuf[0] + NET_VNET_HDR_LEN);
	assert_ptr_equal(dst->base[2], vbuf[2] + NET_VNET_HDR_LEN);
	assert_int_equal(sent_calls, 0);
}

/* A receiver of bursts on a new port of hub @hubid. */
static struct rec *ep_on_hub(int hubid, const struct hub_config *cfg)
{
	struct rec *r = rec_new(&burst_ops, NULL);

	assert_non_null(hub_port_new(loop, hubid, NULL, &r->nc, cfg));
	return r;
}

/* 10a: a hub hands a burst whole to every other port; a slow port holds back nobody else. */
static void test_hub_burst_whole(void **state)
{
	struct rec *a = ep_on_hub(10, NULL), *b = ep_on_hub(10, NULL), *c = ep_on_hub(10, NULL);

	burst_make(5);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 5, on_sent), 5);
	assert_tags_upto(b, 5);
	assert_tags_upto(c, 5);
	assert_int_equal(b->bursts, 1);
	assert_int_equal(c->bursts, 1);
	assert_int_equal(a->got, 0);

	rec_reset(b);
	rec_reset(c);
	b->room = 2;
	c->room = 7;
	assert_int_equal(net_send_room(&a->nc), 7);
	b->room = 9;
	assert_int_equal(net_send_room(&a->nc), 9);
	b->room = 2;
	c->room = ROOM_ALL;
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 5, on_sent), 5);
	assert_tags_upto(c, 5);
	assert_tags_upto(b, 2);
	assert_int_equal(net_queue_length(&b->nc), 3);
	assert_true(b->nc.receive_disabled);
	/* b's peer takes nothing now, but c still does. */
	assert_int_equal(net_send_room(&a->nc), c->room);
	b->room = ROOM_ALL;
	assert_true(net_flush_queued(&b->nc));
	assert_tags_upto(b, 5);
	assert_int_equal(a->got, 0);
	assert_int_equal(sent_calls, 0);
}

/* 10b: no other port has room: the sender waits until a slow peer flushes. */
static void test_hub_sender_waits(void **state)
{
	struct rec *a = ep_on_hub(11, NULL), *b = ep_on_hub(11, NULL), *c = ep_on_hub(11, NULL);

	burst_make(5);
	b->room = 0;
	c->room = 0;
	assert_int_equal(net_send_room(&a->nc), 0);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 5, on_sent), 0);
	assert_true(a->nc.peer->receive_disabled);
	assert_int_equal(net_queue_length(a->nc.peer), 1);
	assert_int_equal(b->got + c->got, 0);
	b->room = ROOM_ALL;
	assert_true(net_flush_queued(&b->nc));
	assert_int_equal(sent_calls, 1);
	assert_int_equal(sent_last, 0);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 5, on_sent), 5);
	assert_tags_upto(b, 5);
	/* c still has no room: its share waits in its queue. */
	assert_int_equal(c->got, 0);
	assert_int_equal(net_queue_length(&c->nc), 5);
	c->room = ROOM_ALL;
	assert_true(net_flush_queued(&c->nc));
	assert_tags_upto(c, 5);
}

/* 10c: a two-port hub is a wire: what the far side did not take stays with the sender. */
static void test_hub_two_ports_wire(void **state)
{
	struct rec *a = ep_on_hub(12, NULL), *b = ep_on_hub(12, NULL);
	unsigned int k;

	burst_make(6);
	b->room = 2;
	k = net_send_burst(&a->nc, tx.pkt, 6, on_sent);
	assert_int_equal(k, 2);
	assert_tags_upto(b, 2);
	assert_int_equal(net_queue_length(&b->nc), 1);
	b->room = ROOM_ALL;
	assert_true(net_flush_queued(&b->nc));
	assert_int_equal(sent_calls, 1);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt + k, 6 - k, on_sent), 6 - k);
	assert_tags_upto(b, 6);
}

/* Send one broadcast from @r so that a switch learns @mac behind its port. */
static void learn(struct rec *r, const uint8_t *mac)
{
	pkt_make(0, bcast, mac, 0, 60);
	assert_int_equal(net_send_burst(&r->nc, tx.pkt, 1, NULL), 1);
}

/* 10d: a switch sorts a burst into per-port sub-bursts, floods, and never reflects. */
static void test_switch_sorts_burst(void **state)
{
	struct hub_config cfg = { .learning = true };
	struct rec *a = ep_on_hub(13, &cfg), *b = ep_on_hub(13, &cfg), *c = ep_on_hub(13, &cfg);
	struct rec *all[] = { a, b, c };

	learn(a, mac_a);
	learn(b, mac_b);
	learn(c, mac_c);
	assert_int_equal(hub_mac_count(13), 3);
	rec_reset_all(all, 3);
	pkt_make(0, mac_b, mac_a, 1, 60);
	pkt_make(1, mac_c, mac_a, 2, 60);
	pkt_make(2, mac_b, mac_a, 3, 60);
	pkt_make(3, mac_c, mac_a, 4, 60);
	pkt_make(4, mac_b, mac_a, 5, 60);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 5, on_sent), 5);
	assert_tags(b, (const uint8_t[]){ 1, 3, 5 }, 3);
	assert_tags(c, (const uint8_t[]){ 2, 4 }, 2);
	assert_int_equal(b->bursts, 1);
	assert_int_equal(c->bursts, 1);
	assert_int_equal(a->got, 0);

	/* Broadcast and unknown destinations go to every other port, known ones to theirs. */
	rec_reset_all(all, 3);
	pkt_make(0, mac_b, mac_a, 1, 60);
	pkt_make(1, bcast, mac_a, 2, 60);
	pkt_make(2, mac_d, mac_a, 3, 60);
	pkt_make(3, mac_c, mac_a, 4, 60);
	assert_int_equal(net_send_burst(&a->nc, tx.pkt, 4, on_sent), 4);
	assert_tags(b, (const uint8_t[]){ 1, 2, 3 }, 3);
	assert_tags(c, (const uint8_t[]){ 2, 3, 4 }, 3);
	assert_int_equal(a->got, 0);

	/* A frame for the port it came from goes nowhere; nor does a runt (addressed to b). */
	for (int flood = 0; flood < 2; flood++) {
		rec_reset_all(all, 3);
		pkt_make(0, mac_a, mac_a, 1, 60);
		pkt_make(1, mac_b, mac_a, 2, 10);
		pkt_make(2, flood ? bcast : mac_b, mac_a, 3, 60);
		assert_int_equal(net_send_burst(&a->nc, tx.pkt, 3, on_sent), 3);
		assert_tags(b, (const uint8_t[]){ 3 }, 1);
		assert_int_equal(c->got, flood ? 1 : 0);
		assert_int_equal(a->got, 0);
	}
	assert_int_equal(sent_calls, 0);
}

/**
 * struct count_filter - a tx filter that lets everything pass and records what it saw
 * @f:		the filter
 * @seen:	packets seen
 * @tag:	their tags
 */
struct count_filter {
	struct net_filter f;
	unsigned int seen;
	uint8_t tag[REC_MAX];
};

static bool count_filter_receive(struct net_filter *f, enum net_filter_dir dir,
				 const struct iovec *iov, int iovcnt, unsigned int flags)
{
	struct count_filter *cf = (struct count_filter *)f;

	(void)flags;
	assert_int_equal(dir, NET_FILTER_TX);
	assert_true(cf->seen < REC_MAX);
	net_iov_to_buf(iov, iovcnt, TAG_OFF, &cf->tag[cf->seen++], 1);
	return true;
}

static const struct net_filter_ops count_filter_ops = {
	.type = "count",
	.receive_iov = count_filter_receive,
};

/* 11: a sender's filter sees each packet once, also when the rest is sent again later. */
static void test_filter_sees_each_once(void **state)
{
	struct rec *dst;
	struct net_client *src = pair_new(&burst_ops, &dst);
	struct count_filter *cf = calloc(1, sizeof(*cf));
	unsigned int k;

	assert_non_null(cf);
	cf->f.ops = &count_filter_ops;
	cf->f.dirs = NET_FILTER_TX;
	net_filter_attach(src, &cf->f);

	burst_make(5);
	dst->room = 2;
	k = net_send_burst(src, tx.pkt, 5, on_sent);
	assert_true(k < 5);
	assert_int_equal(cf->seen, k);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(net_send_burst(src, tx.pkt + k, 5 - k, on_sent), 5 - k);
	assert_int_equal(cf->seen, 5);
	assert_memory_equal(cf->tag, ((const uint8_t[]){ 1, 2, 3, 4, 5 }), 5);
	assert_tags_upto(dst, 5);

	/* Without sent_cb too. */
	rec_reset(dst);
	cf->seen = 0;
	dst->room = 2;
	assert_int_equal(net_send_burst(src, tx.pkt, 5, NULL), 5);
	assert_int_equal(cf->seen, 5);
	dst->room = ROOM_ALL;
	net_flush_queued(&dst->nc);
	assert_tags_upto(dst, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prefix_taken_rest_resent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_burst_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_sent_cb_copies_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_older_packets_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_purged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_sender_resends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_drops_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_packet_receiver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_room_and_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vnet_hdr_stripped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_burst_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_sender_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_two_ports_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_sorts_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_sees_each_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
