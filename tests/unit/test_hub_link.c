// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_hub_link.c - a hub whose ports live on three loops (two iothreads and the main loop),
 * with the threads running: every frame reaches every other port exactly once and in order
 * (no frame comes round twice through a third part), a learning switch sends a learnt
 * unicast only across the one link that leads to it, and a receiver that holds back on one
 * thread holds back a sender on another without losing a frame, which all arrive once it
 * takes them again. Runs under ThreadSanitizer in the test command.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/hub.h"
#include "core/iothread.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Frames the sender of the back-pressure test sends: more than a link and a queue hold. */
#define TOTAL 1500

struct endpoint {
	struct net_client nc;
	bool accept;
	atomic_uint got;
	atomic_uint bcast;
	uint32_t next_seq;
	atomic_bool out_of_order;
	/* sender side */
	uint32_t sent;
	uint8_t src[6];
	uint8_t dst[6];
	struct loop_bh *send_bh;
};

static ssize_t ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			  unsigned int flags)
{
	struct endpoint *e = (struct endpoint *)nc;
	uint8_t frame[64];
	uint32_t seq;

	(void)flags;
	if (!e->accept)
		return 0;
	net_iov_to_buf(iov, iovcnt, 0, frame, sizeof(frame));
	if (frame[0] & 1) {
		atomic_fetch_add(&e->bcast, 1);
	} else {
		memcpy(&seq, frame + 14, sizeof(seq));
		if (seq != e->next_seq)
			atomic_store(&e->out_of_order, true);
		e->next_seq = seq + 1;
	}
	atomic_fetch_add(&e->got, 1);
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static const struct net_client_ops ep_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
};

static struct loop *main_loop;
static struct iothread *io1, *io2;

static int setup(void **state)
{
	(void)state;
	main_loop = loop_new();
	io1 = iothread_new("io1", 0, NULL);
	io2 = iothread_new("io2", 0, NULL);
	return main_loop && io1 && io2 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	iothread_stop_all();
	net_client_free_all();
	assert_int_equal(hub_next_id(-1), -1);
	iothread_free_all();
	loop_free(main_loop);
	return 0;
}

static struct endpoint *ep_on_hub(struct loop *loop, int hubid, const struct hub_config *cfg,
				  uint8_t mac)
{
	struct endpoint *e = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, NULL);

	assert_non_null(e);
	e->accept = true;
	memset(e->src, 0, sizeof(e->src));
	e->src[0] = 0x52;
	e->src[5] = mac;
	assert_non_null(hub_port_new(loop, hubid, NULL, &e->nc, cfg));
	return e;
}

/* Build frame @seq from @e to its dst. */
static void ep_frame(struct endpoint *e, uint8_t *frame, uint32_t seq)
{
	memset(frame, 0, 60);
	memcpy(frame, e->dst, 6);
	memcpy(frame + 6, e->src, 6);
	memcpy(frame + 14, &seq, sizeof(seq));
}

/* On the sender's thread: bursts of 32 until TOTAL, going on when the hub takes more. */
static void ep_send_bh(void *opaque);

static void ep_sent(struct net_client *nc, ssize_t ret)
{
	(void)ret;
	loop_bh_schedule(((struct endpoint *)nc)->send_bh);
}

static void ep_send_bh(void *opaque)
{
	struct endpoint *e = opaque;
	uint8_t frames[32][60];
	struct iovec iov[32];
	struct net_pkt pkts[32];

	while (e->sent < TOTAL) {
		unsigned int n = TOTAL - e->sent < 32 ? TOTAL - e->sent : 32, taken;

		for (unsigned int i = 0; i < n; i++) {
			ep_frame(e, frames[i], e->sent + i);
			iov[i] = (struct iovec){ frames[i], 60 };
			pkts[i] = (struct net_pkt){ &iov[i], 1, 0, 60 };
		}
		taken = net_send_burst(&e->nc, pkts, n, ep_sent);
		e->sent += taken;
		if (taken < n)
			return; /* ep_sent() goes on */
	}
}

static void ep_start_sending(void *opaque)
{
	struct endpoint *e = opaque;

	e->send_bh = loop_bh_new(e->nc.loop, ep_send_bh, e);
	assert_non_null(e->send_bh);
	loop_bh_schedule(e->send_bh);
}

static void ep_stop_sending(void *opaque)
{
	struct endpoint *e = opaque;

	loop_bh_free(e->send_bh);
	e->send_bh = NULL;
}

static void ep_accept(void *opaque)
{
	struct endpoint *e = opaque;

	e->accept = true;
	net_flush_queued(&e->nc);
}

struct one_frame {
	struct endpoint *from;
	const uint8_t *dst;
	uint32_t seq;
};

static void ep_send_one(void *opaque)
{
	struct one_frame *f = opaque;
	uint8_t frame[60];
	struct iovec iov = { frame, sizeof(frame) };

	memcpy(f->from->dst, f->dst, 6);
	ep_frame(f->from, frame, f->seq);
	net_send_iov(&f->from->nc, &iov, 1, 0, NULL);
}

/* Wait up to 5 s for @e to have received @n frames. */
static void wait_got(struct endpoint *e, unsigned int n)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 5000 && atomic_load(&e->got) < n; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(atomic_load(&e->got), n);
}

static void settle(void)
{
	struct timespec ts = { 0, 50000000 };

	nanosleep(&ts, NULL);
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* A plain hub floods: each frame reaches each other port once, whatever its thread. */
static void test_flood_once(void **state)
{
	struct endpoint *a = ep_on_hub(iothread_loop(io1), 0, NULL, 0xa);
	struct endpoint *b = ep_on_hub(iothread_loop(io2), 0, NULL, 0xb);
	struct endpoint *c = ep_on_hub(main_loop, 0, NULL, 0xc);
	struct endpoint *d = ep_on_hub(iothread_loop(io1), 0, NULL, 0xd);

	(void)state;
	assert_int_equal(iothread_start(io1, NULL), 0);
	assert_int_equal(iothread_start(io2, NULL), 0);
	for (uint32_t i = 0; i < 100; i++) {
		struct one_frame f = { a, bcast, i };

		iothread_run_sync(io1, ep_send_one, &f);
	}
	/* The main loop's part runs when the main loop does. */
	for (int i = 0; i < 200 && atomic_load(&c->got) < 100; i++)
		loop_run_once(main_loop, 10);
	wait_got(b, 100);
	wait_got(d, 100);
	assert_int_equal(atomic_load(&c->got), 100);
	/* Nothing comes round a second time through the third part. */
	settle();
	for (int i = 0; i < 10; i++)
		loop_run_once(main_loop, 5);
	assert_int_equal(atomic_load(&b->got), 100);
	assert_int_equal(atomic_load(&c->got), 100);
	assert_int_equal(atomic_load(&d->got), 100);
	assert_int_equal(atomic_load(&a->got), 0);
}

/* A switch learns across links: a learnt unicast goes to its part only. */
static void test_switch_across(void **state)
{
	const struct hub_config sw = { .learning = true };
	struct endpoint *a = ep_on_hub(iothread_loop(io1), 1, &sw, 0xa);
	struct endpoint *b = ep_on_hub(iothread_loop(io2), 1, &sw, 0xb);
	struct endpoint *c = ep_on_hub(main_loop, 1, &sw, 0xc);
	struct one_frame f;

	(void)state;
	assert_int_equal(iothread_start(io1, NULL), 0);
	assert_int_equal(iothread_start(io2, NULL), 0);
	/* a broadcasts: every part learns where a is. */
	f = (struct one_frame){ a, bcast, 0 };
	iothread_run_sync(io1, ep_send_one, &f);
	for (int i = 0; i < 200 && atomic_load(&c->got) < 1; i++)
		loop_run_once(main_loop, 10);
	wait_got(b, 1);
	assert_int_equal(atomic_load(&c->got), 1);
	/* b answers a by unicast: c never sees it. */
	for (uint32_t i = 0; i < 50; i++) {
		f = (struct one_frame){ b, a->src, i };
		iothread_run_sync(io2, ep_send_one, &f);
	}
	wait_got(a, 50);
	settle();
	for (int i = 0; i < 10; i++)
		loop_run_once(main_loop, 5);
	assert_int_equal(atomic_load(&c->got), 1);
	assert_false(atomic_load(&a->out_of_order));
	iothread_pause_all();
	/* a in all three parts (the frame flooded), b in io2's and io1's parts. */
	assert_int_equal(hub_mac_count(1), 5);
	iothread_resume_all();
}

/* A receiver on io2 that holds back stops a sender on io1; nothing is lost or reordered. */
static void test_backpressure(void **state)
{
	struct endpoint *a = ep_on_hub(iothread_loop(io1), 2, NULL, 0xa);
	struct endpoint *b = ep_on_hub(iothread_loop(io2), 2, NULL, 0xb);

	(void)state;
	memcpy(a->dst, b->src, 6);
	b->accept = false;
	assert_int_equal(iothread_start(io1, NULL), 0);
	assert_int_equal(iothread_start(io2, NULL), 0);
	iothread_run_sync(io1, ep_start_sending, a);
	settle();
	iothread_pause_all();
	/* Held: no more than the link's buffers and the far port's queue are in flight. */
	assert_true(a->sent < TOTAL);
	assert_int_equal(atomic_load(&b->got), 0);
	iothread_resume_all();
	iothread_run_sync(io2, ep_accept, b);
	wait_got(b, TOTAL);
	assert_false(atomic_load(&b->out_of_order));
	iothread_pause_all();
	assert_int_equal(a->sent, TOTAL);
	assert_int_equal(b->nc.stats.rx_dropped, 0);
	iothread_resume_all();
	iothread_run_sync(io1, ep_stop_sending, a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flood_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_across, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
