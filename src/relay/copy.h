/*
 * The copy relay, private to src/relay: splice.c's relay_new uses it for
 * conns that cannot splice (TLS), and owns the relay, its conns, its log
 * lines and its one teardown path; a copy owns only its rings and an event.
 *
 * Per direction, src -> dst: conn_read into a 64 KiB ring until src would
 * block, the ring is full or the budget is spent; conn_writev the ring to
 * dst (two iovecs when it wraps). Backpressure: src's read interest is off
 * while the ring is full, dst's write interest on while it holds bytes. EOF
 * from src becomes conn_shutdown(dst) once the ring is empty (half-close
 * kept). A direction holds a ring only while bytes move; empty rings go
 * back to a small cache in the relay set, so an idle relay costs no buffer.
 *
 * What a copy promises the transport: after conn_writev fails with EAGAIN,
 * the next call offers the same bytes at the same address, and at least as
 * many (OpenSSL's SSL_write retry rule); conn_shutdown may fail with EAGAIN
 * and is called again on write readiness (other failures end only that
 * direction, as splice's do); a read is retried without waiting
 * for readiness at the start, after the budget is spent and whenever the
 * ring has room again, so bytes a transport holds decoded are never stranded.
 *
 * What it needs from the transport: conn_shutdown returns 0 only once every
 * byte accepted before it (and a TLS close_notify) is on the socket, because
 * the conns are freed as soon as both directions are done; a read that
 * fails with EAGAIN gets an on_read callback when it may succeed, even when
 * what it waited for underneath was write readiness.
 */
#ifndef BURROW_COPY_H
#define BURROW_COPY_H

#include <stdint.h>

#define COPY_CACHE 8

struct conn;
struct copy;
struct event_base;

/* Empty rings for the next burst: one cache per relay set (one thread). */
struct copy_cache {
	unsigned char *ring[COPY_CACHE];
	int n;
};

/* Frees the cached rings. */
void copy_cache_clear(struct copy_cache *cc);

/*
 * Called once when the copy ends: why is NULL when both directions are done
 * (EOF both ways, delivered), else the error. The callee frees the copy and
 * the conns; the copy touches nothing after it returns.
 */
typedef void (*copy_end_cb)(void *arg, const char *why);

/*
 * Binds a and b (unbound) to base and moves a -> b (direction 0) and
 * b -> a (direction 1), starting from the loop. The conns stay the
 * caller's: copy_free first, then conn_free. NULL if out of memory (a conn
 * may be left bound: conn_free still frees it).
 */
struct copy *copy_new(struct event_base *base, struct copy_cache *cc,
    struct conn *a, struct conn *b, copy_end_cb end, void *arg);
/* Drops the conns' callbacks, the rings and the event; safe inside end. */
void copy_free(struct copy *cp);
/* Bytes delivered so far in direction i (0: a -> b). */
uint64_t copy_bytes(const struct copy *cp, int i);

#endif
