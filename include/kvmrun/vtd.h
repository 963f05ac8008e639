/*
 * An Intel VT-d remapping unit ("intel-iommu"), as the Intel Virtualization
 * Technology for Directed I/O specification describes it: version 1.0
 * registers at VTD_BASE, legacy-mode root and context tables, second-level
 * page tables of 3 or 4 levels (2 MiB and 1 GiB superpages), fault recording
 * (one register, with its fault event interrupt), queued invalidation (its
 * completion interrupt too) and, with intremap, interrupt remapping of MSIs.  It caches nothing: every DMA walks the tables and
 * every invalidation completes at once.
 *
 * Interrupt remapping wraps the VM's vm_irq: vtd_irq() hands devices ops
 * whose msi_route records (gsi -> addr, data) and installs the translated
 * message; a change the translation depends on (IRE, SIRTP, CFI, an IEC
 * invalidation) translates every recorded route again.  Source-ID
 * verification is not done (the IRTE's SID fields are ignored).
 */
#ifndef KVMRUN_VTD_H
#define KVMRUN_VTD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/mem.h"
#include "kvmrun/state.h"

#define VTD_BASE		0xfed90000ULL	/* Q35's DMAR unit, where kvm-unit-tests looks */
#define VTD_SIZE		0x1000

/* Register offsets (VT-d spec, chapter 10). */
#define VTD_VER			0x00
#define VTD_CAP			0x08
#define VTD_ECAP		0x10
#define VTD_GCMD		0x18
#define VTD_GSTS		0x1c
#define VTD_RTADDR		0x20
#define VTD_CCMD		0x28
#define VTD_FSTS		0x34
#define VTD_FECTL		0x38
#define VTD_FEDATA		0x3c
#define VTD_FEADDR		0x40
#define VTD_FEUADDR		0x44
#define VTD_IQH			0x80
#define VTD_IQT			0x88
#define VTD_IQA			0x90
#define VTD_ICS			0x9c
#define VTD_IECTL		0xa0
#define VTD_IEDATA		0xa4
#define VTD_IEADDR		0xa8
#define VTD_IEUADDR		0xac
#define VTD_IRTA		0xb8
#define VTD_IVA			0x200	/* ECAP.IRO * 16 */
#define VTD_IOTLB		0x208
#define VTD_FRCD		0x220	/* CAP.FRO * 16: the one fault recording register */

/* GCMD (command) and GSTS (status) bits. */
#define VTD_GCMD_TE		(1u << 31)
#define VTD_GCMD_SRTP		(1u << 30)
#define VTD_GCMD_SFL		(1u << 29)
#define VTD_GCMD_EAFL		(1u << 28)
#define VTD_GCMD_WBF		(1u << 27)
#define VTD_GCMD_QIE		(1u << 26)
#define VTD_GCMD_IRE		(1u << 25)
#define VTD_GCMD_SIRTP		(1u << 24)
#define VTD_GCMD_CFI		(1u << 23)

/* FSTS bits. */
#define VTD_FSTS_PFO		(1u << 0)
#define VTD_FSTS_PPF		(1u << 1)
#define VTD_FSTS_IQE		(1u << 4)
#define VTD_FSTS_ICE		(1u << 5)
#define VTD_FSTS_ITE		(1u << 6)
#define VTD_FECTL_IM		(1u << 31)
#define VTD_FECTL_IP		(1u << 30)
#define VTD_ICS_IWC		1u

/* Fault reasons (VT-d spec, appendix A) this unit records. */
#define VTD_FR_ROOT_NP		0x01
#define VTD_FR_CTX_NP		0x02
#define VTD_FR_CTX_INVALID	0x03
#define VTD_FR_BEYOND_AW	0x04
#define VTD_FR_WRITE		0x05
#define VTD_FR_READ		0x06
#define VTD_FR_PTE_ACCESS	0x07
#define VTD_FR_ROOT_ACCESS	0x08
#define VTD_FR_CTX_ACCESS	0x09
#define VTD_FR_PTE_RSVD		0x0c
#define VTD_FR_IR_INDEX		0x21
#define VTD_FR_IR_NP		0x22
#define VTD_FR_IR_ACCESS	0x23
#define VTD_FR_IR_RSVD		0x24
#define VTD_FR_IR_COMPAT	0x25

/* Second-level page-table entry bits. */
#define VTD_PTE_R		(1ull << 0)
#define VTD_PTE_W		(1ull << 1)
#define VTD_PTE_PS		(1ull << 7)
#define VTD_PTE_ADDR		0x000ffffffffff000ull

/* MSI address bit 4: the interrupt is in remappable format. */
#define VTD_MSI_REMAPPABLE	(1u << 4)

/* GSIs whose MSI routes the wrapper records: every one KVM routing hands out. */
#define VTD_MAX_ROUTES		1024

struct vtd_regs {
	uint32_t gsts;
	uint64_t rtaddr, rtaddr_active;	/* as written; as latched by SRTP */
	uint64_t ccmd;
	uint32_t fsts, fectl, fedata, feaddr, feuaddr;
	uint64_t iqh, iqt, iqa;
	uint32_t ics, iectl, iedata, ieaddr, ieuaddr;
	uint64_t irta, irta_active;	/* as written; as latched by SIRTP */
	uint64_t iva, iotlb;
	uint64_t frcd_lo, frcd_hi;	/* the fault recording register */
};

struct vtd_route {
	bool set;
	uint64_t addr;
	uint32_t data;
};

struct vtd {
	pthread_mutex_t lock;		/* registers, routes; held across table walks */
	struct vtd_regs r;
	const struct guest_mem *mem;
	bool intremap;			/* ECAP.IR: interrupt remapping offered */
	struct vm_irq inner;		/* where translated MSIs go */
	struct vtd_route route[VTD_MAX_ROUTES];
	int event_gsi;			/* where fault/invalidation events go, -1: none */
	uint8_t ioapic_bus, ioapic_devfn;	/* the IOAPIC's source-id in the DMAR table */
	/*
	 * Tell the guest (DMAR INTR_REMAP, the IOAPIC's scope) that it may remap
	 * interrupts: only when the IOAPIC's entries are remapped too (split
	 * irqchip), else an OS would write entries KVM's IOAPIC cannot read.
	 */
	bool dmar_intremap;
};

/* A unit at rest (translation off); intremap offers interrupt remapping. */
void vtd_init(struct vtd *v, const struct guest_mem *mem, struct vm_irq inner, bool intremap);
void vtd_destroy(struct vtd *v);
/* The ops MSI users get: inner's, with msi_route going through interrupt remapping. */
struct vm_irq vtd_irq(struct vtd *v);
/* Its registers (bus handler for [VTD_BASE, VTD_BASE + VTD_SIZE)). */
void vtd_mmio(void *vtd, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/*
 * Translates a DMA of the function sid (bus << 8 | devfn) at iova: the
 * guest-physical address and how many bytes from there the same mapping
 * covers.  Translation off: identity.  0, or -EFAULT after recording the
 * fault (unless the context entry disables fault reporting).
 */
int vtd_translate(struct vtd *v, uint16_t sid, uint64_t iova, bool write, uint64_t *gpa,
		  uint64_t *span);
/*
 * A DMA of len bytes between buf and iova (write: into guest memory).
 * Every page is translated before any byte moves: a fault anywhere moves
 * nothing.  0 or -EFAULT.
 */
int vtd_dma_rw(struct vtd *v, uint16_t sid, uint64_t iova, void *buf, size_t len, bool write);
/*
 * The message an MSI (addr, data) becomes: itself when remapping is off or
 * it is compatibility format and CFI lets it pass, else the IRTE's.  0, or
 * -ENOENT when it is blocked (a fault is recorded where the spec says so).
 */
int vtd_msi_translate(struct vtd *v, uint64_t addr, uint32_t data, uint64_t *out_addr,
		      uint32_t *out_data);

int vtd_save(const struct vtd *v, struct state_writer *w);
int vtd_restore(struct vtd *v, struct state_reader *r, uint16_t version);
void vtd_reset(struct vtd *v);
extern const struct vm_device_ops vtd_device_ops;

#endif
