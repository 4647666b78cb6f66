#include "proto/httpt.h"

#include <stdio.h>
#include <string.h>

#include <http_parser.h>

#include "proto/http.h"

/* A decimal of at most 19 digits from [p, e); 0 or -1. */
static int
dec_parse(const char *p, const char *e, uint64_t *v)
{
	if (p == e || e - p > 19)
		return -1;
	uint64_t x = 0;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
}

int
httpt_query_parse(const char *query, struct httpt_query *q)
{
	memset(q, 0, sizeof *q);
	const char *p = query;
	while (*p != '\0') {
		const char *e = strchr(p, '&');
		if (e == NULL)
			e = p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (eq != NULL && eq - p == 1) {
			const char *v = eq + 1;
			uint64_t x;
			switch (p[0]) {
			case 'b':
				if (e - v != HTTPT_ID_LEN)
					return -1;
				for (const char *c = v; c < e; c++)
					if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
						return -1;
				memcpy(q->id, v, HTTPT_ID_LEN);
				q->id[HTTPT_ID_LEN] = '\0';
				break;
			case 'o':
				if (dec_parse(v, e, &q->off) != 0)
					return -1;
				q->has_off = 1;
				break;
			case 'a':
				if (dec_parse(v, e, &q->ack) != 0)
					return -1;
				q->has_ack = 1;
				break;
			case 'm':
				if (dec_parse(v, e, &x) != 0)
					return -1;
				q->max = x > HTTPT_BODY_MAX ? HTTPT_BODY_MAX : (uint32_t)x;
				break;
			case 'f':
				q->fin = e - v == 1 && v[0] == '1';
				break;
			default:
				break; /* a cache buster or a proxy's addition: ignored */
			}
		}
		p = *e ? e + 1 : e;
	}
	return q->id[0] != '\0' ? 0 : -1;
}

int
httpt_request_is_ours(const struct http_head *h, const char *path)
{
	struct httpt_query q;
	return (h->method == HTTP_POST || h->method == HTTP_GET) && !h->upgrade_ws &&
	    strcmp(h->path, path) == 0 && httpt_query_parse(h->query, &q) == 0;
}

static const char httpt_common[] =
    "User-Agent: burrow/" BURROW_VERSION "\r\nCache-Control: no-store\r\n"
    "Pragma: no-cache\r\n";

size_t
httpt_post_head(char *buf, size_t cap, const char *target_prefix,
    const char *path, const char *host, const char *auth, const char *id,
    uint64_t off, int fin, size_t body_len)
{
	int n = snprintf(buf, cap,
	    "POST %s%s?b=%s&o=%llu%s HTTP/1.1\r\nHost: %s\r\n%s%s"
	    "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
	    target_prefix, path, id, (unsigned long long)off, fin ? "&f=1" : "", host,
	    httpt_common, auth ? auth : "", body_len);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t
httpt_get_head(char *buf, size_t cap, const char *target_prefix,
    const char *path, const char *host, const char *auth, const char *id,
    uint64_t ack, uint32_t max)
{
	int n = snprintf(buf, cap, "GET %s%s?b=%s&a=%llu&m=%u HTTP/1.1\r\nHost: %s\r\n%s%s\r\n",
	    target_prefix, path, id, (unsigned long long)ack, max, host, httpt_common,
	    auth ? auth : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t
httpt_response_head(char *buf, size_t cap, size_t body_len, int keep_alive)
{
	int n = snprintf(buf, cap,
	    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
	    body_len, keep_alive ? "" : "Connection: close\r\n");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void
httpt_prefix_encode(uint8_t p[HTTPT_PREFIX], uint64_t off, uint8_t flags)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(off >> (56 - 8 * i));
	p[8] = flags;
}

void
httpt_prefix_decode(const uint8_t p[HTTPT_PREFIX], uint64_t *off, uint8_t *flags)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	*off = x;
	*flags = p[8];
}
