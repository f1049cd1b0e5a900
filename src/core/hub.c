// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hub.c - hubs and learning switches, and the hubport net client.
 *
 * A packet a hub port receives from its peer is sent out of the hub's other ports (each
 * port then sends it to its own peer). A port can receive when any other port can send, so
 * a slow destination holds back the source instead of filling queues. A learning switch
 * remembers on which port each source MAC was seen (bounded table, entries age out) and
 * sends a frame with a known unicast destination only there; it never sends a frame back
 * out of the port it came in on. Frames with vnet headers cross the hub whole when every
 * other port's peer takes vnet headers (so GSO frames pass between two vnet_hdr taps).
 * A burst crosses whole: a hub hands it to every other port at once, a switch sorts it into
 * one sub-burst per destination port, and the room of the ports is asked once per burst.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub.h"
#include "core/mac-table.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define ETH_ALEN MAC_LEN
#define HUB_MAX_PORTS 256

struct hub;

struct hub_port {
	struct net_client nc;
	struct hub *hub;
	unsigned int index;
	struct hub_port *next;
};

/**
 * struct hub - a hub or switch
 * @id:		its number
 * @config:	its behaviour
 * @ports:	its ports
 * @num_ports:	ports created so far (names and indices grow)
 * @macs:	switch: MAC -> struct hub_port * (NULL for a hub)
 * @flushing:	hub_port_flush_others() is walking the ports
 */
struct hub {
	int id;
	struct hub_config config;
	struct hub_port *ports;
	unsigned int num_ports;
	struct mac_table *macs;
	bool flushing;
	struct hub *next;
};

static struct hub *hubs;

static struct hub *hub_find(int id)
{
	for (struct hub *h = hubs; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

int hub_next_id(int after)
{
	struct hub *h = after < 0 ? hubs : hub_find(after);

	if (h && after >= 0)
		h = h->next;
	return h ? h->id : -1;
}

/* MAC table of a learning switch: MAC -> the port it was seen on */

static bool hub_mac_on_port(void *opaque, struct mac_entry *e)
{
	return *(struct hub_port **)mac_entry_value(e) == opaque;
}

int hub_mac_count(int hubid)
{
	struct hub *hub = hub_find(hubid);

	return hub ? (int)(hub->macs ? mac_table_count(hub->macs) : 0) : -1;
}

static void hub_port_flush_others(struct net_client *port);

/* The hub port client */

/* The frame's Ethernet header, after the vnet header if there is one; false if too short. */
static bool hub_eth_addrs(const struct net_pkt *pkt, uint8_t *dst, uint8_t *src)
{
	uint8_t eth[2 * ETH_ALEN];
	size_t off = (pkt->flags & NET_FLAG_VNET_HDR) ? NET_VNET_HDR_LEN : 0;

	if (net_iov_peek(pkt->iov, pkt->iovcnt, off, eth, sizeof(eth)) != sizeof(eth))
		return false;
	memcpy(dst, eth, ETH_ALEN);
	memcpy(src, eth + ETH_ALEN, ETH_ALEN);
	return true;
}

/**
 * struct hub_switch_memo - what the previous packet of a burst looked up
 * @src:	its source MAC, learnt on the source port (valid when @have_src)
 * @dst:	its destination MAC (valid when @have_dst)
 * @out:	where @dst goes (NULL: flood)
 *
 * Packets of one burst mostly share both addresses: each is learnt and looked up once.
 */
struct hub_switch_memo {
	bool have_src;
	bool have_dst;
	uint8_t src[ETH_ALEN];
	uint8_t dst[ETH_ALEN];
	struct hub_port *out;
};

/* Where a switch sends @pkt: a port, NULL to flood, or @src itself to drop it. */
static struct hub_port *hub_switch_dest(struct hub *hub, struct hub_port *src,
					const struct net_pkt *pkt, int64_t now,
					struct hub_switch_memo *memo)
{
	uint8_t dst_mac[ETH_ALEN], src_mac[ETH_ALEN];
	struct mac_entry *e;

	if (!hub_eth_addrs(pkt, dst_mac, src_mac))
		return src; /* a runt: nothing to switch */
	if (!(src_mac[0] & 1) && !(memo->have_src && !memcmp(memo->src, src_mac, ETH_ALEN))) {
		/* A full table learns nothing: unknown destinations flood. */
		mac_table_learn(hub->macs, src_mac, &src, now);
		memcpy(memo->src, src_mac, ETH_ALEN);
		memo->have_src = true;
		memo->have_dst = false; /* learning may have moved the destination */
	}
	if (dst_mac[0] & 1)
		return NULL;
	if (memo->have_dst && !memcmp(memo->dst, dst_mac, ETH_ALEN))
		return memo->out;
	e = mac_table_lookup(hub->macs, dst_mac, now);
	memcpy(memo->dst, dst_mac, ETH_ALEN);
	memo->have_dst = true;
	memo->out = e ? *(struct hub_port **)mac_entry_value(e) : NULL;
	return memo->out;
}

/* Send the packets of @pkts whose destination is @port or everyone (NULL) out of @port. */
static void hub_send_sub_burst(struct hub_port *port, const struct net_pkt *pkts,
			       struct hub_port *const *dest, unsigned int n)
{
	struct net_pkt sub[NET_BURST_MAX];
	unsigned int m = 0;

	for (unsigned int i = 0; i < n; i++)
		if (dest[i] == port || !dest[i])
			sub[m++] = pkts[i];
	if (m)
		net_send_burst(&port->nc, sub, m, NULL);
}

/*
 * Send @pkts (at most NET_BURST_MAX) on from @src: a hub hands the whole burst to every other
 * port; a switch sorts it by destination into one sub-burst per port, floods in every one.
 * What a port's peer cannot take now waits in that peer's queue.
 */
static void hub_forward(struct hub_port *src, const struct net_pkt *pkts, unsigned int n)
{
	struct hub *hub = src->hub;
	struct hub_port *dest[NET_BURST_MAX];
	struct hub_switch_memo memo = { 0 };
	bool flood = false;
	int64_t now;

	if (!hub->config.learning) {
		for (struct hub_port *p = hub->ports; p; p = p->next)
			if (p != src)
				net_send_burst(&p->nc, pkts, n, NULL);
		return;
	}
	now = loop_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		dest[i] = hub_switch_dest(hub, src, &pkts[i], now, &memo);
		flood |= !dest[i];
	}
	if (flood) {
		for (struct hub_port *p = hub->ports; p; p = p->next)
			if (p != src)
				hub_send_sub_burst(p, pkts, dest, n);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned int j;

		if (dest[i] == src)
			continue;
		for (j = 0; j < i && dest[j] != dest[i]; j++)
			;
		if (j == i) /* the first packet for this port */
			hub_send_sub_burst(dest[i], pkts, dest, n);
	}
}

static ssize_t hub_port_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				    unsigned int flags)
{
	struct net_pkt pkt = { iov, iovcnt, flags, net_iov_size(iov, iovcnt) };

	hub_forward((struct hub_port *)nc, &pkt, 1);
	return (ssize_t)pkt.len;
}

/* As many packets as the roomiest other port takes: one slow port holds back no other. */
static unsigned int hub_port_rx_room(struct net_client *nc)
{
	struct hub_port *src = (struct hub_port *)nc;
	unsigned int room = 0;

	for (struct hub_port *p = src->hub->ports; p; p = p->next) {
		if (p != src) {
			unsigned int r = net_send_room(&p->nc);

			if (r > room)
				room = r;
		}
	}
	return room;
}

/* The peer of the other port of a two-port hub has room again: so may the source. */
static void hub_port_resume(struct net_client *port, ssize_t ret)
{
	(void)ret;
	hub_port_flush_others(port);
}

/*
 * A hub of two ports is a wire: the burst goes on whole, and what the other side did not take
 * stays with the source (the other side's refusal obliges it to flush, which retries us).
 * With more ports one slow port must not hold back the others: the hub takes the burst when
 * any port has room (none: the ports without room will flush) and each port's peer queues
 * what it cannot take now, as QEMU's hubs do.
 */
static unsigned int hub_port_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
					   unsigned int n)
{
	struct hub_port *src = (struct hub_port *)nc, *other = NULL;

	for (struct hub_port *p = src->hub->ports; p; p = p->next) {
		if (p == src)
			continue;
		if (other) {
			other = NULL;
			break;
		}
		other = p;
	}
	if (other && !src->hub->config.learning)
		return net_send_burst(&other->nc, pkts, n, hub_port_resume);
	if (!hub_port_rx_room(nc))
		return 0;
	hub_forward(src, pkts, n);
	return n;
}

static bool hub_port_can_receive(struct net_client *nc)
{
	struct hub_port *src = (struct hub_port *)nc;

	for (struct hub_port *p = src->hub->ports; p; p = p->next)
		if (p != src && net_can_send(&p->nc))
			return true;
	return false;
}

static bool hub_port_accepts_vnet_hdr(struct net_client *nc)
{
	struct hub_port *src = (struct hub_port *)nc;
	bool any = false;

	for (struct hub_port *p = src->hub->ports; p; p = p->next) {
		if (p == src)
			continue;
		if (!net_peer_accepts_vnet_hdr(&p->nc))
			return false;
		any = true;
	}
	return any;
}

static void hub_free(struct hub *hub)
{
	struct hub **pp;

	for (pp = &hubs; *pp; pp = &(*pp)->next) {
		if (*pp == hub) {
			*pp = hub->next;
			break;
		}
	}
	mac_table_free(hub->macs);
	free(hub);
}

static void hub_port_cleanup(struct net_client *nc)
{
	struct hub_port *port = (struct hub_port *)nc;
	struct hub *hub = port->hub;
	struct hub_port **pp;

	for (pp = &hub->ports; *pp; pp = &(*pp)->next) {
		if (*pp == port) {
			*pp = port->next;
			break;
		}
	}
	if (hub->macs)
		mac_table_forget(hub->macs, hub_mac_on_port, port);
	if (!hub->ports)
		hub_free(hub);
}

/*
 * @port's peer drained its queue (as QEMU's net_hub_flush()): a port receives only while
 * another port can send, so what arrived while that peer could not take it waits in the
 * other ports' incoming queues, and their senders wait for it.
 */
static void hub_port_flush_others(struct net_client *port)
{
	struct hub_port *dst = (struct hub_port *)port;
	struct hub *hub;

	hub = dst->hub;
	/* A delivery below may flush again (its receiver drained): one walk at a time. */
	if (hub->flushing)
		return;
	hub->flushing = true;
	for (struct hub_port *p = hub->ports; p; p = p->next)
		if (p != dst && net_queue_length(&p->nc) && hub_port_can_receive(&p->nc))
			net_flush_queued(&p->nc);
	hub->flushing = false;
}

static const struct net_client_ops hub_port_ops = {
	.type = "hubport",
	.size = sizeof(struct hub_port),
	.receive_iov = hub_port_receive_iov,
	.can_receive = hub_port_can_receive,
	.cleanup = hub_port_cleanup,
	.accepts_vnet_hdr = hub_port_accepts_vnet_hdr,
	.receive_burst = hub_port_receive_burst,
	.rx_room = hub_port_rx_room,
	.peer_flushed = hub_port_flush_others,
};

bool hub_port_hub_is_switch(const struct net_client *port)
{
	return port->ops == &hub_port_ops && ((const struct hub_port *)port)->hub->config.learning;
}

static struct hub *hub_new(int id, const struct hub_config *config)
{
	struct hub *hub = calloc(1, sizeof(*hub));

	if (!hub)
		return NULL;
	hub->id = id;
	if (config)
		hub->config = *config;
	if (hub->config.learning) {
		if (!hub->config.mac_table_size)
			hub->config.mac_table_size = HUB_MAC_TABLE_DEFAULT;
		if (!hub->config.ageing_ns)
			hub->config.ageing_ns = HUB_AGEING_DEFAULT_S * 1000000000LL;
		hub->macs = mac_table_new(hub->config.mac_table_size, hub->config.ageing_ns,
					  sizeof(struct hub_port *));
		if (!hub->macs) {
			free(hub);
			return NULL;
		}
	}
	hub->next = hubs;
	hubs = hub;
	return hub;
}

struct net_client *hub_port_new(struct loop *loop, int hubid, const char *name,
				struct net_client *peer, const struct hub_config *config)
{
	struct hub *hub = hub_find(hubid);
	bool created = false;
	struct hub_port *port, **pp;
	char defname[64];
	unsigned int nports = 0;

	if (hub && config && config->learning != hub->config.learning) {
		errno = EINVAL;
		return NULL;
	}
	if (hub) {
		for (struct hub_port *p = hub->ports; p; p = p->next)
			nports++;
		if (nports >= HUB_MAX_PORTS) {
			errno = ENOSPC;
			return NULL;
		}
	} else {
		hub = hub_new(hubid, config);
		if (!hub)
			return NULL;
		created = true;
	}
	if (!name) {
		snprintf(defname, sizeof(defname), "hub%dport%u", hubid, hub->num_ports);
		name = defname;
	}
	if (peer && peer->peer) {
		errno = EBUSY;
		goto err;
	}
	/* Peer only once the port is whole: the peer's peer_changed may call into it. */
	port = (struct hub_port *)net_client_new(&hub_port_ops, loop, NULL, "hubport", name);
	if (!port)
		goto err;
	port->hub = hub;
	port->index = hub->num_ports++;
	port->nc.hubid = hubid;
	port->nc.is_netdev = true;
	snprintf(port->nc.info_str, sizeof(port->nc.info_str), "index=%u,type=hubport%s",
		 port->index, hub->config.learning ? ",learning=on" : "");
	for (pp = &hub->ports; *pp; pp = &(*pp)->next)
		;
	*pp = port;
	if (peer)
		net_peer(&port->nc, peer);
	return &port->nc;
err:
	if (created)
		hub_free(hub);
	return NULL;
}

int net_init_hubport(const struct netdev_hubport_opts *o, const char *id, struct loop *loop,
		     struct error *err)
{
	struct hub_config config = {
		.learning = o->learning,
		.mac_table_size = (unsigned int)o->mac_table_size,
		.ageing_ns = (int64_t)o->ageing * 1000000000LL,
	};
	struct net_client *peer = NULL, *port;

	if (!o->has_hubid)
		return error_set(err, -EINVAL, "Parameter 'hubid' is missing");
	if (o->hubid > INT32_MAX)
		return error_set(err, -EINVAL, "hubid=%llu: out of range",
				 (unsigned long long)o->hubid);
	if (!o->learning && (o->mac_table_size || o->ageing))
		return error_set(err, -EINVAL,
				 "mac-table-size and ageing need learning=on");
	if (o->netdev) {
		peer = net_find(o->netdev);
		if (!peer)
			return error_set(err, -ENOENT, "netdev=%s: no such netdev", o->netdev);
		if (peer->peer)
			return error_set(err, -EBUSY, "netdev=%s: already in use", o->netdev);
	}
	port = hub_port_new(loop, (int)o->hubid, id, peer, o->has_learning ? &config : NULL);
	if (!port) {
		if (errno == EINVAL)
			return error_set(err, -EINVAL,
					 "learning=%s: hub %llu already exists as a %s",
					 o->learning ? "on" : "off", (unsigned long long)o->hubid,
					 o->learning ? "hub" : "learning switch");
		return error_set(err, -errno, "cannot add a port to hub %llu: %s",
				 (unsigned long long)o->hubid, strerror(errno));
	}
	return 0;
}
