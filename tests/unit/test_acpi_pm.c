/* The ACPI PM1a register block: save/restore, reset and its registry ops. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"
#include "kvmrun/stop.h"

/* The record's layout (state_version 1 to 3): three little-endian u16. */
enum { REC_STS = 0, REC_EN = 2, REC_CNT = 4, REC_LEN = 6 };

#define SCI_EN		0x0001
#define SLP_EN		0x2000

static struct vm_stop stop, stop2;
static struct acpi_pm pm, pm2;

/* The SCI lines of pm and pm2: last level set, and how often. */
static int sci_level[2], sci_sets[2];

static void sci_set(void *opaque, unsigned gsi, int level)
{
	int *which = opaque;

	ck_assert_uint_eq(gsi, ACPI_SCI_IRQ);
	sci_level[*which] = level;
	sci_sets[*which]++;
}

static int idx[2] = { 0, 1 };

static void setup(void)
{
	ck_assert_int_eq(vm_stop_init(&stop), 0);
	ck_assert_int_eq(vm_stop_init(&stop2), 0);
	acpi_pm_init(&pm, &stop);
	acpi_pm_init(&pm2, &stop2);
	sci_level[0] = sci_level[1] = -1;
	acpi_pm_set_sci(&pm, (struct irq_line){ sci_set, &idx[0], ACPI_SCI_IRQ });
	acpi_pm_set_sci(&pm2, (struct irq_line){ sci_set, &idx[1], ACPI_SCI_IRQ });
	ck_assert_int_eq(sci_level[0], 0);
	ck_assert_int_eq(sci_level[1], 0);
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
	acpi_pm_power_button(&pm);	/* PWRBTN_STS, with PWRBTN_EN: the SCI is up */
	pm.regs.pm1_sts |= 0x8000;	/* WAK_STS: no path sets it, old records may */
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
	ck_assert_int_eq(sci_level[0], 1);
	ck_assert_int_eq(device_restore_one(&acpi_pm_device_ops, &pm2, w1.data, w1.len), 0);
	ck_assert_int_eq(sci_level[1], 1);	/* restore drives the SCI */
	save(&pm2, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);

	n1 = run_script(&pm, &stop, log1);
	n2 = run_script(&pm2, &stop2, log2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(log1, log2, n1);
	ck_assert_uint_eq(log1[1], 0x81);	/* status came across */
	ck_assert_int_eq(sci_level[1], 0);	/* the script cleared PWRBTN_STS */
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
	memcpy(rec, w.data, w.len);
	rec[REC_STS] |= 0x01;		/* TMR_STS: never set by this device */
	assert_refused(rec, w.len);
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(acpi_pm_restore(&pm2, &r, 4), -EINVAL);
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
	ck_assert_int_eq(sci_level[0], 0);

	ck_assert_str_eq(acpi_pm_device_ops.kind, "acpi-pm");
	ck_assert_uint_eq(acpi_pm_device_ops.state_version, 3);
	p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	acpi_pm_init(p, &stop);
	acpi_pm_device_ops.destroy(p);	/* frees it: AddressSanitizer checks */
}
END_TEST

/* The fixed power button: status without enable, enable raises the SCI, write-1 clears. */
START_TEST(power_button)
{
	acpi_pm_power_button(&pm);
	ck_assert_uint_eq(rd16(&pm, 0), ACPI_PM1_PWRBTN);
	ck_assert_int_eq(sci_level[0], 0);		/* PWRBTN_EN clear */
	wr16(&pm, 2, ACPI_PM1_PWRBTN);
	ck_assert_int_eq(sci_level[0], 1);
	wr16(&pm, 0, 0x8001);				/* other bits: nothing cleared */
	ck_assert_int_eq(sci_level[0], 1);
	wr16(&pm, 0, ACPI_PM1_PWRBTN);
	ck_assert_uint_eq(rd16(&pm, 0), 0);
	ck_assert_int_eq(sci_level[0], 0);
	acpi_pm_power_button(&pm);			/* enabled: at once */
	ck_assert_int_eq(sci_level[0], 1);
	wr16(&pm, 2, 0);				/* disabling lowers it, status stays */
	ck_assert_int_eq(sci_level[0], 0);
	ck_assert_uint_eq(rd16(&pm, 0), ACPI_PM1_PWRBTN);
	ck_assert(!vm_stop_requested(&stop));		/* the guest decides what to do */
}
END_TEST

/* A version-1 record (no power button then) still loads, any status bits included. */
START_TEST(version_1_record_loads)
{
	const uint8_t rec[REC_LEN] = { 0x01, 0x80, 0x21, 0x01, SCI_EN, 0x14 };
	struct state_reader r;

	state_reader_init(&r, rec, sizeof(rec));
	ck_assert_int_eq(acpi_pm_restore(&pm2, &r, 1), 0);
	ck_assert_uint_eq(rd16(&pm2, 0), 0x8001);
	ck_assert_uint_eq(rd16(&pm2, 2), 0x0121);
	ck_assert_uint_eq(rd16(&pm2, 4), 0x1401);
	ck_assert_int_eq(sci_level[1], 0);
	acpi_pm_power_button(&pm2);
	ck_assert_int_eq(sci_level[1], 1);
}
END_TEST

static unsigned sleeps;

static void on_sleep(void *opaque)
{
	ck_assert_ptr_eq(opaque, &pm);
	sleeps++;
}

/* SLP_TYP 1 (\_S3) with SLP_EN asks the VM to sleep; without a handler it does nothing. */
START_TEST(s3_sleep)
{
	sleeps = 0;
	wr16(&pm, 4, (ACPI_S3_TYPE << 10) | SLP_EN);
	ck_assert_uint_eq(sleeps, 0);
	acpi_pm_set_sleep(&pm, on_sleep, &pm);
	wr16(&pm, 4, ACPI_S3_TYPE << 10);		/* no SLP_EN: no sleep */
	ck_assert_uint_eq(sleeps, 0);
	wr16(&pm, 4, (ACPI_S3_TYPE << 10) | SLP_EN);
	ck_assert_uint_eq(sleeps, 1);
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(rd16(&pm, 4), (ACPI_S3_TYPE << 10) | SCI_EN);	/* SLP_EN reads 0 */
	wr16(&pm, 4, (ACPI_S5_TYPE << 10) | SLP_EN);	/* S5 still powers off */
	ck_assert_uint_eq(sleeps, 1);
	ck_assert(vm_stop_requested(&stop));
}
END_TEST

/* The RTC alarm: RTC_STS always, the SCI and a wake only with RTC_EN; WAK_STS after a wake. */
START_TEST(rtc_alarm_and_wake)
{
	struct state_writer w;
	struct state_reader r;

	ck_assert(!acpi_pm_rtc_alarm(&pm));
	ck_assert_uint_eq(rd16(&pm, 0), ACPI_PM1_RTC);
	ck_assert_int_eq(sci_level[0], 0);
	wr16(&pm, 2, ACPI_PM1_RTC);
	ck_assert_int_eq(sci_level[0], 1);
	ck_assert(acpi_pm_rtc_alarm(&pm));
	acpi_pm_woke(&pm);
	ck_assert_uint_eq(rd16(&pm, 0), ACPI_PM1_RTC | ACPI_PM1_WAK);
	wr16(&pm, 0, ACPI_PM1_RTC | ACPI_PM1_WAK);
	ck_assert_uint_eq(rd16(&pm, 0), 0);
	ck_assert_int_eq(sci_level[0], 0);
	/* RTC_STS goes across a save; a version-2 record cannot hold it. */
	acpi_pm_rtc_alarm(&pm);
	save(&pm, &w);
	ck_assert_int_eq(device_restore_one(&acpi_pm_device_ops, &pm2, w.data, w.len), 0);
	ck_assert_uint_eq(rd16(&pm2, 0), ACPI_PM1_RTC);
	ck_assert_int_eq(sci_level[1], 1);
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(acpi_pm_restore(&pm2, &r, 2), -EINVAL);
	state_writer_free(&w);
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
	tcase_add_test(tc, power_button);
	tcase_add_test(tc, version_1_record_loads);
	tcase_add_test(tc, s3_sleep);
	tcase_add_test(tc, rtc_alarm_and_wake);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
