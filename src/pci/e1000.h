/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * e1000.h - the Intel 82540EM ("e1000") device model: a net client whose guest side is a PCI
 * function (registers in BAR0, their indirect window in BAR1, descriptor rings in guest RAM).
 *
 * -device e1000 (device_init_e1000() in core/netdev.h) serves it to QEMU through pci-proxy.c;
 * e1000_new() makes one without a hypervisor, for tests: its guest memory and interrupt line
 * are the caller's.
 */
#ifndef VWIRE_PCI_E1000_H
#define VWIRE_PCI_E1000_H

#include <stdbool.h>
#include <stdint.h>

struct error;
struct guest_mem;
struct loop;
struct net_client;
struct pci_function_desc;

/* BAR0: the registers; BAR1: IOADDR (+0) and IODATA (+4), a window onto them. */
#define E1000_MMIO_SIZE 0x20000
#define E1000_IO_SIZE 64

struct e1000;

/**
 * typedef e1000_irq_fn - the model's INTx level changed
 * @opaque:	the caller's argument
 * @level:	true: asserted
 */
typedef void e1000_irq_fn(void *opaque, bool level);

/* The PCI identity of an 82540EM, as QEMU's -device e1000 presents it. */
extern const struct pci_function_desc e1000_pci_desc;

/**
 * e1000_new() - a model peered with @peer, reaching guest RAM through @mem
 * @loop:	the event loop
 * @id:		the net client's name
 * @mac:	its MAC address (in the EEPROM and receive address 0)
 * @peer:	the netdev to peer with, or NULL
 * @mem:	guest memory (the caller's; regions may change between calls)
 * @irq:	told each change of the interrupt line
 * @irq_opaque:	for @irq
 * @err:	the error
 *
 * Return: the model (free it with net_client_free(e1000_net_client())), or NULL with @err set
 */
struct e1000 *e1000_new(struct loop *loop, const char *id, const uint8_t mac[6],
			struct net_client *peer, struct guest_mem *mem, e1000_irq_fn *irq,
			void *irq_opaque, struct error *err);

/**
 * e1000_net_client() - the model's net client
 * @s: the model
 *
 * Return: the client
 */
struct net_client *e1000_net_client(struct e1000 *s);

/**
 * e1000_bar_read() - a guest's read of BAR @bar at @offset
 * @s:		the model
 * @bar:	0 (registers) or 1 (I/O window)
 * @offset:	offset in the BAR
 * @size:	1, 2, 4 or 8 bytes
 *
 * Return: the value
 */
uint64_t e1000_bar_read(struct e1000 *s, unsigned int bar, uint64_t offset, unsigned int size);

/**
 * e1000_bar_write() - a guest's write to BAR @bar at @offset
 * @s:		the model
 * @bar:	0 or 1
 * @offset:	offset in the BAR
 * @value:	the value
 * @size:	1, 2, 4 or 8 bytes
 */
void e1000_bar_write(struct e1000 *s, unsigned int bar, uint64_t offset, uint64_t value,
		     unsigned int size);

/**
 * e1000_reset() - power-on state (the hypervisor's reset, or CTRL.RST)
 * @s: the model
 */
void e1000_reset(struct e1000 *s);

/**
 * e1000_broken() - why the guest stopped its own device (NULL: it works)
 * @s: the model
 *
 * Return: the reason, or NULL
 */
const char *e1000_broken(const struct e1000 *s);

#endif
