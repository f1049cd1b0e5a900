// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iothread.c - threads that each run an event loop of their own (QEMU's IOThread).
 *
 * Other threads reach an iothread's loop through one bottom half made with the loop: a
 * request (run this function; quit) is queued under the iothread's mutex, the bottom half is
 * scheduled thread-safely (which wakes the loop through its eventfd), runs the queue on the
 * iothread and signals each waiter done. The list of iothreads is the main thread's.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/iothread.h"
#include "core/netdev.h"
#include "vwire/error.h"
#include "vwire/loop.h"

/* Longest thread name the kernel keeps, with its NUL. */
#define IOTHREAD_NAME_MAX 16

/**
 * struct iothread_req - one function to run on the iothread, and its waiter's flag
 * @fn:		the function
 * @opaque:	its argument
 * @done:	set (under the lock) once @fn returned
 * @next:	the next request
 */
struct iothread_req {
	iothread_fn *fn;
	void *opaque;
	bool done;
	struct iothread_req *next;
};

/**
 * struct iothread - one iothread
 * @id:			its name
 * @poll_max_ns:	-object iothread,poll-max-ns=
 * @loop:		its event loop
 * @req_bh:		runs the queued requests on the loop
 * @thread:		the thread (valid while @started)
 * @started:		the thread was created and not joined yet (main thread's)
 * @lock:		protects the fields below
 * @cond:		signalled when a request is done, the tid is known or the thread ends
 * @reqs:		queued requests, oldest first
 * @reqs_tail:		where the next one goes
 * @quit:		iothread_stop() was called
 * @exited:		the loop returned: the caller of iothread_run_sync() runs @fn itself
 * @tid:		the thread's kernel id (0 until it reports it)
 * @ret:		what loop_run() returned
 * @pause:		iothread_pause_all() holds the thread: it stays parked until cleared
 * @parked:		the thread waits in iothread_park() (or will not run again: exited)
 * @park_req:		the request that parks it, queued by iothread_pause_all()
 * @next:		the next in the list of iothreads
 */
struct iothread {
	char *id;
	uint64_t poll_max_ns;
	struct loop *loop;
	struct loop_bh *req_bh;
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct iothread_req *reqs;
	struct iothread_req **reqs_tail;
	bool quit;
	bool exited;
	pid_t tid;
	int ret;
	bool pause;
	bool parked;
	struct iothread_req park_req;

	struct iothread *next;
};

/* Signals raised synchronously on the thread that caused them: never blocked. */
static const int iothread_sync_signals[] = { SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGSYS, SIGTRAP };
#define IOTHREAD_NSYNC_SIGNALS (sizeof(iothread_sync_signals) / sizeof(iothread_sync_signals[0]))

/* Every iothread, oldest first: the main thread's, like the lists of net clients. */
static struct iothread *iothreads;

/* While set, object_init_iothread() makes iothreads without starting them. */
static bool iothread_deferred;

/* The iothread this thread runs, or NULL. */
static _Thread_local struct iothread *iothread_current;

/* Nesting depth of iothread_pause_all() (main thread's). */
static unsigned int iothread_pause_depth;

struct iothread *iothread_self(void)
{
	return iothread_current;
}

struct iothread *iothread_find(const char *id)
{
	for (struct iothread *io = iothreads; io; io = io->next)
		if (!strcmp(io->id, id))
			return io;
	return NULL;
}

struct iothread *iothread_first(void)
{
	return iothreads;
}

struct iothread *iothread_next(const struct iothread *io)
{
	return io->next;
}

const char *iothread_id(const struct iothread *io)
{
	return io->id;
}

uint64_t iothread_poll_max_ns(const struct iothread *io)
{
	return io->poll_max_ns;
}

struct loop *iothread_loop(struct iothread *io)
{
	return io->loop;
}

/* Run and complete every queued request; called with the lock held. */
static void iothread_run_reqs_locked(struct iothread *io)
{
	while (io->reqs) {
		struct iothread_req *req = io->reqs;

		io->reqs = req->next;
		if (!io->reqs)
			io->reqs_tail = &io->reqs;
		/* A request may ask for another iothread: never hold this lock across it. */
		pthread_mutex_unlock(&io->lock);
		req->fn(req->opaque);
		pthread_mutex_lock(&io->lock);
		/* Its waiter may free @req as soon as it sees this. */
		req->done = true;
		pthread_cond_broadcast(&io->cond);
	}
}

/* The bottom half, on the iothread: run the requests, then quit if asked. */
static void iothread_req_bh(void *opaque)
{
	struct iothread *io = opaque;
	bool quit;

	pthread_mutex_lock(&io->lock);
	iothread_run_reqs_locked(io);
	quit = io->quit;
	pthread_mutex_unlock(&io->lock);
	if (quit)
		loop_quit(io->loop);
}

static void *iothread_main(void *arg)
{
	struct iothread *io = arg;
	char name[IOTHREAD_NAME_MAX];
	int ret;

	iothread_current = io;
	/* QEMU names its iothreads "IO <id>" (truncated by the kernel to 15 bytes). */
	snprintf(name, sizeof(name), "IO %s", io->id);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&io->lock);
	io->tid = gettid();
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);

	ret = loop_run(io->loop);

	/*
	 * From here on callers run their functions themselves; those that queued one in the
	 * meantime are served now, still on this thread, so that no two threads use the loop.
	 */
	pthread_mutex_lock(&io->lock);
	io->ret = ret;
	iothread_run_reqs_locked(io);
	io->exited = true;
	io->tid = 0;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
	iothread_current = NULL;
	return NULL;
}

struct iothread *iothread_new(const char *id, uint64_t poll_max_ns, struct error *err)
{
	struct iothread *io, **pp;

	if (!id || !id[0]) {
		error_set(err, -EINVAL, "an iothread needs an id");
		return NULL;
	}
	if (iothread_find(id)) {
		error_set(err, -EEXIST, "Duplicate ID '%s' for iothread", id);
		return NULL;
	}
	io = calloc(1, sizeof(*io));
	if (!io)
		goto nomem;
	io->id = strdup(id);
	if (!io->id)
		goto nomem;
	io->loop = loop_new();
	if (!io->loop) {
		error_set(err, -errno, "iothread '%s': cannot create its event loop: %s", id,
			  strerror(errno));
		goto fail;
	}
	io->req_bh = loop_bh_new(io->loop, iothread_req_bh, io);
	if (!io->req_bh)
		goto nomem;
	io->poll_max_ns = poll_max_ns;
	/* The thread does not run yet: its loop may still be set up from here. */
	loop_set_poll_max_ns(io->loop, (int64_t)(poll_max_ns < INT64_MAX ? poll_max_ns : INT64_MAX));
	io->reqs_tail = &io->reqs;
	pthread_mutex_init(&io->lock, NULL);
	pthread_cond_init(&io->cond, NULL);
	for (pp = &iothreads; *pp; pp = &(*pp)->next)
		;
	*pp = io;
	return io;
nomem:
	error_set(err, -ENOMEM, "out of memory");
fail:
	if (io) {
		if (io->loop)
			loop_free(io->loop);
		free(io->id);
		free(io);
	}
	return NULL;
}

int iothread_start(struct iothread *io, struct error *err)
{
	sigset_t all, old;
	int ret;

	if (io->started)
		return error_set(err, -EALREADY, "iothread '%s' is running already", io->id);
	pthread_mutex_lock(&io->lock);
	io->quit = false;
	io->exited = false;
	io->ret = 0;
	pthread_mutex_unlock(&io->lock);
	/*
	 * The new thread inherits the mask: every signal stays with the main loop, except those
	 * the kernel raises on the faulting thread itself (mem-guard.c's SIGBUS, the sandbox's
	 * SIGSYS, the sanitizers' SIGSEGV): blocked, they would kill the process unhandled.
	 */
	sigfillset(&all);
	for (size_t i = 0; i < IOTHREAD_NSYNC_SIGNALS; i++)
		sigdelset(&all, iothread_sync_signals[i]);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&io->thread, NULL, iothread_main, io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return error_set(err, -ret, "iothread '%s': cannot create the thread: %s", io->id,
				 strerror(ret));
	io->started = true;
	return 0;
}

void iothread_stop(struct iothread *io)
{
	if (!io->started)
		return;
	pthread_mutex_lock(&io->lock);
	io->quit = true;
	pthread_mutex_unlock(&io->lock);
	loop_bh_schedule_threadsafe(io->req_bh);
}

int iothread_join(struct iothread *io)
{
	int ret;

	if (!io->started)
		return 0;
	pthread_join(io->thread, NULL);
	io->started = false;
	pthread_mutex_lock(&io->lock);
	ret = io->ret;
	pthread_mutex_unlock(&io->lock);
	return ret;
}

void iothread_run_sync(struct iothread *io, iothread_fn *fn, void *opaque)
{
	struct iothread_req req = { .fn = fn, .opaque = opaque };

	/* Parked by the caller's iothread_pause_all(): the caller is the loop's only user. */
	if (iothread_current == io || !io->started || io->pause) {
		fn(opaque);
		return;
	}
	pthread_mutex_lock(&io->lock);
	if (io->exited) {
		pthread_mutex_unlock(&io->lock);
		fn(opaque);
		return;
	}
	*io->reqs_tail = &req;
	io->reqs_tail = &req.next;
	pthread_mutex_unlock(&io->lock);
	loop_bh_schedule_threadsafe(io->req_bh);
	pthread_mutex_lock(&io->lock);
	while (!req.done)
		pthread_cond_wait(&io->cond, &io->lock);
	pthread_mutex_unlock(&io->lock);
}

pid_t iothread_thread_id(struct iothread *io)
{
	pid_t tid;

	if (!io->started)
		return 0;
	pthread_mutex_lock(&io->lock);
	while (!io->tid && !io->exited)
		pthread_cond_wait(&io->cond, &io->lock);
	tid = io->tid;
	pthread_mutex_unlock(&io->lock);
	return tid;
}

/* The request of iothread_pause_all(), on the iothread: wait until it is cleared. */
static void iothread_park(void *opaque)
{
	struct iothread *io = opaque;

	pthread_mutex_lock(&io->lock);
	io->parked = true;
	pthread_cond_broadcast(&io->cond);
	while (io->pause)
		pthread_cond_wait(&io->cond, &io->lock);
	io->parked = false;
	pthread_mutex_unlock(&io->lock);
}

/* Let one parked iothread go on and wait until its park request is done (reusable again). */
static void iothread_unpark(struct iothread *io)
{
	if (!io->pause)
		return;
	pthread_mutex_lock(&io->lock);
	io->pause = false;
	pthread_cond_broadcast(&io->cond);
	while (!io->park_req.done && !io->exited)
		pthread_cond_wait(&io->cond, &io->lock);
	pthread_mutex_unlock(&io->lock);
}

void iothread_pause_all(void)
{
	if (iothread_pause_depth++)
		return;
	/* Ask them all first, then wait: they park in parallel. */
	for (struct iothread *io = iothreads; io; io = io->next) {
		if (!io->started)
			continue;
		pthread_mutex_lock(&io->lock);
		if (!io->exited) {
			io->pause = true;
			io->park_req = (struct iothread_req){ .fn = iothread_park, .opaque = io };
			*io->reqs_tail = &io->park_req;
			io->reqs_tail = &io->park_req.next;
		}
		pthread_mutex_unlock(&io->lock);
		if (io->pause)
			loop_bh_schedule_threadsafe(io->req_bh);
	}
	for (struct iothread *io = iothreads; io; io = io->next) {
		if (!io->pause)
			continue;
		pthread_mutex_lock(&io->lock);
		while (!io->parked && !io->exited)
			pthread_cond_wait(&io->cond, &io->lock);
		pthread_mutex_unlock(&io->lock);
	}
}

void iothread_resume_all(void)
{
	if (!iothread_pause_depth || --iothread_pause_depth)
		return;
	for (struct iothread *io = iothreads; io; io = io->next)
		iothread_unpark(io);
}

void iothread_stop_all(void)
{
	/* Ask them all first, so that they wind down together. */
	for (struct iothread *io = iothreads; io; io = io->next) {
		iothread_unpark(io);
		iothread_stop(io);
	}
	for (struct iothread *io = iothreads; io; io = io->next)
		iothread_join(io);
}

void iothread_free(struct iothread *io)
{
	struct iothread **pp;

	if (!io)
		return;
	/* A parked thread would never see the stop. */
	iothread_unpark(io);
	iothread_stop(io);
	iothread_join(io);
	for (pp = &iothreads; *pp; pp = &(*pp)->next) {
		if (*pp == io) {
			*pp = io->next;
			break;
		}
	}
	loop_bh_free(io->req_bh);
	loop_free(io->loop);
	pthread_cond_destroy(&io->cond);
	pthread_mutex_destroy(&io->lock);
	free(io->id);
	free(io);
}

void iothread_free_all(void)
{
	iothread_stop_all();
	while (iothreads)
		iothread_free(iothreads);
}

int object_init_iothread(const struct object_iothread_opts *o, const char *id,
			 struct loop *loop, struct error *err)
{
	struct iothread *io = iothread_new(id, o->poll_max_ns, err);
	int ret;

	if (!io)
		return err ? err->code : -ENOMEM;
	if (iothread_deferred)
		return 0;
	ret = iothread_start(io, err);
	if (ret < 0)
		iothread_free(io);
	return ret;
}

void iothread_defer_start(bool defer)
{
	iothread_deferred = defer;
}

int iothread_start_all(struct error *err)
{
	for (struct iothread *io = iothreads; io; io = io->next) {
		int ret;

		if (io->started)
			continue;
		ret = iothread_start(io, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}
