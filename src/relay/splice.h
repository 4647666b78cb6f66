/*
 * A relay moves bytes between two connections in both directions. When both
 * are spliceable (conn_splice_fd, plain TCP) it moves them with splice(2)
 * through pipes, without copying them through user space; otherwise (TLS)
 * the copy relay (copy.h) reads them into a ring and writes them out through
 * the conn interface. Half-close is kept: EOF on one side becomes a shutdown
 * of the other once the bytes before it are delivered; the relay ends when
 * both directions are done, or at once on an error (both conns are then
 * freed).
 *
 * A direction holds a pipe or a ring only while bytes are moving: an idle
 * relay costs its two conns, and pipes and rings return to small caches in
 * the relay set for the next burst.
 */
#ifndef BURROW_SPLICE_H
#define BURROW_SPLICE_H

#include <stddef.h>
#include <stdint.h>

/* Long enough for "session 4294967295 ([v6 address]:port) stream 4294967295". */
#define RELAY_LABEL_MAX 352

struct conn;
struct event_base;
struct gauge;
struct relay;
struct relay_set;

/* All relays of a process; closes them all on relay_set_free. */
struct relay_set *relay_set_new(struct event_base *base);
void relay_set_free(struct relay_set *rs);
size_t relay_set_count(const struct relay_set *rs);
/* For tests and benchmarks: new relays copy even when both conns could
 * splice, to run the copy relay on plain TCP. */
void relay_set_force_copy(struct relay_set *rs, int on);

/*
 * Takes ownership of both conns (unbound: no events of another loop) and of
 * one reference to `count` (may be NULL), dropped when the relay ends; NULL
 * (conns freed, reference dropped) on failure. `owner` tags the relay with
 * the session it belongs to, for relay_set_close_owner. Splices when both
 * conns can, else copies (binding the conns to the set's loop).
 */
struct relay *relay_new(struct relay_set *rs, struct conn *a, struct conn *b,
    uint32_t owner, struct gauge *count, const char *label);
/* Closes every relay of a session that ended (its peer may be gone silently). */
void relay_set_close_owner(struct relay_set *rs, uint32_t owner);

#endif
