/*
 * libFuzzer target: key fingerprints as a user types them (--fingerprint,
 * clients[N].fingerprint, known_servers lines), on a NUL-terminated copy of
 * the input. Parsing never reads past the NUL; what parses was one of the
 * documented spellings and re-formats to a string that parses to the same
 * bytes; any 32 bytes survive format then parse. abort() on a broken contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fingerprint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexdigits[] = "0123456789abcdefABCDEF";

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* The canonical form: "SHA256:" and 43 characters whose last carries no
 * padding bits, that parses back to fp. */
static void
check_formatted(const uint8_t fp[FINGERPRINT_LEN])
{
	char s[FINGERPRINT_STR_MAX + 8];
	memset(s, 0x7f, sizeof s);
	fingerprint_format(fp, s);
	check(strlen(s) == FINGERPRINT_STR_MAX - 1);
	check(s[FINGERPRINT_STR_MAX] == 0x7f); /* nothing past the NUL */
	check(memcmp(s, "SHA256:", 7) == 0);
	check(strspn(s + 7, b64) == 43);
	check(((strchr(b64, s[49]) - b64) & 3) == 0);
	uint8_t back[FINGERPRINT_LEN];
	const char *why = NULL;
	check(fingerprint_parse(s, back, &why) == 0);
	check(memcmp(back, fp, FINGERPRINT_LEN) == 0);
	/* And the lower-case prefix. */
	s[0] = 's', s[1] = 'h', s[2] = 'a';
	check(fingerprint_parse(s, back, &why) == 0);
	check(memcmp(back, fp, FINGERPRINT_LEN) == 0);
}

/*
 * Something the parser took is an optional prefix and either the 43 base64
 * characters that fingerprint_format gives for fp (and '=' padding: one
 * spelling per key, no set padding bits), or fp's 64 hex digits, in either
 * case, among colons.
 */
static void
check_accepted_shape(const char *s, const uint8_t fp[FINGERPRINT_LEN])
{
	char canon[FINGERPRINT_STR_MAX];
	fingerprint_format(fp, canon);
	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	size_t len = strlen(s);
	size_t hex = 0, other = 0;
	for (size_t i = 0; i < len; i++) {
		if (strchr(hexdigits, s[i]) != NULL)
			hex++;
		else if (s[i] != ':')
			other++;
	}
	if (other == 0 && hex == 2 * FINGERPRINT_LEN) {
		static const char lower[] = "0123456789abcdef";
		size_t d = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == ':')
				continue;
			uint8_t nib = d % 2 == 0 ? fp[d / 2] >> 4 : fp[d / 2] & 15;
			char c = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] + 32) : s[i];
			check(c == lower[nib]);
			d++;
		}
		return;
	}
	size_t body = strspn(s, b64);
	check(body == 43);
	check(memcmp(s, canon + 7, 43) == 0);
	for (size_t i = body; i < len; i++)
		check(s[i] == '=');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	uint8_t fp[FINGERPRINT_LEN];
	const char *why = NULL;
	/* The certificate reader: any bytes, never past size. */
	(void)fingerprint_of_cert_pem((const char *)data, size, fp);
	if (fingerprint_parse(s, fp, &why) == 0) {
		check_accepted_shape(s, fp);
		check_formatted(fp);
	} else {
		check(why != NULL && why[0] != '\0');
	}

	/* Any 32 bytes of the input: format, then the hex spellings. */
	if (size >= FINGERPRINT_LEN) {
		memcpy(fp, data, FINGERPRINT_LEN);
		check_formatted(fp);
		char hex[3 * FINGERPRINT_LEN + 8];
		static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
		const char *digits = data[0] & 1 ? upper : lower;
		int colons = (data[0] & 2) != 0;
		char *o = hex;
		if (data[0] & 4) {
			memcpy(o, "sHa256:", 7);
			o += 7;
		}
		for (size_t i = 0; i < FINGERPRINT_LEN; i++) {
			if (colons && i > 0)
				*o++ = ':';
			*o++ = digits[fp[i] >> 4];
			*o++ = digits[fp[i] & 15];
		}
		*o = '\0';
		uint8_t back[FINGERPRINT_LEN];
		check(fingerprint_parse(hex, back, &why) == 0);
		check(memcmp(back, fp, FINGERPRINT_LEN) == 0);
		/* One digit less is never a fingerprint. */
		o[-1] = '\0';
		check(fingerprint_parse(hex, back, &why) != 0);
	}
	free(s);
	return 0;
}
