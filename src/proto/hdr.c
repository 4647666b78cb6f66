/* HTTP/1.1 header lines of a head already read by http-parser (hdr.h). */
#include "proto/hdr.h"

#include <string.h>
#include <strings.h>

/*
 * What an origin could read otherwise than we do once we have taken
 * headers out: a folded line (http-parser joins it to the line before;
 * RFC 7230 section 3.2.4 lets a proxy refuse it), a CR not before an LF
 * and a control byte. http-parser 2.9.4 refuses the last two in most
 * places but not at the start of a value, where it takes "\ry" for a
 * line end and lets a NUL by.
 */
const char *
hdr_unclean(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i], next = i + 1 < n ? p[i + 1] : 0;
		if (c == '\r' && next != '\n')
			return "CR without LF in the request head";
		if (c == '\n' && (next == ' ' || next == '\t'))
			return "folded header line";
		if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
			return "control byte in the request head";
	}
	return NULL;
}

/*
 * The next line of head[0..n) from *off (the request line first), without
 * its LF or CRLF (http-parser takes both). 0 at the blank line that ends
 * the head.
 */
int
hdr_line(const char *head, size_t n, size_t *off, const char **line, size_t *len)
{
	const char *s = head + *off, *e = memchr(s, '\n', n - *off);
	if (e == NULL)
		return 0;
	size_t l = (size_t)(e - s);
	if (l > 0 && s[l - 1] == '\r')
		l--;
	*off = (size_t)(e - head) + 1;
	*line = s;
	*len = l;
	return l > 0;
}

/* Whether the header line is `name: ...` (name is case-insensitive). */
int
hdr_is(const char *line, size_t len, const char *name, size_t nlen)
{
	return len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
}

/* A header line's value without the blanks around it. */
void
hdr_value(const char *line, size_t len, const char **v, size_t *vlen)
{
	const char *s = memchr(line, ':', len), *e = line + len;
	s = s != NULL ? s + 1 : e;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*v = s;
	*vlen = (size_t)(e - s);
}

/* The value of the first header `name`, or NULL. */
const char *
hdr_find(const char *head, size_t n, const char *name, size_t *vlen)
{
	const char *line, *v;
	size_t off = 0, len, nlen = strlen(name);
	hdr_line(head, n, &off, &line, &len); /* the request line */
	while (hdr_line(head, n, &off, &line, &len))
		if (hdr_is(line, len, name, nlen)) {
			hdr_value(line, len, &v, vlen);
			return v;
		}
	return NULL;
}

/* The names listed in value; -1 if there are more than HDR_HOP_MAX. */
int
hdr_hop_add(struct hdr_hop *hop, const char *v, size_t vlen)
{
	const char *e = v + vlen;
	while (v < e) {
		const char *t = v, *te;
		while (t < e && (*t == ',' || *t == ' ' || *t == '\t'))
			t++;
		for (te = t; te < e && *te != ','; te++)
			;
		v = te;
		while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (te == t)
			continue;
		if (hop->n == HDR_HOP_MAX)
			return -1;
		hop->name[hop->n] = t;
		hop->len[hop->n++] = (size_t)(te - t);
	}
	return 0;
}

int
hdr_hop_has(const struct hdr_hop *hop, const char *line, size_t len)
{
	for (size_t i = 0; i < hop->n; i++)
		if (hdr_is(line, len, hop->name[i], hop->len[i]))
			return 1;
	return 0;
}

void
hdr_put(struct hdr_buf *w, const void *s, size_t len)
{
	if (w->full || len > w->cap - w->n) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

void
hdr_put_str(struct hdr_buf *w, const char *s)
{
	hdr_put(w, s, strlen(s));
}

