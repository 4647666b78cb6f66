#include "util/fingerprint.h"

#include <string.h>
#include <strings.h>

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
