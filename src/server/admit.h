/*
 * Admission control for the control port, per source address: an IPv4
 * address, or the /64 of an IPv6 address (one subscriber's prefix).
 *
 * - Handshakes in progress per source, counted exactly: an entry lives while
 *   its source has a connection that has not authenticated yet, so the table
 *   is bounded by max_unauthenticated.
 * - Failed logins per source, with a penalty that starts at the
 *   ADMIT_FREE_FAILURES-th failure: ADMIT_PENALTY_START_MS, doubling with
 *   each further one, at most ADMIT_PENALTY_MAX_MS; forgotten
 *   ADMIT_FORGET_MS after the last failure. This table has a fixed size (ADMIT_FAIL_SLOTS): under failures
 *   from more sources than that, the least recently failed are forgotten.
 *   Its hash is keyed by a random seed, so no one can aim at a slot.
 *
 * Pure: no I/O, times are passed in (milliseconds, monotonic clock).
 */
#ifndef BURROW_ADMIT_H
#define BURROW_ADMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define ADMIT_FREE_FAILURES 3
#define ADMIT_PENALTY_START_MS 250
#define ADMIT_PENALTY_MAX_MS 16000
#define ADMIT_FORGET_MS (10 * 60 * 1000)
#define ADMIT_FAIL_SLOTS 4096

struct admit;

struct source {
	uint64_t addr; /* IPv4 address, or the first 64 bits of an IPv6 one */
	uint8_t v6;
};

/* IPv4-mapped IPv6 addresses count as their IPv4 address. */
void source_from_sockaddr(const struct sockaddr *sa, struct source *src);

/* per_source_max: handshakes one source may have at once. NULL: no memory. */
struct admit *admit_new(uint32_t per_source_max, uint64_t seed);
void admit_free(struct admit *a);

/* A connection from src starts its handshake: 0, or -1 if src has its maximum
 * (or memory ran out). */
int admit_enter(struct admit *a, const struct source *src);
/* That connection authenticated or closed. */
void admit_leave(struct admit *a, const struct source *src);
/* Handshakes in progress from src. */
uint32_t admit_pending(const struct admit *a, const struct source *src);

/* Milliseconds before src may try to log in again (0: now). */
uint32_t admit_penalty(const struct admit *a, const struct source *src,
    uint64_t now);
/* A failed login from src; returns the penalty it has from now on. */
uint32_t admit_failed(struct admit *a, const struct source *src, uint64_t now);

#endif
