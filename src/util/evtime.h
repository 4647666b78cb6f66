/* Arming libevent timers in milliseconds: the one conversion to timeval. */
#ifndef BURROW_EVTIME_H
#define BURROW_EVTIME_H

#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>

static inline int
event_add_ms(struct event *ev, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	return event_add(ev, &tv);
}

#endif
