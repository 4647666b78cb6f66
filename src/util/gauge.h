/*
 * A count of live things that may end on another thread: a tunnel's user
 * connections, multiplexed on the main loop or moved to a relay thread.
 *
 * It is a reference count. The owner (the tunnel) holds one reference and
 * each counted thing one more; whoever drops the last one frees it, so a
 * relay may outlive the tunnel that counted it. gauge_count() is meant for
 * the owner, while it still holds its reference.
 */
#ifndef BURROW_GAUGE_H
#define BURROW_GAUGE_H

#include <stdatomic.h>
#include <stdlib.h>

struct gauge {
	atomic_uint refs;
};

/* A gauge with the owner's reference and nothing counted; NULL if no memory. */
static inline struct gauge *
gauge_new(void)
{
	struct gauge *g = malloc(sizeof *g);
	if (g != NULL)
		atomic_init(&g->refs, 1);
	return g;
}

static inline void
gauge_hold(struct gauge *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

/* Drops one reference (a counted thing ended, or the owner let go). */
static inline void
gauge_drop(struct gauge *g)
{
	if (g != NULL &&
	    atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		free(g);
}

static inline unsigned
gauge_count(struct gauge *g)
{
	return atomic_load_explicit(&g->refs, memory_order_relaxed) - 1;
}

#endif
