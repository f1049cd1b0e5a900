// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_qmp.c - the QMP server driven over socketpairs on the event loop: greeting,
 * capabilities negotiation, commands split across writes and sharing one, malformed input,
 * unknown commands and arguments, netdev_add/netdev_del, set_link and its effect on traffic,
 * query-netdevs counters and 'info network' in QEMU's format; the limits on line length and
 * on clients served at once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/qmp.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"

/* Loop rounds (10 ms each) to wait for a reply before calling it missing. */
#define WAIT_ROUNDS 200

struct endpoint {
	struct net_client nc;
	unsigned int got;
};

static ssize_t ep_receive(struct net_client *nc, const struct iovec *iov, int iovcnt,
			  unsigned int flags)
{
	((struct endpoint *)nc)->got++;
	return (ssize_t)net_iov_size(iov, iovcnt);
}

static const struct net_client_ops ep_ops = {
	.type = "ep",
	.size = sizeof(struct endpoint),
	.receive_iov = ep_receive,
};

/* The test's end of one connection, with what it received but has not consumed. */
struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

static struct loop *loop;
static struct qmp_server *srv;

static void conn_open(struct conn *c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(c, 0, sizeof(*c));
	c->fd = sv[1];
	assert_int_equal(qmp_server_add_client(srv, sv[0]), 0);
}

static void conn_send(struct conn *c, const char *s)
{
	assert_int_equal(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* The next message, running the loop until it arrives; NULL if none within @rounds. */
static struct json_object *conn_recv_within(struct conn *c, int rounds)
{
	for (int i = 0; i <= rounds; i++) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;

		if (nl) {
			struct json_object *o;
			size_t linelen = (size_t)(nl - c->buf) + 1;

			assert_true(linelen >= 2 && nl[-1] == '\r'); /* CRLF, as QEMU */
			nl[-1] = '\0';
			o = json_tokener_parse(c->buf);
			assert_non_null(o);
			memmove(c->buf, c->buf + linelen, c->len - linelen);
			c->len -= linelen;
			return o;
		}
		loop_run_once(loop, 10);
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, MSG_DONTWAIT);
		if (n > 0)
			c->len += (size_t)n;
	}
	return NULL;
}

static struct json_object *conn_recv(struct conn *c)
{
	struct json_object *o = conn_recv_within(c, WAIT_ROUNDS);

	assert_non_null(o);
	return o;
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* Expect {"return": ...} and hand back a reference to the return value. */
static struct json_object *expect_return(struct conn *c)
{
	struct json_object *o = conn_recv(c), *r = member(o, "return");

	if (!r)
		fail_msg("expected a return, got %s", json_object_to_json_string(o));
	json_object_get(r);
	json_object_put(o);
	return r;
}

/* Expect {"error": {"class": @cls, "desc": ...}}; the desc must begin with @desc. */
static void expect_error(struct conn *c, const char *cls, const char *desc)
{
	struct json_object *o = conn_recv(c), *e = member(o, "error");

	if (!e)
		fail_msg("expected an error, got %s", json_object_to_json_string(o));
	assert_string_equal(json_object_get_string(member(e, "class")), cls);
	if (strncmp(json_object_get_string(member(e, "desc")), desc, strlen(desc)))
		fail_msg("desc '%s' does not begin with '%s'",
			 json_object_get_string(member(e, "desc")), desc);
	json_object_put(o);
}

static void expect_ok(struct conn *c)
{
	json_object_put(expect_return(c));
}

static void conn_negotiate(struct conn *c)
{
	json_object_put(conn_recv(c)); /* greeting */
	conn_send(c, "{\"execute\": \"qmp_capabilities\"}\n");
	expect_ok(c);
}

/* Run a command with @args_json (or NULL) and expect success; return the value. */
static struct json_object *run(struct conn *c, const char *cmd, const char *args_json)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"execute\": \"%s\"%s%s%s}\n", cmd,
		 args_json ? ", \"arguments\": " : "", args_json ? args_json : "",
		 "");
	conn_send(c, buf);
	return expect_return(c);
}

static int setup(void **state)
{
	struct error err = { 0 };

	loop = loop_new();
	assert_non_null(loop);
	srv = qmp_server_new(loop, NULL, &err);
	assert_non_null(srv);
	return 0;
}

static int teardown(void **state)
{
	qmp_server_free(srv);
	srv = NULL;
	net_client_free_all();
	loop_free(loop);
	return 0;
}

static void test_greeting(void **state)
{
	struct conn c;
	struct json_object *g, *qmp, *v;

	conn_open(&c);
	g = conn_recv(&c);
	qmp = member(g, "QMP");
	assert_non_null(qmp);
	v = member(member(qmp, "version"), "qemu");
	assert_int_equal(json_object_get_int(member(v, "major")), QMP_VERSION_MAJOR);
	assert_int_equal(json_object_get_int(member(v, "minor")), QMP_VERSION_MINOR);
	assert_int_equal(json_object_get_int(member(v, "micro")), QMP_VERSION_MICRO);
	assert_string_equal(json_object_get_string(member(member(qmp, "version"), "package")),
			    "vwire");
	assert_true(json_object_is_type(member(qmp, "capabilities"), json_type_array));
	assert_int_equal(json_object_array_length(member(qmp, "capabilities")), 0);
	json_object_put(g);
	close(c.fd);
}

static void test_negotiation_required(void **state)
{
	struct conn c;

	conn_open(&c);
	json_object_put(conn_recv(&c));
	conn_send(&c, "{\"execute\": \"query-version\"}\n");
	expect_error(&c, "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	conn_send(&c, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}");
	expect_error(&c, "GenericError", "Capability 'oob' not available");
	conn_send(&c, "{\"execute\": \"qmp_capabilities\"}");
	expect_ok(&c);
	conn_send(&c, "{\"execute\": \"qmp_capabilities\"}");
	expect_error(&c, "CommandNotFound", "Capabilities negotiation is already complete");
	json_object_put(run(&c, "query-version", NULL));
	close(c.fd);
}

static void test_split_command(void **state)
{
	struct conn c;
	struct json_object *o;

	conn_open(&c);
	json_object_put(conn_recv(&c));
	conn_send(&c, "{\"execute\": \"qmp_capa");
	assert_null(conn_recv_within(&c, 5));
	conn_send(&c, "bilities\", \"i");
	assert_null(conn_recv_within(&c, 5));
	conn_send(&c, "d\": 7}\n");
	o = conn_recv(&c);
	assert_non_null(member(o, "return"));
	assert_int_equal(json_object_get_int(member(o, "id")), 7);
	json_object_put(o);
	close(c.fd);
}

static void test_two_commands_one_write(void **state)
{
	struct conn c;
	struct json_object *o;

	conn_open(&c);
	json_object_put(conn_recv(&c));
	conn_send(&c, "{\"execute\": \"qmp_capabilities\", \"id\": \"a\"}"
		      "{\"execute\": \"query-status\", \"id\": [2]}\n");
	o = conn_recv(&c);
	assert_string_equal(json_object_get_string(member(o, "id")), "a");
	json_object_put(o);
	o = conn_recv(&c);
	assert_int_equal(json_object_get_int(json_object_array_get_idx(member(o, "id"), 0)), 2);
	assert_string_equal(json_object_get_string(member(member(o, "return"), "status")),
			    "running");
	json_object_put(o);
	close(c.fd);
}

static void test_malformed(void **state)
{
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	/* A parse error is answered and the connection goes on with the next command. */
	conn_send(&c, "{bad}\n{\"execute\": \"query-status\", \"id\": 1}\n");
	expect_error(&c, "GenericError", "JSON parse error");
	expect_ok(&c);
	conn_send(&c, "]{\"execute\": \"query-status\"}");
	expect_error(&c, "GenericError", "JSON parse error");
	expect_ok(&c);
	conn_send(&c, "[1, 2]\n");
	expect_error(&c, "GenericError", "QMP input must be a JSON object");
	conn_send(&c, "{\"arguments\": {}}\n");
	expect_error(&c, "GenericError", "QMP input lacks member 'execute'");
	conn_send(&c, "{\"execute\": 3}\n");
	expect_error(&c, "GenericError", "QMP input member 'execute' must be a string");
	conn_send(&c, "{\"execute\": \"query-status\", \"arguments\": 1}\n");
	expect_error(&c, "GenericError", "QMP input member 'arguments' must be an object");
	conn_send(&c, "{\"execute\": \"query-status\", \"foo\": 1}\n");
	expect_error(&c, "GenericError", "QMP input member 'foo' is unexpected");
	json_object_put(run(&c, "query-status", NULL));
	close(c.fd);
}

static void test_unknown_command_and_args(void **state)
{
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	conn_send(&c, "{\"execute\": \"no-such-thing\", \"id\": 3}\n");
	expect_error(&c, "CommandNotFound", "The command no-such-thing has not been found");
	conn_send(&c, "{\"execute\": \"netdev_del\", \"arguments\": {}}\n");
	expect_error(&c, "GenericError", "Parameter 'id' is missing");
	conn_send(&c, "{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"x\", \"y\": 1}}\n");
	expect_error(&c, "GenericError", "Parameter 'y' is unexpected");
	conn_send(&c, "{\"execute\": \"netdev_del\", \"arguments\": {\"id\": 5}}\n");
	expect_error(&c, "GenericError", "Invalid parameter type for 'id', expected: string");
	conn_send(&c, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"x\", \"up\": 1}}\n");
	expect_error(&c, "GenericError", "Invalid parameter type for 'up', expected: boolean");
	close(c.fd);
}

static void test_two_clients(void **state)
{
	struct conn a, b;

	conn_open(&a);
	conn_open(&b);
	conn_negotiate(&a);
	json_object_put(conn_recv(&b));
	/* Negotiation is per connection. */
	conn_send(&b, "{\"execute\": \"query-status\"}\n");
	expect_error(&b, "CommandNotFound", "Expecting capabilities");
	json_object_put(run(&a, "query-status", NULL));
	close(a.fd);
	/* The other connection survives the first one's going. */
	conn_send(&b, "{\"execute\": \"qmp_capabilities\"}\n");
	expect_ok(&b);
	close(b.fd);
}

static void test_netdev_add_del(void **state)
{
	struct conn c;
	struct net_client *nc;

	conn_open(&c);
	conn_negotiate(&c);
	json_object_put(run(&c, "netdev_add", "{\"type\": \"hubport\", \"id\": \"hA\", "
					      "\"hubid\": 3}"));
	nc = net_find("hA");
	assert_non_null(nc);
	assert_int_equal(nc->hubid, 3);
	/* Booleans and numbers become on/off and decimal. */
	json_object_put(run(&c, "netdev_add", "{\"type\": \"hubport\", \"id\": \"hB\", "
					      "\"hubid\": 4, \"learning\": true}"));
	assert_non_null(net_find("hB"));
	conn_send(&c, "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"hubport\", "
		      "\"id\": \"hA\", \"hubid\": 3}}\n");
	expect_error(&c, "GenericError", "Duplicate ID 'hA'");
	conn_send(&c, "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"hubport\", "
		      "\"id\": \"hZ\", \"hubid\": 3, \"bogus\": \"x,y\"}}\n");
	expect_error(&c, "GenericError", "-netdev hubport: invalid parameter 'bogus'");
	assert_null(net_find("hZ"));
	json_object_put(run(&c, "netdev_del", "{\"id\": \"hA\"}"));
	assert_null(net_find("hA"));
	conn_send(&c, "{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"hA\"}}\n");
	expect_error(&c, "DeviceNotFound", "Device 'hA' not found");
	close(c.fd);
}

/* Two endpoints e0/e1 on hub 0 through ports hA/hB. */
static void make_hub_pair(struct conn *c, struct endpoint **e0, struct endpoint **e1)
{
	*e0 = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, "e0");
	*e1 = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, "e1");
	assert_non_null(*e0);
	assert_non_null(*e1);
	(*e0)->nc.is_netdev = (*e1)->nc.is_netdev = true;
	snprintf((*e0)->nc.info_str, sizeof((*e0)->nc.info_str), "zero");
	snprintf((*e1)->nc.info_str, sizeof((*e1)->nc.info_str), "one");
	json_object_put(run(c, "netdev_add", "{\"type\": \"hubport\", \"id\": \"hA\", "
					     "\"hubid\": 0, \"netdev\": \"e0\"}"));
	json_object_put(run(c, "netdev_add", "{\"type\": \"hubport\", \"id\": \"hB\", "
					     "\"hubid\": 0, \"netdev\": \"e1\"}"));
}

static void test_set_link(void **state)
{
	static const uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1 };
	struct endpoint *e0, *e1;
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	make_hub_pair(&c, &e0, &e1);
	net_send(&e0->nc, frame, sizeof(frame));
	loop_run_once(loop, 0);
	assert_int_equal(e1->got, 1);

	json_object_put(run(&c, "set_link", "{\"name\": \"hA\", \"up\": false}"));
	assert_true(net_find("hA")->link_down);
	/* A hub port's peer is a back end: it keeps its own link, as in QEMU. */
	assert_false(e0->nc.link_down);
	net_send(&e0->nc, frame, sizeof(frame));
	loop_run_once(loop, 0);
	assert_int_equal(e1->got, 1);
	assert_int_equal(e0->nc.stats.tx_dropped, 1);

	json_object_put(run(&c, "set_link", "{\"name\": \"hA\", \"up\": true}"));
	assert_false(net_find("hA")->link_down);
	net_send(&e0->nc, frame, sizeof(frame));
	loop_run_once(loop, 0);
	assert_int_equal(e1->got, 2);

	conn_send(&c, "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"nope\", "
		      "\"up\": true}}\n");
	expect_error(&c, "DeviceNotFound", "Device 'nope' not found");
	close(c.fd);
}

static struct json_object *find_entry(struct json_object *list, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *e = json_object_array_get_idx(list, i);

		if (!strcmp(json_object_get_string(member(e, "id")), id))
			return e;
	}
	fail_msg("no entry %s", id);
	return NULL;
}

static int64_t field(struct json_object *e, const char *key)
{
	assert_non_null(member(e, key));
	return json_object_get_int64(member(e, key));
}

static void test_query_netdevs(void **state)
{
	static const uint8_t frame[100] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2 };
	struct endpoint *e0, *e1;
	struct json_object *list, *e;
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	make_hub_pair(&c, &e0, &e1);
	net_send(&e0->nc, frame, sizeof(frame));
	net_send(&e0->nc, frame, 60);
	json_object_put(run(&c, "set_link", "{\"name\": \"hB\", \"up\": false}"));
	net_send(&e1->nc, frame, 80);
	loop_run_once(loop, 0);

	list = run(&c, "query-netdevs", NULL);
	assert_int_equal(json_object_array_length(list), 4);
	e = find_entry(list, "e0");
	assert_string_equal(json_object_get_string(member(e, "type")), "ep");
	assert_string_equal(json_object_get_string(member(e, "peer")), "hA");
	assert_string_equal(json_object_get_string(member(e, "info")), "zero");
	assert_null(member(e, "hubid"));
	assert_int_equal(field(e, "tx-packets"), 2);
	assert_int_equal(field(e, "tx-bytes"), 160);
	assert_int_equal(field(e, "queue-index"), 0);
	assert_int_equal(field(e, "queue-length"), 0);
	assert_true(json_object_get_boolean(member(e, "link-up")));
	e = find_entry(list, "e1");
	assert_int_equal(field(e, "rx-packets"), 2);
	assert_int_equal(field(e, "rx-bytes"), 160);
	assert_int_equal(field(e, "tx-dropped"), 1);
	e = find_entry(list, "hB");
	assert_int_equal(field(e, "hubid"), 0);
	assert_false(json_object_get_boolean(member(e, "link-up")));
	assert_string_equal(json_object_get_string(member(e, "peer")), "e1");
	assert_true(json_object_get_boolean(member(e, "netdev")));
	for (const char *const *k = (const char *const[]){ "rx-dropped", "tx-packets",
							   "rx-packets", NULL };
	     *k; k++)
		assert_non_null(member(e, *k));
	json_object_put(list);
	close(c.fd);
}

static void test_info_network(void **state)
{
	struct endpoint *e0, *e1, *lone;
	struct json_object *r;
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	make_hub_pair(&c, &e0, &e1);
	json_object_put(run(&c, "netdev_add", "{\"type\": \"hubport\", \"id\": \"hC\", "
					      "\"hubid\": 0}"));
	lone = (struct endpoint *)net_client_new(&ep_ops, loop, NULL, NULL, "lone");
	assert_non_null(lone);
	lone->nc.is_netdev = true;
	snprintf(lone->nc.info_str, sizeof(lone->nc.info_str), "alone");

	r = run(&c, "human-monitor-command", "{\"command-line\": \"info network\"}");
	/* QEMU 7.2's order: the newest port first. */
	assert_string_equal(json_object_get_string(r), "hub 0\r\n"
						       " \\ hC\r\n"
						       " \\ hB: e1: index=0,type=ep,one\r\n"
						       " \\ hA: e0: index=0,type=ep,zero\r\n"
						       "lone: index=0,type=ep,alone\r\n");
	json_object_put(r);
	r = run(&c, "human-monitor-command", "{\"command-line\": \"  info   network  \"}");
	assert_non_null(strstr(json_object_get_string(r), " \\ hB: e1:"));
	json_object_put(r);
	r = run(&c, "human-monitor-command", "{\"command-line\": \"set_link hB off\"}");
	assert_string_equal(json_object_get_string(r), "");
	assert_true(net_find("hB")->link_down);
	json_object_put(r);
	r = run(&c, "human-monitor-command", "{\"command-line\": \"netdev_del nope\"}");
	assert_string_equal(json_object_get_string(r), "Error: Device 'nope' not found\r\n");
	json_object_put(r);
	r = run(&c, "human-monitor-command", "{\"command-line\": \"frobnicate now\"}");
	assert_string_equal(json_object_get_string(r), "unknown command: 'frobnicate'\r\n");
	json_object_put(r);
	close(c.fd);
}

/* Many commands from a client that reads slowly: the server pauses reading while replies
 * wait, sends them in pieces, and loses none. */
static void test_slow_reader(void **state)
{
	static const char cmd[] = "{\"execute\": \"query-commands\"}\n";
	const unsigned int total = 2000;
	unsigned int sent = 0, got = 0, idle = 0;
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	/* Stops when all arrived, or when nothing more comes for a while (a lost reply). */
	for (int rounds = 0; got < total && idle < WAIT_ROUNDS; rounds++) {
		unsigned int before = got;

		while (sent < total) {
			ssize_t n = send(c.fd, cmd, sizeof(cmd) - 1, MSG_DONTWAIT);

			if (n < 0)
				break;
			assert_int_equal(n, sizeof(cmd) - 1);
			sent++;
		}
		loop_run_once(loop, 0);
		/* Read only now and then, so that the server's output piles up. */
		if (rounds % 8 == 0 || sent == total) {
			struct json_object *o;

			while ((o = conn_recv_within(&c, 0))) {
				assert_non_null(member(o, "return"));
				json_object_put(o);
				got++;
			}
			idle = sent == total && got == before ? idle + 1 : 0;
		}
	}
	assert_int_equal(sent, total);
	assert_int_equal(got, total);
	close(c.fd);
}

/* Send @len bytes of @fill after @prefix, running the loop while the socket is full; stop
 * early if the server closes the connection. Return true if it did. */
static bool send_long(struct conn *c, const char *prefix, char fill, size_t len)
{
	char chunk[4096];
	size_t sent = 0;

	memset(chunk, fill, sizeof(chunk));
	conn_send(c, prefix);
	for (int idle = 0; sent < len && idle < WAIT_ROUNDS;) {
		size_t want = len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);
		ssize_t n = send(c->fd, chunk, want, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EPIPE)
			return true;
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			idle++;
		}
		loop_run_once(loop, n > 0 ? 0 : 10);
	}
	for (int i = 0; i < WAIT_ROUNDS; i++)
		loop_run_once(loop, 0);
	return false;
}

/* True if the server closed the connection: everything it sent, then EOF. */
static bool conn_closed(struct conn *c)
{
	for (int i = 0; i < WAIT_ROUNDS; i++) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);

		if (n == 0)
			return true;
		if (n < 0 && errno != EAGAIN)
			return true;
		loop_run_once(loop, 10);
	}
	return false;
}

/* An unfinished value, or junk without a newline, longer than QMP_MAX_LINE ends the
 * connection; one just below it does not. */
static void test_line_too_long(void **state)
{
	struct conn a, b, ok;

	conn_open(&ok);
	conn_negotiate(&ok);
	/* A long but legal request (QMP_MAX_LINE / 2 bytes of blanks inside it) is answered. */
	send_long(&ok, "{\"execute\": \"query-status\"", ' ', QMP_MAX_LINE / 2);
	conn_send(&ok, "}\n");
	expect_ok(&ok);

	conn_open(&a);
	conn_negotiate(&a);
	send_long(&a, "{\"execute\": \"", 'a', QMP_MAX_LINE + 1);
	assert_true(conn_closed(&a));
	close(a.fd);

	conn_open(&b);
	conn_negotiate(&b);
	/* A parse error, then junk with neither '{' nor a newline. */
	send_long(&b, "]", 'x', QMP_MAX_LINE + 1);
	assert_true(conn_closed(&b));
	close(b.fd);

	/* Others are served on. */
	json_object_put(run(&ok, "query-status", NULL));
	close(ok.fd);
}

/* QMP_MAX_CLIENTS are served; one more is closed at once; after one leaves, a new one is
 * served again. */
static void test_max_clients(void **state)
{
	static struct conn c[QMP_MAX_CLIENTS + 1];
	int sv[2];

	for (int i = 0; i < QMP_MAX_CLIENTS; i++)
		conn_open(&c[i]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&c[QMP_MAX_CLIENTS], 0, sizeof(c[QMP_MAX_CLIENTS]));
	c[QMP_MAX_CLIENTS].fd = sv[1];
	assert_int_equal(qmp_server_add_client(srv, sv[0]), -EMFILE);
	assert_true(conn_closed(&c[QMP_MAX_CLIENTS]));
	close(sv[1]);

	close(c[0].fd);
	for (int i = 0; i < WAIT_ROUNDS / 10; i++)
		loop_run_once(loop, 1);
	conn_open(&c[0]);
	conn_negotiate(&c[0]);
	conn_negotiate(&c[QMP_MAX_CLIENTS - 1]);
	for (int i = 0; i < QMP_MAX_CLIENTS; i++)
		close(c[i].fd);
}

static void test_quit(void **state)
{
	struct json_object *o, *data = json_object_new_object();
	struct conn c;

	conn_open(&c);
	conn_negotiate(&c);
	assert_false(qmp_server_quit_requested(srv));
	json_object_put(run(&c, "quit", NULL));
	assert_true(qmp_server_quit_requested(srv));
	json_object_object_add(data, "reason", json_object_new_string("host-qmp-quit"));
	qmp_server_emit_event(srv, "SHUTDOWN", data);
	o = conn_recv(&c);
	assert_string_equal(json_object_get_string(member(o, "event")), "SHUTDOWN");
	assert_non_null(member(member(o, "timestamp"), "seconds"));
	assert_string_equal(json_object_get_string(member(member(o, "data"), "reason")),
			    "host-qmp-quit");
	json_object_put(o);
	close(c.fd);
}

static void test_query_commands(void **state)
{
	struct json_object *list;
	struct conn c;
	bool found = false;

	conn_open(&c);
	conn_negotiate(&c);
	list = run(&c, "query-commands", NULL);
	for (size_t i = 0; i < json_object_array_length(list); i++)
		if (!strcmp(json_object_get_string(member(json_object_array_get_idx(list, i),
							  "name")),
			    "set_link"))
			found = true;
	assert_true(found);
	json_object_put(list);
	close(c.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_greeting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation_required, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_commands_one_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_command_and_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_netdev_add_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_netdevs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_info_network, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
