/*
 * WebSocket on a conn (the ws and wss transports): a filter over TCP or TLS
 * (conn-t.h) that frames the user's bytes as binary messages
 * (proto/ws.h) after an HTTP/1.1 upgrade, so that a burrow connection
 * passes web servers, proxies and CDNs that carry WebSockets.
 *
 * The conn's user sees a byte stream as before: reads return EAGAIN until
 * the upgrade is done, then payload; a close frame from the peer reads as
 * EOF, and conn_shutdown sends one (the transport stays open: a TCP FIN
 * would end both directions behind a proxy, a close frame ends one).
 * Pings are answered. A failed upgrade fails the conn's I/O with a reason
 * (conn_strerror): "websocket: ...".
 */
#ifndef BURROW_TRANSPORT_WS_H
#define BURROW_TRANSPORT_WS_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/*
 * Client: on a conn to the server (TCP, or TLS still in its handshake),
 * asks for the upgrade of path with this Host header. 0, or -1 if out of
 * memory or without randomness.
 */
int conn_ws_client(struct conn *c, const char *host, const char *path);

/*
 * Server: on a conn accepted on the control port. If its first byte starts
 * an HTTP request (a letter; burrow's frames start with 1 to 19), reads the
 * request and upgrades it when it asks for a WebSocket on path; answers
 * anything else with 400, 404 or 426 and fails the conn. Other first bytes
 * are given back to the reader and the conn stays as it was. 0, or -1 if
 * out of memory.
 */
struct http_head;
/* A request on path for the http transport (transport/httpt.h) is handed
 * over: the filter is gone, take(c, head, rest, rest_len, arg) owns c. */
typedef void (*ws_take_cb)(struct conn *c, const struct http_head *h,
    const uint8_t *rest, size_t rest_len, void *arg);
int conn_ws_server(struct conn *c, const char *path, ws_take_cb take, void *arg);

/* Whether c speaks WebSocket (upgraded or upgrading). */
int conn_is_ws(const struct conn *c);

#endif
