/*
 * Private to src/server: the structs of the server role and the functions
 * its files share. server.c: the server's life, the control listener and
 * admission, frame dispatch; login.c: the handshake of every control-port
 * connection; tunnel.c: registered tunnels and their listeners; pool.c:
 * idle data connections and moving streams onto them.
 */
#ifndef BURROW_SERVER_T_H
#define BURROW_SERVER_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/listener.h>

#include "config/config.h"
#include "mux/session.h"
#include "proto/handshake.h"
#include "server/admit.h"
#include "socks/front.h"
#include "udp/flow.h"
#include "util/log.h"

struct conn;
struct gauge;

#define ACCEPT_RETRY_MS 1000
/* Idle dedicated data connections one client may park here. */
#define POOL_MAX 64

struct tunnel;
struct pooled;
struct fwd_dial;
struct bridge;
struct hconn;
struct evdns_base;

/* session_open tags: front.h's SOCKS/HTTP protocols are 1 to 3. */
#define TAG_BRIDGE 0x80

/* Where a control-port connection is in its handshake. */
enum cc_state { CS_HELLO, CS_AUTH, CS_READY };

/* One connected client: its session, handshake state and tunnels. */
struct client_conn {
	struct server *srv;
	struct session *s;
	uint32_t id;
	char peer[ADDR_STR_MAX];
	struct source src;
	enum cc_state state;
	int is_data; /* a dedicated data connection in its handshake */
	int handshaking; /* on the server's list of unauthenticated connections */
	TAILQ_ENTRY(client_conn) hlink;
	size_t ntunnels;
	struct log_limit lim_register;
	struct handshake hs;
	uint8_t session_key[MAC_LEN]; /* control: keys its data connections' proofs */
	/* A named client: its entry in the clients: list (re-pointed on SIGHUP),
	 * NULL for the shared token. */
	const struct client_entry *who;
	char name[MSG_NAME_MAX + 1];
	LIST_HEAD(, tunnel) tunnels;
	LIST_HEAD(, pooled) pool; /* idle data connections, authenticated */
	size_t npool;
	struct udp_table udp;  /* UDP tunnels' flows */
	uint32_t next_flow;    /* even, as stream ids */
	LIST_HEAD(, fwd_dial) fwd_dials; /* -L/-D destinations being dialed */
	size_t nfwd;
	struct log_limit lim_forward;
	LIST_ENTRY(client_conn) link;
};

/* An idle dedicated data connection, waiting for a stream to carry. */
struct pooled {
	struct client_conn *cc;
	struct conn *conn;
	LIST_ENTRY(pooled) link;
};

/* A public listener registered by a client. */
struct tunnel {
	struct client_conn *cc;
	uint32_t id; /* the client's request id, echoed in OPEN */
	char name[MSG_NAME_MAX + 1];
	char addr[ADDR_STR_MAX];
	int mux_only;
	int kind;      /* enum tunnel_kind */
	int socks;     /* reverse dynamic: a SOCKS5 / HTTP proxy port */
	/* SECRET: its visitors (msg.h); VISIT: the "[owner/]name" it visits. */
	char extra[MSG_EXTRA_MAX + 1];
	int shared;    /* SECRET: on the server's list of shares */
	int udp;       /* SECRET, VISIT: datagrams (REGISTER_UDP) */
	int ufd;       /* UDP: its socket (else -1) */
	struct event *uev, *usweep;
	uint32_t nflows;
	LIST_ENTRY(tunnel) slink;
	struct front_set fronts; /* socks: connections in their request */
	uint16_t port; /* as the client asked: 0 for any free port */
	struct gauge *conns; /* live user connections, multiplexed or moved */
	struct evconnlistener *lev;
	struct event *retry;
	struct log_limit lim_refuse;
	uint64_t serial; /* unique in the server's life: HTTP connections
			  * tell whether their stream's tunnel is still this one */
	struct msg_hopt *hopts; /* HTTP: what is done to each request (msg.h) */
	uint8_t nhopts;
	LIST_ENTRY(tunnel) link;
};

struct server {
	struct event_base *base;
	const struct config *cfg;
	struct evconnlistener *lev;
	struct event *retry;
	struct evconnlistener *web_lev; /* web_listen: plain, no TLS */
	struct event *web_retry;
	LIST_HEAD(, client_conn) clients;
	LIST_HEAD(, tunnel) shares;  /* secret tunnels, every client's */
	LIST_HEAD(, bridge) bridges; /* visits waiting for the sharer's answer */
	/* The HTTPS port (vhost.c): names and their tunnels, connections still
	 * in their ClientHello (oldest first). */
	LIST_HEAD(, vhost_name) vhosts;
	TAILQ_HEAD(, vhost_gone) vgone; /* HTTP names whose client went away */
	size_t nvgone;
	struct evconnlistener *https_lev;
	struct event *https_retry;
	TAILQ_HEAD(, sniff) sniffs;
	size_t nsniffs;
	struct log_limit lim_https;
	char https_addr[ADDR_STR_MAX];
	struct certs *certs; /* https_certs: terminating HTTP tunnels' names */
	struct acme *acme;   /* acme_directory: certificates ordered for them */
	/* The HTTP port (hproxy.c): connections waiting for a request head,
	 * idle ones included (oldest first). */
	struct evconnlistener *http_lev;
	struct event *http_retry;
	TAILQ_HEAD(, hconn) hwaiting;
	size_t nhwaiting;
	LIST_HEAD(, hconn) hconns; /* every connection of the port */
	struct log_limit lim_http;
	char http_addr[ADDR_STR_MAX];
	uint64_t tunnel_serial; /* the last tunnel's serial */
	/* Connections in their handshake, oldest first (max_unauthenticated). */
	TAILQ_HEAD(, client_conn) handshaking;
	size_t nhandshaking;
	struct admit *admit;
	/* Tunnels stop accepting at fd_limit - fd_reserve: the rest is for
	 * control and data connections. */
	long fd_limit, fd_reserve;
	struct log_limit lim_auth, lim_unauth, lim_refuse;
	struct relay_workers *relays;
	struct evdns_base *dns; /* forwarded destinations' names */
	struct tls_server *tls;
	struct httpt_server *httpt; /* the http transport's connections */
	uint64_t trimmed_ms; /* the last malloc_trim after TLS handshakes */
	/* The clients: list in force: the config's, then a reloaded one. */
	const struct client_entry *policy;
	size_t npolicy;
	struct client_entry *policy_owned;
};

/* policy.c: a client's own limits, else the server's */
uint32_t policy_max_tunnels(const struct client_conn *cc);
uint32_t policy_max_streams(const struct client_conn *cc);
/* Where the client's -L/-D connections may go; NULL: nowhere. */
const struct dest_rules *policy_forward_to(const struct client_conn *cc);
int policy_port_allowed(const struct client_conn *cc, uint16_t port);
/* May cc serve this HTTPS name (domains: of its entry, else the server's)? */
int policy_name_allowed(const struct client_conn *cc, const char *name);
/* The credentials an AUTH names: the key its proof is made with, or NULL
 * (unknown name, or no shared token) with *why. */
const char *policy_auth_key(struct client_conn *cc, const char *name,
    const struct client_entry **who, const char **why);

/* server.c */
extern const struct session_handler server_handler;
void client_conn_handshake_done(struct client_conn *cc);
/* The one place a client_conn is freed (its tunnels and pool are gone). */
void client_conn_free(struct client_conn *cc);
void listener_backoff(struct evconnlistener *lev, struct event *retry,
    const char *what);
void listener_retry_cb(evutil_socket_t fd, short what, void *arg);
/* A second listening port (web_listen, https): 0, or -1 logged. */
int server_port_listen(struct server *srv, const struct hostport *hp, const char *what,
    evconnlistener_cb cb, evconnlistener_errorcb ecb, struct evconnlistener **lev,
    struct event **retry, char *shown, size_t shownlen);

/* login.c: HELLO and AUTH on a control-port connection. */
int server_hello(struct client_conn *cc, const struct frame *f, const char **why);
int server_auth(struct client_conn *cc, const struct frame *f, const char **why);
/* "too many failed logins from this address: retry in 1.5 s" */
void throttle_text(uint32_t wait_ms, char *buf, size_t len);

/* tunnel.c */
int server_register(struct client_conn *cc, const struct frame *f, const char **why);
struct tunnel *tunnel_by_id(struct client_conn *cc, uint32_t id);
void tunnel_free(struct tunnel *t, int log_it);
void server_on_stream_closed(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg);
int server_open_result(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, uint8_t tag, int fd, const struct msg_error *err,
    void *arg);

/* forward.c: OPEN from the client (CAP_FORWARD) */
int server_open(struct client_conn *cc, const struct frame *f, const char **why);
void fwd_dial_free(struct fwd_dial *d);

/* share.c: secret tunnels and visits */
/* REGISTER kind SECRET or VISIT into t: 0 with the REGISTER_OK text, or -1
 * with the code and text of the refusal. */
/* The client gave up on an OPEN not answered yet: its dial or visit ends. */
void server_stray_rst(struct session *s, uint32_t stream_id, void *arg);
int share_visit_cancel(struct client_conn *v, uint32_t stream_id);
int share_register(struct client_conn *cc, struct tunnel *t,
    const struct msg_register *m, char *text, size_t textlen, uint16_t *code);
void share_unlink(struct tunnel *t);
int share_visit(struct client_conn *v, const struct frame *f,
    const struct msg_open *m);
int share_open_result(struct client_conn *sh, uint32_t sid,
    const struct msg_error *err);
void share_client_gone(struct client_conn *cc);
/* The share v means by "[owner/]name", if v may visit it: else NULL, with
 * the code and reason to refuse with. */
/* in with random share names cut to their first 8 hex digits, for logs. */
const char *share_redact(const char *in, char *out, size_t outlen);
struct tunnel *share_lookup(struct client_conn *v, const char *target,
    uint16_t *code, char *why, size_t whylen);

/* vhost.c: names on the shared ports; the HTTPS port, routed by SNI */
struct tunnel *vhost_lookup(struct server *srv, const char *host);
/* The HTTP port: the tunnel for host and path, or NULL; *known: whether
 * some HTTP tunnel serves host (with other paths). */
struct tunnel *vhost_route(struct server *srv, const char *host, const char *path,
    int *known);
/* Whether an HTTP tunnel served host until its client went away (within
 * the last hour): such a name answers 502. */
int vhost_gone(struct server *srv, const char *host);
void vhost_gone_clear(struct server *srv);
/* The names t serves (REGISTER's extra: comma-separated, for kind HTTP maybe
 * ';' and paths), unless one is held or invalid: 0 (text: the port's
 * address), or -1 with a code and text. */
int vhost_register(struct client_conn *cc, struct tunnel *t, const char *extra,
    char *text, size_t textlen, uint16_t *code);
void vhost_unregister(struct tunnel *t);
int vhost_listen(struct server *srv);
void vhost_shutdown(struct server *srv);

/* certs.c: the HTTPS port's certificates for terminating TLS */
struct certs;
typedef struct ssl_ctx_st SSL_CTX;
/* The pairs of dir (https_certs) and of acme_dir (NAME.crt, NAME.key);
 * either may be NULL. NULL (logged) if one cannot be read. */
struct certs *certs_new(const char *dir, const char *acme_dir);
/* SIGHUP: the directory again; on failure the old set stays (logged). */
void certs_reload(struct certs *cs);
void certs_free(struct certs *cs);
/* The context whose certificate covers name (exact first), or NULL. */
SSL_CTX *certs_find(const struct certs *cs, const char *name);
/* For name's certificate: seconds until it expires (< 0: expired) and
 * whether ACME made it. 0, or -1 if no certificate covers name. */
int certs_expiry(const struct certs *cs, const char *name, int64_t *secs_left,
    int *acme);

/* acme.c: certificates from an ACME server (HTTP-01) */
struct acme;
/* Starts the worker; NULL (logged) if it cannot. */
struct acme *acme_new(struct server *srv);
void acme_free(struct acme *a);
/* Where its certificates are (for certs_new). */
const char *acme_dir(const struct acme *a);
/* An HTTP tunnel's names (REGISTER's extra as served): each exact one that
 * no certificate covers, or whose ACME certificate is due, is ordered. */
void acme_names(struct acme *a, const char *names);
/* The key authorization for an HTTP-01 token of host: 1, or 0. */
int acme_challenge(struct acme *a, const char *host, const char *token, char *out,
    size_t outlen);
/* TLS-ALPN-01: the context that answers host's challenge (a reference),
 * or NULL. */
SSL_CTX *acme_alpn_ctx(struct acme *a, const char *host);
/* vhost.c: cb with each HTTP tunnel's names. */
void vhost_http_each(struct server *srv, void (*cb)(const char *names, void *arg),
    void *arg);

/* hproxy.c: the HTTP port, each request to the tunnel of its Host and path */
int hproxy_listen(struct server *srv);
/* A connection for the HTTP engine (the HTTP port's, or one whose TLS the
 * HTTPS port terminates: proto "https"); takes u. */
void hproxy_take(struct server *srv, struct conn *u, const struct sockaddr *sa,
    const char *proto);
void hproxy_shutdown(struct server *srv);
/* A user connection for t (refused, logged and closed on a limit): early
 * are bytes already read from it, sent first. 0 or -1. */
int tunnel_take(struct tunnel *t, evutil_socket_t fd, const char *peer,
    const uint8_t *early, size_t early_len);

/* udp.c: UDP tunnels */
int udp_tunnel_start(struct tunnel *t, int fd);
void udp_tunnel_stop(struct tunnel *t);
int server_udp_frame(struct client_conn *cc, const struct frame *f, const char **why);
/* UDP_OPEN from a visitor (a UDP visit): a flow to the sharer, joined here. */
int udp_visit_open(struct client_conn *v, const struct frame *f, const char **why);

/* pool.c */
void pool_add(struct client_conn *owner, struct conn *c);
/* Frees the entry; returns its conn if keep_conn, else closes it (NULL). */
struct conn *pooled_free(struct pooled *p, int keep_conn);
struct conn *server_promote(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, void *arg);
void server_on_moved(struct session *s, uint32_t stream_id, uint32_t tunnel_id,
    struct conn *user, struct conn *data, uint64_t bytes, void *arg);

#endif
