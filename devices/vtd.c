/*
 * Intel VT-d remapping unit (include/kvmrun/vtd.h): registers, the
 * second-level page walk, fault recording, queued invalidation and
 * interrupt remapping as a wrapper of the VM's vm_irq ops.  Layouts follow
 * the Intel VT-d specification (chapters 9 and 10).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/log.h"
#include "kvmrun/vtd.h"

#define VTD_STATE_VERSION	1
#define PAGE_SHIFT		12
#define PAGE_4K			4096ull

/* CAP: 256 domains (ND 2), SAGAW 39- and 48-bit, MGAW 48, FRO, SLLPS 2M + 1G, one FRCD. */
#define CAP_ND			2ull
#define CAP_SAGAW		(0x6ull << 8)
#define CAP_MGAW		(47ull << 16)
#define CAP_FRO			((uint64_t)(VTD_FRCD / 16) << 24)
#define CAP_SLLPS		(0x3ull << 34)
#define CAP_VALUE		(CAP_ND | CAP_SAGAW | CAP_MGAW | CAP_FRO | CAP_SLLPS)
/* ECAP: coherent walks, QI, pass-through, IRO; IR when offered. */
#define ECAP_C			(1ull << 0)
#define ECAP_QI			(1ull << 1)
#define ECAP_IR			(1ull << 3)
#define ECAP_PT			(1ull << 6)
#define ECAP_IRO		((uint64_t)(VTD_IVA / 16) << 8)

#define CCMD_ICC		(1ull << 63)
#define IOTLB_IVT		(1ull << 63)
#define FRCD_F			(1ull << 63)	/* in the high qword */
#define FRCD_T			(1ull << 62)
#define IQA_QS			0x7ull
#define IQ_OFF_MASK		0x7fff0ull	/* IQH/IQT: bits 18:4 */
#define IRTA_S			0xfull
#define ADDR_MASK		0x000ffffffffff000ull

/* Queued invalidation descriptor types and wait-descriptor bits. */
#define QI_CC			1
#define QI_IOTLB		2
#define QI_DEV_IOTLB		3
#define QI_IEC			4
#define QI_WAIT			5
#define QI_WAIT_IF		(1ull << 4)
#define QI_WAIT_SW		(1ull << 5)

/* IRTE low-qword fields. */
#define IRTE_P			(1ull << 0)
#define IRTE_FPD		(1ull << 1)
#define IRTE_DM			(1ull << 2)
#define IRTE_RH			(1ull << 3)
#define IRTE_TM			(1ull << 4)
#define IRTE_IM			(1ull << 15)	/* posted: not offered */

static uint64_t cap_value(void)
{
	return CAP_VALUE;
}

static uint64_t ecap_value(const struct vtd *v)
{
	return ECAP_C | ECAP_QI | ECAP_PT | ECAP_IRO | (v->intremap ? ECAP_IR : 0);
}

/* ---- event interrupts ---- */

/*
 * An event (fault or invalidation completion) becomes pending in ctl (lock
 * held): unless it already was, it is sent as the message (addr, data) when
 * not masked, else it stays pending (IP) until the guest unmasks.  The unit's
 * own messages are compatibility format and are not remapped.
 */
static void send_event(struct vtd *v, uint32_t *ctl, uint32_t addr, uint32_t data)
{
	if (*ctl & VTD_FECTL_IM) {
		*ctl |= VTD_FECTL_IP;
		return;
	}
	*ctl &= ~VTD_FECTL_IP;
	if (v->event_gsi < 0 ||
	    v->inner.ops->msi_route(v->inner.ctx, (unsigned)v->event_gsi, addr, data))
		return;
	v->inner.ops->set_line(v->inner.ctx, (unsigned)v->event_gsi, 1);
	v->inner.ops->set_line(v->inner.ctx, (unsigned)v->event_gsi, 0);
}

static void fault_event(struct vtd *v, bool was_pending)
{
	if (!was_pending && !(v->r.fectl & VTD_FECTL_IP))
		send_event(v, &v->r.fectl, v->r.feaddr, v->r.fedata);
}

/* Is any fault condition still pending (PFO, PPF, IQE, ICE, ITE)? */
static bool faults_pending(const struct vtd *v)
{
	return (v->r.fsts & (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)) ||
	       (v->r.frcd_hi & FRCD_F);
}

/* ---- fault recording ---- */

/* Records a fault in the one FRCD (lock held); a second one before the guest clears F overflows. */
static void record_fault(struct vtd *v, uint16_t sid, uint64_t info, uint8_t reason, bool read)
{
	bool was = faults_pending(v);

	if (v->r.frcd_hi & FRCD_F) {
		v->r.fsts |= VTD_FSTS_PFO;
		fault_event(v, was);
		return;
	}
	v->r.frcd_lo = info & ~0xfffull;
	v->r.frcd_hi = FRCD_F | (read ? FRCD_T : 0) | (uint64_t)reason << 32 | sid;
	v->r.fsts &= ~(0xffu << 8);	/* FRI 0: the only register */
	fault_event(v, was);
}

/* ---- DMA remapping ---- */

static int fault(struct vtd *v, uint16_t sid, uint64_t iova, uint8_t reason, bool write,
		 bool fpd)
{
	if (!fpd)
		record_fault(v, sid, iova, reason, !write);
	return -EFAULT;
}

static int translate_locked(struct vtd *v, uint16_t sid, uint64_t iova, bool write,
			    uint64_t *gpa, uint64_t *span)
{
	uint64_t re[2], ce[2], pte, table;
	unsigned levels, aw;
	bool r = true, w = true, fpd;

	if (!(v->r.gsts & VTD_GCMD_TE)) {
		*gpa = iova;
		*span = PAGE_4K - (iova & (PAGE_4K - 1));
		return 0;
	}
	if (guest_mem_read(v->mem, (v->r.rtaddr_active & ADDR_MASK) + (sid >> 8) * 16u, re,
			   sizeof(re)))
		return fault(v, sid, iova, VTD_FR_ROOT_ACCESS, write, false);
	if (!(re[0] & 1))
		return fault(v, sid, iova, VTD_FR_ROOT_NP, write, false);
	if (guest_mem_read(v->mem, (re[0] & ADDR_MASK) + (sid & 0xff) * 16u, ce, sizeof(ce)))
		return fault(v, sid, iova, VTD_FR_CTX_ACCESS, write, false);
	if (!(ce[0] & 1))
		return fault(v, sid, iova, VTD_FR_CTX_NP, write, false);
	fpd = ce[0] & 2;
	switch (ce[0] >> 2 & 3) {
	case 0:
		break;
	case 2:		/* pass-through (ECAP.PT) */
		*gpa = iova;
		*span = PAGE_4K - (iova & (PAGE_4K - 1));
		return 0;
	default:	/* device-TLB (no ECAP.DT) or reserved */
		return fault(v, sid, iova, VTD_FR_CTX_INVALID, write, fpd);
	}
	aw = ce[1] & 7;
	if (aw != 1 && aw != 2)		/* only what SAGAW offers */
		return fault(v, sid, iova, VTD_FR_CTX_INVALID, write, fpd);
	levels = aw + 2;
	if (iova >> (PAGE_SHIFT + 9 * levels))
		return fault(v, sid, iova, VTD_FR_BEYOND_AW, write, fpd);
	table = ce[0] & ADDR_MASK;
	for (unsigned l = levels; l >= 1; l--) {
		unsigned shift = PAGE_SHIFT + 9 * (l - 1);

		if (guest_mem_read(v->mem, table + ((iova >> shift) & 0x1ff) * 8, &pte, 8))
			return fault(v, sid, iova, VTD_FR_PTE_ACCESS, write, fpd);
		/* Both bits clear: not present, which faults as a missing permission. */
		r = r && (pte & VTD_PTE_R);
		w = w && (pte & VTD_PTE_W);
		if (!(pte & (VTD_PTE_R | VTD_PTE_W)))
			break;
		if (l == 1 || (pte & VTD_PTE_PS)) {
			uint64_t size = 1ull << shift;

			if (l > 3 || (l > 1 && (pte & (size - 1) & ADDR_MASK)))
				return fault(v, sid, iova, VTD_FR_PTE_RSVD, write, fpd);
			if (write ? !w : !r)
				break;
			*gpa = (pte & ADDR_MASK & ~(size - 1)) | (iova & (size - 1));
			*span = size - (iova & (size - 1));
			return 0;
		}
		table = pte & ADDR_MASK;
	}
	return fault(v, sid, iova, write ? VTD_FR_WRITE : VTD_FR_READ, write, fpd);
}

int vtd_translate(struct vtd *v, uint16_t sid, uint64_t iova, bool write, uint64_t *gpa,
		  uint64_t *span)
{
	int ret;

	pthread_mutex_lock(&v->lock);
	ret = translate_locked(v, sid, iova, write, gpa, span);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

#define DMA_MAX_PIECES	64	/* 256 KiB of 4 KiB pages: more than any device here moves */

int vtd_dma_rw(struct vtd *v, uint16_t sid, uint64_t iova, void *buf, size_t len, bool write)
{
	struct { uint64_t gpa, len; } piece[DMA_MAX_PIECES];
	unsigned n = 0;
	uint8_t *b = buf;
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	for (size_t done = 0; done < len && !ret; n++) {
		uint64_t gpa, span;

		if (n == DMA_MAX_PIECES || iova + done < iova) {
			ret = -EFAULT;
			break;
		}
		ret = translate_locked(v, sid, iova + done, write, &gpa, &span);
		if (ret)
			break;
		piece[n].gpa = gpa;
		piece[n].len = span < len - done ? span : len - done;
		/* Untranslated targets are hostile too: all of it must be RAM before anything moves. */
		if (!guest_mem_ptr(v->mem, gpa, piece[n].len))
			ret = -EFAULT;
		done += piece[n].len;
	}
	pthread_mutex_unlock(&v->lock);
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = write ? guest_mem_write(v->mem, piece[i].gpa, b, piece[i].len) :
			      guest_mem_read(v->mem, piece[i].gpa, b, piece[i].len);
		b += piece[i].len;
	}
	return ret;
}

/* ---- interrupt remapping ---- */

static int msi_translate_locked(struct vtd *v, uint64_t addr, uint32_t data,
				uint64_t *out_addr, uint32_t *out_data)
{
	uint64_t irte[2], irta = v->r.irta_active;
	uint32_t index, dest;

	*out_addr = addr;
	*out_data = data;
	if (!(v->r.gsts & VTD_GCMD_IRE) || !irq_msi_address_valid(addr))
		return 0;
	if (!(addr & VTD_MSI_REMAPPABLE)) {
		/* Compatibility format: passes only while CFI says so (xAPIC mode). */
		if (v->r.gsts & VTD_GCMD_CFI)
			return 0;
		record_fault(v, 0, 0, VTD_FR_IR_COMPAT, false);
		return -ENOENT;
	}
	index = (uint32_t)(addr >> 5 & 0x7fff) | (uint32_t)(addr >> 2 & 1) << 15;
	if (addr & (1u << 3))		/* SHV: the data's low 16 bits are a subhandle */
		index = (index + (data & 0xffff)) & 0xffff;
	if (index >= 2u << (irta & IRTA_S)) {
		record_fault(v, 0, (uint64_t)index << 48, VTD_FR_IR_INDEX, false);
		return -ENOENT;
	}
	if (guest_mem_read(v->mem, (irta & ADDR_MASK) + index * 16ull, irte, sizeof(irte))) {
		record_fault(v, 0, (uint64_t)index << 48, VTD_FR_IR_ACCESS, false);
		return -ENOENT;
	}
	if (!(irte[0] & IRTE_P)) {
		if (!(irte[0] & IRTE_FPD))
			record_fault(v, 0, (uint64_t)index << 48, VTD_FR_IR_NP, false);
		return -ENOENT;
	}
	if (irte[0] & IRTE_IM) {
		if (!(irte[0] & IRTE_FPD))
			record_fault(v, 0, (uint64_t)index << 48, VTD_FR_IR_RSVD, false);
		return -ENOENT;
	}
	/* xAPIC mode (no EIM): the destination is DST bits 15:8. */
	dest = (uint32_t)(irte[0] >> 40) & 0xff;
	*out_addr = 0xfee00000ull | (uint64_t)dest << 12 | (irte[0] & IRTE_RH) | (irte[0] & IRTE_DM);
	*out_data = (uint32_t)(irte[0] >> 16 & 0xff) | (uint32_t)(irte[0] >> 5 & 7) << 8;
	if (irte[0] & IRTE_TM)
		*out_data |= 1u << 15 | 1u << 14;	/* level, asserted */
	return 0;
}

int vtd_msi_translate(struct vtd *v, uint64_t addr, uint32_t data, uint64_t *out_addr,
		      uint32_t *out_data)
{
	int ret;

	pthread_mutex_lock(&v->lock);
	ret = msi_translate_locked(v, addr, data, out_addr, out_data);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

/* Installs gsi's translated route (lock held); a blocked one is removed (address 0). */
static int install_route(struct vtd *v, unsigned gsi)
{
	struct vtd_route *rt = &v->route[gsi];
	uint64_t addr;
	uint32_t data;

	if (msi_translate_locked(v, rt->addr, rt->data, &addr, &data))
		addr = 0, data = 0;
	return v->inner.ops->msi_route(v->inner.ctx, gsi, addr, data);
}

static void retranslate_all(struct vtd *v)
{
	for (unsigned g = 0; g < VTD_MAX_ROUTES; g++)
		if (v->route[g].set)
			install_route(v, g);
}

static void w_set_line(void *ctx, unsigned gsi, int level)
{
	struct vtd *v = ctx;

	v->inner.ops->set_line(v->inner.ctx, gsi, level);
}

static int w_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
		       int fd, bool assign)
{
	struct vtd *v = ctx;

	return v->inner.ops->ioeventfd(v->inner.ctx, pio, addr, len, match, fd, assign);
}

static int w_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct vtd *v = ctx;

	return v->inner.ops->irqfd(v->inner.ctx, gsi, fd, resample_fd, assign);
}

static int w_msi_alloc(void *ctx)
{
	struct vtd *v = ctx;

	return v->inner.ops->msi_alloc(v->inner.ctx);
}

static int w_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct vtd *v = ctx;
	int ret;

	if (gsi >= VTD_MAX_ROUTES)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	v->route[gsi] = (struct vtd_route){ .set = true, .addr = addr, .data = data };
	ret = install_route(v, gsi);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

static const struct vm_irq_ops vtd_irq_ops = {
	.set_line = w_set_line,
	.ioeventfd = w_ioeventfd,
	.irqfd = w_irqfd,
	.msi_alloc = w_msi_alloc,
	.msi_route = w_msi_route,
};

struct vm_irq vtd_irq(struct vtd *v)
{
	return (struct vm_irq){ .ops = &vtd_irq_ops, .ctx = v };
}

/* ---- queued invalidation ---- */

static void qi_error(struct vtd *v)
{
	bool was = faults_pending(v);

	v->r.fsts |= VTD_FSTS_IQE;
	fault_event(v, was);
}

/* Runs descriptors from IQH up to IQT (lock held); an invalid one stops with IQE, IQH on it. */
static void qi_process(struct vtd *v)
{
	uint64_t entries = 256ull << (v->r.iqa & IQA_QS);
	uint64_t base = v->r.iqa & ADDR_MASK;

	if (!(v->r.gsts & VTD_GCMD_QIE) || (v->r.fsts & VTD_FSTS_IQE))
		return;
	if ((v->r.iqt >> 4) >= entries) {
		qi_error(v);
		return;
	}
	for (uint64_t n = 0; n < entries && v->r.iqh != v->r.iqt; n++) {
		uint64_t d[2], head = v->r.iqh >> 4;
		uint32_t status;

		if (guest_mem_read(v->mem, base + head * 16, d, sizeof(d))) {
			qi_error(v);
			return;
		}
		switch (d[0] & 0xf) {
		case QI_CC:
		case QI_IOTLB:
		case QI_DEV_IOTLB:
			break;		/* nothing is cached */
		case QI_IEC:
			retranslate_all(v);
			break;
		case QI_WAIT:
			status = (uint32_t)(d[0] >> 32);
			if ((d[0] & QI_WAIT_SW) &&
			    guest_mem_write(v->mem, d[1] & ~3ull, &status, sizeof(status))) {
				qi_error(v);
				return;
			}
			if ((d[0] & QI_WAIT_IF) && !(v->r.ics & VTD_ICS_IWC)) {
				v->r.ics |= VTD_ICS_IWC;
				send_event(v, &v->r.iectl, v->r.ieaddr, v->r.iedata);
			}
			break;
		default:
			qi_error(v);
			return;
		}
		v->r.iqh = ((head + 1) % entries) << 4;
	}
}

/* ---- registers ---- */

static void gcmd_write(struct vtd *v, uint32_t cmd)
{
	uint32_t old = v->r.gsts, sts = old;
	uint32_t ir_bits = v->intremap ? VTD_GCMD_IRE | VTD_GCMD_CFI : 0;

	sts = (sts & ~(VTD_GCMD_TE | VTD_GCMD_QIE | ir_bits)) |
	      (cmd & (VTD_GCMD_TE | VTD_GCMD_QIE | ir_bits));
	if (cmd & VTD_GCMD_SRTP) {
		v->r.rtaddr_active = v->r.rtaddr;
		sts |= VTD_GCMD_SRTP;
	}
	if ((cmd & VTD_GCMD_SIRTP) && v->intremap) {
		v->r.irta_active = v->r.irta;
		sts |= VTD_GCMD_SIRTP;
	}
	if ((old & VTD_GCMD_QIE) && !(sts & VTD_GCMD_QIE))
		v->r.iqh = 0;	/* the head resets while queued invalidation is off */
	v->r.gsts = sts;
	if ((old ^ sts) & ir_bits || ((cmd & VTD_GCMD_SIRTP) && v->intremap))
		retranslate_all(v);
}

static uint32_t reg_read(struct vtd *v, uint32_t off)
{
	uint64_t q;

	switch (off & ~7u) {
	case VTD_VER:
		return off == VTD_VER ? 0x10 : 0;
	case VTD_CAP:
		q = cap_value();
		break;
	case VTD_ECAP:
		q = ecap_value(v);
		break;
	case VTD_GCMD:			/* GCMD reads 0, GSTS at 0x1c */
		return off == VTD_GSTS ? v->r.gsts : 0;
	case VTD_RTADDR:
		q = v->r.rtaddr;
		break;
	case VTD_CCMD:
		q = v->r.ccmd;
		break;
	case VTD_FSTS & ~7u:		/* 0x30: reserved, FSTS */
		if (off == VTD_FSTS)
			return v->r.fsts | (v->r.frcd_hi & FRCD_F ? VTD_FSTS_PPF : 0);
		return 0;
	case VTD_FECTL:			/* FECTL, FEDATA */
		return off == VTD_FECTL ? v->r.fectl : v->r.fedata;
	case VTD_FEADDR:
		return off == VTD_FEADDR ? v->r.feaddr : v->r.feuaddr;
	case VTD_IQH:
		q = v->r.iqh;
		break;
	case VTD_IQT:
		q = v->r.iqt;
		break;
	case VTD_IQA:
		q = v->r.iqa;
		break;
	case VTD_ICS & ~7u:
		return off == VTD_ICS ? v->r.ics : 0;
	case VTD_IECTL:
		return off == VTD_IECTL ? v->r.iectl : v->r.iedata;
	case VTD_IEADDR:
		return off == VTD_IEADDR ? v->r.ieaddr : v->r.ieuaddr;
	case VTD_IRTA:
		q = v->r.irta;
		break;
	case VTD_IVA:
		q = v->r.iva;
		break;
	case VTD_IOTLB:
		q = v->r.iotlb;
		break;
	case VTD_FRCD:
		q = v->r.frcd_lo;
		break;
	case VTD_FRCD + 8:
		q = v->r.frcd_hi;
		break;
	default:
		return 0;
	}
	return (uint32_t)(off & 4 ? q >> 32 : q);
}

/* Replaces the dword of *q that off names. */
static void set_half(uint64_t *q, uint32_t off, uint32_t val)
{
	if (off & 4)
		*q = (*q & 0xffffffffull) | (uint64_t)val << 32;
	else
		*q = (*q & ~0xffffffffull) | val;
}

static void reg_write(struct vtd *v, uint32_t off, uint32_t val)
{
	switch (off) {
	case VTD_GCMD:
		gcmd_write(v, val);
		break;
	case VTD_RTADDR:
	case VTD_RTADDR + 4:
		set_half(&v->r.rtaddr, off, val);
		v->r.rtaddr &= ADDR_MASK;	/* legacy root table only: RTT/TTM stay 0 */
		break;
	case VTD_CCMD:
		set_half(&v->r.ccmd, off, val);
		break;
	case VTD_CCMD + 4:
		set_half(&v->r.ccmd, off, val);
		if (v->r.ccmd & CCMD_ICC) {
			/* Done at once, at the granularity asked (CIRG 62:61 -> CAIG 60:59). */
			uint64_t g = v->r.ccmd >> 61 & 3;

			v->r.ccmd = (v->r.ccmd & ~(CCMD_ICC | 3ull << 59)) | g << 59;
		}
		break;
	case VTD_FSTS:
		v->r.fsts &= ~(val & (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE));
		if (!faults_pending(v))
			v->r.fectl &= ~VTD_FECTL_IP;
		qi_process(v);		/* a cleared IQE lets the queue go on */
		break;
	case VTD_FECTL:
		v->r.fectl = (v->r.fectl & ~VTD_FECTL_IM) | (val & VTD_FECTL_IM);
		/* Unmasked with an event pending: it goes out now. */
		if ((v->r.fectl & (VTD_FECTL_IM | VTD_FECTL_IP)) == VTD_FECTL_IP)
			send_event(v, &v->r.fectl, v->r.feaddr, v->r.fedata);
		break;
	case VTD_FEDATA:
		v->r.fedata = val;
		break;
	case VTD_FEADDR:
		v->r.feaddr = val & ~3u;
		break;
	case VTD_FEUADDR:
		v->r.feuaddr = val;
		break;
	case VTD_IQT:
		v->r.iqt = val & IQ_OFF_MASK;
		qi_process(v);
		break;
	case VTD_IQA:
	case VTD_IQA + 4:
		set_half(&v->r.iqa, off, val);
		v->r.iqa &= ADDR_MASK | IQA_QS;	/* DW (256-bit descriptors) is not offered */
		break;
	case VTD_ICS:
		v->r.ics &= ~(val & VTD_ICS_IWC);
		if (!(v->r.ics & VTD_ICS_IWC))
			v->r.iectl &= ~VTD_FECTL_IP;
		break;
	case VTD_IECTL:
		v->r.iectl = (v->r.iectl & ~VTD_FECTL_IM) | (val & VTD_FECTL_IM);
		if ((v->r.iectl & (VTD_FECTL_IM | VTD_FECTL_IP)) == VTD_FECTL_IP)
			send_event(v, &v->r.iectl, v->r.ieaddr, v->r.iedata);
		break;
	case VTD_IEDATA:
		v->r.iedata = val;
		break;
	case VTD_IEADDR:
		v->r.ieaddr = val & ~3u;
		break;
	case VTD_IEUADDR:
		v->r.ieuaddr = val;
		break;
	case VTD_IRTA:
	case VTD_IRTA + 4:
		if (v->intremap) {
			set_half(&v->r.irta, off, val);
			v->r.irta &= ADDR_MASK | IRTA_S;	/* EIME: no x2APIC mode */
		}
		break;
	case VTD_IVA:
	case VTD_IVA + 4:
		set_half(&v->r.iva, off, val);
		break;
	case VTD_IOTLB:
		set_half(&v->r.iotlb, off, val);
		break;
	case VTD_IOTLB + 4:
		set_half(&v->r.iotlb, off, val);
		if (v->r.iotlb & IOTLB_IVT) {
			uint64_t g = v->r.iotlb >> 60 & 3;	/* IIRG -> IAIG 58:57 */

			v->r.iotlb = (v->r.iotlb & ~(IOTLB_IVT | 3ull << 57)) | g << 57;
		}
		break;
	case VTD_FRCD + 12:
		if (val & (uint32_t)(FRCD_F >> 32)) {
			v->r.frcd_hi &= ~FRCD_F;
			if (!faults_pending(v))
				v->r.fectl &= ~VTD_FECTL_IP;
		}
		break;
	default:
		break;		/* read-only or reserved */
	}
}

void vtd_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct vtd *v = opaque;
	uint32_t lo = 0, hi = 0;

	/* Registers take aligned 4- and 8-byte accesses; anything else reads 0 and is dropped. */
	if ((len != 4 && len != 8) || (off & (len - 1)) || off + len > VTD_SIZE) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&v->lock);
	if (is_write) {
		memcpy(&lo, data, 4);
		reg_write(v, (uint32_t)off, lo);
		if (len == 8) {
			memcpy(&hi, data + 4, 4);
			reg_write(v, (uint32_t)off + 4, hi);
		}
	} else {
		lo = reg_read(v, (uint32_t)off);
		memcpy(data, &lo, 4);
		if (len == 8) {
			hi = reg_read(v, (uint32_t)off + 4);
			memcpy(data + 4, &hi, 4);
		}
	}
	pthread_mutex_unlock(&v->lock);
}

/* ---- life cycle, save, restore ---- */

void vtd_init(struct vtd *v, const struct guest_mem *mem, struct vm_irq inner, bool intremap)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	v->mem = mem;
	v->inner = inner;
	v->intremap = intremap;
	v->ioapic_devfn = 0x1f << 3;	/* where Q35 puts it: 00:1f.0 */
	v->r.fectl = VTD_FECTL_IM;
	v->r.iectl = VTD_FECTL_IM;
	/* Without a GSI of its own the unit still works; its events then only show as IP. */
	v->event_gsi = inner.ops->msi_alloc(inner.ctx);
}

void vtd_destroy(struct vtd *v)
{
	pthread_mutex_destroy(&v->lock);
}

void vtd_reset(struct vtd *v)
{
	pthread_mutex_lock(&v->lock);
	memset(&v->r, 0, sizeof(v->r));
	v->r.fectl = VTD_FECTL_IM;
	v->r.iectl = VTD_FECTL_IM;
	retranslate_all(v);	/* remapping is off: routes as the devices asked */
	pthread_mutex_unlock(&v->lock);
}

int vtd_save(const struct vtd *v, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the unit. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&v->lock;
	const struct vtd_regs *r = &v->r;

	pthread_mutex_lock(lock);
	state_put_bool(w, v->intremap);
	state_put_u32(w, r->gsts);
	state_put_u64(w, r->rtaddr);
	state_put_u64(w, r->rtaddr_active);
	state_put_u64(w, r->ccmd);
	state_put_u32(w, r->fsts);
	state_put_u32(w, r->fectl);
	state_put_u32(w, r->fedata);
	state_put_u32(w, r->feaddr);
	state_put_u32(w, r->feuaddr);
	state_put_u64(w, r->iqh);
	state_put_u64(w, r->iqt);
	state_put_u64(w, r->iqa);
	state_put_u32(w, r->ics);
	state_put_u32(w, r->iectl);
	state_put_u32(w, r->iedata);
	state_put_u32(w, r->ieaddr);
	state_put_u32(w, r->ieuaddr);
	state_put_u64(w, r->irta);
	state_put_u64(w, r->irta_active);
	state_put_u64(w, r->iva);
	state_put_u64(w, r->iotlb);
	state_put_u64(w, r->frcd_lo);
	state_put_u64(w, r->frcd_hi);
	pthread_mutex_unlock(lock);
	return w->err;
}

/* Could this unit have reached these registers? */
static bool regs_valid(const struct vtd *v, const struct vtd_regs *r)
{
	uint32_t sts_ok = VTD_GCMD_TE | VTD_GCMD_SRTP | VTD_GCMD_QIE |
			  (v->intremap ? VTD_GCMD_IRE | VTD_GCMD_SIRTP | VTD_GCMD_CFI : 0);
	uint64_t entries = 256ull << (r->iqa & IQA_QS);

	return !(r->gsts & ~sts_ok) && !(r->rtaddr & ~ADDR_MASK) &&
	       !(r->rtaddr_active & ~ADDR_MASK) && !(r->iqa & ~(ADDR_MASK | IQA_QS)) &&
	       !(r->iqh & ~IQ_OFF_MASK) && !(r->iqt & ~IQ_OFF_MASK) &&
	       (r->iqh >> 4) < entries && !(r->irta & ~(ADDR_MASK | IRTA_S)) &&
	       !(r->irta_active & ~(ADDR_MASK | IRTA_S)) &&
	       !(r->fsts & ~(VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)) &&
	       !(r->fectl & ~(VTD_FECTL_IM | VTD_FECTL_IP)) &&
	       !(r->iectl & ~(VTD_FECTL_IM | VTD_FECTL_IP)) && !(r->ics & ~VTD_ICS_IWC) &&
	       !(r->ccmd & CCMD_ICC) && !(r->iotlb & IOTLB_IVT) &&
	       !(r->frcd_hi & ~(FRCD_F | FRCD_T | 0xffull << 32 | 0xffff)) &&
	       !(r->frcd_lo & 0xfff);
}

int vtd_restore(struct vtd *v, struct state_reader *rd, uint16_t version)
{
	struct vtd_regs r;
	bool intremap;

	if (version != VTD_STATE_VERSION)
		return -EINVAL;
	memset(&r, 0, sizeof(r));	/* padding too: the registers compare as bytes */
	intremap = state_get_bool(rd);
	r.gsts = state_get_u32(rd);
	r.rtaddr = state_get_u64(rd);
	r.rtaddr_active = state_get_u64(rd);
	r.ccmd = state_get_u64(rd);
	r.fsts = state_get_u32(rd);
	r.fectl = state_get_u32(rd);
	r.fedata = state_get_u32(rd);
	r.feaddr = state_get_u32(rd);
	r.feuaddr = state_get_u32(rd);
	r.iqh = state_get_u64(rd);
	r.iqt = state_get_u64(rd);
	r.iqa = state_get_u64(rd);
	r.ics = state_get_u32(rd);
	r.iectl = state_get_u32(rd);
	r.iedata = state_get_u32(rd);
	r.ieaddr = state_get_u32(rd);
	r.ieuaddr = state_get_u32(rd);
	r.irta = state_get_u64(rd);
	r.irta_active = state_get_u64(rd);
	r.iva = state_get_u64(rd);
	r.iotlb = state_get_u64(rd);
	r.frcd_lo = state_get_u64(rd);
	r.frcd_hi = state_get_u64(rd);
	if (!rd->err && state_reader_finish(rd))
		state_reader_fail(rd);
	if (!rd->err && (intremap != v->intremap || !regs_valid(v, &r)))
		state_reader_fail(rd);
	if (rd->err) {
		vtd_reset(v);
		return rd->err;
	}
	pthread_mutex_lock(&v->lock);
	v->r = r;
	retranslate_all(v);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int vtd_ops_save(void *dev, struct state_writer *w)
{
	return vtd_save(dev, w);
}

static int vtd_ops_restore(void *dev, struct state_reader *r, uint16_t version)
{
	return vtd_restore(dev, r, version);
}

static void vtd_ops_reset(void *dev)
{
	vtd_reset(dev);
}

/* The DMAR table's unit; the functions it translates add their own scopes. */
static int vtd_ops_describe(void *dev, struct machine_desc *m)
{
	struct vtd *v = dev;

	m->dmar.base = VTD_BASE;
	m->dmar.intremap = v->intremap && v->dmar_intremap;
	m->dmar.ioapic_bus = v->ioapic_bus;
	m->dmar.ioapic_devfn = v->ioapic_devfn;
	return 0;
}

static void vtd_ops_destroy(void *dev)
{
	vtd_destroy(dev);
	free(dev);
}

const struct vm_device_ops vtd_device_ops = {
	.kind = "intel-iommu",
	.state_version = VTD_STATE_VERSION,
	.save = vtd_ops_save,
	.restore = vtd_ops_restore,
	.reset = vtd_ops_reset,
	.describe = vtd_ops_describe,
	.destroy = vtd_ops_destroy,
};
