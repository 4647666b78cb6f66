/* Unit tests for src/config/spec.c: forward specs, durations, sizes, ports,
 * HTTP tunnels' paths and options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/spec.h"

/* ---- forward specs (-R) ---- */

static void
test_forward_without_bind(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	memset(&t, 0x55, sizeof t);
	assert_int_equal(forward_spec_parse("8080:localhost:80", &t, &why), 0);
	assert_false(t.remote_has_bind);
	assert_string_equal(t.remote.host, "");
	assert_int_equal(t.remote.port, 8080);
	assert_string_equal(t.local.host, "localhost");
	assert_int_equal(t.local.port, 80);
}

static void
test_forward_with_bind(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(forward_spec_parse("127.0.0.1:2222:10.0.0.5:22", &t, &why), 0);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "127.0.0.1");
	assert_int_equal(t.remote.port, 2222);
	assert_string_equal(t.local.host, "10.0.0.5");
	assert_int_equal(t.local.port, 22);
}

/* An empty bind address (":port:...") is a bind address, as in OpenSSH. */
static void
test_forward_empty_bind(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(forward_spec_parse(":9000:h:1", &t, &why), 0);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "");
	assert_int_equal(t.remote.port, 9000);
	assert_int_equal(forward_spec_parse("*:9000:h:1", &t, &why), 0);
	assert_string_equal(t.remote.host, "*");
}

static void
test_forward_ipv6(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(forward_spec_parse("[::1]:2222:[fe80::1%eth0]:22", &t, &why), 0);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "::1");
	assert_int_equal(t.remote.port, 2222);
	assert_string_equal(t.local.host, "fe80::1%eth0");
	assert_int_equal(t.local.port, 22);

	assert_int_equal(forward_spec_parse("8080:[2001:db8::7]:443", &t, &why), 0);
	assert_false(t.remote_has_bind);
	assert_int_equal(t.remote.port, 8080);
	assert_string_equal(t.local.host, "2001:db8::7");
	assert_int_equal(t.local.port, 443);
}

static void
test_forward_port0_remote(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	/* Remote port 0: the server picks a free port. */
	assert_int_equal(forward_spec_parse("0:localhost:22", &t, &why), 0);
	assert_int_equal(t.remote.port, 0);
	assert_int_equal(forward_spec_parse("65535:localhost:65535", &t, &why), 0);
	assert_int_equal(t.remote.port, 65535);
	assert_int_equal(t.local.port, 65535);
}

struct bad_spec {
	const char *s;
	const char *why;
};

static void
test_forward_rejections(void **state)
{
	static const struct bad_spec bad[] = {
	    {"", "expected [bind_address:]port:host:hostport or [bind_address:]port"},
	    {"8080:localhost", "expected [bind_address:]port:host:hostport or [bind_address:]port"},
	    {"a:1:b:2:c", "too many ':'-separated fields"},
	    {"8080:::1:22", "too many ':'-separated fields"},
	    {"x:localhost:80", "port must be a number from 0 to 65535"},
	    {"65536:localhost:80", "port must be a number from 0 to 65535"},
	    {"-1:localhost:80", "port must be a number from 0 to 65535"},
	    {"8080:localhost:", "port must be a number from 0 to 65535"},
	    {"8080:localhost:http", "port must be a number from 0 to 65535"},
	    {"8080:localhost:99999", "port must be a number from 0 to 65535"},
	    {"8080:localhost:0", "target port must not be 0"},
	    {"8080::80", "empty target host"},
	    {"8080:[]:80", "empty target host"},
	    {"[::1:8080:h:80", "missing ']'"},
	    {"[::1]x:8080:h:80", "expected ':' after ']'"},
	    {"8080:[::1]22", "expected ':' after ']'"},
	    {" 8080:h:80", "port must be a number from 0 to 65535"},
	    {"+80:h:80", "port must be a number from 0 to 65535"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tunnel_cfg t;
		const char *why = NULL;
		if (forward_spec_parse(bad[i].s, &t, &why) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

/* -R port and -R bind:port: a remote dynamic (SOCKS) forward, as OpenSSH. */
static void
test_forward_dynamic(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(forward_spec_parse("1080", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_REMOTE_DYNAMIC);
	assert_int_equal(t.remote.port, 1080);
	assert_false(t.remote_has_bind);
	assert_int_equal(forward_spec_parse("[::1]:1080", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_REMOTE_DYNAMIC);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "::1");
	assert_int_equal(forward_spec_parse("8080:h:80", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_REMOTE);
}

static void
test_local_forward(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(local_forward_parse("2222:db.internal:22", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_LOCAL);
	assert_string_equal(t.listen.host, "127.0.0.1");
	assert_int_equal(t.listen.port, 2222);
	assert_string_equal(t.local.host, "db.internal");
	assert_int_equal(t.local.port, 22);
	assert_int_equal(local_forward_parse("*:2222:[::1]:22", &t, &why), 0);
	assert_string_equal(t.listen.host, "0.0.0.0");
	assert_string_equal(t.local.host, "::1");
	assert_int_equal(local_forward_parse(":2222:h:22", &t, &why), 0);
	assert_string_equal(t.listen.host, "0.0.0.0");
	assert_int_equal(local_forward_parse("127.0.0.2:2222:h:22", &t, &why), 0);
	assert_string_equal(t.listen.host, "127.0.0.2");
	assert_int_equal(local_forward_parse("2222:h", &t, &why), -1);
	assert_string_equal(why, "expected [bind_address:]port:host:hostport");
	assert_int_equal(local_forward_parse("2222:h:0", &t, &why), -1);
	assert_string_equal(why, "target port must not be 0");
	assert_int_equal(listen_parse("1080", &t, &why), 0);
	assert_string_equal(t.listen.host, "127.0.0.1");
	assert_int_equal(t.listen.port, 1080);
	assert_int_equal(listen_parse("localhost:1080", &t, &why), 0);
	assert_string_equal(t.listen.host, "127.0.0.1");
	assert_int_equal(listen_parse("a:b:1080", &t, &why), -1);
}

static void
test_dest_rules(void **state)
{
	struct dest_rules d;
	const char *why = NULL;
	assert_int_equal(dest_rules_parse("*.example.com:443, db:5432,10.0.0.0/8:*,"
					  "[fd00::]/8:22-23,192.0.2.7:80",
			     &d, &why),
	    0);
	assert_int_equal(d.nnames, 2);
	assert_int_equal(d.nnets, 3);
	assert_true(dest_names_allow(&d, "www.EXAMPLE.com", 443));
	assert_false(dest_names_allow(&d, "www.example.com", 80));
	assert_false(dest_names_allow(&d, "example.com", 443));
	assert_true(dest_names_allow(&d, "db", 5432));
	assert_false(dest_names_allow(&d, "10.1.2.3", 22));

	struct sockaddr_storage ss;
	socklen_t len;
	sockaddr_from_numeric("10.1.2.3", 22, &ss, &len);
	assert_true(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 22));
	sockaddr_from_numeric("11.1.2.3", 22, &ss, &len);
	assert_false(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 22));
	sockaddr_from_numeric("fd12::1", 22, &ss, &len);
	assert_true(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 22));
	assert_false(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 24));
	sockaddr_from_numeric("fe80::1", 22, &ss, &len);
	assert_false(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 22));
	sockaddr_from_numeric("192.0.2.7", 80, &ss, &len);
	assert_true(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 80));
	sockaddr_from_numeric("192.0.2.8", 80, &ss, &len);
	assert_false(dest_nets_allow(d.nets, d.nnets, (struct sockaddr *)&ss, 80));

	assert_int_equal(dest_rules_parse("*:*", &d, &why), 0);
	assert_true(dest_names_allow(&d, "anything", 1));
	assert_true(dest_names_allow(&d, "127.0.0.1", 65535));

	static const struct bad_spec bad[] = {
	    {"", "no rules"},
	    {"h", "expected HOST:PORTS, like *.example.com:443 or 10.0.0.0/8:*"},
	    {":80", "expected HOST:PORTS, like *.example.com:443 or 10.0.0.0/8:*"},
	    {"h:0", "ports must be *, a port from 1 to 65535, or LO-HI"},
	    {"h:9-8", "ports must be *, a port from 1 to 65535, or LO-HI"},
	    {"h:80,", "trailing ','"},
	    {"h:80 x:1", "rules are separated by ','"},
	    {"10.0.0.0/33:80", "bad network prefix length"},
	    {"name/8:80", "a /prefix needs an address before it"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (dest_rules_parse(bad[i].s, &d, &why) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

static void
test_forward_host_lengths(void **state)
{
	char host[ADDR_HOST_MAX + 1], spec[ADDR_HOST_MAX + 32];
	struct tunnel_cfg t;
	const char *why = NULL;

	memset(host, 'h', ADDR_HOST_MAX - 1);
	host[ADDR_HOST_MAX - 1] = '\0';
	snprintf(spec, sizeof spec, "80:%s:22", host);
	assert_int_equal(forward_spec_parse(spec, &t, &why), 0);
	assert_string_equal(t.local.host, host);

	memset(host, 'h', ADDR_HOST_MAX);
	host[ADDR_HOST_MAX] = '\0';
	snprintf(spec, sizeof spec, "80:%s:22", host);
	assert_int_equal(forward_spec_parse(spec, &t, &why), -1);
	assert_string_equal(why, "host name too long");

	why = NULL;
	snprintf(spec, sizeof spec, "[%s]:80:h:22", host);
	assert_int_equal(forward_spec_parse(spec, &t, &why), -1);
	assert_string_equal(why, "host name too long");
}

/* ---- remote: and local: ---- */

static void
test_remote_parse(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(remote_parse("8022", &t, &why), 0);
	assert_false(t.remote_has_bind);
	assert_string_equal(t.remote.host, "");
	assert_int_equal(t.remote.port, 8022);

	assert_int_equal(remote_parse("0.0.0.0:8022", &t, &why), 0);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "0.0.0.0");
	assert_int_equal(t.remote.port, 8022);

	assert_int_equal(remote_parse("[::]:8022", &t, &why), 0);
	assert_true(t.remote_has_bind);
	assert_string_equal(t.remote.host, "::");

	assert_int_equal(remote_parse("a:b:1", &t, &why), -1);
	assert_string_equal(why, "expected [bind_address:]port");
	assert_int_equal(remote_parse("", &t, &why), -1);
	assert_string_equal(why, "port must be a number from 0 to 65535");
	assert_int_equal(remote_parse("host:", &t, &why), -1);
	assert_string_equal(why, "port must be a number from 0 to 65535");
	assert_int_equal(remote_parse("[::1]", &t, &why), -1);
	assert_string_equal(why, "port must be a number from 0 to 65535");
}

static void
test_local_parse(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;
	assert_int_equal(local_parse("127.0.0.1:22", &t, &why), 0);
	assert_string_equal(t.local.host, "127.0.0.1");
	assert_int_equal(t.local.port, 22);
	assert_int_equal(local_parse("[::1]:8080", &t, &why), 0);
	assert_string_equal(t.local.host, "::1");
	assert_int_equal(t.local.port, 8080);

	assert_int_equal(local_parse(":22", &t, &why), -1);
	assert_string_equal(why, "empty host");
	assert_int_equal(local_parse("h:0", &t, &why), -1);
	assert_string_equal(why, "port must not be 0");
	assert_int_equal(local_parse("h", &t, &why), -1);
	assert_string_equal(why, "expected host:port");
	assert_int_equal(local_parse("::1:22", &t, &why), -1);
	assert_non_null(strstr(why, "brackets"));
}

/* ---- durations ---- */

static void
test_duration_units(void **state)
{
	static const struct {
		const char *s;
		uint32_t ms;
	} ok[] = {
	    {"0", 0}, {"10", 10000}, {"10s", 10000}, {"500ms", 500},
	    {"2m", 120000}, {"1h", 3600000}, {"0ms", 0}, {"007s", 7000},
	    {"4294967295ms", UINT32_MAX}, {"4294967s", 4294967000u},
	    {"71582m", 71582u * 60000u}, {"1193h", 1193u * 3600000u},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint32_t ms = 12345;
		const char *why = NULL;
		if (duration_parse(ok[i].s, &ms, &why) != 0)
			fail_msg("rejected '%s': %s", ok[i].s, why);
		if (ms != ok[i].ms)
			fail_msg("'%s': got %u, want %u", ok[i].s, ms, ok[i].ms);
	}
}

static void
test_duration_rejections(void **state)
{
	static const char *const bad[] = {
	    "", "s", "ms", "-1s", "+1s", " 1s", "1 s", "1S", "1sec", "1d",
	    "1.5s", "1ms5", "0x10", "10s ", "1e3",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint32_t ms = 777;
		const char *why = NULL;
		if (duration_parse(bad[i], &ms, &why) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_string_equal(why, "expected a duration like 10s, 500ms or 2m");
		assert_int_equal(ms, 777);
	}
}

static void
test_duration_overflow(void **state)
{
	static const char *const big[] = {
	    "4294967296ms", "4294968s", "4294968", "71583m", "1194h",
	    "18446744073709551615h", "18446744073709551616",
	    "99999999999999999999999999999s",
	};
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
		uint32_t ms = 777;
		const char *why = NULL;
		if (duration_parse(big[i], &ms, &why) != -1)
			fail_msg("accepted '%s' as %u ms", big[i], ms);
		assert_non_null(why);
		assert_int_equal(ms, 777);
	}
	const char *why = NULL;
	uint32_t ms;
	assert_int_equal(duration_parse("4294968s", &ms, &why), -1);
	assert_string_equal(why, "duration too long");
}

/* ---- sizes ---- */

static void
test_size_units(void **state)
{
	static const struct {
		const char *s;
		uint64_t b;
	} ok[] = {
	    {"0", 0}, {"65536", 65536}, {"64K", 65536}, {"64k", 65536},
	    {"2M", 2u << 20}, {"1G", 1ull << 30}, {"3G", 3ull << 30},
	    {"18446744073709551615", UINT64_MAX},
	    {"18014398509481983K", (18014398509481983ull) << 10},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		uint64_t b = 1;
		const char *why = NULL;
		if (size_parse(ok[i].s, &b, &why) != 0)
			fail_msg("rejected '%s': %s", ok[i].s, why);
		if (b != ok[i].b)
			fail_msg("'%s': got %llu", ok[i].s, (unsigned long long)b);
	}
}

static void
test_size_rejections(void **state)
{
	static const char *const bad[] = {
	    "", "K", "-1", "+1K", " 1K", "1 K", "1KB", "1T", "1.5M", "1Ki", "0x10",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t b = 5;
		const char *why = NULL;
		if (size_parse(bad[i], &b, &why) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_string_equal(why, "expected a size like 65536, 256K or 2M");
		assert_int_equal(b, 5);
	}
}

static void
test_size_overflow(void **state)
{
	uint64_t b = 5;
	const char *why = NULL;
	assert_int_equal(size_parse("18014398509481984K", &b, &why), -1);
	assert_string_equal(why, "size too large");
	assert_int_equal(size_parse("17179869184G", &b, &why), -1);
	assert_string_equal(why, "size too large");
	assert_int_equal(size_parse("17592186044416M", &b, &why), -1);
	assert_string_equal(why, "size too large");
	why = NULL;
	assert_int_equal(size_parse("18446744073709551616", &b, &why), -1);
	assert_non_null(why);
	assert_int_equal(b, 5);
}

/* ---- port ranges ---- */

static void
test_port_ranges_parse(void **state)
{
	struct port_ranges pr;
	const char *why = NULL;
	assert_int_equal(port_ranges_parse("1024-65535,80,443", &pr, &why), 0);
	assert_int_equal(pr.n, 3);
	assert_int_equal(pr.r[0].lo, 1024);
	assert_int_equal(pr.r[0].hi, 65535);
	assert_int_equal(pr.r[1].lo, 80);
	assert_int_equal(pr.r[1].hi, 80);
	assert_int_equal(pr.r[2].lo, 443);

	assert_true(port_ranges_contains(&pr, 80));
	assert_true(port_ranges_contains(&pr, 443));
	assert_true(port_ranges_contains(&pr, 1024));
	assert_true(port_ranges_contains(&pr, 65535));
	assert_false(port_ranges_contains(&pr, 81));
	assert_false(port_ranges_contains(&pr, 1023));
	assert_false(port_ranges_contains(&pr, 0));
	assert_false(port_ranges_contains(&pr, 22));
}

static void
test_port_ranges_spaces_and_edges(void **state)
{
	struct port_ranges pr;
	const char *why = NULL;
	assert_int_equal(port_ranges_parse(" 80 , 8000-8010 ", &pr, &why), 0);
	assert_int_equal(pr.n, 2);
	assert_int_equal(pr.r[1].lo, 8000);
	assert_int_equal(pr.r[1].hi, 8010);
	assert_true(port_ranges_contains(&pr, 8005));
	assert_false(port_ranges_contains(&pr, 8011));

	assert_int_equal(port_ranges_parse("0-65535", &pr, &why), 0);
	assert_true(port_ranges_contains(&pr, 0));
	assert_true(port_ranges_contains(&pr, 65535));

	assert_int_equal(port_ranges_parse("5-5", &pr, &why), 0);
	assert_true(port_ranges_contains(&pr, 5));
	assert_false(port_ranges_contains(&pr, 4));
	assert_false(port_ranges_contains(&pr, 6));

	pr.n = 0;
	assert_false(port_ranges_contains(&pr, 5));
}

static void
test_port_ranges_rejections(void **state)
{
	static const struct bad_spec bad[] = {
	    {"", "empty port list"},
	    {"80,", "trailing ','"},
	    {"10-5", "range start is above its end"},
	    {"6-5", "range start is above its end"},
	    {"65535-0", "range start is above its end"},
	    {",80", "expected ports or ranges like 1024-65535,80"},
	    {"80,,443", "expected ports or ranges like 1024-65535,80"},
	    {" ", "expected ports or ranges like 1024-65535,80"},
	    {"-", "expected ports or ranges like 1024-65535,80"},
	    {"80-", "expected ports or ranges like 1024-65535,80"},
	    {"-80", "expected ports or ranges like 1024-65535,80"},
	    {"1-2-3", "expected ports or ranges like 1024-65535,80"},
	    {"65536", "expected ports or ranges like 1024-65535,80"},
	    {"1-65536", "expected ports or ranges like 1024-65535,80"},
	    {"http", "expected ports or ranges like 1024-65535,80"},
	    {"8 0", "expected ports or ranges like 1024-65535,80"},
	    {"80;443", "expected ports or ranges like 1024-65535,80"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct port_ranges pr;
		const char *why = NULL;
		if (port_ranges_parse(bad[i].s, &pr, &why) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

static void
test_port_ranges_max(void **state)
{
	char s[PORT_RANGES_MAX * 8 + 16] = "";
	size_t off = 0;
	for (int i = 0; i < PORT_RANGES_MAX; i++)
		off += (size_t)snprintf(s + off, sizeof s - off, "%s%d",
		    i ? "," : "", 1000 + i);
	struct port_ranges pr;
	const char *why = NULL;
	assert_int_equal(port_ranges_parse(s, &pr, &why), 0);
	assert_int_equal(pr.n, PORT_RANGES_MAX);
	assert_true(port_ranges_contains(&pr, 1000 + PORT_RANGES_MAX - 1));

	snprintf(s + off, sizeof s - off, ",9");
	assert_int_equal(port_ranges_parse(s, &pr, &why), -1);
	assert_string_equal(why, "too many port ranges");
	assert_true(pr.n <= PORT_RANGES_MAX);
}


static void
test_proxy_url(void **state)
{
	struct proxy_url u;
	const char *why;
	assert_int_equal(proxy_url_parse("http://proxy.corp:3128", &u, &why), 0);
	assert_int_equal(u.kind, PROXY_HTTP);
	assert_string_equal(u.addr.host, "proxy.corp");
	assert_int_equal(u.addr.port, 3128);
	assert_int_equal(u.has_user, 0);
	assert_int_equal(proxy_url_parse("socks5h://al%40ice:p%3Ass@[::1]:1080/", &u, &why), 0);
	assert_int_equal(u.kind, PROXY_SOCKS5);
	assert_string_equal(u.addr.host, "::1");
	assert_string_equal(u.user, "al@ice");
	assert_string_equal(u.pass, "p:ss");
	assert_int_equal(proxy_url_parse("socks5://bob@127.0.0.1:9050", &u, &why), 0);
	assert_string_equal(u.user, "bob");
	assert_string_equal(u.pass, "");
	assert_int_equal(proxy_url_parse("http://h", &u, &why), 0);
	assert_int_equal(u.addr.port, 8080); /* curl's default */
	static const char *const bad[] = {"ftp://h:1", "h:1", "http://", "http://:1",
	    "http://h:1/path", "http://u:%zz@h:1", "http://:pw@h:1", "socks5://h:99999",
	    "http://u:%00@h:1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(proxy_url_parse(bad[i], &u, &why), -1);
	/* The reason never quotes the URL (it may hold a password). */
	assert_int_equal(proxy_url_parse("http://u:secretpw@h:99999", &u, &why), -1);
	assert_null(strstr(why, "secretpw"));
}

static void
test_no_proxy(void **state)
{
	assert_true(no_proxy_match("*", "relay.example.com"));
	assert_true(no_proxy_match("localhost, .example.com", "relay.example.com"));
	assert_true(no_proxy_match("example.com", "relay.example.com"));
	assert_true(no_proxy_match("example.com", "EXAMPLE.com"));
	assert_false(no_proxy_match("example.com", "relay.badexample.com"));
	assert_false(no_proxy_match("ample.com", "example.com"));
	assert_true(no_proxy_match("10.0.0.1,127.0.0.1", "127.0.0.1"));
	assert_false(no_proxy_match("127.0.0.1", "127.0.0.10"));
	assert_false(no_proxy_match("", "h"));
	assert_false(no_proxy_match(" , ", "h"));
}

/* ---- HTTP tunnels: paths, path matching, options, http: specs ---- */

static void
test_vhost_paths_parse(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
	    {"/", "/"},
	    {"/api", "/api"},
	    {"/api,/v2/", "/api,/v2/"},
	    {" /api , /v2/ ,\t/x\t", "/api,/v2/,/x"},
	    {"\t/a,/b", "/a,/b"},
	    {"/a,/a", "/a,/a"}, /* duplicates are kept as written */
	    {"/Case/Kept", "/Case/Kept"},
	    {"/a-b._~!$&'()*+=:@%20/", "/a-b._~!$&'()*+=:@%20/"},
	    {"//", "//"},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char out[MSG_EXTRA_MAX + 1];
		const char *why = NULL;
		memset(out, 'z', sizeof out);
		if (vhost_paths_parse(good[i].in, out, sizeof out, &why) != 0)
			fail_msg("'%s' refused: %s", good[i].in, why);
		if (strcmp(out, good[i].out) != 0)
			fail_msg("'%s': got '%s', want '%s'", good[i].in, out, good[i].out);
		/* What it writes parses again to itself. */
		char again[MSG_EXTRA_MAX + 1];
		assert_int_equal(vhost_paths_parse(out, again, sizeof again, &why), 0);
		assert_string_equal(again, out);
	}

	/* VHOST_PATH_MAX - 1 bytes is the longest path. */
	char p[VHOST_PATH_MAX + 1], out[MSG_EXTRA_MAX + 1];
	const char *why = NULL;
	p[0] = '/';
	memset(p + 1, 'a', VHOST_PATH_MAX - 2);
	p[VHOST_PATH_MAX - 1] = '\0';
	assert_int_equal(strlen(p), 127);
	assert_int_equal(vhost_paths_parse(p, out, sizeof out, &why), 0);
	assert_string_equal(out, p);
	p[VHOST_PATH_MAX - 1] = 'a';
	p[VHOST_PATH_MAX] = '\0';
	assert_int_equal(strlen(p), 128);
	assert_int_equal(vhost_paths_parse(p, out, sizeof out, &why), -1);
	assert_string_equal(why, "a path of at most 127 bytes");

	/* Four 127-byte paths fit the extra field; a fifth does not. */
	char many[5 * VHOST_PATH_MAX];
	size_t o = 0;
	for (int k = 0; k < 5; k++) {
		many[o++] = k ? ',' : '/';
		if (k)
			many[o++] = '/';
		memset(many + o, 'a' + k, 126);
		o += 126;
		many[o] = '\0';
		why = NULL;
		int rc = vhost_paths_parse(many, out, sizeof out, &why);
		if (k < 4) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, many);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(why, "too many paths");
		}
	}
	/* A small output buffer: refused, never overrun. */
	char small[8];
	assert_int_equal(vhost_paths_parse("/abcdefghij", small, sizeof small, &why), -1);
	assert_string_equal(why, "too many paths");
	assert_int_equal(vhost_paths_parse("/abc", small, sizeof small, &why), 0);
	assert_string_equal(small, "/abc");
}

static void
test_vhost_paths_rejections(void **state)
{
	static const char sep[] = "expected paths separated by ',' (letters, digits and "
				  "-._~/!$&'()*+=:@%)";
	static const char start[] = "expected a path starting with '/'";
	static const struct bad_spec bad[] = {
	    {"", start},
	    {" ", start},
	    {"\t", start},
	    {"api", start},
	    {"api/", start},
	    {"/a,b", start},
	    {"/a, b/", start},
	    {",/a", start},
	    {"/a,,/b", start},
	    {"/a, ,/b", start},
	    {"/a, ", start}, /* a trailing ',' and a blank */
	    {"/a,", sep},    /* a trailing ',' */
	    {"/a,/b,", sep},
	    {"/a;/b", sep},
	    {"/a;", sep},
	    {"/a b", sep},
	    {"/a\tb", sep},
	    {"/a /b", sep},
	    {"/a?x=1", sep},
	    {"/a#frag", sep},
	    {"/a\"b", sep},
	    {"/a<b>", sep},
	    {"/a\\b", sep},
	    {"/a\x01", sep},
	    {"/a\x7f", sep},
	    {"/\xc3\xa9", sep},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char out[MSG_EXTRA_MAX + 1];
		const char *why = NULL;
		if (vhost_paths_parse(bad[i].s, out, sizeof out, &why) != -1)
			fail_msg("accepted '%s' as '%s'", bad[i].s, out);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

static void
test_vhost_path_match(void **state)
{
	static const struct {
		const char *prefix, *path;
		int match;
	} cases[] = {
	    /* "/" takes every path. */
	    {"/", "/", 1},
	    {"/", "/api", 1},
	    {"/", "/api/x/y", 1},
	    {"/", "//", 1},
	    /* "/api": itself and what is under it, not a longer segment. */
	    {"/api", "/api", 1},
	    {"/api", "/api/", 1},
	    {"/api", "/api/x", 1},
	    {"/api", "/api/x/y", 1},
	    {"/api", "/apix", 0},
	    {"/api", "/api-v2", 0},
	    {"/api", "/api.json", 0},
	    {"/api", "/ap", 0},
	    {"/api", "/", 0},
	    {"/api", "/API", 0},
	    {"/api", "/v2/api", 0},
	    {"/api", "", 0},
	    /* "/api/": only what is under it. */
	    {"/api/", "/api/x", 1},
	    {"/api/", "/api/", 1},
	    {"/api/", "/api/x/y", 1},
	    {"/api/", "/api", 0},
	    {"/api/", "/apix", 0},
	    {"/api/", "/api-x/", 0},
	    /* Deeper prefixes. */
	    {"/a/b", "/a/b/c", 1},
	    {"/a/b", "/a/bc", 0},
	    {"/a/b", "/a", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (vhost_path_match(cases[i].prefix, cases[i].path) != cases[i].match)
			fail_msg("vhost_path_match('%s', '%s') != %d", cases[i].prefix,
			    cases[i].path, cases[i].match);
}

/* Real hashes of "secret": openssl passwd -6 and -5; yescrypt and bcrypt
 * from libxcrypt's crypt(3). */
#define HASH_SHA512 "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
#define HASH_SHA256 "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
#define HASH_YESCRYPT "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"
#define HASH_BCRYPT "$2b$04$PwcTDbxyWKrNfTrU/0C7/.x72pXYRZIK44oyNpDhE1qc9GLZgsYIq"

struct hopt_case {
	int key;
	const char *value;
	const char *why; /* NULL: accepted */
};

static void
test_hopt_check(void **state)
{
	static const char host[] = "expected host[:port]";
	static const char user_hash[] = "expected user:hash";
	static const char plain[] = "expected user:hash with a password hash, not the "
				    "password (openssl passwd -6, or mkpasswd: $y$, $2b$, "
				    "$6$ or $5$)";
	static const char set[] = "expected Name: value";
	static const char name[] = "expected a header name";
	static const struct hopt_case cases[] = {
	    /* HOPT_HOST: host[:port], printable, no blanks. */
	    {HOPT_HOST, "localhost:3000", NULL},
	    {HOPT_HOST, "app.internal", NULL},
	    {HOPT_HOST, "[::1]:8080", NULL},
	    {HOPT_HOST, "caf\xc3\xa9.test", NULL},
	    {HOPT_HOST, "", host},
	    {HOPT_HOST, "local host", host},
	    {HOPT_HOST, " localhost", host},
	    {HOPT_HOST, "localhost ", host},
	    {HOPT_HOST, "a\tb", host},
	    {HOPT_HOST, "a\r\nX-Injected: 1", host},
	    {HOPT_HOST, "a\x01", host},
	    {HOPT_HOST, "a\x7f", host},
	    /* HOPT_AUTH: user:hash with a crypt(3) hash. */
	    {HOPT_AUTH, "alice:" HASH_SHA512, NULL},
	    {HOPT_AUTH, "alice:" HASH_SHA256, NULL},
	    {HOPT_AUTH, "alice:" HASH_YESCRYPT, NULL},
	    {HOPT_AUTH, "alice:" HASH_BCRYPT, NULL},
	    {HOPT_AUTH, "alice:$2y$04$PwcTDbxyWKrNfTrU/0C7/.x72pXYRZIK44oyNpDhE1qc9GLZgsYIq",
		NULL},
	    {HOPT_AUTH, "a b:" HASH_SHA512, NULL}, /* a blank in a user name is allowed */
	    {HOPT_AUTH, "alice", user_hash},
	    {HOPT_AUTH, "", user_hash},
	    {HOPT_AUTH, ":" HASH_SHA512, user_hash},
	    {HOPT_AUTH, "alice:" HASH_SHA512 "\n", user_hash},
	    {HOPT_AUTH, "al\x01ice:" HASH_SHA512, user_hash},
	    {HOPT_AUTH, "alice:secret", plain},
	    {HOPT_AUTH, "alice:", plain},
	    {HOPT_AUTH, "alice:correct horse battery staple", plain},
	    {HOPT_AUTH, "alice:$6$", plain},
	    {HOPT_AUTH, "alice:$6$12345678", plain},    /* too short to be a hash */
	    {HOPT_AUTH, "alice:$6$123456789", NULL},    /* one byte more */
	    {HOPT_AUTH, "alice:$1$saltsalt$4ZR8xUqyEMdbaeD6VsDmC.", plain}, /* MD5 */
	    {HOPT_AUTH, "alice:$apr1$saltsalt$X9Vk8ZHJ4o7aXMX9a3qqM.", plain},
	    {HOPT_AUTH, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", plain},
	    {HOPT_AUTH, "alice: " HASH_SHA512, plain},
	    {HOPT_AUTH, "alice:secret:" HASH_SHA512, plain},
	    /* HOPT_SET: "Name: value", Name an HTTP token. */
	    {HOPT_SET, "X-Env: prod", NULL},
	    {HOPT_SET, "X-Env:prod", NULL},
	    {HOPT_SET, "X-Empty:", NULL},
	    {HOPT_SET, "X-Time: 12:30:00", NULL},
	    {HOPT_SET, "!#$%&'*+-.^_`|~09azAZ: v", NULL},
	    {HOPT_SET, "X-Env prod", set},
	    {HOPT_SET, "X-Env", set},
	    {HOPT_SET, "", set},
	    {HOPT_SET, ": prod", set},
	    {HOPT_SET, "X Env: prod", set},
	    {HOPT_SET, "X-Env : prod", set},
	    {HOPT_SET, " X-Env: prod", set},
	    {HOPT_SET, "X(Env): prod", set},
	    {HOPT_SET, "X/Env: prod", set},
	    {HOPT_SET, "X@Env: prod", set},
	    {HOPT_SET, "X,Env: prod", set},
	    {HOPT_SET, "X;Env: prod", set},
	    {HOPT_SET, "X\xc3\xa9: prod", set},
	    {HOPT_SET, "X-Env: a\r\nX-Injected: 1", set},
	    {HOPT_SET, "X-Env: a\tb", set},
	    {HOPT_SET, "X-Env: a\x7f", set},
	    /* HOPT_REMOVE: a header name. */
	    {HOPT_REMOVE, "Cookie", NULL},
	    {HOPT_REMOVE, "X-Forwarded-For", NULL},
	    {HOPT_REMOVE, "x", NULL},
	    {HOPT_REMOVE, "", name},
	    {HOPT_REMOVE, "X Forwarded", name},
	    {HOPT_REMOVE, " Cookie", name},
	    {HOPT_REMOVE, "Cookie ", name},
	    {HOPT_REMOVE, "Cookie:", name},
	    {HOPT_REMOVE, "Cookie: x", name},
	    {HOPT_REMOVE, "Cookie\r\n", name},
	    {HOPT_REMOVE, "Co(okie", name},
	    /* Keys outside HOPT_HOST..HOPT_REMOVE. */
	    {0, "localhost", "unknown option"},
	    {7, "Cookie", "unknown option"},
	    {HOPT_RESP_SET, "Cookie", "expected Name: value"},
	    {HOPT_RESP_SET, "Content-Length: 5", "Host, Content-Length, Transfer-Encoding and "
		"the hop-by-hop headers are not set or removed (host_header_rewrite sets Host)"},
	    {HOPT_RESP_REMOVE, "X A", "expected a header name"},
	    {-1, "x", "unknown option"},
	    {255, "x", "unknown option"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = NULL;
		int rc = hopt_check(cases[i].key, cases[i].value, &why);
		if (cases[i].why == NULL) {
			if (rc != 0)
				fail_msg("case %zu: key %d '%s' refused: %s", i, cases[i].key,
				    cases[i].value, why ? why : "(null)");
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu: key %d '%s' accepted", i, cases[i].key,
			    cases[i].value);
		if (why == NULL || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: key %d '%s': got '%s', want '%s'", i,
			    cases[i].key, cases[i].value, why ? why : "(null)", cases[i].why);
	}
}

/* http:NAMES:host:port, http:host:port (a random name), http:LABEL:host:port. */
static void
test_forward_http(void **state)
{
	struct tunnel_cfg t;
	const char *why = NULL;

	memset(&t, 0x55, sizeof t);
	assert_int_equal(forward_spec_parse("http:app.example.test,*.dev.example.test:"
					    "localhost:3000", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_HTTP_VHOST);
	assert_string_equal(t.extra, "app.example.test,*.dev.example.test");
	assert_string_equal(t.local.host, "localhost");
	assert_int_equal(t.local.port, 3000);
	assert_string_equal(t.remote.host, "");
	assert_int_equal(t.remote.port, 0);

	/* Names are lower-cased; blanks around them go. */
	assert_int_equal(forward_spec_parse("http: App.Example.TEST , B.test :h:1", &t, &why),
	    0);
	assert_string_equal(t.extra, "app.example.test,b.test");

	/* A lone label: the server puts it under its domain. */
	memset(&t, 0x55, sizeof t);
	assert_int_equal(forward_spec_parse("http:app:localhost:3000", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_HTTP_VHOST);
	assert_string_equal(t.extra, "app");
	assert_string_equal(t.local.host, "localhost");
	assert_int_equal(t.local.port, 3000);
	assert_int_equal(forward_spec_parse("http:app:[::1]:8080", &t, &why), 0);
	assert_string_equal(t.extra, "app");
	assert_string_equal(t.local.host, "::1");
	assert_int_equal(t.local.port, 8080);

	/* No name: a random one, extra empty (whatever was there before). */
	memset(&t, 0x55, sizeof t);
	assert_int_equal(forward_spec_parse("http:localhost:3000", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_HTTP_VHOST);
	assert_string_equal(t.extra, "");
	assert_string_equal(t.local.host, "localhost");
	assert_int_equal(t.local.port, 3000);
	assert_string_equal(t.remote.host, "");
	assert_int_equal(t.remote.port, 0);
	assert_int_equal(forward_spec_parse("http:[::1]:3000", &t, &why), 0);
	assert_string_equal(t.extra, "");
	assert_string_equal(t.local.host, "::1");
	assert_int_equal(t.local.port, 3000);
	/* The two-field form is http's only: https needs its names. */
	assert_int_equal(forward_spec_parse("https:localhost:3000", &t, &why), -1);
	assert_string_equal(why, "expected https:NAME[,NAME...]:host:hostport");
	/* https: still parses as it did. */
	assert_int_equal(forward_spec_parse("https:a.test:h:443", &t, &why), 0);
	assert_int_equal(t.type, TUNNEL_HTTPS_SNI);
	assert_string_equal(t.extra, "a.test");
}

static void
test_forward_http_rejections(void **state)
{
	static const char usage[] = "expected http:[NAME[,NAME...]:]host:hostport";
	static const char notname[] =
	    "not a host name (letters, digits, '-' and '.'; a wildcard is *.name)";
	static const struct bad_spec bad[] = {
	    {"http:", usage},
	    {"http:3000", usage},
	    {"http:localhost", usage},
	    {"http:a.test:h:1:2", usage},
	    {"http:a:b:c:d:e", usage}, /* too many fields: the usage all the same */
	    {"http:[::1:3000", usage},
	    {"http:h:0", "target port must not be 0"},
	    {"http:h:x", "port must be a number from 0 to 65535"},
	    {"http:h:", "port must be a number from 0 to 65535"},
	    {"http:h:65536", "port must be a number from 0 to 65535"},
	    {"http::80", "empty target host"},
	    {"http:a.test:h:0", "target port must not be 0"},
	    {"http:a.test::80", "empty target host"},
	    {"http:a.test:h:http", "port must be a number from 0 to 65535"},
	    {"http::h:1", "no host name"},
	    {"http:,:h:1", "expected host names separated by ',' (a name may start with *.)"},
	    {"http:a.test,:h:1", "expected host names separated by ','"},
	    {"http:a_b.test:h:1", notname},
	    {"http:a.test;/api:h:1", notname}, /* paths only in a file */
	    {"http:*:h:1", notname},
	    {"http:*.:h:1", notname},
	    {"http:a..test:h:1", notname},
	    {"http:-a.test:h:1", notname},
	    {"http:a-.test:h:1", notname},
	    {"http:.a.test:h:1", notname},
	    {"http:a.*.test:h:1", notname},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tunnel_cfg t;
		const char *why = NULL;
		if (forward_spec_parse(bad[i].s, &t, &why) != -1)
			fail_msg("accepted '%s'", bad[i].s);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_without_bind),
	    cmocka_unit_test(test_forward_with_bind),
	    cmocka_unit_test(test_forward_empty_bind),
	    cmocka_unit_test(test_forward_ipv6),
	    cmocka_unit_test(test_forward_port0_remote),
	    cmocka_unit_test(test_forward_rejections),
	    cmocka_unit_test(test_forward_dynamic),
	    cmocka_unit_test(test_local_forward),
	    cmocka_unit_test(test_dest_rules),
	    cmocka_unit_test(test_forward_host_lengths),
	    cmocka_unit_test(test_remote_parse),
	    cmocka_unit_test(test_local_parse),
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_rejections),
	    cmocka_unit_test(test_duration_overflow),
	    cmocka_unit_test(test_size_units),
	    cmocka_unit_test(test_size_rejections),
	    cmocka_unit_test(test_size_overflow),
	    cmocka_unit_test(test_port_ranges_parse),
	    cmocka_unit_test(test_port_ranges_spaces_and_edges),
	    cmocka_unit_test(test_port_ranges_rejections),
	    cmocka_unit_test(test_port_ranges_max),
	    cmocka_unit_test(test_proxy_url),
	    cmocka_unit_test(test_no_proxy),
	    cmocka_unit_test(test_vhost_paths_parse),
	    cmocka_unit_test(test_vhost_paths_rejections),
	    cmocka_unit_test(test_vhost_path_match),
	    cmocka_unit_test(test_hopt_check),
	    cmocka_unit_test(test_forward_http),
	    cmocka_unit_test(test_forward_http_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
