// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guest-mem.c - the guest's memory, mapped from the fds the vhost-user front end sends.
 *
 * Regions come in through guest_mem_add_region() (checked for wrap-around, overlap and for
 * lying about the file's size), are kept sorted by guest-physical address, and leave only
 * through guest_mem_remove_region() or guest_mem_clear(). Ring code reaches guest bytes only
 * through the translate functions, which always say how many bytes are usable from the
 * pointer they return. Writes the device makes are recorded in the dirty log with atomic ORs.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/guest-mem.h"
#include "virtio/mem-guard.h"

/* Largest st_blksize honoured when rounding a mapping up (hugetlbfs reports its page size). */
#define GUEST_MEM_MAX_ALIGN (1ULL << 30)

/**
 * guest_mem_range_end() - last byte of [@start, @start + @size), unless it wraps
 * @start:	first byte
 * @size:	length, not 0
 * @last:	the last byte
 *
 * Return: true if the range fits in 64 bits
 */
static bool guest_mem_range_end(uint64_t start, uint64_t size, uint64_t *last)
{
	if (!size || size - 1 > UINT64_MAX - start)
		return false;
	*last = start + size - 1;
	return true;
}

/**
 * guest_mem_overlaps() - whether two ranges given by first and last byte share a byte
 * @a:		first byte of the first range
 * @a_last:	its last byte
 * @b:		first byte of the second range
 * @b_last:	its last byte
 *
 * Return: true if they overlap
 */
static bool guest_mem_overlaps(uint64_t a, uint64_t a_last, uint64_t b, uint64_t b_last)
{
	return a <= b_last && b <= a_last;
}

/**
 * guest_mem_map_size() - length of the mapping for @end bytes of @fd, checked against its size
 * @fd:		the front end's fd
 * @end:	offset of the last byte needed, plus one
 * @map_size:	the length to map (rounded up to the file's block size)
 *
 * A region that claims more bytes than a regular file holds would fault (SIGBUS) when the
 * device touches them, so it is refused here. A file shrunk later is mem-guard.c's business.
 *
 * Return: 0, -EINVAL or the fstat error
 */
static int guest_mem_map_size(int fd, uint64_t end, size_t *map_size)
{
	uint64_t align = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && (st.st_size < 0 || end > (uint64_t)st.st_size))
		return -EINVAL;
	if (st.st_blksize > 0 && (uint64_t)st.st_blksize <= GUEST_MEM_MAX_ALIGN &&
	    !(st.st_blksize & (st.st_blksize - 1)) && (uint64_t)st.st_blksize > align)
		align = (uint64_t)st.st_blksize;
	if (end > UINT64_MAX - (align - 1))
		return -EINVAL;
	end = (end + align - 1) & ~(align - 1);
	if ((uint64_t)(size_t)end != end)
		return -EINVAL;
	*map_size = (size_t)end;
	return 0;
}

int guest_mem_add_region(struct guest_mem *m, int fd, uint64_t guest_phys_addr, uint64_t size,
			 uint64_t user_addr, uint64_t mmap_offset)
{
	uint64_t gpa_last, uva_last, off_last, total;
	struct guest_mem_region *r;
	size_t map_size;
	unsigned int i, pos;
	void *p;
	int ret;

	if (!guest_mem_range_end(guest_phys_addr, size, &gpa_last) ||
	    !guest_mem_range_end(user_addr, size, &uva_last) ||
	    !guest_mem_range_end(mmap_offset, size, &off_last) || off_last == UINT64_MAX)
		return -EINVAL;

	for (i = 0; i < m->nregions; i++) {
		r = &m->regions[i];
		if (guest_mem_overlaps(guest_phys_addr, gpa_last, r->guest_phys_addr,
				       r->guest_phys_addr + r->size - 1) ||
		    guest_mem_overlaps(user_addr, uva_last, r->user_addr,
				       r->user_addr + r->size - 1))
			return -EINVAL;
	}
	if (m->nregions >= GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	total = size;
	for (i = 0; i < m->nregions; i++)
		total += m->regions[i].size;
	if (size > GUEST_MEM_MAX_TOTAL_SIZE || total > GUEST_MEM_MAX_TOTAL_SIZE)
		return -EFBIG;

	ret = guest_mem_map_size(fd, off_last + 1, &map_size);
	if (ret < 0)
		return ret;
	p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	ret = mem_guard_add(m->guard, p, map_size, "guest memory");
	if (ret < 0) {
		munmap(p, map_size);
		return ret;
	}

	for (pos = 0; pos < m->nregions; pos++)
		if (m->regions[pos].guest_phys_addr > guest_phys_addr)
			break;
	memmove(&m->regions[pos + 1], &m->regions[pos],
		(m->nregions - pos) * sizeof(m->regions[0]));
	r = &m->regions[pos];
	r->guest_phys_addr = guest_phys_addr;
	r->size = size;
	r->user_addr = user_addr;
	r->mmap_offset = mmap_offset;
	r->mmap_addr = p;
	r->mmap_size = map_size;
	r->host_addr = (uint8_t *)p + mmap_offset;
	m->nregions++;
	return 0;
}

int guest_mem_remove_region(struct guest_mem *m, uint64_t guest_phys_addr, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		struct guest_mem_region *r = &m->regions[i];

		if (r->guest_phys_addr != guest_phys_addr || r->size != size)
			continue;
		mem_guard_remove(m->guard, r->mmap_addr);
		munmap(r->mmap_addr, r->mmap_size);
		memmove(r, r + 1, (m->nregions - i - 1) * sizeof(*r));
		m->nregions--;
		memset(&m->regions[m->nregions], 0, sizeof(*r));
		return 0;
	}
	return -ENOENT;
}

/**
 * guest_mem_unmap_log() - unmap the dirty log, if any
 * @m: the guest's memory
 */
static void guest_mem_unmap_log(struct guest_mem *m)
{
	if (!m->log_mmap)
		return;
	mem_guard_remove(m->guard, m->log_mmap);
	munmap(m->log_mmap, m->log_mmap_size);
	m->log_mmap = NULL;
	m->log = NULL;
	m->log_size = 0;
}

void guest_mem_clear(struct guest_mem *m)
{
	struct mem_guard *guard = m->guard;
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		mem_guard_remove(guard, m->regions[i].mmap_addr);
		munmap(m->regions[i].mmap_addr, m->regions[i].mmap_size);
	}
	guest_mem_unmap_log(m);
	memset(m, 0, sizeof(*m));
	m->guard = guard;
}

/**
 * guest_mem_find() - the region holding @addr, looked up by guest-physical or front-end address
 * @m:		the guest's memory
 * @addr:	the address
 * @uva:	true: @addr is a front-end virtual address; false: guest-physical
 *
 * A linear scan: there are at most GUEST_MEM_MAX_REGIONS regions, usually one to three, and
 * keeping no lookup cache leaves the readers free of shared mutable state.
 *
 * Return: the region, or NULL
 */
static const struct guest_mem_region *guest_mem_find(const struct guest_mem *m, uint64_t addr,
						     bool uva)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		const struct guest_mem_region *r = &m->regions[i];
		uint64_t start = uva ? r->user_addr : r->guest_phys_addr;

		if (addr >= start && addr - start < r->size)
			return r;
	}
	return NULL;
}

/**
 * guest_mem_translate_in() - host pointer and contiguous length for @addr
 * @m:		the guest's memory
 * @addr:	the address
 * @len:	in: bytes wanted; out: usable bytes (0 on failure)
 * @uva:	whether @addr is a front-end virtual address
 *
 * Return: the host pointer, or NULL
 */
static void *guest_mem_translate_in(const struct guest_mem *m, uint64_t addr, uint64_t *len,
				    bool uva)
{
	const struct guest_mem_region *r;
	uint64_t off;

	if (!*len)
		return NULL;
	r = guest_mem_find(m, addr, uva);
	if (!r) {
		*len = 0;
		return NULL;
	}
	off = addr - (uva ? r->user_addr : r->guest_phys_addr);
	if (*len > r->size - off)
		*len = r->size - off;
	return r->host_addr + off;
}

void *guest_mem_translate(const struct guest_mem *m, uint64_t gpa, uint64_t *len)
{
	return guest_mem_translate_in(m, gpa, len, false);
}

void *guest_mem_translate_uva(const struct guest_mem *m, uint64_t uva, uint64_t *len)
{
	return guest_mem_translate_in(m, uva, len, true);
}

int guest_mem_uva_to_gpa(const struct guest_mem *m, uint64_t uva, uint64_t *gpa)
{
	const struct guest_mem_region *r = guest_mem_find(m, uva, true);

	if (!r)
		return -EFAULT;
	*gpa = r->guest_phys_addr + (uva - r->user_addr);
	return 0;
}

int guest_mem_map_iov(const struct guest_mem *m, uint64_t gpa, uint64_t len, struct iovec *iov,
		      int max_iov)
{
	int n = 0;

	if (len && len - 1 > UINT64_MAX - gpa)
		return -EFAULT;
	while (len) {
		uint64_t chunk = len;
		void *p = guest_mem_translate(m, gpa, &chunk);

		if (!p)
			return -EFAULT;
		/* Out of room: keep walking only to report -EFAULT first if it applies. */
		if (n < max_iov) {
			iov[n].iov_base = p;
			iov[n].iov_len = (size_t)chunk;
		}
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return n > max_iov ? -ENOBUFS : n;
}

int guest_mem_set_log(struct guest_mem *m, int fd, uint64_t size, uint64_t offset)
{
	uint64_t last;
	size_t map_size;
	void *p;
	int ret;

	if (!guest_mem_range_end(offset, size, &last) || last == UINT64_MAX)
		return -EINVAL;
	ret = guest_mem_map_size(fd, last + 1, &map_size);
	if (ret < 0)
		return ret;
	p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	ret = mem_guard_add(m->guard, p, map_size, "dirty log");
	if (ret < 0) {
		munmap(p, map_size);
		return ret;
	}
	guest_mem_unmap_log(m);
	m->log_mmap = p;
	m->log_mmap_size = map_size;
	m->log = (uint8_t *)p + offset;
	m->log_size = size;
	return 0;
}

void guest_mem_log_write(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t page, last_page, byte, last_byte;

	if (!m->log || !len)
		return;
	page = gpa / GUEST_MEM_LOG_PAGE;
	last_page = (len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1) / GUEST_MEM_LOG_PAGE;
	last_byte = last_page / 8;
	if (last_byte >= m->log_size)
		last_byte = m->log_size - 1;

	/* The front end reads the log after it sees the bit: order the data writes first. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (byte = page / 8; byte <= last_byte; byte++) {
		unsigned int lo = byte == page / 8 ? page % 8 : 0;
		unsigned int hi = byte == last_page / 8 ? last_page % 8 : 7;
		uint8_t mask = (uint8_t)((0xffu >> (7 - hi)) & (0xffu << lo));

		__atomic_fetch_or(&m->log[byte], mask, __ATOMIC_RELAXED);
	}
}
