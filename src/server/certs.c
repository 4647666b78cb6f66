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
	int acme; /* from the ACME directory */
	char file[256];
	struct cert *next;
};

/* dirs[0]: https_certs, dirs[1]: ACME's (acme.c); either may be NULL. */
struct certs {
	char *dirs[2];
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

/* Every pair in dir, added to out, or -1 (logged) if the directory cannot
 * be read. */
static int
certs_read_dir(const char *dir, int acme, struct cert **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		log_error("%s %s: %s", acme ? "acme" : "https_certs", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && *n < CERTS_MAX) {
		size_t len = strlen(e->d_name);
		if (len <= 4 || len > 200 || strcmp(e->d_name + len - 4, ".crt") != 0)
			continue;
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(len - 4), e->d_name);
		struct cert *c = cert_load(dir, base);
		if (c == NULL)
			continue;
		c->acme = acme;
		c->next = *out;
		*out = c;
		(*n)++;
	}
	if (e != NULL)
		log_error("%s %s: more than %d certificates: the rest are left out",
		    acme ? "acme" : "https_certs", dir, CERTS_MAX);
	closedir(d);
	return 0;
}

/* Both directories; -1 if one cannot be read (what was read is freed). */
static int
certs_read(const struct certs *cs, struct cert **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	for (int i = 0; i < 2; i++) {
		if (cs->dirs[i] != NULL && certs_read_dir(cs->dirs[i], i, out, n) != 0) {
			cert_list_free(*out);
			*out = NULL;
			return -1;
		}
	}
	return 0;
}

struct certs *
certs_new(const char *dir, const char *acme_dir)
{
	struct certs *cs = calloc(1, sizeof *cs);
	if (cs == NULL || (dir != NULL && (cs->dirs[0] = strdup(dir)) == NULL) ||
	    (acme_dir != NULL && (cs->dirs[1] = strdup(acme_dir)) == NULL) ||
	    certs_read(cs, &cs->list, &cs->n) != 0) {
		certs_free(cs);
		return NULL;
	}
	log_info("https: %zu certificate%s for termination from %s%s%s", cs->n,
	    cs->n == 1 ? "" : "s", dir ? dir : "", dir && acme_dir ? " and " : "",
	    acme_dir ? acme_dir : "");
	return cs;
}

void
certs_reload(struct certs *cs)
{
	struct cert *list;
	size_t n;
	if (cs == NULL || certs_read(cs, &list, &n) != 0)
		return;
	if (n == 0 && cs->n > 0) {
		log_error("https_certs %s: no certificate could be read: the old ones "
			  "stay", cs->dirs[0] ? cs->dirs[0] : cs->dirs[1]);
		cert_list_free(list);
		return;
	}
	cert_list_free(cs->list);
	cs->list = list;
	cs->n = n;
	log_info("https: %zu certificate%s for termination reloaded from %s%s%s", n,
	    n == 1 ? "" : "s", cs->dirs[0] ? cs->dirs[0] : "",
	    cs->dirs[0] && cs->dirs[1] ? " and " : "", cs->dirs[1] ? cs->dirs[1] : "");
}

void
certs_free(struct certs *cs)
{
	if (cs == NULL)
		return;
	cert_list_free(cs->list);
	free(cs->dirs[0]);
	free(cs->dirs[1]);
	free(cs);
}

static const struct cert *
cert_for(const struct certs *cs, const char *name)
{
	if (cs == NULL)
		return NULL;
	/* An exact name first, then a wildcard; of those, the latest to expire. */
	static const unsigned flags[] = {X509_CHECK_FLAG_NO_WILDCARDS |
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT};
	for (size_t i = 0; i < 2; i++) {
		const struct cert *best = NULL;
		for (const struct cert *c = cs->list; c != NULL; c = c->next)
			if (c->x != NULL && X509_check_host(c->x, name, 0, flags[i], NULL) == 1 &&
			    (best == NULL || ASN1_TIME_compare(X509_get0_notAfter(c->x),
						 X509_get0_notAfter(best->x)) > 0))
				best = c;
		if (best != NULL)
			return best;
	}
	return NULL;
}

SSL_CTX *
certs_find(const struct certs *cs, const char *name)
{
	const struct cert *c = cert_for(cs, name);
	return c != NULL ? c->ctx : NULL;
}

int
certs_expiry(const struct certs *cs, const char *name, int64_t *secs_left, int *acme)
{
	const struct cert *c = cert_for(cs, name);
	int days = 0, secs = 0;
	if (c == NULL || ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c->x)) != 1)
		return -1;
	*secs_left = (int64_t)days * 86400 + secs;
	*acme = c->acme;
	return 0;
}
