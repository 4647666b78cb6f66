/*
 * Relay workers: one thread and event loop per core, each with its own
 * relay_set. The role's loop hands a connected pair of sockets to a worker
 * (round robin) and never touches them again; so dedicated connections use
 * every core while sessions stay on the main loop.
 *
 * Messages go through a pipe per worker, so a worker only ever runs its own
 * loop's callbacks: no locks. relay_workers_close_owner() is asynchronous.
 */
#ifndef BURROW_WORKERS_H
#define BURROW_WORKERS_H

#include <stdint.h>

struct conn;
struct gauge;
struct relay_workers;

/* n = 0: one per online CPU. NULL if no thread could start. */
struct relay_workers *relay_workers_new(unsigned n);
/*
 * Takes ownership of both conns (freed on failure; unbound here, on the
 * caller's thread, before they go to a worker) and of one reference to
 * count (may be NULL), dropped when the relay ends.
 */
void relay_workers_add(struct relay_workers *w, struct conn *a, struct conn *b,
    uint32_t owner, struct gauge *count, const char *label);
void relay_workers_close_owner(struct relay_workers *w, uint32_t owner);
/* Closes every relay, stops and joins the threads. */
void relay_workers_free(struct relay_workers *w);

#endif
