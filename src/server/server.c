#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "mux/session.h"
#include "proto/auth.h"
#include "proto/handshake.h"
#include "relay/workers.h"
#include "server/admit.h"
#include "transport/conn.h"
#include "transport/framed.h"
#include "transport/tcp.h"
#include "util/evtime.h"
#include "util/gauge.h"
#include "util/log.h"

#define ACCEPT_RETRY_MS 1000
/* Idle dedicated data connections one client may park here. */
#define POOL_MAX 64

struct tunnel;
struct pooled;

/* Where a control-port connection is in its handshake. */
enum cc_state { CS_HELLO, CS_AUTH, CS_READY };

/* One connected client: its session, handshake state and tunnels. */
struct client_conn {
	struct server *srv;
	struct session *s;
	uint32_t id;
	char peer[ADDR_STR_MAX];
	struct source src;
	enum cc_state state;
	int is_data; /* a dedicated data connection in its handshake */
	int handshaking; /* on the server's list of unauthenticated connections */
	TAILQ_ENTRY(client_conn) hlink;
	size_t ntunnels;
	struct log_limit lim_register;
	struct handshake hs;
	uint8_t session_key[MAC_LEN]; /* control: keys its data connections' proofs */
	LIST_HEAD(, tunnel) tunnels;
	LIST_HEAD(, pooled) pool; /* idle data connections, authenticated */
	size_t npool;
	LIST_ENTRY(client_conn) link;
};

/* An idle dedicated data connection, waiting for a stream to carry. */
struct pooled {
	struct client_conn *cc;
	struct conn *conn;
	LIST_ENTRY(pooled) link;
};

/* A public listener registered by a client. */
struct tunnel {
	struct client_conn *cc;
	uint32_t id; /* the client's request id, echoed in OPEN */
	char name[MSG_NAME_MAX + 1];
	char addr[ADDR_STR_MAX];
	int mux_only;
	struct gauge *conns; /* live user connections, multiplexed or moved */
	struct evconnlistener *lev;
	struct event *retry;
	struct log_limit lim_refuse;
	LIST_ENTRY(tunnel) link;
};

struct server {
	struct event_base *base;
	const struct config *cfg;
	struct evconnlistener *lev;
	struct event *retry;
	LIST_HEAD(, client_conn) clients;
	/* Connections in their handshake, oldest first (max_unauthenticated). */
	TAILQ_HEAD(, client_conn) handshaking;
	size_t nhandshaking;
	struct admit *admit;
	/* Tunnels stop accepting at fd_limit - fd_reserve: the rest is for
	 * control and data connections. */
	long fd_limit, fd_reserve;
	struct log_limit lim_auth, lim_unauth, lim_refuse;
	struct relay_workers *relays;
};

static int server_on_frame(struct session *s, const struct frame *f, void *arg,
    const char **why);
static void server_on_close(struct session *s, const char *reason, void *arg);
static int server_promote(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg);
static void server_on_moved(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, int user_fd, int data_fd, uint64_t bytes, void *arg);
static void server_on_stream_closed(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg);

static const struct session_handler server_handler = {
    .on_frame = server_on_frame,
    .on_close = server_on_close,
    .promote = server_promote,
    .on_moved = server_on_moved,
    .on_stream_closed = server_on_stream_closed,
};

/* The connection authenticated, or ends: it no longer counts as unauthenticated. */
static void
client_conn_handshake_done(struct client_conn *cc)
{
	struct server *srv = cc->srv;
	if (!cc->handshaking)
		return;
	cc->handshaking = 0;
	TAILQ_REMOVE(&srv->handshaking, cc, hlink);
	srv->nhandshaking--;
	admit_leave(srv->admit, &cc->src);
}

/* The one place a client_conn is freed; its tunnels and pool are gone. */
static void
client_conn_free(struct client_conn *cc)
{
	client_conn_handshake_done(cc);
	LIST_REMOVE(cc, link);
	OPENSSL_cleanse(cc->session_key, sizeof cc->session_key);
	free(cc);
}

/* ---- accepting: shared by the control listener and tunnel listeners ---- */

/* On EMFILE/ENFILE stop accepting for a second instead of spinning. */
static void
listener_backoff(struct evconnlistener *lev, struct event *retry,
    const char *what)
{
	int err = EVUTIL_SOCKET_ERROR();
	log_warn("%s: accept: %s", what, evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(lev);
		event_add_ms(retry, ACCEPT_RETRY_MS);
	}
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/* ---- dedicated data connections ---- */

/* Returns the conn (NULL if it was closed with the entry). */
static struct conn *
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

/*
 * A stream of this client has carried dedicated_after bytes: move it to an
 * idle data connection of the same client, announced there with ADOPT.
 */
static struct tunnel *
tunnel_by_id(struct client_conn *cc, uint32_t id)
{
	struct tunnel *t;
	LIST_FOREACH(t, &cc->tunnels, link)
		if (t->id == id)
			return t;
	return NULL;
}

static int
server_promote(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    void *arg)
{
	struct client_conn *cc = arg;
	struct tunnel *t = tunnel_by_id(cc, tunnel_id);
	if (t == NULL || t->mux_only)
		return -1;
	while (!LIST_EMPTY(&cc->pool)) {
		struct conn *c = pooled_free(LIST_FIRST(&cc->pool), 1);
		conn_want_read(c, 0);
		conn_set_cb(c, NULL, NULL, NULL);
		if (frame_write(c, FRAME_ADOPT, stream_id, NULL, 0) == 0) {
			int data_fd = conn_release_fd(c);
			if (data_fd >= 0)
				return data_fd;
		}
		conn_free(c);
	}
	return -1;
}

static void
server_on_moved(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    int user_fd, int data_fd, uint64_t bytes, void *arg)
{
	struct client_conn *cc = arg;
	char label[ADDR_STR_MAX + 96];
	snprintf(label, sizeof label, "%s stream %u", session_label(s), stream_id);
	log_info("%s: moved to a dedicated connection after %llu bytes", label,
	    (unsigned long long)bytes);
	/* The stream's count on its tunnel goes with it to the relay. */
	struct tunnel *t = tunnel_by_id(cc, tunnel_id);
	relay_workers_add(cc->srv->relays, user_fd, data_fd, cc->id,
	    t ? t->conns : NULL, label);
}

static void
server_on_stream_closed(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg)
{
	struct tunnel *t = tunnel_by_id(arg, tunnel_id);
	if (t != NULL)
		gauge_drop(t->conns);
}

/* ---- tunnels ---- */

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
	if (session_stream_count(t->cc->s) >= cfg->max_streams) {
		snprintf(buf, len, "too many streams (max_streams %u)", cfg->max_streams);
		return buf;
	}
	if (session_is_closing(t->cc->s))
		return "session closing";
	return NULL;
}

static void
tunnel_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tunnel *t = arg;
	char peer[ADDR_STR_MAX], why[96];
	sockaddr_format(sa, peer, sizeof peer);
	const char *refused = tunnel_refusal(t, fd, why, sizeof why);
	uint32_t id = 0;
	if (refused == NULL) {
		tcp_nodelay(fd);
		gauge_hold(t->conns); /* dropped by on_stream_closed or the relay */
		id = session_open_stream(t->cc->s, fd, t->id, peer);
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
		return;
	}
	log_info("%s stream %u: opened from %s on tunnel %s",
	    session_label(t->cc->s), id, peer, t->name);
}

static void
tunnel_error_cb(struct evconnlistener *lev, void *arg)
{
	struct tunnel *t = arg;
	char what[256];
	snprintf(what, sizeof what, "%s: tunnel %s", session_label(t->cc->s), t->name);
	listener_backoff(lev, t->retry, what);
}

static void
tunnel_free(struct tunnel *t, int log_it)
{
	if (log_it)
		log_info("%s: tunnel %s closed", session_label(t->cc->s), t->name);
	LIST_REMOVE(t, link);
	t->cc->ntunnels--;
	if (t->lev)
		evconnlistener_free(t->lev);
	if (t->retry)
		event_free(t->retry);
	gauge_drop(t->conns);
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
	log_limited(&cc->lim_register, LOG_WARN, "%s: tunnel %s: %s",
	    session_label(cc->s), name, text);
	session_send_error(cc->s, FRAME_REGISTER_ERR, id, code, text);
}

static int
server_register(struct client_conn *cc, const struct frame *f, const char **why)
{
	const struct config *cfg = cc->srv->cfg;
	struct msg_register m;
	if (msg_register_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	int has_bind = (m.flags & REGISTER_HAS_BIND) != 0;
	if (cc->ntunnels >= cfg->max_tunnels) {
		char text[64];
		snprintf(text, sizeof text, "too many tunnels (max_tunnels %u)",
		    cfg->max_tunnels);
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
	if (m.port != 0 && !port_ranges_contains(&cfg->allow_ports, m.port)) {
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
	int fd = tcp_listen((struct sockaddr *)&ss, sl, 511);
	if (fd < 0 && errno == EAFNOSUPPORT && strcmp(host, "::") == 0) {
		/* No IPv6 here: the wildcard is IPv4's. */
		snprintf(host, sizeof host, "0.0.0.0");
		sockaddr_from_numeric(host, m.port, &ss, &sl);
		fd = tcp_listen((struct sockaddr *)&ss, sl, 511);
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
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		close(fd);
		register_refuse(cc, f->id, m.name, ERR_INTERNAL, "out of memory");
		return 0;
	}
	t->conns = gauge_new();
	if (t->conns == NULL) {
		close(fd);
		free(t);
		register_refuse(cc, f->id, m.name, ERR_INTERNAL, "out of memory");
		return 0;
	}
	t->cc = cc;
	t->id = f->id;
	t->mux_only = (m.flags & REGISTER_MUX_ONLY) != 0;
	snprintf(t->name, sizeof t->name, "%s", m.name);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, t->addr, sizeof t->addr);
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
	LIST_INSERT_HEAD(&cc->tunnels, t, link);
	cc->ntunnels++;
	log_info("%s: tunnel %s listening on %s", session_label(cc->s), t->name,
	    t->addr);
	struct msg_register_ok ok;
	snprintf(ok.addr, sizeof ok.addr, "%s", t->addr);
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_REGISTER_OK, f->id, buf,
	    msg_register_ok_encode(buf, &ok));
	return 0;
}

/* ---- handshake ---- */

/*
 * Session ids are random, never 0 and never one a live session holds: an id
 * tells nothing about other sessions, and naming one is useless without its
 * session key anyway.
 */
static int
server_new_session_id(struct server *srv, uint32_t *id)
{
	for (;;) {
		uint32_t r;
		if (auth_random(&r, sizeof r) != 0)
			return -1;
		if (r == 0)
			continue;
		struct client_conn *cc;
		LIST_FOREACH(cc, &srv->clients, link)
			if (cc->id == r)
				break;
		if (cc == NULL) {
			*id = r;
			return 0;
		}
	}
}

static int
server_hello(struct client_conn *cc, const struct frame *f, const char **why)
{
	uint8_t nonce[NONCE_LEN], buf[MSG_MAX];
	uint16_t code;
	char text[128];
	size_t len;
	if (auth_nonce(nonce) != 0) {
		*why = "no randomness";
		return -1;
	}
	if (hs_server_on_hello(&cc->hs, f->payload, f->len, nonce, buf, &len, &code,
		text, sizeof text, why) != 0) {
		if (code == 0)
			return -1;
		log_warn("%s: %s", session_label(cc->s), text);
		session_send_error(cc->s, FRAME_ERROR, 0, code, text);
		session_close_after_flush(cc->s, "version mismatch");
		return 0;
	}
	cc->is_data = cc->hs.role == HELLO_DATA;
	char label[ADDR_STR_MAX + 32];
	if (cc->is_data) {
		snprintf(label, sizeof label, "data connection (%s)", cc->peer);
		session_set_label(cc->s, label);
		log_debug("%s: connected", label);
	} else {
		if (server_new_session_id(cc->srv, &cc->id) != 0) {
			*why = "no randomness";
			return -1;
		}
		snprintf(label, sizeof label, "session %u (%s)", cc->id, cc->peer);
		session_set_label(cc->s, label);
		log_limited(&cc->srv->lim_unauth, LOG_INFO, "%s: connected", label);
	}
	session_send(cc->s, FRAME_HELLO, 0, buf, len);
	cc->state = CS_AUTH;
	return 0;
}

/* Proves to the client that we know its key too: the token, or the session key. */
static void
server_send_auth_ok(struct client_conn *cc, uint32_t session_id,
    const void *key, size_t keylen)
{
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_AUTH_OK, 0, buf,
	    hs_server_auth_ok(&cc->hs, key, keylen, session_id, buf));
}

/* Wrong credentials: say so, close, and count it against the source. */
static void
server_auth_failed(struct client_conn *cc, uint16_t code, const char *text)
{
	admit_failed(cc->srv->admit, &cc->src, mono_ms());
	log_limited(&cc->srv->lim_auth, LOG_WARN, "%s: authentication failed: %s",
	    session_label(cc->s), text);
	session_send_error(cc->s, FRAME_ERROR, 0, code, text);
	session_close_after_flush(cc->s, "authentication failed");
}

/* "too many failed logins from this address: retry in 1.5 s" */
static void
throttle_text(uint32_t wait_ms, char *buf, size_t len)
{
	snprintf(buf, len, "too many failed logins from this address: retry in %.1f s",
	    wait_ms / 1000.0);
}

/*
 * The source failed to log in too often lately: no verdict until its
 * penalty is over. Returns 1 if the connection was refused.
 */
static int
server_throttled(struct client_conn *cc)
{
	uint32_t wait = admit_penalty(cc->srv->admit, &cc->src, mono_ms());
	if (wait == 0)
		return 0;
	char text[96];
	throttle_text(wait, text, sizeof text);
	log_limited(&cc->srv->lim_refuse, LOG_WARN, "%s: refused: %s",
	    session_label(cc->s), text);
	session_send_error(cc->s, FRAME_ERROR, 0, ERR_LIMIT, text);
	session_close_after_flush(cc->s, "too many failed logins");
	return 1;
}

/*
 * A data connection joins the pool of the control session it names, if its
 * proof is keyed by that session's key.
 */
static int
server_auth_data(struct client_conn *cc, const struct msg_auth *a)
{
	uint32_t sid = a->session_id;
	struct client_conn *owner;
	LIST_FOREACH(owner, &cc->srv->clients, link)
		if (owner->id == sid && sid != 0 && owner->state == CS_READY && !owner->is_data)
			break;
	if (owner == NULL) {
		server_auth_failed(cc, ERR_INVALID, "no such session");
		return 0;
	}
	if (!hs_server_verify(&cc->hs, a, owner->session_key, MAC_LEN)) {
		server_auth_failed(cc, ERR_AUTH, "wrong session key");
		return 0;
	}
	if (owner->npool >= POOL_MAX) {
		session_send_error(cc->s, FRAME_ERROR, 0, ERR_INVALID,
		    "too many data connections");
		session_close_after_flush(cc->s, "data connection refused");
		return 0;
	}
	server_send_auth_ok(cc, sid, owner->session_key, MAC_LEN);
	/* AUTH_OK is a few bytes on an idle socket: flushed by the detach. */
	struct conn *c = session_detach(cc->s);
	if (c == NULL)
		return 0; /* the session closed, and on_close freed cc */
	client_conn_free(cc);
	struct pooled *p = calloc(1, sizeof *p);
	if (p == NULL) {
		conn_free(c);
		return 0;
	}
	p->cc = owner;
	p->conn = c;
	conn_set_cb(c, pooled_read_cb, NULL, p);
	conn_want_read(c, 1);
	LIST_INSERT_HEAD(&owner->pool, p, link);
	owner->npool++;
	log_debug("%s: data connection ready (%zu idle)", session_label(owner->s),
	    owner->npool);
	return 0;
}

static int
server_auth(struct client_conn *cc, const struct frame *f, const char **why)
{
	const char *token = cc->srv->cfg->token;
	struct msg_auth a;
	if (msg_auth_decode(f->payload, f->len, (enum hello_role)cc->hs.role, &a,
		why) != 0)
		return -1;
	if (server_throttled(cc))
		return 0;
	if (cc->is_data)
		return server_auth_data(cc, &a);
	if (!hs_server_verify(&cc->hs, &a, token, strlen(token))) {
		server_auth_failed(cc, ERR_AUTH, "wrong token");
		return 0;
	}
	hs_session_key(&cc->hs, token, cc->session_key);
	server_send_auth_ok(cc, cc->id, token, strlen(token));
	client_conn_handshake_done(cc);
	cc->state = CS_READY;
	session_set_ready(cc->s);
	log_info("%s: authenticated", session_label(cc->s));
	return 0;
}

static int
server_on_frame(struct session *s, const struct frame *f, void *arg,
    const char **why)
{
	struct client_conn *cc = arg;
	struct msg_error e;

	switch (f->type) {
	case FRAME_HELLO:
		if (cc->state != CS_HELLO)
			break;
		return server_hello(cc, f, why);
	case FRAME_AUTH:
		if (cc->state != CS_AUTH)
			break;
		return server_auth(cc, f, why);
	case FRAME_REGISTER:
		if (cc->state != CS_READY)
			break;
		return server_register(cc, f, why);
	case FRAME_ERROR:
	case FRAME_GOAWAY:
		if (msg_error_decode(f->payload, f->len, &e, why) != 0)
			return -1;
		log_info("%s: client says: %s", session_label(s), e.text);
		session_close(s, f->type == FRAME_GOAWAY ? "client going away"
							 : "client error");
		return 0;
	default:
		break;
	}
	*why = cc->state == CS_READY ? "unexpected frame" : "expected handshake";
	return -1;
}

static void
server_on_close(struct session *s, const char *reason, void *arg)
{
	struct client_conn *cc = arg;
	if (cc->state == CS_READY)
		log_info("%s: closed: %s", session_label(s), reason);
	else
		log_limited(&cc->srv->lim_unauth, LOG_INFO, "%s: closed: %s",
		    session_label(s), reason);
	while (!LIST_EMPTY(&cc->tunnels))
		tunnel_free(LIST_FIRST(&cc->tunnels), 1);
	while (!LIST_EMPTY(&cc->pool))
		pooled_free(LIST_FIRST(&cc->pool), 0);
	if (!cc->is_data && cc->srv->relays)
		relay_workers_close_owner(cc->srv->relays, cc->id);
	client_conn_free(cc);
}

/* ---- control listener ---- */

/*
 * The unauthenticated connection that makes room for a new one: among the
 * oldest EVICT_SCAN, one of the source with the most handshakes going (a
 * flood's, not the lone honest client's), the oldest of those on a tie.
 * Honest handshakes take one round trip, so the oldest are rarely honest.
 */
#define EVICT_SCAN 64

static struct client_conn *
handshake_victim(struct server *srv)
{
	struct client_conn *cc, *best = TAILQ_FIRST(&srv->handshaking);
	uint32_t most = 0;
	int n = 0;
	TAILQ_FOREACH(cc, &srv->handshaking, hlink) {
		uint32_t k = admit_pending(srv->admit, &cc->src);
		if (k > most) {
			most = k;
			best = cc;
		}
		if (++n == EVICT_SCAN)
			break;
	}
	return best;
}

/*
 * Admission of a new control-port connection: refused while its source is
 * throttled (with ERROR code 9, best effort, on the fresh socket) or has
 * max_unauthenticated_per_source handshakes going. Returns 0 if admitted.
 */
static int
control_admit(struct server *srv, struct conn *c, const struct source *src,
    const char *peer)
{
	uint32_t wait = admit_penalty(srv->admit, src, mono_ms());
	if (wait > 0) {
		char text[96];
		uint8_t buf[MSG_MAX];
		throttle_text(wait, text, sizeof text);
		frame_write(c, FRAME_ERROR, 0, buf, msg_error_encode(buf, ERR_LIMIT, text));
		log_limited(&srv->lim_refuse, LOG_WARN, "connection from %s refused: %s",
		    peer, text);
		return -1;
	}
	if (admit_enter(srv->admit, src) != 0) {
		log_limited(&srv->lim_refuse, LOG_WARN,
		    "connection from %s refused: too many unauthenticated connections "
		    "from this address (max_unauthenticated_per_source %u)",
		    peer, srv->cfg->max_unauthenticated_per_source);
		return -1;
	}
	if (srv->nhandshaking >= srv->cfg->max_unauthenticated) {
		struct client_conn *old = handshake_victim(srv);
		client_conn_handshake_done(old);
		session_close(old->s, "evicted: too many unauthenticated connections");
	}
	return 0;
}

static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct source src;
	char peer[ADDR_STR_MAX];
	sockaddr_format(sa, peer, sizeof peer);
	source_from_sockaddr(sa, &src);
	tcp_nodelay(fd);
	struct conn *c = conn_tcp_new(srv->base, fd);
	if (c == NULL)
		return;
	if (control_admit(srv, c, &src, peer) != 0) {
		conn_free(c);
		return;
	}
	struct client_conn *cc = calloc(1, sizeof *cc);
	if (cc == NULL) {
		admit_leave(srv->admit, &src);
		conn_free(c);
		return;
	}
	cc->srv = srv;
	cc->src = src;
	snprintf(cc->peer, sizeof cc->peer, "%s", peer);
	LIST_INIT(&cc->tunnels);
	LIST_INIT(&cc->pool);
	/* The id and the label's noun wait for HELLO: session or data connection. */
	char label[ADDR_STR_MAX + 32];
	snprintf(label, sizeof label, "connection (%s)", cc->peer);
	struct session_params p = {
	    .window = (uint32_t)srv->cfg->window,
	    .heartbeat_ms = srv->cfg->heartbeat_ms,
	    .handshake_ms = srv->cfg->handshake_timeout_ms,
	    .open_timeout_ms = srv->cfg->open_timeout_ms,
	    .promote_after = srv->cfg->dedicated_after,
	    .initiator_parity = 0,
	};
	cc->s = session_new(srv->base, c, label, &p, &server_handler, cc);
	if (cc->s == NULL) {
		admit_leave(srv->admit, &src);
		conn_free(c);
		free(cc);
		return;
	}
	LIST_INSERT_HEAD(&srv->clients, cc, link);
	cc->handshaking = 1;
	TAILQ_INSERT_TAIL(&srv->handshaking, cc, hlink);
	srv->nhandshaking++;
	log_debug("%s: accepted", label);
}

static void
control_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	listener_backoff(lev, srv->retry, "control listener");
}

struct server *
server_new(struct event_base *base, const struct config *cfg)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char port[8], shown[ADDR_STR_MAX];
	snprintf(port, sizeof port, "%u", cfg->listen.port);
	hostport_format(&cfg->listen, shown, sizeof shown);
	int rc = getaddrinfo(cfg->listen.host[0] ? cfg->listen.host : NULL, port,
	    &hints, &ai);
	if (rc != 0) {
		log_error("listen %s: %s", shown, gai_strerror(rc));
		return NULL;
	}
	int fd = tcp_listen(ai->ai_addr, ai->ai_addrlen, 511);
	freeaddrinfo(ai);
	if (fd < 0) {
		log_error("listen %s: %s", shown, strerror(errno));
		return NULL;
	}
	struct server *srv = calloc(1, sizeof *srv);
	uint64_t seed;
	if (srv == NULL || auth_random(&seed, sizeof seed) != 0) {
		close(fd);
		free(srv);
		return NULL;
	}
	srv->base = base;
	srv->cfg = cfg;
	LIST_INIT(&srv->clients);
	TAILQ_INIT(&srv->handshaking);
	struct rlimit rl;
	srv->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 30)
	    ? (long)rl.rlim_cur : (1l << 30);
	srv->fd_reserve = srv->fd_limit / 8 < 32 ? 32
	    : srv->fd_limit / 8 > 4096 ? 4096 : srv->fd_limit / 8;
	srv->admit = admit_new(cfg->max_unauthenticated_per_source, seed);
	srv->relays = relay_workers_new(cfg->threads);
	srv->lev = evconnlistener_new(base, control_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	srv->retry = event_new(base, -1, 0, listener_retry_cb, srv->lev);
	if (srv->admit == NULL || srv->relays == NULL || srv->lev == NULL ||
	    srv->retry == NULL) {
		log_error(srv->relays == NULL ? "cannot start relay threads"
					      : "out of memory");
		if (srv->lev == NULL)
			close(fd);
		server_free(srv);
		return NULL;
	}
	evconnlistener_set_error_cb(srv->lev, control_error_cb);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, shown, sizeof shown);
	log_info("server listening on %s", shown);
	return srv;
}

void
server_shutdown(struct server *srv)
{
	if (srv->lev) {
		evconnlistener_free(srv->lev);
		srv->lev = NULL;
	}
	while (!LIST_EMPTY(&srv->clients)) {
		struct client_conn *cc = LIST_FIRST(&srv->clients);
		session_send_error(cc->s, FRAME_GOAWAY, 0, ERR_SHUTDOWN,
		    "server shutting down");
		/* on_close unlinks and frees cc. */
		session_close_after_flush(cc->s, "server shutting down");
	}
	if (srv->relays) {
		relay_workers_free(srv->relays);
		srv->relays = NULL;
	}
}

void
server_free(struct server *srv)
{
	if (srv->relays)
		relay_workers_free(srv->relays);
	if (srv->lev)
		evconnlistener_free(srv->lev);
	if (srv->retry)
		event_free(srv->retry);
	admit_free(srv->admit);
	free(srv);
}
