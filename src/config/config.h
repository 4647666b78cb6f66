/*
 * Configuration: defaults, then the YAML file (-c), then BURROW_TOKEN, then
 * flags, into one struct per process. One table (config.c) drives the YAML
 * keys, the flags, `--help` and docs/configuration.md.
 *
 * config_load returns CONFIG_OK, CONFIG_EXIT (help printed, exit 0) or
 * CONFIG_ERROR with a malloc'd message in *err ("file:line: key: why" or
 * "--flag 'value': why"). Messages never contain the token.
 */
#ifndef BURROW_CONFIG_H
#define BURROW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "config/spec.h"
#include "util/addr.h"
#include "util/log.h"

#define DEFAULT_CONTROL_PORT 7700

enum role { ROLE_SERVER = 1, ROLE_CLIENT = 2 };
enum gateway_ports { GATEWAY_NO, GATEWAY_YES, GATEWAY_CLIENTSPECIFIED };
enum transport {
	TRANSPORT_TCP,
	TRANSPORT_TLS,
	TRANSPORT_WS,
	TRANSPORT_WSS,
	TRANSPORT_HTTP,  /* requests and long polls (transport/httpt.h) */
	TRANSPORT_HTTPS,
	TRANSPORT_AUTO, /* client: the first of tcp to http that works, in this order */
};
/* "tcp", "tls", ... */
const char *transport_name(int t);
/* TLS underneath: tls and wss (auto may get there: it needs TLS's settings). */
#define TRANSPORT_MAY_TLS(t) (TRANSPORT_HAS_TLS(t) || (t) == TRANSPORT_AUTO)
#define TRANSPORT_HAS_TLS(t) ((t) == TRANSPORT_TLS || (t) == TRANSPORT_WSS || (t) == TRANSPORT_HTTPS)
/* The http transport: http and https. */
#define TRANSPORT_IS_HTTP(t) ((t) == TRANSPORT_HTTP || (t) == TRANSPORT_HTTPS)
/* WebSocket on top: ws and wss. */
#define TRANSPORT_HAS_WS(t) ((t) == TRANSPORT_WS || (t) == TRANSPORT_WSS)

/*
 * One entry of the server's clients: list: a client that names itself
 * (--name) logs in with its own token and/or client certificate, and gets
 * its own ports and limits (0 / no ranges: the server-wide ones).
 */
/* Host name patterns (vhost_names_parse), or none given. */
struct domains {
	int set;
	char names[MSG_EXTRA_MAX + 1];
};

struct client_entry {
	char name[MSG_NAME_MAX + 1];
	char *token;              /* secret memory, or NULL */
	uint8_t fingerprint[32];  /* its TLS client certificate's key */
	int has_fingerprint;
	struct port_ranges allow_ports;
	int has_allow_ports;
	uint32_t max_tunnels, max_streams;
	struct dest_rules *forward_to; /* owned; NULL: the server's */
	int has_forward_to;            /* given, maybe "none" */
	struct domains domains;        /* HTTPS names it may register; unset: the server's */
};

struct config {
	enum role role;
	struct hostport listen;  /* server: control address */
	struct hostport web_listen; /* server: a second, plain port for ws and http */
	int has_web_listen;
	struct hostport https_listen; /* server: the shared HTTPS port (SNI routing) */
	int has_https_listen;
	struct hostport http_listen; /* server: the shared HTTP port (Host routing) */
	int has_http_listen;
	struct dest_rules *trusted_proxies; /* server: HTTP port visitors whose X-Forwarded-* stand */
	uint32_t response_timeout_ms; /* server: HTTP port: 504 after this long */
	char *domain;             /* server: HTTP port: subdomains' and random names' parent */
	char *https_certs;        /* server: NAME.crt/NAME.key pairs: HTTPS terminated for HTTP tunnels */
	char *acme_directory;     /* server: ACME directory URL: certificates ordered (acme.c) */
	char *acme_email;         /* server: the ACME account's contact, or NULL */
	char *acme_ca;            /* server: CAs for the ACME server's TLS, or NULL: the system's */
	char *acme_challenge;     /* server: "http-01" (NULL) or "tls-alpn-01" */
	uint64_t acme_renew_before_s; /* server: renew certificates expiring within this */
	uint32_t acme_check_ms;   /* server: how often certificates are looked at */
	struct hostport server;  /* client: where the server is */
	char *token;
	char *socks_auth;        /* client: -D's "user:password" (secret memory), or NULL */
	int gateway_ports;
	struct port_ranges allow_ports;
	struct dest_rules *forward_to; /* server: -L/-D destinations; NULL: refused */
	struct domains domains;  /* server: HTTPS names clients may register; unset: any */
	uint32_t udp_timeout_ms;  /* server: a UDP flow's idle end */
	uint32_t heartbeat_ms;
	uint32_t handshake_timeout_ms;
	uint32_t open_timeout_ms;
	uint32_t reconnect_max_ms;
	uint32_t auto_retry_ms;   /* client, auto: try the better transports again */
	uint64_t window;
	uint64_t window_max;
	uint32_t pool;
	uint64_t dedicated_after;
	uint32_t threads;
	uint32_t max_tunnels;     /* per session */
	uint32_t max_streams;     /* per session */
	uint32_t max_conns;       /* per tunnel */
	uint32_t max_unauthenticated;
	uint32_t max_unauthenticated_per_source;
	enum log_level log_level;
	/* TLS (transport/tls.h). Paths are malloc'd or NULL. */
	int transport;            /* client: enum transport */
	char *url_path;           /* ws/wss: the path of the upgrade (client asks, server takes) */
	char *host_header;        /* client, ws/wss: Host (default: the server's host[:port]) */
	char *sni;                /* client, TLS: the name sent and checked (default: the server's host) */
	char *state_dir;          /* server: generated key and certificate */
	char *tls_cert, *tls_key; /* server: its certificate; client: for mutual TLS */
	char *tls_client_ca;      /* server: require client certificates from this CA */
	int require_tls;          /* server: refuse plain TCP clients */
	uint8_t fingerprint[32];  /* client: the pinned server key (SHA-256 of its SPKI) */
	int has_fingerprint;
	char *ca;                 /* client: verify the server against this CA file */
	int trust_on_first_use;   /* client */
	char *known_servers;      /* client: TOFU's file */
	char *tls_ciphersuites;   /* client: TLS 1.3 suites, OpenSSL's syntax */
	char *name;               /* client: its name in the server's clients: list */
	struct client_entry *clients; /* server */
	size_t nclients;
	char *path;               /* the config file (-c), for SIGHUP */
	/* client: an outbound proxy (--proxy, else the environment) */
	int proxy_kind;           /* enum proxy_kind; PROXY_NONE: direct */
	struct hostport proxy;
	char *proxy_user;         /* or NULL */
	char *proxy_pass;         /* secret memory, or NULL */
	int proxy_set;            /* --proxy or proxy: given (direct included) */
	struct tunnel_cfg *tunnels;
	size_t ntunnels;
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT = 1, CONFIG_ERROR = -1 };

/* argv[0] is the role word; argv may be modified to hide a token given as a flag. */
enum config_result config_load(struct config *cfg, enum role role, int argc,
    char **argv, char **err);
void config_free(struct config *cfg);
/*
 * SIGHUP: the server's clients: list from path again, into cfg (defaults
 * elsewhere). CONFIG_OK, or CONFIG_ERROR with "file:line: key: why" in *err.
 */
enum config_result config_load_clients(struct config *cfg, const char *path,
    char **err);
/* Frees the clients list alone (tokens wiped). */
void config_free_clients(struct client_entry *v, size_t n);
const struct client_entry *config_client_find(const struct client_entry *v,
    size_t n, const char *name);
void config_usage(enum role role, FILE *out);
/* Prints the Markdown reference of every key (docs/configuration.md's table). */
void config_reference(FILE *out);
const char *role_name(enum role role);

#endif
