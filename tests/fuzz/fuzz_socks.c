/*
 * libFuzzer target: a proxy request (proto/socks.h) as a stranger sends it
 * to a -D or reverse SOCKS port, fed in slices whose sizes the first byte
 * picks, with and without credentials required (the second byte's low bit;
 * its next bit answers CHECK_AUTH). Whatever comes, the parser consumes no
 * more than it was given, its output fits its buffer, a destination it
 * accepts is a NUL-terminated host without control bytes and a port that
 * is not 0, and it never asks for more after saying DONE or FAIL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t slice = (size_t)data[0] % 17 + 1;
	int require_auth = data[1] & 1, auth_ok = (data[1] >> 1) & 1;
	data += 2;
	size -= 2;
	static struct socks_req r;
	socks_init(&r, require_auth);
	uint8_t buf[16384];
	size_t have = 0, fed = 0;
	for (int rounds = 0; rounds < 100000; rounds++) {
		if (fed < size) {
			size_t n = size - fed < slice ? size - fed : slice;
			if (have + n > sizeof buf)
				return 0; /* the front's buffer would refuse it */
			memcpy(buf + have, data + fed, n);
			have += n;
			fed += n;
		}
		size_t used = 0;
		enum socks_status st = socks_feed(&r, buf, have, &used);
		check(used <= have);
		check(r.out_len <= sizeof r.out);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (st == SOCKS_CHECK_AUTH) {
			check(strnlen(r.user, sizeof r.user) < sizeof r.user);
			st = socks_auth_result(&r, auth_ok);
		}
		if (st == SOCKS_DONE) {
			check(r.port != 0);
			check(strnlen(r.host, sizeof r.host) < sizeof r.host && r.host[0]);
			for (const char *c = r.host; *c; c++)
				check((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
			check(r.fwd_len <= sizeof r.fwd_head);
			check(r.proto != SOCKS_PROTO_HTTP_FORWARD || r.fwd_len > 0);
			return 0;
		}
		if (st == SOCKS_FAIL) {
			check(r.why != NULL);
			return 0;
		}
		if (st == SOCKS_MORE && fed == size)
			return 0;
	}
	abort(); /* no progress */
}
