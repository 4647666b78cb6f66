/*
 * libFuzzer target: a proxy request (proto/socks.h) as a stranger sends it
 * to a -D or reverse SOCKS port. The first byte seeds the slice sizes, the
 * second's low bit answers CHECK_AUTH; the rest is the client's bytes, fed
 * whole and then in slices of 1 to 24 bytes, with and without credentials
 * required. Whatever comes, the parser consumes no more than it was given,
 * its output fits its buffer and is a reply in the client's protocol, a
 * destination it accepts is a NUL-terminated host without blank or control
 * bytes and a port that is not 0, a password is wiped once answered, it
 * never asks for more after DONE or FAIL, and slicing changes nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/socks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IN_MAX (2 * HTTP_HEAD_MAX)

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct run {
	enum socks_status st;
	uint8_t wrote[4096];
	size_t wrote_len, used;
	struct socks_req r;
};

static void
check_done(const struct socks_req *r)
{
	check(r->port != 0 && r->proto != SOCKS_PROTO_NONE);
	check(strnlen(r->host, sizeof r->host) < sizeof r->host && r->host[0] != '\0');
	for (const char *c = r->host; *c; c++)
		check((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
	struct in6_addr a;
	if (!r->host_is_name)
		check(inet_pton(AF_INET, r->host, &a) == 1 ||
		    inet_pton(AF_INET6, r->host, &a) == 1);
	check(r->fwd_len <= sizeof r->fwd_head);
	check((r->proto == SOCKS_PROTO_HTTP_FORWARD) == (r->fwd_len > 0));
	if (r->fwd_len == 0)
		return;
	/* A head that ends where it says, in CRLF lines, without our headers. */
	const char *h = (const char *)r->fwd_head;
	check(r->fwd_len >= 4 && memcmp(h + r->fwd_len - 4, "\r\n\r\n", 4) == 0);
	check(memchr(h, '\0', r->fwd_len) == NULL);
	for (const char *l = h, *e; l < h + r->fwd_len; l = e + 1) {
		e = memchr(l, '\n', (size_t)(h + r->fwd_len - l));
		check(e != NULL && e > l && e[-1] == '\r');
		size_t len = (size_t)(e - l);
		check(len < 20 || strncasecmp(l, "Proxy-Authorization:", 20) != 0);
		check(len < 17 || strncasecmp(l, "Proxy-Connection:", 17) != 0);
	}
}

static void
check_fail(const struct socks_req *r)
{
	check(r->why != NULL && r->fwd_len == 0 && r->pass[0] == '\0');
	check(r->fail_rep >= 0 && r->fail_rep <= 8);
	if (r->fail_rep != 0)
		check(r->out_len == 10 && r->out[0] == 5 && r->out[1] == r->fail_rep);
	check(r->fail_status == 0 || r->fail_status == 400 || r->fail_status == 407 ||
	    r->fail_status == 414 || r->fail_status == 431);
	if (r->fail_status != 0) {
		check(r->out_len > 13 && memcmp(r->out, "HTTP/1.1 4", 10) == 0);
		check(memmem(r->out, r->out_len, "\r\nConnection: close\r\n", 21) != NULL);
	}
}

/* Feeds in: whole when seed is 0, else in slices the seed picks. */
static void
feed(const uint8_t *in, size_t len, int require_auth, int auth_ok, uint32_t seed,
    struct run *run)
{
	static uint8_t buf[IN_MAX];
	size_t have = 0, fed = 0;
	struct socks_req *r = &run->r;
	memset(run, 0, sizeof *run);
	socks_init(r, require_auth);
	for (int rounds = 0;; rounds++) {
		check(rounds < 100000); /* no progress */
		size_t n = len - fed;
		if (seed != 0) {
			seed = seed * 1103515245 + 12345;
			n = (seed >> 16) % 24 + 1;
			n = n < len - fed ? n : len - fed;
		}
		memcpy(buf + have, in + fed, n);
		have += n;
		fed += n;
		size_t used = (size_t)-1;
		enum socks_status st = socks_feed(r, buf, have, &used);
		check(used <= have && r->out_len <= sizeof r->out);
		check(st != SOCKS_MORE || used == 0);
		memmove(buf, buf + used, have - used);
		have -= used;
		run->used += used;
		if (st == SOCKS_CHECK_AUTH) {
			check(require_auth && used > 0);
			check(strnlen(r->user, sizeof r->user) < sizeof r->user);
			check(strnlen(r->pass, sizeof r->pass) < sizeof r->pass);
			st = socks_auth_result(r, auth_ok);
			check(r->pass[0] == '\0');
		}
		if (st == SOCKS_WRITE)
			check(r->out_len == (r->proto == SOCKS_PROTO_SOCKS5 ? 2u : 0u));
		if (st == SOCKS_WRITE || st == SOCKS_FAIL) {
			check(run->wrote_len + r->out_len <= sizeof run->wrote);
			memcpy(run->wrote + run->wrote_len, r->out, r->out_len);
			run->wrote_len += r->out_len;
		}
		if (st == SOCKS_DONE)
			check_done(r);
		if (st == SOCKS_FAIL)
			check_fail(r);
		if (st == SOCKS_DONE || st == SOCKS_FAIL) {
			struct socks_req again = *r;
			check(socks_feed(&again, buf, have, &used) == st && used == 0);
			run->st = st;
			return;
		}
		if (st == SOCKS_MORE && fed == len) {
			run->st = st;
			return;
		}
	}
}

static void
check_same(const struct run *a, const struct run *b)
{
	const struct socks_req *x = &a->r, *y = &b->r;
	check(a->st == b->st && a->used == b->used && a->wrote_len == b->wrote_len);
	check(memcmp(a->wrote, b->wrote, a->wrote_len) == 0);
	check(x->proto == y->proto && x->port == y->port && x->host_is_name == y->host_is_name);
	check(strcmp(x->host, y->host) == 0 && strcmp(x->user, y->user) == 0);
	check(x->fwd_len == y->fwd_len && memcmp(x->fwd_head, y->fwd_head, x->fwd_len) == 0);
	check(x->why == y->why && x->fail_rep == y->fail_rep &&
	    x->fail_status == y->fail_status);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, sliced;
	if (size < 2)
		return 0;
	uint32_t seed = data[0] + 1u;
	int auth_ok = data[1] & 1;
	data += 2;
	size -= 2;
	if (size > IN_MAX)
		size = IN_MAX; /* more than a front holds */
	for (int require_auth = 0; require_auth <= 1; require_auth++) {
		feed(data, size, require_auth, auth_ok, 0, &whole);
		feed(data, size, require_auth, auth_ok, seed, &sliced);
		check_same(&whole, &sliced);
	}
	return 0;
}
