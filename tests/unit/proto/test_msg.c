/* Unit tests for src/proto/msg.c: payload encoders and decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/msg.h"

/* ---- HELLO ---- */

static void
test_hello_round_trip(void **state)
{
	struct msg_hello in = {.version = PROTO_VERSION, .role = HELLO_CONTROL};
	for (int i = 0; i < NONCE_LEN; i++)
		in.nonce[i] = (uint8_t)(i * 7 + 1);
	uint8_t buf[MSG_MAX];
	size_t n = msg_hello_encode(buf, &in);
	assert_int_equal(n, PROTO_MAGIC_LEN + 2 + 1 + NONCE_LEN + 4); /* + caps */
	assert_memory_equal(buf, "BURROW", 6);
	assert_int_equal(buf[6], 0);
	assert_int_equal(buf[7], PROTO_VERSION);

	struct msg_hello out;
	const char *why = NULL;
	memset(&out, 0xee, sizeof out);
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.version, PROTO_VERSION);
	assert_int_equal(out.role, HELLO_CONTROL);
	assert_memory_equal(out.nonce, in.nonce, NONCE_LEN);
}

static void
test_hello_version_big_endian(void **state)
{
	struct msg_hello in = {.version = 0x1234, .role = 9};
	uint8_t buf[MSG_MAX];
	size_t n = msg_hello_encode(buf, &in);
	assert_int_equal(buf[6], 0x12);
	assert_int_equal(buf[7], 0x34);
	assert_int_equal(buf[8], 9);
	struct msg_hello out;
	const char *why = NULL;
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.version, 0x1234);
	assert_int_equal(out.role, 9);
}

static void
test_hello_bad_magic(void **state)
{
	struct msg_hello in = {.version = PROTO_VERSION};
	uint8_t buf[MSG_MAX];
	size_t n = msg_hello_encode(buf, &in);
	for (int i = 0; i < PROTO_MAGIC_LEN; i++) {
		struct msg_hello out;
		const char *why = NULL;
		buf[i] ^= 0x20;
		assert_int_equal(msg_hello_decode(buf, n, &out, &why), -1);
		assert_string_equal(why, "bad magic");
		buf[i] ^= 0x20;
	}
	/* HTTP on the control port. */
	const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789abcdef";
	struct msg_hello out;
	const char *why = NULL;
	assert_int_equal(msg_hello_decode((const uint8_t *)http, strlen(http), &out,
			     &why), -1);
	assert_string_equal(why, "bad magic");
}

static void
test_hello_truncated_and_trailing(void **state)
{
	struct msg_hello in = {.version = PROTO_VERSION};
	uint8_t buf[MSG_MAX];
	size_t n = msg_hello_encode(buf, &in);
	for (size_t k = 0; k < n; k++) {
		struct msg_hello out;
		const char *why = NULL;
		assert_int_equal(msg_hello_decode(buf, k, &out, &why), -1);
		assert_non_null(why);
	}
	struct msg_hello out;
	const char *why = NULL;
	buf[n] = 0;
	assert_int_equal(msg_hello_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
}

/* ---- AUTH_OK ---- */

static void
test_auth_ok_round_trip(void **state)
{
	struct msg_auth_ok in = {.session_id = 0x01020304};
	for (int i = 0; i < MAC_LEN; i++)
		in.mac[i] = (uint8_t)(0xff - i);
	uint8_t buf[MSG_MAX];
	size_t n = msg_auth_ok_encode(buf, &in);
	assert_int_equal(n, MAC_LEN + 4);
	assert_int_equal(buf[MAC_LEN], 0x01);
	assert_int_equal(buf[MAC_LEN + 3], 0x04);
	struct msg_auth_ok out;
	const char *why = NULL;
	assert_int_equal(msg_auth_ok_decode(buf, n, &out, &why), 0);
	assert_memory_equal(out.mac, in.mac, MAC_LEN);
	assert_int_equal(out.session_id, 0x01020304);

	assert_int_equal(msg_auth_ok_decode(buf, n - 1, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	why = NULL;
	assert_int_equal(msg_auth_ok_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
}

/* ---- AUTH ---- */

/* Builds a control AUTH: the MAC, then a u16 length and len bytes of name. */
static size_t
auth_raw(uint8_t *buf, uint16_t len, const char *name, size_t namelen)
{
	memset(buf, 0xab, MAC_LEN);
	buf[MAC_LEN] = (uint8_t)(len >> 8);
	buf[MAC_LEN + 1] = (uint8_t)len;
	memcpy(buf + MAC_LEN + 2, name, namelen);
	return MAC_LEN + 2 + namelen;
}

static void
test_auth_control_round_trip(void **state)
{
	struct msg_auth in = {.session_id = 0xdeadbeef};
	for (int i = 0; i < MAC_LEN; i++)
		in.mac[i] = (uint8_t)(3 * i + 1);
	uint8_t buf[MSG_MAX];
	struct msg_auth out;
	const char *why = NULL;

	/* Unnamed: exactly the MAC; a control AUTH has no session id. */
	size_t n = msg_auth_encode(buf, &in, HELLO_CONTROL);
	assert_int_equal(n, MAC_LEN);
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), 0);
	assert_memory_equal(out.mac, in.mac, MAC_LEN);
	assert_int_equal(out.session_id, 0);
	assert_string_equal(out.name, "");

	/* Named: the MAC, a big-endian u16 length, the name. */
	snprintf(in.name, sizeof in.name, "%s", "edge-01.eu_west");
	n = msg_auth_encode(buf, &in, HELLO_CONTROL);
	assert_int_equal(n, MAC_LEN + 2 + 15);
	assert_memory_equal(buf, in.mac, MAC_LEN);
	assert_int_equal(buf[MAC_LEN], 0);
	assert_int_equal(buf[MAC_LEN + 1], 15);
	assert_memory_equal(buf + MAC_LEN + 2, "edge-01.eu_west", 15);
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), 0);
	assert_memory_equal(out.mac, in.mac, MAC_LEN);
	assert_string_equal(out.name, "edge-01.eu_west");
	assert_int_equal(out.session_id, 0);

	/* The longest name. */
	memset(in.name, 'z', MSG_NAME_MAX);
	in.name[MSG_NAME_MAX] = '\0';
	n = msg_auth_encode(buf, &in, HELLO_CONTROL);
	assert_int_equal(n, MAC_LEN + 2 + MSG_NAME_MAX);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), 0);
	assert_string_equal(out.name, in.name);

	/* Every truncation of a named AUTH is refused, but the bare MAC is the
	 * unnamed AUTH. */
	snprintf(in.name, sizeof in.name, "%s", "abc");
	n = msg_auth_encode(buf, &in, HELLO_CONTROL);
	for (size_t k = 0; k < n; k++) {
		why = NULL;
		int rc = msg_auth_decode(buf, k, HELLO_CONTROL, &out, &why);
		if (k == MAC_LEN) {
			assert_int_equal(rc, 0);
			assert_string_equal(out.name, "");
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(why);
		}
	}
}

/* A data connection's AUTH is the MAC and the session id, never a name. */
static void
test_auth_data_round_trip(void **state)
{
	struct msg_auth in = {.session_id = 0x01020304, .name = "ignored"};
	memset(in.mac, 0x77, MAC_LEN);
	uint8_t buf[MSG_MAX];
	size_t n = msg_auth_encode(buf, &in, HELLO_DATA);
	assert_int_equal(n, AUTH_DATA_LEN);
	assert_int_equal(buf[MAC_LEN], 0x01);
	assert_int_equal(buf[MAC_LEN + 3], 0x04);
	struct msg_auth out;
	const char *why = NULL;
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_DATA, &out, &why), 0);
	assert_int_equal(out.session_id, 0x01020304);
	assert_string_equal(out.name, "");
	assert_memory_equal(out.mac, in.mac, MAC_LEN);

	for (size_t k = 0; k < n; k++) {
		why = NULL;
		assert_int_equal(msg_auth_decode(buf, k, HELLO_DATA, &out, &why), -1);
		assert_string_equal(why, "malformed message");
	}
	buf[n] = 0;
	assert_int_equal(msg_auth_decode(buf, n + 1, HELLO_DATA, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");

	/* A named control AUTH is no data AUTH (nor the other way round for a
	 * session id that does not spell a name). */
	size_t cn = auth_raw(buf, 5, "alice", 5);
	assert_int_equal(msg_auth_decode(buf, cn, HELLO_DATA, &out, &why), -1);
	n = msg_auth_encode(buf, &in, HELLO_DATA);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
}

static void
test_auth_control_rejections(void **state)
{
	uint8_t buf[MSG_MAX];
	struct msg_auth out;
	const char *why;
	size_t n;

	n = auth_raw(buf, 5, "alice", 5);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), 0);
	assert_string_equal(out.name, "alice");

	/* A MAC and one byte: neither form. */
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, MAC_LEN + 1, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	/* A length and no name. */
	n = auth_raw(buf, 0, "", 0);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "bad client name");

	/* Printable but not a name; UTF-8 is not a name either. */
	static const char *const bad_names[] = {"a b", "a/b", "../x", "a:b", "%s",
	    "caf\xc3\xa9", "\xff"};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		size_t len = strlen(bad_names[i]);
		n = auth_raw(buf, (uint16_t)len, bad_names[i], len);
		why = NULL;
		assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
		assert_string_equal(why, "bad client name");
	}
	/* Control bytes. */
	static const struct {
		const char *s;
		size_t len;
	} ctl[] = {{"a\nb", 3}, {"a\0b", 3}, {"\x7f", 1}, {"x\x1b", 2}};
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
		n = auth_raw(buf, (uint16_t)ctl[i].len, ctl[i].s, ctl[i].len);
		why = NULL;
		assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
		assert_string_equal(why, "malformed message");
	}

	/* MSG_NAME_MAX fits; one more does not. */
	char name[MSG_NAME_MAX + 1];
	memset(name, 'n', sizeof name);
	n = auth_raw(buf, MSG_NAME_MAX, name, MSG_NAME_MAX);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), 0);
	n = auth_raw(buf, MSG_NAME_MAX + 1, name, MSG_NAME_MAX + 1);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "malformed message");

	/* A length beyond the payload, short or huge. */
	n = auth_raw(buf, 6, "alice", 5);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	n = auth_raw(buf, 0xffff, "alice", 5);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "malformed message");

	/* Trailing bytes after the name, even ones that would be a name. */
	n = auth_raw(buf, 4, "alice", 5);
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
	n = auth_raw(buf, 5, "alice", 5);
	buf[n] = 0;
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, n + 1, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");

	/* Shorter than a MAC. */
	why = NULL;
	assert_int_equal(msg_auth_decode(buf, MAC_LEN - 1, HELLO_CONTROL, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	assert_int_equal(msg_auth_decode(buf, 0, HELLO_CONTROL, &out, &why), -1);
}

/* PROTO_CAPS, with CAP_NAMED, goes out in every HELLO and comes back. */
static void
test_hello_caps_named(void **state)
{
	assert_int_equal(CAP_NAMED, 0x1u);
	assert_true((PROTO_CAPS & CAP_NAMED) != 0);
	struct msg_hello in = {.version = PROTO_VERSION, .role = HELLO_CONTROL,
	    .caps = PROTO_CAPS};
	uint8_t buf[MSG_MAX];
	size_t n = msg_hello_encode(buf, &in);
	assert_int_equal(n, PROTO_MAGIC_LEN + 2 + 1 + NONCE_LEN + 4);
	/* The last four bytes, big-endian. */
	assert_int_equal(buf[n - 4], 0);
	assert_int_equal(buf[n - 3], 0);
	assert_int_equal(buf[n - 2], 0);
	assert_int_equal(buf[n - 1], PROTO_CAPS);
	struct msg_hello out;
	const char *why = NULL;
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_true(out.caps & CAP_NAMED);
	assert_int_equal(out.caps, PROTO_CAPS);
	in.caps = 0;
	n = msg_hello_encode(buf, &in);
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_false(out.caps & CAP_NAMED);
}

/* ---- ERROR ---- */

static void
test_error_round_trip(void **state)
{
	uint8_t buf[MSG_MAX];
	size_t n = msg_error_encode(buf, ERR_AUTH, "bad token");
	assert_int_equal(n, 2 + 2 + 9);
	struct msg_error out;
	const char *why = NULL;
	assert_int_equal(msg_error_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.code, ERR_AUTH);
	assert_string_equal(out.text, "bad token");
}

static void
test_error_null_and_empty_text(void **state)
{
	uint8_t buf[MSG_MAX];
	struct msg_error out;
	const char *why = NULL;
	size_t n = msg_error_encode(buf, ERR_SHUTDOWN, NULL);
	assert_int_equal(n, 4);
	assert_int_equal(msg_error_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.code, ERR_SHUTDOWN);
	assert_string_equal(out.text, "");
}

/* The encoder cuts long text and replaces control bytes; the decoder takes it back. */
static void
test_error_encoder_sanitises(void **state)
{
	char text[MSG_TEXT_MAX + 100];
	memset(text, 'a', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	text[3] = '\n';
	text[4] = 0x7f;
	text[5] = 0x1b;
	uint8_t buf[MSG_MAX];
	size_t n = msg_error_encode(buf, ERR_INTERNAL, text);
	assert_true(n <= MSG_MAX);
	assert_int_equal(n, 4 + MSG_TEXT_MAX);
	struct msg_error out;
	const char *why = NULL;
	assert_int_equal(msg_error_decode(buf, n, &out, &why), 0);
	assert_int_equal(strlen(out.text), MSG_TEXT_MAX);
	assert_memory_equal(out.text, "aaa???aa", 8);
}

static void
test_error_rejects_control_bytes(void **state)
{
	static const uint8_t bad[] = {0x00, 0x01, '\n', '\r', 0x1f, 0x7f};
	for (size_t i = 0; i < sizeof bad; i++) {
		uint8_t buf[] = {0, 1, 0, 3, 'a', 'b', 'c'};
		buf[5] = bad[i];
		struct msg_error out;
		const char *why = NULL;
		assert_int_equal(msg_error_decode(buf, sizeof buf, &out, &why), -1);
		assert_string_equal(why, "malformed message");
	}
	/* Bytes >= 0x80 (UTF-8) are allowed. */
	uint8_t utf8[] = {0, 1, 0, 2, 0xc3, 0xa9};
	struct msg_error out;
	const char *why = NULL;
	assert_int_equal(msg_error_decode(utf8, sizeof utf8, &out, &why), 0);
	assert_string_equal(out.text, "\xc3\xa9");
}

static void
test_error_too_long_text(void **state)
{
	uint8_t buf[4 + MSG_TEXT_MAX + 1];
	struct msg_error out;
	const char *why = NULL;
	buf[0] = 0;
	buf[1] = 1;
	memset(buf + 4, 'x', MSG_TEXT_MAX + 1);
	/* MSG_TEXT_MAX fits. */
	buf[2] = MSG_TEXT_MAX >> 8;
	buf[3] = MSG_TEXT_MAX & 0xff;
	assert_int_equal(msg_error_decode(buf, 4 + MSG_TEXT_MAX, &out, &why), 0);
	/* One more does not. */
	buf[2] = (MSG_TEXT_MAX + 1) >> 8;
	buf[3] = (MSG_TEXT_MAX + 1) & 0xff;
	assert_int_equal(msg_error_decode(buf, sizeof buf, &out, &why), -1);
	assert_string_equal(why, "malformed message");
}

static void
test_error_length_beyond_buffer(void **state)
{
	/* Claims 10 bytes of text, has 3. */
	uint8_t buf[] = {0, 1, 0, 10, 'a', 'b', 'c'};
	struct msg_error out;
	const char *why = NULL;
	assert_int_equal(msg_error_decode(buf, sizeof buf, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	/* Claims 0xffff. */
	uint8_t big[] = {0, 1, 0xff, 0xff, 'a'};
	why = NULL;
	assert_int_equal(msg_error_decode(big, sizeof big, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	/* Only a code. */
	why = NULL;
	assert_int_equal(msg_error_decode(buf, 2, &out, &why), -1);
	assert_non_null(why);
	/* Trailing byte after the text. */
	uint8_t trail[] = {0, 1, 0, 1, 'a', 'b'};
	why = NULL;
	assert_int_equal(msg_error_decode(trail, sizeof trail, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
}

/* ---- REGISTER ---- */

static void
test_register_round_trip(void **state)
{
	struct msg_register in = {
	    .kind = TUNNEL_TCP, .flags = REGISTER_HAS_BIND, .port = 8022,
	    .bind = "::1", .name = "ssh-box_1.a"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_encode(buf, &in);
	assert_int_equal(n, 4 + 2 + 3 + 2 + strlen(in.name));
	struct msg_register out;
	const char *why = NULL;
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.kind, TUNNEL_TCP);
	assert_int_equal(out.flags, REGISTER_HAS_BIND);
	assert_int_equal(out.port, 8022);
	assert_string_equal(out.bind, "::1");
	assert_string_equal(out.name, "ssh-box_1.a");
}

static void
test_register_empty_bind_port0(void **state)
{
	struct msg_register in = {.kind = TUNNEL_TCP, .port = 0, .name = "r1"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_encode(buf, &in);
	struct msg_register out;
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.port, 0);
	assert_int_equal(out.flags, 0);
	assert_string_equal(out.bind, "");
	assert_string_equal(out.name, "r1");
}

static void
test_register_longest_fields(void **state)
{
	struct msg_register in = {.kind = TUNNEL_TCP, .port = 65535};
	memset(in.bind, 'b', ADDR_HOST_MAX - 1);
	in.bind[ADDR_HOST_MAX - 1] = '\0';
	memset(in.name, 'n', MSG_NAME_MAX);
	in.name[MSG_NAME_MAX] = '\0';
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_encode(buf, &in);
	assert_true(n <= MSG_MAX);
	struct msg_register out;
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_string_equal(out.bind, in.bind);
	assert_string_equal(out.name, in.name);
	assert_int_equal(out.port, 65535);
}

/* Builds a REGISTER payload by hand so that every field can be wrong. */
static size_t
reg_raw(uint8_t *buf, uint8_t kind, uint8_t flags, const char *bind,
    size_t bindlen, const char *name, size_t namelen)
{
	uint8_t *p = buf;
	*p++ = kind;
	*p++ = flags;
	*p++ = 0x1f;
	*p++ = 0x90;
	*p++ = (uint8_t)(bindlen >> 8);
	*p++ = (uint8_t)bindlen;
	memcpy(p, bind, bindlen);
	p += bindlen;
	*p++ = (uint8_t)(namelen >> 8);
	*p++ = (uint8_t)namelen;
	memcpy(p, name, namelen);
	p += namelen;
	return (size_t)(p - buf);
}

/* Kind HTTPS carries its names in extra, and needs at least one. */
static void
test_register_https(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTPS, .name = "r1",
	    .extra = "app.example.test,*.dev.example.test"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_encode(buf, &in);
	struct msg_register out;
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.kind, TUNNEL_HTTPS);
	assert_string_equal(out.extra, in.extra);
	in.extra[0] = '\0';
	n = msg_register_encode(buf, &in);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "an HTTPS tunnel names no host");
	/* Without the extra field at all: malformed. */
	assert_int_equal(msg_register_decode(buf, n - 2, &out, &why), -1);
}

static void
test_register_rejections(void **state)
{
	uint8_t buf[2048];
	struct msg_register out;
	const char *why;
	size_t n;

	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "ok", 2);
	why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.port, 8080);

	n = reg_raw(buf, 7, 0, "", 0, "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "unknown tunnel kind");

	n = reg_raw(buf, TUNNEL_TCP, 0x08, "", 0, "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "unknown REGISTER flags");
	/* REGISTER_UDP only on a secret tunnel or a visit. */
	n = reg_raw(buf, TUNNEL_TCP, REGISTER_UDP, "", 0, "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "REGISTER's UDP flag is for secret tunnels and visits");
	n = reg_raw(buf, TUNNEL_TCP, 0x80 | REGISTER_HAS_BIND, "", 0, "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "unknown REGISTER flags");

	/* Empty name. */
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "", 0);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "bad tunnel name");

	/* Printable but not a name character. */
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "a b", 3);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "bad tunnel name");
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "../x", 4);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "bad tunnel name");

	/* Control byte in name or bind. */
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "a\nb", 3);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	n = reg_raw(buf, TUNNEL_TCP, 0, "1.2\0.4", 6, "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");

	/* Name of MSG_NAME_MAX + 1. */
	char longname[MSG_NAME_MAX + 1];
	memset(longname, 'n', sizeof longname);
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, longname, sizeof longname);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");

	/* Bind of ADDR_HOST_MAX. */
	char longbind[ADDR_HOST_MAX];
	memset(longbind, 'b', sizeof longbind);
	n = reg_raw(buf, TUNNEL_TCP, REGISTER_HAS_BIND, longbind, sizeof longbind,
	    "ok", 2);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");

	/* Trailing byte. */
	n = reg_raw(buf, TUNNEL_TCP, 0, "", 0, "ok", 2);
	buf[n] = 'x';
	assert_int_equal(msg_register_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");

	/* Every truncation. */
	n = reg_raw(buf, TUNNEL_TCP, 0, "lo", 2, "ok", 2);
	for (size_t k = 0; k < n; k++) {
		why = NULL;
		assert_int_equal(msg_register_decode(buf, k, &out, &why), -1);
		assert_non_null(why);
	}
}

/* ---- REGISTER kind HTTP: names[;paths], then options ---- */

static void
register_same(const struct msg_register *a, const struct msg_register *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->port, b->port);
	assert_string_equal(a->bind, b->bind);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->extra, b->extra);
	assert_int_equal(a->nhopts, b->nhopts);
	for (size_t i = 0; i < a->nhopts; i++) {
		assert_int_equal(a->hopts[i].key, b->hopts[i].key);
		assert_string_equal(a->hopts[i].value, b->hopts[i].value);
	}
}

/* Encodes in, decodes it into out (filled with junk first); the length. */
static size_t
register_round_trip(const struct msg_register *in, struct msg_register *out,
    uint8_t *buf)
{
	size_t n = msg_register_encode(buf, in);
	assert_true(n <= MSG_REGISTER_MAX);
	const char *why = NULL;
	memset(out, 0x55, sizeof *out);
	if (msg_register_decode(buf, n, out, &why) != 0)
		fail_msg("decode: %s", why);
	register_same(in, out);
	return n;
}

static void
test_register_http_no_options(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTP, .flags = REGISTER_MUX_ONLY,
	    .name = "web", .extra = "app.example.test,*.dev.example.test;/api,/v2/"};
	struct msg_register out;
	uint8_t buf[MSG_REGISTER_MAX];
	size_t n = register_round_trip(&in, &out, buf);
	/* kind flags port | bind "" | name | extra | count 0 */
	assert_int_equal(n, 4 + 2 + 2 + 3 + 2 + strlen(in.extra) + 1);
	assert_int_equal(buf[0], TUNNEL_HTTP);
	assert_int_equal(buf[n - 1], 0);
	assert_int_equal(out.nhopts, 0);

	/* No count byte at all: malformed, as is any truncation. */
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n - 1, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	for (size_t k = 0; k < n; k++) {
		why = NULL;
		assert_int_equal(msg_register_decode(buf, k, &out, &why), -1);
		assert_non_null(why);
	}
	buf[n] = 0;
	assert_int_equal(msg_register_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
}

/* No names (a random one under the server's domain), or paths alone. */
static void
test_register_http_empty_names(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTP, .name = "r1", .extra = ""};
	struct msg_register out;
	uint8_t buf[MSG_REGISTER_MAX];
	register_round_trip(&in, &out, buf);
	assert_string_equal(out.extra, "");
	snprintf(in.extra, sizeof in.extra, ";/api");
	register_round_trip(&in, &out, buf);
	assert_string_equal(out.extra, ";/api");
	/* A lone label: the server's domain follows. */
	snprintf(in.extra, sizeof in.extra, "app");
	in.nhopts = 1;
	in.hopts[0].key = HOPT_REMOVE;
	snprintf(in.hopts[0].value, sizeof in.hopts[0].value, "Cookie");
	register_round_trip(&in, &out, buf);
	assert_string_equal(out.extra, "app");
	/* The other kinds with an extra field still want theirs: HTTPS names. */
	in.kind = TUNNEL_HTTPS;
	in.extra[0] = '\0';
	size_t n = msg_register_encode(buf, &in);
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "an HTTPS tunnel names no host");
}

static void
test_register_http_one_option(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTP, .name = "r1", .extra = "a.test",
	    .nhopts = 1};
	in.hopts[0].key = HOPT_HOST;
	snprintf(in.hopts[0].value, sizeof in.hopts[0].value, "localhost:3000");
	struct msg_register out;
	uint8_t buf[MSG_REGISTER_MAX];
	size_t n = register_round_trip(&in, &out, buf);
	/* ... | count 1 | key 1 | u16 14 | "localhost:3000" */
	static const uint8_t tail[] = {1, HOPT_HOST, 0, 14, 'l', 'o', 'c', 'a', 'l', 'h',
	    'o', 's', 't', ':', '3', '0', '0', '0'};
	assert_true(n > sizeof tail);
	assert_memory_equal(buf + n - sizeof tail, tail, sizeof tail);
	assert_int_equal(out.nhopts, 1);
	assert_int_equal(out.hopts[0].key, HOPT_HOST);
	assert_string_equal(out.hopts[0].value, "localhost:3000");
	/* An empty value is the codec's business to carry, the checks' to refuse. */
	in.hopts[0].value[0] = '\0';
	register_round_trip(&in, &out, buf);
}

/* MSG_HOPTS_MAX options of the longest values: beyond MSG_MAX, within
 * MSG_REGISTER_MAX, with every other field at its longest too. */
static void
test_register_http_sixteen_options(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTP, .flags = REGISTER_HAS_BIND,
	    .port = 80, .nhopts = MSG_HOPTS_MAX};
	memset(in.bind, 'b', ADDR_HOST_MAX - 1);
	memset(in.name, 'n', MSG_NAME_MAX);
	memset(in.extra, 'e', MSG_EXTRA_MAX);
	for (int i = 0; i < MSG_HOPTS_MAX; i++) {
		in.hopts[i].key = (uint8_t)(HOPT_HOST + i % 4);
		memset(in.hopts[i].value, 'a' + i, MSG_HOPT_LEN);
	}
	struct msg_register out;
	uint8_t buf[MSG_REGISTER_MAX];
	size_t n = register_round_trip(&in, &out, buf);
	assert_int_equal(n, 4 + 2 + (ADDR_HOST_MAX - 1) + 2 + MSG_NAME_MAX + 2 +
	    MSG_EXTRA_MAX + 1 + MSG_HOPTS_MAX * (1 + 2 + MSG_HOPT_LEN));
	assert_true(n > MSG_MAX);
	assert_int_equal(out.nhopts, MSG_HOPTS_MAX);
	for (int i = 0; i < MSG_HOPTS_MAX; i++) {
		assert_int_equal(out.hopts[i].key, HOPT_HOST + i % 4);
		assert_int_equal(strlen(out.hopts[i].value), MSG_HOPT_LEN);
	}

	/* Small values, each key, in the order given. */
	struct msg_register small = {.kind = TUNNEL_HTTP, .name = "r2",
	    .extra = "x.test;/", .nhopts = MSG_HOPTS_MAX};
	for (int i = 0; i < MSG_HOPTS_MAX; i++) {
		small.hopts[i].key = (uint8_t)(HOPT_REMOVE - i % 4);
		snprintf(small.hopts[i].value, sizeof small.hopts[i].value, "X-%d", i);
	}
	register_round_trip(&small, &out, buf);

	/* More than MSG_HOPTS_MAX in the struct: the encoder sends the first 16. */
	in.nhopts = MSG_HOPTS_MAX + 4;
	n = msg_register_encode(buf, &in);
	assert_true(n <= MSG_REGISTER_MAX);
	const char *why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.nhopts, MSG_HOPTS_MAX);
}

/* Options are for kind HTTP alone: other kinds carry no count. */
static void
test_register_options_http_only(void **state)
{
	struct msg_register in = {.kind = TUNNEL_HTTPS, .name = "r1", .extra = "a.test",
	    .nhopts = 2};
	in.hopts[0].key = HOPT_HOST;
	snprintf(in.hopts[0].value, sizeof in.hopts[0].value, "h");
	uint8_t buf[MSG_REGISTER_MAX];
	size_t n = msg_register_encode(buf, &in);
	assert_int_equal(n, 4 + 2 + 2 + 2 + 2 + 6);
	struct msg_register out;
	const char *why = NULL;
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.nhopts, 0);
	in.kind = TUNNEL_TCP;
	n = msg_register_encode(buf, &in);
	memset(&out, 0x55, sizeof out);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.nhopts, 0);
	assert_string_equal(out.extra, "");
	/* A UDP flag on an HTTP tunnel is refused like on the others. */
	in.kind = TUNNEL_HTTP;
	in.nhopts = 1;
	in.flags = REGISTER_UDP;
	n = msg_register_encode(buf, &in);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "REGISTER's UDP flag is for secret tunnels and visits");
}

/* A kind HTTP REGISTER by hand: name "ok", extra, then raw option bytes. */
static size_t
reg_http_raw(uint8_t *buf, const char *extra, const uint8_t *opts, size_t optlen)
{
	size_t n = reg_raw(buf, TUNNEL_HTTP, 0, "", 0, "ok", 2);
	size_t el = strlen(extra);
	buf[n++] = (uint8_t)(el >> 8);
	buf[n++] = (uint8_t)el;
	memcpy(buf + n, extra, el);
	n += el;
	memcpy(buf + n, opts, optlen);
	return n + optlen;
}

static void
test_register_http_rejections(void **state)
{
	uint8_t buf[MSG_REGISTER_MAX + 64];
	struct msg_register out;
	const char *why;
	size_t n;

	/* Two good options by hand. */
	static const uint8_t good[] = {2, HOPT_SET, 0, 8, 'X', '-', 'A', ':', ' ', 'y',
	    'e', 's', HOPT_REMOVE, 0, 6, 'C', 'o', 'o', 'k', 'i', 'e'};
	n = reg_http_raw(buf, "a.test;/api", good, sizeof good);
	why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.kind, TUNNEL_HTTP);
	assert_string_equal(out.extra, "a.test;/api");
	assert_int_equal(out.nhopts, 2);
	assert_int_equal(out.hopts[0].key, HOPT_SET);
	assert_string_equal(out.hopts[0].value, "X-A: yes");
	assert_int_equal(out.hopts[1].key, HOPT_REMOVE);
	assert_string_equal(out.hopts[1].value, "Cookie");
	/* Every truncation, inside an option too. */
	for (size_t k = 0; k < n; k++) {
		why = NULL;
		assert_int_equal(msg_register_decode(buf, k, &out, &why), -1);
		assert_non_null(why);
	}
	/* Cut inside the second option's value, after its key, before its key. */
	static const size_t cuts[] = {1, 2, 3, 5, 12, 13, 14, 15, 20};
	for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
		n = reg_http_raw(buf, "a.test", good, cuts[c]);
		why = NULL;
		assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
		assert_string_equal(why, "malformed message");
	}
	/* A trailing byte after the options. */
	n = reg_http_raw(buf, "a.test", good, sizeof good);
	buf[n] = 0;
	assert_int_equal(msg_register_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");

	/* Unknown keys: 0, 7 and 255, first or after a good one. */
	static const uint8_t keys[] = {0, HOPT_RESP_REMOVE + 1, 255};
	for (size_t k = 0; k < sizeof keys; k++) {
		uint8_t one[] = {1, keys[k], 0, 1, 'x'};
		n = reg_http_raw(buf, "a.test", one, sizeof one);
		why = NULL;
		assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
		assert_string_equal(why, "unknown HTTP option");
		uint8_t two[] = {2, HOPT_HOST, 0, 1, 'h', keys[k], 0, 0};
		n = reg_http_raw(buf, "", two, sizeof two);
		why = NULL;
		assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
		assert_string_equal(why, "unknown HTTP option");
	}

	/* A count of 17, with or without 17 options after it; 255. */
	uint8_t opts[1 + 17 * 4];
	opts[0] = MSG_HOPTS_MAX + 1;
	for (int i = 0; i < MSG_HOPTS_MAX + 1; i++) {
		uint8_t *o = opts + 1 + i * 4;
		o[0] = HOPT_REMOVE;
		o[1] = 0;
		o[2] = 1;
		o[3] = 'X';
	}
	n = reg_http_raw(buf, "a.test", opts, sizeof opts);
	why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "too many HTTP options");
	n = reg_http_raw(buf, "a.test", opts, 1);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "too many HTTP options");
	opts[0] = 255;
	n = reg_http_raw(buf, "a.test", opts, 1);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "too many HTTP options");
	/* 16 of them are fine. */
	opts[0] = MSG_HOPTS_MAX;
	n = reg_http_raw(buf, "a.test", opts, 1 + MSG_HOPTS_MAX * 4);
	why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.nhopts, MSG_HOPTS_MAX);
	assert_string_equal(out.hopts[MSG_HOPTS_MAX - 1].value, "X");

	/* A value of MSG_HOPT_LEN + 1 bytes; control bytes in a value. */
	uint8_t longv[1 + 3 + MSG_HOPT_LEN + 1] = {1, HOPT_HOST, 0x01, 0x00};
	memset(longv + 4, 'h', MSG_HOPT_LEN + 1);
	n = reg_http_raw(buf, "a.test", longv, sizeof longv);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	longv[2] = 0;
	longv[3] = MSG_HOPT_LEN;
	n = reg_http_raw(buf, "a.test", longv, sizeof longv - 1);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_int_equal(strlen(out.hopts[0].value), MSG_HOPT_LEN);
	static const uint8_t crlf[] = {1, HOPT_SET, 0, 9, 'X', ':', ' ', 'a', '\r', '\n', 'Y',
	    ':', '1'};
	n = reg_http_raw(buf, "a.test", crlf, sizeof crlf);
	assert_int_equal(msg_register_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	/* Bytes that are not UTF-8 become '?', as in the other strings. */
	static const uint8_t latin1[] = {1, HOPT_HOST, 0, 3, 'h', 0xe9, 'h'};
	n = reg_http_raw(buf, "a.test", latin1, sizeof latin1);
	why = NULL;
	assert_int_equal(msg_register_decode(buf, n, &out, &why), 0);
	assert_string_equal(out.hopts[0].value, "h?h");
}

/* ---- REGISTER_OK ---- */

static void
test_register_ok_round_trip(void **state)
{
	struct msg_register_ok in = {.addr = "[::1]:40123"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_ok_encode(buf, &in);
	assert_int_equal(n, 2 + strlen(in.addr));
	struct msg_register_ok out;
	const char *why = NULL;
	assert_int_equal(msg_register_ok_decode(buf, n, &out, &why), 0);
	assert_string_equal(out.addr, "[::1]:40123");

	assert_int_equal(msg_register_ok_decode(buf, n - 1, &out, &why), -1);
	assert_string_equal(why, "malformed message");
	buf[n] = 'z';
	assert_int_equal(msg_register_ok_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
	assert_int_equal(msg_register_ok_decode(buf, 0, &out, &why), -1);
}

static void
test_register_ok_longest(void **state)
{
	struct msg_register_ok in;
	memset(in.addr, 'a', ADDR_STR_MAX - 1);
	in.addr[ADDR_STR_MAX - 1] = '\0';
	uint8_t buf[MSG_MAX];
	size_t n = msg_register_ok_encode(buf, &in);
	struct msg_register_ok out;
	const char *why = NULL;
	assert_int_equal(msg_register_ok_decode(buf, n, &out, &why), 0);
	assert_string_equal(out.addr, in.addr);

	/* One longer than the field on the wire. */
	uint8_t raw[2 + ADDR_STR_MAX];
	raw[0] = ADDR_STR_MAX >> 8;
	raw[1] = ADDR_STR_MAX & 0xff;
	memset(raw + 2, 'a', ADDR_STR_MAX);
	assert_int_equal(msg_register_ok_decode(raw, sizeof raw, &out, &why), -1);
	assert_string_equal(why, "malformed message");
}

/* ---- OPEN ---- */

static void
test_open_round_trip(void **state)
{
	struct msg_open in = {.tunnel_id = 0xa0b0c0d0, .window = 2 * 1024 * 1024,
	    .peer = "203.0.113.9:51234"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_open_encode(buf, &in);
	assert_int_equal(n, 4 + 4 + 2 + strlen(in.peer));
	assert_int_equal(buf[0], 0xa0);
	struct msg_open out;
	const char *why = NULL;
	assert_int_equal(msg_open_decode(buf, n, &out, &why), 0);
	assert_true(out.tunnel_id == 0xa0b0c0d0);
	assert_int_equal(out.window, 2 * 1024 * 1024);
	assert_string_equal(out.peer, in.peer);

	for (size_t k = 0; k < n; k++) {
		why = NULL;
		assert_int_equal(msg_open_decode(buf, k, &out, &why), -1);
		assert_non_null(why);
	}
	/* One byte more starts CAP_FORWARD's tail, which is then cut short. */
	buf[n] = 0;
	assert_int_equal(msg_open_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "malformed message");
}

static void
test_open_dial_round_trip(void **state)
{
	struct msg_open in = {.tunnel_id = 0, .window = 65536,
	    .peer = "127.0.0.1:5000", .kind = OPEN_DIAL, .dest = "[::1]:22"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_open_encode(buf, &in);
	assert_int_equal(n, 4 + 4 + 2 + strlen(in.peer) + 1 + 2 + strlen(in.dest));
	struct msg_open out;
	const char *why = NULL;
	assert_int_equal(msg_open_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.kind, OPEN_DIAL);
	assert_string_equal(out.dest, "[::1]:22");
	/* Cut anywhere but right before the tail (an OPEN_TUNNEL): malformed. */
	size_t base = 4 + 4 + 2 + strlen(in.peer);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(msg_open_decode(buf, k, &out, &why), k == base ? 0 : -1);
	buf[n] = 0;
	assert_int_equal(msg_open_decode(buf, n + 1, &out, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
	/* An unknown kind, and OPEN_DIAL without a destination. */
	size_t tail = 4 + 4 + 2 + strlen(in.peer);
	buf[tail] = 7;
	assert_int_equal(msg_open_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "bad OPEN kind or destination");
	buf[tail] = OPEN_VISIT; /* a visit carries no destination */
	assert_int_equal(msg_open_decode(buf, n, &out, &why), -1);
	assert_string_equal(why, "bad OPEN kind or destination");
	uint8_t empty[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, OPEN_DIAL, 0, 0};
	assert_int_equal(msg_open_decode(empty, sizeof empty, &out, &why), -1);
	assert_string_equal(why, "bad OPEN kind or destination");
}

/* CAP_OPEN_DEST: an OPEN_TUNNEL names the address the user connected to. */
static void
test_open_tunnel_dest(void **state)
{
	struct msg_open in = {.tunnel_id = 3, .window = 65536,
	    .peer = "127.0.0.2:40000", .kind = OPEN_TUNNEL,
	    .dest = "[2001:db8::1]:8080"};
	uint8_t buf[MSG_MAX];
	size_t n = msg_open_encode(buf, &in);
	size_t tail = 4 + 4 + 2 + strlen(in.peer);
	assert_int_equal(n, tail + 1 + 2 + strlen(in.dest));
	assert_int_equal(buf[tail], OPEN_TUNNEL);
	assert_int_equal(buf[tail + 2], strlen(in.dest));
	struct msg_open out;
	const char *why = NULL;
	memset(&out, 0xee, sizeof out);
	assert_int_equal(msg_open_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.kind, OPEN_TUNNEL);
	assert_string_equal(out.peer, in.peer);
	assert_string_equal(out.dest, in.dest);
	/* Without the tail (an older server): the same kind, no dest. */
	memset(&out, 0xee, sizeof out);
	assert_int_equal(msg_open_decode(buf, tail, &out, &why), 0);
	assert_int_equal(out.kind, OPEN_TUNNEL);
	assert_string_equal(out.dest, "");
	/* A tail with an empty dest says nothing: accepted, and the encoder
	 * leaves it out. */
	uint8_t empty[] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 'p', OPEN_TUNNEL, 0, 0};
	memset(&out, 0xee, sizeof out);
	assert_int_equal(msg_open_decode(empty, sizeof empty, &out, &why), 0);
	assert_int_equal(out.kind, OPEN_TUNNEL);
	assert_string_equal(out.dest, "");
	assert_int_equal(msg_open_encode(buf, &out), sizeof empty - 3);
	assert_memory_equal(buf, empty, sizeof empty - 3);
}

static void
test_open_control_in_peer(void **state)
{
	uint8_t buf[] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 3, '1', 0x07, '2'};
	struct msg_open out;
	const char *why = NULL;
	assert_int_equal(msg_open_decode(buf, sizeof buf, &out, &why), -1);
	assert_string_equal(why, "malformed message");
}

/* ---- u32 ---- */

static void
test_u32(void **state)
{
	static const uint32_t vals[] = {0, 1, 0x10000, 0x7fffffff, UINT32_MAX};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		uint8_t buf[8];
		uint32_t v = 12345;
		const char *why = NULL;
		assert_int_equal(msg_u32_encode(buf, vals[i]), 4);
		assert_int_equal(buf[0], (uint8_t)(vals[i] >> 24));
		assert_int_equal(buf[3], (uint8_t)vals[i]);
		assert_int_equal(msg_u32_decode(buf, 4, &v, &why), 0);
		assert_true(v == vals[i]);
	}
	uint8_t buf[5] = {0};
	uint32_t v;
	const char *why = NULL;
	for (size_t k = 0; k < 4; k++) {
		why = NULL;
		assert_int_equal(msg_u32_decode(buf, k, &v, &why), -1);
		assert_string_equal(why, "malformed message");
	}
	assert_int_equal(msg_u32_decode(buf, 5, &v, &why), -1);
	assert_string_equal(why, "trailing bytes in message");
}

/* ---- names ---- */

static void
test_name_valid(void **state)
{
	assert_true(msg_name_valid("a"));
	assert_true(msg_name_valid("web"));
	assert_true(msg_name_valid("Ssh-2_box.local"));
	assert_true(msg_name_valid("0"));
	char name[MSG_NAME_MAX + 2];
	memset(name, 'x', MSG_NAME_MAX);
	name[MSG_NAME_MAX] = '\0';
	assert_true(msg_name_valid(name));
	name[MSG_NAME_MAX] = 'x';
	name[MSG_NAME_MAX + 1] = '\0';
	assert_false(msg_name_valid(name));

	assert_false(msg_name_valid(""));
	assert_false(msg_name_valid("a b"));
	assert_false(msg_name_valid("a/b"));
	assert_false(msg_name_valid("a:b"));
	assert_false(msg_name_valid("tab\t"));
	assert_false(msg_name_valid("caf\xc3\xa9"));
	assert_false(msg_name_valid("x\x7f"));
	assert_false(msg_name_valid("%s"));
}

/* Version 3 HELLOs end with capability bits; older ones have none and still
 * decode, so the version can be named in the answer. */
static void
test_hello_caps(void **state)
{
	uint8_t buf[MSG_MAX];
	struct msg_hello in = {.version = 3, .role = HELLO_DATA, .caps = 0xa5000001u};
	memset(in.nonce, 7, NONCE_LEN);
	size_t n = msg_hello_encode(buf, &in);
	assert_int_equal(n, PROTO_MAGIC_LEN + 2 + 1 + NONCE_LEN + 4);
	struct msg_hello out;
	const char *why = NULL;
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.caps, 0xa5000001u);
	/* Without its caps a version 3 HELLO is short. */
	assert_int_equal(msg_hello_decode(buf, n - 4, &out, &why), -1);
	struct msg_hello old = {.version = 2, .role = HELLO_CONTROL, .caps = 9};
	n = msg_hello_encode(buf, &old);
	assert_int_equal(n, PROTO_MAGIC_LEN + 2 + 1 + NONCE_LEN);
	assert_int_equal(msg_hello_decode(buf, n, &out, &why), 0);
	assert_int_equal(out.version, 2);
	assert_int_equal(out.caps, 0);
}

/* A peer's text is made valid UTF-8 without C1 controls, byte for byte. */
static void
test_error_text_sanitized(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"plain", "plain"},
	    {"caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80"},
	    {"a\x85" "b\x9b", "a?b?"},             /* raw C1 bytes */
	    {"x\xc2\x85y", "x??y"},             /* NEL encoded as UTF-8 */
	    {"\xff\xfe", "??"},                 /* never UTF-8 */
	    {"\xc3", "?"},                       /* cut short */
	    {"\xc0\xaf", "??"},                 /* overlong '/' */
	    {"\xed\xa0\x80", "???"},           /* a surrogate */
	    {"\xf4\x90\x80\x80", "????"},     /* beyond U+10FFFF */
	    {"\xc2\xa0ok", "\xc2\xa0ok"},     /* U+00A0 is fine */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[MSG_MAX];
		size_t n = msg_error_encode(buf, ERR_PROTOCOL, "");
		size_t len = strlen(cases[i].in);
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		memcpy(buf + n, cases[i].in, len);
		struct msg_error e;
		const char *why = NULL;
		assert_int_equal(msg_error_decode(buf, n + len, &e, &why), 0);
		assert_string_equal(e.text, cases[i].out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_caps),
	    cmocka_unit_test(test_error_text_sanitized),
	    cmocka_unit_test(test_hello_round_trip),
	    cmocka_unit_test(test_hello_version_big_endian),
	    cmocka_unit_test(test_hello_bad_magic),
	    cmocka_unit_test(test_hello_truncated_and_trailing),
	    cmocka_unit_test(test_auth_ok_round_trip),
	    cmocka_unit_test(test_auth_control_round_trip),
	    cmocka_unit_test(test_auth_data_round_trip),
	    cmocka_unit_test(test_auth_control_rejections),
	    cmocka_unit_test(test_hello_caps_named),
	    cmocka_unit_test(test_error_round_trip),
	    cmocka_unit_test(test_error_null_and_empty_text),
	    cmocka_unit_test(test_error_encoder_sanitises),
	    cmocka_unit_test(test_error_rejects_control_bytes),
	    cmocka_unit_test(test_error_too_long_text),
	    cmocka_unit_test(test_error_length_beyond_buffer),
	    cmocka_unit_test(test_register_round_trip),
	    cmocka_unit_test(test_register_empty_bind_port0),
	    cmocka_unit_test(test_register_longest_fields),
	    cmocka_unit_test(test_register_rejections),
	    cmocka_unit_test(test_register_https),
	    cmocka_unit_test(test_register_http_no_options),
	    cmocka_unit_test(test_register_http_empty_names),
	    cmocka_unit_test(test_register_http_one_option),
	    cmocka_unit_test(test_register_http_sixteen_options),
	    cmocka_unit_test(test_register_options_http_only),
	    cmocka_unit_test(test_register_http_rejections),
	    cmocka_unit_test(test_register_ok_round_trip),
	    cmocka_unit_test(test_register_ok_longest),
	    cmocka_unit_test(test_open_round_trip),
	    cmocka_unit_test(test_open_dial_round_trip),
	    cmocka_unit_test(test_open_tunnel_dest),
	    cmocka_unit_test(test_open_control_in_peer),
	    cmocka_unit_test(test_u32),
	    cmocka_unit_test(test_name_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
