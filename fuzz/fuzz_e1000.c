// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_e1000.c - libFuzzer harness for the e1000 model (src/pci/e1000.c): the input is a
 * guest's program of register reads and writes (BAR0 and the I/O window of BAR1), bytes it
 * writes into its RAM (descriptor rings, buffers, TSO headers) and frames the peer sends.
 *
 * Input: the first byte picks whether the peer takes vnet headers (bit 0); then records:
 *   [op & 7 = 0] BAR0 write: register (1 byte: an index into the registers that matter, or
 *                with bit 7 a raw offset from 2 more bytes), value (4 bytes)
 *   [1] BAR0 read: register as above     [2] BAR1 write: offset (1), value (4)
 *   [3] BAR1 read: offset (1)
 *   [4] guest RAM write: offset (2, in the 64 KiB of RAM), length (1), bytes
 *   [5] the peer sends a frame to the device's MAC: length (1, 0 = 1514), first bytes from
 *       the input after the destination, the rest a pattern
 *   [6] the loop runs once (ring work in its bottom half, the ITR timer)
 *   [7] link down or up (bit 3 of the op)
 * Guest RAM is one memfd region at address 0; everything outside it must never be touched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "pci/e1000.h"
#include "virtio/guest-mem.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define FUZZ_MEM_SIZE 65536

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_sink {
	struct net_client nc;
	bool vnet;
};

static ssize_t fuzz_sink_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
				 unsigned int flags)
{
	size_t len = net_iov_size(iov, iovcnt);
	volatile uint8_t sum = 0;

	/* Read every byte the device sent, so a bad iovec faults here. */
	for (int i = 0; i < iovcnt; i++)
		for (size_t k = 0; k < iov[i].iov_len; k++)
			sum ^= ((const uint8_t *)iov[i].iov_base)[k];
	(void)sum;
	return (ssize_t)len;
}

static bool fuzz_sink_vnet(struct net_client *nc)
{
	return ((struct fuzz_sink *)nc)->vnet;
}

static const struct net_client_ops fuzz_sink_ops = {
	.type = "sink",
	.size = sizeof(struct fuzz_sink),
	.receive_iov = fuzz_sink_receive,
	.accepts_vnet_hdr = fuzz_sink_vnet,
};

/* The registers a driver programs. */
static const uint32_t fuzz_regs[] = {
	0x0000, 0x0008, 0x0010, 0x0014, 0x0020, 0x00c0, 0x00c4, 0x00c8, 0x00d0, 0x00d8,
	0x0100, 0x0400, 0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x3800, 0x3804, 0x3808,
	0x3810, 0x3818, 0x4000, 0x4074, 0x40d0, 0x5200, 0x5400, 0x5404, 0x5408, 0x540c,
};

static struct loop *fuzz_loop;
static struct guest_mem fuzz_mem;
static uint8_t *fuzz_ram;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	log_set_level(LOG_LEVEL_ERROR);
	fuzz_loop = loop_new();
	fd = memfd_create("fuzz-e1000", MFD_CLOEXEC);
	if (!fuzz_loop || fd < 0 || ftruncate(fd, FUZZ_MEM_SIZE) < 0 ||
	    guest_mem_add_region(&fuzz_mem, fd, 0, FUZZ_MEM_SIZE, 0, 0) < 0)
		abort();
	close(fd);
	fuzz_ram = fuzz_mem.regions[0].host_addr;
	return 0;
}

static void fuzz_irq(void *opaque, bool level)
{
}

/* Take @n bytes from the input, or zeros past its end. */
static uint64_t fuzz_take(const uint8_t **d, size_t *size, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t b = 0;

		if (*size) {
			b = **d;
			(*d)++;
			(*size)--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static uint32_t fuzz_reg(const uint8_t **d, size_t *size)
{
	uint8_t r = (uint8_t)fuzz_take(d, size, 1);

	if (r & 0x80)
		return (uint32_t)fuzz_take(d, size, 2) * 4 % E1000_MMIO_SIZE;
	return fuzz_regs[r % (sizeof(fuzz_regs) / sizeof(fuzz_regs[0]))];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static uint8_t frame[1514];
	struct error err = { 0 };
	struct fuzz_sink *sink;
	struct e1000 *dev;

	memset(fuzz_ram, 0, FUZZ_MEM_SIZE);
	sink = (struct fuzz_sink *)net_client_new(&fuzz_sink_ops, fuzz_loop, NULL, "sink", "peer");
	if (!sink)
		abort();
	sink->nc.is_netdev = true;
	sink->vnet = size && (data[0] & 1);
	if (size) {
		data++;
		size--;
	}
	dev = e1000_new(fuzz_loop, "e0", mac, &sink->nc, &fuzz_mem, fuzz_irq, NULL, &err);
	if (!dev)
		abort();
	while (size) {
		uint8_t op = (uint8_t)fuzz_take(&data, &size, 1);

		switch (op & 7) {
		case 0: {
			uint32_t off = fuzz_reg(&data, &size);

			e1000_bar_write(dev, 0, off, fuzz_take(&data, &size, 4), 4);
			break;
		}
		case 1:
			(void)e1000_bar_read(dev, 0, fuzz_reg(&data, &size), 4);
			break;
		case 2: {
			uint64_t off = fuzz_take(&data, &size, 1) % E1000_IO_SIZE;

			e1000_bar_write(dev, 1, off, fuzz_take(&data, &size, 4), 4);
			break;
		}
		case 3:
			(void)e1000_bar_read(dev, 1, fuzz_take(&data, &size, 1) % E1000_IO_SIZE, 4);
			break;
		case 4: {
			size_t off = (size_t)fuzz_take(&data, &size, 2);
			size_t len = (size_t)fuzz_take(&data, &size, 1);

			if (len > size)
				len = size;
			if (len > FUZZ_MEM_SIZE - off)
				len = FUZZ_MEM_SIZE - off;
			memcpy(fuzz_ram + off, data, len);
			data += len;
			size -= len;
			break;
		}
		case 5: {
			size_t len = (size_t)fuzz_take(&data, &size, 1), head;

			len = len ? (len < 14 ? 14 : len) : sizeof(frame);
			memcpy(frame, mac, 6);
			for (size_t i = 6; i < len; i++)
				frame[i] = (uint8_t)i;
			head = len - 6 < size ? len - 6 : size;
			if (head > 16)
				head = 16;
			memcpy(frame + 6, data, head);
			data += head;
			size -= head;
			net_send(&sink->nc, frame, len);
			break;
		}
		case 6:
			loop_run_once(fuzz_loop, 0);
			break;
		case 7:
			net_set_link(e1000_net_client(dev), op & 8);
			break;
		}
	}
	net_client_free(e1000_net_client(dev));
	net_client_free(&sink->nc);
	return 0;
}
