/* Private to src/config: the YAML walker shared by config.c and clients.c. */
#ifndef BURROW_CONFIG_T_H
#define BURROW_CONFIG_T_H

#include <yaml.h>

#include "config/config.h"

struct yctx {
	const char *path;
	yaml_document_t doc;
	char *err;
};

/* Sets y->err to "path:line: key: why"; returns -1. */
int yerr(struct yctx *y, const yaml_node_t *n, const char *key, const char *why);
/* The scalar's text, or NULL for a list or mapping. */
const char *yscalar(const yaml_node_t *n);
/* A whole decimal number; 0, or -1 if s is not one. */
int count_parse(const char *s, unsigned long *n);
/* Destination rules into *slot (freed first; "none": NULL). 0 or -1 with *why. */
int dest_set(struct dest_rules **slot, const char *v, const char **why);
/* domains: host name patterns (vhost_names_parse). */
int domains_set(struct domains *d, const char *v, const char **why);
/* The server's clients: list (clients.c). 0 or -1 with y->err. */
int yaml_clients(struct yctx *y, struct config *cfg, yaml_node_t *list);

#endif
