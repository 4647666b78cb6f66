/* Unit tests for src/proto/sni.c: a TLS ClientHello's server name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sni.h"

/*
 * Captured on loopback from OpenSSL 3.0's
 * `openssl s_client -connect 127.0.0.1:PORT -servername app.example.test`
 * (one record; TLS 1.3 with 1.2 offered too), then the same without
 * a name (-noservername).
 */
static const uint8_t real_hello[322] = {
	0x16, 0x03, 0x01, 0x01, 0x3d, 0x01, 0x00, 0x01, 0x39, 0x03, 0x03, 0xb3,
	0x8b, 0xd4, 0x7c, 0x07, 0xac, 0xd6, 0x05, 0x9f, 0x20, 0x4b, 0x97, 0x19,
	0xcc, 0x8c, 0x90, 0x40, 0x6e, 0xd4, 0x94, 0x07, 0x77, 0x98, 0x8b, 0x17,
	0xc7, 0x6d, 0xa9, 0x3b, 0x78, 0xd4, 0xef, 0x20, 0x73, 0x1f, 0x56, 0xb1,
	0xa0, 0xb5, 0xeb, 0x6a, 0x2f, 0x3c, 0x5b, 0xcc, 0x5b, 0x72, 0x9d, 0x1c,
	0xbc, 0x7b, 0x0a, 0xf4, 0xb0, 0x7c, 0x7c, 0x33, 0x86, 0x4e, 0x11, 0x1a,
	0xcf, 0xfd, 0xcc, 0x69, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb2,
	0x00, 0x00, 0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x61, 0x70, 0x70,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x74, 0x65, 0x73,
	0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
	0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00,
	0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00,
	0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
	0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
	0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08,
	0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03,
	0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00,
	0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d,
	0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d,
	0x00, 0x20, 0x75, 0xf8, 0xfd, 0x84, 0xbb, 0x6a, 0xc5, 0x3b, 0x0b, 0x1f,
	0xe7, 0xff, 0x11, 0x8d, 0x97, 0x8a, 0x28, 0xd1, 0x5a, 0xb7, 0xc2, 0x69,
	0xaa, 0x0d, 0xde, 0xff, 0x05, 0xcd, 0xad, 0xc1, 0x89, 0x39,
};

static const uint8_t real_hello_nosni[297] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x43,
	0x27, 0xf3, 0xb4, 0xcf, 0x22, 0xdc, 0xe7, 0xcd, 0xe6, 0x02, 0x36, 0xa8,
	0xf9, 0x40, 0x93, 0xf5, 0x72, 0x78, 0x9d, 0xd3, 0x34, 0x08, 0x52, 0x56,
	0x1d, 0x01, 0xbf, 0x38, 0xc9, 0x88, 0x79, 0x20, 0xf4, 0x61, 0xe0, 0x5f,
	0xc4, 0x22, 0x89, 0x02, 0x90, 0xe5, 0x70, 0xe0, 0xff, 0xf9, 0x3d, 0x8a,
	0x15, 0xed, 0xdd, 0x4d, 0x98, 0x52, 0x6d, 0x27, 0x38, 0xf9, 0x6c, 0xd9,
	0xe4, 0xf4, 0x8c, 0x0f, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x67, 0xa8, 0x5f, 0xb6, 0xdf, 0xfc, 0x73, 0x55, 0x24, 0xb0, 0xe8,
	0x56, 0xbd, 0xdb, 0x52, 0x57, 0xc1, 0xab, 0x10, 0x5d, 0xe0, 0xf6, 0xcc,
	0x7f, 0xbd, 0x53, 0xc1, 0xf7, 0x55, 0xbb, 0x8c, 0x0c,
};

/* Bytes being assembled: room for more than SNI_HELLO_MAX. */
struct buf {
	uint8_t b[2 * SNI_HELLO_MAX];
	size_t len;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	assert_true(n <= sizeof b->b - b->len);
	memcpy(b->b + b->len, p, n);
	b->len += n;
}

static void
put8(struct buf *b, unsigned v)
{
	uint8_t c = (uint8_t)v;
	put(b, &c, 1);
}

static void
put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void
put24(struct buf *b, size_t v)
{
	put8(b, (unsigned)(v >> 16));
	put16(b, (unsigned)v);
}

/* An extension of type and data into x. */
static void
ext(struct buf *x, unsigned type, const void *data, size_t len)
{
	put16(x, type);
	put16(x, (unsigned)len);
	put(x, data, len);
}

/* A server_name extension with one host_name of len bytes. */
static void
ext_name(struct buf *x, const char *name, size_t len)
{
	put16(x, 0);
	put16(x, (unsigned)(len + 5));
	put16(x, (unsigned)(len + 3));
	put8(x, 0);
	put16(x, (unsigned)len);
	put(x, name, len);
}

/* supported_versions (TLS 1.3, 1.2) and the like: any other extension. */
static void
ext_other(struct buf *x)
{
	static const uint8_t versions[] = {4, 0x03, 0x04, 0x03, 0x03};
	static const uint8_t groups[] = {0, 2, 0x00, 0x1d};
	ext(x, 43, versions, sizeof versions);
	ext(x, 10, groups, sizeof groups);
}

/* A ClientHello handshake message with the extensions in x (NULL: none). */
static void
hello(struct buf *hs, const struct buf *x)
{
	struct buf body = {.len = 0};
	static const uint8_t random[32] = {1, 2, 3};
	static const uint8_t suites[] = {0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f};
	put16(&body, 0x0303);
	put(&body, random, sizeof random);
	put8(&body, 32);
	put(&body, random, 32);
	put16(&body, sizeof suites);
	put(&body, suites, sizeof suites);
	put8(&body, 1);
	put8(&body, 0);
	if (x != NULL) {
		put16(&body, (unsigned)x->len);
		put(&body, x->b, x->len);
	}
	hs->len = 0;
	put8(hs, 1);
	put24(hs, body.len);
	put(hs, body.b, body.len);
}

/* The handshake bytes in handshake records of at most rec bytes. */
static void
records(struct buf *out, const uint8_t *hs, size_t len, size_t rec)
{
	out->len = 0;
	for (size_t off = 0; off < len; off += rec) {
		size_t k = len - off < rec ? len - off : rec;
		put8(out, 22);
		put16(out, 0x0301);
		put16(out, (unsigned)k);
		put(out, hs + off, k);
	}
}

/* A ClientHello in one record with just a server_name of name. */
static void
named(struct buf *in, const char *name, size_t len)
{
	static struct buf x, hs;
	x.len = 0;
	ext_other(&x);
	ext_name(&x, name, len);
	hello(&hs, &x);
	records(in, hs.b, hs.len, 16384);
}

static void
expect_found(const uint8_t *p, size_t n, const char *want)
{
	char host[SNI_HOST_MAX];
	const char *why = NULL;
	memset(host, 'x', sizeof host);
	int st = sni_parse(p, n, host, sizeof host, &why);
	if (st != SNI_FOUND)
		fail_msg("sni_parse %d: %s", st, why ? why : "(no why)");
	assert_string_equal(host, want);
}

/* SNI_BAD with a why; host untouched. */
static void
expect_bad(const uint8_t *p, size_t n)
{
	char host[SNI_HOST_MAX] = "untouched";
	const char *why = NULL;
	assert_int_equal(sni_parse(p, n, host, sizeof host, &why), SNI_BAD);
	assert_non_null(why);
	assert_string_equal(host, "untouched");
}

static void
expect_more(const uint8_t *p, size_t n)
{
	char host[SNI_HOST_MAX];
	const char *why = NULL;
	int st = sni_parse(p, n, host, sizeof host, &why);
	if (st != SNI_MORE)
		fail_msg("prefix of %zu: %d (%s)", n, st, why ? why : "");
}

/* Every prefix of a whole ClientHello waits for more. */
static void
expect_prefixes_more(const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		expect_more(p, k);
}

static void
test_real(void **state)
{
	expect_found(real_hello, sizeof real_hello, "app.example.test");
	expect_prefixes_more(real_hello, sizeof real_hello);
	expect_found(real_hello_nosni, sizeof real_hello_nosni, "");
	expect_prefixes_more(real_hello_nosni, sizeof real_hello_nosni);
}

/* What follows the ClientHello's record (0-RTT data, say) is not looked at. */
static void
test_real_then_more(void **state)
{
	static struct buf in;
	static const uint8_t early[] = {23, 3, 3, 0, 3, 'a', 'b', 'c'};
	in.len = 0;
	put(&in, real_hello, sizeof real_hello);
	put(&in, early, sizeof early);
	for (size_t k = sizeof real_hello; k <= in.len; k++)
		expect_found(in.b, k, "app.example.test");
	/* Even past SNI_HELLO_MAX. */
	memset(in.b + in.len, 0xff, sizeof in.b - in.len);
	expect_found(in.b, sizeof in.b, "app.example.test");
}

/* The real ClientHello cut into two records at every point, and into
 * records of one byte each. */
static void
test_real_split(void **state)
{
	static struct buf in;
	const uint8_t *hs = real_hello + 5;
	size_t len = sizeof real_hello - 5;
	for (size_t cut = 1; cut < len; cut++) {
		in.len = 0;
		put(&in, real_hello, 3);
		put16(&in, (unsigned)cut);
		put(&in, hs, cut);
		put(&in, real_hello, 3);
		put16(&in, (unsigned)(len - cut));
		put(&in, hs + cut, len - cut);
		expect_found(in.b, in.len, "app.example.test");
		if (cut == 1 || cut == 150) /* mid-header, mid-name */
			expect_prefixes_more(in.b, in.len);
	}
	records(&in, hs, len, 1);
	expect_found(in.b, in.len, "app.example.test");
	expect_prefixes_more(in.b, in.len);
}

static void
test_built(void **state)
{
	static struct buf x, hs, in;
	/* No extensions at all (RFC 5246 7.4.1.2), and an empty block. */
	hello(&hs, NULL);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "");
	expect_prefixes_more(in.b, in.len);
	x.len = 0;
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "");
	/* Extensions, none of them server_name. */
	ext_other(&x);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "");
	/* server_name first, last, alone. */
	x.len = 0;
	ext_name(&x, "a.example", 9);
	ext_other(&x);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "a.example");
	expect_prefixes_more(in.b, in.len);
	named(&in, "b.example", 9);
	expect_found(in.b, in.len, "b.example");
	x.len = 0;
	ext_name(&x, "c", 1);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "c");
}

static void
test_names(void **state)
{
	static struct buf in;
	char n[300];
	named(&in, "App.EXAMPLE.Test", 16);
	expect_found(in.b, in.len, "app.example.test");
	named(&in, "xn--bcher-kva.example-1.test", 28);
	expect_found(in.b, in.len, "xn--bcher-kva.example-1.test");
	/* 253 bytes in labels of 63: the longest. */
	memset(n, 'a', 253);
	n[63] = n[127] = n[191] = '.';
	n[253] = '\0';
	named(&in, n, 253);
	expect_found(in.b, in.len, n);

	static const struct {
		const char *name;
		size_t len;
	} bad[] = {
	    {"", 0},
	    {"a\0b.example", 11},
	    {"a.example\0", 10},
	    {"a.example/x", 11},
	    {".a.example", 10},
	    {"a.example.", 10},
	    {".", 1},
	    {"a..example", 10},
	    {"a example", 9},
	    {"a_b.example", 11},
	    {"a.example:443", 13},
	    {"\xc3\xa9.example", 10},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		named(&in, bad[i].name, bad[i].len);
		expect_bad(in.b, in.len);
	}
	memset(n, 'a', 254);
	n[63] = n[127] = n[191] = '.';
	named(&in, n, 254);
	expect_bad(in.b, in.len);
	memset(n, 'a', 64); /* one label of 64 */
	named(&in, n, 64);
	expect_bad(in.b, in.len);
}

/* The first host_name of the list counts; other name types are skipped. */
static void
test_name_list(void **state)
{
	static struct buf x, hs, in;
	x.len = 0;
	put16(&x, 0);
	put16(&x, 2 + 3 + 4 + 3 + 5 + 3 + 5);
	put16(&x, 3 + 4 + 3 + 5 + 3 + 5);
	put8(&x, 7); /* a name type RFC 6066 does not know */
	put16(&x, 4);
	put(&x, "a/b\0", 4);
	put8(&x, 0);
	put16(&x, 5);
	put(&x, "first", 5);
	put8(&x, 0);
	put16(&x, 5);
	put(&x, "other", 5);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_found(in.b, in.len, "first");
	expect_prefixes_more(in.b, in.len);
}

/* A plain HTTP or SSH client is refused at its first byte. */
static void
test_not_tls(void **state)
{
	static const char *const garbage[] = {
	    "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
	    "\x15\x03\x03\x00\x02\x02\x28",   /* an alert */
	    "\x17\x03\x03\x00\x01\x00",       /* application data */
	    "\x80\x2e\x01\x00\x02\x00\x15",   /* an SSLv2 ClientHello */
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		expect_bad((const uint8_t *)garbage[i], 1);
		expect_bad((const uint8_t *)garbage[i], strlen(garbage[i]));
	}
	expect_more(real_hello, 0);
	/* A record version other than 3.0 to 3.4, as soon as its byte is here. */
	expect_bad((const uint8_t *)"\x16\x02", 2);
	expect_bad((const uint8_t *)"\x16\x03\x05", 3);
	expect_more((const uint8_t *)"\x16\x03\x00", 3);
	expect_more((const uint8_t *)"\x16\x03\x04", 3);
	/* A handshake message other than ClientHello: a ServerHello. */
	expect_bad((const uint8_t *)"\x16\x03\x03\x00\x30\x02", 6);
	/* A ClientHello version not 3.x. */
	expect_bad((const uint8_t *)"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x02", 10);
}

/* Patches one byte of the real ClientHello: BAD, already at its first by
 * bytes. */
static void
expect_patch_bad(size_t at, uint8_t v, size_t by)
{
	static uint8_t b[sizeof real_hello];
	memcpy(b, real_hello, sizeof b);
	b[at] = v;
	expect_bad(b, sizeof b);
	expect_bad(b, by);
	if (by > 1)
		expect_more(b, by - 1);
}

static void
test_lengths(void **state)
{
	/* Offsets in real_hello: record 0, handshake 5, version 9, random 11,
	 * session_id 43 (32), cipher_suites 76 (62), compression 140 (1),
	 * extensions 142 (178), server_name 144 (21), its list 148 (19),
	 * host_name 150 (16), key_share 280 (38), the end 322. */
	assert_int_equal(real_hello[43], 32);
	assert_int_equal(real_hello[77], 62);
	assert_int_equal(real_hello[140], 1);
	assert_int_equal(real_hello[143], 178);
	assert_int_equal(real_hello[147], 21);
	assert_int_equal(real_hello[149], 19);
	assert_int_equal(real_hello[152], 16);
	assert_int_equal(real_hello[281], 0x33);
	assert_int_equal(real_hello[283], 38);
	expect_patch_bad(4, 0x3e, 9);      /* record past the message */
	expect_patch_bad(8, 0x38, 9);      /* message short of its record */
	expect_patch_bad(43, 33, 44);      /* session_id over 32 */
	expect_patch_bad(77, 61, 78);      /* odd cipher_suites */
	expect_patch_bad(76, 1, 78);       /* cipher_suites past the ClientHello */
	expect_patch_bad(140, 0, 141);     /* no compression_methods */
	expect_patch_bad(140, 0xff, 141);  /* compression past the ClientHello */
	expect_patch_bad(143, 179, 144);   /* extensions past the ClientHello */
	expect_patch_bad(143, 177, 144);   /* bytes after the extensions */
	expect_patch_bad(147, 22, 150);    /* server_name longer than its list */
	expect_patch_bad(147, 20, 150);    /* list past server_name */
	expect_patch_bad(149, 20, 150);    /* list past server_name */
	expect_patch_bad(149, 18, 150);    /* bytes after the list */
	expect_patch_bad(149, 0, 150);     /* an empty list */
	expect_patch_bad(152, 17, 153);    /* name past the list */
	expect_patch_bad(152, 0, 153);     /* an empty name */
	expect_patch_bad(283, 39, 284);    /* last extension past the extensions */
	/* A record shorter than the message: the next "record" is garbage. */
	expect_patch_bad(4, 0x00, 262);

	/* Record lengths 0 and 16385. */
	expect_bad((const uint8_t *)"\x16\x03\x01\x00\x00", 5);
	expect_bad((const uint8_t *)"\x16\x03\x01\x40\x01", 5);
	expect_more((const uint8_t *)"\x16\x03\x01\x40\x00", 5);
}

/* The same extension type twice. */
static void
test_duplicate(void **state)
{
	static struct buf x, hs, in;
	x.len = 0;
	ext_other(&x);
	ext_name(&x, "a.example", 9);
	ext_other(&x);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_bad(in.b, in.len);
	x.len = 0;
	ext_name(&x, "a.example", 9);
	ext_name(&x, "a.example", 9);
	hello(&hs, &x);
	records(&in, hs.b, hs.len, 16384);
	expect_bad(in.b, in.len);
	/* Found as soon as the second one's type is here. */
	expect_bad(in.b, in.len - 16);
	expect_more(in.b, in.len - 17);
}

/* Between the records of a ClientHello, another record type. */
static void
test_interleaved(void **state)
{
	static struct buf in;
	static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
	in.len = 0;
	put(&in, real_hello, 3);
	put16(&in, 100);
	put(&in, real_hello + 5, 100);
	put(&in, ccs, sizeof ccs);
	expect_bad(in.b, in.len);
	expect_bad(in.b, in.len - 5);
}

/* A ClientHello padded to length; one record unless rec says otherwise. */
static void
padded(struct buf *in, size_t total, size_t rec)
{
	static struct buf x, hs;
	static uint8_t zero[SNI_HELLO_MAX];
	hello(&hs, NULL);
	/* server_name, the padding extension's header, its data. */
	size_t pad = total - hs.len - 2 - (4 + 5 + 9) - 4;
	x.len = 0;
	ext_name(&x, "a.example", 9);
	ext(&x, 21, zero, pad);
	hello(&hs, &x);
	assert_int_equal(hs.len, total);
	records(in, hs.b, hs.len, rec);
}

static void
test_too_long(void **state)
{
	static struct buf in;
	/* The longest: one full record, SNI_HELLO_MAX bytes. */
	padded(&in, 16384, 16384);
	assert_int_equal(in.len, SNI_HELLO_MAX);
	expect_found(in.b, in.len, "a.example");
	expect_more(in.b, in.len - 1);
	/* The same in two records cannot arrive in SNI_HELLO_MAX bytes: said
	 * once the first record's header is here. */
	padded(&in, 16384, 16000);
	expect_bad(in.b, in.len);
	expect_bad(in.b, 9);
	expect_more(in.b, 8);
	/* In two records but 5 bytes shorter it can. */
	padded(&in, 16379, 16000);
	assert_int_equal(in.len, SNI_HELLO_MAX);
	expect_found(in.b, in.len, "a.example");
	/* A handshake length over what one record holds. */
	expect_bad((const uint8_t *)"\x16\x03\x01\x40\x00\x01\x00\x3f\xfd", 9);
	expect_more((const uint8_t *)"\x16\x03\x01\x40\x00\x01\x00\x3f\xfc", 9);
}

static void
test_host_room(void **state)
{
	static struct buf in;
	char host[10];
	const char *why = NULL;
	named(&in, "a.example", 9);
	assert_int_equal(sni_parse(in.b, in.len, host, 9, &why), SNI_BAD);
	assert_non_null(why);
	assert_int_equal(sni_parse(in.b, in.len, host, 10, &why), SNI_FOUND);
	assert_string_equal(host, "a.example");
	/* "" needs its NUL too; why may be NULL. */
	assert_int_equal(sni_parse(real_hello_nosni, sizeof real_hello_nosni,
	    host, 0, NULL), SNI_BAD);
	assert_int_equal(sni_parse(real_hello_nosni, sizeof real_hello_nosni,
	    host, 1, NULL), SNI_FOUND);
	assert_string_equal(host, "");
}

static void
test_alert(void **state)
{
	static const uint8_t want[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70};
	uint8_t buf[8];
	memset(buf, 0xee, sizeof buf);
	assert_int_equal(sni_alert(112, buf), 7);
	assert_memory_equal(buf, want, 7);
	assert_int_equal(buf[7], 0xee);
	assert_int_equal(sni_alert(SNI_ALERT_HANDSHAKE_FAILURE, buf), 7);
	assert_int_equal(buf[6], 40);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real),
	    cmocka_unit_test(test_real_then_more),
	    cmocka_unit_test(test_real_split),
	    cmocka_unit_test(test_built),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_name_list),
	    cmocka_unit_test(test_not_tls),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_duplicate),
	    cmocka_unit_test(test_interleaved),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_host_room),
	    cmocka_unit_test(test_alert),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
