/*
 * The server side of a proxy request: SOCKS5 (RFC 1928, with RFC 1929
 * username/password) or HTTP (CONNECT, and absolute-form requests such as
 * GET http://host/ that a browser sends to a plain proxy), told apart by
 * the first byte: 0x05 is SOCKS5, an upper-case letter HTTP. Pure: bytes in,
 * what to write back and where to go out. The I/O is in socks/front.c.
 *
 * socks_feed consumes what it can of in (*used) and says what next:
 * SOCKS_MORE (read more), SOCKS_WRITE (write out[0..out_len), then feed
 * again), SOCKS_CHECK_AUTH (check user and pass, then socks_auth_result),
 * SOCKS_DONE (host:port is the destination; bytes after *used are the
 * client's first data), SOCKS_FAIL (write out if any, then close; why says
 * why, never with a password).
 */
#ifndef BURROW_PROTO_SOCKS_H
#define BURROW_PROTO_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/http.h"

#define SOCKS_HOST_MAX 256
/* The rewritten head of a plain HTTP request, and room for what it adds. */
#define SOCKS_FWD_MAX (HTTP_HEAD_MAX + 64)

enum socks_proto {
	SOCKS_PROTO_NONE = 0,
	SOCKS_PROTO_SOCKS5 = 1,
	SOCKS_PROTO_HTTP_CONNECT = 2,
	SOCKS_PROTO_HTTP_FORWARD = 3,
};

enum socks_status { SOCKS_MORE, SOCKS_WRITE, SOCKS_CHECK_AUTH, SOCKS_DONE, SOCKS_FAIL };

/* SOCKS5 REP codes (RFC 1928 section 6). */
enum socks_rep {
	SOCKS_REP_OK = 0,
	SOCKS_REP_FAILURE = 1,
	SOCKS_REP_NOT_ALLOWED = 2,
	SOCKS_REP_NET_UNREACHABLE = 3,
	SOCKS_REP_HOST_UNREACHABLE = 4,
	SOCKS_REP_REFUSED = 5,
	SOCKS_REP_TTL_EXPIRED = 6,
	SOCKS_REP_COMMAND = 7,
	SOCKS_REP_ADDRESS_TYPE = 8,
};

struct socks_req {
	int require_auth;
	enum socks_proto proto;
	char host[SOCKS_HOST_MAX]; /* a name, or a numeric address without brackets */
	uint16_t port;
	int host_is_name;
	char user[256], pass[256]; /* credentials the client sent ("" if none) */
	uint8_t out[512];
	size_t out_len;
	uint8_t fwd_head[SOCKS_FWD_MAX]; /* HTTP_FORWARD: the head for the origin */
	size_t fwd_len;
	const char *why;
	int state; /* private */
};

void socks_init(struct socks_req *r, int require_auth);
enum socks_status socks_feed(struct socks_req *r, const uint8_t *in, size_t len,
    size_t *used);
/* After SOCKS_CHECK_AUTH: SOCKS_WRITE to go on, or SOCKS_FAIL. */
enum socks_status socks_auth_result(struct socks_req *r, int ok);
/*
 * The reply once the destination was tried (rep: enum socks_rep). SOCKS5:
 * VER REP RSV ATYP BND.ADDR BND.PORT (bound NULL: 0.0.0.0:0). HTTP CONNECT:
 * 200, or 403 (2), 504 (6), 502 (others). HTTP forward: nothing when it
 * opened (the origin answers), else the same errors. The length written.
 */
size_t socks_reply(enum socks_proto proto, uint8_t rep, const struct sockaddr *bound,
    uint8_t *buf, size_t cap);

#endif
