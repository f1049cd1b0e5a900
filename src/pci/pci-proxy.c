// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pci-proxy.c - serve one PCI function to QEMU's x-pci-proxy-dev (QEMU's multi-process
 * protocol, "mpqemu"), so that a device model in vwire appears on a guest's PCI bus.
 *
 * The hypervisor connects (or hands vwire a connected socket) and sends messages: a 16-byte
 * header (int cmd, 4 bytes of padding, 64-bit size) and exactly size bytes of data, with any
 * fds as SCM_RIGHTS on the same sendmsg. Config-space and BAR accesses come from a vCPU that
 * waits for the RET reply; SYNC_SYSMEM (guest RAM's memfds, resent on every memory-topology
 * change) and SET_IRQFD (the INTx eventfd pair) come at any time and get no reply.
 *
 * Flow: socket -> pci_proxy_read() gathers one message -> pci_proxy_check() refuses anything
 * malformed (the connection ends, the device resets) -> config space is answered here, BAR
 * accesses go to the model as (BAR, offset), guest RAM is remapped into struct guest_mem. The
 * model raises INTx with pci_proxy_set_irq(): an edge on the irqfd (KVM's path; on EOI the
 * resample fd fires and a level still high is sent again), and, when a qtest socket is given
 * (TCG, where QEMU 7.2 delivers nothing from that eventfd), the IOAPIC pin set through qtest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/unix-socket.h"
#include "pci/pci-proxy.h"
#include "virtio/guest-mem.h"
#include "virtio/mem-guard.h"
#include "vwire/error.h"
#include "vwire/loop.h"

/* Message types (QEMU's MPQemuCmd). */
enum mpqemu_cmd {
	MPQEMU_SYNC_SYSMEM = 0,
	MPQEMU_RET = 1,
	MPQEMU_PCI_CFGWRITE = 2,
	MPQEMU_PCI_CFGREAD = 3,
	MPQEMU_BAR_WRITE = 4,
	MPQEMU_BAR_READ = 5,
	MPQEMU_SET_IRQFD = 6,
	MPQEMU_DEVICE_RESET = 7,
	MPQEMU_CMD_MAX,
};

/* The most fds (and RAM sections) one message carries. */
#define MPQEMU_MAX_FDS 8
/* Header on the wire: int cmd, padding, size_t size (x86_64 and the other LP64 ABIs). */
#define MPQEMU_HDR_SIZE 16

/* SyncSysmemMsg: RAM sections, one per fd. */
struct mpqemu_sysmem {
	uint64_t gpas[MPQEMU_MAX_FDS];
	uint64_t sizes[MPQEMU_MAX_FDS];
	int64_t offsets[MPQEMU_MAX_FDS];
};

/* PciConfDataMsg. */
struct mpqemu_conf {
	uint32_t addr;
	uint32_t val;
	int32_t len;
};

/* BarAccessMsg: an absolute guest-physical address (or port), memory or I/O space. */
struct mpqemu_bar {
	uint64_t addr;
	uint64_t val;
	uint32_t size;
	uint8_t memory;
	uint8_t pad[3];
};

union mpqemu_data {
	uint64_t u64;
	struct mpqemu_conf conf;
	struct mpqemu_sysmem sysmem;
	struct mpqemu_bar bar;
};

struct mpqemu_hdr {
	int32_t cmd;
	uint32_t pad;
	uint64_t size;
};

_Static_assert(sizeof(struct mpqemu_hdr) == MPQEMU_HDR_SIZE, "mpqemu header");
_Static_assert(sizeof(struct mpqemu_sysmem) == 192, "SyncSysmemMsg");
_Static_assert(sizeof(struct mpqemu_conf) == 12, "PciConfDataMsg");
_Static_assert(sizeof(struct mpqemu_bar) == 24, "BarAccessMsg");

/* Config space: the conventional 256 bytes, type 0 header. */
#define PCI_CFG_SIZE 256
#define PCI_CFG_VENDOR_ID 0x00
#define PCI_CFG_DEVICE_ID 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_REVISION 0x08
#define PCI_CFG_CLASS_PROG 0x09
#define PCI_CFG_CACHE_LINE 0x0c
#define PCI_CFG_LATENCY 0x0d
#define PCI_CFG_HEADER_TYPE 0x0e
#define PCI_CFG_BAR0 0x10
#define PCI_CFG_SUBSYS_VENDOR_ID 0x2c
#define PCI_CFG_SUBSYS_ID 0x2e
#define PCI_CFG_INTERRUPT_LINE 0x3c
#define PCI_CFG_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_PARITY 0x40
#define PCI_COMMAND_SERR 0x100
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_COMMAND_WRITABLE                                                                 \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |     \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define PCI_STATUS_INTERRUPT 0x8

/* Messages handled per wakeup before yielding to the loop. */
#define PCI_PROXY_MSGS_PER_READ 64
#define PCI_PROXY_DEFAULT_IOAPIC "/machine/i440fx/ioapic"

/**
 * struct pci_proxy - one served function and its connection
 * @loop:	the event loop
 * @cfg:	configuration (strings owned)
 * @desc:	the function's identity
 * @listen_fd:	listening socket (-1: fd mode)
 * @owned:	the listening socket's path, removed at the end
 * @conn_fd:	the hypervisor's connection (-1: none)
 * @polling:	pci_proxy_poll() is the loop's poll handler (poll-us)
 * @hdr:	header of the message being gathered
 * @data:	its data
 * @rx_len:	bytes of header and data gathered
 * @rx_fds:	fds that came with it
 * @rx_nfds:	how many
 * @config:	config space
 * @bar_base:	base address of each BAR, from config writes
 * @mem:	guest RAM, from SYNC_SYSMEM
 * @guard:	SIGBUS guard of the RAM mappings
 * @irq_fd:	INTx eventfd (-1: none)
 * @resample_fd: EOI eventfd (-1: none)
 * @irq_level:	the model's INTx level
 * @qtest_fd:	connection to QEMU's qtest socket (-1: not connected)
 * @qtest_failed: qtest is given up until the next connection (logged once)
 * @qtest_line:	the answer being gathered from qtest
 * @qtest_line_len: its length
 * @rl:		rate limit of the warnings
 */
struct pci_proxy {
	struct loop *loop;
	struct pci_proxy_cfg cfg;
	struct pci_function_desc desc;
	int listen_fd;
	struct unix_socket_owned owned;
	int conn_fd;
	bool polling;
	struct mpqemu_hdr hdr;
	union mpqemu_data data;
	size_t rx_len;
	int rx_fds[MPQEMU_MAX_FDS];
	unsigned int rx_nfds;
	uint8_t config[PCI_CFG_SIZE];
	uint32_t bar_base[PCI_PROXY_MAX_BARS];
	struct guest_mem mem;
	struct mem_guard guard;
	int irq_fd;
	int resample_fd;
	bool irq_level;
	int qtest_fd;
	bool qtest_failed;
	char qtest_line[256];
	size_t qtest_line_len;
	struct log_ratelimit rl;
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/**
 * pci_proxy_config_reset() - config space at power-on: identity, BARs unassigned
 * @p: the proxy
 */
static void pci_proxy_config_reset(struct pci_proxy *p)
{
	const struct pci_function_desc *d = &p->desc;
	uint8_t *c = p->config;

	memset(c, 0, sizeof(p->config));
	put_le16(c + PCI_CFG_VENDOR_ID, d->vendor_id);
	put_le16(c + PCI_CFG_DEVICE_ID, d->device_id);
	c[PCI_CFG_REVISION] = d->revision;
	c[PCI_CFG_CLASS_PROG] = (uint8_t)d->class_code;
	c[PCI_CFG_CLASS_PROG + 1] = (uint8_t)(d->class_code >> 8);
	c[PCI_CFG_CLASS_PROG + 2] = (uint8_t)(d->class_code >> 16);
	put_le16(c + PCI_CFG_SUBSYS_VENDOR_ID, d->subsystem_vendor_id);
	put_le16(c + PCI_CFG_SUBSYS_ID, d->subsystem_id);
	c[PCI_CFG_INTERRUPT_PIN] = d->irq_pin;
	memset(p->bar_base, 0, sizeof(p->bar_base));
}

/**
 * pci_proxy_bar_value() - what a BAR register reads: its base, masked to its size, and type
 * @p:	the proxy
 * @i:	the BAR
 *
 * Return: the 32-bit register value (0 for an absent BAR)
 */
static uint32_t pci_proxy_bar_value(const struct pci_proxy *p, unsigned int i)
{
	const struct pci_bar_desc *b = &p->desc.bars[i];

	if (!b->size)
		return 0;
	return (p->bar_base[i] & ~(b->size - 1)) | (b->io ? 1u : 0u);
}

/**
 * pci_proxy_config_read() - a config-space read of @len bytes at @addr
 * @p:		the proxy
 * @addr:	offset
 * @len:	1, 2 or 4
 *
 * Return: the value (bytes outside the 256-byte space read as 0)
 */
static uint32_t pci_proxy_config_read(struct pci_proxy *p, uint32_t addr, unsigned int len)
{
	uint8_t bytes[PCI_CFG_SIZE];
	uint32_t v = 0;

	memcpy(bytes, p->config, sizeof(bytes));
	for (unsigned int i = 0; i < PCI_PROXY_MAX_BARS; i++) {
		uint32_t bar = pci_proxy_bar_value(p, i);

		for (unsigned int k = 0; k < 4; k++)
			bytes[PCI_CFG_BAR0 + 4 * i + k] = (uint8_t)(bar >> (8 * k));
	}
	if (p->irq_level)
		bytes[PCI_CFG_STATUS] |= PCI_STATUS_INTERRUPT;
	for (unsigned int k = 0; k < len; k++)
		if (addr + k < PCI_CFG_SIZE)
			v |= (uint32_t)bytes[addr + k] << (8 * k);
	return v;
}

static void pci_proxy_send_irq(struct pci_proxy *p, bool level);
static void pci_proxy_qtest_read(void *opaque);
static void pci_proxy_qtest_close(struct pci_proxy *p);

/**
 * pci_proxy_config_write() - a config-space write: only the writable fields change
 * @p:		the proxy
 * @addr:	offset
 * @val:	value
 * @len:	1, 2 or 4
 */
static void pci_proxy_config_write(struct pci_proxy *p, uint32_t addr, uint32_t val,
				   unsigned int len)
{
	bool was_masked = get_le16(p->config + PCI_CFG_COMMAND) & PCI_COMMAND_INTX_DISABLE;

	for (unsigned int k = 0; k < len && addr + k < PCI_CFG_SIZE; k++) {
		uint32_t off = addr + k;
		uint8_t b = (uint8_t)(val >> (8 * k));

		if (off >= PCI_CFG_BAR0 && off < PCI_CFG_BAR0 + 4 * PCI_PROXY_MAX_BARS) {
			unsigned int i = (off - PCI_CFG_BAR0) / 4, shift = 8 * ((off - PCI_CFG_BAR0) % 4);

			p->bar_base[i] = (p->bar_base[i] & ~(0xffu << shift)) | (uint32_t)b << shift;
		} else if (off == PCI_CFG_COMMAND || off == PCI_CFG_COMMAND + 1) {
			uint8_t mask = (uint8_t)(PCI_COMMAND_WRITABLE >> (8 * (off - PCI_CFG_COMMAND)));

			p->config[off] = (uint8_t)((p->config[off] & ~mask) | (b & mask));
		} else if (off == PCI_CFG_CACHE_LINE || off == PCI_CFG_LATENCY ||
			   off == PCI_CFG_INTERRUPT_LINE) {
			p->config[off] = b;
		}
		/* Everything else (identity, status, ROM, capabilities) is read-only. */
	}
	if (p->irq_level &&
	    was_masked != !!(get_le16(p->config + PCI_CFG_COMMAND) & PCI_COMMAND_INTX_DISABLE))
		pci_proxy_send_irq(p, was_masked);
}

/**
 * pci_proxy_find_bar() - the BAR that holds an absolute address of the right space
 * @p:		the proxy
 * @addr:	guest-physical address or I/O port
 * @memory:	memory (true) or I/O space
 * @size:	access size
 * @offset:	out: offset in the BAR
 *
 * Return: the BAR index, or -1
 */
static int pci_proxy_find_bar(const struct pci_proxy *p, uint64_t addr, bool memory,
			      unsigned int size, uint64_t *offset)
{
	for (unsigned int i = 0; i < PCI_PROXY_MAX_BARS; i++) {
		const struct pci_bar_desc *b = &p->desc.bars[i];
		uint64_t base = pci_proxy_bar_value(p, i) & ~(uint64_t)(b->io ? 3 : 15);

		if (!b->size || b->io == memory || addr < base)
			continue;
		if (addr - base < b->size && size <= b->size - (addr - base)) {
			*offset = addr - base;
			return (int)i;
		}
	}
	return -1;
}

/**
 * pci_proxy_reply() - send RET with a value
 * @p:		the proxy
 * @value:	data.u64
 *
 * Return: 1 (replied), or a negative errno (the connection must end)
 */
static int pci_proxy_reply(struct pci_proxy *p, uint64_t value)
{
	struct {
		struct mpqemu_hdr hdr;
		uint64_t value;
	} msg = { { MPQEMU_RET, 0, sizeof(uint64_t) }, value };
	ssize_t n;

	do {
		n = send(p->conn_fd, &msg, sizeof(msg), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(msg))
		return 1;
	/* 24 bytes to a peer that waits for them: anything else is a broken connection. */
	log_ratelimited_warn(&p->rl, "pci-proxy %s: cannot reply: %s", p->cfg.name,
			     n < 0 ? strerror(errno) : "short write");
	return n < 0 ? -errno : -EIO;
}

/**
 * pci_proxy_qtest_connect() - connect to QEMU's qtest socket and watch it for answers
 * @p: the proxy
 *
 * Return: 0 or a negative errno
 */
static int pci_proxy_qtest_connect(struct pci_proxy *p)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(p->cfg.qtest) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, p->cfg.qtest);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = loop_set_fd_handler(p->loop, fd, NULL, pci_proxy_qtest_read, NULL, p);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	p->qtest_fd = fd;
	p->qtest_line_len = 0;
	return 0;
}

/* Stop using qtest until the next connection, with the reason logged once. */
static void pci_proxy_qtest_give_up(struct pci_proxy *p, const char *why)
{
	log_warn("pci-proxy %s: qtest socket %s: %s: INTx no longer raised through it",
		 p->cfg.name, p->cfg.qtest, why);
	pci_proxy_qtest_close(p);
	p->qtest_failed = true;
}

static void pci_proxy_qtest_close(struct pci_proxy *p)
{
	if (p->qtest_fd < 0)
		return;
	loop_set_fd_handler(p->loop, p->qtest_fd, NULL, NULL, NULL, NULL);
	close_fd(&p->qtest_fd);
}

/**
 * pci_proxy_qtest_answer() - one line from qtest: "OK" for a pin set, "IRQ ..." for an
 *			      intercepted interrupt (not ours), anything else a refusal
 * @p:		the proxy
 * @line:	the line, NUL-terminated, without the newline
 *
 * Return: true to go on, false when qtest was given up
 */
static bool pci_proxy_qtest_answer(struct pci_proxy *p, const char *line)
{
	char why[320];

	if (!strncmp(line, "OK", 2) || !strncmp(line, "IRQ ", 4))
		return true;
	snprintf(why, sizeof(why), "a pin set was refused: '%.256s'", line);
	pci_proxy_qtest_give_up(p, why);
	return false;
}

/* qtest answered: check each line. Everything on this socket answers a command of ours. */
static void pci_proxy_qtest_read(void *opaque)
{
	struct pci_proxy *p = opaque;
	char buf[512];
	ssize_t n = read(p->qtest_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		pci_proxy_qtest_give_up(p, strerror(errno));
		return;
	}
	if (n == 0) {
		/* QEMU closes it as it exits, often before the proxy connection: not a fault. */
		log_info("pci-proxy %s: QEMU closed the qtest socket: INTx no longer raised "
			 "through it",
			 p->cfg.name);
		pci_proxy_qtest_close(p);
		p->qtest_failed = true;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			/* A line too long for us is no answer we know: it is cut, then refused. */
			if (p->qtest_line_len < sizeof(p->qtest_line) - 1)
				p->qtest_line[p->qtest_line_len++] = buf[i];
			continue;
		}
		p->qtest_line[p->qtest_line_len] = '\0';
		p->qtest_line_len = 0;
		if (!pci_proxy_qtest_answer(p, p->qtest_line))
			return;
	}
}

/**
 * pci_proxy_qtest_set_irq() - set the IOAPIC pin of the function's interrupt line
 * @p:		the proxy
 * @level:	the level
 *
 * The command is written and not waited for: qtest answers later, in order, and
 * pci_proxy_qtest_read() checks the answers. A pin lowered by an ICR read is therefore written
 * before the read's reply, and QEMU's main loop sets it while the vCPU waits for its next
 * register access (the Linux driver's IMC write follows at once), so before the guest's EOI.
 * Should QEMU ever be slower than that, the guest sees one more interrupt, finds ICR empty
 * and returns IRQ_NONE: harmless. Waiting for each answer cost two round trips to QEMU's main
 * loop per interrupt.
 */
static void pci_proxy_qtest_set_irq(struct pci_proxy *p, bool level)
{
	uint8_t gsi = p->config[PCI_CFG_INTERRUPT_LINE];
	char cmd[512];
	ssize_t sent;
	int len, r = 0;

	if (!p->cfg.qtest || p->qtest_failed)
		return;
	if (gsi == 0 || gsi == 0xff) {
		log_ratelimited_warn(&p->rl,
				     "pci-proxy %s: the guest assigned no interrupt line: INTx "
				     "not raised",
				     p->cfg.name);
		return;
	}
	if (p->qtest_fd < 0)
		r = pci_proxy_qtest_connect(p);
	if (r < 0) {
		pci_proxy_qtest_give_up(p, strerror(-r));
		return;
	}
	len = snprintf(cmd, sizeof(cmd), "set_irq_in %s unnamed-gpio-in %u %d\n",
		       p->cfg.ioapic ? p->cfg.ioapic : PCI_PROXY_DEFAULT_IOAPIC, gsi, level);
	if (len < 0 || (size_t)len >= sizeof(cmd)) {
		pci_proxy_qtest_give_up(p, "the IOAPIC path is too long");
		return;
	}
	sent = send(p->qtest_fd, cmd, (size_t)len, MSG_NOSIGNAL);
	/* A socket buffer full of unanswered commands means QEMU no longer reads them. */
	if (sent != len)
		pci_proxy_qtest_give_up(p, sent < 0 && errno != EAGAIN ? strerror(errno)
								 : "QEMU stopped answering");
}

/**
 * pci_proxy_send_irq() - deliver a level: an edge on the irqfd, the pin through qtest
 * @p:		the proxy
 * @level:	the effective level (after INTX_DISABLE)
 */
static void pci_proxy_send_irq(struct pci_proxy *p, bool level)
{
	if (level && p->irq_fd >= 0 && eventfd_write(p->irq_fd, 1) < 0)
		log_ratelimited_warn(&p->rl, "pci-proxy %s: irqfd: %s", p->cfg.name,
				     strerror(errno));
	pci_proxy_qtest_set_irq(p, level);
}

static bool pci_proxy_intx_disabled(const struct pci_proxy *p)
{
	return get_le16(p->config + PCI_CFG_COMMAND) & PCI_COMMAND_INTX_DISABLE;
}

void pci_proxy_set_irq(struct pci_proxy *p, bool level)
{
	if (p->irq_level == level)
		return;
	p->irq_level = level;
	if (p->conn_fd >= 0 && !pci_proxy_intx_disabled(p))
		pci_proxy_send_irq(p, level);
}

bool pci_proxy_bus_master(const struct pci_proxy *p)
{
	return p->conn_fd >= 0 && (get_le16(p->config + PCI_CFG_COMMAND) & PCI_COMMAND_MASTER);
}

struct guest_mem *pci_proxy_mem(struct pci_proxy *p)
{
	return &p->mem;
}

/* The guest EOIed the interrupt (KVM): a level still high is sent again. */
static void pci_proxy_resample(void *opaque)
{
	struct pci_proxy *p = opaque;
	eventfd_t v;

	if (eventfd_read(p->resample_fd, &v) < 0)
		return;
	if (p->irq_level && !pci_proxy_intx_disabled(p) && eventfd_write(p->irq_fd, 1) < 0)
		log_ratelimited_warn(&p->rl, "pci-proxy %s: irqfd: %s", p->cfg.name,
				     strerror(errno));
}

static void pci_proxy_close_irqfds(struct pci_proxy *p)
{
	if (p->resample_fd >= 0)
		loop_set_fd_handler(p->loop, p->resample_fd, NULL, NULL, NULL, NULL);
	close_fd(&p->resample_fd);
	close_fd(&p->irq_fd);
}

static void pci_proxy_rx_reset(struct pci_proxy *p)
{
	for (unsigned int i = 0; i < p->rx_nfds; i++)
		close(p->rx_fds[i]);
	p->rx_nfds = 0;
	p->rx_len = 0;
}

/**
 * pci_proxy_drop() - end the connection: the model resets, guest memory is unmapped
 * @p: the proxy
 */
static void pci_proxy_drop(struct pci_proxy *p)
{
	if (p->conn_fd < 0)
		return;
	loop_set_fd_handler(p->loop, p->conn_fd, NULL, NULL, NULL, NULL);
	close_fd(&p->conn_fd);
	pci_proxy_rx_reset(p);
	pci_proxy_close_irqfds(p);
	pci_proxy_qtest_close(p);
	p->irq_level = false;
	p->cfg.ops->reset(p->cfg.opaque);
	guest_mem_clear(&p->mem);
	if (p->cfg.ops->disconnected)
		p->cfg.ops->disconnected(p->cfg.opaque);
	pci_proxy_config_reset(p);
}

/**
 * pci_proxy_check() - whether a gathered message is well formed (QEMU's mpqemu_msg_valid)
 * @p:		the proxy
 * @reason:	out: why not
 *
 * Return: true or false
 */
static bool pci_proxy_check(const struct pci_proxy *p, const char **reason)
{
	const struct mpqemu_hdr *h = &p->hdr;

	switch (h->cmd) {
	case MPQEMU_SYNC_SYSMEM:
		if (h->size != sizeof(struct mpqemu_sysmem) || p->rx_nfds == 0)
			*reason = "SYNC_SYSMEM needs 192 bytes and at least one fd";
		break;
	case MPQEMU_SET_IRQFD:
		if (h->size != 0 || p->rx_nfds != 2)
			*reason = "SET_IRQFD needs no data and two fds";
		break;
	case MPQEMU_PCI_CFGREAD:
	case MPQEMU_PCI_CFGWRITE:
		if (h->size != sizeof(struct mpqemu_conf) || p->rx_nfds)
			*reason = "config access needs 12 bytes and no fd";
		else if (p->data.conf.len != 1 && p->data.conf.len != 2 &&
			 p->data.conf.len != 4)
			*reason = "config access of a size other than 1, 2 or 4";
		break;
	case MPQEMU_BAR_READ:
	case MPQEMU_BAR_WRITE:
		if (h->size != sizeof(struct mpqemu_bar) || p->rx_nfds)
			*reason = "BAR access needs 24 bytes and no fd";
		else if (p->data.bar.size != 1 && p->data.bar.size != 2 &&
			 p->data.bar.size != 4 && p->data.bar.size != 8)
			*reason = "BAR access of a size other than 1, 2, 4 or 8";
		break;
	case MPQEMU_DEVICE_RESET:
		if ((h->size != 0 && h->size != sizeof(uint64_t)) || p->rx_nfds)
			*reason = "DEVICE_RESET with data or fds";
		break;
	default:
		*reason = "unknown command";
		break;
	}
	return *reason == NULL;
}

/**
 * pci_proxy_sync_sysmem() - map guest RAM afresh from the sections sent
 * @p: the proxy
 *
 * Return: 0, or a negative errno (the connection must end)
 */
static int pci_proxy_sync_sysmem(struct pci_proxy *p)
{
	const struct mpqemu_sysmem *s = &p->data.sysmem;

	guest_mem_clear(&p->mem);
	for (unsigned int i = 0; i < p->rx_nfds; i++) {
		int ret;

		if (s->offsets[i] < 0)
			ret = -EINVAL;
		else
			ret = guest_mem_add_region(&p->mem, p->rx_fds[i], s->gpas[i], s->sizes[i],
						   s->gpas[i], (uint64_t)s->offsets[i]);
		if (ret < 0) {
			log_ratelimited_warn(&p->rl,
					     "pci-proxy %s: RAM section %u (0x%llx, 0x%llx bytes at "
					     "offset %lld) refused: %s",
					     p->cfg.name, i, (unsigned long long)s->gpas[i],
					     (unsigned long long)s->sizes[i], (long long)s->offsets[i],
					     strerror(-ret));
			guest_mem_clear(&p->mem);
			return ret;
		}
	}
	log_debug("pci-proxy %s: %u RAM sections mapped", p->cfg.name, p->rx_nfds);
	return 0;
}

/**
 * pci_proxy_process() - act on the gathered message
 * @p: the proxy
 *
 * Return: 1 when a reply went, 0 for a message that gets none, or a negative errno (the
 *	   connection must end)
 */
static int pci_proxy_process(struct pci_proxy *p)
{
	const char *reason = NULL;
	uint64_t offset;
	int bar;

	if (!pci_proxy_check(p, &reason)) {
		log_ratelimited_warn(&p->rl,
				     "pci-proxy %s: message %d (%llu bytes, %u fds) refused, closing "
				     "the connection: %s",
				     p->cfg.name, p->hdr.cmd, (unsigned long long)p->hdr.size,
				     p->rx_nfds, reason);
		return -EPROTO;
	}
	switch (p->hdr.cmd) {
	case MPQEMU_SYNC_SYSMEM:
		return pci_proxy_sync_sysmem(p);
	case MPQEMU_SET_IRQFD:
		pci_proxy_close_irqfds(p);
		p->irq_fd = p->rx_fds[0];
		p->resample_fd = p->rx_fds[1];
		p->rx_nfds = 0;
		if (loop_set_fd_handler(p->loop, p->resample_fd, NULL, pci_proxy_resample, NULL,
					p) < 0)
			close_fd(&p->resample_fd);
		if (p->irq_level && !pci_proxy_intx_disabled(p))
			eventfd_write(p->irq_fd, 1);
		return 0;
	case MPQEMU_PCI_CFGREAD:
		return pci_proxy_reply(p, pci_proxy_config_read(p, p->data.conf.addr,
								(unsigned int)p->data.conf.len));
	case MPQEMU_PCI_CFGWRITE:
		pci_proxy_config_write(p, p->data.conf.addr, p->data.conf.val,
				       (unsigned int)p->data.conf.len);
		return pci_proxy_reply(p, 0);
	case MPQEMU_BAR_READ:
	case MPQEMU_BAR_WRITE: {
		const struct mpqemu_bar *b = &p->data.bar;
		uint64_t value = 0;

		bar = pci_proxy_find_bar(p, b->addr, b->memory, b->size, &offset);
		if (bar < 0) {
			/* Not ours (a stale base): reads float high, writes go nowhere. */
			log_ratelimited_warn(&p->rl,
					     "pci-proxy %s: %s access at 0x%llx is in no BAR",
					     p->cfg.name, b->memory ? "memory" : "I/O",
					     (unsigned long long)b->addr);
			value = ~0ull;
		} else if (p->hdr.cmd == MPQEMU_BAR_READ) {
			value = p->cfg.ops->bar_read(p->cfg.opaque, (unsigned int)bar, offset,
						     b->size);
		} else {
			p->cfg.ops->bar_write(p->cfg.opaque, (unsigned int)bar, offset, b->val,
					      b->size);
		}
		if (b->size < 8)
			value &= (1ull << (8 * b->size)) - 1;
		return pci_proxy_reply(p, value);
	}
	case MPQEMU_DEVICE_RESET:
		log_info("pci-proxy %s: the hypervisor reset the device", p->cfg.name);
		p->cfg.ops->reset(p->cfg.opaque);
		return pci_proxy_reply(p, 0);
	}
	return -EPROTO;
}

/**
 * pci_proxy_take_fds() - keep the fds a recvmsg() brought with the current message
 * @p:	the proxy
 * @mh:	the received header
 *
 * Return: 0, or -EPROTO when more came than one message may carry
 */
static int pci_proxy_take_fds(struct pci_proxy *p, struct msghdr *mh)
{
	if (unix_socket_take_fds(mh, p->rx_fds, &p->rx_nfds, MPQEMU_MAX_FDS) < 0) {
		log_ratelimited_warn(&p->rl, "pci-proxy %s: more than %d fds in one message",
				     p->cfg.name, MPQEMU_MAX_FDS);
		return -EPROTO;
	}
	return 0;
}

/**
 * pci_proxy_recv() - read what is there of the current message
 * @p: the proxy
 *
 * Return: 1 with a whole message gathered, 0 when more must come, or a negative errno (the
 *	   connection must end; logged)
 */
static int pci_proxy_recv(struct pci_proxy *p)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MPQEMU_MAX_FDS)];
		struct cmsghdr align;
	} u;

	for (;;) {
		size_t total = MPQEMU_HDR_SIZE + (p->rx_len >= MPQEMU_HDR_SIZE ? p->hdr.size : 0);
		struct msghdr mh = { 0 };
		struct iovec iov;
		ssize_t n;
		int ret;

		if (p->rx_len == total)
			return 1;
		if (p->rx_len < MPQEMU_HDR_SIZE) {
			iov.iov_base = (uint8_t *)&p->hdr + p->rx_len;
			iov.iov_len = MPQEMU_HDR_SIZE - p->rx_len;
		} else {
			iov.iov_base = (uint8_t *)&p->data + (p->rx_len - MPQEMU_HDR_SIZE);
			iov.iov_len = total - p->rx_len;
		}
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		n = recvmsg(p->conn_fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			log_ratelimited_warn(&p->rl, "pci-proxy %s: receive failed: %s",
					     p->cfg.name, strerror(errno));
			return -errno;
		}
		if (n == 0) {
			log_info("pci-proxy %s: the hypervisor disconnected", p->cfg.name);
			return -ECONNRESET;
		}
		ret = pci_proxy_take_fds(p, &mh);
		if (ret < 0)
			return ret;
		p->rx_len += (size_t)n;
		if (p->rx_len == MPQEMU_HDR_SIZE &&
		    (p->hdr.cmd < 0 || p->hdr.cmd >= MPQEMU_CMD_MAX ||
		     p->hdr.size > sizeof(union mpqemu_data))) {
			log_ratelimited_warn(&p->rl,
					     "pci-proxy %s: message %d with %llu bytes of data refused, "
					     "closing the connection",
					     p->cfg.name, p->hdr.cmd, (unsigned long long)p->hdr.size);
			return -EPROTO;
		}
	}
}

/**
 * pci_proxy_peek_access() - answer a BAR access before taking it off the socket
 * @p:	the proxy, with no message partly read
 *
 * The vCPU that sent the access sleeps on its end of the socket for the reply. A unix socket
 * wakes its writer when what it wrote is consumed, and here writer and reader are that one
 * thread, waiting on one queue: consuming the access first would wake the vCPU for nothing,
 * a second wakeup per access, which on a busy host costs as much as the answer. So the access
 * is peeked, answered, and only then consumed.
 *
 * Return: 1 answered and consumed, 0 when what waits is not one whole BAR access (the caller
 *	   reads it the usual way), -EAGAIN when nothing waits, or another negative errno (the
 *	   connection must end)
 */
static int pci_proxy_peek_access(struct pci_proxy *p)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MPQEMU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	const size_t want = MPQEMU_HDR_SIZE + sizeof(p->data.bar);
	struct iovec iov[2] = { { &p->hdr, MPQEMU_HDR_SIZE }, { &p->data, sizeof(p->data.bar) } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	int fds[MPQEMU_MAX_FDS];
	unsigned int nfds = 0;
	ssize_t n;
	int ret;

	do {
		n = recvmsg(p->conn_fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : 0; /* the usual path reports errors */
	/* fds seen by a peek are copies: closed here; the usual path takes (and refuses) them. */
	ret = unix_socket_take_fds(&mh, fds, &nfds, MPQEMU_MAX_FDS);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n != (ssize_t)want || ret < 0 || nfds ||
	    (p->hdr.cmd != MPQEMU_BAR_READ && p->hdr.cmd != MPQEMU_BAR_WRITE) ||
	    p->hdr.size != sizeof(p->data.bar))
		return 0;
	p->rx_len = want;
	ret = pci_proxy_process(p);
	/* Now take it off (also when refused: a socket closed with unread data is reset). */
	mh.msg_control = NULL;
	mh.msg_controllen = 0;
	do {
		n = recvmsg(p->conn_fd, &mh, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (ret >= 0 && n != (ssize_t)want) {
		log_ratelimited_warn(&p->rl, "pci-proxy %s: an answered access could not be taken",
				     p->cfg.name);
		return -EIO;
	}
	return ret < 0 ? ret : 1;
}

static void pci_proxy_read(void *opaque)
{
	struct pci_proxy *p = opaque;

	for (unsigned int handled = 0; handled < PCI_PROXY_MSGS_PER_READ; handled++) {
		int ret = p->rx_len ? 0 : pci_proxy_peek_access(p);

		if (ret == -EAGAIN)
			return;
		if (ret == 0) {
			/* Anything else, or an access not yet whole: gathered, then processed. */
			ret = pci_proxy_recv(p);
			if (ret == 0)
				return;
			if (ret > 0)
				ret = pci_proxy_process(p);
		}
		pci_proxy_rx_reset(p);
		if (ret < 0) {
			pci_proxy_drop(p);
			return;
		}
		/* A vCPU waits for this reply and sends nothing before it: no read would find
		 * more now (the fd is level-triggered, so anything sent earlier wakes us again). */
		if (ret > 0)
			return;
	}
}

/*
 * poll-us: before the loop sleeps it looks for the next access here, for up to its poll
 * window. A vCPU's accesses come in runs (an interrupt costs the Linux driver five), and one
 * that finds the loop awake is not delayed by the wakeup of a sleeping thread, which on a
 * virtual host costs more than the answer.
 */
static bool pci_proxy_poll(void *opaque)
{
	struct pci_proxy *p = opaque;
	int ret;

	if (p->conn_fd < 0 || p->rx_len)
		return false;
	ret = pci_proxy_peek_access(p);
	if (ret == -EAGAIN)
		return false;
	if (ret < 0)
		pci_proxy_drop(p);
	else if (ret == 0)
		pci_proxy_read(p); /* any other message: the usual path */
	else
		pci_proxy_rx_reset(p);
	return true;
}

/**
 * pci_proxy_attach() - start talking on a connected socket
 * @p:	the proxy
 * @fd:	the socket (taken on success)
 *
 * Return: 0 or a negative errno
 */
static int pci_proxy_attach(struct pci_proxy *p, int fd)
{
	int ret;

	pci_proxy_config_reset(p);
	p->qtest_failed = false;
	ret = loop_set_fd_handler(p->loop, fd, NULL, pci_proxy_read, NULL, p);
	if (ret < 0)
		return ret;
	p->conn_fd = fd;
	log_info("pci-proxy %s: hypervisor connected", p->cfg.name);
	if (p->cfg.ops->connected)
		p->cfg.ops->connected(p->cfg.opaque);
	return 0;
}

static void pci_proxy_accept(void *opaque)
{
	struct pci_proxy *p = opaque;
	int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (p->conn_fd >= 0) {
		log_ratelimited_warn(&p->rl,
				     "pci-proxy %s: a hypervisor is already connected, refusing "
				     "another",
				     p->cfg.name);
		close(fd);
		return;
	}
	if (pci_proxy_attach(p, fd) < 0)
		close(fd);
}

/* The hypervisor shrank guest RAM's file under vwire: this device stops, vwire goes on. */
static void pci_proxy_mem_fault(void *opaque, const char *what, void *addr)
{
	struct pci_proxy *p = opaque;

	log_warn("pci-proxy %s: the hypervisor shrank the file behind its %s (SIGBUS at %p): "
		 "device stopped, connection closed",
		 p->cfg.name, what, addr);
	pci_proxy_drop(p);
}

/**
 * pci_proxy_check_fd() - whether @fd is a connected unix stream socket
 * @fd:		the fd
 * @err:	the error
 *
 * Return: 0 or a negative errno with @err set
 */
static int pci_proxy_check_fd(int fd, struct error *err)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return error_set(err, -errno, "fd=%d: not a socket: %s", fd, strerror(errno));
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    type != SOCK_STREAM)
		return error_set(err, -EINVAL, "fd=%d: not a unix stream socket", fd);
	return 0;
}

struct pci_proxy *pci_proxy_new(struct loop *loop, const struct pci_proxy_cfg *cfg,
				struct error *err)
{
	struct pci_proxy *p;
	int ret;

	if (!cfg->ops || !cfg->ops->bar_read || !cfg->ops->bar_write || !cfg->ops->reset ||
	    !cfg->desc) {
		error_set(err, -EINVAL, "pci-proxy: device ops incomplete");
		return NULL;
	}
	if (!!cfg->socket == (cfg->fd >= 0)) {
		error_set(err, -EINVAL, "exactly one of 'socket' and 'fd' is needed");
		return NULL;
	}
	if (cfg->fd >= 0 && pci_proxy_check_fd(cfg->fd, err) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	p->loop = loop;
	p->cfg = *cfg;
	p->cfg.name = strdup(cfg->name ? cfg->name : "pci");
	p->cfg.socket = cfg->socket ? strdup(cfg->socket) : NULL;
	p->cfg.qtest = cfg->qtest ? strdup(cfg->qtest) : NULL;
	p->cfg.ioapic = cfg->ioapic ? strdup(cfg->ioapic) : NULL;
	p->desc = *cfg->desc;
	p->listen_fd = p->conn_fd = p->irq_fd = p->resample_fd = p->qtest_fd = -1;
	p->guard.event_fd = -1;
	pci_proxy_config_reset(p);
	if (!p->cfg.name || (cfg->socket && !p->cfg.socket) || (cfg->qtest && !p->cfg.qtest) ||
	    (cfg->ioapic && !p->cfg.ioapic)) {
		error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	ret = mem_guard_init(&p->guard, loop, pci_proxy_mem_fault, p);
	if (ret < 0) {
		error_set(err, ret, "pci-proxy: SIGBUS guard: %s", strerror(-ret));
		goto fail;
	}
	p->mem.guard = &p->guard;
	if (cfg->socket) {
		int fd = unix_socket_listen(cfg->socket, SOCK_STREAM, 1, &p->owned, err);

		if (fd < 0) {
			error_prepend(err, "socket: ");
			goto fail;
		}
		ret = loop_set_fd_handler(loop, fd, NULL, pci_proxy_accept, NULL, p);
		if (ret < 0) {
			close(fd);
			unix_socket_unlink_owned(&p->owned);
			error_set(err, ret, "socket=%s: cannot watch it: %s", cfg->socket,
				  strerror(-ret));
			goto fail;
		}
		p->listen_fd = fd;
	} else {
		int fl = fcntl(cfg->fd, F_GETFL);

		if (fl < 0 || fcntl(cfg->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(cfg->fd, F_SETFD, FD_CLOEXEC) < 0) {
			error_set(err, -errno, "fd=%d: %s", cfg->fd, strerror(errno));
			goto fail;
		}
		ret = pci_proxy_attach(p, cfg->fd);
		if (ret < 0) {
			error_set(err, ret, "fd=%d: cannot watch it: %s", cfg->fd, strerror(-ret));
			goto fail;
		}
	}
	if (cfg->poll_ns) {
		ret = loop_poll_handler_add(loop, pci_proxy_poll, NULL, NULL, p);
		if (ret < 0) {
			error_set(err, ret, "out of memory");
			goto fail;
		}
		p->polling = true;
		loop_want_poll_ns(loop, (int64_t)cfg->poll_ns);
	}
	return p;
fail:
	pci_proxy_free(p);
	return NULL;
}

void pci_proxy_free(struct pci_proxy *p)
{
	if (!p)
		return;
	if (p->polling)
		loop_poll_handler_remove(p->loop, pci_proxy_poll, p);
	if (p->conn_fd >= 0) {
		loop_set_fd_handler(p->loop, p->conn_fd, NULL, NULL, NULL, NULL);
		close_fd(&p->conn_fd);
	}
	pci_proxy_rx_reset(p);
	pci_proxy_close_irqfds(p);
	pci_proxy_qtest_close(p);
	guest_mem_clear(&p->mem);
	if (p->listen_fd >= 0) {
		loop_set_fd_handler(p->loop, p->listen_fd, NULL, NULL, NULL, NULL);
		close_fd(&p->listen_fd);
		unix_socket_unlink_owned(&p->owned);
	}
	mem_guard_destroy(&p->guard);
	free((char *)p->cfg.name);
	free((char *)p->cfg.socket);
	free((char *)p->cfg.qtest);
	free((char *)p->cfg.ioapic);
	free(p);
}
