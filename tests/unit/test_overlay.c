// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_overlay.c - the VXLAN and Geneve headers (the bytes sent, the checks of datagrams
 * received from the underlay), the flow hash that picks the UDP source port, and the MAC
 * table with ageing that the overlay's forwarding table and the learning switch share.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/overlay.h"
#include "core/mac-table.h"

#define NS 1000000000LL

/* A datagram: @hdr_len bytes of header, then a 60-byte frame of IPv4/UDP from 10.0.0.1:1000. */
static size_t make_dgram(uint8_t *d, const uint8_t *hdr, size_t hdr_len)
{
	static const uint8_t frame[60] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x03, 0xe8, 0x07, 0xd0,
	};

	if (hdr_len)
		memcpy(d, hdr, hdr_len);
	memcpy(d + hdr_len, frame, sizeof(frame));
	return hdr_len + sizeof(frame);
}

static void test_vxlan_header(void **state)
{
	static const uint8_t want[8] = { 0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0 };
	struct overlay_decoded dec;
	uint8_t hdr[OVERLAY_HDR_LEN], d[128];
	size_t len;

	overlay_vxlan.form(0x123456, hdr);
	assert_memory_equal(hdr, want, sizeof(want));
	len = make_dgram(d, hdr, sizeof(hdr));
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), 0);
	assert_int_equal(dec.vni, 0x123456);
	assert_int_equal(dec.off, 8);
	/* Just an Ethernet header is enough; one byte less is short. */
	assert_int_equal(overlay_vxlan.decap(d, 8 + 14, &dec), 0);
	assert_int_equal(overlay_vxlan.decap(d, 8 + 13, &dec), OVERLAY_DROP_SHORT);
	assert_int_equal(overlay_vxlan.decap(d, 0, &dec), OVERLAY_DROP_SHORT);
	/* Without I, with another flag (GBP, GPE), or a reserved bit set: dropped, as Linux. */
	d[0] = 0;
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
	d[0] = 0x0c;
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
	d[0] = 0x88;
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
	d[0] = 0x08;
	d[2] = 1;
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
	d[2] = 0;
	d[7] = 1;
	assert_int_equal(overlay_vxlan.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
}

static void test_geneve_header(void **state)
{
	static const uint8_t want[8] = { 0, 0, 0x65, 0x58, 0xab, 0xcd, 0xef, 0 };
	/* Two options: class 0x0102 type 1 with one word; class 0xffff type 2 with none. */
	static const uint8_t opts[] = { 0x03, 0x00, 0x65, 0x58, 0, 0, 42, 0,
					0x01, 0x02, 0x01, 0x01, 0xaa, 0xbb, 0xcc, 0xdd,
					0xff, 0xff, 0x02, 0x00 };
	struct overlay_decoded dec;
	uint8_t hdr[OVERLAY_HDR_LEN], d[128];
	size_t len;

	overlay_geneve.form(0xabcdef, hdr);
	assert_memory_equal(hdr, want, sizeof(want));
	len = make_dgram(d, hdr, sizeof(hdr));
	assert_int_equal(overlay_geneve.decap(d, len, &dec), 0);
	assert_int_equal(dec.vni, 0xabcdef);
	assert_int_equal(dec.off, 8);
	assert_int_equal(overlay_geneve.decap(d, 7, &dec), OVERLAY_DROP_SHORT);
	assert_int_equal(overlay_geneve.decap(d, 8 + 13, &dec), OVERLAY_DROP_SHORT);
	/* Version 1, or a protocol other than Ethernet: dropped. */
	d[0] = 0x40;
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_FLAGS);
	d[0] = 0;
	d[3] = 0x00;
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_FLAGS);

	/* Options are walked and skipped. */
	len = make_dgram(d, opts, sizeof(opts));
	assert_int_equal(overlay_geneve.decap(d, len, &dec), 0);
	assert_int_equal(dec.vni, 42);
	assert_int_equal(dec.off, sizeof(opts));
	/* A datagram that ends inside the options, or options that overrun their length. */
	assert_int_equal(overlay_geneve.decap(d, 12, &dec), OVERLAY_DROP_OPTIONS);
	d[11] = 0x03; /* the first option claims three words: it runs past the options */
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_OPTIONS);
	d[11] = 0x01;
	d[0] = 0x02; /* options of 8 bytes: what follows the first is the frame */
	assert_int_equal(overlay_geneve.decap(d, len, &dec), 0);
	assert_int_equal(dec.off, 16);
	d[0] = 0x3f; /* 252 bytes of options in a shorter datagram */
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_OPTIONS);
	d[0] = 0x03;
	/* A critical option, or a control (OAM) packet: not for a plain endpoint. */
	d[1] = 0x40;
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_CRITICAL);
	d[1] = 0x80;
	assert_int_equal(overlay_geneve.decap(d, len, &dec), OVERLAY_DROP_CRITICAL);
	d[1] = 0x3f; /* the reserved bits are ignored */
	assert_int_equal(overlay_geneve.decap(d, len, &dec), 0);
}

static void test_flow_hash(void **state)
{
	uint8_t a[128], b[128];
	size_t len = make_dgram(a, NULL, 0);
	uint32_t h = overlay_flow_hash(a, len);
	int differ = 0;

	/* The payload does not matter; the ports do. */
	memcpy(b, a, len);
	b[len - 1] ^= 0xff;
	assert_int_equal(overlay_flow_hash(b, len), h);
	for (int port = 0; port < 64; port++) {
		b[14 + 20 + 1] = (uint8_t)port;
		differ += overlay_flow_hash(b, len) % 8 != h % 8;
	}
	assert_true(differ > 32);
	/* A fragment is hashed without ports (they are not there in later fragments). */
	memcpy(b, a, len);
	b[14 + 6] = 0x20;
	h = overlay_flow_hash(b, len);
	b[14 + 20] ^= 0xff;
	assert_int_equal(overlay_flow_hash(b, len), h);
	/* Anything short is hashed without reading past it. */
	for (size_t l = 0; l < len; l++)
		(void)overlay_flow_hash(a, l);
}

static const uint8_t mac_a[MAC_LEN] = { 2, 0, 0, 0, 0, 0xa };
static const uint8_t mac_b[MAC_LEN] = { 2, 0, 0, 0, 0, 0xb };
static const uint8_t mac_c[MAC_LEN] = { 2, 0, 0, 0, 0, 0xc };

static int value_of(struct mac_entry *e)
{
	int v;

	memcpy(&v, mac_entry_value(e), sizeof(v));
	return v;
}

static void test_mac_table_learn_and_age(void **state)
{
	struct mac_table *t = mac_table_new(2, 10 * NS, sizeof(int));
	int one = 1, two = 2;

	assert_non_null(t);
	assert_null(mac_table_lookup(t, mac_a, 0));
	assert_int_equal(mac_table_learn(t, mac_a, &one, 0), 1);
	assert_int_equal(value_of(mac_table_lookup(t, mac_a, 1)), 1);
	/* Seen again elsewhere: it moves, and lives on from then. */
	assert_int_equal(mac_table_learn(t, mac_a, &two, 5 * NS), 0);
	assert_int_equal(value_of(mac_table_lookup(t, mac_a, 14 * NS)), 2);
	assert_null(mac_table_lookup(t, mac_a, 16 * NS));
	assert_int_equal(mac_table_count(t), 0);
	/* Full of live entries: nothing is forgotten, the new one is not learnt. */
	assert_int_equal(mac_table_learn(t, mac_a, &one, 20 * NS), 1);
	assert_int_equal(mac_table_learn(t, mac_b, &two, 21 * NS), 1);
	assert_int_equal(mac_table_learn(t, mac_c, &one, 22 * NS), -ENOSPC);
	assert_non_null(mac_table_lookup(t, mac_a, 22 * NS));
	/* Once one has aged, the new one takes its place. */
	assert_int_equal(mac_table_learn(t, mac_c, &one, 30.5 * NS), 1);
	assert_null(mac_table_lookup(t, mac_a, 30.5 * NS));
	assert_non_null(mac_table_lookup(t, mac_b, 30.5 * NS));
	mac_table_free(t);
}

static void test_mac_table_static(void **state)
{
	struct mac_table *t = mac_table_new(4, 10 * NS, sizeof(int));
	int one = 1, two = 2;

	assert_int_equal(mac_table_add_static(t, mac_a, &one, 0), 0);
	/* Learning neither moves nor refreshes it, and it never ages. */
	assert_int_equal(mac_table_learn(t, mac_a, &two, 1), 0);
	assert_int_equal(value_of(mac_table_lookup(t, mac_a, 1000 * NS)), 1);
	assert_true(mac_table_lookup(t, mac_a, 1000 * NS)->is_static);
	/* A learnt entry made static. */
	assert_int_equal(mac_table_learn(t, mac_b, &one, 0), 1);
	assert_int_equal(mac_table_add_static(t, mac_b, &two, 0), 0);
	assert_int_equal(mac_table_count(t), 2);
	assert_int_equal(value_of(mac_table_lookup(t, mac_b, 1000 * NS)), 2);
	assert_int_equal(mac_table_del(t, mac_b), 0);
	assert_int_equal(mac_table_del(t, mac_b), -ENOENT);
	assert_int_equal(mac_table_count(t), 1);
	mac_table_expire(t, 2000 * NS);
	assert_int_equal(mac_table_count(t), 1);
	mac_table_free(t);
}

static bool is_two(void *opaque, struct mac_entry *e)
{
	return value_of(e) == *(int *)opaque;
}

static void count_entry(void *opaque, struct mac_entry *e)
{
	(*(int *)opaque)++;
}

static void test_mac_table_forget_and_walk(void **state)
{
	struct mac_table *t = mac_table_new(300, 10 * NS, sizeof(int));
	int one = 1, two = 2, n = 0;
	uint8_t mac[MAC_LEN] = { 2, 0, 0, 0, 0, 0 };

	for (int i = 0; i < 300; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		assert_int_equal(mac_table_learn(t, mac, i % 2 ? &one : &two, i * NS / 100), 1);
	}
	mac_table_forget(t, is_two, &two);
	assert_int_equal(mac_table_count(t), 150);
	mac_table_foreach(t, 0, count_entry, &n);
	assert_int_equal(n, 150);
	/* The walk leaves out (and frees) what has aged. */
	n = 0;
	mac_table_foreach(t, 11 * NS + 150 * NS / 100, count_entry, &n);
	assert_int_equal(n, 25); /* learnt at 2.5 s or later: the odd ones of 251 to 299 */
	assert_int_equal(mac_table_count(t), 25);
	mac_table_free(t);
	/* A table of no entries learns nothing. */
	t = mac_table_new(0, NS, sizeof(int));
	assert_int_equal(mac_table_learn(t, mac_a, &one, 0), -ENOSPC);
	assert_int_equal(mac_table_add_static(t, mac_a, &one, 0), -ENOSPC);
	mac_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vxlan_header),
		cmocka_unit_test(test_geneve_header),
		cmocka_unit_test(test_flow_hash),
		cmocka_unit_test(test_mac_table_learn_and_age),
		cmocka_unit_test(test_mac_table_static),
		cmocka_unit_test(test_mac_table_forget_and_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
