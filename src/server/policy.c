/*
 * Per-client credentials and policy: the clients: list. A named client
 * logs in with its own token (and/or certificate) and gets its own ports
 * and limits; every REGISTER and every user connection is checked against
 * the entry in force, which SIGHUP may replace.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/spec.h"
#include "mux/session.h"
#include "server/server.h"
#include "server/server-t.h"
#include "util/log.h"

uint32_t
policy_max_tunnels(const struct client_conn *cc)
{
	return cc->who && cc->who->max_tunnels ? cc->who->max_tunnels
					       : cc->srv->cfg->max_tunnels;
}

uint32_t
policy_max_streams(const struct client_conn *cc)
{
	return cc->who && cc->who->max_streams ? cc->who->max_streams
					       : cc->srv->cfg->max_streams;
}

const struct dest_rules *
policy_forward_to(const struct client_conn *cc)
{
	return cc->who && cc->who->has_forward_to ? cc->who->forward_to
						  : cc->srv->cfg->forward_to;
}

int
policy_name_allowed(const struct client_conn *cc, const char *name)
{
	const struct domains *d = cc->who && cc->who->domains.set ? &cc->who->domains
								    : &cc->srv->cfg->domains;
	return !d->set || vhost_name_allowed(d->names, name);
}

int
policy_port_allowed(const struct client_conn *cc, uint16_t port)
{
	if (port == 0)
		return 1; /* any free port */
	const struct port_ranges *pr = cc->who && cc->who->has_allow_ports
	    ? &cc->who->allow_ports : &cc->srv->cfg->allow_ports;
	return port_ranges_contains(pr, port);
}

const char *
policy_auth_key(struct client_conn *cc, const char *name,
    const struct client_entry **who, const char **why)
{
	const struct server *srv = cc->srv;
	*who = NULL;
	if (name[0] == '\0') {
		if (srv->cfg->token == NULL)
			*why = "this server knows only named clients (--name)";
		return srv->cfg->token;
	}
	*who = config_client_find(srv->policy, srv->npolicy, name);
	if (*who == NULL) {
		*why = "unknown client name";
		return NULL;
	}
	/* A certificate-only client proves the name with an empty key; its
	 * certificate is what authenticates it (checked by the caller). */
	return (*who)->token ? (*who)->token : "";
}

/* The same credentials: a session made with old goes on under new. */
static int
same_credentials(const struct client_entry *old, const struct client_entry *new)
{
	if ((old->token == NULL) != (new->token == NULL))
		return 0;
	if (old->token && strcmp(old->token, new->token) != 0)
		return 0;
	if (old->has_fingerprint != new->has_fingerprint)
		return 0;
	return !old->has_fingerprint ||
	    CRYPTO_memcmp(old->fingerprint, new->fingerprint, sizeof old->fingerprint) == 0;
}

void
server_reload(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	certs_reload(srv->certs);
	if (cfg->path == NULL) {
		log_info("reload: no config file (-c), no clients list to read");
		return;
	}
	struct config nc;
	char *err = NULL;
	if (config_load_clients(&nc, cfg->path, &err) != CONFIG_OK) {
		log_error("reload refused, the clients list in force stays: %s",
		    err ? err : "out of memory");
		free(err);
		config_free(&nc);
		return;
	}
	if (nc.nclients == 0 && cfg->token == NULL) {
		log_error("reload refused, the clients list in force stays: %s: no "
			  "clients: list, and this server has no shared token (no one "
			  "could log in)", cfg->path);
		config_free(&nc);
		return;
	}
	struct client_entry *list = nc.clients;
	size_t n = nc.nclients;
	nc.clients = NULL;
	nc.nclients = 0;
	config_free(&nc);

	size_t revoked = 0;
	struct client_conn *cc, *next;
	for (cc = LIST_FIRST(&srv->clients); cc != NULL; cc = next) {
		next = LIST_NEXT(cc, link);
		if (cc->who == NULL)
			continue;
		const struct client_entry *e = config_client_find(list, n, cc->name);
		if (e != NULL && same_credentials(cc->who, e)) {
			cc->who = e;
			continue;
		}
		cc->who = NULL;
		revoked++;
		log_warn("%s: client %s revoked: disconnected", session_label(cc->s),
		    cc->name);
		session_send_error(cc->s, FRAME_GOAWAY, 0, ERR_AUTH,
		    "this client's credentials were revoked");
		session_close_after_flush(cc->s, "revoked");
	}
	config_free_clients(srv->policy_owned, srv->npolicy);
	srv->policy_owned = list;
	srv->policy = list;
	srv->npolicy = n;
	log_info("reload: %zu named clients, %zu disconnected", n, revoked);
}
