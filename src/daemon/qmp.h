/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.h - the daemon's QMP control socket: QEMU's JSON protocol over unix stream sockets,
 * on the event loop. A server listens on a path (or adopts connected fds, for tests) and
 * answers each client's commands from the command table in qmp.c.
 */
#ifndef VWIRE_DAEMON_QMP_H
#define VWIRE_DAEMON_QMP_H

#include <stdbool.h>

struct error;
struct json_object;
struct loop;
struct qmp_server;

/* The version the greeting and query-version report (the project's). */
#define QMP_VERSION_MAJOR 0
#define QMP_VERSION_MINOR 1
#define QMP_VERSION_MICRO 0

/* Most clients served at once; more connections are closed at once (logged). */
#define QMP_MAX_CLIENTS 64

/* Longest line (or unfinished JSON value) a client may send; longer ones end its connection. */
#define QMP_MAX_LINE (1 << 20)

/**
 * qmp_server_new() - create a QMP server
 * @loop:	event loop
 * @path:	unix socket to listen on (a stale socket there is replaced; a live one is an
 *		error), or NULL for none (clients come through qmp_server_add_client())
 * @err:	what went wrong
 *
 * Return: the server, or NULL with @err set.
 */
struct qmp_server *qmp_server_new(struct loop *loop, const char *path, struct error *err);

/**
 * qmp_server_add_client() - serve a connected stream socket (the server owns it from now on)
 * @srv:	the server
 * @fd:		the socket; it is made non-blocking and gets the greeting at once
 *
 * Return: 0, or a negative errno (@fd is closed).
 */
int qmp_server_add_client(struct qmp_server *srv, int fd);

/**
 * qmp_server_set_name() - the -name that query-name reports
 * @srv:	the server
 * @name:	the name (copied), or NULL
 */
void qmp_server_set_name(struct qmp_server *srv, const char *name);

/**
 * qmp_server_emit_event() - send {"timestamp", "event", "data"} to every client that
 *			     finished capabilities negotiation
 * @srv:	the server
 * @event:	the event's name, e.g. "SHUTDOWN"
 * @data:	its data (reference taken), or NULL
 */
void qmp_server_emit_event(struct qmp_server *srv, const char *event, struct json_object *data);

/**
 * qmp_server_quit_requested() - whether a client asked the daemon to quit
 * @srv: the server
 *
 * Return: true after a 'quit' command
 */
bool qmp_server_quit_requested(const struct qmp_server *srv);

/**
 * qmp_server_free() - flush what the clients can take, close them and the listening
 *		       socket, and remove the socket's path; NULL is ignored
 * @srv: the server
 */
void qmp_server_free(struct qmp_server *srv);

#endif
