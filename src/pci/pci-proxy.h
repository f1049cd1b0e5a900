/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pci-proxy.h - serve one PCI function to a hypervisor that forwards it: QEMU's multi-process
 * protocol ("mpqemu", QEMU's -device x-pci-proxy-dev,fd=N).
 *
 * The hypervisor forwards every config-space access and every BAR access of the function to
 * vwire, and sends the memfds of guest RAM (SYNC_SYSMEM) so that the device model reaches
 * guest memory directly. The proxy owns the config space (identity, BAR sizing and bases,
 * interrupt line), turns absolute BAR addresses into (BAR, offset) for the model, keeps
 * struct guest_mem up to date, and raises the model's INTx level: through the irqfd pair the
 * hypervisor sent (KVM), and, where that cannot work (TCG), by driving the IOAPIC pin through
 * QEMU's qtest socket.
 *
 * Data flow: hypervisor socket -> pci_proxy (decode, config space) -> model's ops
 * (bar_read/bar_write/reset) -> model DMA through guest_mem -> model calls pci_proxy_set_irq().
 */
#ifndef VWIRE_PCI_PROXY_H
#define VWIRE_PCI_PROXY_H

#include <stdbool.h>
#include <stdint.h>

struct error;
struct guest_mem;
struct loop;
struct pci_proxy;

/* A function has at most six BARs (PCI type 0 header). */
#define PCI_PROXY_MAX_BARS 6

/**
 * struct pci_bar_desc - one BAR as the function presents it
 * @size:	length in bytes, a power of two (0: no BAR)
 * @io:		true for an I/O-space BAR, false for 32-bit memory space
 */
struct pci_bar_desc {
	uint32_t size;
	bool io;
};

/**
 * struct pci_function_desc - the identity a function presents in config space
 * @vendor_id:		PCI vendor
 * @device_id:		PCI device
 * @subsystem_vendor_id: subsystem vendor
 * @subsystem_id:	subsystem
 * @revision:		revision id
 * @class_code:		24-bit class code (base class << 16 | subclass << 8 | prog-if)
 * @irq_pin:		interrupt pin (1 = INTA, 0 = none)
 * @bars:		the BARs
 */
struct pci_function_desc {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_id;
	uint8_t revision;
	uint32_t class_code;
	uint8_t irq_pin;
	struct pci_bar_desc bars[PCI_PROXY_MAX_BARS];
};

/**
 * struct pci_function_ops - what the proxy calls in the device model
 * @bar_read:	read @size (1, 2, 4 or 8) bytes at @offset of BAR @bar (offset < BAR size)
 * @bar_write:	write @size bytes of @value at @offset of BAR @bar
 * @reset:	device reset (the hypervisor's DEVICE_RESET, or the hypervisor went away)
 * @connected:	a hypervisor connected (optional); guest memory is not mapped yet
 * @disconnected: the hypervisor went away (optional); guest memory is already unmapped
 */
struct pci_function_ops {
	uint64_t (*bar_read)(void *opaque, unsigned int bar, uint64_t offset, unsigned int size);
	void (*bar_write)(void *opaque, unsigned int bar, uint64_t offset, uint64_t value,
			  unsigned int size);
	void (*reset)(void *opaque);
	void (*connected)(void *opaque);
	void (*disconnected)(void *opaque);
};

/**
 * struct pci_proxy_cfg - how to reach the hypervisor, and the function it serves
 * @name:	for log lines (the device's id)
 * @socket:	listen on this unix socket path (one hypervisor at a time), or NULL
 * @fd:		or: an already connected AF_UNIX SOCK_STREAM socket (-1: none); taken on
 *		success (on failure the caller still owns it)
 * @qtest:	QEMU's qtest socket path to drive INTx through (TCG), or NULL: irqfd only
 * @ioapic:	the IOAPIC's QOM path for qtest (NULL: "/machine/i440fx/ioapic", -machine pc)
 * @desc:	the function's identity and BARs
 * @ops:	the model
 * @opaque:	the model's argument
 */
struct pci_proxy_cfg {
	const char *name;
	const char *socket;
	int fd;
	const char *qtest;
	const char *ioapic;
	uint64_t poll_ns;
	const struct pci_function_desc *desc;
	const struct pci_function_ops *ops;
	void *opaque;
};

/**
 * pci_proxy_new() - serve a function (listen on @cfg->socket, or talk on @cfg->fd)
 * @loop:	the event loop
 * @cfg:	configuration (copied)
 * @err:	the error, naming the option and value
 *
 * Return: the proxy, or NULL with @err set (nothing left open)
 */
struct pci_proxy *pci_proxy_new(struct loop *loop, const struct pci_proxy_cfg *cfg,
				struct error *err);

/**
 * pci_proxy_free() - close the connection, the listening socket and unmap guest memory
 * @p: the proxy (NULL: nothing)
 */
void pci_proxy_free(struct pci_proxy *p);

/**
 * pci_proxy_mem() - the guest memory the model reaches (stable for the proxy's life; its
 *		     regions change whenever the hypervisor resends them, so never keep a host
 *		     pointer across a return to the loop)
 * @p: the proxy
 *
 * Return: the guest memory (no regions while nobody is connected)
 */
struct guest_mem *pci_proxy_mem(struct pci_proxy *p);

/**
 * pci_proxy_set_irq() - set the function's INTx level (edges are sent; a level already set
 *			 is not sent again)
 * @p:		the proxy
 * @level:	true: asserted
 */
void pci_proxy_set_irq(struct pci_proxy *p, bool level);

/**
 * pci_proxy_bus_master() - whether the guest enabled bus mastering (COMMAND bit 2): a model
 *			    does no DMA without it
 * @p: the proxy
 *
 * Return: true or false
 */
bool pci_proxy_bus_master(const struct pci_proxy *p);

#endif
