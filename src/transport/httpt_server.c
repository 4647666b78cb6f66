/*
 * The http transport, server side: HTTP connections ("fronts") carrying
 * POSTs and GETs for virtual conns ("vconns", one per client connection id).
 *
 * A front reads one request at a time (head, then a Content-Length body),
 * applies it to its vconn and writes one response; a GET with nothing to
 * answer yet is parked on its vconn until bytes come or the long poll ends.
 * A vconn holds the upstream bytes its session has not read and the
 * downstream bytes the client has not acknowledged, each at most
 * HTTPT_BODY_MAX: that is the transport's backpressure. A vconn nobody
 * asked for in HTTPT_EXPIRE_MS fails its session.
 */
#include "transport/httpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <http_parser.h>

#include "proto/http.h"
#include "proto/httpt.h"
#include "transport/conn-t.h"
#include "transport/tls.h"
#include "util/addr.h"
#include "util/evtime.h"
#include "util/log.h"

#define HTTPT_POLL_MS 20000    /* a GET with nothing to say waits this long */
#define HTTPT_EXPIRE_MS 60000  /* a vconn nobody asks for ends */
#define HTTPT_FRONT_IDLE_MS 65000 /* a front between requests, or reading one */
#define HTTPT_MAX_VCONNS 4096
#define HTTPT_MAX_FRONTS 8192
#define HTTPT_BULK (64 * 1024) /* a body this big keeps its buffers for the next */

struct front;

struct vconn {
	struct conn c;
	struct httpt_server *hs;
	char id[HTTPT_ID_LEN + 1];
	uint8_t *in; /* upstream bytes the session has not read */
	size_t in_off, in_len;
	uint64_t up_total; /* upstream bytes taken in all */
	uint8_t *out;      /* downstream bytes not acknowledged; out[0] is at down_base */
	size_t out_len;
	uint64_t down_base;
	unsigned up_fin : 1, down_fin : 1, expired : 1;
	unsigned tls : 1; /* its first request came over TLS */
	struct front *poll; /* the parked GET */
	struct event *expire, *notify;
	LIST_ENTRY(vconn) link;
};

/*
 * What a vconn whose session ended still owed its client (the ERROR that
 * says why, say): kept for the GET that comes for it, then dropped.
 */
struct grave {
	struct httpt_server *hs;
	char id[HTTPT_ID_LEN + 1];
	uint64_t down_base;
	uint8_t *out;
	size_t out_len;
	struct event *expire;
	LIST_ENTRY(grave) link;
};
#define HTTPT_GRAVE_MS 10000
#define HTTPT_MAX_GRAVES 1024

enum front_state { F_HEAD, F_BODY, F_WRITE, F_DEAD };

struct front {
	struct httpt_server *hs;
	struct conn *c;
	enum front_state state;
	char peer[ADDR_STR_MAX];
	uint8_t *in; /* head bytes, then the body */
	size_t in_len, in_cap;
	struct http_head h;
	struct httpt_query q;
	size_t head_len, body_len;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	struct vconn *parked; /* the vconn this GET waits on */
	int keep_alive;
	struct event *timer, *reap;
	LIST_ENTRY(front) link;
};

struct httpt_server {
	struct event_base *base;
	const char *path;
	httpt_accept_cb accept;
	void *arg;
	LIST_HEAD(, vconn) vconns;
	LIST_HEAD(, front) fronts;
	LIST_HEAD(, grave) graves;
	size_t nvconns, nfronts, ngraves;
	int stopping; /* the server is going: no new fronts or graves */
};

static const struct conn_ops vconn_ops;
static void front_answer(struct front *f, struct vconn *v, uint64_t off,
    const uint8_t *data, size_t len, uint8_t flags);
static void front_kill(struct front *f, const char *why);

/* ---- vconns ---- */

static struct vconn *
vconn_find(struct httpt_server *hs, const char *id)
{
	struct vconn *v;
	LIST_FOREACH(v, &hs->vconns, link)
		if (strcmp(v->id, id) == 0)
			return v;
	return NULL;
}

/* Answers the parked GET if there is something to say. */
static void
vconn_answer_poll(struct vconn *v, int force)
{
	struct front *f = v->poll;
	if (f == NULL)
		return;
	uint64_t ack = f->q.ack;
	size_t skip = (size_t)(ack - v->down_base);
	size_t avail = v->out_len - skip;
	if (avail == 0 && !v->down_fin && !v->expired && !force)
		return;
	size_t n = avail < f->q.max ? avail : f->q.max;
	uint8_t flags = (v->down_fin && n == avail ? HTTPT_F_FIN : 0) |
	    (v->expired ? HTTPT_F_GONE : 0);
	v->poll = NULL;
	f->parked = NULL;
	front_answer(f, v, ack, v->out + skip, n, flags);
}

static void
vconn_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	vconn_answer_poll(arg, 0);
}

static void
vconn_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct vconn *v = arg;
	log_debug("http transport %.8s: no request for %d s: gone", v->id,
	    HTTPT_EXPIRE_MS / 1000);
	v->expired = 1;
	vconn_answer_poll(v, 1);
	conn_kick(&v->c, 1, 1); /* the session hears of it at its next I/O */
}

static ssize_t
vconn_read(struct conn *c, void *buf, size_t len)
{
	struct vconn *v = (struct vconn *)c;
	size_t have = v->in_len - v->in_off;
	if (have == 0) {
		if (v->expired) {
			errno = ECONNRESET;
			return -1;
		}
		if (v->up_fin)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	size_t n = len < have ? len : have;
	memcpy(buf, v->in + v->in_off, n);
	v->in_off += n;
	if (v->in_off == v->in_len) {
		if (v->in_len < HTTPT_BULK) {
			free(v->in); /* small: the buffer goes; bulk: it stays */
			v->in = NULL;
		}
		v->in_off = v->in_len = 0;
	}
	return (ssize_t)n;
}

static ssize_t
vconn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct vconn *v = (struct vconn *)c;
	if (v->down_fin || v->expired) {
		errno = EPIPE;
		return -1;
	}
	if (v->out == NULL && (v->out = malloc(HTTPT_BODY_MAX)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	size_t taken = 0;
	for (int i = 0; i < iovcnt && v->out_len < HTTPT_BODY_MAX; i++) {
		size_t n = iov[i].iov_len;
		if (n > HTTPT_BODY_MAX - v->out_len)
			n = HTTPT_BODY_MAX - v->out_len;
		memcpy(v->out + v->out_len, iov[i].iov_base, n);
		v->out_len += n;
		taken += n;
	}
	if (taken == 0) {
		errno = EAGAIN; /* a GET's acknowledgement makes room */
		return -1;
	}
	if (v->poll != NULL)
		event_active(v->notify, EV_TIMEOUT, 0);
	return (ssize_t)taken;
}

static int
vconn_shutdown(struct conn *c)
{
	struct vconn *v = (struct vconn *)c;
	v->down_fin = 1;
	if (v->poll != NULL)
		event_active(v->notify, EV_TIMEOUT, 0);
	return 0;
}

static size_t
vconn_buffered(const struct conn *c)
{
	const struct vconn *v = (const struct vconn *)c;
	return v->in_len - v->in_off;
}

static void
grave_free(struct grave *g)
{
	LIST_REMOVE(g, link);
	g->hs->ngraves--;
	if (g->expire)
		event_free(g->expire);
	free(g->out);
	free(g);
}

static void
grave_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	grave_free(arg);
}

/* The vconn goes; bytes its client has not acknowledged stay a while. */
static void
grave_new(struct vconn *v)
{
	struct httpt_server *hs = v->hs;
	if (hs == NULL || hs->stopping || v->out_len == 0 ||
	    hs->ngraves >= HTTPT_MAX_GRAVES)
		return;
	struct grave *g = calloc(1, sizeof *g);
	if (g == NULL)
		return;
	g->hs = hs;
	memcpy(g->id, v->id, sizeof g->id);
	g->down_base = v->down_base;
	g->out = v->out;
	g->out_len = v->out_len;
	v->out = NULL;
	v->out_len = 0;
	g->expire = evtimer_new(hs->base, grave_expire_cb, g);
	LIST_INSERT_HEAD(&hs->graves, g, link);
	hs->ngraves++;
	if (g->expire == NULL) {
		grave_free(g);
		return;
	}
	event_add_ms(g->expire, HTTPT_GRAVE_MS);
}

static struct grave *
grave_find(struct httpt_server *hs, const char *id)
{
	struct grave *g;
	LIST_FOREACH(g, &hs->graves, link)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static void
vconn_destroy(struct conn *c)
{
	struct vconn *v = (struct vconn *)c;
	if (v->poll != NULL) {
		v->expired = 1; /* the parked GET says the connection is gone */
		vconn_answer_poll(v, 1);
	}
	grave_new(v); /* unacknowledged bytes: the next GET gets them, and GONE */
	if (v->hs != NULL) {
		LIST_REMOVE(v, link);
		v->hs->nvconns--;
	}
	if (v->expire)
		event_free(v->expire);
	if (v->notify)
		event_free(v->notify);
	free(v->in);
	free(v->out);
}

static const struct conn_ops vconn_ops = {
    .kind = "http",
    .read = vconn_read,
    .writev = vconn_writev,
    .shutdown = vconn_shutdown,
    .buffered = vconn_buffered,
    .destroy = vconn_destroy,
};

static struct vconn *
vconn_new(struct httpt_server *hs, const char *id)
{
	if (hs->nvconns >= HTTPT_MAX_VCONNS)
		return NULL;
	struct vconn *v = calloc(1, sizeof *v);
	if (v == NULL)
		return NULL;
	v->hs = hs;
	snprintf(v->id, sizeof v->id, "%s", id);
	LIST_INSERT_HEAD(&hs->vconns, v, link); /* vconn_destroy takes it out */
	hs->nvconns++;
	if (conn_init(&v->c, &vconn_ops, hs->base, -1) != 0) {
		conn_free(&v->c);
		return NULL;
	}
	v->expire = evtimer_new(hs->base, vconn_expire_cb, v);
	v->notify = event_new(hs->base, -1, 0, vconn_notify_cb, v);
	if (v->expire == NULL || v->notify == NULL) {
		conn_free(&v->c);
		return NULL;
	}
	event_add_ms(v->expire, HTTPT_EXPIRE_MS);
	return v;
}

/* ---- applying requests ---- */

/* A POST's body: the bytes the vconn does not have yet, as far as they fit. */
static void
vconn_post(struct vconn *v, const struct httpt_query *q, const uint8_t *body,
    size_t len)
{
	if (q->off > v->up_total)
		return; /* a gap: the answer's ack says where to start again */
	size_t skip = (size_t)(v->up_total - q->off);
	if (skip > len)
		return; /* an old request repeated */
	body += skip;
	len -= skip;
	size_t have = v->in_len - v->in_off;
	size_t take = HTTPT_BODY_MAX - have < len ? HTTPT_BODY_MAX - have : len;
	if (take > 0) {
		if (v->in == NULL && (v->in = malloc(HTTPT_BODY_MAX)) == NULL)
			return;
		if (v->in_off > 0) {
			memmove(v->in, v->in + v->in_off, have);
			v->in_off = 0;
			v->in_len = have;
		}
		memcpy(v->in + v->in_len, body, take);
		v->in_len += take;
		v->up_total += take;
	}
	if (q->fin && take == len)
		v->up_fin = 1;
	if (take > 0 || v->up_fin)
		conn_kick(&v->c, 1, 0);
}

/* A GET's acknowledgement: bytes below it are the client's. 0, or -1 if it
 * acknowledges bytes never sent. */
static int
vconn_ack(struct vconn *v, uint64_t ack)
{
	if (ack < v->down_base)
		return 0; /* an old request repeated: nothing new */
	if (ack > v->down_base + v->out_len)
		return -1;
	size_t n = (size_t)(ack - v->down_base);
	if (n > 0) {
		memmove(v->out, v->out + n, v->out_len - n);
		v->out_len -= n;
		v->down_base = ack;
		conn_kick(&v->c, 0, 1); /* room for the session's writes */
	}
	return 0;
}

/* ---- fronts ---- */

static void
front_free(struct front *f)
{
	if (f->parked != NULL && f->parked->poll == f)
		f->parked->poll = NULL;
	LIST_REMOVE(f, link);
	f->hs->nfronts--;
	conn_free(f->c);
	if (f->timer)
		event_free(f->timer);
	if (f->reap)
		event_free(f->reap);
	free(f->in);
	free(f->out);
	free(f);
}

static void
front_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	front_free(arg);
}

/* The one teardown: marks, logs, frees from the loop. */
static void
front_kill(struct front *f, const char *why)
{
	if (f->state == F_DEAD)
		return;
	if (why != NULL)
		log_debug("http transport (%s): closed: %s", f->peer, why);
	f->state = F_DEAD;
	if (f->parked != NULL && f->parked->poll == f)
		f->parked->poll = NULL;
	f->parked = NULL;
	conn_want_read(f->c, 0);
	conn_want_write(f->c, 0);
	event_active(f->reap, EV_TIMEOUT, 0);
}

static void
front_flush(struct front *f)
{
	while (f->out_off < f->out_len) {
		struct iovec iov = {f->out + f->out_off, f->out_len - f->out_off};
		ssize_t n = conn_writev(f->c, &iov, 1);
		if (n > 0) {
			f->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_want_write(f->c, 1);
			return;
		}
		front_kill(f, "write failed");
		return;
	}
	conn_want_write(f->c, 0);
	if (f->out_len < HTTPT_BULK) {
		free(f->out); /* a bulk answer's room stays for the next */
		f->out = NULL;
		f->out_cap = 0;
	}
	f->out_len = f->out_off = 0;
	if (!f->keep_alive) {
		front_kill(f, NULL);
		return;
	}
	/* The next request on this connection, from the loop: bytes of it
	 * may be here already. */
	f->state = F_HEAD;
	event_add_ms(f->timer, HTTPT_FRONT_IDLE_MS);
	conn_want_read(f->c, 1);
	conn_kick(f->c, 1, 0);
}

/* One whole response: a body of PREFIX + data, or an error status. */
static void
front_respond(struct front *f, int status, const uint8_t *prefix,
    const uint8_t *data, size_t len)
{
	char head[256];
	size_t hl;
	if (status == 200)
		hl = httpt_response_head(head, sizeof head, HTTPT_PREFIX + len, f->keep_alive);
	else {
		hl = http_response(head, sizeof head, status,
		    status == 404 ? "Not Found" : status == 503 ? "Service Unavailable"
						: "Bad Request", "", "");
		f->keep_alive = 0;
	}
	size_t total = hl + (status == 200 ? HTTPT_PREFIX + len : 0);
	if (total > f->out_cap) {
		uint8_t *p = realloc(f->out, total);
		if (p == NULL) {
			front_kill(f, "out of memory");
			return;
		}
		f->out = p;
		f->out_cap = total;
	}
	memcpy(f->out, head, hl);
	if (status == 200) {
		memcpy(f->out + hl, prefix, HTTPT_PREFIX);
		if (len > 0)
			memcpy(f->out + hl + HTTPT_PREFIX, data, len);
	}
	f->out_len = total;
	f->out_off = 0;
	f->state = F_WRITE;
	event_add_ms(f->timer, HTTPT_FRONT_IDLE_MS);
	conn_want_read(f->c, 0);
	front_flush(f);
}

static void
front_answer(struct front *f, struct vconn *v, uint64_t off, const uint8_t *data,
    size_t len, uint8_t flags)
{
	uint8_t prefix[HTTPT_PREFIX];
	httpt_prefix_encode(prefix, off, flags);
	front_respond(f, 200, prefix, data, len);
}

static void
front_post(struct front *f, struct vconn *v)
{
	uint8_t prefix[HTTPT_PREFIX];
	vconn_post(v, &f->q, f->in + f->head_len, f->body_len);
	httpt_prefix_encode(prefix, v->up_total, v->expired ? HTTPT_F_GONE : 0);
	front_respond(f, 200, prefix, NULL, 0);
}

static void
front_get(struct front *f, struct vconn *v)
{
	if (!f->q.has_ack || vconn_ack(v, f->q.ack) != 0) {
		front_respond(f, 400, NULL, NULL, 0);
		return;
	}
	if (f->q.ack < v->down_base) {
		/* A stale repeat: the client has moved on. */
		front_answer(f, v, f->q.ack, NULL, 0, 0);
		return;
	}
	if (v->poll != NULL && v->poll != f)
		vconn_answer_poll(v, 1); /* one parked GET per connection: the newer */
	v->poll = f;
	f->parked = v;
	vconn_answer_poll(v, 0);
	if (f->parked != NULL) {
		f->state = F_WRITE; /* waiting to write the answer */
		conn_want_read(f->c, 0);
		event_add_ms(f->timer, HTTPT_POLL_MS);
	}
}

/* The request is complete: find its vconn (or make one) and apply it. */
static void
front_request(struct front *f)
{
	struct httpt_server *hs = f->hs;
	struct vconn *v = vconn_find(hs, f->q.id);
	struct grave *g = v == NULL ? grave_find(hs, f->q.id) : NULL;
	if (g != NULL) {
		/* Ended: what it still owed, then GONE. */
		uint8_t prefix[HTTPT_PREFIX];
		uint64_t ack = f->q.has_ack ? f->q.ack : 0;
		if (f->h.method == HTTP_GET && ack >= g->down_base &&
		    ack <= g->down_base + g->out_len) {
			size_t skip = (size_t)(ack - g->down_base);
			size_t n = g->out_len - skip;
			if (n > f->q.max)
				n = f->q.max;
			httpt_prefix_encode(prefix, ack, HTTPT_F_GONE);
			front_respond(f, 200, prefix, g->out + skip, n);
			return;
		}
		httpt_prefix_encode(prefix, 0, HTTPT_F_GONE);
		front_respond(f, 200, prefix, NULL, 0);
		return;
	}
	if (v == NULL) {
		/* Only a first POST makes a connection (the client sends its GETs
		 * once one got through): anything else is for one that ended. */
		int fresh = f->h.method == HTTP_POST && f->q.off == 0;
		if (!fresh) {
			/* Not ours any more (expired, or a server restart). */
			uint8_t prefix[HTTPT_PREFIX];
			httpt_prefix_encode(prefix, 0, HTTPT_F_GONE);
			front_respond(f, 200, prefix, NULL, 0);
			return;
		}
		if ((v = vconn_new(hs, f->q.id)) == NULL) {
			front_respond(f, 503, NULL, NULL, 0);
			return;
		}
		v->tls = conn_is_tls(f->c);
		char id[HTTPT_ID_LEN + 1];
		snprintf(id, sizeof id, "%s", f->q.id);
		hs->accept(&v->c, f->peer, hs->arg);
		if ((v = vconn_find(hs, id)) == NULL) {
			front_respond(f, 503, NULL, NULL, 0); /* refused */
			return;
		}
	}
	event_add_ms(v->expire, HTTPT_EXPIRE_MS);
	if (f->h.method == HTTP_POST)
		front_post(f, v);
	else
		front_get(f, v);
}

/* Bytes in; the head, then the body. */
static void
front_parse(struct front *f)
{
	if (f->state == F_HEAD) {
		int status;
		const char *why;
		int rc = http_head_parse(f->in, f->in_len, HTTP_HEAD_REQUEST, &f->h,
		    &f->head_len, &status, &why);
		if (rc == 0)
			return;
		if (rc < 0 || !httpt_request_is_ours(&f->h, f->hs->path) ||
		    httpt_query_parse(f->h.query, &f->q) != 0) {
			front_respond(f, rc < 0 ? status : 404, NULL, NULL, 0);
			return;
		}
		f->keep_alive = f->h.keep_alive;
		f->body_len = 0;
		if (f->h.method == HTTP_POST) {
			if (f->h.chunked || f->h.content_length < 0 ||
			    f->h.content_length > HTTPT_BODY_MAX) {
				front_respond(f, 400, NULL, NULL, 0);
				return;
			}
			f->body_len = (size_t)f->h.content_length;
		}
		f->state = F_BODY;
	}
	if (f->state == F_BODY && f->in_len >= f->head_len + f->body_len) {
		size_t used = f->head_len + f->body_len;
		front_request(f);
		/* Pipelined bytes after this request wait for its answer. */
		if (f->state != F_DEAD) {
			memmove(f->in, f->in + used, f->in_len - used);
			f->in_len -= used;
			if (f->in_len == 0 && f->in_cap > HTTP_HEAD_MAX &&
			    f->body_len < HTTPT_BULK) {
				free(f->in); /* a big body's room stays for the next */
				f->in = NULL;
				f->in_cap = 0;
			}
		}
	}
}

static void
front_on_read(struct conn *c, void *arg)
{
	struct front *f = arg;
	if (f->in_len > 0)
		front_parse(f);
	while (f->state == F_HEAD || f->state == F_BODY) {
		size_t want = f->state == F_HEAD ? HTTP_HEAD_MAX : f->head_len + f->body_len;
		if (want > f->in_cap) {
			uint8_t *p = realloc(f->in, want);
			if (p == NULL) {
				front_kill(f, "out of memory");
				return;
			}
			f->in = p;
			f->in_cap = want;
		}
		if (f->in_len >= want) {
			front_parse(f);
			if (f->state == F_HEAD && f->in_len >= HTTP_HEAD_MAX)
				return;
			continue;
		}
		ssize_t n = conn_read(c, f->in + f->in_len, want - f->in_len);
		if (n > 0) {
			f->in_len += (size_t)n;
			front_parse(f);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		front_kill(f, n == 0 ? (f->in_len ? "closed mid-request" : NULL)
				     : conn_strerror(c, errno));
		return;
	}
}

static void
front_on_write(struct conn *c, void *arg)
{
	struct front *f = arg;
	if (f->state == F_WRITE && f->out_len > 0)
		front_flush(f);
}

static void
front_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	if (f->parked != NULL) {
		vconn_answer_poll(f->parked, 1); /* the long poll ends empty */
		return;
	}
	front_kill(f, "idle");
}

/* ---- the server ---- */

int
httpt_conn_over_tls(const struct conn *c)
{
	return c->ops == &vconn_ops && ((const struct vconn *)c)->tls;
}


struct httpt_server *
httpt_server_new(struct event_base *base, const char *path,
    httpt_accept_cb accept, void *arg)
{
	struct httpt_server *hs = calloc(1, sizeof *hs);
	if (hs == NULL)
		return NULL;
	hs->base = base;
	hs->path = path;
	hs->accept = accept;
	hs->arg = arg;
	LIST_INIT(&hs->vconns);
	LIST_INIT(&hs->fronts);
	LIST_INIT(&hs->graves);
	return hs;
}

void
httpt_server_shutdown(struct httpt_server *hs)
{
	hs->stopping = 1;
	while (!LIST_EMPTY(&hs->fronts))
		front_free(LIST_FIRST(&hs->fronts));
	while (!LIST_EMPTY(&hs->graves))
		grave_free(LIST_FIRST(&hs->graves));
}

void
httpt_server_free(struct httpt_server *hs)
{
	if (hs == NULL)
		return;
	while (!LIST_EMPTY(&hs->fronts))
		front_free(LIST_FIRST(&hs->fronts));
	while (!LIST_EMPTY(&hs->graves))
		grave_free(LIST_FIRST(&hs->graves));
	/* vconns belong to their sessions, which may outlive this. */
	struct vconn *v;
	while ((v = LIST_FIRST(&hs->vconns)) != NULL) {
		LIST_REMOVE(v, link);
		v->hs = NULL;
		v->expired = 1;
		conn_kick(&v->c, 1, 1);
	}
	free(hs);
}

void
httpt_server_take(struct httpt_server *hs, struct conn *c,
    const struct http_head *h, const uint8_t *rest, size_t rest_len,
    const char *peer)
{
	struct front *f = calloc(1, sizeof *f);
	if (f == NULL || hs->nfronts >= HTTPT_MAX_FRONTS || hs->stopping) {
		free(f);
		conn_free(c);
		return;
	}
	f->hs = hs;
	f->c = c;
	snprintf(f->peer, sizeof f->peer, "%s", peer);
	LIST_INSERT_HEAD(&hs->fronts, f, link);
	hs->nfronts++;
	f->timer = evtimer_new(hs->base, front_timer_cb, f);
	f->reap = event_new(hs->base, -1, 0, front_reap_cb, f);
	f->in_cap = HTTP_HEAD_MAX > rest_len ? HTTP_HEAD_MAX : rest_len;
	f->in = malloc(f->in_cap);
	if (f->timer == NULL || f->reap == NULL || f->in == NULL) {
		front_free(f);
		return;
	}
	/* The head was read already: the request goes on from its body. */
	f->h = *h;
	memcpy(f->in, rest, rest_len);
	f->in_len = rest_len;
	f->head_len = 0;
	conn_set_cb(c, front_on_read, front_on_write, f);
	event_add_ms(f->timer, HTTPT_FRONT_IDLE_MS);
	if (httpt_query_parse(h->query, &f->q) != 0) {
		front_respond(f, 404, NULL, NULL, 0);
		return;
	}
	f->keep_alive = h->keep_alive;
	f->body_len = 0;
	if (h->method == HTTP_POST) {
		if (h->chunked || h->content_length < 0 ||
		    h->content_length > HTTPT_BODY_MAX) {
			front_respond(f, 400, NULL, NULL, 0);
			return;
		}
		f->body_len = (size_t)h->content_length;
	}
	f->state = F_BODY;
	conn_want_read(c, 1);
	front_on_read(c, f);
}
