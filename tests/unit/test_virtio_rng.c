/*
 * virtio-rng (virtio/rng.c) through a queue in fake guest memory: writable
 * buffers are filled, readable ones left alone, a request gets at most
 * RNG_MAX_PER_REQUEST (64 KiB) and the rest of its buffers stay untouched,
 * a malformed chain asks for a reset.  It has no save/restore hooks: every
 * request is answered within its notification, so nothing is held.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fake_driver.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"

#define RAM_SIZE	(4ULL << 20)
#define BUF		0x100000ULL
#define CAP		(64u * 1024)
#define POISON		0xa5

static struct guest_mem mem;
static struct virtio_device dev;
static struct fake_driver drv;

static void setup(void)
{
	ck_assert_int_eq(guest_mem_init(&mem, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	ck_assert_int_eq(virtio_rng_init(&dev, &mem), 0);
	fd_init(&drv, &dev, &mem);
	memset(mem.map + BUF, POISON, RAM_SIZE - BUF);
}

static void teardown(void)
{
	virtio_device_destroy(&dev);
	guest_mem_destroy(&mem);
}

/* Bytes of [gpa, gpa + len) still holding the poison. */
static size_t untouched(uint64_t gpa, size_t len)
{
	const uint8_t *p = fd_ptr(&drv, gpa, len);
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == POISON;
	return n;
}

START_TEST(test_fills_writable_buffers)
{
	struct fd_seg s[3] = { { BUF, 100, true }, { BUF + 0x1000, 1, true },
			       { BUF + 0x2000, 4000, true } };
	uint16_t head = fd_add(&drv, 0, s, 3);

	fd_serve(&drv, 0);
	ck_assert_uint_eq(fd_used_idx(&drv, 0), 1);
	ck_assert_uint_eq(fd_used_elem(&drv, 0, 0).id, head);
	ck_assert_uint_eq(fd_used_elem(&drv, 0, 0).len, 4101);
	/* Random bytes: about 1 in 256 equals the poison, not most of them. */
	ck_assert_uint_lt(untouched(BUF + 0x2000, 4000), 100);
	ck_assert_uint_lt(untouched(BUF, 100), 20);
	ck_assert_uint_eq(untouched(BUF + 100, 0x1000 - 100), 0x1000 - 100);
	ck_assert_uint_gt(fd_interrupts, 0);
}
END_TEST

START_TEST(test_readable_buffers_ignored)
{
	struct fd_seg s[2] = { { BUF, 256, false }, { BUF + 0x1000, 64, true } };

	fd_add(&drv, 0, s, 2);
	fd_serve(&drv, 0);
	ck_assert_uint_eq(fd_used_elem(&drv, 0, 0).len, 64);
	ck_assert_uint_eq(untouched(BUF, 256), 256);
}
END_TEST

/* One request takes at most 64 KiB, however large its buffers. */
START_TEST(test_per_request_cap)
{
	struct fd_seg s[3] = { { BUF, 40000, true }, { BUF + 0x10000, 40000, true },
			       { BUF + 0x20000, 100, true } };
	struct fd_seg next = { BUF + 0x30000, 16, true };

	fd_add(&drv, 0, s, 3);
	fd_add(&drv, 0, &next, 1);
	fd_serve(&drv, 0);
	ck_assert_uint_eq(fd_used_idx(&drv, 0), 2);
	ck_assert_uint_eq(fd_used_elem(&drv, 0, 0).len, CAP);
	/* The second buffer is filled up to the cap, the third not at all. */
	ck_assert_uint_lt(untouched(BUF + 0x10000, CAP - 40000), 200);
	ck_assert_uint_eq(untouched(BUF + 0x10000 + (CAP - 40000), 40000 - (CAP - 40000)),
			  40000 - (CAP - 40000));
	ck_assert_uint_eq(untouched(BUF + 0x20000, 100), 100);
	/* The next request is served in full. */
	ck_assert_uint_eq(fd_used_elem(&drv, 0, 1).len, 16);
}
END_TEST

START_TEST(test_malformed_chain_needs_reset)
{
	struct fd_seg s = { RAM_SIZE - 8, 64, true };	/* past the end of RAM */

	fd_add(&drv, 0, &s, 1);
	fd_serve(&drv, 0);
	ck_assert(dev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_eq(fd_used_idx(&drv, 0), 0);
}
END_TEST

/* Nothing to save: no hooks, and nothing popped is left unanswered after a notification. */
START_TEST(test_nothing_held)
{
	struct fd_seg s = { BUF, 32, true };

	ck_assert_ptr_null(dev.ops->save);
	ck_assert_ptr_null(dev.ops->restore);
	for (unsigned i = 0; i < 10; i++)
		fd_add(&drv, 0, &s, 1);
	fd_serve(&drv, 0);
	ck_assert_uint_eq(dev.vq[0].last_avail, 10);
	ck_assert_uint_eq(dev.vq[0].used_idx, dev.vq[0].last_avail);
}
END_TEST

static Suite *rng_suite(void)
{
	Suite *s = suite_create("virtio_rng");
	TCase *tc = tcase_create("requests");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fills_writable_buffers);
	tcase_add_test(tc, test_readable_buffers_ignored);
	tcase_add_test(tc, test_per_request_cap);
	tcase_add_test(tc, test_malformed_chain_needs_reset);
	tcase_add_test(tc, test_nothing_held);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rng_suite());
	int failed;

	log_threshold = LOG_ERROR;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
