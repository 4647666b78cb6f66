/*
 * A relay moves raw bytes between two connections with splice(2) through
 * pipes, without copying them through user space; both must be spliceable
 * (conn_splice_fd). A copy relay for the others (TLS) comes with TLS. Half-close is
 * kept: EOF on one side becomes shutdown(SHUT_WR) on the other once the
 * bytes before it are delivered; the relay ends when both directions are
 * done, or at once on an error (both sockets are then closed).
 *
 * A direction holds a pipe only while bytes are moving: an idle relay costs
 * its two sockets, and pipes return to a small cache for the next burst.
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

/*
 * Takes ownership of both conns (unbound: no events of another loop) and of
 * one reference to `count` (may be NULL), dropped when the relay ends; NULL
 * (conns freed, reference dropped) on failure. `owner` tags the relay with
 * the session it belongs to, for relay_set_close_owner.
 */
struct relay *relay_new(struct relay_set *rs, struct conn *a, struct conn *b,
    uint32_t owner, struct gauge *count, const char *label);
/* Closes every relay of a session that ended (its peer may be gone silently). */
void relay_set_close_owner(struct relay_set *rs, uint32_t owner);

#endif
