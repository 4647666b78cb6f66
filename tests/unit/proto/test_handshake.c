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

	n = hs_client_hello(&c, HELLO_CONTROL, CN, buf);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, reply, &rn, &code, text,
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
	n = hs_client_hello(&dc, HELLO_DATA, cn2, buf);
	assert_int_equal(hs_server_on_hello(&ds, buf, n, sn2, reply, &rn, &code, text,
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
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, reply, &rn, &code, text,
			     sizeof text, &why), -1);
	assert_int_equal(code, ERR_VERSION);
	assert_string_equal(text, "unsupported protocol version 2 (this server speaks 3)");
	m.version = PROTO_VERSION;
	m.role = 7;
	n = msg_hello_encode(buf, &m);
	assert_int_equal(hs_server_on_hello(&s, buf, n, SN, reply, &rn, &code, text,
			     sizeof text, &why), -1);
	assert_string_equal(text, "unknown connection role 7");
	assert_int_equal(hs_server_on_hello(&s, (const uint8_t *)"GET /", 5, SN, reply,
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
	hs_client_hello(&c, HELLO_DATA, CN, buf);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_control_then_data),
	    cmocka_unit_test(test_server_refusals),
	    cmocka_unit_test(test_client_checks_hello),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
