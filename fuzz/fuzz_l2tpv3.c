// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_l2tpv3.c - libFuzzer harness for the check of L2TPv3 datagrams (-netdev l2tpv3): the
 * first byte picks the session's options (UDP, raw IPv4, cookies of 32 or 64 bits, counter,
 * offset), the rest is the datagram. A frame offset it returns must lie inside the datagram
 * and leave room for an Ethernet header; ASan catches any read outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/l2tpv3.h"
#include "core/netdev.h"
#include "vwire/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netdev_l2tpv3_opts o = { .has_txsession = true, .txsession = 0x11,
					.has_rxsession = true, .rxsession = 0x22 };
	struct l2tpv3_hdr h;
	struct error err = { 0 };
	uint8_t *d;
	long off;

	if (size < 1)
		return 0;
	o.udp = data[0] & 1;
	o.ipv6 = data[0] & 2;
	o.has_txcookie = o.has_rxcookie = data[0] & 4;
	o.cookie64 = data[0] & 8;
	o.rxcookie = 0x33;
	o.counter = data[0] & 16;
	o.pincounter = data[0] & 32;
	o.offset = (data[0] & 64) ? 8 : 0;
	if (l2tpv3_layout(&h, &o, &err) < 0)
		abort();
	/* A copy of exactly the datagram's size, so that ASan sees any read past its end. */
	d = malloc(size - 1 ? size - 1 : 1);
	memcpy(d, data + 1, size - 1);
	off = l2tpv3_decap(&h, d, size - 1);
	if (off >= 0 && (size_t)off + 14 > size - 1)
		abort();
	free(d);
	return 0;
}
