#include "proto/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

size_t
proxy_http_request(char *buf, size_t cap, const char *host, uint16_t port,
    const char *user, const char *pass)
{
	int ipv6 = strchr(host, ':') != NULL;
	char auth[2 * (2 * PROXY_CRED_MAX + 1) + 64] = "";
	if (user != NULL) {
		char plain[2 * PROXY_CRED_MAX + 2];
		unsigned char b64[sizeof auth - 48];
		int n = snprintf(plain, sizeof plain, "%s:%s", user, pass ? pass : "");
		if (n < 0 || (size_t)n >= sizeof plain)
			return 0;
		EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
		snprintf(auth, sizeof auth, "Proxy-Authorization: Basic %s\r\n", b64);
		OPENSSL_cleanse(plain, sizeof plain);
		OPENSSL_cleanse(b64, sizeof b64);
	}
	int n = snprintf(buf, cap,
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s"
	    "User-Agent: burrow\r\n\r\n",
	    ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, ipv6 ? "[" : "", host,
	    ipv6 ? "]" : "", port, auth);
	OPENSSL_cleanse(auth, sizeof auth);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

struct head {
	char *reason;
	size_t reason_len;
	int done;
};

static int
on_status(http_parser *hp, const char *at, size_t len)
{
	struct head *h = hp->data;
	if (h->reason != NULL && h->reason_len > 0) {
		size_t have = strlen(h->reason);
		size_t room = h->reason_len - 1 - have;
		if (len > room)
			len = room;
		for (size_t i = 0; i < len; i++)
			h->reason[have + i] = at[i] >= 0x20 && at[i] < 0x7f ? at[i] : '?';
		h->reason[have + len] = '\0';
	}
	return 0;
}

static int
on_headers_complete(http_parser *hp)
{
	struct head *h = hp->data;
	h->done = 1;
	http_parser_pause(hp, 1); /* what follows is the tunnel's */
	return 0;
}

int
proxy_http_response(const uint8_t *p, size_t n, int *status, size_t *head_len,
    char *reason, size_t reason_len, const char **why)
{
	http_parser hp;
	http_parser_settings s;
	struct head h = {reason, reason_len, 0};
	if (reason != NULL && reason_len > 0)
		reason[0] = '\0';
	http_parser_init(&hp, HTTP_RESPONSE);
	http_parser_settings_init(&s);
	s.on_status = on_status;
	s.on_headers_complete = on_headers_complete;
	hp.data = &h;
	size_t len = n > PROXY_HEAD_MAX ? PROXY_HEAD_MAX : n;
	size_t used = http_parser_execute(&hp, &s, (const char *)p, len);
	if (h.done) {
		/* Paused in on_headers_complete, the parser stops on the head's
		 * last '\n' without counting it. */
		if (used < len && p[used] == '\n')
			used++;
		if (hp.status_code < 100 || hp.status_code > 999) {
			/* http-parser takes "HTTP/1.1 20 OK": a status has three digits. */
			*why = "not an HTTP response (status code)";
			return -1;
		}
		*status = hp.status_code;
		*head_len = used;
		return 1;
	}
	if (HTTP_PARSER_ERRNO(&hp) != HPE_OK) {
		*why = "not an HTTP response";
		return -1;
	}
	if (n >= PROXY_HEAD_MAX) {
		*why = "response head longer than 8 KiB";
		return -1;
	}
	return 0;
}

size_t
socks5_greeting(uint8_t *buf, int with_auth)
{
	buf[0] = 5;
	buf[1] = with_auth ? 2 : 1;
	buf[2] = 0; /* no authentication */
	buf[3] = 2; /* username/password */
	return with_auth ? 4 : 3;
}

int
socks5_method(const uint8_t *p, size_t n, int with_auth, int *method,
    const char **why)
{
	if (n < 2)
		return 0;
	if (p[0] != 5) {
		*why = "not a SOCKS5 server";
		return -1;
	}
	if (p[1] == 0xff) {
		*why = with_auth ? "no acceptable authentication method"
				 : "the proxy wants credentials (socks5://user:pass@...)";
		return -1;
	}
	if (p[1] != 0 && !(p[1] == 2 && with_auth)) {
		*why = "the proxy chose a method we did not offer";
		return -1;
	}
	*method = p[1];
	return 1;
}

size_t
socks5_auth_request(uint8_t *buf, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass ? pass : "");
	if (ul == 0 || ul > PROXY_CRED_MAX || pl > PROXY_CRED_MAX)
		return 0;
	buf[0] = 1;
	buf[1] = (uint8_t)ul;
	memcpy(buf + 2, user, ul);
	buf[2 + ul] = (uint8_t)pl;
	memcpy(buf + 3 + ul, pass ? pass : "", pl);
	return 3 + ul + pl;
}

int
socks5_auth_reply(const uint8_t *p, size_t n, const char **why)
{
	if (n < 2)
		return 0;
	if (p[0] != 1) {
		*why = "malformed authentication reply";
		return -1;
	}
	if (p[1] != 0) {
		*why = "authentication failed";
		return -1;
	}
	return 1;
}

size_t
socks5_connect_request(uint8_t *buf, const char *host, uint16_t port)
{
	size_t i = 0;
	buf[i++] = 5;
	buf[i++] = 1; /* CONNECT */
	buf[i++] = 0;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		buf[i++] = 1;
		memcpy(buf + i, &a4, 4);
		i += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		buf[i++] = 4;
		memcpy(buf + i, &a6, 16);
		i += 16;
	} else {
		size_t len = strlen(host);
		if (len == 0 || len > 255)
			return 0;
		buf[i++] = 3;
		buf[i++] = (uint8_t)len;
		memcpy(buf + i, host, len);
		i += len;
	}
	buf[i++] = (uint8_t)(port >> 8);
	buf[i++] = (uint8_t)port;
	return i;
}

static const char *const socks5_replies[] = {
    "succeeded",
    "general SOCKS server failure",
    "connection not allowed by ruleset",
    "network unreachable",
    "host unreachable",
    "connection refused by the destination",
    "TTL expired",
    "command not supported",
    "address type not supported",
};

int
socks5_connect_reply(const uint8_t *p, size_t n, size_t *len, const char **why)
{
	if (n < 5)
		return 0;
	if (p[0] != 5) {
		*why = "malformed CONNECT reply";
		return -1;
	}
	if (p[1] != 0) {
		*why = p[1] < sizeof socks5_replies / sizeof *socks5_replies
		    ? socks5_replies[p[1]] : "unknown SOCKS5 error";
		return -1;
	}
	size_t addr;
	switch (p[3]) {
	case 1:
		addr = 4;
		break;
	case 4:
		addr = 16;
		break;
	case 3:
		if (p[4] == 0) {
			*why = "malformed CONNECT reply (empty name)";
			return -1;
		}
		addr = 1 + (size_t)p[4];
		break;
	default:
		*why = "malformed CONNECT reply (address type)";
		return -1;
	}
	size_t need = 4 + addr + 2;
	if (n < need)
		return 0;
	*len = need;
	return 1;
}
