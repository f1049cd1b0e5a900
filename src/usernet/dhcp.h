/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dhcp.h - the DHCPv4 server of the native user-mode engine (dhcp.c), as QEMU's user mode
 * serves it: addresses from dhcp_start, one per client MAC, a day's lease; router and DNS
 * (left out with restrict=on), hostname, domain name, DNS search list (RFC 3397) and the MTU.
 * Pure: a parsed guest frame in, the reply frame out. Also the engine's one RFC 1035 name
 * encoder, unet_dns_encode(), which DHCPv6 (dhcpv6.c) shares.
 */
#ifndef VWIRE_USERNET_DHCP_H
#define VWIRE_USERNET_DHCP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usernet/packet.h"

struct usernet_config;

/* Clients served at once (libslirp's NB_BOOTP_CLIENTS). */
#define UNET_DHCP_LEASES 16
/* Lease time handed out, seconds. */
#define UNET_DHCP_LEASE_SECS 86400
/* Room a reply may need: Ethernet, IPv4, UDP, BOOTP and options. */
#define UNET_DHCP_REPLY_MAX 1024
#define UNET_DHCP_SERVER_PORT 67
#define UNET_DHCP_CLIENT_PORT 68

/* The longest RFC 1035 name, in bytes encoded (RFC 1035 3.1). */
#define UNET_DNS_NAME_MAX 255
/* A name of UNET_DNS_NAME_MAX bytes has at most this many labels (one-byte labels). */
#define UNET_DNS_LABELS_MAX (UNET_DNS_NAME_MAX / 2)

/**
 * struct unet_dhcp_lease - an address handed out
 * @mac:	the client's hardware address
 * @in_use:	this slot is taken
 */
struct unet_dhcp_lease {
	uint8_t mac[UNET_ETH_ALEN];
	bool in_use;
};

/**
 * struct unet_dhcp - the server's state: lease i is dhcp_start + i
 * @lease:	the leases
 */
struct unet_dhcp {
	struct unet_dhcp_lease lease[UNET_DHCP_LEASES];
};

/**
 * unet_dhcp_answer() - the server's reply to a DHCP message from the guest
 * @d:		the leases
 * @cfg:	the network
 * @f:		the guest's frame, parsed: UDP to port 67 (the BOOTP body is its payload, read
 *		with bounds checks; it lies inside @f->avail)
 * @out:	UNET_DHCP_REPLY_MAX bytes: the reply, a whole Ethernet frame from the host
 *		address to the client's MAC, IPv4 to 255.255.255.255, UDP 67 -> 68, checksums set
 * @out_size:	room at @out
 * @assigned:	set to the address given in an ACK (0 otherwise); may be NULL
 *
 * DISCOVER gets an OFFER, REQUEST an ACK, or a NAK when it asks for an address other than
 * the client's lease; RELEASE frees the lease and gets no reply; anything else (a BOOTREPLY,
 * a bad magic cookie, options running past the end, no lease left) gets none.
 *
 * Return: the reply's length, or 0
 */
size_t unet_dhcp_answer(struct unet_dhcp *d, const struct usernet_config *cfg,
			const struct unet_frame *f, uint8_t *out, size_t out_size,
			struct in_addr *assigned);

/**
 * unet_dns_encode() - encode a domain name in RFC 1035 form (uncompressed), noting where
 *		       each label starts so that a later name may point to it (RFC 1035 4.1.4)
 * @name:	dots between labels, one trailing dot allowed
 * @enc:	UNET_DNS_NAME_MAX bytes: the length-prefixed labels and the root's zero
 * @lab:	set to the offset in @enc of each label, in order; may be NULL
 * @nlab:	set to how many labels @lab holds (0 when the name does not encode); may be NULL
 *
 * Return: the encoded length, or 0 for a name that does not encode (empty, an empty label,
 * a label over 63 bytes, more than UNET_DNS_NAME_MAX bytes in all)
 */
size_t unet_dns_encode(const char *name, uint8_t enc[UNET_DNS_NAME_MAX],
		       size_t lab[UNET_DNS_LABELS_MAX], unsigned int *nlab);

#endif
