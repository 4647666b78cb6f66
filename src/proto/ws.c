#include "proto/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "proto/auth.h"

/* RFC 6455 §1.3 */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct ws_codec {
	wslay_frame_context_ptr ctx;
	int server;
	/* wslay's callbacks read and write here during a call */
	const uint8_t *in;
	size_t inlen;
	uint8_t *out;
	uint8_t mask[4];
	/* reading: where wslay is in the frames it is handed (ws_recv_cb) */
	uint8_t hdr[WS_HDR_MAX];
	size_t hdr_have;
	uint64_t wire_left; /* payload bytes of the current frame not handed yet */
	const uint8_t *chunk; /* payload wslay handed us that did not fit yet */
	size_t chunk_len;
	uint64_t frame_left; /* payload of the current frame still to come */
	uint8_t opcode;      /* of the current frame */
	unsigned in_message : 1, closed : 1;
	uint8_t ctl[WS_CTL_MAX]; /* the control frame being read */
	size_t ctl_len;
	uint8_t ping[WS_CTL_MAX];
	size_t ping_len;
	int close_code;
	char close_reason[WS_CTL_MAX];
};

/* ---- the opening handshake ---- */

int
ws_key_new(char key[WS_KEY_LEN + 1])
{
	unsigned char raw[16];
	if (auth_random(raw, sizeof raw) != 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
	return 0;
}

void
ws_accept_of(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[HTTP_TOKEN_MAX + sizeof ws_guid];
	int n = snprintf(buf, sizeof buf, "%.*s%s", HTTP_TOKEN_MAX, key, ws_guid);
	SHA1((const unsigned char *)buf, (size_t)n, md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

size_t
ws_client_request(char *buf, size_t cap, const char *host, const char *path,
    const char *key)
{
	int n = snprintf(buf, cap,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\nUser-Agent: burrow/" BURROW_VERSION "\r\n\r\n",
	    path, host, key);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int
ws_client_response(const uint8_t *p, size_t n, const char *key,
    size_t *head_len, int *status, const char **why)
{
	struct http_head h;
	int st;
	*status = 0;
	int rc = http_head_parse(p, n, HTTP_HEAD_RESPONSE, &h, head_len, &st, why);
	if (rc != 1)
		return rc;
	*status = h.status;
	if (h.status != 101) {
		*why = h.status == 404 ? "no WebSocket endpoint at this path (404)"
					: "the server did not switch to WebSocket";
		return -1;
	}
	char want[WS_ACCEPT_LEN + 1];
	ws_accept_of(key, want);
	if (!h.upgrade_ws || !h.connection_upgrade) {
		*why = "101 without Upgrade: websocket";
		return -1;
	}
	if (strcmp(h.ws_accept, want) != 0) {
		*why = "wrong Sec-WebSocket-Accept";
		return -1;
	}
	return 1;
}

/* A key is base64 of 16 bytes: 22 characters and "==". */
static int
ws_key_valid(const char *k)
{
	if (strlen(k) != WS_KEY_LEN || strcmp(k + 22, "==") != 0)
		return 0;
	for (int i = 0; i < 22; i++)
		if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z') ||
			(k[i] >= '0' && k[i] <= '9') || k[i] == '+' || k[i] == '/'))
			return 0;
	return 1;
}

size_t
ws_server_response(const struct http_head *rq, const char *path, char *buf,
    size_t cap, int *status, const char **why)
{
	if (strcmp(rq->path, path) != 0) {
		*status = 404;
		*why = "no such path";
		return http_response(buf, cap, 404, "Not Found", "", "Not Found\n");
	}
	if (rq->method != HTTP_GET || !rq->upgrade_ws || !rq->connection_upgrade) {
		*status = 400;
		*why = "not a WebSocket upgrade";
		return http_response(buf, cap, 400, "Bad Request", "",
		    "This is a WebSocket endpoint.\n");
	}
	if (rq->ws_version != 13) {
		*status = 426;
		*why = "unsupported Sec-WebSocket-Version";
		return http_response(buf, cap, 426, "Upgrade Required",
		    "Sec-WebSocket-Version: 13\r\n", "WebSocket version 13 only.\n");
	}
	if (!ws_key_valid(rq->ws_key)) {
		*status = 400;
		*why = "bad Sec-WebSocket-Key";
		return http_response(buf, cap, 400, "Bad Request", "",
		    "Bad Sec-WebSocket-Key.\n");
	}
	char acc[WS_ACCEPT_LEN + 1];
	ws_accept_of(rq->ws_key, acc);
	*status = 101;
	int n = snprintf(buf, cap,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ---- frames ---- */

static ssize_t
ws_send_cb(const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws_codec *w = user;
	memcpy(w->out, data, len);
	w->out += len;
	return (ssize_t)len;
}

/* The header's length, once its first two bytes are in. */
static size_t
ws_hdr_len(const uint8_t *h)
{
	size_t n = (h[1] & 0x7f) == 127 ? 10 : (h[1] & 0x7f) == 126 ? 4 : 2;
	return n + ((h[1] & 0x80) ? 4 : 0);
}

/* The payload length of a whole header. */
static uint64_t
ws_hdr_payload(const uint8_t *h)
{
	uint64_t len = h[1] & 0x7f;
	if (len == 126)
		return (uint64_t)h[2] << 8 | h[3];
	if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | h[i];
	}
	return len;
}

/*
 * Bytes wslay may have now: the rest of the current frame, as far as the
 * header kept so far and the input show it.
 */
static size_t
ws_frame_room(const struct ws_codec *w)
{
	if (w->wire_left > 0)
		return w->wire_left < SIZE_MAX ? (size_t)w->wire_left : SIZE_MAX;
	uint8_t h[WS_HDR_MAX];
	size_t have = w->hdr_have, more = WS_HDR_MAX - have;
	if (more > w->inlen)
		more = w->inlen;
	memcpy(h, w->hdr, have);
	memcpy(h + have, w->in, more);
	if (have + more < 2)
		return 2 - have;
	size_t hl = ws_hdr_len(h);
	if (have + more < hl)
		return hl - have;
	uint64_t len = ws_hdr_payload(h); /* up to 2^64 - 1: wslay refuses it */
	return len < SIZE_MAX - hl ? hl - have + (size_t)len : SIZE_MAX;
}

/* wslay took p[0..n), never more than ws_frame_room. */
static void
ws_frame_took(struct ws_codec *w, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (w->wire_left > 0) {
			w->wire_left -= n; /* n is within the frame */
			return;
		}
		size_t need = w->hdr_have < 2 ? 2 - w->hdr_have
					      : ws_hdr_len(w->hdr) - w->hdr_have;
		size_t k = n < need ? n : need;
		memcpy(w->hdr + w->hdr_have, p, k);
		w->hdr_have += k;
		p += k;
		n -= k;
		if (w->hdr_have >= 2 && w->hdr_have == ws_hdr_len(w->hdr)) {
			w->wire_left = ws_hdr_payload(w->hdr);
			w->hdr_have = 0;
		}
	}
}

/*
 * wslay reads ahead as far as its 4 KiB buffer goes: it is handed one frame
 * at a time, so that it never holds the start of the next one. Otherwise
 * frames after a ping or a close would wait inside it, where neither
 * ws_pending nor the caller's buffer shows them, for input that may never
 * come.
 */
static ssize_t
ws_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_codec *w = user;
	if (w->inlen == 0)
		return -1; /* wslay: want read */
	size_t n = len < w->inlen ? len : w->inlen, room = ws_frame_room(w);
	if (n > room)
		n = room;
	memcpy(buf, w->in, n);
	ws_frame_took(w, w->in, n);
	w->in += n;
	w->inlen -= n;
	return (ssize_t)n;
}

static int
ws_genmask_cb(uint8_t *buf, size_t len, void *user)
{
	struct ws_codec *w = user;
	memcpy(buf, w->mask, len < 4 ? len : 4);
	return 0;
}

struct ws_codec *
ws_codec_new(int server)
{
	static const struct wslay_frame_callbacks cb = {ws_send_cb, ws_recv_cb,
	    ws_genmask_cb};
	struct ws_codec *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	if (wslay_frame_context_init(&w->ctx, &cb, w) != 0) {
		free(w);
		return NULL;
	}
	w->server = server;
	return w;
}

void
ws_codec_free(struct ws_codec *w)
{
	if (w == NULL)
		return;
	wslay_frame_context_free(w->ctx);
	free(w);
}

/* The first bytes of a frame: whether its header is one we take. */
static int
ws_frame_start(struct ws_codec *w, const struct wslay_frame_iocb *f,
    const char **why)
{
	if (f->rsv != 0) {
		*why = "reserved bits set (no extension was negotiated)";
		return -1;
	}
	if (f->mask != w->server) {
		*why = w->server ? "unmasked frame from the client"
				 : "masked frame from the server";
		return -1;
	}
	switch (f->opcode) {
	case WS_OP_CONT:
		if (!w->in_message) {
			*why = "continuation frame outside a message";
			return -1;
		}
		break;
	case WS_OP_BINARY:
		if (w->in_message) {
			*why = "new message inside a fragmented one";
			return -1;
		}
		break;
	case WS_OP_TEXT:
		*why = "text frame (burrow speaks binary)";
		return -1;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		w->ctl_len = 0;
		break;
	default:
		*why = "unknown opcode";
		return -1;
	}
	if (!wslay_is_ctrl_frame(f->opcode))
		w->in_message = !f->fin;
	w->opcode = f->opcode;
	w->frame_left = f->payload_length;
	return 0;
}

/* RFC 6455 §7.4 and IANA's registry (1012 service restart, 1013 try again
 * later, 1014 bad gateway: proxies and servers going down send them): codes
 * a peer may send. 1004 to 1006 and 1015 never go on the wire. */
static int
ws_close_code_valid(int c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
	    (c >= 3000 && c <= 4999);
}

/* A control frame is complete: 1 with *ev set, 0 nothing to report, -1 bad. */
static int
ws_control(struct ws_codec *w, enum ws_event *ev, const char **why)
{
	switch (w->opcode) {
	case WS_OP_PING:
		memcpy(w->ping, w->ctl, w->ctl_len);
		w->ping_len = w->ctl_len;
		*ev = WS_EV_PING;
		return 1;
	case WS_OP_CLOSE:
		if (w->ctl_len == 1) {
			*why = "close frame of one byte";
			return -1;
		}
		w->close_code = 1005; /* none given */
		if (w->ctl_len >= 2) {
			w->close_code = w->ctl[0] << 8 | w->ctl[1];
			if (!ws_close_code_valid(w->close_code)) {
				*why = "invalid close code";
				return -1;
			}
			memcpy(w->close_reason, w->ctl + 2, w->ctl_len - 2);
			w->close_reason[w->ctl_len - 2] = '\0';
		}
		w->closed = 1;
		*ev = WS_EV_CLOSE;
		return 1;
	default:
		return 0; /* a pong: nothing asked for it */
	}
}

ssize_t
ws_read(struct ws_codec *w, const uint8_t **in, size_t *inlen, uint8_t *out,
    size_t outlen, enum ws_event *ev, const char **why)
{
	size_t got = 0;
	*ev = WS_EV_NONE;
	w->in = *in;
	w->inlen = *inlen;
	ssize_t rc = 0;
	for (;;) {
		if (w->chunk_len > 0) {
			if (got == outlen)
				break; /* kept for the next call */
			size_t n = outlen - got < w->chunk_len ? outlen - got : w->chunk_len;
			memcpy(out + got, w->chunk, n);
			got += n;
			w->chunk += n;
			w->chunk_len -= n;
			continue;
		}
		if (w->closed)
			break;
		struct wslay_frame_iocb f;
		size_t had = w->inlen;
		ssize_t r = wslay_frame_recv(w->ctx, &f);
		if (r == WSLAY_ERR_WANT_READ) {
			if (w->inlen > 0 && w->inlen < had)
				continue; /* wslay wants more and there is more */
			break;
		}
		if (r < 0) {
			*why = "malformed frame";
			rc = -1;
			break;
		}
		if (w->frame_left == 0 && ws_frame_start(w, &f, why) != 0) {
			rc = -1;
			break;
		}
		w->frame_left -= f.data_length;
		if (!wslay_is_ctrl_frame(w->opcode)) {
			w->chunk = f.data;
			w->chunk_len = f.data_length;
			continue;
		}
		memcpy(w->ctl + w->ctl_len, f.data, f.data_length);
		w->ctl_len += f.data_length;
		if (w->frame_left > 0)
			continue;
		int c = ws_control(w, ev, why);
		if (c != 0) {
			rc = c;
			break;
		}
	}
	*in = w->in;
	*inlen = w->inlen;
	w->in = NULL;
	w->inlen = 0;
	return rc < 0 ? -1 : (ssize_t)got;
}

size_t
ws_pending(const struct ws_codec *w)
{
	return w->chunk_len;
}

const uint8_t *
ws_ctl(const struct ws_codec *w, size_t *len)
{
	*len = w->ping_len;
	return w->ping;
}

int
ws_close_code(const struct ws_codec *w, const char **reason)
{
	*reason = w->close_reason;
	return w->close_code;
}

/* One frame through wslay into out; the payload comes in pieces. */
static ssize_t
ws_frame(struct ws_codec *w, uint8_t *out, int opcode, const struct iovec *iov,
    int iovcnt, size_t len)
{
	if (!w->server && auth_random(w->mask, sizeof w->mask) != 0)
		return -1;
	w->out = out;
	struct wslay_frame_iocb f = {.fin = 1, .opcode = (uint8_t)opcode,
	    .mask = !w->server, .payload_length = len};
	size_t left = len;
	int sent_header = 0;
	for (int i = 0; i < iovcnt && left > 0; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
		if (n == 0)
			continue;
		f.data = iov[i].iov_base;
		f.data_length = n;
		if (wslay_frame_send(w->ctx, &f) != (ssize_t)n)
			return -1; /* cannot happen: ws_send_cb takes everything */
		left -= n;
		sent_header = 1;
	}
	if (!sent_header) {
		f.data = NULL;
		f.data_length = 0;
		if (wslay_frame_send(w->ctx, &f) != 0)
			return -1;
	}
	return w->out - out;
}

ssize_t
ws_write(struct ws_codec *w, uint8_t *out, const struct iovec *iov, int iovcnt,
    size_t len)
{
	return ws_frame(w, out, WS_OP_BINARY, iov, iovcnt, len);
}

ssize_t
ws_write_ctl(struct ws_codec *w, uint8_t *out, int opcode, const void *p, size_t n)
{
	struct iovec iov = {(void *)p, n};
	if (n > WS_CTL_MAX)
		return -1;
	return ws_frame(w, out, opcode, &iov, 1, n);
}

size_t
ws_close_payload(uint8_t out[WS_CTL_MAX], int code, const char *reason)
{
	size_t n = strlen(reason);
	if (n > WS_CTL_MAX - 2)
		n = WS_CTL_MAX - 2;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	memcpy(out + 2, reason, n);
	return n + 2;
}
