// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_virtq.c - the virtqueue against a driver played by the test: split and packed rings in
 * memfd-backed guest memory (two regions, so buffers can straddle them), pop/push/flush, the
 * notification decisions, unpop, indirect tables, inflight resubmission, the dirty log, and
 * hostile rings that must break only their own queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "core/log.h"
#include "virtio/guest-mem.h"
#include "virtio/virtq.h"

/* Region A: the rings and most buffers; region B follows it in guest-physical space only. */
#define GPA_A 0x100000ULL
#define SIZE_A 0x400000ULL
#define UVA_A 0x7f0000100000ULL
#define GPA_B (GPA_A + SIZE_A)
#define SIZE_B 0x100000ULL
#define UVA_B 0x7f2000000000ULL

/* Where the test lays things out in region A. */
#define RING_Q0 (GPA_A + 0x00000)
#define RING_Q1 (GPA_A + 0x80000)
#define BUFS (GPA_A + 0x200000)
#define INDIRECT_TABLES (GPA_A + 0x180000)

#define PACKED_AVAIL (1U << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED (1U << VRING_PACKED_DESC_F_USED)

static struct guest_mem mem;
static int fd_a = -1, fd_b = -1;

static void *gp(uint64_t gpa)
{
	uint64_t len = 1;
	void *p = guest_mem_translate(&mem, gpa, &len);

	assert_non_null(p);
	return p;
}

static uint64_t uva_of(uint64_t gpa)
{
	if (gpa >= GPA_B)
		return UVA_B + (gpa - GPA_B);
	return UVA_A + (gpa - GPA_A);
}

static int setup(void **state)
{
	memset(&mem, 0, sizeof(mem));
	fd_a = memfd_create("test-virtq-a", 0);
	fd_b = memfd_create("test-virtq-b", 0);
	if (fd_a < 0 || fd_b < 0 || ftruncate(fd_a, SIZE_A) < 0 || ftruncate(fd_b, SIZE_B) < 0)
		return -1;
	if (guest_mem_add_region(&mem, fd_a, GPA_A, SIZE_A, UVA_A, 0) < 0 ||
	    guest_mem_add_region(&mem, fd_b, GPA_B, SIZE_B, UVA_B, 0) < 0)
		return -1;
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

static int teardown(void **state)
{
	guest_mem_clear(&mem);
	close(fd_a);
	close(fd_b);
	log_set_level(LOG_LEVEL_INFO);
	log_set_file(NULL);
	return 0;
}

/* ---- the split driver ---------------------------------------------------------------------- */

struct sdrv {
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
};

static void sdrv_init(struct sdrv *d, uint64_t base, uint16_t num)
{
	d->num = num;
	d->desc_gpa = base;
	d->avail_gpa = base + ((16ULL * num + 4095) & ~4095ULL);
	d->used_gpa = d->avail_gpa + ((6ULL + 2 * num + 4095) & ~4095ULL);
	d->desc = gp(d->desc_gpa);
	d->avail = gp(d->avail_gpa);
	d->used = gp(d->used_gpa);
	memset(d->desc, 0, 16ULL * num);
	memset(d->avail, 0, 6 + 2ULL * num);
	memset(d->used, 0, 6 + 8ULL * num);
	d->avail_idx = 0;
}

static void sdrv_desc(struct sdrv *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	d->desc[i].addr = addr;
	d->desc[i].len = len;
	d->desc[i].flags = flags;
	d->desc[i].next = next;
}

static void sdrv_publish(struct sdrv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t *sdrv_used_event(struct sdrv *d)
{
	return &d->avail->ring[d->num];
}

static uint16_t sdrv_avail_event(struct sdrv *d)
{
	uint16_t v;

	memcpy(&v, (uint8_t *)d->used + 4 + 8ULL * d->num, sizeof(v));
	return v;
}

static struct virtq_params sdrv_params(const struct sdrv *d, uint64_t features)
{
	struct virtq_params p = {
		.num = d->num,
		.desc_uva = uva_of(d->desc_gpa),
		.avail_uva = uva_of(d->avail_gpa),
		.used_uva = uva_of(d->used_gpa),
		.features = features,
	};
	return p;
}

static void split_start(struct virtq *vq, struct sdrv *d, uint64_t base, uint16_t num,
			uint64_t features)
{
	struct virtq_params p;
	struct error err = { 0 };

	sdrv_init(d, base, num);
	virtq_init(vq, &mem, base == RING_Q0 ? 0 : 1);
	p = sdrv_params(d, features);
	assert_int_equal(virtq_start(vq, &p, &err), 0);
}

/* ---- the packed driver --------------------------------------------------------------------- */

struct pdrv {
	uint16_t num;
	uint64_t desc_gpa, drv_gpa, dev_gpa;
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *drv_event, *dev_event;
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint16_t sgs[1024];
};

struct pbuf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

static void pdrv_init(struct pdrv *d, uint64_t base, uint16_t num)
{
	memset(d, 0, sizeof(*d));
	d->num = num;
	d->desc_gpa = base;
	d->drv_gpa = base + ((16ULL * num + 4095) & ~4095ULL);
	d->dev_gpa = d->drv_gpa + 64;
	d->desc = gp(d->desc_gpa);
	d->drv_event = gp(d->drv_gpa);
	d->dev_event = gp(d->dev_gpa);
	memset(d->desc, 0, 16ULL * num);
	memset(d->drv_event, 0, 4);
	memset(d->dev_event, 0, 4);
	d->avail_wrap = d->used_wrap = true;
}

static void pdrv_add(struct pdrv *d, uint16_t id, const struct pbuf *b, int n)
{
	uint16_t first = d->next_avail, first_flags = 0, f;
	int i;

	for (i = 0; i < n; i++) {
		struct vring_packed_desc *desc = &d->desc[d->next_avail];

		desc->addr = b[i].addr;
		desc->len = b[i].len;
		desc->id = id;
		f = b[i].flags | (d->avail_wrap ? PACKED_AVAIL : PACKED_USED);
		if (i < n - 1)
			f |= VRING_DESC_F_NEXT;
		if (i == 0)
			first_flags = f;
		else
			__atomic_store_n(&desc->flags, f, __ATOMIC_RELEASE);
		if (++d->next_avail == d->num) {
			d->next_avail = 0;
			d->avail_wrap = !d->avail_wrap;
		}
	}
	d->sgs[id] = (uint16_t)n;
	__atomic_store_n(&d->desc[first].flags, first_flags, __ATOMIC_RELEASE);
}

static int pdrv_get_used(struct pdrv *d, uint16_t *id, uint32_t *len, uint16_t *flags_out)
{
	uint16_t flags = __atomic_load_n(&d->desc[d->next_used].flags, __ATOMIC_ACQUIRE);
	bool used = flags & PACKED_USED, avail = flags & PACKED_AVAIL;

	if (used != d->used_wrap || avail != d->used_wrap)
		return 0;
	*id = d->desc[d->next_used].id;
	*len = d->desc[d->next_used].len;
	if (flags_out)
		*flags_out = flags;
	d->next_used += d->sgs[*id];
	if (d->next_used >= d->num) {
		d->next_used -= d->num;
		d->used_wrap = !d->used_wrap;
	}
	return 1;
}

/*
 * Whether the driver kicks after making @added descriptors available, decided as Linux's
 * virtqueue_kick_prepare_packed() does from the device event suppression area.
 */
static bool pdrv_kick_needed(const struct pdrv *d, uint16_t added)
{
	uint16_t new = d->next_avail, old = (uint16_t)(new - added), event;
	uint16_t flags = d->dev_event->flags, off_wrap = d->dev_event->off_wrap;

	if (flags != VRING_PACKED_EVENT_FLAG_DESC)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	event = off_wrap & ((1U << VRING_PACKED_EVENT_F_WRAP_CTR) - 1);
	if (!!(off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR) != d->avail_wrap)
		event = (uint16_t)(event - d->num);
	return vring_need_event(event, new, old);
}

static void packed_start(struct virtq *vq, struct pdrv *d, uint64_t base, uint16_t num,
			 uint64_t features)
{
	struct virtq_params p = { 0 };
	struct error err = { 0 };

	pdrv_init(d, base, num);
	virtq_init(vq, &mem, base == RING_Q0 ? 0 : 1);
	p.num = num;
	p.desc_uva = uva_of(d->desc_gpa);
	p.avail_uva = uva_of(d->drv_gpa);
	p.used_uva = uva_of(d->dev_gpa);
	p.base = VIRTQ_BASE_FRESH_PACKED;
	p.features = features | (1ULL << VIRTIO_F_RING_PACKED);
	assert_int_equal(virtq_start(vq, &p, &err), 0);
}

static bool call_fired(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v);
}

/* One full round trip on a healthy split queue: the neighbour of a broken one must still work. */
static void split_round_trip(struct virtq *vq, struct sdrv *d)
{
	struct virtq_elem elem;
	uint16_t idx = d->used->idx;

	sdrv_desc(d, 3, BUFS + 0x8000, 100, VRING_DESC_F_WRITE, 0);
	sdrv_publish(d, 3);
	assert_int_equal(virtq_pop(vq, &elem), 1);
	assert_int_equal(elem.id, 3);
	virtq_push(vq, &elem, 42);
	virtq_flush(vq);
	assert_int_equal(d->used->idx, (uint16_t)(idx + 1));
	assert_int_equal(d->used->ring[idx % d->num].id, 3);
	assert_int_equal(d->used->ring[idx % d->num].len, 42);
	assert_false(vq->broken);
}

/* ---- split: the ordinary path -------------------------------------------------------------- */

static void test_split_pop_push(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem elem;

	split_start(&vq, &d, RING_Q0, 8, 0);
	assert_true(virtq_empty(&vq));
	assert_int_equal(virtq_pop(&vq, &elem), 0);

	/* A tx-like chain: header, data (readable); then an rx-like chain in one descriptor. */
	sdrv_desc(&d, 5, BUFS, 12, VRING_DESC_F_NEXT, 2);
	sdrv_desc(&d, 2, BUFS + 0x1000, 1500, VRING_DESC_F_NEXT, 7);
	sdrv_desc(&d, 7, BUFS + 0x2000, 2048, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 5);
	sdrv_desc(&d, 1, BUFS + 0x3000, 4096, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 1);
	assert_false(virtq_empty(&vq));

	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.id, 5);
	assert_int_equal(elem.out_num, 2);
	assert_int_equal(elem.in_num, 1);
	assert_int_equal(elem.out_len, 1512);
	assert_int_equal(elem.in_len, 2048);
	assert_ptr_equal(elem.iov[0].iov_base, gp(BUFS));
	assert_int_equal(elem.iov[0].iov_len, 12);
	assert_ptr_equal(elem.iov[1].iov_base, gp(BUFS + 0x1000));
	assert_ptr_equal(virtq_elem_in_iov(&elem)[0].iov_base, gp(BUFS + 0x2000));
	assert_int_equal(elem.in_gpa[0], BUFS + 0x2000);
	virtq_push(&vq, &elem, 0);

	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.id, 1);
	assert_int_equal(elem.out_num, 0);
	assert_int_equal(elem.in_num, 1);
	virtq_push(&vq, &elem, 60);

	/* Nothing is visible until the flush, then both at once. */
	assert_int_equal(d.used->idx, 0);
	virtq_flush(&vq);
	assert_int_equal(d.used->idx, 2);
	assert_int_equal(d.used->ring[0].id, 5);
	assert_int_equal(d.used->ring[0].len, 0);
	assert_int_equal(d.used->ring[1].id, 1);
	assert_int_equal(d.used->ring[1].len, 60);
	assert_int_equal(virtq_pop(&vq, &elem), 0);
	assert_int_equal(virtq_get_base(&vq), 2);
	assert_false(vq.broken);
	virtq_stop(&vq);
}

static void test_split_mergeable_batch(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem elem[3];
	int i;

	split_start(&vq, &d, RING_Q0, 16, 0);
	for (i = 0; i < 3; i++) {
		sdrv_desc(&d, (uint16_t)i, BUFS + 0x1000ULL * i, 1536, VRING_DESC_F_WRITE, 0);
		sdrv_publish(&d, (uint16_t)i);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&vq, &elem[i]), 1);
	virtq_push(&vq, &elem[0], 1536);
	virtq_push(&vq, &elem[1], 1536);
	virtq_push(&vq, &elem[2], 100);
	assert_int_equal(d.used->idx, 0);
	virtq_flush(&vq);
	assert_int_equal(d.used->idx, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(d.used->ring[i].id, i);
	assert_int_equal(d.used->ring[2].len, 100);
	virtq_stop(&vq);
}

static void test_split_unpop(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem a, b;

	split_start(&vq, &d, RING_Q0, 8, 0);
	sdrv_desc(&d, 4, BUFS, 100, VRING_DESC_F_WRITE, 0);
	sdrv_desc(&d, 6, BUFS + 0x1000, 100, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 4);
	sdrv_publish(&d, 6);
	assert_int_equal(virtq_pop(&vq, &a), 1);
	assert_int_equal(virtq_pop(&vq, &b), 1);
	virtq_unpop(&vq, &b);
	virtq_unpop(&vq, &a);
	assert_int_equal(virtq_get_base(&vq), 0);
	assert_int_equal(virtq_pop(&vq, &a), 1);
	assert_int_equal(a.id, 4);
	assert_int_equal(virtq_pop(&vq, &b), 1);
	assert_int_equal(b.id, 6);
	virtq_stop(&vq);
}

/* Bursts: at most 64 chains at a time, in ring order, chains of several descriptors too. */
static void test_split_burst(void **state)
{
	static struct virtq_elem e[80];
	uint32_t lens[64];
	struct virtq vq;
	struct sdrv d;
	uint16_t i;

	split_start(&vq, &d, RING_Q0, 128, 0);
	assert_int_equal(virtq_pop_burst(&vq, e, 8), 0);
	for (i = 0; i < 70; i++) {
		sdrv_desc(&d, i, BUFS + 0x100ULL * i, 0x100, VRING_DESC_F_WRITE, 0);
		sdrv_publish(&d, i);
	}
	/* Chain 5 has a second buffer, past the 70 used as heads. */
	sdrv_desc(&d, 5, BUFS + 0x500, 0x100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 120);
	sdrv_desc(&d, 120, BUFS + 0x8000, 0x80, VRING_DESC_F_WRITE, 0);

	assert_int_equal(virtq_pop_burst(&vq, e, 80), 64);
	for (i = 0; i < 64; i++) {
		assert_int_equal(e[i].id, i);
		assert_int_equal(e[i].out_num, 0);
		assert_int_equal(e[i].in_num, i == 5 ? 2 : 1);
		assert_int_equal(e[i].in_len, i == 5 ? 0x180 : 0x100);
		assert_ptr_equal(e[i].iov[0].iov_base, gp(BUFS + 0x100ULL * i));
		lens[i] = i;
	}
	assert_ptr_equal(e[5].iov[1].iov_base, gp(BUFS + 0x8000));
	assert_int_equal(virtq_pop_burst(&vq, &e[64], 16), 6);
	assert_int_equal(e[69].id, 69);
	assert_int_equal(virtq_pop_burst(&vq, e, 16), 0);

	virtq_push_burst(&vq, e, 64, lens);
	virtq_push_burst(&vq, &e[64], 6, NULL);
	assert_int_equal(d.used->idx, 0);
	virtq_flush(&vq);
	assert_int_equal(d.used->idx, 70);
	for (i = 0; i < 70; i++) {
		assert_int_equal(d.used->ring[i].id, i);
		assert_int_equal(d.used->ring[i].len, i < 64 ? i : 0);
	}
	assert_int_equal(virtq_get_base(&vq), 70);
	assert_false(vq.broken);
	virtq_stop(&vq);
}

/* A head out of range in the middle of a burst: the chains before it are taken, then the queue
 * breaks; a burst pops nothing from a broken queue. */
static void test_split_burst_bad_head(void **state)
{
	struct virtq vq, good;
	struct sdrv d, dg;
	struct virtq_elem e[4];

	split_start(&vq, &d, RING_Q0, 8, 0);
	split_start(&good, &dg, RING_Q1, 8, 0);
	sdrv_desc(&d, 3, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_desc(&d, 4, BUFS + 0x1000, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 3);
	sdrv_publish(&d, 200);
	sdrv_publish(&d, 4);
	assert_int_equal(virtq_pop_burst(&vq, e, 4), 1);
	assert_int_equal(e[0].id, 3);
	assert_true(vq.broken);
	assert_non_null(strstr(vq.reason, "head 200 out of range"));
	assert_int_equal(virtq_pop_burst(&vq, e, 4), 0);
	virtq_push_burst(&vq, e, 1, NULL);
	virtq_flush(&vq);
	assert_int_equal(d.used->idx, 0);
	split_round_trip(&good, &dg);
	virtq_stop(&vq);
	virtq_stop(&good);
}

static void test_split_indirect_and_regions(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem elem;
	struct vring_desc *tbl = gp(INDIRECT_TABLES);

	split_start(&vq, &d, RING_Q0, 8, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	tbl[0] = (struct vring_desc){ BUFS, 10, VRING_DESC_F_NEXT, 2 };
	tbl[2] = (struct vring_desc){ BUFS + 0x1000, 20, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
				      1 };
	/* Straddles the border of regions A and B: two iovecs, two guest addresses. */
	tbl[1] = (struct vring_desc){ GPA_B - 100, 300, VRING_DESC_F_WRITE, 0 };
	sdrv_desc(&d, 0, INDIRECT_TABLES, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 0);

	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.id, 0);
	assert_int_equal(elem.out_num, 1);
	assert_int_equal(elem.in_num, 3);
	assert_int_equal(elem.in_len, 320);
	assert_int_equal(elem.iov[2].iov_len, 100);
	assert_ptr_equal(elem.iov[2].iov_base, gp(GPA_B - 100));
	assert_int_equal(elem.iov[3].iov_len, 200);
	assert_ptr_equal(elem.iov[3].iov_base, gp(GPA_B));
	assert_int_equal(elem.in_gpa[0], BUFS + 0x1000);
	assert_int_equal(elem.in_gpa[1], GPA_B - 100);
	assert_int_equal(elem.in_gpa[2], GPA_B);

	/* An indirect table that itself straddles the regions (read piecewise), one entry
	 * split 8/8 across the border. */
	{
		struct vring_desc t[3] = {
			{ BUFS, 1, VRING_DESC_F_NEXT, 1 },
			{ BUFS + 1, 2, VRING_DESC_F_NEXT, 2 },
			{ BUFS + 3, 3, 0, 0 },
		};

		memcpy(gp(GPA_B - 24), t, 24);
		memcpy(gp(GPA_B), (uint8_t *)t + 24, 24);
	}
	sdrv_desc(&d, 1, GPA_B - 24, 48, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(&d, 1);
	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.out_num, 3);
	assert_int_equal(elem.out_len, 6);
	assert_ptr_equal(elem.iov[2].iov_base, gp(BUFS + 3));
	virtq_stop(&vq);
}

static void test_split_zero_length_and_wrap(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem elem;
	unsigned int i;

	/* The free-running indices wrap at 65536 more than once. */
	split_start(&vq, &d, RING_Q0, 4, 0);
	for (i = 0; i < 140000; i++) {
		uint16_t head = i % 4;

		sdrv_desc(&d, head, BUFS, i % 3 ? 64 : 0, VRING_DESC_F_WRITE, 0);
		sdrv_publish(&d, head);
		assert_int_equal(virtq_pop(&vq, &elem), 1);
		assert_int_equal(elem.id, head);
		assert_int_equal(elem.in_num, i % 3 ? 1 : 0);
		virtq_push(&vq, &elem, 1);
		virtq_flush(&vq);
		assert_int_equal(d.used->idx, (uint16_t)(i + 1));
	}
	assert_false(vq.broken);
	virtq_stop(&vq);
}

/* ---- split: notifications ------------------------------------------------------------------ */

static void push_one(struct virtq *vq, struct sdrv *d, uint16_t head)
{
	struct virtq_elem elem;

	sdrv_desc(d, head, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(d, head);
	assert_int_equal(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 64);
	virtq_flush(vq);
}

static void test_split_notify_flags(void **state)
{
	struct virtq vq;
	struct sdrv d;
	int call = eventfd(0, EFD_NONBLOCK);

	split_start(&vq, &d, RING_Q0, 8, 0);
	virtq_set_call_fd(&vq, call);

	push_one(&vq, &d, 0);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* Nothing new since: no second signal. */
	assert_false(virtq_notify(&vq));
	assert_false(call_fired(call));

	d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	push_one(&vq, &d, 1);
	assert_false(virtq_notify(&vq));
	assert_false(call_fired(call));

	d.avail->flags = 0;
	push_one(&vq, &d, 2);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* The device side: NO_NOTIFY while polling, cleared with a re-check. */
	virtq_disable_notify(&vq);
	assert_int_equal(d.used->flags, VRING_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(d.used->flags, 0);
	virtq_disable_notify(&vq);
	sdrv_desc(&d, 3, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 3);
	assert_true(virtq_enable_notify(&vq));

	virtq_stop(&vq);
	close(call);
}

static void test_split_notify_event_idx(void **state)
{
	struct virtq vq;
	struct sdrv d;
	int call = eventfd(0, EFD_NONBLOCK);

	split_start(&vq, &d, RING_Q0, 8, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtq_set_call_fd(&vq, call);
	/* avail_event was written at start: kick me when you publish index 0. */
	assert_int_equal(sdrv_avail_event(&d), 0);

	/* The first notification after start is always sent. */
	push_one(&vq, &d, 0);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* Driver wants to hear when used index passes 3 (used_event = 3). */
	*sdrv_used_event(&d) = 3;
	push_one(&vq, &d, 1); /* used idx 2 */
	assert_false(virtq_notify(&vq));
	push_one(&vq, &d, 2); /* used idx 3 */
	assert_false(virtq_notify(&vq));
	push_one(&vq, &d, 3); /* used idx 4: entry 3 is now used */
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* Event in the past: silence; flags are ignored with EVENT_IDX. */
	d.avail->flags = 0;
	push_one(&vq, &d, 4);
	assert_false(virtq_notify(&vq));

	/* Several pushes in one flush that jump over the event still notify once. */
	*sdrv_used_event(&d) = 5;
	{
		struct virtq_elem e[3];
		int i;

		for (i = 0; i < 3; i++) {
			sdrv_desc(&d, (uint16_t)i, BUFS, 64, VRING_DESC_F_WRITE, 0);
			sdrv_publish(&d, (uint16_t)i);
			assert_int_equal(virtq_pop(&vq, &e[i]), 1);
		}
		for (i = 0; i < 3; i++)
			virtq_push(&vq, &e[i], 1);
		virtq_flush(&vq);
	}
	assert_true(virtq_notify(&vq));

	/* Enabling writes avail_event = what we have seen; disabling leaves it behind. */
	virtq_disable_notify(&vq);
	sdrv_desc(&d, 6, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 6);
	assert_int_equal(sdrv_avail_event(&d), 0);
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(sdrv_avail_event(&d), 8);
	assert_int_equal(d.used->flags, 0);

	virtq_stop(&vq);
	close(call);
}

/*
 * An interrupt lost to a stale read: the driver asked (used_event) after vwire looked, so
 * virtq_notify() said no; virtq_notify_missed() looks again and signals, once; with nothing
 * new since the last real notification, or a driver that asks for nothing, it stays quiet.
 */
static void test_split_notify_missed(void **state)
{
	struct virtq vq;
	struct sdrv d;
	int call = eventfd(0, EFD_NONBLOCK);

	split_start(&vq, &d, RING_Q0, 8, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtq_set_call_fd(&vq, call);
	push_one(&vq, &d, 0);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));
	assert_false(virtq_notify_missed(&vq)); /* nothing published since */

	/* The driver's request for "after index 5" is what vwire reads: no interrupt. */
	*sdrv_used_event(&d) = 5;
	push_one(&vq, &d, 1); /* used idx 2 */
	assert_false(virtq_notify(&vq));
	push_one(&vq, &d, 2); /* used idx 3 */
	assert_false(virtq_notify(&vq));
	assert_false(virtq_notify_missed(&vq)); /* still asks for after 5 */
	assert_false(call_fired(call));

	/* Its real request (after index 1) arrives late: the second look signals, once. */
	*sdrv_used_event(&d) = 1;
	assert_true(virtq_notify_missed(&vq));
	assert_true(call_fired(call));
	assert_false(virtq_notify_missed(&vq));
	assert_false(call_fired(call));

	/* Without EVENT_IDX, the flags decide: NO_INTERRUPT keeps it quiet. */
	virtq_stop(&vq);
	split_start(&vq, &d, RING_Q0, 8, 0);
	virtq_set_call_fd(&vq, call);
	d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	push_one(&vq, &d, 0);
	assert_false(virtq_notify(&vq));
	assert_false(virtq_notify_missed(&vq));
	d.avail->flags = 0;
	assert_true(virtq_notify_missed(&vq));
	assert_true(call_fired(call));
	virtq_stop(&vq);
	close(call);
}

/* ---- split: hostile rings ------------------------------------------------------------------ */

struct hostile_case {
	const char *name;
	void (*arm)(struct sdrv *d);
	uint64_t features;
	const char *reason;
};

static void arm_outside(struct sdrv *d)
{
	sdrv_desc(d, 0, GPA_B + SIZE_B - 10, 100, VRING_DESC_F_WRITE, 0);
	sdrv_publish(d, 0);
}

static void arm_wrapping_addr(struct sdrv *d)
{
	sdrv_desc(d, 0, UINT64_MAX - 10, 100, 0, 0);
	sdrv_publish(d, 0);
}

static void arm_self_loop(struct sdrv *d)
{
	sdrv_desc(d, 0, BUFS, 10, VRING_DESC_F_NEXT, 0);
	sdrv_publish(d, 0);
}

static void arm_long_loop(struct sdrv *d)
{
	sdrv_desc(d, 0, BUFS, 10, VRING_DESC_F_NEXT, 1);
	sdrv_desc(d, 1, BUFS, 10, VRING_DESC_F_NEXT, 2);
	sdrv_desc(d, 2, BUFS, 10, VRING_DESC_F_NEXT, 0);
	sdrv_publish(d, 0);
}

static void arm_next_out_of_range(struct sdrv *d)
{
	sdrv_desc(d, 0, BUFS, 10, VRING_DESC_F_NEXT, 8);
	sdrv_publish(d, 0);
}

static void arm_head_out_of_range(struct sdrv *d)
{
	sdrv_publish(d, 8);
}

static void arm_avail_too_far(struct sdrv *d)
{
	d->avail->idx = 9;
}

static void arm_avail_wrapped(struct sdrv *d)
{
	d->avail->idx = 0xffff;
}

static void arm_read_after_write(struct sdrv *d)
{
	sdrv_desc(d, 0, BUFS, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	sdrv_desc(d, 1, BUFS, 10, 0, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_len(struct sdrv *d)
{
	sdrv_desc(d, 0, INDIRECT_TABLES, 24, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_zero(struct sdrv *d)
{
	sdrv_desc(d, 0, INDIRECT_TABLES, 0, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_outside(struct sdrv *d)
{
	sdrv_desc(d, 0, GPA_B + SIZE_B - 16, 32, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_nested(struct sdrv *d)
{
	struct vring_desc *tbl = gp(INDIRECT_TABLES);

	tbl[0] = (struct vring_desc){ BUFS, 10, VRING_DESC_F_NEXT, 1 };
	tbl[1] = (struct vring_desc){ INDIRECT_TABLES, 32, VRING_DESC_F_INDIRECT, 0 };
	sdrv_desc(d, 0, INDIRECT_TABLES, 32, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_with_next(struct sdrv *d)
{
	struct vring_desc *tbl = gp(INDIRECT_TABLES);

	tbl[0] = (struct vring_desc){ BUFS, 10, 0, 0 };
	sdrv_desc(d, 0, INDIRECT_TABLES, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	sdrv_desc(d, 1, BUFS, 10, 0, 0);
	sdrv_publish(d, 0);
}

static void arm_indirect_loop(struct sdrv *d)
{
	struct vring_desc *tbl = gp(INDIRECT_TABLES);

	tbl[0] = (struct vring_desc){ BUFS, 10, VRING_DESC_F_NEXT, 1 };
	tbl[1] = (struct vring_desc){ BUFS, 10, VRING_DESC_F_NEXT, 0 };
	sdrv_desc(d, 0, INDIRECT_TABLES, 32, VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static void arm_too_many_iov(struct sdrv *d)
{
	struct vring_desc *tbl = gp(INDIRECT_TABLES);
	int i;

	for (i = 0; i <= VIRTQ_MAX_IOV; i++)
		tbl[i] = (struct vring_desc){ BUFS + 64ULL * i, 64, VRING_DESC_F_NEXT,
					      (uint16_t)(i + 1) };
	tbl[VIRTQ_MAX_IOV].flags = 0;
	sdrv_desc(d, 0, INDIRECT_TABLES, 16 * (VIRTQ_MAX_IOV + 1), VRING_DESC_F_INDIRECT, 0);
	sdrv_publish(d, 0);
}

static const struct hostile_case hostile_cases[] = {
	{ "outside", arm_outside, 0, "outside guest memory" },
	{ "wrapping address", arm_wrapping_addr, 0, "wraps" },
	{ "self loop", arm_self_loop, 0, "longer than its queue" },
	{ "loop", arm_long_loop, 0, "longer than its queue" },
	{ "next out of range", arm_next_out_of_range, 0, "out of range" },
	{ "head out of range", arm_head_out_of_range, 0, "head 8 out of range" },
	{ "avail too far", arm_avail_too_far, 0, "more than 8 ahead" },
	{ "avail wrapped", arm_avail_wrapped, 0, "more than 8 ahead" },
	{ "readable after writable", arm_read_after_write, 0, "after a writable" },
	{ "indirect without feature", arm_indirect_len, 0, "INDIRECT_DESC" },
	{ "indirect bad length", arm_indirect_len, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "not a nonzero multiple" },
	{ "indirect zero length", arm_indirect_zero, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "not a nonzero multiple" },
	{ "indirect outside", arm_indirect_outside, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "outside guest memory" },
	{ "nested indirect", arm_indirect_nested, 1ULL << VIRTIO_RING_F_INDIRECT_DESC, "nested" },
	{ "indirect with next", arm_indirect_with_next, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "with NEXT" },
	{ "indirect loop", arm_indirect_loop, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "longer than its indirect table" },
	{ "too many iovecs", arm_too_many_iov, 1ULL << VIRTIO_RING_F_INDIRECT_DESC,
	  "more than 64 iovecs" },
};

static void test_split_hostile(void **state)
{
	const struct hostile_case *c;
	struct virtq bad, good;
	struct sdrv db, dg;
	struct virtq_elem elem;
	size_t i;

	for (i = 0; i < sizeof(hostile_cases) / sizeof(hostile_cases[0]); i++) {
		c = &hostile_cases[i];
		split_start(&bad, &db, RING_Q0, 8, c->features);
		split_start(&good, &dg, RING_Q1, 8, 0);
		c->arm(&db);
		if (virtq_pop(&bad, &elem) != -EIO)
			fail_msg("case '%s': pop did not fail", c->name);
		if (!bad.broken || !strstr(bad.reason, c->reason))
			fail_msg("case '%s': reason '%s'", c->name, bad.reason);
		/* Stays broken, pushes nothing, reports empty. */
		assert_int_equal(virtq_pop(&bad, &elem), -EIO);
		assert_true(virtq_empty(&bad));
		virtq_push(&bad, &elem, 1);
		virtq_flush(&bad);
		assert_int_equal(db.used->idx, 0);
		split_round_trip(&good, &dg);
		virtq_stop(&bad);
		virtq_stop(&good);
	}
}

static void test_split_bad_ring_memory(void **state)
{
	struct virtq vq, good;
	struct sdrv d, dg;
	struct virtq_params p;
	struct virtq_elem elem;
	struct error err = { 0 };

	split_start(&good, &dg, RING_Q1, 8, 0);

	/* A used ring in no region at all (zero bytes of guest memory behind it). */
	sdrv_init(&d, RING_Q0, 8);
	virtq_init(&vq, &mem, 0);
	p = sdrv_params(&d, 0);
	p.used_uva = 0x1000;
	assert_int_equal(virtq_start(&vq, &p, &err), -EFAULT);
	assert_true(vq.broken);
	assert_non_null(strstr(err.msg, "used ring"));
	assert_int_equal(virtq_pop(&vq, &elem), -EIO);

	/* A descriptor table that runs past the end of its region. */
	p = sdrv_params(&d, 0);
	p.desc_uva = UVA_B + SIZE_B - 64;
	assert_int_equal(virtq_start(&vq, &p, &err), -EFAULT);
	assert_true(vq.broken);

	/* Misaligned avail ring. */
	p = sdrv_params(&d, 0);
	p.avail_uva += 1;
	assert_int_equal(virtq_start(&vq, &p, &err), -EFAULT);
	assert_non_null(strstr(vq.reason, "aligned"));

	/* Sizes: zero, not a power of two, too big. */
	p = sdrv_params(&d, 0);
	p.num = 0;
	assert_int_equal(virtq_start(&vq, &p, &err), -EINVAL);
	p.num = 12;
	assert_int_equal(virtq_start(&vq, &p, &err), -EINVAL);
	p.num = 65536;
	assert_int_equal(virtq_start(&vq, &p, &err), -EINVAL);

	/* A good start clears the broken state. */
	p = sdrv_params(&d, 0);
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_false(vq.broken);
	split_round_trip(&vq, &d);
	split_round_trip(&good, &dg);
	virtq_stop(&vq);
	virtq_stop(&good);
}

/*
 * A front end whose back end died sends a base that cannot be right (DPDK's virtio-user sends
 * 0): the queue resumes at the ring's used index when that one agrees with the avail index,
 * and breaks at the first pop when neither does.
 */
static void test_split_base_resync(void **state)
{
	struct virtq_params p;
	struct error err = { 0 };
	struct virtq_elem elem;
	struct virtq vq;
	struct sdrv d;

	sdrv_init(&d, RING_Q0, 8);
	d.used->idx = 1000;
	d.avail_idx = 1000;
	sdrv_desc(&d, 4, BUFS, 64, 0, 0);
	sdrv_publish(&d, 4);
	sdrv_desc(&d, 6, BUFS + 0x1000, 64, 0, 0);
	sdrv_publish(&d, 6);
	virtq_init(&vq, &mem, 0);
	p = sdrv_params(&d, 0);
	p.base = 0;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_int_equal(virtq_get_base(&vq), 1000);
	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.id, 4);
	virtq_push(&vq, &elem, 0);
	assert_int_equal(virtq_pop(&vq, &elem), 1);
	assert_int_equal(elem.id, 6);
	virtq_push(&vq, &elem, 0);
	virtq_flush(&vq);
	assert_int_equal(d.used->idx, 1002);
	assert_false(vq.broken);
	virtq_stop(&vq);

	/* A base that agrees with the avail index is kept, whatever the used index says. */
	p.base = 1001;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_int_equal(virtq_get_base(&vq), 1001);
	virtq_stop(&vq);

	/* Neither the base nor the used index within a queue of the avail index: broken. */
	d.used->idx = 900;
	p.base = 0;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_int_equal(virtq_pop(&vq, &elem), -EIO);
	assert_true(vq.broken);
	virtq_stop(&vq);
}

static void test_split_break_is_logged(void **state)
{
	struct virtq vq;
	struct sdrv d;
	struct virtq_elem elem;
	char buf[512] = "";
	FILE *f = tmpfile();

	assert_non_null(f);
	log_set_file(f);
	log_set_level(LOG_LEVEL_WARN);
	split_start(&vq, &d, RING_Q0, 8, 0);
	arm_self_loop(&d);
	assert_int_equal(virtq_pop(&vq, &elem), -EIO);
	log_set_file(NULL);
	rewind(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	assert_non_null(strstr(buf, "virtqueue 0 broken"));
	fclose(f);
}

/* ---- split: inflight resubmission ---------------------------------------------------------- */

static void test_split_inflight_resubmit(void **state)
{
	size_t size = inflight_region_size(8, false);
	struct inflight_split_region *r = calloc(1, size);
	struct virtq vq, vq2;
	struct virtq_params p;
	struct virtq_elem e[4];
	struct error err = { 0 };
	struct sdrv d;
	int i;

	assert_non_null(r);
	assert_true(size >= sizeof(*r) + 8 * sizeof(r->desc[0]));
	assert_int_equal(size % INFLIGHT_ALIGN, 0);

	sdrv_init(&d, RING_Q0, 8);
	virtq_init(&vq, &mem, 0);
	p = sdrv_params(&d, 0);
	p.inflight = r;
	p.inflight_size = size;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_int_equal(r->version, INFLIGHT_VERSION);
	assert_int_equal(r->desc_num, 8);

	for (i = 0; i < 3; i++) {
		sdrv_desc(&d, (uint16_t)(4 + i), BUFS + 0x1000ULL * i, 64, VRING_DESC_F_WRITE, 0);
		sdrv_publish(&d, (uint16_t)(4 + i));
		assert_int_equal(virtq_pop_burst(&vq, &e[i], 1), 1);
		assert_int_equal(r->desc[4 + i].inflight, 1);
	}
	assert_true(r->desc[4].counter < r->desc[5].counter);
	assert_true(r->desc[5].counter < r->desc[6].counter);

	/* The middle one completes; the back end then dies with 4 and 6 in flight. */
	virtq_push(&vq, &e[1], 64);
	assert_int_equal(r->last_batch_head, 5);
	virtq_flush(&vq);
	assert_int_equal(r->desc[5].inflight, 0);
	assert_int_equal(r->used_idx, 1);
	sdrv_desc(&d, 1, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 1);

	/* The new back end: QEMU restores the base to used->idx (1). */
	virtq_init(&vq2, &mem, 0);
	p.base = 1;
	assert_int_equal(virtq_start(&vq2, &p, &err), 0);
	assert_int_equal(virtq_pop(&vq2, &e[0]), 1);
	assert_int_equal(e[0].id, 4);
	assert_true(e[0].flags & VIRTQ_ELEM_F_RESUBMITTED);
	/* A resubmitted element can be given back too. */
	virtq_unpop(&vq2, &e[0]);
	assert_int_equal(virtq_pop(&vq2, &e[0]), 1);
	assert_int_equal(e[0].id, 4);
	/* A burst takes the last resubmitted chain, then the ring's. */
	assert_int_equal(virtq_pop_burst(&vq2, &e[1], 3), 2);
	assert_int_equal(e[1].id, 6);
	assert_true(e[1].flags & VIRTQ_ELEM_F_RESUBMITTED);
	assert_int_equal(e[2].id, 1);
	assert_false(e[2].flags & VIRTQ_ELEM_F_RESUBMITTED);
	assert_int_equal(virtq_pop(&vq2, &e[3]), 0);
	assert_int_equal(virtq_get_base(&vq2), 4);
	virtq_push_burst(&vq2, e, 3, (const uint32_t[]){ 64, 64, 64 });
	virtq_flush(&vq2);
	assert_int_equal(d.used->idx, 4);
	for (i = 0; i < 8; i++)
		assert_int_equal(r->desc[i].inflight, 0);
	assert_int_equal(r->used_idx, 4);
	virtq_stop(&vq2);
	free(r);
}

static void test_split_inflight_half_published_batch(void **state)
{
	size_t size = inflight_region_size(8, false);
	struct inflight_split_region *r = calloc(1, size);
	struct virtq vq;
	struct virtq_params p;
	struct virtq_elem e;
	struct error err = { 0 };
	struct sdrv d;

	assert_non_null(r);
	sdrv_init(&d, RING_Q0, 8);
	/* The dead back end popped 6, 2, 0, 5 (counters 8 to 11), used 2 and 0 in one batch,
	 * stored used->idx = 2 and died before clearing that batch's inflight bits. */
	r->version = INFLIGHT_VERSION;
	r->desc_num = 8;
	r->used_idx = 0;
	r->desc[6] = (struct inflight_split_desc){ .inflight = 1, .counter = 8 };
	r->desc[2] = (struct inflight_split_desc){ .inflight = 1, .next = 0, .counter = 9 };
	r->desc[0] = (struct inflight_split_desc){ .inflight = 1, .next = 2, .counter = 10 };
	r->desc[5] = (struct inflight_split_desc){ .inflight = 1, .counter = 11 };
	r->last_batch_head = 0;
	d.used->idx = 2;
	sdrv_desc(&d, 6, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_desc(&d, 5, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_desc(&d, 3, BUFS, 64, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 6);
	sdrv_publish(&d, 2);
	sdrv_publish(&d, 0);
	sdrv_publish(&d, 5);
	sdrv_publish(&d, 3);

	virtq_init(&vq, &mem, 0);
	p = sdrv_params(&d, 0);
	p.base = 2;
	p.inflight = r;
	p.inflight_size = size;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_int_equal(r->used_idx, 2);
	assert_int_equal(r->desc[0].inflight, 0);
	assert_int_equal(r->desc[2].inflight, 0);
	/* Pop order, not index order; then the avail ring after the four old entries. */
	assert_int_equal(virtq_pop(&vq, &e), 1);
	assert_int_equal(e.id, 6);
	assert_int_equal(virtq_pop(&vq, &e), 1);
	assert_int_equal(e.id, 5);
	assert_int_equal(virtq_pop(&vq, &e), 1);
	assert_int_equal(e.id, 3);
	assert_int_equal(virtq_pop(&vq, &e), 0);
	virtq_stop(&vq);

	/* A region for another queue size is refused. */
	r->desc_num = 16;
	assert_int_equal(virtq_start(&vq, &p, &err), -EINVAL);
	free(r);
}

/* ---- dirty log ----------------------------------------------------------------------------- */

static bool log_bit(uint64_t gpa)
{
	uint64_t page = gpa / GUEST_MEM_LOG_PAGE;

	return mem.log[page / 8] & (1U << (page % 8));
}

static void test_dirty_log(void **state)
{
	int fd = memfd_create("test-virtq-log", 0);
	uint64_t log_size = (GPA_B + SIZE_B) / GUEST_MEM_LOG_PAGE / 8;
	struct virtq vq, pq;
	struct sdrv d;
	struct pdrv pd;
	struct virtq_elem elem;
	struct pbuf b = { GPA_B - 0x1800, 0x3000, VRING_DESC_F_WRITE };

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(guest_mem_set_log(&mem, fd, log_size, 0), 0);
	close(fd);

	split_start(&vq, &d, RING_Q0, 8, 0);
	memset(mem.log, 0, log_size);
	sdrv_desc(&d, 0, BUFS + 0x10000, 0x2000, VRING_DESC_F_WRITE, 0);
	sdrv_publish(&d, 0);
	assert_int_equal(virtq_pop(&vq, &elem), 1);
	virtq_log_in_iov(&vq, &elem, 0x1001);
	assert_true(log_bit(BUFS + 0x10000));
	assert_true(log_bit(BUFS + 0x11000));
	assert_false(log_bit(BUFS + 0x12000));
	assert_false(log_bit(d.used_gpa));
	virtq_push(&vq, &elem, 0x1001);
	virtq_flush(&vq);
	assert_true(log_bit(d.used_gpa));
	assert_false(log_bit(d.desc_gpa));
	/* So is an entry written by a burst. */
	sdrv_publish(&d, 0);
	assert_int_equal(virtq_pop_burst(&vq, &elem, 4), 1);
	memset(mem.log, 0, log_size);
	virtq_push_burst(&vq, &elem, 1, (const uint32_t[]){ 1 });
	virtq_flush(&vq);
	assert_true(log_bit(d.used_gpa));
	virtq_stop(&vq);

	packed_start(&pq, &pd, RING_Q1, 8, 0);
	memset(mem.log, 0, log_size);
	pdrv_add(&pd, 3, &b, 1);
	assert_int_equal(virtq_pop(&pq, &elem), 1);
	assert_int_equal(elem.in_num, 2);
	virtq_log_in_iov(&pq, &elem, 0x3000);
	assert_true(log_bit(GPA_B - 0x1800));
	assert_true(log_bit(GPA_B - 0x800));
	assert_true(log_bit(GPA_B + 0x1000));
	assert_false(log_bit(pd.desc_gpa));
	virtq_push(&pq, &elem, 0x3000);
	virtq_flush(&pq);
	assert_true(log_bit(pd.desc_gpa));
	virtq_stop(&pq);
}

/* ---- packed -------------------------------------------------------------------------------- */

static void test_packed_pop_push_wrap(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem elem;
	uint16_t id, flags;
	uint32_t len;
	unsigned int i;

	/* Size 5 (not a power of two), chains of 2 and 1 so slots and wraps drift. */
	packed_start(&vq, &d, RING_Q0, 5, 0);
	assert_true(virtq_empty(&vq));
	for (i = 0; i < 1000; i++) {
		struct pbuf two[2] = { { BUFS, 12, 0 }, { BUFS + 0x1000, 100, VRING_DESC_F_WRITE } };
		struct pbuf one = { BUFS + 0x2000, 50, 0 };
		uint16_t want = (uint16_t)(i % 4);

		if (i % 2)
			pdrv_add(&d, want, two, 2);
		else
			pdrv_add(&d, want, &one, 1);
		assert_false(virtq_empty(&vq));
		assert_int_equal(virtq_pop(&vq, &elem), 1);
		assert_int_equal(elem.id, want);
		assert_int_equal(elem.ndescs, i % 2 ? 2 : 1);
		assert_int_equal(elem.out_num, 1);
		assert_int_equal(elem.in_num, i % 2 ? 1 : 0);
		assert_int_equal(virtq_pop(&vq, &elem), 0);
		virtq_push(&vq, &elem, i % 2 ? 77 : 0);
		assert_int_equal(pdrv_get_used(&d, &id, &len, &flags), 0);
		virtq_flush(&vq);
		assert_int_equal(pdrv_get_used(&d, &id, &len, &flags), 1);
		assert_int_equal(id, want);
		if (i % 2) {
			assert_int_equal(len, 77);
			assert_true(flags & VRING_DESC_F_WRITE);
		} else {
			assert_false(flags & VRING_DESC_F_WRITE);
		}
	}
	/* base: avail and used positions with their wrap counters. */
	assert_int_equal(virtq_get_base(&vq) & 0xffff,
			 d.next_avail | (d.avail_wrap ? VIRTQ_BASE_WRAP_BIT : 0));
	assert_int_equal(virtq_get_base(&vq) >> 16,
			 d.next_used | (d.used_wrap ? VIRTQ_BASE_WRAP_BIT : 0));
	assert_false(vq.broken);
	virtq_stop(&vq);
}

static void test_packed_batch_first_flag_last(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem e[3];
	uint16_t id;
	uint32_t len;
	int i;

	packed_start(&vq, &d, RING_Q0, 8, 0);
	for (i = 0; i < 3; i++) {
		struct pbuf b = { BUFS + 0x1000ULL * i, 1536, VRING_DESC_F_WRITE };

		pdrv_add(&d, (uint16_t)(10 + i), &b, 1);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&vq, &e[i]), 1);
	for (i = 2; i >= 0; i--)
		virtq_push(&vq, &e[i], 100 + i);
	/* Slots 1 and 2 are written, but slot 0 (the batch's first) is not yet used. */
	assert_int_equal(pdrv_get_used(&d, &id, &len, NULL), 0);
	assert_int_equal(d.desc[1].flags & PACKED_USED, PACKED_USED);
	virtq_flush(&vq);
	for (i = 2; i >= 0; i--) {
		assert_int_equal(pdrv_get_used(&d, &id, &len, NULL), 1);
		assert_int_equal(id, 10 + i);
		assert_int_equal(len, 100 + i);
	}
	virtq_stop(&vq);
}

static void test_packed_unpop_and_indirect(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem a, b;
	struct vring_packed_desc *tbl = gp(INDIRECT_TABLES);
	struct pbuf chain[3] = { { BUFS, 10, 0 }, { BUFS, 10, 0 }, { BUFS, 10, 0 } };
	struct pbuf ind = { INDIRECT_TABLES, 2 * 16, VRING_DESC_F_INDIRECT };

	packed_start(&vq, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	tbl[0] = (struct vring_packed_desc){ BUFS, 10, 0, 0 };
	tbl[1] = (struct vring_packed_desc){ BUFS + 0x1000, 20, 0, VRING_DESC_F_WRITE };
	pdrv_add(&d, 1, chain, 3);
	pdrv_add(&d, 2, &ind, 1);
	assert_int_equal(virtq_pop(&vq, &a), 1);
	assert_int_equal(a.ndescs, 3);
	assert_int_equal(virtq_pop(&vq, &b), 1);
	assert_int_equal(b.id, 2);
	assert_int_equal(b.ndescs, 1);
	assert_int_equal(b.out_num, 1);
	assert_int_equal(b.in_num, 1);
	assert_int_equal(b.in_len, 20);
	/* Give both back: the position goes back over the wrap. */
	virtq_unpop(&vq, &b);
	virtq_unpop(&vq, &a);
	assert_int_equal(virtq_get_base(&vq) & 0xffff, VIRTQ_BASE_WRAP_BIT);
	assert_int_equal(virtq_pop(&vq, &a), 1);
	assert_int_equal(a.id, 1);
	assert_int_equal(virtq_pop(&vq, &b), 1);
	assert_int_equal(b.id, 2);
	virtq_stop(&vq);
}

/*
 * rx without room for a frame: the device pops what there is, finds the ring empty, gives it
 * all back (over slot 0) and asks for a kick. The kick must come when the driver posts the
 * next buffer, not for the ones already posted (the guest would never kick again).
 */
static void test_packed_unpop_then_notify(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem e[3];
	struct pbuf b = { BUFS, 64, VRING_DESC_F_WRITE };
	uint16_t i, id;
	uint32_t len;

	packed_start(&vq, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	/* A first lap over slots 0 and 1, so that the buffers below sit at slots 2, 3, 0. */
	for (i = 0; i < 2; i++) {
		pdrv_add(&d, i, &b, 1);
		assert_int_equal(virtq_pop(&vq, &e[0]), 1);
		virtq_push(&vq, &e[0], 64);
		virtq_flush(&vq);
		assert_int_equal(pdrv_get_used(&d, &id, &len, NULL), 1);
	}
	virtq_disable_notify(&vq);
	for (i = 0; i < 3; i++)
		pdrv_add(&d, (uint16_t)(2 + i), &b, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&vq, &e[i]), 1);
	assert_int_equal(virtq_pop(&vq, &e[0]), 0);
	for (i = 3; i-- > 0;)
		virtq_unpop(&vq, &e[i]);
	assert_int_equal(virtq_get_base(&vq) & 0xffff, 2 | VIRTQ_BASE_WRAP_BIT);

	/* The given-back buffers are there; the kick is asked for slot 1 of the second lap. */
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(d.dev_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(d.dev_event->off_wrap, 1);
	pdrv_add(&d, 5, &b, 1);
	assert_true(pdrv_kick_needed(&d, 1));

	/* The same chains come out again, in order, then the new one. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(virtq_pop(&vq, &e[0]), 1);
		assert_int_equal(e[0].id, 2 + i);
	}
	assert_int_equal(virtq_pop(&vq, &e[0]), 0);
	virtq_stop(&vq);
}

static void test_packed_notify(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem e;
	struct pbuf b = { BUFS, 64, VRING_DESC_F_WRITE };
	int call = eventfd(0, EFD_NONBLOCK);
	uint16_t i;

	packed_start(&vq, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtq_set_call_fd(&vq, call);
	/* Start asked for a kick at our avail position (0, wrap 1). */
	assert_int_equal(d.dev_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(d.dev_event->off_wrap, 1U << VRING_PACKED_EVENT_F_WRAP_CTR);

	d.drv_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	pdrv_add(&d, 0, &b, 1);
	assert_int_equal(virtq_pop(&vq, &e), 1);
	virtq_push(&vq, &e, 1);
	virtq_flush(&vq);
	assert_false(virtq_notify(&vq));
	assert_false(call_fired(call));

	d.drv_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	pdrv_add(&d, 1, &b, 1);
	assert_int_equal(virtq_pop(&vq, &e), 1);
	virtq_push(&vq, &e, 1);
	virtq_flush(&vq);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* Event at slot 1 of the next lap (wrap 0): not before our used position passes it. */
	d.drv_event->off_wrap = 1;
	d.drv_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	for (i = 0; i < 3; i++) {
		pdrv_add(&d, (uint16_t)(2 + i), &b, 1);
		assert_int_equal(virtq_pop(&vq, &e), 1);
		virtq_push(&vq, &e, 1);
		virtq_flush(&vq);
		/* used slots 2, 3, then 0 (wrap 0): slot 1 of wrap 0 not used yet. */
		assert_false(virtq_notify(&vq));
	}
	pdrv_add(&d, 5, &b, 1);
	assert_int_equal(virtq_pop(&vq, &e), 1);
	virtq_push(&vq, &e, 1);
	virtq_flush(&vq);
	assert_true(virtq_notify(&vq));
	assert_true(call_fired(call));

	/* Device side: disable, then enable with a re-check that finds a new buffer. */
	virtq_disable_notify(&vq);
	assert_int_equal(d.dev_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(d.dev_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	assert_int_equal(d.dev_event->off_wrap, 2);
	virtq_disable_notify(&vq);
	pdrv_add(&d, 6, &b, 1);
	assert_true(virtq_enable_notify(&vq));
	virtq_stop(&vq);
	close(call);
}

static void test_packed_notify_across_wrap(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_elem e[2];
	struct pbuf b = { BUFS, 64, VRING_DESC_F_WRITE };
	int call = eventfd(0, EFD_NONBLOCK);
	uint16_t i, id;
	uint32_t len;

	packed_start(&vq, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtq_set_call_fd(&vq, call);
	for (i = 0; i < 3; i++) {
		pdrv_add(&d, i, &b, 1);
		assert_int_equal(virtq_pop(&vq, &e[0]), 1);
		virtq_push(&vq, &e[0], 1);
		virtq_flush(&vq);
		assert_true(virtq_notify(&vq));
		assert_int_equal(pdrv_get_used(&d, &id, &len, NULL), 1);
	}
	/* The event is slot 2 of the first lap, long used: a batch over the wrap stays silent. */
	d.drv_event->off_wrap = 2 | 1U << VRING_PACKED_EVENT_F_WRAP_CTR;
	d.drv_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	for (i = 0; i < 2; i++) {
		pdrv_add(&d, (uint16_t)(3 + i), &b, 1);
		assert_int_equal(virtq_pop(&vq, &e[i]), 1);
	}
	virtq_push(&vq, &e[0], 1);
	virtq_push(&vq, &e[1], 1);
	virtq_flush(&vq);
	assert_false(virtq_notify(&vq));

	/* Slot 1 of the second lap: the next used descriptor. */
	d.drv_event->off_wrap = 1;
	pdrv_add(&d, 5, &b, 1);
	assert_int_equal(virtq_pop(&vq, &e[0]), 1);
	virtq_push(&vq, &e[0], 1);
	virtq_flush(&vq);
	assert_true(virtq_notify(&vq));

	/* Slot 3 of the second lap, used by a batch (slots 2, 3) that ends on the third lap. */
	d.drv_event->off_wrap = 3;
	for (i = 0; i < 2; i++) {
		pdrv_add(&d, (uint16_t)(6 + i), &b, 1);
		assert_int_equal(virtq_pop(&vq, &e[i]), 1);
	}
	virtq_push(&vq, &e[0], 1);
	virtq_push(&vq, &e[1], 1);
	virtq_flush(&vq);
	assert_true(virtq_notify(&vq));
	virtq_stop(&vq);
	close(call);
}

static void test_packed_hostile(void **state)
{
	struct virtq bad, good;
	struct pdrv d;
	struct sdrv dg;
	struct virtq_elem e;
	struct vring_packed_desc *tbl = gp(INDIRECT_TABLES);
	struct pbuf loop[4] = { { BUFS, 1, 0 }, { BUFS, 1, 0 }, { BUFS, 1, 0 }, { BUFS, 1, 0 } };
	struct pbuf ind = { INDIRECT_TABLES, 16, VRING_DESC_F_INDIRECT };
	struct pbuf mixed[2] = { { BUFS, 1, 0 }, { INDIRECT_TABLES, 16, VRING_DESC_F_INDIRECT } };
	struct pbuf outside = { GPA_B + SIZE_B, 1, 0 };
	struct pbuf badlen = { INDIRECT_TABLES, 17, VRING_DESC_F_INDIRECT };

	split_start(&good, &dg, RING_Q1, 8, 0);

	/* Every slot available with NEXT: a chain longer than the queue. */
	packed_start(&bad, &d, RING_Q0, 4, 0);
	pdrv_add(&d, 0, loop, 4);
	d.desc[3].flags |= VRING_DESC_F_NEXT;
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "longer than the queue"));
	split_round_trip(&good, &dg);

	packed_start(&bad, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	tbl[0] = (struct vring_packed_desc){ INDIRECT_TABLES, 16, 0, VRING_DESC_F_INDIRECT };
	pdrv_add(&d, 0, &ind, 1);
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "nested"));
	split_round_trip(&good, &dg);

	packed_start(&bad, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	pdrv_add(&d, 0, mixed, 2);
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "indirect descriptor in a chain"));

	packed_start(&bad, &d, RING_Q0, 4, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	pdrv_add(&d, 0, &badlen, 1);
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "multiple"));

	packed_start(&bad, &d, RING_Q0, 4, 0);
	pdrv_add(&d, 0, &ind, 1);
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "INDIRECT_DESC"));

	packed_start(&bad, &d, RING_Q0, 4, 0);
	pdrv_add(&d, 0, &outside, 1);
	assert_int_equal(virtq_pop(&bad, &e), -EIO);
	assert_non_null(strstr(bad.reason, "outside guest memory"));
	assert_true(virtq_empty(&bad));
	virtq_push(&bad, &e, 1);
	virtq_flush(&bad);
	assert_int_equal(d.desc[0].flags & PACKED_USED, 0);
	split_round_trip(&good, &dg);
	virtq_stop(&bad);
	virtq_stop(&good);
}

static void test_packed_bad_params(void **state)
{
	struct virtq vq;
	struct pdrv d;
	struct virtq_params p = { 0 };
	struct error err = { 0 };

	pdrv_init(&d, RING_Q0, 8);
	virtq_init(&vq, &mem, 0);
	p.num = 8;
	p.desc_uva = uva_of(d.desc_gpa);
	p.avail_uva = uva_of(d.drv_gpa);
	p.used_uva = uva_of(d.dev_gpa);
	p.features = 1ULL << VIRTIO_F_RING_PACKED;
	p.base = 8;
	assert_int_equal(virtq_start(&vq, &p, &err), -EINVAL);
	p.base = VIRTQ_BASE_FRESH_PACKED;
	p.used_uva = UVA_B + SIZE_B - 2;
	assert_int_equal(virtq_start(&vq, &p, &err), -EFAULT);
	assert_true(vq.broken);
	p.used_uva = uva_of(d.dev_gpa);
	p.num = 12;
	assert_int_equal(virtq_start(&vq, &p, &err), 0);
	assert_false(vq.broken);
	virtq_stop(&vq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_pop_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_mergeable_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_unpop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_burst_bad_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_indirect_and_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_zero_length_and_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_notify_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_notify_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_notify_missed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_bad_ring_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_break_is_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_base_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_inflight_resubmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_inflight_half_published_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_pop_push_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_batch_first_flag_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_unpop_and_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_unpop_then_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_notify_across_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_bad_params, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
