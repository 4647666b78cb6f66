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
/* Datagrams read by one recvmmsg, written by one sendmmsg. */
#define UDP_BATCH 32

struct udp_outq;

/*
 * System calls are most of a datagram's cost (a VM's syscall entry is dear):
 * datagrams are read UDP_BATCH at a time, and the datagrams a read of the
 * session brings are queued (copied) and written together with sendmmsg
 * once the callback that queued them returns. A flow's socket (or a
 * tunnel's) is written through the queue only: whoever frees a flow or
 * closes a socket flushes it first (udp_table_flush), so no queued datagram
 * outlives its socket.
 */
struct udp_table {
	struct event_base *base;
	struct udp_outq *q; /* made at the first queued datagram */
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
	/* The server's two halves of a visit to a UDP share (one in the
	 * visitor's table, one in the sharer's): datagrams go from one session
	 * to the other; peer NULL once the other half ended. */
	struct udp_flow *peer;
	int bridged;
	struct udp_flow *id_next, *addr_next;
};

/* A non-blocking UDP socket bound to sa, with big buffers: fd, or -1. */
int udp_bind(const struct sockaddr *sa, socklen_t len);

void udp_table_init(struct udp_table *t, struct event_base *base);

struct udp_flow *udp_flow_by_id(struct udp_table *t, uint32_t id);
/* The public side's flow of one tunnel from one source address. */
struct udp_flow *udp_flow_by_addr(struct udp_table *t, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len);
/* A new flow in t (fd -1, no event); NULL if out of memory. */
struct udp_flow *udp_flow_add(struct udp_table *t, uint32_t id, uint32_t tunnel_id,
    const struct sockaddr *sa, socklen_t len);
/* Removes it, closes its socket and event, frees it (flushing the queue). */
void udp_flow_free(struct udp_flow *f);
/* Frees every flow and the queue, flushed first. */
void udp_table_clear(struct udp_table *t);
/* Each flow of the table in turn; fn may free the flow it is given. */
void udp_table_each(struct udp_table *t, void (*fn)(struct udp_flow *f, void *arg),
    void *arg);

/* One datagram of f to the peer as DGRAM: 0, or -1 if dropped (counted). */
int udp_flow_send(struct udp_flow *f, const void *p, size_t n);
/* A drop on the receiving side (a full socket). */
void udp_table_drop(struct udp_table *t);

/* One datagram read by udp_recv_batch: valid until the next call. */
struct udp_dgram {
	const uint8_t *p;
	size_t n;
	const struct sockaddr *from;
	socklen_t fromlen;
};
/* Up to UDP_BATCH datagrams from fd (recvmmsg): how many, 0 when none. */
int udp_recv_batch(int fd, struct udp_dgram *d);

/*
 * A datagram for fd (to: its destination, NULL on a connected socket),
 * written at the latest when the loop's current callback returns; f's out
 * counts it when written. A full socket drops it, counted.
 */
void udp_queue(struct udp_table *t, struct udp_flow *f, int fd,
    const struct sockaddr *to, socklen_t tolen, const void *p, size_t n);
/* Writes what is queued now (before a socket of the table closes). */
void udp_table_flush(struct udp_table *t);
/* Logs the drops counted since the last such line (at most every 5 s). */
void udp_table_log_drops(struct udp_table *t, const char *label);

#endif
