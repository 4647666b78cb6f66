/* Unit tests for src/util/addr.c: host:port text and socket addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "util/addr.h"

static void
test_port_parse(void **state)
{
	uint16_t p = 1;
	assert_int_equal(port_parse("0", 1, &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(port_parse("65535", 5, &p), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(port_parse("00080", 5, &p), 0);
	assert_int_equal(p, 80);
	/* Only len bytes are read. */
	assert_int_equal(port_parse("80xyz", 2, &p), 0);
	assert_int_equal(p, 80);

	p = 7;
	assert_int_equal(port_parse("65536", 5, &p), -1);
	assert_int_equal(port_parse("99999", 5, &p), -1);
	assert_int_equal(port_parse("000080", 6, &p), -1);
	assert_int_equal(port_parse("", 0, &p), -1);
	assert_int_equal(port_parse("-1", 2, &p), -1);
	assert_int_equal(port_parse("+1", 2, &p), -1);
	assert_int_equal(port_parse(" 1", 2, &p), -1);
	assert_int_equal(port_parse("8a", 2, &p), -1);
	assert_int_equal(p, 7);
}

static void
test_hostport_plain(void **state)
{
	struct hostport hp;
	const char *why = NULL;
	assert_int_equal(hostport_parse("example.com:443", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "example.com");
	assert_int_equal(hp.port, 443);

	assert_int_equal(hostport_parse("10.1.2.3:0", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "10.1.2.3");
	assert_int_equal(hp.port, 0);

	assert_int_equal(hostport_parse(":7700", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "");
	assert_int_equal(hp.port, 7700);
}

static void
test_hostport_default_port(void **state)
{
	struct hostport hp;
	const char *why = NULL;
	assert_int_equal(hostport_parse("relay.example", 7700, &hp, &why), 0);
	assert_string_equal(hp.host, "relay.example");
	assert_int_equal(hp.port, 7700);

	assert_int_equal(hostport_parse("[::1]", 7700, &hp, &why), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(hp.port, 7700);

	/* An explicit port wins over the default. */
	assert_int_equal(hostport_parse("relay.example:1", 7700, &hp, &why), 0);
	assert_int_equal(hp.port, 1);

	assert_int_equal(hostport_parse("relay.example", -1, &hp, &why), -1);
	assert_string_equal(why, "expected host:port");
	why = NULL;
	assert_int_equal(hostport_parse("[::1]", -1, &hp, &why), -1);
	assert_string_equal(why, "expected host:port");
}

static void
test_hostport_ipv6(void **state)
{
	struct hostport hp;
	const char *why = NULL;
	assert_int_equal(hostport_parse("[::1]:7700", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(hp.port, 7700);

	assert_int_equal(hostport_parse("[2001:db8::1]:65535", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "2001:db8::1");
	assert_int_equal(hp.port, 65535);

	assert_int_equal(hostport_parse("[]:80", -1, &hp, &why), 0);
	assert_string_equal(hp.host, "");
	assert_int_equal(hp.port, 80);
}

static void
test_hostport_rejections(void **state)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
	    {"::1:7700", "IPv6 addresses must be in brackets, like [::1]:7700"},
	    {"a:b:c", "IPv6 addresses must be in brackets, like [::1]:7700"},
	    {"[::1:7700", "missing ']' after IPv6 address"},
	    {"[::1]7700", "expected ':' after ']'"},
	    {"[::1]x:7700", "expected ':' after ']'"},
	    {"host:", "port must be a number from 0 to 65535"},
	    {"host:65536", "port must be a number from 0 to 65535"},
	    {"host:http", "port must be a number from 0 to 65535"},
	    {"host:-1", "port must be a number from 0 to 65535"},
	    {"[::1]:", "port must be a number from 0 to 65535"},
	    {"[::1]:1:2", "port must be a number from 0 to 65535"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct hostport hp;
		const char *why = NULL;
		if (hostport_parse(bad[i].s, 7700, &hp, &why) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

static void
test_hostport_too_long(void **state)
{
	char s[ADDR_HOST_MAX + 16];
	struct hostport hp;
	const char *why = NULL;

	memset(s, 'h', ADDR_HOST_MAX - 1);
	strcpy(s + ADDR_HOST_MAX - 1, ":1");
	assert_int_equal(hostport_parse(s, -1, &hp, &why), 0);
	assert_int_equal(strlen(hp.host), ADDR_HOST_MAX - 1);

	memset(s, 'h', ADDR_HOST_MAX);
	strcpy(s + ADDR_HOST_MAX, ":1");
	assert_int_equal(hostport_parse(s, -1, &hp, &why), -1);
	assert_string_equal(why, "host name too long");

	s[0] = '[';
	memset(s + 1, 'a', ADDR_HOST_MAX);
	strcpy(s + 1 + ADDR_HOST_MAX, "]:1");
	why = NULL;
	assert_int_equal(hostport_parse(s, -1, &hp, &why), -1);
	assert_string_equal(why, "host name too long");
}

static void
test_hostport_format(void **state)
{
	struct hostport hp = {.host = "example.com", .port = 80};
	char out[ADDR_STR_MAX];
	hostport_format(&hp, out, sizeof out);
	assert_string_equal(out, "example.com:80");

	strcpy(hp.host, "::1");
	hp.port = 7700;
	hostport_format(&hp, out, sizeof out);
	assert_string_equal(out, "[::1]:7700");

	hp.host[0] = '\0';
	hp.port = 0;
	hostport_format(&hp, out, sizeof out);
	assert_string_equal(out, ":0");

	/* Truncates to the buffer. */
	strcpy(hp.host, "example.com");
	hp.port = 443;
	char small[8];
	hostport_format(&hp, small, sizeof small);
	assert_string_equal(small, "example");
}

/* parse(format(hp)) == hp for names, IPv4 and IPv6, at the longest host too. */
static void
test_hostport_round_trip(void **state)
{
	static const char *const hosts[] = {
	    "", "localhost", "192.0.2.1", "::", "fe80::1%lo", "2001:db8:0:0:0:0:0:1",
	};
	char out[ADDR_STR_MAX];
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		struct hostport a, b;
		const char *why = NULL;
		memset(&a, 0, sizeof a);
		strcpy(a.host, hosts[i]);
		a.port = (uint16_t)(i * 10007);
		hostport_format(&a, out, sizeof out);
		if (hostport_parse(out, -1, &b, &why) != 0)
			fail_msg("'%s': %s", out, why);
		assert_string_equal(b.host, a.host);
		assert_int_equal(b.port, a.port);
	}
	struct hostport a, b;
	const char *why = NULL;
	memset(&a, 0, sizeof a);
	memset(a.host, ':', ADDR_HOST_MAX - 1);
	a.port = 65535;
	hostport_format(&a, out, sizeof out);
	assert_int_equal(hostport_parse(out, -1, &b, &why), 0);
	assert_string_equal(b.host, a.host);
	assert_int_equal(b.port, 65535);
}

static void
test_sockaddr_from_numeric_v4(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	assert_int_equal(sockaddr_from_numeric("192.0.2.7", 8080, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 8080);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0xc0000207);

	char out[ADDR_STR_MAX];
	sockaddr_format((const struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "192.0.2.7:8080");
}

static void
test_sockaddr_from_numeric_any(void **state)
{
	static const char *const any[] = {"", "*"};
	for (size_t i = 0; i < 2; i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		assert_int_equal(sockaddr_from_numeric(any[i], 7700, &ss, &len), 0);
		assert_int_equal(len, sizeof(struct sockaddr_in));
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		assert_int_equal(in->sin_family, AF_INET);
		assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
		char out[ADDR_STR_MAX];
		sockaddr_format((const struct sockaddr *)&ss, out, sizeof out);
		assert_string_equal(out, "0.0.0.0:7700");
	}
}

static void
test_sockaddr_from_numeric_v6(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	assert_int_equal(sockaddr_from_numeric("2001:db8::5", 443, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 443);
	assert_int_equal(in6->sin6_addr.s6_addr[0], 0x20);
	assert_int_equal(in6->sin6_addr.s6_addr[15], 0x05);

	char out[ADDR_STR_MAX];
	sockaddr_format((const struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "[2001:db8::5]:443");

	assert_int_equal(sockaddr_from_numeric("::", 0, &ss, &len), 0);
	sockaddr_format((const struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "[::]:0");
}

static void
test_sockaddr_from_numeric_rejects_names(void **state)
{
	static const char *const bad[] = {
	    "localhost", "example.com", "1.2.3", "256.1.1.1", "1.2.3.4.5",
	    "[::1]", "::g", " 1.2.3.4",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		if (sockaddr_from_numeric(bad[i], 1, &ss, &len) != -1)
			fail_msg("accepted '%s'", bad[i]);
	}
}

static void
test_sockaddr_format_unknown_family(void **state)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	char out[16] = "junk";
	sockaddr_format((const struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_parse),
	    cmocka_unit_test(test_hostport_plain),
	    cmocka_unit_test(test_hostport_default_port),
	    cmocka_unit_test(test_hostport_ipv6),
	    cmocka_unit_test(test_hostport_rejections),
	    cmocka_unit_test(test_hostport_too_long),
	    cmocka_unit_test(test_hostport_format),
	    cmocka_unit_test(test_hostport_round_trip),
	    cmocka_unit_test(test_sockaddr_from_numeric_v4),
	    cmocka_unit_test(test_sockaddr_from_numeric_any),
	    cmocka_unit_test(test_sockaddr_from_numeric_v6),
	    cmocka_unit_test(test_sockaddr_from_numeric_rejects_names),
	    cmocka_unit_test(test_sockaddr_format_unknown_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
