/*
 * QEMU's educational PCI device "edu" (1234:11e8, revision 0x10; QEMU's
 * docs/specs/edu.rst): BAR 0 is 1 MiB of registers - identification,
 * liveness check, factorial, interrupt status/raise/acknowledge and a DMA
 * engine with a 4 KiB buffer at EDU_DMA_BUF - and it interrupts through an
 * MSI capability (32-bit address, one vector) or INTx pin A.  Factorials
 * and DMAs complete within the register write that starts them.  DMA goes
 * through the VT-d unit when one translates for it, else straight to guest
 * RAM; either way a bad address moves nothing.
 */
#ifndef KVMRUN_EDU_H
#define KVMRUN_EDU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/mem.h"
#include "kvmrun/pci.h"
#include "kvmrun/state.h"
#include "kvmrun/vtd.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_REVISION		0x10
#define EDU_BAR_SIZE		(1u << 20)

#define EDU_ID			0x00	/* RO: 0x010000ed */
#define EDU_ALIVE		0x04	/* reads back the inverse of what was written */
#define EDU_FACT		0x08
#define EDU_STATUS		0x20
#define EDU_IRQ_STATUS		0x24
#define EDU_IRQ_RAISE		0x60
#define EDU_IRQ_ACK		0x64
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_BUF		0x40000
#define EDU_DMA_BUF_SIZE	4096

#define EDU_ID_VALUE		0x010000edu
#define EDU_STATUS_COMPUTING	0x01
#define EDU_STATUS_IRQ_FACT	0x80
#define EDU_IRQ_FACT		0x001	/* interrupt status bit of a finished factorial */
#define EDU_IRQ_DMA		0x100	/* ... of a finished DMA */
#define EDU_DMA_START		0x1
#define EDU_DMA_FROM_DEV	0x2	/* direction: buffer to RAM */
#define EDU_DMA_IRQ		0x4

#define PCI_CAP_ID_MSI		0x05

struct edu_regs {
	uint32_t alive, fact, status, irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
	uint8_t buf[EDU_DMA_BUF_SIZE];
};

struct edu {
	pthread_mutex_t lock;		/* regs and the interrupt state below */
	struct pci_function fn;
	struct edu_regs regs;
	const struct guest_mem *mem;
	struct vtd *iommu;		/* translates its DMA when not NULL */
	struct vm_irq irq;
	int msi_gsi;			/* its MSI's GSI, -1 without one */
	uint8_t msi_cap;		/* config offset of the MSI capability */
	bool intx_level;		/* what the INTx line is driven to now */
	unsigned dma_faults;		/* DMAs that moved nothing (log once) */
};

/*
 * Sets up the function (not yet on a bus) and allocates its MSI GSI.
 * iommu may be NULL.  0 or -errno.
 */
int edu_init(struct edu *d, const struct guest_mem *mem, struct vtd *iommu, struct vm_irq irq);
void edu_destroy(struct edu *d);
/* Its requester id on bus 0. */
static inline uint16_t edu_sid(const struct edu *d)
{
	return (uint16_t)(d->fn.slot << 3);
}

int edu_save(const struct edu *d, struct state_writer *w);
int edu_restore(struct edu *d, struct state_reader *r, uint16_t version);
void edu_reset(struct edu *d);
extern const struct vm_device_ops edu_device_ops;

#endif
