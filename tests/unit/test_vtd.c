/*
 * The VT-d unit against fake guest memory: registers, the second-level page
 * walk (3 and 4 levels, superpages, permissions, faults), DMA that moves
 * nothing on a fault, queued invalidation, interrupt remapping through the
 * vm_irq wrapper, save/restore, and hostile register writes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/device.h"
#include "kvmrun/vtd.h"
#include "testlib.h"

#define RAM		(16ull << 20)
#define ROOT		0x100000ull
#define CTX		0x101000ull
#define PT4		0x102000ull
#define PT3		0x103000ull
#define PT2		0x104000ull
#define PT1		0x105000ull
#define DATA		0x200000ull
#define IQ		0x300000ull
#define STATUS		0x301000ull
#define IRT		0x400000ull
#define SID		0x0008		/* 00:01.0 */

static struct guest_mem mem;
static struct fake_irq fi;
static struct vtd *v;

static void setup(void)
{
	testlib_mem_init(&mem, RAM);
	fake_irq_init(&fi);
	v = malloc(sizeof(*v));
	ck_assert_ptr_nonnull(v);
	vtd_init(v, &mem, fake_irq_ops(&fi), true);
}

static void teardown(void)
{
	vtd_destroy(v);
	free(v);
	guest_mem_destroy(&mem);
}

static uint64_t rd(uint32_t off, uint32_t len)
{
	uint64_t x = 0;

	vtd_mmio(v, off, (uint8_t *)&x, len, false);
	return x;
}

static void wr(uint32_t off, uint32_t len, uint64_t x)
{
	vtd_mmio(v, off, (uint8_t *)&x, len, true);
}

static void put64(uint64_t gpa, uint64_t x)
{
	ck_assert_int_eq(guest_mem_write(&mem, gpa, &x, 8), 0);
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t x;

	ck_assert_int_eq(guest_mem_read(&mem, gpa, &x, 4), 0);
	return x;
}

/* A root entry for bus 0 and a context entry for SID with aw (1: 3 levels, 2: 4). */
static void tables(unsigned aw, uint64_t slpt, bool fpd)
{
	put64(ROOT, CTX | 1);
	put64(CTX + (SID & 0xff) * 16, slpt | (fpd ? 2 : 0) | 1);
	put64(CTX + (SID & 0xff) * 16 + 8, aw | (uint64_t)SID << 8);
	wr(VTD_RTADDR, 8, ROOT);
	wr(VTD_GCMD, 4, VTD_GCMD_SRTP);
	wr(VTD_GCMD, 4, VTD_GCMD_TE);
}

static int xlate(uint64_t iova, bool write, uint64_t *gpa, uint64_t *span)
{
	return vtd_translate(v, SID, iova, write, gpa, span);
}

static unsigned fault_reason(void)
{
	return (unsigned)(rd(VTD_FRCD + 8, 8) >> 32 & 0xff);
}

static void clear_fault(void)
{
	wr(VTD_FRCD + 12, 4, 1u << 31);
	wr(VTD_FSTS, 4, 0x7f);
}

START_TEST(test_registers_at_rest)
{
	uint64_t cap = rd(VTD_CAP, 8), ecap = rd(VTD_ECAP, 8);

	ck_assert_uint_eq(rd(VTD_VER, 4), 0x10);
	ck_assert_uint_eq(cap >> 8 & 0x1f, 0x6);		/* SAGAW: 39 and 48 bits */
	ck_assert_uint_eq(cap >> 34 & 0xf, 0x3);		/* SLLPS: 2M, 1G */
	ck_assert_uint_eq((cap >> 24 & 0x3ff) * 16, VTD_FRCD);	/* FRO */
	ck_assert_uint_eq(cap >> 40 & 0xff, 0);			/* NFR: one register */
	ck_assert_uint_eq(ecap & 0x1f, 0x1 | 0x2 | 0x8);	/* C, QI, IR; no DT, no EIM */
	ck_assert_uint_eq((ecap >> 8 & 0x3ff) * 16, VTD_IVA);	/* IRO */
	ck_assert_uint_eq(rd(VTD_GSTS, 4), 0);
	ck_assert_uint_eq(rd(VTD_FECTL, 4), VTD_FECTL_IM);
	/* Read-only registers ignore writes; GCMD reads 0. */
	wr(VTD_CAP, 8, 0);
	wr(VTD_VER, 4, 0x55);
	wr(VTD_GCMD, 4, VTD_GCMD_TE);
	ck_assert_uint_eq(rd(VTD_CAP, 8), cap);
	ck_assert_uint_eq(rd(VTD_VER, 4), 0x10);
	ck_assert_uint_eq(rd(VTD_GCMD, 4), 0);
	/* Odd widths and offsets: nothing. */
	ck_assert_uint_eq(rd(VTD_VER, 2), 0);
	ck_assert_uint_eq(rd(VTD_CAP + 2, 4), 0);
}
END_TEST

START_TEST(test_gcmd_gsts)
{
	wr(VTD_RTADDR, 8, ROOT | 0xfff);	/* low bits are not an address */
	ck_assert_uint_eq(rd(VTD_RTADDR, 8), ROOT);
	wr(VTD_GCMD, 4, VTD_GCMD_SRTP);
	ck_assert_uint_eq(rd(VTD_GSTS, 4), VTD_GCMD_SRTP);	/* RTPS stays as status */
	/* The way drivers write it: current status | one command. */
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_TE);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_QIE);
	wr(VTD_IRTA, 8, IRT | 7);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_SIRTP);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_IRE);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_CFI);
	ck_assert_uint_eq(rd(VTD_GSTS, 4), VTD_GCMD_TE | VTD_GCMD_SRTP | VTD_GCMD_QIE |
			  VTD_GCMD_IRE | VTD_GCMD_SIRTP | VTD_GCMD_CFI);
	/* Clearing a status bit's command turns it off; one-shot statuses stay. */
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) & ~(VTD_GCMD_TE | VTD_GCMD_IRE));
	ck_assert_uint_eq(rd(VTD_GSTS, 4), VTD_GCMD_SRTP | VTD_GCMD_QIE | VTD_GCMD_SIRTP |
			  VTD_GCMD_CFI);
	/* Commands it does not offer (SFL, EAFL, WBF) set nothing. */
	wr(VTD_GCMD, 4, VTD_GCMD_SFL | VTD_GCMD_EAFL | VTD_GCMD_WBF);
	ck_assert_uint_eq(rd(VTD_GSTS, 4), VTD_GCMD_SRTP | VTD_GCMD_SIRTP);
}
END_TEST

START_TEST(test_no_intremap)
{
	vtd_destroy(v);
	vtd_init(v, &mem, fake_irq_ops(&fi), false);
	ck_assert_uint_eq(rd(VTD_ECAP, 8) & 0x8, 0);
	wr(VTD_IRTA, 8, IRT | 7);
	wr(VTD_GCMD, 4, VTD_GCMD_IRE | VTD_GCMD_SIRTP | VTD_GCMD_CFI);
	ck_assert_uint_eq(rd(VTD_GSTS, 4), 0);
	ck_assert_uint_eq(rd(VTD_IRTA, 8), 0);
}
END_TEST

START_TEST(test_translation_off_is_identity)
{
	uint64_t gpa, span;

	ck_assert_int_eq(xlate(0x123456, true, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, 0x123456);
	ck_assert_uint_eq(span, 0x1000 - 0x456);
}
END_TEST

START_TEST(test_walk_3_levels)
{
	uint64_t gpa, span, iova = (3ull << 30) | (5ull << 21) | (7ull << 12) | 0x10;

	/* 39-bit: PT4 is the top (level 3) table here. */
	put64(PT4 + 3 * 8, PT3 | 3);
	put64(PT3 + 5 * 8, PT2 | 3);
	put64(PT2 + 7 * 8, DATA | 3);
	tables(1, PT4, false);
	ck_assert_int_eq(xlate(iova, false, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, DATA | 0x10);
	ck_assert_uint_eq(span, 0x1000 - 0x10);
	ck_assert_int_eq(xlate(iova, true, &gpa, &span), 0);
	/* The neighbouring page is not mapped: a read fault, recorded. */
	ck_assert_int_eq(xlate(iova + 0x1000, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_READ);
	ck_assert_uint_eq(rd(VTD_FRCD + 8, 8) & 0xffff, SID);
	ck_assert_uint_eq(rd(VTD_FRCD + 8, 8) >> 62 & 1, 1);		/* T: a read */
	ck_assert_uint_eq(rd(VTD_FRCD, 8), (iova + 0x1000) & ~0xfffull);
	ck_assert_uint_eq(rd(VTD_FSTS, 4) & VTD_FSTS_PPF, VTD_FSTS_PPF);
	ck_assert_uint_eq(rd(VTD_FECTL, 4) & VTD_FECTL_IP, VTD_FECTL_IP);
	/* Beyond 39 bits. */
	clear_fault();
	ck_assert_uint_eq(rd(VTD_FSTS, 4), 0);
	ck_assert_int_eq(xlate(1ull << 39, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_BEYOND_AW);
}
END_TEST

START_TEST(test_walk_4_levels_superpages)
{
	uint64_t gpa, span;

	put64(PT4 + 1 * 8, PT3 | 3);
	put64(PT3 + 0 * 8, PT2 | 3);
	put64(PT3 + 2 * 8, (1ull << 30) | VTD_PTE_PS | 3);	/* 1 GiB at 2 GiB of IOVA */
	put64(PT2 + 4 * 8, (4ull << 20) | VTD_PTE_PS | 1);	/* 2 MiB read-only */
	put64(PT2 + 5 * 8, PT1 | 3);
	put64(PT1 + 0 * 8, DATA | 3);
	tables(2, PT4, false);

	uint64_t base = 1ull << 39;	/* PML4 index 1 */

	ck_assert_int_eq(xlate(base + (4ull << 21) + 0x12345, false, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, (4ull << 20) + 0x12345);
	ck_assert_uint_eq(span, (2ull << 20) - 0x12345);
	ck_assert_int_eq(xlate(base + (2ull << 30) + 0x345678, true, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, (1ull << 30) + 0x345678);
	ck_assert_uint_eq(span, (1ull << 30) - 0x345678);
	ck_assert_int_eq(xlate(base + (5ull << 21) + 0x20, true, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, DATA + 0x20);
	/* Write to the read-only superpage. */
	ck_assert_int_eq(xlate(base + (4ull << 21), true, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_WRITE);
	ck_assert_uint_eq(rd(VTD_FRCD + 8, 8) >> 62 & 1, 0);		/* T: a write */
	/* A second fault before F is cleared overflows (PFO) and leaves the first. */
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_WRITE);
	ck_assert_uint_eq(rd(VTD_FSTS, 4) & VTD_FSTS_PFO, VTD_FSTS_PFO);
	clear_fault();
	/* A superpage whose address has bits below its size is a reserved-field fault. */
	put64(PT2 + 6 * 8, (4ull << 20) | 0x1000 | VTD_PTE_PS | 3);
	ck_assert_int_eq(xlate(base + (6ull << 21), false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_PTE_RSVD);
	clear_fault();
	/* PS in the top level of a 4-level table is reserved too. */
	put64(PT4 + 2 * 8, VTD_PTE_PS | 3);
	ck_assert_int_eq(xlate(2ull << 39, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_PTE_RSVD);
}
END_TEST

START_TEST(test_permissions_accumulate)
{
	uint64_t gpa, span;

	/* Write-only at the top, read-write below: reads fault, writes pass. */
	put64(PT4, PT3 | VTD_PTE_W);
	put64(PT3, PT2 | 3);
	put64(PT2, DATA | 3);
	tables(1, PT4, false);
	ck_assert_int_eq(xlate(0, true, &gpa, &span), 0);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_READ);
}
END_TEST

START_TEST(test_root_context_faults)
{
	uint64_t gpa, span;

	tables(1, PT4, false);
	put64(ROOT, 0);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_ROOT_NP);
	clear_fault();
	put64(ROOT, CTX | 1);
	ck_assert_int_eq(vtd_translate(v, SID + 1, 0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_CTX_NP);
	clear_fault();
	/* An AW SAGAW does not offer, and a reserved translation type. */
	put64(CTX + SID * 16 + 8, 3);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_CTX_INVALID);
	clear_fault();
	/* Fault processing disabled in the context entry: faults, not recorded. */
	tables(1, PT4, true);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(rd(VTD_FRCD + 8, 8) >> 63, 0);	/* F clear: nothing new */
	ck_assert_uint_eq(rd(VTD_FSTS, 4), 0);
	/* Pass-through (T = 2): identity. */
	put64(CTX + SID * 16, 2 << 2 | 1);
	ck_assert_int_eq(xlate(0x7000, true, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, 0x7000);
	/* A root table outside RAM. */
	wr(VTD_RTADDR, 8, RAM);
	wr(VTD_GCMD, 4, VTD_GCMD_TE | VTD_GCMD_SRTP);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_ROOT_ACCESS);
}
END_TEST

START_TEST(test_dma_rw)
{
	uint8_t buf[0x2000], back[0x2000];

	put64(PT4, PT3 | 3);
	put64(PT3, PT2 | 3);
	put64(PT2 + 0 * 8, (DATA + 0x5000) | 3);
	put64(PT2 + 1 * 8, DATA | 3);	/* IOVA pages in the other order */
	put64(PT2 + 3 * 8, (RAM - 0x1000) | 3);
	put64(PT2 + 4 * 8, RAM | 3);	/* just past RAM */
	tables(1, PT4, false);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(vtd_dma_rw(v, SID, 0x800, buf, 0x1000, true), 0);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x5800, back, 0x800), 0);
	ck_assert_mem_eq(back, buf, 0x800);
	ck_assert_int_eq(guest_mem_read(&mem, DATA, back, 0x800), 0);
	ck_assert_mem_eq(back, buf + 0x800, 0x800);
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(vtd_dma_rw(v, SID, 0x800, back, 0x1000, false), 0);
	ck_assert_mem_eq(back, buf, 0x1000);
	/* Page 2 is unmapped: a DMA over pages 1 and 2 moves nothing. */
	ck_assert_int_eq(vtd_dma_rw(v, SID, 0x1800, buf + 0x100, 0x1000, true), -EFAULT);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x800, back, 0x800), 0);
	for (unsigned i = 0; i < 0x800; i++)
		ck_assert_uint_eq(back[i], 0);			/* as the first DMA left it */
	ck_assert_uint_eq(fault_reason(), VTD_FR_WRITE);
	ck_assert_uint_eq(rd(VTD_FRCD, 8), 0x2000);
	/* A mapping to where there is no RAM: nothing moves, no crash. */
	ck_assert_int_eq(vtd_dma_rw(v, SID, 0x3800, buf, 0x1000, true), -EFAULT);
	ck_assert_int_eq(guest_mem_read(&mem, RAM - 0x800, back, 0x800), 0);
	for (unsigned i = 0; i < 0x800; i++)
		ck_assert_uint_eq(back[i], 0);
	/* Off: straight to guest-physical, still bounded to RAM. */
	wr(VTD_GCMD, 4, 0);
	ck_assert_int_eq(vtd_dma_rw(v, SID, DATA + 0x10000, buf, 0x100, true), 0);
	ck_assert_int_eq(vtd_dma_rw(v, SID, RAM - 0x80, buf, 0x100, true), -EFAULT);
	ck_assert_int_eq(vtd_dma_rw(v, SID, ~0ull - 0x10, buf, 0x100, false), -EFAULT);
}
END_TEST

/* Writes descriptor i of the queue. */
static void desc(unsigned i, uint64_t lo, uint64_t hi)
{
	put64(IQ + i * 16, lo);
	put64(IQ + i * 16 + 8, hi);
}

static uint64_t wait_desc(uint32_t status, bool sw, bool intr)
{
	return 5 | (sw ? 1u << 5 : 0) | (intr ? 1u << 4 : 0) | (uint64_t)status << 32;
}

START_TEST(test_queued_invalidation)
{
	for (unsigned i = 0; i < 256; i++)
		desc(i, 2 | 1u << 4, 0);		/* IOTLB, global: harmless */
	wr(VTD_IQA, 8, IQ);		/* QS 0: 256 descriptors */
	wr(VTD_IQT, 8, 0);
	wr(VTD_GCMD, 4, VTD_GCMD_QIE);
	ck_assert_uint_eq(rd(VTD_GSTS, 4), VTD_GCMD_QIE);
	desc(0, 1 | 1u << 4, 0);			/* context-cache, global */
	desc(1, 2 | 1u << 4, 0);			/* IOTLB, global */
	desc(2, 4, 0);					/* IEC, global */
	desc(3, wait_desc(0xc0ffee, true, true), STATUS);
	wr(VTD_IQT, 8, 4 << 4);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 4 << 4);
	ck_assert_uint_eq(get32(STATUS), 0xc0ffee);
	ck_assert_uint_eq(rd(VTD_ICS, 4), VTD_ICS_IWC);
	wr(VTD_ICS, 4, VTD_ICS_IWC);
	ck_assert_uint_eq(rd(VTD_ICS, 4), 0);
	/* A wait without SW writes nothing. */
	desc(4, wait_desc(0x1111, false, false), STATUS);
	wr(VTD_IQT, 8, 5 << 4);
	ck_assert_uint_eq(get32(STATUS), 0xc0ffee);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 5 << 4);
	/* An invalid descriptor: IQE, the head stays on it, later ones wait. */
	desc(5, 0xf, 0);
	desc(6, wait_desc(0x2222, true, false), STATUS);
	wr(VTD_IQT, 8, 7 << 4);
	ck_assert_uint_eq(rd(VTD_FSTS, 4) & VTD_FSTS_IQE, VTD_FSTS_IQE);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 5 << 4);
	ck_assert_uint_eq(get32(STATUS), 0xc0ffee);
	/* Fixed and IQE cleared: the queue goes on. */
	desc(5, 2 | 1u << 4, 0);
	wr(VTD_FSTS, 4, VTD_FSTS_IQE);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 7 << 4);
	ck_assert_uint_eq(get32(STATUS), 0x2222);
	/* Wrap-around: the head follows the tail through the end of the queue. */
	desc(255, wait_desc(0x3333, true, false), STATUS);
	desc(0, wait_desc(0x4444, true, false), STATUS);
	wr(VTD_IQT, 8, 255 << 4);
	wr(VTD_IQT, 8, 1 << 4);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 1 << 4);
	ck_assert_uint_eq(get32(STATUS), 0x4444);
	/* Off: the head resets and a tail write runs nothing. */
	wr(VTD_GCMD, 4, 0);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 0);
	wr(VTD_IQT, 8, 1 << 4);
	ck_assert_uint_eq(rd(VTD_IQH, 8), 0);
}
END_TEST

START_TEST(test_register_invalidation_completes)
{
	wr(VTD_CCMD, 8, 1ull << 63 | 1ull << 61 | 5);	/* domain-selective, DID 5 */
	ck_assert_uint_eq(rd(VTD_CCMD, 8) >> 63, 0);
	ck_assert_uint_eq(rd(VTD_CCMD, 8) >> 59 & 3, 1);
	wr(VTD_IOTLB, 8, 1ull << 63 | 2ull << 60);
	ck_assert_uint_eq(rd(VTD_IOTLB, 8) >> 63, 0);
	ck_assert_uint_eq(rd(VTD_IOTLB, 8) >> 57 & 3, 2);
}
END_TEST

/* IRTE i: present, vector, APIC id dest (xAPIC: DST bits 15:8), trigger. */
static void irte(unsigned i, bool present, uint8_t vector, uint8_t dest, bool level, bool fpd)
{
	put64(IRT + i * 16, (present ? 1 : 0) | (fpd ? 2 : 0) | (level ? 1u << 4 : 0) |
	      (uint64_t)vector << 16 | (uint64_t)dest << 40);
	put64(IRT + i * 16 + 8, SID);
}

static uint64_t remappable(unsigned index)
{
	return 0xfee00000ull | (uint64_t)(index & 0x7fff) << 5 | (index >> 15) << 2 |
	       VTD_MSI_REMAPPABLE;
}

static void ir_on(unsigned s)
{
	wr(VTD_IRTA, 8, IRT | s);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_SIRTP);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_IRE);
}

START_TEST(test_irte_translation)
{
	uint64_t a;
	uint32_t d;

	irte(5, true, 0x41, 3, false, false);
	irte(7, true, 0x55, 1, true, false);
	irte(9, false, 0x66, 0, false, false);
	/* Off: unchanged. */
	ck_assert_int_eq(vtd_msi_translate(v, remappable(5), 0, &a, &d), 0);
	ck_assert_uint_eq(a, remappable(5));
	ir_on(7);	/* 256 entries */
	ck_assert_int_eq(vtd_msi_translate(v, remappable(5), 0, &a, &d), 0);
	ck_assert_uint_eq(a, 0xfee03000);
	ck_assert_uint_eq(d, 0x41);
	/* SHV: handle 5 + subhandle 2. */
	ck_assert_int_eq(vtd_msi_translate(v, remappable(5) | 1u << 3, 2, &a, &d), 0);
	ck_assert_uint_eq(a, 0xfee01000);
	ck_assert_uint_eq(d, 0x55 | 1u << 15 | 1u << 14);	/* level, asserted */
	/* Not present: blocked, fault 0x22 with the index. */
	ck_assert_int_eq(vtd_msi_translate(v, remappable(9), 0, &a, &d), -ENOENT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_IR_NP);
	ck_assert_uint_eq(rd(VTD_FRCD, 8) >> 48, 9);
	clear_fault();
	/* Beyond the table (256 entries), with handle bit 15 too. */
	ck_assert_int_eq(vtd_msi_translate(v, remappable(256), 0, &a, &d), -ENOENT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_IR_INDEX);
	clear_fault();
	ck_assert_int_eq(vtd_msi_translate(v, remappable(0x8005), 0, &a, &d), -ENOENT);
	clear_fault();
	/* Compatibility format: blocked until CFI. */
	ck_assert_int_eq(vtd_msi_translate(v, 0xfee02000, 0x31, &a, &d), -ENOENT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_IR_COMPAT);
	clear_fault();
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_CFI);
	ck_assert_int_eq(vtd_msi_translate(v, 0xfee02000, 0x31, &a, &d), 0);
	ck_assert_uint_eq(a, 0xfee02000);
	ck_assert_uint_eq(d, 0x31);
	/* Posted format (IM) is not offered; FPD keeps a not-present entry quiet. */
	put64(IRT + 10 * 16, 1 | 1u << 15);
	ck_assert_int_eq(vtd_msi_translate(v, remappable(10), 0, &a, &d), -ENOENT);
	ck_assert_uint_eq(fault_reason(), VTD_FR_IR_RSVD);
	clear_fault();
	irte(11, false, 0, 0, false, true);
	ck_assert_int_eq(vtd_msi_translate(v, remappable(11), 0, &a, &d), -ENOENT);
	ck_assert_uint_eq(rd(VTD_FRCD + 8, 8) >> 63, 0);	/* F clear: nothing new */
}
END_TEST

START_TEST(test_wrapper_routes)
{
	struct vm_irq w = vtd_irq(v);
	int gsi = w.ops->msi_alloc(w.ctx), g2 = w.ops->msi_alloc(w.ctx);
	struct fake_route *r = &fi.route[gsi - FAKE_IRQ_FIRST_GSI];
	struct fake_route *r2 = &fi.route[g2 - FAKE_IRQ_FIRST_GSI];
	uint64_t q;

	ck_assert_int_eq(v->event_gsi, FAKE_IRQ_FIRST_GSI);	/* the unit's own events */
	ck_assert_int_eq(gsi, FAKE_IRQ_FIRST_GSI + 1);
	irte(5, true, 0x41, 3, false, false);
	/* Before remapping is on, routes go through as asked. */
	ck_assert_int_eq(w.ops->msi_route(w.ctx, gsi, remappable(5), 0), 0);
	ck_assert_int_eq(w.ops->msi_route(w.ctx, g2, 0xfee01000, 0x22), 0);
	ck_assert(r->set);
	ck_assert_uint_eq(r->addr, remappable(5));
	/* IRE on: every recorded route is translated again. */
	ir_on(7);
	ck_assert(r->set);
	ck_assert_uint_eq(r->addr, 0xfee03000);
	ck_assert_uint_eq(r->data, 0x41);
	ck_assert(!r2->set);		/* compatibility format, CFI clear: blocked */
	/* An IRTE changed in memory counts once the IEC is invalidated. */
	irte(5, true, 0x42, 2, false, false);
	ck_assert_uint_eq(r->data, 0x41);
	wr(VTD_IQA, 8, IQ);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_QIE);
	desc(0, 4, 0);
	wr(VTD_IQT, 8, 1 << 4);
	ck_assert_uint_eq(r->data, 0x42);
	ck_assert_uint_eq(r->addr, 0xfee02000);
	/* A route to a non-present IRTE is removed. */
	clear_fault();
	irte(6, false, 0, 0, false, false);
	ck_assert_int_eq(w.ops->msi_route(w.ctx, gsi, remappable(6), 0), 0);
	ck_assert(!r->set);
	ck_assert_uint_eq(fault_reason(), VTD_FR_IR_NP);
	/* IRE off again: the routes as recorded. */
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) & ~VTD_GCMD_IRE);
	ck_assert(r->set && r2->set);
	ck_assert_uint_eq(r2->addr, 0xfee01000);
	/* Lines, irqfds pass through to the VM's ops. */
	w.ops->set_line(w.ctx, 9, 1);
	ck_assert_uint_eq(fi.line_gsi, 9);
	ck_assert_int_eq(fi.line_level, 1);
	ck_assert_int_eq(w.ops->msi_route(w.ctx, VTD_MAX_ROUTES, 0xfee00000, 0), -EINVAL);
	q = rd(VTD_GSTS, 4);
	ck_assert_uint_eq(q & VTD_GCMD_IRE, 0);
}
END_TEST

START_TEST(test_event_interrupts)
{
	struct fake_route *r = &fi.route[v->event_gsi - FAKE_IRQ_FIRST_GSI];
	unsigned sets = fi.line_sets;
	uint64_t gpa, span;

	wr(VTD_FEADDR, 4, 0xfee00000);
	wr(VTD_FEDATA, 4, 0x4e);
	/* Masked (the reset state): the fault stays pending in IP. */
	ck_assert_int_eq(xlate(0, false, &gpa, &span), 0);	/* translation off: no fault */
	tables(1, PT4, false);
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(rd(VTD_FECTL, 4), VTD_FECTL_IM | VTD_FECTL_IP);
	ck_assert_uint_eq(fi.line_sets, sets);
	/* Unmasking sends it: the message, then the GSI raised. */
	wr(VTD_FECTL, 4, 0);
	ck_assert_uint_eq(rd(VTD_FECTL, 4), 0);
	ck_assert(r->set);
	ck_assert_uint_eq(r->addr, 0xfee00000);
	ck_assert_uint_eq(r->data, 0x4e);
	ck_assert_uint_eq(fi.line_sets, sets + 2);
	ck_assert_uint_eq(fi.line_gsi, (unsigned)v->event_gsi);
	/* Another fault while the first is pending: PFO, no second interrupt. */
	ck_assert_int_eq(xlate(0, false, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fi.line_sets, sets + 2);
	clear_fault();
	ck_assert_int_eq(xlate(0, true, &gpa, &span), -EFAULT);
	ck_assert_uint_eq(fi.line_sets, sets + 4);
	clear_fault();
	/* An invalidation wait with IF: IWC and the invalidation event. */
	wr(VTD_IEADDR, 4, 0xfee01000);
	wr(VTD_IEDATA, 4, 0x4f);
	wr(VTD_IECTL, 4, 0);
	wr(VTD_IQA, 8, IQ);
	wr(VTD_GCMD, 4, rd(VTD_GSTS, 4) | VTD_GCMD_QIE);
	desc(0, wait_desc(0, false, true), 0);
	wr(VTD_IQT, 8, 1 << 4);
	ck_assert_uint_eq(rd(VTD_ICS, 4), VTD_ICS_IWC);
	ck_assert_uint_eq(r->addr, 0xfee01000);
	ck_assert_uint_eq(r->data, 0x4f);
	ck_assert_uint_eq(fi.line_sets, sets + 6);
}
END_TEST

START_TEST(test_save_restore)
{
	struct state_writer w;
	struct vtd *b = malloc(sizeof(*b));
	struct vm_irq wi = vtd_irq(v);
	int gsi = wi.ops->msi_alloc(wi.ctx);
	uint64_t gpa, span;

	ck_assert_ptr_nonnull(b);
	put64(PT4, PT3 | 3);
	put64(PT3, PT2 | 3);
	put64(PT2, DATA | 3);
	tables(1, PT4, false);
	irte(3, true, 0x77, 1, false, false);
	wr(VTD_IQA, 8, IQ | 1);
	wr(VTD_FEDATA, 4, 0x44);
	wr(VTD_FEADDR, 4, 0xfee00000);
	wr(VTD_FECTL, 4, 0);
	ir_on(3);
	ck_assert_int_eq(xlate(0x1000, false, &gpa, &span), -EFAULT);	/* one fault recorded */
	ck_assert_int_eq(wi.ops->msi_route(wi.ctx, gsi, remappable(3), 0), 0);

	/* Into a fresh unit whose device asked for the same route: remapped at once. */
	vtd_init(b, &mem, fake_irq_ops(&fi), true);
	memset(fi.route, 0, sizeof(fi.route));
	b->route[gsi] = v->route[gsi];
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&vtd_device_ops, v, &w), 0);
	ck_assert_int_eq(device_restore_one(&vtd_device_ops, b, w.data, w.len), 0);
	ck_assert_mem_eq(&b->r, &v->r, sizeof(v->r));
	ck_assert(fi.route[gsi - FAKE_IRQ_FIRST_GSI].set);
	ck_assert_uint_eq(fi.route[gsi - FAKE_IRQ_FIRST_GSI].data, 0x77);
	ck_assert_int_eq(vtd_translate(b, SID, 0x10, true, &gpa, &span), 0);
	ck_assert_uint_eq(gpa, DATA + 0x10);
	/* Truncated, or one byte more: refused, the unit reset. */
	ck_assert_int_eq(device_restore_one(&vtd_device_ops, b, w.data, w.len - 1), -EINVAL);
	ck_assert_uint_eq(b->r.gsts, 0);
	state_writer_free(&w);
	/* A status bit the unit cannot have (WBFS), or IR state into a unit without IR. */
	v->r.gsts |= VTD_GCMD_WBF;
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&vtd_device_ops, v, &w), 0);
	ck_assert_int_eq(device_restore_one(&vtd_device_ops, b, w.data, w.len), -EINVAL);
	state_writer_free(&w);
	v->r.gsts &= ~VTD_GCMD_WBF;
	vtd_destroy(b);
	vtd_init(b, &mem, fake_irq_ops(&fi), false);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&vtd_device_ops, v, &w), 0);
	ck_assert_int_eq(device_restore_one(&vtd_device_ops, b, w.data, w.len), -EINVAL);
	state_writer_free(&w);
	vtd_destroy(b);
	free(b);
}
END_TEST

/* The DMAR table offers remapping only when the IOAPIC is remapped too (split irqchip). */
START_TEST(test_describe)
{
	struct machine_desc m;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(vtd_device_ops.describe(v, &m), 0);
	ck_assert_uint_eq(m.dmar.base, VTD_BASE);
	ck_assert(!m.dmar.intremap);		/* MSI-only remapping */
	ck_assert_uint_eq(m.dmar.ioapic_devfn, 0x1f << 3);
	v->dmar_intremap = true;
	ck_assert_int_eq(vtd_device_ops.describe(v, &m), 0);
	ck_assert(m.dmar.intremap);
	v->intremap = false;
	ck_assert_int_eq(vtd_device_ops.describe(v, &m), 0);
	ck_assert(!m.dmar.intremap);
}
END_TEST

START_TEST(test_hostile_registers)
{
	uint64_t gpa, span;
	uint8_t buf[64];
	uint32_t data;

	/* Every offset, width and a few patterns; then tables pointing anywhere. */
	srand(1);
	for (unsigned n = 0; n < 200000; n++) {
		uint32_t off = (uint32_t)rand() % (VTD_SIZE + 16);
		uint32_t len = 1u << (rand() % 4);
		uint64_t x = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 7 ^ (uint64_t)rand();

		if (n % 3 == 0)
			x &= RAM - 1;
		vtd_mmio(v, off, (uint8_t *)&x, len, rand() & 1);
		if (n % 1000 == 0) {
			for (unsigned i = 0; i < sizeof(buf); i += 8)
				put64(ROOT + i * 64 + (uint64_t)(rand() % 64) * 8, (uint64_t)rand() << 12 | 3);
			vtd_translate(v, (uint16_t)rand(), (uint64_t)rand() << 12, rand() & 1, &gpa, &span);
			vtd_dma_rw(v, (uint16_t)rand(), (uint64_t)rand() << 12, buf, sizeof(buf), rand() & 1);
			vtd_msi_translate(v, 0xfee00010 | (uint64_t)(rand() & 0xffff) << 4, 0, &gpa,
					  &data);
		}
	}
	ck_assert_uint_eq(rd(VTD_VER, 4), 0x10);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vtd");
	TCase *tc = tcase_create("vtd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_registers_at_rest);
	tcase_add_test(tc, test_gcmd_gsts);
	tcase_add_test(tc, test_no_intremap);
	tcase_add_test(tc, test_translation_off_is_identity);
	tcase_add_test(tc, test_walk_3_levels);
	tcase_add_test(tc, test_walk_4_levels_superpages);
	tcase_add_test(tc, test_permissions_accumulate);
	tcase_add_test(tc, test_root_context_faults);
	tcase_add_test(tc, test_dma_rw);
	tcase_add_test(tc, test_queued_invalidation);
	tcase_add_test(tc, test_register_invalidation_completes);
	tcase_add_test(tc, test_irte_translation);
	tcase_add_test(tc, test_wrapper_routes);
	tcase_add_test(tc, test_event_interrupts);
	tcase_add_test(tc, test_save_restore);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_hostile_registers);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
