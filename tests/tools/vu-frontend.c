// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vu-frontend.c - a small vhost-user front end for end-to-end tests: a virtio-net driver with
 * split (or, with -P, packed) rings in a memfd, which can also misbehave on purpose.
 *
 * Two well-behaved devices A and B (on one hub of the vwire under test) carry numbered frames
 * from A's tx ring to B's rx ring; a third device H, when given, is attacked first: its front
 * end shrinks guest memory or the inflight buffer under vwire, gives it a call fd that fills up,
 * or a kick fd that hangs up. Then A -> B must still forward. Mode skip-kick instead leaves out
 * kicks on A's tx and B's rx rings, as a driver that loses them would.
 *
 *   vu-frontend [-p VWIRE_PID [-i PERCENT]] [-P] forward A_SOCK B_SOCK
 *   vu-frontend [-p VWIRE_PID [-i PERCENT]] [-P] -t SECONDS traffic A_SOCK B_SOCK
 *   vu-frontend [-p VWIRE_PID [-i PERCENT]] [-P] skip-kick A_SOCK B_SOCK
 *
 * -i: afterwards, with A and B still connected and idle, vwire may use at most PERCENT of a
 * core over 2 s.
 *   vu-frontend [-p VWIRE_PID] shrink-mem|shrink-inflight|block-call|hup-kick H_SOCK A_SOCK B_SOCK
 *
 * Exit 0 when every check passed; 1 with a line on stderr naming the one that failed.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "vhost-user/message.h"

#define QSIZE 256
#define BUF_SIZE 2048
#define MEM_SIZE (2u << 20)
/* Guest-physical layout of the memfd: rx ring, tx ring, rx buffers, tx buffers. */
#define RX_RING 0x0000u
#define TX_RING 0x4000u
#define RING_AVAIL 0x1000u
#define RING_USED 0x2000u
#define RX_BUFS 0x10000u
#define TX_BUFS (RX_BUFS + QSIZE * BUF_SIZE)
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define ETHERTYPE_TEST 0x88b5
#define FRAME_MAGIC 0x76777265u /* "vwre" */
#define FRAME_LEN 64
#define WAIT_MS 5000

/**
 * struct ring - the driver's side of one ring, split or packed
 * @packed:	packed layout: @pdesc and the wrap counters, not @desc, @avail and @used
 * @desc:	descriptor table
 * @avail:	available ring
 * @used:	used ring
 * @pdesc:	packed descriptor ring
 * @avail_wrap:	packed: wrap counter of the next descriptor made available
 * @used_wrap:	packed: wrap counter of the next descriptor expected used
 * @avail_idx:	buffers made available (slot and buffer id: modulo QSIZE)
 * @used_seen:	used entries consumed
 * @kick:	the kick eventfd (or pipe end)
 * @call:	the call eventfd
 */
struct ring {
	bool packed;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	bool avail_wrap;
	bool used_wrap;
	uint16_t avail_idx;
	uint16_t used_seen;
	int kick;
	int call;
};

/**
 * struct dev - one vhost-user connection and its guest memory
 * @name:	for messages
 * @sock:	the connection
 * @memfd:	guest memory
 * @mem:	its mapping (guest-physical 0 is @mem)
 * @rx:		ring 0
 * @tx:		ring 1
 */
struct dev {
	const char *name;
	int sock;
	int memfd;
	uint8_t *mem;
	struct ring rx;
	struct ring tx;
};

static pid_t vwire_pid;
static bool use_packed;
static int traffic_seconds = 10;
static double idle_max_percent = -1;

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vu-frontend: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vu-frontend: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* vwire still runs (when its pid was given). */
static void check_alive(void)
{
	if (vwire_pid && kill(vwire_pid, 0) < 0)
		fail("vwire (pid %d) is gone", (int)vwire_pid);
}

/* Send one message with its fds; a closed connection is fatal unless @may_fail. */
static int send_msg(struct dev *d, uint32_t req, const void *payload, uint32_t size,
		    const int *fds, int nfds, bool may_fail)
{
	struct vhost_user_header hdr = { req, VHOST_USER_VERSION, size };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, size } };

	if (fdpass_send(d->sock, iov, size ? 2 : 1, fds, nfds) == (ssize_t)(sizeof(hdr) + size))
		return 0;
	if (may_fail)
		return -1;
	fail("%s: sending request %u: %s", d->name, req, strerror(errno));
}

static void send_u64(struct dev *d, uint32_t req, uint64_t v)
{
	send_msg(d, req, &v, sizeof(v), NULL, 0, false);
}

static void send_state(struct dev *d, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state st = { index, num };

	send_msg(d, req, &st, sizeof(st), NULL, 0, false);
}

/* Read the reply to @req into @payload (@size bytes expected). */
static void recv_reply(struct dev *d, uint32_t req, void *payload, uint32_t size)
{
	struct vhost_user_header hdr;
	struct pollfd pfd = { d->sock, POLLIN, 0 };

	if (poll(&pfd, 1, WAIT_MS) != 1)
		fail("%s: no reply to request %u", d->name, req);
	if (recv(d->sock, &hdr, sizeof(hdr), MSG_WAITALL) != sizeof(hdr) || hdr.request != req ||
	    hdr.size != size || recv(d->sock, payload, size, MSG_WAITALL) != (ssize_t)size)
		fail("%s: bad reply to request %u", d->name, req);
}

static uint64_t get_u64(struct dev *d, uint32_t req)
{
	uint64_t v;

	send_msg(d, req, NULL, 0, NULL, 0, false);
	recv_reply(d, req, &v, sizeof(v));
	return v;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		fail("socket for %s", path);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect %s: %s", path, strerror(errno));
	return fd;
}

static void ring_init(struct dev *d, struct ring *r, uint32_t base)
{
	r->packed = use_packed;
	r->desc = (struct vring_desc *)(d->mem + base);
	r->avail = (struct vring_avail *)(d->mem + base + RING_AVAIL);
	r->used = (struct vring_used *)(d->mem + base + RING_USED);
	r->pdesc = (struct vring_packed_desc *)(d->mem + base);
	r->avail_wrap = r->used_wrap = true;
	r->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->kick < 0 || r->call < 0)
		fail("eventfd: %s", strerror(errno));
}

/*
 * Connect and negotiate: VERSION_1 only (no EVENT_IDX: kicks follow used->flags), protocol
 * features INFLIGHT_SHMFD when vwire offers it, one memory region over the whole memfd.
 * Rings are configured by dev_start_ring().
 */
static void dev_open(struct dev *d, const char *name, const char *path)
{
	struct vhost_user_memory mt = { .nregions = 1 };
	uint64_t features, protocol = 0, want = 1ULL << VIRTIO_F_VERSION_1;

	memset(d, 0, sizeof(*d));
	d->name = name;
	d->sock = connect_unix(path);
	d->memfd = memfd_create(name, MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, MEM_SIZE) < 0)
		fail("memfd: %s", strerror(errno));
	d->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	if (d->mem == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	ring_init(d, &d->rx, RX_RING);
	ring_init(d, &d->tx, TX_RING);

	features = get_u64(d, VHOST_USER_GET_FEATURES);
	if (!(features & (1ULL << VIRTIO_F_VERSION_1)))
		fail("%s: VIRTIO_F_VERSION_1 not offered", name);
	if (use_packed) {
		if (!(features & (1ULL << VIRTIO_F_RING_PACKED)))
			fail("%s: VIRTIO_F_RING_PACKED not offered", name);
		want |= 1ULL << VIRTIO_F_RING_PACKED;
	}
	if (features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) {
		protocol = get_u64(d, VHOST_USER_GET_PROTOCOL_FEATURES) &
			   (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
		send_u64(d, VHOST_USER_SET_FEATURES, want | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
		send_u64(d, VHOST_USER_SET_PROTOCOL_FEATURES, protocol);
	} else {
		send_u64(d, VHOST_USER_SET_FEATURES, want);
	}
	send_msg(d, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, false);
	mt.regions[0].guest_phys_addr = 0;
	mt.regions[0].memory_size = MEM_SIZE;
	mt.regions[0].userspace_addr = (uintptr_t)d->mem;
	mt.regions[0].mmap_offset = 0;
	send_msg(d, VHOST_USER_SET_MEM_TABLE, &mt,
		 offsetof(struct vhost_user_memory, regions) + sizeof(mt.regions[0]), &d->memfd, 1,
		 false);
}

/* Configure and start ring @idx (0 rx, 1 tx) with @kick and @call as its fds. */
static void dev_start_ring(struct dev *d, uint32_t idx, int kick, int call)
{
	uint32_t base = idx ? TX_RING : RX_RING;
	uint64_t u = idx;
	struct vhost_vring_addr a = {
		.index = idx,
		.desc_user_addr = (uintptr_t)d->mem + base,
		.avail_user_addr = (uintptr_t)d->mem + base + RING_AVAIL,
		.used_user_addr = (uintptr_t)d->mem + base + RING_USED,
	};

	send_state(d, VHOST_USER_SET_VRING_NUM, idx, QSIZE);
	send_msg(d, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, false);
	/* Packed: slot 0 with wrap counter 1 (bit 15), the used side the same. */
	send_state(d, VHOST_USER_SET_VRING_BASE, idx, use_packed ? 0x8000 : 0);
	send_msg(d, VHOST_USER_SET_VRING_CALL, &u, sizeof(u), &call, 1, false);
	send_msg(d, VHOST_USER_SET_VRING_KICK, &u, sizeof(u), &kick, 1, false);
	send_state(d, VHOST_USER_SET_VRING_ENABLE, idx, 1);
}

static void kick(struct ring *r)
{
	uint64_t one = 1;

	if (write(r->kick, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fail("kick: %s", strerror(errno));
}

/* Make descriptor @i (a buffer of @len bytes at @gpa) available; kick if @do_kick. */
static void post(struct ring *r, uint16_t i, uint64_t gpa, uint32_t len, bool writable,
		 bool do_kick)
{
	if (r->packed) {
		struct vring_packed_desc *pd = &r->pdesc[r->avail_idx % QSIZE];
		uint16_t flags = (uint16_t)((writable ? VRING_DESC_F_WRITE : 0) |
					    (r->avail_wrap ? 1u << VRING_PACKED_DESC_F_AVAIL : 0) |
					    (r->avail_wrap ? 0 : 1u << VRING_PACKED_DESC_F_USED));

		pd->addr = htole64(gpa);
		pd->len = htole32(len);
		pd->id = htole16(i);
		/* The flags last: they make the descriptor available. */
		__atomic_store_n(&pd->flags, htole16(flags), __ATOMIC_RELEASE);
		if (++r->avail_idx % QSIZE == 0)
			r->avail_wrap = !r->avail_wrap;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (do_kick)
			kick(r);
		return;
	}
	r->desc[i].addr = htole64(gpa);
	r->desc[i].len = htole32(len);
	r->desc[i].flags = htole16(writable ? VRING_DESC_F_WRITE : 0);
	r->desc[i].next = 0;
	r->avail->ring[r->avail_idx % QSIZE] = htole16(i);
	__atomic_store_n(&r->avail->idx, htole16(++r->avail_idx), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (do_kick)
		kick(r);
}

/* Take the next used buffer if there is one: its id and the length the device wrote. */
static bool take_used(struct ring *r, uint32_t *id, uint32_t *len)
{
	if (r->packed) {
		struct vring_packed_desc *pd = &r->pdesc[r->used_seen % QSIZE];
		uint16_t flags = le16toh(__atomic_load_n(&pd->flags, __ATOMIC_ACQUIRE));
		bool avail = flags & (1u << VRING_PACKED_DESC_F_AVAIL);
		bool used = flags & (1u << VRING_PACKED_DESC_F_USED);

		if (avail != r->used_wrap || used != r->used_wrap)
			return false;
		*id = le16toh(pd->id);
		*len = le32toh(pd->len);
		if (++r->used_seen % QSIZE == 0)
			r->used_wrap = !r->used_wrap;
		return true;
	}
	if (r->used_seen == le16toh(__atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE)))
		return false;
	*id = le32toh(r->used->ring[r->used_seen % QSIZE].id);
	*len = le32toh(r->used->ring[r->used_seen % QSIZE].len);
	r->used_seen++;
	return true;
}

/* Take used buffers until @target were used in all; false after @ms. */
static bool wait_used(struct ring *r, uint16_t target, int ms)
{
	int64_t end = now_ms() + ms;
	uint32_t id, len;

	while (r->used_seen != target) {
		if (take_used(r, &id, &len))
			continue;
		if (now_ms() > end)
			return false;
		usleep(50);
	}
	return true;
}

static void post_rx_buffers(struct dev *d, unsigned int n, bool do_kick)
{
	for (unsigned int i = 0; i < n; i++)
		post(&d->rx, (uint16_t)(d->rx.avail_idx % QSIZE),
		     RX_BUFS + (uint64_t)(d->rx.avail_idx % QSIZE) * BUF_SIZE, BUF_SIZE, true,
		     do_kick && i == n - 1);
}

/* Put frame number @seq from @d on its tx ring. */
static void send_frame(struct dev *d, uint32_t seq, bool do_kick)
{
	uint16_t slot = d->tx.avail_idx % QSIZE;
	uint8_t *buf = d->mem + TX_BUFS + (size_t)slot * BUF_SIZE;
	uint8_t *eth = buf + HDR_LEN;
	uint32_t magic = htobe32(FRAME_MAGIC), nseq = htobe32(seq);
	uint16_t type = htobe16(ETHERTYPE_TEST);

	memset(buf, 0, HDR_LEN + FRAME_LEN);
	memset(eth, 0xff, 6);
	memcpy(eth + 6, "\x02\x00\x00\x00\x00\x0a", 6);
	memcpy(eth + 12, &type, 2);
	memcpy(eth + 14, &magic, 4);
	memcpy(eth + 18, &nseq, 4);
	post(&d->tx, slot, TX_BUFS + (uint64_t)slot * BUF_SIZE, HDR_LEN + FRAME_LEN, false,
	     do_kick);
}

/* What recv_frame() does with a buffer it took a frame from. */
enum repost { REPOST_KICK, REPOST_NO_KICK, REPOST_NONE };

/*
 * Take B's received frames until frame @seq shows up (others are skipped: H's frames may come
 * through the hub too); repost each buffer as @repost says. Return false after @ms.
 */
static bool recv_frame(struct dev *d, uint32_t seq, enum repost repost, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		uint32_t id, len, magic, got;

		while (take_used(&d->rx, &id, &len)) {
			const uint8_t *eth;

			if (id >= QSIZE)
				fail("%s: used id %u out of range", d->name, id);
			eth = d->mem + RX_BUFS + (size_t)id * BUF_SIZE + HDR_LEN;
			memcpy(&magic, eth + 14, 4);
			memcpy(&got, eth + 18, 4);
			if (repost != REPOST_NONE)
				post_rx_buffers(d, 1, repost == REPOST_KICK);
			if (len >= HDR_LEN + 22 && be32toh(magic) == FRAME_MAGIC && be32toh(got) == seq)
				return true;
		}
		if (now_ms() > end)
			return false;
		usleep(50);
	}
}

/* A sends @n numbered frames, each waited for at B: the other devices still forward. */
static void check_forwarding(struct dev *a, struct dev *b, uint32_t first, uint32_t n)
{
	for (uint32_t seq = first; seq < first + n; seq++) {
		send_frame(a, seq, true);
		if (!recv_frame(b, seq, REPOST_KICK, WAIT_MS))
			fail("frame %u from %s did not reach %s", seq, a->name, b->name);
		check_alive();
	}
	if (!wait_used(&a->tx, a->tx.avail_idx, WAIT_MS))
		fail("%s: tx buffers not given back", a->name);
}

static void open_pair(struct dev *a, struct dev *b, const char *a_path, const char *b_path)
{
	dev_open(a, "A", a_path);
	dev_open(b, "B", b_path);
	dev_start_ring(a, 0, a->rx.kick, a->rx.call);
	dev_start_ring(a, 1, a->tx.kick, a->tx.call);
	dev_start_ring(b, 0, b->rx.kick, b->rx.call);
	dev_start_ring(b, 1, b->tx.kick, b->tx.call);
	post_rx_buffers(a, QSIZE, true);
	post_rx_buffers(b, QSIZE, true);
}

/* Whether vwire closed the connection of @d within @ms (a broken device's end). */
static bool closed_within(struct dev *d, int ms)
{
	struct pollfd pfd = { d->sock, POLLIN, 0 };
	int64_t end = now_ms() + ms;
	char c;

	while (now_ms() < end) {
		if (poll(&pfd, 1, 100) == 1 && recv(d->sock, &c, 1, MSG_DONTWAIT) == 0)
			return true;
	}
	return false;
}

/* CPU time vwire used over @ms, in percent of one core. */
static double vwire_cpu_percent(int ms)
{
	unsigned long long t0, t1;
	long hz = sysconf(_SC_CLK_TCK);
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)vwire_pid);
	for (int k = 0; k < 2; k++) {
		unsigned long long ut, st;
		FILE *f = fopen(path, "r");

		if (!f || fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				 &ut, &st) != 2)
			fail("cannot read %s", path);
		fclose(f);
		if (k == 0) {
			t0 = ut + st;
			usleep((useconds_t)ms * 1000);
		} else {
			t1 = ut + st;
		}
	}
	return 100.0 * (double)(t1 - t0) / (double)hz / (ms / 1000.0);
}

/* Wait until vwire handled every message sent so far (it answers in order). */
static void sync_dev(struct dev *d)
{
	get_u64(d, VHOST_USER_GET_FEATURES);
}

/* Start H's tx ring and have one frame go through it, so the ring surely runs. */
static void start_h_tx(struct dev *h, int call)
{
	dev_start_ring(h, 1, h->tx.kick, call);
	sync_dev(h);
	send_frame(h, 0, true);
	if (!wait_used(&h->tx, h->tx.avail_idx, WAIT_MS))
		fail("H: the first frame was not used");
}

/* The guest shrinks its memory under a running tx ring, then kicks. */
static void attack_shrink_mem(struct dev *h)
{
	start_h_tx(h, h->tx.call);
	send_frame(h, 1, false);
	if (ftruncate(h->memfd, 0) < 0)
		fail("ftruncate: %s", strerror(errno));
	kick(&h->tx);
	if (!closed_within(h, WAIT_MS))
		fail("H: vwire kept the device whose memory shrank");
}

/* An inflight buffer the front end made, shrunk after the rings started. */
static void attack_shrink_inflight(struct dev *h)
{
	struct vhost_user_inflight in = { 0 };
	size_t per_queue = (16 + QSIZE * 16 + 63) & ~(size_t)63;
	int fd = memfd_create("inflight", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)(2 * per_queue)) < 0)
		fail("inflight memfd: %s", strerror(errno));
	in.mmap_size = 2 * per_queue;
	in.mmap_offset = 0;
	in.num_queues = 2;
	in.queue_size = QSIZE;
	send_msg(h, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1, false);
	start_h_tx(h, h->tx.call);
	if (ftruncate(fd, 0) < 0)
		fail("ftruncate: %s", strerror(errno));
	send_frame(h, 1, true);
	if (!closed_within(h, WAIT_MS))
		fail("H: vwire kept the device whose inflight buffer shrank");
	close(fd);
}

/* A call fd that fills up: a pipe of one page that nobody reads, 4-byte chains kicked one by one. */
static void attack_block_call(struct dev *h)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[1], F_SETPIPE_SZ, 4096) < 0)
		fail("pipe: %s", strerror(errno));
	dev_start_ring(h, 1, h->tx.kick, p[1]);
	for (unsigned int i = 0; i < 2000; i++) {
		uint16_t slot = h->tx.avail_idx % QSIZE;

		post(&h->tx, slot, TX_BUFS + (uint64_t)slot * BUF_SIZE, 4, false, true);
		if (!wait_used(&h->tx, h->tx.avail_idx, WAIT_MS))
			fail("H: chain %u never used: vwire is stuck (blocked on the call fd?)", i);
	}
	note("H: 2000 notifications through a one-page pipe nobody reads");
	close(p[0]);
	close(p[1]);
}

/* A kick fd whose writer is gone: EPOLLHUP for ever. */
static void attack_hup_kick(struct dev *h)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	close(p[1]);
	dev_start_ring(h, 1, p[0], h->tx.call);
	close(p[0]);
}

static void usage(void)
{
	fprintf(stderr, "usage: vu-frontend [-p PID [-i PERCENT]] [-P] [-t SECONDS] "
			"forward|skip-kick|traffic A_SOCK B_SOCK\n"
			"       vu-frontend [-p PID] shrink-mem|shrink-inflight|block-call|hup-kick "
			"H_SOCK A_SOCK B_SOCK\n");
	exit(2);
}

/*
 * Frames with lost kicks. tx: A posts each frame without a kick right after vwire used the one
 * before, when vwire has just asked for kicks again (where a lost kick happens). rx: B's ring
 * is emptied, A's next frame waits in A's ring for B, and B posts one buffer without a kick.
 */
static void skip_kick(struct dev *a, struct dev *b)
{
	const uint32_t n = 20;
	uint32_t seq;
	int64_t t0;

	check_forwarding(a, b, 1, 1);
	t0 = now_ms();
	for (seq = 2; seq < 2 + n; seq++) {
		send_frame(a, seq, false);
		if (!recv_frame(b, seq, REPOST_KICK, WAIT_MS))
			fail("tx: frame %u posted without a kick never left %s", seq, a->name);
		if (!wait_used(&a->tx, a->tx.avail_idx, WAIT_MS))
			fail("tx: frame %u not given back", seq);
	}
	note("tx: %u frames posted without kicks delivered in %lld ms", n,
	     (long long)(now_ms() - t0));

	for (seq = 100; seq < 100 + QSIZE; seq++) {
		send_frame(a, seq, true);
		if (!recv_frame(b, seq, REPOST_NONE, WAIT_MS))
			fail("rx: frame %u lost while emptying %s's ring", seq, b->name);
		if (!wait_used(&a->tx, a->tx.avail_idx, WAIT_MS))
			fail("tx: frame %u not given back", seq);
	}
	t0 = now_ms();
	for (seq = 1000; seq < 1000 + n; seq++) {
		send_frame(a, seq, true);
		/* B's ring is empty: the frame waits in A's ring (vwire copies nothing)... */
		if (wait_used(&a->tx, a->tx.avail_idx, 3))
			fail("tx: frame %u used although %s has no buffer for it", seq, b->name);
		/* ...until B posts a buffer, without a kick. */
		post_rx_buffers(b, 1, false);
		if (!recv_frame(b, seq, REPOST_NONE, WAIT_MS))
			fail("rx: frame %u never reached %s through a buffer posted without a kick",
			     seq, b->name);
		if (!wait_used(&a->tx, a->tx.avail_idx, WAIT_MS))
			fail("tx: frame %u not given back", seq);
	}
	note("rx: %u frames into buffers posted without kicks in %lld ms", n,
	     (long long)(now_ms() - t0));
	post_rx_buffers(b, QSIZE, true);
	check_forwarding(a, b, 5000, 10);
}

/* Frames from A to B, one after the other, for traffic_seconds (-t). */
static void traffic(struct dev *a, struct dev *b)
{
	int64_t end = now_ms() + (int64_t)traffic_seconds * 1000;
	uint32_t seq = 1;

	while (now_ms() < end) {
		check_forwarding(a, b, seq, 64);
		seq += 64;
	}
	note("traffic: %u frames in %d s", seq - 1, traffic_seconds);
}

int main(int argc, char **argv)
{
	struct dev h, a, b;
	const char *mode;
	int opt;

	while ((opt = getopt(argc, argv, "p:t:i:P")) != -1) {
		if (opt == 'P')
			use_packed = true;
		else if (opt == 'p')
			vwire_pid = (pid_t)atoi(optarg);
		else if (opt == 't')
			traffic_seconds = atoi(optarg);
		else if (opt == 'i')
			idle_max_percent = atof(optarg);
		else
			usage();
	}
	argv += optind;
	argc -= optind;
	if (argc < 3)
		usage();
	mode = argv[0];

	if (!strcmp(mode, "forward") || !strcmp(mode, "skip-kick") || !strcmp(mode, "traffic")) {
		open_pair(&a, &b, argv[1], argv[2]);
		if (!strcmp(mode, "forward"))
			check_forwarding(&a, &b, 1, 100);
		else if (!strcmp(mode, "traffic"))
			traffic(&a, &b);
		else
			skip_kick(&a, &b);
		check_alive();
		if (vwire_pid && idle_max_percent >= 0) {
			double cpu = vwire_cpu_percent(2000);

			note("vwire used %.1f%% of a core over 2 s after the traffic", cpu);
			if (cpu > idle_max_percent)
				fail("vwire used %.1f%% of a core while idle (at most %.1f%%)", cpu,
				     idle_max_percent);
		}
		note("%s: ok", mode);
		return 0;
	}
	if (argc < 4)
		usage();
	open_pair(&a, &b, argv[2], argv[3]);
	check_forwarding(&a, &b, 1, 10);
	dev_open(&h, "H", argv[1]);
	if (!strcmp(mode, "shrink-mem"))
		attack_shrink_mem(&h);
	else if (!strcmp(mode, "shrink-inflight"))
		attack_shrink_inflight(&h);
	else if (!strcmp(mode, "block-call"))
		attack_block_call(&h);
	else if (!strcmp(mode, "hup-kick"))
		attack_hup_kick(&h);
	else
		usage();
	check_alive();
	check_forwarding(&a, &b, 1000, 100);
	if (vwire_pid) {
		double cpu = vwire_cpu_percent(2000);

		note("vwire used %.1f%% of a core over 2 s after the attack", cpu);
		if (cpu > 20.0)
			fail("vwire spins: %.1f%% of a core while idle", cpu);
	}
	check_alive();
	note("%s: ok, the other devices still forward", mode);
	return 0;
}
