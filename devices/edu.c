/*
 * QEMU's edu device (include/kvmrun/edu.h), written from QEMU's
 * docs/specs/edu.rst.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/edu.h"
#include "kvmrun/log.h"

#define EDU_STATE_VERSION	1
#define CLASS_OTHER		0x00ff0000u	/* unclassified, "other" */
#define MSI_CTRL		2
#define MSI_ADDR		4
#define MSI_DATA		8
#define MSI_CAP_LEN		12
#define MSI_ENABLE		0x0001

static bool msi_enabled(const struct edu *d)
{
	return d->fn.cfg[d->msi_cap + MSI_CTRL] & MSI_ENABLE;
}

static bool bus_master(const struct edu *d)
{
	return pci_cfg_read16(&d->fn, PCI_CFG_COMMAND) & PCI_CMD_MASTER;
}

/* Drives INTx from the interrupt status (lock held): level, while MSI is off. */
static void update_intx(struct edu *d)
{
	bool level = d->regs.irq_status && !msi_enabled(d);

	pci_function_set_intx_status(&d->fn, level);
	level = level && !pci_function_intx_disabled(&d->fn);
	if (level != d->intx_level) {
		d->intx_level = level;
		d->irq.ops->set_line(d->irq.ctx, pci_intx_gsi(d->fn.slot), level);
	}
}

/* Programs the MSI route from the capability (lock held); a disabled MSI keeps none. */
static void update_msi_route(struct edu *d)
{
	uint64_t addr = msi_enabled(d) ? pci_cfg_read32(&d->fn, d->msi_cap + MSI_ADDR) : 0;

	if (d->msi_gsi >= 0)
		d->irq.ops->msi_route(d->irq.ctx, (unsigned)d->msi_gsi, addr,
				      pci_cfg_read16(&d->fn, d->msi_cap + MSI_DATA));
}

/* Sets status bits (lock held): an MSI per raise, or INTx up. */
static void raise_irq(struct edu *d, uint32_t bits)
{
	d->regs.irq_status |= bits;
	if (msi_enabled(d)) {
		/* MSI is a memory write: without bus mastering it is not sent. */
		if (d->msi_gsi >= 0 && bus_master(d) && bits) {
			d->irq.ops->set_line(d->irq.ctx, (unsigned)d->msi_gsi, 1);
			d->irq.ops->set_line(d->irq.ctx, (unsigned)d->msi_gsi, 0);
		}
		return;
	}
	update_intx(d);
}

/* n! modulo 2^32; from 34 on it has 32 factors of two, so it is 0 (and the loop stays short). */
static uint32_t factorial(uint32_t n)
{
	uint32_t f = 1;

	if (n >= 34)
		return 0;
	for (uint32_t i = 2; i <= n; i++)
		f *= i;
	return f;
}

/* The DMA engine (lock held): one transfer between RAM (or IOVA) and the buffer. */
static void run_dma(struct edu *d)
{
	bool to_ram = d->regs.dma_cmd & EDU_DMA_FROM_DEV;
	uint64_t ram = to_ram ? d->regs.dma_dst : d->regs.dma_src;
	uint64_t dev = to_ram ? d->regs.dma_src : d->regs.dma_dst;
	uint64_t cnt = d->regs.dma_cnt;
	int ret = -EFAULT;

	if (bus_master(d) && dev >= EDU_DMA_BUF && cnt <= EDU_DMA_BUF_SIZE &&
	    dev - EDU_DMA_BUF <= EDU_DMA_BUF_SIZE - cnt) {
		uint8_t *b = d->regs.buf + (dev - EDU_DMA_BUF);

		if (!cnt)
			ret = 0;
		else if (d->iommu)
			ret = vtd_dma_rw(d->iommu, edu_sid(d), ram, b, cnt, to_ram);
		else if (!guest_mem_ptr(d->mem, ram, cnt))
			ret = -EFAULT;
		else
			ret = to_ram ? guest_mem_write(d->mem, ram, b, cnt) :
				       guest_mem_read(d->mem, ram, b, cnt);
	}
	d->regs.dma_cmd &= ~(uint64_t)EDU_DMA_START;
	if (ret) {
		if (!d->dma_faults++)
			log_warn("edu: DMA of %llu bytes at 0x%llx failed: nothing moved",
				 (unsigned long long)cnt, (unsigned long long)ram);
		return;
	}
	if (d->regs.dma_cmd & EDU_DMA_IRQ)
		raise_irq(d, EDU_IRQ_DMA);
}

static uint64_t reg_read(struct edu *d, uint64_t off)
{
	switch (off) {
	case EDU_ID:
		return EDU_ID_VALUE;
	case EDU_ALIVE:
		return ~d->regs.alive;
	case EDU_FACT:
		return d->regs.fact;
	case EDU_STATUS:
		return d->regs.status;
	case EDU_IRQ_STATUS:
		return d->regs.irq_status;
	case EDU_DMA_SRC:
		return d->regs.dma_src;
	case EDU_DMA_DST:
		return d->regs.dma_dst;
	case EDU_DMA_CNT:
		return d->regs.dma_cnt;
	case EDU_DMA_CMD:
		return d->regs.dma_cmd;
	}
	return ~0ull;
}

static void reg_write(struct edu *d, uint64_t off, uint64_t val, uint32_t len)
{
	switch (off) {
	case EDU_ALIVE:
		d->regs.alive = (uint32_t)val;
		break;
	case EDU_FACT:
		if (d->regs.status & EDU_STATUS_COMPUTING)
			break;
		/* Computed at once: the computing bit is never seen set. */
		d->regs.fact = factorial((uint32_t)val);
		if (d->regs.status & EDU_STATUS_IRQ_FACT)
			raise_irq(d, EDU_IRQ_FACT);
		break;
	case EDU_STATUS:
		d->regs.status = (d->regs.status & EDU_STATUS_COMPUTING) |
				 ((uint32_t)val & EDU_STATUS_IRQ_FACT);
		break;
	case EDU_IRQ_RAISE:
		raise_irq(d, (uint32_t)val);
		break;
	case EDU_IRQ_ACK:
		d->regs.irq_status &= ~(uint32_t)val;
		update_intx(d);
		break;
	case EDU_DMA_SRC:
	case EDU_DMA_DST:
	case EDU_DMA_CNT: {
		uint64_t *r = off == EDU_DMA_SRC ? &d->regs.dma_src :
			      off == EDU_DMA_DST ? &d->regs.dma_dst : &d->regs.dma_cnt;

		*r = len == 8 ? val : (*r & ~0xffffffffull) | (uint32_t)val;
		break;
	}
	case EDU_DMA_SRC + 4:
	case EDU_DMA_DST + 4:
	case EDU_DMA_CNT + 4: {
		uint64_t *r = off == EDU_DMA_SRC + 4 ? &d->regs.dma_src :
			      off == EDU_DMA_DST + 4 ? &d->regs.dma_dst : &d->regs.dma_cnt;

		*r = (*r & 0xffffffffull) | val << 32;
		break;
	}
	case EDU_DMA_CMD:
		/* A command while one runs is ignored; none runs past its write here. */
		d->regs.dma_cmd = val & (EDU_DMA_START | EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
		if (d->regs.dma_cmd & EDU_DMA_START)
			run_dma(d);
		break;
	}
}

static void bar_io(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct edu *d = f->opaque;
	uint64_t v = 0;

	if (bar != 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (off >= EDU_DMA_BUF && off - EDU_DMA_BUF < EDU_DMA_BUF_SIZE &&
	    len <= EDU_DMA_BUF + EDU_DMA_BUF_SIZE - off) {
		/* The buffer: any size the guest likes. */
		if (is_write)
			memcpy(d->regs.buf + (off - EDU_DMA_BUF), data, len);
		else
			memcpy(data, d->regs.buf + (off - EDU_DMA_BUF), len);
	} else if ((len == 4 || (len == 8 && off >= EDU_DMA_SRC)) && !(off & (len - 1))) {
		/* Registers: 32-bit accesses, and 64-bit ones from 0x80 on. */
		if (is_write) {
			memcpy(&v, data, len);
			reg_write(d, off, v, len);
		} else {
			if (off & 4 && off >= EDU_DMA_SRC)
				v = reg_read(d, off - 4) >> 32;
			else
				v = reg_read(d, off);
			memcpy(data, &v, len);
		}
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&d->lock);
}

static void config_write(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct edu *d = f->opaque;

	(void)off;
	(void)len;
	/* MSI enable, address, data and the command register's INTx disable all matter. */
	pthread_mutex_lock(&d->lock);
	update_msi_route(d);
	update_intx(d);
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_function_ops edu_fn_ops = {
	.bar_io = bar_io,
	.config_write = config_write,
};

int edu_init(struct edu *d, const struct guest_mem *mem, struct vtd *iommu, struct vm_irq irq)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->mem = mem;
	d->iommu = iommu;
	d->irq = irq;
	d->msi_gsi = irq.ops->msi_alloc(irq.ctx);
	if (d->msi_gsi < 0) {
		pthread_mutex_destroy(&d->lock);
		return d->msi_gsi;
	}
	pci_function_init(&d->fn, EDU_VENDOR, EDU_DEVICE, CLASS_OTHER, 0, 0, &edu_fn_ops, d);
	d->fn.cfg[PCI_CFG_REVISION] = EDU_REVISION;
	pci_function_add_bar(&d->fn, 0, EDU_BAR_SIZE);
	d->msi_cap = pci_function_add_cap(&d->fn, PCI_CAP_ID_MSI, MSI_CAP_LEN);
	if (!d->msi_cap) {
		pthread_mutex_destroy(&d->lock);
		return -ENOSPC;
	}
	/* One vector, 32-bit address: only enable, the address and the data are writable. */
	pci_function_wmask(&d->fn, d->msi_cap + MSI_CTRL, 2, MSI_ENABLE);
	pci_function_wmask(&d->fn, d->msi_cap + MSI_ADDR, 4, 0xfffffffcu);
	pci_function_wmask(&d->fn, d->msi_cap + MSI_DATA, 2, 0xffff);
	return 0;
}

void edu_destroy(struct edu *d)
{
	pthread_mutex_destroy(&d->lock);
}

/* ---- save, restore, reset ---- */

int edu_save(const struct edu *d, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&d->lock;
	const struct edu_regs *r = &d->regs;

	pci_function_save(&d->fn, w);
	pthread_mutex_lock(lock);
	state_put_u32(w, r->alive);
	state_put_u32(w, r->fact);
	state_put_u32(w, r->status);
	state_put_u32(w, r->irq_status);
	state_put_u64(w, r->dma_src);
	state_put_u64(w, r->dma_dst);
	state_put_u64(w, r->dma_cnt);
	state_put_u64(w, r->dma_cmd);
	state_put_bytes(w, r->buf, sizeof(r->buf));
	pthread_mutex_unlock(lock);
	return w->err;
}

int edu_restore(struct edu *d, struct state_reader *rd, uint16_t version)
{
	struct edu_regs *n;
	int ret;

	if (version != EDU_STATE_VERSION)
		return -EINVAL;
	ret = pci_function_restore(&d->fn, rd);
	if (ret)
		return ret;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->alive = state_get_u32(rd);
	n->fact = state_get_u32(rd);
	n->status = state_get_u32(rd);
	n->irq_status = state_get_u32(rd);
	n->dma_src = state_get_u64(rd);
	n->dma_dst = state_get_u64(rd);
	n->dma_cnt = state_get_u64(rd);
	n->dma_cmd = state_get_u64(rd);
	state_get_bytes(rd, n->buf, sizeof(n->buf));
	if (!rd->err && state_reader_finish(rd))
		state_reader_fail(rd);
	/* Nothing is ever in flight, and only the interrupt-enable bit is the guest's. */
	if (!rd->err && ((n->status & ~(uint32_t)EDU_STATUS_IRQ_FACT) ||
			 (n->dma_cmd & ~(uint64_t)(EDU_DMA_FROM_DEV | EDU_DMA_IRQ))))
		state_reader_fail(rd);
	pthread_mutex_lock(&d->lock);
	if (rd->err)
		memset(&d->regs, 0, sizeof(d->regs));
	else
		d->regs = *n;
	update_msi_route(d);
	update_intx(d);
	pthread_mutex_unlock(&d->lock);
	free(n);
	return rd->err;
}

void edu_reset(struct edu *d)
{
	pthread_mutex_lock(&d->lock);
	memset(&d->regs, 0, sizeof(d->regs));
	update_intx(d);
	pthread_mutex_unlock(&d->lock);
}

static int edu_ops_save(void *dev, struct state_writer *w)
{
	return edu_save(dev, w);
}

static int edu_ops_restore(void *dev, struct state_reader *r, uint16_t version)
{
	return edu_restore(dev, r, version);
}

static void edu_ops_reset(void *dev)
{
	edu_reset(dev);
}

/* A function the VT-d unit translates goes into the DMAR table's device scopes. */
static int edu_ops_describe(void *dev, struct machine_desc *m)
{
	struct edu *d = dev;

	if (!d->iommu)
		return 0;
	if (m->dmar.nr_devs >= MACHINE_DMAR_DEVS)
		return -E2BIG;
	m->dmar.devfn[m->dmar.nr_devs++] = (uint8_t)edu_sid(d);
	return 0;
}

static void edu_ops_destroy(void *dev)
{
	edu_destroy(dev);
	free(dev);
}

const struct vm_device_ops edu_device_ops = {
	.kind = "edu",
	.state_version = EDU_STATE_VERSION,
	.save = edu_ops_save,
	.restore = edu_ops_restore,
	.reset = edu_ops_reset,
	.describe = edu_ops_describe,
	.destroy = edu_ops_destroy,
};
