/*
 * Per-stream flow-control accounting: pure arithmetic, no I/O.
 *
 * Each side grants the other a receive window. A sender may have at most
 * send_credit bytes unacknowledged; the receiver counts bytes its socket
 * took (consumed) and grants them back with WINDOW once a quarter of the
 * window has been consumed, so the bytes a receiver holds for one stream
 * never exceed its window.
 */
#ifndef BURROW_FLOW_H
#define BURROW_FLOW_H

#include <stddef.h>
#include <stdint.h>

struct flow {
	uint32_t send_credit; /* bytes we may still send the peer */
	uint32_t recv_credit; /* bytes the peer may still send us */
	uint32_t recv_window; /* what we grant in total */
	uint32_t unacked;     /* consumed locally, not yet granted back */
};

void flow_init(struct flow *f, uint32_t recv_window, uint32_t peer_window);
/* The peer sent len bytes: 0, or -1 if that exceeds what we granted. */
int flow_on_data(struct flow *f, uint32_t len);
/* n bytes left us for the socket: the credit to grant now, or 0 (not yet). */
uint32_t flow_consumed(struct flow *f, size_t n);
/* WINDOW from the peer: 0, or -1 if it is zero or overflows. */
int flow_on_window(struct flow *f, uint32_t increment);
/* How many of `want` bytes we may send now. */
size_t flow_allowance(const struct flow *f, size_t want);
void flow_sent(struct flow *f, size_t n);

#endif
