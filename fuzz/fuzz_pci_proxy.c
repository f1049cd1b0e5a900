// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_pci_proxy.c - libFuzzer harness for the PCI proxy server (src/pci/pci-proxy.c): the
 * input is a stream of QEMU multi-process messages sent over a real socket to a proxy on a
 * real event loop, with a fake model behind it that reads guest memory at every BAR write's
 * value (as a model's DMA would) and raises or lowers INTx.
 *
 * Input: records of [fd byte][16-byte header][data: the header's size bytes or what is left].
 * The fd byte's low two bits are the fd count (0-3), bit 2 picks the kind (a 64 KiB memfd of
 * "guest RAM", or eventfds). After each record the loop runs and replies are drained; at the
 * end the socket is shut and the loop run until the proxy lets go. No fd may be left behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "pci/pci-proxy.h"
#include "virtio/guest-mem.h"
#include "vwire/error.h"
#include "vwire/loop.h"

#define FUZZ_MEMFD_SIZE 65536
#define FUZZ_HDR_SIZE 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *fuzz_loop;
static struct pci_proxy *fuzz_proxy;
static int fuzz_memfd = -1;

static uint64_t fuzz_bar_read(void *opaque, unsigned int bar, uint64_t offset, unsigned int size)
{
	pci_proxy_set_irq(fuzz_proxy, false);
	return offset ^ bar;
}

/* A write's value is taken as a guest address to read 64 bytes at: the model's DMA. */
static void fuzz_bar_write(void *opaque, unsigned int bar, uint64_t offset, uint64_t value,
			   unsigned int size)
{
	uint64_t len = 64;
	const volatile uint8_t *p = guest_mem_translate(pci_proxy_mem(fuzz_proxy), value, &len);

	if (p && len) {
		if (len > 64)
			abort();
		(void)p[0];
		(void)p[len - 1];
	}
	pci_proxy_set_irq(fuzz_proxy, offset & 1);
}

static void fuzz_reset(void *opaque)
{
}

static const struct pci_function_ops fuzz_ops = {
	.bar_read = fuzz_bar_read,
	.bar_write = fuzz_bar_write,
	.reset = fuzz_reset,
};

static const struct pci_function_desc fuzz_desc = {
	.vendor_id = 0x8086,
	.device_id = 0x100e,
	.class_code = 0x020000,
	.irq_pin = 1,
	.bars = { { 0x20000, false }, { 64, true } },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LEVEL_ERROR);
	fuzz_loop = loop_new();
	fuzz_memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (!fuzz_loop || fuzz_memfd < 0 || ftruncate(fuzz_memfd, FUZZ_MEMFD_SIZE) < 0)
		abort();
	return 0;
}

static void fuzz_drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void fuzz_send(int fd, const uint8_t *bytes, size_t len, uint8_t fdbyte)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int nfds = fdbyte & 3;
	int fds[3];

	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = (fdbyte & 4) ? fuzz_memfd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
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
	(void)sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (!(fdbyte & 4))
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pci_proxy_cfg cfg = { 0 };
	struct error err = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	cfg.name = "fuzz";
	cfg.fd = sv[1];
	cfg.desc = &fuzz_desc;
	cfg.ops = &fuzz_ops;
	fuzz_proxy = pci_proxy_new(fuzz_loop, &cfg, &err);
	if (!fuzz_proxy)
		abort();
	while (size > 1) {
		uint8_t fdbyte = data[0];
		size_t len = FUZZ_HDR_SIZE;
		uint64_t msg_size;

		data++;
		size--;
		if (size >= FUZZ_HDR_SIZE) {
			memcpy(&msg_size, data + 8, sizeof(msg_size));
			if (msg_size <= size - FUZZ_HDR_SIZE)
				len += (size_t)msg_size;
			else
				len = size;
		} else {
			len = size;
		}
		fuzz_send(sv[0], data, len, fdbyte);
		data += len;
		size -= len;
		for (int i = 0; i < 3; i++)
			loop_run_once(fuzz_loop, 0);
		fuzz_drain(sv[0]);
	}
	shutdown(sv[0], SHUT_WR);
	for (int i = 0; i < 3; i++)
		loop_run_once(fuzz_loop, 0);
	pci_proxy_free(fuzz_proxy);
	fuzz_proxy = NULL;
	close(sv[0]);
	return 0;
}
