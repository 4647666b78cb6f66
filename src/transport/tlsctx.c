/*
 * TLS contexts and trust: the server's key and certificate (generated on
 * first start, or from files), the client's ways to trust a server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "transport/tls-t.h"
#include "util/log.h"
#include "util/str.h"

/* AES-GCM first: with AES instructions the fastest; a client that prefers
 * ChaCha20 (no AES instructions) gets it (SSL_OP_PRIORITIZE_CHACHA). */
#define TLS_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define CERT_DAYS (365 * 20)

const char *
tls_errstr(const char *fallback)
{
	static __thread char buf[160];
	unsigned long e = ERR_get_error(), last = e;
	while (e != 0) {
		last = e;
		e = ERR_get_error();
	}
	const char *r = last ? ERR_reason_error_string(last) : NULL;
	snprintf(buf, sizeof buf, "%s", r ? r : fallback);
	return buf;
}

int
tls_spki_fingerprint(X509 *cert, uint8_t fp[FINGERPRINT_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0)
		return -1;
	fingerprint_of_spki(der, (size_t)n, fp);
	OPENSSL_free(der);
	return 0;
}

/* ---- files ---- */

/* mkdir -p with mode for each new level. */
int
mkdirs(const char *path, mode_t mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* The default state directory: /var/lib/burrow for root, else the XDG one. */
char *
state_dir_default(void)
{
	if (geteuid() == 0)
		return strdup("/var/lib/burrow");
	const char *x = getenv("XDG_STATE_HOME");
	if (x != NULL && x[0] == '/')
		return xasprintf("%s/burrow", x);
	const char *home = getenv("HOME");
	return xasprintf("%s/.local/state/burrow", home && *home ? home : ".");
}

/* Writes a PEM file atomically (temporary file, then rename) with mode. */
static int
pem_write(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
	if (tmp == NULL)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok = f != NULL &&
	    (key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_X509(f, cert)) == 1;
	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	else if (fd >= 0)
		close(fd);
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

/* A P-256 key and a self-signed certificate for it. */
static int
cert_generate(const char *cert_path, const char *key_path, char **err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	int ok = key && x && serial && X509_set_version(x, X509_VERSION_3) &&
	    BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	    X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) &&
	    X509_set_pubkey(x, key) &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
		(const unsigned char *)"burrow server", -1, -1, 0) &&
	    X509_set_issuer_name(x, X509_get_subject_name(x)) &&
	    X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok)
		*err = xasprintf("cannot generate a TLS key: %s", tls_errstr("?"));
	else if (pem_write(key_path, 0600, key, NULL) != 0 ||
	    pem_write(cert_path, 0644, NULL, x) != 0) {
		*err = xasprintf("cannot write %s: %s", key_path, strerror(errno));
		ok = 0;
	}
	BN_free(serial);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

/*
 * The generation in a child process: OpenSSL's key generation loads its
 * provider tables (megabytes, resident for good), which a server that has
 * not yet seen a TLS client should not carry. The child writes the files.
 */
static int
cert_generate_apart(const char *cert_path, const char *key_path, char **err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return cert_generate(cert_path, key_path, err);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cert_generate(cert_path, key_path, err);
	}
	if (pid == 0) {
		close(fds[0]);
		char *why = NULL;
		int rc = cert_generate(cert_path, key_path, &why);
		if (rc != 0 && why != NULL && write(fds[1], why, strlen(why)) < 0)
			rc = -1;
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	char why[512];
	ssize_t n, len = 0;
	while (len < (ssize_t)sizeof why - 1 &&
	    (n = read(fds[0], why + len, sizeof why - 1 - (size_t)len)) > 0)
		len += n;
	why[len] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	*err = xasprintf("%s", len > 0 ? why : "cannot generate a TLS key");
	return -1;
}

/* ---- server ---- */

static int
accept_any_cert(int preverify_ok, X509_STORE_CTX *x)
{
	return 1;
}

SSL_CTX *
tls_server_ctx(const struct tls_server *ts, const char *cert, const char *key,
    char **err)
{
	const struct config *cfg = ts->cfg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*err = xasprintf("TLS: %s", tls_errstr("out of memory"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_ciphersuites(ctx, TLS_SUITES);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"burrow", 6);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*err = xasprintf("%s: %s", cert, tls_errstr("cannot read"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*err = xasprintf("%s: %s", key, tls_errstr("cannot read"));
		goto fail;
	}
	if (cfg->tls_client_ca != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
		if (names == NULL ||
		    SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			*err = xasprintf("%s: %s", cfg->tls_client_ca, tls_errstr("cannot read"));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    NULL);
	} else {
		/* A certificate if the client has one: a named client's entry may
		 * pin it (checked at AUTH, server/login.c), whoever signed it. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ALPN for the HTTP edge: HTTP/1.1 whatever else the visitor offers. */
static int
alpn_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_web_ctx(const char *cert, const char *key, char **err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*err = xasprintf("TLS: %s", tls_errstr("out of memory"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_ciphersuites(ctx, TLS_SUITES);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"burrow-web", 10);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_http11, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*err = xasprintf("%s: %s", cert, tls_errstr("cannot read"));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*err = xasprintf("%s: %s", key, tls_errstr("cannot read"));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
tls_log_key(X509 *cert, const char *path)
{
	uint8_t fp[FINGERPRINT_LEN];
	char s[FINGERPRINT_STR_MAX];
	if (cert == NULL || tls_spki_fingerprint(cert, fp) != 0)
		return;
	fingerprint_format(fp, s);
	log_info("tls: server key %s (%s)", s, path);
}

/* The generated certificate's key, read without OpenSSL's X.509 decoders. */
static int
tls_log_cert_file(const char *path, char **err)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f != NULL)
		fclose(f);
	uint8_t fp[FINGERPRINT_LEN];
	char s[FINGERPRINT_STR_MAX];
	if (f == NULL || fingerprint_of_cert_pem(buf, n, fp) != 0) {
		*err = xasprintf("%s: %s", path, f ? "not a PEM certificate" : strerror(errno));
		return -1;
	}
	fingerprint_format(fp, s);
	log_info("tls: server key %s (%s)", s, path);
	return 0;
}

SSL_CTX *
tls_server_get_ctx(struct tls_server *ts)
{
	if (ts->ctx != NULL || ts->ctx_failed)
		return ts->ctx;
	char *err = NULL;
	ts->ctx = tls_server_ctx(ts, ts->cert_path, ts->key_path, &err);
	if (ts->ctx == NULL) {
		ts->ctx_failed = 1;
		log_error("tls: cannot serve TLS until reloaded (SIGHUP): %s",
		    err ? err : "out of memory");
	}
	free(err);
	return ts->ctx;
}

/* The generated pair in the state directory, made on first start. */
static int
tls_server_state(struct tls_server *ts, char **err)
{
	const struct config *cfg = ts->cfg;
	char *dir = cfg->state_dir ? strdup(cfg->state_dir) : state_dir_default();
	if (dir == NULL)
		return -1;
	ts->gen_cert = xasprintf("%s/tls.crt", dir);
	ts->gen_key = xasprintf("%s/tls.key", dir);
	int rc = 0;
	if (ts->gen_cert == NULL || ts->gen_key == NULL) {
		rc = -1;
	} else if (access(ts->gen_key, F_OK) != 0 || access(ts->gen_cert, F_OK) != 0) {
		if (mkdirs(dir, 0700) != 0) {
			*err = xasprintf("state directory %s: %s", dir, strerror(errno));
			rc = -1;
		} else if (cert_generate_apart(ts->gen_cert, ts->gen_key, err) != 0) {
			rc = -1;
		} else {
			log_info("tls: generated a key and a self-signed certificate in %s",
			    dir);
		}
	}
	free(dir);
	ts->cert_path = ts->gen_cert;
	ts->key_path = ts->gen_key;
	return rc;
}

struct tls_server *
tls_server_new(const struct config *cfg, char **err, int *usage)
{
	struct tls_server *ts = calloc(1, sizeof *ts);
	*err = NULL;
	*usage = 0;
	if (ts == NULL)
		return NULL;
	ts->cfg = cfg;
	ts->required = cfg->require_tls || cfg->tls_client_ca != NULL;
	if (cfg->tls_cert != NULL) {
		ts->cert_path = cfg->tls_cert;
		ts->key_path = cfg->tls_key;
		*usage = 1;
	} else if (tls_server_state(ts, err) != 0) {
		tls_server_free(ts);
		return NULL;
	}
	if (cfg->tls_cert == NULL && cfg->tls_client_ca == NULL) {
		/*
		 * The generated pair: OpenSSL's TLS context (3.5 MB of resident
		 * library and heap) is built at the first TLS client, so a
		 * server that only ever sees plain TCP stays as small as before.
		 * The files are ours; the key file is checked at the first use.
		 */
		if (tls_log_cert_file(ts->cert_path, err) != 0) {
			tls_server_free(ts);
			return NULL;
		}
		return ts;
	}
	ts->ctx = tls_server_ctx(ts, ts->cert_path, ts->key_path, err);
	if (ts->ctx == NULL) {
		tls_server_free(ts);
		return NULL;
	}
	*usage = 0;
	tls_log_key(SSL_CTX_get0_certificate(ts->ctx), ts->cert_path);
	return ts;
}

void
tls_server_reload(struct tls_server *ts)
{
	char *err = NULL;
	SSL_CTX *ctx = tls_server_ctx(ts, ts->cert_path, ts->key_path, &err);
	if (ctx == NULL) {
		log_error("tls: reload refused, keeping the old certificate: %s",
		    err ? err : "out of memory");
		free(err);
		return;
	}
	SSL_CTX_free(ts->ctx); /* connections hold their own reference */
	ts->ctx = ctx;
	ts->ctx_failed = 0;
	tls_log_key(SSL_CTX_get0_certificate(ts->ctx), ts->cert_path);
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ctx);
	free(ts->gen_cert);
	free(ts->gen_key);
	free(ts);
}

int
tls_server_required(const struct tls_server *ts)
{
	return ts != NULL && ts->required;
}

/* ---- client ---- */

struct tls_client *
tls_client_new(const struct config *cfg, char **err, int *usage)
{
	struct tls_client *tc = calloc(1, sizeof *tc);
	*err = NULL;
	*usage = 1;
	if (tc == NULL || (tc->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		free(tc);
		*usage = 0;
		return NULL;
	}
	tc->cfg = cfg;
	tc->owner = pthread_self();
	SSL_CTX *ctx = tc->ctx;
	SSL_CTX_set_app_data(ctx, tc);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	/* We decide after the handshake (tls_client_check), with a message
	 * that says why; OpenSSL's verdict is one of the inputs. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx,
	    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_on_new_session);
	if (cfg->tls_ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		*err = xasprintf("--tls-ciphersuites '%s': no cipher suite known",
		    cfg->tls_ciphersuites);
		goto fail;
	}
	if (cfg->ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
			*err = xasprintf("--ca '%s': %s", cfg->ca, tls_errstr("cannot read"));
			goto fail;
		}
	} else {
		SSL_CTX_set_default_verify_paths(ctx);
	}
	if (cfg->tls_cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)) {
		*err = xasprintf("--tls-cert '%s' / --tls-key: %s", cfg->tls_cert,
		    tls_errstr("cannot read"));
		goto fail;
	}
	snprintf(tc->host, sizeof tc->host, "%s", cfg->sni ? cfg->sni : cfg->server.host);
	struct in6_addr a;
	tc->host_is_ip = inet_pton(AF_INET, tc->host, &a) == 1 ||
	    inet_pton(AF_INET6, tc->host, &a) == 1;
	hostport_format(&cfg->server, tc->known_key, sizeof tc->known_key);
	if (cfg->known_servers != NULL) {
		tc->known_path = strdup(cfg->known_servers);
	} else {
		const char *x = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		tc->known_path = x && x[0] == '/' ? xasprintf("%s/burrow/known_servers", x)
		    : xasprintf("%s/.config/burrow/known_servers", home && *home ? home : ".");
	}
	if (tc->known_path == NULL) {
		*usage = 0;
		goto fail;
	}
	*usage = 0;
	return tc;
fail:
	tls_client_free(tc);
	return NULL;
}

void
tls_client_free(struct tls_client *tc)
{
	if (tc == NULL)
		return;
	SSL_SESSION_free(tc->session);
	SSL_CTX_free(tc->ctx);
	free(tc->untrusted);
	free(tc->known_path);
	free(tc);
}

int
tls_client_prepare(struct tls_client *tc, SSL *ssl)
{
	if (tc->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), tc->host) != 1)
			return -1;
	} else if (SSL_set_tlsext_host_name(ssl, tc->host) != 1 ||
	    SSL_set1_host(ssl, tc->host) != 1) {
		return -1;
	}
	if (tc->session != NULL && SSL_set_session(ssl, tc->session) != 1)
		return -1;
	return 0;
}

void
tls_client_refused(struct tls_client *tc, const char *alert)
{
	free(tc->untrusted);
	if (tc->cfg->tls_cert != NULL)
		tc->untrusted = xasprintf("the server refused this client's certificate "
					  "(--tls-cert %s): %s", tc->cfg->tls_cert,
		    alert ? alert : "?");
	else
		tc->untrusted = xasprintf("the server requires a client certificate: "
					  "give --tls-cert and --tls-key (%s)",
		    alert ? alert : "?");
}

int
tls_client_is_untrusted(const struct tls_client *tc)
{
	return tc->untrusted != NULL;
}

char *
tls_client_take_untrusted(struct tls_client *tc)
{
	char *u = tc->untrusted;
	tc->untrusted = NULL;
	return u;
}

/*
 * known_servers: "host:port SHA256:..." per line. 1 and *fp if the host
 * has a line, 0 if not, -1 if the file cannot be read.
 */
static int
known_lookup(const struct tls_client *tc, uint8_t fp[FINGERPRINT_LEN])
{
	FILE *f = fopen(tc->known_path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	char line[512];
	size_t klen = strlen(tc->known_key);
	int found = 0;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *why;
		if (strncmp(line, tc->known_key, klen) == 0 && line[klen] == ' ' &&
		    fingerprint_parse(line + klen + 1, fp, &why) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

static int
known_add(const struct tls_client *tc, const char *fp)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", tc->known_path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir, 0700) != 0)
			return -1;
	}
	FILE *f = fopen(tc->known_path, "a");
	if (f == NULL)
		return -1;
	fprintf(f, "%s %s\n", tc->known_key, fp);
	return fclose(f);
}

static int
check_tofu(struct tls_client *tc, const uint8_t fp[FINGERPRINT_LEN],
    const char *fps, char **why)
{
	uint8_t known[FINGERPRINT_LEN];
	char ks[FINGERPRINT_STR_MAX];
	switch (known_lookup(tc, known)) {
	case 1:
		if (memcmp(known, fp, FINGERPRINT_LEN) == 0)
			return 0;
		fingerprint_format(known, ks);
		*why = xasprintf("WARNING: the key of server %s has CHANGED: it is now "
				 "%s, %s records %s. Someone may be intercepting the "
				 "connection, or the server got a new key: if you are sure it "
				 "did, remove its line from %s",
		    tc->known_key, fps, tc->known_path, ks, tc->known_path);
		return -1;
	case 0:
		if (known_add(tc, fps) != 0) {
			*why = xasprintf("cannot record the server's key in %s: %s",
			    tc->known_path, strerror(errno));
			return -1;
		}
		log_warn("tls: trusting server %s on first use: key %s, recorded in %s",
		    tc->known_key, fps, tc->known_path);
		return 0;
	default:
		*why = xasprintf("cannot read %s: %s", tc->known_path, strerror(errno));
		return -1;
	}
}

int
tls_client_check(struct tls_client *tc, SSL *ssl, char **why)
{
	const struct config *cfg = tc->cfg;
	/* A resumed session was checked when it was first made. */
	if (SSL_session_reused(ssl))
		return 0;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	uint8_t fp[FINGERPRINT_LEN];
	char fps[FINGERPRINT_STR_MAX], pins[FINGERPRINT_STR_MAX];
	int rc = -1;
	*why = NULL;
	if (cert == NULL || tls_spki_fingerprint(cert, fp) != 0) {
		*why = xasprintf("the server sent no usable certificate");
		goto out;
	}
	fingerprint_format(fp, fps);
	long v = SSL_get_verify_result(ssl);
	if (cfg->has_fingerprint) {
		if (memcmp(fp, cfg->fingerprint, FINGERPRINT_LEN) == 0)
			rc = 0;
		else {
			fingerprint_format(cfg->fingerprint, pins);
			*why = xasprintf("the server's key %s does not match --fingerprint "
					 "%s", fps, pins);
		}
	} else if (cfg->ca != NULL) {
		if (v == X509_V_OK)
			rc = 0;
		else
			*why = xasprintf("the server's certificate failed the check against "
					 "--ca %s: %s", cfg->ca, X509_verify_cert_error_string(v));
	} else if (cfg->trust_on_first_use) {
		rc = check_tofu(tc, fp, fps, why);
	} else if (v == X509_V_OK) {
		rc = 0;
	} else {
		*why = xasprintf("cannot verify the server's certificate with the system's "
				 "CAs (%s). Its key's fingerprint is %s: if the server logs "
				 "the same at start (\"tls: server key ...\"), pin it with "
				 "--fingerprint %s (or use --ca FILE, or --trust-on-first-use yes)",
		    X509_verify_cert_error_string(v), fps, fps);
	}
out:
	if (rc != 0) {
		free(tc->untrusted);
		tc->untrusted = *why ? strdup(*why) : NULL;
	}
	return rc;
}
