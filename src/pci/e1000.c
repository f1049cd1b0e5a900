// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * e1000.c - the Intel 82540EM ("e1000") device model, for guests without virtio drivers.
 *
 * The guest's driver programs registers in BAR0 (and through the IOADDR/IODATA window of the
 * I/O BAR1): it reads the MAC address from a Microwire EEPROM bit by bit (EECD) or by EERD,
 * talks to an M88 PHY through MDIC, and hands the device two descriptor rings in its RAM.
 *
 * Ring work runs in a bottom half, after the register write that asked for it has been answered:
 * the guest's vCPU goes on while vwire copies, as a real NIC's DMA runs beside the CPU.
 *
 * Transmit: a write to TDT runs the ring from TDH to TDT. Descriptors (legacy, extended data,
 * and context ones that set checksum and TSO parameters) are copied out of guest memory one at
 * a time, their buffers gathered into one frame; at EOP the frame gets the checksums asked
 * for, or, for TSO, goes whole with a vnet header to a peer that takes them (a tap), else is cut
 * into segments here (core/offload.c); then net_send_iov() to the peer. DD is written back,
 * TDH moves, TXDW/TXQE are raised.
 *
 * Receive: the peer's frame is filtered (receive addresses, multicast table, broadcast,
 * promiscuous), its IPv4, TCP and UDP checksums checked as RXCSUM asks, and copied into the buffers of the descriptors from RDH on, which get length
 * and status; RDH moves and RXT0 (and RXDMT0 when few buffers are left) is raised. Without
 * enough free descriptors the frame waits in the core's queue (receive returns 0) until the
 * driver moves RDT (the bottom half then flushes that queue).
 *
 * Interrupts: the line is (ICR & IMS) != 0, paced by ITR. TXDW of descriptors with IDE waits
 * for TIDV (at most TADV), RXT0 for RDTR (at most RADV), as the hardware's delay timers do. Every value the guest wrote (ring
 * bases, lengths, heads, tails, descriptor lengths, TSO parameters) is checked before use; a
 * guest that breaks its rings stops its own device, logged, until it resets it.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mac-table.h"
#include "core/netdev.h"
#include "core/offload.h"
#include "pci/e1000.h"
#include "pci/pci-proxy.h"
#include "virtio/guest-mem.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define E1000_NREGS (E1000_MMIO_SIZE / 4)

/* Register offsets (bytes in BAR0). */
#define REG_CTRL 0x0000
#define REG_STATUS 0x0008
#define REG_EECD 0x0010
#define REG_EERD 0x0014
#define REG_MDIC 0x0020
#define REG_VET 0x0038
#define E1000_VET_DEFAULT 0x8100 /* 802.1Q */
#define REG_ICR 0x00c0
#define REG_ITR 0x00c4
#define REG_ICS 0x00c8
#define REG_IMS 0x00d0
#define REG_IMC 0x00d8
#define REG_RCTL 0x0100
#define REG_TCTL 0x0400
#define REG_LEDCTL 0x0e00
#define REG_PBA 0x1000
#define REG_RDBAL 0x2800
#define REG_RDBAH 0x2804
#define REG_RDLEN 0x2808
#define REG_RDH 0x2810
#define REG_RDT 0x2818
#define REG_RDTR 0x2820
#define REG_RADV 0x282c
#define REG_TDBAL 0x3800
#define REG_TDBAH 0x3804
#define REG_TDLEN 0x3808
#define REG_TDH 0x3810
#define REG_TDT 0x3818
#define REG_TIDV 0x3820
#define REG_TADV 0x382c
#define REG_STATS_FIRST 0x4000
#define REG_STATS_LAST 0x40fc
#define REG_GPRC 0x4074
#define REG_GPTC 0x4080
#define REG_GORCL 0x4088
#define REG_GORCH 0x408c
#define REG_GOTCL 0x4090
#define REG_GOTCH 0x4094
#define REG_TORL 0x40c0
#define REG_TORH 0x40c4
#define REG_TOTL 0x40c8
#define REG_TOTH 0x40cc
#define REG_TPR 0x40d0
#define REG_TPT 0x40d4
#define REG_BPRC 0x4078
#define REG_MPRC 0x407c
#define REG_RXCSUM 0x5000
#define REG_MTA 0x5200
#define REG_RA 0x5400
#define E1000_RA_ENTRIES 16
#define REG_VFTA 0x5600

#define CTRL_SLU (1u << 6)
#define CTRL_SPD_1000 (2u << 8)
#define CTRL_RST (1u << 26)
#define CTRL_VME (1u << 30) /* VLAN mode: tags inserted (VLE) and stripped */
#define CTRL_PHY_RST (1u << 31)

#define STATUS_FD (1u << 0)
#define STATUS_LU (1u << 1)
#define STATUS_SPEED_1000 (2u << 6)
#define STATUS_ASDV_1000 (2u << 8)
#define STATUS_GIO_MASTER (1u << 19)

#define EECD_SK (1u << 0)
#define EECD_CS (1u << 1)
#define EECD_DI (1u << 2)
#define EECD_DO (1u << 3)
#define EECD_REQ (1u << 6)
#define EECD_GNT (1u << 7)
#define EECD_PRES (1u << 8)
#define EECD_WRITABLE (EECD_SK | EECD_CS | EECD_DI | EECD_REQ)
#define EEPROM_WORDS 64
#define EEPROM_SUM 0xbaba
#define EEPROM_READ_OPCODE 6 /* start bit and 10: "110" before the address */

#define EERD_START (1u << 0)
#define EERD_DONE (1u << 4)

#define MDIC_REG_SHIFT 16
#define MDIC_PHY_SHIFT 21
#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_ERROR (1u << 30)
#define PHY_ADDR 1

/* PHY registers (M88E1011). */
#define PHY_CTRL 0x00
#define PHY_STATUS 0x01
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_AUTONEG_ADV 0x04
#define PHY_LP_ABILITY 0x05
#define PHY_1000T_CTRL 0x09
#define PHY_1000T_STATUS 0x0a
#define PHY_SPEC_CTRL 0x10
#define PHY_SPEC_STATUS 0x11
#define PHY_EXT_SPEC_CTRL 0x14
#define PHY_STATUS_LINK (1u << 2)
#define PHY_STATUS_AUTONEG_DONE (1u << 5)
#define PHY_SPEC_STATUS_LINK (1u << 10)

#define ICR_TXDW (1u << 0)
#define ICR_TXQE (1u << 1)
#define ICR_LSC (1u << 2)
#define ICR_RXDMT0 (1u << 4)
#define ICR_RXO (1u << 6)
#define ICR_RXT0 (1u << 7)
#define ICR_INT_ASSERTED (1u << 31)

#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_MPE (1u << 4)
#define RCTL_LPE (1u << 5)
#define RCTL_RDMTS_SHIFT 8
#define RCTL_MO_SHIFT 12
#define RCTL_BAM (1u << 15)
#define RCTL_VFE (1u << 18) /* tagged frames filtered by VFTA */
#define RCTL_BSIZE_SHIFT 16
#define RCTL_BSEX (1u << 25)
#define RCTL_SECRC (1u << 26)

#define TCTL_EN (1u << 1)

#define RAH_AV (1u << 31)

/* Descriptors: 16 bytes each. */
#define DESC_SIZE 16
#define TXD_CMD_EOP 0x01
#define TXD_CMD_IC 0x04	 /* legacy: insert checksum */
#define TXD_CMD_TSE 0x04 /* extended: TCP segmentation */
#define TXD_CMD_RS 0x08
#define TXD_CMD_DEXT 0x20
#define TXD_CMD_VLE 0x40 /* insert the 802.1Q tag of the descriptor's special field */
#define TXD_CMD_IDE 0x80 /* delay TXDW by TIDV (at most TADV) */
#define TXD_CTX_TCP 0x01
#define TXD_CTX_IP 0x02 /* IPv4 (else IPv6) */
#define TXD_DTYP_SHIFT 20
#define TXD_DTYP_CONTEXT 0x0
#define TXD_DTYP_DATA 0x1
#define TXD_POPTS_IXSM 0x01
#define TXD_POPTS_TXSM 0x02
#define TXD_STAT_DD 0x01
#define RXD_STAT_DD 0x01
#define RXD_STAT_EOP 0x02
#define RXD_STAT_IXSM 0x04
#define RXD_STAT_VP 0x08 /* the tag was stripped into the special field */
#define RXD_STAT_TCPCS 0x20 /* TCP or UDP checksum checked */
#define RXD_STAT_IPCS 0x40  /* IPv4 header checksum checked */
#define RXD_ERR_TCPE 0x20
#define RXD_ERR_IPE 0x40
#define RXCSUM_IPOFL (1u << 8)
#define RXCSUM_TUOFL (1u << 9)

/* Largest frame gathered from tx descriptors (a TSO frame: 64 KiB of payload and headers). */
#define E1000_TX_MAX (65536 + 256)
/* Frames longer than this without RCTL.LPE are dropped (1518 + a VLAN tag). */
#define E1000_RX_MAX_NO_LPE 1522
#define E1000_RX_MAX 16384
#define E1000_MIN_FRAME 60
#define E1000_FCS_LEN 4
/* Smallest TSO segment size taken from a guest. */
#define E1000_MIN_MSS 64
/* Descriptors handled per TDT write before the rest waits for the next loop round. */
#define E1000_TX_BUDGET 256
/* The interrupt delay timers (RDTR, RADV, TIDV, TADV) count 1.024 us units. */
#define E1000_DELAY_UNIT_NS 1024
/* RDTR's "flush partial descriptor block": raise a delayed RXT0 now. */
#define RDTR_FPD (1u << 31)

/* ITR counts 256 ns units. */
#define E1000_ITR_UNIT_NS 256

/**
 * struct e1000_tx_ctx - what the last context descriptor set
 * @ipcss:	IP header start
 * @ipcso:	IP checksum field
 * @ipcse:	IP checksum end (inclusive; 0: the IP header)
 * @tucss:	TCP/UDP header start
 * @tucso:	TCP/UDP checksum field
 * @tucse:	TCP/UDP checksum end (inclusive; 0: the frame's end)
 * @tcp:	TCP (else UDP)
 * @ipv4:	IPv4 (else IPv6)
 * @hdr_len:	TSO: bytes of headers
 * @mss:	TSO: payload bytes per segment
 */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso;
	uint16_t ipcse, tucse;
	bool tcp, ipv4;
	uint8_t hdr_len;
	uint16_t mss;
};

/**
 * struct e1000_eeprom_wire - the Microwire interface's state
 * @eecd:	the bits the driver last wrote
 * @val_in:	bits clocked in (start bit, opcode, address)
 * @bits_in:	how many
 * @bit_out:	next bit of the EEPROM to clock out (word * 16 + bit), once reading
 * @reading:	a read command came in
 */
struct e1000_eeprom_wire {
	uint32_t eecd;
	uint32_t val_in;
	unsigned int bits_in;
	unsigned int bit_out;
	bool reading;
};

/**
 * struct e1000_delay - an interrupt cause held back by a delay timer and its absolute bound
 * @timer:	fires when the cause is raised
 * @cause:	the ICR bit
 * @abs_ns:	the latest it may fire, fixed by the first delayed event (INT64_MAX: no bound)
 */
struct e1000_delay {
	struct loop_timer *timer;
	uint32_t cause;
	int64_t abs_ns;
};

/**
 * struct e1000 - one 82540EM
 * @nc:		its net client (first: the core allocates the struct)
 * @loop:	the event loop
 * @proxy:	the hypervisor connection (NULL: a model made by e1000_new() for tests)
 * @mem:	guest RAM
 * @irq:	told the interrupt line's level
 * @irq_opaque:	its argument
 * @irq_level:	the level it was last told
 * @itr_timer:	holds an interrupt back until ITR allows it
 * @ring_bh:	the ring work register writes asked for: transmit, and the receive queue flushed
 * @tx_delay:	TXDW held back by TIDV/TADV
 * @rx_delay:	RXT0 held back by RDTR/RADV
 * @itr_next_ns: earliest time of the next interrupt
 * @regs:	the registers, by offset / 4
 * @eeprom:	its 64 words
 * @phy:	PHY registers
 * @wire:	EECD's Microwire state
 * @ioaddr:	the I/O window's address register
 * @mac:	the MAC address
 * @ctx:	the transmit context
 * @tx_len:	bytes of the frame gathered so far
 * @tx_popts:	the frame's first data descriptor's options (IXSM, TXSM)
 * @tx_tse:	the frame asks for TSO
 * @tx_first:	the next data descriptor starts a frame
 * @tx_too_long: the frame outgrew the buffer: dropped at EOP
 * @tx_vlan:	the frame gets an 802.1Q tag (VLE with CTRL.VME)
 * @tx_vlan_tci: its tag control (priority, CFI, VLAN id)
 * @broken:	why the device stopped (NULL: running)
 * @rl:		rate limit of the warnings
 * @tx_frame:	the frame, after room for a vnet header
 */
struct e1000 {
	struct net_client nc;
	struct loop *loop;
	struct pci_proxy *proxy;
	struct guest_mem *mem;
	e1000_irq_fn *irq;
	void *irq_opaque;
	bool irq_level;
	struct loop_timer *itr_timer;
	struct loop_bh *ring_bh;
	struct e1000_delay tx_delay;
	struct e1000_delay rx_delay;
	int64_t itr_next_ns;
	uint32_t regs[E1000_NREGS];
	uint16_t eeprom[EEPROM_WORDS];
	uint16_t phy[32];
	struct e1000_eeprom_wire wire;
	uint32_t ioaddr;
	uint8_t mac[6];
	struct e1000_tx_ctx ctx;
	size_t tx_len;
	uint8_t tx_popts;
	bool tx_tse;
	bool tx_first;
	bool tx_too_long;
	bool tx_vlan;
	uint16_t tx_vlan_tci;
	const char *broken;
	struct log_ratelimit rl;
	uint8_t tx_frame[NET_VNET_HDR_LEN + E1000_TX_MAX];
};

const struct pci_function_desc e1000_pci_desc = {
	.vendor_id = 0x8086,
	.device_id = 0x100e,
	.subsystem_vendor_id = 0x1af4,
	.subsystem_id = 0x1100,
	.revision = 3,
	.class_code = 0x020000,
	.irq_pin = 1,
	.bars = { { E1000_MMIO_SIZE, false }, { E1000_IO_SIZE, true } },
};

/* The EEPROM image of an 82540EM (words 0-2: the MAC; 0x3f: the checksum, filled in). */
static const uint16_t e1000_eeprom_template[EEPROM_WORDS] = {
	0x0000, 0x0000, 0x0000, 0x0000, 0xffff, 0x0000, 0x0000, 0x0000,
	0x3000, 0x1000, 0x6403, 0x100e, 0x8086, 0x100e, 0x8086, 0x3040,
	0x0008, 0x2000, 0x7e14, 0x0048, 0x1000, 0x00d8, 0x0000, 0x2700,
	0x6cc9, 0x3150, 0x0722, 0x040b, 0x0984, 0x0000, 0xc000, 0x0706,
	0x1008, 0x0000, 0x0f04, 0x7fff, 0x4d01, 0xffff, 0xffff, 0xffff,
	0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
	0x0100, 0x4000, 0x121c, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
	0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0x0000,
};

static uint32_t *reg(struct e1000 *s, uint32_t off)
{
	return &s->regs[off / 4];
}

static bool e1000_link_up(const struct e1000 *s)
{
	return !s->nc.link_down;
}

/**
 * e1000_fail() - the guest broke its device: log why, stop both rings until a reset
 * @s:		the model
 * @why:	the reason (a constant string)
 */
static void e1000_fail(struct e1000 *s, const char *why)
{
	if (s->broken)
		return;
	s->broken = why;
	log_warn("e1000 %s: device stopped until the guest resets it: %s", s->nc.name, why);
}

const char *e1000_broken(const struct e1000 *s)
{
	return s->broken;
}

/* Whether the guest let the device reach its memory (bus mastering on). */
static bool e1000_dma_allowed(const struct e1000 *s)
{
	return !s->proxy || pci_proxy_bus_master(s->proxy);
}

/**
 * e1000_dma() - copy between guest memory and a buffer
 * @s:		the model
 * @gpa:	guest-physical address
 * @buf:	host buffer
 * @len:	bytes
 * @to_guest:	direction
 *
 * Return: true, or false when any byte is outside guest memory (nothing copied)
 */
static bool e1000_dma(struct e1000 *s, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct iovec iov[8];
	uint8_t *b = buf;
	int n;

	if (!len)
		return true;
	n = guest_mem_map_iov(s->mem, gpa, len, iov, 8);
	if (n < 0)
		return false;
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(iov[i].iov_base, b, iov[i].iov_len);
		else
			memcpy(b, iov[i].iov_base, iov[i].iov_len);
		b += iov[i].iov_len;
	}
	if (to_guest)
		guest_mem_log_write(s->mem, gpa, len);
	return true;
}

/* Interrupts */

/**
 * e1000_update_irq() - set the line to (ICR & IMS) != 0, no sooner than ITR allows a rise
 * @s: the model
 */
static void e1000_update_irq(struct e1000 *s)
{
	bool level = (*reg(s, REG_ICR) & *reg(s, REG_IMS)) != 0;
	uint32_t itr = *reg(s, REG_ITR) & 0xffff;

	if (level && !s->irq_level && itr) {
		int64_t now = loop_now_ns();

		if (now < s->itr_next_ns) {
			if (!loop_timer_pending(s->itr_timer))
				loop_timer_mod(s->itr_timer, s->itr_next_ns);
			return;
		}
		s->itr_next_ns = now + (int64_t)itr * E1000_ITR_UNIT_NS;
	}
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->irq)
		s->irq(s->irq_opaque, level);
}

static void e1000_raise(struct e1000 *s, uint32_t causes)
{
	*reg(s, REG_ICR) |= causes;
	e1000_update_irq(s);
}

/**
 * e1000_raise_delayed() - raise a cause after @delay units from now (restarted by each event),
 *			   but no later than @abs units after the first event still waiting
 * @s:		the model
 * @d:		the cause's delay
 * @delay:	the delay register's value (0: raise now)
 * @abs:	the absolute delay register's value (0: no bound)
 */
static void e1000_raise_delayed(struct e1000 *s, struct e1000_delay *d, uint32_t delay,
				uint32_t abs)
{
	int64_t now, deadline;

	delay &= 0xffff;
	abs &= 0xffff;
	if (!delay) {
		loop_timer_del(d->timer);
		e1000_raise(s, d->cause);
		return;
	}
	now = loop_now_ns();
	if (!loop_timer_pending(d->timer))
		d->abs_ns = abs ? now + (int64_t)abs * E1000_DELAY_UNIT_NS : INT64_MAX;
	deadline = now + (int64_t)delay * E1000_DELAY_UNIT_NS;
	loop_timer_mod(d->timer, deadline < d->abs_ns ? deadline : d->abs_ns);
}

/* A delay ran out, or is cut short: its cause is raised now. */
static void e1000_delay_expired(struct e1000 *s, struct e1000_delay *d)
{
	loop_timer_del(d->timer);
	e1000_raise(s, d->cause);
}

static void e1000_tx_delay_expired(void *opaque)
{
	struct e1000 *s = opaque;

	e1000_delay_expired(s, &s->tx_delay);
}

static void e1000_rx_delay_expired(void *opaque)
{
	struct e1000 *s = opaque;

	e1000_delay_expired(s, &s->rx_delay);
}

/* EEPROM, PHY, link */

/**
 * e1000_eecd_write() - the driver drives the Microwire pins: a read command is the start bit,
 *			opcode 10 and 6 address bits clocked in on rising SK; then each
 *			falling SK moves to the next data bit, shown on DO
 * @s:		the model
 * @val:	EECD as written
 */
static void e1000_eecd_write(struct e1000 *s, uint32_t val)
{
	struct e1000_eeprom_wire *w = &s->wire;
	uint32_t old = w->eecd;

	w->eecd = val & EECD_WRITABLE;
	if (!(val & EECD_CS)) {
		w->val_in = 0;
		w->bits_in = 0;
		w->bit_out = 0;
		w->reading = false;
		return;
	}
	if (!((old ^ val) & EECD_SK))
		return;
	if (!(val & EECD_SK)) {
		if (w->reading)
			w->bit_out++;
		return;
	}
	if (w->reading)
		return;
	w->val_in = (w->val_in << 1) | !!(val & EECD_DI);
	if (++w->bits_in == 9) {
		w->reading = ((w->val_in >> 6) & 7) == EEPROM_READ_OPCODE;
		/* The first falling SK after the address brings bit 15 of the word. */
		w->bit_out = (w->val_in & 0x3f) * 16 - 1;
	}
}

static uint32_t e1000_eecd_read(struct e1000 *s)
{
	const struct e1000_eeprom_wire *w = &s->wire;
	uint32_t v = w->eecd | EECD_PRES | EECD_GNT;
	unsigned int bit = w->bit_out;

	/* DO idles high; while reading it shows the current bit, most significant first. */
	if (!w->reading || (s->eeprom[(bit / 16) % EEPROM_WORDS] >> (15 - bit % 16)) & 1)
		v |= EECD_DO;
	return v;
}

static void e1000_phy_link(struct e1000 *s)
{
	if (e1000_link_up(s)) {
		s->phy[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AUTONEG_DONE;
		s->phy[PHY_SPEC_STATUS] |= PHY_SPEC_STATUS_LINK;
		s->phy[PHY_LP_ABILITY] = 0x45e1;
		*reg(s, REG_STATUS) |= STATUS_LU;
	} else {
		s->phy[PHY_STATUS] &= (uint16_t)~PHY_STATUS_LINK;
		s->phy[PHY_SPEC_STATUS] &= (uint16_t)~PHY_SPEC_STATUS_LINK;
		s->phy[PHY_LP_ABILITY] = 0;
		*reg(s, REG_STATUS) &= ~STATUS_LU;
	}
}

static void e1000_mdic_write(struct e1000 *s, uint32_t val)
{
	unsigned int phy = (val >> MDIC_PHY_SHIFT) & 0x1f, r = (val >> MDIC_REG_SHIFT) & 0x1f;
	uint32_t out = val & ~(MDIC_READY | MDIC_ERROR);

	if (phy != PHY_ADDR) {
		out |= MDIC_ERROR;
	} else if ((val & (MDIC_OP_READ | MDIC_OP_WRITE)) == MDIC_OP_READ) {
		out = (out & ~0xffffu) | s->phy[r];
	} else if ((val & (MDIC_OP_READ | MDIC_OP_WRITE)) == MDIC_OP_WRITE) {
		switch (r) {
		case PHY_CTRL:
			/* Reset and restart-autoneg bits self-clear; the link stays as it is. */
			s->phy[r] = (uint16_t)(val & ~0x8200u);
			e1000_phy_link(s);
			break;
		case PHY_AUTONEG_ADV:
		case PHY_1000T_CTRL:
		case PHY_SPEC_CTRL:
		case PHY_EXT_SPEC_CTRL:
		case 0x1d: /* M88 debug address and data */
		case 0x1e:
			s->phy[r] = (uint16_t)val;
			break;
		default:
			break; /* read-only */
		}
	} else {
		out |= MDIC_ERROR;
	}
	*reg(s, REG_MDIC) = out | MDIC_READY;
}

static void e1000_phy_reset(struct e1000 *s)
{
	memset(s->phy, 0, sizeof(s->phy));
	s->phy[PHY_CTRL] = 0x1140;
	s->phy[PHY_STATUS] = 0x794d;
	s->phy[PHY_ID1] = 0x0141;
	s->phy[PHY_ID2] = 0x0c20;
	s->phy[PHY_AUTONEG_ADV] = 0x0de1;
	s->phy[PHY_1000T_CTRL] = 0x0e00;
	s->phy[PHY_1000T_STATUS] = 0x3c00;
	s->phy[PHY_SPEC_CTRL] = 0x0360;
	s->phy[PHY_SPEC_STATUS] = 0xac00;
	s->phy[PHY_EXT_SPEC_CTRL] = 0x0d60;
	e1000_phy_link(s);
}

static void e1000_link_status_changed(struct net_client *nc)
{
	struct e1000 *s = (struct e1000 *)nc;

	e1000_phy_link(s);
	e1000_raise(s, ICR_LSC);
}

void e1000_reset(struct e1000 *s)
{
	uint16_t sum = 0;

	memset(s->regs, 0, sizeof(s->regs));
	memset(&s->wire, 0, sizeof(s->wire));
	memset(&s->ctx, 0, sizeof(s->ctx));
	s->ioaddr = 0;
	s->tx_len = 0;
	s->tx_first = true;
	s->tx_too_long = false;
	s->tx_vlan = false;
	s->broken = NULL;
	*reg(s, REG_CTRL) = CTRL_SLU | CTRL_SPD_1000;
	*reg(s, REG_STATUS) = STATUS_FD | STATUS_SPEED_1000 | STATUS_ASDV_1000 | STATUS_GIO_MASTER;
	*reg(s, REG_LEDCTL) = 0x0602;
	*reg(s, REG_PBA) = 0x00100030;
	*reg(s, REG_RXCSUM) = RXCSUM_IPOFL | RXCSUM_TUOFL;
	*reg(s, REG_VET) = E1000_VET_DEFAULT;
	*reg(s, REG_RA) = (uint32_t)s->mac[0] | s->mac[1] << 8 | s->mac[2] << 16 |
			  (uint32_t)s->mac[3] << 24;
	*reg(s, REG_RA + 4) = (uint32_t)s->mac[4] | s->mac[5] << 8 | RAH_AV;
	memcpy(s->eeprom, e1000_eeprom_template, sizeof(s->eeprom));
	for (int i = 0; i < 3; i++)
		s->eeprom[i] = (uint16_t)(s->mac[2 * i] | s->mac[2 * i + 1] << 8);
	for (int i = 0; i < EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + s->eeprom[i]);
	s->eeprom[EEPROM_WORDS - 1] = (uint16_t)(EEPROM_SUM - sum);
	e1000_phy_reset(s);
	if (s->itr_timer)
		loop_timer_del(s->itr_timer);
	if (s->ring_bh)
		loop_bh_cancel(s->ring_bh);
	if (s->tx_delay.timer)
		loop_timer_del(s->tx_delay.timer);
	if (s->rx_delay.timer)
		loop_timer_del(s->rx_delay.timer);
	s->itr_next_ns = 0;
	net_purge_queued(&s->nc, NULL);
	e1000_update_irq(s);
}

/* Transmit */

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/**
 * e1000_insert_csum() - the checksum of [@css, @cse] (0: to the end) stored at @cso, as the
 *			 hardware does it: over the bytes as they are, the field included
 * @f:		the frame
 * @len:	its length
 * @css:	start
 * @cso:	field
 * @cse:	end, inclusive (0: the frame's end)
 * @udp:	a zero result is sent as 0xffff
 *
 * Return: true, or false when the offsets do not fit the frame
 */
static bool e1000_insert_csum(uint8_t *f, size_t len, size_t css, size_t cso, size_t cse,
			      bool udp)
{
	size_t end = cse ? cse + 1 : len;
	uint16_t c;

	if (css >= len || end > len || css >= end || cso + 2 > len)
		return false;
	c = offload_csum_fold(offload_csum_add(0, f + css, end - css));
	if (udp && c == 0)
		c = 0xffff;
	memcpy(f + cso, &c, sizeof(c));
	return true;
}

/* Most pieces a frame may come in to e1000_tx_send() (offload_segment() gives two or three). */
#define E1000_TX_MAX_IOV 16

/**
 * e1000_tx_send() - hand a finished frame to the peer, with the 802.1Q tag its descriptors
 *		     asked for inserted after the MAC addresses (the checksums and segments were
 *		     made on the untagged frame, as the hardware does)
 * @s:		the model
 * @vh:		its vnet header (offsets of the untagged frame), or NULL
 * @iov:	the frame
 * @iovcnt:	pieces
 *
 * Return: as net_send_iov()
 */
static ssize_t e1000_tx_send(struct e1000 *s, const struct virtio_net_hdr_v1 *vh,
			     const struct iovec *iov, int iovcnt)
{
	struct iovec out[E1000_TX_MAX_IOV + 3];
	struct virtio_net_hdr_v1 tagged_vh;
	unsigned int flags = vh ? NET_FLAG_VNET_HDR : 0;
	uint8_t tag[4];
	int n = 0;

	if (iovcnt > E1000_TX_MAX_IOV)
		return -EMSGSIZE; /* not from this file's callers */
	if (vh) {
		tagged_vh = *vh;
		out[n++] = (struct iovec){ &tagged_vh, NET_VNET_HDR_LEN };
	}
	if (!s->tx_vlan || net_iov_size(iov, iovcnt) < 12) {
		memcpy(out + n, iov, sizeof(*iov) * (size_t)iovcnt);
		return net_send_iov(&s->nc, out, n + iovcnt, flags, NULL);
	}
	put_be16(tag, (uint16_t)*reg(s, REG_VET));
	put_be16(tag + 2, s->tx_vlan_tci);
	if (vh) {
		tagged_vh.csum_start = htole16((uint16_t)(le16toh(vh->csum_start) + 4));
		tagged_vh.hdr_len = htole16((uint16_t)(le16toh(vh->hdr_len) + 4));
	}
	/* The pieces up to byte 12, the tag, then the rest. */
	for (size_t at = 0, i = 0; i < (size_t)iovcnt; i++) {
		const uint8_t *b = iov[i].iov_base;
		size_t l = iov[i].iov_len;

		if (at < 12 && at + l > 12) {
			out[n++] = (struct iovec){ (void *)b, 12 - at };
			out[n++] = (struct iovec){ tag, sizeof(tag) };
			out[n++] = (struct iovec){ (void *)(b + 12 - at), at + l - 12 };
		} else {
			out[n++] = iov[i];
			if (at + l == 12)
				out[n++] = (struct iovec){ tag, sizeof(tag) };
		}
		at += l;
	}
	return net_send_iov(&s->nc, out, n, flags, NULL);
}

static ssize_t e1000_tx_emit(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct e1000 *s = opaque;
	ssize_t r = e1000_tx_send(s, NULL, iov, iovcnt);

	/* A frame the peer cannot take now is queued or dropped by the core: never "refused". */
	return r == 0 ? 1 : r;
}

/**
 * e1000_tso() - send a TSO frame: fix its IP lengths (the driver leaves them 0), then hand it
 *		 whole to a peer that takes vnet headers, or cut it here
 * @s:	the model
 * @f:	the frame (NET_VNET_HDR_LEN bytes of room before it)
 * @len: its length
 *
 * Return: 0, or -EINVAL when the context does not fit the frame
 */
static int e1000_tso(struct e1000 *s, uint8_t *f, size_t len)
{
	const struct e1000_tx_ctx *c = &s->ctx;
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)(f - NET_VNET_HDR_LEN);
	size_t l3 = c->ipcss, l4 = c->tucss, csum_field = c->tcp ? 16 : 6, l4_len = len - l4;
	/* The pseudo-header's 32-bit length, zeros, and protocol (after the addresses). */
	const uint8_t pseudo_tail[8] = { (uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16),
					 (uint8_t)(l4_len >> 8), (uint8_t)l4_len, 0, 0, 0,
					 c->tcp ? 6 : 17 };
	uint64_t sum;
	uint16_t csum;
	int r;

	if (c->mss < E1000_MIN_MSS || l3 < 14 || l4 <= l3 || c->hdr_len <= l4 ||
	    c->hdr_len > len || l4 + csum_field + 2 > c->hdr_len || len - l3 > 0xffff + 40)
		return -EINVAL;
	if (c->ipv4) {
		size_t ihl = (size_t)(f[l3] & 0x0f) * 4;

		if (l3 + ihl > l4 || len - l3 > 0xffff)
			return -EINVAL;
		put_be16(f + l3 + 2, (uint16_t)(len - l3));
		put_be16(f + l3 + 10, 0);
		csum = offload_csum_fold(offload_csum_add(0, f + l3, ihl));
		memcpy(f + l3 + 10, &csum, sizeof(csum));
		sum = offload_csum_add(0, f + l3 + 12, 8);
	} else {
		if (l3 + 40 > l4)
			return -EINVAL;
		put_be16(f + l3 + 4, (uint16_t)(len - l3 - 40));
		sum = offload_csum_add(0, f + l3 + 8, 32);
	}
	/* The pseudo-header with the whole length, as a partial checksum. */
	sum = offload_csum_add(sum, pseudo_tail, sizeof(pseudo_tail));
	csum = (uint16_t)~offload_csum_fold(sum);
	memcpy(f + l4 + csum_field, &csum, sizeof(csum));
	if (!c->tcp)
		put_be16(f + l4 + 4, (uint16_t)(len - l4));

	memset(h, 0, sizeof(*h));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = c->tcp ? (c->ipv4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6)
			     : VIRTIO_NET_HDR_GSO_UDP_L4;
	h->hdr_len = htole16(c->hdr_len);
	h->gso_size = htole16(c->mss);
	h->csum_start = htole16((uint16_t)l4);
	h->csum_offset = htole16((uint16_t)csum_field);
	if (net_peer_accepts_vnet_hdr(&s->nc)) {
		struct iovec iov = { f, len };

		e1000_tx_send(s, h, &iov, 1);
		return 0;
	}
	r = offload_segment(f, len, h, e1000_tx_emit, s);
	return r < 0 ? r : 0;
}

/**
 * e1000_tx_frame() - the frame is whole (EOP): finish its checksums and send it
 * @s: the model
 */
static void e1000_tx_frame(struct e1000 *s)
{
	uint8_t *f = s->tx_frame + NET_VNET_HDR_LEN;
	size_t len = s->tx_len;
	const struct e1000_tx_ctx *c = &s->ctx;
	bool ok = true;

	if (s->tx_too_long || len < 14) {
		log_ratelimited_warn(&s->rl, "e1000 %s: %zu-byte frame dropped", s->nc.name, len);
		s->nc.stats.tx_dropped++;
		return;
	}
	*reg(s, REG_TPT) += 1;
	*reg(s, REG_GPTC) += 1;
	*reg(s, REG_GOTCL) += (uint32_t)len;
	*reg(s, REG_TOTL) += (uint32_t)len;
	if (s->tx_tse) {
		if (e1000_tso(s, f, len) < 0) {
			log_ratelimited_warn(&s->rl,
					     "e1000 %s: TSO frame of %zu bytes dropped: its context "
					     "(headers %u, MSS %u) does not fit it",
					     s->nc.name, len, c->hdr_len, c->mss);
			s->nc.stats.tx_dropped++;
		}
		return;
	}
	if (s->tx_popts & TXD_POPTS_IXSM) {
		ok = (size_t)c->ipcso + 2 <= len && c->ipcss < len;
		if (ok) {
			put_be16(f + c->ipcso, 0);
			ok = e1000_insert_csum(f, len, c->ipcss, c->ipcso,
					       c->ipcse ? c->ipcse
							: c->ipcss + (size_t)(f[c->ipcss] & 0x0f) * 4 - 1,
					       false);
		}
	}
	if (ok && (s->tx_popts & TXD_POPTS_TXSM))
		ok = e1000_insert_csum(f, len, c->tucss, c->tucso, c->tucse, !c->tcp);
	if (!ok) {
		log_ratelimited_warn(&s->rl,
				     "e1000 %s: %zu-byte frame dropped: its checksum offsets do not "
				     "fit it",
				     s->nc.name, len);
		s->nc.stats.tx_dropped++;
		return;
	}
	{
		struct iovec iov = { f, len };

		e1000_tx_send(s, NULL, &iov, 1);
	}
}

/**
 * e1000_tx_gather() - append a descriptor's buffer to the frame
 * @s:		the model
 * @gpa:	buffer address
 * @len:	its length
 *
 * Return: true, or false when the buffer is outside guest memory
 */
static bool e1000_tx_gather(struct e1000 *s, uint64_t gpa, size_t len)
{
	if (s->tx_too_long || len > E1000_TX_MAX - s->tx_len) {
		s->tx_too_long = true;
		return true;
	}
	if (!e1000_dma(s, gpa, s->tx_frame + NET_VNET_HDR_LEN + s->tx_len, len, false))
		return false;
	s->tx_len += len;
	return true;
}

/**
 * e1000_tx_desc() - act on one transmit descriptor
 * @s:	the model
 * @d:	its 16 bytes (a copy)
 *
 * Return: true, or false when the guest broke its ring (the device is stopped)
 */
static bool e1000_tx_desc(struct e1000 *s, const uint8_t *d)
{
	uint64_t addr;
	uint32_t lower, upper;
	uint8_t cmd;

	memcpy(&addr, d, 8);
	memcpy(&lower, d + 8, 4);
	memcpy(&upper, d + 12, 4);
	addr = le64toh(addr);
	lower = le32toh(lower);
	upper = le32toh(upper);
	cmd = (uint8_t)(lower >> 24);

	if ((cmd & TXD_CMD_DEXT) && ((lower >> TXD_DTYP_SHIFT) & 0xf) == TXD_DTYP_CONTEXT) {
		struct e1000_tx_ctx *c = &s->ctx;

		c->ipcss = (uint8_t)addr;
		c->ipcso = (uint8_t)(addr >> 8);
		c->ipcse = (uint16_t)(addr >> 16);
		c->tucss = (uint8_t)(addr >> 32);
		c->tucso = (uint8_t)(addr >> 40);
		c->tucse = (uint16_t)(addr >> 48);
		c->tcp = cmd & TXD_CTX_TCP;
		c->ipv4 = cmd & TXD_CTX_IP;
		c->hdr_len = (uint8_t)(upper >> 8);
		c->mss = (uint16_t)(upper >> 16);
		return true;
	}
	if (cmd & TXD_CMD_DEXT) {
		if (((lower >> TXD_DTYP_SHIFT) & 0xf) != TXD_DTYP_DATA) {
			e1000_fail(s, "transmit descriptor of an unknown type");
			return false;
		}
		if (s->tx_first) {
			s->tx_popts = (uint8_t)(upper >> 8);
			s->tx_tse = cmd & TXD_CMD_TSE;
		}
		if (!e1000_tx_gather(s, addr, lower & 0xfffff)) {
			e1000_fail(s, "transmit buffer outside guest memory");
			return false;
		}
	} else {
		size_t len = lower & 0xffff, cso = (lower >> 16) & 0xff, css = (upper >> 8) & 0xff;

		if (s->tx_first) {
			s->tx_popts = 0;
			s->tx_tse = false;
		}
		if (!e1000_tx_gather(s, addr, len)) {
			e1000_fail(s, "transmit buffer outside guest memory");
			return false;
		}
		/* Legacy checksum insertion: stored in the frame before it is sent. */
		if ((cmd & TXD_CMD_EOP) && (cmd & TXD_CMD_IC) && !s->tx_too_long &&
		    !e1000_insert_csum(s->tx_frame + NET_VNET_HDR_LEN, s->tx_len, css, cso, 0,
				       false))
			log_ratelimited_warn(&s->rl, "e1000 %s: legacy checksum offsets outside "
					     "the frame", s->nc.name);
	}
	/* The tag comes with the last descriptor (any one of a TSO frame), as QEMU takes it. */
	if ((cmd & TXD_CMD_VLE) && (*reg(s, REG_CTRL) & CTRL_VME) &&
	    ((cmd & TXD_CMD_EOP) || s->tx_tse)) {
		s->tx_vlan = true;
		s->tx_vlan_tci = (uint16_t)(upper >> 16);
	}
	s->tx_first = false;
	if (cmd & TXD_CMD_EOP) {
		e1000_tx_frame(s);
		s->tx_len = 0;
		s->tx_first = true;
		s->tx_too_long = false;
		s->tx_vlan = false;
	}
	return true;
}

/* The ring's size in descriptors, or 0 when it is not one the guest may use. */
static uint32_t e1000_ring_size(struct e1000 *s, uint32_t len_reg)
{
	return *reg(s, len_reg) / DESC_SIZE;
}

static uint64_t e1000_ring_base(struct e1000 *s, uint32_t lo_reg)
{
	return (uint64_t)*reg(s, lo_reg + 4) << 32 | (*reg(s, lo_reg) & ~0xfu);
}

/**
 * e1000_tx_run() - send what the guest queued from TDH up to TDT (at most a budget)
 * @s: the model
 */
static void e1000_tx_run(struct e1000 *s)
{
	uint32_t n = e1000_ring_size(s, REG_TDLEN), done = 0;
	uint64_t base = e1000_ring_base(s, REG_TDBAL);
	uint32_t causes = 0;
	bool delayed = false;

	if (s->broken || !(*reg(s, REG_TCTL) & TCTL_EN) || !e1000_dma_allowed(s))
		return;
	if (!n)
		return;
	if (*reg(s, REG_TDH) >= n || *reg(s, REG_TDT) >= n) {
		e1000_fail(s, "transmit head or tail beyond the ring");
		return;
	}
	while (*reg(s, REG_TDH) != *reg(s, REG_TDT) && done < E1000_TX_BUDGET) {
		uint64_t at = base + (uint64_t)*reg(s, REG_TDH) * DESC_SIZE;
		uint8_t d[DESC_SIZE];

		if (!e1000_dma(s, at, d, DESC_SIZE, false)) {
			e1000_fail(s, "transmit ring outside guest memory");
			return;
		}
		if (!e1000_tx_desc(s, d))
			return;
		if (d[11] & TXD_CMD_RS) {
			uint8_t status = d[12] | TXD_STAT_DD;

			if (!e1000_dma(s, at + 12, &status, 1, true)) {
				e1000_fail(s, "transmit ring outside guest memory");
				return;
			}
			if (d[11] & TXD_CMD_IDE)
				delayed = true;
			else
				causes |= ICR_TXDW;
		}
		*reg(s, REG_TDH) = (*reg(s, REG_TDH) + 1) % n;
		done++;
	}
	if (*reg(s, REG_TDH) == *reg(s, REG_TDT))
		causes |= ICR_TXQE;
	if (causes & ICR_TXDW)
		loop_timer_del(s->tx_delay.timer); /* raised now: nothing left to delay */
	else if (delayed)
		e1000_raise_delayed(s, &s->tx_delay, *reg(s, REG_TIDV), *reg(s, REG_TADV));
	if (causes)
		e1000_raise(s, causes);
	/* Over budget: the rest goes in a later round, so that one guest cannot hold the loop. */
	if (*reg(s, REG_TDH) != *reg(s, REG_TDT))
		loop_bh_schedule(s->ring_bh);
}

/* Receive */

static size_t e1000_rx_buf_size(struct e1000 *s)
{
	uint32_t rctl = *reg(s, REG_RCTL);
	unsigned int bsize = (rctl >> RCTL_BSIZE_SHIFT) & 3;

	if (rctl & RCTL_BSEX)
		return bsize ? (size_t)32768 >> bsize : 2048;
	return (size_t)2048 >> bsize;
}

/* Free receive descriptors: from RDH up to (not including) RDT. */
static uint32_t e1000_rx_free(struct e1000 *s, uint32_t n)
{
	uint32_t h = *reg(s, REG_RDH), t = *reg(s, REG_RDT);

	return t >= h ? t - h : n - h + t;
}

static bool e1000_rx_ring_ok(struct e1000 *s, uint32_t n)
{
	if (!n)
		return false;
	if (*reg(s, REG_RDH) >= n || *reg(s, REG_RDT) >= n) {
		e1000_fail(s, "receive head or tail beyond the ring");
		return false;
	}
	return true;
}

static bool e1000_can_receive(struct net_client *nc)
{
	struct e1000 *s = (struct e1000 *)nc;
	uint32_t n = e1000_ring_size(s, REG_RDLEN);

	if (s->broken || !(*reg(s, REG_RCTL) & RCTL_EN) || !e1000_dma_allowed(s) ||
	    !e1000_link_up(s) || !e1000_rx_ring_ok(s, n))
		return false;
	return e1000_rx_free(s, n) > 0;
}

/**
 * e1000_rx_wanted() - whether the receive filters take a frame with this destination
 * @s:		the model
 * @dst:	the destination MAC
 *
 * Return: true or false
 */
static bool e1000_rx_wanted(struct e1000 *s, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned int mta_shift[4] = { 4, 3, 2, 0 };
	uint32_t rctl = *reg(s, REG_RCTL);

	if (!memcmp(dst, bcast, 6))
		return rctl & (RCTL_BAM | RCTL_MPE);
	if (dst[0] & 1) {
		unsigned int h;

		if (rctl & RCTL_MPE)
			return true;
		h = (((unsigned int)dst[5] << 8 | dst[4]) >> mta_shift[(rctl >> RCTL_MO_SHIFT) & 3]) &
		    0xfff;
		return *reg(s, REG_MTA + (h >> 5) * 4) & (1u << (h & 31));
	}
	if (rctl & RCTL_UPE)
		return true;
	for (unsigned int i = 0; i < E1000_RA_ENTRIES; i++) {
		uint32_t lo = *reg(s, REG_RA + 8 * i), hi = *reg(s, REG_RA + 8 * i + 4);
		uint8_t ra[6] = { (uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
				  (uint8_t)(lo >> 24), (uint8_t)hi, (uint8_t)(hi >> 8) };

		if ((hi & RAH_AV) && !memcmp(ra, dst, 6))
			return true;
	}
	return false;
}

/* Most pieces a received frame may come in for its 802.1Q tag to be stripped. */
#define E1000_RX_MAX_IOV 16

/**
 * e1000_iov_cut() - describe @iov without the @cut bytes at @at (no data is copied)
 * @out:	room for @iovcnt + 1 pieces
 * @iov:	the data
 * @iovcnt:	pieces
 * @at:		where the bytes to leave out start
 * @cut:	how many
 *
 * Return: pieces in @out
 */
static int e1000_iov_cut(struct iovec *out, const struct iovec *iov, int iovcnt, size_t at,
			 size_t cut)
{
	int n = 0;

	for (int i = 0; i < iovcnt; i++) {
		uint8_t *b = iov[i].iov_base;
		size_t l = iov[i].iov_len, head = at < l ? at : l, tail;

		/* Before the cut, the cut itself, after it. */
		if (head)
			out[n++] = (struct iovec){ b, head };
		at -= head;
		b += head;
		l -= head;
		tail = cut < l ? cut : l;
		cut -= tail;
		b += tail;
		l -= tail;
		if (l)
			out[n++] = (struct iovec){ b, l };
	}
	return n;
}

/**
 * e1000_rx_csum() - receive checksum offload (RXCSUM): check an IPv4 frame's header checksum
 *		     (IPOFL) and its TCP or UDP checksum (TUOFL), as the 82540 does
 * @s:		the model
 * @iov:	the frame
 * @iovcnt:	pieces
 * @len:	its length
 * @errors:	out: RXD_ERR_IPE, RXD_ERR_TCPE for a checksum that is wrong
 *
 * Fragments, IPv6, VLAN-tagged and other frames are not checked (no status bit: the driver
 * checks them itself). A UDP checksum of 0 (none sent) counts as checked.
 *
 * Return: the status bits: IXSM when offload is off, else IPCS and TCPCS for what was checked
 */
static uint8_t e1000_rx_csum(struct e1000 *s, const struct iovec *iov, int iovcnt, size_t len,
			     uint8_t *errors)
{
	uint32_t rxcsum = *reg(s, REG_RXCSUM);
	uint8_t h[14 + 60 + 8], status = 0, pseudo[4] = { 0 };
	size_t ihl, ip_len, got;
	uint16_t frag;
	uint64_t sum;

	*errors = 0;
	if (!(rxcsum & (RXCSUM_IPOFL | RXCSUM_TUOFL)))
		return RXD_STAT_IXSM;
	got = net_iov_to_buf(iov, iovcnt, 0, h, sizeof(h));
	if (got < 14 + 20 || h[12] != 0x08 || h[13] != 0x00 || (h[14] >> 4) != 4)
		return 0;
	ihl = (size_t)(h[14] & 0x0f) * 4;
	ip_len = (size_t)(h[16] << 8 | h[17]);
	if (ihl < 20 || 14 + ihl > got || ip_len < ihl || 14 + ip_len > len)
		return 0;
	if (rxcsum & RXCSUM_IPOFL) {
		status |= RXD_STAT_IPCS;
		if (offload_csum_fold(offload_csum_add(0, h + 14, ihl)) != 0)
			*errors |= RXD_ERR_IPE;
	}
	frag = (uint16_t)(h[20] << 8 | h[21]);
	if (!(rxcsum & RXCSUM_TUOFL) || (frag & 0x3fff) || (h[23] != 6 && h[23] != 17))
		return status;
	if (h[23] == 17 && 14 + ihl + 8 <= got && !h[14 + ihl + 6] && !h[14 + ihl + 7])
		return status | RXD_STAT_TCPCS;
	/* The pseudo-header (addresses, protocol, length), then the segment. */
	pseudo[1] = h[23];
	pseudo[2] = (uint8_t)((ip_len - ihl) >> 8);
	pseudo[3] = (uint8_t)(ip_len - ihl);
	sum = offload_csum_add(offload_csum_add(0, h + 26, 8), pseudo, sizeof(pseudo));
	sum = offload_csum_add_iov(sum, iov, iovcnt, 14 + ihl, ip_len - ihl);
	if (offload_csum_fold(sum) != 0)
		*errors |= RXD_ERR_TCPE;
	return status | RXD_STAT_TCPCS;
}

static ssize_t e1000_receive_iov(struct net_client *nc, const struct iovec *iov, int iovcnt,
				 unsigned int flags)
{
	struct e1000 *s = (struct e1000 *)nc;
	size_t len = net_iov_size(iov, iovcnt), total, bufsize, off = 0, need;
	uint32_t n = e1000_ring_size(s, REG_RDLEN), rctl = *reg(s, REG_RCTL), free_left;
	uint64_t base = e1000_ring_base(s, REG_RDBAL);
	uint8_t eth[16], *dst = eth, csum_status, csum_errors, vlan_status = 0;
	uint16_t vlan_tci = 0;
	struct iovec untagged[E1000_RX_MAX_IOV];
	const size_t in_len = len;
	static const uint8_t zeros[E1000_MIN_FRAME + E1000_FCS_LEN];

	if (!e1000_can_receive(nc))
		return s->broken ? (ssize_t)in_len : 0;
	if (net_iov_to_buf(iov, iovcnt, 0, eth, sizeof(eth)) < 6)
		return (ssize_t)in_len;
	if (len > ((rctl & RCTL_LPE) ? E1000_RX_MAX : E1000_RX_MAX_NO_LPE) ||
	    !e1000_rx_wanted(s, dst))
		return (ssize_t)in_len; /* filtered: taken and dropped, as the hardware does */
	if (len >= 18 && (uint16_t)(eth[12] << 8 | eth[13]) == (uint16_t)*reg(s, REG_VET)) {
		vlan_tci = (uint16_t)(eth[14] << 8 | eth[15]);
		/* VFE: a tagged frame passes only with its VLAN id's VFTA bit set. */
		if ((rctl & RCTL_VFE) && !(*reg(s, REG_VFTA + ((vlan_tci & 0xfff) >> 5) * 4) &
					    1u << (vlan_tci & 0x1f)))
			return (ssize_t)in_len;
		/* VME: the tag goes into the descriptor, the frame on without it. */
		if ((*reg(s, REG_CTRL) & CTRL_VME) && iovcnt < E1000_RX_MAX_IOV) {
			iovcnt = e1000_iov_cut(untagged, iov, iovcnt, 12, 4);
			iov = untagged;
			len -= 4;
			vlan_status = RXD_STAT_VP;
		}
	}
	total = len < E1000_MIN_FRAME ? E1000_MIN_FRAME : len;
	if (!(rctl & RCTL_SECRC))
		total += E1000_FCS_LEN;
	bufsize = e1000_rx_buf_size(s);
	need = (total + bufsize - 1) / bufsize;
	if (need >= n) {
		e1000_raise(s, ICR_RXO);
		return (ssize_t)in_len;
	}
	if (e1000_rx_free(s, n) < need)
		return 0; /* held until the driver gives buffers (RDT) */
	csum_status = e1000_rx_csum(s, iov, iovcnt, len, &csum_errors);

	while (off < total) {
		uint64_t at = base + (uint64_t)*reg(s, REG_RDH) * DESC_SIZE, addr;
		size_t chunk = total - off < bufsize ? total - off : bufsize;
		uint8_t d[DESC_SIZE];
		struct iovec dest[8];
		int nd;

		if (!e1000_dma(s, at, d, DESC_SIZE, false)) {
			e1000_fail(s, "receive ring outside guest memory");
			return (ssize_t)in_len;
		}
		memcpy(&addr, d, 8);
		addr = le64toh(addr);
		nd = guest_mem_map_iov(s->mem, addr, chunk, dest, 8);
		if (nd < 0) {
			e1000_fail(s, "receive buffer outside guest memory");
			return (ssize_t)in_len;
		}
		/* Frame bytes, then the padding and the (zero) FCS beyond them. */
		for (size_t i = 0, pos = 0; i < (size_t)nd; i++) {
			size_t want = dest[i].iov_len, got = 0;
			size_t at_frame = off + pos;

			if (at_frame < len)
				got = net_iov_to_buf(iov, iovcnt, at_frame, dest[i].iov_base,
						     want < len - at_frame ? want : len - at_frame);
			if (got < want)
				memcpy((uint8_t *)dest[i].iov_base + got, zeros, want - got);
			pos += want;
		}
		guest_mem_log_write(s->mem, addr, chunk);
		memset(d + 8, 0, 8);
		d[8] = (uint8_t)chunk;
		d[9] = (uint8_t)(chunk >> 8);
		/* Checksum status and errors are the last descriptor's, with EOP. */
		if (off + chunk == total) {
			d[12] = RXD_STAT_DD | RXD_STAT_EOP | csum_status | vlan_status;
			d[13] = csum_errors;
			if (vlan_status) {
				d[14] = (uint8_t)vlan_tci;
				d[15] = (uint8_t)(vlan_tci >> 8);
			}
		} else {
			d[12] = RXD_STAT_DD | RXD_STAT_IXSM;
		}
		if (!e1000_dma(s, at + 8, d + 8, 8, true)) {
			e1000_fail(s, "receive ring outside guest memory");
			return (ssize_t)in_len;
		}
		*reg(s, REG_RDH) = (*reg(s, REG_RDH) + 1) % n;
		off += chunk;
	}
	*reg(s, REG_TPR) += 1;
	*reg(s, REG_GPRC) += 1;
	*reg(s, REG_GORCL) += (uint32_t)total;
	*reg(s, REG_TORL) += (uint32_t)total;
	if (dst[0] & 1)
		*reg(s, memcmp(dst, "\xff\xff\xff\xff\xff\xff", 6) ? REG_MPRC : REG_BPRC) += 1;
	free_left = e1000_rx_free(s, n);
	if (free_left <= (n >> (((rctl >> RCTL_RDMTS_SHIFT) & 3) + 1)))
		e1000_raise(s, ICR_RXDMT0);
	e1000_raise_delayed(s, &s->rx_delay, *reg(s, REG_RDTR), *reg(s, REG_RADV));
	return (ssize_t)in_len;
}

/* Registers */

static uint32_t e1000_reg_read(struct e1000 *s, uint32_t off)
{
	uint32_t v;

	switch (off) {
	case REG_ICR:
		v = *reg(s, REG_ICR);
		if (v)
			v |= ICR_INT_ASSERTED;
		*reg(s, REG_ICR) = 0;
		e1000_update_irq(s);
		return v;
	case REG_EECD:
		return e1000_eecd_read(s);
	case REG_CTRL:
		return *reg(s, REG_CTRL) & ~(CTRL_RST | CTRL_PHY_RST);
	case REG_IMC:
	case REG_ICS:
		return 0;
	default:
		break;
	}
	if (off >= REG_STATS_FIRST && off <= REG_STATS_LAST) {
		v = *reg(s, off);
		/* The statistics clear on read (the 64-bit octet counters on their high half). */
		if (off != REG_GORCL && off != REG_GOTCL && off != REG_TORL && off != REG_TOTL)
			*reg(s, off) = 0;
		if (off == REG_GORCH || off == REG_GOTCH || off == REG_TORH || off == REG_TOTH)
			*reg(s, off - 4) = 0;
		return v;
	}
	return *reg(s, off);
}

static void e1000_reg_write(struct e1000 *s, uint32_t off, uint32_t val)
{
	switch (off) {
	case REG_CTRL:
		if (val & CTRL_RST) {
			e1000_reset(s);
			return;
		}
		*reg(s, REG_CTRL) = val & ~CTRL_PHY_RST;
		return;
	case REG_STATUS:
		return;
	case REG_EECD:
		e1000_eecd_write(s, val);
		return;
	case REG_EERD: {
		unsigned int addr = (val >> 8) & 0xff;

		if ((val & EERD_START) && addr < EEPROM_WORDS)
			*reg(s, REG_EERD) = (uint32_t)s->eeprom[addr] << 16 | addr << 8 | EERD_DONE;
		else
			*reg(s, REG_EERD) = val & ~EERD_START;
		return;
	}
	case REG_MDIC:
		e1000_mdic_write(s, val);
		return;
	case REG_ICR:
		*reg(s, REG_ICR) &= ~val;
		e1000_update_irq(s);
		return;
	case REG_ICS:
		e1000_raise(s, val);
		return;
	case REG_IMS:
		*reg(s, REG_IMS) |= val;
		e1000_update_irq(s);
		return;
	case REG_IMC:
		*reg(s, REG_IMS) &= ~val;
		e1000_update_irq(s);
		return;
	case REG_ITR:
		*reg(s, REG_ITR) = val & 0xffff;
		return;
	case REG_RCTL:
		*reg(s, REG_RCTL) = val;
		loop_bh_schedule(s->ring_bh);
		return;
	case REG_RDT:
		*reg(s, REG_RDT) = val & 0xffff;
		loop_bh_schedule(s->ring_bh);
		return;
	case REG_RDH:
	case REG_TDH:
		*reg(s, off) = val & 0xffff;
		return;
	case REG_RDLEN:
	case REG_TDLEN:
		*reg(s, off) = val & 0xfff80;
		return;
	case REG_TDT:
		*reg(s, REG_TDT) = val & 0xffff;
		loop_bh_schedule(s->ring_bh);
		return;
	case REG_TCTL:
		*reg(s, REG_TCTL) = val;
		loop_bh_schedule(s->ring_bh);
		return;
	case REG_RDTR:
		*reg(s, REG_RDTR) = val & 0xffff;
		if ((val & RDTR_FPD) && loop_timer_pending(s->rx_delay.timer))
			e1000_delay_expired(s, &s->rx_delay);
		return;
	case REG_RADV:
	case REG_TIDV:
	case REG_TADV:
		*reg(s, off) = val & 0xffff;
		return;
	default:
		break;
	}
	if (off >= REG_STATS_FIRST && off <= REG_STATS_LAST)
		return; /* read-only */
	*reg(s, off) = val;
}

/* Sub-dword accesses act on the aligned register; 8-byte ones on two. */
uint64_t e1000_bar_read(struct e1000 *s, unsigned int bar, uint64_t offset, unsigned int size)
{
	uint64_t v;

	if (bar == 1) {
		if (offset < 4)
			return s->ioaddr >> (8 * offset);
		if (offset >= 8 || s->ioaddr >= E1000_MMIO_SIZE)
			return 0;
		return (uint64_t)e1000_reg_read(s, s->ioaddr & ~3u) >> (8 * (offset & 3));
	}
	if (bar != 0 || offset >= E1000_MMIO_SIZE)
		return 0;
	v = e1000_reg_read(s, (uint32_t)offset & ~3u) >> (8 * (offset & 3));
	if (size == 8 && offset + 4 < E1000_MMIO_SIZE && !(offset & 3))
		v |= (uint64_t)e1000_reg_read(s, (uint32_t)offset + 4) << 32;
	return v;
}

void e1000_bar_write(struct e1000 *s, unsigned int bar, uint64_t offset, uint64_t value,
		     unsigned int size)
{
	uint32_t off, v;

	if (bar == 1) {
		if (offset == 0 && size >= 4)
			s->ioaddr = (uint32_t)value;
		else if (offset == 4 && size >= 4 && s->ioaddr < E1000_MMIO_SIZE)
			e1000_reg_write(s, s->ioaddr & ~3u, (uint32_t)value);
		return;
	}
	if (bar != 0 || offset >= E1000_MMIO_SIZE)
		return;
	off = (uint32_t)offset & ~3u;
	v = (uint32_t)value;
	if (size < 4) {
		uint32_t shift = 8 * (offset & 3), mask = (size == 1 ? 0xffu : 0xffffu) << shift;

		v = (*reg(s, off) & ~mask) | ((v << shift) & mask);
	}
	e1000_reg_write(s, off, v);
	if (size == 8 && off + 4 < E1000_MMIO_SIZE && !(offset & 3))
		e1000_reg_write(s, off + 4, (uint32_t)(value >> 32));
}

/* The net client */

static void e1000_cleanup(struct net_client *nc)
{
	struct e1000 *s = (struct e1000 *)nc;

	pci_proxy_free(s->proxy);
	s->proxy = NULL;
	loop_timer_free(s->itr_timer);
	s->itr_timer = NULL;
	loop_bh_free(s->ring_bh);
	s->ring_bh = NULL;
	loop_timer_free(s->tx_delay.timer);
	s->tx_delay.timer = NULL;
	loop_timer_free(s->rx_delay.timer);
	s->rx_delay.timer = NULL;
}

static void e1000_counters(struct net_client *nc, net_counter_fn *add, void *opaque)
{
	struct e1000 *s = (struct e1000 *)nc;

	add(opaque, "broken", s->broken ? 1 : 0);
}

static const struct net_client_ops e1000_ops = {
	.type = "e1000",
	.size = sizeof(struct e1000),
	.receive_iov = e1000_receive_iov,
	.can_receive = e1000_can_receive,
	.cleanup = e1000_cleanup,
	.link_status_changed = e1000_link_status_changed,
	.counters = e1000_counters,
};

/* ITR allows the interrupt it held back. */
static void e1000_itr_expired(void *opaque)
{
	e1000_update_irq(opaque);
}

/* The ring work that register writes (or a transmit over budget) asked for. */
static void e1000_ring_work(void *opaque)
{
	struct e1000 *s = opaque;

	e1000_tx_run(s);
	if (e1000_can_receive(&s->nc))
		net_flush_queued(&s->nc);
}

struct e1000 *e1000_new(struct loop *loop, const char *id, const uint8_t mac[6],
			struct net_client *peer, struct guest_mem *mem, e1000_irq_fn *irq,
			void *irq_opaque, struct error *err)
{
	struct e1000 *s;

	s = (struct e1000 *)net_client_new(&e1000_ops, loop, peer, "e1000", id);
	if (!s) {
		error_set(err, -errno, "cannot create the device: %s", strerror(errno));
		return NULL;
	}
	s->loop = loop;
	s->mem = mem;
	s->irq = irq;
	s->irq_opaque = irq_opaque;
	memcpy(s->mac, mac, 6);
	s->itr_timer = loop_timer_new(loop, e1000_itr_expired, s);
	s->ring_bh = loop_bh_new(loop, e1000_ring_work, s);
	s->tx_delay.timer = loop_timer_new(loop, e1000_tx_delay_expired, s);
	s->tx_delay.cause = ICR_TXDW;
	s->rx_delay.timer = loop_timer_new(loop, e1000_rx_delay_expired, s);
	s->rx_delay.cause = ICR_RXT0;
	if (!s->itr_timer || !s->ring_bh || !s->tx_delay.timer || !s->rx_delay.timer) {
		net_client_free(&s->nc); /* e1000_cleanup() frees what was made */
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(s->nc.info_str, sizeof(s->nc.info_str), "model=e1000,macaddr=%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	e1000_reset(s);
	return s;
}

struct net_client *e1000_net_client(struct e1000 *s)
{
	return &s->nc;
}

/* The hypervisor side: pci-proxy.c calls these. */

static uint64_t e1000_proxy_read(void *opaque, unsigned int bar, uint64_t offset,
				 unsigned int size)
{
	return e1000_bar_read(opaque, bar, offset, size);
}

static void e1000_proxy_write(void *opaque, unsigned int bar, uint64_t offset, uint64_t value,
			      unsigned int size)
{
	e1000_bar_write(opaque, bar, offset, value, size);
}

static void e1000_proxy_reset(void *opaque)
{
	e1000_reset(opaque);
}

static void e1000_proxy_irq(void *opaque, bool level)
{
	struct e1000 *s = opaque;

	if (s->proxy)
		pci_proxy_set_irq(s->proxy, level);
}

static const struct pci_function_ops e1000_proxy_ops = {
	.bar_read = e1000_proxy_read,
	.bar_write = e1000_proxy_write,
	.reset = e1000_proxy_reset,
};

/**
 * e1000_parse_fd() - the number of fd=
 * @text:	the option's value
 * @fd:		out
 * @err:	the error
 *
 * Return: 0 or -EINVAL with @err set
 */
static int e1000_parse_fd(const char *text, int *fd, struct error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > 65535)
		return error_set(err, -EINVAL, "fd=%s: not a file descriptor number", text);
	*fd = (int)v;
	return 0;
}

int device_init_e1000(const struct device_e1000_opts *o, const char *id, struct loop *loop,
		      struct error *err)
{
	static unsigned int count;
	struct pci_proxy_cfg cfg = { 0 };
	struct net_client *peer = NULL;
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct e1000 *s;
	int fd = -1;

	if (!!o->socket == !!o->fd)
		return error_set(err, -EINVAL, "exactly one of 'socket' and 'fd' is needed: where "
				 "the hypervisor's x-pci-proxy-dev connects");
	if (o->fd && e1000_parse_fd(o->fd, &fd, err) < 0)
		return err->code;
	if (o->netdev) {
		peer = net_find(o->netdev);
		if (!peer)
			return error_set(err, -ENOENT, "netdev=%s: no such netdev", o->netdev);
		if (!peer->is_netdev)
			return error_set(err, -EINVAL, "netdev=%s: not a netdev", o->netdev);
		if (peer->peer)
			return error_set(err, -EBUSY, "netdev=%s: already in use", o->netdev);
	}
	if (o->mac) {
		if (mac_parse(o->mac, mac) < 0 || (mac[0] & 1))
			return error_set(err, -EINVAL, "mac=%s: expected a unicast xx:xx:xx:xx:xx:xx",
					 o->mac);
	} else {
		mac[5] = (uint8_t)(mac[5] + count++);
	}
	s = e1000_new(loop, id, mac, peer, NULL, e1000_proxy_irq, NULL, err);
	if (!s)
		return err->code;
	s->irq_opaque = s;
	cfg.name = s->nc.name;
	cfg.socket = o->socket;
	cfg.fd = fd;
	cfg.qtest = o->qtest;
	cfg.ioapic = o->ioapic;
	cfg.poll_ns = o->poll_us * 1000;
	cfg.desc = &e1000_pci_desc;
	cfg.ops = &e1000_proxy_ops;
	cfg.opaque = s;
	s->proxy = pci_proxy_new(loop, &cfg, err);
	if (!s->proxy) {
		int ret = err->code ? err->code : -EINVAL;

		net_client_free(&s->nc);
		return ret;
	}
	s->mem = pci_proxy_mem(s->proxy);
	return 0;
}
