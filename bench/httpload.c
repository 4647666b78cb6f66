/*
 * httpload: an open-loop HTTP/1.1 load generator for the bench's vhost rows (bench.py --only vhost).
 *
 *   httpload HOST PORT HOSTHDR PATH CONNS RATE SECONDS
 *       Opens CONNS keep-alive connections to HOST:PORT (a numeric IPv4 address), sends one warm-up
 *       request on each (not measured), then sends `GET PATH HTTP/1.1` with `Host: HOSTHDR` (- = HOST:PORT)
 *       at a fixed total RATE per second for SECONDS: request i is scheduled at start + i / RATE, and is
 *       sent then on an idle connection, or, when all CONNS have a request in flight (no pipelining), as
 *       soon as one comes free (the oldest scheduled request first). Its latency is measured from its
 *       scheduled time to the last byte of its response, so time spent waiting for a free connection
 *       counts (an open-loop schedule: a slow response does not slow down the offered load, it shows).
 *       Responses are parsed just enough to find their end: the status line and Content-Length (no
 *       chunked bodies). A connection the peer closes (or that answers Connection: close) is opened
 *       again; a request in flight on it is an error. After SECONDS, what is scheduled and not answered
 *       yet gets up to 5 s more; what is then still open counts as unfinished (an error).
 *       Prints one JSON line: scheduled, sent, completed, errors (io, bad responses, non-2xx,
 *       unfinished, unsent), reconnects, the latency p50 / p90 / p99 / p99.9 / max / mean in microseconds
 *       over the completed responses, the send lag (scheduled -> written; > 0 when every connection
 *       was busy) p50 / p99 / max, the largest backlog of scheduled but unsent requests, the achieved
 *       rate and httpload's own CPU time.
 *
 * Linux: epoll and a timerfd (nanosecond wake-ups at the scheduled times); C standard library + POSIX
 * otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define INBUF (64 * 1024)      /* a response (head + body) must fit */
#define DRAIN_NS 5000000000ULL /* after SECONDS: this long for the answers still due */
#define WARMUP_NS 10000000000ULL
#define TIMER_ID UINT32_MAX

enum { C_CONNECTING, C_IDLE, C_BUSY, C_DOWN };

struct conn {
	int fd;
	int state;
	int warm;           /* the in-flight request is the warm-up one */
	uint64_t sched;     /* scheduled time of the in-flight request (ns) */
	size_t out_off;     /* bytes of the request written so far */
	size_t inlen;
	size_t head_len;    /* 0 until the head's end is found */
	long body_len;
	int status;
	int close_after;
	unsigned connect_fails;
	char in[INBUF];
};

static volatile sig_atomic_t stop;
static int ep;
static struct sockaddr_in sin_peer;
static char req[2048];
static size_t req_len;
static struct conn *conns;
static int nconns;
static int *idle_stack, nidle;

/* counters */
static uint64_t sent, completed, non2xx, io_errors, bad_responses, reconnects, connect_errors, peer_closes;
static uint64_t warm_ok, warm_fail;
static char first_error[160];
static uint64_t *lat, nlat, *lag, nlag;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double
cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long
parse_num(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "httpload: bad %s '%s' (%ld .. %ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static void
note_error(const char *fmt, int err)
{
	if (first_error[0] == '\0') {
		snprintf(first_error, sizeof first_error, "%s%s%s", fmt, err ? ": " : "", err ? strerror(err) : "");
		/* it goes into a JSON string */
		for (char *p = first_error; *p; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
				*p = ' ';
	}
}

static void
push_idle(int i)
{
	conns[i].state = C_IDLE;
	idle_stack[nidle++] = i;
}

static void
conn_open(int i)
{
	struct conn *c = &conns[i];
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		note_error("socket", errno);
		c->state = C_DOWN;
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->inlen = c->head_len = 0;
	c->out_off = 0;
	c->state = C_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&sin_peer, sizeof sin_peer) != 0 && errno != EINPROGRESS) {
		note_error("connect", errno);
		connect_errors++;
		close(c->fd);
		c->fd = -1;
		c->state = C_DOWN;
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* The connection is gone (EOF, reset, a bad response): a request in flight is an error; open it again. */
static void
conn_reset(int i, const char *why, int err)
{
	struct conn *c = &conns[i];
	if (c->state == C_BUSY) {
		if (c->warm)
			warm_fail++;
		else
			io_errors++;
		note_error(why, err);
	} else if (c->state == C_IDLE) {
		/* closed by the peer while idle: take it off the idle stack */
		for (int k = 0; k < nidle; k++)
			if (idle_stack[k] == i) {
				idle_stack[k] = idle_stack[--nidle];
				break;
			}
		peer_closes++;
	}
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->state = C_DOWN;
	if (c->connect_fails > 100)
		return; /* give this one up */
	reconnects++;
	conn_open(i);
}

static void
conn_write(int i)
{
	struct conn *c = &conns[i];
	while (c->out_off < req_len) {
		ssize_t n = send(c->fd, req + c->out_off, req_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				return;
			}
			conn_reset(i, "send", errno);
			return;
		}
		c->out_off += (size_t)n;
	}
}

static void
send_request(int i, uint64_t sched, int warm)
{
	struct conn *c = &conns[i];
	c->state = C_BUSY;
	c->warm = warm;
	c->sched = sched;
	c->out_off = 0;
	c->inlen = c->head_len = 0;
	if (!warm) {
		sent++;
		uint64_t t = now_ns();
		lag[nlag++] = t > sched ? t - sched : 0;
	}
	conn_write(i);
}

/* Finds the end of the head and reads the status and Content-Length. 0: not yet, 1: found, -1: bad. */
static int
parse_head(struct conn *c)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	if (end == NULL)
		return c->inlen >= INBUF ? -1 : 0;
	c->head_len = (size_t)(end - c->in) + 4;
	*end = '\0'; /* (the head's last CR: restored below, not needed after) */
	if (strncmp(c->in, "HTTP/1.", 7) != 0 || c->head_len < 13)
		return -1;
	c->status = atoi(c->in + 9);
	c->body_len = -1;
	c->close_after = c->in[7] == '0';
	for (char *l = strstr(c->in, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		char *h = l + 2;
		if (strncasecmp(h, "content-length:", 15) == 0)
			c->body_len = strtol(h + 15, NULL, 10);
		else if (strncasecmp(h, "connection:", 11) == 0) {
			char *v = h + 11;
			while (*v == ' ' || *v == '\t')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				c->close_after = 1;
			else if (strncasecmp(v, "keep-alive", 10) == 0)
				c->close_after = 0;
		} else if (strncasecmp(h, "transfer-encoding:", 18) == 0)
			return -1;
	}
	*end = '\r';
	if (c->body_len < 0) {
		/* 204 / 304 have no body; anything else without a length: not handled */
		if (c->status == 204 || c->status == 304)
			c->body_len = 0;
		else
			return -1;
	}
	if (c->head_len + (size_t)c->body_len > INBUF)
		return -1;
	return 1;
}

static void
conn_read(int i)
{
	struct conn *c = &conns[i];
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_reset(i, "recv", errno);
			return;
		}
		if (n == 0) {
			conn_reset(i, "EOF with a request in flight", 0);
			return;
		}
		if (c->state != C_BUSY) {
			/* bytes nobody asked for */
			bad_responses++;
			note_error("data on an idle connection", 0);
			conn_reset(i, "data on an idle connection", 0);
			return;
		}
		c->inlen += (size_t)n;
		if (c->head_len == 0) {
			int r = parse_head(c);
			if (r < 0) {
				if (c->warm)
					warm_fail++;
				else
					bad_responses++;
				note_error("unparsable response head (or chunked, or too big)", 0);
				c->state = C_DOWN; /* not an io error: counted above */
				conn_reset(i, "bad response", 0);
				return;
			}
			if (r == 0)
				continue;
		}
		size_t want = c->head_len + (size_t)c->body_len;
		if (c->inlen < want)
			continue;
		if (c->inlen > want) {
			if (c->warm)
				warm_fail++;
			else
				bad_responses++;
			note_error("more bytes than the response's Content-Length", 0);
			c->state = C_DOWN;
			conn_reset(i, "extra bytes", 0);
			return;
		}
		/* a whole response */
		uint64_t t = now_ns();
		if (c->warm) {
			warm_ok++;
		} else {
			completed++;
			lat[nlat++] = t - c->sched;
			if (c->status < 200 || c->status > 299) {
				non2xx++;
				if (non2xx == 1) {
					char what[64];
					snprintf(what, sizeof what, "HTTP status %d", c->status);
					note_error(what, 0);
				}
			}
		}
		c->connect_fails = 0;
		c->inlen = c->head_len = 0;
		if (c->close_after) {
			/* the server closes it after this response: open another (nothing is in flight) */
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
			c->state = C_DOWN;
			peer_closes++;
			reconnects++;
			conn_open(i);
		} else
			push_idle(i);
		return;
	}
}

static void
conn_event(int i, uint32_t events)
{
	struct conn *c = &conns[i];
	if (c->fd < 0)
		return;
	if (c->state == C_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			note_error("connect", err);
			connect_errors++;
			c->connect_fails++;
			c->state = C_DOWN;
			conn_reset(i, "connect", err);
			return;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		push_idle(i);
		return;
	}
	if ((events & EPOLLOUT) && c->state == C_BUSY && c->out_off < req_len) {
		conn_write(i);
		if (c->fd < 0 || c->state != C_BUSY)
			return;
		if (c->out_off == req_len) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(i);
}

static void
poll_once(int timer_fd, int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, timeout_ms);
	for (int k = 0; k < n; k++) {
		if (evs[k].data.u32 == TIMER_ID) {
			uint64_t x;
			if (read(timer_fd, &x, sizeof x) < 0) {
				/* EAGAIN: nothing */
			}
			continue;
		}
		conn_event((int)evs[k].data.u32, evs[k].events);
	}
}

static void
arm(int timer_fd, uint64_t at)
{
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (at == 0)
		at = 1; /* 0 would disarm */
	its.it_value.tv_sec = (time_t)(at / 1000000000ULL);
	its.it_value.tv_nsec = (long)(at % 1000000000ULL);
	timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank, in microseconds */
static double
pct(const uint64_t *v, uint64_t n, double q)
{
	if (n == 0)
		return -1;
	uint64_t r = (uint64_t)(q * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1] / 1000.0;
}

int
main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: httpload HOST PORT HOSTHDR PATH CONNS RATE SECONDS\n");
		return 2;
	}
	memset(&sin_peer, 0, sizeof sin_peer);
	sin_peer.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[1], &sin_peer.sin_addr) != 1) {
		fprintf(stderr, "httpload: HOST must be a numeric IPv4 address: %s\n", argv[1]);
		return 2;
	}
	long port = parse_num(argv[2], "PORT", 1, 65535);
	sin_peer.sin_port = htons((uint16_t)port);
	char hosthdr[256];
	if (strcmp(argv[3], "-") == 0)
		snprintf(hosthdr, sizeof hosthdr, "%s:%ld", argv[1], port);
	else
		snprintf(hosthdr, sizeof hosthdr, "%s", argv[3]);
	if (argv[4][0] != '/' || strlen(argv[4]) > 1000) {
		fprintf(stderr, "httpload: PATH must start with / (and be under 1000 bytes): %s\n", argv[4]);
		return 2;
	}
	nconns = (int)parse_num(argv[5], "CONNS", 1, 10000);
	long rate = parse_num(argv[6], "RATE", 1, 10000000);
	long secs = parse_num(argv[7], "SECONDS", 1, 3600);
	req_len = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: burrow-bench-httpload\r\n\r\n",
	    argv[4], hosthdr);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake-ups at the scheduled times, not up to 50 us later */

	uint64_t total = (uint64_t)rate * (uint64_t)secs;
	lat = malloc(total * sizeof *lat);
	lag = malloc(total * sizeof *lag);
	conns = calloc((size_t)nconns, sizeof *conns);
	idle_stack = calloc((size_t)nconns, sizeof *idle_stack);
	ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!lat || !lag || !conns || !idle_stack || ep < 0 || tfd < 0) {
		perror("httpload: setup");
		return 1;
	}
	struct epoll_event tev = { .events = EPOLLIN, .data.u32 = TIMER_ID };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

	/* connect every connection and send one (unmeasured) request on each */
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conn_open(i);
	}
	uint64_t wend = now_ns() + WARMUP_NS;
	int warmed = 0;
	while (!stop && now_ns() < wend && warm_ok + warm_fail < (uint64_t)nconns) {
		while (nidle > 0 && warmed < nconns) {
			int i = idle_stack[--nidle];
			warmed++;
			send_request(i, now_ns(), 1);
		}
		poll_once(tfd, 10);
	}
	/* settle: every connection idle (or down) before the clock starts */
	while (!stop && now_ns() < wend) {
		int busy = 0;
		for (int i = 0; i < nconns; i++)
			busy += conns[i].state == C_BUSY || conns[i].state == C_CONNECTING;
		if (!busy)
			break;
		poll_once(tfd, 10);
	}
	int up = 0;
	for (int i = 0; i < nconns; i++)
		up += conns[i].state == C_IDLE;
	reconnects = 0;
	peer_closes = 0;
	if (warm_fail && first_error[0] == '\0')
		note_error("warm-up request failed", 0);

	/* the measured run: request k scheduled at t0 + k * 1e9 / rate */
	double period = 1e9 / (double)rate;
	uint64_t t0 = now_ns() + 1000000; /* 1 ms from now */
	uint64_t t_end = t0 + (uint64_t)secs * 1000000000ULL;
	uint64_t next = 0, max_backlog = 0, last_send = t0;
	for (;;) {
		if (stop)
			break;
		uint64_t t = now_ns();
		uint64_t due = t < t0 ? 0 : (uint64_t)((double)(t - t0) / period) + 1;
		if (due > total)
			due = total;
		if (due - next > max_backlog)
			max_backlog = due - next;
		while (next < due && nidle > 0) {
			int i = idle_stack[--nidle];
			send_request(i, t0 + (uint64_t)((double)next * period), 0);
			next++;
			last_send = now_ns();
		}
		int inflight = 0;
		for (int i = 0; i < nconns; i++)
			inflight += conns[i].state == C_BUSY;
		if (next == total && inflight == 0)
			break;
		if (t > t_end + DRAIN_NS)
			break;
		if (next < total && nidle > 0) {
			/* wake at the next scheduled time */
			arm(tfd, t0 + (uint64_t)((double)next * period));
			poll_once(tfd, 100);
		} else
			poll_once(tfd, 100); /* everything busy (or all sent): a response frees one */
	}
	uint64_t unfinished = 0;
	for (int i = 0; i < nconns; i++)
		unfinished += conns[i].state == C_BUSY && !conns[i].warm;
	uint64_t unsent = total - next;
	double dur = (double)(last_send - t0) / 1e9;

	qsort(lat, nlat, sizeof *lat, cmp_u64);
	qsort(lag, nlag, sizeof *lag, cmp_u64);
	double mean = 0;
	for (uint64_t k = 0; k < nlat; k++)
		mean += (double)lat[k];
	mean = nlat ? mean / (double)nlat / 1000.0 : -1;
	uint64_t errors = io_errors + bad_responses + non2xx + unfinished + unsent;
	printf("{\"conns\": %d, \"conns_up\": %d, \"offered\": %ld, \"secs\": %ld, \"scheduled\": %" PRIu64
	       ", \"sent\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"io_errors\": %" PRIu64
	       ", \"bad_responses\": %" PRIu64 ", \"non2xx\": %" PRIu64 ", \"unfinished\": %" PRIu64
	       ", \"unsent\": %" PRIu64 ", \"connect_errors\": %" PRIu64 ", \"reconnects\": %" PRIu64
	       ", \"peer_closes\": %" PRIu64 ", \"warmup_ok\": %" PRIu64 ", \"warmup_failed\": %" PRIu64
	       ", \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f"
	       ", \"lag_p50\": %.1f, \"lag_p99\": %.1f, \"lag_max\": %.1f, \"max_backlog\": %" PRIu64
	       ", \"send_secs\": %.6f, \"rate\": %.1f, \"cpu_s\": %.3f, \"first_error\": \"%s\", \"interrupted\": %s}\n",
	    nconns, up, rate, secs, total, sent, completed, errors, io_errors, bad_responses, non2xx, unfinished, unsent,
	    connect_errors, reconnects, peer_closes, warm_ok, warm_fail, pct(lat, nlat, 0.50), pct(lat, nlat, 0.90),
	    pct(lat, nlat, 0.99), pct(lat, nlat, 0.999), nlat ? lat[nlat - 1] / 1000.0 : -1, mean,
	    pct(lag, nlag, 0.50), pct(lag, nlag, 0.99), nlag ? lag[nlag - 1] / 1000.0 : -1, max_backlog, dur,
	    dur > 0 ? (double)sent / dur : 0.0, cpu_s(), first_error, stop ? "true" : "false");
	fflush(stdout);
	return 0;
}
