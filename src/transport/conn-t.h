/*
 * Private to src/transport: the conn struct and its ops table, shared by
 * conn.c (events, dispatch) and the transports that implement the ops.
 */
#ifndef BURROW_CONN_T_H
#define BURROW_CONN_T_H

#include "transport/conn.h"

struct event;

struct conn_ops {
	const char *kind;
	ssize_t (*read)(struct conn *c, void *buf, size_t len);
	ssize_t (*writev)(struct conn *c, const struct iovec *iov, int iovcnt);
	int (*shutdown)(struct conn *c);
	size_t (*buffered)(const struct conn *c);
	int spliceable; /* raw bytes flow on the socket: splice(2) works */
	/* Frees the transport's own state (not the socket, not the conn); may be NULL. */
	void (*destroy)(struct conn *c);
};

struct conn {
	const struct conn_ops *ops;
	int fd;
	struct event *rev, *wev;
	conn_cb on_read, on_write;
	void *arg;
	unsigned want_read : 1, want_write : 1;
};

/* For transports: set up c (already allocated, zeroed) on fd; 0 or -1. */
int conn_init(struct conn *c, const struct conn_ops *ops,
    struct event_base *base, int fd);

#endif
