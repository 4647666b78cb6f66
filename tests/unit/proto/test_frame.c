/* Unit tests for src/proto/frame.c: the 12-byte header codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/frame.h"

static const uint8_t hello_hdr[FRAME_HEADER_LEN] = {
    0x01, 0x80, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x03,
};

static void
test_header_encode_layout(void **state)
{
	uint8_t out[FRAME_HEADER_LEN];
	memset(out, 0xaa, sizeof out);
	frame_header_encode(out, FRAME_HELLO, 0x80, 0xdeadbeef, 3);
	assert_memory_equal(out, hello_hdr, FRAME_HEADER_LEN);
}

static void
test_round_trip_every_type(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN + 5];
	memcpy(buf + FRAME_HEADER_LEN, "hello", 5);
	for (unsigned t = 1; t <= FRAME_TYPE_MAX; t++) {
		struct frame f;
		const char *why = NULL;
		memset(&f, 0, sizeof f);
		frame_header_encode(buf, (enum frame_type)t, (uint8_t)t, 100 + t, 5);
		ssize_t n = frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why);
		assert_int_equal(n, FRAME_HEADER_LEN + 5);
		assert_int_equal(f.type, t);
		assert_int_equal(f.flags, t);
		assert_int_equal(f.id, 100 + t);
		assert_int_equal(f.len, 5);
		assert_ptr_equal(f.payload, buf + FRAME_HEADER_LEN);
		assert_null(why);
	}
}

static void
test_extreme_fields(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN];
	struct frame f;
	const char *why = NULL;
	frame_header_encode(buf, FRAME_GOAWAY, 0xff, UINT32_MAX, 0);
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why),
	    FRAME_HEADER_LEN);
	assert_int_equal(f.type, FRAME_GOAWAY);
	assert_int_equal(f.flags, 0xff);
	assert_true(f.id == UINT32_MAX);
	assert_int_equal(f.len, 0);
}

static void
test_empty_payload(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN];
	struct frame f;
	const char *why = NULL;
	frame_header_encode(buf, FRAME_FIN, 0, 7, 0);
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why),
	    FRAME_HEADER_LEN);
	assert_int_equal(f.type, FRAME_FIN);
	assert_int_equal(f.id, 7);
	assert_int_equal(f.len, 0);
}

/* Every strict prefix of a valid frame needs more bytes, and decodes nothing. */
static void
test_truncated_needs_more(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN + 40];
	frame_header_encode(buf, FRAME_DATA, 0, 1, 40);
	for (size_t i = 0; i < 40; i++)
		buf[FRAME_HEADER_LEN + i] = (uint8_t)i;
	for (size_t n = 0; n < sizeof buf; n++) {
		struct frame f;
		const char *why = NULL;
		memset(&f, 0x5a, sizeof f);
		assert_int_equal(frame_decode(buf, n, FRAME_MAX_PAYLOAD, &f, &why), 0);
		assert_null(why);
		assert_int_equal(f.type, 0x5a);
	}
	struct frame f;
	const char *why = NULL;
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why),
	    (ssize_t)sizeof buf);
}

/* Bytes after the frame belong to the next one: only the frame is consumed. */
static void
test_consumes_exactly_one_frame(void **state)
{
	uint8_t buf[2 * FRAME_HEADER_LEN + 3 + 1];
	frame_header_encode(buf, FRAME_DATA, 0, 1, 3);
	memcpy(buf + FRAME_HEADER_LEN, "abc", 3);
	frame_header_encode(buf + FRAME_HEADER_LEN + 3, FRAME_WINDOW, 0, 1, 1);
	buf[sizeof buf - 1] = 0x42;

	struct frame f;
	const char *why = NULL;
	ssize_t n = frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why);
	assert_int_equal(n, FRAME_HEADER_LEN + 3);
	assert_int_equal(f.type, FRAME_DATA);
	assert_memory_equal(f.payload, "abc", 3);

	ssize_t m = frame_decode(buf + n, sizeof buf - (size_t)n,
	    FRAME_MAX_PAYLOAD, &f, &why);
	assert_int_equal(m, FRAME_HEADER_LEN + 1);
	assert_int_equal(f.type, FRAME_WINDOW);
	assert_int_equal(f.payload[0], 0x42);
}

static void
test_unknown_type(void **state)
{
	static const uint8_t bad_types[] = {0, FRAME_TYPE_MAX + 1, 0x7f, 0xff};
	for (size_t i = 0; i < sizeof bad_types; i++) {
		uint8_t buf[FRAME_HEADER_LEN];
		struct frame f;
		const char *why = NULL;
		frame_header_encode(buf, FRAME_DATA, 0, 1, 0);
		buf[0] = bad_types[i];
		assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f,
				     &why), -1);
		assert_non_null(why);
		assert_string_equal(why, "unknown frame type");
	}
}

/* An unknown type is rejected from its first byte, without waiting for a header. */
static void
test_unknown_type_early(void **state)
{
	const uint8_t b = 0xee;
	struct frame f;
	const char *why = NULL;
	assert_int_equal(frame_decode(&b, 1, FRAME_MAX_PAYLOAD, &f, &why), -1);
	assert_string_equal(why, "unknown frame type");
	const uint8_t z[3] = {0, 0, 0};
	why = NULL;
	assert_int_equal(frame_decode(z, sizeof z, FRAME_MAX_PAYLOAD, &f, &why), -1);
	assert_string_equal(why, "unknown frame type");
}

static void
test_reserved_bits(void **state)
{
	for (int byte = 2; byte <= 3; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t buf[FRAME_HEADER_LEN];
			struct frame f;
			const char *why = NULL;
			frame_header_encode(buf, FRAME_PING, 0, 0, 0);
			buf[byte] = (uint8_t)(1u << bit);
			assert_int_equal(frame_decode(buf, sizeof buf,
					     FRAME_MAX_PAYLOAD, &f, &why), -1);
			assert_string_equal(why, "reserved header bits set");
		}
	}
}

static void
test_oversized(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN];
	struct frame f;
	const char *why = NULL;

	/* Exactly the limit: only the header so far, so more is needed. */
	frame_header_encode(buf, FRAME_DATA, 0, 1, FRAME_MAX_PAYLOAD);
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why), 0);

	/* One over: rejected from the header alone, before the payload arrives. */
	frame_header_encode(buf, FRAME_DATA, 0, 1, FRAME_MAX_PAYLOAD + 1);
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why), -1);
	assert_string_equal(why, "frame too large");

	why = NULL;
	frame_header_encode(buf, FRAME_DATA, 0, 1, UINT32_MAX);
	assert_int_equal(frame_decode(buf, sizeof buf, FRAME_MAX_PAYLOAD, &f, &why), -1);
	assert_string_equal(why, "frame too large");
}

static void
test_max_payload_argument(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN + 101];
	struct frame f;
	const char *why = NULL;
	memset(buf, 0, sizeof buf);

	frame_header_encode(buf, FRAME_HELLO, 0, 0, 100);
	assert_int_equal(frame_decode(buf, sizeof buf, 100, &f, &why),
	    FRAME_HEADER_LEN + 100);
	frame_header_encode(buf, FRAME_HELLO, 0, 0, 101);
	assert_int_equal(frame_decode(buf, sizeof buf, 100, &f, &why), -1);
	assert_string_equal(why, "frame too large");

	/* A caller's bound above FRAME_MAX_PAYLOAD is clamped to it. */
	why = NULL;
	frame_header_encode(buf, FRAME_DATA, 0, 0, FRAME_MAX_PAYLOAD + 1);
	assert_int_equal(frame_decode(buf, FRAME_HEADER_LEN, SIZE_MAX, &f, &why), -1);
	assert_string_equal(why, "frame too large");
}

/* The whole maximum payload decodes in one piece. */
static void
test_max_payload_full(void **state)
{
	size_t n = FRAME_HEADER_LEN + FRAME_MAX_PAYLOAD;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	frame_header_encode(buf, FRAME_DATA, 0, 9, FRAME_MAX_PAYLOAD);
	memset(buf + FRAME_HEADER_LEN, 0x33, FRAME_MAX_PAYLOAD);
	struct frame f;
	const char *why = NULL;
	assert_int_equal(frame_decode(buf, n, FRAME_MAX_PAYLOAD, &f, &why), (ssize_t)n);
	assert_int_equal(f.len, FRAME_MAX_PAYLOAD);
	assert_int_equal(f.payload[FRAME_MAX_PAYLOAD - 1], 0x33);
	assert_int_equal(frame_decode(buf, n - 1, FRAME_MAX_PAYLOAD, &f, &why), 0);
	free(buf);
}

static void
test_type_names(void **state)
{
	assert_string_equal(frame_type_name(FRAME_HELLO), "HELLO");
	assert_string_equal(frame_type_name(FRAME_DATA), "DATA");
	assert_string_equal(frame_type_name(FRAME_GOAWAY), "GOAWAY");
	assert_string_equal(frame_type_name(0), "UNKNOWN");
	assert_string_equal(frame_type_name(FRAME_TYPE_MAX + 1), "UNKNOWN");
	assert_string_equal(frame_type_name(~0u), "UNKNOWN");
	for (unsigned t = 1; t <= FRAME_TYPE_MAX; t++) {
		assert_non_null(frame_type_name(t));
		assert_string_not_equal(frame_type_name(t), "UNKNOWN");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_encode_layout),
	    cmocka_unit_test(test_round_trip_every_type),
	    cmocka_unit_test(test_extreme_fields),
	    cmocka_unit_test(test_empty_payload),
	    cmocka_unit_test(test_truncated_needs_more),
	    cmocka_unit_test(test_consumes_exactly_one_frame),
	    cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_unknown_type_early),
	    cmocka_unit_test(test_reserved_bits),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_max_payload_argument),
	    cmocka_unit_test(test_max_payload_full),
	    cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
