/* A tunnel's target: resolved once and shared, dialed for each OPEN. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "client/client-t.h"
#include "proto/proxyproto.h"
#include "transport/dest.h"
#include "util/evtime.h"


void
dial_free(struct dial *d)
{
	LIST_REMOVE(d, link);
	d->c->ndials--;
	if (d->resolving)
		LIST_REMOVE(d, wlink);
	dialer_cancel(d->dialer);
	dest_dial_cancel(d->dd);
	free(d);
}

static void
dial_fail(struct dial *d, const char *why)
{
	struct client *c = d->c;
	const struct tunnel_cfg *t = &c->cfg->tunnels[d->tunnel];
	char target[ADDR_STR_MAX], text[MSG_TEXT_MAX];
	hostport_format(&t->local, target, sizeof target);
	snprintf(text, sizeof text, "dial %s: %s", target, why);
	log_info("tunnel %s: stream %u: open failed: %s", t->name, d->stream_id, text);
	if (c->s)
		session_refuse_stream(c->s, d->stream_id, ERR_UNREACHABLE, text);
	dial_free(d);
}

/* An OPEN's "ip:port" or "[v6]:port" as a socket address; NULL if it is not one. */
static const struct sockaddr *
proxy_addr(const char *s, struct sockaddr_storage *ss)
{
	struct hostport hp;
	const char *why;
	socklen_t len;
	if (s[0] == '\0' || hostport_parse(s, -1, &hp, &why) != 0 ||
	    hp.host[0] == '\0' ||
	    sockaddr_from_numeric(hp.host, hp.port, ss, &len) != 0)
		return NULL;
	return (const struct sockaddr *)ss;
}

/*
 * proxy_protocol: the header goes out before the stream relays a byte. The
 * socket was connected a moment ago, so its empty send buffer takes the
 * few bytes in one write; anything less is a failure, never a wait.
 * NULL, or why not (in buf).
 */
static const char *
dial_proxy_header(struct dial *d, int fd, char *buf, size_t len)
{
	struct tunnel_state *ts = &d->c->tunnels[d->tunnel];
	const struct tunnel_cfg *t = &d->c->cfg->tunnels[d->tunnel];
	struct sockaddr_storage ss, ds;
	const struct sockaddr *src = proxy_addr(d->peer, &ss);
	const struct sockaddr *dst = proxy_addr(d->dest, &ds);
	if (dst == NULL && !ts->pp_unknown_logged) {
		ts->pp_unknown_logged = 1;
		log_warn("tunnel %s: the server does not say which of its addresses "
			 "users connect to (an older server): PROXY headers carry no "
			 "addresses (%s)", t->name,
		    t->proxy_protocol == 1 ? "PROXY UNKNOWN" : "v2 LOCAL");
	}
	uint8_t hdr[PROXYPROTO_MAX];
	size_t n = proxyproto_encode(t->proxy_protocol, src, dst, hdr, sizeof hdr);
	ssize_t w = n > 0 ? send(fd, hdr, n, MSG_NOSIGNAL) : -1;
	if (n > 0 && w == (ssize_t)n)
		return NULL;
	snprintf(buf, len, "PROXY header: %s", n == 0 ? "cannot encode"
	    : w < 0 ? strerror(errno) : "short write");
	return buf;
}

static void
dial_done_cb(int fd, const struct sockaddr *addr, socklen_t addrlen,
    const char *why, void *arg)
{
	struct dial *d = arg;
	d->dialer = NULL;
	if (fd < 0) {
		struct target *tg = &d->c->tunnels[d->tunnel].target;
		if (tg->expires_ms != UINT64_MAX)
			tg->expires_ms = 0; /* every address failed: look it up again */
		dial_fail(d, why);
		return;
	}
	char text[MSG_TEXT_MAX];
	if (d->c->cfg->tunnels[d->tunnel].proxy_protocol != 0 &&
	    (why = dial_proxy_header(d, fd, text, sizeof text)) != NULL) {
		close(fd);
		dial_fail(d, why);
		return;
	}
	/*
	 * The dial is done before the session hears of it: accepting may close
	 * the session (an id already in use), and on_close frees every dial.
	 */
	struct session *s = d->c->s;
	uint32_t id = d->stream_id, tunnel_id = (uint32_t)d->tunnel + 1;
	uint32_t window = d->peer_window;
	dial_free(d);
	session_accept_stream(s, id, fd, tunnel_id, window);
}

/* Every address of the target in turn, open_timeout each. */
static void
dial_start(struct dial *d)
{
	struct target *tg = &d->c->tunnels[d->tunnel].target;
	d->dialer = dialer_start(d->c->base, &tg->a, d->c->cfg->open_timeout_ms,
	    dial_done_cb, NULL, d);
	if (d->dialer == NULL)
		dial_fail(d, "out of memory");
}

static void
target_resolved_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct tunnel_state *ts = arg;
	struct target *tg = &ts->target;
	const struct tunnel_cfg *t = &ts->c->cfg->tunnels[ts->index];
	tg->req = NULL;
	if (err == EVUTIL_EAI_CANCEL)
		return; /* shutting down: no dial waits */
	addr_list_take(&tg->a, ai);
	const char *why = err ? evutil_gai_strerror(err) : "no address";
	if (tg->a.n > 0) {
		char first[ADDR_STR_MAX];
		sockaddr_format((struct sockaddr *)&tg->a.addr[0], first, sizeof first);
		log_debug("tunnel %s: %s resolved to %s (%zu address%s, kept %u s)",
		    t->name, t->local.host, first, tg->a.n,
		    tg->a.n == 1 ? "" : "es", TARGET_CACHE_MS / 1000);
		tg->expires_ms = mono_ms() + TARGET_CACHE_MS;
	}
	struct dial *d;
	while ((d = LIST_FIRST(&tg->waiting)) != NULL) {
		LIST_REMOVE(d, wlink);
		d->resolving = 0;
		if (tg->a.n == 0)
			dial_fail(d, why);
		else
			dial_start(d);
	}
}

/* Dials now if the target's addresses are known, else waits for one lookup. */
static void
dial_target(struct dial *d)
{
	struct client *c = d->c;
	struct tunnel_state *ts = &c->tunnels[d->tunnel];
	struct target *tg = &ts->target;
	if (tg->a.n > 0 &&
	    (tg->expires_ms == UINT64_MAX || tg->expires_ms > mono_ms())) {
		dial_start(d);
		return;
	}
	d->resolving = 1;
	LIST_INSERT_HEAD(&tg->waiting, d, wlink);
	if (tg->req != NULL)
		return;
	const struct tunnel_cfg *t = &c->cfg->tunnels[d->tunnel];
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_ADDRCONFIG};
	char port[8];
	snprintf(port, sizeof port, "%u", t->local.port);
	/* NULL: the callback already ran (it may have freed d). */
	tg->req = evdns_getaddrinfo(c->dns, t->local.host, port, &hints,
	    target_resolved_cb, ts);
}

static void
dial_dest_done_cb(int fd, const char *why, uint16_t code, void *arg)
{
	struct dial *d = arg;
	d->dd = NULL;
	struct client *c = d->c;
	const struct tunnel_cfg *t = &c->cfg->tunnels[d->tunnel];
	if (fd < 0) {
		char text[MSG_TEXT_MAX];
		snprintf(text, sizeof text, "dial %s: %s", d->dest, why);
		log_info("tunnel %s: stream %u: from %s: open failed: %s", t->name,
		    d->stream_id, d->peer, text);
		if (c->s)
			session_refuse_stream(c->s, d->stream_id, code, text);
		dial_free(d);
		return;
	}
	log_info("tunnel %s: stream %u: from %s to %s", t->name, d->stream_id,
	    d->peer, d->dest);
	struct session *s = c->s;
	uint32_t id = d->stream_id, tunnel_id = (uint32_t)d->tunnel + 1;
	uint32_t window = d->peer_window;
	dial_free(d);
	session_accept_stream(s, id, fd, tunnel_id, window);
}

/* A reverse SOCKS tunnel: the destination the OPEN names, within allow:. */
static void
dial_dest(struct dial *d, const char *dest, const char *peer)
{
	const struct tunnel_cfg *t = &d->c->cfg->tunnels[d->tunnel];
	snprintf(d->dest, sizeof d->dest, "%s", dest);
	snprintf(d->peer, sizeof d->peer, "%s", peer);
	d->dd = dest_dial_start(d->c->base, d->c->dns, dest, t->allow,
	    d->c->cfg->open_timeout_ms, dial_dest_done_cb, d);
	if (d->dd == NULL)
		dial_fail(d, "out of memory");
}

void
target_lookup(struct tunnel_state *ts)
{
	struct target *tg = &ts->target;
	if (tg->req != NULL || (tg->a.n > 0 && tg->expires_ms > mono_ms()))
		return;
	const struct tunnel_cfg *t = &ts->c->cfg->tunnels[ts->index];
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_DGRAM, .ai_flags = EVUTIL_AI_ADDRCONFIG};
	char port[8];
	snprintf(port, sizeof port, "%u", t->local.port);
	tg->req = evdns_getaddrinfo(ts->c->dns, t->local.host, port, &hints,
	    target_resolved_cb, ts);
}

/* Numeric targets never need a lookup. */
void
targets_init(struct client *c)
{
	for (size_t i = 0; i < c->cfg->ntunnels; i++) {
		struct tunnel_state *ts = &c->tunnels[i];
		const struct tunnel_cfg *t = &c->cfg->tunnels[i];
		ts->c = c;
		ts->index = i;
		LIST_INIT(&ts->target.waiting);
		if (sockaddr_from_numeric(t->local.host, t->local.port,
			&ts->target.a.addr[0], &ts->target.a.len[0]) == 0) {
			ts->target.a.n = 1;
			ts->target.expires_ms = UINT64_MAX;
		}
	}
}

void
targets_cancel(struct client *c)
{
	for (size_t i = 0; c->tunnels && i < c->cfg->ntunnels; i++)
		if (c->tunnels[i].target.req)
			evdns_getaddrinfo_cancel(c->tunnels[i].target.req);
}

/* OPEN: dial the tunnel's target; the stream starts when it answers. */
int
client_open(struct client *c, const struct frame *f, const char **why)
{
	struct msg_open m;
	if (msg_open_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	if (m.window == 0 || (f->id & 1) != 0) {
		*why = "bad OPEN";
		return -1;
	}
	if (m.tunnel_id == 0 || m.tunnel_id > c->cfg->ntunnels ||
	    !c->tunnels[m.tunnel_id - 1].registered ||
	    c->cfg->tunnels[m.tunnel_id - 1].type == TUNNEL_VISITOR) {
		session_refuse_stream(c->s, f->id, ERR_INVALID, "no such tunnel");
		return 0;
	}
	int dynamic = c->cfg->tunnels[m.tunnel_id - 1].type == TUNNEL_REMOTE_DYNAMIC;
	if (dynamic != (m.kind == OPEN_DIAL)) {
		session_refuse_stream(c->s, f->id, ERR_INVALID, dynamic
			? "this tunnel needs a destination"
			: "this tunnel has its own target");
		return 0;
	}
	if (session_stream_count(c->s) + c->ndials >= c->cfg->max_streams) {
		char text[64];
		snprintf(text, sizeof text, "too many streams (max_streams %u)",
		    c->cfg->max_streams);
		log_limited(&c->lim_open, LOG_WARN, "stream %u: refused: %s", f->id, text);
		session_refuse_stream(c->s, f->id, ERR_LIMIT, text);
		return 0;
	}
	struct dial *d = calloc(1, sizeof *d);
	if (d == NULL) {
		session_refuse_stream(c->s, f->id, ERR_INTERNAL, "out of memory");
		return 0;
	}
	d->c = c;
	d->stream_id = f->id;
	d->peer_window = m.window;
	d->tunnel = m.tunnel_id - 1;
	LIST_INSERT_HEAD(&c->dials, d, link);
	c->ndials++;
	log_debug("tunnel %s: stream %u: from %s", c->cfg->tunnels[d->tunnel].name,
	    f->id, m.peer);
	if (dynamic) {
		dial_dest(d, m.dest, m.peer);
		return 0;
	}
	/* For a PROXY header: the user's address and where it connected. */
	snprintf(d->peer, sizeof d->peer, "%s", m.peer);
	snprintf(d->dest, sizeof d->dest, "%s", m.dest);
	dial_target(d);
	return 0;
}

