// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_l2tpv3.c - the L2TPv3 header of -netdev l2tpv3: its layout from QEMU's options, the
 * bytes of the headers sent (as QEMU 7.2 writes them), and the checks of datagrams received.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/l2tpv3.h"
#include "core/netdev.h"
#include "vwire/error.h"

static void test_layout_errors(void **state)
{
	struct netdev_l2tpv3_opts o = { 0 };
	struct l2tpv3_hdr h;
	struct error err = { 0 };

	assert_int_equal(l2tpv3_layout(&h, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "Parameter 'txsession' is missing");
	o.has_txsession = true;
	o.has_txcookie = true;
	assert_int_equal(l2tpv3_layout(&h, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "require both 'rxcookie' and 'txcookie' or neither");
	o.has_rxcookie = true;
	o.txcookie = 1ULL << 32;
	assert_int_equal(l2tpv3_layout(&h, &o, &err), -EINVAL);
	o.cookie64 = true;
	assert_int_equal(l2tpv3_layout(&h, &o, &err), 0);
	o.offset = 257;
	assert_int_equal(l2tpv3_layout(&h, &o, &err), -EINVAL);
	o.offset = 256;
	o.txsession = 1ULL << 32;
	assert_int_equal(l2tpv3_layout(&h, &o, &err), -EINVAL);
}

/* UDP, 64-bit cookie, counter, offset 8: data header, session, cookie, counter, 8 zeros. */
static void test_udp_header(void **state)
{
	struct netdev_l2tpv3_opts o = {
		.has_txsession = true, .txsession = 0x11223344, .udp = true,
		.cookie64 = true, .has_txcookie = true, .txcookie = 0x0102030405060708ULL,
		.has_rxcookie = true, .rxcookie = 0x1112131415161718ULL, .counter = true,
		.offset = 8,
	};
	static const uint8_t want[28] = { 0, 3, 0, 0, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6,
					  7, 8, 0, 0, 0, 1 };
	struct l2tpv3_hdr h;
	struct error err = { 0 };
	uint8_t hdr[64], d[64] = { 0 };

	assert_int_equal(l2tpv3_layout(&h, &o, &err), 0);
	assert_int_equal(h.len, 28);
	assert_int_equal(h.rx_session, 0x11223344); /* rxsession defaults to txsession */
	l2tpv3_form(&h, hdr);
	assert_memory_equal(hdr, want, sizeof(want));
	l2tpv3_form(&h, hdr);
	assert_int_equal(hdr[19], 2); /* the counter goes up */
	/* Received: the peer's cookie; the frame starts after the header. */
	memcpy(d, want, sizeof(want));
	memcpy(d + 8, (uint8_t[]){ 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 }, 8);
	assert_int_equal(l2tpv3_decap(&h, d, 28 + 14), 28);
	assert_int_equal(l2tpv3_decap(&h, d, 28 + 13), -EMSGSIZE);
	d[15] ^= 1;
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), -EACCES);
	d[15] ^= 1;
	d[7] ^= 1;
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), -ENOENT);
}

/* IP (raw IPv4), pinned counter, no cookie: the IP header comes first, of its own length. */
static void test_ip_header(void **state)
{
	struct netdev_l2tpv3_opts o = { .has_txsession = true, .txsession = 5,
					.has_rxsession = true, .rxsession = 6, .pincounter = true };
	struct l2tpv3_hdr h;
	struct error err = { 0 };
	uint8_t hdr[16], d[64] = { 0 };

	assert_int_equal(l2tpv3_layout(&h, &o, &err), 0);
	assert_int_equal(h.len, 8);
	l2tpv3_form(&h, hdr);
	assert_memory_equal(hdr, ((uint8_t[]){ 0, 0, 0, 5, 0, 0, 0, 0 }), 8);
	d[0] = 0x46; /* IPv4, a 24-byte header */
	d[24 + 3] = 6;
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), 24 + 8);
	d[0] = 0x66;
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), -EPROTO);
	d[0] = 0x44; /* a header length below the minimum */
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), -EPROTO);
	d[0] = 0x4f; /* 60 bytes of IP header: nothing left for the frame */
	assert_int_equal(l2tpv3_decap(&h, d, sizeof(d)), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_errors),
		cmocka_unit_test(test_udp_header),
		cmocka_unit_test(test_ip_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
