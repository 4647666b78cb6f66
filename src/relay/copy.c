#include "relay/copy.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "transport/conn.h"

/* A TLS record is 16 KiB: a ring holds four, and a TCP read as much as a
 * multiplexed read (docs/architecture.md). */
#define COPY_RING (64 * 1024)
/*
 * Bytes one direction delivers per callback before yielding: a quarter of
 * the splice relay's, because a copied byte costs more CPU (twice through
 * user space, and a cipher on TLS), so the other relays on the thread wait
 * about as long.
 */
#define COPY_BUDGET (1024 * 1024)

struct copy_dir {
	struct copy *cp;
	struct conn *src, *dst;
	unsigned char *ring; /* NULL: none held */
	size_t head, len;    /* len bytes from head, wrapping */
	unsigned eof : 1, done : 1, again : 1;
	uint64_t bytes;
};

struct copy {
	struct copy_cache *cc;
	struct copy_dir d[2];
	struct event *again; /* pumps the directions marked again */
	copy_end_cb end;
	void *arg;
};

void
copy_cache_clear(struct copy_cache *cc)
{
	while (cc->n > 0)
		free(cc->ring[--cc->n]);
}

static int
ring_get(struct copy_cache *cc, struct copy_dir *d)
{
	d->ring = cc->n > 0 ? cc->ring[--cc->n] : malloc(COPY_RING);
	d->head = d->len = 0;
	return d->ring != NULL ? 0 : -1;
}

/* Only empty rings go back to the cache. */
static void
ring_put(struct copy_cache *cc, struct copy_dir *d)
{
	if (d->ring == NULL)
		return;
	if (d->len == 0 && cc->n < COPY_CACHE)
		cc->ring[cc->n++] = d->ring;
	else
		free(d->ring);
	d->ring = NULL;
	d->head = d->len = 0;
}

/* The bytes held, oldest first: one iovec, or two when they wrap. */
static int
ring_data(const struct copy_dir *d, struct iovec iov[2])
{
	size_t first = COPY_RING - d->head;
	iov[0].iov_base = d->ring + d->head;
	if (d->len <= first) {
		iov[0].iov_len = d->len;
		return 1;
	}
	iov[0].iov_len = first;
	iov[1].iov_base = d->ring;
	iov[1].iov_len = d->len - first;
	return 2;
}

/* The free bytes after the held ones, up to the end of the array. */
static void
ring_space(const struct copy_dir *d, unsigned char **p, size_t *n)
{
	size_t tail = d->head + d->len;
	if (tail >= COPY_RING) {
		tail -= COPY_RING;
		*n = d->head - tail;
	} else {
		*n = COPY_RING - tail;
	}
	*p = d->ring + tail;
}

/* An empty ring starts again at 0, so that reads are as long as they can be. */
static void
ring_drain(struct copy_dir *d, size_t n)
{
	d->len -= n;
	d->head = d->len == 0 ? 0 : (d->head + n) % COPY_RING;
}

/* Returns -1: the copy may be freed, touch nothing. */
static int
copy_end(struct copy *cp, const char *why)
{
	cp->end(cp->arg, why);
	return -1;
}

/*
 * Moves bytes src -> ring -> dst until src would block (or ended) and dst
 * would block (or the ring is empty), or the budget is spent; then arms
 * read interest on src only while the ring has room, write interest on dst
 * only while it holds bytes or a shutdown waits. Returns -1 if the copy
 * ended (freed).
 */
static int
dir_pump(struct copy_dir *d)
{
	struct copy *cp = d->cp;
	size_t budget = COPY_BUDGET;
	int src_blocked = 0, dst_blocked = 0;

	d->again = 0;
	if (d->done)
		return 0;
	while (budget > 0) {
		/* Fill the ring before writing: fewer, larger writes (a TLS
		 * source returns one 16 KiB record per read). */
		if (d->len > 0 && !dst_blocked &&
		    (src_blocked || d->eof || d->len == COPY_RING)) {
			struct iovec iov[2];
			int iovcnt = ring_data(d, iov);
			ssize_t n = conn_writev(d->dst, iov, iovcnt);
			if (n > 0) {
				ring_drain(d, (size_t)n);
				d->bytes += (uint64_t)n;
				budget -= (size_t)n < budget ? (size_t)n : budget;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				dst_blocked = 1;
				continue;
			}
			return copy_end(cp, n == 0 ? "write returned 0" :
			    conn_strerror(d->dst, errno));
		}
		if (d->len == 0 && d->eof) {
			/*
			 * Everything before the EOF is delivered. EAGAIN: the
			 * transport flushes first, ask again on write readiness.
			 * Other failures end only this direction, as with splice:
			 * a moved stream's FIN may have crossed the mux before
			 * the move, leaving a socket closed both ways (ENOTCONN)
			 * with bytes still to read; a broken conn shows in the
			 * other direction.
			 */
			if (conn_shutdown(d->dst) != 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
			}
			d->done = 1;
			conn_want_read(d->src, 0);
			conn_want_write(d->dst, 0);
			ring_put(cp->cc, d);
			if (cp->d[0].done && cp->d[1].done)
				return copy_end(cp, NULL);
			return 0;
		}
		if (d->eof || src_blocked || d->len == COPY_RING)
			break;
		if (d->ring == NULL && ring_get(cp->cc, d) != 0)
			return copy_end(cp, "out of memory");
		unsigned char *p;
		size_t room;
		ring_space(d, &p, &room);
		ssize_t n = conn_read(d->src, p, room);
		if (n > 0) {
			d->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			d->eof = 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			src_blocked = 1;
			continue;
		}
		return copy_end(cp, conn_strerror(d->src, errno));
	}
	if (budget == 0) {
		/* Come back on the next loop pass, without waiting for readiness:
		 * the transport may hold decoded bytes. */
		d->again = 1;
		event_active(cp->again, EV_TIMEOUT, 0);
	}
	conn_want_read(d->src, !d->eof && d->len < COPY_RING);
	conn_want_write(d->dst, d->len > 0 || d->eof);
	if (d->len == 0)
		ring_put(cp->cc, d);
	return 0;
}

/* A conn's read side belongs to the direction it is the source of, its
 * write side to the other one. */
static void
copy_on_read(struct conn *c, void *arg)
{
	struct copy *cp = arg;
	dir_pump(&cp->d[c == cp->d[0].src ? 0 : 1]);
}

static void
copy_on_write(struct conn *c, void *arg)
{
	struct copy *cp = arg;
	dir_pump(&cp->d[c == cp->d[0].dst ? 0 : 1]);
}

static void
copy_again_cb(evutil_socket_t fd, short what, void *arg)
{
	struct copy *cp = arg;
	for (int i = 0; i < 2; i++)
		if (cp->d[i].again && dir_pump(&cp->d[i]) != 0)
			return;
}

struct copy *
copy_new(struct event_base *base, struct copy_cache *cc, struct conn *a,
    struct conn *b, copy_end_cb end, void *arg)
{
	struct copy *cp = calloc(1, sizeof *cp);
	if (cp == NULL)
		return NULL;
	cp->cc = cc;
	cp->end = end;
	cp->arg = arg;
	for (int i = 0; i < 2; i++) {
		struct copy_dir *d = &cp->d[i];
		d->cp = cp;
		d->src = i == 0 ? a : b;
		d->dst = i == 0 ? b : a;
		d->again = 1; /* the first reads come from the loop */
	}
	cp->again = event_new(base, -1, 0, copy_again_cb, cp);
	if (cp->again == NULL || conn_bind(a, base) != 0 ||
	    conn_bind(b, base) != 0) {
		copy_free(cp);
		return NULL;
	}
	conn_set_cb(a, copy_on_read, copy_on_write, cp);
	conn_set_cb(b, copy_on_read, copy_on_write, cp);
	event_active(cp->again, EV_TIMEOUT, 0);
	return cp;
}

void
copy_free(struct copy *cp)
{
	for (int i = 0; i < 2; i++) {
		struct copy_dir *d = &cp->d[i];
		conn_want_read(d->src, 0);
		conn_want_write(d->src, 0);
		conn_set_cb(d->src, NULL, NULL, NULL);
		ring_put(cp->cc, d);
	}
	if (cp->again != NULL)
		event_free(cp->again);
	free(cp);
}

uint64_t
copy_bytes(const struct copy *cp, int i)
{
	return cp->d[i].bytes;
}
