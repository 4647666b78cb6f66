#include "config/spec.h"

#include <errno.h>
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
field_port(const char *f, uint16_t *port, const char **why)
{
	if (port_parse(f, strlen(f), port) != 0) {
		*why = "port must be a number from 0 to 65535";
		return -1;
	}
	return 0;
}

int
forward_spec_parse(const char *s, struct tunnel_cfg *t, const char **why)
{
	char f[SPEC_FIELDS_MAX][ADDR_HOST_MAX];
	int n = split_fields(s, f, why);
	if (n < 0)
		return -1;
	if (n != 3 && n != 4) {
		*why = "expected [bind_address:]port:host:hostport";
		return -1;
	}
	int i = 0;
	memset(&t->remote, 0, sizeof t->remote);
	memset(&t->local, 0, sizeof t->local);
	t->remote_has_bind = n == 4;
	if (n == 4)
		strcpy(t->remote.host, f[i++]);
	if (field_port(f[i++], &t->remote.port, why) != 0)
		return -1;
	if (f[i][0] == '\0') {
		*why = "empty target host";
		return -1;
	}
	strcpy(t->local.host, f[i++]);
	if (field_port(f[i], &t->local.port, why) != 0)
		return -1;
	if (t->local.port == 0) {
		*why = "target port must not be 0";
		return -1;
	}
	return 0;
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
