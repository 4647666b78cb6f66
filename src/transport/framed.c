#include "transport/framed.h"

#include <errno.h>
#include <string.h>

#include "transport/conn.h"

int
frame_reader_read(struct frame_reader *r, struct conn *conn, struct frame *f,
    const char **why)
{
	if (r->have >= FRAME_HEADER_LEN) {
		/* The previous call returned a frame: start over. */
		struct frame prev;
		const char *w;
		if (frame_decode(r->buf, r->have, MSG_MAX, &prev, &w) > 0)
			r->have = 0;
	}
	for (;;) {
		size_t want = FRAME_HEADER_LEN;
		if (r->have >= FRAME_HEADER_LEN) {
			ssize_t c = frame_decode(r->buf, r->have, MSG_MAX, f, why);
			if (c < 0)
				return -1;
			if (c > 0)
				return 1;
			want = FRAME_HEADER_LEN + ((size_t)r->buf[8] << 24 |
			    (size_t)r->buf[9] << 16 | (size_t)r->buf[10] << 8 | r->buf[11]);
		}
		ssize_t n = conn_read(conn, r->buf + r->have, want - r->have);
		if (n == 0) {
			*why = "connection closed";
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			*why = strerror(errno);
			return -1;
		}
		r->have += (size_t)n;
		if (r->have < FRAME_HEADER_LEN) {
			/* Reject garbage on its first byte. */
			ssize_t c = frame_decode(r->buf, r->have, MSG_MAX, f, why);
			if (c < 0)
				return -1;
		}
	}
}

int
frame_write(struct conn *c, enum frame_type type, uint32_t id,
    const void *payload, size_t len)
{
	uint8_t buf[FRAME_HEADER_LEN + MSG_MAX];
	if (len > MSG_MAX)
		return -1;
	frame_header_encode(buf, type, 0, id, (uint32_t)len);
	if (len > 0)
		memcpy(buf + FRAME_HEADER_LEN, payload, len);
	ssize_t n = conn_write(c, buf, FRAME_HEADER_LEN + len);
	return n == (ssize_t)(FRAME_HEADER_LEN + len) ? 0 : -1;
}
