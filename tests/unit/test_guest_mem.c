// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_guest_mem.c - guest memory regions: mapping with offsets, refusal of wraps, overlaps
 * and regions larger than their file, translation at region borders, iovecs split across
 * adjacent regions, and dirty log bits (including writes past the log's end).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/guest-mem.h"

#define PAGE 4096ULL

/* A memfd of @size bytes where byte i holds (i / PAGE + seed) & 0xff. */
static int make_memfd(size_t size, uint8_t seed)
{
	int fd = memfd_create("test-guest-mem", MFD_CLOEXEC);
	uint8_t page[PAGE];
	size_t off;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	for (off = 0; off < size; off += PAGE) {
		memset(page, (uint8_t)(off / PAGE + seed), PAGE);
		assert_int_equal(pwrite(fd, page, PAGE, (off_t)off), PAGE);
	}
	return fd;
}

static void test_translate_borders(void **state)
{
	struct guest_mem m = { 0 };
	int fd = make_memfd(4 * PAGE, 0x10);
	uint64_t len;
	uint8_t *p;
	uint64_t gpa;

	assert_int_equal(guest_mem_add_region(&m, fd, 0x100000, 4 * PAGE, 0x7f0000000000, 0), 0);
	close(fd); /* the mapping outlives the fd */

	len = 16;
	p = guest_mem_translate(&m, 0x100000, &len);
	assert_non_null(p);
	assert_int_equal(len, 16);
	assert_int_equal(p[0], 0x10);

	/* Last byte: only one byte is usable whatever was asked. */
	len = 100;
	p = guest_mem_translate(&m, 0x100000 + 4 * PAGE - 1, &len);
	assert_non_null(p);
	assert_int_equal(len, 1);
	assert_int_equal(p[0], 0x13);

	/* Straddling a page inside the region: the full length is contiguous. */
	len = 2 * PAGE;
	p = guest_mem_translate(&m, 0x100000 + PAGE / 2, &len);
	assert_non_null(p);
	assert_int_equal(len, 2 * PAGE);

	/* One past the end, one before the start, and a zero length. */
	len = 1;
	assert_null(guest_mem_translate(&m, 0x100000 + 4 * PAGE, &len));
	assert_int_equal(len, 0);
	len = 1;
	assert_null(guest_mem_translate(&m, 0x100000 - 1, &len));
	len = 0;
	assert_null(guest_mem_translate(&m, 0x100000, &len));

	/* The front-end address door reaches the same bytes. */
	len = 8;
	p = guest_mem_translate_uva(&m, 0x7f0000000000 + PAGE, &len);
	assert_non_null(p);
	assert_int_equal(p[0], 0x11);
	len = 8;
	assert_null(guest_mem_translate_uva(&m, 0x100000, &len));

	assert_int_equal(guest_mem_uva_to_gpa(&m, 0x7f0000000000 + 5, &gpa), 0);
	assert_int_equal(gpa, 0x100005);
	assert_int_equal(guest_mem_uva_to_gpa(&m, 0x7f0000000000 + 4 * PAGE, &gpa), -EFAULT);

	guest_mem_clear(&m);
	assert_int_equal(m.nregions, 0);
	len = 1;
	assert_null(guest_mem_translate(&m, 0x100000, &len));
}

static void test_mmap_offset(void **state)
{
	struct guest_mem m = { 0 };
	int fd = make_memfd(4 * PAGE, 0x20);
	uint64_t len = 1;
	uint8_t *p;

	/* Page-aligned offset: the region starts at the file's second page. */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, 2 * PAGE, 0x1000000, PAGE), 0);
	p = guest_mem_translate(&m, 0, &len);
	assert_non_null(p);
	assert_int_equal(p[0], 0x21);
	len = 1;
	p = guest_mem_translate(&m, 2 * PAGE - 1, &len);
	assert_int_equal(p[0], 0x22);

	/* Unaligned offset (as some front ends send): still honoured. */
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000, PAGE, 0x2000000, 3 * PAGE - 8), 0);
	len = 16;
	p = guest_mem_translate(&m, 0x10000, &len);
	assert_non_null(p);
	assert_int_equal(p[0], 0x22);
	assert_int_equal(p[8], 0x23);

	/* Writes through the mapping reach the file (MAP_SHARED). */
	p[9] = 0x5a;
	{
		uint8_t b;

		assert_int_equal(pread(fd, &b, 1, 3 * PAGE + 1), 1);
		assert_int_equal(b, 0x5a);
	}
	guest_mem_clear(&m);
	close(fd);
}

static void test_reject_wraps_and_sizes(void **state)
{
	struct guest_mem m = { 0 };
	int fd = make_memfd(4 * PAGE, 0);

	assert_int_equal(guest_mem_add_region(&m, fd, 0, 0, 0, 0), -EINVAL);
	/* guest-physical range wraps */
	assert_int_equal(guest_mem_add_region(&m, fd, UINT64_MAX - PAGE + 2, PAGE, 0, 0), -EINVAL);
	/* front-end range wraps */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, PAGE, UINT64_MAX - 10, 0), -EINVAL);
	/* offset + size wraps */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, PAGE, 0, UINT64_MAX - 10), -EINVAL);
	/* larger than the file: would fault when touched */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, 8 * PAGE, 0, 0), -EINVAL);
	assert_int_equal(guest_mem_add_region(&m, fd, 0, 2 * PAGE, 0, 3 * PAGE), -EINVAL);
	/* giant: past the limit on all regions together, whatever the fd */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, 1ULL << 62, 0, 0), -EFBIG);
	assert_int_equal(guest_mem_add_region(&m, fd, 0, GUEST_MEM_MAX_TOTAL_SIZE + 1, 0, 0),
			 -EFBIG);
	assert_int_equal(m.nregions, 0);
	/* The limit counts the regions already there. */
	assert_int_equal(guest_mem_add_region(&m, fd, 0, PAGE, 0, 0), 0);
	assert_int_equal(
	    guest_mem_add_region(&m, fd, PAGE, GUEST_MEM_MAX_TOTAL_SIZE - PAGE + 1, PAGE, 0),
	    -EFBIG);
	/* Just within it, the file's size is what refuses it. */
	assert_int_equal(
	    guest_mem_add_region(&m, fd, PAGE, GUEST_MEM_MAX_TOTAL_SIZE - PAGE, PAGE, 0), -EINVAL);
	assert_int_equal(guest_mem_remove_region(&m, 0, PAGE), 0);

	/* A region ending exactly at the top of the address space is fine. */
	assert_int_equal(guest_mem_add_region(&m, fd, UINT64_MAX - PAGE + 1, PAGE,
					      UINT64_MAX - PAGE + 1, 0),
			 0);
	{
		uint64_t len = 100;

		assert_non_null(guest_mem_translate(&m, UINT64_MAX, &len));
		assert_int_equal(len, 1);
		len = 2;
		assert_non_null(guest_mem_translate_uva(&m, UINT64_MAX - 1, &len));
		assert_int_equal(len, 2);
	}
	/* A bad fd is the fstat's error. */
	assert_int_equal(guest_mem_add_region(&m, -1, 0, PAGE, 0, 0), -EBADF);
	guest_mem_clear(&m);
	close(fd);
}

static void test_reject_overlaps(void **state)
{
	struct guest_mem m = { 0 };
	int fd = make_memfd(4 * PAGE, 0);

	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000, 2 * PAGE, 0x500000, 0), 0);
	/* overlapping guest-physical ranges, from either side, and containment */
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000 + PAGE, 2 * PAGE, 0x900000, 0),
			 -EINVAL);
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000 - PAGE, 2 * PAGE, 0x900000, 0),
			 -EINVAL);
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000 + 1, 1, 0x900000, 0), -EINVAL);
	/* disjoint guest-physical but overlapping front-end ranges */
	assert_int_equal(guest_mem_add_region(&m, fd, 0x80000, PAGE, 0x500000 + PAGE, 0), -EINVAL);
	assert_int_equal(m.nregions, 1);
	/* exactly adjacent is not an overlap */
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000 + 2 * PAGE, PAGE,
					      0x500000 + 2 * PAGE, 0),
			 0);
	assert_int_equal(guest_mem_add_region(&m, fd, 0x10000 - PAGE, PAGE, 0x500000 - PAGE, 0),
			 0);
	assert_int_equal(m.nregions, 3);
	/* kept sorted by guest-physical address */
	assert_true(m.regions[0].guest_phys_addr < m.regions[1].guest_phys_addr);
	assert_true(m.regions[1].guest_phys_addr < m.regions[2].guest_phys_addr);
	guest_mem_clear(&m);
	close(fd);
}

static void test_remove_and_full(void **state)
{
	struct guest_mem m = { 0 };
	int fd = make_memfd(PAGE, 0);
	uint64_t len;
	unsigned int i;

	/* Added in reverse order, found in order. */
	for (i = GUEST_MEM_MAX_REGIONS; i-- > 0;)
		assert_int_equal(guest_mem_add_region(&m, fd, i * 0x10000, PAGE, i * 0x10000, 0), 0);
	assert_int_equal(m.nregions, GUEST_MEM_MAX_REGIONS);
	for (i = 1; i < m.nregions; i++)
		assert_true(m.regions[i - 1].guest_phys_addr < m.regions[i].guest_phys_addr);
	assert_int_equal(guest_mem_add_region(&m, fd, 0x1000000, PAGE, 0x1000000, 0), -ENOSPC);

	/* Removal needs the exact range. */
	assert_int_equal(guest_mem_remove_region(&m, 0x30000, PAGE - 1), -ENOENT);
	assert_int_equal(guest_mem_remove_region(&m, 0x30001, PAGE), -ENOENT);
	assert_int_equal(guest_mem_remove_region(&m, 0x30000, PAGE), 0);
	assert_int_equal(m.nregions, GUEST_MEM_MAX_REGIONS - 1);
	len = 1;
	assert_null(guest_mem_translate(&m, 0x30000, &len));
	len = 1;
	assert_non_null(guest_mem_translate(&m, 0x40000, &len));
	assert_int_equal(guest_mem_remove_region(&m, 0x30000, PAGE), -ENOENT);
	/* The freed slot can be used again. */
	assert_int_equal(guest_mem_add_region(&m, fd, 0x1000000, PAGE, 0x1000000, 0), 0);
	guest_mem_clear(&m);
	close(fd);
}

static void test_map_iov(void **state)
{
	struct guest_mem m = { 0 };
	int fd_a = make_memfd(PAGE, 0xa0);
	int fd_b = make_memfd(2 * PAGE, 0xb0);
	struct iovec iov[4];
	uint8_t *a, *b;
	uint64_t len;

	/* Adjacent in guest-physical space, separate mappings on the host. */
	assert_int_equal(guest_mem_add_region(&m, fd_a, 0, PAGE, 0x10000, 0), 0);
	assert_int_equal(guest_mem_add_region(&m, fd_b, PAGE, 2 * PAGE, 0x20000, 0), 0);
	len = 1;
	a = guest_mem_translate(&m, 0, &len);
	len = 1;
	b = guest_mem_translate(&m, PAGE, &len);

	assert_int_equal(guest_mem_map_iov(&m, PAGE - 16, 32, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, a + PAGE - 16);
	assert_int_equal(iov[0].iov_len, 16);
	assert_ptr_equal(iov[1].iov_base, b);
	assert_int_equal(iov[1].iov_len, 16);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 0xa0);
	assert_int_equal(((uint8_t *)iov[1].iov_base)[0], 0xb0);

	/* Within one region: one entry. */
	assert_int_equal(guest_mem_map_iov(&m, PAGE, 2 * PAGE, iov, 4), 1);
	assert_int_equal(iov[0].iov_len, 2 * PAGE);
	/* The whole memory. */
	assert_int_equal(guest_mem_map_iov(&m, 0, 3 * PAGE, iov, 4), 2);
	assert_int_equal(guest_mem_map_iov(&m, 0, 0, iov, 4), 0);

	/* Not enough room, past the end, and an address range that wraps. */
	assert_int_equal(guest_mem_map_iov(&m, PAGE - 16, 32, iov, 1), -ENOBUFS);
	assert_int_equal(guest_mem_map_iov(&m, PAGE - 16, 32, iov, 0), -ENOBUFS);
	assert_int_equal(guest_mem_map_iov(&m, 2 * PAGE, 2 * PAGE, iov, 4), -EFAULT);
	assert_int_equal(guest_mem_map_iov(&m, 3 * PAGE, 1, iov, 4), -EFAULT);
	assert_int_equal(guest_mem_map_iov(&m, 16, UINT64_MAX, iov, 4), -EFAULT);
	/* Out of room and outside memory: the fault is what matters. */
	assert_int_equal(guest_mem_map_iov(&m, PAGE - 16, 3 * PAGE, iov, 1), -EFAULT);

	/* The inline fast path: inside one region only. */
	assert_true(guest_mem_map_one(&m, PAGE - 16, 16, iov));
	assert_ptr_equal(iov[0].iov_base, a + PAGE - 16);
	assert_int_equal(iov[0].iov_len, 16);
	assert_true(guest_mem_map_one(&m, 2 * PAGE, PAGE, iov));
	assert_ptr_equal(iov[0].iov_base, b + PAGE);
	assert_false(guest_mem_map_one(&m, PAGE - 16, 32, iov)); /* across two */
	assert_false(guest_mem_map_one(&m, 3 * PAGE, 1, iov));   /* outside */
	assert_false(guest_mem_map_one(&m, 2 * PAGE, PAGE + 1, iov));
	assert_false(guest_mem_map_one(&m, UINT64_MAX, 2, iov));

	/* A hole between regions faults. */
	assert_int_equal(guest_mem_remove_region(&m, 0, PAGE), 0);
	assert_int_equal(guest_mem_add_region(&m, fd_a, 0, PAGE / 2, 0x10000, 0), 0);
	assert_int_equal(guest_mem_map_iov(&m, 0, PAGE + 1, iov, 4), -EFAULT);

	guest_mem_clear(&m);
	close(fd_a);
	close(fd_b);
}

static void test_dirty_log(void **state)
{
	struct guest_mem m = { 0 };
	int fd = memfd_create("test-log", MFD_CLOEXEC);
	uint8_t *log;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)PAGE), 0);
	log = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(log != MAP_FAILED);

	/* Logging off: nothing happens, nothing breaks. */
	guest_mem_log_write(&m, 0, 1 << 20);

	assert_int_equal(guest_mem_set_log(&m, fd, 0, 0), -EINVAL);
	assert_int_equal(guest_mem_set_log(&m, fd, 8, UINT64_MAX - 4), -EINVAL);
	assert_int_equal(guest_mem_set_log(&m, fd, 2 * PAGE, 0), -EINVAL); /* past the file */
	/* A 2-byte bitmap (16 pages) at offset 100 of the fd. */
	assert_int_equal(guest_mem_set_log(&m, fd, 2, 100), 0);
	assert_int_equal(m.log_size, 2);

	guest_mem_log_write(&m, PAGE, 1);
	assert_int_equal(log[100], 0x02);
	/* Two bytes across a page border: pages 2 and 3. */
	guest_mem_log_write(&m, 3 * PAGE - 1, 2);
	assert_int_equal(log[100], 0x0e);
	/* Pages 6..9 span the two bitmap bytes. */
	guest_mem_log_write(&m, 6 * PAGE + 10, 4 * PAGE - 20);
	assert_int_equal(log[100], 0xce);
	assert_int_equal(log[101], 0x03);
	/* Zero length logs nothing. */
	guest_mem_log_write(&m, 15 * PAGE, 0);
	assert_int_equal(log[101], 0x03);
	/* Past the end of the log: ignored, the bytes after the bitmap stay untouched. */
	guest_mem_log_write(&m, 16 * PAGE, PAGE);
	guest_mem_log_write(&m, UINT64_MAX - 5, 100);
	assert_int_equal(log[102], 0);
	/* Straddling the end: the pages inside are logged, the rest ignored. */
	guest_mem_log_write(&m, 15 * PAGE, 4 * PAGE);
	assert_int_equal(log[101], 0x83);
	assert_int_equal(log[102], 0);
	/* A huge write fills the bitmap and nothing beyond. */
	guest_mem_log_write(&m, 0, UINT64_MAX);
	assert_int_equal(log[100], 0xff);
	assert_int_equal(log[101], 0xff);
	assert_int_equal(log[99], 0);
	assert_int_equal(log[102], 0);

	/* A new log replaces the old one. */
	assert_int_equal(guest_mem_set_log(&m, fd, 1, 200), 0);
	guest_mem_log_write(&m, 0, 1);
	assert_int_equal(log[200], 0x01);

	guest_mem_clear(&m);
	assert_null(m.log);
	guest_mem_log_write(&m, 0, 1);
	munmap(log, PAGE);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_borders),
		cmocka_unit_test(test_mmap_offset),
		cmocka_unit_test(test_reject_wraps_and_sizes),
		cmocka_unit_test(test_reject_overlaps),
		cmocka_unit_test(test_remove_and_full),
		cmocka_unit_test(test_map_iov),
		cmocka_unit_test(test_dirty_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
