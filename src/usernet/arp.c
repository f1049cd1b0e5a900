// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * arp.c - ARP for the native user-mode engine. A guest's ARP frame, parsed by
 * unet_frame_parse(), has its 28-byte Ethernet/IPv4 body copied out once through packet.h's
 * bounds-checked unet_rd() (unet_arp_body()); requests for the host or DNS address get a
 * reply frame built here, and the engine's own requests (to find a guest's MAC) are built the
 * same way.
 */
#include <errno.h>
#include <string.h>

#include "usernet/arp.h"
#include "usernet/usernet.h"

/* RFC 826 fields of an Ethernet/IPv4 ARP body. */
#define ARP_HTYPE_ETHER 1
#define ARP_PTYPE_IPV4 UNET_ETHERTYPE_IPV4
#define ARP_HLEN_ETHER UNET_ETH_ALEN
#define ARP_PLEN_IPV4 4
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

#define ARP_OFF_HTYPE 0
#define ARP_OFF_PTYPE 2
#define ARP_OFF_HLEN 4
#define ARP_OFF_PLEN 5
#define ARP_OFF_OP 6
#define ARP_OFF_SHA 8
#define ARP_OFF_SPA (ARP_OFF_SHA + ARP_HLEN_ETHER)
#define ARP_OFF_THA (ARP_OFF_SPA + ARP_PLEN_IPV4)
#define ARP_OFF_TPA (ARP_OFF_THA + ARP_HLEN_ETHER)
#define ARP_BODY_LEN (ARP_OFF_TPA + ARP_PLEN_IPV4)

#define ETH_OFF_DST 0
#define ETH_OFF_SRC UNET_ETH_ALEN
#define ETH_OFF_TYPE (2 * UNET_ETH_ALEN)

/* libslirp's engine MACs: 52:55 then the address's four bytes. */
#define ARP_MAC_OUI0 0x52
#define ARP_MAC_OUI1 0x55

static const uint8_t unet_arp_broadcast[UNET_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/*
 * Copy the ARP body of @f into @body through a bounds check, and check that it is
 * Ethernet/IPv4; @op is set to its operation. Every later read is from the local copy.
 */
static bool unet_arp_body(const struct unet_frame *f, uint8_t body[ARP_BODY_LEN], uint16_t *op)
{
	const struct unet_bytes frame = { .p = f->data, .len = f->avail };
	const struct unet_bytes b = { .p = body, .len = ARP_BODY_LEN };
	uint16_t htype, ptype;

	if (f->ethertype != UNET_ETHERTYPE_ARP || !unet_rd(&frame, f->l3_off, body, ARP_BODY_LEN))
		return false;
	return unet_rd16(&b, ARP_OFF_HTYPE, &htype) && htype == ARP_HTYPE_ETHER &&
	       unet_rd16(&b, ARP_OFF_PTYPE, &ptype) && ptype == ARP_PTYPE_IPV4 &&
	       body[ARP_OFF_HLEN] == ARP_HLEN_ETHER && body[ARP_OFF_PLEN] == ARP_PLEN_IPV4 &&
	       unet_rd16(&b, ARP_OFF_OP, op);
}

/* Write a whole ARP frame, zero padded to UNET_ARP_FRAME_LEN. */
static size_t unet_arp_put_frame(uint8_t *out, const uint8_t *eth_dst, const uint8_t *eth_src,
				 uint16_t op, const uint8_t *sha, struct in_addr spa,
				 const uint8_t *tha, struct in_addr tpa)
{
	uint8_t *arp = out + UNET_ETH_HLEN;

	memset(out, 0, UNET_ARP_FRAME_LEN);
	memcpy(out + ETH_OFF_DST, eth_dst, UNET_ETH_ALEN);
	memcpy(out + ETH_OFF_SRC, eth_src, UNET_ETH_ALEN);
	unet_wr16(out + ETH_OFF_TYPE, UNET_ETHERTYPE_ARP);
	unet_wr16(arp + ARP_OFF_HTYPE, ARP_HTYPE_ETHER);
	unet_wr16(arp + ARP_OFF_PTYPE, ARP_PTYPE_IPV4);
	arp[ARP_OFF_HLEN] = ARP_HLEN_ETHER;
	arp[ARP_OFF_PLEN] = ARP_PLEN_IPV4;
	unet_wr16(arp + ARP_OFF_OP, op);
	memcpy(arp + ARP_OFF_SHA, sha, UNET_ETH_ALEN);
	memcpy(arp + ARP_OFF_SPA, &spa, ARP_PLEN_IPV4);
	memcpy(arp + ARP_OFF_THA, tha, UNET_ETH_ALEN);
	memcpy(arp + ARP_OFF_TPA, &tpa, ARP_PLEN_IPV4);
	return UNET_ARP_FRAME_LEN;
}

void unet_arp_mac(struct in_addr addr, uint8_t mac[UNET_ETH_ALEN])
{
	mac[0] = ARP_MAC_OUI0;
	mac[1] = ARP_MAC_OUI1;
	memcpy(mac + 2, &addr.s_addr, sizeof(addr.s_addr));
}

size_t unet_arp_answer(const struct usernet_config *cfg, const struct unet_frame *f, uint8_t *out,
		       size_t out_size, struct in_addr *sender_ip)
{
	uint8_t body[ARP_BODY_LEN], mac[UNET_ETH_ALEN];
	struct in_addr spa, tpa;
	uint16_t op;

	if (sender_ip)
		sender_ip->s_addr = 0;
	if (!unet_arp_body(f, body, &op) || op != ARP_OP_REQUEST)
		return 0;
	memcpy(&spa, body + ARP_OFF_SPA, ARP_PLEN_IPV4);
	memcpy(&tpa, body + ARP_OFF_TPA, ARP_PLEN_IPV4);
	/* Any well-formed request tells who the guest is, even one not for us. */
	if (sender_ip)
		*sender_ip = spa;
	if (tpa.s_addr != cfg->host.s_addr && tpa.s_addr != cfg->dns.s_addr)
		return 0;
	if (out_size < UNET_ARP_FRAME_LEN)
		return 0;
	unet_arp_mac(tpa, mac);
	/* Back to the frame's Ethernet source, as libslirp does; tha is the request's sha. */
	return unet_arp_put_frame(out, f->src_mac, mac, ARP_OP_REPLY, mac, tpa, body + ARP_OFF_SHA,
				  spa);
}

size_t unet_arp_request(const struct usernet_config *cfg, struct in_addr target, uint8_t *out,
			size_t out_size)
{
	static const uint8_t unknown[UNET_ETH_ALEN];
	uint8_t mac[UNET_ETH_ALEN];

	if (out_size < UNET_ARP_FRAME_LEN)
		return 0;
	unet_arp_mac(cfg->host, mac);
	return unet_arp_put_frame(out, unet_arp_broadcast, mac, ARP_OP_REQUEST, mac, cfg->host,
				  unknown, target);
}

int unet_arp_sender(const struct unet_frame *f, struct in_addr *ip, uint8_t mac[UNET_ETH_ALEN])
{
	uint8_t body[ARP_BODY_LEN];
	uint16_t op;

	if (!unet_arp_body(f, body, &op))
		return -EINVAL;
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
		return -EINVAL;
	memcpy(ip, body + ARP_OFF_SPA, ARP_PLEN_IPV4);
	memcpy(mac, body + ARP_OFF_SHA, UNET_ETH_ALEN);
	return 0;
}
