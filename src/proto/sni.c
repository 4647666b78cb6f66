/* A TLS ClientHello's server name (sni.h). */
#include "proto/sni.h"

#include <string.h>

#define REC_HEAD 5         /* type, version (2), length (2) */
#define REC_MAX 16384      /* RFC 8446 5.1: a plaintext record's most */
#define HS_HEAD 4          /* msg_type, length (3) */
#define CT_HANDSHAKE 22
#define CT_ALERT 21
#define HT_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define NAME_HOST 0        /* RFC 6066 3: NameType host_name */
#define HOST_MAX 253
#define LABEL_MAX 63

/* The handshake bytes SNI_HELLO_MAX can hold: one record's header less. */
#define HS_MAX (SNI_HELLO_MAX - REC_HEAD)

/* A step's answer when it neither waits nor refuses. */
#define GO 2
/* Returns from the caller unless the step goes on. */
#define TRY(step)                         \
	do {                              \
		int try_ = (step);        \
		if (try_ != GO)           \
			return try_;      \
	} while (0)

/* The handshake message, put back together from its records. */
struct hello {
	uint8_t hs[HS_MAX];
	size_t have;  /* bytes of it here */
	size_t total; /* its length, header included; 0 until its header is here */
};

/*
 * A vector being read: bytes [pos, end) of p belong to it, those below
 * avail are here. pos may pass avail once a vector is skipped unread.
 */
struct rd {
	const uint8_t *p;
	size_t pos, end, avail;
	const char **why;
};

/* The first host_name, as an offset into the handshake message. */
struct name {
	size_t at, len; /* len 0: none yet */
	size_t room;    /* the caller's host buffer */
	int acme_tls;   /* ALPN offers acme-tls/1 (RFC 8737) */
};

static int
bad(const char **why, const char *what)
{
	*why = what;
	return SNI_BAD;
}

/* The header of the record at q, of which m bytes are here; each byte is
 * judged as soon as it is here. */
static int
record_head(const uint8_t *q, size_t m, size_t *len, const char **why)
{
	if (m >= 1 && q[0] != CT_HANDSHAKE)
		return bad(why, "not a TLS handshake record");
	if ((m >= 2 && q[1] != 3) || (m >= 3 && q[2] > 4))
		return bad(why, "not a TLS record version (3.0 to 3.4)");
	if (m < REC_HEAD)
		return SNI_MORE;
	*len = (size_t)q[3] << 8 | q[4];
	/* RFC 8446 5.1: no empty handshake record (and so each one moves on). */
	if (*len == 0 || *len > REC_MAX)
		return bad(why, "TLS record length not 1 to 16384");
	return GO;
}

/*
 * What the handshake header says, once here, against the record just
 * copied: declared is how far into the message that record reaches,
 * rec_end where it ends in the input.
 */
static int
hello_head(struct hello *h, size_t declared, size_t rec_end, const char **why)
{
	if (h->have >= 1 && h->hs[0] != HT_CLIENT_HELLO)
		return bad(why, "not a ClientHello");
	if (h->have < HS_HEAD)
		return GO;
	h->total = HS_HEAD + ((size_t)h->hs[1] << 16 | (size_t)h->hs[2] << 8 | h->hs[3]);
	if (declared > h->total)
		return bad(why, "the ClientHello does not end its record");
	/* Each record still to come costs a header too. */
	size_t least = rec_end;
	if (declared < h->total)
		least += REC_HEAD + (h->total - declared);
	if (h->total > HS_MAX || least > SNI_HELLO_MAX)
		return bad(why, "ClientHello too long");
	return GO;
}

/*
 * Copies the handshake message out of the records in p/n (n at most
 * SNI_HELLO_MAX, so that it fits): GO once it is whole, SNI_MORE with
 * h->have bytes of it.
 */
static int
records(const uint8_t *p, size_t n, struct hello *h, const char **why)
{
	size_t off = 0;
	h->have = h->total = 0;
	for (;;) {
		size_t len = 0;
		TRY(record_head(p + off, n - off, &len, why));
		off += REC_HEAD;
		size_t take = len < n - off ? len : n - off;
		size_t declared = h->have + len;
		memcpy(h->hs + h->have, p + off, take);
		h->have += take;
		TRY(hello_head(h, declared, off + len, why));
		if (take < len)
			return SNI_MORE;
		off += len;
		if (h->total != 0 && h->have == h->total)
			return GO;
	}
}

/* Whether k more bytes are inside the vector (else BAD) and here (else
 * MORE). */
static int
rd_need(const struct rd *r, size_t k, const char *what)
{
	if (k > r->end - r->pos)
		return bad(r->why, what);
	if (k > r->avail || r->pos > r->avail - k)
		return SNI_MORE;
	return GO;
}

/* Reads the w-byte length of the vector at pos into sub and moves past
 * it; what: the vector reaches past the one it is in. */
static int
rd_vec(struct rd *r, size_t w, struct rd *sub, const char *what)
{
	TRY(rd_need(r, w, what));
	size_t len = r->p[r->pos];
	if (w == 2)
		len = len << 8 | r->p[r->pos + 1];
	r->pos += w;
	if (len > r->end - r->pos)
		return bad(r->why, what);
	*sub = *r;
	sub->end = r->pos + len;
	r->pos += len;
	return GO;
}

/* GO when every byte of the vector is here. */
static int
rd_whole(const struct rd *r)
{
	return r->end <= r->avail ? GO : SNI_MORE;
}

static int
is_host_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* NULL if s/len (not empty) is a host name we can route by, else why not. */
static const char *
host_name_bad(const uint8_t *s, size_t len)
{
	if (len > HOST_MAX)
		return "server name over 253 bytes";
	if (s[0] == '.' || s[len - 1] == '.')
		return "server name starts or ends with '.'";
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_host_byte(s[i]))
			return "server name byte not a letter, digit, '-' or '.'";
		if (s[i] != '.')
			label++;
		else if (label == 0)
			return "server name with an empty label";
		else
			label = 0;
		if (label > LABEL_MAX)
			return "server name label over 63 bytes";
	}
	return NULL;
}

/* One ServerName of a server_name_list; nm takes the first host_name. */
static int
server_name_entry(struct rd *list, struct name *nm)
{
	struct rd v;
	TRY(rd_need(list, 1, "server_name_list cut in a name"));
	uint8_t type = list->p[list->pos++];
	/* Any type: RFC 6066 gives only host_name, opaque<1..2^16-1>. */
	TRY(rd_vec(list, 2, &v, "server name longer than its list"));
	if (v.pos == v.end)
		return bad(list->why, "an empty server name");
	if (type != NAME_HOST || nm->len != 0)
		return GO;
	TRY(rd_whole(&v));
	size_t len = v.end - v.pos;
	const char *why = host_name_bad(v.p + v.pos, len);
	if (why != NULL)
		return bad(list->why, why);
	if (len >= nm->room)
		return bad(list->why, "server name longer than the host buffer");
	nm->at = v.pos;
	nm->len = len;
	return GO;
}

/* The extension_data of server_name (RFC 6066 3). */
static int
server_name(struct rd *e, struct name *nm)
{
	struct rd list;
	TRY(rd_vec(e, 2, &list, "server_name_list longer than its extension"));
	if (list.end != e->end)
		return bad(e->why, "bytes after the server_name_list");
	if (list.pos == list.end)
		return bad(e->why, "an empty server_name_list");
	while (list.pos < list.end)
		TRY(server_name_entry(&list, nm));
	return GO;
}

/*
 * Whether an ALPN extension's ProtocolNameList (RFC 7301 3.1) names
 * acme-tls/1. Read loosely: a list that does not parse offers nothing (the
 * TLS stack it goes to judges it).
 */
static int
alpn_acme(const struct rd *e)
{
	static const char want[] = "acme-tls/1";
	size_t pos = e->pos, end = e->end;
	if (end - pos < 2 || (size_t)(e->p[pos] << 8 | e->p[pos + 1]) != end - pos - 2)
		return 0;
	for (pos += 2; pos < end;) {
		size_t len = e->p[pos++];
		if (len == 0 || len > end - pos)
			return 0;
		if (len == sizeof want - 1 && memcmp(e->p + pos, want, len) == 0)
			return 1;
		pos += len;
	}
	return 0;
}

static int
extensions(struct rd *x, struct name *nm)
{
	uint8_t seen[65536 / 8];
	memset(seen, 0, sizeof seen);
	while (x->pos < x->end) {
		struct rd e;
		TRY(rd_need(x, 2, "extension type past the extensions"));
		unsigned type = (unsigned)x->p[x->pos] << 8 | x->p[x->pos + 1];
		x->pos += 2;
		/* RFC 8446 4.2: at most one extension of a type. */
		if (seen[type / 8] & (1u << type % 8))
			return bad(x->why, "an extension twice");
		seen[type / 8] |= (uint8_t)(1u << type % 8);
		TRY(rd_vec(x, 2, &e, "extension longer than the extensions"));
		if (type == EXT_SERVER_NAME)
			TRY(server_name(&e, nm));
		else if (type == EXT_ALPN)
			nm->acme_tls = alpn_acme(&e);
	}
	return rd_whole(x);
}

/* The ClientHello's body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). */
static int
client_hello(struct rd *r, struct name *nm)
{
	struct rd v;
	TRY(rd_need(r, 1, "ClientHello too short"));
	if (r->p[r->pos] != 3)
		return bad(r->why, "not a TLS ClientHello version");
	TRY(rd_need(r, 2 + 32, "ClientHello too short"));
	r->pos += 2 + 32; /* legacy_version, random */
	TRY(rd_vec(r, 1, &v, "session_id longer than the ClientHello"));
	if (v.end - v.pos > 32)
		return bad(r->why, "session_id over 32 bytes");
	TRY(rd_vec(r, 2, &v, "cipher_suites longer than the ClientHello"));
	if (v.end - v.pos < 2 || (v.end - v.pos) % 2 != 0)
		return bad(r->why, "cipher_suites not an even length of 2 or more");
	TRY(rd_vec(r, 1, &v, "compression_methods longer than the ClientHello"));
	if (v.pos == v.end)
		return bad(r->why, "no compression_methods");
	/* RFC 5246 7.4.1.2: nothing after them, no extensions. */
	if (r->pos == r->end)
		return rd_whole(r);
	TRY(rd_vec(r, 2, &v, "extensions longer than the ClientHello"));
	if (v.end != r->end)
		return bad(r->why, "bytes after the extensions");
	return extensions(&v, nm);
}

int
sni_parse(const uint8_t *p, size_t n, char *host, size_t hostlen, const char **why)
{
	return sni_parse_alpn(p, n, host, hostlen, NULL, why);
}

int
sni_parse_alpn(const uint8_t *p, size_t n, char *host, size_t hostlen, int *acme_tls,
    const char **why)
{
	struct hello h;
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	/* Bytes past the most we wait for are never looked at. */
	size_t m = n < SNI_HELLO_MAX ? n : SNI_HELLO_MAX;
	int st = records(p, m, &h, why);
	if (st == SNI_BAD)
		return SNI_BAD;
	if (h.total != 0) {
		struct rd r = {h.hs, HS_HEAD, h.total, h.have, why};
		struct name nm = {0, 0, hostlen, 0};
		st = client_hello(&r, &nm);
		if (st == GO && hostlen == 0)
			st = bad(why, "no room for the server name");
		if (st == GO) {
			for (size_t i = 0; i < nm.len; i++) {
				uint8_t c = h.hs[nm.at + i];
				host[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
			}
			host[nm.len] = '\0';
			if (acme_tls != NULL)
				*acme_tls = nm.acme_tls;
			return SNI_FOUND;
		}
	}
	if (st == SNI_MORE && n >= SNI_HELLO_MAX)
		return bad(why, "ClientHello too long");
	return st;
}

size_t
sni_alert(uint8_t desc, uint8_t buf[7])
{
	/* RFC 8446 6: level fatal (2), in a TLS 1.2 record as any TLS speaks. */
	static const uint8_t head[5] = {CT_ALERT, 3, 3, 0, 2};
	memcpy(buf, head, sizeof head);
	buf[5] = 2;
	buf[6] = desc;
	return 7;
}
