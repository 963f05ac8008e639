/* Unit tests for guest memory: mappings, bounds checks, regions and the memory map. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void assert_map_sane(const struct mem_map_entry *map, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = map[i].addr, end = map[i].addr + map[i].size;

		ck_assert_uint_gt(map[i].size, 0);
		ck_assert_msg(map[i].type == E820_RAM || map[i].type == E820_RESERVED,
			      "entry %u has type %u", i, map[i].type);
		/* Nothing may claim the 32-bit MMIO hole. */
		ck_assert_msg(end <= MEM_HOLE_START || a >= MEM_HOLE_END,
			      "entry %u [0x%llx, 0x%llx) overlaps the hole", i,
			      (unsigned long long)a, (unsigned long long)end);
		/* Sorted and disjoint. */
		if (i)
			ck_assert_uint_le(map[i - 1].addr + map[i - 1].size, a);
	}
}

/* ---- init ---- */

START_TEST(test_init_small_anonymous)
{
	struct guest_mem mem;

	ck_assert_int_eq(guest_mem_init(&mem, 16 * MiB, false, HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(mem.nr_regions, 1);
	ck_assert_uint_eq(mem.total, 16 * MiB);
	ck_assert_uint_eq(mem.region[0].gpa, 0);
	ck_assert_uint_eq(mem.region[0].size, 16 * MiB);
	ck_assert_ptr_eq(mem.region[0].host, mem.map);
	ck_assert_uint_eq(mem.map_size, 16 * MiB);
	ck_assert_int_eq(mem.memfd, -1);
	/* Fresh anonymous memory reads as zero and is writable. */
	ck_assert_uint_eq(mem.map[0], 0);
	ck_assert_uint_eq(mem.map[16 * MiB - 1], 0);
	mem.map[16 * MiB - 1] = 0x42;
	guest_mem_destroy(&mem);
	ck_assert_ptr_null(mem.map);
	ck_assert_uint_eq(mem.nr_regions, 0);
	ck_assert_int_eq(mem.memfd, -1);
}
END_TEST

START_TEST(test_init_shared_memfd)
{
	struct guest_mem mem;
	const char msg[] = "through the memfd";
	char back[sizeof(msg)];

	ck_assert_int_eq(guest_mem_init(&mem, 16 * MiB, true, HUGEPAGES_NONE), 0);
	ck_assert_int_ge(mem.memfd, 0);
	ck_assert_uint_eq(mem.nr_regions, 1);
	ck_assert_int_eq(guest_mem_write(&mem, 0x123456, msg, sizeof(msg)), 0);
	/* The memfd and the mapping are the same memory. */
	ck_assert_int_eq(pread(mem.memfd, back, sizeof(back), 0x123456), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, msg, sizeof(msg));
	ck_assert_int_eq(lseek(mem.memfd, 0, SEEK_END), (off_t)(16 * MiB));
	guest_mem_destroy(&mem);
	ck_assert_int_eq(mem.memfd, -1);
}
END_TEST

START_TEST(test_init_thp)
{
	struct guest_mem mem;

	/* madvise may fail on hosts without THP; that is a warning, not an error. */
	ck_assert_int_eq(guest_mem_init(&mem, 8 * MiB, false, HUGEPAGES_THP), 0);
	ck_assert_ptr_nonnull(guest_mem_ptr(&mem, 8 * MiB - 1, 1));
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_init_hugetlb_may_fail)
{
	struct guest_mem mem;
	int r;

	/* The host may have no huge pages reserved: a negative errno is fine, a crash is not. */
	r = guest_mem_init(&mem, 4 * MiB, _i == 1, HUGEPAGES_HUGETLB);
	if (r == 0) {
		uint8_t *p = guest_mem_ptr(&mem, 4 * MiB - 1, 1);

		ck_assert_ptr_nonnull(p);
		*p = 1;
		guest_mem_destroy(&mem);
	} else {
		ck_assert_int_lt(r, 0);
		ck_assert_ptr_null(mem.map);
		ck_assert_int_eq(mem.memfd, -1);
		ck_assert_uint_eq(mem.nr_regions, 0);
	}
}
END_TEST

START_TEST(test_init_bad_sizes)
{
	struct guest_mem mem;

	ck_assert_int_eq(guest_mem_init(&mem, 0, false, HUGEPAGES_NONE), -EINVAL);
	ck_assert_ptr_null(mem.map);
	ck_assert_int_eq(guest_mem_init(&mem, (1ULL << 46) + 4096, false, HUGEPAGES_NONE),
			 -EINVAL);
	ck_assert_int_eq(guest_mem_init(&mem, UINT64_MAX, true, HUGEPAGES_NONE), -EINVAL);
	ck_assert_int_eq(mem.memfd, -1);
	/* destroy on a failed init is harmless */
	guest_mem_destroy(&mem);
}
END_TEST

/* ---- guest_mem_ptr bounds ---- */

START_TEST(test_ptr_bounds)
{
	struct guest_mem mem;
	const uint64_t size = 16 * MiB;

	ck_assert_int_eq(guest_mem_init(&mem, size, false, HUGEPAGES_NONE), 0);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, 0, 1), mem.map);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, 0, size), mem.map);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, size - 1, 1), mem.map + size - 1);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, 0x1234, 16), mem.map + 0x1234);
	/* Zero length at the very end is inside. */
	ck_assert_ptr_eq(guest_mem_ptr(&mem, size, 0), mem.map + size);

	ck_assert_ptr_null(guest_mem_ptr(&mem, size, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, size - 1, 2));
	ck_assert_ptr_null(guest_mem_ptr(&mem, 0, size + 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, size + 1, 0));
	ck_assert_ptr_null(guest_mem_ptr(&mem, UINT64_MAX - 1, 4));
	ck_assert_ptr_null(guest_mem_ptr(&mem, UINT64_MAX, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, 1, UINT64_MAX));
	ck_assert_ptr_null(guest_mem_ptr(&mem, 0, UINT64_MAX));
	/* gpa + len wraps to a small value that would look in range. */
	ck_assert_ptr_null(guest_mem_ptr(&mem, UINT64_MAX - 0xfff, 0x2000));
	ck_assert_ptr_null(guest_mem_ptr(&mem, 0x1000, UINT64_MAX - 0xfff + 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_START, 1));
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_read_write)
{
	struct guest_mem mem;
	const uint64_t size = 16 * MiB;
	uint8_t buf[64], back[64];

	ck_assert_int_eq(guest_mem_init(&mem, size, false, HUGEPAGES_NONE), 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);

	ck_assert_int_eq(guest_mem_write(&mem, size - sizeof(buf), buf, sizeof(buf)), 0);
	ck_assert_mem_eq(mem.map + size - sizeof(buf), buf, sizeof(buf));
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(guest_mem_read(&mem, size - sizeof(buf), back, sizeof(back)), 0);
	ck_assert_mem_eq(back, buf, sizeof(buf));

	/* One byte past the end: refused, and nothing copied. */
	memset(back, 0x5a, sizeof(back));
	ck_assert_int_eq(guest_mem_read(&mem, size - sizeof(buf) + 1, back, sizeof(back)),
			 -EFAULT);
	ck_assert_uint_eq(back[0], 0x5a);
	ck_assert_int_eq(guest_mem_write(&mem, size - sizeof(buf) + 1, buf, sizeof(buf)),
			 -EFAULT);
	ck_assert_uint_eq(mem.map[size - sizeof(buf)], buf[0]);	/* untouched */
	ck_assert_int_eq(guest_mem_read(&mem, size, back, 1), -EFAULT);
	ck_assert_int_eq(guest_mem_write(&mem, UINT64_MAX - 1, buf, 4), -EFAULT);
	ck_assert_int_eq(guest_mem_read(&mem, UINT64_MAX - 1, back, 4), -EFAULT);
	/* Zero bytes at the end. */
	ck_assert_int_eq(guest_mem_write(&mem, size, buf, 0), 0);
	ck_assert_int_eq(guest_mem_read(&mem, size, back, 0), 0);
	guest_mem_destroy(&mem);
}
END_TEST

/* ---- regions ---- */

START_TEST(test_exactly_hole_start_is_one_region)
{
	struct guest_mem mem;

	ck_assert_int_eq(guest_mem_init(&mem, 3 * GiB, false, HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(mem.nr_regions, 1);
	ck_assert_uint_eq(mem.region[0].size, 3 * GiB);
	ck_assert_ptr_nonnull(guest_mem_ptr(&mem, MEM_HOLE_START - 1, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_START, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_END, 1));
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_above_hole_two_regions)
{
	struct guest_mem mem;
	const uint64_t size = 5 * GiB;	/* MAP_NORESERVE: nothing is touched */
	const uint64_t high = size - MEM_HOLE_START;

	ck_assert_int_eq(guest_mem_init(&mem, size, false, HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(mem.nr_regions, 2);
	ck_assert_uint_eq(mem.total, size);
	ck_assert_uint_eq(mem.region[0].gpa, 0);
	ck_assert_uint_eq(mem.region[0].size, MEM_HOLE_START);
	ck_assert_uint_eq(mem.region[1].gpa, MEM_HOLE_END);
	ck_assert_uint_eq(mem.region[1].size, high);
	ck_assert_ptr_eq(mem.region[1].host, mem.map + MEM_HOLE_START);

	ck_assert_ptr_eq(guest_mem_ptr(&mem, MEM_HOLE_START - 1, 1), mem.map + MEM_HOLE_START - 1);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, MEM_HOLE_END, 1), mem.map + MEM_HOLE_START);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, MEM_HOLE_END + high - 1, 1), mem.map + size - 1);
	ck_assert_ptr_eq(guest_mem_ptr(&mem, MEM_HOLE_END + high, 0), mem.map + size);
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_END + high, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_END + high - 1, 2));

	/* Inside the hole. */
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_START, 1));
	ck_assert_ptr_null(guest_mem_ptr(&mem, 0xfec00000, 4));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_END - 1, 1));
	/* Across either edge of the hole. */
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_START - 4, 8));
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_END - 4, 8));
	/* Across the whole hole, start and end both in RAM. */
	ck_assert_ptr_null(guest_mem_ptr(&mem, MEM_HOLE_START - 1, MEM_HOLE_END - MEM_HOLE_START + 2));
	/* The host offset 3G (what the hole would be in a flat mapping) is guest 4G, not 3G. */
	ck_assert_int_eq(guest_mem_read(&mem, MEM_HOLE_START, &(uint8_t){ 0 }, 1), -EFAULT);

	guest_mem_destroy(&mem);
}
END_TEST

/* ---- memory map ---- */

START_TEST(test_map_small)
{
	struct guest_mem mem;
	struct mem_map_entry map[MEM_MAP_MAX];
	unsigned n;

	ck_assert_int_eq(guest_mem_init(&mem, 16 * MiB, false, HUGEPAGES_NONE), 0);
	n = guest_mem_map(&mem, map, MEM_MAP_MAX);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, 0x9fc00);
	ck_assert_uint_eq(map[0].type, E820_RAM);
	ck_assert_uint_eq(map[1].addr, 0x9fc00);
	ck_assert_uint_eq(map[1].size, 0x100000 - 0x9fc00);
	ck_assert_uint_eq(map[1].type, E820_RESERVED);
	ck_assert_uint_eq(map[2].addr, 0x100000);
	ck_assert_uint_eq(map[2].size, 16 * MiB - 0x100000);
	ck_assert_uint_eq(map[2].type, E820_RAM);
	assert_map_sane(map, n);
	/* Every RAM byte in the map is reachable through guest_mem_ptr. */
	for (unsigned i = 0; i < n; i++)
		if (map[i].type == E820_RAM)
			ck_assert_ptr_nonnull(guest_mem_ptr(&mem, map[i].addr, map[i].size));
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_map_above_hole)
{
	struct guest_mem mem;
	struct mem_map_entry map[MEM_MAP_MAX];
	unsigned n;

	ck_assert_int_eq(guest_mem_init(&mem, 5 * GiB, false, HUGEPAGES_NONE), 0);
	n = guest_mem_map(&mem, map, MEM_MAP_MAX);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(map[2].addr, 0x100000);
	ck_assert_uint_eq(map[2].addr + map[2].size, MEM_HOLE_START);
	ck_assert_uint_eq(map[2].type, E820_RAM);
	ck_assert_uint_eq(map[3].addr, MEM_HOLE_END);
	ck_assert_uint_eq(map[3].size, 2 * GiB);
	ck_assert_uint_eq(map[3].type, E820_RAM);
	assert_map_sane(map, n);
	/* RAM in the map adds up to the guest's RAM minus the reserved 0x9fc00-1M. */
	{
		uint64_t ram = 0;

		for (unsigned i = 0; i < n; i++)
			if (map[i].type == E820_RAM) {
				ram += map[i].size;
				ck_assert_ptr_nonnull(guest_mem_ptr(&mem, map[i].addr, map[i].size));
			}
		ck_assert_uint_eq(ram, 5 * GiB - (0x100000 - 0x9fc00));
	}
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_map_max_truncates)
{
	struct guest_mem mem;
	struct mem_map_entry map[MEM_MAP_MAX + 1];
	unsigned n;

	ck_assert_int_eq(guest_mem_init(&mem, 16 * MiB, false, HUGEPAGES_NONE), 0);
	memset(map, 0x5a, sizeof(map));
	n = guest_mem_map(&mem, map, 2);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(map[1].addr, 0x9fc00);
	ck_assert_uint_eq(map[2].addr, 0x5a5a5a5a5a5a5a5aULL);	/* not written */
	ck_assert_uint_eq(guest_mem_map(&mem, map, 0), 0);
	ck_assert_uint_eq(map[0].addr, 0);	/* from the call before, untouched */
	guest_mem_destroy(&mem);
}
END_TEST

START_TEST(test_map_2m)
{
	struct guest_mem mem;
	struct mem_map_entry map[MEM_MAP_MAX];
	unsigned n;

	/* The smallest size --memory allows. */
	ck_assert_int_eq(guest_mem_init(&mem, 2 * MiB, false, HUGEPAGES_NONE), 0);
	n = guest_mem_map(&mem, map, MEM_MAP_MAX);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(map[2].addr + map[2].size, 2 * MiB);
	assert_map_sane(map, n);
	guest_mem_destroy(&mem);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("mem");
	TCase *tc;

	tc = tcase_create("init");
	tcase_add_test(tc, test_init_small_anonymous);
	tcase_add_test(tc, test_init_shared_memfd);
	tcase_add_test(tc, test_init_thp);
	tcase_add_loop_test(tc, test_init_hugetlb_may_fail, 0, 2);
	tcase_add_test(tc, test_init_bad_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_add_test(tc, test_ptr_bounds);
	tcase_add_test(tc, test_read_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("regions");
	tcase_add_test(tc, test_exactly_hole_start_is_one_region);
	tcase_add_test(tc, test_above_hole_two_regions);
	suite_add_tcase(s, tc);

	tc = tcase_create("map");
	tcase_add_test(tc, test_map_small);
	tcase_add_test(tc, test_map_above_hole);
	tcase_add_test(tc, test_map_max_truncates);
	tcase_add_test(tc, test_map_2m);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mem_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
