/*
 * The http transport's messages: a burrow connection carried by plain
 * HTTP/1.1 requests, for networks that pass nothing else (a proxy that
 * allows no CONNECT, one that closes every connection after one response,
 * one that buffers whole responses). Pure: the I/O is in
 * transport/httpt_client.c and httpt_server.c.
 *
 * The client names its connection with a random id and keeps at most one
 * request of each kind in flight:
 *
 *   POST PATH?b=ID&o=OFFSET[&f=1]   body: upstream bytes from OFFSET
 *        <- 200, body: PREFIX (ack: all upstream bytes the server holds)
 *   GET  PATH?b=ID&a=ACK&m=MAX      ACK: downstream bytes the client has
 *        <- 200, body: PREFIX (offset of the data) + at most MAX bytes,
 *           at once if the server has any, else after a long poll
 *
 * A request that fails or is repeated by a proxy is sent again with the
 * same offsets: the server skips bytes it has, the client skips bytes it
 * has; nothing is lost or doubled. f=1: the client sends nothing more after
 * these bytes. PREFIX is 9 bytes: a 64-bit offset (big-endian) and flags
 * (HTTPT_F_FIN: the server's bytes end with this body; HTTPT_F_GONE: the
 * connection is gone). Bodies have a Content-Length, responses say
 * Cache-Control: no-store.
 */
#ifndef BURROW_PROTO_HTTPT_H
#define BURROW_PROTO_HTTPT_H

#include <stddef.h>
#include <stdint.h>

#define HTTPT_ID_LEN 32 /* hex of 16 random bytes */
#define HTTPT_PREFIX 9
#define HTTPT_F_FIN 0x1
#define HTTPT_F_GONE 0x2
/* The largest body either side sends or takes. */
#define HTTPT_BODY_MAX (1024 * 1024)
/* A request head we send is at most this long. */
#define HTTPT_HEAD_MAX 1024

struct httpt_query {
	char id[HTTPT_ID_LEN + 1];
	uint64_t off, ack;
	uint32_t max;
	unsigned has_off : 1, has_ack : 1, fin : 1;
};

/* A request's query: 0, or -1 if it is not one of ours (no valid id). */
int httpt_query_parse(const char *query, struct httpt_query *q);
struct http_head;
/* Whether the request h is one for the http transport on path. */
int httpt_request_is_ours(const struct http_head *h, const char *path);

/*
 * A request head. target_prefix is "" for a server, "http://host:port" for
 * a forward proxy (absolute form); host is the Host header; auth, if not
 * NULL, a whole "Proxy-Authorization: ...\r\n" line. The length, or 0 if
 * it does not fit in cap.
 */
size_t httpt_post_head(char *buf, size_t cap, const char *target_prefix,
    const char *path, const char *host, const char *auth, const char *id,
    uint64_t off, int fin, size_t body_len);
size_t httpt_get_head(char *buf, size_t cap, const char *target_prefix,
    const char *path, const char *host, const char *auth, const char *id,
    uint64_t ack, uint32_t max);
/* The server's 200 head for a body of body_len bytes (prefix included). */
size_t httpt_response_head(char *buf, size_t cap, size_t body_len, int keep_alive);

void httpt_prefix_encode(uint8_t p[HTTPT_PREFIX], uint64_t off, uint8_t flags);
void httpt_prefix_decode(const uint8_t p[HTTPT_PREFIX], uint64_t *off,
    uint8_t *flags);

#endif
