/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spsc-ring.h - a bounded lock-free ring of pointers between exactly one producer thread and
 * one consumer thread: how packets cross from one event loop thread to another.
 *
 * The producer writes slots and then publishes its head (release); the consumer reads the
 * head (acquire), takes the slots and publishes its tail (release), which frees the slots for
 * the producer (acquire). Each side keeps a cached copy of the other's index on its own cache
 * line and reads the shared index only when the cache says the ring is full (or empty), so in
 * steady state the two threads do not bounce cache lines. Work moves in bursts.
 */
#ifndef VWIRE_CORE_SPSC_RING_H
#define VWIRE_CORE_SPSC_RING_H

#include <stdatomic.h>
#include <stdint.h>

/* Size of a cache line on the machines vwire runs on (x86-64, most arm64). */
#define SPSC_RING_CACHE_LINE 64

/* Largest ring: indices are free-running 32-bit counters, the size must stay below 2^31. */
#define SPSC_RING_MAX_SIZE (1u << 24)

/**
 * struct spsc_ring - the ring
 * @size:	number of slots, a power of two (read-only after spsc_ring_new())
 * @mask:	@size - 1
 * @slots:	the slots
 * @head:	producer: next slot to write (free-running; published with release)
 * @prod_tail:	producer: its last look at @tail
 * @tail:	consumer: next slot to read (free-running; published with release)
 * @cons_head:	consumer: its last look at @head
 *
 * The read-only fields, the producer's pair and the consumer's pair each have a cache line.
 */
struct spsc_ring {
	uint32_t size;
	uint32_t mask;
	void **slots;

	_Alignas(SPSC_RING_CACHE_LINE) _Atomic uint32_t head;
	uint32_t prod_tail;

	_Alignas(SPSC_RING_CACHE_LINE) _Atomic uint32_t tail;
	uint32_t cons_head;
};

/**
 * spsc_ring_new() - allocate an empty ring
 * @size: number of slots: a power of two, from 2 to SPSC_RING_MAX_SIZE
 *
 * Return: the ring, or NULL with errno set (EINVAL for a bad @size, ENOMEM).
 */
struct spsc_ring *spsc_ring_new(unsigned int size);

/**
 * spsc_ring_free() - free a ring (the pointers still in it are not freed); NULL is ignored
 * @r: the ring
 */
void spsc_ring_free(struct spsc_ring *r);

/**
 * spsc_ring_enqueue_burst() - producer: put up to @n pointers in, in order
 * @r:		the ring
 * @objs:	the pointers
 * @n:		how many
 *
 * Only the producer thread may call this.
 *
 * Return: how many went in (the first ones of @objs); fewer than @n when the ring is full.
 */
static inline unsigned int spsc_ring_enqueue_burst(struct spsc_ring *r, void *const *objs,
						   unsigned int n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t room = r->size - (head - r->prod_tail);

	if (room < n) {
		/* Pairs with the consumer's release of @tail: it is done with those slots. */
		r->prod_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		room = r->size - (head - r->prod_tail);
		if (n > room)
			n = room;
	}
	for (unsigned int i = 0; i < n; i++)
		r->slots[(head + i) & r->mask] = objs[i];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/**
 * spsc_ring_dequeue_burst() - consumer: take up to @max pointers out, oldest first
 * @r:		the ring
 * @objs:	where to put them
 * @max:	room in @objs
 *
 * Only the consumer thread may call this.
 *
 * Return: how many were taken (0 when the ring is empty).
 */
static inline unsigned int spsc_ring_dequeue_burst(struct spsc_ring *r, void **objs,
						   unsigned int max)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail = r->cons_head - tail;

	if (avail < max) {
		/* Pairs with the producer's release of @head: the slots are written. */
		r->cons_head = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->cons_head - tail;
		if (max > avail)
			max = avail;
	}
	for (unsigned int i = 0; i < max; i++)
		objs[i] = r->slots[(tail + i) & r->mask];
	atomic_store_explicit(&r->tail, tail + max, memory_order_release);
	return max;
}

/**
 * spsc_ring_count() - how many pointers are in the ring
 * @r: the ring
 *
 * Exact on either side while the other side is idle; otherwise a snapshot that may be stale
 * by the time it is used (from the producer: at least this much room was taken; from the
 * consumer: at least this much is there).
 *
 * Return: the count
 */
static inline unsigned int spsc_ring_count(struct spsc_ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	return head - tail;
}

/**
 * spsc_ring_capacity() - how many pointers the ring holds when full
 * @r: the ring
 *
 * Return: its size
 */
static inline unsigned int spsc_ring_capacity(const struct spsc_ring *r)
{
	return r->size;
}

#endif
