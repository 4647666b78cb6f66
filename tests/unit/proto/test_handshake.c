/* Unit tests for src/proto/handshake.c: both sides of the handshake, pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/auth.h"
#include "proto/handshake.h"

static const uint8_t CN[NONCE_LEN] = {1, 2, 3};
static const uint8_t SN[NONCE_LEN] = {9, 8, 7};

/* A control handshake keyed by the token, then a data connection keyed by
 * the session key both sides derived. */
static void
test_control_then_data(void **state)
{
	struct handshake c, s;
	uint8_t buf[MSG_MAX], reply[MSG_MAX], key_c[MAC_LEN], key_s[MAC_LEN];
	size_t n, rn;
	uint16_t code, version;
	char text[128];
	const char *why = NULL, *token = "t0ken-t0ken-t0ken";

	n = hs_client_hello(&c, HELLO_CONTROL, CN, 0, buf);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), 0);
	assert_int_equal(s.role, HELLO_CONTROL);
	assert_int_equal(hs_client_on_hello(&c, reply, rn, &version, &why), 0);
	n = hs_client_auth(&c, token, strlen(token), 0, buf);
	assert_int_equal(n, MAC_LEN);
	struct msg_auth a;
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), 0);
	assert_true(hs_server_verify(&s, &a, token, strlen(token)));
	assert_false(hs_server_verify(&s, &a, "other", 5));
	rn = hs_server_auth_ok(&s, token, strlen(token), 77, reply);
	uint32_t sid = 0;
	int refused = -1;
	assert_int_equal(hs_client_on_auth_ok(&c, reply, rn, token, strlen(token),
			     &sid, &refused, &why), 0);
	assert_int_equal(sid, 77);
	assert_int_equal(refused, 0);
	/* A server that does not know the token cannot prove it. */
	rn = hs_server_auth_ok(&s, "other", 5, 77, reply);
	assert_int_equal(hs_client_on_auth_ok(&c, reply, rn, token, strlen(token),
			     &sid, &refused, &why), -1);
	assert_int_equal(refused, 1);
	/* A malformed one is not a refusal. */
	assert_int_equal(hs_client_on_auth_ok(&c, reply, rn - 1, token, strlen(token),
			     &sid, &refused, &why), -1);
	assert_int_equal(refused, 0);
	hs_session_key(&c, token, key_c);
	hs_session_key(&s, token, key_s);
	assert_memory_equal(key_c, key_s, MAC_LEN);

	/* The data connection: its AUTH names the session, keyed by its key. */
	struct handshake dc, ds;
	uint8_t cn2[NONCE_LEN] = {5}, sn2[NONCE_LEN] = {6};
	n = hs_client_hello(&dc, HELLO_DATA, cn2, 0, buf);
	assert_int_equal(hs_server_on_hello(&ds, buf, n, sn2, 0, reply, &rn, &code, text,
			     sizeof text, &why), 0);
	assert_int_equal(hs_client_on_hello(&dc, reply, rn, &version, &why), 0);
	n = hs_client_auth(&dc, key_c, MAC_LEN, 77, buf);
	assert_int_equal(n, AUTH_DATA_LEN);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_DATA, &a, &why), 0);
	assert_int_equal(a.session_id, 77);
	assert_true(hs_server_verify(&ds, &a, key_s, MAC_LEN));
	assert_false(hs_server_verify(&ds, &a, token, strlen(token)));
	/* The length of AUTH depends on the role. */
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), -1);
}

/* The server answers another version or role with an ERROR to send; garbage
 * is a protocol error (code 0). */
static void
test_server_refusals(void **state)
{
	struct handshake s;
	uint8_t buf[MSG_MAX], reply[MSG_MAX];
	size_t rn;
	uint16_t code;
	char text[128];
	const char *why = NULL;
	struct msg_hello m = {.version = 2, .role = HELLO_CONTROL};
	size_t n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), -1);
	assert_int_equal(code, ERR_VERSION);
	assert_string_equal(text, "unsupported protocol version 2 (this server speaks 3)");
	m.version = PROTO_VERSION;
	m.role = 7;
	n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), -1);
	assert_string_equal(text, "unknown connection role 7");
	assert_int_equal(hs_server_on_hello(&s, (const uint8_t *)"GET /", 5, SN, 0, reply,
			     &rn, &code, text, sizeof text, &why), -1);
	assert_int_equal(code, 0);
	assert_non_null(why);
}

/* The client tells another version (give up) from a broken HELLO. */
static void
test_client_checks_hello(void **state)
{
	struct handshake c;
	uint8_t buf[MSG_MAX];
	uint16_t version;
	const char *why = NULL;
	hs_client_hello(&c, HELLO_DATA, CN, 0, buf);
	struct msg_hello m = {.version = 4, .role = HELLO_DATA};
	size_t n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_client_on_hello(&c, buf, n, &version, &why), -1);
	assert_int_equal(version, 4);
	m.version = PROTO_VERSION;
	m.role = HELLO_CONTROL; /* not the role we asked for */
	n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_client_on_hello(&c, buf, n, &version, &why), -1);
	assert_int_equal(version, PROTO_VERSION);
}

/* Runs both HELLOs of role; c and s are ready for AUTH. */
static void
hellos(struct handshake *c, struct handshake *s, enum hello_role role)
{
	uint8_t buf[MSG_MAX], reply[MSG_MAX];
	size_t n, rn;
	uint16_t code, version;
	char text[128];
	const char *why = NULL;
	n = hs_client_hello(c, role, CN, 0, buf);
	assert_int_equal(hs_server_on_hello(s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), 0);
	assert_int_equal(hs_client_on_hello(c, reply, rn, &version, &why), 0);
	assert_int_equal(s->role, role);
}

/*
 * The client's AUTH as the server judges it, and the server's AUTH_OK as
 * the client judges it: 1 if both proofs verified. Checks that a refused
 * AUTH_OK is a refusal, not a malformed message.
 */
static int
proofs(const struct handshake *c, const struct handshake *s, const void *key,
    size_t keylen, int *server_ok, int *client_ok)
{
	uint8_t buf[MSG_MAX];
	const char *why = NULL;
	size_t n = hs_client_auth(c, key, keylen, 5, buf);
	struct msg_auth a;
	assert_int_equal(msg_auth_decode(buf, n, (enum hello_role)s->role, &a, &why), 0);
	*server_ok = hs_server_verify(s, &a, key, keylen);
	n = hs_server_auth_ok(s, key, keylen, 99, buf);
	uint32_t sid = 0;
	int refused = -1;
	why = NULL;
	int rc = hs_client_on_auth_ok(c, buf, n, key, keylen, &sid, &refused, &why);
	if (rc == 0) {
		assert_int_equal(refused, 0);
		assert_int_equal(sid, 99);
	} else {
		assert_int_equal(rc, -1);
		assert_int_equal(refused, 1);
		assert_non_null(why);
		assert_int_equal(sid, 0);
	}
	*client_ok = rc == 0;
	return *server_ok && *client_ok;
}

/* Over TLS both sides bind the same exporter value: both proofs verify, for
 * control and data connections. */
static void
test_bind_both(void **state)
{
	static const uint8_t B[BINDING_LEN] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
	const char *token = "t0ken";
	for (int role = HELLO_CONTROL; role <= HELLO_DATA; role++) {
		struct handshake c, s;
		int sok, cok;
		hellos(&c, &s, (enum hello_role)role);
		hs_bind(&c, B);
		hs_bind(&s, B);
		assert_true(c.has_binding && s.has_binding);
		assert_true(proofs(&c, &s, token, strlen(token), &sok, &cok));
		/* Bound, the proofs still need the key. */
		uint8_t buf[MSG_MAX];
		const char *why = NULL;
		size_t n = hs_client_auth(&c, token, strlen(token), 5, buf);
		struct msg_auth a;
		assert_int_equal(msg_auth_decode(buf, n, (enum hello_role)role, &a, &why), 0);
		assert_false(hs_server_verify(&s, &a, "t0keN", 5));
		/* And the bound AUTH is not the unbound one. */
		struct handshake plain = c;
		plain.has_binding = 0;
		uint8_t unbound[MSG_MAX];
		size_t un = hs_client_auth(&plain, token, strlen(token), 5, unbound);
		assert_int_equal(un, n);
		assert_memory_not_equal(unbound, buf, MAC_LEN);
	}
}

/* A proof from another TLS connection, or from none, is refused both ways:
 * a man in the middle cannot relay it. */
static void
test_bind_mismatch(void **state)
{
	uint8_t b1[BINDING_LEN], b2[BINDING_LEN];
	memset(b1, 0x33, sizeof b1);
	memcpy(b2, b1, sizeof b2);
	b2[17] ^= 4;
	const char *token = "t0ken";
	enum { NONE, ONE, TWO };
	static const struct {
		int client, server;
	} cases[] = {
	    {ONE, NONE}, {NONE, ONE}, {ONE, TWO}, {TWO, ONE},
	};
	for (int role = HELLO_CONTROL; role <= HELLO_DATA; role++) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			struct handshake c, s;
			int sok = -1, cok = -1;
			hellos(&c, &s, (enum hello_role)role);
			if (cases[i].client != NONE)
				hs_bind(&c, cases[i].client == ONE ? b1 : b2);
			if (cases[i].server != NONE)
				hs_bind(&s, cases[i].server == ONE ? b1 : b2);
			assert_false(proofs(&c, &s, token, strlen(token), &sok, &cok));
			if (sok || cok)
				fail_msg("role %d case %zu: server %d client %d", role, i,
				    sok, cok);
		}
		/* Neither binds: the plain TCP handshake, still fine. */
		struct handshake c, s;
		int sok, cok;
		hellos(&c, &s, (enum hello_role)role);
		assert_true(proofs(&c, &s, token, strlen(token), &sok, &cok));
	}
}

/* Both sides announce CAP_NAMED and keep the bits they share. */
static void
test_caps_named(void **state)
{
	assert_int_equal(CAP_NAMED, 0x1);
	assert_true(PROTO_CAPS & CAP_NAMED);
	struct handshake c, s;
	hellos(&c, &s, HELLO_CONTROL);
	assert_true(c.caps & CAP_NAMED);
	assert_true(s.caps & CAP_NAMED);

	/* A client that announces everything gets only what the server knows. */
	uint8_t buf[MSG_MAX], reply[MSG_MAX];
	size_t rn;
	uint16_t code, version;
	char text[128];
	const char *why = NULL;
	struct msg_hello m = {.version = PROTO_VERSION, .role = HELLO_CONTROL,
	    .caps = 0xffffffffu};
	size_t n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), 0);
	assert_int_equal(s.caps, PROTO_CAPS);
	struct msg_hello r;
	assert_int_equal(msg_hello_decode(reply, rn, &r, &why), 0);
	assert_int_equal(r.caps, PROTO_CAPS);
	/* One that announces nothing gets nothing. */
	m.caps = 0;
	n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, 0, reply, &rn, &code, text,
			     sizeof text, &why), 0);
	assert_int_equal(s.caps, 0);
	/* And a server without CAP_NAMED leaves the client without it. */
	hs_client_hello(&c, HELLO_CONTROL, CN, 0, buf);
	m.caps = 0x80000000u;
	n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_client_on_hello(&c, buf, n, &version, &why), 0);
	assert_int_equal(c.caps, 0);
}

/* A named control AUTH carries the name next to the same proof; a data
 * connection's AUTH never carries one. */
static void
test_auth_named(void **state)
{
	const char *token = "t0ken";
	struct handshake c, s;
	uint8_t buf[MSG_MAX], plain[MSG_MAX];
	const char *why = NULL;
	struct msg_auth a;
	hellos(&c, &s, HELLO_CONTROL);

	size_t n = hs_client_auth_named(&c, token, strlen(token), "alice.example-1", buf);
	assert_int_equal(n, MAC_LEN + 2 + strlen("alice.example-1"));
	assert_int_equal(buf[MAC_LEN], 0);
	assert_int_equal(buf[MAC_LEN + 1], strlen("alice.example-1"));
	memset(&a, 0x55, sizeof a);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), 0);
	assert_string_equal(a.name, "alice.example-1");
	assert_int_equal(a.session_id, 0);
	assert_true(hs_server_verify(&s, &a, token, strlen(token)));
	assert_false(hs_server_verify(&s, &a, "other", 5));
	/* The proof is the unnamed AUTH's. */
	size_t pn = hs_client_auth(&c, token, strlen(token), 0, plain);
	assert_int_equal(pn, MAC_LEN);
	assert_memory_equal(buf, plain, MAC_LEN);

	/* The longest name fits; an empty one is the unnamed AUTH. */
	char longest[MSG_NAME_MAX + 1];
	memset(longest, 'n', MSG_NAME_MAX);
	longest[MSG_NAME_MAX] = '\0';
	n = hs_client_auth_named(&c, token, strlen(token), longest, buf);
	assert_int_equal(n, MAC_LEN + 2 + MSG_NAME_MAX);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), 0);
	assert_string_equal(a.name, longest);
	n = hs_client_auth_named(&c, token, strlen(token), "", buf);
	assert_int_equal(n, MAC_LEN);
	assert_memory_equal(buf, plain, MAC_LEN);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), 0);
	assert_string_equal(a.name, "");

	/* Bound and named. */
	static const uint8_t B[BINDING_LEN] = {7};
	hs_bind(&c, B);
	hs_bind(&s, B);
	n = hs_client_auth_named(&c, token, strlen(token), "bob", buf);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_CONTROL, &a, &why), 0);
	assert_string_equal(a.name, "bob");
	assert_true(hs_server_verify(&s, &a, token, strlen(token)));
	struct handshake unbound = s;
	unbound.has_binding = 0;
	assert_false(hs_server_verify(&unbound, &a, token, strlen(token)));

	/* A data connection's AUTH is the MAC and a session id, whatever the name. */
	struct handshake dc, ds;
	hellos(&dc, &ds, HELLO_DATA);
	n = hs_client_auth_named(&dc, token, strlen(token), "alice", buf);
	assert_int_equal(n, AUTH_DATA_LEN);
	memset(&a, 0x55, sizeof a);
	assert_int_equal(msg_auth_decode(buf, n, HELLO_DATA, &a, &why), 0);
	assert_string_equal(a.name, "");
	assert_int_equal(a.session_id, 0);
	assert_true(hs_server_verify(&ds, &a, token, strlen(token)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_control_then_data),
	    cmocka_unit_test(test_server_refusals),
	    cmocka_unit_test(test_client_checks_hello),
	    cmocka_unit_test(test_bind_both),
	    cmocka_unit_test(test_bind_mismatch),
	    cmocka_unit_test(test_caps_named),
	    cmocka_unit_test(test_auth_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
