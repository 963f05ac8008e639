/*
 * The MC146818 model: time from the host clock in BCD or binary, 12/24 h,
 * setting it, CMOS RAM; UIP around the second's update, the alarm and
 * update-ended flags and IRQ 8; save/restore and reset.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

/* 2026-11-25 21:07:09 UTC, a Wednesday. */
#define FIXED_NOW 1795640829LL
static int64_t now_value = FIXED_NOW;
#define NS 1000000000LL
/* Nanoseconds into the second: half past by default, away from the update (UIP). */
static int64_t now_frac = NS / 2;
static int64_t fake_now(void) { return now_value * NS + now_frac; }

/* IRQ 8 as the irqchip sees it, and the re-arm requests. */
static int irq_level = -1;
static unsigned nr_changed;
static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	ck_assert_uint_eq(gsi, RTC_IRQ);
	irq_level = level;
}
static void on_changed(void *opaque)
{
	(void)opaque;
	nr_changed++;
}

static struct rtc_cmos rtc;

static uint8_t rd(uint8_t reg)
{
	uint8_t v = reg;

	rtc_cmos_io(&rtc, 0, &v, 1, true);
	rtc_cmos_io(&rtc, 1, &v, 1, false);
	return v;
}

static void wr(uint8_t reg, uint8_t val)
{
	rtc_cmos_io(&rtc, 0, &reg, 1, true);
	rtc_cmos_io(&rtc, 1, &val, 1, true);
}

static void setup(void)
{
	now_value = FIXED_NOW;
	now_frac = NS / 2;
	irq_level = -1;
	nr_changed = 0;
	rtc_cmos_init(&rtc, fake_now);
}

static void teardown(void)
{
	rtc_cmos_destroy(&rtc);
}

START_TEST(bcd_time)
{
	ck_assert_uint_eq(rd(0x00), 0x09);
	ck_assert_uint_eq(rd(0x02), 0x07);
	ck_assert_uint_eq(rd(0x04), 0x21);
	ck_assert_uint_eq(rd(0x06), 0x04);	/* Wednesday: day 4 counting Sunday as 1 */
	ck_assert_uint_eq(rd(0x07), 0x25);
	ck_assert_uint_eq(rd(0x08), 0x11);
	ck_assert_uint_eq(rd(0x09), 0x26);
	ck_assert_uint_eq(rd(0x32), 0x20);
	ck_assert_uint_eq(rd(0x0d) & 0x80, 0x80);	/* valid RAM and time */
	ck_assert_uint_eq(rd(0x0a) & 0x80, 0);		/* no update in progress */
	/* The NMI-mask bit of the index port does not change the register. */
	ck_assert_uint_eq(rd(0x80 | 0x09), 0x26);
	now_value += 60;
	ck_assert_uint_eq(rd(0x02), 0x08);
}
END_TEST

START_TEST(binary_and_12_hour)
{
	wr(0x0b, 0x04);				/* binary, 12-hour */
	ck_assert_uint_eq(rd(0x09), 26);
	ck_assert_uint_eq(rd(0x04), 0x80 | 9);	/* 21:07 is 9 PM */
	now_value -= 21 * 3600;			/* 00:07 is 12 AM */
	ck_assert_uint_eq(rd(0x04), 12);
}
END_TEST

START_TEST(guest_sets_the_clock)
{
	wr(0x0b, 0x82);				/* SET, 24 h, BCD */
	wr(0x09, 0x30);				/* 2030 */
	ck_assert_uint_eq(rd(0x09), 0x30);	/* frozen while SET */
	wr(0x0b, 0x02);
	ck_assert_uint_eq(rd(0x09), 0x30);
	ck_assert_uint_eq(rd(0x08), 0x11);
	now_value += 3600;			/* and it keeps running from there */
	ck_assert_uint_eq(rd(0x04), 0x22);
	ck_assert_uint_eq(rd(0x09), 0x30);
}
END_TEST

START_TEST(cmos_ram_and_read_only)
{
	wr(0x40, 0xa5);
	ck_assert_uint_eq(rd(0x40), 0xa5);
	wr(0x7f, 0x11);
	ck_assert_uint_eq(rd(0x7f), 0x11);
	wr(0x0d, 0x00);				/* read-only */
	ck_assert_uint_eq(rd(0x0d) & 0x80, 0x80);
	wr(0x0a, 0xa6);				/* UIP cannot be set */
	ck_assert_uint_eq(rd(0x0a), 0x26);
	ck_assert_uint_eq(rd(0x0c), 0);
	{
		uint8_t v = 0;

		rtc_cmos_io(&rtc, 0, &v, 1, false);	/* the index port reads all-ones */
		ck_assert_uint_eq(v, 0xff);
	}
}
END_TEST

/* ---- the update cycle and the interrupts ---- */

static bool uip(void)
{
	return rd(0x0a) & 0x80;
}

START_TEST(update_in_progress)
{
	now_frac = NS - 244000;		/* 244 us before the update */
	ck_assert(uip());
	now_frac = NS - 244001;
	ck_assert(!uip());
	now_value++;			/* the update, and the 1984 us it takes */
	now_frac = 0;
	ck_assert(uip());
	now_frac = 1983999;
	ck_assert(uip());
	now_frac = 1984000;
	ck_assert(!uip());
	now_frac = 0;
	wr(0x0b, 0x82);			/* SET holds the updates */
	ck_assert(!uip());
	wr(0x0b, 0x02);
	ck_assert(uip());
	wr(0x0a, 0x06);			/* divider stopped */
	ck_assert(!uip());
	ck_assert_uint_eq(rd(0x0a), 0x06);
	wr(0x0a, 0x26);
	ck_assert(uip());
	/* The time registers show the new second from the update on. */
	ck_assert_uint_eq(rd(0x00), 0x10);
}
END_TEST

START_TEST(alarm_flags_and_irq)
{
	rtc_cmos_connect(&rtc, (struct irq_line){ irq_set, NULL, RTC_IRQ }, on_changed, NULL);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), INT64_MAX);	/* nothing enabled */
	wr(0x01, 0x12);			/* 21:07:12, three seconds from now */
	wr(0x03, 0x07);
	wr(0x05, 0x21);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), INT64_MAX);	/* AIE is off */
	wr(0x0b, 0x22);			/* AIE, 24 h, BCD */
	ck_assert_uint_ge(nr_changed, 4);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 3) * NS);
	now_value += 2;
	ck_assert(!rtc_cmos_tick(&rtc));
	ck_assert_int_eq(irq_level, 0);			/* UF alone, UIE off */
	now_value += 1;
	ck_assert(rtc_cmos_tick(&rtc));
	ck_assert_int_eq(irq_level, 1);
	ck_assert(!rtc_cmos_tick(&rtc));		/* once */
	ck_assert_uint_eq(rd(0x0c), 0xb0);		/* IRQF, AF, UF */
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(rd(0x0c), 0);
	/* Tomorrow's, now. */
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 3 + 86400) * NS);
	/* A guest reading C later sees the alarm it slept through, without a tick. */
	now_value += 86400;
	ck_assert_uint_eq(rd(0x0c), 0xb0);
}
END_TEST

START_TEST(alarm_dont_care_and_12_hour)
{
	rtc_cmos_connect(&rtc, (struct irq_line){ irq_set, NULL, RTC_IRQ }, on_changed, NULL);
	/* kvm-unit-tests' s3: every field "don't care" is every second. */
	wr(0x01, 0xc0);
	wr(0x03, 0xc0);
	wr(0x05, 0xc0);
	wr(0x0b, 0x22);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 1) * NS);
	/* 12-hour BCD: 9 PM is 0x89. */
	wr(0x0b, 0x20);
	wr(0x01, 0x12);
	wr(0x03, 0x07);
	wr(0x05, 0x89);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 3) * NS);
	wr(0x05, 0x09);			/* 9 AM: tomorrow morning, 12 hours less 3 s */
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 3 + 12 * 3600) * NS);
	wr(0x01, 0x60);			/* second 60 never comes */
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), INT64_MAX);
	/* The guest moved its clock: the alarm follows the guest's time. */
	wr(0x01, 0x00);
	wr(0x03, 0x00);
	wr(0x05, 0xc0);
	wr(0x0b, 0xa2);			/* SET: no updates, no events */
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), INT64_MAX);
	wr(0x02, 0x59);			/* 21:59:09 */
	wr(0x0b, 0x22);
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 51) * NS);
}
END_TEST

START_TEST(update_interrupt)
{
	rtc_cmos_connect(&rtc, (struct irq_line){ irq_set, NULL, RTC_IRQ }, on_changed, NULL);
	wr(0x0b, 0x12);			/* UIE */
	ck_assert_int_eq(rtc_cmos_next_event(&rtc), (FIXED_NOW + 1) * NS);
	ck_assert(!rtc_cmos_tick(&rtc));
	ck_assert_int_eq(irq_level, 0);		/* no second went by */
	now_value++;
	ck_assert(!rtc_cmos_tick(&rtc));	/* no alarm, an update */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(0x0c), 0x90);
	ck_assert_int_eq(irq_level, 0);
	/* A flag already in C raises the line as soon as its enable is set. */
	wr(0x0b, 0x02);
	now_value++;
	ck_assert(!rtc_cmos_tick(&rtc));
	ck_assert_int_eq(irq_level, 0);
	wr(0x0b, 0x12);
	ck_assert_int_eq(irq_level, 1);
}
END_TEST

/* ---- save, restore, reset ---- */

/* The record's layout (state_version 2), byte offsets; version 1 ended at REC_FLAGS. */
enum {
	REC_INDEX = 0, REC_CMOS, REC_OFFSET = REC_CMOS + CMOS_SIZE, REC_FLAGS = REC_OFFSET + 8,
	REC_LEN = REC_FLAGS + 8
};

static struct rtc_cmos rtc2;

static void save(struct rtc_cmos *c, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(device_save_one(&rtc_cmos_device_ops, c, w), 0);
}

static uint8_t rd_on(struct rtc_cmos *c, uint8_t reg)
{
	uint8_t v = reg;

	rtc_cmos_io(c, 0, &v, 1, true);
	rtc_cmos_io(c, 1, &v, 1, false);
	return v;
}

/* The guest moved the clock to 2030, wrote NVRAM and left the index at 0x40. */
static void make_busy(void)
{
	wr(0x0b, 0x82);
	wr(0x09, 0x30);
	wr(0x0b, 0x02);
	wr(0x40, 0xa5);
	wr(0x7f, 0x11);
	wr(0x0b, 0x06);			/* binary from now on */
	{
		uint8_t idx = 0x80 | 0x40;	/* the NMI-mask bit is not kept */

		rtc_cmos_io(&rtc, 0, &idx, 1, true);
	}
}

/* Port 0x71 at the current index, then every clock register, into log. */
static unsigned run_script(struct rtc_cmos *c, uint8_t *log)
{
	static const uint8_t regs[] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32,
					0x0a, 0x0b, 0x0c, 0x0d, 0x40, 0x7f };
	unsigned n = 0;

	rtc_cmos_io(c, 1, &log[n++], 1, false);
	for (unsigned i = 0; i < sizeof(regs); i++)
		log[n++] = rd_on(c, regs[i]);
	return n;
}

START_TEST(save_restore_round_trip)
{
	struct state_writer w1, w2;
	uint8_t log1[32], log2[32];
	unsigned n1, n2;

	make_busy();
	save(&rtc, &w1);
	ck_assert_uint_eq(w1.len, REC_LEN);
	ck_assert_uint_eq(w1.data[REC_INDEX], 0x40);
	ck_assert_uint_eq(w1.data[REC_CMOS + 0x40], 0xa5);

	/* Restored later, on a host whose clock moved on: the guest's clock moved too. */
	now_value += 86400;
	rtc_cmos_init(&rtc2, fake_now);
	ck_assert_int_eq(device_restore_one(&rtc_cmos_device_ops, &rtc2, w1.data, w1.len), 0);
	save(&rtc2, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);

	n1 = run_script(&rtc, log1);
	n2 = run_script(&rtc2, log2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(log1, log2, n1);
	ck_assert_uint_eq(log1[0], 0xa5);	/* the index came across */
	ck_assert_uint_eq(rd_on(&rtc2, 0x09), 30);	/* 2030, binary */
	ck_assert_uint_eq(rd_on(&rtc2, 0x07), 26);	/* a day after the 25th */
	state_writer_free(&w1);
	state_writer_free(&w2);
	rtc_cmos_destroy(&rtc2);
}
END_TEST

static void put_offset(uint8_t *rec, int64_t v)
{
	for (unsigned b = 0; b < 8; b++)
		rec[REC_OFFSET + b] = (uint8_t)((uint64_t)v >> (8 * b));
}

static void assert_refused(const uint8_t *rec, size_t len)
{
	rtc_cmos_init(&rtc2, fake_now);
	rtc2.regs.cmos[0x40] = 0x77;
	ck_assert_int_eq(device_restore_one(&rtc_cmos_device_ops, &rtc2, rec, len), -EINVAL);
	/* Left at power-on. */
	ck_assert_uint_eq(rtc2.regs.cmos[0x40], 0);
	ck_assert_int_eq(rtc2.regs.offset, 0);
	ck_assert_uint_eq(rd_on(&rtc2, 0x0b), 0x02);
	rtc_cmos_destroy(&rtc2);
}

START_TEST(restore_refuses_corrupt)
{
	static const struct { unsigned off; uint8_t v; } bad[] = {
		{ REC_INDEX, CMOS_SIZE },
		{ REC_INDEX, 0xff },
		{ REC_CMOS + 0x0a, 0xa6 },	/* UIP is never stored */
		{ REC_CMOS + 0x0c, 0x40 },	/* no periodic interrupts */
		{ REC_CMOS + 0x0c, 0x01 },	/* C's low bits read 0 */
		{ REC_FLAGS + 7, 0x7f },	/* flags for a second 2^62 away */
		{ REC_CMOS + 0x0d, 0x00 },	/* RAM and time always valid */
	};
	struct state_writer w;
	uint8_t rec[REC_LEN + 1];
	struct state_reader r;

	make_busy();
	save(&rtc, &w);
	for (size_t len = 0; len < w.len; len++)
		assert_refused(w.data, len);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rec, w.data, w.len);
		rec[bad[i].off] = bad[i].v;
		assert_refused(rec, w.len);
	}
	/* An offset past any date the registers hold (and where host time would overflow). */
	memcpy(rec, w.data, w.len);
	put_offset(rec, INT64_MAX);
	assert_refused(rec, w.len);
	put_offset(rec, (INT64_C(1) << 40) + 1);
	assert_refused(rec, w.len);
	put_offset(rec, -(INT64_C(1) << 40) - 1);
	assert_refused(rec, w.len);
	put_offset(rec, -(INT64_C(1) << 40));
	rtc_cmos_init(&rtc2, fake_now);
	ck_assert_int_eq(device_restore_one(&rtc_cmos_device_ops, &rtc2, rec, w.len), 0);
	rtc_cmos_destroy(&rtc2);

	memcpy(rec, w.data, w.len);
	rec[REC_LEN] = 0;
	assert_refused(rec, REC_LEN + 1);
	rtc_cmos_init(&rtc2, fake_now);
	/* A version from the future. */
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(rtc_cmos_restore(&rtc2, &r, 3), -EINVAL);
	ck_assert_uint_eq(rtc2.regs.cmos[0x40], 0);
	rtc_cmos_destroy(&rtc2);
	state_writer_free(&w);
}
END_TEST

/* A version-1 record (before the flags) still restores; one with flags in C is corrupt. */
START_TEST(restore_version_1)
{
	struct state_writer w;
	struct state_reader r;

	make_busy();
	save(&rtc, &w);
	rtc_cmos_init(&rtc2, fake_now);
	state_reader_init(&r, w.data, REC_FLAGS);
	ck_assert_int_eq(rtc_cmos_restore(&rtc2, &r, 1), 0);
	ck_assert_uint_eq(rd_on(&rtc2, 0x40), 0xa5);
	ck_assert_uint_eq(rd_on(&rtc2, 0x09), 30);
	ck_assert_uint_eq(rd_on(&rtc2, 0x0c), 0);	/* no update since the restore */
	w.data[REC_CMOS + 0x0c] = 0x20;
	state_reader_init(&r, w.data, REC_FLAGS);
	ck_assert_int_eq(rtc_cmos_restore(&rtc2, &r, 1), -EINVAL);
	rtc_cmos_destroy(&rtc2);
	state_writer_free(&w);
}
END_TEST

START_TEST(reset_keeps_clock_and_ram)
{
	struct rtc_cmos *c;

	make_busy();
	wr(0x0b, 0x06 | 0x70);			/* periodic, alarm and update interrupts on */
	rtc_cmos_device_ops.reset(&rtc);
	ck_assert_uint_eq(rtc.regs.index, 0);
	ck_assert_uint_eq(rd(0x0b), 0x06);	/* the enables cleared, the format stays */
	ck_assert_uint_eq(rd(0x40), 0xa5);
	ck_assert_uint_eq(rd(0x7f), 0x11);
	ck_assert_uint_eq(rd(0x09), 30);	/* still 2030 */

	ck_assert_str_eq(rtc_cmos_device_ops.kind, "rtc-cmos");
	ck_assert_uint_eq(rtc_cmos_device_ops.state_version, 2);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	rtc_cmos_init(c, NULL);
	rtc_cmos_device_ops.destroy(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bcd_time);
	tcase_add_test(tc, binary_and_12_hour);
	tcase_add_test(tc, guest_sets_the_clock);
	tcase_add_test(tc, cmos_ram_and_read_only);
	suite_add_tcase(s, tc);
	tc = tcase_create("interrupts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, update_in_progress);
	tcase_add_test(tc, alarm_flags_and_irq);
	tcase_add_test(tc, alarm_dont_care_and_12_hour);
	tcase_add_test(tc, update_interrupt);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, save_restore_round_trip);
	tcase_add_test(tc, restore_refuses_corrupt);
	tcase_add_test(tc, restore_version_1);
	tcase_add_test(tc, reset_keeps_clock_and_ram);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
