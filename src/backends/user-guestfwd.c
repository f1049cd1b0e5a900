// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * user-guestfwd.c - relay for guestfwd=[tcp]:[server]:port-tcp:HOST:PORT of -netdev user.
 *
 * libslirp connects every guest connection to server:port to a unix socket in a private
 * directory (slirp_add_unix). Each accepted stream gets its own TCP connection to HOST:PORT;
 * bytes read from one side wait in that direction's ring (read only while it has room) and
 * are written to the other side; an end of file is passed on as shutdown(SHUT_WR) once the
 * ring is empty, and the pair closes when both directions have ended or either fails.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/user-guestfwd.h"
#include "core/log.h"
#include "vwire/error.h"
#include "vwire/loop.h"

/* Bytes buffered per direction of a relayed connection. */
#define GUESTFWD_RING_SIZE 65536
/* Connections accepted per readable event of the listening socket. */
#define GUESTFWD_ACCEPT_BATCH 256
/* libslirp connects with a blocking connect(), which would wait (and stall the loop) on a
 * full backlog: keep it far above what one loop round of guest SYNs can open. */
#define GUESTFWD_BACKLOG 4096
#define GUESTFWD_DIR_TEMPLATE "vwire-guestfwd.XXXXXX"
#define GUESTFWD_SOCK_NAME "sock"

/* The two ends of a relayed connection. */
enum guestfwd_side {
	GUESTFWD_SLIRP = 0, /* the unix stream libslirp connected */
	GUESTFWD_HOST = 1,  /* the TCP connection to HOST:PORT */
};

struct guestfwd_conn;

/**
 * struct guestfwd_end - one end of a relayed connection
 * @conn:	its connection
 * @side:	which end
 * @fd:		its socket
 * @ring:	bytes read from @fd, to be written to the other end
 * @head:	offset of the oldest byte in @ring
 * @len:	bytes in @ring
 * @eof:	@fd reached end of file
 * @shut:	the other end's writing side has been shut down after @eof
 * @want_write:	the loop watches @fd for output
 */
struct guestfwd_end {
	struct guestfwd_conn *conn;
	enum guestfwd_side side;
	int fd;
	uint8_t *ring;
	size_t head;
	size_t len;
	bool eof;
	bool shut;
	bool want_write;
};

/**
 * struct guestfwd_conn - a guest connection being relayed
 * @g:		its relay
 * @end:	its two ends
 * @connecting:	the TCP connect has not completed yet
 * @next:	next connection of the relay
 */
struct guestfwd_conn {
	struct user_guestfwd *g;
	struct guestfwd_end end[2];
	bool connecting;
	struct guestfwd_conn *next;
};

/**
 * struct user_guestfwd - a relay
 * @loop:	event loop
 * @listen_fd:	the unix socket libslirp connects to
 * @dir:	its private directory
 * @path:	its path
 * @target:	HOST:PORT resolved
 * @target_len:	its length
 * @target_text: HOST:PORT as given, for messages
 * @conns:	connections being relayed
 * @rl:		rate limit of connection failures
 */
struct user_guestfwd {
	struct loop *loop;
	int listen_fd;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_storage target;
	socklen_t target_len;
	char *target_text;
	struct guestfwd_conn *conns;
	struct log_ratelimit rl;
};

static void guestfwd_update(struct guestfwd_conn *c);

static void guestfwd_conn_free(struct guestfwd_conn *c)
{
	struct guestfwd_conn **pp;

	for (pp = &c->g->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (c->end[i].fd >= 0) {
			loop_set_fd_handler(c->g->loop, c->end[i].fd, NULL, NULL, NULL, NULL);
			close(c->end[i].fd);
		}
		free(c->end[i].ring);
	}
	free(c);
}

static bool guestfwd_can_read(void *opaque)
{
	struct guestfwd_end *e = opaque;

	return !e->conn->connecting && !e->eof && e->len < GUESTFWD_RING_SIZE;
}

static void guestfwd_read(void *opaque)
{
	struct guestfwd_end *e = opaque;
	size_t tail = (e->head + e->len) % GUESTFWD_RING_SIZE;
	size_t room = GUESTFWD_RING_SIZE - e->len;
	struct iovec iov[2];
	int n = 1;
	ssize_t ret;

	if (!room)
		return;
	iov[0].iov_base = e->ring + tail;
	iov[0].iov_len = tail + room <= GUESTFWD_RING_SIZE ? room : GUESTFWD_RING_SIZE - tail;
	if (iov[0].iov_len < room) {
		iov[1].iov_base = e->ring;
		iov[1].iov_len = room - iov[0].iov_len;
		n = 2;
	}
	ret = readv(e->fd, iov, n);
	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0) {
		log_ratelimited_warn(&e->conn->g->rl, "guestfwd to %s: read: %s",
				     e->conn->g->target_text, strerror(errno));
		guestfwd_conn_free(e->conn);
		return;
	}
	if (ret == 0)
		e->eof = true;
	e->len += (size_t)ret;
	guestfwd_update(e->conn);
}

/* Write what the other end read to @e's fd. */
static void guestfwd_write(void *opaque)
{
	struct guestfwd_end *e = opaque;
	struct guestfwd_conn *c = e->conn;
	struct guestfwd_end *src = &c->end[!e->side];
	struct iovec iov[2];
	int n = 1, soerr = 0;
	socklen_t len = sizeof(soerr);
	ssize_t ret;

	if (c->connecting) {
		if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr) {
			log_ratelimited_warn(&c->g->rl, "guestfwd: cannot connect to %s: %s",
					     c->g->target_text, strerror(soerr));
			guestfwd_conn_free(c);
			return;
		}
		c->connecting = false;
		guestfwd_update(c);
		return;
	}
	if (!src->len)
		return;
	iov[0].iov_base = src->ring + src->head;
	iov[0].iov_len = src->len;
	if (src->head + src->len > GUESTFWD_RING_SIZE)
		iov[0].iov_len = GUESTFWD_RING_SIZE - src->head;
	if (iov[0].iov_len < src->len) {
		iov[1].iov_base = src->ring;
		iov[1].iov_len = src->len - iov[0].iov_len;
		n = 2;
	}
	ret = sendmsg(e->fd, &(struct msghdr){ .msg_iov = iov, .msg_iovlen = (size_t)n },
		      MSG_NOSIGNAL);
	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0) {
		log_ratelimited_warn(&c->g->rl, "guestfwd to %s: write: %s", c->g->target_text,
				     strerror(errno));
		guestfwd_conn_free(c);
		return;
	}
	src->head = (src->head + (size_t)ret) % GUESTFWD_RING_SIZE;
	src->len -= (size_t)ret;
	guestfwd_update(c);
}

/* Pass on ends of file, watch for output where bytes wait, close when all is done. */
static void guestfwd_update(struct guestfwd_conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct guestfwd_end *src = &c->end[i], *dst = &c->end[!i];

		if (src->eof && !src->len && !src->shut && !c->connecting) {
			shutdown(dst->fd, SHUT_WR);
			src->shut = true;
		}
	}
	if (c->end[0].shut && c->end[1].shut) {
		guestfwd_conn_free(c);
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct guestfwd_end *e = &c->end[i];
		bool want = c->connecting ? e->side == GUESTFWD_HOST : c->end[!i].len > 0;

		if (want == e->want_write)
			continue;
		e->want_write = want;
		loop_set_fd_handler(c->g->loop, e->fd, guestfwd_can_read, guestfwd_read,
				    want ? guestfwd_write : NULL, e);
	}
}

static int guestfwd_connect(struct user_guestfwd *g, int *fd)
{
	int one = 1;

	*fd = socket(g->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(*fd, (struct sockaddr *)&g->target, g->target_len) < 0 &&
	    errno != EINPROGRESS)
		return -errno;
	return 0;
}

static void guestfwd_accept_one(struct user_guestfwd *g, int fd)
{
	struct guestfwd_conn *c = calloc(1, sizeof(*c));
	int ret = -ENOMEM;

	if (!c) {
		close(fd);
		goto fail;
	}
	c->g = g;
	c->connecting = true;
	for (int i = 0; i < 2; i++) {
		c->end[i].conn = c;
		c->end[i].side = (enum guestfwd_side)i;
		c->end[i].fd = -1;
		c->end[i].ring = malloc(GUESTFWD_RING_SIZE);
	}
	c->end[GUESTFWD_SLIRP].fd = fd;
	c->next = g->conns;
	g->conns = c;
	if (!c->end[0].ring || !c->end[1].ring)
		goto free;
	ret = guestfwd_connect(g, &c->end[GUESTFWD_HOST].fd);
	if (ret < 0)
		goto free;
	for (int i = 0; i < 2; i++) {
		ret = loop_set_fd_handler(g->loop, c->end[i].fd, guestfwd_can_read, guestfwd_read,
					  NULL, &c->end[i]);
		if (ret < 0)
			goto free;
	}
	guestfwd_update(c);
	return;
free:
	guestfwd_conn_free(c);
fail:
	log_ratelimited_warn(&g->rl, "guestfwd: cannot connect to %s: %s", g->target_text,
			     strerror(-ret));
}

static void guestfwd_accept(void *opaque)
{
	struct user_guestfwd *g = opaque;

	for (int i = 0; i < GUESTFWD_ACCEPT_BATCH; i++) {
		int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_ratelimited_warn(&g->rl, "guestfwd: accept: %s",
						     strerror(errno));
			return;
		}
		guestfwd_accept_one(g, fd);
	}
}

int user_guestfwd_resolve(const char *host_port, struct sockaddr_storage *target,
			  socklen_t *target_len, struct error *err)
{
	const char *text = host_port;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	const char *colon = strrchr(host_port, ':');
	char host[256];
	size_t n;
	int ret;

	if (!colon || colon == host_port || !colon[1])
		return error_set(err, -EINVAL, "tcp:%s: expected tcp:HOST:PORT", host_port);
	n = (size_t)(colon - host_port);
	if (host_port[0] == '[' && colon[-1] == ']') {
		host_port++;
		n -= 2;
	}
	if (n >= sizeof(host) || !n)
		return error_set(err, -EINVAL, "tcp:%s: bad host", text);
	memcpy(host, host_port, n);
	host[n] = '\0';
	ret = getaddrinfo(host, colon + 1, &hints, &res);
	if (ret)
		return error_set(err, -EINVAL, "tcp:%s: %s", text, gai_strerror(ret));
	memcpy(target, res->ai_addr, res->ai_addrlen);
	*target_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int guestfwd_listen(struct user_guestfwd *g, struct error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *base = getenv("XDG_RUNTIME_DIR");
	int n;

	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	n = snprintf(g->dir, sizeof(g->dir), "%s/%s", base, GUESTFWD_DIR_TEMPLATE);
	if (n < 0 || (size_t)n >= sizeof(g->dir) - sizeof("/" GUESTFWD_SOCK_NAME))
		return error_set(err, -ENAMETOOLONG, "%s: directory name too long", base);
	if (!mkdtemp(g->dir)) {
		g->dir[0] = '\0';
		return error_set(err, -errno, "cannot make a directory in %s: %s", base,
				 strerror(errno));
	}
	n = snprintf(g->path, sizeof(g->path), "%s/%s", g->dir, GUESTFWD_SOCK_NAME);
	if (n < 0 || (size_t)n >= sizeof(g->path))
		return error_set(err, -ENAMETOOLONG, "%s: directory name too long", base);
	memcpy(sun.sun_path, g->path, sizeof(g->path));
	g->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->listen_fd < 0)
		return error_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(g->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(g->listen_fd, GUESTFWD_BACKLOG) < 0)
		return error_set(err, -errno, "%s: %s", g->path, strerror(errno));
	n = loop_set_fd_handler(g->loop, g->listen_fd, NULL, guestfwd_accept, NULL, g);
	if (n < 0)
		return error_set(err, n, "cannot watch %s: %s", g->path, strerror(-n));
	return 0;
}

struct user_guestfwd *user_guestfwd_new(struct loop *loop, const char *host_port,
					struct error *err)
{
	struct user_guestfwd *g = calloc(1, sizeof(*g));

	if (!g) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	g->loop = loop;
	g->listen_fd = -1;
	g->target_text = strdup(host_port);
	if (!g->target_text) {
		error_set(err, -ENOMEM, "out of memory");
		goto err;
	}
	if (user_guestfwd_resolve(host_port, &g->target, &g->target_len, err) < 0 ||
	    guestfwd_listen(g, err) < 0)
		goto err;
	return g;
err:
	user_guestfwd_free(g);
	return NULL;
}

const char *user_guestfwd_path(const struct user_guestfwd *g)
{
	return g->path;
}

void user_guestfwd_free(struct user_guestfwd *g)
{
	if (!g)
		return;
	while (g->conns)
		guestfwd_conn_free(g->conns);
	if (g->listen_fd >= 0) {
		loop_set_fd_handler(g->loop, g->listen_fd, NULL, NULL, NULL, NULL);
		close(g->listen_fd);
		unlink(g->path);
	}
	if (g->dir[0])
		rmdir(g->dir);
	free(g->target_text);
	free(g);
}
