/*
 * Unit tests for src/relay/splice.c and src/relay/copy.c: real loopback TCP
 * connections through a relay_set on an event loop in this thread, each test
 * once spliced and once through the copy relay (relay_set_force_copy).
 *
 * A relay sits between two TCP pairs: user <-> conn a, conn b <-> target.
 * The peers write a position-dependent pattern, so a lost, repeated or
 * reordered byte shows up at its offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "relay/splice.h"
#include "transport/conn.h"
#include "util/gauge.h"
#include "util/log.h"

#define MB (1024 * 1024)
#define CHUNK (64 * 1024)
#define TIMEOUT_MS 30000

/* One end the test drives: writes a pattern, reads and checks one. */
struct peer {
	int fd;
	struct event *rev, *wev;
	uint32_t seed_out, seed_in;
	uint64_t to_send, sent, recvd;
	int shut_after, shut, eof, err;
	int64_t bad_at; /* first byte that did not match, or -1 */
};

/* One relay and its two outer ends. */
struct pair {
	struct peer user, target;
	struct relay *rl;
};

struct env {
	struct event_base *base;
	struct relay_set *rs;
	struct event *tick;
	int lfd;
	int small_buffers;
	unsigned ticks;
};

static int
mode_copy(void **state)
{
	return *(int *)*state;
}

static uint8_t
pattern(uint32_t seed, uint64_t i)
{
	uint32_t x = (uint32_t)(i >> 2) * 0x9e3779b1u ^ seed;
	x ^= x >> 15;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	return (uint8_t)(x >> (8 * (i & 3)));
}

static void
peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	static unsigned char buf[CHUNK];
	while (p->sent < p->to_send && !p->err) {
		size_t n = p->to_send - p->sent < CHUNK ? p->to_send - p->sent : CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(p->seed_out, p->sent + i);
		ssize_t w = send(p->fd, buf, n, MSG_NOSIGNAL);
		if (w > 0) {
			p->sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EAGAIN)
				return;
			continue;
		}
		p->err = errno;
	}
	if (p->sent == p->to_send && p->shut_after && !p->shut && !p->err) {
		shutdown(p->fd, SHUT_WR);
		p->shut = 1;
	}
	event_del(p->wev);
}

static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	unsigned char buf[CHUNK];
	for (;;) {
		ssize_t n = read(p->fd, buf, sizeof buf);
		if (n > 0) {
			for (ssize_t i = 0; i < n && p->bad_at < 0; i++)
				if (buf[i] != pattern(p->seed_in, p->recvd + (uint64_t)i))
					p->bad_at = (int64_t)(p->recvd + (uint64_t)i);
			p->recvd += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0)
			p->eof = 1;
		else
			p->err = errno;
		event_del(p->rev);
		return;
	}
}

/* Queues n more bytes; shut: then shutdown(SHUT_WR). */
static void
peer_send(struct peer *p, uint64_t n, int shut)
{
	p->to_send += n;
	p->shut_after = shut;
	event_add(p->wev, NULL);
}

static void
peer_reading(struct peer *p, int on)
{
	if (on)
		event_add(p->rev, NULL);
	else
		event_del(p->rev);
}

static void
peer_init(struct env *e, struct peer *p, int fd, uint32_t seed_out,
    uint32_t seed_in)
{
	memset(p, 0, sizeof *p);
	p->fd = fd;
	p->seed_out = seed_out;
	p->seed_in = seed_in;
	p->bad_at = -1;
	p->rev = event_new(e->base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wev = event_new(e->base, fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	assert_non_null(p->rev);
	assert_non_null(p->wev);
}

static void
peer_close(struct peer *p)
{
	event_free(p->rev);
	event_free(p->wev);
	close(p->fd);
}

/* Close with RST: SO_LINGER 0. */
static void
peer_reset(struct peer *p)
{
	struct linger lg = {1, 0};
	setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	peer_close(p);
	p->fd = -1;
}

static void
set_small_buffers(int fd)
{
	int sz = 64 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

/* A connected loopback TCP pair, both ends non-blocking. */
static void
tcp_pair(struct env *e, int fds[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	assert_int_equal(getsockname(e->lfd, (struct sockaddr *)&sin, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	if (e->small_buffers)
		set_small_buffers(c);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, len), 0);
	int s = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	assert_true(s >= 0);
	if (e->small_buffers)
		set_small_buffers(s);
	fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
	fds[0] = c;
	fds[1] = s;
}

/* user <-> *ra, *rb <-> target: the peers read, the relay is not there yet. */
static void
pair_sockets(struct env *e, struct pair *pr, int *ra, int *rb)
{
	int u[2], t[2];
	tcp_pair(e, u);
	tcp_pair(e, t);
	peer_init(e, &pr->user, u[0], 0x1111, 0x2222);
	peer_init(e, &pr->target, t[0], 0x2222, 0x1111);
	peer_reading(&pr->user, 1);
	peer_reading(&pr->target, 1);
	*ra = u[1];
	*rb = t[1];
}

static void
pair_relay(struct env *e, struct pair *pr, int ra, int rb, uint32_t owner,
    struct gauge *g)
{
	struct conn *a = conn_tcp_new(NULL, ra);
	struct conn *b = conn_tcp_new(NULL, rb);
	assert_non_null(a);
	assert_non_null(b);
	if (g != NULL)
		gauge_hold(g);
	pr->rl = relay_new(e->rs, a, b, owner, g, "test relay");
	assert_non_null(pr->rl);
}

/* user <-> a ==relay== b <-> target */
static void
pair_new(struct env *e, struct pair *pr, uint32_t owner, struct gauge *g)
{
	int ra, rb;
	pair_sockets(e, pr, &ra, &rb);
	pair_relay(e, pr, ra, rb, owner, g);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	e->ticks++;
}

static int
env_setup(void **state, int small_buffers)
{
	static struct env e;
	memset(&e, 0, sizeof e);
	e.small_buffers = small_buffers;
	e.base = event_base_new();
	e.rs = relay_set_new(e.base);
	relay_set_force_copy(e.rs, mode_copy(state));
	e.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (small_buffers)
		set_small_buffers(e.lfd);
	if (e.base == NULL || e.rs == NULL || e.lfd < 0 ||
	    bind(e.lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(e.lfd, 16) != 0)
		return -1;
	e.tick = event_new(e.base, -1, EV_PERSIST, tick_cb, &e);
	struct timeval tv = {0, 20 * 1000};
	event_add(e.tick, &tv);
	*state = &e;
	return 0;
}

static void
env_free(struct env *e)
{
	relay_set_free(e->rs);
	event_free(e->tick);
	close(e->lfd);
	event_base_free(e->base);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until cond holds; fails after TIMEOUT_MS. */
#define RUN_UNTIL(e, cond)                                                     \
	do {                                                                   \
		int64_t deadline_ = now_ms() + TIMEOUT_MS;                     \
		while (!(cond)) {                                              \
			if (now_ms() > deadline_)                              \
				fail_msg("timed out waiting for %s", #cond);   \
			event_base_loop((e)->base, EVLOOP_ONCE);               \
		}                                                              \
	} while (0)

/* Runs the loop until *v has not changed for 10 ticks (200 ms). */
static void
run_until_still(struct env *e, const uint64_t *v)
{
	uint64_t last = *v;
	unsigned since = e->ticks;
	int64_t deadline = now_ms() + TIMEOUT_MS;
	while (e->ticks - since < 10) {
		if (now_ms() > deadline)
			fail_msg("never stalled");
		event_base_loop(e->base, EVLOOP_ONCE);
		if (*v != last) {
			last = *v;
			since = e->ticks;
		}
	}
}

static void
assert_intact(const struct peer *p, uint64_t n)
{
	assert_int_equal(p->bad_at, -1);
	assert_int_equal(p->err, 0);
	assert_int_equal(p->recvd, n);
}

static int
setup(void **state)
{
	return env_setup(state, 0);
}

static int
setup_small(void **state)
{
	return env_setup(state, 1);
}

static int
teardown(void **state)
{
	env_free(*state);
	return 0;
}

/* Megabytes both ways at once, then EOF both ways: byte-exact, and the
 * relay ends by itself, dropping its gauge reference. */
static void
test_both_ways(void **state)
{
	struct env *e = *state;
	struct gauge *g = gauge_new();
	struct pair p;
	pair_new(e, &p, 1, g);
	assert_int_equal(relay_set_count(e->rs), 1);
	assert_int_equal(gauge_count(g), 1);
	peer_send(&p.user, 6 * MB + 123, 1);
	peer_send(&p.target, 5 * MB + 7, 1);
	RUN_UNTIL(e, p.user.eof && p.target.eof);
	assert_intact(&p.target, 6 * MB + 123);
	assert_intact(&p.user, 5 * MB + 7);
	RUN_UNTIL(e, relay_set_count(e->rs) == 0);
	assert_int_equal(gauge_count(g), 0);
	peer_close(&p.user);
	peer_close(&p.target);
	gauge_drop(g);
}

/* The same through small socket buffers: short writes, rings that wrap. */
static void
test_both_ways_small(void **state)
{
	test_both_ways(state);
}

/* EOF one way is passed on once its bytes are delivered, while the other
 * way keeps flowing; the relay ends only after the second EOF. */
static void
test_half_close(void **state)
{
	struct env *e = *state;
	struct gauge *g = gauge_new();
	struct pair p;
	pair_new(e, &p, 1, g);
	peer_send(&p.user, 1 * MB + 1, 1);
	RUN_UNTIL(e, p.target.eof);
	assert_intact(&p.target, 1 * MB + 1);
	assert_int_equal(relay_set_count(e->rs), 1);

	peer_send(&p.target, 3 * MB, 0);
	RUN_UNTIL(e, p.user.recvd == 3 * MB);
	assert_intact(&p.user, 3 * MB);
	assert_false(p.user.eof);
	assert_int_equal(relay_set_count(e->rs), 1);

	peer_send(&p.target, 17, 1);
	RUN_UNTIL(e, p.user.eof && relay_set_count(e->rs) == 0);
	assert_intact(&p.user, 3 * MB + 17);
	assert_int_equal(gauge_count(g), 0);
	peer_close(&p.user);
	peer_close(&p.target);
	gauge_drop(g);
}

/* A target that does not read stops the user's writes after a bounded
 * amount (socket buffers and one pipe or ring); reading again delivers
 * everything. Small socket buffers make the bound visible. */
static void
test_backpressure(void **state)
{
	struct env *e = *state;
	struct pair p;
	pair_new(e, &p, 1, NULL);
	peer_reading(&p.target, 0);
	peer_send(&p.user, 24 * MB, 1);
	run_until_still(e, &p.user.sent);
	assert_true(p.user.sent < 4 * MB);
	assert_true(p.user.sent > 0);
	peer_reading(&p.target, 1);
	peer_send(&p.target, 0, 1);
	RUN_UNTIL(e, p.target.eof && p.user.eof);
	assert_intact(&p.target, 24 * MB);
	assert_int_equal(p.user.sent, 24 * MB);
	RUN_UNTIL(e, relay_set_count(e->rs) == 0);
	peer_close(&p.user);
	peer_close(&p.target);
}

/* A reset on one side closes the relay and both its connections, with
 * bytes in flight the other way, and drops the gauge reference. */
static void
test_error_closes(void **state)
{
	struct env *e = *state;
	struct gauge *g = gauge_new();
	struct pair p;
	pair_new(e, &p, 1, g);
	peer_send(&p.user, 1 * MB, 0);
	RUN_UNTIL(e, p.target.recvd > 0);
	peer_send(&p.user, 16 * MB, 0); /* still moving when the target goes */
	peer_reset(&p.target);
	RUN_UNTIL(e, relay_set_count(e->rs) == 0);
	assert_int_equal(gauge_count(g), 0);
	/* The relay's end of the user's connection is gone too. */
	RUN_UNTIL(e, p.user.eof || p.user.err);
	assert_int_equal(p.user.bad_at, -1);
	peer_close(&p.user);
	gauge_drop(g);
}

/* A target that closes (FIN, after reading everything) while the user keeps
 * sending: its EOF reaches the user, then the next writes to it fail and
 * close the relay; nothing hangs. */
static void
test_peer_closes(void **state)
{
	struct env *e = *state;
	struct gauge *g = gauge_new();
	struct pair p;
	pair_new(e, &p, 1, g);
	peer_send(&p.user, 1 * MB, 0);
	RUN_UNTIL(e, p.target.recvd == 1 * MB);
	peer_close(&p.target);
	RUN_UNTIL(e, p.user.eof);
	peer_send(&p.user, 16 * MB, 0);
	RUN_UNTIL(e, relay_set_count(e->rs) == 0);
	assert_int_equal(gauge_count(g), 0);
	peer_close(&p.user);
	gauge_drop(g);
}

static int
tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return ti.tcpi_state;
}

/*
 * Both directions ended before the relay started, as when a stream's FINs
 * crossed the mux before it moved: the target's socket is closed both ways
 * (its shutdown fails with ENOTCONN) and still holds bytes to read. They
 * reach the user, then EOF; the failed shutdown is no error.
 */
static void
test_ended_before_relay(void **state)
{
	struct env *e = *state;
	struct gauge *g = gauge_new();
	struct pair p;
	int ra, rb;
	pair_sockets(e, &p, &ra, &rb);
	peer_send(&p.target, 100000, 1);
	RUN_UNTIL(e, p.target.shut);
	shutdown(rb, SHUT_WR);
	RUN_UNTIL(e, p.target.eof);
	peer_close(&p.target);
	RUN_UNTIL(e, tcp_state(rb) == TCP_CLOSE);
	shutdown(p.user.fd, SHUT_WR);

	pair_relay(e, &p, ra, rb, 1, g);
	RUN_UNTIL(e, p.user.eof && relay_set_count(e->rs) == 0);
	assert_intact(&p.user, 100000);
	assert_int_equal(gauge_count(g), 0);
	peer_close(&p.user);
	gauge_drop(g);
}

/* relay_set_close_owner closes the relays of one owner only; the set's
 * free closes the rest. Gauges drop either way. */
static void
test_close_owner(void **state)
{
	struct env *e = *state;
	struct gauge *g7 = gauge_new(), *g8 = gauge_new();
	struct pair p[3];
	pair_new(e, &p[0], 7, g7);
	pair_new(e, &p[1], 8, g8);
	pair_new(e, &p[2], 7, g7);
	for (int i = 0; i < 3; i++)
		peer_send(&p[i].user, 100000, 0);
	RUN_UNTIL(e, p[0].target.recvd == 100000 &&
	    p[1].target.recvd == 100000 && p[2].target.recvd == 100000);
	assert_int_equal(relay_set_count(e->rs), 3);
	assert_int_equal(gauge_count(g7), 2);

	relay_set_close_owner(e->rs, 7);
	assert_int_equal(relay_set_count(e->rs), 1);
	assert_int_equal(gauge_count(g7), 0);
	assert_int_equal(gauge_count(g8), 1);
	RUN_UNTIL(e, (p[0].user.eof || p[0].user.err) &&
	    (p[0].target.eof || p[0].target.err) &&
	    (p[2].user.eof || p[2].user.err) &&
	    (p[2].target.eof || p[2].target.err));

	/* The other owner's relay still moves bytes both ways. */
	peer_send(&p[1].user, 2 * MB, 0);
	peer_send(&p[1].target, 2 * MB, 0);
	RUN_UNTIL(e, p[1].target.recvd == 100000 + 2 * MB &&
	    p[1].user.recvd == 2 * MB);
	assert_intact(&p[1].target, 100000 + 2 * MB);
	assert_intact(&p[1].user, 2 * MB);

	relay_set_free(e->rs); /* with one relay still open */
	e->rs = relay_set_new(e->base);
	assert_int_equal(gauge_count(g8), 0);
	RUN_UNTIL(e, (p[1].user.eof || p[1].user.err) &&
	    (p[1].target.eof || p[1].target.err));
	for (int i = 0; i < 3; i++) {
		peer_close(&p[i].user);
		peer_close(&p[i].target);
	}
	gauge_drop(g7);
	gauge_drop(g8);
}

/* Many short relays in turn: pipes and rings come from the caches and go
 * back to them (ASan sees a leak or a reuse after free). */
static void
test_many_relays(void **state)
{
	struct env *e = *state;
	for (int i = 0; i < 40; i++) {
		struct pair p;
		pair_new(e, &p, (uint32_t)i, NULL);
		peer_send(&p.user, 70000, 1);
		peer_send(&p.target, 1000 * (uint64_t)i, 1);
		RUN_UNTIL(e, p.user.eof && p.target.eof &&
		    relay_set_count(e->rs) == 0);
		assert_intact(&p.target, 70000);
		assert_intact(&p.user, 1000 * (uint64_t)i);
		peer_close(&p.user);
		peer_close(&p.target);
	}
}

static int splice_mode = 0, copy_mode = 1;

/* Each test twice: spliced, then copied. */
#define BOTH(fn, su)                                                           \
	{#fn " (splice)", fn, su, teardown, &splice_mode},                     \
	{#fn " (copy)", fn, su, teardown, &copy_mode}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("RELAY_DEBUG") != NULL)
		log_set_level(LOG_DEBUG);
	const struct CMUnitTest tests[] = {
	    BOTH(test_both_ways, setup),
	    BOTH(test_both_ways_small, setup_small),
	    BOTH(test_half_close, setup),
	    BOTH(test_backpressure, setup_small),
	    BOTH(test_error_closes, setup),
	    BOTH(test_peer_closes, setup),
	    BOTH(test_ended_before_relay, setup),
	    BOTH(test_close_owner, setup),
	    BOTH(test_many_relays, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
