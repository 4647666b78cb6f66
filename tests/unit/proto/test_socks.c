/* SOCKS5 and HTTP proxy requests, server side (proto/socks.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/socks.h"

/*
 * Feeds in, split at `split` (0: whole), as a front would: writes go to
 * `wrote`, CHECK_AUTH is answered with auth_ok. Returns the last status;
 * *rest is how many input bytes were left unconsumed.
 */
static enum socks_status
run(struct socks_req *r, const void *in, size_t len, size_t split, int auth_ok,
    uint8_t *wrote, size_t *wrote_len, size_t *rest)
{
	uint8_t buf[16384];
	size_t have = 0, fed = 0;
	*wrote_len = 0;
	for (;;) {
		size_t n = split == 0 ? len - fed : (len - fed < split ? len - fed : split);
		memcpy(buf + have, (const uint8_t *)in + fed, n);
		have += n;
		fed += n;
		enum socks_status st;
		for (;;) {
			size_t used = 0;
			st = socks_feed(r, buf, have, &used);
			assert_true(used <= have);
			memmove(buf, buf + used, have - used);
			have -= used;
			if (st == SOCKS_CHECK_AUTH)
				st = socks_auth_result(r, auth_ok);
			if (st == SOCKS_WRITE || st == SOCKS_FAIL) {
				memcpy(wrote + *wrote_len, r->out, r->out_len);
				*wrote_len += r->out_len;
			}
			if (st != SOCKS_WRITE)
				break;
		}
		if (st != SOCKS_MORE || fed == len) {
			*rest = have + (len - fed);
			return st;
		}
	}
}

static const uint8_t s5_name[] = {5, 1, 0, 5, 1, 0, 3, 9, 'l', 'o', 'c', 'a', 'l',
    'h', 'o', 's', 't', 0, 80, 'h', 'i'};

static void
test_socks5_name_every_split(void **state)
{
	for (size_t split = 0; split < sizeof s5_name; split++) {
		struct socks_req r;
		uint8_t out[64];
		size_t olen, rest;
		socks_init(&r, 0);
		assert_int_equal(run(&r, s5_name, sizeof s5_name, split, 1, out, &olen, &rest),
		    SOCKS_DONE);
		assert_int_equal(r.proto, SOCKS_PROTO_SOCKS5);
		assert_string_equal(r.host, "localhost");
		assert_true(r.host_is_name);
		assert_int_equal(r.port, 80);
		assert_int_equal(olen, 2); /* method choice: no authentication */
		assert_memory_equal(out, "\x05\x00", 2);
		assert_int_equal(rest, 2); /* "hi": the client's first data */
	}
}

static void
test_socks5_addresses(void **state)
{
	static const uint8_t v4[] = {5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90};
	static const uint8_t v6[] = {5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 1, 0, 22};
	struct socks_req r;
	uint8_t out[64];
	size_t olen, rest;
	socks_init(&r, 0);
	assert_int_equal(run(&r, v4, sizeof v4, 1, 1, out, &olen, &rest), SOCKS_DONE);
	assert_string_equal(r.host, "127.0.0.1");
	assert_false(r.host_is_name);
	assert_int_equal(r.port, 8080);
	socks_init(&r, 0);
	assert_int_equal(run(&r, v6, sizeof v6, 0, 1, out, &olen, &rest), SOCKS_DONE);
	assert_string_equal(r.host, "::1");
	assert_int_equal(r.port, 22);
}

static void
test_socks5_auth(void **state)
{
	static const uint8_t in[] = {5, 2, 0, 2, 1, 4, 'u', 's', 'e', 'r', 2, 'p', 'w',
	    5, 1, 0, 3, 1, 'h', 0, 1};
	for (int ok = 0; ok <= 1; ok++) {
		struct socks_req r;
		uint8_t out[64];
		size_t olen, rest;
		socks_init(&r, 1);
		enum socks_status st = run(&r, in, sizeof in, 3, ok, out, &olen, &rest);
		assert_int_equal(olen, 4);
		assert_memory_equal(out, "\x05\x02\x01", 3); /* user/pass chosen */
		assert_int_equal(out[3], ok ? 0 : 1);
		assert_string_equal(r.user, "user");
		assert_string_equal(r.pass, ""); /* wiped once answered */
		assert_int_equal(st, ok ? SOCKS_DONE : SOCKS_FAIL);
	}
	/* Credentials required, none offered: 05 FF and close. */
	struct socks_req r;
	uint8_t out[64];
	size_t olen, rest;
	socks_init(&r, 1);
	assert_int_equal(run(&r, "\x05\x01\x00", 3, 0, 1, out, &olen, &rest), SOCKS_FAIL);
	assert_int_equal(olen, 2);
	assert_memory_equal(out, "\x05\xff", 2);
}

struct bad {
	const char *in;
	size_t len;
	uint8_t rep; /* 0xff: no reply possible */
};

static void
test_socks5_errors(void **state)
{
	static const struct bad bad[] = {
	    {"\x05\x00", 2, 0xff},                                      /* no methods */
	    {"\x05\x01\x00\x05\x02\x00\x01\x00\x00\x00\x00\x00\x50", 13, 7}, /* BIND */
	    {"\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x50", 13, 7}, /* UDP */
	    {"\x05\x01\x00\x05\x01\x00\x05\x00\x00\x00\x00\x00\x50", 13, 8}, /* ATYP 5 */
	    {"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00", 13, 1}, /* port 0 */
	    {"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x50", 10, 1},         /* empty name */
	    {"\x05\x01\x00\x05\x01\x00\x03\x02\x61\x0a\x00\x50", 12, 4}, /* control byte */
	    {"\x05\x01\x00\x04\x01\x00\x01\x00\x00\x00\x00\x00\x50", 13, 1}, /* version */
	    {"\x04\x01\x00\x50\x7f\x00\x00\x01\x00", 9, 0xff},           /* SOCKS4 */
	    {"\x16\x03\x01", 3, 0xff},                                  /* TLS */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct socks_req r;
		uint8_t out[64];
		size_t olen, rest;
		socks_init(&r, 0);
		if (run(&r, bad[i].in, bad[i].len, 0, 1, out, &olen, &rest) != SOCKS_FAIL)
			fail_msg("case %zu accepted", i);
		assert_non_null(r.why);
		if (bad[i].rep == 0xff)
			continue;
		/* After the method choice, the reply: 05 REP 00 01 0.0.0.0:0. */
		assert_int_equal(olen, 2 + 10);
		assert_int_equal(out[2], 5);
		if (out[3] != bad[i].rep)
			fail_msg("case %zu: REP %u, want %u", i, out[3], bad[i].rep);
		assert_memory_equal(out + 4, "\x00\x01\x00\x00\x00\x00\x00\x00", 8);
	}
}

static void
test_http_connect(void **state)
{
	static const char req[] = "CONNECT [::1]:22 HTTP/1.1\r\nHost: [::1]:22\r\n\r\nSSH-2.0";
	for (size_t split = 0; split < sizeof req - 1; split += 7) {
		struct socks_req r;
		uint8_t out[64];
		size_t olen, rest;
		socks_init(&r, 0);
		assert_int_equal(run(&r, req, sizeof req - 1, split, 1, out, &olen, &rest),
		    SOCKS_DONE);
		assert_int_equal(r.proto, SOCKS_PROTO_HTTP_CONNECT);
		assert_string_equal(r.host, "::1");
		assert_int_equal(r.port, 22);
		assert_int_equal(olen, 0);
		assert_int_equal(rest, 7);
	}
}

static void
test_http_connect_auth(void **state)
{
	/* dXNlcjpwOnc= is "user:p:w": the password may hold ':'. */
	static const char req[] = "CONNECT h:443 HTTP/1.1\r\n"
				  "Proxy-Authorization: Basic dXNlcjpwOnc=\r\n\r\n";
	static const char none[] = "CONNECT h:443 HTTP/1.1\r\n\r\n";
	struct socks_req r;
	uint8_t out[1024];
	size_t olen, rest;
	socks_init(&r, 1);
	assert_int_equal(run(&r, req, sizeof req - 1, 0, 1, out, &olen, &rest), SOCKS_DONE);
	assert_string_equal(r.user, "user");
	socks_init(&r, 1);
	assert_int_equal(run(&r, req, sizeof req - 1, 0, 0, out, &olen, &rest), SOCKS_FAIL);
	assert_true(olen > 0 && memcmp(out, "HTTP/1.1 407 ", 13) == 0);
	socks_init(&r, 1);
	assert_int_equal(run(&r, none, sizeof none - 1, 0, 1, out, &olen, &rest), SOCKS_FAIL);
	out[olen] = '\0';
	assert_non_null(strstr((char *)out, "Proxy-Authenticate: Basic realm=\"burrow\"\r\n"));
	/* Not asked for: credentials are ignored. */
	socks_init(&r, 0);
	assert_int_equal(run(&r, req, sizeof req - 1, 0, 0, out, &olen, &rest), SOCKS_DONE);
}

static void
test_http_forward(void **state)
{
	static const char req[] = "GET http://example.com:8080/a?b=c HTTP/1.1\r\n"
				  "Host: example.com:8080\r\nProxy-Connection: keep-alive\r\n"
				  "Connection: keep-alive\r\nAccept: */*\r\n\r\nrest";
	static const char want[] = "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\n"
				   "Accept: */*\r\nConnection: close\r\n\r\n";
	struct socks_req r;
	uint8_t out[64];
	size_t olen, rest;
	socks_init(&r, 0);
	assert_int_equal(run(&r, req, sizeof req - 1, 5, 1, out, &olen, &rest), SOCKS_DONE);
	assert_int_equal(r.proto, SOCKS_PROTO_HTTP_FORWARD);
	assert_string_equal(r.host, "example.com");
	assert_int_equal(r.port, 8080);
	assert_int_equal(rest, 4);
	assert_int_equal(r.fwd_len, sizeof want - 1);
	assert_memory_equal(r.fwd_head, want, sizeof want - 1);
	/* No Host header: one is added; no path: "/". */
	static const char bare[] = "GET http://h HTTP/1.0\r\n\r\n";
	socks_init(&r, 0);
	assert_int_equal(run(&r, bare, sizeof bare - 1, 0, 1, out, &olen, &rest), SOCKS_DONE);
	assert_int_equal(r.port, 80);
	assert_memory_equal(r.fwd_head, "GET / HTTP/1.0\r\nHost: h:80\r\nConnection: close\r\n\r\n",
	    r.fwd_len);
}

static void
test_http_errors(void **state)
{
	static const struct {
		const char *req;
		const char *status;
	} bad[] = {
	    {"GET /origin HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
	    {"GET https://x/ HTTP/1.1\r\n\r\n", "400"},
	    {"CONNECT x HTTP/1.1\r\n\r\n", "400"},
	    {"CONNECT x:0 HTTP/1.1\r\n\r\n", "400"},
	    {"GET http://u@x/ HTTP/1.1\r\n\r\n", "400"},
	    {"CONNECT x:1 HTTP/1.1\r\nProxy-Authorization: Digest y\r\n\r\n", "400"},
	    {"GARBAGE\r\n\r\n", "400"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct socks_req r;
		uint8_t out[1024];
		size_t olen, rest;
		socks_init(&r, 0);
		if (run(&r, bad[i].req, strlen(bad[i].req), 0, 1, out, &olen, &rest) !=
		    SOCKS_FAIL)
			fail_msg("case %zu accepted", i);
		assert_true(olen > 12);
		if (memcmp(out + 9, bad[i].status, 3) != 0)
			fail_msg("case %zu: %.12s", i, out);
		out[olen] = '\0';
		assert_non_null(strstr((char *)out, "Connection: close\r\n"));
	}
	/* A head that never ends: 431 at 8 KiB. */
	char big[HTTP_HEAD_MAX + 100];
	memset(big, 'a', sizeof big);
	memcpy(big, "GET http://x/ HTTP/1.1\r\nX: ", 27);
	struct socks_req r;
	uint8_t out[1024];
	size_t olen, rest;
	socks_init(&r, 0);
	assert_int_equal(run(&r, big, sizeof big, 1000, 1, out, &olen, &rest), SOCKS_FAIL);
	assert_memory_equal(out, "HTTP/1.1 431 ", 13);
}

static void
test_replies(void **state)
{
	uint8_t buf[512];
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 5, NULL, buf, sizeof buf), 10);
	assert_memory_equal(buf, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	size_t n = socks_reply(SOCKS_PROTO_HTTP_CONNECT, 0, NULL, buf, sizeof buf);
	assert_int_equal(n, 39);
	assert_memory_equal(buf, "HTTP/1.1 200 Connection established\r\n\r\n", n);
	assert_int_equal(socks_reply(SOCKS_PROTO_HTTP_FORWARD, 0, NULL, buf, sizeof buf), 0);
	static const struct {
		uint8_t rep;
		const char *status;
	} map[] = {{2, "403"}, {4, "502"}, {5, "502"}, {6, "504"}, {1, "502"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		n = socks_reply(SOCKS_PROTO_HTTP_FORWARD, map[i].rep, NULL, buf, sizeof buf);
		assert_true(n > 12);
		assert_memory_equal(buf + 9, map[i].status, 3);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socks5_name_every_split),
	    cmocka_unit_test(test_socks5_addresses),
	    cmocka_unit_test(test_socks5_auth),
	    cmocka_unit_test(test_socks5_errors),
	    cmocka_unit_test(test_http_connect),
	    cmocka_unit_test(test_http_connect_auth),
	    cmocka_unit_test(test_http_forward),
	    cmocka_unit_test(test_http_errors),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
