/*
 * The TLS conn: SSL_read/SSL_write on a non-blocking socket, its handshake
 * driven by the conn's own events (conn_need), its output staged in one
 * record's worth of buffer so that small frames share records.
 */
#include "transport/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "transport/conn-t.h"
#include "transport/tcp.h"
#include "transport/tls-t.h"
#include "util/log.h"

/* One TLS record's payload: writes are staged up to this and sent as one. */
#define TLS_STAGE 16384
#define TLS_RECORD_TYPE_HANDSHAKE 0x16
/* Read ahead up to four records per read(2) for bulk readers. */
#define TLS_READ_BULK (64 * 1024)

enum tls_state { TS_SNIFF, TS_HANDSHAKE, TS_OPEN, TS_FAILED };

struct tls_conn {
	struct conn c;
	SSL *ssl;
	struct tls_server *ts; /* while sniffing */
	struct tls_client *tc; /* client: until the handshake is checked */
	struct tls_client *client; /* client: always */
	enum tls_state state;
	uint8_t *obuf; /* staged output, TLS_STAGE bytes while olen > 0 */
	size_t olen;
	size_t wpend; /* bytes of a record OpenSSL holds, encrypted, unsent */
	char *why; /* what went wrong, for conn_strerror */
	unsigned read_wants_write : 1, write_wants_read : 1;
	unsigned shut_pending : 1, shut_sent : 1;
	unsigned bulk : 1; /* reads ahead TLS_READ_BULK */
};

static const struct conn_ops tls_conn_ops;

static void
tls_set_why(struct tls_conn *t, const char *prefix, const char *text)
{
	free(t->why);
	t->why = NULL;
	if (asprintf(&t->why, "%s%s", prefix, text) < 0)
		t->why = NULL;
}

/* The connection is unusable: the user hears of it at its next I/O call. */
static void
tls_fail(struct tls_conn *t, const char *why)
{
	if (t->why == NULL)
		tls_set_why(t, "", why);
	t->state = TS_FAILED;
	free(t->obuf);
	t->obuf = NULL;
	t->olen = 0;
	t->wpend = 0;
	conn_need(&t->c, 0, 0);
	conn_kick(&t->c, 1, 1);
}

/*
 * The server refused our certificate (mutual TLS), with an alert that
 * arrives after our side of the handshake is done in TLS 1.3: retrying
 * will not help, the client should stop and say why.
 */
static void
tls_check_refused(struct tls_conn *t)
{
	if (t->client == NULL || !pthread_equal(pthread_self(), t->client->owner))
		return;
	switch (ERR_GET_REASON(ERR_peek_last_error())) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		tls_client_refused(t->client,
		    ERR_reason_error_string(ERR_peek_last_error()));
		break;
	default:
		break;
	}
}

/* What an SSL call's failure means: 0 retry later (needs set), -1 failed. */
static int
tls_retry(struct tls_conn *t, int rc, int *want_read, int *want_write)
{
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want_read = 1;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want_write = 1;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		tls_set_why(t, "", "closed by peer");
		return -1;
	case SSL_ERROR_SYSCALL:
		if (errno != 0) {
			tls_set_why(t, "", strerror(errno));
			return -1;
		}
		/* fall through */
	default:
		tls_check_refused(t);
		if (t->why == NULL)
			tls_set_why(t, "TLS: ", tls_errstr("connection closed"));
		return -1;
	}
}

/* ---- output ---- */

/*
 * Output goes to OpenSSL one record (at most TLS_STAGE bytes) per
 * SSL_write. Bulk bytes go straight from the caller's buffer; small writes
 * (frame headers, short frames) are staged first so they share records.
 *
 * When a record cannot leave because the socket is full, OpenSSL keeps it,
 * encrypted, and wants the same call again. Its bytes are then ours: the
 * write counts them as taken, and the retry passes only their length
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: OpenSSL does not read the buffer of
 * a retry that is exactly its pending record; zeros stand in for it).
 */
static const uint8_t tls_retry_buf[TLS_STAGE];

/* One SSL_write of n <= TLS_STAGE bytes: 0 sent, 1 pending in OpenSSL, -1 failed. */
static int
tls_push(struct tls_conn *t, const void *p, size_t n)
{
	size_t w;
	int wr = 0, ww = 0;
	ERR_clear_error();
	if (SSL_write_ex(t->ssl, p, n, &w) == 1)
		return 0;
	if (tls_retry(t, 0, &wr, &ww) != 0)
		return -1;
	t->wpend = n;
	t->write_wants_read = wr;
	conn_need(&t->c, wr, 1);
	return 1;
}

/* Sends the pending record, the staged bytes, then a pending close_notify.
 * 0 done, 1 blocked, -1 failed. */
static int
tls_flush(struct tls_conn *t)
{
	int wr = 0, ww = 0;
	if (t->wpend > 0) {
		size_t n = t->wpend;
		t->wpend = 0;
		int r = tls_push(t, tls_retry_buf, n);
		if (r != 0)
			return r;
	}
	if (t->olen > 0) {
		size_t n = t->olen;
		t->olen = 0; /* taken by OpenSSL either way, unless it failed */
		int r = tls_push(t, t->obuf, n);
		if (r != 0)
			return r;
	}
	free(t->obuf);
	t->obuf = NULL;
	if (t->shut_pending && !t->shut_sent) {
		ERR_clear_error();
		int rc = SSL_shutdown(t->ssl);
		if (rc < 0 && tls_retry(t, rc, &wr, &ww) == 0 && (wr || ww)) {
			conn_need(&t->c, wr, ww);
			return 1;
		}
		t->shut_sent = 1; /* sent, or failed: nothing more to write */
	}
	t->write_wants_read = 0;
	conn_need(&t->c, 0, t->read_wants_write);
	return 0;
}

/* Before the handshake is done: staged, up to one record. */
static size_t
tls_stage(struct tls_conn *t, const struct iovec *iov, int iovcnt)
{
	size_t taken = 0;
	if (t->obuf == NULL && (t->obuf = malloc(TLS_STAGE)) == NULL)
		return 0;
	for (int i = 0; i < iovcnt && t->olen < TLS_STAGE; i++) {
		size_t n = iov[i].iov_len;
		if (n > TLS_STAGE - t->olen)
			n = TLS_STAGE - t->olen;
		memcpy(t->obuf + t->olen, iov[i].iov_base, n);
		t->olen += n;
		taken += n;
		if (n < iov[i].iov_len)
			break;
	}
	return taken;
}

/* Bulk writes of at least this much skip the staging buffer. */
#define TLS_DIRECT_MIN 4096

static ssize_t
tls_conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *t = (struct tls_conn *)c;
	if (t->state == TS_FAILED || t->shut_pending) {
		errno = EPIPE;
		return -1;
	}
	size_t taken = 0;
	int r = 0;
	if (t->state != TS_OPEN) {
		taken = tls_stage(t, iov, iovcnt);
		goto out;
	}
	if ((r = tls_flush(t)) != 0)
		goto out;
	for (int i = 0; i < iovcnt && r == 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		while (n > 0 && r == 0) {
			size_t m;
			if (t->olen == 0 && n >= TLS_DIRECT_MIN) {
				m = n < TLS_STAGE ? n : TLS_STAGE;
				r = tls_push(t, p, m);
				if (r < 0)
					break;
			} else {
				if (t->obuf == NULL && (t->obuf = malloc(TLS_STAGE)) == NULL)
					goto out;
				m = n < TLS_STAGE - t->olen ? n : TLS_STAGE - t->olen;
				memcpy(t->obuf + t->olen, p, m);
				t->olen += m;
				if (t->olen == TLS_STAGE)
					r = tls_flush(t);
				if (r < 0)
					break;
			}
			taken += m; /* sent, or pending in OpenSSL or in obuf: ours */
			p += m;
			n -= m;
		}
	}
	if (r == 0 && t->olen > 0)
		r = tls_flush(t);
out:
	if (r < 0) {
		tls_fail(t, "write failed");
		errno = EPIPE;
		return taken > 0 ? (ssize_t)taken : -1;
	}
	if (taken == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)taken;
}

static int
tls_conn_shutdown(struct conn *c)
{
	struct tls_conn *t = (struct tls_conn *)c;
	if (t->state == TS_FAILED) {
		errno = EPIPE;
		return -1;
	}
	t->shut_pending = 1;
	if (t->state != TS_OPEN)
		return 0; /* no TLS yet: nothing staged is worth waiting for */
	int r = tls_flush(t);
	if (r < 0) {
		tls_fail(t, "write failed");
		errno = EPIPE;
		return -1;
	}
	if (r > 0) {
		/* Staged bytes or the close_notify wait for the socket: ask again
		 * on write readiness, so that no one frees us before they left. */
		errno = EAGAIN;
		return -1;
	}
	return 0;
}

/* ---- input ---- */

static ssize_t
tls_conn_read(struct conn *c, void *buf, size_t len)
{
	struct tls_conn *t = (struct tls_conn *)c;
	if (t->state != TS_OPEN) {
		errno = t->state == TS_FAILED ? EPROTO : EAGAIN;
		return -1;
	}
	if (!t->bulk && len >= TLS_READ_BULK) {
		/* A reader with room for several records (a relay, a session):
		 * read ahead as much per read(2). Handshakes and idle pooled
		 * connections keep OpenSSL's one-record buffer. */
		SSL_set_default_read_buffer_len(t->ssl, TLS_READ_BULK);
		t->bulk = 1;
	}
	size_t n;
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, buf, len, &n) == 1) {
		if (t->read_wants_write) {
			t->read_wants_write = 0;
			conn_need(c, t->write_wants_read, t->olen > 0 || t->wpend > 0);
		}
		/* Bytes decoded or read ahead inside OpenSSL: no socket event
		 * will say so. */
		if (SSL_has_pending(t->ssl))
			conn_kick(c, 1, 0);
		return (ssize_t)n;
	}
	int wr = 0, ww = 0;
	int err = SSL_get_error(t->ssl, 0);
	if (err == SSL_ERROR_ZERO_RETURN)
		return 0; /* close_notify: a clean end of the stream */
	if (tls_retry(t, 0, &wr, &ww) == 0) {
		if (ww) {
			t->read_wants_write = 1;
			conn_need(c, t->write_wants_read, 1);
		}
		errno = EAGAIN;
		return -1;
	}
	t->state = TS_FAILED;
	conn_need(c, 0, 0);
	errno = ECONNRESET;
	return -1;
}

static size_t
tls_conn_buffered(const struct conn *c)
{
	const struct tls_conn *t = (const struct tls_conn *)c;
	return t->state == TS_OPEN ? (size_t)SSL_pending(t->ssl) : 0;
}

/* ---- handshake ---- */

static void
tls_handshake(struct tls_conn *t)
{
	int wr = 0, ww = 0;
	ERR_clear_error();
	int rc = SSL_do_handshake(t->ssl);
	if (rc != 1) {
		if (tls_retry(t, rc, &wr, &ww) != 0) {
			tls_fail(t, "handshake failed");
			return;
		}
		conn_need(&t->c, wr, ww);
		return;
	}
	if (t->tc != NULL) {
		char *why = NULL;
		if (tls_client_check(t->tc, t->ssl, &why) != 0) {
			free(t->why);
			t->why = why;
			tls_fail(t, "server not trusted");
			return;
		}
		t->tc = NULL;
	}
	t->state = TS_OPEN;
	log_debug("tls: %s handshake done: %s, %s%s", t->client ? "client" : "server",
	    SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
	    SSL_session_reused(t->ssl) ? ", resumed" : "");
	if (t->olen > 0 || t->shut_pending) {
		if (tls_flush(t) < 0) {
			tls_fail(t, "write failed");
			return;
		}
	} else {
		conn_need(&t->c, 0, 0);
	}
	conn_kick(&t->c, 1, 1);
}

static void
tls_pump(struct conn *c, short what)
{
	struct tls_conn *t = (struct tls_conn *)c;
	switch (t->state) {
	case TS_HANDSHAKE:
		tls_handshake(t);
		return;
	case TS_OPEN:
		if (t->read_wants_write && (what & EV_WRITE)) {
			t->read_wants_write = 0;
			conn_kick(c, 1, 0);
		}
		if (t->olen > 0 || t->wpend > 0 || (t->shut_pending && !t->shut_sent)) {
			if (tls_flush(t) < 0)
				tls_fail(t, "write failed");
		} else {
			conn_need(c, 0, t->read_wants_write);
		}
		return;
	default:
		conn_need(c, 0, 0);
		return;
	}
}

static const char *
tls_conn_strerror(const struct conn *c)
{
	return ((const struct tls_conn *)c)->why;
}

static int
tls_conn_binding(struct conn *c, unsigned char out[32])
{
	struct tls_conn *t = (struct tls_conn *)c;
	static const char label[] = "EXPORTER-Channel-Binding";
	if (t->state != TS_OPEN)
		return -1;
	return SSL_export_keying_material(t->ssl, out, 32, label, sizeof label - 1,
		   NULL, 0, 0) == 1 ? 0 : -1;
}

static void
tls_conn_destroy(struct conn *c)
{
	struct tls_conn *t = (struct tls_conn *)c;
	if (t->ssl != NULL) {
		/* A close_notify, best effort: the peer reads a clean end. */
		if (t->state == TS_OPEN && !t->shut_sent) {
			ERR_clear_error();
			SSL_shutdown(t->ssl);
		}
		SSL_free(t->ssl);
	}
	ERR_clear_error();
	free(t->obuf);
	free(t->why);
}

static const struct conn_ops tls_conn_ops = {
    .kind = "tls",
    .read = tls_conn_read,
    .writev = tls_conn_writev,
    .shutdown = tls_conn_shutdown,
    .buffered = tls_conn_buffered,
    .spliceable = 0,
    .pump = tls_pump,
    .strerror = tls_conn_strerror,
    .binding = tls_conn_binding,
    .destroy = tls_conn_destroy,
};

static struct tls_conn *
tls_conn_alloc(struct event_base *base, int fd, const struct conn_ops *ops)
{
	struct tls_conn *t = calloc(1, sizeof *t);
	if (t == NULL || conn_init(&t->c, ops, base, fd) != 0) {
		if (t != NULL) {
			t->c.fd = -1;
			conn_free(&t->c);
		}
		close(fd);
		return NULL;
	}
	return t;
}

/* 0, or -1 (out of memory). */
static int
tls_conn_start(struct tls_conn *t, SSL_CTX *ctx, int server)
{
	t->ssl = SSL_new(ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, t->c.fd) != 1 ||
	    (!server && tls_client_prepare(t->tc, t->ssl) != 0)) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		ERR_clear_error();
		return -1;
	}
	SSL_set_app_data(t->ssl, t);
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	t->c.ops = &tls_conn_ops;
	t->state = TS_HANDSHAKE;
	return 0;
}

struct conn *
conn_tls_connect(struct event_base *base, int fd, struct tls_client *tc)
{
	struct tls_conn *t = tls_conn_alloc(base, fd, &tls_conn_ops);
	if (t == NULL)
		return NULL;
	t->tc = tc;
	t->client = tc;
	if (tls_conn_start(t, tc->ctx, 0) != 0) {
		conn_free(&t->c);
		return NULL;
	}
	conn_need(&t->c, 0, 1); /* the ClientHello goes first */
	return &t->c;
}

/*
 * Resumption: every data connection of the pool resumes the session of the
 * last one instead of a full handshake. Only sessions of connections that
 * passed tls_client_check count (in TLS 1.2 a session is made before the
 * check), and only on the client's own thread (a moved data connection
 * reads on a relay thread).
 */
int
tls_on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_conn *t = SSL_get_app_data(ssl);
	struct tls_client *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (t == NULL || tc == NULL || t->state != TS_OPEN || t->tc != NULL ||
	    !pthread_equal(pthread_self(), tc->owner))
		return 0;
	SSL_SESSION_free(tc->session);
	tc->session = sess;
	return 1; /* we keep the reference */
}

/* ---- the HTTP edge: a ClientHello read already ---- */

/*
 * A read BIO that gives the bytes read to route the connection first, then
 * the socket's (its next BIO). Writes go straight to the socket BIO.
 */
struct prefix {
	uint8_t *p;
	size_t n, off;
};

static int
prefix_read(BIO *b, char *out, int len)
{
	struct prefix *px = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (px != NULL && px->off < px->n) {
		size_t k = px->n - px->off < (size_t)len ? px->n - px->off : (size_t)len;
		memcpy(out, px->p + px->off, k);
		px->off += k;
		return (int)k;
	}
	int r = BIO_read(BIO_next(b), out, len);
	BIO_copy_next_retry(b);
	return r;
}

static int
prefix_write(BIO *b, const char *in, int len)
{
	int r = BIO_write(BIO_next(b), in, len);
	BIO_clear_retry_flags(b);
	BIO_copy_next_retry(b);
	return r;
}

static long
prefix_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct prefix *px = BIO_get_data(b);
	if (cmd == BIO_CTRL_PENDING && px != NULL && px->off < px->n)
		return (long)(px->n - px->off);
	return BIO_next(b) != NULL ? BIO_ctrl(BIO_next(b), cmd, num, ptr) : 0;
}

static int
prefix_destroy(BIO *b)
{
	struct prefix *px = BIO_get_data(b);
	if (px != NULL) {
		free(px->p);
		free(px);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *
prefix_method(void)
{
	static BIO_METHOD *m; /* made once, on the main thread */
	if (m == NULL && (m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
			      "burrow prefix")) != NULL) {
		BIO_meth_set_read(m, prefix_read);
		BIO_meth_set_write(m, prefix_write);
		BIO_meth_set_ctrl(m, prefix_ctrl);
		BIO_meth_set_destroy(m, prefix_destroy);
	}
	return m;
}

struct conn *
conn_tls_accept(struct event_base *base, int fd, SSL_CTX *ctx, const void *prefix,
    size_t n)
{
	struct tls_conn *t = tls_conn_alloc(base, fd, &tls_conn_ops);
	if (t == NULL)
		return NULL;
	struct prefix *px = calloc(1, sizeof *px);
	BIO_METHOD *m = prefix_method();
	BIO *pb = m != NULL ? BIO_new(m) : NULL;
	BIO *rs = BIO_new_socket(fd, BIO_NOCLOSE), *ws = BIO_new_socket(fd, BIO_NOCLOSE);
	if (px == NULL || pb == NULL || rs == NULL || ws == NULL ||
	    (px->p = malloc(n > 0 ? n : 1)) == NULL || tls_conn_start(t, ctx, 1) != 0) {
		if (px != NULL)
			free(px->p);
		free(px);
		BIO_free(pb);
		BIO_free(rs);
		BIO_free(ws);
		conn_free(&t->c);
		return NULL;
	}
	memcpy(px->p, prefix, n);
	px->n = n;
	BIO_set_data(pb, px);
	BIO_set_init(pb, 1);
	BIO_push(pb, rs);
	SSL_set_bio(t->ssl, pb, ws); /* the SSL owns both chains now */
	tls_handshake(t);
	return &t->c;
}

/* ---- the control port: TLS or plain, by the first byte ---- */

static void
sniff_pump(struct conn *c, short what)
{
	struct tls_conn *t = (struct tls_conn *)c;
	uint8_t b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n == 1 && b == TLS_RECORD_TYPE_HANDSHAKE) {
		SSL_CTX *ctx = tls_server_get_ctx(t->ts);
		int rc = ctx ? tls_conn_start(t, ctx, 1) : -1;
		t->ts = NULL;
		if (rc == 0)
			tls_handshake(t);
		else
			tls_fail(t, ctx ? "out of memory" : "TLS unavailable (see the log)");
		return;
	}
	/* A frame, EOF or an error: plain TCP; the user's read tells which. */
	t->c.ops = &tcp_conn_ops;
	t->ts = NULL;
	conn_need(c, 0, 0);
	conn_kick(c, 1, 1);
}

static ssize_t
sniff_read(struct conn *c, void *buf, size_t len)
{
	errno = EAGAIN;
	return -1;
}

/*
 * We write before the peer has said anything only to say goodbye (a
 * throttled source, a silent connection timing out): in plain TCP, which
 * the connection then is for good.
 */
static ssize_t
sniff_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *t = (struct tls_conn *)c;
	t->c.ops = &tcp_conn_ops;
	t->ts = NULL;
	conn_need(c, 0, 0);
	return tcp_conn_ops.writev(c, iov, iovcnt);
}

static int
sniff_shutdown(struct conn *c)
{
	return shutdown(c->fd, SHUT_WR);
}

static const struct conn_ops sniff_conn_ops = {
    .kind = "tcp",
    .read = sniff_read,
    .writev = sniff_writev,
    .shutdown = sniff_shutdown,
    .pump = sniff_pump,
    .destroy = tls_conn_destroy,
};

struct conn *
conn_accept_new(struct event_base *base, int fd, struct tls_server *ts)
{
	if (ts == NULL)
		return conn_tcp_new(base, fd);
	struct tls_conn *t = tls_conn_alloc(base, fd, &sniff_conn_ops);
	if (t == NULL)
		return NULL;
	t->ts = ts;
	t->state = TS_SNIFF;
	conn_need(&t->c, 1, 0);
	return &t->c;
}

int
conn_peer_key(struct conn *c, uint8_t fp[32])
{
	if (!conn_is_tls(c))
		return -1;
	struct tls_conn *t = (struct tls_conn *)c;
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	return cert != NULL ? tls_spki_fingerprint(cert, fp) : -1;
}

int
conn_is_tls(const struct conn *c)
{
	return c->ops == &tls_conn_ops;
}
