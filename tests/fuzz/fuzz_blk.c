/*
 * virtio-blk's request handling (virtio/blk.c) as the device's worker runs
 * it, without the worker thread: the fuzz input is the guest (its RAM, the
 * queue layout, the negotiated features) plus a script of queue
 * notifications, guest writes, config reads and resets; the disk is a small
 * memfd image.  Built three times: fuzz_blk (cache=writeback, aio=sync:
 * requests run on the worker), fuzz_blk_direct (cache=none: O_DIRECT, which
 * tmpfs takes since Linux 6.6, aio=threads: 16 I/O threads per device) and
 * fuzz_blk_uring (cache=none, aio=io_uring), whose completions are delivered
 * as the worker would; some ms per input under ASan, hence targets apart.
 *
 * Input: u8 flags (1: readonly disk, 2: EVENT_IDX, 4: INDIRECT_DESC,
 * 0x18: queues - 1), u16 image size in 8-byte units, 20 bytes of serial,
 * u16 queue size, u32 desc, avail and used addresses, 16 ops of 4 bytes
 * (op, a, u16 b), then the contents of RAM (64 KiB).
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/virtio_devices.h"

#ifndef FUZZ_BLK_CACHE_NONE
#define FUZZ_BLK_CACHE_NONE	false
#endif
#ifndef FUZZ_BLK_AIO
#define FUZZ_BLK_AIO		DISK_AIO_SYNC
#endif

#define RAM0		0x10000ULL
#define NR_OPS		16
#define WORKER_PASSES	16

enum { OP_END, OP_NOTIFY, OP_POKE, OP_CONFIG, OP_RESET, OP_COUNT };

static struct guest_mem mem;
static int image_fd = -1;
static char image_path[64];
static unsigned interrupts;

static void fake_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	FUZZ_CHECK(config || q < d->nr_queues, "interrupt for queue %u", q);
	interrupts++;
}

static const struct virtio_transport_ops fake_transport = { .interrupt = fake_interrupt };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, 0, 0);
	image_fd = memfd_create("fuzz-blk-image", MFD_CLOEXEC);
	if (image_fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
	return 0;
}

struct queue_layout {
	uint16_t num;
	uint32_t desc, avail, used;
};

/* What a driver does: features, FEATURES_OK, queue 0, DRIVER_OK (as virtio/pci.c applies it). */
static void driver_init(struct virtio_device *d, uint8_t flags, const struct queue_layout *l)
{
	struct virtq *vq = &d->vq[0];
	uint64_t drop = 0;

	if (!(flags & 2))
		drop |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (!(flags & 4))
		drop |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	d->guest_features = d->host_features & ~drop;
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK);
	vq->num = l->num;
	vq->desc_gpa = l->desc;
	vq->avail_gpa = l->avail;
	vq->used_gpa = l->used;
	if (!virtq_enable(vq, d->mem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			  virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC)))
		vq->ready = true;
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* The worker's step for a notified queue: it returns, after at most a ring's worth per round. */
static void serve(struct virtio_device *d, unsigned q)
{
	struct virtq *vq = &d->vq[q];
	uint16_t before = vq->last_avail;

	pthread_mutex_lock(&d->lock);
	virtio_serve_queue(d, q);
	pthread_mutex_unlock(&d->lock);
	FUZZ_CHECK(!vq->budget && (uint16_t)(vq->last_avail - before) <=
		   VIRTIO_SERVE_ROUNDS * (unsigned)vq->num, "popped %u in one pass of a %u ring",
		   (uint16_t)(vq->last_avail - before), vq->num);
}

/*
 * The rest of the worker's loop (virtio/device.c): what its epoll set
 * reports after the step - a queue kicked again because it was left busy,
 * I/O completions of the cache=none threads (waited for a little).
 */
static void worker(struct virtio_device *d, bool wait_io)
{
	struct epoll_event ev[8];

	for (unsigned pass = 0; pass < WORKER_PASSES; pass++) {
		int n = epoll_wait(d->epfd, ev, 8, wait_io ? 1 : 0);

		if (n < 0 && errno == EINTR)
			continue;	/* io_uring's task work */
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			unsigned q;
			uint64_t v;

			for (q = 0; q < d->nr_queues && d->notify_fd[q] != fd; q++)
				;
			if (q < d->nr_queues) {
				while (read(fd, &v, sizeof(v)) > 0)
					;
				serve(d, q);
			} else if (fd != d->stop_fd && d->ops->fd_ready) {
				pthread_mutex_lock(&d->lock);
				d->ops->fd_ready(d, fd);
				pthread_mutex_unlock(&d->lock);
			}
		}
	}
}

/* The guest reaches only the sectors it was given, and none of a read-only disk. */
static void check_image(uint64_t image_size, bool readonly)
{
	struct stat st;

	FUZZ_CHECK(!fstat(image_fd, &st) && (uint64_t)st.st_size == image_size,
		   "image of %llu bytes is now %lld", (unsigned long long)image_size,
		   (long long)st.st_size);
	/* Nothing was ever written to it: no page of the memfd holds data. */
	if (readonly && image_size)
		FUZZ_CHECK(lseek(image_fd, 0, SEEK_DATA) < 0 && errno == ENXIO,
			   "read-only image was written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct disk_config dc;
	struct queue_layout l;
	struct virtio_device d;
	uint8_t ops[NR_OPS][4];
	uint8_t flags = in_u8(&in);
	uint64_t image_size = (uint64_t)in_u16(&in) * 8;

	memset(&dc, 0, sizeof(dc));
	snprintf(dc.path, sizeof(dc.path), "%s", image_path);
	dc.readonly = flags & 1;
	dc.num_queues = 1 + ((flags >> 3) & 3);
	in_bytes(&in, dc.serial, sizeof(dc.serial) - 1);
	dc.cache_none = FUZZ_BLK_CACHE_NONE;
	dc.aio = FUZZ_BLK_AIO;
	l.num = in_u16(&in);
	l.desc = in_u32(&in);
	l.avail = in_u32(&in);
	l.used = in_u32(&in);
	in_bytes(&in, ops, sizeof(ops));
	in_bytes(&in, mem.region[0].host, RAM0);

	/* A fresh image of the asked size: all zeroes. */
	if (ftruncate(image_fd, 0) || ftruncate(image_fd, (off_t)image_size))
		abort();
	if (virtio_blk_init(&d, &dc, &mem))
		return 0;
	d.transport = &fake_transport;
	interrupts = 0;
	driver_init(&d, flags, &l);
	for (unsigned i = 0; i < NR_OPS; i++) {
		uint8_t op = ops[i][0] % OP_COUNT, arg = ops[i][1];
		uint16_t b = (uint16_t)(ops[i][2] | ops[i][3] << 8);

		if (op == OP_END)
			break;
		switch (op) {
		case OP_NOTIFY:
			serve(&d, arg % d.nr_queues);
			worker(&d, dc.aio != DISK_AIO_SYNC);
			break;
		case OP_POKE:
			((uint8_t *)mem.region[0].host)[b % RAM0] = arg;
			break;
		case OP_CONFIG: {
			/* Exact-size buffer: a config read must fill len bytes, no more. */
			uint32_t len = 1 + arg % 8;
			uint8_t *buf = malloc(len);

			if (!buf)
				abort();
			d.ops->config_read(&d, b, buf, len);
			free(buf);
			break;
		}
		case OP_RESET:
			pthread_mutex_lock(&d.lock);
			virtio_set_status(&d, 0);
			pthread_mutex_unlock(&d.lock);
			driver_init(&d, flags, &l);
			break;
		}
	}
	virtio_device_destroy(&d);
	check_image(image_size, dc.readonly);
	return 0;
}
