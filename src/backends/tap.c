// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tap.c - the tap back end (-netdev tap), one net client per queue of a Linux tap interface.
 *
 * In: the fd is readable and the peer can take packets: up to TAP_BATCH frames are read, into
 * buffers the peer lends (a guest's rx ring) or else the queue's own, which go to the peer as
 * one burst (with their vnet header when the peer takes one, so GSO frames pass whole; else
 * past it, without a copy); what the peer did not take stays in them and stops reading until
 * the peer calls back. Out: receive_iov writev()s the peer's iovecs straight to the
 * fd (a zeroed vnet header in front when the packet has none); a full tap returns 0 and waits
 * for POLLOUT, then flushes the queue. The OS part is tap-linux.c.
 *
 * Where io_uring is allowed (tap-uring.c, uring= on by default), a burst the peer sends is
 * written with one system call, and frames read into the queue's own buffers are read a batch
 * at a time, the batch growing while every read of it finds a frame; frames read into lent
 * buffers still take one readv each.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/bridge.h"
#include "backends/tap.h"
#include "core/log.h"
#include "core/netdev.h"
#include "core/offload.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Frames read per readable event before other fds get their turn (vhost-net's weight). */
#define TAP_BATCH 64
/*
 * Reads submitted at once on a ring: the first batch, and the least after a short one (a
 * frame and the read that finds nothing, as plain calls would do).
 */
#define TAP_READ_AHEAD_MIN 2
/* Iovecs of the frames of one burst written through the ring. */
#define TAP_TX_IOV 1024
/* Most iovecs of lent buffers one frame is read into. */
#define TAP_LEND_IOV 256
/* Largest frame without offloads at the default MTU (1500, a VLAN tag), vnet header included. */
#define TAP_LEND_DEFAULT (NET_VNET_HDR_LEN + 14 + 4 + 1500)

/* Offloads the kernel may leave to the peer when the peer takes vnet headers. */
#define TAP_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

/* QEMU's sndbuf default: "unlimited", so that a slow peer never blocks the guest's sender. */
#define TAP_SNDBUF_DEFAULT INT_MAX

/* "no" (or nothing) for script=/downscript= means no script, as in QEMU. */
#define TAP_NO_SCRIPT "no"

/**
 * struct tap - one queue of a tap netdev
 * @nc:		the net client (first)
 * @fd:		the queue's tap fd
 * @vnet_hdr:	the fd carries a NET_VNET_HDR_LEN-byte virtio_net_hdr_v1 before each frame
 * @offload_on:	the kernel may currently hand over partial (GSO, unchecksummed) frames
 * @offloads:	the TUN_F_* bits used when offloads are on
 * @read_poll:	reading is allowed (false while a send of ours waits in the peer's queue)
 * @write_poll:	waiting for the fd to become writable after EAGAIN
 * @gone:	the interface vanished under us: the fd is no longer polled
 * @ifname:	the interface's name
 * @downscript:	run with @ifname at cleanup (queue 0 only), or NULL
 * @buf:	the queue's receive buffers, TAP_BATCH of NET_MAX_PACKET bytes
 * @iov:	the frames read into @buf, one iovec each
 * @pkts:	the burst of them
 * @held:	frames in @pkts; those from @held_next on the peer has not taken yet
 * @held_next:	the first of those
 * @resume_bh:	sends the held frames on after the peer called back
 * @lend_len:	bytes of a peer's buffers to borrow per frame while offloads are off
 * @uring:	the ring its frames are read and written through in batches, or NULL
 * @read_ahead:	reads to submit at once on @uring
 * @tx_iov:	TAP_TX_IOV iovecs: the frames of a burst written through @uring
 * @uring_calls: system calls made on @uring
 * @uring_rx:	frames read through it
 * @uring_tx:	frames written through it
 * @rl:		rate limit of this queue's warnings
 */
struct tap {
	struct net_client nc;
	int fd;
	bool vnet_hdr;
	bool offload_on;
	unsigned int offloads;
	bool read_poll;
	bool write_poll;
	bool gone;
	char ifname[IFNAMSIZ];
	char *downscript;
	uint8_t *buf;
	struct iovec iov[TAP_BATCH];
	struct net_pkt pkts[TAP_BATCH];
	unsigned int held;
	unsigned int held_next;
	struct loop_bh *resume_bh;
	size_t lend_len;
	struct tap_uring *uring;
	unsigned int read_ahead;
	struct iovec *tx_iov;
	uint64_t uring_calls;
	uint64_t uring_rx;
	uint64_t uring_tx;
	struct log_ratelimit rl;
};

static const struct virtio_net_hdr_v1 tap_zero_hdr;

static void tap_send(void *opaque);
static void tap_writable(void *opaque);

static bool tap_can_read(void *opaque)
{
	struct tap *tap = opaque;

	return tap->read_poll && net_can_send(&tap->nc);
}

static void tap_update_fd_handler(struct tap *tap)
{
	if (tap->gone)
		return;
	loop_set_fd_handler(tap->nc.loop, tap->fd, tap_can_read, tap_send,
			    tap->write_poll ? tap_writable : NULL, tap);
}

static void tap_write_poll(struct tap *tap, bool enable)
{
	if (tap->write_poll == enable)
		return;
	tap->write_poll = enable;
	tap_update_fd_handler(tap);
}

/*
 * The interface was deleted (the fd is detached: EBADFD, or EIO on read): say so once and
 * stop polling the fd, which would otherwise report an error forever. Writes to it then fail
 * fast and count as drops; the rest of the daemon carries on.
 */
static void tap_set_gone(struct tap *tap, const char *op, int errnum)
{
	if (tap->gone)
		return;
	log_warn("netdev %s: tap %s is gone (%s: %s); no longer polling it", tap->nc.name,
		 tap->ifname, op, strerror(errnum));
	loop_set_fd_handler(tap->nc.loop, tap->fd, NULL, NULL, NULL, NULL);
	tap->gone = true;
	tap->read_poll = false;
	tap->write_poll = false;
}

/*
 * Offloads on exactly while the peer takes vnet headers: then GSO frames go out whole; when
 * it does not, the kernel finishes segmentation and checksums itself, which is cheaper than
 * doing it here. Called once per batch: a hub's answer changes when its other ports change,
 * and a new peer may still be under construction when peer_changed would tell us of it.
 */
static bool tap_sync_offload(struct tap *tap)
{
	bool want = net_peer_accepts_vnet_hdr(&tap->nc);

	if (want != tap->offload_on) {
		int ret = tap_linux_set_offload(tap->fd, want ? tap->offloads : 0);

		if (ret < 0) {
			log_ratelimited_warn(&tap->rl, "netdev %s: TUNSETOFFLOAD on %s: %s",
					     tap->nc.name, tap->ifname, strerror(-ret));
			return false;
		}
		tap->offload_on = want;
	}
	return want;
}

/* Whether a frame read with offloads possibly on still needs its vnet header. */
static bool tap_hdr_needed(const uint8_t *buf)
{
	struct virtio_net_hdr_v1 hdr;

	memcpy(&hdr, buf, sizeof(hdr));
	return hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE || (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

static void tap_read_failed(struct tap *tap, int errnum)
{
	if (errnum == EBADFD || errnum == EIO) {
		tap_set_gone(tap, "read", errnum);
		/* What waited for POLLOUT now drops, rather than fill the queue. */
		if (tap->nc.receive_disabled)
			net_flush_queued(&tap->nc);
	} else {
		log_ratelimited_warn(&tap->rl, "netdev %s: read from %s: %s", tap->nc.name,
				     tap->ifname, strerror(errnum));
	}
}

/*
 * Zero-copy receive: when the peer lends its buffers (a guest's rx ring), read the frame
 * straight into them, the kernel writing the vnet header first. Without offloads frames are
 * at most tap->lend_len bytes; a larger one (a jumbo MTU) comes back truncated with its full
 * length: it is dropped, and from then on 64 KiB are lent. Return 1 when a frame was read,
 * 0 when nothing was lent (read the ordinary way), -1 when reading must stop.
 */
static int tap_read_lent(struct tap *tap, bool peer_vnet)
{
	struct iovec iov[TAP_LEND_IOV];
	size_t max = peer_vnet ? NET_MAX_PACKET : tap->lend_len;
	ssize_t len;
	int n;

	n = net_rx_lend(&tap->nc, iov, TAP_LEND_IOV, max, NET_FLAG_VNET_HDR);
	if (n <= 0)
		return 0;
	len = readv(tap->fd, iov, n);
	if (len >= NET_VNET_HDR_LEN && (size_t)len <= max) {
		net_rx_commit(&tap->nc, (size_t)len, NET_FLAG_VNET_HDR);
		return 1;
	}
	net_rx_commit(&tap->nc, 0, NET_FLAG_VNET_HDR);
	if (len > 0) {
		log_ratelimited_warn(&tap->rl,
				     "netdev %s: %zd-byte frame from %s exceeded %zu: dropped; "
				     "lending 64 KiB from now on", tap->nc.name, len, tap->ifname,
				     max);
		tap->lend_len = NET_MAX_PACKET;
		tap->nc.stats.tx_dropped++;
		return 1;
	}
	if (len < 0 && errno == EINTR)
		return 1;
	if (len < 0 && errno != EAGAIN)
		tap_read_failed(tap, errno);
	return -1;
}

/* The peer may take more: send the frames it left in our buffers (from the loop, not its call). */
static void tap_burst_sent(struct net_client *nc, ssize_t ret)
{
	(void)ret;
	loop_bh_schedule(((struct tap *)nc)->resume_bh);
}

/* Send the frames in our buffers; keep what the peer does not take, and stop reading. */
static void tap_send_held(struct tap *tap)
{
	unsigned int n = tap->held - tap->held_next;
	unsigned int taken = net_send_burst(&tap->nc, tap->pkts + tap->held_next, n,
					    tap_burst_sent);

	if (taken < n) {
		tap->held_next += taken;
		tap->read_poll = false;
		return;
	}
	tap->held = tap->held_next = 0;
	tap->read_poll = !tap->gone; /* the loop's gate resumes polling the fd */
}

static void tap_resume(void *opaque)
{
	struct tap *tap = opaque;

	if (tap->held)
		tap_send_held(tap);
}

/* The ring failed: say why once, close it, and go on with plain calls. */
static void tap_uring_failed(struct tap *tap, int ret)
{
	log_warn("netdev %s: io_uring on %s failed (%s); reading and writing with plain calls",
		 tap->nc.name, tap->ifname, strerror(-ret));
	tap_uring_free(tap->uring);
	tap->uring = NULL;
}

static uint8_t *tap_buf(struct tap *tap, unsigned int i)
{
	return tap->buf + (size_t)i * NET_MAX_PACKET;
}

/*
 * Make the @len bytes read into buffer @b packet @i. Return 1 when it is there, 0 when it was
 * dropped.
 */
static int tap_fill_pkt(struct tap *tap, unsigned int i, unsigned int b, size_t len,
			bool peer_vnet)
{
	uint8_t *buf = tap_buf(tap, b);
	struct iovec *iov = &tap->iov[i];
	unsigned int flags = 0;

	iov->iov_base = buf;
	iov->iov_len = len;
	if (tap->vnet_hdr) {
		if (len < NET_VNET_HDR_LEN) {
			log_ratelimited_warn(&tap->rl, "netdev %s: %zu-byte read from %s",
					     tap->nc.name, len, tap->ifname);
			return 0;
		}
		/*
		 * A frame read while offloads were on may still be partial after the peer
		 * stopped taking vnet headers: then the core finishes or drops it.
		 */
		if (peer_vnet || tap_hdr_needed(buf)) {
			flags = NET_FLAG_VNET_HDR;
		} else {
			iov->iov_base = buf + NET_VNET_HDR_LEN;
			iov->iov_len -= NET_VNET_HDR_LEN;
		}
	}
	tap->pkts[i] = (struct net_pkt){ .iov = iov, .iovcnt = 1, .flags = flags,
					 .len = iov->iov_len };
	return 1;
}

/*
 * Read frames into our buffers from @*b on, as packets from @*m on, at most @max of them.
 * Return false when reading must stop (nothing more to read, or an error).
 */
static bool tap_read_bufs(struct tap *tap, unsigned int *m, unsigned int *b, unsigned int max,
			  bool peer_vnet)
{
	struct iovec iov[TAP_BATCH];
	int iovcnt[TAP_BATCH];
	ssize_t res[TAP_BATCH];
	unsigned int k, got = 0;
	bool more = true;
	int ret;

	if (!tap->uring) {
		ssize_t len;

		do {
			len = read(tap->fd, tap_buf(tap, *b), NET_MAX_PACKET);
		} while (len < 0 && errno == EINTR);
		if (len < 0) {
			if (errno != EAGAIN)
				tap_read_failed(tap, errno);
			return false;
		}
		*m += (unsigned int)tap_fill_pkt(tap, *m, *b, (size_t)len, peer_vnet);
		(*b)++;
		return true;
	}
	k = tap->read_ahead < max ? tap->read_ahead : max;
	if (!k)
		return false;
	for (unsigned int i = 0; i < k; i++) {
		iov[i] = (struct iovec){ .iov_base = tap_buf(tap, *b + i),
					 .iov_len = NET_MAX_PACKET };
		iovcnt[i] = 1;
	}
	ret = tap_uring_rw(tap->uring, tap->fd, false, iov, iovcnt, k, res);
	tap->uring_calls++;
	if (ret < 0) {
		tap_uring_failed(tap, ret);
		return true;
	}
	/* A read that found nothing may be followed by one that found a frame: both in order. */
	for (unsigned int i = 0; i < k; i++) {
		if (res[i] < 0) {
			if (res[i] != -EAGAIN && res[i] != -EINTR)
				tap_read_failed(tap, (int)-res[i]);
			more = false;
			continue;
		}
		got++;
		*m += (unsigned int)tap_fill_pkt(tap, *m, *b + i, (size_t)res[i], peer_vnet);
	}
	tap->uring_rx += got;
	*b += k;
	/* Read more at once while all found a frame; after a short batch, about what came. */
	if (got == k)
		tap->read_ahead = k * 2 < TAP_BATCH ? k * 2 : TAP_BATCH;
	else
		tap->read_ahead = got * 2 > TAP_READ_AHEAD_MIN ? got * 2 : TAP_READ_AHEAD_MIN;
	return more;
}

static void tap_send(void *opaque)
{
	struct tap *tap = opaque;
	bool peer_vnet = false;
	unsigned int m = 0, b = 0, n = 0;

	if (tap->vnet_hdr)
		peer_vnet = tap_sync_offload(tap);
	/* @n frames read in all, @b of our buffers used, @m packets in them */
	while (n < TAP_BATCH && tap->read_poll) {
		unsigned int used = b;
		int ret;

		/* Lent buffers take a frame only while none waits in ours, to keep the order. */
		if (!b) {
			if (!net_can_send(&tap->nc))
				break;
			if (tap->vnet_hdr) {
				ret = tap_read_lent(tap, peer_vnet);
				if (ret > 0) {
					n++;
					continue;
				}
				if (ret < 0)
					break;
			}
		}
		if (!tap_read_bufs(tap, &m, &b, TAP_BATCH - n, peer_vnet))
			break;
		n += b - used;
	}
	if (m) {
		tap->held = m;
		tap->held_next = 0;
		tap_send_held(tap);
	}
}

static void tap_writable(void *opaque)
{
	struct tap *tap = opaque;

	tap_write_poll(tap, false);
	net_flush_queued(&tap->nc);
}

static ssize_t tap_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
			       unsigned int flags)
{
	struct tap *tap = (struct tap *)nc;
	struct iovec with_hdr[IOV_MAX];
	const struct iovec *out = iov;
	int outcnt = iovcnt;
	ssize_t ret;

	if (tap->gone)
		return -ENODEV;
	if (tap->vnet_hdr && !(flags & NET_FLAG_VNET_HDR)) {
		if (iovcnt >= IOV_MAX)
			return -EMSGSIZE;
		with_hdr[0].iov_base = (void *)&tap_zero_hdr;
		with_hdr[0].iov_len = NET_VNET_HDR_LEN;
		memcpy(&with_hdr[1], iov, (size_t)iovcnt * sizeof(*iov));
		out = with_hdr;
		outcnt = iovcnt + 1;
	} else if (!tap->vnet_hdr && (flags & NET_FLAG_VNET_HDR)) {
		return -EINVAL; /* the core strips headers for us (accepts_vnet_hdr is false) */
	}
	do {
		ret = writev(tap->fd, out, outcnt);
	} while (ret < 0 && errno == EINTR);
	if (ret >= 0)
		return (ssize_t)net_iov_size(iov, iovcnt);
	if (errno == EAGAIN) {
		tap_write_poll(tap, true);
		return 0;
	}
	/* EIO alone means the interface is down (as when it moves to another namespace). */
	if (errno == EBADFD)
		tap_set_gone(tap, "write", errno);
	return -errno;
}

/* Frames one at a time, as the core would hand them to receive_iov. */
static unsigned int tap_receive_each(struct net_client *nc, const struct net_pkt *pkts,
				     unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		ssize_t ret = tap_receive_iov(nc, pkts[i].iov, pkts[i].iovcnt, pkts[i].flags);

		if (ret == 0)
			return i;
		if (ret < 0)
			net_rx_dropped(nc, &pkts[i]);
	}
	return n;
}

/*
 * Gather the frames of @pkts[0 .. @n) that fit into tap->tx_iov (a zeroed vnet header in
 * front of those without one) for the ring; return how many, 0 when the first must go alone.
 */
static unsigned int tap_gather(struct tap *tap, const struct net_pkt *pkts, unsigned int n,
			       int *iovcnt)
{
	unsigned int k, used = 0;

	for (k = 0; k < n; k++) {
		const struct net_pkt *p = &pkts[k];
		bool add_hdr = tap->vnet_hdr && !(p->flags & NET_FLAG_VNET_HDR);
		int cnt = p->iovcnt + add_hdr;

		if ((!tap->vnet_hdr && (p->flags & NET_FLAG_VNET_HDR)) || cnt > IOV_MAX ||
		    used + (unsigned int)cnt > TAP_TX_IOV)
			break;
		if (add_hdr)
			tap->tx_iov[used++] = (struct iovec){ .iov_base = (void *)&tap_zero_hdr,
							      .iov_len = NET_VNET_HDR_LEN };
		memcpy(&tap->tx_iov[used], p->iov, (size_t)p->iovcnt * sizeof(*p->iov));
		used += (unsigned int)p->iovcnt;
		iovcnt[k] = cnt;
	}
	return k;
}

/*
 * A burst in one system call through the ring: the writes are linked, so a full tap (or an
 * error) stops the ones after it, which go again (or wait for POLLOUT) in order.
 */
static unsigned int tap_receive_burst(struct net_client *nc, const struct net_pkt *pkts,
				      unsigned int n)
{
	struct tap *tap = (struct tap *)nc;
	int iovcnt[NET_BURST_MAX];
	ssize_t res[NET_BURST_MAX];
	unsigned int done = 0;

	while (done < n) {
		unsigned int k, i;
		int ret;

		/* A frame alone costs a system call either way: writev's is the cheaper. */
		if (!tap->uring || tap->gone || n - done == 1)
			return done + tap_receive_each(nc, pkts + done, n - done);
		k = tap_gather(tap, pkts + done, n - done, iovcnt);
		if (!k) {
			if (!tap_receive_each(nc, pkts + done, 1))
				return done;
			done++;
			continue;
		}
		ret = tap_uring_rw(tap->uring, tap->fd, true, tap->tx_iov, iovcnt, k, res);
		tap->uring_calls++;
		if (ret < 0) {
			tap_uring_failed(tap, ret);
			continue;
		}
		for (i = 0; i < k && res[i] != -ECANCELED; i++) {
			if (res[i] >= 0) {
				tap->uring_tx++;
				continue;
			}
			if (res[i] == -EAGAIN) {
				tap_write_poll(tap, true);
				return done + i;
			}
			if (res[i] == -EBADFD)
				tap_set_gone(tap, "write", EBADFD);
			net_rx_dropped(nc, &pkts[done + i]);
		}
		done += i;
	}
	return done;
}

static void tap_counters(struct net_client *nc, net_counter_fn *add, void *opaque)
{
	struct tap *tap = (struct tap *)nc;

	add(opaque, "uring", tap->uring != NULL);
	add(opaque, "uring-calls", tap->uring_calls);
	add(opaque, "uring-rx-frames", tap->uring_rx);
	add(opaque, "uring-tx-frames", tap->uring_tx);
}

static bool tap_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct tap *)nc)->vnet_hdr;
}

/* Run @script with @ifname as its argument and wait for it, as QEMU's launch_script. */
static int tap_run_script(const char *script, const char *ifname, struct error *err)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return error_set(err, -errno, "could not launch network script %s: %s", script,
				 strerror(errno));
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close_range(3, ~0U, 0);
		execl(script, script, ifname, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return error_set(err, -errno, "waiting for network script %s: %s", script,
					 strerror(errno));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return error_set(err, -EIO, "network script %s failed with status %d", script,
				 status);
	return 0;
}

static void tap_cleanup(struct net_client *nc)
{
	struct tap *tap = (struct tap *)nc;

	if (tap->fd >= 0) {
		if (!tap->gone)
			loop_set_fd_handler(nc->loop, tap->fd, NULL, NULL, NULL, NULL);
		/* As QEMU: the down script sees the interface before the fd goes. */
		if (tap->downscript) {
			struct error err = { 0 };

			if (tap_run_script(tap->downscript, tap->ifname, &err) < 0)
				log_warn("netdev %s: %s", nc->name, err.msg);
		}
		close(tap->fd);
		tap->fd = -1;
	}
	free(tap->downscript);
	free(tap->buf);
	free(tap->tx_iov);
	tap_uring_free(tap->uring);
	tap->uring = NULL;
	loop_bh_free(tap->resume_bh);
	tap->resume_bh = NULL;
}

static const struct net_client_ops tap_ops = {
	.type = "tap",
	.size = sizeof(struct tap),
	.receive_iov = tap_receive_iov,
	.receive_burst = tap_receive_burst,
	.counters = tap_counters,
	.cleanup = tap_cleanup,
	.accepts_vnet_hdr = tap_accepts_vnet_hdr,
};

/*
 * Vnet header length, offloads, send buffer. A peer that accepts vnet headers takes
 * checksum, TSO and ECN offloads (a guest that negotiated GUEST_CSUM/TSO4/TSO6/ECN); USO is
 * left to the kernel, since a guest may take TSO without USO.
 */
static int tap_configure_fd(struct tap *tap, uint64_t sndbuf, bool has_sndbuf, struct error *err)
{
	int ret;

	if (tap->vnet_hdr) {
		ret = tap_linux_set_vnet_hdr_len(tap->fd, NET_VNET_HDR_LEN);
		if (ret < 0)
			return error_set(err, ret, "%s: cannot set a %d-byte vnet header: %s",
					 tap->ifname, NET_VNET_HDR_LEN, strerror(-ret));
		tap->offloads = TAP_OFFLOADS;
		ret = tap_linux_set_offload(tap->fd, 0);
		if (ret < 0)
			return error_set(err, ret, "%s: TUNSETOFFLOAD: %s", tap->ifname,
					 strerror(-ret));
	}
	ret = tap_linux_set_sndbuf(tap->fd, has_sndbuf ? sndbuf : TAP_SNDBUF_DEFAULT);
	if (ret < 0 && has_sndbuf)
		return error_set(err, ret, "TUNSETSNDBUF ioctl failed: %s", strerror(-ret));
	return 0;
}

/*
 * The ring, unless uring=off. Without uring= a kernel or sandbox that refuses io_uring
 * leaves plain calls; uring=on makes that an error.
 */
static int tap_open_uring(struct tap *tap, const struct netdev_tap_opts *o, struct error *err)
{
	int ret;

	if (o && o->has_uring && !o->uring)
		return 0;
	tap->uring = tap_uring_new(TAP_BATCH, &ret);
	if (!tap->uring) {
		if (o && o->has_uring)
			return error_set(err, ret, "uring=on: %s: io_uring is not available: %s",
					 tap->ifname, strerror(-ret));
		return 0;
	}
	tap->tx_iov = calloc(TAP_TX_IOV, sizeof(*tap->tx_iov));
	if (!tap->tx_iov)
		return error_set(err, -ENOMEM, "out of memory");
	tap->read_ahead = TAP_READ_AHEAD_MIN;
	return 0;
}

/*
 * Make queue @index of netdev @name around @fd (queue 0 creates the netdev; others join
 * @first), configured by @o (NULL: the defaults). On failure @fd is closed and nothing is
 * left.
 */
static struct tap *tap_new(struct loop *loop, const char *model, const char *name,
			   struct tap *first, unsigned int index, int fd, bool vnet_hdr,
			   const char *ifname, const struct netdev_tap_opts *o, struct error *err)
{
	struct net_client *nc;
	struct tap *tap;
	int ret;

	if (index == 0)
		nc = net_client_new(&tap_ops, loop, NULL, model, name);
	else
		nc = net_client_new_queue(&first->nc, index);
	if (!nc) {
		error_set(err, -errno, "cannot create netdev %s: %s", name, strerror(errno));
		close(fd);
		return NULL;
	}
	tap = (struct tap *)nc;
	tap->fd = fd;
	tap->vnet_hdr = vnet_hdr;
	nc->is_netdev = true;
	snprintf(tap->ifname, sizeof(tap->ifname), "%s", ifname);
	/* Pages of it are touched only as frames fill them. */
	tap->buf = malloc((size_t)TAP_BATCH * NET_MAX_PACKET);
	tap->resume_bh = loop_bh_new(loop, tap_resume, tap);
	tap->lend_len = TAP_LEND_DEFAULT;
	if (!tap->buf || !tap->resume_bh) {
		error_set(err, -ENOMEM, "out of memory");
		goto err;
	}
	if (tap_configure_fd(tap, o ? o->sndbuf : 0, o && o->has_sndbuf, err) < 0)
		goto err;
	if (tap_open_uring(tap, o, err) < 0)
		goto err;
	tap->read_poll = true;
	ret = loop_set_fd_handler(loop, fd, tap_can_read, tap_send, NULL, tap);
	if (ret < 0) {
		error_set(err, ret, "cannot watch %s: %s", ifname, strerror(-ret));
		goto err;
	}
	return tap;
err:
	net_client_free(nc);
	return NULL;
}

struct net_client *tap_client_new_from_fd(struct loop *loop, const char *model, const char *name,
					  int fd, struct error *err)
{
	char ifname[IFNAMSIZ];
	bool vnet_hdr;
	struct tap *tap;
	int ret;

	ret = tap_linux_check_fd(fd, ifname, &vnet_hdr);
	if (ret < 0) {
		error_set(err, ret, "fd %d is not a tap device: %s", fd, strerror(-ret));
		close(fd);
		return NULL;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		error_set(err, -errno, "%s: cannot make it non-blocking: %s", ifname,
			  strerror(errno));
		close(fd);
		return NULL;
	}
	tap = tap_new(loop, model, name, NULL, 0, fd, vnet_hdr, ifname, NULL, err);
	return tap ? &tap->nc : NULL;
}

/* An inherited fd named by option @opt: a number naming an open tap fd. */
static int tap_parse_fd(const char *opt, const char *text, char *ifname, bool *vnet_hdr,
			struct error *err)
{
	char *end;
	long v;
	int ret;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > INT_MAX)
		return error_set(err, -EINVAL, "%s=%s: not a file descriptor number", opt, text);
	if (fcntl((int)v, F_GETFD) < 0)
		return error_set(err, -EBADF, "%s=%s: not an open file descriptor", opt, text);
	ret = tap_linux_check_fd((int)v, ifname, vnet_hdr);
	if (ret < 0)
		return error_set(err, ret, "%s=%s: not a tap device (%s)", opt, text,
				 ret == -EINVAL ? "a tun, not a tap" : strerror(-ret));
	if (fcntl((int)v, F_SETFL, O_NONBLOCK) < 0)
		return error_set(err, -errno, "%s=%s: %s", opt, text, strerror(errno));
	return (int)v;
}

static void tap_free_queues(struct tap **taps, unsigned int n)
{
	while (n-- > 0)
		net_client_free(&taps[n]->nc);
}

/* Every queue knows how many there are; 'info network' shows @info for each. */
static void tap_set_queues_info(struct tap **taps, unsigned int n, const char *info)
{
	for (unsigned int i = 0; i < n; i++) {
		taps[i]->nc.queues = n;
		snprintf(taps[i]->nc.info_str, sizeof(taps[i]->nc.info_str), "%s", info);
	}
}

/* fd= or fds=: inherited tap fds, one per queue. */
static int tap_init_fds(const struct netdev_tap_opts *o, const char *id, struct loop *loop,
			struct error *err)
{
	const char *opt = o->fd ? "fd" : "fds";
	char list[1024], *save = NULL, *tok;
	char *toks[TAP_MAX_QUEUES];
	struct tap *taps[TAP_MAX_QUEUES];
	int fds[TAP_MAX_QUEUES];
	char ifname[IFNAMSIZ], info[32];
	bool vnet_hdr = false, first_vnet = false;
	unsigned int n = 0;
	int ret;

	if (snprintf(list, sizeof(list), "%s", o->fd ? o->fd : o->fds) >= (int)sizeof(list))
		return error_set(err, -EINVAL, "%s=: too long", opt);
	/* fd= is one fd (a ':' in it is simply not a number); fds= is colon-separated. */
	for (tok = o->fd ? list : strtok_r(list, ":", &save); tok;
	     tok = o->fd ? NULL : strtok_r(NULL, ":", &save)) {
		if (n == TAP_MAX_QUEUES)
			return error_set(err, -EINVAL, "%s=: more than %d fds", opt,
					 TAP_MAX_QUEUES);
		toks[n++] = tok;
	}
	if (n == 0)
		return error_set(err, -EINVAL, "%s=: no file descriptor given", opt);
	if (o->has_queues && o->queues != n)
		return error_set(err, -EINVAL,
				 "The number of fds passed does not match the queues specified");
	for (unsigned int i = 0; i < n; i++) {
		ret = tap_parse_fd(opt, toks[i], ifname, &vnet_hdr, err);
		if (ret < 0)
			return ret;
		if (i == 0)
			first_vnet = vnet_hdr;
		else if (vnet_hdr != first_vnet)
			return error_set(err, -EINVAL,
					 "vnet_hdr not consistent across given tap fds");
		for (unsigned int j = 0; j < i; j++)
			if (fds[j] == ret)
				return error_set(err, -EINVAL, "%s=: fd %d given twice", opt, ret);
		fds[i] = ret;
	}
	for (unsigned int i = 0; i < n; i++) {
		/* Only now do the fds become ours: earlier errors leave them to the caller. */
		tap_linux_check_fd(fds[i], ifname, &vnet_hdr);
		taps[i] = tap_new(loop, "tap", id, i ? taps[0] : NULL, i, fds[i], vnet_hdr, ifname,
				  o, err);
		if (!taps[i]) {
			tap_free_queues(taps, i);
			for (unsigned int j = i + 1; j < n; j++)
				close(fds[j]);
			return err ? err->code : -EINVAL;
		}
	}
	tap_set_queues_info(taps, n, "");
	for (unsigned int i = 0; i < n; i++) {
		snprintf(info, sizeof(info), "fd=%d", fds[i]);
		snprintf(taps[i]->nc.info_str, sizeof(taps[i]->nc.info_str), "%s", info);
	}
	return 0;
}

/* helper=: the bridge helper creates the tap and attaches it to br= (default br0). */
static int tap_init_helper(const struct netdev_tap_opts *o, const char *id, struct loop *loop,
			   struct error *err)
{
	struct net_client *nc;
	int fd;

	fd = bridge_run_helper(o->helper, o->br ? o->br : BRIDGE_DEFAULT_BR, err);
	if (fd < 0)
		return fd;
	nc = tap_client_new_from_fd(loop, "bridge", id, fd, err);
	if (!nc)
		return err ? err->code : -EINVAL;
	snprintf(nc->info_str, sizeof(nc->info_str), "helper=%s", o->helper);
	return 0;
}

static bool tap_script_given(const char *s)
{
	return s && s[0] && strcmp(s, TAP_NO_SCRIPT);
}

static int tap_check_script(const char *opt, const char *s, struct error *err)
{
	if (tap_script_given(s) && access(s, X_OK) < 0)
		return error_set(err, -errno, "%s=%s: %s", opt, s, strerror(errno));
	return 0;
}

/* ifname=, script=, downscript=, vnet_hdr=, queues=: vwire opens the tap itself. */
static int tap_init_open(const struct netdev_tap_opts *o, const char *id, struct loop *loop,
			 struct error *err)
{
	unsigned int queues = o->has_queues ? (unsigned int)o->queues : 1;
	struct tap *taps[TAP_MAX_QUEUES];
	char ifname[IFNAMSIZ] = "";
	char info[sizeof(taps[0]->nc.info_str)];
	bool vnet_hdr = false;
	int ret;

	if (o->ifname && snprintf(ifname, sizeof(ifname), "%s", o->ifname) >= (int)sizeof(ifname))
		return error_set(err, -EINVAL, "ifname=%s: longer than %d characters", o->ifname,
				 IFNAMSIZ - 1);
	ret = tap_check_script("script", o->script, err);
	if (ret < 0)
		return ret;
	ret = tap_check_script("downscript", o->downscript, err);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < queues; i++) {
		bool want = o->has_vnet_hdr ? o->vnet_hdr : true;
		int fd;

		fd = tap_linux_open(ifname, &want, o->has_vnet_hdr && o->vnet_hdr, queues > 1, err);
		if (fd < 0) {
			tap_free_queues(taps, i);
			return fd;
		}
		if (i == 0) {
			vnet_hdr = want;
		} else if (want != vnet_hdr) {
			close(fd);
			tap_free_queues(taps, i);
			return error_set(err, -EINVAL, "%s: vnet_hdr differs between queues",
					 ifname);
		}
		if (i == 0 && tap_script_given(o->script)) {
			ret = tap_run_script(o->script, ifname, err);
			if (ret < 0) {
				close(fd);
				return ret;
			}
		}
		taps[i] = tap_new(loop, "tap", id, i ? taps[0] : NULL, i, fd, vnet_hdr, ifname,
				  o, err);
		if (!taps[i]) {
			tap_free_queues(taps, i);
			return err ? err->code : -EINVAL;
		}
		if (i == 0 && tap_script_given(o->downscript)) {
			taps[0]->downscript = strdup(o->downscript);
			if (!taps[0]->downscript) {
				tap_free_queues(taps, 1);
				return error_set(err, -ENOMEM, "out of memory");
			}
		}
	}
	snprintf(info, sizeof(info), "ifname=%s,script=%s,downscript=%s", ifname,
		 tap_script_given(o->script) ? o->script : TAP_NO_SCRIPT,
		 tap_script_given(o->downscript) ? o->downscript : TAP_NO_SCRIPT);
	tap_set_queues_info(taps, queues, info);
	/* As QEMU: only queue 0 runs the scripts. */
	for (unsigned int i = 1; i < queues; i++)
		snprintf(taps[i]->nc.info_str, sizeof(taps[i]->nc.info_str),
			 "ifname=%s,script=no,downscript=no", ifname);
	return 0;
}

int net_init_tap(const struct netdev_tap_opts *o, const char *id, struct loop *loop,
		 struct error *err)
{
	if (o->has_vhost && o->vhost)
		return error_set(err, -ENOTSUP,
				 "vhost=on: vhost-net is not supported; vwire moves the packets "
				 "itself (use vhost=off or leave it out)");
	if (o->has_queues && (o->queues < 1 || o->queues > TAP_MAX_QUEUES))
		return error_set(err, -EINVAL, "queues=%llu: must be between 1 and %d",
				 (unsigned long long)o->queues, TAP_MAX_QUEUES);
	if (o->fd) {
		if (o->ifname || o->script || o->downscript || o->has_vnet_hdr || o->helper ||
		    o->has_queues || o->fds)
			return error_set(err, -EINVAL,
					 "ifname=, script=, downscript=, vnet_hdr=, helper=, "
					 "queues=, and fds= are invalid with fd=");
		return tap_init_fds(o, id, loop, err);
	}
	if (o->fds) {
		if (o->ifname || o->script || o->downscript || o->has_vnet_hdr || o->helper)
			return error_set(err, -EINVAL,
					 "ifname=, script=, downscript=, vnet_hdr=, and helper= "
					 "are invalid with fds=");
		return tap_init_fds(o, id, loop, err);
	}
	if (o->helper) {
		if (o->ifname || o->script || o->downscript || o->has_vnet_hdr || o->has_queues)
			return error_set(err, -EINVAL,
					 "ifname=, script=, downscript=, vnet_hdr=, and queues= "
					 "are invalid with helper=");
		return tap_init_helper(o, id, loop, err);
	}
	if (o->br)
		return error_set(err, -EINVAL,
				 "br=%s: needs helper= (or use -netdev bridge,br=%s)", o->br,
				 o->br);
	return tap_init_open(o, id, loop, err);
}
