/*
 * One user connection inside a session: relays bytes between a local socket
 * and the session with per-stream flow control and half-close.
 *
 * Local socket -> peer: read straight into the session's output buffer
 * (evbuffer_reserve_space, a frame header in front), at most send_credit
 * bytes, and stop reading when the credit is gone or the session's output is
 * above its high mark. EOF becomes FIN.
 * Peer -> local socket: write DATA payloads straight from the session's input
 * buffer; what the socket does not take waits in `pending` (never more than
 * the window we granted). Bytes the socket took are granted back with WINDOW
 * once a quarter of the window has been consumed. FIN becomes shutdown(SHUT_WR)
 * after `pending` is empty.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mux/mux-t.h"
#include "transport/conn.h"
#include "util/evtime.h"
#include "util/log.h"

static void stream_read_cb(evutil_socket_t fd, short what, void *arg);
static void stream_write_cb(evutil_socket_t fd, short what, void *arg);
static void stream_timer_cb(evutil_socket_t fd, short what, void *arg);
static void stream_maybe_promote(struct stream *st, size_t n);
static void stream_try_move(struct stream *st);

static const char *const rd_names[] = {"open", "eof"};
static const char *const wr_names[] = {"open", "fin-pending", "shut"};

struct stream *
stream_new(struct session *s, uint32_t id, int fd, uint32_t tunnel_id,
    enum stream_state state)
{
	struct stream *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->s = s;
	st->id = id;
	st->tunnel_id = tunnel_id;
	st->fd = fd;
	st->state = state;
	st->promote_at = s->p.promote_after;
	flow_init(&st->flow, s->window, 0);
	st->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, stream_read_cb, st);
	st->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, stream_write_cb, st);
	if (st->rev == NULL || st->wev == NULL) {
		if (st->rev)
			event_free(st->rev);
		if (st->wev)
			event_free(st->wev);
		free(st);
		return NULL;
	}
	session_stream_insert(s, st);
	return st;
}

static void
stream_reading(struct stream *st, int on)
{
	if (on && !st->reading)
		event_add(st->rev, NULL);
	else if (!on && st->reading)
		event_del(st->rev);
	st->reading = on ? 1 : 0;
}

static void
stream_writing(struct stream *st, int on)
{
	if (on && !st->writing)
		event_add(st->wev, NULL);
	else if (!on && st->writing)
		event_del(st->wev);
	st->writing = on ? 1 : 0;
}

void
stream_arm_timer(struct stream *st)
{
	if (st->timer == NULL)
		st->timer = event_new(st->s->base, -1, 0, stream_timer_cb, st);
	if (st->timer != NULL)
		event_add_ms(st->timer, st->s->p.open_timeout_ms);
}

/* Opening: the peer never answered OPEN. Moving: the move never completed
 * (a data connection broke before ADOPT was read, or no MOVED came back). */
static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	if (st->moving) {
		log_info("%s stream %u: move failed: not completed within %u ms",
		    st->s->label, st->id, st->s->p.open_timeout_ms);
		stream_close(st, "move timed out", 1);
		return;
	}
	log_info("%s stream %u: open failed: no answer within %u ms",
	    st->s->label, st->id, st->s->p.open_timeout_ms);
	stream_open_failed(st, ERR_TIMEOUT, "open timed out", 1);
}

void
stream_open_failed(struct stream *st, uint16_t code, const char *text,
    int send_rst)
{
	struct session *s = st->s;
	if (st->tag != 0 && s->h->on_open_result != NULL) {
		struct msg_error e = {.code = code};
		snprintf(e.text, sizeof e.text, "%s", text);
		s->h->on_open_result(s, st->id, st->tunnel_id, st->tag, st->fd, &e,
		    s->arg);
	}
	stream_close(st, send_rst ? text : "open failed", send_rst);
}

/* Early bytes go first, as DATA within the peer's window. */
static int
stream_send_early(struct stream *st)
{
	size_t n = st->early_len;
	if (n > st->flow.send_credit)
		return -1;
	session_send(st->s, FRAME_DATA, st->id, st->early, n);
	flow_sent(&st->flow, n);
	st->bytes_out += n;
	free(st->early);
	st->early = NULL;
	st->early_len = 0;
	return 0;
}

void
stream_start(struct stream *st, uint32_t peer_window)
{
	st->state = SS_OPEN;
	st->flow.send_credit = peer_window;
	if (st->timer) {
		event_free(st->timer);
		st->timer = NULL;
	}
	if (st->early != NULL && stream_send_early(st) != 0) {
		stream_close(st, "window smaller than the request's early bytes", 1);
		return;
	}
	stream_resume(st);
}

void
stream_resume(struct stream *st)
{
	if (st->state == SS_OPEN && st->rd == RD_OPEN && !st->moving &&
	    st->flow.send_credit > 0)
		stream_reading(st, 1);
}

/* Stream done when both directions are finished. */
static void
stream_check_done(struct stream *st)
{
	if (st->rd == RD_EOF && st->wr == WR_DONE)
		stream_close(st, "done", 0);
}

static void
stream_fail_errno(struct stream *st, const char *op)
{
	char why[128];
	snprintf(why, sizeof why, "%s: %s", op, strerror(errno));
	stream_close(st, why, 1);
}

static void
stream_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	struct session *s = st->s;
	size_t budget = STREAM_READ_BUDGET;

	while (budget > 0) {
		size_t want = flow_allowance(&st->flow, STREAM_READ_CHUNK);
		if (want == 0) {
			stream_reading(st, 0);
			return;
		}
		if (s->congested) {
			stream_reading(st, 0);
			if (!st->paused) {
				st->paused = 1;
				TAILQ_INSERT_TAIL(&s->paused, st, link);
			}
			return;
		}
		if (want > budget)
			want = budget;
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(s->out, FRAME_HEADER_LEN + want, &v, 1) < 1) {
			stream_close(st, "out of memory", 1);
			return;
		}
		uint8_t *p = v.iov_base;
		ssize_t n = read(st->fd, p + FRAME_HEADER_LEN, want);
		if (n > 0) {
			frame_header_encode(p, FRAME_DATA, 0, st->id, (uint32_t)n);
			v.iov_len = FRAME_HEADER_LEN + (size_t)n;
			evbuffer_commit_space(s->out, &v, 1);
			flow_sent(&st->flow, (size_t)n);
			st->bytes_out += (uint64_t)n;
			budget -= (size_t)n;
			if (evbuffer_get_length(s->out) >= SESSION_OUT_HIGH)
				s->congested = 1;
			session_want_flush(s);
			stream_maybe_promote(st, (size_t)n);
			if (st->moving)
				return;
			if ((size_t)n < want)
				return; /* the socket is most likely empty */
			continue;
		}
		if (n == 0) {
			log_debug("%s stream %u: read %s -> %s", s->label, st->id,
			    rd_names[st->rd], rd_names[RD_EOF]);
			st->rd = RD_EOF;
			stream_reading(st, 0);
			session_send(s, FRAME_FIN, st->id, NULL, 0);
			stream_check_done(st);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		stream_fail_errno(st, "read");
		return;
	}
}

/* The local socket took n more bytes: grant them back in batches. */
static void
stream_consumed(struct stream *st, size_t n)
{
	st->bytes_in += n;
	uint32_t grant = flow_consumed(&st->flow, n);
	if (grant > 0) {
		uint8_t buf[4];
		msg_u32_encode(buf, grant);
		session_send(st->s, FRAME_WINDOW, st->id, buf, sizeof buf);
	}
}

void
stream_grow_window(struct stream *st, uint32_t delta)
{
	if (st->state != SS_OPEN || st->moving || st->peer_moved)
		return;
	st->flow.recv_window += delta;
	st->flow.recv_credit += delta;
	uint8_t buf[4];
	msg_u32_encode(buf, delta);
	session_send(st->s, FRAME_WINDOW, st->id, buf, sizeof buf);
}

static void
stream_shut_write(struct stream *st)
{
	log_debug("%s stream %u: write %s -> %s", st->s->label, st->id,
	    wr_names[st->wr], wr_names[WR_DONE]);
	shutdown(st->fd, SHUT_WR);
	st->wr = WR_DONE;
	stream_check_done(st);
}

static void
stream_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;
	int n = evbuffer_write(st->pending, st->fd);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		stream_fail_errno(st, "write");
		return;
	}
	stream_consumed(st, (size_t)n);
	if (st->state == SS_DEAD)
		return;
	if (evbuffer_get_length(st->pending) == 0) {
		stream_writing(st, 0);
		if (st->wr == WR_FIN_PENDING)
			stream_shut_write(st);
		stream_try_move(st);
	}
}

/*
 * Server side: n bytes were just read from the socket or arrived in one
 * DATA frame. A stream that has carried promote_after bytes in big reads
 * (STREAM_BULK_READ), one way at least still open, asks the role for a data
 * connection to move to. A direction already finished stays finished: the
 * relay's first read there sees EOF again and shuts the other side, which
 * is already shut.
 */
static void
stream_maybe_promote(struct stream *st, size_t n)
{
	struct session *s = st->s;
	uint64_t after = s->p.promote_after;
	if (s->h->promote == NULL || st->moving)
		return;
	if (n >= STREAM_BULK_READ || n >= after)
		st->bulk_bytes += n;
	if (st->state != SS_OPEN || (st->rd != RD_OPEN && st->wr != WR_OPEN) ||
	    st->bulk_bytes < st->promote_at)
		return;
	st->promote_at = st->bulk_bytes + (after > 0 ? after : STREAM_READ_CHUNK);
	struct conn *data = s->h->promote(s, st->id, st->tunnel_id, s->arg);
	if (data != NULL && stream_adopt(st, data) != 0)
		conn_free(data);
}

/* Stop reading our socket and tell the peer: MOVED follows our last DATA. */
static void
stream_start_move(struct stream *st)
{
	struct session *s = st->s;
	if (st->moving)
		return;
	st->moving = 1;
	stream_reading(st, 0);
	if (st->paused) {
		TAILQ_REMOVE(&s->paused, st, link);
		st->paused = 0;
	}
	log_debug("%s stream %u: moving", s->label, st->id);
	session_send(s, FRAME_MOVED, st->id, NULL, 0);
	stream_arm_timer(st);
}

/* Hands the stream over once every byte the peer multiplexed is written. */
static void
stream_try_move(struct stream *st)
{
	struct session *s = st->s;
	if (st->state != SS_OPEN || !st->moving || !st->peer_moved ||
	    st->adopt == NULL || st->wr == WR_FIN_PENDING ||
	    (st->pending != NULL && evbuffer_get_length(st->pending) > 0))
		return;
	struct conn *local = conn_tcp_new(NULL, st->fd), *data = st->adopt;
	uint32_t id = st->id, tunnel_id = st->tunnel_id;
	uint64_t bytes = st->bytes_in + st->bytes_out;
	st->fd = -1; /* local's now (closed if it could not be made) */
	st->adopt = NULL;
	if (local == NULL) {
		conn_free(data);
		stream_close(st, "out of memory", 1);
		return;
	}
	st->handed_over = 1;
	stream_close(st, "moved to a dedicated connection", 0);
	s->h->on_moved(s, id, tunnel_id, local, data, bytes, s->arg);
}

int
stream_adopt(struct stream *st, struct conn *data)
{
	if (st->state != SS_OPEN || st->adopt != NULL)
		return -1;
	st->adopt = data;
	stream_start_move(st);
	stream_try_move(st);
	return 0;
}

static void
stream_data(struct stream *st, const struct frame *f)
{
	if (st->wr != WR_OPEN || st->peer_moved) {
		session_protocol_error(st->s, st->peer_moved ? "DATA after MOVED"
							     : "DATA after FIN");
		return;
	}
	if (flow_on_data(&st->flow, f->len) != 0) {
		session_protocol_error(st->s, "flow control window exceeded");
		return;
	}
	if (f->len == 0)
		return;
	if (st->pending == NULL || evbuffer_get_length(st->pending) == 0) {
		ssize_t n = write(st->fd, f->payload, f->len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				stream_fail_errno(st, "write");
				return;
			}
			n = 0;
		}
		if (n > 0)
			stream_consumed(st, (size_t)n);
		if ((size_t)n == f->len)
			return;
		if (st->pending == NULL && (st->pending = evbuffer_new()) == NULL) {
			stream_close(st, "out of memory", 1);
			return;
		}
		evbuffer_add(st->pending, f->payload + n, f->len - (size_t)n);
		stream_writing(st, 1);
		return;
	}
	evbuffer_add(st->pending, f->payload, f->len);
}

void
stream_on_frame(struct stream *st, const struct frame *f)
{
	struct session *s = st->s;
	const char *why = NULL;
	uint32_t v;
	struct msg_error e;

	if (st->state == SS_OPENING && f->type != FRAME_OPEN_OK &&
	    f->type != FRAME_OPEN_ERR && f->type != FRAME_RST) {
		session_protocol_error(s, "frame on a stream not yet open");
		return;
	}
	switch (f->type) {
	case FRAME_DATA:
		stream_data(st, f);
		if (st->state == SS_OPEN)
			stream_maybe_promote(st, f->len);
		return;
	case FRAME_MOVED:
		if (st->state != SS_OPEN || st->peer_moved) {
			session_protocol_error(s, "unexpected MOVED");
			return;
		}
		st->peer_moved = 1;
		stream_start_move(st);
		stream_try_move(st);
		return;
	case FRAME_WINDOW:
		if (msg_u32_decode(f->payload, f->len, &v, &why) != 0 ||
		    flow_on_window(&st->flow, v) != 0) {
			session_protocol_error(s, "bad WINDOW");
			return;
		}
		if (!st->paused)
			stream_resume(st);
		return;
	case FRAME_FIN:
		if (st->wr != WR_OPEN || st->peer_moved) {
			session_protocol_error(s, st->peer_moved ? "FIN after MOVED"
							     : "second FIN");
			return;
		}
		if (st->pending && evbuffer_get_length(st->pending) > 0) {
			log_debug("%s stream %u: write open -> fin-pending", s->label,
			    st->id);
			st->wr = WR_FIN_PENDING;
		} else {
			stream_shut_write(st);
		}
		return;
	case FRAME_RST:
		if (msg_error_decode(f->payload, f->len, &e, &why) != 0)
			snprintf(e.text, sizeof e.text, "reset");
		if (st->state == SS_OPENING) {
			log_info("%s stream %u: open failed: %s", s->label, st->id, e.text);
			stream_open_failed(st, e.code, e.text, 0);
			return;
		}
		stream_close(st, "reset by peer", 0);
		return;
	case FRAME_OPEN_OK:
		if (st->state != SS_OPENING ||
		    msg_u32_decode(f->payload, f->len, &v, &why) != 0 || v == 0) {
			session_protocol_error(s, "bad OPEN_OK");
			return;
		}
		log_debug("%s stream %u: open", s->label, st->id);
		if (st->tag != 0 && s->h->on_open_result != NULL &&
		    s->h->on_open_result(s, st->id, st->tunnel_id, st->tag, st->fd,
			NULL, s->arg) != 0) {
			stream_close(st, "cannot answer the local client", 1);
			return;
		}
		stream_start(st, v);
		return;
	case FRAME_OPEN_ERR:
		if (st->state != SS_OPENING ||
		    msg_error_decode(f->payload, f->len, &e, &why) != 0) {
			session_protocol_error(s, "bad OPEN_ERR");
			return;
		}
		log_info("%s stream %u: open failed: %s", s->label, st->id, e.text);
		stream_open_failed(st, e.code, e.text, 0);
		return;
	default:
		session_protocol_error(s, "unexpected stream frame");
		return;
	}
}

void
stream_close(struct stream *st, const char *reason, int send_rst)
{
	struct session *s = st->s;
	if (st->state == SS_DEAD)
		return;
	if (send_rst)
		session_send_error(s, FRAME_RST, st->id, ERR_NONE, reason);
	log_debug("%s stream %u: closed: %s (in %llu, out %llu bytes)", s->label,
	    st->id, reason, (unsigned long long)st->bytes_in,
	    (unsigned long long)st->bytes_out);
	st->state = SS_DEAD;
	session_stream_remove(s, st);
	if (st->paused) {
		TAILQ_REMOVE(&s->paused, st, link);
		st->paused = 0;
	}
	event_free(st->rev);
	event_free(st->wev);
	st->rev = st->wev = NULL;
	if (st->timer) {
		event_free(st->timer);
		st->timer = NULL;
	}
	if (st->fd >= 0)
		close(st->fd);
	conn_free(st->adopt);
	st->adopt = NULL;
	st->fd = -1;
	TAILQ_INSERT_TAIL(&s->dead, st, link);
	session_want_reap(s);
	if (!st->handed_over && s->h->on_stream_closed != NULL)
		s->h->on_stream_closed(s, st->id, st->tunnel_id, s->arg);
}

void
stream_free(struct stream *st)
{
	if (st->pending)
		evbuffer_free(st->pending);
	free(st->early);
	free(st);
}
