/*
 * libFuzzer target: the input is a YAML config file, loaded with -c for the
 * client and the server role, and as the server's SIGHUP reload of its
 * clients: list (config_load_clients). It lives in a memfd, reached by its
 * /proc/self/fd path, so nothing is written to disk. Everything is freed:
 * LeakSanitizer checks it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

/* A loaded clients: list: valid unique names, each with a credential. */
static void
check_clients(const struct config *cfg)
{
	if (cfg->nclients != 0 && cfg->clients == NULL)
		abort();
	for (size_t i = 0; i < cfg->nclients; i++) {
		const struct client_entry *e = &cfg->clients[i];
		if (!msg_name_valid(e->name))
			abort();
		if (e->token == NULL ? !e->has_fingerprint : e->token[0] == '\0')
			abort();
		if (e->max_tunnels > 1048576 || e->max_streams > 1048576)
			abort();
		if (e->has_allow_ports && (e->allow_ports.n < 1 ||
					      e->allow_ports.n > PORT_RANGES_MAX))
			abort();
		/* Names are unique: the lookup finds this very entry. */
		if (config_client_find(cfg->clients, cfg->nclients, e->name) != e)
			abort();
	}
}

static void
load(enum role role)
{
	char a0[16], a1[] = "-c", a3[] = "-s", a4[] = "relay";
	char *argv[] = {a0, a1, path, a3, a4, NULL};
	int argc = role == ROLE_CLIENT ? 5 : 3;
	struct config cfg;
	char *err = NULL;
	snprintf(a0, sizeof a0, "%s", role_name(role));
	enum config_result rc = config_load(&cfg, role, argc, argv, &err);
	if (rc == CONFIG_ERROR) {
		if (err == NULL || err[0] == '\0')
			abort();
	} else if (err != NULL) {
		abort();
	}
	if (rc == CONFIG_OK) {
		/* Only a server with clients, or a named client with a
		 * certificate, does without the shared token. */
		int tokenless = (role == ROLE_SERVER && cfg.nclients > 0) ||
		    (role == ROLE_CLIENT && cfg.name != NULL && cfg.tls_cert != NULL);
		if (cfg.token == NULL ? !tokenless : cfg.token[0] == '\0')
			abort();
		for (size_t i = 0; i < cfg.ntunnels; i++)
			if (!msg_name_valid(cfg.tunnels[i].name) ||
			    cfg.tunnels[i].local.port == 0)
				abort();
		if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL))
			abort();
		if (cfg.name != NULL && !msg_name_valid(cfg.name))
			abort();
		if (role == ROLE_CLIENT && cfg.transport != TRANSPORT_TLS &&
		    (cfg.has_fingerprint || cfg.ca != NULL || cfg.tls_cert != NULL))
			abort();
		if (role == ROLE_CLIENT && (cfg.nclients != 0 || cfg.clients != NULL))
			abort();
		check_clients(&cfg);
	}
	free(err);
	config_free(&cfg);
}

/* The SIGHUP path: the clients list alone, from the same file. */
static void
reload(void)
{
	struct config cfg;
	char *err = NULL;
	enum config_result rc = config_load_clients(&cfg, path, &err);
	if (rc == CONFIG_OK) {
		if (err != NULL || cfg.role != ROLE_SERVER)
			abort();
		check_clients(&cfg);
	} else if (rc != CONFIG_ERROR || err == NULL || err[0] == '\0') {
		abort();
	}
	free(err);
	config_free(&cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memfd < 0) {
		unsetenv("BURROW_TOKEN");
		memfd = memfd_create("burrow-fuzz-config", 0);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	load(ROLE_CLIENT);
	load(ROLE_SERVER);
	reload();
	return 0;
}
