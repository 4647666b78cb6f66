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

/* Hashes of "secret" for basic_auth: openssl passwd -6 and -5; yescrypt and
 * bcrypt from libxcrypt's crypt(3). */
#define CFG_HASH6 "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
#define CFG_HASHY "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0"
#define CFG_HASH2B "$2b$04$PwcTDbxyWKrNfTrU/0C7/.x72pXYRZIK44oyNpDhE1qc9GLZgsYIq"
#define CFG_HASH5 "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"

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
		"burrow client: -R 'x': expected [bind_address:]port:host:hostport or [bind_address:]port"},
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
	    /* -R http: and the server's HTTP keys */
	    {ROLE_CLIENT, "-R", "http:",
		"burrow client: -R 'http:': expected http:[NAME[,NAME...]:]host:hostport"},
	    {ROLE_CLIENT, "-R", "http:a_b:h:1",
		"burrow client: -R 'http:a_b:h:1': not a host name (letters, digits, '-' "
		"and '.'; a wildcard is *.name)"},
	    {ROLE_CLIENT, "-R", "http:h:0", "burrow client: -R 'http:h:0': target port must not be 0"},
	    {ROLE_SERVER, "--domain", "*.example.test",
		"burrow server: --domain '*.example.test': expected a DNS name in lower case, "
		"like tunnel.example.com"},
	    {ROLE_SERVER, "--trusted-proxies", "*:*",
		"burrow server: --trusted-proxies '*:*': expected addresses or networks with "
		"ports, like 10.0.0.0/8:*,192.0.2.7:* (names are not matched here)"},
	    {ROLE_SERVER, "--response-timeout", "2h",
		"burrow server: --response-timeout '2h': duration out of range (100ms to 1h)"},
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
		"4: tunnels[0].port: unknown key (expected name, type, remote, local, listen, connect, allow, visitors, share, domains, subdomain, paths, host_header_rewrite, basic_auth, request_headers, response_headers, protocol, data_path, proxy_protocol)"},
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
	    /* type http and the server's HTTP port */
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    subdomain: app.x\n    local: h:1\n",
		"3: tunnels[0].subdomain: expected one label (letters, digits and '-'): the "
		"server's domain follows"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    subdomain: \"*\"\n    local: h:1\n",
		"3: tunnels[0].subdomain: expected one label (letters, digits and '-'): the "
		"server's domain follows"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    subdomain: App\n    local: h:1\n",
		"3: tunnels[0].subdomain: expected one label (letters, digits and '-'): the "
		"server's domain follows"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    subdomain: [a]\n    local: h:1\n",
		"3: tunnels[0].subdomain: expected a single value"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: https\n    domains: a.test\n    paths: /api\n    local: h:1\n",
		"2: tunnels[0]: paths: is for type http (HTTPS passed through is routed by "
		"name alone)"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: https\n    domains: a.test\n    subdomain: app\n    local: h:1\n",
		"2: tunnels[0]: subdomain: is for type http (an https tunnel names its domains)"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: https\n    domains: a.test\n    basic_auth: a:" CFG_HASH6 "\n"
		"    local: h:1\n",
		"2: tunnels[0]: host_header_rewrite, basic_auth, request_headers and "
		"response_headers are for type http (HTTPS passed through is not read)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: https\n    local: h:1\n",
		"2: tunnels[0]: missing domains: NAME[, NAME...]"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    domains: a.test\n",
		"2: tunnels[0]: missing local: host:port"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    remote: 80\n    local: h:1\n",
		"2: tunnels[0]: an http tunnel takes domains, paths and local only (its port "
		"is the server's HTTP port)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    paths: /api;/v2\n    local: h:1\n",
		"3: tunnels[0].paths: expected paths separated by ',' (letters, digits and "
		"-._~/!$&'()*+=:@%)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    paths: api\n    local: h:1\n",
		"3: tunnels[0].paths: expected a path starting with '/'"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    domains: a_b.test\n    local: h:1\n",
		"3: tunnels[0].domains: not a host name (letters, digits, '-' and '.'; a "
		"wildcard is *.name)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: web\n",
		"2: tunnels[0].type: expected tcp, udp, remote_dynamic, local, dynamic, "
		"secret, visitor, https or http"},
	    /* Not type http. */
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n    host_header_rewrite: h\n",
		"2: tunnels[0]: host_header_rewrite, basic_auth, request_headers and "
		"response_headers are for type http"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: tcp\n    remote: 1\n    local: h:1\n    request_headers:\n"
		"      remove: Cookie\n",
		"2: tunnels[0]: host_header_rewrite, basic_auth, request_headers and "
		"response_headers are for type http"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n    paths: /api\n",
		"2: tunnels[0]: paths: is for type http"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n    subdomain: app\n",
		"2: tunnels[0]: subdomain: is for type http"},
	    {ROLE_CLIENT, "tunnels:\n  - remote: 1\n    local: h:1\n    domains: a.test\n",
		"2: tunnels[0]: domains: is for type http or https"},
	    /* host_header_rewrite */
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    host_header_rewrite: \"a b\"\n",
		"4: tunnels[0].host_header_rewrite: expected host[:port]"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    host_header_rewrite: [a, b]\n",
		"4: tunnels[0].host_header_rewrite: expected a single value"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    host_header_rewrite: \"\"\n",
		"4: tunnels[0].host_header_rewrite: expected host[:port]"},
	    /* basic_auth */
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    basic_auth: alice:secret\n",
		"4: tunnels[0].basic_auth: expected user:hash with a password hash, not the "
		"password (openssl passwd -6, or mkpasswd: $y$, $2b$, $6$ or $5$)"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    basic_auth:\n      - alice:" CFG_HASH6
		"\n      - bob:hunter2\n",
		"6: tunnels[0].basic_auth: expected user:hash with a password hash, not the "
		"password (openssl passwd -6, or mkpasswd: $y$, $2b$, $6$ or $5$)"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    basic_auth: \"alice:$1$saltsalt$4ZR8xUqyEMdbaeD6VsDmC.\"\n",
		"4: tunnels[0].basic_auth: expected user:hash with a password hash, not the "
		"password (openssl passwd -6, or mkpasswd: $y$, $2b$, $6$ or $5$)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    basic_auth: alice\n",
		"4: tunnels[0].basic_auth: expected user:hash"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    basic_auth: {alice: x}\n",
		"4: tunnels[0].basic_auth: expected a value or a list of values"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    basic_auth:\n      - [a]\n",
		"5: tunnels[0].basic_auth: expected a list of values"},
	    /* request_headers */
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n      add:\n"
		"        X-A: b\n",
		"5: tunnels[0].request_headers.add: unknown key (expected set, remove)"},
	    {ROLE_CLIENT, "tunnels:\n  - type: http\n    local: h:1\n    request_headers: none\n",
		"4: tunnels[0].request_headers: expected set: and remove:"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n      set: [X-A]\n",
		"5: tunnels[0].request_headers.set: expected Name: value lines"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n      set:\n"
		"        X-A: [b]\n",
		"6: tunnels[0].request_headers.set: expected Name: value lines"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n      set:\n"
		"        X A: b\n",
		"6: tunnels[0].request_headers.set: expected Name: value"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n      set:\n"
		"        X-A: \"b\\r\\nX-Injected: 1\"\n",
		"6: tunnels[0].request_headers.set: expected Name: value"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n"
		"      remove: [X Debug]\n",
		"5: tunnels[0].request_headers.remove: expected a header name"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    request_headers:\n"
		"      remove:\n        - Cookie\n        - \"X-A:\"\n",
		"7: tunnels[0].request_headers.remove: expected a header name"},
	    /* More than MSG_HOPTS_MAX options: the line of the 17th. */
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    basic_auth:\n"
		"      - u1:" CFG_HASH6 "\n"
		"      - u2:" CFG_HASH6 "\n"
		"      - u3:" CFG_HASH6 "\n"
		"      - u4:" CFG_HASH6 "\n"
		"      - u5:" CFG_HASH6 "\n"
		"      - u6:" CFG_HASH6 "\n"
		"      - u7:" CFG_HASH6 "\n"
		"      - u8:" CFG_HASH6 "\n"
		"      - u9:" CFG_HASH6 "\n"
		"      - u10:" CFG_HASH6 "\n"
		"      - u11:" CFG_HASH6 "\n"
		"      - u12:" CFG_HASH6 "\n"
		"      - u13:" CFG_HASH6 "\n"
		"      - u14:" CFG_HASH6 "\n"
		"      - u15:" CFG_HASH6 "\n"
		"      - u16:" CFG_HASH6 "\n"
		"      - u17:" CFG_HASH6 "\n",
		"21: tunnels[0].basic_auth: more than 16 HTTP options (host_header_rewrite, "
		"basic_auth users, request_headers, response_headers) in one tunnel"},
	    {ROLE_CLIENT,
		"tunnels:\n  - type: http\n    local: h:1\n    host_header_rewrite: h\n"
		"    basic_auth: [\"u1:" CFG_HASH6 "\", \"u2:" CFG_HASH6 "\", \"u3:" CFG_HASH6 "\", \"u4:" CFG_HASH6 "\", \"u5:" CFG_HASH6 "\", \"u6:" CFG_HASH6 "\", \"u7:" CFG_HASH6 "\", \"u8:" CFG_HASH6 "\", \"u9:" CFG_HASH6 "\", \"u10:" CFG_HASH6 "\", \"u11:" CFG_HASH6 "\", \"u12:" CFG_HASH6 "\", \"u13:" CFG_HASH6 "\", \"u14:" CFG_HASH6 "\", \"u15:" CFG_HASH6 "\"]\n"
		"    request_headers:\n      remove: X-A\n",
		"7: tunnels[0].request_headers.remove: more than 16 HTTP options "
		"(host_header_rewrite, basic_auth users, request_headers, response_headers) "
		"in one tunnel"},
	    /* server: domain, trusted_proxies, response_timeout, http */
	    {ROLE_SERVER, "domain: \"*.example.test\"\n",
		"1: domain: expected a DNS name in lower case, like tunnel.example.com"},
	    {ROLE_SERVER, "domain: Tunnel.Example.test\n",
		"1: domain: expected a DNS name in lower case, like tunnel.example.com"},
	    {ROLE_SERVER, "domain: example.test.\n",
		"1: domain: expected a DNS name in lower case, like tunnel.example.com"},
	    {ROLE_SERVER, "domain: ex_ample.test\n",
		"1: domain: expected a DNS name in lower case, like tunnel.example.com"},
	    {ROLE_SERVER, "token: t\ndomain: a b\n",
		"2: domain: expected a host name: printable ASCII without blanks, at most 253 "
		"bytes"},
	    {ROLE_CLIENT, "domain: example.test\n",
		"1: domain: a key of burrow server, not burrow client"},
	    {ROLE_SERVER, "trusted_proxies: \"*:*\"\n",
		"1: trusted_proxies: expected addresses or networks with ports, like "
		"10.0.0.0/8:*,192.0.2.7:* (names are not matched here)"},
	    {ROLE_SERVER, "trusted_proxies: 10.0.0.0/8:*, proxy.corp:443\n",
		"1: trusted_proxies: expected addresses or networks with ports, like "
		"10.0.0.0/8:*,192.0.2.7:* (names are not matched here)"},
	    {ROLE_SERVER, "trusted_proxies: 10.0.0.0/8\n",
		"1: trusted_proxies: expected HOST:PORTS, like *.example.com:443 or "
		"10.0.0.0/8:*"},
	    {ROLE_SERVER, "response_timeout: 99ms\n",
		"1: response_timeout: duration out of range (100ms to 1h)"},
	    {ROLE_SERVER, "response_timeout: 0\n",
		"1: response_timeout: duration out of range (100ms to 1h)"},
	    {ROLE_SERVER, "response_timeout: 61m\n",
		"1: response_timeout: duration out of range (100ms to 1h)"},
	    {ROLE_SERVER, "response_timeout: soon\n",
		"1: response_timeout: expected a duration like 10s, 500ms or 2m"},
	    {ROLE_SERVER, "http: localhost:80\n",
		"1: http: expected a numeric address and a port, like 0.0.0.0:443 or [::]:443"},
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

/* ---- the server's clients: list ---- */

/* The Ed25519 key of tests/unit/util/test_fingerprint.c, both spellings. */
#define FP_B64 "SHA256:oFCDfYUHBYLM9zlLCYiEfMMSy4glm4lImfbyOc8XkaU"
#define FP_HEX "a0:50:83:7d:85:07:05:82:cc:f7:39:4b:09:88:84:7c:c3:12:cb:88:25:9b:" \
	       "89:48:99:f6:f2:39:cf:17:91:a5"
static const uint8_t fp_bytes[32] = {
    0xa0, 0x50, 0x83, 0x7d, 0x85, 0x07, 0x05, 0x82, 0xcc, 0xf7, 0x39,
    0x4b, 0x09, 0x88, 0x84, 0x7c, 0xc3, 0x12, 0xcb, 0x88, 0x25, 0x9b,
    0x89, 0x48, 0x99, 0xf6, 0xf2, 0x39, 0xcf, 0x17, 0x91, 0xa5};

static const char clients_yaml[] =
    "listen: 127.0.0.1:0\n"
    "clients:\n"
    "  - name: alice\n"
    "    token: ALICE-SECRET\n"
    "    allow_ports: 2200-2299, 8080\n"
    "    max_tunnels: 3\n"
    "    max_streams: 100\n"
    "  - name: bob.example\n"
    "    fingerprint: " FP_B64 "\n"
    "  - {name: Carol_2, token: CAROL-SECRET, fingerprint: \"" FP_HEX "\"}\n";

static void
check_clients(const struct config *cfg)
{
	assert_int_equal(cfg->nclients, 3);
	const struct client_entry *a = &cfg->clients[0], *b = &cfg->clients[1],
				  *c = &cfg->clients[2];
	assert_string_equal(a->name, "alice");
	assert_string_equal(a->token, "ALICE-SECRET");
	assert_false(a->has_fingerprint);
	assert_true(a->has_allow_ports);
	assert_int_equal(a->allow_ports.n, 2);
	assert_true(port_ranges_contains(&a->allow_ports, 2200));
	assert_true(port_ranges_contains(&a->allow_ports, 2299));
	assert_true(port_ranges_contains(&a->allow_ports, 8080));
	assert_false(port_ranges_contains(&a->allow_ports, 2300));
	assert_int_equal(a->max_tunnels, 3);
	assert_int_equal(a->max_streams, 100);

	assert_string_equal(b->name, "bob.example");
	assert_null(b->token);
	assert_true(b->has_fingerprint);
	assert_memory_equal(b->fingerprint, fp_bytes, 32);
	/* Unset limits and ports are 0 / none: the server-wide ones apply. */
	assert_false(b->has_allow_ports);
	assert_int_equal(b->max_tunnels, 0);
	assert_int_equal(b->max_streams, 0);

	assert_string_equal(c->name, "Carol_2");
	assert_string_equal(c->token, "CAROL-SECRET");
	assert_true(c->has_fingerprint);
	assert_memory_equal(c->fingerprint, fp_bytes, 32);

	assert_ptr_equal(config_client_find(cfg->clients, cfg->nclients, "alice"), a);
	assert_ptr_equal(config_client_find(cfg->clients, cfg->nclients, "bob.example"), b);
	assert_ptr_equal(config_client_find(cfg->clients, cfg->nclients, "Carol_2"), c);
	/* Names are compared whole and with their case. */
	assert_null(config_client_find(cfg->clients, cfg->nclients, "carol_2"));
	assert_null(config_client_find(cfg->clients, cfg->nclients, "alic"));
	assert_null(config_client_find(cfg->clients, cfg->nclients, "alice2"));
	assert_null(config_client_find(cfg->clients, cfg->nclients, ""));
	/* Only the first n entries are searched. */
	assert_null(config_client_find(cfg->clients, 2, "Carol_2"));
	assert_null(config_client_find(NULL, 0, "alice"));
}

/* A server with a clients: list needs no shared token. */
static void
test_clients_list(void **state)
{
	char *path = tmp_yaml(clients_yaml);
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_null(err);
	assert_null(cfg.token);
	check_clients(&cfg);
	config_free(&cfg);
	assert_null(cfg.clients);
	assert_int_equal(cfg.nclients, 0);

	/* With one, both. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "shared", NULL),
	    CONFIG_OK);
	assert_string_equal(cfg.token, "shared");
	check_clients(&cfg);
	config_free(&cfg);
	tmp_free(path);

	/* An empty list is no list: the shared token is needed again. */
	path = tmp_yaml("clients: []\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "burrow server: no token"));
	free(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL),
	    CONFIG_OK);
	assert_int_equal(cfg.nclients, 0);
	config_free(&cfg);
	tmp_free(path);

	/* The last clients: key wins, and the first list is not leaked (ASan). */
	path = tmp_yaml("clients:\n  - {name: a, token: x}\n  - {name: b, token: y}\n"
			"clients:\n  - {name: c, token: z}\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_int_equal(cfg.nclients, 1);
	assert_string_equal(cfg.clients[0].name, "c");
	config_free(&cfg);
	tmp_free(path);

	/* Bounds of the limits; the longest name. */
	path = tmp_yaml("clients:\n  - name: "
			"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n"
			"    token: t\n    max_tunnels: 1\n    max_streams: 1048576\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_int_equal(strlen(cfg.clients[0].name), 64);
	assert_int_equal(cfg.clients[0].max_tunnels, 1);
	assert_int_equal(cfg.clients[0].max_streams, 1048576);
	config_free(&cfg);
	tmp_free(path);
}

/* Every error in the list is "file:line: clients[N].key: why". */
static void
test_clients_errors(void **state)
{
	static const struct file_case cases[] = {
	    {ROLE_SERVER, "clients: alice\n", "1: clients: expected a list of clients"},
	    {ROLE_SERVER, "clients:\n  alice: x\n", "2: clients: expected a list of clients"},
	    {ROLE_SERVER, "clients:\n  - alice\n",
		"2: clients[0]: expected a mapping with name and token"},
	    {ROLE_SERVER, "clients:\n  - [alice, x]\n",
		"2: clients[0]: expected a mapping with name and token"},
	    {ROLE_SERVER, "clients:\n  - token: x\n", "2: clients[0]: missing name"},
	    {ROLE_SERVER, "clients:\n  - {name: a, token: x}\n  - {token: y}\n",
		"3: clients[1]: missing name"},
	    {ROLE_SERVER, "clients:\n  - name: a\n",
		"2: clients[0]: needs a token, a fingerprint, or both"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    max_tunnels: 2\n",
		"2: clients[0]: needs a token, a fingerprint, or both"},
	    {ROLE_SERVER, "clients:\n  - name: a b\n    token: x\n",
		"2: clients[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_SERVER, "clients:\n  - name: \"\"\n    token: x\n",
		"2: clients[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_SERVER, "clients:\n  - name: caf\xc3\xa9\n    token: x\n",
		"2: clients[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_SERVER,
		"clients:\n  - name: "
		"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n",
		"2: clients[0].name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: \"\"\n",
		"3: clients[0].token: must not be empty"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: [x, y]\n",
		"3: clients[0].token: expected a single value"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    fingerprint: SHA256:abc\n",
		"3: clients[0].fingerprint: expected SHA256: and 43 base64 characters"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: x\n    allow_ports: 10-5\n",
		"4: clients[0].allow_ports: range start is above its end"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: x\n    max_tunnels: 0\n",
		"4: clients[0].max_tunnels: number out of range (1 to 65536)"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: x\n    max_tunnels: -1\n",
		"4: clients[0].max_tunnels: number out of range (1 to 65536)"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: x\n    max_tunnels: 3x\n",
		"4: clients[0].max_tunnels: number out of range (1 to 65536)"},
	    {ROLE_SERVER, "clients:\n  - name: a\n    token: x\n    max_streams: 1048577\n",
		"4: clients[0].max_streams: number out of range (1 to 1048576)"},
	    {ROLE_SERVER,
		"clients:\n  - name: a\n    token: x\n    max_streams: 99999999999999999999999\n",
		"4: clients[0].max_streams: number out of range (1 to 1048576)"},
	    {ROLE_SERVER, "clients:\n  - {name: a, token: x}\n  - {name: b, token: y, port: 3}\n",
		"3: clients[1].port: unknown key (expected name, token, fingerprint, "
		"allow_ports, max_tunnels, max_streams, forward_to, domains)"},
	    {ROLE_SERVER, "clients:\n  - {[a]: 1}\n", "2: clients[0]: keys must be plain words"},
	    /* Names are unique; the line is the second entry's. */
	    {ROLE_SERVER,
		"clients:\n  - {name: a, token: x}\n  - {name: b, token: y}\n"
		"  - name: a\n    token: z\n",
		"4: clients[2].name: used twice"},
	    /* The list is the server's. */
	    {ROLE_CLIENT, "clients: []\n", "1: clients: a key of burrow server, not burrow client"},
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
			rc = load(&cfg, ROLE_SERVER, &err, "-c", path, NULL);
		if (rc != CONFIG_ERROR)
			fail_msg("case %zu accepted:\n%s", i, cases[i].yaml);
		char want[512];
		snprintf(want, sizeof want, "%s:%s", path, cases[i].want);
		if (err == NULL || strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i, err ? err : "(null)", want);
		free(err);
		config_free(&cfg);
		tmp_free(path);
	}
	/* "YAML only": not a flag. */
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--clients", "a", NULL),
	    CONFIG_ERROR);
	assert_string_equal(err, "burrow server: --clients 'a': only in a config file (a clients: list)");
	free(err);
	config_free(&cfg);
}

/* No client's token, nor the shared one, in any error about the list. */
static const char *const clients_secret_cases[] = {
    "token: SHARED-SECRET\nclients:\n  - name: a\n    token: TOKEN-SECRET\n    port: 1\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\n  - name: a\n    token: OTHER-SECRET\n",
    "clients:\n  - token: TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\n    max_tunnels: TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\n    fingerprint: TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\n    allow_ports: TOKEN-SECRET\n",
    "clients:\n  - name: TOKEN-SECRET!\n",
    "clients:\n  - TOKEN-SECRET\n",
    "clients: TOKEN-SECRET\n",
    "clients:\n  - name: a\n    tokn: TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token: [TOKEN-SECRET]\n",
    "clients:\n  - name: a\n    token: {x: TOKEN-SECRET}\n",
    "clients:\n  - name: a\n    token: \"TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token:TOKEN-SECRET\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\n  - {name: b, token: OTHER-SECRET, x: 1}\n",
    "clients:\n  - name: a\n    token: TOKEN-SECRET\nbogus: 1\n",
};

static void
assert_no_secret(const char *err, size_t i)
{
	assert_non_null(err);
	if (strstr(err, "SECRET") != NULL)
		fail_msg("case %zu: the error shows a token: %s", i, err);
}

static void
test_clients_tokens_never_in_errors(void **state)
{
	for (size_t i = 0; i < sizeof clients_secret_cases / sizeof clients_secret_cases[0]; i++) {
		char *path = tmp_yaml(clients_secret_cases[i]);
		struct config cfg;
		char *err = NULL;
		if (load(&cfg, ROLE_SERVER, &err, "-c", path, NULL) != CONFIG_ERROR)
			fail_msg("case %zu accepted", i);
		assert_no_secret(err, i);
		free(err);
		config_free(&cfg);
		/* The reload path says the same. */
		err = NULL;
		if (config_load_clients(&cfg, path, &err) != CONFIG_ERROR)
			fail_msg("case %zu accepted on reload", i);
		assert_no_secret(err, i);
		free(err);
		config_free(&cfg);
		tmp_free(path);
	}
}

/*
 * A missing space in a flow mapping makes "token:VALUE" one plain scalar,
 * a key, and unknown keys are named in the error: the token is printed (and
 * logged by the server on SIGHUP). Keys are printed up to ':', '=' or a blank.
 */
static void
test_clients_token_glued_to_key(void **state)
{
	static const char *const cases[] = {
	    "clients:\n  - {name: a, token:TOKEN-SECRET}\n",
	    "{token:TOKEN-SECRET}\n",
	    "clients:\n  - name: a\n    ? token TOKEN-SECRET\n",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *path = tmp_yaml(cases[i]);
		struct config cfg;
		char *err = NULL;
		assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL),
		    CONFIG_ERROR);
		assert_no_secret(err, i);
		free(err);
		config_free(&cfg);
		tmp_free(path);
	}
}

/* SIGHUP: the list again from the file, nothing else required. */
static void
test_load_clients(void **state)
{
	char *path = tmp_yaml(clients_yaml);
	struct config cfg;
	char *err = NULL;
	assert_int_equal(config_load_clients(&cfg, path, &err), CONFIG_OK);
	assert_null(err);
	assert_int_equal(cfg.role, ROLE_SERVER);
	check_clients(&cfg);
	/* The rest is defaults and the file. */
	assert_string_equal(cfg.listen.host, "127.0.0.1");
	assert_int_equal(cfg.max_tunnels, 64);
	config_free(&cfg);
	tmp_free(path);

	/* A file without the list: an empty list (every named client revoked). */
	path = tmp_yaml("token: t\n");
	assert_int_equal(config_load_clients(&cfg, path, &err), CONFIG_OK);
	assert_int_equal(cfg.nclients, 0);
	assert_null(cfg.clients);
	config_free(&cfg);
	tmp_free(path);

	/* A bad entry refuses the file, with its line; what was parsed is freed
	 * by config_free (ASan). */
	path = tmp_yaml("clients:\n"
			"  - {name: a, token: A-SECRET}\n"
			"  - {name: b, token: B-SECRET}\n"
			"  - name: c\n"
			"    max_streams: 0\n");
	assert_int_equal(config_load_clients(&cfg, path, &err), CONFIG_ERROR);
	assert_err_at(err, path, "5: clients[2].max_streams: number out of range");
	assert_null(strstr(err, "SECRET"));
	free(err);
	config_free(&cfg);
	tmp_free(path);

	/* Any bad key refuses it, not only the list's. */
	path = tmp_yaml("clients:\n  - {name: a, token: x}\nheartbeat: nope\n");
	assert_int_equal(config_load_clients(&cfg, path, &err), CONFIG_ERROR);
	assert_err_at(err, path, "3: heartbeat: ");
	free(err);
	config_free(&cfg);
	tmp_free(path);

	path = tmp_yaml("clients:\n  - {name: a, token: x}\n  - {name: a, token: y}\n");
	assert_int_equal(config_load_clients(&cfg, path, &err), CONFIG_ERROR);
	assert_err_at(err, path, "3: clients[1].name: used twice");
	free(err);
	config_free(&cfg);
	tmp_free(path);

	const char *gone = "/tmp/burrow-test-clients-gone.yaml";
	unlink(gone);
	assert_int_equal(config_load_clients(&cfg, gone, &err), CONFIG_ERROR);
	assert_string_equal(err, "/tmp/burrow-test-clients-gone.yaml: No such file or directory");
	free(err);
	config_free(&cfg);
}

/* ---- TLS and names ---- */

static void
test_tls_defaults(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R", "1:h:1",
			     NULL), CONFIG_OK);
	assert_int_equal(cfg.transport, TRANSPORT_TCP);
	assert_false(cfg.has_fingerprint);
	assert_null(cfg.ca);
	assert_false(cfg.trust_on_first_use);
	assert_null(cfg.known_servers);
	assert_null(cfg.tls_ciphersuites);
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_key);
	assert_null(cfg.name);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", NULL), CONFIG_OK);
	assert_null(cfg.state_dir);
	assert_false(cfg.require_tls);
	assert_null(cfg.tls_client_ca);
	assert_null(cfg.tls_cert);
	assert_int_equal(cfg.nclients, 0);
	config_free(&cfg);
}

/* --server names the transport as a URL; the host and port are as before. */
static void
test_server_urls(void **state)
{
	static const struct {
		const char *server;
		int transport;
		const char *host;
		uint16_t port;
	} ok[] = {
	    {"tls://relay.example:7443", TRANSPORT_TLS, "relay.example", 7443},
	    {"tls://relay.example", TRANSPORT_TLS, "relay.example", DEFAULT_CONTROL_PORT},
	    {"tls://[::1]:9", TRANSPORT_TLS, "::1", 9},
	    {"tcp://10.0.0.1:80", TRANSPORT_TCP, "10.0.0.1", 80},
	    {"tcp://relay", TRANSPORT_TCP, "relay", DEFAULT_CONTROL_PORT},
	    {"relay:1", TRANSPORT_TCP, "relay", 1},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct config cfg;
		char *err = NULL;
		if (load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-R", "1:h:1", "--server",
			ok[i].server, NULL) != CONFIG_OK)
			fail_msg("'%s' refused: %s", ok[i].server, err);
		assert_int_equal(cfg.transport, ok[i].transport);
		assert_string_equal(cfg.server.host, ok[i].host);
		assert_int_equal(cfg.server.port, ok[i].port);
		config_free(&cfg);
	}

	static const struct {
		const char *server, *want;
	} bad[] = {
	    {"udp://h:1", "burrow client: --server 'udp://h:1': expected HOST[:PORT] "
			  "or a URL: tcp://, tls://, ws://, wss://, http:// or https://"},
	    {"ftp://h", "burrow client: --server 'ftp://h': expected HOST[:PORT] "
			  "or a URL: tcp://, tls://, ws://, wss://, http:// or https://"},
	    {"tls://h/x", "burrow client: --server 'tls://h/x': only ws://, wss://, "
			  "http:// and https:// URLs have a path"},
	    {"tls://h:0", "burrow client: --server 'tls://h:0': expected HOST[:PORT] with "
			  "a port from 1 to 65535"},
	    {"tls://", "burrow client: --server 'tls://': "},
	    {"tls://tcp://h", "burrow client: --server 'tls://tcp://h': "},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config cfg;
		char *err = NULL;
		if (load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-R", "1:h:1", "--server",
			bad[i].server, NULL) != CONFIG_ERROR)
			fail_msg("'%s' accepted", bad[i].server);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("got '%s', want '%s...'", err, bad[i].want);
		free(err);
		config_free(&cfg);
	}

	/* The file sets it as well; a flag after it wins. */
	char *path = tmp_yaml("server: tls://relay:7443\ntoken: x\ntunnels:\n"
			      "  - {remote: 1, local: \"h:1\"}\n");
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, NULL), CONFIG_OK);
	assert_int_equal(cfg.transport, TRANSPORT_TLS);
	assert_int_equal(cfg.server.port, 7443);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, "--transport", "tcp",
			     NULL), CONFIG_OK);
	assert_int_equal(cfg.transport, TRANSPORT_TCP);
	config_free(&cfg);
	tmp_free(path);
	path = tmp_yaml("server: relay\ntransport: tls\ntoken: x\ntunnels:\n"
			"  - {remote: 1, local: \"h:1\"}\n");
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, NULL), CONFIG_OK);
	assert_int_equal(cfg.transport, TRANSPORT_TLS);
	config_free(&cfg);
	tmp_free(path);
}

static void
test_tls_client_flags(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R", "1:h:1",
			     "--transport", "tls", "--fingerprint", FP_B64, "--ca", "/etc/ca.pem",
			     "--trust-on-first-use", "yes", "--known-servers=/k/known",
			     "--tls-ciphersuites", "TLS_AES_128_GCM_SHA256",
			     "--tls-cert", "/c.pem", "--tls-key", "/k.pem", "-n", "edge-1",
			     NULL), CONFIG_OK);
	assert_null(err);
	assert_int_equal(cfg.transport, TRANSPORT_TLS);
	assert_true(cfg.has_fingerprint);
	assert_memory_equal(cfg.fingerprint, fp_bytes, 32);
	assert_string_equal(cfg.ca, "/etc/ca.pem");
	assert_true(cfg.trust_on_first_use);
	assert_string_equal(cfg.known_servers, "/k/known");
	assert_string_equal(cfg.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_string_equal(cfg.tls_cert, "/c.pem");
	assert_string_equal(cfg.tls_key, "/k.pem");
	assert_string_equal(cfg.name, "edge-1");
	config_free(&cfg);

	/* The hex form; the last of a repeated path wins (the first is freed). */
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "tls://h", "-R",
			     "1:h:1", "--fingerprint=" FP_HEX, "--ca", "/a", "--ca", "/b",
			     "--name=n1", "--name", "n2", NULL), CONFIG_OK);
	assert_memory_equal(cfg.fingerprint, fp_bytes, 32);
	assert_string_equal(cfg.ca, "/b");
	assert_string_equal(cfg.name, "n2");
	config_free(&cfg);

	/* yes/no and true/false. */
	static const struct {
		const char *v;
		int want;
	} bools[] = {{"yes", 1}, {"true", 1}, {"no", 0}, {"false", 0}};
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R",
				     "1:h:1", "--trust-on-first-use", bools[i].v, NULL),
		    CONFIG_OK);
		assert_int_equal(cfg.trust_on_first_use, bools[i].want);
		config_free(&cfg);
	}

	/* A named client with a certificate needs no token; without either, it does. */
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "tls://h", "-R", "1:h:1",
			     "-n", "edge-1", "--tls-cert", "/c", "--tls-key", "/k", NULL),
	    CONFIG_OK);
	assert_null(cfg.token);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "tls://h", "-R", "1:h:1",
			     "-n", "edge-1", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "burrow client: no token"));
	free(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-s", "tls://h", "-R", "1:h:1",
			     "--tls-cert", "/c", "--tls-key", "/k", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "burrow client: no token"));
	free(err);
	config_free(&cfg);
}

static void
test_tls_server_flags(void **state)
{
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", "--state-dir", "/var/s",
			     "--tls-cert", "/c.pem", "--tls-key=/k.pem", "--require-tls", "yes",
			     "--tls-client-ca", "/ca.pem", NULL), CONFIG_OK);
	assert_null(err);
	assert_string_equal(cfg.state_dir, "/var/s");
	assert_string_equal(cfg.tls_cert, "/c.pem");
	assert_string_equal(cfg.tls_key, "/k.pem");
	assert_true(cfg.require_tls);
	assert_string_equal(cfg.tls_client_ca, "/ca.pem");
	config_free(&cfg);

	char *path = tmp_yaml("token: x\nstate_dir: /s\ntls_cert: /c\ntls_key: /k\n"
			      "require_tls: true\ntls_client_ca: /ca\n");
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, NULL), CONFIG_OK);
	assert_string_equal(cfg.state_dir, "/s");
	assert_string_equal(cfg.tls_cert, "/c");
	assert_string_equal(cfg.tls_key, "/k");
	assert_true(cfg.require_tls);
	assert_string_equal(cfg.tls_client_ca, "/ca");
	config_free(&cfg);
	/* Flags override the file (and the file's string is freed: ASan). */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-c", path, "--state-dir", "/t",
			     "--require-tls", "no", NULL), CONFIG_OK);
	assert_string_equal(cfg.state_dir, "/t");
	assert_false(cfg.require_tls);
	config_free(&cfg);
	tmp_free(path);

	path = tmp_yaml("server: tls://h:1\ntoken: x\nfingerprint: " FP_B64 "\n"
			"ca: /ca\ntrust_on_first_use: yes\nknown_servers: /k\n"
			"tls_ciphersuites: TLS_CHACHA20_POLY1305_SHA256\n"
			"tls_cert: /c\ntls_key: /k\nname: edge\ntransport: tls\n"
			"tunnels:\n  - {remote: 1, local: \"h:1\"}\n");
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-c", path, NULL), CONFIG_OK);
	assert_null(err);
	assert_true(cfg.has_fingerprint);
	assert_memory_equal(cfg.fingerprint, fp_bytes, 32);
	assert_string_equal(cfg.ca, "/ca");
	assert_true(cfg.trust_on_first_use);
	assert_string_equal(cfg.known_servers, "/k");
	assert_string_equal(cfg.tls_ciphersuites, "TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(cfg.tls_cert, "/c");
	assert_string_equal(cfg.name, "edge");
	config_free(&cfg);
	tmp_free(path);
}

static void
test_tls_errors(void **state)
{
	static const struct {
		enum role role;
		const char *a, *b;
		const char *want;
	} cases[] = {
	    {ROLE_CLIENT, "--transport", "quic", "burrow client: --transport 'quic': expected tcp, tls, ws, wss, http, https or auto"},
	    {ROLE_CLIENT, "--transport", "TLS", "burrow client: --transport 'TLS': expected tcp, tls, ws, wss, http, https or auto"},
	    {ROLE_CLIENT, "--fingerprint", "nope",
		"burrow client: --fingerprint 'nope': expected SHA256: and 43 base64 "
		"characters (as the server logs it), or 64 hex digits"},
	    {ROLE_CLIENT, "--ca", "", "burrow client: --ca '': must not be empty"},
	    {ROLE_CLIENT, "--known-servers", "", "burrow client: --known-servers '': must not be empty"},
	    {ROLE_CLIENT, "--trust-on-first-use", "maybe",
		"burrow client: --trust-on-first-use 'maybe': expected yes or no"},
	    {ROLE_CLIENT, "--name", "a b", "burrow client: --name 'a b': use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT, "-n", "", "burrow client: --name '': use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT, "-n",
		"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
		"burrow client: --name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn': "
		"use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_SERVER, "--require-tls", "1", "burrow server: --require-tls '1': expected yes or no"},
	    {ROLE_SERVER, "--state-dir", "", "burrow server: --state-dir '': must not be empty"},
	    /* Each role's keys are its own. */
	    {ROLE_SERVER, "--fingerprint", FP_B64,
		"burrow server: '--fingerprint' is an option of burrow client (see burrow server --help)"},
	    {ROLE_SERVER, "--transport", "tls",
		"burrow server: '--transport' is an option of burrow client (see burrow server --help)"},
	    {ROLE_SERVER, "-n", "a",
		"burrow server: '-n' is an option of burrow client (see burrow server --help)"},
	    {ROLE_CLIENT, "--state-dir", "/s",
		"burrow client: '--state-dir' is an option of burrow server (see burrow client --help)"},
	    {ROLE_CLIENT, "--require-tls", "yes",
		"burrow client: '--require-tls' is an option of burrow server (see burrow client --help)"},
	    {ROLE_CLIENT, "--tls-client-ca", "/ca",
		"burrow client: '--tls-client-ca' is an option of burrow server (see burrow client --help)"},
	    /* Checks across options. */
	    {ROLE_SERVER, "--tls-cert", "/c", "burrow server: --tls-cert and --tls-key go together"},
	    {ROLE_SERVER, "--tls-key", "/k", "burrow server: --tls-cert and --tls-key go together"},
	    {ROLE_CLIENT, "--fingerprint", FP_B64,
		"burrow client: --fingerprint, --ca, --tls-cert and --sni need --transport "
		"tls, wss or auto (or --server tls://HOST:PORT)"},
	    {ROLE_CLIENT, "--ca", "/ca",
		"burrow client: --fingerprint, --ca, --tls-cert and --sni need --transport "
		"tls, wss or auto (or --server tls://HOST:PORT)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		char *err = NULL;
		enum config_result rc;
		if (cases[i].role == ROLE_CLIENT)
			rc = load(&cfg, ROLE_CLIENT, &err, "-t", "tok", "-s", "h", "-R", "1:h:1",
			    cases[i].a, cases[i].b, NULL);
		else
			rc = load(&cfg, ROLE_SERVER, &err, "-t", "tok", cases[i].a, cases[i].b,
			    NULL);
		if (rc != CONFIG_ERROR)
			fail_msg("case %zu (%s %s): accepted", i, cases[i].a, cases[i].b);
		if (err == NULL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, err ? err : "(null)",
			    cases[i].want);
		free(err);
		config_free(&cfg);
	}

	/* A client: one without the other, and a certificate over plain TCP. */
	struct config cfg;
	char *err = NULL;
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "tls://h", "-R",
			     "1:h:1", "--tls-key", "/k", NULL), CONFIG_ERROR);
	assert_string_equal(err, "burrow client: --tls-cert and --tls-key go together");
	free(err);
	config_free(&cfg);
	assert_int_equal(load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-R",
			     "1:h:1", "--tls-cert", "/c", "--tls-key", "/k", NULL), CONFIG_ERROR);
	assert_non_null(strstr(err, "need --transport tls"));
	free(err);
	config_free(&cfg);

	/* In a file: file:line: key: why, and the role's keys only. */
	static const struct file_case fcases[] = {
	    {ROLE_CLIENT, "transport: udp\n", "1: transport: expected tcp, tls, ws, wss, http, https or auto"},
	    {ROLE_CLIENT, "fingerprint: SHA256:x\n",
		"1: fingerprint: expected SHA256: and 43 base64 characters"},
	    {ROLE_CLIENT, "name: a/b\n", "1: name: use 1 to 64 of A-Z a-z 0-9 . _ -"},
	    {ROLE_CLIENT, "trust_on_first_use: sometimes\n", "1: trust_on_first_use: expected yes or no"},
	    {ROLE_CLIENT, "ca: \"\"\n", "1: ca: must not be empty"},
	    {ROLE_CLIENT, "state_dir: /s\n", "1: state_dir: a key of burrow server, not burrow client"},
	    {ROLE_CLIENT, "require_tls: yes\n", "1: require_tls: a key of burrow server, not burrow client"},
	    {ROLE_SERVER, "name: a\n", "1: name: a key of burrow client, not burrow server"},
	    {ROLE_SERVER, "fingerprint: " FP_B64 "\n",
		"1: fingerprint: a key of burrow client, not burrow server"},
	    {ROLE_SERVER, "known_servers: /k\n", "1: known_servers: a key of burrow client, not burrow server"},
	    {ROLE_SERVER, "tls_cert: [a]\n", "1: tls_cert: expected a single value"},
	};
	for (size_t i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
		char *path = tmp_yaml(fcases[i].yaml);
		enum config_result rc;
		err = NULL;
		if (fcases[i].role == ROLE_CLIENT)
			rc = load(&cfg, ROLE_CLIENT, &err, "-c", path, "-t", "x", "-s",
			    "tls://h", "-R", "1:h:1", NULL);
		else
			rc = load(&cfg, ROLE_SERVER, &err, "-c", path, "-t", "x", NULL);
		if (rc != CONFIG_ERROR)
			fail_msg("file case %zu accepted:\n%s", i, fcases[i].yaml);
		char want[512];
		snprintf(want, sizeof want, "%s:%s", path, fcases[i].want);
		if (err == NULL || strncmp(err, want, strlen(want)) != 0)
			fail_msg("file case %zu: got '%s', want '%s...'", i,
			    err ? err : "(null)", want);
		free(err);
		config_free(&cfg);
		tmp_free(path);
	}
}

/* --help and the reference know the new keys, each for its role. */
static void
test_usage_tls_and_clients(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	config_usage(ROLE_CLIENT, f);
	fclose(f);
	assert_non_null(strstr(buf, "-n, --name NAME"));
	assert_non_null(strstr(buf, "--transport tcp|tls"));
	assert_non_null(strstr(buf, "--fingerprint SHA256:KEY"));
	assert_non_null(strstr(buf, "--trust-on-first-use"));
	assert_null(strstr(buf, "--state-dir"));
	assert_null(strstr(buf, "--clients"));
	free(buf);

	f = open_memstream(&buf, &len);
	config_usage(ROLE_SERVER, f);
	fclose(f);
	assert_non_null(strstr(buf, "--state-dir DIR"));
	assert_non_null(strstr(buf, "--require-tls"));
	assert_non_null(strstr(buf, "--tls-client-ca FILE"));
	assert_non_null(strstr(buf, "--tls-cert FILE"));
	assert_null(strstr(buf, "--fingerprint"));
	assert_null(strstr(buf, "--name"));
	free(buf);

	f = open_memstream(&buf, &len);
	config_reference(f);
	fclose(f);
	assert_non_null(strstr(buf, "| `clients` | `--clients` | server |"));
	assert_non_null(strstr(buf, "| `name` | `-n`, `--name` | client |"));
	assert_non_null(strstr(buf, "| `tls_cert` | `--tls-cert` | both |"));
	free(buf);
}

/* ---- HTTP tunnels and the server's HTTP port ---- */

struct want_hopt {
	int key;
	const char *value;
};

static void
assert_hopts(const struct tunnel_cfg *t, const struct want_hopt *w, size_t n)
{
	assert_int_equal(t->nhopts, n);
	for (size_t i = 0; i < n; i++) {
		if (t->hopts[i].key != w[i].key || strcmp(t->hopts[i].value, w[i].value) != 0)
			fail_msg("option %zu: got %d '%s', want %d '%s'", i, t->hopts[i].key,
			    t->hopts[i].value, w[i].key, w[i].value);
	}
}

/* Every key of type http at once: MSG_HOPTS_MAX options, in the file's order. */
static void
test_file_http_tunnels(void **state)
{
	char *path = tmp_yaml(
	    "server: relay.example\n"
	    "token: abc\n"
	    "tunnels:\n"
	    "  - name: web\n"
	    "    type: http\n"
	    "    domains: a.test, B.Test\n"
	    "    subdomain: app\n"
	    "    paths: /api, /v2/\n"
	    "    host_header_rewrite: localhost:3000\n"
	    "    basic_auth:\n"
	    "      - alice:" CFG_HASH6 "\n"
	    "      - bob:" CFG_HASHY "\n"
	    "      - carol:" CFG_HASH2B "\n"
	    "      - dave:" CFG_HASH5 "\n"
	    "    request_headers:\n"
	    "      set:\n"
	    "        X-Env: prod\n"
	    "        X-Team: blue\n"
	    "        X-Empty: \"\"\n"
	    "        X-Time: \"12:30\"\n"
	    "        X-Quoted: \"a, b; c\"\n"
	    "      remove: [Cookie, X-Debug, X-A, X-B, X-C, X-D]\n"
	    "    local: 127.0.0.1:3000\n"
	    "    data_path: mux\n"
	    /* No names at all: a random one under the server's domain. */
	    "  - type: http\n"
	    "    local: h:2\n"
	    /* A lone label; basic_auth as one value; set before remove. */
	    "  - type: http\n"
	    "    subdomain: app2\n"
	    "    basic_auth: alice:" CFG_HASH6 "\n"
	    "    request_headers: {remove: Cookie, set: {X-A: b}}\n"
	    "    local: h:3\n"
	    /* Paths without names. */
	    "  - type: http\n"
	    "    paths: /\n"
	    "    local: h:4\n"
	    /* Names only, upper case and a wildcard. */
	    "  - type: http\n"
	    "    domains: \"*.Dev.test\"\n"
	    "    local: h:5\n");
	struct config cfg;
	char *err = NULL;
	if (load(&cfg, ROLE_CLIENT, &err, "-c", path, NULL) != CONFIG_OK)
		fail_msg("refused: %s", err);
	assert_null(err);
	assert_int_equal(cfg.ntunnels, 5);

	const struct tunnel_cfg *t = &cfg.tunnels[0];
	assert_string_equal(t->name, "web");
	assert_int_equal(t->type, TUNNEL_HTTP_VHOST);
	/* Names lower-cased, the subdomain after them, then ';' and the paths. */
	assert_string_equal(t->extra, "a.test,b.test,app;/api,/v2/");
	assert_string_equal(t->local.host, "127.0.0.1");
	assert_int_equal(t->local.port, 3000);
	assert_int_equal(t->remote.port, 0);
	assert_true(t->mux_only);
	assert_false(t->udp);
	static const struct want_hopt all[] = {
	    {HOPT_HOST, "localhost:3000"},
	    {HOPT_AUTH, "alice:" CFG_HASH6},
	    {HOPT_AUTH, "bob:" CFG_HASHY},
	    {HOPT_AUTH, "carol:" CFG_HASH2B},
	    {HOPT_AUTH, "dave:" CFG_HASH5},
	    {HOPT_SET, "X-Env: prod"},
	    {HOPT_SET, "X-Team: blue"},
	    {HOPT_SET, "X-Empty: "},
	    {HOPT_SET, "X-Time: 12:30"},
	    {HOPT_SET, "X-Quoted: a, b; c"},
	    {HOPT_REMOVE, "Cookie"},
	    {HOPT_REMOVE, "X-Debug"},
	    {HOPT_REMOVE, "X-A"},
	    {HOPT_REMOVE, "X-B"},
	    {HOPT_REMOVE, "X-C"},
	    {HOPT_REMOVE, "X-D"},
	};
	assert_int_equal(sizeof all / sizeof all[0], MSG_HOPTS_MAX);
	assert_hopts(t, all, MSG_HOPTS_MAX);

	t = &cfg.tunnels[1];
	assert_string_equal(t->name, "t2");
	assert_int_equal(t->type, TUNNEL_HTTP_VHOST);
	assert_string_equal(t->extra, "");
	assert_int_equal(t->nhopts, 0);
	assert_string_equal(t->local.host, "h");
	assert_int_equal(t->local.port, 2);

	t = &cfg.tunnels[2];
	assert_string_equal(t->extra, "app2");
	static const struct want_hopt three[] = {
	    {HOPT_AUTH, "alice:" CFG_HASH6},
	    {HOPT_REMOVE, "Cookie"},
	    {HOPT_SET, "X-A: b"},
	};
	assert_hopts(t, three, 3);

	assert_string_equal(cfg.tunnels[3].extra, ";/");
	assert_string_equal(cfg.tunnels[4].extra, "*.dev.test");
	config_free(&cfg);
	tmp_free(path);
}

/* -R http: tunnels are r1, r2... like the other -R ones, after the file's. */
static void
test_flag_http_tunnels(void **state)
{
	char *path = tmp_yaml("tunnels:\n  - {type: http, subdomain: f, local: \"h:9\"}\n");
	struct config cfg;
	char *err = NULL;
	if (load(&cfg, ROLE_CLIENT, &err, "-t", "x", "-s", "h", "-c", path, "-R",
		"http:app:localhost:3000", "-R", "1:h:1", "-R", "http:localhost:3001", "-R",
		"https:a.test:h:443", "-L", "2:h:2", "-R",
		"http:a.test,*.b.test:[::1]:3002", NULL) != CONFIG_OK)
		fail_msg("refused: %s", err);
	assert_int_equal(cfg.ntunnels, 7);
	static const struct {
		const char *name, *extra;
		int type;
	} want[] = {
	    {"t1", "f", TUNNEL_HTTP_VHOST},
	    {"r1", "app", TUNNEL_HTTP_VHOST},
	    {"r2", "", TUNNEL_REMOTE},
	    {"r3", "", TUNNEL_HTTP_VHOST},
	    {"r4", "a.test", TUNNEL_HTTPS_SNI},
	    {"l1", "", TUNNEL_LOCAL},
	    {"r5", "a.test,*.b.test", TUNNEL_HTTP_VHOST},
	};
	for (size_t i = 0; i < cfg.ntunnels; i++) {
		assert_string_equal(cfg.tunnels[i].name, want[i].name);
		assert_string_equal(cfg.tunnels[i].extra, want[i].extra);
		assert_int_equal(cfg.tunnels[i].type, want[i].type);
		assert_int_equal(cfg.tunnels[i].nhopts, 0);
	}
	assert_string_equal(cfg.tunnels[3].local.host, "localhost");
	assert_int_equal(cfg.tunnels[3].local.port, 3001);
	assert_string_equal(cfg.tunnels[6].local.host, "::1");
	config_free(&cfg);
	tmp_free(path);
}

/*
 * domains and subdomain, or paths, that together overflow the extra field:
 * MSG_EXTRA_MAX (512) bytes fit, 513 do not.
 */
static void
test_file_http_extra_overflow(void **state)
{
	/* Eight names of 62 bytes and their commas: 503 bytes of domains. */
	char names[8 * 63 + 1] = "";
	for (int i = 0; i < 8; i++) {
		char n[64];
		memset(n, 'a' + i, 57);
		snprintf(n + 57, sizeof n - 57, ".test");
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
		    i ? "," : "", n);
	}
	assert_int_equal(strlen(names), 503);
	static const struct {
		const char *extra_key; /* the key added to the 503 bytes of domains */
		const char *want;      /* NULL: accepted */
		const char *extra;     /* accepted: what follows the names in extra */
	} cases[] = {
	    {"subdomain: abcdefgh", NULL, ",abcdefgh"}, /* 512 bytes */
	    {"subdomain: abcdefghi", "domains and subdomain together are over 511 bytes",
		NULL},
	    {"paths: /abcdefg", NULL, ";/abcdefg"}, /* 512 bytes */
	    {"paths: /abcdefgh", "domains and paths together are over 511 bytes", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char yaml[1024];
		snprintf(yaml, sizeof yaml, "tunnels:\n  - type: http\n    domains: %s\n"
		    "    %s\n    local: h:1\n", names, cases[i].extra_key);
		char *path = tmp_yaml(yaml);
		struct config cfg;
		char *err = NULL;
		enum config_result rc = load(&cfg, ROLE_CLIENT, &err, "-c", path, "-t", "x",
		    "-s", "h", NULL);
		if (cases[i].want == NULL) {
			if (rc != CONFIG_OK)
				fail_msg("case %zu refused: %s", i, err);
			char want[MSG_EXTRA_MAX + 1];
			snprintf(want, sizeof want, "%s%s", names, cases[i].extra);
			assert_int_equal(strlen(cfg.tunnels[0].extra), MSG_EXTRA_MAX);
			assert_string_equal(cfg.tunnels[0].extra, want);
		} else {
			assert_int_equal(rc, CONFIG_ERROR);
			char want[256];
			snprintf(want, sizeof want, "2: tunnels[0]: %s", cases[i].want);
			assert_err_at(err, path, want);
			free(err);
		}
		config_free(&cfg);
		tmp_free(path);
	}
}

static void
test_file_http_server_keys(void **state)
{
	struct config cfg;
	char *err = NULL;
	/* Unset: no HTTP port, no domain, no trusted proxies, 60 s. */
	assert_int_equal(load(&cfg, ROLE_SERVER, &err, "-t", "x", NULL), CONFIG_OK);
	assert_false(cfg.has_http_listen);
	assert_null(cfg.domain);
	assert_null(cfg.trusted_proxies);
	assert_int_equal(cfg.response_timeout_ms, 60000);
	config_free(&cfg);

	char *path = tmp_yaml(
	    "token: t\n"
	    "http: 0.0.0.0\n"
	    "domain: tunnel.example.test\n"
	    "trusted_proxies: \"10.0.0.0/8:*, 192.0.2.7:443, [fd00::]/8:*\"\n"
	    "response_timeout: 100ms\n");
	if (load(&cfg, ROLE_SERVER, &err, "-c", path, NULL) != CONFIG_OK)
		fail_msg("refused: %s", err);
	assert_true(cfg.has_http_listen);
	assert_string_equal(cfg.http_listen.host, "0.0.0.0");
	assert_int_equal(cfg.http_listen.port, 80);
	assert_string_equal(cfg.domain, "tunnel.example.test");
	assert_non_null(cfg.trusted_proxies);
	assert_int_equal(cfg.trusted_proxies->nnames, 0);
	assert_int_equal(cfg.trusted_proxies->nnets, 3);
	assert_int_equal(cfg.trusted_proxies->nets[1].lo, 443);
	assert_int_equal(cfg.response_timeout_ms, 100);
	config_free(&cfg);
	tmp_free(path);

	/* Flags: the other end of the range, a port, none. */
	if (load(&cfg, ROLE_SERVER, &err, "-t", "x", "--http", "[::]:8080",
		"--response-timeout", "1h", "--trusted-proxies", "none", "--domain",
		"a-b.c1.test", NULL) != CONFIG_OK)
		fail_msg("refused: %s", err);
	assert_string_equal(cfg.http_listen.host, "::");
	assert_int_equal(cfg.http_listen.port, 8080);
	assert_int_equal(cfg.response_timeout_ms, 3600000);
	assert_null(cfg.trusted_proxies);
	assert_string_equal(cfg.domain, "a-b.c1.test");
	config_free(&cfg);
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
	    cmocka_unit_test_setup(test_file_http_tunnels, setup),
	    cmocka_unit_test_setup(test_flag_http_tunnels, setup),
	    cmocka_unit_test_setup(test_file_http_extra_overflow, setup),
	    cmocka_unit_test_setup(test_file_http_server_keys, setup),
	    cmocka_unit_test_setup(test_duplicate_tunnel_names, setup),
	    cmocka_unit_test_setup(test_reload_after_error, setup),
	    cmocka_unit_test_setup(test_usage_and_reference, setup),
	    cmocka_unit_test_setup(test_clients_list, setup),
	    cmocka_unit_test_setup(test_clients_errors, setup),
	    cmocka_unit_test_setup(test_clients_tokens_never_in_errors, setup),
	    cmocka_unit_test_setup(test_clients_token_glued_to_key, setup),
	    cmocka_unit_test_setup(test_load_clients, setup),
	    cmocka_unit_test_setup(test_tls_defaults, setup),
	    cmocka_unit_test_setup(test_server_urls, setup),
	    cmocka_unit_test_setup(test_tls_client_flags, setup),
	    cmocka_unit_test_setup(test_tls_server_flags, setup),
	    cmocka_unit_test_setup(test_tls_errors, setup),
	    cmocka_unit_test_setup(test_usage_tls_and_clients, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
