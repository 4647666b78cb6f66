#include "transport/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "transport/conn-t.h"

/* Arms each event for the readiness the user or the transport waits for. */
static void
conn_arm(struct conn *c)
{
	if (c->rev == NULL)
		return; /* unbound */
	unsigned r = c->want_read | c->need_read | c->fneed_read;
	unsigned w = c->want_write | c->need_write | c->fneed_write;
	if (c->fd < 0) {
		/* Virtual (transport/httpt.h): no socket to wait on. A new wish is
		 * tried once from the loop; then the transport kicks. */
		if (r && !c->armed_read)
			event_active(c->rev, EV_READ, 0);
		if (w && !c->armed_write)
			event_active(c->wev, EV_WRITE, 0);
		c->armed_read = r;
		c->armed_write = w;
		return;
	}
	if (r != c->armed_read) {
		if (r)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
		c->armed_read = r;
	}
	if (w != c->armed_write) {
		if (w)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
		c->armed_write = w;
	}
}

/* The user's callback comes last: it may free the conn. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->need_read && c->ops->pump != NULL)
		c->ops->pump(c, EV_READ);
	if (c->fneed_read && c->fops != NULL && c->fops->pump != NULL)
		c->fops->pump(c, EV_READ);
	if (c->want_read && c->on_read != NULL)
		c->on_read(c, c->arg);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->need_write && c->ops->pump != NULL)
		c->ops->pump(c, EV_WRITE);
	if (c->fneed_write && c->fops != NULL && c->fops->pump != NULL)
		c->fops->pump(c, EV_WRITE);
	if (c->want_write && c->on_write != NULL)
		c->on_write(c, c->arg);
}

int
conn_bind(struct conn *c, struct event_base *base)
{
	c->rev = event_new(base, c->fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(base, c->fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		return -1;
	conn_arm(c);
	return 0;
}

int
conn_init(struct conn *c, const struct conn_ops *ops, struct event_base *base,
    int fd)
{
	c->ops = ops;
	c->fd = fd;
	if (base == NULL)
		return 0; /* unbound */
	return conn_bind(c, base);
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
	int was = c->want_read;
	c->want_read = on ? 1 : 0;
	conn_arm(c);
	/* Bytes the transport holds decoded (a TLS record read in part): no
	 * socket event will announce them, and a kick queued while reads were
	 * off went with event_del. */
	if (on && !was && conn_buffered(c) > 0)
		conn_kick(c, 1, 0);
}

void
conn_want_write(struct conn *c, int on)
{
	c->want_write = on ? 1 : 0;
	conn_arm(c);
}

void
conn_need(struct conn *c, int read, int write)
{
	c->need_read = read ? 1 : 0;
	c->need_write = write ? 1 : 0;
	conn_arm(c);
}

void
conn_kick(struct conn *c, int read, int write)
{
	if (c->rev == NULL)
		return;
	if (read && (c->want_read || c->fneed_read))
		event_active(c->rev, EV_READ, 0);
	if (write && (c->want_write || c->fneed_write))
		event_active(c->wev, EV_WRITE, 0);
}

void
conn_filter_set(struct conn *c, const struct conn_ops *fops, void *state)
{
	c->fops = fops;
	c->filter = state;
}

void
conn_filter_clear(struct conn *c)
{
	c->fops = NULL;
	c->filter = NULL;
	conn_filter_need(c, 0, 0);
}

void
conn_filter_need(struct conn *c, int read, int write)
{
	c->fneed_read = read ? 1 : 0;
	c->fneed_write = write ? 1 : 0;
	conn_arm(c);
}

ssize_t
conn_raw_read(struct conn *c, void *buf, size_t len)
{
	return c->ops->read(c, buf, len);
}

ssize_t
conn_raw_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return c->ops->writev(c, iov, iovcnt);
}

int
conn_raw_shutdown(struct conn *c)
{
	return c->ops->shutdown(c);
}

size_t
conn_raw_buffered(const struct conn *c)
{
	return c->ops->buffered ? c->ops->buffered(c) : 0;
}

const char *
conn_raw_strerror(const struct conn *c, int err)
{
	const char *s = c->ops->strerror ? c->ops->strerror(c) : NULL;
	return s != NULL ? s : strerror(err);
}

/* The layer the user talks to. */
static const struct conn_ops *
conn_top(const struct conn *c)
{
	return c->fops != NULL ? c->fops : c->ops;
}

ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	return conn_top(c)->read(c, buf, len);
}

ssize_t
conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return conn_top(c)->writev(c, iov, iovcnt);
}

ssize_t
conn_write(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};
	return conn_top(c)->writev(c, &iov, 1);
}

int
conn_shutdown(struct conn *c)
{
	return conn_top(c)->shutdown(c);
}

size_t
conn_buffered(const struct conn *c)
{
	const struct conn_ops *o = conn_top(c);
	return o->buffered ? o->buffered(c) : 0;
}

int
conn_splice_fd(const struct conn *c)
{
	return c->fops == NULL && c->ops->spliceable ? c->fd : -1;
}

const char *
conn_kind(const struct conn *c)
{
	return conn_top(c)->kind;
}

const char *
conn_strerror(const struct conn *c, int err)
{
	const char *s = c->fops && c->fops->strerror ? c->fops->strerror(c) : NULL;
	return s != NULL ? s : conn_raw_strerror(c, err);
}

int
conn_channel_binding(struct conn *c, unsigned char out[32])
{
	return c->ops->binding ? c->ops->binding(c, out) : -1;
}

void
conn_unbind(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	c->armed_read = c->armed_write = 0;
	c->want_read = c->want_write = 0; /* need_* stay: conn_bind re-arms them */
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
	c->rev = c->wev = NULL; /* the layers' last words arm nothing */
	if (c->fops && c->fops->destroy)
		c->fops->destroy(c); /* may still write through the transport */
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
