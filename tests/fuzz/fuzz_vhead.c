/*
 * libFuzzer target: a visitor's request head, as the HTTP edge takes it
 * (http_head_parse), rewritten for the tunnel's service (vhead_rewrite)
 * with and without trust and rewrites. What comes out must be a request
 * head that parses again to the same method and path, is clean (no bare
 * CR, no folded line, no control byte), ends the head once, and carries
 * exactly one X-Forwarded-For, ours last. The same bytes as a service's
 * response head go through vhead_response. abort() on a broken contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/hdr.h"
#include "proto/http.h"
#include "proto/vhead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static size_t
count(const char *s, size_t n, const char *needle)
{
	size_t k = 0, len = strlen(needle);
	for (size_t i = 0; i + len <= n; i++)
		if (memcmp(s + i, needle, len) == 0)
			k++;
	return k;
}

static void
one(const char *head, size_t n, const struct http_head *h, const struct vhead_ctx *c)
{
	static uint8_t out[HTTP_HEAD_MAX * 2];
	size_t outlen = 0;
	const char *why = NULL;
	int r = vhead_rewrite(head, n, h, c, out, sizeof out, &outlen, &why);
	if (r != 0) {
		check(why != NULL && (r == 400 || r == 431));
		return;
	}
	check(outlen >= 4 && memcmp(out + outlen - 4, "\r\n\r\n", 4) == 0);
	check(count((const char *)out, outlen, "\r\n\r\n") == 1);
	check(hdr_unclean(out, outlen) == NULL);
	check(count((const char *)out, outlen, "\r\nX-Forwarded-For: ") == 1);
	if (!c->trusted)
		check(count((const char *)out, outlen, "\r\nX-Forwarded-For: 192.0.2.7\r\n") == 1);
	if (outlen > HTTP_HEAD_MAX)
		return; /* longer than a head we take: not parsed again */
	struct http_head h2;
	size_t head_len = 0;
	int status = 0;
	why = NULL;
	check(http_head_parse(out, outlen, HTTP_HEAD_REQUEST, &h2, &head_len, &status,
		  &why) == 1);
	check(head_len == outlen);
	check(h2.method == h->method);
	check(strcmp(h2.path, h->path) == 0);
	if (c->host_rewrite != NULL)
		check(strcmp(h2.host, c->host_rewrite) == 0);
}

/* A service's response head with response_headers applied: a clean head
 * that parses again to the same status, with the set line once and no
 * removed header. */
static void
response(const uint8_t *data, size_t size)
{
	struct http_head h, h2;
	size_t head_len = 0, outlen = 0, len2 = 0;
	int status = 0;
	const char *why = NULL;
	if (http_head_parse(data, size, HTTP_HEAD_RESPONSE, &h, &head_len, &status, &why) != 1)
		return;
	static const char *const rm[] = {"Server", "Date", NULL};
	static const char *const set[] = {"X-Frame-Options: DENY", NULL};
	static uint8_t out[HTTP_HEAD_MAX * 2];
	if (vhead_response((const char *)data, head_len, rm, set, out, sizeof out, &outlen,
		&why) != 0) {
		check(why != NULL);
		return;
	}
	check(outlen >= 4 && memcmp(out + outlen - 4, "\r\n\r\n", 4) == 0);
	check(count((const char *)out, outlen, "\r\n\r\n") == 1);
	check(hdr_unclean(out, outlen) == NULL);
	check(count((const char *)out, outlen, "\r\nX-Frame-Options: DENY\r\n") == 1);
	size_t vlen;
	check(hdr_find((const char *)out, outlen, "Server", &vlen) == NULL);
	if (outlen > HTTP_HEAD_MAX)
		return;
	check(http_head_parse(out, outlen, HTTP_HEAD_RESPONSE, &h2, &len2, &status, &why) == 1);
	check(len2 == outlen && h2.status == h.status);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head h;
	size_t head_len = 0;
	int status = 0;
	const char *why = NULL;
	response(data, size);
	if (http_head_parse(data, size, HTTP_HEAD_REQUEST, &h, &head_len, &status, &why) != 1)
		return 0;
	static const char *const rm[] = {"Cookie", NULL};
	static const char *const set[] = {"X-Env: fuzz", NULL};
	struct vhead_ctx c = {.client_ip = "192.0.2.7", .client_port = 1, .proto = "http"};
	one((const char *)data, head_len, &h, &c);
	c.trusted = 1;
	c.client_ip = "2001:db8::7";
	c.proto = "https";
	one((const char *)data, head_len, &h, &c);
	c.trusted = 0;
	c.client_ip = "192.0.2.7";
	c.host_rewrite = "localhost:3000";
	c.remove = rm;
	c.set = set;
	one((const char *)data, head_len, &h, &c);
	return 0;
}
