/*
 * Message codec: the payloads of the structured frame types. Pure functions.
 *
 * Encoders write into buf (at least MSG_MAX bytes) and return the length.
 * Decoders return 0, or -1 with a static reason in *why; decoded strings are
 * NUL-terminated, contain no NUL or control bytes, and fit their fields.
 */
#ifndef BURROW_MSG_H
#define BURROW_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/addr.h"

#define PROTO_MAGIC "BURROW"
#define PROTO_MAGIC_LEN 6
#define PROTO_VERSION 3
#define NONCE_LEN 32
#define MAC_LEN 32
#define MSG_TEXT_MAX 512
#define MSG_NAME_MAX 64
#define MSG_MAX 1024

/* Codes carried by ERROR, REGISTER_ERR, OPEN_ERR, RST and GOAWAY. */
enum err_code {
	ERR_NONE = 0,
	ERR_PROTOCOL = 1,
	ERR_VERSION = 2,
	ERR_AUTH = 3,
	ERR_TIMEOUT = 4,
	ERR_DENIED = 5,
	ERR_IN_USE = 6,
	ERR_INVALID = 7,
	ERR_UNREACHABLE = 8,
	ERR_LIMIT = 9,
	ERR_SHUTDOWN = 10,
	ERR_INTERNAL = 11,
	ERR_REFUSED = 12, /* OPEN_ERR: the destination refused the connection */
};

/* A connection is the control session, or one dedicated data connection. */
enum hello_role { HELLO_CONTROL = 0, HELLO_DATA = 1 };

/* AUTH carries the MAC; on a data connection also the control session's id
 * (the MAC there is keyed by that session's key, proto/auth.h); on a control
 * connection, with CAP_NAMED, optionally the client's name (a string). */
#define AUTH_DATA_LEN (MAC_LEN + 4)

/*
 * Capability bits in HELLO (version 3 on): each side announces what it
 * supports and both use the bits they share. Unknown bits are ignored; a
 * frame type that only a capability introduces is still an error unless
 * both announced it.
 *
 * CAP_NAMED: a control connection's AUTH may carry the client's name; the
 * server keys the proof by that client's own token (its clients: list).
 */
#define CAP_NAMED 0x1u
/*
 * CAP_TLS, per connection: this side's end of the connection is TLS that it
 * terminates itself. When both send it, both proofs cover the TLS channel
 * binding; a client on TLS whose server does not send it knows that
 * something in between (a web server or CDN in front of a wss server, or a
 * man in the middle) terminates its TLS.
 */
#define CAP_TLS 0x2u
/*
 * CAP_FORWARD: either side may open streams (the client odd ids, the
 * server even ones), and OPEN may carry a kind and a destination
 * (struct msg_open): what -L, -D and reverse SOCKS need.
 */
#define CAP_FORWARD 0x4u
/*
 * CAP_UDP: UDP tunnels. The side with the public UDP port opens a flow per
 * source address (UDP_OPEN: tunnel_id u32 | peer str, id = flow id), each
 * datagram is one DGRAM (id = flow id, payload = the datagram), and the
 * opener ends idle flows (UDP_CLOSE, empty). Datagrams are dropped, and
 * counted, when the session is congested: never queued without bound.
 */
#define CAP_UDP 0x8u
/*
 * CAP_OPEN_DEST (with CAP_FORWARD): an OPEN_TUNNEL may carry the tail, kind
 * 0 and dest = the address on the server that the user connected to (for
 * a PROXY protocol header). Its own bit because a receiver without it
 * takes that tail for a protocol error.
 */
#define CAP_OPEN_DEST 0x10u
/*
 * CAP_VHOST: REGISTER kind HTTPS, names served on the server's shared HTTPS
 * port (routed by the ClientHello's server name, passed through).
 */
#define CAP_VHOST 0x20u
/*
 * CAP_HTTP: REGISTER kind HTTP, names (and path prefixes) served on the
 * server's shared HTTP port, routed per request by Host and path.
 */
#define CAP_HTTP 0x40u
#define PROTO_CAPS (CAP_NAMED | CAP_FORWARD | CAP_UDP | CAP_OPEN_DEST | CAP_VHOST | \
	CAP_HTTP)

struct msg_hello {
	uint16_t version;
	uint8_t role;
	uint8_t nonce[NONCE_LEN];
	uint32_t caps; /* carried from version 3 on; 0 before */
};

/* AUTH's payload: the client's proof, and on a data connection its session. */
struct msg_auth {
	uint8_t mac[MAC_LEN];
	uint32_t session_id; /* data connections only */
	char name[MSG_NAME_MAX + 1]; /* control connections: "" or the client's name */
};

struct msg_auth_ok {
	uint8_t mac[MAC_LEN];
	uint32_t session_id;
};

/* ERROR, REGISTER_ERR, OPEN_ERR, RST, GOAWAY. */
struct msg_error {
	uint16_t code;
	char text[MSG_TEXT_MAX + 1];
};

/* REGISTER's kind: a plain TCP tunnel, or a SOCKS5 / HTTP CONNECT port whose
 * connections exit at the client (reverse dynamic forwarding). */
enum tunnel_kind { TUNNEL_TCP = 0, TUNNEL_SOCKS = 1, TUNNEL_SECRET = 2,
	TUNNEL_VISIT = 3, TUNNEL_UDP = 4, TUNNEL_HTTPS = 5, TUNNEL_HTTP = 6 };
/* A secret tunnel's visitors ("" this account's clients, "*" anyone who
 * knows the name, else client names), a visit's "[owner/]share", an HTTPS
 * tunnel's names ("app.example.com,*.dev.example.com"), an HTTP tunnel's
 * names and, after a ';', its path prefixes ("app.example.com;/api,/v2"). */
#define MSG_EXTRA_MAX 512

#define REGISTER_HAS_BIND 0x01 /* the client named a bind address */
#define REGISTER_MUX_ONLY 0x02 /* never use a dedicated data connection */
#define REGISTER_UDP 0x04      /* SECRET, VISIT (CAP_UDP): datagrams, not streams */

/*
 * Kind HTTP: what the server does to each request for the tunnel, after
 * the extra string: a count (u8), then each option's key (u8) and value
 * (string). A server refuses keys it does not know.
 * HOPT_HOST: the Host header the service gets ("localhost:3000");
 * HOPT_AUTH: "user:crypt-hash" (basic auth; one per user; hashes as
 *            crypt(3) makes them: $y$, $2b$, $6$, $5$);
 * HOPT_SET: "Name: value", a request header set (replacing the visitor's);
 * HOPT_REMOVE: "Name", a request header removed;
 * HOPT_RESP_SET, HOPT_RESP_REMOVE: the same for the service's responses.
 */
enum http_opt_key { HOPT_HOST = 1, HOPT_AUTH = 2, HOPT_SET = 3, HOPT_REMOVE = 4,
	HOPT_RESP_SET = 5, HOPT_RESP_REMOVE = 6 };
#define MSG_HOPTS_MAX 16
#define MSG_HOPT_LEN 255
struct msg_hopt {
	uint8_t key;
	char value[MSG_HOPT_LEN + 1];
};
/* A REGISTER's largest encoding. */
#define MSG_REGISTER_MAX (MSG_MAX + 1 + MSG_HOPTS_MAX * (3 + MSG_HOPT_LEN))

struct msg_register {
	uint8_t kind;
	uint8_t flags;
	uint16_t port;
	char bind[ADDR_HOST_MAX];
	char name[MSG_NAME_MAX + 1];
	/* Kinds SECRET and VISIT (CAP_FORWARD): what they share or visit;
	 * HTTPS (CAP_VHOST): the names it serves; HTTP (CAP_HTTP): the names,
	 * then ';' and path prefixes if any. */
	char extra[MSG_EXTRA_MAX + 1];
	uint8_t nhopts; /* HTTP */
	struct msg_hopt hopts[MSG_HOPTS_MAX];
};

struct msg_register_ok {
	char addr[ADDR_STR_MAX]; /* the address the server listens on */
};

/*
 * What an OPEN asks of its receiver (CAP_FORWARD; without it, always
 * OPEN_TUNNEL and nothing after peer on the wire):
 * OPEN_TUNNEL: dial the target of tunnel_id (a -R tunnel); dest, when not
 * empty, is the server's address that the user connected to ("ip:port",
 * IPv6 in brackets), for a PROXY protocol header;
 * OPEN_DIAL: dial dest, "host:port" (-L, -D; reverse SOCKS: tunnel_id too);
 * OPEN_VISIT: from a visitor, to the secret tunnel its tunnel_id visits
 * (REGISTER kind VISIT); dest is empty.
 */
enum open_kind { OPEN_TUNNEL = 0, OPEN_DIAL = 1, OPEN_VISIT = 2 };

struct msg_open {
	uint32_t tunnel_id;
	uint32_t window;
	char peer[ADDR_STR_MAX];
	uint8_t kind;            /* enum open_kind */
	char dest[ADDR_STR_MAX]; /* OPEN_DIAL: host:port, IPv6 in brackets;
				  * OPEN_TUNNEL: "" or the address on the server
				  * that the user connected to */
};

size_t msg_hello_encode(uint8_t *buf, const struct msg_hello *m);
int msg_hello_decode(const uint8_t *p, size_t n, struct msg_hello *m,
    const char **why);

/* AUTH's layout depends on the connection's role (HELLO). */
size_t msg_auth_encode(uint8_t *buf, const struct msg_auth *m,
    enum hello_role role);
int msg_auth_decode(const uint8_t *p, size_t n, enum hello_role role,
    struct msg_auth *m, const char **why);

size_t msg_auth_ok_encode(uint8_t *buf, const struct msg_auth_ok *m);
int msg_auth_ok_decode(const uint8_t *p, size_t n, struct msg_auth_ok *m,
    const char **why);

size_t msg_error_encode(uint8_t *buf, uint16_t code, const char *text);
int msg_error_decode(const uint8_t *p, size_t n, struct msg_error *m,
    const char **why);

size_t msg_register_encode(uint8_t *buf, const struct msg_register *m);
int msg_register_decode(const uint8_t *p, size_t n, struct msg_register *m,
    const char **why);

size_t msg_register_ok_encode(uint8_t *buf, const struct msg_register_ok *m);
int msg_register_ok_decode(const uint8_t *p, size_t n,
    struct msg_register_ok *m, const char **why);

size_t msg_open_encode(uint8_t *buf, const struct msg_open *m);
int msg_open_decode(const uint8_t *p, size_t n, struct msg_open *m,
    const char **why);

/* OPEN_OK and WINDOW carry one u32: a window, or a credit increment. */
size_t msg_u32_encode(uint8_t *buf, uint32_t v);
int msg_u32_decode(const uint8_t *p, size_t n, uint32_t *v, const char **why);

/* True if name is 1..MSG_NAME_MAX of [A-Za-z0-9._-]. */
int msg_name_valid(const char *name);

#endif
