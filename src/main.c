/* burrow: subcommand dispatch, signals, and the event loop's life. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "client/client.h"
#include "config/config.h"
#include "server/server.h"
#include "transport/tcp.h"
#include "util/log.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "burrow %s: reverse tunnels through a relay\n\n"
	    "usage:\n"
	    "  burrow server [-c FILE] [-l ADDR:PORT] [options]   run the public relay\n"
	    "  burrow client [-c FILE] -s HOST[:PORT] -R SPEC...  run the inside agent\n"
	    "  burrow help | --help | -h                          this text\n"
	    "  burrow --version                                   the version\n\n"
	    "  burrow server --help, burrow client --help list every option.\n\n"
	    "example:\n"
	    "  export BURROW_TOKEN=$(openssl rand -hex 16)\n"
	    "  burrow server --gateway-ports yes               # on the public host\n"
	    "  burrow client -s relay.example.com -R 2222:127.0.0.1:22\n"
	    "  ssh -p 2222 relay.example.com                   # reaches the inside sshd\n",
	    BURROW_VERSION);
}

struct running {
	enum role role;
	struct event_base *base;
	struct server *srv;
	struct client *cli;
};

static void
role_shutdown(struct running *r)
{
	if (r->srv)
		server_shutdown(r->srv);
	if (r->cli)
		client_shutdown(r->cli);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct running *r = arg;
	log_info("signal %d: shutting down", (int)sig);
	role_shutdown(r);
	event_base_loopexit(r->base, NULL);
}

static int
run(struct config *cfg)
{
	struct event_base *base = event_base_new();
	if (base == NULL) {
		log_error("cannot create the event loop");
		return 1;
	}
	struct running r = {.role = cfg->role, .base = base};
	int rc = 0;
	if (cfg->role == ROLE_SERVER) {
		r.srv = server_new(base, cfg);
		if (r.srv == NULL)
			rc = 1;
	} else {
		r.cli = client_new(base, cfg);
		if (r.cli == NULL)
			rc = 1;
		else
			client_start(r.cli);
	}
	struct event *sigint = NULL, *sigterm = NULL;
	if (rc == 0) {
		sigint = evsignal_new(base, SIGINT, signal_cb, &r);
		sigterm = evsignal_new(base, SIGTERM, signal_cb, &r);
		evsignal_add(sigint, NULL);
		evsignal_add(sigterm, NULL);
		event_base_dispatch(base);
		/* Stopped by a signal or by the role itself: close, then let
		 * closing sessions flush and free themselves. */
		role_shutdown(&r);
		event_free(sigint);
		event_free(sigterm);
		event_base_dispatch(base);
	}
	if (r.cli) {
		rc = client_exit_code(r.cli);
		client_free(r.cli);
	}
	if (r.srv)
		server_free(r.srv);
	event_base_free(base);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("burrow %s\n", BURROW_VERSION);
		return 0;
	}
	if (strcmp(cmd, "config-reference") == 0) {
		config_reference(stdout);
		return 0;
	}
	enum role role;
	if (strcmp(cmd, "server") == 0)
		role = ROLE_SERVER;
	else if (strcmp(cmd, "client") == 0)
		role = ROLE_CLIENT;
	else {
		fprintf(stderr, "burrow: unknown command '%s' (try burrow help)\n", cmd);
		return 2;
	}

	struct config cfg;
	char *err = NULL;
	enum config_result cr = config_load(&cfg, role, argc - 1, argv + 1, &err);
	/* The token is in secret memory now: wipe the environment's copy. */
	char *env = getenv("BURROW_TOKEN");
	if (env != NULL) {
		OPENSSL_cleanse(env, strlen(env));
		unsetenv("BURROW_TOKEN");
	}
	if (cr != CONFIG_OK) {
		if (err) {
			fprintf(stderr, "%s\n", err);
			free(err);
		}
		config_free(&cfg);
		return cr == CONFIG_EXIT ? 0 : 2;
	}
	log_set_level(cfg.log_level);
	if (strlen(cfg.token) < 16)
		log_warn("the token is shorter than 16 characters: anyone who can reach "
			 "the server can guess it; use a long random one "
			 "(openssl rand -hex 16)");
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Relayed bytes pass through 64 KiB buffers that are allocated and freed
	 * at a high rate. glibc's defaults would hand each one back to the kernel
	 * (heap trim, or mmap above its dynamic threshold) and fault it in again:
	 * measured at 5x the CPU per byte. Keep them in the heap instead; at most
	 * MALLOC_TRIM bytes stay cached after a burst.
	 */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	long nofile = tcp_raise_nofile();
	log_debug("open file limit: %ld", nofile);
	int rc = run(&cfg);
	config_free(&cfg);
	return rc;
}
