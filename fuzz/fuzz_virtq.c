// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_virtq.c - libFuzzer harness for the virtqueue: the input becomes a ring's parameters,
 * an optional inflight region and the bytes of guest memory (two regions, memfd-backed); the
 * harness then plays the device: pops (one by one or in bursts) until empty or broken, writes
 * into every writable iovec, pushes (one by one or in bursts), gives back, flushes and
 * notifies. Every iovec must lie inside a guest region.
 *
 * Input: [0] flags (FUZZ_F_*), [1] queue size selector, [2..5] base, [6] desc offset,
 * [7] avail/used offset, [8..11] device decisions seed, then the inflight region (if flagged),
 * then guest memory from its first byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "core/log.h"
#include "virtio/guest-mem.h"
#include "virtio/virtq.h"

#define FUZZ_F_PACKED 0x01
#define FUZZ_F_EVENT_IDX 0x02
#define FUZZ_F_INDIRECT 0x04
#define FUZZ_F_INFLIGHT 0x08
#define FUZZ_F_NOTIFY_ON_EMPTY 0x10

#define FUZZ_HDR 12
#define FUZZ_MAX_NUM 256
#define FUZZ_BATCH 8

/* Region A holds the rings at fixed offsets; region B follows it in guest-physical space. */
#define FUZZ_GPA_A 0x10000ULL
#define FUZZ_SIZE_A 0x10000ULL
#define FUZZ_UVA_A 0x7f0000010000ULL
#define FUZZ_GPA_B (FUZZ_GPA_A + FUZZ_SIZE_A)
#define FUZZ_SIZE_B 0x1000ULL
#define FUZZ_UVA_B 0x7f4000000000ULL
#define FUZZ_AVAIL_OFF 0x1000ULL
#define FUZZ_USED_OFF 0x2000ULL

static struct guest_mem fuzz_mem;
static uint8_t *fuzz_host_a, *fuzz_host_b;
static int fuzz_call_fd = -1;
static struct virtq_elem fuzz_elems[FUZZ_BATCH];

/* Inaccessible bytes on each side of a region: a read past a ring (an index check gone) is
 * at most 64 Ki descriptors (1 MiB) away. */
#define FUZZ_GUARD (2ULL << 20)

/* Move a region's mapping between two guard areas, so that overruns fault instead of reading
 * whatever mapping the kernel placed next to it (the harness owns this guest_mem). */
static void fuzz_guard_region(struct guest_mem_region *r)
{
	uint8_t *res, *p;

	res = mmap(NULL, r->mmap_size + 2 * FUZZ_GUARD, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		abort();
	p = mremap(r->mmap_addr, r->mmap_size, r->mmap_size, MREMAP_MAYMOVE | MREMAP_FIXED,
		   res + FUZZ_GUARD);
	if (p == MAP_FAILED)
		abort();
	r->host_addr = p + (r->host_addr - (uint8_t *)r->mmap_addr);
	r->mmap_addr = p;
}

static void fuzz_setup(void)
{
	uint64_t len;
	int fd_a, fd_b, fd_log;

	fd_a = memfd_create("fuzz-virtq-a", 0);
	fd_b = memfd_create("fuzz-virtq-b", 0);
	fd_log = memfd_create("fuzz-virtq-log", 0);
	if (fd_a < 0 || fd_b < 0 || fd_log < 0 || ftruncate(fd_a, FUZZ_SIZE_A) < 0 ||
	    ftruncate(fd_b, FUZZ_SIZE_B) < 0 || ftruncate(fd_log, 4096) < 0)
		abort();
	if (guest_mem_add_region(&fuzz_mem, fd_a, FUZZ_GPA_A, FUZZ_SIZE_A, FUZZ_UVA_A, 0) < 0 ||
	    guest_mem_add_region(&fuzz_mem, fd_b, FUZZ_GPA_B, FUZZ_SIZE_B, FUZZ_UVA_B, 0) < 0 ||
	    guest_mem_set_log(&fuzz_mem, fd_log, 4096, 0) < 0)
		abort();
	fuzz_guard_region(&fuzz_mem.regions[0]);
	fuzz_guard_region(&fuzz_mem.regions[1]);
	close(fd_a);
	close(fd_b);
	close(fd_log);
	len = FUZZ_SIZE_A;
	fuzz_host_a = guest_mem_translate(&fuzz_mem, FUZZ_GPA_A, &len);
	len = FUZZ_SIZE_B;
	fuzz_host_b = guest_mem_translate(&fuzz_mem, FUZZ_GPA_B, &len);
	fuzz_call_fd = eventfd(0, EFD_NONBLOCK);
	if (!fuzz_host_a || !fuzz_host_b || fuzz_call_fd < 0)
		abort();
	log_set_level(LOG_LEVEL_ERROR);
}

static bool fuzz_inside(const void *p, size_t len)
{
	uintptr_t b = (uintptr_t)p, a = (uintptr_t)fuzz_host_a, c = (uintptr_t)fuzz_host_b;

	return (b >= a && len <= FUZZ_SIZE_A && b - a <= FUZZ_SIZE_A - len) ||
	       (b >= c && len <= FUZZ_SIZE_B && b - c <= FUZZ_SIZE_B - len);
}

/* The oracle: whatever the ring says, every iovec is inside guest memory; then use them. */
static void fuzz_check_elem(struct virtq *vq, struct virtq_elem *elem)
{
	unsigned int i, n = elem->out_num + elem->in_num;
	uint64_t out = 0, in = 0;

	if (n > VIRTQ_MAX_IOV)
		abort();
	for (i = 0; i < n; i++) {
		if (!fuzz_inside(elem->iov[i].iov_base, elem->iov[i].iov_len) ||
		    !elem->iov[i].iov_len)
			abort();
		if (i < elem->out_num)
			out += elem->iov[i].iov_len;
		else
			in += elem->iov[i].iov_len;
	}
	if (out != elem->out_len || in != elem->in_len)
		abort();
	for (i = elem->out_num; i < n; i++)
		memset(elem->iov[i].iov_base, 0xa5, elem->iov[i].iov_len);
	virtq_log_in_iov(vq, elem, elem->in_len);
}

static uint32_t fuzz_next(uint32_t *seed)
{
	*seed = *seed * 1103515245U + 12345U;
	return *seed >> 16;
}

/* Push what is held, one by one or as a burst (the seed decides), and publish it. */
static void fuzz_push_all(struct virtq *vq, unsigned int *held, uint32_t *seed)
{
	uint32_t lens[FUZZ_BATCH];
	bool burst = fuzz_next(seed) % 2;
	unsigned int i;

	for (i = 0; i < *held; i++) {
		lens[i] = fuzz_elems[i].in_len ? fuzz_next(seed) % (fuzz_elems[i].in_len + 1) : 0;
		if (!burst)
			virtq_push(vq, &fuzz_elems[i], lens[i]);
	}
	if (burst)
		virtq_push_burst(vq, fuzz_elems, *held, lens);
	*held = 0;
	virtq_flush(vq);
	virtq_notify(vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq_params p = { 0 };
	struct virtq vq;
	uint8_t flags;
	uint32_t seed, base;
	unsigned int num, held = 0, iter, limit;
	void *inflight = NULL;
	size_t inflight_size = 0;
	uint64_t v;
	int ret;

	if (!fuzz_host_a)
		fuzz_setup();
	if (size < FUZZ_HDR)
		return 0;

	flags = data[0];
	if (flags & FUZZ_F_PACKED)
		num = (unsigned int)data[1] % FUZZ_MAX_NUM + 1;
	else
		num = 1U << (data[1] % 9);
	memcpy(&base, data + 2, sizeof(base));
	memcpy(&seed, data + 8, sizeof(seed));

	p.num = num;
	p.base = base;
	p.desc_uva = FUZZ_UVA_A + (data[6] & 0x3f);
	p.avail_uva = FUZZ_UVA_A + FUZZ_AVAIL_OFF + (data[7] & 0x7);
	p.used_uva = FUZZ_UVA_A + FUZZ_USED_OFF + ((data[7] >> 3) & 0x7);
	p.features = 1ULL << VIRTIO_F_VERSION_1;
	if (flags & FUZZ_F_PACKED)
		p.features |= 1ULL << VIRTIO_F_RING_PACKED;
	if (flags & FUZZ_F_EVENT_IDX)
		p.features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (flags & FUZZ_F_INDIRECT)
		p.features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (flags & FUZZ_F_NOTIFY_ON_EMPTY)
		p.features |= 1ULL << VIRTIO_F_NOTIFY_ON_EMPTY;
	data += FUZZ_HDR;
	size -= FUZZ_HDR;

	if (flags & FUZZ_F_INFLIGHT) {
		/* Exactly the bytes the region needs, on the heap, so ASan sees any overrun. */
		inflight_size = sizeof(struct inflight_split_region) +
				num * sizeof(struct inflight_split_desc);
		inflight = calloc(1, inflight_size);
		if (!inflight)
			abort();
		memcpy(inflight, data, size < inflight_size ? size : inflight_size);
		data += size < inflight_size ? size : inflight_size;
		size -= size < inflight_size ? size : inflight_size;
		p.inflight = inflight;
		p.inflight_size = inflight_size;
	}

	memset(fuzz_host_a, 0, FUZZ_SIZE_A);
	memset(fuzz_host_b, 0, FUZZ_SIZE_B);
	memcpy(fuzz_host_a, data, size < FUZZ_SIZE_A ? size : FUZZ_SIZE_A);
	if (size > FUZZ_SIZE_A)
		memcpy(fuzz_host_b, data + FUZZ_SIZE_A,
		       size - FUZZ_SIZE_A < FUZZ_SIZE_B ? size - FUZZ_SIZE_A : FUZZ_SIZE_B);

	virtq_init(&vq, &fuzz_mem, 0);
	virtq_set_call_fd(&vq, fuzz_call_fd);
	if (virtq_start(&vq, &p, NULL) < 0) {
		if (virtq_pop(&vq, &fuzz_elems[0]) > 0)
			abort();
		free(inflight);
		return 0;
	}
	if (vq.packed ? !fuzz_inside(vq.pdesc, num * 16ULL) || !fuzz_inside(vq.device_event, 4)
		      : !fuzz_inside(vq.desc, num * 16ULL) || !fuzz_inside(vq.used, 4 + num * 8ULL))
		abort();

	/* As a device does: no kicks while we process; more iterations than the ring holds. */
	virtq_disable_notify(&vq);
	limit = 4 * num + 16;
	for (iter = 0; iter < limit; iter++) {
		/* Sometimes a burst: it reads the avail ring its own way. */
		if (held < FUZZ_BATCH - 1 && fuzz_next(&seed) % 2) {
			unsigned int want = 1 + fuzz_next(&seed) % (FUZZ_BATCH - held);
			unsigned int got = virtq_pop_burst(&vq, &fuzz_elems[held], want);

			for (unsigned int i = 0; i < got; i++)
				fuzz_check_elem(&vq, &fuzz_elems[held + i]);
			held += got;
			if (vq.broken) {
				if (!vq.reason[0])
					abort();
				break;
			}
			if (!got || held == FUZZ_BATCH)
				fuzz_push_all(&vq, &held, &seed);
			if (!got) {
				if (!virtq_enable_notify(&vq))
					break;
				virtq_disable_notify(&vq);
			}
			continue;
		}
		ret = virtq_pop(&vq, &fuzz_elems[held]);
		if (ret < 0) {
			if (!vq.broken || !vq.reason[0])
				abort();
			break;
		}
		if (ret == 0) {
			fuzz_push_all(&vq, &held, &seed);
			if (!virtq_enable_notify(&vq))
				break;
			virtq_disable_notify(&vq);
			continue;
		}
		fuzz_check_elem(&vq, &fuzz_elems[held]);
		if (fuzz_next(&seed) % 8 == 0) {
			virtq_unpop(&vq, &fuzz_elems[held]);
			continue;
		}
		if (++held == FUZZ_BATCH || fuzz_next(&seed) % 4 == 0)
			fuzz_push_all(&vq, &held, &seed);
	}
	fuzz_push_all(&vq, &held, &seed);
	virtq_get_base(&vq);
	virtq_stop(&vq);
	free(inflight);
	(void)!read(fuzz_call_fd, &v, sizeof(v));
	return 0;
}
