// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * geneve.c - -netdev geneve: the Geneve header (RFC 8926) for overlay.c, which does the rest.
 *
 * Out: version 0, no options, protocol 0x6558 (Ethernet), the 24-bit VNI. In: version 0 and
 * protocol 0x6558 only; options are walked TLV by TLV (class, type, length in 4-byte words)
 * and must end exactly where the header's option length says; none is understood, so a
 * packet with the C bit (a critical option) or the O bit (a control packet) is dropped, as
 * the RFC asks of a tunnel endpoint that does not process them.
 */
#include <arpa/inet.h>
#include <string.h>

#include "backends/overlay.h"
#include "core/netdev.h"

#define GENEVE_PROTO_ETH 0x6558
#define GENEVE_FLAG_O 0x80
#define GENEVE_FLAG_C 0x40
#define GENEVE_OPT_HDR 4

static void geneve_form(uint32_t vni, uint8_t *hdr)
{
	uint32_t w = htonl(vni << 8);

	hdr[0] = 0;	/* version 0, no options */
	hdr[1] = 0;	/* neither O nor C */
	hdr[2] = GENEVE_PROTO_ETH >> 8;
	hdr[3] = GENEVE_PROTO_ETH & 0xff;
	memcpy(hdr + 4, &w, 4);
}

static int geneve_decap(const uint8_t *d, size_t len, struct overlay_decoded *out)
{
	size_t opt_len, pos;
	uint32_t w;

	if (len < OVERLAY_HDR_LEN)
		return OVERLAY_DROP_SHORT;
	if ((d[0] >> 6) != 0 || ((d[2] << 8) | d[3]) != GENEVE_PROTO_ETH)
		return OVERLAY_DROP_FLAGS;
	opt_len = (size_t)(d[0] & 0x3f) * 4;
	if (opt_len > len - OVERLAY_HDR_LEN)
		return OVERLAY_DROP_OPTIONS;
	/* Each option: class (16), type (8), 3 reserved bits and its data length in words. */
	for (pos = OVERLAY_HDR_LEN; pos < OVERLAY_HDR_LEN + opt_len;) {
		if (OVERLAY_HDR_LEN + opt_len - pos < GENEVE_OPT_HDR)
			return OVERLAY_DROP_OPTIONS;
		pos += GENEVE_OPT_HDR + (size_t)(d[pos + 3] & 0x1f) * 4;
	}
	if (pos != OVERLAY_HDR_LEN + opt_len)
		return OVERLAY_DROP_OPTIONS;
	if (d[1] & (GENEVE_FLAG_O | GENEVE_FLAG_C))
		return OVERLAY_DROP_CRITICAL;
	if (len - pos < OVERLAY_ETH_HLEN)
		return OVERLAY_DROP_SHORT;
	memcpy(&w, d + 4, 4);
	out->vni = ntohl(w) >> 8;
	out->off = pos;
	return 0;
}

const struct overlay_proto overlay_geneve = {
	.type = "geneve",
	.form = geneve_form,
	.decap = geneve_decap,
};

int net_init_geneve(const struct netdev_overlay_opts *o, const char *id, struct loop *loop,
		    struct error *err)
{
	return overlay_net_new(&overlay_geneve, o, id, loop, err);
}
