/*
 * HTTP/1.1 heads, read by http-parser: a request as a client sends it to the
 * control port (a WebSocket upgrade; later the http transport's requests),
 * a response as a server or an outbound proxy sends it back. Pure: bytes in,
 * fields out; the I/O is in transport/.
 *
 * http_head_parse returns 1 with the head and *head_len (its bytes; what
 * follows is the body or the upgraded stream), 0 when more bytes are
 * needed, or -1 with a static reason in *why and, for a request, the status
 * to answer in *status (400, 414, 431).
 */
#ifndef BURROW_PROTO_HTTP_H
#define BURROW_PROTO_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* A head is at most this long: more is refused (431). */
#define HTTP_HEAD_MAX 8192
#define HTTP_PATH_MAX 512
#define HTTP_HOST_MAX 256
#define HTTP_TOKEN_MAX 64
#define HTTP_REASON_MAX 64

enum http_kind { HTTP_HEAD_REQUEST, HTTP_HEAD_RESPONSE };

struct http_head {
	int method;                      /* request: http-parser's enum http_method */
	char path[HTTP_PATH_MAX];        /* request: the target's path, no query */
	char query[HTTP_PATH_MAX];       /* request: the query without '?', "" if none */
	int status;                      /* response: 100 to 999 */
	char reason[HTTP_REASON_MAX];    /* response: printable, cut to fit */
	char host[HTTP_HOST_MAX];        /* Host, "" if absent */
	char ws_key[HTTP_TOKEN_MAX];     /* Sec-WebSocket-Key, "" if absent */
	char ws_accept[HTTP_TOKEN_MAX];  /* Sec-WebSocket-Accept, "" if absent */
	int ws_version;                  /* Sec-WebSocket-Version, 0 if absent */
	unsigned upgrade_ws : 1;         /* Upgrade: websocket */
	unsigned connection_upgrade : 1; /* Connection: ... upgrade ... */
	unsigned keep_alive : 1;
	unsigned chunked : 1;            /* Transfer-Encoding: chunked */
	int64_t content_length;          /* -1 if absent */
	int http_major, http_minor;      /* the version: 1 and 1 for HTTP/1.1 */
};

int http_head_parse(const uint8_t *p, size_t n, enum http_kind kind,
    struct http_head *h, size_t *head_len, int *status, const char **why);
/*
 * The same for a request to a proxy, whose target is a whole URL or
 * CONNECT's host:port and may be longer than h->path takes: it goes whole
 * into target (NUL-terminated; 414 if it does not fit in cap). The target
 * is checked as http_head_parse checks it.
 */
int http_proxy_head_parse(const uint8_t *p, size_t n, struct http_head *h,
    char *target, size_t cap, size_t *head_len, int *status, const char **why);

/* "GET", "POST", ... for log lines. */
const char *http_method_name(int method);

/*
 * A whole plain-text response that ends the connection: status line, the
 * extra header lines (each ending in CRLF; may be ""), Content-Length, the
 * body. The length, or 0 if it does not fit in cap.
 */
size_t http_response(char *buf, size_t cap, int status, const char *reason,
    const char *extra, const char *body);

#endif
