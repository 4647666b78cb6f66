/* Dialing a destination a peer names, within the rules (dest.h). */
#include "transport/dest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config/spec.h"
#include "proto/msg.h"
#include "transport/dial.h"
#include "util/addr.h"

struct dest_dial {
	struct event_base *base;
	struct hostport hp;
	/* The rules' networks, copied: a SIGHUP may replace the rules while
	 * the name resolves. */
	struct dest_net nets[DEST_NETS_MAX];
	size_t nnets;
	int any; /* a name rule allowed it: every address may be dialed */
	uint32_t timeout_ms;
	struct evdns_getaddrinfo_request *req;
	struct dialer *dialer;
	struct event *ev; /* reports a failure from the loop */
	const char *why;
	uint16_t code;
	int resolved_now; /* evdns answered inside evdns_getaddrinfo */
	dest_done_cb done;
	void *arg;
};

static void
dest_free(struct dest_dial *d)
{
	if (d->req != NULL)
		evdns_getaddrinfo_cancel(d->req); /* its callback sees CANCEL */
	dialer_cancel(d->dialer);
	if (d->ev != NULL)
		event_free(d->ev);
	free(d);
}

static void
dest_report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dest_dial *d = arg;
	dest_done_cb done = d->done;
	void *cbarg = d->arg;
	const char *why = d->why;
	uint16_t code = d->code;
	dest_free(d);
	done(-1, why, code, cbarg);
}

static void
dest_fail(struct dest_dial *d, const char *why, uint16_t code)
{
	d->why = why;
	d->code = code;
	event_active(d->ev, EV_TIMEOUT, 0);
}

static void
dest_dialed_cb(int fd, const struct sockaddr *addr, socklen_t addrlen,
    const char *why, void *arg)
{
	struct dest_dial *d = arg;
	d->dialer = NULL;
	if (fd < 0) {
		uint16_t code = ERR_UNREACHABLE;
		if (strcmp(why, "timed out") == 0)
			code = ERR_TIMEOUT;
		else if (strcmp(why, strerror(ECONNREFUSED)) == 0)
			code = ERR_REFUSED;
		dest_fail(d, why, code);
		return;
	}
	dest_done_cb done = d->done;
	void *cbarg = d->arg;
	dest_free(d);
	done(fd, NULL, 0, cbarg);
}

/* Keeps the addresses the rules allow, then dials them. */
static void
dest_dial_addrs(struct dest_dial *d, struct addr_list *l)
{
	struct addr_list ok = {.n = 0};
	for (size_t i = 0; i < l->n; i++) {
		if (!d->any && !dest_nets_allow(d->nets, d->nnets,
				   (struct sockaddr *)&l->addr[i], d->hp.port))
			continue;
		ok.addr[ok.n] = l->addr[i];
		ok.len[ok.n++] = l->len[i];
	}
	if (ok.n == 0) {
		dest_fail(d, "not allowed", ERR_DENIED);
		return;
	}
	d->dialer = dialer_start(d->base, &ok, d->timeout_ms, dest_dialed_cb, NULL, d);
	if (d->dialer == NULL)
		dest_fail(d, "out of memory", ERR_INTERNAL);
}

static void
dest_resolved_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct dest_dial *d = arg;
	if (err == EVUTIL_EAI_CANCEL)
		return; /* dest_free: d is gone */
	d->req = NULL;
	d->resolved_now = 1;
	struct addr_list l;
	addr_list_take(&l, ai);
	if (l.n == 0) {
		dest_fail(d, err ? evutil_gai_strerror(err) : "no address",
		    ERR_UNREACHABLE);
		return;
	}
	dest_dial_addrs(d, &l);
}

struct dest_dial *
dest_dial_start(struct event_base *base, struct evdns_base *dns,
    const char *dest, const struct dest_rules *rules, uint32_t timeout_ms,
    dest_done_cb done, void *arg)
{
	struct dest_dial *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->base = base;
	d->timeout_ms = timeout_ms;
	d->done = done;
	d->arg = arg;
	d->ev = event_new(base, -1, 0, dest_report_cb, d);
	if (d->ev == NULL) {
		free(d);
		return NULL;
	}
	const char *why = NULL;
	if (hostport_parse(dest, -1, &d->hp, &why) != 0 || d->hp.host[0] == '\0' ||
	    d->hp.port == 0) {
		dest_fail(d, "destination is not host:port", ERR_INVALID);
		return d;
	}
	d->any = rules == NULL || dest_names_allow(rules, d->hp.host, d->hp.port);
	if (!d->any) {
		d->nnets = rules->nnets;
		memcpy(d->nets, rules->nets, rules->nnets * sizeof d->nets[0]);
		if (d->nnets == 0) {
			dest_fail(d, "not allowed", ERR_DENIED);
			return d;
		}
	}
	struct addr_list l = {.n = 0};
	if (sockaddr_from_numeric(d->hp.host, d->hp.port, &l.addr[0], &l.len[0]) == 0) {
		l.n = 1;
		dest_dial_addrs(d, &l);
		return d;
	}
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_ADDRCONFIG};
	char port[8];
	snprintf(port, sizeof port, "%u", d->hp.port);
	struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(dns, d->hp.host,
	    port, &hints, dest_resolved_cb, d);
	if (!d->resolved_now)
		d->req = req;
	return d;
}

void
dest_dial_cancel(struct dest_dial *d)
{
	if (d != NULL)
		dest_free(d);
}
