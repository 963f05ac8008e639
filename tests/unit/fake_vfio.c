/* The fake VFIO device and memory slots (fake_vfio.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vfio.h"

#ifndef KVMRUN_FIXTURE_DIR
#define KVMRUN_FIXTURE_DIR "tests/unit/fixtures"
#endif

uint32_t fake_vfio_fixture(const char *name, uint8_t *buf, uint32_t max)
{
	char path[512];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", KVMRUN_FIXTURE_DIR, name);
	fp = fopen(path, "rb");
	if (!fp)
		return 0;
	n = fread(buf, 1, max, fp);
	fclose(fp);
	return (uint32_t)n;
}

void fake_vfio_init(struct fake_vfio *f, const uint8_t *cfg, uint32_t cfg_size,
		    const uint64_t bar_size[6])
{
	memset(f, 0, sizeof(*f));
	memcpy(f->cfg, cfg, cfg_size > FAKE_VFIO_CFG ? FAKE_VFIO_CFG : cfg_size);
	f->cfg_size = cfg_size;
	for (unsigned b = 0; b < 6; b++) {
		f->bar_size[b] = bar_size[b];
		f->bar_mmap[b] = bar_size[b] >= 4096;
		/* Big BARs get no backing: nothing in the tests touches them. */
		if (bar_size[b] && bar_size[b] <= (1u << 20))
			f->bar_mem[b] = calloc(1, bar_size[b]);
	}
	f->irqs[0] = cfg[0x3d] ? 1 : 0;
	f->irqs[1] = 1;
	f->irqs[2] = 2048;
	f->unmask_fd = -1;
	for (unsigned i = 0; i < 3; i++)
		f->trig_n[i] = -1;
}

void fake_vfio_free(struct fake_vfio *f)
{
	for (unsigned b = 0; b < 6; b++)
		free(f->bar_mem[b]);
}

static int fv_device_info(void *h, uint32_t *flags, uint32_t *nr_regions, uint32_t *nr_irqs)
{
	(void)h;
	*flags = 3;	/* RESET | PCI */
	*nr_regions = VFIO_PCI_NR_REGIONS;
	*nr_irqs = 5;
	return 0;
}

/* Region offsets in the fake "fd": index << 40, as vfio-pci lays them out. */
static int fv_region_info(void *h, unsigned index, struct vfio_region *r)
{
	struct fake_vfio *f = h;

	memset(r, 0, sizeof(*r));
	r->offset = (uint64_t)index << 40;
	if (index == VFIO_PCI_REGION_CONFIG) {
		r->size = f->cfg_size;
		r->flags = VFIO_REGION_READ | VFIO_REGION_WRITE;
	} else if (index == VFIO_PCI_REGION_ROM && f->rom) {
		r->size = f->rom_size;
		r->flags = VFIO_REGION_READ;	/* as vfio-pci offers a ROM: never writable */
	} else if (index < 6 && f->bar_size[index]) {
		r->size = f->bar_size[index];
		r->flags = VFIO_REGION_READ | VFIO_REGION_WRITE |
			   (f->bar_mmap[index] ? VFIO_REGION_MMAP : 0);
		if (f->nr_areas[index]) {
			r->nr_areas = f->nr_areas[index];
			memcpy(r->areas, f->areas[index], sizeof(r->areas));
		} else if (f->bar_mmap[index]) {
			r->nr_areas = 1;
			r->areas[0] = (struct vfio_area){ 0, r->size };
		}
	}
	return 0;
}

static ssize_t fv_region_read(void *h, const struct vfio_region *r, uint64_t off, void *buf,
			      size_t len)
{
	struct fake_vfio *f = h;
	unsigned index = (unsigned)(r->offset >> 40);

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	if (index == VFIO_PCI_REGION_CONFIG)
		memcpy(buf, f->cfg + off, len);
	else if (index == VFIO_PCI_REGION_ROM && f->rom) {
		memcpy(buf, f->rom + off, len);
		f->rom_reads++;
	} else if (index < 6 && f->bar_mem[index]) {
		memcpy(buf, f->bar_mem[index] + off, len);
		f->bar_reads[index]++;
	} else
		return -EIO;
	return (ssize_t)len;
}

static ssize_t fv_region_write(void *h, const struct vfio_region *r, uint64_t off,
			       const void *buf, size_t len)
{
	struct fake_vfio *f = h;
	unsigned index = (unsigned)(r->offset >> 40);

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	if (index == VFIO_PCI_REGION_CONFIG) {
		memcpy(f->cfg + off, buf, len);
		for (size_t i = 0; i < len; i++)
			f->cfg_wrote[off + i]++;
	} else if (index < 6 && f->bar_mem[index]) {
		memcpy(f->bar_mem[index] + off, buf, len);
		f->bar_write_off[index] = off;
		f->bar_writes[index]++;
	} else
		return -EIO;
	return (ssize_t)len;
}

static void *fv_region_mmap(void *h, const struct vfio_region *r, uint64_t off, uint64_t len)
{
	struct fake_vfio *f = h;
	unsigned index = (unsigned)(r->offset >> 40);

	if (index >= 6 || !f->bar_mem[index] || off + len > f->bar_size[index])
		return NULL;
	return f->bar_mem[index] + off;
}

static void fv_region_munmap(void *h, void *p, uint64_t len)
{
	(void)h;
	(void)p;
	(void)len;
}

static int fv_irq_count(void *h, unsigned index)
{
	struct fake_vfio *f = h;

	return index < 3 ? f->irqs[index] : 0;
}

static int fv_irq_trigger(void *h, unsigned index, unsigned start, unsigned n, const int *fds)
{
	struct fake_vfio *f = h;

	if (index >= 3 || start != 0 || n > (unsigned)f->irqs[index] || n > FAKE_VFIO_FDS)
		return -EINVAL;
	f->trig_calls[index]++;
	f->trig_n[index] = (int)n;
	for (unsigned i = 0; i < n; i++)
		f->trig_fds[index][i] = fds[i];
	return 0;
}

static int fv_irq_unmask_fd(void *h, unsigned index, int fd)
{
	struct fake_vfio *f = h;

	(void)index;
	f->unmask_fd = fd;
	return 0;
}

static int fv_reset(void *h)
{
	struct fake_vfio *f = h;

	f->resets++;
	return 0;
}

static int fv_dma_map(void *h, uint64_t iova, void *host, uint64_t size)
{
	struct fake_vfio *f = h;

	if (f->nr_dma == 8)
		return -ENOSPC;
	f->dma[f->nr_dma].iova = iova;
	f->dma[f->nr_dma].size = size;
	f->dma[f->nr_dma++].host = host;
	return 0;
}

static int fv_dma_unmap(void *h, uint64_t iova, uint64_t size)
{
	struct fake_vfio *f = h;

	(void)iova;
	(void)size;
	f->dma_unmaps++;
	return 0;
}

static void fv_close(void *h)
{
	struct fake_vfio *f = h;

	f->closed = true;
}

static const struct vfio_dev_ops fake_vfio_ops = {
	.device_info = fv_device_info,
	.region_info = fv_region_info,
	.region_read = fv_region_read,
	.region_write = fv_region_write,
	.region_mmap = fv_region_mmap,
	.region_munmap = fv_region_munmap,
	.irq_count = fv_irq_count,
	.irq_trigger = fv_irq_trigger,
	.irq_unmask_fd = fv_irq_unmask_fd,
	.reset = fv_reset,
	.dma_map = fv_dma_map,
	.dma_unmap = fv_dma_unmap,
	.close = fv_close,
};

struct vfio_dev fake_vfio_dev(struct fake_vfio *f)
{
	return (struct vfio_dev){ .ops = &fake_vfio_ops, .h = f, .iface = VFIO_IFACE_IOMMUFD };
}

static int fs_add(void *ctx, uint64_t gpa, uint64_t size, void *host)
{
	struct fake_slots *s = ctx;

	/* KVM refuses overlapping slots. */
	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++)
		if (s->s[i].used && gpa < s->s[i].gpa + s->s[i].size && s->s[i].gpa < gpa + size)
			return -EEXIST;
	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++)
		if (!s->s[i].used) {
			s->s[i] = (struct fake_slot){ true, gpa, size, host };
			s->adds++;
			return (int)i;
		}
	return -ENOSPC;
}

static void fs_remove(void *ctx, int slot)
{
	struct fake_slots *s = ctx;

	if (slot >= 0 && slot < FAKE_VFIO_SLOTS && s->s[slot].used) {
		s->s[slot].used = false;
		s->removes++;
	}
}

static const struct vm_memslot_ops fake_slot_ops = { .add = fs_add, .remove = fs_remove };

struct vm_memslots fake_slots_ops(struct fake_slots *s)
{
	return (struct vm_memslots){ .ops = &fake_slot_ops, .ctx = s };
}

const struct fake_slot *fake_slots_at(const struct fake_slots *s, uint64_t gpa)
{
	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++)
		if (s->s[i].used && s->s[i].gpa == gpa)
			return &s->s[i];
	return NULL;
}

unsigned fake_slots_count(const struct fake_slots *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++)
		n += s->s[i].used;
	return n;
}
