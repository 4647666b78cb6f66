/*
 * UDP flows (CAP_UDP, docs/protocol.md): each datagram one DGRAM frame on
 * the session, a flow per source address of a UDP tunnel. A flow table
 * keyed by flow id, and by peer address on the side with the public port;
 * one socket per flow on the side that dials the target. Datagrams are
 * never queued: a congested session or a full socket drops them, and the
 * drops are counted and logged.
 */
#ifndef BURROW_UDP_FLOW_H
#define BURROW_UDP_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct session;
struct udp_flow;

/* A flow idle for the server's udp_timeout is ended by the server. */
#define UDP_TABLE_BUCKETS 256
/* Datagrams read per callback: fairness with streams. */
#define UDP_READ_BUDGET 64

struct udp_table {
	struct udp_flow *by_id[UDP_TABLE_BUCKETS];
	struct udp_flow *by_addr[UDP_TABLE_BUCKETS];
	size_t n;
	uint64_t dropped; /* since the last log line about them */
	uint64_t last_drop_log_ms;
};

struct udp_flow {
	uint32_t id;
	uint32_t tunnel_id;
	struct sockaddr_storage addr; /* public side: the peer; else unused */
	socklen_t alen;
	int fd;                       /* dialing side: its own socket, else -1 */
	struct event *ev;
	uint64_t last_ms;
	/* Datagrams read from this side's socket (the source's, the target's)
	 * and written to it. */
	uint64_t in, out;
	struct udp_table *tab;
	struct session *s;
	struct udp_flow *id_next, *addr_next;
};

struct udp_flow *udp_flow_by_id(struct udp_table *t, uint32_t id);
/* The public side's flow of one tunnel from one source address. */
struct udp_flow *udp_flow_by_addr(struct udp_table *t, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len);
/* A new flow in t (fd -1, no event); NULL if out of memory. */
struct udp_flow *udp_flow_add(struct udp_table *t, uint32_t id, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len);
/* Removes it, closes its socket and event, frees it. */
void udp_flow_free(struct udp_flow *f);
void udp_table_clear(struct udp_table *t);
/* Each flow of the table in turn; fn may free the flow it is given. */
void udp_table_each(struct udp_table *t, void (*fn)(struct udp_flow *f, void *arg),
    void *arg);

/* One datagram of f to the peer as DGRAM: 0, or -1 if dropped (counted). */
int udp_flow_send(struct udp_flow *f, const void *p, size_t n);
/* A drop on the receiving side (a full socket). */
void udp_table_drop(struct udp_table *t);
/* Logs the drops counted since the last such line (at most every 5 s). */
void udp_table_log_drops(struct udp_table *t, const char *label);

#endif
