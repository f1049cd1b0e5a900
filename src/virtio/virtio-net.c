// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net.c - the virtio-net device, served to a hypervisor over vhost-user.
 *
 * Each queue pair is a net client peered with one queue of the back end. Transmit: a kick
 * (or the poll loop) asks the peer's room, pops up to that many of the guest's tx chains at
 * once and hands them, vnet header first, to net_send_burst as one burst of iovecs straight
 * on guest memory (no copy). Chains the peer did not take go back to the ring, and popping
 * waits for the sent_cb; the rest are pushed and published once, with at most one
 * interrupt. Receive: receive_burst writes each header and frame straight into the buffers
 * the guest posted (several with mergeable rx buffers, num_buffers set in the first) and
 * publishes the used ring and decides the interrupt once per burst (receive_iov and rx_lend
 * once per loop round, from a bottom half). rx_room counts the posted buffers. Without
 * buffers the core holds the packets and the guest's next rx kick flushes them. With
 * poll-us=N the loop polls the rings for a while before it sleeps (notifications off meanwhile)
 * and the rings wait for kicks again when it stops.
 *
 * In order (VIRTIO_F_IN_ORDER, offered unless in_order=off): each ring's chains are used in
 * the order they were made available. Chains are popped in ring order and pushed in that
 * order; a chain not used now (a peer without room, a frame that did not fit, a lent buffer
 * the back end did not fill) is given back with every chain popped after it, newest first,
 * and popped again later; lent rx buffers are filled and committed before anything else is
 * popped. A driver that knows this (DPDK's virtio-user) frees its buffers with fewer reads.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <json-c/json.h>

#include "core/event.h"
#include "core/log.h"
#include "core/mac-table.h"
#include "core/netdev.h"
#include "core/offload.h"
#include "vhost-user/server.h"
#include "virtio/virtq.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Queue pairs a device may have (two vrings each). */
#define VIRTIO_NET_MAX_PAIRS (VHOST_USER_MAX_VRINGS / 2)
/*
 * How long after a ring went idle it is looked at once more, in case a kick or an interrupt
 * was lost on the way (a driver's missing memory barrier): the cost of a lost kick. While
 * it stays idle the looks come at doubling intervals up to the last one; then none.
 */
#define VIRTIO_NET_RECHECK_NS 1000000LL
#define VIRTIO_NET_RECHECK_MAX_NS 1000000000LL
/* Chains popped per kick before yielding to other work, as vhost's weight. */
#define VIRTIO_NET_TX_BURST 256
/* Mergeable rx buffers one frame may take (a 64 KiB GSO frame in 1.5 KiB buffers needs 44). */
#define VIRTIO_NET_RX_MAX_ELEMS 64
/* Writable iovecs of the chains one frame is written into. */
#define VIRTIO_NET_RX_MAX_IOV 256
/* The header with VIRTIO_F_VERSION_1, which vwire requires. */
#define VIRTIO_NET_HDR_LEN ((size_t)sizeof(struct virtio_net_hdr_v1))

#define ETH_ALEN 6
#define ETH_P_RARP 0x8035

struct virtio_net;

/**
 * struct virtio_net_queue - one queue pair and the net client that carries its packets
 * @nc:			the client (first member)
 * @dev:		its device
 * @pair:		queue pair number
 * @rx:			receive ring (vring 2 * pair)
 * @tx:			transmit ring (vring 2 * pair + 1)
 * @rx_vr:		the server's state of the rx vring while it runs, else NULL
 * @tx_vr:		the same for tx
 * @tx_waiting:		the peer held a packet back: pop nothing until its sent_cb
 * @tx_bh:		continues a tx run that used up its burst, or resumes after sent_cb
 * @rx_flush_bh:	publishes rx used entries and interrupts once per round
 * @rx_pending:		rx entries pushed but not flushed
 * @rx_starved:		poll mode: can_receive said no for want of buffers; the poller calls
 *			net_flush_queued() once the guest posts some (what a kick does otherwise)
 * @tx_elems:		the chains of the burst being transmitted (NET_BURST_MAX)
 * @tx_pkts:		their packets
 * @tx_pkt_elem:	which of @tx_elems each of @tx_pkts is
 * @rx_elems:		chains one received frame is being written into
 * @rx_iov:		their writable iovecs, in order
 * @rx_iovcnt:		how many
 * @rx_lent:		chains lent to a sender that reads straight into them (rx_lend)
 * @rx_mrg:		the driver merges rx buffers (noted when the rx ring starts)
 * @recheck:		looks at both rings once more after they went idle or an interrupt
 *			was held back (virtio_net_recheck())
 * @recheck_ns:		the interval it was last armed with
 * @rx_wants_kick:	rx found no buffers and asked the guest for a kick
 * @tx_call_held:	virtq_notify() said no after the last tx flush
 * @rx_call_held:	the same for rx
 * @kicks_recovered:	times the re-check found work no kick had announced
 * @poll_busy:		poll-us: polling found work on this pair since polling last ended
 * @rl:			rate limit of guest-caused log lines
 */
struct virtio_net_queue {
	struct net_client nc;
	struct virtio_net *dev;
	unsigned int pair;
	struct virtq rx;
	struct virtq tx;
	struct vhost_user_vring *rx_vr;
	struct vhost_user_vring *tx_vr;
	bool tx_waiting;
	struct loop_bh *tx_bh;
	struct loop_bh *rx_flush_bh;
	bool rx_pending;
	bool rx_starved;
	struct virtq_elem *tx_elems;
	struct net_pkt tx_pkts[NET_BURST_MAX];
	uint8_t tx_pkt_elem[NET_BURST_MAX];
	struct virtq_elem *rx_elems;
	struct iovec rx_iov[VIRTIO_NET_RX_MAX_IOV];
	int rx_iovcnt;
	unsigned int rx_lent;
	bool rx_mrg;
	struct loop_timer *recheck;
	int64_t recheck_ns;
	bool rx_wants_kick;
	bool tx_call_held;
	bool rx_call_held;
	uint64_t kicks_recovered;
	bool poll_busy;
	struct log_ratelimit rl;
};

/**
 * struct virtio_net - one device
 * @id:		its id (-device ...,id=)
 * @loop:	event loop
 * @server:	the vhost-user server the hypervisor talks to
 * @queues:	queue pairs
 * @npairs:	how many
 * @offered:	virtio features offered
 * @mac:	MAC address for config space and announcements
 * @mtu:	MTU for config space (0: none)
 * @poll:	the rings are polled, notifications off: always with poll=on, and while the
 *		loop's poll window is open with poll-us
 * @polling:	the poller is registered (poll=on)
 * @adaptive:	the poll handler is registered (poll-us)
 * @status:	virtio status byte the driver wrote
 * @freeing:	the device is being torn down
 * @next:	next device
 */
struct virtio_net {
	char *id;
	struct loop *loop;
	struct vhost_user_server *server;
	struct virtio_net_queue *queues[VIRTIO_NET_MAX_PAIRS];
	unsigned int npairs;
	uint64_t offered;
	uint8_t mac[ETH_ALEN];
	uint16_t mtu;
	bool poll;
	bool polling;
	bool adaptive;
	uint8_t status;
	bool freeing;
	struct virtio_net *next;
};

static struct virtio_net *virtio_net_devices;

static uint64_t virtio_net_acked(const struct virtio_net *dev)
{
	return vhost_user_server_features(dev->server);
}

static bool virtio_net_has(const struct virtio_net *dev, unsigned int bit)
{
	return virtio_net_acked(dev) & (1ULL << bit);
}

/* Copy @len bytes from @src (from byte @soff) into @dst (from byte @doff). Return bytes copied. */
static size_t virtio_net_iov_copy(const struct iovec *dst, int dcnt, size_t doff,
				  const struct iovec *src, int scnt, size_t soff, size_t len)
{
	int di = 0, si = 0;
	size_t done = 0;

	/* Both sides in one piece: the common case of a small frame. */
	if (dcnt > 0 && scnt > 0 && dst[0].iov_len >= doff + len && src[0].iov_len >= soff + len) {
		memcpy((uint8_t *)dst[0].iov_base + doff, (const uint8_t *)src[0].iov_base + soff,
		       len);
		return len;
	}
	while (di < dcnt && doff >= dst[di].iov_len)
		doff -= dst[di++].iov_len;
	while (si < scnt && soff >= src[si].iov_len)
		soff -= src[si++].iov_len;
	while (done < len && di < dcnt && si < scnt) {
		size_t n = dst[di].iov_len - doff;

		if (n > src[si].iov_len - soff)
			n = src[si].iov_len - soff;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)dst[di].iov_base + doff, (const uint8_t *)src[si].iov_base + soff,
		       n);
		done += n;
		doff += n;
		soff += n;
		if (doff == dst[di].iov_len) {
			di++;
			doff = 0;
		}
		if (soff == src[si].iov_len) {
			si++;
			soff = 0;
		}
	}
	return done;
}

static void virtio_net_queue_broken(struct virtio_net_queue *q, struct virtq *vq)
{
	log_ratelimited_warn(&q->rl, "%s: queue %u broken by the guest: %s", q->dev->id, vq->index,
			     vq->reason);
	/* Tell a driver that reads the status that the device needs a reset. */
	q->dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (!vq->broken_reported) {
		struct json_object *data = json_object_new_object();

		vq->broken_reported = true;
		json_object_object_add(data, "id", json_object_new_string(q->dev->id));
		json_object_object_add(data, "queue", json_object_new_int((int)vq->index));
		json_object_object_add(data, "reason", json_object_new_string(vq->reason));
		event_post("VIRTIO_QUEUE_BROKEN", data);
	}
}

/* A ring just went idle: look at the rings again in a moment (a re-check due sooner stays). */
static void virtio_net_recheck_arm(struct virtio_net_queue *q)
{
	if (loop_timer_pending(q->recheck) && q->recheck_ns == VIRTIO_NET_RECHECK_NS)
		return;
	q->recheck_ns = VIRTIO_NET_RECHECK_NS;
	loop_timer_mod(q->recheck, loop_now_ns() + q->recheck_ns);
}

/* Interrupt the guest if it wants to hear about what was flushed; return whether it did. */
static bool virtio_net_notify(struct virtio_net_queue *q, struct virtq *vq,
			      struct vhost_user_vring *vr)
{
	/* The front end may replace the call fd at any time: take the current one. */
	virtq_set_call_fd(vq, vr ? vr->call_fd : -1);
	if (virtq_notify(vq))
		return true;
	virtio_net_recheck_arm(q);
	return false;
}

/*
 * Read a kick; when the kick fd hung up (its writer is gone), stop watching it, or the loop
 * would wake for it forever: the ring waits for the front end's next SET_VRING_KICK.
 */
static void virtio_net_kick_read(struct virtio_net_queue *q, struct virtq *vq,
				 struct vhost_user_vring *vr)
{
	if (virtq_kick_clear(vq) == 0 || !vr || vr->kick_fd < 0)
		return;
	log_ratelimited_warn(&q->rl, "%s: kick fd of queue %u hung up: ignored until the front "
			     "end sends another", q->dev->id, vq->index);
	loop_set_fd_handler(q->dev->loop, vr->kick_fd, NULL, NULL, NULL, NULL);
	virtq_set_kick_fd(vq, -1);
}

/* Transmit */

static void virtio_net_tx_run(struct virtio_net_queue *q);

static void virtio_net_tx_complete(struct net_client *nc, ssize_t ret)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;

	q->tx_waiting = false;
	loop_bh_schedule(q->tx_bh);
}

/*
 * Whether a tx chain may go out (a virtio-net header, no offloads the driver did not get).
 * Return -1 to drop it, 1 when its header asks for nothing, 0 when it asks for offloads.
 */
static int virtio_net_tx_check(struct virtio_net_queue *q, struct virtq_elem *elem,
			       uint64_t acked)
{
	struct virtio_net_hdr_v1 hdr;

	if (elem->out_len < VIRTIO_NET_HDR_LEN ||
	    net_iov_peek(elem->iov, elem->out_num, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		log_ratelimited_warn(&q->rl, "%s: tx chain of %u bytes has no virtio-net header",
				     q->dev->id, elem->out_len);
		q->nc.stats.tx_dropped++;
		return -1;
	}
	/* Offloads the driver did not negotiate are refused, not passed on to the host. */
	if (((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(acked & (1ULL << VIRTIO_NET_F_CSUM))) ||
	    (hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE &&
	     !(acked & ((1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			(1ULL << VIRTIO_NET_F_HOST_UFO))))) {
		log_ratelimited_warn(&q->rl, "%s: tx frame asks for offloads not negotiated",
				     q->dev->id);
		q->nc.stats.tx_dropped++;
		return -1;
	}
	return hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
	       !(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

/* The packet of a tx chain; without its header when it asks for nothing and @strip. */
static struct net_pkt virtio_net_tx_pkt(struct virtq_elem *elem, bool strip)
{
	struct iovec *iov = elem->iov;
	int iovcnt = elem->out_num;
	size_t skip = VIRTIO_NET_HDR_LEN;

	if (!strip)
		return (struct net_pkt){ iov, iovcnt, NET_FLAG_VNET_HDR, elem->out_len };
	/* The chain is ours until it is pushed: step over the header in place. */
	while (skip >= iov->iov_len) {
		skip -= iov->iov_len;
		iov++;
		iovcnt--;
	}
	iov->iov_base = (uint8_t *)iov->iov_base + skip;
	iov->iov_len -= skip;
	return (struct net_pkt){ iov, iovcnt, 0, elem->out_len - VIRTIO_NET_HDR_LEN };
}

/*
 * Send the @popped chains of q->tx_elems as one burst. Chains the peer did not take go back
 * to the ring (q->tx_waiting is then set); return how many chains are done with. For a peer
 * that takes no vnet headers (QEMU's virtio-net does the same) the headers that ask for
 * nothing are left out here, so the core has nothing to finish.
 */
static unsigned int virtio_net_tx_burst(struct virtio_net_queue *q, unsigned int popped,
					uint64_t acked)
{
	bool plain_peer = !net_peer_accepts_vnet_hdr(&q->nc);
	unsigned int npkts = 0, sent, keep = popped;

	for (unsigned int i = 0; i < popped; i++) {
		struct virtq_elem *elem = &q->tx_elems[i];
		int check = virtio_net_tx_check(q, elem, acked);

		if (check < 0)
			continue;
		/* A header alone (no frame) goes to the core whole, which drops it. */
		q->tx_pkts[npkts] = virtio_net_tx_pkt(elem, plain_peer && check &&
								  elem->out_len > VIRTIO_NET_HDR_LEN);
		q->tx_pkt_elem[npkts++] = (uint8_t)i;
	}
	sent = net_send_burst(&q->nc, q->tx_pkts, npkts, virtio_net_tx_complete);
	if (sent < npkts) {
		keep = q->tx_pkt_elem[sent];
		q->tx_waiting = true;
		/* The queue takes chains back in the reverse order they were popped. */
		for (unsigned int i = popped; i-- > keep;)
			virtq_unpop(&q->tx, &q->tx_elems[i]);
	}
	virtq_push_burst(&q->tx, q->tx_elems, keep, NULL);
	return keep;
}

static void virtio_net_tx_run(struct virtio_net_queue *q)
{
	struct virtq *vq = &q->tx;
	uint64_t acked = virtio_net_acked(q->dev);
	unsigned int done = 0;
	bool more = false;

	if (!q->tx_vr || q->tx_waiting || vq->broken)
		return;
	if (!q->dev->poll)
		virtq_disable_notify(vq);
	while (!q->tx_waiting) {
		unsigned int room, popped;

		if (done >= VIRTIO_NET_TX_BURST) {
			more = true;
			break;
		}
		room = net_send_room(&q->nc);
		if (!room && net_send_wait(&q->nc, virtio_net_tx_complete) == 0) {
			q->tx_waiting = true;
			break;
		}
		if (room > NET_BURST_MAX)
			room = NET_BURST_MAX;
		if (room > VIRTIO_NET_TX_BURST - done)
			room = VIRTIO_NET_TX_BURST - done;
		popped = virtq_pop_burst(vq, q->tx_elems, room ? room : 1);
		if (vq->broken) {
			virtio_net_queue_broken(q, vq);
			break;
		}
		if (!popped) {
			/* Empty: ask for kicks again, and catch what slipped in meanwhile. */
			if (q->dev->poll)
				break;
			if (!virtq_enable_notify(vq)) {
				virtio_net_recheck_arm(q);
				break;
			}
			virtq_disable_notify(vq);
			continue;
		}
		done += virtio_net_tx_burst(q, popped, acked);
		/* The guest may reuse these chains while the next burst goes out. */
		virtq_flush(vq);
	}
	if (done)
		q->tx_call_held = !virtio_net_notify(q, vq, q->tx_vr);
	if (more)
		loop_bh_schedule(q->tx_bh);
}

static void virtio_net_tx_bh(void *opaque)
{
	virtio_net_tx_run(opaque);
}

static void virtio_net_tx_kick(void *opaque)
{
	struct virtio_net_queue *q = opaque;

	virtio_net_kick_read(q, &q->tx, q->tx_vr);
	virtio_net_tx_run(q);
}

/* Receive */

static void virtio_net_rx_flush(struct virtio_net_queue *q)
{
	if (!q->rx_pending)
		return;
	q->rx_pending = false;
	virtq_flush(&q->rx);
	q->rx_call_held = !virtio_net_notify(q, &q->rx, q->rx_vr);
}

static void virtio_net_rx_flush_bh(void *opaque)
{
	virtio_net_rx_flush(opaque);
}

/* Whether frames can go to the guest now. */
static bool virtio_net_rx_ready(struct virtio_net_queue *q)
{
	return q->rx_vr && !q->rx.broken && !(q->dev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/*
 * The guest posted no rx buffers: have it kick when it posts some (poll mode: the poller
 * looks), and look once more to close the race. Return true if buffers came meanwhile.
 */
static bool virtio_net_rx_wait_buffers(struct virtio_net_queue *q)
{
	if (q->dev->poll) {
		/* A sender (or a hub port) now holds packets back for us: wake it later. */
		q->rx_starved = true;
		return false;
	}
	if (virtq_enable_notify(&q->rx)) {
		virtq_disable_notify(&q->rx);
		return true;
	}
	q->rx_wants_kick = true;
	virtio_net_recheck_arm(q);
	return false;
}

static bool virtio_net_can_receive(struct net_client *nc)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;

	if (!virtio_net_rx_ready(q))
		return false;
	return !virtq_empty(&q->rx) || virtio_net_rx_wait_buffers(q);
}

/* Chains the guest posted: a frame takes one (a large one several, with mergeable buffers). */
static unsigned int virtio_net_rx_room(struct net_client *nc)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	unsigned int n;

	if (!virtio_net_rx_ready(q))
		return 0;
	n = virtq_avail_count(&q->rx, NET_BURST_MAX);
	if (n)
		return n;
	return virtio_net_rx_wait_buffers(q) ? virtq_avail_count(&q->rx, NET_BURST_MAX) : 0;
}

static void virtio_net_rx_giveback(struct virtio_net_queue *q, unsigned int from, unsigned int n)
{
	/* The queue takes chains back in the reverse order they were popped. */
	while (n-- > from)
		virtq_unpop(&q->rx, &q->rx_elems[n]);
}

/*
 * Pop chains until they hold @need bytes (header included): one chain without mergeable
 * buffers, several with. Their writable iovecs are gathered in q->rx_iov. Return how many
 * chains were taken, 0 when the guest has not posted enough (nothing is kept), or a negative
 * errno when the frame cannot fit or the ring broke.
 */
static int virtio_net_rx_take(struct virtio_net_queue *q, size_t need)
{
	struct virtq *vq = &q->rx;
	unsigned int max = q->rx_mrg ? VIRTIO_NET_RX_MAX_ELEMS : 1;
	unsigned int n = 0;
	size_t have = 0;

	q->rx_iovcnt = 0;
	while (have < need) {
		struct virtq_elem *elem = &q->rx_elems[n];
		int r;

		if (n == max || q->rx_iovcnt + VIRTQ_MAX_IOV > VIRTIO_NET_RX_MAX_IOV) {
			virtio_net_rx_giveback(q, 0, n);
			return -EMSGSIZE;
		}
		r = virtq_pop(vq, elem);
		if (r < 0) {
			virtio_net_rx_giveback(q, 0, n);
			virtio_net_queue_broken(q, vq);
			return -EIO;
		}
		if (r == 0) {
			/*
			 * Ask for a kick before giving the chains back: the re-check then sees
			 * only buffers posted since the pop, which no kick would announce.
			 */
			if (!q->dev->poll && virtq_enable_notify(vq)) {
				virtq_disable_notify(vq);
				continue;
			}
			if (!q->dev->poll) {
				q->rx_wants_kick = true;
				virtio_net_recheck_arm(q);
			}
			virtio_net_rx_giveback(q, 0, n);
			return 0;
		}
		if (elem->in_num == 0 || (n == 0 && elem->in_len < VIRTIO_NET_HDR_LEN)) {
			/* Giving it back would make every later frame meet it again. */
			virtio_net_rx_giveback(q, 0, n);
			virtq_break(vq, "rx chain %u has no room for the virtio-net header",
				    elem->id);
			virtio_net_queue_broken(q, vq);
			return -EIO;
		}
		memcpy(q->rx_iov + q->rx_iovcnt, virtq_elem_in_iov(elem),
		       elem->in_num * sizeof(struct iovec));
		q->rx_iovcnt += elem->in_num;
		have += elem->in_len;
		n++;
	}
	return (int)n;
}

/*
 * @len bytes (header included) were written into the @n chains taken: push the chains that
 * hold them, give the others back and record how many in num_buffers. The caller publishes
 * them (virtio_net_rx_flush()), now or at the end of the round.
 */
static void virtio_net_rx_complete(struct virtio_net_queue *q, unsigned int n, size_t len)
{
	struct virtq *vq = &q->rx;
	size_t left = len;
	unsigned int used = 0;
	uint16_t num_buffers;
	struct iovec nb_iov = { &num_buffers, sizeof(num_buffers) };

	while (used < n && left) {
		size_t take = q->rx_elems[used].in_len < left ? q->rx_elems[used].in_len : left;

		left -= take;
		used++;
	}
	if (used < n)
		virtio_net_rx_giveback(q, used, n);
	/* VERSION_1 devices always fill num_buffers (1 without mergeable buffers). */
	num_buffers = htole16((uint16_t)used);
	virtio_net_iov_copy(virtq_elem_in_iov(&q->rx_elems[0]), q->rx_elems[0].in_num,
			    offsetof(struct virtio_net_hdr_v1, num_buffers), &nb_iov, 1, 0,
			    sizeof(num_buffers));
	left = len;
	for (unsigned int i = 0; i < used; i++) {
		struct virtq_elem *elem = &q->rx_elems[i];
		uint32_t take = elem->in_len < left ? elem->in_len : (uint32_t)left;

		left -= take;
		virtq_log_in_iov(vq, elem, take);
		virtq_push(vq, elem, take);
	}
	q->rx_pending = true;
}

/*
 * The common frame: chain @elem's first writable buffer holds the header and the whole frame
 * (@frame_len bytes of @iov from @data_off). Write both there; return the bytes written, for
 * the caller to push the chain with, or 0 (nothing written) otherwise.
 */
static uint32_t virtio_net_rx_write_first(struct virtio_net_queue *q, struct virtq_elem *elem,
					  struct virtio_net_hdr_v1 *hdr, const struct iovec *iov,
					  int iovcnt, size_t data_off, size_t frame_len)
{
	uint32_t len = (uint32_t)(VIRTIO_NET_HDR_LEN + frame_len);
	uint8_t *dst;

	if (!elem->in_num || elem->iov[elem->out_num].iov_len < len)
		return 0;
	dst = elem->iov[elem->out_num].iov_base;
	/* VERSION_1 devices always fill num_buffers: one buffer here. */
	hdr->num_buffers = htole16(1);
	memcpy(dst, hdr, VIRTIO_NET_HDR_LEN);
	net_iov_peek(iov, iovcnt, data_off, dst + VIRTIO_NET_HDR_LEN, frame_len);
	virtq_log_in_iov(&q->rx, elem, len);
	return len;
}

/* The common frame in the next chain; false (nothing taken) sends it the general way. */
static bool virtio_net_rx_one_fast(struct virtio_net_queue *q, struct virtio_net_hdr_v1 *hdr,
				   const struct iovec *iov, int iovcnt, size_t data_off,
				   size_t frame_len)
{
	struct virtq_elem *elem = &q->rx_elems[0];
	uint32_t len;

	if (virtq_pop(&q->rx, elem) <= 0)
		return false;
	len = virtio_net_rx_write_first(q, elem, hdr, iov, iovcnt, data_off, frame_len);
	if (!len) {
		virtq_unpop(&q->rx, elem);
		return false;
	}
	virtq_push(&q->rx, elem, len);
	q->rx_pending = true;
	return true;
}

/*
 * The header a frame brings (@flags has NET_FLAG_VNET_HDR) into @hdr, and where its data
 * starts; a frame without one keeps @hdr zeroed. Return false when the header is cut short.
 */
static bool virtio_net_rx_hdr(const struct iovec *iov, int iovcnt, unsigned int flags,
			      struct virtio_net_hdr_v1 *hdr, size_t *data_off)
{
	*data_off = 0;
	if (!(flags & NET_FLAG_VNET_HDR))
		return true;
	if (net_iov_peek(iov, iovcnt, 0, hdr, sizeof(*hdr)) != sizeof(*hdr))
		return false;
	*data_off = VIRTIO_NET_HDR_LEN;
	return true;
}

/* Write one frame into the guest's buffers; return as receive_iov (nothing published yet). */
static ssize_t virtio_net_rx_one(struct virtio_net_queue *q, const struct iovec *iov, int iovcnt,
				 unsigned int flags, size_t size)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct iovec hdr_iov = { &hdr, sizeof(hdr) };
	size_t data_off, frame_len;
	int n;

	if (!virtio_net_rx_hdr(iov, iovcnt, flags, &hdr, &data_off))
		return -EINVAL;
	frame_len = size - data_off;
	if (virtio_net_rx_one_fast(q, &hdr, iov, iovcnt, data_off, frame_len))
		return (ssize_t)size;
	n = virtio_net_rx_take(q, VIRTIO_NET_HDR_LEN + frame_len);
	if (n == -EMSGSIZE)
		log_ratelimited_warn(&q->rl, "%s: rx buffers too small for a %zu-byte frame: dropped",
				     q->dev->id, frame_len);
	if (n <= 0)
		return n;
	virtio_net_iov_copy(q->rx_iov, q->rx_iovcnt, 0, &hdr_iov, 1, 0, VIRTIO_NET_HDR_LEN);
	virtio_net_iov_copy(q->rx_iov, q->rx_iovcnt, VIRTIO_NET_HDR_LEN, iov, iovcnt, data_off,
			    frame_len);
	virtio_net_rx_complete(q, (unsigned int)n, VIRTIO_NET_HDR_LEN + frame_len);
	return (ssize_t)size;
}

static ssize_t virtio_net_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				      unsigned int flags)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	ssize_t ret;

	if (!virtio_net_rx_ready(q))
		return 0;
	ret = virtio_net_rx_one(q, iov, iovcnt, flags, net_iov_size(iov, iovcnt));
	if (q->rx_pending)
		loop_bh_schedule(q->rx_flush_bh);
	return ret;
}

/*
 * The common burst: a chain per frame, each frame fitting its chain's first buffer. All the
 * chains are popped first, and virtq_pop_burst() starts fetching each one's first buffer for
 * writing, so the stores into lines the driver's CPU touched last overlap rather than miss one
 * after another. Return how many frames were written; the chains of the others go back, for
 * virtio_net_rx_one() (mergeable buffers, bad headers, no buffers left).
 */
static unsigned int virtio_net_rx_burst_fast(struct virtio_net_queue *q,
					     const struct net_pkt *pkts, unsigned int n)
{
	uint32_t lens[NET_BURST_MAX];
	unsigned int popped, i;

	popped = virtq_pop_burst(&q->rx, q->rx_elems, n < NET_BURST_MAX ? n : NET_BURST_MAX);

	for (i = 0; i < popped; i++) {
		const struct net_pkt *p = &pkts[i];
		struct virtio_net_hdr_v1 hdr = { 0 };
		size_t data_off;

		if (!virtio_net_rx_hdr(p->iov, p->iovcnt, p->flags, &hdr, &data_off))
			break;
		lens[i] = virtio_net_rx_write_first(q, &q->rx_elems[i], &hdr, p->iov, p->iovcnt,
						    data_off, p->len - data_off);
		if (!lens[i])
			break;
	}
	if (i) {
		virtq_push_burst(&q->rx, q->rx_elems, i, lens);
		q->rx_pending = true;
	}
	virtio_net_rx_giveback(q, i, popped);
	return i;
}

/* A burst: every frame the buffers hold, then one publish and at most one interrupt. */
static unsigned int virtio_net_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
					     unsigned int n)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	unsigned int i;

	if (!virtio_net_rx_ready(q))
		return 0;
	i = virtio_net_rx_burst_fast(q, pkts, n);
	for (; i < n; i++) {
		ssize_t ret = virtio_net_rx_one(q, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags,
						pkts[i].len);

		if (ret == 0)
			break;
		if (ret < 0)
			net_rx_dropped(nc, &pkts[i]);
	}
	virtio_net_rx_flush(q);
	return i;
}

/* Zero-copy receive: a tap reads the next frame straight into the guest's buffers. */
static int virtio_net_rx_lend(struct net_client *nc, struct iovec *iov, int max_iov,
			      size_t max_len, unsigned int flags)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	static const struct virtio_net_hdr_v1 zero_hdr;
	struct iovec hdr_iov = { (void *)&zero_hdr, sizeof(zero_hdr) };
	size_t skip = 0;
	int n, first = 0;

	if (!virtio_net_rx_ready(q) || q->rx_lent)
		return 0;
	n = virtio_net_rx_take(q, max_len);
	if (n <= 0)
		return 0;
	if (!(flags & NET_FLAG_VNET_HDR)) {
		/* The sender writes only the frame: the header is ours, and the iovecs skip it. */
		virtio_net_iov_copy(q->rx_iov, q->rx_iovcnt, 0, &hdr_iov, 1, 0, VIRTIO_NET_HDR_LEN);
		skip = VIRTIO_NET_HDR_LEN;
		while (skip >= q->rx_iov[first].iov_len)
			skip -= q->rx_iov[first++].iov_len;
	}
	if (q->rx_iovcnt - first > max_iov) {
		virtio_net_rx_giveback(q, 0, (unsigned int)n);
		return 0;
	}
	for (int i = first; i < q->rx_iovcnt; i++)
		iov[i - first] = q->rx_iov[i];
	iov[0].iov_base = (uint8_t *)iov[0].iov_base + skip;
	iov[0].iov_len -= skip;
	q->rx_lent = (unsigned int)n;
	return q->rx_iovcnt - first;
}

static void virtio_net_rx_commit(struct net_client *nc, size_t len, unsigned int flags)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	unsigned int n = q->rx_lent;

	q->rx_lent = 0;
	if (!len) {
		virtio_net_rx_giveback(q, 0, n);
		return;
	}
	if (!(flags & NET_FLAG_VNET_HDR))
		len += VIRTIO_NET_HDR_LEN;
	virtio_net_rx_complete(q, n, len);
	loop_bh_schedule(q->rx_flush_bh);
}

static void virtio_net_rx_kick(void *opaque)
{
	struct virtio_net_queue *q = opaque;

	virtio_net_kick_read(q, &q->rx, q->rx_vr);
	q->rx_wants_kick = false;
	if (!q->dev->poll)
		virtq_disable_notify(&q->rx);
	net_flush_queued(&q->nc);
}

/*
 * Another look at a queue pair that went idle: buffers no kick announced (tx to send, rx for
 * held frames) are taken as a kick would, and an interrupt held back is reconsidered. A kick
 * lost by the guest then costs VIRTIO_NET_RECHECK_NS, not the device. Looks go on at
 * doubling intervals while nothing happens, and stop after VIRTIO_NET_RECHECK_MAX_NS.
 */
static void virtio_net_recheck(void *opaque)
{
	struct virtio_net_queue *q = opaque;
	bool lost = false;

	if (q->recheck_ns < VIRTIO_NET_RECHECK_MAX_NS) {
		q->recheck_ns *= 2;
		loop_timer_mod(q->recheck, loop_now_ns() + q->recheck_ns);
	}

	if (q->tx_vr && !q->tx_waiting && !q->dev->poll && !virtq_empty(&q->tx)) {
		lost = true;
		virtio_net_tx_run(q);
	}
	if (q->rx_vr && q->rx_wants_kick && !virtq_empty(&q->rx)) {
		/* What the kick would have done. */
		lost = true;
		q->rx_wants_kick = false;
		virtq_disable_notify(&q->rx);
		net_flush_queued(&q->nc);
	}
	if (lost) {
		q->kicks_recovered++;
		log_msg_ratelimited(&q->rl, LOG_LEVEL_DEBUG,
				    "%s: queue pair %u had buffers no kick announced (%" PRIu64
				    " so far)",
				    q->dev->id, q->pair, q->kicks_recovered);
	}
	if (q->tx_call_held && q->tx_vr) {
		q->tx_call_held = false;
		virtq_set_call_fd(&q->tx, q->tx_vr->call_fd);
		virtq_notify_missed(&q->tx);
	}
	if (q->rx_call_held && q->rx_vr && !q->rx_pending) {
		q->rx_call_held = false;
		virtq_set_call_fd(&q->rx, q->rx_vr->call_fd);
		virtq_notify_missed(&q->rx);
	}
}

/* Whether frames wait in the core for rx buffers (what an rx kick would flush). */
static bool virtio_net_rx_held(struct virtio_net_queue *q)
{
	return q->nc.receive_disabled || q->rx_starved || net_queue_length(&q->nc);
}

/* One look at every ring of the device, doing what a kick would; return whether it found work. */
static bool virtio_net_poll_rings(struct virtio_net *dev)
{
	bool found = false;

	for (unsigned int i = 0; i < dev->npairs; i++) {
		struct virtio_net_queue *q = dev->queues[i];

		if (q->tx_vr && !q->tx_waiting && !virtq_empty(&q->tx)) {
			virtio_net_tx_run(q);
			q->poll_busy = found = true;
		}
		if (q->rx_vr && virtio_net_rx_held(q) && !virtq_empty(&q->rx)) {
			q->rx_starved = false;
			net_flush_queued(&q->nc);
			q->poll_busy = found = true;
		}
	}
	return found;
}

/* Poll mode: the loop thread looks at every ring of the device each round. */
static void virtio_net_poll(void *opaque)
{
	virtio_net_poll_rings(opaque);
}

/* Adaptive polling (poll-us): the loop's poll handler. */
static bool virtio_net_poll_adaptive(void *opaque)
{
	return virtio_net_poll_rings(opaque);
}

/* The loop starts polling: the guest need not kick; an rx ring that frames wait for is polled. */
static void virtio_net_poll_begin(void *opaque)
{
	struct virtio_net *dev = opaque;

	dev->poll = true;
	for (unsigned int i = 0; i < dev->npairs; i++) {
		struct virtio_net_queue *q = dev->queues[i];

		if (q->tx_vr)
			virtq_disable_notify(&q->tx);
		if (!q->rx_vr)
			continue;
		virtq_disable_notify(&q->rx);
		if (q->rx_wants_kick) {
			q->rx_wants_kick = false;
			q->rx_starved = true;
		}
	}
}

/*
 * Polling stopped with kicks asked for: the re-check looks again soon if the pair just went
 * idle (as in kick mode), and otherwise keeps its slowing pace, so that its own wakeups do not
 * keep the poll window open.
 */
static void virtio_net_poll_recheck(struct virtio_net_queue *q)
{
	if (q->poll_busy || !loop_timer_pending(q->recheck))
		virtio_net_recheck_arm(q);
}

/*
 * The loop stops polling to sleep: ask for kicks again where kick mode would (a tx ring not
 * held back by its peer, an rx ring that frames wait for), and return true if buffers came
 * meanwhile: the loop then polls once more instead of sleeping.
 */
static bool virtio_net_poll_end(void *opaque)
{
	struct virtio_net *dev = opaque;
	bool work = false;

	dev->poll = false;
	for (unsigned int i = 0; i < dev->npairs; i++) {
		struct virtio_net_queue *q = dev->queues[i];

		if (q->tx_vr && !q->tx_waiting) {
			if (virtq_enable_notify(&q->tx))
				work = true;
			else
				virtio_net_poll_recheck(q);
		}
		if (q->rx_vr && virtio_net_rx_held(q)) {
			if (virtq_enable_notify(&q->rx)) {
				/* As after a kick: the flush takes the buffers; no more kicks. */
				virtq_disable_notify(&q->rx);
				work = true;
			} else {
				q->rx_starved = false;
				q->rx_wants_kick = true;
				virtio_net_poll_recheck(q);
			}
		}
		q->poll_busy = false;
	}
	return work;
}

/* The guest takes frames with vnet headers only if it negotiated the offloads a tap enables. */
static bool virtio_net_accepts_vnet_hdr(struct net_client *nc)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	const uint64_t need = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			      (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
			      (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN);

	return q->dev->server && (virtio_net_acked(q->dev) & need) == need;
}

static void virtio_net_device_free(struct virtio_net *dev);

static void virtio_net_queue_cleanup(struct net_client *nc)
{
	struct virtio_net_queue *q = (struct virtio_net_queue *)nc;
	struct virtio_net *dev = q->dev;

	if (!dev)
		return;
	if (q->pair == 0 && !dev->freeing)
		virtio_net_device_free(dev);
	loop_bh_free(q->tx_bh);
	loop_bh_free(q->rx_flush_bh);
	loop_timer_free(q->recheck);
	q->recheck = NULL;
	free(q->rx_elems);
	free(q->tx_elems);
	q->tx_bh = q->rx_flush_bh = NULL;
	q->rx_elems = NULL;
	q->tx_elems = NULL;
}

static const struct net_client_ops virtio_net_ops = {
	.type = "virtio-net",
	.size = sizeof(struct virtio_net_queue),
	.receive_iov = virtio_net_receive_iov,
	.can_receive = virtio_net_can_receive,
	.cleanup = virtio_net_queue_cleanup,
	.accepts_vnet_hdr = virtio_net_accepts_vnet_hdr,
	.rx_lend = virtio_net_rx_lend,
	.rx_commit = virtio_net_rx_commit,
	.receive_burst = virtio_net_receive_burst,
	.rx_room = virtio_net_rx_room,
};

/* vhost-user device ops */

static uint64_t virtio_net_get_features(void *opaque)
{
	return ((struct virtio_net *)opaque)->offered;
}

static int virtio_net_set_features(void *opaque, uint64_t features)
{
	struct virtio_net *dev = opaque;

	if (!(features & (1ULL << VIRTIO_F_VERSION_1))) {
		log_warn("%s: the driver did not accept VIRTIO_F_VERSION_1: legacy devices are not "
			 "supported", dev->id);
		return -ENOTSUP;
	}
	log_info("%s: the driver accepted features 0x%" PRIx64, dev->id, features);
	return 0;
}

static int virtio_net_queue_start(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	struct virtio_net *dev = opaque;
	struct virtio_net_queue *q = dev->queues[idx / 2];
	bool is_tx = idx & 1;
	struct virtq *vq = is_tx ? &q->tx : &q->rx;
	struct virtq_params p = {
		.num = vr->num,
		.desc_uva = vr->desc_uva,
		.avail_uva = vr->avail_uva,
		.used_uva = vr->used_uva,
		.base = vr->base,
		.features = virtio_net_acked(dev),
		.inflight = vr->inflight,
		.inflight_size = vr->inflight_size,
	};
	struct error err = { 0 };
	int ret;

	virtq_init(vq, (struct guest_mem *)vhost_user_server_mem(dev->server), idx);
	ret = virtq_start(vq, &p, &err);
	if (ret < 0) {
		log_warn("%s: cannot start queue %u: %s", dev->id, idx, err.msg);
		return ret;
	}
	virtq_set_kick_fd(vq, vr->kick_fd);
	virtq_set_call_fd(vq, vr->call_fd);
	if (is_tx) {
		q->tx_vr = vr;
	} else {
		q->rx_vr = vr;
		/* Features are settled before the driver starts its rings. */
		q->rx_mrg = virtio_net_has(dev, VIRTIO_NET_F_MRG_RXBUF);
	}
	if (dev->polling) {
		virtq_disable_notify(vq);
	} else if (vr->kick_fd >= 0) {
		ret = loop_set_fd_handler(dev->loop, vr->kick_fd, NULL,
					  is_tx ? virtio_net_tx_kick : virtio_net_rx_kick, NULL, q);
		if (ret < 0) {
			virtq_stop(vq);
			q->tx_vr = is_tx ? NULL : q->tx_vr;
			q->rx_vr = is_tx ? q->rx_vr : NULL;
			return ret;
		}
	}
	/* Work may be waiting: buffers the driver posted, or frames the core held. */
	if (is_tx) {
		loop_bh_schedule(q->tx_bh);
	} else {
		net_flush_queued(&q->nc);
	}
	return 0;
}

static uint32_t virtio_net_queue_stop(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	struct virtio_net *dev = opaque;
	struct virtio_net_queue *q = dev->queues[idx / 2];
	bool is_tx = idx & 1;
	struct virtq *vq = is_tx ? &q->tx : &q->rx;
	uint32_t base;

	if (vr->kick_fd >= 0)
		loop_set_fd_handler(dev->loop, vr->kick_fd, NULL, NULL, NULL, NULL);
	if (is_tx) {
		loop_bh_cancel(q->tx_bh);
		q->tx_vr = NULL;
	} else {
		virtio_net_rx_flush(q);
		loop_bh_cancel(q->rx_flush_bh);
		q->rx_vr = NULL;
	}
	virtq_stop(vq);
	base = virtq_get_base(vq);
	return base;
}

static int virtio_net_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct virtio_net *dev = opaque;
	struct virtio_net_config cfg = { 0 };

	memcpy(cfg.mac, dev->mac, ETH_ALEN);
	cfg.status = dev->queues[0]->nc.link_down ? 0 : VIRTIO_NET_S_LINK_UP;
	cfg.max_virtqueue_pairs = (uint16_t)dev->npairs;
	cfg.mtu = dev->mtu;
	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&cfg + offset, len);
	return 0;
}

/* After migration: a RARP broadcast from the guest's MAC, as QEMU's announce does. */
static void virtio_net_send_rarp(void *opaque, const uint8_t mac[6])
{
	struct virtio_net *dev = opaque;
	uint8_t frame[60] = { 0 };

	memset(frame, 0xff, ETH_ALEN);
	memcpy(frame + 6, mac, ETH_ALEN);
	frame[12] = ETH_P_RARP >> 8;
	frame[13] = ETH_P_RARP & 0xff;
	frame[14] = 0x00; /* hardware type: Ethernet */
	frame[15] = 0x01;
	frame[16] = 0x08; /* protocol type: IPv4 */
	frame[17] = 0x00;
	frame[18] = ETH_ALEN;
	frame[19] = 4;
	frame[20] = 0x00; /* opcode: reverse request */
	frame[21] = 0x03;
	memcpy(frame + 22, mac, ETH_ALEN);
	memcpy(frame + 32, mac, ETH_ALEN);
	memcpy(dev->mac, mac, ETH_ALEN);
	log_info("%s: announcing %02x:%02x:%02x:%02x:%02x:%02x", dev->id, mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	net_send(&dev->queues[0]->nc, frame, sizeof(frame));
}

static int virtio_net_set_mtu(void *opaque, uint16_t mtu)
{
	struct virtio_net *dev = opaque;

	if (mtu < 68)
		return -EINVAL;
	dev->mtu = mtu;
	return 0;
}

static int virtio_net_set_status(void *opaque, uint8_t status)
{
	((struct virtio_net *)opaque)->status = status;
	return 0;
}

static void virtio_net_reset(void *opaque)
{
	struct virtio_net *dev = opaque;

	dev->status = 0;
	for (unsigned int i = 0; i < dev->npairs; i++) {
		dev->queues[i]->tx_waiting = false;
		net_purge_queued(&dev->queues[i]->nc, NULL);
	}
}

static void virtio_net_connected(void *opaque)
{
	log_info("%s: front end connected", ((struct virtio_net *)opaque)->id);
}

static void virtio_net_disconnected(void *opaque)
{
	struct virtio_net *dev = opaque;

	log_info("%s: front end disconnected; waiting for the next one", dev->id);
	virtio_net_reset(dev);
}

/*
 * The front end shrank a file behind the device's mappings: every running ring is broken by
 * the guest (each says so once, on the control socket too) before the connection drops.
 */
static void virtio_net_fault(void *opaque, const char *what)
{
	struct virtio_net *dev = opaque;

	for (unsigned int i = 0; i < dev->npairs; i++) {
		struct virtio_net_queue *q = dev->queues[i];

		if (q->rx_vr && !q->rx.broken) {
			virtq_break(&q->rx, "the front end shrank the file behind its %s", what);
			virtio_net_queue_broken(q, &q->rx);
		}
		if (q->tx_vr && !q->tx.broken) {
			virtq_break(&q->tx, "the front end shrank the file behind its %s", what);
			virtio_net_queue_broken(q, &q->tx);
		}
	}
}

static const struct vhost_user_dev_ops virtio_net_vhost_ops = {
	.get_features = virtio_net_get_features,
	.set_features = virtio_net_set_features,
	.queue_start = virtio_net_queue_start,
	.queue_stop = virtio_net_queue_stop,
	.get_config = virtio_net_get_config,
	.send_rarp = virtio_net_send_rarp,
	.set_mtu = virtio_net_set_mtu,
	.set_status = virtio_net_set_status,
	.reset = virtio_net_reset,
	.connected = virtio_net_connected,
	.disconnected = virtio_net_disconnected,
	.fault = virtio_net_fault,
};

/* Creation and teardown */

static void virtio_net_device_free(struct virtio_net *dev)
{
	struct virtio_net **pp;

	dev->freeing = true;
	/* Stops every ring (queue_stop) while the queues still exist. */
	vhost_user_server_free(dev->server);
	dev->server = NULL;
	if (dev->polling)
		loop_poller_remove(dev->loop, virtio_net_poll, dev);
	if (dev->adaptive)
		loop_poll_handler_remove(dev->loop, virtio_net_poll_adaptive, dev);
	for (unsigned int i = 1; i < dev->npairs; i++)
		if (dev->queues[i])
			net_client_free(&dev->queues[i]->nc);
	for (pp = &virtio_net_devices; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	free(dev->id);
	free(dev);
}

static uint64_t virtio_net_features_from_opts(const struct device_virtio_net_opts *o)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_F_LOG_ALL) |
		     (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) | (1ULL << VIRTIO_F_ANY_LAYOUT) |
		     (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS);

	if (o->csum)
		f |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
	if (o->csum && o->gso)
		f |= (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		     (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
		     (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN);
	if (o->mrg_rxbuf)
		f |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (o->event_idx)
		f |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (o->indirect_desc)
		f |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (o->packed)
		f |= 1ULL << VIRTIO_F_RING_PACKED;
	/* Always true of this device: see "In order" at the top of this file. */
	if (o->in_order)
		f |= 1ULL << VIRTIO_F_IN_ORDER;
	if (o->mtu)
		f |= 1ULL << VIRTIO_NET_F_MTU;
	if (o->queues > 1)
		f |= (1ULL << VIRTIO_NET_F_MQ) | (1ULL << VIRTIO_NET_F_CTRL_VQ);
	return f;
}

static struct virtio_net_queue *virtio_net_queue_new(struct virtio_net *dev, unsigned int pair,
						     struct net_client *peer, struct error *err)
{
	struct virtio_net_queue *q;

	if (pair == 0)
		q = (struct virtio_net_queue *)net_client_new(&virtio_net_ops, dev->loop, peer,
							      "virtio-net", dev->id);
	else
		q = (struct virtio_net_queue *)net_client_new_queue(&dev->queues[0]->nc, pair);
	if (!q) {
		error_set(err, -errno, "cannot create queue %u: %s", pair, strerror(errno));
		return NULL;
	}
	q->dev = dev;
	q->pair = pair;
	q->nc.queues = dev->npairs;
	dev->queues[pair] = q;
	q->tx_bh = loop_bh_new(dev->loop, virtio_net_tx_bh, q);
	q->rx_flush_bh = loop_bh_new(dev->loop, virtio_net_rx_flush_bh, q);
	q->recheck = loop_timer_new(dev->loop, virtio_net_recheck, q);
	q->rx_elems = calloc(VIRTIO_NET_RX_MAX_ELEMS, sizeof(*q->rx_elems));
	q->tx_elems = calloc(NET_BURST_MAX, sizeof(*q->tx_elems));
	if (!q->tx_bh || !q->rx_flush_bh || !q->recheck || !q->rx_elems || !q->tx_elems) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (pair > 0 && peer && net_peer(&q->nc, peer) < 0) {
		error_set(err, -EBUSY, "queue %u of the netdev is already in use", pair);
		return NULL;
	}
	snprintf(q->nc.info_str, sizeof(q->nc.info_str), "vhost-user,queue=%u", pair);
	return q;
}

int device_init_virtio_net(const struct device_virtio_net_opts *o, const char *id,
			   struct loop *loop, struct error *err)
{
	struct net_client *peers[VIRTIO_NET_MAX_PAIRS] = { 0 };
	struct vhost_user_server_cfg cfg = { 0 };
	struct virtio_net *dev;
	unsigned int npeers = 0;
	int ret;

	if (!o->socket)
		return error_set(err, -EINVAL, "Parameter 'socket' is missing");
	if (o->queues < 1 || o->queues > VIRTIO_NET_MAX_PAIRS)
		return error_set(err, -EINVAL, "queues=%llu: must be 1 to %u",
				 (unsigned long long)o->queues, VIRTIO_NET_MAX_PAIRS);
	if (o->poll && o->poll_us)
		return error_set(err, -EINVAL,
				 "poll=on and poll-us=%llu cannot be combined: poll=on always polls, "
				 "poll-us polls before sleeping",
				 (unsigned long long)o->poll_us);
	if (o->mtu && (o->mtu < 68 || o->mtu > 65535))
		return error_set(err, -EINVAL, "mtu=%llu: must be 68 to 65535",
				 (unsigned long long)o->mtu);
	if (o->netdev) {
		struct net_client *nc = net_find(o->netdev);

		if (!nc)
			return error_set(err, -ENOENT, "netdev=%s: no such netdev", o->netdev);
		if (!nc->is_netdev)
			return error_set(err, -EINVAL, "netdev=%s: not a netdev", o->netdev);
		npeers = net_find_queues(o->netdev, peers, VIRTIO_NET_MAX_PAIRS);
		for (unsigned int i = 0; i < npeers && i < VIRTIO_NET_MAX_PAIRS; i++)
			if (peers[i] && peers[i]->peer)
				return error_set(err, -EBUSY, "netdev=%s: already in use",
						 o->netdev);
		for (unsigned int i = 0; i < npeers && i < VIRTIO_NET_MAX_PAIRS; i++)
			if (peers[i] && peers[i]->loop != loop)
				return error_set(err, -EXDEV,
						 "netdev=%s: it runs on another thread than the "
						 "device (iothread=%s); vwire makes a command "
						 "line's netdev on its device's iothread, netdev_add "
						 "makes it on the main loop", o->netdev,
						 o->iothread ? o->iothread : "none");
		if (npeers != o->queues)
			return error_set(err, -EINVAL,
					 "queues=%llu: netdev %s has %u queue%s; they must match",
					 (unsigned long long)o->queues, o->netdev, npeers,
					 npeers == 1 ? "" : "s");
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return error_set(err, -ENOMEM, "out of memory");
	dev->id = strdup(id);
	dev->loop = loop;
	dev->npairs = (unsigned int)o->queues;
	dev->offered = virtio_net_features_from_opts(o);
	dev->mtu = (uint16_t)o->mtu;
	dev->poll = o->poll;
	if (o->mac) {
		if (mac_parse(o->mac, dev->mac) < 0 || (dev->mac[0] & 1)) {
			free(dev->id);
			free(dev);
			return error_set(err, -EINVAL, "mac=%s: expected a unicast xx:xx:xx:xx:xx:xx",
					 o->mac);
		}
	} else {
		/* QEMU's default prefix, with the low bytes from the device count. */
		static unsigned int count;
		const uint8_t def[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

		memcpy(dev->mac, def, ETH_ALEN);
		dev->mac[5] = (uint8_t)(def[5] + count++);
	}
	dev->next = virtio_net_devices;
	virtio_net_devices = dev;

	for (unsigned int i = 0; i < dev->npairs; i++) {
		if (!virtio_net_queue_new(dev, i, peers[i], err)) {
			ret = err->code;
			goto fail;
		}
	}
	if (dev->poll) {
		ret = loop_poller_add(loop, virtio_net_poll, dev);
		if (ret < 0) {
			error_set(err, ret, "out of memory");
			goto fail;
		}
		dev->polling = true;
	} else if (o->poll_us || (o->iothread && loop_poll_max_ns(loop) > 0)) {
		/* On an iothread, its poll-max-ns polls the rings as QEMU's iothreads do. */
		ret = loop_poll_handler_add(loop, virtio_net_poll_adaptive, virtio_net_poll_begin,
					    virtio_net_poll_end, dev);
		if (ret < 0) {
			error_set(err, ret, "out of memory");
			goto fail;
		}
		dev->adaptive = true;
		loop_want_poll_ns(loop, (int64_t)o->poll_us * 1000);
	}

	cfg.path = o->socket;
	cfg.listen = o->server;
	cfg.reconnect_s = (unsigned int)o->reconnect;
	cfg.num_vrings = 2 * dev->npairs;
	cfg.queue_num = dev->npairs;
	cfg.protocol_features = VHOST_USER_SERVER_PROTOCOL_FEATURES;
	cfg.ops = &virtio_net_vhost_ops;
	cfg.opaque = dev;
	cfg.name = dev->id;
	dev->server = vhost_user_server_new(loop, &cfg, err);
	if (!dev->server) {
		ret = err->code ? err->code : -EINVAL;
		goto fail;
	}
	return 0;
fail:
	if (dev->queues[0]) {
		net_client_free(&dev->queues[0]->nc);
	} else {
		virtio_net_device_free(dev);
	}
	return ret;
}
