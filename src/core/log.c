// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * log.c - one line per event, to stderr or the -D file, after a UTC timestamp in ISO 8601
 * (unless -msg timestamp=off). Rate-limited sources print at most LOG_RATE_BURST lines per
 * second and then say how many they held back.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "core/log.h"
#include "vwire/loop.h"

#define LOG_RATE_BURST 10
#define LOG_RATE_WINDOW_NS 1000000000LL

static FILE *log_file;
static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_timestamps = true;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_file(FILE *f)
{
	log_file = f;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_set_timestamps(bool on)
{
	log_timestamps = on;
}

/* ISO 8601 in UTC with microseconds, as QEMU's -msg timestamp=on: 2026-12-04T19:38:00.123456Z */
static void log_timestamp(FILE *f)
{
	struct timespec ts;
	struct tm tm;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "%s.%06ldZ ", buf, ts.tv_nsec / 1000);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	FILE *f = log_file ? log_file : stderr;

	if (log_timestamps)
		log_timestamp(f);
	fprintf(f, "vwire %s: ", log_level_names[level]);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	int64_t now = loop_now_ns();
	va_list ap;

	if (level > log_level)
		return;
	if (now - rl->window_start_ns >= LOG_RATE_WINDOW_NS) {
		if (rl->suppressed)
			log_msg(level, "(%u similar messages suppressed)", rl->suppressed);
		rl->window_start_ns = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count >= LOG_RATE_BURST) {
		rl->suppressed++;
		return;
	}
	rl->count++;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
