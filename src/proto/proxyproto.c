#include "proto/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* proxy-protocol.txt 2.2: the 12 bytes that open every v2 header. */
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V2_PROXY 0x21   /* version 2, command PROXY */
#define V2_LOCAL 0x20   /* version 2, command LOCAL */
#define V2_TCP4 0x11    /* AF_INET, STREAM */
#define V2_TCP6 0x21    /* AF_INET6, STREAM */
#define V2_UNSPEC 0x00

/* One end: its address in network order (IPv4 in the first 4 bytes). */
struct pp_end {
	int family; /* AF_INET, AF_INET6, or 0: unknown */
	uint8_t addr[16];
	uint16_t port;
	int mapped; /* AF_INET6 holding ::ffff:a.b.c.d */
};

static void
pp_end_from(const struct sockaddr *sa, struct pp_end *e)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff};
	memset(e, 0, sizeof *e);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		e->family = AF_INET;
		memcpy(e->addr, &in->sin_addr, 4);
		e->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		e->family = AF_INET6;
		memcpy(e->addr, &in6->sin6_addr, 16);
		e->port = ntohs(in6->sin6_port);
		e->mapped = memcmp(e->addr, v4mapped, sizeof v4mapped) == 0;
	}
}

/* Turns a mapped address into the IPv4 address it holds. */
static void
pp_end_unmap(struct pp_end *e)
{
	if (e->family == AF_INET6 && e->mapped) {
		memmove(e->addr, e->addr + 12, 4);
		memset(e->addr + 4, 0, 12);
		e->family = AF_INET;
	}
}

/* The family both ends share once mapped addresses are unmapped, or 0. */
static int
pp_family(struct pp_end *s, struct pp_end *d)
{
	int v4s = s->family == AF_INET || s->mapped;
	int v4d = d->family == AF_INET || d->mapped;
	if (v4s && v4d) {
		pp_end_unmap(s);
		pp_end_unmap(d);
		return AF_INET;
	}
	if (s->family == AF_INET6 && d->family == AF_INET6)
		return AF_INET6;
	return 0;
}

static size_t
pp_v1(int family, const struct pp_end *s, const struct pp_end *d,
    uint8_t *buf, size_t len)
{
	/* Formatted aside: the header has no NUL, so it may fill buf exactly. */
	char line[PROXYPROTO_MAX + 1], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int n;
	if (family == 0) {
		n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
	} else {
		inet_ntop(family, s->addr, sa, sizeof sa);
		inet_ntop(family, d->addr, da, sizeof da);
		n = snprintf(line, sizeof line, "PROXY %s %s %s %u %u\r\n",
		    family == AF_INET ? "TCP4" : "TCP6", sa, da, s->port, d->port);
	}
	if (n < 0 || (size_t)n >= sizeof line || (size_t)n > len)
		return 0;
	memcpy(buf, line, (size_t)n);
	return (size_t)n;
}

static size_t
pp_v2(int family, const struct pp_end *s, const struct pp_end *d,
    uint8_t *buf, size_t len)
{
	size_t alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	size_t block = alen ? 2 * alen + 4 : 0;
	if (len < sizeof v2_sig + 4 + block)
		return 0;
	uint8_t *p = buf;
	memcpy(p, v2_sig, sizeof v2_sig);
	p += sizeof v2_sig;
	*p++ = alen ? V2_PROXY : V2_LOCAL;
	*p++ = family == AF_INET ? V2_TCP4 : family == AF_INET6 ? V2_TCP6
								: V2_UNSPEC;
	*p++ = (uint8_t)(block >> 8);
	*p++ = (uint8_t)block;
	if (alen == 0)
		return (size_t)(p - buf);
	memcpy(p, s->addr, alen);
	memcpy(p + alen, d->addr, alen);
	p += 2 * alen;
	*p++ = (uint8_t)(s->port >> 8);
	*p++ = (uint8_t)s->port;
	*p++ = (uint8_t)(d->port >> 8);
	*p++ = (uint8_t)d->port;
	return (size_t)(p - buf);
}

size_t
proxyproto_encode(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *buf, size_t len)
{
	struct pp_end s, d;
	pp_end_from(src, &s);
	pp_end_from(dst, &d);
	int family = pp_family(&s, &d);
	if (version == 1)
		return pp_v1(family, &s, &d, buf, len);
	if (version == 2)
		return pp_v2(family, &s, &d, buf, len);
	return 0;
}
