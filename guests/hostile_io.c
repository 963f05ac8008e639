/*
 * Hostile register, port and interrupt accesses (issue 5): garbage in every
 * width at every offset of PCI configuration space, of the virtio registers
 * (BAR 0, virtio-mmio windows) and of kvmrun's ports; queue notifications
 * for queues that do not exist; Status and feature garbage; BARs moved onto
 * each other, off the window and over RAM.  Devices and the AP as in
 * hostile.h; MSI-X attacks are in hostile_msix.c.
 *
 * So that kvmrun's log is predictable (the test counts "needs a reset"
 * lines), storms over a device's registers never write its Status byte,
 * and the disk is put into DEVICE_NEEDS_RESET first (the one line a storm
 * adds); the Status register gets its own sweep.  The PCI configuration
 * storm leaves out the data field of the VIRTIO_PCI_CAP_PCI_CFG window (a
 * write there is a BAR write), which has its own scenario.
 *
 * Ports left out of the storm, because writing them legitimately ends or
 * disturbs the VM: 0xf4-0xf7 (debug exit), 0x64 values 0xd1 and 0xf0-0xfe
 * even (i8042 output port / reset pulse), 0x604-0x605 writes that set SLP_EN
 * with SLP_TYP 5 (ACPI power off), 0x606 value 1 (ACPI reset), byte writes to
 * 0xCF9 with bit 2 set (the reset control register), and KVM's
 * in-kernel PIC, PIT and ELCR (0x20-0x21, 0xa0-0xa1, 0x40-0x43, 0x61,
 * 0x4d0-0x4d1: not kvmrun's, and their garbage would aim interrupts at this
 * guest).  UART writes keep MCR loopback on (so garbage is not printed);
 * 0xCF8 writes keep the enable bit clear (configuration cycles have their
 * own storm).  The LAPIC and IOAPIC (in KVM) are not stormed either.
 *
 * Command line: transport=pci|mmio; only=ports: just the port and string
 * I/O storms, with every port 0-0xffff written (and every 8th read); otherwise
 * the port storm covers kvmrun's device ports and their neighbours.
 */
#include "hostile.h"


static uint8_t user_stack[65536] __attribute__((aligned(16)));
static bool all_ports;

/* ---- common helpers ---- */

static uint64_t status_reg(const struct virtio_dev *d)
{
	return d->pci ? d->common + VPCI_STATUS : d->base + VIRTIO_MMIO_STATUS;
}

/* Does a write of w bytes at off hit the Status register of d's register window? */
static bool hits_status(const struct virtio_dev *d, uint64_t off, unsigned w)
{
	return d->pci ? overlaps(off, w, VPCI_STATUS, 1) : overlaps(off, w, VIRTIO_MMIO_STATUS, 4);
}

/* The register window of d: BAR 0 (pci) or the 4 KiB virtio-mmio window. */
static uint64_t window_base(const struct virtio_dev *d)
{
	return d->pci ? d->common : d->base;
}

static uint64_t window_size(const struct virtio_dev *d)
{
	return d->pci ? 0x8000 : 0x1000;
}

static void select_queue(const struct virtio_dev *d, uint32_t q)
{
	if (d->pci)
		mmio_wr(d->common + VPCI_Q_SELECT, 2, q);
	else
		mmio_wr(d->base + VIRTIO_MMIO_QUEUE_SEL, 4, q);
}

static uint32_t queue_max(const struct virtio_dev *d)
{
	return (uint32_t)(d->pci ? mmio_rd(d->common + VPCI_Q_SIZE, 2) : mmio_rd(d->base + VIRTIO_MMIO_QUEUE_NUM_MAX, 4));
}

static uint32_t queue_enabled(const struct virtio_dev *d)
{
	return (uint32_t)(d->pci ? mmio_rd(d->common + VPCI_Q_ENABLE, 2) : mmio_rd(d->base + VIRTIO_MMIO_QUEUE_READY, 4));
}

/* ---- Status and features ---- */

static void s_status_sweep(void)
{
	static const unsigned widths[] = { 1, 2, 4 };

	for (unsigned i = 0; i < 3; i++) {
		unsigned w = widths[i];
		bool takes = blk.pci || w == 4;	/* virtio-mmio registers take aligned 32-bit accesses only */
		uint32_t isr, s = 0;

		hcheck(virtio_reset(&blk) == 0, "reset failed");
		virtio_irq_ack(&blk);
		for (uint32_t v = 1; v < 256; v++) {
			mmio_wr(status_reg(&blk), w, v | (w > 1 ? (uint32_t)garbage() & ~0xffu & (w == 2 ? 0xff00u : ~0u) : 0));
			s = virtio_status(&blk);
			hcheck(!(s & VIRTIO_STATUS_FEATURES_OK), "%u-byte write of 0x%x: FEATURES_OK stuck without "
			       "negotiated features (status 0x%x)", w, v, s);
			if (!takes)
				hcheck(s == 0, "a %u-byte write to the virtio-mmio Status register took effect (0x%x)", w, s);
		}
		if (!takes)
			continue;
		hcheck(s & VIRTIO_STATUS_NEEDS_RESET, "%u-byte writes: DRIVER_OK without FEATURES_OK did not set "
		       "NEEDS_RESET (status 0x%x)", w, s);
		isr = virtio_irq_ack(&blk);
		hcheck(isr & ISR_CONFIG, "%u-byte writes: NEEDS_RESET without a configuration change (ISR 0x%x)", w, isr);
		scen_needs_reset++;
	}
	hcheck(virtio_reset(&blk) == 0 && virtio_status(&blk) == 0, "Status does not read 0 after a reset");
	blk_works();
	scen_end("values 1-255 in %s: FEATURES_OK never stuck, DRIVER_OK without it gave NEEDS_RESET + config change",
		 blk.pci ? "8, 16 and 32-bit writes" : "32-bit writes (8/16-bit ones ignored)");
}

static void features_write(uint32_t sel, uint32_t v)
{
	if (blk.pci) {
		mmio_wr(blk.common + VPCI_GFSELECT, 4, sel);
		mmio_wr(blk.common + VPCI_GF, 4, v);
	} else {
		mmio_wr(blk.base + VIRTIO_MMIO_DRIVER_FEATURES_SEL, 4, sel);
		mmio_wr(blk.base + VIRTIO_MMIO_DRIVER_FEATURES, 4, v);
	}
}

static uint32_t features_offered(uint32_t sel)
{
	if (blk.pci) {
		mmio_wr(blk.common + VPCI_DFSELECT, 4, sel);
		return (uint32_t)mmio_rd(blk.common + VPCI_DF, 4);
	}
	mmio_wr(blk.base + VIRTIO_MMIO_DEVICE_FEATURES_SEL, 4, sel);
	return (uint32_t)mmio_rd(blk.base + VIRTIO_MMIO_DEVICE_FEATURES, 4);
}

/* ACKNOWLEDGE, DRIVER, features lo/hi, FEATURES_OK; returns whether FEATURES_OK stuck. */
static bool try_features(uint32_t lo, uint32_t hi)
{
	hcheck(virtio_reset(&blk) == 0, "reset failed");
	mmio_wr(status_reg(&blk), blk.pci ? 1 : 4, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	features_write(0, lo);
	features_write(1, hi);
	for (uint32_t sel = 2; sel < 6; sel++)
		features_write(sel == 5 ? 0xffffffffu : sel, 0xffffffffu);	/* no such words */
	mmio_wr(status_reg(&blk), blk.pci ? 1 : 4, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		VIRTIO_STATUS_FEATURES_OK);
	return virtio_status(&blk) & VIRTIO_STATUS_FEATURES_OK;
}

static void s_features(void)
{
	uint32_t lo = features_offered(0), hi = features_offered(1);

	for (uint32_t sel = 2; sel < 5; sel++)
		hcheck(features_offered(sel == 4 ? 0xffffffffu : sel) == 0, "device feature word %u is not 0", sel);
	hcheck(!try_features(lo, hi | 0x80000000u), "FEATURES_OK accepted with bit 63, which is not offered");
	hcheck(!try_features(lo, hi & ~1u), "FEATURES_OK accepted without VIRTIO_F_VERSION_1");
	hcheck(!try_features(0xffffffffu, 0xffffffffu), "FEATURES_OK accepted with every bit");
	hcheck(try_features(0, 1), "FEATURES_OK refused for VIRTIO_F_VERSION_1 alone");
	features_write(0, 0xffffffffu);	/* after FEATURES_OK: must not change what was negotiated */
	if (blk.pci) {
		mmio_wr(blk.common + VPCI_GFSELECT, 4, 0);
		hcheck(mmio_rd(blk.common + VPCI_GF, 4) == 0, "driver features changed after FEATURES_OK");
	}
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "feature garbage set NEEDS_RESET");
	blk_works();
	scen_end("unoffered bits, no VERSION_1, all ones refused; feature words >= 2 read 0; "
		 "writes after FEATURES_OK ignored");
}

/* ---- queues that do not exist ---- */

static void s_queue_select(void)
{
	static const uint32_t qs[] = { 1, 15, 16, 0x7fff, 0xffff, 0xffffffffu };

	hcheck(virtio_init(&blk, blk_feats) == 0, "initialization failed");
	for (unsigned i = 0; i < 6; i++) {
		uint32_t q = qs[i];

		if (blk.pci && q > 0xffff)
			continue;
		select_queue(&blk, q);
		hcheck(queue_max(&blk) == 0, "queue 0x%x (of 1) has size %u", q, queue_max(&blk));
		if (blk.pci) {
			mmio_wr(blk.common + VPCI_Q_SIZE, 2, 8);
			mmio_wr(blk.common + VPCI_Q_DESC, 4, (uint32_t)(uint64_t)bvq.desc);
			mmio_wr(blk.common + VPCI_Q_MSIX, 2, 0);
			mmio_wr(blk.common + VPCI_Q_ENABLE, 2, 1);
		} else {
			mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_NUM, 4, 8);
			mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_DESC_LOW, 4, (uint32_t)(uint64_t)bvq.desc);
			mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_READY, 4, 1);
		}
		hcheck(!queue_enabled(&blk), "queue 0x%x, which does not exist, reads as enabled", q);
	}
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "setting up missing queues set NEEDS_RESET");
	blk_works();
	scen_end("queues 1 to 0x%x have size 0; setting them up and enabling them is ignored",
		 blk.pci ? 0xffffu : 0xffffffffu);
}

static void s_notify_garbage(void)
{
	struct virtq_buf b[3] = {
		{ &good_hdr, sizeof(good_hdr), false }, { good_buf, SECTOR, true }, { &good_status, 1, true },
	};
	unsigned writes = 0;
	uint32_t id, len;

	blk_fresh(blk_feats);
	good_hdr = (struct blk_hdr){ .type = VIRTIO_BLK_T_IN };
	good_status = 0xff;
	hcheck(virtq_add(&bvq, b, 3, false) >= 0, "ring full");
	if (blk.pci) {
		/* The notify region has one 4-byte slot per queue (1 queue); everything past it, in every width. */
		for (uint64_t off = 4; off < 0x1000; off += off < 64 ? 1 : 61)
			for (unsigned w = 1; w <= 8; w *= 2, writes++)
				mmio_wr(blk.notify + off, w, garbage());
	} else {
		static const uint32_t vals[] = { 1, 2, 16, 99, 0x10000, 0xffff, 0x7fffffff, 0xffffffffu };

		for (unsigned i = 0; i < 8; i++, writes++)
			mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, vals[i]);
		for (unsigned off = 0; off < 4; off++)	/* narrow or unaligned: not a register access */
			for (unsigned w = 1; w <= 8; w *= 2, writes++)
				if (off || w != 4)
					mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_NOTIFY + off, w, 0);
	}
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "notifications for missing queues set NEEDS_RESET");
	/* Odd widths and values at queue 0's own slot: at worst a notification. */
	if (blk.pci) {
		mmio_wr(blk.notify, 1, 0);
		mmio_wr(blk.notify + 1, 1, 0x55);
		mmio_wr(blk.notify, 4, 0xdeadbeef);
		mmio_wr(blk.notify, 2, 0x1234);
		writes += 4;
	}
	virtq_notify(&bvq);
	hcheck(virtq_wait(&bvq, &id, &len), "the request did not complete after a proper notification");
	hcheck(good_status == VIRTIO_BLK_S_OK && disk_text_ok(good_buf, SECTOR), "status %u or wrong data", good_status);
	blk_works();
	scen_end("%u notification writes for missing queues or in odd widths; the queue served normally", writes);
}

/* ---- PCI configuration space ---- */

struct slot_info {
	bool present;
	uint32_t snap[64];
	uint8_t msix_cap, cfg_cap;
};

static struct slot_info slots[32];

static void cfg_addr(unsigned bus, unsigned slot, unsigned fn, unsigned off)
{
	outl(0xcf8, 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (off & 0xfc));
}

/* Bytes whose reads are not plain state: the PCI_CFG window's data (a BAR read). */
static bool volatile_cfg(const struct slot_info *s, unsigned off, unsigned n)
{
	return s->cfg_cap && overlaps(off, n, s->cfg_cap + 16u, 4);
}

static void restore_slot(unsigned slot)
{
	/* BAR 0 is 64-bit: 0x14 holds its upper dword. */
	static const unsigned fixed[] = { 0x04, 0x10, 0x14, 0x3c };
	struct slot_info *s = &slots[slot];

	for (unsigned i = 0; i < 4; i++)
		pci_cfg_write32(slot, fixed[i], s->snap[fixed[i] / 4]);
	if (s->msix_cap)
		pci_cfg_write32(slot, s->msix_cap, s->snap[s->msix_cap / 4]);
	if (s->cfg_cap)
		for (unsigned o = 4; o < 16; o += 4)
			pci_cfg_write32(slot, s->cfg_cap + o, s->snap[(s->cfg_cap + o) / 4]);
}

static void s_pci_config_storm(void)
{
	unsigned present = 0, checked = 0, writes = 0;

	ap_pause();
	for (unsigned slot = 0; slot < 32; slot++) {
		struct slot_info *s = &slots[slot];

		*s = (struct slot_info){ .present = (pci_cfg_read32(slot, 0) & 0xffff) != 0xffff };
		if (!s->present)
			continue;
		present++;
		for (unsigned i = 0; i < 64; i++)
			s->snap[i] = pci_cfg_read32(slot, 4 * i);
		s->msix_cap = find_cap(slot, PCI_CAP_MSIX, 0);
		s->cfg_cap = find_cap(slot, PCI_CAP_VNDR, VIRTIO_PCI_CAP_PCI_CFG);
	}
	hcheck(present == (blk.pci ? 3u : 0u), "%u PCI functions on bus 0, expected %u", present, blk.pci ? 3 : 0);

	/* Every width at every byte of the data port, reads then garbage writes, every offset of every slot. */
	for (unsigned slot = 0; slot < 32; slot++) {
		struct slot_info *s = &slots[slot];
		bool full = s->present || slot == 3 || slot == 31;

		for (unsigned off = 0; off < 256; off += 4) {
			cfg_addr(0, slot, 0, off);
			if (!full) {
				hcheck(inl(0xcfc) == 0xffffffffu, "empty slot %u offset 0x%x does not read all-ones", slot, off);
				outl(0xcfc, (uint32_t)garbage());
				writes++;
				continue;
			}
			for (unsigned p = 0; p < 4; p++)
				for (unsigned w = 1; w <= 4; w *= 2) {
					uint32_t v = pio_rd((uint16_t)(0xcfc + p), w), want;

					if (p + w > 4 || volatile_cfg(s, off + p, w))
						continue;
					want = s->present ? (s->snap[off / 4] >> (8 * p)) : 0xffffffffu;
					if (w < 4)
						want &= (1u << (8 * w)) - 1, v &= (1u << (8 * w)) - 1;
					hcheck(v == want, "slot %u offset 0x%x: %u-byte read gives 0x%x, the dword says 0x%x",
					       slot, off + p, w, v, want);
					checked++;
				}
			for (unsigned p = 0; p < 4; p++)
				for (unsigned w = 1; w <= 4; w *= 2) {
					unsigned n = p + w > 4 ? 4 - p : w;

					if (volatile_cfg(s, off + p, n))
						continue;
					pio_wr((uint16_t)(0xcfc + p), w, (uint32_t)garbage());
					writes++;
				}
		}
		/* Sizing BAR 0 (64-bit memory): all-ones reads back as the size mask and its flags. */
		if (s->present && slot) {
			pci_cfg_write32(slot, 0x10, 0xffffffffu);
			hcheck(pci_cfg_read32(slot, 0x10) == 0xffff8004u, "slot %u: BAR 0 sizes as 0x%x, not 32 KiB",
			       slot, pci_cfg_read32(slot, 0x10));
		}
	}
	/* Functions 1-7, bus 1 and disabled cycles: nothing there. */
	for (unsigned fn = 1; fn < 8; fn++) {
		cfg_addr(0, 1, fn, 0);
		outl(0xcfc, 0);
		hcheck(inl(0xcfc) == 0xffffffffu, "00:01.%u answers", fn);
	}
	cfg_addr(1, 1, 0, 0);
	hcheck(inl(0xcfc) == 0xffffffffu, "bus 1 answers");
	outl(0xcf8, 0x00000800);
	hcheck(inl(0xcfc) == 0xffffffffu, "a configuration read with the enable bit clear answers");
	outw(0xcf8, 0x8000);
	outb(0xcf9, 0x0a);	/* the reset control register: SYS_RST and FULL_RST alone do not reset */
	hcheck(inb(0xcf9) == 0x0a, "the reset control register does not keep its bits");
	outb(0xcf9, 0x00);

	/* Restore what may be written; the rest must not have changed. */
	for (unsigned slot = 0; slot < 32; slot++) {
		struct slot_info *s = &slots[slot];

		if (!s->present)
			continue;
		restore_slot(slot);
		for (unsigned i = 0; i < 64; i++) {
			uint32_t v = pci_cfg_read32(slot, 4 * i);

			if (!volatile_cfg(s, 4 * i, 4))
				hcheck(v == s->snap[i], "slot %u: read-only dword 0x%x changed from 0x%x to 0x%x", slot,
				       4 * i, s->snap[i], v);
		}
	}
	if (blk.pci) {
		hcheck(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0 && virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0,
		       "the virtio capabilities are gone");
		hcheck(!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET), "the entropy device needs a reset");
	}
	/* The entropy device was left alone (its BAR came back): the AP goes on without a re-initialization. */
	ap_resume(false);
	blk_works();
	if (present)
		scen_end("%u functions, %u reads checked against the dword, %u garbage writes; ids, BAR size and "
			 "capabilities unchanged", present, checked, writes);
	else
		scen_end("no PCI bus: %u reads all-ones, %u writes ignored", checked, writes);
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: BAR 0 through configuration space. */
static uint64_t cfgwin(unsigned slot, uint8_t c, uint32_t off, unsigned len, bool wr, uint32_t v)
{
	pci_cfg_write32(slot, c + 8u, off);
	pci_cfg_write32(slot, c + 12u, len);
	if (wr) {
		pci_cfg_write32(slot, c + 16u, v);
		return 0;
	}
	return pci_cfg_read32(slot, c + 16u) & (len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
}

/* BAR 0 offsets the storms visit densely (every byte) and sparsely (every step-th). */
static bool dense_off(const struct virtio_dev *d, uint64_t off)
{
	static const uint32_t pci[][2] = {
		{ 0, 0x40 }, { 0xff8, 0x10 }, { 0x1ff8, 0x48 }, { 0x2ff8, 0x18 }, { 0x3ff8, 0x48 }, { 0x4ff8, 0x18 },
		{ 0x7ff0, 0x10 },
	};

	if (!d->pci)
		return off < 0x140 || off >= 0xff0;
	for (unsigned i = 0; i < 7; i++)
		if (off >= pci[i][0] && off < pci[i][0] + pci[i][1])
			return true;
	return false;
}

static void s_cfg_window(void)
{
	uint8_t c = slots[blk.slot].cfg_cap;
	unsigned reads = 0, writes = 0;

	hcheck(c, "no VIRTIO_PCI_CAP_PCI_CFG capability");
	break_by_queue_size(&blk);
	/* Reads agree with BAR 0 (the ISR is left out: reading it clears it). */
	for (uint32_t off = 0; off < 0x8000; off += dense_off(&blk, off) ? 1 : 97)
		for (unsigned len = 1; len <= 4; len *= 2) {
			uint64_t direct;

			if ((off & (len - 1)) || overlaps(off, len, 0x1000, 4))
				continue;
			direct = mmio_rd(blk.common + off, len);
			hcheck(cfgwin(blk.slot, c, off, len, false, 0) == direct,
			       "window read at 0x%x (%u bytes) differs from BAR 0 (0x%lx)", off, len, direct);
			reads++;
		}
	/* Garbage: BARs that do not exist, bad lengths, unaligned, past the BAR. */
	static const struct { uint8_t bar; uint32_t off, len; } bad[] = {
		{ 1, 0, 4 }, { 5, 0, 4 }, { 6, 0, 4 }, { 0xff, 0, 4 }, { 0, 0, 0 }, { 0, 0, 3 }, { 0, 0, 8 },
		{ 0, 0, 0xffffffffu }, { 0, 1, 2 }, { 0, 2, 4 }, { 0, 0x8000, 4 }, { 0, 0xfffffffcu, 4 },
		{ 0, 0x7fff, 1 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pci_cfg_write8(blk.slot, c + 4u, bad[i].bar);
		cfgwin(blk.slot, c, bad[i].off, bad[i].len, false, 0);
		cfgwin(blk.slot, c, bad[i].off, bad[i].len, true, (uint32_t)garbage());
		writes++;
	}
	pci_cfg_write8(blk.slot, c + 4u, 0);
	/* Garbage writes across BAR 0, Status excepted. */
	for (uint32_t off = 0; off < 0x8000; off += dense_off(&blk, off) ? 1 : 97)
		for (unsigned len = 1; len <= 4; len *= 2) {
			if ((off & (len - 1)) || hits_status(&blk, off, len))
				continue;
			cfgwin(blk.slot, c, off, len, true, (uint32_t)garbage());
			writes++;
		}
	hcheck(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET, "NEEDS_RESET went away without a reset");
	restore_slot(blk.slot);
	blk_works();
	scen_end("%u window reads equal to BAR 0 reads, %u garbage window writes (bad BAR, length, offset; then "
		 "across BAR 0)", reads, writes);
}

/* ---- BAR moves ---- */

static void set_bar0(unsigned slot, uint32_t v)
{
	pci_cfg_write32(slot, 0x10, v);
}

static void set_command(unsigned slot, uint16_t v)
{
	pci_cfg_write16(slot, 0x04, v);
}

/*
 * Posts a disk read without notifying; returns the used index to compare with.
 * The device's worker first gets time to finish what it was doing: it looks
 * at the ring once more before it sleeps (and after DRIVER_OK), and would
 * rightly take a request posted in that window.
 */
static uint16_t post_unkicked(void)
{
	struct virtq_buf b[3] = {
		{ &good_hdr, sizeof(good_hdr), false }, { good_buf, SECTOR, true }, { &good_status, 1, true },
	};

	delay_ms(10);

	good_hdr = (struct blk_hdr){ .type = VIRTIO_BLK_T_IN };
	good_status = 0xff;
	hcheck(virtq_add(&bvq, b, 3, false) >= 0, "ring full");
	return *bvq.used_idx;
}

/* A notification at a stale address must not reach the device (its ioeventfd must be gone). */
static void stale_notify(uint64_t old_common, uint64_t old_notify, uint16_t used, const char *where)
{
	mmio_wr(old_notify, 2, 0);
	hcheck(mmio_rd(old_common + VPCI_STATUS, 1) == 0xff,
	       "%s: the old BAR address still answers", where);
	delay_ms(30);
	hcheck(*bvq.used_idx == used, "%s: a notification at the old BAR address reached the device", where);
}

static void s_bar_moves(void)
{
	uint32_t bar = pci_cfg_read32(blk.slot, 0x10), rng_bar = pci_cfg_read32(rng.slot, 0x10) & ~0xfu;
	uint16_t cmd = pci_cfg_read16(blk.slot, 0x04), used;
	uint64_t old_common = blk.common, old_notify = blk.notify, off_notify = blk.notify - blk.common;
	uint32_t id, len;
	volatile uint64_t *marker = (volatile uint64_t *)(ram_end - 0x10000);

	ap_pause();
	blk_fresh(blk_feats);

	/* Memory decoding off: the BAR vanishes, notifications with it. */
	used = post_unkicked();
	set_command(blk.slot, cmd & ~2);
	stale_notify(old_common, old_notify, used, "decoding off");
	set_command(blk.slot, cmd);
	virtq_notify(&bvq);
	hcheck(virtq_wait(&bvq, &id, &len) && good_status == 0, "no completion once decoding was back on");

	/* The last 32 KiB of the window: a new home. */
	used = post_unkicked();
	set_bar0(blk.slot, 0xdfff8000u);
	stale_notify(old_common, old_notify, used, "moved to 0xdfff8000");
	hcheck(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0 && blk.common == 0xdfff8000u, "not found at 0xdfff8000");
	bvq.notify_addr = blk.common + off_notify;
	virtq_notify(&bvq);
	hcheck(virtq_wait(&bvq, &id, &len) && good_status == 0, "no completion at the new BAR address");
	blk_works();

	/* Places that do not decode: the virtio-mmio windows, the top of 32-bit space, over RAM. */
	*marker = 0x1badb0071badb007ULL;
	static const uint32_t nowhere[] = { 0xfeb00000u, 0xffff8000u, 0 };
	for (unsigned i = 0; i < 3; i++) {
		uint32_t at = nowhere[i] ? nowhere[i] : (uint32_t)(uint64_t)marker;

		set_bar0(blk.slot, at);
		mmio_wr(at + VPCI_STATUS, 1, 0);	/* a reset if anything decoded it */
		if (!nowhere[i])
			hcheck(*marker == 0x1badb0071badb007ULL, "a BAR over RAM at 0x%x shadowed or changed RAM", at);
		else
			hcheck(mmio_rd(at + VPCI_STATUS, 1) == 0xff, "BAR 0 at 0x%x decodes outside the window", at);
	}

	/* On top of the other device's BAR: whatever answers, nothing breaks. */
	set_bar0(blk.slot, rng_bar);
	(void)mmio_rd(rng_bar + VPCI_STATUS, 1);
	(void)mmio_rd(rng_bar + VPCI_NUM_QUEUES, 2);
	set_bar0(blk.slot, bar);
	set_command(blk.slot, cmd);
	hcheck(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0 && blk.common == (bar & ~0xfu), "not back at 0x%x",
	       bar & ~0xfu);
	hcheck(!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET), "the entropy device needs a reset");
	ap_resume(false);	/* its state is untouched: no re-initialization */
	blk_works();
	scen_end("decoding off, the window's last 32 KiB, 0xfeb00000, 0xffff8000, over RAM, on the other device's "
		 "BAR: stale notifications never reached the device, RAM unshadowed");
}

/* ---- storms over device registers ---- */

/* Every width at the dense offsets and every step-th offset of d's window: reads, then garbage writes. */
static unsigned storm_window(const struct virtio_dev *d, unsigned step)
{
	uint64_t base = window_base(d), size = window_size(d);
	unsigned n = 0;

	for (uint64_t off = 0; off < size; off++) {
		if (!dense_off(d, off) && off % step)
			continue;
		for (unsigned w = 1; w <= 8; w *= 2) {
			(void)mmio_rd(base + off, w);
			if (!hits_status(d, off, w))
				mmio_wr(base + off, w, garbage());
			n += 2;
		}
	}
	return n;
}

static void s_register_storm(void)
{
	unsigned n;

	break_by_queue_size(&blk);
	n = storm_window(&blk, blk.pci ? 13 : 1);
	hcheck(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET, "NEEDS_RESET went away without a reset");
	n += storm_window(&rng, blk.pci ? 29 : 3);
	hcheck(!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET), "the live entropy device needs a reset");
	blk_works();
	scen_end("%u accesses of 1-8 bytes over the disk's %s (broken) and the entropy device's (live, in use by "
		 "the AP), Status excepted", n, blk.pci ? "BAR 0" : "window");
}

static void s_empty_windows(void)
{
	unsigned n = 0;
	uint64_t first = blk.pci ? 0 : 2;

	/* The virtio-mmio windows nobody uses, and beyond the last one. */
	for (uint64_t a = 0xfeb00000 + first * 0x1000; a < 0xfeb08000; a += 0x100)
		for (unsigned w = 1; w <= 8; w *= 2, n += 2) {
			hcheck(mmio_rd(a + 1, w) == (w == 8 ? ~0ULL : (1ULL << (8 * w)) - 1),
			       "nothing at 0x%lx, yet a %u-byte read is not all-ones", a + 1, w);
			mmio_wr(a + (w == 1 ? 1 : 0), w, garbage());
		}
	/* The PCI window away from the BARs (with virtio-mmio: no PCI at all), and its last bytes. */
	for (uint64_t a = 0xc0100000; a < 0xe0000000; a += 0x1000000, n += 2) {
		hcheck(mmio_rd(a, 4) == 0xffffffffu, "nothing at 0x%lx, yet it reads 0x%lx", a, mmio_rd(a, 4));
		mmio_wr(a, 4, garbage());
	}
	(void)mmio_rd(0xdffffff8, 8);
	mmio_wr(0xdffffffc, 4, garbage());
	mmio_wr(0xdffffffe, 4, garbage());	/* crosses the end of the window */
	n += 3;
	blk_works();
	scen_end("%u accesses where no device is (unused virtio-mmio windows, PCI window holes): all-ones, ignored", n);
}

/* ---- ports ---- */

static bool in_kernel_port(uint32_t p, unsigned w)
{
	return overlaps(p, w, 0x20, 2) || overlaps(p, w, 0xa0, 2) || overlaps(p, w, 0x40, 4) ||
	       overlaps(p, w, 0x61, 1) || overlaps(p, w, 0x4d0, 2);
}

/* Would this write end or disturb the VM on purpose?  Otherwise returns the value to write (maybe adjusted). */
static bool port_write_ok(uint32_t p, unsigned w, uint32_t *v)
{
	if (overlaps(p, w, 0xf4, 4) || in_kernel_port(p, w))
		return false;
	if (p == 0x64 && ((*v & 0xff) == 0xd1 || ((*v & 0xff) >= 0xf0 && !(*v & 1))))
		return false;	/* i8042: output port write, reset pulse */
	if ((p == 0x604 && w >= 2) || p == 0x605) {
		uint8_t hi = (uint8_t)(p == 0x604 ? *v >> 8 : *v);

		if ((hi & 0x20) && (((hi >> 2) & 7) == 5 || ((hi >> 2) & 7) == 1))
			return false;	/* ACPI: SLP_EN with SLP_TYP 5 powers off, 1 sleeps (S3) */
	}
	if (p == 0x606 && (*v & 0xff) == 0x01)
		return false;	/* ACPI reset register */
	if (p == 0xcf9 && w == 1 && (*v & 0x04))
		return false;	/* reset control: RST_CPU resets the machine */
	if (p == 0x3fc)
		*v |= 0x10;	/* UART: keep loopback, garbage stays inside */
	if (p == 0xcf8 && w == 4)
		*v &= 0x7fffffffu;	/* no configuration cycles: their storm is separate */
	return true;
}

static void uart_restore(void)
{
	outb(0x3fb, 0x80);	/* DLAB: divisor 12 (9600 baud), as at start */
	outb(0x3f8, 12);
	outb(0x3f9, 0);
	outb(0x3fb, 0x03);	/* 8N1 */
	outb(0x3f9, 0);		/* IER: no interrupts */
	outb(0x3fa, 0x06);	/* FIFOs off and cleared */
	outb(0x3fc, 0x10);
	while (inb(0x3fd) & 1)
		(void)inb(0x3f8);
	outb(0x3fc, 0x00);	/* loopback off: output goes out again */
}

static void s_port_storm(void)
{
	static const uint16_t dev_ports[] = {
		0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x60, 0x64, 0x70, 0x71, 0x80,
		0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x606, 0x607, 0xcf8, 0xcf9, 0xcfa, 0xcfb, 0xcfc,
		0xcfd, 0xcfe, 0xcff, 0xf0, 0xf8, 0x1234,
	};
	unsigned writes = 0, reads = 0, skipped = 0;
	uint8_t sec;

	outb(0x3fc, 0x10);	/* loopback first */
	/* kvmrun's device ports: every width, several values. */
	for (unsigned round = 0; round < 16; round++)
		for (unsigned i = 0; i < sizeof(dev_ports) / sizeof(dev_ports[0]); i++)
			for (unsigned w = 1; w <= 4; w *= 2) {
				uint32_t p = dev_ports[i], v = (uint32_t)garbage();

				(void)pio_rd((uint16_t)p, w);
				reads++;
				if (port_write_ok(p, w, &v)) {
					pio_wr((uint16_t)p, w, v);
					writes++;
				} else {
					skipped++;
				}
			}
	/* Every port: a byte of garbage; a read from every 8th (each access is an exit: ~50 us here). */
	if (all_ports)
		for (uint32_t p = 0; p < 0x10000; p++) {
			uint32_t v = (uint32_t)garbage();

			if (!port_write_ok(p, 1, &v)) {
				skipped++;
				continue;
			}
			pio_wr((uint16_t)p, 1, v);
			writes++;
			if (!(p & 7)) {
				(void)inb((uint16_t)p);
				reads++;
			}
		}
	uart_restore();
	for (unsigned i = 0; i < 64 && (inb(0x64) & 1); i++)
		(void)inb(0x60);	/* i8042: drain, then the power-on configuration byte */
	outb(0x64, 0x60);
	outb(0x60, 0x61);
	outb(0x70, 0x0b);	/* RTC: 24-hour BCD */
	outb(0x71, 0x02);
	outb(0x70, 0x00);
	sec = inb(0x71);
	hcheck((sec & 0x0f) <= 9 && sec <= 0x59, "the RTC's seconds read 0x%x after the storm", sec);
	hcheck(inb(0x3fd) & 0x20, "the UART's transmitter does not show empty after the storm");
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "the port storm broke the disk");
	blk_works();
	scen_end("%u writes and %u reads (%s), %u left out (see above); UART, RTC work", writes, reads,
		 all_ports ? "every port" : "device ports", skipped);
}

static void s_string_io(void)
{
	static uint8_t buf[1024];
	uint64_t n;
	uint8_t *p;

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)garbage();
	static const uint16_t out_ports[] = { 0x80, 0x1234, 0x3f8, 0x71, 0x600 };
	outb(0x3fc, 0x10);
	for (unsigned i = 0; i < 5; i++) {
		p = buf;
		n = sizeof(buf);
		if (out_ports[i] == 0x600) {
			n /= 2;
			__asm__ volatile("rep outsw" : "+S"(p), "+c"(n) : "d"(out_ports[i]) : "memory");
		} else {
			__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(out_ports[i]) : "memory");
		}
	}
	uart_restore();
	outb(0xcf8, 0);
	outl(0xcf8, 0);
	p = buf;
	n = sizeof(buf) / 4;
	__asm__ volatile("rep insl" : "+D"(p), "+c"(n) : "d"(0xcfc) : "memory");
	for (unsigned i = 0; i < sizeof(buf); i++)
		hcheck(buf[i] == 0xff, "rep insl from 0xcfc without a configuration cycle: byte %u is 0x%x", i, buf[i]);
	p = buf;
	n = sizeof(buf);
	__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(0x1234) : "memory");
	for (unsigned i = 0; i < sizeof(buf); i++)
		hcheck(buf[i] == 0xff, "rep insb from an unknown port: byte %u is 0x%x", i, buf[i]);
	p = buf;
	n = sizeof(buf);
	__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(0x71) : "memory");
	blk_works();
	scen_end("rep outs of 1 KiB to 0x80, 0x1234, the UART (loopback), CMOS, ACPI PM1; rep ins of 1 KiB from "
		 "0xcfc, 0x1234 (all-ones), CMOS");
}

/* ---- the run ---- */

static const struct { const char *name; void (*run)(void); bool pci_only, port; } cpl3_scenarios[] = {
	{ "Status register sweep", s_status_sweep, false, false },
	{ "feature negotiation garbage", s_features, false, false },
	{ "queues that do not exist", s_queue_select, false, false },
	{ "notifications for missing queues, odd widths", s_notify_garbage, false, false },
	{ "PCI configuration space storm", s_pci_config_storm, false, false },
	{ "PCI_CFG capability window garbage", s_cfg_window, true, false },
	{ "BAR moves", s_bar_moves, true, false },
	{ "register storm over both devices", s_register_storm, false, false },
	{ "windows without a device", s_empty_windows, false, false },
	{ "port storm", s_port_storm, false, true },
	{ "string I/O storm", s_string_io, false, true },
};

static long run(long arg)
{
	(void)arg;
	for (unsigned i = 0; i < sizeof(cpl3_scenarios) / sizeof(cpl3_scenarios[0]); i++) {
		if ((cpl3_scenarios[i].pci_only && !blk.pci) || (all_ports && !cpl3_scenarios[i].port))
			continue;
		scen_begin(cpl3_scenarios[i].name);
		cpl3_scenarios[i].run();
	}
	return 0;
}

void test_main(void)
{
	char only[16] = "";

	cmdline_get("only", only, sizeof(only));
	all_ports = !strcmp(only, "ports");
	hostile_start(all_ports ? "ports" : "io");
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	hostile_done(all_ports ? "ports" : "io");
}
