// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_spsc_ring.c - the single-producer single-consumer ring: sizes refused, order, full and
 * empty, partial bursts, wrap-around of the slots and of the 32-bit indices, and two threads
 * passing millions of items whose contents the producer wrote just before enqueueing them
 * (what ThreadSanitizer checks the acquire/release pairs with).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/spsc-ring.h"

#define PTR(i) ((void *)(uintptr_t)(i))
#define NUM(p) ((uintptr_t)(p))

static void test_sizes(void **state)
{
	struct spsc_ring *r;

	errno = 0;
	assert_null(spsc_ring_new(0));
	assert_int_equal(errno, EINVAL);
	assert_null(spsc_ring_new(1));
	assert_null(spsc_ring_new(3));
	assert_null(spsc_ring_new(1000));
	assert_null(spsc_ring_new(SPSC_RING_MAX_SIZE * 2));
	r = spsc_ring_new(2);
	assert_non_null(r);
	assert_int_equal(spsc_ring_capacity(r), 2);
	spsc_ring_free(r);
	r = spsc_ring_new(1024);
	assert_non_null(r);
	/* The producer's and the consumer's indices never share a cache line. */
	assert_true(offsetof(struct spsc_ring, tail) - offsetof(struct spsc_ring, head) >=
		    SPSC_RING_CACHE_LINE);
	assert_true(offsetof(struct spsc_ring, head) >= SPSC_RING_CACHE_LINE);
	assert_int_equal((uintptr_t)r % SPSC_RING_CACHE_LINE, 0);
	spsc_ring_free(r);
	spsc_ring_free(NULL);
}

static void test_order_full_empty(void **state)
{
	struct spsc_ring *r = spsc_ring_new(8);
	void *in[12], *out[12];

	for (unsigned int i = 0; i < 12; i++)
		in[i] = PTR(100 + i);
	assert_int_equal(spsc_ring_dequeue_burst(r, out, 12), 0);
	assert_int_equal(spsc_ring_count(r), 0);
	/* A burst larger than the room: the first ones go in, in order. */
	assert_int_equal(spsc_ring_enqueue_burst(r, in, 3), 3);
	assert_int_equal(spsc_ring_enqueue_burst(r, in + 3, 9), 5);
	assert_int_equal(spsc_ring_count(r), 8);
	assert_int_equal(spsc_ring_enqueue_burst(r, in + 8, 1), 0);
	/* Taken in the order given, a part at a time. */
	assert_int_equal(spsc_ring_dequeue_burst(r, out, 2), 2);
	assert_int_equal(NUM(out[0]), 100);
	assert_int_equal(NUM(out[1]), 101);
	assert_int_equal(spsc_ring_count(r), 6);
	/* Room freed by the consumer is seen by the producer. */
	assert_int_equal(spsc_ring_enqueue_burst(r, in + 8, 4), 2);
	assert_int_equal(spsc_ring_dequeue_burst(r, out, 12), 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(NUM(out[i]), 102 + i);
	assert_int_equal(spsc_ring_dequeue_burst(r, out, 12), 0);
	assert_int_equal(spsc_ring_count(r), 0);
	/* Zero-sized bursts do nothing. */
	assert_int_equal(spsc_ring_enqueue_burst(r, in, 0), 0);
	assert_int_equal(spsc_ring_dequeue_burst(r, out, 0), 0);
	spsc_ring_free(r);
}

/* Slots wrap every size items; the free-running indices wrap at 2^32. */
static void test_wrap_around(void **state)
{
	struct spsc_ring *r = spsc_ring_new(4);
	const uint32_t starts[] = { 0, UINT32_MAX - 5 };
	uintptr_t next_in, next_out;
	void *buf[4];

	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		atomic_store(&r->head, starts[s]);
		atomic_store(&r->tail, starts[s]);
		r->prod_tail = starts[s];
		r->cons_head = starts[s];
		next_in = next_out = 1;
		for (unsigned int round = 0; round < 50; round++) {
			unsigned int want = 1 + round % 4, room = 4 - spsc_ring_count(r), n;

			for (unsigned int i = 0; i < want; i++)
				buf[i] = PTR(next_in + i);
			n = spsc_ring_enqueue_burst(r, buf, want);
			assert_int_equal(n, want < room ? want : room);
			next_in += n;
			n = spsc_ring_dequeue_burst(r, buf, 1 + round % 3);
			for (unsigned int i = 0; i < n; i++)
				assert_int_equal(NUM(buf[i]), next_out++);
			assert_true(spsc_ring_count(r) <= 4);
			assert_int_equal(spsc_ring_count(r), next_in - next_out);
		}
		while (spsc_ring_count(r)) {
			unsigned int n = spsc_ring_dequeue_burst(r, buf, 4);

			for (unsigned int i = 0; i < n; i++)
				assert_int_equal(NUM(buf[i]), next_out++);
		}
		assert_int_equal(next_out, next_in);
		assert_true(next_in > 60);
	}
	/* The indices did wrap past zero. */
	assert_true(atomic_load(&r->head) < starts[1]);
	spsc_ring_free(r);
}

/* Two threads */

#define STRESS_ITEMS (2u << 20)
#define STRESS_BURST 32

/**
 * struct stress_item - what travels: written by the producer right before it is enqueued
 * @seq:	its number
 * @check:	~@seq
 */
struct stress_item {
	uint64_t seq;
	uint64_t check;
};

struct stress {
	struct spsc_ring *r;
	struct stress_item *items;
	uint64_t bad;	     /* consumer: first item out of order or torn, +1; 0: none */
	_Atomic bool failed; /* the consumer gave up: the producer stops too */
};

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	void *burst[STRESS_BURST];
	uint32_t i = 0;

	while (i < STRESS_ITEMS) {
		/* Bursts of 1 to 32: every length crosses the wrap point at some time. */
		unsigned int want = 1 + (i * 7) % STRESS_BURST, n = 0;

		if (want > STRESS_ITEMS - i)
			want = STRESS_ITEMS - i;
		for (unsigned int k = 0; k < want; k++) {
			s->items[i + k].seq = i + k;
			s->items[i + k].check = ~(uint64_t)(i + k);
			burst[k] = &s->items[i + k];
		}
		while (n < want) {
			unsigned int got = spsc_ring_enqueue_burst(s->r, burst + n, want - n);

			if (!got && atomic_load_explicit(&s->failed, memory_order_relaxed))
				return NULL;
			if (!got)
				sched_yield();
			n += got;
		}
		i += want;
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *s = arg;
	void *burst[STRESS_BURST];
	uint64_t next = 0;

	while (next < STRESS_ITEMS) {
		unsigned int n = spsc_ring_dequeue_burst(s->r, burst, 1 + next % STRESS_BURST);

		if (!n)
			sched_yield();
		for (unsigned int k = 0; k < n; k++, next++) {
			const struct stress_item *it = burst[k];

			if (it != &s->items[next] || it->seq != next || it->check != ~next) {
				s->bad = next + 1;
				atomic_store_explicit(&s->failed, true, memory_order_relaxed);
				return NULL;
			}
		}
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct stress s = { .r = spsc_ring_new(256) };
	pthread_t prod, cons;

	assert_non_null(s.r);
	s.items = calloc(STRESS_ITEMS, sizeof(*s.items));
	assert_non_null(s.items);
	assert_int_equal(pthread_create(&cons, NULL, stress_consumer, &s), 0);
	assert_int_equal(pthread_create(&prod, NULL, stress_producer, &s), 0);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	assert_int_equal(s.bad, 0);
	assert_int_equal(spsc_ring_count(s.r), 0);
	assert_int_equal(atomic_load(&s.r->head), STRESS_ITEMS);
	free(s.items);
	spsc_ring_free(s.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_order_full_empty),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
