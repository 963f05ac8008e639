/*
 * The stateless ports (debug-exit, POST) as registry devices, and every
 * platform device together in one device list: saved, restored into a
 * second machine, reset and destroyed through the ops alone.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/devices.h"
#include "kvmrun/stop.h"

static struct vm_stop stop;

static void setup(void)
{
	ck_assert_int_eq(vm_stop_init(&stop), 0);
}

static void teardown(void)
{
	vm_stop_destroy(&stop);
}

START_TEST(debug_exit_init_and_io)
{
	struct debug_exit d;
	uint8_t v = 0x07;

	memset(&d, 0xa5, sizeof(d));
	debug_exit_init(&d, &stop);
	ck_assert_ptr_eq(d.stop, &stop);
	debug_exit_io(&d, 0, &v, 1, true);
	ck_assert_int_eq(stop.reason, STOP_DEBUG_EXIT);
	ck_assert_int_eq(stop.status, 0x0f);
}
END_TEST

/* An empty record round-trips; a byte in it or an unknown version does not. */
static void check_empty_record(const struct vm_device_ops *ops, void *dev, const char *kind)
{
	const uint8_t junk = 0;
	struct state_writer w;
	struct state_reader r;

	ck_assert_str_eq(ops->kind, kind);
	ck_assert_uint_eq(ops->state_version, 1);
	ck_assert_ptr_null(ops->reset);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(ops, dev, &w), 0);
	ck_assert_uint_eq(w.len, 0);
	ck_assert_int_eq(device_restore_one(ops, dev, w.data, w.len), 0);
	ck_assert_int_eq(device_restore_one(ops, dev, &junk, 1), -EINVAL);
	state_reader_init(&r, NULL, 0);
	ck_assert_int_eq(ops->restore(dev, &r, 2), -EINVAL);
	state_reader_init(&r, NULL, 0);
	ck_assert_int_eq(ops->restore(dev, &r, 0), -EINVAL);
	state_writer_free(&w);
}

START_TEST(stateless_records)
{
	struct debug_exit *d = calloc(1, sizeof(*d));
	struct post_port *p = calloc(1, sizeof(*p));
	uint8_t b[2] = { 0, 0 };

	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(p);
	debug_exit_init(d, &stop);
	check_empty_record(&debug_exit_device_ops, d, "debug-exit");
	check_empty_record(&post_port_device_ops, p, "post-port");
	ignore_io(p, 0, b, 2, false);
	ck_assert_uint_eq(b[0], 0xff);
	ck_assert_uint_eq(b[1], 0xff);
	ck_assert(!vm_stop_requested(&stop));
	debug_exit_device_ops.destroy(d);	/* both free: AddressSanitizer checks */
	post_port_device_ops.destroy(p);
}
END_TEST

/* ---- every platform device in one list ---- */

static int64_t fixed_now(void)
{
	return 1795640829LL * 1000000000LL;
}

struct machine {
	struct device_list list;
	struct serial8250 *uart;
	struct i8042 *kbc;
	struct rtc_cmos *rtc;
	struct acpi_pm *pm;
	struct out_sink out;		/* the UART's output: the machine's, not the UART's */
};

static void machine_build(struct machine *m)
{
	struct debug_exit *d;

	device_list_init(&m->list);
	ck_assert_int_eq(out_sink_init(&m->out, -1, SINK_CAPACITY, "test"), 0);
	m->uart = calloc(1, sizeof(*m->uart));
	m->kbc = calloc(1, sizeof(*m->kbc));
	m->rtc = calloc(1, sizeof(*m->rtc));
	m->pm = calloc(1, sizeof(*m->pm));
	d = calloc(1, sizeof(*d));
	ck_assert(m->uart && m->kbc && m->rtc && m->pm && d);
	serial8250_init(m->uart, &m->out, (struct irq_line){ 0 }, NULL, NULL);
	i8042_init(m->kbc, &stop, (struct irq_line){ 0 }, (struct irq_line){ 0 });
	rtc_cmos_init(m->rtc, fixed_now);
	acpi_pm_init(m->pm, &stop);
	debug_exit_init(d, &stop);
	ck_assert_int_eq(device_list_add(&m->list, &serial8250_device_ops, m->uart, "serial0"), 0);
	ck_assert_int_eq(device_list_add(&m->list, &i8042_device_ops, m->kbc, "i8042"), 0);
	ck_assert_int_eq(device_list_add(&m->list, &rtc_cmos_device_ops, m->rtc, "rtc"), 0);
	ck_assert_int_eq(device_list_add(&m->list, &acpi_pm_device_ops, m->pm, "acpi-pm"), 0);
	ck_assert_int_eq(device_list_add(&m->list, &debug_exit_device_ops, d, "debug-exit"), 0);
	ck_assert_int_eq(device_list_add(&m->list, &post_port_device_ops,
					 calloc(1, sizeof(struct post_port)), "post"), 0);
}

/* Destroying the list frees every device; the output outlives them (the machine's). */
static void machine_destroy(struct machine *m)
{
	device_list_destroy(&m->list);
	out_sink_destroy(&m->out);
}

static void save_list(struct machine *m, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(device_list_save(&m->list, w), 0);
}

START_TEST(platform_list_round_trip)
{
	struct machine a, b;
	struct state_writer w1, w2, w0;
	struct state_reader r;
	uint8_t v;
	char err[128] = "";

	machine_build(&a);
	machine_build(&b);
	save_list(&b, &w0);		/* power-on */
	v = 'x';
	serial8250_rx_push(a.uart, &v, 1);
	v = 0xaa;
	i8042_cmd_io(a.kbc, 0, &v, 1, true);
	v = 0x41;
	rtc_cmos_io(a.rtc, 0, &v, 1, true);
	v = 0x99;
	rtc_cmos_io(a.rtc, 1, &v, 1, true);
	a.pm->regs.pm1_en = 0x0100;

	save_list(&a, &w1);
	state_reader_init(&r, w1.data, w1.len);
	ck_assert_int_eq(device_list_restore(&b.list, &r, err, sizeof(err)), 0);
	save_list(&b, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);
	ck_assert_uint_eq(b.uart->regs.rx_count, 1);
	ck_assert_uint_eq(b.kbc->regs.q_count, 1);
	ck_assert_uint_eq(b.rtc->regs.cmos[0x41], 0x99);

	/* A machine reset takes every device back to power-on, but for the RTC's RAM. */
	device_list_reset(&b.list);
	ck_assert_uint_eq(b.rtc->regs.cmos[0x41], 0x99);
	b.rtc->regs.cmos[0x41] = 0;
	state_writer_free(&w2);
	save_list(&b, &w2);
	ck_assert_uint_eq(w2.len, w0.len);
	ck_assert_mem_eq(w2.data, w0.data, w0.len);

	machine_destroy(&a);
	machine_destroy(&b);
	state_writer_free(&w0);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("debug_exit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, debug_exit_init_and_io);
	tcase_add_test(tc, stateless_records);
	tcase_add_test(tc, platform_list_round_trip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
