/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - the daemon's log: stderr or a file (-D), with levels and a rate limit for events a
 * peer or a guest can cause at will.
 */
#ifndef VWIRE_CORE_LOG_H
#define VWIRE_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/**
 * struct log_ratelimit - state of one rate-limited message source
 * @window_start_ns:	start of the current window
 * @count:		messages in this window
 * @suppressed:		messages dropped in this window
 */
struct log_ratelimit {
	int64_t window_start_ns;
	unsigned int count;
	unsigned int suppressed;
};

/**
 * log_set_file() - send the log to @f (NULL: stderr)
 * @f: the stream
 */
void log_set_file(FILE *f);

/**
 * log_set_level() - most verbose level printed (default LOG_LEVEL_INFO)
 * @level: the level
 */
void log_set_level(enum log_level level);

/**
 * log_set_timestamps() - begin each line with the time, ISO 8601 in UTC (the default), or not
 * @on: whether to
 */
void log_set_timestamps(bool on);

/**
 * log_msg() - print one line at @level, prefixed by time and level
 * @level:	the level
 * @fmt:	format
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * log_msg_ratelimited() - as log_msg(), at most 10 lines per second per @rl
 * @rl:		the source's state
 * @level:	the level
 * @fmt:	format
 */
void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_ratelimited_warn(rl, ...) log_msg_ratelimited((rl), LOG_LEVEL_WARN, __VA_ARGS__)

#endif
