/*
 * The server role: the control listener, one server session per client,
 * each client's tunnels and their public listeners, and the policy
 * (GatewayPorts, allowed ports) that decides what a client may claim.
 */
#ifndef BURROW_SERVER_H
#define BURROW_SERVER_H

struct event_base;
struct config;
struct server;

/* Binds the control port; NULL (logged) if it cannot. */
struct tls_server;

/* ts: the control port's TLS (plain TCP is told apart by the first byte). */
struct server *server_new(struct event_base *base, const struct config *cfg,
    struct tls_server *ts);
/* Closes every listener and session; the loop must run once more to free them. */
void server_shutdown(struct server *srv);
void server_free(struct server *srv);
/* SIGHUP: the clients: list from the config file again; a revoked client
 * is disconnected. A bad file is refused with its reason, the old list stays. */
void server_reload(struct server *srv);

#endif
