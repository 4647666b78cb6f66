/*
 * The server side of a proxy request: SOCKS5 (RFC 1928, with RFC 1929
 * username/password) or HTTP (CONNECT, and absolute-form requests such as
 * GET http://host/ that a browser sends to a plain proxy), told apart by
 * the first byte: 0x05 is SOCKS5, an upper-case letter HTTP, anything else
 * (SOCKS4's 0x04, TLS's 0x16) is refused. Pure: bytes in, what to write
 * back and where to go out. The I/O is in socks/front.c.
 *
 * socks_feed consumes what it can of in (*used) and says what next:
 *   SOCKS_MORE        read more, feed again with the bytes not used
 *   SOCKS_WRITE       write out[0..out_len) (out_len may be 0), feed again
 *   SOCKS_CHECK_AUTH  check user and pass, then call socks_auth_result
 *   SOCKS_DONE        host:port is the destination; the bytes after *used
 *                     are the client's first data, never consumed
 *   SOCKS_FAIL        write out if out_len > 0, then close; why says why
 * and once DONE or FAIL it says so again without consuming anything.
 *
 * Choices beyond the RFCs. SOCKS5: a greeting with no method gets no
 * reply; an RFC 1929 user name must not be empty (RFC 1929: 1 to 255
 * bytes) but a password may be, as curl sends `user:` ; without
 * require_auth a client offering only username/password gets it and any
 * credentials pass; RSV must be 0 (REP 1); port 0 is refused with REP 1; a
 * host name that no resolver could find (empty, or with a blank, control,
 * or non-ASCII byte) is refused with REP 4, host unreachable, as the name
 * itself would be: REP 8 would say that names are not taken at all. HTTP:
 * only HTTP/1.x; bare CR, control bytes and obsolete line folding in the
 * head are refused (400), so that what we forward reads the same to the
 * origin as it did to us; a Proxy-Authorization that is not Basic
 * user:password counts as wrong credentials (407); without require_auth
 * Proxy-Authorization is ignored (and never forwarded).
 */
#ifndef BURROW_PROTO_SOCKS_H
#define BURROW_PROTO_SOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/http.h"

/* A name of up to 255 bytes, or a numeric address. */
#define SOCKS_HOST_MAX 256
/* An HTTP error response, or the longest SOCKS5 reply. */
#define SOCKS_OUT_MAX 512
/*
 * A plain HTTP request's head rewritten for the origin. The origin-form
 * target is shorter than the absolute URL by more than the Host line we
 * put back; what grows is LF-only lines ending in CRLF, and Connection:
 * close. A head that does not fit is refused (431).
 */
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
	/* Set by socks_init. SOCKS5: only method 2 (username/password) is
	 * taken; HTTP: Proxy-Authorization: Basic is needed. */
	int require_auth;

	/* Results. proto is set as soon as it is known (SOCKS5 at the first
	 * byte, HTTP with the head), host and port at DONE. */
	enum socks_proto proto;
	char host[SOCKS_HOST_MAX]; /* a name, or a numeric address without brackets */
	uint16_t port;             /* 1 to 65535 */
	int host_is_name;          /* SOCKS5 ATYP 3, or an HTTP host that is no IP literal */
	char user[256], pass[256]; /* credentials the client sent ("" if none); pass
				    * is wiped by socks_auth_result */
	uint8_t out[SOCKS_OUT_MAX]; /* to write to the client now */
	size_t out_len;
	uint8_t fwd_head[SOCKS_FWD_MAX]; /* HTTP_FORWARD: the head for the origin,
					  * to send before the client's data */
	size_t fwd_len;
	const char *why;           /* on FAIL: static, never with a secret */
	int fail_rep;              /* on FAIL: the REP out carries, 0 if it is no SOCKS5 reply */
	int fail_status;           /* on FAIL: the HTTP status out carries, 0 if none */

	/* Private. */
	int state;
	size_t scanned;   /* HTTP: bytes looked at for the head's end */
	int line_checked; /* HTTP: the request line was parsed */
};

void socks_init(struct socks_req *r, int require_auth);
enum socks_status socks_feed(struct socks_req *r, const uint8_t *in, size_t len,
    size_t *used);
/*
 * After SOCKS_CHECK_AUTH, whether user and pass are right: SOCKS_WRITE to
 * go on (out: the RFC 1929 status, or nothing for HTTP), or SOCKS_FAIL
 * (out: the RFC 1929 failure status, or a 407). Wipes pass.
 */
enum socks_status socks_auth_result(struct socks_req *r, int ok);
/*
 * The reply once the destination was tried (rep: enum socks_rep). SOCKS5:
 * VER REP RSV ATYP BND.ADDR BND.PORT (bound NULL or not IP: 0.0.0.0:0).
 * HTTP CONNECT: 200, or 403 (2), 504 (6), 502 (others), each with
 * Connection: close. HTTP forward: nothing when it opened (the origin
 * answers), else the same errors. The length written, 0 if it does not fit.
 */
size_t socks_reply(enum socks_proto proto, uint8_t rep, const struct sockaddr *bound,
    uint8_t *buf, size_t cap);

#endif
