/*
 * QEMU's edu device behind an Intel VT-d unit, as a guest driver sees them,
 * written from QEMU's docs/specs/edu.rst and the Intel VT-d specification.
 * Finds 1234:11e8 on bus 0, checks its identification, liveness and
 * factorial registers, DMAs through it untranslated, then (vtd=1) builds a
 * root table, a context entry for the edu's requester id and 3-level
 * second-level page tables (4 KiB pages and a 2 MiB superpage) at
 * 0xfed90000, and checks that DMA follows them both ways, that a DMA to an
 * unmapped IOVA or into a read-only page lands nowhere and is recorded as a
 * fault.  With ir=1, the edu's MSI carries only a remappable handle: the
 * vector and the destination CPU (APIC id 1) come from the IRTE, which a
 * queued IEC invalidation then changes; a non-present IRTE delivers nothing.
 * The same binary passes under QEMU 7.2 (-M q35,kernel-irqchip=split -device
 * intel-iommu,intremap=on,eim=off -device edu) with ir_faults=0: QEMU does not
 * record interrupt-remapping faults.
 */
#include "guest.h"
#include "virtio.h"

#define EDU_ID		0x00
#define EDU_ALIVE	0x04
#define EDU_FACT	0x08
#define EDU_STATUS	0x20
#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_RAISE	0x60
#define EDU_IRQ_ACK	0x64
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_BUF		0x40000

#define VTD		0xfed90000ull
#define VER		0x00
#define CAP		0x08
#define ECAP		0x10
#define GCMD		0x18
#define GSTS		0x1c
#define RTADDR		0x20
#define FSTS		0x34
#define IQH		0x80
#define IQT		0x88
#define IQA		0x90
#define IRTA		0xb8
#define TE		(1u << 31)
#define SRTP		(1u << 30)
#define QIE		(1u << 26)
#define IRE		(1u << 25)
#define SIRTP		(1u << 24)

/* Work area in RAM (identity mapped): tables, pages, a 2 MiB-aligned superpage. */
#define WORK		0x2000000ull
#define ROOT		(WORK + 0x0000)
#define CTX		(WORK + 0x1000)
#define L3		(WORK + 0x2000)
#define L2		(WORK + 0x3000)
#define L1		(WORK + 0x4000)
#define IRT		(WORK + 0x5000)
#define IQ		(WORK + 0x6000)
#define STAT		(WORK + 0x7000)
#define PA		(WORK + 0x8000)
#define PB		(WORK + 0x9000)
#define PC		(WORK + 0xa000)
#define SUPER		0x2200000ull
#define IOVA_A		0x10000ull
#define IOVA_B		0x11000ull
#define IOVA_RO		0x12000ull
#define IOVA_NONE	0x20000ull
#define IOVA_SUPER	0x200000ull	/* level-2 index 1: inside the edu's 28 address bits */

#define VEC1		0x61
#define VEC2		0x62
#define IRTE_INDEX	3

static uint64_t bar;
static unsigned slot;
static volatile unsigned irqs, irq_vec, irq_cpu, ap_up;

static uint32_t rd(unsigned off) { return mmio_read32(bar + off); }
static void wr(unsigned off, uint32_t v) { mmio_write32(bar + off, v); }
static void wr64(unsigned off, uint64_t v) { *(volatile uint64_t *)(bar + off) = v; }
static uint32_t vrd(unsigned off) { return mmio_read32(VTD + off); }
static uint64_t vrd64(unsigned off) { return *(volatile uint64_t *)(VTD + off); }
static void vwr(unsigned off, uint32_t v) { mmio_write32(VTD + off, v); }
static void vwr64(unsigned off, uint64_t v) { *(volatile uint64_t *)(VTD + off) = v; }
static void put64(uint64_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static uint8_t *p8(uint64_t a) { return (uint8_t *)a; }

static void dma(uint64_t src, uint64_t dst, uint32_t cnt, bool to_ram)
{
	wr64(EDU_DMA_SRC, src);
	wr64(EDU_DMA_DST, dst);
	wr64(EDU_DMA_CNT, cnt);
	wr(EDU_DMA_CMD, 1 | (to_ram ? 2 : 0));
	for (unsigned i = 0; rd(EDU_DMA_CMD) & 1; i++)
		check(i < 1000000, "edu: DMA never finished");
}

static void fill(uint64_t a, uint8_t seed, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p8(a)[i] = (uint8_t)(seed + i * 5);
}

static bool same(uint64_t a, uint64_t b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p8(a)[i] != p8(b)[i])
			return false;
	return true;
}

static void gcmd(uint32_t cmd, uint32_t status)
{
	vwr(GCMD, (vrd(GSTS) & (TE | QIE | IRE)) | cmd);
	for (unsigned i = 0; (vrd(GSTS) & status) != status; i++)
		check(i < 1000000, "vtd: GSTS 0x%x never showed 0x%x", vrd(GSTS), status);
}

static void find_edu(void)
{
	uint32_t bar0, size;

	for (slot = 0; slot < 32; slot++)
		if (pci_cfg_read32(slot, 0) == (0x11e8u << 16 | 0x1234))
			break;
	check(slot < 32, "no 1234:11e8 on bus 0");
	check(pci_cfg_read8(slot, 8) == 0x10, "edu revision 0x%x", pci_cfg_read8(slot, 8));
	bar0 = pci_cfg_read32(slot, 0x10);
	pci_cfg_write32(slot, 0x10, 0xffffffff);
	size = ~(pci_cfg_read32(slot, 0x10) & ~0xfu) + 1;
	pci_cfg_write32(slot, 0x10, bar0);
	check(!(bar0 & 1) && size == 1u << 20, "BAR 0 0x%x, %u bytes", bar0, size);
	bar = bar0 & ~0xfull;
	printf("edu in slot %u, BAR 0 at 0x%lx\n", slot, bar);
}

static void registers(void)
{
	check(rd(EDU_ID) == 0x010000ed, "edu id 0x%x", rd(EDU_ID));
	wr(EDU_ALIVE, 0x5a5a1234);
	check(rd(EDU_ALIVE) == ~0x5a5a1234u, "liveness 0x%x", rd(EDU_ALIVE));
	wr(EDU_FACT, 10);
	while (rd(EDU_STATUS) & 1)
		pause();
	check(rd(EDU_FACT) == 3628800, "10! = %u", rd(EDU_FACT));
	printf("edu: id 0x010000ed, liveness, 10! = 3628800\n");
}

static void direct_dma(void)
{
	memset(p8(PB), 0, 256);
	fill(PA, 3, 256);
	pci_cfg_write16(slot, 4, pci_cfg_read16(slot, 4) | 4);	/* bus master */
	dma(PA, EDU_BUF, 256, false);
	dma(EDU_BUF, PB, 256, true);
	check(same(PA, PB, 256), "untranslated DMA: data differs");
	printf("edu: untranslated DMA both ways\n");
}

static void translated_dma(void)
{
	uint16_t sid = (uint16_t)(slot << 3);
	uint64_t cap = vrd64(CAP), fr;
	uint8_t before[64];

	check((vrd(VER) >> 4) >= 1, "vtd: version 0x%x", vrd(VER));
	check(cap & (2u << 8), "vtd: no 39-bit SAGAW in CAP 0x%lx", cap);
	check(cap & (1ull << 34), "vtd: no 2 MiB pages in CAP 0x%lx", cap);
	memset(p8(WORK), 0, 0xb000);
	memset(p8(SUPER), 0, 0x2000);
	put64(ROOT, CTX | 1);
	put64(CTX + (sid & 0xff) * 16, L3 | 1);
	put64(CTX + (sid & 0xff) * 16 + 8, 1 | (uint64_t)1 << 8);	/* AW 39 bits, domain 1 */
	put64(L3 + 0 * 8, L2 | 3);
	put64(L2 + 1 * 8, SUPER | 1 << 7 | 3);	/* IOVA 2 MiB: a 2 MiB page */
	put64(L2 + 0 * 8, L1 | 3);
	put64(L1 + (IOVA_A >> 12) * 8, PA | 3);
	put64(L1 + (IOVA_B >> 12) * 8, PB | 3);
	put64(L1 + (IOVA_RO >> 12) * 8, PC | 1);
	vwr64(RTADDR, ROOT);
	gcmd(SRTP, SRTP);
	gcmd(TE, TE);

	fill(PA, 9, 128);
	memcpy(before, p8(IOVA_B), sizeof(before));
	dma(IOVA_A, EDU_BUF, 128, false);
	dma(EDU_BUF, IOVA_B + 0x40, 128, true);
	check(same(PA, PB + 0x40, 128), "DMA through VT-d: page B does not hold page A's bytes");
	for (unsigned i = 0; i < sizeof(before); i++)
		check(p8(IOVA_B)[i] == before[i], "DMA went to the IOVA as a physical address");
	dma(EDU_BUF, IOVA_SUPER + 0x1234, 128, true);
	check(same(PA, SUPER + 0x1234, 128), "DMA through the 2 MiB page missed");
	printf("vtd: DMA through second-level tables both ways, 4 KiB and 2 MiB pages\n");

	check(vrd(FSTS) == 0, "vtd: FSTS 0x%x before any fault", vrd(FSTS));
	dma(EDU_BUF, IOVA_RO, 64, true);
	for (unsigned i = 0; i < 64; i++)
		check(p8(PC)[i] == 0, "DMA wrote into a read-only page");
	fr = vrd64(0x228);	/* the fault recording register CAP.FRO names */
	check((vrd64(CAP) >> 24 & 0x3ff) * 16 == 0x220, "vtd: FRO not at 0x220");
	check(vrd(FSTS) & 2, "vtd: no primary pending fault after a write to a read-only page");
	check(fr >> 63 && (fr & 0xffff) == sid && (fr >> 32 & 0xff) == 5,
	      "vtd: fault record 0x%lx", fr);
	check(vrd64(0x220) == IOVA_RO, "vtd: fault address 0x%lx", vrd64(0x220));
	vwr(0x22c, 1u << 31);		/* F is write-1-to-clear */
	check(!(vrd(FSTS) & 2), "vtd: PPF stays after F was cleared");
	dma(EDU_BUF, IOVA_NONE, 64, true);
	fr = vrd64(0x228);
	check(fr >> 63 && (fr >> 32 & 0xff) == 5 && vrd64(0x220) == IOVA_NONE,
	      "vtd: unmapped IOVA: fault record 0x%lx at 0x%lx", fr, vrd64(0x220));
	vwr(0x22c, 1u << 31);
	printf("vtd: DMA to an unmapped IOVA and into a read-only page: nothing lands, faults recorded\n");
}

static void handler(struct frame *f)
{
	irq_vec = (unsigned)f->vec;
	irq_cpu = lapic_id();
	wr(EDU_IRQ_ACK, rd(EDU_IRQ_STATUS));
	__atomic_fetch_add(&irqs, 1, __ATOMIC_SEQ_CST);
	lapic_eoi();
}

void test_ap_main(unsigned index)
{
	(void)index;
	lapic_write(LAPIC_SVR, 0x1ff);
	ap_up = 1;
	for (;;)
		sti_hlt();
}

static bool wait_irq(unsigned want)
{
	uint64_t end = rdtsc() + 500 * virtio_tsc_per_ms();

	while (irqs < want && rdtsc() < end)
		pause();
	return irqs >= want;
}

/* IRTE i: present, vector, physical destination APIC id (xAPIC: DST bits 15:8). */
static void irte(unsigned i, bool present, uint8_t vector, uint8_t dest)
{
	put64(IRT + i * 16, (present ? 1 : 0) | (uint64_t)vector << 16 | (uint64_t)dest << 40);
	put64(IRT + i * 16 + 8, 0);
}

/* Queued invalidation: an IEC (global) then a wait whose status write says it is done. */
static void invalidate_iec(uint32_t token)
{
	uint64_t t = vrd64(IQT);

	put64(IQ + t, 4);
	put64(IQ + t + 8, 0);
	put64(IQ + t + 16, 5 | 1u << 5 | (uint64_t)token << 32);
	put64(IQ + t + 24, STAT);
	vwr64(IQT, (t + 32) % 4096);
	for (unsigned i = 0; *(volatile uint32_t *)STAT != token; i++)
		check(i < 1000000, "vtd: invalidation wait never wrote its status");
	check(vrd64(IQH) == vrd64(IQT), "vtd: IQH 0x%lx behind IQT 0x%lx", vrd64(IQH), vrd64(IQT));
}

static uint64_t snap, ir_faults = 1, ioapic;

/*
 * snap=1: a snapshot here (--snapshot-dir), with translation, remapping and
 * the queue on; what follows runs again after 'kvmrun restore' on the
 * restored unit and edu.  DMA through the tables must still work.
 */
static void snapshot_point(void)
{
	uint8_t r;

	if (!snap)
		return;
	outb(0x5f0, 1);
	r = inb(0x5f0);
	check(r == 1 || r == 2, "snapshot port read 0x%x", r);
	printf("snapshot: %s\n", r == 1 ? "saved" : "restored");
	fill(PA, (uint8_t)(0x40 + r), 128);
	dma(IOVA_A, EDU_BUF, 128, false);
	dma(EDU_BUF, IOVA_B, 128, true);
	check(same(PA, PB, 128), "DMA through VT-d after the snapshot");
	check(rd(EDU_ALIVE) == ~0x5a5a1234u, "edu liveness register lost");
}

#define IOAPIC		0xfec00000ull
#define VEC3		0x63
#define IRTE_IOAPIC	0xa5	/* the handle: bits 14:0 in RTE bits 63:49, bit 15 in bit 11 */

static void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, v);
}

/*
 * ioapic=1 (split irqchip, intremap=on): the edu's INTx through an IOAPIC
 * entry in remappable format whose own vector field is 0x20; the interrupt
 * must arrive with the IRTE's vector on the IRTE's CPU.
 */
static void remapped_ioapic(unsigned cap)
{
	unsigned pin = pci_cfg_read8(slot, 0x3c), before = irqs;

	check(pin < 24, "edu interrupt line %u", pin);
	/* The undelivered raise above is still pending: acknowledged, so that INTx starts low. */
	wr(EDU_IRQ_ACK, rd(EDU_IRQ_STATUS));
	pci_cfg_write16(slot, cap + 2, 0);		/* MSI off: INTx */
	irte(IRTE_IOAPIC, true, VEC3, 1);
	invalidate_iec(0x600f);
	idt_set(VEC3, handler);
	ioapic_write(0x11 + 2 * pin, 1u << 16 | (IRTE_IOAPIC & 0x7fff) << 17);
	ioapic_write(0x10 + 2 * pin, 0x20 | (IRTE_IOAPIC >> 15) << 11);	/* edge, unmasked */
	wr(EDU_IRQ_RAISE, 1);
	check(wait_irq(before + 1), "no interrupt through the remapped IOAPIC entry of pin %u", pin);
	check(irq_vec == VEC3 && irq_cpu == 1, "IOAPIC interrupt at vector 0x%x on APIC %u, the "
	      "IRTE says 0x%x on APIC 1", irq_vec, irq_cpu, VEC3);
	ioapic_write(0x10 + 2 * pin, 1u << 16);		/* masked again */
	printf("vtd: edu INTx through IOAPIC pin %u remapped by IRTE 0x%x to vector 0x%x on APIC 1\n",
	       pin, IRTE_IOAPIC, VEC3);
}

static void remapped_msi(void)
{
	unsigned cap = pci_cfg_read8(slot, 0x34);

	check(vrd64(ECAP) & 8, "vtd: no interrupt remapping in ECAP");
	check(pci_cfg_read8(slot, cap) == 5, "edu: first capability 0x%x is not MSI",
	      pci_cfg_read8(slot, cap));
	/* Firmware (under QEMU) may leave the 8259s live with IRQ 0 on vector 8: mask them. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	lapic_write(LAPIC_SVR, 0x1ff);
	smp_start_aps();
	for (uint64_t end = rdtsc() + 30000 * virtio_tsc_per_ms(); !ap_up && rdtsc() < end;)
		pause();
	check(ap_up, "the second CPU did not start");
	idt_set(VEC1, handler);
	idt_set(VEC2, handler);
	irte(IRTE_INDEX, true, VEC1, 1);
	vwr64(IQA, IQ);
	vwr64(IQT, 0);
	gcmd(QIE, QIE);
	vwr64(IRTA, IRT | 7);
	gcmd(SIRTP, SIRTP);
	gcmd(IRE, IRE);
	/* The message names only the handle: no vector, no destination. */
	pci_cfg_write32(slot, cap + 4, 0xfee00000u | IRTE_INDEX << 5 | 1u << 4);
	pci_cfg_write16(slot, cap + 8, 0);
	pci_cfg_write16(slot, cap + 2, 1);
	snapshot_point();
	wr(EDU_IRQ_RAISE, 1);
	check(wait_irq(1), "no interrupt through IRTE %u", IRTE_INDEX);
	check(irq_vec == VEC1 && irq_cpu == 1, "interrupt at vector 0x%x on APIC %u, the IRTE says "
	      "0x%x on APIC 1", irq_vec, irq_cpu, VEC1);
	printf("vtd: edu MSI remapped through IRTE %u to vector 0x%x on APIC 1\n", IRTE_INDEX, VEC1);
	irte(IRTE_INDEX, true, VEC2, 0);
	invalidate_iec(0x600d);
	sti();
	wr(EDU_IRQ_RAISE, 1);
	check(wait_irq(2), "no interrupt after the IRTE changed");
	check(irq_vec == VEC2 && irq_cpu == 0, "after IEC: vector 0x%x on APIC %u", irq_vec, irq_cpu);
	printf("vtd: IRTE changed, IEC invalidated through the queue: vector 0x%x on APIC 0\n", VEC2);
	irte(IRTE_INDEX, false, VEC1, 0);
	invalidate_iec(0x600e);
	wr(EDU_IRQ_RAISE, 1);
	check(!wait_irq(3), "interrupt through a non-present IRTE");
	/* The spec records it; QEMU 7.2 only logs it (ir_faults=0 there). */
	if (ir_faults)
		check(vrd(FSTS) & 2 && (vrd64(0x228) >> 32 & 0xff) == 0x22,
		      "vtd: no fault recorded for the non-present IRTE (FSTS 0x%x)", vrd(FSTS));
	cli();
	printf("vtd: non-present IRTE: nothing delivered%s\n", ir_faults ? ", fault 0x22 recorded" : "");
	if (ioapic)
		remapped_ioapic(cap);
}

void test_main(void)
{
	uint64_t vtd = 0, ir = 0;

	cmdline_u64("vtd", &vtd);
	cmdline_u64("ir", &ir);
	cmdline_u64("snap", &snap);
	cmdline_u64("ir_faults", &ir_faults);
	cmdline_u64("ioapic", &ioapic);
	find_edu();
	registers();
	direct_dma();
	if (vtd)
		translated_dma();
	if (ir)
		remapped_msi();
}
