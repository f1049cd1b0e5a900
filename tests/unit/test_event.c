// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_event.c - the event queue to the control socket (core/event.c) on a real loop: events
 * reach the sink in order on the loop's thread, from that thread and from others; without a
 * sink they are dropped; past EVENT_MAX_PENDING they are dropped and the rest still arrive;
 * clearing the sink drops what is pending. And netaddr_to_json(), the SocketAddress that
 * NETDEV_STREAM_CONNECTED carries.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "backends/netaddr.h"
#include "core/event.h"
#include "vwire/loop.h"

#define MS 1000000LL
#define THREAD_EVENTS 500

static struct loop *loop;
static pthread_t loop_thread;
/* What the sink saw: names, the "n" of each event's data, the thread it ran on. */
static int seen;
static int seen_n[EVENT_MAX_PENDING * 2];
static const char *seen_name[EVENT_MAX_PENDING * 2];
static bool wrong_thread;

static void sink(void *opaque, const char *name, struct json_object *data)
{
	struct json_object *n;

	assert_ptr_equal(opaque, &seen);
	if (!pthread_equal(pthread_self(), loop_thread))
		wrong_thread = true;
	if (seen < (int)(sizeof(seen_n) / sizeof(seen_n[0]))) {
		seen_name[seen] = name;
		seen_n[seen] = json_object_object_get_ex(data, "n", &n) ? json_object_get_int(n) : -1;
	}
	seen++;
	json_object_put(data);
}

static struct json_object *data_n(int n)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "n", json_object_new_int(n));
	return o;
}

/* Run the loop until @want events arrived or a second passed. */
static void run_until(int want)
{
	int64_t end = loop_now_ns() + 1000 * MS;

	while (seen < want && loop_now_ns() < end)
		loop_run_once(loop, 10);
}

static int setup(void **state)
{
	loop = loop_new();
	loop_thread = pthread_self();
	seen = 0;
	wrong_thread = false;
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	event_sink_clear();
	loop_free(loop);
	return 0;
}

static void test_in_order(void **state)
{
	assert_int_equal(event_sink_set(loop, sink, &seen), 0);
	event_post("FIRST", data_n(1));
	event_post("SECOND", data_n(2));
	event_post("THIRD", NULL);
	/* Delivered from the loop, not from event_post(). */
	assert_int_equal(seen, 0);
	run_until(3);
	assert_int_equal(seen, 3);
	assert_string_equal(seen_name[0], "FIRST");
	assert_int_equal(seen_n[0], 1);
	assert_string_equal(seen_name[1], "SECOND");
	assert_int_equal(seen_n[1], 2);
	assert_string_equal(seen_name[2], "THIRD");
	assert_int_equal(seen_n[2], -1);
}

static void test_no_sink(void **state)
{
	event_post("LOST", data_n(1));
	assert_int_equal(event_sink_set(loop, sink, &seen), 0);
	event_post("KEPT", data_n(2));
	run_until(1);
	loop_run_once(loop, 10);
	assert_int_equal(seen, 1);
	assert_string_equal(seen_name[0], "KEPT");
	/* Cleared: pending events go, later ones are dropped (ASan sees any leak). */
	event_post("PENDING", data_n(3));
	event_sink_clear();
	event_post("AFTER", data_n(4));
	loop_run_once(loop, 10);
	assert_int_equal(seen, 1);
}

static void *poster(void *arg)
{
	for (int i = 0; i < THREAD_EVENTS; i++)
		event_post("THREAD", data_n(i));
	return NULL;
}

static void test_from_thread(void **state)
{
	pthread_t t;

	assert_int_equal(event_sink_set(loop, sink, &seen), 0);
	assert_int_equal(pthread_create(&t, NULL, poster, NULL), 0);
	run_until(THREAD_EVENTS);
	assert_int_equal(pthread_join(t, NULL), 0);
	run_until(THREAD_EVENTS);
	assert_int_equal(seen, THREAD_EVENTS);
	assert_false(wrong_thread);
	for (int i = 0; i < THREAD_EVENTS; i++)
		assert_int_equal(seen_n[i], i);
}

static void test_bounded(void **state)
{
	assert_int_equal(event_sink_set(loop, sink, &seen), 0);
	for (int i = 0; i < EVENT_MAX_PENDING + 10; i++)
		event_post("MANY", data_n(i));
	run_until(EVENT_MAX_PENDING + 10);
	assert_int_equal(seen, EVENT_MAX_PENDING);
	assert_int_equal(seen_n[EVENT_MAX_PENDING - 1], EVENT_MAX_PENDING - 1);
	/* Room again once delivered. */
	event_post("MORE", data_n(-2));
	run_until(EVENT_MAX_PENDING + 1);
	assert_int_equal(seen, EVENT_MAX_PENDING + 1);
	assert_string_equal(seen_name[EVENT_MAX_PENDING], "MORE");
}

/* netaddr_to_json(@sa) as compact JSON. */
static void expect_json(const struct sockaddr *sa, socklen_t len, const char *want)
{
	struct json_object *o = netaddr_to_json(sa, len);

	assert_non_null(o);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), want);
	json_object_put(o);
}

static void test_socket_address(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(5555) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	expect_json((struct sockaddr *)&sin, sizeof(sin),
		    "{\"type\":\"inet\",\"host\":\"127.0.0.1\",\"port\":\"5555\"}");
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	expect_json((struct sockaddr *)&sin6, sizeof(sin6),
		    "{\"type\":\"inet\",\"host\":\"::1\",\"port\":\"80\",\"ipv6\":true}");
	strcpy(sun.sun_path, "/run/x.sock");
	expect_json((struct sockaddr *)&sun, sizeof(sun),
		    "{\"type\":\"unix\",\"path\":\"\\/run\\/x.sock\"}");
	/* Abstract: a leading NUL, the name as long as the length says. */
	memset(sun.sun_path, 0, sizeof(sun.sun_path));
	memcpy(sun.sun_path + 1, "vw", 2);
	len = offsetof(struct sockaddr_un, sun_path) + 3;
	expect_json((struct sockaddr *)&sun, len,
		    "{\"type\":\"unix\",\"path\":\"vw\",\"abstract\":true}");
	sun.sun_family = AF_APPLETALK;
	assert_null(netaddr_to_json((struct sockaddr *)&sun, sizeof(sun)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test(test_socket_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
