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
#include "transport/tls.h"
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
	struct tls_server *tls_server;
	struct tls_client *tls_client;
};

static void
role_shutdown(struct running *r)
{
	if (r->srv)
		server_shutdown(r->srv);
	if (r->cli)
		client_shutdown(r->cli);
}

/* SIGHUP: the server reads its certificate files and clients list again. */
static void
hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct running *r = arg;
	log_info("signal %d: reloading", (int)sig);
	if (r->tls_server)
		tls_server_reload(r->tls_server);
	if (r->srv)
		server_reload(r->srv);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct running *r = arg;
	log_info("signal %d: shutting down", (int)sig);
	role_shutdown(r);
	event_base_loopexit(r->base, NULL);
}

/*
 * The server always has TLS on its control port; the client when asked.
 * 0, 2 when a file the configuration names is at fault, else 1.
 */
static int
tls_setup(struct running *r, const struct config *cfg)
{
	char *err = NULL;
	int usage = 0;
	if (cfg->role == ROLE_SERVER)
		r->tls_server = tls_server_new(cfg, &err, &usage);
	else if (TRANSPORT_MAY_TLS(cfg->transport))
		r->tls_client = tls_client_new(cfg, &err, &usage);
	else
		return 0;
	if (r->tls_server != NULL || r->tls_client != NULL)
		return 0;
	if (usage)
		fprintf(stderr, "burrow %s: %s\n", role_name(cfg->role),
		    err ? err : "out of memory");
	else
		log_error("tls: %s", err ? err : "out of memory");
	free(err);
	return usage ? 2 : 1;
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
	/* Signals first: a SIGTERM right after "server listening" must not
	 * find the default action. */
	struct event *sigint = evsignal_new(base, SIGINT, signal_cb, &r);
	struct event *sigterm = evsignal_new(base, SIGTERM, signal_cb, &r);
	struct event *sighup = evsignal_new(base, SIGHUP, hup_cb, &r);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sighup, NULL);
	int rc = tls_setup(&r, cfg);
	if (rc != 0) {
	} else if (cfg->role == ROLE_SERVER) {
		r.srv = server_new(base, cfg, r.tls_server);
		if (r.srv == NULL)
			rc = 1;
	} else {
		r.cli = client_new(base, cfg, r.tls_client);
		if (r.cli == NULL)
			rc = 1;
		else
			client_start(r.cli);
	}
	if (rc == 0) {
		event_base_dispatch(base);
		/* Stopped by a signal or by the role itself: close, then let
		 * closing sessions flush and free themselves. */
		role_shutdown(&r);
	}
	event_free(sigint);
	event_free(sigterm);
	event_free(sighup);
	if (rc == 0)
		event_base_dispatch(base);
	if (r.cli) {
		rc = client_exit_code(r.cli);
		client_free(r.cli);
	}
	if (r.srv)
		server_free(r.srv);
	tls_server_free(r.tls_server);
	tls_client_free(r.tls_client);
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
	if (cfg.token != NULL && strlen(cfg.token) < 16)
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
