/* The proxy codecs: HTTP CONNECT and SOCKS5 (proto/proxy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proxy.h"

static void
test_http_request(void **state)
{
	char buf[1024];
	size_t n = proxy_http_request(buf, sizeof buf, "relay.example.com", 7700, NULL, NULL);
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "CONNECT relay.example.com:7700 HTTP/1.1\r\n"
				 "Host: relay.example.com:7700\r\nUser-Agent: burrow\r\n\r\n");
	n = proxy_http_request(buf, sizeof buf, "::1", 443, "alice", "s3:cret");
	assert_true(n > 0);
	assert_non_null(strstr(buf, "CONNECT [::1]:443 HTTP/1.1\r\n"));
	/* base64("alice:s3:cret") */
	assert_non_null(strstr(buf, "Proxy-Authorization: Basic YWxpY2U6czM6Y3JldA==\r\n"));
	assert_int_equal(proxy_http_request(buf, 40, "relay.example.com", 7700, NULL, NULL), 0);
}

static void
test_http_response(void **state)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n"
				 "Proxy-agent: x\r\n\r\nTUNNEL";
	int status;
	size_t len;
	char reason[64];
	const char *why;
	assert_int_equal(proxy_http_response((const uint8_t *)ok, sizeof ok - 1, &status,
			     &len, reason, sizeof reason, &why), 1);
	assert_int_equal(status, 200);
	assert_int_equal(len, sizeof ok - 1 - 6); /* the tunnel's bytes are not the head's */
	assert_string_equal(reason, "Connection established");
	/* Every cut short of the head wants more. */
	for (size_t i = 0; i < sizeof ok - 1 - 6; i++)
		assert_int_equal(proxy_http_response((const uint8_t *)ok, i, &status, &len,
				     reason, sizeof reason, &why), 0);
	static const char denied[] = "HTTP/1.0 407 Proxy Authentication Required\r\n\r\n";
	assert_int_equal(proxy_http_response((const uint8_t *)denied, sizeof denied - 1,
			     &status, &len, reason, 8, &why), 1);
	assert_int_equal(status, 407);
	assert_string_equal(reason, "Proxy A"); /* cut to the buffer */
	static const char short_status[] = "HTTP/1.1 20 OK\r\n\r\n";
	assert_int_equal(proxy_http_response((const uint8_t *)short_status,
			     sizeof short_status - 1, &status, &len, NULL, 0, &why), -1);
	static const char junk[] = "SSH-2.0-OpenSSH_9.2\r\n";
	assert_int_equal(proxy_http_response((const uint8_t *)junk, sizeof junk - 1,
			     &status, &len, NULL, 0, &why), -1);
	/* A head that never ends is refused at 8 KiB. */
	static char big[PROXY_HEAD_MAX + 100];
	int off = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n");
	while ((size_t)off + 12 < sizeof big)
		off += snprintf(big + off, sizeof big - (size_t)off, "X-Pad: abc\r\n");
	assert_int_equal(proxy_http_response((const uint8_t *)big, (size_t)off, &status,
			     &len, NULL, 0, &why), -1);
}

static void
test_socks5(void **state)
{
	uint8_t buf[SOCKS5_MSG_MAX];
	const char *why;
	int method;
	size_t len;
	assert_int_equal(socks5_greeting(buf, 0), 3);
	assert_memory_equal(buf, "\x05\x01\x00", 3);
	assert_int_equal(socks5_greeting(buf, 1), 4);
	assert_memory_equal(buf, "\x05\x02\x00\x02", 4);
	assert_int_equal(socks5_method((const uint8_t *)"\x05", 1, 1, &method, &why), 0);
	assert_int_equal(socks5_method((const uint8_t *)"\x05\x02", 2, 1, &method, &why), 1);
	assert_int_equal(method, 2);
	assert_int_equal(socks5_method((const uint8_t *)"\x05\x02", 2, 0, &method, &why), -1);
	assert_int_equal(socks5_method((const uint8_t *)"\x05\xff", 2, 0, &method, &why), -1);
	assert_int_equal(socks5_method((const uint8_t *)"\x04\x00", 2, 0, &method, &why), -1);

	assert_int_equal(socks5_auth_request(buf, "bob", "pw"), 8);
	assert_memory_equal(buf, "\x01\x03" "bob" "\x02" "pw", 8);
	assert_int_equal(socks5_auth_reply((const uint8_t *)"\x01\x00", 2, &why), 1);
	assert_int_equal(socks5_auth_reply((const uint8_t *)"\x01\x01", 2, &why), -1);
	assert_string_equal(why, "authentication failed");

	assert_int_equal(socks5_connect_request(buf, "localhost", 7700), 7 + 9);
	assert_memory_equal(buf, "\x05\x01\x00\x03\x09" "localhost" "\x1e\x14", 16);
	assert_int_equal(socks5_connect_request(buf, "127.0.0.1", 80), 10);
	assert_memory_equal(buf, "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 10);
	assert_int_equal(socks5_connect_request(buf, "::1", 80), 22);
	assert_int_equal(buf[3], 4);

	static const uint8_t ok4[] = {5, 0, 0, 1, 127, 0, 0, 1, 4, 56, 'X'};
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(socks5_connect_reply(ok4, i, &len, &why), 0);
	assert_int_equal(socks5_connect_reply(ok4, sizeof ok4, &len, &why), 1);
	assert_int_equal(len, 10);
	static const uint8_t okname[] = {5, 0, 0, 3, 2, 'a', 'b', 0, 80};
	assert_int_equal(socks5_connect_reply(okname, sizeof okname, &len, &why), 1);
	assert_int_equal(len, 9);
	static const uint8_t refused[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};
	assert_int_equal(socks5_connect_reply(refused, sizeof refused, &len, &why), -1);
	assert_string_equal(why, "connection refused by the destination");
	static const uint8_t badtype[] = {5, 0, 0, 9, 0, 0, 0, 0, 0, 0};
	assert_int_equal(socks5_connect_reply(badtype, sizeof badtype, &len, &why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_request),
	    cmocka_unit_test(test_http_response),
	    cmocka_unit_test(test_socks5),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
