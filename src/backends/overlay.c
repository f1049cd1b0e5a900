// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * overlay.c - the VXLAN and Geneve net client: VMs of several hosts on one L2 segment, each
 * frame in a UDP datagram to the host behind its destination MAC (vxlan.c and geneve.c give
 * the 8-byte header).
 *
 * Out: a burst's frames are looked up in the forwarding table (MAC -> remote host, learnt or
 * static); broadcast, multicast and unknown unicast go to the multicast group, or else to
 * every remote of the flooding list (head-end replication). Each frame leaves from one of
 * OVERLAY_TX_SOCKETS sockets bound to ephemeral ports, picked by a hash of its flow, so that a
 * flow keeps one UDP source port and flows spread over several, as Linux's vxlan does. A run
 * of datagrams of one socket goes out in one sendmmsg of [header, the frame's own iovecs];
 * a full socket (EAGAIN) leaves the rest of the burst to the core and polls for write.
 * A frame with a vnet header that asks for segmentation (a tap's or guest's GSO frame) is cut
 * here by offload_segment(), and its datagrams go out in one sendmsg the kernel cuts (UDP GSO).
 * In: recvmmsg on the socket bound to local:port (and on the group's, if any) fills a batch,
 * the kernel having joined each flow's datagrams (UDP GRO); each datagram is checked (header,
 * VNI: anything else is dropped and counted), its inner source MAC learnt against its outer
 * source address. For a peer that takes vnet headers, runs of TCP segments of one flow are
 * joined into GSO frames (offload_coalesce); the packets go on as one burst, what the peer
 * does not take waiting for the sent_cb, reading stopped meanwhile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/overlay.h"
#include "core/log.h"
#include "core/mac-table.h"
#include "core/netdev.h"
#include "core/offload.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Sockets frames leave from, each on its own ephemeral UDP port. */
#define OVERLAY_TX_SOCKETS 8
/* Datagrams read per recvmmsg. */
#define OVERLAY_RX_BATCH 16
/* Largest datagram read; a longer one is dropped. */
#define OVERLAY_MAX_DGRAM 65536
/* Datagrams per sendmmsg, and iovecs they may use. */
#define OVERLAY_TX_BATCH 64
#define OVERLAY_TX_IOV 1024
/* Most remotes on the flooding list. */
#define OVERLAY_MAX_REMOTES 256
/* Bytes of a frame read for its destination and flow hash. */
#define OVERLAY_PEEK 64
/* How often expired learnt entries are freed. */
#define OVERLAY_EXPIRE_NS (10 * 1000000000LL)
#define OVERLAY_SOCKBUF (4 << 20)
/* Datagrams of one GSO frame sent in one sendmsg (UDP segmentation), and their most bytes. */
#define OVERLAY_GSO_SEGS 64
#define OVERLAY_GSO_BYTES 65000
/* Room for the headers offload_segment() finishes for one segment. */
#define OVERLAY_SEG_HDR 272
/* Pieces of a frame with a vnet header that asks for nothing, passed on without a copy. */
#define OVERLAY_PLAIN_IOV 64

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
/* Frames one read may hold: a batch of datagrams, each of up to 64 joined by UDP GRO. */
#define OVERLAY_RX_FRAMES (OVERLAY_RX_BATCH * 64)

/**
 * union overlay_addr - a remote host (or the group): IPv4 or IPv6, with the UDP port
 */
union overlay_addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/**
 * struct overlay_counters - what query-netdevs shows beyond the usual counters
 * @rx_drop:		datagrams dropped, by reason
 * @tx_flooded:		frames flooded (broadcast, multicast, unknown unicast)
 * @tx_no_dest:		frames dropped for want of anywhere to send them
 * @tx_errors:		datagrams the kernel refused (other than a full socket)
 * @fdb_learnt:		entries learnt
 * @fdb_full:		sources not learnt because the table was full
 */
struct overlay_counters {
	uint64_t rx_drop[OVERLAY_DROP_COUNT];
	uint64_t tx_flooded;
	uint64_t tx_no_dest;
	uint64_t tx_errors;
	uint64_t fdb_learnt;
	uint64_t fdb_full;
};

/**
 * struct overlay_tx - datagrams being gathered for one sendmmsg
 * @sock:	index of the socket they leave from (-1: none yet)
 * @n:		how many
 * @iov_used:	iovecs in use
 * @msgs:	their headers
 * @pkt:	the burst's packet each carries
 * @copy:	it is not the first datagram of its packet (a flooded frame's replicas)
 * @iov:	[header, frame pieces] of each
 */
struct overlay_tx {
	int sock;
	unsigned int n;
	unsigned int iov_used;
	struct mmsghdr msgs[OVERLAY_TX_BATCH];
	unsigned int pkt[OVERLAY_TX_BATCH];
	bool copy[OVERLAY_TX_BATCH];
	struct iovec iov[OVERLAY_TX_IOV];
};

/**
 * struct overlay_gso - the datagrams of a GSO frame's segments, for one sendmsg
 * @dest:	where they go
 * @sock:	the socket they leave from
 * @n:		segments gathered
 * @seg_len:	the datagram size of the first (the kernel cuts the rest at it)
 * @bytes:	their total
 * @short_tail:	the last is shorter than @seg_len: nothing may follow it in this sendmsg
 * @lost:	the socket filled: the rest of the frame is lost
 * @sent_any:	some datagram of the frame went
 * @iov_used:	iovecs in use
 * @seg_iov:	each segment's first iovec
 * @hdrs:	copies of the headers built for each segment
 * @iov:	[VXLAN/Geneve header, the segment's pieces] of each
 * @msgs:	one message per segment, when the kernel will not segment
 */
struct overlay_gso {
	const union overlay_addr *dest;
	int sock;
	unsigned int n;
	size_t seg_len;
	size_t bytes;
	bool short_tail;
	bool lost;
	bool sent_any;
	unsigned int iov_used;
	unsigned int seg_iov[OVERLAY_GSO_SEGS + 1];
	uint8_t hdrs[OVERLAY_GSO_SEGS][OVERLAY_SEG_HDR];
	struct iovec iov[OVERLAY_GSO_SEGS * (1 + OFFLOAD_MAX_EMIT_IOV)];
	struct mmsghdr msgs[OVERLAY_GSO_SEGS];
};

/**
 * struct overlay_state - a vxlan or geneve netdev
 * @nc:		the net client (first)
 * @proto:	its encapsulation
 * @vni:	its VNI
 * @family:	AF_INET or AF_INET6 (the underlay)
 * @local:	its address and port
 * @ifindex:	the interface that has @local (for the group)
 * @rx_fd:	the socket bound to @local
 * @group_fd:	the socket bound to @group, or -1
 * @tx_fd:	the sockets frames leave from
 * @has_group:	@group is set
 * @group:	the multicast group
 * @remotes:	the flooding list
 * @nremotes:	its length
 * @fdb:	MAC -> union overlay_addr
 * @learning:	learn from what arrives
 * @expire:	frees expired entries every OVERLAY_EXPIRE_NS
 * @hdr:	the header of every frame sent
 * @tx:		the datagrams being gathered
 * @gso:	the datagrams of a GSO frame being gathered
 * @gso_frame:	the copy of a GSO frame being segmented (NET_MAX_PACKET bytes)
 * @udp_gso:	the kernel segments UDP (UDP_SEGMENT): send a GSO frame's datagrams at once
 * @want_write:	a socket was full: index of the tx socket waited on, or -1
 * @bufs:	OVERLAY_RX_BATCH input buffers of OVERLAY_MAX_DGRAM bytes
 * @msgs:	recvmmsg's headers, one per buffer
 * @iovs:	their iovecs
 * @names:	the source of each
 * @ctl:	recvmmsg's control buffers (the size of datagrams UDP GRO joined)
 * @rx_frames:	the valid frames of the batch (OVERLAY_RX_FRAMES)
 * @rx_pkts:	what goes on: frames, and runs of them joined into GSO frames
 * @rx_iov:	the pieces of the joined ones (2 * OVERLAY_RX_FRAMES)
 * @rx_hdrs:	their vnet headers and headers (OVERLAY_RX_FRAMES / 2 of
 *		OFFLOAD_COALESCE_HDR bytes)
 * @rx_learnt:	the source address last learnt in this read, and @rx_learnt_mac its MAC
 * @rx_count:	packets in @rx_pkts
 * @rx_next:	the first not yet handed on
 * @rx_blocked:	the peer did not take the whole batch: wait for the sent_cb
 * @rx_bh:	hands on the rest of the batch after the sent_cb
 * @counters:	see struct overlay_counters
 * @rl:		rate limit of logs the underlay can cause
 */
struct overlay_state {
	struct net_client nc;
	const struct overlay_proto *proto;
	uint32_t vni;
	int family;
	union overlay_addr local;
	unsigned int ifindex;
	int rx_fd;
	int group_fd;
	int tx_fd[OVERLAY_TX_SOCKETS];
	bool has_group;
	union overlay_addr group;
	union overlay_addr remotes[OVERLAY_MAX_REMOTES];
	unsigned int nremotes;
	struct mac_table *fdb;
	bool learning;
	struct loop_timer *expire;
	uint8_t hdr[OVERLAY_HDR_LEN];
	struct overlay_tx tx;
	struct overlay_gso gso;
	uint8_t *gso_frame;
	bool udp_gso;
	int want_write;
	uint8_t *bufs;
	struct mmsghdr msgs[OVERLAY_RX_BATCH];
	struct iovec iovs[OVERLAY_RX_BATCH];
	union overlay_addr names[OVERLAY_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[OVERLAY_RX_BATCH];
	struct iovec *rx_frames;
	struct net_pkt *rx_pkts;
	struct iovec *rx_iov;
	uint8_t *rx_hdrs;
	const union overlay_addr *rx_learnt;
	uint8_t rx_learnt_mac[MAC_LEN];
	unsigned int rx_count;
	unsigned int rx_next;
	bool rx_blocked;
	struct loop_bh *rx_bh;
	struct overlay_counters counters;
	struct log_ratelimit rl;
};

static const struct net_client_ops overlay_ops[2];

static socklen_t overlay_addr_len(const union overlay_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->v6) : sizeof(a->v4);
}

/* Whether @a and @b are the same host (the port is always ours). */
static bool overlay_addr_same(const union overlay_addr *a, const union overlay_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof(a->v6.sin6_addr));
	return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
}

static const char *overlay_addr_str(const union overlay_addr *a, char *buf, size_t size)
{
	const void *ip = a->sa.sa_family == AF_INET6 ? (const void *)&a->v6.sin6_addr
						     : (const void *)&a->v4.sin_addr;

	return inet_ntop(a->sa.sa_family, ip, buf, (socklen_t)size) ? buf : "?";
}

/* Parse an address of @family (AF_UNSPEC: either) into @a with @port. */
static int overlay_addr_parse(const char *str, int family, uint16_t port, union overlay_addr *a)
{
	memset(a, 0, sizeof(*a));
	if ((family == AF_UNSPEC || family == AF_INET) &&
	    inet_pton(AF_INET, str, &a->v4.sin_addr) == 1) {
		a->v4.sin_family = AF_INET;
		a->v4.sin_port = htons(port);
		return 0;
	}
	if ((family == AF_UNSPEC || family == AF_INET6) &&
	    inet_pton(AF_INET6, str, &a->v6.sin6_addr) == 1) {
		a->v6.sin6_family = AF_INET6;
		a->v6.sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

static bool overlay_addr_is_multicast(const union overlay_addr *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_MULTICAST(&a->v6.sin6_addr);
	return IN_MULTICAST(ntohl(a->v4.sin_addr.s_addr));
}

static bool overlay_mac_is_zero(const uint8_t *mac)
{
	static const uint8_t zero[MAC_LEN];

	return !memcmp(mac, zero, MAC_LEN);
}

/* Flow hash */

static uint32_t overlay_mix(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

uint32_t overlay_flow_hash(const uint8_t *f, size_t len)
{
	uint32_t h = 2166136261u;
	size_t l3 = OVERLAY_ETH_HLEN, l4 = 0;
	uint16_t type;
	uint8_t proto = 0;

	if (len < OVERLAY_ETH_HLEN)
		return overlay_mix(h, f, len);
	h = overlay_mix(h, f, 12);
	type = (uint16_t)(f[12] << 8 | f[13]);
	if ((type == 0x8100 || type == 0x88a8) && len >= OVERLAY_ETH_HLEN + 4) {
		type = (uint16_t)(f[16] << 8 | f[17]);
		l3 += 4;
	}
	if (type == 0x0800 && len >= l3 + 20) {
		const uint8_t *ip = f + l3;
		bool fragment = (ip[6] & 0x3f) || ip[7];

		proto = ip[9];
		h = overlay_mix(h, ip + 9, 1);
		h = overlay_mix(h, ip + 12, 8);
		if (!fragment)
			l4 = l3 + (size_t)(ip[0] & 0x0f) * 4;
	} else if (type == 0x86dd && len >= l3 + 40) {
		const uint8_t *ip = f + l3;

		proto = ip[6];
		h = overlay_mix(h, ip + 6, 1);
		h = overlay_mix(h, ip + 8, 32);
		l4 = l3 + 40;
	}
	if (l4 && (proto == 6 || proto == 17 || proto == 132) && len >= l4 + 4)
		h = overlay_mix(h, f + l4, 4);
	/* The last multiply leaves the low bits weak: fold the high ones in. */
	return h ^ (h >> 16);
}

/* Out */

static void overlay_writable(void *opaque);

static void overlay_wait_writable(struct overlay_state *s, int sock)
{
	s->want_write = sock;
	loop_set_fd_handler(s->nc.loop, s->tx_fd[sock], NULL, NULL, overlay_writable, s);
}

static void overlay_writable(void *opaque)
{
	struct overlay_state *s = opaque;

	if (s->want_write >= 0)
		loop_set_fd_handler(s->nc.loop, s->tx_fd[s->want_write], NULL, NULL, NULL, NULL);
	s->want_write = -1;
	net_flush_queued(&s->nc);
}

/* A datagram the kernel refused (no route, a remote's ICMP error): lost, as on a wire. */
static void overlay_tx_error(struct overlay_state *s, int err)
{
	log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: send: %s", s->nc.model, s->nc.name,
			    strerror(err));
	s->counters.tx_errors++;
}

/*
 * Send @n messages from socket @sock in as few sendmmsg as the kernel takes; *@done counts
 * those that went or were refused. Return false when the socket filled (*@done is then the
 * first one not sent, and the socket is polled for write).
 */
static bool overlay_sendmmsg(struct overlay_state *s, int sock, struct mmsghdr *msgs,
			     unsigned int n, unsigned int *done)
{
	while (*done < n) {
		int r = sendmmsg(s->tx_fd[sock], msgs + *done, n - *done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r > 0) {
			*done += (unsigned int)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			overlay_wait_writable(s, sock);
			return false;
		}
		overlay_tx_error(s, r < 0 ? errno : EIO);
		(*done)++;
	}
	return true;
}

/*
 * Send what is gathered. Return true when all went (or was refused and counted), false when
 * the socket was full: *@stop is then the number of the burst's packets that are done (a
 * flooded frame some copies of which went is done; its other copies are lost).
 */
static bool overlay_tx_flush(struct overlay_state *s, unsigned int *stop)
{
	struct overlay_tx *tx = &s->tx;
	unsigned int done = 0;
	bool all = overlay_sendmmsg(s, tx->sock, tx->msgs, tx->n, &done);

	if (!all)
		*stop = tx->pkt[done] + (tx->copy[done] ? 1 : 0);
	tx->n = 0;
	tx->iov_used = 0;
	return all;
}

/* Gather one datagram of packet @i to @dest; false when the socket filled (see above). */
static bool overlay_tx_add(struct overlay_state *s, const struct net_pkt *pkt, unsigned int i,
			   bool copy, const union overlay_addr *dest, unsigned int *stop)
{
	struct overlay_tx *tx = &s->tx;
	struct mmsghdr *m;

	if ((tx->n == OVERLAY_TX_BATCH ||
	     tx->iov_used + (unsigned int)pkt->iovcnt + 1 > OVERLAY_TX_IOV) &&
	    !overlay_tx_flush(s, stop))
		return false;
	m = &tx->msgs[tx->n];
	tx->iov[tx->iov_used] = (struct iovec){ s->hdr, OVERLAY_HDR_LEN };
	memcpy(&tx->iov[tx->iov_used + 1], pkt->iov, (size_t)pkt->iovcnt * sizeof(*pkt->iov));
	m->msg_hdr = (struct msghdr){
		.msg_name = (void *)dest,
		.msg_namelen = overlay_addr_len(dest),
		.msg_iov = &tx->iov[tx->iov_used],
		.msg_iovlen = (size_t)pkt->iovcnt + 1,
	};
	tx->pkt[tx->n] = i;
	tx->copy[tx->n] = copy;
	tx->iov_used += (unsigned int)pkt->iovcnt + 1;
	tx->n++;
	return true;
}

/*
 * Where a frame to destination MAC @eth goes: its learnt or static remote; else (broadcast,
 * multicast, unknown unicast) the group or every remote. Return them and set *@n (0: nowhere,
 * counted).
 */
static const union overlay_addr *overlay_dests(struct overlay_state *s, const uint8_t *eth,
					       int64_t now, unsigned int *n)
{
	struct mac_entry *e = (eth[0] & 1) ? NULL : mac_table_lookup(s->fdb, eth, now);

	*n = 1;
	if (e)
		return mac_entry_value(e);
	if (!s->has_group && !s->nremotes) {
		s->counters.tx_no_dest++;
		*n = 0;
		return NULL;
	}
	s->counters.tx_flooded++;
	if (s->has_group)
		return &s->group;
	*n = s->nremotes;
	return s->remotes;
}

/*
 * Gather frame @i for where it goes (overlay_dests). Return 1 when gathered, 0 when the socket
 * filled (see overlay_tx_flush), -1 when there is nowhere to send it.
 */
static int overlay_tx_frame(struct overlay_state *s, const struct net_pkt *pkt, unsigned int i,
			    const uint8_t *eth, int64_t now, unsigned int *stop)
{
	unsigned int n;
	const union overlay_addr *dests = overlay_dests(s, eth, now, &n);

	if (!n)
		return -1;
	for (unsigned int d = 0; d < n; d++)
		if (!overlay_tx_add(s, pkt, i, d > 0, &dests[d], stop))
			return 0;
	return 1;
}

/* Send the gathered segments: one sendmsg the kernel cuts into datagrams, or one each. */
static void overlay_gso_flush(struct overlay_state *s)
{
	struct overlay_gso *g = &s->gso;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {
		.msg_name = (void *)g->dest,
		.msg_namelen = overlay_addr_len(g->dest),
		.msg_iov = g->iov,
		.msg_iovlen = g->iov_used,
	};
	unsigned int done = 0;
	bool full = false;

	if (!g->n)
		return;
	if (g->n > 1 && s->udp_gso) {
		struct cmsghdr *c;
		uint16_t size = (uint16_t)g->seg_len;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(size));
		memcpy(CMSG_DATA(c), &size, sizeof(size));
	}
	if (g->n == 1 || s->udp_gso) {
		ssize_t r;

		do {
			r = sendmsg(s->tx_fd[g->sock], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (r < 0 && errno == EINTR);
		if (r >= 0) {
			done = g->n;
		} else if (errno == EAGAIN) {
			full = true;
			overlay_wait_writable(s, g->sock);
		} else if (g->n == 1) {
			overlay_tx_error(s, errno);
			done = 1;
		} else if (errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
			s->udp_gso = false; /* no UDP segmentation here: one datagram each from now */
		}
	}
	/* A segment over the path MTU cannot be cut by the kernel (it fragments only single
	 * datagrams): send them one by one. */
	if (!full && done < g->n) {
		for (unsigned int i = 0; i < g->n; i++)
			g->msgs[i].msg_hdr = (struct msghdr){
				.msg_name = (void *)g->dest,
				.msg_namelen = overlay_addr_len(g->dest),
				.msg_iov = &g->iov[g->seg_iov[i]],
				.msg_iovlen = g->seg_iov[i + 1] - g->seg_iov[i],
			};
		full = !overlay_sendmmsg(s, g->sock, g->msgs, g->n, &done);
	}
	if (full)
		g->lost = true;
	if (done)
		g->sent_any = true;
	g->n = 0;
	g->bytes = 0;
	g->iov_used = 0;
	g->short_tail = false;
}

/* One finished segment of a GSO frame (offload_emit_fn): gather it behind its header. */
static ssize_t overlay_gso_emit(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct overlay_state *s = opaque;
	struct overlay_gso *g = &s->gso;
	size_t len = OVERLAY_HDR_LEN + net_iov_size(iov, iovcnt), copied = 0;
	const uint8_t *frame_end = s->gso_frame + NET_MAX_PACKET;

	if (!g->lost && g->n && (g->n == OVERLAY_GSO_SEGS || g->short_tail || len > g->seg_len ||
				 g->bytes + len > OVERLAY_GSO_BYTES))
		overlay_gso_flush(s);
	if (g->lost)
		return -EAGAIN;
	g->seg_iov[g->n] = g->iov_used;
	g->iov[g->iov_used++] = (struct iovec){ s->hdr, OVERLAY_HDR_LEN };
	for (int k = 0; k < iovcnt; k++) {
		const uint8_t *base = iov[k].iov_base;

		/* Payload points into the frame's copy; headers built aside are copied. */
		if (base >= s->gso_frame && base < frame_end) {
			g->iov[g->iov_used++] = iov[k];
			continue;
		}
		if (copied + iov[k].iov_len > OVERLAY_SEG_HDR) {
			g->iov_used = g->seg_iov[g->n];
			return -EMSGSIZE;
		}
		memcpy(g->hdrs[g->n] + copied, base, iov[k].iov_len);
		g->iov[g->iov_used++] = (struct iovec){ g->hdrs[g->n] + copied, iov[k].iov_len };
		copied += iov[k].iov_len;
	}
	if (!g->n)
		g->seg_len = len;
	else if (len < g->seg_len)
		g->short_tail = true;
	g->bytes += len;
	g->seg_iov[++g->n] = g->iov_used;
	return (ssize_t)len;
}

/*
 * A frame whose vnet header asks for segmentation or a checksum: copied once (headers are
 * read from memory the guest cannot change), cut by offload_segment(), and each
 * destination's datagrams sent in as few sendmsg as the kernel's UDP segmentation allows.
 * Return 1 when done, 0 when the socket filled (*@stop set), -1 when dropped.
 */
static int overlay_tx_offload(struct overlay_state *s, const struct net_pkt *pkt, unsigned int i,
			      int64_t now, unsigned int *stop)
{
	struct overlay_gso *g = &s->gso;
	struct virtio_net_hdr_v1 vh;
	const union overlay_addr *dests;
	unsigned int ndests;
	size_t len = pkt->len - NET_VNET_HDR_LEN;
	int r = 0;

	if (pkt->len < NET_VNET_HDR_LEN + OVERLAY_ETH_HLEN || len > NET_MAX_PACKET)
		return -1;
	net_iov_to_buf(pkt->iov, pkt->iovcnt, 0, &vh, sizeof(vh));
	net_iov_to_buf(pkt->iov, pkt->iovcnt, NET_VNET_HDR_LEN, s->gso_frame, len);
	dests = overlay_dests(s, s->gso_frame, now, &ndests);
	if (!ndests)
		return -1;
	if (s->tx.n && !overlay_tx_flush(s, stop))
		return 0;
	g->sock = (int)(overlay_flow_hash(s->gso_frame, len < OVERLAY_PEEK ? len : OVERLAY_PEEK) %
			OVERLAY_TX_SOCKETS);
	g->sent_any = false;
	for (unsigned int d = 0; d < ndests; d++) {
		g->dest = &dests[d];
		g->lost = false;
		r = offload_segment(s->gso_frame, len, &vh, overlay_gso_emit, s);
		overlay_gso_flush(s);
		if (r < 0) {
			log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: dropped a frame whose "
					    "offloads cannot be finished: %s", s->nc.model,
					    s->nc.name, strerror(-r));
			return -1;
		}
		if (g->lost) {
			*stop = g->sent_any ? i + 1 : i;
			return 0;
		}
	}
	return 1;
}

static unsigned int overlay_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
					  unsigned int n)
{
	struct overlay_state *s = (struct overlay_state *)nc;
	bool dropped[NET_BURST_MAX] = { false };
	unsigned int stop = n;
	int64_t now;

	if (s->want_write >= 0)
		return 0;
	now = loop_now_ns();
	s->tx.n = 0;
	s->tx.iov_used = 0;
	s->tx.sock = -1;
	for (unsigned int i = 0; i < n; i++) {
		const struct net_pkt *pkt = &pkts[i];
		struct iovec plain[OVERLAY_PLAIN_IOV];
		struct net_pkt stripped;
		uint8_t head[OVERLAY_PEEK];
		size_t len;
		int sock, r;

		if (pkt->flags & NET_FLAG_VNET_HDR) {
			r = offload_plain_iov(pkt->iov, pkt->iovcnt, plain, OVERLAY_PLAIN_IOV);
			if (r == 0) {
				r = overlay_tx_offload(s, pkt, i, now, &stop);
				if (!r)
					break;
				dropped[i] = r < 0;
				continue;
			}
			if (r < 0) {
				dropped[i] = true;
				continue;
			}
			stripped = (struct net_pkt){ .iov = plain, .iovcnt = r,
						     .len = pkt->len - NET_VNET_HDR_LEN };
			pkt = &stripped;
		}
		len = net_iov_peek(pkt->iov, pkt->iovcnt, 0, head, sizeof(head));
		if (len < OVERLAY_ETH_HLEN || pkt->iovcnt + 1 > OVERLAY_TX_IOV) {
			dropped[i] = true;
			continue;
		}
		sock = (int)(overlay_flow_hash(head, len) % OVERLAY_TX_SOCKETS);
		if (sock != s->tx.sock && s->tx.n && !overlay_tx_flush(s, &stop))
			break;
		s->tx.sock = sock;
		r = overlay_tx_frame(s, pkt, i, head, now, &stop);
		if (!r)
			break;
		dropped[i] = r < 0;
	}
	if (stop == n && s->tx.n)
		overlay_tx_flush(s, &stop);
	for (unsigned int i = 0; i < stop; i++)
		if (dropped[i])
			net_rx_dropped(nc, &pkts[i]);
	return stop;
}

/* Frames with vnet headers are taken whole: GSO frames are cut here, per destination. */
static bool overlay_accepts_vnet_hdr(struct net_client *nc)
{
	return true;
}

static ssize_t overlay_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				   unsigned int flags)
{
	size_t len = net_iov_size(iov, iovcnt);
	struct net_pkt pkt = { .iov = iov, .iovcnt = iovcnt, .flags = flags, .len = len };

	return overlay_receive_burst(nc, &pkt, 1) ? (ssize_t)len : 0;
}

/* In */

static void overlay_read(void *opaque);
static void overlay_read_group(void *opaque);

static bool overlay_can_read(void *opaque)
{
	struct overlay_state *s = opaque;

	return !s->rx_blocked && s->rx_next == s->rx_count && net_can_send(&s->nc);
}

static void overlay_sent(struct net_client *nc, ssize_t ret)
{
	struct overlay_state *s = (struct overlay_state *)nc;

	s->rx_blocked = false;
	if (s->rx_next < s->rx_count)
		loop_bh_schedule(s->rx_bh);
}

/* Hand on the rest of the batch's packets; what the peer did not take waits. */
static void overlay_deliver(struct overlay_state *s)
{
	unsigned int taken;

	if (s->rx_blocked || s->rx_next == s->rx_count)
		return;
	taken = net_send_burst(&s->nc, s->rx_pkts + s->rx_next, s->rx_count - s->rx_next,
			       overlay_sent);
	s->rx_next += taken;
	if (s->rx_next < s->rx_count) {
		s->rx_blocked = true;
		return;
	}
	s->rx_next = s->rx_count = 0;
}

static void overlay_rx_bh(void *opaque)
{
	overlay_deliver(opaque);
}

/*
 * Check one datagram of @len bytes at @d from @from, learn its source; return true and set
 * @frame to its frame, or false when it is dropped (and counted).
 */
static bool overlay_decap(struct overlay_state *s, uint8_t *d, size_t len,
			  union overlay_addr *from, int64_t now, struct iovec *frame)
{
	struct overlay_decoded dec;
	const uint8_t *src;
	int why = s->proto->decap(d, len, &dec);

	if (!why && dec.vni != s->vni)
		why = OVERLAY_DROP_VNI;
	if (why) {
		s->counters.rx_drop[why]++;
		log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: dropped a datagram (%d)",
				    s->nc.model, s->nc.name, why);
		return false;
	}
	*frame = (struct iovec){ d + dec.off, len - dec.off };
	src = d + dec.off + MAC_LEN;
	/* The inner source MAC is behind the outer source address (at our port); the
	 * datagrams of one read mostly repeat the last one's. */
	if (!s->learning || (src[0] & 1) || overlay_mac_is_zero(src) ||
	    (s->rx_learnt == from && !memcmp(s->rx_learnt_mac, src, MAC_LEN)))
		return true;
	if (from->sa.sa_family == AF_INET6) {
		from->v6.sin6_port = s->local.v6.sin6_port;
		from->v6.sin6_flowinfo = 0;
	} else {
		from->v4.sin_port = s->local.v4.sin_port;
	}
	switch (mac_table_learn(s->fdb, src, from, now)) {
	case 1:
		s->counters.fdb_learnt++;
		break;
	case -ENOSPC:
		s->counters.fdb_full++;
		break;
	}
	s->rx_learnt = from;
	memcpy(s->rx_learnt_mac, src, MAC_LEN);
	return true;
}

/* The size of the datagrams UDP GRO joined in @msg, or 0 (one datagram). */
static size_t overlay_gro_size(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		int size;

		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(size))) {
			memcpy(&size, CMSG_DATA(c), sizeof(size));
			return size > 0 ? (size_t)size : 0;
		}
	}
	return 0;
}

/*
 * The packets of the batch's @nf frames: for a peer that takes vnet headers, each run of
 * TCP segments of one flow becomes one GSO frame (its headers built in rx_hdrs, then the
 * segments' payloads in place); every other frame goes on as it is.
 */
static void overlay_rx_packets(struct overlay_state *s, unsigned int nf)
{
	bool coalesce = net_peer_accepts_vnet_hdr(&s->nc);
	unsigned int np = 0, iu = 0, nh = 0;

	for (unsigned int k = 0; k < nf;) {
		uint8_t *hdr = s->rx_hdrs + (size_t)nh * OFFLOAD_COALESCE_HDR;
		size_t hdr_len = 0, len, skip;
		int m = coalesce ? offload_coalesce(&s->rx_frames[k], nf - k, hdr, &hdr_len) : 1;

		if (m < 2) {
			s->rx_pkts[np++] = (struct net_pkt){ .iov = &s->rx_frames[k], .iovcnt = 1,
							     .len = s->rx_frames[k].iov_len };
			k++;
			continue;
		}
		skip = hdr_len - NET_VNET_HDR_LEN;
		len = hdr_len;
		s->rx_iov[iu] = (struct iovec){ hdr, hdr_len };
		for (int j = 0; j < m; j++) {
			const struct iovec *f = &s->rx_frames[k + (unsigned int)j];

			s->rx_iov[iu + 1 + (unsigned int)j] =
				(struct iovec){ (uint8_t *)f->iov_base + skip, f->iov_len - skip };
			len += f->iov_len - skip;
		}
		s->rx_pkts[np++] = (struct net_pkt){ .iov = &s->rx_iov[iu], .iovcnt = m + 1,
						     .flags = NET_FLAG_VNET_HDR, .len = len };
		iu += (unsigned int)m + 1;
		nh++;
		k += (unsigned int)m;
	}
	s->rx_count = np;
	s->rx_next = 0;
}

static void overlay_read_fd(struct overlay_state *s, int fd)
{
	unsigned int nf = 0;
	int64_t now;
	int n;

	for (unsigned int i = 0; i < OVERLAY_RX_BATCH; i++) {
		s->msgs[i].msg_hdr.msg_flags = 0;
		s->msgs[i].msg_hdr.msg_namelen = sizeof(s->names[i]);
		s->msgs[i].msg_hdr.msg_control = s->ctl[i].buf;
		s->msgs[i].msg_hdr.msg_controllen = sizeof(s->ctl[i].buf);
	}
	n = recvmmsg(fd, s->msgs, OVERLAY_RX_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			log_msg_ratelimited(&s->rl, LOG_LEVEL_DEBUG, "%s %s: receive: %s",
					    s->nc.model, s->nc.name, strerror(errno));
		return;
	}
	now = loop_now_ns();
	s->rx_learnt = NULL;
	for (unsigned int i = 0; i < (unsigned int)n; i++) {
		uint8_t *d = s->iovs[i].iov_base;
		size_t len = s->msgs[i].msg_len, seg = overlay_gro_size(&s->msgs[i].msg_hdr);

		if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			s->counters.rx_drop[OVERLAY_DROP_TRUNC]++;
			continue;
		}
		if (!seg || seg > len)
			seg = len;
		/* An empty datagram carries nothing; GRO joins at most 64 per message. */
		for (size_t off = 0; seg && off < len && nf < OVERLAY_RX_FRAMES; off += seg) {
			size_t l = len - off < seg ? len - off : seg;

			if (overlay_decap(s, d + off, l, &s->names[i], now, &s->rx_frames[nf]))
				nf++;
		}
	}
	overlay_rx_packets(s, nf);
	overlay_deliver(s);
}

static void overlay_read(void *opaque)
{
	struct overlay_state *s = opaque;

	overlay_read_fd(s, s->rx_fd);
}

static void overlay_read_group(void *opaque)
{
	struct overlay_state *s = opaque;

	overlay_read_fd(s, s->group_fd);
}

static void overlay_expire(void *opaque)
{
	struct overlay_state *s = opaque;
	int64_t now = loop_now_ns();

	mac_table_expire(s->fdb, now);
	loop_timer_mod(s->expire, now + OVERLAY_EXPIRE_NS);
}

static void overlay_counters(struct net_client *nc, net_counter_fn *add, void *opaque)
{
	static const char *const drop_names[OVERLAY_DROP_COUNT] = {
		[OVERLAY_DROP_SHORT] = "rx-short",
		[OVERLAY_DROP_FLAGS] = "rx-bad-header",
		[OVERLAY_DROP_OPTIONS] = "rx-bad-options",
		[OVERLAY_DROP_CRITICAL] = "rx-critical-options",
		[OVERLAY_DROP_VNI] = "rx-other-vni",
		[OVERLAY_DROP_TRUNC] = "rx-too-long",
	};
	struct overlay_state *s = (struct overlay_state *)nc;

	for (int i = OVERLAY_DROP_NONE + 1; i < OVERLAY_DROP_COUNT; i++)
		add(opaque, drop_names[i], s->counters.rx_drop[i]);
	add(opaque, "tx-flooded", s->counters.tx_flooded);
	add(opaque, "tx-no-destination", s->counters.tx_no_dest);
	add(opaque, "tx-errors", s->counters.tx_errors);
	add(opaque, "fdb-learnt", s->counters.fdb_learnt);
	add(opaque, "fdb-full", s->counters.fdb_full);
	add(opaque, "fdb-entries", mac_table_count(s->fdb));
	add(opaque, "remotes", s->nremotes);
}

static void overlay_close(int *fd, struct loop *loop)
{
	if (*fd < 0)
		return;
	loop_set_fd_handler(loop, *fd, NULL, NULL, NULL, NULL);
	close(*fd);
	*fd = -1;
}

static void overlay_cleanup(struct net_client *nc)
{
	struct overlay_state *s = (struct overlay_state *)nc;

	overlay_close(&s->rx_fd, nc->loop);
	overlay_close(&s->group_fd, nc->loop);
	for (int i = 0; i < OVERLAY_TX_SOCKETS; i++)
		overlay_close(&s->tx_fd[i], nc->loop);
	loop_timer_free(s->expire);
	s->expire = NULL;
	loop_bh_free(s->rx_bh);
	s->rx_bh = NULL;
	mac_table_free(s->fdb);
	s->fdb = NULL;
	free(s->bufs);
	s->bufs = NULL;
	free(s->gso_frame);
	s->gso_frame = NULL;
	free(s->rx_frames);
	free(s->rx_pkts);
	free(s->rx_iov);
	free(s->rx_hdrs);
	s->rx_frames = s->rx_iov = NULL;
	s->rx_pkts = NULL;
	s->rx_hdrs = NULL;
}

#define OVERLAY_OPS(type_)                                                                   \
	{                                                                                    \
		.type = type_, .size = sizeof(struct overlay_state),                         \
		.receive_iov = overlay_receive_iov, .receive_burst = overlay_receive_burst, \
		.cleanup = overlay_cleanup, .counters = overlay_counters,                    \
		.accepts_vnet_hdr = overlay_accepts_vnet_hdr,                               \
	}
/* One table per type, so that query-netdevs names it; they do the same. */
static const struct net_client_ops overlay_ops[] = { OVERLAY_OPS("vxlan"), OVERLAY_OPS("geneve") };

/* Setting up */

/* The index of the interface that has address @a, or 0. */
static unsigned int overlay_ifindex(const union overlay_addr *a)
{
	struct ifaddrs *list, *i;
	unsigned int index = 0;

	if (getifaddrs(&list) < 0)
		return 0;
	for (i = list; i && !index; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != a->sa.sa_family)
			continue;
		if (overlay_addr_same((const union overlay_addr *)(void *)i->ifa_addr, a))
			index = if_nametoindex(i->ifa_name);
	}
	freeifaddrs(list);
	return index;
}

static void overlay_sockbuf(int fd, int opt_force, int opt)
{
	int size = OVERLAY_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

/* Let the kernel join a flow's datagrams (UDP GRO): fewer reads, and whole runs of
 * segments to coalesce. Without it (an old kernel), one datagram per message. */
static void overlay_gro(int fd)
{
	int on = 1;

	setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on));
}

/* A UDP socket bound to @a (address reuse for a group's). */
static int overlay_socket(const union overlay_addr *a, bool reuse, const char *what,
			  struct error *err)
{
	char ip[INET6_ADDRSTRLEN];
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 1;

	if (fd < 0)
		return error_set(err, -errno, "socket creation failed: %s", strerror(errno));
	if (a->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, &a->sa, overlay_addr_len(a)) < 0) {
		int e = errno;

		close(fd);
		return error_set(err, -e, "%s=%s: cannot bind port %u: %s", what,
				 overlay_addr_str(a, ip, sizeof(ip)),
				 ntohs(a->sa.sa_family == AF_INET6 ? a->v6.sin6_port
								   : a->v4.sin_port),
				 strerror(e));
	}
	return fd;
}

/* Join @s->group on @s->group_fd, on the interface of local. */
static int overlay_join(struct overlay_state *s, const char *group, struct error *err)
{
	int r;

	if (s->family == AF_INET6) {
		struct ipv6_mreq m = { .ipv6mr_multiaddr = s->group.v6.sin6_addr,
				       .ipv6mr_interface = s->ifindex };

		r = setsockopt(s->group_fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof(m));
	} else {
		struct ip_mreqn m = { .imr_multiaddr = s->group.v4.sin_addr,
				      .imr_address = s->local.v4.sin_addr,
				      .imr_ifindex = (int)s->ifindex };

		r = setsockopt(s->group_fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m));
	}
	if (r < 0)
		return error_set(err, -errno, "group=%s: cannot join: %s", group, strerror(errno));
	return 0;
}

/*
 * A socket frames leave from: bound to local's address on an ephemeral port, sending to the
 * group out of local's interface without hearing itself, with the outer TTL and TOS; it
 * receives nothing (a filter drops all).
 */
static int overlay_tx_socket(struct overlay_state *s, const struct netdev_overlay_opts *o,
			     struct error *err)
{
	struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop_all };
	union overlay_addr a = s->local;
	int ttl = o->ttl ? (int)o->ttl : 64, mttl = o->ttl ? (int)o->ttl : 1, tos = (int)o->tos;
	int off = 0, fd;

	if (a.sa.sa_family == AF_INET6)
		a.v6.sin6_port = 0;
	else
		a.v4.sin_port = 0;
	fd = overlay_socket(&a, false, "local", err);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	overlay_sockbuf(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	if (s->family == AF_INET6) {
		int dont = IPV6_PMTUDISC_DONT;
		int ifindex = (int)s->ifindex;

		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof(dont));
		setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &mttl, sizeof(mttl));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof(off));
		setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
		if (ifindex)
			setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex));
	} else {
		/* As Linux's vxlan without "df set": a frame over the path MTU is fragmented. */
		int dont = IP_PMTUDISC_DONT;
		struct ip_mreqn m = { .imr_address = s->local.v4.sin_addr,
				      .imr_ifindex = (int)s->ifindex };

		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
		setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &mttl, sizeof(mttl));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof(off));
		setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m));
	}
	return fd;
}

static int overlay_add_remote(struct overlay_state *s, const union overlay_addr *a)
{
	for (unsigned int i = 0; i < s->nremotes; i++)
		if (overlay_addr_same(&s->remotes[i], a))
			return 0;
	if (s->nremotes == OVERLAY_MAX_REMOTES)
		return -ENOSPC;
	s->remotes[s->nremotes++] = *a;
	return 0;
}

/* Check the options and fill what they say; nothing is opened yet. */
static int overlay_configure(struct overlay_state *s, const struct netdev_overlay_opts *o,
			     struct error *err)
{
	uint16_t port = (uint16_t)o->port;

	if (!o->has_vni)
		return error_set(err, -EINVAL, "'vni' is missing");
	if (o->vni > OVERLAY_VNI_MAX)
		return error_set(err, -EINVAL, "vni=%llu: out of range (0 to %u)",
				 (unsigned long long)o->vni, OVERLAY_VNI_MAX);
	if (!o->local)
		return error_set(err, -EINVAL, "'local' is missing");
	if (!o->port)
		return error_set(err, -EINVAL, "port=0: not a port");
	if (overlay_addr_parse(o->local, AF_UNSPEC, port, &s->local) < 0 ||
	    overlay_addr_is_multicast(&s->local))
		return error_set(err, -EINVAL, "local=%s: not a unicast IPv4 or IPv6 address",
				 o->local);
	s->family = s->local.sa.sa_family;
	s->vni = (uint32_t)o->vni;
	for (size_t i = 0; i < o->remote.count; i++) {
		union overlay_addr a;

		if (overlay_addr_parse(o->remote.items[i], s->family, port, &a) < 0 ||
		    overlay_addr_is_multicast(&a))
			return error_set(err, -EINVAL, "remote=%s: not a unicast address of %s's "
					 "family", o->remote.items[i], o->local);
		if (overlay_add_remote(s, &a) < 0)
			return error_set(err, -EINVAL, "remote=%s: more than %u remotes",
					 o->remote.items[i], OVERLAY_MAX_REMOTES);
	}
	if (o->group) {
		if (overlay_addr_parse(o->group, s->family, port, &s->group) < 0 ||
		    !overlay_addr_is_multicast(&s->group))
			return error_set(err, -EINVAL, "group=%s: not a multicast address of %s's "
					 "family", o->group, o->local);
		s->has_group = true;
	}
	s->ifindex = overlay_ifindex(&s->local);
	if (!s->ifindex)
		return error_set(err, -EADDRNOTAVAIL, "local=%s: no interface has this address",
				 o->local);
	s->learning = o->learning;
	s->proto->form(s->vni, s->hdr);
	return 0;
}

static int overlay_open(struct overlay_state *s, const struct netdev_overlay_opts *o,
			struct error *err)
{
	int r;

	s->rx_fd = overlay_socket(&s->local, false, "local", err);
	if (s->rx_fd < 0)
		return s->rx_fd;
	overlay_sockbuf(s->rx_fd, SO_RCVBUFFORCE, SO_RCVBUF);
	overlay_gro(s->rx_fd);
	if (s->has_group) {
		s->group_fd = overlay_socket(&s->group, true, "group", err);
		if (s->group_fd < 0)
			return s->group_fd;
		overlay_sockbuf(s->group_fd, SO_RCVBUFFORCE, SO_RCVBUF);
		overlay_gro(s->group_fd);
		r = overlay_join(s, o->group, err);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < OVERLAY_TX_SOCKETS; i++) {
		s->tx_fd[i] = overlay_tx_socket(s, o, err);
		if (s->tx_fd[i] < 0)
			return s->tx_fd[i];
	}
	return 0;
}

static int overlay_setup(struct overlay_state *s, const struct netdev_overlay_opts *o,
			 struct error *err)
{
	char ip[INET6_ADDRSTRLEN];
	int r;

	s->rx_fd = s->group_fd = s->want_write = -1;
	for (int i = 0; i < OVERLAY_TX_SOCKETS; i++)
		s->tx_fd[i] = -1;
	r = overlay_configure(s, o, err);
	if (r < 0)
		return r;
	s->fdb = mac_table_new((unsigned int)o->mac_table_size, (int64_t)o->ageing * 1000000000LL,
			       sizeof(union overlay_addr));
	s->bufs = malloc((size_t)OVERLAY_RX_BATCH * OVERLAY_MAX_DGRAM);
	s->gso_frame = malloc(NET_MAX_PACKET);
	s->rx_frames = calloc(OVERLAY_RX_FRAMES, sizeof(*s->rx_frames));
	s->rx_pkts = calloc(OVERLAY_RX_FRAMES, sizeof(*s->rx_pkts));
	s->rx_iov = calloc(2 * OVERLAY_RX_FRAMES, sizeof(*s->rx_iov));
	s->rx_hdrs = malloc((size_t)OVERLAY_RX_FRAMES / 2 * OFFLOAD_COALESCE_HDR);
	s->udp_gso = true;
	s->rx_bh = loop_bh_new(s->nc.loop, overlay_rx_bh, s);
	s->expire = loop_timer_new(s->nc.loop, overlay_expire, s);
	if (!s->fdb || !s->bufs || !s->gso_frame || !s->rx_frames || !s->rx_pkts || !s->rx_iov ||
	    !s->rx_hdrs || !s->rx_bh || !s->expire)
		return error_set(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < OVERLAY_RX_BATCH; i++) {
		s->iovs[i] = (struct iovec){ s->bufs + (size_t)i * OVERLAY_MAX_DGRAM,
					     OVERLAY_MAX_DGRAM };
		s->msgs[i].msg_hdr.msg_iov = &s->iovs[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
		s->msgs[i].msg_hdr.msg_name = &s->names[i];
	}
	r = overlay_open(s, o, err);
	if (r < 0)
		return r;
	loop_set_fd_handler(s->nc.loop, s->rx_fd, overlay_can_read, overlay_read, NULL, s);
	if (s->group_fd >= 0)
		loop_set_fd_handler(s->nc.loop, s->group_fd, overlay_can_read, overlay_read_group,
				    NULL, s);
	loop_timer_mod(s->expire, loop_now_ns() + OVERLAY_EXPIRE_NS);
	snprintf(s->nc.info_str, sizeof(s->nc.info_str), "%s: vni=%u local=%s port=%u",
		 s->proto->type, s->vni, overlay_addr_str(&s->local, ip, sizeof(ip)),
		 (unsigned int)o->port);
	return 0;
}

int overlay_net_new(const struct overlay_proto *proto, const struct netdev_overlay_opts *o,
		    const char *id, struct loop *loop, struct error *err)
{
	struct overlay_state *s;
	int r;

	s = (struct overlay_state *)net_client_new(&overlay_ops[proto == &overlay_geneve], loop,
						   NULL, proto->type, id);
	if (!s)
		return error_set(err, -errno, "cannot create netdev '%s': %s", id,
				 strerror(errno));
	s->nc.is_netdev = true;
	s->proto = proto;
	r = overlay_setup(s, o, err);
	if (r < 0)
		net_client_free(&s->nc);
	return r;
}

/* The forwarding table at run time */

static struct overlay_state *overlay_find(const char *netdev, struct error *err)
{
	struct net_client *nc = net_find(netdev);

	if (!nc || (nc->ops != &overlay_ops[0] && nc->ops != &overlay_ops[1])) {
		error_set(err, -ENOENT, "'%s' is not a vxlan or geneve netdev", netdev);
		return NULL;
	}
	return (struct overlay_state *)nc;
}

static int overlay_fdb_args(struct overlay_state *s, const char *mac_str, const char *remote,
			    uint8_t *mac, union overlay_addr *a, struct error *err)
{
	uint16_t port = ntohs(s->family == AF_INET6 ? s->local.v6.sin6_port
						    : s->local.v4.sin_port);

	if (mac_parse(mac_str, mac) < 0)
		return error_set(err, -EINVAL, "mac=%s: not a MAC address", mac_str);
	if (remote && (overlay_addr_parse(remote, s->family, port, a) < 0 ||
		       overlay_addr_is_multicast(a)))
		return error_set(err, -EINVAL, "remote=%s: not a unicast address of the netdev's "
				 "family", remote);
	return 0;
}

int overlay_fdb_add(const char *netdev, const char *mac_str, const char *remote,
		    struct error *err)
{
	struct overlay_state *s = overlay_find(netdev, err);
	uint8_t mac[MAC_LEN];
	union overlay_addr a;
	int r;

	if (!s)
		return -ENOENT;
	if (!remote)
		return error_set(err, -EINVAL, "'remote' is missing");
	r = overlay_fdb_args(s, mac_str, remote, mac, &a, err);
	if (r < 0)
		return r;
	if (overlay_mac_is_zero(mac)) {
		if (overlay_add_remote(s, &a) < 0)
			return error_set(err, -ENOSPC, "more than %u remotes", OVERLAY_MAX_REMOTES);
		return 0;
	}
	if (mac[0] & 1)
		return error_set(err, -EINVAL, "mac=%s: a multicast address", mac_str);
	if (mac_table_add_static(s->fdb, mac, &a, loop_now_ns()) < 0)
		return error_set(err, -ENOSPC, "the forwarding table of '%s' is full", netdev);
	return 0;
}

int overlay_fdb_del(const char *netdev, const char *mac_str, const char *remote,
		    struct error *err)
{
	struct overlay_state *s = overlay_find(netdev, err);
	uint8_t mac[MAC_LEN];
	union overlay_addr a;
	struct mac_entry *e;
	int r;

	if (!s)
		return -ENOENT;
	r = overlay_fdb_args(s, mac_str, remote, mac, &a, err);
	if (r < 0)
		return r;
	if (overlay_mac_is_zero(mac)) {
		if (!remote)
			return error_set(err, -EINVAL, "'remote' is missing");
		for (unsigned int i = 0; i < s->nremotes; i++) {
			if (overlay_addr_same(&s->remotes[i], &a)) {
				memmove(&s->remotes[i], &s->remotes[i + 1],
					(s->nremotes - i - 1) * sizeof(s->remotes[0]));
				s->nremotes--;
				return 0;
			}
		}
		return error_set(err, -ENOENT, "remote=%s is not on the flooding list", remote);
	}
	e = mac_table_lookup(s->fdb, mac, loop_now_ns());
	if (!e || (remote && !overlay_addr_same(mac_entry_value(e), &a)))
		return error_set(err, -ENOENT, "mac=%s: no such entry", mac_str);
	return mac_table_del(s->fdb, mac);
}

struct overlay_fdb_walk {
	overlay_fdb_fn *fn;
	void *opaque;
	int64_t now;
};

static void overlay_fdb_entry(void *opaque, struct mac_entry *e)
{
	struct overlay_fdb_walk *w = opaque;
	char mac[18], ip[INET6_ADDRSTRLEN];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1],
		 e->mac[2], e->mac[3], e->mac[4], e->mac[5]);
	w->fn(w->opaque, mac, overlay_addr_str(mac_entry_value(e), ip, sizeof(ip)), e->is_static,
	      (uint64_t)((w->now - e->seen_ns) / 1000000000LL));
}

int overlay_fdb_query(const char *netdev, overlay_fdb_fn *fn, void *opaque, struct error *err)
{
	struct overlay_state *s = overlay_find(netdev, err);
	struct overlay_fdb_walk w = { fn, opaque, loop_now_ns() };
	char ip[INET6_ADDRSTRLEN];

	if (!s)
		return -ENOENT;
	if (s->has_group)
		fn(opaque, "00:00:00:00:00:00", overlay_addr_str(&s->group, ip, sizeof(ip)), true,
		   0);
	for (unsigned int i = 0; i < s->nremotes; i++)
		fn(opaque, "00:00:00:00:00:00", overlay_addr_str(&s->remotes[i], ip, sizeof(ip)),
		   true, 0);
	mac_table_foreach(s->fdb, w.now, overlay_fdb_entry, &w);
	return 0;
}
