#include "util/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int
port_parse(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
hostport_parse(const char *s, int default_port, struct hostport *hp,
    const char **why)
{
	const char *host = s, *colon;
	size_t hostlen;

	memset(hp, 0, sizeof *hp);
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		host = s + 1;
		hostlen = (size_t)(end - host);
		if (end[1] == '\0') {
			colon = NULL;
		} else if (end[1] == ':') {
			colon = end + 1;
		} else {
			*why = "expected ':' after ']'";
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon) {
			*why = "IPv6 addresses must be in brackets, like [::1]:7700";
			return -1;
		}
		hostlen = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hostlen >= sizeof hp->host) {
		*why = "host name too long";
		return -1;
	}
	memcpy(hp->host, host, hostlen);
	hp->host[hostlen] = '\0';
	if (colon == NULL) {
		if (default_port < 0) {
			*why = "expected host:port";
			return -1;
		}
		hp->port = (uint16_t)default_port;
		return 0;
	}
	if (port_parse(colon + 1, strlen(colon + 1), &hp->port) != 0) {
		*why = "port must be a number from 0 to 65535";
		return -1;
	}
	return 0;
}

void
hostport_format(const struct hostport *hp, char *out, size_t outlen)
{
	if (strchr(hp->host, ':') != NULL)
		snprintf(out, outlen, "[%s]:%u", hp->host, hp->port);
	else
		snprintf(out, outlen, "%s:%u", hp->host, hp->port);
}

void
sockaddr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, outlen, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
}

int
sockaddr_from_numeric(const char *host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons(port);
		*len = sizeof *in;
		return 0;
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof *in;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof *in6;
		return 0;
	}
	return -1;
}
