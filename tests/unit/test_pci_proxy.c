// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_pci_proxy.c - the PCI proxy server (pci/pci-proxy.c) driven as QEMU's x-pci-proxy-dev
 * drives it, over a socketpair: identity and BAR sizing in config space, BAR accesses routed
 * to the model by (BAR, offset), guest RAM mapped from SYNC_SYSMEM's memfds, INTx edges on the
 * irqfd and again on resample, the IOAPIC pin set through a qtest socket without waiting for
 * its answers (and given up on a refusal), DEVICE_RESET, and malformed messages ending the
 * connection.
 */
#include <errno.h>
#include <pthread.h>
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

#include "pci/pci-proxy.h"
#include "virtio/guest-mem.h"
#include "vwire/error.h"
#include "vwire/loop.h"

enum { SYNC_SYSMEM = 0, RET = 1, CFGWRITE = 2, CFGREAD = 3, BAR_WRITE = 4, BAR_READ = 5,
       SET_IRQFD = 6, DEVICE_RESET = 7 };

/* The model: records what reached it. */
struct model {
	unsigned int reads, writes, resets, connects, disconnects;
	unsigned int last_bar;
	uint64_t last_offset, last_value;
	unsigned int last_size;
};

struct fixture {
	struct loop *loop;
	struct pci_proxy *proxy;
	struct model model;
	int qemu; /* QEMU's end */
};

static uint64_t model_read(void *opaque, unsigned int bar, uint64_t offset, unsigned int size)
{
	struct model *m = opaque;

	m->reads++;
	m->last_bar = bar;
	m->last_offset = offset;
	m->last_size = size;
	return 0x1122334455667788ull;
}

static void model_write(void *opaque, unsigned int bar, uint64_t offset, uint64_t value,
			unsigned int size)
{
	struct model *m = opaque;

	m->writes++;
	m->last_bar = bar;
	m->last_offset = offset;
	m->last_value = value;
	m->last_size = size;
}

static void model_reset(void *opaque)
{
	((struct model *)opaque)->resets++;
}

static void model_connected(void *opaque)
{
	((struct model *)opaque)->connects++;
}

static void model_disconnected(void *opaque)
{
	((struct model *)opaque)->disconnects++;
}

static const struct pci_function_ops model_ops = {
	.bar_read = model_read,
	.bar_write = model_write,
	.reset = model_reset,
	.connected = model_connected,
	.disconnected = model_disconnected,
};

static const struct pci_function_desc model_desc = {
	.vendor_id = 0x8086,
	.device_id = 0x100e,
	.subsystem_vendor_id = 0x1af4,
	.subsystem_id = 0x1100,
	.revision = 3,
	.class_code = 0x020000,
	.irq_pin = 1,
	.bars = { { 0x20000, false }, { 64, true } },
};

/*
 * A proxy on one end of a socketpair, QEMU's end kept; INTx through @qtest's socket if given;
 * the socket polled before the loop sleeps for up to @poll_ns.
 */
static struct fixture *fixture_new(const char *qtest, uint64_t poll_ns)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pci_proxy_cfg cfg = { 0 };
	struct error err = { 0 };
	int sv[2];

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->loop = loop_new();
	assert_non_null(f->loop);
	cfg.name = "t0";
	cfg.fd = sv[1];
	cfg.qtest = qtest;
	cfg.ioapic = qtest ? "/machine/ioapic" : NULL;
	cfg.poll_ns = poll_ns;
	cfg.desc = &model_desc;
	cfg.ops = &model_ops;
	cfg.opaque = &f->model;
	f->proxy = pci_proxy_new(f->loop, &cfg, &err);
	assert_non_null(f->proxy);
	f->qemu = sv[0];
	assert_int_equal(f->model.connects, 1);
	return f;
}

static int setup(void **state)
{
	*state = fixture_new(NULL, 0);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_proxy_free(f->proxy);
	loop_free(f->loop);
	if (f->qemu >= 0)
		close(f->qemu);
	free(f);
	return 0;
}

/* Send one message as QEMU does: header and data in one sendmsg, fds alongside. */
static void send_msg(struct fixture *f, int cmd, const void *data, uint64_t size, const int *fds,
		     unsigned int nfds)
{
	struct { int32_t cmd; uint32_t pad; uint64_t size; } hdr = { cmd, 0, size };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)data, (size_t)size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(f->qemu, &mh, 0), (ssize_t)(sizeof(hdr) + size));
}

/* Let the proxy act on what was sent. */
static void run(struct fixture *f)
{
	for (int i = 0; i < 4; i++)
		loop_run_once(f->loop, 0);
}

/* Read the RET reply. */
static uint64_t reply(struct fixture *f)
{
	struct { int32_t cmd; uint32_t pad; uint64_t size; uint64_t value; } r;

	run(f);
	assert_int_equal(recv(f->qemu, &r, sizeof(r), MSG_DONTWAIT), (ssize_t)sizeof(r));
	assert_int_equal(r.cmd, RET);
	assert_int_equal(r.size, 8);
	return r.value;
}

static uint32_t cfg_read(struct fixture *f, uint32_t addr, int len)
{
	struct { uint32_t addr, val; int32_t len; } c = { addr, 0, len };

	send_msg(f, CFGREAD, &c, sizeof(c), NULL, 0);
	return (uint32_t)reply(f);
}

static void cfg_write(struct fixture *f, uint32_t addr, uint32_t val, int len)
{
	struct { uint32_t addr, val; int32_t len; } c = { addr, val, len };

	send_msg(f, CFGWRITE, &c, sizeof(c), NULL, 0);
	assert_int_equal(reply(f), 0);
}

static void bar_send(struct fixture *f, int cmd, uint64_t addr, uint64_t val, uint32_t size,
		     bool memory)
{
	struct { uint64_t addr, val; uint32_t size; uint8_t memory, pad[3]; } b = {
		addr, val, size, memory, { 0 } };

	send_msg(f, cmd, &b, sizeof(b), NULL, 0);
}

/* Whether QEMU's end was closed by the proxy. */
static bool closed_by_proxy(struct fixture *f)
{
	char c;

	run(f);
	return recv(f->qemu, &c, 1, MSG_DONTWAIT) == 0;
}

/* QEMU's realize: identity, then BAR sizing by writing all ones and reading back. */
static void test_identity_and_bar_sizing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_read(f, 0x00, 2), 0x8086);
	assert_int_equal(cfg_read(f, 0x02, 2), 0x100e);
	assert_int_equal(cfg_read(f, 0x00, 4), 0x100e8086);
	assert_int_equal(cfg_read(f, 0x08, 4), 0x02000003);
	assert_int_equal(cfg_read(f, 0x2c, 4), 0x11001af4);
	assert_int_equal(cfg_read(f, 0x3d, 1), 1);
	/* Identity is read-only. */
	cfg_write(f, 0x00, 0xffffffff, 4);
	assert_int_equal(cfg_read(f, 0x00, 4), 0x100e8086);

	cfg_write(f, 0x10, 0xffffffff, 4);
	assert_int_equal(cfg_read(f, 0x10, 4), 0xfffe0000); /* 128 KiB memory */
	cfg_write(f, 0x14, 0xffffffff, 4);
	assert_int_equal(cfg_read(f, 0x14, 4), 0xffffffc1); /* 64 bytes of I/O */
	for (uint32_t off = 0x18; off <= 0x28; off += 4) {
		cfg_write(f, off, 0xffffffff, 4);
		assert_int_equal(cfg_read(f, off, 4), 0); /* absent */
	}
	/* Reads past the 256 bytes of config space are zero, not a fault. */
	assert_int_equal(cfg_read(f, 0xfe, 4), 0);
	assert_int_equal(cfg_read(f, 0x400, 4), 0);
}

/* An absolute address reaches the model as (BAR, offset), memory and I/O kept apart. */
static void test_bar_routing(void **state)
{
	struct fixture *f = *state;

	cfg_write(f, 0x10, 0xfebc0000, 4);
	cfg_write(f, 0x14, 0xc000, 4);
	cfg_write(f, 0x04, 0x7, 2);

	bar_send(f, BAR_READ, 0xfebc0008, 0, 4, true);
	assert_int_equal(reply(f), 0x55667788);
	assert_int_equal(f->model.last_bar, 0);
	assert_int_equal(f->model.last_offset, 8);
	assert_int_equal(f->model.last_size, 4);

	bar_send(f, BAR_WRITE, 0xc004, 0xabcd, 4, false);
	assert_int_equal(reply(f), 0);
	assert_int_equal(f->model.last_bar, 1);
	assert_int_equal(f->model.last_offset, 4);
	assert_int_equal(f->model.last_value, 0xabcd);

	/* The same number in the other space, or past the BAR's end, is nobody's. */
	f->model.reads = 0;
	bar_send(f, BAR_READ, 0xc004, 0, 4, true);
	assert_int_equal(reply(f), 0xffffffff);
	bar_send(f, BAR_READ, 0xfebdfffe, 0, 4, true);
	assert_int_equal(reply(f), 0xffffffff);
	assert_int_equal(f->model.reads, 0);
	assert_true(pci_proxy_bus_master(f->proxy));
}

/* Guest RAM from memfds, remapped on every SYNC_SYSMEM. */
static void test_sync_sysmem(void **state)
{
	struct fixture *f = *state;
	struct { uint64_t gpas[8], sizes[8]; int64_t offsets[8]; } s = { 0 };
	struct guest_mem *mem = pci_proxy_mem(f->proxy);
	int fd = memfd_create("test-pci-proxy", MFD_CLOEXEC);
	int fds[2] = { fd, fd };
	uint64_t len = 8;
	uint8_t *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0x3000), 0);
	assert_int_equal(pwrite(fd, "ram", 3, 0x1000), 3);
	s.gpas[0] = 0;
	s.sizes[0] = 0x1000;
	s.offsets[0] = 0;
	s.gpas[1] = 0x100000;
	s.sizes[1] = 0x2000;
	s.offsets[1] = 0x1000;
	send_msg(f, SYNC_SYSMEM, &s, sizeof(s), fds, 2);
	run(f);
	assert_int_equal(mem->nregions, 2);
	p = guest_mem_translate(mem, 0x100000, &len);
	assert_non_null(p);
	assert_memory_equal(p, "ram", 3);
	assert_null(guest_mem_translate(mem, 0x1000, &len));

	/* A new topology replaces the old one. */
	send_msg(f, SYNC_SYSMEM, &s, sizeof(s), fds, 1);
	run(f);
	assert_int_equal(mem->nregions, 1);
	len = 8;
	assert_null(guest_mem_translate(mem, 0x100000, &len));

	/* Overlapping sections are refused: the connection ends, nothing stays mapped. */
	s.gpas[1] = 0x800;
	send_msg(f, SYNC_SYSMEM, &s, sizeof(s), fds, 2);
	assert_true(closed_by_proxy(f));
	assert_int_equal(mem->nregions, 0);
	assert_int_equal(f->model.disconnects, 1);
	close(fd);
}

/* INTx: an edge on the irqfd when the level rises, again on resample while it stays high. */
static void test_irqfd(void **state)
{
	struct fixture *f = *state;
	int fds[2] = { eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
	eventfd_t v;

	send_msg(f, SET_IRQFD, NULL, 0, fds, 2);
	run(f);
	pci_proxy_set_irq(f->proxy, true);
	assert_int_equal(eventfd_read(fds[0], &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cfg_read(f, 0x06, 2) & 0x8, 0x8); /* STATUS.INTERRUPT */
	/* Already high: no second edge. */
	pci_proxy_set_irq(f->proxy, true);
	assert_int_equal(eventfd_read(fds[0], &v), -1);
	/* EOI while still high: sent again. */
	eventfd_write(fds[1], 1);
	run(f);
	assert_int_equal(eventfd_read(fds[0], &v), 0);
	pci_proxy_set_irq(f->proxy, false);
	eventfd_write(fds[1], 1);
	run(f);
	assert_int_equal(eventfd_read(fds[0], &v), -1);
	assert_int_equal(cfg_read(f, 0x06, 2) & 0x8, 0);
	/* INTX_DISABLE holds the line down. */
	cfg_write(f, 0x04, 0x400, 2);
	pci_proxy_set_irq(f->proxy, true);
	assert_int_equal(eventfd_read(fds[0], &v), -1);
	cfg_write(f, 0x04, 0, 2);
	assert_int_equal(eventfd_read(fds[0], &v), 0);
	close(fds[0]);
	close(fds[1]);
}

/* Read what the proxy wrote to the qtest socket so far (NUL-terminated; "" if nothing). */
static void qtest_take(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
}

/* TCG's path: pin levels go to QEMU's qtest socket as set_irq_in commands, one per edge,
 * each written without waiting for the answer before it; an answer other than OK (or an
 * intercepted IRQ line) stops qtest for this connection. */
static void test_qtest(void **state)
{
	char dir[] = "/tmp/vwire-qtest-XXXXXX", path[64], buf[512];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fixture *f;
	int lfd, q;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qtest.sock", dir);
	strcpy(sun.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	f = fixture_new(path, 0);
	cfg_write(f, 0x3c, 11, 1); /* the guest's interrupt line: GSI 11 */

	/* Up and down before QEMU answered anything: both written, in order. */
	pci_proxy_set_irq(f->proxy, true);
	q = accept(lfd, NULL, NULL);
	assert_true(q >= 0);
	pci_proxy_set_irq(f->proxy, false);
	run(f);
	qtest_take(q, buf, sizeof(buf));
	assert_string_equal(buf, "set_irq_in /machine/ioapic unnamed-gpio-in 11 1\n"
				 "set_irq_in /machine/ioapic unnamed-gpio-in 11 0\n");
	/* Answers, with an intercepted-IRQ line between them, arriving in pieces. */
	assert_int_equal(send(q, "OK\nIRQ rai", 10, 0), 10);
	run(f);
	assert_int_equal(send(q, "sed 11\nOK\n", 10, 0), 10);
	run(f);
	pci_proxy_set_irq(f->proxy, true);
	qtest_take(q, buf, sizeof(buf));
	assert_string_equal(buf, "set_irq_in /machine/ioapic unnamed-gpio-in 11 1\n");
	/* A refusal: qtest is given up, nothing more is written to it. */
	assert_int_equal(send(q, "FAIL Unknown command\n", 21, 0), 21);
	run(f);
	pci_proxy_set_irq(f->proxy, false);
	pci_proxy_set_irq(f->proxy, true);
	run(f);
	qtest_take(q, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(recv(q, buf, 1, MSG_DONTWAIT), 0); /* and it was closed */

	close(q);
	close(lfd);
	unlink(path);
	rmdir(dir);
	*state = f;
	teardown(state);
}

static void test_device_reset(void **state)
{
	struct fixture *f = *state;

	send_msg(f, DEVICE_RESET, NULL, 0, NULL, 0);
	assert_int_equal(reply(f), 0);
	assert_int_equal(f->model.resets, 1);
}

/* Each malformed message ends the connection, and the model is reset. */
static void test_malformed(void **state)
{
	static const struct {
		int cmd;
		uint64_t size;
		unsigned int nfds;
	} bad[] = {
		{ 9, 0, 0 },		/* unknown command */
		{ RET, 8, 0 },		/* a reply is not a request */
		{ CFGREAD, 8, 0 },	/* wrong size */
		{ BAR_READ, 24, 1 },	/* an fd where none belongs */
		{ SET_IRQFD, 0, 1 },	/* one fd of two */
		{ SYNC_SYSMEM, 192, 0 },	/* no fd */
		{ DEVICE_RESET, 4, 0 },	/* odd size */
		{ CFGREAD, 1ull << 40, 0 }, /* size beyond any message */
	};
	uint8_t data[192] = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture *f;
		int fd = eventfd(0, EFD_CLOEXEC);
		int fds[1] = { fd };

		teardown(state);
		setup(state);
		f = *state;
		if (bad[i].size > sizeof(data)) {
			struct { int32_t cmd; uint32_t pad; uint64_t size; } hdr = { bad[i].cmd, 0,
										  bad[i].size };

			assert_int_equal(send(f->qemu, &hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
		} else {
			send_msg(f, bad[i].cmd, data, bad[i].size, fds, bad[i].nfds);
		}
		assert_true(closed_by_proxy(f));
		assert_int_equal(f->model.disconnects, 1);
		assert_true(f->model.resets >= 1);
		close(fd);
	}
	/* A config access of size 3 and a BAR access of size 16 too. */
	{
		struct fixture *f;
		struct { uint32_t addr, val; int32_t len; } c = { 0, 0, 3 };

		teardown(state);
		setup(state);
		f = *state;
		send_msg(f, CFGREAD, &c, sizeof(c), NULL, 0);
		assert_true(closed_by_proxy(f));
		teardown(state);
		setup(state);
		f = *state;
		bar_send(f, BAR_READ, 0, 0, 16, true);
		assert_true(closed_by_proxy(f));
	}
}

/* A vCPU on its own thread: accesses one after the other, each waiting for its reply. */
struct vcpu {
	int fd;
	unsigned int accesses, answered;
	volatile bool done;
};

static void *vcpu_run(void *opaque)
{
	struct vcpu *v = opaque;
	struct timeval tv = { 5, 0 };

	setsockopt(v->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (unsigned int i = 0; i < v->accesses; i++) {
		struct {
			int32_t cmd;
			uint32_t pad;
			uint64_t size, addr, val;
			uint32_t access_size;
			uint8_t memory, pad2[3];
		} m = { BAR_READ, 0, 24, 0xfebc0008, 0, 4, 1, { 0 } };
		struct { int32_t cmd; uint32_t pad; uint64_t size; uint64_t value; } r;

		if (send(v->fd, &m, sizeof(m), 0) != (ssize_t)sizeof(m) ||
		    recv(v->fd, &r, sizeof(r), MSG_WAITALL) != (ssize_t)sizeof(r) || r.cmd != RET ||
		    r.value != 0x55667788)
			break;
		v->answered++;
	}
	v->done = true;
	return NULL;
}

/*
 * poll-us: the loop's window is the device's, and a run of accesses from a vCPU thread is
 * answered, every one in order, while the loop polls the socket before sleeping (the window
 * grows, as accesses come soon after it). Freed, the proxy leaves the loop's poll handlers.
 */
static void test_poll(void **state)
{
	struct fixture *f = fixture_new(NULL, 10000000);
	struct vcpu v = { .fd = f->qemu, .accesses = 300 };
	int64_t widest = 0;
	pthread_t t;

	(void)state;
	assert_int_equal(loop_poll_max_ns(f->loop), 10000000);
	cfg_write(f, 0x10, 0xfebc0000, 4);
	cfg_write(f, 0x04, 0x7, 2);
	assert_int_equal(pthread_create(&t, NULL, vcpu_run, &v), 0);
	while (!v.done) {
		loop_run_once(f->loop, 10);
		if (loop_poll_ns(f->loop) > widest)
			widest = loop_poll_ns(f->loop);
	}
	pthread_join(t, NULL);
	assert_int_equal(v.answered, v.accesses);
	assert_int_equal(f->model.reads, v.accesses);
	assert_true(widest > 0);
	/* Freed: a round with the window open must not reach it. */
	pci_proxy_free(f->proxy);
	f->proxy = NULL;
	loop_run_once(f->loop, 1);
	teardown((void **)&f);
}

/* A message split over many writes is still one message. */
static void test_split_message(void **state)
{
	struct fixture *f = *state;
	struct { int32_t cmd; uint32_t pad; uint64_t size; uint32_t addr, val; int32_t len; } m = {
		CFGREAD, 0, 12, 0, 0, 2 };
	const uint8_t *b = (const uint8_t *)&m;

	for (size_t i = 0; i < sizeof(m); i++) {
		assert_int_equal(send(f->qemu, b + i, 1, 0), 1);
		run(f);
	}
	assert_int_equal(reply(f), 0x8086);
}

static void test_refuses_bad_cfg(void **state)
{
	struct pci_proxy_cfg cfg = { 0 };
	struct error err = { 0 };
	struct model m = { 0 };
	struct loop *loop = loop_new();
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	cfg.name = "bad";
	cfg.desc = &model_desc;
	cfg.ops = &model_ops;
	cfg.opaque = &m;
	cfg.fd = -1;
	assert_null(pci_proxy_new(loop, &cfg, &err)); /* neither socket nor fd */
	cfg.fd = fd;
	assert_null(pci_proxy_new(loop, &cfg, &err)); /* not a socket */
	assert_non_null(strstr(err.msg, "not"));
	close(fd);
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_sysmem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd, setup, teardown),
		cmocka_unit_test(test_qtest),
		cmocka_unit_test_setup_teardown(test_device_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_message, setup, teardown),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_refuses_bad_cfg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
