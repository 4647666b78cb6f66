/*
 * What a client says to an outbound proxy and how it reads the answer:
 * HTTP CONNECT (RFC 9110 §9.3.6, Basic credentials, RFC 7617) and SOCKS5
 * (RFC 1928, CONNECT with the destination's name so that the proxy resolves
 * it; username/password, RFC 1929). Pure functions over byte buffers; the
 * I/O is in transport/proxy.c.
 *
 * Readers return 1 with the answer, 0 when more bytes are needed, or -1
 * with a static reason in *why (a reply the proxy has no business sending).
 */
#ifndef BURROW_PROTO_PROXY_H
#define BURROW_PROTO_PROXY_H

#include <stddef.h>
#include <stdint.h>

/* An HTTP response head is at most this long: more is refused. */
#define PROXY_HEAD_MAX 8192
/* RFC 1929: a user name and a password of at most 255 bytes each. */
#define PROXY_CRED_MAX 255
/* The largest SOCKS5 message we send or read (CONNECT with a 255-byte name). */
#define SOCKS5_MSG_MAX 262

/*
 * "CONNECT host:port HTTP/1.1" with Host and, if user is not NULL,
 * Proxy-Authorization: Basic. The length, or 0 if it does not fit in cap.
 */
size_t proxy_http_request(char *buf, size_t cap, const char *host, uint16_t port,
    const char *user, const char *pass);
/*
 * The proxy's response head in p[0..n): 1 with *status and *head_len (the
 * bytes of the head; what follows already belongs to the tunnel), 0 for
 * more, -1 if malformed or longer than PROXY_HEAD_MAX. *reason (if not
 * NULL) gets the reason phrase, cut to reason_len - 1.
 */
int proxy_http_response(const uint8_t *p, size_t n, int *status, size_t *head_len,
    char *reason, size_t reason_len, const char **why);

/* "Proxy-Authorization: Basic ...\r\n" (RFC 7617); its length, or 0 if it
 * does not fit in cap. */
size_t proxy_auth_header(char *buf, size_t cap, const char *user, const char *pass);

/* SOCKS5 greeting: no authentication, and username/password if with_auth. */
size_t socks5_greeting(uint8_t *buf, int with_auth);
/* The method the server chose (0 none, 2 username/password). */
int socks5_method(const uint8_t *p, size_t n, int with_auth, int *method,
    const char **why);
/* RFC 1929 request; 0 if a credential is longer than PROXY_CRED_MAX. */
size_t socks5_auth_request(uint8_t *buf, const char *user, const char *pass);
int socks5_auth_reply(const uint8_t *p, size_t n, const char **why);
/* CONNECT to host (an IPv4 or IPv6 literal, else a name of 1-255 bytes):port. */
size_t socks5_connect_request(uint8_t *buf, const char *host, uint16_t port);
/*
 * The CONNECT reply: 1 with *len (its bytes) when it says success; -1 with
 * *why naming RFC 1928's reply code otherwise.
 */
int socks5_connect_reply(const uint8_t *p, size_t n, size_t *len, const char **why);

#endif
