/* The server's clients: list: named clients with their own credentials and policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-t.h"
#include "util/fingerprint.h"
#include "util/secret.h"

const struct client_entry *
config_client_find(const struct client_entry *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

void
config_free_clients(struct client_entry *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		secret_free(v[i].token);
		free(v[i].forward_to);
	}
	free(v);
}

/* One key of a client's entry. */
static int
client_key(struct yctx *y, struct client_entry *e, const char *ks,
    yaml_node_t *v, const char *full)
{
	const char *vs = yscalar(v), *why = NULL;
	if (vs == NULL)
		return yerr(y, v, full, "expected a single value");
	if (strcmp(ks, "name") == 0) {
		if (!msg_name_valid(vs))
			return yerr(y, v, full, "use 1 to 64 of A-Z a-z 0-9 . _ -");
		strcpy(e->name, vs);
	} else if (strcmp(ks, "token") == 0) {
		if (*vs == '\0')
			return yerr(y, v, full, "must not be empty");
		secret_free(e->token);
		if ((e->token = secret_strdup(vs)) == NULL)
			abort();
	} else if (strcmp(ks, "fingerprint") == 0) {
		if (fingerprint_parse(vs, e->fingerprint, &why) != 0)
			return yerr(y, v, full, why);
		e->has_fingerprint = 1;
	} else if (strcmp(ks, "allow_ports") == 0) {
		if (port_ranges_parse(vs, &e->allow_ports, &why) != 0)
			return yerr(y, v, full, why);
		e->has_allow_ports = 1;
	} else if (strcmp(ks, "max_tunnels") == 0 || strcmp(ks, "max_streams") == 0) {
		/* The bounds of the server-wide options of the same names. */
		int tunnels = ks[4] == 't';
		uint32_t *f = tunnels ? &e->max_tunnels : &e->max_streams;
		unsigned long n, max = tunnels ? 65536 : 1048576;
		if (count_parse(vs, &n) != 0 || n < 1 || n > max)
			return yerr(y, v, full, tunnels ? "number out of range (1 to 65536)"
						      : "number out of range (1 to 1048576)");
		*f = (uint32_t)n;
	} else if (strcmp(ks, "forward_to") == 0) {
		if (dest_set(&e->forward_to, vs, &why) != 0)
			return yerr(y, v, full, why);
		e->has_forward_to = 1;
	} else if (strcmp(ks, "domains") == 0) {
		if (domains_set(&e->domains, vs, &why) != 0)
			return yerr(y, v, full, why);
	} else {
		return yerr(y, v, full, "unknown key (expected name, token, fingerprint, "
					"allow_ports, max_tunnels, max_streams, forward_to, "
					"domains)");
	}
	return 0;
}

static int
yaml_client(struct yctx *y, struct client_entry *e, yaml_node_t *item, size_t idx)
{
	char key[64];
	snprintf(key, sizeof key, "clients[%zu]", idx);
	if (item->type != YAML_MAPPING_NODE)
		return yerr(y, item, key, "expected a mapping with name and token");
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		const char *ks = yscalar(k);
		char full[128];
		if (ks == NULL)
			return yerr(y, k, key, "keys must be plain words");
		snprintf(full, sizeof full, "%s.%s", key, ks);
		if (client_key(y, e, ks, v, full) != 0)
			return -1;
	}
	if (e->name[0] == '\0')
		return yerr(y, item, key, "missing name");
	if (e->token == NULL && !e->has_fingerprint)
		return yerr(y, item, key, "needs a token, a fingerprint, or both");
	return 0;
}

int
yaml_clients(struct yctx *y, struct config *cfg, yaml_node_t *list)
{
	if (list->type != YAML_SEQUENCE_NODE)
		return yerr(y, list, "clients", "expected a list of clients");
	size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	struct client_entry *v = calloc(n ? n : 1, sizeof *v);
	if (v == NULL)
		abort();
	config_free_clients(cfg->clients, cfg->nclients);
	cfg->clients = v;
	cfg->nclients = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item =
		    yaml_document_get_node(&y->doc, list->data.sequence.items.start[i]);
		cfg->nclients++;
		if (yaml_client(y, &v[i], item, i) != 0)
			return -1;
		if (config_client_find(v, i, v[i].name) != NULL) {
			char key[64];
			snprintf(key, sizeof key, "clients[%zu].name", i);
			return yerr(y, item, key, "used twice");
		}
	}
	return 0;
}
