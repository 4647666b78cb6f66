#include "proto/frame.h"

static const char *const type_names[] = {
    [FRAME_HELLO] = "HELLO",
    [FRAME_AUTH] = "AUTH",
    [FRAME_AUTH_OK] = "AUTH_OK",
    [FRAME_ERROR] = "ERROR",
    [FRAME_REGISTER] = "REGISTER",
    [FRAME_REGISTER_OK] = "REGISTER_OK",
    [FRAME_REGISTER_ERR] = "REGISTER_ERR",
    [FRAME_OPEN] = "OPEN",
    [FRAME_OPEN_OK] = "OPEN_OK",
    [FRAME_OPEN_ERR] = "OPEN_ERR",
    [FRAME_DATA] = "DATA",
    [FRAME_WINDOW] = "WINDOW",
    [FRAME_FIN] = "FIN",
    [FRAME_RST] = "RST",
    [FRAME_PING] = "PING",
    [FRAME_PONG] = "PONG",
    [FRAME_GOAWAY] = "GOAWAY",
    [FRAME_ADOPT] = "ADOPT",
    [FRAME_MOVED] = "MOVED",
    [FRAME_UDP_OPEN] = "UDP_OPEN",
    [FRAME_DGRAM] = "DGRAM",
    [FRAME_UDP_CLOSE] = "UDP_CLOSE",
};

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

ssize_t
frame_decode(const uint8_t *p, size_t n, size_t max_payload, struct frame *f,
    const char **why)
{
	if (n < FRAME_HEADER_LEN) {
		/* Reject an unknown type as early as its first byte arrives. */
		if (n >= 1 && (p[0] == 0 || p[0] > FRAME_TYPE_MAX)) {
			*why = "unknown frame type";
			return -1;
		}
		return 0;
	}
	if (p[0] == 0 || p[0] > FRAME_TYPE_MAX) {
		*why = "unknown frame type";
		return -1;
	}
	if (p[2] != 0 || p[3] != 0) {
		*why = "reserved header bits set";
		return -1;
	}
	uint32_t len = get_u32(p + 8);
	if (max_payload > FRAME_MAX_PAYLOAD)
		max_payload = FRAME_MAX_PAYLOAD;
	if (len > max_payload) {
		*why = "frame too large";
		return -1;
	}
	if (n - FRAME_HEADER_LEN < len)
		return 0;
	f->type = p[0];
	f->flags = p[1];
	f->id = get_u32(p + 4);
	f->len = len;
	f->payload = p + FRAME_HEADER_LEN;
	return (ssize_t)(FRAME_HEADER_LEN + len);
}

void
frame_header_encode(uint8_t out[FRAME_HEADER_LEN], enum frame_type type,
    uint8_t flags, uint32_t id, uint32_t len)
{
	out[0] = (uint8_t)type;
	out[1] = flags;
	out[2] = 0;
	out[3] = 0;
	put_u32(out + 4, id);
	put_u32(out + 8, len);
}

const char *
frame_type_name(unsigned type)
{
	if (type == 0 || type > FRAME_TYPE_MAX)
		return "UNKNOWN";
	return type_names[type];
}
