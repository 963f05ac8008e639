/*
 * virtio-pci, modern layout only (virtio 1.2, 4.1): a PCI function with
 * vendor 0x1af4 and device 0x1040 + the virtio device id, whose BAR 0 holds
 * the common configuration, ISR, device configuration and notification
 * regions plus the MSI-X table and PBA.  Queue notifications reach the
 * device's eventfds through ioeventfds; every MSI-X vector is an irqfd
 * bound to its own GSI, routed when the guest programs the vector; all of it
 * through the VM's irq ops (kvmrun/irq.h).  While MSI-X is off, interrupts
 * go out on INTx (pin A, level triggered, 4.1.4.5): the line is up while
 * the ISR has a bit and the command register allows it; reading the ISR
 * clears it.  The line is an irqfd with a resample fd (KVM lowers it at the
 * guest's EOI and the worker raises it again if the ISR still has a bit), or,
 * without irqfds, the irqchip input set through the irq ops.
 */
#ifndef KVMRUN_VIRTIO_PCI_H
#define KVMRUN_VIRTIO_PCI_H

#include "kvmrun/irq.h"
#include "kvmrun/pci.h"
#include "kvmrun/virtio.h"

/* BAR 0 layout. */
#define VPCI_BAR_SIZE		0x8000
#define VPCI_COMMON_OFF		0x0000
#define VPCI_COMMON_LEN		0x38
#define VPCI_ISR_OFF		0x1000
#define VPCI_ISR_LEN		4
#define VPCI_DEVCFG_OFF		0x2000
#define VPCI_DEVCFG_LEN		0x1000
#define VPCI_NOTIFY_OFF		0x3000
#define VPCI_NOTIFY_MULT	4
#define VPCI_MSIX_TABLE_OFF	0x4000
#define VPCI_MSIX_PBA_OFF	0x5000
#define VPCI_MAX_VECTORS	(VIRTIO_MAX_QUEUES + 1)	/* one per queue, one for config */
#define VPCI_NO_VECTOR		0xffff

struct vpci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct pci_function pci;
	struct virtio_device *dev;
	struct vm_irq irq;
	/* Common configuration state (the device lock guards all of the below). */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	/* MSI-X */
	unsigned nr_vectors;
	bool msix_enabled, msix_masked;	/* mirrors of the capability's control bits */
	struct vpci_msix_entry table[VPCI_MAX_VECTORS];
	uint32_t pending;		/* PBA bits */
	/* Host side: each vector's irqfd and GSI, and the route last given for it. */
	int irqfd[VPCI_MAX_VECTORS];
	unsigned gsi[VPCI_MAX_VECTORS];
	bool routed[VPCI_MAX_VECTORS];
	uint64_t routed_addr[VPCI_MAX_VECTORS];
	uint32_t routed_data[VPCI_MAX_VECTORS];
	uint8_t msix_cap, cfg_cap;	/* capability offsets in config space */
	/* Host side. */
	bool ioeventfds;		/* registered at the BAR's current address */
	unsigned intx_gsi;		/* the IOAPIC input INTx is wired to (set at pci_bus_add) */
	int intx_fd, intx_resample_fd;	/* -1: no irqfd, the line is set directly */
	bool intx_attached;		/* virtio_pci_attach_intx wired it (else INTx stays silent) */
	bool intx_level;		/* the line as set directly */
	bool intx_used;			/* logged the first time INTx went up */
};

/*
 * Binds dev to a new virtio-pci function: capabilities, MSI-X vectors with
 * their GSIs (irq.ops->msi_alloc) and irqfds.  The notification ioeventfds
 * are registered whenever BAR 0 starts decoding (pci_bus_add, guest moves);
 * where they cannot be, the BAR handler forwards notifications.  0 or -errno.
 */
int virtio_pci_init(struct virtio_pci *p, struct virtio_device *dev, struct vm_irq irq);
/*
 * Wires INTx to the IOAPIC input gsi (after pci_bus_add, before the guest
 * runs): a level-triggered irqfd with a resample fd the worker watches, or
 * the line set directly when irqfds are missing.  0 or -errno.
 */
int virtio_pci_attach_intx(struct virtio_pci *p, unsigned gsi);
/* Releases the irqfds (after virtio_device_destroy: the worker no longer fires them). */
void virtio_pci_destroy(struct virtio_pci *p);

/*
 * Record: the PCI function (pci_function_save), the feature and queue
 * selectors, config and queue vectors, ISR, MSI-X enable and function mask,
 * each vector's table entry, the PBA, then the device model
 * (virtio_device_save).  Quiesced device and bus.  Restore into a freshly
 * initialised transport on the same bus checks every value (vectors in
 * range, mask bits, the mirrors against the MSI-X capability), lets the
 * ioeventfds follow BAR 0 and routes every vector that can fire again
 * (irq.ops->msi_route); pending bits stay pending; with MSI-X off a
 * restored ISR raises INTx again.  0 or -EINVAL (the device is then reset).
 */
int virtio_pci_save(struct virtio_pci *p, struct state_writer *w);
int virtio_pci_restore(struct virtio_pci *p, struct state_reader *r);

#endif
