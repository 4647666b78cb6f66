/*
 * libFuzzer target: the small value languages of flags and config files, on a
 * NUL-terminated copy of the input. abort() on a broken contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/spec.h"
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
		    t.type == TUNNEL_HTTPS_SNI);
		if (t.type == TUNNEL_HTTPS_SNI) {
			check(t.extra[0] != '\0' && t.local.port != 0);
			check(t.local.host[0] != '\0' && !t.udp);
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
		char *save = NULL, copy[MSG_EXTRA_MAX + 1];
		memcpy(copy, extra, sizeof copy);
		check(extra[0] != '\0' && extra[strlen(extra) - 1] != ',');
		for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save))
			check(vhost_name_valid(n));
	} else {
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
