/* Unit tests for src/proto/proxyproto.c: PROXY protocol v1 and v2 headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proto/proxyproto.h"

static struct sockaddr_storage
v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Encodes, checks the exact bytes, then that every shorter buffer fails. */
static void
expect(int version, const struct sockaddr *s, const struct sockaddr *d,
    const void *want, size_t wantlen)
{
	uint8_t buf[PROXYPROTO_MAX + 8];
	memset(buf, 0xee, sizeof buf);
	size_t n = proxyproto_encode(version, s, d, buf, sizeof buf);
	assert_int_equal(n, wantlen);
	assert_memory_equal(buf, want, wantlen);
	assert_true(n <= PROXYPROTO_MAX);
	/* Exactly enough room is enough: a header has no NUL. */
	memset(buf, 0xee, sizeof buf);
	assert_int_equal(proxyproto_encode(version, s, d, buf, wantlen), wantlen);
	assert_memory_equal(buf, want, wantlen);
	assert_int_equal(buf[wantlen], 0xee);
	for (size_t k = 0; k < wantlen; k++)
		assert_int_equal(proxyproto_encode(version, s, d, buf, k), 0);
}

#define EXPECT_STR(v, s, d, str) expect(v, s, d, str, sizeof str - 1)

static void
test_v1_tcp4(void **state)
{
	struct sockaddr_storage s = v4("192.0.2.7", 51234), d = v4("127.0.0.1", 8080);
	EXPECT_STR(1, SA(s), SA(d), "PROXY TCP4 192.0.2.7 127.0.0.1 51234 8080\r\n");
}

static void
test_v1_tcp6(void **state)
{
	struct sockaddr_storage s = v6("2001:db8::1", 1), d = v6("::1", 65535);
	EXPECT_STR(1, SA(s), SA(d), "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
}

static void
test_v1_longest(void **state)
{
	const char *ip = "fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
	struct sockaddr_storage s = v6(ip, 65535), d = v6(ip, 65535);
	char want[PROXYPROTO_MAX + 1];
	int n = snprintf(want, sizeof want, "PROXY TCP6 %s %s 65535 65535\r\n", ip, ip);
	assert_int_equal(n, 104); /* 39 characters each: the longest */
	expect(1, SA(s), SA(d), want, (size_t)n);
}

static void
test_v1_unknown(void **state)
{
	struct sockaddr_storage s4 = v4("192.0.2.7", 1), d6 = v6("2001:db8::2", 2);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	EXPECT_STR(1, SA(s4), SA(d6), "PROXY UNKNOWN\r\n");
	EXPECT_STR(1, SA(d6), SA(s4), "PROXY UNKNOWN\r\n");
	EXPECT_STR(1, SA(s4), NULL, "PROXY UNKNOWN\r\n");
	EXPECT_STR(1, NULL, NULL, "PROXY UNKNOWN\r\n");
	EXPECT_STR(1, SA(un), SA(s4), "PROXY UNKNOWN\r\n");
}

/* A dual-stack listener's ::ffff:a.b.c.d reads as IPv4 beside IPv4. */
static void
test_v1_mapped(void **state)
{
	struct sockaddr_storage s = v6("::ffff:192.0.2.7", 40000),
				d = v6("::ffff:127.0.0.1", 80), d4 = v4("10.0.0.1", 80),
				d6 = v6("2001:db8::2", 80);
	EXPECT_STR(1, SA(s), SA(d), "PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\n");
	EXPECT_STR(1, SA(s), SA(d4), "PROXY TCP4 192.0.2.7 10.0.0.1 40000 80\r\n");
	EXPECT_STR(1, SA(s), SA(d6),
	    "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::2 40000 80\r\n");
}

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a,
    0x51, 0x55, 0x49, 0x54, 0x0a};

static void
test_v2_tcp4(void **state)
{
	struct sockaddr_storage s = v4("192.0.2.7", 0xc822), d = v4("127.0.0.1", 0x1f90);
	uint8_t want[28];
	memcpy(want, sig, 12);
	const uint8_t rest[] = {0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 7, 127, 0, 0, 1,
	    0xc8, 0x22, 0x1f, 0x90};
	memcpy(want + 12, rest, sizeof rest);
	expect(2, SA(s), SA(d), want, sizeof want);
}

static void
test_v2_tcp6(void **state)
{
	struct sockaddr_storage s = v6("2001:db8::1", 1), d = v6("::1", 0xfffe);
	uint8_t want[52] = {0};
	memcpy(want, sig, 12);
	want[12] = 0x21;
	want[13] = 0x21;
	want[14] = 0x00;
	want[15] = 36;
	want[16] = 0x20;
	want[17] = 0x01;
	want[18] = 0x0d;
	want[19] = 0xb8;
	want[31] = 1;        /* 2001:db8::1 */
	want[47] = 1;        /* ::1 */
	want[48] = 0x00;
	want[49] = 0x01;
	want[50] = 0xff;
	want[51] = 0xfe;
	expect(2, SA(s), SA(d), want, sizeof want);
}

static void
test_v2_unknown_is_local(void **state)
{
	struct sockaddr_storage s4 = v4("192.0.2.7", 1), d6 = v6("2001:db8::2", 2);
	uint8_t want[16];
	memcpy(want, sig, 12);
	const uint8_t rest[] = {0x20, 0x00, 0x00, 0x00};
	memcpy(want + 12, rest, sizeof rest);
	expect(2, SA(s4), SA(d6), want, sizeof want);
	expect(2, NULL, SA(s4), want, sizeof want);
	expect(2, NULL, NULL, want, sizeof want);
}

static void
test_v2_mapped(void **state)
{
	struct sockaddr_storage s = v6("::ffff:192.0.2.7", 0x0102),
				d = v4("127.0.0.1", 0x0304);
	uint8_t want[28];
	memcpy(want, sig, 12);
	const uint8_t rest[] = {0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 7, 127, 0, 0, 1,
	    0x01, 0x02, 0x03, 0x04};
	memcpy(want + 12, rest, sizeof rest);
	expect(2, SA(s), SA(d), want, sizeof want);
}

static void
test_bad_version(void **state)
{
	struct sockaddr_storage s = v4("192.0.2.7", 1), d = v4("127.0.0.1", 2);
	uint8_t buf[PROXYPROTO_MAX];
	assert_int_equal(proxyproto_encode(0, SA(s), SA(d), buf, sizeof buf), 0);
	assert_int_equal(proxyproto_encode(3, SA(s), SA(d), buf, sizeof buf), 0);
	assert_int_equal(proxyproto_encode(-1, NULL, NULL, buf, sizeof buf), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_tcp4),
	    cmocka_unit_test(test_v1_tcp6),
	    cmocka_unit_test(test_v1_longest),
	    cmocka_unit_test(test_v1_unknown),
	    cmocka_unit_test(test_v1_mapped),
	    cmocka_unit_test(test_v2_tcp4),
	    cmocka_unit_test(test_v2_tcp6),
	    cmocka_unit_test(test_v2_unknown_is_local),
	    cmocka_unit_test(test_v2_mapped),
	    cmocka_unit_test(test_bad_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
