/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtq.h - one virtqueue (split or packed ring) walked by the device side.
 *
 * The vhost-user server starts a queue from the front end's vring parameters; the device pops
 * elements (descriptor chains mapped to host iovecs through guest memory), hands the iovecs to
 * its peer, pushes the used lengths, flushes the batch once and notifies the driver if the
 * driver asked for it. Anything malformed in the guest's rings breaks only this queue.
 */
#ifndef VWIRE_VIRTIO_VIRTQ_H
#define VWIRE_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/log.h"
#include "virtio/guest-mem.h"
#include "virtio/inflight.h"
#include "vwire/error.h"

struct vring_desc;
struct vring_avail;
struct vring_used;
struct vring_packed_desc;
struct vring_packed_desc_event;

/* Largest queue the spec allows (packed rings; split rings are also powers of two). */
#define VIRTQ_MAX_SIZE 32768

/*
 * Most host iovecs one element may need, both directions together. A 64 KiB TSO frame in 4 KiB
 * pages takes 17-18 descriptors plus the header; kernels built with a larger MAX_SKB_FRAGS use
 * up to 47; the rest covers buffers split where guest memory regions meet. A chain that needs
 * more breaks the queue.
 */
#define VIRTQ_MAX_IOV 64

/* Bytes one direction of one element may total (used lengths are 32 bits). */
#define VIRTQ_MAX_ELEM_LEN UINT32_MAX

/* Longest reason kept when a queue breaks. */
#define VIRTQ_REASON_LEN 128

/* Packed rings' base (&virtq_params.base): bit 15 of each 16-bit half is a wrap counter. */
#define VIRTQ_BASE_WRAP_BIT 0x8000U

/* Base of a packed ring nobody used yet: both positions 0, both wrap counters 1. */
#define VIRTQ_BASE_FRESH_PACKED 0x80008000U

/* Set in virtq_elem.flags when the element is a resubmitted inflight chain. */
#define VIRTQ_ELEM_F_RESUBMITTED 1

/**
 * struct virtq_elem - one popped descriptor chain
 * @id:		head descriptor index (split) or buffer id (packed), given back by virtq_push()
 * @ndescs:	ring slots the chain took (packed rings advance by this)
 * @out_num:	device-readable iovecs, at @iov[0 .. @out_num)
 * @in_num:	device-writable iovecs, at @iov[@out_num .. @out_num + @in_num)
 * @flags:	VIRTQ_ELEM_F_* (private to the queue)
 * @out_len:	total bytes of the readable iovecs
 * @in_len:	total bytes of the writable iovecs
 * @iov:	host iovecs, readable ones first (virtq_elem_in_iov() points at the rest)
 * @in_gpa:	guest-physical start of each writable iovec, for the dirty log
 *
 * About 1.6 KiB: the device keeps a small array of these for a batch, never allocates per packet.
 */
struct virtq_elem {
	uint16_t id;
	uint16_t ndescs;
	uint16_t out_num;
	uint16_t in_num;
	uint32_t flags;
	uint32_t out_len;
	uint32_t in_len;
	struct iovec iov[VIRTQ_MAX_IOV];
	uint64_t in_gpa[VIRTQ_MAX_IOV];
};

/**
 * struct virtq_params - what the front end said about a ring (SET_VRING_NUM/ADDR/BASE)
 * @num:		queue size: a power of two up to VIRTQ_MAX_SIZE (split), any 1..32768 (packed)
 * @desc_uva:		descriptor table / descriptor ring, front-end virtual address
 * @avail_uva:		available ring (split) or driver event suppression area (packed)
 * @used_uva:		used ring (split) or device event suppression area (packed)
 * @base:		split: next avail index to read; packed: bits 0-14 next avail slot, bit 15
 *			its wrap counter, bits 16-31 the same for the used side (QEMU's layout; all
 *			zero there means "same as the avail side", as DPDK sends it)
 * @features:		negotiated virtio features (VIRTIO_F_RING_PACKED, VIRTIO_RING_F_EVENT_IDX,
 *			VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_F_NOTIFY_ON_EMPTY are looked at)
 * @inflight:		this queue's inflight region (INFLIGHT_SHMFD), or NULL; split rings only
 * @inflight_size:	bytes mapped at @inflight
 */
struct virtq_params {
	unsigned int num;
	uint64_t desc_uva;
	uint64_t avail_uva;
	uint64_t used_uva;
	uint32_t base;
	uint64_t features;
	void *inflight;
	size_t inflight_size;
};

/**
 * struct virtq - one virtqueue, device side
 * @mem:		guest memory the ring and buffers live in
 * @index:		queue number, for log messages
 * @started:		between virtq_start() and virtq_stop()
 * @packed:		packed ring layout
 * @event_idx:		VIRTIO_RING_F_EVENT_IDX negotiated
 * @indirect:		VIRTIO_RING_F_INDIRECT_DESC negotiated
 * @notify_on_empty:	VIRTIO_F_NOTIFY_ON_EMPTY negotiated
 * @broken:		the guest broke the ring: no more pops or pushes until the next start
 * @broken_reported:	the device told the control socket (once per breakage)
 * @reason:		why, for the log and the control socket
 * @size:		queue size
 * @desc:		split descriptor table (host pointer)
 * @avail:		split available ring
 * @used:		split used ring
 * @pdesc:		packed descriptor ring
 * @driver_event:	packed driver event suppression (read by the device)
 * @device_event:	packed device event suppression (written by the device)
 * @desc_gpa:		guest-physical address of the descriptor table / ring (dirty log)
 * @used_gpa:		guest-physical address of the used ring / device event area (dirty log)
 * @last_avail_idx:	next avail index to read (split: free-running; packed: ring slot)
 * @shadow_avail_idx:	split: last avail->idx read, so it is re-read only when exhausted;
 *			packed: the slot where the last pop ended, left alone by unpop (once a
 *			pop finds the ring empty, the first descriptor never seen available)
 * @avail_wrap:		packed: wrap counter of @last_avail_idx
 * @shadow_avail_wrap:	packed: wrap counter of @shadow_avail_idx
 * @used_idx:		next used index to write (split: free-running; packed: ring slot)
 * @used_wrap:		packed: wrap counter of @used_idx
 * @published_idx:	split: used->idx last stored; packed: @used_idx at the last flush
 * @published_wrap:	packed: @used_wrap at the last flush
 * @pending:		elements pushed since the last flush
 * @batch_flags:	packed: flags of the first descriptor of the pending batch
 * @batch_slot:		packed: its slot
 * @signalled_idx:	used index when the driver was last considered for a notification
 * @signalled_wrap:	packed: wrap counter of @signalled_idx
 * @signalled_valid:	@signalled_idx means something (not right after start)
 * @notified_idx:	published index when the call eventfd was last written
 * @notified_wrap:	packed: its wrap counter
 * @notified_valid:	the call eventfd was written since the queue started
 * @notify_enabled:	device asked the driver for kicks (virtq_enable_notify())
 * @inflight:		inflight region, or NULL
 * @inflight_counter:	next pop order number
 * @resubmit:		heads to hand out again before new ones (allocated at start)
 * @resubmit_num:	entries in @resubmit
 * @resubmit_pos:	next one to hand out
 * @kick_fd:		eventfd the driver kicks (not owned), -1 if none
 * @call_fd:		eventfd the device signals (not owned), -1 if none
 * @rl:			rate limit of this queue's guest-caused log lines
 */
struct virtq {
	struct guest_mem *mem;
	unsigned int index;
	bool started;
	bool packed;
	bool event_idx;
	bool indirect;
	bool notify_on_empty;
	bool broken;
	bool broken_reported;
	char reason[VIRTQ_REASON_LEN];
	uint16_t size;

	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_event;
	struct vring_packed_desc_event *device_event;
	uint64_t desc_gpa;
	uint64_t used_gpa;

	uint16_t last_avail_idx;
	uint16_t shadow_avail_idx;
	bool avail_wrap;
	bool shadow_avail_wrap;
	uint16_t used_idx;
	bool used_wrap;
	uint16_t published_idx;
	bool published_wrap;
	uint16_t pending;
	uint16_t batch_flags;
	uint16_t batch_slot;
	uint16_t signalled_idx;
	bool signalled_wrap;
	bool signalled_valid;
	uint16_t notified_idx;
	bool notified_wrap;
	bool notified_valid;
	bool notify_enabled;

	struct inflight_split_region *inflight;
	uint64_t inflight_counter;
	uint16_t *resubmit;
	unsigned int resubmit_num;
	unsigned int resubmit_pos;

	int kick_fd;
	int call_fd;
	struct log_ratelimit rl;
};

/**
 * virtq_init() - set up a stopped queue
 * @vq:		the queue
 * @mem:	guest memory its rings and buffers will live in
 * @index:	queue number, for log messages
 */
void virtq_init(struct virtq *vq, struct guest_mem *mem, unsigned int index);

/**
 * virtq_start() - map the rings and start the queue
 * @vq:		a stopped queue
 * @p:		the front end's vring parameters
 * @err:	filled on failure (may be NULL)
 *
 * Every ring must fit, correctly aligned, in one guest memory region. With an inflight region,
 * chains the previous back end left in flight are handed out again, in their pop order, before
 * new ones (and the avail index restarts after them).
 *
 * Return: 0; -EINVAL (bad size, features, inflight region), -EFAULT (a ring outside guest
 *	   memory: the queue is then also marked broken), -ENOMEM
 */
int virtq_start(struct virtq *vq, const struct virtq_params *p, struct error *err);

/**
 * virtq_stop() - flush what was pushed and stop the queue; fds stay as they are
 * @vq: the queue
 */
void virtq_stop(struct virtq *vq);

/**
 * virtq_get_base() - the index to answer GET_VRING_BASE with (same layout as &virtq_params.base)
 * @vq: the queue
 *
 * Return: the base
 */
uint32_t virtq_get_base(const struct virtq *vq);

/**
 * virtq_set_kick_fd() - the eventfd the driver kicks (the caller keeps owning it)
 * @vq:	the queue
 * @fd:	the eventfd, or -1
 */
void virtq_set_kick_fd(struct virtq *vq, int fd);

/**
 * virtq_set_call_fd() - the eventfd virtq_notify() signals (the caller keeps owning it)
 * @vq:	the queue
 * @fd:	the eventfd, or -1
 */
void virtq_set_call_fd(struct virtq *vq, int fd);

/**
 * virtq_kick_clear() - read (and so reset) the kick eventfd; call it from its read handler
 * @vq: the queue
 *
 * Return: 0, or -EPIPE when the fd hung up (end of file or an error): stop watching it
 */
int virtq_kick_clear(struct virtq *vq);

/**
 * virtq_break() - mark the queue broken by the guest: no more pops or pushes until restarted
 * @vq:		the queue
 * @fmt:	why, printf-style (kept in @vq->reason and logged at a rate limit)
 *
 * Return: -EIO
 */
int virtq_break(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * virtq_pop() - take the next available chain
 * @vq:		the queue
 * @elem:	filled with the chain's iovecs
 *
 * Every descriptor is checked (addresses inside guest memory, lengths, chain length, indirect
 * tables, readable before writable); a violation breaks the queue.
 *
 * Return: 1 (@elem filled), 0 (nothing available, or the queue is stopped), -EIO (broken)
 */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/**
 * virtq_pop_burst() - take up to @max available chains at once
 * @vq:		the queue
 * @elems:	filled with the chains' iovecs
 * @max:	room in @elems
 *
 * As virtq_pop() repeated, the avail index read once (split rings); the descriptors are
 * prefetched, and the first buffer of each chain (for writing when the chain has only
 * writable ones).
 *
 * Return: chains taken: fewer when the ring ran empty or broke (see @vq->broken), and at
 *	   most 64 at a time from a split ring
 */
unsigned int virtq_pop_burst(struct virtq *vq, struct virtq_elem *elems, unsigned int max);

/**
 * virtq_avail_count() - how many chains a pop would find now, counting up to @max
 * @vq:		the queue
 * @max:	most to count
 *
 * Return: the count (0 for a stopped or broken queue)
 */
unsigned int virtq_avail_count(struct virtq *vq, unsigned int max);

/**
 * virtq_unpop() - give back the last popped element (e.g. rx without room for the frame)
 * @vq:		the queue
 * @elem:	that element, not pushed
 *
 * Several elements are given back in the reverse order they were popped. A later
 * virtq_enable_notify() still asks for a kick for the buffers after them, not for them.
 */
void virtq_unpop(struct virtq *vq, const struct virtq_elem *elem);

/**
 * virtq_push() - record @elem as used with @len bytes written; visible after virtq_flush()
 * @vq:		the queue
 * @elem:	an element popped from @vq
 * @len:	bytes the device wrote into its writable iovecs
 *
 * Pushing N elements (a mergeable rx frame, a tx batch) then flushing once is the intended use.
 */
void virtq_push(struct virtq *vq, const struct virtq_elem *elem, uint32_t len);

/**
 * virtq_push_burst() - virtq_push() for each of @n elements
 * @vq:		the queue
 * @elems:	elements popped from @vq, in the order to record them
 * @n:		how many
 * @lens:	bytes the device wrote into each, or NULL when it wrote none (tx)
 */
void virtq_push_burst(struct virtq *vq, const struct virtq_elem *elems, unsigned int n,
		      const uint32_t *lens);

/**
 * virtq_flush() - publish every element pushed since the last flush
 * @vq: the queue
 */
void virtq_flush(struct virtq *vq);

/**
 * virtq_notify() - signal the call eventfd if the driver wants to hear about what was flushed
 * @vq: the queue
 *
 * Return: true if the eventfd was signalled
 */
bool virtq_notify(struct virtq *vq);

/**
 * virtq_notify_missed() - signal the call eventfd if the driver now asks for a notification
 *			   about used buffers published since the eventfd was last written
 * @vq: the queue
 *
 * For a notification lost because the driver's request (used_event, or its flags) and our
 * used index crossed on their way between CPUs: a second look, some time after
 * virtq_notify() said no, sees what the driver asked for.
 *
 * Return: true if the eventfd was signalled
 */
bool virtq_notify_missed(struct virtq *vq);

/**
 * virtq_disable_notify() - tell the driver the device is polling: no kicks needed
 * @vq: the queue
 */
void virtq_disable_notify(struct virtq *vq);

/**
 * virtq_enable_notify() - ask the driver to kick again, then look once more
 * @vq: the queue
 *
 * A buffer made available just before the request is seen here, so no kick is lost: when this
 * returns true, disable notifications and pop again.
 *
 * Return: true if buffers are available
 */
bool virtq_enable_notify(struct virtq *vq);

/**
 * virtq_empty() - whether no buffer is available (re-reads the ring only if needed)
 * @vq: the queue
 *
 * Return: true if a pop would return 0 (or the queue is stopped or broken)
 */
bool virtq_empty(struct virtq *vq);

/**
 * virtq_log_in_iov() - mark the first @len bytes of @elem's writable iovecs dirty
 * @vq:		the queue
 * @elem:	an element popped from @vq
 * @len:	bytes the device wrote
 *
 * Call before virtq_push() for data written into the guest; no-op when logging is off.
 */
void virtq_log_in_iov(const struct virtq *vq, const struct virtq_elem *elem, uint32_t len);

/**
 * virtq_elem_in_iov() - the writable iovecs of @elem
 * @elem: a popped element
 *
 * Return: pointer to @elem->in_num iovecs
 */
static inline struct iovec *virtq_elem_in_iov(struct virtq_elem *elem)
{
	return elem->iov + elem->out_num;
}

#endif
