/*
 * libFuzzer target: the handshake as a stranger drives it. The input is
 * split into the frames a peer would send; the server side and the client
 * side each take them in turn (HELLO, then AUTH or AUTH_OK), with keys and
 * nonces from the input. A PING frame's first 32 payload bytes become a TLS
 * channel binding (hs_bind): flag 1 binds the server side, flag 2 the
 * client side. Nothing may crash, a verdict must be consistent (a proof
 * accepted for one key is refused for another, or for another binding, or
 * unbound), and every payload the code builds must decode again, a named
 * control AUTH with its name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* h with its binding changed: another one if it had one, else one from b. */
static struct handshake
rebound(const struct handshake *h, const uint8_t b[BINDING_LEN], size_t flip)
{
	struct handshake o = *h;
	if (o.has_binding)
		o.binding[flip % BINDING_LEN] ^= (uint8_t)(1u << (flip % 8));
	else
		hs_bind(&o, b);
	return o;
}

/* An AUTH built by client-side state c, as server s judges it. */
static int
verdict(const struct handshake *c, const struct handshake *s, const uint8_t *key,
    size_t keylen)
{
	uint8_t buf[MSG_MAX];
	struct msg_auth a;
	const char *why = NULL;
	size_t n = hs_client_auth(c, key, keylen, 7, buf);
	check(msg_auth_decode(buf, n, (enum hello_role)s->role, &a, &why) == 0);
	return hs_server_verify(s, &a, key, keylen);
}

/* A valid client name made of input bytes. */
static void
name_from(const uint8_t *p, size_t n, char name[MSG_NAME_MAX + 1])
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t len = 1 + (n > 0 ? p[0] % MSG_NAME_MAX : 0);
	for (size_t i = 0; i < len; i++)
		name[i] = alpha[n > 0 ? p[(i + 1) % n] % (sizeof alpha - 1) : 0];
	name[len] = '\0';
	check(msg_name_valid(name));
}

/* A control AUTH named name carries it, with the unnamed AUTH's proof; a
 * data AUTH never carries one. */
static void
check_named(const struct handshake *peer, const struct handshake *s,
    const uint8_t *key, size_t keylen, const char *name)
{
	uint8_t buf[MSG_MAX], plain[MSG_MAX];
	struct msg_auth a;
	const char *why = NULL;
	size_t n = hs_client_auth_named(peer, key, keylen, name, buf);
	check(msg_auth_decode(buf, n, (enum hello_role)s->role, &a, &why) == 0);
	if (s->role == HELLO_CONTROL) {
		check(n == MAC_LEN + 2 + strlen(name));
		check(strcmp(a.name, name) == 0);
	} else {
		check(n == AUTH_DATA_LEN);
		check(a.name[0] == '\0');
	}
	check(hs_server_verify(s, &a, key, keylen));
	size_t pn = hs_client_auth(peer, key, keylen, 0, plain);
	check(pn <= n && memcmp(plain, buf, MAC_LEN) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t nonce[NONCE_LEN] = {0}, key[MAC_LEN] = {0}, buf[MSG_MAX];
	uint8_t other_binding[BINDING_LEN] = {0};
	size_t take = size < NONCE_LEN ? size : NONCE_LEN;
	memcpy(nonce, data, take);
	memcpy(key, data, take);
	key[0] ^= 0x5a;
	for (size_t i = 0; i < take; i++)
		other_binding[i] = (uint8_t)(data[take - 1 - i] ^ 0xc3);
	size_t off = take;
	struct handshake s, c;
	int server_hello_done = 0, client_hello_done = 0;
	hs_client_hello(&c, size > 0 && (data[0] & 1) ? HELLO_DATA : HELLO_CONTROL,
	    nonce, 0, buf);
	while (off < size) {
		struct frame f;
		const char *why = NULL;
		ssize_t n = frame_decode(data + off, size - off, MSG_MAX, &f, &why);
		if (n <= 0)
			break;
		off += (size_t)n;
		size_t rn;
		uint16_t code, version;
		char text[128];
		uint8_t reply[MSG_MAX];
		switch (f.type) {
		case FRAME_HELLO:
			if (hs_server_on_hello(&s, f.payload, f.len, nonce, 0, reply, &rn,
				&code, text, sizeof text, &why) == 0) {
				struct msg_hello m;
				check(msg_hello_decode(reply, rn, &m, &why) == 0);
				check(m.caps == PROTO_CAPS);
				check((s.caps & ~PROTO_CAPS) == 0);
				check(!s.has_binding);
				server_hello_done = 1;
			} else {
				check(code != 0 || why != NULL);
			}
			if (hs_client_on_hello(&c, f.payload, f.len, &version, &why) == 0) {
				check((c.caps & ~PROTO_CAPS) == 0);
				client_hello_done = 1;
			}
			break;
		case FRAME_PING:
			/* The TLS exporter value, as the transport would hand it over. */
			if (f.len >= BINDING_LEN) {
				if ((f.flags & 1) && server_hello_done)
					hs_bind(&s, f.payload);
				if (f.flags & 2)
					hs_bind(&c, f.payload);
			}
			break;
		case FRAME_AUTH:
			if (server_hello_done) {
				struct msg_auth a;
				if (msg_auth_decode(f.payload, f.len, (enum hello_role)s.role,
					&a, &why) == 0 &&
				    hs_server_verify(&s, &a, key, sizeof key)) {
					uint8_t other[MAC_LEN];
					memcpy(other, key, sizeof other);
					other[1] ^= 1;
					check(!hs_server_verify(&s, &a, other, sizeof other));
					/* The same proof on another connection is refused. */
					struct handshake o = rebound(&s, other_binding, f.len);
					check(!hs_server_verify(&o, &a, key, sizeof key));
					if (s.has_binding) {
						o = s;
						o.has_binding = 0;
						check(!hs_server_verify(&o, &a, key, sizeof key));
					}
				}
			}
			break;
		case FRAME_AUTH_OK:
			if (client_hello_done) {
				uint32_t sid;
				int refused = -1;
				if (hs_client_on_auth_ok(&c, f.payload, f.len, key,
					sizeof key, &sid, &refused, &why) != 0) {
					check(why != NULL);
					check(refused == 0 || refused == 1);
					/* A refusal is a well-formed AUTH_OK. */
					struct msg_auth_ok ok;
					check((msg_auth_ok_decode(f.payload, f.len, &ok, &why) == 0) ==
					    (refused == 1));
				} else {
					check(refused == 0);
					struct handshake o = rebound(&c, other_binding, f.len);
					check(hs_client_on_auth_ok(&o, f.payload, f.len, key,
						  sizeof key, &sid, &refused, &why) != 0);
					check(refused == 1);
				}
			}
			break;
		default:
			break;
		}
	}
	if (server_hello_done) {
		/* What the client would answer, keyed by key, the server accepts;
		 * bound otherwise, or unbound when the server is bound, it refuses. */
		struct handshake peer = s;
		check(verdict(&peer, &s, key, sizeof key));
		struct handshake mitm = rebound(&s, other_binding, size);
		check(!verdict(&mitm, &s, key, sizeof key));
		if (s.has_binding) {
			mitm = s;
			mitm.has_binding = 0;
			check(!verdict(&mitm, &s, key, sizeof key));
		}

		/* And the server's AUTH_OK: the peer takes it, the other refuses it. */
		uint8_t reply[MSG_MAX];
		size_t rn = hs_server_auth_ok(&s, key, sizeof key, 0x01020304, reply);
		uint32_t sid = 0;
		int refused = -1;
		const char *why = NULL;
		check(hs_client_on_auth_ok(&peer, reply, rn, key, sizeof key, &sid,
			  &refused, &why) == 0);
		check(sid == 0x01020304 && refused == 0);
		mitm = rebound(&s, other_binding, size + 1);
		check(hs_client_on_auth_ok(&mitm, reply, rn, key, sizeof key, &sid,
			  &refused, &why) != 0);
		check(refused == 1);

		/* A name made of the input; the longest one. */
		char name[MSG_NAME_MAX + 1];
		name_from(data + take, size - take, name);
		check_named(&peer, &s, key, sizeof key, name);
		memset(name, 'n', MSG_NAME_MAX);
		name[MSG_NAME_MAX] = '\0';
		check_named(&peer, &s, key, sizeof key, name);
	}
	return 0;
}
