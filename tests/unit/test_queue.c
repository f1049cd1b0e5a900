// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_queue.c - the send path and incoming queues: delivery, order, flow control through
 * sent_cb, the bound, purge on peer removal, link down, counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "vwire/loop.h"
#include "vwire/net.h"

/* A receiver that takes packets only while 'accept' is set, and records what it got. */
struct sink {
	struct net_client nc;
	bool accept;
	unsigned int got;
	uint8_t last[64];
	uint8_t order[1024];
};

static ssize_t sink_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	struct sink *s = (struct sink *)nc;
	size_t len = net_iov_size(iov, iovcnt);

	if (!s->accept)
		return 0;
	net_iov_to_buf(iov, iovcnt, 0, s->last, sizeof(s->last));
	if (s->got < sizeof(s->order))
		s->order[s->got] = s->last[0];
	s->got++;
	return (ssize_t)len;
}

static const struct net_client_ops sink_ops = {
	.type = "sink",
	.size = sizeof(struct sink),
	.receive_iov = sink_receive,
};

static const struct net_client_ops source_ops = {
	.type = "source",
	.size = sizeof(struct sink),
	.receive_iov = sink_receive,
};

static unsigned int sent_calls;
static ssize_t sent_last;

static void on_sent(struct net_client *sender, ssize_t ret)
{
	sent_calls++;
	sent_last = ret;
}

struct pair {
	struct loop *loop;
	struct net_client *src;
	struct sink *dst;
};

static int setup(void **state)
{
	static struct pair p;

	p.loop = loop_new();
	p.dst = (struct sink *)net_client_new(&sink_ops, p.loop, NULL, NULL, "dst");
	p.src = net_client_new(&source_ops, p.loop, &p.dst->nc, NULL, "src");
	assert_non_null(p.dst);
	assert_non_null(p.src);
	sent_calls = 0;
	sent_last = -1;
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	net_client_free_all();
	assert_null(net_first());
	loop_free(p->loop);
	return 0;
}

static ssize_t send_byte(struct net_client *src, uint8_t v, net_sent_cb *cb)
{
	uint8_t pkt[60] = { v };
	struct iovec iov = { pkt, sizeof(pkt) };

	return net_send_iov(src, &iov, 1, 0, cb);
}

static void test_deliver_at_once(void **state)
{
	struct pair *p = *state;

	p->dst->accept = true;
	assert_int_equal(send_byte(p->src, 7, on_sent), 60);
	assert_int_equal(p->dst->got, 1);
	assert_int_equal(p->dst->last[0], 7);
	assert_int_equal(sent_calls, 0);
	assert_int_equal(p->src->stats.tx_packets, 1);
	assert_int_equal(p->dst->nc.stats.rx_packets, 1);
	assert_int_equal(p->dst->nc.stats.rx_bytes, 60);
}

static void test_hold_and_flush_in_order(void **state)
{
	struct pair *p = *state;

	p->dst->accept = false;
	/* The first refusal disables the receiver; the sender is told 0 and must wait. */
	assert_int_equal(send_byte(p->src, 1, on_sent), 0);
	assert_true(p->dst->nc.receive_disabled);
	assert_false(net_can_send(p->src));
	assert_int_equal(send_byte(p->src, 2, on_sent), 0);
	assert_int_equal(send_byte(p->src, 3, NULL), 0);
	assert_int_equal(net_queue_length(&p->dst->nc), 3);
	assert_int_equal(p->dst->got, 0);

	p->dst->accept = true;
	assert_true(net_flush_queued(&p->dst->nc));
	assert_int_equal(p->dst->got, 3);
	assert_memory_equal(p->dst->order, ((uint8_t[]){ 1, 2, 3 }), 3);
	assert_int_equal(sent_calls, 2);
	assert_int_equal(sent_last, 60);
	assert_true(net_can_send(p->src));
}

static void test_new_packet_does_not_overtake(void **state)
{
	struct pair *p = *state;

	p->dst->accept = false;
	send_byte(p->src, 1, on_sent);
	/* The receiver could take packets again but has not flushed yet. */
	p->dst->accept = true;
	p->dst->nc.receive_disabled = false;
	send_byte(p->src, 2, on_sent);
	assert_int_equal(p->dst->got, 2);
	assert_memory_equal(p->dst->order, ((uint8_t[]){ 1, 2 }), 2);
}

static void test_bound_drops_and_counts(void **state)
{
	struct pair *p = *state;

	net_set_queue_limit(&p->dst->nc, 4);
	p->dst->accept = false;
	for (int i = 0; i < 10; i++)
		send_byte(p->src, (uint8_t)i, NULL);
	assert_int_equal(net_queue_length(&p->dst->nc), 4);
	assert_int_equal(p->dst->nc.stats.rx_dropped, 6);
	p->dst->accept = true;
	net_flush_queued(&p->dst->nc);
	assert_int_equal(p->dst->got, 4);
	assert_memory_equal(p->dst->order, ((uint8_t[]){ 0, 1, 2, 3 }), 4);
}

static void test_purge_on_peer_free(void **state)
{
	struct pair *p = *state;

	p->dst->accept = false;
	send_byte(p->src, 1, on_sent);
	send_byte(p->src, 2, on_sent);
	assert_int_equal(net_queue_length(&p->dst->nc), 2);
	net_client_free(p->src);
	/* Both queued packets were purged and their callbacks told so. */
	assert_int_equal(net_queue_length(&p->dst->nc), 0);
	assert_int_equal(sent_calls, 2);
	assert_int_equal(sent_last, 0);
	assert_null(p->dst->nc.peer);
	p->src = NULL;
}

static void test_link_down_drops_silently(void **state)
{
	struct pair *p = *state;

	p->dst->accept = true;
	net_set_link(&p->dst->nc, false);
	assert_int_equal(send_byte(p->src, 1, on_sent), 60);
	assert_int_equal(p->dst->got, 0);
	assert_int_equal(net_queue_length(&p->dst->nc), 0);
	net_set_link(&p->dst->nc, true);
	assert_int_equal(send_byte(p->src, 2, on_sent), 60);
	assert_int_equal(p->dst->got, 1);
	/* Down on the sending side drops too. */
	net_set_link(p->src, false);
	send_byte(p->src, 3, NULL);
	assert_int_equal(p->dst->got, 1);
	assert_int_equal(p->src->stats.tx_dropped, 2);
}

static void test_no_peer_drops(void **state)
{
	struct pair *p = *state;
	struct net_client *lonely = net_client_new(&source_ops, p->loop, NULL, NULL, NULL);

	assert_non_null(lonely);
	assert_string_equal(lonely->name, "source.0");
	assert_int_equal(send_byte(lonely, 1, on_sent), 60);
	assert_int_equal(lonely->stats.tx_dropped, 1);
	assert_int_equal(sent_calls, 0);
}

static void test_names_unique_and_peering_checked(void **state)
{
	struct pair *p = *state;

	assert_null(net_client_new(&sink_ops, p->loop, NULL, NULL, "dst"));
	assert_int_equal(errno, EEXIST);
	assert_null(net_client_new(&sink_ops, p->loop, &p->dst->nc, NULL, "x"));
	assert_int_equal(errno, EBUSY);
	assert_ptr_equal(net_find("src"), p->src);
	assert_null(net_find("nope"));
}

static void test_sent_cb_may_send_again(void **state)
{
	struct pair *p = *state;

	p->dst->accept = false;
	assert_int_equal(send_byte(p->src, 1, on_sent), 0);
	p->dst->accept = true;
	net_flush_queued(&p->dst->nc);
	assert_int_equal(sent_calls, 1);
	assert_int_equal(send_byte(p->src, 2, on_sent), 60);
	assert_int_equal(p->dst->got, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_flush_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_packet_does_not_overtake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_drops_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_on_peer_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_drops_silently, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_peer_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_unique_and_peering_checked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sent_cb_may_send_again, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
