/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inflight.h - the inflight I/O tracking buffer (vhost-user INFLIGHT_SHMFD) as the spec lays
 * it out: one region per ring, queue after queue, each rounded up to INFLIGHT_ALIGN. The
 * vhost-user server allocates, initialises and maps it (handlers.c); the split ring code
 * records pops and pushes in it and resubmits what a previous back end left in flight.
 */
#ifndef VWIRE_VIRTIO_INFLIGHT_H
#define VWIRE_VIRTIO_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alignment of each ring's region in the shared buffer, as front and back ends use it. */
#define INFLIGHT_ALIGN 64

/* Layout version written in a region the back end initialises (0: nobody did yet). */
#define INFLIGHT_VERSION 1

/**
 * struct inflight_split_desc - per-descriptor inflight state (vhost-user DescStateSplit)
 * @inflight:	1 while the chain headed here is popped and not yet used
 * @padding:	as the spec lays it out
 * @next:	link in the list of the last batch of used heads
 * @counter:	pop order, to resubmit in the order the driver made buffers available
 */
struct inflight_split_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

/**
 * struct inflight_split_region - one split ring's region (vhost-user QueueRegionSplit)
 * @features:		0 for now
 * @version:		INFLIGHT_VERSION, 0 for a region nobody initialised yet
 * @desc_num:		entries in @desc, the queue size
 * @last_batch_head:	head of the list of the last batch of used heads
 * @used_idx:		used->idx once the last batch was fully recorded
 * @desc:		state per descriptor index
 */
struct inflight_split_region {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct inflight_split_desc desc[];
};

/**
 * struct inflight_packed_desc - per-descriptor inflight state (vhost-user DescStatePacked)
 * @inflight:	set while the head descriptor is being processed
 * @padding:	zero
 * @next:	next free entry
 * @last:	last entry of the descriptor chain (head only)
 * @num:	chain length (head only)
 * @counter:	order in which heads were fetched
 * @id:		buffer id
 * @flags:	descriptor flags
 * @len:	buffer length
 * @addr:	buffer address
 */
struct inflight_packed_desc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

/**
 * struct inflight_packed_region - one packed ring's region (vhost-user QueueRegionPacked)
 * @features:			zero
 * @version:			INFLIGHT_VERSION (0: not initialised)
 * @desc_num:			entries in @desc (the ring size)
 * @free_head:			head of the free entry list
 * @old_free_head:		its value at the last completed batch
 * @used_idx:			device ring index
 * @old_used_idx:		its value at the last completed batch
 * @used_wrap_counter:		device ring wrap counter
 * @old_used_wrap_counter:	its value at the last completed batch
 * @padding:			zero
 * @desc:			one per descriptor
 */
struct inflight_packed_region {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct inflight_packed_desc desc[];
};

/* The buffer is shared with the front end: its layout is the vhost-user spec's. */
_Static_assert(sizeof(struct inflight_split_desc) == 16, "DescStateSplit layout");
_Static_assert(offsetof(struct inflight_split_region, desc) == 16, "QueueRegionSplit layout");
_Static_assert(sizeof(struct inflight_packed_desc) == 32, "DescStatePacked layout");
_Static_assert(offsetof(struct inflight_packed_region, desc) == 32, "QueueRegionPacked layout");

/**
 * inflight_region_size() - bytes one ring's region takes in the buffer (rounded up so that
 *			    the next ring's region follows it)
 * @num:	ring entries
 * @packed:	packed (true) or split ring layout
 *
 * Return: the size, a multiple of INFLIGHT_ALIGN
 */
static inline size_t inflight_region_size(unsigned int num, bool packed)
{
	size_t size = packed ? sizeof(struct inflight_packed_region) +
				   (size_t)num * sizeof(struct inflight_packed_desc)
			     : sizeof(struct inflight_split_region) +
				   (size_t)num * sizeof(struct inflight_split_desc);

	return (size + INFLIGHT_ALIGN - 1) & ~(size_t)(INFLIGHT_ALIGN - 1);
}

#endif
