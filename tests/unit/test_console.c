/* Unit tests for the console escape filter (Ctrl-A x, Ctrl-A Ctrl-A). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/console.h"

static struct console con;

static void setup(void)
{
	memset(&con, 0, sizeof(con));
	con.fd = -1;
}

/* Runs the filter over a string; returns the output length. */
static size_t filter(const char *in, size_t n, uint8_t *out, bool *quit)
{
	/* Poison the output so that unwritten bytes show. */
	memset(out, 0xee, n ? n : 1);
	return console_filter(&con, (const uint8_t *)in, n, out, quit);
}

START_TEST(test_plain_passthrough)
{
	uint8_t out[64];
	bool quit = false;
	const char in[] = "hello\r\n\x1b[A\x7f\x00\xff";
	size_t n = sizeof(in) - 1;

	ck_assert_uint_eq(filter(in, n, out, &quit), n);
	ck_assert_mem_eq(out, in, n);
	ck_assert(!quit);
	ck_assert(!con.escape_pending);
}
END_TEST

START_TEST(test_empty_input)
{
	uint8_t out[1];
	bool quit = false;

	ck_assert_uint_eq(filter("", 0, out, &quit), 0);
	ck_assert(!quit);
}
END_TEST

START_TEST(test_ctrl_a_x_quits)
{
	uint8_t out[16];
	bool quit = false;

	/* Bytes before the escape are delivered; nothing after it. */
	ck_assert_uint_eq(filter("ab\x01xcd", 6, out, &quit), 2);
	ck_assert(quit);
	ck_assert_mem_eq(out, "ab", 2);
	ck_assert(!con.escape_pending);
}
END_TEST

START_TEST(test_ctrl_a_capital_x_quits)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("\x01X", 2, out, &quit), 0);
	ck_assert(quit);
}
END_TEST

START_TEST(test_ctrl_a_ctrl_a)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("a\x01\x01z", 4, out, &quit), 3);
	ck_assert_mem_eq(out, "a\x01z", 3);
	ck_assert(!quit);
	ck_assert(!con.escape_pending);
	/* Two pairs give two Ctrl-As. */
	ck_assert_uint_eq(filter("\x01\x01\x01\x01", 4, out, &quit), 2);
	ck_assert_mem_eq(out, "\x01\x01", 2);
	/* Ctrl-A Ctrl-A x: the x is a plain x, not a quit. */
	ck_assert_uint_eq(filter("\x01\x01x", 3, out, &quit), 2);
	ck_assert_mem_eq(out, "\x01x", 2);
	ck_assert(!quit);
}
END_TEST

START_TEST(test_ctrl_a_other_key)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("\x01" "c", 2, out, &quit), 1);
	ck_assert_uint_eq(out[0], 'c');
	ck_assert(!quit);
	ck_assert_uint_eq(filter("1\x01y2", 4, out, &quit), 3);
	ck_assert_mem_eq(out, "1y2", 3);
	ck_assert(!quit);
	/* A NUL after the escape is a key like any other. */
	ck_assert_uint_eq(filter("\x01\x00", 2, out, &quit), 1);
	ck_assert_uint_eq(out[0], 0);
}
END_TEST

START_TEST(test_escape_split_across_calls)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("ab\x01", 3, out, &quit), 2);
	ck_assert_mem_eq(out, "ab", 2);
	ck_assert(con.escape_pending);
	ck_assert(!quit);
	ck_assert_uint_eq(filter("x", 1, out, &quit), 0);
	ck_assert(quit);
	ck_assert(!con.escape_pending);
}
END_TEST

START_TEST(test_split_ctrl_a_ctrl_a)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("\x01", 1, out, &quit), 0);
	ck_assert(con.escape_pending);
	ck_assert_uint_eq(filter("\x01q", 2, out, &quit), 2);
	ck_assert_mem_eq(out, "\x01q", 2);
	ck_assert(!quit);
	ck_assert(!con.escape_pending);
}
END_TEST

START_TEST(test_split_other_key_then_empty)
{
	uint8_t out[16];
	bool quit = false;

	ck_assert_uint_eq(filter("\x01", 1, out, &quit), 0);
	/* An empty read keeps the escape pending. */
	ck_assert_uint_eq(filter("", 0, out, &quit), 0);
	ck_assert(con.escape_pending);
	ck_assert_uint_eq(filter("k", 1, out, &quit), 1);
	ck_assert_uint_eq(out[0], 'k');
	ck_assert(!quit);
}
END_TEST

START_TEST(test_quit_not_reset_by_filter)
{
	uint8_t out[16];
	bool quit = true;

	/* The filter only sets *quit; it never clears it. */
	ck_assert_uint_eq(filter("abc", 3, out, &quit), 3);
	ck_assert(quit);
}
END_TEST

START_TEST(test_init_on_non_tty)
{
	struct console c;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	memset(&c, 0x5a, sizeof(c));
	console_init(&c, fds[0]);
	ck_assert_int_eq(c.fd, fds[0]);
	ck_assert(!c.raw);
	ck_assert(!c.escape_pending);
	console_restore(&c);
	ck_assert(!c.raw);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

static Suite *console_suite(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("filter");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_plain_passthrough);
	tcase_add_test(tc, test_empty_input);
	tcase_add_test(tc, test_ctrl_a_x_quits);
	tcase_add_test(tc, test_ctrl_a_capital_x_quits);
	tcase_add_test(tc, test_ctrl_a_ctrl_a);
	tcase_add_test(tc, test_ctrl_a_other_key);
	tcase_add_test(tc, test_escape_split_across_calls);
	tcase_add_test(tc, test_split_ctrl_a_ctrl_a);
	tcase_add_test(tc, test_split_other_key_then_empty);
	tcase_add_test(tc, test_quit_not_reset_by_filter);
	tcase_add_test(tc, test_init_on_non_tty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(console_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
