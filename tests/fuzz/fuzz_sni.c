/*
 * libFuzzer target: the first bytes a stranger sends to the HTTPS port
 * (proto/sni.h), as one read. Whatever comes, sni_parse answers MORE,
 * FOUND or BAD; MORE only below SNI_HELLO_MAX; FOUND with "" or a host
 * name we could route by, lower-cased, that fits the buffer; BAD with a
 * why and the host buffer untouched. One byte less never turns it around:
 * a prefix of what is FOUND waits for more or finds the same name, and
 * what is BAD stays BAD. A smaller host buffer changes only whether the
 * name fits, and the first record cut in two changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct res {
	int st;
	char host[SNI_HOST_MAX + 1];
	const char *why;
};

static void
check_name(const char *h)
{
	size_t len = strlen(h), label = 0;
	if (len == 0)
		return;
	check(len <= 253 && h[0] != '.' && h[len - 1] != '.');
	for (const char *c = h; *c != '\0'; c++) {
		check((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		    *c == '-' || *c == '.');
		label = *c == '.' ? 0 : label + 1;
		check(label <= 63 && (*c != '.' || c[1] != '.'));
	}
}

/* Parses a copy of exactly n bytes, so that ASan sees any read past n. */
static void
parse(const uint8_t *p, size_t n, size_t hostlen, struct res *r)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, p, n);
	memset(r->host, 0x7f, sizeof r->host);
	r->why = NULL;
	r->st = sni_parse(copy, n, r->host, hostlen, &r->why);
	free(copy);
	check(r->st == SNI_MORE || r->st == SNI_FOUND || r->st == SNI_BAD);
	if (r->st == SNI_MORE)
		check(n < SNI_HELLO_MAX);
	if (r->st == SNI_FOUND) {
		check(strnlen(r->host, hostlen) < hostlen);
		check_name(r->host);
	}
	if (r->st == SNI_BAD)
		check(r->why != NULL);
	if (r->st != SNI_FOUND) /* host is written only when found */
		for (size_t i = 0; i < sizeof r->host; i++)
			check(r->host[i] == 0x7f);
}

static int
same(const struct res *a, const struct res *b)
{
	return a->st == b->st && (a->st != SNI_FOUND || strcmp(a->host, b->host) == 0);
}

/* The first record's data in two records: the same answer. */
static void
check_split(const uint8_t *data, size_t size, const struct res *whole)
{
	static uint8_t buf[SNI_HELLO_MAX + 5];
	if (whole->st != SNI_FOUND || size + 5 > SNI_HELLO_MAX || size < 5)
		return;
	size_t len = (size_t)data[3] << 8 | data[4];
	if (len < 2 || 5 + len > size)
		return;
	size_t cut = 1 + size % (len - 1);
	memcpy(buf, data, 3);
	buf[3] = (uint8_t)(cut >> 8);
	buf[4] = (uint8_t)cut;
	memcpy(buf + 5, data + 5, cut);
	memcpy(buf + 5 + cut, data, 3);
	buf[5 + cut + 3] = (uint8_t)((len - cut) >> 8);
	buf[5 + cut + 4] = (uint8_t)(len - cut);
	memcpy(buf + 10 + cut, data + 5 + cut, size - 5 - cut);
	struct res r;
	parse(buf, size + 5, SNI_HOST_MAX, &r);
	check(same(&r, whole));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct res whole, less, small;
	parse(data, size, SNI_HOST_MAX, &whole);
	if (size > 0) {
		parse(data, size - 1, SNI_HOST_MAX, &less);
		if (whole.st == SNI_FOUND)
			check(less.st == SNI_MORE || same(&less, &whole));
		if (less.st != SNI_MORE)
			check(same(&less, &whole));
	}
	size_t hostlen = size * 7 % (SNI_HOST_MAX + 1);
	parse(data, size, hostlen, &small);
	if (whole.st == SNI_FOUND && strlen(whole.host) < hostlen)
		check(same(&small, &whole));
	else if (whole.st == SNI_MORE)
		check(small.st == SNI_MORE || small.st == SNI_BAD);
	else
		check(small.st == SNI_BAD);
	check_split(data, size, &whole);
	return 0;
}
