// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vxlan.c - -netdev vxlan: the VXLAN header (RFC 7348) for overlay.c, which does the rest.
 *
 * Out: flags 0x08 (I: the VNI is valid), 24 reserved bits, the 24-bit VNI, 8 reserved bits,
 * then the Ethernet frame. In: as Linux's vxlan device without extensions, a header with any
 * other flag or a reserved bit set is dropped (the RFC says to ignore them; Linux and Open
 * vSwitch use them for GBP and GPE, whose frames are not plain Ethernet).
 */
#include <arpa/inet.h>
#include <string.h>

#include "backends/overlay.h"
#include "core/netdev.h"

#define VXLAN_FLAG_I 0x08000000u

static void vxlan_form(uint32_t vni, uint8_t *hdr)
{
	uint32_t w[2] = { htonl(VXLAN_FLAG_I), htonl(vni << 8) };

	memcpy(hdr, w, sizeof(w));
}

static int vxlan_decap(const uint8_t *d, size_t len, struct overlay_decoded *out)
{
	uint32_t w[2];

	if (len < OVERLAY_HDR_LEN + OVERLAY_ETH_HLEN)
		return OVERLAY_DROP_SHORT;
	memcpy(w, d, sizeof(w));
	if (ntohl(w[0]) != VXLAN_FLAG_I || (ntohl(w[1]) & 0xff))
		return OVERLAY_DROP_FLAGS;
	out->vni = ntohl(w[1]) >> 8;
	out->off = OVERLAY_HDR_LEN;
	return 0;
}

const struct overlay_proto overlay_vxlan = {
	.type = "vxlan",
	.form = vxlan_form,
	.decap = vxlan_decap,
};

int net_init_vxlan(const struct netdev_overlay_opts *o, const char *id, struct loop *loop,
		   struct error *err)
{
	return overlay_net_new(&overlay_vxlan, o, id, loop, err);
}
