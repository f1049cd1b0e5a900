// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_mem_guard.c - the SIGBUS guard: a guarded mapping of a file truncated under it reads as
 * zeros afterwards and its owner hears of it in its loop; other owners hear nothing; a SIGBUS
 * outside every guarded mapping still kills the process; removed mappings are not guarded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "virtio/mem-guard.h"
#include "vwire/loop.h"

#define MAP_LEN (64 * 1024)

struct owner {
	struct mem_guard guard;
	int faults;
	const char *what;
	void *addr;
};

static void on_fault(void *opaque, const char *what, void *addr)
{
	struct owner *o = opaque;

	o->faults++;
	o->what = what;
	o->addr = addr;
}

/* A shared mapping of a new memfd of MAP_LEN bytes, its fd in *@fd. */
static uint8_t *map_memfd(int *fd)
{
	uint8_t *p;

	*fd = memfd_create("test-mem-guard", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, MAP_LEN), 0);
	p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void test_shrunk_mapping_faults_to_owner(void **state)
{
	struct loop *loop = loop_new();
	struct owner a = { 0 }, b = { 0 };
	volatile uint8_t *p;
	int fd;

	assert_non_null(loop);
	assert_int_equal(mem_guard_init(&a.guard, loop, on_fault, &a), 0);
	assert_int_equal(mem_guard_init(&b.guard, loop, on_fault, &b), 0);
	p = map_memfd(&fd);
	assert_int_equal(mem_guard_add(&a.guard, (void *)p, MAP_LEN, "guest memory"), 0);
	p[100] = 7;
	assert_int_equal(p[100], 7);

	/* The front end shrinks the file: the next access faults, lands on zero pages. */
	assert_int_equal(ftruncate(fd, 0), 0);
	p[MAP_LEN - 1] = 1;
	assert_int_equal(p[MAP_LEN - 1], 1);
	assert_int_equal(p[100], 0);
	assert_int_equal(a.faults, 0); /* told in the loop, not in the handler */

	assert_true(loop_run_once(loop, 1000) >= 0);
	assert_int_equal(a.faults, 1);
	assert_string_equal(a.what, "guest memory");
	assert_ptr_equal(a.addr, (void *)(p + MAP_LEN - 1));
	assert_int_equal(b.faults, 0);

	mem_guard_remove(&a.guard, (void *)p);
	munmap((void *)p, MAP_LEN);
	close(fd);
	mem_guard_destroy(&a.guard);
	mem_guard_destroy(&b.guard);
	loop_free(loop);
}

/* In a child: fault on a shrunk mapping that is not (or no longer) guarded; return its status. */
static int fault_unguarded_in_child(bool add_then_remove)
{
	int status, fd;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct loop *loop = loop_new();
		struct owner o = { 0 };
		volatile uint8_t *p = map_memfd(&fd);

		/* Not cmocka's handler (it would carry on in the child): the default, death. */
		signal(SIGBUS, SIG_DFL);
		if (!loop || mem_guard_init(&o.guard, loop, on_fault, &o) < 0)
			_exit(3);
		if (add_then_remove) {
			mem_guard_add(&o.guard, (void *)p, MAP_LEN, "guest memory");
			mem_guard_remove(&o.guard, (void *)p);
		}
		if (ftruncate(fd, 0) < 0)
			_exit(3);
		p[0] = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_unguarded_fault_still_kills(void **state)
{
	int status = fault_unguarded_in_child(false);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

static void test_removed_mapping_not_guarded(void **state)
{
	int status = fault_unguarded_in_child(true);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

/* Many mappings (more than one chunk of slots), each found by the handler. */
static void test_many_mappings(void **state)
{
	enum { N = 300 };
	static uint8_t *maps[N];
	struct loop *loop = loop_new();
	struct owner o = { 0 };
	int fds[N], i;

	assert_non_null(loop);
	assert_int_equal(mem_guard_init(&o.guard, loop, on_fault, &o), 0);
	for (i = 0; i < N; i++) {
		maps[i] = map_memfd(&fds[i]);
		assert_int_equal(mem_guard_add(&o.guard, maps[i], MAP_LEN, "dirty log"), 0);
	}
	assert_int_equal(ftruncate(fds[N - 1], 0), 0);
	((volatile uint8_t *)maps[N - 1])[5] = 1;
	assert_true(loop_run_once(loop, 1000) >= 0);
	assert_int_equal(o.faults, 1);
	assert_string_equal(o.what, "dirty log");
	mem_guard_destroy(&o.guard);
	for (i = 0; i < N; i++) {
		munmap(maps[i], MAP_LEN);
		close(fds[i]);
	}
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrunk_mapping_faults_to_owner),
		cmocka_unit_test(test_unguarded_fault_still_kills),
		cmocka_unit_test(test_removed_mapping_not_guarded),
		cmocka_unit_test(test_many_mappings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
