/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * event.h - happenings a control socket reports (a front end connected, a queue broken, a link
 * set down): the library posts them from any thread, one sink registered by the daemon gets
 * them in order on its main loop. With no sink registered, events are dropped.
 */
#ifndef VWIRE_CORE_EVENT_H
#define VWIRE_CORE_EVENT_H

struct json_object;
struct loop;

/* Most events waiting for the sink; more are dropped (counted in the log). */
#define EVENT_MAX_PENDING 1024

typedef void event_sink_fn(void *opaque, const char *name, struct json_object *data);

/**
 * event_sink_set() - deliver every event posted from now on to @fn, on @loop's thread
 * @loop:	the loop @fn runs on
 * @fn:		the sink; it gets the event's name and data (a reference it must put)
 * @opaque:	passed to @fn
 *
 * Return: 0, or -ENOMEM
 */
int event_sink_set(struct loop *loop, event_sink_fn *fn, void *opaque);

/**
 * event_sink_clear() - stop delivering; events still pending are dropped
 */
void event_sink_clear(void);

/**
 * event_post() - report an event; safe from any thread, delivered later on the sink's loop
 * @name:	the event's name as QMP shows it, e.g. "VHOST_USER_CONNECTED" (a literal: kept)
 * @data:	its data (the reference is taken), or NULL
 */
void event_post(const char *name, struct json_object *data);

#endif
