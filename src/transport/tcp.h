/*
 * Plain TCP sockets: non-blocking listen and connect, socket options.
 * Functions return an fd or 0 on success, -1 with errno set on failure.
 */
#ifndef BURROW_TCP_H
#define BURROW_TCP_H

#include <sys/socket.h>

/*
 * A bound, listening, non-blocking socket with SO_REUSEADDR. The IPv6
 * wildcard [::] listens dual-stack (IPv4 too); other IPv6 addresses only IPv6.
 */
int tcp_listen(const struct sockaddr *sa, socklen_t len, int backlog);
/*
 * Starts a non-blocking connect on a non-blocking, close-on-exec socket with
 * TCP_NODELAY; *in_progress is set when EINPROGRESS.
 */
int tcp_connect_start(const struct sockaddr *sa, socklen_t len, int *in_progress);
/* After the socket is writable: 0 if connected, else -1 with errno. */
int tcp_connect_result(int fd);
/*
 * TCP_NODELAY: relayed bytes go out as they come. Accepted sockets are
 * already non-blocking and close-on-exec (evconnlistener's accept4 with
 * LEV_OPT_CLOSE_ON_EXEC), connected ones from tcp_connect_start.
 */
void tcp_nodelay(int fd);
/* Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
long tcp_raise_nofile(void);

#endif
