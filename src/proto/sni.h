/*
 * The server name (RFC 6066 section 3, server_name) of a TLS ClientHello,
 * read from the first bytes a client sends to an HTTPS port that routes
 * connections by name without terminating TLS (issue 11). Pure: no I/O,
 * and stateless: call it again with all the bytes so far after each read.
 *
 * The ClientHello may come in several handshake records (RFC 8446 5.1,
 * RFC 5246 6.2.1), each of 1 to 16384 bytes with record version 3.0 to
 * 3.4; no other record type may come between them. Every length is checked
 * against the one that encloses it and every byte as soon as it is here,
 * so that what is no ClientHello is refused from its first bytes (a plain
 * HTTP request at its first byte) and a ClientHello cut short only waits.
 *
 * Choices beyond the RFCs' letter. The ClientHello must end with its
 * record (RFC 8446 5.1 asks receivers to check this): what follows that
 * record (0-RTT data) is not looked at. Of a server_name_list the first
 * host_name counts; entries of other name types are skipped, read as
 * opaque<1..2^16-1> like host_name. A host name must be a DNS name as a
 * route could hold it: letters, digits, '-' and '.', 1 to 253 bytes, no
 * leading or trailing '.', no empty label nor one over 63 bytes (a NUL or
 * '/' is refused, not cut at); it is lower-cased, nothing is stripped. An
 * extension type seen twice is refused (RFC 8446 4.2).
 */
#ifndef BURROW_PROTO_SNI_H
#define BURROW_PROTO_SNI_H

#include <stddef.h>
#include <stdint.h>

/* The most of a ClientHello we wait for: bytes beyond it are refused. */
#define SNI_HELLO_MAX (16 * 1024 + 5)
/* Room for the longest name sni_parse returns, and its NUL. */
#define SNI_HOST_MAX 254

/* TLS alert descriptions (RFC 8446 6) we may close with. */
#define SNI_ALERT_HANDSHAKE_FAILURE 40
#define SNI_ALERT_INTERNAL_ERROR 80
#define SNI_ALERT_UNRECOGNIZED_NAME 112

enum sni_result { SNI_MORE = 1, SNI_FOUND = 0, SNI_BAD = -1 };

/*
 * p/n: the first bytes a client sent. SNI_MORE: not a whole ClientHello
 * yet (only when n < SNI_HELLO_MAX); SNI_FOUND: host holds the server name
 * (lower-cased, a valid DNS host name: letters, digits, '-', '.', 1..253
 * bytes, no trailing dot) or "" when the ClientHello has no server_name
 * extension; SNI_BAD: not a TLS ClientHello, or malformed (*why says what,
 * a static string). host is written only on SNI_FOUND; a host that cannot
 * hold the name and its NUL is SNI_BAD. why may be NULL.
 */
int sni_parse(const uint8_t *p, size_t n, char *host, size_t hostlen, const char **why);

/* sni_parse, and on SNI_FOUND whether the ClientHello's ALPN offers
 * acme-tls/1 (RFC 8737: an ACME server checking a TLS-ALPN-01 challenge)
 * in *acme_tls (may be NULL). */
int sni_parse_alpn(const uint8_t *p, size_t n, char *host, size_t hostlen,
    int *acme_tls, const char **why);

/* The 7 bytes of a fatal TLS alert record (unrecognized_name, 112, or
 * another description), to send before closing a connection we cannot route. */
size_t sni_alert(uint8_t desc, uint8_t buf[7]);

#endif
