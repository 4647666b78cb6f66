/*
 * UDP tunnels, the target's side: a connected UDP socket per flow the
 * server opens (UDP_OPEN), datagrams both ways as DGRAM frames, the flow
 * gone at the server's UDP_CLOSE or with the session. And a UDP visitor's
 * port (-L udp:): a flow per source address that this client opens, joined
 * by the server to a flow on the sharing client. udp/flow.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/client-t.h"
#include "util/evtime.h"
#include "util/log.h"

static void
flow_refuse(struct client *c, uint32_t id)
{
	session_send(c->s, FRAME_UDP_CLOSE, id, NULL, 0);
}

static void
flow_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_flow *f = arg;
	struct udp_dgram d[UDP_BATCH];
	for (int got = 0, n; got < UDP_READ_BUDGET; got += n) {
		/* None: EAGAIN, or ECONNREFUSED (nothing listens there yet). */
		if ((n = udp_recv_batch(fd, d)) == 0)
			break;
		for (int i = 0; i < n; i++) {
			f->in++;
			udp_flow_send(f, d[i].p, d[i].n);
		}
	}
	udp_table_log_drops(f->tab, "udp flows");
}

static int
flow_socket(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int big = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	if (connect(fd, sa, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
udp_open(struct client *c, const struct frame *f, const char **why)
{
	struct msg_open m;
	if (msg_open_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	if ((f->id & 1) != 0 || udp_flow_by_id(&c->udp, f->id) != NULL) {
		*why = "bad UDP_OPEN";
		return -1;
	}
	size_t i = m.tunnel_id - 1;
	if (m.tunnel_id == 0 || m.tunnel_id > c->cfg->ntunnels || !c->tunnels[i].registered ||
	    !c->cfg->tunnels[i].udp || (c->cfg->tunnels[i].type != TUNNEL_REMOTE &&
					   c->cfg->tunnels[i].type != TUNNEL_SHARED)) {
		flow_refuse(c, f->id);
		return 0;
	}
	const struct tunnel_cfg *t = &c->cfg->tunnels[i];
	struct target *tg = &c->tunnels[i].target;
	if (tg->a.n == 0) {
		/* A name not looked up yet: this datagram is lost, the next flow
		 * finds it (target.c). */
		target_lookup(&c->tunnels[i]);
		log_limited(&c->lim_open, LOG_INFO, "tunnel %s: flow %u: %s not resolved "
		    "yet", t->name, f->id, t->local.host);
		flow_refuse(c, f->id);
		return 0;
	}
	if (c->udp.n >= c->cfg->max_streams) {
		log_limited(&c->lim_open, LOG_WARN, "tunnel %s: flow %u refused: too many "
		    "flows (max_streams %u)", t->name, f->id, c->cfg->max_streams);
		flow_refuse(c, f->id);
		return 0;
	}
	int fd = flow_socket((struct sockaddr *)&tg->a.addr[0], tg->a.len[0]);
	struct udp_flow *fl = fd >= 0 ? udp_flow_add(&c->udp, f->id, m.tunnel_id, NULL, 0)
				      : NULL;
	if (fl == NULL) {
		if (fd >= 0)
			close(fd);
		log_limited(&c->lim_open, LOG_WARN, "tunnel %s: flow %u: %s", t->name,
		    f->id, fd < 0 ? strerror(errno) : "out of memory");
		flow_refuse(c, f->id);
		return 0;
	}
	fl->fd = fd;
	fl->s = c->s;
	fl->ev = event_new(c->base, fd, EV_READ | EV_PERSIST, flow_read_cb, fl);
	if (fl->ev == NULL) {
		udp_flow_free(fl);
		flow_refuse(c, f->id);
		return 0;
	}
	event_add(fl->ev, NULL);
	log_debug("tunnel %s: flow %u from %s", t->name, f->id, m.peer);
	return 0;
}

int
client_udp_frame(struct client *c, const struct frame *f, const char **why)
{
	if (!(c->hs.caps & CAP_UDP)) {
		*why = "unexpected frame";
		return -1;
	}
	if (f->type == FRAME_UDP_OPEN)
		return udp_open(c, f, why);
	struct udp_flow *fl = udp_flow_by_id(&c->udp, f->id);
	if (fl == NULL)
		return 0; /* refused or ended: a late arrival */
	if (f->type == FRAME_UDP_CLOSE) {
		udp_flow_free(fl);
		return 0;
	}
	fl->last_ms = mono_ms();
	if (fl->fd >= 0) {
		udp_queue(&c->udp, fl, fl->fd, NULL, 0, f->payload, f->len);
		return 0;
	}
	/* A visitor's flow: back to its source, from the visitor's port. */
	struct tunnel_state *ts = &c->tunnels[fl->tunnel_id - 1];
	if (ts->uev != NULL)
		udp_queue(&c->udp, fl, event_get_fd(ts->uev), (struct sockaddr *)&fl->addr,
		    fl->alen, f->payload, f->len);
	return 0;
}

/* ---- a UDP visitor's port ---- */

/* A visitor's flow idle this long ends (the server's udp_timeout is for the
 * flows of its own UDP ports). */
#define VISIT_IDLE_MS 60000

static const char *
visit_refusal(struct client *c, const struct tunnel_state *ts)
{
	if (c->s == NULL || c->state != C_READY || session_is_closing(c->s))
		return "not connected to the server";
	if (!ts->registered)
		return ts->why[0] ? ts->why : "the server has not accepted the visit yet";
	if (c->udp.n >= c->cfg->max_streams)
		return "too many flows (max_streams)";
	return NULL;
}

static struct udp_flow *
visit_new_flow(struct client *c, struct tunnel_state *ts, const struct udp_dgram *d)
{
	const struct tunnel_cfg *t = &c->cfg->tunnels[ts->index];
	char peer[ADDR_STR_MAX];
	sockaddr_format(d->from, peer, sizeof peer);
	const char *refused = visit_refusal(c, ts);
	if (refused != NULL) {
		udp_table_drop(&c->udp);
		log_limited(&ts->lim, LOG_WARN, "tunnel %s: datagram from %s to secret "
		    "tunnel %s dropped: %s", t->name, peer, t->extra, refused);
		return NULL;
	}
	uint32_t id;
	do {
		id = c->next_flow | 1;
		c->next_flow = id + 2;
	} while (udp_flow_by_id(&c->udp, id) != NULL);
	struct udp_flow *f = udp_flow_add(&c->udp, id, (uint32_t)ts->index + 1,
	    d->from, d->fromlen);
	if (f == NULL)
		return NULL;
	f->s = c->s;
	struct msg_open m = {.tunnel_id = (uint32_t)ts->index + 1};
	snprintf(m.peer, sizeof m.peer, "%s", peer);
	uint8_t buf[MSG_MAX];
	session_send(c->s, FRAME_UDP_OPEN, id, buf, msg_open_encode(buf, &m));
	log_info("tunnel %s: flow %u: from %s to secret tunnel %s", t->name, id, peer,
	    t->extra);
	return f;
}

static void
visit_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel_state *ts = arg;
	struct client *c = ts->c;
	struct udp_dgram d[UDP_BATCH];
	uint32_t tid = (uint32_t)ts->index + 1;
	for (int got = 0, n; got < UDP_READ_BUDGET; got += n) {
		if ((n = udp_recv_batch(fd, d)) == 0)
			break;
		for (int i = 0; i < n; i++) {
			struct udp_flow *f = c->s == NULL ? NULL
			    : udp_flow_by_addr(&c->udp, tid, d[i].from, d[i].fromlen);
			if (f == NULL && (f = visit_new_flow(c, ts, &d[i])) == NULL)
				continue;
			f->in++;
			udp_flow_send(f, d[i].p, d[i].n);
		}
	}
	char label[MSG_NAME_MAX + 16];
	snprintf(label, sizeof label, "tunnel %s", c->cfg->tunnels[ts->index].name);
	udp_table_log_drops(&c->udp, label);
}

struct visit_sweep {
	struct client *c;
	uint32_t tid;
	uint64_t now;
};

static void
visit_sweep_one(struct udp_flow *f, void *arg)
{
	struct visit_sweep *sw = arg;
	if (f->tunnel_id != sw->tid || f->fd >= 0 || sw->now - f->last_ms < VISIT_IDLE_MS)
		return;
	log_info("tunnel %s: flow %u ended: idle (%llu datagrams in, %llu out)",
	    sw->c->cfg->tunnels[sw->tid - 1].name, f->id, (unsigned long long)f->in,
	    (unsigned long long)f->out);
	if (sw->c->s != NULL && !session_is_closing(sw->c->s))
		session_send(sw->c->s, FRAME_UDP_CLOSE, f->id, NULL, 0);
	udp_flow_free(f);
}

static void
visit_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel_state *ts = arg;
	struct visit_sweep sw = {ts->c, (uint32_t)ts->index + 1, mono_ms()};
	udp_table_each(&ts->c->udp, visit_sweep_one, &sw);
}

int
udp_visit_listen(struct client *c, struct tunnel_state *ts)
{
	const struct tunnel_cfg *t = &c->cfg->tunnels[ts->index];
	char shown[ADDR_STR_MAX];
	hostport_format(&t->listen, shown, sizeof shown);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (sockaddr_from_numeric(t->listen.host, t->listen.port, &ss, &sl) != 0) {
		log_error("tunnel %s: listen %s: not a numeric address", t->name, shown);
		return -1;
	}
	int fd = udp_bind((struct sockaddr *)&ss, sl);
	if (fd < 0) {
		log_error("tunnel %s: listen %s (UDP): %s", t->name, shown, strerror(errno));
		return -1;
	}
	ts->uev = event_new(c->base, fd, EV_READ | EV_PERSIST, visit_read_cb, ts);
	ts->usweep = event_new(c->base, -1, EV_PERSIST, visit_sweep_cb, ts);
	if (ts->uev == NULL || ts->usweep == NULL) {
		if (ts->uev == NULL)
			close(fd);
		udp_visit_close(ts);
		log_error("tunnel %s: out of memory", t->name);
		return -1;
	}
	event_add(ts->uev, NULL);
	event_add_ms(ts->usweep, VISIT_IDLE_MS / 6);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	sockaddr_format((struct sockaddr *)&ss, shown, sizeof shown);
	log_info("tunnel %s: listening on %s -> secret tunnel %s (UDP)", t->name, shown,
	    t->extra);
	return 0;
}

void
udp_visit_close(struct tunnel_state *ts)
{
	if (ts->uev != NULL) {
		udp_table_flush(&ts->c->udp); /* nothing queued for a closed socket */
		close(event_get_fd(ts->uev));
		event_free(ts->uev);
	}
	if (ts->usweep != NULL)
		event_free(ts->usweep);
	ts->uev = ts->usweep = NULL;
}
