/*
 * Certificates from an ACME server (RFC 8555: Let's Encrypt, or any
 * directory URL) for the exact names HTTP tunnels register, with the
 * HTTP-01 challenge answered on the server's HTTP port (hproxy.c asks
 * acme_challenge), or TLS-ALPN-01 (RFC 8737) on its HTTPS port (vhost.c
 * asks acme_alpn_ctx for a ClientHello offering acme-tls/1). They are stored in STATE/acme (NAME.crt, NAME.key; the
 * account's key in account.key) and served by termination on the HTTPS port
 * (certs.c reads that directory too). A certificate is renewed when it
 * expires within acme_renew_before; every acme_check the names are looked
 * at again.
 *
 * The exchanges are blocking HTTPS requests (a new connection each, with
 * Connection: close), run one order at a time by a worker thread, so the
 * loop never waits on the ACME server. Shared with the loop, under the
 * mutex: the queue of names, the challenges being answered, the names that
 * failed lately (retried after ACME_RETRY_MS). A pipe tells the loop that a
 * certificate was stored (certs_reload).
 *
 * Wildcard names need DNS-01, which this does not do: they are not ordered.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "server/server-t.h"
#include "transport/tls.h"
#include "util/evtime.h"
#include "util/log.h"
#include "util/str.h"

#define ACME_QUEUE_MAX 64
#define ACME_CHAL_MAX 16
#define ACME_FAILED_MAX 64
#define ACME_RETRY_MS (60 * 60 * 1000) /* a failed name, again after */
#define ACME_IO_TIMEOUT_S 20
#define ACME_BODY_MAX (1024 * 1024)
#define ACME_POLLS 60 /* an authorization or order: checked this often, 1 s apart */
#define URL_MAX 1024

struct acme {
	struct server *srv;
	const struct config *cfg;
	char *dir;       /* STATE/acme */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	char queue[ACME_QUEUE_MAX][256];
	size_t nq;
	char issued[ACME_QUEUE_MAX][640]; /* log lines for the loop, once served */
	size_t nissued;
	char busy[256];
	struct {
		char name[256];
		uint64_t until_ms;
	} failed[ACME_FAILED_MAX];
	struct {
		char token[128];
		char keyauth[256];
		char name[256];
		SSL_CTX *ctx; /* tls-alpn-01: the certificate that answers it */
	} chal[ACME_CHAL_MAX];
	int alpn;        /* acme_challenge: tls-alpn-01 (else http-01) */
	int pipe[2];
	struct event *pev, *check;
	/* The worker's own. */
	SSL_CTX *tls;
	EVP_PKEY *akey;
	char jwk[256], thumb[64], kid[URL_MAX], nonce[256];
	char u_nonce[URL_MAX], u_account[URL_MAX], u_order[URL_MAX];
};

#define LETSENCRYPT "https://acme-v02.api.letsencrypt.org/directory"

/* The directory URL ("letsencrypt" names Let's Encrypt's production one). */
static const char *
acme_url(const struct config *cfg)
{
	return strcmp(cfg->acme_directory, "letsencrypt") == 0 ? LETSENCRYPT
							       : cfg->acme_directory;
}

/* ---- encoding ---- */

static char *
b64u(const uint8_t *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

static char *
b64u_str(const char *s)
{
	return b64u((const uint8_t *)s, strlen(s));
}

/* ---- HTTPS requests (the worker's, blocking) ---- */

struct hresp {
	int status;
	char location[URL_MAX];
	char nonce[256];
	char *body;
	size_t blen;
	/* parsing */
	char field[32];
	int which; /* 1 location, 2 nonce */
	int head;  /* a HEAD request's: no body, whatever its length says */
	int done;
};

static int
on_hhead(http_parser *p)
{
	return ((struct hresp *)p->data)->head ? 1 : 0;
}

/* OpenSSL's last error as text (a static buffer), the queue emptied. */
static const char *
ossl_err(const char *fallback)
{
	static __thread char buf[256];
	unsigned long e = ERR_peek_last_error();
	if (e == 0)
		return fallback;
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

static int
on_hfield(http_parser *p, const char *at, size_t len)
{
	struct hresp *r = p->data;
	snprintf(r->field, sizeof r->field, "%.*s", (int)len, at);
	r->which = strcasecmp(r->field, "Location") == 0 ? 1
	    : strcasecmp(r->field, "Replay-Nonce") == 0 ? 2 : 0;
	return 0;
}

static int
on_hvalue(http_parser *p, const char *at, size_t len)
{
	struct hresp *r = p->data;
	if (r->which == 1)
		snprintf(r->location, sizeof r->location, "%.*s", (int)len, at);
	else if (r->which == 2)
		snprintf(r->nonce, sizeof r->nonce, "%.*s", (int)len, at);
	return 0;
}

static int
on_hbody(http_parser *p, const char *at, size_t len)
{
	struct hresp *r = p->data;
	if (r->blen + len > ACME_BODY_MAX)
		return -1;
	char *b = realloc(r->body, r->blen + len + 1);
	if (b == NULL)
		return -1;
	memcpy(b + r->blen, at, len);
	r->blen += len;
	b[r->blen] = '\0';
	r->body = b;
	return 0;
}

static int
on_hdone(http_parser *p)
{
	((struct hresp *)p->data)->done = 1;
	return 0;
}

static int
tcp_dial(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%.200s: %.200s", host, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *p = ai; p != NULL && fd < 0; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {ACME_IO_TIMEOUT_S, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
			snprintf(err, errlen, "%.200s:%.200s: %.200s", host, port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* One request, the whole response in r (r->body malloc'd). 0, or -1 with err. */
static int
acme_http(struct acme *a, const char *method, const char *url, const char *body,
    struct hresp *r, char *err, size_t errlen)
{
	struct http_parser_url u;
	char host[256], port[8], path[URL_MAX];
	memset(r, 0, sizeof *r);
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_HOST)) ||
	    strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "not an https:// URL: %.100s", url);
		return -1;
	}
	snprintf(host, sizeof host, "%.*s", (int)u.field_data[UF_HOST].len,
	    url + u.field_data[UF_HOST].off);
	snprintf(port, sizeof port, "%u", u.port ? u.port : 443);
	snprintf(path, sizeof path, "%s", (u.field_set & (1 << UF_PATH))
	    ? url + u.field_data[UF_PATH].off : "/");
	int fd = tcp_dial(host, port, err, errlen);
	if (fd < 0)
		return -1;
	SSL *ssl = SSL_new(a->tls);
	int ok = ssl != NULL && SSL_set_fd(ssl, fd) == 1;
	struct in6_addr ip6;
	struct in_addr ip4;
	int is_ip = inet_pton(AF_INET, host, &ip4) == 1 || inet_pton(AF_INET6, host, &ip6) == 1;
	if (ok && !is_ip)
		ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
	else if (ok)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	if (ok && SSL_connect(ssl) != 1) {
		snprintf(err, errlen, "TLS to %.200s:%.200s: %.200s", host, port,
		    ossl_err("handshake failed"));
		ok = 0;
	} else if (!ok) {
		snprintf(err, errlen, "TLS: out of memory");
	}
	char *req = NULL;
	if (ok) {
		char clen[64] = "";
		if (body != NULL)
			snprintf(clen, sizeof clen, "Content-Length: %zu\r\n", strlen(body));
		req = xasprintf("%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: burrow/%s\r\n"
		    "Accept: */*\r\nConnection: close\r\n%s%s\r\n%s", method, path, host, port,
		    BURROW_VERSION, body ? "Content-Type: application/jose+json\r\n" : "",
		    clen, body ? body : "");
		ok = req != NULL && SSL_write(ssl, req, (int)strlen(req)) == (int)strlen(req);
		if (!ok)
			snprintf(err, errlen, "sending to %.200s:%.200s failed", host, port);
	}
	free(req);
	http_parser hp;
	http_parser_settings s;
	http_parser_settings_init(&s);
	s.on_header_field = on_hfield;
	s.on_header_value = on_hvalue;
	s.on_body = on_hbody;
	s.on_headers_complete = on_hhead;
	s.on_message_complete = on_hdone;
	http_parser_init(&hp, HTTP_RESPONSE);
	hp.data = r;
	r->head = strcmp(method, "HEAD") == 0;
	char buf[16384];
	while (ok && !r->done) {
		int n = SSL_read(ssl, buf, sizeof buf);
		if (n <= 0) {
			http_parser_execute(&hp, &s, NULL, 0);
			break;
		}
		size_t used = http_parser_execute(&hp, &s, buf, (size_t)n);
		if (used != (size_t)n && !r->done)
			break;
	}
	if (ok && !r->done) {
		snprintf(err, errlen, "%.200s %.200s: no whole response", method, url);
		ok = 0;
	}
	r->status = hp.status_code;
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	ERR_clear_error();
	close(fd);
	if (!ok) {
		free(r->body);
		r->body = NULL;
	}
	return ok ? 0 : -1;
}

/* ---- JWS (ES256) ---- */

static int
acme_key_jwk(struct acme *a)
{
	BIGNUM *x = NULL, *y = NULL;
	uint8_t bx[32], by[32], dg[32];
	int ok = EVP_PKEY_get_bn_param(a->akey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	    EVP_PKEY_get_bn_param(a->akey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
	    BN_bn2binpad(x, bx, 32) == 32 && BN_bn2binpad(y, by, 32) == 32;
	BN_free(x);
	BN_free(y);
	char *ex = ok ? b64u(bx, 32) : NULL, *ey = ok ? b64u(by, 32) : NULL;
	ok = ex != NULL && ey != NULL;
	if (ok) {
		/* RFC 7638: the members in this order, no blanks. */
		snprintf(a->jwk, sizeof a->jwk,
		    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", ex, ey);
		unsigned int dl = 0;
		EVP_Digest(a->jwk, strlen(a->jwk), dg, &dl, EVP_sha256(), NULL);
		char *t = b64u(dg, sizeof dg);
		ok = t != NULL;
		if (ok)
			snprintf(a->thumb, sizeof a->thumb, "%s", t);
		free(t);
	}
	free(ex);
	free(ey);
	return ok ? 0 : -1;
}

/* The account key: read, or made and written (0600). */
static int
acme_account_key(struct acme *a, char *err, size_t errlen)
{
	char *path = xasprintf("%s/account.key", a->dir);
	FILE *f = path ? fopen(path, "r") : NULL;
	if (f != NULL) {
		a->akey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	} else if (path != NULL) {
		a->akey = EVP_EC_gen("P-256");
		int fd = a->akey ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
		FILE *w = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (w == NULL || PEM_write_PrivateKey(w, a->akey, NULL, NULL, 0, NULL, NULL) != 1) {
			EVP_PKEY_free(a->akey);
			a->akey = NULL;
		}
		if (w != NULL)
			fclose(w);
		else if (fd >= 0)
			close(fd);
	}
	if (a->akey == NULL || acme_key_jwk(a) != 0) {
		snprintf(err, errlen, "account key %.200s: %.200s", path ? path : "?",
		    ossl_err("cannot read or make it"));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static char *
es256(EVP_PKEY *k, const char *data)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[128], raw[64];
	size_t dlen = sizeof der;
	int ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSign(md, der, &dlen, (const uint8_t *)data, strlen(data)) == 1;
	EVP_MD_CTX_free(md);
	const uint8_t *p = der;
	ECDSA_SIG *sig = ok ? d2i_ECDSA_SIG(NULL, &p, (long)dlen) : NULL;
	ok = sig != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? b64u(raw, sizeof raw) : NULL;
}

/* The flattened JWS of payload (NULL: POST-as-GET) for url. */
static char *
acme_jws(struct acme *a, const char *url, const char *payload)
{
	char *prot = a->kid[0]
	    ? xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
		  a->kid, a->nonce, url)
	    : xasprintf("{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}",
		  a->jwk, a->nonce, url);
	char *p64 = prot ? b64u_str(prot) : NULL;
	char *l64 = b64u_str(payload ? payload : "");
	char *input = p64 && l64 ? xasprintf("%s.%s", p64, l64) : NULL;
	char *sig = input ? es256(a->akey, input) : NULL;
	char *out = sig ? xasprintf("{\"protected\":\"%s\",\"payload\":\"%s\","
				    "\"signature\":\"%s\"}", p64, l64, sig)
			: NULL;
	free(prot);
	free(p64);
	free(l64);
	free(input);
	free(sig);
	return out;
}

/* A signed POST; a bad nonce is retried with the fresh one. 0 or -1. */
static int
acme_post(struct acme *a, const char *url, const char *payload, struct hresp *r,
    char *err, size_t errlen)
{
	for (int tries = 0; tries < 3; tries++) {
		if (a->nonce[0] == '\0') {
			struct hresp h;
			if (acme_http(a, "HEAD", a->u_nonce, NULL, &h, err, errlen) != 0)
				return -1;
			free(h.body);
			if (h.nonce[0] == '\0') {
				snprintf(err, errlen, "no Replay-Nonce from %.200s", a->u_nonce);
				return -1;
			}
			snprintf(a->nonce, sizeof a->nonce, "%s", h.nonce);
		}
		char *jws = acme_jws(a, url, payload);
		a->nonce[0] = '\0';
		if (jws == NULL) {
			snprintf(err, errlen, "cannot sign: %.200s", ossl_err("out of memory"));
			return -1;
		}
		int rc = acme_http(a, "POST", url, jws, r, err, errlen);
		free(jws);
		if (rc != 0)
			return -1;
		snprintf(a->nonce, sizeof a->nonce, "%s", r->nonce);
		if (r->status == 400 && r->body != NULL &&
		    strstr(r->body, "urn:ietf:params:acme:error:badNonce") != NULL) {
			free(r->body);
			continue;
		}
		if (r->status >= 400) {
			json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
			const char *d = json_string_value(json_object_get(j, "detail"));
			snprintf(err, errlen, "%.200s: %d %.200s", url, r->status, d ? d : "");
			json_decref(j);
			free(r->body);
			r->body = NULL;
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "%.200s: bad nonce three times", url);
	return -1;
}

/* A POST whose answer is JSON: the object, or NULL with err. */
static json_t *
acme_post_json(struct acme *a, const char *url, const char *payload, struct hresp *r,
    char *err, size_t errlen)
{
	if (acme_post(a, url, payload, r, err, errlen) != 0)
		return NULL;
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	free(r->body);
	r->body = NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "%.200s: not a JSON object", url);
		return NULL;
	}
	return j;
}

/* ---- the account, once per worker ---- */

static int
acme_login(struct acme *a, char *err, size_t errlen)
{
	if (a->kid[0] != '\0')
		return 0;
	struct hresp r;
	if (acme_http(a, "GET", acme_url(a->cfg), NULL, &r, err, errlen) != 0)
		return -1;
	json_t *d = r.body ? json_loads(r.body, 0, NULL) : NULL;
	free(r.body);
	const char *n = json_string_value(json_object_get(d, "newNonce"));
	const char *acc = json_string_value(json_object_get(d, "newAccount"));
	const char *ord = json_string_value(json_object_get(d, "newOrder"));
	if (n == NULL || acc == NULL || ord == NULL) {
		snprintf(err, errlen, "%.200s: not an ACME directory", acme_url(a->cfg));
		json_decref(d);
		return -1;
	}
	snprintf(a->u_nonce, sizeof a->u_nonce, "%s", n);
	snprintf(a->u_account, sizeof a->u_account, "%s", acc);
	snprintf(a->u_order, sizeof a->u_order, "%s", ord);
	json_decref(d);
	if (a->akey == NULL && acme_account_key(a, err, errlen) != 0)
		return -1;
	json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (a->cfg->acme_email != NULL) {
		char *m = xasprintf("mailto:%s", a->cfg->acme_email);
		json_object_set_new(p, "contact", json_pack("[s]", m));
		free(m);
	}
	char *ps = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	json_t *acct = acme_post_json(a, a->u_account, ps, &r, err, errlen);
	free(ps);
	json_decref(acct);
	if (acct == NULL)
		return -1;
	if (r.location[0] == '\0') {
		snprintf(err, errlen, "newAccount: no Location");
		return -1;
	}
	snprintf(a->kid, sizeof a->kid, "%s", r.location);
	log_info("acme: account %s", a->kid);
	return 0;
}

/* ---- one order ---- */

static void
chal_set(struct acme *a, const char *name, const char *token, const char *keyauth,
    SSL_CTX *ctx)
{
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < ACME_CHAL_MAX; i++) {
		if (a->chal[i].token[0] != '\0')
			continue;
		snprintf(a->chal[i].token, sizeof a->chal[i].token, "%s", token);
		snprintf(a->chal[i].keyauth, sizeof a->chal[i].keyauth, "%s", keyauth);
		snprintf(a->chal[i].name, sizeof a->chal[i].name, "%s", name);
		a->chal[i].ctx = ctx;
		ctx = NULL;
		break;
	}
	pthread_mutex_unlock(&a->mu);
	SSL_CTX_free(ctx); /* no room: not answered */
}

static void
chal_clear(struct acme *a)
{
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < ACME_CHAL_MAX; i++)
		SSL_CTX_free(a->chal[i].ctx);
	memset(a->chal, 0, sizeof a->chal);
	pthread_mutex_unlock(&a->mu);
}

/* ALPN for a TLS-ALPN-01 answer: acme-tls/1 or nothing (RFC 8737 3). */
static int
alpn_acme_tls(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char acme[] = "\x0a" "acme-tls/1";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, acme, sizeof acme - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * RFC 8737 3: a self-signed certificate for name whose critical
 * acmeIdentifier extension holds the SHA-256 of the key authorization,
 * in a context that speaks only acme-tls/1. NULL on failure.
 */
static SSL_CTX *
alpn_ctx(const char *name, const char *keyauth)
{
	uint8_t der[2 + 32];
	unsigned int dl = 0;
	der[0] = 0x04; /* OCTET STRING, 32 bytes: the extension's value */
	der[1] = 0x20;
	EVP_Digest(keyauth, strlen(keyauth), der + 2, &dl, EVP_sha256(), NULL);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	char *san = xasprintf("DNS:%s", name);
	X509_EXTENSION *id = NULL, *alt = NULL;
	int ok = key != NULL && x != NULL && oid != NULL && os != NULL && san != NULL &&
	    ASN1_OCTET_STRING_set(os, der, sizeof der) == 1 &&
	    (id = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, os)) != NULL &&
	    (alt = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san)) != NULL &&
	    X509_set_version(x, 2) == 1 &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) != NULL &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
		(const uint8_t *)name, -1, -1, 0) == 1 &&
	    X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
	    X509_set_pubkey(x, key) == 1 && X509_add_ext(x, alt, -1) == 1 &&
	    X509_add_ext(x, id, -1) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
	SSL_CTX *ctx = ok ? SSL_CTX_new(TLS_server_method()) : NULL;
	if (ctx != NULL) {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_acme_tls, NULL);
		if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
			SSL_CTX_free(ctx);
			ctx = NULL;
		}
	}
	X509_EXTENSION_free(id);
	X509_EXTENSION_free(alt);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	X509_free(x);
	EVP_PKEY_free(key);
	free(san);
	ERR_clear_error();
	return ctx;
}

/* Sleeps ms unless stopped: 0, or -1 when the worker must end. */
static int
acme_nap(struct acme *a, uint32_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&a->mu);
	if (!a->stop)
		pthread_cond_timedwait(&a->cv, &a->mu, &ts);
	int stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop ? -1 : 0;
}

/* POST-as-GET url until its status is not one of the waiting ones. */
static json_t *
acme_poll(struct acme *a, const char *url, const char *what, char *err, size_t errlen)
{
	for (int i = 0; i < ACME_POLLS; i++) {
		struct hresp r;
		json_t *j = acme_post_json(a, url, NULL, &r, err, errlen);
		if (j == NULL)
			return NULL;
		const char *st = json_string_value(json_object_get(j, "status"));
		if (st == NULL || (strcmp(st, "pending") != 0 && strcmp(st, "processing") != 0))
			return j;
		json_decref(j);
		if (acme_nap(a, 1000) != 0) {
			snprintf(err, errlen, "stopped");
			return NULL;
		}
	}
	snprintf(err, errlen, "%.200s still pending after %d s", what, ACME_POLLS);
	return NULL;
}

static int
acme_authorize(struct acme *a, const char *name, const char *url, char *err,
    size_t errlen)
{
	struct hresp r;
	json_t *az = acme_post_json(a, url, NULL, &r, err, errlen);
	if (az == NULL)
		return -1;
	const char *st = json_string_value(json_object_get(az, "status"));
	if (st != NULL && strcmp(st, "valid") == 0) {
		json_decref(az);
		return 0;
	}
	json_t *cs = json_object_get(az, "challenges"), *c;
	const char *token = NULL, *curl = NULL;
	const char *want = a->alpn ? "tls-alpn-01" : "http-01";
	size_t i;
	json_array_foreach(cs, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		if (type != NULL && strcmp(type, want) == 0) {
			token = json_string_value(json_object_get(c, "token"));
			curl = json_string_value(json_object_get(c, "url"));
		}
	}
	if (token == NULL || curl == NULL || strlen(token) >= 128 ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
		strlen(token)) {
		snprintf(err, errlen, "no usable %s challenge", want);
		json_decref(az);
		return -1;
	}
	char keyauth[256];
	snprintf(keyauth, sizeof keyauth, "%s.%s", token, a->thumb);
	SSL_CTX *actx = NULL;
	if (a->alpn && (actx = alpn_ctx(name, keyauth)) == NULL) {
		snprintf(err, errlen, "cannot make the tls-alpn-01 certificate");
		json_decref(az);
		return -1;
	}
	chal_set(a, name, token, keyauth, actx);
	char curl_copy[URL_MAX];
	snprintf(curl_copy, sizeof curl_copy, "%s", curl);
	json_decref(az);
	json_t *ack = acme_post_json(a, curl_copy, "{}", &r, err, errlen);
	json_decref(ack);
	json_t *done = ack != NULL ? acme_poll(a, url, "authorization", err, errlen) : NULL;
	chal_clear(a);
	if (done == NULL)
		return -1;
	st = json_string_value(json_object_get(done, "status"));
	int ok = st != NULL && strcmp(st, "valid") == 0;
	if (!ok) {
		json_t *ch, *e = NULL;
		json_array_foreach(json_object_get(done, "challenges"), i, ch)
			if (json_object_get(ch, "error") != NULL)
				e = json_object_get(ch, "error");
		const char *d = json_string_value(json_object_get(e, "detail"));
		snprintf(err, errlen, "authorization %.20s: %.200s", st ? st : "?",
		    d ? d : "no detail");
	}
	json_decref(done);
	return ok ? 0 : -1;
}

/* A key and a CSR (DER, base64url) for name. */
static char *
acme_csr(const char *name, EVP_PKEY **key)
{
	*key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subj = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	char *san = xasprintf("DNS:%s", name);
	X509_EXTENSION *ext = san ? X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san)
				  : NULL;
	int ok = *key != NULL && req != NULL && subj != NULL && exts != NULL && ext != NULL &&
	    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const uint8_t *)name, -1,
		-1, 0) == 1 &&
	    X509_REQ_set_subject_name(req, subj) == 1 &&
	    X509_REQ_set_pubkey(req, *key) == 1 && sk_X509_EXTENSION_push(exts, ext) > 0;
	if (ok)
		ext = NULL; /* the stack has it */
	ok = ok && X509_REQ_add_extensions(req, exts) == 1 &&
	    X509_REQ_sign(req, *key, EVP_sha256()) > 0;
	uint8_t *der = NULL;
	int len = ok ? i2d_X509_REQ(req, &der) : -1;
	char *out = len > 0 ? b64u(der, (size_t)len) : NULL;
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	free(san);
	return out;
}

/* Writes data to dir/name+ext atomically with mode. 0 or -1. */
static int
file_put(const char *dir, const char *name, const char *ext, const char *data,
    size_t len, mode_t mode)
{
	char *path = xasprintf("%s/%s%s", dir, name, ext);
	char *tmp = path ? xasprintf("%s.tmp", path) : NULL;
	int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) : -1;
	int ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0)
		ok = close(fd) == 0 && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(path);
	return ok ? 0 : -1;
}

/* "Mar  7 12:00:00 2027 GMT": the chain's first certificate's notAfter. */
static void
chain_not_after(const char *chain, size_t len, char *out, size_t outlen)
{
	BIO *b = BIO_new_mem_buf(chain, (int)len), *m = BIO_new(BIO_s_mem());
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	char *p = NULL;
	long n = 0;
	snprintf(out, outlen, "?");
	if (x != NULL && m != NULL && ASN1_TIME_print(m, X509_get0_notAfter(x)) == 1)
		n = BIO_get_mem_data(m, &p);
	if (n > 0)
		snprintf(out, outlen, "%.*s", (int)n, p);
	X509_free(x);
	BIO_free(b);
	BIO_free(m);
	ERR_clear_error();
}

static int
acme_store(struct acme *a, const char *name, EVP_PKEY *key, const char *chain,
    size_t len, char *err, size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *kp = NULL;
	long klen = 0;
	if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1)
		klen = BIO_get_mem_data(b, &kp);
	/* The key first: a certificate without its key would fail to load. */
	int ok = klen > 0 && file_put(a->dir, name, ".key", kp, (size_t)klen, 0600) == 0 &&
	    file_put(a->dir, name, ".crt", chain, len, 0644) == 0;
	BIO_free(b);
	if (ok) { /* logged by the loop once it serves it (acme_stored_cb) */
		char until[64];
		chain_not_after(chain, len, until, sizeof until);
		pthread_mutex_lock(&a->mu);
		if (a->nissued < ACME_QUEUE_MAX)
			snprintf(a->issued[a->nissued++], sizeof a->issued[0],
			    "acme: %s: certificate issued, valid until %s (%s/%s.crt)", name,
			    until, a->dir, name);
		pthread_mutex_unlock(&a->mu);
	}
	if (!ok)
		snprintf(err, errlen, "cannot write %.150s/%.150s.crt: %.60s", a->dir, name,
		    strerror(errno));
	return ok ? 0 : -1;
}

static int
acme_order(struct acme *a, const char *name, char *err, size_t errlen)
{
	if (acme_login(a, err, errlen) != 0)
		return -1;
	struct hresp r;
	json_t *p = json_pack("{s:[{s:s,s:s}]}", "identifiers", "type", "dns", "value", name);
	char *ps = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	json_t *o = acme_post_json(a, a->u_order, ps, &r, err, errlen);
	free(ps);
	if (o == NULL)
		return -1;
	char order_url[URL_MAX], fin[URL_MAX];
	snprintf(order_url, sizeof order_url, "%s", r.location);
	const char *f = json_string_value(json_object_get(o, "finalize"));
	snprintf(fin, sizeof fin, "%s", f ? f : "");
	json_t *az;
	size_t i;
	int ok = fin[0] != '\0' && order_url[0] != '\0';
	if (!ok)
		snprintf(err, errlen, "an order without finalize or Location");
	json_array_foreach(json_object_get(o, "authorizations"), i, az) {
		const char *u = json_string_value(az);
		if (ok && u != NULL && acme_authorize(a, name, u, err, errlen) != 0)
			ok = 0;
	}
	json_decref(o);
	if (!ok)
		return -1;
	EVP_PKEY *key = NULL;
	char *csr = acme_csr(name, &key);
	char *payload = csr ? xasprintf("{\"csr\":\"%s\"}", csr) : NULL;
	json_t *fo = payload ? acme_post_json(a, fin, payload, &r, err, errlen) : NULL;
	free(csr);
	free(payload);
	json_decref(fo);
	json_t *done = fo ? acme_poll(a, order_url, "order", err, errlen) : NULL;
	const char *st = json_string_value(json_object_get(done, "status"));
	const char *cu = json_string_value(json_object_get(done, "certificate"));
	ok = done != NULL && st != NULL && strcmp(st, "valid") == 0 && cu != NULL;
	if (done != NULL && !ok)
		snprintf(err, errlen, "order %.200s", st ? st : "?");
	char cert_url[URL_MAX];
	snprintf(cert_url, sizeof cert_url, "%s", cu ? cu : "");
	json_decref(done);
	if (ok && acme_post(a, cert_url, NULL, &r, err, errlen) != 0)
		ok = 0;
	else if (ok) {
		ok = r.body != NULL && strstr(r.body, "-----BEGIN CERTIFICATE-----") != NULL &&
		    acme_store(a, name, key, r.body, r.blen, err, errlen) == 0;
		if (r.body == NULL || strstr(r.body, "BEGIN CERTIFICATE") == NULL)
			snprintf(err, errlen, "the certificate download is not PEM");
		free(r.body);
	}
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

/* ---- the worker ---- */

static void
acme_failed(struct acme *a, const char *name)
{
	size_t oldest = 0;
	for (size_t i = 0; i < ACME_FAILED_MAX; i++) {
		if (a->failed[i].until_ms < a->failed[oldest].until_ms)
			oldest = i;
	}
	snprintf(a->failed[oldest].name, sizeof a->failed[oldest].name, "%s", name);
	a->failed[oldest].until_ms = mono_ms() + ACME_RETRY_MS;
}

static void *
acme_main(void *arg)
{
	struct acme *a = arg;
	for (;;) {
		char name[256];
		pthread_mutex_lock(&a->mu);
		while (!a->stop && a->nq == 0)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stop) {
			pthread_mutex_unlock(&a->mu);
			return NULL;
		}
		snprintf(name, sizeof name, "%s", a->queue[0]);
		memmove(a->queue[0], a->queue[1], (a->nq - 1) * sizeof a->queue[0]);
		a->nq--;
		snprintf(a->busy, sizeof a->busy, "%s", name);
		pthread_mutex_unlock(&a->mu);

		char err[512] = "";
		log_info("acme: %s: ordering a certificate from %s", name,
		    acme_url(a->cfg));
		int rc = acme_order(a, name, err, sizeof err);
		if (rc != 0)
			a->kid[0] = a->nonce[0] = '\0'; /* log in again next time */
		pthread_mutex_lock(&a->mu);
		a->busy[0] = '\0';
		if (rc != 0)
			acme_failed(a, name);
		pthread_mutex_unlock(&a->mu);
		if (rc != 0) {
			log_warn("acme: %s: failed: %s (next try in 1 h)", name, err);
			continue;
		}
		char c = 1;
		ssize_t w = write(a->pipe[1], &c, 1); /* the loop reloads */
		(void)w;
	}
}

/* ---- the loop's side ---- */

/* A certificate was stored: read them again, and say until when. */
static void
acme_stored_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acme *a = arg;
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		continue;
	certs_reload(a->srv->certs);
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nissued; i++)
		log_info("%s", a->issued[i]);
	a->nissued = 0;
	pthread_mutex_unlock(&a->mu);
}

static void
acme_consider(struct acme *a, const char *name)
{
	int64_t left = 0;
	int from_acme = 0;
	if (strncmp(name, "*.", 2) == 0) {
		log_limited(&a->srv->lim_https, LOG_INFO, "acme: %s: wildcards need DNS-01: "
		    "not ordered", name);
		return;
	}
	if (certs_expiry(a->srv->certs, name, &left, &from_acme) == 0) {
		if (!from_acme || left > (int64_t)a->cfg->acme_renew_before_s)
			return;
		log_info("acme: %s: renewing (expires in %lld s)", name, (long long)left);
	}
	pthread_mutex_lock(&a->mu);
	int skip = strcmp(a->busy, name) == 0;
	for (size_t i = 0; i < a->nq && !skip; i++)
		skip = strcmp(a->queue[i], name) == 0;
	for (size_t i = 0; i < ACME_FAILED_MAX && !skip; i++)
		skip = strcmp(a->failed[i].name, name) == 0 && a->failed[i].until_ms > mono_ms();
	int full = !skip && a->nq == ACME_QUEUE_MAX;
	if (!skip && !full) {
		snprintf(a->queue[a->nq++], sizeof a->queue[0], "%s", name);
		pthread_cond_signal(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	if (full)
		log_limited(&a->srv->lim_https, LOG_WARN, "acme: %s: %d names wait for an "
		    "order already: not ordered now (the next check tries again)", name,
		    ACME_QUEUE_MAX);
}

void
acme_names(struct acme *a, const char *names)
{
	char name[256];
	if (a == NULL)
		return;
	for (const char *p = names; *p != '\0' && *p != ';';) {
		size_t n = strcspn(p, ",;");
		snprintf(name, sizeof name, "%.*s", (int)n, p);
		acme_consider(a, name);
		p += n;
		if (*p == ',')
			p++;
	}
}

static void
acme_names_cb(const char *names, void *arg)
{
	acme_names(arg, names);
}

static void
acme_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acme *a = arg;
	vhost_http_each(a->srv, acme_names_cb, a);
	event_add_ms(a->check, a->cfg->acme_check_ms);
}

int
acme_challenge(struct acme *a, const char *host, const char *token, char *out,
    size_t outlen)
{
	int found = 0;
	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < ACME_CHAL_MAX && !found; i++) {
		if (a->chal[i].token[0] != '\0' && strcmp(a->chal[i].token, token) == 0 &&
		    strcmp(a->chal[i].name, host) == 0) {
			snprintf(out, outlen, "%s", a->chal[i].keyauth);
			found = 1;
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (found)
		log_info("acme: %s: http-01 challenge answered", host);
	return found;
}

SSL_CTX *
acme_alpn_ctx(struct acme *a, const char *host)
{
	SSL_CTX *ctx = NULL;
	if (a == NULL)
		return NULL;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < ACME_CHAL_MAX && ctx == NULL; i++)
		if (a->chal[i].ctx != NULL && strcmp(a->chal[i].name, host) == 0 &&
		    SSL_CTX_up_ref(a->chal[i].ctx) == 1)
			ctx = a->chal[i].ctx;
	pthread_mutex_unlock(&a->mu);
	if (ctx != NULL)
		log_info("acme: %s: tls-alpn-01 challenge answered", host);
	return ctx;
}

struct acme *
acme_new(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct acme *a = calloc(1, sizeof *a);
	char *state = cfg->state_dir ? strdup(cfg->state_dir) : state_dir_default();
	if (a == NULL || state == NULL) {
		free(a);
		free(state);
		return NULL;
	}
	a->srv = srv;
	a->cfg = cfg;
	a->alpn = cfg->acme_challenge != NULL && strcmp(cfg->acme_challenge, "tls-alpn-01") == 0;
	a->pipe[0] = a->pipe[1] = -1;
	a->dir = xasprintf("%s/acme", state);
	free(state);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (a->dir == NULL || mkdirs(a->dir, 0700) != 0) {
		log_error("acme: %s: %s", a->dir ? a->dir : "state directory", strerror(errno));
		acme_free(a);
		return NULL;
	}
	a->tls = SSL_CTX_new(TLS_client_method());
	if (a->tls != NULL) {
		SSL_CTX_set_min_proto_version(a->tls, TLS1_2_VERSION);
		SSL_CTX_set_verify(a->tls, SSL_VERIFY_PEER, NULL);
	}
	if (a->tls == NULL ||
	    (cfg->acme_ca ? SSL_CTX_load_verify_locations(a->tls, cfg->acme_ca, NULL)
			  : SSL_CTX_set_default_verify_paths(a->tls)) != 1) {
		log_error("acme: %s: %s", cfg->acme_ca ? cfg->acme_ca : "the system's CAs",
		    ossl_err("cannot read"));
		acme_free(a);
		return NULL;
	}
	if (pipe2(a->pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (a->pev = event_new(srv->base, a->pipe[0], EV_READ | EV_PERSIST,
		 acme_stored_cb, a)) == NULL ||
	    (a->check = evtimer_new(srv->base, acme_check_cb, a)) == NULL ||
	    pthread_create(&a->th, NULL, acme_main, a) != 0) {
		log_error("acme: cannot start: %s", strerror(errno));
		acme_free(a);
		return NULL;
	}
	a->started = 1;
	event_add(a->pev, NULL);
	event_add_ms(a->check, a->cfg->acme_check_ms);
	log_info("acme: certificates from %s for HTTP tunnels' names (%s), kept in %s",
	    acme_url(cfg), a->alpn ? "tls-alpn-01" : "http-01", a->dir);
	return a;
}

const char *
acme_dir(const struct acme *a)
{
	return a != NULL ? a->dir : NULL;
}

void
acme_free(struct acme *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL); /* a request in flight ends by its timeout */
	}
	if (a->pev != NULL)
		event_free(a->pev);
	if (a->check != NULL)
		event_free(a->check);
	if (a->pipe[0] >= 0)
		close(a->pipe[0]);
	if (a->pipe[1] >= 0)
		close(a->pipe[1]);
	SSL_CTX_free(a->tls);
	EVP_PKEY_free(a->akey);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->dir);
	free(a);
}
