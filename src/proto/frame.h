/*
 * Frame codec: pure functions over byte buffers, no I/O.
 *
 * Every frame is a 12-byte header followed by `len` payload bytes:
 *
 *   0      1      2        4            8            12
 *   +------+------+--------+------------+------------+---------
 *   | type | flags| 0 (16) | id (32 BE) | len (32 BE)| payload
 *   +------+------+--------+------------+------------+---------
 *
 * `id` is a stream id for stream frames, a tunnel request id for REGISTER*,
 * and 0 otherwise. See docs/protocol.md.
 */
#ifndef BURROW_FRAME_H
#define BURROW_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_HEADER_LEN 12
#define FRAME_MAX_PAYLOAD (64 * 1024)

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_AUTH = 2,
	FRAME_AUTH_OK = 3,
	FRAME_ERROR = 4,
	FRAME_REGISTER = 5,
	FRAME_REGISTER_OK = 6,
	FRAME_REGISTER_ERR = 7,
	FRAME_OPEN = 8,
	FRAME_OPEN_OK = 9,
	FRAME_OPEN_ERR = 10,
	FRAME_DATA = 11,
	FRAME_WINDOW = 12,
	FRAME_FIN = 13,
	FRAME_RST = 14,
	FRAME_PING = 15,
	FRAME_PONG = 16,
	FRAME_GOAWAY = 17,
	FRAME_ADOPT = 18,
	FRAME_MOVED = 19,
	/* CAP_UDP: datagram flows (msg.h) */
	FRAME_UDP_OPEN = 20,
	FRAME_DGRAM = 21,
	FRAME_UDP_CLOSE = 22,
	FRAME_TYPE_MAX = FRAME_UDP_CLOSE
};

struct frame {
	uint8_t type;
	uint8_t flags;
	uint32_t id;
	uint32_t len;
	const uint8_t *payload; /* points into the decoded buffer */
};

/*
 * Decodes one frame from p[0..n).
 * Returns the bytes consumed (header + payload), 0 when more bytes are needed,
 * or -1 on a malformed frame with a static reason in *why.
 * max_payload bounds the accepted length (at most FRAME_MAX_PAYLOAD).
 */
ssize_t frame_decode(const uint8_t *p, size_t n, size_t max_payload,
    struct frame *f, const char **why);

/* Writes a 12-byte header. */
void frame_header_encode(uint8_t out[FRAME_HEADER_LEN], enum frame_type type,
    uint8_t flags, uint32_t id, uint32_t len);

const char *frame_type_name(unsigned type);

#endif
