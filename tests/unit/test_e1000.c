// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_e1000.c - the 82540EM model (pci/e1000.c) at the register level, without a hypervisor:
 * guest RAM is a memfd, the interrupt line a flag, the peer a client that keeps what it gets.
 * The EEPROM read as the Linux driver bit-bangs it and by EERD, the PHY id over MDIC, ICR's
 * read-to-clear and the mask, the I/O window, transmit of a legacy frame, of a TSO frame cut
 * here or handed whole with a vnet header, checksum insertion, the receive filters, receive
 * checksum offload (IPCS/TCPCS, IPE/TCPE, IXSM), the interrupt delay timers, 802.1Q tags, a full
 * ring holding frames until RDT moves, and hostile rings stopping only the device.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_net.h>

#include "pci/e1000.h"
#include "virtio/guest-mem.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

#define MEM_SIZE (1u << 20)
#define TX_RING 0x1000
#define RX_RING 0x2000
#define TX_BUF 0x10000
#define RX_BUF 0x40000
#define RING_LEN 8

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0xe1, 0x00, 0x01 };

/* The peer: keeps the frames it gets. */
struct sink {
	struct net_client nc;
	bool vnet;
	unsigned int got;
	unsigned int flags[16];
	size_t len[16];
	uint8_t frame[16][2048];
};

static ssize_t sink_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			    unsigned int flags)
{
	struct sink *k = (struct sink *)nc;
	size_t len = net_iov_size(iov, iovcnt);

	if (k->got < 16) {
		k->flags[k->got] = flags;
		k->len[k->got] = len;
		net_iov_to_buf(iov, iovcnt, 0, k->frame[k->got], sizeof(k->frame[0]));
	}
	k->got++;
	return (ssize_t)len;
}

static bool sink_accepts_vnet_hdr(struct net_client *nc)
{
	return ((struct sink *)nc)->vnet;
}

static const struct net_client_ops sink_ops = {
	.type = "sink",
	.size = sizeof(struct sink),
	.receive_iov = sink_receive,
	.accepts_vnet_hdr = sink_accepts_vnet_hdr,
};

struct fixture {
	struct loop *loop;
	struct guest_mem mem;
	uint8_t *ram;
	int memfd;
	struct sink *sink;
	struct e1000 *dev;
	bool level;
	unsigned int edges;
};

static void irq(void *opaque, bool level)
{
	struct fixture *f = opaque;

	f->level = level;
	f->edges += level;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	assert_non_null(f);
	f->loop = loop_new();
	f->memfd = memfd_create("test-e1000", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE), 0);
	assert_int_equal(guest_mem_add_region(&f->mem, f->memfd, 0, MEM_SIZE, 0, 0), 0);
	f->ram = f->mem.regions[0].host_addr;
	f->sink = (struct sink *)net_client_new(&sink_ops, f->loop, NULL, "sink", "peer0");
	assert_non_null(f->sink);
	f->sink->nc.is_netdev = true;
	f->dev = e1000_new(f->loop, "e0", own_mac, &f->sink->nc, &f->mem, irq, f, &err);
	assert_non_null(f->dev);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	net_client_free(e1000_net_client(f->dev));
	net_client_free(&f->sink->nc);
	guest_mem_clear(&f->mem);
	close(f->memfd);
	loop_free(f->loop);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint32_t off)
{
	return (uint32_t)e1000_bar_read(f->dev, 0, off, 4);
}

/* A register write, then the loop round in which the proxy would have answered it: the ring
 * work the write asked for runs in that round's bottom half. */
static void wr(struct fixture *f, uint32_t off, uint32_t v)
{
	e1000_bar_write(f->dev, 0, off, v, 4);
	loop_run_once(f->loop, 0);
}

/* One EEPROM word as Linux's e1000 reads a Microwire part: CS, opcode 110, 6 address bits
 * shifted out on DI with SK pulses, then 16 bits shifted in from DO, most significant first. */
static uint16_t eeprom_read_bitbang(struct fixture *f, unsigned int addr)
{
	uint32_t eecd = 0x40; /* REQ */
	uint32_t bits = 0x6u << 6 | addr, word = 0;

	wr(f, 0x10, eecd);
	assert_true(rd(f, 0x10) & 0x80); /* GNT */
	assert_true(rd(f, 0x10) & 0x100); /* PRES */
	eecd |= 0x2; /* CS */
	wr(f, 0x10, eecd);
	for (int i = 8; i >= 0; i--) {
		uint32_t di = (bits >> i) & 1 ? 0x4 : 0;

		wr(f, 0x10, eecd | di);
		wr(f, 0x10, eecd | di | 0x1);
		wr(f, 0x10, eecd | di);
	}
	for (int i = 0; i < 16; i++) {
		wr(f, 0x10, eecd | 0x1);
		word = word << 1 | !!(rd(f, 0x10) & 0x8);
		wr(f, 0x10, eecd);
	}
	wr(f, 0x10, 0x40); /* CS low */
	wr(f, 0x10, 0);
	return (uint16_t)word;
}

static void test_eeprom(void **state)
{
	struct fixture *f = *state;
	uint16_t words[64], sum = 0;

	for (unsigned int i = 0; i < 64; i++) {
		words[i] = eeprom_read_bitbang(f, i);
		sum = (uint16_t)(sum + words[i]);
	}
	assert_int_equal(sum, 0xbaba);
	assert_int_equal(words[0], 0x5452);
	assert_int_equal(words[1], 0xe100);
	assert_int_equal(words[2], 0x0100);
	/* EERD: start, address in bits 8-15; done in bit 4, data in the high half. */
	wr(f, 0x14, 1 | 1 << 8);
	assert_int_equal(rd(f, 0x14), 0xe1000000u | 1 << 8 | 0x10);
	wr(f, 0x14, 1 | 0x3f << 8);
	assert_int_equal(rd(f, 0x14) >> 16, words[63]);
}

static uint16_t mdic_read(struct fixture *f, unsigned int phy, unsigned int r)
{
	uint32_t v;

	wr(f, 0x20, 2u << 26 | phy << 21 | r << 16);
	v = rd(f, 0x20);
	assert_true(v & (1u << 28)); /* ready */
	if (v & (1u << 30))
		return 0xdead;
	return (uint16_t)v;
}

static void test_phy(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mdic_read(f, 1, 2), 0x0141);
	assert_int_equal(mdic_read(f, 1, 3), 0x0c20);
	assert_int_equal(mdic_read(f, 1, 1) & 0x24, 0x24); /* link up, autoneg complete */
	assert_int_equal(mdic_read(f, 2, 2), 0xdead);	    /* no PHY at address 2 */
	assert_true(rd(f, 0x8) & 0x2);			    /* STATUS.LU */

	/* The link follows the net client: LSC raised, STATUS and PHY follow. */
	wr(f, 0xd0, 0x4); /* IMS = LSC */
	net_set_link(e1000_net_client(f->dev), false);
	assert_true(f->level);
	assert_false(rd(f, 0x8) & 0x2);
	assert_int_equal(mdic_read(f, 1, 1) & 0x4, 0);
	assert_int_equal(rd(f, 0xc0), 0x80000004u);
	net_set_link(e1000_net_client(f->dev), true);
	assert_true(rd(f, 0x8) & 0x2);
}

static void test_interrupts(void **state)
{
	struct fixture *f = *state;

	wr(f, 0xc8, 0x4); /* ICS = LSC: pending but masked */
	assert_false(f->level);
	wr(f, 0xd0, 0x84); /* IMS = LSC | RXT0 */
	assert_true(f->level);
	assert_int_equal(rd(f, 0xd0), 0x84);
	assert_int_equal(rd(f, 0xc0), 0x80000004u); /* read clears */
	assert_false(f->level);
	assert_int_equal(rd(f, 0xc0), 0);
	wr(f, 0xc8, 0x80);
	assert_true(f->level);
	wr(f, 0xd8, 0x80); /* IMC */
	assert_false(f->level);
	assert_int_equal(rd(f, 0xc0), 0x80000080u);

	/* The I/O window: IOADDR then IODATA reach the same registers. */
	e1000_bar_write(f->dev, 1, 0, 0xd0, 4);
	assert_int_equal(e1000_bar_read(f->dev, 1, 4, 4), 0x04);
	/* CTRL.RST through the window, as the driver resets an 82540EM: nothing enabled after. */
	e1000_bar_write(f->dev, 1, 0, 0x0, 4);
	e1000_bar_write(f->dev, 1, 4, 0x04000000, 4);
	assert_int_equal(rd(f, 0xd0), 0);
}

/* Transmit ring at TX_RING, RING_LEN descriptors, enabled. */
static void tx_setup(struct fixture *f)
{
	wr(f, 0x3800, TX_RING);
	wr(f, 0x3804, 0);
	wr(f, 0x3808, RING_LEN * 16);
	wr(f, 0x3810, 0);
	wr(f, 0x3818, 0);
	wr(f, 0x400, 0x2); /* TCTL.EN */
	wr(f, 0xd0, 0x3);  /* IMS = TXDW | TXQE */
}

static void put_desc(struct fixture *f, uint64_t at, uint64_t addr, uint32_t lower, uint32_t upper)
{
	memcpy(f->ram + at, &addr, 8);
	memcpy(f->ram + at + 8, &lower, 4);
	memcpy(f->ram + at + 12, &upper, 4);
}

static void test_tx_legacy(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[60] = { 0x02, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0xe1, 0, 1, 0x88, 0xb5, 'h', 'i' };

	tx_setup(f);
	/* One frame in two buffers. */
	memcpy(f->ram + TX_BUF, frame, 20);
	memcpy(f->ram + TX_BUF + 0x100, frame + 20, 40);
	put_desc(f, TX_RING, TX_BUF, 20, 0);
	put_desc(f, TX_RING + 16, TX_BUF + 0x100, 40 | (0x01 | 0x08) << 24, 0); /* EOP | RS */
	wr(f, 0x3818, 2);
	assert_int_equal(f->sink->got, 1);
	assert_int_equal(f->sink->len[0], 60);
	assert_memory_equal(f->sink->frame[0], frame, 60);
	assert_int_equal(f->ram[TX_RING + 16 + 12] & 1, 1); /* DD */
	assert_int_equal(rd(f, 0x3810), 2);
	assert_true(f->level);
	assert_int_equal(rd(f, 0xc0) & 0x3, 0x3);
	assert_int_equal(rd(f, 0x40d4), 1); /* TPT, cleared on read */
	assert_int_equal(rd(f, 0x40d4), 0);
}

/* A TCP/IPv4 frame as Linux's e1000 hands it for TSO: IP length and checksum 0, the TCP
 * checksum field holding the pseudo-header sum without the length. */
static size_t make_tso_frame(uint8_t *p, size_t payload)
{
	static const uint8_t hdr[54] = {
		0x02, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0xe1, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
	};

	memcpy(p, hdr, sizeof(hdr));
	for (size_t i = 0; i < payload; i++)
		p[sizeof(hdr) + i] = (uint8_t)i;
	return sizeof(hdr) + payload;
}

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Whether a TCP/IPv4 frame's IP and TCP checksums are right. */
static bool tcp4_ok(const uint8_t *f, size_t len)
{
	size_t l4 = 34, tl = len - l4;
	uint32_t ps = (uint32_t)(f[26] << 8 | f[27]) + (uint32_t)(f[28] << 8 | f[29]) +
		      (uint32_t)(f[30] << 8 | f[31]) + (uint32_t)(f[32] << 8 | f[33]) + 6 +
		      (uint32_t)tl;

	return csum(f + 14, 20, 0) == 0 && csum(f + l4, tl, ps) == 0 &&
	       (size_t)(f[16] << 8 | f[17]) == len - 14;
}

/* Context (IP at 14, TCP at 34, TSO with 54 bytes of headers and an MSS of 1000), then the
 * frame in one data descriptor with TSE (and VLE with @vlan_tci, when not 0). */
static void queue_tso(struct fixture *f, size_t payload, uint16_t vlan_tci)
{
	size_t len = make_tso_frame(f->ram + TX_BUF, payload);
	uint64_t ctx = 14 | 24u << 8 | 33u << 16 | 34ull << 32 | 50ull << 40;

	put_desc(f, TX_RING, ctx, (uint32_t)payload | 0x20u << 24 | 0x04u << 24 | 0x03u << 24 | 0u << 20,
		 54u << 8 | 1000u << 16);
	put_desc(f, TX_RING + 16, TX_BUF,
		 (uint32_t)len | 1u << 20 | (0x20u | 0x04 | 0x01 | 0x08 | (vlan_tci ? 0x40 : 0)) << 24,
		 0x03u << 8 | (uint32_t)vlan_tci << 16);
	wr(f, 0x3818, 2);
}

static void test_tx_tso_software(void **state)
{
	struct fixture *f = *state;

	tx_setup(f);
	queue_tso(f, 2500, 0);
	assert_null(e1000_broken(f->dev));
	assert_int_equal(f->sink->got, 3);
	for (unsigned int i = 0; i < 3; i++) {
		size_t want = 54 + (i < 2 ? 1000 : 500);
		uint32_t seq;

		assert_int_equal(f->sink->len[i], want);
		assert_int_equal(f->sink->flags[i], 0);
		assert_true(tcp4_ok(f->sink->frame[i], want));
		seq = (uint32_t)f->sink->frame[i][38] << 24 | f->sink->frame[i][39] << 16 |
		      f->sink->frame[i][40] << 8 | f->sink->frame[i][41];
		assert_int_equal(seq, 0x1000 + 1000 * i);
		assert_int_equal(f->sink->frame[i][54], (uint8_t)(1000 * i));
	}
	assert_int_equal(f->ram[TX_RING + 16 + 12] & 1, 1);
}

static void test_tx_tso_vnet(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 h;

	f->sink->vnet = true;
	tx_setup(f);
	queue_tso(f, 2500, 0);
	assert_int_equal(f->sink->got, 1);
	assert_int_equal(f->sink->flags[0], NET_FLAG_VNET_HDR);
	assert_int_equal(f->sink->len[0], NET_VNET_HDR_LEN + 54 + 2500);
	memcpy(&h, f->sink->frame[0], sizeof(h));
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1000);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	/* The IP header was completed: length and a valid checksum. */
	{
		const uint8_t *ip = f->sink->frame[0] + NET_VNET_HDR_LEN + 14;

		assert_int_equal(ip[2] << 8 | ip[3], 20 + 20 + 2500);
		assert_int_equal(csum(ip, 20, 0), 0);
	}
}

/* Checksum insertion without TSO: TXSM over the TCP segment, IXSM for the IP header. */
static void test_tx_checksum(void **state)
{
	struct fixture *f = *state;
	size_t len = make_tso_frame(f->ram + TX_BUF, 100);
	uint8_t *fr = f->ram + TX_BUF;
	uint32_t ps = (10u << 8) * 2 + 1 + 2 + 6 + 120;

	/* IP length right; the TCP field holds the pseudo-header sum, as Linux leaves it. */
	fr[16] = 0;
	fr[17] = 140;
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	fr[50] = (uint8_t)(ps >> 8);
	fr[51] = (uint8_t)ps;
	tx_setup(f);
	put_desc(f, TX_RING, 14 | 24u << 8 | 33u << 16 | 34ull << 32 | 50ull << 40,
		 0x20u << 24 | 0x03u << 24, 0);
	put_desc(f, TX_RING + 16, TX_BUF, (uint32_t)len | 1u << 20 | (0x20u | 0x01) << 24,
		 0x03u << 8);
	wr(f, 0x3818, 2);
	assert_int_equal(f->sink->got, 1);
	assert_true(tcp4_ok(f->sink->frame[0], len));
}

/* Receive ring at RX_RING, RING_LEN descriptors with 2048-byte buffers; RDT = @tail. */
static void rx_setup(struct fixture *f, uint32_t rctl, uint32_t tail)
{
	for (unsigned int i = 0; i < RING_LEN; i++)
		put_desc(f, RX_RING + 16 * i, RX_BUF + 2048 * i, 0, 0);
	wr(f, 0x2800, RX_RING);
	wr(f, 0x2804, 0);
	wr(f, 0x2808, RING_LEN * 16);
	wr(f, 0x2810, 0);
	wr(f, 0x2818, tail);
	wr(f, 0xd0, 0x80); /* RXT0 */
	wr(f, 0x100, rctl | 0x2 | 1u << 26); /* EN, SECRC */
}

/* The peer sends a 100-byte frame to @dst; returns whether the device took it into the ring. */
static bool rx_one(struct fixture *f, const uint8_t *dst)
{
	uint8_t frame[100] = { 0 };
	uint32_t before = rd(f, 0x2810);

	memcpy(frame, dst, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x02", 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	frame[99] = 0x5a;
	net_send(&f->sink->nc, frame, sizeof(frame));
	return rd(f, 0x2810) != before;
}

static void test_rx_filters(void **state)
{
	struct fixture *f = *state;
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 9 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	unsigned int h = ((unsigned int)mcast[5] << 8 | mcast[4]) >> 4 & 0xfff;
	uint16_t len;

	rx_setup(f, 0, RING_LEN - 1);
	assert_true(rx_one(f, own_mac));
	assert_true(f->level);
	memcpy(&len, f->ram + RX_RING + 8, 2);
	assert_int_equal(len, 100);
	assert_int_equal(f->ram[RX_RING + 12] & 0x3, 0x3); /* DD | EOP */
	assert_int_equal(f->ram[RX_BUF + 99], 0x5a);
	assert_false(rx_one(f, other));
	assert_false(rx_one(f, bcast));
	assert_false(rx_one(f, mcast));
	wr(f, 0x100, rd(f, 0x100) | 1u << 15); /* BAM */
	assert_true(rx_one(f, bcast));
	wr(f, 0x5200 + (h >> 5) * 4, 1u << (h & 31)); /* the group's MTA bit */
	assert_true(rx_one(f, mcast));
	wr(f, 0x100, rd(f, 0x100) | 1u << 3); /* UPE */
	assert_true(rx_one(f, other));
	/* A second receive address. */
	wr(f, 0x100, rd(f, 0x100) & ~(1u << 3));
	wr(f, 0x5408, 0x00000002);
	wr(f, 0x540c, 0x0900 | 1u << 31);
	assert_true(rx_one(f, other));
}

/* A TCP/IPv4 frame from the peer with both checksums right: 54 bytes of headers, then
 * @payload bytes. */
static size_t make_rx_tcp4(uint8_t *p, size_t payload)
{
	size_t len = make_tso_frame(p, payload), tl = len - 34;
	uint32_t ps = (uint32_t)(p[26] << 8 | p[27]) + (uint32_t)(p[28] << 8 | p[29]) +
		      (uint32_t)(p[30] << 8 | p[31]) + (uint32_t)(p[32] << 8 | p[33]) + 6 +
		      (uint32_t)tl;
	uint16_t c;

	memcpy(p, own_mac, 6);
	p[16] = (uint8_t)((len - 14) >> 8);
	p[17] = (uint8_t)(len - 14);
	c = csum(p + 14, 20, 0);
	p[24] = (uint8_t)(c >> 8);
	p[25] = (uint8_t)c;
	p[50] = p[51] = 0;
	c = csum(p + 34, tl, ps);
	p[50] = (uint8_t)(c >> 8);
	p[51] = (uint8_t)c;
	assert_true(tcp4_ok(p, len));
	return len;
}

/* Send @len bytes of @frame in pieces of odd lengths; return the status and errors bytes of
 * the descriptor it landed in. */
static uint16_t rx_csum_status(struct fixture *f, const uint8_t *frame, size_t len)
{
	/* The second piece ends 17 bytes into the TCP header: the rest is summed from an odd place. */
	struct iovec iov[3] = { { (void *)frame, 15 }, { (void *)(frame + 15), 36 },
				{ (void *)(frame + 51), len - 51 } };
	uint32_t at = rd(f, 0x2810);

	net_send_iov(&f->sink->nc, iov, 3, 0, NULL);
	assert_int_equal(rd(f, 0x2810), (at + 1) % RING_LEN);
	return (uint16_t)(f->ram[RX_RING + 16 * at + 12] | f->ram[RX_RING + 16 * at + 13] << 8);
}

/* RXCSUM: IPv4 and TCP/UDP checksums checked by the device (IPCS, TCPCS), wrong ones
 * flagged (IPE, TCPE), nothing claimed for what it does not check, IXSM with offload off. */
static void test_rx_checksum(void **state)
{
	struct fixture *f = *state;
	static uint8_t frame[1514];
	size_t len = make_rx_tcp4(frame, 777);
	uint16_t st;

	rx_setup(f, 0, RING_LEN - 1);
	assert_int_equal(rd(f, 0x5000), 0x300); /* IPOFL | TUOFL after reset */
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0xff, 0x01 | 0x02 | 0x20 | 0x40); /* DD EOP TCPCS IPCS */
	assert_int_equal(st >> 8, 0);
	frame[60] ^= 0x10; /* payload: TCP checksum now wrong */
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0x60, 0x60);
	assert_int_equal(st >> 8, 0x20); /* TCPE */
	frame[60] ^= 0x10;
	frame[24] ^= 0x01; /* IP header checksum wrong */
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st >> 8, 0x40); /* IPE */
	frame[24] ^= 0x01;
	/* A fragment: the IP header is checked, TCP is not. */
	frame[20] |= 0x20; /* MF */
	frame[24] = frame[25] = 0;
	{
		uint16_t c = csum(frame + 14, 20, 0);

		frame[24] = (uint8_t)(c >> 8);
		frame[25] = (uint8_t)c;
	}
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0x60, 0x40);
	assert_int_equal(st >> 8, 0);
	/* UDP without a checksum (0): checked, nothing wrong. */
	len = make_rx_tcp4(frame, 100);
	frame[23] = 17;
	frame[24] = frame[25] = 0;
	{
		uint16_t c = csum(frame + 14, 20, 0);

		frame[24] = (uint8_t)(c >> 8);
		frame[25] = (uint8_t)c;
	}
	frame[40] = frame[41] = 0;
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0x60, 0x60);
	assert_int_equal(st >> 8, 0);
	/* Not IPv4 (ARP): no status claimed, so the driver checks it. */
	frame[13] = 0x06;
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0x64, 0);
	/* Offload off: IXSM, "ignore the checksum bits". */
	wr(f, 0x5000, 0);
	st = rx_csum_status(f, frame, len);
	assert_int_equal(st & 0x64, 0x04);
}

/* Run the loop until @ms milliseconds have passed (timers fire). */
static void run_for_ms(struct fixture *f, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		loop_run_once(f->loop, 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* The delay timers: TXDW of an IDE descriptor waits for TIDV, or for TADV when that is
 * shorter; one without IDE raises it at once; RXT0 waits for RDTR, and RDTR's FPD raises it at
 * once. (Each wait is checked right after the event and again well after it ends, so that a
 * slow machine cannot fail the test.) */
static void test_interrupt_delays(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[60] = { 0x02, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0xe1, 0, 1, 0x88, 0xb5 };

	tx_setup(f);
	wr(f, 0xd8, 0x2); /* IMC: TXQE (an empty ring) is never delayed: mask it */
	memcpy(f->ram + TX_BUF, frame, sizeof(frame));
	wr(f, 0x3820, 20000); /* TIDV: about 20 ms */
	put_desc(f, TX_RING, TX_BUF, 60 | (0x01 | 0x08 | 0x80u) << 24, 0); /* EOP RS IDE */
	wr(f, 0x3818, 1);
	assert_int_equal(f->sink->got, 1);
	assert_int_equal(f->ram[TX_RING + 12] & 1, 1); /* written back at once */
	assert_false(f->level);			       /* the interrupt waits */
	run_for_ms(f, 30);
	assert_true(f->level);
	assert_int_equal(rd(f, 0xc0) & 0x1, 0x1);
	/* TADV (about 10 ms) cuts a long TIDV (about 67 ms) short. */
	wr(f, 0x3820, 0xffff);
	wr(f, 0x382c, 10000);
	put_desc(f, TX_RING + 16, TX_BUF, 60 | (0x01 | 0x08 | 0x80u) << 24, 0);
	wr(f, 0x3818, 2);
	assert_false(f->level);
	run_for_ms(f, 25);
	assert_true(f->level);
	assert_int_equal(rd(f, 0xc0) & 0x1, 0x1);
	/* Without IDE: at once. */
	put_desc(f, TX_RING + 32, TX_BUF, 60 | (0x01 | 0x08) << 24, 0);
	wr(f, 0x3818, 3);
	assert_true(f->level);
	assert_int_equal(rd(f, 0xc0) & 0x1, 0x1);

	/* Receive: RDTR holds RXT0 back, FPD lets it go. */
	rx_setup(f, 0, RING_LEN - 1);
	wr(f, 0x2820, 20000);
	assert_true(rx_one(f, own_mac));
	assert_false(f->level);
	wr(f, 0x2820, 20000 | 1u << 31); /* FPD */
	assert_true(f->level);
	assert_int_equal(rd(f, 0xc0) & 0x80, 0x80);
	/* And without FPD it comes when RDTR runs out. */
	assert_true(rx_one(f, own_mac));
	assert_false(f->level);
	run_for_ms(f, 40);
	assert_true(f->level);
}

/* 802.1Q with CTRL.VME: VLE inserts the descriptor's tag (after the checksums and segments
 * were made, and moving a vnet header's offsets), receive strips a tag into the descriptor
 * (VP), and VFE drops tagged frames whose VLAN id has no VFTA bit. */
static void test_vlan(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[60] = { 0x02, 0, 0, 0, 0, 2, 0x52, 0x54, 0, 0xe1, 0, 1, 0x88, 0xb5, 'h', 'i' };
	static const uint8_t tag[4] = { 0x81, 0x00, 0x20, 0x05 }; /* priority 1, VLAN 5 */
	uint8_t tagged[100] = { 0 };
	struct virtio_net_hdr_v1 h;

	tx_setup(f);
	memcpy(f->ram + TX_BUF, frame, sizeof(frame));
	/* Without VME the tag is not inserted. */
	put_desc(f, TX_RING, TX_BUF, 60 | (0x01 | 0x08 | 0x40u) << 24, 0x2005u << 16);
	wr(f, 0x3818, 1);
	assert_int_equal(f->sink->len[0], 60);
	wr(f, 0x0, rd(f, 0x0) | 1u << 30); /* CTRL.VME */
	put_desc(f, TX_RING + 16, TX_BUF, 60 | (0x01 | 0x08 | 0x40u) << 24, 0x2005u << 16);
	wr(f, 0x3818, 2);
	assert_int_equal(f->sink->got, 2);
	assert_int_equal(f->sink->len[1], 64);
	assert_memory_equal(f->sink->frame[1], frame, 12);
	assert_memory_equal(f->sink->frame[1] + 12, tag, 4);
	assert_memory_equal(f->sink->frame[1] + 16, frame + 12, 48);
	/* TSO cut in vwire: every segment tagged, its checksums right under the tag. */
	f->sink->got = 0;
	wr(f, 0x3810, 0); /* the ring from its start again: head, then tail */
	wr(f, 0x3818, 0);
	queue_tso(f, 2500, 0x2005);
	assert_int_equal(f->sink->got, 3);
	for (unsigned int i = 0; i < 3; i++) {
		size_t want = 54 + (i < 2 ? 1000 : 500);
		uint8_t *g = f->sink->frame[i];

		assert_int_equal(f->sink->len[i], want + 4);
		assert_memory_equal(g + 12, tag, 4);
		memmove(g + 12, g + 16, want - 12);
		assert_true(tcp4_ok(g, want));
	}
	/* Handed whole with a vnet header: its offsets count the tag. */
	f->sink->got = 0;
	f->sink->vnet = true;
	wr(f, 0x3810, 0); /* the ring from its start again: head, then tail */
	wr(f, 0x3818, 0);
	queue_tso(f, 2500, 0x2005);
	assert_int_equal(f->sink->got, 1);
	memcpy(&h, f->sink->frame[0], sizeof(h));
	assert_int_equal(h.csum_start, 38);
	assert_int_equal(h.hdr_len, 58);
	assert_memory_equal(f->sink->frame[0] + NET_VNET_HDR_LEN + 12, tag, 4);

	/* Receive: the tag stripped into the descriptor. */
	rx_setup(f, 0, RING_LEN - 1);
	memcpy(tagged, own_mac, 6);
	memcpy(tagged + 6, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(tagged + 12, tag, 4);
	tagged[16] = 0x88;
	tagged[17] = 0xb5;
	tagged[99] = 0x5a;
	net_send(&f->sink->nc, tagged, sizeof(tagged));
	assert_int_equal(rd(f, 0x2810), 1);
	assert_int_equal(f->ram[RX_RING + 8] | f->ram[RX_RING + 9] << 8, 96);
	assert_int_equal(f->ram[RX_RING + 12] & 0x08, 0x08); /* VP */
	assert_int_equal(f->ram[RX_RING + 14] | f->ram[RX_RING + 15] << 8, 0x2005);
	assert_int_equal(f->ram[RX_BUF + 12], 0x88);
	assert_int_equal(f->ram[RX_BUF + 95], 0x5a);
	/* VFE: VLAN 5 not in VFTA, dropped; then let in. */
	wr(f, 0x100, rd(f, 0x100) | 1u << 18);
	net_send(&f->sink->nc, tagged, sizeof(tagged));
	assert_int_equal(rd(f, 0x2810), 1);
	wr(f, 0x5600, 1u << 5);
	net_send(&f->sink->nc, tagged, sizeof(tagged));
	assert_int_equal(rd(f, 0x2810), 2);
	/* Without VME the tag stays in the frame. */
	wr(f, 0x0, rd(f, 0x0) & ~(1u << 30));
	net_send(&f->sink->nc, tagged, sizeof(tagged));
	assert_int_equal(rd(f, 0x2810), 3);
	assert_int_equal(f->ram[RX_RING + 32 + 12] & 0x08, 0);
	assert_memory_equal(f->ram + RX_BUF + 2 * 2048 + 12, tag, 4);
}

static void test_rx_full_ring_holds(void **state)
{
	struct fixture *f = *state;
	struct net_client *nc = e1000_net_client(f->dev);
	uint8_t fr[64] = { 0 };

	rx_setup(f, 0, 1); /* one free descriptor */
	assert_true(rx_one(f, own_mac));
	assert_false(rx_one(f, own_mac));
	assert_int_equal(net_queue_length(nc), 1);
	/* Short frames are padded to 60 bytes; the FCS is added without SECRC. */
	wr(f, 0x100, rd(f, 0x100) & ~(1u << 26));
	memcpy(fr, own_mac, 6);
	net_send(&f->sink->nc, fr, 20);
	assert_int_equal(net_queue_length(nc), 2);
	wr(f, 0x2818, 4); /* RDT: three more buffers */
	assert_int_equal(net_queue_length(nc), 0);
	assert_int_equal(rd(f, 0x2810), 3);
	{
		uint16_t len;

		memcpy(&len, f->ram + RX_RING + 2 * 16 + 8, 2);
		assert_int_equal(len, 64);
	}
}

/* A ring beyond guest memory, or a tail beyond the ring, stops the device: nothing outside
 * memory is touched, nothing is sent; a reset brings it back. */
static void test_hostile_rings(void **state)
{
	struct fixture *f = *state;

	tx_setup(f);
	wr(f, 0x3800, MEM_SIZE - 32); /* 8 descriptors: 6 of them outside memory */
	put_desc(f, MEM_SIZE - 32, TX_BUF, 60 | 0x09u << 24, 0);
	put_desc(f, MEM_SIZE - 16, TX_BUF, 60 | 0x09u << 24, 0);
	wr(f, 0x3818, 4);
	assert_non_null(e1000_broken(f->dev));
	assert_int_equal(f->sink->got, 2);
	wr(f, 0x0, 1u << 26); /* CTRL.RST */
	assert_null(e1000_broken(f->dev));

	tx_setup(f);
	wr(f, 0x3818, RING_LEN + 3); /* tail beyond the ring */
	assert_non_null(e1000_broken(f->dev));
	wr(f, 0x0, 1u << 26);

	/* A buffer outside memory. */
	tx_setup(f);
	put_desc(f, TX_RING, 0xffffffff0000ull, 60 | 0x09u << 24, 0);
	wr(f, 0x3818, 1);
	assert_non_null(e1000_broken(f->dev));
	wr(f, 0x0, 1u << 26);

	/* Receive: a buffer outside memory; the frame is dropped, the device stops. */
	rx_setup(f, 0, RING_LEN - 1);
	put_desc(f, RX_RING, 0xfffffff00000ull, 0, 0);
	rx_one(f, own_mac);
	assert_non_null(e1000_broken(f->dev));
	assert_false(net_can_receive(e1000_net_client(f->dev)));
	wr(f, 0x0, 1u << 26);

	/* A TSO context that does not fit its frame: the frame is dropped, the device goes on. */
	tx_setup(f);
	make_tso_frame(f->ram + TX_BUF, 100);
	put_desc(f, TX_RING, 14 | 24u << 8 | 34ull << 32 | 50ull << 40, 100 | 0x27u << 24,
		 200u << 8 | 1000u << 16); /* 200 bytes of headers in a 154-byte frame */
	put_desc(f, TX_RING + 16, TX_BUF, 154 | 1u << 20 | 0x2du << 24, 0x03u << 8);
	f->sink->got = 0;
	wr(f, 0x3818, 2);
	assert_int_equal(f->sink->got, 0);
	assert_null(e1000_broken(f->dev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eeprom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tso_software, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tso_vnet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_delays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_full_ring_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_rings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
