/* The request head forwarded into an HTTP tunnel (vhead.h). */
#include "proto/vhead.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/hdr.h"

/* About the connection to us: never forwarded. */
static const char *const hop_names[] = {"Connection", "Keep-Alive",
    "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer"};
/* What a visitor could claim about itself: ours replace them. */
static const char *const claim_names[] = {"X-Forwarded-For", "X-Forwarded-Proto",
    "X-Forwarded-Host", "X-Real-IP", "Forwarded"};

static int
in_list(const char *line, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hdr_is(line, len, names[i], strlen(names[i])))
			return 1;
	return 0;
}

/* The name of a "Name: value" line of c->set, its length. */
static size_t
set_name_len(const char *set)
{
	const char *colon = strchr(set, ':');
	return colon != NULL ? (size_t)(colon - set) : 0;
}

/* A "Name: value" line we may write: a name, a colon, no line breaks. */
static int
set_line_ok(const char *set)
{
	return set_name_len(set) > 0 && strpbrk(set, "\r\n") == NULL;
}

static int
dropped(const char *line, size_t len, const struct http_head *h,
    const struct vhead_ctx *c, const struct hdr_hop *hop)
{
	size_t nhop = sizeof hop_names / sizeof hop_names[0];
	/* Named in Connection too, but what an upgrade is about. */
	if (hdr_is(line, len, "Upgrade", 7))
		return !h->connection_upgrade;
	if (in_list(line, len, hop_names, nhop) || hdr_hop_has(hop, line, len))
		return 1;
	/* Written again below, a trusted proxy's value first. */
	if (hdr_is(line, len, "X-Forwarded-For", 15) || hdr_is(line, len, "Forwarded", 9))
		return 1;
	if (!c->trusted &&
	    in_list(line, len, claim_names, sizeof claim_names / sizeof claim_names[0]))
		return 1;
	if (c->host_rewrite != NULL && hdr_is(line, len, "Host", 4))
		return 1;
	for (size_t i = 0; c->remove != NULL && c->remove[i] != NULL; i++)
		if (hdr_is(line, len, c->remove[i], strlen(c->remove[i])))
			return 1;
	for (size_t i = 0; c->set != NULL && c->set[i] != NULL; i++)
		if (set_line_ok(c->set[i]) && hdr_is(line, len, c->set[i], set_name_len(c->set[i])))
			return 1;
	return 0;
}

/* The trusted proxy's value of a header we append to, else NULL. */
static const char *
prior(const char *head, size_t n, const struct vhead_ctx *c, const char *name,
    size_t *vlen)
{
	return c->trusted ? hdr_find(head, n, name, vlen) : NULL;
}

/* RFC 7239 node: an IPv6 address in brackets and quotes. */
static void
put_node(struct hdr_buf *w, const char *ip)
{
	int v6 = strchr(ip, ':') != NULL;
	hdr_put_str(w, v6 ? "\"[" : "");
	hdr_put_str(w, ip);
	hdr_put_str(w, v6 ? "]\"" : "");
}

static void
put_ours(struct hdr_buf *w, const char *head, size_t n, const struct http_head *h,
    const struct vhead_ctx *c)
{
	size_t vlen;
	const char *v = prior(head, n, c, "X-Forwarded-For", &vlen);
	hdr_put_str(w, "X-Forwarded-For: ");
	if (v != NULL && vlen > 0) {
		hdr_put(w, v, vlen);
		hdr_put_str(w, ", ");
	}
	hdr_put_str(w, c->client_ip);
	hdr_put_str(w, "\r\n");
	if (!c->trusted || hdr_find(head, n, "X-Forwarded-Proto", &vlen) == NULL) {
		hdr_put_str(w, "X-Forwarded-Proto: ");
		hdr_put_str(w, c->proto);
		hdr_put_str(w, "\r\n");
	}
	if (h->host[0] != '\0' &&
	    (!c->trusted || hdr_find(head, n, "X-Forwarded-Host", &vlen) == NULL)) {
		hdr_put_str(w, "X-Forwarded-Host: ");
		hdr_put_str(w, h->host);
		hdr_put_str(w, "\r\n");
	}
	if (!c->trusted || hdr_find(head, n, "X-Real-IP", &vlen) == NULL) {
		hdr_put_str(w, "X-Real-IP: ");
		hdr_put_str(w, c->client_ip);
		hdr_put_str(w, "\r\n");
	}
	v = prior(head, n, c, "Forwarded", &vlen);
	hdr_put_str(w, "Forwarded: ");
	if (v != NULL && vlen > 0) {
		hdr_put(w, v, vlen);
		hdr_put_str(w, ", ");
	}
	hdr_put_str(w, "for=");
	put_node(w, c->client_ip);
	/* A host with a quote or backslash would need escapes: left out. */
	if (h->host[0] != '\0' && strpbrk(h->host, "\"\\") == NULL) {
		hdr_put_str(w, ";host=\"");
		hdr_put_str(w, h->host);
		hdr_put_str(w, "\"");
	}
	hdr_put_str(w, ";proto=");
	hdr_put_str(w, c->proto);
	hdr_put_str(w, "\r\n");
}

/*
 * "METHOD SP target SP HTTP/1.x", whole on its line: http-parser is
 * lenient in places (a line break inside the version), and the line goes on
 * as it is, so what the service reads must be what we read.
 */
static int
request_line_ok(const char *line, size_t len)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line || len < 10)
		return 0;
	const char *v = line + len - 9; /* " HTTP/1.x" */
	if (v <= sp1 + 1 || memcmp(v, " HTTP/1.", 8) != 0 || (v[8] != '0' && v[8] != '1'))
		return 0;
	for (const char *p = sp1 + 1; p < v; p++)
		if (*p == ' ')
			return 0;
	return 1;
}

int
vhead_rewrite(const char *head, size_t n, const struct http_head *h,
    const struct vhead_ctx *c, uint8_t *out, size_t cap, size_t *outlen,
    const char **why)
{
	struct hdr_buf w = {.p = out, .cap = cap};
	struct hdr_hop hop = {.n = 0};
	const char *line, *v;
	size_t off = 0, len, vlen;
	if ((*why = hdr_unclean((const uint8_t *)head, n)) != NULL)
		return 400;
	if (h->http_major != 1) {
		*why = "only HTTP/1.0 and HTTP/1.1 requests";
		return 400;
	}
	/* Empty lines before the request line are ignored (RFC 7230 3.5). */
	while (off < n && (head[off] == '\r' || head[off] == '\n'))
		off++;
	head += off;
	n -= off;
	off = 0;
	hdr_line(head, n, &off, &line, &len);
	while (hdr_line(head, n, &off, &line, &len)) {
		if (!hdr_is(line, len, "Connection", 10))
			continue;
		hdr_value(line, len, &v, &vlen);
		if (hdr_hop_add(&hop, v, vlen) != 0) {
			*why = "too many Connection options";
			return 400;
		}
	}
	off = 0;
	hdr_line(head, n, &off, &line, &len); /* the request line, as sent */
	if (!request_line_ok(line, len)) {
		*why = "malformed request line";
		return 400;
	}
	hdr_put(&w, line, len);
	hdr_put_str(&w, "\r\n");
	if (c->host_rewrite != NULL) {
		hdr_put_str(&w, "Host: ");
		hdr_put_str(&w, c->host_rewrite);
		hdr_put_str(&w, "\r\n");
	}
	while (hdr_line(head, n, &off, &line, &len)) {
		if (dropped(line, len, h, c, &hop))
			continue;
		hdr_put(&w, line, len);
		hdr_put_str(&w, "\r\n");
	}
	put_ours(&w, head, n, h, c);
	for (size_t i = 0; c->set != NULL && c->set[i] != NULL; i++) {
		if (!set_line_ok(c->set[i]))
			continue;
		hdr_put_str(&w, c->set[i]);
		hdr_put_str(&w, "\r\n");
	}
	if (h->connection_upgrade)
		hdr_put_str(&w, "Connection: upgrade\r\n");
	hdr_put_str(&w, "\r\n");
	if (w.full) {
		*why = "request head too long to forward";
		return 431;
	}
	*outlen = w.n;
	return 0;
}

int
vhead_response(const char *head, size_t n, const char *const *remove,
    const char *const *set, uint8_t *out, size_t cap, size_t *outlen,
    const char **why)
{
	struct hdr_buf w = {.p = out, .cap = cap};
	const char *line;
	size_t off = 0, len;
	if ((*why = hdr_unclean((const uint8_t *)head, n)) != NULL)
		return -1;
	while (off < n && (head[off] == '\r' || head[off] == '\n'))
		off++; /* empty lines before the status line */
	hdr_line(head, n, &off, &line, &len); /* the status line */
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0) {
		*why = "malformed status line";
		return -1;
	}
	hdr_put(&w, line, len);
	hdr_put_str(&w, "\r\n");
	while (hdr_line(head, n, &off, &line, &len)) {
		int drop = 0;
		for (size_t i = 0; remove != NULL && remove[i] != NULL && !drop; i++)
			drop = hdr_is(line, len, remove[i], strlen(remove[i]));
		for (size_t i = 0; set != NULL && set[i] != NULL && !drop; i++)
			drop = set_line_ok(set[i]) &&
			    hdr_is(line, len, set[i], set_name_len(set[i]));
		if (drop)
			continue;
		hdr_put(&w, line, len);
		hdr_put_str(&w, "\r\n");
	}
	for (size_t i = 0; set != NULL && set[i] != NULL; i++) {
		if (!set_line_ok(set[i]))
			continue;
		hdr_put_str(&w, set[i]);
		hdr_put_str(&w, "\r\n");
	}
	hdr_put_str(&w, "\r\n");
	if (w.full) {
		*why = "response head too long with the headers set";
		return -1;
	}
	*outlen = w.n;
	return 0;
}
