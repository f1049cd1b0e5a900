// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtq-packed.c - packed virtqueues (virtio 1.2, 2.8): one descriptor ring both sides write.
 * The driver marks descriptors available by their AVAIL/USED bits against its wrap counter; we
 * read chains in ring order and write used descriptors (id, len, then flags) at our own used
 * position, the first descriptor of a batch last. Event suppression lives in two small areas.
 * Inflight tracking (INFLIGHT_SHMFD) covers split rings only: a packed ring ignores its region.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "core/log.h"
#include "virtio/virtq-ring.h"

/* The two bits of an event suppression flags field that carry the mode. */
#define VIRTQ_PACKED_EVENT_FLAG_MASK 0x3U

_Static_assert(sizeof(struct vring_packed_desc) == VIRTQ_DESC_SIZE, "packed descriptor layout");

static bool virtq_packed_desc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VIRTQ_PACKED_F_AVAIL) == wrap && !!(flags & VIRTQ_PACKED_F_USED) != wrap;
}

static uint64_t virtq_packed_desc_gpa(const struct virtq *vq, uint16_t slot)
{
	return vq->desc_gpa + (uint64_t)slot * sizeof(struct vring_packed_desc);
}

/**
 * virtq_packed_start() - map a packed ring and its two event areas, take the base indices
 * @vq:		the queue, with size and features set
 * @p:		the front end's parameters
 * @err:	filled on failure
 *
 * Return: 0 or a negative errno
 */
int virtq_packed_start(struct virtq *vq, const struct virtq_params *p, struct error *err)
{
	uint16_t avail = (uint16_t)p->base, used = (uint16_t)(p->base >> VIRTQ_BASE_USED_SHIFT);

	if (!used)
		used = avail;
	if ((avail & VIRTQ_BASE_IDX_MASK) >= vq->size || (used & VIRTQ_BASE_IDX_MASK) >= vq->size)
		return error_set(err, -EINVAL, "virtqueue %u: base 0x%" PRIx32 " outside the ring",
				 vq->index, p->base);

	vq->pdesc = virtq_map_ring(vq, p->desc_uva,
				   (uint64_t)vq->size * sizeof(struct vring_packed_desc),
				   VRING_DESC_ALIGN_SIZE, "descriptor ring", &vq->desc_gpa, err);
	if (!vq->pdesc)
		return -EFAULT;
	vq->driver_event = virtq_map_ring(vq, p->avail_uva, sizeof(struct vring_packed_desc_event),
					  sizeof(uint32_t), "driver event area", NULL, err);
	if (!vq->driver_event)
		return -EFAULT;
	vq->device_event = virtq_map_ring(vq, p->used_uva, sizeof(struct vring_packed_desc_event),
					  sizeof(uint32_t), "device event area", &vq->used_gpa,
					  err);
	if (!vq->device_event)
		return -EFAULT;

	if (p->inflight)
		log_debug("virtqueue %u: inflight tracking is not kept for packed rings", vq->index);

	vq->last_avail_idx = avail & VIRTQ_BASE_IDX_MASK;
	vq->avail_wrap = avail & VIRTQ_BASE_WRAP;
	vq->shadow_avail_idx = vq->last_avail_idx;
	vq->shadow_avail_wrap = vq->avail_wrap;
	vq->used_idx = used & VIRTQ_BASE_IDX_MASK;
	vq->used_wrap = used & VIRTQ_BASE_WRAP;
	vq->published_idx = vq->used_idx;
	vq->published_wrap = vq->used_wrap;
	virtq_packed_set_notify(vq, true);
	return 0;
}

/* Every entry of an indirect table, in order; only WRITE means something there. */
static int virtq_packed_walk_indirect(struct virtq *vq, const struct virtq_table *tbl,
				      struct virtq_elem *elem)
{
	struct vring_packed_desc d;
	uint16_t flags;
	uint32_t i;
	int ret;

	for (i = 0; i < tbl->n; i++) {
		ret = virtq_read_desc(vq, tbl, i, &d);
		if (ret < 0)
			return ret;
		flags = le16toh(d.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			return virtq_break(vq, "nested indirect table");
		ret = virtq_map_desc(vq, elem, le64toh(d.addr), le32toh(d.len),
				    flags & VRING_DESC_F_WRITE);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/**
 * virtq_packed_pop() - the chain that starts at our avail position, if the driver made it
 *			available
 * @vq:		the queue
 * @elem:	out
 *
 * Return: 1, 0 (empty) or -EIO
 */
int virtq_packed_pop(struct virtq *vq, struct virtq_elem *elem)
{
	uint16_t slot = vq->last_avail_idx, flags, id = 0;
	bool wrap = vq->avail_wrap;
	struct vring_packed_desc d;
	struct virtq_table tbl;
	unsigned int count = 0;
	int ret;

	/* Acquire: the rest of the chain is read after its first flags said "available". */
	flags = le16toh(__atomic_load_n(&vq->pdesc[slot].flags, __ATOMIC_ACQUIRE));
	if (!virtq_packed_desc_avail(flags, wrap))
		return 0;

	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	elem->flags = 0;
	for (;;) {
		memcpy(&d, &vq->pdesc[slot], sizeof(d));
		if (count)
			flags = le16toh(d.flags);
		count++;

		if (flags & VRING_DESC_F_INDIRECT) {
			if (count > 1 || (flags & VRING_DESC_F_NEXT))
				return virtq_break(vq, "indirect descriptor in a chain at slot %u",
						   slot);
			ret = virtq_indirect_open(vq, le64toh(d.addr), le32toh(d.len), &tbl);
			if (ret < 0)
				return ret;
			ret = virtq_packed_walk_indirect(vq, &tbl, elem);
		} else {
			ret = virtq_map_desc(vq, elem, le64toh(d.addr), le32toh(d.len),
					    flags & VRING_DESC_F_WRITE);
		}
		if (ret < 0)
			return ret;
		/* The buffer id is the one in the chain's last descriptor. */
		id = le16toh(d.id);
		if (++slot == vq->size) {
			slot = 0;
			wrap = !wrap;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (count >= vq->size)
			return virtq_break(vq, "chain at slot %u longer than the queue",
					   vq->last_avail_idx);
	}

	elem->id = id;
	elem->ndescs = (uint16_t)count;
	vq->last_avail_idx = slot;
	vq->avail_wrap = wrap;
	vq->shadow_avail_idx = slot;
	vq->shadow_avail_wrap = wrap;
	return 1;
}

/**
 * virtq_packed_unpop() - undo the last pop: move the avail position back over its slots
 * @vq:		the queue
 * @elem:	the element it returned
 *
 * The shadow position stays where the pop left it: the slots given back were already made
 * available, so a kick can only come for the descriptors after them.
 */
void virtq_packed_unpop(struct virtq *vq, const struct virtq_elem *elem)
{
	if (vq->last_avail_idx >= elem->ndescs) {
		vq->last_avail_idx -= elem->ndescs;
	} else {
		vq->last_avail_idx = (uint16_t)(vq->last_avail_idx + vq->size - elem->ndescs);
		vq->avail_wrap = !vq->avail_wrap;
	}
}

/**
 * virtq_packed_push() - write one used descriptor; the first of a batch gets its flags at flush
 * @vq:		the queue
 * @elem:	the element
 * @len:	bytes written
 */
void virtq_packed_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	struct vring_packed_desc *d = &vq->pdesc[vq->used_idx];
	uint16_t flags = vq->used_wrap ? VIRTQ_PACKED_F_AVAIL | VIRTQ_PACKED_F_USED : 0;
	unsigned int next;

	if (len)
		flags |= VRING_DESC_F_WRITE;
	__atomic_store_n(&d->id, htole16(elem->id), __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, htole32(len), __ATOMIC_RELAXED);
	if (!vq->pending) {
		vq->batch_slot = vq->used_idx;
		vq->batch_flags = flags;
	} else {
		/* Invisible until the batch's first descriptor is flagged: the driver reads in order. */
		__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
	}
	virtq_log(vq, virtq_packed_desc_gpa(vq, vq->used_idx), sizeof(*d));

	next = vq->used_idx + elem->ndescs;
	if (next >= vq->size) {
		next -= vq->size;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->used_idx = (uint16_t)next;
	vq->pending++;
}

/**
 * virtq_packed_flush() - flag the batch's first used descriptor, which publishes the batch
 * @vq: the queue
 */
void virtq_packed_flush(struct virtq *vq)
{
	struct vring_packed_desc *d = &vq->pdesc[vq->batch_slot];

	__atomic_store_n(&d->flags, htole16(vq->batch_flags), __ATOMIC_RELEASE);
	virtq_log(vq, virtq_packed_desc_gpa(vq, vq->batch_slot) +
			      offsetof(struct vring_packed_desc, flags),
		  sizeof(uint16_t));
	vq->published_idx = vq->used_idx;
	vq->published_wrap = vq->used_wrap;
	vq->pending = 0;
}

/**
 * virtq_packed_need_notify() - whether the driver event suppression area asks for a
 *				notification now
 * @vq: the queue
 *
 * Return: true to signal
 */
bool virtq_packed_need_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_idx, new = vq->published_idx, flags, off_wrap, off;
	bool valid = vq->signalled_valid, old_wrap = vq->signalled_wrap;

	/* The used flags must be visible before we read what the driver asked for. */
	virtq_mb();
	vq->signalled_idx = new;
	vq->signalled_wrap = vq->published_wrap;
	vq->signalled_valid = true;
	if (valid && old == new && old_wrap == vq->published_wrap)
		return false;

	flags = le16toh(__atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE)) &
		VIRTQ_PACKED_EVENT_FLAG_MASK;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid)
		return true;

	/* Put the event offset and the last signalled position on the same lap as @new. */
	off_wrap = le16toh(__atomic_load_n(&vq->driver_event->off_wrap, __ATOMIC_RELAXED));
	off = off_wrap & VIRTQ_PACKED_EVENT_OFF_MASK;
	if (!!(off_wrap & VIRTQ_PACKED_EVENT_WRAP) != vq->published_wrap)
		off -= vq->size;
	if (old_wrap != vq->published_wrap)
		old -= vq->size;
	return vring_need_event(off, new, old);
}

/**
 * virtq_packed_set_notify() - write the device event suppression area
 * @vq:		the queue
 * @enable:	want kicks (with EVENT_IDX: for the first descriptor not yet seen available)
 *
 * The event fires only when the driver makes the named descriptor available (virtio 1.2,
 * 2.8, event suppression), so it must be one the driver has not made available yet: the
 * shadow position, not the avail position, which unpop moves back over descriptors that are.
 */
void virtq_packed_set_notify(struct virtq *vq, bool enable)
{
	uint16_t flags = enable ? VRING_PACKED_EVENT_FLAG_ENABLE : VRING_PACKED_EVENT_FLAG_DISABLE;
	uint16_t off_wrap;

	if (enable && vq->event_idx) {
		off_wrap =
		    vq->shadow_avail_idx | (vq->shadow_avail_wrap ? VIRTQ_PACKED_EVENT_WRAP : 0);
		__atomic_store_n(&vq->device_event->off_wrap, htole16(off_wrap), __ATOMIC_RELAXED);
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	}
	__atomic_store_n(&vq->device_event->flags, htole16(flags), __ATOMIC_RELEASE);
	virtq_log(vq, vq->used_gpa, sizeof(struct vring_packed_desc_event));
	vq->notify_enabled = enable;
}

/**
 * virtq_packed_empty() - whether the descriptor at our avail position is not available
 * @vq: the queue
 *
 * Return: true if empty
 */
bool virtq_packed_empty(struct virtq *vq)
{
	uint16_t flags = le16toh(__atomic_load_n(&vq->pdesc[vq->last_avail_idx].flags,
						 __ATOMIC_ACQUIRE));

	return !virtq_packed_desc_avail(flags, vq->avail_wrap);
}

/**
 * virtq_packed_avail_count() - chains a pop would find, up to @max
 * @vq:		the queue
 * @max:	most to count
 *
 * Return: the count
 */
unsigned int virtq_packed_avail_count(struct virtq *vq, unsigned int max)
{
	uint16_t slot = vq->last_avail_idx, flags;
	bool wrap = vq->avail_wrap;
	unsigned int n = 0;

	for (unsigned int descs = 0; n < max && descs < vq->size; descs++) {
		flags = le16toh(__atomic_load_n(&vq->pdesc[slot].flags, __ATOMIC_ACQUIRE));
		if (!virtq_packed_desc_avail(flags, wrap))
			break;
		if (!(flags & VRING_DESC_F_NEXT))
			n++;
		if (++slot == vq->size) {
			slot = 0;
			wrap = !wrap;
		}
	}
	return n;
}
