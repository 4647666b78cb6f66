#include "proto/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

int
auth_nonce(uint8_t nonce[NONCE_LEN])
{
	return RAND_bytes(nonce, NONCE_LEN) == 1 ? 0 : -1;
}

void
auth_mac(enum auth_side side, const char *token,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    uint8_t mac[MAC_LEN])
{
	static const char client_label[] = "burrow-v1 client";
	static const char server_label[] = "burrow-v1 server";
	uint8_t msg[sizeof client_label - 1 + 2 * NONCE_LEN];
	const char *label = side == AUTH_CLIENT ? client_label : server_label;
	const uint8_t *first = side == AUTH_CLIENT ? server_nonce : client_nonce;
	const uint8_t *second = side == AUTH_CLIENT ? client_nonce : server_nonce;
	size_t off = sizeof client_label - 1;

	memcpy(msg, label, off);
	memcpy(msg + off, first, NONCE_LEN);
	memcpy(msg + off + NONCE_LEN, second, NONCE_LEN);
	unsigned int maclen = MAC_LEN;
	HMAC(EVP_sha256(), token, (int)strlen(token), msg, sizeof msg, mac,
	    &maclen);
	OPENSSL_cleanse(msg, sizeof msg);
}

int
auth_verify(enum auth_side side, const char *token,
    const uint8_t client_nonce[NONCE_LEN], const uint8_t server_nonce[NONCE_LEN],
    const uint8_t mac[MAC_LEN])
{
	uint8_t want[MAC_LEN];
	auth_mac(side, token, client_nonce, server_nonce, want);
	int ok = CRYPTO_memcmp(want, mac, MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof want);
	return ok;
}
