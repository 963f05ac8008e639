/*
 * The virtio-mmio transport (virtio/mmio.c), as a guest's MMIO exits drive
 * it: the 4 KiB register window at every offset and width, with the device
 * side in between (a worker that serves notified queues, device interrupts,
 * NEEDS_RESET).  Without /dev/kvm: the interrupt is a line the test records
 * (irq ops without irqfds or ioeventfds).
 *
 * Input: u8 flags (0x03: queues - 1, 0x0c: device id), then a stream of
 * operations until the input ends.  At the end the transport's record must
 * restore into a fresh one that saves the same bytes, and a record with one
 * byte changed must be refused or, when taken, saved back unchanged.
 */
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_vdev.h"
#include "kvmrun/virtio_mmio.h"

#define RAM0		0x10000ULL
#define MAX_OPS		512

enum { OP_WRITE, OP_READ, OP_REG_WRITE, OP_REG_READ, OP_WORKER, OP_INTERRUPT, OP_POKE,
       OP_NEEDS_RESET, OP_COUNT };

static struct guest_mem mem;
static struct fuzz_vdev vdev;
static struct virtio_mmio mm;
static int line_level;

static void irq_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	FUZZ_CHECK(gsi == virtio_mmio_irqs[0], "irq %u", gsi);
	FUZZ_CHECK(level != line_level, "line set to %d twice", level);
	line_level = level;
}

static const struct vm_irq_ops line_only = {
	.set_line = irq_set, .ioeventfd = fuzz_no_ioeventfd, .irqfd = fuzz_no_irqfd,
};

/* The restore targets' line: only where it ends up matters. */
static int twin_level;

static void twin_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx, (void)gsi;
	twin_level = level;
}

static const struct vm_irq_ops twin_ops = {
	.set_line = twin_set, .ioeventfd = fuzz_no_ioeventfd, .irqfd = fuzz_no_irqfd,
};

static struct fuzz_vdev twin;
static struct virtio_mmio twin_mm;

/* Restores rec into a fresh transport like mm; 0 or -EINVAL; on 0, *again is its record. */
static int restore_fresh(const struct state_writer *rec, struct state_writer *again)
{
	struct virtio_device *d = &vdev.dev;
	struct state_reader r;
	int ret;

	fuzz_vdev_init(&twin, d->device_id, d->nr_queues, vdev.cfg_window, &mem);
	twin_level = 0;
	if (virtio_mmio_init(&twin_mm, &twin.dev, VIRTIO_MMIO_BASE, virtio_mmio_irqs[0],
			     (struct vm_irq){ &twin_ops, NULL }))
		abort();
	state_reader_init(&r, rec->data, rec->len);
	ret = virtio_mmio_restore(&twin_mm, &r);
	if (!ret)
		ret = state_reader_finish(&r);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL, "restore returned %d", ret);
	if (!ret) {
		state_writer_init(again);
		FUZZ_CHECK(!virtio_mmio_save(&twin_mm, again), "save after restore");
		FUZZ_CHECK(twin_level == (twin_mm.isr != 0), "restored line %d, InterruptStatus 0x%x",
			   twin_level, twin_mm.isr);
	}
	virtio_mmio_destroy(&twin_mm);
	virtio_device_destroy(&twin.dev);
	return ret;
}

static void check_save_restore(const uint8_t *data, size_t size)
{
	struct state_writer w, again;

	state_writer_init(&w);
	FUZZ_CHECK(!virtio_mmio_save(&mm, &w), "save");
	FUZZ_CHECK(restore_fresh(&w, &again) == 0, "a saved record was refused");
	FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
		   "the record changed through a restore");
	state_writer_free(&again);
	/* One byte changed: refused, or taken exactly as it is. */
	w.data[size % w.len] ^= (uint8_t)(data[0] | 1);
	if (!restore_fresh(&w, &again)) {
		FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
			   "an accepted record did not come back as it was");
		state_writer_free(&again);
	}
	state_writer_free(&w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, 0, 0);
	return 0;
}

/* An access through an exact-size buffer (ASan sees a handler that writes past len). */
static void io(uint64_t off, uint32_t len, uint64_t val, bool is_write)
{
	uint8_t *b = malloc(len);

	if (!b)
		abort();
	memcpy(b, &val, len);
	virtio_mmio_io(&mm, off, b, len, is_write);
	if (!is_write && len == 4 && off == VIRTIO_MMIO_MAGIC_VALUE)
		FUZZ_CHECK(!memcmp(b, "virt", 4), "magic");
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t widths[] = { 1, 2, 4, 8 };
	struct fuzz_in in = { data, size };
	struct virtio_device *d = &vdev.dev;
	uint8_t flags = in_u8(&in);

	fuzz_mem_clear(&mem);
	line_level = 0;
	fuzz_vdev_init(&vdev, 1 + ((flags >> 2) & 3), 1 + (flags & 3),
		       VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG, &mem);
	if (virtio_mmio_init(&mm, d, VIRTIO_MMIO_BASE, virtio_mmio_irqs[0],
			     (struct vm_irq){ &line_only, NULL }))
		abort();

	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = in_u8(&in) % OP_COUNT;

		switch (op) {
		case OP_WRITE:
		case OP_READ: {
			uint64_t off = in_u16(&in) % VIRTIO_MMIO_SIZE;
			uint32_t len = widths[in_u8(&in) % 4];
			uint64_t v = in_u64(&in);

			/* The MMIO bus hands over only accesses inside the 4 KiB window. */
			if (off + len <= VIRTIO_MMIO_SIZE)
				io(off, len, v, op == OP_WRITE);
			break;
		}
		case OP_REG_WRITE:
		case OP_REG_READ: {
			uint64_t off = (in_u8(&in) * 4u) % VIRTIO_MMIO_CONFIG;

			io(off, 4, in_u32(&in), op == OP_REG_WRITE);
			break;
		}
		case OP_WORKER:
			fuzz_vdev_worker(&vdev);
			break;
		case OP_INTERRUPT: {
			uint8_t a = in_u8(&in);

			pthread_mutex_lock(&d->lock);
			d->transport->interrupt(d, a % d->nr_queues, a & 0x80);
			pthread_mutex_unlock(&d->lock);
			break;
		}
		case OP_POKE: {
			uint16_t off = in_u16(&in);

			((uint8_t *)mem.region[0].host)[off % RAM0] = in_u8(&in);
			break;
		}
		case OP_NEEDS_RESET:
			pthread_mutex_lock(&d->lock);
			virtio_needs_reset(d, "fuzz");
			pthread_mutex_unlock(&d->lock);
			break;
		}
		/* A level-triggered line: up exactly while InterruptStatus has bits. */
		FUZZ_CHECK(line_level == (mm.isr != 0), "line %d with InterruptStatus 0x%x",
			   line_level, mm.isr);
	}
	if (size)
		check_save_restore(data, size);
	virtio_mmio_destroy(&mm);
	virtio_device_destroy(d);
	return 0;
}
