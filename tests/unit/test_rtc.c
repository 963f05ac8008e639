/* The MC146818 model: time from the host clock in BCD or binary, 12/24 h, setting it, CMOS RAM. */
#include <check.h>
#include <string.h>

#include "kvmrun/devices.h"

/* 2026-11-25 21:07:09 UTC, a Wednesday. */
#define FIXED_NOW 1795640829LL
static int64_t now_value = FIXED_NOW;
static int64_t fake_now(void) { return now_value; }

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
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
