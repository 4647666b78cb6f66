/*
 * Secret tunnels and their visitors: two clients meet at the server with
 * no public port. A client shares a target under a name (REGISTER kind
 * SECRET); another registers a visit to it (kind VISIT) and opens a stream
 * for each connection to its local port (OPEN_VISIT). The server opens a
 * stream to the sharer's tunnel and joins the two streams through a
 * socketpair: each side is an ordinary stream on an ordinary socket, with
 * its own flow control, half-close and move to a data connection. It costs
 * two descriptors and one more copy through the kernel per connection; a
 * direct stream-to-stream join in the mux would save both and is left for
 * when a benchmark says it matters.
 *
 * Names are scoped per account: a named client's name, or "" for clients of
 * the shared token. A share is visited as NAME from its own account, as
 * OWNER/NAME from another one if its visitors list names the visitor, or
 * as NAME from anywhere if its visitors are "*" (a random name: the name is
 * the secret).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server-t.h"
#include "util/gauge.h"
#include "util/log.h"

/* A visitor's stream, waiting for the sharer's answer to its OPEN. */
struct bridge {
	struct client_conn *visitor, *sharer;
	uint32_t vid, vwindow; /* the visitor's stream and its window */
	uint32_t vtid;         /* the visitor's VISIT tunnel */
	uint32_t sid;          /* the stream opened to the sharer */
	int fd;                /* the visitor's end of the socketpair */
	LIST_ENTRY(bridge) link;
};

static void
bridge_free(struct bridge *b)
{
	LIST_REMOVE(b, link);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

/*
 * A random share name (s- and 32 hex digits) is the secret that lets anyone
 * visit: server log lines show only its first 8 hex digits, "s-0123abcd...".
 * The clients still get it whole (they know it).
 */
const char *
share_redact(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *p = in; *p != '\0' && o + 1 < outlen;) {
		size_t hex = 0;
		if (p[0] == 's' && p[1] == '-' && (p == in || !isalnum((unsigned char)p[-1])))
			while (hex < 32 && isxdigit((unsigned char)p[2 + hex]))
				hex++;
		if (hex == 32 && !isalnum((unsigned char)p[34])) {
			int n = snprintf(out + o, outlen - o, "s-%.8s...", p + 2);
			o = n < 0 ? o : o + (size_t)n < outlen ? o + (size_t)n : outlen - 1;
			p += 34;
			continue;
		}
		out[o++] = *p++;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

static const char *
account(const struct client_conn *cc)
{
	return cc->name;
}

/* Is name in the comma-separated list? */
static int
list_has(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, name, len) == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static struct tunnel *
share_find(struct server *srv, const char *owner, const char *name)
{
	struct tunnel *t;
	LIST_FOREACH(t, &srv->shares, slink)
		if (strcmp(account(t->cc), owner) == 0 && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/*
 * The share a visitor means by "[owner/]name", if it may visit it: NULL
 * with *code and why otherwise.
 */
struct tunnel *
share_lookup(struct client_conn *v, const char *target, uint16_t *code,
    char *why, size_t whylen)
{
	struct server *srv = v->srv;
	char owner[MSG_NAME_MAX + 1];
	const char *slash = strchr(target, '/'), *name = target;
	struct tunnel *t = NULL;
	if (slash != NULL) {
		snprintf(owner, sizeof owner, "%.*s", (int)(slash - target), target);
		name = slash + 1;
		t = share_find(srv, owner, name);
	} else {
		t = share_find(srv, account(v), name);
		if (t == NULL) { /* a random name, shared with anyone who knows it */
			struct tunnel *s;
			LIST_FOREACH(s, &srv->shares, slink)
				if (strcmp(s->name, name) == 0 && strcmp(s->extra, "*") == 0) {
					t = s;
					break;
				}
		}
	}
	if (t == NULL) {
		*code = ERR_UNREACHABLE;
		snprintf(why, whylen, "no secret tunnel '%s' (is its client connected?)",
		    target);
		return NULL;
	}
	if (strcmp(account(t->cc), account(v)) != 0 && strcmp(t->extra, "*") != 0 &&
	    (v->name[0] == '\0' || !list_has(t->extra, v->name))) {
		/* Said as "no such" would let a stranger probe for names. */
		*code = ERR_DENIED;
		snprintf(why, whylen, "not allowed to visit '%s'", target);
		return NULL;
	}
	return t;
}

int
share_register(struct client_conn *cc, struct tunnel *t, const struct msg_register *m,
    char *text, size_t textlen, uint16_t *code)
{
	if (m->kind == TUNNEL_VISIT) {
		struct tunnel *s = share_lookup(cc, m->extra, code, text, textlen);
		if (s == NULL)
			return -1;
		if (s->udp != t->udp) {
			*code = ERR_INVALID;
			snprintf(text, textlen, "'%s' is a %s secret tunnel: visit it with "
			    "-L %s[bind_address:]port", m->extra, s->udp ? "UDP" : "TCP",
			    s->udp ? "udp:" : "");
			return -1;
		}
		snprintf(t->extra, sizeof t->extra, "%s", m->extra);
		snprintf(text, textlen, "visiting %s", m->extra);
		return 0;
	}
	if (share_find(cc->srv, account(cc), m->name) != NULL) {
		*code = ERR_IN_USE;
		snprintf(text, textlen, "secret tunnel '%s' is held by another session "
		    "of this account", m->name);
		return -1;
	}
	snprintf(t->extra, sizeof t->extra, "%s", m->extra);
	LIST_INSERT_HEAD(&cc->srv->shares, t, slink);
	t->shared = 1;
	snprintf(text, textlen, "secret tunnel %s%s%s", account(cc),
	    account(cc)[0] ? "/" : "", m->name);
	return 0;
}

void
share_unlink(struct tunnel *t)
{
	if (t->shared)
		LIST_REMOVE(t, slink);
	t->shared = 0;
}

static void
visit_refuse(struct client_conn *v, uint32_t id, uint16_t code, const char *why)
{
	char shown[MSG_TEXT_MAX + 32];
	log_limited(&v->lim_forward, LOG_INFO, "%s stream %u: visit refused: %s",
	    session_label(v->s), id, share_redact(why, shown, sizeof shown));
	session_refuse_stream(v->s, id, code, why);
}

/* OPEN_VISIT from a visitor: open a stream to the sharer, join them later. */
int
share_visit(struct client_conn *v, const struct frame *f, const struct msg_open *m)
{
	struct tunnel *vt = tunnel_by_id(v, m->tunnel_id);
	char why[MSG_TEXT_MAX];
	uint16_t code;
	if (vt == NULL || vt->kind != TUNNEL_VISIT) {
		visit_refuse(v, f->id, ERR_INVALID, "no such visit");
		return 0;
	}
	struct tunnel *t = share_lookup(v, vt->extra, &code, why, sizeof why);
	if (t == NULL) {
		visit_refuse(v, f->id, code, why);
		return 0;
	}
	if (t->udp || vt->udp) { /* a sharer reconnected with another kind */
		visit_refuse(v, f->id, ERR_INVALID, "a UDP secret tunnel takes no streams");
		return 0;
	}
	struct client_conn *sh = t->cc;
	uint32_t max = policy_max_streams(sh);
	if (session_stream_count(sh->s) >= max ||
	    session_stream_count(v->s) + v->nfwd >= policy_max_streams(v)) {
		visit_refuse(v, f->id, ERR_LIMIT, "too many streams (max_streams)");
		return 0;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(why, sizeof why, "socketpair: %s", strerror(errno));
		visit_refuse(v, f->id, ERR_INTERNAL, why);
		return 0;
	}
	struct bridge *b = calloc(1, sizeof *b);
	if (b == NULL) {
		close(sv[0]);
		close(sv[1]);
		visit_refuse(v, f->id, ERR_INTERNAL, "out of memory");
		return 0;
	}
	struct msg_open om = {.tunnel_id = t->id, .kind = OPEN_TUNNEL};
	snprintf(om.peer, sizeof om.peer, "%s", m->peer[0] ? m->peer : "visitor");
	struct stream_open o = {.fd = sv[1], .tunnel_id = t->id, .tag = TAG_BRIDGE,
	    .m = &om};
	gauge_hold(t->conns);
	b->sid = session_open(sh->s, &o);
	if (b->sid == 0) {
		gauge_drop(t->conns);
		close(sv[0]);
		close(sv[1]);
		free(b);
		visit_refuse(v, f->id, ERR_UNREACHABLE, "the sharing client's session is closing");
		return 0;
	}
	b->visitor = v;
	b->sharer = sh;
	b->vid = f->id;
	b->vwindow = m->window;
	b->vtid = vt->id;
	b->fd = sv[0];
	LIST_INSERT_HEAD(&v->srv->bridges, b, link);
	v->nfwd++;
	char shown[MSG_EXTRA_MAX + 1];
	log_info("%s stream %u: visits %s (%s stream %u)", session_label(v->s), f->id,
	    share_redact(vt->extra, shown, sizeof shown), session_label(sh->s), b->sid);
	return 0;
}

/* The sharer answered: the visitor's stream opens, or is refused with why. */
int
share_open_result(struct client_conn *sh, uint32_t sid, const struct msg_error *err)
{
	struct bridge *b;
	LIST_FOREACH(b, &sh->srv->bridges, link)
		if (b->sharer == sh && b->sid == sid)
			break;
	if (b == NULL)
		return -1; /* the visitor left: close the sharer's stream */
	struct client_conn *v = b->visitor;
	uint32_t vid = b->vid, vwindow = b->vwindow, vtid = b->vtid;
	int fd = b->fd;
	b->fd = -1;
	v->nfwd--;
	bridge_free(b);
	if (err != NULL) {
		close(fd);
		visit_refuse(v, vid, err->code, err->text);
		return 0;
	}
	/* On the visitor's VISIT tunnel: counted there (the stream's close drops
	 * it), and never moved to a data connection (server_promote). */
	struct tunnel *vt = tunnel_by_id(v, vtid);
	if (vt != NULL)
		gauge_hold(vt->conns);
	session_accept_stream(v->s, vid, fd, vt != NULL ? vtid : 0, vwindow);
	return 0;
}

/* The visitor gave up on a visit the sharer has not answered: the sharer's
 * answer will find nothing (its stream is then closed). 0, or -1 if none. */
int
share_visit_cancel(struct client_conn *v, uint32_t stream_id)
{
	struct bridge *b;
	LIST_FOREACH(b, &v->srv->bridges, link) {
		if (b->visitor == v && b->vid == stream_id) {
			v->nfwd--;
			bridge_free(b);
			return 0;
		}
	}
	return -1;
}

/* A session ends: its visitors' waiting streams are refused or dropped. */
void
share_client_gone(struct client_conn *cc)
{
	struct server *srv = cc->srv;
	struct bridge *b, *next;
	for (b = LIST_FIRST(&srv->bridges); b != NULL; b = next) {
		next = LIST_NEXT(b, link);
		if (b->visitor == cc) {
			bridge_free(b); /* the sharer's OPEN_OK finds nothing: closed */
		} else if (b->sharer == cc) {
			struct client_conn *v = b->visitor;
			uint32_t vid = b->vid;
			v->nfwd--;
			bridge_free(b);
			visit_refuse(v, vid, ERR_UNREACHABLE, "the sharing client went away");
		}
	}
}
