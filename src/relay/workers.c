#include "relay/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/splice.h"
#include "transport/conn.h"
#include "util/gauge.h"
#include "util/log.h"

#define WORKERS_MAX 64

enum msg_kind { MSG_ADD, MSG_CLOSE_OWNER, MSG_STOP };

/* Small enough that a pipe write of one is atomic (PIPE_BUF). */
_Static_assert(4 * sizeof(void *) + 8 + RELAY_LABEL_MAX <= 1024,
    "a worker message must stay far below PIPE_BUF");
struct worker_msg {
	enum msg_kind kind;
	struct conn *a, *b;
	uint32_t owner;
	struct gauge *count;
	char label[RELAY_LABEL_MAX];
};

struct worker {
	pthread_t thread;
	int started;
	int pipe_r, pipe_w;
	struct event_base *base;
	struct event *ev;
	struct relay_set *relays;
};

struct relay_workers {
	unsigned n, next;
	struct worker w[WORKERS_MAX];
};

static void
worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *wk = arg;
	struct worker_msg m;
	for (;;) {
		ssize_t n = read(wk->pipe_r, &m, sizeof m);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof m)
			return;
		switch (m.kind) {
		case MSG_ADD:
			relay_new(wk->relays, m.a, m.b, m.owner, m.count, m.label);
			break;
		case MSG_CLOSE_OWNER:
			relay_set_close_owner(wk->relays, m.owner);
			break;
		case MSG_STOP:
			event_base_loopbreak(wk->base);
			return;
		}
	}
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;
	event_base_dispatch(wk->base);
	return NULL;
}

static void
worker_send(struct worker *wk, const struct worker_msg *m)
{
	ssize_t n;
	do
		n = write(wk->pipe_w, m, sizeof *m);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof *m && m->kind == MSG_ADD) {
		log_warn("%s: relay worker busy: connection dropped", m->label);
		conn_free(m->a);
		conn_free(m->b);
		gauge_drop(m->count);
	}
}

struct relay_workers *
relay_workers_new(unsigned n)
{
	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	struct relay_workers *rw = calloc(1, sizeof *rw);
	if (rw == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		struct worker *wk = &rw->w[i];
		int fds[2];
		/* Blocking writes: the main loop waits rather than drop a pair. */
		if (pipe2(fds, O_CLOEXEC) != 0)
			break;
		wk->pipe_r = fds[0];
		wk->pipe_w = fds[1];
		fcntl(wk->pipe_r, F_SETFL, O_NONBLOCK);
		wk->base = event_base_new();
		wk->relays = wk->base ? relay_set_new(wk->base) : NULL;
		wk->ev = wk->base ? event_new(wk->base, wk->pipe_r, EV_READ | EV_PERSIST,
					worker_msg_cb, wk)
				  : NULL;
		if (wk->ev == NULL || wk->relays == NULL || event_add(wk->ev, NULL) != 0 ||
		    pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
			if (wk->ev)
				event_free(wk->ev);
			if (wk->relays)
				relay_set_free(wk->relays);
			if (wk->base)
				event_base_free(wk->base);
			close(wk->pipe_r);
			close(wk->pipe_w);
			memset(wk, 0, sizeof *wk);
			break;
		}
		wk->started = 1;
		rw->n++;
	}
	if (rw->n == 0) {
		free(rw);
		return NULL;
	}
	return rw;
}

void
relay_workers_add(struct relay_workers *rw, struct conn *a, struct conn *b,
    uint32_t owner, struct gauge *count, const char *label)
{
	conn_unbind(a);
	conn_unbind(b);
	struct worker_msg m = {.kind = MSG_ADD, .a = a, .b = b, .owner = owner,
	    .count = count};
	snprintf(m.label, sizeof m.label, "%s", label);
	worker_send(&rw->w[rw->next++ % rw->n], &m);
}

void
relay_workers_close_owner(struct relay_workers *rw, uint32_t owner)
{
	struct worker_msg m = {.kind = MSG_CLOSE_OWNER, .owner = owner};
	for (unsigned i = 0; i < rw->n; i++)
		worker_send(&rw->w[i], &m);
}

void
relay_workers_free(struct relay_workers *rw)
{
	struct worker_msg m = {.kind = MSG_STOP};
	for (unsigned i = 0; i < rw->n; i++)
		worker_send(&rw->w[i], &m);
	for (unsigned i = 0; i < rw->n; i++) {
		struct worker *wk = &rw->w[i];
		pthread_join(wk->thread, NULL);
		/* Pairs still queued behind STOP are closed here. */
		struct worker_msg q;
		while (read(wk->pipe_r, &q, sizeof q) == (ssize_t)sizeof q)
			if (q.kind == MSG_ADD) {
				conn_free(q.a);
				conn_free(q.b);
				gauge_drop(q.count);
			}
		relay_set_free(wk->relays);
		event_free(wk->ev);
		event_base_free(wk->base);
		close(wk->pipe_r);
		close(wk->pipe_w);
	}
	free(rw);
}
