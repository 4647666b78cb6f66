#include "mux/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mux/mux-t.h"
#include "transport/conn.h"
#include "util/evtime.h"
#include "util/log.h"

/* Frames before authentication are small: HELLO, AUTH, AUTH_OK, ERROR. */
#define HANDSHAKE_MAX_PAYLOAD 1024
#define DRAIN_TIMEOUT_MS 2000
#define IOV_MAX_FLUSH 64

static void session_read_cb(struct conn *c, void *arg);
static void session_write_cb(struct conn *c, void *arg);
static void session_flush_cb(evutil_socket_t fd, short what, void *arg);
static void session_ping(struct session *s, uint8_t mark);
static void session_reap_cb(evutil_socket_t fd, short what, void *arg);
static void session_timer_cb(evutil_socket_t fd, short what, void *arg);
static void session_flush(struct session *s);



struct session *
session_new(struct event_base *base, struct conn *conn, const char *label,
    const struct session_params *p, const struct session_handler *h, void *arg)
{
	struct session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->base = base;
	s->p = *p;
	s->window = p->window;
	s->h = h;
	s->arg = arg;
	s->next_id = p->initiator_parity ? 1 : 2;
	s->nbuckets = 64;
	s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
	s->in_cap = SESSION_IN_HANDSHAKE;
	s->in = malloc(s->in_cap);
	s->out = evbuffer_new();
	s->flush_ev = event_new(base, -1, 0, session_flush_cb, s);
	s->reap_ev = event_new(base, -1, 0, session_reap_cb, s);
	s->timer = event_new(base, -1, EV_PERSIST, session_timer_cb, s);
	TAILQ_INIT(&s->paused);
	TAILQ_INIT(&s->dead);
	if (!s->buckets || !s->in || !s->out || !s->flush_ev || !s->reap_ev ||
	    !s->timer) {
		/* Nothing was added to the loop yet: free directly. The caller
		 * keeps the conn. */
		s->closing = 1;
		session_reap_cb(-1, 0, s);
		return NULL;
	}
	session_set_label(s, label);
	s->last_rx_ms = mono_ms();
	s->conn = conn;
	conn_set_cb(conn, session_read_cb, session_write_cb, s);
	conn_want_read(conn, 1);
	if (p->handshake_ms)
		event_add_ms(s->timer, p->handshake_ms);
	return s;
}

void
session_set_label(struct session *s, const char *label)
{
	snprintf(s->label, sizeof s->label, "%s", label);
}

const char *
session_label(const struct session *s)
{
	return s->label;
}

int
session_is_closing(const struct session *s)
{
	return s->closing;
}

int
session_congested(const struct session *s)
{
	return s->closing || s->draining || s->out == NULL ||
	    evbuffer_get_length(s->out) >= SESSION_OUT_HIGH;
}

size_t
session_stream_count(const struct session *s)
{
	return s->nstreams;
}

void
session_set_ready(struct session *s)
{
	s->ready = 1;
	event_del(s->timer);
	event_add_ms(s->timer, s->p.heartbeat_ms);
}

/* ---- stream table: chained hash on the id, grows at load 1 ---- */

static size_t
bucket_of(const struct session *s, uint32_t id)
{
	return (id * 2654435761u) & (s->nbuckets - 1);
}

struct stream *
session_stream_find(struct session *s, uint32_t id)
{
	for (struct stream *st = s->buckets[bucket_of(s, id)]; st; st = st->hnext)
		if (st->id == id)
			return st;
	return NULL;
}

void
session_stream_insert(struct session *s, struct stream *st)
{
	if (s->nstreams >= s->nbuckets) {
		size_t nb = s->nbuckets * 2;
		struct stream **b = calloc(nb, sizeof *b);
		if (b != NULL) {
			struct stream **old = s->buckets;
			size_t on = s->nbuckets;
			s->buckets = b;
			s->nbuckets = nb;
			for (size_t i = 0; i < on; i++) {
				struct stream *x = old[i], *next;
				for (; x; x = next) {
					next = x->hnext;
					size_t k = bucket_of(s, x->id);
					x->hnext = b[k];
					b[k] = x;
				}
			}
			free(old);
		}
	}
	size_t k = bucket_of(s, st->id);
	st->hnext = s->buckets[k];
	s->buckets[k] = st;
	s->nstreams++;
}

void
session_stream_remove(struct session *s, struct stream *st)
{
	struct stream **pp = &s->buckets[bucket_of(s, st->id)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == st) {
			*pp = st->hnext;
			s->nstreams--;
			return;
		}
	}
}

/* ---- output ---- */

void
session_want_flush(struct session *s)
{
	if (s->closing || s->flush_pending || s->writing)
		return;
	s->flush_pending = 1;
	event_active(s->flush_ev, EV_WRITE, 0);
}

void
session_want_reap(struct session *s)
{
	event_active(s->reap_ev, EV_TIMEOUT, 0);
}

void
session_send(struct session *s, enum frame_type type, uint32_t id,
    const void *payload, size_t len)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	if (s->closing)
		return;
	frame_header_encode(hdr, type, 0, id, (uint32_t)len);
	evbuffer_add(s->out, hdr, sizeof hdr);
	if (len)
		evbuffer_add(s->out, payload, len);
	if (evbuffer_get_length(s->out) > SESSION_OUT_MAX && !s->overflow) {
		/*
		 * The peer does not read what it asks for (PINGs, say): stop
		 * decoding its frames, and close from the flush callback, not
		 * under our caller, which may still use its stream.
		 */
		s->overflow = 1;
		event_active(s->flush_ev, EV_WRITE, 0);
		return;
	}
	session_want_flush(s);
}

void
session_send_error(struct session *s, enum frame_type type, uint32_t id,
    uint16_t code, const char *text)
{
	uint8_t buf[MSG_MAX];
	size_t n = msg_error_encode(buf, code, text);
	session_send(s, type, id, buf, n);
}

static void
session_uncongest(struct session *s)
{
	s->congested = 0;
	struct stream *st;
	while ((st = TAILQ_FIRST(&s->paused)) != NULL) {
		TAILQ_REMOVE(&s->paused, st, link);
		st->paused = 0;
		stream_resume(st);
		if (s->closing || s->congested)
			return;
	}
}

static void
session_flush(struct session *s)
{
	if (s->overflow && !s->closing) {
		session_close(s, "peer is not reading (output queue over 8 MiB)");
		return;
	}
	while (!s->closing && evbuffer_get_length(s->out) > 0) {
		struct evbuffer_iovec v[IOV_MAX_FLUSH];
		struct iovec iov[IOV_MAX_FLUSH];
		int n = evbuffer_peek(s->out, -1, NULL, v, IOV_MAX_FLUSH);
		if (n > IOV_MAX_FLUSH)
			n = IOV_MAX_FLUSH;
		size_t total = 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			total += v[i].iov_len;
		}
		ssize_t w = conn_writev(s->conn, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			char why[128];
			snprintf(why, sizeof why, "write: %s", conn_strerror(s->conn, errno));
			session_close(s, why);
			return;
		}
		evbuffer_drain(s->out, (size_t)w);
		if ((size_t)w < total)
			break;
	}
	if (s->closing)
		return;
	size_t left = evbuffer_get_length(s->out);
	if (left == 0 && s->draining) {
		/* What the transport still holds (a TLS record, an http
		 * transport's last request) leaves first. Write interest stays
		 * on, not off and on again: a virtual conn would call back at once. */
		if (conn_shutdown(s->conn) != 0 && errno == EAGAIN) {
			if (!s->writing) {
				s->writing = 1;
				conn_want_write(s->conn, 1);
			}
			return;
		}
		session_close(s, NULL);
		return;
	}
	if (left > 0 && !s->writing) {
		s->writing = 1;
		conn_want_write(s->conn, 1);
	} else if (left == 0 && s->writing) {
		s->writing = 0;
		conn_want_write(s->conn, 0);
	}
	if (left >= SESSION_OUT_HIGH)
		s->congested = 1;
	else if (s->congested && left <= SESSION_OUT_LOW)
		session_uncongest(s);
}

static void
session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	s->flush_pending = 0;
	session_flush(s);
}

static void
session_write_cb(struct conn *c, void *arg)
{
	session_flush(arg);
}

/* ---- input ---- */

void
session_protocol_error(struct session *s, const char *why)
{
	char reason[160];
	snprintf(reason, sizeof reason, "protocol error: %s", why);
	session_send_error(s, FRAME_ERROR, 0, ERR_PROTOCOL, reason);
	session_close_after_flush(s, reason);
}

/* ---- window tuning ----
 *
 * A fixed window caps a stream at window / round trip: 2 MiB over 40 ms is
 * 400 Mbit/s. As gRPC does for HTTP/2, the receiver measures what the path
 * holds: it sends a PING when data arrives and counts the bytes that arrive
 * until the PONG. A PONG waits behind the DATA the peer has queued, so a
 * round trip is stretched by queues the window itself fills: the estimate
 * is the delivery rate times the shortest round trip seen (BBR's), which a
 * queue does not inflate. If that is near the window, the window is what
 * limits the sender: it becomes twice the estimate (up to window_max, and
 * a share of SESSION_WINDOW_BUDGET per stream) and every open stream is
 * granted the difference. One PING per round trip while data flows, none
 * when idle.
 */
#define BDP_PING_MARK 0xb1 /* first byte of a tuning PING; a heartbeat's is 0 */
#define SESSION_WINDOW_BUDGET (64u * 1024 * 1024)

/* A PING: a heartbeat's (mark 0) or a tuning one; the time it left, in
 * microseconds, in the other 7 bytes (our PONGs only come back to us). */
static void
session_ping(struct session *s, uint8_t mark)
{
	uint64_t now = mono_us();
	uint8_t ping[8] = {mark};
	for (int i = 1; i < 8; i++)
		ping[i] = (uint8_t)(now >> (56 - 8 * i));
	session_send(s, FRAME_PING, 0, ping, sizeof ping);
}

static void
session_bdp_on_data(struct session *s)
{
	if (s->bdp_pending || s->window >= s->p.window_max)
		return;
	if (s->rtt_min_us == 0) {
		/* First a round trip measured at the first bytes, before any
		 * queue fills: the shortest one the estimates scale by. */
		if (!s->rtt_probe) {
			s->rtt_probe = 1;
			session_ping(s, 0);
		}
		return;
	}
	s->bdp_pending = 1;
	s->bdp_bytes = 0;
	session_ping(s, BDP_PING_MARK);
}

/* Every PONG is a round trip; a tuning one may grow the windows. */
static void
session_on_pong(struct session *s, const uint8_t *p)
{
	uint64_t sent = 0, now = mono_us();
	for (int i = 1; i < 8; i++)
		sent = sent << 8 | p[i];
	if (sent > now || (p[0] != 0 && p[0] != BDP_PING_MARK))
		return; /* not one of ours */
	uint64_t rtt = now > sent ? now - sent : 1;
	if (s->rtt_min_us == 0 || rtt < s->rtt_min_us)
		s->rtt_min_us = rtt;
	if (p[0] != BDP_PING_MARK) {
		s->rtt_probe = 0;
		return;
	}
	if (!s->bdp_pending)
		return;
	s->bdp_pending = 0;
	uint64_t bdp = s->bdp_bytes * s->rtt_min_us / rtt;
	if (bdp * 3 < (uint64_t)s->window * 2)
		return; /* the window is not what limits the sender */
	uint64_t want = bdp * 2;
	uint64_t share = SESSION_WINDOW_BUDGET / (s->nstreams ? s->nstreams : 1);
	if (want > s->p.window_max)
		want = s->p.window_max;
	if (want > share)
		want = share;
	if (want <= s->window)
		return;
	uint32_t delta = (uint32_t)want - s->window;
	log_debug("%s: stream window %u -> %u KiB (%llu KiB in a round trip of %llu ms, "
		  "shortest %llu ms)",
	    s->label, s->window / 1024, (unsigned)(want / 1024),
	    (unsigned long long)(s->bdp_bytes / 1024), (unsigned long long)(rtt / 1000),
	    (unsigned long long)(s->rtt_min_us / 1000));
	s->window = (uint32_t)want;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct stream *st = s->buckets[i]; st != NULL; st = st->hnext)
			stream_grow_window(st, delta);
}

static void
session_dispatch(struct session *s, const struct frame *f)
{
	const char *why = NULL;
	switch (f->type) {
	case FRAME_DATA:
		s->bdp_bytes += f->len;
		if (s->ready)
			session_bdp_on_data(s);
		/* fall through */
	case FRAME_WINDOW:
	case FRAME_FIN:
	case FRAME_RST:
	case FRAME_OPEN_OK:
	case FRAME_OPEN_ERR:
	case FRAME_MOVED: {
		if (!s->ready) {
			session_protocol_error(s, "stream frame before authentication");
			return;
		}
		struct stream *st = session_stream_find(s, f->id);
		if (st != NULL) {
			stream_on_frame(st, f);
		} else if (f->type == FRAME_OPEN_OK) {
			/* We gave up on it (timeout): tell the peer to drop it. */
			session_send_error(s, FRAME_RST, f->id, ERR_TIMEOUT, "stream gone");
		} else if (f->type == FRAME_RST && s->h->on_stray_rst != NULL) {
			s->h->on_stray_rst(s, f->id, s->arg);
		}
		/* Other frames for a closed stream are late arrivals: dropped. */
		return;
	}
	case FRAME_PING:
		if (!s->ready || f->len != 8) {
			session_protocol_error(s, "bad PING");
			return;
		}
		session_send(s, FRAME_PONG, 0, f->payload, f->len);
		return;
	case FRAME_PONG:
		if (!s->ready)
			session_protocol_error(s, "bad PONG");
		else if (f->len == 8)
			session_on_pong(s, f->payload);
		return;
	default:
		if (s->h->on_frame(s, f, s->arg, &why) != 0 && !s->closing)
			session_protocol_error(s, why ? why : "unexpected frame");
		return;
	}
}

/* Decodes and dispatches every complete frame in the input buffer. */
static void
session_process(struct session *s)
{
	size_t off = 0;
	size_t max = s->ready ? FRAME_MAX_PAYLOAD : HANDSHAKE_MAX_PAYLOAD;
	while (!s->closing && !s->draining && !s->overflow) {
		struct frame f;
		const char *why = NULL;
		ssize_t r = frame_decode(s->in + off, s->in_len - off, max, &f, &why);
		if (r < 0) {
			session_protocol_error(s, why);
			return;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		s->in_used = off;
		session_dispatch(s, &f);
		max = s->ready ? FRAME_MAX_PAYLOAD : HANDSHAKE_MAX_PAYLOAD;
	}
	if (s->closing)
		return;
	if (off > 0) {
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
	s->in_used = 0;
}

static void
session_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;
	for (int round = 0; round < 4 && !s->closing && !s->draining; round++) {
		if (s->ready && s->in_cap < SESSION_IN_CAP) {
			/* Authenticated: room for full-size frames. */
			uint8_t *in = realloc(s->in, SESSION_IN_CAP);
			if (in == NULL) {
				session_close(s, "out of memory");
				return;
			}
			s->in = in;
			s->in_cap = SESSION_IN_CAP;
		}
		size_t space = s->in_cap - s->in_len;
		ssize_t n = conn_read(s->conn, s->in + s->in_len, space);
		if (n == 0) {
			session_close(s, "connection closed by peer");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			char why[128];
			snprintf(why, sizeof why, "read: %s", conn_strerror(s->conn, errno));
			session_close(s, why);
			return;
		}
		s->in_len += (size_t)n;
		s->last_rx_ms = mono_ms();
		session_process(s);
		if ((size_t)n < space)
			return;
	}
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	if (s->draining) {
		session_close(s, NULL);
		return;
	}
	if (!s->ready) {
		session_send_error(s, FRAME_ERROR, 0, ERR_TIMEOUT, "handshake timeout");
		session_close_after_flush(s, "handshake timeout");
		return;
	}
	uint64_t now = mono_ms();
	if (now - s->last_rx_ms > 3ull * s->p.heartbeat_ms) {
		session_close(s, "heartbeat timeout");
		return;
	}
	session_ping(s, 0);
}

/* ---- streams ---- */

uint32_t
session_open(struct session *s, const struct stream_open *o)
{
	if (s->closing || s->draining || !s->ready ||
	    o->early_len > STREAM_EARLY_MAX)
		return 0;
	/*
	 * Ids wrap after 2^31 streams (about 2.5 days at 10,000 connections/s):
	 * skip 0 and any id a long-lived stream still holds.
	 */
	uint32_t id;
	do {
		id = s->next_id;
		s->next_id += 2;
	} while (id == 0 || session_stream_find(s, id) != NULL);
	uint8_t *early = NULL;
	if (o->early_len > 0) {
		if ((early = malloc(o->early_len)) == NULL)
			return 0;
		memcpy(early, o->early, o->early_len);
	}
	struct stream *st = stream_new(s, id, o->fd, o->tunnel_id, SS_OPENING);
	if (st == NULL) {
		free(early);
		return 0;
	}
	st->tag = o->tag;
	st->early = early;
	st->early_len = o->early_len;
	struct msg_open m = *o->m;
	m.window = st->flow.recv_window;
	uint8_t buf[MSG_MAX];
	size_t n = msg_open_encode(buf, &m);
	session_send(s, FRAME_OPEN, id, buf, n);
	stream_arm_timer(st);
	return id;
}

uint32_t
session_open_stream(struct session *s, int fd, uint32_t tunnel_id,
    const char *peer)
{
	struct msg_open m = {.tunnel_id = tunnel_id, .kind = OPEN_TUNNEL};
	snprintf(m.peer, sizeof m.peer, "%s", peer);
	struct stream_open o = {.fd = fd, .tunnel_id = tunnel_id, .m = &m};
	return session_open(s, &o);
}

void
session_accept_stream(struct session *s, uint32_t id, int fd,
    uint32_t tunnel_id, uint32_t peer_window)
{
	if (s->closing) {
		close(fd);
		return;
	}
	if (session_stream_find(s, id) != NULL) {
		/* The peer opened an id it already uses: its bug, its session. */
		close(fd);
		session_protocol_error(s, "OPEN for a stream id in use");
		return;
	}
	struct stream *st = stream_new(s, id, fd, tunnel_id, SS_OPEN);
	if (st == NULL) {
		session_refuse_stream(s, id, ERR_INTERNAL, "out of memory");
		return;
	}
	uint8_t buf[4];
	msg_u32_encode(buf, st->flow.recv_window);
	session_send(s, FRAME_OPEN_OK, id, buf, sizeof buf);
	stream_start(st, peer_window);
}

int
session_stream_adopt(struct session *s, uint32_t id, struct conn *data)
{
	struct stream *st = s->closing ? NULL : session_stream_find(s, id);
	return st == NULL ? -1 : stream_adopt(st, data);
}

void
session_refuse_stream(struct session *s, uint32_t id, uint16_t code,
    const char *text)
{
	session_send_error(s, FRAME_OPEN_ERR, id, code, text);
}

/* ---- teardown ---- */

static void
session_close_streams(struct session *s)
{
	for (size_t i = 0; i < s->nbuckets; i++)
		while (s->buckets[i] != NULL)
			stream_close(s->buckets[i], "session closed", 0);
}

void
session_close_after_flush(struct session *s, const char *reason)
{
	if (s->closing || s->draining)
		return;
	s->draining = 1;
	conn_want_read(s->conn, 0);
	session_close_streams(s);
	/* The reason is reported now; the connection lives until flushed. The
	 * role frees its state in on_close: no handler sees arg again. */
	s->h->on_close(s, reason, s->arg);
	s->arg = NULL;
	event_del(s->timer);
	event_add_ms(s->timer, DRAIN_TIMEOUT_MS);
	session_flush(s);
}

void
session_close(struct session *s, const char *reason)
{
	if (s->closing)
		return;
	int reported = s->draining;
	s->closing = 1;
	session_close_streams(s);
	event_del(s->timer);
	conn_free(s->conn);
	s->conn = NULL;
	if (!reported)
		s->h->on_close(s, reason ? reason : "closed", s->arg);
	s->arg = NULL;
	session_want_reap(s);
}

struct conn *
session_conn(struct session *s)
{
	return s->conn;
}

struct conn *
session_detach(struct session *s)
{
	if (s->closing || s->draining)
		return NULL;
	session_flush(s);
	if (s->closing)
		return NULL;
	if (s->in_len != s->in_used || evbuffer_get_length(s->out) != 0 ||
	    conn_buffered(s->conn) > 0) {
		session_close(s, "unexpected bytes after handshake");
		return NULL;
	}
	struct conn *c = s->conn;
	s->conn = NULL;
	s->closing = 1;
	session_close_streams(s);
	event_del(s->timer);
	conn_want_read(c, 0);
	conn_want_write(c, 0);
	conn_set_cb(c, NULL, NULL, NULL);
	session_want_reap(s);
	return c;
}

struct conn *
session_take_conn(struct session *s)
{
	if (s->closing || s->draining || s->conn == NULL)
		return NULL;
	struct conn *c = s->conn;
	s->conn = NULL;
	s->closing = 1;
	session_close_streams(s);
	event_del(s->timer);
	conn_want_read(c, 0);
	conn_want_write(c, 0);
	conn_set_cb(c, NULL, NULL, NULL);
	session_want_reap(s);
	return c;
}

static void
session_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct stream *st;
	while ((st = TAILQ_FIRST(&s->dead)) != NULL) {
		TAILQ_REMOVE(&s->dead, st, link);
		stream_free(st);
	}
	if (!s->closing)
		return;
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->reap_ev)
		event_free(s->reap_ev);
	if (s->timer)
		event_free(s->timer);
	if (s->out)
		evbuffer_free(s->out);
	free(s->in);
	free(s->buckets);
	free(s);
}
