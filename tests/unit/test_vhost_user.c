// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vhost_user.c - the vhost-user server driven over real sockets by a scripted front end:
 * a full handshake (features, memory table from a memfd, ring set-up, start and stop through
 * a fake device), REPLY_ACK, config, inflight and dirty log; then hostile messages (wrong
 * sizes, missing or extra fds, bad ring indexes, overlapping or giant regions, unknown
 * requests, too many regions, an inflight buffer over the limit), each of which must end that
 * connection only, leak no fd, and leave the server ready for the next front end; a flood of
 * messages; finally server mode and client-mode reconnection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdpass.h"
#include "vhost-user/server-priv.h"
#include "virtio/inflight.h"
#include "vwire/error.h"
#include "vwire/loop.h"

#define NVRINGS 4
#define PAGE 4096ULL
#define MEM_SIZE (64 * PAGE)
#define GPA_BASE 0x100000ULL
#define UVA_BASE 0x7f1200000000ULL
#define DEV_FEATURES ((1ULL << 32) | (1ULL << 5) | (1ULL << VHOST_F_LOG_ALL))
#define FAKE_STOP_BASE 0x8000u

/* The fake device: records what the server asked of it. */
struct fake_dev {
	struct vhost_user_server *s;
	uint64_t acked;
	int set_features_calls;
	unsigned int get_features_calls;
	unsigned int starts[NVRINGS];
	unsigned int stops[NVRINGS];
	uint32_t start_base[NVRINGS];
	int start_kick_fd[NVRINGS];
	unsigned int running;
	int connected;
	int disconnected;
	int resets;
	uint8_t rarp[6];
	uint16_t mtu;
	uint8_t status;
	uint8_t config[32];
};

static struct loop *loop;
static struct fake_dev dev;

static uint64_t fake_get_features(void *opaque)
{
	dev.get_features_calls++;
	return DEV_FEATURES;
}

static int fake_set_features(void *opaque, uint64_t f)
{
	dev.acked = f;
	dev.set_features_calls++;
	return 0;
}

static int fake_queue_start(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	const struct guest_mem *m = vhost_user_server_mem(dev.s);
	uint64_t len = 16;

	assert_true(idx < NVRINGS);
	assert_false(vr->started);
	/* As a real device does: the ring must be in guest memory. */
	if (!guest_mem_translate_uva(m, vr->desc_uva, &len))
		return -EFAULT;
	dev.starts[idx]++;
	dev.start_base[idx] = vr->base;
	dev.start_kick_fd[idx] = vr->kick_fd;
	dev.running++;
	return 0;
}

static uint32_t fake_queue_stop(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	assert_true(vr->started);
	dev.stops[idx]++;
	dev.running--;
	return FAKE_STOP_BASE + idx;
}

static int fake_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	if (offset > sizeof(dev.config) || len > sizeof(dev.config) - offset)
		return -EINVAL;
	memcpy(buf, dev.config + offset, len);
	return 0;
}

static int fake_set_config(void *opaque, uint32_t offset, const void *buf, uint32_t len,
			   uint32_t flags)
{
	if (offset > sizeof(dev.config) || len > sizeof(dev.config) - offset)
		return -EINVAL;
	memcpy(dev.config + offset, buf, len);
	return 0;
}

static void fake_send_rarp(void *opaque, const uint8_t mac[6])
{
	memcpy(dev.rarp, mac, 6);
}

static int fake_set_mtu(void *opaque, uint16_t mtu)
{
	if (mtu < 68)
		return -EINVAL;
	dev.mtu = mtu;
	return 0;
}

static int fake_set_status(void *opaque, uint8_t status)
{
	dev.status = status;
	return 0;
}

static void fake_reset(void *opaque)
{
	dev.resets++;
}

static void fake_connected(void *opaque)
{
	dev.connected++;
}

static void fake_disconnected(void *opaque)
{
	assert_int_equal(dev.running, 0);
	dev.disconnected++;
}

static const struct vhost_user_dev_ops fake_ops = {
	.get_features = fake_get_features,
	.set_features = fake_set_features,
	.queue_start = fake_queue_start,
	.queue_stop = fake_queue_stop,
	.get_config = fake_get_config,
	.set_config = fake_set_config,
	.send_rarp = fake_send_rarp,
	.set_mtu = fake_set_mtu,
	.set_status = fake_set_status,
	.reset = fake_reset,
	.connected = fake_connected,
	.disconnected = fake_disconnected,
};

/* Test harness: the loop, the server, and a scripted front end on the other socket end. */

static void pump(void)
{
	int i;

	for (i = 0; i < 50; i++)
		if (loop_run_once(loop, 5) <= 0)
			break;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static struct vhost_user_server *server_new(const char *path, bool listen, unsigned int reconnect,
					    struct error *err)
{
	struct vhost_user_server_cfg cfg = {
		.path = path,
		.listen = listen,
		.reconnect_s = reconnect,
		.num_vrings = NVRINGS,
		.queue_num = NVRINGS / 2,
		.protocol_features = VHOST_USER_SERVER_PROTOCOL_FEATURES,
		.ops = &fake_ops,
		.opaque = &dev,
		.name = "test",
	};

	memset(&dev, 0, sizeof(dev));
	for (unsigned int i = 0; i < sizeof(dev.config); i++)
		dev.config[i] = (uint8_t)(0x40 + i);
	dev.s = vhost_user_server_new(loop, &cfg, err);
	return dev.s;
}

/* A front end attached through a socketpair; returns its end. */
static int attach_front_end(struct vhost_user_server *s)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vhost_user_server_attach(s, sv[0]), 0);
	return sv[1];
}

static void send_raw(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	assert_int_equal(fdpass_send(fd, &iov, 1, fds, nfds), (ssize_t)len);
}

static void send_msg(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, int nfds)
{
	uint8_t buf[sizeof(struct vhost_user_header) + 512];
	struct vhost_user_header hdr = { .request = req, .flags = flags, .size = size };

	assert_true(size <= 512);
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	send_raw(fd, buf, sizeof(hdr) + size, fds, nfds);
}

static void send_u64(int fd, uint32_t req, uint32_t flags, uint64_t v)
{
	send_msg(fd, req, flags, &v, sizeof(v), NULL, 0);
}

/* Run the server, then read one reply; returns its payload size, *@rfd gets a passed fd. */
static uint32_t recv_reply(int fd, uint32_t req, void *payload, int *rfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct vhost_user_header hdr;
	struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	pump();
	assert_int_equal(recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC), (ssize_t)sizeof(hdr));
	assert_int_equal(hdr.request, req);
	assert_int_equal(hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	if (rfd)
		*rfd = -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		assert_non_null(rfd);
		memcpy(rfd, CMSG_DATA(c), sizeof(int));
	}
	assert_true(hdr.size <= 512);
	if (hdr.size)
		assert_int_equal(recv(fd, payload, hdr.size, MSG_DONTWAIT), (ssize_t)hdr.size);
	return hdr.size;
}

static uint64_t reply_u64(int fd, uint32_t req)
{
	uint64_t v = 0;

	assert_int_equal(recv_reply(fd, req, &v, NULL), sizeof(v));
	return v;
}

static uint64_t get_u64(int fd, uint32_t req)
{
	send_msg(fd, req, VHOST_USER_VERSION, NULL, 0, NULL, 0);
	return reply_u64(fd, req);
}

static void assert_no_reply(int fd)
{
	char b;

	pump();
	assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void assert_closed(int fd)
{
	char b[64];

	pump();
	assert_int_equal(recv(fd, b, sizeof(b), MSG_DONTWAIT), 0);
	assert_false(vhost_user_server_connected(dev.s));
}

static int make_memfd(size_t size)
{
	int fd = memfd_create("test-vhost-user", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void send_mem_table(int fd, uint32_t flags, const struct vhost_user_memory_region *r,
			   uint32_t n, const int *fds)
{
	struct vhost_user_memory m = { .nregions = n };

	memcpy(m.regions, r, n * sizeof(*r));
	send_msg(fd, VHOST_USER_SET_MEM_TABLE, flags, &m,
		 (uint32_t)(offsetof(struct vhost_user_memory, regions) + n * sizeof(*r)), fds,
		 (int)n);
}

static void send_state(int fd, uint32_t req, uint32_t flags, uint32_t index, uint32_t num)
{
	struct vhost_vring_state st = { .index = index, .num = num };

	send_msg(fd, req, flags, &st, sizeof(st), NULL, 0);
}

static void send_vring_addr(int fd, uint32_t index)
{
	struct vhost_vring_addr a = {
		.index = index,
		.desc_user_addr = UVA_BASE + index * 4 * PAGE,
		.avail_user_addr = UVA_BASE + index * 4 * PAGE + PAGE,
		.used_user_addr = UVA_BASE + index * 4 * PAGE + 2 * PAGE,
		.log_guest_addr = GPA_BASE + index * 4 * PAGE + 2 * PAGE,
	};

	send_msg(fd, VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, &a, sizeof(a), NULL, 0);
}

static void send_vring_fd(int fd, uint32_t req, uint32_t index, int efd)
{
	uint64_t v = index | (efd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0);

	send_msg(fd, req, VHOST_USER_VERSION, &v, sizeof(v), efd < 0 ? NULL : &efd,
		 efd < 0 ? 0 : 1);
}

static const uint64_t all_protocol = VHOST_USER_SERVER_PROTOCOL_FEATURES;

/* Features, protocol features and one memory region, as QEMU starts a connection. */
static int handshake(struct vhost_user_server *s, uint64_t protocol, int *memfd)
{
	int fd = attach_front_end(s);
	struct vhost_user_memory_region r = {
		.guest_phys_addr = GPA_BASE,
		.memory_size = MEM_SIZE,
		.userspace_addr = UVA_BASE,
		.mmap_offset = 0,
	};
	uint64_t f;

	f = get_u64(fd, VHOST_USER_GET_FEATURES);
	assert_int_equal(f, DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES), all_protocol);
	send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, protocol);
	send_msg(fd, VHOST_USER_SET_OWNER, VHOST_USER_VERSION, NULL, 0, NULL, 0);
	send_u64(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, f);
	*memfd = make_memfd(MEM_SIZE);
	send_mem_table(fd, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &r, 1, memfd);
	assert_int_equal(reply_u64(fd, VHOST_USER_SET_MEM_TABLE), 0);
	assert_int_equal(dev.acked, DEV_FEATURES);
	assert_int_equal(vhost_user_server_features(s), DEV_FEATURES);
	assert_int_equal(vhost_user_server_protocol_features(s), protocol);
	return fd;
}

static void setup_ring(int fd, uint32_t idx, uint32_t base, int kick)
{
	send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, idx, 256);
	send_vring_addr(fd, idx);
	send_state(fd, VHOST_USER_SET_VRING_BASE, VHOST_USER_VERSION, idx, base);
	send_vring_fd(fd, VHOST_USER_SET_VRING_KICK, idx, kick);
	pump();
}

static void test_handshake_and_rings(void **state)
{
	struct vhost_user_server *s;
	struct vhost_user_vring *vr;
	struct vhost_vring_state st;
	int fd, memfd, kick, call;
	uint64_t v;
	int before = count_fds();

	s = server_new(NULL, false, 0, NULL);
	assert_non_null(s);
	fd = handshake(s, all_protocol, &memfd);
	assert_int_equal(dev.connected, 1);
	assert_int_equal(get_u64(fd, VHOST_USER_GET_QUEUE_NUM), NVRINGS / 2);
	assert_int_equal(vhost_user_server_mem(s)->nregions, 1);

	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	setup_ring(fd, 0, 5, kick);
	send_vring_fd(fd, VHOST_USER_SET_VRING_CALL, 0, call);
	pump();
	/* Protocol features acked: rings start disabled, nothing runs yet. */
	assert_int_equal(dev.starts[0], 0);
	vr = vhost_user_server_vring(s, 0);
	assert_non_null(vr);
	assert_null(vhost_user_server_vring(s, NVRINGS));
	assert_int_equal(vr->num, 256);
	assert_int_equal(vr->desc_uva, UVA_BASE);
	assert_int_equal(vr->used_uva, UVA_BASE + 2 * PAGE);
	assert_int_equal(vr->log_guest_addr, GPA_BASE + 2 * PAGE);
	assert_true(vr->kick_fd >= 0 && vr->kick_fd != kick);
	assert_false(vr->enabled);

	send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
		   0, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_SET_VRING_ENABLE), 0);
	assert_int_equal(dev.starts[0], 1);
	assert_int_equal(dev.start_base[0], 5);
	assert_int_equal(dev.start_kick_fd[0], vr->kick_fd);
	assert_true(vr->started);

	/* The call fd works, and may be swapped while the ring runs. */
	assert_int_equal(vhost_user_vring_call(vr), 0);
	assert_int_equal(read(call, &v, sizeof(v)), sizeof(v));
	send_vring_fd(fd, VHOST_USER_SET_VRING_CALL, 0, call);
	pump();
	assert_int_equal(dev.stops[0], 0);

	/* The same memory table again (QEMU sends one per queue pair): rings keep running. */
	{
		struct vhost_user_memory_region r = { GPA_BASE, MEM_SIZE, UVA_BASE, 0 };

		send_mem_table(fd, VHOST_USER_VERSION, &r, 1, &memfd);
		send_u64(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION,
			 DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
		pump();
		assert_int_equal(dev.stops[0], 0);
		assert_int_equal(dev.set_features_calls, 1);
	}

	/* Disabling stops the ring; enabling resumes where the device stopped. */
	send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 0, 0);
	pump();
	assert_int_equal(dev.stops[0], 1);
	send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 0, 1);
	pump();
	assert_int_equal(dev.starts[0], 2);
	assert_int_equal(dev.start_base[0], FAKE_STOP_BASE);

	/* REPLY_ACK: success and a refusal that keeps the connection. */
	send_u64(fd, VHOST_USER_NET_SET_MTU, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 1500);
	assert_int_equal(reply_u64(fd, VHOST_USER_NET_SET_MTU), 0);
	assert_int_equal(dev.mtu, 1500);
	send_u64(fd, VHOST_USER_NET_SET_MTU, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 10);
	assert_int_equal(reply_u64(fd, VHOST_USER_NET_SET_MTU), 1);
	send_u64(fd, VHOST_USER_NET_SET_MTU, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
		 1ULL << 20);
	assert_int_equal(reply_u64(fd, VHOST_USER_NET_SET_MTU), 1);
	/* Without the flag, no reply. */
	send_u64(fd, VHOST_USER_NET_SET_MTU, VHOST_USER_VERSION, 9000);
	assert_no_reply(fd);
	assert_int_equal(dev.mtu, 9000);

	/* RARP */
	send_u64(fd, VHOST_USER_SEND_RARP, VHOST_USER_VERSION, 0x0000665544332211ULL);
	pump();
	assert_int_equal(dev.rarp[0], 0x11);
	assert_int_equal(dev.rarp[5], 0x66);

	/* Status */
	send_u64(fd, VHOST_USER_SET_STATUS, VHOST_USER_VERSION, 0x0f);
	assert_int_equal(get_u64(fd, VHOST_USER_GET_STATUS), 0x0f);
	assert_int_equal(dev.status, 0x0f);

	/* GET_VRING_BASE stops the ring and answers the device's base. */
	send_state(fd, VHOST_USER_GET_VRING_BASE, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
		   0, 0);
	assert_int_equal(recv_reply(fd, VHOST_USER_GET_VRING_BASE, &st, NULL), sizeof(st));
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, FAKE_STOP_BASE);
	assert_no_reply(fd); /* need_reply adds nothing to a request that answers anyway */
	assert_int_equal(dev.stops[0], 2);
	assert_false(vr->started);
	assert_false(vr->kick_set);
	assert_int_equal(vr->kick_fd, -1);
	assert_int_equal(vhost_user_vring_call(vr), -ENOENT);
	/* Stopped until the next kick, even though it is still enabled. */
	send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 0, 128);
	pump();
	assert_int_equal(dev.starts[0], 2);
	send_vring_fd(fd, VHOST_USER_SET_VRING_KICK, 0, kick);
	pump();
	assert_int_equal(dev.starts[0], 3);
	assert_int_equal(dev.start_base[0], FAKE_STOP_BASE);

	/* A different memory table stops the ring around the remap and restarts it. */
	{
		struct vhost_user_memory_region r = { GPA_BASE, MEM_SIZE / 2, UVA_BASE, 0 };

		send_mem_table(fd, VHOST_USER_VERSION, &r, 1, &memfd);
		pump();
		assert_int_equal(dev.stops[0], 3);
		assert_int_equal(dev.starts[0], 4);
		assert_int_equal(vhost_user_server_mem(s)->regions[0].size, MEM_SIZE / 2);
	}

	/* The front end leaves: the running ring is stopped, memory unmapped, fds closed. */
	close(fd);
	pump();
	assert_int_equal(dev.disconnected, 1);
	assert_int_equal(dev.stops[0], 4);
	assert_false(vhost_user_server_connected(s));
	assert_int_equal(vhost_user_server_mem(s)->nregions, 0);
	close(kick);
	close(call);
	close(memfd);
	vhost_user_server_free(s);
	assert_int_equal(count_fds(), before);
}

static void test_no_protocol_features(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	struct vhost_user_memory_region r = { GPA_BASE, MEM_SIZE, UVA_BASE, 0 };
	int fd, memfd = make_memfd(MEM_SIZE);
	struct vhost_user_vring *vr;

	fd = attach_front_end(s);
	/* An old front end: no protocol features, so every ring is enabled at SET_FEATURES. */
	send_u64(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, DEV_FEATURES);
	/* Ring set up before the memory: it cannot start yet. */
	setup_ring(fd, 1, 0, -1);
	assert_int_equal(dev.starts[1], 0);
	send_mem_table(fd, VHOST_USER_VERSION, &r, 1, &memfd);
	pump();
	vr = vhost_user_server_vring(s, 1);
	assert_true(vr->enabled);
	assert_int_equal(dev.starts[1], 1);
	assert_int_equal(vr->kick_fd, -1); /* no fd: the device polls */
	/* REPLY_ACK was not negotiated: need_reply is ignored. */
	send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, 1,
		   64);
	assert_no_reply(fd);
	pump();
	assert_int_equal(dev.stops[1], 1);
	assert_int_equal(dev.starts[1], 2);
	/* Requests gated on a protocol feature end the connection. */
	send_u64(fd, VHOST_USER_SET_STATUS, VHOST_USER_VERSION, 1);
	assert_closed(fd);
	assert_int_equal(dev.stops[1], 2);
	close(fd);
	close(memfd);
	vhost_user_server_free(s);
}

static void test_ring_needs_memory(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	struct vhost_user_memory_single reg = { 0 };
	int fd, memfd, memfd2 = make_memfd(8 * PAGE);

	fd = handshake(s, all_protocol, &memfd);
	/* ADD_MEM_REG, REM_MEM_REG and the slot count */
	assert_int_equal(get_u64(fd, VHOST_USER_GET_MAX_MEM_SLOTS), GUEST_MEM_MAX_REGIONS);
	reg.region.guest_phys_addr = 0x40000000;
	reg.region.memory_size = 8 * PAGE;
	reg.region.userspace_addr = 0x7f5500000000ULL;
	send_msg(fd, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &reg,
		 sizeof(reg), &memfd2, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_ADD_MEM_REG), 0);
	/* The same region again (another queue pair): accepted, still one copy. */
	send_msg(fd, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &reg,
		 sizeof(reg), &memfd2, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_ADD_MEM_REG), 0);
	assert_int_equal(vhost_user_server_mem(s)->nregions, 2);

	/* A ring whose addresses are in the added region runs... */
	{
		struct vhost_vring_addr a = { .index = 2, .desc_user_addr = 0x7f5500000000ULL,
					      .avail_user_addr = 0x7f5500001000ULL,
					      .used_user_addr = 0x7f5500002000ULL };

		send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 2, 256);
		send_msg(fd, VHOST_USER_SET_VRING_ADDR, VHOST_USER_VERSION, &a, sizeof(a), NULL, 0);
		send_vring_fd(fd, VHOST_USER_SET_VRING_KICK, 2, -1);
		send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 2, 1);
		pump();
		assert_int_equal(dev.starts[2], 1);
	}
	/* ...stops when its region goes, and cannot start without it. */
	send_msg(fd, VHOST_USER_REM_MEM_REG, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &reg,
		 sizeof(reg), NULL, 0);
	assert_int_equal(reply_u64(fd, VHOST_USER_REM_MEM_REG), 0);
	assert_int_equal(dev.stops[2], 1);
	assert_int_equal(dev.starts[2], 1);
	assert_int_equal(vhost_user_server_mem(s)->nregions, 1);
	/* Removing it again is harmless; an fd sent along (old front ends) is closed. */
	send_msg(fd, VHOST_USER_REM_MEM_REG, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &reg,
		 sizeof(reg), &memfd2, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_REM_MEM_REG), 0);
	/* Back again: the ring restarts at the base the device gave when it stopped. */
	send_msg(fd, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION, &reg, sizeof(reg), &memfd2, 1);
	pump();
	assert_int_equal(dev.starts[2], 2);
	assert_int_equal(dev.start_base[2], FAKE_STOP_BASE + 2);

	/* RESET_DEVICE: rings stopped and forgotten. */
	send_msg(fd, VHOST_USER_RESET_DEVICE, VHOST_USER_VERSION, NULL, 0, NULL, 0);
	pump();
	assert_int_equal(dev.stops[2], 2);
	assert_int_equal(dev.resets, 1);
	assert_int_equal(vhost_user_server_vring(s, 2)->num, 0);
	assert_true(vhost_user_server_connected(s));
	close(fd);
	pump();
	close(memfd);
	close(memfd2);
	vhost_user_server_free(s);
}

static void test_config_inflight_log(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	struct vhost_user_config c = { .offset = 4, .size = 6 };
	struct vhost_user_inflight in = { .num_queues = 2, .queue_size = 256 };
	struct vhost_user_log lg = { .mmap_size = 64, .mmap_offset = 0 };
	int fd, memfd, rfd, logfd;
	uint8_t *p;

	fd = handshake(s, all_protocol, &memfd);

	/* GET_CONFIG answers the same header with the device's bytes. */
	send_msg(fd, VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, &c,
		 (uint32_t)(VHOST_USER_CONFIG_HDR_SIZE + c.size), NULL, 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(recv_reply(fd, VHOST_USER_GET_CONFIG, &c, NULL),
			 VHOST_USER_CONFIG_HDR_SIZE + 6);
	assert_int_equal(c.offset, 4);
	assert_int_equal(c.size, 6);
	assert_int_equal(c.region[0], 0x44);
	/* A range the device refuses: a zero-length reply. */
	c.offset = 30;
	c.size = 6;
	send_msg(fd, VHOST_USER_GET_CONFIG, VHOST_USER_VERSION, &c,
		 (uint32_t)(VHOST_USER_CONFIG_HDR_SIZE + c.size), NULL, 0);
	assert_int_equal(recv_reply(fd, VHOST_USER_GET_CONFIG, &c, NULL), 0);
	/* SET_CONFIG */
	c.offset = 0;
	c.size = 2;
	c.flags = VHOST_SET_CONFIG_TYPE_FRONTEND;
	c.region[0] = 0xaa;
	c.region[1] = 0xbb;
	send_msg(fd, VHOST_USER_SET_CONFIG, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK, &c,
		 (uint32_t)(VHOST_USER_CONFIG_HDR_SIZE + 2), NULL, 0);
	assert_int_equal(reply_u64(fd, VHOST_USER_SET_CONFIG), 0);
	assert_int_equal(dev.config[1], 0xbb);

	/* GET_INFLIGHT_FD: a shared buffer laid out per the spec, one region per ring. */
	send_msg(fd, VHOST_USER_GET_INFLIGHT_FD, VHOST_USER_VERSION, &in, sizeof(in), NULL, 0);
	memset(&in, 0, sizeof(in));
	assert_int_equal(recv_reply(fd, VHOST_USER_GET_INFLIGHT_FD, &in, &rfd), sizeof(in));
	assert_true(rfd >= 0);
	assert_int_equal(in.num_queues, 2);
	assert_int_equal(in.queue_size, 256);
	assert_int_equal(in.mmap_size, 2 * inflight_region_size(256, false));
	assert_int_equal(inflight_region_size(256, false), 16 + 16 * 256 + 48);
	assert_int_equal(inflight_region_size(256, true), 32 + 32 * 256 + 32);
	p = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	assert_true(p != MAP_FAILED);
	{
		struct inflight_split_region *q = (void *)(p + inflight_region_size(256, false));

		assert_int_equal(q->version, INFLIGHT_VERSION);
		assert_int_equal(q->desc_num, 256);
		/* The server's view is the same memory. */
		q->desc[3].inflight = 1;
		assert_int_equal(
		    ((struct inflight_split_region *)vhost_user_server_vring(s, 1)->inflight)
			->desc[3]
			.inflight,
		    1);
		assert_null(vhost_user_server_vring(s, 2)->inflight);
	}
	/* Sealed: the front end cannot shrink it under the back end. */
	assert_int_equal(ftruncate(rfd, 0), -1);
	munmap(p, in.mmap_size);
	/* SET_INFLIGHT_FD takes it back (as after a reconnection). */
	send_msg(fd, VHOST_USER_SET_INFLIGHT_FD, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
		 &in, sizeof(in), &rfd, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_SET_INFLIGHT_FD), 0);
	assert_int_equal(((struct inflight_split_region *)vhost_user_server_vring(s, 1)->inflight)
			     ->desc[3]
			     .inflight,
			 1);
	close(rfd);

	/* SET_LOG_BASE always answers; writes then land in the front end's bitmap. */
	logfd = make_memfd(PAGE);
	send_msg(fd, VHOST_USER_SET_LOG_BASE, VHOST_USER_VERSION, &lg, sizeof(lg), &logfd, 1);
	assert_int_equal(reply_u64(fd, VHOST_USER_SET_LOG_BASE), 0);
	guest_mem_log_write(vhost_user_server_mem(s), GPA_BASE + 3 * PAGE, 1);
	{
		uint8_t b;
		uint64_t page = (GPA_BASE + 3 * PAGE) / PAGE;

		assert_int_equal(pread(logfd, &b, 1, (off_t)(page / 8)), 1);
		assert_int_equal(b, 1u << (page % 8));
	}
	/* The log survives a new memory table. */
	{
		struct vhost_user_memory_region r = { GPA_BASE, MEM_SIZE / 2, UVA_BASE, 0 };

		send_mem_table(fd, VHOST_USER_VERSION, &r, 1, &memfd);
		pump();
		assert_non_null(vhost_user_server_mem(s)->log);
	}
	close(logfd);
	close(fd);
	pump();
	close(memfd);
	vhost_user_server_free(s);
}

/* Hostile messages: each must close that connection, and only it. */

enum hostile_kind {
	HOSTILE_SIZE_FEATURES,
	HOSTILE_PAYLOAD_ON_GET,
	HOSTILE_MISSING_FD,
	HOSTILE_TWO_FDS_KICK,
	HOSTILE_NOFD_WITH_FD,
	HOSTILE_TOO_MANY_FDS,
	HOSTILE_FDS_ON_GET,
	HOSTILE_VRING_INDEX,
	HOSTILE_VRING_FD_INDEX,
	HOSTILE_VRING_RESERVED_BITS,
	HOSTILE_OVERLAP,
	HOSTILE_GIANT_REGION,
	HOSTILE_WRAP_REGION,
	HOSTILE_TABLE_COUNT,
	HOSTILE_GIANT_HEADER_SIZE,
	HOSTILE_UNKNOWN,
	HOSTILE_ZERO_REQUEST,
	HOSTILE_VERSION,
	HOSTILE_REPLY_FLAG,
	HOSTILE_UNOFFERED_FEATURES,
	HOSTILE_NOT_NEGOTIATED,
	HOSTILE_ENABLE_VALUE,
	HOSTILE_CONFIG_SIZE,
	HOSTILE_RING_SIZE,
	HOSTILE_UNSUPPORTED,
	HOSTILE_INFLIGHT_QUEUES,
	HOSTILE_LOG_TOO_BIG,
	HOSTILE_TOO_MANY_REGIONS,
	HOSTILE_INFLIGHT_TOO_BIG,
	HOSTILE_COUNT,
};

static void send_hostile(int fd, enum hostile_kind k, int memfd)
{
	struct vhost_user_memory_region r[2] = {
		{ GPA_BASE, MEM_SIZE, UVA_BASE, 0 },
		{ GPA_BASE + PAGE, PAGE, UVA_BASE + MEM_SIZE, 0 },
	};
	int fds[VHOST_USER_MAX_FDS + 1];
	uint8_t junk[16] = { 0 };
	int i;

	for (i = 0; i <= VHOST_USER_MAX_FDS; i++)
		fds[i] = memfd;
	switch (k) {
	case HOSTILE_SIZE_FEATURES:
		send_msg(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, junk, 4, NULL, 0);
		break;
	case HOSTILE_PAYLOAD_ON_GET:
		send_msg(fd, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, junk, 8, NULL, 0);
		break;
	case HOSTILE_MISSING_FD: {
		struct vhost_user_memory m = { .nregions = 1, .regions = { r[0] } };

		send_msg(fd, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, &m,
			 (uint32_t)(8 + sizeof(r[0])), NULL, 0);
		break;
	}
	case HOSTILE_TWO_FDS_KICK: {
		uint64_t v = 0;

		send_msg(fd, VHOST_USER_SET_VRING_KICK, VHOST_USER_VERSION, &v, 8, fds, 2);
		break;
	}
	case HOSTILE_NOFD_WITH_FD: {
		uint64_t v = VHOST_USER_VRING_NOFD_MASK;

		send_msg(fd, VHOST_USER_SET_VRING_CALL, VHOST_USER_VERSION, &v, 8, fds, 1);
		break;
	}
	case HOSTILE_TOO_MANY_FDS: {
		struct vhost_user_header h = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 };

		/* More fds than any message may carry. */
		send_raw(fd, &h, sizeof(h), fds, VHOST_USER_MAX_FDS + 1);
		break;
	}
	case HOSTILE_FDS_ON_GET:
		send_msg(fd, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, NULL, 0, fds, 1);
		break;
	case HOSTILE_VRING_INDEX:
		send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, NVRINGS, 256);
		break;
	case HOSTILE_VRING_FD_INDEX:
		send_vring_fd(fd, VHOST_USER_SET_VRING_KICK, 200, memfd);
		break;
	case HOSTILE_VRING_RESERVED_BITS: {
		uint64_t v = 1ULL << 40;

		send_msg(fd, VHOST_USER_SET_VRING_ERR, VHOST_USER_VERSION, &v, 8, fds, 1);
		break;
	}
	case HOSTILE_OVERLAP:
		send_mem_table(fd, VHOST_USER_VERSION, r, 2, fds);
		break;
	case HOSTILE_GIANT_REGION:
		r[0].memory_size = 1ULL << 40;
		send_mem_table(fd, VHOST_USER_VERSION, r, 1, fds);
		break;
	case HOSTILE_WRAP_REGION:
		r[0].guest_phys_addr = UINT64_MAX - PAGE;
		send_mem_table(fd, VHOST_USER_VERSION, r, 1, fds);
		break;
	case HOSTILE_TABLE_COUNT: {
		struct vhost_user_memory m = { .nregions = 9 };

		send_msg(fd, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, &m,
			 (uint32_t)(8 + 8 * sizeof(r[0])), fds, 8);
		break;
	}
	case HOSTILE_GIANT_HEADER_SIZE: {
		struct vhost_user_header h = { VHOST_USER_SET_FEATURES, VHOST_USER_VERSION,
					       0xffffffffu };

		send_raw(fd, &h, sizeof(h), NULL, 0);
		break;
	}
	case HOSTILE_UNKNOWN:
		send_msg(fd, 99, VHOST_USER_VERSION, NULL, 0, NULL, 0);
		break;
	case HOSTILE_ZERO_REQUEST:
		send_msg(fd, VHOST_USER_NONE, VHOST_USER_VERSION, NULL, 0, NULL, 0);
		break;
	case HOSTILE_VERSION:
		send_msg(fd, VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0);
		break;
	case HOSTILE_REPLY_FLAG:
		send_msg(fd, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
			 NULL, 0, NULL, 0);
		break;
	case HOSTILE_UNOFFERED_FEATURES:
		send_u64(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 1ULL << 63);
		break;
	case HOSTILE_NOT_NEGOTIATED: {
		struct vhost_user_inflight in = { .num_queues = 1, .queue_size = 16 };

		send_msg(fd, VHOST_USER_GET_INFLIGHT_FD, VHOST_USER_VERSION, &in, sizeof(in), NULL,
			 0);
		break;
	}
	case HOSTILE_ENABLE_VALUE:
		send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, all_protocol);
		send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 0, 2);
		break;
	case HOSTILE_CONFIG_SIZE: {
		struct vhost_user_config c = { .offset = 0, .size = 8 };

		send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, all_protocol);
		send_msg(fd, VHOST_USER_SET_CONFIG, VHOST_USER_VERSION, &c,
			 (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0);
		break;
	}
	case HOSTILE_RING_SIZE:
		send_state(fd, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 0, 65536);
		break;
	case HOSTILE_UNSUPPORTED:
		send_msg(fd, VHOST_USER_POSTCOPY_ADVISE, VHOST_USER_VERSION, NULL, 0, NULL, 0);
		break;
	case HOSTILE_INFLIGHT_QUEUES: {
		struct vhost_user_inflight in = { .num_queues = NVRINGS + 1, .queue_size = 16 };

		send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, all_protocol);
		send_msg(fd, VHOST_USER_GET_INFLIGHT_FD, VHOST_USER_VERSION, &in, sizeof(in), NULL,
			 0);
		break;
	}
	case HOSTILE_LOG_TOO_BIG: {
		struct vhost_user_log lg = { .mmap_size = 1ULL << 30, .mmap_offset = 0 };

		send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, all_protocol);
		send_msg(fd, VHOST_USER_SET_LOG_BASE, VHOST_USER_VERSION, &lg, sizeof(lg), fds, 1);
		break;
	}
	case HOSTILE_TOO_MANY_REGIONS: {
		/* One region is mapped already: the last of these is one too many. */
		for (i = 0; i < GUEST_MEM_MAX_REGIONS; i++) {
			struct vhost_user_memory_single one = {
			    .region = {0x10000000 + i * PAGE, PAGE, 0x10000000 + i * PAGE, 0},
			};

			if (i == 0)
				send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION,
					 all_protocol);
			send_msg(fd, VHOST_USER_ADD_MEM_REG, VHOST_USER_VERSION, &one, sizeof(one),
				 &memfd, 1);
			pump();
			assert_true(i == GUEST_MEM_MAX_REGIONS - 1 ||
				    vhost_user_server_mem(dev.s)->nregions == (unsigned int)i + 2);
		}
		break;
	}
	case HOSTILE_INFLIGHT_TOO_BIG: {
		/* A real fd that holds the whole (sparse) buffer: only the limit refuses it. */
		struct vhost_user_inflight in = {.mmap_size = VHOST_USER_INFLIGHT_MAX_SIZE + PAGE,
						 .num_queues = 1,
						 .queue_size = 16};
		int big = make_memfd((size_t)in.mmap_size);

		send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION, all_protocol);
		send_msg(fd, VHOST_USER_SET_INFLIGHT_FD, VHOST_USER_VERSION, &in, sizeof(in), &big,
			 1);
		close(big);
		break;
	}
	default:
		break;
	}
}

static void test_hostile(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	int memfd = make_memfd(MEM_SIZE);
	int before = count_fds();
	int k;

	for (k = 0; k < HOSTILE_COUNT; k++) {
		int fd = attach_front_end(s);

		send_u64(fd, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION,
			 DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
		/* One ring running, so closing must stop it. */
		if (k != HOSTILE_MISSING_FD && k != HOSTILE_TOO_MANY_FDS) {
			struct vhost_user_memory_region r = { GPA_BASE, MEM_SIZE, UVA_BASE, 0 };

			send_mem_table(fd, VHOST_USER_VERSION, &r, 1, &memfd);
			setup_ring(fd, 0, 0, -1);
			send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_VERSION,
				 all_protocol & ~(1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
			send_state(fd, VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 0, 1);
			pump();
			assert_int_equal(dev.running, 1);
		}
		assert_true(vhost_user_server_connected(s));
		send_hostile(fd, (enum hostile_kind)k, memfd);
		print_message("hostile case %d\n", k);
		assert_closed(fd);
		assert_int_equal(dev.running, 0);
		assert_int_equal(dev.disconnected, k + 1);
		assert_int_equal(vhost_user_server_mem(s)->nregions, 0);
		close(fd);
	}
	/* Every fd the front ends passed was closed. */
	assert_int_equal(count_fds(), before);

	/* And the next front end is served. */
	{
		int fd = attach_front_end(s);

		assert_int_equal(get_u64(fd, VHOST_USER_GET_FEATURES),
				 DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
		assert_int_equal(vhost_user_server_attach(s, fd), -EBUSY);
		close(fd);
		pump();
	}
	close(memfd);
	vhost_user_server_free(s);
}

/* A flood of messages is handled VHOST_USER_SERVER_MSGS_PER_READ per loop round, none lost;
 * a front end that never reads its replies is disconnected once the socket is full. */
static void test_message_flood(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	const unsigned int n = 3 * VHOST_USER_SERVER_MSGS_PER_READ + 5;
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
	struct vhost_user_header burst[3 * VHOST_USER_SERVER_MSGS_PER_READ + 5];
	unsigned int i, sent = 0;
	int fd = attach_front_end(s);

	for (i = 0; i < n; i++)
		burst[i] = h;
	send_raw(fd, burst, sizeof(burst), NULL, 0);
	dev.get_features_calls = 0;
	loop_run_once(loop, 100);
	assert_int_equal(dev.get_features_calls, VHOST_USER_SERVER_MSGS_PER_READ);
	for (i = 0; i < n; i++)
		assert_int_equal(reply_u64(fd, VHOST_USER_GET_FEATURES),
				 DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(dev.get_features_calls, n);
	assert_no_reply(fd);

	/* Now never read: the replies fill the socket and the server lets go. */
	for (i = 0; i < 1000000 && vhost_user_server_connected(s); i++) {
		if (send(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(h))
			sent++;
		else
			loop_run_once(loop, 1);
	}
	assert_false(vhost_user_server_connected(s));
	assert_true(sent > n);
	close(fd);
	vhost_user_server_free(s);
}

/* A message in pieces, with the fd on the first piece: assembled before it is handled. */
static void test_partial_message(void **state)
{
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	int fd = attach_front_end(s);
	int memfd = make_memfd(MEM_SIZE);
	struct {
		struct vhost_user_header h;
		struct vhost_user_memory m;
	} __attribute__((packed)) msg = {
		{ VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 8 + 32 },
		{ .nregions = 1, .regions = { { GPA_BASE, MEM_SIZE, UVA_BASE, 0 } } },
	};
	const uint8_t *b = (const uint8_t *)&msg;

	send_raw(fd, b, 5, &memfd, 1);
	pump();
	send_raw(fd, b + 5, 10, NULL, 0);
	pump();
	assert_int_equal(vhost_user_server_mem(s)->nregions, 0);
	send_raw(fd, b + 15, 12 + 40 - 15, NULL, 0);
	pump();
	assert_int_equal(vhost_user_server_mem(s)->nregions, 1);
	assert_true(vhost_user_server_connected(s));
	close(fd);
	pump();
	close(memfd);
	vhost_user_server_free(s);
}

static void socket_path(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/tmp/vwire-test-vhost-user-%s-%d.sock", what, (int)getpid());
}

static int connect_path(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	pump();
	return fd;
}

static void test_server_mode(void **state)
{
	struct error err = { 0 };
	struct vhost_user_server *s;
	char path[108];
	int fd, fd2;

	socket_path(path, sizeof(path), "srv");
	s = server_new(path, true, 0, &err);
	assert_non_null(s);
	assert_int_equal(access(path, F_OK), 0);

	fd = connect_path(path);
	assert_true(vhost_user_server_connected(s));
	assert_int_equal(dev.connected, 1);
	/* One front end at a time: a second one is turned away. */
	fd2 = connect_path(path);
	{
		char b;

		assert_int_equal(recv(fd2, &b, 1, MSG_DONTWAIT), 0);
	}
	close(fd2);
	assert_int_equal(get_u64(fd, VHOST_USER_GET_QUEUE_NUM), NVRINGS / 2);
	send_msg(fd, 1234, VHOST_USER_VERSION, NULL, 0, NULL, 0);
	assert_closed(fd);
	close(fd);

	/* Still listening: the next front end is served. */
	fd = connect_path(path);
	assert_int_equal(dev.connected, 2);
	assert_int_equal(get_u64(fd, VHOST_USER_GET_QUEUE_NUM), NVRINGS / 2);
	close(fd);
	pump();
	assert_int_equal(dev.disconnected, 2);
	vhost_user_server_free(s);
	/* The socket is removed with the server. */
	assert_int_equal(access(path, F_OK), -1);

	/* A path that is not a socket is not replaced. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(server_new(path, true, 0, &err));
	assert_int_equal(err.code, -EEXIST);
	unlink(path);
}

static int listen_path(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	strcpy(sun.sun_path, path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Accept within @ms milliseconds while running the loop. */
static int accept_within(int lfd, int ms)
{
	int64_t end = loop_now_ns() + (int64_t)ms * 1000000;
	int fd;

	while (loop_now_ns() < end) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		loop_run_once(loop, 20);
	}
	return -1;
}

static void test_client_reconnect(void **state)
{
	struct error err = { 0 };
	struct vhost_user_server *s;
	char path[108];
	int lfd, fd;

	socket_path(path, sizeof(path), "cli");
	unlink(path);
	/* Nobody listening and no reconnect: an error naming the path. */
	assert_null(server_new(path, false, 0, &err));
	assert_non_null(strstr(err.msg, path));

	/* With reconnect: waits for the front end to appear. */
	s = server_new(path, false, 1, &err);
	assert_non_null(s);
	assert_false(vhost_user_server_connected(s));
	lfd = listen_path(path);
	fd = accept_within(lfd, 3000);
	assert_true(fd >= 0);
	pump();
	assert_true(vhost_user_server_connected(s));
	assert_int_equal(get_u64(fd, VHOST_USER_GET_FEATURES),
			 DEV_FEATURES | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	/* The front end goes away; the server comes back by itself. */
	close(fd);
	pump();
	assert_false(vhost_user_server_connected(s));
	fd = accept_within(lfd, 3000);
	assert_true(fd >= 0);
	pump();
	assert_true(vhost_user_server_connected(s));
	assert_int_equal(dev.connected, 2);
	close(fd);
	pump();
	vhost_user_server_free(s);
	close(lfd);
	unlink(path);
}

/*
 * Kick, call, err and log fds are checked for what they must be: a blocking pipe in the right
 * direction is taken and made nonblocking (a full call fd then never blocks the loop); a file,
 * a directory or a pipe end in the wrong direction ends the connection.
 */
static void test_event_fd_checks(void **state)
{
	struct {
		uint32_t req;
		int kind; /* 0 file, 1 directory, 2 read end as call, 3 write end as kick */
	} bad[] = {
		{ VHOST_USER_SET_VRING_CALL, 0 }, { VHOST_USER_SET_VRING_KICK, 1 },
		{ VHOST_USER_SET_VRING_CALL, 2 }, { VHOST_USER_SET_VRING_KICK, 3 },
		{ VHOST_USER_SET_VRING_ERR, 0 },  { VHOST_USER_SET_LOG_FD, 2 },
	};
	int fd, memfd, p[2], i, before = count_fds();
	struct vhost_user_server *s = server_new(NULL, false, 0, NULL);
	struct vhost_user_vring *vr;

	assert_non_null(s);
	fd = handshake(s, all_protocol, &memfd);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	send_vring_fd(fd, VHOST_USER_SET_VRING_CALL, 0, p[1]);
	pump();
	vr = vhost_user_server_vring(s, 0);
	assert_true(vr->call_fd >= 0);
	assert_true(fcntl(vr->call_fd, F_GETFL) & O_NONBLOCK);
	/* Far more than a page of notifications nobody reads: each returns at once. */
	for (i = 0; i < 2000; i++)
		assert_int_equal(vhost_user_vring_call(vr), 0);
	close(p[0]);
	close(p[1]);
	close(fd);
	close(memfd);
	pump();

	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		int bad_fd, other = -1;

		fd = handshake(s, all_protocol, &memfd);
		switch (bad[i].kind) {
		case 0:
			bad_fd = make_memfd(4096);
			break;
		case 1:
			bad_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			break;
		default:
			assert_int_equal(pipe2(p, O_CLOEXEC), 0);
			bad_fd = bad[i].kind == 2 ? p[0] : p[1];
			other = bad[i].kind == 2 ? p[1] : p[0];
			break;
		}
		assert_true(bad_fd >= 0);
		if (bad[i].req == VHOST_USER_SET_LOG_FD)
			send_msg(fd, bad[i].req, VHOST_USER_VERSION, NULL, 0, &bad_fd, 1);
		else
			send_vring_fd(fd, bad[i].req, 0, bad_fd);
		assert_closed(fd);
		close(bad_fd);
		if (other >= 0)
			close(other);
		close(fd);
		close(memfd);
	}
	vhost_user_server_free(s);
	assert_int_equal(count_fds(), before);
}

static int group_setup(void **state)
{
	loop = loop_new();
	return loop ? 0 : -1;
}

static int group_teardown(void **state)
{
	loop_free(loop);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_rings),
		cmocka_unit_test(test_no_protocol_features),
		cmocka_unit_test(test_ring_needs_memory),
		cmocka_unit_test(test_config_inflight_log),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_event_fd_checks),
		cmocka_unit_test(test_partial_message),
		cmocka_unit_test(test_message_flood),
		cmocka_unit_test(test_server_mode),
		cmocka_unit_test(test_client_reconnect),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
