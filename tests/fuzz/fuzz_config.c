/*
 * libFuzzer target: the input is a YAML config file, loaded with -c for the
 * client and the server role. It lives in a memfd, reached by its
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
		if (cfg.token == NULL || cfg.token[0] == '\0')
			abort();
		for (size_t i = 0; i < cfg.ntunnels; i++)
			if (!msg_name_valid(cfg.tunnels[i].name) ||
			    cfg.tunnels[i].local.port == 0)
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
	return 0;
}
