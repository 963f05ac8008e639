/* The VM's virtio devices: which ones the configuration asks for, and where they sit. */
#ifndef KVMRUN_VIRTIO_SETUP_H
#define KVMRUN_VIRTIO_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/config.h"

struct vm;

/* Number of virtio devices cfg asks for (disks first, then rng). */
unsigned virtio_count(const struct vm_config *cfg);

/*
 * " virtio_mmio.device=4K@0xfeb00000:5 ..." for the devices, as Linux's
 * virtio-mmio driver takes them on its command line ("" without devices).
 */
int virtio_cmdline(const struct vm_config *cfg, char *buf, size_t len);

/* Bit n set: ISA IRQ n carries a virtio-mmio device (level triggered, active high). */
uint32_t virtio_level_irqs(const struct vm_config *cfg);

int vm_create_virtio(struct vm *vm);
void vm_destroy_virtio(struct vm *vm);

#endif
