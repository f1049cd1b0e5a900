// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tap-uring.c - batched reads and writes on a tap fd through io_uring, for tap.c.
 *
 * A burst of frames becomes one readv or writev submission entry per frame and one
 * io_uring_enter for all of them, where plain calls cost one system call per frame. Every
 * entry asks not to wait (RWF_NOWAIT), so the kernel does each at once, in order, in the
 * submitting call: a read with nothing to read and a write to a full tap come back as
 * -EAGAIN, never as work left pending on buffers the caller reuses. Writes are linked: after
 * one that fails the others are cancelled, so frames never leave out of order.
 *
 * The ring accepts nothing but readv and writev (IORING_REGISTER_RESTRICTIONS), so it gives
 * a process under -sandbox on no system call its filter would refuse. Without liburing the
 * functions say ENOSYS and tap.c uses read and writev.
 */
#include <errno.h>
#include <stdlib.h>

#include "backends/tap.h"
#include "config.h"

#if HAVE_LIBURING
#include <liburing.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <unistd.h>

/**
 * struct tap_uring - a ring and the most entries it takes at once
 * @ring:	the io_uring
 * @depth:	its submission queue's size
 */
struct tap_uring {
	struct io_uring ring;
	unsigned int depth;
};

/*
 * Only readv and writev, linked or not: the ring can do nothing else. By system call: the
 * liburing 2.3 of Debian bookworm does not export its wrappers of these.
 */
static int tap_uring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[3] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_IO_LINK },
	};

	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
		    3) < 0)
		return -errno;
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
		    0) < 0)
		return -errno;
	return 0;
}

struct tap_uring *tap_uring_new(unsigned int depth, int *errp)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	struct tap_uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u) {
		*errp = -ENOMEM;
		return NULL;
	}
	ret = io_uring_queue_init_params(depth, &u->ring, &p);
	if (ret < 0) {
		free(u);
		*errp = ret;
		return NULL;
	}
	ret = tap_uring_restrict(&u->ring);
	if (ret < 0) {
		io_uring_queue_exit(&u->ring);
		free(u);
		*errp = ret;
		return NULL;
	}
	u->depth = depth;
	return u;
}

void tap_uring_free(struct tap_uring *u)
{
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	free(u);
}

/* Collect @n completions into @res by their index; wait for any the kernel still holds. */
static int tap_uring_reap(struct tap_uring *u, unsigned int n, ssize_t *res)
{
	unsigned int seen = 0;

	while (seen < n) {
		struct io_uring_cqe *cqe;
		unsigned int head, got = 0;
		int ret;

		io_uring_for_each_cqe(&u->ring, head, cqe) {
			if (cqe->user_data < n)
				res[cqe->user_data] = cqe->res;
			got++;
		}
		io_uring_cq_advance(&u->ring, got);
		seen += got;
		if (seen >= n)
			break;
		ret = io_uring_wait_cqe_nr(&u->ring, &cqe, n - seen);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			return ret;
	}
	return 0;
}

int tap_uring_rw(struct tap_uring *u, int fd, bool write, const struct iovec *iov,
		 const int *iovcnt, unsigned int n, ssize_t *res)
{
	unsigned int i;
	int ret;

	if (n > u->depth)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (write)
			io_uring_prep_writev(sqe, fd, iov, (unsigned int)iovcnt[i], 0);
		else
			io_uring_prep_readv(sqe, fd, iov, (unsigned int)iovcnt[i], 0);
		sqe->rw_flags = RWF_NOWAIT;
		sqe->user_data = i;
		if (write && i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
		iov += iovcnt[i];
		res[i] = -ECANCELED;
	}
	/* The entries run in this call; waiting for all of them costs no second call. */
	do {
		ret = io_uring_submit_and_wait(&u->ring, n);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	if ((unsigned int)ret != n)
		return -EIO;
	return tap_uring_reap(u, n, res);
}

#else /* !HAVE_LIBURING */

struct tap_uring *tap_uring_new(unsigned int depth, int *errp)
{
	(void)depth;
	*errp = -ENOSYS;
	return NULL;
}

void tap_uring_free(struct tap_uring *u)
{
	(void)u;
}

int tap_uring_rw(struct tap_uring *u, int fd, bool write, const struct iovec *iov,
		 const int *iovcnt, unsigned int n, ssize_t *res)
{
	(void)u, (void)fd, (void)write, (void)iov, (void)iovcnt, (void)n, (void)res;
	return -ENOSYS;
}

#endif
