/*
 * TLS (OpenSSL 3) for the control port and the client's connections.
 *
 * A TLS connection is a conn (transport/conn.h) like plain TCP: SSL_read and
 * SSL_write on the non-blocking socket, the handshake run by the conn's own
 * events before the first byte reaches its user. Its bytes cannot be spliced
 * (conn_splice_fd is -1), so relays copy them.
 *
 * Trust: the server has a key and certificate, generated into its state
 * directory on first start or read from files; it logs the key's
 * fingerprint (SHA-256 of the SubjectPublicKeyInfo) at every start. The
 * client trusts a pinned fingerprint, a CA file, the fingerprint it
 * recorded at first use, or the system's CAs with a host-name check; it
 * never trusts silently. docs/security.md has the reasoning.
 */
#ifndef BURROW_TLS_H
#define BURROW_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct conn;
struct event_base;
struct tls_server;
struct tls_client;

/*
 * The server's TLS context from cfg (which must outlive it). NULL on
 * failure with a malloc'd message in *err; *usage is set when a file the
 * configuration names is at fault (a usage error, exit 2).
 */
struct tls_server *tls_server_new(const struct config *cfg, char **err, int *usage);
/* SIGHUP: reads the certificate files again; on failure logs why and keeps
 * the old ones. Connections already open keep theirs. */
void tls_server_reload(struct tls_server *ts);
void tls_server_free(struct tls_server *ts);
/* Plain TCP clients are refused (require_tls, or mutual TLS). */
int tls_server_required(const struct tls_server *ts);

/*
 * A connection accepted on the control port: TLS if its first byte starts
 * a TLS handshake record (0x16), plain TCP otherwise (a frame starts with
 * its type, 1 to 19). Until that byte arrives reads return EAGAIN. ts NULL:
 * plain TCP at once. Takes fd; NULL if out of memory (fd closed).
 */
struct conn *conn_accept_new(struct event_base *base, int fd, struct tls_server *ts);

/* The client's TLS context and trust settings; NULL with *err on failure. */
struct tls_client *tls_client_new(const struct config *cfg, char **err, int *usage);
void tls_client_free(struct tls_client *tc);
/* A TLS connection to the server on a connected socket. Takes fd. */
struct conn *conn_tls_connect(struct event_base *base, int fd, struct tls_client *tc);
/*
 * Why the last connection failed, if the server could not be trusted (a
 * wrong key, a certificate that fails its check), malloc'd; else NULL.
 * Retrying will not help then. Reading clears it.
 */
char *tls_client_take_untrusted(struct tls_client *tc);
/* Whether there is such a reason, without taking it. */
int tls_client_is_untrusted(const struct tls_client *tc);

int conn_is_tls(const struct conn *c);

/*
 * The HTTP edge (the server's HTTPS port, terminated): a context for one
 * certificate chain and key, ALPN http/1.1. NULL with a malloc'd *err.
 */
typedef struct ssl_ctx_st SSL_CTX;
SSL_CTX *tls_web_ctx(const char *cert, const char *key, char **err);
/*
 * A TLS server connection on fd with ctx, whose first bytes (the
 * ClientHello, already read to route it) are prefix: OpenSSL reads them
 * first, then the socket. Takes fd; NULL if out of memory.
 */
/* The server's state directory when state_dir is not set (malloc'd). */
char *state_dir_default(void);
/* mkdir -p, each new level with mode: 0 or -1 with errno. */
int mkdirs(const char *path, mode_t mode);
struct conn *conn_tls_accept(struct event_base *base, int fd, SSL_CTX *ctx,
    const void *prefix, size_t n);
/* The SHA-256 of the peer's certificate key (mutual TLS); 0, or -1 if the
 * connection is not TLS or the peer sent no certificate. */
int conn_peer_key(struct conn *c, uint8_t fp[32]);

#endif
