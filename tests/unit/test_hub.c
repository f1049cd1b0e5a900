// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_hub.c - hubs forward to every other port, gate on them and resume a held sender when
 * its destination drains; learning switches learn, forward known unicast to one port, flood
 * the rest, age entries out and stay bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hub.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

struct endpoint {
	struct net_client nc;
	bool accept;
	bool vnet;
	unsigned int got;
	unsigned int flags;
};

static ssize_t ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			  unsigned int flags)
{
	struct endpoint *e = (struct endpoint *)nc;

	if (!e->accept)
		return 0;
	e->got++;
	e->flags = flags;
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static bool ep_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct endpoint *)nc)->vnet;
}

static const struct net_client_ops ep_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
	.accepts_vnet_hdr = ep_accepts_vnet_hdr,
};

static struct loop *loop;

static struct endpoint *ep_on_hub(int hubid, const struct hub_config *cfg)
{
	struct endpoint *e = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, NULL);

	assert_non_null(e);
	e->accept = true;
	assert_non_null(hub_port_new(loop, hubid, NULL, &e->nc, cfg));
	return e;
}

static void send_frame(struct endpoint *from, const uint8_t *dst, const uint8_t *src)
{
	uint8_t frame[60] = { 0 };
	struct iovec iov = { frame, sizeof(frame) };

	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	net_send_iov(&from->nc, &iov, 1, 0, NULL);
}

static const uint8_t mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0xa };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0xb };
static const uint8_t mac_c[6] = { 0x52, 0x54, 0, 0, 0, 0xc };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static int setup(void **state)
{
	loop = loop_new();
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	net_client_free_all();
	assert_int_equal(hub_next_id(-1), -1);
	loop_free(loop);
	return 0;
}

static void test_hub_floods_to_others(void **state)
{
	struct endpoint *a = ep_on_hub(0, NULL), *b = ep_on_hub(0, NULL), *c = ep_on_hub(0, NULL);

	send_frame(a, mac_b, mac_a);
	assert_int_equal(a->got, 0);
	assert_int_equal(b->got, 1);
	assert_int_equal(c->got, 1);
	/* A plain hub does not learn: the next frame to b still reaches c. */
	send_frame(b, mac_a, mac_b);
	send_frame(a, mac_b, mac_a);
	assert_int_equal(c->got, 3);
}

static void test_hub_gates_on_other_ports(void **state)
{
	struct endpoint *a = ep_on_hub(1, NULL), *b = ep_on_hub(1, NULL);

	assert_true(net_can_send(&a->nc));
	b->accept = false;
	send_frame(a, mac_b, mac_a);
	/* b refused: its link is disabled, so a's port cannot receive any more. */
	assert_false(net_can_send(&a->nc));
	b->accept = true;
	net_flush_queued(&b->nc);
	assert_int_equal(b->got, 1);
	assert_true(net_can_send(&a->nc));
}

static unsigned int sent_cbs;

static void count_sent(struct net_client *nc, ssize_t ret)
{
	sent_cbs++;
}

static void test_hub_resumes_held_sender(void **state)
{
	struct endpoint *a = ep_on_hub(2, NULL), *b = ep_on_hub(2, NULL);
	uint8_t frame[60] = { 0 };
	struct iovec iov = { frame, sizeof(frame) };

	sent_cbs = 0;
	b->accept = false;
	send_frame(a, mac_b, mac_a);
	/* The hub cannot pass the next frame on: a's port holds it and a waits for its sent_cb. */
	assert_int_equal(net_send_iov(&a->nc, &iov, 1, 0, count_sent), 0);
	assert_int_equal(b->got, 0);
	b->accept = true;
	/* b takes its queued frame, then the one a's port held (as QEMU's net_hub_flush). */
	assert_true(net_flush_queued(&b->nc));
	assert_int_equal(b->got, 2);
	assert_int_equal(sent_cbs, 1);
	assert_true(net_can_send(&a->nc));
}

static void test_hub_vnet_hdr_only_when_all_accept(void **state)
{
	struct endpoint *a = ep_on_hub(2, NULL), *b = ep_on_hub(2, NULL);

	a->vnet = b->vnet = true;
	assert_true(net_peer_accepts_vnet_hdr(&a->nc));
	struct endpoint *c = ep_on_hub(2, NULL);
	assert_false(net_peer_accepts_vnet_hdr(&a->nc));
	c->vnet = true;
	assert_true(net_peer_accepts_vnet_hdr(&a->nc));
}

static void test_switch_learns_and_forwards(void **state)
{
	struct hub_config cfg = { .learning = true };
	struct endpoint *a = ep_on_hub(3, &cfg), *b = ep_on_hub(3, &cfg), *c = ep_on_hub(3, &cfg);

	/* Unknown destination: flood. */
	send_frame(a, mac_b, mac_a);
	assert_int_equal(b->got, 1);
	assert_int_equal(c->got, 1);
	/* b answers a: a is known, so only a gets it. */
	send_frame(b, mac_a, mac_b);
	assert_int_equal(a->got, 1);
	assert_int_equal(c->got, 1);
	/* a to b now goes to b alone. */
	send_frame(a, mac_b, mac_a);
	assert_int_equal(b->got, 2);
	assert_int_equal(c->got, 1);
	/* Broadcast floods to every other port, never back to the source. */
	send_frame(a, bcast, mac_a);
	assert_int_equal(a->got, 1);
	assert_int_equal(b->got, 3);
	assert_int_equal(c->got, 2);
	/* A frame whose destination sits behind the source port is not sent back. */
	send_frame(a, mac_a, mac_c);
	assert_int_equal(a->got, 1);
	assert_int_equal(hub_mac_count(3), 3);
}

static void test_switch_bounded_and_ageing(void **state)
{
	struct hub_config cfg = { .learning = true, .mac_table_size = 2, .ageing_ns = 1 };
	struct endpoint *a = ep_on_hub(4, &cfg), *b = ep_on_hub(4, &cfg);
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 1, 0 };

	for (int i = 0; i < 10; i++) {
		mac[5] = (uint8_t)i;
		send_frame(a, bcast, mac);
	}
	assert_true(hub_mac_count(4) <= 2);
	/* Entries live 1 ns: a lookup finds them expired, so unicast floods again. */
	send_frame(b, mac, mac_b);
	assert_int_equal(a->got, 1);
}

static void test_switch_conflicting_config_refused(void **state)
{
	struct hub_config sw = { .learning = true };
	struct hub_config hub = { .learning = false };

	ep_on_hub(5, &sw);
	struct endpoint *e = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, NULL);
	assert_null(hub_port_new(loop, 5, NULL, &e->nc, &hub));
	assert_int_equal(errno, EINVAL);
}

static void test_hubport_options(void **state)
{
	struct error err = { 0 };

	assert_int_equal(netdev_add(loop, "hubport,id=p0,hubid=7", &err), 0);
	assert_int_equal(netdev_add(loop, "hubport,id=p0,hubid=7", &err), -EEXIST);
	assert_string_equal(err.msg, "Duplicate ID 'p0' for netdev");
	assert_int_equal(netdev_add(loop, "hubport,id=p1", &err), -EINVAL);
	assert_string_equal(err.msg, "Parameter 'hubid' is missing");
	assert_int_equal(netdev_add(loop, "hubport,id=p1,hubid=x", &err), -EINVAL);
	assert_string_equal(err.msg, "hubid=x: expected a non-negative number");
	assert_int_equal(netdev_add(loop, "hubport,id=p1,hubid=7,netdev=missing", &err), -ENOENT);
	assert_string_equal(err.msg, "netdev=missing: no such netdev");
	assert_int_equal(netdev_add(loop, "hubport,id=p1,hubid=7,learning=on", &err), -EINVAL);
	assert_int_equal(netdev_add(loop, "hubport,id=p2,hubid=8,learning=on,ageing=5", &err), 0);
	assert_true(hub_port_hub_is_switch(net_find("p2")));
	assert_int_equal(netdev_add(loop, "hubport,id=p3,hubid=8,netdev=p0", &err), 0);
	assert_ptr_equal(net_find("p3")->peer, net_find("p0"));
	assert_int_equal(netdev_add(loop, "hubport,id=p4,hubid=8,netdev=p0", &err), -EBUSY);
	assert_int_equal(netdev_del("p3", &err), 0);
	assert_null(net_find("p0")->peer);
	assert_int_equal(netdev_del("p3", &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hub_floods_to_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_gates_on_other_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_resumes_held_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hub_vnet_hdr_only_when_all_accept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_switch_learns_and_forwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_bounded_and_ageing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_conflicting_config_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hubport_options, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
