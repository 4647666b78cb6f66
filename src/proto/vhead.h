/*
 * The request head the server forwards into an HTTP tunnel (issue 11):
 * the visitor's head with what a reverse proxy adds and takes out. Pure:
 * head in (already accepted by http_head_parse), head out.
 *
 * - Hop-by-hop headers go (Connection and the names it lists, Keep-Alive,
 *   Proxy-Connection, Proxy-Authorization, TE, Trailer; Upgrade unless the
 *   request upgrades); Transfer-Encoding and Content-Length stay, since the
 *   body is passed on as it comes.
 * - X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Real-IP and
 *   Forwarded (RFC 7239) from the visitor are dropped unless the visitor is
 *   a trusted proxy, whose X-Forwarded-For and Forwarded are appended to
 *   and whose other values stand. Then ours: X-Forwarded-For, -Proto,
 *   -Host, X-Real-IP and Forwarded.
 * - Host may be rewritten; headers may be removed and set by name.
 * - An upgrade keeps "Connection: upgrade" and its Upgrade header.
 */
#ifndef BURROW_PROTO_VHEAD_H
#define BURROW_PROTO_VHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "proto/http.h"

struct vhead_ctx {
	const char *client_ip;      /* the visitor's address: "192.0.2.7", "2001:db8::7" */
	uint16_t client_port;
	const char *proto;          /* "http" or "https" */
	int trusted;                /* the visitor is a proxy we trust */
	const char *host_rewrite;   /* Host for the service, or NULL: as sent */
	const char *const *remove;  /* header names to drop, NULL-terminated, or NULL */
	const char *const *set;     /* "Name: value" lines, replacing that name, or NULL */
};

/*
 * head/n: a request head and its fields h, as http_head_parse returned
 * them. Writes the head for the service into out: 0 with *outlen, or the
 * status to answer (400, 431) with *why.
 */
int vhead_rewrite(const char *head, size_t n, const struct http_head *h,
    const struct vhead_ctx *c, uint8_t *out, size_t cap, size_t *outlen,
    const char **why);

/*
 * A service's response head (accepted by http_head_parse) with headers
 * removed and set by name (remove, set: NULL-terminated or NULL; set's
 * lines "Name: value" replace that name). 0 with *outlen, or -1 with *why
 * (unclean, or over cap).
 */
int vhead_response(const char *head, size_t n, const char *const *remove,
    const char *const *set, uint8_t *out, size_t cap, size_t *outlen,
    const char **why);

#endif
