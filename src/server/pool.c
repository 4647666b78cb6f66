/* Idle dedicated data connections, and moving a stream onto one. */
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>

#include "relay/workers.h"
#include "server/server-t.h"
#include "transport/conn.h"
#include "transport/framed.h"
#include "transport/tls.h"
#include "util/evtime.h"
#include "util/log.h"

/* Returns the conn (NULL if it was closed with the entry). */
struct conn *
pooled_free(struct pooled *p, int keep_conn)
{
	struct conn *c = p->conn;
	LIST_REMOVE(p, link);
	p->cc->npool--;
	free(p);
	if (keep_conn)
		return c;
	conn_free(c);
	return NULL;
}

/* An idle data connection must stay silent: EOF or bytes end it. */
static void
pooled_read_cb(struct conn *c, void *arg)
{
	struct pooled *p = arg;
	log_debug("%s: idle data connection closed", session_label(p->cc->s));
	pooled_free(p, 0);
}

/* A data connection that authenticated joins its session's idle pool. */
/*
 * A TLS handshake leaves tens of KiB of freed heap behind, in holes glibc
 * keeps: once a burst of them is over (none in progress), give the pages
 * back, at most once a second.
 */
static void
pool_trim(struct server *srv, struct conn *c)
{
	uint64_t now = mono_ms();
	if (!conn_is_tls(c) || srv->nhandshaking > 0 || now - srv->trimmed_ms < 1000)
		return;
	srv->trimmed_ms = now;
	malloc_trim(0);
}

void
pool_add(struct client_conn *owner, struct conn *c)
{
	struct pooled *p = calloc(1, sizeof *p);
	if (p == NULL) {
		conn_free(c);
		return;
	}
	p->cc = owner;
	p->conn = c;
	conn_set_cb(c, pooled_read_cb, NULL, p);
	conn_want_read(c, 1);
	LIST_INSERT_HEAD(&owner->pool, p, link);
	owner->npool++;
	log_debug("%s: data connection ready (%zu idle)", session_label(owner->s),
	    owner->npool);
	pool_trim(owner->srv, c);
}

/*
 * A stream of this client has carried dedicated_after bytes: move it to an
 * idle data connection of the same client, announced there with ADOPT.
 */
struct conn *
server_promote(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    void *arg)
{
	struct client_conn *cc = arg;
	/* tunnel_id 0: a stream the client opened (-L, -D): it may move too.
	 * The two legs of a visit (share.c) stay: they are joined here by a
	 * socketpair, and both moving at once deadlocked, each move waiting
	 * for the other leg's bytes to drain. */
	struct tunnel *t = tunnel_by_id(cc, tunnel_id);
	if (tunnel_id != 0 && (t == NULL || t->mux_only ||
				  t->kind == TUNNEL_SECRET || t->kind == TUNNEL_VISIT))
		return NULL;
	while (!LIST_EMPTY(&cc->pool)) {
		struct conn *c = pooled_free(LIST_FIRST(&cc->pool), 1);
		conn_want_read(c, 0);
		conn_set_cb(c, NULL, NULL, NULL);
		if (frame_write(c, FRAME_ADOPT, stream_id, NULL, 0) == 0)
			return c;
		conn_free(c);
	}
	return NULL;
}

void
server_on_moved(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    struct conn *user, struct conn *data, uint64_t bytes, void *arg)
{
	struct client_conn *cc = arg;
	char label[ADDR_STR_MAX + 96];
	snprintf(label, sizeof label, "%s stream %u", session_label(s), stream_id);
	log_info("%s: moved to a dedicated connection after %llu bytes", label,
	    (unsigned long long)bytes);
	/* The stream's count on its tunnel goes with it to the relay. */
	struct tunnel *t = tunnel_by_id(cc, tunnel_id);
	relay_workers_add(cc->srv->relays, user, data, cc->id,
	    t ? t->conns : NULL, label);
}

