/* UDP flow tables (flow.h). */
#include "udp/flow.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "mux/session.h"
#include "proto/frame.h"
#include "util/evtime.h"
#include "util/log.h"

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
	udp_table_each(t, free_one, NULL);
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
	uint64_t now = mono_ms();
	if (t->dropped == 0 || now - t->last_drop_log_ms < 5000)
		return;
	log_warn("%s: dropped %llu datagrams (session congested or socket full)",
	    label, (unsigned long long)t->dropped);
	t->dropped = 0;
	t->last_drop_log_ms = now;
}
