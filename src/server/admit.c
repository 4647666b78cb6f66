#include "server/admit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_BUCKETS 256
#define FAIL_WAYS 4

struct pending {
	struct source src;
	uint32_t n;
	struct pending *next;
};

struct failure {
	struct source src;
	uint32_t fails;     /* 0: a free slot */
	uint64_t last_ms;   /* the last failure */
	uint64_t until_ms;  /* blocked until */
};

struct admit {
	uint32_t per_source_max;
	uint64_t seed;
	struct pending *buckets[PENDING_BUCKETS];
	/* ADMIT_FAIL_SLOTS of them, allocated at the first failure (160 KB a
	 * server that no one attacks does not need to keep resident). */
	struct failure *fail;
};

void
source_from_sockaddr(const struct sockaddr *sa, struct source *src)
{
	memset(src, 0, sizeof *src);
	const uint8_t *b;
	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		src->addr = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 |
		    (uint64_t)b[2] << 8 | b[3];
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	b = a6->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		src->addr = (uint64_t)b[12] << 24 | (uint64_t)b[13] << 16 |
		    (uint64_t)b[14] << 8 | b[15];
		return;
	}
	src->v6 = 1;
	for (int i = 0; i < 8; i++)
		src->addr = src->addr << 8 | b[i];
}

/* splitmix64's finaliser over the seeded key. */
static uint64_t
source_hash(const struct admit *a, const struct source *src)
{
	uint64_t x = src->addr ^ a->seed ^ ((uint64_t)src->v6 << 63 | src->v6);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int
source_eq(const struct source *x, const struct source *y)
{
	return x->addr == y->addr && x->v6 == y->v6;
}

struct admit *
admit_new(uint32_t per_source_max, uint64_t seed)
{
	struct admit *a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->per_source_max = per_source_max;
	a->seed = seed;
	return a;
}

void
admit_free(struct admit *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < PENDING_BUCKETS; i++) {
		struct pending *p, *next;
		for (p = a->buckets[i]; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	}
	free(a->fail);
	free(a);
}

/* The link that points at src's entry, or the NULL link at its chain's end. */
static struct pending **
pending_slot(struct admit *a, const struct source *src)
{
	struct pending **pp = &a->buckets[source_hash(a, src) % PENDING_BUCKETS];
	while (*pp != NULL && !source_eq(&(*pp)->src, src))
		pp = &(*pp)->next;
	return pp;
}

int
admit_enter(struct admit *a, const struct source *src)
{
	struct pending **pp = pending_slot(a, src);
	if (*pp == NULL) {
		struct pending *p = calloc(1, sizeof *p);
		if (p == NULL)
			return -1;
		p->src = *src;
		*pp = p;
	}
	if ((*pp)->n >= a->per_source_max)
		return -1;
	(*pp)->n++;
	return 0;
}

void
admit_leave(struct admit *a, const struct source *src)
{
	struct pending **pp = pending_slot(a, src);
	struct pending *p = *pp;
	if (p == NULL)
		return;
	if (p->n > 0)
		p->n--;
	if (p->n == 0) {
		*pp = p->next;
		free(p);
	}
}

uint32_t
admit_pending(const struct admit *a, const struct source *src)
{
	const struct pending *p = a->buckets[source_hash(a, src) % PENDING_BUCKETS];
	while (p != NULL && !source_eq(&p->src, src))
		p = p->next;
	return p ? p->n : 0;
}

/* The slots of src's set: its own slot, or NULL. */
static struct failure *
failure_find(const struct admit *a, const struct source *src)
{
	if (a->fail == NULL)
		return NULL;
	size_t set = (size_t)(source_hash(a, src) % (ADMIT_FAIL_SLOTS / FAIL_WAYS));
	const struct failure *f = &a->fail[set * FAIL_WAYS];
	for (int i = 0; i < FAIL_WAYS; i++)
		if (f[i].fails > 0 && source_eq(&f[i].src, src))
			return (struct failure *)&f[i];
	return NULL;
}

uint32_t
admit_penalty(const struct admit *a, const struct source *src, uint64_t now)
{
	const struct failure *f = failure_find(a, src);
	if (f == NULL || f->until_ms <= now)
		return 0;
	return (uint32_t)(f->until_ms - now);
}

static uint32_t
penalty_for(uint32_t fails)
{
	if (fails < ADMIT_FREE_FAILURES)
		return 0;
	uint32_t steps = fails - ADMIT_FREE_FAILURES;
	uint64_t ms = ADMIT_PENALTY_START_MS;
	while (steps-- > 0 && ms < ADMIT_PENALTY_MAX_MS)
		ms *= 2;
	return ms > ADMIT_PENALTY_MAX_MS ? ADMIT_PENALTY_MAX_MS : (uint32_t)ms;
}

uint32_t
admit_failed(struct admit *a, const struct source *src, uint64_t now)
{
	if (a->fail == NULL &&
	    (a->fail = calloc(ADMIT_FAIL_SLOTS, sizeof *a->fail)) == NULL)
		return 0; /* cannot remember it: no penalty */
	struct failure *f = failure_find(a, src);
	if (f == NULL) {
		/* A free or forgotten slot of the set, else the least recent one. */
		size_t set = (size_t)(source_hash(a, src) % (ADMIT_FAIL_SLOTS / FAIL_WAYS));
		struct failure *w = &a->fail[set * FAIL_WAYS];
		f = &w[0];
		for (int i = 0; i < FAIL_WAYS; i++) {
			if (w[i].fails == 0 || now - w[i].last_ms > ADMIT_FORGET_MS) {
				f = &w[i];
				break;
			}
			if (w[i].last_ms < f->last_ms)
				f = &w[i];
		}
		memset(f, 0, sizeof *f);
		f->src = *src;
	} else if (now - f->last_ms > ADMIT_FORGET_MS) {
		f->fails = 0;
	}
	if (f->fails < UINT32_MAX)
		f->fails++;
	f->last_ms = now;
	uint32_t p = penalty_for(f->fails);
	f->until_ms = now + p;
	return p;
}
