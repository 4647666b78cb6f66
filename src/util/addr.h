/*
 * Addresses: "host:port" text <-> parts, sockaddr -> text.
 * Functions return 0 on success, -1 on error with a static reason in *why.
 */
#ifndef BURROW_ADDR_H
#define BURROW_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_HOST_MAX 256
#define ADDR_STR_MAX (ADDR_HOST_MAX + 16)

struct hostport {
	char host[ADDR_HOST_MAX]; /* without brackets; "" means any */
	uint16_t port;
};

/*
 * Parses "host:port", "[v6]:port", "host" (when default_port >= 0) or ":port".
 */
int hostport_parse(const char *s, int default_port, struct hostport *hp,
    const char **why);
/* Parses a decimal port 0..65535. */
int port_parse(const char *s, size_t len, uint16_t *port);
/* Formats host:port with brackets around IPv6 literals. */
void hostport_format(const struct hostport *hp, char *out, size_t outlen);
/* Formats a socket address as ip:port. */
void sockaddr_format(const struct sockaddr *sa, char *out, size_t outlen);
/* Fills *ss from a numeric host (or "" = IPv4 any); -1 if host is not numeric. */
int sockaddr_from_numeric(const char *host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len);

#endif
