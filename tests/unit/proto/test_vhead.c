/* Unit tests for src/proto/vhead.c: the head forwarded into an HTTP tunnel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/http.h"
#include "proto/vhead.h"

static char out[HTTP_HEAD_MAX * 2];

/* Parses req, rewrites it with c; returns the status (0: out holds it). */
static int
rewrite(const char *req, const struct vhead_ctx *c, const char **why)
{
	struct http_head h;
	size_t head_len = 0, outlen = 0;
	int status = 0;
	assert_int_equal(http_head_parse((const uint8_t *)req, strlen(req),
			     HTTP_HEAD_REQUEST, &h, &head_len, &status, why), 1);
	int r = vhead_rewrite(req, head_len, &h, c, (uint8_t *)out, sizeof out - 1,
	    &outlen, why);
	out[r == 0 ? outlen : 0] = '\0';
	return r;
}

static const struct vhead_ctx plain = {.client_ip = "192.0.2.7", .client_port = 40000,
    .proto = "http"};

static void
test_adds_forwarded_headers(void **state)
{
	const char *why;
	assert_int_equal(rewrite("GET /a?b=1 HTTP/1.1\r\nHost: app.example.test\r\n"
				 "Accept: */*\r\n\r\n", &plain, &why), 0);
	assert_string_equal(out,
	    "GET /a?b=1 HTTP/1.1\r\n"
	    "Host: app.example.test\r\n"
	    "Accept: */*\r\n"
	    "X-Forwarded-For: 192.0.2.7\r\n"
	    "X-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: app.example.test\r\n"
	    "X-Real-IP: 192.0.2.7\r\n"
	    "Forwarded: for=192.0.2.7;host=\"app.example.test\";proto=http\r\n"
	    "\r\n");
}

static void
test_spoofed_claims_dropped(void **state)
{
	const char *why;
	assert_int_equal(rewrite("GET / HTTP/1.1\r\nHost: h.test\r\n"
				 "X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n"
				 "Forwarded: for=10.0.0.1\r\nX-Forwarded-Proto: https\r\n"
				 "x-forwarded-host: evil.test\r\n\r\n", &plain, &why), 0);
	assert_null(strstr(out, "10.0.0.1"));
	assert_null(strstr(out, "evil.test"));
	assert_non_null(strstr(out, "X-Forwarded-Proto: http\r\n"));
	assert_non_null(strstr(out, "X-Forwarded-For: 192.0.2.7\r\n"));
}

static void
test_trusted_proxy_appended(void **state)
{
	struct vhead_ctx c = plain;
	c.trusted = 1;
	const char *why;
	assert_int_equal(rewrite("GET / HTTP/1.1\r\nHost: h.test\r\n"
				 "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n"
				 "Forwarded: for=198.51.100.1;proto=https\r\n\r\n", &c, &why), 0);
	assert_non_null(strstr(out, "X-Forwarded-For: 198.51.100.1, 192.0.2.7\r\n"));
	assert_non_null(strstr(out, "X-Forwarded-Proto: https\r\n"));
	assert_null(strstr(out, "X-Forwarded-Proto: http\r\n"));
	assert_non_null(strstr(out, "Forwarded: for=198.51.100.1;proto=https, for=192.0.2.7;"));
	/* Each appended-to header once. */
	assert_null(strstr(strstr(out, "X-Forwarded-For") + 1, "X-Forwarded-For"));
	assert_null(strstr(strstr(out, "Forwarded: ") + 1, "\nForwarded: "));
}

static void
test_hop_by_hop_dropped(void **state)
{
	const char *why;
	assert_int_equal(rewrite("POST /u HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Secret\r\n"
				 "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
				 "Proxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n", &plain, &why), 0);
	assert_null(strstr(out, "Connection"));
	assert_null(strstr(out, "X-Secret"));
	assert_null(strstr(out, "Keep-Alive"));
	assert_null(strstr(out, "TE:"));
	assert_null(strstr(out, "Proxy-Authorization"));
	assert_null(strstr(out, "Upgrade"));
	/* The body's framing stays: the body is passed on as it comes. */
	assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
}

static void
test_upgrade_kept(void **state)
{
	const char *why;
	assert_int_equal(rewrite("GET /ws HTTP/1.1\r\nHost: h.test\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n\r\n", &plain, &why), 0);
	assert_non_null(strstr(out, "Upgrade: websocket\r\n"));
	assert_non_null(strstr(out, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
	assert_non_null(strstr(out, "Connection: upgrade\r\n\r\n"));
}

static void
test_host_rewrite_set_and_remove(void **state)
{
	static const char *const rm[] = {"Cookie", NULL};
	static const char *const set[] = {"X-Env: staging", "Accept: text/plain",
	    "Bad\r\nInjected: 1", NULL};
	struct vhead_ctx c = plain;
	c.host_rewrite = "localhost:3000";
	c.remove = rm;
	c.set = set;
	const char *why;
	assert_int_equal(rewrite("GET / HTTP/1.1\r\nHost: app.example.test\r\nCookie: a=b\r\n"
				 "Accept: */*\r\n\r\n", &c, &why), 0);
	assert_non_null(strstr(out, "GET / HTTP/1.1\r\nHost: localhost:3000\r\n"));
	assert_null(strstr(out, "\r\nHost: app.example.test"));
	assert_null(strstr(out, "Cookie"));
	assert_null(strstr(out, "Accept: */*"));
	assert_non_null(strstr(out, "Accept: text/plain\r\n"));
	assert_non_null(strstr(out, "X-Env: staging\r\n"));
	assert_null(strstr(out, "Injected"));
	/* The visitor's Host is what X-Forwarded-Host says. */
	assert_non_null(strstr(out, "X-Forwarded-Host: app.example.test\r\n"));
}

static void
test_ipv6_client(void **state)
{
	struct vhead_ctx c = plain;
	c.client_ip = "2001:db8::7";
	c.proto = "https";
	const char *why;
	assert_int_equal(rewrite("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", &c, &why), 0);
	assert_non_null(strstr(out, "Forwarded: for=\"[2001:db8::7]\";host=\"h.test\";proto=https\r\n"));
	assert_non_null(strstr(out, "X-Forwarded-For: 2001:db8::7\r\n"));
}

static void
test_too_long(void **state)
{
	struct http_head h;
	const char *req = "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n", *why = NULL;
	size_t head_len, outlen;
	int status;
	assert_int_equal(http_head_parse((const uint8_t *)req, strlen(req), HTTP_HEAD_REQUEST,
			     &h, &head_len, &status, &why), 1);
	uint8_t small[40];
	assert_int_equal(vhead_rewrite(req, head_len, &h, &plain, small, sizeof small,
			     &outlen, &why), 431);
	assert_string_equal(why, "request head too long to forward");
}

static void
test_response_headers(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Frame-Options: "
	    "SAMEORIGIN\r\nContent-Length: 2\r\ndate: today\r\n\r\n";
	static const char *const rm[] = {"Date", NULL};
	static const char *const set[] = {"X-Frame-Options: DENY", "Server: burrow", NULL};
	uint8_t buf[512];
	size_t n = 0;
	const char *why = NULL;
	assert_int_equal(vhead_response(head, sizeof head - 1, rm, set, buf, sizeof out, &n,
			     &why), 0);
	static const char want[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "X-Frame-Options: DENY\r\nServer: burrow\r\n\r\n";
	assert_int_equal(n, sizeof want - 1);
	assert_memory_equal(buf, want, n);
	/* Too small a buffer, a bare CR, a status line that is not one. */
	assert_int_equal(vhead_response(head, sizeof head - 1, rm, set, buf, 40, &n, &why), -1);
	assert_string_equal(why, "response head too long with the headers set");
	static const char cr[] = "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n";
	assert_int_equal(vhead_response(cr, sizeof cr - 1, rm, set, buf, sizeof out, &n, &why), -1);
	static const char bad[] = "\r\nICY 200 OK\r\n\r\n";
	assert_int_equal(vhead_response(bad, sizeof bad - 1, NULL, NULL, buf, sizeof out, &n,
			     &why), -1);
	assert_string_equal(why, "malformed status line");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_adds_forwarded_headers),
	    cmocka_unit_test(test_spoofed_claims_dropped),
	    cmocka_unit_test(test_trusted_proxy_appended),
	    cmocka_unit_test(test_hop_by_hop_dropped),
	    cmocka_unit_test(test_upgrade_kept),
	    cmocka_unit_test(test_host_rewrite_set_and_remove),
	    cmocka_unit_test(test_ipv6_client),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_response_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
