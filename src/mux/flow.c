#include "mux/flow.h"

void
flow_init(struct flow *f, uint32_t recv_window, uint32_t peer_window)
{
	f->send_credit = peer_window;
	f->recv_credit = recv_window;
	f->recv_window = recv_window;
	f->unacked = 0;
}

int
flow_on_data(struct flow *f, uint32_t len)
{
	if (len > f->recv_credit)
		return -1;
	f->recv_credit -= len;
	return 0;
}

uint32_t
flow_consumed(struct flow *f, size_t n)
{
	f->unacked += (uint32_t)n;
	if (f->unacked < f->recv_window / 4)
		return 0;
	uint32_t grant = f->unacked;
	f->recv_credit += grant;
	f->unacked = 0;
	return grant;
}

int
flow_on_window(struct flow *f, uint32_t increment)
{
	if (increment == 0 || (uint64_t)f->send_credit + increment > UINT32_MAX)
		return -1;
	f->send_credit += increment;
	return 0;
}

size_t
flow_allowance(const struct flow *f, size_t want)
{
	return want < f->send_credit ? want : f->send_credit;
}

void
flow_sent(struct flow *f, size_t n)
{
	f->send_credit -= (uint32_t)n;
}
