/*
 * UDP tunnels, the target's side: a connected UDP socket per flow the
 * server opens (UDP_OPEN), datagrams both ways as DGRAM frames, the flow
 * gone at the server's UDP_CLOSE or with the session. udp/flow.h.
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

static uint8_t udp_buf[65536];

static void
flow_refuse(struct client *c, uint32_t id)
{
	session_send(c->s, FRAME_UDP_CLOSE, id, NULL, 0);
}

static void
flow_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_flow *f = arg;
	for (int i = 0; i < UDP_READ_BUDGET; i++) {
		ssize_t n = recv(fd, udp_buf, sizeof udp_buf, 0);
		if (n < 0)
			break; /* EAGAIN, or ECONNREFUSED: nothing listens there (yet) */
		f->in++;
		udp_flow_send(f, udp_buf, (size_t)n);
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
	    !c->cfg->tunnels[i].udp) {
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
	if (send(fl->fd, f->payload, f->len, 0) < 0)
		udp_table_drop(&c->udp);
	else
		fl->out++;
	return 0;
}
