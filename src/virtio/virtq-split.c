// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtq-split.c - split virtqueues (virtio 1.2, 2.7): the driver publishes heads in the avail
 * ring and moves avail->idx; we read heads, walk their descriptor chains into elements, write
 * used entries and publish a batch with one used->idx store. With an inflight region every
 * pop and push is also recorded there, so that a restarted back end can resubmit lost chains.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtq-ring.h"

/* Bytes of the avail/used ring header (flags and idx). */
#define VIRTQ_SPLIT_HDR 4

/* The event index field that follows the avail and used rings (EVENT_IDX). */
#define VIRTQ_SPLIT_EVENT 2

_Static_assert(sizeof(struct vring_desc) == VIRTQ_DESC_SIZE, "split descriptor layout");

static uint64_t virtq_split_used_entry_gpa(const struct virtq *vq, uint16_t slot)
{
	return vq->used_gpa + offsetof(struct vring_used, ring) +
	       (uint64_t)slot * sizeof(struct vring_used_elem);
}

static uint16_t *virtq_split_avail_event(const struct virtq *vq)
{
	/* A 16-bit field after the last used element, not an element: address it as bytes. */
	return (uint16_t *)((uint8_t *)vq->used + offsetof(struct vring_used, ring) +
			    (size_t)vq->size * sizeof(struct vring_used_elem));
}

static uint16_t *virtq_split_used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

/* Re-read avail->idx; acquire, so that ring entries up to it are read after it. */
static int virtq_split_read_avail_idx(struct virtq *vq)
{
	uint16_t idx = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));

	if ((uint16_t)(idx - vq->last_avail_idx) > vq->size)
		return virtq_break(vq, "avail index %u is more than %u ahead of %u", idx, vq->size,
				   vq->last_avail_idx);
	vq->shadow_avail_idx = idx;
	return 0;
}

static int virtq_split_cmp_counter(const void *a, const void *b, void *arg)
{
	const struct inflight_split_region *r = arg;
	uint64_t ca = r->desc[*(const uint16_t *)a].counter;
	uint64_t cb = r->desc[*(const uint16_t *)b].counter;

	return ca < cb ? -1 : ca > cb;
}

/*
 * Take over an inflight region: initialise a fresh one, or finish the last batch the previous
 * back end published (used->idx moved but the heads were not cleared yet) and queue what is
 * still in flight for resubmission, oldest pop first. The avail index then restarts after them.
 */
static int virtq_split_inflight_start(struct virtq *vq, const struct virtq_params *p,
				      struct error *err)
{
	struct inflight_split_region *r = p->inflight;
	uint16_t used_idx = vq->used_idx, head, batch;
	unsigned int i, n = 0;
	uint64_t max = 0;

	if (p->inflight_size < sizeof(*r) + (size_t)vq->size * sizeof(r->desc[0]))
		return error_set(err, -EINVAL, "virtqueue %u: inflight region of %zu bytes too small",
				 vq->index, p->inflight_size);

	if (!r->version) {
		memset(r->desc, 0, (size_t)vq->size * sizeof(r->desc[0]));
		r->features = 0;
		r->desc_num = vq->size;
		r->last_batch_head = 0;
		r->used_idx = used_idx;
		virtq_compiler_barrier();
		r->version = INFLIGHT_VERSION;
		vq->inflight = r;
		return 0;
	}
	if (r->version != INFLIGHT_VERSION || r->desc_num != vq->size)
		return error_set(err, -EINVAL,
				 "virtqueue %u: inflight region version %u for %u descriptors",
				 vq->index, r->version, r->desc_num);

	if (r->used_idx != used_idx) {
		batch = used_idx - r->used_idx;
		head = r->last_batch_head;
		for (i = 0; i < batch && i < vq->size && head < vq->size; i++) {
			r->desc[head].inflight = 0;
			head = r->desc[head].next;
		}
		virtq_compiler_barrier();
		r->used_idx = used_idx;
	}

	for (i = 0; i < vq->size; i++)
		n += r->desc[i].inflight == 1;
	if (n) {
		vq->resubmit = malloc(n * sizeof(*vq->resubmit));
		if (!vq->resubmit)
			return error_set(err, -ENOMEM, "virtqueue %u: resubmit list", vq->index);
		for (i = 0, n = 0; i < vq->size; i++) {
			if (r->desc[i].inflight != 1)
				continue;
			vq->resubmit[n++] = (uint16_t)i;
			if (r->desc[i].counter > max)
				max = r->desc[i].counter;
		}
		qsort_r(vq->resubmit, n, sizeof(*vq->resubmit), virtq_split_cmp_counter, r);
		vq->inflight_counter = max + 1;
	}
	vq->resubmit_num = n;
	vq->last_avail_idx = (uint16_t)(used_idx + n);
	vq->shadow_avail_idx = vq->last_avail_idx;
	vq->inflight = r;
	return 0;
}

/**
 * virtq_split_check_base() - resume at the used index when the base cannot be right
 * @vq: the queue, rings mapped, @last_avail_idx the front end's base, @used_idx from the ring
 *
 * A front end whose back end died cannot ask it for the ring's base: QEMU then sends the used
 * index it finds in the ring, but DPDK's virtio-user (server mode, split rings) sends 0 while
 * its rings carry on from where they were. A base more than a queue behind or ahead of the
 * avail index would break the queue at the first pop; DPDK's own vhost library resumes at the
 * used index then, and so does vwire, when the ring agrees with it. Chains that were in flight
 * go again (a resent tx frame, a dropped rx frame), as with any back end restart.
 */
static void virtq_split_check_base(struct virtq *vq)
{
	uint16_t avail = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));

	if ((uint16_t)(avail - vq->last_avail_idx) <= vq->size ||
	    (uint16_t)(avail - vq->used_idx) > vq->size)
		return;
	log_ratelimited_warn(&vq->rl,
			     "virtqueue %u: base %u is more than a queue from avail index %u: "
			     "resuming at the used index %u",
			     vq->index, vq->last_avail_idx, avail, vq->used_idx);
	vq->last_avail_idx = vq->used_idx;
}

/**
 * virtq_split_start() - map a split ring's three parts and take its indices
 * @vq:		the queue, with size and features set
 * @p:		the front end's parameters
 * @err:	filled on failure
 *
 * Return: 0 or a negative errno
 */
int virtq_split_start(struct virtq *vq, const struct virtq_params *p, struct error *err)
{
	uint64_t ev = vq->event_idx ? VIRTQ_SPLIT_EVENT : 0;
	uint64_t desc_len = (uint64_t)vq->size * sizeof(struct vring_desc);
	uint64_t avail_len = VIRTQ_SPLIT_HDR + (uint64_t)vq->size * sizeof(uint16_t) + ev;
	uint64_t used_len = VIRTQ_SPLIT_HDR + (uint64_t)vq->size * sizeof(struct vring_used_elem) +
			    ev;
	int ret;

	vq->desc = virtq_map_ring(vq, p->desc_uva, desc_len, VRING_DESC_ALIGN_SIZE,
				  "descriptor table", &vq->desc_gpa, err);
	if (!vq->desc)
		return -EFAULT;
	vq->avail = virtq_map_ring(vq, p->avail_uva, avail_len, VRING_AVAIL_ALIGN_SIZE,
				   "avail ring", NULL, err);
	if (!vq->avail)
		return -EFAULT;
	vq->used = virtq_map_ring(vq, p->used_uva, used_len, VRING_USED_ALIGN_SIZE, "used ring",
				  &vq->used_gpa, err);
	if (!vq->used)
		return -EFAULT;

	vq->last_avail_idx = (uint16_t)p->base;
	vq->used_idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED));
	virtq_split_check_base(vq);
	vq->shadow_avail_idx = vq->last_avail_idx;
	if (p->inflight) {
		ret = virtq_split_inflight_start(vq, p, err);
		if (ret < 0)
			return ret;
	}
	vq->published_idx = vq->used_idx;
	virtq_split_set_notify(vq, true);
	return 0;
}

/* Walk a chain of more than one descriptor (main table, then at most one indirect table). */
static __attribute__((noinline)) int virtq_split_walk_chain(struct virtq *vq, uint16_t head,
							     struct virtq_elem *elem)
{
	struct virtq_table tbl = { (const uint8_t *)vq->desc, vq->desc_gpa, vq->size };
	unsigned int count = 0, i = head;
	bool in_indirect = false;
	struct vring_desc d;
	uint16_t flags;
	int ret;

	for (;;) {
		if (++count > tbl.n)
			return virtq_break(vq, "chain at head %u longer than its %s (loop?)", head,
					   in_indirect ? "indirect table" : "queue");
		ret = virtq_read_desc(vq, &tbl, i, &d);
		if (ret < 0)
			return ret;
		flags = le16toh(d.flags);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (in_indirect)
				return virtq_break(vq, "nested indirect table at head %u", head);
			if (flags & VRING_DESC_F_NEXT)
				return virtq_break(vq, "indirect descriptor with NEXT at head %u",
						   head);
			ret = virtq_indirect_open(vq, le64toh(d.addr), le32toh(d.len), &tbl);
			if (ret < 0)
				return ret;
			in_indirect = true;
			count = 0;
			i = 0;
			continue;
		}

		ret = virtq_map_desc(vq, elem, le64toh(d.addr), le32toh(d.len),
				    flags & VRING_DESC_F_WRITE);
		if (ret < 0)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = le16toh(d.next);
		if (i >= tbl.n)
			return virtq_break(vq, "next %u out of range at head %u", i, head);
	}
}

/* Walk the chain headed at @head into @elem; the common chain, one descriptor, inline. */
static inline int virtq_split_walk(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	struct vring_desc d;
	uint16_t flags;

	elem->id = head;
	elem->ndescs = 1;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	elem->flags = 0;

	memcpy(&d, &vq->desc[head], sizeof(d));
	flags = le16toh(d.flags);
	if (__builtin_expect(!(flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)), 1))
		return virtq_map_desc(vq, elem, le64toh(d.addr), le32toh(d.len),
				      flags & VRING_DESC_F_WRITE);
	return virtq_split_walk_chain(vq, head, elem);
}

/* Record in the inflight region that @head was popped. */
static inline void virtq_split_inflight_pop(struct virtq *vq, uint16_t head)
{
	struct inflight_split_desc *fl = &vq->inflight->desc[head];

	fl->counter = vq->inflight_counter++;
	virtq_compiler_barrier();
	fl->inflight = 1;
}

/**
 * virtq_split_pop() - resubmitted chains first, then the next head of the avail ring
 * @vq:		the queue
 * @elem:	out
 *
 * Return: 1, 0 (empty) or -EIO
 */
int virtq_split_pop(struct virtq *vq, struct virtq_elem *elem)
{
	uint16_t head;
	int ret;

	if (__builtin_expect(vq->resubmit_pos < vq->resubmit_num, 0)) {
		ret = virtq_split_walk(vq, vq->resubmit[vq->resubmit_pos], elem);
		if (ret < 0)
			return ret;
		vq->resubmit_pos++;
		elem->flags = VIRTQ_ELEM_F_RESUBMITTED;
		return 1;
	}

	if (vq->last_avail_idx == vq->shadow_avail_idx) {
		ret = virtq_split_read_avail_idx(vq);
		if (ret < 0)
			return ret;
		if (vq->last_avail_idx == vq->shadow_avail_idx)
			return 0;
	}

	head = le16toh(__atomic_load_n(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)],
				       __ATOMIC_RELAXED));
	if (head >= vq->size)
		return virtq_break(vq, "head %u out of range (queue size %u)", head, vq->size);
	ret = virtq_split_walk(vq, head, elem);
	if (ret < 0)
		return ret;
	vq->last_avail_idx++;
	if (vq->inflight)
		virtq_split_inflight_pop(vq, head);
	return 1;
}

/* Heads read ahead by virtq_split_pop_burst(): one pass to fetch, one to walk. */
#define VIRTQ_SPLIT_BURST 64

/**
 * virtq_split_pop_burst() - virtq_split_pop() up to @max times, the avail index read once
 * @vq:		the queue
 * @elems:	out
 * @max:	room in @elems
 *
 * The driver wrote the heads and descriptors on another CPU: they are all read or prefetched
 * first, so that their misses overlap rather than come one by one as the chains are walked.
 *
 * Return: chains taken (fewer when the ring ran empty or broke)
 */
unsigned int virtq_split_pop_burst(struct virtq *vq, struct virtq_elem *elems, unsigned int max)
{
	uint16_t heads[VIRTQ_SPLIT_BURST], mask = vq->size - 1, avail;
	unsigned int n, i;

	if (__builtin_expect(vq->resubmit_pos < vq->resubmit_num, 0)) {
		for (n = 0; n < max && virtq_split_pop(vq, &elems[n]) > 0; n++)
			virtq_prefetch_first(&elems[n]);
		return n;
	}
	if (max > VIRTQ_SPLIT_BURST)
		max = VIRTQ_SPLIT_BURST;
	avail = (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);
	if (avail < max) {
		if (virtq_split_read_avail_idx(vq) < 0)
			return 0;
		avail = (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);
		if (max > avail)
			max = avail;
	}
	for (i = 0; i < max; i++) {
		uint16_t slot = (uint16_t)(vq->last_avail_idx + i) & mask;

		heads[i] = le16toh(__atomic_load_n(&vq->avail->ring[slot], __ATOMIC_RELAXED));
		if (heads[i] < vq->size)
			__builtin_prefetch(&vq->desc[heads[i]]);
	}
	for (n = 0; n < max; n++) {
		if (heads[n] >= vq->size) {
			virtq_break(vq, "head %u out of range (queue size %u)", heads[n], vq->size);
			break;
		}
		if (virtq_split_walk(vq, heads[n], &elems[n]) < 0)
			break;
		vq->last_avail_idx++;
		if (vq->inflight)
			virtq_split_inflight_pop(vq, heads[n]);
		virtq_prefetch_first(&elems[n]);
	}
	return n;
}

/**
 * virtq_split_unpop() - undo the last pop
 * @vq:		the queue
 * @elem:	the element it returned
 */
void virtq_split_unpop(struct virtq *vq, const struct virtq_elem *elem)
{
	if (elem->flags & VIRTQ_ELEM_F_RESUBMITTED) {
		if (vq->resubmit_pos)
			vq->resubmit_pos--;
		return;
	}
	vq->last_avail_idx--;
	if (vq->inflight && elem->id < vq->size)
		vq->inflight->desc[elem->id].inflight = 0;
}

/**
 * virtq_split_push() - write one used ring entry (published by virtq_split_flush())
 * @vq:		the queue
 * @elem:	the element
 * @len:	bytes written
 */
static inline void virtq_split_push_one(struct virtq *vq, const struct virtq_elem *elem,
					uint32_t len)
{
	uint16_t slot = vq->used_idx & (vq->size - 1);
	struct vring_used_elem *u = &vq->used->ring[slot];

	__atomic_store_n(&u->id, htole32(elem->id), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
	virtq_log(vq, virtq_split_used_entry_gpa(vq, slot), sizeof(*u));
	vq->used_idx++;
	vq->pending++;

	if (vq->inflight && elem->id < vq->size) {
		vq->inflight->desc[elem->id].next = vq->inflight->last_batch_head;
		virtq_compiler_barrier();
		vq->inflight->last_batch_head = elem->id;
	}
}

void virtq_split_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	virtq_split_push_one(vq, elem, len);
}

/**
 * virtq_split_push_burst() - virtq_split_push() for each of @n elements
 * @vq:		the queue
 * @elems:	the elements
 * @n:		how many
 * @lens:	bytes written into each, or NULL for none
 */
void virtq_split_push_burst(struct virtq *vq, const struct virtq_elem *elems, unsigned int n,
			    const uint32_t *lens)
{
	struct vring_used_elem *ring = vq->used->ring;
	uint16_t mask = vq->size - 1, idx = vq->used_idx;

	if (__builtin_expect(vq->inflight || vq->mem->log, 0)) {
		for (unsigned int i = 0; i < n; i++)
			virtq_split_push_one(vq, &elems[i], lens ? lens[i] : 0);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct vring_used_elem *u = &ring[(uint16_t)(idx + i) & mask];

		__atomic_store_n(&u->id, htole32(elems[i].id), __ATOMIC_RELAXED);
		__atomic_store_n(&u->len, htole32(lens ? lens[i] : 0), __ATOMIC_RELAXED);
	}
	vq->used_idx = (uint16_t)(idx + n);
	vq->pending += n;
}

/**
 * virtq_split_flush() - publish the pushed entries: one release store of used->idx
 * @vq: the queue
 */
void virtq_split_flush(struct virtq *vq)
{
	struct inflight_split_region *r = vq->inflight;
	uint16_t head, i;

	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	virtq_log(vq, vq->used_gpa + offsetof(struct vring_used, idx), sizeof(uint16_t));

	if (r) {
		virtq_compiler_barrier();
		head = r->last_batch_head;
		for (i = 0; i < vq->pending && head < vq->size; i++) {
			r->desc[head].inflight = 0;
			head = r->desc[head].next;
		}
		virtq_compiler_barrier();
		r->used_idx = vq->used_idx;
	}
	vq->published_idx = vq->used_idx;
	vq->pending = 0;
}

/**
 * virtq_split_need_notify() - whether the driver wants a used buffer notification now
 * @vq: the queue
 *
 * Return: true to signal
 */
bool virtq_split_need_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_idx, new = vq->published_idx, event;
	bool valid = vq->signalled_valid;

	/* used->idx must be visible before we read what the driver asked for. */
	virtq_mb();
	vq->signalled_idx = new;
	vq->signalled_valid = true;
	if (valid && old == new)
		return false;
	if (vq->notify_on_empty && vq->resubmit_pos >= vq->resubmit_num &&
	    vq->last_avail_idx == vq->shadow_avail_idx)
		return true;
	if (!vq->event_idx)
		return !(le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = le16toh(__atomic_load_n(virtq_split_used_event(vq), __ATOMIC_RELAXED));
	return vring_need_event(event, new, old);
}

/**
 * virtq_split_set_notify() - ask the driver for kicks or not (used->flags, or avail_event)
 * @vq:		the queue
 * @enable:	want kicks
 */
void virtq_split_set_notify(struct virtq *vq, bool enable)
{
	uint16_t *ev;

	if (vq->event_idx) {
		/* Disabled means leaving avail_event behind: the driver stops kicking. */
		if (enable) {
			ev = virtq_split_avail_event(vq);
			__atomic_store_n(ev, htole16(vq->shadow_avail_idx), __ATOMIC_RELAXED);
			virtq_log(vq, virtq_split_used_entry_gpa(vq, vq->size), sizeof(*ev));
		}
	} else {
		__atomic_store_n(&vq->used->flags, htole16(enable ? 0 : VRING_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
		virtq_log(vq, vq->used_gpa + offsetof(struct vring_used, flags), sizeof(uint16_t));
	}
	vq->notify_enabled = enable;
}

/**
 * virtq_split_empty() - whether a pop would find nothing
 * @vq: the queue
 *
 * Return: true if empty (or just broken)
 */
bool virtq_split_empty(struct virtq *vq)
{
	if (vq->resubmit_pos < vq->resubmit_num || vq->last_avail_idx != vq->shadow_avail_idx)
		return false;
	if (virtq_split_read_avail_idx(vq) < 0)
		return true;
	return vq->last_avail_idx == vq->shadow_avail_idx;
}

/**
 * virtq_split_avail_count() - chains a pop would find, up to @max
 * @vq:		the queue
 * @max:	most to count
 *
 * Return: the count (0 also when the ring just broke)
 */
unsigned int virtq_split_avail_count(struct virtq *vq, unsigned int max)
{
	unsigned int n = vq->resubmit_num - vq->resubmit_pos +
			 (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);

	if (n < max) {
		if (virtq_split_read_avail_idx(vq) < 0)
			return 0;
		n = vq->resubmit_num - vq->resubmit_pos +
		    (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);
	}
	return n < max ? n : max;
}
