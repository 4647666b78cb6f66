/* Unit tests for src/server/admit.c: handshakes per source, login penalties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "server/admit.h"

static struct source
v4(const char *ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &sin.sin_addr);
	struct source s;
	source_from_sockaddr((struct sockaddr *)&sin, &s);
	return s;
}

static struct source
v6(const char *ip)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	struct source s;
	source_from_sockaddr((struct sockaddr *)&sin6, &s);
	return s;
}

/* IPv4 by address, IPv6 by /64, IPv4-mapped IPv6 as IPv4. */
static void
test_source_keys(void **state)
{
	struct source a = v4("10.0.0.1"), b = v4("10.0.0.2");
	assert_false(a.addr == b.addr && a.v6 == b.v6);
	struct source m = v6("::ffff:10.0.0.1");
	assert_true(m.addr == a.addr && m.v6 == a.v6);
	struct source x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2:ffff::9");
	struct source z = v6("2001:db8:1:3::1");
	assert_true(x.addr == y.addr && x.v6 && y.v6);
	assert_false(x.addr == z.addr);
}

static void
test_pending_per_source(void **state)
{
	struct admit *a = admit_new(3, 42);
	struct source s = v4("192.0.2.7"), t = v4("192.0.2.8");
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit_enter(a, &s), 0);
	assert_int_equal(admit_enter(a, &s), -1);
	assert_int_equal(admit_pending(a, &s), 3);
	assert_int_equal(admit_enter(a, &t), 0); /* another source is not affected */
	admit_leave(a, &s);
	assert_int_equal(admit_pending(a, &s), 2);
	assert_int_equal(admit_enter(a, &s), 0);
	for (int i = 0; i < 3; i++)
		admit_leave(a, &s);
	assert_int_equal(admit_pending(a, &s), 0);
	admit_leave(a, &s); /* extra leaves are harmless */
	assert_int_equal(admit_pending(a, &t), 1);
	admit_free(a);
}

/* Free failures, then 250 ms doubling up to 16 s, per source. */
static void
test_penalty_grows(void **state)
{
	struct admit *a = admit_new(64, 1);
	struct source s = v4("198.51.100.1"), t = v4("198.51.100.2");
	uint64_t now = 1000000;
	for (int i = 0; i < ADMIT_FREE_FAILURES - 1; i++)
		assert_int_equal(admit_failed(a, &s, now), 0);
	assert_int_equal(admit_penalty(a, &s, now), 0);
	/* The last free verdict starts the penalty. */
	uint32_t want = ADMIT_PENALTY_START_MS;
	for (int i = 0; i < 12; i++) {
		assert_int_equal(admit_failed(a, &s, now), want);
		assert_int_equal(admit_penalty(a, &s, now), want);
		assert_int_equal(admit_penalty(a, &s, now + want - 1), 1);
		assert_int_equal(admit_penalty(a, &s, now + want), 0);
		now += want;
		want = want * 2 > ADMIT_PENALTY_MAX_MS ? ADMIT_PENALTY_MAX_MS : want * 2;
	}
	assert_int_equal(admit_penalty(a, &t, now), 0);
	/* Forgotten after a quiet while: free failures again. */
	now += ADMIT_FORGET_MS + 1;
	assert_int_equal(admit_failed(a, &s, now), 0);
	admit_free(a);
}

/* The table has a fixed size: many sources evict old entries, never grow it. */
static void
test_failure_table_bounded(void **state)
{
	struct admit *a = admit_new(64, 7);
	struct source s = v4("203.0.113.9");
	uint64_t now = 5000;
	for (int i = 0; i < ADMIT_FREE_FAILURES; i++)
		admit_failed(a, &s, now);
	assert_true(admit_penalty(a, &s, now) > 0);
	for (uint32_t i = 0; i < 4 * ADMIT_FAIL_SLOTS; i++) {
		struct source o = {.addr = 0x0a000000u + i, .v6 = 0};
		admit_failed(a, &o, now + 1 + i);
	}
	/* Long evicted by newer failures: forgotten, which is allowed. */
	assert_int_equal(admit_penalty(a, &s, now + 1), 0);
	admit_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_keys),
	    cmocka_unit_test(test_pending_per_source),
	    cmocka_unit_test(test_penalty_grows),
	    cmocka_unit_test(test_failure_table_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
