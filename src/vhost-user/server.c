// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * server.c - the vhost-user protocol server: one unix socket, one front end at a time.
 *
 * Bytes arrive on the connection (with fds as SCM_RIGHTS) and are gathered into one
 * struct vhost_user_msg; a complete message goes through vhost_user_msg_check(), then to
 * vhost_user_handle_msg() (handlers.c). Rings are reconciled with the device after every
 * message: a ring that may run is started through ops->queue_start(), one that may not is
 * stopped through ops->queue_stop(). A malformed or hostile message logs a reason and ends
 * that connection only; the server then listens (server mode) or reconnects (client mode).
 * Nothing is queued in user space: one message is received at a time, at most
 * VHOST_USER_SERVER_MSGS_PER_READ per loop round, and a reply the socket cannot take at once
 * (a front end that does not read them) ends the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/event.h"
#include "vhost-user/server-priv.h"
#include "vwire/error.h"
#include "vwire/loop.h"

void vhost_user_server_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vhost_user_server_bad(struct vhost_user_server *s, const struct vhost_user_msg *msg,
			  const char *why)
{
	log_ratelimited_warn(&s->rl, "vhost-user %s: %s refused, closing connection: %s", s->name,
			     vhost_user_request_name(msg->hdr.request), why);
	return -EINVAL;
}

int vhost_user_server_reply(struct vhost_user_server *s, uint32_t request, const void *payload,
			    uint32_t size, int fd)
{
	struct vhost_user_header hdr = {
	    .request = request,
	    .flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
	    .size = size,
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = {
	    {.iov_base = &hdr, .iov_len = sizeof(hdr)},
	    {.iov_base = (void *)payload, .iov_len = size},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(s->conn_fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_ratelimited_warn(&s->rl, "vhost-user %s: reply to %s failed: %s", s->name,
				     vhost_user_request_name(request), strerror(errno));
		return -errno;
	}
	if ((size_t)n != sizeof(hdr) + size) {
		log_ratelimited_warn(&s->rl, "vhost-user %s: reply to %s cut short", s->name,
				     vhost_user_request_name(request));
		return -EIO;
	}
	return 0;
}

int vhost_user_server_reply_u64(struct vhost_user_server *s, uint32_t request, uint64_t value)
{
	return vhost_user_server_reply(s, request, &value, sizeof(value), -1);
}

/* Rings */

/**
 * vhost_user_server_ring_may_run() - whether ring @vr has all it needs and is enabled
 * @s:	the server
 * @vr:	the ring
 *
 * Return: true if it may run
 */
static bool vhost_user_server_ring_may_run(const struct vhost_user_server *s,
					   const struct vhost_user_vring *vr)
{
	return vr->num && vr->addr_set && vr->kick_set && vr->enabled && s->mem.nregions;
}

void vhost_user_server_stop_ring(struct vhost_user_server *s, unsigned int idx)
{
	struct vhost_user_vring *vr = &s->vrings[idx];

	if (!vr->started)
		return;
	vr->base = s->cfg.ops->queue_stop(s->cfg.opaque, idx, vr);
	vr->started = false;
}

void vhost_user_server_stop_rings(struct vhost_user_server *s)
{
	unsigned int i;

	for (i = 0; i < s->cfg.num_vrings; i++)
		vhost_user_server_stop_ring(s, i);
}

void vhost_user_server_update_rings(struct vhost_user_server *s)
{
	unsigned int i;
	int ret;

	for (i = 0; i < s->cfg.num_vrings; i++) {
		struct vhost_user_vring *vr = &s->vrings[i];
		bool may_run = vhost_user_server_ring_may_run(s, vr);

		if (may_run && !vr->started) {
			ret = s->cfg.ops->queue_start(s->cfg.opaque, i, vr);
			if (ret < 0)
				log_ratelimited_warn(&s->rl,
						     "vhost-user %s: ring %u not started: %s",
						     s->name, i, strerror(-ret));
			else
				vr->started = true;
		} else if (!may_run && vr->started) {
			vhost_user_server_stop_ring(s, i);
		}
	}
}

void vhost_user_server_reset_ring(struct vhost_user_vring *vr)
{
	vhost_user_server_close_fd(&vr->kick_fd);
	vhost_user_server_close_fd(&vr->call_fd);
	vhost_user_server_close_fd(&vr->err_fd);
	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = -1;
	vr->call_fd = -1;
	vr->err_fd = -1;
}

void vhost_user_server_free_inflight(struct vhost_user_server *s)
{
	unsigned int i;

	if (s->inflight_mmap) {
		mem_guard_remove(&s->guard, s->inflight_mmap);
		munmap(s->inflight_mmap, s->inflight_mmap_size);
	}
	s->inflight_mmap = NULL;
	s->inflight_mmap_size = 0;
	for (i = 0; i < VHOST_USER_MAX_VRINGS; i++) {
		s->vrings[i].inflight = NULL;
		s->vrings[i].inflight_size = 0;
	}
}

/* Connection */

static void vhost_user_server_rx_reset(struct vhost_user_server *s)
{
	unsigned int i;

	for (i = 0; i < s->rx_nfds; i++)
		vhost_user_server_close_fd(&s->rx_fds[i]);
	s->rx_nfds = 0;
	s->rx_len = 0;
}

/**
 * vhost_user_server_take_fds() - collect the fds a recvmsg() brought
 * @s:	the server
 * @mh:	the received message header
 *
 * Return: 0, or -EINVAL when more fds came than one message may carry
 */
static int vhost_user_server_take_fds(struct vhost_user_server *s, struct msghdr *mh)
{
	if (unix_socket_take_fds(mh, s->rx_fds, &s->rx_nfds, VHOST_USER_MAX_FDS) < 0) {
		log_ratelimited_warn(&s->rl, "vhost-user %s: more than %d fds in one message",
				     s->name, VHOST_USER_MAX_FDS);
		return -EINVAL;
	}
	return 0;
}

/**
 * vhost_user_server_recv() - read what is available of the current message
 * @s: the server
 *
 * Return: 1 when a whole message is in @s->rx, 0 when more bytes are needed (would block),
 *	   negative errno when the connection must end (logged)
 */
static int vhost_user_server_recv(struct vhost_user_server *s)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} u;

	for (;;) {
		struct msghdr mh = {0};
		struct iovec iov;
		size_t total = VHOST_USER_HDR_SIZE;
		ssize_t n;
		int ret;

		if (s->rx_len >= VHOST_USER_HDR_SIZE)
			total += s->rx.hdr.size;
		if (s->rx_len == total)
			return 1;
		if (s->rx_len < VHOST_USER_HDR_SIZE) {
			iov.iov_base = (uint8_t *)&s->rx.hdr + s->rx_len;
			iov.iov_len = VHOST_USER_HDR_SIZE - s->rx_len;
		} else {
			iov.iov_base =
			    (uint8_t *)&s->rx.payload + (s->rx_len - VHOST_USER_HDR_SIZE);
			iov.iov_len = total - s->rx_len;
		}
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);

		n = recvmsg(s->conn_fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			log_ratelimited_warn(&s->rl, "vhost-user %s: receive failed: %s", s->name,
					     strerror(errno));
			return -errno;
		}
		if (n == 0) {
			log_info("vhost-user %s: front end disconnected", s->name);
			return -ECONNRESET;
		}
		ret = vhost_user_server_take_fds(s, &mh);
		if (ret < 0)
			return ret;
		s->rx_len += (size_t)n;
		if (s->rx_len == VHOST_USER_HDR_SIZE && s->rx.hdr.size > VHOST_USER_PAYLOAD_MAX) {
			log_ratelimited_warn(&s->rl, "vhost-user %s: %s with a %u-byte payload",
					     s->name, vhost_user_request_name(s->rx.hdr.request),
					     s->rx.hdr.size);
			return -EMSGSIZE;
		}
	}
}

/**
 * vhost_user_server_process() - check and dispatch the message in @s->rx
 * @s: the server
 *
 * Return: 0, or a negative errno: the connection must end
 */
static int vhost_user_server_process(struct vhost_user_server *s)
{
	struct vhost_user_msg *msg = &s->rx;
	const char *reason = NULL;
	int ret;

	ret = vhost_user_msg_check(&msg->hdr, &msg->payload, msg->hdr.size, s->rx_nfds, &reason);
	if (ret < 0) {
		log_ratelimited_warn(&s->rl,
				     "vhost-user %s: request %u (%s), %u bytes, %u fds refused, "
				     "closing connection: %s",
				     s->name, msg->hdr.request,
				     vhost_user_request_name(msg->hdr.request), msg->hdr.size,
				     s->rx_nfds, reason);
	} else {
		log_debug("vhost-user %s: %s", s->name, vhost_user_request_name(msg->hdr.request));
		ret = vhost_user_handle_msg(s, msg, s->rx_fds);
	}
	vhost_user_server_rx_reset(s);
	return ret;
}

static void vhost_user_server_drop(struct vhost_user_server *s, bool notify);

static void vhost_user_server_read(void *opaque)
{
	struct vhost_user_server *s = opaque;
	unsigned int handled = 0;
	int ret;

	for (;;) {
		if (handled == VHOST_USER_SERVER_MSGS_PER_READ) {
			/* Not a fault: the socket stays readable, the loop comes back next round.
			 */
			log_debug("vhost-user %s: %d messages handled, yielding", s->name,
				  VHOST_USER_SERVER_MSGS_PER_READ);
			return;
		}
		ret = vhost_user_server_recv(s);
		if (ret == 0)
			return;
		if (ret > 0) {
			ret = vhost_user_server_process(s);
			handled++;
		}
		if (ret < 0) {
			vhost_user_server_drop(s, true);
			return;
		}
		/* The device may have dropped the connection from a callback. */
		if (s->conn_fd < 0)
			return;
	}
}

/* VHOST_USER_CONNECTED / VHOST_USER_DISCONNECTED for the control socket. */
static void vhost_user_server_post_event(const struct vhost_user_server *s, const char *event)
{
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, "id", json_object_new_string(s->name ? s->name : ""));
	if (s->path)
		json_object_object_add(data, "path", json_object_new_string(s->path));
	event_post(event, data);
}

/**
 * vhost_user_server_setup_conn() - make @fd the front end's connection
 * @s:	the server
 * @fd:	connected socket, non-blocking (taken: closed on failure)
 *
 * Return: 0 or a negative errno
 */
static int vhost_user_server_setup_conn(struct vhost_user_server *s, int fd)
{
	unsigned int i;
	int ret;

	ret = loop_set_fd_handler(s->loop, fd, NULL, vhost_user_server_read, NULL, s);
	if (ret < 0) {
		log_warn("vhost-user %s: cannot watch the connection: %s", s->name, strerror(-ret));
		close(fd);
		return ret;
	}
	s->conn_fd = fd;
	s->rx_len = 0;
	s->rx_nfds = 0;
	for (i = 0; i < VHOST_USER_MAX_VRINGS; i++)
		vhost_user_server_reset_ring(&s->vrings[i]);
	log_info("vhost-user %s: front end connected", s->name);
	vhost_user_server_post_event(s, "VHOST_USER_CONNECTED");
	if (s->cfg.ops->connected)
		s->cfg.ops->connected(s->cfg.opaque);
	return 0;
}

static void vhost_user_server_arm_reconnect(struct vhost_user_server *s)
{
	loop_timer_mod(s->reconnect_timer,
		       loop_now_ns() + (int64_t)s->cfg.reconnect_s * 1000000000LL);
}

/**
 * vhost_user_server_drop() - end the connection: stop rings, unmap memory, close fds
 * @s:		the server
 * @notify:	call ops->disconnected and listen/reconnect again (false when freeing)
 */
static void vhost_user_server_drop(struct vhost_user_server *s, bool notify)
{
	unsigned int i;

	if (s->conn_fd < 0)
		return;
	vhost_user_server_stop_rings(s);
	for (i = 0; i < VHOST_USER_MAX_VRINGS; i++)
		vhost_user_server_reset_ring(&s->vrings[i]);
	vhost_user_server_free_inflight(s);
	guest_mem_clear(&s->mem);
	vhost_user_server_close_fd(&s->log_fd);
	vhost_user_server_rx_reset(s);
	loop_set_fd_handler(s->loop, s->conn_fd, NULL, NULL, NULL, NULL);
	vhost_user_server_close_fd(&s->conn_fd);
	s->features = 0;
	s->features_set = false;
	s->protocol_acked = false;
	s->protocol_features = 0;
	s->status = 0;
	vhost_user_server_post_event(s, "VHOST_USER_DISCONNECTED");
	if (!notify)
		return;
	if (s->cfg.ops->disconnected)
		s->cfg.ops->disconnected(s->cfg.opaque);
	if (s->path && !s->cfg.listen && s->cfg.reconnect_s)
		vhost_user_server_arm_reconnect(s);
}

static void vhost_user_server_accept(void *opaque)
{
	struct vhost_user_server *s = opaque;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->conn_fd >= 0) {
		log_ratelimited_warn(&s->rl,
				     "vhost-user %s: a front end is already connected, "
				     "refusing another",
				     s->name);
		close(fd);
		return;
	}
	vhost_user_server_setup_conn(s, fd);
}

static int vhost_user_server_addr(const struct vhost_user_server *s, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(s->path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, s->path);
	return 0;
}

static int vhost_user_server_listen(struct vhost_user_server *s, struct error *err)
{
	int fd, ret;

	fd = unix_socket_listen(s->path, SOCK_STREAM, 1, &s->owned, err);
	if (fd < 0) {
		error_prepend(err, "vhost-user: ");
		return fd;
	}
	ret = loop_set_fd_handler(s->loop, fd, NULL, vhost_user_server_accept, NULL, s);
	if (ret < 0) {
		close(fd);
		unix_socket_unlink_owned(&s->owned);
		return error_set(err, ret, "cannot watch '%s': %s", s->path, strerror(-ret));
	}
	s->listen_fd = fd;
	return 0;
}

/**
 * vhost_user_server_connect() - one connection attempt (client mode)
 * @s: the server
 *
 * Return: 0 or a negative errno
 */
static int vhost_user_server_connect(struct vhost_user_server *s)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = vhost_user_server_addr(s, &sun);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A unix connect completes at once or fails (EAGAIN: backlog full, retried later). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return vhost_user_server_setup_conn(s, fd);
}

static void vhost_user_server_reconnect(void *opaque)
{
	struct vhost_user_server *s = opaque;
	int ret;

	if (s->conn_fd >= 0)
		return;
	ret = vhost_user_server_connect(s);
	if (ret < 0) {
		log_debug("vhost-user %s: connect to '%s': %s", s->name, s->path, strerror(-ret));
		vhost_user_server_arm_reconnect(s);
	}
}

/**
 * vhost_user_server_mem_fault() - the front end shrank a file vwire mapped from it
 * @opaque:	the server
 * @what:	which mapping
 * @addr:	where the access faulted (the mapping now reads as zeros)
 *
 * Only this device stops: the connection ends, which stops its rings and unmaps everything
 * the front end gave; a front end that connects again starts afresh.
 */
static void vhost_user_server_mem_fault(void *opaque, const char *what, void *addr)
{
	struct vhost_user_server *s = opaque;

	log_warn("vhost-user %s: the front end shrank the file behind its %s (SIGBUS at %p): "
		 "device stopped, connection closed",
		 s->name, what, addr);
	if (s->cfg.ops->fault)
		s->cfg.ops->fault(s->cfg.opaque, what);
	vhost_user_server_drop(s, true);
}

struct vhost_user_server *
vhost_user_server_new(struct loop *loop, const struct vhost_user_server_cfg *cfg, struct error *err)
{
	const struct vhost_user_dev_ops *ops = cfg->ops;
	struct vhost_user_server *s;
	unsigned int i;
	int ret;

	if (!ops || !ops->get_features || !ops->queue_start || !ops->queue_stop) {
		error_set(err, -EINVAL, "vhost-user device ops incomplete");
		return NULL;
	}
	if (!cfg->num_vrings || cfg->num_vrings > VHOST_USER_MAX_VRINGS) {
		error_set(err, -EINVAL, "vhost-user: %u rings (1..%d supported)", cfg->num_vrings,
			  VHOST_USER_MAX_VRINGS);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->cfg = *cfg;
	s->listen_fd = -1;
	s->conn_fd = -1;
	s->log_fd = -1;
	for (i = 0; i < VHOST_USER_MAX_VRINGS; i++) {
		s->vrings[i].kick_fd = -1;
		s->vrings[i].call_fd = -1;
		s->vrings[i].err_fd = -1;
	}
	s->guard.event_fd = -1;
	s->path = cfg->path ? strdup(cfg->path) : NULL;
	s->name = strdup(cfg->name ? cfg->name : cfg->path ? cfg->path : "vhost-user");
	if ((cfg->path && !s->path) || !s->name) {
		error_set(err, -ENOMEM, "out of memory");
		goto err;
	}
	ret = mem_guard_init(&s->guard, loop, vhost_user_server_mem_fault, s);
	if (ret < 0) {
		error_set(err, ret, "vhost-user: SIGBUS guard: %s", strerror(-ret));
		goto err;
	}
	s->mem.guard = &s->guard;
	s->cfg.path = s->path;
	s->cfg.name = s->name;
	if (!s->path)
		return s;

	if (cfg->listen) {
		if (vhost_user_server_listen(s, err) < 0)
			goto err;
		return s;
	}
	s->reconnect_timer = loop_timer_new(loop, vhost_user_server_reconnect, s);
	if (!s->reconnect_timer) {
		error_set(err, -errno, "vhost-user: timer: %s", strerror(errno));
		goto err;
	}
	ret = vhost_user_server_connect(s);
	if (ret < 0) {
		if (!cfg->reconnect_s) {
			error_set(err, ret, "cannot connect to vhost-user socket '%s': %s", s->path,
				  strerror(-ret));
			goto err;
		}
		log_info("vhost-user %s: '%s' not ready (%s), retrying every %u s", s->name,
			 s->path, strerror(-ret), cfg->reconnect_s);
		vhost_user_server_arm_reconnect(s);
	}
	return s;

err:
	loop_timer_free(s->reconnect_timer);
	mem_guard_destroy(&s->guard);
	free(s->path);
	free(s->name);
	free(s);
	return NULL;
}

void vhost_user_server_free(struct vhost_user_server *s)
{
	if (!s)
		return;
	vhost_user_server_drop(s, false);
	mem_guard_destroy(&s->guard);
	loop_timer_free(s->reconnect_timer);
	if (s->listen_fd >= 0) {
		loop_set_fd_handler(s->loop, s->listen_fd, NULL, NULL, NULL, NULL);
		close(s->listen_fd);
	}
	unix_socket_unlink_owned(&s->owned);
	free(s->path);
	free(s->name);
	free(s);
}

int vhost_user_server_attach(struct vhost_user_server *s, int fd)
{
	int fl;

	if (s->conn_fd >= 0)
		return -EBUSY;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return vhost_user_server_setup_conn(s, fd);
}

void vhost_user_server_disconnect(struct vhost_user_server *s)
{
	vhost_user_server_drop(s, true);
}

bool vhost_user_server_connected(const struct vhost_user_server *s)
{
	return s->conn_fd >= 0;
}

struct vhost_user_vring *vhost_user_server_vring(struct vhost_user_server *s, unsigned int idx)
{
	return idx < s->cfg.num_vrings ? &s->vrings[idx] : NULL;
}

const struct guest_mem *vhost_user_server_mem(const struct vhost_user_server *s)
{
	return &s->mem;
}

uint64_t vhost_user_server_features(const struct vhost_user_server *s)
{
	return s->features;
}

uint64_t vhost_user_server_protocol_features(const struct vhost_user_server *s)
{
	return s->protocol_features;
}

int vhost_user_vring_call(const struct vhost_user_vring *vr)
{
	uint64_t one = 1;

	if (vr->call_fd < 0)
		return -ENOENT;
	/* EAGAIN: the counter is saturated, the guest will be interrupted anyway. */
	if (write(vr->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}
