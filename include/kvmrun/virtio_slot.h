/*
 * A virtio device bound to its transport: the unit the device registry holds
 * for every virtio device.  The builder creates the device type (blk, net,
 * ...) inside a slot, then attaches the slot to virtio-mmio or virtio-pci;
 * the slot's registry ops save, restore, describe and destroy both together.
 */
#ifndef KVMRUN_VIRTIO_SLOT_H
#define KVMRUN_VIRTIO_SLOT_H

#include "kvmrun/bus.h"
#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/pci.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtio_mmio.h"
#include "kvmrun/virtio_pci.h"

struct virtio_slot {
	struct virtio_device dev;
	struct virtio_mmio mmio;
	struct virtio_pci pci;
	bool initialised;		/* dev is set up: the device type's init succeeded */
	bool mmio_bound, pci_bound;
};

/* A zeroed slot, or NULL.  Hand it to device_list_add with one of the ops below. */
struct virtio_slot *virtio_slot_alloc(void);

/* Binds the device to a 4 KiB virtio-mmio window at base, interrupting on gsi. */
int virtio_slot_attach_mmio(struct virtio_slot *s, struct bus *mmio, uint64_t base,
			    unsigned gsi, struct vm_irq irq);
/* Binds the device to a new function on bus.  Returns the slot number or -errno. */
int virtio_slot_attach_pci(struct virtio_slot *s, struct pci_bus *bus, struct vm_irq irq);

/* The virtio device in a registry entry, or NULL when it is no virtio slot. */
struct virtio_device *virtio_slot_device(const struct vm_device *vd);

extern const struct vm_device_ops virtio_mmio_slot_ops;
extern const struct vm_device_ops virtio_pci_slot_ops;

#endif
