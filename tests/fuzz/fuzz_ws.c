/*
 * libFuzzer target: WebSocket frames from a peer (proto/ws.h). The input,
 * after two bytes that pick the output buffer's size and the largest slice,
 * is a byte stream read by a server's codec and by a client's: once in
 * slices whose sizes come from the stream itself into a small buffer, once
 * all at once into a large one. Each read stays within its buffers and
 * moves; nothing is read after a close; both ways give the same bytes, the
 * same events, the same error. Then the stream goes through ws_write and
 * back, and the whole input through ws_client_response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* What one way of reading made of the stream. */
struct run {
	uint8_t *out;
	size_t len;       /* payload bytes */
	size_t used;      /* input bytes taken */
	int pings, error, closed, code;
	uint8_t last_ping[WS_CTL_MAX];
	size_t last_ping_len;
};

/* One ws_read and the contracts around it: its return, -1 on error. */
static ssize_t
read_one(struct ws_codec *w, const uint8_t **p, size_t *left, uint8_t *out, size_t outlen,
    struct run *r)
{
	const uint8_t *before = *p;
	size_t had = *left, pending = ws_pending(w);
	enum ws_event ev = WS_EV_NONE;
	const char *why = NULL;
	ssize_t n = ws_read(w, p, left, out, outlen, &ev, &why);
	check(n >= -1 && (n < 0 || (size_t)n <= outlen));
	check(*left <= had && *p == before + (had - *left));
	r->used += had - *left;
	if (n < 0) {
		check(why != NULL && why[0] != '\0');
		r->error = 1;
		return -1;
	}
	memcpy(r->out + r->len, out, (size_t)n);
	r->len += (size_t)n;
	/* Each read moves, unless there is nothing to move. */
	check(n > 0 || ev != WS_EV_NONE || *left < had || (had == 0 && pending == 0));
	if (ev == WS_EV_PING) {
		const uint8_t *pl = ws_ctl(w, &r->last_ping_len);
		check(r->last_ping_len <= WS_CTL_MAX);
		memcpy(r->last_ping, pl, r->last_ping_len);
		r->pings++;
	} else if (ev == WS_EV_CLOSE) {
		const char *reason;
		r->code = ws_close_code(w, &reason);
		check(r->code == 1005 || (r->code >= 1000 && r->code <= 4999));
		check(strlen(reason) <= WS_CTL_MAX - 2);
		check(ws_pending(w) == 0);
		r->closed = 1;
		/* Nothing after a close, not even a look at the bytes. */
		uint8_t x[8];
		const uint8_t *q = *p;
		size_t ql = *left;
		check(ws_read(w, &q, &ql, x, sizeof x, &ev, &why) == 0);
		check(ev == WS_EV_NONE && q == *p && ql == *left);
	} else if (*left == 0 && ws_pending(w) == 0) {
		/* Nothing hides in the codec: without input, no payload. */
		uint8_t x[8];
		const uint8_t *q = NULL;
		size_t ql = 0;
		check(ws_read(w, &q, &ql, x, sizeof x, &ev, &why) == 0 && ev == WS_EV_NONE);
	}
	return n;
}

/* In slices of 1..maxslice bytes, their sizes taken from the stream, into
 * reads of outlen bytes. */
static void
read_sliced(int server, const uint8_t *s, size_t n, size_t maxslice, size_t outlen,
    struct run *r)
{
	struct ws_codec *w = ws_codec_new(server);
	uint8_t *out = malloc(outlen);
	if (w == NULL || out == NULL)
		abort();
	size_t off = 0, k = 0;
	while (!r->error && !r->closed) {
		size_t left = n - off, take = 1 + (n > 0 ? s[k++ % n] : 0) % maxslice;
		if (left > take)
			left = take;
		const uint8_t *p = s + off;
		/* The slice, then what the codec holds. */
		while (!r->error && !r->closed && (left > 0 || ws_pending(w) > 0))
			read_one(w, &p, &left, out, outlen, r);
		off = (size_t)(p - s);
		if (off == n)
			break;
	}
	free(out);
	ws_codec_free(w);
}

/* All at once into a buffer that takes every payload byte there is. */
static void
read_whole(int server, const uint8_t *s, size_t n, struct run *r)
{
	struct ws_codec *w = ws_codec_new(server);
	uint8_t *out = malloc(n + 1);
	if (w == NULL || out == NULL)
		abort();
	const uint8_t *p = s;
	size_t left = n;
	while (!r->error && !r->closed) {
		size_t had = left;
		int pings = r->pings;
		ssize_t got = read_one(w, &p, &left, out, n + 1, r);
		if (got == 0 && left == had && r->pings == pings)
			break;
	}
	free(out);
	ws_codec_free(w);
}

static void
compare(const struct run *a, const struct run *b)
{
	check(a->error == b->error);
	check(a->closed == b->closed);
	/* Before an error, the bytes of the read that met it are lost. */
	size_t n = a->len < b->len ? a->len : b->len;
	check(memcmp(a->out, b->out, n) == 0);
	if (a->error)
		return;
	check(a->len == b->len);
	check(a->pings == b->pings);
	check(a->last_ping_len == b->last_ping_len);
	check(memcmp(a->last_ping, b->last_ping, a->last_ping_len) == 0);
	if (a->closed) {
		check(a->code == b->code);
		check(a->used == b->used); /* both stop at the close frame's end */
	} else {
		check(a->used == b->used);
	}
}

/* The stream as our own frames, from the codec of the other side. */
static void
round_trip(int server, const uint8_t *s, size_t n, size_t cut)
{
	struct ws_codec *wr = ws_codec_new(!server), *rd = ws_codec_new(server);
	uint8_t *wire = malloc(n + 2 * WS_HDR_MAX + 2 * (WS_HDR_MAX + WS_CTL_MAX)),
		*out = malloc(n + 1);
	if (wr == NULL || rd == NULL || wire == NULL || out == NULL)
		abort();
	/* Two frames, the first from three segments, a ping between them. */
	size_t a = cut % (n + 1);
	struct iovec iov[3] = {{(void *)s, a / 2}, {(void *)(s + a / 2), 0},
	    {(void *)(s + a / 2), a - a / 2}};
	ssize_t k = ws_write(wr, wire, iov, 3, a);
	check(k >= (ssize_t)(a + 2) && (size_t)k <= a + WS_HDR_MAX);
	size_t wn = (size_t)k;
	size_t pn = n < WS_CTL_MAX ? n : WS_CTL_MAX;
	k = ws_write_ctl(wr, wire + wn, WS_OP_PING, s, pn);
	check(k >= (ssize_t)(pn + 2));
	wn += (size_t)k;
	struct iovec rest = {(void *)(s + a), n - a};
	k = ws_write(wr, wire + wn, &rest, 1, n - a);
	check(k >= (ssize_t)(n - a + 2));
	wn += (size_t)k;

	const uint8_t *p = wire;
	size_t left = wn, got = 0;
	int pings = 0;
	while (left > 0 || ws_pending(rd) > 0) {
		enum ws_event ev;
		const char *why;
		size_t outlen = 1 + (got + cut) % 4096;
		if (outlen > n + 1 - got)
			outlen = n + 1 - got;
		ssize_t r = ws_read(rd, &p, &left, out + got, outlen, &ev, &why);
		check(r >= 0);
		got += (size_t)r;
		if (ev == WS_EV_PING) {
			size_t len;
			const uint8_t *pl = ws_ctl(rd, &len);
			check(len == pn && memcmp(pl, s, pn) == 0);
			pings++;
		}
		check(ev != WS_EV_CLOSE);
	}
	check(got == n && memcmp(out, s, n) == 0);
	check(pings == 1);
	free(wire);
	free(out);
	ws_codec_free(wr);
	ws_codec_free(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	uint8_t *p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);

	size_t outlen = size > 0 ? 1 + p[0] % 64 : 7;
	size_t maxslice = size > 1 ? 1 + (size_t)p[1] * 4 : 3;
	const uint8_t *s = size > 2 ? p + 2 : p + size;
	size_t n = size > 2 ? size - 2 : 0;
	for (int server = 0; server < 2; server++) {
		struct run a = {0}, b = {0};
		a.out = malloc(n + 1);
		b.out = malloc(n + 1);
		if (a.out == NULL || b.out == NULL)
			abort();
		read_sliced(server, s, n, maxslice, outlen, &a);
		read_whole(server, s, n, &b);
		compare(&a, &b);
		free(a.out);
		free(b.out);
		round_trip(server, s, n, size > 0 ? p[0] * 131u + size : 0);
	}

	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	size_t head_len = 0;
	int status = -1;
	const char *why = NULL;
	int rc = ws_client_response(p, size, key, &head_len, &status, &why);
	check(rc >= -1 && rc <= 1);
	if (rc == 1)
		check(status == 101 && head_len > 0 && head_len <= size &&
		    head_len <= HTTP_HEAD_MAX);
	else if (rc == 0)
		check(status == 0);
	else
		check(why != NULL && status >= 0 && status <= 999);
	free(p);
	return 0;
}
