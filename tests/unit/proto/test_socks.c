/* SOCKS5 and HTTP proxy requests, server side (proto/socks.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proto/socks.h"

/* A byte string literal and its length, NULs included. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1

#define IN_MAX (2 * HTTP_HEAD_MAX)

/* What a front saw while it fed one request. */
struct result {
	enum socks_status st;
	uint8_t wrote[2048]; /* every out it wrote, in order */
	size_t wrote_len;
	size_t rest;  /* input bytes never consumed */
	int checks;   /* CHECK_AUTH answered */
	char seen_user[256], seen_pass[256]; /* at the check */
	struct socks_req r;
};

/*
 * Feeds in as a front would: the first `first` bytes (0: all), then `step`
 * bytes at a time (0: the rest), writing what it is told to and answering
 * CHECK_AUTH with auth_ok. Stops at DONE or FAIL, or at MORE when all was
 * fed.
 */
static void
run(const uint8_t *in, size_t len, int require_auth, int auth_ok, size_t first,
    size_t step, struct result *res)
{
	static uint8_t buf[IN_MAX];
	size_t have = 0, fed = 0;
	struct socks_req *r = &res->r;
	assert_true(len <= sizeof buf);
	memset(res, 0, sizeof *res);
	socks_init(r, require_auth);
	for (;;) {
		size_t n = fed == 0 ? first : step;
		if (n == 0 || n > len - fed)
			n = len - fed;
		memcpy(buf + have, in + fed, n);
		have += n;
		fed += n;
		enum socks_status st;
		do {
			size_t used = (size_t)-1;
			st = socks_feed(r, buf, have, &used);
			assert_true(used <= have);
			assert_true(r->out_len <= sizeof r->out);
			memmove(buf, buf + used, have - used);
			have -= used;
			if (st == SOCKS_CHECK_AUTH) {
				res->checks++;
				snprintf(res->seen_user, sizeof res->seen_user, "%s", r->user);
				snprintf(res->seen_pass, sizeof res->seen_pass, "%s", r->pass);
				/* Asked again before the answer: the same question. */
				assert_int_equal(socks_feed(r, buf, have, &used), SOCKS_CHECK_AUTH);
				assert_int_equal(used, 0);
				st = socks_auth_result(r, auth_ok);
				assert_string_equal(r->pass, "");
			}
			if (st == SOCKS_WRITE || st == SOCKS_FAIL) {
				assert_true(res->wrote_len + r->out_len <= sizeof res->wrote);
				memcpy(res->wrote + res->wrote_len, r->out, r->out_len);
				res->wrote_len += r->out_len;
			}
		} while (st == SOCKS_WRITE);
		if (st != SOCKS_MORE || fed == len) {
			res->st = st;
			res->rest = have + len - fed;
			break;
		}
	}
	if (res->st == SOCKS_DONE || res->st == SOCKS_FAIL) {
		/* It says so again and takes nothing more. */
		size_t used = (size_t)-1;
		struct socks_req copy = *r;
		assert_int_equal(socks_feed(&copy, buf, have, &used), res->st);
		assert_int_equal(used, 0);
	}
	if (res->st == SOCKS_FAIL)
		assert_non_null(r->why);
}

static void
assert_same(const struct result *a, const struct result *b, const char *how, size_t at)
{
	const struct socks_req *x = &a->r, *y = &b->r;
	if (a->st != b->st || a->wrote_len != b->wrote_len ||
	    memcmp(a->wrote, b->wrote, a->wrote_len) != 0 || a->rest != b->rest ||
	    a->checks != b->checks || strcmp(a->seen_user, b->seen_user) != 0 ||
	    strcmp(a->seen_pass, b->seen_pass) != 0 || x->proto != y->proto ||
	    strcmp(x->host, y->host) != 0 || x->port != y->port ||
	    x->host_is_name != y->host_is_name || strcmp(x->user, y->user) != 0 ||
	    x->fwd_len != y->fwd_len || memcmp(x->fwd_head, y->fwd_head, x->fwd_len) != 0 ||
	    x->why != y->why || x->fail_rep != y->fail_rep ||
	    x->fail_status != y->fail_status)
		fail_msg("fed %s %zu: not as when fed whole (status %d, why %s)", how, at,
		    b->st, y->why ? y->why : "-");
}

/*
 * Feeds in whole, then byte by byte and split at every point (at some for
 * a long input): each way must end the same. The whole run's result.
 */
static void
run_all(const uint8_t *in, size_t len, int require_auth, int auth_ok,
    struct result *res)
{
	static struct result other;
	run(in, len, require_auth, auth_ok, 0, 0, res);
	run(in, len, require_auth, auth_ok, 1, 1, &other);
	assert_same(res, &other, "byte by byte", 1);
	size_t every = len <= 2048 ? 1 : 97;
	for (size_t k = 1; k < len; k += every) {
		run(in, len, require_auth, auth_ok, k, 0, &other);
		assert_same(res, &other, "split at", k);
	}
}

/* The whole response fail_http writes: status line, extra headers, why. */
static size_t
http_error(char *buf, size_t cap, const char *status, const char *extra,
    const char *why)
{
	char body[200];
	snprintf(body, sizeof body, "burrow: %s\n", why);
	int n = snprintf(buf, cap, "HTTP/1.1 %s\r\n%sContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, extra, strlen(body), body);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* ---- SOCKS5 ---- */

static void
test_socks5_name(void **state)
{
	static const uint8_t in[] = {5, 1, 0, 5, 1, 0, 3, 9, 'l', 'o', 'c', 'a', 'l',
	    'h', 'o', 's', 't', 0, 80, 'h', 'i'};
	static struct result res;
	run_all(in, sizeof in, 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.r.proto, SOCKS_PROTO_SOCKS5);
	assert_string_equal(res.r.host, "localhost");
	assert_true(res.r.host_is_name);
	assert_int_equal(res.r.port, 80);
	assert_int_equal(res.wrote_len, 2); /* method choice: no authentication */
	assert_memory_equal(res.wrote, "\x05\x00", 2);
	assert_int_equal(res.rest, 2); /* "hi": the client's first data */
	assert_int_equal(res.checks, 0);
	assert_int_equal(res.r.fwd_len, 0);
}

static void
test_socks5_addresses(void **state)
{
	static const uint8_t v4[] = {5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90};
	static const uint8_t v6[] = {5, 1, 0, 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22, 0xff};
	static uint8_t longest[3 + 5 + 255 + 2];
	static struct result res;
	run_all(v4, sizeof v4, 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.r.host, "127.0.0.1");
	assert_false(res.r.host_is_name);
	assert_int_equal(res.r.port, 8080);
	assert_int_equal(res.rest, 0);
	run_all(v6, sizeof v6, 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.r.host, "2001:db8::1");
	assert_false(res.r.host_is_name);
	assert_int_equal(res.r.port, 22);
	assert_int_equal(res.rest, 1);
	/* A name of 255 bytes, the most ATYP 3 can say. */
	memcpy(longest, "\x05\x01\x00\x05\x01\x00\x03\xff", 8);
	memset(longest + 8, 'a', 255);
	longest[8 + 255] = 0xff;
	longest[8 + 256] = 0xff;
	run_all(longest, sizeof longest, 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(strlen(res.r.host), 255);
	assert_int_equal(res.r.port, 65535);
}

static void
test_socks5_auth(void **state)
{
	/* Offers both; the password may hold ':'. */
	static const uint8_t in[] = {5, 2, 0, 2, 1, 4, 'u', 's', 'e', 'r', 3, 'p', ':',
	    'w', 5, 1, 0, 3, 1, 'h', 0, 1, 'x'};
	static struct result res;
	run_all(in, sizeof in, 1, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.wrote_len, 4); /* user/pass chosen, then success */
	assert_memory_equal(res.wrote, "\x05\x02\x01\x00", 4);
	assert_int_equal(res.checks, 1);
	assert_string_equal(res.seen_user, "user");
	assert_string_equal(res.seen_pass, "p:w");
	assert_string_equal(res.r.user, "user");
	assert_string_equal(res.r.pass, ""); /* wiped once answered */
	assert_string_equal(res.r.host, "h");
	assert_int_equal(res.r.port, 1);
	assert_int_equal(res.rest, 1);

	/* Wrong: RFC 1929 failure status, and close. */
	run_all(in, sizeof in, 1, 0, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_int_equal(res.wrote_len, 4);
	assert_memory_equal(res.wrote, "\x05\x02\x01\x01", 4);
	assert_string_equal(res.r.why, "wrong SOCKS5 username or password");
	assert_int_equal(res.r.fail_rep, 0);
	assert_string_equal(res.r.pass, "");

	/* An empty password, as curl sends for `user:`. */
	static const uint8_t nopass[] = {5, 1, 2, 1, 1, 'u', 0, 5, 1, 0, 1, 1, 2, 3, 4,
	    0, 9};
	run_all(nopass, sizeof nopass, 1, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.seen_user, "u");
	assert_string_equal(res.seen_pass, "");
	assert_string_equal(res.r.host, "1.2.3.4");

	/* Not required, only user/pass offered: taken, any credentials pass. */
	run_all(nopass, sizeof nopass, 0, 0, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.checks, 0);
	assert_memory_equal(res.wrote, "\x05\x02\x01\x00", 4);
	assert_string_equal(res.r.user, "u");

	/* Not required, both offered: none. */
	static const uint8_t both[] = {5, 2, 2, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 9};
	run_all(both, sizeof both, 0, 0, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.wrote_len, 2);
	assert_memory_equal(res.wrote, "\x05\x00", 2);
}

/* A refused request: what was written in all, and why. */
struct refusal {
	const uint8_t *in;
	size_t len;
	int require_auth;
	const char *wrote;
	size_t wrote_len;
	int fail_rep;
	const char *why;
};

#define S5(in, wrote, rep, why) {B(in), 0, wrote, sizeof(wrote) - 1, rep, why}
#define S5A(in, wrote, why) {B(in), 1, wrote, sizeof(wrote) - 1, 0, why}
/* The method choice, then the reply to a refused request: 05 REP 00 01 0.0.0.0:0. */
#define REPLY(rep) "\x05\x00\x05" rep "\x00\x01\x00\x00\x00\x00\x00\x00"
#define V4REQ(cmd, rsv) "\x05\x01\x00\x05" cmd rsv "\x01\x7f\x00\x00\x01\x00\x50"
#define NAMEREQ(n) "\x05\x01\x00\x05\x01\x00\x03" n "\x00\x50"

static void
test_socks5_refused(void **state)
{
	static const struct refusal cases[] = {
	    S5("\x05\x00", "", 0, "SOCKS5 greeting offers no method"),
	    S5("\x05\x01\x01", "\x05\xff", 0, "SOCKS5 client offers no method we speak"),
	    S5A("\x05\x01\x00", "\x05\xff", "SOCKS5 client offers no username/password"),
	    S5(V4REQ("\x02", "\x00"), REPLY("\x07"), 7, "SOCKS5 BIND is not supported"),
	    S5(V4REQ("\x03", "\x00"), REPLY("\x07"), 7,
		"SOCKS5 UDP ASSOCIATE is not supported"),
	    S5(V4REQ("\x09", "\x00"), REPLY("\x07"), 7, "unknown SOCKS5 command"),
	    S5(V4REQ("\x01", "\x01"), REPLY("\x01"), 1, "SOCKS5 reserved byte is not 0"),
	    S5("\x05\x01\x00\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50", REPLY("\x01"), 1,
		"bad SOCKS5 request version"),
	    S5("\x05\x01\x00\x05\x01\x00\x05\x00\x00\x00\x00\x00\x50", REPLY("\x08"), 8,
		"unknown SOCKS5 address type"),
	    S5("\x05\x01\x00\x05\x01\x00\x00", REPLY("\x08"), 8,
		"unknown SOCKS5 address type"),
	    S5("\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00", REPLY("\x01"), 1,
		"destination port 0"),
	    S5(NAMEREQ("\x00"), REPLY("\x04"), 4, "empty host name"),
	    S5(NAMEREQ("\x03" "a\nb"), REPLY("\x04"), 4,
		"host name with a blank, control or non-ASCII byte"),
	    S5(NAMEREQ("\x03" "a b"), REPLY("\x04"), 4,
		"host name with a blank, control or non-ASCII byte"),
	    S5(NAMEREQ("\x03" "a\x00" "b"), REPLY("\x04"), 4,
		"host name with a blank, control or non-ASCII byte"),
	    S5(NAMEREQ("\x03" "\xc3\xa9x"), REPLY("\x04"), 4,
		"host name with a blank, control or non-ASCII byte"),
	    S5A("\x05\x01\x02\x02\x01u\x01p", "\x05\x02\x01\x01",
		"bad SOCKS5 username/password version"),
	    S5A("\x05\x01\x02\x01\x00\x01p", "\x05\x02\x01\x01", "empty SOCKS5 user name"),
	    S5A("\x05\x01\x02\x01\x02u\x00\x01p", "\x05\x02\x01\x01",
		"NUL byte in the SOCKS5 user name or password"),
	    S5A("\x05\x01\x02\x01\x01u\x02p\x00", "\x05\x02\x01\x01",
		"NUL byte in the SOCKS5 user name or password"),
	    /* Not SOCKS5 nor HTTP: nothing to say in the client's protocol. */
	    S5("\x04\x01\x00\x50\x7f\x00\x00\x01\x00", "", 0,
		"SOCKS4 is not supported (use SOCKS5)"),
	    S5("\x04\x01\x00\x50\x00\x00\x00\x01\x00h\x00", "", 0,
		"SOCKS4 is not supported (use SOCKS5)"),
	    S5("\x16\x03\x01\x00\x05", "", 0, "neither SOCKS5 nor HTTP"),
	    S5("get http://x/ HTTP/1.1\r\n\r\n", "", 0, "neither SOCKS5 nor HTTP"),
	};
	static struct result res;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct refusal *c = &cases[i];
		run_all(c->in, c->len, c->require_auth, 1, &res);
		if (res.st != SOCKS_FAIL)
			fail_msg("case %zu (%s): status %d", i, c->why, res.st);
		assert_string_equal(res.r.why, c->why);
		if (res.wrote_len != c->wrote_len ||
		    memcmp(res.wrote, c->wrote, c->wrote_len) != 0)
			fail_msg("case %zu (%s): wrote %zu bytes, want %zu", i, c->why,
			    res.wrote_len, c->wrote_len);
		assert_int_equal(res.r.fail_rep, c->fail_rep);
		assert_int_equal(res.r.fail_status, 0);
		assert_int_equal(res.r.proto, c->in[0] == 5 ? SOCKS_PROTO_SOCKS5
							    : SOCKS_PROTO_NONE);
	}
}

static void
test_misuse(void **state)
{
	struct socks_req r;
	size_t used = 1;
	socks_init(&r, 0);
	assert_int_equal(socks_feed(&r, NULL, 0, &used), SOCKS_MORE);
	assert_int_equal(used, 0);
	/* An answer nobody asked for ends it. */
	assert_int_equal(socks_auth_result(&r, 1), SOCKS_FAIL);
	assert_string_equal(r.why, "credentials checked when none were asked for");
	assert_int_equal(r.out_len, 0);
}

/* ---- HTTP ---- */

static void
test_http_connect(void **state)
{
	static struct result res;
	run_all(B("CONNECT [::1]:22 HTTP/1.1\r\nHost: [::1]:22\r\n\r\nSSH-2.0"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.r.proto, SOCKS_PROTO_HTTP_CONNECT);
	assert_string_equal(res.r.host, "::1");
	assert_false(res.r.host_is_name);
	assert_int_equal(res.r.port, 22);
	assert_int_equal(res.wrote_len, 0); /* the 200 comes from socks_reply */
	assert_int_equal(res.rest, 7);
	assert_int_equal(res.r.fwd_len, 0);

	run_all(B("CONNECT example.com:443 HTTP/1.0\n\n"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.r.host, "example.com");
	assert_true(res.r.host_is_name);
	assert_int_equal(res.r.port, 443);
	assert_int_equal(res.rest, 0);

	run_all(B("CONNECT 192.0.2.1:80 HTTP/1.1\r\nUser-Agent: x\r\n\r\n"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.r.host, "192.0.2.1");
	assert_false(res.r.host_is_name);
}

static const char want_407[] =
    "HTTP/1.1 407 Proxy Authentication Required\r\n"
    "Proxy-Authenticate: Basic realm=\"burrow\"\r\n"
    "Content-Type: text/plain\r\nContent-Length: 33\r\nConnection: close\r\n\r\n"
    "burrow: proxy credentials needed\n";

static void
test_http_connect_auth(void **state)
{
	/* dXNlcjpwOnc= is "user:p:w": the password may hold ':'. */
	static const char req[] = "CONNECT h:443 HTTP/1.1\r\n"
				  "Proxy-Authorization: Basic dXNlcjpwOnc=\r\n\r\nearly";
	static struct result res;
	char want[512];
	run_all(B(req), 1, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.checks, 1);
	assert_string_equal(res.seen_user, "user");
	assert_string_equal(res.seen_pass, "p:w");
	assert_string_equal(res.r.pass, "");
	assert_int_equal(res.wrote_len, 0);
	assert_int_equal(res.rest, 5);
	assert_string_equal(res.r.host, "h");

	run_all(B(req), 1, 0, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	size_t n = http_error(want, sizeof want, "407 Proxy Authentication Required",
	    "Proxy-Authenticate: Basic realm=\"burrow\"\r\n", "wrong proxy credentials");
	assert_int_equal(res.wrote_len, n);
	assert_memory_equal(res.wrote, want, n);
	assert_int_equal(res.r.fail_status, 407);

	/* None: 407 without asking the caller. */
	run_all(B("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 1, 1, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_int_equal(res.checks, 0);
	assert_int_equal(res.wrote_len, sizeof want_407 - 1);
	assert_memory_equal(res.wrote, want_407, sizeof want_407 - 1);

	/* Not Basic user:password: 407 too, which says Basic. */
	static const char *const bad[] = {
	    "Digest username=\"u\"",
	    "Basic",
	    "Basic !!!!",
	    "Basic dXNlcg==", /* "user": no colon */
	    "Basic dXNlcjo",  /* not a multiple of 4 */
	    "Basic dQB4OnA=", /* "u\0x:p" */
	    "Bearer dXNlcjpwOnc=",
	};
	n = http_error(want, sizeof want, "407 Proxy Authentication Required",
	    "Proxy-Authenticate: Basic realm=\"burrow\"\r\n",
	    "proxy credentials not Basic user:password");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char r[256];
		int rl = snprintf(r, sizeof r,
		    "CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: %s\r\n\r\n", bad[i]);
		run_all((const uint8_t *)r, (size_t)rl, 1, 1, &res);
		if (res.st != SOCKS_FAIL || res.checks != 0)
			fail_msg("case %zu (%s) accepted", i, bad[i]);
		assert_int_equal(res.wrote_len, n);
		assert_memory_equal(res.wrote, want, n);
	}

	/* The scheme in any case, blanks around the credentials. */
	run_all(B("CONNECT h:1 HTTP/1.1\r\nproxy-authorization:  bASIC   dTo= \r\n\r\n"),
	    1, 1, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_string_equal(res.seen_user, "u");
	assert_string_equal(res.seen_pass, "");

	/* Not asked for: credentials, good or bad, are not even read. */
	run_all(B(req), 0, 0, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.checks, 0);
	assert_string_equal(res.r.user, "");
	run_all(B("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Digest x\r\n\r\n"), 0, 0,
	    &res);
	assert_int_equal(res.st, SOCKS_DONE);
}

static void
test_http_forward(void **state)
{
	static const char req[] =
	    "GET http://example.com:8080/a?b=c#frag HTTP/1.1\r\n"
	    "Host: elsewhere\r\nProxy-Connection: keep-alive\r\n"
	    "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 300\r\n"
	    "Accept: */*\r\nProxy-Authorization: Basic dXNlcjpwOnc=\r\n"
	    "X-Hopper: stays\r\nUser-Agent: t\r\n\r\nrest";
	static const char want[] = "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\n"
				   "Accept: */*\r\nX-Hopper: stays\r\nUser-Agent: t\r\n"
				   "Connection: close\r\n\r\n";
	static struct result res;
	for (int auth = 0; auth <= 1; auth++) {
		run_all(B(req), auth, 1, &res);
		assert_int_equal(res.st, SOCKS_DONE);
		assert_int_equal(res.checks, auth);
		assert_int_equal(res.r.proto, SOCKS_PROTO_HTTP_FORWARD);
		assert_string_equal(res.r.host, "example.com");
		assert_true(res.r.host_is_name);
		assert_int_equal(res.r.port, 8080);
		assert_int_equal(res.rest, 4);
		assert_int_equal(res.wrote_len, 0);
		assert_int_equal(res.r.fwd_len, sizeof want - 1);
		assert_memory_equal(res.r.fwd_head, want, sizeof want - 1);
	}

	static const struct {
		const char *req, *fwd, *host;
		uint16_t port;
		size_t rest;
	} cases[] = {
	    /* No Host header, no path; HTTP/1.0 stays. */
	    {"GET http://h HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n", "h", 80, 0},
	    /* A query without a path; lines ending in LF alone. */
	    {"HEAD HTTP://H?x=1 HTTP/1.1\nAccept: a\n\n",
		"HEAD /?x=1 HTTP/1.1\r\nHost: H\r\nAccept: a\r\nConnection: close\r\n\r\n",
		"H", 80, 0},
	    /* Blanks and empty entries in Connection. */
	    {"GET http://h/ HTTP/1.1\r\nConnection: X-A , ,X-B \r\nX-A: 1\r\nX-B: 2\r\n"
	     "X-C: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX-C: 3\r\nConnection: close\r\n\r\n", "h", 80, 0},
	    /* An IPv6 literal; the body is the client's data. */
	    {"POST http://[::1]:8080/up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"POST /up HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 3\r\n"
		"Connection: close\r\n\r\n", "::1", 8080, 3},
	    {"PUT http://10.0.0.1:81/ HTTP/1.1\r\nConnection: close\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: 10.0.0.1:81\r\nConnection: close\r\n\r\n",
		"10.0.0.1", 81, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run_all((const uint8_t *)cases[i].req, strlen(cases[i].req), 0, 1, &res);
		if (res.st != SOCKS_DONE)
			fail_msg("case %zu: %s", i, res.r.why);
		assert_string_equal(res.r.host, cases[i].host);
		assert_int_equal(res.r.port, cases[i].port);
		assert_int_equal(res.rest, cases[i].rest);
		assert_int_equal(res.r.fwd_len, strlen(cases[i].fwd));
		assert_memory_equal(res.r.fwd_head, cases[i].fwd, res.r.fwd_len);
	}
	assert_false(res.r.host_is_name);

	/* A URL longer than http_head_parse's path. */
	static char longreq[4096], longfwd[4096];
	char path[3000];
	memset(path, 'p', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	snprintf(longreq, sizeof longreq, "GET http://h/%s HTTP/1.1\r\n\r\n", path);
	snprintf(longfwd, sizeof longfwd,
	    "GET /%s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", path);
	run((const uint8_t *)longreq, strlen(longreq), 0, 1, 0, 0, &res);
	assert_int_equal(res.st, SOCKS_DONE);
	assert_int_equal(res.r.fwd_len, strlen(longfwd));
	assert_memory_equal(res.r.fwd_head, longfwd, res.r.fwd_len);
}

static void
test_http_refused(void **state)
{
	static const struct {
		const char *req, *status, *why;
	} cases[] = {
	    {"GET /origin HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request",
		"not a proxy request (no absolute http:// URL)"},
	    {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request",
		"not a proxy request (no absolute http:// URL)"},
	    {"GET https://x/ HTTP/1.1\r\n\r\n", "400 Bad Request",
		"https:// through a plain proxy: use CONNECT"},
	    {"GET ftp://x/ HTTP/1.1\r\n\r\n", "400 Bad Request", "only http:// URLs"},
	    {"GET http://u:p@x/ HTTP/1.1\r\n\r\n", "400 Bad Request", "user name in the URL"},
	    {"GET http://@x/ HTTP/1.1\r\n\r\n", "400 Bad Request", "user name in the URL"},
	    {"GET http://x:0/ HTTP/1.1\r\n\r\n", "400 Bad Request", "destination port 0"},
	    {"GET http://x:65536/ HTTP/1.1\r\n\r\n", "400 Bad Request", "bad request target"},
	    {"CONNECT x HTTP/1.1\r\n\r\n", "400 Bad Request", "bad request target"},
	    {"CONNECT x:0 HTTP/1.1\r\n\r\n", "400 Bad Request", "destination port 0"},
	    {"CONNECT u@x:1 HTTP/1.1\r\n\r\n", "400 Bad Request", "bad request target"},
	    {"CONNECT [1:2:3:4:5:6:7:8:9]:80 HTTP/1.1\r\n\r\n", "400 Bad Request",
		"bad IPv6 address"},
	    {"GET http://x/ HTTP/2.0\r\n\r\n", "400 Bad Request", "not HTTP/1.x"},
	    {"GET http://x/\r\n\r\n", "400 Bad Request", "not HTTP/1.x"}, /* 0.9 */
	    {"GARBAGE\r\n\r\n", "400 Bad Request", "not an HTTP request"},
	    /* A bare CR or a control byte: http-parser refuses most, not all. */
	    {"GET http://x/ HTTP/1.1\r\nA: b\rXC: d\r\n\r\n", "400 Bad Request",
		"not an HTTP request"},
	    {"GET http://x/ HTTP/1.1\r\nA: b\x01" "c\r\n\r\n", "400 Bad Request",
		"not an HTTP request"},
	    /* At the start of a value http-parser takes "\ry" for a line end. */
	    {"GET http://x/ HTTP/1.1\r\nA: \ry\r\n\r\n", "400 Bad Request",
		"CR without LF in the request head"},
	    {"GET http://x/ HTTP/1.1\r\nA: \x01y\r\n\r\n", "400 Bad Request",
		"control byte in the request head"},
	    {"GET http://x/ HTTP/1.1\r\nA:\x7f\r\n\r\n", "400 Bad Request",
		"control byte in the request head"},
	    {"GET http://x/ HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "400 Bad Request",
		"folded header line"},
	    {"GET http://x/ HTTP/1.1\nA: b\n\tc\n\n", "400 Bad Request",
		"folded header line"},
	    {"GET http://x/ HTTP/1.1\r\nConnection: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\r\n"
	     "\r\n", "400 Bad Request", "too many Connection options"},
	};
	static struct result res;
	char want[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run_all((const uint8_t *)cases[i].req, strlen(cases[i].req), 0, 1, &res);
		if (res.st != SOCKS_FAIL)
			fail_msg("case %zu accepted", i);
		if (strcmp(res.r.why, cases[i].why) != 0)
			fail_msg("case %zu: %s, want %s", i, res.r.why, cases[i].why);
		size_t n = http_error(want, sizeof want, cases[i].status, "", cases[i].why);
		assert_int_equal(res.wrote_len, n);
		assert_memory_equal(res.wrote, want, n);
		assert_int_equal(res.r.fail_status, 400);
		assert_int_equal(res.r.fail_rep, 0);
		assert_int_equal(res.r.fwd_len, 0);
	}

	/* Not HTTP, such as an SSH client's banner: refused at its first line,
	 * with no blank line to wait for. */
	run_all(B("SSH-2.0-OpenSSH_9.6\r\n"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_string_equal(res.r.why, "not an HTTP request");
	assert_int_equal(res.r.fail_status, 400);

	/* A NUL byte, in a value and at its start. */
	run_all(B("GET http://x/ HTTP/1.1\r\nA: b\0c\r\n\r\n"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_string_equal(res.r.why, "not an HTTP request");
	run_all(B("GET http://h/ HTTP/1.1\nHost: h\nX: \0y\n\n"), 0, 1, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_string_equal(res.r.why, "control byte in the request head");
	assert_int_equal(res.r.fail_status, 400);

	/* A host name longer than a name can be. */
	static char longhost[512];
	char host[300];
	memset(host, 'a', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(longhost, sizeof longhost, "CONNECT %s:80 HTTP/1.1\r\n\r\n", host);
	run((const uint8_t *)longhost, strlen(longhost), 0, 1, 0, 0, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	assert_string_equal(res.r.why, "host name too long");

	/* A head that never ends: 431 at 8 KiB, whatever the slices. */
	static uint8_t big[HTTP_HEAD_MAX + 100];
	memset(big, 'a', sizeof big);
	memcpy(big, "GET http://x/ HTTP/1.1\r\nX: ", 27);
	run_all(big, sizeof big, 0, 1, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	size_t n = http_error(want, sizeof want, "431 Request Header Fields Too Large", "",
	    "request head longer than 8 KiB");
	assert_int_equal(res.wrote_len, n);
	assert_memory_equal(res.wrote, want, n);
	assert_int_equal(res.r.fail_status, 431);

	/* One that fits, but not once its lines end in CRLF. */
	size_t len = 0;
	len += (size_t)snprintf((char *)big, sizeof big, "GET http://x/ HTTP/1.1\n");
	while (len + 3 < HTTP_HEAD_MAX - 1) {
		memcpy(big + len, "a:\n", 3);
		len += 3;
	}
	big[len++] = '\n';
	run(big, len, 0, 1, 0, 0, &res);
	assert_int_equal(res.st, SOCKS_FAIL);
	n = http_error(want, sizeof want, "431 Request Header Fields Too Large", "",
	    "request head too long to forward");
	assert_int_equal(res.wrote_len, n);
	assert_memory_equal(res.wrote, want, n);
}

/* ---- Replies ---- */

static void
test_replies(void **state)
{
	uint8_t buf[512];
	char want[512];
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 5, NULL, buf, sizeof buf), 10);
	assert_memory_equal(buf, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 0, NULL, buf, 9), 0);

	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1080)};
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 0, (struct sockaddr *)&s4, buf,
	    sizeof buf), 10);
	assert_memory_equal(buf, "\x05\x00\x00\x01\xc0\x00\x02\x01\x04\x38", 10);

	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 0, (struct sockaddr *)&s6, buf,
	    sizeof buf), 22);
	assert_memory_equal(buf, "\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb", 22);
	assert_int_equal(socks_reply(SOCKS_PROTO_SOCKS5, 0, (struct sockaddr *)&s6, buf,
	    21), 0);

	size_t n = socks_reply(SOCKS_PROTO_HTTP_CONNECT, 0, NULL, buf, sizeof buf);
	assert_int_equal(n, 39);
	assert_memory_equal(buf, "HTTP/1.1 200 Connection established\r\n\r\n", n);
	assert_int_equal(socks_reply(SOCKS_PROTO_HTTP_FORWARD, 0, NULL, buf, sizeof buf), 0);
	assert_int_equal(socks_reply(SOCKS_PROTO_NONE, 1, NULL, buf, sizeof buf), 0);

	static const struct {
		uint8_t rep;
		const char *status, *text;
	} map[] = {
	    {1, "502 Bad Gateway", "cannot connect"},
	    {2, "403 Forbidden", "destination not allowed"},
	    {3, "502 Bad Gateway", "network unreachable"},
	    {4, "502 Bad Gateway", "host unreachable"},
	    {5, "502 Bad Gateway", "connection refused"},
	    {6, "504 Gateway Timeout", "connection timed out"},
	    {7, "502 Bad Gateway", "cannot connect"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		size_t wl = http_error(want, sizeof want, map[i].status, "", map[i].text);
		for (int p = SOCKS_PROTO_HTTP_CONNECT; p <= SOCKS_PROTO_HTTP_FORWARD; p++) {
			n = socks_reply((enum socks_proto)p, map[i].rep, NULL, buf, sizeof buf);
			assert_int_equal(n, wl);
			assert_memory_equal(buf, want, n);
		}
	}
	assert_int_equal(socks_reply(SOCKS_PROTO_HTTP_CONNECT, 4, NULL, buf, 50), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socks5_name),
	    cmocka_unit_test(test_socks5_addresses),
	    cmocka_unit_test(test_socks5_auth),
	    cmocka_unit_test(test_socks5_refused),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_http_connect),
	    cmocka_unit_test(test_http_connect_auth),
	    cmocka_unit_test(test_http_forward),
	    cmocka_unit_test(test_http_refused),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
