/* The http transport's messages (proto/httpt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <http_parser.h>

#include "proto/http.h"
#include "proto/httpt.h"

#define ID "0123456789abcdef0123456789abcdef"

static void
test_query(void **state)
{
	struct httpt_query q;
	assert_int_equal(httpt_query_parse("b=" ID "&o=42&f=1", &q), 0);
	assert_string_equal(q.id, ID);
	assert_true(q.has_off && q.off == 42 && q.fin && !q.has_ack);
	assert_int_equal(httpt_query_parse("b=" ID "&a=18446744073&m=9999999&x=1", &q), 0);
	assert_true(q.has_ack && q.ack == 18446744073ull);
	assert_int_equal(q.max, HTTPT_BODY_MAX); /* capped */
	assert_int_equal(httpt_query_parse("_=123&b=" ID, &q), 0); /* cache busters pass */
	/* Not ours: no id, a short or upper-case id, a number that is not one. */
	assert_int_equal(httpt_query_parse("", &q), -1);
	assert_int_equal(httpt_query_parse("o=1", &q), -1);
	assert_int_equal(httpt_query_parse("b=0123", &q), -1);
	assert_int_equal(httpt_query_parse("b=0123456789ABCDEF0123456789ABCDEF", &q), -1);
	assert_int_equal(httpt_query_parse("b=" ID "&o=1x", &q), -1);
	assert_int_equal(httpt_query_parse("b=" ID "&o=", &q), -1);
	assert_int_equal(httpt_query_parse("b=" ID "&a=12345678901234567890", &q), -1);
}

/* What the client sends is what the server reads, through http_head_parse. */
static void
test_requests_round_trip(void **state)
{
	char buf[HTTPT_HEAD_MAX];
	size_t n = httpt_post_head(buf, sizeof buf, "", "/tunnel", "relay:8080", NULL, ID,
	    1234, 1, 77);
	assert_true(n > 0 && n == strlen(buf));
	struct http_head h;
	size_t hl;
	int st;
	const char *why;
	assert_int_equal(http_head_parse((const uint8_t *)buf, n, HTTP_HEAD_REQUEST, &h, &hl,
			     &st, &why), 1);
	assert_int_equal(hl, n);
	assert_int_equal(h.method, HTTP_POST);
	assert_string_equal(h.path, "/tunnel");
	assert_string_equal(h.host, "relay:8080");
	assert_int_equal(h.content_length, 77);
	struct httpt_query q;
	assert_int_equal(httpt_query_parse(h.query, &q), 0);
	assert_true(q.off == 1234 && q.fin);

	/* Through a forward proxy: an absolute target, its credentials. */
	n = httpt_get_head(buf, sizeof buf, "http://relay:80", "/", "relay", "Proxy-Authorization: Basic eDp5\r\n",
	    ID, 99, 65536);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "GET http://relay:80/?b=" ID "&a=99&m=65536 HTTP/1.1\r\n"));
	assert_non_null(strstr(buf, "Proxy-Authorization: Basic eDp5\r\n"));
	assert_int_equal(http_head_parse((const uint8_t *)buf, n, HTTP_HEAD_REQUEST, &h, &hl,
			     &st, &why), 1);
	assert_string_equal(h.path, "/");
	assert_int_equal(h.method, HTTP_GET);
	assert_int_equal(h.content_length, -1);
	assert_int_equal(httpt_query_parse(h.query, &q), 0);
	assert_true(q.has_ack && q.ack == 99 && q.max == 65536);

	/* Too small a buffer: 0, never a cut request. */
	assert_int_equal(httpt_get_head(buf, 40, "", "/", "h", NULL, ID, 0, 1), 0);
}

static void
test_response_and_prefix(void **state)
{
	char buf[256];
	size_t n = httpt_response_head(buf, sizeof buf, HTTPT_PREFIX + 5, 0);
	struct http_head h;
	size_t hl;
	int st;
	const char *why;
	assert_int_equal(http_head_parse((const uint8_t *)buf, n, HTTP_HEAD_RESPONSE, &h, &hl,
			     &st, &why), 1);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.content_length, HTTPT_PREFIX + 5);
	assert_false(h.keep_alive);
	uint8_t p[HTTPT_PREFIX];
	uint64_t off;
	uint8_t flags;
	httpt_prefix_encode(p, 0x0102030405060708ull, HTTPT_F_FIN | HTTPT_F_GONE);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[7], 8);
	httpt_prefix_decode(p, &off, &flags);
	assert_true(off == 0x0102030405060708ull && flags == 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_requests_round_trip),
	    cmocka_unit_test(test_response_and_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
