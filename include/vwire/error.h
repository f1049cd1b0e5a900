/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.h - an error message filled in by library code and printed by the daemon.
 *
 * Library functions return a negative errno and, when given a struct error, say in it which
 * option, value or peer the failure concerns. Only the daemon prints.
 */
#ifndef VWIRE_ERROR_H
#define VWIRE_ERROR_H

/**
 * struct error - a failure's description
 * @code:	negative errno (0: no error)
 * @msg:	human-readable message, without trailing newline
 */
struct error {
	int code;
	char msg[512];
};

/**
 * error_set() - fill @err (if not NULL) with @code and a printf-style message
 * @err:	the error, or NULL
 * @code:	negative errno
 * @fmt:	format
 *
 * Return: @code, so that callers can write 'return error_set(err, -EINVAL, ...)'.
 */
int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * error_prepend() - put a prefix before @err's message
 * @err:	the error, or NULL
 * @fmt:	format of the prefix
 */
void error_prepend(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
