/*
 * libFuzzer target: the http transport's request reader on the server
 * (proto/http.h, proto/httpt.h): a request head from any bytes, whether it
 * is ours, its query. Invariants: a parsed head lies within the input, its
 * strings are terminated, a query that parses has a 32-hex-digit id and a
 * capped max; the same head with more bytes after it parses the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "proto/httpt.h"

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
	uint8_t *p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	struct http_head h, h2;
	size_t hl = 0, hl2 = 0;
	int st;
	const char *why;
	int rc = http_head_parse(p, size, HTTP_HEAD_REQUEST, &h, &hl, &st, &why);
	if (rc == 1) {
		check(hl > 0 && hl <= size && hl <= HTTP_HEAD_MAX);
		check(memchr(h.path, 0, sizeof h.path) && memchr(h.query, 0, sizeof h.query));
		check(h.content_length >= -1);
		/* Parsing the head alone gives the same answer. */
		check(http_head_parse(p, hl, HTTP_HEAD_REQUEST, &h2, &hl2, &st, &why) == 1);
		check(hl2 == hl && strcmp(h.path, h2.path) == 0 &&
		    strcmp(h.query, h2.query) == 0 && h.content_length == h2.content_length);
		struct httpt_query q;
		if (httpt_query_parse(h.query, &q) == 0) {
			check(strlen(q.id) == HTTPT_ID_LEN);
			check(q.max <= HTTPT_BODY_MAX);
		}
		(void)httpt_request_is_ours(&h, "/");
	}
	/* The query reader on the raw bytes as a string too. */
	char *s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		struct httpt_query q;
		if (httpt_query_parse(s, &q) == 0)
			check(strlen(q.id) == HTTPT_ID_LEN);
		free(s);
	}
	free(p);
	return 0;
}
