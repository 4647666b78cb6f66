/*
 * libFuzzer target: what a visitor's request gives the HTTP edge to read
 * besides its head (proto/hreq.h): the Host value it routes by and the
 * Basic credentials it checks. The first byte picks which.
 * http_host_name: on success the name is non-empty, fits, is lower case
 * letters, digits, '-' and '.', and reads again to itself; a smaller buffer
 * never succeeds with a different name.
 * basic_auth_decode: on success the result fits, has no NUL, its length is
 * what strlen says, and encoding it again gives base64
 * of the same length, which decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto/hreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
host(const char *in)
{
	char out[256], again[256], small[16];
	if (http_host_name(in, out, sizeof out) != 0)
		return;
	size_t n = strlen(out);
	check(n > 0 && n < sizeof out);
	for (size_t i = 0; i < n; i++)
		check((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') ||
		    out[i] == '-' || out[i] == '.');
	check(http_host_name(out, again, sizeof again) == 0 && strcmp(out, again) == 0);
	if (http_host_name(in, small, sizeof small) == 0)
		check(strcmp(small, out) == 0);
}

static void
basic(const char *in, size_t n)
{
	char out[300];
	size_t len = 0;
	if (basic_auth_decode(in, n, out, sizeof out, &len) != 0)
		return;
	check(len < sizeof out && strlen(out) == len);
	unsigned char enc[4 * sizeof out / 3 + 8];
	int e = EVP_EncodeBlock(enc, (const unsigned char *)out, (int)len);
	const char *b = in + 6;
	size_t bl = n - 6;
	while (bl > 0 && *b == ' ')
		b++, bl--;
	while (bl > 0 && b[bl - 1] == ' ')
		bl--;
	/* Same length; the bytes may differ only where the sender set the
	 * unused bits of the last group (non-canonical base64). */
	check(e >= 0 && (size_t)e == bl);
	char again[300];
	size_t len2 = 0;
	char *line = malloc((size_t)e + 7);
	check(line != NULL);
	memcpy(line, "Basic ", 6);
	memcpy(line + 6, enc, (size_t)e);
	check(basic_auth_decode(line, (size_t)e + 6, again, sizeof again, &len2) == 0);
	check(len2 == len && memcmp(again, out, len) == 0);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 1024)
		return 0;
	char *s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1)
		host(s);
	else
		basic(s, strlen(s));
	free(s);
	return 0;
}
