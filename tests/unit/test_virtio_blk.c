/*
 * virtio-blk's request handling (virtio/blk.c) through a queue in fake
 * guest memory, on a temporary image file: reads, writes reaching the file,
 * flush, GET_ID, discard and write-zeroes, a read-only disk, bad headers and
 * out-of-range sectors (each with its status byte); cache=none with its I/O
 * threads; the save/restore of the device type's own state.
 */
#include <check.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_driver.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"

#define RAM_SIZE	(4ULL << 20)
#define SECTORS		64
#define HDR(i)		(0x10000ULL + 32ULL * (i))
#define STAT(i)		(0x18000ULL + (i))
#define DATA		0x20000ULL
#define SERIAL		"kvmrun-test-serial"

static char image[64];
static struct guest_mem mem, mem2;
static struct virtio_device dev, dev2;
static struct fake_driver drv, drv2;

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + off / 512);
}

static void image_create(void)
{
	uint8_t buf[SECTORS * 512];
	int fd;

	snprintf(image, sizeof(image), "/tmp/kvmrun-test-blk-XXXXXX");
	fd = mkstemp(image);
	ck_assert_int_ge(fd, 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	close(fd);
}

/* The engine the next device gets (the cache_none case pins threads: its tests time requests in flight). */
static enum disk_aio test_aio = DISK_AIO_AUTO;

static int dev_create(struct virtio_device *d, struct guest_mem *m, bool readonly, bool direct,
		      unsigned queues)
{
	struct disk_config dc = { .readonly = readonly, .cache_none = direct, .num_queues = queues,
				  .aio = test_aio };

	snprintf(dc.path, sizeof(dc.path), "%s", image);
	snprintf(dc.serial, sizeof(dc.serial), "%s", SERIAL);
	ck_assert_int_eq(guest_mem_init(m, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	return virtio_blk_init(d, &dc, m);
}

static bool no_direct;	/* the file system of /tmp refuses O_DIRECT */

static void setup_with(bool readonly, bool direct, unsigned queues)
{
	int r;

	image_create();
	r = dev_create(&dev, &mem, readonly, direct, queues);
	if (direct && r == -EINVAL) {
		no_direct = true;
		return;
	}
	ck_assert_int_eq(r, 0);
	fd_init(&drv, &dev, &mem);
}

/* Says so when the cache=none cases cannot run here. */
static bool skip_direct(void)
{
	if (no_direct)
		fprintf(stderr, "SKIP: /tmp refuses O_DIRECT: cache=none not tested\n");
	return no_direct;
}

static void setup_rw(void) { setup_with(false, false, 1); }
static void setup_ro(void) { setup_with(true, false, 1); }
static void setup_direct(void)
{
	test_aio = DISK_AIO_THREADS;
	setup_with(false, true, 4);
	test_aio = DISK_AIO_AUTO;
}

static void setup_direct_uring(void)
{
	test_aio = DISK_AIO_IO_URING;
	setup_with(false, true, 4);
	test_aio = DISK_AIO_AUTO;
}

static void teardown(void)
{
	if (no_direct) {
		no_direct = false;
		guest_mem_destroy(&mem);
		unlink(image);
		return;
	}
	virtio_device_destroy(&dev);
	guest_mem_destroy(&mem);
	if (drv2.d) {
		virtio_device_destroy(&dev2);
		guest_mem_destroy(&mem2);
		memset(&drv2, 0, sizeof(drv2));
	}
	unlink(image);
}

/* A request in slot i: header, data segments, status byte (poisoned). */
static uint16_t blk_add(struct fake_driver *f, unsigned q, unsigned i, uint32_t type,
			uint64_t sector, const struct fd_seg *data, unsigned n)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	struct fd_seg s[8];

	ck_assert_uint_le(n, 6);
	memcpy(fd_ptr(f, HDR(i), sizeof(h)), &h, sizeof(h));
	*(uint8_t *)fd_ptr(f, STAT(i), 1) = 0xee;
	s[0] = (struct fd_seg){ HDR(i), sizeof(h), false };
	for (unsigned k = 0; k < n; k++)
		s[1 + k] = data[k];
	s[1 + n] = (struct fd_seg){ STAT(i), 1, true };
	return fd_add(f, q, s, n + 2);
}

static uint8_t status_of(struct fake_driver *f, unsigned i)
{
	return *(uint8_t *)fd_ptr(f, STAT(i), 1);
}

/* One request on queue 0, served; checks the used element, returns the status byte. */
static uint8_t blk_do(struct fake_driver *f, uint32_t type, uint64_t sector,
		      const struct fd_seg *data, unsigned n, uint32_t want_len)
{
	uint16_t before = fd_used_idx(f, 0);
	uint16_t head = blk_add(f, 0, 0, type, sector, data, n);
	struct vring_used_elem e;

	fd_serve(f, 0);
	ck_assert_uint_eq(fd_run(f, 0, (uint16_t)(before + 1), 2000), (uint16_t)(before + 1));
	e = fd_used_elem(f, 0, before);
	ck_assert_uint_eq(e.id, head);
	if (want_len != UINT32_MAX)
		ck_assert_uint_eq(e.len, want_len);
	return status_of(f, 0);
}

static void image_read(void *buf, size_t len, off_t off)
{
	FILE *fp = fopen(image, "rb");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseeko(fp, off, SEEK_SET), 0);
	ck_assert_uint_eq(fread(buf, 1, len, fp), len);
	fclose(fp);
}

static void check_pattern(const uint8_t *p, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			ck_abort_msg("byte %zu of offset %llu: 0x%02x", i, (unsigned long long)off, p[i]);
}

START_TEST(test_read)
{
	struct fd_seg d[2] = { { DATA, 100, true }, { DATA + 0x1000, 924, true } };

	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, 3, d, 2, 1025), VIRTIO_BLK_S_OK);
	check_pattern(fd_ptr(&drv, DATA, 100), 100, 3 * 512);
	check_pattern(fd_ptr(&drv, DATA + 0x1000, 924), 924, 3 * 512 + 100);
	ck_assert_uint_gt(fd_interrupts, 0);
}
END_TEST

START_TEST(test_write_reaches_image)
{
	struct fd_seg d[2] = { { DATA, 512 + 17, false }, { DATA + 0x3001, 512 - 17, false } };
	uint8_t want[1024], got[1024 + 512];

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 13 + 5);
	memcpy(fd_ptr(&drv, DATA, 529), want, 529);
	memcpy(fd_ptr(&drv, DATA + 0x3001, 495), want + 529, 495);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_OUT, 10, d, 2, 1), VIRTIO_BLK_S_OK);
	image_read(got, sizeof(got), 10 * 512);
	ck_assert_mem_eq(got, want, sizeof(want));
	check_pattern(got + 1024, 512, 12 * 512);	/* nothing past the request */
	/* A flush afterwards: fdatasync, OK. */
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_get_id)
{
	struct fd_seg d = { DATA, 20, true };
	struct fd_seg shortd = { DATA + 0x100, 8, true };
	char want[20] = SERIAL;

	memset(fd_ptr(&drv, DATA, 0x200), 0xaa, 0x200);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_GET_ID, 0, &d, 1, 21), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(fd_ptr(&drv, DATA, 20), want, 20);
	/* A shorter buffer takes what fits. */
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_GET_ID, 0, &shortd, 1, 9), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(fd_ptr(&drv, DATA + 0x100, 8), want, 8);
	ck_assert_uint_eq(*(uint8_t *)fd_ptr(&drv, DATA + 0x108, 1), 0xaa);
}
END_TEST

struct seg16 {
	uint64_t sector;
	uint32_t num, flags;
};

static uint8_t discard(uint32_t type, const struct seg16 *s, unsigned n, uint32_t len)
{
	struct fd_seg d = { DATA, len, false };

	memcpy(fd_ptr(&drv, DATA, n * sizeof(*s)), s, n * sizeof(*s));
	return blk_do(&drv, type, 0, &d, 1, 1);
}

static bool zero_sectors(uint64_t first, unsigned n)
{
	uint8_t buf[512];

	for (unsigned k = 0; k < n; k++) {
		image_read(buf, sizeof(buf), (off_t)((first + k) * 512));
		for (unsigned i = 0; i < sizeof(buf); i++)
			if (buf[i])
				return false;
	}
	return true;
}

START_TEST(test_discard_write_zeroes)
{
	struct seg16 s[17];
	uint8_t buf[512];

	memset(s, 0, sizeof(s));
	s[0] = (struct seg16){ 4, 2, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 16), VIRTIO_BLK_S_OK);
	ck_assert(zero_sectors(4, 2));
	image_read(buf, sizeof(buf), 3 * 512);
	check_pattern(buf, sizeof(buf), 3 * 512);
	image_read(buf, sizeof(buf), 6 * 512);
	check_pattern(buf, sizeof(buf), 6 * 512);
	s[0] = (struct seg16){ 8, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 16), VIRTIO_BLK_S_OK);
	ck_assert(zero_sectors(8, 1));
	s[0] = (struct seg16){ 12, 2, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_DISCARD, s, 1, 16), VIRTIO_BLK_S_OK);
	/* Discard takes no flags, write-zeroes only UNMAP. */
	s[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_DISCARD, s, 1, 16), VIRTIO_BLK_S_IOERR);
	s[0].flags = 2;
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 16), VIRTIO_BLK_S_IOERR);
	/* Segment count and size. */
	for (unsigned i = 0; i < 17; i++)
		s[i] = (struct seg16){ 30 + i, 1, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 17, 17 * 16), VIRTIO_BLK_S_IOERR);
	ck_assert(!zero_sectors(30, 1));
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 15), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 0, 0), VIRTIO_BLK_S_IOERR);
	/* Out of range, also by overflow. */
	s[0] = (struct seg16){ SECTORS - 1, 2, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 16), VIRTIO_BLK_S_IOERR);
	s[0] = (struct seg16){ UINT64_MAX, 1, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 1, 16), VIRTIO_BLK_S_IOERR);
	/* The segments before a bad one are applied, then the request fails (as always). */
	s[0] = (struct seg16){ 20, 1, 0 };
	s[1] = (struct seg16){ SECTORS, 1, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 2, 32), VIRTIO_BLK_S_IOERR);
	ck_assert(zero_sectors(20, 1));
	/* Sixteen segments are fine. */
	for (unsigned i = 0; i < 16; i++)
		s[i] = (struct seg16){ 40 + i, 1, 0 };
	ck_assert_uint_eq(discard(VIRTIO_BLK_T_WRITE_ZEROES, s, 16, 16 * 16), VIRTIO_BLK_S_OK);
	ck_assert(zero_sectors(40, 16));
}
END_TEST

START_TEST(test_out_of_range)
{
	struct fd_seg one = { DATA, 512, true }, two = { DATA, 1024, true };
	struct fd_seg odd = { DATA, 100, true }, w = { DATA, 512, false };

	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, SECTORS - 1, &one, 1, 513),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, SECTORS, &one, 1, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, SECTORS - 1, &two, 1, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, UINT64_MAX, &one, 1, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, 0, &odd, 1, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_OUT, SECTORS, &w, 1, 1), VIRTIO_BLK_S_IOERR);
	/* The image is unchanged in size. */
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, SECTORS, &one, 1, 1), VIRTIO_BLK_S_IOERR);
}
END_TEST

START_TEST(test_bad_type)
{
	struct fd_seg d = { DATA, 512, true };

	ck_assert_uint_eq(blk_do(&drv, 99, 0, &d, 1, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert(!(dev.status & VIRTIO_CONFIG_S_NEEDS_RESET));
}
END_TEST

START_TEST(test_short_header_needs_reset)
{
	struct fd_seg s[2] = { { HDR(0), 8, false }, { STAT(0), 1, true } };

	fd_add(&drv, 0, s, 2);
	fd_serve(&drv, 0);
	ck_assert(dev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_eq(fd_used_idx(&drv, 0), 0);
}
END_TEST

START_TEST(test_no_status_byte_needs_reset)
{
	struct fd_seg s[2] = { { HDR(0), 16, false }, { DATA, 512, false } };

	fd_add(&drv, 0, s, 2);
	fd_serve(&drv, 0);
	ck_assert(dev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}
END_TEST

START_TEST(test_config)
{
	struct virtio_blk_config c;

	dev.ops->config_read(&dev, 0, (uint8_t *)&c, sizeof(c));
	ck_assert_uint_eq(c.capacity, SECTORS);
	ck_assert_uint_eq(c.blk_size, 512);
	ck_assert_uint_eq(c.seg_max, VIRTQ_MAX_SEGS - 2);
	ck_assert_uint_eq(c.size_max, 1u << 30);
	ck_assert_uint_eq(c.num_queues, 1);
	ck_assert_uint_eq(c.max_discard_seg, 16);
	ck_assert(dev.host_features & (1ULL << VIRTIO_BLK_F_DISCARD));
	ck_assert(!(dev.host_features & (1ULL << VIRTIO_BLK_F_RO)));
}
END_TEST

START_TEST(test_readonly_refuses_writes)
{
	struct fd_seg r = { DATA, 512, true }, w = { DATA, 512, false };
	struct seg16 s = { 1, 1, 0 };
	struct fd_seg ds = { DATA + 0x1000, 16, false };
	uint8_t buf[SECTORS * 512];

	ck_assert(dev.host_features & (1ULL << VIRTIO_BLK_F_RO));
	ck_assert(!(dev.host_features & (1ULL << VIRTIO_BLK_F_DISCARD)));
	memset(fd_ptr(&drv, DATA, 512), 0x11, 512);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_OUT, 0, &w, 1, 1), VIRTIO_BLK_S_IOERR);
	memcpy(fd_ptr(&drv, DATA + 0x1000, 16), &s, 16);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, &ds, 1, 1),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_DISCARD, 0, &ds, 1, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, 2, &r, 1, 513), VIRTIO_BLK_S_OK);
	check_pattern(fd_ptr(&drv, DATA, 512), 512, 2 * 512);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	image_read(buf, sizeof(buf), 0);
	check_pattern(buf, sizeof(buf), 0);
}
END_TEST

/* ---- cache=none: the I/O threads ---- */

/* n reads of sector i each, on queue q, with buffers aligned or not; all in flight together. */
static void direct_reads(unsigned q, unsigned n, bool aligned)
{
	uint16_t before = fd_used_idx(&drv, q);

	for (unsigned i = 0; i < n; i++) {
		struct fd_seg d = { DATA + 0x1000ULL * i + (aligned ? 0 : 3), 512, true };

		blk_add(&drv, q, i, VIRTIO_BLK_T_IN, i, &d, 1);
	}
	fd_serve(&drv, q);
	ck_assert_uint_eq(fd_run(&drv, q, (uint16_t)(before + n), 5000), (uint16_t)(before + n));
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_eq(status_of(&drv, i), VIRTIO_BLK_S_OK);
		check_pattern(fd_ptr(&drv, DATA + 0x1000ULL * i + (aligned ? 0 : 3), 512), 512,
			      i * 512ULL);
	}
}

START_TEST(test_direct_reads_in_flight)
{
	if (skip_direct())
		return;
	direct_reads(0, 16, true);
	direct_reads(1, 16, false);	/* through the bounce buffer */
}
END_TEST

START_TEST(test_direct_writes)
{
	uint16_t before;
	uint8_t got[512];

	if (skip_direct())
		return;
	before = fd_used_idx(&drv, 0);

	for (unsigned i = 0; i < 12; i++) {
		struct fd_seg d = { DATA + 0x1000ULL * i + (i & 1), 512, false };

		memset(fd_ptr(&drv, d.gpa, 512), 0x40 + i, 512);
		blk_add(&drv, 0, i, VIRTIO_BLK_T_OUT, 20 + i, &d, 1);
	}
	fd_serve(&drv, 0);
	ck_assert_uint_eq(fd_run(&drv, 0, (uint16_t)(before + 12), 5000), (uint16_t)(before + 12));
	for (unsigned i = 0; i < 12; i++) {
		ck_assert_uint_eq(status_of(&drv, i), VIRTIO_BLK_S_OK);
		image_read(got, sizeof(got), (20 + i) * 512);
		for (unsigned k = 0; k < sizeof(got); k++)
			ck_assert_uint_eq(got[k], 0x40 + i);
	}
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}
END_TEST

/*
 * More requests than the device has jobs (64): the queues left unserved are
 * kicked again as jobs come back, and every request completes.
 */
START_TEST(test_direct_more_requests_than_jobs)
{
	enum { PER_QUEUE = 20 };	/* 3 descriptors each: 60 of a queue's 64 */

	if (skip_direct())
		return;
	for (unsigned q = 0; q < 4; q++)
		for (unsigned i = 0; i < PER_QUEUE; i++) {
			unsigned slot = q * PER_QUEUE + i;
			struct fd_seg d = { DATA + 0x1000ULL * slot, 512, true };

			blk_add(&drv, q, slot, VIRTIO_BLK_T_IN, slot % SECTORS, &d, 1);
		}
	for (unsigned q = 0; q < 4; q++)
		fd_serve(&drv, q);
	for (unsigned q = 0; q < 4; q++)
		ck_assert_uint_eq(fd_run(&drv, q, PER_QUEUE, 5000), PER_QUEUE);
	for (unsigned slot = 0; slot < 4 * PER_QUEUE; slot++) {
		ck_assert_uint_eq(status_of(&drv, slot), VIRTIO_BLK_S_OK);
		check_pattern(fd_ptr(&drv, DATA + 0x1000ULL * slot, 512), 512,
			      (slot % SECTORS) * 512ULL);
	}
}
END_TEST

/* Quiesced means no request on the I/O threads: save refuses until they are completed. */
START_TEST(test_direct_save_busy)
{
	struct state_writer w;
	uint16_t before;

	if (skip_direct())
		return;
	before = fd_used_idx(&drv, 0);

	for (unsigned i = 0; i < 8; i++) {
		struct fd_seg d = { DATA + 0x1000ULL * i, 512, true };

		blk_add(&drv, 0, i, VIRTIO_BLK_T_IN, i, &d, 1);
	}
	fd_serve(&drv, 0);
	state_writer_init(&w);
	ck_assert_int_eq(dev.ops->save(&dev, &w), -EBUSY);
	state_writer_free(&w);
	ck_assert_uint_eq(fd_run(&drv, 0, (uint16_t)(before + 8), 5000), (uint16_t)(before + 8));
	state_writer_init(&w);
	ck_assert_int_eq(dev.ops->save(&dev, &w), 0);
	state_writer_free(&w);
}
END_TEST

/* A reset drops queued requests and waits for those on the disk: nothing is left in flight. */
START_TEST(test_direct_reset_in_flight)
{
	struct state_writer w;

	if (skip_direct())
		return;

	for (unsigned i = 0; i < 16; i++) {
		struct fd_seg d = { DATA + 0x1000ULL * i, 512, true };

		blk_add(&drv, 0, i, VIRTIO_BLK_T_IN, i, &d, 1);
	}
	fd_serve(&drv, 0);
	pthread_mutex_lock(&dev.lock);
	virtio_set_status(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	state_writer_init(&w);
	ck_assert_int_eq(dev.ops->save(&dev, &w), 0);
	state_writer_free(&w);
	/* The driver starts over; the device works. */
	fd_init(&drv, &dev, &mem);
	direct_reads(0, 4, true);
}
END_TEST

/* ---- save/restore of the device type's own state ---- */

static int restore_bytes(struct virtio_device *d, const void *data, size_t len)
{
	struct state_reader r;
	int e;

	state_reader_init(&r, data, len);
	e = d->ops->restore(d, &r);
	return e ? e : state_reader_finish(&r);
}

static void save(struct virtio_device *d, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(d->ops->save(d, w), 0);
}

START_TEST(test_save_restore_round_trip)
{
	struct state_writer w1, w2;
	struct fd_seg d1 = { DATA, 1024, true };
	uint8_t c1[64], c2[64];

	save(&dev, &w1);
	ck_assert_uint_gt(w1.len, 0);
	ck_assert_int_eq(dev_create(&dev2, &mem2, false, false, 1), 0);
	fd_init(&drv2, &dev2, &mem2);
	ck_assert_int_eq(restore_bytes(&dev2, w1.data, w1.len), 0);
	save(&dev2, &w2);
	ck_assert_uint_eq(w1.len, w2.len);
	ck_assert_mem_eq(w1.data, w2.data, w1.len);
	/* The same accesses give the same results. */
	for (uint32_t off = 0; off < 64; off += 4) {
		dev.ops->config_read(&dev, off, c1 + off, 4);
		dev2.ops->config_read(&dev2, off, c2 + off, 4);
	}
	ck_assert_mem_eq(c1, c2, sizeof(c1));
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, 5, &d1, 1, 1025), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(blk_do(&drv2, VIRTIO_BLK_T_IN, 5, &d1, 1, 1025), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(fd_ptr(&drv, DATA, 1024), fd_ptr(&drv2, DATA, 1024), 1024);
	ck_assert_uint_eq(blk_do(&drv, VIRTIO_BLK_T_IN, SECTORS, &d1, 1, 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(blk_do(&drv2, VIRTIO_BLK_T_IN, SECTORS, &d1, 1, 1), VIRTIO_BLK_S_IOERR);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

START_TEST(test_restore_refuses_corrupt)
{
	struct state_writer w;
	uint8_t bad[64];

	save(&dev, &w);
	ck_assert_uint_le(w.len, sizeof(bad) - 1);
	for (size_t n = 0; n < w.len; n++)
		ck_assert_int_eq(restore_bytes(&dev, w.data, n), -EINVAL);
	memcpy(bad, w.data, w.len);
	bad[w.len] = 0;
	ck_assert_int_eq(restore_bytes(&dev, bad, w.len + 1), -EINVAL);	/* trailing byte */
	bad[0] ^= 1;		/* another capacity */
	ck_assert_int_eq(restore_bytes(&dev, bad, w.len), -EINVAL);
	memcpy(bad, w.data, w.len);
	bad[8] = 2;		/* another number of queues */
	ck_assert_int_eq(restore_bytes(&dev, bad, w.len), -EINVAL);
	memcpy(bad, w.data, w.len);
	bad[10] = 2;		/* not a bool */
	ck_assert_int_eq(restore_bytes(&dev, bad, w.len), -EINVAL);
	bad[10] = 1;		/* read-only: not this disk */
	ck_assert_int_eq(restore_bytes(&dev, bad, w.len), -EINVAL);
	ck_assert_int_eq(restore_bytes(&dev, w.data, w.len), 0);
	state_writer_free(&w);
}
END_TEST

static Suite *blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *rw = tcase_create("requests");
	TCase *ro = tcase_create("readonly");
	TCase *direct = tcase_create("cache_none");
	TCase *uring = tcase_create("cache_none_io_uring");
	TCase *state = tcase_create("save_restore");

	tcase_add_checked_fixture(rw, setup_rw, teardown);
	tcase_add_test(rw, test_read);
	tcase_add_test(rw, test_write_reaches_image);
	tcase_add_test(rw, test_get_id);
	tcase_add_test(rw, test_discard_write_zeroes);
	tcase_add_test(rw, test_out_of_range);
	tcase_add_test(rw, test_bad_type);
	tcase_add_test(rw, test_short_header_needs_reset);
	tcase_add_test(rw, test_no_status_byte_needs_reset);
	tcase_add_test(rw, test_config);
	suite_add_tcase(s, rw);
	tcase_add_checked_fixture(ro, setup_ro, teardown);
	tcase_add_test(ro, test_readonly_refuses_writes);
	suite_add_tcase(s, ro);
	tcase_add_checked_fixture(direct, setup_direct, teardown);
	tcase_set_timeout(direct, 30);
	tcase_add_test(direct, test_direct_reads_in_flight);
	tcase_add_test(direct, test_direct_writes);
	tcase_add_test(direct, test_direct_more_requests_than_jobs);
	tcase_add_test(direct, test_direct_save_busy);
	tcase_add_test(direct, test_direct_reset_in_flight);
	/* The same requests on io_uring (merged when they follow each other on the disk). */
	tcase_add_checked_fixture(uring, setup_direct_uring, teardown);
	tcase_add_test(uring, test_direct_reads_in_flight);
	tcase_add_test(uring, test_direct_writes);
	tcase_add_test(uring, test_direct_more_requests_than_jobs);
	suite_add_tcase(s, uring);
	suite_add_tcase(s, direct);
	tcase_add_checked_fixture(state, setup_rw, teardown);
	tcase_add_test(state, test_save_restore_round_trip);
	tcase_add_test(state, test_restore_refuses_corrupt);
	suite_add_tcase(s, state);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(blk_suite());
	int failed;

	log_threshold = LOG_ERROR;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
