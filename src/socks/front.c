/* SOCKS5 / HTTP proxy requests on a listening port (front.h). */
#include "socks/front.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "mux/session.h"
#include "proto/http.h"
#include "proto/msg.h"
#include "proto/socks.h"
#include "util/evtime.h"

/* Room for a whole HTTP head and what a client may send behind it. */
#define FRONT_IN_MAX (HTTP_HEAD_MAX + 4096)

struct front {
	struct front_set *fs;
	int fd;
	struct event *ev;
	struct socks_req req;
	uint8_t in[FRONT_IN_MAX];
	size_t in_len;
	char peer[ADDR_STR_MAX];
	TAILQ_ENTRY(front) link;
};

void
front_set_init(struct front_set *fs, struct event_base *base,
    const char *label, front_done_cb done, void *arg)
{
	memset(fs, 0, sizeof *fs);
	fs->base = base;
	snprintf(fs->label, sizeof fs->label, "%s", label);
	fs->done = done;
	fs->arg = arg;
	TAILQ_INIT(&fs->list);
}

static void
front_free(struct front *f, int close_fd)
{
	TAILQ_REMOVE(&f->fs->list, f, link);
	f->fs->n--;
	if (f->ev)
		event_free(f->ev);
	if (close_fd && f->fd >= 0)
		close(f->fd);
	free(f);
}

void
front_set_clear(struct front_set *fs)
{
	while (!TAILQ_EMPTY(&fs->list))
		front_free(TAILQ_FIRST(&fs->list), 1);
}

static void
front_fail(struct front *f, const char *why)
{
	if (f->req.out_len > 0) {
		ssize_t n = write(f->fd, f->req.out, f->req.out_len);
		(void)n; /* closing anyway */
	}
	log_limited(&f->fs->lim, LOG_INFO, "%s: request from %s refused: %s",
	    f->fs->label, f->peer, why);
	front_free(f, 1);
}

/* The request is whole: the role takes the socket. */
static void
front_done(struct front *f, size_t used)
{
	struct front_set *fs = f->fs;
	const struct socks_req *r = &f->req;
	uint8_t early[STREAM_EARLY_MAX];
	size_t n = 0, rest = f->in_len - used;
	if (r->proto == SOCKS_PROTO_HTTP_FORWARD) {
		memcpy(early, r->fwd_head, r->fwd_len);
		n = r->fwd_len;
	}
	if (n + rest > sizeof early) {
		front_fail(f, "too many bytes before the destination answered");
		return;
	}
	memcpy(early + n, f->in + used, rest);
	n += rest;
	int fd = f->fd;
	char peer[ADDR_STR_MAX];
	snprintf(peer, sizeof peer, "%s", f->peer);
	struct socks_req req = f->req;
	f->fd = -1;
	front_free(f, 0);
	fs->done(fd, &req, (uint8_t)req.proto, early, n, peer, fs->arg);
}

/* The credentials the client gave, against the port's (none asked: any). */
static int
front_auth_ok(struct front *f)
{
	const char *want = f->fs->auth;
	if (want == NULL)
		return 1;
	const char *colon = strchr(want, ':');
	size_t ulen = (size_t)(colon - want), plen = strlen(colon + 1);
	const struct socks_req *r = &f->req;
	/* Lengths are not secret; the bytes are compared in constant time. */
	int ok = strlen(r->user) == ulen && strlen(r->pass) == plen;
	ok &= CRYPTO_memcmp(r->user, want, ok ? ulen : 0) == 0;
	ok &= CRYPTO_memcmp(r->pass, colon + 1, ok ? plen : 0) == 0;
	return ok; /* a refusal is logged by front_fail */
}

/* Feeds what was read to the parser; writes what it says to write. */
static void
front_feed(struct front *f)
{
	size_t off = 0;
	for (;;) {
		size_t used = 0;
		enum socks_status st = socks_feed(&f->req, f->in + off, f->in_len - off,
		    &used);
		off += used;
		if (st == SOCKS_CHECK_AUTH)
			st = socks_auth_result(&f->req, front_auth_ok(f));
		switch (st) {
		case SOCKS_MORE:
			memmove(f->in, f->in + off, f->in_len - off);
			f->in_len -= off;
			if (f->in_len == sizeof f->in) {
				front_fail(f, "request too large");
				return;
			}
			return;
		case SOCKS_WRITE:
			if (write(f->fd, f->req.out, f->req.out_len) !=
			    (ssize_t)f->req.out_len) {
				front_fail(f, "cannot write the reply");
				return;
			}
			f->req.out_len = 0;
			continue;
		case SOCKS_DONE:
			front_done(f, off);
			return;
		case SOCKS_FAIL:
		default:
			front_fail(f, f->req.why ? f->req.why : "bad request");
			return;
		}
	}
}

static void
front_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	if (what & EV_TIMEOUT) {
		front_fail(f, "no request in time");
		return;
	}
	ssize_t n = read(fd, f->in + f->in_len, sizeof f->in - f->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_limited(&f->fs->lim, LOG_DEBUG, "%s: %s closed before its request",
		    f->fs->label, f->peer);
		front_free(f, 1);
		return;
	}
	f->in_len += (size_t)n;
	front_feed(f);
}

void
front_accept(struct front_set *fs, int fd, const char *peer)
{
	/* Full: the oldest pending request makes room, as on the control port,
	 * so silent connections hold the port for no longer than it takes
	 * FRONT_MAX new ones to arrive, instead of locking everyone out. */
	if (fs->n >= FRONT_MAX) {
		struct front *old = TAILQ_FIRST(&fs->list);
		log_limited(&fs->lim, LOG_WARN, "%s: %d requests pending: the "
		    "oldest, from %s, closed for one from %s", fs->label, FRONT_MAX,
		    old->peer, peer);
		front_free(old, 1);
	}
	struct front *f = calloc(1, sizeof *f);
	if (f == NULL) {
		close(fd);
		return;
	}
	f->fs = fs;
	f->fd = fd;
	snprintf(f->peer, sizeof f->peer, "%s", peer);
	socks_init(&f->req, fs->auth != NULL);
	TAILQ_INSERT_TAIL(&fs->list, f, link);
	fs->n++;
	f->ev = event_new(fs->base, fd, EV_READ | EV_PERSIST, front_read_cb, f);
	if (f->ev == NULL) {
		front_free(f, 1);
		return;
	}
	event_add_ms(f->ev, FRONT_TIMEOUT_MS);
}

/* OPEN_ERR's code as SOCKS5's REP (RFC 1928 section 6). */
static uint8_t
front_rep(const struct msg_error *err)
{
	if (err == NULL)
		return 0;
	switch (err->code) {
	case ERR_DENIED:
		return 2;
	case ERR_UNREACHABLE:
		return 4;
	case ERR_REFUSED:
		return 5;
	case ERR_TIMEOUT:
		return 6;
	default:
		return 1;
	}
}

int
front_answer(uint8_t tag, int fd, const struct msg_error *err)
{
	uint8_t buf[512];
	size_t n = socks_reply((enum socks_proto)tag, front_rep(err), NULL, buf,
	    sizeof buf);
	if (n == 0)
		return 0; /* a plain HTTP request that opened: the origin answers */
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}
