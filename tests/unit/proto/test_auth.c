/* Unit tests for src/proto/auth.c: HMAC-SHA256 challenge-response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/auth.h"

struct nonces {
	uint8_t c[NONCE_LEN], s[NONCE_LEN];
};

static void
fill(struct nonces *n)
{
	for (int i = 0; i < NONCE_LEN; i++) {
		n->c[i] = (uint8_t)(0x10 + i);
		n->s[i] = (uint8_t)(0xa0 + i);
	}
}

static void
test_nonce_random(void **state)
{
	uint8_t a[NONCE_LEN], b[NONCE_LEN];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	assert_int_equal(auth_nonce(a), 0);
	assert_int_equal(auth_nonce(b), 0);
	assert_memory_not_equal(a, b, NONCE_LEN);
	static const uint8_t zero[NONCE_LEN];
	assert_memory_not_equal(a, zero, NONCE_LEN);
}

/* The MAC is exactly the documented construction, for both sides. */
static void
test_mac_matches_spec(void **state)
{
	struct nonces n;
	fill(&n);
	const char *token = "s3cret-token";
	uint8_t msg[16 + 2 * NONCE_LEN], want[MAC_LEN], got[MAC_LEN];
	unsigned int len = MAC_LEN;

	memcpy(msg, "burrow-v1 client", 16);
	memcpy(msg + 16, n.s, NONCE_LEN);
	memcpy(msg + 16 + NONCE_LEN, n.c, NONCE_LEN);
	HMAC(EVP_sha256(), token, (int)strlen(token), msg, sizeof msg, want, &len);
	auth_mac(AUTH_CLIENT, token, n.c, n.s, got);
	assert_memory_equal(got, want, MAC_LEN);

	memcpy(msg, "burrow-v1 server", 16);
	memcpy(msg + 16, n.c, NONCE_LEN);
	memcpy(msg + 16 + NONCE_LEN, n.s, NONCE_LEN);
	HMAC(EVP_sha256(), token, (int)strlen(token), msg, sizeof msg, want, &len);
	auth_mac(AUTH_SERVER, token, n.c, n.s, got);
	assert_memory_equal(got, want, MAC_LEN);
}

static void
test_verify_accepts_own_mac(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t mac[MAC_LEN];
	auth_mac(AUTH_CLIENT, "tok", n.c, n.s, mac);
	assert_true(auth_verify(AUTH_CLIENT, "tok", n.c, n.s, mac));
	auth_mac(AUTH_SERVER, "tok", n.c, n.s, mac);
	assert_true(auth_verify(AUTH_SERVER, "tok", n.c, n.s, mac));
}

static void
test_deterministic(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t a[MAC_LEN], b[MAC_LEN];
	auth_mac(AUTH_CLIENT, "tok", n.c, n.s, a);
	auth_mac(AUTH_CLIENT, "tok", n.c, n.s, b);
	assert_memory_equal(a, b, MAC_LEN);
}

static void
test_wrong_token(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t mac[MAC_LEN];
	auth_mac(AUTH_CLIENT, "right", n.c, n.s, mac);
	assert_false(auth_verify(AUTH_CLIENT, "wrong", n.c, n.s, mac));
	assert_false(auth_verify(AUTH_CLIENT, "righ", n.c, n.s, mac));
	assert_false(auth_verify(AUTH_CLIENT, "right ", n.c, n.s, mac));
	assert_false(auth_verify(AUTH_CLIENT, "", n.c, n.s, mac));
}

/* A MAC for one pair of nonces is no good for another: no replay. */
static void
test_swapped_and_changed_nonces(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t mac[MAC_LEN];
	auth_mac(AUTH_CLIENT, "tok", n.c, n.s, mac);
	assert_false(auth_verify(AUTH_CLIENT, "tok", n.s, n.c, mac));

	auth_mac(AUTH_SERVER, "tok", n.c, n.s, mac);
	assert_false(auth_verify(AUTH_SERVER, "tok", n.s, n.c, mac));

	for (int i = 0; i < NONCE_LEN; i += 7) {
		struct nonces m = n;
		m.s[i] ^= 1;
		auth_mac(AUTH_CLIENT, "tok", n.c, n.s, mac);
		assert_false(auth_verify(AUTH_CLIENT, "tok", m.c, m.s, mac));
		m = n;
		m.c[i] ^= 0x80;
		assert_false(auth_verify(AUTH_CLIENT, "tok", m.c, m.s, mac));
	}
}

/* The server cannot reflect the client's proof back, nor the other way round. */
static void
test_wrong_side(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t cmac[MAC_LEN], smac[MAC_LEN];
	auth_mac(AUTH_CLIENT, "tok", n.c, n.s, cmac);
	auth_mac(AUTH_SERVER, "tok", n.c, n.s, smac);
	assert_memory_not_equal(cmac, smac, MAC_LEN);
	assert_false(auth_verify(AUTH_SERVER, "tok", n.c, n.s, cmac));
	assert_false(auth_verify(AUTH_CLIENT, "tok", n.c, n.s, smac));

	/* Even with equal nonces, where the concatenations coincide. */
	uint8_t same[NONCE_LEN];
	memset(same, 0x42, sizeof same);
	auth_mac(AUTH_CLIENT, "tok", same, same, cmac);
	assert_false(auth_verify(AUTH_SERVER, "tok", same, same, cmac));
}

static void
test_any_bit_flip_fails(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t mac[MAC_LEN];
	auth_mac(AUTH_SERVER, "tok", n.c, n.s, mac);
	for (int i = 0; i < MAC_LEN * 8; i++) {
		mac[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_false(auth_verify(AUTH_SERVER, "tok", n.c, n.s, mac));
		mac[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_true(auth_verify(AUTH_SERVER, "tok", n.c, n.s, mac));
}

/* Tokens longer than a SHA-256 block are hashed by HMAC; they still work and differ. */
static void
test_long_token(void **state)
{
	char a[300], b[300];
	memset(a, 'k', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	memcpy(b, a, sizeof b);
	b[250] = 'j';
	struct nonces n;
	fill(&n);
	uint8_t mac[MAC_LEN];
	auth_mac(AUTH_CLIENT, a, n.c, n.s, mac);
	assert_true(auth_verify(AUTH_CLIENT, a, n.c, n.s, mac));
	assert_false(auth_verify(AUTH_CLIENT, b, n.c, n.s, mac));
}

/* The session key is the documented construction; data proofs keyed by it
 * differ from token proofs and from another session's key. */
static void
test_session_key(void **state)
{
	struct nonces n, m;
	fill(&n);
	fill(&m);
	m.s[0] ^= 1;
	const char *token = "s3cret-token";
	uint8_t msg[21 + 2 * NONCE_LEN], want[MAC_LEN], key[MAC_LEN], other[MAC_LEN];
	unsigned int len = MAC_LEN;
	memcpy(msg, "burrow-v3 session key", 21);
	memcpy(msg + 21, n.c, NONCE_LEN);
	memcpy(msg + 21 + NONCE_LEN, n.s, NONCE_LEN);
	HMAC(EVP_sha256(), token, (int)strlen(token), msg, sizeof msg, want, &len);
	auth_session_key(token, n.c, n.s, key);
	assert_memory_equal(key, want, MAC_LEN);
	auth_session_key(token, m.c, m.s, other);
	assert_memory_not_equal(key, other, MAC_LEN);

	uint8_t mac[MAC_LEN], tmac[MAC_LEN];
	auth_mac_key(AUTH_CLIENT, key, sizeof key, n.c, n.s, mac);
	assert_true(auth_verify_key(AUTH_CLIENT, key, sizeof key, n.c, n.s, mac));
	assert_false(auth_verify_key(AUTH_CLIENT, other, sizeof other, n.c, n.s, mac));
	assert_false(auth_verify(AUTH_CLIENT, token, n.c, n.s, mac));
	auth_mac(AUTH_CLIENT, token, n.c, n.s, tmac);
	assert_false(auth_verify_key(AUTH_CLIENT, key, sizeof key, n.c, n.s, tmac));
}

/* A bound proof is the documented construction: label || nonces || binding. */
static void
test_bound_matches_spec(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t key[MAC_LEN], binding[BINDING_LEN];
	for (int i = 0; i < MAC_LEN; i++) {
		key[i] = (uint8_t)(0x61 + i);
		binding[i] = (uint8_t)(0xc0 ^ i);
	}
	uint8_t msg[16 + 2 * NONCE_LEN + BINDING_LEN], want[MAC_LEN], got[MAC_LEN];
	unsigned int len = MAC_LEN;

	memcpy(msg, "burrow-v1 client", 16);
	memcpy(msg + 16, n.s, NONCE_LEN);
	memcpy(msg + 16 + NONCE_LEN, n.c, NONCE_LEN);
	memcpy(msg + 16 + 2 * NONCE_LEN, binding, BINDING_LEN);
	HMAC(EVP_sha256(), key, sizeof key, msg, sizeof msg, want, &len);
	auth_mac_bound(AUTH_CLIENT, key, sizeof key, n.c, n.s, binding, got);
	assert_memory_equal(got, want, MAC_LEN);

	memcpy(msg, "burrow-v1 server", 16);
	memcpy(msg + 16, n.c, NONCE_LEN);
	memcpy(msg + 16 + NONCE_LEN, n.s, NONCE_LEN);
	HMAC(EVP_sha256(), key, sizeof key, msg, sizeof msg, want, &len);
	auth_mac_bound(AUTH_SERVER, key, sizeof key, n.c, n.s, binding, got);
	assert_memory_equal(got, want, MAC_LEN);
}

/* A bound proof is worthless unbound, and on another TLS connection. */
static void
test_bound_differs(void **state)
{
	struct nonces n;
	fill(&n);
	const char *key = "s3cret-token";
	size_t kl = strlen(key);
	uint8_t b1[BINDING_LEN], b2[BINDING_LEN], zero[BINDING_LEN] = {0};
	memset(b1, 0x11, sizeof b1);
	memset(b2, 0x11, sizeof b2);
	b2[BINDING_LEN - 1] ^= 0x01;

	for (int side = AUTH_CLIENT; side <= AUTH_SERVER; side++) {
		enum auth_side sd = (enum auth_side)side;
		uint8_t unbound[MAC_LEN], m1[MAC_LEN], m2[MAC_LEN], mz[MAC_LEN];
		auth_mac_key(sd, key, kl, n.c, n.s, unbound);
		auth_mac_bound(sd, key, kl, n.c, n.s, b1, m1);
		auth_mac_bound(sd, key, kl, n.c, n.s, b2, m2);
		auth_mac_bound(sd, key, kl, n.c, n.s, zero, mz);
		assert_memory_not_equal(m1, unbound, MAC_LEN);
		assert_memory_not_equal(m1, m2, MAC_LEN);
		/* An all-zero binding is a binding, not the absence of one. */
		assert_memory_not_equal(mz, unbound, MAC_LEN);

		/* verify_bound takes the same binding only. */
		assert_true(auth_verify_bound(sd, key, kl, n.c, n.s, b1, m1));
		assert_false(auth_verify_bound(sd, key, kl, n.c, n.s, b2, m1));
		assert_false(auth_verify_bound(sd, key, kl, n.c, n.s, NULL, m1));
		assert_false(auth_verify_key(sd, key, kl, n.c, n.s, m1));
		assert_false(auth_verify_bound(sd, key, kl, n.c, n.s, b1, unbound));
		assert_false(auth_verify_bound(sd, key, kl, n.c, n.s, zero, unbound));
		/* Any byte of the binding counts. */
		for (int i = 0; i < BINDING_LEN; i++) {
			uint8_t b[BINDING_LEN];
			memcpy(b, b1, sizeof b);
			b[i] ^= 0x80;
			assert_false(auth_verify_bound(sd, key, kl, n.c, n.s, b, m1));
		}
		/* Still keyed, still sided, still tied to the nonces. */
		assert_false(auth_verify_bound(sd, "s3cret-tokeN", kl, n.c, n.s, b1, m1));
		assert_false(auth_verify_bound(sd == AUTH_CLIENT ? AUTH_SERVER : AUTH_CLIENT,
		    key, kl, n.c, n.s, b1, m1));
		assert_false(auth_verify_bound(sd, key, kl, n.s, n.c, b1, m1));
	}
}

/* Without a binding the proofs are those of before TLS: old peers interoperate. */
static void
test_bound_null_is_unbound(void **state)
{
	struct nonces n;
	fill(&n);
	uint8_t key[MAC_LEN];
	memset(key, 0x42, sizeof key);
	for (int side = AUTH_CLIENT; side <= AUTH_SERVER; side++) {
		enum auth_side sd = (enum auth_side)side;
		uint8_t a[MAC_LEN], b[MAC_LEN], t[MAC_LEN];
		auth_mac_key(sd, key, sizeof key, n.c, n.s, a);
		auth_mac_bound(sd, key, sizeof key, n.c, n.s, NULL, b);
		assert_memory_equal(a, b, MAC_LEN);
		assert_true(auth_verify_bound(sd, key, sizeof key, n.c, n.s, NULL, a));
		assert_true(auth_verify_key(sd, key, sizeof key, n.c, n.s, b));
		/* And keyed by a token, as auth_mac. */
		auth_mac(sd, "tok", n.c, n.s, t);
		auth_mac_bound(sd, "tok", 3, n.c, n.s, NULL, b);
		assert_memory_equal(t, b, MAC_LEN);
		assert_true(auth_verify_bound(sd, "tok", 3, n.c, n.s, NULL, t));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nonce_random),
	    cmocka_unit_test(test_mac_matches_spec),
	    cmocka_unit_test(test_verify_accepts_own_mac),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_wrong_token),
	    cmocka_unit_test(test_swapped_and_changed_nonces),
	    cmocka_unit_test(test_wrong_side),
	    cmocka_unit_test(test_any_bit_flip_fails),
	    cmocka_unit_test(test_long_token),
	    cmocka_unit_test(test_session_key),
	    cmocka_unit_test(test_bound_matches_spec),
	    cmocka_unit_test(test_bound_differs),
	    cmocka_unit_test(test_bound_null_is_unbound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
