/* Readers of a visitor's request for the HTTP edge (hreq.h). */
#include "proto/hreq.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

int
http_host_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	if (cap < 2 || in[0] == '[')
		return -1;
	for (; in[n] != '\0' && in[n] != ':'; n++) {
		char c = in[n];
		if (n + 1 >= cap)
			return -1;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			c == '.'))
			return -1;
		if (c == '.' && (n == 0 || out[n - 1] == '.'))
			return -1; /* an empty label */
		out[n] = c;
	}
	size_t len = n;
	if (len > 0 && out[len - 1] == '.')
		len--; /* the root's dot */
	out[len] = '\0';
	return len > 0 ? 0 : -1;
}

int
basic_auth_decode(const char *v, size_t vlen, char *out, size_t cap, size_t *len)
{
	if (vlen < 6 || strncasecmp(v, "Basic ", 6) != 0)
		return -1;
	v += 6;
	vlen -= 6;
	while (vlen > 0 && *v == ' ')
		v++, vlen--;
	while (vlen > 0 && v[vlen - 1] == ' ')
		vlen--;
	if (vlen == 0 || vlen % 4 != 0 || vlen / 4 * 3 + 1 > cap)
		return -1;
	/* The alphabet alone, '=' only as the last one or two (EVP_DecodeBlock
	 * skips blanks and more). */
	size_t pad = v[vlen - 1] == '=' ? (v[vlen - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < vlen - pad; i++) {
		char c = v[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
	}
	int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)v, (int)vlen);
	if (n < 0)
		return -1;
	n -= (int)pad; /* EVP_DecodeBlock counts the padding's zero bytes */
	if (memchr(out, '\0', (size_t)n) != NULL)
		return -1;
	out[n] = '\0';
	*len = (size_t)n;
	return 0;
}
