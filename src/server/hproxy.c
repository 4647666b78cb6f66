/*
 * The shared HTTP port (--http): a reverse proxy in front of the clients'
 * HTTP tunnels (REGISTER kind HTTP). Each request goes to the tunnel its
 * Host and path name (vhost_route), on keep-alive connections too.
 *
 * A connection of the port (struct hconn) holds its user's socket and, while
 * it has a route, one end of a socketpair whose other end is an ordinary
 * stream of the tunnel (tunnel_take): the mux knows nothing of HTTP, as for
 * visits. One request is in flight at a time; a pipelined one waits unread
 * in the buffer, so responses never mix. The stream is kept while requests
 * go to the same tunnel, and replaced when one goes elsewhere.
 *
 * Both directions are framed by http-parser: the request to find where its
 * body ends, the response to find where it ends (a HEAD request's has no
 * body, 1xx come before the final one, 101 switches to raw bytes both ways,
 * a response without a length ends when the service closes). Bodies pass
 * through the two fixed buffers as they come, under the backpressure of
 * the sockets: nothing is buffered whole.
 *
 * Errors the user sees: 400 (bad head), 401 (basic auth), 404 (no tunnel
 * for the host or path), 405 (CONNECT), 431 (a head over 8 KiB, its target
 * included), 502 (the tunnel refused the
 * connection, or the service closed or answered garbage before its
 * response), 504 (no response within response_timeout). A head must be
 * whole within 10 s of its first byte (slow loris), and an idle keep-alive
 * connection is closed after 60 s; at most HC_WAITING_MAX connections wait
 * for a head, and a new one closes the oldest.
 *
 * Known limit: when a kept stream's service closes its end just as the next
 * request is sent, that request gets 502; it is not retried.
 */
#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "config/spec.h"
#include "proto/hdr.h"
#include "proto/hreq.h"
#include "proto/http.h"
#include "proto/vhead.h"
#include "server/server-t.h"
#include "transport/conn.h"
#include "transport/tcp.h"
#include "util/evtime.h"
#include "util/log.h"

#define HC_BUF 16384              /* each direction's buffer */
#define HC_HEAD_TIMEOUT_MS 10000  /* a request's first byte to its head's end */
#define HC_IDLE_MS 60000          /* keep-alive, no request */
#define HC_LINGER_MS 2000         /* reading what follows a final error */
#define HC_WAITING_MAX 1024
#define HC_OUT_HEAD (HTTP_HEAD_MAX + 2048) /* the head we forward, at most */

enum hc_state {
	HC_HEAD,    /* waiting for a request head (idle between requests too) */
	HC_REQUEST, /* a request is in flight: its body, then its response */
	HC_RAW,     /* upgraded (101): bytes both ways as they come */
	HC_LINGER,  /* a final answer sent: reading the rest until EOF */
};

struct hconn {
	struct server *srv;
	struct conn *u;      /* the user's: plain, or TLS terminated here */
	struct conn *s;      /* our end of the stream's socketpair, or NULL */
	struct event *timer;
	const char *proto;   /* "http" or "https" */
	enum hc_state st;
	uint64_t route;      /* the serial of the tunnel s goes to */
	uint64_t auth_serial; /* basic auth passed for this tunnel with ... */
	uint8_t auth_digest[SHA256_DIGEST_LENGTH]; /* ... this Authorization */
	unsigned waiting : 1, head_started : 1, req_done : 1, resp_started : 1,
	    resp_done : 1, req_head : 1, keep_alive : 1, u_eof : 1, s_eof : 1,
	    s_shut : 1, u_shut : 1, upgrade : 1,
	    resp_fwd : 1; /* bytes of the response went to the user's buffer */
	http_parser req, resp;
	char peer[ADDR_STR_MAX];
	char ip[ADDR_HOST_MAX];
	uint16_t port;
	int trusted;
	char host[HTTP_HOST_MAX];
	uint8_t *pend;       /* the forwarded head's bytes s did not take yet */
	size_t pend_off, pend_len;
	/* in: [in_off, in_fwd) goes to the service, [in_fwd, in_len) is not
	 * parsed yet (the body's next bytes, or the next request). */
	size_t in_off, in_fwd, in_len;
	/* out: [out_off, out_len) goes to the user; [out_len, out_len + held)
	 * is a response head still coming, held to be rewritten. */
	size_t out_off, out_len, held;
	struct msg_hopt *rh; /* the route's response_headers options, or NULL */
	uint8_t nrh;
	unsigned rewrite : 1; /* the final response's head is still to rewrite */
	TAILQ_ENTRY(hconn) wlink;
	LIST_ENTRY(hconn) link;
	uint8_t in[HC_BUF];
	uint8_t out[HC_BUF];
};

static void hc_service_read_cb(struct conn *c, void *arg);
static void hc_write_cb(struct conn *c, void *arg);
static void hc_set_callbacks(struct hconn *hc);

/* ---- life ---- */

static void
hc_wait_unlink(struct hconn *hc)
{
	if (!hc->waiting)
		return;
	TAILQ_REMOVE(&hc->srv->hwaiting, hc, wlink);
	hc->srv->nhwaiting--;
	hc->waiting = 0;
}

static void
hc_stream_close(struct hconn *hc)
{
	if (hc->s == NULL)
		return;
	conn_free(hc->s);
	hc->s = NULL;
	hc->s_eof = hc->s_shut = 0;
	free(hc->pend);
	hc->pend = NULL;
	hc->pend_off = hc->pend_len = 0;
}

/* The one teardown of a connection. */
static void
hc_free(struct hconn *hc)
{
	hc_wait_unlink(hc);
	hc_stream_close(hc);
	LIST_REMOVE(hc, link);
	free(hc->rh);
	if (hc->timer != NULL)
		event_free(hc->timer);
	conn_free(hc->u);
	free(hc);
}

/* ---- answers of our own ---- */

static const char *
status_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/*
 * Ends the exchange with an answer of ours (when nothing of the service's
 * response has gone to the user yet; else just closes): written, then the
 * connection lingers reading until EOF, so the user reads the answer
 * rather than a reset for its unread bytes.
 */
/*
 * The exchange ends with an answer of ours, the connection then lingers:
 * its stream closed, what the user sent dropped. 1 if the answer may go
 * (out is empty for it), 0 when part of the service's response went out
 * already (the user then sees the end).
 */
static int
hc_last_answer(struct hconn *hc)
{
	hc_stream_close(hc);
	hc_wait_unlink(hc);
	hc->st = HC_LINGER;
	hc->in_off = hc->in_fwd = hc->in_len = 0;
	hc->held = 0;
	event_add_ms(hc->timer, HC_LINGER_MS);
	hc->out_off = hc->out_len = 0;
	return !hc->resp_fwd;
}

static void hc_failx(struct hconn *hc, int status, const char *extra,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define hc_fail(hc, status, ...) hc_failx(hc, status, "", __VA_ARGS__)

static void
hc_failx(struct hconn *hc, int status, const char *extra, const char *fmt, ...)
{
	if (!hc_last_answer(hc))
		return;
	char body[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	hc->out_off = 0;
	hc->out_len = http_response((char *)hc->out, sizeof hc->out, status,
	    status_reason(status), extra, body);
}

/* ---- the request head ---- */

/* t's response_headers options, for the response to come (copied: the
 * tunnel may go while it comes). 0, or -1 out of memory. */
static int
hc_response_opts(struct hconn *hc, const struct tunnel *t)
{
	uint8_t n = 0;
	for (uint8_t i = 0; i < t->nhopts; i++)
		n += t->hopts[i].key == HOPT_RESP_SET || t->hopts[i].key == HOPT_RESP_REMOVE;
	if (n != hc->nrh) {
		free(hc->rh);
		hc->rh = n > 0 ? malloc(n * sizeof *hc->rh) : NULL;
		hc->nrh = hc->rh != NULL ? n : 0;
		if (n > 0 && hc->rh == NULL)
			return -1;
	}
	n = 0;
	for (uint8_t i = 0; i < t->nhopts; i++)
		if (t->hopts[i].key == HOPT_RESP_SET || t->hopts[i].key == HOPT_RESP_REMOVE)
			hc->rh[n++] = t->hopts[i];
	hc->rewrite = hc->nrh > 0;
	return 0;
}

static int
req_message_complete(http_parser *p)
{
	struct hconn *hc = p->data;
	hc->req_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
resp_headers_complete(http_parser *p)
{
	struct hconn *hc = p->data;
	/* A HEAD's response has no body, whatever its length says; 1xx too. */
	return hc->req_head && p->status_code >= 200 ? 1 : 0;
}

static int
resp_message_complete(http_parser *p)
{
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings req_settings = {
    .on_message_complete = req_message_complete};
static const http_parser_settings resp_settings = {
    .on_headers_complete = resp_headers_complete,
    .on_message_complete = resp_message_complete};

/* ---- the tunnel's options ---- */

/* What t's options do to a request, for vhead_rewrite. */
struct hview {
	const char *host;
	const char *set[MSG_HOPTS_MAX + 1];
	const char *remove[MSG_HOPTS_MAX + 2];
	int auth;
};

static void
hview_of(const struct tunnel *t, struct hview *v)
{
	size_t ns = 0, nr = 0;
	v->host = NULL;
	v->auth = 0;
	for (uint8_t i = 0; i < t->nhopts; i++) {
		const struct msg_hopt *o = &t->hopts[i];
		if (o->key == HOPT_HOST)
			v->host = o->value;
		else if (o->key == HOPT_SET)
			v->set[ns++] = o->value;
		else if (o->key == HOPT_REMOVE)
			v->remove[nr++] = o->value;
		else if (o->key == HOPT_AUTH)
			v->auth = 1;
	}
	if (v->auth) /* the credentials are the edge's, not the service's */
		v->remove[nr++] = "Authorization";
	v->set[ns] = NULL;
	v->remove[nr] = NULL;
}

/* Whether "user:password" is one of t's users: crypt(3) again (slow on
 * purpose: a few ms). */
static int
auth_match(const struct tunnel *t, const char *cred, size_t len)
{
	static struct crypt_data cd; /* 32 KiB: the loop's thread only */
	const char *colon = memchr(cred, ':', len);
	if (colon == NULL)
		return 0;
	size_t ulen = (size_t)(colon - cred);
	char pass[256];
	if (len - ulen - 1 >= sizeof pass)
		return 0;
	memcpy(pass, colon + 1, len - ulen - 1);
	pass[len - ulen - 1] = '\0';
	int ok = 0;
	for (uint8_t i = 0; i < t->nhopts && !ok; i++) {
		const char *v = t->hopts[i].value;
		if (t->hopts[i].key != HOPT_AUTH || strncmp(v, cred, ulen) != 0 ||
		    v[ulen] != ':')
			continue;
		const char *hash = v + ulen + 1;
		memset(&cd, 0, sizeof cd);
		const char *got = crypt_r(pass, hash, &cd);
		ok = got != NULL && got[0] != '*' && strlen(got) == strlen(hash) &&
		    CRYPTO_memcmp(got, hash, strlen(hash)) == 0;
	}
	OPENSSL_cleanse(pass, sizeof pass);
	return ok;
}

/* Basic auth for t: 1 if the request's Authorization names a user of t
 * (remembered for the connection, so keep-alive requests do not pay
 * crypt again). */
static int
hc_authorized(struct hconn *hc, const struct tunnel *t, const char *head, size_t n)
{
	size_t vlen, clen;
	const char *v = hdr_find(head, n, "Authorization", &vlen);
	if (v == NULL)
		return 0;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)v, vlen, digest);
	if (hc->auth_serial == t->serial &&
	    CRYPTO_memcmp(digest, hc->auth_digest, sizeof digest) == 0)
		return 1;
	char cred[3 * 128 + 4];
	if (basic_auth_decode(v, vlen, cred, sizeof cred, &clen) != 0)
		return 0;
	int ok = auth_match(t, cred, clen);
	OPENSSL_cleanse(cred, sizeof cred);
	if (ok) {
		memcpy(hc->auth_digest, digest, sizeof digest);
		hc->auth_serial = t->serial;
	}
	return ok;
}

/* A stream to t: the socketpair, its events. 0, or -1 (logged). */
static int
hc_stream_open(struct hconn *hc, struct tunnel *t)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	if (tunnel_take(t, sv[1], hc->peer, NULL, 0) != 0) { /* closed sv[1] */
		close(sv[0]);
		return -1;
	}
	if ((hc->s = conn_tcp_new(hc->srv->base, sv[0])) == NULL)
		return -1;
	hc->route = t->serial;
	conn_set_cb(hc->s, hc_service_read_cb, hc_write_cb, hc);
	return 0;
}

/* Sends the forwarded head: what s does not take now waits in pend. */
static int
hc_send_head(struct hconn *hc, const uint8_t *p, size_t n)
{
	ssize_t w = conn_write(hc->s, p, n);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return -1;
	size_t done = w > 0 ? (size_t)w : 0;
	if (done == n)
		return 0;
	if ((hc->pend = malloc(n - done)) == NULL)
		return -1;
	memcpy(hc->pend, p + done, n - done);
	hc->pend_off = 0;
	hc->pend_len = n - done;
	return 0;
}

/* An ACME server's HTTP-01 check for a certificate being ordered: answered
 * here (then the connection ends). 1 if it was one. */
static int
hc_acme(struct hconn *hc, const char *path)
{
	static const char prefix[] = "/.well-known/acme-challenge/";
	char keyauth[256];
	if (strncmp(path, prefix, sizeof prefix - 1) != 0 ||
	    !acme_challenge(hc->srv->acme, hc->host, path + sizeof prefix - 1, keyauth,
		sizeof keyauth))
		return 0;
	hc_last_answer(hc); /* a new request: nothing went out yet */
	int n = snprintf((char *)hc->out, sizeof hc->out, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", strlen(keyauth), keyauth);
	hc->out_len = (size_t)n;
	return 1;
}

/* A whole head at in_off: routed and forwarded, or answered. 0, or -1 when
 * hc is now failing. */
static int
hc_request(struct hconn *hc, const struct http_head *h, size_t head_len)
{
	struct server *srv = hc->srv;
	const char *head = (const char *)hc->in + hc->in_off;
	if (h->method == HTTP_CONNECT) {
		hc_fail(hc, 405, "This is not a forward proxy.\n");
		return -1;
	}
	if (h->host[0] == '\0' || http_host_name(h->host, hc->host, sizeof hc->host) != 0) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: no usable Host (400)",
		    hc->peer);
		hc_fail(hc, 400, "No usable Host header.\n");
		return -1;
	}
	if (srv->acme != NULL && hc_acme(hc, h->path))
		return -1;
	int known = 0;
	struct tunnel *t = vhost_route(srv, hc->host, h->path, &known);
	if (t == NULL && !known && vhost_gone(srv, hc->host)) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s%s: the client that "
		    "served this name is offline (502)", hc->peer, hc->host, h->path);
		hc_fail(hc, 502, "The client serving %s is offline.\n", hc->host);
		return -1;
	}
	if (t == NULL) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s%s: no tunnel serves "
		    "this %s (404)", hc->peer, hc->host, h->path, known ? "path" : "host");
		hc_fail(hc, 404, known ? "No tunnel serves this path on %s.\n"
				       : "No tunnel serves %s.\n", hc->host);
		return -1;
	}
	struct hview hv;
	hview_of(t, &hv);
	if (hv.auth && !hc_authorized(hc, t, head, head_len)) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s%s: no valid "
		    "credentials (401)", hc->peer, hc->host, h->path);
		hc_failx(hc, 401, "WWW-Authenticate: Basic realm=\"burrow\", "
		    "charset=\"UTF-8\"\r\n", "Authentication required.\n");
		return -1;
	}
	uint8_t fwd[HC_OUT_HEAD];
	size_t fwd_len = 0;
	const char *why = NULL;
	struct vhead_ctx c = {.client_ip = hc->ip, .client_port = hc->port,
	    .proto = hc->proto, .trusted = hc->trusted, .host_rewrite = hv.host,
	    .set = hv.set, .remove = hv.remove};
	int st = vhead_rewrite(head, head_len, h, &c, fwd, sizeof fwd, &fwd_len, &why);
	if (st != 0) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s (%d)", hc->peer, why, st);
		hc_fail(hc, st, "%s.\n", why);
		return -1;
	}
	/* The request's framing, before anything goes out: the head again
	 * through the body's parser (which refuses, e.g., a length and chunks
	 * at once). */
	http_parser_init(&hc->req, HTTP_REQUEST);
	hc->req.data = hc;
	hc->req_done = 0;
	size_t used = http_parser_execute(&hc->req, &req_settings, head, head_len);
	if (hc->req_done)
		http_parser_pause(&hc->req, 0);
	else if (used != head_len || HTTP_PARSER_ERRNO(&hc->req) != HPE_OK) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s: bad request framing "
		    "(%s) (400)", hc->peer, hc->host,
		    http_errno_name(HTTP_PARSER_ERRNO(&hc->req)));
		hc_fail(hc, 400, "Bad request.\n");
		return -1;
	}
	if (hc->s != NULL && (hc->route != t->serial || hc->s_eof))
		hc_stream_close(hc);
	if (hc->s == NULL && hc_stream_open(hc, t) != 0) {
		hc_fail(hc, 502, "The tunnel for %s refused the connection.\n", hc->host);
		return -1;
	}
	if (hc_send_head(hc, fwd, fwd_len) != 0) {
		log_limited(&srv->lim_http, LOG_INFO, "http: %s: %s: the stream ended "
		    "(502)", hc->peer, hc->host);
		hc_fail(hc, 502, "The service of %s is not reachable.\n", hc->host);
		return -1;
	}
	hc->in_off += head_len;
	hc->in_fwd = hc->in_off;
	http_parser_init(&hc->resp, HTTP_RESPONSE);
	hc->resp.data = hc;
	hc->req_head = h->method == HTTP_HEAD;
	hc->keep_alive = h->keep_alive;
	hc->upgrade = hc->req.upgrade ? 1 : 0;
	hc->resp_started = hc->resp_done = hc->resp_fwd = 0;
	hc->held = 0;
	if (hc_response_opts(hc, t) != 0) {
		hc_fail(hc, 502, "Out of memory.\n");
		return -1;
	}
	hc->st = HC_REQUEST;
	hc_wait_unlink(hc);
	/* response_timeout runs from the request's end: an upload may take long. */
	if (hc->req_done)
		event_add_ms(hc->timer, srv->cfg->response_timeout_ms);
	else
		event_del(hc->timer);
	log_debug("http: %s: %s %s%s -> tunnel %s", hc->peer,
	    http_method_name(h->method), hc->host, h->path, t->name);
	return 0;
}

/* HC_HEAD: a whole head in the buffer is taken. */
static int
hc_head(struct hconn *hc)
{
	size_t avail = hc->in_len - hc->in_off;
	if (avail == 0)
		return 0;
	if (!hc->head_started) {
		hc->head_started = 1;
		event_add_ms(hc->timer, HC_HEAD_TIMEOUT_MS);
	}
	struct http_head h;
	char target[HTTP_HEAD_MAX];
	size_t head_len = 0;
	int status = 400;
	const char *why = NULL;
	int r = http_proxy_head_parse(hc->in + hc->in_off, avail, &h, target,
	    sizeof target, &head_len, &status, &why);
	if (r == 0)
		return 0;
	if (r < 0) {
		log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s (%d)", hc->peer,
		    why, status);
		hc_fail(hc, status, "%s.\n", why);
		return -1;
	}
	return hc_request(hc, &h, head_len);
}

/* HC_REQUEST: the body's bytes as far as they go. -1 when failing. */
static int
hc_body(struct hconn *hc)
{
	if (hc->req_done || hc->in_fwd == hc->in_len)
		return 0;
	size_t n = hc->in_len - hc->in_fwd;
	size_t used = http_parser_execute(&hc->req, &req_settings,
	    (const char *)hc->in + hc->in_fwd, n);
	if (hc->req_done) {
		http_parser_pause(&hc->req, 0);
		if (!hc->resp_started)
			event_add_ms(hc->timer, hc->srv->cfg->response_timeout_ms);
	}
	else if (HTTP_PARSER_ERRNO(&hc->req) != HPE_OK) {
		log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s: bad request "
		    "body (%s)", hc->peer, hc->host,
		    http_errno_name(HTTP_PARSER_ERRNO(&hc->req)));
		hc_fail(hc, 400, "Bad request body.\n");
		return -1;
	}
	hc->in_fwd += used;
	return 0;
}

/* ---- the response ---- */

/*
 * The tunnel's response_headers on the final response's head, which starts
 * at out + out_len + off (of n unparsed bytes there): rewritten in place
 * (n follows). 1 done or not wanted (a 1xx head), 0 more bytes needed (n -
 * off held), -1 failing.
 */
static int
hc_rewrite_head(struct hconn *hc, size_t off, size_t *n)
{
	char *p = (char *)hc->out + hc->out_len + off;
	size_t avail = *n - off, head_len = 0, new_len = 0;
	struct http_head h;
	int st = 0;
	const char *why = NULL;
	int r = http_head_parse((const uint8_t *)p, avail, HTTP_HEAD_RESPONSE, &h,
	    &head_len, &st, &why);
	if (r == 0 && hc->out_len + *n == sizeof hc->out && hc->out_off == 0)
		why = "response head too long to rewrite";
	else if (r == 0)
		return 0;
	if (r == 1 && h.status < 200)
		return 1; /* only the final response's head */
	uint8_t tmp[HTTP_HEAD_MAX + MSG_HOPTS_MAX * (MSG_HOPT_LEN + 2) + 4];
	const char *set[MSG_HOPTS_MAX + 1], *rm[MSG_HOPTS_MAX + 1];
	size_t ns = 0, nr = 0;
	for (uint8_t i = 0; i < hc->nrh; i++) {
		if (hc->rh[i].key == HOPT_RESP_SET)
			set[ns++] = hc->rh[i].value;
		else if (hc->rh[i].key == HOPT_RESP_REMOVE)
			rm[nr++] = hc->rh[i].value;
	}
	set[ns] = rm[nr] = NULL;
	if (r == 1 && vhead_response(p, head_len, rm, set, tmp, sizeof tmp, &new_len,
			  &why) == 0 &&
	    hc->out_len + off + new_len + (avail - head_len) > sizeof hc->out)
		why = "response head too long to rewrite";
	else if (r == 1 && why == NULL) {
		memmove(p + new_len, p + head_len, avail - head_len);
		memcpy(p, tmp, new_len);
		*n = *n - head_len + new_len;
		hc->rewrite = 0;
		return 1;
	}
	log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s: %s (502)", hc->peer,
	    hc->host, why ? why : "the service's response is not HTTP");
	hc_fail(hc, 502, "The service of %s answered garbage.\n", hc->host);
	return -1;
}

/* Parses n new bytes at out_len; what belongs to the response goes to the
 * user. 0, or -1 when failing. */
static int
hc_response(struct hconn *hc, size_t n)
{
	size_t done = 0;
	if (!hc->resp_started) {
		hc->resp_started = 1;
		event_del(hc->timer);
	}
	while (done < n && !hc->resp_done) {
		if (hc->rewrite) {
			int r = hc_rewrite_head(hc, done, &n);
			if (r < 0)
				return -1;
			if (r == 0) {
				hc->held = n - done;
				break;
			}
		}
		const char *p = (const char *)hc->out + hc->out_len;
		size_t used = http_parser_execute(&hc->resp, &resp_settings, p + done,
		    n - done);
		done += used;
		enum http_errno e = HTTP_PARSER_ERRNO(&hc->resp);
		if (e == HPE_OK && used == 0)
			e = HPE_UNKNOWN; /* stuck: not a response we can frame */
		if (e == HPE_PAUSED) {
			http_parser_pause(&hc->resp, 0);
			int status = hc->resp.status_code;
			if (status == 101 && hc->upgrade) {
				hc->st = HC_RAW;
				hc->resp_fwd = 1;
				hc->out_len += n; /* the rest is the new protocol's */
				hc->in_fwd = hc->in_len;
				log_debug("http: %s: %s: upgraded", hc->peer, hc->host);
				return 0;
			}
			if (status >= 200 || status == 101)
				hc->resp_done = 1;
		} else if (e != HPE_OK) {
			log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s: the "
			    "service's response is not HTTP (%s)%s", hc->peer, hc->host,
			    http_errno_name(e), hc->out_len > 0 ? "" : " (502)");
			hc_fail(hc, 502, "The service of %s answered garbage.\n", hc->host);
			return -1;
		}
	}
	hc->out_len += done;
	if (done > 0)
		hc->resp_fwd = 1;
	if (done < n && hc->held == 0) /* after its response: nothing was asked */
		hc_stream_close(hc);
	return 0;
}

/* The service closed its end. 0, or -1 when failing. */
static int
hc_service_eof(struct hconn *hc)
{
	hc->s_eof = 1;
	if (hc->st == HC_RAW)
		return 0;
	if (hc->st != HC_REQUEST || hc->resp_done) {
		hc_stream_close(hc); /* an idle kept stream */
		return 0;
	}
	if (!hc->resp_started) {
		log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s: the service "
		    "closed without a response (502; the client's log says why)",
		    hc->peer, hc->host);
		hc_fail(hc, 502, "The service of %s closed the connection without "
		    "a response.\n", hc->host);
		return -1;
	}
	http_parser_execute(&hc->resp, &resp_settings, NULL, 0);
	if (HTTP_PARSER_ERRNO(&hc->resp) == HPE_PAUSED) {
		hc->resp_done = 1; /* ended by the close */
		hc->keep_alive = 0;
		hc_stream_close(hc);
		return 0;
	}
	log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: %s: the service closed "
	    "in the middle of its response", hc->peer, hc->host);
	hc_fail(hc, 502, "%s", ""); /* resp_started: closes */
	return -1;
}

/* ---- I/O ---- */

/* Reads into buf[*len, cap): 1 bytes, 0 EOF or error (*err), -1 again. */
static int
read_some(struct conn *c, uint8_t *buf, size_t *len, size_t cap, int *err)
{
	ssize_t n = conn_read(c, buf + *len, cap - *len);
	if (n > 0) {
		*len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -1;
	*err = n < 0 ? errno : 0;
	return 0;
}

/* Writes buf[*off, end): 0 (maybe partly), or -1 on an error. */
static int
write_some(struct conn *c, const uint8_t *buf, size_t *off, size_t end)
{
	if (*off == end)
		return 0;
	ssize_t n = conn_write(c, buf + *off, end - *off);
	if (n > 0)
		*off += (size_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return -1;
	return 0;
}

static void
hc_compact_in(struct hconn *hc)
{
	if (hc->in_off == 0)
		return;
	memmove(hc->in, hc->in + hc->in_off, hc->in_len - hc->in_off);
	hc->in_fwd -= hc->in_off;
	hc->in_len -= hc->in_off;
	hc->in_off = 0;
}

/* User bytes: -1 if hc was freed. */
static int
hc_read_user(struct hconn *hc)
{
	if (hc->in_len == sizeof hc->in)
		hc_compact_in(hc);
	int err = 0;
	int r = read_some(hc->u, hc->in, &hc->in_len, sizeof hc->in, &err);
	if (r != 0)
		return 0;
	hc->u_eof = 1;
	if (hc->st == HC_LINGER || hc->st == HC_HEAD ||
	    (hc->st == HC_REQUEST && !hc->req_done) || err != 0) {
		if (hc->st == HC_REQUEST && !hc->req_done)
			log_limited(&hc->srv->lim_http, LOG_DEBUG, "http: %s: %s: closed "
			    "in the middle of a request", hc->peer, hc->host);
		hc_free(hc);
		return -1;
	}
	return 0;
}

/* Service bytes: -1 if hc is failing or was freed. */
static int
hc_read_service(struct hconn *hc)
{
	if (hc->out_len + hc->held == sizeof hc->out && hc->out_off > 0) {
		memmove(hc->out, hc->out + hc->out_off,
		    hc->out_len + hc->held - hc->out_off);
		hc->out_len -= hc->out_off;
		hc->out_off = 0;
	}
	size_t len = hc->out_len + hc->held;
	int err = 0;
	int r = read_some(hc->s, hc->out, &len, sizeof hc->out, &err);
	if (r < 0)
		return 0;
	if (r == 0)
		return hc_service_eof(hc);
	size_t n = len - hc->out_len; /* the held bytes and the new */
	hc->held = 0;
	if (hc->st == HC_RAW) {
		hc->out_len = len;
		return 0;
	}
	if (hc->st != HC_REQUEST || hc->resp_done) {
		hc_stream_close(hc); /* bytes nobody asked for */
		return 0;
	}
	return hc_response(hc, n);
}

/* The next request on the same connection, or its end. -1 if freed. */
static int
hc_exchange_done(struct hconn *hc)
{
	int http_ka = http_should_keep_alive(&hc->resp);
	/* A service's "Connection: close" reached the user, who closes too. */
	if (!hc->req_done || !hc->keep_alive || !http_ka || hc->u_eof) {
		hc_free(hc);
		return -1;
	}
	hc->st = HC_HEAD;
	hc->head_started = 0;
	hc->resp_started = hc->resp_done = hc->resp_fwd = 0;
	hc->in_fwd = hc->in_off;
	TAILQ_INSERT_TAIL(&hc->srv->hwaiting, hc, wlink);
	hc->srv->nhwaiting++;
	hc->waiting = 1;
	event_add_ms(hc->timer, HC_IDLE_MS);
	return 0;
}

/* RAW: EOF one way is a shutdown the other once its bytes are out. -1 if
 * freed. */
static int
hc_raw_eofs(struct hconn *hc)
{
	if (hc->u_eof && !hc->s_shut && hc->in_off == hc->in_len && hc->s != NULL &&
	    conn_shutdown(hc->s) == 0)
		hc->s_shut = 1;
	if (hc->s_eof && !hc->u_shut && hc->out_off == hc->out_len &&
	    conn_shutdown(hc->u) == 0)
		hc->u_shut = 1;
	if ((hc->u_eof && hc->s_eof) || hc->s == NULL) {
		hc_free(hc);
		return -1;
	}
	return 0;
}

/* Everything that can be done now, then the events for the rest. */
static void
hc_step(struct hconn *hc, int u_readable, int s_readable)
{
	if (u_readable && hc_read_user(hc) < 0)
		return;
	for (;;) {
		if (hc->st == HC_LINGER) {
			hc->in_off = hc->in_fwd = hc->in_len = 0; /* discarded */
			if (write_some(hc->u, hc->out, &hc->out_off, hc->out_len) != 0 ||
			    hc->u_eof) {
				hc_free(hc);
				return;
			}
			if (hc->out_off == hc->out_len && !hc->u_shut &&
			    conn_shutdown(hc->u) == 0)
				hc->u_shut = 1;
			break;
		}
		if (hc->st == HC_HEAD && hc_head(hc) != 0)
			continue; /* failing: LINGER */
		if (hc->st == HC_REQUEST && hc_body(hc) != 0)
			continue;
		if (hc->st == HC_RAW)
			hc->in_fwd = hc->in_len;
		if (hc->s != NULL && hc->pend != NULL) {
			if (write_some(hc->s, hc->pend, &hc->pend_off, hc->pend_len) != 0) {
				hc_fail(hc, 502, "The service of %s is not reachable.\n", hc->host);
				continue;
			}
			if (hc->pend_off == hc->pend_len) {
				free(hc->pend);
				hc->pend = NULL;
			}
		}
		if (hc->s != NULL && hc->pend == NULL &&
		    write_some(hc->s, hc->in, &hc->in_off, hc->in_fwd) != 0) {
			hc_fail(hc, 502, "The service of %s is not reachable.\n", hc->host);
			continue;
		}
		if (s_readable && hc->s != NULL) {
			s_readable = 0;
			if (hc_read_service(hc) != 0)
				continue;
		}
		if (write_some(hc->u, hc->out, &hc->out_off, hc->out_len) != 0) {
			hc_free(hc);
			return;
		}
		if (hc->out_off == hc->out_len)
			hc->out_off = hc->out_len = 0;
		if (hc->st == HC_RAW) {
			if (hc_raw_eofs(hc) != 0)
				return;
			break;
		}
		if (hc->st == HC_REQUEST && hc->resp_done && hc->out_off == hc->out_len) {
			if (hc_exchange_done(hc) != 0)
				return;
			if (hc->in_len > hc->in_off)
				continue; /* a pipelined request */
		}
		break;
	}
	hc_set_callbacks(hc);
}

/* ---- events ---- */

static void
hc_user_read_cb(struct conn *c, void *arg)
{
	hc_step(arg, 1, 0);
}

static void
hc_service_read_cb(struct conn *c, void *arg)
{
	hc_step(arg, 0, 1);
}

static void
hc_write_cb(struct conn *c, void *arg)
{
	hc_step(arg, 0, 0);
}

static void
hc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;
	switch (hc->st) {
	case HC_HEAD:
		if (hc->head_started) {
			log_limited(&hc->srv->lim_http, LOG_INFO, "http: %s: no whole "
			    "request head within 10 s: closed", hc->peer);
			hc_fail(hc, 400, "Request head too slow.\n");
			hc_step(hc, 0, 0);
			return;
		}
		hc_free(hc); /* idle keep-alive */
		return;
	case HC_REQUEST:
		if (hc->resp_started)
			return;
		log_limited(&hc->srv->lim_http, LOG_WARN, "http: %s: %s: no response "
		    "within response_timeout (504)", hc->peer, hc->host);
		hc_fail(hc, 504, "The service of %s did not answer in time.\n", hc->host);
		hc_step(hc, 0, 0);
		return;
	default:
		hc_free(hc); /* lingered long enough */
		return;
	}
}

/* The events each side waits for, from the state. */
static void
hc_set_callbacks(struct hconn *hc)
{
	/* After a whole request, what comes next (pipelined) waits in the
	 * buffer unparsed; reading on keeps the events still between requests
	 * (an epoll_ctl per toggle is a syscall per request). */
	int in_room = hc->in_len < sizeof hc->in || hc->in_off > 0;
	int want_user = !hc->u_eof && in_room;
	conn_want_read(hc->u, want_user);
	conn_want_write(hc->u, hc->out_off < hc->out_len ||
	    (hc->st == HC_LINGER && !hc->u_shut));
	if (hc->s != NULL) {
		conn_want_write(hc->s, hc->pend != NULL || hc->in_off < hc->in_fwd);
		conn_want_read(hc->s, !hc->s_eof &&
		    (hc->out_len + hc->held < sizeof hc->out || hc->out_off > 0));
	}
}

/* ---- the port ---- */

/* The visitor's address alone ("192.0.2.7", "2001:db8::7"; an IPv4-mapped
 * one as IPv4) and port. */
static void
peer_ip(const struct sockaddr *sa, char *ip, size_t len, uint16_t *port)
{
	snprintf(ip, len, "unknown");
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)len);
		*port = ntohs(a->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, (socklen_t)len);
		else
			inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)len);
		*port = ntohs(a->sin6_port);
	}
}

void
hproxy_take(struct server *srv, struct conn *u, const struct sockaddr *sa,
    const char *proto)
{
	char peer[ADDR_STR_MAX];
	sockaddr_format(sa, peer, sizeof peer);
	if (srv->nhwaiting >= HC_WAITING_MAX) {
		struct hconn *old = TAILQ_FIRST(&srv->hwaiting);
		log_limited(&srv->lim_http, LOG_WARN, "http: %d connections waiting for "
		    "a request: the oldest, from %s, closed", HC_WAITING_MAX, old->peer);
		hc_free(old);
	}
	struct hconn *hc = calloc(1, sizeof *hc);
	if (hc == NULL) {
		conn_free(u);
		return;
	}
	hc->srv = srv;
	hc->u = u;
	hc->proto = proto;
	snprintf(hc->peer, sizeof hc->peer, "%s", peer);
	peer_ip(sa, hc->ip, sizeof hc->ip, &hc->port);
	const struct dest_rules *tp = srv->cfg->trusted_proxies;
	hc->trusted = tp != NULL && dest_nets_allow(tp->nets, tp->nnets, sa, hc->port);
	LIST_INSERT_HEAD(&srv->hconns, hc, link);
	TAILQ_INSERT_TAIL(&srv->hwaiting, hc, wlink);
	srv->nhwaiting++;
	hc->waiting = 1;
	if ((hc->timer = evtimer_new(srv->base, hc_timer_cb, hc)) == NULL) {
		hc_free(hc);
		return;
	}
	conn_set_cb(u, hc_user_read_cb, hc_write_cb, hc);
	event_add_ms(hc->timer, HC_HEAD_TIMEOUT_MS);
	hc_set_callbacks(hc);
}

static void
http_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	if (fd >= srv->fd_limit - srv->fd_reserve) {
		char peer[ADDR_STR_MAX];
		sockaddr_format(sa, peer, sizeof peer);
		log_limited(&srv->lim_http, LOG_WARN, "http: connection from %s refused: "
		    "near the open-file limit (%ld)", peer, srv->fd_limit);
		close(fd);
		return;
	}
	tcp_nodelay(fd);
	struct conn *u = conn_tcp_new(srv->base, fd);
	if (u != NULL)
		hproxy_take(srv, u, sa, "http");
}

static void
http_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	listener_backoff(lev, srv->http_retry, "http listener");
}

int
hproxy_listen(struct server *srv)
{
	if (server_port_listen(srv, &srv->cfg->http_listen, "http", http_accept_cb,
		http_error_cb, &srv->http_lev, &srv->http_retry, srv->http_addr,
		sizeof srv->http_addr) != 0)
		return -1;
	log_info("http listening on %s (requests routed by Host and path)",
	    srv->http_addr);
	return 0;
}

void
hproxy_shutdown(struct server *srv)
{
	if (srv->http_lev != NULL)
		evconnlistener_free(srv->http_lev);
	if (srv->http_retry != NULL)
		event_free(srv->http_retry);
	srv->http_lev = NULL;
	srv->http_retry = NULL;
	while (!LIST_EMPTY(&srv->hconns))
		hc_free(LIST_FIRST(&srv->hconns));
}
