#include "proto/handshake.h"

#include <stdio.h>
#include <string.h>

#include "proto/auth.h"

size_t
hs_client_hello(struct handshake *h, enum hello_role role,
    const uint8_t nonce[NONCE_LEN], uint32_t conn_caps, uint8_t *buf)
{
	memset(h, 0, sizeof *h);
	h->role = (uint8_t)role;
	h->caps = PROTO_CAPS | (conn_caps & CAP_TLS); /* ours, until the reply */
	memcpy(h->client_nonce, nonce, NONCE_LEN);
	struct msg_hello m = {.version = PROTO_VERSION, .role = h->role,
	    .caps = h->caps};
	memcpy(m.nonce, nonce, NONCE_LEN);
	return msg_hello_encode(buf, &m);
}

int
hs_client_on_hello(struct handshake *h, const uint8_t *p, size_t n,
    uint16_t *version, const char **why)
{
	struct msg_hello m;
	*version = PROTO_VERSION;
	if (msg_hello_decode(p, n, &m, why) != 0)
		return -1;
	*version = m.version;
	if (m.version != PROTO_VERSION) {
		*why = "another protocol version";
		return -1;
	}
	if (m.role != h->role) {
		*why = "HELLO for another connection role";
		return -1;
	}
	memcpy(h->server_nonce, m.nonce, NONCE_LEN);
	h->peer_caps = m.caps;
	h->caps &= m.caps;
	return 0;
}

void
hs_bind(struct handshake *h, const uint8_t binding[BINDING_LEN])
{
	memcpy(h->binding, binding, BINDING_LEN);
	h->has_binding = 1;
}

static const uint8_t *
hs_binding(const struct handshake *h)
{
	return h->has_binding ? h->binding : NULL;
}

size_t
hs_client_auth(const struct handshake *h, const void *key, size_t keylen,
    uint32_t session_id, uint8_t *buf)
{
	struct msg_auth a = {.session_id = session_id};
	auth_mac_bound(AUTH_CLIENT, key, keylen, h->client_nonce, h->server_nonce,
	    hs_binding(h), a.mac);
	return msg_auth_encode(buf, &a, (enum hello_role)h->role);
}

size_t
hs_client_auth_named(const struct handshake *h, const void *key, size_t keylen,
    const char *name, uint8_t *buf)
{
	struct msg_auth a = {.session_id = 0};
	snprintf(a.name, sizeof a.name, "%s", name);
	auth_mac_bound(AUTH_CLIENT, key, keylen, h->client_nonce, h->server_nonce,
	    hs_binding(h), a.mac);
	return msg_auth_encode(buf, &a, (enum hello_role)h->role);
}

int
hs_client_on_auth_ok(const struct handshake *h, const uint8_t *p, size_t n,
    const void *key, size_t keylen, uint32_t *session_id, int *refused,
    const char **why)
{
	struct msg_auth_ok ok;
	*refused = 0;
	if (msg_auth_ok_decode(p, n, &ok, why) != 0)
		return -1;
	if (!auth_verify_bound(AUTH_SERVER, key, keylen, h->client_nonce,
		h->server_nonce, hs_binding(h), ok.mac)) {
		*refused = 1;
		*why = "the server did not prove it knows the key";
		return -1;
	}
	*session_id = ok.session_id;
	return 0;
}

int
hs_server_on_hello(struct handshake *h, const uint8_t *p, size_t n,
    const uint8_t nonce[NONCE_LEN], uint32_t conn_caps, uint8_t *buf,
    size_t *len, uint16_t *code, char *text, size_t textlen, const char **why)
{
	struct msg_hello m;
	*code = 0;
	memset(h, 0, sizeof *h);
	if (msg_hello_decode(p, n, &m, why) != 0)
		return -1;
	if (m.version != PROTO_VERSION) {
		*code = ERR_VERSION;
		snprintf(text, textlen,
		    "unsupported protocol version %u (this server speaks %u)",
		    m.version, PROTO_VERSION);
		return -1;
	}
	if (m.role > HELLO_DATA) {
		*code = ERR_VERSION;
		snprintf(text, textlen, "unknown connection role %u", m.role);
		return -1;
	}
	h->role = m.role;
	uint32_t mine = PROTO_CAPS | (conn_caps & CAP_TLS);
	h->peer_caps = m.caps;
	h->caps = m.caps & mine;
	memcpy(h->client_nonce, m.nonce, NONCE_LEN);
	memcpy(h->server_nonce, nonce, NONCE_LEN);
	struct msg_hello reply = {.version = PROTO_VERSION, .role = m.role,
	    .caps = mine};
	memcpy(reply.nonce, nonce, NONCE_LEN);
	*len = msg_hello_encode(buf, &reply);
	return 0;
}

int
hs_server_verify(const struct handshake *h, const struct msg_auth *a,
    const void *key, size_t keylen)
{
	return auth_verify_bound(AUTH_CLIENT, key, keylen, h->client_nonce,
	    h->server_nonce, hs_binding(h), a->mac);
}

size_t
hs_server_auth_ok(const struct handshake *h, const void *key, size_t keylen,
    uint32_t session_id, uint8_t *buf)
{
	struct msg_auth_ok ok = {.session_id = session_id};
	auth_mac_bound(AUTH_SERVER, key, keylen, h->client_nonce, h->server_nonce,
	    hs_binding(h), ok.mac);
	return msg_auth_ok_encode(buf, &ok);
}

void
hs_session_key(const struct handshake *h, const char *token,
    uint8_t key[MAC_LEN])
{
	auth_session_key(token, h->client_nonce, h->server_nonce, key);
}
