/* The client's pool of dedicated data connections. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "client/client-t.h"
#include "config/config.h"
#include "proto/auth.h"
#include "transport/conn.h"
#include "transport/proxy.h"
#include "transport/tls.h"
#include "util/evtime.h"

void
dc_free(struct data_conn *dc)
{
	struct client *c = dc->c;
	LIST_REMOVE(dc, link);
	c->ndata--;
	if (dc->ev)
		event_free(dc->ev);
	dialer_cancel(dc->dialer);
	proxy_dial_cancel(dc->pdial);
	conn_free(dc->conn);
	free(dc);
}

static void
dc_fail(struct data_conn *dc, const char *why)
{
	struct client *c = dc->c;
	char *untrusted = c->tls ? tls_client_take_untrusted(c->tls) : NULL;
	if (untrusted != NULL)
		log_error("tls: data connection to %s: %s", c->server_str,
		    untrusted);
	else
		log_debug("data connection: %s", why);
	free(untrusted);
	dc_free(dc);
	if (c->state == C_READY && !evtimer_pending(c->timer, NULL))
		event_add_ms(c->timer, POOL_RETRY_MS);
}

/* Says once per session when the whole pool is connected and idle. */
static void
client_pool_check(struct client *c)
{
	if (c->pool_announced)
		return;
	size_t idle = 0;
	struct data_conn *dc;
	LIST_FOREACH(dc, &c->data_conns, link)
		if (dc->state == DC_IDLE)
			idle++;
	if (idle >= c->cfg->pool) {
		c->pool_announced = 1;
		log_info("session %u: %zu data connections ready", c->session_id, idle);
		/* The pool's handshakes (TLS: tens of KiB each, at once) leave
		 * the heap full of holes: give the pages back. */
		if (c->tls != NULL)
			malloc_trim(0);
	}
}

static void
dc_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	dc_fail(arg, "handshake timed out");
}

static void
dc_read_cb(struct conn *conn, void *arg)
{
	struct data_conn *dc = arg;
	struct client *c = dc->c;
	struct frame f;
	const char *why = NULL;

	for (;;) {
		int r = frame_reader_read(&dc->rd, dc->conn, &f, &why);
		if (r == 0)
			return;
		if (r < 0) {
			dc_fail(dc, why);
			return;
		}
		switch (dc->state) {
		case DC_HELLO: {
			uint16_t version;
			if (f.type != FRAME_HELLO ||
			    hs_client_on_hello(&dc->hs, f.payload, f.len, &version,
				&why) != 0) {
				dc_fail(dc, "bad HELLO");
				return;
			}
			const char *bwhy;
			if (client_bind(dc->c, dc->conn, &dc->hs, &bwhy) != 0) {
				dc_fail(dc, bwhy);
				return;
			}
			uint8_t buf[MSG_MAX];
			size_t n = hs_client_auth(&dc->hs, c->session_key, MAC_LEN,
			    c->session_id, buf);
			if (frame_write(dc->conn, FRAME_AUTH, 0, buf, n) != 0) {
				dc_fail(dc, "write AUTH");
				return;
			}
			dc->state = DC_AUTH;
			break;
		}
		case DC_AUTH: {
			uint32_t sid;
			int refused;
			if (f.type != FRAME_AUTH_OK ||
			    hs_client_on_auth_ok(&dc->hs, f.payload, f.len,
				c->session_key, MAC_LEN, &sid, &refused, &why) != 0 ||
			    sid != c->session_id) {
				dc_fail(dc, "refused");
				return;
			}
			dc->state = DC_IDLE;
			/* Idle for as long as it takes: no timeout from here on. */
			event_del(dc->ev);
			client_pool_check(c);
			break;
		}
		case DC_IDLE: {
			if (f.type != FRAME_ADOPT) {
				dc_fail(dc, "unexpected frame");
				return;
			}
			/* This one is taken: the pool opens a replacement. */
			struct conn *data = dc->conn;
			dc->conn = NULL;
			dc_free(dc);
			conn_want_read(data, 0);
			conn_set_cb(data, NULL, NULL, NULL);
			if (c->s == NULL || session_stream_adopt(c->s, f.id, data) != 0) {
				log_debug("data connection: ADOPT for unknown stream %u",
				    f.id);
				conn_free(data);
			}
			pool_fill(c);
			return;
		}
		default:
			dc_fail(dc, "unexpected state");
			return;
		}
	}
}

static void dc_tunneled(int fd, const char *why, void *arg);
static void dc_connected(struct data_conn *dc, int fd);

static void
dc_dialed(int fd, const struct sockaddr *addr, socklen_t addrlen,
    const char *why, void *arg)
{
	struct data_conn *dc = arg;
	dc->dialer = NULL;
	if (fd < 0) {
		char text[160];
		snprintf(text, sizeof text, "connect: %s", why);
		dc_fail(dc, text);
		return;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	if (dc->c->cfg->proxy_kind != PROXY_NONE) {
		dc->pdial = client_tunnel(dc->c, fd, dc_tunneled, dc);
		if (dc->pdial == NULL)
			dc_fail(dc, "out of memory");
		return;
	}
	dc_connected(dc, fd);
}

/* Through the proxy: the tunnel to the server is up, or why not. */
static void
dc_tunneled(int fd, const char *why, void *arg)
{
	struct data_conn *dc = arg;
	dc->pdial = NULL;
	if (fd < 0) {
		char text[224];
		snprintf(text, sizeof text, "proxy: %s", why);
		dc_fail(dc, text);
		return;
	}
	dc_connected(dc, fd);
}

/* A socket that reaches the server: TCP or TLS, then HELLO. */
static void
dc_connected(struct data_conn *dc, int fd)
{
	dc->conn = client_conn_new(dc->c, fd);
	dc->ev = evtimer_new(dc->c->base, dc_timeout_cb, dc);
	if (dc->conn == NULL || dc->ev == NULL) {
		dc_fail(dc, "out of memory");
		return;
	}
	uint8_t buf[MSG_MAX];
	size_t n = client_hello(&dc->hs, HELLO_DATA, dc->conn, buf);
	if (n == 0 || frame_write(dc->conn, FRAME_HELLO, 0, buf, n) != 0) {
		dc_fail(dc, "write HELLO");
		return;
	}
	dc->state = DC_HELLO;
	conn_set_cb(dc->conn, dc_read_cb, NULL, dc);
	conn_want_read(dc->conn, 1);
	event_add_ms(dc->ev, dc->c->cfg->handshake_timeout_ms);
}

/* Keeps cfg->pool data connections connecting or idle while the session is up. */
void
pool_fill(struct client *c)
{
	if (TRANSPORT_IS_HTTP(c->transport))
		return; /* every stream stays on the http transport's one conn */
	while (c->state == C_READY && c->ndata < c->cfg->pool) {
		struct data_conn *dc = calloc(1, sizeof *dc);
		if (dc == NULL)
			return;
		dc->c = c;
		dc->state = DC_CONNECTING;
		LIST_INSERT_HEAD(&c->data_conns, dc, link);
		c->ndata++;
		dc->dialer = dialer_start(c->base, &c->server_addr,
		    c->cfg->handshake_timeout_ms, dc_dialed, NULL, dc);
		if (dc->dialer == NULL) {
			dc_fail(dc, "out of memory");
			return;
		}
	}
}

