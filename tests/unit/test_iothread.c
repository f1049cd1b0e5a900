// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_iothread.c - iothreads on real threads, pipes and timers: the list of ids (duplicates
 * refused), functions run on the iothread and waited for (in order, from several threads,
 * nested, before start and after the end), the thread's name and blocked signals, fd handlers
 * and timers of its loop firing on it, packets handed over through an SPSC ring with a
 * thread-safe bottom half, as devices on iothreads will, and -object iothread started at once
 * or deferred (until the daemon is sandboxed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/iothread.h"
#include "core/netdev.h"
#include "core/spsc-ring.h"
#include "vwire/error.h"
#include "vwire/loop.h"

#define MS 1000000LL

static struct iothread *start_new(const char *id)
{
	struct error err = { 0 };
	struct iothread *io = iothread_new(id, IOTHREAD_POLL_MAX_NS_DEFAULT, &err);

	assert_non_null(io);
	assert_int_equal(iothread_start(io, &err), 0);
	return io;
}

static void test_ids(void **state)
{
	struct error err = { 0 };
	struct iothread *a, *b;

	a = iothread_new("io1", 0, &err);
	assert_non_null(a);
	b = iothread_new("io2", 5000, &err);
	assert_non_null(b);
	assert_null(iothread_new("io1", 0, &err));
	assert_int_equal(err.code, -EEXIST);
	assert_non_null(strstr(err.msg, "io1"));
	assert_null(iothread_new("", 0, &err));
	assert_int_equal(err.code, -EINVAL);
	assert_ptr_equal(iothread_find("io1"), a);
	assert_ptr_equal(iothread_find("io2"), b);
	assert_null(iothread_find("io3"));
	assert_ptr_equal(iothread_first(), a);
	assert_ptr_equal(iothread_next(a), b);
	assert_null(iothread_next(b));
	assert_string_equal(iothread_id(b), "io2");
	assert_int_equal(iothread_poll_max_ns(b), 5000);
	/* Not started: no thread, and stop/join do nothing. */
	assert_int_equal(iothread_thread_id(a), 0);
	iothread_stop(a);
	assert_int_equal(iothread_join(a), 0);
	iothread_free(a);
	assert_null(iothread_find("io1"));
	assert_ptr_equal(iothread_first(), b);
	/* The id is free again. */
	a = iothread_new("io1", 0, &err);
	assert_non_null(a);
	iothread_free_all();
	assert_null(iothread_first());
	iothread_free(NULL);
}

/**
 * struct probe - what a function run on the iothread saw there
 * @self:	iothread_self()
 * @tid:	gettid()
 * @blocked:	SIGINT and SIGTERM were blocked, SIGBUS and SIGSYS (raised by faults) not
 * @seq:	order of calls
 */
struct probe {
	struct iothread *self;
	pid_t tid;
	bool blocked;
	int seq;
};

static int probe_counter;

static void probe_fn(void *opaque)
{
	struct probe *p = opaque;
	sigset_t cur;

	p->self = iothread_self();
	p->tid = gettid();
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	p->blocked = sigismember(&cur, SIGINT) && sigismember(&cur, SIGTERM) &&
		     !sigismember(&cur, SIGBUS) && !sigismember(&cur, SIGSYS);
	p->seq = ++probe_counter;
}

static void test_run_sync(void **state)
{
	struct probe before = { 0 }, on[3] = { { 0 } }, after = { 0 };
	struct error err = { 0 };
	struct iothread *io = iothread_new("io-run", 0, &err);
	char path[64], comm[32] = "";
	sigset_t set, old;
	FILE *f;

	/* The main thread takes signals; the iothread must not, whatever the main mask is. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, &old);

	/* Before start: in the caller. */
	iothread_run_sync(io, probe_fn, &before);
	assert_null(before.self);
	assert_int_equal(before.tid, gettid());

	assert_int_equal(iothread_start(io, &err), 0);
	assert_int_equal(iothread_start(io, &err), -EALREADY);
	for (int i = 0; i < 3; i++)
		iothread_run_sync(io, probe_fn, &on[i]);
	for (int i = 0; i < 3; i++) {
		assert_ptr_equal(on[i].self, io);
		assert_int_not_equal(on[i].tid, gettid());
		assert_int_equal(on[i].tid, iothread_thread_id(io));
		assert_true(on[i].blocked);
		assert_int_equal(on[i].seq, before.seq + 1 + i);
	}
	assert_null(iothread_self());
	/* The kernel knows the thread by QEMU's name for it. */
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)iothread_thread_id(io));
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	assert_string_equal(comm, "IO io-run\n");

	iothread_stop(io);
	assert_int_equal(iothread_join(io), 0);
	assert_int_equal(iothread_thread_id(io), 0);
	/* After the end: in the caller again. */
	iothread_run_sync(io, probe_fn, &after);
	assert_null(after.self);
	assert_int_equal(after.tid, gettid());

	/* It starts again, with a new thread. */
	assert_int_equal(iothread_start(io, &err), 0);
	iothread_run_sync(io, probe_fn, &on[0]);
	assert_ptr_equal(on[0].self, io);
	iothread_free(io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A function on the iothread that asks for the same iothread runs at once. */
static void nested_fn(void *opaque)
{
	struct probe *p = opaque;

	iothread_run_sync(iothread_self(), probe_fn, p);
}

static void test_nested(void **state)
{
	struct iothread *io = start_new("io-nest");
	struct probe p = { 0 };

	iothread_run_sync(io, nested_fn, &p);
	assert_ptr_equal(p.self, io);
	iothread_free(io);
}

/* Several threads asking at once; the counter is plain memory, touched only on the iothread. */

#define CALLERS 3
#define CALLS 2000

struct callers {
	struct iothread *io;
	unsigned long counter;
};

static void count_fn(void *opaque)
{
	((struct callers *)opaque)->counter++;
}

static void *caller_main(void *arg)
{
	struct callers *c = arg;

	for (int i = 0; i < CALLS; i++)
		iothread_run_sync(c->io, count_fn, c);
	return NULL;
}

static void test_many_callers(void **state)
{
	struct callers c = { .io = start_new("io-many") };
	pthread_t th[CALLERS];

	for (int i = 0; i < CALLERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, caller_main, &c), 0);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(th[i], NULL);
	/* Each call was done before its caller went on, and the callers were joined. */
	assert_int_equal(c.counter, CALLERS * CALLS);
	iothread_free(c.io);
}

/* The iothread's loop: an fd handler and a timer, set up and torn down through run_sync. */

struct on_loop {
	struct iothread *io;
	int fds[2];
	struct loop_timer *timer;
	int attach_ret;
	_Atomic int reads;
	_Atomic int timer_fired;
	_Atomic bool read_on_iothread;
	_Atomic bool timer_on_iothread;
};

static void on_loop_read(void *opaque)
{
	struct on_loop *o = opaque;
	char buf[16];

	if (read(o->fds[0], buf, sizeof(buf)) > 0) {
		atomic_store(&o->read_on_iothread, iothread_self() == o->io);
		atomic_fetch_add(&o->reads, 1);
	}
}

static void on_loop_timer(void *opaque)
{
	struct on_loop *o = opaque;

	atomic_store(&o->timer_on_iothread, iothread_self() == o->io);
	atomic_fetch_add(&o->timer_fired, 1);
}

static void on_loop_attach(void *opaque)
{
	struct on_loop *o = opaque;
	struct loop *loop = iothread_loop(o->io);

	o->attach_ret = loop_set_fd_handler(loop, o->fds[0], NULL, on_loop_read, NULL, o);
	o->timer = loop_timer_new(loop, on_loop_timer, o);
	loop_timer_mod(o->timer, loop_now_ns() + 10 * MS);
}

static void on_loop_detach(void *opaque)
{
	struct on_loop *o = opaque;

	loop_set_fd_handler(iothread_loop(o->io), o->fds[0], NULL, NULL, NULL, NULL);
	loop_timer_free(o->timer);
	o->timer = NULL;
}

static void wait_for(_Atomic int *v, int want)
{
	int64_t start = loop_now_ns();

	while (atomic_load(v) < want && loop_now_ns() - start < 5000 * MS)
		usleep(1000);
	assert_true(atomic_load(v) >= want);
}

static void test_handlers_on_iothread(void **state)
{
	struct on_loop o = { .io = start_new("io-fd") };

	assert_int_equal(pipe2(o.fds, O_NONBLOCK | O_CLOEXEC), 0);
	iothread_run_sync(o.io, on_loop_attach, &o);
	assert_int_equal(o.attach_ret, 0);
	assert_non_null(o.timer);
	assert_int_equal(write(o.fds[1], "x", 1), 1);
	wait_for(&o.reads, 1);
	wait_for(&o.timer_fired, 1);
	assert_true(atomic_load(&o.read_on_iothread));
	assert_true(atomic_load(&o.timer_on_iothread));
	iothread_run_sync(o.io, on_loop_detach, &o);
	/* Detached: a write is no longer read. */
	assert_int_equal(write(o.fds[1], "y", 1), 1);
	usleep(20000);
	assert_int_equal(atomic_load(&o.reads), 1);
	iothread_free(o.io);
	close(o.fds[0]);
	close(o.fds[1]);
}

/*
 * Packets crossing threads: the main thread produces into an SPSC ring and schedules the
 * consumer's bottom half thread-safely; the iothread drains the ring. The items are written
 * just before they are enqueued and checked on the other side.
 */

#define HANDOFF_ITEMS 200000
#define HANDOFF_BURST 32

struct handoff {
	struct iothread *io;
	struct spsc_ring *ring;
	struct loop_bh *bh;
	uint32_t *items;
	uint32_t next; /* iothread's: the next item expected */
	bool bad;      /* iothread's */
	_Atomic uint32_t consumed;
};

static void handoff_bh(void *opaque)
{
	struct handoff *h = opaque;
	void *burst[HANDOFF_BURST];
	unsigned int n;

	while ((n = spsc_ring_dequeue_burst(h->ring, burst, HANDOFF_BURST))) {
		for (unsigned int i = 0; i < n; i++, h->next++)
			if (burst[i] != &h->items[h->next] || h->items[h->next] != h->next * 3)
				h->bad = true;
		atomic_fetch_add_explicit(&h->consumed, n, memory_order_release);
	}
}

static void handoff_bh_new(void *opaque)
{
	struct handoff *h = opaque;

	h->bh = loop_bh_new(iothread_loop(h->io), handoff_bh, h);
}

static void handoff_bh_free(void *opaque)
{
	struct handoff *h = opaque;

	loop_bh_free(h->bh);
}

static void test_ring_handoff(void **state)
{
	struct handoff h = { .io = start_new("io-ring"), .ring = spsc_ring_new(128) };
	void *burst[HANDOFF_BURST];
	uint32_t sent = 0;

	h.items = calloc(HANDOFF_ITEMS, sizeof(*h.items));
	assert_non_null(h.items);
	/* Bottom halves of a running loop are made on its own thread. */
	iothread_run_sync(h.io, handoff_bh_new, &h);
	assert_non_null(h.bh);
	while (sent < HANDOFF_ITEMS) {
		unsigned int want = HANDOFF_ITEMS - sent < HANDOFF_BURST ? HANDOFF_ITEMS - sent :
									   HANDOFF_BURST;
		unsigned int n;

		for (unsigned int i = 0; i < want; i++) {
			h.items[sent + i] = (sent + i) * 3;
			burst[i] = &h.items[sent + i];
		}
		n = spsc_ring_enqueue_burst(h.ring, burst, want);
		sent += n;
		if (n)
			loop_bh_schedule_threadsafe(h.bh);
		else
			usleep(50); /* full: the consumer is behind */
	}
	{
		int64_t start = loop_now_ns();

		while (atomic_load_explicit(&h.consumed, memory_order_acquire) < HANDOFF_ITEMS &&
		       loop_now_ns() - start < 10000 * MS)
			usleep(1000);
	}
	assert_int_equal(atomic_load(&h.consumed), HANDOFF_ITEMS);
	iothread_run_sync(h.io, handoff_bh_free, &h);
	/* The iothread's own fields, read after run_sync ordered them before us. */
	assert_false(h.bad);
	assert_int_equal(h.next, HANDOFF_ITEMS);
	iothread_free(h.io);
	spsc_ring_free(h.ring);
	free(h.items);
}

/* Requests queued while the iothread is told to stop are still served, on some thread. */
static void test_stop_with_requests(void **state)
{
	for (int round = 0; round < 20; round++) {
		struct callers c = { .io = start_new("io-stop") };
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, caller_main, &c), 0);
		usleep(round * 100);
		iothread_stop(c.io);
		pthread_join(th, NULL);
		assert_int_equal(iothread_join(c.io), 0);
		assert_int_equal(c.counter, CALLS);
		iothread_free(c.io);
	}
}

/* -object iothread: started at once, or, deferred, by iothread_start_all(). */
static void test_object_deferred(void **state)
{
	struct object_iothread_opts o = { .poll_max_ns = 7 };
	struct error err = { 0 };
	struct iothread *io;

	assert_int_equal(object_init_iothread(&o, "io-now", NULL, &err), 0);
	io = iothread_find("io-now");
	assert_non_null(io);
	assert_int_not_equal(iothread_thread_id(io), 0);
	assert_int_equal(iothread_poll_max_ns(io), 7);

	iothread_defer_start(true);
	assert_int_equal(object_init_iothread(&o, "io-later", NULL, &err), 0);
	io = iothread_find("io-later");
	assert_non_null(io);
	assert_int_equal(iothread_thread_id(io), 0);
	assert_int_equal(object_init_iothread(&o, "io-later", NULL, &err), -EEXIST);
	iothread_defer_start(false);
	assert_int_equal(iothread_start_all(&err), 0);
	assert_int_not_equal(iothread_thread_id(io), 0);
	assert_int_not_equal(iothread_thread_id(io), iothread_thread_id(iothread_find("io-now")));
	iothread_free_all();
}

/* A bottom half that runs every round of its loop, counting. */
struct spinner {
	struct loop_bh *bh;
	atomic_uint rounds;
	bool on_main; /* set by a function run while paused */
};

static void spinner_bh(void *opaque)
{
	struct spinner *sp = opaque;

	atomic_fetch_add(&sp->rounds, 1);
	loop_bh_schedule(sp->bh);
}

/* On the spinner's iothread: make its bottom half there and start it. */
static void spinner_start(void *opaque)
{
	struct spinner *sp = opaque;

	sp->bh = loop_bh_new(iothread_loop(iothread_self()), spinner_bh, sp);
	assert_non_null(sp->bh);
	loop_bh_schedule(sp->bh);
}

static void spinner_where(void *opaque)
{
	((struct spinner *)opaque)->on_main = iothread_self() == NULL;
}

static void spinner_stop(void *opaque)
{
	struct spinner *sp = opaque;

	loop_bh_free(sp->bh);
	sp->bh = NULL;
}

/* Wait until the spinner has run more rounds than @than (5 s at most). */
static bool spinner_moves(struct spinner *sp, unsigned int than)
{
	for (int i = 0; i < 5000; i++) {
		if (atomic_load(&sp->rounds) > than)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * iothread_pause_all() parks busy iothreads: their loops stand still until the outermost
 * iothread_resume_all(), iothread_run_sync() runs in the caller meanwhile, and an iothread
 * freed while parked goes.
 */
static void test_pause_all(void **state)
{
	struct iothread *a = start_new("io-pa"), *b = start_new("io-pb");
	struct spinner sa = { 0 }, sb = { 0 };
	unsigned int ra, rb;

	iothread_run_sync(a, spinner_start, &sa);
	iothread_run_sync(b, spinner_start, &sb);
	assert_true(spinner_moves(&sa, 10) && spinner_moves(&sb, 10));

	for (int round = 0; round < 50; round++) {
		iothread_pause_all();
		iothread_pause_all(); /* nests */
		ra = atomic_load(&sa.rounds);
		rb = atomic_load(&sb.rounds);
		sa.on_main = false;
		iothread_run_sync(a, spinner_where, &sa);
		assert_true(sa.on_main);
		iothread_resume_all(); /* still paused: the outer one holds */
		usleep(round % 5 ? 100 : 5000);
		assert_int_equal(atomic_load(&sa.rounds), ra);
		assert_int_equal(atomic_load(&sb.rounds), rb);
		iothread_resume_all();
		assert_true(spinner_moves(&sa, ra) && spinner_moves(&sb, rb));
	}
	iothread_run_sync(a, spinner_where, &sa);
	assert_false(sa.on_main);

	iothread_pause_all();
	iothread_run_sync(b, spinner_stop, &sb);
	iothread_free(b); /* parked: let go, stopped, joined */
	rb = atomic_load(&sa.rounds);
	iothread_resume_all();
	assert_true(spinner_moves(&sa, rb));
	iothread_run_sync(a, spinner_stop, &sa);
	iothread_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_run_sync),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_many_callers),
		cmocka_unit_test(test_handlers_on_iothread),
		cmocka_unit_test(test_ring_handoff),
		cmocka_unit_test(test_stop_with_requests),
		cmocka_unit_test(test_object_deferred),
		cmocka_unit_test(test_pause_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
