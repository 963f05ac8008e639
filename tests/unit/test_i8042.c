/* Unit tests for the i8042 keyboard controller and the debug-exit port. */
#include <check.h>
#include <errno.h>
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

#define KBD_ACK		0xfa

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

/* ---- save, restore, reset ---- */

/* The record's layout (state_version 1), byte offsets. */
enum { REC_STATUS = 0, REC_CTR, REC_PENDING, REC_OUTPORT, REC_QUEUE,
       REC_Q_HEAD = REC_QUEUE + I8042_QUEUE, REC_Q_COUNT, REC_Q_AUX,
       REC_LEN = REC_Q_AUX + I8042_QUEUE };

static struct vm_stop stop2;
static struct i8042 kbc2;
static struct irq_rec kbd_irq2, aux_irq2;

static void init_kbc2(void)
{
	struct irq_line k = { .set = irq_set, .opaque = &kbd_irq2, .gsi = 1 };
	struct irq_line a = { .set = irq_set, .opaque = &aux_irq2, .gsi = 12 };

	memset(&kbd_irq2, 0, sizeof(kbd_irq2));
	memset(&aux_irq2, 0, sizeof(aux_irq2));
	ck_assert_int_eq(vm_stop_init(&stop2), 0);
	i8042_init(&kbc2, &stop2, k, a);
}

static void destroy_kbc2(void)
{
	i8042_destroy(&kbc2);
	vm_stop_destroy(&stop2);
}

static void save(struct i8042 *k, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(device_save_one(&i8042_device_ops, k, w), 0);
}

/* Three bytes queued past a moved head, 0xd1 waiting for its data byte, IRQ 1 up. */
static void make_busy(void)
{
	cmd(0xaa);		/* 0x55 */
	ck_assert_uint_eq(data_rd(), 0x55);
	data_wr(0xf2);		/* ACK, 0xab, 0x83 */
	cmd(0xad);		/* keyboard off: a CTR bit */
	cmd(0xd1);
	ck_assert_int_eq(kbd_irq.level, 1);
	ck_assert_uint_eq(kbc.regs.q_count, 3);
	ck_assert_uint_eq(kbc.regs.pending_cmd, 0xd1);
}

/* The same accesses on a controller; what they read, the lines and the stop, into log. */
static unsigned run_script(struct i8042 *k, const struct irq_rec *ki, const struct irq_rec *ai,
			   struct vm_stop *st, uint8_t *log)
{
	unsigned n = 0;
	uint8_t v;

	v = 0x03;		/* the data byte of 0xd1: the CPU keeps running */
	i8042_data_io(k, 0, &v, 1, true);
	for (unsigned i = 0; i < 5; i++) {
		i8042_cmd_io(k, 0, &log[n++], 1, false);
		i8042_data_io(k, 0, &log[n++], 1, false);
		log[n++] = (uint8_t)ki->level;
		log[n++] = (uint8_t)ai->level;
	}
	v = 0x20;		/* read the configuration byte */
	i8042_cmd_io(k, 0, &v, 1, true);
	log[n++] = (uint8_t)ki->level;
	i8042_data_io(k, 0, &log[n++], 1, false);
	v = 0xd0;		/* and the output port */
	i8042_cmd_io(k, 0, &v, 1, true);
	i8042_data_io(k, 0, &log[n++], 1, false);
	log[n++] = vm_stop_requested(st);
	v = 0xd1;
	i8042_cmd_io(k, 0, &v, 1, true);
	v = 0x02;		/* reset line low */
	i8042_data_io(k, 0, &v, 1, true);
	log[n++] = vm_stop_requested(st);
	return n;
}

START_TEST(test_save_restore_round_trip)
{
	struct state_writer w1, w2;
	uint8_t log1[64], log2[64];
	unsigned n1, n2;

	make_busy();
	save(&kbc, &w1);
	ck_assert_uint_eq(w1.len, REC_LEN);
	ck_assert_uint_eq(w1.data[REC_PENDING], 0xd1);
	ck_assert_uint_eq(w1.data[REC_Q_COUNT], 3);
	ck_assert_uint_eq(w1.data[REC_Q_HEAD], 1);

	init_kbc2();
	ck_assert_int_eq(device_restore_one(&i8042_device_ops, &kbc2, w1.data, w1.len), 0);
	ck_assert_int_eq(kbd_irq2.level, 1);
	ck_assert_int_eq(aux_irq2.level, 0);
	save(&kbc2, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);

	n1 = run_script(&kbc, &kbd_irq, &aux_irq, &stop, log1);
	n2 = run_script(&kbc2, &kbd_irq2, &aux_irq2, &stop2, log2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(log1, log2, n1);
	ck_assert_uint_eq(log1[1], KBD_ACK);	/* the queue did come across */
	ck_assert_uint_eq(log1[n1 - 2], 0);	/* 0x03 went to the output port ... */
	ck_assert_uint_eq(log1[n1 - 1], 1);	/* ... and 0x02 reset the machine */

	state_writer_free(&w1);
	state_writer_free(&w2);
	destroy_kbc2();
}
END_TEST

/* A record the model cannot reach by itself: a mouse byte at the head. */
START_TEST(test_restore_aux_byte)
{
	struct state_writer w;
	uint8_t rec[REC_LEN];

	cmd(0x60);
	data_wr(0x03);		/* both ports interrupt */
	cmd(0xaa);
	save(&kbc, &w);
	memcpy(rec, w.data, w.len);
	rec[REC_STATUS] |= ST_AUX_OBF;
	rec[REC_Q_AUX + rec[REC_Q_HEAD]] = 1;
	init_kbc2();
	ck_assert_int_eq(device_restore_one(&i8042_device_ops, &kbc2, rec, w.len), 0);
	ck_assert_int_eq(kbd_irq2.level, 0);
	ck_assert_int_eq(aux_irq2.level, 1);
	state_writer_free(&w);
	destroy_kbc2();
}
END_TEST

static void assert_refused(const uint8_t *rec, size_t len)
{
	init_kbc2();
	kbd_irq2.level = 1;
	ck_assert_int_eq(device_restore_one(&i8042_device_ops, &kbc2, rec, len), -EINVAL);
	/* Left at power-on: empty, lines low, nothing pending. */
	ck_assert_int_eq(kbd_irq2.level, 0);
	ck_assert_uint_eq(kbc2.regs.q_count, 0);
	ck_assert_uint_eq(kbc2.regs.pending_cmd, 0);
	ck_assert_uint_eq(kbc2.regs.outport, 0x03);
	destroy_kbc2();
}

START_TEST(test_restore_refuses_corrupt)
{
	static const struct { unsigned off; uint8_t v; } bad[] = {
		{ REC_PENDING, 0x20 },		/* a command that takes no data byte */
		{ REC_PENDING, 0xfe },
		{ REC_Q_COUNT, I8042_QUEUE + 1 },
		{ REC_Q_HEAD, I8042_QUEUE },
		{ REC_Q_AUX + 5, 2 },		/* not a boolean */
		{ REC_STATUS, ST_SYS | ST_CMD },	/* OBF clear with bytes queued */
		{ REC_STATUS, 0x02 | ST_OBF },	/* input buffer never full */
		{ REC_STATUS, ST_AUX_OBF | ST_OBF },	/* the head byte is the keyboard's */
	};
	struct state_writer w;
	uint8_t rec[REC_LEN + 1];
	struct state_reader r;

	make_busy();
	save(&kbc, &w);
	for (size_t len = 0; len < w.len; len++)
		assert_refused(w.data, len);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rec, w.data, w.len);
		rec[bad[i].off] = bad[i].v;
		assert_refused(rec, w.len);
	}
	memcpy(rec, w.data, w.len);
	rec[REC_LEN] = 0;
	assert_refused(rec, REC_LEN + 1);
	init_kbc2();
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(i8042_restore(&kbc2, &r, 2), -EINVAL);
	ck_assert_uint_eq(kbc2.regs.q_count, 0);
	destroy_kbc2();
	/* Every command that waits for data is a valid pending one. */
	for (unsigned c = 0; c < 4; c++) {
		static const uint8_t ok[] = { 0x60, 0xd1, 0xd2, 0xd4 };

		memcpy(rec, w.data, w.len);
		rec[REC_PENDING] = ok[c];
		init_kbc2();
		ck_assert_int_eq(device_restore_one(&i8042_device_ops, &kbc2, rec, w.len), 0);
		destroy_kbc2();
	}
	state_writer_free(&w);
}
END_TEST

START_TEST(test_reset_and_ops)
{
	struct state_writer w0, w1;
	struct i8042 *k;

	save(&kbc, &w0);
	make_busy();
	i8042_device_ops.reset(&kbc);
	ck_assert_int_eq(kbd_irq.level, 0);
	ck_assert(!(status() & ST_OBF));
	save(&kbc, &w1);
	ck_assert_uint_eq(w1.len, w0.len);
	ck_assert_mem_eq(w1.data, w0.data, w0.len);
	state_writer_free(&w0);
	state_writer_free(&w1);

	ck_assert_str_eq(i8042_device_ops.kind, "i8042");
	ck_assert_uint_eq(i8042_device_ops.state_version, 1);
	k = calloc(1, sizeof(*k));
	ck_assert_ptr_nonnull(k);
	i8042_init(k, &stop, (struct irq_line){ 0 }, (struct irq_line){ 0 });
	i8042_device_ops.destroy(k);	/* frees it: AddressSanitizer checks */
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

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_save_restore_round_trip);
	tcase_add_test(tc, test_restore_aux_byte);
	tcase_add_test(tc, test_restore_refuses_corrupt);
	tcase_add_test(tc, test_reset_and_ops);
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
