/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay.h - Ethernet over UDP to other hosts: the VXLAN (RFC 7348) and Geneve (RFC 8926)
 * back ends. overlay.c is the net client (sockets, forwarding table, flooding, learning);
 * vxlan.c and geneve.c each give it a struct overlay_proto: their 8-byte header out, and the
 * check of a datagram in (untrusted bytes from the underlay).
 */
#ifndef VWIRE_BACKENDS_OVERLAY_H
#define VWIRE_BACKENDS_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct loop;
struct netdev_overlay_opts;

/* Length of the VXLAN header and of Geneve's header without options. */
#define OVERLAY_HDR_LEN 8
/* An Ethernet header: the least a datagram must carry after its header. */
#define OVERLAY_ETH_HLEN 14
/* Largest VNI: 24 bits. */
#define OVERLAY_VNI_MAX 0xffffffu

/* Why a datagram from the underlay was dropped (overlay_proto.decap, and overlay.c's own). */
enum overlay_drop {
	OVERLAY_DROP_NONE,	/* not dropped */
	OVERLAY_DROP_SHORT,	/* shorter than the header and an Ethernet header */
	OVERLAY_DROP_FLAGS,	/* VXLAN: flags other than just I; Geneve: version or protocol */
	OVERLAY_DROP_OPTIONS,	/* Geneve: options past the end of the datagram */
	OVERLAY_DROP_CRITICAL,	/* Geneve: critical options (C bit) or OAM (O bit) */
	OVERLAY_DROP_VNI,	/* another VNI */
	OVERLAY_DROP_TRUNC,	/* over the largest frame */
	OVERLAY_DROP_COUNT
};

/**
 * struct overlay_decoded - what a valid datagram holds
 * @vni:	its VNI
 * @off:	offset of the Ethernet frame in the datagram
 */
struct overlay_decoded {
	uint32_t vni;
	size_t off;
};

/**
 * struct overlay_proto - one encapsulation
 * @type:	the -netdev type ("vxlan", "geneve")
 * @form:	write the header of every frame of @vni (OVERLAY_HDR_LEN bytes)
 * @decap:	check a datagram of @len bytes (untrusted): fill @out and return 0, or return
 *		why it is dropped (enum overlay_drop)
 */
struct overlay_proto {
	const char *type;
	void (*form)(uint32_t vni, uint8_t *hdr);
	int (*decap)(const uint8_t *d, size_t len, struct overlay_decoded *out);
};

extern const struct overlay_proto overlay_vxlan;
extern const struct overlay_proto overlay_geneve;

/**
 * overlay_net_new() - create a VXLAN or Geneve back end named @id (not peered)
 * @proto:	the encapsulation
 * @o:		its options
 * @id:		its name
 * @loop:	the event loop
 * @err:	the option and value that are wrong, or what failed
 *
 * Return: 0 or a negative errno; on failure nothing is left half-made
 */
int overlay_net_new(const struct overlay_proto *proto, const struct netdev_overlay_opts *o,
		    const char *id, struct loop *loop, struct error *err);

/**
 * overlay_flow_hash() - a hash of a frame's flow (MAC addresses, and for IPv4/IPv6 the
 *			 addresses, protocol and TCP/UDP ports), stable for the flow, so that
 *			 its datagrams leave from one UDP source port, as Linux picks them
 * @frame:	the first bytes of the frame (untrusted)
 * @len:	how many
 *
 * Return: the hash
 */
uint32_t overlay_flow_hash(const uint8_t *frame, size_t len);

/**
 * typedef overlay_fdb_fn - one forwarding-table entry
 * @opaque:	the caller's
 * @mac:	"52:54:00:12:34:56", or "00:00:00:00:00:00" for a flooding destination
 * @remote:	the remote host's address, printed
 * @is_static:	added by option or command, not learnt
 * @age_s:	seconds since it was last seen (learnt entries)
 */
typedef void overlay_fdb_fn(void *opaque, const char *mac, const char *remote, bool is_static,
			    uint64_t age_s);

/**
 * overlay_fdb_add() - add a static entry: @mac behind @remote; the zero MAC adds @remote to
 *		       the hosts that broadcast and unknown unicast go to (as Linux's
 *		       "bridge fdb append 00:00:00:00:00:00 dst ...")
 * @netdev:	the vxlan or geneve netdev's id
 * @mac:	the MAC address
 * @remote:	an address of the netdev's family
 * @err:	what is wrong
 *
 * Return: 0, -ENOENT (no such netdev), -EINVAL, -ENOSPC (the table is full)
 */
int overlay_fdb_add(const char *netdev, const char *mac, const char *remote, struct error *err);

/**
 * overlay_fdb_del() - remove @mac's entry (static or learnt); for the zero MAC, remove
 *		       @remote from the flooding list
 * @netdev:	the netdev's id
 * @mac:	the MAC address
 * @remote:	for the zero MAC: which remote (required); otherwise NULL or the entry's remote
 * @err:	what is wrong
 *
 * Return: 0, -ENOENT (no such netdev or entry), -EINVAL
 */
int overlay_fdb_del(const char *netdev, const char *mac, const char *remote, struct error *err);

/**
 * overlay_fdb_query() - every entry of a netdev's table: the flooding list first
 * @netdev:	the netdev's id
 * @fn:		called once per entry
 * @opaque:	for @fn
 * @err:	what is wrong
 *
 * Return: 0 or -ENOENT
 */
int overlay_fdb_query(const char *netdev, overlay_fdb_fn *fn, void *opaque, struct error *err);

#endif
