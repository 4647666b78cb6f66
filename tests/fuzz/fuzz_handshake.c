/*
 * libFuzzer target: the handshake as a stranger drives it. The input is
 * split into the frames a peer would send; the server side and the client
 * side each take them in turn (HELLO, then AUTH or AUTH_OK), with keys and
 * nonces from the input. Nothing may crash, a verdict must be consistent
 * (a proof accepted for one key is refused for another), and every payload
 * the code builds must decode again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/handshake.h"

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
	uint8_t nonce[NONCE_LEN] = {0}, key[MAC_LEN] = {0}, buf[MSG_MAX];
	size_t take = size < NONCE_LEN ? size : NONCE_LEN;
	memcpy(nonce, data, take);
	memcpy(key, data, take);
	key[0] ^= 0x5a;
	size_t off = take;
	struct handshake s, c;
	int server_hello_done = 0, client_hello_done = 0;
	hs_client_hello(&c, size > 0 && (data[0] & 1) ? HELLO_DATA : HELLO_CONTROL,
	    nonce, buf);
	while (off < size) {
		struct frame f;
		const char *why = NULL;
		ssize_t n = frame_decode(data + off, size - off, MSG_MAX, &f, &why);
		if (n <= 0)
			break;
		off += (size_t)n;
		size_t rn;
		uint16_t code, version;
		char text[128];
		uint8_t reply[MSG_MAX];
		switch (f.type) {
		case FRAME_HELLO:
			if (hs_server_on_hello(&s, f.payload, f.len, nonce, reply, &rn,
				&code, text, sizeof text, &why) == 0) {
				struct msg_hello m;
				check(msg_hello_decode(reply, rn, &m, &why) == 0);
				server_hello_done = 1;
			} else {
				check(code != 0 || why != NULL);
			}
			if (hs_client_on_hello(&c, f.payload, f.len, &version, &why) == 0)
				client_hello_done = 1;
			break;
		case FRAME_AUTH:
			if (server_hello_done) {
				struct msg_auth a;
				if (msg_auth_decode(f.payload, f.len, (enum hello_role)s.role,
					&a, &why) == 0 &&
				    hs_server_verify(&s, &a, key, sizeof key)) {
					uint8_t other[MAC_LEN];
					memcpy(other, key, sizeof other);
					other[1] ^= 1;
					check(!hs_server_verify(&s, &a, other, sizeof other));
				}
			}
			break;
		case FRAME_AUTH_OK:
			if (client_hello_done) {
				uint32_t sid;
				int refused;
				if (hs_client_on_auth_ok(&c, f.payload, f.len, key,
					sizeof key, &sid, &refused, &why) != 0)
					check(why != NULL);
			}
			break;
		default:
			break;
		}
	}
	/* What the client would answer, keyed by key, the server accepts. */
	if (server_hello_done) {
		struct handshake peer = s;
		size_t n = hs_client_auth(&peer, key, sizeof key, 42, buf);
		struct msg_auth a;
		const char *why = NULL;
		check(msg_auth_decode(buf, n, (enum hello_role)s.role, &a, &why) == 0);
		check(hs_server_verify(&s, &a, key, sizeof key));
	}
	return 0;
}
