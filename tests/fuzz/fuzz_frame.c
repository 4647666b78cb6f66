/*
 * libFuzzer target: the input is a byte stream from a peer. Frames are decoded
 * one after another as the mux does; every payload goes through every message
 * decoder, and what decodes must re-encode to the same bytes. The raw input
 * also goes through the decoders directly. abort() on a broken contract.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

/*
 * Decoded strings are NUL-terminated inside their field, without control
 * bytes, and valid UTF-8 without C1 controls (U+0080..U+009F).
 */
static void
check_str(const char *str, size_t field)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strnlen(str, field);
	check(len < field);
	for (size_t i = 0; i < len; i++) {
		check(s[i] >= 0x20 && s[i] != 0x7f);
		if (s[i] < 0x80)
			continue;
		size_t k = s[i] >= 0xf0 ? 3 : s[i] >= 0xe0 ? 2 : 1;
		check(s[i] >= 0xc2 && s[i] <= 0xf4 && i + k < len + 1);
		uint32_t cp = s[i] & (0x3f >> k);
		for (size_t j = 1; j <= k; j++) {
			check(i + j < len && (s[i + j] & 0xc0) == 0x80);
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		check(cp >= 0xa0 && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff);
		check(k == 1 || cp >= (k == 2 ? 0x800u : 0x10000u));
		i += k;
	}
}

/* Re-encoded bytes equal the input, except bytes >= 0x80 that a string
 * decoder replaced with '?'; at most max bytes. */
static void
same_max(const uint8_t *p, size_t n, const uint8_t *enc, size_t enclen, size_t max)
{
	check(enclen == n);
	check(enclen <= max);
	for (size_t i = 0; i < n; i++)
		check(p[i] == enc[i] || (p[i] >= 0x80 && enc[i] == '?'));
}

static void
same(const uint8_t *p, size_t n, const uint8_t *enc, size_t enclen)
{
	same_max(p, n, enc, enclen, MSG_MAX);
}

/* Two REGISTERs are the same, HTTP options included. */
static void
register_equal(const struct msg_register *a, const struct msg_register *b)
{
	check(a->kind == b->kind && a->flags == b->flags && a->port == b->port);
	check(strcmp(a->bind, b->bind) == 0 && strcmp(a->name, b->name) == 0);
	check(strcmp(a->extra, b->extra) == 0);
	check(a->nhopts == b->nhopts);
	for (size_t i = 0; i < a->nhopts; i++) {
		check(a->hopts[i].key == b->hopts[i].key);
		check(strcmp(a->hopts[i].value, b->hopts[i].value) == 0);
	}
}

/*
 * A decoded REGISTER: its fields as documented; it re-encodes (in at most
 * MSG_REGISTER_MAX bytes: kind HTTP's options go past MSG_MAX) to the
 * input's bytes, and those decode to the same struct and encode again to
 * the same bytes.
 */
static void
check_register(const uint8_t *p, size_t n, const struct msg_register *r)
{
	static uint8_t buf[MSG_REGISTER_MAX], buf2[MSG_REGISTER_MAX];
	check_str(r->bind, sizeof r->bind);
	check_str(r->name, sizeof r->name);
	check(msg_name_valid(r->name));
	check_str(r->extra, sizeof r->extra);
	check(r->kind <= TUNNEL_HTTP);
	if (r->kind != TUNNEL_SECRET && r->kind != TUNNEL_VISIT &&
	    r->kind != TUNNEL_HTTPS && r->kind != TUNNEL_HTTP)
		check(r->extra[0] == '\0');
	if (r->kind == TUNNEL_VISIT || r->kind == TUNNEL_HTTPS)
		check(r->extra[0] != '\0');
	check((r->flags & ~(REGISTER_HAS_BIND | REGISTER_MUX_ONLY |
			      REGISTER_UDP)) == 0);
	if (r->flags & REGISTER_UDP)
		check(r->kind == TUNNEL_SECRET || r->kind == TUNNEL_VISIT);
	check(r->nhopts <= MSG_HOPTS_MAX);
	if (r->kind != TUNNEL_HTTP)
		check(r->nhopts == 0);
	for (size_t i = 0; i < r->nhopts; i++) {
		check(r->hopts[i].key >= HOPT_HOST && r->hopts[i].key <= HOPT_RESP_REMOVE);
		check_str(r->hopts[i].value, sizeof r->hopts[i].value);
	}
	size_t len = msg_register_encode(buf, r);
	same_max(p, n, buf, len, MSG_REGISTER_MAX);
	/* Kind HTTP: the count byte, then key and length-prefixed value each. */
	if (r->kind == TUNNEL_HTTP) {
		size_t opts = 1;
		for (size_t i = 0; i < r->nhopts; i++)
			opts += 3 + strlen(r->hopts[i].value);
		check(len > opts && buf[len - opts] == r->nhopts);
	}
	static struct msg_register back;
	const char *why = NULL;
	memset(&back, 0xa5, sizeof back);
	check(msg_register_decode(buf, len, &back, &why) == 0);
	register_equal(r, &back);
	check(msg_register_encode(buf2, &back) == len);
	check(memcmp(buf, buf2, len) == 0);
}

/*
 * A decoded AUTH: a control one is the bare MAC, or the MAC and a valid
 * client name (CAP_NAMED); a data one is the MAC and a session id, never a
 * name. Names are plain ASCII, so it re-encodes to exactly its bytes.
 */
static void
check_auth(const uint8_t *p, size_t n, const struct msg_auth *au,
    enum hello_role role)
{
	uint8_t buf[MSG_MAX];
	check_str(au->name, sizeof au->name);
	if (role == HELLO_DATA) {
		check(au->name[0] == '\0');
		check(n == AUTH_DATA_LEN);
	} else {
		check(au->session_id == 0);
		if (au->name[0] == '\0') {
			check(n == MAC_LEN);
		} else {
			check(msg_name_valid(au->name));
			check(n == MAC_LEN + 2 + strlen(au->name));
		}
	}
	check(memcmp(au->mac, p, MAC_LEN) == 0);
	size_t len = msg_auth_encode(buf, au, role);
	check(len == n && memcmp(buf, p, n) == 0);
}

static void
decode_all(const uint8_t *p, size_t n)
{
	uint8_t buf[MSG_MAX];
	const char *why;

	struct msg_hello h;
	why = NULL;
	if (msg_hello_decode(p, n, &h, &why) == 0)
		same(p, n, buf, msg_hello_encode(buf, &h));
	else
		check(why != NULL);

	struct msg_auth_ok a;
	why = NULL;
	if (msg_auth_ok_decode(p, n, &a, &why) == 0)
		same(p, n, buf, msg_auth_ok_encode(buf, &a));
	else
		check(why != NULL);

	for (int role = HELLO_CONTROL; role <= HELLO_DATA; role++) {
		struct msg_auth au;
		why = NULL;
		if (msg_auth_decode(p, n, (enum hello_role)role, &au, &why) == 0)
			check_auth(p, n, &au, (enum hello_role)role);
		else
			check(why != NULL);
	}

	struct msg_error e;
	why = NULL;
	if (msg_error_decode(p, n, &e, &why) == 0) {
		check_str(e.text, sizeof e.text);
		same(p, n, buf, msg_error_encode(buf, e.code, e.text));
	} else {
		check(why != NULL);
	}

	static struct msg_register r;
	why = NULL;
	if (msg_register_decode(p, n, &r, &why) == 0)
		check_register(p, n, &r);
	else
		check(why != NULL);

	struct msg_register_ok ro;
	why = NULL;
	if (msg_register_ok_decode(p, n, &ro, &why) == 0) {
		check_str(ro.addr, sizeof ro.addr);
		same(p, n, buf, msg_register_ok_encode(buf, &ro));
	} else {
		check(why != NULL);
	}

	struct msg_open o;
	why = NULL;
	if (msg_open_decode(p, n, &o, &why) == 0) {
		check_str(o.peer, sizeof o.peer);
		check_str(o.dest, sizeof o.dest);
		check(o.kind == OPEN_TUNNEL || o.kind == OPEN_DIAL ||
		    o.kind == OPEN_VISIT);
		/* OPEN_TUNNEL's dest (CAP_OPEN_DEST) is optional. */
		if (o.kind != OPEN_TUNNEL)
			check((o.kind == OPEN_DIAL) == (o.dest[0] != '\0'));
		size_t len = msg_open_encode(buf, &o);
		/* A tail of kind 0 and an empty dest says nothing: the encoder
		 * leaves those three bytes out. */
		if (o.kind == OPEN_TUNNEL && o.dest[0] == '\0' && n == len + 3) {
			check(p[len] == OPEN_TUNNEL && p[len + 1] == 0 && p[len + 2] == 0);
			same(p, len, buf, len);
		} else {
			same(p, n, buf, len);
		}
	} else {
		check(why != NULL);
	}

	uint32_t v;
	why = NULL;
	if (msg_u32_decode(p, n, &v, &why) == 0)
		same(p, n, buf, msg_u32_encode(buf, v));
	else
		check(why != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	for (;;) {
		struct frame f;
		const char *why = NULL;
		ssize_t n = frame_decode(data + off, size - off, FRAME_MAX_PAYLOAD,
		    &f, &why);
		if (n < 0) {
			check(why != NULL);
			break;
		}
		if (n == 0) {
			/* Needs more: only ever a prefix of a frame. */
			check(size - off < FRAME_HEADER_LEN ||
			    size - off < FRAME_HEADER_LEN + (size_t)(
				(uint32_t)data[off + 8] << 24 | (uint32_t)data[off + 9] << 16 |
				(uint32_t)data[off + 10] << 8 | data[off + 11]));
			break;
		}
		check((size_t)n == FRAME_HEADER_LEN + f.len);
		check((size_t)n <= size - off);
		check(f.len <= FRAME_MAX_PAYLOAD);
		check(f.type >= 1 && f.type <= FRAME_TYPE_MAX);
		check(f.payload == data + off + FRAME_HEADER_LEN);
		check(strcmp(frame_type_name(f.type), "UNKNOWN") != 0);

		/* The header re-encodes to the bytes it came from. */
		uint8_t hdr[FRAME_HEADER_LEN];
		frame_header_encode(hdr, (enum frame_type)f.type, f.flags, f.id, f.len);
		check(memcmp(hdr, data + off, FRAME_HEADER_LEN) == 0);

		/* One byte short of the frame needs more. */
		struct frame g;
		check(frame_decode(data + off, (size_t)n - 1, FRAME_MAX_PAYLOAD, &g,
			  &why) == 0);

		decode_all(f.payload, f.len);
		off += (size_t)n;
	}
	decode_all(data, size);
	return 0;
}
