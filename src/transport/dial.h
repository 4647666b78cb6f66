/*
 * Dialing: a TCP connection to one of the addresses a name has, tried in
 * turn, each with its own timeout. The one way the client connects: to the
 * server (control and data connections) and to a tunnel's target.
 *
 * The result always comes from the event loop, never from inside
 * dialer_start: done(fd, addr, addrlen, NULL, arg) with a connected
 * non-blocking socket that the callee owns and the address it reached, or
 * done(-1, NULL, 0, why, arg) when every address failed (why: the last
 * failure). `each`, if not NULL, hears of every address that failed on the
 * way (for a log line); it must not cancel the dialer.
 */
#ifndef BURROW_DIAL_H
#define BURROW_DIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h> /* struct evutil_addrinfo is a macro there */

#define ADDR_LIST_MAX 4

struct event_base;

/* The addresses a name resolved to, in the order to try them. */
struct addr_list {
	struct sockaddr_storage addr[ADDR_LIST_MAX];
	socklen_t len[ADDR_LIST_MAX];
	size_t n;
};

/* Keeps the first ADDR_LIST_MAX addresses of ai (NULL: none), frees ai. */
void addr_list_take(struct addr_list *l, struct evutil_addrinfo *ai);

typedef void (*dialer_done_cb)(int fd, const struct sockaddr *addr,
    socklen_t addrlen, const char *why, void *arg);
typedef void (*dialer_each_cb)(const struct sockaddr *addr, const char *why,
    void *arg);

struct dialer;

/* NULL if out of memory (no callback then). */
struct dialer *dialer_start(struct event_base *base, const struct addr_list *l,
    uint32_t timeout_ms, dialer_done_cb done, dialer_each_cb each, void *arg);
/* Stops a dial that has not reported yet; no callback follows. */
void dialer_cancel(struct dialer *d);

#endif
