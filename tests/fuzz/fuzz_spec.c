/*
 * libFuzzer target: the small value languages of flags and config files, on a
 * NUL-terminated copy of the input (also after "http:" and "https:"; an HTTP
 * option's key is the first byte). abort() on a broken contract.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/spec.h"
#include "proto/msg.h"
#include "util/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_hostport(const struct hostport *hp)
{
	check(strnlen(hp->host, sizeof hp->host) < sizeof hp->host);
}

/* vhost_names_parse's output: valid names joined by single commas. */
static void
check_names(const char *extra)
{
	char *save = NULL, copy[MSG_EXTRA_MAX + 1];
	check(strnlen(extra, MSG_EXTRA_MAX + 1) <= MSG_EXTRA_MAX);
	snprintf(copy, sizeof copy, "%s", extra);
	check(extra[0] != '\0' && extra[0] != ',' && extra[strlen(extra) - 1] != ',');
	check(strstr(extra, ",,") == NULL && strpbrk(extra, "; \t") == NULL);
	for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save))
		check(vhost_name_valid(n));
	/* It parses again to itself. */
	char again[MSG_EXTRA_MAX + 1];
	const char *why = NULL;
	check(vhost_names_parse(extra, again, sizeof again, &why) == 0);
	check(strcmp(again, extra) == 0);
}

/* A parsed http: or https: spec. */
static void
check_vhost_spec(const struct tunnel_cfg *t)
{
	check(t->type == TUNNEL_HTTPS_SNI || t->type == TUNNEL_HTTP_VHOST);
	check_hostport(&t->local);
	check(t->local.host[0] != '\0' && t->local.port != 0 && !t->udp);
	check(t->remote.host[0] == '\0' && t->remote.port == 0);
	/* No names: http's random-name form only. */
	if (t->extra[0] == '\0')
		check(t->type == TUNNEL_HTTP_VHOST);
	else
		check_names(t->extra);
}

/* The reference rule: prefix, then the end, a '/', or prefix ends in '/'. */
static int
path_match_ref(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);
	return strncmp(prefix, path, n) == 0 &&
	    (prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/');
}

static int
path_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-._~/!$&'()*+=:@%", c) != NULL);
}

/* vhost_paths_parse's output, and vhost_path_match on each path and s. */
static void
check_paths(const char *out, size_t outlen, const char *s)
{
	size_t len = strnlen(out, outlen);
	check(len < outlen && len > 0);
	check(out[0] == '/' && out[len - 1] != ',' && strstr(out, ",,") == NULL);
	char again[MSG_EXTRA_MAX + 1];
	const char *why = NULL;
	check(vhost_paths_parse(out, again, sizeof again, &why) == 0);
	check(strcmp(again, out) == 0);
	for (const char *p = out; *p != '\0';) {
		size_t n = strcspn(p, ",");
		check(n >= 1 && n < VHOST_PATH_MAX && p[0] == '/');
		char path[VHOST_PATH_MAX + 2];
		memcpy(path, p, n);
		path[n] = '\0';
		for (size_t i = 0; i < n; i++)
			check(path_char((unsigned char)path[i]));
		check(vhost_path_match(path, path));
		/* "/api" takes "/api/x", not "/apix"; "/api/" takes "/api/x"; no
		 * prefix takes a shorter path than itself. */
		char other[VHOST_PATH_MAX + 4];
		snprintf(other, sizeof other, "%s/x", path);
		check(vhost_path_match(path, other));
		snprintf(other, sizeof other, "%sx", path);
		check(vhost_path_match(path, other) == (path[n - 1] == '/'));
		snprintf(other, sizeof other, "%.*s", (int)n - 1, path);
		check(!vhost_path_match(path, other));
		/* The input as a request path, against the reference. */
		check(vhost_path_match(path, s) == path_match_ref(path, s));
		p += n;
		if (*p == ',')
			p++;
	}
}

/* hopt_check's accepted values: no control bytes (no header injection), the
 * shape of their key, and what the client accepts the server accepts after
 * REGISTER's encoding. */
static void
check_hopt(int key, const char *v)
{
	check(key >= HOPT_HOST && key <= HOPT_RESP_REMOVE);
	for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++)
		check(*c >= 0x20 && *c != 0x7f);
	const char *colon = strchr(v, ':');
	switch (key) {
	case HOPT_HOST:
		check(v[0] != '\0' && strpbrk(v, " \t") == NULL);
		break;
	case HOPT_AUTH:
		check(colon != NULL && colon != v && colon[1] == '$' && strlen(colon) > 10);
		break;
	case HOPT_SET:
	case HOPT_RESP_SET:
		check(colon != NULL && colon != v);
		for (const char *c = v; c < colon; c++)
			check((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f &&
			    strchr("\"(),/:;<=>?@[\\]{}", *c) == NULL);
		break;
	case HOPT_REMOVE:
	case HOPT_RESP_REMOVE:
		check(v[0] != '\0' && colon == NULL);
		for (const char *c = v; *c != '\0'; c++)
			check((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
		break;
	}
	if (strlen(v) > MSG_HOPT_LEN)
		return; /* the config refuses it before it gets to the wire */
	static struct msg_register m, back;
	memset(&m, 0, sizeof m);
	m.kind = TUNNEL_HTTP;
	snprintf(m.name, sizeof m.name, "r1");
	m.nhopts = 1;
	m.hopts[0].key = (uint8_t)key;
	snprintf(m.hopts[0].value, sizeof m.hopts[0].value, "%s", v);
	static uint8_t buf[MSG_REGISTER_MAX];
	size_t n = msg_register_encode(buf, &m);
	const char *why = NULL;
	check(msg_register_decode(buf, n, &back, &why) == 0);
	check(back.nhopts == 1 && back.hopts[0].key == key);
	check(strlen(back.hopts[0].value) == strlen(v));
	why = NULL;
	check(hopt_check(back.hopts[0].key, back.hopts[0].value, &why) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	const char *why;

	struct tunnel_cfg t;
	memset(&t, 0, sizeof t);
	why = NULL;
	if (forward_spec_parse(s, &t, &why) == 0) {
		check_hostport(&t.remote);
		check_hostport(&t.local);
		check(t.type == TUNNEL_REMOTE || t.type == TUNNEL_REMOTE_DYNAMIC ||
		    t.type == TUNNEL_HTTPS_SNI || t.type == TUNNEL_HTTP_VHOST);
		if (t.type == TUNNEL_HTTPS_SNI || t.type == TUNNEL_HTTP_VHOST) {
			check(strncmp(s, t.type == TUNNEL_HTTP_VHOST ? "http:" : "https:",
				  t.type == TUNNEL_HTTP_VHOST ? 5 : 6) == 0);
			check_vhost_spec(&t);
		} else if (t.type == TUNNEL_REMOTE) {
			check(t.local.host[0] != '\0');
			check(t.local.port != 0);
		} else {
			/* -R [bind:]port: a SOCKS port, never UDP, no target. */
			check(!t.udp && t.local.host[0] == '\0');
		}
	} else {
		check(why != NULL);
	}
	/* The input after "http:" and "https:": the vhost forms, names or not. */
	static const char *const vprefix[] = {"http:", "https:"};
	for (int k = 0; k < 2; k++) {
		char *v = malloc(size + 7);
		if (v == NULL)
			break;
		snprintf(v, size + 7, "%s%s", vprefix[k], s);
		memset(&t, 0x55, sizeof t);
		t.udp = 0;
		why = NULL;
		if (forward_spec_parse(v, &t, &why) == 0) {
			check(t.type == (k == 0 ? TUNNEL_HTTP_VHOST : TUNNEL_HTTPS_SNI));
			check_vhost_spec(&t);
			/* No names: http:host:port, a random one. */
			if (t.extra[0] == '\0')
				check(k == 0 && strchr(s, ':') != NULL);
		} else {
			check(why != NULL);
		}
		free(v);
	}
	why = NULL;
	memset(&t, 0, sizeof t);
	if (local_forward_parse(s, &t, &why) == 0) {
		check(t.type == TUNNEL_LOCAL);
		check_hostport(&t.listen);
		check_hostport(&t.local);
		check(t.local.host[0] != '\0' && t.local.port != 0);
	} else {
		check(why != NULL);
	}
	why = NULL;
	memset(&t, 0, sizeof t);
	if (share_parse(s, &t, &why) == 0) {
		check(t.type == TUNNEL_SHARED);
		check(strnlen(t.name, sizeof t.name) < sizeof t.name);
		check(t.local.host[0] != '\0' && t.local.port != 0);
	} else {
		check(why != NULL);
	}
	why = NULL;
	if (visit_target_parse(s, &why) != 0)
		check(why != NULL);
	char extra[MSG_EXTRA_MAX + 1];
	why = NULL;
	if (vhost_names_parse(s, extra, sizeof extra, &why) == 0) {
		/* Each name valid, lower case, joined by single commas. */
		check_names(extra);
	} else {
		check(why != NULL);
	}
	why = NULL;
	if (vhost_paths_parse(s, extra, sizeof extra, &why) == 0)
		check_paths(extra, sizeof extra, s);
	else
		check(why != NULL);
	/* A small output: refused or fitting, never overrun (ASan). */
	char small[16];
	why = NULL;
	if (vhost_paths_parse(s, small, sizeof small, &why) == 0)
		check(strlen(small) < sizeof small && small[0] == '/');
	else
		check(why != NULL);
	/* An HTTP option: the key from the first byte (0..7: unknown ones too). */
	if (size > 0) {
		int key = (unsigned char)s[0] & 7;
		why = NULL;
		if (hopt_check(key, s + 1, &why) == 0)
			check_hopt(key, s + 1);
		else
			check(why != NULL);
	}
	why = NULL;
	if (visitors_parse(s, extra, sizeof extra, &why) == 0)
		check(strnlen(extra, sizeof extra) < sizeof extra);
	else
		check(why != NULL);
	why = NULL;
	memset(&t, 0, sizeof t);
	if (listen_parse(s, &t, &why) == 0)
		check_hostport(&t.listen);
	else
		check(why != NULL);
	struct dest_rules *dr = calloc(1, sizeof *dr);
	why = NULL;
	if (dr != NULL && dest_rules_parse(s, dr, &why) == 0) {
		check(dr->nnames <= DEST_NAMES_MAX && dr->nnets <= DEST_NETS_MAX);
		for (size_t i = 0; i < dr->nnames; i++)
			check(dr->names[i].lo <= dr->names[i].hi);
		for (size_t i = 0; i < dr->nnets; i++) {
			check(dr->nets[i].lo <= dr->nets[i].hi);
			check(dr->nets[i].prefix <= (dr->nets[i].v6 ? 128 : 32));
		}
	} else if (dr != NULL) {
		check(why != NULL);
	}
	free(dr);
	memset(&t, 0, sizeof t);
	why = NULL;
	if (remote_parse(s, &t, &why) != 0)
		check(why != NULL);
	else
		check_hostport(&t.remote);
	why = NULL;
	if (local_parse(s, &t, &why) == 0) {
		check_hostport(&t.local);
		check(t.local.port != 0 && t.local.host[0] != '\0');
	} else {
		check(why != NULL);
	}

	uint32_t ms;
	why = NULL;
	if (duration_parse(s, &ms, &why) != 0)
		check(why != NULL);
	uint64_t bytes;
	why = NULL;
	if (size_parse(s, &bytes, &why) != 0)
		check(why != NULL);

	struct port_ranges pr;
	why = NULL;
	if (port_ranges_parse(s, &pr, &why) == 0) {
		check(pr.n >= 1 && pr.n <= PORT_RANGES_MAX);
		for (int i = 0; i < pr.n; i++) {
			check(pr.r[i].lo <= pr.r[i].hi);
			check(port_ranges_contains(&pr, pr.r[i].lo));
			check(port_ranges_contains(&pr, pr.r[i].hi));
		}
	} else {
		check(why != NULL);
	}

	static const int defaults[] = {-1, 7700};
	for (int d = 0; d < 2; d++) {
		struct hostport hp, back;
		why = NULL;
		if (hostport_parse(s, defaults[d], &hp, &why) != 0) {
			check(why != NULL);
			continue;
		}
		check_hostport(&hp);
		/* format then parse gives the same address (hosts with brackets inside aside). */
		if (strpbrk(hp.host, "[]") == NULL) {
			char out[ADDR_STR_MAX];
			hostport_format(&hp, out, sizeof out);
			why = NULL;
			check(hostport_parse(out, -1, &back, &why) == 0);
			check(strcmp(back.host, hp.host) == 0);
			check(back.port == hp.port);
		}
		struct sockaddr_storage ss;
		socklen_t len;
		if (sockaddr_from_numeric(hp.host, hp.port, &ss, &len) == 0) {
			char out[ADDR_STR_MAX];
			sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
			check(out[0] != '?');
		}
	}
	free(s);
	return 0;
}
