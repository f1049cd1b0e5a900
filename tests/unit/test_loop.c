// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_loop.c - the event loop on real pipes, clocks and signals: fd handlers and their
 * can-read gates, handlers removed by an earlier callback of the same round, timers (order,
 * cancel, re-arm, re-arm from their own callback), bottom halves (once, from handlers, chained,
 * from another thread), pollers, loop_quit() and SIGTERM through the signalfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vwire/loop.h"

#define MS 1000000LL

static struct loop *loop;

/* What the callbacks saw, in order. */
static int order[16];
static int norder;
static int calls[8];

static void note(int what)
{
	if (norder < (int)(sizeof(order) / sizeof(order[0])))
		order[norder++] = what;
	calls[what]++;
}

static int setup(void **state)
{
	loop = loop_new();
	assert_non_null(loop);
	norder = 0;
	memset(calls, 0, sizeof(calls));
	return 0;
}

static int teardown(void **state)
{
	loop_free(loop);
	return 0;
}

/* Run rounds (with no wait) until @cond or 2 s pass. */
#define RUN_UNTIL(cond)                                                                            \
	do {                                                                                       \
		int64_t end_ = loop_now_ns() + 2000 * MS;                                          \
		while (!(cond) && loop_now_ns() < end_)                                            \
			loop_run_once(loop, 10);                                                   \
	} while (0)

/* fd handlers */

struct pipe_h {
	int fd[2];
	int id;
	bool gate;
	bool drain;
};

static void pipe_read(void *opaque)
{
	struct pipe_h *p = opaque;
	char b[16];

	note(p->id);
	if (p->drain)
		while (read(p->fd[0], b, sizeof(b)) > 0)
			;
}

static bool pipe_can_read(void *opaque)
{
	return ((struct pipe_h *)opaque)->gate;
}

static void pipe_open(struct pipe_h *p, int id)
{
	assert_int_equal(pipe2(p->fd, O_NONBLOCK | O_CLOEXEC), 0);
	p->id = id;
	p->gate = true;
	p->drain = true;
}

static void pipe_close(struct pipe_h *p)
{
	loop_set_fd_handler(loop, p->fd[0], NULL, NULL, NULL, NULL);
	loop_set_fd_handler(loop, p->fd[1], NULL, NULL, NULL, NULL);
	close(p->fd[0]);
	close(p->fd[1]);
}

static void test_fd_read(void **state)
{
	struct pipe_h p;

	pipe_open(&p, 1);
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], NULL, pipe_read, NULL, &p), 0);
	assert_int_equal(loop_run_once(loop, 0), 0);
	assert_int_equal(calls[1], 0);
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	assert_int_equal(loop_run_once(loop, 1000), 1);
	assert_int_equal(calls[1], 1);
	/* Drained: nothing more. */
	assert_int_equal(loop_run_once(loop, 0), 0);
	/* Not drained: level-triggered, so called again each round. */
	p.drain = false;
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	loop_run_once(loop, 0);
	loop_run_once(loop, 0);
	assert_int_equal(calls[1], 3);
	/* Removed: not called although readable. */
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], NULL, NULL, NULL, NULL), 0);
	assert_int_equal(loop_run_once(loop, 0), 0);
	assert_int_equal(calls[1], 3);
	/* An fd the loop cannot watch (a regular file) is refused. */
	{
		char path[] = "/tmp/test-loop-XXXXXX";
		int f = mkstemp(path);

		assert_true(f >= 0);
		unlink(path);
		assert_int_equal(loop_set_fd_handler(loop, f, NULL, pipe_read, NULL, &p), -EPERM);
		close(f);
	}
	assert_int_equal(loop_set_fd_handler(loop, -1, NULL, pipe_read, NULL, &p), -EBADF);
	pipe_close(&p);
}

static void test_can_read_gate(void **state)
{
	struct pipe_h p;

	pipe_open(&p, 1);
	p.gate = false;
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], pipe_can_read, pipe_read, NULL, &p), 0);
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	loop_run_once(loop, 20);
	assert_int_equal(calls[1], 0);
	/* The gate is consulted before each poll. */
	p.gate = true;
	loop_run_once(loop, 1000);
	assert_int_equal(calls[1], 1);
	/* Gate dropped again, then the gate removed by a new handler: polled at once. */
	p.gate = false;
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	loop_run_once(loop, 20);
	assert_int_equal(calls[1], 1);
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], NULL, pipe_read, NULL, &p), 0);
	loop_run_once(loop, 1000);
	assert_int_equal(calls[1], 2);
	pipe_close(&p);
}

static void pipe_write_cb(void *opaque)
{
	struct pipe_h *p = opaque;

	note(p->id);
	/* One call is enough: stop watching output. */
	loop_set_fd_handler(loop, p->fd[1], NULL, NULL, NULL, NULL);
}

static void test_fd_write(void **state)
{
	struct pipe_h p;

	pipe_open(&p, 2);
	assert_int_equal(loop_set_fd_handler(loop, p.fd[1], NULL, NULL, pipe_write_cb, &p), 0);
	loop_run_once(loop, 1000);
	loop_run_once(loop, 0);
	assert_int_equal(calls[2], 1);
	pipe_close(&p);
}

/* Each handler removes the other's: whichever runs first, the other is never called, even
 * though its event was already fetched in the same round. */
static struct pipe_h *pair[2];

static void pipe_read_remove_other(void *opaque)
{
	struct pipe_h *p = opaque;
	struct pipe_h *other = pair[p == pair[0]];

	pipe_read(opaque);
	loop_set_fd_handler(loop, other->fd[0], NULL, NULL, NULL, NULL);
}

static void test_removed_in_same_round(void **state)
{
	struct pipe_h a, b;

	pipe_open(&a, 1);
	pipe_open(&b, 2);
	pair[0] = &a;
	pair[1] = &b;
	assert_int_equal(loop_set_fd_handler(loop, a.fd[0], NULL, pipe_read_remove_other, NULL, &a),
			 0);
	assert_int_equal(loop_set_fd_handler(loop, b.fd[0], NULL, pipe_read_remove_other, NULL, &b),
			 0);
	assert_int_equal(write(a.fd[1], "x", 1), 1);
	assert_int_equal(write(b.fd[1], "x", 1), 1);
	/* Both are ready before the wait, so both events come back from one epoll_wait(). */
	assert_int_equal(loop_run_once(loop, 1000), 1);
	loop_run_once(loop, 20);
	assert_int_equal(calls[1] + calls[2], 1);
	pipe_close(&a);
	pipe_close(&b);
}

/* Timers */

struct timer_h {
	struct loop_timer *t;
	int id;
	int rearm;
};

static void timer_cb(void *opaque)
{
	struct timer_h *h = opaque;

	note(h->id);
	if (h->rearm > 0) {
		h->rearm--;
		loop_timer_mod(h->t, loop_now_ns() + MS);
	}
}

static void test_timers(void **state)
{
	struct timer_h h[4];
	int64_t now = loop_now_ns(), start;
	int i;

	for (i = 0; i < 4; i++) {
		h[i].id = i;
		h[i].rearm = 0;
		h[i].t = loop_timer_new(loop, timer_cb, &h[i]);
		assert_non_null(h[i].t);
		assert_false(loop_timer_pending(h[i].t));
	}
	/* Armed out of order, fired in deadline order; the cancelled one never fires. */
	loop_timer_mod(h[0].t, now + 30 * MS);
	loop_timer_mod(h[1].t, now + 10 * MS);
	loop_timer_mod(h[2].t, now + 20 * MS);
	loop_timer_mod(h[3].t, now + 15 * MS);
	assert_true(loop_timer_pending(h[3].t));
	loop_timer_del(h[3].t);
	assert_false(loop_timer_pending(h[3].t));
	loop_timer_del(h[3].t); /* twice is harmless */
	/* Re-armed later while pending: fires once, at the new time. */
	loop_timer_mod(h[1].t, now + 25 * MS);
	start = loop_now_ns();
	RUN_UNTIL(norder == 3);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 0);
	assert_true(loop_now_ns() - start >= 20 * MS);
	assert_false(loop_timer_pending(h[0].t));
	loop_run_once(loop, 50);
	assert_int_equal(calls[3], 0);
	assert_int_equal(calls[1], 1);

	/* A timer re-armed from its own callback fires again. */
	h[3].rearm = 2;
	loop_timer_mod(h[3].t, loop_now_ns());
	RUN_UNTIL(calls[3] == 3);
	assert_int_equal(calls[3], 3);
	loop_run_once(loop, 20);
	assert_int_equal(calls[3], 3);

	/* A pending timer freed never fires; the loop's wait honours the next deadline. */
	loop_timer_mod(h[0].t, loop_now_ns() + 5 * MS);
	loop_timer_free(h[0].t);
	loop_timer_mod(h[2].t, loop_now_ns() + 5 * MS);
	start = loop_now_ns();
	loop_run_once(loop, -1);
	assert_int_equal(calls[2], 2);
	assert_true(loop_now_ns() - start < 1000 * MS);
	assert_int_equal(calls[0], 1);
	for (i = 1; i < 4; i++)
		loop_timer_free(h[i].t);
	loop_timer_free(NULL);
}

/* Bottom halves */

static struct loop_bh *bh_a, *bh_b, *bh_self;

static void bh_a_cb(void *opaque)
{
	note(1);
	/* A bottom half scheduled by a bottom half runs in the same round. */
	loop_bh_schedule(bh_b);
}

static void bh_b_cb(void *opaque)
{
	note(2);
}

static void bh_self_cb(void *opaque)
{
	note(3);
	loop_bh_free(bh_self);
	bh_self = NULL;
}

static void pipe_read_schedule(void *opaque)
{
	pipe_read(opaque);
	loop_bh_schedule(bh_a);
}

static void test_bottom_halves(void **state)
{
	struct pipe_h p;

	bh_a = loop_bh_new(loop, bh_a_cb, NULL);
	bh_b = loop_bh_new(loop, bh_b_cb, NULL);
	assert_non_null(bh_a);
	assert_non_null(bh_b);
	/* Scheduled twice, run once; chained one in the same round. */
	loop_bh_schedule(bh_a);
	loop_bh_schedule(bh_a);
	assert_int_equal(loop_run_once(loop, 1000), 2);
	assert_int_equal(calls[1], 1);
	assert_int_equal(calls[2], 1);
	assert_int_equal(loop_run_once(loop, 0), 0);
	/* Cancelled: not run. */
	loop_bh_schedule(bh_b);
	loop_bh_cancel(bh_b);
	assert_int_equal(loop_run_once(loop, 0), 0);
	assert_int_equal(calls[2], 1);
	/* Scheduled from an fd handler: runs after it, in the same round. */
	pipe_open(&p, 4);
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], NULL, pipe_read_schedule, NULL, &p), 0);
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	norder = 0;
	assert_int_equal(loop_run_once(loop, 1000), 3);
	assert_int_equal(order[0], 4);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	pipe_close(&p);
	/* A bottom half may free itself. */
	bh_self = loop_bh_new(loop, bh_self_cb, NULL);
	loop_bh_schedule(bh_self);
	loop_run_once(loop, 0);
	assert_int_equal(calls[3], 1);
	assert_null(bh_self);
	/* A scheduled bottom half makes the loop not wait. */
	loop_bh_schedule(bh_b);
	{
		int64_t start = loop_now_ns();

		loop_run_once(loop, 5000);
		assert_true(loop_now_ns() - start < 1000 * MS);
	}
	loop_bh_free(bh_a);
	loop_bh_free(bh_b);
	loop_bh_free(NULL);
}

static void *thread_schedule(void *arg)
{
	usleep(20000);
	loop_bh_schedule_threadsafe(arg);
	return NULL;
}

static void test_bh_threadsafe(void **state)
{
	struct loop_bh *bh = loop_bh_new(loop, bh_b_cb, NULL);
	pthread_t th;
	int64_t start = loop_now_ns();

	assert_int_equal(pthread_create(&th, NULL, thread_schedule, bh), 0);
	/* Sleeps with no deadline until the other thread wakes it. */
	while (!calls[2] && loop_now_ns() - start < 2000 * MS)
		loop_run_once(loop, 2000);
	pthread_join(th, NULL);
	assert_int_equal(calls[2], 1);
	loop_bh_free(bh);
}

/* Pollers */

static void poller_cb(void *opaque)
{
	note((int)(intptr_t)opaque);
}

static void test_pollers(void **state)
{
	int64_t start = loop_now_ns();

	assert_int_equal(loop_poller_add(loop, poller_cb, (void *)1), 0);
	assert_int_equal(loop_poller_add(loop, poller_cb, (void *)2), 0);
	/* With pollers the loop never sleeps: each round calls each once. */
	for (int i = 0; i < 3; i++)
		loop_run_once(loop, 5000);
	assert_true(loop_now_ns() - start < 1000 * MS);
	assert_int_equal(calls[1], 3);
	assert_int_equal(calls[2], 3);
	loop_poller_remove(loop, poller_cb, (void *)1);
	loop_poller_remove(loop, poller_cb, (void *)7); /* unknown: ignored */
	loop_run_once(loop, 0);
	assert_int_equal(calls[1], 3);
	assert_int_equal(calls[2], 4);
	loop_poller_remove(loop, poller_cb, (void *)2);
	start = loop_now_ns();
	loop_run_once(loop, 30);
	assert_true(loop_now_ns() - start >= 20 * MS);
	assert_int_equal(calls[2], 4);
}

/* loop_run(): quit from a callback, and SIGTERM through the signalfd */

static void quit_cb(void *opaque)
{
	note(5);
	loop_quit(loop);
}

static void test_run_quit(void **state)
{
	struct loop_timer *t = loop_timer_new(loop, quit_cb, NULL);

	loop_timer_mod(t, loop_now_ns() + 5 * MS);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(calls[5], 1);
	assert_int_equal(loop_quit_signal(loop), 0);
	loop_timer_free(t);
}

static void raise_cb(void *opaque)
{
	note(6);
	raise(SIGTERM);
}

static void test_signal_quit(void **state)
{
	struct loop_timer *t = loop_timer_new(loop, raise_cb, NULL);
	struct loop_timer *guard = loop_timer_new(loop, quit_cb, NULL);
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, NULL, &old);
	assert_int_equal(loop_handle_signals(loop), 0);
	loop_timer_mod(t, loop_now_ns() + 5 * MS);
	/* Should the signal not stop the loop, this does (and the test fails). */
	loop_timer_mod(guard, loop_now_ns() + 2000 * MS);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(calls[6], 1);
	assert_int_equal(calls[5], 0);
	assert_int_equal(loop_quit_signal(loop), SIGTERM);
	loop_timer_free(t);
	loop_timer_free(guard);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fd_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_can_read_gate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_in_same_round, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bottom_halves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bh_threadsafe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pollers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signal_quit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
