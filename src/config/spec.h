/*
 * Parsers for the small value languages of flags and config files:
 * forward specs, durations, sizes and port ranges. Pure functions; each
 * returns 0, or -1 with a static reason in *why.
 */
#ifndef BURROW_SPEC_H
#define BURROW_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"
#include "util/addr.h"

struct tunnel_cfg {
	char name[MSG_NAME_MAX + 1];
	struct hostport remote; /* bind address on the server and port */
	int remote_has_bind;    /* the spec named a bind address */
	int mux_only;           /* data_path: mux: never a dedicated connection */
	struct hostport local;  /* what the client dials */
};

/* OpenSSH's -R syntax: [bind_address:]port:host:hostport. */
int forward_spec_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* The `remote:` key: [bind_address:]port. */
int remote_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* The `local:` key: host:port. */
int local_parse(const char *s, struct tunnel_cfg *t, const char **why);

/* "10s", "500ms", "2m", "1h"; a bare number is seconds. Result in ms. */
int duration_parse(const char *s, uint32_t *ms, const char **why);
/* "65536", "64K", "2M", "1G" (binary multiples). */
int size_parse(const char *s, uint64_t *bytes, const char **why);

/* An outbound proxy URL: http:// or socks5:// (socks5h://), [user:pass@]host:port. */
enum proxy_kind { PROXY_NONE = 0, PROXY_HTTP = 1, PROXY_SOCKS5 = 2 };
struct proxy_url {
	int kind;
	struct hostport addr;
	char user[256], pass[256]; /* percent-decoded; "" when absent */
	int has_user;
};
int proxy_url_parse(const char *s, struct proxy_url *u, const char **why);
/* curl's NO_PROXY: "*", or names, ".domain" / "domain" suffixes and
 * addresses, comma-separated. 1 if host is exempt. */
int no_proxy_match(const char *list, const char *host);

#define PORT_RANGES_MAX 32
struct port_ranges {
	int n;
	struct {
		uint16_t lo, hi;
	} r[PORT_RANGES_MAX];
};
/* "1024-65535,80,443". */
int port_ranges_parse(const char *s, struct port_ranges *pr, const char **why);
int port_ranges_contains(const struct port_ranges *pr, uint16_t port);

#endif
