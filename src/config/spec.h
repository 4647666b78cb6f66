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

struct dest_rules;

/* What a tunnel entry of the client is (OpenSSH's names in brackets). */
enum tunnel_type {
	TUNNEL_REMOTE,         /* a server port to a target here (-R) */
	TUNNEL_REMOTE_DYNAMIC, /* a server port that is a SOCKS5 / HTTP proxy exiting here (-R port) */
	TUNNEL_LOCAL,          /* a port here to a target the server dials (-L) */
	TUNNEL_DYNAMIC,        /* a SOCKS5 / HTTP proxy here exiting at the server (-D) */
	TUNNEL_SHARED,         /* a target here that visitors reach, no public port (--share) */
	TUNNEL_VISITOR,        /* a port here to another client's secret tunnel (--visit -L) */
	TUNNEL_HTTPS_SNI,      /* names on the server's HTTPS port, passed through to a target here */
	TUNNEL_HTTP_VHOST,     /* names (and paths) on the server's HTTP port, requests to a target here */
};

struct tunnel_cfg {
	char name[MSG_NAME_MAX + 1];
	int type;               /* enum tunnel_type */
	struct hostport remote; /* remote types: bind address on the server and port */
	int remote_has_bind;    /* the spec named a bind address */
	int mux_only;           /* data_path: mux: never a dedicated connection */
	int udp;                /* REMOTE, SHARED, VISITOR: datagrams (-R udp:..., --share udp:..., -L udp:...) */
	int proxy_protocol;     /* REMOTE over TCP: PROXY header version to the target, 1 or 2; 0: none */
	struct hostport local;  /* REMOTE: what the client dials; LOCAL: what the server dials */
	struct hostport listen; /* LOCAL, DYNAMIC: where the client listens */
	struct dest_rules *allow; /* REMOTE_DYNAMIC: destinations allowed (NULL: any); owned */
	/* SHARED: who may visit ("" this account, "*" anyone with the name, or
	 * client names, comma-separated); VISITOR: "[owner/]share". */
	char extra[MSG_EXTRA_MAX + 1];
	/* HTTP_VHOST: what the server does to each request (msg.h's HOPT_*) */
	struct msg_hopt hopts[MSG_HOPTS_MAX];
	size_t nhopts;
};

/* OpenSSH's -R syntax: [bind_address:]port:host:hostport, or
 * [bind_address:]port for a remote dynamic (SOCKS) forward; also
 * udp:[bind_address:]port:host:hostport, https:NAMES:host:hostport and
 * http:NAMES:host:hostport. */
int forward_spec_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* -L [bind_address:]port:host:hostport (bind: 127.0.0.1 unless named; "*"
 * or "" is every address). */
int local_forward_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* --share [udp:][NAME=]host:port (NAME "" when absent: the caller makes
 * one; udp: a UDP share). */
int share_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* --visit and share: [owner/]name. */
int visit_target_parse(const char *s, const char **why);
/*
 * Host names a tunnel serves on the HTTPS port: separated by ',' (blanks
 * allowed), each a DNS name or "*." and one (a wildcard for any one or more
 * labels in front); written to out lower-cased, joined by ','.
 */
int vhost_names_parse(const char *s, char *out, size_t outlen, const char **why);
/*
 * Path prefixes of an HTTP tunnel: separated by ',' (blanks allowed), each
 * starting with '/', at most VHOST_PATH_MAX - 1 bytes of URL path
 * characters (no ',' or ';'); written to out joined by ','.
 */
#define VHOST_PATH_MAX 128
int vhost_paths_parse(const char *s, char *out, size_t outlen, const char **why);
/* Whether a request's path is under prefix: "/" takes every path, "/api"
 * takes "/api" and "/api/...", "/api/" takes "/api/...". */
int vhost_path_match(const char *prefix, const char *path);
/*
 * An HTTP tunnel's options (msg.h's HOPT_*), checked: the Host rewrite
 * ("host[:port]"), a basic auth entry ("user:hash" with a crypt(3) hash:
 * $y$, $2b$, $2y$, $6$ or $5$), a header set ("Name: value") or removed
 * ("Name"). 0, or -1 with *why.
 */
int hopt_check(int key, const char *value, const char **why);
/* One such name, lower case: 1 if valid. */
int vhost_name_valid(const char *name);
/* 1 if name (maybe a wildcard) is within the comma-separated patterns: an
 * exact one, or "*.s" for any name ending in ".s" (wildcards included). */
int vhost_name_allowed(const char *patterns, const char *name);
/* visitors: "*", or client names separated by ',' (blanks allowed). */
int visitors_parse(const char *s, char *out, size_t outlen, const char **why);
/* -D and the `listen:` key: [bind_address:]port. */
int listen_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* The `remote:` key: [bind_address:]port. */
int remote_parse(const char *s, struct tunnel_cfg *t, const char **why);
/* The `local:` key: host:port. */
int local_parse(const char *s, struct tunnel_cfg *t, const char **why);

/* "10s", "500ms", "2m", "1h"; a bare number is seconds. Result in ms. */
int duration_parse(const char *s, uint32_t *ms, const char **why);
/* "30d", "12h", "90m", "45s"; a bare number is seconds. Result in s. */
int duration_s_parse(const char *s, uint64_t *secs, const char **why);
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

/*
 * Destinations a peer may ask to be connected to (forward_to on the server,
 * allow on a reverse SOCKS tunnel): a comma-separated list of HOST:PORTS.
 * HOST is a name pattern (`*`, `*.corp.example`, `db`: shell globbing,
 * case-insensitive, matched against the name the peer sent) or an address
 * or network (`10.0.0.0/8`, `[fd00::]/8`, `192.0.2.7`: matched against
 * every address the name resolves to; only those are dialed). PORTS is `*`,
 * a port, or LO-HI.
 */
#define DEST_NAMES_MAX 16
#define DEST_NETS_MAX 16
struct dest_name {
	char pat[ADDR_HOST_MAX];
	uint16_t lo, hi;
};
struct dest_net {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint8_t v6, prefix;
	uint16_t lo, hi;
};
struct dest_rules {
	size_t nnames, nnets;
	struct dest_name names[DEST_NAMES_MAX];
	struct dest_net nets[DEST_NETS_MAX];
};
int dest_rules_parse(const char *s, struct dest_rules *d, const char **why);
/* 1 if a name rule allows host (as the peer wrote it) and port. */
int dest_names_allow(const struct dest_rules *d, const char *host, uint16_t port);
/* 1 if a network rule allows this address and port. */
int dest_nets_allow(const struct dest_net *nets, size_t n,
    const struct sockaddr *sa, uint16_t port);

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
