#include "transport/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "config/config.h"
#include "proto/proxy.h"
#include "util/evtime.h"

enum pstep { P_HTTP, P_METHOD, P_AUTH, P_CONNECT, P_DONE };

struct proxy_dial {
	int fd;
	enum pstep step;
	const struct config *cfg;
	char host[ADDR_HOST_MAX];
	uint16_t port;
	struct event *ev, *timer, *report;
	proxy_done_cb done;
	void *arg;
	uint8_t out[PROXY_HEAD_MAX];
	size_t out_len, out_off;
	uint8_t in[PROXY_HEAD_MAX];
	size_t in_len;
	char why[160];
};

const char *
proxy_kind_name(int kind)
{
	return kind == PROXY_SOCKS5 ? "socks5" : "http";
}

static void
proxy_free(struct proxy_dial *p)
{
	if (p->ev)
		event_free(p->ev);
	if (p->timer)
		event_free(p->timer);
	if (p->report)
		event_free(p->report);
	if (p->fd >= 0)
		close(p->fd);
	OPENSSL_cleanse(p->out, sizeof p->out); /* may hold credentials */
	free(p);
}

/* Reports from the loop: done, or failed with p->why. */
static void
proxy_report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_dial *p = arg;
	proxy_done_cb done = p->done;
	void *darg = p->arg;
	int sock = -1;
	char why[sizeof p->why];
	snprintf(why, sizeof why, "%s", p->why);
	if (p->step == P_DONE) {
		sock = p->fd;
		p->fd = -1;
	}
	proxy_free(p);
	done(sock, sock >= 0 ? NULL : why, darg);
}

static void
proxy_finish(struct proxy_dial *p, const char *why)
{
	if (why != NULL)
		snprintf(p->why, sizeof p->why, "%s", why);
	event_del(p->ev);
	event_del(p->timer);
	event_active(p->report, EV_TIMEOUT, 0);
}

static void
proxy_send(struct proxy_dial *p, size_t len)
{
	p->out_len = len;
	p->out_off = 0;
	p->in_len = 0;
}

/* The next message once the current answer is complete (n bytes of it). */
static void
proxy_advance(struct proxy_dial *p, size_t n)
{
	const struct config *cfg = p->cfg;
	if (p->in_len != n) {
		proxy_finish(p, "the proxy sent bytes before the tunnel was up");
		return;
	}
	int method = 0;
	const char *why;
	if (p->step == P_METHOD &&
	    socks5_method(p->in, p->in_len, cfg->proxy_user != NULL, &method, &why) == 1 &&
	    method == 2) {
		size_t len = socks5_auth_request(p->out, cfg->proxy_user, cfg->proxy_pass);
		if (len == 0) {
			proxy_finish(p, "SOCKS5: user name or password too long");
			return;
		}
		p->step = P_AUTH;
		proxy_send(p, len);
	} else if (p->step == P_METHOD || p->step == P_AUTH) {
		size_t len = socks5_connect_request(p->out, p->host, p->port);
		if (len == 0) {
			proxy_finish(p, "SOCKS5: the server's name is too long");
			return;
		}
		p->step = P_CONNECT;
		proxy_send(p, len);
	} else {
		p->step = P_DONE;
		proxy_finish(p, NULL);
	}
}

/* Reads what the proxy said: 1 complete, 0 wait, -1 failed (finished). */
static int
proxy_read(struct proxy_dial *p)
{
	ssize_t n = read(p->fd, p->in + p->in_len, sizeof p->in - p->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		proxy_finish(p, n == 0 ? "closed by the proxy" : strerror(errno));
		return -1;
	}
	p->in_len += (size_t)n;
	const char *why = NULL;
	size_t used = 0;
	int rc, method;
	char reason[64], text[128];
	switch (p->step) {
	case P_HTTP: {
		int status;
		rc = proxy_http_response(p->in, p->in_len, &status, &used, reason,
		    sizeof reason, &why);
		if (rc == 1 && (status < 200 || status > 299)) {
			snprintf(text, sizeof text, "HTTP %d %s", status, reason);
			proxy_finish(p, text);
			return -1;
		}
		break;
	}
	case P_METHOD:
		rc = socks5_method(p->in, p->in_len, p->cfg->proxy_user != NULL, &method,
		    &why);
		used = 2;
		break;
	case P_AUTH:
		rc = socks5_auth_reply(p->in, p->in_len, &why);
		used = 2;
		break;
	default:
		rc = socks5_connect_reply(p->in, p->in_len, &used, &why);
		break;
	}
	if (rc < 0) {
		snprintf(text, sizeof text, "%s%s", p->step == P_HTTP ? "" : "SOCKS5: ", why);
		proxy_finish(p, text);
		return -1;
	}
	if (rc == 0)
		return 0;
	proxy_advance(p, used);
	return 1;
}

static void
proxy_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_dial *p = arg;
	while (p->out_off < p->out_len) {
		ssize_t n = write(p->fd, p->out + p->out_off, p->out_len - p->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* EV_WRITE comes again */
		if (n < 0) {
			proxy_finish(p, strerror(errno));
			return;
		}
		p->out_off += (size_t)n;
	}
	if (!(what & EV_READ)) {
		/* Sent: wait for the answer only. */
		event_del(p->ev);
		event_assign(p->ev, event_get_base(p->ev), p->fd, EV_READ | EV_PERSIST,
		    proxy_io_cb, p);
		event_add(p->ev, NULL);
		return;
	}
	int rc = proxy_read(p);
	if (rc == 1 && p->step != P_DONE) {
		/* The next message: send it first. */
		event_del(p->ev);
		event_assign(p->ev, event_get_base(p->ev), p->fd, EV_WRITE | EV_PERSIST,
		    proxy_io_cb, p);
		event_add(p->ev, NULL);
	}
}

static void
proxy_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	proxy_finish(arg, "no answer from the proxy");
}

struct proxy_dial *
proxy_dial_start(struct event_base *base, int fd, const struct config *cfg,
    const char *host, uint16_t port, uint32_t timeout_ms, proxy_done_cb done,
    void *arg)
{
	struct proxy_dial *p = calloc(1, sizeof *p);
	if (p == NULL) {
		close(fd);
		return NULL;
	}
	p->fd = fd;
	p->cfg = cfg;
	p->done = done;
	p->arg = arg;
	p->port = port;
	snprintf(p->host, sizeof p->host, "%s", host);
	p->ev = event_new(base, fd, EV_WRITE | EV_PERSIST, proxy_io_cb, p);
	p->timer = evtimer_new(base, proxy_timeout_cb, p);
	p->report = event_new(base, -1, 0, proxy_report_cb, p);
	if (p->ev == NULL || p->timer == NULL || p->report == NULL) {
		proxy_free(p);
		return NULL;
	}
	size_t len;
	if (cfg->proxy_kind == PROXY_HTTP) {
		p->step = P_HTTP;
		len = proxy_http_request((char *)p->out, sizeof p->out, host, port,
		    cfg->proxy_user, cfg->proxy_pass);
	} else {
		p->step = P_METHOD;
		len = socks5_greeting(p->out, cfg->proxy_user != NULL);
	}
	proxy_send(p, len);
	if (len == 0) {
		proxy_finish(p, "request too long");
		return p;
	}
	event_add(p->ev, NULL);
	event_add_ms(p->timer, timeout_ms);
	return p;
}

void
proxy_dial_cancel(struct proxy_dial *p)
{
	if (p != NULL)
		proxy_free(p);
}
