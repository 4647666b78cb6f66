/*
 * Small readers of a visitor's request for the HTTP edge (server/hproxy.c),
 * pure: the host its Host header names, and the credentials of a Basic
 * Authorization header.
 */
#ifndef BURROW_PROTO_HREQ_H
#define BURROW_PROTO_HREQ_H

#include <stddef.h>

/*
 * A Host header's value as a name to route by: lower case, without its
 * port and the root's trailing dot; letters, digits, '-' and '.' only, no
 * empty label (an IPv6 literal is none). 0 with out (NUL-terminated, cap > 1), or -1.
 */
int http_host_name(const char *in, char *out, size_t cap);

/*
 * "Basic <base64>" (RFC 7617; the scheme case-insensitive) decoded into
 * out: "user:password", at most cap - 1 bytes, NUL-terminated (a NUL inside
 * is refused). 0 with *len, or -1.
 */
int basic_auth_decode(const char *v, size_t vlen, char *out, size_t cap, size_t *len);

#endif
