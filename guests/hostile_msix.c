/*
 * Hostile MSI-X programming (issue 5, virtio-pci only): vector numbers the
 * function does not have, every vector aimed at garbage while interrupts
 * flow, the table rewritten between requests, the configuration vector when
 * the disk needs a reset, QWORD accesses to the table.  Runs in CPL0 (the
 * only place this guest takes interrupts); devices and the AP as in
 * hostile.h.  The disk's queue 0 uses vector 1 and configuration changes
 * vector 0, both aimed at this CPU; every vector the guest did not ask for
 * counts as a stray interrupt and fails the scenario.
 *
 * Command line: transport=pci.
 */
#include "hostile.h"

#define MSIX_VEC	0x50
#define CFG_VEC		0x51

static volatile unsigned q_irqs, cfg_irqs, stray_irqs;
static uint64_t msix_table;
static uint8_t msix_cap;
static uint32_t bsp_msi_addr;

static void q_handler(struct frame *f) { (void)f; q_irqs++; lapic_eoi(); }
static void cfg_handler(struct frame *f) { (void)f; cfg_irqs++; lapic_eoi(); }
static void stray_handler(struct frame *f) { (void)f; stray_irqs++; lapic_eoi(); }

static void msix_entry(unsigned v, uint64_t addr, uint32_t data)
{
	uint64_t e = msix_table + 16 * v;

	mmio_write32(e + 12, 1);
	mmio_write32(e, (uint32_t)addr);
	mmio_write32(e + 4, (uint32_t)(addr >> 32));
	mmio_write32(e + 8, data);
	mmio_write32(e + 12, 0);
}

/* Waits with interrupts on for ms milliseconds, or until q_irqs reaches want. */
static void irq_window(unsigned want, uint64_t ms)
{
	uint64_t t = rdtsc();

	sti();
	while (q_irqs < want && ms_since(t) < ms)
		pause();
	cli();
}

/*
 * One disk read, then interrupts on for up to ms until want interrupts came
 * (one at a time: the LAPIC merges pending interrupts of one vector).
 */
static void request_irq(unsigned want, uint64_t ms)
{
	unsigned before = q_irqs;

	hcheck(disk_read_sector0() == VIRTIO_BLK_S_OK, "a read failed (status %u)", good_status);
	irq_window(before + (want ? want : 1), ms);
}

/* The disk with queue 0 on vector 1 and configuration changes on vector 0, interrupts for every used buffer. */
static void msix_disk(void)
{
	/* No event-idx: the available ring's flags decide about interrupts. */
	hcheck(virtio_init(&blk, VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC)) == 0, "initialization failed");
	hcheck(virtq_setup(&blk, &bvq, 0, VIRTQ_MAX_SIZE) > 0, "queue setup failed");
	mmio_wr(blk.common + VPCI_Q_SELECT, 2, 0);
	mmio_wr(blk.common + VPCI_Q_MSIX, 2, 1);
	mmio_wr(blk.common + VPCI_MSIX_CONFIG, 2, 0);
	hcheck(mmio_rd(blk.common + VPCI_Q_MSIX, 2) == 1 && mmio_rd(blk.common + VPCI_MSIX_CONFIG, 2) == 0,
	       "the device did not take vectors 0 and 1");
	virtio_driver_ok(&blk);
	*bvq.avail_flags = 0;
	msix_entry(0, bsp_msi_addr, CFG_VEC);
	msix_entry(1, bsp_msi_addr, MSIX_VEC);
	pci_cfg_write16(blk.slot, msix_cap + 2, 0x8000);
}

static void msix_setup(void)
{
	uint32_t table;

	msix_cap = find_cap(blk.slot, PCI_CAP_MSIX, 0);
	hcheck(msix_cap, "no MSI-X capability");
	table = pci_cfg_read32(blk.slot, msix_cap + 4);
	hcheck((table & 7) == 0 && (pci_cfg_read16(blk.slot, msix_cap + 2) & 0x7ff) == 1,
	       "expected 2 MSI-X vectors in BAR 0");
	msix_table = blk.common + (table & ~7u);
	bsp_msi_addr = 0xfee00000u | lapic_id() << 12;
	for (unsigned v = 0x20; v < 0xff; v++)
		if (v != AP_TICK_VEC)
			idt_set(v, stray_handler);
	idt_set(MSIX_VEC, q_handler);
	idt_set(CFG_VEC, cfg_handler);
}

static void s_msix_vector_numbers(void)
{
	static const uint16_t bad[] = { 2, 3, 16, 0x7fff, 0xfffe };

	blk_fresh(blk_feats);
	mmio_wr(blk.common + VPCI_Q_SELECT, 2, 0);
	for (unsigned i = 0; i < 5; i++) {
		mmio_wr(blk.common + VPCI_Q_MSIX, 2, bad[i]);
		hcheck(mmio_rd(blk.common + VPCI_Q_MSIX, 2) == 0xffff, "queue vector %u (of 2) reads 0x%lx, not "
		       "NO_VECTOR", bad[i], mmio_rd(blk.common + VPCI_Q_MSIX, 2));
		mmio_wr(blk.common + VPCI_MSIX_CONFIG, 2, bad[i]);
		hcheck(mmio_rd(blk.common + VPCI_MSIX_CONFIG, 2) == 0xffff, "config vector %u (of 2) is taken", bad[i]);
	}
	blk_works();
	scen_end("vectors 2, 3, 16, 0x7fff, 0xfffe (of 2) read back as NO_VECTOR");
}

static void s_msix_garbage(void)
{
	static const struct { uint64_t addr; uint32_t data; } junk[] = {
		{ 0, 0 }, { 0x12345000, MSIX_VEC }, { 0xfeb00000, MSIX_VEC }, { 0xc0000000, MSIX_VEC },
		{ 0x1fee00000ULL, MSIX_VEC }, { 0xfee7f000, MSIX_VEC }, { 0xffffffffffffff00ULL, 0xffffffffu & ~0x700u },
	};
	const unsigned per = 4;

	msix_disk();
	q_irqs = cfg_irqs = stray_irqs = 0;
	for (unsigned i = 0; i < per; i++)
		request_irq(1, 200);
	hcheck(q_irqs == per && !stray_irqs, "%u interrupts (%u stray) for %u requests before the garbage", q_irqs,
	       stray_irqs, per);
	for (unsigned j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
		unsigned before = q_irqs;

		msix_entry(0, junk[j].addr, junk[j].data);
		msix_entry(1, junk[j].addr, junk[j].data);
		for (unsigned i = 0; i < per; i++)
			request_irq(0, 5);
		hcheck(q_irqs == before && !stray_irqs && !cfg_irqs, "vectors aimed at 0x%lx (data 0x%x) delivered "
		       "%u interrupts (%u stray)", junk[j].addr, junk[j].data, q_irqs - before, stray_irqs);
		msix_entry(1, bsp_msi_addr, MSIX_VEC);
		request_irq(1, 200);
		hcheck(q_irqs == before + 1, "after vectors at 0x%lx, the repaired vector delivered %u interrupts",
		       junk[j].addr, q_irqs - before);
	}
	pci_cfg_write16(blk.slot, msix_cap + 2, 0);
	blk_works();
	scen_end("%u garbage targets for both vectors (0, 0x12345000, the mmio windows, the PCI window, above "
		 "4 GiB, a missing APIC, all-ones), %u requests each: nothing delivered; repaired, one interrupt "
		 "each", (unsigned)(sizeof(junk) / sizeof(junk[0])), per);
}

static void s_msix_churn(void)
{
	unsigned rewrites = 0, requests = 0, before_rounds;

	msix_disk();
	/*
	 * What the set-up left (the previous scenario's last completion can
	 * reach the LAPIC after the guest saw it in the used ring, seen once
	 * under ASan) arrives here, before the rounds it would be counted in.
	 */
	q_irqs = stray_irqs = 0;
	sti();
	delay_ms(20);
	cli();
	before_rounds = q_irqs;
	q_irqs = 0;
	hcheck(!stray_irqs, "%u stray interrupts after the set-up", stray_irqs);
	for (unsigned round = 0; round < 40; round++) {
		bool good = round & 1;
		unsigned before = q_irqs;

		for (unsigned i = 0; i < 5; i++, rewrites++)
			msix_entry(1, good || i < 4 ? bsp_msi_addr : 0xabcd0000u + 0x1000 * round,
				   good || i < 4 ? MSIX_VEC : round);
		request_irq(good, good ? 200 : 5);
		requests++;
		hcheck(q_irqs == before + good && !stray_irqs, "round %u: %u interrupts (%u stray), expected %u", round,
		       q_irqs - before, stray_irqs, good);
	}
	pci_cfg_write16(blk.slot, msix_cap + 2, 0);
	blk_works();
	scen_end("%u table rewrites between %u requests, alternately ending on garbage and on the BSP: "
		 "interrupts exactly when aimed right (%u left by the set-up)", rewrites, requests,
		 before_rounds);
}

static void s_msix_needs_reset(void)
{
	struct virtq_buf b[3] = {
		{ &good_hdr, sizeof(good_hdr), false }, { (void *)(ram_end + 0x100000), SECTOR, true },
		{ &good_status, 1, true },
	};

	for (unsigned round = 0; round < 2; round++) {
		msix_disk();
		cfg_irqs = stray_irqs = 0;
		if (!round)
			msix_entry(0, 0x12345000, CFG_VEC);
		good_hdr = (struct blk_hdr){ .type = VIRTIO_BLK_T_IN };
		hcheck(virtq_add(&bvq, b, 3, false) >= 0, "ring full");
		virtq_notify(&bvq);
		hcheck(virtio_wait_status(&blk, VIRTIO_STATUS_NEEDS_RESET, 3000), "a buffer outside RAM did not set "
		       "NEEDS_RESET");
		scen_needs_reset++;
		sti();
		delay_ms(50);
		cli();
		hcheck(cfg_irqs == (round ? 1u : 0u) && !stray_irqs, "config vector %s: %u configuration interrupts "
		       "(%u stray) for NEEDS_RESET", round ? "on the BSP" : "at 0x12345000", cfg_irqs, stray_irqs);
	}
	pci_cfg_write16(blk.slot, msix_cap + 2, 0);
	blk_works();
	scen_end("NEEDS_RESET: nothing through a config vector aimed at garbage, exactly one interrupt once aimed "
		 "at the BSP");
}

/* PCI 3.0 6.8.2: software may use aligned QWORD accesses on the table and the PBA. */
static void s_msix_qword(void)
{
	uint64_t e = msix_table + 16, want = (uint64_t)0x12345678 << 32 | bsp_msi_addr;
	uint64_t got, got64, pba_addr = blk.common + (pci_cfg_read32(blk.slot, msix_cap + 8) & ~7u);

	blk_fresh(blk_feats);
	mmio_write32(e + 12, 1);
	*(volatile uint64_t *)e = want;
	got = (uint64_t)mmio_read32(e + 4) << 32 | mmio_read32(e);
	got64 = *(volatile uint64_t *)e;
	hcheck(got == want && got64 == want, "a QWORD write of 0x%lx to the table reads back 0x%lx (QWORD read 0x%lx)",
	       want, got, got64);
	hcheck(*(volatile uint64_t *)pba_addr == 0, "a QWORD read of the PBA gives 0x%lx with nothing pending",
	       *(volatile uint64_t *)pba_addr);
	msix_entry(1, bsp_msi_addr, MSIX_VEC);
	blk_works();
	scen_end("a QWORD write to a table entry reads back in DWORDs and as a QWORD; the PBA reads as a QWORD");
}

static const struct { const char *name; void (*run)(void); } scenarios[] = {
	{ "MSI-X vector numbers beyond the table", s_msix_vector_numbers },
	{ "MSI-X vectors aimed at garbage", s_msix_garbage },
	{ "MSI-X table rewritten while interrupts flow", s_msix_churn },
	{ "MSI-X config vector and NEEDS_RESET", s_msix_needs_reset },
	{ "MSI-X QWORD access", s_msix_qword },
};

void test_main(void)
{
	hostile_start("msix");
	scen_name = "MSI-X set-up";
	hcheck(blk.pci, "MSI-X needs the devices on virtio-pci (--transport pci)");
	msix_setup();
	for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		scen_begin(scenarios[i].name);
		scenarios[i].run();
	}
	hostile_done("msix");
}
