/*
 * UDP tunnels, the public side: the tunnel's UDP port, a flow per source
 * address (UDP_OPEN, then a DGRAM per datagram), the client's datagrams
 * back to that address, idle flows ended (UDP_CLOSE). udp/flow.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/server-t.h"
#include "util/evtime.h"
#include "util/log.h"

/*
 * Ends f, telling its client (UDP_CLOSE) unless the client ended it; the
 * other half of a bridged flow ends too, and its client is told.
 */
static void
udp_flow_end(struct udp_flow *f, int tell, const char *why)
{
	log_debug("flow %u: closed: %s (%llu datagrams in, %llu out)", f->id, why,
	    (unsigned long long)f->in, (unsigned long long)f->out);
	struct udp_flow *p = f->peer;
	if (p != NULL) {
		p->peer = f->peer = NULL;
		udp_flow_end(p, 1, "its other half ended");
	}
	if (tell && f->s != NULL && !session_is_closing(f->s))
		session_send(f->s, FRAME_UDP_CLOSE, f->id, NULL, 0);
	udp_flow_free(f);
}

/* A flow id of the server's parity, unused in cc's table. */
static uint32_t
udp_next_id(struct client_conn *cc)
{
	uint32_t id;
	do {
		id = cc->next_flow;
		cc->next_flow += 2;
	} while (id == 0 || udp_flow_by_id(&cc->udp, id) != NULL);
	return id;
}

static struct udp_flow *
udp_new_flow(struct tunnel *t, const struct sockaddr *sa, socklen_t len)
{
	struct client_conn *cc = t->cc;
	if (t->nflows >= cc->srv->cfg->max_conns) {
		udp_table_drop(&cc->udp);
		return NULL;
	}
	uint32_t id = udp_next_id(cc);
	struct udp_flow *f = udp_flow_add(&cc->udp, id, t->id, sa, len);
	if (f == NULL)
		return NULL;
	f->s = cc->s;
	t->nflows++;
	struct msg_open m = {.tunnel_id = t->id};
	sockaddr_format(sa, m.peer, sizeof m.peer);
	uint8_t buf[MSG_MAX];
	/* UDP_OPEN's payload is OPEN's first fields: tunnel_id, a window (0), peer. */
	session_send(cc->s, FRAME_UDP_OPEN, id, buf, msg_open_encode(buf, &m));
	log_info("%s: tunnel %s: flow %u from %s", session_label(cc->s), t->name, id,
	    m.peer);
	return f;
}

static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;
	struct client_conn *cc = t->cc;
	struct udp_dgram d[UDP_BATCH];
	for (int got = 0, n; got < UDP_READ_BUDGET; got += n) {
		if ((n = udp_recv_batch(fd, d)) == 0)
			break;
		for (int i = 0; i < n; i++) {
			struct udp_flow *f = udp_flow_by_addr(&cc->udp, t->id, d[i].from,
			    d[i].fromlen);
			if (f == NULL &&
			    (f = udp_new_flow(t, d[i].from, d[i].fromlen)) == NULL)
				continue;
			f->in++;
			udp_flow_send(f, d[i].p, d[i].n);
		}
	}
	char label[ADDR_STR_MAX + 96];
	snprintf(label, sizeof label, "%s: tunnel %s", session_label(cc->s), t->name);
	udp_table_log_drops(&cc->udp, label);
}

struct sweep {
	struct tunnel *t;
	uint64_t now;
};

static void
udp_sweep_one(struct udp_flow *f, void *arg)
{
	struct sweep *sw = arg;
	if (f->tunnel_id == sw->t->id &&
	    sw->now - f->last_ms >= sw->t->cc->srv->cfg->udp_timeout_ms) {
		sw->t->nflows--;
		log_info("%s: tunnel %s: flow %u ended: idle (%llu datagrams in, %llu "
			 "out)", session_label(sw->t->cc->s), sw->t->name, f->id,
		    (unsigned long long)f->in, (unsigned long long)f->out);
		udp_flow_end(f, 1, "idle");
	}
}

static void
udp_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sweep sw = {.t = arg, .now = mono_ms()};
	udp_table_each(&sw.t->cc->udp, udp_sweep_one, &sw);
	char label[ADDR_STR_MAX + 96];
	snprintf(label, sizeof label, "%s: tunnel %s", session_label(sw.t->cc->s),
	    sw.t->name);
	udp_table_log_drops(&sw.t->cc->udp, label);
}

int
udp_tunnel_start(struct tunnel *t, int fd)
{
	struct event_base *base = t->cc->srv->base;
	t->ufd = fd;
	t->uev = event_new(base, fd, EV_READ | EV_PERSIST, udp_read_cb, t);
	t->usweep = event_new(base, -1, EV_PERSIST, udp_sweep_cb, t);
	if (t->uev == NULL || t->usweep == NULL)
		return -1;
	event_add(t->uev, NULL);
	uint32_t every = t->cc->srv->cfg->udp_timeout_ms / 6;
	event_add_ms(t->usweep, every < 200 ? 200 : every);
	return 0;
}

static void
udp_drop_tunnel_flow(struct udp_flow *f, void *arg)
{
	struct tunnel *t = arg;
	if (f->tunnel_id == t->id)
		udp_flow_end(f, 1, "tunnel closed");
}

/* Every tunnel, when it goes: its flows end (a UDP share's or visit's
 * bridged flows with their other halves), then its socket closes. */
void
udp_tunnel_stop(struct tunnel *t)
{
	if (t->uev)
		event_free(t->uev);
	if (t->usweep)
		event_free(t->usweep);
	t->uev = t->usweep = NULL;
	if (t->ufd >= 0 || t->udp)
		udp_table_each(&t->cc->udp, udp_drop_tunnel_flow, t);
	if (t->ufd >= 0) {
		udp_table_flush(&t->cc->udp); /* nothing queued for a closed socket */
		close(t->ufd);
	}
	t->ufd = -1;
	t->nflows = 0;
}

/* DGRAM and UDP_CLOSE from the client. */
int
server_udp_frame(struct client_conn *cc, const struct frame *f, const char **why)
{
	if (!(cc->hs.caps & CAP_UDP)) {
		*why = "unexpected frame";
		return -1;
	}
	struct udp_flow *fl = udp_flow_by_id(&cc->udp, f->id);
	if (fl == NULL)
		return 0; /* ended here already: a late arrival */
	struct tunnel *t = tunnel_by_id(cc, fl->tunnel_id);
	if (f->type == FRAME_UDP_CLOSE) {
		if (t != NULL && !fl->bridged)
			t->nflows--;
		udp_flow_end(fl, 0, "ended by the client");
		return 0;
	}
	fl->last_ms = mono_ms();
	if (fl->bridged) {
		struct udp_flow *p = fl->peer;
		fl->in++;
		if (p != NULL && udp_flow_send(p, f->payload, f->len) == 0) {
			p->out++;
			p->last_ms = fl->last_ms;
		} else if (p != NULL) {
			udp_table_log_drops(p->tab, session_label(p->s));
		}
		return 0;
	}
	if (t == NULL || t->ufd < 0)
		return 0;
	udp_queue(&cc->udp, fl, t->ufd, (struct sockaddr *)&fl->addr, fl->alen,
	    f->payload, f->len);
	return 0;
}

/* Why v may not open a UDP flow on its visit vt now (NULL: it may), and the
 * share it reaches. */
static const char *
udp_visit_refusal(struct client_conn *v, struct tunnel *vt, struct tunnel **share,
    char *text, size_t len)
{
	uint16_t code;
	*share = NULL;
	if (vt == NULL || vt->kind != TUNNEL_VISIT || !vt->udp)
		return "no such UDP visit";
	struct tunnel *t = share_lookup(v, vt->extra, &code, text, len);
	if (t == NULL)
		return text;
	if (!t->udp)
		return "not a UDP secret tunnel (its client changed it)";
	if (v->udp.n >= policy_max_streams(v) || t->cc->udp.n >= policy_max_streams(t->cc))
		return "too many flows (max_streams)";
	*share = t;
	return NULL;
}

int
udp_visit_open(struct client_conn *v, const struct frame *f, const char **why)
{
	struct msg_open m;
	if (!(v->hs.caps & CAP_UDP) || !(v->hs.caps & CAP_FORWARD)) {
		*why = "unexpected frame";
		return -1;
	}
	if (msg_open_decode(f->payload, f->len, &m, why) != 0)
		return -1;
	if ((f->id & 1) == 0 || udp_flow_by_id(&v->udp, f->id) != NULL) {
		*why = "bad UDP_OPEN (a flow id of the server's parity, or in use)";
		return -1;
	}
	struct tunnel *vt = tunnel_by_id(v, m.tunnel_id), *t;
	char text[MSG_TEXT_MAX];
	const char *refused = udp_visit_refusal(v, vt, &t, text, sizeof text);
	struct udp_flow *vf = NULL, *sf = NULL;
	uint32_t sid = 0;
	if (refused == NULL) {
		sid = udp_next_id(t->cc);
		vf = udp_flow_add(&v->udp, f->id, vt->id, NULL, 0);
		sf = vf ? udp_flow_add(&t->cc->udp, sid, t->id, NULL, 0) : NULL;
		if (sf == NULL) {
			if (vf != NULL)
				udp_flow_free(vf);
			refused = "out of memory";
		}
	}
	char shown[MSG_EXTRA_MAX + 32];
	if (refused != NULL) {
		log_limited(&v->lim_forward, LOG_INFO, "%s flow %u: visit refused: %s",
		    session_label(v->s), f->id, share_redact(refused, shown, sizeof shown));
		session_send(v->s, FRAME_UDP_CLOSE, f->id, NULL, 0);
		return 0;
	}
	vf->s = v->s;
	sf->s = t->cc->s;
	vf->bridged = sf->bridged = 1;
	vf->peer = sf;
	sf->peer = vf;
	struct msg_open om = {.tunnel_id = t->id};
	snprintf(om.peer, sizeof om.peer, "%s", m.peer[0] ? m.peer : "visitor");
	uint8_t buf[MSG_MAX];
	session_send(t->cc->s, FRAME_UDP_OPEN, sid, buf, msg_open_encode(buf, &om));
	log_info("%s flow %u: visits %s (%s flow %u)", session_label(v->s), f->id,
	    share_redact(vt->extra, shown, sizeof shown), session_label(t->cc->s), sid);
	return 0;
}
