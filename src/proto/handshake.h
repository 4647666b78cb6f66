/*
 * The handshake of every connection, control session or data connection,
 * for both roles, as pure functions over decoded payloads: what to send
 * next, and whether the peer proved its key. No I/O, no clock; nonces come
 * from the caller. The server, the client's control session and its data
 * connections all run these (they used to spell the rules out three times).
 *
 *   client                                server
 *   HELLO (version, role, client nonce, caps) ->
 *                        <- HELLO (version, role, server nonce, caps)
 *   AUTH  (proof [, session id])              ->
 *                        <- AUTH_OK (proof, session id)
 *
 * A control connection's proofs are keyed by the token, a data
 * connection's by its session's key (proto/auth.h). Functions that build a
 * payload write it into buf (MSG_MAX bytes) and return its length.
 * Verdicts: 0 for yes, -1 with a static reason in *why.
 */
#ifndef BURROW_HANDSHAKE_H
#define BURROW_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/auth.h"
#include "proto/msg.h"

struct handshake {
	uint8_t role; /* enum hello_role */
	uint8_t client_nonce[NONCE_LEN];
	uint8_t server_nonce[NONCE_LEN];
	uint32_t caps; /* the capabilities both sides announced */
	uint32_t peer_caps; /* what the other side announced */
	uint8_t binding[BINDING_LEN]; /* the TLS channel binding, if has_binding */
	uint8_t has_binding;
};

/*
 * Both: the connection runs over TLS; both proofs cover its channel
 * binding (proto/auth.h). Call after the HELLOs, before AUTH.
 */
void hs_bind(struct handshake *h, const uint8_t binding[BINDING_LEN]);

/* Client: starts h; the HELLO to send. conn_caps: CAP_TLS if the
 * connection is TLS, else 0. */
size_t hs_client_hello(struct handshake *h, enum hello_role role,
    const uint8_t nonce[NONCE_LEN], uint32_t conn_caps, uint8_t *buf);
/*
 * Client: the server's HELLO. 0, or -1 with *why. *version is the server's
 * version when the HELLO decoded: another one than PROTO_VERSION means the
 * client should give up for good.
 */
int hs_client_on_hello(struct handshake *h, const uint8_t *p, size_t n,
    uint16_t *version, const char **why);
/* Client: AUTH, keyed by key; session_id goes into a data connection's AUTH. */
size_t hs_client_auth(const struct handshake *h, const void *key, size_t keylen,
    uint32_t session_id, uint8_t *buf);
/* Client: a control connection's AUTH naming the client (needs CAP_NAMED). */
size_t hs_client_auth_named(const struct handshake *h, const void *key,
    size_t keylen, const char *name, uint8_t *buf);
/*
 * Client: AUTH_OK; 0 and *session_id if the server proved key, else -1 with
 * *why. *refused is set when the AUTH_OK was well formed but its proof
 * wrong (the server does not know the key), clear when it was malformed.
 */
int hs_client_on_auth_ok(const struct handshake *h, const uint8_t *p, size_t n,
    const void *key, size_t keylen, uint32_t *session_id, int *refused,
    const char **why);

/*
 * Server: the client's HELLO. 0 with the reply in buf (*len), or -1: a
 * malformed HELLO (*why, a protocol error) if *code is 0, else an ERROR with
 * *code and text to send before closing (another version, an unknown role).
 * conn_caps as for hs_client_hello.
 */
int hs_server_on_hello(struct handshake *h, const uint8_t *p, size_t n,
    const uint8_t nonce[NONCE_LEN], uint32_t conn_caps, uint8_t *buf,
    size_t *len, uint16_t *code, char *text, size_t textlen, const char **why);
/* Server: 1 if the AUTH's proof is keyed by key, else 0 (constant time). */
int hs_server_verify(const struct handshake *h, const struct msg_auth *a,
    const void *key, size_t keylen);
/* Server: AUTH_OK, proving key, naming session_id. */
size_t hs_server_auth_ok(const struct handshake *h, const void *key,
    size_t keylen, uint32_t session_id, uint8_t *buf);

/* Both: a control session's key, from its nonces (proto/auth.h). */
void hs_session_key(const struct handshake *h, const char *token,
    uint8_t key[MAC_LEN]);

#endif
