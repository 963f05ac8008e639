/*
 * The virtio-mmio transport (virtio/mmio.c), as a guest's MMIO exits drive
 * it: the 4 KiB register window at every offset and width, with the device
 * side in between (a worker that serves notified queues, device interrupts,
 * NEEDS_RESET).  Without /dev/kvm: the interrupt is a line the test records
 * (irq ops without irqfds or ioeventfds).
 *
 * Input: u8 flags (0x03: queues - 1, 0x0c: device id), then a stream of
 * operations until the input ends.
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

static int no_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
			int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	return -ENOSYS;
}

static int no_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
	return -ENOSYS;
}

static const struct vm_irq_ops line_only = {
	.set_line = irq_set, .ioeventfd = no_ioeventfd, .irqfd = no_irqfd,
};

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
	virtio_mmio_destroy(&mm);
	virtio_device_destroy(d);
	return 0;
}
