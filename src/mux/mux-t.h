/*
 * Private to src/mux: the session and stream structs, shared by session.c
 * and stream.c only.
 */
#ifndef BURROW_MUX_T_H
#define BURROW_MUX_T_H

#include <stdint.h>
#include <sys/queue.h>

#include "mux/flow.h"
#include "mux/session.h"

struct conn;
struct event;
struct evbuffer;

/* Session output above HIGH pauses every stream's reads until below LOW. */
#define SESSION_OUT_HIGH (1024 * 1024)
#define SESSION_OUT_LOW (256 * 1024)
#define SESSION_IN_CAP (256 * 1024)
/* Before authentication: one handshake frame (payload <= 1024) fits twice. */
#define SESSION_IN_HANDSHAKE (2 * 1024 + 2 * 12)
/*
 * Output above this is a peer that does not read (DATA stops at HIGH; only
 * replies such as PONG, WINDOW and RST can pile up): the session closes.
 */
#define SESSION_OUT_MAX (8 * 1024 * 1024)
/*
 * One read from a stream's socket becomes one DATA frame. Header + chunk +
 * libevent's chain header fit a 64 KiB allocation; 64 KiB reads would make
 * evbuffer allocate 128 KiB chains, half empty.
 */
#define STREAM_READ_CHUNK (60 * 1024)
/*
 * Only reads (and DATA frames) of at least this many bytes, or of
 * promote_after if smaller, count toward moving a stream: bulk transfers
 * fill big reads, request/response chatter does not, and stays multiplexed,
 * where its latency is lowest.
 */
#define STREAM_BULK_READ (16 * 1024)
/* Bytes one stream may read from its socket per callback: fairness. */
#define STREAM_READ_BUDGET (4 * FRAME_MAX_PAYLOAD)

enum stream_state { SS_OPENING, SS_OPEN, SS_DEAD };
/* Local socket -> peer: open until the socket says EOF and FIN is sent. */
enum stream_rd { RD_OPEN, RD_EOF };
/* Peer -> local socket: open, FIN received but bytes still queued, shut. */
enum stream_wr { WR_OPEN, WR_FIN_PENDING, WR_DONE };

/*
 * Moving a stream to a dedicated data connection (docs/protocol.md): each
 * side stops reading its socket and sends MOVED after its last DATA; once
 * it has the data connection (adopt), the peer's MOVED, and has written
 * every byte the peer sent, the stream hands both fds to on_moved.
 */
struct stream {
	struct session *s;
	uint32_t id;
	uint32_t tunnel_id;
	int fd;
	struct conn *adopt; /* the data connection this stream moves to, or NULL */
	enum stream_state state;
	enum stream_rd rd;
	enum stream_wr wr;
	unsigned reading : 1, writing : 1, paused : 1;
	unsigned moving : 1;     /* we sent MOVED: no more DATA or FIN from us */
	unsigned peer_moved : 1; /* the peer sent MOVED */
	unsigned handed_over : 1; /* closed because on_moved took its fds */
	uint8_t tag;             /* session_open's: on_open_result hears of it */
	uint8_t *early;          /* session_open's early bytes, until open */
	size_t early_len;
	uint64_t bulk_bytes;     /* bytes that came in big reads or frames */
	uint64_t promote_at;     /* bulk_bytes at which to ask handler->promote */
	struct event *rev, *wev, *timer;
	struct flow flow;
	struct evbuffer *pending; /* peer bytes the socket has not taken */
	uint64_t bytes_in, bytes_out;
	struct stream *hnext;
	TAILQ_ENTRY(stream) link; /* paused or dead list */
};

TAILQ_HEAD(stream_list, stream);

struct session {
	struct event_base *base;
	struct conn *conn; /* NULL once closed or detached */
	char label[ADDR_STR_MAX + 48]; /* "session N (addr)", "data connection (addr)" */
	struct session_params p;
	const struct session_handler *h;
	void *arg;
	struct event *flush_ev, *reap_ev, *timer;
	uint8_t *in;
	size_t in_cap;  /* SESSION_IN_HANDSHAKE until ready, then SESSION_IN_CAP */
	size_t in_len;
	size_t in_used; /* bytes of `in` decoded so far in this pass */
	struct evbuffer *out;
	unsigned ready : 1, closing : 1, draining : 1, flush_pending : 1,
	    writing : 1, congested : 1;
	unsigned overflow : 1; /* output over SESSION_OUT_MAX: closes soon */
	uint64_t last_rx_ms;
	uint32_t next_id;
	/* The receive window of each stream, grown toward what the path holds:
	 * bytes that arrive in one round trip of a PING (session.c). */
	uint32_t window;
	uint64_t bdp_bytes;  /* arrived since the PING went out */
	uint64_t rtt_min_us; /* the shortest round trip seen (0: none yet) */
	unsigned bdp_pending : 1, rtt_probe : 1;
	struct stream **buckets;
	size_t nbuckets, nstreams;
	struct stream_list paused;
	struct stream_list dead;
};

/* session.c, for stream.c */
struct stream *session_stream_find(struct session *s, uint32_t id);
void session_stream_insert(struct session *s, struct stream *st);
void session_stream_remove(struct session *s, struct stream *st);
void session_want_flush(struct session *s);
void session_want_reap(struct session *s);
void session_protocol_error(struct session *s, const char *why);

/* stream.c, for session.c */
/* Grants the peer delta more bytes of window for good. */
void stream_grow_window(struct stream *st, uint32_t delta);
struct stream *stream_new(struct session *s, uint32_t id, int fd,
    uint32_t tunnel_id, enum stream_state state);
int stream_adopt(struct stream *st, struct conn *data);
void stream_start(struct stream *st, uint32_t peer_window);
/* An OPEN we sent failed (code, text): the role hears of it, then closed. */
void stream_open_failed(struct stream *st, uint16_t code, const char *text,
    int send_rst);
void stream_on_frame(struct stream *st, const struct frame *f);
void stream_close(struct stream *st, const char *reason, int send_rst);
void stream_resume(struct stream *st);
void stream_free(struct stream *st);
/* open_timeout for an OPEN's answer, or for a move to complete. */
void stream_arm_timer(struct stream *st);

#endif
