#include "config/spec.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPEC_FIELDS_MAX 4

/*
 * Splits s at ':' outside brackets into at most SPEC_FIELDS_MAX fields.
 * Bracketed fields ("[::1]") are returned without their brackets.
 * Returns the number of fields, or -1.
 */
static int
split_fields(const char *s, char out[][ADDR_HOST_MAX], const char **why)
{
	int n = 0;
	const char *p = s;
	for (;;) {
		if (n == SPEC_FIELDS_MAX) {
			*why = "too many ':'-separated fields";
			return -1;
		}
		const char *start = p, *end;
		if (*p == '[') {
			end = strchr(p, ']');
			if (end == NULL) {
				*why = "missing ']'";
				return -1;
			}
			start = p + 1;
			p = end + 1;
			if (*p != ':' && *p != '\0') {
				*why = "expected ':' after ']'";
				return -1;
			}
		} else {
			end = strchr(p, ':');
			if (end == NULL)
				end = p + strlen(p);
			p = end;
		}
		size_t len = (size_t)(end - start);
		if (len >= ADDR_HOST_MAX) {
			*why = "host name too long";
			return -1;
		}
		memcpy(out[n], start, len);
		out[n][len] = '\0';
		n++;
		if (*p == '\0')
			return n;
		p++; /* skip ':' */
	}
}

static int
count_parse_ul(const char *s, unsigned long *n)
{
	char *end;
	errno = 0;
	*n = strtoul(s, &end, 10);
	return *s < '0' || *s > '9' || *end != '\0' || errno != 0 ? -1 : 0;
}

static int
field_port(const char *f, uint16_t *port, const char **why)
{
	if (port_parse(f, strlen(f), port) != 0) {
		*why = "port must be a number from 0 to 65535";
		return -1;
	}
	return 0;
}

/* A listening address from a spec's bind field: loopback unless named. */
static void
listen_host(struct hostport *hp, int has_bind, const char *bind)
{
	if (!has_bind || strcmp(bind, "localhost") == 0)
		snprintf(hp->host, sizeof hp->host, "127.0.0.1");
	else if (bind[0] == '\0' || strcmp(bind, "*") == 0)
		snprintf(hp->host, sizeof hp->host, "0.0.0.0");
	else
		snprintf(hp->host, sizeof hp->host, "%s", bind);
}

static int
target_fields(char f[][ADDR_HOST_MAX], struct hostport *hp, const char **why)
{
	if (f[0][0] == '\0') {
		*why = "empty target host";
		return -1;
	}
	strcpy(hp->host, f[0]);
	if (field_port(f[1], &hp->port, why) != 0)
		return -1;
	if (hp->port == 0) {
		*why = "target port must not be 0";
		return -1;
	}
	return 0;
}

int
vhost_name_valid(const char *name)
{
	const char *p = strncmp(name, "*.", 2) == 0 ? name + 2 : name;
	size_t len = strlen(p), label = 0;
	if (len == 0 || len > 253 || p[0] == '.' || p[len - 1] == '.' || p[0] == '-')
		return 0;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-' || p[1] == '-')
				return 0;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

int
vhost_names_parse(const char *s, char *out, size_t outlen, const char **why)
{
	size_t o = 0;
	out[0] = '\0';
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = strcspn(s, ", \t");
		char name[256];
		if (n == 0 || n >= sizeof name) {
			*why = "expected host names separated by ',' (a name may start with *.)";
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			name[i] = (char)tolower((unsigned char)s[i]);
		name[n] = '\0';
		if (!vhost_name_valid(name)) {
			*why = "not a host name (letters, digits, '-' and '.'; a wildcard is *.name)";
			return -1;
		}
		if (o + n + 2 > outlen) {
			*why = "too many host names";
			return -1;
		}
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", o ? "," : "", name);
		s += n;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == ',' && s[1] != '\0')
			s++;
		else if (*s != '\0') {
			*why = "expected host names separated by ','";
			return -1;
		}
	}
	if (o == 0) {
		*why = "no host name";
		return -1;
	}
	return 0;
}

int
vhost_name_allowed(const char *patterns, const char *name)
{
	size_t nlen = strlen(name);
	for (const char *p = patterns; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == nlen && strncmp(p, name, n) == 0)
			return 1;
		/* "*.s": anything ending in ".s" (n - 1 bytes) and longer. */
		if (n > 2 && p[0] == '*' && p[1] == '.' && nlen > n - 1 &&
		    strncmp(name + nlen - (n - 1), p + 1, n - 1) == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int
path_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    strchr("-._~/!$&'()*+=:@%", c) != NULL;
}

int
vhost_paths_parse(const char *s, char *out, size_t outlen, const char **why)
{
	size_t o = 0;
	out[0] = '\0';
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = 0;
		while (s[n] != '\0' && path_char_ok(s[n]))
			n++;
		if (n == 0 || s[0] != '/') {
			*why = "expected a path starting with '/'";
			return -1;
		}
		if (n >= VHOST_PATH_MAX) {
			*why = "a path of at most 127 bytes";
			return -1;
		}
		if (o + n + 2 > outlen) {
			*why = "too many paths";
			return -1;
		}
		o += (size_t)snprintf(out + o, outlen - o, "%s%.*s", o ? "," : "", (int)n, s);
		s += n;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return 0;
		if (*s != ',' || s[1] == '\0') {
			*why = "expected paths separated by ',' (letters, digits and "
			       "-._~/!$&'()*+=:@%)";
			return -1;
		}
		s++;
	}
}

int
vhost_path_match(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0)
		return 0;
	return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
}

/* An HTTP token (RFC 7230 tchar): a header name. */
static int
token_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || strchr("!#$%&'*+-.^_`|~", s[i])))
			return 0;
	return 1;
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Headers the framing or the hop depends on: not for set or remove. */
static int
framing_header(const char *name, size_t n)
{
	static const char *const names[] = {"Host", "Content-Length",
	    "Transfer-Encoding", "Connection", "Upgrade", "Keep-Alive", "TE", "Trailer"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
			return 1;
	return 0;
}

int
hopt_check(int key, const char *v, const char **why)
{
	const char *colon = strchr(v, ':');
	int set = key == HOPT_SET || key == HOPT_RESP_SET;
	int rm = key == HOPT_REMOVE || key == HOPT_RESP_REMOVE;
	if ((set && colon != NULL && framing_header(v, (size_t)(colon - v))) ||
	    (rm && framing_header(v, strlen(v)))) {
		*why = "Host, Content-Length, Transfer-Encoding and the hop-by-hop headers "
		       "are not set or removed (host_header_rewrite sets Host)";
		return -1;
	}
	switch (key) {
	case HOPT_HOST:
		if (v[0] == '\0' || strpbrk(v, " \t") != NULL || !printable(v)) {
			*why = "expected host[:port]";
			return -1;
		}
		return 0;
	case HOPT_AUTH: {
		static const char *const ids[] = {"$y$", "$2b$", "$2y$", "$6$", "$5$"};
		if (colon == NULL || colon == v || !printable(v)) {
			*why = "expected user:hash";
			return -1;
		}
		for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
			if (strncmp(colon + 1, ids[i], strlen(ids[i])) == 0 &&
			    strlen(colon + 1) > strlen(ids[i]) + 8)
				return 0;
		*why = "expected user:hash with a password hash, not the password (openssl "
		       "passwd -6, or mkpasswd: $y$, $2b$, $6$ or $5$)";
		return -1;
	}
	case HOPT_SET:
	case HOPT_RESP_SET:
		if (colon == NULL || !token_ok(v, (size_t)(colon - v)) || !printable(v)) {
			*why = "expected Name: value";
			return -1;
		}
		return 0;
	case HOPT_REMOVE:
	case HOPT_RESP_REMOVE:
		if (!token_ok(v, strlen(v))) {
			*why = "expected a header name";
			return -1;
		}
		return 0;
	default:
		*why = "unknown option";
		return -1;
	}
}

/* https:NAMES:host:hostport, http:NAMES:host:hostport */
static int
vhost_spec_parse(const char *s, int type, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	int n = split_fields(s, f, why);
	if (n == 2 && type == TUNNEL_HTTP_VHOST) { /* a random name */
		t->type = type;
		memset(&t->remote, 0, sizeof t->remote);
		t->extra[0] = '\0';
		return target_fields(f, &t->local, why);
	}
	if (n != 3) {
		*why = type == TUNNEL_HTTP_VHOST
		    ? "expected http:[NAME[,NAME...]:]host:hostport"
		    : "expected https:NAME[,NAME...]:host:hostport";
		return -1;
	}
	t->type = type;
	memset(&t->remote, 0, sizeof t->remote);
	if (vhost_names_parse(f[0], t->extra, sizeof t->extra, why) != 0)
		return -1;
	return target_fields(f + 1, &t->local, why);
}

int
forward_spec_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	if (strncmp(s, "https:", 6) == 0)
		return vhost_spec_parse(s + 6, TUNNEL_HTTPS_SNI, t, why);
	if (strncmp(s, "http:", 5) == 0)
		return vhost_spec_parse(s + 5, TUNNEL_HTTP_VHOST, t, why);
	t->udp = strncmp(s, "udp:", 4) == 0;
	int n = split_fields(t->udp ? s + 4 : s, f, why);
	if (n < 0)
		return -1;
	memset(&t->remote, 0, sizeof t->remote);
	memset(&t->local, 0, sizeof t->local);
	if (t->udp && n < 3) {
		*why = "expected udp:[bind_address:]port:host:hostport";
		return -1;
	}
	if (n <= 2) { /* OpenSSH: no target, a SOCKS proxy exiting here */
		t->type = TUNNEL_REMOTE_DYNAMIC;
		t->remote_has_bind = n == 2;
		if (n == 2)
			strcpy(t->remote.host, f[0]);
		if (field_port(f[n - 1], &t->remote.port, why) != 0) {
			*why = "expected [bind_address:]port:host:hostport or "
			       "[bind_address:]port";
			return -1;
		}
		return 0;
	}
	int i = 0;
	t->type = TUNNEL_REMOTE;
	t->remote_has_bind = n == 4;
	if (n == 4)
		strcpy(t->remote.host, f[i++]);
	if (field_port(f[i++], &t->remote.port, why) != 0)
		return -1;
	return target_fields(f + i, &t->local, why);
}

int
local_forward_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	int n = split_fields(s, f, why);
	if (n < 0)
		return -1;
	if (n != 3 && n != 4) {
		*why = "expected [bind_address:]port:host:hostport";
		return -1;
	}
	t->type = TUNNEL_LOCAL;
	memset(&t->listen, 0, sizeof t->listen);
	listen_host(&t->listen, n == 4, f[0]);
	int i = n == 4 ? 1 : 0;
	if (field_port(f[i++], &t->listen.port, why) != 0)
		return -1;
	return target_fields(f + i, &t->local, why);
}

int
share_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	t->type = TUNNEL_SHARED;
	t->name[0] = '\0';
	/* udp:[NAME=]host:port: a UDP share (a name has no ':'). */
	t->udp = strncmp(s, "udp:", 4) == 0;
	if (t->udp)
		s += 4;
	const char *eq = strchr(s, '=');
	if (eq != NULL) {
		size_t len = (size_t)(eq - s);
		if (len == 0 || len > MSG_NAME_MAX) {
			*why = "the name must be 1 to 64 of A-Z a-z 0-9 . _ -";
			return -1;
		}
		memcpy(t->name, s, len);
		t->name[len] = '\0';
		if (!msg_name_valid(t->name)) {
			*why = "the name must be 1 to 64 of A-Z a-z 0-9 . _ -";
			return -1;
		}
		s = eq + 1;
	}
	return local_parse(s, t, why);
}

int
visit_target_parse(const char *s, const char **why)
{
	char owner[MSG_NAME_MAX + 1];
	const char *slash = strchr(s, '/'), *name = s;
	if (slash != NULL) {
		size_t len = (size_t)(slash - s);
		if (len == 0 || len > MSG_NAME_MAX) {
			*why = "expected [owner/]name";
			return -1;
		}
		memcpy(owner, s, len);
		owner[len] = '\0';
		if (!msg_name_valid(owner)) {
			*why = "the owner must be a client name (A-Z a-z 0-9 . _ -)";
			return -1;
		}
		name = slash + 1;
	}
	if (!msg_name_valid(name)) {
		*why = "the name must be 1 to 64 of A-Z a-z 0-9 . _ -";
		return -1;
	}
	return 0;
}

int
visitors_parse(const char *s, char *out, size_t outlen, const char **why)
{
	size_t n = 0;
	out[0] = '\0';
	if (strcmp(s, "*") == 0) {
		snprintf(out, outlen, "*");
		return 0;
	}
	const char *p = s;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == 0)
			break;
		char name[MSG_NAME_MAX + 1];
		if (len > MSG_NAME_MAX) {
			*why = "a client name is at most 64 characters";
			return -1;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (!msg_name_valid(name)) {
			*why = "expected client names (A-Z a-z 0-9 . _ -) separated by ',', or *";
			return -1;
		}
		if (n + len + 2 > outlen) {
			*why = "too many visitors";
			return -1;
		}
		n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "," : "", name);
		p += len;
	}
	if (n == 0) {
		*why = "expected client names separated by ',', or *";
		return -1;
	}
	return 0;
}

int
listen_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	int n = split_fields(s, f, why);
	if (n < 0)
		return -1;
	if (n > 2) {
		*why = "expected [bind_address:]port";
		return -1;
	}
	memset(&t->listen, 0, sizeof t->listen);
	listen_host(&t->listen, n == 2, f[0]);
	return field_port(f[n - 1], &t->listen.port, why);
}

int
remote_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	int n = split_fields(s, f, why);
	if (n < 0)
		return -1;
	if (n > 2) {
		*why = "expected [bind_address:]port";
		return -1;
	}
	memset(&t->remote, 0, sizeof t->remote);
	t->remote_has_bind = n == 2;
	if (n == 2)
		strcpy(t->remote.host, f[0]);
	return field_port(f[n - 1], &t->remote.port, why);
}

int
local_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	if (hostport_parse(s, -1, &t->local, why) != 0)
		return -1;
	if (t->local.host[0] == '\0') {
		*why = "empty host";
		return -1;
	}
	if (t->local.port == 0) {
		*why = "port must not be 0";
		return -1;
	}
	return 0;
}

/* Parses a decimal number and a unit suffix; -1 on junk or overflow. */
static int
number_suffix(const char *s, unsigned long long *v, const char **suffix)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*suffix = end;
	return 0;
}

int
duration_parse(const char *s, uint32_t *ms, const char **why)
{
	unsigned long long v;
	const char *suf;
	unsigned long long mult;
	if (number_suffix(s, &v, &suf) != 0) {
		*why = "expected a duration like 10s, 500ms or 2m";
		return -1;
	}
	if (strcmp(suf, "ms") == 0)
		mult = 1;
	else if (*suf == '\0' || strcmp(suf, "s") == 0)
		mult = 1000;
	else if (strcmp(suf, "m") == 0)
		mult = 60000;
	else if (strcmp(suf, "h") == 0)
		mult = 3600000;
	else {
		*why = "expected a duration like 10s, 500ms or 2m";
		return -1;
	}
	if (v > UINT32_MAX / mult) {
		*why = "duration too long";
		return -1;
	}
	*ms = (uint32_t)(v * mult);
	return 0;
}

int
duration_s_parse(const char *s, uint64_t *secs, const char **why)
{
	unsigned long long v, mult;
	const char *suf;
	*why = "expected a duration like 30d, 12h or 90m";
	if (number_suffix(s, &v, &suf) != 0)
		return -1;
	if (*suf == '\0' || strcmp(suf, "s") == 0)
		mult = 1;
	else if (strcmp(suf, "m") == 0)
		mult = 60;
	else if (strcmp(suf, "h") == 0)
		mult = 3600;
	else if (strcmp(suf, "d") == 0)
		mult = 86400;
	else
		return -1;
	if (v > UINT64_MAX / 4 / mult) {
		*why = "duration too long";
		return -1;
	}
	*secs = v * mult;
	return 0;
}

int
size_parse(const char *s, uint64_t *bytes, const char **why)
{
	unsigned long long v, mult;
	const char *suf;
	if (number_suffix(s, &v, &suf) != 0) {
		*why = "expected a size like 65536, 256K or 2M";
		return -1;
	}
	if (*suf == '\0')
		mult = 1;
	else if (strcmp(suf, "K") == 0 || strcmp(suf, "k") == 0)
		mult = 1024;
	else if (strcmp(suf, "M") == 0)
		mult = 1024 * 1024;
	else if (strcmp(suf, "G") == 0)
		mult = 1024 * 1024 * 1024;
	else {
		*why = "expected a size like 65536, 256K or 2M";
		return -1;
	}
	if (v > UINT64_MAX / mult) {
		*why = "size too large";
		return -1;
	}
	*bytes = v * mult;
	return 0;
}

int
port_ranges_parse(const char *s, struct port_ranges *pr, const char **why)
{
	pr->n = 0;
	const char *p = s;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		while (p < end && *p == ' ')
			p++;
		const char *e = end;
		while (e > p && e[-1] == ' ')
			e--;
		const char *dash = memchr(p, '-', (size_t)(e - p));
		uint16_t lo, hi;
		if (dash) {
			if (port_parse(p, (size_t)(dash - p), &lo) != 0 ||
			    port_parse(dash + 1, (size_t)(e - dash - 1), &hi) != 0) {
				*why = "expected ports or ranges like 1024-65535,80";
				return -1;
			}
		} else {
			if (port_parse(p, (size_t)(e - p), &lo) != 0) {
				*why = "expected ports or ranges like 1024-65535,80";
				return -1;
			}
			hi = lo;
		}
		if (lo > hi) {
			*why = "range start is above its end";
			return -1;
		}
		if (pr->n == PORT_RANGES_MAX) {
			*why = "too many port ranges";
			return -1;
		}
		pr->r[pr->n].lo = lo;
		pr->r[pr->n].hi = hi;
		pr->n++;
		p = comma ? comma + 1 : end;
		if (comma && *p == '\0') {
			*why = "trailing ','";
			return -1;
		}
	}
	if (pr->n == 0) {
		*why = "empty port list";
		return -1;
	}
	return 0;
}

int
port_ranges_contains(const struct port_ranges *pr, uint16_t port)
{
	for (int i = 0; i < pr->n; i++)
		if (port >= pr->r[i].lo && port <= pr->r[i].hi)
			return 1;
	return 0;
}

static int
hexdigit(int c)
{
	return c >= '0' && c <= '9' ? c - '0'
	    : c >= 'a' && c <= 'f'  ? c - 'a' + 10
	    : c >= 'A' && c <= 'F'  ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (cap bytes with the NUL); 0 or -1. */
static int
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexdigit(s[i + 1]), lo = hexdigit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int
proxy_url_parse(const char *s, struct proxy_url *u, const char **why)
{
	memset(u, 0, sizeof *u);
	const char *rest;
	if (strncmp(s, "http://", 7) == 0) {
		u->kind = PROXY_HTTP;
		rest = s + 7;
	} else if (strncmp(s, "socks5://", 9) == 0 || strncmp(s, "socks5h://", 10) == 0) {
		u->kind = PROXY_SOCKS5;
		rest = s + (s[6] == 'h' ? 10 : 9);
	} else {
		*why = "expected http://[user:pass@]host:port or socks5://[user:pass@]host:port";
		return -1;
	}
	const char *at = strrchr(rest, '@');
	if (at != NULL) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		size_t ul = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
		if (ul == 0 || pct_decode(rest, ul, u->user, sizeof u->user) != 0 ||
		    (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), u->pass,
			sizeof u->pass) != 0)) {
			*why = "bad user:password (at most 255 bytes each, %XX for special characters)";
			return -1;
		}
		u->has_user = 1;
		rest = at + 1;
	}
	char hp[ADDR_STR_MAX];
	size_t len = strcspn(rest, "/");
	if (len >= sizeof hp || (rest[len] == '/' && rest[len + 1] != '\0')) {
		*why = "expected no path after host:port";
		return -1;
	}
	memcpy(hp, rest, len);
	hp[len] = '\0';
	if (hostport_parse(hp, u->kind == PROXY_HTTP ? 8080 : 1080, &u->addr, why) != 0)
		return -1;
	if (u->addr.host[0] == '\0' || u->addr.port == 0) {
		*why = "expected a proxy host and a port from 1 to 65535";
		return -1;
	}
	return 0;
}

int
no_proxy_match(const char *list, const char *host)
{
	size_t hl = strlen(host);
	while (*list) {
		list += strspn(list, ", \t");
		size_t n = strcspn(list, ", \t");
		if (n == 0)
			break;
		const char *e = list;
		size_t el = n;
		if (el == 1 && e[0] == '*')
			return 1;
		if (e[0] == '.') {
			e++;
			el--;
		}
		if (el > 0 && hl >= el && strncasecmp(host + hl - el, e, el) == 0 &&
		    (hl == el || host[hl - el - 1] == '.'))
			return 1;
		list += n;
	}
	return 0;
}

/* ---- destination rules ---- */

static int
dest_ports_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
	if (strcmp(s, "*") == 0) {
		*lo = 1;
		*hi = 65535;
		return 0;
	}
	const char *dash = strchr(s, '-');
	if (dash == NULL) {
		if (port_parse(s, strlen(s), lo) != 0 || *lo == 0)
			return -1;
		*hi = *lo;
		return 0;
	}
	if (port_parse(s, (size_t)(dash - s), lo) != 0 ||
	    port_parse(dash + 1, strlen(dash + 1), hi) != 0 || *lo == 0 || *lo > *hi)
		return -1;
	return 0;
}

/* "10.0.0.0/8", "fd00::/8", "192.0.2.7": 1 and *n filled; 0 if a name. */
static int
dest_net_parse(const char *host, struct dest_net *n, const char **why)
{
	char a[ADDR_HOST_MAX];
	snprintf(a, sizeof a, "%s", host);
	char *slash = strchr(a, '/');
	if (slash)
		*slash = '\0';
	memset(n, 0, sizeof *n);
	if (inet_pton(AF_INET, a, n->addr) == 1) {
		n->prefix = 32;
	} else if (inet_pton(AF_INET6, a, n->addr) == 1) {
		n->v6 = 1;
		n->prefix = 128;
	} else {
		if (slash) {
			*why = "a /prefix needs an address before it";
			return -1;
		}
		return 0;
	}
	if (slash) {
		unsigned long bits;
		if (count_parse_ul(slash + 1, &bits) != 0 || bits > n->prefix) {
			*why = "bad network prefix length";
			return -1;
		}
		n->prefix = (uint8_t)bits;
	}
	return 1;
}

static int
dest_rule_add(struct dest_rules *d, const char *rule, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	/* [v6]/8 keeps its prefix outside the brackets: "[fd00::]/8:*". */
	char buf[2 * ADDR_HOST_MAX];
	snprintf(buf, sizeof buf, "%s", rule);
	char *close = buf[0] == '[' ? strchr(buf, ']') : NULL;
	char prefix[8] = "";
	if (close != NULL && close[1] == '/') {
		size_t plen = strcspn(close + 1, ":");
		if (plen >= sizeof prefix) {
			*why = "bad network prefix length";
			return -1;
		}
		memcpy(prefix, close + 1, plen);
		prefix[plen] = '\0';
		memmove(close + 1, close + 1 + plen, strlen(close + 1 + plen) + 1);
	}
	int n = split_fields(buf, f, why);
	if (n < 0)
		return -1;
	if (n != 2 || f[0][0] == '\0') {
		*why = "expected HOST:PORTS, like *.example.com:443 or 10.0.0.0/8:*";
		return -1;
	}
	if (strlen(f[0]) + strlen(prefix) >= ADDR_HOST_MAX) {
		*why = "host name too long";
		return -1;
	}
	strcat(f[0], prefix);
	uint16_t lo, hi;
	if (dest_ports_parse(f[1], &lo, &hi) != 0) {
		*why = "ports must be *, a port from 1 to 65535, or LO-HI";
		return -1;
	}
	struct dest_net net;
	int r = dest_net_parse(f[0], &net, why);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (d->nnets == DEST_NETS_MAX) {
			*why = "too many address rules";
			return -1;
		}
		net.lo = lo;
		net.hi = hi;
		d->nets[d->nnets++] = net;
		return 0;
	}
	if (d->nnames == DEST_NAMES_MAX) {
		*why = "too many name rules";
		return -1;
	}
	struct dest_name *nm = &d->names[d->nnames++];
	snprintf(nm->pat, sizeof nm->pat, "%s", f[0]);
	nm->lo = lo;
	nm->hi = hi;
	return 0;
}

int
dest_rules_parse(const char *s, struct dest_rules *d, const char **why)
{
	memset(d, 0, sizeof *d);
	const char *p = s;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, ", ");
		char rule[2 * ADDR_HOST_MAX];
		if (len == 0 || len >= sizeof rule) {
			*why = len == 0 ? "empty rule" : "rule too long";
			return -1;
		}
		memcpy(rule, p, len);
		rule[len] = '\0';
		if (dest_rule_add(d, rule, why) != 0)
			return -1;
		p += len;
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			if (*p == '\0') {
				*why = "trailing ','";
				return -1;
			}
		} else if (*p != '\0') {
			*why = "rules are separated by ','";
			return -1;
		}
	}
	if (d->nnames + d->nnets == 0) {
		*why = "no rules";
		return -1;
	}
	return 0;
}

int
dest_names_allow(const struct dest_rules *d, const char *host, uint16_t port)
{
	for (size_t i = 0; i < d->nnames; i++)
		if (port >= d->names[i].lo && port <= d->names[i].hi &&
		    fnmatch(d->names[i].pat, host, FNM_CASEFOLD) == 0)
			return 1;
	return 0;
}

static int
prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, net, bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (net[bytes] & mask);
}

int
dest_nets_allow(const struct dest_net *nets, size_t n, const struct sockaddr *sa,
    uint16_t port)
{
	const uint8_t *a;
	int v6;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		v6 = 0;
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		v6 = 1;
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (nets[i].v6 == v6 && port >= nets[i].lo && port <= nets[i].hi &&
		    prefix_match(a, nets[i].addr, nets[i].prefix))
			return 1;
	return 0;
}
