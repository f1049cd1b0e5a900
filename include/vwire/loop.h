/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.h - the event loop that drives every file descriptor, timer and deferred call.
 *
 * One loop per thread: the main loop, and one per iothread (src/core/iothread.c). File
 * descriptors get read/write callbacks and an optional can-read gate that the loop consults
 * before polling for input; timers fire on the monotonic clock; bottom halves run after the
 * current dispatch round. Poll handlers let the loop busy-poll for a while before it sleeps
 * (adaptive polling, as QEMU's aio). A loop keeps no process-wide state, and only its own
 * thread may use it, but for loop_wakeup() and loop_bh_schedule_threadsafe() (any thread).
 */
#ifndef VWIRE_LOOP_H
#define VWIRE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;
struct loop_bh;

typedef void loop_cb(void *opaque);
typedef bool loop_can_read_cb(void *opaque);
typedef bool loop_poll_cb(void *opaque);

/**
 * loop_new() - create an event loop
 *
 * Return: the loop, or NULL with errno set.
 */
struct loop *loop_new(void);

/**
 * loop_free() - free a loop; every handler, timer and bottom half must be gone already
 * @loop: the loop
 */
void loop_free(struct loop *loop);

/**
 * loop_run() - dispatch events until loop_quit() is called or a handled signal arrives
 * @loop: the loop
 *
 * Return: 0, or a negative errno if epoll failed.
 */
int loop_run(struct loop *loop);

/**
 * loop_run_once() - one round: poll (waiting at most @timeout_ms, -1 for no limit),
 *                   dispatch fds, expired timers and bottom halves
 * @loop:	the loop
 * @timeout_ms:	longest wait
 *
 * Return: number of callbacks run, or a negative errno.
 */
int loop_run_once(struct loop *loop, int timeout_ms);

/**
 * loop_quit() - make loop_run() return after the current round
 * @loop: the loop
 */
void loop_quit(struct loop *loop);

/**
 * loop_handle_signals() - have SIGINT and SIGTERM stop loop_run() (through a signalfd)
 * @loop: the loop
 *
 * Blocks them in the calling thread only: other threads must keep them blocked too (as
 * iothreads do), or the default action would take them.
 *
 * Return: 0 or a negative errno.
 */
int loop_handle_signals(struct loop *loop);

/**
 * loop_quit_signal() - the signal that stopped the loop, or 0
 * @loop: the loop
 *
 * Return: signal number
 */
int loop_quit_signal(struct loop *loop);

/**
 * loop_set_fd_handler() - watch @fd; both callbacks NULL stops watching it
 * @loop:	the loop
 * @fd:		the file descriptor
 * @can_read:	gate consulted before each poll; while it returns false, input is not polled
 *		(NULL: always poll for input when @read is set)
 * @read:	called when @fd is readable
 * @write:	called when @fd is writable (NULL: do not poll for output)
 * @opaque:	passed to the callbacks
 *
 * Replaces any handler already set for @fd.
 *
 * Return: 0 or a negative errno.
 */
int loop_set_fd_handler(struct loop *loop, int fd, loop_can_read_cb *can_read, loop_cb *read,
			loop_cb *write, void *opaque);

/**
 * loop_now_ns() - monotonic time in nanoseconds
 *
 * Return: nanoseconds
 */
int64_t loop_now_ns(void);

/**
 * loop_timer_new() - create a timer (not armed)
 * @loop:	the loop
 * @cb:		called when the timer expires
 * @opaque:	passed to @cb
 *
 * Return: the timer, or NULL with errno set.
 */
struct loop_timer *loop_timer_new(struct loop *loop, loop_cb *cb, void *opaque);

/**
 * loop_timer_mod() - arm a timer to fire at @expire_ns (loop_now_ns() clock), rearming it
 * @timer:	the timer
 * @expire_ns:	deadline
 */
void loop_timer_mod(struct loop_timer *timer, int64_t expire_ns);

/**
 * loop_timer_del() - disarm a timer
 * @timer: the timer
 */
void loop_timer_del(struct loop_timer *timer);

/**
 * loop_timer_pending() - whether a timer is armed
 * @timer: the timer
 *
 * Return: true if armed
 */
bool loop_timer_pending(const struct loop_timer *timer);

/**
 * loop_timer_free() - disarm and free a timer; NULL is ignored
 * @timer: the timer
 */
void loop_timer_free(struct loop_timer *timer);

/**
 * loop_bh_new() - create a bottom half: a call deferred to the end of the current round
 * @loop:	the loop
 * @cb:		the call
 * @opaque:	passed to @cb
 *
 * Return: the bottom half, or NULL with errno set.
 */
struct loop_bh *loop_bh_new(struct loop *loop, loop_cb *cb, void *opaque);

/**
 * loop_bh_schedule() - run @bh once after the current dispatch; scheduling twice runs it once
 *
 * A bottom half scheduled by another one runs in the same round; one scheduled again after
 * it ran (by itself or another) runs in the next round, after fds and timers were looked at.
 * @bh: the bottom half
 */
void loop_bh_schedule(struct loop_bh *bh);

/**
 * loop_bh_cancel() - unschedule a bottom half
 * @bh: the bottom half
 */
void loop_bh_cancel(struct loop_bh *bh);

/**
 * loop_bh_free() - cancel and free a bottom half; NULL is ignored
 * @bh: the bottom half
 */
void loop_bh_free(struct loop_bh *bh);

/**
 * loop_wakeup() - wake the loop from another thread (safe to call from any thread);
 *                 bottom halves scheduled with loop_bh_schedule_threadsafe() then run
 * @loop: the loop
 */
void loop_wakeup(struct loop *loop);

/**
 * loop_bh_schedule_threadsafe() - schedule @bh from another thread and wake the loop
 * @bh: the bottom half
 */
void loop_bh_schedule_threadsafe(struct loop_bh *bh);

/**
 * loop_poller_add() - call @poll once every round, and never sleep while any poller exists:
 *		       the loop thread busy-polls for every poll-mode device at once
 * @loop:	the loop
 * @poll:	called each round (its return value is ignored)
 * @opaque:	passed to @poll
 *
 * Return: 0 or -ENOMEM
 */
int loop_poller_add(struct loop *loop, loop_cb *poll, void *opaque);

/**
 * loop_poller_remove() - stop calling @poll with @opaque
 * @loop:	the loop
 * @poll:	as added
 * @opaque:	as added
 */
void loop_poller_remove(struct loop *loop, loop_cb *poll, void *opaque);

/**
 * loop_poll_handler_add() - adaptive polling: before the loop sleeps, it may call @poll
 *			     repeatedly for up to its poll window (see loop_set_poll_max_ns())
 * @loop:	the loop
 * @poll:	looks for work and does it; returns true if it found some
 * @begin:	the loop starts polling: the handler may ask not to be notified (NULL: none)
 * @end:	the loop stops polling to sleep: the handler asks to be notified again and
 *		returns true if work came meanwhile (the loop then calls @poll once more and
 *		does not sleep this round) (NULL: none)
 * @opaque:	passed to the callbacks
 *
 * @begin and @end alternate, @begin first; @poll is called between them, and once after an
 * @end that returned true. With a poll window of 0 (the default) none of them is called. The
 * window grows while events come soon after it ends, and shrinks when the loop sleeps longer
 * than the maximum. A loop with a poller (loop_poller_add()) never sleeps and opens no window.
 *
 * Return: 0 or -ENOMEM
 */
int loop_poll_handler_add(struct loop *loop, loop_poll_cb *poll, loop_cb *begin, loop_poll_cb *end,
			  void *opaque);

/**
 * loop_poll_handler_remove() - forget the poll handler added with @poll and @opaque (neither
 *				@begin nor @end is called)
 * @loop:	the loop
 * @poll:	as added
 * @opaque:	as added
 */
void loop_poll_handler_remove(struct loop *loop, loop_poll_cb *poll, void *opaque);

/**
 * loop_set_poll_max_ns() - the longest poll window (0, the default: never poll)
 * @loop:	the loop
 * @ns:		nanoseconds
 */
void loop_set_poll_max_ns(struct loop *loop, int64_t ns);

/**
 * loop_want_poll_ns() - ask for a poll window of @ns at most: the loop's window is shared
 *			 by its poll handlers, and the longest asked for applies
 * @loop:	the loop
 * @ns:		nanoseconds
 */
void loop_want_poll_ns(struct loop *loop, int64_t ns);

/**
 * loop_poll_max_ns() - the longest poll window
 * @loop: the loop
 *
 * Return: nanoseconds
 */
int64_t loop_poll_max_ns(const struct loop *loop);

/**
 * loop_poll_ns() - the current poll window
 * @loop: the loop
 *
 * Return: nanoseconds (0: the loop sleeps without polling)
 */
int64_t loop_poll_ns(const struct loop *loop);

#endif
