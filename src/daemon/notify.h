/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.h - tell a service manager (systemd, Type=notify) when vwire is ready and when it
 * stops, through $NOTIFY_SOCKET.
 */
#ifndef VWIRE_DAEMON_NOTIFY_H
#define VWIRE_DAEMON_NOTIFY_H

struct error;

/**
 * notify_open() - connect to $NOTIFY_SOCKET, if set, and unset it
 * @err: the error
 *
 * Return: 1 when connected, 0 when there is no $NOTIFY_SOCKET, or a negative errno with @err
 * set.
 */
int notify_open(struct error *err);

/**
 * notify_send() - send a state, e.g. "READY=1\nMAINPID=1234"
 * @state: newline-separated assignments
 *
 * Return: 1 when sent, 0 without a socket, or a negative errno.
 */
int notify_send(const char *state);

/**
 * notify_close() - close the socket (nothing happens without one)
 */
void notify_close(void);

#endif
