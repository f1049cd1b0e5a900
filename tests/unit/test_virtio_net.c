// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_virtio_net.c - the virtio-net device driven as a hypervisor and a guest would: a
 * vhost-user front end on the device's socket, guest memory in a memfd, split rings written
 * by a small driver in the test, and a peer net client with an ops table. Covered: tx from
 * the guest reaches the peer with its header, rx from the peer lands in guest buffers (one,
 * and mergeable across several), backpressure (a peer that holds a packet stops tx until it
 * is flushed), link down, a broken tx chain (the device stops until the front end
 * reconnects, then works again), and poll-us (the rings are polled with notifications off
 * under traffic, and wait for kicks again once idle).
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/netdev.h"
#include "fdpass.h"
#include "vhost-user/message.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define QSIZE 16
#define MEM_SIZE (1u << 20)
#define UVA_BASE 0x7e0000000000ULL
#define RING_AREA 0x4000u /* per vring: desc, avail at +0x1000, used at +0x2000 */
#define BUF_BASE 0x40000u
#define BUF_AREA 0x10000u /* per vring: QSIZE buffers of BUF_SIZE */
#define BUF_SIZE 0x1000u
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_LEN 60
#define WAIT_ROUNDS 100

/* The peer: a back end that records what it receives and can hold packets back. */
struct peer {
	struct net_client nc;
	unsigned int got;
	uint8_t last[4096];
	size_t last_len;
	unsigned int last_flags;
	bool block;
};

static ssize_t peer_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	struct peer *p = (struct peer *)nc;
	size_t len = net_iov_size(iov, iovcnt), off = 0;

	if (p->block)
		return 0;
	p->got++;
	p->last_flags = flags;
	p->last_len = len;
	for (int i = 0; i < iovcnt && off < sizeof(p->last); i++) {
		size_t n =
		    iov[i].iov_len < sizeof(p->last) - off ? iov[i].iov_len : sizeof(p->last) - off;

		memcpy(p->last + off, iov[i].iov_base, n);
		off += n;
	}
	return (ssize_t)len;
}

static bool peer_accepts_vnet_hdr(struct net_client *nc)
{
	return true;
}

static const struct net_client_ops peer_ops = {
    .type = "testpeer",
    .size = sizeof(struct peer),
    .receive_iov = peer_receive,
    .accepts_vnet_hdr = peer_accepts_vnet_hdr,
};

/* One split ring as the guest driver sees it. */
struct drv {
	unsigned int idx;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
	uint16_t next_desc;
	uint16_t next_buf;
	int kick;
	int call;
};

static struct loop *loop;
static struct peer *peer;
static uint8_t *mem;
static int memfd = -1;
static int fe = -1;
static char sock_path[108];
static struct drv rings[2]; /* rx = vring 0, tx = vring 1 */
static uint64_t start_poll_us; /* poll-us= of the next start() */
static bool start_no_in_order; /* in_order=off for the next start() */

static void pump_n(int rounds)
{
	for (int i = 0; i < rounds; i++)
		loop_run_once(loop, 1);
}

/* vhost-user front end */

static void vu_send(uint32_t req, const void *payload, uint32_t size, int fd)
{
	struct vhost_user_header h = {req, VHOST_USER_VERSION, size};
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, size}};

	assert_int_equal(fdpass_send(fe, iov, size ? 2 : 1, &fd, fd >= 0 ? 1 : 0),
			 (ssize_t)(sizeof(h) + size));
}

static uint64_t vu_get_u64(uint32_t req)
{
	struct {
		struct vhost_user_header h;
		uint64_t v;
	} __attribute__((packed)) r;
	ssize_t n = 0;

	vu_send(req, NULL, 0, -1);
	for (int i = 0; i < WAIT_ROUNDS && n <= 0; i++) {
		loop_run_once(loop, 5);
		n = recv(fe, &r, sizeof(r), MSG_DONTWAIT);
	}
	assert_int_equal(n, sizeof(r));
	assert_int_equal(r.h.request, req);
	return r.v;
}

static void drv_init(struct drv *d, unsigned int idx)
{
	uint8_t *base = mem + idx * RING_AREA;

	memset(d, 0, sizeof(*d));
	d->idx = idx;
	d->desc = (struct vring_desc *)base;
	d->avail = (struct vring_avail *)(base + 0x1000);
	d->used = (struct vring_used *)(base + 0x2000);
	d->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(d->kick >= 0 && d->call >= 0);
}

static void drv_setup_vring(struct drv *d)
{
	struct vhost_vring_state st = {d->idx, QSIZE};
	struct vhost_vring_addr a = {
	    .index = d->idx,
	    .desc_user_addr = UVA_BASE + d->idx * RING_AREA,
	    .avail_user_addr = UVA_BASE + d->idx * RING_AREA + 0x1000,
	    .used_user_addr = UVA_BASE + d->idx * RING_AREA + 0x2000,
	};
	uint64_t u = d->idx;

	vu_send(VHOST_USER_SET_VRING_NUM, &st, sizeof(st), -1);
	vu_send(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), -1);
	st.num = 0;
	vu_send(VHOST_USER_SET_VRING_BASE, &st, sizeof(st), -1);
	vu_send(VHOST_USER_SET_VRING_CALL, &u, sizeof(u), d->call);
	vu_send(VHOST_USER_SET_VRING_KICK, &u, sizeof(u), d->kick);
}

/* A guest buffer of this ring: its guest-physical address. */
static uint64_t drv_buf(struct drv *d)
{
	uint64_t gpa = BUF_BASE + d->idx * BUF_AREA + (uint64_t)(d->next_buf % QSIZE) * BUF_SIZE;

	d->next_buf++;
	return gpa;
}

/* Make a chain of @n descriptors available; returns its head. */
static uint16_t drv_add(struct drv *d, const uint64_t *addr, const uint32_t *len, int n,
			bool writable)
{
	uint16_t head = d->next_desc % QSIZE;

	for (int i = 0; i < n; i++) {
		uint16_t slot = (uint16_t)((d->next_desc + i) % QSIZE);

		d->desc[slot].addr = addr[i];
		d->desc[slot].len = len[i];
		d->desc[slot].flags = (uint16_t)((writable ? VRING_DESC_F_WRITE : 0) |
						 (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		d->desc[slot].next = (uint16_t)((slot + 1) % QSIZE);
	}
	d->next_desc = (uint16_t)(d->next_desc + n);
	d->avail->ring[d->avail_idx % QSIZE] = head;
	__atomic_store_n(&d->avail->idx, ++d->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void drv_kick(struct drv *d)
{
	uint64_t one = 1;

	assert_int_equal(write(d->kick, &one, sizeof(one)), sizeof(one));
}

static uint16_t drv_used(struct drv *d)
{
	return __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE);
}

/* Run the loop until the used index reaches @want (or time runs out); return it. */
static uint16_t drv_wait_used(struct drv *d, uint16_t want)
{
	for (int i = 0; i < WAIT_ROUNDS && drv_used(d) != want; i++)
		loop_run_once(loop, 5);
	return drv_used(d);
}

/* Queue one tx frame (header + FRAME_LEN bytes of @fill, in one descriptor) and kick. */
static void guest_tx(uint8_t fill, bool kick)
{
	struct drv *d = &rings[1];
	uint64_t gpa = drv_buf(d);
	uint32_t len = HDR_LEN + FRAME_LEN;
	struct virtio_net_hdr_v1 hdr = {.hdr_len = 14};

	memcpy(mem + gpa, &hdr, HDR_LEN);
	memset(mem + gpa + HDR_LEN, fill, FRAME_LEN);
	drv_add(d, &gpa, &len, 1, false);
	if (kick)
		drv_kick(d);
}

/* Post @n rx buffers of @size bytes each. */
static void guest_post_rx(int n, uint32_t size)
{
	struct drv *d = &rings[0];

	for (int i = 0; i < n; i++) {
		uint64_t gpa = drv_buf(d);

		memset(mem + gpa, 0xee, size);
		drv_add(d, &gpa, &size, 1, true);
	}
	drv_kick(d);
}

static void connect_front_end(uint64_t features);

/* Create the peer and the device, connect as the front end with @features acked. */
static void start(uint64_t features)
{
	struct device_virtio_net_opts o = {0};
	struct error err = {0};

	loop = loop_new();
	assert_non_null(loop);
	peer = (struct peer *)net_client_new(&peer_ops, loop, NULL, NULL, "p0");
	assert_non_null(peer);
	peer->nc.is_netdev = true;
	snprintf(sock_path, sizeof(sock_path), "/tmp/test-virtio-net-%d.sock", (int)getpid());
	o.netdev = "p0";
	o.socket = sock_path;
	o.server = true;
	o.queues = 1;
	o.mrg_rxbuf = true;
	o.poll_us = start_poll_us;
	o.in_order = !start_no_in_order;
	start_poll_us = 0;
	start_no_in_order = false;
	if (device_init_virtio_net(&o, "vn0", loop, &err) < 0)
		fail_msg("device_init_virtio_net: %s", err.msg);

	memfd = memfd_create("test-virtio-net", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, MEM_SIZE), 0);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(mem != MAP_FAILED);

	connect_front_end(features);
}

/* Connect as the front end, ack @features, send the memory table and set up both rings. */
static void connect_front_end(uint64_t features)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct vhost_user_memory m = {.nregions = 1};
	uint64_t offered;

	memset(mem, 0, BUF_BASE);
	fe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, sock_path);
	assert_int_equal(connect(fe, (struct sockaddr *)&sun, sizeof(sun)), 0);
	pump_n(5);

	offered = vu_get_u64(VHOST_USER_GET_FEATURES);
	assert_true(offered & (1ULL << VIRTIO_F_VERSION_1));
	assert_int_equal(features & ~offered, 0);
	vu_send(VHOST_USER_SET_FEATURES, &features, sizeof(features), -1);
	m.regions[0] = (struct vhost_user_memory_region){0, MEM_SIZE, UVA_BASE, 0};
	vu_send(VHOST_USER_SET_MEM_TABLE, &m, 8 + sizeof(m.regions[0]), memfd);
	for (unsigned int i = 0; i < 2; i++) {
		drv_init(&rings[i], i);
		drv_setup_vring(&rings[i]);
	}
	pump_n(10);
}

static void drv_close(void)
{
	for (unsigned int i = 0; i < 2; i++) {
		close(rings[i].kick);
		close(rings[i].call);
	}
}

static int teardown(void **state)
{
	if (fe >= 0)
		close(fe);
	fe = -1;
	pump_n(5);
	net_client_free_all();
	drv_close();
	munmap(mem, MEM_SIZE);
	close(memfd);
	unlink(sock_path);
	loop_free(loop);
	return 0;
}

#define BASE_FEATURES (1ULL << VIRTIO_F_VERSION_1)

static void test_tx_reaches_peer(void **state)
{
	start(BASE_FEATURES);
	guest_tx(0xa1, true);
	guest_tx(0xa2, true);
	assert_int_equal(drv_wait_used(&rings[1], 2), 2);
	assert_int_equal(peer->got, 2);
	/* The peer takes vnet headers: header and frame, as the guest wrote them. */
	assert_int_equal(peer->last_len, HDR_LEN + FRAME_LEN);
	assert_true(peer->last_flags & NET_FLAG_VNET_HDR);
	assert_int_equal(((struct virtio_net_hdr_v1 *)peer->last)->hdr_len, 14);
	assert_int_equal(peer->last[HDR_LEN], 0xa2);
	assert_int_equal(peer->last[HDR_LEN + FRAME_LEN - 1], 0xa2);
	/* Used entries name the heads, with 0 bytes written. */
	assert_int_equal(rings[1].used->ring[0].id, 0);
	assert_int_equal(rings[1].used->ring[1].id, 1);
	assert_int_equal(rings[1].used->ring[1].len, 0);
}

static void test_tx_without_header_dropped(void **state)
{
	struct drv *d = &rings[1];
	uint64_t gpa;
	uint32_t len = HDR_LEN - 2;

	start(BASE_FEATURES);
	gpa = drv_buf(d);
	drv_add(d, &gpa, &len, 1, false);
	drv_kick(d);
	/* Consumed and dropped, the queue goes on. */
	assert_int_equal(drv_wait_used(d, 1), 1);
	assert_int_equal(peer->got, 0);
	guest_tx(0xb1, true);
	assert_int_equal(drv_wait_used(d, 2), 2);
	assert_int_equal(peer->got, 1);
}

static void test_rx_single_buffer(void **state)
{
	uint8_t frame[FRAME_LEN];
	const struct virtio_net_hdr_v1 *h;
	uint64_t gpa = BUF_BASE;

	start(BASE_FEATURES);
	guest_post_rx(2, BUF_SIZE);
	pump_n(5);
	memset(frame, 0x5a, sizeof(frame));
	assert_int_equal(net_send(&peer->nc, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(drv_wait_used(&rings[0], 1), 1);
	assert_int_equal(rings[0].used->ring[0].id, 0);
	assert_int_equal(rings[0].used->ring[0].len, HDR_LEN + FRAME_LEN);
	h = (const struct virtio_net_hdr_v1 *)(mem + gpa);
	assert_int_equal(h->flags, 0);
	assert_int_equal(h->gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(h->num_buffers, 1);
	assert_memory_equal(mem + gpa + HDR_LEN, frame, sizeof(frame));
	/* The guest is interrupted. */
	{
		uint64_t v = 0;

		assert_int_equal(read(rings[0].call, &v, sizeof(v)), sizeof(v));
		assert_true(v >= 1);
	}
}

static void test_rx_mergeable(void **state)
{
	uint8_t frame[2000];
	const struct virtio_net_hdr_v1 *h;
	const uint32_t bufsz = 1000;
	size_t off = 0;

	start(BASE_FEATURES | (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	guest_post_rx(4, bufsz);
	pump_n(5);
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	assert_int_equal(net_send(&peer->nc, frame, sizeof(frame)), sizeof(frame));
	/* 12 + 2000 bytes in 1000-byte buffers: three of them. */
	assert_int_equal(drv_wait_used(&rings[0], 3), 3);
	h = (const struct virtio_net_hdr_v1 *)(mem + BUF_BASE);
	assert_int_equal(h->num_buffers, 3);
	assert_int_equal(rings[0].used->ring[0].len, bufsz);
	assert_int_equal(rings[0].used->ring[1].len, bufsz);
	assert_int_equal(rings[0].used->ring[2].len, HDR_LEN + sizeof(frame) - 2 * bufsz);
	/* Reassembled from the buffers, the frame is intact. */
	for (int i = 0; i < 3; i++) {
		const uint8_t *b = mem + BUF_BASE + (uint64_t)i * BUF_SIZE;
		size_t skip = i == 0 ? HDR_LEN : 0;
		size_t n = rings[0].used->ring[i].len - skip;

		assert_memory_equal(b + skip, frame + off, n);
		off += n;
	}
	assert_int_equal(off, sizeof(frame));
}

/* Frame @i of the burst below: @len bytes of @i + 1. */
static void burst_frame(uint8_t *buf, size_t len, unsigned int i)
{
	memset(buf, (int)(i + 1), len);
}

/*
 * A burst mixes frames that fit one buffer (written straight into chains popped all at once)
 * with one that needs three mergeable buffers: every frame lands whole, in order, each with
 * its num_buffers. A later burst larger than the buffers left waits for more, still in order.
 */
/*
 * Send @n packets as one burst when the rx ring lacks buffers: the used index reaches @landed
 * and stays there until the guest posts @post more 1000-byte buffers, then reaches @after.
 */
static void rx_burst_waits(const struct net_pkt *pkts, unsigned int n, uint16_t landed, int post,
			   uint16_t after)
{
	assert_int_equal(net_send_burst(&peer->nc, pkts, n, NULL), n);
	assert_int_equal(drv_wait_used(&rings[0], landed), landed);
	pump_n(5);
	assert_int_equal(drv_used(&rings[0]), landed);
	guest_post_rx(post, 1000);
	assert_int_equal(drv_wait_used(&rings[0], after), after);
}

static void test_rx_burst_mixed(void **state)
{
	static uint8_t frames[4][2000];
	const size_t lens[4] = { FRAME_LEN, 2000, FRAME_LEN, FRAME_LEN };
	const uint16_t heads[4] = { 0, 1, 4, 5 }, nbufs[4] = { 1, 3, 1, 1 };
	struct iovec iov[4];
	struct net_pkt pkts[4];

	start(BASE_FEATURES | (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	guest_post_rx(8, 1000);
	pump_n(5);
	for (unsigned int i = 0; i < 4; i++) {
		burst_frame(frames[i], lens[i], i);
		iov[i] = (struct iovec){ frames[i], lens[i] };
		pkts[i] = (struct net_pkt){ .iov = &iov[i], .iovcnt = 1, .len = lens[i] };
	}
	assert_int_equal(net_send_burst(&peer->nc, pkts, 4, NULL), 4);
	assert_int_equal(drv_wait_used(&rings[0], 6), 6);
	for (unsigned int i = 0; i < 4; i++) {
		const uint8_t *b = mem + BUF_BASE + (uint64_t)heads[i] * BUF_SIZE;
		const struct virtio_net_hdr_v1 *h = (const void *)b;

		assert_int_equal(rings[0].used->ring[heads[i]].id, heads[i]);
		assert_int_equal(h->num_buffers, nbufs[i]);
		if (nbufs[i] == 1) {
			assert_int_equal(rings[0].used->ring[heads[i]].len, HDR_LEN + lens[i]);
			assert_memory_equal(b + HDR_LEN, frames[i], lens[i]);
		}
	}
	/* The three buffers of frame 1: 988 + 1000 + 12 bytes of it. */
	assert_memory_equal(mem + BUF_BASE + BUF_SIZE + HDR_LEN, frames[1], 1000 - HDR_LEN);
	assert_memory_equal(mem + BUF_BASE + 2 * BUF_SIZE, frames[1] + 988, 1000);
	assert_memory_equal(mem + BUF_BASE + 3 * BUF_SIZE, frames[1] + 1988, 12);
	assert_int_equal(rings[0].used->ring[3].len, 12);

	/* Four small frames, two buffers left: two land, two wait for the next buffers. */
	for (unsigned int i = 0; i < 4; i++) {
		burst_frame(frames[i], FRAME_LEN, 10 + i);
		iov[i].iov_len = pkts[i].len = FRAME_LEN;
	}
	rx_burst_waits(pkts, 4, 8, 2, 10);
	for (unsigned int i = 0; i < 4; i++) {
		const uint8_t *b = mem + BUF_BASE + (uint64_t)(6 + i) * BUF_SIZE;

		assert_int_equal(rings[0].used->ring[6 + i].id, 6 + i);
		assert_memory_equal(b + HDR_LEN, frames[i], FRAME_LEN);
	}
}

/*
 * VIRTIO_F_IN_ORDER: every chain is used in the order it was made available, also when the
 * peer holds tx back and when rx frames wait for buffers the guest has not posted yet.
 */
static void test_in_order(void **state)
{
	static uint8_t frames[3][2000];
	const size_t lens[3] = { FRAME_LEN, 2000, FRAME_LEN };
	struct iovec iov[3];
	struct net_pkt pkts[3];
	uint16_t i;

	start(BASE_FEATURES | (1ULL << VIRTIO_F_IN_ORDER) | (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	/* Tx: held back by the peer, then sent. */
	peer->block = true;
	for (i = 0; i < 3; i++)
		guest_tx((uint8_t)(i + 1), i == 2);
	pump_n(20);
	assert_int_equal(drv_used(&rings[1]), 0);
	peer->block = false;
	net_flush_queued(&peer->nc);
	assert_int_equal(drv_wait_used(&rings[1], 3), 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(rings[1].used->ring[i].id, i);

	/* Rx: four buffers for five: frames 0 and 1 (three buffers) land, frame 2 waits. */
	guest_post_rx(4, 1000);
	pump_n(5);
	for (i = 0; i < 3; i++) {
		burst_frame(frames[i], lens[i], i);
		iov[i] = (struct iovec){ frames[i], lens[i] };
		pkts[i] = (struct net_pkt){ .iov = &iov[i], .iovcnt = 1, .len = lens[i] };
	}
	rx_burst_waits(pkts, 3, 4, 2, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(rings[0].used->ring[i].id, i);
	assert_memory_equal(mem + BUF_BASE + 4 * BUF_SIZE + HDR_LEN, frames[2], FRAME_LEN);
}

/* in_order=off: the feature is not offered. */
static void test_in_order_off(void **state)
{
	start_no_in_order = true;
	start(BASE_FEATURES);
	assert_false(vu_get_u64(VHOST_USER_GET_FEATURES) & (1ULL << VIRTIO_F_IN_ORDER));
	teardown(state);
	start(BASE_FEATURES);
	assert_true(vu_get_u64(VHOST_USER_GET_FEATURES) & (1ULL << VIRTIO_F_IN_ORDER));
}

static void test_rx_waits_for_buffers(void **state)
{
	uint8_t frame[FRAME_LEN] = {1, 2, 3};

	start(BASE_FEATURES);
	/* No buffers: the core holds the packet... */
	net_send(&peer->nc, frame, sizeof(frame));
	pump_n(10);
	assert_int_equal(drv_used(&rings[0]), 0);
	/* ...and the guest's rx kick delivers it. */
	guest_post_rx(1, BUF_SIZE);
	assert_int_equal(drv_wait_used(&rings[0], 1), 1);
	assert_memory_equal(mem + BUF_BASE + HDR_LEN, frame, sizeof(frame));
}

static void test_tx_backpressure(void **state)
{
	start(BASE_FEATURES);
	peer->block = true;
	guest_tx(1, false);
	guest_tx(2, false);
	guest_tx(3, true);
	/* The peer takes nothing: the chains stay in the guest's ring, nothing is copied, and
	 * the device waits in the peer's queue (one waiter, no packet) instead of popping. */
	pump_n(50);
	assert_int_equal(drv_used(&rings[1]), 0);
	assert_int_equal(peer->got, 0);
	assert_int_equal(net_queue_length(&peer->nc), 1);
	/* Once the peer takes packets again, everything goes through, in order. */
	peer->block = false;
	net_flush_queued(&peer->nc);
	assert_int_equal(drv_wait_used(&rings[1], 3), 3);
	assert_int_equal(peer->got, 3);
	assert_int_equal(peer->last[HDR_LEN], 3);
}

static void test_link_down(void **state)
{
	struct net_client *vn;
	uint8_t frame[FRAME_LEN] = {9};

	start(BASE_FEATURES);
	vn = net_find("vn0");
	assert_non_null(vn);
	net_set_link(vn, false);
	/* tx is consumed and dropped. */
	guest_tx(0xc1, true);
	assert_int_equal(drv_wait_used(&rings[1], 1), 1);
	assert_int_equal(peer->got, 0);
	/* rx is dropped: the buffer stays unused. */
	guest_post_rx(1, BUF_SIZE);
	net_send(&peer->nc, frame, sizeof(frame));
	pump_n(20);
	assert_int_equal(drv_used(&rings[0]), 0);
	net_set_link(vn, true);
	guest_tx(0xc2, true);
	assert_int_equal(drv_wait_used(&rings[1], 2), 2);
	assert_int_equal(peer->got, 1);
	assert_int_equal(net_send(&peer->nc, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(drv_wait_used(&rings[0], 1), 1);
}

/* A chain outside guest memory breaks tx; the device then wants a reset (NEEDS_RESET) and
 * takes no more rx either (the frame is held, then purged at the reset); once the front end
 * reconnects, both directions flow again. */
static void test_broken_tx_chain(void **state)
{
	struct drv *d = &rings[1];
	uint64_t gpa = MEM_SIZE + 0x1000; /* outside guest memory */
	uint32_t len = HDR_LEN + FRAME_LEN;
	uint8_t frame[FRAME_LEN] = {7};

	start(BASE_FEATURES);
	drv_add(d, &gpa, &len, 1, false);
	drv_kick(d);
	pump_n(20);
	/* tx is broken: the bad chain and anything after it stay unused. */
	guest_tx(0xd1, true);
	pump_n(20);
	assert_int_equal(drv_used(d), 0);
	assert_int_equal(peer->got, 0);
	/* rx is held, not written into a device that needs a reset. */
	guest_post_rx(1, BUF_SIZE);
	pump_n(5);
	assert_int_equal(net_send(&peer->nc, frame, sizeof(frame)), 0);
	pump_n(20);
	assert_int_equal(drv_used(&rings[0]), 0);

	/* A new front end (the guest's reset) brings both directions back. */
	close(fe);
	pump_n(10);
	drv_close();
	connect_front_end(BASE_FEATURES);
	guest_post_rx(1, BUF_SIZE);
	pump_n(5);
	/* What was held for the old front end went with it (purged at the reset). */
	assert_int_equal(drv_used(&rings[0]), 0);
	frame[1] = 8;
	assert_int_equal(net_send(&peer->nc, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(drv_wait_used(&rings[0], 1), 1);
	assert_memory_equal(mem + BUF_BASE + HDR_LEN, frame, sizeof(frame));
	guest_tx(0xd2, true);
	assert_int_equal(drv_wait_used(&rings[1], 1), 1);
	assert_int_equal(peer->got, 1);
	assert_int_equal(peer->last[HDR_LEN], 0xd2);
}

/* Whether the device asks the driver not to kick on ring @d (no EVENT_IDX: the used flags). */
static bool drv_no_notify(struct drv *d)
{
	return __atomic_load_n(&d->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY;
}

/*
 * Run the loop idle until its poll window has shrunk to nothing: polling has ended and the
 * device asks for kicks again. (The vhost-user messages of the set-up come close together
 * and may have opened a window that is still open when start() returns.)
 */
static void wait_poll_idle(void)
{
	for (int i = 0; i < 40 && loop_poll_ns(loop); i++)
		loop_run_once(loop, 5);
	assert_int_equal(loop_poll_ns(loop), 0);
}

/* Send tx frames with kicks until the loop polls the device (with notifications off). */
static void open_poll_window(uint8_t *fill)
{
	for (int i = 0; i < 20 && !drv_no_notify(&rings[1]); i++) {
		guest_tx((*fill)++, true);
		assert_int_equal(drv_wait_used(&rings[1], rings[1].avail_idx), rings[1].avail_idx);
	}
	assert_true(drv_no_notify(&rings[1]));
	assert_true(loop_poll_ns(loop) > 0);
}

static void test_adaptive_poll(void **state)
{
	uint8_t frame[FRAME_LEN] = {4, 5, 6};
	uint8_t fill = 1;
	uint32_t size = BUF_SIZE;
	uint64_t gpa;

	start_poll_us = 2000;
	start(BASE_FEATURES);
	assert_int_equal(loop_poll_max_ns(loop), 2000 * 1000LL);
	/* Kicks when idle: the loop sleeps, then polls once frames come soon after its window. */
	wait_poll_idle();
	assert_false(drv_no_notify(&rings[1]));
	open_poll_window(&fill);
	/* While it polls, a frame needs no kick. */
	guest_tx(0x77, false);
	assert_int_equal(drv_wait_used(&rings[1], rings[1].avail_idx), rings[1].avail_idx);
	assert_int_equal(peer->last[HDR_LEN], 0x77);

	/* Frames for a guest without rx buffers wait; a buffer posted without a kick takes one. */
	net_send(&peer->nc, frame, sizeof(frame));
	gpa = drv_buf(&rings[0]);
	drv_add(&rings[0], &gpa, &size, 1, true);
	assert_int_equal(drv_wait_used(&rings[0], 1), 1);
	assert_memory_equal(mem + gpa + HDR_LEN, frame, sizeof(frame));

	/* Idle: the window shrinks to nothing and the device asks for kicks again. */
	wait_poll_idle();
	assert_false(drv_no_notify(&rings[1]));
	guest_tx(0x78, true);
	assert_int_equal(drv_wait_used(&rings[1], rings[1].avail_idx), rings[1].avail_idx);
	assert_int_equal(peer->last[HDR_LEN], 0x78);

	/* Frames held for want of buffers when polling stops: the rx ring asks for a kick. */
	open_poll_window(&fill);
	assert_true(drv_no_notify(&rings[0]));
	frame[0] = 9;
	net_send(&peer->nc, frame, sizeof(frame));
	wait_poll_idle();
	assert_false(drv_no_notify(&rings[0]));
	assert_int_equal(drv_used(&rings[0]), 1);
	guest_post_rx(1, BUF_SIZE);
	assert_int_equal(drv_wait_used(&rings[0], 2), 2);
	assert_int_equal(mem[BUF_BASE + BUF_SIZE + HDR_LEN], 9);
}

/* poll=on polls always, poll-us adaptively: both at once is refused, naming both. */
static void test_poll_and_poll_us(void **state)
{
	struct device_virtio_net_opts o = {0};
	struct error err = {0};

	loop = loop_new();
	assert_non_null(loop);
	o.socket = "/tmp/test-virtio-net-unused.sock";
	o.queues = 1;
	o.poll = true;
	o.poll_us = 50;
	assert_int_equal(device_init_virtio_net(&o, "vn0", loop, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "poll=on"));
	assert_non_null(strstr(err.msg, "poll-us=50"));
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_tx_reaches_peer, teardown),
	    cmocka_unit_test_teardown(test_tx_without_header_dropped, teardown),
	    cmocka_unit_test_teardown(test_rx_single_buffer, teardown),
	    cmocka_unit_test_teardown(test_rx_mergeable, teardown),
	    cmocka_unit_test_teardown(test_rx_burst_mixed, teardown),
	    cmocka_unit_test_teardown(test_in_order, teardown),
	    cmocka_unit_test_teardown(test_in_order_off, teardown),
	    cmocka_unit_test_teardown(test_rx_waits_for_buffers, teardown),
	    cmocka_unit_test_teardown(test_tx_backpressure, teardown),
	    cmocka_unit_test_teardown(test_link_down, teardown),
	    cmocka_unit_test_teardown(test_broken_tx_chain, teardown),
	    cmocka_unit_test_teardown(test_adaptive_poll, teardown),
	    cmocka_unit_test(test_poll_and_poll_us),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
