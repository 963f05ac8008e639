/*
 * vfio-pci (devices/vfio_pci.c) with a hostile device and a hostile guest:
 * the fake VFIO device of the unit tests (tests/unit/fake_vfio.c) answers
 * with a configuration space and BAR sizes taken from the input, then the
 * guest's configuration accesses (mechanism #1 and ECAM offsets), BAR window
 * accesses (MSI-X table and PBA included), memory-slot collisions and
 * resets follow.
 *
 * Input: u8 flags (1: INTx offered; 2: MSI offered; 4: MSI-X offered; 8: an
 * expansion ROM of 1 + cfg[2] * 64 bytes, shown as with rom=on),
 * 6 x u8 BAR size exponents (size 1 << e for e in 4..23, else none), 256
 * bytes of configuration space, then operations until the input ends.
 * The 256 bytes are also decoded as a VFIO region-info reply and laid out
 * over a BAR (vfio_region_parse, vfio_pci_mmap_layout): whole pages inside
 * the BAR, in order, none over the trapped range.
 * Checks: no BAR, ROM, MSI or MSI-X byte the guest writes reaches the
 * device; every memory slot lies inside one BAR as decoded and inside a
 * window, never on a page of the MSI-X table or PBA (nor on the ROM: its
 * region is read-only memory here, a write would fault); an irqfd is only ever
 * live for a vector whose route is an x86 interrupt address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vfio.h"
#include "fuzz_common.h"
#include "kvmrun/mem.h"

#define MAX_OPS		256

enum { OP_CFG_WRITE, OP_CFG_READ, OP_WIN_WRITE, OP_WIN_READ, OP_BLOCK_SLOT, OP_RESET,
       OP_COUNT };

static struct guest_mem mem;
static struct fake_vfio fv;
static struct fake_slots fs;
static struct pci_bus bus;
static struct vfio_pci v;
static bool route_valid[1024];
static const uint8_t rom[1 + 255 * 64] = { 0x55, 0xaa };
static unsigned next_gsi;

static int f_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
		       int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	return -ENOSYS;
}

static int f_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)fd, (void)resample_fd;
	/* INTx lines are below 24 and have no MSI route. */
	FUZZ_CHECK(!assign || gsi < 24 || (gsi < 1024 && route_valid[gsi]),
		   "irqfd on GSI %u without a valid MSI route", gsi);
	return 0;
}

static int f_msi_alloc(void *ctx)
{
	(void)ctx;
	return next_gsi < 1024 ? (int)next_gsi++ : -ENOSPC;
}

static int f_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)ctx, (void)data;
	if (gsi < 1024)
		route_valid[gsi] = irq_msi_address_valid(addr);
	return 0;
}

static void f_set_line(void *ctx, unsigned gsi, int level)
{
	(void)ctx, (void)gsi, (void)level;
}

static const struct vm_irq_ops irq_ops = {
	.set_line = f_set_line, .ioeventfd = f_ioeventfd, .irqfd = f_irqfd,
	.msi_alloc = f_msi_alloc, .msi_route = f_msi_route,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_mem_init(&mem, 1 << 20, 0, 0);
	return 0;
}

static bool in_windows(uint64_t a, uint64_t n)
{
	return (a >= PCI_WINDOW_BASE && a + n <= PCI_WINDOW_BASE + PCI_WINDOW_SIZE) ||
	       (a >= bus.window64_base && a + n <= bus.window64_base + bus.window64_size);
}

static void check_slots(void)
{
	for (unsigned i = 0; i < FAKE_VFIO_SLOTS; i++) {
		const struct fake_slot *s = &fs.s[i];
		bool inside = false;

		if (!s->used || !s->host)
			continue;	/* the fuzzer's own blocking slots */
		FUZZ_CHECK(in_windows(s->gpa, s->size), "slot at 0x%lx outside the windows", s->gpa);
		for (unsigned b = 0; b < PCI_NR_BARS && !inside; b++) {
			uint64_t at = v.pci.bar_decoded[b];

			if (!at || s->gpa < at || s->gpa + s->size > at + v.pci.bar_size[b])
				continue;
			inside = true;
			if (!v.msix.table)
				continue;
			uint64_t off = s->gpa - at;
			uint64_t t = v.msix.table_off & ~(VFIO_PAGE - 1);
			uint64_t te = v.msix.table_off + v.msix.nr * 16ULL;
			uint64_t p = v.msix.pba_off & ~(VFIO_PAGE - 1);
			uint64_t pe = v.msix.pba_off + (v.msix.nr + 63) / 64 * 8;

			FUZZ_CHECK(b != v.msix.table_bar || off >= te || off + s->size <= t,
				   "slot over the MSI-X table");
			FUZZ_CHECK(b != v.msix.pba_bar || off >= pe || off + s->size <= p,
				   "slot over the PBA");
		}
		FUZZ_CHECK(inside, "slot at 0x%lx in no decoding BAR", s->gpa);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t cfg[256] = { 0 };
	uint64_t bars[6] = { 0 };
	uint8_t flags = in_u8(&in);

	for (unsigned b = 0; b < 6; b++) {
		uint8_t e = in_u8(&in) % 32;

		bars[b] = e >= 4 && e < 24 ? 1ULL << e : 0;
	}
	in_bytes(&in, cfg, sizeof(cfg));

	/* The same bytes as a region-info reply from the kernel, then laid out over a BAR. */
	struct vfio_region reg;
	struct vfio_area piece[VFIO_MAP_MAX], trap = { cfg[0] * 64ULL, cfg[1] * 16ULL };

	vfio_region_parse(cfg, sizeof(cfg), &reg);
	FUZZ_CHECK(reg.nr_areas <= VFIO_MAX_AREAS, "%u areas", reg.nr_areas);
	unsigned np = vfio_pci_mmap_layout(&reg, 1ULL << (12 + flags % 20), &trap, 1, piece,
					   VFIO_MAP_MAX);

	for (unsigned i = 0; i < np; i++) {
		FUZZ_CHECK(!(piece[i].offset % VFIO_PAGE) && !(piece[i].size % VFIO_PAGE) &&
			   piece[i].size, "piece %u not whole pages", i);
		FUZZ_CHECK(piece[i].offset + piece[i].size <= 1ULL << (12 + flags % 20),
			   "piece %u past the BAR", i);
		FUZZ_CHECK(!trap.size || piece[i].offset >= trap.offset + trap.size ||
			   piece[i].offset + piece[i].size <= (trap.offset & ~(VFIO_PAGE - 1)),
			   "piece %u over the trapped range", i);
		FUZZ_CHECK(!i || piece[i].offset >= piece[i - 1].offset + piece[i - 1].size,
			   "pieces %u and %u overlap or are out of order", i - 1, i);
	}
	fake_vfio_init(&fv, cfg, sizeof(cfg), bars);
	fv.irqs[VFIO_PCI_IRQ_INTX] = flags & 1;
	fv.irqs[VFIO_PCI_IRQ_MSI] = flags & 2 ? 32 : 0;
	fv.irqs[VFIO_PCI_IRQ_MSIX] = flags & 4 ? 2048 : 0;
	if (flags & 8) {
		fv.rom = rom;
		fv.rom_size = 1 + cfg[2] * 64u;
	}
	memset(&fs, 0, sizeof(fs));
	memset(route_valid, 0, sizeof(route_valid));
	next_gsi = 24;
	pci_bus_init(&bus);

	struct vm_irq irq = { &irq_ops, NULL };

	if (vfio_pci_init(&v, fake_vfio_dev(&fv), &mem, irq, fake_slots_ops(&fs), "fuzz") == 0 &&
	    (!(flags & 8) || vfio_pci_expose_rom(&v) == 0) && vfio_pci_attach(&v, &bus) > 0) {
		unsigned slot = v.pci.slot;
		uint8_t virt[PCI_CFG_SIZE];

		memcpy(virt, v.virt, sizeof(virt));
		memset(fv.cfg_wrote, 0, sizeof(fv.cfg_wrote));	/* attach's own command write */
		for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
			uint8_t op = in_u8(&in) % OP_COUNT, buf[8] = { 0 };
			uint32_t len = 1u << (in_u8(&in) % 4);
			uint32_t off = in_u16(&in);

			if (len > 4)
				len = 8;
			switch (op) {
			case OP_CFG_WRITE:
			case OP_CFG_READ:
				off %= PCI_ECAM_CFG_SIZE;
				if (len > 4)
					len = 4;
				off &= ~(len - 1);
				in_bytes(&in, buf, len);
				pci_config_access(&bus, slot, 0, off, buf, len, op == OP_CFG_WRITE);
				break;
			case OP_WIN_WRITE:
			case OP_WIN_READ: {
				unsigned b = in_u8(&in) % (PCI_NR_BARS + 1);
				uint64_t at = b == PCI_ROM_BAR ? v.pci.rom_decoded : v.pci.bar_decoded[b];
				uint64_t o = in_u32(&in);

				in_bytes(&in, buf, len);
				if (!at)
					break;
				o %= b == PCI_ROM_BAR ? v.pci.rom_size : v.pci.bar_size[b];
				o &= ~(uint64_t)(len - 1);
				if (at >= PCI_WINDOW_BASE && at < PCI_WINDOW_BASE + PCI_WINDOW_SIZE)
					pci_window_io(&bus, at + o - PCI_WINDOW_BASE, buf, len,
						      op == OP_WIN_WRITE);
				else
					pci_window64_io(&bus, at + o - bus.window64_base, buf, len,
							op == OP_WIN_WRITE);
				break;
			}
			case OP_BLOCK_SLOT: {
				/* Something else already mapped where the guest may put a BAR. */
				unsigned i = FAKE_VFIO_SLOTS - 1 - (in_u8(&in) % 4);

				fs.s[i] = (struct fake_slot){ !fs.s[i].used,
							      PCI_WINDOW_BASE + (uint64_t)in_u16(&in) * 4096,
							      1ULL << (12 + in_u8(&in) % 12), NULL };
				break;
			}
			case OP_RESET:
				vfio_pci_reset(&v);
				break;
			}
			check_slots();
		}
		for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
			FUZZ_CHECK(!virt[i] || !fv.cfg_wrote[i] || i == PCI_CFG_COMMAND ||
				   i == PCI_CFG_COMMAND + 1,
				   "guest write to virtualized byte 0x%x reached the device", i);
		for (unsigned i = FAKE_VFIO_SLOTS - 4; i < FAKE_VFIO_SLOTS; i++)
			if (!fs.s[i].host)
				fs.s[i].used = false;
	}
	vfio_pci_destroy(&v);
	FUZZ_CHECK(fake_slots_count(&fs) == 0, "slots left after destroy");
	fake_vfio_free(&fv);
	pci_bus_destroy(&bus);
	return 0;
}
