/*
 * The http transport (proto/httpt.h): a burrow connection as a virtual
 * conn, its bytes carried by HTTP requests. It has no socket of its own:
 * its readiness comes from the requests (conn_kick), and it is never
 * spliced or moved to a relay thread.
 *
 * Server: HTTP connections on the control port whose first request is one
 * of ours (a path and a query with b=ID) are handed to the httpt server,
 * which keeps a table of virtual conns by id; a new id becomes a new conn
 * for the server to run a session on (accept callback).
 *
 * Client: a virtual conn that sends its bytes in POSTs and long-polls with
 * GETs, at most one of each in flight, each on a keep-alive connection it
 * dials (directly, through a CONNECT or SOCKS5 proxy, or to a plain HTTP
 * forward proxy with absolute request targets).
 */
#ifndef BURROW_TRANSPORT_HTTPT_H
#define BURROW_TRANSPORT_HTTPT_H

#include <stddef.h>
#include <stdint.h>

struct addr_list;
struct config;
struct conn;
struct event_base;
struct http_head;
struct tls_client;

/* ---- server ---- */

struct httpt_server;
/* A new virtual conn: the callee owns it (conn_free to refuse it). */
typedef void (*httpt_accept_cb)(struct conn *vc, const char *peer, void *arg);

struct httpt_server *httpt_server_new(struct event_base *base, const char *path,
    httpt_accept_cb accept, void *arg);
/* Stopping: HTTP connections close, what ended sessions owed is dropped
 * (nothing keeps the loop running); virtual conns end with their sessions. */
void httpt_server_shutdown(struct httpt_server *hs);
void httpt_server_free(struct httpt_server *hs);
/*
 * Takes c, an HTTP connection whose first request head h was read (rest:
 * the bytes after it, already read). Answers it and the requests after it.
 */
void httpt_server_take(struct httpt_server *hs, struct conn *c,
    const struct http_head *h, const uint8_t *rest, size_t rest_len,
    const char *peer);
/* A virtual conn whose requests came over TLS (https): for require_tls. */
int httpt_conn_over_tls(const struct conn *c);


/* ---- client ---- */

/*
 * A virtual conn to the server at addrs (resolved; must outlive it), with
 * cfg's path, proxy and TLS (tc, for https; NULL for http). host is the Host
 * header. NULL if out of memory.
 */
struct conn *conn_httpt_client(struct event_base *base, const struct config *cfg,
    const struct addr_list *addrs, struct tls_client *tc, const char *host);

#endif
