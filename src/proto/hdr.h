/*
 * HTTP/1.1 header lines of a request head that http-parser has already
 * accepted (proto/http.c): iterate, find, compare names, collect the
 * hop-by-hop names a Connection header lists, and write a new head into a
 * fixed buffer. Pure. Shared by the HTTP proxy requests of -D (socks.c)
 * and what the server forwards to a tunnel.
 */
#ifndef BURROW_PROTO_HDR_H
#define BURROW_PROTO_HDR_H

#include <stddef.h>
#include <stdint.h>

/*
 * What a peer could read otherwise than http-parser did once headers are
 * taken out or added: a folded line, a CR not before an LF, a control
 * byte. The reason, or NULL when clean.
 */
const char *hdr_unclean(const uint8_t *p, size_t n);
/* The next line of head[0..n) from *off (the request line first), without
 * its LF or CRLF. 0 at the blank line that ends the head. */
int hdr_line(const char *head, size_t n, size_t *off, const char **line, size_t *len);
/* Whether the header line is `name: ...` (name is case-insensitive). */
int hdr_is(const char *line, size_t len, const char *name, size_t nlen);
/* A header line's value without the blanks around it. */
void hdr_value(const char *line, size_t len, const char **v, size_t *vlen);
/* The value of the first header `name`, or NULL. */
const char *hdr_find(const char *head, size_t n, const char *name, size_t *vlen);

/* Headers a Connection header names: hop-by-hop (RFC 7230 section 6.1). */
#define HDR_HOP_MAX 16
struct hdr_hop {
	const char *name[HDR_HOP_MAX];
	size_t len[HDR_HOP_MAX];
	size_t n;
};
/* The names listed in a Connection value; -1 if more than HDR_HOP_MAX. */
int hdr_hop_add(struct hdr_hop *hop, const char *v, size_t vlen);
/* Whether the header line is one of them. */
int hdr_hop_has(const struct hdr_hop *hop, const char *line, size_t len);

/* Bytes appended to a fixed buffer; full once one did not fit. */
struct hdr_buf {
	uint8_t *p;
	size_t cap, n;
	int full;
};
void hdr_put(struct hdr_buf *w, const void *s, size_t len);
void hdr_put_str(struct hdr_buf *w, const char *s);

#endif
