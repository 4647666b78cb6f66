/*
 * The listening end of a SOCKS5 / HTTP proxy port (-D here, a reverse
 * dynamic tunnel's port on the server): reads each new connection's request
 * with the pure parser (proto/socks.h), within a time and size limit, and
 * hands the socket and its destination to the role, which opens a stream
 * to it. The role answers the client once the stream's OPEN is answered
 * (front_answer), so a refused destination gets the protocol's own error.
 */
#ifndef BURROW_FRONT_H
#define BURROW_FRONT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "util/addr.h"
#include "util/log.h"

struct event_base;
struct msg_error;
struct socks_req;
struct front;

/* How long a client may take to name its destination. */
#define FRONT_TIMEOUT_MS 10000
/* Connections of one port still in their request: a new one closes the
 * oldest. */
#define FRONT_MAX 256

/*
 * The request is read: fd (the role's from now on), the destination in r,
 * the bytes to send first (early: the rewritten head of a plain HTTP
 * request, then whatever the client sent after its request) and the
 * client's address. tag (nonzero) is what session_open and front_answer
 * take.
 */
typedef void (*front_done_cb)(int fd, const struct socks_req *r, uint8_t tag,
    const uint8_t *early, size_t early_len, const char *peer, void *arg);

/* Every connection of one listening port that is still in its request. */
struct front_set {
	struct event_base *base;
	char label[ADDR_STR_MAX + 128]; /* for log lines: "tunnel d1" */
	front_done_cb done;
	void *arg;
	size_t n;
	TAILQ_HEAD(, front) list; /* oldest first */
	struct log_limit lim;
	const char *auth; /* "user:password" the clients must give, or NULL */
};

void front_set_init(struct front_set *fs, struct event_base *base,
    const char *label, front_done_cb done, void *arg);
/* Closes every connection still in its request. */
void front_set_clear(struct front_set *fs);
/* A new connection on the port (fd taken, closed on any failure). */
void front_accept(struct front_set *fs, int fd, const char *peer);

/*
 * The stream's OPEN was answered: err NULL (opened) or why not. Writes the
 * SOCKS5 reply or HTTP response that says so. 0, or -1 if it could not be
 * written whole (the caller closes).
 */
int front_answer(uint8_t tag, int fd, const struct msg_error *err);

#endif
