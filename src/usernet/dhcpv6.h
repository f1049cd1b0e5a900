/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dhcpv6.h - stateless DHCPv6 (RFC 8415, as libslirp serves it) for the native user-mode
 * engine (dhcpv6.c): an INFORMATION-REQUEST from the guest gets a REPLY naming the DNS server
 * and the search list; addresses come from SLAAC (ndp.c), so other messages get no reply.
 */
#ifndef VWIRE_USERNET_DHCPV6_H
#define VWIRE_USERNET_DHCPV6_H

#include <stddef.h>
#include <stdint.h>

#include "usernet/packet.h"

struct usernet_config;

#define UNET_DHCPV6_SERVER_PORT 547
#define UNET_DHCPV6_CLIENT_PORT 546
/* Room a reply needs at most. */
#define UNET_DHCPV6_REPLY_MAX 1024

/**
 * unet_dhcpv6_answer() - the reply to a guest's DHCPv6 message (UDP to port 547)
 * @cfg:	the network (@cfg->ipv6 set)
 * @mac:	the engine's MAC (the reply's source; the server DUID is DUID-LL of it)
 * @f:		the guest's frame, parsed (the DHCPv6 message is its UDP payload, inside
 *		@f->avail or not answered)
 * @out:	UNET_DHCPV6_REPLY_MAX bytes: a whole Ethernet frame from the engine's
 *		link-local address, port 547, to the client's address and port 546, with the
 *		UDP checksum set
 * @out_size:	room at @out
 *
 * INFORMATION-REQUEST (11) gets REPLY (7) with the transaction id copied, the client's
 * identifier (option 1) echoed when present, the server identifier (option 2), DNS servers
 * (option 23: @cfg->dns6) and the domain search list (option 24, RFC 1035 names, from
 * @cfg->dnssearch) when there is one. Options are read with bounds checks; a malformed one
 * gets no reply.
 *
 * Return: the reply's length, or 0
 */
size_t unet_dhcpv6_answer(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  const struct unet_frame *f, uint8_t *out, size_t out_size);

#endif
