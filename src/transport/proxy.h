/*
 * Through an outbound proxy: on a socket connected to the proxy, asks it for
 * a tunnel to host:port (HTTP CONNECT or SOCKS5, proto/proxy.h) and hands
 * the socket back once the tunnel is up. The result always comes from the
 * event loop: done(fd, NULL, arg) with the socket (the callee owns it), or
 * done(-1, why, arg) with the socket closed. Credentials never reach a log
 * line or a reason.
 */
#ifndef BURROW_TRANSPORT_PROXY_H
#define BURROW_TRANSPORT_PROXY_H

#include <stdint.h>

struct config;
struct event_base;
struct proxy_dial;

typedef void (*proxy_done_cb)(int fd, const char *why, void *arg);

/* cfg names the proxy (proxy_kind, proxy_user, proxy_pass). Takes fd; NULL
 * if out of memory (fd closed, no callback). */
struct proxy_dial *proxy_dial_start(struct event_base *base, int fd,
    const struct config *cfg, const char *host, uint16_t port,
    uint32_t timeout_ms, proxy_done_cb done, void *arg);
/* Stops a dial that has not reported yet (its socket closed); no callback. */
void proxy_dial_cancel(struct proxy_dial *p);
/* "http" or "socks5", for log lines. */
const char *proxy_kind_name(int kind);

#endif
