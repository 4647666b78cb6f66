/*
 * WebSocket (RFC 6455) for the ws and wss transports: the opening handshake
 * and the frames, pure functions over byte buffers (the I/O is in
 * transport/ws.c). Frames are read and written by wslay's frame layer; the
 * rules on top of it are ours: binary messages only, fragmented or not,
 * masked from the client and never from the server, no extensions, control
 * frames (ping, pong, close) between fragments.
 *
 * A burrow connection's bytes are one stream across all messages: message
 * boundaries mean nothing, so a writer frames whatever it has.
 */
#ifndef BURROW_PROTO_WS_H
#define BURROW_PROTO_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "proto/http.h"

#define WS_KEY_LEN 24    /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define WS_HDR_MAX 14    /* 2 + 8 bytes of length + 4 of mask */
#define WS_CTL_MAX 125   /* a control frame's payload */

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* RFC 6455 §7.4.1 codes we send. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_PROTOCOL 1002

/* ---- the opening handshake ---- */

/* A fresh Sec-WebSocket-Key; 0, or -1 without randomness. */
int ws_key_new(char key[WS_KEY_LEN + 1]);
/* Sec-WebSocket-Accept for key. */
void ws_accept_of(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The client's GET; the length, or 0 if it does not fit in cap. */
size_t ws_client_request(char *buf, size_t cap, const char *host,
    const char *path, const char *key);
/*
 * The server's answer in p[0..n): 1 when it switched protocols with the
 * right Sec-WebSocket-Accept (*head_len: the head's bytes; frames follow),
 * 0 for more, -1 with *why. *status gets the status code when there is one
 * (so that a 404 can say "wrong path"), else 0.
 */
int ws_client_response(const uint8_t *p, size_t n, const char *key,
    size_t *head_len, int *status, const char **why);
/*
 * The server's answer to a request for path: the 101 into buf (returns its
 * length, *status 101), or an error response (*status 400, 404 or 426,
 * *why says what was wrong). 0 if it does not fit in cap.
 */
size_t ws_server_response(const struct http_head *rq, const char *path,
    char *buf, size_t cap, int *status, const char **why);

/* ---- frames ---- */

struct ws_codec;

/* server: frames we read must be masked, ours are not; client: the other
 * way round. NULL if out of memory. */
struct ws_codec *ws_codec_new(int server);
void ws_codec_free(struct ws_codec *w);

enum ws_event {
	WS_EV_NONE,
	WS_EV_PING,  /* answer with a pong of ws_ctl's payload */
	WS_EV_CLOSE, /* the peer sends nothing more; ws_close_code says why */
};

/*
 * Reads message payload from in[0..*inlen) into out[0..outlen): returns the
 * bytes written and advances *in / *inlen past what it consumed (it keeps
 * partial headers itself, and payload that did not fit in out for the next
 * call). Stops early when a control frame completes (*ev). After
 * WS_EV_CLOSE it reads nothing more. -1 with *why on a protocol error.
 */
ssize_t ws_read(struct ws_codec *w, const uint8_t **in, size_t *inlen,
    uint8_t *out, size_t outlen, enum ws_event *ev, const char **why);
/* Payload the codec holds that the next ws_read returns without input. */
size_t ws_pending(const struct ws_codec *w);
/* The last ping's payload. */
const uint8_t *ws_ctl(const struct ws_codec *w, size_t *len);
/* The peer's close code (1005 if it gave none) and reason (NUL-terminated,
 * as sent: sanitise before logging). */
int ws_close_code(const struct ws_codec *w, const char **reason);

/*
 * One binary frame of len bytes taken from iov, header and (client)
 * masked payload, into out; returns the bytes written: len + a header of
 * at most WS_HDR_MAX. out must have room for both. -1 without randomness
 * (the client's mask).
 */
ssize_t ws_write(struct ws_codec *w, uint8_t *out, const struct iovec *iov,
    int iovcnt, size_t len);
/* A control frame (ping, pong, close) with payload p[0..n), n <= WS_CTL_MAX. */
ssize_t ws_write_ctl(struct ws_codec *w, uint8_t *out, int opcode,
    const void *p, size_t n);
/* A close frame's payload: code and reason (cut to fit); its length. */
size_t ws_close_payload(uint8_t out[WS_CTL_MAX], int code, const char *reason);

#endif
