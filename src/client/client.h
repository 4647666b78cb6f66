/*
 * The client role: dial the server, authenticate, register tunnels, answer
 * OPEN by dialling the tunnel's target, and reconnect forever with
 * exponential backoff and jitter after any fault except a refusal.
 */
#ifndef BURROW_CLIENT_H
#define BURROW_CLIENT_H

struct event_base;
struct config;
struct client;

struct tls_client;

/* tls: how to reach the server over TLS; NULL for plain TCP. */
struct client *client_new(struct event_base *base, const struct config *cfg,
    struct tls_client *tls);
void client_start(struct client *c);
/* Stops reconnecting and closes the session; the loop then ends by itself. */
void client_shutdown(struct client *c);
/* 0 after a shutdown, 1 after the server refused us. */
int client_exit_code(const struct client *c);
void client_free(struct client *c);

#endif
