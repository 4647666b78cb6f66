/*
 * The certificates the HTTPS port terminates TLS with, for names registered
 * by HTTP tunnels (https_certs: a directory of NAME.crt and NAME.key pairs,
 * each certificate serving the DNS names of its subjectAltName). One
 * SSL_CTX per pair; a name takes the certificate that matches it exactly,
 * else one whose wildcard covers it (one label, as TLS clients check).
 *
 * SIGHUP reads the directory again into a new set; a pair that cannot be
 * read is logged and left out, and if none can, the old set stays.
 * Connections already open keep the context they started with (SSL_new
 * holds a reference).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "server/server-t.h"
#include "transport/tls.h"
#include "util/log.h"

#define CERTS_MAX 1024

struct cert {
	SSL_CTX *ctx;
	X509 *x; /* the leaf, for the name checks (owned by ctx) */
	char file[256];
	struct cert *next;
};

struct certs {
	char *dir;
	struct cert *list;
	size_t n;
};

static void
cert_list_free(struct cert *c)
{
	while (c != NULL) {
		struct cert *next = c->next;
		SSL_CTX_free(c->ctx);
		free(c);
		c = next;
	}
}

/* dir/base.crt and dir/base.key: a cert, or NULL (logged). */
static struct cert *
cert_load(const char *dir, const char *base)
{
	char crt[4096], key[4096];
	snprintf(crt, sizeof crt, "%s/%s.crt", dir, base);
	snprintf(key, sizeof key, "%s/%s.key", dir, base);
	char *err = NULL;
	SSL_CTX *ctx = tls_web_ctx(crt, key, &err);
	if (ctx == NULL) {
		log_error("https_certs: %s", err ? err : "out of memory");
		free(err);
		return NULL;
	}
	struct cert *c = calloc(1, sizeof *c);
	if (c == NULL) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	c->ctx = ctx;
	c->x = SSL_CTX_get0_certificate(ctx);
	snprintf(c->file, sizeof c->file, "%s.crt", base);
	return c;
}

/* Every pair in dir, or -1 (logged) if the directory cannot be read. */
static int
certs_read(const char *dir, struct cert **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		log_error("https_certs %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	*out = NULL;
	*n = 0;
	while ((e = readdir(d)) != NULL && *n < CERTS_MAX) {
		size_t len = strlen(e->d_name);
		if (len <= 4 || len > 200 || strcmp(e->d_name + len - 4, ".crt") != 0)
			continue;
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(len - 4), e->d_name);
		struct cert *c = cert_load(dir, base);
		if (c == NULL)
			continue;
		c->next = *out;
		*out = c;
		(*n)++;
	}
	closedir(d);
	return 0;
}

struct certs *
certs_new(const char *dir)
{
	struct certs *cs = calloc(1, sizeof *cs);
	if (cs == NULL || (cs->dir = strdup(dir)) == NULL) {
		free(cs);
		return NULL;
	}
	if (certs_read(dir, &cs->list, &cs->n) != 0) {
		certs_free(cs);
		return NULL;
	}
	log_info("https: %zu certificate%s for termination from %s", cs->n,
	    cs->n == 1 ? "" : "s", dir);
	return cs;
}

void
certs_reload(struct certs *cs)
{
	struct cert *list;
	size_t n;
	if (cs == NULL || certs_read(cs->dir, &list, &n) != 0)
		return;
	if (n == 0 && cs->n > 0) {
		log_error("https_certs %s: no certificate could be read: the old ones "
			  "stay", cs->dir);
		return;
	}
	cert_list_free(cs->list);
	cs->list = list;
	cs->n = n;
	log_info("https: %zu certificate%s for termination reloaded from %s", n,
	    n == 1 ? "" : "s", cs->dir);
}

void
certs_free(struct certs *cs)
{
	if (cs == NULL)
		return;
	cert_list_free(cs->list);
	free(cs->dir);
	free(cs);
}

SSL_CTX *
certs_find(const struct certs *cs, const char *name)
{
	if (cs == NULL)
		return NULL;
	/* An exact name first, then a wildcard. */
	static const unsigned flags[] = {X509_CHECK_FLAG_NO_WILDCARDS |
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT};
	for (size_t i = 0; i < 2; i++)
		for (const struct cert *c = cs->list; c != NULL; c = c->next)
			if (c->x != NULL && X509_check_host(c->x, name, 0, flags[i], NULL) == 1)
				return c->ctx;
	return NULL;
}
