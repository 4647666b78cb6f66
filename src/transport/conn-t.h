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
	/*
	 * Called before the user's callback when an event fires that the
	 * transport asked for itself (conn_need): a handshake step, a flush.
	 * what is EV_READ or EV_WRITE. Must not free the conn; may be NULL.
	 */
	void (*pump)(struct conn *c, short what);
	const char *(*strerror)(const struct conn *c);
	int (*binding)(struct conn *c, unsigned char out[32]);
	/* Frees the transport's own state (not the socket, not the conn); may be NULL. */
	void (*destroy)(struct conn *c);
};

/*
 * A conn is a transport (ops: TCP, TLS) and, optionally, a filter on top of
 * it (fops: WebSocket framing) with the same ops shape. The user's calls go
 * to the filter when there is one; the filter reaches the transport's bytes
 * with conn_raw_*. Each layer asks for readiness of its own (conn_need,
 * conn_filter_need) and has its pump called before the user's callback:
 * the transport's first, then the filter's.
 */
struct conn {
	const struct conn_ops *ops;
	const struct conn_ops *fops; /* the filter, or NULL */
	void *filter;                /* its state */
	int fd;
	struct event *rev, *wev;
	conn_cb on_read, on_write;
	void *arg;
	unsigned want_read : 1, want_write : 1; /* the user's */
	unsigned need_read : 1, need_write : 1; /* the transport's own */
	unsigned fneed_read : 1, fneed_write : 1; /* the filter's own */
	unsigned armed_read : 1, armed_write : 1; /* events added */
};

/* Plain TCP's ops: a transport may turn into it (the control port's sniffer). */
extern const struct conn_ops tcp_conn_ops;

/* For transports: set up c (already allocated, zeroed) on fd; 0 or -1. */
int conn_init(struct conn *c, const struct conn_ops *ops,
    struct event_base *base, int fd);

/* The transport waits for readiness of its own (armed beside the user's). */
void conn_need(struct conn *c, int read, int write);
/* Calls the user's callbacks soon for the readiness it wants (from the
 * loop, never from inside the caller): after a handshake, or when bytes
 * wait decoded inside the transport. */
void conn_kick(struct conn *c, int read, int write);

/* A filter takes over the user's calls; fops->destroy frees state with the
 * conn. conn_filter_clear drops it (without calling destroy). */
void conn_filter_set(struct conn *c, const struct conn_ops *fops, void *state);
void conn_filter_clear(struct conn *c);
void conn_filter_need(struct conn *c, int read, int write);
/* The transport under the filter. */
ssize_t conn_raw_read(struct conn *c, void *buf, size_t len);
ssize_t conn_raw_writev(struct conn *c, const struct iovec *iov, int iovcnt);
int conn_raw_shutdown(struct conn *c);
size_t conn_raw_buffered(const struct conn *c);
const char *conn_raw_strerror(const struct conn *c, int err);

#endif
