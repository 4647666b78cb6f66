#include "proto/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/http.h"

size_t
proxy_auth_header(char *buf, size_t cap, const char *user, const char *pass)
{
	char plain[2 * PROXY_CRED_MAX + 2];
	unsigned char b64[4 * ((sizeof plain + 2) / 3) + 1];
	int n = snprintf(plain, sizeof plain, "%s:%s", user, pass ? pass : "");
	if (n < 0 || (size_t)n >= sizeof plain)
		return 0;
	EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
	int m = snprintf(buf, cap, "Proxy-Authorization: Basic %s\r\n", b64);
	OPENSSL_cleanse(plain, sizeof plain);
	OPENSSL_cleanse(b64, sizeof b64);
	return m > 0 && (size_t)m < cap ? (size_t)m : 0;
}

size_t
proxy_http_request(char *buf, size_t cap, const char *host, uint16_t port,
    const char *user, const char *pass)
{
	int ipv6 = strchr(host, ':') != NULL;
	char auth[2 * (2 * PROXY_CRED_MAX + 1) + 64] = "";
	if (user != NULL && proxy_auth_header(auth, sizeof auth, user, pass) == 0)
		return 0;
	int n = snprintf(buf, cap,
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s"
	    "User-Agent: burrow\r\n\r\n",
	    ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, ipv6 ? "[" : "", host,
	    ipv6 ? "]" : "", port, auth);
	OPENSSL_cleanse(auth, sizeof auth);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int
proxy_http_response(const uint8_t *p, size_t n, int *status, size_t *head_len,
    char *reason, size_t reason_len, const char **why)
{
	struct http_head h;
	int st;
	int rc = http_head_parse(p, n, HTTP_HEAD_RESPONSE, &h, head_len, &st, why);
	if (reason != NULL && reason_len > 0)
		snprintf(reason, reason_len, "%s", rc == 1 ? h.reason : "");
	if (rc == 1)
		*status = h.status;
	return rc;
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
