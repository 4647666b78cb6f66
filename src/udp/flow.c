/* UDP flow tables (flow.h). */
#include "udp/flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "mux/session.h"
#include "proto/frame.h"
#include "util/evtime.h"
#include "util/log.h"

/* Bytes of datagrams a table may hold queued: more flush first. */
#define UDP_OUTQ_BYTES (256 * 1024)

struct udp_outq {
	struct event *ev; /* the deferred flush */
	int n;
	size_t used;
	struct udp_flow *flow[UDP_BATCH];
	int fd[UDP_BATCH];
	struct mmsghdr m[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage to[UDP_BATCH];
	uint8_t buf[UDP_OUTQ_BYTES];
};

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

void
udp_table_init(struct udp_table *t, struct event_base *base)
{
	memset(t, 0, sizeof *t);
	t->base = base;
}

static size_t
id_bucket(uint32_t id)
{
	return (id * 2654435761u) >> 24 & (UDP_TABLE_BUCKETS - 1);
}

/* FNV-1a over the tunnel id and the address bytes that matter. */
static size_t
addr_bucket(uint32_t tunnel_id, const struct sockaddr *sa, socklen_t len)
{
	const uint8_t *p = (const uint8_t *)sa;
	uint32_t h = (2166136261u ^ tunnel_id) * 16777619u;
	for (socklen_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h & (UDP_TABLE_BUCKETS - 1);
}

struct udp_flow *
udp_flow_by_id(struct udp_table *t, uint32_t id)
{
	struct udp_flow *f = t->by_id[id_bucket(id)];
	while (f != NULL && f->id != id)
		f = f->id_next;
	return f;
}

struct udp_flow *
udp_flow_by_addr(struct udp_table *t, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len)
{
	struct udp_flow *f = t->by_addr[addr_bucket(tunnel_id, sa, len)];
	while (f != NULL && !(f->tunnel_id == tunnel_id && f->alen == len &&
				memcmp(&f->addr, sa, len) == 0))
		f = f->addr_next;
	return f;
}

struct udp_flow *
udp_flow_add(struct udp_table *t, uint32_t id, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len)
{
	struct udp_flow *f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->id = id;
	f->tunnel_id = tunnel_id;
	f->fd = -1;
	f->tab = t;
	f->last_ms = mono_ms();
	size_t b = id_bucket(id);
	f->id_next = t->by_id[b];
	t->by_id[b] = f;
	if (sa != NULL && len <= sizeof f->addr) {
		memcpy(&f->addr, sa, len);
		f->alen = len;
		size_t a = addr_bucket(tunnel_id, sa, len);
		f->addr_next = t->by_addr[a];
		t->by_addr[a] = f;
	}
	t->n++;
	return f;
}

void
udp_flow_free(struct udp_flow *f)
{
	struct udp_table *t = f->tab;
	udp_table_flush(t);
	struct udp_flow **pp = &t->by_id[id_bucket(f->id)];
	while (*pp != f)
		pp = &(*pp)->id_next;
	*pp = f->id_next;
	if (f->alen > 0) {
		pp = &t->by_addr[addr_bucket(f->tunnel_id, (struct sockaddr *)&f->addr,
		    f->alen)];
		while (*pp != f)
			pp = &(*pp)->addr_next;
		*pp = f->addr_next;
	}
	t->n--;
	if (f->ev != NULL)
		event_free(f->ev);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

void
udp_table_each(struct udp_table *t, void (*fn)(struct udp_flow *f, void *arg),
    void *arg)
{
	for (size_t b = 0; b < UDP_TABLE_BUCKETS; b++) {
		struct udp_flow *f = t->by_id[b], *next;
		for (; f != NULL; f = next) {
			next = f->id_next;
			fn(f, arg);
		}
	}
}

static void
free_one(struct udp_flow *f, void *arg)
{
	udp_flow_free(f);
}

void
udp_table_clear(struct udp_table *t)
{
	udp_table_flush(t);
	udp_table_each(t, free_one, NULL);
	if (t->q != NULL) {
		event_free(t->q->ev);
		free(t->q);
		t->q = NULL;
	}
}

/* The loop's receive slots, one datagram of any size each: only the loop's
 * thread reads datagrams. */
static uint8_t rx_buf[UDP_BATCH][65536];
static struct mmsghdr rx_msg[UDP_BATCH];
static struct iovec rx_iov[UDP_BATCH];
static struct sockaddr_storage rx_from[UDP_BATCH];

int
udp_recv_batch(int fd, struct udp_dgram *d)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		rx_iov[i].iov_base = rx_buf[i];
		rx_iov[i].iov_len = sizeof rx_buf[i];
		rx_msg[i].msg_hdr = (struct msghdr){.msg_name = &rx_from[i],
		    .msg_namelen = sizeof rx_from[i], .msg_iov = &rx_iov[i],
		    .msg_iovlen = 1};
	}
	/* EAGAIN, or an ICMP error for an earlier send (reported once). */
	int n = recvmmsg(fd, rx_msg, UDP_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		d[i] = (struct udp_dgram){rx_buf[i], rx_msg[i].msg_len,
		    (const struct sockaddr *)&rx_from[i], rx_msg[i].msg_hdr.msg_namelen};
	return n > 0 ? n : 0;
}

/* Writes q's datagrams from i on that share its fd: how many it took. */
static int
outq_write_run(struct udp_table *t, int i)
{
	struct udp_outq *q = t->q;
	int k = 1;
	while (i + k < q->n && q->fd[i + k] == q->fd[i])
		k++;
	for (int done = 0; done < k;) {
		int r = sendmmsg(q->fd[i], &q->m[i + done], (unsigned)(k - done),
		    MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			t->dropped += (uint64_t)(k - done); /* the socket is full */
			break;
		}
		if (r <= 0) { /* this one failed (an ICMP error, say): the rest may go */
			t->dropped++;
			done++;
			continue;
		}
		for (int j = 0; j < r; j++)
			if (q->flow[i + done + j] != NULL)
				q->flow[i + done + j]->out++;
		done += r;
	}
	return k;
}

void
udp_table_flush(struct udp_table *t)
{
	struct udp_outq *q = t->q;
	if (q == NULL || q->n == 0)
		return;
	for (int i = 0; i < q->n;)
		i += outq_write_run(t, i);
	q->n = 0;
	q->used = 0;
}

static void
outq_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_table *t = arg;
	/* Writes that failed are logged here too: a one-way flow has no read
	 * callback on this side that would log them. Flushing frees no session. */
	struct udp_flow *f = t->q->n > 0 ? t->q->flow[0] : NULL;
	struct session *s = f != NULL ? f->s : NULL;
	udp_table_flush(t);
	if (t->dropped > 0)
		udp_table_log_drops(t, s != NULL ? session_label(s) : "udp flows");
}

void
udp_queue(struct udp_table *t, struct udp_flow *f, int fd,
    const struct sockaddr *to, socklen_t tolen, const void *p, size_t n)
{
	struct udp_outq *q = t->q;
	if (q == NULL) {
		q = calloc(1, sizeof *q);
		if (q == NULL || (q->ev = event_new(t->base, -1, 0, outq_flush_cb, t)) == NULL) {
			free(q);
			t->dropped++;
			return;
		}
		t->q = q;
	}
	if (q->n == UDP_BATCH || q->used + n > sizeof q->buf)
		udp_table_flush(t);
	int i = q->n++;
	memcpy(q->buf + q->used, p, n);
	q->iov[i].iov_base = q->buf + q->used;
	q->iov[i].iov_len = n;
	q->used += n;
	q->flow[i] = f;
	q->fd[i] = fd;
	q->m[i].msg_hdr = (struct msghdr){.msg_iov = &q->iov[i], .msg_iovlen = 1};
	if (to != NULL && tolen <= sizeof q->to[i]) {
		memcpy(&q->to[i], to, tolen);
		q->m[i].msg_hdr.msg_name = &q->to[i];
		q->m[i].msg_hdr.msg_namelen = tolen;
	}
	if (i == 0)
		event_active(q->ev, EV_WRITE, 0);
}

void
udp_table_drop(struct udp_table *t)
{
	t->dropped++;
}

int
udp_flow_send(struct udp_flow *f, const void *p, size_t n)
{
	f->last_ms = mono_ms();
	if (f->s == NULL || session_congested(f->s) || n > FRAME_MAX_PAYLOAD) {
		f->tab->dropped++;
		return -1;
	}
	session_send(f->s, FRAME_DGRAM, f->id, p, n);
	return 0;
}

void
udp_table_log_drops(struct udp_table *t, const char *label)
{
	if (t->dropped == 0)
		return;
	uint64_t now = mono_ms();
	if (now - t->last_drop_log_ms < 5000)
		return;
	log_warn("%s: dropped %llu datagrams (session congested or socket full)",
	    label, (unsigned long long)t->dropped);
	t->dropped = 0;
	t->last_drop_log_ms = now;
}
