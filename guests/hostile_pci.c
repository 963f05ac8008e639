/*
 * Hostile PCI programming (issue 14): BARs aimed at nonsense and INTx
 * abused, on virtio-pci, with an entropy device and a disk as the victims.
 * Each scenario prints "hostile: NAME: ok" or fails; after each, the
 * victim's BAR is put back, the device set up again and one request must
 * complete through it: kvmrun survived and still decodes correctly.
 *
 *  - a BAR over RAM (the guest's own image), over the LAPIC, over ECAM and
 *    over the IOAPIC: it decodes nowhere; RAM, LAPIC, ECAM, IOAPIC unchanged
 *  - BARs of two devices at the same address: one of them answers, nothing
 *    breaks
 *  - a BAR just past the 64-bit window, and one whose 64-bit address wraps
 *    around: decodes nowhere
 *  - the last 32 KiB of the 64-bit window: decodes there
 *  - Interrupt Disable toggled 2000 times while the device completes
 *    requests with MSI-X off and INTx routed: the interrupts that arrive
 *    are all answered by an ISR read, the line ends low
 *  - all-ones written to every byte of the function's 4 KiB of ECAM, and
 *    to functions that do not exist
 *
 * Command line: win64=N (the 64-bit window's base, decimal).
 */
#include "virtio.h"

#define ECAM_BASE	0xe0000000ULL
#define IOAPIC_BASE	0xfec00000ULL
#define PCI_CMD		0x04
#define PCI_CMD_MEM	0x02
#define PCI_CMD_INTX_OFF 0x400
#define INTX_VEC	0x43
#define BAR_SIZE	0x8000

static struct virtio_dev rng, blk;
static struct virtq vq;
static uint8_t buf[64];
static unsigned scenarios;
static uint64_t rng_bar, blk_bar;
static volatile unsigned irqs, acked;

static uint64_t bar0(unsigned slot)
{
	return (uint64_t)pci_cfg_read32(slot, 0x14) << 32 | (pci_cfg_read32(slot, 0x10) & ~0xfu);
}

static void bar0_set(unsigned slot, uint64_t addr)
{
	pci_cfg_write32(slot, 0x10, (uint32_t)addr);
	pci_cfg_write32(slot, 0x14, (uint32_t)(addr >> 32));
	pci_cfg_write16(slot, PCI_CMD, PCI_CMD_MEM);
}

/* One entropy request through wherever the device decodes now. */
static void use_rng(const char *scen)
{
	uint32_t id, len;
	struct virtq_buf b = { buf, sizeof(buf), true };

	check(virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0, "hostile: %s: entropy device gone", scen);
	check(virtio_init(&rng, 0) == 0, "hostile: %s: entropy device init failed", scen);
	check(virtq_setup(&rng, &vq, 0, 16) > 0, "hostile: %s: queue setup failed", scen);
	virtio_driver_ok(&rng);
	check(virtq_add(&vq, &b, 1, false) >= 0, "hostile: %s: ring full", scen);
	virtq_kick(&vq);
	check(virtq_wait(&vq, &id, &len), "hostile: %s: request not completed", scen);
}

/* Both devices back where kvmrun put them, and working. */
static void recover(const char *scen)
{
	bar0_set(blk.slot, blk_bar);
	bar0_set(rng.slot, rng_bar);
	check(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0 && virtio_init(&blk, 0) == 0,
	      "hostile: %s: the disk does not come back", scen);
	use_rng(scen);
	printf("hostile: %s: ok\n", scen);
	scenarios++;
}

static void bar_nowhere(const char *scen, uint64_t addr, volatile uint32_t *probe)
{
	uint32_t before = *probe;

	bar0_set(rng.slot, addr);
	check(mmio_read32(rng_bar) == 0xffffffffu, "hostile: %s: the old address still decodes", scen);
	check(*probe == before, "hostile: %s: 0x%lx reads 0x%x, was 0x%x", scen, (uint64_t)probe,
	      *probe, before);
	recover(scen);
}

static void intx_handler(struct frame *f)
{
	(void)f;
	irqs++;
	if (*(volatile uint8_t *)rng.isr)
		acked++;
	lapic_eoi();
}

static void intx_toggle(void)
{
	unsigned line = pci_cfg_read8(rng.slot, 0x3c);
	volatile uint32_t *sel = (volatile uint32_t *)IOAPIC_BASE;
	volatile uint32_t *win = (volatile uint32_t *)(IOAPIC_BASE + 0x10);
	struct virtq_buf b = { buf, sizeof(buf), true };

	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	idt_set(INTX_VEC, intx_handler);
	*sel = 0x10 + 2 * line + 1;
	*win = lapic_id() << 24;
	*sel = 0x10 + 2 * line;
	*win = INTX_VEC | 1u << 15;
	lapic_write(LAPIC_SVR, 0x1ff);
	use_rng("intx-toggle");
	*vq.avail_flags = 0;
	for (unsigned i = 0; i < 2000; i++) {
		uint16_t cmd = (uint16_t)(PCI_CMD_MEM | (i & 1 ? PCI_CMD_INTX_OFF : 0));

		if (i % 50 == 0 && virtq_add(&vq, &b, 1, false) >= 0)
			virtq_kick(&vq);
		pci_cfg_write16(rng.slot, PCI_CMD, cmd);
		if (i % 7 == 0) {
			sti();
			pause();
			cli();
		}
	}
	pci_cfg_write16(rng.slot, PCI_CMD, PCI_CMD_MEM);
	sti();
	for (unsigned i = 0; i < 200000; i++)
		pause();
	cli();
	unsigned settled = irqs;

	sti();
	for (unsigned i = 0; i < 100000; i++)
		pause();
	cli();
	check(irqs == settled, "hostile: intx-toggle: the line stayed up (%u more interrupts)",
	      irqs - settled);
	check(!(pci_cfg_read16(rng.slot, 0x06) & 0x08), "hostile: intx-toggle: Interrupt Status set");
	printf("hostile: intx-toggle: %u interrupts, %u with the ISR set\n", irqs, acked);
	recover("intx-toggle");
}

static void ecam_garbage(void)
{
	volatile uint8_t *f = (volatile uint8_t *)(ECAM_BASE + ((uint64_t)rng.slot << 15));

	for (unsigned off = 0; off < 4096; off++)
		f[off] = 0xff;
	for (unsigned fn = 1; fn < 8; fn++)
		*(volatile uint32_t *)(f + ((uint64_t)fn << 12)) = 0xffffffffu;
	check(pci_cfg_read16(rng.slot, 0) == VIRTIO_PCI_VENDOR, "hostile: ecam-garbage: vendor id changed");
	/* MSI-X may be on now: off again, as the driver would. */
	for (unsigned c = pci_cfg_read8(rng.slot, 0x34) & 0xfc, g = 0; c && g < 48;
	     g++, c = pci_cfg_read8(rng.slot, c + 1) & 0xfc)
		if (pci_cfg_read8(rng.slot, c) == 0x11)
			pci_cfg_write16(rng.slot, c + 2, 0);
	recover("ecam-garbage");
}

void test_main(void)
{
	uint64_t win64 = 0;
	volatile uint32_t *ram = (volatile uint32_t *)0x100000ULL;

	check(cmdline_u64("win64", &win64) && win64 >= 0x100000000ULL, "hostile: win64= missing");
	check(virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0 && rng.pci, "hostile: no entropy device on PCI");
	check(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0 && blk.pci, "hostile: no disk on PCI");
	printf("hostile: pci: disk on virtio-pci 00:%02x.0, entropy 00:%02x.0\n", blk.slot, rng.slot);
	rng_bar = bar0(rng.slot);
	blk_bar = bar0(blk.slot);

	bar_nowhere("bar-over-ram", 0x100000, ram);
	bar_nowhere("bar-over-lapic", 0xfee00000ULL, (volatile uint32_t *)(LAPIC_BASE + 0x30));
	bar_nowhere("bar-over-ecam", ECAM_BASE, (volatile uint32_t *)ECAM_BASE);
	bar_nowhere("bar-over-ioapic", IOAPIC_BASE, (volatile uint32_t *)IOAPIC_BASE);
	bar_nowhere("bar-past-window64", win64 + 0x400000000ULL, ram);
	bar_nowhere("bar-wraps", 0xfffffffffffff000ULL & ~(uint64_t)(BAR_SIZE - 1), ram);

	/* Two devices at one address: one answers, nothing breaks. */
	bar0_set(rng.slot, blk_bar);
	check(mmio_read32(blk_bar) != 0xffffffffu, "hostile: bar-overlap: nothing answers");
	check(mmio_read32(rng_bar) == 0xffffffffu, "hostile: bar-overlap: the old address decodes");
	recover("bar-overlap");

	/* The last 32 KiB of the 64-bit window is inside it. */
	uint64_t top = win64 + 0x400000000ULL - BAR_SIZE;

	bar0_set(rng.slot, top);
	if (top < 0x200000000ULL) {	/* the guest maps 8 GiB */
		check(virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0 && rng.common >= top,
		      "hostile: bar-window-end: not found at 0x%lx", top);
	}
	recover("bar-window-end");

	intx_toggle();
	ecam_garbage();
	printf("hostile: pci: %u scenarios passed\n", scenarios);
	pass();
}
