/* The ACPI PM1a register block: save/restore, reset and its registry ops. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"
#include "kvmrun/stop.h"

/* The record's layout (state_version 1): three little-endian u16. */
enum { REC_STS = 0, REC_EN = 2, REC_CNT = 4, REC_LEN = 6 };

#define SCI_EN		0x0001
#define SLP_EN		0x2000

static struct vm_stop stop, stop2;
static struct acpi_pm pm, pm2;

static void setup(void)
{
	ck_assert_int_eq(vm_stop_init(&stop), 0);
	ck_assert_int_eq(vm_stop_init(&stop2), 0);
	acpi_pm_init(&pm, &stop);
	acpi_pm_init(&pm2, &stop2);
}

static void teardown(void)
{
	acpi_pm_destroy(&pm);
	acpi_pm_destroy(&pm2);
	vm_stop_destroy(&stop);
	vm_stop_destroy(&stop2);
}

static uint16_t rd16(struct acpi_pm *p, unsigned off)
{
	uint8_t d[2];

	acpi_pm_io(p, off, d, 2, false);
	return (uint16_t)(d[0] | d[1] << 8);
}

static void wr16(struct acpi_pm *p, unsigned off, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	acpi_pm_io(p, off, d, 2, true);
}

static void save(struct acpi_pm *p, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(device_save_one(&acpi_pm_device_ops, p, w), 0);
}

/* Enable bits set, a sleep type written without SLP_EN, status bits pending. */
static void make_busy(void)
{
	wr16(&pm, 2, 0x0321);
	wr16(&pm, 4, 5 << 10);
	pm.regs.pm1_sts = 0x8101;	/* no guest path sets status bits yet */
}

/* Every byte of the block, a write-1-to-clear, every byte again, into log. */
static unsigned run_script(struct acpi_pm *p, struct vm_stop *st, uint8_t *log)
{
	unsigned n = 0;

	for (unsigned off = 0; off < ACPI_PM_LEN; off++)
		acpi_pm_io(p, off, &log[n++], 1, false);
	wr16(p, 0, 0x0100);
	wr16(p, 2, 0x0001);
	for (unsigned off = 0; off < ACPI_PM_LEN; off += 2) {
		uint16_t v = rd16(p, off);

		log[n++] = (uint8_t)v;
		log[n++] = (uint8_t)(v >> 8);
	}
	wr16(p, 4, (uint16_t)(rd16(p, 4) | SLP_EN));	/* the saved S5 type, now enabled */
	log[n++] = vm_stop_requested(st);
	log[n++] = (uint8_t)st->reason;
	return n;
}

START_TEST(save_restore_round_trip)
{
	struct state_writer w1, w2;
	uint8_t log1[32], log2[32];
	unsigned n1, n2;

	make_busy();
	save(&pm, &w1);
	ck_assert_uint_eq(w1.len, REC_LEN);
	ck_assert_uint_eq(w1.data[REC_EN], 0x21);
	ck_assert_uint_eq(w1.data[REC_EN + 1], 0x03);
	ck_assert_int_eq(device_restore_one(&acpi_pm_device_ops, &pm2, w1.data, w1.len), 0);
	save(&pm2, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);

	n1 = run_script(&pm, &stop, log1);
	n2 = run_script(&pm2, &stop2, log2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(log1, log2, n1);
	ck_assert_uint_eq(log1[0], 0x01);	/* status came across */
	ck_assert_uint_eq(log1[n1 - 1], STOP_POWEROFF);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

static void assert_refused(const uint8_t *rec, size_t len)
{
	wr16(&pm2, 2, 0xffff);
	ck_assert_int_eq(device_restore_one(&acpi_pm_device_ops, &pm2, rec, len), -EINVAL);
	/* Left at power-on. */
	ck_assert_uint_eq(rd16(&pm2, 0), 0);
	ck_assert_uint_eq(rd16(&pm2, 2), 0);
	ck_assert_uint_eq(rd16(&pm2, 4), SCI_EN);
}

START_TEST(restore_refuses_corrupt)
{
	struct state_writer w;
	uint8_t rec[REC_LEN + 1];
	struct state_reader r;

	make_busy();
	save(&pm, &w);
	for (size_t len = 0; len < w.len; len++)
		assert_refused(w.data, len);
	memcpy(rec, w.data, w.len);
	rec[REC_CNT] &= (uint8_t)~SCI_EN;	/* SCI_EN always reads set */
	assert_refused(rec, w.len);
	memcpy(rec, w.data, w.len);
	rec[REC_CNT + 1] |= SLP_EN >> 8;	/* SLP_EN is write-only */
	assert_refused(rec, w.len);
	memcpy(rec, w.data, w.len);
	rec[REC_LEN] = 0;
	assert_refused(rec, REC_LEN + 1);
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(acpi_pm_restore(&pm2, &r, 2), -EINVAL);
	ck_assert_uint_eq(rd16(&pm2, 2), 0);
	state_writer_free(&w);
}
END_TEST

START_TEST(reset_and_ops)
{
	struct acpi_pm *p;

	make_busy();
	acpi_pm_device_ops.reset(&pm);
	ck_assert_uint_eq(rd16(&pm, 0), 0);
	ck_assert_uint_eq(rd16(&pm, 2), 0);
	ck_assert_uint_eq(rd16(&pm, 4), SCI_EN);
	ck_assert(!vm_stop_requested(&stop));

	ck_assert_str_eq(acpi_pm_device_ops.kind, "acpi-pm");
	ck_assert_uint_eq(acpi_pm_device_ops.state_version, 1);
	p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	acpi_pm_init(p, &stop);
	acpi_pm_device_ops.destroy(p);	/* frees it: AddressSanitizer checks */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi_pm");
	TCase *tc = tcase_create("state");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, save_restore_round_trip);
	tcase_add_test(tc, restore_refuses_corrupt);
	tcase_add_test(tc, reset_and_ops);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
