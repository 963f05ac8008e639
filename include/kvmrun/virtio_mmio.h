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
};

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		      struct irq_line irq);
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
