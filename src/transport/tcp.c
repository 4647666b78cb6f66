#include "transport/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "transport/conn-t.h"

void
tcp_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int
tcp_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->sa_family == AF_INET6) {
		/* The IPv6 wildcard takes IPv4 too, so no one else can take the
		 * other half of the port; any other IPv6 address is IPv6 only. */
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		int v6only = !IN6_IS_ADDR_UNSPECIFIED(a);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	}
	if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
tcp_connect_start(const struct sockaddr *sa, socklen_t len, int *in_progress)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	tcp_nodelay(fd);
	*in_progress = 0;
	if (connect(fd, sa, len) != 0) {
		if (errno != EINPROGRESS) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		*in_progress = 1;
	}
	return fd;
}

int
tcp_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

long
tcp_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

/* ---- plain TCP as a conn ---- */

static ssize_t
tcp_conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(c->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t
tcp_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	ssize_t n;
	do
		n = writev(c->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
tcp_conn_shutdown(struct conn *c)
{
	return shutdown(c->fd, SHUT_WR);
}

const struct conn_ops tcp_conn_ops = {
    .kind = "tcp",
    .read = tcp_conn_read,
    .writev = tcp_conn_writev,
    .shutdown = tcp_conn_shutdown,
    .spliceable = 1,
};

struct conn *
conn_tcp_new(struct event_base *base, int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL || conn_init(c, &tcp_conn_ops, base, fd) != 0) {
		if (c != NULL) {
			c->fd = -1;
			conn_free(c);
		}
		close(fd);
		return NULL;
	}
	return c;
}
