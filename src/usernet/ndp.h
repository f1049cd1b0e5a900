/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ndp.h - IPv6 neighbour discovery for the native user-mode engine (ndp.c): router
 * advertisements (the prefix for SLAAC, the MTU, the DNS server as RDNSS) in answer to a
 * guest's solicitation and unsolicited; neighbour advertisements for the engine's addresses
 * (the host, the DNS server, its link-local address). Pure: a parsed frame in, a frame out.
 */
#ifndef VWIRE_USERNET_NDP_H
#define VWIRE_USERNET_NDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "usernet/packet.h"

struct usernet_config;

/* Room an NDP frame needs at most. */
#define UNET_NDP_FRAME_MAX 256
/* Router lifetime, and valid and preferred lifetimes of the prefix, in seconds. */
#define UNET_NDP_ROUTER_LIFETIME 1800
#define UNET_NDP_PREFIX_VALID 86400
#define UNET_NDP_PREFIX_PREFERRED 14400

/**
 * unet_ndp_link_local() - the engine's link-local address: fe80:: and the EUI-64 of its MAC
 * @mac:	the engine's MAC
 * @ll:		filled
 */
void unet_ndp_link_local(const uint8_t mac[UNET_ETH_ALEN], struct in6_addr *ll);

/**
 * unet_ndp_answer() - the engine's answer to a guest's ICMPv6 NDP message
 * @cfg:	the network (@cfg->ipv6 set)
 * @mac:	the engine's MAC (source of every answer)
 * @f:		the guest's frame, parsed (IPv6, ICMPv6; the message body lies inside @f->avail
 *		or the frame is not answered)
 * @out:	UNET_NDP_FRAME_MAX bytes
 * @out_size:	room at @out
 *
 * A router solicitation (hop limit 255, code 0) gets a router advertisement from the
 * link-local address to the soliciting address (to ff02::1 when it is ::); a neighbour
 * solicitation (hop limit 255) for the host, the DNS server or the link-local address gets a
 * solicited neighbour advertisement with the router flag and the target's link-layer address;
 * a duplicate address detection probe (source ::) gets none. ICMPv6 checksums are set.
 *
 * Return: the answer's length, or 0 when there is none
 */
size_t unet_ndp_answer(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
		       const struct unet_frame *f, uint8_t *out, size_t out_size);

/**
 * unet_ndp_advertise() - an unsolicited router advertisement to ff02::1 (33:33:00:00:00:01)
 * @cfg:	the network
 * @mac:	the engine's MAC
 * @out:	UNET_NDP_FRAME_MAX bytes
 * @out_size:	room at @out
 *
 * The advertisement carries: M and O flags clear (SLAAC; O set when DHCPv6 is served: it
 * is, for DNS), router lifetime UNET_NDP_ROUTER_LIFETIME, source link-layer address, MTU
 * (@cfg->mtu), prefix information (@cfg->prefix6/@cfg->prefix6_len, on-link and autonomous)
 * and RDNSS (RFC 8106) naming @cfg->dns6.
 *
 * Return: its length, or 0 if @out_size is too small
 */
size_t unet_ndp_advertise(const struct usernet_config *cfg, const uint8_t mac[UNET_ETH_ALEN],
			  uint8_t *out, size_t out_size);

#endif
