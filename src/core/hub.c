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
 *
 * Ports may live on several event loops (devices on iothreads). A hub then has one part
 * (struct hub_shard) per loop, each forwarding only between its own ports on its own thread,
 * and every two parts are joined by a link (hub-link.c) whose two ends sit behind a port of
 * each: a frame for the far part goes out of the local link port and comes in at the far
 * one. A frame that came in by a link never goes out by another (each part reaches every
 * other directly), and a switch's part learns the MACs of far ports as behind the link.
 * Parts and links are made on the main thread while no loop runs (at start, or under
 * iothread_pause_all()), and last while the hub has ports.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hub.h"
#include "core/hub-link.h"
#include "core/mac-table.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define ETH_ALEN MAC_LEN
#define HUB_MAX_PORTS 256

struct hub;
struct hub_shard;

/**
 * struct hub_port - a port: the hubport client
 * @nc:		the client
 * @shard:	the part of the hub on the port's loop
 * @index:	its number in the hub
 * @link:	it leads to another part of the hub (its peer is a link end)
 * @next:	the next port of the part
 */
struct hub_port {
	struct net_client nc;
	struct hub_shard *shard;
	unsigned int index;
	bool link;
	struct hub_port *next;
};

/**
 * struct hub_shard - the ports of a hub on one loop, and what forwarding between them needs
 * @hub:	the hub
 * @loop:	the loop
 * @ports:	its ports, link ports included, oldest first
 * @macs:	a switch's MAC table: MAC -> struct hub_port * (NULL for a plain hub)
 * @flushing:	hub_port_flush_others() is walking the ports
 * @next:	the next part of the hub
 */
struct hub_shard {
	struct hub *hub;
	struct loop *loop;
	struct hub_port *ports;
	struct mac_table *macs;
	bool flushing;
	struct hub_shard *next;
};

/**
 * struct hub - a hub or switch
 * @id:		its number
 * @config:	its behaviour
 * @num_ports:	ports created so far (names and indices grow)
 * @num_links:	links made so far (names them)
 * @shards:	its parts, one per loop with ports
 * @next:	the next hub
 */
struct hub {
	int id;
	struct hub_config config;
	unsigned int num_ports;
	unsigned int num_links;
	struct hub_shard *shards;
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
	int n = 0;

	if (!hub)
		return -1;
	for (struct hub_shard *sh = hub->shards; sh; sh = sh->next)
		n += sh->macs ? (int)mac_table_count(sh->macs) : 0;
	return n;
}

/* Whether the hub forwards what @src received out of @p: never back, never link to link. */
static bool hub_port_forwards_to(const struct hub_port *src, const struct hub_port *p)
{
	return p != src && !(src->link && p->link);
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
static struct hub_port *hub_switch_dest(struct hub_shard *shard, struct hub_port *src,
					const struct net_pkt *pkt, int64_t now,
					struct hub_switch_memo *memo)
{
	uint8_t dst_mac[ETH_ALEN], src_mac[ETH_ALEN];
	struct mac_entry *e;

	if (!hub_eth_addrs(pkt, dst_mac, src_mac))
		return src; /* a runt: nothing to switch */
	if (!(src_mac[0] & 1) && !(memo->have_src && !memcmp(memo->src, src_mac, ETH_ALEN))) {
		/* A full table learns nothing: unknown destinations flood. */
		mac_table_learn(shard->macs, src_mac, &src, now);
		memcpy(memo->src, src_mac, ETH_ALEN);
		memo->have_src = true;
		memo->have_dst = false; /* learning may have moved the destination */
	}
	if (dst_mac[0] & 1)
		return NULL;
	if (memo->have_dst && !memcmp(memo->dst, dst_mac, ETH_ALEN))
		return memo->out;
	e = mac_table_lookup(shard->macs, dst_mac, now);
	memcpy(memo->dst, dst_mac, ETH_ALEN);
	memo->have_dst = true;
	memo->out = e ? *(struct hub_port **)mac_entry_value(e) : NULL;
	/* Learnt behind another link: the far part is reached from its own side only. */
	if (memo->out && src->link && memo->out->link)
		memo->out = src;
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
	struct hub_shard *shard = src->shard;
	struct hub_port *dest[NET_BURST_MAX];
	struct hub_switch_memo memo = { 0 };
	bool flood = false;
	int64_t now;

	if (!shard->hub->config.learning) {
		for (struct hub_port *p = shard->ports; p; p = p->next)
			if (hub_port_forwards_to(src, p))
				net_send_burst(&p->nc, pkts, n, NULL);
		return;
	}
	now = loop_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		dest[i] = hub_switch_dest(shard, src, &pkts[i], now, &memo);
		flood |= !dest[i];
	}
	if (flood) {
		for (struct hub_port *p = shard->ports; p; p = p->next)
			if (hub_port_forwards_to(src, p))
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

	for (struct hub_port *p = src->shard->ports; p; p = p->next) {
		if (hub_port_forwards_to(src, p)) {
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

	for (struct hub_port *p = src->shard->ports; p; p = p->next) {
		if (!hub_port_forwards_to(src, p))
			continue;
		if (other) {
			other = NULL;
			break;
		}
		other = p;
	}
	if (other && !src->shard->hub->config.learning)
		return net_send_burst(&other->nc, pkts, n, hub_port_resume);
	if (!hub_port_rx_room(nc))
		return 0;
	hub_forward(src, pkts, n);
	return n;
}

static bool hub_port_can_receive(struct net_client *nc)
{
	struct hub_port *src = (struct hub_port *)nc;

	for (struct hub_port *p = src->shard->ports; p; p = p->next)
		if (hub_port_forwards_to(src, p) && net_can_send(&p->nc))
			return true;
	return false;
}

static bool hub_port_accepts_vnet_hdr(struct net_client *nc)
{
	struct hub_port *src = (struct hub_port *)nc;
	bool any = false;

	for (struct hub_port *p = src->shard->ports; p; p = p->next) {
		if (!hub_port_forwards_to(src, p))
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
	free(hub);
}

static void hub_shard_free(struct hub_shard *shard)
{
	struct hub *hub = shard->hub;
	struct hub_shard **pp;

	for (pp = &hub->shards; *pp; pp = &(*pp)->next) {
		if (*pp == shard) {
			*pp = shard->next;
			break;
		}
	}
	mac_table_free(shard->macs);
	free(shard);
	if (!hub->shards)
		hub_free(hub);
}

static void hub_port_cleanup(struct net_client *nc)
{
	struct hub_port *port = (struct hub_port *)nc;
	struct hub_shard *shard = port->shard;
	struct hub_port **pp;

	if (!shard)
		return; /* freed before it joined a part */
	for (pp = &shard->ports; *pp; pp = &(*pp)->next) {
		if (*pp == port) {
			*pp = port->next;
			break;
		}
	}
	if (shard->macs)
		mac_table_forget(shard->macs, hub_mac_on_port, port);
	if (!shard->ports)
		hub_shard_free(shard);
}

/*
 * @port's peer drained its queue (as QEMU's net_hub_flush()): a port receives only while
 * another port can send, so what arrived while that peer could not take it waits in the
 * other ports' incoming queues, and their senders wait for it.
 */
static void hub_port_flush_others(struct net_client *port)
{
	struct hub_port *dst = (struct hub_port *)port;
	struct hub_shard *shard = dst->shard;

	/* A delivery below may flush again (its receiver drained): one walk at a time. */
	if (shard->flushing)
		return;
	shard->flushing = true;
	for (struct hub_port *p = shard->ports; p; p = p->next)
		if (p != dst && net_queue_length(&p->nc) && hub_port_can_receive(&p->nc))
			net_flush_queued(&p->nc);
	shard->flushing = false;
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
	return port->ops == &hub_port_ops &&
	       ((const struct hub_port *)port)->shard->hub->config.learning;
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
	}
	hub->next = hubs;
	hubs = hub;
	return hub;
}

static struct hub_shard *hub_shard_new(struct hub *hub, struct loop *loop)
{
	struct hub_shard *shard = calloc(1, sizeof(*shard)), **pp;

	if (!shard)
		return NULL;
	shard->hub = hub;
	shard->loop = loop;
	if (hub->config.learning) {
		shard->macs = mac_table_new(hub->config.mac_table_size, hub->config.ageing_ns,
					    sizeof(struct hub_port *));
		if (!shard->macs) {
			free(shard);
			return NULL;
		}
	}
	for (pp = &hub->shards; *pp; pp = &(*pp)->next)
		;
	*pp = shard;
	return shard;
}

static struct hub_shard *hub_shard_find(struct hub *hub, struct loop *loop)
{
	for (struct hub_shard *sh = hub->shards; sh; sh = sh->next)
		if (sh->loop == loop)
			return sh;
	return NULL;
}

/* A new port of @shard, the last of its ports; a link port if @link. */
static struct hub_port *hub_port_add(struct hub_shard *shard, const char *name, bool link)
{
	struct hub *hub = shard->hub;
	struct hub_port *port, **pp;

	port = (struct hub_port *)net_client_new(&hub_port_ops, shard->loop, NULL, "hubport",
						 name);
	if (!port)
		return NULL;
	port->shard = shard;
	port->link = link;
	port->index = link ? 0 : hub->num_ports++;
	port->nc.hubid = hub->id;
	port->nc.is_netdev = true;
	port->nc.internal = link;
	if (link)
		snprintf(port->nc.info_str, sizeof(port->nc.info_str), "type=hubport,link%s",
			 hub->config.learning ? ",learning=on" : "");
	else
		snprintf(port->nc.info_str, sizeof(port->nc.info_str), "index=%u,type=hubport%s",
			 port->index, hub->config.learning ? ",learning=on" : "");
	for (pp = &shard->ports; *pp; pp = &(*pp)->next)
		;
	*pp = port;
	return port;
}

/* Join @shard (new) to each other part of its hub by a link: a link port on each side. */
static int hub_shard_link(struct hub_shard *shard)
{
	struct hub *hub = shard->hub;

	for (struct hub_shard *other = hub->shards; other; other = other->next) {
		struct net_client *end_a, *end_b;
		struct hub_port *pa, *pb;
		char name[64], pname[80];
		int ret;

		if (other == shard)
			continue;
		snprintf(name, sizeof(name), "hub%d-link%u", hub->id, hub->num_links++);
		ret = hub_link_new(other->loop, shard->loop, name, &end_a, &end_b);
		if (ret < 0)
			return ret;
		snprintf(pname, sizeof(pname), "%s-port.a", name);
		pa = hub_port_add(other, pname, true);
		snprintf(pname, sizeof(pname), "%s-port.b", name);
		pb = pa ? hub_port_add(shard, pname, true) : NULL;
		if (!pb) {
			ret = -errno;
			net_client_free(end_a);
			net_client_free(end_b);
			if (pa)
				net_client_free(&pa->nc);
			return ret;
		}
		net_peer(&pa->nc, end_a);
		net_peer(&pb->nc, end_b);
	}
	return 0;
}

struct net_client *hub_port_new(struct loop *loop, int hubid, const char *name,
				struct net_client *peer, const struct hub_config *config)
{
	struct hub *hub = hub_find(hubid);
	struct hub_shard *shard = NULL;
	struct hub_port *port;
	char defname[64];
	unsigned int nports = 0;
	int ret;

	if (hub && config && config->learning != hub->config.learning) {
		errno = EINVAL;
		return NULL;
	}
	errno = -net_peer_check(peer, loop);
	if (errno)
		return NULL;
	if (hub) {
		for (struct hub_shard *sh = hub->shards; sh; sh = sh->next)
			for (struct hub_port *p = sh->ports; p; p = p->next)
				nports += !p->link;
		if (nports >= HUB_MAX_PORTS) {
			errno = ENOSPC;
			return NULL;
		}
		shard = hub_shard_find(hub, loop);
	} else {
		hub = hub_new(hubid, config);
		if (!hub)
			return NULL;
	}
	if (!shard) {
		shard = hub_shard_new(hub, loop);
		if (!shard)
			goto err;
		ret = hub_shard_link(shard);
		if (ret < 0) {
			errno = -ret;
			goto err;
		}
	}
	if (!name) {
		snprintf(defname, sizeof(defname), "hub%dport%u", hubid, hub->num_ports);
		name = defname;
	}
	/* Peer only once the port is whole: the peer's peer_changed may call into it. */
	port = hub_port_add(shard, name, false);
	if (!port)
		goto err;
	if (peer)
		net_peer(&port->nc, peer);
	return &port->nc;
err:
	ret = errno;
	/* A part or hub made here for the port goes again; links it got stay (a failed malloc). */
	if (shard && !shard->ports)
		hub_shard_free(shard);
	else if (!hub->shards)
		hub_free(hub);
	errno = ret;
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
		/* A port lives on the loop of its peer: a thread's clients stay on it. */
		loop = peer->loop;
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
