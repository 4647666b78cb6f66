/*
 * libFuzzer target: an HTTP head (proto/http.h) as a client sends it to the
 * control port and as a server or proxy answers, on any bytes. A head's
 * length is within n and 8 KiB, its strings are NUL-terminated in their
 * fields, a request's path is one; the head alone parses the same, and one
 * byte short of it wants more. Then http_response is read back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_str(const char *s, size_t field)
{
	check(strnlen(s, field) < field);
}

static void
check_head(const uint8_t *p, size_t n, enum http_kind kind)
{
	struct http_head h, again;
	size_t len = 0, len2 = 0;
	int status = 0, st2 = 0;
	const char *why = NULL;
	int rc = http_head_parse(p, n, kind, &h, &len, &status, &why);
	check(rc >= -1 && rc <= 1);
	if (rc == -1) {
		check(why != NULL);
		if (kind == HTTP_HEAD_REQUEST)
			check(status == 400 || status == 414 || status == 431);
		if (status == 431)
			check(n >= HTTP_HEAD_MAX);
		return;
	}
	if (rc == 0) {
		check(n < HTTP_HEAD_MAX);
		return;
	}
	check(len > 0 && len <= n && len <= HTTP_HEAD_MAX);
	check(p[len - 1] == '\n');
	check_str(h.path, sizeof h.path);
	check_str(h.reason, sizeof h.reason);
	check_str(h.host, sizeof h.host);
	check_str(h.ws_key, sizeof h.ws_key);
	check_str(h.ws_accept, sizeof h.ws_accept);
	check_str(h.query, sizeof h.query);
	check(h.content_length >= -1);
	check(h.ws_version >= 0 && h.ws_version <= 9999);
	if (kind == HTTP_HEAD_REQUEST) {
		check(h.path[0] == '/' || strcmp(h.path, "*") == 0);
		check(strchr(h.path, '?') == NULL && strchr(h.path, '#') == NULL);
		check(strchr(h.query, '#') == NULL);
		check(h.status == 0);
	} else {
		check(h.status >= 100 && h.status <= 999);
		check(h.path[0] == '\0');
		for (const char *r = h.reason; *r != '\0'; r++)
			check(*r >= 0x20 && *r < 0x7f);
	}
	/* The head is all it takes: alone it parses the same, and one byte
	 * short of it wants more. A copy of exactly that many bytes, so that
	 * ASan sees a read past them. */
	uint8_t *cut = malloc(len);
	if (cut == NULL)
		return;
	memcpy(cut, p, len);
	check(http_head_parse(cut, len, kind, &again, &len2, &st2, &why) == 1);
	check(len2 == len);
	check(memcmp(&h, &again, sizeof h) == 0);
	check(http_head_parse(cut, len - 1, kind, &again, &len2, &st2, &why) == 0);
	free(cut);
}

/* The input as a reason and a body: what we write, we read. */
static void
check_response(const uint8_t *p, size_t n)
{
	char reason[48], body[128], buf[512];
	size_t r = 0, b = 0;
	for (size_t i = 0; i < n; i++) {
		if (r < sizeof reason - 1 && p[i] >= 0x20 && p[i] < 0x7f)
			reason[r++] = (char)p[i];
		else if (b < sizeof body - 1 && p[i] != '\0')
			body[b++] = (char)p[i];
	}
	reason[r] = body[b] = '\0';
	int status = 100 + (n > 0 ? p[0] : 0) * 3;
	size_t len = http_response(buf, sizeof buf, status, reason, "", body);
	check(len > 0 && len == strlen(buf));
	struct http_head h;
	size_t head_len;
	int st;
	const char *why;
	check(http_head_parse((const uint8_t *)buf, len, HTTP_HEAD_RESPONSE, &h, &head_len,
	    &st, &why) == 1);
	check(h.status == status);
	check(!h.keep_alive);
	check(head_len + b == len);
	check(memcmp(buf + head_len, body, b) == 0);
	check(http_response(buf, len, status, reason, "", body) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes: ASan sees any read past the end. */
	uint8_t *p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	check_head(p, size, HTTP_HEAD_REQUEST);
	check_head(p, size, HTTP_HEAD_RESPONSE);
	check_response(p, size < 200 ? size : 200);
	free(p);
	return 0;
}
