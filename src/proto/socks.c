/* SOCKS5 and HTTP proxy requests, server side (socks.h). */
#include "proto/socks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/hdr.h"

enum {
	ST_FIRST,
	ST_GREETING,
	ST_AUTH,       /* RFC 1929 request */
	ST_AUTH_CHECK, /* waiting for socks_auth_result */
	ST_REQUEST,
	ST_HTTP,
	ST_HTTP_CHECK, /* head consumed, waiting for socks_auth_result */
	ST_HTTP_OK,    /* credentials right: DONE at the next feed */
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

/* Leaves out as it is: the caller writes it before closing. */
static enum socks_status
fail(struct socks_req *r, const char *why)
{
	r->why = why;
	r->state = ST_FAILED;
	r->fwd_len = 0;
	OPENSSL_cleanse(r->pass, sizeof r->pass);
	return SOCKS_FAIL;
}

/* A SOCKS5 reply with rep and an empty bound address, then FAIL. */
static enum socks_status
fail5(struct socks_req *r, uint8_t rep, const char *why)
{
	r->out_len = socks_reply(SOCKS_PROTO_SOCKS5, rep, NULL, r->out, sizeof r->out);
	r->fail_rep = rep;
	return fail(r, why);
}

/* RFC 1929's failure status (any but 0), then FAIL. */
static enum socks_status
fail_auth(struct socks_req *r, const char *why)
{
	r->out[0] = 1;
	r->out[1] = 1;
	r->out_len = 2;
	return fail(r, why);
}

/* A whole HTTP error response that ends the connection, then FAIL. */
static enum socks_status
fail_http(struct socks_req *r, int status, const char *why)
{
	static const struct {
		int status;
		const char *reason, *extra;
	} texts[] = {
	    {400, "Bad Request", ""}, /* the default */
	    {407, "Proxy Authentication Required",
		"Proxy-Authenticate: Basic realm=\"burrow\"\r\n"},
	    {414, "URI Too Long", ""},
	    {431, "Request Header Fields Too Large", ""},
	};
	size_t i = sizeof texts / sizeof texts[0];
	while (--i > 0 && texts[i].status != status)
		;
	char body[160];
	snprintf(body, sizeof body, "burrow: %s\n", why);
	r->out_len = http_response((char *)r->out, sizeof r->out, texts[i].status,
	    texts[i].reason, texts[i].extra, body);
	r->fail_status = texts[i].status;
	return fail(r, why);
}

/* ---- SOCKS5 ---- */

/* VER NMETHODS METHODS: no authentication (0) unless credentials are
 * required, else username/password (2). */
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
	int none = memchr(in + 2, 0, n) != NULL;
	int userpass = memchr(in + 2, 2, n) != NULL;
	*used = 2 + n;
	r->out[0] = 5;
	r->out_len = 2;
	if (none && !r->require_auth) {
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
	if (in[0] != 1)
		return fail_auth(r, "bad SOCKS5 username/password version");
	size_t ulen = in[1];
	if (ulen == 0)
		return fail_auth(r, "empty SOCKS5 user name");
	if (len < 3 + ulen)
		return SOCKS_MORE;
	size_t plen = in[2 + ulen];
	if (len < 3 + ulen + plen)
		return SOCKS_MORE;
	/* A NUL would end the C string early: "user\0junk" is not "user". */
	if (memchr(in + 2, 0, ulen) != NULL || memchr(in + 3 + ulen, 0, plen) != NULL)
		return fail_auth(r, "NUL byte in the SOCKS5 user name or password");
	memcpy(r->user, in + 2, ulen);
	r->user[ulen] = '\0';
	memcpy(r->pass, in + 3 + ulen, plen);
	r->pass[plen] = '\0';
	*used = 3 + ulen + plen;
	r->state = ST_AUTH_CHECK;
	if (!r->require_auth) /* any will do */
		return socks_auth_result(r, 1);
	return SOCKS_CHECK_AUTH;
}

/* A name that some resolver could find: printable ASCII, no blank. */
static int
name_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return n > 0;
}

/* VER CMD RSV ATYP DST.ADDR DST.PORT */
static enum socks_status
socks5_request(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	if (len < 4)
		return SOCKS_MORE;
	if (in[0] != 5)
		return fail5(r, SOCKS_REP_FAILURE, "bad SOCKS5 request version");
	if (in[1] != 1)
		return fail5(r, SOCKS_REP_COMMAND,
		    in[1] == 2   ? "SOCKS5 BIND is not supported"
		    : in[1] == 3 ? "SOCKS5 UDP ASSOCIATE is not supported"
				 : "unknown SOCKS5 command");
	if (in[2] != 0)
		return fail5(r, SOCKS_REP_FAILURE, "SOCKS5 reserved byte is not 0");
	size_t alen;
	switch (in[3]) {
	case 1:
		alen = 4;
		break;
	case 4:
		alen = 16;
		break;
	case 3:
		if (len < 5)
			return SOCKS_MORE;
		alen = 1 + (size_t)in[4];
		break;
	default:
		return fail5(r, SOCKS_REP_ADDRESS_TYPE, "unknown SOCKS5 address type");
	}
	if (len < 4 + alen + 2)
		return SOCKS_MORE;
	const uint8_t *a = in + 4;
	if (in[3] == 3) {
		if (!name_ok(a + 1, alen - 1))
			return fail5(r, SOCKS_REP_HOST_UNREACHABLE, alen == 1
			    ? "empty host name"
			    : "host name with a blank, control or non-ASCII byte");
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
	r->state = ST_DONE;
	return SOCKS_DONE;
}

/* ---- HTTP ---- */

/* Whether the header line goes to the origin. */
static int
header_kept(const char *line, size_t len, const struct hdr_hop *hop)
{
	/* Ours, or about the connection to us. Host: the URL's goes first. */
	static const char *const drop[] = {"Host", "Connection", "Proxy-Connection",
	    "Keep-Alive", "Proxy-Authorization"};
	for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (hdr_is(line, len, drop[i], strlen(drop[i])))
			return 0;
	return !hdr_hop_has(hop, line, len);
}

/*
 * The request for the origin (RFC 7230 sections 5.3.1 and 5.4): the
 * target in origin form, Host from the URL first, the other headers but
 * those about the connection to us, and Connection: close, since once it
 * answers the origin holds the client's connection alone: a second
 * request on it would go to this origin whatever its URL. 0, or the
 * status to answer with *why.
 */
static int
http_rewrite(struct socks_req *r, const char *head, size_t n, const struct http_head *h,
    const struct http_parser_url *u, const char *target, const char **why)
{
	struct hdr_buf w = {.p = r->fwd_head, .cap = sizeof r->fwd_head};
	struct hdr_hop hop = {.n = 0};
	const char *line, *v;
	size_t off = 0, len, vlen;
	hdr_line(head, n, &off, &line, &len);
	while (hdr_line(head, n, &off, &line, &len)) {
		if (!hdr_is(line, len, "Connection", 10) &&
		    !hdr_is(line, len, "Proxy-Connection", 16))
			continue;
		hdr_value(line, len, &v, &vlen);
		if (hdr_hop_add(&hop, v, vlen) != 0) {
			*why = "too many Connection options";
			return 400;
		}
	}
	hdr_put_str(&w, http_method_name(h->method));
	hdr_put_str(&w, " ");
	if (u->field_set & (1 << UF_PATH))
		hdr_put(&w, target + u->field_data[UF_PATH].off, u->field_data[UF_PATH].len);
	else
		hdr_put_str(&w, "/");
	if (u->field_set & (1 << UF_QUERY)) { /* the fragment is not sent */
		hdr_put_str(&w, "?");
		hdr_put(&w, target + u->field_data[UF_QUERY].off, u->field_data[UF_QUERY].len);
	}
	char version[32];
	snprintf(version, sizeof version, " HTTP/%d.%d\r\nHost: ", h->http_major,
	    h->http_minor);
	hdr_put_str(&w, version);
	/* The authority as the URL wrote it: no user info, so host[:port]. */
	const char *a = target + u->field_data[UF_SCHEMA].off +
	    u->field_data[UF_SCHEMA].len + 3;
	hdr_put(&w, a, strcspn(a, "/?#"));
	hdr_put_str(&w, "\r\n");
	off = 0;
	hdr_line(head, n, &off, &line, &len);
	while (hdr_line(head, n, &off, &line, &len)) {
		if (!header_kept(line, len, &hop))
			continue;
		hdr_put(&w, line, len); /* with CRLF, whatever ended it here */
		hdr_put_str(&w, "\r\n");
	}
	hdr_put_str(&w, "Connection: close\r\n\r\n");
	if (w.full) {
		*why = "request head too long to forward";
		return 431;
	}
	r->fwd_len = w.n;
	return 0;
}

/* An absolute-form target: only http://, and no user info (the
 * authority goes on as Host). */
static const char *
http_absolute(const struct http_parser_url *u, const char *target)
{
	if (!(u->field_set & (1 << UF_SCHEMA)))
		return "not a proxy request (no absolute http:// URL)";
	const char *s = target + u->field_data[UF_SCHEMA].off;
	size_t slen = u->field_data[UF_SCHEMA].len;
	if (slen == 5 && strncasecmp(s, "https", 5) == 0)
		return "https:// through a plain proxy: use CONNECT";
	if (slen != 4 || strncasecmp(s, "http", 4) != 0)
		return "only http:// URLs";
	/* Not only UF_USERINFO: http-parser sets none for "http://@host/". */
	const char *a = s + slen + 3;
	if (memchr(a, '@', strcspn(a, "/?#")) != NULL)
		return "user name in the URL";
	return NULL;
}

/* host and port from the URL or CONNECT's authority. */
static const char *
http_destination(struct socks_req *r, const struct http_parser_url *u,
    const char *target, uint16_t default_port)
{
	size_t hlen = u->field_data[UF_HOST].len;
	const uint8_t *host = (const uint8_t *)target + u->field_data[UF_HOST].off;
	if (hlen >= sizeof r->host)
		return "host name too long";
	if (!name_ok(host, hlen))
		return "bad host";
	memcpy(r->host, host, hlen);
	r->host[hlen] = '\0';
	r->port = u->field_set & (1 << UF_PORT) ? u->port : default_port;
	if (r->port == 0)
		return "destination port 0";
	struct in6_addr a;
	if (memchr(host, ':', hlen) != NULL) {
		if (inet_pton(AF_INET6, r->host, &a) != 1)
			return "bad IPv6 address";
		return NULL;
	}
	r->host_is_name = inet_pton(AF_INET, r->host, &a) != 1;
	return NULL;
}

/*
 * Proxy-Authorization: Basic base64(user:pass) (RFC 7617), into user and
 * pass. 0 if there is none, -1 if it is not that.
 */
static int
http_credentials(struct socks_req *r, const char *head, size_t n)
{
	size_t vlen;
	const char *v = hdr_find(head, n, "Proxy-Authorization", &vlen);
	if (v == NULL)
		return 0;
	if (vlen < 6 || strncasecmp(v, "Basic", 5) != 0 || (v[5] != ' ' && v[5] != '\t'))
		return -1;
	const char *e = v + vlen;
	for (v += 5; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(e - v);
	/* Enough for 255 bytes of user name, ':' and 255 of password. */
	unsigned char dec[516];
	if (vlen == 0 || vlen % 4 != 0 || vlen / 4 * 3 > sizeof dec)
		return -1;
	int dn = EVP_DecodeBlock(dec, (const unsigned char *)v, (int)vlen);
	for (size_t i = vlen; dn > 0 && i > vlen - 2 && v[i - 1] == '='; i--)
		dn--; /* the padding decodes as zeros */
	int rc = -1;
	const unsigned char *colon = dn > 0 ? memchr(dec, ':', (size_t)dn) : NULL;
	if (colon != NULL && memchr(dec, 0, (size_t)dn) == NULL) {
		size_t ulen = (size_t)(colon - dec), plen = (size_t)dn - ulen - 1;
		if (ulen < sizeof r->user && plen < sizeof r->pass) {
			memcpy(r->user, dec, ulen);
			r->user[ulen] = '\0';
			memcpy(r->pass, colon + 1, plen);
			r->pass[plen] = '\0';
			rc = 1;
		}
	}
	OPENSSL_cleanse(dec, sizeof dec);
	return rc;
}

/*
 * Where the head ends (after the blank line that a line feed, or CRLF,
 * alone makes), or 0. What was looked at is not looked at again: the
 * bytes stay in the caller's buffer until the head is whole.
 */
static size_t
head_end(struct socks_req *r, const uint8_t *in, size_t len)
{
	for (size_t i = r->scanned; i < len; i++)
		if (in[i] == '\n' && ((i >= 1 && in[i - 1] == '\n') ||
		    (i >= 2 && in[i - 1] == '\r' && in[i - 2] == '\n'))) {
			r->scanned = i + 1;
			return i + 1;
		}
	r->scanned = len;
	return 0;
}

/*
 * The head parsed, 0 if more is needed. http-parser starts over on each
 * call, so it runs on the request line (to refuse at once what is not
 * HTTP, such as an SSH client's banner) and then only once the head is
 * whole or too long: each byte is read a few times however the client
 * slices its head, and where the slices fall changes nothing.
 */
static int
http_parse(struct socks_req *r, const uint8_t *in, size_t len, struct http_head *h,
    char *target, size_t cap, size_t *head_len, int *status, const char **why)
{
	size_t n;
	int rc = 0;
	while ((n = head_end(r, in, len)) != 0)
		if ((rc = http_proxy_head_parse(in, n, h, target, cap, head_len, status,
		    why)) != 0)
			return rc;
	if (len >= HTTP_HEAD_MAX)
		return http_proxy_head_parse(in, len, h, target, cap, head_len, status,
		    why);
	const uint8_t *lf = memchr(in, '\n', len);
	if (r->line_checked || lf == NULL)
		return 0;
	r->line_checked = 1;
	return http_proxy_head_parse(in, (size_t)(lf - in) + 1, h, target, cap, head_len,
	    status, why);
}

static enum socks_status
http_request(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	struct http_head h;
	char target[HTTP_HEAD_MAX];
	size_t head_len = 0;
	int status = 400;
	const char *why = NULL;
	int rc = http_parse(r, in, len, &h, target, sizeof target, &head_len, &status,
	    &why);
	if (rc == 0)
		return SOCKS_MORE;
	if (rc < 0)
		return fail_http(r, status, why);
	const char *head = (const char *)in;
	if ((why = hdr_unclean(in, head_len)) != NULL)
		return fail_http(r, 400, why);
	if (h.http_major != 1)
		return fail_http(r, 400, "not HTTP/1.x");
	int connect = h.method == HTTP_CONNECT;
	r->proto = connect ? SOCKS_PROTO_HTTP_CONNECT : SOCKS_PROTO_HTTP_FORWARD;
	/* http-parser took the target already: CONNECT's is host:port. */
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(target, strlen(target), connect, &u) != 0)
		return fail_http(r, 400, "bad request target");
	if (!connect && (why = http_absolute(&u, target)) != NULL)
		return fail_http(r, 400, why);
	if ((why = http_destination(r, &u, target, 80)) != NULL)
		return fail_http(r, 400, why);
	if (!connect && (status = http_rewrite(r, head, head_len, &h, &u, target,
	    &why)) != 0)
		return fail_http(r, status, why);
	if (r->require_auth) {
		int cred = http_credentials(r, head, head_len);
		if (cred == 0)
			return fail_http(r, 407, "proxy credentials needed");
		if (cred < 0)
			return fail_http(r, 407, "proxy credentials not Basic user:password");
	}
	*used = head_len;
	r->state = r->require_auth ? ST_HTTP_CHECK : ST_DONE;
	return r->require_auth ? SOCKS_CHECK_AUTH : SOCKS_DONE;
}

enum socks_status
socks_feed(struct socks_req *r, const uint8_t *in, size_t len, size_t *used)
{
	*used = 0;
	r->out_len = 0;
	if (r->state == ST_FIRST) {
		if (len == 0)
			return SOCKS_MORE;
		if (in[0] == 5) {
			r->proto = SOCKS_PROTO_SOCKS5;
			r->state = ST_GREETING;
		} else if (in[0] >= 'A' && in[0] <= 'Z') {
			r->state = ST_HTTP;
		} else {
			return fail(r, in[0] == 4 ? "SOCKS4 is not supported (use SOCKS5)"
						  : "neither SOCKS5 nor HTTP");
		}
	}
	switch (r->state) {
	case ST_GREETING:
		return socks5_greeting(r, in, len, used);
	case ST_AUTH:
		return socks5_auth(r, in, len, used);
	case ST_AUTH_CHECK:
	case ST_HTTP_CHECK:
		return SOCKS_CHECK_AUTH;
	case ST_REQUEST:
		return socks5_request(r, in, len, used);
	case ST_HTTP:
		return http_request(r, in, len, used);
	case ST_HTTP_OK:
		r->state = ST_DONE;
		return SOCKS_DONE;
	case ST_DONE:
		return SOCKS_DONE;
	default:
		return SOCKS_FAIL;
	}
}

enum socks_status
socks_auth_result(struct socks_req *r, int ok)
{
	OPENSSL_cleanse(r->pass, sizeof r->pass);
	r->out_len = 0;
	switch (r->state) {
	case ST_HTTP_CHECK:
		if (!ok)
			return fail_http(r, 407, "wrong proxy credentials");
		r->state = ST_HTTP_OK;
		return SOCKS_WRITE;
	case ST_AUTH_CHECK:
		if (!ok)
			return fail_auth(r, "wrong SOCKS5 username or password");
		r->out[0] = 1;
		r->out[1] = 0;
		r->out_len = 2;
		r->state = ST_REQUEST;
		return SOCKS_WRITE;
	default:
		return fail(r, "credentials checked when none were asked for");
	}
}

/* The bound address: IPv4 or IPv6, else 0.0.0.0:0. */
static size_t
socks5_reply(uint8_t rep, const struct sockaddr *bound, uint8_t *buf, size_t cap)
{
	int v6 = bound != NULL && bound->sa_family == AF_INET6;
	size_t n = v6 ? 22 : 10;
	if (cap < n)
		return 0;
	buf[0] = 5;
	buf[1] = rep;
	buf[2] = 0;
	buf[3] = v6 ? 4 : 1;
	memset(buf + 4, 0, n - 4);
	if (v6) {
		const struct sockaddr_in6 *s6 = (const void *)bound;
		memcpy(buf + 4, &s6->sin6_addr, 16);
		memcpy(buf + 20, &s6->sin6_port, 2);
	} else if (bound != NULL && bound->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)bound;
		memcpy(buf + 4, &s4->sin_addr, 4);
		memcpy(buf + 8, &s4->sin_port, 2);
	}
	return n;
}

size_t
socks_reply(enum socks_proto proto, uint8_t rep, const struct sockaddr *bound,
    uint8_t *buf, size_t cap)
{
	if (proto == SOCKS_PROTO_SOCKS5)
		return socks5_reply(rep, bound, buf, cap);
	if (proto != SOCKS_PROTO_HTTP_CONNECT && proto != SOCKS_PROTO_HTTP_FORWARD)
		return 0;
	if (rep == SOCKS_REP_OK) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		if (proto == SOCKS_PROTO_HTTP_FORWARD || cap < sizeof ok - 1)
			return 0;
		memcpy(buf, ok, sizeof ok - 1);
		return sizeof ok - 1;
	}
	int status = rep == SOCKS_REP_NOT_ALLOWED ? 403
	    : rep == SOCKS_REP_TTL_EXPIRED        ? 504 : 502;
	const char *reason = status == 403 ? "Forbidden"
	    : status == 504 ? "Gateway Timeout" : "Bad Gateway";
	const char *body = rep == SOCKS_REP_NOT_ALLOWED ? "burrow: destination not allowed\n"
	    : rep == SOCKS_REP_NET_UNREACHABLE        ? "burrow: network unreachable\n"
	    : rep == SOCKS_REP_HOST_UNREACHABLE       ? "burrow: host unreachable\n"
	    : rep == SOCKS_REP_REFUSED                ? "burrow: connection refused\n"
	    : rep == SOCKS_REP_TTL_EXPIRED            ? "burrow: connection timed out\n"
						       : "burrow: cannot connect\n";
	return http_response((char *)buf, cap, status, reason, "", body);
}
