// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_vhost_user_server.c - libFuzzer harness for the whole vhost-user server: the input is
 * a stream of messages sent over a real socket to a server on a real event loop, with a fake
 * device behind it that touches every ring and inflight byte it is handed.
 *
 * Input: records of [fd byte][12-byte header][payload, header's size bytes or what is left].
 * The fd byte's low nibble is the fd count (0-9), its high nibble what each fd is (enum
 * fuzz_fd_kind: the 64 KiB guest memfd, an eventfd, pipe ends including a full one and one
 * whose writer is gone, /dev/null, a directory, a socket); kind FUZZ_FD_SHRINK sends nothing
 * but truncates the guest memfd to (count * 8 KiB) first, as a hostile front end shrinks memory
 * vwire has mapped (the SIGBUS guard must then stop the device, not the process). The stream
 * is sent, the socket shut for writing, and the loop run until the server drops the
 * connection. Replies (and fds in them) are drained. Every input must leave no fd behind and
 * the server ready for the next one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "vhost-user/server.h"
#include "vwire/loop.h"

#define FUZZ_NVRINGS 4
#define FUZZ_MEMFD_SIZE 65536
#define FUZZ_MAX_FDS (VHOST_USER_MAX_FDS + 1)
#define FUZZ_ROUNDS 2000

/* What the fds of one record are (the fd byte's high nibble, modulo the count). */
enum fuzz_fd_kind {
	FUZZ_FD_MEMFD,
	FUZZ_FD_EVENTFD,
	FUZZ_FD_PIPE_READ,
	FUZZ_FD_PIPE_WRITE_FULL,
	FUZZ_FD_PIPE_READ_HUP,
	FUZZ_FD_DEVNULL,
	FUZZ_FD_DIRECTORY,
	FUZZ_FD_SOCKET,
	FUZZ_FD_SHRINK,
	FUZZ_FD_KINDS,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *fuzz_loop;
static struct vhost_user_server *fuzz_server;
static int fuzz_memfd = -1;
static int fuzz_pipe[2] = { -1, -1 };
static int fuzz_running;

/* Read a byte at each end of a host range, so a wrong mapping faults here. */
static void fuzz_touch(const void *p, uint64_t len)
{
	const volatile uint8_t *b = p;

	if (!p || !len)
		return;
	(void)b[0];
	(void)b[len - 1];
}

static void fuzz_touch_uva(const struct guest_mem *m, uint64_t uva, uint64_t len)
{
	uint64_t got = len;
	void *p = guest_mem_translate_uva(m, uva, &got);

	if (p && got > len)
		abort();
	fuzz_touch(p, got);
}

static uint64_t fuzz_get_features(void *opaque)
{
	return (1ULL << 32) | (1ULL << 34) | (1ULL << VHOST_F_LOG_ALL) | 0xffffULL;
}

static int fuzz_queue_start(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	const struct guest_mem *m = vhost_user_server_mem(fuzz_server);
	struct iovec iov[4];
	uint64_t gpa;

	if (idx >= FUZZ_NVRINGS || vr->started || !vr->num || vr->num > VHOST_USER_MAX_QUEUE_SIZE)
		abort();
	fuzz_touch_uva(m, vr->desc_uva, 16ULL * vr->num);
	fuzz_touch_uva(m, vr->avail_uva, 6 + 2ULL * vr->num);
	fuzz_touch_uva(m, vr->used_uva, 6 + 8ULL * vr->num);
	if (guest_mem_uva_to_gpa(m, vr->desc_uva, &gpa) == 0) {
		int n = guest_mem_map_iov(m, gpa, 16ULL * vr->num, iov, 4);

		for (int i = 0; i < n; i++)
			fuzz_touch(iov[i].iov_base, iov[i].iov_len);
	}
	if (vr->flags & (1u << VHOST_VRING_F_LOG))
		guest_mem_log_write(m, vr->log_guest_addr, 6 + 8ULL * vr->num);
	fuzz_touch(vr->inflight, vr->inflight_size);
	/* Refuse now and then, as a device does with a ring outside memory. */
	if ((vr->base & 0xff) == 0x5a)
		return -EFAULT;
	fuzz_running++;
	return 0;
}

static uint32_t fuzz_queue_stop(void *opaque, unsigned int idx, struct vhost_user_vring *vr)
{
	if (!vr->started)
		abort();
	fuzz_running--;
	return vr->base + 1;
}

static int fuzz_get_config(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	if (offset > 64 || len > 64 - offset)
		return -EINVAL;
	memset(buf, 0x42, len);
	return 0;
}

static int fuzz_set_config(void *opaque, uint32_t offset, const void *buf, uint32_t len,
			   uint32_t flags)
{
	return offset & 1 ? -EINVAL : 0;
}

static void fuzz_send_rarp(void *opaque, const uint8_t mac[6])
{
	fuzz_touch(mac, 6);
}

static int fuzz_set_mtu(void *opaque, uint16_t mtu)
{
	return mtu < 68 ? -EINVAL : 0;
}

static void fuzz_disconnected(void *opaque)
{
	if (fuzz_running)
		abort();
}

static const struct vhost_user_dev_ops fuzz_ops = {
	.get_features = fuzz_get_features,
	.queue_start = fuzz_queue_start,
	.queue_stop = fuzz_queue_stop,
	.get_config = fuzz_get_config,
	.set_config = fuzz_set_config,
	.send_rarp = fuzz_send_rarp,
	.set_mtu = fuzz_set_mtu,
	.disconnected = fuzz_disconnected,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vhost_user_server_cfg cfg = {
		.num_vrings = FUZZ_NVRINGS,
		.queue_num = FUZZ_NVRINGS / 2,
		.protocol_features = VHOST_USER_SERVER_PROTOCOL_FEATURES,
		.ops = &fuzz_ops,
		.name = "fuzz",
	};

	/* FUZZ_VERBOSE=1 shows each request and refusal (to check what a seed reaches). */
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	fuzz_loop = loop_new();
	fuzz_server = fuzz_loop ? vhost_user_server_new(fuzz_loop, &cfg, NULL) : NULL;
	fuzz_memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (!fuzz_server || fuzz_memfd < 0 || ftruncate(fuzz_memfd, FUZZ_MEMFD_SIZE) < 0 ||
	    pipe2(fuzz_pipe, O_CLOEXEC) < 0)
		abort();
	return 0;
}

static int fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Read and discard the server's replies, closing any fd they carry. */
static void fuzz_drain(int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FUZZ_MAX_FDS)];
		struct cmsghdr align;
	} u;
	char buf[4096];

	for (;;) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c;

		if (recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int rfd;

				memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(rfd);
			}
		}
	}
}

/*
 * One fd of @kind for a record: the guest memfd itself (not to be closed: returns -1 in
 * *@own), or a new one the caller closes once sent.
 */
static int fuzz_make_fd(enum fuzz_fd_kind kind, int *own)
{
	int p[2], fd = -1;

	*own = -1;
	switch (kind) {
	case FUZZ_FD_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case FUZZ_FD_PIPE_READ:
	case FUZZ_FD_PIPE_WRITE_FULL:
	case FUZZ_FD_PIPE_READ_HUP:
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		if (kind == FUZZ_FD_PIPE_WRITE_FULL) {
			/* One page, filled: a write on it would block. */
			char page[4096] = { 0 };

			fcntl(p[1], F_SETPIPE_SZ, 4096);
			fcntl(p[1], F_SETFL, O_NONBLOCK);
			while (write(p[1], page, sizeof(page)) > 0)
				;
			fcntl(p[1], F_SETFL, 0);
			close(p[0]);
			fd = p[1];
		} else if (kind == FUZZ_FD_PIPE_READ_HUP) {
			close(p[1]);
			fd = p[0];
		} else {
			/* A reader whose writer lives on (in this process, for good): no HUP. */
			close(p[0]);
			close(p[1]);
			fd = dup(fuzz_pipe[0]);
		}
		break;
	case FUZZ_FD_DEVNULL:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	case FUZZ_FD_DIRECTORY:
		fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case FUZZ_FD_SOCKET:
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) < 0)
			abort();
		close(p[1]);
		fd = p[0];
		break;
	default:
		return fuzz_memfd;
	}
	if (fd < 0)
		abort();
	*own = fd;
	return fd;
}

static void fuzz_send(int fd, const uint8_t *buf, size_t len, unsigned int nfds,
		      enum fuzz_fd_kind kind)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FUZZ_MAX_FDS)];
		struct cmsghdr align;
	} u;
	int fds[FUZZ_MAX_FDS];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int rounds = 0, own = -1;

	if (nfds) {
		struct cmsghdr *c;
		int one = fuzz_make_fd(kind, &own);

		for (unsigned int i = 0; i < nfds; i++)
			fds[i] = one;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (len && rounds++ < FUZZ_ROUNDS) {
		ssize_t n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			/* fds go with the first bytes only */
			mh.msg_control = NULL;
			mh.msg_controllen = 0;
			iov.iov_base = (uint8_t *)iov.iov_base + n;
			iov.iov_len -= (size_t)n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			break; /* the server hung up */
		loop_run_once(fuzz_loop, 0);
		fuzz_drain(fd);
	}
	if (own >= 0)
		close(own);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds_before = fuzz_count_fds();
	int sv[2], rounds;
	size_t pos = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vhost_user_server_attach(fuzz_server, sv[0]) < 0)
		abort();
	/* A shrink in the last input leaves the memfd small. */
	if (ftruncate(fuzz_memfd, FUZZ_MEMFD_SIZE) < 0)
		abort();

	while (pos + 1 + sizeof(struct vhost_user_header) <= size) {
		struct vhost_user_header hdr;
		unsigned int nfds = (data[pos] & 0xf) % (FUZZ_MAX_FDS + 1);
		enum fuzz_fd_kind kind = (enum fuzz_fd_kind)((data[pos] >> 4) % FUZZ_FD_KINDS);
		size_t len;

		if (kind == FUZZ_FD_SHRINK) {
			if (ftruncate(fuzz_memfd, (off_t)nfds * 8192) < 0)
				abort();
			pos++;
			continue;
		}
		memcpy(&hdr, data + pos + 1, sizeof(hdr));
		len = sizeof(hdr) + (hdr.size < size ? hdr.size : size);
		if (len > size - pos - 1)
			len = size - pos - 1;
		fuzz_send(sv[1], data + pos + 1, len, nfds, kind);
		pos += 1 + len;
		loop_run_once(fuzz_loop, 0);
		fuzz_drain(sv[1]);
	}
	shutdown(sv[1], SHUT_WR);
	for (rounds = 0; vhost_user_server_connected(fuzz_server) && rounds < FUZZ_ROUNDS; rounds++) {
		loop_run_once(fuzz_loop, 0);
		fuzz_drain(sv[1]);
	}
	/* End of stream must end the connection; anything else is a hang in waiting. */
	if (vhost_user_server_connected(fuzz_server))
		abort();
	close(sv[1]);
	if (fuzz_running || fuzz_count_fds() != fds_before)
		abort();
	return 0;
}
