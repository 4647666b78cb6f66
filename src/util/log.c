#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The process-wide log threshold: set once by main from the configuration. */
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

static void log_vmsg(enum log_level level, const char *suffix, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %-5s ",
	    (int)(tv.tv_usec / 1000), level_names[level]);

	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	if (suffix != NULL) {
		m = snprintf(line + n, sizeof line - n - 1, "%s", suffix);
		n += m > 0 ? (size_t)m : 0;
		if (n > sizeof line - 2)
			n = sizeof line - 2;
	}
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_threshold)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
	if (level > log_threshold)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now - l->window_ms >= 1000) {
		l->window_ms = now;
		l->passed = 0;
	}
	if (l->passed >= LOG_LIMIT_BURST) {
		l->suppressed++;
		return;
	}
	l->passed++;
	char suffix[64] = "";
	if (l->suppressed > 0)
		snprintf(suffix, sizeof suffix, " (%u similar lines suppressed)",
		    l->suppressed);
	l->suppressed = 0;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, suffix[0] ? suffix : NULL, fmt, ap);
	va_end(ap);
}
