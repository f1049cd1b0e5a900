/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net.h - net clients, peering and the send path.
 *
 * Every endpoint (a front end such as virtio-net, a back end such as tap, a hub port) is a
 * net client: an ops table plus the state below. Clients are peered one to one. A sender
 * calls net_send_iov(); the packet is delivered to the peer's receive_iov at once when the
 * peer can receive, otherwise it waits in the peer's incoming queue and the sender gets 0:
 * it stops producing until its sent_cb fires, after the receiver called net_flush_queued().
 *
 * Packets also travel in bursts: net_send_burst() hands the peer's receive_burst a run of
 * struct net_pkt, and the peer takes a prefix. A sender that owns its packets (a guest's
 * chains) keeps what was not taken and is called back when the peer has room again; for any
 * other sender the rest is copied into the peer's queue. net_send_room() says how many the
 * peer takes now, asked once per burst instead of can_receive per packet.
 */
#ifndef VWIRE_NET_H
#define VWIRE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

struct loop;
struct net_client;
struct net_queue;
struct net_filter;

/* The packet is raw: it bypasses vnet headers (for example a gratuitous ARP from the device). */
#define NET_FLAG_RAW (1u << 0)
/* The packet begins with a struct virtio_net_hdr_v1 (NET_VNET_HDR_LEN bytes). Only sent to a
 * peer whose net_accepts_vnet_hdr() is true. */
#define NET_FLAG_VNET_HDR (1u << 1)

/* Size of the virtio_net_hdr_v1 carried with NET_FLAG_VNET_HDR packets. */
#define NET_VNET_HDR_LEN 12

/* Largest packet the core carries: a 64 KiB GSO frame, its Ethernet header and vnet header. */
#define NET_MAX_PACKET (65536 + 14 + 4 + NET_VNET_HDR_LEN)

/* Default bound of a client's incoming queue, in packets. */
#define NET_QUEUE_DEFAULT_LEN 256

/* Most packets in one burst: what a receive_burst is ever handed at once. */
#define NET_BURST_MAX 64

/* net_send_room() of a peer that limits nothing (or drops everything). */
#define NET_ROOM_UNLIMITED UINT32_MAX

/**
 * struct net_pkt - one packet of a burst; the sender fills it once
 * @iov:	its pieces (the sender's memory, valid during the call)
 * @iovcnt:	how many
 * @flags:	NET_FLAG_*
 * @len:	total bytes of @iov
 */
struct net_pkt {
	const struct iovec *iov;
	int iovcnt;
	unsigned int flags;
	size_t len;
};

/**
 * typedef net_sent_cb - completion of a packet that was queued
 * @sender:	the client that sent it
 * @ret:	bytes delivered, or 0/negative if it was dropped (purged or link down)
 */
typedef void net_sent_cb(struct net_client *sender, ssize_t ret);

/**
 * typedef net_counter_fn - one of a client's own counters (net_client_ops.counters)
 * @opaque:	the caller's
 * @name:	its name, e.g. "rx-bad-vni"
 * @value:	its value
 */
typedef void net_counter_fn(void *opaque, const char *name, uint64_t value);

/**
 * struct net_client_ops - what a kind of client does
 * @type:		kind, as in -netdev TYPE (also the default model name)
 * @size:		size of the client's state struct (struct net_client is its first member)
 * @receive_iov:	take a packet; return its length when consumed (or deliberately dropped),
 *			0 when it cannot take it now (it is queued, and the receiver calls
 *			net_flush_queued() later), negative errno on error (dropped)
 * @can_receive:	whether receive_iov would accept a packet now (NULL: always)
 * @cleanup:		release the client's resources (fds, handlers); not the struct itself
 * @link_status_changed: nc->link_down changed
 * @accepts_vnet_hdr:	whether packets with NET_FLAG_VNET_HDR may be sent to this client
 * @peer_changed:	nc->peer was set or cleared
 * @rx_lend:		optional zero-copy receive: lend buffers with room for a frame of up to
 *			@max_len bytes (NET_VNET_HDR_LEN of vnet header included) as at most
 *			@max_iov iovecs, so that a sender reading from an fd can readv straight
 *			into them; with NET_FLAG_VNET_HDR in @flags the sender writes the header
 *			itself, otherwise the receiver does and the iovecs start after it.
 *			Return the iovec count, or 0 when it cannot lend now (the sender then
 *			uses the ordinary path). Every successful lend is followed by one rx_commit.
 * @rx_commit:		@len bytes were written into the lent buffers (0: none, take them back)
 * @receive_burst:	optional: take packets @pkts[0 .. @n) in order (@n <= NET_BURST_MAX);
 *			return how many were taken (consumed, or dropped after
 *			net_rx_dropped()). Fewer than @n means "no more now", as receive_iov
 *			returning 0: the rest is held and the receiver calls net_flush_queued()
 *			when it can take more. Without it the core calls receive_iov per packet.
 * @rx_room:		optional: how many packets receive_burst would take now, at least
 *			(0: none; the receiver then calls net_flush_queued() once it has room);
 *			without it, can_receive decides between 0 and NET_ROOM_UNLIMITED
 * @peer_flushed:	optional: the peer drained its incoming queue in net_flush_queued() and
 *			may take packets again (a hub retries what its other ports hold back)
 * @counters:		optional: report the client's own counters (beyond struct net_stats),
 *			each once through @add, for query-netdevs
 */
struct net_client_ops {
	const char *type;
	size_t size;
	ssize_t (*receive_iov)(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags);
	bool (*can_receive)(struct net_client *nc);
	void (*cleanup)(struct net_client *nc);
	void (*link_status_changed)(struct net_client *nc);
	bool (*accepts_vnet_hdr)(struct net_client *nc);
	void (*peer_changed)(struct net_client *nc);
	int (*rx_lend)(struct net_client *nc, struct iovec *iov, int max_iov, size_t max_len,
		       unsigned int flags);
	void (*rx_commit)(struct net_client *nc, size_t len, unsigned int flags);
	unsigned int (*receive_burst)(struct net_client *nc, const struct net_pkt *pkts,
				      unsigned int n);
	unsigned int (*rx_room)(struct net_client *nc);
	void (*peer_flushed)(struct net_client *nc);
	void (*counters)(struct net_client *nc, net_counter_fn *add, void *opaque);
};

/**
 * struct net_stats - per-client counters
 * @rx_packets:	packets this client received from its peer
 * @rx_bytes:	bytes of those
 * @tx_packets:	packets this client sent (delivered or queued at its peer)
 * @tx_bytes:	bytes of those
 * @rx_dropped:	packets for this client dropped (queue full, link down, receive error)
 * @tx_dropped:	packets from this client dropped (no peer, link down)
 */
struct net_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t rx_dropped;
	uint64_t tx_dropped;
};

/**
 * struct net_client - state every client shares; embedded first in the client's own struct
 * @ops:		the client's ops table
 * @loop:		the event loop it runs on
 * @name:		unique name (the -netdev id, or model.N)
 * @model:		kind, e.g. "tap"
 * @info_str:		one-line description for 'info network'
 * @peer:		the client packets go to, or NULL
 * @incoming_queue:	packets waiting for this client to be able to receive
 * @link_down:		link is down: everything sent to or from it is dropped silently
 * @receive_disabled:	receive_iov returned 0: deliver nothing until net_flush_queued()
 * @is_netdev:		a back end (-netdev) rather than a front end (-device)
 * @internal:		made by vwire for its own plumbing (the links of a hub whose ports
 *			live on several threads): no user's device or netdev, so QMP neither
 *			lists nor deletes it
 * @hubid:		for hub ports, the hub's number; -1 otherwise
 * @queue_index:	which queue of a multiqueue netdev (the queues share the name)
 * @queues:		number of queues of that netdev (1 for most clients)
 * @stats:		counters
 * @filters:		observers/filters attached to this client (filter-dump)
 * @burst_dropped:	packets the receive_burst running now dropped (net_rx_dropped())
 * @burst_dropped_bytes: their bytes
 * @next:		next client in the global list
 */
struct net_client {
	const struct net_client_ops *ops;
	struct loop *loop;
	char *name;
	char *model;
	char info_str[256];
	struct net_client *peer;
	struct net_queue *incoming_queue;
	bool link_down;
	bool receive_disabled;
	bool is_netdev;
	bool internal;
	int hubid;
	unsigned int queue_index;
	unsigned int queues;
	struct net_stats stats;
	struct net_filter *filters;
	unsigned int burst_dropped;
	size_t burst_dropped_bytes;
	struct net_client *next;
};

/* Direction of a packet seen by a filter, from the filtered client's point of view. */
enum net_filter_dir {
	NET_FILTER_RX = 1, /* to the client */
	NET_FILTER_TX = 2, /* from the client */
};

/**
 * struct net_filter_ops - what a kind of filter does
 * @type:	kind, e.g. "filter-dump"
 * @receive_iov: see a packet passing in @dir; return true to let it pass, false to drop it
 * @cleanup:	release the filter's resources (not the struct itself)
 */
struct net_filter_ops {
	const char *type;
	bool (*receive_iov)(struct net_filter *f, enum net_filter_dir dir, const struct iovec *iov,
			    int iovcnt, unsigned int flags);
	void (*cleanup)(struct net_filter *f);
};

/**
 * struct net_filter - a filter attached to a client; embedded first in the filter's struct
 * @ops:	its ops table
 * @name:	its id
 * @nc:		the client it is attached to
 * @dirs:	directions it sees (NET_FILTER_RX | NET_FILTER_TX)
 * @next:	next filter on the same client
 */
struct net_filter {
	const struct net_filter_ops *ops;
	char *name;
	struct net_client *nc;
	unsigned int dirs;
	struct net_filter *next;
};

/**
 * net_client_new() - create a client, peer it with @peer (if not NULL) and register it
 * @ops:	ops table; ops->size bytes are allocated (zeroed)
 * @loop:	event loop
 * @peer:	client to peer with, which must have no peer yet; or NULL
 * @model:	kind (NULL: ops->type)
 * @name:	unique name (NULL: model.N)
 *
 * Return: the client, or NULL with errno set (EEXIST: name taken; EBUSY: peer already peered;
 *	   EXDEV: @peer lives on another loop).
 */
struct net_client *net_client_new(const struct net_client_ops *ops, struct loop *loop,
				  struct net_client *peer, const char *model, const char *name);

/**
 * net_peer_check() - whether a client of @loop may be peered with @peer
 * @peer:	the would-be peer, or NULL (always fine)
 * @loop:	the loop of the client
 *
 * Return: 0, -EBUSY if @peer has a peer, -EXDEV if it lives on another loop (thread)
 */
int net_peer_check(const struct net_client *peer, const struct loop *loop);

/**
 * net_client_new_queue() - create queue @index (> 0) of the multiqueue netdev whose queue 0 is
 *			    @first; it shares @first's name and model
 * @first:	queue 0
 * @index:	the queue's index
 *
 * Return: the client, or NULL with errno set
 */
struct net_client *net_client_new_queue(struct net_client *first, unsigned int index);

/**
 * net_find_queues() - every queue of the netdev named @name, in queue order
 * @name:	its name
 * @out:	the clients
 * @max:	room in @out
 *
 * Return: how many were found (may exceed @max; only @max are stored)
 */
unsigned int net_find_queues(const char *name, struct net_client **out, unsigned int max);

/**
 * net_client_free() - unpeer, purge queues, call ops->cleanup, unregister and free @nc
 * @nc: the client (NULL is ignored)
 *
 * Packets that @nc queued at its peer are purged (their sent_cb fires), and its peer is left
 * without a peer.
 */
void net_client_free(struct net_client *nc);

/**
 * net_client_free_all() - free every registered client (orderly shutdown)
 */
void net_client_free_all(void);

/**
 * net_peer() - peer two unpeered clients
 * @a: one client
 * @b: the other
 *
 * Return: 0, or -EBUSY if either already has a peer, -EINVAL if @a == @b, -EXDEV if they
 *	   live on two loops (threads).
 */
int net_peer(struct net_client *a, struct net_client *b);

/**
 * net_find() - look a client up by name
 * @name: its name
 *
 * Return: the client or NULL
 */
struct net_client *net_find(const char *name);

/**
 * net_first() - the first registered client (then follow ->next), for listings
 *
 * Return: a client or NULL
 */
struct net_client *net_first(void);

/**
 * net_send_iov() - send a packet from @sender to its peer
 * @sender:	the sending client
 * @iov:	the packet's pieces
 * @iovcnt:	how many
 * @flags:	NET_FLAG_*
 * @sent_cb:	called when a packet that was queued has been delivered or dropped (NULL: if the
 *		peer cannot take it now the packet is queued without a callback, or dropped when
 *		the queue is full)
 *
 * Return: the packet's length if delivered or dropped (no peer, link down, full queue),
 *	   0 if it was queued: stop sending until @sent_cb fires.
 */
ssize_t net_send_iov(struct net_client *sender, const struct iovec *iov, int iovcnt,
		     unsigned int flags, net_sent_cb *sent_cb);

/**
 * net_send_burst() - send packets from @sender to its peer, in order
 * @sender:	the sending client
 * @pkts:	the packets
 * @n:		how many
 * @sent_cb:	NULL: the sender cannot keep packets; what the peer cannot take now is copied
 *		into its queue (dropped when that is full), and the call returns @n.
 *		Otherwise the sender keeps what is not taken: the call returns fewer than @n,
 *		and @sent_cb (with 0) fires once the peer may take more; send the rest then.
 *
 * Packets to a peer that is gone or whose link is down are dropped (and count as taken).
 * More than NET_BURST_MAX packets reach the peer as several bursts, in order.
 *
 * Return: how many of @pkts the sender is done with, a prefix
 */
unsigned int net_send_burst(struct net_client *sender, const struct net_pkt *pkts,
			    unsigned int n, net_sent_cb *sent_cb);

/**
 * net_send_room() - how many packets @sender's peer takes now
 * @sender: the sending client
 *
 * Asked once per burst by a sender that owns its packets, to take no more than that from
 * its source. The answer is a hint (a frame may need more room than a small one).
 *
 * Return: a count; 0 when the peer takes nothing now (net_send_wait()); NET_ROOM_UNLIMITED
 *	   when nothing limits (no peer, link down: such packets are dropped)
 */
unsigned int net_send_room(struct net_client *sender);

/**
 * net_send_wait() - net_send_room() said 0: call @sent_cb (with 0) when the peer may take more
 * @sender:	the sending client
 * @sent_cb:	its completion
 *
 * Return: 0, or -ENOMEM (nothing will call back: send, and what cannot go is dropped)
 */
int net_send_wait(struct net_client *sender, net_sent_cb *sent_cb);

/**
 * net_rx_dropped() - a receive_burst took @pkt but dropped it: count it as dropped
 * @nc:		the receiver
 * @pkt:	the packet
 */
void net_rx_dropped(struct net_client *nc, const struct net_pkt *pkt);

/**
 * net_send() - net_send_iov() for one flat buffer, no flags, no callback
 * @sender:	the sending client
 * @buf:	the packet
 * @len:	its length
 *
 * Return: as net_send_iov()
 */
ssize_t net_send(struct net_client *sender, const void *buf, size_t len);

/**
 * net_can_send() - whether @sender's peer can take a packet now (true without a peer)
 * @sender: the client
 *
 * Return: true if a send would be delivered rather than queued
 */
bool net_can_send(struct net_client *sender);

/**
 * net_can_receive() - whether @nc can receive now (link up, not disabled, ops agree)
 * @nc: the client
 *
 * Return: true or false
 */
bool net_can_receive(struct net_client *nc);

/**
 * net_flush_queued() - @nc can receive again: deliver its queued packets
 * @nc: the receiving client
 *
 * Return: true if the queue is now empty
 */
bool net_flush_queued(struct net_client *nc);

/**
 * net_purge_queued() - drop packets queued at @nc that @from sent (NULL: all); sent_cbs fire
 * @nc:		the receiving client
 * @from:	the sender, or NULL
 */
void net_purge_queued(struct net_client *nc, struct net_client *from);

/**
 * net_queue_length() - number of packets waiting in @nc's incoming queue
 * @nc: the client
 *
 * Return: count
 */
unsigned int net_queue_length(const struct net_client *nc);

/**
 * net_set_queue_limit() - bound of @nc's incoming queue, in packets
 * @nc:		the client
 * @limit:	the bound (at least 1)
 */
void net_set_queue_limit(struct net_client *nc, unsigned int limit);

/**
 * net_set_link() - bring a client's link up or down (as QMP set_link; a netdev's peer follows)
 * @nc:	the client
 * @up:	true for up
 */
void net_set_link(struct net_client *nc, bool up);

/**
 * net_accepts_vnet_hdr() - whether NET_FLAG_VNET_HDR packets may be sent to @nc
 * @nc: the client (NULL: false)
 *
 * Return: true or false
 */
bool net_accepts_vnet_hdr(struct net_client *nc);

/**
 * net_peer_accepts_vnet_hdr() - whether @nc may send NET_FLAG_VNET_HDR packets to its peer
 * @nc: the client
 *
 * Return: true or false
 */
bool net_peer_accepts_vnet_hdr(struct net_client *nc);

/**
 * net_rx_lend() - borrow the peer's receive buffers to read a frame straight into them
 * @sender:	the client about to read a frame (e.g. a tap)
 * @iov:	filled with the peer's buffers
 * @max_iov:	room in @iov
 * @max_len:	the largest frame the sender may write, header included
 * @flags:	NET_FLAG_VNET_HDR if the sender writes a vnet header first
 *
 * Lends only when nothing can tell the difference from net_send_iov(): both links up, no
 * filters, nothing queued at the peer, and the peer able to receive.
 *
 * Return: iovecs lent (then call net_rx_commit() once), or 0: use net_send_iov()
 */
int net_rx_lend(struct net_client *sender, struct iovec *iov, int max_iov, size_t max_len,
		unsigned int flags);

/**
 * net_rx_commit() - hand the frame written into lent buffers to the peer
 * @sender:	the client that borrowed them
 * @len:	bytes written (0: nothing; the buffers go back)
 * @flags:	as given to net_rx_lend()
 */
void net_rx_commit(struct net_client *sender, size_t len, unsigned int flags);

/**
 * net_filter_attach() - attach @f (allocated by the caller, fields @ops, @name, @dirs set) to @nc
 * @nc:	the client
 * @f:	the filter
 */
void net_filter_attach(struct net_client *nc, struct net_filter *f);

/**
 * net_filter_detach_free() - detach @f from its client, call its cleanup and free it
 * @f: the filter
 */
void net_filter_detach_free(struct net_filter *f);

/**
 * net_filter_find() - look a filter up by name over every client
 * @name: its id
 *
 * Return: the filter or NULL
 */
struct net_filter *net_filter_find(const char *name);

/**
 * net_iov_size() - total length of an iovec array
 * @iov:	the array
 * @iovcnt:	entries
 *
 * Return: sum of lengths
 */
size_t net_iov_size(const struct iovec *iov, int iovcnt);

/**
 * net_iov_to_buf() - copy up to @len bytes from @iov starting at @offset into @buf
 * @iov:	source
 * @iovcnt:	entries
 * @offset:	offset into the packet
 * @buf:	destination
 * @len:	its size
 *
 * Return: bytes copied
 */
size_t net_iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset, void *buf, size_t len);

/**
 * net_iov_peek() - net_iov_to_buf() with its common case inline: the bytes lie in the first
 *		    piece (a header, a small frame)
 * @iov:	source
 * @iovcnt:	entries
 * @offset:	offset into the packet
 * @buf:	destination
 * @len:	its size
 *
 * Return: bytes copied
 */
static inline size_t net_iov_peek(const struct iovec *iov, int iovcnt, size_t offset, void *buf,
				  size_t len)
{
	if (__builtin_expect(iovcnt > 0 && offset < iov[0].iov_len &&
				     len <= iov[0].iov_len - offset,
			     1)) {
		memcpy(buf, (const uint8_t *)iov[0].iov_base + offset, len);
		return len;
	}
	return net_iov_to_buf(iov, iovcnt, offset, buf, len);
}

#endif
