/*
 * The block module (block/): opening images (and the one-line refusals),
 * the sync and the threaded engines (reads, writes, flush, discard and
 * write-zeroes complete with the right results; the threads run requests in
 * parallel and complete them through block_complete; cancel calls every one
 * back once), and O_DIRECT with unaligned buffers (the bounce).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/block.h"
#include "kvmrun/log.h"

#define SIZE	(64 * 1024)

static char path[64];
static struct block_disk disk;
static struct block_engine *eng;
static bool completes_inline;	/* io_uring: cached reads finish inside submit */

struct done_rec {
	struct block_req req;
	int result;
	unsigned calls;
};

static void on_done(struct block_req *req, int result)
{
	struct done_rec *d = (struct done_rec *)req;

	d->result = result;
	d->calls++;
}

static void image(void)
{
	static uint8_t buf[SIZE];
	int fd;

	snprintf(path, sizeof(path), "/tmp/kvmrun-test-block-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	for (unsigned i = 0; i < SIZE; i++)
		buf[i] = (uint8_t)(i ^ (i >> 9));
	ck_assert_int_eq(pwrite(fd, buf, SIZE, 0), SIZE);
	close(fd);
}

static int open_disk(bool readonly, bool direct)
{
	struct block_params p = { .path = path, .readonly = readonly, .direct = direct,
				  .name = "test-blk" };

	return block_disk_open(&disk, &p);
}

static void teardown(void)
{
	completes_inline = false;
	block_engine_destroy(eng);
	eng = NULL;
	block_disk_close(&disk);
	unlink(path);
}

static void setup_sync(void)
{
	image();
	ck_assert_int_eq(open_disk(false, false), 0);
	ck_assert_int_eq(block_engine_sync_create(&disk, &eng), 0);
}

static void setup_threads(void)
{
	image();
	ck_assert_int_eq(open_disk(false, false), 0);
	ck_assert_int_eq(block_engine_threads_create(&disk, BLOCK_IO_THREADS, &eng), 0);
}

static void setup_uring(void)
{
	image();
	ck_assert_int_eq(open_disk(false, false), 0);
	ck_assert_int_eq(block_engine_uring_create(&disk, &eng), 0);
	completes_inline = true;
}

/* Collects completions until none is in flight (the owner's loop on the event fd). */
static void wait_all(void)
{
	for (int spins = 0; block_inflight(eng) && spins < 500; spins++) {
		struct pollfd p = { eng->event_fd, POLLIN, 0 };

		if (eng->event_fd >= 0 && poll(&p, 1, 10) > 0)
			block_complete(eng);
	}
	ck_assert_uint_eq(block_inflight(eng), 0);
}

static void rw(struct done_rec *d, enum block_op op, void *buf, size_t len, uint64_t off,
	       struct iovec *iov)
{
	memset(d, 0, sizeof(*d));
	d->result = 1;
	iov->iov_base = buf;
	iov->iov_len = len;
	d->req = (struct block_req){ .op = op, .iov = iov, .iovcnt = 1, .offset = off, .len = len,
				     .done = on_done };
}

static uint8_t at(uint64_t off)
{
	return (uint8_t)(off ^ (off >> 9));
}

START_TEST(test_open_refusals)
{
	struct block_params p = { .path = "/nonexistent/kvmrun.img", .name = "t" };
	int fd;

	ck_assert_int_eq(block_disk_open(&disk, &p), -ENOENT);
	p.path = "/";
	ck_assert_int_eq(block_disk_open(&disk, &p), -EISDIR);
	p.path = "/dev/null";
	ck_assert_int_eq(block_disk_open(&disk, &p), -EINVAL);
	snprintf(path, sizeof(path), "/tmp/kvmrun-test-block-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "short", 5), 5);
	close(fd);
	p.path = path;
	ck_assert_int_eq(block_disk_open(&disk, &p), -EINVAL);	/* smaller than a sector */
	unlink(path);
}
END_TEST

START_TEST(test_open_geometry)
{
	image();
	ck_assert_int_eq(open_disk(true, false), 0);
	ck_assert_uint_eq(disk.size, SIZE);
	ck_assert_uint_eq(disk.block_size, 512);
	ck_assert_uint_eq(disk.align, 1);
	ck_assert(disk.readonly);
	block_disk_close(&disk);
	unlink(path);
}
END_TEST

/* The same cases on both engines: sync completes in submit, threads through the event fd. */
static void engine_cases(void)
{
	struct done_rec d[3];
	struct iovec v[3];
	uint8_t a[1024], b[1024];
	struct block_range zr[2] = { { 2048, 512, false }, { 8192, 1024, true } };

	/* Read: the image's bytes. */
	rw(&d[0], BLOCK_OP_READ, a, sizeof(a), 4096, &v[0]);
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_uint_eq(d[0].calls, 1);
	ck_assert_int_eq(d[0].result, 0);
	for (unsigned i = 0; i < sizeof(a); i++)
		ck_assert_uint_eq(a[i], at(4096 + i));
	/* Write, read back: several in flight. */
	memset(b, 0x77, sizeof(b));
	rw(&d[0], BLOCK_OP_WRITE, b, 512, 0, &v[0]);
	rw(&d[1], BLOCK_OP_WRITE, b + 512, 512, 512, &v[1]);
	block_submit(eng, &d[0].req, BLOCK_SUBMIT_MORE);
	block_submit(eng, &d[1].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, 0);
	ck_assert_int_eq(d[1].result, 0);
	ck_assert_uint_eq(d[0].calls + d[1].calls, 2);
	rw(&d[2], BLOCK_OP_READ, a, 1024, 0, &v[2]);
	block_submit(eng, &d[2].req, 0);
	wait_all();
	ck_assert_mem_eq(a, b, 1024);
	/* Flush. */
	memset(&d[0], 0, sizeof(d[0]));
	d[0].req = (struct block_req){ .op = BLOCK_OP_FLUSH, .done = on_done };
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, 0);
	/* Write-zeroes over two ranges, one deallocating. */
	memset(&d[0], 0, sizeof(d[0]));
	d[0].req = (struct block_req){ .op = BLOCK_OP_WRITE_ZEROES, .ranges = zr, .nr_ranges = 2,
				       .done = on_done };
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, 0);
	rw(&d[1], BLOCK_OP_READ, a, 1024, 8192, &v[1]);
	block_submit(eng, &d[1].req, 0);
	wait_all();
	for (unsigned i = 0; i < 1024; i++)
		ck_assert_uint_eq(a[i], 0);
	rw(&d[1], BLOCK_OP_READ, a, 1024, 2048, &v[1]);
	block_submit(eng, &d[1].req, 0);
	wait_all();
	for (unsigned i = 0; i < 512; i++)
		ck_assert_uint_eq(a[i], 0);
	ck_assert_uint_eq(a[512], at(2560));
	/* Discard: a hint, OK. */
	d[0].req.op = BLOCK_OP_DISCARD;
	d[0].calls = 0;
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, 0);
	ck_assert_uint_eq(d[0].calls, 1);
	/* Past the end. */
	rw(&d[0], BLOCK_OP_READ, a, 1024, SIZE - 512, &v[0]);
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, -EINVAL);
	zr[0].offset = SIZE;
	zr[0].len = 1;
	memset(&d[0], 0, sizeof(d[0]));
	d[0].req = (struct block_req){ .op = BLOCK_OP_WRITE_ZEROES, .ranges = zr, .nr_ranges = 1,
				       .done = on_done };
	block_submit(eng, &d[0].req, 0);
	wait_all();
	ck_assert_int_eq(d[0].result, -EINVAL);
}

START_TEST(test_sync_engine)
{
	struct done_rec d;
	struct iovec v;
	uint8_t a[512];

	ck_assert_int_eq(eng->event_fd, -1);
	/* Completed before submit returns. */
	rw(&d, BLOCK_OP_READ, a, sizeof(a), 0, &v);
	block_submit(eng, &d.req, BLOCK_SUBMIT_MORE);
	ck_assert_uint_eq(d.calls, 1);
	ck_assert_int_eq(d.result, 0);
	engine_cases();
}
END_TEST

START_TEST(test_threads_engine)
{
	engine_cases();
}
END_TEST

/* Many reads at once, scattered over several buffers each: all right, each called back once. */
START_TEST(test_threads_parallel)
{
	enum { N = 48 };
	static struct done_rec d[N];
	static uint8_t buf[N][1024];
	static struct iovec v[N][2];

	for (unsigned i = 0; i < N; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		v[i][0] = (struct iovec){ buf[i], 100 };
		v[i][1] = (struct iovec){ buf[i] + 100, 924 };
		d[i].req = (struct block_req){ .op = BLOCK_OP_READ, .iov = v[i], .iovcnt = 2,
					       .offset = 1024ULL * i, .len = 1024, .done = on_done };
		block_submit(eng, &d[i].req, i + 1 < N ? BLOCK_SUBMIT_MORE : 0);
	}
	if (!completes_inline)
		ck_assert_uint_gt(block_inflight(eng), 0);
	wait_all();
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(d[i].calls, 1);
		ck_assert_int_eq(d[i].result, 0);
		for (unsigned k = 0; k < 1024; k++)
			ck_assert_uint_eq(buf[i][k], at(1024ULL * i + k));
		/* The iovecs are as they were given. */
		ck_assert_ptr_eq(v[i][1].iov_base, buf[i] + 100);
		ck_assert_uint_eq(v[i][1].iov_len, 924);
	}
}
END_TEST

/* Cancel: every request called back exactly once, the ones not started with -ECANCELED. */
START_TEST(test_threads_cancel)
{
	enum { N = 64 };
	static struct done_rec d[N];
	static uint8_t buf[N][512];
	static struct iovec v[N];
	unsigned calls = 0, cancelled = 0;

	for (unsigned i = 0; i < N; i++) {
		rw(&d[i], BLOCK_OP_READ, buf[i], 512, 512ULL * i, &v[i]);
		block_submit(eng, &d[i].req, BLOCK_SUBMIT_MORE);
	}
	block_cancel(eng);
	ck_assert_uint_eq(block_inflight(eng), 0);
	for (unsigned i = 0; i < N; i++) {
		calls += d[i].calls;
		ck_assert(d[i].result == 0 || d[i].result == -ECANCELED);
		cancelled += d[i].result == -ECANCELED;
	}
	ck_assert_uint_eq(calls, N);
	/* Nothing comes back later. */
	usleep(20000);
	block_complete(eng);
	calls = 0;
	for (unsigned i = 0; i < N; i++)
		calls += d[i].calls;
	ck_assert_uint_eq(calls, N);
	fprintf(stderr, "threads cancel: %u of %u requests dropped before they ran\n",
		cancelled, N);
}
END_TEST

START_TEST(test_uring_engine)
{
	ck_assert_int_ge(eng->event_fd, 0);
	engine_cases();
}
END_TEST

/* More requests than the ring holds: the rest wait in the backlog and all complete once. */
START_TEST(test_uring_backlog)
{
	enum { N = 300 };
	static struct done_rec d[N];
	static uint8_t buf[N][512] __attribute__((aligned(4096)));
	static struct iovec v[N];

	/* O_DIRECT, so that every read goes through the ring (cached ones would not). */
	block_engine_destroy(eng);
	eng = NULL;
	block_disk_close(&disk);
	if (open_disk(false, true) == -EINVAL) {
		fprintf(stderr, "SKIP: /tmp refuses O_DIRECT: the backlog is not tested\n");
		ck_assert_int_eq(open_disk(false, false), 0);
		return;
	}
	ck_assert_int_eq(block_engine_uring_create(&disk, &eng), 0);
	for (unsigned i = 0; i < N; i++) {
		rw(&d[i], BLOCK_OP_READ, buf[i], 512, 512ULL * (i % 128), &v[i]);
		block_submit(eng, &d[i].req, i + 1 < N ? BLOCK_SUBMIT_MORE : 0);
	}
	ck_assert_uint_gt(block_inflight(eng), 128);	/* the ring's 128, and a backlog */
	wait_all();
	for (unsigned i = 0; i < N; i++) {
		ck_assert_uint_eq(d[i].calls, 1);
		ck_assert_int_eq(d[i].result, 0);
		for (unsigned k = 0; k < 512; k++)
			ck_assert_uint_eq(buf[i][k], at(512ULL * (i % 128) + k));
	}
}
END_TEST

/* O_DIRECT through the ring: aligned buffers as they are, misaligned ones bounced on the caller. */
START_TEST(test_uring_direct)
{
	static uint8_t raw[2 * 4096] __attribute__((aligned(4096)));
	struct done_rec d;
	struct iovec v;
	int r;

	image();
	r = open_disk(false, true);
	if (r == -EINVAL) {
		fprintf(stderr, "SKIP: /tmp refuses O_DIRECT: the direct ring path is not tested\n");
		unlink(path);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(block_engine_uring_create(&disk, &eng), 0);
	for (unsigned mis = 0; mis < 2; mis++) {
		uint8_t *p = raw + (mis ? 3 : 0);

		memset(raw, 0, sizeof(raw));
		rw(&d, BLOCK_OP_READ, p, 4096, 8192, &v);
		block_submit(eng, &d.req, 0);
		wait_all();
		ck_assert_uint_eq(d.calls, 1);
		ck_assert_int_eq(d.result, 0);
		for (unsigned i = 0; i < 4096; i++)
			ck_assert_uint_eq(p[i], at(8192 + i));
		memset(p, 0x5a, 4096);
		rw(&d, BLOCK_OP_WRITE, p, 4096, 4096ULL * mis, &v);
		block_submit(eng, &d.req, 0);
		wait_all();
		ck_assert_int_eq(d.result, 0);
	}
	{
		uint8_t chk[8192];
		int fd = open(path, O_RDONLY);

		ck_assert_int_eq(pread(fd, chk, sizeof(chk), 0), (ssize_t)sizeof(chk));
		close(fd);
		for (unsigned i = 0; i < sizeof(chk); i++)
			ck_assert_uint_eq(chk[i], 0x5a);
	}
}
END_TEST

START_TEST(test_readonly)
{
	struct done_rec d;
	struct iovec v;
	uint8_t a[512] = { 0 };
	struct block_range r = { 0, 512, false };

	block_engine_destroy(eng);
	block_disk_close(&disk);
	ck_assert_int_eq(open_disk(true, false), 0);
	ck_assert_int_eq(block_engine_sync_create(&disk, &eng), 0);
	rw(&d, BLOCK_OP_WRITE, a, sizeof(a), 0, &v);
	block_submit(eng, &d.req, 0);
	ck_assert_int_eq(d.result, -EROFS);
	memset(&d, 0, sizeof(d));
	d.req = (struct block_req){ .op = BLOCK_OP_WRITE_ZEROES, .ranges = &r, .nr_ranges = 1,
				    .done = on_done };
	block_submit(eng, &d.req, 0);
	ck_assert_int_eq(d.result, -EROFS);
	rw(&d, BLOCK_OP_READ, a, sizeof(a), 0, &v);
	block_submit(eng, &d.req, 0);
	ck_assert_int_eq(d.result, 0);
	ck_assert_uint_eq(a[511], at(511));
}
END_TEST

/* O_DIRECT: aligned buffers go as they are, unaligned ones through the bounce buffer. */
START_TEST(test_direct_bounce)
{
	static uint8_t raw[3 * 4096] __attribute__((aligned(4096)));
	struct done_rec d;
	struct iovec v[2];
	int r;

	image();
	r = open_disk(false, true);
	if (r == -EINVAL) {
		fprintf(stderr, "SKIP: /tmp refuses O_DIRECT: the bounce path is not tested\n");
		unlink(path);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(disk.align, BLOCK_DIRECT_ALIGN);
	ck_assert_int_eq(block_engine_threads_create(&disk, 2, &eng), 0);
	for (unsigned mis = 0; mis < 2; mis++) {
		uint8_t *p = raw + (mis ? 7 : 0);

		/* Two segments, the first of an odd length when misaligned. */
		memset(raw, 0, sizeof(raw));
		v[0] = (struct iovec){ p, mis ? 300 : 512 };
		v[1] = (struct iovec){ p + v[0].iov_len, 1024 - v[0].iov_len };
		memset(&d, 0, sizeof(d));
		d.req = (struct block_req){ .op = BLOCK_OP_READ, .iov = v, .iovcnt = 2,
					    .offset = 8192, .len = 1024, .done = on_done };
		block_submit(eng, &d.req, 0);
		wait_all();
		ck_assert_int_eq(d.result, 0);
		for (unsigned k = 0; k < 1024; k++)
			ck_assert_uint_eq(p[k], at(8192 + k));
		memset(p, 0x30 + mis, 1024);
		d.req.op = BLOCK_OP_WRITE;
		d.req.offset = 16384 + 4096 * mis;
		block_submit(eng, &d.req, 0);
		wait_all();
		ck_assert_int_eq(d.result, 0);
	}
	/* What was written is in the file. */
	{
		uint8_t got[1024];
		int fd = open(path, O_RDONLY);

		ck_assert_int_ge(fd, 0);
		for (unsigned mis = 0; mis < 2; mis++) {
			ck_assert_int_eq(pread(fd, got, sizeof(got), 16384 + 4096 * mis), 1024);
			for (unsigned k = 0; k < sizeof(got); k++)
				ck_assert_uint_eq(got[k], 0x30 + mis);
		}
		close(fd);
	}
}
END_TEST

#define BIG	(1u << 20)	/* four bounce buffers' worth */

/* A BIG image in /dev/shm: tmpfs takes O_DIRECT (Linux >= 6.6) but has no FALLOC_FL_ZERO_RANGE. */
static bool tmpfs_direct_image(void)
{
	uint8_t *buf = malloc(BIG);
	int fd, zr;

	snprintf(path, sizeof(path), "/dev/shm/kvmrun-test-block-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(buf);
	for (unsigned i = 0; i < BIG; i++)
		buf[i] = at(i);
	ck_assert_int_eq(pwrite(fd, buf, BIG, 0), BIG);
	free(buf);
	zr = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 512);
	close(fd);
	if (zr == 0) {
		fprintf(stderr, "SKIP: /dev/shm has FALLOC_FL_ZERO_RANGE: the fallback is not tested\n");
		return false;
	}
	if (open_disk(false, true) == -EINVAL) {
		fprintf(stderr, "SKIP: /dev/shm refuses O_DIRECT: the fallback is not tested\n");
		return false;
	}
	return true;
}

/*
 * WRITE_ZEROES where fallocate cannot zero, on an O_DIRECT disk: the zeroes
 * come from the aligned bounce buffer, piece by piece (they came from an
 * unaligned static buffer, which O_DIRECT refused: the guest got IOERR).
 */
START_TEST(test_direct_write_zeroes_fallback)
{
	struct block_range range = { 4096, BIG - 2 * 4096, false };
	struct done_rec d;
	uint8_t *got = malloc(BIG);
	int fd;

	if (!tmpfs_direct_image()) {
		unlink(path);
		free(got);
		return;
	}
	ck_assert_int_eq(block_engine_sync_create(&disk, &eng), 0);
	memset(&d, 0, sizeof(d));
	d.req = (struct block_req){ .op = BLOCK_OP_WRITE_ZEROES, .ranges = &range, .nr_ranges = 1,
				    .done = on_done };
	block_submit(eng, &d.req, 0);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.result, 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, got, BIG, 0), BIG);
	close(fd);
	for (unsigned i = 0; i < BIG; i++)
		if (got[i] != (i < range.offset || i >= range.offset + range.len ? at(i) : 0))
			ck_abort_msg("byte %u reads 0x%x after WRITE_ZEROES", i, got[i]);
	free(got);
}
END_TEST

/* A bounced transfer larger than the bounce buffer goes through it piece by piece. */
START_TEST(test_direct_bounce_big)
{
	struct done_rec d;
	struct iovec v;
	uint8_t *raw = malloc(BIG + 64), *p = raw + 5;

	if (!tmpfs_direct_image()) {
		unlink(path);
		free(raw);
		return;
	}
	ck_assert_int_eq(block_engine_threads_create(&disk, 2, &eng), 0);
	rw(&d, BLOCK_OP_READ, p, BIG - 512, 512, &v);
	block_submit(eng, &d.req, BLOCK_SUBMIT_MORE);
	wait_all();
	ck_assert_int_eq(d.result, 0);
	for (unsigned i = 0; i < BIG - 512; i++)
		if (p[i] != at(512 + i))
			ck_abort_msg("byte %u read 0x%x, want 0x%x", i, p[i], at(512 + i));
	memset(p, 0x5a, BIG - 512);
	rw(&d, BLOCK_OP_WRITE, p, BIG - 512, 0, &v);
	block_submit(eng, &d.req, 0);
	wait_all();
	ck_assert_int_eq(d.result, 0);
	memset(p, 0, BIG);
	rw(&d, BLOCK_OP_READ, p, BIG, 0, &v);
	block_submit(eng, &d.req, 0);
	wait_all();
	ck_assert_int_eq(d.result, 0);
	for (unsigned i = 0; i < BIG; i++)
		if (p[i] != (i < BIG - 512 ? 0x5a : at(i)))
			ck_abort_msg("byte %u reads 0x%x after the write", i, p[i]);
	free(raw);
}
END_TEST

/* Once the VM stops, requests end with -ECANCELED and nothing reaches the disk. */
START_TEST(test_cancel_after_stop)
{
	static uint8_t buf[4096];
	struct done_rec d;
	struct iovec v;

	image();
	ck_assert_int_eq(open_disk(false, false), 0);
	ck_assert_int_eq(block_engine_threads_create(&disk, 2, &eng), 0);
	block_disk_cancel(&disk);
	memset(buf, 0xee, sizeof(buf));
	rw(&d, BLOCK_OP_WRITE, buf, sizeof(buf), 0, &v);
	block_submit(eng, &d.req, BLOCK_SUBMIT_MORE);
	wait_all();
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.result, -ECANCELED);
	rw(&d, BLOCK_OP_READ, buf, sizeof(buf), 0, &v);
	block_submit(eng, &d.req, 0);
	ck_assert_int_eq(d.result, -ECANCELED);
	{
		int fd = open(path, O_RDONLY);

		ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
		close(fd);
		for (unsigned i = 0; i < sizeof(buf); i++)
			ck_assert_uint_eq(buf[i], at(i));
	}
}
END_TEST

static void setup_plain(void)
{
	disk.fd = -1;
}

static void teardown_plain(void)
{
	if (eng || disk.fd >= 0)
		teardown();
}

static Suite *block_suite(void)
{
	Suite *s = suite_create("block");
	TCase *open = tcase_create("open");
	TCase *sync = tcase_create("sync");
	TCase *threads = tcase_create("threads");
	TCase *uring = tcase_create("io_uring");

	tcase_add_checked_fixture(open, setup_plain, teardown_plain);
	tcase_add_test(open, test_open_refusals);
	tcase_add_test(open, test_open_geometry);
	tcase_add_test(open, test_direct_bounce);
	tcase_add_test(open, test_direct_write_zeroes_fallback);
	tcase_add_test(open, test_direct_bounce_big);
	tcase_add_test(open, test_cancel_after_stop);
	suite_add_tcase(s, open);
	tcase_add_checked_fixture(sync, setup_sync, teardown);
	tcase_add_test(sync, test_sync_engine);
	tcase_add_test(sync, test_readonly);
	suite_add_tcase(s, sync);
	tcase_add_checked_fixture(threads, setup_threads, teardown);
	tcase_set_timeout(threads, 30);
	tcase_add_test(threads, test_threads_engine);
	tcase_add_test(threads, test_threads_parallel);
	tcase_add_test(threads, test_threads_cancel);
	suite_add_tcase(s, threads);
	/* The engine-neutral cases again on io_uring, and its own. */
	tcase_add_checked_fixture(uring, setup_uring, teardown);
	tcase_set_timeout(uring, 30);
	tcase_add_test(uring, test_uring_engine);
	tcase_add_test(uring, test_threads_parallel);
	tcase_add_test(uring, test_threads_cancel);
	tcase_add_test(uring, test_uring_backlog);
	suite_add_tcase(s, uring);
	tcase_add_test(open, test_uring_direct);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(block_suite());
	int failed;

	log_threshold = LOG_ERROR;	/* the refusals print their lines: expected */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
