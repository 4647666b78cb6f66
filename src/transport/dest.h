/*
 * Dialing a destination named by a peer: "host:port" as an OPEN carries it
 * (-L, -D, reverse SOCKS). The one module both roles use for it: parses,
 * checks the rules (config/spec.h), resolves names with evdns, keeps only
 * the addresses the rules allow, dials them in turn (transport/dial.h).
 *
 * The result always comes from the event loop: done(fd, NULL, 0, arg) with a
 * connected non-blocking socket, or done(-1, why, code, arg) with an OPEN_ERR
 * code: ERR_DENIED (the rules), ERR_UNREACHABLE (no such name, no route),
 * ERR_REFUSED, ERR_TIMEOUT, ERR_INVALID (not host:port).
 */
#ifndef BURROW_DEST_H
#define BURROW_DEST_H

#include <stdint.h>

struct dest_rules;
struct evdns_base;
struct event_base;
struct dest_dial;

typedef void (*dest_done_cb)(int fd, const char *why, uint16_t code, void *arg);

/* NULL if out of memory (no callback then). rules NULL: any destination. */
struct dest_dial *dest_dial_start(struct event_base *base, struct evdns_base *dns,
    const char *dest, const struct dest_rules *rules, uint32_t timeout_ms,
    dest_done_cb done, void *arg);
/* No callback follows. */
void dest_dial_cancel(struct dest_dial *d);

#endif
