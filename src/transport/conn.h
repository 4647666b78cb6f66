/*
 * A connection: a byte stream behind a small ops table (in the spirit of
 * redis's ConnectionType and haproxy's xprt), so the mux, the data
 * connections and the roles never know whether it is plain TCP or, later,
 * TLS, a WebSocket or HTTP polling.
 *
 * A conn owns its socket and its readiness events. Its user asks for read or
 * write readiness (conn_want_read / conn_want_write) and gets callbacks; a
 * transport that needs the other readiness underneath (a TLS read that must
 * write first), or has no socket at all, hides that. Bytes a transport holds
 * already decoded (conn_buffered) make it call on_read again by itself.
 *
 * I/O follows read(2)/writev(2): bytes (> 0), 0 for EOF (reads only), or -1
 * with errno set; EAGAIN means "wait for the callback". conn_free is the one
 * teardown: it closes the socket and frees the conn.
 */
#ifndef BURROW_CONN_H
#define BURROW_CONN_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct conn;
struct event_base;

typedef void (*conn_cb)(struct conn *c, void *arg);

/*
 * Plain TCP on a connected non-blocking socket; takes the fd (closed on
 * failure). NULL if out of memory. With base NULL the conn has no events
 * (for a relay thread, which moves its bytes by other means).
 */
struct conn *conn_tcp_new(struct event_base *base, int fd);
/* Drops the conn's events (and callbacks) on this thread, so that it can go
 * to another thread's loop; I/O calls still work. */
void conn_unbind(struct conn *c);
/* Gives an unbound conn events on base (a relay thread's loop); 0 or -1.
 * What the transport itself waits for (a TLS flush) is armed again. */
int conn_bind(struct conn *c, struct event_base *base);

/* Callbacks for readiness asked for with conn_want_*; NULL ones are not called. */
void conn_set_cb(struct conn *c, conn_cb on_read, conn_cb on_write, void *arg);
void conn_want_read(struct conn *c, int on);
void conn_want_write(struct conn *c, int on);

ssize_t conn_read(struct conn *c, void *buf, size_t len);
ssize_t conn_writev(struct conn *c, const struct iovec *iov, int iovcnt);
/* One buffer: what conn_writev takes, for small writes. */
ssize_t conn_write(struct conn *c, const void *buf, size_t len);
/* No more writes from us (FIN); reads go on. 0 or -1 with errno; EAGAIN:
 * bytes written before it are still on their way, call again when
 * writable (TLS). */
int conn_shutdown(struct conn *c);
/* Bytes the transport holds that a read returns without waiting. */
size_t conn_buffered(const struct conn *c);
/* The socket splice(2) may move raw bytes on, or -1 (TLS, no socket). */
int conn_splice_fd(const struct conn *c);
/* "tcp", "tls", ... for logs. */
const char *conn_kind(const struct conn *c);
/*
 * Why the last I/O call failed, for a log line: the transport's own words
 * where it has them (a TLS alert, a certificate that failed its check),
 * else strerror(err).
 */
const char *conn_strerror(const struct conn *c, int err);
/*
 * The channel binding of a TLS connection (RFC 9266 tls-exporter, 32
 * bytes) into out; -1 if the transport has none (plain TCP).
 */
int conn_channel_binding(struct conn *c, unsigned char out[32]);

void conn_free(struct conn *c);

#endif
