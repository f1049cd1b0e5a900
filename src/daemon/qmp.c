// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qmp.c - QMP's commands: the table of what a client may execute, and the dispatcher.
 *
 * qmp-server.c reads each request off a socket; qmp_dispatch() checks it as QEMU does
 * ({"execute": NAME, "arguments": {...}, "id": X}, qmp_capabilities first), finds NAME in
 * qmp_commands[], checks the arguments against the table and runs the handler, which calls
 * the library (netdev_add, net_set_link, ...); the reply is {"return": ..., "id": X} or
 * {"error": {"class": ..., "desc": ...}, "id": X}.
 *
 * Adding a QMP command takes a handler and one line in qmp_commands[]:
 *	static int qmp_cmd_foo(struct qmp_request *req, struct json_object *args,
 *			       struct json_object **ret, struct error *err)
 * reads its arguments with qmp_arg_string()/qmp_arg_bool() (present and typed as the
 * table's argument list says), calls the library and either sets *ret (left NULL: {}) and
 * returns 0, or returns error_set(err, -Exxx, "...") (req->err_class may name a class other
 * than GenericError). The table line is { "foo", "arg1 arg2?", qmp_cmd_foo }: the argument
 * names it takes, '?' after an optional one, '*' to accept any other. An HMP command (for
 * human-monitor-command) is one line in hmp_commands[] with a handler printing to a FILE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#if HAVE_SLIRP
#include "backends/user.h"
#endif
#include "backends/overlay.h"
#include "core/event.h"
#include "core/hub.h"
#include "core/iothread.h"
#include "core/log.h"
#include "core/netdev.h"
#include "daemon/qmp-priv.h"
#include "daemon/qmp.h"
#include "vwire/error.h"
#include "vwire/loop.h"
#include "vwire/net.h"
#include "vwire/opts.h"

/* Most queues of one client that set_link handles. */
#define QMP_MAX_QUEUES 1024

/**
 * struct qmp_request - what a command handler gets besides its arguments
 * @srv:	the server
 * @client:	the client that sent the command
 * @err_class:	error class of a failure (default "GenericError")
 */
struct qmp_request {
	struct qmp_server *srv;
	struct qmp_client *client;
	const char *err_class;
};

typedef int qmp_handler(struct qmp_request *req, struct json_object *args,
			struct json_object **ret, struct error *err);
typedef void hmp_handler(struct qmp_request *req, const char *args, FILE *out);

/**
 * struct qmp_command - one QMP command
 * @name:	as in "execute"
 * @args:	argument names, space separated; "x?" is optional, "*" allows any other
 * @fn:		the handler
 */
struct qmp_command {
	const char *name;
	const char *args;
	qmp_handler *fn;
};

/**
 * struct hmp_command - one human monitor command (human-monitor-command)
 * @name:	its words, e.g. "info network"
 * @fn:		the handler, given the rest of the line
 */
struct hmp_command {
	const char *name;
	hmp_handler *fn;
};

static const struct qmp_command qmp_commands[];
static const size_t qmp_ncommands;

/* Command arguments */

/* Whether the argument list @spec names @key; *@optional tells if it is marked '?'. */
static bool qmp_spec_has(const char *spec, const char *key, bool *optional)
{
	size_t klen = strlen(key);

	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, " ");

		if ((n == klen || (n == klen + 1 && p[klen] == '?')) && !strncmp(p, key, klen)) {
			*optional = n == klen + 1;
			return true;
		}
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* Every required argument present, no unknown one (QEMU's messages). */
static int qmp_check_args(const char *spec, struct json_object *args, struct error *err)
{
	bool any = strchr(spec, '*') != NULL, optional;

	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, " ");
		char key[64];

		if (n && n < sizeof(key) && p[n - 1] != '?' && p[0] != '*') {
			memcpy(key, p, n);
			key[n] = '\0';
			if (!json_object_object_get_ex(args, key, NULL))
				return error_set(err, -EINVAL, "Parameter '%s' is missing", key);
		}
		p += n;
		p += strspn(p, " ");
	}
	if (any)
		return 0;
	json_object_object_foreach(args, key, val) {
		(void)val;
		if (!qmp_spec_has(spec, key, &optional))
			return error_set(err, -EINVAL, "Parameter '%s' is unexpected", key);
	}
	return 0;
}

/*
 * qmp_arg_string() - argument @key as a string: 0 (*@out NULL when absent), or -EINVAL when
 * it is not a string.
 */
static int qmp_arg_string(struct json_object *args, const char *key, const char **out,
			  struct error *err)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(args, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return error_set(err, -EINVAL, "Invalid parameter type for '%s', expected: string",
				 key);
	*out = json_object_get_string(v);
	return 0;
}

/* qmp_arg_bool() - argument @key as a boolean (@def when absent), or -EINVAL. */
static int qmp_arg_bool(struct json_object *args, const char *key, bool def, bool *out,
			struct error *err)
{
	struct json_object *v;

	*out = def;
	if (!json_object_object_get_ex(args, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return error_set(err, -EINVAL, "Invalid parameter type for '%s', expected: boolean",
				 key);
	*out = json_object_get_boolean(v);
	return 0;
}

static void qmp_put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			fputc(',', f);
		fputc(*s, f);
	}
}

/*
 * One argument as ",key=value" of an option string: strings with commas doubled, booleans
 * as on/off, integers in decimal, arrays as the key repeated (elements may be QEMU's
 * {"str": ...}), objects flattened to key.member (QEMU's addr.host).
 */
static int qmp_opts_append(FILE *f, const char *key, struct json_object *v, struct error *err)
{
	if (!*key || strpbrk(key, ",="))
		return error_set(err, -EINVAL, "Invalid parameter name '%s'", key);
	switch (json_object_get_type(v)) {
	case json_type_string:
		fprintf(f, ",%s=", key);
		qmp_put_escaped(f, json_object_get_string(v));
		return 0;
	case json_type_boolean:
		fprintf(f, ",%s=%s", key, json_object_get_boolean(v) ? "on" : "off");
		return 0;
	case json_type_int:
		fprintf(f, ",%s=%s", key, json_object_to_json_string(v));
		return 0;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i), *str;
			int ret;

			if (json_object_is_type(e, json_type_object) &&
			    json_object_object_get_ex(e, "str", &str))
				e = str;
			ret = qmp_opts_append(f, key, e, err);
			if (ret < 0)
				return ret;
		}
		return 0;
	case json_type_object: {
		json_object_object_foreach(v, member, mv) {
			char sub[256];
			int ret;

			if ((size_t)snprintf(sub, sizeof(sub), "%s.%s", key, member) >= sizeof(sub))
				return error_set(err, -EINVAL, "Invalid parameter name '%s.%s'",
						 key, member);
			ret = qmp_opts_append(f, sub, mv, err);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	default:
		return error_set(err, -EINVAL, "Invalid parameter type for '%s'", key);
	}
}

/*
 * Build "TYPE,key=value,..." from @args, whose member @type_key gives the type; the members
 * of @nested (an object, QEMU's old object-add "props") are merged in.
 */
static int qmp_args_to_opts(struct json_object *args, const char *type_key, const char *nested,
			    char **out, struct error *err)
{
	struct json_object *type, *inner;
	size_t len = 0;
	FILE *f;
	int ret = 0;

	*out = NULL;
	if (!json_object_object_get_ex(args, type_key, &type) ||
	    !json_object_is_type(type, json_type_string))
		return error_set(err, -EINVAL, "Invalid parameter type for '%s', expected: string",
				 type_key);
	f = open_memstream(out, &len);
	if (!f)
		return error_set(err, -ENOMEM, "out of memory");
	qmp_put_escaped(f, json_object_get_string(type));
	json_object_object_foreach(args, key, v) {
		if (!strcmp(key, type_key) || (nested && !strcmp(key, nested)))
			continue;
		ret = qmp_opts_append(f, key, v, err);
		if (ret < 0)
			break;
	}
	if (!ret && nested && json_object_object_get_ex(args, nested, &inner)) {
		if (!json_object_is_type(inner, json_type_object)) {
			ret = error_set(err, -EINVAL,
					"Invalid parameter type for '%s', expected: object", nested);
		} else {
			json_object_object_foreach(inner, k2, v2) {
				ret = qmp_opts_append(f, k2, v2, err);
				if (ret < 0)
					break;
			}
		}
	}
	fclose(f);
	if (ret < 0) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

/* Commands */

static int qmp_cmd_qmp_capabilities(struct qmp_request *req, struct json_object *args,
				    struct json_object **ret, struct error *err)
{
	struct json_object *enable;

	if (req->client->negotiated) {
		req->err_class = "CommandNotFound";
		return error_set(err, -EINVAL,
				 "Capabilities negotiation is already complete, command ignored");
	}
	/* vwire offers no capability (no out-of-band execution). */
	if (json_object_object_get_ex(args, "enable", &enable)) {
		if (!json_object_is_type(enable, json_type_array))
			return error_set(err, -EINVAL,
					 "Invalid parameter type for 'enable', expected: array");
		if (json_object_array_length(enable) > 0)
			return error_set(err, -EINVAL, "Capability '%s' not available",
					 json_object_get_string(json_object_array_get_idx(enable,
											  0)));
	}
	req->client->negotiated = true;
	return 0;
}

static int qmp_cmd_query_version(struct qmp_request *req, struct json_object *args,
				 struct json_object **ret, struct error *err)
{
	*ret = qmp_version_object();
	return 0;
}

static int qmp_cmd_query_commands(struct qmp_request *req, struct json_object *args,
				  struct json_object **ret, struct error *err)
{
	struct json_object *list = json_object_new_array();

	for (size_t i = 0; i < qmp_ncommands; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(qmp_commands[i].name));
		json_object_array_add(list, o);
	}
	*ret = list;
	return 0;
}

static int qmp_cmd_query_name(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	*ret = json_object_new_object();
	if (req->srv->name)
		json_object_object_add(*ret, "name", json_object_new_string(req->srv->name));
	return 0;
}

static int qmp_cmd_query_status(struct qmp_request *req, struct json_object *args,
				struct json_object **ret, struct error *err)
{
	*ret = json_object_new_object();
	json_object_object_add(*ret, "status", json_object_new_string("running"));
	json_object_object_add(*ret, "singlestep", json_object_new_boolean(false));
	json_object_object_add(*ret, "running", json_object_new_boolean(true));
	return 0;
}

static int qmp_cmd_quit(struct qmp_request *req, struct json_object *args,
			struct json_object **ret, struct error *err)
{
	req->srv->quit = true;
	loop_quit(req->srv->loop);
	return 0;
}

static void qmp_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void qmp_add_counter(void *opaque, const char *name, uint64_t value)
{
	qmp_add_u64(opaque, name, value);
}

static int qmp_cmd_query_netdevs(struct qmp_request *req, struct json_object *args,
				 struct json_object **ret, struct error *err)
{
	struct json_object *list = json_object_new_array();

	for (struct net_client *nc = net_first(); nc; nc = nc->next) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(nc->name));
		json_object_object_add(o, "type", json_object_new_string(nc->ops->type));
		json_object_object_add(o, "netdev", json_object_new_boolean(nc->is_netdev));
		if (nc->internal)
			json_object_object_add(o, "internal", json_object_new_boolean(true));
		json_object_object_add(o, "queue-index", json_object_new_int((int)nc->queue_index));
		if (nc->peer)
			json_object_object_add(o, "peer", json_object_new_string(nc->peer->name));
		if (nc->hubid >= 0)
			json_object_object_add(o, "hubid", json_object_new_int(nc->hubid));
		json_object_object_add(o, "link-up", json_object_new_boolean(!nc->link_down));
		json_object_object_add(o, "info", json_object_new_string(nc->info_str));
		qmp_add_u64(o, "rx-packets", nc->stats.rx_packets);
		qmp_add_u64(o, "rx-bytes", nc->stats.rx_bytes);
		qmp_add_u64(o, "tx-packets", nc->stats.tx_packets);
		qmp_add_u64(o, "tx-bytes", nc->stats.tx_bytes);
		qmp_add_u64(o, "rx-dropped", nc->stats.rx_dropped);
		qmp_add_u64(o, "tx-dropped", nc->stats.tx_dropped);
		qmp_add_u64(o, "queue-length", net_queue_length(nc));
		json_object_object_add(o, "receive-disabled",
				       json_object_new_boolean(nc->receive_disabled));
		if (nc->ops->counters) {
			struct json_object *c = json_object_new_object();

			nc->ops->counters(nc, qmp_add_counter, c);
			json_object_object_add(o, "counters", c);
		}
		json_object_array_add(list, o);
	}
	*ret = list;
	return 0;
}

/* QEMU's query-iothreads; vwire's loops have no poll-grow/shrink or batch settings. */
static int qmp_cmd_query_iothreads(struct qmp_request *req, struct json_object *args,
				   struct json_object **ret, struct error *err)
{
	struct json_object *list = json_object_new_array();

	for (struct iothread *io = iothread_first(); io; io = iothread_next(io)) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(iothread_id(io)));
		json_object_object_add(o, "thread-id",
				       json_object_new_int((int)iothread_thread_id(io)));
		qmp_add_u64(o, "poll-max-ns", iothread_poll_max_ns(io));
		qmp_add_u64(o, "poll-grow", 0);
		qmp_add_u64(o, "poll-shrink", 0);
		qmp_add_u64(o, "aio-max-batch", 0);
		json_object_array_add(list, o);
	}
	*ret = list;
	return 0;
}

static int qmp_cmd_netdev_add(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	char *text;
	int r;

	r = qmp_args_to_opts(args, "type", NULL, &text, err);
	if (r < 0)
		return r;
	r = netdev_add(req->srv->loop, text, err);
	if (r == 0)
		log_info("qmp: netdev_add %s", text);
	free(text);
	return r;
}

static int qmp_cmd_netdev_del(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	const char *id;
	int r;

	r = qmp_arg_string(args, "id", &id, err);
	if (r < 0)
		return r;
	r = netdev_del(id, err);
	if (r == -ENOENT)
		req->err_class = "DeviceNotFound";
	if (r == 0)
		log_info("qmp: netdev_del %s", id);
	return r;
}

static int qmp_cmd_object_add(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	char *text;
	int r;

	r = qmp_args_to_opts(args, "qom-type", "props", &text, err);
	if (r < 0)
		return r;
	r = object_add(req->srv->loop, text, err);
	free(text);
	return r;
}

static int qmp_cmd_object_del(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	const char *id;
	int r = qmp_arg_string(args, "id", &id, err);

	return r < 0 ? r : object_del(id, err);
}

static int qmp_cmd_device_add(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	char *text;
	int r;

	r = qmp_args_to_opts(args, "driver", NULL, &text, err);
	if (r < 0)
		return r;
	r = device_add(req->srv->loop, text, err);
	free(text);
	return r;
}

/* Remove a front end: its queue 0 owns the device (and frees the other queues). */
static int qmp_device_del(struct qmp_request *req, const char *id, struct error *err)
{
	struct net_client *nc = net_find(id);

	if (!nc || nc->is_netdev) {
		req->err_class = "DeviceNotFound";
		return error_set(err, -ENOENT, "Device '%s' not found", id);
	}
	net_client_free(nc);
	while ((nc = net_first())) {
		for (; nc; nc = nc->next)
			if (!strcmp(nc->name, id) && !nc->is_netdev)
				break;
		if (!nc)
			break;
		net_client_free(nc);
	}
	return 0;
}

static int qmp_cmd_device_del(struct qmp_request *req, struct json_object *args,
			      struct json_object **ret, struct error *err)
{
	const char *id;
	int r = qmp_arg_string(args, "id", &id, err);

	return r < 0 ? r : qmp_device_del(req, id, err);
}

/* As QEMU's qmp_set_link: every queue of the client named @name. */
static int qmp_set_link(struct qmp_request *req, const char *name, bool up, struct error *err)
{
	static struct net_client *queues[QMP_MAX_QUEUES];
	bool changed = false;
	unsigned int n;

	memset(queues, 0, sizeof(queues));
	n = net_find_queues(name, queues, QMP_MAX_QUEUES);
	if (n == 0) {
		req->err_class = "DeviceNotFound";
		return error_set(err, -ENOENT, "Device '%s' not found", name);
	}
	for (unsigned int i = 0; i < QMP_MAX_QUEUES && i < n; i++) {
		if (!queues[i])
			continue;
		changed |= queues[i]->link_down == up;
		net_set_link(queues[i], up);
	}
	log_info("qmp: set_link %s %s", name, up ? "on" : "off");
	if (changed) {
		struct json_object *data = json_object_new_object();

		json_object_object_add(data, "name", json_object_new_string(name));
		json_object_object_add(data, "up", json_object_new_boolean(up));
		event_post("NETDEV_LINK_CHANGED", data);
	}
	return 0;
}

static int qmp_cmd_set_link(struct qmp_request *req, struct json_object *args,
			    struct json_object **ret, struct error *err)
{
	const char *name;
	bool up;
	int r;

	r = qmp_arg_string(args, "name", &name, err);
	if (!r)
		r = qmp_arg_bool(args, "up", true, &up, err);
	return r < 0 ? r : qmp_set_link(req, name, up, err);
}

/* Human monitor commands */

/* QEMU's print_net_client(): "name: index=N,type=T,info" and the filters. */
static void hmp_print_client(FILE *out, const struct net_client *nc)
{
	/* A back end shows the -netdev type it was made with (socket, not the stream or dgram
	 * client that serves it), as QEMU does. */
	fprintf(out, "%s: index=%u,type=%s,%s\n", nc->name, nc->queue_index,
		nc->is_netdev && nc->model ? nc->model : nc->ops->type, nc->info_str);
	if (nc->filters)
		fprintf(out, "filters:\n");
	for (const struct net_filter *f = nc->filters; f; f = f->next)
		fprintf(out, "  - %s: type=%s\n", f->name ? f->name : "", f->ops->type);
}

/* The ports of @hub after @after (creation order), printed newest first, as QEMU lists them. */
static void hmp_print_hub_ports(FILE *out, int hub, const struct net_client *after)
{
	const struct net_client *nc = after ? after->next : net_first();

	/* Not the links between a hub's parts on several threads: QEMU's hubs have none. */
	while (nc && (nc->hubid != hub || strcmp(nc->ops->type, "hubport") || nc->internal))
		nc = nc->next;
	if (!nc)
		return;
	hmp_print_hub_ports(out, hub, nc);
	fprintf(out, " \\ %s", nc->name);
	if (nc->peer) {
		fprintf(out, ": ");
		hmp_print_client(out, nc->peer);
	} else {
		fprintf(out, "\n");
	}
}

/*
 * QEMU's hmp_info_network(): first each hub with its ports and what each port is peered
 * with (newest hub and newest port first, as QEMU 7.2 lists them), then every client not on
 * a hub: alone, or a front end with its back end below it.
 */
static void hmp_info_network(struct qmp_request *req, const char *args, FILE *out)
{
	const struct net_client *nc;

	for (int hub = hub_next_id(-1); hub >= 0; hub = hub_next_id(hub)) {
		fprintf(out, "hub %d\n", hub);
		hmp_print_hub_ports(out, hub, NULL);
	}
	for (nc = net_first(); nc; nc = nc->next) {
		const struct net_client *peer = nc->peer;

		if (nc->hubid >= 0 || (peer && peer->hubid >= 0) || nc->internal)
			continue; /* shown with its hub, or a hub's link */
		if (!peer || !nc->is_netdev)
			hmp_print_client(out, nc);
		if (peer && !nc->is_netdev) {
			fprintf(out, " \\ ");
			hmp_print_client(out, peer);
		} else if (peer && peer->is_netdev) {
			hmp_print_client(out, nc); /* two back ends peered: each on its own */
		}
	}
}

static void hmp_info_version(struct qmp_request *req, const char *args, FILE *out)
{
	fprintf(out, "%d.%d.%d (vwire)\n", QMP_VERSION_MAJOR, QMP_VERSION_MINOR,
		QMP_VERSION_MICRO);
}

static void hmp_report(FILE *out, int ret, const struct error *err)
{
	if (ret < 0)
		fprintf(out, "Error: %s\n", err->msg[0] ? err->msg : strerror(-ret));
}

static void hmp_set_link(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };
	char name[256], state[8];
	bool up;

	if (sscanf(args, "%255s %7s", name, state) != 2 || opts_parse_bool(state, &up) < 0) {
		fprintf(out, "usage: set_link NAME on|off\n");
		return;
	}
	hmp_report(out, qmp_set_link(req, name, up, &err), &err);
}

static void hmp_netdev_add(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, netdev_add(req->srv->loop, args, &err), &err);
}

static void hmp_netdev_del(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, netdev_del(args, &err), &err);
}

static void hmp_object_add(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, object_add(req->srv->loop, args, &err), &err);
}

static void hmp_object_del(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, object_del(args, &err), &err);
}

static void hmp_device_add(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, device_add(req->srv->loop, args, &err), &err);
}

static void hmp_device_del(struct qmp_request *req, const char *args, FILE *out)
{
	struct error err = { 0 };

	hmp_report(out, qmp_device_del(req, args, &err), &err);
}

static void hmp_quit(struct qmp_request *req, const char *args, FILE *out)
{
	req->srv->quit = true;
	loop_quit(req->srv->loop);
}

#if HAVE_SLIRP
static void hmp_hostfwd_add(struct qmp_request *req, const char *args, FILE *out)
{
	user_hmp_hostfwd_add(args, out);
}

static void hmp_hostfwd_remove(struct qmp_request *req, const char *args, FILE *out)
{
	user_hmp_hostfwd_remove(args, out);
}

static void hmp_info_usernet(struct qmp_request *req, const char *args, FILE *out)
{
	user_hmp_info_usernet(out);
}
#endif

/* human-monitor-command's commands: one line each. */
static const struct hmp_command hmp_commands[] = {
	{ "info network", hmp_info_network },
	{ "info version", hmp_info_version },
	{ "set_link", hmp_set_link },
	{ "netdev_add", hmp_netdev_add },
	{ "netdev_del", hmp_netdev_del },
	{ "object_add", hmp_object_add },
	{ "object_del", hmp_object_del },
	{ "device_add", hmp_device_add },
	{ "device_del", hmp_device_del },
	{ "quit", hmp_quit },
#if HAVE_SLIRP
	{ "hostfwd_add", hmp_hostfwd_add },
	{ "hostfwd_remove", hmp_hostfwd_remove },
	{ "info usernet", hmp_info_usernet },
#endif
};

/* The command whose words begin @line (the longest such), with *@rest after them. */
static const struct hmp_command *hmp_find(const char *line, const char **rest)
{
	const struct hmp_command *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < sizeof(hmp_commands) / sizeof(hmp_commands[0]); i++) {
		const char *name = hmp_commands[i].name, *p = line, *q = name;

		/* Words match with any run of blanks between them. */
		while (*q && *p) {
			if (*q == ' ') {
				if (*p != ' ' && *p != '\t')
					break;
				p += strspn(p, " \t");
				q++;
			} else if (*p++ != *q++) {
				break;
			}
		}
		if (*q || (*p && *p != ' ' && *p != '\t'))
			continue;
		if (strlen(name) > best_len) {
			best = &hmp_commands[i];
			best_len = strlen(name);
			*rest = p + strspn(p, " \t");
		}
	}
	return best;
}

static int qmp_cmd_human_monitor_command(struct qmp_request *req, struct json_object *args,
					 struct json_object **ret, struct error *err)
{
	const struct hmp_command *cmd;
	const char *line, *rest = "";
	char *text = NULL, *crlf;
	size_t len = 0, n = 0;
	FILE *out;
	int r;

	r = qmp_arg_string(args, "command-line", &line, err);
	if (r < 0)
		return r;
	out = open_memstream(&text, &len);
	if (!out)
		return error_set(err, -ENOMEM, "out of memory");
	line += strspn(line, " \t");
	cmd = hmp_find(line, &rest);
	if (cmd) {
		char *args_copy = strdup(rest);

		/* Trailing blanks are no part of an argument. */
		for (size_t l = args_copy ? strlen(args_copy) : 0;
		     l && (args_copy[l - 1] == ' ' || args_copy[l - 1] == '\t'); l--)
			args_copy[l - 1] = '\0';
		if (args_copy)
			cmd->fn(req, args_copy, out);
		free(args_copy);
	} else if (*line) {
		fprintf(out, "unknown command: '%.*s'\n", (int)strcspn(line, " \t"), line);
	}
	fclose(out);
	/* The monitor ends its lines with CRLF, as QEMU's does. */
	for (const char *p = text; p && *p; p++)
		n += *p == '\n' ? 2 : 1;
	crlf = malloc(n + 1);
	if (!crlf) {
		free(text);
		return error_set(err, -ENOMEM, "out of memory");
	}
	n = 0;
	for (const char *p = text; p && *p; p++) {
		if (*p == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *p;
	}
	crlf[n] = '\0';
	*ret = json_object_new_string(crlf);
	free(crlf);
	free(text);
	return 0;
}

#if HAVE_SLIRP
/* vwire's QMP form of HMP's hostfwd_add/hostfwd_remove: {"netdev"?: ID, "rule": RULE} */
static int qmp_cmd_hostfwd_add(struct qmp_request *req, struct json_object *args,
			       struct json_object **ret, struct error *err)
{
	const char *netdev, *rule;
	int r = qmp_arg_string(args, "netdev", &netdev, err);

	if (r < 0 || (r = qmp_arg_string(args, "rule", &rule, err)) < 0)
		return r;
	return user_hostfwd_add(netdev, rule, err);
}

static int qmp_cmd_hostfwd_remove(struct qmp_request *req, struct json_object *args,
				  struct json_object **ret, struct error *err)
{
	const char *netdev, *rule;
	int r = qmp_arg_string(args, "netdev", &netdev, err);

	if (r < 0 || (r = qmp_arg_string(args, "rule", &rule, err)) < 0)
		return r;
	return user_hostfwd_remove(netdev, rule, err);
}
#endif

/* vwire: a vxlan or geneve netdev's forwarding table, as Linux's "bridge fdb" edits one's */
static int qmp_fdb_args(struct json_object *args, const char **netdev, const char **mac,
			const char **remote, struct error *err)
{
	int r = qmp_arg_string(args, "netdev", netdev, err);

	if (r < 0 || (r = qmp_arg_string(args, "mac", mac, err)) < 0)
		return r;
	return qmp_arg_string(args, "remote", remote, err);
}

static int qmp_cmd_vxlan_fdb_add(struct qmp_request *req, struct json_object *args,
				 struct json_object **ret, struct error *err)
{
	const char *netdev, *mac, *remote;
	int r = qmp_fdb_args(args, &netdev, &mac, &remote, err);

	return r < 0 ? r : overlay_fdb_add(netdev, mac, remote, err);
}

static int qmp_cmd_vxlan_fdb_del(struct qmp_request *req, struct json_object *args,
				 struct json_object **ret, struct error *err)
{
	const char *netdev, *mac, *remote;
	int r = qmp_fdb_args(args, &netdev, &mac, &remote, err);

	return r < 0 ? r : overlay_fdb_del(netdev, mac, remote, err);
}

static void qmp_fdb_entry(void *opaque, const char *mac, const char *remote, bool is_static,
			  uint64_t age_s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "mac", json_object_new_string(mac));
	json_object_object_add(o, "remote", json_object_new_string(remote));
	json_object_object_add(o, "static", json_object_new_boolean(is_static));
	qmp_add_u64(o, "age", age_s);
	json_object_array_add(opaque, o);
}

static int qmp_cmd_query_vxlan_fdb(struct qmp_request *req, struct json_object *args,
				   struct json_object **ret, struct error *err)
{
	struct json_object *list;
	const char *netdev;
	int r = qmp_arg_string(args, "netdev", &netdev, err);

	if (r < 0)
		return r;
	list = json_object_new_array();
	r = overlay_fdb_query(netdev, qmp_fdb_entry, list, err);
	if (r < 0) {
		json_object_put(list);
		return r;
	}
	*ret = list;
	return 0;
}

/* The QMP commands: add one line per command (see the top of this file). */
static const struct qmp_command qmp_commands[] = {
	{ "qmp_capabilities", "enable?", qmp_cmd_qmp_capabilities },
	{ "query-version", "", qmp_cmd_query_version },
	{ "query-commands", "", qmp_cmd_query_commands },
	{ "query-name", "", qmp_cmd_query_name },
	{ "query-status", "", qmp_cmd_query_status },
	{ "query-netdevs", "", qmp_cmd_query_netdevs },
	{ "query-iothreads", "", qmp_cmd_query_iothreads },
	{ "netdev_add", "type id *", qmp_cmd_netdev_add },
	{ "netdev_del", "id", qmp_cmd_netdev_del },
	{ "object-add", "qom-type id *", qmp_cmd_object_add },
	{ "object-del", "id", qmp_cmd_object_del },
	{ "device_add", "driver *", qmp_cmd_device_add },
	{ "device_del", "id", qmp_cmd_device_del },
	{ "set_link", "name up", qmp_cmd_set_link },
	{ "human-monitor-command", "command-line cpu-index?", qmp_cmd_human_monitor_command },
	{ "quit", "", qmp_cmd_quit },
	{ "vxlan-fdb-add", "netdev mac remote", qmp_cmd_vxlan_fdb_add },
	{ "vxlan-fdb-del", "netdev mac remote?", qmp_cmd_vxlan_fdb_del },
	{ "query-vxlan-fdb", "netdev", qmp_cmd_query_vxlan_fdb },
#if HAVE_SLIRP
	{ "hostfwd_add", "netdev? rule", qmp_cmd_hostfwd_add },
	{ "hostfwd_remove", "netdev? rule", qmp_cmd_hostfwd_remove },
#endif
};
static const size_t qmp_ncommands = sizeof(qmp_commands) / sizeof(qmp_commands[0]);

/* Dispatch */

static const struct qmp_command *qmp_find_command(const char *name)
{
	for (size_t i = 0; i < qmp_ncommands; i++)
		if (!strcmp(qmp_commands[i].name, name))
			return &qmp_commands[i];
	return NULL;
}

void qmp_dispatch(struct qmp_client *c, struct json_object *in)
{
	struct json_object *id = NULL, *exec = NULL, *args = NULL, *ret = NULL, *empty = NULL;
	struct qmp_request req = { .srv = c->srv, .client = c, .err_class = "GenericError" };
	struct error err = { 0 };
	const struct qmp_command *cmd;
	const char *name;
	int r;

	if (!json_object_is_type(in, json_type_object)) {
		qmp_client_error(c, NULL, "GenericError", "QMP input must be a JSON object");
		return;
	}
	json_object_object_get_ex(in, "id", &id);
	json_object_object_foreach(in, key, val) {
		if (!strcmp(key, "execute")) {
			exec = val;
		} else if (!strcmp(key, "arguments")) {
			args = val;
		} else if (strcmp(key, "id")) {
			qmp_client_error(c, id, "GenericError", "QMP input member '%s' is unexpected",
					 key);
			return;
		}
	}
	if (!exec) {
		qmp_client_error(c, id, "GenericError", "QMP input lacks member 'execute'");
		return;
	}
	if (!json_object_is_type(exec, json_type_string)) {
		qmp_client_error(c, id, "GenericError",
				 "QMP input member 'execute' must be a string");
		return;
	}
	if (args && !json_object_is_type(args, json_type_object)) {
		qmp_client_error(c, id, "GenericError",
				 "QMP input member 'arguments' must be an object");
		return;
	}
	name = json_object_get_string(exec);
	cmd = qmp_find_command(name);
	if (!c->negotiated && (!cmd || cmd->fn != qmp_cmd_qmp_capabilities)) {
		qmp_client_error(c, id, "CommandNotFound",
				 "Expecting capabilities negotiation with 'qmp_capabilities'");
		return;
	}
	if (!cmd) {
		qmp_client_error(c, id, "CommandNotFound", "The command %s has not been found",
				 name);
		return;
	}
	if (!args)
		args = empty = json_object_new_object();
	r = qmp_check_args(cmd->args, args, &err);
	if (r == 0) {
		/* Commands reach devices and netdevs of every thread: the iothreads wait meanwhile. */
		iothread_pause_all();
		r = cmd->fn(&req, args, &ret, &err);
		iothread_resume_all();
	}
	if (r < 0) {
		json_object_put(ret);
		qmp_client_error(c, id, req.err_class, "%s",
				 err.msg[0] ? err.msg : strerror(-r));
	} else {
		qmp_client_reply(c, id, ret);
	}
	json_object_put(empty);
}
