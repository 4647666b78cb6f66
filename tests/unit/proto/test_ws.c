/* WebSocket: the opening handshake and the frame codec (proto/ws.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <http_parser.h>

#include "proto/http.h"
#include "proto/ws.h"

/* RFC 6455 §1.3 */
static const char rfc_key[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char rfc_accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/* xorshift64*: the same "random" sizes and slices on every run. */
static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 0x2545f4914f6cdd1dULL) >> 32);
}

/* ---- the opening handshake ---- */

static void
test_accept(void **state)
{
	char acc[WS_ACCEPT_LEN + 1];
	ws_accept_of(rfc_key, acc);
	assert_string_equal(acc, rfc_accept);

	char k1[WS_KEY_LEN + 1], k2[WS_KEY_LEN + 1];
	assert_int_equal(ws_key_new(k1), 0);
	assert_int_equal(ws_key_new(k2), 0);
	assert_int_equal(strlen(k1), WS_KEY_LEN);
	assert_string_equal(k1 + 22, "==");
	assert_string_not_equal(k1, k2);
	for (int i = 0; i < 22; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789+/", k1[i]));
	ws_accept_of(k1, acc);
	assert_int_equal(strlen(acc), WS_ACCEPT_LEN);
	assert_int_equal(acc[WS_ACCEPT_LEN - 1], '=');
}

/* The server's side of a request in buf: its answer's status. */
static int
serve(const char *req, const char *path, char *resp, size_t cap, size_t *resp_len,
    const char **why)
{
	struct http_head rq;
	size_t len;
	int status = 0;
	assert_int_equal(http_head_parse((const uint8_t *)req, strlen(req), HTTP_HEAD_REQUEST,
			     &rq, &len, &status, why), 1);
	assert_int_equal(len, strlen(req));
	*resp_len = ws_server_response(&rq, path, resp, cap, &status, why);
	assert_true(*resp_len > 0);
	assert_int_equal(*resp_len, strlen(resp));
	/* What the server sends, its client reads: the same status. */
	struct http_head rs;
	int st;
	const char *w;
	assert_int_equal(http_head_parse((const uint8_t *)resp, *resp_len,
			     HTTP_HEAD_RESPONSE, &rs, &len, &st, &w), 1);
	assert_int_equal(rs.status, status);
	return status;
}

static void
test_handshake(void **state)
{
	char key[WS_KEY_LEN + 1], req[1024], resp[1024];
	assert_int_equal(ws_key_new(key), 0);
	size_t n = ws_client_request(req, sizeof req, "relay.example.com:443", "/tunnel", key);
	assert_int_equal(n, strlen(req));
	char want[1024];
	snprintf(want, sizeof want,
	    "GET /tunnel HTTP/1.1\r\nHost: relay.example.com:443\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\nUser-Agent: burrow/" BURROW_VERSION "\r\n\r\n",
	    key);
	assert_string_equal(req, want);
	assert_int_equal(ws_client_request(req, n, "relay.example.com:443", "/tunnel", key), 0);
	assert_int_equal(ws_client_request(req, n + 1, "relay.example.com:443", "/tunnel", key),
	    n);

	struct http_head rq;
	size_t len;
	int status;
	const char *why;
	assert_int_equal(http_head_parse((const uint8_t *)req, n, HTTP_HEAD_REQUEST, &rq,
			     &len, &status, &why), 1);
	assert_string_equal(rq.host, "relay.example.com:443");
	assert_string_equal(rq.ws_key, key);
	size_t rn;
	assert_int_equal(serve(req, "/tunnel", resp, sizeof resp, &rn, &why), 101);
	char acc[WS_ACCEPT_LEN + 1];
	ws_accept_of(key, acc);
	snprintf(want, sizeof want,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
	assert_string_equal(resp, want);
	size_t cap = rn;
	assert_int_equal(ws_server_response(&rq, "/tunnel", resp, cap, &status, &why), 0);

	/* The client takes it, one byte more at a time, frames after it. */
	uint8_t in[1024];
	memcpy(in, want, rn);
	memcpy(in + rn, "\x82\x02hi", 4);
	for (size_t i = 0; i < rn; i++) {
		uint8_t *cut = malloc(i ? i : 1); /* exactly i bytes, for ASan */
		assert_non_null(cut);
		memcpy(cut, want, i);
		assert_int_equal(ws_client_response(cut, i, key, &len, &status, &why), 0);
		assert_int_equal(status, 0);
		free(cut);
	}
	assert_int_equal(ws_client_response(in, rn + 4, key, &len, &status, &why), 1);
	assert_int_equal(len, rn);
	assert_int_equal(status, 101);

	/* The RFC's own example, as a browser sends it. */
	static const char browser[] =
	    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	assert_int_equal(serve(browser, "/chat", resp, sizeof resp, &rn, &why), 101);
	assert_non_null(strstr(resp, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
	assert_int_equal(ws_client_response((const uint8_t *)resp, rn, rfc_key, &len,
			     &status, &why), 1);
}

static void
test_server_refuses(void **state)
{
	static const struct {
		const char *req;
		int status;
		const char *why;
	} cases[] = {
	    {"GET /other HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		404, "no such path"},
	    {"POST /other HTTP/1.1\r\n\r\n", 404, "no such path"},
	    {"GET /ws/ HTTP/1.1\r\n\r\n", 404, "no such path"},
	    {"POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "not a WebSocket upgrade"},
	    {"GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", 400, "not a WebSocket upgrade"},
	    {"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "not a WebSocket upgrade"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "not a WebSocket upgrade"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
		426, "unsupported Sec-WebSocket-Version"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		426, "unsupported Sec-WebSocket-Version"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSB!b25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZS=ub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		400, "bad Sec-WebSocket-Key"},
	};
	char resp[1024];
	size_t rn, len;
	const char *why;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(serve(cases[i].req, "/ws", resp, sizeof resp, &rn, &why),
		    cases[i].status);
		assert_string_equal(why, cases[i].why);
		assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
		/* A client refuses it, and says which status it was. */
		int status;
		const char *cwhy = NULL;
		assert_int_equal(ws_client_response((const uint8_t *)resp, rn, rfc_key, &len,
				     &status, &cwhy), -1);
		assert_int_equal(status, cases[i].status);
		assert_non_null(cwhy);
		if (status == 404)
			assert_non_null(strstr(cwhy, "404"));
		if (status == 426)
			assert_non_null(strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n"));
	}
	/* Too small a buffer for the answer. */
	struct http_head rq;
	int status;
	assert_int_equal(http_head_parse((const uint8_t *)cases[0].req, strlen(cases[0].req),
			     HTTP_HEAD_REQUEST, &rq, &len, &status, &why), 1);
	assert_int_equal(ws_server_response(&rq, "/ws", resp, 20, &status, &why), 0);
}

static void
test_client_refuses(void **state)
{
	static const struct {
		const char *resp;
		int status;
		const char *why;
	} cases[] = {
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n",
		101, "wrong Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "\r\n",
		101, "wrong Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=x\r\n\r\n",
		101, "wrong Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		101, "101 without Upgrade: websocket"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		101, "101 without Upgrade: websocket"},
	    {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404,
		"no WebSocket endpoint at this path (404)"},
	    {"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		200, "the server did not switch to WebSocket"},
	    {"HTTP/1.1 502 Bad Gateway\r\n\r\n", 502, "the server did not switch to WebSocket"},
	    {"SSH-2.0-OpenSSH_9.2\r\n", 0, "not an HTTP response"},
	    {"HTTP/1.1 10 Short\r\n\r\n", 0, "not an HTTP response (status code)"},
	};
	size_t len;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status = -1;
		const char *why = NULL;
		assert_int_equal(ws_client_response((const uint8_t *)cases[i].resp,
				     strlen(cases[i].resp), rfc_key, &len, &status, &why), -1);
		assert_int_equal(status, cases[i].status);
		assert_string_equal(why, cases[i].why);
	}
	/* Whitespace and case around the right values do not matter. */
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nupgrade:  WebSocket \r\n"
				 "CONNECTION: upgrade\r\n"
				 "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";
	int status;
	const char *why;
	assert_int_equal(ws_client_response((const uint8_t *)ok, sizeof ok - 1, rfc_key, &len,
			     &status, &why), 1);
	assert_int_equal(len, sizeof ok - 1);
}

/* ---- frames ---- */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A frame by hand: first byte b0, masked with mask_key or not. */
static size_t
frame(uint8_t *out, uint8_t b0, int masked, const void *payload, uint64_t len)
{
	const uint8_t *p = payload;
	size_t off = 0;
	uint8_t m = masked ? 0x80 : 0;
	out[off++] = b0;
	if (len < 126) {
		out[off++] = m | (uint8_t)len;
	} else if (len < 65536) {
		out[off++] = m | 126;
		out[off++] = (uint8_t)(len >> 8);
		out[off++] = (uint8_t)len;
	} else {
		out[off++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[off++] = (uint8_t)(len >> (8 * i));
	}
	if (masked) {
		memcpy(out + off, mask_key, 4);
		off += 4;
	}
	for (uint64_t i = 0; i < len; i++)
		out[off + i] = p[i] ^ (masked ? mask_key[i % 4] : 0);
	return off + (size_t)len;
}

/* What a reader made of a stream. */
struct sink {
	uint8_t *buf;
	size_t cap, len;
	int pings, closes;
	uint8_t ping_ids[64]; /* the first byte of each ping's payload */
	const char *why;
};

/*
 * Everything w reads from in[0..n), handed over in slices of 1..slice bytes
 * and taken out in reads of 1..chunk bytes, into s. 0, or -1 at the first
 * error. Nothing is read after a close.
 */
static int
read_all(struct ws_codec *w, const uint8_t *in, size_t n, size_t slice, size_t chunk,
    uint64_t *seed, struct sink *s)
{
	size_t off = 0;
	for (;;) {
		size_t left = n - off, take = 1 + rnd(seed) % slice;
		if (left > take)
			left = take;
		const uint8_t *p = in + off;
		for (;;) {
			if (left == 0 && ws_pending(w) == 0) {
				/* Nothing hides in the codec: without input, no payload. */
				uint8_t x;
				enum ws_event ev;
				const uint8_t *none = NULL;
				size_t zero = 0;
				assert_int_equal(ws_read(w, &none, &zero, &x, 1, &ev, &s->why), 0);
				assert_int_equal(ev, WS_EV_NONE);
				break;
			}
			size_t c = 1 + rnd(seed) % chunk;
			if (c > s->cap - s->len)
				c = s->cap - s->len;
			size_t had = left, pending = ws_pending(w);
			enum ws_event ev;
			const uint8_t *before = p;
			ssize_t r = ws_read(w, &p, &left, s->buf + s->len, c, &ev, &s->why);
			if (r < 0) {
				assert_non_null(s->why);
				return -1;
			}
			assert_true((size_t)r <= c);
			assert_true(left <= had);
			assert_ptr_equal(p, before + (had - left));
			s->len += (size_t)r;
			if (ev == WS_EV_PING) {
				size_t plen;
				const uint8_t *pp = ws_ctl(w, &plen);
				assert_true(plen <= WS_CTL_MAX);
				assert_true(s->pings < (int)sizeof s->ping_ids);
				s->ping_ids[s->pings++] = plen > 0 ? pp[0] : 0;
			} else if (ev == WS_EV_CLOSE) {
				s->closes++;
				assert_int_equal(ws_pending(w), 0);
				/* After a close nothing more, not even a look at the bytes. */
				uint8_t x[16];
				size_t l2 = left;
				const uint8_t *p2 = p;
				assert_int_equal(ws_read(w, &p2, &l2, x, sizeof x, &ev, &s->why), 0);
				assert_int_equal(ev, WS_EV_NONE);
				assert_int_equal(l2, left);
				return 0;
			}
			/* Each call moves: bytes in, bytes out, or an event. */
			if (r == 0 && ev == WS_EV_NONE && left == had) {
				assert_int_equal(had, 0);
				assert_int_equal(ws_pending(w), pending);
				break;
			}
		}
		off = (size_t)(p - in);
		if (off == n)
			return 0;
	}
}

static void
sink_init(struct sink *s, size_t cap)
{
	memset(s, 0, sizeof *s);
	s->buf = malloc(cap ? cap : 1);
	assert_non_null(s->buf);
	s->cap = cap;
}

/* Its header's length, from the first bytes of a frame we wrote. */
static size_t
header_len(const uint8_t *f)
{
	size_t n = (f[1] & 0x7f) == 127 ? 10 : (f[1] & 0x7f) == 126 ? 4 : 2;
	return n + ((f[1] & 0x80) ? 4 : 0);
}

/*
 * Messages of 0..200 KiB from a writer, each from up to four iov segments,
 * with pings and pongs among them, read back by the other side in random
 * slices through small buffers: the same bytes in the same order.
 */
static void
round_trip(int writer_is_server, uint64_t seed)
{
	struct ws_codec *wr = ws_codec_new(writer_is_server);
	struct ws_codec *rd = ws_codec_new(!writer_is_server);
	assert_non_null(wr);
	assert_non_null(rd);
	enum { MSGS = 24, MAXLEN = 200 * 1024 };
	size_t cap = MSGS * (MAXLEN + WS_HDR_MAX) + 16 * (WS_HDR_MAX + WS_CTL_MAX);
	uint8_t *wire = malloc(cap), *src = malloc((size_t)MSGS * MAXLEN);
	assert_non_null(wire);
	assert_non_null(src);
	size_t wn = 0, sn = 0;
	int pings = 0;
	static const size_t edges[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, MAXLEN};
	for (int m = 0; m < MSGS; m++) {
		size_t len;
		switch (rnd(&seed) % 4) {
		case 0:
			len = edges[rnd(&seed) % (sizeof edges / sizeof edges[0])];
			break;
		case 1:
			len = rnd(&seed) % 300;
			break;
		default:
			len = rnd(&seed) % (MAXLEN + 1);
			break;
		}
		for (size_t i = 0; i < len; i++)
			src[sn + i] = (uint8_t)rnd(&seed);
		/* Up to four segments, empty ones too, and maybe bytes past len. */
		struct iovec iov[4];
		int cnt = 1 + (int)(rnd(&seed) % 4);
		size_t at = 0;
		for (int i = 0; i < cnt; i++) {
			size_t seg = i == cnt - 1 ? len - at : rnd(&seed) % (len - at + 1);
			iov[i].iov_base = src + sn + at;
			iov[i].iov_len = seg;
			at += seg;
		}
		if (len > 0 && rnd(&seed) % 4 == 0)
			iov[cnt - 1].iov_len += 1; /* ws_write takes len bytes only */
		ssize_t k = ws_write(wr, wire + wn, iov, cnt, len);
		assert_true(k > 0);
		size_t hl = header_len(wire + wn);
		assert_int_equal((size_t)k, hl + len);
		assert_int_equal(wire[wn], 0x82); /* FIN, binary */
		assert_int_equal(!!(wire[wn + 1] & 0x80), !writer_is_server);
		assert_int_equal(hl - (writer_is_server ? 0 : 4),
		    len < 126 ? 2 : len < 65536 ? 4 : 10);
		wn += (size_t)k;
		sn += len;
		if (rnd(&seed) % 3 == 0) {
			uint8_t id = (uint8_t)(0x40 + pings);
			uint8_t pl[WS_CTL_MAX];
			memset(pl, id, sizeof pl);
			size_t pn = rnd(&seed) % 2 ? 1 + rnd(&seed) % WS_CTL_MAX : 1;
			k = ws_write_ctl(wr, wire + wn, WS_OP_PING, pl, pn);
			assert_true(k > 0);
			wn += (size_t)k;
			pings++;
		}
		if (rnd(&seed) % 4 == 0) {
			k = ws_write_ctl(wr, wire + wn, WS_OP_PONG, "pong", 4);
			assert_true(k > 0);
			wn += (size_t)k;
		}
	}
	assert_true(wn <= cap);

	/* Read back three ways: byte by byte (the start only), small, large. */
	static const size_t shapes[][2] = {{1, 1}, {7, 3}, {1500, 100}, {70000, 4096}};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct ws_codec *r = i == 0 ? rd : ws_codec_new(!writer_is_server);
		assert_non_null(r);
		size_t n = i == 0 ? (wn < 5000 ? wn : 5000) : wn;
		struct sink s;
		sink_init(&s, sn);
		assert_int_equal(read_all(r, wire, n, shapes[i][0], shapes[i][1], &seed, &s), 0);
		if (i == 0) {
			assert_true(s.len <= sn);
		} else {
			assert_int_equal(s.len, sn);
			assert_int_equal(s.pings, pings);
			for (int j = 0; j < pings; j++)
				assert_int_equal(s.ping_ids[j], 0x40 + j);
		}
		assert_memory_equal(s.buf, src, s.len);
		assert_int_equal(s.closes, 0);
		free(s.buf);
		ws_codec_free(r);
	}
	ws_codec_free(wr);
	free(wire);
	free(src);
}

static void
test_round_trip(void **state)
{
	round_trip(0, 0x9e3779b97f4a7c15ULL); /* client to server */
	round_trip(1, 0xd1b54a32d192ed03ULL); /* server to client */
	round_trip(0, 42);
	round_trip(1, 7);
}

static void
test_write(void **state)
{
	struct ws_codec *srv = ws_codec_new(1), *cli = ws_codec_new(0);
	assert_non_null(srv);
	assert_non_null(cli);
	static uint8_t payload[70000], out[70000 + WS_HDR_MAX];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7);
	struct iovec iov = {payload, 0};

	/* A server's frames: exact bytes, three sizes of length. */
	assert_int_equal(ws_write(srv, out, &iov, 1, 0), 2);
	assert_memory_equal(out, "\x82\x00", 2);
	assert_int_equal(ws_write(srv, out, NULL, 0, 0), 2);
	assert_memory_equal(out, "\x82\x00", 2);
	iov.iov_len = sizeof payload;
	assert_int_equal(ws_write(srv, out, &iov, 1, 125), 2 + 125);
	assert_memory_equal(out, "\x82\x7d", 2);
	assert_memory_equal(out + 2, payload, 125);
	assert_int_equal(ws_write(srv, out, &iov, 1, 126), 4 + 126);
	assert_memory_equal(out, "\x82\x7e\x00\x7e", 4);
	assert_int_equal(ws_write(srv, out, &iov, 1, 65535), 4 + 65535);
	assert_memory_equal(out, "\x82\x7e\xff\xff", 4);
	assert_int_equal(ws_write(srv, out, &iov, 1, 65536), 10 + 65536);
	assert_memory_equal(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_memory_equal(out + 10, payload, 65536);

	/* A client's: masked with a fresh key each time, across segments. */
	struct iovec three[3] = {{payload, 3}, {payload + 3, 0}, {payload + 3, 69997}};
	uint8_t key1[4];
	for (int round = 0; round < 2; round++) {
		assert_int_equal(ws_write(cli, out, three, 3, 70000), 14 + 70000);
		assert_memory_equal(out, "\x82\xff\x00\x00\x00\x00\x00\x01\x11\x70", 10);
		for (size_t i = 0; i < 70000; i++)
			assert_int_equal(out[14 + i] ^ out[10 + i % 4], payload[i]);
		if (round == 0)
			memcpy(key1, out + 10, 4);
		else
			assert_memory_not_equal(key1, out + 10, 4);
	}

	/* Control frames. */
	assert_int_equal(ws_write_ctl(srv, out, WS_OP_PING, "abc", 3), 5);
	assert_memory_equal(out, "\x89\x03" "abc", 5);
	assert_int_equal(ws_write_ctl(srv, out, WS_OP_PONG, NULL, 0), 2);
	assert_memory_equal(out, "\x8a\x00", 2);
	assert_int_equal(ws_write_ctl(srv, out, WS_OP_PONG, payload, WS_CTL_MAX), 2 + WS_CTL_MAX);
	assert_int_equal(ws_write_ctl(srv, out, WS_OP_PING, payload, WS_CTL_MAX + 1), -1);
	assert_int_equal(ws_write_ctl(cli, out, WS_OP_CLOSE, "\x03\xe8", 2), 8);
	assert_int_equal(out[0], 0x88);
	assert_int_equal(out[1], 0x82);
	/* A refused control frame leaves the writer as it was. */
	assert_int_equal(ws_write(srv, out, &iov, 1, 1), 3);
	assert_memory_equal(out, "\x82\x01", 2);

	/* Close payloads: the code big-endian, the reason cut to fit. */
	uint8_t cp[WS_CTL_MAX];
	assert_int_equal(ws_close_payload(cp, WS_CLOSE_NORMAL, ""), 2);
	assert_memory_equal(cp, "\x03\xe8", 2);
	assert_int_equal(ws_close_payload(cp, WS_CLOSE_PROTOCOL, "bad frame"), 11);
	assert_memory_equal(cp, "\x03\xea" "bad frame", 11);
	char longr[300];
	memset(longr, 'r', sizeof longr - 1);
	longr[sizeof longr - 1] = '\0';
	assert_int_equal(ws_close_payload(cp, 4000, longr), WS_CTL_MAX);
	assert_memory_equal(cp, "\x0f\xa0", 2);
	assert_memory_equal(cp + 2, longr, WS_CTL_MAX - 2);
	ws_codec_free(srv);
	ws_codec_free(cli);
}

/* One read of all of in[0..n) into out (cap): its return; *used the bytes taken. */
static ssize_t
read_once(struct ws_codec *w, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
    enum ws_event *ev, const char **why, size_t *used)
{
	const uint8_t *p = in;
	size_t left = n;
	*why = NULL;
	ssize_t r = ws_read(w, &p, &left, out, cap, ev, why);
	*used = n - left;
	if (in != NULL)
		assert_ptr_equal(p, in + *used);
	return r;
}

static void
test_ping(void **state)
{
	struct ws_codec *w = ws_codec_new(1);
	assert_non_null(w);
	uint8_t in[512], out[512];
	size_t n = frame(in, 0x82, 1, "abc", 3);
	n += frame(in + n, 0x89, 1, "are you there", 13);
	size_t ping_end = n;
	n += frame(in + n, 0x82, 1, "def", 3);
	enum ws_event ev;
	const char *why;
	size_t used, plen;
	/* The data before the ping comes out with it; the rest waits. */
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 3);
	assert_int_equal(ev, WS_EV_PING);
	assert_memory_equal(out, "abc", 3);
	const uint8_t *pp = ws_ctl(w, &plen);
	assert_int_equal(plen, 13);
	assert_memory_equal(pp, "are you there", 13);
	/* What follows the ping is still the caller's: no ws_pending, no read
	 * without input would show it if the codec held it. */
	assert_int_equal(used, ping_end);
	assert_int_equal(ws_pending(w), 0);
	assert_int_equal(read_once(w, NULL, 0, out, sizeof out, &ev, &why, &used), 0);
	assert_int_equal(ev, WS_EV_NONE);
	assert_int_equal(read_once(w, in + ping_end, n - ping_end, out, sizeof out, &ev, &why,
			     &used), 3);
	assert_int_equal(ev, WS_EV_NONE);
	assert_int_equal(used, n - ping_end);
	assert_memory_equal(out, "def", 3);
	/* The same when the ping comes just as out is full. */
	assert_int_equal(read_once(w, in, n, out, 3, &ev, &why, &used), 3);
	assert_int_equal(ev, WS_EV_PING);
	assert_int_equal(used, ping_end);
	assert_int_equal(ws_pending(w), 0);
	assert_int_equal(read_once(w, in + ping_end, n - ping_end, out, 2, &ev, &why, &used), 2);
	assert_int_equal(ws_pending(w), 1);
	assert_int_equal(read_once(w, NULL, 0, out + 2, 2, &ev, &why, &used), 1);
	assert_memory_equal(out, "def", 3);

	/* An empty ping, the largest one, a ping split over two reads. */
	n = frame(in, 0x89, 1, "", 0);
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 0);
	assert_int_equal(ev, WS_EV_PING);
	assert_int_equal(used, n);
	ws_ctl(w, &plen);
	assert_int_equal(plen, 0);
	uint8_t big[WS_CTL_MAX];
	memset(big, 'p', sizeof big);
	n = frame(in, 0x89, 1, big, sizeof big);
	assert_int_equal(read_once(w, in, 100, out, sizeof out, &ev, &why, &used), 0);
	assert_int_equal(ev, WS_EV_NONE);
	assert_int_equal(used, 100);
	assert_int_equal(read_once(w, in + 100, n - 100, out, sizeof out, &ev, &why, &used), 0);
	assert_int_equal(ev, WS_EV_PING);
	pp = ws_ctl(w, &plen);
	assert_int_equal(plen, WS_CTL_MAX);
	assert_memory_equal(pp, big, WS_CTL_MAX);

	/* Pongs: nobody asked, nothing to say. */
	n = frame(in, 0x8a, 1, "x", 1);
	n += frame(in + n, 0x82, 1, "data", 4);
	n += frame(in + n, 0x8a, 1, "", 0);
	n += frame(in + n, 0x8a, 1, big, sizeof big);
	n += frame(in + n, 0x82, 1, "more", 4);
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 8);
	assert_int_equal(ev, WS_EV_NONE);
	assert_int_equal(used, n);
	assert_memory_equal(out, "datamore", 8);
	/* The last ping's payload is still the one to answer. */
	pp = ws_ctl(w, &plen);
	assert_int_equal(plen, WS_CTL_MAX);
	ws_codec_free(w);
}

static void
test_close(void **state)
{
	struct ws_codec *w = ws_codec_new(0);
	assert_non_null(w);
	uint8_t in[512], out[512], cp[WS_CTL_MAX];
	size_t n = frame(in, 0x82, 0, "last", 4);
	n += frame(in + n, 0x88, 0, cp, ws_close_payload(cp, 1001, "going away"));
	size_t close_end = n;
	n += frame(in + n, 0x82, 0, "after", 5);
	enum ws_event ev;
	const char *why, *reason;
	size_t used;
	assert_int_equal(ws_close_code(w, &reason), 0); /* none yet */
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 4);
	assert_int_equal(ev, WS_EV_CLOSE);
	assert_memory_equal(out, "last", 4);
	assert_int_equal(used, close_end); /* what follows is not taken */
	assert_int_equal(ws_close_code(w, &reason), 1001);
	assert_string_equal(reason, "going away");
	/* Nothing after it: not the frame that followed, not new bytes. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(read_once(w, in + used, n - used, out, sizeof out, &ev, &why,
				     &used), 0);
		assert_int_equal(ev, WS_EV_NONE);
		assert_int_equal(used, 0);
	}
	assert_int_equal(ws_pending(w), 0);
	ws_codec_free(w);

	/* No payload: 1005. A close between fragments ends it all the same. */
	w = ws_codec_new(1);
	n = frame(in, 0x02, 1, "frag", 4);
	n += frame(in + n, 0x88, 1, "", 0);
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 4);
	assert_int_equal(ev, WS_EV_CLOSE);
	assert_int_equal(ws_close_code(w, &reason), 1005);
	assert_string_equal(reason, "");
	ws_codec_free(w);

	/* A close written by us is read by the other side. */
	struct ws_codec *cli = ws_codec_new(0), *srv = ws_codec_new(1);
	n = (size_t)ws_write_ctl(cli, in, WS_OP_CLOSE, cp,
	    ws_close_payload(cp, WS_CLOSE_PROTOCOL, "text frame (burrow speaks binary)"));
	for (size_t i = 0; i < n; i++) { /* a byte at a time */
		assert_int_equal(read_once(srv, in + i, 1, out, 1, &ev, &why, &used), 0);
		assert_int_equal(used, 1);
		assert_int_equal(ev, i == n - 1 ? WS_EV_CLOSE : WS_EV_NONE);
	}
	assert_int_equal(ws_close_code(srv, &reason), WS_CLOSE_PROTOCOL);
	assert_string_equal(reason, "text frame (burrow speaks binary)");
	/* The longest reason there is. */
	char longr[200];
	memset(longr, 'z', sizeof longr - 1);
	longr[sizeof longr - 1] = '\0';
	ws_codec_free(srv);
	srv = ws_codec_new(1);
	n = (size_t)ws_write_ctl(cli, in, WS_OP_CLOSE, cp, ws_close_payload(cp, 4999, longr));
	assert_int_equal(read_once(srv, in, n, out, sizeof out, &ev, &why, &used), 0);
	assert_int_equal(ev, WS_EV_CLOSE);
	assert_int_equal(ws_close_code(srv, &reason), 4999);
	assert_int_equal(strlen(reason), WS_CTL_MAX - 2);
	ws_codec_free(srv);
	ws_codec_free(cli);

	/* Which codes a peer may send. */
	static const struct {
		int code, ok;
	} codes[] = {{0, 0}, {999, 0}, {1000, 1}, {1001, 1}, {1002, 1}, {1003, 1}, {1004, 0},
	    {1005, 0}, {1006, 0}, {1007, 1}, {1008, 1}, {1009, 1}, {1010, 1}, {1011, 1},
	    {1012, 1}, {1013, 1}, {1014, 1}, {1015, 0}, {1016, 0}, {2000, 0}, {2999, 0},
	    {3000, 1}, {4000, 1}, {4999, 1}, {5000, 0}, {65535, 0}};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		w = ws_codec_new(1);
		uint8_t c[2] = {(uint8_t)(codes[i].code >> 8), (uint8_t)codes[i].code};
		n = frame(in, 0x88, 1, c, 2);
		ssize_t r = read_once(w, in, n, out, sizeof out, &ev, &why, &used);
		if (codes[i].ok) {
			assert_int_equal(r, 0);
			assert_int_equal(ev, WS_EV_CLOSE);
			assert_int_equal(ws_close_code(w, &reason), codes[i].code);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(why, "invalid close code");
		}
		ws_codec_free(w);
	}
}

static void
test_fragments(void **state)
{
	struct ws_codec *w = ws_codec_new(1);
	assert_non_null(w);
	uint8_t in[1024], out[1024];
	size_t n = frame(in, 0x02, 1, "abc", 3);     /* binary, more to come */
	n += frame(in + n, 0x89, 1, "p1", 2);        /* ping */
	n += frame(in + n, 0x8a, 1, "pong", 4);      /* pong */
	n += frame(in + n, 0x00, 1, "", 0);          /* empty continuation */
	n += frame(in + n, 0x00, 1, "def", 3);       /* continuation */
	n += frame(in + n, 0x89, 1, "p2", 2);        /* ping */
	n += frame(in + n, 0x80, 1, "ghi", 3);       /* the last one */
	n += frame(in + n, 0x82, 1, "jkl", 3);       /* a new message, whole */
	n += frame(in + n, 0x02, 1, "", 0);          /* empty fragments */
	n += frame(in + n, 0x80, 1, "", 0);
	n += frame(in + n, 0x02, 1, "mn", 2);
	n += frame(in + n, 0x80, 1, "o", 1);
	uint64_t seed = 99;
	for (int round = 0; round < 50; round++) {
		struct ws_codec *r = ws_codec_new(1);
		struct sink s;
		sink_init(&s, 64);
		assert_int_equal(read_all(r, in, n, 1 + round % 9, 1 + round % 5, &seed, &s), 0);
		assert_int_equal(s.len, 15);
		assert_memory_equal(s.buf, "abcdefghijklmno", 15);
		assert_int_equal(s.pings, 2);
		assert_memory_equal(s.ping_ids, "pp", 2);
		free(s.buf);
		ws_codec_free(r);
	}
	/* The ping's payload is its own. */
	enum ws_event ev;
	const char *why;
	size_t used, plen;
	assert_int_equal(read_once(w, in, n, out, sizeof out, &ev, &why, &used), 3);
	assert_int_equal(ev, WS_EV_PING);
	const uint8_t *pp = ws_ctl(w, &plen);
	assert_int_equal(plen, 2);
	assert_memory_equal(pp, "p1", 2);
	ws_codec_free(w);
}

/* 64-bit lengths, and lengths not in their shortest form. */
static void
test_lengths(void **state)
{
	size_t len = 70000;
	uint8_t *in = malloc(len + WS_HDR_MAX), *out = malloc(len), *src = malloc(len);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i ^ (i >> 8));
	size_t n = frame(in, 0x82, 1, src, len);
	assert_int_equal(n, 14 + len);
	assert_memory_equal(in, "\x82\xff\x00\x00\x00\x00\x00\x01\x11\x70", 10);
	struct ws_codec *w = ws_codec_new(1);
	struct sink s;
	uint64_t seed = 5;
	sink_init(&s, len);
	assert_int_equal(read_all(w, in, n, 9000, 5000, &seed, &s), 0);
	assert_int_equal(s.len, len);
	assert_memory_equal(s.buf, src, len);
	free(s.buf);
	ws_codec_free(w);

	/* Pending: what did not fit in out comes out without input. */
	w = ws_codec_new(0);
	n = frame(in, 0x82, 0, src, 3000);
	enum ws_event ev;
	const char *why;
	size_t used;
	assert_int_equal(read_once(w, in, n, out, 100, &ev, &why, &used), 100);
	assert_int_equal(used, n); /* all of it, into wslay's buffer */
	assert_int_equal(ws_pending(w), 2900);
	assert_int_equal(read_once(w, NULL, 0, out + 100, 2000, &ev, &why, &used), 2000);
	assert_int_equal(ws_pending(w), 900);
	assert_int_equal(read_once(w, NULL, 0, out + 2100, 5000, &ev, &why, &used), 900);
	assert_int_equal(ws_pending(w), 0);
	assert_memory_equal(out, src, 3000);
	ws_codec_free(w);

	static const struct {
		const char *hdr;
		size_t n;
		int ok;
	} hdrs[] = {
	    {"\x82\x7e\x00\x7e", 4, 1},                             /* 126 in 16 bits */
	    {"\x82\x7e\x00\x7d", 4, 0},                             /* 125 in 16 bits */
	    {"\x82\x7e\x00\x00", 4, 0},
	    {"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10, 1},    /* 65536 in 64 */
	    {"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10, 0},    /* 65535 in 64 */
	    {"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05", 10, 0},
	    {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, 0},    /* the top bit */
	    {"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 10, 0},
	    {"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10, 1},    /* 2^63 - 1 */
	};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		w = ws_codec_new(0);
		memcpy(in, hdrs[i].hdr, hdrs[i].n);
		memset(in + hdrs[i].n, 'x', 126); /* all of the shortest, some of the others */
		ssize_t r = read_once(w, in, hdrs[i].n + 126, out, 1000, &ev, &why, &used);
		if (hdrs[i].ok) {
			assert_int_equal(r, 126);
			assert_memory_equal(out, in + hdrs[i].n, 126);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(why, "malformed frame");
		}
		ws_codec_free(w);
		/* A byte at a time: each one taken, the same end. */
		w = ws_codec_new(0);
		size_t got = 0;
		r = 0;
		for (size_t k = 0; k < hdrs[i].n + 126 && r >= 0; k++) {
			r = read_once(w, in + k, 1, out + got, 1000 - got, &ev, &why, &used);
			assert_true(r == -1 || used == 1);
			got += r > 0 ? (size_t)r : 0;
		}
		if (hdrs[i].ok)
			assert_int_equal(got, 126);
		else
			assert_int_equal(r, -1);
		ws_codec_free(w);
	}
	free(in);
	free(out);
	free(src);
}

/* Frames that break the rules: each closes the connection with a reason. */
static void
test_protocol_errors(void **state)
{
	uint8_t big[200];
	memset(big, 'b', sizeof big);
	static const uint8_t code1000[2] = {0x03, 0xe8}, code1005[2] = {0x03, 0xed};
	static const struct {
		int server;  /* the reader */
		uint8_t b0;  /* the bad frame */
		int masked;
		const uint8_t *payload;
		size_t len;
		const char *prefix_b0; /* a frame before it: first byte, or none */
		const char *why;
	} cases[] = {
	    {1, 0xc2, 1, NULL, 3, NULL, "reserved bits set (no extension was negotiated)"},
	    {1, 0xa2, 1, NULL, 3, NULL, "reserved bits set (no extension was negotiated)"},
	    {0, 0x92, 0, NULL, 3, NULL, "reserved bits set (no extension was negotiated)"},
	    {1, 0xc9, 1, NULL, 0, NULL, "reserved bits set (no extension was negotiated)"},
	    {1, 0x82, 0, NULL, 3, NULL, "unmasked frame from the client"},
	    {1, 0x89, 0, NULL, 0, NULL, "unmasked frame from the client"},
	    {0, 0x82, 1, NULL, 3, NULL, "masked frame from the server"},
	    {0, 0x88, 1, code1000, 2, NULL, "masked frame from the server"},
	    {1, 0x81, 1, NULL, 3, NULL, "text frame (burrow speaks binary)"},
	    {0, 0x01, 0, NULL, 0, NULL, "text frame (burrow speaks binary)"},
	    {1, 0x83, 1, NULL, 3, NULL, "unknown opcode"},
	    {1, 0x87, 1, NULL, 0, NULL, "unknown opcode"},
	    {0, 0x8b, 0, NULL, 3, NULL, "unknown opcode"},
	    {0, 0x8f, 0, NULL, 0, NULL, "unknown opcode"},
	    {1, 0x80, 1, NULL, 3, NULL, "continuation frame outside a message"},
	    {0, 0x00, 0, NULL, 0, NULL, "continuation frame outside a message"},
	    {1, 0x80, 1, NULL, 3, "\x82", "continuation frame outside a message"},
	    {1, 0x82, 1, NULL, 3, "\x02", "new message inside a fragmented one"},
	    {0, 0x02, 0, NULL, 0, "\x02", "new message inside a fragmented one"},
	    {1, 0x88, 1, NULL, 1, NULL, "close frame of one byte"},
	    {1, 0x88, 1, code1005, 2, NULL, "invalid close code"},
	    {0, 0x88, 0, NULL, 2, NULL, "invalid close code"}, /* "bb": 25186 */
	    {1, 0x89, 1, NULL, 126, NULL, "malformed frame"},   /* control frame > 125 */
	    {0, 0x88, 0, NULL, 200, NULL, "malformed frame"},
	    {1, 0x8a, 1, NULL, 65536, NULL, "malformed frame"},
	    {1, 0x09, 1, NULL, 2, NULL, "malformed frame"},     /* fragmented ping */
	    {0, 0x08, 0, code1000, 2, "\x02", "malformed frame"},
	};
	static uint8_t in[70000 + 64], out[256];
	static uint8_t zeros[70000];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = 0;
		if (cases[i].prefix_b0 != NULL)
			n = frame(in, (uint8_t)cases[i].prefix_b0[0], cases[i].server, "ok", 2);
		const void *pl = cases[i].payload ? (const void *)cases[i].payload
			       : cases[i].len <= sizeof big ? (const void *)big : zeros;
		n += frame(in + n, cases[i].b0, cases[i].masked, pl, cases[i].len);
		/* At once, and a byte at a time: the same error. */
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct ws_codec *w = ws_codec_new(cases[i].server);
			assert_non_null(w);
			const uint8_t *p = in;
			size_t left = bytewise ? 1 : n, off = 0;
			ssize_t r = 0;
			const char *why = NULL;
			size_t got = 0;
			for (;;) {
				enum ws_event ev;
				r = ws_read(w, &p, &left, out, sizeof out, &ev, &why);
				if (r < 0)
					break;
				got += (size_t)r;
				assert_int_equal(ev, WS_EV_NONE);
				off = (size_t)(p - in);
				if (left > 0)
					continue;
				assert_true(off < n); /* it did not end before the bad frame did */
				left = bytewise ? 1 : n - off;
			}
			assert_int_equal(r, -1);
			if (why == NULL || strcmp(why, cases[i].why) != 0)
				fail_msg("case %zu%s: %s, not %s", i, bytewise ? " bytewise" : "",
				    why ? why : "(null)", cases[i].why);
			assert_true(got <= 2);
			ws_codec_free(w);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_server_refuses),
	    cmocka_unit_test(test_client_refuses),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_write),
	    cmocka_unit_test(test_ping),
	    cmocka_unit_test(test_close),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_protocol_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
