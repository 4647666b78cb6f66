#include "transport/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "transport/conn-t.h"

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->on_read != NULL)
		c->on_read(c, c->arg);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->on_write != NULL)
		c->on_write(c, c->arg);
}

int
conn_init(struct conn *c, const struct conn_ops *ops, struct event_base *base,
    int fd)
{
	c->ops = ops;
	c->fd = fd;
	if (base == NULL)
		return 0; /* unbound */
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	return c->rev != NULL && c->wev != NULL ? 0 : -1;
}

void
conn_set_cb(struct conn *c, conn_cb on_read, conn_cb on_write, void *arg)
{
	c->on_read = on_read;
	c->on_write = on_write;
	c->arg = arg;
}

void
conn_want_read(struct conn *c, int on)
{
	if (c->rev == NULL)
		return; /* unbound */
	if (on && !c->want_read)
		event_add(c->rev, NULL);
	else if (!on && c->want_read)
		event_del(c->rev);
	c->want_read = on ? 1 : 0;
}

void
conn_want_write(struct conn *c, int on)
{
	if (c->wev == NULL)
		return; /* unbound */
	if (on && !c->want_write)
		event_add(c->wev, NULL);
	else if (!on && c->want_write)
		event_del(c->wev);
	c->want_write = on ? 1 : 0;
}

ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	return c->ops->read(c, buf, len);
}

ssize_t
conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return c->ops->writev(c, iov, iovcnt);
}

ssize_t
conn_write(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};
	return c->ops->writev(c, &iov, 1);
}

int
conn_shutdown(struct conn *c)
{
	return c->ops->shutdown(c);
}

size_t
conn_buffered(const struct conn *c)
{
	return c->ops->buffered ? c->ops->buffered(c) : 0;
}

int
conn_splice_fd(const struct conn *c)
{
	return c->ops->spliceable ? c->fd : -1;
}

const char *
conn_kind(const struct conn *c)
{
	return c->ops->kind;
}

void
conn_unbind(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	c->want_read = c->want_write = 0;
	conn_set_cb(c, NULL, NULL, NULL);
}

/* Events and transport state go; the socket stays with the caller. */
static void
conn_dispose(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->ops->destroy)
		c->ops->destroy(c);
	free(c);
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	int fd = c->fd;
	conn_dispose(c);
	if (fd >= 0)
		close(fd);
}
