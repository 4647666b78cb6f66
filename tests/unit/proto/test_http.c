/* The HTTP head reader and the plain responses (proto/http.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <http_parser.h>

#include "proto/http.h"

/* http_head_parse on a C string: its return, the rest through the pointers. */
static int
parse(const char *s, enum http_kind kind, struct http_head *h, size_t *len,
    int *status, const char **why)
{
	*len = 0;
	*status = 0;
	*why = NULL;
	int rc = http_head_parse((const uint8_t *)s, strlen(s), kind, h, len, status, why);
	if (rc == -1)
		assert_non_null(*why);
	return rc;
}

static void
assert_same_head(const struct http_head *a, const struct http_head *b)
{
	assert_int_equal(a->method, b->method);
	assert_string_equal(a->path, b->path);
	assert_int_equal(a->status, b->status);
	assert_string_equal(a->reason, b->reason);
	assert_string_equal(a->host, b->host);
	assert_string_equal(a->ws_key, b->ws_key);
	assert_string_equal(a->ws_accept, b->ws_accept);
	assert_int_equal(a->ws_version, b->ws_version);
	assert_int_equal(a->upgrade_ws, b->upgrade_ws);
	assert_int_equal(a->connection_upgrade, b->connection_upgrade);
	assert_int_equal(a->keep_alive, b->keep_alive);
}

/*
 * The head of s (which may go on past it) as a reader gets it, one byte more
 * each time: 0 until the head is whole, then the same as s at once.
 */
static void
assert_incremental(const char *s, enum http_kind kind)
{
	struct http_head whole, part;
	size_t len, plen;
	int status, pstatus;
	const char *why, *pwhy;
	int rc = parse(s, kind, &whole, &len, &status, &why);
	size_t n = strlen(s);
	uint8_t buf[HTTP_HEAD_MAX + 64];
	assert_true(n <= sizeof buf);
	for (size_t i = 0; i <= n; i++) {
		memcpy(buf, s, i); /* exactly i bytes: ASan would see a read past them */
		int prc = http_head_parse(buf, i, kind, &part, &plen, &pstatus, &pwhy);
		if (prc == 0)
			continue;
		assert_int_equal(prc, rc);
		if (rc == 1) {
			assert_int_equal(plen, len);
			assert_int_equal(i, len); /* the first byte that makes it whole */
			assert_same_head(&part, &whole);
		} else {
			assert_int_equal(pstatus, status);
			assert_string_equal(pwhy, why);
		}
		return;
	}
	assert_int_equal(rc, 0);
}

static const char ws_request[] =
    "GET /tunnel?token=x HTTP/1.1\r\n"
    "Host: relay.example.com:443\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "User-Agent: burrow/0.1.0\r\n"
    "\r\n";

static void
test_request(void **state)
{
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	assert_int_equal(parse(ws_request, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(len, sizeof ws_request - 1);
	assert_int_equal(h.method, HTTP_GET);
	assert_string_equal(http_method_name(h.method), "GET");
	assert_string_equal(h.path, "/tunnel");
	assert_string_equal(h.host, "relay.example.com:443");
	assert_string_equal(h.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(h.ws_accept, "");
	assert_int_equal(h.ws_version, 13);
	assert_true(h.upgrade_ws);
	assert_true(h.connection_upgrade);
	assert_true(h.keep_alive);
	assert_int_equal(h.status, 0);

	/* Frames after the head are not the head's. */
	char buf[sizeof ws_request + 8];
	memcpy(buf, ws_request, sizeof ws_request - 1);
	memcpy(buf + sizeof ws_request - 1, "\x82\x85\x01\x02\x03\x04", 6);
	assert_int_equal(http_head_parse((const uint8_t *)buf, sizeof ws_request - 1 + 6,
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(len, sizeof ws_request - 1);

	/* Nothing we look at: all absent. */
	assert_int_equal(parse("POST /submit HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(len, strlen("POST /submit HTTP/1.1\r\nContent-Length: 3\r\n\r\n"));
	assert_string_equal(http_method_name(h.method), "POST");
	assert_string_equal(h.path, "/submit");
	assert_string_equal(h.host, "");
	assert_string_equal(h.ws_key, "");
	assert_int_equal(h.ws_version, 0);
	assert_false(h.upgrade_ws);
	assert_false(h.connection_upgrade);

	/* Bare LFs end lines too. */
	assert_int_equal(parse("GET /a HTTP/1.1\nHost: x\n\nrest", HTTP_HEAD_REQUEST, &h,
			     &len, &status, &why), 1);
	assert_int_equal(len, strlen("GET /a HTTP/1.1\nHost: x\n\n"));
	assert_string_equal(h.host, "x");
}

static void
test_incremental(void **state)
{
	static const char *const requests[] = {
	    ws_request,
	    "GET / HTTP/1.0\r\n\r\n",
	    ("GET /a/b?c HTTP/1.1\r\nhost: h\r\nX-Empty:\r\nConnection: keep-alive, "
		"Upgrade\r\n\r\nFRAMES"),
	    "OPTIONS * HTTP/1.1\r\n\r\n",
	    "GET http://example.com:8080/p?q HTTP/1.1\r\n\r\n",
	    "GET /x HTTP/1.1\r\nX-Folded: a\r\n  b\r\nHost: h\r\n\r\n",
	    "GET /x HTTP/1.1\r\nHost: a\r\n\rX", /* refused on its last byte */
	    "PUT /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n",
	    "GET /x HTTP/1.1\r\nHost: a",
	};
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
		assert_incremental(requests[i], HTTP_HEAD_REQUEST);
	static const char *const responses[] = {
	    ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
		"Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x82"),
	    "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	    "HTTP/1.1 404 Not Found\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "GET / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++)
		assert_incremental(responses[i], HTTP_HEAD_RESPONSE);
}

static void
test_target(void **state)
{
	static const struct {
		const char *target, *path;
	} ok[] = {
	    {"/", "/"},
	    {"/ws", "/ws"},
	    {"/ws?", "/ws"},
	    {"/ws?a=1&b=/c", "/ws"},
	    {"/a/b#frag", "/a/b"},
	    {"/%7Euser/x", "/%7Euser/x"},
	    {"//double", "//double"},
	    {"http://example.com", "/"},
	    {"http://example.com?q=1", "/"},
	    {"http://example.com:8080/ws?x=1", "/ws"},
	    {"https://user@[::1]:443/a/b", "/a/b"},
	    {"*", "*"},
	};
	char req[1024];
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", ok[i].target);
		assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
		assert_string_equal(h.path, ok[i].path);
	}
	static const char *const bad[] = {
	    "*abc/d", /* http-parser's path, not ours */
	    "relay.example.com:443", /* authority form, for CONNECT only */
	    "http://example.com:99999/",
	    "foo",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", bad[i]);
		assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
		assert_int_equal(status, 400);
	}
	/* CONNECT takes the authority form (a proxy's request), and only it. */
	assert_int_equal(parse("CONNECT relay.example.com:443 HTTP/1.1\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.path, "");
	assert_int_equal(parse("CONNECT /x HTTP/1.1\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 400);
	assert_string_equal(why, "bad request target");
}

/* What the http transport reads besides: the query, the body's framing. */
static void
test_body_fields(void **state)
{
	static const struct {
		const char *target, *query;
	} q[] = {
	    {"/ws", ""},
	    {"/ws?", ""},
	    {"/ws?a=1&b=/c", "a=1&b=/c"},
	    {"/ws?a#frag", "a"},
	    {"http://h:1/x?y=2", "y=2"},
	};
	char req[256];
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", q[i].target);
		assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
		assert_string_equal(h.query, q[i].query);
		assert_null(strchr(h.path, '?'));
	}
	assert_int_equal(parse("POST /up HTTP/1.1\r\nContent-Length: 12345\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(h.content_length, 12345);
	assert_false(h.chunked);
	assert_int_equal(parse("GET /down HTTP/1.1\r\n\r\n", HTTP_HEAD_REQUEST, &h, &len,
			     &status, &why), 1);
	assert_int_equal(h.content_length, -1);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
			     HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 1);
	assert_true(h.chunked);
	assert_int_equal(h.content_length, -1);
	assert_int_equal(len, strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			     HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 1);
	assert_int_equal(h.content_length, 0);
	assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
}

static void
test_header_names(void **state)
{
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	assert_int_equal(parse("GET / HTTP/1.1\r\nhOsT: MiXeD.example\r\n"
			       "UPGRADE: WebSocket\r\nconnection: UPGRADE\r\n"
			       "SEC-WEBSOCKET-KEY: abc\r\nsec-websocket-accept: def\r\n"
			       "Sec-Websocket-Version: 13\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "MiXeD.example"); /* values as sent */
	assert_true(h.upgrade_ws);
	assert_true(h.connection_upgrade);
	assert_string_equal(h.ws_key, "abc");
	assert_string_equal(h.ws_accept, "def");
	assert_int_equal(h.ws_version, 13);

	/* Names that only start or end like ours are not ours. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHostname: a\r\nX-Host: b\r\n"
			       "Upgrade-Insecure-Requests: 1\r\nSec-WebSocket-Key2: k\r\n"
			       "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "");
	assert_false(h.upgrade_ws);
	assert_string_equal(h.ws_key, "");

	/* A name too long for us to keep is one we do not know. */
	char req[512];
	snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost%0200d: x\r\nHost: h\r\n\r\n", 0);
	assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "h");
	snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nHost%0200d: x\r\n\r\n", 0);
	assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "h");

	/* Whitespace around a value is not part of it (RFC 7230 §3.2). */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: \t a.example \t \r\n"
			       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==  \r\n"
			       "Sec-WebSocket-Version:13 \r\nUpgrade: websocket\t\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "a.example");
	assert_string_equal(h.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_int_equal(h.ws_version, 13);
	assert_true(h.upgrade_ws);

	/* Empty values, a folded one, the last of two. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\nX-A: 1\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "");
	assert_int_equal(parse("GET / HTTP/1.1\r\nX-Empty:\r\nHost: h\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "h"); /* not "X-EmptyHost" */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, "b");
	assert_int_equal(parse("GET / HTTP/1.1\r\nUpgrade: h2c,\r\n websocket\r\n\r\n",
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_true(h.upgrade_ws);

	/* A version is digits. */
	static const struct {
		const char *v;
		int ver;
	} vers[] = {{"13", 13}, {"8", 8}, {"", 0}, {"1a", 1000}, {"-13", 1000},
	    {"99999999999", 9999}};
	for (size_t i = 0; i < sizeof vers / sizeof vers[0]; i++) {
		snprintf(req, sizeof req,
		    "GET / HTTP/1.1\r\nSec-WebSocket-Version: %s\r\n\r\n", vers[i].v);
		assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
		assert_int_equal(h.ws_version, vers[i].ver);
	}
}

static void
test_tokens(void **state)
{
	static const struct {
		const char *headers;
		int upgrade_ws, connection_upgrade;
	} cases[] = {
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\n", 1, 1},
	    {"Upgrade: WEBSOCKET\r\nConnection: keep-alive, Upgrade\r\n", 1, 1},
	    {"Upgrade: h2c, websocket\r\nConnection: Upgrade, keep-alive\r\n", 1, 1},
	    {"Upgrade: websocket , h2c\r\nConnection: keep-alive,upgrade\r\n", 1, 1},
	    {"Upgrade: \twebsocket\t\r\nConnection: ,,upgrade,,\r\n", 1, 1},
	    {"Upgrade: websocketx\r\nConnection: upgraded\r\n", 0, 0},
	    {"Upgrade: web socket\r\nConnection: keep-alive\r\n", 0, 0},
	    {"Upgrade: xwebsocket\r\nConnection: Up grade\r\n", 0, 0},
	    {"Upgrade: h2c\r\nUpgrade: websocket\r\nConnection: close\r\n"
	     "Connection: Upgrade\r\n", 1, 1},
	    {"Upgrade:\r\nConnection:\r\n", 0, 0},
	    {"X-Upgrade: websocket\r\nX-Connection: upgrade\r\n", 0, 0},
	};
	char req[512];
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(req, sizeof req, "GET / HTTP/1.1\r\n%s\r\n", cases[i].headers);
		assert_int_equal(parse(req, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
		assert_int_equal(h.upgrade_ws, cases[i].upgrade_ws);
		assert_int_equal(h.connection_upgrade, cases[i].connection_upgrade);
	}
}

static void
test_keep_alive(void **state)
{
	static const struct {
		enum http_kind kind;
		const char *head;
		int keep_alive;
	} cases[] = {
	    {HTTP_HEAD_REQUEST, "GET / HTTP/1.1\r\n\r\n", 1},
	    {HTTP_HEAD_REQUEST, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
	    {HTTP_HEAD_REQUEST, "GET / HTTP/1.0\r\n\r\n", 0},
	    {HTTP_HEAD_REQUEST, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
	    {HTTP_HEAD_REQUEST, "GET / HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\n\r\n", 1},
	    {HTTP_HEAD_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1},
	    {HTTP_HEAD_RESPONSE, "HTTP/1.1 200 OK\r\n\r\n", 0}, /* the body ends at EOF */
	    {HTTP_HEAD_RESPONSE, "HTTP/1.1 204 No Content\r\n\r\n", 1},
	    {HTTP_HEAD_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				 "Connection: close\r\n\r\n", 0},
	    {HTTP_HEAD_RESPONSE, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 0},
	};
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(parse(cases[i].head, cases[i].kind, &h, &len, &status, &why), 1);
		assert_int_equal(h.keep_alive, cases[i].keep_alive);
	}
}

static void
test_response(void **state)
{
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	assert_int_equal(parse(ok, HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 1);
	assert_int_equal(len, sizeof ok - 1);
	assert_int_equal(h.status, 101);
	assert_string_equal(h.reason, "Switching Protocols");
	assert_string_equal(h.ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_true(h.upgrade_ws);
	assert_true(h.connection_upgrade);
	assert_string_equal(h.path, "");

	assert_int_equal(parse("HTTP/1.1 999 Odd\r\n\r\n", HTTP_HEAD_RESPONSE, &h, &len,
			     &status, &why), 1);
	assert_int_equal(h.status, 999);
	assert_int_equal(parse("HTTP/1.1 100\r\n\r\n", HTTP_HEAD_RESPONSE, &h, &len,
			     &status, &why), 1);
	assert_int_equal(h.status, 100);
	assert_string_equal(h.reason, "");

	/* The reason is printable and cut to fit. */
	char resp[512];
	snprintf(resp, sizeof resp, "HTTP/1.1 200 %0100d\r\n\r\n", 7);
	assert_int_equal(parse(resp, HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 1);
	assert_int_equal(strlen(h.reason), HTTP_REASON_MAX - 1);
	assert_memory_equal(h.reason, "0000000000", 10);
	assert_int_equal(parse("HTTP/1.1 200 caf\xc3\xa9 \x7f!\r\n\r\n", HTTP_HEAD_RESPONSE,
			     &h, &len, &status, &why), 1);
	assert_string_equal(h.reason, "caf?? ?!");

	static const char *const bad[] = {
	    "HTTP/1.1 20 OK\r\n\r\n", /* a status has three digits */
	    "HTTP/1.1 1000 Big\r\n\r\n",
	    "HTTP/1.1 OK\r\n\r\n",
	    "HTTP/2 200\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n\rX",
	    "GET / HTTP/1.1\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(bad[i], HTTP_HEAD_RESPONSE, &h, &len, &status, &why), -1);
		assert_non_null(strstr(why, "response"));
	}
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n", HTTP_HEAD_RESPONSE, &h, &len, &status,
			     &why), 0);
	assert_int_equal(parse("", HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 0);
}

/* A head of exactly n bytes (n > 40): first, X-Pad lines, the blank line. */
static size_t
padded(char *buf, size_t n, const char *first)
{
	size_t off = (size_t)snprintf(buf, n + 1, "%s", first);
	size_t r = n - off - 2; /* for the lines: "X-Pad: " k bytes "\r\n" */
	while (r > 0) {
		size_t line = r >= 2 * 1009 ? 1009 : r > 1009 ? r / 2 : r;
		memcpy(buf + off, "X-Pad: ", 7);
		memset(buf + off + 7, 'a', line - 9);
		memcpy(buf + off + line - 2, "\r\n", 2);
		off += line;
		r -= line;
	}
	memcpy(buf + off, "\r\n", 3);
	return off + 2;
}

static void
test_limits(void **state)
{
	static char buf[HTTP_HEAD_MAX * 2];
	struct http_head h;
	size_t len;
	int status;
	const char *why;

	/* A head of 8 KiB is taken, one byte more is refused: 431. */
	size_t n = padded(buf, HTTP_HEAD_MAX, "GET / HTTP/1.1\r\n");
	assert_int_equal(n, HTTP_HEAD_MAX);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(len, HTTP_HEAD_MAX);
	memcpy(buf + n, "\x82\x00", 3); /* frames after it change nothing */
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_int_equal(len, HTTP_HEAD_MAX);
	n = padded(buf, HTTP_HEAD_MAX + 1, "GET / HTTP/1.1\r\n");
	assert_int_equal(n, HTTP_HEAD_MAX + 1);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 431);
	assert_string_equal(why, "request head longer than 8 KiB");
	/* Short of 8 KiB it may still end. */
	assert_int_equal(http_head_parse((const uint8_t *)buf, HTTP_HEAD_MAX - 1,
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), 0);
	assert_int_equal(http_head_parse((const uint8_t *)buf, HTTP_HEAD_MAX,
			     HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 431);
	n = padded(buf, HTTP_HEAD_MAX + 1, "HTTP/1.1 200 OK\r\n");
	assert_int_equal(parse(buf, HTTP_HEAD_RESPONSE, &h, &len, &status, &why), -1);
	assert_string_equal(why, "response head longer than 8 KiB");
	/* A head that never ends, fed 8 KiB and more. */
	memset(buf, 0, sizeof buf);
	memcpy(buf, "GET / HTTP/1.1\r\nX-Long: ", 24);
	memset(buf + 24, 'x', sizeof buf - 25);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 431);

	/* A target of 511 bytes is taken, 512 is refused: 414. */
	char path[HTTP_PATH_MAX + 2];
	memset(path, 'p', sizeof path);
	path[0] = '/';
	path[HTTP_PATH_MAX - 1] = '\0';
	snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\n\r\n", path);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.path, path);
	path[HTTP_PATH_MAX - 1] = 'p';
	path[HTTP_PATH_MAX] = '\0';
	snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\n\r\n", path);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 414);
	assert_string_equal(why, "request target too long");
	/* The query counts: it is part of the target. */
	memset(path, 'q', sizeof path);
	memcpy(path, "/ws?", 4);
	path[HTTP_PATH_MAX] = '\0';
	snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\n\r\n", path);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 414);

	/* A Host of 255 bytes is taken, 256 is refused: 400. */
	char host[HTTP_HOST_MAX + 1];
	memset(host, 'h', sizeof host);
	host[HTTP_HOST_MAX - 1] = '\0';
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.host, host);
	host[HTTP_HOST_MAX - 1] = 'h';
	host[HTTP_HOST_MAX] = '\0';
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
	assert_int_equal(status, 400);
	assert_string_equal(why, "Host header too long");
	snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nHost: %s\r\n\r\n", host);
	assert_int_equal(parse(buf, HTTP_HEAD_RESPONSE, &h, &len, &status, &why), -1);

	/* Other long values are not refused; ours that do not fit are absent. */
	char val[2000];
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	snprintf(buf, sizeof buf,
	    "GET / HTTP/1.1\r\nCookie: %s\r\nSec-WebSocket-Key: %s\r\n"
	    "Upgrade: %s, websocket\r\nHost: h\r\n\r\n", val, val, val);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.ws_key, "");
	assert_string_equal(h.host, "h");
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nSec-WebSocket-Key: abc\r\n %s\r\n\r\n", val);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.ws_key, ""); /* not "abc": the rest did not fit */
	val[HTTP_TOKEN_MAX - 1] = '\0';
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nSec-WebSocket-Key: %s\r\n\r\n", val);
	assert_int_equal(parse(buf, HTTP_HEAD_REQUEST, &h, &len, &status, &why), 1);
	assert_string_equal(h.ws_key, val);
	val[HTTP_TOKEN_MAX - 1] = 'v';
	val[HTTP_TOKEN_MAX] = '\0';
	snprintf(buf, sizeof buf, "HTTP/1.1 101 S\r\nSec-WebSocket-Accept: %s\r\n\r\n", val);
	assert_int_equal(parse(buf, HTTP_HEAD_RESPONSE, &h, &len, &status, &why), 1);
	assert_string_equal(h.ws_accept, "");
}

static void
test_garbage(void **state)
{
#define S(s) {s, sizeof s - 1}
	static const struct {
		const char *in;
		size_t n;
	} bad[] = {
	    S("SSH-2.0-OpenSSH_9.2\r\n"),
	    S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), /* a TLS ClientHello */
	    S("\x00\x00\x00\x00"),
	    S("\x82\x85\x01\x02\x03\x04hello"), /* a WebSocket frame */
	    S("HTTP/1.1 200 OK\r\n\r\n"),
	    S("GET / HTTP/1.1 extra\r\n\r\n"),
	    S("GET /a b HTTP/1.1\r\n\r\n"),
	    S("GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n"),
	    S("GET / HTTP/1.1\r\nNo colon\r\n\r\n"),
	    S("GET / HTTP/1.1\r\n: empty name\r\n\r\n"),
	    S("GET / HTTP/1.1\r\r\n\r\n"),
	    S("GET / HTTP/1.1\r\nHost: a\r\n\rX"),
	    S("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    S("get / HTTP/1.1\r\n\r\n"),
	};
#undef S
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		status = 0;
		assert_int_equal(http_head_parse((const uint8_t *)bad[i].in, bad[i].n,
				     HTTP_HEAD_REQUEST, &h, &len, &status, &why), -1);
		assert_int_equal(status, 400);
		assert_non_null(why);
	}
	/* Not yet anything. */
	static const char *const more[] = {"", "G", "GET", "GET /", "GET / HTTP/1.1",
	    "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r"};
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
		assert_int_equal(parse(more[i], HTTP_HEAD_REQUEST, &h, &len, &status, &why), 0);
}

static void
test_http_response(void **state)
{
	char buf[512];
	size_t n = http_response(buf, sizeof buf, 404, "Not Found", "", "Not Found\n");
	static const char want[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
				   "Content-Length: 10\r\nConnection: close\r\n\r\nNot Found\n";
	assert_int_equal(n, sizeof want - 1);
	assert_string_equal(buf, want);
	/* It fits with its NUL, or it is 0. */
	assert_int_equal(http_response(buf, sizeof want, 404, "Not Found", "", "Not Found\n"),
	    sizeof want - 1);
	assert_int_equal(http_response(buf, sizeof want - 1, 404, "Not Found", "",
			     "Not Found\n"), 0);
	assert_int_equal(http_response(buf, 0, 404, "Not Found", "", "Not Found\n"), 0);

	/* Our reader takes what we write, and the body is after the head. */
	n = http_response(buf, sizeof buf, 426, "Upgrade Required",
	    "Sec-WebSocket-Version: 13\r\n", "WebSocket version 13 only.\n");
	assert_true(n > 0);
	struct http_head h;
	size_t len;
	int status;
	const char *why;
	assert_int_equal(http_head_parse((const uint8_t *)buf, n, HTTP_HEAD_RESPONSE, &h,
			     &len, &status, &why), 1);
	assert_int_equal(h.status, 426);
	assert_string_equal(h.reason, "Upgrade Required");
	assert_false(h.keep_alive);
	assert_string_equal(buf + len, "WebSocket version 13 only.\n");
	assert_non_null(strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n"));

	n = http_response(buf, sizeof buf, 200, "OK", "", "");
	assert_true(n > 0);
	assert_int_equal(http_head_parse((const uint8_t *)buf, n, HTTP_HEAD_RESPONSE, &h,
			     &len, &status, &why), 1);
	assert_int_equal(len, n);
	assert_non_null(strstr(buf, "Content-Length: 0\r\n"));

	assert_string_equal(http_method_name(HTTP_GET), "GET");
	assert_string_equal(http_method_name(HTTP_POST), "POST");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_incremental),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_body_fields),
	    cmocka_unit_test(test_header_names),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_response),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_http_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
