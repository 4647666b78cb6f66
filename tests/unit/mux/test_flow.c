/* Flow-control accounting in src/mux/flow.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mux/flow.h"

#define W (1024 * 1024)

static void
test_sender_stops_at_peer_window(void **state)
{
	struct flow f;
	flow_init(&f, W, 100000);
	assert_int_equal(flow_allowance(&f, 65536), 65536);
	flow_sent(&f, 65536);
	assert_int_equal(flow_allowance(&f, 65536), 100000 - 65536);
	flow_sent(&f, 100000 - 65536);
	assert_int_equal(flow_allowance(&f, 65536), 0);
	assert_int_equal(flow_on_window(&f, 1000), 0);
	assert_int_equal(flow_allowance(&f, 65536), 1000);
}

static void
test_receiver_rejects_excess(void **state)
{
	struct flow f;
	flow_init(&f, W, W);
	assert_int_equal(flow_on_data(&f, W - 1), 0);
	assert_int_equal(flow_on_data(&f, 1), 0);
	assert_int_equal(flow_on_data(&f, 1), -1);
}

static void
test_grant_after_a_quarter(void **state)
{
	struct flow f;
	flow_init(&f, W, W);
	assert_int_equal(flow_on_data(&f, W), 0);
	assert_int_equal(flow_consumed(&f, W / 4 - 1), 0);
	assert_int_equal(f.recv_credit, 0);
	assert_int_equal(flow_consumed(&f, 1), W / 4);
	assert_int_equal(f.recv_credit, W / 4);
	assert_int_equal(f.unacked, 0);
}

/* Whatever the order, the peer's credit plus what we hold never exceeds the window. */
static void
test_bytes_held_bounded_by_window(void **state)
{
	struct flow f;
	flow_init(&f, W, W);
	uint32_t held = 0, seed = 7;
	for (int i = 0; i < 100000; i++) {
		seed = seed * 1103515245u + 12345u;
		if (seed & 0x10000) {
			uint32_t n = (seed >> 8) % 70000;
			if (n > f.recv_credit)
				n = f.recv_credit;
			assert_int_equal(flow_on_data(&f, n), 0);
			held += n;
		} else {
			uint32_t n = (seed >> 8) % 90000;
			if (n > held)
				n = held;
			held -= n;
			flow_consumed(&f, n);
		}
		assert_true((uint64_t)held + f.recv_credit + f.unacked <= W);
		assert_true((uint64_t)held + f.recv_credit + f.unacked >= W - W / 4);
	}
}

static void
test_bad_window_updates(void **state)
{
	struct flow f;
	flow_init(&f, W, UINT32_MAX - 10);
	assert_int_equal(flow_on_window(&f, 0), -1);
	assert_int_equal(flow_on_window(&f, 11), -1);
	assert_int_equal(flow_on_window(&f, 10), 0);
	assert_int_equal(f.send_credit, UINT32_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sender_stops_at_peer_window),
	    cmocka_unit_test(test_receiver_rejects_excess),
	    cmocka_unit_test(test_grant_after_a_quarter),
	    cmocka_unit_test(test_bytes_held_bounded_by_window),
	    cmocka_unit_test(test_bad_window_updates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
