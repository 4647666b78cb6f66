#include "proto/msg.h"

#include <string.h>

/* A bounds-checked reader: the first short read sets err and reads zeros. */
struct rd {
	const uint8_t *p;
	size_t n;
	int err;
};

static void
rd_bytes(struct rd *r, void *out, size_t len)
{
	if (r->err || r->n < len) {
		r->err = 1;
		memset(out, 0, len);
		return;
	}
	memcpy(out, r->p, len);
	r->p += len;
	r->n -= len;
}

static uint8_t
rd_u8(struct rd *r)
{
	uint8_t v;
	rd_bytes(r, &v, 1);
	return v;
}

static uint16_t
rd_u16(struct rd *r)
{
	uint8_t b[2];
	rd_bytes(r, b, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t
rd_u32(struct rd *r)
{
	uint8_t b[4];
	rd_bytes(r, b, 4);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* Length of the valid UTF-8 sequence at p[0..n) (not a C1 control), or 0. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
	    : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	    : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates, beyond U+10FFFF, and U+0080..U+009F. */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f) ||
	    (p[0] == 0xc2 && p[1] < 0xa0))
		return 0;
	return len;
}

/*
 * A peer's text goes to our logs: bytes that are not UTF-8, and C1 controls,
 * become '?' in place (the length stays, so what decodes still re-encodes to
 * as many bytes).
 */
static void
utf8_sanitize(uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0)
			p[i++] = '?';
		else
			i += len;
	}
}

/*
 * A u16-length-prefixed string without control bytes that fits
 * out[outlen], made valid UTF-8 without C1 controls.
 */
static void
rd_str(struct rd *r, char *out, size_t outlen)
{
	uint16_t len = rd_u16(r);
	out[0] = '\0';
	if (r->err)
		return;
	if (len >= outlen || len > r->n) {
		r->err = 1;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (r->p[i] < 0x20 || r->p[i] == 0x7f) {
			r->err = 1;
			return;
		}
	}
	memcpy(out, r->p, len);
	out[len] = '\0';
	utf8_sanitize((uint8_t *)out, len);
	r->p += len;
	r->n -= len;
}

static int
rd_end(struct rd *r, const char **why)
{
	if (r->err) {
		*why = "malformed message";
		return -1;
	}
	if (r->n != 0) {
		*why = "trailing bytes in message";
		return -1;
	}
	return 0;
}

static uint8_t *
wr_u8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}

static uint8_t *
wr_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *
wr_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* Strings longer than max are cut; encoders never produce what decoders reject. */
static uint8_t *
wr_str(uint8_t *p, const char *s, size_t max)
{
	size_t len = strnlen(s, max);
	p = wr_u16(p, (uint16_t)len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		*p++ = (c < 0x20 || c == 0x7f) ? '?' : c;
	}
	return p;
}

size_t
msg_hello_encode(uint8_t *buf, const struct msg_hello *m)
{
	uint8_t *p = buf;
	memcpy(p, PROTO_MAGIC, PROTO_MAGIC_LEN);
	p += PROTO_MAGIC_LEN;
	p = wr_u16(p, m->version);
	p = wr_u8(p, m->role);
	memcpy(p, m->nonce, NONCE_LEN);
	p += NONCE_LEN;
	if (m->version >= 3)
		p = wr_u32(p, m->caps);
	return (size_t)(p - buf);
}

int
msg_hello_decode(const uint8_t *p, size_t n, struct msg_hello *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	char magic[PROTO_MAGIC_LEN];
	rd_bytes(&r, magic, sizeof magic);
	if (!r.err && memcmp(magic, PROTO_MAGIC, PROTO_MAGIC_LEN) != 0) {
		*why = "bad magic";
		return -1;
	}
	m->version = rd_u16(&r);
	m->role = rd_u8(&r);
	rd_bytes(&r, m->nonce, NONCE_LEN);
	/* Older versions have no caps: their HELLO still decodes, so that the
	 * answer can name the version. */
	m->caps = m->version >= 3 ? rd_u32(&r) : 0;
	return rd_end(&r, why);
}

size_t
msg_auth_encode(uint8_t *buf, const struct msg_auth *m, enum hello_role role)
{
	memcpy(buf, m->mac, MAC_LEN);
	if (role != HELLO_DATA) {
		if (m->name[0] == '\0')
			return MAC_LEN;
		return (size_t)(wr_str(buf + MAC_LEN, m->name, MSG_NAME_MAX) - buf);
	}
	return MAC_LEN + msg_u32_encode(buf + MAC_LEN, m->session_id);
}

int
msg_auth_decode(const uint8_t *p, size_t n, enum hello_role role,
    struct msg_auth *m, const char **why)
{
	struct rd r = {p, n, 0};
	rd_bytes(&r, m->mac, MAC_LEN);
	m->session_id = role == HELLO_DATA ? rd_u32(&r) : 0;
	m->name[0] = '\0';
	if (role != HELLO_DATA && n > MAC_LEN) {
		rd_str(&r, m->name, sizeof m->name);
		if (rd_end(&r, why) != 0)
			return -1;
		if (!msg_name_valid(m->name)) {
			*why = "bad client name";
			return -1;
		}
		return 0;
	}
	return rd_end(&r, why);
}

size_t
msg_auth_ok_encode(uint8_t *buf, const struct msg_auth_ok *m)
{
	memcpy(buf, m->mac, MAC_LEN);
	wr_u32(buf + MAC_LEN, m->session_id);
	return MAC_LEN + 4;
}

int
msg_auth_ok_decode(const uint8_t *p, size_t n, struct msg_auth_ok *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	rd_bytes(&r, m->mac, MAC_LEN);
	m->session_id = rd_u32(&r);
	return rd_end(&r, why);
}

size_t
msg_error_encode(uint8_t *buf, uint16_t code, const char *text)
{
	uint8_t *p = wr_u16(buf, code);
	p = wr_str(p, text ? text : "", MSG_TEXT_MAX);
	return (size_t)(p - buf);
}

int
msg_error_decode(const uint8_t *p, size_t n, struct msg_error *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	m->code = rd_u16(&r);
	rd_str(&r, m->text, sizeof m->text);
	return rd_end(&r, why);
}

int
msg_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > MSG_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '_' ||
			c == '-'))
			return 0;
	}
	return 1;
}

/* Kinds whose REGISTER ends with the extra string. */
static int
register_has_extra(uint8_t kind)
{
	return kind == TUNNEL_SECRET || kind == TUNNEL_VISIT || kind == TUNNEL_HTTPS ||
	    kind == TUNNEL_HTTP;
}

static int
rd_hopts(struct rd *r, struct msg_register *m, const char **why)
{
	uint8_t n = rd_u8(r);
	if (n > MSG_HOPTS_MAX) {
		*why = "too many HTTP options";
		return -1;
	}
	for (uint8_t i = 0; i < n && !r->err; i++) {
		m->hopts[i].key = rd_u8(r);
		rd_str(r, m->hopts[i].value, sizeof m->hopts[i].value);
		if (!r->err && (m->hopts[i].key < HOPT_HOST || m->hopts[i].key > HOPT_RESP_REMOVE)) {
			*why = "unknown HTTP option";
			return -1;
		}
	}
	m->nhopts = n;
	return 0;
}

size_t
msg_register_encode(uint8_t *buf, const struct msg_register *m)
{
	uint8_t *p = wr_u8(buf, m->kind);
	p = wr_u8(p, m->flags);
	p = wr_u16(p, m->port);
	p = wr_str(p, m->bind, ADDR_HOST_MAX - 1);
	p = wr_str(p, m->name, MSG_NAME_MAX);
	if (register_has_extra(m->kind))
		p = wr_str(p, m->extra, MSG_EXTRA_MAX);
	if (m->kind == TUNNEL_HTTP) {
		uint8_t n = m->nhopts < MSG_HOPTS_MAX ? m->nhopts : MSG_HOPTS_MAX;
		p = wr_u8(p, n);
		for (uint8_t i = 0; i < n; i++) {
			p = wr_u8(p, m->hopts[i].key);
			p = wr_str(p, m->hopts[i].value, MSG_HOPT_LEN);
		}
	}
	return (size_t)(p - buf);
}

int
msg_register_decode(const uint8_t *p, size_t n, struct msg_register *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	m->kind = rd_u8(&r);
	m->flags = rd_u8(&r);
	m->port = rd_u16(&r);
	rd_str(&r, m->bind, sizeof m->bind);
	rd_str(&r, m->name, sizeof m->name);
	m->extra[0] = '\0';
	if (register_has_extra(m->kind))
		rd_str(&r, m->extra, sizeof m->extra);
	m->nhopts = 0;
	if (m->kind == TUNNEL_HTTP && rd_hopts(&r, m, why) != 0)
		return -1;
	if (rd_end(&r, why) != 0)
		return -1;
	if (m->flags & ~(REGISTER_HAS_BIND | REGISTER_MUX_ONLY | REGISTER_UDP)) {
		*why = "unknown REGISTER flags";
		return -1;
	}
	if (m->kind > TUNNEL_HTTP) {
		*why = "unknown tunnel kind";
		return -1;
	}
	if ((m->flags & REGISTER_UDP) && m->kind != TUNNEL_SECRET &&
	    m->kind != TUNNEL_VISIT) {
		*why = "REGISTER's UDP flag is for secret tunnels and visits";
		return -1;
	}
	if (m->kind == TUNNEL_VISIT && m->extra[0] == '\0') {
		*why = "a visit names no secret tunnel";
		return -1;
	}
	if (m->kind == TUNNEL_HTTPS && m->extra[0] == '\0') {
		*why = "an HTTPS tunnel names no host";
		return -1;
	}
	if (!msg_name_valid(m->name)) {
		*why = "bad tunnel name";
		return -1;
	}
	return 0;
}

size_t
msg_register_ok_encode(uint8_t *buf, const struct msg_register_ok *m)
{
	uint8_t *p = wr_str(buf, m->addr, ADDR_STR_MAX - 1);
	return (size_t)(p - buf);
}

int
msg_register_ok_decode(const uint8_t *p, size_t n, struct msg_register_ok *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	rd_str(&r, m->addr, sizeof m->addr);
	return rd_end(&r, why);
}

size_t
msg_open_encode(uint8_t *buf, const struct msg_open *m)
{
	uint8_t *p = wr_u32(buf, m->tunnel_id);
	p = wr_u32(p, m->window);
	p = wr_str(p, m->peer, ADDR_STR_MAX - 1);
	/* No tail when it would say nothing: the form older peers send. */
	if (m->kind != OPEN_TUNNEL || m->dest[0] != '\0') {
		*p++ = m->kind;
		p = wr_str(p, m->dest, ADDR_STR_MAX - 1);
	}
	return (size_t)(p - buf);
}

int
msg_open_decode(const uint8_t *p, size_t n, struct msg_open *m,
    const char **why)
{
	struct rd r = {p, n, 0};
	m->tunnel_id = rd_u32(&r);
	m->window = rd_u32(&r);
	rd_str(&r, m->peer, sizeof m->peer);
	m->kind = OPEN_TUNNEL;
	m->dest[0] = '\0';
	if (!r.err && r.n > 0) { /* CAP_FORWARD's tail */
		m->kind = rd_u8(&r);
		rd_str(&r, m->dest, sizeof m->dest);
		/* OPEN_TUNNEL: dest is where the user connected, if known. */
		if (!r.err && m->kind != OPEN_TUNNEL &&
		    !(m->kind == OPEN_DIAL && m->dest[0] != '\0') &&
		    !(m->kind == OPEN_VISIT && m->dest[0] == '\0')) {
			*why = "bad OPEN kind or destination";
			return -1;
		}
	}
	return rd_end(&r, why);
}

size_t
msg_u32_encode(uint8_t *buf, uint32_t v)
{
	wr_u32(buf, v);
	return 4;
}

int
msg_u32_decode(const uint8_t *p, size_t n, uint32_t *v, const char **why)
{
	struct rd r = {p, n, 0};
	*v = rd_u32(&r);
	return rd_end(&r, why);
}
