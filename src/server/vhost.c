/*
 * The names clients serve on the shared ports, and the HTTPS port (--https).
 *
 * A name is exact ("app.example.com") or a wildcard ("*.dev.example.com":
 * one or more labels in front of dev.example.com); an exact name wins, then
 * the longest wildcard. On the HTTPS port (REGISTER kind HTTPS) each TLS
 * connection goes, still encrypted, to the tunnel that registered the
 * server name its ClientHello asks for (SNI), so the certificate and its
 * key stay with the client's service; an unknown name, or none, gets a TLS
 * alert (unrecognized_name), never another name's service. On the HTTP port
 * (kind HTTP, hproxy.c) a name also has a path prefix ("/" unless the
 * tunnel names paths), and within the chosen name the longest prefix that
 * takes the request's path wins.
 *
 * The names are a list: lookups are linear in the names registered, which
 * max_tunnels and the 512 bytes of a REGISTER's names bound per client. A
 * server with many clients would want a hash of the exact names here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "config/spec.h"
#include "proto/auth.h"
#include "proto/sni.h"
#include "server/server-t.h"
#include "transport/conn.h"
#include "transport/tls.h"
#include "util/evtime.h"
#include "util/log.h"

/* An HTTP name whose client went away answers 502 (not 404) this long;
 * at most this many such names are remembered (the oldest go). */
#define VHOST_GONE_MS (60 * 60 * 1000)
#define VHOST_GONE_MAX 4096

/* How long a client may take to send its ClientHello. */
#define SNIFF_TIMEOUT_MS 10000
/* Connections of the port still in their ClientHello: a new one closes the
 * oldest (as on the control port). */
#define SNIFF_MAX 256
/* What a ClientHello may take: it goes to the client as the stream's first
 * bytes. */
#define SNIFF_BUF STREAM_EARLY_MAX

struct vhost_name {
	char name[256];
	char path[VHOST_PATH_MAX]; /* HTTP: a path prefix; HTTPS: "" */
	int http;
	struct tunnel *t;
	LIST_ENTRY(vhost_name) link;
};

struct sniff {
	struct server *srv;
	int fd;
	struct event *ev;
	size_t len;
	char peer[ADDR_STR_MAX];
	struct sockaddr_storage sa;
	TAILQ_ENTRY(sniff) link;
	uint8_t buf[SNIFF_BUF];
};

static struct vhost_name *
vhost_find(struct server *srv, int http, const char *name, const char *path)
{
	struct vhost_name *v;
	LIST_FOREACH(v, &srv->vhosts, link)
		if (v->http == http && strcmp(v->name, name) == 0 &&
		    strcmp(v->path, path) == 0)
			return v;
	return NULL;
}

/* How well pattern takes host: 0 not at all, else more is better (exact
 * beats every wildcard, a longer wildcard a shorter one). */
static size_t
name_score(const char *pattern, const char *host, size_t hlen)
{
	if (strcmp(pattern, host) == 0)
		return (size_t)-1;
	if (strncmp(pattern, "*.", 2) != 0)
		return 0;
	size_t slen = strlen(pattern) - 1; /* ".suffix" */
	return hlen > slen && strcmp(host + hlen - slen, pattern + 1) == 0 ? slen : 0;
}

/* The best name of this kind for host, or NULL. */
static const char *
vhost_best_name(struct server *srv, int http, const char *host)
{
	struct vhost_name *v;
	const char *best = NULL;
	size_t hlen = strlen(host), bscore = 0;
	LIST_FOREACH(v, &srv->vhosts, link) {
		size_t sc = v->http == http ? name_score(v->name, host, hlen) : 0;
		if (sc > bscore) {
			best = v->name;
			bscore = sc;
		}
	}
	return best;
}

struct tunnel *
vhost_lookup(struct server *srv, const char *host)
{
	const char *name = vhost_best_name(srv, 0, host);
	struct vhost_name *v = name != NULL ? vhost_find(srv, 0, name, "") : NULL;
	return v != NULL ? v->t : NULL;
}

struct tunnel *
vhost_route(struct server *srv, const char *host, const char *path, int *known)
{
	const char *name = vhost_best_name(srv, 1, host);
	struct vhost_name *v, *best = NULL;
	size_t blen = 0;
	*known = name != NULL;
	if (name == NULL)
		return NULL;
	LIST_FOREACH(v, &srv->vhosts, link) {
		size_t plen = strlen(v->path);
		if (v->http && strcmp(v->name, name) == 0 && plen > blen &&
		    vhost_path_match(v->path, path)) {
			best = v;
			blen = plen;
		}
	}
	return best != NULL ? best->t : NULL;
}

/* ---- HTTP names whose client went away: 502, not 404, for a while ---- */

struct vhost_gone {
	char name[256];
	uint64_t at_ms;
	TAILQ_ENTRY(vhost_gone) link;
};

static void
gone_remove(struct server *srv, struct vhost_gone *g)
{
	TAILQ_REMOVE(&srv->vgone, g, link);
	srv->nvgone--;
	free(g);
}

static struct vhost_gone *
gone_find(struct server *srv, const char *name)
{
	struct vhost_gone *g, *next;
	uint64_t now = mono_ms();
	for (g = TAILQ_FIRST(&srv->vgone); g != NULL; g = next) {
		next = TAILQ_NEXT(g, link);
		if (now - g->at_ms > VHOST_GONE_MS)
			gone_remove(srv, g); /* oldest first: expired */
		else if (strcmp(g->name, name) == 0)
			return g;
	}
	return NULL;
}

static void
gone_add(struct server *srv, const char *name)
{
	struct vhost_gone *g = gone_find(srv, name);
	if (g != NULL)
		gone_remove(srv, g);
	if (srv->nvgone >= VHOST_GONE_MAX)
		gone_remove(srv, TAILQ_FIRST(&srv->vgone));
	if ((g = calloc(1, sizeof *g)) == NULL)
		return;
	snprintf(g->name, sizeof g->name, "%s", name);
	g->at_ms = mono_ms();
	TAILQ_INSERT_TAIL(&srv->vgone, g, link);
	srv->nvgone++;
}

int
vhost_gone(struct server *srv, const char *host)
{
	struct vhost_gone *g;
	if (gone_find(srv, host) != NULL)
		return 1;
	/* A wildcard that went away covers host too. */
	TAILQ_FOREACH(g, &srv->vgone, link)
		if (name_score(g->name, host, strlen(host)) > 0)
			return 1;
	return 0;
}

void
vhost_gone_clear(struct server *srv)
{
	while (!TAILQ_EMPTY(&srv->vgone))
		gone_remove(srv, TAILQ_FIRST(&srv->vgone));
}

/* Each name of a comma-separated list in turn, in name (NUL-terminated). */
static const char *
next_name(const char *p, char *name, size_t len)
{
	size_t n = strcspn(p, ",;");
	snprintf(name, len, "%.*s", (int)n, p);
	return p[n] == ',' ? p + n + 1 : p + n;
}

/* HTTP: the paths after the names' ';' ("/" when none), checked. */
static int
vhost_paths(const char *extra, int http, char *paths, size_t len, char *text,
    size_t textlen, uint16_t *code)
{
	const char *semi = strchr(extra, ';'), *why;
	snprintf(paths, len, "%s", http ? "/" : "");
	if (semi == NULL)
		return 0;
	if (!http || vhost_paths_parse(semi + 1, paths, len, &why) != 0) {
		*code = ERR_INVALID;
		snprintf(text, textlen, "bad paths '%.64s': %s", semi + 1,
		    http ? why : "an HTTPS tunnel has no paths");
		return -1;
	}
	return 0;
}

/* An exact name under the server's domain: open to clients without
 * domains: of their own (a wildcard there would catch the others' names:
 * the policy must allow it). */
static int
under_domain(const struct client_conn *cc, const char *name)
{
	const char *d = cc->srv->cfg->domain;
	size_t n = strlen(name), dn = d != NULL ? strlen(d) : 0;
	return d != NULL && !(cc->who && cc->who->domains.set) && n > dn + 1 &&
	    name[0] != '*' && name[n - dn - 1] == '.' && strcmp(name + n - dn, d) == 0;
}

/* A random label, free under the domain. */
static int
random_label(struct server *srv, char *out, size_t len)
{
	for (int tries = 0; tries < 8; tries++) {
		uint8_t r[5];
		char name[256];
		if (auth_random(r, sizeof r) != 0)
			return -1;
		snprintf(out, len, "%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4]);
		snprintf(name, sizeof name, "%s.%s", out, srv->cfg->domain);
		struct vhost_name *v;
		int taken = 0;
		LIST_FOREACH(v, &srv->vhosts, link)
			taken |= v->http && strcmp(v->name, name) == 0;
		if (!taken)
			return 0;
	}
	return -1;
}

/*
 * HTTP: extra's names with each lone label ("app") under the server's
 * domain, or a random label when there is no name, into out
 * (comma-separated, then extra's ';' and paths).
 */
static int
http_names(struct server *srv, const char *extra, char *out, size_t outlen,
    char *text, size_t textlen, uint16_t *code)
{
	const char *d = srv->cfg->domain;
	char name[256], label[16];
	size_t o = 0;
	*code = ERR_INVALID;
	out[0] = '\0';
	if (extra[0] == '\0' || extra[0] == ';') {
		if (d == NULL || random_label(srv, label, sizeof label) != 0) {
			snprintf(text, textlen, d == NULL ? "this server has no domain for "
			    "a random name: name one" : "no random name is free");
			return -1;
		}
		if ((size_t)snprintf(out, outlen, "%s.%s%s", label, d, extra) >= outlen) {
			snprintf(text, textlen, "names and paths too long");
			return -1;
		}
		return 0;
	}
	const char *p = extra;
	while (*p != '\0' && *p != ';') {
		p = next_name(p, name, sizeof name);
		int lone = strchr(name, '.') == NULL;
		if (lone && d == NULL) {
			snprintf(text, textlen, "'%.64s' needs the server's domain, and it "
			    "has none: name the whole host", name);
			return -1;
		}
		int n = snprintf(out + o, outlen - o, "%s%s%s%s", o ? "," : "", name,
		    lone ? "." : "", lone ? d : "");
		if (n < 0 || (size_t)n >= outlen - o) {
			snprintf(text, textlen, "names and paths too long");
			return -1;
		}
		o += (size_t)n;
	}
	if ((size_t)snprintf(out + o, outlen - o, "%s", p) >= outlen - o) {
		snprintf(text, textlen, "names and paths too long");
		return -1;
	}
	return 0;
}

/* Whether every (name, path) of extra is valid, allowed and free. */
static int
vhost_check(struct client_conn *cc, const char *extra, int http, const char *paths,
    char *text, size_t textlen, uint16_t *code)
{
	char name[256], path[VHOST_PATH_MAX];
	for (const char *p = extra; *p != '\0' && *p != ';';) {
		p = next_name(p, name, sizeof name);
		if (!vhost_name_valid(name)) {
			*code = ERR_INVALID;
			snprintf(text, textlen, "'%.64s' is not a host name", name);
			return -1;
		}
		if (!policy_name_allowed(cc, name) && !(http && under_domain(cc, name))) {
			*code = ERR_DENIED;
			snprintf(text, textlen, "%.200s is not among the names this client "
			    "may serve (domains)", name);
			return -1;
		}
		for (const char *q = paths; *q != '\0' || q == paths;) {
			q = next_name(q, path, sizeof path);
			struct vhost_name *v = vhost_find(cc->srv, http, name, path);
			if (v != NULL) {
				*code = ERR_IN_USE;
				snprintf(text, textlen, "%.200s%s is served by %s", name, path,
				    v->t->cc == cc ? "another tunnel of this client"
						   : "another client");
				return -1;
			}
			if (*q == '\0')
				break;
		}
	}
	return 0;
}

int
vhost_register(struct client_conn *cc, struct tunnel *t, const char *extra,
    char *text, size_t textlen, uint16_t *code)
{
	struct server *srv = cc->srv;
	int http = t->kind == TUNNEL_HTTP;
	char name[256], path[VHOST_PATH_MAX], paths[MSG_EXTRA_MAX + 1];
	char full[MSG_EXTRA_MAX + 1];
	if (http ? srv->http_lev == NULL && srv->certs == NULL : srv->https_lev == NULL) {
		*code = ERR_DENIED;
		snprintf(text, textlen, http ? "this server has no HTTP port (--http)"
					     : "this server has no HTTPS port (--https)");
		return -1;
	}
	if (http) {
		if (http_names(srv, extra, full, sizeof full, text, textlen, code) != 0)
			return -1;
		extra = full;
	}
	if (vhost_paths(extra, http, paths, sizeof paths, text, textlen, code) != 0 ||
	    vhost_check(cc, extra, http, paths, text, textlen, code) != 0)
		return -1;
	for (const char *p = extra; *p != '\0' && *p != ';';) {
		p = next_name(p, name, sizeof name);
		for (const char *q = paths; *q != '\0' || q == paths;) {
			q = next_name(q, path, sizeof path);
			struct vhost_name *v = calloc(1, sizeof *v);
			if (v == NULL) {
				vhost_unregister(t);
				*code = ERR_INTERNAL;
				snprintf(text, textlen, "out of memory");
				return -1;
			}
			snprintf(v->name, sizeof v->name, "%s", name);
			snprintf(v->path, sizeof v->path, "%s", path);
			v->http = http;
			struct vhost_gone *g = http ? gone_find(srv, name) : NULL;
			if (g != NULL)
				gone_remove(srv, g);
			v->t = t;
			LIST_INSERT_HEAD(&srv->vhosts, v, link);
			if (*q == '\0')
				break;
		}
	}
	if (http) { /* the URL of the first name */
		int tls = srv->http_lev == NULL;
		const char *port = strrchr(tls ? srv->https_addr : srv->http_addr, ':');
		int dflt = port == NULL || strcmp(port, tls ? ":443" : ":80") == 0;
		snprintf(text, textlen, "%s://%.*s%s/", tls ? "https" : "http",
		    (int)strcspn(extra, ",;"), extra, dflt ? "" : port);
		snprintf(t->extra, sizeof t->extra, "%s", extra); /* the names served */
	} else {
		snprintf(text, textlen, "%s", srv->https_addr);
	}
	return 0;
}

void
vhost_http_each(struct server *srv, void (*cb)(const char *names, void *arg),
    void *arg)
{
	struct client_conn *cc;
	struct tunnel *t;
	LIST_FOREACH(cc, &srv->clients, link)
		LIST_FOREACH(t, &cc->tunnels, link)
			if (t->kind == TUNNEL_HTTP)
				cb(t->extra, arg);
}

void
vhost_unregister(struct tunnel *t)
{
	struct server *srv = t->cc->srv;
	struct vhost_name *v, *next;
	for (v = LIST_FIRST(&srv->vhosts); v != NULL; v = next) {
		next = LIST_NEXT(v, link);
		if (v->t == t) {
			if (v->http)
				gone_add(srv, v->name);
			LIST_REMOVE(v, link);
			free(v);
		}
	}
}

/* ---- connections in their ClientHello ---- */

static void
sniff_free(struct sniff *sn, int close_fd)
{
	TAILQ_REMOVE(&sn->srv->sniffs, sn, link);
	sn->srv->nsniffs--;
	if (sn->ev != NULL)
		event_free(sn->ev);
	if (close_fd)
		close(sn->fd);
	free(sn);
}

/* Not routable: a fatal TLS alert (when it looked like TLS), then close. */
static void
sniff_refuse(struct sniff *sn, const char *host, const char *why, int alert)
{
	if (alert) {
		uint8_t a[7];
		size_t n = sni_alert(112, a); /* unrecognized_name */
		ssize_t w = write(sn->fd, a, n);
		(void)w; /* closing anyway */
	}
	log_limited(&sn->srv->lim_https, LOG_INFO, "https: connection from %s%s%s%s "
	    "refused: %s", sn->peer, host ? " for '" : "", host ? host : "",
	    host ? "'" : "", why);
	sniff_free(sn, 1);
}

/* A plain HTTP request on the HTTPS port: say so, as web servers do. */
static void
sniff_plain_http(struct sniff *sn)
{
	static const char body[] = "This port speaks HTTPS: use https://\n";
	char resp[256];
	int n = snprintf(resp, sizeof resp, "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: "
	    "close\r\n\r\n%s", sizeof body - 1, body);
	ssize_t w = write(sn->fd, resp, (size_t)n);
	(void)w; /* closing anyway */
	sniff_refuse(sn, NULL, "a plain HTTP request (400)", 0);
}

/*
 * Not passed through: a name an HTTP tunnel serves, with a certificate
 * here, is terminated and goes to the HTTP engine (hproxy.c) as https.
 */
static void
sniff_terminate(struct sniff *sn, const char *host)
{
	struct server *srv = sn->srv;
	if (vhost_best_name(srv, 1, host) == NULL) {
		sniff_refuse(sn, host, "no tunnel serves this name", 1);
		return;
	}
	SSL_CTX *ctx = certs_find(srv->certs, host);
	if (ctx == NULL) {
		sniff_refuse(sn, host, "an HTTP tunnel serves this name, but no "
		    "certificate here covers it (https_certs)", 1);
		return;
	}
	event_free(sn->ev);
	sn->ev = NULL;
	struct conn *u = conn_tls_accept(srv->base, sn->fd, ctx, sn->buf, sn->len);
	struct sockaddr_storage sa = sn->sa;
	sniff_free(sn, 0); /* the conn has fd (or closed it) */
	if (u != NULL)
		hproxy_take(srv, u, (struct sockaddr *)&sa, "https");
}

static void
sniff_route(struct sniff *sn, const char *host)
{
	if (host[0] == '\0') {
		sniff_refuse(sn, NULL, "no server name (SNI) in its ClientHello", 1);
		return;
	}
	struct tunnel *t = vhost_lookup(sn->srv, host);
	if (t == NULL) {
		sniff_terminate(sn, host);
		return;
	}
	int fd = sn->fd;
	char peer[ADDR_STR_MAX];
	snprintf(peer, sizeof peer, "%s", sn->peer);
	/* The stream copies the ClientHello; the tunnel owns fd from here. */
	event_free(sn->ev);
	sn->ev = NULL;
	tunnel_take(t, fd, peer, sn->buf, sn->len);
	sniff_free(sn, 0);
}

/* ---- an ACME server checking a TLS-ALPN-01 challenge (RFC 8737) ---- */

/* Its connection: the handshake, then whatever it says until it closes. */
struct alpn_probe {
	struct conn *c;
	struct event *timer;
};

static void
probe_free(struct alpn_probe *p)
{
	conn_free(p->c);
	event_free(p->timer);
	free(p);
}

static void
probe_read_cb(struct conn *c, void *arg)
{
	uint8_t buf[512];
	ssize_t n = conn_read(c, buf, sizeof buf);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		probe_free(arg);
}

static void
probe_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	probe_free(arg);
}

static void
sniff_acme(struct sniff *sn, const char *host)
{
	struct server *srv = sn->srv;
	SSL_CTX *ctx = acme_alpn_ctx(srv->acme, host);
	if (ctx == NULL) {
		sniff_refuse(sn, host, "acme-tls/1 for a name with no challenge pending", 1);
		return;
	}
	struct alpn_probe *p = calloc(1, sizeof *p);
	event_free(sn->ev);
	sn->ev = NULL;
	struct conn *c = p ? conn_tls_accept(srv->base, sn->fd, ctx, sn->buf, sn->len) : NULL;
	if (p == NULL)
		close(sn->fd);
	sniff_free(sn, 0);
	SSL_CTX_free(ctx); /* the connection holds its own reference */
	if (c == NULL || (p->timer = evtimer_new(srv->base, probe_timer_cb, p)) == NULL) {
		if (c != NULL)
			conn_free(c);
		free(p);
		return;
	}
	p->c = c;
	conn_set_cb(c, probe_read_cb, NULL, p);
	conn_want_read(c, 1);
	event_add_ms(p->timer, SNIFF_TIMEOUT_MS);
}

static void
sniff_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sniff *sn = arg;
	if (what & EV_TIMEOUT) {
		sniff_refuse(sn, NULL, "no ClientHello within 10 s", 0);
		return;
	}
	ssize_t n = read(fd, sn->buf + sn->len, sizeof sn->buf - sn->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_limited(&sn->srv->lim_https, LOG_DEBUG, "https: %s closed before "
		    "its ClientHello", sn->peer);
		sniff_free(sn, 1);
		return;
	}
	sn->len += (size_t)n;
	char host[256];
	const char *why = NULL;
	int acme_tls = 0;
	int r = sni_parse_alpn(sn->buf, sn->len, host, sizeof host, &acme_tls, &why);
	if (r == SNI_FOUND && acme_tls && sn->srv->acme != NULL)
		sniff_acme(sn, host);
	else if (r == SNI_FOUND)
		sniff_route(sn, host);
	else if (r == SNI_BAD && sn->buf[0] >= 'A' && sn->buf[0] <= 'Z')
		sniff_plain_http(sn);
	else if (r == SNI_BAD)
		sniff_refuse(sn, NULL, why, sn->buf[0] == 22);
	else if (sn->len == sizeof sn->buf)
		sniff_refuse(sn, NULL, "ClientHello over 16 KiB", 1);
}

static void
https_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	if (srv->nsniffs >= SNIFF_MAX) {
		struct sniff *old = TAILQ_FIRST(&srv->sniffs);
		log_limited(&srv->lim_https, LOG_WARN, "https: %d connections in their "
		    "ClientHello: the oldest, from %s, closed", SNIFF_MAX, old->peer);
		sniff_free(old, 1);
	}
	struct sniff *sn = malloc(sizeof *sn);
	if (sn == NULL) {
		close(fd);
		return;
	}
	sn->srv = srv;
	sn->fd = fd;
	sn->len = 0;
	memset(&sn->sa, 0, sizeof sn->sa);
	memcpy(&sn->sa, sa, (size_t)salen < sizeof sn->sa ? (size_t)salen : sizeof sn->sa);
	sockaddr_format(sa, sn->peer, sizeof sn->peer);
	TAILQ_INSERT_TAIL(&srv->sniffs, sn, link);
	srv->nsniffs++;
	sn->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, sniff_read_cb, sn);
	if (sn->ev == NULL) {
		sniff_free(sn, 1);
		return;
	}
	event_add_ms(sn->ev, SNIFF_TIMEOUT_MS);
}

static void
https_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	listener_backoff(lev, srv->https_retry, "https listener");
}

int
vhost_listen(struct server *srv)
{
	TAILQ_INIT(&srv->sniffs);
	if ((srv->cfg->https_certs != NULL || srv->acme != NULL) &&
	    (srv->certs = certs_new(srv->cfg->https_certs, acme_dir(srv->acme))) == NULL)
		return -1;
	if (server_port_listen(srv, &srv->cfg->https_listen, "https", https_accept_cb,
		https_error_cb, &srv->https_lev, &srv->https_retry, srv->https_addr,
		sizeof srv->https_addr) != 0)
		return -1;
	log_info("https listening on %s (TLS passed through by server name%s)",
	    srv->https_addr, srv->certs ? ", or terminated for HTTP tunnels' names" : "");
	return 0;
}

void
vhost_shutdown(struct server *srv)
{
	if (srv->https_lev != NULL)
		evconnlistener_free(srv->https_lev);
	if (srv->https_retry != NULL)
		event_free(srv->https_retry);
	srv->https_lev = NULL;
	srv->https_retry = NULL;
	certs_free(srv->certs);
	srv->certs = NULL;
	while (srv->nsniffs > 0)
		sniff_free(TAILQ_FIRST(&srv->sniffs), 1);
}
