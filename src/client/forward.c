/*
 * -L and -D: ports here whose connections exit at the server. Each accepted
 * connection becomes a stream this client opens (CAP_FORWARD) with the
 * destination the server dials: -L's fixed target, or the one a SOCKS5 or
 * HTTP proxy request names (-D, through socks/front.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "client/client-t.h"
#include "proto/socks.h"
#include "transport/tcp.h"
#include "util/log.h"

/* Why a connection cannot become a stream now, or NULL. */
static const char *
forward_refusal(struct client *c, const struct tunnel_state *ts)
{
	if (c->s == NULL || c->state != C_READY || session_is_closing(c->s))
		return "not connected to the server";
	if (c->cfg->tunnels[ts->index].type == TUNNEL_VISITOR && !ts->registered)
		return ts->why[0] ? ts->why : "the server has not accepted the visit yet";
	if (!(c->hs.caps & CAP_FORWARD))
		return "the server does not forward (an older version)";
	if (session_stream_count(c->s) + c->ndials >= c->cfg->max_streams)
		return "too many streams (max_streams)";
	return NULL;
}

static void
forward_open(struct tunnel_state *ts, int fd, const char *dest, uint8_t tag,
    const uint8_t *early, size_t early_len, const char *peer)
{
	struct client *c = ts->c;
	const struct tunnel_cfg *t = &c->cfg->tunnels[ts->index];
	const char *refused = forward_refusal(c, ts);
	uint32_t id = 0;
	if (refused == NULL) {
		struct msg_open m = {.kind = OPEN_DIAL};
		if (t->type == TUNNEL_VISITOR) {
			m.kind = OPEN_VISIT;
			m.tunnel_id = (uint32_t)ts->index + 1;
		}
		snprintf(m.peer, sizeof m.peer, "%s", peer);
		if (m.kind == OPEN_DIAL)
			snprintf(m.dest, sizeof m.dest, "%s", dest);
		struct stream_open o = {.fd = fd, .tunnel_id = (uint32_t)ts->index + 1,
		    .tag = tag, .m = &m, .early = early, .early_len = early_len};
		id = session_open(c->s, &o);
		if (id == 0)
			refused = "session closing";
	}
	if (refused != NULL) {
		if (tag != 0) {
			struct msg_error e = {.code = ERR_INTERNAL};
			front_answer(tag, fd, &e);
		}
		log_limited(&ts->lim, LOG_WARN, "tunnel %s: connection from %s to %s "
		    "refused: %s", t->name, peer, dest, refused);
		close(fd);
		return;
	}
	log_info("tunnel %s: stream %u: from %s to %s", t->name, id, peer, dest);
}

/* -D: the request named its destination. */
static void
forward_front_done(int fd, const struct socks_req *r, uint8_t tag,
    const uint8_t *early, size_t early_len, const char *peer, void *arg)
{
	struct hostport hp;
	char dest[ADDR_STR_MAX];
	snprintf(hp.host, sizeof hp.host, "%s", r->host);
	hp.port = r->port;
	hostport_format(&hp, dest, sizeof dest);
	forward_open(arg, fd, dest, tag, early, early_len, peer);
}

static void
forward_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tunnel_state *ts = arg;
	const struct tunnel_cfg *t = &ts->c->cfg->tunnels[ts->index];
	char peer[ADDR_STR_MAX];
	sockaddr_format(sa, peer, sizeof peer);
	tcp_nodelay(fd);
	if (t->type == TUNNEL_DYNAMIC) {
		front_accept(&ts->fronts, fd, peer);
		return;
	}
	char dest[MSG_EXTRA_MAX + 16];
	if (t->type == TUNNEL_VISITOR)
		snprintf(dest, sizeof dest, "secret tunnel %s", t->extra);
	else
		hostport_format(&t->local, dest, sizeof dest);
	forward_open(ts, fd, dest, 0, NULL, 0, peer);
}

static void
forward_error_cb(struct evconnlistener *lev, void *arg)
{
	struct tunnel_state *ts = arg;
	log_limited(&ts->lim, LOG_WARN, "tunnel %s: accept: %s",
	    ts->c->cfg->tunnels[ts->index].name, strerror(errno));
}

static int
forward_listen(struct client *c, struct tunnel_state *ts)
{
	const struct tunnel_cfg *t = &c->cfg->tunnels[ts->index];
	if (t->udp)
		return udp_visit_listen(c, ts);
	char shown[ADDR_STR_MAX];
	hostport_format(&t->listen, shown, sizeof shown);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (sockaddr_from_numeric(t->listen.host, t->listen.port, &ss, &sl) != 0) {
		log_error("tunnel %s: listen %s: not a numeric address", t->name, shown);
		return -1;
	}
	int fd = tcp_listen((struct sockaddr *)&ss, sl, 511);
	if (fd < 0) {
		log_error("tunnel %s: listen %s: %s", t->name, shown, strerror(errno));
		return -1;
	}
	ts->lev = evconnlistener_new(c->base, forward_accept_cb, ts,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (ts->lev == NULL) {
		close(fd);
		log_error("tunnel %s: out of memory", t->name);
		return -1;
	}
	evconnlistener_set_error_cb(ts->lev, forward_error_cb);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, shown, sizeof shown);
	char label[MSG_NAME_MAX + 16];
	snprintf(label, sizeof label, "tunnel %s", t->name);
	front_set_init(&ts->fronts, c->base, label, forward_front_done, ts);
	ts->fronts.auth = c->cfg->socks_auth;
	if (t->type == TUNNEL_DYNAMIC) {
		log_info("tunnel %s: listening on %s -> SOCKS5 and HTTP proxy, exits "
			 "at the server", t->name, shown);
	} else if (t->type == TUNNEL_VISITOR) {
		log_info("tunnel %s: listening on %s -> secret tunnel %s", t->name, shown,
		    t->extra);
	} else {
		char target[ADDR_STR_MAX];
		hostport_format(&t->local, target, sizeof target);
		log_info("tunnel %s: listening on %s -> %s (dialed by the server)",
		    t->name, shown, target);
	}
	return 0;
}

int
forwards_listen(struct client *c)
{
	for (size_t i = 0; i < c->cfg->ntunnels; i++) {
		int type = c->cfg->tunnels[i].type;
		if ((type == TUNNEL_LOCAL || type == TUNNEL_DYNAMIC ||
			type == TUNNEL_VISITOR) &&
		    forward_listen(c, &c->tunnels[i]) != 0)
			return -1;
	}
	return 0;
}

void
forwards_close(struct client *c)
{
	for (size_t i = 0; c->tunnels != NULL && i < c->cfg->ntunnels; i++) {
		struct tunnel_state *ts = &c->tunnels[i];
		udp_visit_close(ts);
		if (ts->lev == NULL)
			continue;
		evconnlistener_free(ts->lev);
		ts->lev = NULL;
		front_set_clear(&ts->fronts);
	}
}

int
forward_open_result(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    uint8_t tag, int fd, const struct msg_error *err, void *arg)
{
	return front_answer(tag, fd, err);
}
