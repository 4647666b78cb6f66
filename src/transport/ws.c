/*
 * The WebSocket filter: the upgrade (client or server side), then frames
 * between the user's bytes and the transport's. Buffers exist only while
 * bytes wait in them: an idle connection holds its codec and nothing else.
 */
#include "transport/ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proto/http.h"
#include "proto/httpt.h"
#include "proto/ws.h"
#include "transport/conn-t.h"
#include "util/log.h"

/* Transport bytes read, and framed bytes written, per buffer. Reads this
 * large let TLS read ahead several records per read(2). */
#define WS_BUF (64 * 1024)

enum ws_state {
	WS_SNIFF,   /* server: the first byte decides */
	WS_PASS,    /* server: not HTTP; the sniffed byte goes back to the reader */
	WS_HEAD,    /* server: reading the request head */
	WS_UPGRADE, /* client: request sent, reading the response head */
	WS_OPEN,
	WS_FAILED,
};

struct ws {
	enum ws_state state;
	int server;
	struct ws_codec *codec;
	const char *path;       /* server: the one it upgrades */
	ws_take_cb take;        /* server: who takes http transport requests */
	void *take_arg;
	char key[WS_KEY_LEN + 1]; /* client: its Sec-WebSocket-Key */
	uint8_t *head;          /* the handshake head so far, HTTP_HEAD_MAX */
	size_t head_len;
	uint8_t *ibuf; /* transport bytes the codec has not taken */
	size_t ioff, ilen;
	uint8_t *obuf; /* framed bytes the transport has not taken */
	size_t ooff, olen;
	uint8_t *early; /* client: bytes written before the upgrade was done */
	size_t early_len;
	uint8_t sniffed;
	uint8_t pong[WS_CTL_MAX];
	size_t pong_len;
	unsigned pong_pending : 1, close_sent : 1, close_rcvd : 1;
	char *why; /* what went wrong in this layer, for conn_strerror */
};

static const struct conn_ops ws_ops;

static void
ws_free(struct ws *w)
{
	ws_codec_free(w->codec);
	free(w->head);
	free(w->ibuf);
	free(w->obuf);
	free(w->early);
	free(w->why);
	free(w);
}

/* Readiness this layer waits for, from its state. */
static void
ws_need(struct conn *c, struct ws *w)
{
	int r = w->state == WS_SNIFF || w->state == WS_HEAD || w->state == WS_UPGRADE;
	int wr = w->state != WS_FAILED && w->olen > w->ooff;
	conn_filter_need(c, r, wr);
}

/* The conn is unusable; why is NULL when the transport has said it. */
static void
ws_fail(struct conn *c, struct ws *w, const char *why)
{
	if (why != NULL && w->why == NULL) {
		if (asprintf(&w->why, "websocket: %s", why) < 0)
			w->why = NULL;
	}
	w->state = WS_FAILED;
	ws_need(c, w);
	conn_kick(c, 1, 1);
}

/* Sends what obuf holds: 0 all of it, 1 some left (need write), -1 failed. */
static int
ws_flush(struct conn *c, struct ws *w)
{
	while (w->ooff < w->olen) {
		struct iovec iov = {w->obuf + w->ooff, w->olen - w->ooff};
		ssize_t n = conn_raw_writev(c, &iov, 1);
		if (n > 0) {
			w->ooff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		return -1;
	}
	if (w->ooff == w->olen) {
		free(w->obuf);
		w->obuf = NULL;
		w->ooff = w->olen = 0;
	}
	ws_need(c, w);
	return w->olen > 0;
}

/* Free bytes at the end of obuf (what is left of it moved to the front);
 * 0 if out of memory. */
static size_t
ws_out_free(struct ws *w)
{
	if (w->obuf == NULL && (w->obuf = malloc(WS_BUF)) == NULL)
		return 0;
	if (w->ooff > 0) {
		memmove(w->obuf, w->obuf + w->ooff, w->olen - w->ooff);
		w->olen -= w->ooff;
		w->ooff = 0;
	}
	return WS_BUF - w->olen;
}

/* Room for n more bytes at the end of obuf; NULL if out of memory or full. */
static uint8_t *
ws_out_room(struct ws *w, size_t n)
{
	return ws_out_free(w) >= n ? w->obuf + w->olen : NULL;
}

/* A pong for the last ping, a close frame: between whole frames, always. */
static void
ws_queue_ctl(struct ws *w, int opcode, const uint8_t *p, size_t n)
{
	uint8_t *o = ws_out_room(w, WS_HDR_MAX + WS_CTL_MAX);
	ssize_t k;
	if (o != NULL && (k = ws_write_ctl(w->codec, o, opcode, p, n)) > 0)
		w->olen += (size_t)k;
}

static void
ws_queue_pong(struct ws *w)
{
	if (!w->pong_pending || w->close_sent)
		return;
	if (ws_out_room(w, WS_HDR_MAX + WS_CTL_MAX) == NULL)
		return; /* after the bytes ahead of it */
	ws_queue_ctl(w, WS_OP_PONG, w->pong, w->pong_len);
	w->pong_pending = 0;
}

/* ---- reading ---- */

static void
ws_on_close_frame(struct ws *w)
{
	const char *reason;
	int code = ws_close_code(w->codec, &reason);
	char text[WS_CTL_MAX];
	size_t i = 0;
	for (; reason[i] != '\0' && i < sizeof text - 1; i++)
		text[i] = reason[i] >= 0x20 && reason[i] < 0x7f ? reason[i] : '?';
	text[i] = '\0';
	w->close_rcvd = 1;
	log_debug("websocket: close from peer: %d%s%s", code, i ? " " : "", text);
}

/* Transport bytes into ibuf: > 0, 0 at EOF, -1 with errno. */
static ssize_t
ws_fill(struct conn *c, struct ws *w)
{
	if (w->ibuf == NULL && (w->ibuf = malloc(WS_BUF)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	ssize_t n = conn_raw_read(c, w->ibuf, WS_BUF);
	w->ioff = 0;
	w->ilen = n > 0 ? (size_t)n : 0;
	return n;
}

/* Payload into buf: > 0, 0 when the peer closed, -1 with errno. */
static ssize_t
ws_read_open(struct conn *c, struct ws *w, uint8_t *buf, size_t len)
{
	size_t got = 0;
	int err = EAGAIN, eof = 0;
	for (;;) {
		const uint8_t *in = w->ibuf + w->ioff;
		size_t inlen = w->ilen - w->ioff;
		enum ws_event ev;
		const char *why;
		ssize_t n = ws_read(w->codec, &in, &inlen, buf + got, len - got, &ev, &why);
		w->ioff = w->ilen - inlen;
		if (n < 0) {
			uint8_t p[WS_CTL_MAX];
			ws_queue_ctl(w, WS_OP_CLOSE, p,
			    ws_close_payload(p, WS_CLOSE_PROTOCOL, why));
			ws_flush(c, w);
			ws_fail(c, w, why);
			err = EPROTO;
			break;
		}
		got += (size_t)n;
		if (ev == WS_EV_PING) {
			const uint8_t *p = ws_ctl(w->codec, &w->pong_len);
			memcpy(w->pong, p, w->pong_len);
			w->pong_pending = 1;
			ws_queue_pong(w);
			ws_flush(c, w);
		} else if (ev == WS_EV_CLOSE) {
			ws_on_close_frame(w);
		}
		if (got == len || w->close_rcvd)
			break;
		if (ev != WS_EV_NONE || w->ioff < w->ilen)
			continue;
		ssize_t r = ws_fill(c, w);
		if (r > 0)
			continue;
		if (r == 0)
			eof = 1; /* no close frame: an abrupt end, read as EOF all the same */
		else if (errno == EINTR)
			continue;
		else
			err = errno;
		break;
	}
	if (w->ioff == w->ilen) {
		free(w->ibuf);
		w->ibuf = NULL;
		w->ioff = w->ilen = 0;
	}
	if (got > 0) {
		if (ws_pending(w->codec) > 0 || w->ioff < w->ilen)
			conn_kick(c, 1, 0); /* decoded bytes wait: no socket event will say so */
		return (ssize_t)got;
	}
	if (w->close_rcvd || eof)
		return 0;
	errno = err;
	return -1;
}

static ssize_t
ws_pass_read(struct conn *c, struct ws *w, uint8_t *buf, size_t len)
{
	if (len == 0)
		return 0;
	buf[0] = w->sniffed;
	ssize_t n = len > 1 ? conn_raw_read(c, buf + 1, len - 1) : 0;
	conn_filter_clear(c); /* a plain burrow connection from here on */
	ws_free(w);
	return 1 + (n > 0 ? n : 0);
}

static ssize_t
ws_conn_read(struct conn *c, void *buf, size_t len)
{
	struct ws *w = c->filter;
	switch (w->state) {
	case WS_OPEN:
		return ws_read_open(c, w, buf, len);
	case WS_PASS:
		return ws_pass_read(c, w, buf, len);
	case WS_FAILED:
		errno = EPROTO;
		return -1;
	default:
		errno = EAGAIN;
		return -1;
	}
}

/* ---- writing ---- */

/* Before the upgrade is done (a HELLO right after connecting): kept, up to
 * WS_EARLY bytes, and framed once it is. */
#define WS_EARLY 4096

static ssize_t
ws_stage(struct ws *w, const struct iovec *iov, int iovcnt)
{
	size_t taken = 0;
	if (w->early == NULL && (w->early = malloc(WS_EARLY)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < iovcnt && w->early_len < WS_EARLY; i++) {
		size_t n = iov[i].iov_len;
		if (n > WS_EARLY - w->early_len)
			n = WS_EARLY - w->early_len;
		memcpy(w->early + w->early_len, iov[i].iov_base, n);
		w->early_len += n;
		taken += n;
	}
	if (taken == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)taken;
}

static ssize_t
ws_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct ws *w = c->filter;
	if (w->state == WS_SNIFF || w->state == WS_PASS) {
		/* A server's goodbye before the peer said anything: plain. */
		return conn_raw_writev(c, iov, iovcnt);
	}
	if (w->state == WS_FAILED || w->close_sent) {
		errno = EPIPE;
		return -1;
	}
	if (w->state == WS_UPGRADE)
		return ws_stage(w, iov, iovcnt);
	if (w->state != WS_OPEN) {
		errno = EAGAIN; /* the user hears when the upgrade is done */
		return -1;
	}
	if (ws_flush(c, w) < 0) {
		ws_fail(c, w, NULL);
		errno = EPIPE;
		return -1;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	/* One frame of what fits: its bytes are ours from here on. */
	size_t room = ws_out_free(w);
	if (room <= WS_HDR_MAX || total == 0) {
		errno = EAGAIN; /* obuf still full: its flush is armed */
		return -1;
	}
	if (total > room - WS_HDR_MAX)
		total = room - WS_HDR_MAX;
	uint8_t *o = w->obuf + w->olen;
	ssize_t k = ws_write(w->codec, o, iov, iovcnt, total);
	if (k < 0) {
		ws_fail(c, w, "no randomness for the mask");
		errno = EPIPE;
		return -1;
	}
	w->olen += (size_t)k;
	if (ws_flush(c, w) < 0) {
		ws_fail(c, w, NULL);
		errno = EPIPE;
		return -1;
	}
	return (ssize_t)total;
}

static int
ws_conn_shutdown(struct conn *c)
{
	struct ws *w = c->filter;
	if (w->state == WS_SNIFF || w->state == WS_PASS || w->state == WS_HEAD ||
	    w->state == WS_UPGRADE)
		return conn_raw_shutdown(c);
	if (w->state == WS_FAILED) {
		errno = EPIPE;
		return -1;
	}
	if (!w->close_sent) {
		uint8_t p[WS_CTL_MAX];
		if (ws_out_room(w, WS_HDR_MAX + WS_CTL_MAX) == NULL) {
			errno = EAGAIN; /* after the frames ahead of it */
			return -1;
		}
		ws_queue_ctl(w, WS_OP_CLOSE, p, ws_close_payload(p, WS_CLOSE_NORMAL, ""));
		w->close_sent = 1;
	}
	int r = ws_flush(c, w);
	if (r < 0) {
		ws_fail(c, w, NULL);
		errno = EPIPE;
		return -1;
	}
	if (r > 0) {
		errno = EAGAIN; /* call again when writable */
		return -1;
	}
	return 0;
}

static size_t
ws_conn_buffered(const struct conn *c)
{
	const struct ws *w = c->filter;
	switch (w->state) {
	case WS_PASS:
		return 1 + conn_raw_buffered(c);
	case WS_OPEN:
		return ws_pending(w->codec) + (w->ilen - w->ioff);
	default:
		return 0;
	}
}

/* ---- the upgrade ---- */

/* More of the handshake head: 1 some read, 0 nothing yet, -1 failed (set). */
static int
ws_head_read(struct conn *c, struct ws *w)
{
	if (w->head == NULL && (w->head = malloc(HTTP_HEAD_MAX)) == NULL) {
		ws_fail(c, w, "out of memory");
		return -1;
	}
	if (w->head_len == HTTP_HEAD_MAX)
		return 1; /* full: the parser says what that means */
	ssize_t n = conn_raw_read(c, w->head + w->head_len, HTTP_HEAD_MAX - w->head_len);
	if (n > 0) {
		w->head_len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	ws_fail(c, w, n == 0 ? "connection closed during the upgrade"
			     : conn_raw_strerror(c, errno));
	return -1;
}

/* The upgrade is done: what followed the head is the first frames'. */
static int
ws_open(struct conn *c, struct ws *w, size_t head_len)
{
	size_t rest = w->head_len - head_len;
	if (rest > 0) {
		if ((w->ibuf = malloc(WS_BUF)) == NULL) {
			ws_fail(c, w, "out of memory");
			return -1;
		}
		memcpy(w->ibuf, w->head + head_len, rest);
		w->ilen = rest;
	}
	free(w->head);
	w->head = NULL;
	w->head_len = 0;
	w->state = WS_OPEN;
	if (w->early_len > 0) {
		struct iovec iov = {w->early, w->early_len};
		uint8_t *o = ws_out_room(w, w->early_len + WS_HDR_MAX);
		ssize_t k = o ? ws_write(w->codec, o, &iov, 1, w->early_len) : -1;
		if (k < 0) {
			ws_fail(c, w, "out of memory");
			return -1;
		}
		w->olen += (size_t)k;
		free(w->early);
		w->early = NULL;
		w->early_len = 0;
	}
	if (ws_flush(c, w) < 0) {
		ws_fail(c, w, NULL);
		return -1;
	}
	conn_kick(c, 1, 1);
	return 0;
}

static void
ws_server_head(struct conn *c, struct ws *w)
{
	struct http_head rq;
	size_t head_len = 0;
	int status;
	const char *why;
	int rc = http_head_parse(w->head, w->head_len, HTTP_HEAD_REQUEST, &rq,
	    &head_len, &status, &why);
	if (rc == 0)
		return;
	if (rc == 1 && w->take != NULL && httpt_request_is_ours(&rq, w->path)) {
		/* The http transport's: the conn goes to it, this filter goes. */
		ws_take_cb take = w->take;
		void *arg = w->take_arg;
		uint8_t *head = w->head;
		size_t len = w->head_len;
		w->head = NULL;
		conn_filter_clear(c);
		ws_free(w);
		take(c, &rq, head + head_len, len - head_len, arg);
		free(head);
		return;
	}
	char resp[512];
	size_t n;
	if (rc < 0) {
		n = http_response(resp, sizeof resp, status,
		    status == 431 ? "Request Header Fields Too Large"
		    : status == 414 ? "URI Too Long" : "Bad Request", "", "Bad Request\n");
	} else {
		n = ws_server_response(&rq, w->path, resp, sizeof resp, &status, &why);
	}
	uint8_t *o = ws_out_room(w, n);
	if (o == NULL || n == 0) {
		ws_fail(c, w, "out of memory");
		return;
	}
	memcpy(o, resp, n);
	w->olen += n;
	if (status == 101) {
		ws_open(c, w, head_len);
		return;
	}
	/* The answer goes out if the socket takes it now; then the conn fails. */
	ws_flush(c, w);
	char text[HTTP_PATH_MAX + 96];
	if (rc < 0)
		snprintf(text, sizeof text, "bad request: %s (%d)", why, status);
	else
		snprintf(text, sizeof text, "%s %.*s: %s (%d)", http_method_name(rq.method),
		    64, rq.path, why, status);
	for (char *p = text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	ws_fail(c, w, text);
}

static void
ws_client_head(struct conn *c, struct ws *w)
{
	size_t head_len = 0;
	int status;
	const char *why;
	int rc = ws_client_response(w->head, w->head_len, w->key, &head_len, &status, &why);
	if (rc == 0)
		return;
	if (rc < 0) {
		char text[160];
		snprintf(text, sizeof text, "upgrade refused: %s", why);
		ws_fail(c, w, text);
		return;
	}
	ws_open(c, w, head_len);
}

/* The first byte: an HTTP request (a letter) or a burrow frame. */
static void
ws_sniff(struct conn *c, struct ws *w)
{
	uint8_t b;
	ssize_t n = conn_raw_read(c, &b, 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 1 || !((b >= 'A' && b <= 'Z'))) {
		if (n != 1) {
			/* EOF or an error: the transport says it again to the reader. */
			conn_filter_clear(c);
			ws_free(w);
			conn_kick(c, 1, 1);
			return;
		}
		w->sniffed = b;
		w->state = WS_PASS;
		ws_need(c, w);
		conn_kick(c, 1, 1);
		return;
	}
	if ((w->codec = ws_codec_new(1)) == NULL ||
	    (w->head = malloc(HTTP_HEAD_MAX)) == NULL) {
		ws_fail(c, w, "out of memory");
		return;
	}
	w->head[0] = b;
	w->head_len = 1;
	w->state = WS_HEAD;
	ws_need(c, w);
}

/* Must not free c. */
static void
ws_pump(struct conn *c, short what)
{
	struct ws *w = c->filter;
	if (w->olen > w->ooff && ws_flush(c, w) < 0) {
		ws_fail(c, w, NULL);
		return;
	}
	switch (w->state) {
	case WS_SNIFF:
		if (what & EV_READ)
			ws_sniff(c, w);
		if (c->filter != w || w->state != WS_HEAD)
			return;
		/* fall through: the request may be here already */
	case WS_HEAD:
		while (w->state == WS_HEAD && ws_head_read(c, w) > 0) {
			ws_server_head(c, w);
			if (c->filter != w)
				return; /* handed over with the conn (http transport) */
			if (w->head_len == HTTP_HEAD_MAX)
				break;
		}
		return;
	case WS_UPGRADE:
		while (w->state == WS_UPGRADE && ws_head_read(c, w) > 0) {
			ws_client_head(c, w);
			if (w->head_len == HTTP_HEAD_MAX)
				break;
		}
		return;
	case WS_OPEN:
		if (w->olen == w->ooff && w->close_sent)
			conn_kick(c, 0, 1); /* a shutdown waiting for the flush */
		return;
	default:
		return;
	}
}

static const char *
ws_conn_strerror(const struct conn *c)
{
	return ((const struct ws *)c->filter)->why;
}

static void
ws_conn_destroy(struct conn *c)
{
	struct ws *w = c->filter;
	if (w->state == WS_OPEN && !w->close_sent && w->olen == w->ooff) {
		/* A close frame, best effort: the peer reads a clean end. */
		uint8_t p[WS_CTL_MAX];
		ws_queue_ctl(w, WS_OP_CLOSE, p, ws_close_payload(p, WS_CLOSE_NORMAL, ""));
		if (w->olen > 0) {
			struct iovec iov = {w->obuf, w->olen};
			(void)conn_raw_writev(c, &iov, 1);
		}
	}
	ws_free(w);
	c->filter = NULL;
}

static const struct conn_ops ws_ops = {
    .kind = "ws",
    .read = ws_conn_read,
    .writev = ws_conn_writev,
    .shutdown = ws_conn_shutdown,
    .buffered = ws_conn_buffered,
    .pump = ws_pump,
    .strerror = ws_conn_strerror,
    .destroy = ws_conn_destroy,
};

int
conn_ws_client(struct conn *c, const char *host, const char *path)
{
	struct ws *w = calloc(1, sizeof *w);
	if (w == NULL)
		return -1;
	char req[HTTP_PATH_MAX + HTTP_HOST_MAX + 256];
	size_t n;
	if ((w->codec = ws_codec_new(0)) == NULL || ws_key_new(w->key) != 0 ||
	    (n = ws_client_request(req, sizeof req, host, path, w->key)) == 0 ||
	    ws_out_room(w, n) == NULL) {
		ws_free(w);
		return -1;
	}
	memcpy(w->obuf, req, n);
	w->olen = n;
	w->state = WS_UPGRADE;
	conn_filter_set(c, &ws_ops, w);
	ws_need(c, w);
	return 0;
}

int
conn_ws_server(struct conn *c, const char *path, ws_take_cb take, void *arg)
{
	struct ws *w = calloc(1, sizeof *w);
	if (w == NULL)
		return -1;
	w->server = 1;
	w->path = path;
	w->take = take;
	w->take_arg = arg;
	w->state = WS_SNIFF;
	conn_filter_set(c, &ws_ops, w);
	ws_need(c, w);
	return 0;
}

int
conn_is_ws(const struct conn *c)
{
	return c->fops == &ws_ops;
}
