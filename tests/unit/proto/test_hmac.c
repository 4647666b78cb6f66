/* HMAC-SHA256 in src/proto/auth.c against RFC 4231's test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/auth.h"

static void
hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void
check(const void *key, size_t keylen, const void *msg, size_t len,
    const char *want)
{
	uint8_t mac[MAC_LEN];
	char got[2 * MAC_LEN + 1];
	auth_hmac_sha256(key, keylen, msg, len, mac);
	hex(mac, sizeof mac, got);
	assert_string_equal(got, want);
}

/* RFC 4231 4.2: 20-byte key of 0x0b. */
static void
test_rfc4231_case1(void **state)
{
	uint8_t key[20];
	memset(key, 0x0b, sizeof key);
	check(key, sizeof key, "Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

/* RFC 4231 4.3: a key shorter than the output. */
static void
test_rfc4231_case2(void **state)
{
	check("Jefe", 4, "what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231 4.7: a 131-byte key, longer than the block, is hashed first. */
static void
test_rfc4231_case6(void **state)
{
	uint8_t key[131];
	memset(key, 0xaa, sizeof key);
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	check(key, sizeof key, msg, strlen(msg),
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void
test_random_differs(void **state)
{
	uint8_t a[NONCE_LEN], b[NONCE_LEN];
	assert_int_equal(auth_nonce(a), 0);
	assert_int_equal(auth_nonce(b), 0);
	assert_memory_not_equal(a, b, NONCE_LEN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4231_case1),
	    cmocka_unit_test(test_rfc4231_case2),
	    cmocka_unit_test(test_rfc4231_case6),
	    cmocka_unit_test(test_random_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
