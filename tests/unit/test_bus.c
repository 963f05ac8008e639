/* Unit tests for the PIO/MMIO bus: registration, lookup and dispatch. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/bus.h"

/* ---- a recording device ---- */

struct dev {
	unsigned id;
	unsigned calls;
	uint64_t last_offset;
	uint32_t last_len;
	bool last_write;
	uint8_t last_data[8];
};

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct dev *d = opaque;

	d->calls++;
	d->last_offset = offset;
	d->last_len = len;
	d->last_write = is_write;
	if (is_write) {
		memcpy(d->last_data, data, len);
	} else {
		/* Reads return the device id in every byte, so callers can tell devices apart. */
		memset(data, (int)(d->id & 0xff), len);
	}
}

static void other_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
	(void)is_write;
}

static struct bus bus;

static void setup(void)
{
	bus_init(&bus, "test");
}

static void teardown(void)
{
	bus_destroy(&bus);
}

/* ---- registration ---- */

START_TEST(test_init_empty)
{
	uint8_t d[4] = { 0, 0, 0, 0 };

	ck_assert_str_eq(bus.name, "test");
	ck_assert_uint_eq(bus.nr, 0);
	ck_assert_ptr_null(bus_find(&bus, 0));
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX));
	ck_assert(!bus_dispatch(&bus, 0x3f8, d, 4, false));
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(d[i], 0xff);
}
END_TEST

START_TEST(test_register_and_find)
{
	struct dev a = { .id = 1 };
	const struct bus_range *r;

	ck_assert_int_eq(bus_register(&bus, 0x3f8, 8, dev_io, &a, "com1"), 0);
	ck_assert_uint_eq(bus.nr, 1);
	ck_assert_ptr_null(bus_find(&bus, 0x3f7));
	r = bus_find(&bus, 0x3f8);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->base, 0x3f8);
	ck_assert_uint_eq(r->len, 8);
	ck_assert_ptr_eq(r->opaque, &a);
	ck_assert_str_eq(r->name, "com1");
	ck_assert_ptr_eq(bus_find(&bus, 0x3ff), r);
	ck_assert_ptr_null(bus_find(&bus, 0x400));
}
END_TEST

START_TEST(test_overlap_detection)
{
	struct dev a = { .id = 1 };

	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, dev_io, &a, "a"), 0);
	/* exact */
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, dev_io, &a, "x"), -EEXIST);
	/* partial at the start */
	ck_assert_int_eq(bus_register(&bus, 0xf8, 0x10, dev_io, &a, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0xff, 2, dev_io, &a, "x"), -EEXIST);
	/* partial at the end */
	ck_assert_int_eq(bus_register(&bus, 0x108, 0x10, dev_io, &a, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 1, dev_io, &a, "x"), -EEXIST);
	/* containing */
	ck_assert_int_eq(bus_register(&bus, 0x80, 0x100, dev_io, &a, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0, UINT64_MAX, dev_io, &a, "x"), -EEXIST);
	/* contained */
	ck_assert_int_eq(bus_register(&bus, 0x104, 4, dev_io, &a, "x"), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0x100, 1, dev_io, &a, "x"), -EEXIST);
	ck_assert_uint_eq(bus.nr, 1);
}
END_TEST

START_TEST(test_overlap_between_two)
{
	struct dev a = { .id = 1 };

	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, dev_io, &a, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x200, 0x10, dev_io, &a, "b"), 0);
	/* Fills the gap but touches b's first byte. */
	ck_assert_int_eq(bus_register(&bus, 0x110, 0xf1, dev_io, &a, "x"), -EEXIST);
	/* Touches a's last byte. */
	ck_assert_int_eq(bus_register(&bus, 0x10f, 0x10, dev_io, &a, "x"), -EEXIST);
	/* Spans both. */
	ck_assert_int_eq(bus_register(&bus, 0x50, 0x1000, dev_io, &a, "x"), -EEXIST);
	/* The exact gap is fine. */
	ck_assert_int_eq(bus_register(&bus, 0x110, 0xf0, dev_io, &a, "gap"), 0);
	ck_assert_uint_eq(bus.nr, 3);
}
END_TEST

START_TEST(test_adjacent_allowed)
{
	struct dev a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	uint8_t d;

	ck_assert_int_eq(bus_register(&bus, 0x60, 1, dev_io, &a, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x61, 1, dev_io, &b, "b"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x5f, 1, dev_io, &c, "c"), 0);
	ck_assert_uint_eq(bus.nr, 3);
	ck_assert(bus_dispatch(&bus, 0x5f, &d, 1, false));
	ck_assert_uint_eq(d, 3);
	ck_assert(bus_dispatch(&bus, 0x60, &d, 1, false));
	ck_assert_uint_eq(d, 1);
	ck_assert(bus_dispatch(&bus, 0x61, &d, 1, false));
	ck_assert_uint_eq(d, 2);
	ck_assert(!bus_dispatch(&bus, 0x62, &d, 1, false));
	ck_assert(!bus_dispatch(&bus, 0x5e, &d, 1, false));
}
END_TEST

START_TEST(test_invalid_ranges)
{
	struct dev a = { .id = 1 };

	ck_assert_int_eq(bus_register(&bus, 0x100, 0, dev_io, &a, "zero"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 2, dev_io, &a, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 7, 9, dev_io, &a, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 2, UINT64_MAX, dev_io, &a, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 0x100, 4, NULL, &a, "nofn"), -EINVAL);
	ck_assert_uint_eq(bus.nr, 0);
}
END_TEST

START_TEST(test_top_of_address_space)
{
	struct dev a = { .id = 7 };
	uint8_t d[8];

	/* Ends exactly at the last address: no wrap. */
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX - 7, 8, dev_io, &a, "top"), 0);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, dev_io, &a, "x"), -EEXIST);
	ck_assert_ptr_nonnull(bus_find(&bus, UINT64_MAX));
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX - 8));
	ck_assert(bus_dispatch(&bus, UINT64_MAX - 7, d, 8, false));
	ck_assert_uint_eq(a.last_offset, 0);
	ck_assert(bus_dispatch(&bus, UINT64_MAX, d, 1, false));
	ck_assert_uint_eq(a.last_offset, 7);
	/* Would run past 2^64. */
	ck_assert(!bus_dispatch(&bus, UINT64_MAX - 1, d, 4, false));
	/* The lowest address works too. */
	ck_assert_int_eq(bus_register(&bus, 0, 1, dev_io, &a, "zero"), 0);
	ck_assert(bus_dispatch(&bus, 0, d, 1, false));
	ck_assert_uint_eq(a.last_offset, 0);
}
END_TEST

START_TEST(test_whole_space_minus_one)
{
	struct dev a = { .id = 1 }, b = { .id = 2 };

	/* [0, UINT64_MAX - 1] and the last byte are both representable. */
	ck_assert_int_eq(bus_register(&bus, 0, UINT64_MAX, dev_io, &a, "big"), 0);
	ck_assert_int_eq(bus_register(&bus, UINT64_MAX, 1, dev_io, &b, "last"), 0);
	ck_assert_ptr_eq(bus_find(&bus, UINT64_MAX - 1)->opaque, &a);
	ck_assert_ptr_eq(bus_find(&bus, UINT64_MAX)->opaque, &b);
	ck_assert_ptr_eq(bus_find(&bus, 0)->opaque, &a);
}
END_TEST

START_TEST(test_straddle_end_no_wrap)
{
	struct dev a = { .id = 1 };
	uint8_t d[8];

	ck_assert_int_eq(bus_register(&bus, 0, UINT64_MAX, dev_io, &a, "big"), 0);
	ck_assert(!bus_dispatch(&bus, UINT64_MAX - 3, d, 8, false));
	ck_assert_uint_eq(a.calls, 0);
}
END_TEST

/* ---- lookup across many ranges ---- */

#define MANY 1000

START_TEST(test_many_random_order)
{
	static struct dev devs[MANY];
	unsigned order[MANY];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (unsigned i = 0; i < MANY; i++) {
		devs[i] = (struct dev){ .id = i };
		order[i] = i;
	}
	/* Deterministic Fisher-Yates shuffle (xorshift). */
	for (unsigned i = MANY - 1; i > 0; i--) {
		unsigned j, t;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		j = (unsigned)(seed % (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Range i: base 0x1000 + i * 0x20, length 1..16, gaps in between. */
	for (unsigned k = 0; k < MANY; k++) {
		unsigned i = order[k];

		ck_assert_int_eq(bus_register(&bus, 0x1000 + i * 0x20ULL, 1 + i % 16, dev_io,
					      &devs[i], "many"), 0);
	}
	ck_assert_uint_eq(bus.nr, MANY);
	/* Sorted. */
	for (unsigned i = 1; i < bus.nr; i++)
		ck_assert_uint_lt(bus.ranges[i - 1].base, bus.ranges[i].base);

	/* Every range: first byte, last byte, one past the end, one before the start. */
	for (unsigned i = 0; i < MANY; i++) {
		uint64_t base = 0x1000 + i * 0x20ULL, len = 1 + i % 16;
		uint8_t d = 0;
		uint32_t v = 0xdeadbeef;

		ck_assert_ptr_eq(bus_find(&bus, base)->opaque, &devs[i]);
		ck_assert_ptr_eq(bus_find(&bus, base + len - 1)->opaque, &devs[i]);
		ck_assert_ptr_null(bus_find(&bus, base + len));
		ck_assert_ptr_null(bus_find(&bus, base - 1));

		ck_assert(bus_dispatch(&bus, base + len - 1, &d, 1, false));
		ck_assert_uint_eq(d, i & 0xff);
		ck_assert_uint_eq(devs[i].last_offset, len - 1);
		ck_assert_uint_eq(devs[i].last_len, 1);
		ck_assert(!devs[i].last_write);

		ck_assert(bus_dispatch(&bus, base, (uint8_t *)&v, 1, true));
		ck_assert(devs[i].last_write);
		ck_assert_uint_eq(devs[i].last_offset, 0);
		ck_assert_uint_eq(devs[i].last_data[0], 0xef);
		ck_assert_uint_eq(devs[i].calls, 2);
	}
	/* Re-registering any of them fails, registering in the gaps works. */
	ck_assert_int_eq(bus_register(&bus, 0x1000 + 500 * 0x20ULL + 3, 1, other_io, NULL, "x"),
			 -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0x1000 + 500 * 0x20ULL + 0x10, 0x10, other_io, NULL,
				      "x"), 0);
	ck_assert_ptr_null(bus_find(&bus, 0xfff));
	ck_assert_ptr_null(bus_find(&bus, 0x1000 + MANY * 0x20ULL));
}
END_TEST

/* ---- dispatch ---- */

START_TEST(test_dispatch_offset_and_data)
{
	struct dev a = { .id = 0x11 };
	uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t r[8];

	ck_assert_int_eq(bus_register(&bus, 0xfee00000, 0x1000, dev_io, &a, "lapic"), 0);
	ck_assert(bus_dispatch(&bus, 0xfee00300, w, 8, true));
	ck_assert_uint_eq(a.last_offset, 0x300);
	ck_assert_uint_eq(a.last_len, 8);
	ck_assert(a.last_write);
	ck_assert_mem_eq(a.last_data, w, 8);

	memset(r, 0, sizeof(r));
	ck_assert(bus_dispatch(&bus, 0xfee00ffc, r, 4, false));
	ck_assert_uint_eq(a.last_offset, 0xffc);
	ck_assert_uint_eq(r[0], 0x11);
	ck_assert_uint_eq(r[3], 0x11);
	ck_assert_uint_eq(r[4], 0);	/* only len bytes touched */
	ck_assert_uint_eq(a.calls, 2);
}
END_TEST

START_TEST(test_unclaimed_read_all_ones)
{
	struct dev a = { .id = 0 };
	uint8_t d[9];

	ck_assert_int_eq(bus_register(&bus, 0x70, 2, dev_io, &a, "rtc"), 0);
	for (uint32_t len = 1; len <= 8; len++) {
		memset(d, 0x5a, sizeof(d));
		ck_assert(!bus_dispatch(&bus, 0x80, d, len, false));
		for (uint32_t i = 0; i < len; i++)
			ck_assert_uint_eq(d[i], 0xff);
		ck_assert_uint_eq(d[len], 0x5a);	/* nothing past len */
	}
	/* An unclaimed write leaves the buffer alone. */
	memset(d, 0x5a, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x80, d, 4, true));
	ck_assert_uint_eq(d[0], 0x5a);
	ck_assert_uint_eq(a.calls, 0);
}
END_TEST

START_TEST(test_straddling_access_unclaimed)
{
	struct dev a = { .id = 0x22 };
	uint8_t d[8];

	ck_assert_int_eq(bus_register(&bus, 0x1000, 8, dev_io, &a, "dev"), 0);
	ck_assert(bus_dispatch(&bus, 0x1004, d, 4, false));	/* ends exactly at the end */
	ck_assert_uint_eq(a.calls, 1);
	memset(d, 0, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x1005, d, 4, false));
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert_uint_eq(d[3], 0xff);
	ck_assert(!bus_dispatch(&bus, 0x1007, d, 2, true));
	ck_assert(!bus_dispatch(&bus, 0x1001, d, 8, false));
	/* Starting before the range is unclaimed even if it reaches into it. */
	ck_assert(!bus_dispatch(&bus, 0xffe, d, 4, false));
	ck_assert_uint_eq(a.calls, 1);
}
END_TEST

START_TEST(test_bad_lengths_unclaimed)
{
	struct dev a = { .id = 0x33 };
	uint8_t d[16];

	ck_assert_int_eq(bus_register(&bus, 0x2000, 0x100, dev_io, &a, "dev"), 0);
	memset(d, 0x5a, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x2000, d, 0, false));
	ck_assert(!bus_dispatch(&bus, 0x2000, d, 0, true));
	ck_assert_uint_eq(d[0], 0x5a);
	ck_assert(!bus_dispatch(&bus, 0x2000, d, 9, false));
	ck_assert(!bus_dispatch(&bus, 0x2000, d, 16, true));
	ck_assert(!bus_dispatch(&bus, 0x2000, d, UINT32_MAX, false));
	ck_assert_uint_eq(a.calls, 0);
	/* len > 8 must not have filled more than the 8-byte contract allows. */
	ck_assert_uint_eq(d[9], 0x5a);
}
END_TEST

START_TEST(test_destroy_and_reuse)
{
	struct dev a = { .id = 1 };

	for (unsigned i = 0; i < 40; i++)
		ck_assert_int_eq(bus_register(&bus, i * 2ULL, 1, dev_io, &a, "x"), 0);
	bus_destroy(&bus);
	ck_assert_uint_eq(bus.nr, 0);
	ck_assert_ptr_null(bus.ranges);
	ck_assert_ptr_null(bus_find(&bus, 0));
	ck_assert_int_eq(bus_register(&bus, 0, 1, dev_io, &a, "x"), 0);
	ck_assert_ptr_nonnull(bus_find(&bus, 0));
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_empty);
	tcase_add_test(tc, test_register_and_find);
	tcase_add_test(tc, test_overlap_detection);
	tcase_add_test(tc, test_overlap_between_two);
	tcase_add_test(tc, test_adjacent_allowed);
	tcase_add_test(tc, test_invalid_ranges);
	tcase_add_test(tc, test_top_of_address_space);
	tcase_add_test(tc, test_whole_space_minus_one);
	tcase_add_test(tc, test_straddle_end_no_wrap);
	tcase_add_test(tc, test_many_random_order);
	tcase_add_test(tc, test_dispatch_offset_and_data);
	tcase_add_test(tc, test_unclaimed_read_all_ones);
	tcase_add_test(tc, test_straddling_access_unclaimed);
	tcase_add_test(tc, test_bad_lengths_unclaimed);
	tcase_add_test(tc, test_destroy_and_reuse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bus_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
