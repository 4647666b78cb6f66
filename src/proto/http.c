#include "proto/http.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

enum field {
	H_OTHER,
	H_HOST,
	H_UPGRADE,
	H_CONNECTION,
	H_WS_KEY,
	H_WS_ACCEPT,
	H_WS_VERSION
};

struct head_state {
	struct http_head *h;
	char *url; /* the request target, NUL-terminated */
	size_t url_cap, url_len;
	int url_long;
	char name[32];
	size_t name_len;
	enum field field;
	char value[HTTP_HOST_MAX];
	size_t value_len;
	int value_long, in_value, bad_header, done;
};

static int
on_url(http_parser *hp, const char *at, size_t len)
{
	struct head_state *st = hp->data;
	if (len >= st->url_cap - st->url_len) {
		st->url_long = 1;
		return 0;
	}
	memcpy(st->url + st->url_len, at, len);
	st->url_len += len;
	st->url[st->url_len] = '\0';
	return 0;
}

/* ", "-separated tokens of v, one of them equal to tok (case-insensitive). */
static int
has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *e = v;
		while (*e != '\0' && *e != ',')
			e++;
		const char *t = e;
		while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - v) == tl && strncasecmp(v, tok, tl) == 0)
			return 1;
		v = e;
	}
	return 0;
}

/* A header's name and value are complete: keep what we look at. */
static void
header_done(struct head_state *st)
{
	struct http_head *h = st->h;
	const char *v = st->value;
	if (!st->in_value)
		return;
	st->in_value = 0;
	/* http-parser drops the whitespace before a value, not after it: the
	 * trailing OWS is not part of it either (RFC 7230 §3.2). */
	while (st->value_len > 0 && (st->value[st->value_len - 1] == ' ' ||
	    st->value[st->value_len - 1] == '\t'))
		st->value[--st->value_len] = '\0';
	switch (st->field) {
	case H_HOST:
		if (st->value_long)
			st->bad_header = 1;
		else
			snprintf(h->host, sizeof h->host, "%s", v);
		break;
	case H_UPGRADE:
		h->upgrade_ws |= has_token(v, "websocket");
		break;
	case H_CONNECTION:
		h->connection_upgrade |= has_token(v, "upgrade");
		break;
	case H_WS_KEY: /* one that does not fit is none of ours */
		if (!st->value_long && st->value_len < sizeof h->ws_key)
			memcpy(h->ws_key, v, st->value_len + 1);
		break;
	case H_WS_ACCEPT:
		if (!st->value_long && st->value_len < sizeof h->ws_accept)
			memcpy(h->ws_accept, v, st->value_len + 1);
		break;
	case H_WS_VERSION: {
		int ver = 0;
		for (const char *p = v; *p != '\0' && ver < 1000; p++)
			ver = *p >= '0' && *p <= '9' ? ver * 10 + (*p - '0') : 1000;
		h->ws_version = ver;
		break;
	}
	default:
		break;
	}
}

static int
on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct head_state *st = hp->data;
	if (st->in_value) {
		header_done(st);
		st->name_len = 0;
	}
	size_t room = sizeof st->name - 1 - st->name_len;
	size_t n = len < room ? len : room;
	memcpy(st->name + st->name_len, at, n);
	st->name_len += n;
	st->name[st->name_len] = '\0';
	if (len > room)
		st->name[0] = '\0'; /* too long to be one we know */
	return 0;
}

static enum field
field_of(const char *name)
{
	static const struct {
		const char *name;
		enum field f;
	} known[] = {{"host", H_HOST}, {"upgrade", H_UPGRADE},
	    {"connection", H_CONNECTION}, {"sec-websocket-key", H_WS_KEY},
	    {"sec-websocket-accept", H_WS_ACCEPT},
	    {"sec-websocket-version", H_WS_VERSION}};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcasecmp(name, known[i].name) == 0)
			return known[i].f;
	return H_OTHER;
}

static int
on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct head_state *st = hp->data;
	if (!st->in_value) {
		st->in_value = 1;
		st->field = field_of(st->name);
		st->value_len = 0;
		st->value_long = 0;
		st->value[0] = '\0';
	}
	if (st->field == H_OTHER)
		return 0;
	if (len >= sizeof st->value - st->value_len) {
		st->value_long = 1;
		return 0;
	}
	memcpy(st->value + st->value_len, at, len);
	st->value_len += len;
	st->value[st->value_len] = '\0';
	return 0;
}

static int
on_headers_complete(http_parser *hp)
{
	struct head_state *st = hp->data;
	header_done(st);
	st->done = 1;
	http_parser_pause(hp, 1); /* what follows is the body or the upgraded stream */
	return 0;
}

/* The path of the request target (origin or absolute form), into h->path;
 * CONNECT's authority form (host:port) has none. */
static int
request_path(struct head_state *st, int connect)
{
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(st->url, st->url_len, connect, &u) != 0)
		return -1;
	if (connect)
		return 0;
	if (!(u.field_set & (1 << UF_PATH))) {
		snprintf(st->h->path, sizeof st->h->path, "/");
		return 0;
	}
	/* http-parser takes "*anything" for a path: the asterisk form is "*"
	 * alone, any other path starts with '/'. */
	const char *path = st->url + u.field_data[UF_PATH].off;
	if (path[0] != '/' && !(st->url_len == 1 && path[0] == '*'))
		return -1;
	snprintf(st->h->path, sizeof st->h->path, "%.*s",
	    (int)u.field_data[UF_PATH].len, st->url + u.field_data[UF_PATH].off);
	if (u.field_set & (1 << UF_QUERY))
		snprintf(st->h->query, sizeof st->h->query, "%.*s",
		    (int)u.field_data[UF_QUERY].len, st->url + u.field_data[UF_QUERY].off);
	return 0;
}

static int
on_status(http_parser *hp, const char *at, size_t len)
{
	struct head_state *st = hp->data;
	char *r = st->h->reason;
	size_t have = strlen(r), room = sizeof st->h->reason - 1 - have;
	if (len > room)
		len = room;
	for (size_t i = 0; i < len; i++)
		r[have + i] = at[i] >= 0x20 && at[i] < 0x7f ? at[i] : '?';
	r[have + len] = '\0';
	return 0;
}

/* The head is complete: what it says, or -1 with *why. */
static int
head_check(struct head_state *st, http_parser *hp, enum http_kind kind,
    int *status, const char **why)
{
	if (st->bad_header) {
		*why = "Host header too long";
		return -1;
	}
	st->h->http_major = hp->http_major;
	st->h->http_minor = hp->http_minor;
	st->h->keep_alive = http_should_keep_alive(hp) ? 1 : 0;
	st->h->chunked = (hp->flags & F_CHUNKED) ? 1 : 0;
	st->h->content_length = hp->content_length == ULLONG_MAX ||
		hp->content_length > INT64_MAX ? -1 : (int64_t)hp->content_length;
	if (kind == HTTP_HEAD_RESPONSE) {
		/* http-parser takes "HTTP/1.1 20 OK": a status has three digits. */
		if (hp->status_code < 100 || hp->status_code > 999) {
			*why = "not an HTTP response (status code)";
			return -1;
		}
		st->h->status = hp->status_code;
		return 0;
	}
	if (st->url_long) {
		*status = 414;
		*why = "request target too long";
		return -1;
	}
	if (request_path(st, hp->method == HTTP_CONNECT) != 0) {
		*why = "bad request target";
		return -1;
	}
	st->h->method = (int)hp->method;
	return 0;
}

/* http_head_parse, the request target going to url (url_cap bytes). */
static int
head_parse(const uint8_t *p, size_t n, enum http_kind kind, struct http_head *h,
    char *url, size_t url_cap, size_t *head_len, int *status, const char **why)
{
	http_parser hp;
	http_parser_settings s;
	struct head_state st = {.h = h, .url = url, .url_cap = url_cap};
	memset(h, 0, sizeof *h);
	url[0] = '\0';
	http_parser_init(&hp, kind == HTTP_HEAD_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
	http_parser_settings_init(&s);
	s.on_url = on_url;
	s.on_status = on_status;
	s.on_header_field = on_header_field;
	s.on_header_value = on_header_value;
	s.on_headers_complete = on_headers_complete;
	hp.data = &st;
	size_t len = n > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : n;
	size_t used = http_parser_execute(&hp, &s, (const char *)p, len);
	*status = 400;
	if (!st.done) {
		if (HTTP_PARSER_ERRNO(&hp) != HPE_OK) {
			*why = kind == HTTP_HEAD_REQUEST ? "not an HTTP request"
							 : "not an HTTP response";
			return -1;
		}
		if (n >= HTTP_HEAD_MAX) {
			*status = 431;
			*why = kind == HTTP_HEAD_REQUEST ? "request head longer than 8 KiB"
							 : "response head longer than 8 KiB";
			return -1;
		}
		return 0;
	}
	/* Paused in on_headers_complete, the parser stops on the head's last
	 * byte without counting it. Not strict, it takes any byte after the
	 * last CR for the LF: we do not, or that byte would be read twice. */
	if (used >= len || p[used] != '\n') {
		*why = kind == HTTP_HEAD_REQUEST ? "not an HTTP request"
						 : "not an HTTP response";
		return -1;
	}
	used++;
	if (head_check(&st, &hp, kind, status, why) != 0)
		return -1;
	*head_len = used;
	return 1;
}

int
http_head_parse(const uint8_t *p, size_t n, enum http_kind kind,
    struct http_head *h, size_t *head_len, int *status, const char **why)
{
	char url[HTTP_PATH_MAX];
	return head_parse(p, n, kind, h, url, sizeof url, head_len, status, why);
}

int
http_proxy_head_parse(const uint8_t *p, size_t n, struct http_head *h,
    char *target, size_t cap, size_t *head_len, int *status, const char **why)
{
	return head_parse(p, n, HTTP_HEAD_REQUEST, h, target, cap, head_len, status,
	    why);
}

const char *
http_method_name(int method)
{
	return http_method_str((enum http_method)method);
}

size_t
http_response(char *buf, size_t cap, int status, const char *reason,
    const char *extra, const char *body)
{
	int n = snprintf(buf, cap,
	    "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s",
	    status, reason, extra, strlen(body), body);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
