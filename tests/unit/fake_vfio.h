/*
 * A fake VFIO device behind struct vfio_dev_ops and a fake struct
 * vm_memslots, for the vfio-pci unit tests and fuzz target: the device is a
 * configuration space (a fixture), BAR regions of given sizes backed by
 * host memory, IRQ counts; every call is recorded.
 */
#ifndef FAKE_VFIO_H
#define FAKE_VFIO_H

#include "kvmrun/vfio_pci.h"

#define FAKE_VFIO_CFG		4096
#define FAKE_VFIO_SLOTS		32
#define FAKE_VFIO_FDS		64

struct fake_vfio {
	uint8_t cfg[FAKE_VFIO_CFG];	/* the device's config region */
	uint32_t cfg_size;
	uint8_t cfg_wrote[FAKE_VFIO_CFG];	/* how many writes reached each byte */
	uint64_t bar_size[6];
	bool bar_mmap[6];
	unsigned nr_areas[6];		/* sparse-mmap areas, 0: the whole region */
	struct vfio_area areas[6][VFIO_MAX_AREAS];
	uint8_t *bar_mem[6];		/* what region_mmap hands out */
	uint64_t bar_write_off[6];	/* last trapped region write */
	unsigned bar_writes[6], bar_reads[6];
	const uint8_t *rom;		/* the expansion ROM region (read-only), NULL: none */
	uint64_t rom_size;
	unsigned rom_reads;
	int irqs[3];			/* INTx, MSI, MSI-X vector counts */
	/* The last VFIO_DEVICE_SET_IRQS per index. */
	int trig_n[3];
	int trig_fds[3][FAKE_VFIO_FDS];
	unsigned trig_calls[3];
	int unmask_fd;
	unsigned resets;
	struct { uint64_t iova, size; void *host; } dma[8];
	unsigned nr_dma, dma_unmaps;
	bool closed;
};

struct fake_slot {
	bool used;
	uint64_t gpa, size;
	void *host;
};

struct fake_slots {
	struct fake_slot s[FAKE_VFIO_SLOTS];
	unsigned adds, removes;
};

/* Loads fixture (a config space file) into f; bar sizes as given; every BAR mmappable. */
void fake_vfio_init(struct fake_vfio *f, const uint8_t *cfg, uint32_t cfg_size,
		    const uint64_t bar_size[6]);
/* Reads tests/unit/fixtures/NAME; returns its size (0: missing). */
uint32_t fake_vfio_fixture(const char *name, uint8_t *buf, uint32_t max);
void fake_vfio_free(struct fake_vfio *f);
struct vfio_dev fake_vfio_dev(struct fake_vfio *f);
struct vm_memslots fake_slots_ops(struct fake_slots *s);
/* The slot mapped at gpa, or NULL. */
const struct fake_slot *fake_slots_at(const struct fake_slots *s, uint64_t gpa);
unsigned fake_slots_count(const struct fake_slots *s);

#endif
