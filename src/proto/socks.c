/* SOCKS5 and HTTP proxy requests, server side (socks.h). */
#include "proto/socks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/addr.h"

enum {
	ST_FIRST,
	ST_GREETING,
	ST_AUTH,
	ST_REQUEST,
	ST_HTTP,
	ST_HTTP_AUTHED,
	ST_DONE,
	ST_FAILED
};

void
socks_init(struct socks_req *r, int require_auth)
{
	memset(r, 0, sizeof *r);
	r->require_auth = require_auth;
	r->state = ST_FIRST;
}

static enum socks_status
fail(struct socks_req *r, const char *why)
{
	r->why = why;
	r->state = ST_FAILED;
	return SOCKS_FAIL;
}

/* A SOCKS5 reply with rep and an empty bound address, then FAIL. */
static enum socks_status
fail5(struct socks_req *r, uint8_t rep, const char *why)
{
	r->out_len = socks_reply(SOCKS_PROTO_SOCKS5, rep, NULL, r->out, sizeof r->out);
	return fail(r, why);
}

/* A whole HTTP error response, then FAIL. */
static enum socks_status
fail_http(struct socks_req *r, int status, const char *why)
{
	static const struct {
		int status;
		const char *reason, *extra;
	} texts[] = {
	    {400, "Bad Request", ""},
	    {403, "Forbidden", ""},
	    {405, "Method Not Allowed", ""},
	    {407, "Proxy Authentication Required",
		"Proxy-Authenticate: Basic realm=\"burrow\"\r\n"},
	    {414, "URI Too Long", ""},
	    {431, "Request Header Fields Too Large", ""},
	};
	size_t i = 0;
	while (i + 1 < sizeof texts / sizeof texts[0] && texts[i].status != status)
		i++;
	char body[160];
	snprintf(body, sizeof body, "burrow: %s\n", why);
	r->out_len = http_response((char *)r->out, sizeof r->out, texts[i].status,
	    texts[i].reason, texts[i].extra, body);
	return fail(r, why);
}

/* ---- SOCKS5 ---- */

static enum socks_status
socks5_greeting(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	if (len < 2)
		return SOCKS_MORE;
	size_t n = in[1];
	if (n == 0)
		return fail(r, "SOCKS5 greeting offers no method");
	if (len < 2 + n)
		return SOCKS_MORE;
	int none = 0, userpass = 0;
	for (size_t i = 0; i < n; i++) {
		none |= in[2 + i] == 0;
		userpass |= in[2 + i] == 2;
	}
	*used = 2 + n;
	r->out[0] = 5;
	r->out_len = 2;
	if (!r->require_auth && none) {
		r->out[1] = 0;
		r->state = ST_REQUEST;
		return SOCKS_WRITE;
	}
	if (userpass) {
		r->out[1] = 2;
		r->state = ST_AUTH;
		return SOCKS_WRITE;
	}
	r->out[1] = 0xff;
	return fail(r, r->require_auth ? "SOCKS5 client offers no username/password"
				       : "SOCKS5 client offers no method we speak");
}

/* RFC 1929: VER=1 ULEN UNAME PLEN PASSWD. */
static enum socks_status
socks5_auth(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	if (len < 2)
		return SOCKS_MORE;
	if (in[0] != 1) {
		r->out[0] = 1;
		r->out[1] = 1;
		r->out_len = 2;
		return fail(r, "bad username/password version");
	}
	size_t ulen = in[1];
	if (len < 2 + ulen + 1)
		return SOCKS_MORE;
	size_t plen = in[2 + ulen];
	if (len < 3 + ulen + plen)
		return SOCKS_MORE;
	memcpy(r->user, in + 2, ulen);
	r->user[ulen] = '\0';
	memcpy(r->pass, in + 3 + ulen, plen);
	r->pass[plen] = '\0';
	*used = 3 + ulen + plen;
	return SOCKS_CHECK_AUTH;
}

/* VER CMD RSV ATYP DST.ADDR DST.PORT */
static enum socks_status
socks5_request(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	if (len < 5)
		return SOCKS_MORE;
	if (in[0] != 5)
		return fail5(r, SOCKS_REP_FAILURE, "bad SOCKS5 request version");
	size_t alen;
	switch (in[3]) {
	case 1:
		alen = 4;
		break;
	case 4:
		alen = 16;
		break;
	case 3:
		alen = 1 + (size_t)in[4];
		if (in[4] == 0)
			return fail5(r, SOCKS_REP_FAILURE, "empty host name");
		break;
	default:
		return fail5(r, SOCKS_REP_ADDRESS_TYPE, "unknown SOCKS5 address type");
	}
	if (len < 4 + alen + 2)
		return SOCKS_MORE;
	if (in[1] != 1)
		return fail5(r, SOCKS_REP_COMMAND, "only CONNECT is supported");
	if (in[2] != 0)
		return fail5(r, SOCKS_REP_FAILURE, "reserved byte set");
	const uint8_t *a = in + 4;
	if (in[3] == 3) {
		for (size_t i = 1; i < alen; i++)
			if (a[i] <= 0x20 || a[i] >= 0x7f)
				return fail5(r, SOCKS_REP_HOST_UNREACHABLE,
				    "host name with a blank, control or non-ASCII byte");
		memcpy(r->host, a + 1, alen - 1);
		r->host[alen - 1] = '\0';
		r->host_is_name = 1;
	} else {
		inet_ntop(in[3] == 1 ? AF_INET : AF_INET6, a, r->host, sizeof r->host);
	}
	r->port = (uint16_t)(a[alen] << 8 | a[alen + 1]);
	if (r->port == 0)
		return fail5(r, SOCKS_REP_FAILURE, "destination port 0");
	*used = 4 + alen + 2;
	r->proto = SOCKS_PROTO_SOCKS5;
	r->state = ST_DONE;
	return SOCKS_DONE;
}

/* ---- HTTP ---- */

/*
 * The head's header lines after the request line, one per call: *p walks
 * the head (NUL-terminated, no NUL inside); a line ends with LF or CRLF
 * (http-parser takes both). 0 at the blank line that ends the head.
 */
static int
next_line(const char **p, const char **line, size_t *len)
{
	const char *e = strchr(*p, '\n');
	if (e == NULL)
		return 0;
	size_t n = (size_t)(e - *p);
	if (n > 0 && (*p)[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	*line = *p;
	*len = n;
	*p = e + 1;
	return 1;
}

/* Where the header lines start: after the request line. */
static const char *
first_header(const char *head)
{
	const char *e = strchr(head, '\n');
	return e ? e + 1 : head + strlen(head);
}

/* The value of header `name`, or NULL. */
static const char *
header_find(const char *head, const char *name, size_t *vlen)
{
	size_t nl = strlen(name), len;
	const char *p = first_header(head), *line;
	while (next_line(&p, &line, &len)) {
		if (len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1, *ve = line + len;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
	}
	return NULL;
}

/* Proxy-Authorization: Basic base64(user:pass). -1 if present but bad. */
static int
http_credentials(struct socks_req *r, const char *head)
{
	size_t vlen;
	const char *v = header_find(head, "Proxy-Authorization", &vlen);
	if (v == NULL)
		return 0;
	if (vlen < 6 || strncasecmp(v, "Basic ", 6) != 0)
		return -1;
	v += 6;
	vlen -= 6;
	unsigned char dec[520];
	if (vlen == 0 || vlen % 4 != 0 || vlen > 4 * (sizeof dec / 3) - 4)
		return -1;
	int n = EVP_DecodeBlock(dec, (const unsigned char *)v, (int)vlen);
	if (n < 0)
		return -1;
	while (n > 0 && vlen > 0 && v[vlen - 1] == '=') { /* padding decodes as zeros */
		n--;
		vlen--;
	}
	dec[n] = '\0';
	char *colon = memchr(dec, ':', (size_t)n);
	if (colon == NULL || colon - (char *)dec >= (long)sizeof r->user ||
	    strlen(colon + 1) >= sizeof r->pass || memchr(dec, 0, (size_t)n) != NULL)
		return -1;
	*colon = '\0';
	memcpy(r->user, dec, (size_t)(colon - (char *)dec) + 1);
	memcpy(r->pass, colon + 1, strlen(colon + 1) + 1);
	return 1;
}

/* The request for the origin: origin-form target, no proxy headers,
 * Connection: close. */
static int
http_rewrite(struct socks_req *r, const char *head, const char *method,
    const char *path, const char *version, const char *authority)
{
	size_t n = 0, cap = sizeof r->fwd_head;
	int w = snprintf((char *)r->fwd_head, cap, "%s %s %s\r\n", method, path, version);
	if (w < 0 || (size_t)w >= cap)
		return -1;
	n = (size_t)w;
	int have_host = 0;
	const char *p = first_header(head), *line;
	size_t len;
	while (next_line(&p, &line, &len)) {
		static const char *const drop[] = {"Proxy-Connection:",
		    "Proxy-Authorization:", "Connection:", "Keep-Alive:"};
		int skip = 0;
		for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
			skip |= len >= strlen(drop[i]) &&
			    strncasecmp(line, drop[i], strlen(drop[i])) == 0;
		have_host |= len >= 5 && strncasecmp(line, "Host:", 5) == 0;
		if (!skip) { /* sent on with CRLF, whatever ended it here */
			if (n + len + 2 > cap)
				return -1;
			memcpy(r->fwd_head + n, line, len);
			memcpy(r->fwd_head + n + len, "\r\n", 2);
			n += len + 2;
		}
	}
	w = snprintf((char *)r->fwd_head + n, cap - n, "%s%s%sConnection: close\r\n\r\n",
	    have_host ? "" : "Host: ", have_host ? "" : authority, have_host ? "" : "\r\n");
	if (w < 0 || (size_t)w >= cap - n)
		return -1;
	r->fwd_len = n + (size_t)w;
	return 0;
}

static enum socks_status
http_target(struct socks_req *r, const char *target, int connect, const char **path)
{
	struct hostport hp;
	const char *why = NULL;
	char auth[SOCKS_HOST_MAX + 8];
	if (connect) {
		if (hostport_parse(target, -1, &hp, &why) != 0 || hp.host[0] == '\0')
			return fail_http(r, 400, "CONNECT needs host:port");
	} else {
		if (strncasecmp(target, "https://", 8) == 0)
			return fail_http(r, 400, "https:// through a plain proxy: use CONNECT");
		if (strncasecmp(target, "http://", 7) != 0)
			return fail_http(r, 400, "not a proxy request (no absolute http:// URL)");
		const char *a = target + 7;
		size_t alen = strcspn(a, "/?#");
		if (alen == 0 || alen >= sizeof auth || memchr(a, '@', alen) != NULL)
			return fail_http(r, 400, "bad host in the URL");
		memcpy(auth, a, alen);
		auth[alen] = '\0';
		if (hostport_parse(auth, 80, &hp, &why) != 0 || hp.host[0] == '\0')
			return fail_http(r, 400, "bad host in the URL");
		*path = a[alen] == '/' ? a + alen : a[alen] == '\0' ? "/" : NULL;
		if (*path == NULL)
			return fail_http(r, 400, "URL without a path");
	}
	if (hp.port == 0)
		return fail_http(r, 400, "destination port 0");
	for (const char *c = hp.host; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			return fail_http(r, 400, "bad host");
	snprintf(r->host, sizeof r->host, "%s", hp.host);
	r->port = hp.port;
	struct in6_addr tmp;
	r->host_is_name = inet_pton(AF_INET, hp.host, &tmp) != 1 &&
	    inet_pton(AF_INET6, hp.host, &tmp) != 1;
	return SOCKS_DONE;
}

static enum socks_status
http_request(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	struct http_head h;
	size_t head_len = 0;
	int status = 400;
	const char *why = NULL;
	int rc = http_head_parse(in, len, HTTP_HEAD_REQUEST, &h, &head_len, &status, &why);
	if (rc == 0)
		return SOCKS_MORE;
	if (rc < 0)
		return fail_http(r, status, why);
	if (memchr(in, '\0', head_len) != NULL)
		return fail_http(r, 400, "NUL byte in the request head");
	char head[HTTP_HEAD_MAX + 1];
	memcpy(head, in, head_len);
	head[head_len] = '\0';
	/* http-parser checked the request line: METHOD SP target SP version. */
	char method[32], target[HTTP_HEAD_MAX], version[16];
	if (sscanf(head, "%31s %8191s %15s", method, target, version) != 3)
		return fail_http(r, 400, "bad request line");
	if (strlen(target) >= SOCKS_HOST_MAX + 4096)
		return fail_http(r, 414, "URL too long");
	int connect = strcmp(method, "CONNECT") == 0;
	const char *path = NULL;
	if (http_target(r, target, connect, &path) != SOCKS_DONE)
		return SOCKS_FAIL;
	if (r->state != ST_HTTP_AUTHED) {
		int cred = http_credentials(r, head);
		if (cred < 0)
			return fail_http(r, 400, "bad Proxy-Authorization");
		if (r->require_auth && cred == 0)
			return fail_http(r, 407, "proxy credentials needed");
		if (r->require_auth)
			return SOCKS_CHECK_AUTH; /* nothing consumed: parsed again */
	}
	if (!connect) {
		char authority[ADDR_STR_MAX];
		struct hostport hp;
		snprintf(hp.host, sizeof hp.host, "%s", r->host);
		hp.port = r->port;
		hostport_format(&hp, authority, sizeof authority);
		if (http_rewrite(r, head, method, path, version, authority) != 0)
			return fail_http(r, 431, "request head too long to forward");
	}
	*used = head_len;
	r->proto = connect ? SOCKS_PROTO_HTTP_CONNECT : SOCKS_PROTO_HTTP_FORWARD;
	r->state = ST_DONE;
	return SOCKS_DONE;
}

enum socks_status
socks_feed(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	*used = 0;
	r->out_len = 0;
	if (r->state == ST_FIRST) {
		if (len == 0)
			return SOCKS_MORE;
		if (in[0] == 5)
			r->state = ST_GREETING;
		else if (in[0] >= 'A' && in[0] <= 'Z')
			r->state = ST_HTTP;
		else
			return fail(r, in[0] == 4 ? "SOCKS4 is not supported (use SOCKS5)"
						  : "neither SOCKS5 nor HTTP");
	}
	switch (r->state) {
	case ST_GREETING:
		return socks5_greeting(r, in, len, used);
	case ST_AUTH:
		return socks5_auth(r, in, len, used);
	case ST_REQUEST:
		return socks5_request(r, in, len, used);
	case ST_HTTP:
	case ST_HTTP_AUTHED:
		return http_request(r, in, len, used);
	case ST_DONE:
		return SOCKS_DONE;
	default:
		return SOCKS_FAIL;
	}
}

enum socks_status
socks_auth_result(struct socks_req *r, int ok)
{
	memset(r->pass, 0, sizeof r->pass);
	if (r->state == ST_HTTP) {
		if (!ok)
			return fail_http(r, 407, "wrong proxy credentials");
		r->state = ST_HTTP_AUTHED;
		r->out_len = 0;
		return SOCKS_WRITE;
	}
	r->out[0] = 1;
	r->out[1] = ok ? 0 : 1;
	r->out_len = 2;
	if (!ok)
		return fail(r, "wrong username or password");
	r->state = ST_REQUEST;
	return SOCKS_WRITE;
}

size_t
socks_reply(enum socks_proto proto, uint8_t rep, const struct sockaddr *bound,
    uint8_t *buf, size_t cap)
{
	if (proto == SOCKS_PROTO_SOCKS5) {
		size_t n = 0;
		if (cap < 22)
			return 0;
		buf[n++] = 5;
		buf[n++] = rep;
		buf[n++] = 0;
		if (bound != NULL && bound->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)bound;
			buf[n++] = 4;
			memcpy(buf + n, &s6->sin6_addr, 16);
			n += 16;
			memcpy(buf + n, &s6->sin6_port, 2);
		} else {
			buf[n++] = 1;
			const struct sockaddr_in *s4 = (const void *)bound;
			if (bound != NULL && bound->sa_family == AF_INET) {
				memcpy(buf + n, &s4->sin_addr, 4);
				memcpy(buf + n + 4, &s4->sin_port, 2);
			} else {
				memset(buf + n, 0, 6);
			}
			n += 4;
		}
		return n + 2;
	}
	if (proto != SOCKS_PROTO_HTTP_CONNECT && proto != SOCKS_PROTO_HTTP_FORWARD)
		return 0;
	if (rep == SOCKS_REP_OK) {
		if (proto == SOCKS_PROTO_HTTP_FORWARD)
			return 0;
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		if (cap < sizeof ok - 1)
			return 0;
		memcpy(buf, ok, sizeof ok - 1);
		return sizeof ok - 1;
	}
	int status = rep == SOCKS_REP_NOT_ALLOWED ? 403
	    : rep == SOCKS_REP_TTL_EXPIRED        ? 504 : 502;
	const char *reason = status == 403 ? "Forbidden"
	    : status == 504 ? "Gateway Timeout" : "Bad Gateway";
	const char *body = rep == SOCKS_REP_NOT_ALLOWED ? "burrow: destination not allowed\n"
	    : rep == SOCKS_REP_HOST_UNREACHABLE       ? "burrow: host unreachable\n"
	    : rep == SOCKS_REP_REFUSED                ? "burrow: connection refused\n"
	    : rep == SOCKS_REP_TTL_EXPIRED            ? "burrow: connection timed out\n"
						       : "burrow: cannot connect\n";
	return http_response((char *)buf, cap, status, reason, "", body);
}
