/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest-mem.h - guest memory mapped from the front end's fds: the one door every guest
 * address goes through.
 *
 * The vhost-user server adds regions (SET_MEM_TABLE, ADD_MEM_REG); ring code translates
 * guest-physical addresses (descriptors) and front-end virtual addresses (ring locations)
 * into host pointers, always with the length usable from there. When the dirty log is on,
 * every write into guest memory is recorded with guest_mem_log_write().
 */
#ifndef VWIRE_VIRTIO_GUEST_MEM_H
#define VWIRE_VIRTIO_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct mem_guard;

/* The most regions a front end may map (VHOST_USER_GET_MAX_MEM_SLOTS answers this). */
#define GUEST_MEM_MAX_REGIONS 32

/*
 * Most bytes all regions of one guest may span together (16 TiB). Mappings cost address space,
 * not memory, and a regular file's regions are already held to the file's size; this bounds
 * what one front end can make the daemon map from fds of other kinds (or sparse files), so
 * that several guests still fit in a 47-bit address space.
 */
#define GUEST_MEM_MAX_TOTAL_SIZE (1ULL << 44)

/* Dirty log granularity, as the vhost-user spec fixes it. */
#define GUEST_MEM_LOG_PAGE 4096

/**
 * struct guest_mem_region - one mapped region
 * @guest_phys_addr:	guest-physical start
 * @size:		length in bytes
 * @user_addr:		start in the front end's virtual address space
 * @mmap_offset:	offset of the region in the fd
 * @mmap_addr:		host address of the mapping (the region starts at + @mmap_offset)
 * @mmap_size:		length of the mapping
 * @host_addr:		host address of the region's first byte
 */
struct guest_mem_region {
	uint64_t guest_phys_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
	void *mmap_addr;
	size_t mmap_size;
	uint8_t *host_addr;
};

/**
 * struct guest_mem - the regions of one guest, and its dirty log
 * @regions:	sorted by guest_phys_addr, non-overlapping
 * @nregions:	how many
 * @log:	dirty bitmap shared with the front end (NULL: logging off)
 * @log_size:	its length in bytes
 * @log_mmap:	the mapping that holds it
 * @log_mmap_size: that mapping's length
 * @guard:	owner of the mappings for the SIGBUS handler (NULL: not guarded), kept by
 *		guest_mem_clear()
 */
struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nregions;
	uint8_t *log;
	uint64_t log_size;
	void *log_mmap;
	size_t log_mmap_size;
	struct mem_guard *guard;
};

/**
 * guest_mem_add_region() - map @fd and add a region
 * @m:			the guest's memory
 * @fd:			the front end's fd (not taken: the caller closes it)
 * @guest_phys_addr:	guest-physical start
 * @size:		length
 * @user_addr:		front-end virtual start
 * @mmap_offset:	offset in @fd
 *
 * Return: 0, -EINVAL (zero size, overflow, overlaps another region), -ENOSPC (already
 *	   GUEST_MEM_MAX_REGIONS regions), -EFBIG (the regions would span more than
 *	   GUEST_MEM_MAX_TOTAL_SIZE), or the mmap error
 */
int guest_mem_add_region(struct guest_mem *m, int fd, uint64_t guest_phys_addr, uint64_t size,
			 uint64_t user_addr, uint64_t mmap_offset);

/**
 * guest_mem_remove_region() - unmap the region that matches exactly
 * @m:			the guest's memory
 * @guest_phys_addr:	its start
 * @size:		its length
 *
 * Return: 0 or -ENOENT
 */
int guest_mem_remove_region(struct guest_mem *m, uint64_t guest_phys_addr, uint64_t size);

/**
 * guest_mem_clear() - unmap every region and the log (@m->guard stays)
 * @m: the guest's memory
 */
void guest_mem_clear(struct guest_mem *m);

/**
 * guest_mem_translate() - host pointer for a guest-physical address
 * @m:		the guest's memory
 * @gpa:	guest-physical address
 * @len:	in: bytes wanted; out: bytes contiguous from the returned pointer (<= wanted)
 *
 * Return: the host pointer, or NULL if @gpa is in no region (or *@len was 0)
 */
void *guest_mem_translate(const struct guest_mem *m, uint64_t gpa, uint64_t *len);

/**
 * guest_mem_translate_uva() - host pointer for a front-end virtual address (ring addresses)
 * @m:		the guest's memory
 * @uva:	front-end virtual address
 * @len:	in: bytes wanted; out: contiguous bytes available (<= wanted)
 *
 * Return: the host pointer, or NULL
 */
void *guest_mem_translate_uva(const struct guest_mem *m, uint64_t uva, uint64_t *len);

/**
 * guest_mem_uva_to_gpa() - guest-physical address for a front-end virtual address
 * @m:		the guest's memory
 * @uva:	front-end virtual address
 * @gpa:	the result
 *
 * Return: 0 or -EFAULT
 */
int guest_mem_uva_to_gpa(const struct guest_mem *m, uint64_t uva, uint64_t *gpa);

/**
 * guest_mem_map_iov() - the iovecs covering [@gpa, @gpa + @len), split at region borders
 * @m:		the guest's memory
 * @gpa:	start
 * @len:	length
 * @iov:	out
 * @max_iov:	room in @iov
 *
 * Return: entries used, -EFAULT if any byte is outside guest memory, -ENOBUFS if more than
 *	   @max_iov entries would be needed
 */
int guest_mem_map_iov(const struct guest_mem *m, uint64_t gpa, uint64_t len, struct iovec *iov,
		      int max_iov);

/**
 * guest_mem_set_log() - map the dirty log the front end sent (SET_LOG_BASE)
 * @m:		the guest's memory
 * @fd:		the log's fd (not taken)
 * @size:	bitmap length in bytes
 * @offset:	offset of the bitmap in @fd
 *
 * Return: 0 or a negative errno
 */
int guest_mem_set_log(struct guest_mem *m, int fd, uint64_t size, uint64_t offset);

/**
 * guest_mem_log_write() - mark [@gpa, @gpa + @len) dirty if logging is on (atomic OR)
 * @m:		the guest's memory
 * @gpa:	start
 * @len:	length
 */
void guest_mem_log_write(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/**
 * guest_mem_map_one() - the host iovec of [@gpa, @gpa + @len) when it lies inside one region:
 *			 guest_mem_map_iov()'s common case, inline for the rings' hot path
 * @m:		the guest's memory
 * @gpa:	guest-physical start
 * @len:	length
 * @iov:	out
 *
 * Return: true with @iov filled, or false (outside memory, or across regions: use
 *	   guest_mem_map_iov())
 */
static inline bool guest_mem_map_one(const struct guest_mem *m, uint64_t gpa, uint64_t len,
				     struct iovec *iov)
{
	for (unsigned int i = 0; i < m->nregions; i++) {
		const struct guest_mem_region *r = &m->regions[i];
		uint64_t off = gpa - r->guest_phys_addr;

		if (off < r->size && len <= r->size - off) {
			iov->iov_base = r->host_addr + off;
			iov->iov_len = (size_t)len;
			return true;
		}
	}
	return false;
}

#endif
