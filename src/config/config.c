#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config/config-t.h"
#include "util/fingerprint.h"
#include "util/secret.h"
#include "util/str.h"

enum opt_type {
	OT_CONFIG,   /* -c: flag only */
	OT_HELP,     /* -h: flag only */
	OT_LISTEN,   /* host:port, default port 7700 */
	OT_SERVER,   /* host[:port], default port 7700 */
	OT_SECRET,   /* a token: never printed */
	OT_GATEWAY,  /* no | yes | clientspecified */
	OT_PORTS,    /* port ranges */
	OT_DURATION, /* uint32 ms */
	OT_SIZE,     /* uint64 bytes, within [min, max] */
	OT_COUNT,    /* uint32, within [min, max] */
	OT_LOGLEVEL,
	OT_TUNNELS, /* YAML list; -R adds one spec */
	OT_PATH,        /* a file or directory name (char *) */
	OT_BOOL,        /* yes | no */
	OT_TRANSPORT,   /* tcp | tls */
	OT_FINGERPRINT, /* SHA256:base64 or hex */
	OT_CLIENTS,     /* the server's YAML list of named clients */
	OT_NAME,        /* a name: 1-64 of [A-Za-z0-9._-] */
	OT_PROXY,       /* a proxy URL, or "direct"; may hold a password */
	OT_URLPATH,     /* an HTTP path: "/" and printable ASCII, no blanks (char *) */
	OT_HOSTNAME,    /* a host name for a header or SNI: printable, no blanks (char *) */
	OT_DEST,        /* destination rules (struct dest_rules *), or "none" */
	OT_PROXYPROTO,  /* v1 | v2: flag only, for the -R tunnels of the flags */
	OT_DOMAINS,     /* host name patterns (struct domains) */
	OT_DURATION_S,  /* a long duration in seconds (uint64_t) */
};

struct option_def {
	const char *key;  /* YAML key; the flag is "--" + key with '_' as '-' */
	char short_opt;   /* or 0 */
	unsigned roles;
	enum opt_type type;
	size_t offset;
	const char *def; /* default as text, or NULL */
	const char *arg; /* argument name in --help */
	const char *help;
	uint64_t min, max; /* bounds for OT_SIZE and OT_DURATION */
};

#define BOTH (ROLE_SERVER | ROLE_CLIENT)
#define OFF(f) offsetof(struct config, f)

/* The one table of options. Order is the order of --help and the docs. */
static const struct option_def options[] = {
    {"config", 'c', BOTH, OT_CONFIG, 0, NULL, "FILE",
	"read settings from a YAML file (flags override it)", 0, 0},
    {"listen", 'l', ROLE_SERVER, OT_LISTEN, OFF(listen), "0.0.0.0:7700",
	"ADDR:PORT", "control address clients connect to (port 0: any free port)", 0, 0},
    {"web_listen", 0, ROLE_SERVER, OT_LISTEN, OFF(web_listen), NULL, "ADDR:PORT",
	"also accept clients on this plain port (no TLS), for a web server or CDN "
	"in front that proxies WebSocket and http transport requests to burrow "
	"(the control port takes them too)", 0, 0},
    {"https", 0, ROLE_SERVER, OT_LISTEN, OFF(https_listen), NULL, "ADDR[:PORT]",
	"a shared HTTPS port (default port 443) for the names clients register (-R "
	"https:NAME:host:port): each TLS connection goes, still encrypted, to the "
	"client that serves the name its ClientHello asks for (SNI); an unknown "
	"name gets a TLS alert", 0, 0},
    {"https_certs", 0, ROLE_SERVER, OT_PATH, OFF(https_certs), NULL, "DIR",
	"certificates for the HTTPS port to terminate TLS with, for names HTTP "
	"tunnels (-R http:) register: NAME.crt (chain, PEM) and NAME.key pairs, "
	"each serving its certificate's DNS names; reread on SIGHUP", 0, 0},
    {"acme_directory", 0, ROLE_SERVER, OT_PATH, OFF(acme_directory), NULL, "URL",
	"order certificates for HTTP tunnels' names from this ACME server (RFC "
	"8555; letsencrypt: Let's Encrypt's production directory), answering the "
	"HTTP-01 challenge on the http port and serving them on the https port; "
	"kept in state_dir/acme", 0, 0},
    {"acme_email", 0, ROLE_SERVER, OT_PATH, OFF(acme_email), NULL, "EMAIL",
	"the ACME account's contact address", 0, 0},
    {"acme_ca", 0, ROLE_SERVER, OT_PATH, OFF(acme_ca), NULL, "FILE",
	"CA certificates (PEM) to verify the ACME server with; default: the "
	"system's", 0, 0},
    {"acme_challenge", 0, ROLE_SERVER, OT_PATH, OFF(acme_challenge), "http-01",
	"http-01|tls-alpn-01", "how the ACME server checks a name: a request to "
	"the http port (http-01) or a TLS handshake on the https port "
	"(tls-alpn-01, when port 80 is not yours)", 0, 0},
    {"acme_renew_before", 0, ROLE_SERVER, OT_DURATION_S, OFF(acme_renew_before_s),
	"30d", "DURATION", "renew an ACME certificate that expires sooner than "
	"this", 0, 0},
    {"acme_check", 0, ROLE_SERVER, OT_DURATION, OFF(acme_check_ms), "12h",
	"DURATION", "how often ACME certificates are looked at for renewal", 1000,
	604800000},
    {"http", 0, ROLE_SERVER, OT_LISTEN, OFF(http_listen), NULL, "ADDR[:PORT]",
	"a shared HTTP port (default port 80) for the names clients register (-R "
	"http:NAME:host:port): each request goes to the client that serves its "
	"Host (an exact name, then the longest *. wildcard) and the longest path "
	"prefix; an unknown name gets 404", 0, 0},
    {"domain", 0, ROLE_SERVER, OT_HOSTNAME, OFF(domain), NULL, "NAME",
	"HTTP port: the domain under which clients may ask for a name by its "
	"first label alone (subdomain: app, or -R http:app:host:port, gets "
	"app.NAME) or get a random one (-R http:host:port); such names are "
	"allowed to every client without a domains: list of its own", 0, 0},
    {"trusted_proxies", 0, ROLE_SERVER, OT_DEST, OFF(trusted_proxies), NULL,
	"NETS", "HTTP port: visitors whose X-Forwarded-For and Forwarded are "
	"appended to and whose X-Forwarded-Proto/-Host and X-Real-IP stand (a CDN "
	"or load balancer in front), as addresses or networks with ports, like "
	"10.0.0.0/8:*,192.0.2.7:*; unset: every visitor's own such headers are "
	"dropped", 0, 0},
    {"server", 's', ROLE_CLIENT, OT_SERVER, OFF(server), NULL, "HOST[:PORT]",
	"the burrow server to connect to (default port 7700), or a URL that names "
	"the transport too: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST[:PORT]/PATH, "
	"wss://HOST[:PORT]/PATH (ports 80 and 443 by default)", 0, 0},
    {"token", 't', BOTH, OT_SECRET, OFF(token), NULL, "TOKEN",
	"shared secret; prefer BURROW_TOKEN or the config file, flags show in ps "
	"until burrow hides them", 0, 0},
    {"tunnels", 'R', ROLE_CLIENT, OT_TUNNELS, 0, NULL, "SPEC",
	"remote forward [bind_address:]port:host:hostport, as ssh -R: a server port "
	"to a target here; udp:[bind_address:]port:host:hostport for UDP; "
	"[bind_address:]port alone: a server port that is a SOCKS5 and HTTP proxy "
	"whose connections exit here (repeatable)", 0, 0},
    {"local_forward", 'L', ROLE_CLIENT, OT_TUNNELS, 0, NULL, "SPEC",
	"local forward [bind_address:]port:host:hostport, as ssh -L: a port here "
	"whose connections the server connects to host:hostport (the server's "
	"forward_to must allow it); after --visit, [bind_address:]port (TCP) or "
	"udp:[bind_address:]port (a UDP share) (repeatable)", 0, 0},
    {"dynamic_forward", 'D', ROLE_CLIENT, OT_TUNNELS, 0, NULL, "SPEC",
	"dynamic forward [bind_address:]port, as ssh -D: a SOCKS5 and HTTP proxy "
	"here whose connections exit at the server (forward_to; repeatable)", 0, 0},
    {"socks_auth", 0, ROLE_CLIENT, OT_SECRET, OFF(socks_auth), NULL, "USER:PASSWORD",
	"-D and HTTP proxy ports here ask for this username and password "
	"(SOCKS5 RFC 1929, HTTP Proxy-Authorization: Basic); hidden from ps like "
	"the token", 0, 0},
    {"share", 0, ROLE_CLIENT, OT_TUNNELS, 0, NULL, "[udp:][NAME=]HOST:PORT",
	"a secret tunnel: host:port reachable by visitors (--visit) through the "
	"server, with no public port; without NAME, a random name is made and "
	"logged, and anyone who knows it may visit; udp: datagrams to a UDP "
	"service (repeatable)", 0, 0},
    {"visit", 0, ROLE_CLIENT, OT_TUNNELS, 0, NULL, "[OWNER/]NAME",
	"visit a secret tunnel: goes with a -L [bind_address:]port that follows "
	"it, whose connections reach the shared service (OWNER: the sharing "
	"client's name, when it is not this client's)", 0, 0},
    {"proxy_protocol", 0, ROLE_CLIENT, OT_PROXYPROTO, 0, NULL, "v1|v2",
	"every -R tunnel to a target given by flags (TCP) sends the target a "
	"PROXY protocol header (HAProxy's, text v1 or binary v2) before the "
	"user's bytes, naming the user's address and the server address it "
	"connected to; in a file: proxy_protocol: in a tunnels: entry", 0, 0},
    {"gateway_ports", 0, ROLE_SERVER, OT_GATEWAY, OFF(gateway_ports), "no",
	"no|yes|clientspecified",
	"no: tunnels listen on loopback; yes: on all addresses; "
	"clientspecified: where the client asks", 0, 0},
    {"allow_ports", 0, ROLE_SERVER, OT_PORTS, OFF(allow_ports), "1024-65535",
	"LIST", "ports clients may claim, like 1024-65535,80 (0 = any free port is always allowed)", 0, 0},
    {"forward_to", 0, ROLE_SERVER, OT_DEST, OFF(forward_to), NULL, "RULES",
	"where clients' -L and -D connections may go, which the server dials: "
	"HOST:PORTS rules like *.corp.example:443,10.0.0.0/8:*,db:5432 (*:* for "
	"anywhere); unset: -L and -D are refused", 0, 0},
    {"domains", 0, ROLE_SERVER, OT_DOMAINS, OFF(domains), NULL, "NAMES",
	"the HTTP and HTTPS names clients may register, like example.com,*.example.com "
	"(a *. name allows every name under it); a client's own domains: replace "
	"it; unset: any name", 0, 0},
    {"udp_timeout", 0, ROLE_SERVER, OT_DURATION, OFF(udp_timeout_ms), "60s",
	"DURATION", "a UDP tunnel's flow (one per source address) ends after this "
	"long without a datagram either way", 1000, 86400000},
    {"heartbeat", 0, BOTH, OT_DURATION, OFF(heartbeat_ms), "10s", "DURATION",
	"ping interval; a peer silent for three intervals is dead", 50, 3600000},
    {"handshake_timeout", 0, BOTH, OT_DURATION,
	OFF(handshake_timeout_ms), "10s", "DURATION",
	"server: drop connections that have not authenticated by then; client: "
	"give up connecting and authenticating to the server after this long", 100,
	600000},
    {"open_timeout", 0, BOTH, OT_DURATION, OFF(open_timeout_ms), "5s",
	"DURATION", "give up on a stream whose target does not answer", 100, 600000},
    {"response_timeout", 0, ROLE_SERVER, OT_DURATION, OFF(response_timeout_ms),
	"60s", "DURATION", "HTTP port: a service that has not begun its response "
	"this long after the request's end gets 504", 100, 3600000},
    {"auto_retry", 0, ROLE_CLIENT, OT_DURATION, OFF(auto_retry_ms), "10m",
	"DURATION", "transport auto: on a transport other than the first, try the "
	"better ones again this often, when no stream is open (the session is "
	"reconnected for it)", 1000, 86400000},
    {"reconnect_max", 0, ROLE_CLIENT, OT_DURATION, OFF(reconnect_max_ms),
	"30s", "DURATION", "longest wait between reconnection attempts (starts at 1s)",
	100, 3600000},
    {"window", 0, BOTH, OT_SIZE, OFF(window), "2M", "SIZE",
	"per-stream flow-control window at first: bytes in flight per stream", 65536,
	64ull * 1024 * 1024},
    {"window_max", 0, BOTH, OT_SIZE, OFF(window_max), "16M", "SIZE",
	"how far a stream's receive window may grow when the path holds more "
	"than it (a long fat link: bytes per round trip, measured with a PING); "
	"at most window: fixed windows", 65536, 64ull * 1024 * 1024},
    {"pool", 0, ROLE_CLIENT, OT_COUNT, OFF(pool), "8", "N",
	"dedicated data connections kept open; a stream that carries more than "
	"the server's dedicated_after takes one and its bytes then flow raw, "
	"spliced (0: multiplex every stream)", 0, 64},
    {"dedicated_after", 0, ROLE_SERVER, OT_SIZE, OFF(dedicated_after), "256K",
	"SIZE", "a stream moves from the control connection to an idle dedicated "
	"data connection once it has carried this many bytes in bulk: reads of 16K "
	"or more (or of SIZE, if smaller) count, small request/response chatter "
	"does not (0: on its first bytes)",
	0, 1ull << 40},
    {"threads", 0, BOTH, OT_COUNT, OFF(threads), "0", "N",
	"relay threads for dedicated connections (0: one per CPU)", 0, 64},
    {"max_tunnels", 0, ROLE_SERVER, OT_COUNT, OFF(max_tunnels), "64", "N",
	"tunnels one client session may register", 1, 65536},
    {"max_streams", 0, BOTH, OT_COUNT, OFF(max_streams), "16384", "N",
	"multiplexed streams per session, open or opening (client: and targets "
	"being dialed); a user connection beyond it is refused", 1, 1048576},
    {"max_conns", 0, ROLE_SERVER, OT_COUNT, OFF(max_conns), "16384", "N",
	"user connections per tunnel, multiplexed or moved; more are refused", 1,
	1048576},
    {"max_unauthenticated", 0, ROLE_SERVER, OT_COUNT, OFF(max_unauthenticated),
	"1024", "N", "connections still in their handshake; when full, the oldest "
	"one is closed to make room", 1, 1048576},
    {"max_unauthenticated_per_source", 0, ROLE_SERVER, OT_COUNT,
	OFF(max_unauthenticated_per_source), "64", "N",
	"connections in their handshake from one IPv4 address or IPv6 /64; more "
	"are refused", 1, 1048576},
    {"transport", 0, ROLE_CLIENT, OT_TRANSPORT, OFF(transport), "tcp",
	"tcp|tls|ws|wss|http|https|auto", "how to reach the server: plain TCP, TLS, "
	"WebSocket over TCP or TLS (through web servers and proxies that carry "
	"WebSockets), or plain HTTP requests and long polls over TCP or TLS (where "
	"nothing else gets out; slower); also --server tls://, ws://, wss://, "
	"http://, https://...; auto: the first of tcp, tls, ws, wss, http that gets "
	"through, tried again from the first at each reconnection",
	0, 0},
    {"path", 0, BOTH, OT_URLPATH, OFF(url_path), "/", "PATH",
	"ws/wss/http/https: the HTTP path of the WebSocket upgrade and the http "
	"transport's requests; the server takes only this path (behind a web "
	"server: the location that proxies to burrow) and answers 404 to others",
	0, 0},
    {"host_header", 0, ROLE_CLIENT, OT_HOSTNAME, OFF(host_header), NULL, "HOST",
	"ws/wss/http/https: the Host header of the requests (default: the server's "
	"host, and :port unless it is the scheme's own, 80 or 443)", 0, 0},
    {"sni", 0, ROLE_CLIENT, OT_HOSTNAME, OFF(sni), NULL, "NAME",
	"TLS: the server name sent in the handshake and checked in its certificate "
	"(default: the server's host; a CDN or a shared front may need another)", 0, 0},
    {"fingerprint", 0, ROLE_CLIENT, OT_FINGERPRINT, 0, NULL, "SHA256:KEY",
	"TLS: trust the server whose key has this fingerprint, as the server logs "
	"it at start (hex also accepted)", 0, 0},
    {"ca", 0, ROLE_CLIENT, OT_PATH, OFF(ca), NULL, "FILE",
	"TLS: trust server certificates from this CA (PEM), with a host name or "
	"address check; without --ca or --fingerprint the system's CAs are used", 0, 0},
    {"trust_on_first_use", 0, ROLE_CLIENT, OT_BOOL, OFF(trust_on_first_use), "no",
	"yes|no", "TLS: with no --fingerprint or --ca, remember the server's key at "
	"the first connection (in known_servers) and refuse a changed one", 0, 0},
    {"known_servers", 0, ROLE_CLIENT, OT_PATH, OFF(known_servers), NULL, "FILE",
	"TLS: trust_on_first_use's file (default ~/.config/burrow/known_servers)", 0, 0},
    {"tls_ciphersuites", 0, ROLE_CLIENT, OT_PATH, OFF(tls_ciphersuites), NULL,
	"LIST", "TLS 1.3 cipher suites in order of preference, OpenSSL's syntax "
	"(default: OpenSSL's, AES-GCM where the CPU has AES instructions)", 0, 0},
    {"state_dir", 0, ROLE_SERVER, OT_PATH, OFF(state_dir), NULL, "DIR",
	"where the server keeps its generated TLS key and certificate (default "
	"/var/lib/burrow as root, else $XDG_STATE_HOME/burrow or ~/.local/state/burrow)",
	0, 0},
    {"tls_cert", 0, BOTH, OT_PATH, OFF(tls_cert), NULL, "FILE",
	"server: its TLS certificate chain (PEM; reloaded on SIGHUP) instead of the "
	"generated one; client: its certificate for mutual TLS", 0, 0},
    {"tls_key", 0, BOTH, OT_PATH, OFF(tls_key), NULL, "FILE",
	"the private key of tls_cert (PEM)", 0, 0},
    {"require_tls", 0, ROLE_SERVER, OT_BOOL, OFF(require_tls), "no", "yes|no",
	"refuse clients that connect without TLS (the control port always accepts "
	"both)", 0, 0},
    {"tls_client_ca", 0, ROLE_SERVER, OT_PATH, OFF(tls_client_ca), NULL, "FILE",
	"mutual TLS: clients must present a certificate from this CA (PEM); implies "
	"require_tls", 0, 0},
    {"proxy", 0, ROLE_CLIENT, OT_PROXY, 0, NULL, "URL",
	"reach the server through http://[user:pass@]host:port (HTTP CONNECT) or "
	"socks5://[user:pass@]host:port (the proxy resolves the server's name); "
	"the http transport uses an http:// proxy as a forward proxy, no CONNECT; "
	"default, as curl reads them: HTTPS_PROXY (tls, wss, https) or http_proxy "
	"(ws, http), then ALL_PROXY, minus NO_PROXY; direct: none", 0, 0},
    {"name", 'n', ROLE_CLIENT, OT_NAME, OFF(name), NULL, "NAME",
	"this client's name in the server's clients: list (its own token, "
	"certificate, ports and limits)", 0, 0},
    {"clients", 0, ROLE_SERVER, OT_CLIENTS, 0, NULL, "LIST",
	"YAML only: named clients, each with its own token and/or certificate "
	"fingerprint, allow_ports, max_tunnels, max_streams, forward_to, domains (reloaded "
	"on SIGHUP)",
	0, 0},
    {"log_level", 0, BOTH, OT_LOGLEVEL, OFF(log_level), "info",
	"error|warn|info|debug", "how much to log on stderr", 0, 0},
    {"help", 'h', BOTH, OT_HELP, 0, NULL, NULL, "show this help", 0, 0},
};
#define NOPTIONS (sizeof options / sizeof options[0])

static const char *const gateway_names[] = {"no", "yes", "clientspecified"};

const char *
role_name(enum role role)
{
	return role == ROLE_SERVER ? "server" : "client";
}

static void
flag_name(const struct option_def *o, char *out, size_t outlen)
{
	size_t i = 0;
	if (o->type == OT_TUNNELS && o->short_opt) {
		snprintf(out, outlen, "-%c", o->short_opt);
		return;
	}
	out[i++] = '-';
	out[i++] = '-';
	for (const char *k = o->key; *k && i + 1 < outlen; k++)
		out[i++] = *k == '_' ? '-' : *k;
	out[i] = '\0';
}

/* The token lives in secret memory: out of core dumps (util/secret.h). */
static void
secret_set(char **slot, const char *value)
{
	secret_free(*slot);
	*slot = secret_strdup(value);
	if (*slot == NULL)
		abort();
}

const char *
transport_name(int t)
{
	static const char *const names[] = {"tcp", "tls", "ws", "wss", "http", "https",
	    "auto"};
	return t >= TRANSPORT_TCP && t <= TRANSPORT_AUTO ? names[t] : "?";
}

static int
set_string(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	if (*field == NULL)
		abort();
	return 0;
}

/* Printable ASCII without blanks: safe in an HTTP request line or header. */
static int
http_token_valid(const char *v, size_t max)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
			return 0;
	return 1;
}

/*
 * --server as a URL: the scheme names the transport (tcp, tls, ws, wss);
 * ws and wss default to ports 80 and 443 and may carry a path. The
 * host[:port] part goes to hostpart.
 */
static int
server_url(struct config *cfg, const char *v, char *hostpart, size_t cap,
    uint16_t *defport, const char **why)
{
	static const struct {
		const char *scheme;
		int transport;
		uint16_t port;
	} schemes[] = {{"tcp://", TRANSPORT_TCP, DEFAULT_CONTROL_PORT},
	    {"tls://", TRANSPORT_TLS, DEFAULT_CONTROL_PORT},
	    {"ws://", TRANSPORT_WS, 80}, {"wss://", TRANSPORT_WSS, 443},
	    {"http://", TRANSPORT_HTTP, 80}, {"https://", TRANSPORT_HTTPS, 443}};
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t sl = strlen(schemes[i].scheme);
		if (strncmp(v, schemes[i].scheme, sl) != 0)
			continue;
		v += sl;
		const char *slash = strchr(v, '/');
		size_t hl = slash ? (size_t)(slash - v) : strlen(v);
		if (slash != NULL && schemes[i].port == DEFAULT_CONTROL_PORT) {
			*why = "only ws://, wss://, http:// and https:// URLs have a path";
			return -1;
		}
		if (slash != NULL && !http_token_valid(slash, 255)) {
			*why = "the path must be printable ASCII without blanks, at most 255 bytes";
			return -1;
		}
		if (hl >= cap) {
			*why = "host too long";
			return -1;
		}
		memcpy(hostpart, v, hl);
		hostpart[hl] = '\0';
		cfg->transport = schemes[i].transport;
		*defport = schemes[i].port;
		if (slash != NULL)
			set_string(&cfg->url_path, slash);
		return 0;
	}
	*why = "expected HOST[:PORT] or a URL: tcp://, tls://, ws://, wss://, http:// or "
	       "https://";
	return -1;
}

/* Sets one option from text. Returns 0 or -1 with *why. */

/* A bound as the user writes it: 64K, 1024G, 50ms, 10m, 1h, 64. */
static void
bound_format(enum opt_type t, uint64_t v, char *out, size_t len)
{
	static const struct {
		const char *suffix;
		uint64_t unit;
	} sizes[] = {{"G", 1ull << 30}, {"M", 1ull << 20}, {"K", 1ull << 10}},
	  times[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}};
	const char *ms = t == OT_DURATION ? "ms" : "";
	if (t == OT_SIZE || t == OT_DURATION) {
		const size_t n = 3;
		for (size_t i = 0; i < n && v > 0; i++) {
			uint64_t u = t == OT_SIZE ? sizes[i].unit : times[i].unit;
			if (v % u == 0) {
				snprintf(out, len, "%llu%s", (unsigned long long)(v / u),
				    t == OT_SIZE ? sizes[i].suffix : times[i].suffix);
				return;
			}
		}
	}
	snprintf(out, len, "%llu%s", (unsigned long long)v, ms);
}

/* "size out of range (64K to 64M)": the reason with the option's bounds. */
static const char *
range_why(const struct option_def *o, const char *what)
{
	static char why[96];
	char lo[32], hi[32];
	bound_format(o->type, o->min, lo, sizeof lo);
	bound_format(o->type, o->max, hi, sizeof hi);
	snprintf(why, sizeof why, "%s out of range (%s to %s)", what, lo, hi);
	return why;
}

/* --proxy / proxy: / the environment's URL; the password to secret memory. */
static int
proxy_set(struct config *cfg, const char *v, const char **why)
{
	struct proxy_url u;
	free(cfg->proxy_user);
	secret_free(cfg->proxy_pass);
	cfg->proxy_user = cfg->proxy_pass = NULL;
	cfg->proxy_kind = PROXY_NONE;
	cfg->proxy_set = 1;
	if (strcmp(v, "direct") == 0)
		return 0;
	int rc = proxy_url_parse(v, &u, why);
	if (rc == 0) {
		cfg->proxy_kind = u.kind;
		cfg->proxy = u.addr;
		if (u.has_user) {
			cfg->proxy_user = strdup(u.user);
			cfg->proxy_pass = secret_strdup(u.pass);
			if (cfg->proxy_user == NULL || cfg->proxy_pass == NULL)
				abort();
		}
	}
	OPENSSL_cleanse(&u, sizeof u);
	return rc;
}

static int
opt_set(const struct option_def *o, struct config *cfg, const char *v,
    const char **why)
{
	void *field = (char *)cfg + o->offset;
	switch (o->type) {
	case OT_LISTEN:
	case OT_SERVER: {
		struct hostport *hp = field;
		uint16_t defport = DEFAULT_CONTROL_PORT;
		char hostpart[ADDR_STR_MAX + 8];
		if (o->type == OT_SERVER && strstr(v, "://") != NULL) {
			if (server_url(cfg, v, hostpart, sizeof hostpart, &defport, why) != 0)
				return -1;
			v = hostpart;
		}
		int second = hp == &cfg->web_listen || hp == &cfg->https_listen ||
		    hp == &cfg->http_listen;
		if (hp == &cfg->https_listen)
			defport = 443;
		if (hp == &cfg->http_listen)
			defport = 80;
		if (hostport_parse(v, defport, hp, why) != 0)
			return -1;
		/* The second ports bind as given: a numeric address, or none. */
		struct sockaddr_storage ss;
		socklen_t sl;
		if (second && sockaddr_from_numeric(hp->host[0] ? hp->host : "0.0.0.0",
				  hp->port, &ss, &sl) != 0) {
			*why = "expected a numeric address and a port, like 0.0.0.0:443 or "
			       "[::]:443";
			return -1;
		}
		if (hp == &cfg->web_listen)
			cfg->has_web_listen = 1;
		if (hp == &cfg->https_listen)
			cfg->has_https_listen = 1;
		if (hp == &cfg->http_listen)
			cfg->has_http_listen = 1;
		if (o->type == OT_SERVER && (hp->host[0] == '\0' || hp->port == 0)) {
			*why = "expected HOST[:PORT] with a port from 1 to 65535";
			return -1;
		}
		return 0;
	}
	case OT_SECRET:
		if (*v == '\0') {
			*why = "must not be empty";
			return -1;
		}
		secret_set(field, v);
		return 0;
	case OT_GATEWAY:
		for (int i = 0; i < 3; i++) {
			if (strcmp(v, gateway_names[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		*why = "expected no, yes or clientspecified";
		return -1;
	case OT_PORTS:
		return port_ranges_parse(v, field, why);
	case OT_DEST:
		if (dest_set((struct dest_rules **)field, v, why) != 0)
			return -1;
		if (field == &cfg->trusted_proxies && cfg->trusted_proxies != NULL &&
		    cfg->trusted_proxies->nnames > 0) {
			*why = "expected addresses or networks with ports, like "
			       "10.0.0.0/8:*,192.0.2.7:* (names are not matched here)";
			return -1;
		}
		return 0;
	case OT_DOMAINS:
		return domains_set(field, v, why);
	case OT_DURATION_S:
		return duration_s_parse(v, (uint64_t *)field, why);
	case OT_DURATION: {
		uint32_t ms;
		if (duration_parse(v, &ms, why) != 0)
			return -1;
		if (ms < o->min || ms > o->max) {
			*why = range_why(o, "duration");
			return -1;
		}
		*(uint32_t *)field = ms;
		return 0;
	}
	case OT_SIZE: {
		uint64_t b;
		if (size_parse(v, &b, why) != 0)
			return -1;
		if (b < o->min || b > o->max) {
			*why = range_why(o, "size");
			return -1;
		}
		*(uint64_t *)field = b;
		return 0;
	}
	case OT_COUNT: {
		unsigned long n;
		if (count_parse(v, &n) != 0) {
			*why = "expected a whole number";
			return -1;
		}
		if (n < o->min || n > o->max) {
			*why = range_why(o, "number");
			return -1;
		}
		*(uint32_t *)field = (uint32_t)n;
		return 0;
	}
	case OT_LOGLEVEL:
		if (log_level_parse(v, field) != 0) {
			*why = "expected error, warn, info or debug";
			return -1;
		}
		return 0;
	case OT_PATH:
		if (*v == '\0') {
			*why = "must not be empty";
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(v);
		if (*(char **)field == NULL)
			abort();
		return 0;
	case OT_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
			*(int *)field = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
			*(int *)field = 0;
		else {
			*why = "expected yes or no";
			return -1;
		}
		return 0;
	case OT_TRANSPORT:
		for (int i = TRANSPORT_TCP; i <= TRANSPORT_AUTO; i++)
			if (strcmp(v, transport_name(i)) == 0) {
				*(int *)field = i;
				return 0;
			}
		*why = "expected tcp, tls, ws, wss, http, https or auto";
		return -1;
	case OT_URLPATH:
		if (v[0] != '/' || !http_token_valid(v, 255)) {
			*why = "expected a path starting with /, printable ASCII without "
			       "blanks, at most 255 bytes";
			return -1;
		}
		return set_string(field, v);
	case OT_HOSTNAME:
		if (!http_token_valid(v, 253)) {
			*why = "expected a host name: printable ASCII without blanks, at "
			       "most 253 bytes";
			return -1;
		}
		if (field == &cfg->domain && (!vhost_name_valid(v) || v[0] == '*')) {
			*why = "expected a DNS name in lower case, like tunnel.example.com";
			return -1;
		}
		return set_string(field, v);
	case OT_FINGERPRINT:
		if (fingerprint_parse(v, cfg->fingerprint, why) != 0)
			return -1;
		cfg->has_fingerprint = 1;
		return 0;
	case OT_NAME:
		if (!msg_name_valid(v)) {
			*why = "use 1 to 64 of A-Z a-z 0-9 . _ -";
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(v);
		if (*(char **)field == NULL)
			abort();
		return 0;
	case OT_CLIENTS:
		*why = "only in a config file (a clients: list)";
		return -1;
	case OT_PROXY:
		return proxy_set(cfg, v, why);
	case OT_CONFIG:
	case OT_HELP:
	case OT_TUNNELS:
	case OT_PROXYPROTO:
		break;
	}
	*why = "cannot be set here";
	return -1;
}

int
dest_set(struct dest_rules **slot, const char *v, const char **why)
{
	free(*slot);
	*slot = NULL;
	if (strcmp(v, "none") == 0)
		return 0;
	struct dest_rules *d = malloc(sizeof *d);
	if (d == NULL)
		abort();
	if (dest_rules_parse(v, d, why) != 0) {
		free(d);
		return -1;
	}
	*slot = d;
	return 0;
}

int
domains_set(struct domains *d, const char *v, const char **why)
{
	d->set = 0;
	if (vhost_names_parse(v, d->names, sizeof d->names, why) != 0)
		return -1;
	d->set = 1;
	return 0;
}

/* proxy_protocol: v1 or v2, as a version number. */
static int
proxy_protocol_parse(const char *v, int *version, const char **why)
{
	if (strcmp(v, "v1") == 0 || strcmp(v, "v2") == 0) {
		*version = v[1] - '0';
		return 0;
	}
	*why = "expected v1 or v2";
	return -1;
}

/* "s-" and 32 hex digits. */
static int
share_random_name(char *out, size_t outlen)
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	size_t n = (size_t)snprintf(out, outlen, "s-");
	for (size_t i = 0; i < sizeof r && n + 2 < outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%02x", r[i]);
	return 0;
}

static struct tunnel_cfg *
tunnel_add(struct config *cfg)
{
	struct tunnel_cfg *t =
	    realloc(cfg->tunnels, (cfg->ntunnels + 1) * sizeof *t);
	if (t == NULL)
		abort();
	cfg->tunnels = t;
	t = &cfg->tunnels[cfg->ntunnels++];
	memset(t, 0, sizeof *t);
	return t;
}

int
count_parse(const char *s, unsigned long *n)
{
	char *end;
	errno = 0;
	*n = strtoul(s, &end, 10);
	return *s < '0' || *s > '9' || *end != '\0' || errno != 0 ? -1 : 0;
}

static const struct option_def *
option_by_key(const char *key, enum role role)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if ((options[i].roles & role) && strcmp(options[i].key, key) == 0 &&
		    options[i].type != OT_CONFIG && options[i].type != OT_HELP)
			return &options[i];
	return NULL;
}

/* ---- YAML ---- */

int
yerr(struct yctx *y, const yaml_node_t *n, const char *key, const char *why)
{
	/* Never past ':', '=' or a blank: in "token:s3cret" (a flow mapping
	 * without its space) the key is the token. */
	size_t len = strcspn(key, ":= \t");
	y->err = xasprintf("%s:%lu: %.*s%s: %s", y->path,
	    (unsigned long)n->start_mark.line + 1, (int)len, key,
	    key[len] != '\0' ? "..." : "", why);
	return -1;
}

const char *
yscalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
					     : NULL;
}

static const char *const tunnel_type_names[] = {"tcp", "remote_dynamic",
    "local", "dynamic", "secret", "visitor", "https", "http"};
#define NTUNNEL_TYPES 8

/* The keys a tunnels: entry had, for yaml_tunnel_check. */
enum { H_REMOTE = 1, H_LOCAL = 2, H_LISTEN = 4, H_ALLOW = 8, H_VISITORS = 16,
	H_SHARE = 32, H_UDP = 64, H_DOMAINS = 128, H_PATHS = 256, H_HTTPOPTS = 512,
	H_SUBDOMAIN = 1024 };

/* types https and http: names on the server's shared port and a target. */
static int
yaml_vhost_check(struct yctx *y, yaml_node_t *item, const char *key,
    const struct tunnel_cfg *t, unsigned have)
{
	int http = t->type == TUNNEL_HTTP_VHOST;
	if (have & (H_REMOTE | H_LISTEN | H_ALLOW | H_VISITORS | H_SHARE | H_UDP))
		return yerr(y, item, key, http
		    ? "an http tunnel takes domains, paths and local only (its port is "
		      "the server's HTTP port)"
		    : "an https tunnel takes domains and local only (its port is the "
		      "server's HTTPS port)");
	if (!http && (have & (H_PATHS | H_HTTPOPTS | H_SUBDOMAIN)))
		return yerr(y, item, key, (have & H_SUBDOMAIN)
		    ? "subdomain: is for type http (an https tunnel names its domains)"
		    : (have & H_PATHS)
		    ? "paths: is for type http (HTTPS passed through is routed by "
		      "name alone)"
		    : "host_header_rewrite, basic_auth, request_headers and "
		      "response_headers are for type http (HTTPS passed through is "
		      "not read)");
	/* An http tunnel without names gets a random one under the server's domain. */
	if (!http && !(have & H_DOMAINS))
		return yerr(y, item, key, "missing domains: NAME[, NAME...]");
	if (!(have & H_LOCAL))
		return yerr(y, item, key, "missing local: host:port");
	return 0;
}

/* What each type needs, once the entry's keys are read. */
static int
yaml_tunnel_check(struct yctx *y, yaml_node_t *item, const char *key,
    const struct tunnel_cfg *t, unsigned have)
{
	if (t->type == TUNNEL_HTTPS_SNI || t->type == TUNNEL_HTTP_VHOST)
		return yaml_vhost_check(y, item, key, t, have);
	if (have & (H_DOMAINS | H_PATHS | H_HTTPOPTS | H_SUBDOMAIN))
		return yerr(y, item, key, (have & H_DOMAINS)
		    ? "domains: is for type http or https"
		    : (have & H_SUBDOMAIN) ? "subdomain: is for type http"
		    : (have & H_PATHS) ? "paths: is for type http"
				       : "host_header_rewrite, basic_auth, "
					 "request_headers and response_headers are "
					 "for type http");
	if ((have & H_VISITORS) && t->type != TUNNEL_SHARED)
		return yerr(y, item, key, "visitors: is for type secret");
	if ((have & H_SHARE) != (t->type == TUNNEL_VISITOR ? H_SHARE : 0))
		return yerr(y, item, key, t->type == TUNNEL_VISITOR
					      ? "missing share: [owner/]name"
					      : "share: is for type visitor");
	if (t->type == TUNNEL_SHARED) {
		if (have & (H_REMOTE | H_LISTEN | H_ALLOW))
			return yerr(y, item, key, "a secret tunnel has no port: name, "
						  "local and visitors only");
		if (!(have & H_LOCAL))
			return yerr(y, item, key, "missing local: host:port");
		return 0;
	}
	int remote = t->type == TUNNEL_REMOTE || t->type == TUNNEL_REMOTE_DYNAMIC;
	if (remote && !(have & H_REMOTE))
		return yerr(y, item, key, "missing remote: [bind_address:]port");
	if (!remote && !(have & H_LISTEN))
		return yerr(y, item, key, "missing listen: [bind_address:]port");
	if (remote && (have & H_LISTEN))
		return yerr(y, item, key, "listen: is for type local or dynamic (this "
					  "tunnel's port is on the server: remote:)");
	if (!remote && (have & H_REMOTE))
		return yerr(y, item, key, "remote: is for type tcp or remote_dynamic");
	int target = t->type == TUNNEL_REMOTE || t->type == TUNNEL_LOCAL;
	if (target && !(have & H_LOCAL))
		return yerr(y, item, key, t->type == TUNNEL_LOCAL
					      ? "missing connect: host:port"
					      : "missing local: host:port");
	if (!target && (have & H_LOCAL))
		return yerr(y, item, key, "a dynamic tunnel has no target: each "
					  "connection names its own");
	if ((have & H_ALLOW) && t->type != TUNNEL_REMOTE_DYNAMIC)
		return yerr(y, item, key, "allow: is for type remote_dynamic");
	return 0;
}

static int
hopt_add(struct yctx *y, struct tunnel_cfg *t, yaml_node_t *v, const char *full,
    int key, const char *value)
{
	const char *why;
	if (t->nhopts == MSG_HOPTS_MAX)
		return yerr(y, v, full, "more than 16 HTTP options (host_header_rewrite, "
					"basic_auth users, request_headers, response_headers) "
					"in one tunnel");
	if (strlen(value) > MSG_HOPT_LEN)
		return yerr(y, v, full, "longer than 255 bytes");
	if (hopt_check(key, value, &why) != 0)
		return yerr(y, v, full, why);
	t->hopts[t->nhopts].key = (uint8_t)key;
	snprintf(t->hopts[t->nhopts].value, sizeof t->hopts[0].value, "%s", value);
	t->nhopts++;
	return 0;
}

/* A scalar or a sequence of scalars, each an option of key. */
static int
hopt_list(struct yctx *y, struct tunnel_cfg *t, yaml_node_t *v, const char *full,
    int key)
{
	if (yscalar(v) != NULL)
		return hopt_add(y, t, v, full, key, yscalar(v));
	if (v->type != YAML_SEQUENCE_NODE)
		return yerr(y, v, full, "expected a value or a list of values");
	for (yaml_node_item_t *i = v->data.sequence.items.start;
	     i < v->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(&y->doc, *i);
		if (yscalar(e) == NULL)
			return yerr(y, e, full, "expected a list of values");
		if (hopt_add(y, t, e, full, key, yscalar(e)) != 0)
			return -1;
	}
	return 0;
}

/* request_headers, response_headers: {set: {Name: value, ...}, remove:
 * [Name, ...]} */
static int
yaml_headers(struct yctx *y, struct tunnel_cfg *t, yaml_node_t *v, const char *full,
    int resp)
{
	if (v->type != YAML_MAPPING_NODE)
		return yerr(y, v, full, "expected set: and remove:");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
	     p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&y->doc, p->value);
		const char *ks = yscalar(k);
		char sub[160];
		snprintf(sub, sizeof sub, "%s.%s", full, ks ? ks : "?");
		if (ks != NULL && strcmp(ks, "remove") == 0) {
			if (hopt_list(y, t, val, sub, resp ? HOPT_RESP_REMOVE : HOPT_REMOVE) != 0)
				return -1;
			continue;
		}
		if (ks == NULL || strcmp(ks, "set") != 0)
			return yerr(y, k, sub, "unknown key (expected set, remove)");
		if (val->type != YAML_MAPPING_NODE)
			return yerr(y, val, sub, "expected Name: value lines");
		for (yaml_node_pair_t *h = val->data.mapping.pairs.start;
		     h < val->data.mapping.pairs.top; h++) {
			const char *name = yscalar(yaml_document_get_node(&y->doc, h->key));
			yaml_node_t *hv = yaml_document_get_node(&y->doc, h->value);
			char line[MSG_HOPT_LEN + 2];
			const char *why;
			if (name == NULL || yscalar(hv) == NULL)
				return yerr(y, hv, sub, "expected Name: value lines with "
							"header names");
			if (hopt_check(HOPT_REMOVE, name, &why) != 0)
				return yerr(y, hv, sub, strcmp(why, "expected a header name") == 0
				    ? "expected Name: value lines with header names" : why);
			if ((size_t)snprintf(line, sizeof line, "%s: %s", name, yscalar(hv)) >=
			    sizeof line)
				return yerr(y, hv, sub, "longer than 255 bytes");
			if (hopt_add(y, t, hv, sub, resp ? HOPT_RESP_SET : HOPT_SET, line) != 0)
				return -1;
		}
	}
	return 0;
}

/* The HTTP tunnel keys whose values may be lists or mappings: 1 if ks is
 * one (then *rc: 0, or -1 with the error set), else 0. */
static int
yaml_http_key(struct yctx *y, struct tunnel_cfg *t, const char *ks, yaml_node_t *v,
    const char *full, unsigned *have, int *rc)
{
	if (strcmp(ks, "basic_auth") == 0)
		*rc = hopt_list(y, t, v, full, HOPT_AUTH);
	else if (strcmp(ks, "request_headers") == 0)
		*rc = yaml_headers(y, t, v, full, 0);
	else if (strcmp(ks, "response_headers") == 0)
		*rc = yaml_headers(y, t, v, full, 1);
	else if (strcmp(ks, "host_header_rewrite") == 0)
		*rc = yscalar(v) == NULL ? yerr(y, v, full, "expected a single value")
					 : hopt_add(y, t, v, full, HOPT_HOST, yscalar(v));
	else
		return 0;
	*have |= H_HTTPOPTS;
	return 1;
}

static int
yaml_tunnel(struct yctx *y, struct config *cfg, yaml_node_t *item, size_t idx)
{
	char key[64];
	yaml_node_t *pp = NULL; /* proxy_protocol's key, for its error line */
	char paths[MSG_EXTRA_MAX + 1] = "";
	const char *subdomain = NULL;
	snprintf(key, sizeof key, "tunnels[%zu]", idx);
	if (item->type != YAML_MAPPING_NODE)
		return yerr(y, item, key, "expected a mapping with name, remote and local");
	struct tunnel_cfg *t = tunnel_add(cfg);
	unsigned have = 0;
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		const char *ks = yscalar(k), *vs = yscalar(v), *why = NULL;
		char full[128];
		snprintf(full, sizeof full, "%s.%s", key, ks ? ks : "?");
		if (ks == NULL)
			return yerr(y, k, key, "keys must be plain words");
		int rc = 0;
		if (yaml_http_key(y, t, ks, v, full, &have, &rc)) {
			if (rc != 0)
				return -1;
			continue;
		}
		if (vs == NULL)
			return yerr(y, v, full, "expected a single value");
		if (strcmp(ks, "name") == 0) {
			if (!msg_name_valid(vs))
				return yerr(y, v, full,
				    "use 1 to 64 of A-Z a-z 0-9 . _ -");
			strcpy(t->name, vs);
		} else if (strcmp(ks, "type") == 0) {
			size_t i = 0;
			t->udp = strcmp(vs, "udp") == 0;
			while (!t->udp && i < NTUNNEL_TYPES &&
			    strcmp(vs, tunnel_type_names[i]) != 0)
				i++;
			if (i == NTUNNEL_TYPES)
				return yerr(y, v, full, "expected tcp, udp, remote_dynamic, "
							"local, dynamic, secret, visitor, https or http");
			t->type = (int)i;
		} else if (strcmp(ks, "remote") == 0) {
			if (remote_parse(vs, t, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_REMOTE;
		} else if (strcmp(ks, "local") == 0 || strcmp(ks, "connect") == 0) {
			if (local_parse(vs, t, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_LOCAL;
		} else if (strcmp(ks, "listen") == 0) {
			if (listen_parse(vs, t, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_LISTEN;
		} else if (strcmp(ks, "allow") == 0) {
			if (dest_set(&t->allow, vs, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_ALLOW;
		} else if (strcmp(ks, "visitors") == 0) {
			if (visitors_parse(vs, t->extra, sizeof t->extra, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_VISITORS;
		} else if (strcmp(ks, "domains") == 0) {
			if (vhost_names_parse(vs, t->extra, sizeof t->extra, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_DOMAINS;
		} else if (strcmp(ks, "subdomain") == 0) {
			if (strchr(vs, '.') != NULL || !vhost_name_valid(vs) || vs[0] == '*')
				return yerr(y, v, full, "expected one label (letters, digits "
							"and '-'): the server's domain follows");
			subdomain = vs;
			have |= H_SUBDOMAIN;
		} else if (strcmp(ks, "paths") == 0) {
			if (vhost_paths_parse(vs, paths, sizeof paths, &why) != 0)
				return yerr(y, v, full, why);
			have |= H_PATHS;
		} else if (strcmp(ks, "share") == 0) {
			if (visit_target_parse(vs, &why) != 0)
				return yerr(y, v, full, why);
			snprintf(t->extra, sizeof t->extra, "%s", vs);
			have |= H_SHARE;
		} else if (strcmp(ks, "protocol") == 0) {
			if (strcmp(vs, "udp") == 0)
				have |= H_UDP;
			else if (strcmp(vs, "tcp") != 0)
				return yerr(y, v, full, "expected tcp or udp");
		} else if (strcmp(ks, "proxy_protocol") == 0) {
			if (proxy_protocol_parse(vs, &t->proxy_protocol, &why) != 0)
				return yerr(y, v, full, why);
			pp = k;
		} else if (strcmp(ks, "data_path") == 0) {
			if (strcmp(vs, "mux") == 0)
				t->mux_only = 1;
			else if (strcmp(vs, "auto") == 0)
				t->mux_only = 0;
			else
				return yerr(y, v, full, "expected auto or mux");
		} else {
			return yerr(y, k, full,
			    "unknown key (expected name, type, remote, local, listen, "
			    "connect, allow, visitors, share, domains, subdomain, paths, "
			    "host_header_rewrite, basic_auth, request_headers, "
			    "response_headers, protocol, "
			    "data_path, proxy_protocol)");
		}
	}
	if (have & H_UDP) {
		/* type: udp is tcp with protocol: udp; secret and visitor carry
		 * UDP too (a share's datagrams, a visitor's UDP port). */
		if (t->type != TUNNEL_REMOTE && t->type != TUNNEL_SHARED &&
		    t->type != TUNNEL_VISITOR)
			return yerr(y, item, key, "protocol: udp is for type tcp, "
						  "secret or visitor");
		t->udp = 1;
	}
	if (yaml_tunnel_check(y, item, key, t, have) != 0)
		return -1;
	if (subdomain != NULL && strlen(t->extra) + 1 + strlen(subdomain) > MSG_EXTRA_MAX)
		return yerr(y, item, key, "domains and subdomain together are over 511 bytes");
	if (subdomain != NULL)
		snprintf(t->extra + strlen(t->extra), sizeof t->extra - strlen(t->extra),
		    "%s%s", t->extra[0] ? "," : "", subdomain);
	if (paths[0] != '\0' && strlen(t->extra) + 1 + strlen(paths) > MSG_EXTRA_MAX)
		return yerr(y, item, key, "domains and paths together are over 511 bytes");
	if (paths[0] != '\0')
		snprintf(t->extra + strlen(t->extra), sizeof t->extra - strlen(t->extra),
		    ";%s", paths);
	/* The header goes before a TCP stream's bytes: nothing else has one. */
	if (pp != NULL && ((t->type != TUNNEL_REMOTE && t->type != TUNNEL_HTTPS_SNI) ||
			      t->udp)) {
		char full[96];
		snprintf(full, sizeof full, "%s.proxy_protocol", key);
		return yerr(y, pp, full, "is for type tcp or https (a tunnel to a "
					 "target, not protocol: udp)");
	}
	if (t->type == TUNNEL_SHARED && t->name[0] == '\0') {
		if (share_random_name(t->name, sizeof t->name) != 0)
			return yerr(y, item, key, "no randomness for a share's name");
		if (!(have & H_VISITORS))
			snprintf(t->extra, sizeof t->extra, "*");
	}
	if (t->name[0] == '\0')
		snprintf(t->name, sizeof t->name, "t%zu", idx + 1);
	return 0;
}

static int
yaml_apply(struct yctx *y, struct config *cfg)
{
	yaml_node_t *root = yaml_document_get_root_node(&y->doc);
	if (root == NULL)
		return 0; /* an empty file sets nothing */
	if (root->type != YAML_MAPPING_NODE)
		return yerr(y, root, "(top)", "expected a mapping of key: value");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		const char *ks = yscalar(k);
		if (ks == NULL)
			return yerr(y, k, "(top)", "keys must be plain words");
		const struct option_def *o = option_by_key(ks, cfg->role);
		if (o == NULL) {
			enum role other = cfg->role == ROLE_SERVER ? ROLE_CLIENT : ROLE_SERVER;
			char why[128];
			if (option_by_key(ks, other) != NULL)
				snprintf(why, sizeof why, "a key of burrow %s, not burrow %s",
				    role_name(other), role_name(cfg->role));
			else
				snprintf(why, sizeof why, "unknown key for burrow %s",
				    role_name(cfg->role));
			return yerr(y, k, ks, why);
		}
		if (o->type == OT_CLIENTS) {
			if (yaml_clients(y, cfg, v) != 0)
				return -1;
			continue;
		}
		if (o->type == OT_PROXYPROTO)
			return yerr(y, k, ks, "a flag only: in a file, set it in a "
					      "tunnels: entry of type tcp");
		if (o->type == OT_TUNNELS && o->short_opt != 'R')
			return yerr(y, k, ks, "a flag only: in a file, add a tunnels: entry "
					      "with its type: (local, dynamic, secret, visitor)");
		if (o->type == OT_TUNNELS) {
			if (v->type != YAML_SEQUENCE_NODE)
				return yerr(y, v, ks, "expected a list of tunnels");
			size_t idx = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++, idx++) {
				yaml_node_t *item = yaml_document_get_node(&y->doc, *it);
				if (yaml_tunnel(y, cfg, item, idx) != 0)
					return -1;
			}
			continue;
		}
		const char *vs = yscalar(v), *why = NULL;
		if (vs == NULL)
			return yerr(y, v, ks, "expected a single value");
		if (opt_set(o, cfg, vs, &why) != 0)
			return yerr(y, v, ks, why);
	}
	return 0;
}

/*
 * The file may hold the token: its bytes are wiped from every buffer we and
 * libyaml know of before they are freed (copies that libyaml freed while
 * parsing are out of reach).
 */
#define CONFIG_FILE_MAX (1024 * 1024)

static void
yaml_document_wipe(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(doc);
}

static void
yaml_parser_wipe(yaml_parser_t *p)
{
	if (p->buffer.start)
		OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start)
		OPENSSL_cleanse(p->raw_buffer.start,
		    (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	yaml_parser_delete(p);
}

/* The whole file, NUL-terminated, in *buf (*len bytes); 0 or -1 with *err. */
static int
config_read(const char *path, char **buf, size_t *len, char **err)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IONBF, 0); /* no stdio copy of the file */
	*buf = malloc(CONFIG_FILE_MAX + 1);
	*len = *buf ? fread(*buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
	int bad = *buf == NULL || ferror(f) || *len > CONFIG_FILE_MAX;
	fclose(f);
	if (bad) {
		*err = xasprintf("%s: %s", path, *buf == NULL ? "out of memory"
		    : *len > CONFIG_FILE_MAX ? "larger than 1 MiB" : "read error");
		if (*buf)
			OPENSSL_cleanse(*buf, *len > CONFIG_FILE_MAX ? CONFIG_FILE_MAX : *len);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	(*buf)[*len] = '\0';
	return 0;
}

static int
yaml_syntax_error(yaml_parser_t *parser, const char *path, char **err)
{
	*err = xasprintf("%s:%lu: %s", path,
	    (unsigned long)parser->problem_mark.line + 1,
	    parser->problem ? parser->problem : "YAML syntax error");
	return -1;
}

static int
config_file(struct config *cfg, const char *path, char **err)
{
	char *text;
	size_t len;
	if (config_read(path, &text, &len, err) != 0)
		return -1;
	yaml_parser_t parser;
	struct yctx y = {.path = path};
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc;
	if (!yaml_parser_load(&parser, &y.doc)) {
		rc = yaml_syntax_error(&parser, path, err);
		yaml_parser_wipe(&parser);
		OPENSSL_cleanse(text, len);
		free(text);
		return rc;
	}
	rc = yaml_apply(&y, cfg);
	if (rc != 0)
		*err = y.err;
	if (rc == 0) {
		/* A second document would be silently ignored: refuse it. */
		yaml_document_t extra;
		if (!yaml_parser_load(&parser, &extra)) {
			rc = yaml_syntax_error(&parser, path, err);
		} else {
			if (yaml_document_get_root_node(&extra) != NULL) {
				*err = xasprintf("%s:%lu: (top): only one YAML document is allowed",
				    path, (unsigned long)extra.start_mark.line + 1);
				rc = -1;
			}
			yaml_document_wipe(&extra);
		}
	}
	yaml_document_wipe(&y.doc);
	yaml_parser_wipe(&parser);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* ---- flags ---- */

static const struct option_def *
option_by_flag(const char *arg, enum role role, const char **value)
{
	*value = NULL;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		if (!(o->roles & role))
			continue;
		if (arg[1] != '-') {
			if (o->short_opt && arg[1] == o->short_opt) {
				*value = arg[2] ? arg + 2 : NULL;
				return o;
			}
			continue;
		}
		char name[64];
		flag_name(o, name, sizeof name);
		if (o->type == OT_TUNNELS && o->short_opt)
			continue;
		size_t len = strlen(name);
		if (strncmp(arg, name, len) == 0 &&
		    (arg[len] == '\0' || arg[len] == '=')) {
			*value = arg[len] == '=' ? arg + len + 1 : NULL;
			return o;
		}
	}
	return NULL;
}

/*
 * Overwrites a secret in argv so that ps shows "x" (and NULs where the rest
 * was). It is visible there until this runs: prefer BURROW_TOKEN or a file.
 */
static void
hide_arg(char *s)
{
	size_t n = strlen(s);
	memset(s, 0, n);
	if (n > 0)
		s[0] = 'x';
}

/*
 * An unknown flag as it may be shown: never its value, which may be a
 * secret. "--tokn=s3cret" -> "--tokn", "-xs3cret" -> "-x", and
 * "--tokens3cret" -> "--token..." (a known flag with something glued on).
 */
static void
flag_shown(const char *arg, char *out, size_t outlen)
{
	if (arg[1] != '-') {
		snprintf(out, outlen, "-%c", arg[1]);
		return;
	}
	size_t len = strcspn(arg, "=");
	for (size_t i = 0; i < NOPTIONS; i++) {
		char name[64];
		flag_name(&options[i], name, sizeof name);
		size_t nl = strlen(name);
		if (nl > 2 && nl < len && strncmp(arg, name, nl) == 0) {
			snprintf(out, outlen, "%.56s...", name);
			return;
		}
	}
	snprintf(out, outlen, "%.*s", len > 40 ? 40 : (int)len, arg);
}

/* Fields of a -L value separated by ':' outside brackets (IPv6). */
static int
spec_fields(const char *s)
{
	int n = 1, depth = 0;
	for (; *s != '\0'; s++) {
		depth += *s == '[' ? 1 : *s == ']' ? -1 : 0;
		n += *s == ':' && depth == 0;
	}
	return n;
}

/* --proxy-protocol: every -R to a target (TCP) from the flags. How many. */
static size_t
flags_proxy_protocol(struct config *cfg, size_t first, int version)
{
	size_t n = 0;
	for (size_t i = first; i < cfg->ntunnels; i++) {
		struct tunnel_cfg *t = &cfg->tunnels[i];
		if ((t->type == TUNNEL_REMOTE || t->type == TUNNEL_HTTPS_SNI) && !t->udp) {
			t->proxy_protocol = version;
			n++;
		}
	}
	return n;
}

static enum config_result
flags_apply(struct config *cfg, int argc, char **argv, int first_pass,
    const char **config_path, char **err)
{
	const char *rn = role_name(cfg->role);
	/* --visit NAME pairs with the next -L [bind_address:]port, in order. */
	enum { VISITS_MAX = 64 };
	const char *visits[VISITS_MAX];
	size_t visitor_idx[VISITS_MAX], nvisits = 0, nvisitors = 0;
	size_t first_tunnel = cfg->ntunnels; /* the file's come before */
	int pp = 0;                          /* --proxy-protocol */
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		const char *value, *why = NULL;
		if (arg[0] != '-' || arg[1] == '\0') {
			/* Not echoed: a stray argument is often a misplaced secret. */
			*err = xasprintf("burrow %s: unexpected argument %d (not shown; options "
					 "start with - or --, see burrow %s --help)",
			    rn, i + 1, rn);
			return CONFIG_ERROR;
		}
		const struct option_def *o = option_by_flag(arg, cfg->role, &value);
		if (o == NULL) {
			enum role other = cfg->role == ROLE_SERVER ? ROLE_CLIENT : ROLE_SERVER;
			char shown[64];
			flag_shown(arg, shown, sizeof shown);
			if (option_by_flag(arg, other, &value) != NULL)
				*err = xasprintf("burrow %s: '%s' is an option of burrow %s "
						 "(see burrow %s --help)",
				    rn, shown, role_name(other), rn);
			else
				*err = xasprintf("burrow %s: unknown option '%s' (see burrow %s "
						 "--help)",
				    rn, shown, rn);
			return CONFIG_ERROR;
		}
		char name[64];
		flag_name(o, name, sizeof name);
		if (o->type == OT_HELP) {
			if (first_pass) {
				config_usage(cfg->role, stdout);
				return CONFIG_EXIT;
			}
			continue;
		}
		char *valarg = (char *)value;
		if (value == NULL) {
			if (i + 1 >= argc) {
				*err = xasprintf("burrow %s: %s needs a value (%s)",
				    rn, name, o->arg);
				return CONFIG_ERROR;
			}
			valarg = argv[++i];
			value = valarg;
		}
		if (o->type == OT_CONFIG) {
			if (first_pass)
				*config_path = value;
			continue;
		}
		if (first_pass)
			continue;
		if (o->type == OT_PROXYPROTO) {
			if (proxy_protocol_parse(value, &pp, &why) != 0) {
				*err = xasprintf("burrow %s: %s '%s': %s", rn, name, value, why);
				return CONFIG_ERROR;
			}
			continue;
		}
		if (o->type == OT_TUNNELS && o->short_opt == 0 && o->key[0] == 'v') {
			if (visit_target_parse(value, &why) != 0) {
				*err = xasprintf("burrow %s: --visit '%s': %s", rn, value, why);
				return CONFIG_ERROR;
			}
			if (nvisits == VISITS_MAX) {
				*err = xasprintf("burrow %s: too many --visit", rn);
				return CONFIG_ERROR;
			}
			visits[nvisits++] = value;
			continue;
		}
		if (o->type == OT_TUNNELS) {
			struct tunnel_cfg *t = tunnel_add(cfg);
			int rc = o->short_opt == 'R' ? forward_spec_parse(value, t, &why)
			    : o->short_opt == 'L'   ? local_forward_parse(value, t, &why)
			    : o->short_opt == 'D'   ? listen_parse(value, t, &why)
						    : share_parse(value, t, &why);
			if (o->short_opt == 'D')
				t->type = TUNNEL_DYNAMIC;
			/* -L udp:[bind:]port: a visitor's UDP port (a UDP share). */
			int udp_visit = o->short_opt == 'L' && strncmp(value, "udp:", 4) == 0;
			if (udp_visit) {
				rc = -1;
				why = "a UDP -L is a visitor's port: --visit NAME -L "
				      "udp:[bind_address:]port";
			}
			const char *lwhy = NULL;
			if (rc != 0 && o->short_opt == 'L' &&
			    listen_parse(value + (udp_visit ? 4 : 0), t, &lwhy) == 0) {
				t->udp = udp_visit;
				/* -L [bind:]port: a visitor's port (--visit). */
				t->type = TUNNEL_VISITOR;
				if (nvisitors == VISITS_MAX) {
					*err = xasprintf("burrow %s: too many visitors", rn);
					return CONFIG_ERROR;
				}
				visitor_idx[nvisitors++] = cfg->ntunnels - 1;
				rc = 0;
			} else if (rc != 0 && o->short_opt == 'L' && !udp_visit &&
			    spec_fields(value) < 3) {
				/* Neither: [bind:]port is what it looks like. */
				why = lwhy;
			}
			if (rc != 0) {
				*err = xasprintf("burrow %s: %s '%s': %s", rn, name, value, why);
				return CONFIG_ERROR;
			}
			continue;
		}
		if (opt_set(o, cfg, value, &why) != 0) {
			if (o->type == OT_SECRET || o->type == OT_PROXY)
				*err = xasprintf("burrow %s: %s: %s", rn, name, why);
			else
				*err = xasprintf("burrow %s: %s '%s': %s", rn, name, value, why);
			return CONFIG_ERROR;
		}
		if (o->type == OT_SECRET || (o->type == OT_PROXY && strchr(value, '@')))
			hide_arg(valarg);
	}
	if (!first_pass && nvisits != nvisitors) {
		*err = xasprintf(nvisits > nvisitors
			? "burrow %s: --visit NAME needs a -L [bind_address:]port after it"
			: "burrow %s: -L [bind_address:]port without a target needs a "
			  "--visit NAME (or give -L port:host:hostport)", rn);
		return CONFIG_ERROR;
	}
	for (size_t k = 0; !first_pass && k < nvisits; k++)
		snprintf(cfg->tunnels[visitor_idx[k]].extra,
		    sizeof cfg->tunnels[0].extra, "%s", visits[k]);
	if (pp != 0 && flags_proxy_protocol(cfg, first_tunnel, pp) == 0) {
		*err = xasprintf("burrow %s: --proxy-protocol: no -R tunnel to a "
				 "target over TCP among the flags to send it on", rn);
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

static void
config_defaults(struct config *cfg, enum role role)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->role = role;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *why;
		if (options[i].def != NULL && opt_set(&options[i], cfg, options[i].def, &why) != 0)
			abort(); /* a broken default in the table */
	}
}

/*
 * No --proxy: the environment, as curl reads it for this transport
 * (HTTPS_PROXY for TLS, then ALL_PROXY; lower case first), unless NO_PROXY
 * exempts the server. 0, or -1 with *err naming the variable, not its value.
 */
static int
proxy_from_env(struct config *cfg, char **err)
{
	static const char *const tls_vars[] = {"https_proxy", "HTTPS_PROXY",
	    "all_proxy", "ALL_PROXY", NULL};
	static const char *const http_vars[] = {"http_proxy", "all_proxy", "ALL_PROXY",
	    NULL}; /* curl reads http_proxy in lower case only */
	static const char *const tcp_vars[] = {"all_proxy", "ALL_PROXY", NULL};
	const char *const *vars = TRANSPORT_MAY_TLS(cfg->transport) ? tls_vars
	    : cfg->transport == TRANSPORT_WS || cfg->transport == TRANSPORT_HTTP ? http_vars
								   : tcp_vars;
	const char *noproxy = getenv("no_proxy");
	if (noproxy == NULL)
		noproxy = getenv("NO_PROXY");
	if (noproxy != NULL && no_proxy_match(noproxy, cfg->server.host))
		return 0;
	for (size_t i = 0; vars[i] != NULL; i++) {
		const char *v = getenv(vars[i]), *why;
		if (v == NULL || *v == '\0')
			continue;
		if (proxy_set(cfg, v, &why) != 0) {
			*err = xasprintf("burrow client: %s: %s", vars[i], why);
			return -1;
		}
		cfg->proxy_set = 0; /* from the environment */
		return 0;
	}
	return 0;
}

enum config_result
config_load(struct config *cfg, enum role role, int argc, char **argv, char **err)
{
	const char *path = NULL;
	config_defaults(cfg, role);
	*err = NULL;

	enum config_result rc = flags_apply(cfg, argc, argv, 1, &path, err);
	if (rc != CONFIG_OK)
		return rc;
	if (path != NULL && config_file(cfg, path, err) != 0)
		return CONFIG_ERROR;
	if (path != NULL && (cfg->path = strdup(path)) == NULL)
		abort();
	const char *env = getenv("BURROW_TOKEN");
	if (env != NULL && *env != '\0')
		secret_set(&cfg->token, env);
	size_t file_tunnels = cfg->ntunnels;
	rc = flags_apply(cfg, argc, argv, 0, &path, err);
	if (rc != CONFIG_OK)
		return rc;

	const char *rn = role_name(role);
	/* Flags' tunnels: r1, r2... for -R, l1... for -L, d1... for -D. */
	size_t seen[6] = {0};
	for (size_t i = file_tunnels; i < cfg->ntunnels; i++) {
		struct tunnel_cfg *t = &cfg->tunnels[i];
		int k = t->type == TUNNEL_REMOTE_DYNAMIC || t->type == TUNNEL_HTTPS_SNI ||
			t->type == TUNNEL_HTTP_VHOST
			    ? TUNNEL_REMOTE : t->type;
		if (t->type == TUNNEL_SHARED && t->name[0] != '\0')
			continue; /* --share NAME=... */
		if (t->type == TUNNEL_SHARED) {
			/* Its name is the secret: 128 random bits, anyone who knows
			 * them may visit. */
			if (share_random_name(t->name, sizeof t->name) != 0) {
				*err = xasprintf("burrow %s: no randomness for a share's name", rn);
				return CONFIG_ERROR;
			}
			snprintf(t->extra, sizeof t->extra, "*");
			continue;
		}
		snprintf(t->name, sizeof t->name, "%c%zu", "r?ld?v"[k], ++seen[k]);
	}
	for (size_t i = 0; i < cfg->ntunnels; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->tunnels[i].name, cfg->tunnels[j].name) == 0) {
				*err = xasprintf("burrow %s: tunnel name '%s' is used twice",
				    rn, cfg->tunnels[i].name);
				return CONFIG_ERROR;
			}
	/* A server with a clients: list, or a named client with a certificate,
	 * may do without the shared token. */
	if (cfg->token == NULL && !(role == ROLE_SERVER && cfg->nclients > 0) &&
	    !(role == ROLE_CLIENT && cfg->name != NULL && cfg->tls_cert != NULL)) {
		*err = xasprintf("burrow %s: no token: set BURROW_TOKEN, token: in the "
				 "config file, or --token", rn);
		return CONFIG_ERROR;
	}
	if (role == ROLE_SERVER && cfg->acme_directory != NULL &&
	    strcmp(cfg->acme_directory, "letsencrypt") != 0 &&
	    strncmp(cfg->acme_directory, "https://", 8) != 0) {
		*err = xasprintf("burrow server: acme_directory '%s': expected an https:// "
				 "URL or letsencrypt", cfg->acme_directory);
		return CONFIG_ERROR;
	}
	int alpn = cfg->acme_challenge != NULL && strcmp(cfg->acme_challenge, "tls-alpn-01") == 0;
	if (role == ROLE_SERVER && cfg->acme_challenge != NULL && !alpn &&
	    strcmp(cfg->acme_challenge, "http-01") != 0) {
		*err = xasprintf("burrow server: acme_challenge '%s': expected http-01 or "
				 "tls-alpn-01", cfg->acme_challenge);
		return CONFIG_ERROR;
	}
	if (role == ROLE_SERVER && cfg->acme_directory != NULL &&
	    ((!alpn && !cfg->has_http_listen) || !cfg->has_https_listen)) {
		*err = xasprintf(alpn ? "burrow server: acme_directory needs https (where "
					"the TLS-ALPN-01 challenges are answered and the "
					"certificates served)"
				      : "burrow server: acme_directory needs http (where the "
					"HTTP-01 challenges are answered) and https (where the "
					"certificates are served)");
		return CONFIG_ERROR;
	}
	if (role == ROLE_CLIENT && cfg->server.host[0] == '\0') {
		*err = xasprintf("burrow client: no server: give --server HOST[:PORT] or "
				 "server: in the config file");
		return CONFIG_ERROR;
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		*err = xasprintf("burrow %s: --tls-cert and --tls-key go together", rn);
		return CONFIG_ERROR;
	}
	if (role == ROLE_CLIENT && !TRANSPORT_MAY_TLS(cfg->transport) &&
	    (cfg->has_fingerprint || cfg->ca || cfg->tls_cert || cfg->sni)) {
		*err = xasprintf("burrow client: --fingerprint, --ca, --tls-cert and --sni "
				 "need --transport tls, wss or auto (or --server tls://HOST:PORT)");
		return CONFIG_ERROR;
	}
	if (role == ROLE_CLIENT && !cfg->proxy_set && proxy_from_env(cfg, err) != 0)
		return CONFIG_ERROR;
	if (cfg->socks_auth != NULL && strchr(cfg->socks_auth, ':') == NULL) {
		*err = xasprintf("burrow client: --socks-auth: expected USER:PASSWORD");
		return CONFIG_ERROR;
	}
	if (role == ROLE_CLIENT && cfg->ntunnels == 0) {
		*err = xasprintf("burrow client: no tunnels: give -R "
				 "[bind_address:]port:host:hostport, -L, -D, or tunnels: in the "
				 "config file");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

enum config_result
config_load_clients(struct config *cfg, const char *path, char **err)
{
	config_defaults(cfg, ROLE_SERVER);
	*err = NULL;
	return config_file(cfg, path, err) == 0 ? CONFIG_OK : CONFIG_ERROR;
}

void
config_free(struct config *cfg)
{
	secret_free(cfg->token);
	secret_free(cfg->socks_auth);
	for (size_t i = 0; i < cfg->ntunnels; i++)
		free(cfg->tunnels[i].allow);
	free(cfg->tunnels);
	free(cfg->forward_to);
	free(cfg->trusted_proxies);
	free(cfg->domain);
	free(cfg->https_certs);
	free(cfg->acme_directory);
	free(cfg->acme_email);
	free(cfg->acme_ca);
	free(cfg->acme_challenge);
	free(cfg->state_dir);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_client_ca);
	free(cfg->ca);
	free(cfg->known_servers);
	free(cfg->tls_ciphersuites);
	free(cfg->url_path);
	free(cfg->host_header);
	free(cfg->sni);
	free(cfg->name);
	free(cfg->path);
	free(cfg->proxy_user);
	secret_free(cfg->proxy_pass);
	config_free_clients(cfg->clients, cfg->nclients);
	memset(cfg, 0, sizeof *cfg);
}

void
config_usage(enum role role, FILE *out)
{
	if (role == ROLE_SERVER)
		fprintf(out, "usage: burrow server [-c FILE] [-l ADDR:PORT] [options]\n\n"
			     "The public relay: accepts clients on the control port and opens\n"
			     "listeners for their tunnels.\n\noptions:\n");
	else
		fprintf(out, "usage: burrow client [-c FILE] -s HOST[:PORT] [-R SPEC]... [options]\n\n"
			     "The inside agent: dials the server, registers tunnels, and connects\n"
			     "each user connection to its target.\n\noptions:\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		if (!(o->roles & role) || o->type == OT_CLIENTS)
			continue; /* YAML only: in docs/configuration.md */
		char flag[96], name[64];
		flag_name(o, name, sizeof name);
		if (o->short_opt && o->type != OT_TUNNELS)
			snprintf(flag, sizeof flag, "-%c, %s%s%s", o->short_opt, name,
			    o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(flag, sizeof flag, "%s%s%s", name, o->arg ? " " : "",
			    o->arg ? o->arg : "");
		fprintf(out, "  %-36s %s", flag, o->help);
		if (o->def)
			fprintf(out, " [%s]", o->def);
		fputc('\n', out);
	}
	fprintf(out, "\nThe token may also come from the environment: BURROW_TOKEN.\n"
		     "Every long option is also a YAML key (dashes become underscores).\n"
		     "See docs/configuration.md.\n");
}

/* A Markdown table cell: '|' would end the cell. */
static void
md_cell(FILE *out, const char *s)
{
	fputs("| ", out);
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc(' ', out);
}

void
config_reference(FILE *out)
{
	fprintf(out, "| key | flag | role | default | value | meaning |\n"
		     "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_def *o = &options[i];
		char name[64];
		if (o->type == OT_HELP)
			continue;
		flag_name(o, name, sizeof name);
		char flag[80];
		if (o->short_opt && o->type != OT_TUNNELS)
			snprintf(flag, sizeof flag, "`-%c`, `%s`", o->short_opt, name);
		else
			snprintf(flag, sizeof flag, "`%s`", name);
		const char *roles = o->roles == BOTH ? "both"
				    : o->roles == ROLE_SERVER ? "server" : "client";
		char key[80];
		snprintf(key, sizeof key, "`%s`", o->type == OT_CONFIG ? "-" : o->key);
		md_cell(out, key);
		md_cell(out, flag);
		md_cell(out, roles);
		md_cell(out, o->def ? o->def : "-");
		md_cell(out, o->arg ? o->arg : "-");
		md_cell(out, o->help);
		fputs("|\n", out);
	}
}
