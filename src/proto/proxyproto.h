/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
 * 2) that a tunnel with proxy_protocol sends to its target before any byte
 * of a user connection, so that the service sees the visitor's address.
 * Pure: no I/O.
 *
 * Only what a sender needs: TCP over IPv4 or IPv6, else "unknown" (v1
 * "PROXY UNKNOWN", v2 the LOCAL command with family UNSPEC and no
 * addresses), which receivers take as "use the connection's own address".
 * An IPv4-mapped IPv6 address (a dual-stack listener's) counts as IPv4 when
 * the other address is IPv4 too, so both ends read as TCP4.
 */
#ifndef BURROW_PROXYPROTO_H
#define BURROW_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Enough for any header proxyproto_encode writes (v1's longest is 104). */
#define PROXYPROTO_MAX 108

/*
 * Writes the header for a connection from src to dst (either may be NULL:
 * unknown) into buf. Returns its length, or 0 if version is not 1 or 2 or
 * len is too small (nothing useful is left in buf then).
 */
size_t proxyproto_encode(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *buf, size_t len);

#endif
