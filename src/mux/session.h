/*
 * A session is one control connection: frames in and out, the streams
 * multiplexed on it, per-stream flow control, heartbeats.
 *
 * The session handles stream frames (DATA, WINDOW, FIN, RST, OPEN_OK,
 * OPEN_ERR) and PING/PONG itself and hands every other frame to its role
 * through session_handler.on_frame. It never frees itself inside a caller's
 * stack: session_close() marks it closed, closes its fds and streams, calls
 * on_close once, and frees the memory from a deferred callback.
 *
 * Functions return 0 on success, -1 on error; errors on the connection close
 * the session with a reason that on_close receives.
 */
#ifndef BURROW_SESSION_H
#define BURROW_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/msg.h"

struct conn;
struct event_base;
struct session;

struct session_handler {
	/* Return 0, or -1 with a static reason to close the session. */
	int (*on_frame)(struct session *s, const struct frame *f, void *arg,
	    const char **why);
	/* Called once when the session closes; the session is freed later. */
	void (*on_close)(struct session *s, const char *reason, void *arg);
	/*
	 * Server only (NULL on the client): a stream has carried
	 * promote_after bytes. Return an idle data connection on which
	 * ADOPT(stream_id) was sent (the stream owns it from here on), or NULL
	 * to stay multiplexed (asked again after as many bytes more).
	 */
	struct conn *(*promote)(struct session *s, uint32_t stream_id,
	    uint32_t tunnel_id, void *arg);
	/*
	 * A stream finished moving: every byte sent on the session has been
	 * delivered, and from now on local (the user or target socket, as an
	 * unbound conn) and data are relayed raw. The role owns both.
	 */
	void (*on_moved)(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
	    struct conn *local, struct conn *data, uint64_t bytes, void *arg);
	/*
	 * Optional: a stream left the session without moving (its socket is
	 * closed). Each stream ends in exactly one of on_moved or this.
	 */
	void (*on_stream_closed)(struct session *s, uint32_t stream_id,
	    uint32_t tunnel_id, void *arg);
	/*
	 * Optional: the answer to a stream this side opened with a tag
	 * (session_open), before the stream relays anything: err is NULL when
	 * the peer opened it (OPEN_OK), else why not (OPEN_ERR, a RST, or
	 * open_timeout, code ERR_TIMEOUT). fd is the stream's socket, still
	 * the stream's: a SOCKS or HTTP CONNECT reply may be written to it.
	 * After a failure the stream closes it. Return -1 to close the stream
	 * (a reply that could not be written).
	 */
	int (*on_open_result)(struct session *s, uint32_t stream_id,
	    uint32_t tunnel_id, uint8_t tag, int fd, const struct msg_error *err,
	    void *arg);
	/*
	 * Optional: a RST for a stream id with no stream here: the peer gave
	 * up on an OPEN that this side has not answered yet (a dial still
	 * going), which the role may cancel.
	 */
	void (*on_stray_rst)(struct session *s, uint32_t stream_id, void *arg);
};

struct session_params {
	uint32_t window;         /* receive window we grant each stream, at first */
	uint32_t window_max;     /* what it may grow to (window: fixed) */
	uint32_t heartbeat_ms;   /* ping interval once ready */
	uint32_t handshake_ms;   /* close if not ready by then; 0 = never */
	uint32_t open_timeout_ms;
	uint64_t promote_after;  /* bytes before handler->promote is asked */
	int initiator_parity;    /* 0: we open even stream ids, 1: odd */
};

/* Takes conn on success; on failure (NULL) the caller still owns it. */
struct session *session_new(struct event_base *base, struct conn *conn,
    const char *label, const struct session_params *p,
    const struct session_handler *h, void *arg);
void session_set_label(struct session *s, const char *label);
const char *session_label(const struct session *s);
/* Authenticated: stream frames are allowed and heartbeats start. */
void session_set_ready(struct session *s);
int session_is_closing(const struct session *s);
size_t session_stream_count(const struct session *s);
/* Output above its high mark (or closing): a datagram sent now is dropped. */
int session_congested(const struct session *s);

void session_send(struct session *s, enum frame_type type, uint32_t id,
    const void *payload, size_t len);
/* ERROR, REGISTER_ERR, OPEN_ERR, RST or GOAWAY with a code and a reason. */
void session_send_error(struct session *s, enum frame_type type, uint32_t id,
    uint16_t code, const char *text);

void session_close(struct session *s, const char *reason);
/*
 * For a connection that changes protocol after its handshake: sends what is
 * queued, then ends the session without closing its conn or calling
 * on_close, and returns the conn (no callbacks, no readiness asked). If the
 * queue cannot be sent at once or bytes beyond the current frame were
 * already read, closes the session (on_close runs) and returns NULL.
 */
struct conn *session_detach(struct session *s);
/*
 * Before the handshake's first frame, the conn turned out to carry
 * something else (an http transport request): takes it away, bytes and all,
 * and ends the session without on_close. NULL if the session is closing.
 */
struct conn *session_take_conn(struct session *s);
/* The session's connection (NULL once closed): for its transport's facts. */
struct conn *session_conn(struct session *s);
/* Stops reading, sends what is queued, then closes (at most 2 s later). */
void session_close_after_flush(struct session *s, const char *reason);

/*
 * A stream this side opens. The server opens them for its tunnels'
 * connections; with CAP_FORWARD the client does too (-L, -D).
 */
struct stream_open {
	int fd;             /* the local socket, taken on success */
	uint32_t tunnel_id; /* the role's id for what the stream belongs to */
	uint8_t tag;        /* nonzero: on_open_result hears of the answer */
	const struct msg_open *m; /* what OPEN says; its window is ours */
	/* Bytes to send first once it is open (what a proxy request carried
	 * after its head), at most STREAM_EARLY_MAX; copied. */
	const void *early;
	size_t early_len;
};
#define STREAM_EARLY_MAX (16 * 1024)

/* Sends OPEN. Returns the stream id, or 0 if the session cannot take it
 * (fd not taken). */
uint32_t session_open(struct session *s, const struct stream_open *o);
/* session_open for a tunnel's user connection, with OPEN_TUNNEL. */
uint32_t session_open_stream(struct session *s, int fd, uint32_t tunnel_id,
    const char *peer);
/* The answer to the peer's OPEN. The session owns fd from here on. */
void session_accept_stream(struct session *s, uint32_t id, int fd,
    uint32_t tunnel_id, uint32_t peer_window);
/*
 * Client side: ADOPT(id) arrived on data connection data (no callbacks, no
 * readiness asked). Returns 0 and owns data, or -1 if there is no such
 * stream (the caller frees it).
 */
int session_stream_adopt(struct session *s, uint32_t id, struct conn *data);
void session_refuse_stream(struct session *s, uint32_t id, uint16_t code,
    const char *text);

#endif
