// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * event.c - the event queue between the library and the control socket: event_post() appends
 * under a mutex and schedules a thread-safe bottom half on the sink's loop, which hands the
 * events to the sink in the order they were posted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "core/event.h"
#include "core/log.h"
#include "vwire/loop.h"

/**
 * struct event - one posted event
 * @name:	its name (a literal)
 * @data:	its data, or NULL
 * @next:	the next one posted
 */
struct event {
	const char *name;
	struct json_object *data;
	struct event *next;
};

/**
 * struct event_queue - the process's one queue
 * @lock:	guards everything below
 * @fn:		the sink, or NULL
 * @opaque:	its argument
 * @bh:		runs event_deliver() on the sink's loop
 * @head:	oldest pending event
 * @tail:	newest
 * @count:	how many are pending
 * @dropped:	dropped because the queue was full, not yet logged
 */
static struct event_queue {
	pthread_mutex_t lock;
	event_sink_fn *fn;
	void *opaque;
	struct loop_bh *bh;
	struct event *head, *tail;
	unsigned int count, dropped;
} event_queue = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Detach the pending list (caller holds the lock). */
static struct event *event_take_all(void)
{
	struct event *e = event_queue.head;

	event_queue.head = event_queue.tail = NULL;
	event_queue.count = 0;
	return e;
}

static void event_free_list(struct event *e)
{
	while (e) {
		struct event *next = e->next;

		json_object_put(e->data);
		free(e);
		e = next;
	}
}

static void event_deliver(void *opaque)
{
	struct event *e;
	event_sink_fn *fn;
	void *fn_opaque;
	unsigned int dropped;

	pthread_mutex_lock(&event_queue.lock);
	e = event_take_all();
	fn = event_queue.fn;
	fn_opaque = event_queue.opaque;
	dropped = event_queue.dropped;
	event_queue.dropped = 0;
	pthread_mutex_unlock(&event_queue.lock);
	if (dropped)
		log_warn("%u events dropped: nothing took them in time", dropped);
	while (e) {
		struct event *next = e->next;

		if (fn)
			fn(fn_opaque, e->name, e->data);
		else
			json_object_put(e->data);
		free(e);
		e = next;
	}
}

int event_sink_set(struct loop *loop, event_sink_fn *fn, void *opaque)
{
	struct loop_bh *bh = loop_bh_new(loop, event_deliver, NULL), *old;

	if (!bh)
		return -ENOMEM;
	pthread_mutex_lock(&event_queue.lock);
	old = event_queue.bh;
	event_queue.bh = bh;
	event_queue.fn = fn;
	event_queue.opaque = opaque;
	pthread_mutex_unlock(&event_queue.lock);
	loop_bh_free(old);
	return 0;
}

void event_sink_clear(void)
{
	struct loop_bh *bh;
	struct event *e;

	pthread_mutex_lock(&event_queue.lock);
	bh = event_queue.bh;
	event_queue.bh = NULL;
	event_queue.fn = NULL;
	event_queue.opaque = NULL;
	event_queue.dropped = 0;
	e = event_take_all();
	pthread_mutex_unlock(&event_queue.lock);
	loop_bh_free(bh);
	event_free_list(e);
}

void event_post(const char *name, struct json_object *data)
{
	struct event *e;

	pthread_mutex_lock(&event_queue.lock);
	if (!event_queue.fn) {
		pthread_mutex_unlock(&event_queue.lock);
		json_object_put(data);
		return;
	}
	e = event_queue.count < EVENT_MAX_PENDING ? malloc(sizeof(*e)) : NULL;
	if (!e) {
		event_queue.dropped++;
		pthread_mutex_unlock(&event_queue.lock);
		json_object_put(data);
		return;
	}
	e->name = name;
	e->data = data;
	e->next = NULL;
	if (event_queue.tail)
		event_queue.tail->next = e;
	else
		event_queue.head = e;
	event_queue.tail = e;
	event_queue.count++;
	loop_bh_schedule_threadsafe(event_queue.bh);
	pthread_mutex_unlock(&event_queue.lock);
}
