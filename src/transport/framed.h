/*
 * Reading single frames from a conn without reading past them: the header
 * first, then exactly its payload. Used where raw bytes may follow a frame
 * on the same connection (dedicated data connections).
 */
#ifndef BURROW_FRAMED_H
#define BURROW_FRAMED_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/msg.h"

struct conn;

struct frame_reader {
	uint8_t buf[FRAME_HEADER_LEN + MSG_MAX];
	size_t have;
};

/*
 * Returns 1 with *f filled (payload points into r), 0 when the socket has no
 * more bytes yet, or -1 on EOF, a socket error or a bad frame (*why says).
 * After a 1, the next call starts a new frame.
 */
int frame_reader_read(struct frame_reader *r, struct conn *c, struct frame *f,
    const char **why);

/* Writes one small frame on a fresh conn; -1 unless all of it was taken. */
int frame_write(struct conn *c, enum frame_type type, uint32_t id,
    const void *payload, size_t len);

#endif
