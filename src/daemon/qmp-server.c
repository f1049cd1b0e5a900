// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qmp-server.c - the transport half of QMP: unix stream sockets on the event loop.
 *
 * A connection gets the greeting; bytes read from it go to its json-c tokener (a request may
 * span reads, one read may hold several) and each complete value goes to qmp_dispatch()
 * (qmp.c). Replies and events are queued per client and written as the socket takes them;
 * reading pauses while a client leaves its replies unread. A parse error is answered and
 * the input skipped to the next '{' or newline; the connection stays. A client that sends
 * more than QMP_MAX_LINE bytes without finishing a value or a line is disconnected, and at
 * most QMP_MAX_CLIENTS are served at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/log.h"
#include "daemon/qmp-priv.h"
#include "daemon/qmp.h"
#include "vwire/error.h"
#include "vwire/loop.h"

#define QMP_READ_SIZE 4096
/* Reading pauses while this much output waits for a slow client... */
#define QMP_OUT_PAUSE (64 << 10)
/* ...and a client that lets more than this pile up (events) is dropped. */
#define QMP_OUT_MAX (8 << 20)
#define QMP_MAX_DEPTH 64
#define QMP_LISTEN_BACKLOG 16

static void qmp_client_flush(struct qmp_client *c);

/* Sending */

static void qmp_client_send(struct qmp_client *c, struct json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), need = c->out_len + len + 2;

	if (c->dead)
		goto out;
	if (need > QMP_OUT_MAX) {
		log_warn("qmp: client fd %d does not read its replies; closing it", c->fd);
		c->dead = true;
		goto out;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : QMP_READ_SIZE;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			c->dead = true;
			goto out;
		}
		c->out = p;
		c->out_cap = cap;
	}
	/* QMP lines end with CRLF, as QEMU's monitor writes them. */
	memcpy(c->out + c->out_len, s, len);
	memcpy(c->out + c->out_len + len, "\r\n", 2);
	c->out_len += len + 2;
	qmp_client_flush(c);
out:
	json_object_put(msg);
}

void qmp_client_reply(struct qmp_client *c, struct json_object *id, struct json_object *ret)
{
	struct json_object *msg = json_object_new_object();

	json_object_object_add(msg, "return", ret ? ret : json_object_new_object());
	if (id)
		json_object_object_add(msg, "id", json_object_get(id));
	qmp_client_send(c, msg);
}

void qmp_client_error(struct qmp_client *c, struct json_object *id, const char *cls,
		      const char *fmt, ...)
{
	struct json_object *msg = json_object_new_object();
	struct json_object *e = json_object_new_object();
	char desc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(msg, "error", e);
	if (id)
		json_object_object_add(msg, "id", json_object_get(id));
	qmp_client_send(c, msg);
}

/* Connections */

static bool qmp_client_can_read(void *opaque)
{
	struct qmp_client *c = opaque;

	return !c->dead && c->out_len < QMP_OUT_PAUSE;
}

static void qmp_client_read(void *opaque);
static void qmp_client_write(void *opaque);

static void qmp_client_watch(struct qmp_client *c, bool want_write)
{
	int ret;

	ret = loop_set_fd_handler(c->srv->loop, c->fd, qmp_client_can_read, qmp_client_read,
				  want_write ? qmp_client_write : NULL, c);
	if (ret < 0) {
		log_warn("qmp: cannot watch client fd %d: %s", c->fd, strerror(-ret));
		c->dead = true;
		return;
	}
	c->want_write = want_write;
}

static void qmp_client_flush(struct qmp_client *c)
{
	size_t done = 0;

	while (done < c->out_len) {
		ssize_t n = send(c->fd, c->out + done, c->out_len - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			log_debug("qmp: client fd %d: send: %s", c->fd, strerror(errno));
			c->dead = true;
			return;
		}
		done += (size_t)n;
	}
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= done;
	if ((c->out_len > 0) != c->want_write)
		qmp_client_watch(c, c->out_len > 0);
}

static void qmp_client_free(struct qmp_client *c)
{
	struct qmp_client **pp;

	for (pp = &c->srv->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_set_fd_handler(c->srv->loop, c->fd, NULL, NULL, NULL, NULL);
	close(c->fd);
	json_tokener_free(c->tok);
	free(c->out);
	free(c);
}

/* Free the clients that failed, except one whose input is being dispatched. */
static void qmp_server_reap(struct qmp_server *srv)
{
	struct qmp_client *c, *next;

	for (c = srv->clients; c; c = next) {
		next = c->next;
		if (c->dead && !c->busy)
			qmp_client_free(c);
	}
}

static void qmp_client_write(void *opaque)
{
	struct qmp_client *c = opaque;

	qmp_client_flush(c);
	qmp_server_reap(c->srv);
}

struct json_object *qmp_version_object(void)
{
	struct json_object *v = json_object_new_object(), *q = json_object_new_object();

	json_object_object_add(q, "micro", json_object_new_int(QMP_VERSION_MICRO));
	json_object_object_add(q, "minor", json_object_new_int(QMP_VERSION_MINOR));
	json_object_object_add(q, "major", json_object_new_int(QMP_VERSION_MAJOR));
	json_object_object_add(v, "qemu", q);
	json_object_object_add(v, "package", json_object_new_string("vwire"));
	return v;
}

/* Skip input after a parse error up to a '{' (kept) or past a newline; true when found. */
static bool qmp_client_skip(struct qmp_client *c, const char **p, size_t *len)
{
	size_t n = strcspn(*p, "{\n");

	if (n > *len)
		n = *len;
	/* strcspn stops at a NUL byte too: step over it as junk. */
	while (n < *len && (*p)[n] != '{' && (*p)[n] != '\n')
		n += 1 + strcspn(*p + n + 1, "{\n");
	if (n >= *len) {
		*p += *len;
		*len = 0;
		return false;
	}
	if ((*p)[n] == '\n')
		n++;
	*p += n;
	*len -= n;
	c->skipping = false;
	return true;
}

/* Whether @c has now sent more than QMP_MAX_LINE bytes of one value or line; drop it if so. */
static bool qmp_client_too_long(struct qmp_client *c, size_t more)
{
	static struct log_ratelimit rl;

	c->pending += more;
	if (c->pending <= QMP_MAX_LINE)
		return false;
	log_ratelimited_warn(&rl,
			     "qmp: client fd %d sent more than %d bytes in one line; "
			     "closing it",
			     c->fd, QMP_MAX_LINE);
	c->dead = true;
	return true;
}

static void qmp_client_parse_error(struct qmp_client *c, const char *why)
{
	qmp_client_error(c, NULL, "GenericError", "JSON parse error, %s", why);
	json_tokener_reset(c->tok);
	c->pending = 0;
	c->skipping = true;
}

/* Feed bytes to the tokener and dispatch every complete value. @buf is NUL-terminated. */
static void qmp_client_feed(struct qmp_client *c, const char *buf, size_t len)
{
	const char *p = buf;

	while (len > 0 && !c->dead) {
		struct json_object *obj;
		enum json_tokener_error jerr;
		size_t used;

		if (c->skipping) {
			const char *start = p;
			bool found = qmp_client_skip(c, &p, &len);

			if (qmp_client_too_long(c, (size_t)(p - start)) || !found)
				return;
			c->pending = 0;
		}
		if (!len)
			return;
		obj = json_tokener_parse_ex(c->tok, p, (int)len);
		jerr = json_tokener_get_error(c->tok);
		used = json_tokener_get_parse_end(c->tok);
		if (used == 0 || used > len)
			used = jerr == json_tokener_continue ? len : 1;
		if (jerr == json_tokener_continue) {
			qmp_client_too_long(c, len);
			return;
		}
		if (jerr != json_tokener_success) {
			qmp_client_parse_error(c, json_tokener_error_desc(jerr));
			p += used;
			len -= used;
			continue;
		}
		c->pending = 0;
		qmp_dispatch(c, obj);
		json_object_put(obj);
		p += used;
		len -= used;
	}
}

static void qmp_client_read(void *opaque)
{
	struct qmp_client *c = opaque;
	struct qmp_server *srv = c->srv;
	char buf[QMP_READ_SIZE + 1];
	ssize_t n;

	n = recv(c->fd, buf, QMP_READ_SIZE, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("qmp: client fd %d: recv: %s", c->fd, strerror(errno));
		c->dead = true;
	} else {
		buf[n] = '\0';
		c->busy = true;
		qmp_client_feed(c, buf, (size_t)n);
		c->busy = false;
	}
	qmp_server_reap(srv);
}

/* Server */

int qmp_server_add_client(struct qmp_server *srv, int fd)
{
	static struct log_ratelimit rl;
	struct json_object *greeting, *qmp;
	struct qmp_client *c;
	unsigned int count = 0;
	int flags;

	for (c = srv->clients; c; c = c->next)
		count++;
	if (count >= QMP_MAX_CLIENTS) {
		log_ratelimited_warn(&rl,
				     "qmp: %u clients already (the most served at once); "
				     "refusing another",
				     count);
		close(fd);
		return -EMFILE;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = srv;
	c->fd = fd;
	c->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
	if (!c->tok) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	c->next = srv->clients;
	srv->clients = c;
	qmp_client_watch(c, false);
	if (c->dead) {
		qmp_client_free(c);
		return -EIO;
	}
	greeting = json_object_new_object();
	qmp = json_object_new_object();
	json_object_object_add(qmp, "version", qmp_version_object());
	json_object_object_add(qmp, "capabilities", json_object_new_array());
	json_object_object_add(greeting, "QMP", qmp);
	qmp_client_send(c, greeting);
	/* Gone already: no input event would ever come to reap it. */
	if (c->dead) {
		qmp_client_free(c);
		return -EPIPE;
	}
	log_debug("qmp: client fd %d connected", fd);
	return 0;
}

static void qmp_server_accept(void *opaque)
{
	static struct log_ratelimit rl;
	struct qmp_server *srv = opaque;
	int fd;

	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_ratelimited_warn(&rl, "qmp: accept on %s: %s", srv->owned.path,
					     strerror(errno));
		return;
	}
	qmp_server_add_client(srv, fd);
}

/* Listen on @path under the unix socket policy (core/unix-socket.h). */
static int qmp_server_listen(struct qmp_server *srv, const char *path, struct error *err)
{
	int fd, ret;

	fd = unix_socket_listen(path, SOCK_STREAM, QMP_LISTEN_BACKLOG, &srv->owned, err);
	if (fd < 0)
		return fd;
	ret = loop_set_fd_handler(srv->loop, fd, NULL, qmp_server_accept, NULL, srv);
	if (ret < 0) {
		error_set(err, ret, "cannot watch %s: %s", path, strerror(-ret));
		unix_socket_unlink_owned(&srv->owned);
		close(fd);
		return ret;
	}
	srv->listen_fd = fd;
	return 0;
}

struct qmp_server *qmp_server_new(struct loop *loop, const char *path, struct error *err)
{
	struct qmp_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->listen_fd = -1;
	if (path && qmp_server_listen(srv, path, err) < 0) {
		free(srv);
		return NULL;
	}
	return srv;
}

void qmp_server_set_name(struct qmp_server *srv, const char *name)
{
	free(srv->name);
	srv->name = name ? strdup(name) : NULL;
}

bool qmp_server_quit_requested(const struct qmp_server *srv)
{
	return srv->quit;
}

void qmp_server_emit_event(struct qmp_server *srv, const char *event, struct json_object *data)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	for (struct qmp_client *c = srv->clients; c; c = c->next) {
		struct json_object *msg, *ts;

		if (!c->negotiated || c->dead)
			continue;
		msg = json_object_new_object();
		ts = json_object_new_object();
		json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
		json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
		json_object_object_add(msg, "timestamp", ts);
		json_object_object_add(msg, "event", json_object_new_string(event));
		if (data)
			json_object_object_add(msg, "data", json_object_get(data));
		qmp_client_send(c, msg);
	}
	json_object_put(data);
	qmp_server_reap(srv);
}

void qmp_server_free(struct qmp_server *srv)
{
	if (!srv)
		return;
	while (srv->clients) {
		struct qmp_client *c = srv->clients;

		if (!c->dead && c->out_len)
			qmp_client_flush(c);
		qmp_client_free(c);
	}
	if (srv->listen_fd >= 0) {
		loop_set_fd_handler(srv->loop, srv->listen_fd, NULL, NULL, NULL, NULL);
		close(srv->listen_fd);
	}
	unix_socket_unlink_owned(&srv->owned);
	free(srv->name);
	free(srv);
}
