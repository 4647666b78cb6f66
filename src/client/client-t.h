/*
 * Private to src/client: the client role's structs and the functions its
 * files share. client.c: connecting, the handshake, frames, tunnels'
 * registration, reconnecting; target.c: resolving and dialing a tunnel's
 * target for each OPEN; pool.c: the pool of dedicated data connections.
 */
#ifndef BURROW_CLIENT_T_H
#define BURROW_CLIENT_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/util.h>

#include "config/config.h"
#include "mux/session.h"
#include "proto/handshake.h"
#include "socks/front.h"
#include "udp/flow.h"
#include "transport/dial.h"
#include "transport/framed.h"
#include "transport/proxy.h"
#include "util/log.h"

struct conn;
struct dest_dial;
struct evconnlistener;
struct evdns_base;
struct evdns_getaddrinfo_request;

#define BACKOFF_START_MS 1000
#define REGISTER_RETRY_MS 5000
/* A data connection that failed is replaced after this long, not at once. */
#define POOL_RETRY_MS 1000
/* A target's resolved addresses are reused for this long (no TTL in evdns' getaddrinfo). */
#define TARGET_CACHE_MS 30000

enum client_state {
	C_IDLE,
	C_RESOLVING,
	C_CONNECTING,
	C_HANDSHAKE,
	C_READY,
	C_BACKOFF,
	C_STOPPED
};

struct client;
struct data_conn;

/* A pending dial to a tunnel's target for one OPEN. */
struct dial {
	struct client *c;
	uint32_t stream_id;
	uint32_t peer_window;
	size_t tunnel;
	int resolving; /* on its target's waiting list */
	struct dialer *dialer;
	struct dest_dial *dd; /* a reverse SOCKS tunnel: the OPEN's destination */
	/* For its log lines, and a PROXY header (tcp tunnels: dest is where
	 * the user connected on the server, "" if the server did not say). */
	char dest[ADDR_STR_MAX], peer[ADDR_STR_MAX];
	LIST_ENTRY(dial) link;
	LIST_ENTRY(dial) wlink;
};

/*
 * A tunnel's local target, resolved once and shared by every OPEN until it
 * expires or a dial to every address failed; dials that arrive during a
 * lookup wait on it instead of starting their own.
 */
struct target {
	struct addr_list a;
	uint64_t expires_ms; /* UINT64_MAX: a numeric address */
	struct evdns_getaddrinfo_request *req;
	LIST_HEAD(, dial) waiting;
};

enum dc_state { DC_CONNECTING, DC_HELLO, DC_AUTH, DC_IDLE };

/*
 * A dedicated data connection: the same handshake as the control session
 * (role DATA, naming the session), then idle until the server sends
 * ADOPT(stream); once the stream has moved it carries that stream's raw
 * bytes.
 */
struct data_conn {
	struct client *c;
	enum dc_state state;
	struct dialer *dialer; /* while connecting */
	struct proxy_dial *pdial; /* then through the proxy */
	struct conn *conn;     /* once connected */
	struct event *ev;      /* the handshake's timeout */
	struct frame_reader rd;
	struct handshake hs;
	LIST_ENTRY(data_conn) link;
};

struct tunnel_state {
	struct client *c;
	size_t index;
	int registered;
	int retry; /* registration failed with a port in use: try again */
	struct target target;
	char why[MSG_TEXT_MAX + 1]; /* why its registration failed, for log lines */
	struct evconnlistener *lev; /* -L, -D, visitors: listening here */
	struct front_set fronts;    /* -D: connections in their request */
	struct log_limit lim;
	int pp_unknown_logged; /* proxy_protocol: said why headers lack addresses */
	/* A UDP visitor's port (its socket is the event's) and idle sweep. */
	struct event *uev, *usweep;
};

struct client {
	struct event_base *base;
	struct evdns_base *dns;
	const struct config *cfg;
	enum client_state state;
	struct session *s;
	struct dialer *dialer; /* while connecting */
	struct proxy_dial *pdial; /* while the proxy opens the tunnel */
	struct event *timer; /* backoff; when ready: register retry, pool refill */
	struct evdns_getaddrinfo_request *req;
	uint32_t backoff_ms;
	struct handshake hs; /* of the control connection */
	char server_str[ADDR_STR_MAX];
	struct tunnel_state *tunnels;
	LIST_HEAD(, dial) dials;
	size_t ndials;
	struct log_limit lim_open;
	LIST_HEAD(, data_conn) data_conns;
	size_t ndata; /* connecting or idle: what the pool counts */
	/* The server's addresses, tried in turn on each (re)connection; then
	 * the one the session reached, where data connections go too. */
	struct addr_list addrs;
	struct addr_list server_addr;
	uint32_t session_id;
	uint8_t session_key[MAC_LEN]; /* keys the data connections' proofs */
	int pool_announced;
	struct relay_workers *relays;
	struct tls_client *tls; /* NULL: plain TCP */
	char ws_host[ADDR_STR_MAX + 8]; /* ws/wss: the upgrade's Host header */
	int transport;  /* the one in use: cfg's, or auto's current choice */
	char auto_why[640]; /* auto: why the transports tried so far failed */
	struct event *auto_timer; /* auto, on a fallback: try the better ones again */
	int auto_upgrade;         /* the session ends to do that */
	struct gauge *moved;      /* streams moved to relay threads, still open */
	struct udp_table udp;     /* UDP tunnels' flows */
	uint32_t next_flow;       /* a UDP visitor's flows: odd, as stream ids */
	int exit_code;
};

/* client.c */
/* Starts hs with a fresh nonce; the HELLO's length in buf, 0 if no randomness. */
size_t client_hello(struct handshake *hs, enum hello_role role, struct conn *conn,
    uint8_t *buf);
/* Where the client dials: the proxy, or the server itself. */
const struct hostport *client_hop(const struct client *c);
/* On a socket connected to the proxy: the tunnel to the server (transport/proxy.h). */
struct proxy_dial *client_tunnel(struct client *c, int fd, proxy_done_cb done,
    void *arg);
/* A connection to the server on a connected socket: TCP or TLS, and
 * WebSocket on top for ws/wss. Takes fd. */
struct conn *client_conn_new(struct client *c, int fd);
/*
 * After the server's HELLO: binds hs to a TLS connection whose other end
 * is the server's (CAP_TLS both ways). 0, or -1 with *why: a tls client
 * whose TLS ends before the server (retrying will not help).
 */
int client_bind(struct client *c, struct conn *conn, struct handshake *hs,
    const char **why);

/* target.c */
void targets_init(struct client *c);
void targets_cancel(struct client *c);
/* OPEN: dial the tunnel's target; the stream starts when it answers. */
int client_open(struct client *c, const struct frame *f, const char **why);
void dial_free(struct dial *d);
/* Starts looking the tunnel's target up, if it is not known or being looked up. */
void target_lookup(struct tunnel_state *ts);

/* udp.c: UDP_OPEN, DGRAM, UDP_CLOSE */
int client_udp_frame(struct client *c, const struct frame *f, const char **why);
/* A UDP visitor's port: listen (0, or -1 logged), and close. */
int udp_visit_listen(struct client *c, struct tunnel_state *ts);
void udp_visit_close(struct tunnel_state *ts);

/* forward.c: -L and -D */
/* Listens for every -L and -D tunnel; -1 (logged) if one cannot. */
int forwards_listen(struct client *c);
void forwards_close(struct client *c);
int forward_open_result(struct session *s, uint32_t stream_id,
    uint32_t tunnel_id, uint8_t tag, int fd, const struct msg_error *err,
    void *arg);

/* pool.c */
/* Keeps cfg->pool data connections connecting or idle while the session is up. */
void pool_fill(struct client *c);
void dc_free(struct data_conn *dc);

#endif
