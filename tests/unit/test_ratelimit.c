/*
 * Token buckets (src/ratelimit.c) on a made-up clock: the rate holds over
 * time whatever the request sizes, the one-time burst goes first and once,
 * an overdraw is paid back, waits say exactly when, throttled time adds up.
 */
#include <check.h>

#include "kvmrun/ratelimit.h"
#include "testlib.h"

#define MS	1000000ULL
#define S	1000000000ULL

/* Takes requests of n bytes as fast as the limiter allows for `secs` of made-up time. */
static uint64_t run(struct rate_limiter *rl, uint64_t *now, uint64_t bytes, uint64_t secs,
		    uint64_t *ops_done)
{
	uint64_t end = *now + secs * S, total = 0, ops = 0;

	while (*now < end) {
		uint64_t w = rate_limiter_wait_ns(rl, *now);

		if (w) {
			*now += w;
			continue;
		}
		rate_limiter_consume(rl, 1, bytes, *now);
		total += bytes;
		ops++;
	}
	*ops_done = ops;
	return total;
}

START_TEST(test_unlimited)
{
	struct rate_limit_params p = { 0 };
	struct rate_limiter rl;

	rate_limiter_init(&rl, &p, 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 0), 0);
		rate_limiter_consume(&rl, 1, 1 << 20, 0);
	}
	ck_assert_uint_eq(rate_limiter_throttled_ns(&rl, 0), 0);
}
END_TEST

START_TEST(test_iops_rate)
{
	struct rate_limit_params p = { .ops = 1000 };
	struct rate_limiter rl;
	uint64_t now = 5 * S, ops;

	rate_limiter_init(&rl, &p, now);
	run(&rl, &now, 4096, 10, &ops);
	/* 10 s at 1000/s, plus the bucket's first window (20 ms: 20 ops). */
	ck_assert_uint_ge(ops, 10000);
	ck_assert_uint_le(ops, 10000 + 21);
	ck_assert_uint_gt(rate_limiter_throttled_ns(&rl, now), 9 * S);
}
END_TEST

/* Requests far larger than the bucket: they pass one at a time, the average stays the rate. */
START_TEST(test_bytes_rate_big_requests)
{
	struct rate_limit_params p = { .bytes = 64 << 10 };
	struct rate_limiter rl;
	uint64_t now = 0, ops, bytes;

	rate_limiter_init(&rl, &p, now);
	bytes = run(&rl, &now, 1 << 20, 160, &ops);
	/* 160 s at 64 KiB/s: 10 MiB, in 1 MiB requests, the first one on credit. */
	ck_assert_uint_ge(bytes, 10ULL << 20);
	ck_assert_uint_le(bytes, 11ULL << 20);
}
END_TEST

START_TEST(test_burst_once)
{
	struct rate_limit_params p = { .ops = 100, .ops_burst = 500 };
	struct rate_limiter rl;
	uint64_t now = 0, ops;

	rate_limiter_init(&rl, &p, now);
	/* The burst and the first window go at once, without any wait. */
	for (int i = 0; i < 502; i++) {
		ck_assert_uint_eq(rate_limiter_wait_ns(&rl, now), 0);
		rate_limiter_consume(&rl, 1, 0, now);
	}
	ck_assert_uint_gt(rate_limiter_wait_ns(&rl, now), 0);
	/* Then the rate; the burst never comes back, even after an idle minute. */
	now += 60 * S;
	run(&rl, &now, 0, 10, &ops);
	ck_assert_uint_le(ops, 1000 + 3);
	ck_assert_uint_ge(ops, 1000);
}
END_TEST

START_TEST(test_wait_is_exact)
{
	struct rate_limit_params p = { .ops = 10 };	/* one every 100 ms */
	struct rate_limiter rl;
	uint64_t now = 0, w;

	rate_limiter_init(&rl, &p, now);
	rate_limiter_consume(&rl, 1, 0, now);	/* the window holds 0 whole tokens: overdraw 1 */
	w = rate_limiter_wait_ns(&rl, now);
	ck_assert_uint_gt(w, 0);
	ck_assert_uint_le(w, 200 * MS);
	ck_assert_uint_gt(rate_limiter_wait_ns(&rl, now + w - 1), 0);
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, now + w), 0);
	/* Throttled from the first wait to the first ready answer. */
	ck_assert_uint_eq(rate_limiter_throttled_ns(&rl, now + w), w);
	ck_assert_uint_eq(rl.throttle_events, 1);
}
END_TEST

START_TEST(test_set_at_run_time)
{
	struct rate_limit_params p = { .ops = 10 }, q = { 0 };
	struct rate_limiter rl;
	uint64_t now = 0;

	rate_limiter_init(&rl, &p, now);
	for (int i = 0; i < 5; i++)
		rate_limiter_consume(&rl, 1, 0, now);
	ck_assert_uint_gt(rate_limiter_wait_ns(&rl, now), 0);
	rate_limiter_set(&rl, &q, now + MS);
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, now + MS), 0);
	ck_assert_uint_eq(rate_limiter_throttled_ns(&rl, now + 2 * MS), MS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");

	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_iops_rate);
	tcase_add_test(tc, test_bytes_rate_big_requests);
	tcase_add_test(tc, test_burst_once);
	tcase_add_test(tc, test_wait_is_exact);
	tcase_add_test(tc, test_set_at_run_time);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
