/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server-priv.h - what server.c (connection, rings) and handlers.c (requests) share: the
 * server's state and the helpers each side calls in the other. Nothing outside
 * src/vhost-user/ includes it.
 */
#ifndef VWIRE_VHOST_USER_SERVER_PRIV_H
#define VWIRE_VHOST_USER_SERVER_PRIV_H

#include "core/log.h"
#include "core/unix-socket.h"
#include "vhost-user/server.h"
#include "virtio/mem-guard.h"

/* A handler's soft failure: the request is refused (nack), the connection stays */
#define VHOST_USER_NACK 1

/*
 * Most messages handled per wake-up of the connection: the rest wait for the next loop round,
 * so a front end that floods the socket cannot starve the rings and the other connections.
 * Reception needs no other bound: one message is gathered at a time, into a fixed buffer.
 */
#define VHOST_USER_SERVER_MSGS_PER_READ 64

/**
 * struct vhost_user_server - a vhost-user socket and the state of its front end
 * @loop:		event loop
 * @cfg:		configuration (path and name point to the copies below)
 * @path:		socket path, or NULL
 * @name:		for log lines
 * @listen_fd:		listening socket (server mode), or -1
 * @owned:		the socket file it bound, removed at the end if still ours
 * @conn_fd:		the front end's connection, or -1
 * @reconnect_timer:	client mode: next connection attempt
 * @rx:			message being received
 * @rx_len:		bytes of it received (header, then payload)
 * @rx_fds:		fds received with it
 * @rx_nfds:		how many
 * @features:		acked virtio features, without VHOST_USER_F_PROTOCOL_FEATURES
 * @features_set:	SET_FEATURES received
 * @protocol_acked:	VHOST_USER_F_PROTOCOL_FEATURES was acked
 * @protocol_features:	acked protocol features
 * @status:		virtio device status (SET_STATUS)
 * @log_fd:		SET_LOG_FD eventfd, or -1
 * @mem:		guest memory and dirty log
 * @vrings:		the rings (cfg.num_vrings used)
 * @inflight_mmap:	the inflight buffer mapping, or NULL
 * @inflight_mmap_size:	its length
 * @guard:		owner of the front end's mappings for the SIGBUS handler
 * @rl:			rate limit for log lines a front end or guest can cause at will
 */
struct vhost_user_server {
	struct loop *loop;
	struct vhost_user_server_cfg cfg;
	char *path;
	char *name;
	int listen_fd;
	struct unix_socket_owned owned;
	int conn_fd;
	struct loop_timer *reconnect_timer;

	struct vhost_user_msg rx;
	size_t rx_len;
	int rx_fds[VHOST_USER_MAX_FDS];
	unsigned int rx_nfds;

	uint64_t features;
	bool features_set;
	bool protocol_acked;
	uint64_t protocol_features;
	uint8_t status;
	int log_fd;
	struct guest_mem mem;
	struct vhost_user_vring vrings[VHOST_USER_MAX_VRINGS];
	void *inflight_mmap;
	size_t inflight_mmap_size;
	struct mem_guard guard;
	struct log_ratelimit rl;
};

/**
 * vhost_user_server_close_fd() - close *@fd if open and set it to -1
 * @fd: the fd
 */
void vhost_user_server_close_fd(int *fd);

/**
 * vhost_user_server_bad() - log why a message ends the connection
 * @s:		the server
 * @msg:	the message
 * @why:	reason
 *
 * Return: -EINVAL
 */
int vhost_user_server_bad(struct vhost_user_server *s, const struct vhost_user_msg *msg,
			  const char *why);

/**
 * vhost_user_server_reply() - send a reply to @request
 * @s:		the server
 * @request:	the request answered
 * @payload:	reply payload
 * @size:	its length
 * @fd:		fd to pass along, or -1
 *
 * Return: 0 or a negative errno (the connection must end)
 */
int vhost_user_server_reply(struct vhost_user_server *s, uint32_t request, const void *payload,
			    uint32_t size, int fd);

/**
 * vhost_user_server_reply_u64() - send a u64 reply to @request
 * @s:		the server
 * @request:	the request answered
 * @value:	the payload
 *
 * Return: 0 or a negative errno
 */
int vhost_user_server_reply_u64(struct vhost_user_server *s, uint32_t request, uint64_t value);

/**
 * vhost_user_server_stop_ring() - stop ring @idx in the device if it runs, keeping its base
 * @s:		the server
 * @idx:	ring index
 */
void vhost_user_server_stop_ring(struct vhost_user_server *s, unsigned int idx);

/**
 * vhost_user_server_stop_rings() - stop every running ring
 * @s: the server
 */
void vhost_user_server_stop_rings(struct vhost_user_server *s);

/**
 * vhost_user_server_update_rings() - start rings that may run, stop those that may not
 * @s: the server
 */
void vhost_user_server_update_rings(struct vhost_user_server *s);

/**
 * vhost_user_server_reset_ring() - forget a (stopped) ring's configuration, close its fds
 * @vr: the ring
 */
void vhost_user_server_reset_ring(struct vhost_user_vring *vr);

/**
 * vhost_user_server_free_inflight() - unmap the inflight buffer, unlink the rings from it
 * @s: the server
 */
void vhost_user_server_free_inflight(struct vhost_user_server *s);

/**
 * vhost_user_handle_msg() - run a validated message's handler and answer REPLY_ACK
 * @s:		the server
 * @msg:	the message
 * @fds:	its fds (a handler that keeps one sets its slot to -1; the rest are closed by
 *		the caller)
 *
 * Return: 0, or a negative errno: the connection must end
 */
int vhost_user_handle_msg(struct vhost_user_server *s, struct vhost_user_msg *msg, int *fds);

#endif
