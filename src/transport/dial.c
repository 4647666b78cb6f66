#include "transport/dial.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "transport/tcp.h"
#include "util/evtime.h"

/* An IPv4 or IPv6 address, without sockaddr_storage's 128 bytes. */
union dial_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * Small: one lives for each connection the client opens to a target. The
 * addresses are copied (a new lookup may replace the caller's list).
 */
struct dialer {
	struct event_base *base;
	size_t next, n; /* the address to try after the current one, of n */
	uint32_t timeout_ms;
	int fd;         /* the connect in progress, or -1 */
	struct event *ev;
	const char *why; /* static: strerror() or a literal */
	dialer_done_cb done;
	dialer_each_cb each;
	void *arg;
	struct {
		union dial_addr a;
		socklen_t len;
	} addr[];
};

void
addr_list_take(struct addr_list *l, struct evutil_addrinfo *ai)
{
	l->n = 0;
	for (struct evutil_addrinfo *a = ai; a && l->n < ADDR_LIST_MAX;
	     a = a->ai_next) {
		if (a->ai_addrlen > sizeof l->addr[0])
			continue;
		memcpy(&l->addr[l->n], a->ai_addr, a->ai_addrlen);
		l->len[l->n++] = (socklen_t)a->ai_addrlen;
	}
	if (ai)
		evutil_freeaddrinfo(ai);
}

static void dialer_next(struct dialer *d);

static void
dialer_free(struct dialer *d)
{
	if (d->ev)
		event_free(d->ev);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

void
dialer_cancel(struct dialer *d)
{
	if (d != NULL)
		dialer_free(d);
}

/* The address of the attempt that just ended. */
static const struct sockaddr *
dialer_addr(const struct dialer *d)
{
	return &d->addr[d->next - 1].a.sa;
}

static void
dialer_failed(struct dialer *d, const char *why)
{
	d->why = why;
	if (d->each)
		d->each(dialer_addr(d), why, d->arg);
}

/* Reports and frees; the callback may start new dials or free its owner. */
static void
dialer_finish(struct dialer *d, int fd)
{
	union dial_addr ss;
	socklen_t len = 0;
	dialer_done_cb done = d->done;
	void *arg = d->arg;
	const char *why = d->why;
	if (fd >= 0) {
		len = d->addr[d->next - 1].len;
		memcpy(&ss, dialer_addr(d), len);
	}
	d->fd = -1;
	dialer_free(d);
	if (fd >= 0)
		done(fd, &ss.sa, len, NULL, arg);
	else
		done(-1, NULL, 0, why, arg);
}

static void
dialer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dialer *d = arg;
	if (d->fd < 0) {
		dialer_finish(d, -1); /* every address failed */
		return;
	}
	if (what & EV_TIMEOUT) {
		dialer_failed(d, "timed out");
	} else if (tcp_connect_result(d->fd) != 0) {
		dialer_failed(d, strerror(errno));
	} else {
		dialer_finish(d, d->fd);
		return;
	}
	close(d->fd);
	d->fd = -1;
	dialer_next(d);
}

static void
dialer_next(struct dialer *d)
{
	if (d->ev) {
		event_free(d->ev);
		d->ev = NULL;
	}
	while (d->next < d->n) {
		size_t i = d->next++;
		int in_progress;
		d->fd = tcp_connect_start(&d->addr[i].a.sa, d->addr[i].len,
		    &in_progress);
		if (d->fd < 0) {
			dialer_failed(d, strerror(errno));
			continue;
		}
		d->ev = event_new(d->base, d->fd, EV_WRITE, dialer_cb, d);
		if (d->ev != NULL) {
			event_add_ms(d->ev, d->timeout_ms);
			return;
		}
		close(d->fd);
		d->fd = -1;
		dialer_failed(d, "out of memory");
	}
	/* Nothing left to try: report from the loop. */
	d->ev = event_new(d->base, -1, 0, dialer_cb, d);
	if (d->ev != NULL)
		event_active(d->ev, EV_TIMEOUT, 0);
}

struct dialer *
dialer_start(struct event_base *base, const struct addr_list *l,
    uint32_t timeout_ms, dialer_done_cb done, dialer_each_cb each, void *arg)
{
	struct dialer *d = calloc(1, sizeof *d + l->n * sizeof d->addr[0]);
	if (d == NULL)
		return NULL;
	d->base = base;
	for (size_t i = 0; i < l->n; i++) {
		if (l->len[i] > sizeof d->addr[0].a)
			continue; /* not IPv4 or IPv6 */
		memcpy(&d->addr[d->n].a, &l->addr[i], l->len[i]);
		d->addr[d->n++].len = l->len[i];
	}
	d->timeout_ms = timeout_ms;
	d->fd = -1;
	d->done = done;
	d->each = each;
	d->arg = arg;
	d->why = "no address";
	dialer_next(d);
	if (d->ev == NULL) {
		dialer_free(d);
		return NULL;
	}
	return d;
}
