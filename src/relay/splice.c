#include "relay/splice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/copy.h"
#include "transport/conn.h"
#include "util/gauge.h"
#include "util/log.h"

/* 1 MiB pipes cut CPU per byte by a third (DESIGN.md §5). */
#define RELAY_PIPE_SIZE (1024 * 1024)
#define RELAY_PIPE_CACHE 32
/* Bytes one direction moves per callback before yielding: fairness. */
#define RELAY_BUDGET (4 * 1024 * 1024)

struct pipe_pair {
	int r, w;
};

struct direction {
	struct relay *rl;
	int src, dst;
	struct event *rev, *wev;
	struct pipe_pair pipe; /* r < 0: none held */
	size_t in_pipe;
	unsigned eof : 1, done : 1, reading : 1, writing : 1;
	uint64_t bytes;
};

struct relay {
	struct relay_set *rs;
	char label[RELAY_LABEL_MAX];
	uint32_t owner;
	struct gauge *count;
	struct conn *conn[2];
	struct direction d[2]; /* splice */
	struct copy *copy;     /* or copy: no events in d */
	int dead;
	LIST_ENTRY(relay) link;
};

struct relay_set {
	struct event_base *base;
	LIST_HEAD(, relay) relays;
	size_t count;
	struct pipe_pair cache[RELAY_PIPE_CACHE];
	int ncache;
	struct copy_cache copies;
	int force_copy;
};

static void relay_close(struct relay *rl, const char *why);

struct relay_set *
relay_set_new(struct event_base *base)
{
	struct relay_set *rs = calloc(1, sizeof *rs);
	if (rs == NULL)
		return NULL;
	rs->base = base;
	LIST_INIT(&rs->relays);
	return rs;
}

size_t
relay_set_count(const struct relay_set *rs)
{
	return rs->count;
}

void
relay_set_force_copy(struct relay_set *rs, int on)
{
	rs->force_copy = on ? 1 : 0;
}

void
relay_set_free(struct relay_set *rs)
{
	while (!LIST_EMPTY(&rs->relays))
		relay_close(LIST_FIRST(&rs->relays), "shutting down");
	for (int i = 0; i < rs->ncache; i++) {
		close(rs->cache[i].r);
		close(rs->cache[i].w);
	}
	copy_cache_clear(&rs->copies);
	free(rs);
}

static int
pipe_get(struct relay_set *rs, struct pipe_pair *p)
{
	if (rs->ncache > 0) {
		*p = rs->cache[--rs->ncache];
		return 0;
	}
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	/* Best effort: the default 64 KiB pipe still works. */
	fcntl(fds[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	p->r = fds[0];
	p->w = fds[1];
	return 0;
}

/* Only empty pipes go back to the cache. */
static void
pipe_put(struct relay_set *rs, struct direction *d)
{
	if (d->pipe.r < 0)
		return;
	if (d->in_pipe == 0 && rs->ncache < RELAY_PIPE_CACHE) {
		rs->cache[rs->ncache++] = d->pipe;
	} else {
		close(d->pipe.r);
		close(d->pipe.w);
	}
	d->pipe.r = d->pipe.w = -1;
	d->in_pipe = 0;
}

static void
dir_reading(struct direction *d, int on)
{
	if (on && !d->reading)
		event_add(d->rev, NULL);
	else if (!on && d->reading)
		event_del(d->rev);
	d->reading = on ? 1 : 0;
}

static void
dir_writing(struct direction *d, int on)
{
	if (on && !d->writing)
		event_add(d->wev, NULL);
	else if (!on && d->writing)
		event_del(d->wev);
	d->writing = on ? 1 : 0;
}

static void
relay_check_done(struct relay *rl)
{
	if (rl->d[0].done && rl->d[1].done)
		relay_close(rl, NULL);
}

/*
 * Moves bytes src -> pipe -> dst until both would block, the budget is
 * spent, or EOF. splice's EAGAIN is ambiguous (empty socket or full pipe),
 * so the pipe's fill level is counted here: read interest is armed only
 * when the pipe is empty, write interest only when it holds bytes.
 */
static void
dir_pump(struct direction *d)
{
	struct relay *rl = d->rl;
	size_t budget = RELAY_BUDGET;
	int src_blocked = 0;

	while (budget > 0) {
		if (d->in_pipe > 0) {
			ssize_t n = splice(d->pipe.r, NULL, d->dst, NULL, d->in_pipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					dir_reading(d, 0);
					dir_writing(d, 1);
					return;
				}
				relay_close(rl, strerror(errno));
				return;
			}
			d->in_pipe -= (size_t)n;
			d->bytes += (uint64_t)n;
			budget -= (size_t)n < budget ? (size_t)n : budget;
			continue;
		}
		if (d->eof) {
			/* Everything before the EOF is delivered. */
			shutdown(d->dst, SHUT_WR);
			d->done = 1;
			dir_reading(d, 0);
			dir_writing(d, 0);
			pipe_put(rl->rs, d);
			relay_check_done(rl);
			return;
		}
		if (src_blocked)
			break;
		if (d->pipe.r < 0 && pipe_get(rl->rs, &d->pipe) != 0) {
			relay_close(rl, "no pipes left");
			return;
		}
		ssize_t n = splice(d->src, NULL, d->pipe.w, NULL, RELAY_PIPE_SIZE,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->in_pipe += (size_t)n;
			continue;
		}
		if (n == 0) {
			d->eof = 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			src_blocked = 1;
			continue;
		}
		relay_close(rl, strerror(errno));
		return;
	}
	/* Pipe empty: wait for the source. */
	dir_writing(d, 0);
	if (src_blocked) {
		pipe_put(rl->rs, d);
		dir_reading(d, 1);
	} else {
		/* Budget spent: come back on the next loop pass. */
		event_active(d->rev, EV_READ, 0);
	}
}

static void
dir_cb(evutil_socket_t fd, short what, void *arg)
{
	dir_pump(arg);
}

static void
relay_copy_end(void *arg, const char *why)
{
	relay_close(arg, why);
}

void
relay_set_close_owner(struct relay_set *rs, uint32_t owner)
{
	struct relay *rl, *next;
	for (rl = LIST_FIRST(&rs->relays); rl != NULL; rl = next) {
		next = LIST_NEXT(rl, link);
		if (rl->owner == owner)
			relay_close(rl, "session closed");
	}
}

struct relay *
relay_new(struct relay_set *rs, struct conn *a, struct conn *b, uint32_t owner,
    struct gauge *count, const char *label)
{
	struct relay *rl = calloc(1, sizeof *rl);
	if (rl == NULL) {
		conn_free(a);
		conn_free(b);
		gauge_drop(count);
		return NULL;
	}
	int copy = rs->force_copy || conn_splice_fd(a) < 0 ||
	    conn_splice_fd(b) < 0;
	rl->rs = rs;
	rl->owner = owner;
	rl->count = count;
	rl->conn[0] = a;
	rl->conn[1] = b;
	snprintf(rl->label, sizeof rl->label, "%s", label);
	for (int i = 0; i < 2; i++) {
		struct direction *d = &rl->d[i];
		d->rl = rl;
		d->pipe.r = d->pipe.w = -1;
		if (copy)
			continue;
		d->src = conn_splice_fd(i == 0 ? a : b);
		d->dst = conn_splice_fd(i == 0 ? b : a);
		d->rev = event_new(rs->base, d->src, EV_READ | EV_PERSIST, dir_cb, d);
		d->wev = event_new(rs->base, d->dst, EV_WRITE | EV_PERSIST, dir_cb, d);
	}
	LIST_INSERT_HEAD(&rs->relays, rl, link);
	rs->count++;
	if (copy) {
		rl->copy = copy_new(rs->base, &rs->copies, a, b, relay_copy_end, rl);
		if (rl->copy == NULL) {
			relay_close(rl, "out of memory");
			return NULL;
		}
		return rl;
	}
	if (!rl->d[0].rev || !rl->d[0].wev || !rl->d[1].rev || !rl->d[1].wev) {
		relay_close(rl, "out of memory");
		return NULL;
	}
	dir_reading(&rl->d[0], 1);
	dir_reading(&rl->d[1], 1);
	return rl;
}

/* The one teardown path. Safe inside the relay's own callbacks: nothing
 * touches rl after dir_pump returns from a close. */
static void
relay_close(struct relay *rl, const char *why)
{
	if (rl->dead)
		return;
	rl->dead = 1;
	uint64_t bytes[2];
	for (int i = 0; i < 2; i++)
		bytes[i] = rl->copy ? copy_bytes(rl->copy, i) : rl->d[i].bytes;
	if (why)
		log_debug("%s: relay closed: %s (%llu/%llu bytes)", rl->label, why,
		    (unsigned long long)bytes[0], (unsigned long long)bytes[1]);
	else
		log_debug("%s: relay done (%llu/%llu bytes)", rl->label,
		    (unsigned long long)bytes[0], (unsigned long long)bytes[1]);
	if (rl->copy)
		copy_free(rl->copy);
	for (int i = 0; i < 2; i++) {
		struct direction *d = &rl->d[i];
		if (d->rev)
			event_free(d->rev);
		if (d->wev)
			event_free(d->wev);
		pipe_put(rl->rs, d);
	}
	conn_free(rl->conn[0]);
	conn_free(rl->conn[1]);
	LIST_REMOVE(rl, link);
	rl->rs->count--;
	gauge_drop(rl->count);
	free(rl);
}
