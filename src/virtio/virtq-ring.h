/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtq-ring.h - what virtq.c shares with the two ring walkers (virtq-split.c, virtq-packed.c):
 * breaking a queue, mapping one descriptor's buffer into an element, reading descriptor tables
 * and logging ring writes. Not part of the virtqueue's public face.
 */
#ifndef VWIRE_VIRTIO_VIRTQ_RING_H
#define VWIRE_VIRTIO_VIRTQ_RING_H

#include <endian.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "virtio/virtq.h"

/* Bytes of one descriptor, split or packed (the spec's 16). */
#define VIRTQ_DESC_SIZE 16

/* Packed descriptor flag bits (linux/virtio_ring.h gives them as shifts). */
#define VIRTQ_PACKED_F_AVAIL (1U << VRING_PACKED_DESC_F_AVAIL)
#define VIRTQ_PACKED_F_USED (1U << VRING_PACKED_DESC_F_USED)

/* Packed event suppression: offset bits and wrap counter bit of off_wrap. */
#define VIRTQ_PACKED_EVENT_OFF_MASK 0x7fffU
#define VIRTQ_PACKED_EVENT_WRAP (1U << VRING_PACKED_EVENT_F_WRAP_CTR)

/* Packed base index layout (vhost-user SET/GET_VRING_BASE, QEMU's encoding). */
#define VIRTQ_BASE_IDX_MASK 0x7fffU
#define VIRTQ_BASE_WRAP VIRTQ_BASE_WRAP_BIT
#define VIRTQ_BASE_USED_SHIFT 16

/**
 * struct virtq_table - a descriptor table being walked (main split table or indirect table)
 * @host:	host pointer to the whole table when it is contiguous, else NULL (read piecewise)
 * @gpa:	guest-physical address of the table (for indirect tables)
 * @n:		number of descriptors in it
 */
struct virtq_table {
	const uint8_t *host;
	uint64_t gpa;
	uint32_t n;
};

int virtq_map_buf(struct virtq *vq, struct virtq_elem *elem, uint64_t addr, uint32_t len,
		  bool write);
int virtq_indirect_open(struct virtq *vq, uint64_t addr, uint32_t len, struct virtq_table *tbl);
int virtq_table_read(struct virtq *vq, const struct virtq_table *tbl, uint32_t i, void *desc);
void *virtq_map_ring(struct virtq *vq, uint64_t uva, uint64_t len, uint64_t align,
		     const char *what, uint64_t *gpa, struct error *err);

/**
 * virtq_map_desc() - virtq_map_buf() with its common case inline: a buffer inside one guest
 *		      memory region, the element not full, the order and total length fine
 * @vq:		the queue
 * @elem:	the element being filled
 * @addr:	guest-physical start
 * @len:	length
 * @write:	device-writable
 *
 * Return: 0, or -EIO with the queue broken
 */
static inline int virtq_map_desc(struct virtq *vq, struct virtq_elem *elem, uint64_t addr,
				 uint32_t len, bool write)
{
	unsigned int used = elem->out_num + elem->in_num;
	uint32_t have = write ? elem->in_len : elem->out_len;

	if (__builtin_expect(!len || used >= VIRTQ_MAX_IOV || (!write && elem->in_num) ||
				     (uint64_t)have + len > VIRTQ_MAX_ELEM_LEN ||
				     !guest_mem_map_one(vq->mem, addr, len, &elem->iov[used]),
			     0))
		return virtq_map_buf(vq, elem, addr, len, write);
	if (write) {
		elem->in_gpa[elem->in_num++] = addr;
		elem->in_len = have + len;
	} else {
		elem->out_num++;
		elem->out_len = have + len;
	}
	return 0;
}

/*
 * Start fetching a line about to be written, in the exclusive state:
 * a plain prefetch would bring it shared, and the store would still wait for the other CPU to
 * give it up. GCC emits prefetchw for __builtin_prefetch(p, 1) only when built for a CPU that
 * has it; x86-64 CPUs without it treat the instruction as a no-op.
 */
static inline void virtq_prefetch_write(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

/*
 * A chain just popped: the caller reads its first bytes (a header) next, or writes a frame
 * into its writable buffers. Start fetching them.
 */
static inline void virtq_prefetch_first(const struct virtq_elem *elem)
{
	if (elem->out_num)
		__builtin_prefetch(elem->iov[0].iov_base);
	else if (elem->in_num)
		virtq_prefetch_write(elem->iov[0].iov_base);
}

/**
 * virtq_read_desc() - virtq_table_read() with the contiguous table inline
 * @vq:		the queue
 * @tbl:	the table
 * @i:		index, below @tbl->n
 * @desc:	out: 16 bytes
 *
 * Return: 0, or -EIO with the queue broken
 */
static inline int virtq_read_desc(struct virtq *vq, const struct virtq_table *tbl, uint32_t i,
				  void *desc)
{
	if (__builtin_expect(tbl->host != NULL, 1)) {
		memcpy(desc, tbl->host + (size_t)i * VIRTQ_DESC_SIZE, VIRTQ_DESC_SIZE);
		return 0;
	}
	return virtq_table_read(vq, tbl, i, desc);
}

int virtq_split_start(struct virtq *vq, const struct virtq_params *p, struct error *err);
int virtq_split_pop(struct virtq *vq, struct virtq_elem *elem);
unsigned int virtq_split_pop_burst(struct virtq *vq, struct virtq_elem *elems, unsigned int max);
void virtq_split_unpop(struct virtq *vq, const struct virtq_elem *elem);
void virtq_split_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);
void virtq_split_push_burst(struct virtq *vq, const struct virtq_elem *elems, unsigned int n,
			    const uint32_t *lens);
void virtq_split_flush(struct virtq *vq);
bool virtq_split_need_notify(struct virtq *vq);
void virtq_split_set_notify(struct virtq *vq, bool enable);
bool virtq_split_empty(struct virtq *vq);
unsigned int virtq_split_avail_count(struct virtq *vq, unsigned int max);

int virtq_packed_start(struct virtq *vq, const struct virtq_params *p, struct error *err);
int virtq_packed_pop(struct virtq *vq, struct virtq_elem *elem);
void virtq_packed_unpop(struct virtq *vq, const struct virtq_elem *elem);
void virtq_packed_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);
void virtq_packed_flush(struct virtq *vq);
bool virtq_packed_need_notify(struct virtq *vq);
void virtq_packed_set_notify(struct virtq *vq, bool enable);
bool virtq_packed_empty(struct virtq *vq);
unsigned int virtq_packed_avail_count(struct virtq *vq, unsigned int max);

/**
 * virtq_log() - mark a ring write dirty, after the write is visible
 * @vq:		the queue
 * @gpa:	guest-physical start of what was written
 * @len:	bytes
 */
static inline void virtq_log(const struct virtq *vq, uint64_t gpa, uint64_t len)
{
	if (__builtin_expect(vq->mem->log != NULL, 0)) {
		/* The front end must not see the bit before the data it covers. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		guest_mem_log_write(vq->mem, gpa, len);
	}
}

/**
 * virtq_mb() - full barrier: our ring stores before our loads of the driver's fields
 */
static inline void virtq_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/**
 * virtq_compiler_barrier() - keep stores to the inflight region in program order (it must be
 *			       consistent if the process dies between any two of them)
 */
static inline void virtq_compiler_barrier(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

#endif
