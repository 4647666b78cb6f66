/*
 * Unit tests for src/util/fingerprint.c: "SHA256:" + 43 unpadded base64
 * characters (as the server logs a key), or 64 hex digits with or without
 * colons; the prefix in any case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/sha.h>

#include "util/fingerprint.h"

/*
 * A fixed key: the Ed25519 key whose seed is the bytes 00..1f, as its
 * SubjectPublicKeyInfo (DER). Computed offline with the openssl CLI:
 *   printf 302e020100300506032b657004220420000102...1f | xxd -r -p >priv.der
 *   openssl pkey -inform DER -in priv.der -pubout -outform DER -out pub.der
 *   openssl dgst -sha256 -binary pub.der | base64   (and openssl dgst -sha256 -c)
 */
static const uint8_t spki[] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd, 0x18,
    0xe7, 0x4b, 0xc0, 0x99, 0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5, 0x0d, 0x5f,
    0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8};
static const char known_b64[] = "SHA256:oFCDfYUHBYLM9zlLCYiEfMMSy4glm4lImfbyOc8XkaU";
static const char known_hex[] =
    "a050837d85070582ccf7394b0988847cc312cb88259b894899f6f239cf1791a5";
static const char known_colons[] =
    "a0:50:83:7d:85:07:05:82:cc:f7:39:4b:09:88:84:7c:c3:12:cb:88:25:9b:89:48:"
    "99:f6:f2:39:cf:17:91:a5";
static const uint8_t known[FINGERPRINT_LEN] = {
    0xa0, 0x50, 0x83, 0x7d, 0x85, 0x07, 0x05, 0x82, 0xcc, 0xf7, 0x39,
    0x4b, 0x09, 0x88, 0x84, 0x7c, 0xc3, 0x12, 0xcb, 0x88, 0x25, 0x9b,
    0x89, 0x48, 0x99, 0xf6, 0xf2, 0x39, 0xcf, 0x17, 0x91, 0xa5};

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Parses s, which must be accepted, and compares with want. */
static void
assert_parses_to(const char *s, const uint8_t want[FINGERPRINT_LEN])
{
	uint8_t got[FINGERPRINT_LEN];
	const char *why = NULL;
	memset(got, 0x5a, sizeof got);
	if (fingerprint_parse(s, got, &why) != 0)
		fail_msg("'%s' refused: %s", s, why ? why : "(no reason)");
	assert_memory_equal(got, want, FINGERPRINT_LEN);
}

static void
assert_refused(const char *s)
{
	uint8_t got[FINGERPRINT_LEN];
	const char *why = NULL;
	if (fingerprint_parse(s, got, &why) == 0)
		fail_msg("'%s' accepted", s);
	assert_non_null(why);
	assert_non_null(strstr(why, "43 base64 characters"));
}

/* The digest of the fixed key, in the forms openssl prints it. */
static void
test_known_vector(void **state)
{
	uint8_t digest[FINGERPRINT_LEN];
	SHA256(spki, sizeof spki, digest);
	assert_memory_equal(digest, known, FINGERPRINT_LEN);

	char s[FINGERPRINT_STR_MAX];
	memset(s, 'X', sizeof s);
	fingerprint_format(known, s);
	assert_string_equal(s, known_b64);
	assert_int_equal(strlen(s), FINGERPRINT_STR_MAX - 1);

	assert_parses_to(known_b64, known);
	assert_parses_to(known_hex, known);
	assert_parses_to(known_colons, known);

	/* openssl x509 -fingerprint prints upper case. */
	char upper[sizeof known_colons];
	for (size_t i = 0; i < sizeof upper; i++)
		upper[i] = (char)(known_colons[i] >= 'a' && known_colons[i] <= 'f'
			? known_colons[i] - 32 : known_colons[i]);
	assert_parses_to(upper, known);
}

/* "SHA256:" in any case; hex may carry it too. */
static void
test_prefix_case(void **state)
{
	static const char *const prefixes[] = {"SHA256:", "sha256:", "Sha256:", "sHa256:"};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		char s[128];
		snprintf(s, sizeof s, "%s%s", prefixes[i], known_b64 + 7);
		assert_parses_to(s, known);
		snprintf(s, sizeof s, "%s%s", prefixes[i], known_hex);
		assert_parses_to(s, known);
	}
	/* Not other names of the hash, and the base64 is case-sensitive. */
	char s[128];
	snprintf(s, sizeof s, "SHA-256:%s", known_b64 + 7);
	assert_refused(s);
	snprintf(s, sizeof s, "SHA1:%s", known_b64 + 7);
	assert_refused(s);
	snprintf(s, sizeof s, "SHA256 %s", known_b64 + 7);
	assert_refused(s);
	snprintf(s, sizeof s, "SHA256::%s", known_b64 + 7);
	assert_refused(s);
	snprintf(s, sizeof s, "SHA256:%s", known_b64 + 7);
	s[8] ^= 0x20; /* 'F' -> 'f' */
	uint8_t got[FINGERPRINT_LEN];
	const char *why = NULL;
	assert_int_equal(fingerprint_parse(s, got, &why), 0);
	assert_memory_not_equal(got, known, FINGERPRINT_LEN);
}

/* Each form of x parses back to x. */
static void
round_trip(const uint8_t x[FINGERPRINT_LEN])
{
	char s[FINGERPRINT_STR_MAX], hex[3 * FINGERPRINT_LEN], colons[3 * FINGERPRINT_LEN];
	fingerprint_format(x, s);
	assert_int_equal(strlen(s), 50);
	assert_memory_equal(s, "SHA256:", 7);
	assert_int_equal(strspn(s + 7, b64chars), 43);
	assert_parses_to(s, x);
	for (size_t i = 0; i < FINGERPRINT_LEN; i++) {
		snprintf(hex + 2 * i, 3, "%02x", x[i]);
		snprintf(colons + 3 * i, 4, i + 1 < FINGERPRINT_LEN ? "%02X:" : "%02X", x[i]);
	}
	assert_parses_to(hex, x);
	assert_parses_to(colons, x);
}

static void
test_round_trips(void **state)
{
	uint8_t x[FINGERPRINT_LEN];
	memset(x, 0, sizeof x);
	round_trip(x);
	char s[FINGERPRINT_STR_MAX];
	fingerprint_format(x, s);
	assert_string_equal(s, "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	memset(x, 0xff, sizeof x);
	round_trip(x);
	fingerprint_format(x, s);
	/* 256 one bits, then the two zero bits that pad the last character. */
	assert_string_equal(s, "SHA256:" "//////////////////////////////////////////8");
	for (size_t i = 0; i < sizeof x; i++)
		x[i] = (uint8_t)i;
	round_trip(x);
	/* Every bit on its own lands in the right place. */
	for (int bit = 0; bit < FINGERPRINT_LEN * 8; bit++) {
		memset(x, 0, sizeof x);
		x[bit / 8] = (uint8_t)(0x80u >> (bit % 8));
		round_trip(x);
	}
	/* And some noise. */
	uint32_t r = 0x12345678;
	for (int k = 0; k < 200; k++) {
		for (size_t i = 0; i < sizeof x; i++) {
			r = r * 1103515245u + 12345u;
			x[i] = (uint8_t)(r >> 16);
		}
		round_trip(x);
	}
}

static void
test_base64_refusals(void **state)
{
	char s[128];
	assert_refused("");
	assert_refused("SHA256:");
	assert_refused("sha256:");
	/* 42 and 44 characters. */
	snprintf(s, sizeof s, "%.49s", known_b64);
	assert_refused(s);
	snprintf(s, sizeof s, "%sA", known_b64);
	assert_refused(s);
	snprintf(s, sizeof s, "%sAAAA", known_b64);
	assert_refused(s);
	/* Characters outside the alphabet, anywhere; base64url's too. */
	static const char bad[] = {'-', '_', '.', ' ', '!', ':', '\t', '\n', '*',
	    (char)0x80, (char)0xc3};
	for (size_t i = 0; i < sizeof bad; i++) {
		for (size_t pos = 7; pos < 50; pos += 6) {
			snprintf(s, sizeof s, "%s", known_b64);
			s[pos] = bad[i];
			assert_refused(s);
		}
	}
	/* Whitespace around it. */
	snprintf(s, sizeof s, " %s", known_b64);
	assert_refused(s);
	snprintf(s, sizeof s, "%s ", known_b64);
	assert_refused(s);
	snprintf(s, sizeof s, "%s\n", known_b64);
	assert_refused(s);
	/* A '=' inside the text is not padding. */
	snprintf(s, sizeof s, "%s", known_b64);
	s[20] = '=';
	assert_refused(s);
}

/* The 43rd character carries 4 bits of the digest and 2 of padding: a set
 * padding bit is another spelling of the same key, refused. */
static void
test_trailing_bits(void **state)
{
	uint8_t x[FINGERPRINT_LEN];
	char s[FINGERPRINT_STR_MAX];
	memcpy(x, known, sizeof x);
	for (int last = 0; last < 16; last++) {
		x[FINGERPRINT_LEN - 1] = (uint8_t)(0xa0 | last);
		fingerprint_format(x, s);
		const char *p = strchr(b64chars, s[49]);
		assert_non_null(p);
		int idx = (int)(p - b64chars);
		assert_int_equal(idx & 3, 0);
		assert_int_equal(idx >> 2, last);
		assert_parses_to(s, x);
		for (int pad = 1; pad < 4; pad++) {
			s[49] = b64chars[idx | pad];
			assert_refused(s);
		}
	}
}

/* `base64` prints the padded form; one '=' after the 43 characters is taken. */
static void
test_padded_base64(void **state)
{
	char s[128];
	snprintf(s, sizeof s, "%s=", known_b64);
	assert_parses_to(s, known);
	assert_parses_to("oFCDfYUHBYLM9zlLCYiEfMMSy4glm4lImfbyOc8XkaU=", known);
	/* 42 characters and padding are still too few. */
	snprintf(s, sizeof s, "%.49s==", known_b64);
	assert_refused(s);
}

static void
test_hex_refusals(void **state)
{
	char s[256];
	/* 63 and 65 digits, 62 and 66. */
	snprintf(s, sizeof s, "%.63s", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, "%sa", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, "%.62s", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, "%s00", known_hex);
	assert_refused(s);
	/* With colons: one byte short, one byte long, half a byte long. */
	snprintf(s, sizeof s, "%.92s", known_colons);
	assert_refused(s);
	snprintf(s, sizeof s, "%s:00", known_colons);
	assert_refused(s);
	snprintf(s, sizeof s, "%s:0", known_colons);
	assert_refused(s);
	/* Not hex digits. */
	static const char bad[] = {'g', 'G', 'x', ' ', '-', '.', '\t', (char)0xa0};
	for (size_t i = 0; i < sizeof bad; i++) {
		for (size_t pos = 0; pos < 64; pos += 9) {
			snprintf(s, sizeof s, "%s", known_hex);
			s[pos] = bad[i];
			assert_refused(s);
		}
	}
	snprintf(s, sizeof s, "0x%s", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, "%s ", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, " %s", known_colons);
	assert_refused(s);
	/* A colon inside a byte. */
	snprintf(s, sizeof s, "a:050837d85070582ccf7394b0988847cc312cb88259b894899f6f239cf1791a5");
	assert_refused(s);
	snprintf(s, sizeof s, "%s", known_colons);
	s[4] = ':'; /* "a0:5::83:..." */
	assert_refused(s);
	/* Only colons. */
	assert_refused(":");
	assert_refused("::::::::::::::::::::::::::::::::");
}

/*
 * Colons go between bytes and nowhere else: "openssl x509 -fingerprint"
 * prints 31 of them; a stray one anywhere else is refused.
 */
static void
test_stray_colons(void **state)
{
	char s[256];
	snprintf(s, sizeof s, ":%s", known_colons);
	assert_refused(s);
	snprintf(s, sizeof s, "%s:", known_colons);
	assert_refused(s);
	snprintf(s, sizeof s, ":%s", known_hex);
	assert_refused(s);
	snprintf(s, sizeof s, "%s:", known_hex);
	assert_refused(s);
	/* a0::50:... */
	snprintf(s, sizeof s, "%.3s:%s", known_colons, known_colons + 3);
	assert_refused(s);
	snprintf(s, sizeof s, "SHA256::%s", known_hex);
	assert_refused(s);
}


/* A certificate made by burrow's server, and its key's fingerprint as
 * openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256 gives it. */
static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBKzCB0qADAgECAhAJ6/6db6aUyOW4t12pyOpgMAoGCCqGSM49BAMCMBgxFjAU\n"
    "BgNVBAMMDWJ1cnJvdyBzZXJ2ZXIwHhcNMjYxMTI4MDAwNjI3WhcNNDYxMTIzMDEw\n"
    "NjI3WjAYMRYwFAYDVQQDDA1idXJyb3cgc2VydmVyMFkwEwYHKoZIzj0CAQYIKoZI\n"
    "zj0DAQcDQgAESUFszIPvwzcAIg2fOXnnZxGoHHlerVEQkTW3VL59tSBKqm6BQHYb\n"
    "FSJVA5AiGETroQ1dJ8YD3kI4pZ5/gehNdDAKBggqhkjOPQQDAgNIADBFAiEA2uUt\n"
    "mOLtP8M8GluD9YxkvmAkknBPtJqFkXWoQ+/pReMCIAfA6cDvMRzloJq2ayqCTbLu\n"
    "UBY7HuP7S+hhOjbeTLDK\n"
    "-----END CERTIFICATE-----\n";

static void
test_cert_pem(void **state)
{
	uint8_t fp[FINGERPRINT_LEN], want[FINGERPRINT_LEN];
	const char *why;
	assert_int_equal(fingerprint_parse(
	    "SHA256:kqf/obPPkAVR+jrU97fehMKjxx2I3IYf+zdLLbL+M58", want, &why), 0);
	assert_int_equal(fingerprint_of_cert_pem(cert_pem, strlen(cert_pem), fp), 0);
	assert_memory_equal(fp, want, FINGERPRINT_LEN);
	/* Text around the block is ignored. */
	char buf[2048];
	snprintf(buf, sizeof buf, "subject=CN = burrow\n%sjunk\n", cert_pem);
	memset(fp, 0, sizeof fp);
	assert_int_equal(fingerprint_of_cert_pem(buf, strlen(buf), fp), 0);
	assert_memory_equal(fp, want, FINGERPRINT_LEN);
	/* Refused: no markers, no end, cut short, a byte of the DER changed
	 * so a length runs past the end. */
	assert_int_equal(fingerprint_of_cert_pem("", 0, fp), -1);
	assert_int_equal(fingerprint_of_cert_pem(cert_pem, 40, fp), -1);
	snprintf(buf, sizeof buf, "%s", cert_pem);
	char *end = strstr(buf, "-----END");
	memmove(end - 70, end, strlen(end) + 1);
	assert_int_equal(fingerprint_of_cert_pem(buf, strlen(buf), fp), -1);
	snprintf(buf, sizeof buf, "%s", cert_pem);
	buf[sizeof "-----BEGIN CERTIFICATE-----\nMIIB" - 1] = '/'; /* outer length */
	assert_int_equal(fingerprint_of_cert_pem(buf, strlen(buf), fp), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_vector),
	    cmocka_unit_test(test_prefix_case),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_base64_refusals),
	    cmocka_unit_test(test_trailing_bits),
	    cmocka_unit_test(test_padded_base64),
	    cmocka_unit_test(test_hex_refusals),
	    cmocka_unit_test(test_stray_colons),
	    cmocka_unit_test(test_cert_pem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
