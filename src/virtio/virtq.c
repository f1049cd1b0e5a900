// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtq.c - the virtqueue's public face and what both ring layouts share: starting a queue from
 * the front end's vring parameters (every ring pointer through guest_mem_translate_uva), mapping
 * descriptor buffers through guest_mem_map_iov, indirect tables, breaking a queue, the call and
 * kick eventfds. The ring walking itself is in virtq-split.c and virtq-packed.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "virtio/virtq-ring.h"

void virtq_init(struct virtq *vq, struct guest_mem *mem, unsigned int index)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->index = index;
	vq->kick_fd = -1;
	vq->call_fd = -1;
}

/**
 * virtq_break() - mark the queue broken because of the guest, log why (rate-limited)
 * @vq:		the queue
 * @fmt:	the reason
 *
 * The first reason is kept; the queue pops and pushes nothing more until it is started again.
 *
 * Return: -EIO, for the caller to pass on
 */
int virtq_break(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	if (vq->broken)
		return -EIO;
	vq->broken = true;
	va_start(ap, fmt);
	vsnprintf(vq->reason, sizeof(vq->reason), fmt, ap);
	va_end(ap);
	log_ratelimited_warn(&vq->rl, "virtqueue %u broken: %s", vq->index, vq->reason);
	return -EIO;
}

/**
 * virtq_map_buf() - append one descriptor's buffer to @elem
 * @vq:		the queue
 * @elem:	the element being filled
 * @addr:	guest-physical start
 * @len:	length
 * @write:	device-writable
 *
 * Return: 0, or -EIO with the queue broken (outside guest memory, too many iovecs, too long,
 *	   readable after writable)
 */
int virtq_map_buf(struct virtq *vq, struct virtq_elem *elem, uint64_t addr, uint32_t len,
		  bool write)
{
	unsigned int used = elem->out_num + elem->in_num;
	uint64_t total = (uint64_t)(write ? elem->in_len : elem->out_len) + len;
	struct iovec *iov = elem->iov + used;
	int n, i;

	if (!write && elem->in_num)
		return virtq_break(vq, "device-readable descriptor after a writable one");
	if (total > VIRTQ_MAX_ELEM_LEN)
		return virtq_break(vq, "chain longer than %" PRIu64 " bytes",
				   (uint64_t)VIRTQ_MAX_ELEM_LEN);
	if (!len)
		return 0;
	if (used >= VIRTQ_MAX_IOV)
		return virtq_break(vq, "chain needs more than %d iovecs", VIRTQ_MAX_IOV);
	if (addr + len < addr)
		return virtq_break(vq, "buffer 0x%" PRIx64 "+%" PRIu32 " wraps around", addr, len);

	n = guest_mem_map_iov(vq->mem, addr, len, iov, VIRTQ_MAX_IOV - (int)used);
	if (n == -ENOBUFS)
		return virtq_break(vq, "chain needs more than %d iovecs", VIRTQ_MAX_IOV);
	if (n <= 0)
		return virtq_break(vq, "buffer 0x%" PRIx64 "+%" PRIu32 " outside guest memory", addr,
				   len);

	if (write) {
		for (i = 0; i < n; i++) {
			elem->in_gpa[elem->in_num + i] = addr;
			addr += iov[i].iov_len;
		}
		elem->in_num += n;
		elem->in_len = (uint32_t)total;
	} else {
		elem->out_num += n;
		elem->out_len = (uint32_t)total;
	}
	return 0;
}

/**
 * virtq_indirect_open() - check an indirect descriptor and set @tbl up to walk its table
 * @vq:		the queue
 * @addr:	guest-physical address of the table
 * @len:	its length in bytes
 * @tbl:	out: the table
 *
 * The caller has already refused INDIRECT together with NEXT and nested tables.
 *
 * Return: 0, or -EIO with the queue broken
 */
int virtq_indirect_open(struct virtq *vq, uint64_t addr, uint32_t len, struct virtq_table *tbl)
{
	uint64_t got, gpa, left;

	if (!vq->indirect)
		return virtq_break(vq, "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
	if (!len || len % VIRTQ_DESC_SIZE)
		return virtq_break(vq, "indirect table length %" PRIu32 " not a nonzero multiple of %d",
				   len, VIRTQ_DESC_SIZE);
	if (len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SIZE)
		return virtq_break(vq, "indirect table of %" PRIu32 " descriptors",
				   len / VIRTQ_DESC_SIZE);

	tbl->gpa = addr;
	tbl->n = len / VIRTQ_DESC_SIZE;
	got = len;
	tbl->host = guest_mem_translate(vq->mem, addr, &got);
	if (tbl->host && got == len)
		return 0;

	/* Spans regions (or is outside): check every byte now, read it piecewise later. */
	tbl->host = NULL;
	for (gpa = addr, left = len; left; gpa += got, left -= got) {
		got = left;
		if (!guest_mem_translate(vq->mem, gpa, &got) || !got)
			return virtq_break(vq,
					   "indirect table 0x%" PRIx64 "+%" PRIu32
					   " outside guest memory",
					   addr, len);
	}
	return 0;
}

/**
 * virtq_table_read() - copy descriptor @i of @tbl (16 bytes, once: the guest may change it)
 * @vq:		the queue
 * @tbl:	the table
 * @i:		index, below @tbl->n
 * @desc:	out: 16 bytes
 *
 * Return: 0, or -EIO with the queue broken
 */
int virtq_table_read(struct virtq *vq, const struct virtq_table *tbl, uint32_t i, void *desc)
{
	uint64_t gpa = tbl->gpa + (uint64_t)i * VIRTQ_DESC_SIZE, got;
	uint8_t *out = desc;
	unsigned int done;
	const void *src;

	if (tbl->host) {
		memcpy(desc, tbl->host + (size_t)i * VIRTQ_DESC_SIZE, VIRTQ_DESC_SIZE);
		return 0;
	}
	for (done = 0; done < VIRTQ_DESC_SIZE; done += got) {
		got = VIRTQ_DESC_SIZE - done;
		src = guest_mem_translate(vq->mem, gpa + done, &got);
		if (!src || !got)
			return virtq_break(vq, "indirect descriptor outside guest memory");
		memcpy(out + done, src, got);
	}
	return 0;
}

/**
 * virtq_map_ring() - host pointer to a whole ring part, checked for length and alignment
 * @vq:		the queue (marked broken if the ring does not fit)
 * @uva:	front-end virtual address of the part
 * @len:	its length
 * @align:	alignment the spec requires
 * @what:	name for the messages
 * @gpa:	out (may be NULL): its guest-physical address, for the dirty log
 * @err:	filled on failure
 *
 * Return: the pointer, or NULL (@err says why)
 */
void *virtq_map_ring(struct virtq *vq, uint64_t uva, uint64_t len, uint64_t align,
		     const char *what, uint64_t *gpa, struct error *err)
{
	uint64_t got = len;
	void *p;

	p = guest_mem_translate_uva(vq->mem, uva, &got);
	if (!p || got < len) {
		virtq_break(vq, "%s 0x%" PRIx64 "+%" PRIu64 " not inside one guest memory region",
			    what, uva, len);
		error_set(err, -EFAULT, "virtqueue %u: %s", vq->index, vq->reason);
		return NULL;
	}
	if ((uintptr_t)p % align) {
		virtq_break(vq, "%s 0x%" PRIx64 " not aligned to %" PRIu64, what, uva, align);
		error_set(err, -EFAULT, "virtqueue %u: %s", vq->index, vq->reason);
		return NULL;
	}
	if (gpa && guest_mem_uva_to_gpa(vq->mem, uva, gpa) < 0) {
		virtq_break(vq, "%s 0x%" PRIx64 " has no guest-physical address", what, uva);
		error_set(err, -EFAULT, "virtqueue %u: %s", vq->index, vq->reason);
		return NULL;
	}
	return p;
}

int virtq_start(struct virtq *vq, const struct virtq_params *p, struct error *err)
{
	bool packed = p->features & (1ULL << VIRTIO_F_RING_PACKED);
	int ret;

	if (vq->started)
		virtq_stop(vq);
	if (!p->num || p->num > VIRTQ_MAX_SIZE || (!packed && (p->num & (p->num - 1))))
		return error_set(err, -EINVAL, "virtqueue %u: bad size %u", vq->index, p->num);

	vq->broken = false;
	vq->broken_reported = false;
	vq->reason[0] = '\0';
	vq->packed = packed;
	vq->event_idx = p->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = p->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vq->notify_on_empty = p->features & (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY);
	vq->size = (uint16_t)p->num;
	vq->pending = 0;
	vq->signalled_valid = false;
	vq->notified_valid = false;
	vq->inflight = NULL;
	vq->inflight_counter = 0;
	vq->resubmit = NULL;
	vq->resubmit_num = 0;
	vq->resubmit_pos = 0;

	ret = packed ? virtq_packed_start(vq, p, err) : virtq_split_start(vq, p, err);
	if (ret < 0) {
		free(vq->resubmit);
		vq->resubmit = NULL;
		vq->inflight = NULL;
		return ret;
	}
	vq->started = true;
	return 0;
}

void virtq_stop(struct virtq *vq)
{
	if (!vq->started)
		return;
	virtq_flush(vq);
	vq->started = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->pdesc = NULL;
	vq->driver_event = NULL;
	vq->device_event = NULL;
	vq->inflight = NULL;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->resubmit_num = 0;
	vq->resubmit_pos = 0;
}

uint32_t virtq_get_base(const struct virtq *vq)
{
	uint32_t avail, used;

	if (!vq->packed)
		return vq->last_avail_idx;
	avail = vq->last_avail_idx | (vq->avail_wrap ? VIRTQ_BASE_WRAP : 0);
	used = vq->used_idx | (vq->used_wrap ? VIRTQ_BASE_WRAP : 0);
	return avail | used << VIRTQ_BASE_USED_SHIFT;
}

void virtq_set_kick_fd(struct virtq *vq, int fd)
{
	vq->kick_fd = fd;
}

void virtq_set_call_fd(struct virtq *vq, int fd)
{
	vq->call_fd = fd;
}

int virtq_kick_clear(struct virtq *vq)
{
	uint64_t v;
	ssize_t n;

	if (vq->kick_fd < 0)
		return 0;
	/* Nonblocking (checked when it came): EAGAIN just means nobody kicked. */
	n = read(vq->kick_fd, &v, sizeof(v));
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return 0;
	return -EPIPE;
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	if (__builtin_expect(vq->broken, 0))
		return -EIO;
	if (__builtin_expect(!vq->started, 0))
		return 0;
	return vq->packed ? virtq_packed_pop(vq, elem) : virtq_split_pop(vq, elem);
}

unsigned int virtq_pop_burst(struct virtq *vq, struct virtq_elem *elems, unsigned int max)
{
	unsigned int n = 0;

	if (__builtin_expect(vq->broken || !vq->started, 0))
		return 0;
	if (!vq->packed)
		return virtq_split_pop_burst(vq, elems, max);
	while (n < max && virtq_packed_pop(vq, &elems[n]) > 0)
		virtq_prefetch_first(&elems[n++]);
	return n;
}

unsigned int virtq_avail_count(struct virtq *vq, unsigned int max)
{
	if (vq->broken || !vq->started)
		return 0;
	return vq->packed ? virtq_packed_avail_count(vq, max) : virtq_split_avail_count(vq, max);
}

void virtq_unpop(struct virtq *vq, const struct virtq_elem *elem)
{
	if (vq->broken || !vq->started)
		return;
	if (vq->packed)
		virtq_packed_unpop(vq, elem);
	else
		virtq_split_unpop(vq, elem);
}

void virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	if (__builtin_expect(vq->broken || !vq->started, 0))
		return;
	if (vq->packed)
		virtq_packed_push(vq, elem, len);
	else
		virtq_split_push(vq, elem, len);
}

void virtq_push_burst(struct virtq *vq, const struct virtq_elem *elems, unsigned int n,
		      const uint32_t *lens)
{
	if (__builtin_expect(vq->broken || !vq->started, 0))
		return;
	if (!vq->packed) {
		virtq_split_push_burst(vq, elems, n, lens);
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		virtq_packed_push(vq, &elems[i], lens ? lens[i] : 0);
}

void virtq_flush(struct virtq *vq)
{
	if (!vq->pending || vq->broken || !vq->started)
		return;
	if (vq->packed)
		virtq_packed_flush(vq);
	else
		virtq_split_flush(vq);
}

bool virtq_notify(struct virtq *vq)
{
	uint64_t one = 1;
	bool need;

	if (vq->broken || !vq->started || vq->call_fd < 0)
		return false;
	need = vq->packed ? virtq_packed_need_notify(vq) : virtq_split_need_notify(vq);
	if (!need)
		return false;
	/*
	 * The fd is nonblocking (checked when it came): a full eventfd counter or pipe (EAGAIN)
	 * has a notification pending already.
	 */
	if (write(vq->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return false;
	vq->notified_idx = vq->published_idx;
	vq->notified_wrap = vq->published_wrap;
	vq->notified_valid = true;
	return true;
}

bool virtq_notify_missed(struct virtq *vq)
{
	if (vq->broken || !vq->started || vq->call_fd < 0)
		return false;
	if (vq->notified_valid && vq->notified_idx == vq->published_idx &&
	    vq->notified_wrap == vq->published_wrap)
		return false;
	/* Decide again as if nothing was considered since the last real notification. */
	vq->signalled_idx = vq->notified_idx;
	vq->signalled_wrap = vq->notified_wrap;
	vq->signalled_valid = vq->notified_valid;
	return virtq_notify(vq);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (vq->broken || !vq->started || !vq->notify_enabled)
		return;
	if (vq->packed)
		virtq_packed_set_notify(vq, false);
	else
		virtq_split_set_notify(vq, false);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (vq->broken || !vq->started)
		return false;
	if (vq->packed)
		virtq_packed_set_notify(vq, true);
	else
		virtq_split_set_notify(vq, true);
	/* Our store must reach the driver before we look at its ring again. */
	virtq_mb();
	return !virtq_empty(vq);
}

bool virtq_empty(struct virtq *vq)
{
	if (vq->broken || !vq->started)
		return true;
	return vq->packed ? virtq_packed_empty(vq) : virtq_split_empty(vq);
}

void virtq_log_in_iov(const struct virtq *vq, const struct virtq_elem *elem, uint32_t len)
{
	const struct iovec *iov = elem->iov + elem->out_num;
	unsigned int i;
	size_t n;

	if (!vq->mem->log)
		return;
	for (i = 0; i < elem->in_num && len; i++) {
		n = iov[i].iov_len < len ? iov[i].iov_len : len;
		virtq_log(vq, elem->in_gpa[i], n);
		len -= n;
	}
}
