/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * l2tpv3.h - the L2TPv3 header of -netdev l2tpv3: its layout from the options, the header
 * of a frame going out, and the check of a datagram coming in (untrusted bytes).
 */
#ifndef VWIRE_BACKENDS_L2TPV3_H
#define VWIRE_BACKENDS_L2TPV3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct netdev_l2tpv3_opts;

/**
 * struct l2tpv3_hdr - one session's header
 * @udp:		UDP encapsulation: a 4-byte data header first
 * @ipv4_raw:		a raw IPv4 socket: datagrams in begin with the IP header
 * @cookie:		a cookie follows the session id
 * @cookie64:		of 64 bits (else 32)
 * @counter:		a 32-bit counter follows
 * @pin_counter:	it is always 0
 * @tx_session:		session id sent
 * @rx_session:		session id expected
 * @tx_cookie:		cookie sent
 * @rx_cookie:		cookie expected
 * @tx_counter:		the last counter sent
 * @session_off:	offsets of the fields in the header
 * @cookie_off:		...
 * @counter_off:	...
 * @len:		the header's length, the extra offset included
 */
struct l2tpv3_hdr {
	bool udp;
	bool ipv4_raw;
	bool cookie;
	bool cookie64;
	bool counter;
	bool pin_counter;
	uint32_t tx_session;
	uint32_t rx_session;
	uint64_t tx_cookie;
	uint64_t rx_cookie;
	uint32_t tx_counter;
	size_t session_off;
	size_t cookie_off;
	size_t counter_off;
	size_t len;
};

/**
 * l2tpv3_layout() - the header the options describe
 * @h:		filled
 * @o:		the -netdev l2tpv3 options
 * @err:	why they do not make one
 *
 * Return: 0 or -EINVAL
 */
int l2tpv3_layout(struct l2tpv3_hdr *h, const struct netdev_l2tpv3_opts *o, struct error *err);

/**
 * l2tpv3_form() - the header of the next frame (the counter goes up)
 * @h:		the session
 * @hdr:	@h->len bytes
 */
void l2tpv3_form(struct l2tpv3_hdr *h, uint8_t *hdr);

/**
 * l2tpv3_decap() - check a datagram received on the session's socket
 * @h:		the session
 * @d:		the datagram (untrusted)
 * @len:	its length
 *
 * Return: the offset of the Ethernet frame in @d, or -EPROTO (not an IPv4 packet on a raw
 * socket), -EMSGSIZE (too short for the header and an Ethernet header), -EACCES (wrong
 * cookie), -ENOENT (wrong session).
 */
long l2tpv3_decap(const struct l2tpv3_hdr *h, const uint8_t *d, size_t len);

#endif
