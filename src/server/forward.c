/*
 * Streams the client opens (CAP_FORWARD): its -L and -D connections, which
 * exit here. The server dials the destination the OPEN names, if the
 * client's forward_to rules allow it, and answers OPEN_OK or OPEN_ERR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server-t.h"
#include "transport/dest.h"
#include "transport/tcp.h"
#include "util/log.h"

/* A destination being dialed for one OPEN. */
struct fwd_dial {
	struct client_conn *cc;
	uint32_t stream_id;
	uint32_t peer_window;
	char dest[ADDR_STR_MAX];
	char peer[ADDR_STR_MAX];
	struct dest_dial *dd;
	LIST_ENTRY(fwd_dial) link;
};

void
fwd_dial_free(struct fwd_dial *fd)
{
	LIST_REMOVE(fd, link);
	fd->cc->nfwd--;
	dest_dial_cancel(fd->dd);
	free(fd);
}

static void
forward_refuse(struct client_conn *cc, uint32_t id, const char *dest,
    const char *peer, uint16_t code, const char *text)
{
	log_limited(&cc->lim_forward, LOG_INFO, "%s stream %u: forward from %s to %s "
	    "refused: %s", session_label(cc->s), id, peer, dest, text);
	session_refuse_stream(cc->s, id, code, text);
}

static void
forward_dialed_cb(int fd, const char *why, uint16_t code, void *arg)
{
	struct fwd_dial *d = arg;
	struct client_conn *cc = d->cc;
	uint32_t id = d->stream_id, window = d->peer_window;
	d->dd = NULL;
	if (fd < 0) {
		char text[MSG_TEXT_MAX];
		snprintf(text, sizeof text, "dial %s: %s", d->dest, why);
		forward_refuse(cc, id, d->dest, d->peer, code, text);
		fwd_dial_free(d);
		return;
	}
	const struct server *srv = cc->srv;
	if (fd >= srv->fd_limit - srv->fd_reserve) {
		/* The rest is for control and data connections. */
		close(fd);
		char text[96];
		snprintf(text, sizeof text, "near the open-file limit (%ld)", srv->fd_limit);
		forward_refuse(cc, id, d->dest, d->peer, ERR_LIMIT, text);
		fwd_dial_free(d);
		return;
	}
	tcp_nodelay(fd);
	log_info("%s stream %u: forwarded from %s to %s", session_label(cc->s), id,
	    d->peer, d->dest);
	fwd_dial_free(d);
	session_accept_stream(cc->s, id, fd, 0, window);
}

/* Why this OPEN cannot be taken now (a limit), or NULL. */
static const char *
forward_limit(struct client_conn *cc, char *buf, size_t len)
{
	uint32_t max = policy_max_streams(cc);
	if (session_stream_count(cc->s) + cc->nfwd >= max) {
		snprintf(buf, len, "too many streams (max_streams %u)", max);
		return buf;
	}
	return NULL;
}

int
server_open(struct client_conn *cc, const struct frame *f, const char **why)
{
	struct msg_open m;
	if (msg_open_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	if (!(cc->hs.caps & CAP_FORWARD) || m.window == 0 || (f->id & 1) == 0) {
		*why = "bad OPEN";
		return -1;
	}
	if (m.kind == OPEN_VISIT)
		return share_visit(cc, f, &m);
	if (m.kind != OPEN_DIAL) {
		forward_refuse(cc, f->id, "?", m.peer, ERR_INVALID,
		    "the server has no tunnel targets to open");
		return 0;
	}
	const struct dest_rules *rules = policy_forward_to(cc);
	if (cc->srv->dns == NULL) {
		forward_refuse(cc, f->id, m.dest, m.peer, ERR_SHUTDOWN,
		    "server shutting down");
		return 0;
	}
	if (rules == NULL) {
		forward_refuse(cc, f->id, m.dest, m.peer, ERR_DENIED,
		    "forwarding is off on this server (forward_to)");
		return 0;
	}
	char buf[96];
	const char *limit = forward_limit(cc, buf, sizeof buf);
	if (limit != NULL) {
		forward_refuse(cc, f->id, m.dest, m.peer, ERR_LIMIT, limit);
		return 0;
	}
	struct fwd_dial *d = calloc(1, sizeof *d);
	if (d == NULL) {
		session_refuse_stream(cc->s, f->id, ERR_INTERNAL, "out of memory");
		return 0;
	}
	d->cc = cc;
	d->stream_id = f->id;
	d->peer_window = m.window;
	snprintf(d->dest, sizeof d->dest, "%s", m.dest);
	snprintf(d->peer, sizeof d->peer, "%s", m.peer[0] ? m.peer : "?");
	LIST_INSERT_HEAD(&cc->fwd_dials, d, link);
	cc->nfwd++;
	d->dd = dest_dial_start(cc->srv->base, cc->srv->dns, m.dest, rules,
	    cc->srv->cfg->open_timeout_ms, forward_dialed_cb, d);
	if (d->dd == NULL) {
		fwd_dial_free(d);
		session_refuse_stream(cc->s, f->id, ERR_INTERNAL, "out of memory");
	}
	return 0;
}

void
server_stray_rst(struct session *s, uint32_t stream_id, void *arg)
{
	struct client_conn *cc = arg;
	struct fwd_dial *d;
	LIST_FOREACH(d, &cc->fwd_dials, link) {
		if (d->stream_id == stream_id) {
			log_info("%s stream %u: the client gave up: dial of %s cancelled",
			    session_label(s), stream_id, d->dest);
			fwd_dial_free(d);
			return;
		}
	}
	share_visit_cancel(cc, stream_id);
}
