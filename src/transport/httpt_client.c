/*
 * The http transport, client side: a virtual conn whose written bytes go
 * up in POSTs and whose read bytes come down in long-poll GETs, at most one
 * of each in flight, each on a keep-alive connection of its own.
 *
 * Nothing is lost or doubled when a request fails or a proxy repeats it:
 * upstream bytes stay here until the server acknowledges them (a POST
 * failed: the same offset again), downstream bytes are asked for by the
 * offset we have (a GET failed: the server sends them again). A request
 * that fails is retried after a short, growing delay; with no request
 * getting through for longer than the handshake timeout twice over, the
 * conn fails and the session ends.
 */
#include "transport/httpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "proto/auth.h"
#include "proto/http.h"
#include "proto/httpt.h"
#include "proto/proxy.h"
#include "transport/conn-t.h"
#include "transport/dial.h"
#include "transport/proxy.h"
#include "transport/tls.h"
#include "util/evtime.h"
#include "util/log.h"

#define HTTPC_UP_MAX HTTPT_BODY_MAX   /* bytes written, not acknowledged */
#define HTTPC_DOWN_MAX HTTPT_BODY_MAX /* bytes received, not read */
#define HTTPC_GET_MIN (64 * 1024)     /* room to ask for before polling again */
#define HTTPC_POST_TIMEOUT_MS 30000
#define HTTPC_GET_TIMEOUT_MS 35000 /* the server's long poll is 20 s */
#define HTTPC_BULK (64 * 1024) /* an answer this big keeps its buffers */
#define HTTPC_RETRY_MS 100
#define HTTPC_RETRY_MAX_MS 2000

enum hx_state { HX_IDLE, HX_DIAL, HX_SEND, HX_RECV, HX_WAIT };

struct httpc;

/* One request slot (the POST or the GET) and its keep-alive connection. */
struct hx {
	struct httpc *h;
	int is_post;
	enum hx_state state;
	struct conn *conn;
	struct dialer *dialer;
	struct proxy_dial *pdial;
	uint8_t *req;
	size_t req_len, req_off, req_cap;
	uint64_t req_pos; /* POST: the body's offset; GET: our ack */
	size_t req_body;  /* POST: body bytes */
	int req_fin;
	uint8_t *resp;
	size_t resp_len, resp_cap, head_len, body_len;
	int have_head, keep_alive;
	struct event *timer; /* request timeout, or the retry delay */
	uint32_t retry_ms;
};

struct httpc {
	struct conn c;
	struct event_base *base;
	const struct config *cfg;
	const struct addr_list *addrs;
	struct tls_client *tc;
	char host[ADDR_STR_MAX + 8];
	char prefix[ADDR_STR_MAX + 16]; /* "http://host:port" through a forward proxy */
	char *auth;                     /* Proxy-Authorization line, or NULL */
	int tunnel;                     /* the proxy opens a tunnel (CONNECT, SOCKS5) */
	char id[HTTPT_ID_LEN + 1];
	uint8_t *up; /* written, not acknowledged; up[0] is at up_base */
	size_t up_len;
	uint64_t up_base;
	uint8_t *down; /* received, not read */
	size_t down_off, down_len;
	uint64_t down_total;
	unsigned up_fin : 1, fin_acked : 1, down_fin : 1, failed : 1;
	uint64_t last_ok_ms;
	unsigned fails;  /* requests failed in a row */
	int bulk;        /* the last answer was big: keep the buffers */
	int ever_ok;     /* a request got through */
	struct hx post, get;
	char *why;
};

static const struct conn_ops httpc_ops;
static void hx_start(struct hx *x);
static void httpc_pump(struct httpc *h);

static void
httpc_fail(struct httpc *h, const char *why)
{
	if (h->failed)
		return;
	h->failed = 1;
	free(h->why);
	if (asprintf(&h->why, "http transport: %s", why) < 0)
		h->why = NULL;
	conn_kick(&h->c, 1, 1);
}

/* ---- one exchange ---- */

static void
hx_close(struct hx *x)
{
	dialer_cancel(x->dialer);
	x->dialer = NULL;
	proxy_dial_cancel(x->pdial);
	x->pdial = NULL;
	conn_free(x->conn);
	x->conn = NULL;
}

/*
 * Between requests. Buffers of a bulk transfer stay for the next answer
 * (a 1 MiB malloc is an mmap: one per answer cost more than the copy);
 * after a small answer, or a failure, they go.
 */
static void
hx_reset(struct hx *x, int keep)
{
	if (!keep) {
		free(x->req);
		x->req = NULL;
		x->req_cap = 0;
		free(x->resp);
		x->resp = NULL;
		x->resp_cap = 0;
	}
	x->req_len = x->req_off = 0;
	x->resp_len = 0;
	x->have_head = 0;
	event_del(x->timer);
}

/* The exchange failed: a fresh connection after a short delay, or give up. */
static void
hx_failed(struct hx *x, const char *reason)
{
	struct httpc *h = x->h;
	char why[200]; /* reason may live in the conn that goes now */
	snprintf(why, sizeof why, "%s", reason);
	hx_close(x);
	hx_reset(x, 0);
	x->state = HX_IDLE; /* whatever follows, this request is over */
	uint64_t quiet = mono_ms() - h->last_ok_ms;
	log_debug("http transport %.8s: %s failed: %s", h->id, x->is_post ? "POST" : "GET",
	    why);
	if (h->tc != NULL && tls_client_is_untrusted(h->tc)) {
		httpc_fail(h, why); /* retrying will not make the server trusted */
		return;
	}
	if (++h->fails >= 3 && !h->ever_ok) {
		/* Never through: a network that does not pass this either. */
		httpc_fail(h, why);
		return;
	}
	if (quiet > 2ull * h->cfg->handshake_timeout_ms) {
		char text[300];
		snprintf(text, sizeof text, "no request got through for %llu s (last: %s)",
		    (unsigned long long)(quiet / 1000), why);
		httpc_fail(h, text);
		return;
	}
	x->state = HX_WAIT;
	event_add_ms(x->timer, x->retry_ms);
	x->retry_ms = x->retry_ms * 2 > HTTPC_RETRY_MAX_MS ? HTTPC_RETRY_MAX_MS
							   : x->retry_ms * 2;
}

/* A whole 200 answer: its prefix and data. */
static void
hx_done(struct hx *x, const uint8_t *body, size_t len)
{
	struct httpc *h = x->h;
	uint64_t off;
	uint8_t flags;
	if (len < HTTPT_PREFIX) {
		hx_failed(x, "short answer");
		return;
	}
	httpt_prefix_decode(body, &off, &flags);
	body += HTTPT_PREFIX;
	len -= HTTPT_PREFIX;
	if ((flags & HTTPT_F_GONE) && len == 0) {
		httpc_fail(h, "the server no longer knows this connection");
		return;
	}
	if (x->is_post) {
		if (off > h->up_base + h->up_len) {
			httpc_fail(h, "the server acknowledged bytes never sent");
			return;
		}
		if (off > h->up_base) {
			size_t n = (size_t)(off - h->up_base);
			memmove(h->up, h->up + n, h->up_len - n);
			h->up_len -= n;
			h->up_base = off;
			conn_kick(&h->c, 0, 1);
		}
		if (x->req_fin && off == x->req_pos + x->req_body) {
			h->fin_acked = 1;
			conn_kick(&h->c, 0, 1); /* a shutdown waiting for it */
		}
	} else {
		if (off > h->down_total) {
			httpc_fail(h, "the server skipped bytes");
			return;
		}
		size_t skip = (size_t)(h->down_total - off);
		if (skip < len) {
			size_t n = len - skip;
			if (h->down_off > 0) {
				memmove(h->down, h->down + h->down_off, h->down_len - h->down_off);
				h->down_len -= h->down_off;
				h->down_off = 0;
			}
			if (n > HTTPC_DOWN_MAX - h->down_len)
				n = HTTPC_DOWN_MAX - h->down_len;
			if (h->down == NULL && (h->down = malloc(HTTPC_DOWN_MAX)) == NULL) {
				httpc_fail(h, "out of memory");
				return;
			}
			memcpy(h->down + h->down_len, body + skip, n);
			h->down_len += n;
			h->down_total += n;
			if ((flags & HTTPT_F_FIN) && skip + n == len)
				h->down_fin = 1;
			conn_kick(&h->c, 1, 0);
		} else if ((flags & HTTPT_F_FIN) && skip == len) {
			h->down_fin = 1;
			conn_kick(&h->c, 1, 0);
		}
	}
	if (flags & HTTPT_F_GONE) {
		/* Its last bytes (an ERROR, say) are read first. */
		httpc_fail(h, "the server no longer knows this connection");
		return;
	}
	h->last_ok_ms = mono_ms();
	h->fails = 0;
	h->ever_ok = 1;
	x->retry_ms = HTTPC_RETRY_MS;
	if (!x->keep_alive)
		hx_close(x);
	else
		conn_want_read(x->conn, 0);
	int big = x->is_post ? x->req_body >= HTTPC_BULK : len >= HTTPC_BULK;
	if (!x->is_post)
		h->bulk = big;
	hx_reset(x, big);
	x->state = HX_IDLE;
	httpc_pump(h);
}

/* Response bytes: the head, then Content-Length of body. */
static void
hx_parse(struct hx *x)
{
	if (!x->have_head) {
		struct http_head rh;
		int st;
		const char *why;
		int rc = http_head_parse(x->resp, x->resp_len, HTTP_HEAD_RESPONSE, &rh,
		    &x->head_len, &st, &why);
		if (rc == 0)
			return;
		if (rc < 0) {
			hx_failed(x, why);
			return;
		}
		if (rh.status != 200) {
			char text[128];
			snprintf(text, sizeof text, "%d %s", rh.status, rh.reason);
			hx_failed(x, text);
			return;
		}
		if (rh.chunked || rh.content_length < HTTPT_PREFIX ||
		    rh.content_length > HTTPT_PREFIX + HTTPT_BODY_MAX) {
			hx_failed(x, "answer without a usable Content-Length");
			return;
		}
		x->have_head = 1;
		x->keep_alive = rh.keep_alive;
		x->body_len = (size_t)rh.content_length;
	}
	if (x->resp_len >= x->head_len + x->body_len)
		hx_done(x, x->resp + x->head_len, x->body_len);
}

static void
hx_on_read(struct conn *c, void *arg)
{
	struct hx *x = arg;
	while (x->state == HX_RECV) {
		size_t want = x->have_head ? x->head_len + x->body_len : HTTP_HEAD_MAX;
		if (want > x->resp_cap) {
			uint8_t *p = realloc(x->resp, want);
			if (p == NULL) {
				hx_failed(x, "out of memory");
				return;
			}
			x->resp = p;
			x->resp_cap = want;
		}
		if (x->resp_len >= want) {
			hx_failed(x, "response head longer than 8 KiB");
			return;
		}
		ssize_t n = conn_read(c, x->resp + x->resp_len, want - x->resp_len);
		if (n > 0) {
			x->resp_len += (size_t)n;
			hx_parse(x);
			if (x->conn != c || x->h->failed)
				return; /* done or failed: the conn went, or all of it did */
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		hx_failed(x, n == 0 ? "connection closed" : conn_strerror(c, errno));
		return;
	}
}

static void
hx_on_write(struct conn *c, void *arg)
{
	struct hx *x = arg;
	while (x->state == HX_SEND && x->req_off < x->req_len) {
		struct iovec iov = {x->req + x->req_off, x->req_len - x->req_off};
		ssize_t n = conn_writev(c, &iov, 1);
		if (n > 0) {
			x->req_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_want_write(c, 1);
			return;
		}
		hx_failed(x, conn_strerror(c, errno));
		return;
	}
	if (x->state != HX_SEND || x->conn != c)
		return;
	conn_want_write(c, 0);
	x->state = HX_RECV;
	conn_want_read(c, 1);
	hx_on_read(c, x);
}

/* The connection is up (or was): send the request. */
static void
hx_send(struct hx *x)
{
	x->state = HX_SEND;
	conn_set_cb(x->conn, hx_on_read, hx_on_write, x);
	event_add_ms(x->timer, x->is_post ? HTTPC_POST_TIMEOUT_MS : HTTPC_GET_TIMEOUT_MS);
	hx_on_write(x->conn, x);
}

static void
hx_have_socket(struct hx *x, int fd)
{
	struct httpc *h = x->h;
	x->conn = h->tc ? conn_tls_connect(h->base, fd, h->tc) : conn_tcp_new(h->base, fd);
	if (x->conn == NULL) {
		hx_failed(x, "out of memory");
		return;
	}
	hx_send(x);
}

static void
hx_tunneled(int fd, const char *why, void *arg)
{
	struct hx *x = arg;
	x->pdial = NULL;
	if (fd < 0) {
		char text[200];
		snprintf(text, sizeof text, "proxy: %s", why);
		hx_failed(x, text);
		return;
	}
	hx_have_socket(x, fd);
}

static void
hx_dialed(int fd, const struct sockaddr *addr, socklen_t addrlen, const char *why,
    void *arg)
{
	struct hx *x = arg;
	struct httpc *h = x->h;
	x->dialer = NULL;
	if (fd < 0) {
		char text[200];
		snprintf(text, sizeof text, "connect: %s", why);
		hx_failed(x, text);
		return;
	}
	if (h->tunnel) {
		const struct config *cfg = h->cfg;
		x->pdial = proxy_dial_start(h->base, fd, cfg, cfg->server.host,
		    cfg->server.port, cfg->handshake_timeout_ms, hx_tunneled, x);
		if (x->pdial == NULL)
			hx_failed(x, "out of memory");
		return;
	}
	hx_have_socket(x, fd);
}

/* Builds the request now due and sends it, dialing first if need be. */
static void
hx_start(struct hx *x)
{
	struct httpc *h = x->h;
	char head[HTTPT_HEAD_MAX];
	size_t hl;
	if (x->is_post) {
		size_t n = h->up_len < HTTPT_BODY_MAX ? h->up_len : HTTPT_BODY_MAX;
		x->req_pos = h->up_base;
		x->req_body = n;
		x->req_fin = h->up_fin && n == h->up_len;
		hl = httpt_post_head(head, sizeof head, h->prefix, h->cfg->url_path, h->host,
		    h->auth, h->id, x->req_pos, x->req_fin, n);
	} else {
		size_t room = HTTPC_DOWN_MAX - (h->down_len - h->down_off);
		x->req_pos = h->down_total;
		x->req_body = 0;
		hl = httpt_get_head(head, sizeof head, h->prefix, h->cfg->url_path, h->host,
		    h->auth, h->id, x->req_pos, (uint32_t)room);
	}
	if (hl == 0) {
		httpc_fail(h, "request too long");
		return;
	}
	if (hl + x->req_body > x->req_cap) {
		uint8_t *p = realloc(x->req, hl + x->req_body);
		if (p == NULL) {
			httpc_fail(h, "out of memory");
			return;
		}
		x->req = p;
		x->req_cap = hl + x->req_body;
	}
	memcpy(x->req, head, hl);
	if (x->req_body > 0)
		memcpy(x->req + hl, h->up, x->req_body);
	x->req_len = hl + x->req_body;
	x->req_off = 0;
	x->resp_len = 0;
	x->have_head = 0;
	if (x->conn != NULL) {
		hx_send(x);
		return;
	}
	x->state = HX_DIAL;
	event_add_ms(x->timer, h->cfg->handshake_timeout_ms);
	x->dialer = dialer_start(h->base, h->addrs, h->cfg->handshake_timeout_ms,
	    hx_dialed, NULL, x);
	if (x->dialer == NULL)
		hx_failed(x, "out of memory");
}

static void
hx_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hx *x = arg;
	if (x->state == HX_WAIT) {
		x->state = HX_IDLE;
		httpc_pump(x->h);
		return;
	}
	hx_failed(x, "timed out");
}

/* Starts what is due: a POST for unacknowledged bytes, a GET for room. */
static void
httpc_pump(struct httpc *h)
{
	if (h->failed)
		return;
	if (h->post.state == HX_IDLE && (h->up_len > 0 || (h->up_fin && !h->fin_acked)))
		hx_start(&h->post);
	if (h->failed)
		return;
	/* GETs once a POST got through: only a POST makes the server's conn. */
	if (h->get.state == HX_IDLE && !h->down_fin && h->up_base > 0 &&
	    HTTPC_DOWN_MAX - (h->down_len - h->down_off) >= HTTPC_GET_MIN)
		hx_start(&h->get);
}

/* ---- the virtual conn ---- */

static ssize_t
httpc_read(struct conn *c, void *buf, size_t len)
{
	struct httpc *h = (struct httpc *)c;
	size_t have = h->down_len - h->down_off;
	if (have == 0) {
		if (h->down_fin)
			return 0;
		/* failed: what came before the failure was read first */
		errno = h->failed ? ECONNRESET : EAGAIN;
		return -1;
	}
	size_t n = len < have ? len : have;
	memcpy(buf, h->down + h->down_off, n);
	h->down_off += n;
	if (h->down_off == h->down_len) {
		if (!h->bulk) {
			free(h->down);
			h->down = NULL;
		}
		h->down_off = h->down_len = 0;
	}
	httpc_pump(h); /* room for the next GET */
	return (ssize_t)n;
}

static ssize_t
httpc_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct httpc *h = (struct httpc *)c;
	if (h->failed || h->up_fin) {
		errno = EPIPE;
		return -1;
	}
	if (h->up == NULL && (h->up = malloc(HTTPC_UP_MAX)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t taken = 0;
	for (int i = 0; i < iovcnt && h->up_len < HTTPC_UP_MAX; i++) {
		size_t n = iov[i].iov_len;
		if (n > HTTPC_UP_MAX - h->up_len)
			n = HTTPC_UP_MAX - h->up_len;
		memcpy(h->up + h->up_len, iov[i].iov_base, n);
		h->up_len += n;
		taken += n;
	}
	if (taken == 0) {
		errno = EAGAIN; /* an acknowledgement makes room */
		return -1;
	}
	httpc_pump(h);
	return (ssize_t)taken;
}

static int
httpc_shutdown(struct conn *c)
{
	struct httpc *h = (struct httpc *)c;
	if (h->failed) {
		errno = EPIPE;
		return -1;
	}
	h->up_fin = 1;
	httpc_pump(h);
	if (!h->fin_acked && !h->failed) {
		/* Ours until the server has them: ask again when it said so. */
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

static size_t
httpc_buffered(const struct conn *c)
{
	const struct httpc *h = (const struct httpc *)c;
	return h->down_len - h->down_off;
}

static const char *
httpc_strerror(const struct conn *c)
{
	return ((const struct httpc *)c)->why;
}

static void
httpc_destroy(struct conn *c)
{
	struct httpc *h = (struct httpc *)c;
	struct hx *xs[2] = {&h->post, &h->get};
	for (int i = 0; i < 2; i++) {
		hx_close(xs[i]);
		hx_reset(xs[i], 0);
		if (xs[i]->timer)
			event_free(xs[i]->timer);
	}
	free(h->up);
	free(h->down);
	free(h->why);
	if (h->auth != NULL) {
		OPENSSL_cleanse(h->auth, strlen(h->auth));
		free(h->auth);
	}
}

static const struct conn_ops httpc_ops = {
    .kind = "http",
    .read = httpc_read,
    .writev = httpc_writev,
    .shutdown = httpc_shutdown,
    .buffered = httpc_buffered,
    .strerror = httpc_strerror,
    .destroy = httpc_destroy,
};

struct conn *
conn_httpt_client(struct event_base *base, const struct config *cfg,
    const struct addr_list *addrs, struct tls_client *tc, const char *host)
{
	struct httpc *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	h->base = base;
	h->cfg = cfg;
	h->addrs = addrs;
	h->tc = tc;
	h->last_ok_ms = mono_ms();
	snprintf(h->host, sizeof h->host, "%s", host);
	struct hx *xs[2] = {&h->post, &h->get};
	for (int i = 0; i < 2; i++) {
		xs[i]->h = h;
		xs[i]->is_post = i == 0;
		xs[i]->retry_ms = HTTPC_RETRY_MS;
		xs[i]->timer = evtimer_new(base, hx_timer_cb, xs[i]);
	}
	uint8_t raw[HTTPT_ID_LEN / 2];
	if (conn_init(&h->c, &httpc_ops, base, -1) != 0 || h->post.timer == NULL ||
	    h->get.timer == NULL || auth_random(raw, sizeof raw) != 0) {
		conn_free(&h->c);
		return NULL;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(h->id + 2 * i, 3, "%02x", raw[i]);
	if (cfg->proxy_kind == PROXY_SOCKS5 || (cfg->proxy_kind == PROXY_HTTP && tc != NULL)) {
		h->tunnel = 1;
	} else if (cfg->proxy_kind == PROXY_HTTP) {
		/* A forward proxy: absolute targets, its credentials on each request. */
		char hp[ADDR_STR_MAX];
		hostport_format(&cfg->server, hp, sizeof hp);
		snprintf(h->prefix, sizeof h->prefix, "http://%s", hp);
		if (cfg->proxy_user != NULL) {
			char line[2 * (2 * PROXY_CRED_MAX + 1) + 64];
			if (proxy_auth_header(line, sizeof line, cfg->proxy_user,
				cfg->proxy_pass) == 0 || (h->auth = strdup(line)) == NULL) {
				OPENSSL_cleanse(line, sizeof line);
				conn_free(&h->c);
				return NULL;
			}
			OPENSSL_cleanse(line, sizeof line);
		}
	}
	return &h->c;
}
