/*
 * Challenge-response authentication with a shared token. The token never
 * crosses the wire: each side proves it knows the token with
 *   client: HMAC-SHA256(token, "burrow-v1 client" || server_nonce || client_nonce)
 *   server: HMAC-SHA256(token, "burrow-v1 server" || client_nonce || server_nonce)
 * Both nonces are 32 random bytes, fresh per connection.
 *
 * A data connection proves that it belongs to its control session with the
 * same two proofs keyed by that session's key instead of the token:
 *   session key: HMAC-SHA256(token, "burrow-v3 session key" || client_nonce || server_nonce)
 * over the control connection's nonces. The key never crosses the wire, so a
 * holder of the token who did not see that handshake cannot attach data
 * connections to someone else's session.
 *
 * Over TLS both proofs also cover the connection's channel binding, its
 * RFC 9266 tls-exporter value (32 bytes), appended to the message: a proof
 * made on one TLS connection is worthless on another, so a man in the
 * middle that terminates TLS cannot relay it.
 */
#ifndef BURROW_AUTH_H
#define BURROW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

enum auth_side { AUTH_CLIENT, AUTH_SERVER };

#define BINDING_LEN 32

/* Fills buf from the kernel's CSPRNG; returns 0 or -1. */
int auth_random(void *buf, size_t len);
/* Fills nonce with random bytes; returns 0 or -1 if the RNG failed. */
int auth_nonce(uint8_t nonce[NONCE_LEN]);
/* HMAC-SHA256 (RFC 2104). */
void auth_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t len, uint8_t out[MAC_LEN]);

/* The proofs keyed by a NUL-terminated token. */
void auth_mac(enum auth_side side, const char *token,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    uint8_t mac[MAC_LEN]);

/* Returns 1 if mac is side's proof for token, in constant time. */
int auth_verify(enum auth_side side, const char *token,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    const uint8_t mac[MAC_LEN]);

/* The proofs keyed by key[0..keylen) (a session key). */
void auth_mac_key(enum auth_side side, const void *key, size_t keylen,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    uint8_t mac[MAC_LEN]);
int auth_verify_key(enum auth_side side, const void *key, size_t keylen,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    const uint8_t mac[MAC_LEN]);

/* The same, bound to a TLS channel binding (NULL: unbound, as above). */
void auth_mac_bound(enum auth_side side, const void *key, size_t keylen,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    const uint8_t binding[BINDING_LEN], uint8_t mac[MAC_LEN]);
int auth_verify_bound(enum auth_side side, const void *key, size_t keylen,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    const uint8_t binding[BINDING_LEN], const uint8_t mac[MAC_LEN]);

/* The session key of a control connection, from its handshake's nonces. */
void auth_session_key(const char *token, const uint8_t client_nonce[NONCE_LEN],
    const uint8_t server_nonce[NONCE_LEN], uint8_t key[MAC_LEN]);

#endif
