/* Tunnels: REGISTER, their public listeners, the user connections they take. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "proto/socks.h"
#include "server/server-t.h"
#include "transport/tcp.h"
#include "util/gauge.h"
#include "util/log.h"

struct tunnel *
tunnel_by_id(struct client_conn *cc, uint32_t id)
{
	struct tunnel *t;
	LIST_FOREACH(t, &cc->tunnels, link)
		if (t->id == id)
			return t;
	return NULL;
}

void
server_on_stream_closed(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg)
{
	struct tunnel *t = tunnel_by_id(arg, tunnel_id);
	if (t != NULL)
		gauge_drop(t->conns);
}

/* Why a user connection cannot be taken now, or NULL. */
static const char *
tunnel_refusal(struct tunnel *t, evutil_socket_t fd, char *buf, size_t len)
{
	const struct server *srv = t->cc->srv;
	const struct config *cfg = srv->cfg;
	if (fd >= srv->fd_limit - srv->fd_reserve) {
		snprintf(buf, len, "near the open-file limit (%ld)", srv->fd_limit);
		return buf;
	}
	if (gauge_count(t->conns) >= cfg->max_conns) {
		snprintf(buf, len, "too many connections (max_conns %u)", cfg->max_conns);
		return buf;
	}
	uint32_t max_streams = policy_max_streams(t->cc);
	if (session_stream_count(t->cc->s) >= max_streams) {
		snprintf(buf, len, "too many streams (max_streams %u)", max_streams);
		return buf;
	}
	if (!policy_port_allowed(t->cc, t->port)) {
		snprintf(buf, len, "port %u is no longer allowed for this client", t->port);
		return buf;
	}
	if (session_is_closing(t->cc->s))
		return "session closing";
	return NULL;
}

/*
 * OPEN for a user connection. With CAP_OPEN_DEST it also names the address
 * the user connected to, which the client needs for a PROXY protocol
 * header; a client without the bit would take the tail for an error.
 */
static uint32_t
tunnel_open_stream(struct tunnel *t, evutil_socket_t fd, const char *peer,
    const uint8_t *early, size_t early_len)
{
	struct msg_open m = {.tunnel_id = t->id, .kind = OPEN_TUNNEL};
	snprintf(m.peer, sizeof m.peer, "%s", peer);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	uint32_t need = CAP_FORWARD | CAP_OPEN_DEST;
	if ((t->cc->hs.caps & need) == need &&
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_format((struct sockaddr *)&ss, m.dest, sizeof m.dest);
	if (strcmp(m.dest, "?") == 0)
		m.dest[0] = '\0';
	struct stream_open o = {.fd = fd, .tunnel_id = t->id, .m = &m,
	    .early = early, .early_len = early_len};
	return session_open(t->cc->s, &o);
}

int
tunnel_take(struct tunnel *t, evutil_socket_t fd, const char *peer,
    const uint8_t *early, size_t early_len)
{
	char why[96];
	const char *refused = tunnel_refusal(t, fd, why, sizeof why);
	uint32_t id = 0;
	if (refused == NULL) {
		tcp_nodelay(fd);
		gauge_hold(t->conns); /* dropped by on_stream_closed or the relay */
		id = tunnel_open_stream(t, fd, peer, early, early_len);
		if (id == 0) {
			gauge_drop(t->conns);
			refused = "session closing";
		}
	}
	if (refused != NULL) {
		log_limited(&t->lim_refuse, LOG_WARN,
		    "%s: tunnel %s: connection from %s refused: %s",
		    session_label(t->cc->s), t->name, peer, refused);
		close(fd);
		return -1;
	}
	log_info("%s stream %u: opened from %s on tunnel %s",
	    session_label(t->cc->s), id, peer, t->name);
	return 0;
}

static void
tunnel_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tunnel *t = arg;
	char peer[ADDR_STR_MAX], why[96];
	sockaddr_format(sa, peer, sizeof peer);
	if (t->socks && tunnel_refusal(t, fd, why, sizeof why) == NULL) {
		tcp_nodelay(fd);
		front_accept(&t->fronts, fd, peer); /* then tunnel_front_done */
		return;
	}
	tunnel_take(t, fd, peer, NULL, 0);
}

/* A reverse SOCKS tunnel: the request named where to go in the client's network. */
static void
tunnel_front_done(int fd, const struct socks_req *r, uint8_t tag,
    const uint8_t *early, size_t early_len, const char *peer, void *arg)
{
	struct tunnel *t = arg;
	char why[96], dest[ADDR_STR_MAX];
	struct hostport hp;
	snprintf(hp.host, sizeof hp.host, "%s", r->host);
	hp.port = r->port;
	hostport_format(&hp, dest, sizeof dest);
	const char *refused = tunnel_refusal(t, fd, why, sizeof why);
	uint32_t id = 0;
	if (refused == NULL) {
		struct msg_open m = {.tunnel_id = t->id, .kind = OPEN_DIAL};
		snprintf(m.peer, sizeof m.peer, "%s", peer);
		snprintf(m.dest, sizeof m.dest, "%s", dest);
		struct stream_open o = {.fd = fd, .tunnel_id = t->id, .tag = tag,
		    .m = &m, .early = early, .early_len = early_len};
		gauge_hold(t->conns);
		id = session_open(t->cc->s, &o);
		if (id == 0) {
			gauge_drop(t->conns);
			refused = "session closing";
		}
	}
	if (refused != NULL) {
		struct msg_error e = {.code = ERR_INTERNAL};
		front_answer(tag, fd, &e);
		log_limited(&t->lim_refuse, LOG_WARN,
		    "%s: tunnel %s: connection from %s to %s refused: %s",
		    session_label(t->cc->s), t->name, peer, dest, refused);
		close(fd);
		return;
	}
	log_info("%s stream %u: opened from %s on tunnel %s to %s",
	    session_label(t->cc->s), id, peer, t->name, dest);
}

int
server_open_result(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    uint8_t tag, int fd, const struct msg_error *err, void *arg)
{
	if (tag == TAG_BRIDGE)
		return share_open_result(arg, stream_id, err);
	return front_answer(tag, fd, err);
}

static void
tunnel_error_cb(struct evconnlistener *lev, void *arg)
{
	struct tunnel *t = arg;
	char what[256];
	snprintf(what, sizeof what, "%s: tunnel %s", session_label(t->cc->s), t->name);
	listener_backoff(lev, t->retry, what);
}

void
tunnel_free(struct tunnel *t, int log_it)
{
	char shown[MSG_NAME_MAX + 16];
	if (log_it)
		log_info("%s: tunnel %s closed", session_label(t->cc->s),
		    share_redact(t->name, shown, sizeof shown));
	LIST_REMOVE(t, link);
	t->cc->ntunnels--;
	share_unlink(t);
	if (t->kind == TUNNEL_HTTPS || t->kind == TUNNEL_HTTP)
		vhost_unregister(t);
	if (t->lev)
		evconnlistener_free(t->lev);
	if (t->retry)
		event_free(t->retry);
	udp_tunnel_stop(t);
	front_set_clear(&t->fronts);
	gauge_drop(t->conns);
	free(t->hopts);
	free(t);
}

/* Where a tunnel listens, by GatewayPorts as in sshd_config(5). */
static int
tunnel_bind_host(const struct config *cfg, const struct msg_register *m,
    int has_bind, char *host, size_t hostlen, const char **why)
{
	switch (cfg->gateway_ports) {
	case GATEWAY_NO:
		snprintf(host, hostlen, "127.0.0.1");
		return 0;
	case GATEWAY_YES:
		snprintf(host, hostlen, "::");
		return 0;
	default:
		if (!has_bind || strcmp(m->bind, "localhost") == 0)
			snprintf(host, hostlen, "127.0.0.1");
		else if (m->bind[0] == '\0' || strcmp(m->bind, "*") == 0)
			snprintf(host, hostlen, "::");
		else
			snprintf(host, hostlen, "%s", m->bind);
		(void)why;
		return 0;
	}
}

static void
register_refuse(struct client_conn *cc, uint32_t id, const char *name,
    uint16_t code, const char *text)
{
	char shown_name[MSG_NAME_MAX + 16], shown[MSG_TEXT_MAX + 32];
	log_limited(&cc->lim_register, LOG_WARN, "%s: tunnel %s: %s",
	    session_label(cc->s), share_redact(name, shown_name, sizeof shown_name),
	    share_redact(text, shown, sizeof shown));
	session_send_error(cc->s, FRAME_REGISTER_ERR, id, code, text);
}

static struct tunnel *
tunnel_new(struct client_conn *cc, uint32_t id, const struct msg_register *m)
{
	struct tunnel *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	if ((t->conns = gauge_new()) == NULL) {
		free(t);
		return NULL;
	}
	t->cc = cc;
	t->serial = ++cc->srv->tunnel_serial;
	t->id = id;
	t->kind = m->kind;
	t->mux_only = (m->flags & REGISTER_MUX_ONLY) != 0;
	t->udp = (m->flags & REGISTER_UDP) != 0;
	t->port = m->port;
	t->ufd = -1;
	snprintf(t->name, sizeof t->name, "%s", m->name);
	return t;
}

static int tunnel_listening(struct client_conn *cc, struct tunnel *t, uint32_t id);

/* A secret tunnel or a visit: no listener here (share.c). */
static int
register_secret(struct client_conn *cc, uint32_t id, const struct msg_register *m)
{
	if (!(cc->hs.caps & CAP_FORWARD) ||
	    ((m->flags & REGISTER_UDP) && !(cc->hs.caps & CAP_UDP))) {
		register_refuse(cc, id, m->name, ERR_INVALID, "unknown tunnel kind");
		return 0;
	}
	struct tunnel *t = tunnel_new(cc, id, m);
	if (t == NULL) {
		register_refuse(cc, id, m->name, ERR_INTERNAL, "out of memory");
		return 0;
	}
	char text[ADDR_STR_MAX]; /* REGISTER_OK's field; names are short */
	uint16_t code = ERR_INTERNAL;
	if (share_register(cc, t, m, text, sizeof text, &code) != 0) {
		gauge_drop(t->conns);
		free(t);
		register_refuse(cc, id, m->name, code, text);
		return 0;
	}
	snprintf(t->addr, sizeof t->addr, "%s", text);
	LIST_INSERT_HEAD(&cc->tunnels, t, link);
	cc->ntunnels++;
	char shown_name[MSG_NAME_MAX + 16], shown[ADDR_STR_MAX + 32];
	log_info("%s: tunnel %s: %s", session_label(cc->s),
	    share_redact(t->name, shown_name, sizeof shown_name),
	    share_redact(text, shown, sizeof shown));
	struct msg_register_ok ok;
	snprintf(ok.addr, sizeof ok.addr, "%s", text);
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_REGISTER_OK, id, buf, msg_register_ok_encode(buf, &ok));
	return 0;
}

/* An HTTP tunnel's options, checked, into t. */
static int
tunnel_hopts(struct tunnel *t, const struct msg_register *m, char *text,
    size_t textlen, uint16_t *code)
{
	const char *why;
	for (uint8_t i = 0; i < m->nhopts; i++) {
		if (hopt_check(m->hopts[i].key, m->hopts[i].value, &why) != 0) {
			*code = ERR_INVALID;
			snprintf(text, textlen, "HTTP option %u: %s", i + 1, why);
			return -1;
		}
	}
	if (m->nhopts == 0)
		return 0;
	if ((t->hopts = malloc(m->nhopts * sizeof *t->hopts)) == NULL) {
		snprintf(text, textlen, "out of memory");
		return -1;
	}
	memcpy(t->hopts, m->hopts, m->nhopts * sizeof *t->hopts);
	t->nhopts = m->nhopts;
	return 0;
}

/* Names on the HTTPS or HTTP port (vhost.c): no listener of its own. */
static int
register_vhost(struct client_conn *cc, uint32_t id, const struct msg_register *m)
{
	int http = m->kind == TUNNEL_HTTP;
	if (!(cc->hs.caps & (http ? CAP_HTTP : CAP_VHOST))) {
		register_refuse(cc, id, m->name, ERR_INVALID, "unknown tunnel kind");
		return 0;
	}
	struct tunnel *t = tunnel_new(cc, id, m);
	if (t == NULL) {
		register_refuse(cc, id, m->name, ERR_INTERNAL, "out of memory");
		return 0;
	}
	LIST_INSERT_HEAD(&cc->tunnels, t, link); /* vhost_unregister finds it */
	char text[MSG_TEXT_MAX];
	uint16_t code = ERR_INTERNAL;
	if (tunnel_hopts(t, m, text, sizeof text, &code) != 0 ||
	    vhost_register(cc, t, m->extra, text, sizeof text, &code) != 0) {
		LIST_REMOVE(t, link);
		gauge_drop(t->conns);
		free(t->hopts);
		free(t);
		register_refuse(cc, id, m->name, code, text);
		return 0;
	}
	if (!http) /* HTTP: the names as served, set by vhost_register */
		snprintf(t->extra, sizeof t->extra, "%s", m->extra);
	snprintf(t->addr, sizeof t->addr, "%.255s", text);
	cc->ntunnels++;
	log_info("%s: tunnel %s serving %s on %s (%s)", session_label(cc->s), t->name,
	    t->extra, t->addr, http ? "HTTP" : "HTTPS, passed through");
	if (http)
		acme_names(cc->srv->acme, t->extra);
	struct msg_register_ok ok;
	snprintf(ok.addr, sizeof ok.addr, "%s", t->addr);
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_REGISTER_OK, id, buf, msg_register_ok_encode(buf, &ok));
	return 0;
}

int
server_register(struct client_conn *cc, const struct frame *f, const char **why)
{
	const struct config *cfg = cc->srv->cfg;
	struct msg_register m;
	if (msg_register_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	int has_bind = (m.flags & REGISTER_HAS_BIND) != 0;
	if (cc->ntunnels >= policy_max_tunnels(cc)) {
		char text[64];
		snprintf(text, sizeof text, "too many tunnels (max_tunnels %u)",
		    policy_max_tunnels(cc));
		register_refuse(cc, f->id, m.name, ERR_LIMIT, text);
		return 0;
	}
	struct tunnel *t;
	LIST_FOREACH(t, &cc->tunnels, link) {
		if (t->id == f->id || strcmp(t->name, m.name) == 0) {
			register_refuse(cc, f->id, m.name, ERR_INVALID,
			    "a tunnel with this name or id is already registered");
			return 0;
		}
	}
	if (m.kind == TUNNEL_SECRET || m.kind == TUNNEL_VISIT)
		return register_secret(cc, f->id, &m);
	if (m.kind == TUNNEL_HTTPS || m.kind == TUNNEL_HTTP)
		return register_vhost(cc, f->id, &m);
	if (!policy_port_allowed(cc, m.port)) {
		char text[128];
		snprintf(text, sizeof text, "port %u is not allowed by the server", m.port);
		register_refuse(cc, f->id, m.name, ERR_DENIED, text);
		return 0;
	}
	char host[ADDR_HOST_MAX], text[MSG_TEXT_MAX];
	tunnel_bind_host(cfg, &m, has_bind, host, sizeof host, why);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (sockaddr_from_numeric(host, m.port, &ss, &sl) != 0) {
		snprintf(text, sizeof text, "bind address '%s' is not a numeric address",
		    host);
		register_refuse(cc, f->id, m.name, ERR_INVALID, text);
		return 0;
	}
	int udp = m.kind == TUNNEL_UDP;
	if (udp && !(cc->hs.caps & CAP_UDP)) {
		register_refuse(cc, f->id, m.name, ERR_INVALID, "unknown tunnel kind");
		return 0;
	}
	int fd = udp ? udp_bind((struct sockaddr *)&ss, sl)
		     : tcp_listen((struct sockaddr *)&ss, sl, 511);
	if (fd < 0 && errno == EAFNOSUPPORT && strcmp(host, "::") == 0) {
		/* No IPv6 here: the wildcard is IPv4's. */
		snprintf(host, sizeof host, "0.0.0.0");
		sockaddr_from_numeric(host, m.port, &ss, &sl);
		fd = udp ? udp_bind((struct sockaddr *)&ss, sl)
			 : tcp_listen((struct sockaddr *)&ss, sl, 511);
	}
	if (fd < 0) {
		struct hostport hp;
		char a[ADDR_STR_MAX];
		snprintf(hp.host, sizeof hp.host, "%s", host);
		hp.port = m.port;
		hostport_format(&hp, a, sizeof a);
		snprintf(text, sizeof text, "bind %s: %s", a, strerror(errno));
		register_refuse(cc, f->id, m.name,
		    errno == EADDRINUSE ? ERR_IN_USE : ERR_DENIED, text);
		return 0;
	}
	t = tunnel_new(cc, f->id, &m);
	if (t == NULL) {
		close(fd);
		register_refuse(cc, f->id, m.name, ERR_INTERNAL, "out of memory");
		return 0;
	}
	t->socks = m.kind == TUNNEL_SOCKS;
	char label[ADDR_STR_MAX + 128];
	snprintf(label, sizeof label, "%s: tunnel %s", session_label(cc->s), m.name);
	front_set_init(&t->fronts, cc->srv->base, label, tunnel_front_done, t);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, t->addr, sizeof t->addr);
	if (udp) {
		if (udp_tunnel_start(t, fd) != 0) {
			udp_tunnel_stop(t);
			gauge_drop(t->conns);
			free(t);
			register_refuse(cc, f->id, m.name, ERR_INTERNAL, "out of memory");
			return 0;
		}
		return tunnel_listening(cc, t, f->id);
	}
	t->lev = evconnlistener_new(cc->srv->base, tunnel_accept_cb, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	t->retry = t->lev ? event_new(cc->srv->base, -1, 0, listener_retry_cb, t->lev)
			  : NULL;
	if (t->retry == NULL) {
		if (t->lev)
			evconnlistener_free(t->lev);
		else
			close(fd);
		gauge_drop(t->conns);
		free(t);
		register_refuse(cc, f->id, m.name, ERR_INTERNAL, "cannot listen");
		return 0;
	}
	evconnlistener_set_error_cb(t->lev, tunnel_error_cb);
	return tunnel_listening(cc, t, f->id);
}

static int
tunnel_listening(struct client_conn *cc, struct tunnel *t, uint32_t id)
{
	LIST_INSERT_HEAD(&cc->tunnels, t, link);
	cc->ntunnels++;
	log_info("%s: tunnel %s listening on %s%s%s", session_label(cc->s), t->name,
	    t->addr, t->ufd >= 0 ? " (UDP)" : "",
	    t->socks ? " (SOCKS5 and HTTP proxy, exits at the client)" : "");
	struct msg_register_ok ok;
	snprintf(ok.addr, sizeof ok.addr, "%s", t->addr);
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_REGISTER_OK, id, buf,
	    msg_register_ok_encode(buf, &ok));
	return 0;
}

