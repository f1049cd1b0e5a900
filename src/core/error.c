// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * error.c - filling struct error: library code describes a failure, the daemon prints it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vwire/error.h"

int error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void error_prepend(struct error *err, const char *fmt, ...)
{
	char prefix[sizeof(err->msg)];
	char joined[2 * sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s%s", prefix, err->msg);
	memcpy(err->msg, joined, sizeof(err->msg) - 1);
	err->msg[sizeof(err->msg) - 1] = '\0';
}
