/* The handshake of every control-port connection: HELLO, AUTH, throttling. */
#include <stdio.h>
#include <string.h>

#include "proto/auth.h"
#include "server/server-t.h"
#include "transport/conn.h"
#include "transport/httpt.h"
#include "transport/tls.h"
#include "util/fingerprint.h"

#include <openssl/crypto.h>
#include "util/evtime.h"
#include "util/log.h"

/*
 * Session ids are random, never 0 and never one a live session holds: an id
 * tells nothing about other sessions, and naming one is useless without its
 * session key anyway.
 */
static int
server_new_session_id(struct server *srv, uint32_t *id)
{
	for (;;) {
		uint32_t r;
		if (auth_random(&r, sizeof r) != 0)
			return -1;
		if (r == 0)
			continue;
		struct client_conn *cc;
		LIST_FOREACH(cc, &srv->clients, link)
			if (cc->id == r)
				break;
		if (cc == NULL) {
			*id = r;
			return 0;
		}
	}
}

int
server_hello(struct client_conn *cc, const struct frame *f, const char **why)
{
	uint8_t nonce[NONCE_LEN], buf[MSG_MAX];
	uint16_t code;
	char text[128];
	size_t len;
	if (auth_nonce(nonce) != 0) {
		*why = "no randomness";
		return -1;
	}
	struct conn *conn = session_conn(cc->s);
	if (hs_server_on_hello(&cc->hs, f->payload, f->len, nonce,
		conn_is_tls(conn) ? CAP_TLS : 0, buf, &len, &code, text, sizeof text,
		why) != 0) {
		if (code == 0)
			return -1;
		log_warn("%s: %s", session_label(cc->s), text);
		session_send_error(cc->s, FRAME_ERROR, 0, code, text);
		session_close_after_flush(cc->s, "version mismatch");
		return 0;
	}
	if (cc->hs.caps & CAP_TLS) {
		/* Both ends of this TLS connection are ours: bind the proofs to it. */
		uint8_t b[BINDING_LEN];
		if (conn_channel_binding(conn, b) != 0) {
			*why = "no TLS channel binding";
			return -1;
		}
		hs_bind(&cc->hs, b);
	} else if (!conn_is_tls(conn) && !httpt_conn_over_tls(conn) &&
	    tls_server_required(cc->srv->tls)) {
		static const char need[] = "this server requires TLS: connect with "
					   "--transport tls (or --server tls://HOST:PORT)";
		log_limited(&cc->srv->lim_refuse, LOG_WARN, "%s: refused: plain TCP",
		    session_label(cc->s));
		session_send_error(cc->s, FRAME_ERROR, 0, ERR_DENIED, need);
		session_close_after_flush(cc->s, "TLS required");
		return 0;
	}
	cc->is_data = cc->hs.role == HELLO_DATA;
	char label[ADDR_STR_MAX + 32];
	if (cc->is_data) {
		snprintf(label, sizeof label, "data connection (%s)", cc->peer);
		session_set_label(cc->s, label);
		log_debug("%s: connected", label);
	} else {
		if (server_new_session_id(cc->srv, &cc->id) != 0) {
			*why = "no randomness";
			return -1;
		}
		snprintf(label, sizeof label, "session %u (%s)", cc->id, cc->peer);
		session_set_label(cc->s, label);
		log_limited(&cc->srv->lim_unauth, LOG_INFO, "%s: connected", label);
	}
	session_send(cc->s, FRAME_HELLO, 0, buf, len);
	cc->state = CS_AUTH;
	return 0;
}

/* Proves to the client that we know its key too: the token, or the session key. */
static void
server_send_auth_ok(struct client_conn *cc, uint32_t session_id,
    const void *key, size_t keylen)
{
	uint8_t buf[MSG_MAX];
	session_send(cc->s, FRAME_AUTH_OK, 0, buf,
	    hs_server_auth_ok(&cc->hs, key, keylen, session_id, buf));
}

/* Wrong credentials: say so, close, and count it against the source. */
static void
server_auth_failed(struct client_conn *cc, uint16_t code, const char *text)
{
	admit_failed(cc->srv->admit, &cc->src, mono_ms());
	log_limited(&cc->srv->lim_auth, LOG_WARN, "%s: authentication failed: %s",
	    session_label(cc->s), text);
	session_send_error(cc->s, FRAME_ERROR, 0, code, text);
	session_close_after_flush(cc->s, "authentication failed");
}

/* "too many failed logins from this address: retry in 1.5 s" */
void
throttle_text(uint32_t wait_ms, char *buf, size_t len)
{
	snprintf(buf, len, "too many failed logins from this address: retry in %.1f s",
	    wait_ms / 1000.0);
}

/*
 * The source failed to log in too often lately: no verdict until its
 * penalty is over. Returns 1 if the connection was refused.
 */
static int
server_throttled(struct client_conn *cc)
{
	uint32_t wait = admit_penalty(cc->srv->admit, &cc->src, mono_ms());
	if (wait == 0)
		return 0;
	char text[96];
	throttle_text(wait, text, sizeof text);
	log_limited(&cc->srv->lim_refuse, LOG_WARN, "%s: refused: %s",
	    session_label(cc->s), text);
	session_send_error(cc->s, FRAME_ERROR, 0, ERR_LIMIT, text);
	session_close_after_flush(cc->s, "too many failed logins");
	return 1;
}

/* A client whose entry pins a certificate presented that one over TLS. */
static int
client_cert_ok(struct client_conn *cc, const struct client_entry *who)
{
	uint8_t fp[FINGERPRINT_LEN];
	if (!who->has_fingerprint)
		return 1;
	return conn_peer_key(session_conn(cc->s), fp) == 0 &&
	    CRYPTO_memcmp(fp, who->fingerprint, FINGERPRINT_LEN) == 0;
}

/*
 * A data connection joins the pool of the control session it names, if its
 * proof is keyed by that session's key.
 */
static int
server_auth_data(struct client_conn *cc, const struct msg_auth *a)
{
	uint32_t sid = a->session_id;
	struct client_conn *owner;
	LIST_FOREACH(owner, &cc->srv->clients, link)
		if (owner->id == sid && sid != 0 && owner->state == CS_READY && !owner->is_data)
			break;
	if (owner == NULL) {
		server_auth_failed(cc, ERR_INVALID, "no such session");
		return 0;
	}
	if (!hs_server_verify(&cc->hs, a, owner->session_key, MAC_LEN)) {
		server_auth_failed(cc, ERR_AUTH, "wrong session key");
		return 0;
	}
	if (owner->who != NULL && !client_cert_ok(cc, owner->who)) {
		server_auth_failed(cc, ERR_AUTH, "this client's certificate is required "
						 "and was not presented or does not match");
		return 0;
	}
	if (owner->npool >= POOL_MAX) {
		session_send_error(cc->s, FRAME_ERROR, 0, ERR_INVALID,
		    "too many data connections");
		session_close_after_flush(cc->s, "data connection refused");
		return 0;
	}
	server_send_auth_ok(cc, sid, owner->session_key, MAC_LEN);
	/* AUTH_OK is a few bytes on an idle socket: flushed by the detach. */
	struct conn *c = session_detach(cc->s);
	if (c == NULL)
		return 0; /* the session closed, and on_close freed cc */
	client_conn_free(cc);
	pool_add(owner, c);
	return 0;
}

int
server_auth(struct client_conn *cc, const struct frame *f, const char **why)
{
	struct msg_auth a;
	if (msg_auth_decode(f->payload, f->len, (enum hello_role)cc->hs.role, &a,
		why) != 0)
		return -1;
	if (a.name[0] != '\0' && !(cc->hs.caps & CAP_NAMED)) {
		*why = "a name in AUTH without CAP_NAMED";
		return -1;
	}
	if (server_throttled(cc))
		return 0;
	if (cc->is_data)
		return server_auth_data(cc, &a);
	const struct client_entry *who;
	const char *no = NULL;
	const char *token = policy_auth_key(cc, a.name, &who, &no);
	if (token == NULL) {
		server_auth_failed(cc, ERR_AUTH, no);
		return 0;
	}
	/* The certificate first: a certificate-only entry's key is empty, so
	 * a client without the certificate is told what it lacks. */
	if (who != NULL && !client_cert_ok(cc, who)) {
		server_auth_failed(cc, ERR_AUTH, "this client's certificate is required "
						 "and was not presented or does not match");
		return 0;
	}
	if (!hs_server_verify(&cc->hs, &a, token, strlen(token))) {
		server_auth_failed(cc, ERR_AUTH, who == NULL ? "wrong token"
		    : who->token ? "wrong token for this client name"
				 : "this client logs in with its certificate alone: run it "
				   "without a token");
		return 0;
	}
	cc->who = who;
	snprintf(cc->name, sizeof cc->name, "%s", a.name);
	hs_session_key(&cc->hs, token, cc->session_key);
	server_send_auth_ok(cc, cc->id, token, strlen(token));
	client_conn_handshake_done(cc);
	cc->state = CS_READY;
	session_set_ready(cc->s);
	if (cc->who != NULL)
		log_info("%s: authenticated as client %s", session_label(cc->s), cc->name);
	else
		log_info("%s: authenticated", session_label(cc->s));
	return 0;
}

