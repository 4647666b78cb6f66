/*
 * Time in milliseconds: arming libevent timers (the one conversion to
 * timeval) and reading the monotonic clock.
 */
#ifndef BURROW_EVTIME_H
#define BURROW_EVTIME_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

static inline int
event_add_ms(struct event *ev, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return event_add(ev, &tv);
}

/* Milliseconds on the monotonic clock: for deadlines and ages. */
static inline uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock: for round trips. */
static inline uint64_t
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#endif
