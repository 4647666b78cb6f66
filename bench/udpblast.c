/*
 * udpblast: a UDP sender and a verifying sink for the bench's UDP rows (bench.py --only udp).
 *
 *   udpblast sink PORT [IDLE_SECS]
 *       Binds 127.0.0.1:PORT (0: any free port) with a 4 MiB SO_RCVBUF, prints the bound port on its
 *       first stdout line, then receives with recvmmsg() and checks every datagram byte for byte. Ends on
 *       SIGTERM / SIGINT, or once IDLE_SECS (default 1) have passed without a datagram after the first
 *       one, and prints one JSON line: received, unique, duplicate, corrupt, out_of_order, bytes, the
 *       sequence range, the time from the first to the last datagram, the socket's kernel drops
 *       (SO_MEMINFO), its SO_RCVBUF and the sink's CPU time.
 *
 *   udpblast send HOST PORT SIZE RATE SECONDS
 *       Sends datagrams of SIZE bytes (12 .. 65507) to HOST:PORT (a numeric IPv4 address) for SECONDS,
 *       RATE per second, paced every millisecond (what is due is sent with sendmmsg() in batches of up
 *       to 64); RATE 0 = as fast as possible. When it keeps up, exactly RATE x SECONDS datagrams are
 *       sent. Prints one JSON line: sent, bytes, the time from the first to the last send, the achieved
 *       rate, send errors and the sender's CPU time.
 *
 * A datagram: u64 sequence number (from 0), u32 its length (host byte order: both ends are on this
 * machine), then the payload: 64-bit words K(seq) ^ T(j), j = 0, 1, ... (the last word cut to fit),
 * where K and T are splitmix64 of the sequence number and of the word index. So each datagram's bytes
 * differ from every other's, and the sink can tell a datagram that arrived intact from one that was
 * cut, padded, mixed with another or altered anywhere.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HDR 12                 /* u64 seq + u32 len */
#define MAXDGRAM 65507         /* the largest UDP payload over IPv4 */
#define BATCH 64               /* datagrams per sendmmsg() / recvmmsg() */
#define RCVBUF (4 << 20)
#define SNDBUF (4 << 20)

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* T(j), the per-position part of the pattern: one table for all datagrams. */
static uint64_t table[(MAXDGRAM - HDR) / 8 + 1];

static void
table_init(void)
{
	for (size_t j = 0; j < sizeof table / sizeof table[0]; j++)
		table[j] = splitmix64(0x5bd1e995ULL + j);
}

static uint64_t
seq_key(uint64_t seq)
{
	return splitmix64(seq ^ 0xa0761d6478bd642fULL);
}

/* The datagram with this sequence number and length into p. */
static void
fill(uint8_t *p, uint64_t seq, uint32_t len)
{
	memcpy(p, &seq, 8);
	memcpy(p + 8, &len, 4);
	uint8_t *q = p + HDR;
	size_t n = len - HDR, nw = n / 8, j;
	uint64_t k = seq_key(seq);
	for (j = 0; j < nw; j++) {
		uint64_t w = k ^ table[j];
		memcpy(q + 8 * j, &w, 8);
	}
	if (n % 8) {
		uint64_t w = k ^ table[nw];
		memcpy(q + 8 * nw, &w, n % 8);
	}
}

/* Whether the n bytes at p are the datagram their header names (sequence and length). */
static int
intact(const uint8_t *p, size_t n, uint64_t *seq)
{
	uint32_t len;
	if (n < HDR)
		return 0;
	memcpy(seq, p, 8);
	memcpy(&len, p + 8, 4);
	if (len != n)
		return 0;
	const uint8_t *q = p + HDR;
	size_t m = n - HDR, nw = m / 8, j;
	uint64_t k = seq_key(*seq), diff = 0;
	for (j = 0; j < nw; j++) {
		uint64_t w;
		memcpy(&w, q + 8 * j, 8);
		diff |= w ^ k ^ table[j];
	}
	if (m % 8) {
		/* the last m % 8 bytes: the first m % 8 bytes (in memory order) of the next word */
		uint64_t w = 0, want = k ^ table[nw], want_tail = 0;
		memcpy(&w, q + 8 * nw, m % 8);
		memcpy(&want_tail, &want, m % 8);
		diff |= w ^ want_tail;
	}
	return diff == 0;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: a blocked recvmmsg() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static long
parse_num(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "udpblast: bad %s '%s' (%ld .. %ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

/* ------------------------------------------------------------------ sink */

/* A bitmap of the sequence numbers seen, grown as they come. */
static uint8_t *seen;
static size_t seen_bytes;

static int
mark(uint64_t seq)
{
	size_t byte = (size_t)(seq >> 3);
	if (byte >= seen_bytes) {
		size_t nb = seen_bytes ? seen_bytes : 1 << 16;
		while (nb <= byte)
			nb *= 2;
		uint8_t *p = realloc(seen, nb);
		if (p == NULL) {
			fprintf(stderr, "udpblast: out of memory for sequence %" PRIu64 "\n", seq);
			exit(1);
		}
		memset(p + seen_bytes, 0, nb - seen_bytes);
		seen = p;
		seen_bytes = nb;
	}
	uint8_t bit = (uint8_t)(1u << (seq & 7));
	if (seen[byte] & bit)
		return 0;
	seen[byte] |= bit;
	return 1;
}

static int
sink(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: udpblast sink PORT [IDLE_SECS]\n");
		return 2;
	}
	int port = (int)parse_num(argv[2], "PORT", 0, 65535);
	double idle = argc > 3 ? (double)parse_num(argv[3], "IDLE_SECS", 1, 3600) : 1.0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpblast: socket");
		return 1;
	}
	int big = RCVBUF;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		perror("udpblast: bind");
		return 1;
	}
	socklen_t sl = sizeof sin;
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	int rcvbuf = 0;
	socklen_t ol = sizeof rcvbuf;
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &ol);
	/* wake up every 100 ms to check the idle timeout */
	struct timeval tv = {0, 100000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	signals();
	table_init();
	printf("%d\n", ntohs(sin.sin_port));
	fflush(stdout);

	static uint8_t bufs[BATCH][MAXDGRAM + 1];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof bufs[i];
		memset(&m[i], 0, sizeof m[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	uint64_t received = 0, unique = 0, dup = 0, corrupt = 0, ooo = 0, bytes = 0, calls = 0;
	uint64_t max_seq = 0, min_seq = UINT64_MAX;
	int any_seq = 0;
	double first = 0, last = 0;
	const char *why = "idle";
	for (;;) {
		if (stop) {
			why = "signal";
			break;
		}
		int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				if (received > 0 && now_s() - last >= idle)
					break;
				continue;
			}
			perror("udpblast: recvmmsg");
			why = "error";
			break;
		}
		double t = now_s();
		if (received == 0)
			first = t;
		last = t;
		calls++;
		for (int i = 0; i < n; i++) {
			size_t len = m[i].msg_len;
			uint64_t seq;
			received++;
			bytes += len;
			if ((m[i].msg_hdr.msg_flags & MSG_TRUNC) || !intact(bufs[i], len, &seq)) {
				corrupt++;
				continue;
			}
			if (!mark(seq)) {
				dup++;
				continue;
			}
			unique++;
			if (any_seq && seq < max_seq)
				ooo++;
			if (!any_seq || seq > max_seq)
				max_seq = seq;
			if (seq < min_seq)
				min_seq = seq;
			any_seq = 1;
		}
	}
	/* the socket's own drop count (sk_drops): datagrams the kernel threw away for this socket, e.g. with
	 * its receive buffer full */
	uint32_t mi[16];
	socklen_t mil = sizeof mi;
	long long kdrops = -1;
	memset(mi, 0, sizeof mi);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &mil) == 0 && mil > SK_MEMINFO_DROPS * sizeof(uint32_t))
		kdrops = mi[SK_MEMINFO_DROPS];
	printf("{\"received\": %" PRIu64 ", \"unique\": %" PRIu64 ", \"duplicate\": %" PRIu64 ", \"corrupt\": %" PRIu64
	       ", \"out_of_order\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"min_seq\": %" PRId64 ", \"max_seq\": %" PRId64
	       ", \"secs\": %.6f, \"recv_calls\": %" PRIu64 ", \"kernel_drops\": %lld, \"rcvbuf\": %d, \"cpu_s\": %.3f"
	       ", \"ended\": \"%s\"}\n",
	    received, unique, dup, corrupt, ooo, bytes, any_seq ? (int64_t)min_seq : -1,
	    any_seq ? (int64_t)max_seq : -1, received ? last - first : 0.0, calls, kdrops, rcvbuf, cpu_s(), why);
	fflush(stdout);
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ sender */

static int
sender(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: udpblast send HOST PORT SIZE RATE SECONDS\n");
		return 2;
	}
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[2], &sin.sin_addr) != 1) {
		fprintf(stderr, "udpblast: HOST must be a numeric IPv4 address: %s\n", argv[2]);
		return 2;
	}
	sin.sin_port = htons((uint16_t)parse_num(argv[3], "PORT", 1, 65535));
	uint32_t size = (uint32_t)parse_num(argv[4], "SIZE", HDR, MAXDGRAM);
	long rate = parse_num(argv[5], "RATE", 0, 100000000);
	double secs = (double)parse_num(argv[6], "SECONDS", 1, 86400);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpblast: socket");
		return 1;
	}
	int big = SNDBUF;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		perror("udpblast: connect");
		return 1;
	}
	signals();
	table_init();
	static uint8_t bufs[BATCH][MAXDGRAM];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = size;
		memset(&m[i], 0, sizeof m[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	uint64_t seq = 0, errors = 0, calls = 0, late_ticks = 0;
	int first_errno = 0;
	double start = now_s(), end = start + secs, last = start;
	struct timespec tick;
	clock_gettime(CLOCK_MONOTONIC, &tick);
	int done = 0;
	while (!done && !stop) {
		double t = now_s();
		uint64_t due;
		if (t >= end) {
			done = 1;
			t = end;
		}
		if (rate == 0)
			due = seq + BATCH;
		else
			due = (uint64_t)((t - start) * (double)rate);
		/* a tick that finds more than two ticks' worth due: the sender fell behind */
		if (rate > 0 && due > seq + (uint64_t)(rate / 500) + BATCH)
			late_ticks++;
		while (seq < due && !stop) {
			int k = due - seq < BATCH ? (int)(due - seq) : BATCH;
			for (int i = 0; i < k; i++)
				fill(bufs[i], seq + (uint64_t)i, size);
			int n = sendmmsg(fd, m, (unsigned)k, 0);
			calls++;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				/* ECONNREFUSED (an ICMP error for an earlier datagram), ENOBUFS ...: count one datagram as
				 * not sent and go on */
				if (!first_errno)
					first_errno = errno;
				errors++;
				n = 1;
			}
			seq += (uint64_t)n;
			if (rate == 0 && now_s() >= end) {
				done = 1;
				break;
			}
		}
		last = now_s();
		if (done || rate == 0)
			continue;
		/* sleep to the next millisecond tick */
		tick.tv_nsec += 1000000;
		if (tick.tv_nsec >= 1000000000) {
			tick.tv_nsec -= 1000000000;
			tick.tv_sec++;
		}
		struct timespec nowts;
		clock_gettime(CLOCK_MONOTONIC, &nowts);
		if (nowts.tv_sec > tick.tv_sec || (nowts.tv_sec == tick.tv_sec && nowts.tv_nsec > tick.tv_nsec))
			tick = nowts; /* behind: no catching up on ticks, what is due is computed from the clock */
		else
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
	}
	double dur = last - start;
	uint64_t sent = seq - errors;
	printf("{\"sent\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"size\": %u, \"offered\": %ld, \"secs\": %.6f, "
	       "\"rate\": %.1f, \"send_calls\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"first_error\": \"%s\", "
	       "\"late_ticks\": %" PRIu64 ", \"cpu_s\": %.3f, \"interrupted\": %s}\n",
	    sent, sent * size, size, rate, dur, dur > 0 ? sent / dur : 0.0, calls, errors,
	    first_errno ? strerror(first_errno) : "", late_ticks, cpu_s(), stop ? "true" : "false");
	fflush(stdout);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "sink") == 0)
		return sink(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return sender(argc, argv);
	fprintf(stderr, "usage: udpblast sink PORT [IDLE_SECS]\n"
			"       udpblast send HOST PORT SIZE RATE SECONDS\n");
	return 2;
}
