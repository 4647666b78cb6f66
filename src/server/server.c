#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "mux/session.h"
#include "proto/auth.h"
#include "relay/workers.h"
#include "server/admit.h"
#include "server/server-t.h"
#include "transport/conn.h"
#include "transport/framed.h"
#include "transport/tcp.h"
#include "transport/httpt.h"
#include "transport/tls.h"
#include "transport/ws.h"
#include "util/evtime.h"
#include "util/log.h"

static int server_on_frame(struct session *s, const struct frame *f, void *arg,
    const char **why);
static void server_on_close(struct session *s, const char *reason, void *arg);

const struct session_handler server_handler = {
    .on_frame = server_on_frame,
    .on_close = server_on_close,
    .promote = server_promote,
    .on_moved = server_on_moved,
    .on_stream_closed = server_on_stream_closed,
    .on_open_result = server_open_result,
    .on_stray_rst = server_stray_rst,
};

/* The connection authenticated, or ends: it no longer counts as unauthenticated. */
void
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
void
client_conn_free(struct client_conn *cc)
{
	client_conn_handshake_done(cc);
	udp_table_clear(&cc->udp);
	LIST_REMOVE(cc, link);
	OPENSSL_cleanse(cc->session_key, sizeof cc->session_key);
	free(cc);
}

/* ---- accepting: shared by the control listener and tunnel listeners ---- */

/* On EMFILE/ENFILE stop accepting for a second instead of spinning. */
void
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

void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
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
	case FRAME_OPEN:
		if (cc->state != CS_READY)
			break;
		return server_open(cc, f, why);
	case FRAME_UDP_OPEN:
		if (cc->state != CS_READY)
			break;
		return udp_visit_open(cc, f, why);
	case FRAME_DGRAM:
	case FRAME_UDP_CLOSE:
		if (cc->state != CS_READY)
			break;
		return server_udp_frame(cc, f, why);
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
	share_client_gone(cc);
	while (!LIST_EMPTY(&cc->tunnels))
		tunnel_free(LIST_FIRST(&cc->tunnels), 1);
	while (!LIST_EMPTY(&cc->pool))
		pooled_free(LIST_FIRST(&cc->pool), 0);
	while (!LIST_EMPTY(&cc->fwd_dials))
		fwd_dial_free(LIST_FIRST(&cc->fwd_dials));
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

/*
 * A connection to the control port, a socket's or an http transport's
 * virtual one: admitted, it starts its handshake as a session. NULL if it
 * was refused (c freed).
 */
static struct client_conn *
server_accept_conn(struct server *srv, struct conn *c, const struct source *src,
    const char *peer)
{
	if (control_admit(srv, c, src, peer) != 0) {
		conn_free(c);
		return NULL;
	}
	struct client_conn *cc = calloc(1, sizeof *cc);
	if (cc == NULL) {
		admit_leave(srv->admit, src);
		conn_free(c);
		return NULL;
	}
	cc->srv = srv;
	udp_table_init(&cc->udp, srv->base);
	cc->src = *src;
	snprintf(cc->peer, sizeof cc->peer, "%s", peer);
	LIST_INIT(&cc->tunnels);
	LIST_INIT(&cc->pool);
	LIST_INIT(&cc->fwd_dials);
	/* The id and the label's noun wait for HELLO: session or data connection. */
	char label[ADDR_STR_MAX + 32];
	snprintf(label, sizeof label, "connection (%s)", cc->peer);
	struct session_params p = {
	    .window = (uint32_t)srv->cfg->window,
	    .window_max = (uint32_t)srv->cfg->window_max,
	    .heartbeat_ms = srv->cfg->heartbeat_ms,
	    .handshake_ms = srv->cfg->handshake_timeout_ms,
	    .open_timeout_ms = srv->cfg->open_timeout_ms,
	    .promote_after = srv->cfg->dedicated_after,
	    .initiator_parity = 0,
	};
	cc->s = session_new(srv->base, c, label, &p, &server_handler, cc);
	if (cc->s == NULL) {
		admit_leave(srv->admit, src);
		conn_free(c);
		free(cc);
		return NULL;
	}
	LIST_INSERT_HEAD(&srv->clients, cc, link);
	cc->handshaking = 1;
	TAILQ_INSERT_TAIL(&srv->handshaking, cc, hlink);
	srv->nhandshaking++;
	log_debug("%s: accepted", label);
	return cc;
}

/* The first request on a control-port connection is the http transport's:
 * the connection leaves its session for the httpt server. */
static void
server_take_http(struct conn *c, const struct http_head *h, const uint8_t *rest,
    size_t rest_len, void *arg)
{
	struct client_conn *cc = arg;
	struct server *srv = cc->srv;
	char peer[ADDR_STR_MAX];
	snprintf(peer, sizeof peer, "%s", cc->peer);
	struct conn *conn = session_take_conn(cc->s);
	client_conn_free(cc);
	if (conn != NULL)
		httpt_server_take(srv->httpt, conn, h, rest, rest_len, peer);
}

/* A new http transport connection id: a session like any other. */
static void
server_accept_vconn(struct conn *vc, const char *peer, void *arg)
{
	struct server *srv = arg;
	struct source src;
	struct hostport hp;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why;
	if (hostport_parse(peer, 0, &hp, &why) != 0 ||
	    sockaddr_from_numeric(hp.host, hp.port, &ss, &sl) != 0) {
		conn_free(vc);
		return;
	}
	source_from_sockaddr((struct sockaddr *)&ss, &src);
	server_accept_conn(srv, vc, &src, peer);
}

static void
control_accept(struct server *srv, evutil_socket_t fd, struct sockaddr *sa,
    struct tls_server *ts)
{
	struct source src;
	char peer[ADDR_STR_MAX];
	sockaddr_format(sa, peer, sizeof peer);
	source_from_sockaddr(sa, &src);
	tcp_nodelay(fd);
	struct conn *c = conn_accept_new(srv->base, fd, ts);
	if (c == NULL)
		return;
	struct client_conn *cc = server_accept_conn(srv, c, &src, peer);
	/* A WebSocket upgrade or an http transport request is told apart from
	 * frames by its first byte too. */
	if (cc != NULL && conn_ws_server(c, srv->cfg->url_path, server_take_http, cc) != 0)
		session_close(cc->s, "out of memory");
}

static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	control_accept(srv, fd, sa, srv->tls);
}

/* web_listen: the same, without TLS (a front has terminated it). */
static void
web_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	control_accept(srv, fd, sa, NULL);
}

static void
web_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	listener_backoff(lev, srv->web_retry, "web listener");
}

/*
 * A second port of the server (web_listen, https): bound as configured (a
 * numeric address, checked with the config), with the accept callback and
 * the EMFILE backoff of the first. Its address goes to shown. 0, or -1
 * (logged as what).
 */
int
server_port_listen(struct server *srv, const struct hostport *hp, const char *what,
    evconnlistener_cb cb, evconnlistener_errorcb ecb, struct evconnlistener **lev,
    struct event **retry, char *shown, size_t shownlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	hostport_format(hp, shown, shownlen);
	if (sockaddr_from_numeric(hp->host[0] ? hp->host : "0.0.0.0", hp->port, &ss,
		&sl) != 0) {
		log_error("%s %s: not a numeric address", what, shown);
		return -1;
	}
	int fd = tcp_listen((struct sockaddr *)&ss, sl, 511);
	if (fd < 0) {
		log_error("%s %s: %s", what, shown, strerror(errno));
		return -1;
	}
	*lev = evconnlistener_new(srv->base, cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (*lev == NULL) {
		close(fd);
		return -1;
	}
	*retry = event_new(srv->base, -1, 0, listener_retry_cb, *lev);
	if (*retry == NULL)
		return -1;
	evconnlistener_set_error_cb(*lev, ecb);
	sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, shown, shownlen);
	return 0;
}

/* The web_listen port, if configured: 0, or -1 (logged). */
static int
server_web_listen(struct server *srv)
{
	char shown[ADDR_STR_MAX];
	if (server_port_listen(srv, &srv->cfg->web_listen, "web listen", web_accept_cb,
		web_error_cb, &srv->web_lev, &srv->web_retry, shown, sizeof shown) != 0)
		return -1;
	log_info("web listening on %s (ws and http transports, plain; path %s)", shown,
	    srv->cfg->url_path);
	return 0;
}

static void
control_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	listener_backoff(lev, srv->retry, "control listener");
}

struct server *
server_new(struct event_base *base, const struct config *cfg,
    struct tls_server *ts)
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
	srv->tls = ts;
	srv->policy = cfg->clients;
	srv->npolicy = cfg->nclients;
	LIST_INIT(&srv->clients);
	LIST_INIT(&srv->shares);
	LIST_INIT(&srv->bridges);
	TAILQ_INIT(&srv->handshaking);
	TAILQ_INIT(&srv->hwaiting);
	TAILQ_INIT(&srv->vgone);
	LIST_INIT(&srv->hconns);
	TAILQ_INIT(&srv->sniffs);
	struct rlimit rl;
	srv->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 30)
	    ? (long)rl.rlim_cur : (1l << 30);
	srv->fd_reserve = srv->fd_limit / 8 < 32 ? 32
	    : srv->fd_limit / 8 > 4096 ? 4096 : srv->fd_limit / 8;
	srv->admit = admit_new(cfg->max_unauthenticated_per_source, seed);
	srv->relays = relay_workers_new(cfg->threads);
	srv->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	srv->lev = evconnlistener_new(base, control_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	srv->retry = event_new(base, -1, 0, listener_retry_cb, srv->lev);
	srv->httpt = httpt_server_new(base, cfg->url_path, server_accept_vconn, srv);
	if (srv->admit == NULL || srv->relays == NULL || srv->lev == NULL ||
	    srv->dns == NULL ||
	    srv->retry == NULL || srv->httpt == NULL) {
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
	if (cfg->has_web_listen && server_web_listen(srv) != 0) {
		server_free(srv);
		return NULL;
	}
	if (cfg->acme_directory != NULL && (srv->acme = acme_new(srv)) == NULL) {
		server_free(srv);
		return NULL;
	}
	if (cfg->has_https_listen && vhost_listen(srv) != 0) {
		server_free(srv);
		return NULL;
	}
	if (cfg->has_http_listen && hproxy_listen(srv) != 0) {
		server_free(srv);
		return NULL;
	}
	return srv;
}

void
server_shutdown(struct server *srv)
{
	if (srv->lev) {
		evconnlistener_free(srv->lev);
		srv->lev = NULL;
	}
	if (srv->web_lev) {
		evconnlistener_free(srv->web_lev);
		srv->web_lev = NULL;
	}
	vhost_shutdown(srv);
	hproxy_shutdown(srv);
	acme_free(srv->acme);
	srv->acme = NULL;
	struct client_conn *cc;
	LIST_FOREACH(cc, &srv->clients, link) /* their names' lookups end here */
		while (!LIST_EMPTY(&cc->fwd_dials))
			fwd_dial_free(LIST_FIRST(&cc->fwd_dials));
	if (srv->dns) {
		evdns_base_free(srv->dns, 0);
		srv->dns = NULL;
	}
	while (!LIST_EMPTY(&srv->clients)) {
		cc = LIST_FIRST(&srv->clients);
		session_send_error(cc->s, FRAME_GOAWAY, 0, ERR_SHUTDOWN,
		    "server shutting down");
		/* on_close unlinks and frees cc. */
		session_close_after_flush(cc->s, "server shutting down");
	}
	if (srv->relays) {
		relay_workers_free(srv->relays);
		srv->relays = NULL;
	}
	if (srv->httpt)
		httpt_server_shutdown(srv->httpt);
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
	if (srv->web_lev)
		evconnlistener_free(srv->web_lev);
	if (srv->web_retry)
		event_free(srv->web_retry);
	httpt_server_free(srv->httpt);
	vhost_shutdown(srv);
	vhost_gone_clear(srv);
	hproxy_shutdown(srv);
	acme_free(srv->acme);
	srv->acme = NULL;
	if (srv->dns)
		evdns_base_free(srv->dns, 0);
	admit_free(srv->admit);
	config_free_clients(srv->policy_owned, srv->npolicy);
	free(srv);
}
