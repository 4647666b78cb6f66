/*
 * Private to the TLS transport: the contexts (tlsctx.c) and the conn that
 * runs on them (tls.c).
 */
#ifndef BURROW_TLS_T_H
#define BURROW_TLS_T_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "transport/tls.h"
#include "util/addr.h"
#include "util/fingerprint.h"

struct tls_server {
	SSL_CTX *ctx;
	const struct config *cfg;
	const char *cert_path, *key_path; /* the files in use */
	char *gen_cert, *gen_key;         /* in the state directory, when generated */
	int required;
	int ctx_failed; /* the lazy context could not be built: logged once */
};

struct tls_client {
	SSL_CTX *ctx;
	const struct config *cfg;
	char host[ADDR_HOST_MAX]; /* SNI and the host-name check */
	int host_is_ip;
	char known_key[ADDR_STR_MAX]; /* host:port in known_servers */
	char *known_path;
	SSL_SESSION *session; /* the latest, for resumption */
	pthread_t owner;      /* the thread whose handshakes may store it */
	char *untrusted; /* why the last check failed */
};

/* Server: the context, built at the first TLS client; NULL if it cannot be. */
SSL_CTX *tls_server_get_ctx(struct tls_server *ts);
/* Server: a new context from the files; NULL with *err. */
SSL_CTX *tls_server_ctx(const struct tls_server *ts, const char *cert,
    const char *key, char **err);
/* Client: the server refused our certificate, or wanted one (alert text). */
void tls_client_refused(struct tls_client *tc, const char *alert);
/* Client: SNI, host check and session for a new connection. */
int tls_client_prepare(struct tls_client *tc, SSL *ssl);
/*
 * Client: after the handshake, whether to trust the server. 0, or -1 with
 * a malloc'd message in *why (and tc->untrusted set).
 */
int tls_client_check(struct tls_client *tc, SSL *ssl, char **why);
/* Client: SSL_CTX_sess_set_new_cb's callback, keeps the latest session of
 * a checked connection of the owner thread (tls.c). */
int tls_on_new_session(SSL *ssl, SSL_SESSION *sess);
/* The SHA-256 of a certificate's SubjectPublicKeyInfo; 0 or -1. */
int tls_spki_fingerprint(X509 *cert, uint8_t fp[FINGERPRINT_LEN]);
/* OpenSSL's error queue as one line (static buffer), emptied. */
const char *tls_errstr(const char *fallback);

#endif
