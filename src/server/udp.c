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

/* Only the loop's thread reads datagrams: one buffer for all. */
static uint8_t udp_buf[65536];

int
udp_bind(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1, big = 4 * 1024 * 1024;
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* Bursts wait in the kernel, not here. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	if (bind(fd, sa, len) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
udp_close_flow(struct udp_flow *f, const char *why)
{
	log_debug("flow %u: closed: %s (%llu datagrams in, %llu out)", f->id, why,
	    (unsigned long long)f->in, (unsigned long long)f->out);
	if (f->s != NULL && !session_is_closing(f->s))
		session_send(f->s, FRAME_UDP_CLOSE, f->id, NULL, 0);
	udp_flow_free(f);
}

static struct udp_flow *
udp_new_flow(struct tunnel *t, const struct sockaddr *sa, socklen_t len)
{
	struct client_conn *cc = t->cc;
	if (t->nflows >= cc->srv->cfg->max_conns) {
		udp_table_drop(&cc->udp);
		return NULL;
	}
	uint32_t id;
	do {
		id = cc->next_flow;
		cc->next_flow += 2;
	} while (id == 0 || udp_flow_by_id(&cc->udp, id) != NULL);
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
	for (int i = 0; i < UDP_READ_BUDGET; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		ssize_t n = recvfrom(fd, udp_buf, sizeof udp_buf, 0, (struct sockaddr *)&ss,
		    &len);
		if (n < 0)
			break; /* EAGAIN, or an ICMP error for an earlier send */
		struct udp_flow *f = udp_flow_by_addr(&cc->udp, t->id, (struct sockaddr *)&ss,
		    len);
		if (f == NULL && (f = udp_new_flow(t, (struct sockaddr *)&ss, len)) == NULL)
			continue;
		f->in++;
		udp_flow_send(f, udp_buf, (size_t)n);
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
		udp_close_flow(f, "idle");
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
		udp_close_flow(f, "tunnel closed");
}

void
udp_tunnel_stop(struct tunnel *t)
{
	if (t->uev)
		event_free(t->uev);
	if (t->usweep)
		event_free(t->usweep);
	t->uev = t->usweep = NULL;
	if (t->ufd >= 0) {
		close(t->ufd);
		udp_table_each(&t->cc->udp, udp_drop_tunnel_flow, t);
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
		if (t != NULL)
			t->nflows--;
		fl->s = NULL; /* the client ended it: no UDP_CLOSE back */
		udp_flow_free(fl);
		return 0;
	}
	if (t == NULL || t->ufd < 0)
		return 0;
	fl->last_ms = mono_ms();
	if (sendto(t->ufd, f->payload, f->len, 0, (struct sockaddr *)&fl->addr,
		fl->alen) < 0)
		udp_table_drop(&cc->udp);
	else
		fl->out++;
	return 0;
}
