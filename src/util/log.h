/*
 * Logging: one line per event on stderr.
 *
 * Lines name the object they are about ("session 3 (10.0.0.7:51234) stream 7: ...").
 * Never pass a secret (token, key) to these functions, not even at debug level.
 */
#ifndef BURROW_LOG_H
#define BURROW_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Returns 0 and sets *level, or -1 if name is not a level name. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Lines a stranger can trigger at will (failed logins, refused connections)
 * go through a limiter, one per kind of line in the struct that logs it: at
 * most LOG_LIMIT_BURST such lines pass per second, the rest are counted, and
 * the next line that passes ends with "(N similar lines suppressed)".
 */
#define LOG_LIMIT_BURST 10
struct log_limit {
	uint64_t window_ms; /* start of the current one-second window */
	uint32_t passed, suppressed;
};
void log_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_get_level() >= LOG_DEBUG)                              \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)

#endif
