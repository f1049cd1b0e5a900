/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * arp.h - ARP for the native user-mode engine (arp.c): the engine's addresses (the host and
 * the DNS server) answer a guest's requests with a MAC made of 52:55 and the address, as
 * libslirp's do; and the engine asks for the guest's MAC when it has to reach a guest it has
 * not heard from yet. Pure functions: a parsed frame in, a frame to send out.
 */
#ifndef VWIRE_USERNET_ARP_H
#define VWIRE_USERNET_ARP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "usernet/packet.h"

struct usernet_config;

/* An ARP frame padded to Ethernet's 60-byte minimum. */
#define UNET_ARP_FRAME_LEN 60

/**
 * unet_arp_mac() - the engine's MAC for one of its addresses: 52:55:a.b.c.d
 * @addr:	the address
 * @mac:	filled
 */
void unet_arp_mac(struct in_addr addr, uint8_t mac[UNET_ETH_ALEN]);

/**
 * unet_arp_answer() - the reply to a guest's ARP request for the host or DNS address
 * @cfg:	the network
 * @f:		the guest's frame, parsed (ethertype ARP; the ARP body is read through
 *		@f->data with bounds checks)
 * @out:	at least UNET_ARP_FRAME_LEN bytes
 * @out_size:	room at @out
 * @sender_ip:	set to the request's sender address (0 for a probe), so the engine may learn
 *		the guest's MAC and address; may be NULL
 *
 * Only Ethernet/IPv4 requests (htype 1, ptype 0x0800, hlen 6, plen 4, op 1) for @cfg->host or
 * @cfg->dns are answered; replies and requests for other addresses are not.
 *
 * Return: the reply's length (UNET_ARP_FRAME_LEN), or 0 when there is nothing to answer
 */
size_t unet_arp_answer(const struct usernet_config *cfg, const struct unet_frame *f, uint8_t *out,
		       size_t out_size, struct in_addr *sender_ip);

/**
 * unet_arp_request() - a broadcast request from the host address for @target's MAC
 * @cfg:	the network
 * @target:	the address asked about
 * @out:	at least UNET_ARP_FRAME_LEN bytes
 * @out_size:	room at @out
 *
 * Return: the request's length (UNET_ARP_FRAME_LEN), or 0 if @out_size is too small
 */
size_t unet_arp_request(const struct usernet_config *cfg, struct in_addr target, uint8_t *out,
			size_t out_size);

/**
 * unet_arp_sender() - the sender of an ARP reply or request (to learn a guest's MAC)
 * @f:		the frame, parsed (ethertype ARP)
 * @ip:		set to the sender's protocol address
 * @mac:	set to the sender's hardware address
 *
 * Return: 0, or -EINVAL for a malformed or non-Ethernet/IPv4 ARP body
 */
int unet_arp_sender(const struct unet_frame *f, struct in_addr *ip, uint8_t mac[UNET_ETH_ALEN]);

#endif
