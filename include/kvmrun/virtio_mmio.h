/* virtio-mmio version 2 transport (virtio 1.2, 4.2). */
#ifndef KVMRUN_VIRTIO_MMIO_H
#define KVMRUN_VIRTIO_MMIO_H

#include "kvmrun/devices.h"
#include "kvmrun/virtio.h"

#define VIRTIO_MMIO_BASE	0xfeb00000ULL	/* first device; each gets 4 KiB */
#define VIRTIO_MMIO_SIZE	0x1000
#define VIRTIO_MMIO_MAX		7

/* ISA IRQs nothing else uses; the MADT makes them level triggered, active high. */
extern const unsigned virtio_mmio_irqs[VIRTIO_MMIO_MAX];

struct virtio_mmio {
	struct virtio_device *dev;
	uint64_t base;
	struct irq_line irq;
	/* Register state. */
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t isr;
	bool irq_level;
	/* With KVM: a level-triggered irqfd and its resample eventfd (-1: use irq). */
	int irqfd, resamplefd;
	int vm_fd;
};

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		      struct irq_line irq);
/*
 * Delivers the interrupt through a KVM irqfd on irq.gsi with a resample fd:
 * KVM lowers the line at the guest's EOI and tells the device's worker, which
 * raises it again while InterruptStatus is not 0.  Before virtio_device_start.
 * 0 or -errno (then the KVM_IRQ_LINE path stays in use).
 */
int virtio_mmio_use_irqfd(struct virtio_mmio *m, int vm_fd);
void virtio_mmio_destroy(struct virtio_mmio *m);
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
