// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_loop.c - the event loop on real pipes, clocks and signals: fd handlers and their
 * can-read gates, handlers removed by an earlier callback of the same round, timers (order,
 * cancel, re-arm, re-arm from their own callback), bottom halves (once, from handlers, chained,
 * from another thread), pollers, adaptive polling (the window grows, stays, shrinks to nothing
 * and the loop then sleeps; begin/end pairing and a re-check after end; bottom halves, timers
 * and fds while polling), loop_quit() and SIGTERM through the signalfd.
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
#include <sys/eventfd.h>
#include <sys/resource.h>
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

static struct loop_bh *bh_again;

static void bh_again_cb(void *opaque)
{
	note(5);
	/* Bounded, so that a loop that runs it over and over fails the test instead of hanging. */
	if (calls[5] < 100)
		loop_bh_schedule(bh_again);
}

static void bh_ping_cb(void *opaque)
{
	note(1);
	loop_bh_schedule(bh_b);
}

static void bh_pong_cb(void *opaque)
{
	note(2);
	loop_bh_schedule(bh_a);
}

/* A bottom half that always schedules itself again runs once a round, and fds still come. */
static void test_bottom_half_again(void **state)
{
	struct pipe_h p;

	bh_again = loop_bh_new(loop, bh_again_cb, NULL);
	assert_non_null(bh_again);
	loop_bh_schedule(bh_again);
	assert_int_equal(loop_run_once(loop, 1000), 1);
	assert_int_equal(calls[5], 1);
	pipe_open(&p, 4);
	assert_int_equal(loop_set_fd_handler(loop, p.fd[0], NULL, pipe_read, NULL, &p), 0);
	assert_int_equal(write(p.fd[1], "x", 1), 1);
	norder = 0;
	assert_int_equal(loop_run_once(loop, 1000), 2);
	assert_int_equal(order[0], 4);
	assert_int_equal(order[1], 5);
	assert_int_equal(calls[5], 2);
	pipe_close(&p);
	loop_bh_free(bh_again);
	/* Two that schedule each other: each once a round, in order. */
	bh_a = loop_bh_new(loop, bh_ping_cb, NULL);
	bh_b = loop_bh_new(loop, bh_pong_cb, NULL);
	loop_bh_schedule(bh_a);
	norder = 0;
	assert_int_equal(loop_run_once(loop, 0), 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(loop_run_once(loop, 0), 2);
	assert_int_equal(calls[1], 2);
	assert_int_equal(calls[2], 2);
	loop_bh_free(bh_a);
	loop_bh_free(bh_b);
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
	int per_round;

	assert_int_equal(loop_poller_add(loop, poller_cb, (void *)1), 0);
	assert_int_equal(loop_poller_add(loop, poller_cb, (void *)2), 0);
	/* With pollers the loop never sleeps: each round calls each the same number of times. */
	loop_run_once(loop, 5000);
	per_round = calls[1];
	assert_true(per_round >= 1);
	for (int i = 0; i < 2; i++)
		loop_run_once(loop, 5000);
	assert_true(loop_now_ns() - start < 1000 * MS);
	assert_int_equal(calls[1], 3 * per_round);
	assert_int_equal(calls[2], 3 * per_round);
	loop_poller_remove(loop, poller_cb, (void *)1);
	loop_poller_remove(loop, poller_cb, (void *)7); /* unknown: ignored */
	loop_run_once(loop, 0);
	assert_int_equal(calls[1], 3 * per_round);
	assert_int_equal(calls[2], 4 * per_round);
	loop_poller_remove(loop, poller_cb, (void *)2);
	start = loop_now_ns();
	loop_run_once(loop, 30);
	assert_true(loop_now_ns() - start >= 20 * MS);
	assert_int_equal(calls[2], 4 * per_round);
}

/* Adaptive polling, with a poll handler whose work the test decides */

#define US 1000LL

/**
 * struct fake_poll - a poll handler and what it saw
 * @polls:	poll calls
 * @polls_idle:	poll calls outside begin/end (must only follow an end that found work)
 * @found:	poll calls that found work
 * @begins:	begin calls
 * @ends:	end calls
 * @started:	between begin and end
 * @work:	units of work waiting: a poll takes one
 * @end_work:	ends that find work slipped in (each adds a unit)
 * @bh_at:	on this poll call, schedule @bh
 * @timer_at:	on this poll call, arm @timer 1 ms ahead
 * @fd_at:	on this poll call, write @efd
 * @work_at:	on this poll call, work appears
 * @efd:	an eventfd watched by the loop (a note(3) when read)
 * @bh:		a bottom half (note(4))
 * @timer:	a timer (note(5))
 */
struct fake_poll {
	int polls, polls_idle, found, begins, ends;
	bool started;
	int work, end_work;
	int bh_at, timer_at, fd_at, work_at;
	int efd;
	struct loop_bh *bh;
	struct loop_timer *timer;
};

static struct fake_poll fp;

static bool fake_poll(void *opaque)
{
	struct fake_poll *f = opaque;
	uint64_t one = 1;

	f->polls++;
	if (!f->started)
		f->polls_idle++;
	if (f->polls == f->bh_at)
		loop_bh_schedule(f->bh);
	if (f->polls == f->timer_at)
		loop_timer_mod(f->timer, loop_now_ns() + 1 * MS);
	if (f->polls == f->fd_at)
		assert_int_equal(write(f->efd, &one, sizeof(one)), sizeof(one));
	if (f->polls == f->work_at)
		f->work++;
	if (!f->work)
		return false;
	f->work--;
	f->found++;
	return true;
}

static void fake_begin(void *opaque)
{
	struct fake_poll *f = opaque;

	assert_false(f->started);
	f->started = true;
	f->begins++;
}

static bool fake_end(void *opaque)
{
	struct fake_poll *f = opaque;

	assert_true(f->started);
	f->started = false;
	f->ends++;
	if (!f->end_work)
		return false;
	f->end_work--;
	f->work++;
	return true;
}

static void fake_efd_read(void *opaque)
{
	uint64_t v;

	note(3);
	if (read(((struct fake_poll *)opaque)->efd, &v, sizeof(v)) < 0)
		fail();
}

static void fake_bh(void *opaque)
{
	note(4);
}

static void fake_timer(void *opaque)
{
	note(5);
}

static int setup_poll(void **state)
{
	setup(state);
	memset(&fp, 0, sizeof(fp));
	fp.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fp.efd >= 0);
	assert_int_equal(loop_set_fd_handler(loop, fp.efd, NULL, fake_efd_read, NULL, &fp), 0);
	fp.bh = loop_bh_new(loop, fake_bh, &fp);
	fp.timer = loop_timer_new(loop, fake_timer, &fp);
	assert_non_null(fp.bh);
	assert_non_null(fp.timer);
	assert_int_equal(loop_poll_handler_add(loop, fake_poll, fake_begin, fake_end, &fp), 0);
	return 0;
}

static int teardown_poll(void **state)
{
	loop_poll_handler_remove(loop, fake_poll, &fp);
	loop_set_fd_handler(loop, fp.efd, NULL, NULL, NULL, NULL);
	close(fp.efd);
	loop_bh_free(fp.bh);
	loop_timer_free(fp.timer);
	return teardown(state);
}

static void fake_kick(void)
{
	uint64_t one = 1;

	assert_int_equal(write(fp.efd, &one, sizeof(one)), sizeof(one));
}

/*
 * One round in which work comes just after the window: an fd ready before a round without
 * window, else work that slipped in as polling ended. Either way the round does not sleep.
 */
static void round_with_late_work(void)
{
	int64_t t0 = loop_now_ns();

	if (loop_poll_ns(loop) == 0)
		fake_kick();
	else
		fp.end_work = 1;
	/* A sleep would last 5 s; a busy machine may stall a round for a while, not that long. */
	loop_run_once(loop, 5000);
	if (loop_now_ns() - t0 >= 2500 * MS)
		fail_msg("round of %lld ms; window %lld us, polls %d, begins %d, ends %d, end_work %d",
			 (long long)((loop_now_ns() - t0) / MS), (long long)(loop_poll_ns(loop) / US),
			 fp.polls, fp.begins, fp.ends, fp.end_work);
	assert_int_equal(fp.begins, fp.ends);
	assert_int_equal(fp.end_work, 0);
	assert_int_equal(fp.work, 0);
}

/* Grow the window until it reaches @ns (it must within 40 rounds). */
static void grow_to(int64_t ns)
{
	for (int i = 0; i < 40 && loop_poll_ns(loop) < ns; i++)
		round_with_late_work();
	assert_true(loop_poll_ns(loop) >= ns);
}

/* No maximum: the handler is never called, and the window stays 0. */
static void test_poll_off(void **state)
{
	for (int i = 0; i < 3; i++) {
		fake_kick();
		loop_run_once(loop, 1000);
	}
	assert_int_equal(calls[3], 3);
	assert_int_equal(fp.polls + fp.begins + fp.ends, 0);
	assert_int_equal(loop_poll_ns(loop), 0);
}

/* Work that comes soon after the window doubles it, from 4 us, up to the maximum. */
static void test_poll_grows(void **state)
{
	int64_t prev = 0;
	bool capped = false;

	loop_set_poll_max_ns(loop, 200 * MS);
	assert_int_equal(loop_poll_max_ns(loop), 200 * MS);
	round_with_late_work();
	assert_int_equal(loop_poll_ns(loop), 4 * US);
	/* Far below the maximum, however slow the machine: each round doubles the window. */
	for (int64_t want = 8 * US; want <= 64 * US; want *= 2) {
		round_with_late_work();
		assert_int_equal(loop_poll_ns(loop), want);
	}
	/* Work that slipped in as polling ended was polled once more, outside the window. */
	assert_int_equal(fp.found, 4);
	assert_int_equal(fp.polls_idle, 4);
	assert_int_equal(calls[3], 1);
	for (int i = 0; i < 40 && !capped; i++) {
		prev = loop_poll_ns(loop);
		round_with_late_work();
		assert_true(loop_poll_ns(loop) <= 200 * MS);
		capped = loop_poll_ns(loop) == 200 * MS;
	}
	assert_true(capped);
	assert_true(prev > 100 * MS); /* it got there by doubling */
	/* A lower maximum cuts the window down at once. */
	loop_set_poll_max_ns(loop, 1 * MS);
	assert_int_equal(loop_poll_ns(loop), 1 * MS);
}

/* Work found by polling keeps the window as it is, and polling goes on (no end). */
static void test_poll_found_keeps_window(void **state)
{
	int64_t ns;
	int idle;

	loop_set_poll_max_ns(loop, 100 * MS);
	grow_to(20 * MS);
	ns = loop_poll_ns(loop);
	idle = fp.polls_idle;
	fp.work_at = fp.polls + 100;
	assert_true(loop_run_once(loop, 5000) >= 1);
	/* It stopped polling at the call that found the work. */
	assert_int_equal(fp.polls, fp.work_at);
	assert_int_equal(loop_poll_ns(loop), ns);
	assert_true(fp.started);
	assert_int_equal(fp.begins, fp.ends + 1);
	/* The next round polls on without a new begin. */
	fp.work_at = fp.polls + 10;
	loop_run_once(loop, 5000);
	assert_int_equal(fp.begins, fp.ends + 1);
	assert_int_equal(fp.polls_idle, idle);
}

/* Rounds that sleep past the maximum shrink the window (halves) to nothing; then no polling. */
static void test_poll_shrinks_then_sleeps(void **state)
{
	int64_t t0, prev;
	struct rusage r0, r1;
	int polls;

	loop_set_poll_max_ns(loop, 2 * MS);
	grow_to(1 * MS);
	for (int i = 0; i < 12 && loop_poll_ns(loop); i++) {
		prev = loop_poll_ns(loop);
		loop_run_once(loop, 10);
		assert_true(loop_poll_ns(loop) == prev / 2 || loop_poll_ns(loop) == 0);
		assert_false(fp.started);
	}
	assert_int_equal(loop_poll_ns(loop), 0);
	assert_int_equal(fp.begins, fp.ends);
	/* Idle: the loop sleeps in epoll_wait and calls nothing, using no CPU. */
	polls = fp.polls;
	t0 = loop_now_ns();
	assert_int_equal(getrusage(RUSAGE_THREAD, &r0), 0);
	assert_int_equal(loop_run_once(loop, 100), 0);
	assert_int_equal(getrusage(RUSAGE_THREAD, &r1), 0);
	assert_true(loop_now_ns() - t0 >= 90 * MS);
	assert_int_equal(fp.polls, polls);
	assert_true((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000 + r1.ru_utime.tv_usec -
			    r0.ru_utime.tv_usec + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000 +
			    r1.ru_stime.tv_usec - r0.ru_stime.tv_usec <
		    20000);
	/* And the next event starts it again. */
	round_with_late_work();
	assert_int_equal(loop_poll_ns(loop), 4 * US);
}

/* Work that slipped in as polling ended keeps the loop from sleeping; without it, it sleeps. */
static void test_poll_end_recheck(void **state)
{
	int64_t t0;

	loop_set_poll_max_ns(loop, 1 * MS);
	grow_to(4 * US);
	fp.end_work = 1;
	t0 = loop_now_ns();
	assert_true(loop_run_once(loop, 3000) >= 1);
	assert_true(loop_now_ns() - t0 < 1000 * MS);
	assert_int_equal(fp.found, 1);
	assert_int_equal(fp.polls_idle, 1);
	assert_int_equal(fp.work, 0);
	t0 = loop_now_ns();
	assert_int_equal(loop_run_once(loop, 30), 0);
	assert_true(loop_now_ns() - t0 >= 25 * MS);
	assert_int_equal(fp.begins, fp.ends);
	assert_false(fp.started);
}

/* A bottom half scheduled, a timer due or an fd ready while polling end the window. */
static void test_poll_leaves_for_events(void **state)
{
	int64_t t0;

	loop_set_poll_max_ns(loop, 400 * MS);
	grow_to(200 * MS);

	fp.bh_at = fp.polls + 1000;
	t0 = loop_now_ns();
	loop_run_once(loop, 5000);
	assert_int_equal(calls[4], 1);
	assert_true(loop_now_ns() - t0 < 100 * MS);

	fp.timer_at = fp.polls + 1000;
	t0 = loop_now_ns();
	for (int i = 0; i < 3 && !calls[5]; i++)
		loop_run_once(loop, 5000);
	assert_int_equal(calls[5], 1);
	assert_true(loop_now_ns() - t0 < 100 * MS);

	fp.fd_at = fp.polls + 1000;
	t0 = loop_now_ns();
	calls[3] = 0;
	loop_run_once(loop, 5000);
	assert_int_equal(calls[3], 1);
	assert_true(loop_now_ns() - t0 < 100 * MS);
	/* All found while polling: the window kept its size, and polling goes on. */
	assert_true(loop_poll_ns(loop) >= 200 * MS);
	assert_true(fp.started);
}

/* A poller makes the loop spin: no window, and a handler that was polling is told to stop. */
static void test_poll_with_poller(void **state)
{
	loop_set_poll_max_ns(loop, 100 * MS);
	grow_to(1 * MS);
	fp.work_at = fp.polls + 10;
	loop_run_once(loop, 5000);
	assert_true(fp.started);
	assert_int_equal(loop_poller_add(loop, poller_cb, (void *)1), 0);
	loop_run_once(loop, 5000);
	assert_false(fp.started);
	assert_int_equal(fp.begins, fp.ends);
	loop_run_once(loop, 5000);
	assert_true(calls[1] >= 2);
	assert_int_equal(fp.begins, fp.ends);
	loop_poller_remove(loop, poller_cb, (void *)1);
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
	    cmocka_unit_test_setup_teardown(test_bottom_half_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bh_threadsafe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pollers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_poll_off, setup_poll, teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_grows, setup_poll, teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_found_keeps_window, setup_poll,
					    teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_shrinks_then_sleeps, setup_poll,
					    teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_end_recheck, setup_poll, teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_leaves_for_events, setup_poll, teardown_poll),
	    cmocka_unit_test_setup_teardown(test_poll_with_poller, setup_poll, teardown_poll),
	    cmocka_unit_test_setup_teardown(test_run_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signal_quit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
