/* virtio-mmio version 2 transport (virtio 1.2, 4.2). */
#ifndef KVMRUN_VIRTIO_MMIO_H
#define KVMRUN_VIRTIO_MMIO_H

#include "kvmrun/irq.h"
#include "kvmrun/state.h"
#include "kvmrun/virtio.h"

#define VIRTIO_MMIO_BASE	0xfeb00000ULL	/* first device; each gets 4 KiB */
#define VIRTIO_MMIO_SIZE	0x1000
#define VIRTIO_MMIO_MAX		7

/* ISA IRQs nothing else uses; the MADT makes them level triggered, active high. */
extern const unsigned virtio_mmio_irqs[VIRTIO_MMIO_MAX];

struct virtio_mmio {
	struct virtio_device *dev;
	uint64_t base;
	unsigned gsi;
	struct vm_irq irq;
	/* Register state (saved). */
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t isr;
	bool irq_level;		/* the line as the guest sees it: InterruptStatus != 0 */
	/* Host side: a level-triggered irqfd and its resample eventfd (-1: ops->set_line). */
	int irqfd, resamplefd;
	bool ioeventfd[VIRTIO_MAX_QUEUES];	/* QueueNotify of q goes straight to notify_fd[q] */
};

/*
 * Binds dev to the register window at base, interrupting on gsi.  The line is
 * an irqfd with a resample fd when irq offers it (KVM lowers the line at the
 * guest's EOI and the device's worker raises it again while InterruptStatus
 * is not 0), else ops->set_line.  A write of q to QueueNotify signals the
 * device's notify_fd[q] through an ioeventfd; where none can be registered
 * the transport forwards the write itself.  Before virtio_device_start.
 * 0 or -errno.
 */
int virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		     unsigned gsi, struct vm_irq irq);
/* Releases the irqfd (after virtio_device_destroy: the worker no longer raises it). */
void virtio_mmio_destroy(struct virtio_mmio *m);
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Record: DeviceFeaturesSel, DriverFeaturesSel, QueueSel, InterruptStatus,
 * the line level, then the device model (virtio_device_save).  Quiesced
 * device.  Restore into a freshly initialised transport of the same
 * configuration checks every value, then drives the line (or irqfd) to the
 * restored level; 0 or -EINVAL (the device is then reset).
 */
int virtio_mmio_save(struct virtio_mmio *m, struct state_writer *w);
int virtio_mmio_restore(struct virtio_mmio *m, struct state_reader *r);

#endif
