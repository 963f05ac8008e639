/*
 * The worker's step for a notified queue, virtio_serve_queue()
 * (virtio/device.c), and the per-round allowance of virtq_pop() it relies
 * on: a queue is served to the end when the driver stops adding buffers,
 * and a queue that never empties - here a virtio-blk ring that the
 * device's own reads keep refilling - is left for the worker's next pass
 * instead of holding the device lock and the worker forever.
 */
#include <check.h>
#include <linux/virtio_blk.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/mem.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtio_devices.h"
#include "testlib.h"

#define RAM_SIZE	(1ULL << 20)
#define WIN		0x1000ULL	/* descriptor table, avail ring, header, indirect table */
#define AVAIL		(WIN + 0x10)
#define HDR		(WIN + 0x20)
#define TABLE		(WIN + 0x40)
#define STATUS		0x2000ULL
#define USED		0x3000ULL
#define SECTORS		65536u		/* one full turn of the 16-bit ring indexes */

static struct guest_mem mem;
static struct virtio_device dev;
static unsigned interrupts;

static void count_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	(void)d;
	(void)q;
	(void)config;
	interrupts++;
}

static const struct virtio_transport_ops transport = { .interrupt = count_interrupt };

/*
 * The 512 bytes at WIN as a driver would lay them out for one read request
 * (queue size 1): descriptor 0 points at a 3-entry indirect table (header,
 * the 512 bytes at WIN themselves as the data buffer, status byte), the
 * available ring holds head 0 with index idx, the header reads sector.
 */
static void window(uint8_t *w, uint16_t idx, uint64_t sector)
{
	struct vring_desc d0 = { TABLE, 48, VRING_DESC_F_INDIRECT, 0 };
	struct vring_desc t[3] = {
		{ HDR, 16, VRING_DESC_F_NEXT, 1 },
		{ WIN, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 },
		{ STATUS, 1, VRING_DESC_F_WRITE, 0 },
	};
	struct virtio_blk_outhdr h = { VIRTIO_BLK_T_IN, 0, sector };
	uint16_t avail[4] = { 0, idx, 0, 0 };

	memset(w, 0, 512);
	memcpy(w, &d0, sizeof(d0));
	memcpy(w + (AVAIL - WIN), avail, sizeof(avail));
	memcpy(w + (HDR - WIN), &h, sizeof(h));
	memcpy(w + (TABLE - WIN), t, sizeof(t));
}

static uint64_t notified(void)
{
	uint64_t v = 0;

	return read(dev.notify_fd[0], &v, sizeof(v)) == sizeof(v) ? v : 0;
}

/*
 * Sector k holds the window with available index k + 2 and a header for
 * sector k + 1: each read makes the next request available.  After 65536
 * sectors the ring indexes have turned once and the disk starts over: the
 * device feeds itself forever, with no vCPU involved.
 */
static void blk_setup(void)
{
	struct disk_config dc = { .num_queues = 1, .aio = DISK_AIO_SYNC };	/* completions in the round */
	static uint8_t img[512 * 64];
	int fd = memfd_create("test-disk", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	for (unsigned k = 0; k < SECTORS; k += 64) {
		for (unsigned i = 0; i < 64; i++)
			window(img + 512 * i, (uint16_t)(k + i + 2), (k + i + 1) % SECTORS);
		ck_assert_int_eq(pwrite(fd, img, sizeof(img), (off_t)k * 512), (ssize_t)sizeof(img));
	}
	snprintf(dc.path, sizeof(dc.path), "/proc/self/fd/%d", fd);
	ck_assert_int_eq(guest_mem_init(&mem, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	ck_assert_int_eq(virtio_blk_init(&dev, &dc, &mem), 0);
	close(fd);
	dev.transport = &transport;
	dev.guest_features = dev.host_features & ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtio_set_status(&dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				VIRTIO_CONFIG_S_FEATURES_OK);
	window(mem.map + WIN, 1, 0);
	dev.vq[0].num = 1;
	dev.vq[0].desc_gpa = WIN;
	dev.vq[0].avail_gpa = AVAIL;
	dev.vq[0].used_gpa = USED;
	ck_assert_int_eq(virtq_enable(&dev.vq[0], &mem, false, true), 0);
	dev.vq[0].ready = true;
	virtio_set_status(&dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	notified();	/* DRIVER_OK's catch-up kick */
	interrupts = 0;
}

static void blk_teardown(void)
{
	virtio_device_destroy(&dev);
	guest_mem_destroy(&mem);
}

/* Found while writing the fuzz workers' self-feeding check (tests/fuzz): this was served forever. */
START_TEST(test_self_feeding_queue_yields)
{
	struct virtq *vq = &dev.vq[0];

	pthread_mutex_lock(&dev.lock);
	virtio_serve_queue(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	/* One ring's worth (1) per round, then back to the worker, with the queue kicked. */
	ck_assert_uint_eq(vq->last_avail, VIRTIO_SERVE_ROUNDS);
	ck_assert_uint_eq(vq->used_idx, VIRTIO_SERVE_ROUNDS);
	ck_assert(!vq->budget);
	ck_assert(!vq->broken);
	ck_assert_uint_eq(notified(), 1);
	ck_assert_uint_gt(interrupts, 0);
	/* The next pass takes the next rounds: the queue works on, fairly. */
	pthread_mutex_lock(&dev.lock);
	virtio_serve_queue(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	ck_assert_uint_eq(vq->last_avail, 2 * VIRTIO_SERVE_ROUNDS);
	ck_assert_uint_eq(notified(), 1);
}
END_TEST

/* A driver that stops adding buffers: served to the end, notifications re-armed, no kick. */
START_TEST(test_queue_served_to_the_end)
{
	struct virtq *vq = &dev.vq[0];

	/* The disk's sector 0 now ends the chain of requests: index 2 after the first read. */
	window(mem.map + WIN, 1, SECTORS - 1);
	pthread_mutex_lock(&dev.lock);
	virtio_serve_queue(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	/* Sector 65535 says index 65537 = 1: nothing more after the first request. */
	ck_assert_uint_eq(vq->last_avail, 1);
	ck_assert_uint_eq(vq->used_idx, 1);
	ck_assert_uint_eq(notified(), 0);
	ck_assert_uint_eq(((const uint8_t *)mem.map)[STATUS], VIRTIO_BLK_S_OK);
}
END_TEST

static Suite *serve_suite(void)
{
	Suite *s = suite_create("virtio_serve");
	TCase *tc = tcase_create("serve");

	tcase_add_checked_fixture(tc, blk_setup, blk_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_self_feeding_queue_yields);
	tcase_add_test(tc, test_queue_served_to_the_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_threshold = LOG_ERROR;
	return testlib_run(serve_suite());
}
