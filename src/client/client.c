#include "client/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/crypto.h>

#include "client/client-t.h"
#include "config/config.h"
#include "mux/session.h"
#include "proto/auth.h"
#include "proto/handshake.h"
#include "relay/workers.h"
#include "transport/conn.h"
#include "transport/dial.h"
#include "transport/framed.h"
#include "transport/httpt.h"
#include "transport/proxy.h"
#include "transport/tls.h"
#include "transport/ws.h"
#include "util/evtime.h"
#include "util/gauge.h"
#include "util/log.h"

static void client_connect(struct client *c);
static void client_auto_timer_cb(evutil_socket_t fd, short what, void *arg);
static int client_auto_next(struct client *c, const char *why);
static void client_ws_host(struct client *c);
static void client_backoff(struct client *c);
static int client_on_frame(struct session *s, const struct frame *f, void *arg,
    const char **why);
static void client_on_close(struct session *s, const char *reason, void *arg);
static void client_on_moved(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, struct conn *local, struct conn *data, uint64_t bytes,
    void *arg);

static const struct session_handler client_handler = {
    .on_open_result = forward_open_result,
    .on_frame = client_on_frame,
    .on_close = client_on_close,
    .on_moved = client_on_moved,
};


/* ---- registering tunnels ---- */

static void
client_register(struct client *c, size_t i)
{
	const struct tunnel_cfg *t = &c->cfg->tunnels[i];
	if (t->type == TUNNEL_LOCAL || t->type == TUNNEL_DYNAMIC)
		return; /* listens here (forward.c) */
	static const uint8_t kinds[] = {[TUNNEL_REMOTE] = TUNNEL_TCP,
	    [TUNNEL_REMOTE_DYNAMIC] = TUNNEL_SOCKS, [TUNNEL_SHARED] = TUNNEL_SECRET,
	    [TUNNEL_VISITOR] = TUNNEL_VISIT, [TUNNEL_HTTPS_SNI] = TUNNEL_HTTPS,
	    [TUNNEL_HTTP_VHOST] = TUNNEL_HTTP};
	if ((t->type == TUNNEL_HTTPS_SNI && !(c->hs.caps & CAP_VHOST)) ||
	    (t->type == TUNNEL_HTTP_VHOST && !(c->hs.caps & CAP_HTTP))) {
		log_warn("tunnel %s: the server does not serve %s names (an older "
			 "version)", t->name, t->type == TUNNEL_HTTP_VHOST ? "HTTP" : "HTTPS");
		return;
	}
	int secret = t->type == TUNNEL_SHARED || t->type == TUNNEL_VISITOR;
	struct msg_register m = {
	    .kind = t->udp && !secret ? TUNNEL_UDP : kinds[t->type],
	    .port = t->remote.port,
	    .flags = (t->remote_has_bind ? REGISTER_HAS_BIND : 0) |
		(t->mux_only ? REGISTER_MUX_ONLY : 0) |
		(t->udp && secret ? REGISTER_UDP : 0)};
	snprintf(m.bind, sizeof m.bind, "%s", t->remote.host);
	snprintf(m.name, sizeof m.name, "%s", t->name);
	snprintf(m.extra, sizeof m.extra, "%s", t->extra);
	m.nhopts = (uint8_t)t->nhopts;
	memcpy(m.hopts, t->hopts, t->nhopts * sizeof t->hopts[0]);
	uint8_t buf[MSG_REGISTER_MAX];
	size_t n = msg_register_encode(buf, &m);
	c->tunnels[i].retry = 0;
	session_send(c->s, FRAME_REGISTER, (uint32_t)(i + 1), buf, n);
}

static void
client_register_result(struct client *c, const struct frame *f)
{
	if (f->id == 0 || f->id > c->cfg->ntunnels)
		return;
	size_t i = f->id - 1;
	const struct tunnel_cfg *t = &c->cfg->tunnels[i];
	char target[ADDR_STR_MAX];
	hostport_format(&t->local, target, sizeof target);
	if (t->type == TUNNEL_REMOTE_DYNAMIC)
		snprintf(target, sizeof target, "SOCKS5 and HTTP proxy exiting here");
	if (f->type == FRAME_REGISTER_OK) {
		struct msg_register_ok ok;
		const char *why;
		if (msg_register_ok_decode(f->payload, f->len, &ok, &why) != 0)
			snprintf(ok.addr, sizeof ok.addr, "?");
		c->tunnels[i].registered = 1;
		if (t->type == TUNNEL_SHARED)
			log_info("tunnel %s: shared -> %s%s, no public port: visitors use "
				 "--visit %s%s%s%s", t->name, target, t->udp ? " (UDP)" : "",
			    c->cfg->name && strcmp(t->extra, "*") != 0 ? c->cfg->name : "",
			    c->cfg->name && strcmp(t->extra, "*") != 0 ? "/" : "", t->name,
			    t->udp ? " -L udp:PORT" : "");
		else if (t->type == TUNNEL_VISITOR)
			log_info("tunnel %s: %s", t->name, ok.addr);
		else if (t->type == TUNNEL_HTTPS_SNI)
			log_info("tunnel %s: serving %s on %s -> %s (TLS passed through "
				 "by name)", t->name, t->extra, ok.addr, target);
		else if (t->type == TUNNEL_HTTP_VHOST)
			log_info("tunnel %s: serving %.*s%s%s on %s -> %s (HTTP)", t->name,
			    t->extra[0] == '\0' || t->extra[0] == ';' ? 16
								    : (int)strcspn(t->extra, ";"),
			    t->extra[0] == '\0' || t->extra[0] == ';' ? "a random name" : t->extra,
			    strchr(t->extra, ';') ? " paths " : "",
			    strchr(t->extra, ';') ? strchr(t->extra, ';') + 1 : "", ok.addr,
			    target);
		else
			log_info("tunnel %s: listening on %s -> %s", t->name, ok.addr, target);
		return;
	}
	struct msg_error e;
	const char *why;
	if (msg_error_decode(f->payload, f->len, &e, &why) != 0)
		snprintf(e.text, sizeof e.text, "refused");
	log_warn("tunnel %s: registration failed: %s", t->name, e.text);
	snprintf(c->tunnels[i].why, sizeof c->tunnels[i].why, "%s", e.text);
	/* In use: the port, or a share another session still holds. Unreachable:
	 * a visit whose share is not connected yet. Both pass. */
	if (e.code == ERR_IN_USE || (e.code == ERR_UNREACHABLE &&
					t->type == TUNNEL_VISITOR)) {
		c->tunnels[i].retry = 1;
		if (!evtimer_pending(c->timer, NULL))
			event_add_ms(c->timer, REGISTER_RETRY_MS);
	}
}

/* ---- handshake and frames ---- */

/* The server refused us (token, version): stop for good and exit 1. */
static void
client_refused(struct client *c)
{
	c->exit_code = 1;
	client_shutdown(c);
	event_base_loopexit(c->base, NULL);
}

const struct hostport *
client_hop(const struct client *c)
{
	return c->cfg->proxy_kind != PROXY_NONE ? &c->cfg->proxy : &c->cfg->server;
}

struct proxy_dial *
client_tunnel(struct client *c, int fd, proxy_done_cb done, void *arg)
{
	const struct config *cfg = c->cfg;
	return proxy_dial_start(c->base, fd, cfg, cfg->server.host, cfg->server.port,
	    cfg->handshake_timeout_ms, done, arg);
}

struct conn *
client_conn_new(struct client *c, int fd)
{
	if (TRANSPORT_IS_HTTP(c->transport)) /* fd is -1: it dials per request */
		return conn_httpt_client(c->base, c->cfg, &c->addrs,
		    c->transport == TRANSPORT_HTTPS ? c->tls : NULL, c->ws_host);
	struct conn *conn = TRANSPORT_HAS_TLS(c->transport)
	    ? conn_tls_connect(c->base, fd, c->tls) : conn_tcp_new(c->base, fd);
	if (conn != NULL && TRANSPORT_HAS_WS(c->transport) &&
	    conn_ws_client(conn, c->ws_host, c->cfg->url_path) != 0) {
		conn_free(conn);
		return NULL;
	}
	return conn;
}

/* Host: as a browser sends it: host, and :port unless the scheme's own. */
static void
client_ws_host(struct client *c)
{
	const struct config *cfg = c->cfg;
	uint16_t own = TRANSPORT_HAS_TLS(c->transport) ? 443 : 80;
	if (cfg->host_header != NULL)
		snprintf(c->ws_host, sizeof c->ws_host, "%s", cfg->host_header);
	else if (cfg->server.port == own)
		snprintf(c->ws_host, sizeof c->ws_host,
		    strchr(cfg->server.host, ':') ? "[%s]" : "%s", cfg->server.host);
	else
		hostport_format(&cfg->server, c->ws_host, sizeof c->ws_host);
}

int
client_bind(struct client *c, struct conn *conn, struct handshake *hs,
    const char **why)
{
	uint8_t b[BINDING_LEN];
	if (!conn_is_tls(conn))
		return 0;
	if (!(hs->caps & CAP_TLS)) {
		/* Our TLS ends before the server. Behind a web server or CDN (wss)
		 * that is the setup; with tls it is someone we did not expect. */
		if (c->transport == TRANSPORT_WSS)
			return 0;
		*why = "the server does not terminate this TLS connection itself: "
		       "something in between does (for a server behind a TLS front "
		       "such as nginx or a CDN, use wss://)";
		return -1;
	}
	if (conn_channel_binding(conn, b) != 0) {
		*why = "no TLS channel binding";
		return -1;
	}
	hs_bind(hs, b);
	return 0;
}

/* Starts hs with a fresh nonce; the HELLO's length in buf, 0 if no randomness. */
size_t
client_hello(struct handshake *hs, enum hello_role role, struct conn *conn,
    uint8_t *buf)
{
	uint8_t nonce[NONCE_LEN];
	if (auth_nonce(nonce) != 0)
		return 0;
	return hs_client_hello(hs, role, nonce, conn_is_tls(conn) ? CAP_TLS : 0, buf);
}

static int
client_on_frame(struct session *s, const struct frame *f, void *arg,
    const char **why)
{
	struct client *c = arg;
	/* A certificate-only named client proves its name with an empty key. */
	const char *token = c->cfg->token ? c->cfg->token : "";
	struct msg_error e;

	switch (f->type) {
	case FRAME_HELLO: {
		uint16_t version;
		if (c->state != C_HANDSHAKE)
			return -1;
		if (hs_client_on_hello(&c->hs, f->payload, f->len, &version, why) != 0) {
			if (version == PROTO_VERSION)
				return -1;
			log_error("server speaks protocol version %u, this client %u",
			    version, PROTO_VERSION);
			client_refused(c);
			return 0;
		}
		const char *bwhy;
		if (client_bind(c, session_conn(s), &c->hs, &bwhy) != 0) {
			log_error("%s", bwhy);
			client_refused(c);
			return 0;
		}
		uint8_t buf[MSG_MAX];
		if (c->cfg->name == NULL) {
			session_send(s, FRAME_AUTH, 0, buf,
			    hs_client_auth(&c->hs, token, strlen(token), 0, buf));
			return 0;
		}
		if (!(c->hs.caps & CAP_NAMED)) {
			log_error("the server does not know named clients (--name)");
			client_refused(c);
			return 0;
		}
		session_send(s, FRAME_AUTH, 0, buf, hs_client_auth_named(&c->hs, token,
		    strlen(token), c->cfg->name, buf));
		return 0;
	}
	case FRAME_AUTH_OK: {
		uint32_t sid;
		int refused;
		if (c->state != C_HANDSHAKE)
			return -1;
		if (hs_client_on_auth_ok(&c->hs, f->payload, f->len, token,
			strlen(token), &sid, &refused, why) != 0) {
			if (!refused)
				return -1; /* malformed: a protocol error */
			log_error("authentication failed: the server did not prove it "
				  "knows the token");
			client_refused(c);
			return 0;
		}
		c->state = C_READY;
		c->backoff_ms = BACKOFF_START_MS;
		if (c->cfg->transport == TRANSPORT_AUTO) {
			log_info("transport auto: %s%s%s%s", transport_name(c->transport),
			    c->auto_why[0] ? " (" : "", c->auto_why, c->auto_why[0] ? ")" : "");
			c->auto_why[0] = '\0';
			if (c->transport != TRANSPORT_TCP)
				event_add_ms(c->auto_timer, c->cfg->auto_retry_ms);
		}
		hs_session_key(&c->hs, token, c->session_key);
		char label[64];
		snprintf(label, sizeof label, "session %u", sid);
		session_set_label(s, label);
		session_set_ready(s);
		log_info("session %u: authenticated to %s", sid, c->server_str);
		c->session_id = sid;
		for (size_t i = 0; i < c->cfg->ntunnels; i++)
			client_register(c, i);
		pool_fill(c);
		return 0;
	}
	case FRAME_ERROR:
	case FRAME_GOAWAY:
		if (msg_error_decode(f->payload, f->len, &e, why) != 0)
			return -1;
		if (e.code == ERR_AUTH || e.code == ERR_VERSION ||
		    (e.code == ERR_DENIED && c->state == C_HANDSHAKE)) {
			log_error("authentication failed: %s", e.text);
			client_refused(c);
			return 0;
		}
		log_warn("server says: %s", e.text);
		session_close(s, e.text);
		return 0;
	case FRAME_REGISTER_OK:
	case FRAME_REGISTER_ERR:
		if (c->state != C_READY)
			return -1;
		client_register_result(c, f);
		return 0;
	case FRAME_OPEN:
		if (c->state != C_READY)
			return -1;
		return client_open(c, f, why);
	case FRAME_UDP_OPEN:
	case FRAME_DGRAM:
	case FRAME_UDP_CLOSE:
		if (c->state != C_READY)
			return -1;
		return client_udp_frame(c, f, why);
	default:
		*why = "unexpected frame";
		return -1;
	}
}

static void
client_on_moved(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    struct conn *local, struct conn *data, uint64_t bytes, void *arg)
{
	struct client *c = arg;
	char label[MSG_NAME_MAX + 48];
	snprintf(label, sizeof label, "tunnel %s: stream %u",
	    c->cfg->tunnels[tunnel_id - 1].name, stream_id);
	log_debug("%s: moved to a dedicated connection after %llu bytes", label,
	    (unsigned long long)bytes);
	gauge_hold(c->moved);
	relay_workers_add(c->relays, data, local, c->session_id, c->moved, label);
}

static void
client_on_close(struct session *s, const char *reason, void *arg)
{
	struct client *c = arg;
	c->s = NULL;
	while (!LIST_EMPTY(&c->dials))
		dial_free(LIST_FIRST(&c->dials));
	while (!LIST_EMPTY(&c->data_conns))
		dc_free(LIST_FIRST(&c->data_conns));
	udp_table_clear(&c->udp);
	c->pool_announced = 0;
	OPENSSL_cleanse(c->session_key, sizeof c->session_key);
	if (c->relays)
		relay_workers_close_owner(c->relays, c->session_id);
	for (size_t i = 0; i < c->cfg->ntunnels; i++)
		c->tunnels[i].registered = c->tunnels[i].retry = 0;
	event_del(c->timer);
	event_del(c->auto_timer);
	if (c->state == C_STOPPED)
		return;
	if (c->auto_upgrade) {
		/* Ended on purpose, idle: from the best transport again, now. */
		c->auto_upgrade = 0;
		c->transport = TRANSPORT_TCP;
		client_ws_host(c);
		client_connect(c);
		return;
	}
	char *untrusted = c->tls ? tls_client_take_untrusted(c->tls) : NULL;
	if (untrusted != NULL) {
		/* Reconnecting will not make the server trustworthy. */
		log_error("tls: giving up on %s: %s", c->server_str, untrusted);
		free(untrusted);
		client_refused(c);
		return;
	}
	if (c->state == C_HANDSHAKE && client_auto_next(c, reason))
		return;
	log_warn("disconnected: %s", reason);
	client_backoff(c);
}

/*
 * auto: the transport in use got through to the server but not through
 * the handshake (a firewall or proxy that resets it, a web server that is
 * not burrow): the next one, at once. 0 when none is left.
 */
static int
client_auto_next(struct client *c, const char *why)
{
	if (c->cfg->transport != TRANSPORT_AUTO)
		return 0;
	size_t n = strlen(c->auto_why);
	snprintf(c->auto_why + n, sizeof c->auto_why - n, "%s%s: %s", n ? "; " : "",
	    transport_name(c->transport), why);
	if (c->transport == TRANSPORT_HTTP)
		return 0;
	c->transport++; /* tcp, tls, ws, wss, http: enum transport's order */
	client_ws_host(c);
	log_info("transport auto: %s: %s; trying %s", transport_name(c->transport - 1),
	    why, transport_name(c->transport));
	client_connect(c);
	return 1;
}

/*
 * auto, settled on a fallback: when no stream is open, end the session
 * and start again from the best transport; the network may let it through
 * now. Busy: ask again in a while.
 */
static void
client_auto_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (c->state != C_READY || c->s == NULL)
		return;
	if (session_stream_count(c->s) > 0 || gauge_count(c->moved) > 0) {
		event_add_ms(c->auto_timer, 5000);
		return;
	}
	log_info("transport auto: on %s, idle: trying the better ones again",
	    transport_name(c->transport));
	c->auto_upgrade = 1;
	session_send_error(c->s, FRAME_GOAWAY, 0, ERR_SHUTDOWN, "trying another transport");
	session_close_after_flush(c->s, "trying another transport");
}

/* ---- connecting ---- */

static void
client_backoff(struct client *c)
{
	uint32_t base = c->backoff_ms;
	if (base > c->cfg->reconnect_max_ms)
		base = c->cfg->reconnect_max_ms;
	uint32_t r = 0;
	if (auth_random(&r, sizeof r) != 0)
		r = 200;
	/* Jitter: 80% to 120% of the step, so clients do not march in step. */
	uint32_t delay = (uint32_t)((uint64_t)base * (800 + r % 401) / 1000);
	c->backoff_ms = base >= c->cfg->reconnect_max_ms / 2 ? c->cfg->reconnect_max_ms
							    : base * 2;
	c->state = C_BACKOFF;
	if (c->cfg->transport == TRANSPORT_AUTO) {
		/* The next round starts from the best one again. */
		if (c->auto_why[0] != '\0')
			log_warn("transport auto: none got through (%s)", c->auto_why);
		c->auto_why[0] = '\0';
		c->transport = TRANSPORT_TCP;
		client_ws_host(c);
	}
	log_info("reconnecting in %.1f s", delay / 1000.0);
	event_add_ms(c->timer, delay);
}

static void
client_connect_fail(struct client *c, const char *why)
{
	log_warn("connect %s: %s", c->server_str, why);
	client_backoff(c);
}

/* An address of the server refused or timed out; the next one is tried. */
static void
client_dial_each(const struct sockaddr *addr, const char *why, void *arg)
{
	struct client *c = arg;
	char a[ADDR_STR_MAX];
	sockaddr_format(addr, a, sizeof a);
	if (c->cfg->proxy_kind != PROXY_NONE)
		log_warn("connect %s: proxy %s: %s", c->server_str, a, why);
	else if (strcmp(a, c->server_str) != 0)
		log_warn("connect %s (%s): %s", c->server_str, a, why);
	else
		log_warn("connect %s: %s", c->server_str, why);
}

static void client_connected(struct client *c, int fd);

/* Through the proxy: the tunnel to the server is up, or why not. */
static void
client_tunneled(int fd, const char *why, void *arg)
{
	struct client *c = arg;
	char proxy[ADDR_STR_MAX];
	c->pdial = NULL;
	if (fd < 0) {
		hostport_format(&c->cfg->proxy, proxy, sizeof proxy);
		char text[ADDR_STR_MAX + 192];
		snprintf(text, sizeof text, "proxy %s: %s", proxy, why);
		/* auto: a proxy that refuses this tunnel may still carry the
		 * http transport, which needs none. */
		if (client_auto_next(c, text))
			return;
		client_connect_fail(c, text);
		return;
	}
	client_connected(c, fd);
}

static void
client_dialed(int fd, const struct sockaddr *addr, socklen_t addrlen,
    const char *why, void *arg)
{
	struct client *c = arg;
	c->dialer = NULL;
	if (fd < 0) {
		client_backoff(c); /* each address was logged */
		return;
	}
	memcpy(&c->server_addr.addr[0], addr, addrlen);
	c->server_addr.len[0] = addrlen;
	c->server_addr.n = 1;
	if (c->cfg->proxy_kind == PROXY_NONE) {
		client_connected(c, fd);
		return;
	}
	c->state = C_CONNECTING;
	c->pdial = client_tunnel(c, fd, client_tunneled, c);
	if (c->pdial == NULL)
		client_connect_fail(c, "out of memory");
}

/* A socket that reaches the server (directly or through the proxy). */
static void
client_connected(struct client *c, int fd)
{
	struct session_params p = {
	    .window = (uint32_t)c->cfg->window,
	    .window_max = (uint32_t)c->cfg->window_max,
	    .heartbeat_ms = c->cfg->heartbeat_ms,
	    .handshake_ms = c->cfg->handshake_timeout_ms,
	    .open_timeout_ms = c->cfg->open_timeout_ms,
	    .initiator_parity = 1,
	};
	char label[ADDR_STR_MAX + 16];
	snprintf(label, sizeof label, "session (%s)", c->server_str);
	struct conn *conn = client_conn_new(c, fd);
	c->s = conn ? session_new(c->base, conn, label, &p, &client_handler, c) : NULL;
	if (c->s == NULL) {
		conn_free(conn);
		client_connect_fail(c, "out of memory");
		return;
	}
	c->state = C_HANDSHAKE;
	uint8_t buf[MSG_MAX];
	size_t n = client_hello(&c->hs, HELLO_CONTROL, conn, buf);
	if (n == 0) {
		session_close(c->s, "no randomness");
		return;
	}
	session_send(c->s, FRAME_HELLO, 0, buf, n);
}

/* Every address of the server in turn (handshake_timeout each), then backoff. */
static void
client_dial(struct client *c)
{
	c->state = C_CONNECTING;
	if (TRANSPORT_IS_HTTP(c->transport)) {
		client_connected(c, -1); /* no socket of its own */
		return;
	}
	c->dialer = dialer_start(c->base, &c->addrs, c->cfg->handshake_timeout_ms,
	    client_dialed, client_dial_each, c);
	if (c->dialer == NULL)
		client_connect_fail(c, "out of memory");
}

static void
client_resolved_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct client *c = arg;
	if (err == EVUTIL_EAI_CANCEL)
		return;
	c->req = NULL;
	addr_list_take(&c->addrs, ai);
	if (c->addrs.n == 0) {
		client_connect_fail(c, err ? evutil_gai_strerror(err) : "no address");
		return;
	}
	client_dial(c);
}

static void
client_connect(struct client *c)
{
	const struct hostport *hop = client_hop(c);
	if (hop != &c->cfg->server) {
		char proxy[ADDR_STR_MAX];
		hostport_format(hop, proxy, sizeof proxy);
		log_info("connecting to %s via %s proxy %s", c->server_str,
		    proxy_kind_name(c->cfg->proxy_kind), proxy);
	} else {
		log_info("connecting to %s", c->server_str);
	}
	c->addrs.n = 0;
	if (sockaddr_from_numeric(hop->host, hop->port,
		&c->addrs.addr[0], &c->addrs.len[0]) == 0) {
		c->addrs.n = 1;
		client_dial(c);
		return;
	}
	c->state = C_RESOLVING;
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_ADDRCONFIG};
	char port[8];
	snprintf(port, sizeof port, "%u", hop->port);
	struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(c->dns,
	    hop->host, port, &hints, client_resolved_cb, c);
	if (req != NULL)
		c->req = req;
}

static void
client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (c->state == C_BACKOFF) {
		client_connect(c);
		return;
	}
	if (c->state == C_READY) {
		for (size_t i = 0; i < c->cfg->ntunnels; i++)
			if (c->tunnels[i].retry)
				client_register(c, i);
		pool_fill(c);
	}
}

struct client *
client_new(struct event_base *base, const struct config *cfg,
    struct tls_client *tls)
{
	struct client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->base = base;
	udp_table_init(&c->udp, base);
	c->cfg = cfg;
	c->tls = tls;
	c->backoff_ms = BACKOFF_START_MS;
	LIST_INIT(&c->dials);
	LIST_INIT(&c->data_conns);
	hostport_format(&cfg->server, c->server_str, sizeof c->server_str);
	c->transport = cfg->transport == TRANSPORT_AUTO ? TRANSPORT_TCP : cfg->transport;
	client_ws_host(c);
	c->tunnels = calloc(cfg->ntunnels, sizeof *c->tunnels);
	c->timer = event_new(base, -1, 0, client_timer_cb, c);
	c->auto_timer = evtimer_new(base, client_auto_timer_cb, c);
	c->moved = gauge_new();
	c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	c->relays = relay_workers_new(cfg->threads);
	if (c->tunnels == NULL || c->timer == NULL || c->dns == NULL ||
	    c->relays == NULL || c->auto_timer == NULL || c->moved == NULL) {
		client_free(c);
		return NULL;
	}
	targets_init(c);
	if (forwards_listen(c) != 0) {
		client_free(c);
		return NULL;
	}
	return c;
}

void
client_start(struct client *c)
{
	client_connect(c);
}

void
client_shutdown(struct client *c)
{
	if (c->state == C_STOPPED)
		return;
	c->state = C_STOPPED;
	event_del(c->timer);
	event_del(c->auto_timer);
	if (c->req) {
		evdns_getaddrinfo_cancel(c->req);
		c->req = NULL;
	}
	dialer_cancel(c->dialer);
	c->dialer = NULL;
	proxy_dial_cancel(c->pdial);
	c->pdial = NULL;
	if (c->s) {
		session_send_error(c->s, FRAME_GOAWAY, 0, ERR_SHUTDOWN,
		    "client shutting down");
		session_close_after_flush(c->s, "shutting down");
	}
	forwards_close(c);
	if (c->dns) {
		targets_cancel(c);
		evdns_base_free(c->dns, 0);
		c->dns = NULL;
	}
	if (c->relays) {
		relay_workers_free(c->relays);
		c->relays = NULL;
	}
}

int
client_exit_code(const struct client *c)
{
	return c->exit_code;
}

void
client_free(struct client *c)
{
	forwards_close(c);
	udp_table_clear(&c->udp);
	if (c->relays)
		relay_workers_free(c->relays);
	if (c->dns) {
		targets_cancel(c);
		evdns_base_free(c->dns, 0);
	}
	if (c->timer)
		event_free(c->timer);
	if (c->auto_timer)
		event_free(c->auto_timer);
	gauge_drop(c->moved);
	free(c->tunnels);
	free(c);
}
