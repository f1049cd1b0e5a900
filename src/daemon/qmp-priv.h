/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp-priv.h - what the two halves of the QMP server share: qmp-server.c (sockets, JSON
 * framing, replies and events) hands each complete request to qmp_dispatch() in qmp.c
 * (the command table), which answers through qmp_client_reply()/qmp_client_error().
 */
#ifndef VWIRE_DAEMON_QMP_PRIV_H
#define VWIRE_DAEMON_QMP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/unix-socket.h"

struct json_object;
struct json_tokener;
struct loop;

/**
 * struct qmp_client - one connection
 * @srv:	its server
 * @fd:		the socket
 * @tok:	JSON tokener holding a partly received value
 * @pending:	bytes fed to @tok (or skipped) since the last complete value or line
 * @skipping:	after a parse error: input is dropped up to the next '{' or newline
 * @negotiated:	qmp_capabilities done
 * @dead:	the connection failed: free it when no callback of it is running
 * @busy:	its input is being dispatched
 * @want_write:	the loop watches @fd for output
 * @out:	replies not yet sent
 * @out_len:	bytes in @out
 * @out_cap:	size of @out
 * @next:	next client of @srv
 */
struct qmp_client {
	struct qmp_server *srv;
	int fd;
	struct json_tokener *tok;
	size_t pending;
	bool skipping;
	bool negotiated;
	bool dead;
	bool busy;
	bool want_write;
	char *out;
	size_t out_len;
	size_t out_cap;
	struct qmp_client *next;
};

/**
 * struct qmp_server - a QMP endpoint
 * @loop:	event loop
 * @listen_fd:	listening socket, or -1
 * @owned:	its socket file, removed at the end while still ours (path NULL: none)
 * @name:	-name, or NULL
 * @quit:	a client sent 'quit'
 * @clients:	connections
 */
struct qmp_server {
	struct loop *loop;
	int listen_fd;
	struct unix_socket_owned owned;
	char *name;
	bool quit;
	struct qmp_client *clients;
};

/**
 * qmp_dispatch() - check one complete request from @c as QEMU's dispatcher does, run its
 *		    command and send the reply
 * @c:	the client
 * @in:	the parsed JSON value
 */
void qmp_dispatch(struct qmp_client *c, struct json_object *in);

/**
 * qmp_client_reply() - send {"return": @ret, "id": @id}
 * @c:		the client
 * @id:		the request's id (a reference is taken), or NULL
 * @ret:	the return value (ownership passes), or NULL for {}
 */
void qmp_client_reply(struct qmp_client *c, struct json_object *id, struct json_object *ret);

/**
 * qmp_client_error() - send {"error": {"class": @cls, "desc": ...}, "id": @id}
 * @c:		the client
 * @id:		the request's id (a reference is taken), or NULL
 * @cls:	QMP error class, e.g. "GenericError"
 * @fmt:	the description's format
 */
void qmp_client_error(struct qmp_client *c, struct json_object *id, const char *cls,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * qmp_version_object() - {"qemu": {"micro", "minor", "major"}, "package": "vwire"}
 *
 * Return: a new object
 */
struct json_object *qmp_version_object(void);

#endif
