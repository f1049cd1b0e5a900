// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spsc-ring.c - making and freeing single-producer single-consumer rings; the enqueue and
 * dequeue paths are inline in spsc-ring.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/spsc-ring.h"

struct spsc_ring *spsc_ring_new(unsigned int size)
{
	struct spsc_ring *r;

	if (size < 2 || size > SPSC_RING_MAX_SIZE || (size & (size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	/* aligned_alloc wants a multiple of the alignment; the struct's size is one. */
	r = aligned_alloc(SPSC_RING_CACHE_LINE, sizeof(*r));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->slots = calloc(size, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->size = size;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return r;
}

void spsc_ring_free(struct spsc_ring *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}
