/* The low-level SHA256_* (not SHA256(), which fetches a provider: 2 MB
 * resident in OpenSSL 3; see proto/auth.c). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "util/fingerprint.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
fingerprint_format(const uint8_t fp[FINGERPRINT_LEN], char out[FINGERPRINT_STR_MAX])
{
	char *o = out + 7;
	memcpy(out, "SHA256:", 7);
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < FINGERPRINT_LEN; i++) {
		acc = acc << 8 | fp[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			*o++ = b64[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		*o++ = b64[(acc << (6 - bits)) & 63];
	*o = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_hex(const char *s, uint8_t out[FINGERPRINT_LEN])
{
	/* 64 digits, or 32 pairs with a colon between each two: no other colons. */
	size_t len = strlen(s);
	int colons = len == 3 * FINGERPRINT_LEN - 1;
	if (!colons && len != 2 * FINGERPRINT_LEN)
		return -1;
	for (size_t i = 0; i < FINGERPRINT_LEN; i++) {
		if (colons && i > 0 && *s++ != ':')
			return -1;
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return 0;
}

static int
parse_b64(const char *s, uint8_t out[FINGERPRINT_LEN])
{
	size_t len = strlen(s);
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len != 43)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(b64, s[i]);
		if (p == NULL || s[i] == '\0')
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == FINGERPRINT_LEN)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* 43 characters carry 258 bits: the last 2 must be zero. */
	return n == FINGERPRINT_LEN && (acc & ((1u << bits) - 1)) == 0 ? 0 : -1;
}

int
fingerprint_parse(const char *s, uint8_t out[FINGERPRINT_LEN], const char **why)
{
	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	if (parse_hex(s, out) == 0 || parse_b64(s, out) == 0)
		return 0;
	*why = "expected SHA256: and 43 base64 characters (as the server logs it), "
	       "or 64 hex digits";
	return -1;
}

void
fingerprint_of_spki(const uint8_t *der, size_t n, uint8_t fp[FINGERPRINT_LEN])
{
	SHA256_CTX sha;
	SHA256_Init(&sha);
	SHA256_Update(&sha, der, n);
	SHA256_Final(fp, &sha);
}

/*
 * One DER element at *p (before end): its tag, and its contents in
 * [*val, *val + *len); *p moves past it. 0, or -1 if malformed.
 */
static int
der_next(const uint8_t **p, const uint8_t *end, uint8_t *tag,
    const uint8_t **val, size_t *len)
{
	const uint8_t *q = *p;
	if (end - q < 2)
		return -1;
	*tag = *q++;
	size_t n = *q++;
	if (n & 0x80) {
		size_t k = n & 0x7f;
		if (k == 0 || k > 4 || (size_t)(end - q) < k)
			return -1;
		n = 0;
		while (k-- > 0)
			n = n << 8 | *q++;
	}
	if (n > (size_t)(end - q))
		return -1;
	*val = q;
	*len = n;
	*p = q + n;
	return 0;
}

#define DER_SEQUENCE 0x30
#define DER_VERSION 0xa0 /* [0] EXPLICIT */

/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, ... }, ... } */
static int
der_spki(const uint8_t *der, size_t n, const uint8_t **spki, size_t *spki_len)
{
	const uint8_t *p = der, *v, *tbs;
	size_t len, tbs_len;
	uint8_t tag;
	if (der_next(&p, der + n, &tag, &v, &len) != 0 || tag != DER_SEQUENCE)
		return -1;
	p = v;
	if (der_next(&p, v + len, &tag, &tbs, &tbs_len) != 0 || tag != DER_SEQUENCE)
		return -1;
	p = tbs;
	const uint8_t *end = tbs + tbs_len;
	for (int i = 0; i < 7; i++) {
		const uint8_t *start = p;
		if (der_next(&p, end, &tag, &v, &len) != 0)
			return -1;
		if (i == 0 && tag != DER_VERSION)
			i++; /* v1: no version field */
		if (i == 6) {
			if (tag != DER_SEQUENCE)
				return -1;
			*spki = start;
			*spki_len = (size_t)(p - start);
			return 0;
		}
	}
	return -1;
}

int
fingerprint_of_cert_pem(const char *pem, size_t len, uint8_t fp[FINGERPRINT_LEN])
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char finish[] = "-----END CERTIFICATE-----";
	const char *b = memmem(pem, len, begin, sizeof begin - 1);
	if (b == NULL)
		return -1;
	b += sizeof begin - 1;
	const char *e = memmem(b, len - (size_t)(b - pem), finish, sizeof finish - 1);
	if (e == NULL)
		return -1;
	/* The base64 between the markers, without line breaks. */
	size_t n = (size_t)(e - b);
	char *text = malloc(n + 1);
	uint8_t *der = malloc(n);
	size_t t = 0;
	int rc = -1;
	if (text == NULL || der == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (b[i] != '\n' && b[i] != '\r' && b[i] != ' ' && b[i] != '\t')
			text[t++] = b[i];
	text[t] = '\0';
	int dn = t % 4 == 0 ? EVP_DecodeBlock(der, (const unsigned char *)text, (int)t) : -1;
	if (dn <= 0)
		goto out;
	/* EVP_DecodeBlock counts padding as zero bytes: the DER's own length
	 * bounds the walk anyway. */
	const uint8_t *spki;
	size_t spki_len;
	if (der_spki(der, (size_t)dn, &spki, &spki_len) == 0) {
		fingerprint_of_spki(spki, spki_len, fp);
		rc = 0;
	}
out:
	free(text);
	free(der);
	return rc;
}
