/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iothread.h - a named thread that runs its own event loop (-object iothread,id=ID), as
 * QEMU's IOThread: devices whose data path is given to it are served there, off the main loop.
 *
 * The main thread creates, starts, stops and joins iothreads and reaches into them only
 * through iothread_run_sync(), which runs a function on the iothread and waits for it (QEMU's
 * aio_wait_bh_oneshot): that is how QMP commands touch a device that lives there. Signals
 * stay blocked in iothreads (but for faults): the main loop takes them through its signalfd.
 */
#ifndef VWIRE_CORE_IOTHREAD_H
#define VWIRE_CORE_IOTHREAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct error;
struct iothread;
struct loop;

typedef void iothread_fn(void *opaque);

/* QEMU's default poll-max-ns for an iothread's adaptive polling. */
#define IOTHREAD_POLL_MAX_NS_DEFAULT 32768

/**
 * iothread_new() - create an iothread and its event loop, not yet running; main thread only
 * @id:			its name, unique among iothreads
 * @poll_max_ns:	longest busy-poll before the loop sleeps (loop_set_poll_max_ns(); 0:
 *			never poll)
 * @err:		the error
 *
 * The iothread is listed (iothread_find()) until iothread_free().
 *
 * Return: the iothread, or NULL with @err set (-EEXIST for a taken id).
 */
struct iothread *iothread_new(const char *id, uint64_t poll_max_ns, struct error *err);

/**
 * iothread_start() - start the thread, which runs the loop until iothread_stop()
 * @io:		the iothread
 * @err:	the error
 *
 * The thread starts with every signal blocked but those raised by a fault of its own (SIGBUS,
 * SIGSEGV, SIGFPE, SIGILL, SIGSYS, SIGTRAP), whose handlers must run on it.
 *
 * Return: 0, or a negative errno with @err set (-EALREADY if it was started before).
 */
int iothread_start(struct iothread *io, struct error *err);

/**
 * iothread_stop() - ask the loop to return (after its current round); returns at once
 * @io: the iothread (not started, or stopped already: nothing happens)
 */
void iothread_stop(struct iothread *io);

/**
 * iothread_join() - wait for the thread to end (after iothread_stop())
 * @io: the iothread (not started, or joined already: returns at once)
 *
 * Return: 0, or the negative errno the loop failed with.
 */
int iothread_join(struct iothread *io);

/**
 * iothread_free() - stop, join and free an iothread and its loop; NULL is ignored
 * @io: the iothread
 *
 * Whatever was attached to its loop (handlers, timers, bottom halves) must be gone already.
 */
void iothread_free(struct iothread *io);

/**
 * iothread_run_sync() - run @fn(@opaque) on the iothread and wait until it has returned
 * @io:		the iothread
 * @fn:		the function
 * @opaque:	its argument
 *
 * From the iothread itself, or while its thread is not running (before iothread_start(),
 * after its loop returned), @fn runs at once in the caller, which is then the only user of
 * the loop. Otherwise @fn runs at the end of a round of the iothread's loop, as a bottom
 * half: it may touch anything that lives on that loop. Callers on other threads are served
 * in the order they asked. Call it from the main thread (or a thread that is no iothread):
 * two iothreads waiting on each other would deadlock.
 */
void iothread_run_sync(struct iothread *io, iothread_fn *fn, void *opaque);

/**
 * iothread_pause_all() - park every running iothread between two rounds of its loop and
 *			  return once all are parked; main thread only; nests
 *
 * Until iothread_resume_all(), the caller may touch anything that lives on any loop as if it
 * were the loop's own thread (as QEMU's monitor does under its big lock): QMP commands run so.
 * iothread_run_sync() then runs its function at once in the caller.
 */
void iothread_pause_all(void);

/**
 * iothread_resume_all() - let the iothreads of the outermost iothread_pause_all() go on
 */
void iothread_resume_all(void);

/**
 * iothread_stop_all() - stop every iothread and wait until each has ended; main thread only
 *
 * Their loops stay: what lives on them is then the caller's to free (at shutdown), before
 * iothread_free_all().
 */
void iothread_stop_all(void);

/**
 * iothread_loop() - the iothread's event loop
 * @io: the iothread
 *
 * Return: the loop; use it from the iothread (or through iothread_run_sync()).
 */
struct loop *iothread_loop(struct iothread *io);

/**
 * iothread_id() - the iothread's name
 * @io: the iothread
 *
 * Return: its id
 */
const char *iothread_id(const struct iothread *io);

/**
 * iothread_poll_max_ns() - the poll-max-ns it was created with
 * @io: the iothread
 *
 * Return: nanoseconds
 */
uint64_t iothread_poll_max_ns(const struct iothread *io);

/**
 * iothread_thread_id() - the kernel's id of the thread (as QEMU's query-iothreads thread-id)
 * @io: the iothread
 *
 * Waits for a just-started thread to report it.
 *
 * Return: the tid, or 0 while the thread is not running
 */
pid_t iothread_thread_id(struct iothread *io);

/**
 * iothread_self() - the iothread the caller runs on
 *
 * Return: it, or NULL on any other thread (the main loop's)
 */
struct iothread *iothread_self(void);

/**
 * iothread_find() - an iothread by id; main thread only
 * @id: the id
 *
 * Return: it, or NULL
 */
struct iothread *iothread_find(const char *id);

/**
 * iothread_first() - walk every iothread, oldest first: iothread_first(), then
 *		      iothread_next(io) until NULL; main thread only
 *
 * Return: the first, or NULL
 */
struct iothread *iothread_first(void);

/**
 * iothread_next() - the one made after @io
 * @io: an iothread
 *
 * Return: the next, or NULL
 */
struct iothread *iothread_next(const struct iothread *io);

/**
 * iothread_defer_start() - have -object iothread (object_init_iothread()) make iothreads
 *			    without starting them, or start them at once again; main thread only
 * @defer: true to defer
 *
 * A thread keeps the credentials and the mount namespace it was made with, while the
 * daemon's sandbox drops capabilities and leaves the file system in the main thread only:
 * the daemon defers the command line's iothreads until it is sandboxed, then starts them
 * with iothread_start_all(). Later ones (QMP object-add) start sandboxed like their maker.
 */
void iothread_defer_start(bool defer);

/**
 * iothread_start_all() - start every iothread that is not running; main thread only
 * @err: the error
 *
 * Return: 0, or the first failure (-errno, @err naming the iothread)
 */
int iothread_start_all(struct error *err);

/**
 * iothread_free_all() - stop, join and free every iothread (at shutdown); main thread only
 */
void iothread_free_all(void);

#endif
