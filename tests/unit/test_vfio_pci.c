/*
 * vfio-pci's virtualized view, driven through the fake VFIO device by real
 * configuration spaces: this machine's virtio-net and virtio-blk functions
 * (fixtures/virtio-*.cfg, read from /sys/bus/pci/devices/.../config, BAR 0 of
 * 512 KiB as their sysfs resource files say) and an Intel 82599 VF written
 * from its datasheet (fixtures/make_82599vf.py).  The guest's side is the PCI
 * bus (config accesses, BAR windows); the device's side is what the fake
 * recorded.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_vfio.h"
#include "testlib.h"

#include "kvmrun/device.h"
#include "kvmrun/mem.h"

#define RAM		(16ULL << 20)
#define VIRTIO_BAR0	0x80000ULL
#define NET_MSIX_CAP	0x98
#define NET_TABLE	0x8000ULL
#define NET_PBA		0x48000ULL
#define VF_MSIX_CAP	0x70

struct rig {
	struct fake_vfio fv;
	struct fake_slots fs;
	struct fake_irq fi;
	struct guest_mem mem;
	struct pci_bus bus;
	struct vfio_pci v;
	int slot;
};

static struct rig R;

/* The fake device (with an expansion ROM of rom_size bytes when rom is set) and vfio_pci_init on it. */
static void rig_init(struct rig *r, const uint8_t *cfg, uint32_t n, const uint64_t bars[6],
		     uint8_t *rom, uint64_t rom_size)
{
	memset(&r->fs, 0, sizeof(r->fs));
	fake_vfio_init(&r->fv, cfg, n, bars);
	r->fv.rom = rom;
	r->fv.rom_size = rom_size;
	fake_irq_init(&r->fi);
	testlib_mem_init(&r->mem, RAM);
	pci_bus_init(&r->bus);
	ck_assert_int_eq(vfio_pci_init(&r->v, fake_vfio_dev(&r->fv), &r->mem, fake_irq_ops(&r->fi),
				       fake_slots_ops(&r->fs), "vfio0"), 0);
}

static void rig_cfg(struct rig *r, const uint8_t *cfg, uint32_t n, const uint64_t bars[6])
{
	rig_init(r, cfg, n, bars, NULL, 0);
	r->slot = vfio_pci_attach(&r->v, &r->bus);
	ck_assert_int_ge(r->slot, 1);
}

static void rig_up(struct rig *r, const char *fixture, const uint64_t bars[6])
{
	uint8_t cfg[FAKE_VFIO_CFG];
	uint32_t n = fake_vfio_fixture(fixture, cfg, sizeof(cfg));

	ck_assert_msg(n == 256 || n == 4096, "fixture %s: %u bytes", fixture, n);
	rig_cfg(r, cfg, n, bars);
}

static void rig_down(struct rig *r)
{
	vfio_pci_destroy(&r->v);
	ck_assert(r->fv.closed);
	fake_vfio_free(&r->fv);
	pci_bus_destroy(&r->bus);
	guest_mem_destroy(&r->mem);
}

static uint32_t cfg_r(struct rig *r, uint32_t off, uint32_t len)
{
	uint8_t d[4] = { 0 };

	pci_config_access(&r->bus, (unsigned)r->slot, 0, off, d, len, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void cfg_w(struct rig *r, uint32_t off, uint32_t len, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	pci_config_access(&r->bus, (unsigned)r->slot, 0, off, d, len, true);
}

/* A guest access at guest-physical gpa in either BAR window. */
static void mmio(struct rig *r, uint64_t gpa, void *data, uint32_t len, bool is_write)
{
	if (gpa >= PCI_WINDOW_BASE && gpa < PCI_WINDOW_BASE + PCI_WINDOW_SIZE)
		pci_window_io(&r->bus, gpa - PCI_WINDOW_BASE, data, len, is_write);
	else
		pci_window64_io(&r->bus, gpa - r->bus.window64_base, data, len, is_write);
}

static void mmio_w32(struct rig *r, uint64_t gpa, uint32_t v)
{
	mmio(r, gpa, &v, 4, true);
}

static uint32_t mmio_r32(struct rig *r, uint64_t gpa)
{
	uint32_t v = 0;

	mmio(r, gpa, &v, 4, false);
	return v;
}

static const uint64_t virtio_bars[6] = { VIRTIO_BAR0 };

/* The fixture with interrupt pin A (the captured functions have none), so INTx is offered. */
static void rig_up_intx(struct rig *r, const char *fixture)
{
	uint8_t cfg[256];

	ck_assert_uint_eq(fake_vfio_fixture(fixture, cfg, sizeof(cfg)), 256);
	cfg[PCI_CFG_INT_PIN] = PCI_INTX_PIN_A;
	rig_cfg(r, cfg, 256, virtio_bars);
}

START_TEST(ids_and_caps_come_from_the_device)
{
	rig_up(&R, "virtio-net-1041.cfg", virtio_bars);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_VENDOR_ID, 4), 0x10411af4);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_CLASS, 2), 0x0200);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_CAP_PTR, 1), 0x40);
	/* The vendor capabilities are the device's, untouched. */
	ck_assert_uint_eq(cfg_r(&R, 0x40, 4), 0x01105009);
	/* A value the device changes is read from it, not from a copy. */
	R.fv.cfg[0x4c] = 0x5a;
	ck_assert_uint_eq(cfg_r(&R, 0x4c, 1), 0x5a);
	/* The fixture's MSI-X enable bit (Linux had it on) is not what the guest sees. */
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP, 4), 0x00020011);
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP + 4, 4), 0x00008000);
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP + 8, 4), 0x00048000);
	/* This machine's virtio functions have no interrupt pin: none is invented. */
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_INT_LINE, 2), 0);
	ck_assert_uint_eq(R.fv.trig_calls[VFIO_PCI_IRQ_INTX], 0);
	/* The guest's RAM is mapped for DMA, region by region, at its guest address. */
	ck_assert_uint_eq(R.fv.nr_dma, R.mem.nr_regions);
	for (unsigned i = 0; i < R.mem.nr_regions; i++) {
		ck_assert_uint_eq(R.fv.dma[i].iova, R.mem.region[i].gpa);
		ck_assert_uint_eq(R.fv.dma[i].size, R.mem.region[i].size);
		ck_assert_ptr_eq(R.fv.dma[i].host, R.mem.region[i].host);
	}
	ck_assert_uint_eq(R.fv.resets, 1);	/* reset before the guest sees it */
	unsigned nr = R.mem.nr_regions;

	rig_down(&R);
	ck_assert_uint_eq(R.fv.dma_unmaps, nr);
}
END_TEST

START_TEST(bars_sized_from_regions_and_virtualized)
{
	rig_up(&R, "virtio-net-1041.cfg", virtio_bars);
	uint32_t lo = cfg_r(&R, PCI_CFG_BAR0, 4), hi = cfg_r(&R, PCI_CFG_BAR0 + 4, 4);
	uint64_t at = (lo & ~0xfu) | (uint64_t)hi << 32;

	/* 64-bit, not prefetchable: the 32-bit window, naturally aligned. */
	ck_assert_uint_eq(lo & 0xf, PCI_BAR_MEM_64);
	ck_assert(at >= PCI_WINDOW_BASE && at + VIRTIO_BAR0 <= PCI_WINDOW_BASE + PCI_WINDOW_SIZE);
	ck_assert_uint_eq(at % VIRTIO_BAR0, 0);
	/* Sizing: all-ones answers the size kvmrun took from the region info. */
	cfg_w(&R, PCI_CFG_BAR0, 4, 0xffffffff);
	cfg_w(&R, PCI_CFG_BAR0 + 4, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_BAR0, 4), (uint32_t)~(VIRTIO_BAR0 - 1) | PCI_BAR_MEM_64);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_BAR0 + 4, 4), 0xffffffff);
	/* No BAR register write and no ROM write ever reaches the device. */
	cfg_w(&R, 0x30, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_r(&R, 0x30, 4), 0);
	for (unsigned i = PCI_CFG_BAR0; i < 0x34; i++)
		ck_assert_msg(R.fv.cfg_wrote[i] == 0, "config byte 0x%x reached the device", i);
	/* Other empty BARs stay empty. */
	for (unsigned b = 2; b < 6; b++)
		ck_assert_uint_eq(cfg_r(&R, PCI_CFG_BAR0 + 4 * b, 4), 0);
	rig_down(&R);
}
END_TEST

/* An I/O BAR: placed in the bus's I/O window, sized, and every access a region access. */
START_TEST(io_bar_goes_through_region_accesses)
{
	static const uint64_t bars[6] = { VIRTIO_BAR0, 0, 32 };
	uint8_t cfg[FAKE_VFIO_CFG];
	uint32_t n = fake_vfio_fixture("virtio-net-1041.cfg", cfg, sizeof(cfg));
	uint8_t d[4] = { 0 };

	ck_assert_uint_ge(n, 256);
	cfg[PCI_CFG_BAR0 + 8] = PCI_BAR_IO;	/* BAR 2: I/O space, as the device says */
	rig_cfg(&R, cfg, n, bars);
	uint32_t bar = cfg_r(&R, PCI_CFG_BAR0 + 8, 4);
	uint32_t at = bar & ~0x3u;

	ck_assert_uint_eq(bar & 1, 1);
	ck_assert(at >= PCI_IO_WINDOW_BASE && at + 32 <= PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE);
	ck_assert_uint_eq(at % 32, 0);
	pci_io_window_io(&R.bus, at - PCI_IO_WINDOW_BASE + 4, d, 2, false);
	ck_assert_uint_eq(R.fv.bar_reads[2], 1);
	pci_io_window_io(&R.bus, at - PCI_IO_WINDOW_BASE + 8, d, 1, true);
	ck_assert_uint_eq(R.fv.bar_writes[2], 1);
	ck_assert_uint_eq(R.fv.bar_write_off[2], 8);
	/* Sizing answers 32 ports; I/O decoding off: the ports read all-ones, nothing reaches it. */
	cfg_w(&R, PCI_CFG_BAR0 + 8, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_BAR0 + 8, 4) & 0xffff, (0xffffu & ~31u) | 1);
	cfg_w(&R, PCI_CFG_BAR0 + 8, 4, at);
	cfg_w(&R, PCI_CFG_COMMAND, 2, cfg_r(&R, PCI_CFG_COMMAND, 2) & ~PCI_CMD_IO);
	pci_io_window_io(&R.bus, at - PCI_IO_WINDOW_BASE, d, 4, false);
	ck_assert_uint_eq(R.fv.bar_reads[2], 1);
	ck_assert_uint_eq(d[0] & d[1] & d[2] & d[3], 0xff);
	rig_down(&R);
}
END_TEST

START_TEST(mmap_pieces_follow_the_bar_and_skip_msix_pages)
{
	rig_up(&R, "virtio-net-1041.cfg", virtio_bars);
	uint64_t at = R.v.pci.bar_decoded[0];
	const struct fake_slot *s;

	ck_assert_uint_ne(at, 0);
	/* Three pieces: before the table page, between table and PBA pages, after the PBA page. */
	ck_assert_uint_eq(fake_slots_count(&R.fs), 3);
	s = fake_slots_at(&R.fs, at);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->size, NET_TABLE);
	ck_assert_ptr_eq(s->host, R.fv.bar_mem[0]);
	s = fake_slots_at(&R.fs, at + NET_TABLE + VFIO_PAGE);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->size, NET_PBA - NET_TABLE - VFIO_PAGE);
	ck_assert_ptr_eq(s->host, R.fv.bar_mem[0] + NET_TABLE + VFIO_PAGE);
	s = fake_slots_at(&R.fs, at + NET_PBA + VFIO_PAGE);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->size, VIRTIO_BAR0 - NET_PBA - VFIO_PAGE);

	/* Memory decoding off: every slot goes; on again: back at the same place. */
	cfg_w(&R, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(fake_slots_count(&R.fs), 0);
	ck_assert_uint_eq(R.fv.cfg_wrote[PCI_CFG_COMMAND], 1 + 1);	/* attach, then the guest */
	ck_assert_uint_eq(R.fv.cfg[PCI_CFG_COMMAND] & PCI_CMD_MEMORY, 0);
	cfg_w(&R, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	ck_assert_uint_eq(fake_slots_count(&R.fs), 3);
	ck_assert_uint_eq(R.fv.cfg[PCI_CFG_COMMAND], PCI_CMD_MEMORY | PCI_CMD_MASTER);

	/* The guest moves the BAR: the slots follow. */
	uint64_t to = at + 0x1000000;

	cfg_w(&R, PCI_CFG_BAR0, 4, (uint32_t)to);
	ck_assert_uint_eq(fake_slots_count(&R.fs), 3);
	ck_assert_ptr_null(fake_slots_at(&R.fs, at));
	ck_assert_ptr_nonnull(fake_slots_at(&R.fs, to));
	/* Out of the windows (over RAM): nothing decodes, no slot over RAM. */
	cfg_w(&R, PCI_CFG_BAR0, 4, 0x100000);
	ck_assert_uint_eq(fake_slots_count(&R.fs), 0);
	cfg_w(&R, PCI_CFG_BAR0, 4, (uint32_t)to);

	/* A trapped access (the table page beyond the table) goes through region writes. */
	mmio_w32(&R, to + NET_TABLE + 0x800, 0xabcd1234);
	ck_assert_uint_eq(R.fv.bar_writes[0], 1);
	ck_assert_uint_eq(R.fv.bar_write_off[0], NET_TABLE + 0x800);
	ck_assert_uint_eq(mmio_r32(&R, to + NET_TABLE + 0x800), 0xabcd1234);
	rig_down(&R);
	ck_assert_uint_eq(fake_slots_count(&R.fs), 0);
}
END_TEST

START_TEST(bar_over_another_slot_is_trapped_not_fatal)
{
	rig_up(&R, "virtio-net-1041.cfg", virtio_bars);
	uint64_t at = R.v.pci.bar_decoded[0];

	/* Something else already sits where the guest puts the BAR. */
	ck_assert_int_ge(R.fs.s[0].used ? 0 : -1, 0);
	R.fs.s[FAKE_VFIO_SLOTS - 1] = (struct fake_slot){ true, at + 0x2000000, 0x100000, NULL };
	cfg_w(&R, PCI_CFG_BAR0, 4, (uint32_t)(at + 0x2000000));
	ck_assert_uint_eq(R.v.pci.bar_decoded[0], at + 0x2000000);
	/* The pieces that overlap are trapped instead: an access still reaches the device. */
	mmio_w32(&R, at + 0x2000000 + 0x10, 7);
	ck_assert_uint_eq(R.fv.bar_write_off[0], 0x10);
	R.fs.s[FAKE_VFIO_SLOTS - 1].used = false;
	rig_down(&R);
}
END_TEST

/* Writes MSI-X table entry i through the guest's BAR. */
static void msix_entry(struct rig *r, uint64_t table, unsigned i, uint32_t addr, uint32_t data,
		       uint32_t ctrl)
{
	uint64_t e = table + 16ULL * i;

	mmio_w32(r, e, addr);
	mmio_w32(r, e + 4, 0);
	mmio_w32(r, e + 8, data);
	mmio_w32(r, e + 12, ctrl);
}

static unsigned fake_gsi_of(const struct fake_irq *fi, int fd)
{
	for (unsigned i = 0; i < fi->nr_irqfds; i++)
		if (fi->irqfd[i].fd == fd)
			return fi->irqfd[i].gsi;
	return 0;
}

START_TEST(msix_vectors_become_routes_with_irqfds)
{
	rig_up_intx(&R, "virtio-net-1041.cfg");
	uint64_t table = R.v.pci.bar_decoded[0] + NET_TABLE;
	unsigned intx_gsi = pci_intx_gsi((unsigned)R.slot);

	/* INTx first: its eventfd with a resample fd, handed to VFIO with an unmask fd. */
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_INT_LINE, 2), 0x100 | intx_gsi);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_INTX], 1);
	int intx_fd = R.fv.trig_fds[VFIO_PCI_IRQ_INTX][0];

	ck_assert_int_eq(fake_irq_irqfd(&R.fi, intx_gsi), intx_fd);
	ck_assert_int_ge(R.fv.unmask_fd, 0);
	ck_assert_int_ne(R.fv.unmask_fd, intx_fd);
	ck_assert_int_eq(R.fi.irqfd[0].resample_fd, R.fv.unmask_fd);

	/* Table reset state: every vector masked; writes stay in kvmrun. */
	ck_assert_uint_eq(mmio_r32(&R, table + 12), 1);
	msix_entry(&R, table, 0, 0xfee00000, 0x41, 0);
	msix_entry(&R, table, 1, 0xfee01000, 0x42, 1);
	msix_entry(&R, table, 2, 0xdead0000, 0x43, 0);	/* aimed at nothing */
	ck_assert_uint_eq(R.fv.bar_writes[0], 0);
	ck_assert_uint_eq(mmio_r32(&R, table + 8), 0x41);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], -1);	/* not enabled yet */

	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0x8000);
	ck_assert_uint_eq(R.fv.cfg_wrote[NET_MSIX_CAP + 2], 0);	/* the cap is emulated */
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_INTX], 0);	/* INTx off while MSI-X is on */
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], 3);
	int fd0 = R.fv.trig_fds[VFIO_PCI_IRQ_MSIX][0], fd1 = R.fv.trig_fds[VFIO_PCI_IRQ_MSIX][1];
	unsigned gsi0 = fake_gsi_of(&R.fi, fd0);

	ck_assert_uint_ge(gsi0, FAKE_IRQ_FIRST_GSI);
	ck_assert(R.fi.route[gsi0 - FAKE_IRQ_FIRST_GSI].set);
	ck_assert_uint_eq(R.fi.route[gsi0 - FAKE_IRQ_FIRST_GSI].addr, 0xfee00000);
	ck_assert_uint_eq(R.fi.route[gsi0 - FAKE_IRQ_FIRST_GSI].data, 0x41);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd1), 0);	/* masked: no irqfd */
	ck_assert_uint_eq(fake_gsi_of(&R.fi, R.fv.trig_fds[VFIO_PCI_IRQ_MSIX][2]), 0);

	/* Mask vector 0: the irqfd goes, an interrupt waits in the PBA. */
	mmio_w32(&R, table + 12, 1);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd0), 0);
	uint64_t one = 1;

	ck_assert_int_eq(write(fd0, &one, 8), 8);
	uint64_t pba = R.v.pci.bar_decoded[0] + NET_PBA;

	ck_assert_uint_eq(mmio_r32(&R, pba), 1);
	mmio_w32(&R, table + 12, 0);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd0), gsi0);

	/* Unmask vector 1, then the function mask takes every irqfd away. */
	mmio_w32(&R, table + 16 + 12, 0);
	ck_assert_uint_ne(fake_gsi_of(&R.fi, fd1), 0);
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0xc000);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd0), 0);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd1), 0);
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0x8000);
	ck_assert_uint_ne(fake_gsi_of(&R.fi, fd1), 0);

	/* Disable: VFIO's MSI-X index off, INTx back. */
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], 0);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_INTX], 1);
	ck_assert_uint_eq(fake_gsi_of(&R.fi, fd0), 0);
	/* The table size field is read-only. */
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0x07ff);
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP + 2, 2), 2);
	rig_down(&R);
}
END_TEST

START_TEST(reset_turns_msix_off_and_resets_the_device)
{
	rig_up(&R, "virtio-1042.cfg", virtio_bars);
	uint64_t table = R.v.pci.bar_decoded[0] + NET_TABLE;

	msix_entry(&R, table, 0, 0xfee00000, 0x51, 0);
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0x8000);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], 2);	/* virtio-blk: 2 vectors */
	vfio_pci_reset(&R.v);
	ck_assert_uint_eq(R.fv.resets, 2);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], 0);
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP + 2, 2) & 0xc000, 0);
	ck_assert_uint_eq(mmio_r32(&R, table + 12), 1);
	ck_assert_uint_eq(mmio_r32(&R, table + 8), 0);
	rig_down(&R);
}
END_TEST

/* virtio-blk's config space with an MSI capability (64-bit, per-vector masks, 4 vectors) put in the chain. */
#define MSI_CAP	0xb0
static void add_msi(uint8_t *cfg)
{
	cfg[0x99] = MSI_CAP;	/* after MSI-X */
	cfg[MSI_CAP] = PCI_CAP_ID_MSI;
	cfg[MSI_CAP + 1] = 0;
	cfg[MSI_CAP + 2] = 0x80 | 2 << 1;	/* 64-bit, 4 vectors */
	cfg[MSI_CAP + 3] = 0x01;		/* per-vector masking */
}

START_TEST(msi_emulated)
{
	uint8_t cfg[256];

	ck_assert_uint_eq(fake_vfio_fixture("virtio-1042.cfg", cfg, sizeof(cfg)), 256);
	add_msi(cfg);
	cfg[PCI_CFG_INT_PIN] = PCI_INTX_PIN_A;
	rig_cfg(&R, cfg, 256, virtio_bars);
	R.fv.irqs[VFIO_PCI_IRQ_MSI] = 4;
	cfg_w(&R, MSI_CAP + 4, 4, 0xfee00000);
	cfg_w(&R, MSI_CAP + 8, 4, 0);
	cfg_w(&R, MSI_CAP + 0xc, 2, 0x60);
	cfg_w(&R, MSI_CAP + 0x10, 4, 0x2);	/* vector 1 masked */
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSI], -1);
	cfg_w(&R, MSI_CAP + 2, 2, 0x0001 | 2 << 4);	/* enable, 4 messages */
	for (unsigned i = MSI_CAP; i < MSI_CAP + 0x18; i++)
		ck_assert_msg(R.fv.cfg_wrote[i] == 0, "MSI byte 0x%x reached the device", i);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSI], 4);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_INTX], 0);
	for (unsigned i = 0; i < 4; i++) {
		unsigned g = fake_gsi_of(&R.fi, R.fv.trig_fds[VFIO_PCI_IRQ_MSI][i]);

		if (i == 1) {
			ck_assert_uint_eq(g, 0);
			continue;
		}
		ck_assert_uint_ne(g, 0);
		/* Multiple messages: the vector number in data's low bits. */
		ck_assert_uint_eq(R.fi.route[g - FAKE_IRQ_FIRST_GSI].data, 0x60 | i);
	}
	/* The multiple-message-capable field is the device's: 4, read-only. */
	cfg_w(&R, MSI_CAP + 2, 2, 0x000e);
	ck_assert_uint_eq((cfg_r(&R, MSI_CAP + 2, 2) >> 1) & 7, 2);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSI], 0);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_INTX], 1);
	rig_down(&R);
}
END_TEST

/* The shortest MSI layout (32-bit, no masks: 0x0a bytes) in the last dword-aligned place it fits. */
START_TEST(msi_short_layout_at_the_end_of_config_space)
{
	const uint8_t cap = 0xf4;
	uint8_t cfg[256];

	ck_assert_uint_eq(fake_vfio_fixture("virtio-1042.cfg", cfg, sizeof(cfg)), 256);
	cfg[0x99] = cap;	/* after MSI-X */
	cfg[cap] = PCI_CAP_ID_MSI;
	cfg[cap + 1] = 0;
	cfg[cap + 2] = 0;	/* 32-bit, 1 vector, no masking */
	cfg[cap + 3] = 0;
	memset(cfg + 0xfe, 0xa5, 2);
	rig_cfg(&R, cfg, 256, virtio_bars);
	ck_assert_uint_eq(R.v.msi.cap, cap);
	cfg_w(&R, cap + 4, 4, 0xfee01000);
	cfg_w(&R, cap + 8, 2, 0x41);
	cfg_w(&R, cap + 2, 2, 0x0001);	/* enable */
	for (unsigned i = cap; i < cap + 0x0au; i++)
		ck_assert_msg(R.fv.cfg_wrote[i] == 0, "MSI byte 0x%x reached the device", i);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSI], 1);
	unsigned g = fake_gsi_of(&R.fi, R.fv.trig_fds[VFIO_PCI_IRQ_MSI][0]);

	ck_assert_uint_ne(g, 0);
	ck_assert_uint_eq(R.fi.route[g - FAKE_IRQ_FIRST_GSI].addr, 0xfee01000);
	ck_assert_uint_eq(R.fi.route[g - FAKE_IRQ_FIRST_GSI].data, 0x41);
	/* The rest of its last dword (extended message data, unused) is kvmrun's too: 0, kept away. */
	ck_assert_uint_eq(cfg_r(&R, 0xfe, 2), 0);
	cfg_w(&R, 0xfe, 2, 0x1234);
	ck_assert_uint_eq(R.fv.cfg_wrote[0xfe], 0);
	rig_down(&R);
}
END_TEST

static const uint64_t vf_bars[6] = { 0x4000, 0, 0, 0x4000, 0, 0 };

START_TEST(vf_from_datasheet_64bit_prefetchable_no_intx)
{
	rig_up(&R, "82599-vf.cfg", vf_bars);
	/* Both BARs 64-bit prefetchable: the 64-bit window above RAM. */
	for (unsigned b = 0; b < 6; b += 3) {
		uint32_t lo = cfg_r(&R, PCI_CFG_BAR0 + 4 * b, 4);
		uint64_t at = (lo & ~0xfu) | (uint64_t)cfg_r(&R, PCI_CFG_BAR0 + 4 * b + 4, 4) << 32;

		ck_assert_uint_eq(lo & 0xf, PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
		ck_assert_uint_ge(at, R.bus.window64_base);
		ck_assert_uint_eq(at, R.v.pci.bar_decoded[b]);
	}
	/* No pin, no INTx set up. */
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_INT_PIN, 1), 0);
	ck_assert_uint_eq(R.fv.trig_calls[VFIO_PCI_IRQ_INTX], 0);
	ck_assert_uint_eq(R.fi.nr_irqfds, 0);
	/* BAR 0 whole; BAR 3 holds the table (page 0) and PBA (page 2): only page 1 and 3 map. */
	ck_assert_ptr_nonnull(fake_slots_at(&R.fs, R.v.pci.bar_decoded[0]));
	ck_assert_uint_eq(fake_slots_at(&R.fs, R.v.pci.bar_decoded[0])->size, 0x4000);
	ck_assert_ptr_null(fake_slots_at(&R.fs, R.v.pci.bar_decoded[3]));
	ck_assert_ptr_nonnull(fake_slots_at(&R.fs, R.v.pci.bar_decoded[3] + 0x1000));
	ck_assert_ptr_nonnull(fake_slots_at(&R.fs, R.v.pci.bar_decoded[3] + 0x3000));
	ck_assert_uint_eq(fake_slots_count(&R.fs), 3);
	/* Extended configuration space through ECAM: AER, then ARI, from the device. */
	ck_assert_uint_eq(cfg_r(&R, 0x100, 4) & 0xffff, 0x0001);
	ck_assert_uint_eq(cfg_r(&R, 0x100, 4) >> 20, 0x150);
	ck_assert_uint_eq(cfg_r(&R, 0x150, 2), 0x000e);
	/* MSI-X through BAR 3 in the 64-bit window. */
	msix_entry(&R, R.v.pci.bar_decoded[3], 2, 0xfee00000, 0x77, 0);
	cfg_w(&R, VF_MSIX_CAP + 2, 2, 0x8000);
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], 3);
	ck_assert_uint_ne(fake_gsi_of(&R.fi, R.fv.trig_fds[VFIO_PCI_IRQ_MSIX][2]), 0);
	rig_down(&R);
}
END_TEST

START_TEST(hostile_config_spaces_do_not_crash)
{
	uint8_t cfg[256];

	/* A capability list that loops, and an MSI-X table in a BAR that does not exist. */
	ck_assert_uint_eq(fake_vfio_fixture("virtio-net-1041.cfg", cfg, sizeof(cfg)), 256);
	cfg[0x41] = 0x40;			/* the first capability points at itself */
	rig_cfg(&R, cfg, 256, virtio_bars);
	ck_assert_uint_eq(R.v.msix.cap, 0);	/* never reached */
	rig_down(&R);

	ck_assert_uint_eq(fake_vfio_fixture("virtio-net-1041.cfg", cfg, sizeof(cfg)), 256);
	cfg[NET_MSIX_CAP + 4] = 5;		/* table in BAR 5: absent */
	rig_cfg(&R, cfg, 256, virtio_bars);
	ck_assert_ptr_null(R.v.msix.table);
	cfg_w(&R, NET_MSIX_CAP + 2, 2, 0x8000);	/* enabling is ignored */
	ck_assert_int_eq(R.fv.trig_n[VFIO_PCI_IRQ_MSIX], -1);
	ck_assert_uint_eq(cfg_r(&R, NET_MSIX_CAP + 2, 2) & 0x8000, 0);
	/* The whole BAR maps: no trapped MSI-X pages. */
	ck_assert_uint_eq(fake_slots_count(&R.fs), 1);
	rig_down(&R);
}
END_TEST

START_TEST(cannot_be_saved_and_blocks_migration)
{
	struct state_writer w;

	rig_up(&R, "virtio-net-1041.cfg", virtio_bars);
	state_writer_init(&w);
	ck_assert_int_eq(vfio_pci_device_ops.save(&R.v, &w), -EOPNOTSUPP);
	state_writer_free(&w);
	ck_assert_ptr_nonnull(vfio_pci_device_ops.live_blocker(&R.v));
	rig_down(&R);
}
END_TEST

/* rom=on: a ROM BAR sized from VFIO's ROM region, read through it once the guest enables it. */
START_TEST(rom_shown_when_asked_read_through_the_region)
{
	static uint8_t rom[5000];	/* not a power of two: the BAR rounds up to 8 KiB */
	uint8_t cfg[FAKE_VFIO_CFG];
	uint32_t n = fake_vfio_fixture("virtio-net-1041.cfg", cfg, sizeof(cfg));

	for (unsigned i = 0; i < sizeof(rom); i++)
		rom[i] = (uint8_t)(i * 7 + 3);
	rom[0] = 0x55;
	rom[1] = 0xaa;
	/* The ROM is asked for between init and attach. */
	rig_init(&R, cfg, n, virtio_bars, rom, sizeof(rom));
	ck_assert_int_eq(vfio_pci_expose_rom(&R.v), 0);
	R.slot = vfio_pci_attach(&R.v, &R.bus);
	ck_assert_int_ge(R.slot, 1);

	uint32_t at = cfg_r(&R, PCI_CFG_ROM, 4);
	uint64_t bar0 = cfg_r(&R, PCI_CFG_BAR0, 4) & ~0xfu;

	/* Placed in the 32-bit window, 8 KiB aligned, off BAR 0, decoding off. */
	ck_assert_uint_eq(at & PCI_ROM_ENABLE, 0);
	ck_assert(at >= PCI_WINDOW_BASE && at + 8192 <= PCI_WINDOW_BASE + PCI_WINDOW_SIZE);
	ck_assert_uint_eq(at % 8192, 0);
	ck_assert(at + 8192 <= bar0 || at >= bar0 + VIRTIO_BAR0);
	ck_assert_uint_eq(mmio_r32(&R, at), 0xffffffff);
	ck_assert_uint_eq(R.fv.rom_reads, 0);
	/* Sizing answers 8 KiB, with the enable bit as written. */
	cfg_w(&R, PCI_CFG_ROM, 4, 0xfffff800);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_ROM, 4), 0xffffe000);
	cfg_w(&R, PCI_CFG_ROM, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_r(&R, PCI_CFG_ROM, 4), 0xffffe001);
	cfg_w(&R, PCI_CFG_ROM, 4, at | PCI_ROM_ENABLE);
	/* Enabled: the device's ROM bytes, each read a region read. */
	ck_assert_uint_eq(mmio_r32(&R, at) & 0xffff, 0xaa55);
	ck_assert_uint_eq(mmio_r32(&R, at + 4096), (uint32_t)rom[4096] | rom[4097] << 8 |
					   rom[4098] << 16 | (uint32_t)rom[4099] << 24);
	ck_assert_uint_eq(R.fv.rom_reads, 2);
	/* Past the ROM's 5000 bytes, inside the BAR: all-ones. */
	ck_assert_uint_eq(mmio_r32(&R, at + 6000), 0xffffffff);
	/* Writes go nowhere: the fake's ROM is const, a write would have faulted. */
	mmio_w32(&R, at + 8, 0x12345678);
	ck_assert_uint_eq(mmio_r32(&R, at + 8), (uint32_t)rom[8] | rom[9] << 8 | rom[10] << 16 |
					   (uint32_t)rom[11] << 24);
	/* Memory space off stops the ROM too; the ROM register never reached the device. */
	cfg_w(&R, PCI_CFG_COMMAND, 2, cfg_r(&R, PCI_CFG_COMMAND, 2) & ~PCI_CMD_MEMORY);
	unsigned reads = R.fv.rom_reads;

	ck_assert_uint_eq(mmio_r32(&R, at), 0xffffffff);
	ck_assert_uint_eq(R.fv.rom_reads, reads);
	for (unsigned i = PCI_CFG_ROM; i < PCI_CFG_ROM + 4; i++)
		ck_assert_uint_eq(R.fv.cfg_wrote[i], 0);
	/* The ROM is never a memory slot: only BAR 0's pieces are. */
	cfg_w(&R, PCI_CFG_COMMAND, 2, cfg_r(&R, PCI_CFG_COMMAND, 2) | PCI_CMD_MEMORY);
	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++)
		ck_assert(!R.fs.s[i].used || R.fs.s[i].gpa < at || R.fs.s[i].gpa >= at + 8192);
	rig_down(&R);
}
END_TEST

/* rom=on for a device without one (a VF): refused, and the ROM stays hidden. */
START_TEST(rom_asked_of_a_device_without_one)
{
	uint8_t cfg[FAKE_VFIO_CFG];
	uint32_t n = fake_vfio_fixture("virtio-net-1041.cfg", cfg, sizeof(cfg));

	rig_init(&R, cfg, n, virtio_bars, NULL, 0);
	ck_assert_int_eq(vfio_pci_expose_rom(&R.v), -ENOENT);
	ck_assert_uint_eq(R.v.pci.rom_size, 0);
	rig_down(&R);
}
END_TEST

/* ---- the sparse-mmap layout alone ---- */

static struct vfio_region region(unsigned nr, const struct vfio_area *a)
{
	struct vfio_region r = { .flags = VFIO_REGION_MMAP, .size = 0x10000, .nr_areas = nr };

	memcpy(r.areas, a, nr * sizeof(*a));
	return r;
}

START_TEST(layout_areas_trimmed_to_pages_and_cut)
{
	struct vfio_area out[VFIO_MAP_MAX];
	struct vfio_area a[] = { { 0x8000, 0x8000 }, { 0x0800, 0x3000 } };
	struct vfio_region r = region(2, a);
	struct vfio_area trap = { 0xa010, 0x30 };
	unsigned n = vfio_pci_mmap_layout(&r, 0x10000, &trap, 1, out, VFIO_MAP_MAX);

	/* [0x1000,0x3000) from the unaligned area, then 0x8000.. minus page 0xa000. */
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(out[0].offset, 0x1000);
	ck_assert_uint_eq(out[0].size, 0x2000);
	ck_assert_uint_eq(out[1].offset, 0x8000);
	ck_assert_uint_eq(out[1].size, 0x2000);
	ck_assert_uint_eq(out[2].offset, 0xb000);
	ck_assert_uint_eq(out[2].size, 0x5000);
	/* Not mmappable: nothing. */
	r.flags = 0;
	ck_assert_uint_eq(vfio_pci_mmap_layout(&r, 0x10000, NULL, 0, out, VFIO_MAP_MAX), 0);
}
END_TEST

START_TEST(layout_hostile_areas)
{
	struct vfio_area out[VFIO_MAP_MAX];
	/* Past the BAR, wrapping, repeated, smaller than a page. */
	struct vfio_area a[] = { { 0xf000, 0x100000 }, { ~0ULL - 0x10, 0x100 },
				 { 0x2000, 0x2000 }, { 0x2000, 0x2000 }, { 0x100, 0x200 } };
	struct vfio_region r = region(5, a);
	struct vfio_area trap = { 0, 0x10000 };
	unsigned n = vfio_pci_mmap_layout(&r, 0x10000, NULL, 0, out, VFIO_MAP_MAX);

	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0].offset, 0x2000);
	ck_assert_uint_eq(out[0].size, 0x2000);
	ck_assert_uint_eq(out[1].offset, 0xf000);
	ck_assert_uint_eq(out[1].size, 0x1000);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_le(out[i].offset + out[i].size, 0x10000);
	/* A trap over everything leaves nothing. */
	ck_assert_uint_eq(vfio_pci_mmap_layout(&r, 0x10000, &trap, 1, out, VFIO_MAP_MAX), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio_pci");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ids_and_caps_come_from_the_device);
	tcase_add_test(tc, bars_sized_from_regions_and_virtualized);
	tcase_add_test(tc, io_bar_goes_through_region_accesses);
	tcase_add_test(tc, mmap_pieces_follow_the_bar_and_skip_msix_pages);
	tcase_add_test(tc, bar_over_another_slot_is_trapped_not_fatal);
	tcase_add_test(tc, msix_vectors_become_routes_with_irqfds);
	tcase_add_test(tc, reset_turns_msix_off_and_resets_the_device);
	tcase_add_test(tc, msi_emulated);
	tcase_add_test(tc, msi_short_layout_at_the_end_of_config_space);
	tcase_add_test(tc, vf_from_datasheet_64bit_prefetchable_no_intx);
	tcase_add_test(tc, hostile_config_spaces_do_not_crash);
	tcase_add_test(tc, cannot_be_saved_and_blocks_migration);
	tcase_add_test(tc, rom_shown_when_asked_read_through_the_region);
	tcase_add_test(tc, rom_asked_of_a_device_without_one);
	tcase_add_test(tc, layout_areas_trimmed_to_pages_and_cut);
	tcase_add_test(tc, layout_hostile_areas);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
