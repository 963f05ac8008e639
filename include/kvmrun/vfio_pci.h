/*
 * A host PCI function passed through with VFIO (devices/vfio_pci.c): the
 * guest sees the device's own configuration space with a virtualized view
 * (BARs placed by kvmrun, command register, MSI and MSI-X emulated, the
 * expansion ROM hidden unless asked for), its mmappable BAR pages as KVM
 * memory slots at the guest's BAR address, and its interrupts as irqfds.
 * All guest RAM is mapped for the device's DMA before the guest runs.  It
 * cannot be saved or migrated.
 */
#ifndef KVMRUN_VFIO_PCI_H
#define KVMRUN_VFIO_PCI_H

#include <pthread.h>

#include "kvmrun/irq.h"
#include "kvmrun/memslot.h"
#include "kvmrun/pci.h"
#include "kvmrun/vfio.h"

#define VFIO_PAGE		4096ULL
#define VFIO_MSI_MAX		32
#define VFIO_MSIX_MAX		2048
#define VFIO_MAP_MAX		(VFIO_MAX_AREAS + 2)	/* pieces per BAR after cutting out MSI-X pages */
#define PCI_CAP_ID_MSI		0x05

struct vfio_vector {
	int efd;			/* VFIO signals it, -1: none yet */
	int gsi;			/* its MSI route, -1: none yet */
	bool live;			/* irqfd assigned (unmasked and enabled) */
};

struct vfio_bar_map {
	uint64_t off, size;		/* inside the BAR */
	void *host;			/* the device's pages, mmapped */
	int slot;			/* KVM slot while mapped, else -1 */
};

struct vfio_pci {
	struct pci_function pci;
	struct vfio_dev dev;
	struct vm_irq irq;
	struct vm_memslots slots;
	char name[32];
	pthread_mutex_t lock;		/* interrupt state; taken after the bus lock */
	struct vfio_region region[VFIO_PCI_NR_REGIONS];
	uint8_t virt[PCI_CFG_SIZE];	/* 1: kvmrun answers this byte, 0: the device does */
	struct vfio_bar_map map[PCI_NR_BARS][VFIO_MAP_MAX];
	unsigned nr_map[PCI_NR_BARS];
	const struct guest_mem *mem;	/* what is DMA-mapped */
	bool dma_mapped;

	struct {
		uint8_t cap;		/* offset, 0: none */
		unsigned nr, table_bar, pba_bar;
		uint64_t table_off, pba_off;
		uint8_t *table;		/* nr x 16 bytes, as the guest wrote them */
		struct vfio_vector *vec;
		bool on;		/* VFIO's MSI-X index is set up */
	} msix;
	struct {
		uint8_t cap;
		bool is64, maskable;
		unsigned max;		/* vectors the device offers */
		unsigned nr;		/* vectors set up in VFIO, 0: off */
		struct vfio_vector vec[VFIO_MSI_MAX];
	} msi;
	struct {
		bool present, on;
		int efd, resample;
	} intx;
};

/*
 * Builds the function from the device behind dev (taken over: closed by
 * vfio_pci_destroy, also on failure): regions, BAR sizes and flags,
 * capabilities, the virtualized view, the mmap layout.  Maps all of mem for
 * DMA.  0 or -errno (logged once with name).
 */
int vfio_pci_init(struct vfio_pci *v, struct vfio_dev dev, const struct guest_mem *mem,
		  struct vm_irq irq, struct vm_memslots slots, const char *name);
/*
 * Shows the device's expansion ROM to the guest (otherwise hidden): a ROM
 * BAR sized from VFIO's ROM region, every read a region read.  Between
 * init and attach.  0, or -ENOENT (no ROM) / -E2BIG, logged.
 */
int vfio_pci_expose_rom(struct vfio_pci *v);
/* Resets the device, plugs it into bus (BARs placed), sets up INTx.  The slot or -errno. */
int vfio_pci_attach(struct vfio_pci *v, struct pci_bus *bus);
/* Back to power-on: device reset, MSI/MSI-X off, INTx on. */
void vfio_pci_reset(struct vfio_pci *v);
void vfio_pci_destroy(struct vfio_pci *v);

/*
 * The parts of a BAR of bar_size bytes that become memory slots: the
 * region's mmap areas, page-aligned inwards, minus the pages that hold the
 * nr_trap ranges (MSI-X table, PBA).  Pieces in offset order; their count.
 */
unsigned vfio_pci_mmap_layout(const struct vfio_region *r, uint64_t bar_size,
			      const struct vfio_area *trap, unsigned nr_trap,
			      struct vfio_area *out, unsigned max);

extern const struct vm_device_ops vfio_pci_device_ops;

#endif
