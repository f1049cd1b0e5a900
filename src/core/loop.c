// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * loop.c - the epoll event loop.
 *
 * Each round: consult every can-read gate and update the epoll interest set, wait (until the
 * nearest timer at most), dispatch ready fds, then expired timers, then bottom halves (which
 * may schedule more bottom halves: those run in the same round). An eventfd lets other
 * threads wake the loop; a signalfd turns SIGINT/SIGTERM into loop_quit(). Before a wait,
 * the loop may call its poll handlers for a window (adaptive polling): work found there saves
 * the wait, and the window adapts to how soon events come (as QEMU's aio-posix.c).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "vwire/loop.h"

#define LOOP_MAX_EVENTS 64
/* Times the pollers run per round (per epoll_wait) when the loop busy-polls. */
#define LOOP_POLLER_ROUNDS 8
/* The first poll window, and how it grows and shrinks (QEMU's poll-grow, poll-shrink). */
#define LOOP_POLL_BASE_NS 4000LL
#define LOOP_POLL_GROW 2
#define LOOP_POLL_SHRINK 2
/* While polling: poll handler calls between looks at the clock, and how often fds are looked at. */
#define LOOP_POLL_CLOCK_EVERY 8
#define LOOP_POLL_FD_CHECK_NS 50000LL

/**
 * struct loop_fd - what the loop knows of one watched fd
 * @read:	input callback
 * @write:	output callback
 * @can_read:	input gate
 * @opaque:	callback argument
 * @events:	the epoll interest currently registered (0: not registered)
 * @gen:	bumped whenever the handler changes, so stale events are ignored
 * @active:	a handler is set
 */
struct loop_fd {
	loop_cb *read;
	loop_cb *write;
	loop_can_read_cb *can_read;
	void *opaque;
	uint32_t events;
	uint32_t gen;
	bool active;
};

struct loop_timer {
	struct loop *loop;
	loop_cb *cb;
	void *opaque;
	int64_t expire_ns;
	bool pending;
	struct loop_timer *next; /* in loop->timers, sorted by expire_ns while pending */
};

struct loop_bh {
	struct loop *loop;
	loop_cb *cb;
	void *opaque;
	bool scheduled;
	bool threadsafe_pending;
	uint64_t ran_round; /* the loop's bh_round when it last ran */
	struct loop_bh *next; /* in loop->bhs: every bottom half of the loop */
};

/**
 * struct loop - the loop
 * @epfd:	epoll instance
 * @fds:	handlers indexed by fd
 * @nfds:	size of @fds
 * @gated:	fds that have a can_read gate (indices into @fds), consulted each round
 * @ngated:	count
 * @timers:	pending timers, soonest first
 * @bhs:	all bottom halves
 * @bh_lock:	protects threadsafe_pending flags
 * @bh_round:	counts the rounds that ran bottom halves (each runs at most once per round)
 * @wake_fd:	eventfd for loop_wakeup()
 * @sig_fd:	signalfd, or -1
 * @quit:	loop_run() returns after this round
 * @quit_signal: the signal that caused the quit
 * @pollers:	called every round (busy polling)
 * @npollers:	count
 * @poll_handlers: called in poll windows (adaptive polling)
 * @npoll_handlers: count
 * @poll_ns:	the current poll window
 * @poll_max_ns: its longest (0: no polling)
 * @poll_started: begin was called on the poll handlers, and end not yet
 */
struct loop {
	int epfd;
	struct loop_fd *fds;
	int nfds;
	int *gated;
	int ngated;
	int gated_cap;
	struct loop_timer *timers;
	struct loop_bh *bhs;
	uint64_t bh_round;
	pthread_mutex_t bh_lock;
	bool threadsafe_any;
	int wake_fd;
	int sig_fd;
	bool quit;
	int quit_signal;
	struct loop_poller *pollers;
	unsigned int npollers;
	struct loop_poll_handler *poll_handlers;
	unsigned int npoll_handlers;
	int64_t poll_ns;
	int64_t poll_max_ns;
	bool poll_started;
};

struct loop_poller {
	loop_cb *poll;
	void *opaque;
};

struct loop_poll_handler {
	loop_poll_cb *poll;
	loop_cb *begin;
	loop_poll_cb *end;
	void *opaque;
};

int64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void loop_wake_read(void *opaque)
{
	struct loop *loop = opaque;
	uint64_t v;
	struct loop_bh *bh;

	if (read(loop->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&loop->bh_lock);
	if (loop->threadsafe_any) {
		loop->threadsafe_any = false;
		for (bh = loop->bhs; bh; bh = bh->next) {
			if (bh->threadsafe_pending) {
				bh->threadsafe_pending = false;
				bh->scheduled = true;
			}
		}
	}
	pthread_mutex_unlock(&loop->bh_lock);
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->sig_fd = -1;
	loop->wake_fd = -1;
	pthread_mutex_init(&loop->bh_lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto err;
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0)
		goto err;
	if (loop_set_fd_handler(loop, loop->wake_fd, NULL, loop_wake_read, NULL, loop) < 0)
		goto err;
	return loop;
err:
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->fds);
	free(loop);
	return NULL;
}

void loop_free(struct loop *loop)
{
	struct loop_bh *bh, *next;

	if (!loop)
		return;
	for (bh = loop->bhs; bh; bh = next) {
		next = bh->next;
		free(bh);
	}
	if (loop->sig_fd >= 0)
		close(loop->sig_fd);
	close(loop->wake_fd);
	close(loop->epfd);
	pthread_mutex_destroy(&loop->bh_lock);
	free(loop->fds);
	free(loop->gated);
	free(loop->pollers);
	free(loop->poll_handlers);
	free(loop);
}

static int loop_grow_fds(struct loop *loop, int fd)
{
	int n = loop->nfds ? loop->nfds : 64;
	struct loop_fd *fds;

	while (n <= fd)
		n *= 2;
	fds = realloc(loop->fds, (size_t)n * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof(*fds));
	loop->fds = fds;
	loop->nfds = n;
	return 0;
}

static void loop_gated_remove(struct loop *loop, int fd)
{
	for (int i = 0; i < loop->ngated; i++) {
		if (loop->gated[i] == fd) {
			loop->gated[i] = loop->gated[--loop->ngated];
			return;
		}
	}
}

static int loop_gated_add(struct loop *loop, int fd)
{
	if (loop->ngated == loop->gated_cap) {
		int cap = loop->gated_cap ? loop->gated_cap * 2 : 16;
		int *g = realloc(loop->gated, (size_t)cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		loop->gated = g;
		loop->gated_cap = cap;
	}
	loop->gated[loop->ngated++] = fd;
	return 0;
}

/* Register @events for @fd with epoll, or remove it when 0. */
static int loop_update_events(struct loop *loop, int fd, uint32_t events)
{
	struct loop_fd *h = &loop->fds[fd];
	struct epoll_event ev = { .events = events };
	int op;

	if (events == h->events)
		return 0;
	ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)h->gen << 32);
	if (!events)
		op = EPOLL_CTL_DEL;
	else if (!h->events)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

static uint32_t loop_wanted_events(struct loop_fd *h)
{
	uint32_t ev = 0;

	if (h->read && (!h->can_read || h->can_read(h->opaque)))
		ev |= EPOLLIN;
	if (h->write)
		ev |= EPOLLOUT;
	return ev;
}

int loop_set_fd_handler(struct loop *loop, int fd, loop_can_read_cb *can_read, loop_cb *read,
			loop_cb *write, void *opaque)
{
	struct loop_fd *h;
	bool was_gated;
	int ret;

	if (fd < 0)
		return -EBADF;
	if (fd >= loop->nfds) {
		if (!read && !write)
			return 0;
		ret = loop_grow_fds(loop, fd);
		if (ret < 0)
			return ret;
	}
	h = &loop->fds[fd];
	was_gated = h->active && h->can_read;
	if (!read && !write) {
		if (h->events)
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		if (was_gated)
			loop_gated_remove(loop, fd);
		h->events = 0;
		h->active = false;
		h->gen++;
		h->read = NULL;
		h->write = NULL;
		h->can_read = NULL;
		return 0;
	}
	if (!was_gated && can_read) {
		ret = loop_gated_add(loop, fd);
		if (ret < 0)
			return ret;
	} else if (was_gated && !can_read) {
		loop_gated_remove(loop, fd);
	}
	if (!h->active) {
		h->gen++;
		h->events = 0;
	}
	h->read = read;
	h->write = write;
	h->can_read = can_read;
	h->opaque = opaque;
	h->active = true;
	/* Gated fds are re-evaluated before each poll; register without input for now. */
	ret = loop_update_events(loop, fd, can_read ? (write ? EPOLLOUT : 0) : loop_wanted_events(h));
	if (ret < 0)
		goto err; /* -EPERM: a regular file, which epoll cannot watch */
	return 0;
err:
	if (can_read)
		loop_gated_remove(loop, fd);
	h->active = false;
	h->read = NULL;
	h->write = NULL;
	h->can_read = NULL;
	return ret;
}

int loop_handle_signals(struct loop *loop)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	loop->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop->sig_fd < 0)
		return -errno;
	return 0;
}

int loop_quit_signal(struct loop *loop)
{
	return loop->quit_signal;
}

void loop_quit(struct loop *loop)
{
	loop->quit = true;
}

void loop_wakeup(struct loop *loop)
{
	uint64_t one = 1;

	if (write(loop->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the loop will wake anyway. */
	}
}

/* Timers */

struct loop_timer *loop_timer_new(struct loop *loop, loop_cb *cb, void *opaque)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->opaque = opaque;
	return t;
}

void loop_timer_del(struct loop_timer *timer)
{
	struct loop_timer **pp;

	if (!timer->pending)
		return;
	for (pp = &timer->loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = timer->next;
			break;
		}
	}
	timer->pending = false;
	timer->next = NULL;
}

void loop_timer_mod(struct loop_timer *timer, int64_t expire_ns)
{
	struct loop_timer **pp;

	loop_timer_del(timer);
	timer->expire_ns = expire_ns;
	for (pp = &timer->loop->timers; *pp && (*pp)->expire_ns <= expire_ns; pp = &(*pp)->next)
		;
	timer->next = *pp;
	*pp = timer;
	timer->pending = true;
}

bool loop_timer_pending(const struct loop_timer *timer)
{
	return timer->pending;
}

void loop_timer_free(struct loop_timer *timer)
{
	if (!timer)
		return;
	loop_timer_del(timer);
	free(timer);
}

static int loop_run_timers(struct loop *loop)
{
	int64_t now = loop_now_ns();
	int ran = 0;

	while (loop->timers && loop->timers->expire_ns <= now) {
		struct loop_timer *t = loop->timers;

		loop->timers = t->next;
		t->next = NULL;
		t->pending = false;
		t->cb(t->opaque);
		ran++;
	}
	return ran;
}

/* Bottom halves */

struct loop_bh *loop_bh_new(struct loop *loop, loop_cb *cb, void *opaque)
{
	struct loop_bh *bh = calloc(1, sizeof(*bh));

	if (!bh)
		return NULL;
	bh->loop = loop;
	bh->cb = cb;
	bh->opaque = opaque;
	pthread_mutex_lock(&loop->bh_lock);
	bh->next = loop->bhs;
	loop->bhs = bh;
	pthread_mutex_unlock(&loop->bh_lock);
	return bh;
}

void loop_bh_schedule(struct loop_bh *bh)
{
	bh->scheduled = true;
}

void loop_bh_schedule_threadsafe(struct loop_bh *bh)
{
	struct loop *loop = bh->loop;

	pthread_mutex_lock(&loop->bh_lock);
	bh->threadsafe_pending = true;
	loop->threadsafe_any = true;
	pthread_mutex_unlock(&loop->bh_lock);
	loop_wakeup(loop);
}

void loop_bh_cancel(struct loop_bh *bh)
{
	bh->scheduled = false;
}

void loop_bh_free(struct loop_bh *bh)
{
	struct loop_bh **pp;
	struct loop *loop;

	if (!bh)
		return;
	loop = bh->loop;
	pthread_mutex_lock(&loop->bh_lock);
	for (pp = &loop->bhs; *pp; pp = &(*pp)->next) {
		if (*pp == bh) {
			*pp = bh->next;
			break;
		}
	}
	pthread_mutex_unlock(&loop->bh_lock);
	free(bh);
}

static int loop_run_bhs(struct loop *loop)
{
	int ran = 0;
	bool again = true;

	/*
	 * A bottom half may schedule others, or free itself: restart the walk after each call.
	 * One that was scheduled again after it ran this round (a tx queue with more to send
	 * reschedules itself) waits for the next round, after the fds were looked at: else a
	 * guest that refills its ring as fast as it drains would keep the loop here for good.
	 */
	loop->bh_round++;
	while (again) {
		struct loop_bh *bh;

		again = false;
		for (bh = loop->bhs; bh; bh = bh->next) {
			if (bh->scheduled && bh->ran_round != loop->bh_round) {
				bh->ran_round = loop->bh_round;
				bh->scheduled = false;
				bh->cb(bh->opaque);
				ran++;
				again = true;
				break;
			}
		}
	}
	return ran;
}

static bool loop_bh_any_scheduled(struct loop *loop)
{
	for (struct loop_bh *bh = loop->bhs; bh; bh = bh->next)
		if (bh->scheduled)
			return true;
	return false;
}

static void loop_read_signals(struct loop *loop)
{
	struct signalfd_siginfo si;

	while (read(loop->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		loop->quit = true;
		loop->quit_signal = (int)si.ssi_signo;
	}
}

/* Adaptive polling */

/* Call every poll handler once; return how many found work. */
static int loop_poll_handlers_run(struct loop *loop)
{
	int found = 0;

	/* A handler may add or remove handlers: index the array afresh each time. */
	for (unsigned int i = 0; i < loop->npoll_handlers; i++)
		if (loop->poll_handlers[i].poll(loop->poll_handlers[i].opaque))
			found++;
	return found;
}

static void loop_poll_begin(struct loop *loop)
{
	if (loop->poll_started)
		return;
	loop->poll_started = true;
	for (unsigned int i = 0; i < loop->npoll_handlers; i++)
		if (loop->poll_handlers[i].begin)
			loop->poll_handlers[i].begin(loop->poll_handlers[i].opaque);
}

/* Stop polling; return true if a handler says work came while it was not looking. */
static bool loop_poll_end(struct loop *loop)
{
	bool work = false;

	if (!loop->poll_started)
		return false;
	loop->poll_started = false;
	for (unsigned int i = 0; i < loop->npoll_handlers; i++)
		if (loop->poll_handlers[i].end &&
		    loop->poll_handlers[i].end(loop->poll_handlers[i].opaque))
			work = true;
	return work;
}

/*
 * Resize the poll window after a round that could sleep: @block_ns passed from the start of
 * the window to the end of the wait (QEMU's adjust_polling_time()).
 */
static void loop_poll_adjust(struct loop *loop, int64_t block_ns)
{
	if (block_ns <= loop->poll_ns) {
		/* Work came within the window: it has the right size. */
	} else if (block_ns > loop->poll_max_ns) {
		/* Polling that long would have been in vain: poll less. */
		loop->poll_ns /= LOOP_POLL_SHRINK;
		if (loop->poll_ns < LOOP_POLL_BASE_NS)
			loop->poll_ns = 0;
	} else if (loop->poll_ns < loop->poll_max_ns) {
		/* Work came soon after the window: a longer one would have caught it. */
		loop->poll_ns = loop->poll_ns ? loop->poll_ns * LOOP_POLL_GROW : LOOP_POLL_BASE_NS;
		if (loop->poll_ns > loop->poll_max_ns)
			loop->poll_ns = loop->poll_max_ns;
	}
}

/* Whether any watched fd is ready now (a wait of 0). */
static bool loop_fd_ready(struct loop *loop)
{
	struct epoll_event ev;

	return epoll_wait(loop->epfd, &ev, 1, 0) > 0;
}

/*
 * Poll before sleeping: call the poll handlers until one finds work, a bottom half is
 * scheduled, a timer is due or an fd is ready (looked at every LOOP_POLL_FD_CHECK_NS), for
 * the poll window at most, but no longer than @timeout_ns (-1: no limit). When the window
 * runs out, polling ends and the handlers ask to be notified again. Set *@timeout_ns to 0
 * when the round has work and must not sleep; return how many handlers found work.
 */
static int loop_poll_window(struct loop *loop, int64_t *timeout_ns)
{
	int64_t now = loop_now_ns(), budget = loop->poll_ns, deadline, fd_check;
	unsigned int iter = 0;
	int found = 0;

	if (*timeout_ns >= 0 && budget > *timeout_ns)
		budget = *timeout_ns;
	deadline = now + budget;
	fd_check = now + LOOP_POLL_FD_CHECK_NS;
	if (budget > 0) {
		loop_poll_begin(loop);
		for (;;) {
			found = loop_poll_handlers_run(loop);
			if (found)
				goto busy;
			if (++iter % LOOP_POLL_CLOCK_EVERY)
				continue;
			if (loop_bh_any_scheduled(loop))
				goto busy;
			now = loop_now_ns();
			if (now >= deadline)
				break;
			if (loop->timers && loop->timers->expire_ns <= now)
				goto busy;
			if (now >= fd_check) {
				if (loop_fd_ready(loop))
					goto busy;
				fd_check = now + LOOP_POLL_FD_CHECK_NS;
			}
		}
	}
	/* Nothing came: sleep with notifications on, unless work slipped in as they came on. */
	if (!loop_poll_end(loop))
		return 0;
	found = loop_poll_handlers_run(loop);
busy:
	*timeout_ns = 0;
	return found;
}

/*
 * A round that will not sleep opens no window, but the handlers still poll if they asked
 * not to be notified; a loop that no longer polls (a poller came, or no window is allowed)
 * has them ask again.
 */
static int loop_poll_no_window(struct loop *loop)
{
	if (!loop->poll_started)
		return 0;
	if (loop->poll_max_ns && !loop->npollers)
		return loop_poll_handlers_run(loop);
	return loop_poll_end(loop) ? loop_poll_handlers_run(loop) : 0;
}

int loop_poll_handler_add(struct loop *loop, loop_poll_cb *poll, loop_cb *begin, loop_poll_cb *end,
			  void *opaque)
{
	struct loop_poll_handler *h;

	h = realloc(loop->poll_handlers, (loop->npoll_handlers + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	loop->poll_handlers = h;
	h[loop->npoll_handlers] = (struct loop_poll_handler){ poll, begin, end, opaque };
	loop->npoll_handlers++;
	/* Polling is under way: the newcomer joins it, and its end will come with the others'. */
	if (loop->poll_started && begin)
		begin(opaque);
	return 0;
}

void loop_poll_handler_remove(struct loop *loop, loop_poll_cb *poll, void *opaque)
{
	for (unsigned int i = 0; i < loop->npoll_handlers; i++) {
		if (loop->poll_handlers[i].poll == poll &&
		    loop->poll_handlers[i].opaque == opaque) {
			loop->poll_handlers[i] = loop->poll_handlers[--loop->npoll_handlers];
			/* The next handler added starts as a sleeping loop's would. */
			if (!loop->npoll_handlers)
				loop->poll_started = false;
			return;
		}
	}
}

void loop_set_poll_max_ns(struct loop *loop, int64_t ns)
{
	loop->poll_max_ns = ns > 0 ? ns : 0;
	if (loop->poll_ns > loop->poll_max_ns)
		loop->poll_ns = loop->poll_max_ns;
}

void loop_want_poll_ns(struct loop *loop, int64_t ns)
{
	if (loop->poll_max_ns < ns)
		loop_set_poll_max_ns(loop, ns);
}

int64_t loop_poll_max_ns(const struct loop *loop)
{
	return loop->poll_max_ns;
}

int64_t loop_poll_ns(const struct loop *loop)
{
	return loop->poll_ns;
}

/* The longest the round may wait: @timeout_ns at most, 0 with work pending, else the next timer. */
static int64_t loop_timeout(struct loop *loop, int64_t timeout_ns)
{
	if (loop_bh_any_scheduled(loop) || loop->npollers) {
		timeout_ns = 0;
	} else if (loop->timers) {
		int64_t delta = loop->timers->expire_ns - loop_now_ns();

		if (delta < 0)
			delta = 0;
		if (timeout_ns < 0 || delta < timeout_ns)
			timeout_ns = delta;
	}
	return timeout_ns;
}

/*
 * Wait for events, @timeout_ns at most (-1: no limit). A timer due in less than a millisecond
 * (a device's interrupt delay counts microseconds) is waited for to the nanosecond with
 * epoll_pwait2(); epoll_wait() would round it up to a whole millisecond. Kernels before 5.11
 * lack epoll_pwait2(): there the wait is rounded up.
 */
static int loop_wait(struct loop *loop, struct epoll_event *events, int max, int64_t timeout_ns)
{
	static bool no_pwait2; /* shared by every loop's thread: read and set atomically */
	int64_t ms;

	if (timeout_ns > 0 && timeout_ns % 1000000 &&
	    !__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
		int n = epoll_pwait2(loop->epfd, events, max, &ts, NULL);

		if (n >= 0 || errno != ENOSYS)
			return n;
		__atomic_store_n(&no_pwait2, true, __ATOMIC_RELAXED);
	}
	ms = timeout_ns < 0 ? -1 : (timeout_ns + 999999) / 1000000;
	return epoll_wait(loop->epfd, events, max, ms > INT_MAX ? INT_MAX : (int)ms);
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int64_t poll_start = 0, timeout_ns = timeout_ms < 0 ? -1 : timeout_ms * 1000000LL;
	int n, ran = 0;

	for (int i = 0; i < loop->ngated; i++) {
		int fd = loop->gated[i];

		loop_update_events(loop, fd, loop_wanted_events(&loop->fds[fd]));
	}
	timeout_ns = loop_timeout(loop, timeout_ns);
	if (timeout_ns != 0 && loop->poll_max_ns && loop->npoll_handlers) {
		poll_start = loop_now_ns();
		ran += loop_poll_window(loop, &timeout_ns);
		/* The window took some of the time left before the next timer. */
		if (timeout_ns != 0)
			timeout_ns = loop_timeout(loop, timeout_ns);
	} else {
		ran += loop_poll_no_window(loop);
	}
	n = loop_wait(loop, events, LOOP_MAX_EVENTS, timeout_ns);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	if (poll_start)
		loop_poll_adjust(loop, loop_now_ns() - poll_start);
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)events[i].data.u64;
		uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
		uint32_t ev = events[i].events;
		struct loop_fd *h;

		if (fd >= loop->nfds)
			continue;
		h = &loop->fds[fd];
		/* An earlier callback of this round may have removed or replaced the handler. */
		if (!h->active || h->gen != gen)
			continue;
		if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && h->read &&
		    (h->events & EPOLLIN)) {
			h->read(h->opaque);
			ran++;
		}
		h = &loop->fds[fd];
		if (!h->active || h->gen != gen)
			continue;
		if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && h->write) {
			h->write(h->opaque);
			ran++;
		}
	}
	/* Busy-polling: several looks per epoll_wait (a system call), unless a bottom half waits. */
	for (unsigned int k = 0; k < LOOP_POLLER_ROUNDS && loop->npollers; k++) {
		if (k && loop_bh_any_scheduled(loop))
			break;
		for (unsigned int i = 0; i < loop->npollers; i++)
			loop->pollers[i].poll(loop->pollers[i].opaque);
	}
	ran += loop_run_timers(loop);
	ran += loop_run_bhs(loop);
	return ran;
}

static void loop_sig_read(void *opaque)
{
	loop_read_signals(opaque);
}

int loop_run(struct loop *loop)
{
	int ret = 0;

	if (loop->sig_fd >= 0) {
		ret = loop_set_fd_handler(loop, loop->sig_fd, NULL, loop_sig_read, NULL, loop);
		if (ret < 0)
			return ret;
	}
	loop->quit = false;
	while (!loop->quit) {
		ret = loop_run_once(loop, -1);
		if (ret < 0)
			break;
		ret = 0;
	}
	if (loop->sig_fd >= 0)
		loop_set_fd_handler(loop, loop->sig_fd, NULL, NULL, NULL, NULL);
	return ret;
}

int loop_poller_add(struct loop *loop, loop_cb *poll, void *opaque)
{
	struct loop_poller *p = realloc(loop->pollers, (loop->npollers + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	loop->pollers = p;
	p[loop->npollers].poll = poll;
	p[loop->npollers].opaque = opaque;
	loop->npollers++;
	return 0;
}

void loop_poller_remove(struct loop *loop, loop_cb *poll, void *opaque)
{
	for (unsigned int i = 0; i < loop->npollers; i++) {
		if (loop->pollers[i].poll == poll && loop->pollers[i].opaque == opaque) {
			loop->pollers[i] = loop->pollers[--loop->npollers];
			return;
		}
	}
}
