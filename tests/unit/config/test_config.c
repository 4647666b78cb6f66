/*
 * Unit tests for src/config/config.c: defaults, YAML files, BURROW_TOKEN,
 * flags, their precedence, error messages and hiding the token in argv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#define ARGS_MAX 32

/* A mutable argv, as main gets it: config_load may write into the strings. */
struct args {
	int argc;
	char *argv[ARGS_MAX + 1];
};

static void
args_vinit(struct args *a, const char *role, va_list ap)
{
	const char *s;
	a->argc = 0;
	a->argv[a->argc++] = strdup(role);
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->argc < ARGS_MAX);
		a->argv[a->argc++] = strdup(s);
	}
	a->argv[a->argc] = NULL;
}

static void
args_init(struct args *a, const char *role, ...)
{
	va_list ap;
	va_start(ap, role);
	args_vinit(a, role, ap);
	va_end(ap);
}

static void
args_free(struct args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

/* Loads with the given flags (NULL-terminated); argv is freed afterwards. */
static enum config_result
load(struct config *cfg, enum role role, char **err, ...)
{
	struct args a;
	va_list ap;
	va_start(ap, err);
	args_vinit(&a, role_name(role), ap);
	va_end(ap);
	enum config_result rc = config_load(cfg, role, a.argc, a.argv, err);
	args_free(&a);
	return rc;
}

/* Writes text to a fresh file in /tmp and returns its malloc'd path. */
static char *
tmp_yaml(const char *text)
{
	char path[] = "/tmp/burrow-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return strdup(path);
}

static void
tmp_free(char *path)
{
	unlink(path);
	free(path);
}

/* Asserts err starts with "path:" followed by rest, and frees it. */
static void
assert_err_at(char *err, const char *path, const char *rest)
{
	assert_non_null(err);
	char want[512];
	snprintf(want, sizeof want, "%s:%s", path, rest);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
}

static int
setup(void **state)
{
	unsetenv("BURROW_TOKEN");
	return 0;
}

/* ---- defaults ---- */

static void
test_server_defaults(void **state)
{
	struct config cfg;
	char *err = NULL;
	setenv("BURROW_TOKEN", "envtok", 1);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, NULL), CONFIG_OK);
	assert_null(err);
	assert_int_equal(cfg.role, ROLE_SERVER);
	assert_string_equal(cfg.listen.host, "0.0.0.0");
	assert_int_equal(cfg.listen.port, DEFAULT_CONTROL_PORT);
	assert_string_equal(cfg.token, "envtok");
	assert_int_equal(cfg.gateway_ports, GATEWAY_NO);
	assert_int_equal(cfg.allow_ports.n, 1);
	assert_int_equal(cfg.allow_ports.r[0].lo, 1024);
	assert_int_equal(cfg.allow_ports.r[0].hi, 65535);
	assert_int_equal(cfg.heartbeat_ms, 10000);
	assert_int_equal(cfg.handshake_timeout_ms, 10000);
	assert_int_equal(cfg.open_timeout_ms, 5000);
	assert_int_equal(cfg.reconnect_max_ms, 30000);
	assert_int_equal(cfg.window, 2 * 1024 * 1024);
	assert_int_equal(cfg.threads, 0);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.ntunnels, 0);
	config_free(&cfg);
	assert_null(cfg.token);
	assert_null(cfg.tunnels);
}

static void
test_client_minimal_flags(void **state)
{
	struct config cfg;
	char *err = NULL;
	setenv("BURROW_TOKEN", "envtok", 1);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "relay.example",
			     "-R", "8080:localhost:80", "-R",
			     "[::1]:2222:[::1]:22", NULL), CONFIG_OK);
	assert_null(err);
	assert_string_equal(cfg.server.host, "relay.example");
	assert_int_equal(cfg.server.port, DEFAULT_CONTROL_PORT);
	assert_int_equal(cfg.pool, 8);
	assert_int_equal(cfg.threads, 0);
	assert_int_equal(cfg.ntunnels, 2);
	assert_string_equal(cfg.tunnels[0].name, "r1");
	assert_int_equal(cfg.tunnels[0].remote.port, 8080);
	assert_false(cfg.tunnels[0].remote_has_bind);
	assert_string_equal(cfg.tunnels[0].local.host, "localhost");
	assert_int_equal(cfg.tunnels[0].local.port, 80);
	assert_string_equal(cfg.tunnels[1].name, "r2");
	assert_true(cfg.tunnels[1].remote_has_bind);
	assert_string_equal(cfg.tunnels[1].remote.host, "::1");
	assert_string_equal(cfg.tunnels[1].local.host, "::1");
	config_free(&cfg);
}

static void
test_long_flags_both_forms(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "--token", "t",
			     "--listen=127.0.0.1:0", "--gateway-ports", "clientspecified",
			     "--allow-ports=80,8000-9000", "--heartbeat", "500ms",
			     "--handshake-timeout=2s", "--open-timeout", "1m",
			     "--window=64K", "--log-level", "debug", NULL), CONFIG_OK);
	assert_null(err);
	assert_string_equal(cfg.listen.host, "127.0.0.1");
	assert_int_equal(cfg.listen.port, 0);
	assert_int_equal(cfg.gateway_ports, GATEWAY_CLIENTSPECIFIED);
	assert_int_equal(cfg.allow_ports.n, 2);
	assert_int_equal(cfg.heartbeat_ms, 500);
	assert_int_equal(cfg.handshake_timeout_ms, 2000);
	assert_int_equal(cfg.open_timeout_ms, 60000);
	assert_int_equal(cfg.window, 65536);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	config_free(&cfg);
}

static void
test_short_flag_glued_value(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-tabc", "-srelay:9000",
			     "-R8080:h:80", NULL), CONFIG_OK);
	assert_string_equal(cfg.token, "abc");
	assert_string_equal(cfg.server.host, "relay");
	assert_int_equal(cfg.server.port, 9000);
	assert_int_equal(cfg.ntunnels, 1);
	assert_int_equal(cfg.tunnels[0].remote.port, 8080);
	config_free(&cfg);
}

static void
test_help_exits(void **state)
{
	struct config cfg;
	char *err = NULL;
	/* --help wins even over a bad flag after it, and needs no token. */
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "--help", NULL), CONFIG_EXIT);
	assert_null(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-h", "--heartbeat", "x", NULL),
	    CONFIG_EXIT);
	assert_null(err);
	config_free(&cfg);
}

static void
test_counts(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R",
			     "1:h:1", "--pool", "0", "--threads=64", NULL), CONFIG_OK);
	assert_int_equal(cfg.pool, 0);
	assert_int_equal(cfg.threads, 64);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R",
			     "1:h:1", "--pool", "64", NULL), CONFIG_OK);
	assert_int_equal(cfg.pool, 64);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--dedicated-after", "0",
			     NULL), CONFIG_OK);
	assert_int_equal(cfg.dedicated_after, 0);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", NULL), CONFIG_OK);
	assert_int_equal(cfg.dedicated_after, 256 * 1024);
	config_free(&cfg);

	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "--pool", "65", NULL),
	    CONFIG_ERROR);
	assert_string_equal(err, "burrow client: --pool '65': number out of range (0 to 64)");
	free(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--threads", "65", NULL),
	    CONFIG_ERROR);
	assert_string_equal(err, "burrow server: --threads '65': number out of range (0 to 64)");
	free(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--threads", "-1", NULL),
	    CONFIG_ERROR);
	assert_non_null(strstr(err, "--threads '-1': "));
	free(err);
	config_free(&cfg);
	/* pool is a client setting. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--pool", "1", NULL),
	    CONFIG_ERROR);
	assert_non_null(strstr(err, "'--pool' is an option of burrow client"));
	free(err);
	config_free(&cfg);

	char *path = tmp_yaml("token: x\nthreads: 3\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_int_equal(cfg.threads, 3);
	config_free(&cfg);
	tmp_free(path);
}

/* ---- required settings ---- */

static void
test_missing_token(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, NULL), CONFIG_ERROR);
	assert_non_null(err);
	assert_non_null(strstr(err, "burrow server: no token"));
	free(err);
	config_free(&cfg);

	/* An empty BURROW_TOKEN is no token. */
	setenv("BURROW_TOKEN", "", 1);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "no token"));
	free(err);
	config_free(&cfg);
}

static void
test_client_missing_server_or_tunnels(void **state)
{
	struct config cfg;
	char *err = NULL;
	setenv("BURROW_TOKEN", "t", 1);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-R", "1:h:1", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "burrow client: no server"));
	free(err);
	config_free(&cfg);

	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "h", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "burrow client: no tunnels"));
	free(err);
	config_free(&cfg);

	/* A server needs a host and a port other than 0. */
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "h:0", "-R", "1:h:1", NULL),
	    CONFIG_ERROR);
	assert_string_equal(err, "burrow client: --server 'h:0': expected "
				 "HOST[:PORT] with a port from 1 to 65535");
	free(err);
	config_free(&cfg);
}

/* ---- flag errors ---- */

static void
test_flag_errors(void **state)
{
	static const struct {
		enum role role;
		const char *a, *b;
		const char *want;
	} cases[] = {
	    {ROLE_CLIENT, "-R", "x",
		"burrow client: -R 'x': expected [bind_address:]port:host:hostport"},
	    {ROLE_CLIENT, "-R", "80:h:0", "burrow client: -R '80:h:0': target port must not be 0"},
	    {ROLE_SERVER, "--heartbeat", "1x",
		"burrow server: --heartbeat '1x': expected a duration like 10s, 500ms or 2m"},
	    {ROLE_SERVER, "--heartbeat", "10ms",
		"burrow server: --heartbeat '10ms': duration out of range (50ms to 1h)"},
	    {ROLE_SERVER, "--window", "1K",
		"burrow server: --window '1K': size out of range (64K to 64M)"},
	    {ROLE_SERVER, "--window", "65M",
		"burrow server: --window '65M': size out of range (64K to 64M)"},
	    {ROLE_SERVER, "--dedicated-after", "1025G",
		"burrow server: --dedicated-after '1025G': size out of range (0 to 1024G)"},
	    {ROLE_CLIENT, "--dedicated-after", "1M",
		"burrow client: '--dedicated-after' is an option of burrow server (see burrow client --help)"},
	    {ROLE_SERVER, "--open-timeout", "11m",
		"burrow server: --open-timeout '11m': duration out of range (100ms to 10m)"},
	    {ROLE_SERVER, "--gateway-ports", "maybe",
		"burrow server: --gateway-ports 'maybe': expected no, yes or clientspecified"},
	    {ROLE_SERVER, "--log-level", "trace",
		"burrow server: --log-level 'trace': expected error, warn, info or debug"},
	    {ROLE_SERVER, "--allow-ports", "10-5",
		"burrow server: --allow-ports '10-5': range start is above its end"},
	    {ROLE_SERVER, "-l", "::1:80",
		"burrow server: --listen '::1:80': IPv6 addresses must be in brackets, like [::1]:7700"},
	    {ROLE_SERVER, "--bogus", "1",
		"burrow server: unknown option '--bogus' (see burrow server --help)"},
	    {ROLE_SERVER, "stray", NULL,
		"burrow server: unexpected argument 4 (not shown; options start with - or --, "
		"see burrow server --help)"},
	    {ROLE_SERVER, "-", NULL,
		"burrow server: unexpected argument 4 (not shown; options start with - or --, "
		"see burrow server --help)"},
	    /* A mistyped flag never shows its value: it may be the token. */
	    {ROLE_CLIENT, "--tokn=s3cret", NULL,
		"burrow client: unknown option '--tokn' (see burrow client --help)"},
	    {ROLE_CLIENT, "--tokens3cret", NULL,
		"burrow client: unknown option '--token...' (see burrow client --help)"},
	    {ROLE_CLIENT, "-xs3cret", NULL,
		"burrow client: unknown option '-x' (see burrow client --help)"},
	    {ROLE_SERVER, "--heartbeat", NULL, "burrow server: --heartbeat needs a value (DURATION)"},
	    {ROLE_CLIENT, "-R", NULL, "burrow client: -R needs a value (SPEC)"},
	    /* Options of the other role are unknown. */
	    {ROLE_SERVER, "-R", "1:h:1", "burrow server: '-R' is an option of burrow client (see burrow server --help)"},
	    {ROLE_SERVER, "--server", "h", "burrow server: '--server' is an option of burrow client (see burrow server --help)"},
	    {ROLE_CLIENT, "--listen", "h:1", "burrow client: '--listen' is an option of burrow server (see burrow client --help)"},
	    {ROLE_CLIENT, "--gateway-ports", "yes",
		"burrow client: '--gateway-ports' is an option of burrow server (see burrow client --help)"},
	    /* -R is the only spelling of tunnels on the command line; underscores are not flags. */
	    {ROLE_CLIENT, "--tunnels", "1:h:1", "burrow client: unknown option '--tunnels' (see burrow client --help)"},
	    {ROLE_SERVER, "--log_level", "info", "burrow server: unknown option '--log_level' (see burrow server --help)"},
	    {ROLE_SERVER, "--heartbeatx", "1s", "burrow server: unknown option '--heartbeat...' (see burrow server --help)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		char *err = NULL;
		enum config_result rc = load(&cfg, cases[i].role, &err, "-t", "tok",
		    cases[i].a, cases[i].b, NULL);
		if (rc != CONFIG_ERROR)
			fail_msg("case %zu (%s %s): accepted", i, cases[i].a,
			    cases[i].b ? cases[i].b : "");
		if (err == NULL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i,
			    err ? err : "(null)", cases[i].want);
		free(err);
		config_free(&cfg);
	}
}

/* ---- token: precedence, hiding, secrecy ---- */

static void
test_token_precedence(void **state)
{
	char *path = tmp_yaml("token: from-file\n");
	struct config cfg;
	char *err = NULL;

	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_string_equal(cfg.token, "from-file");
	config_free(&cfg);

	setenv("BURROW_TOKEN", "from-env", 1);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_string_equal(cfg.token, "from-env");
	config_free(&cfg);

	/* The flag wins, wherever it stands relative to -c. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "--token", "from-flag", "-c",
			     path, NULL), CONFIG_OK);
	assert_string_equal(cfg.token, "from-flag");
	config_free(&cfg);

	unsetenv("BURROW_TOKEN");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "from-flag",
			     NULL), CONFIG_OK);
	assert_string_equal(cfg.token, "from-flag");
	config_free(&cfg);

	/* The last flag wins. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "one", "-t", "two", NULL),
	    CONFIG_OK);
	assert_string_equal(cfg.token, "two");
	config_free(&cfg);
	tmp_free(path);
}

/* The token's text is gone from argv after config_load, in every spelling. */
static void
test_token_hidden_in_argv(void **state)
{
	static const char *const forms[][3] = {
	    /* flag, value, what the value's argument becomes */
	    {"--token", "TOPSECRET1", "x"},
	    {"--token=TOPSECRET1", NULL, "--token=x"},
	    {"-t", "TOPSECRET1", "x"},
	    {"-tTOPSECRET1", NULL, "-tx"},
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		struct args a;
		struct config cfg;
		char *err = NULL;
		if (forms[i][1])
			args_init(&a, "server", "-l", "127.0.0.1:0", forms[i][0],
			    forms[i][1], "--heartbeat", "1s", NULL);
		else
			args_init(&a, "server", "-l", "127.0.0.1:0", forms[i][0],
			    "--heartbeat", "1s", NULL);
		int argc = a.argc;
		assert_int_equal(config_load(&cfg, ROLE_SERVER, a.argc, a.argv, &err),
		    CONFIG_OK);
		assert_string_equal(cfg.token, "TOPSECRET1");
		assert_int_equal(a.argc, argc);
		for (int k = 0; k < a.argc; k++) {
			if (strstr(a.argv[k], "TOPSECRET1") != NULL ||
			    strstr(a.argv[k], "SECRET") != NULL)
				fail_msg("form %zu: argv[%d] is still '%s'", i, k,
				    a.argv[k]);
		}
		assert_string_equal(a.argv[forms[i][1] ? 4 : 3], forms[i][2]);
		/* The other arguments are intact. */
		assert_string_equal(a.argv[2], "127.0.0.1:0");
		assert_string_equal(a.argv[a.argc - 1], "1s");
		config_free(&cfg);
		args_free(&a);
	}
}

/* A one-character token is hidden too. */
static void
test_token_hidden_short(void **state)
{
	struct args a;
	struct config cfg;
	char *err = NULL;
	args_init(&a, "server", "--token", "Q", NULL);
	assert_int_equal(config_load(&cfg, ROLE_SERVER, a.argc, a.argv, &err), CONFIG_OK);
	assert_string_equal(cfg.token, "Q");
	assert_null(strchr(a.argv[2], 'Q'));
	config_free(&cfg);
	args_free(&a);
}

static void
test_token_never_in_errors(void **state)
{
	struct config cfg;
	char *err = NULL;

	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "--token=", NULL), CONFIG_ERROR);
	assert_string_equal(err, "burrow server: --token: must not be empty");
	free(err);
	config_free(&cfg);

	/* A later error does not print the token given earlier. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "--token", "HUSH123",
			     "--heartbeat", "HUSH123", NULL), CONFIG_ERROR);
	assert_non_null(err);
	/* The heartbeat value itself is echoed, it is not a token. */
	assert_non_null(strstr(err, "--heartbeat"));
	free(err);
	config_free(&cfg);

	char *path = tmp_yaml("token: FILESECRET\nheartbeat: nope\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_ERROR);
	assert_null(strstr(err, "FILESECRET"));
	assert_err_at(err, path, "2: heartbeat: ");
	free(err);
	config_free(&cfg);
	tmp_free(path);

	path = tmp_yaml("token: \"\"\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_ERROR);
	assert_err_at(err, path, "1: token: must not be empty");
	free(err);
	config_free(&cfg);
	tmp_free(path);
}

/* ---- YAML files ---- */

static void
test_file_all_server_keys(void **state)
{
	char *path = tmp_yaml(
	    "# a comment\n"
	    "listen: \"[::1]:0\"\n"
	    "token: abc\n"
	    "gateway_ports: yes\n"
	    "allow_ports: 22, 8000-8100\n"
	    "heartbeat: 3s\n"
	    "handshake_timeout: 250ms\n"
	    "open_timeout: 2s\n"
	    "window: 1M\n"
	    "log_level: warn\n");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_null(err);
	assert_string_equal(cfg.listen.host, "::1");
	assert_int_equal(cfg.listen.port, 0);
	assert_string_equal(cfg.token, "abc");
	assert_int_equal(cfg.gateway_ports, GATEWAY_YES);
	assert_int_equal(cfg.allow_ports.n, 2);
	assert_true(port_ranges_contains(&cfg.allow_ports, 22));
	assert_true(port_ranges_contains(&cfg.allow_ports, 8050));
	assert_false(port_ranges_contains(&cfg.allow_ports, 1024));
	assert_int_equal(cfg.heartbeat_ms, 3000);
	assert_int_equal(cfg.handshake_timeout_ms, 250);
	assert_int_equal(cfg.open_timeout_ms, 2000);
	assert_int_equal(cfg.window, 1024 * 1024);
	assert_int_equal(cfg.log_level, LOG_WARN);
	config_free(&cfg);
	tmp_free(path);
}

static void
test_file_client_tunnels(void **state)
{
	char *path = tmp_yaml(
	    "server: relay.example:7701\n"
	    "token: abc\n"
	    "reconnect_max: 1m\n"
	    "tunnels:\n"
	    "  - name: ssh\n"
	    "    remote: 2222\n"
	    "    local: 127.0.0.1:22\n"
	    "  - remote: \"[::]:8080\"\n"
	    "    local: \"[::1]:80\"\n"
	    "  - {remote: \"0.0.0.0:0\", local: \"web:443\", name: w.e-b_1}\n");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, "-R", "9:h:9", NULL),
	    CONFIG_OK);
	assert_null(err);
	assert_string_equal(cfg.server.host, "relay.example");
	assert_int_equal(cfg.server.port, 7701);
	assert_int_equal(cfg.reconnect_max_ms, 60000);
	assert_int_equal(cfg.ntunnels, 4);

	assert_string_equal(cfg.tunnels[0].name, "ssh");
	assert_false(cfg.tunnels[0].remote_has_bind);
	assert_int_equal(cfg.tunnels[0].remote.port, 2222);
	assert_string_equal(cfg.tunnels[0].local.host, "127.0.0.1");
	assert_int_equal(cfg.tunnels[0].local.port, 22);

	/* Unnamed file tunnels are t<index+1>. */
	assert_string_equal(cfg.tunnels[1].name, "t2");
	assert_true(cfg.tunnels[1].remote_has_bind);
	assert_string_equal(cfg.tunnels[1].remote.host, "::");
	assert_int_equal(cfg.tunnels[1].remote.port, 8080);
	assert_string_equal(cfg.tunnels[1].local.host, "::1");

	assert_string_equal(cfg.tunnels[2].name, "w.e-b_1");
	assert_int_equal(cfg.tunnels[2].remote.port, 0);
	assert_string_equal(cfg.tunnels[2].local.host, "web");

	/* -R tunnels come after the file's and are r<n>. */
	assert_string_equal(cfg.tunnels[3].name, "r1");
	assert_int_equal(cfg.tunnels[3].remote.port, 9);
	config_free(&cfg);
	tmp_free(path);
}

static void
test_flags_override_file(void **state)
{
	char *path = tmp_yaml("token: t\nheartbeat: 5s\nwindow: 128K\nlisten: 1.2.3.4:1\n");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "--heartbeat", "2s", "-c", path,
			     NULL), CONFIG_OK);
	assert_int_equal(cfg.heartbeat_ms, 2000);
	assert_int_equal(cfg.window, 128 * 1024);
	assert_string_equal(cfg.listen.host, "1.2.3.4");
	config_free(&cfg);
	tmp_free(path);
}

static void
test_empty_file(void **state)
{
	char *path = tmp_yaml("");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL),
	    CONFIG_OK);
	assert_int_equal(cfg.heartbeat_ms, 10000);
	config_free(&cfg);
	tmp_free(path);

	path = tmp_yaml("# only a comment\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL),
	    CONFIG_OK);
	config_free(&cfg);
	tmp_free(path);
}

static void
test_missing_file(void **state)
{
	struct config cfg;
	char *err = NULL;
	const char *path = "/tmp/burrow-test-does-not-exist.yaml";
	unlink(path);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL),
	    CONFIG_ERROR);
	assert_string_equal(err, "/tmp/burrow-test-does-not-exist.yaml: No such file or directory");
	free(err);
	config_free(&cfg);
}

struct file_case {
	enum role role;
	const char *yaml;
	const char *want; /* after "path:" */
};

/* Every file error is "file:line: key: why", with the line of the offending node. */
static void
test_file_errors(void **state)
{
	static const struct file_case cases[] = {
	    {ROLE_SERVER, "token: t\nbogus: 1\n", "2: bogus: unknown key for burrow server"},
	    {ROLE_SERVER, "token: t\n\n\nheartbeat: 1x\n",
		"4: heartbeat: expected a duration like 10s, 500ms or 2m"},
	    {ROLE_SERVER, "heartbeat: 1h1\n", "1: heartbeat: "},
	    {ROLE_SERVER, "heartbeat: 2h\n", "1: heartbeat: duration out of range (50ms to 1h)"},
	    {ROLE_SERVER, "window: 1G\n", "1: window: size out of range (64K to 64M)"},
	    {ROLE_SERVER, "gateway_ports: true\n",
		"1: gateway_ports: expected no, yes or clientspecified"},
	    {ROLE_SERVER, "allow_ports: 80,\n", "1: allow_ports: trailing ','"},
	    {ROLE_SERVER, "log_level: loud\n",
		"1: log_level: expected error, warn, info or debug"},
	    {ROLE_SERVER, "listen: a:b:c\n", "1: listen: IPv6 addresses must be in brackets"},
	    {ROLE_SERVER, "heartbeat: [1, 2]\n", "1: heartbeat: expected a single value"},
	    {ROLE_SERVER, "heartbeat:\n  a: 1\n", "2: heartbeat: expected a single value"},
	    /* Keys of the other role say so; flag-only keys are unknown. */
	    {ROLE_SERVER, "tunnels: []\n", "1: tunnels: a key of burrow client, not burrow server"},
	    {ROLE_SERVER, "server: h\n", "1: server: a key of burrow client, not burrow server"},
	    {ROLE_CLIENT, "listen: h:1\n", "1: listen: a key of burrow server, not burrow client"},
	    {ROLE_CLIENT, "allow_ports: 80\n", "1: allow_ports: a key of burrow server, not burrow client"},
	    {ROLE_SERVER, "config: other.yaml\n", "1: config: unknown key for burrow server"},
	    {ROLE_SERVER, "help: yes\n", "1: help: unknown key for burrow server"},
	    {ROLE_SERVER, "log-level: info\n", "1: log-level: unknown key for burrow server"},
	    {ROLE_SERVER, "- a\n- b\n", "1: (top): expected a mapping of key: value"},
	    {ROLE_SERVER, "just text\n", "1: (top): expected a mapping of key: value"},
	    {ROLE_SERVER, "? [a, b]\n: c\n", "1: (top): keys must be plain words"},
	    {ROLE_CLIENT, "server: h:0\n", "1: server: expected HOST[:PORT] with a port from 1 to 65535"},
	    /* tunnels */
	    {ROLE_CLIENT, "tunnels: 8080:h:80\n", "1: tunnels: expected a list of tunnels"},
	    {ROLE_CLIENT, "tunnels:\n  - 8080:h:80\n",
		"2: tunnels[0]: expected a mapping with name, remote and local"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n  - local: h:2\n",
		"4: tunnels[1]: missing remote: [bind_address:]port"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n", "2: tunnels[0]: missing local: host:port"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n    port: 3\n",
		"4: tunnels[0].port: unknown key (expected name, remote, local, data_path)"},
	    {ROLE_CLIENT, "tunnels:\n  - name: a b\n",
		"2: tunnels[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT, "tunnels:\n  - name: \"\"\n",
		"2: tunnels[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT,
		"tunnels:\n  - name: "
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		"2: tunnels[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1:2:3\n",
		"2: tunnels[0].remote: expected [bind_address:]port"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 70000\n",
		"2: tunnels[0].remote: port must be a number from 0 to 65535"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:0\n",
		"3: tunnels[0].local: port must not be 0"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h\n",
		"3: tunnels[0].local: expected host:port"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: [1]\n",
		"2: tunnels[0].remote: expected a single value"},
	    /* YAML syntax errors carry the line too. */
	    {ROLE_SERVER, "token: t\nheartbeat: [1s\n", "3: "},
	    {ROLE_SERVER, "token: t\n  bad indent: 1\n", "2: "},
	    {ROLE_SERVER, "a: \"unterminated\n", "2: "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *path = tmp_yaml(cases[i].yaml);
		struct config cfg;
		char *err = NULL;
		enum config_result rc;
		if (cases[i].role == ROLE_CLIENT)
			rc = load(&cfg, ROLE_CLIENT, &err, "-c", path, "-t", "x",
			    "-s", "h", "-R", "1:h:1", NULL);
		else
			rc = load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL);
		if (rc != CONFIG_ERROR)
			fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
		assert_non_null(err);
		char want[512];
		snprintf(want, sizeof want, "%s:%s", path, cases[i].want);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i, err, want);
		free(err);
		config_free(&cfg);
		tmp_free(path);
	}
}

static void
test_duplicate_tunnel_names(void **state)
{
	char *path = tmp_yaml(
	    "tunnels:\n"
	    "  - {name: r1, remote: 1, local: \"h:1\"}\n");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, "-t", "x", "-s", "h",
			     "-R", "2:h:2", NULL), CONFIG_ERROR);
	assert_string_equal(err, "burrow client: tunnel name 'r1' is used twice");
	free(err);
	config_free(&cfg);
	tmp_free(path);

	path = tmp_yaml(
	    "tunnels:\n"
	    "  - {name: a, remote: 1, local: \"h:1\"}\n"
	    "  - {name: a, remote: 2, local: \"h:2\"}\n");
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, "-t", "x", "-s", "h",
			     NULL), CONFIG_ERROR);
	assert_string_equal(err, "burrow client: tunnel name 'a' is used twice");
	free(err);
	config_free(&cfg);
	tmp_free(path);
}

/* Loading twice into the same struct, freeing between, leaks nothing (ASan). */
static void
test_reload_after_error(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "a", "-R", "1:h:1", "-R",
			     "bad", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "-R 'bad'"));
	free(err);
	config_free(&cfg);
	assert_int_equal(cfg.ntunnels, 0);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "a", "-s", "h", "-R",
			     "1:h:1", NULL), CONFIG_OK);
	assert_int_equal(cfg.ntunnels, 1);
	config_free(&cfg);
}

static void
test_usage_and_reference(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	config_usage(ROLE_CLIENT, f);
	fclose(f);
	assert_non_null(strstr(buf, "usage: burrow client"));
	assert_non_null(strstr(buf, "--server"));
	assert_non_null(strstr(buf, "-R SPEC"));
	assert_null(strstr(buf, "--listen"));
	assert_null(strstr(buf, "--gateway-ports"));
	free(buf);

	f = open_memstream(&buf, &len);
	config_usage(ROLE_SERVER, f);
	fclose(f);
	assert_non_null(strstr(buf, "usage: burrow server"));
	assert_non_null(strstr(buf, "--gateway-ports"));
	assert_null(strstr(buf, "--server"));
	free(buf);

	f = open_memstream(&buf, &len);
	config_reference(f);
	fclose(f);
	assert_non_null(strstr(buf, "| `heartbeat` |"));
	assert_non_null(strstr(buf, "| `tunnels` | `-R` | client |"));
	assert_null(strstr(buf, "`help`"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_server_defaults, setup),
	    cmocka_unit_test_setup(test_client_minimal_flags, setup),
	    cmocka_unit_test_setup(test_long_flags_both_forms, setup),
	    cmocka_unit_test_setup(test_short_flag_glued_value, setup),
	    cmocka_unit_test_setup(test_help_exits, setup),
	    cmocka_unit_test_setup(test_counts, setup),
	    cmocka_unit_test_setup(test_missing_token, setup),
	    cmocka_unit_test_setup(test_client_missing_server_or_tunnels, setup),
	    cmocka_unit_test_setup(test_flag_errors, setup),
	    cmocka_unit_test_setup(test_token_precedence, setup),
	    cmocka_unit_test_setup(test_token_hidden_in_argv, setup),
	    cmocka_unit_test_setup(test_token_hidden_short, setup),
	    cmocka_unit_test_setup(test_token_never_in_errors, setup),
	    cmocka_unit_test_setup(test_file_all_server_keys, setup),
	    cmocka_unit_test_setup(test_file_client_tunnels, setup),
	    cmocka_unit_test_setup(test_flags_override_file, setup),
	    cmocka_unit_test_setup(test_empty_file, setup),
	    cmocka_unit_test_setup(test_missing_file, setup),
	    cmocka_unit_test_setup(test_file_errors, setup),
	    cmocka_unit_test_setup(test_duplicate_tunnel_names, setup),
	    cmocka_unit_test_setup(test_reload_after_error, setup),
	    cmocka_unit_test_setup(test_usage_and_reference, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
