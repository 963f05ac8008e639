/* Unit tests for the i8042 keyboard controller and the debug-exit port. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/devices.h"
#include "kvmrun/stop.h"

#define ST_OBF		0x01
#define ST_SYS		0x04
#define ST_CMD		0x08
#define ST_AUX_OBF	0x20

struct irq_rec {
	int level;
	unsigned changes;
};

static struct vm_stop stop;
static struct i8042 kbc;
static struct irq_rec kbd_irq, aux_irq;

static void irq_set(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;

	(void)gsi;
	r->level = level;
	r->changes++;
}

static void setup(void)
{
	struct irq_line k = { .set = irq_set, .opaque = &kbd_irq, .gsi = 1 };
	struct irq_line a = { .set = irq_set, .opaque = &aux_irq, .gsi = 12 };

	memset(&kbd_irq, 0, sizeof(kbd_irq));
	memset(&aux_irq, 0, sizeof(aux_irq));
	ck_assert_int_eq(vm_stop_init(&stop), 0);
	i8042_init(&kbc, &stop, k, a);
}

static void teardown(void)
{
	i8042_destroy(&kbc);
	vm_stop_destroy(&stop);
}

static void cmd(uint8_t v)
{
	i8042_cmd_io(&kbc, 0, &v, 1, true);
}

static void data_wr(uint8_t v)
{
	i8042_data_io(&kbc, 0, &v, 1, true);
}

static uint8_t status(void)
{
	uint8_t v = 0x5a;

	i8042_cmd_io(&kbc, 0, &v, 1, false);
	return v;
}

static uint8_t data_rd(void)
{
	uint8_t v = 0x5a;

	i8042_data_io(&kbc, 0, &v, 1, false);
	return v;
}

/* The eventfd counter: how many stop requests woke the main loop. */
static uint64_t wakeups(void)
{
	uint64_t n = 0;

	if (read(stop.efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;
	return n;
}

/* ---- reset ---- */

START_TEST(test_pulse_reset)
{
	ck_assert(!vm_stop_requested(&stop));
	cmd(0xfe);
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_RESET);
	ck_assert_int_eq(stop.status, 0);
	ck_assert_uint_eq(wakeups(), 1);
}
END_TEST

START_TEST(test_pulse_other_lines_no_reset)
{
	/* 0xf0-0xff pulse output lines; only bit 0 low is the reset line. */
	cmd(0xff);
	cmd(0xfd);
	cmd(0xf1);
	ck_assert(!vm_stop_requested(&stop));
	cmd(0xf0);
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_RESET);
}
END_TEST

START_TEST(test_write_output_port)
{
	/* Bit 0 set: the CPU keeps running. */
	cmd(0xd1);
	data_wr(0x03);
	ck_assert(!vm_stop_requested(&stop));
	ck_assert(!(status() & ST_OBF));	/* the data byte was consumed, not queued */
	/* Read it back with 0xd0. */
	cmd(0xd0);
	ck_assert(status() & ST_OBF);
	ck_assert_uint_eq(data_rd(), 0x03);
	/* Bit 0 clear: reset. */
	cmd(0xd1);
	data_wr(0x02);
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_RESET);
}
END_TEST

START_TEST(test_new_command_cancels_pending_d1)
{
	/* 0xd1 waits for an output-port byte; a new command replaces it, so the 0 is not a reset. */
	cmd(0xd1);
	cmd(0xae);
	data_wr(0x00);
	ck_assert(!vm_stop_requested(&stop));
}
END_TEST

START_TEST(test_data_without_d1_is_keyboard)
{
	/* Without a pending 0xd1 a data byte goes to the keyboard: no reset. */
	data_wr(0x00);
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(data_rd(), 0xfa);
	/* The pending command is used once only. */
	cmd(0xd1);
	data_wr(0x01);
	data_wr(0x00);
	ck_assert(!vm_stop_requested(&stop));
}
END_TEST

START_TEST(test_initial_outport)
{
	cmd(0xd0);
	/* Reset line high (not in reset), A20 on. */
	ck_assert_uint_eq(data_rd() & 0x03, 0x03);
}
END_TEST

/* ---- controller commands ---- */

START_TEST(test_self_test)
{
	ck_assert(!(status() & ST_OBF));
	cmd(0xaa);
	ck_assert_uint_eq(status() & (ST_OBF | ST_SYS | ST_AUX_OBF), ST_OBF | ST_SYS);
	ck_assert(status() & ST_CMD);
	ck_assert_uint_eq(data_rd(), 0x55);
	ck_assert(!(status() & ST_OBF));
	ck_assert(status() & ST_SYS);		/* stays set */
}
END_TEST

START_TEST(test_read_write_ctr)
{
	uint8_t ctr;

	cmd(0x20);
	ck_assert(status() & ST_OBF);
	ctr = data_rd();
	/* After init: keyboard interrupt and translation on, the mouse port off. */
	ck_assert_uint_eq(ctr, 0x61);
	cmd(0x60);
	ck_assert(!(status() & ST_OBF));
	data_wr(0x47);
	ck_assert(!(status() & ST_CMD));	/* last write was data */
	cmd(0x20);
	ck_assert_uint_eq(data_rd(), 0x47);
	ck_assert(status() & ST_SYS);		/* CTR bit 2 mirrors into the status */
	ck_assert(!vm_stop_requested(&stop));
}
END_TEST

START_TEST(test_port_tests)
{
	cmd(0xab);
	ck_assert_uint_eq(data_rd(), 0x00);	/* keyboard interface ok */
	cmd(0xa9);
	ck_assert_uint_eq(data_rd(), 0x01);	/* no mouse port */
}
END_TEST

START_TEST(test_enable_disable_bits)
{
	cmd(0xad);
	cmd(0x20);
	ck_assert_uint_eq(data_rd() & 0x10, 0x10);
	cmd(0xae);
	cmd(0x20);
	ck_assert_uint_eq(data_rd() & 0x10, 0x00);
	cmd(0xa8);
	cmd(0x20);
	ck_assert_uint_eq(data_rd() & 0x20, 0x00);
	cmd(0xa7);
	cmd(0x20);
	ck_assert_uint_eq(data_rd() & 0x20, 0x20);
}
END_TEST

START_TEST(test_unknown_command_ignored)
{
	cmd(0x12);
	cmd(0xc0);
	ck_assert(!(status() & ST_OBF));
	ck_assert(!vm_stop_requested(&stop));
}
END_TEST

/* ---- keyboard ---- */

START_TEST(test_keyboard_reset)
{
	data_wr(0xff);
	ck_assert(status() & ST_OBF);
	ck_assert_uint_eq(data_rd(), 0xfa);
	ck_assert(status() & ST_OBF);
	ck_assert_uint_eq(data_rd(), 0xaa);
	ck_assert(!(status() & ST_OBF));
}
END_TEST

START_TEST(test_keyboard_identify_echo)
{
	data_wr(0xf2);
	ck_assert_uint_eq(data_rd(), 0xfa);
	ck_assert_uint_eq(data_rd(), 0xab);
	ck_assert_uint_eq(data_rd(), 0x83);
	data_wr(0xee);
	ck_assert_uint_eq(data_rd(), 0xee);
	data_wr(0xf4);		/* enable scanning: just ACK */
	ck_assert_uint_eq(data_rd(), 0xfa);
	ck_assert(!(status() & ST_OBF));
}
END_TEST

START_TEST(test_write_kbd_output_buffer)
{
	cmd(0xd2);
	data_wr(0x1c);
	ck_assert_uint_eq(data_rd(), 0x1c);
	/* Writes to the absent mouse are dropped. */
	cmd(0xd4);
	data_wr(0xff);
	ck_assert(!(status() & ST_OBF));
}
END_TEST

START_TEST(test_empty_output_buffer)
{
	uint8_t v[4] = { 0x11, 0x22, 0x33, 0x44 };

	ck_assert_uint_eq(data_rd(), 0x00);
	i8042_data_io(&kbc, 0, v, 4, false);
	ck_assert_uint_eq(v[0], 0);
	ck_assert_uint_eq(v[3], 0);
	ck_assert(!(status() & ST_OBF));
	/* Still works afterwards. */
	cmd(0xaa);
	ck_assert_uint_eq(data_rd(), 0x55);
}
END_TEST

START_TEST(test_queue_full_drops)
{
	/* 16 bytes fit; more are dropped, order is kept. */
	for (unsigned i = 0; i < 20; i++) {
		cmd(0xd2);
		data_wr((uint8_t)(0x30 + i));
	}
	for (unsigned i = 0; i < I8042_QUEUE; i++)
		ck_assert_uint_eq(data_rd(), 0x30 + i);
	ck_assert(!(status() & ST_OBF));
	ck_assert_uint_eq(data_rd(), 0);
}
END_TEST

START_TEST(test_kbd_irq)
{
	/* CTR after init has the keyboard interrupt enabled. */
	data_wr(0xff);
	ck_assert_int_eq(kbd_irq.level, 1);
	ck_assert_int_eq(aux_irq.level, 0);
	data_rd();
	ck_assert_int_eq(kbd_irq.level, 1);	/* 0xaa still queued */
	data_rd();
	ck_assert_int_eq(kbd_irq.level, 0);
	/* With the interrupt masked in the CTR, no IRQ. */
	cmd(0x60);
	data_wr(0x60);
	data_wr(0xff);
	ck_assert_int_eq(kbd_irq.level, 0);
	ck_assert(status() & ST_OBF);
	ck_assert_uint_eq(aux_irq.changes, 0);
}
END_TEST

/* ---- debug exit ---- */

static void debug_write(struct debug_exit *d, uint32_t v, uint32_t len)
{
	uint8_t b[4];

	memcpy(b, &v, sizeof(b));
	debug_exit_io(d, 0, b, len, true);
}

START_TEST(test_debug_exit_status)
{
	static const struct { uint32_t v, len; int status; } cases[] = {
		{ 0x00, 1, 0x01 },
		{ 0x01, 1, 0x03 },
		{ 0x10, 1, 0x21 },
		{ 0x7f, 1, 0xff },
		{ 0x80, 1, 0x01 },	/* 8-bit exit status: bit 7 is lost */
		{ 0xff, 1, 0xff },
		{ 0x31, 4, 0x63 },
		{ 0x12345601, 4, 0x03 },
		{ 0x0141, 2, 0x83 },
	};
	const unsigned i = (unsigned)_i;
	struct debug_exit d = { .stop = &stop };

	ck_assert_uint_lt(i, sizeof(cases) / sizeof(cases[0]));
	debug_write(&d, cases[i].v, cases[i].len);
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_DEBUG_EXIT);
	ck_assert_int_eq(stop.status, cases[i].status);
	ck_assert_int_eq(stop.status, (int)(((cases[i].v << 1) | 1) & 0xff));
}
END_TEST

START_TEST(test_first_stop_wins)
{
	struct debug_exit d = { .stop = &stop };

	debug_write(&d, 0x10, 1);
	debug_write(&d, 0x20, 1);
	ck_assert_int_eq(stop.reason, STOP_DEBUG_EXIT);
	ck_assert_int_eq(stop.status, 0x21);
	/* A reset afterwards does not overwrite it either. */
	cmd(0xfe);
	ck_assert_int_eq(stop.reason, STOP_DEBUG_EXIT);
	ck_assert_int_eq(stop.status, 0x21);
	vm_stop_request(&stop, STOP_TIMEOUT, 124);
	ck_assert_int_eq(stop.reason, STOP_DEBUG_EXIT);
	ck_assert_int_eq(stop.status, 0x21);
	/* Every request still woke the main loop. */
	ck_assert_uint_eq(wakeups(), 4);
}
END_TEST

START_TEST(test_reset_then_debug_exit)
{
	struct debug_exit d = { .stop = &stop };

	cmd(0xfe);
	debug_write(&d, 0x05, 1);
	ck_assert_int_eq(stop.reason, STOP_RESET);
	ck_assert_int_eq(stop.status, 0);
}
END_TEST

START_TEST(test_debug_exit_read)
{
	struct debug_exit d = { .stop = &stop };
	uint8_t b[4] = { 0, 0, 0, 0 };

	debug_exit_io(&d, 0, b, 4, false);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(b[i], 0xff);
	b[0] = b[1] = 0;
	debug_exit_io(&d, 2, b, 1, false);
	ck_assert_uint_eq(b[0], 0xff);
	ck_assert_uint_eq(b[1], 0);
	ck_assert(!vm_stop_requested(&stop));
}
END_TEST

START_TEST(test_stop_reason_names)
{
	ck_assert_str_eq(stop_reason_name(STOP_NONE), "running");
	for (int r = STOP_POWEROFF; r <= STOP_ERROR; r++) {
		const char *n = stop_reason_name((enum stop_reason)r);

		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "?");
		ck_assert_str_ne(n, "");
	}
}
END_TEST

static Suite *i8042_suite(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc;

	tc = tcase_create("reset");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pulse_reset);
	tcase_add_test(tc, test_pulse_other_lines_no_reset);
	tcase_add_test(tc, test_write_output_port);
	tcase_add_test(tc, test_data_without_d1_is_keyboard);
	tcase_add_test(tc, test_new_command_cancels_pending_d1);
	tcase_add_test(tc, test_initial_outport);
	suite_add_tcase(s, tc);

	tc = tcase_create("controller");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_self_test);
	tcase_add_test(tc, test_read_write_ctr);
	tcase_add_test(tc, test_port_tests);
	tcase_add_test(tc, test_enable_disable_bits);
	tcase_add_test(tc, test_unknown_command_ignored);
	suite_add_tcase(s, tc);

	tc = tcase_create("keyboard");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keyboard_reset);
	tcase_add_test(tc, test_keyboard_identify_echo);
	tcase_add_test(tc, test_write_kbd_output_buffer);
	tcase_add_test(tc, test_empty_output_buffer);
	tcase_add_test(tc, test_queue_full_drops);
	tcase_add_test(tc, test_kbd_irq);
	suite_add_tcase(s, tc);

	tc = tcase_create("debug_exit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_debug_exit_status, 0, 9);
	tcase_add_test(tc, test_first_stop_wins);
	tcase_add_test(tc, test_reset_then_debug_exit);
	tcase_add_test(tc, test_debug_exit_read);
	tcase_add_test(tc, test_stop_reason_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(i8042_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
