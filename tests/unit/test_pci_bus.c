/*
 * Unit tests for the PCI host bridge and bus (devices/pci.c), without
 * /dev/kvm: configuration cycles and BAR accesses as a vCPU's exits would
 * make them (testlib_pci.h), on functions that record what reached them.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/mem.h"
#include "kvmrun/pci.h"
#include "testlib.h"
#include "testlib_pci.h"

/* ================= the bus, with recording functions ================= */

struct move {
	unsigned bar;
	uint64_t old, addr;
};

struct rec {
	struct pci_function f;
	unsigned moves;
	struct move mv[16];
	unsigned ios;
	unsigned io_bar;
	uint64_t io_off;
	uint32_t io_len;
	bool io_write;
	uint64_t io_val;
	unsigned cfg_writes, cfg_reads;
	uint32_t cw_off, cw_len, cr_off, cr_len;
};

static uint8_t pattern(unsigned bar, uint64_t off)
{
	return (uint8_t)(0x80 ^ (bar << 5) ^ (off * 7));
}

static uint64_t pattern_val(unsigned bar, uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)pattern(bar, off + i) << (8 * i);
	return v;
}

static void rec_bar_io(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct rec *r = f->opaque;

	r->ios++;
	r->io_bar = bar;
	r->io_off = off;
	r->io_len = len;
	r->io_write = is_write;
	if (is_write) {
		r->io_val = 0;
		memcpy(&r->io_val, data, len < 8 ? len : 8);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		data[i] = pattern(bar, off + i);
}

static void rec_config_write(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct rec *r = f->opaque;

	r->cfg_writes++;
	r->cw_off = off;
	r->cw_len = len;
}

static void rec_config_read(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct rec *r = f->opaque;

	r->cfg_reads++;
	r->cr_off = off;
	r->cr_len = len;
}

static void rec_bar_moved(struct pci_function *f, unsigned bar, uint64_t old, uint64_t addr)
{
	struct rec *r = f->opaque;

	if (r->moves < sizeof(r->mv) / sizeof(r->mv[0]))
		r->mv[r->moves] = (struct move){ bar, old, addr };
	r->moves++;
}

static const struct pci_function_ops rec_ops = {
	.bar_io = rec_bar_io,
	.config_write = rec_config_write,
	.config_read = rec_config_read,
	.bar_moved = rec_bar_moved,
};

#define REC_VENDOR	0x1234
#define REC_SUBVENDOR	0x4321
#define REC_SUBID	0x5678
#define REC_CLASS	0x058000	/* memory controller, other */

static void rec_init(struct rec *r, uint16_t device)
{
	memset(r, 0, sizeof(*r));
	pci_function_init(&r->f, REC_VENDOR, device, REC_CLASS, REC_SUBVENDOR, REC_SUBID,
			  &rec_ops, r);
}

static void rec_clear(struct rec *r)
{
	r->moves = 0;
	r->ios = 0;
	r->cfg_writes = r->cfg_reads = 0;
}

/* r1 (slot 1): BAR0 4 KiB, BAR2 1 MiB.  r2 (slot 2): BAR0 16 bytes, BAR5 8 KiB. */
#define R1_BAR0		0x1000u
#define R1_BAR2		0x100000u
#define R2_BAR0		0x10u
#define R2_BAR5		0x2000u

static struct rec r1, r2;

static void bus_setup(void)
{
	pci_bus_init(&pcit_bus);
	rec_init(&r1, 0x0001);
	pci_function_add_bar(&r1.f, 0, R1_BAR0);
	pci_function_add_bar(&r1.f, 2, R1_BAR2);
	rec_init(&r2, 0x0002);
	pci_function_add_bar(&r2.f, 0, R2_BAR0);
	pci_function_add_bar(&r2.f, 5, R2_BAR5);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &r1.f), 1);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &r2.f), 2);
	rec_clear(&r1);
	rec_clear(&r2);
}

static void bus_teardown(void)
{
	pci_bus_destroy(&pcit_bus);
}

static uint32_t bar_reg(unsigned slot, unsigned bar)
{
	return cfg_rd(slot, PCI_CFG_BAR0 + 4 * bar, 4);
}

/* ---- identification ---- */

/* ---- 64-bit BARs, ECAM, INTx status ---- */

/* A third function with 64-bit BARs: BAR0/1 64 KiB not prefetchable, BAR2/3 8 GiB prefetchable. */
static struct rec r3;
#define R3_BAR0		0x10000ULL
#define R3_BAR2		0x200000000ULL

static void add_r3(int slot)
{
	rec_init(&r3, 0x0003);
	pci_function_add_bar64(&r3.f, 0, R3_BAR0, false);
	pci_function_add_bar64(&r3.f, 2, R3_BAR2, true);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &r3.f), slot);
}

/* An expansion ROM: placed like a BAR, decoding only with its enable bit and memory space. */
START_TEST(test_rom_bar)
{
	const uint32_t size = 0x10000;
	struct state_writer w;
	struct state_reader rd;

	rec_init(&r3, 0x0003);
	pci_function_add_rom(&r3.f, size);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &r3.f), 3);
	uint32_t at = cfg_rd(3, PCI_CFG_ROM, 4);

	ck_assert_uint_eq(at & PCI_ROM_ENABLE, 0);
	ck_assert_uint_ge(at, PCI_WINDOW_BASE);
	ck_assert_uint_eq(at % size, 0);
	/* After slot 1's and 2's BARs, overlapping none. */
	ck_assert(at >= r1.f.bar_decoded[2] + R1_BAR2 && at >= r2.f.bar_decoded[5] + R2_BAR5);
	ck_assert_uint_eq(r3.f.rom_decoded, 0);
	ck_assert_uint_eq(mmio_rd(at, 4), 0xffffffff);
	ck_assert_uint_eq(r3.ios, 0);
	/* Sizing, then enabled at its address: bar_moved says so, reads reach bar_io as PCI_ROM_BAR. */
	cfg_wr(3, PCI_CFG_ROM, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(3, PCI_CFG_ROM, 4), ~(size - 1) | PCI_ROM_ENABLE);
	cfg_wr(3, PCI_CFG_ROM, 4, at | PCI_ROM_ENABLE);
	ck_assert_uint_eq(r3.f.rom_decoded, at);
	ck_assert_uint_eq(r3.mv[r3.moves - 1].bar, PCI_ROM_BAR);
	ck_assert_uint_eq(r3.mv[r3.moves - 1].addr, at);
	ck_assert_uint_eq(mmio_rd(at + 0x40, 4), pattern_val(PCI_ROM_BAR, 0x40, 4));
	ck_assert_uint_eq(r3.io_bar, PCI_ROM_BAR);
	ck_assert_uint_eq(r3.io_off, 0x40);
	/* Memory space off: the ROM stops decoding too. */
	unsigned moves = r3.moves;

	cfg_wr(3, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(r3.f.rom_decoded, 0);
	ck_assert_uint_eq(r3.moves, moves + 1);
	ck_assert_uint_eq(mmio_rd(at + 0x40, 4), 0xffffffff);
	cfg_wr(3, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY);
	ck_assert_uint_eq(r3.f.rom_decoded, at);
	/* Saved enabled, disabled, restored: decoding comes back with bar_moved. */
	state_writer_init(&w);
	pci_function_save(&r3.f, &w);
	cfg_wr(3, PCI_CFG_ROM, 4, 0);
	ck_assert_uint_eq(r3.f.rom_decoded, 0);
	state_reader_init(&rd, w.data, w.len);
	ck_assert_int_eq(pci_function_restore(&r3.f, &rd), 0);
	ck_assert_uint_eq(r3.f.rom_decoded, at);
	ck_assert_uint_eq(r3.mv[r3.moves - 1].bar, PCI_ROM_BAR);
	state_writer_free(&w);
	/* Aimed at RAM or past the window: it decodes nowhere. */
	cfg_wr(3, PCI_CFG_ROM, 4, 0x1000 | PCI_ROM_ENABLE);
	ck_assert_uint_eq(r3.f.rom_decoded, 0);
	cfg_wr(3, PCI_CFG_ROM, 4, (uint32_t)(PCI_WINDOW_BASE + PCI_WINDOW_SIZE) | PCI_ROM_ENABLE);
	ck_assert_uint_eq(r3.f.rom_decoded, 0);
	/* Functions without a ROM keep 0x30 at 0. */
	cfg_wr(1, PCI_CFG_ROM, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_ROM, 4), 0);
}
END_TEST

START_TEST(test_bar64_placement_and_sizing)
{
	add_r3(3);
	/* Not prefetchable: the 32-bit window; prefetchable: the 64-bit window above 4 GiB. */
	uint64_t b0 = pci_function_bar_address(&r3.f, 0), b2 = pci_function_bar_address(&r3.f, 2);

	ck_assert_uint_eq(bar_reg(3, 0) & 0xf, PCI_BAR_MEM_64);
	ck_assert_uint_eq(bar_reg(3, 2) & 0xf, PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
	ck_assert_uint_ge(b0, PCI_WINDOW_BASE);
	ck_assert_uint_le(b0 + R3_BAR0, PCI_WINDOW_BASE + PCI_WINDOW_SIZE);
	ck_assert_uint_eq(b0 % R3_BAR0, 0);
	ck_assert_uint_ge(b2, PCI_WINDOW64_DEFAULT);
	ck_assert_uint_le(b2 + R3_BAR2, PCI_WINDOW64_DEFAULT + PCI_WINDOW64_SIZE);
	ck_assert_uint_eq(b2 % R3_BAR2, 0);
	ck_assert_uint_eq(r3.f.bar_decoded[0], b0);
	ck_assert_uint_eq(r3.f.bar_decoded[2], b2);
	/* Sizing both dwords: the size's bits, flags kept; the upper dword of the 8 GiB BAR too. */
	cfg_wr(3, PCI_CFG_COMMAND, 2, 0);
	for (unsigned b = 0; b < 4; b++)
		cfg_wr(3, PCI_CFG_BAR0 + 4 * b, 4, 0xffffffff);
	ck_assert_uint_eq(bar_reg(3, 0), (uint32_t)~(R3_BAR0 - 1) | PCI_BAR_MEM_64);
	ck_assert_uint_eq(bar_reg(3, 1), 0xffffffff);
	ck_assert_uint_eq(bar_reg(3, 2), PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
	ck_assert_uint_eq(bar_reg(3, 3), (uint32_t)(~(R3_BAR2 - 1) >> 32));
	ck_assert_uint_eq(~pci_function_bar_address(&r3.f, 2) + 1, R3_BAR2);
	ck_assert_uint_eq(~pci_function_bar_address(&r3.f, 0) + 1, R3_BAR0);
	/* Sized, with memory off: nothing decodes. */
	ck_assert_uint_eq(r3.f.bar_decoded[0], 0);
	ck_assert_uint_eq(r3.f.bar_decoded[2], 0);
	/* The 64 KiB BAR moved into the 64-bit window, the 8 GiB one out of every window. */
	cfg_wr(3, PCI_CFG_BAR0, 4, 0x00010000);
	cfg_wr(3, PCI_CFG_BAR0 + 4, 4, 0x2);
	cfg_wr(3, PCI_CFG_BAR0 + 8, 4, 0);
	cfg_wr(3, PCI_CFG_BAR0 + 12, 4, 0x40);		/* 256 GiB: past the window */
	cfg_wr(3, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY);
	ck_assert_uint_eq(r3.f.bar_decoded[0], 0x200010000ULL);
	ck_assert_uint_eq(r3.f.bar_decoded[2], 0);
	rec_clear(&r3);
	uint8_t d[4];

	pci_window64_io(&pcit_bus, 0x200010008ULL - pcit_bus.window64_base, d, 4, false);
	ck_assert_uint_eq(r3.ios, 1);
	ck_assert_uint_eq(r3.io_bar, 0);
	ck_assert_uint_eq(r3.io_off, 8);
	/* A 64-bit address that wraps around decodes nowhere. */
	cfg_wr(3, PCI_CFG_BAR0, 4, 0xffff0000);
	cfg_wr(3, PCI_CFG_BAR0 + 4, 4, 0xffffffff);
	ck_assert_uint_eq(r3.f.bar_decoded[0], 0);
}
END_TEST

START_TEST(test_bar64_window_moves)
{
	/* The builder puts the 64-bit window above RAM before adding functions. */
	pci_bus_init(&pcit_bus);
	pci_bus_set_window64(&pcit_bus, 0x1000000000ULL, PCI_WINDOW64_SIZE);
	add_r3(1);
	ck_assert_uint_eq(pci_function_bar_address(&r3.f, 2), 0x1000000000ULL);
	ck_assert_uint_eq(r3.f.bar_decoded[2], 0x1000000000ULL);
	/* The old default place is no window now. */
	cfg_wr(1, PCI_CFG_BAR0 + 12, 4, 0x1);
	ck_assert_uint_eq(r3.f.bar_decoded[2], 0);
}
END_TEST

START_TEST(test_window64_follows_ram)
{
	struct guest_mem m;

	ck_assert_int_eq(guest_mem_init(&m, 64 << 20, false, HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(pci_window64_base(&m), 0x100000000ULL);
	guest_mem_destroy(&m);
	/* RAM past the hole: 4 GiB + (5 GiB - 3 GiB) = 6 GiB, and the window starts there. */
	ck_assert_int_eq(guest_mem_init(&m, 5ULL << 30, false, HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(pci_window64_base(&m), 6ULL << 30);
	guest_mem_destroy(&m);
}
END_TEST

static uint32_t ecam_rd(unsigned slot, unsigned fn, unsigned off, uint32_t len)
{
	uint8_t d[4] = { 0 };
	uint32_t v = 0;

	pci_ecam_io(&pcit_bus, (uint64_t)slot << 15 | fn << 12 | off, d, len, false);
	memcpy(&v, d, len);
	return v;
}

static void ecam_wr(unsigned slot, unsigned fn, unsigned off, uint32_t len, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, len);
	pci_ecam_io(&pcit_bus, (uint64_t)slot << 15 | fn << 12 | off, d, len, true);
}

START_TEST(test_ecam)
{
	/* Every byte of the 256 through ECAM is what mechanism #1 reads. */
	for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++)
		for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4)
			ck_assert_uint_eq(ecam_rd(slot, 0, off, 4), cfg_rd(slot, off, 4));
	/* Extended space: 0 for a function, all-ones where there is none. */
	ck_assert_uint_eq(ecam_rd(1, 0, 0x100, 4), 0);
	ck_assert_uint_eq(ecam_rd(1, 0, 0xffc, 4), 0);
	ck_assert_uint_eq(ecam_rd(1, 0, 0xffe, 2), 0);
	ck_assert_uint_eq(ecam_rd(9, 0, 0x100, 4), 0xffffffff);
	ck_assert_uint_eq(ecam_rd(1, 3, 0, 4), 0xffffffff);
	/* Writes reach the same bytes; misaligned accesses are dropped. */
	ecam_wr(1, 0, PCI_CFG_INT_LINE, 1, 0x5a);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_LINE, 1), 0x5a);
	uint32_t bar = bar_reg(1, 0);

	ecam_wr(1, 0, PCI_CFG_BAR0 + 1, 2, 0xffff);
	ck_assert_uint_eq(bar_reg(1, 0), bar);
	ck_assert_uint_eq(ecam_rd(1, 0, PCI_CFG_VENDOR_ID + 1, 2), 0xffff);
	ecam_wr(1, 0, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_COMMAND, 2), 0);
	ck_assert_uint_eq(r1.f.bar_decoded[0], 0);
	ecam_wr(1, 0, 0x400, 4, 0xffffffff);	/* extended space: ignored */
	ck_assert_uint_eq(ecam_rd(1, 0, 0x400, 4), 0);
	/* Past the 1 MiB of bus 0: nothing. */
	uint8_t d[4];

	pci_ecam_io(&pcit_bus, PCI_ECAM_SIZE, d, 4, false);
	ck_assert_uint_eq(d[0] & d[1] & d[2] & d[3], 0xff);
}
END_TEST

START_TEST(test_intx_status)
{
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	pci_function_set_intx_status(&r1.f, true);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(ecam_rd(1, 0, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(cfg_rd(2, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* Read-only to the guest; Interrupt Disable is the command register's. */
	cfg_wr(1, PCI_CFG_STATUS, 2, 0);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert(!pci_function_intx_disabled(&r1.f));
	cfg_wr(1, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_INTX_DISABLE);
	ck_assert(pci_function_intx_disabled(&r1.f));
	pci_function_set_intx_status(&r1.f, false);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
}
END_TEST

START_TEST(test_host_bridge)
{
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_VENDOR_ID, 2), 0x1b36);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_DEVICE_ID, 2), 0x0008);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_VENDOR_ID, 4), 0x00081b36);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_BASECLASS, 1), 0x06);	/* bridge */
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_SUBCLASS, 1), 0x00);	/* host bridge */
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_CLASS_PROG, 1), 0x00);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_HEADER_TYPE, 1), 0x00);	/* type 0, one function */
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	/* No BARs, no ROM: sizing reads back 0. */
	for (unsigned b = 0; b < PCI_NR_BARS; b++) {
		cfg_wr(0, PCI_CFG_BAR0 + 4 * b, 4, 0xffffffff);
		ck_assert_uint_eq(bar_reg(0, b), 0);
	}
	cfg_wr(0, PCI_CFG_ROM, 4, 0xfffff800);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_ROM, 4), 0);
	/* The interrupt line is scratch space for the OS. */
	cfg_wr(0, PCI_CFG_INT_LINE, 1, 0x0b);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_INT_LINE, 1), 0x0b);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_INT_PIN, 1), 0);
}
END_TEST

START_TEST(test_function_ids)
{
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_VENDOR_ID, 2), REC_VENDOR);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_DEVICE_ID, 2), 0x0001);
	ck_assert_uint_eq(cfg_rd(2, PCI_CFG_DEVICE_ID, 2), 0x0002);
	/* Revision, prog-if, subclass, class in one dword. */
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_REVISION, 4), (uint32_t)REC_CLASS << 8 | 1);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_SUBSYS_VENDOR, 2), REC_SUBVENDOR);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_SUBSYS_ID, 2), REC_SUBID);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_HEADER_TYPE, 1), 0);
	/* INTx pin A, its line the IOAPIC input _PRT names for the slot; none on the bridge. */
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_PIN, 1), PCI_INTX_PIN_A);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_LINE, 1), pci_intx_gsi(1));
	ck_assert_uint_eq(cfg_rd(2, PCI_CFG_INT_LINE, 1), pci_intx_gsi(2));
	ck_assert_uint_ne(pci_intx_gsi(1), pci_intx_gsi(2));
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_INT_PIN, 1), 0);
	/* Memory decoding on, as firmware would leave it. */
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_COMMAND, 2), PCI_CMD_MEMORY);
	/* Slots past the last device are empty. */
	for (unsigned s = 3; s < PCI_MAX_SLOTS; s++)
		ck_assert_uint_eq(cfg_rd(s, PCI_CFG_VENDOR_ID, 4), 0xffffffff);
}
END_TEST

/* ---- the address latch and the data port ---- */

START_TEST(test_latch)
{
	latch(0x80001234);
	ck_assert_uint_eq(port_rd(0, 4), 0x80001234);
	/* Byte and word accesses to 0xCF8-0xCFB are not the latch: ignored, all-ones. */
	port_wr(0, 1, 0xff);
	port_wr(3, 1, 0x01);
	port_wr(2, 2, 0xffff);
	port_wr(1, 2, 0x0000);
	port_wr(1, 4, 0x00000000);	/* not at 0xCF8: not the latch either */
	port_wr(2, 4, 0x80000000);
	ck_assert_uint_eq(port_rd(0, 4), 0x80001234);
	ck_assert_uint_eq(port_rd(1, 4), 0xffffffff);
	ck_assert_uint_eq(port_rd(0, 1), 0xff);
	ck_assert_uint_eq(port_rd(3, 1), 0xff);
	ck_assert_uint_eq(port_rd(0, 2), 0xffff);
	ck_assert_uint_eq(port_rd(2, 2), 0xffff);
	/* Linux's pci_check_type1() probe. */
	port_wr(3, 1, 0x01);
	uint32_t tmp = port_rd(0, 4);

	latch(0x80000000);
	ck_assert_uint_eq(port_rd(0, 4), 0x80000000);
	latch(tmp);
	ck_assert_uint_eq(port_rd(0, 4), 0x80001234);
	/* Then its sanity check: a host bridge class or Intel/Compaq vendor at 00:00.0. */
	latch(cfg_address(0, 0, 0, PCI_CFG_CLASS));
	ck_assert_uint_eq(port_rd(6, 2), 0x0600);
}
END_TEST

START_TEST(test_data_port_widths)
{
	uint32_t id = cfg_rd(1, PCI_CFG_VENDOR_ID, 4);

	latch(cfg_address(0, 1, 0, PCI_CFG_VENDOR_ID));
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(port_rd(4 + i, 1), (id >> (8 * i)) & 0xff);
	ck_assert_uint_eq(port_rd(4, 2), id & 0xffff);
	ck_assert_uint_eq(port_rd(6, 2), id >> 16);
	ck_assert_uint_eq(port_rd(4, 4), id);
	/* The low two latch bits do not offset a dword... */
	latch(cfg_address(0, 1, 0, PCI_CFG_VENDOR_ID) | 3);
	ck_assert_uint_eq(port_rd(4, 4), id);
	/* ... but do a narrower access that still fits, as under QEMU (kvm-unit-tests). */
	latch(cfg_address(0, 1, 0, PCI_CFG_VENDOR_ID) | 2);
	ck_assert_uint_eq(port_rd(4, 2), id >> 16);
	ck_assert_uint_eq(port_rd(5, 1), (id >> 24) & 0xff);
	/* Byte and word writes land on the byte the port selects. */
	latch(cfg_address(0, 1, 0, PCI_CFG_INT_LINE));
	port_wr(4, 1, 0x0a);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_LINE, 1), 0x0a);
	latch(cfg_address(0, 1, 0, PCI_CFG_COMMAND));
	port_wr(4, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_COMMAND, 2), PCI_CMD_MEMORY | PCI_CMD_MASTER);
	/* A 16-bit write at 0xCFE reaches bytes 2-3 of the dword (INT_LINE is byte 0). */
	latch(cfg_address(0, 1, 0, PCI_CFG_INT_LINE));
	port_wr(6, 2, 0xffff);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_LINE, 1), 0x0a);
	port_wr(5, 1, 0x42);	/* INT_PIN: read-only */
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_PIN, 1), PCI_INTX_PIN_A);
}
END_TEST

/* Accesses that reach no function: a catalogue used by the next two tests. */
struct stray {
	uint32_t address;	/* latch value */
	uint64_t port;		/* 4..7 */
	uint32_t len;
};

static const struct stray strays[] = {
	/* Enable bit clear. */
	{ 0x00000000 | 1 << 11 | PCI_CFG_INT_LINE, 4, 1 },
	{ 0x00000000 | 1 << 11 | PCI_CFG_COMMAND, 4, 4 },
	{ 0x00000000 | 0 << 11 | PCI_CFG_COMMAND, 4, 2 },
	/* Other buses. */
	{ 0x80000000 | 1 << 16 | 1 << 11 | PCI_CFG_INT_LINE, 4, 1 },
	{ 0x80000000 | 0xff << 16 | 1 << 11 | PCI_CFG_COMMAND, 4, 4 },
	{ 0x80000000 | 0x80 << 16 | 0 << 11 | PCI_CFG_INT_LINE, 4, 4 },
	/* Functions 1-7 of present devices. */
	{ 0x80000000 | 1 << 11 | 1 << 8 | PCI_CFG_INT_LINE, 4, 1 },
	{ 0x80000000 | 1 << 11 | 7 << 8 | PCI_CFG_COMMAND, 4, 4 },
	{ 0x80000000 | 2 << 11 | 3 << 8 | PCI_CFG_BAR0, 4, 4 },
	{ 0x80000000 | 0 << 11 | 1 << 8 | PCI_CFG_VENDOR_ID, 4, 4 },
	/* Empty slots. */
	{ 0x80000000 | 3 << 11 | PCI_CFG_INT_LINE, 4, 1 },
	{ 0x80000000 | 31 << 11 | PCI_CFG_COMMAND, 4, 4 },
	/* Crossing the end of the data port. */
	{ 0x80000000 | 1 << 11 | PCI_CFG_INT_LINE, 5, 4 },
	{ 0x80000000 | 1 << 11 | PCI_CFG_INT_LINE, 6, 4 },
	{ 0x80000000 | 1 << 11 | PCI_CFG_INT_LINE, 7, 4 },
	{ 0x80000000 | 1 << 11 | PCI_CFG_INT_LINE, 7, 2 },
	{ 0x80000000 | 1 << 11 | PCI_CFG_COMMAND, 5, 4 },
	{ 0x80000000 | 1 << 11 | PCI_CFG_BAR0, 7, 2 },
};

START_TEST(test_stray_reads_all_ones)
{
	uint8_t b[8];

	for (unsigned i = 0; i < sizeof(strays) / sizeof(strays[0]); i++) {
		latch(strays[i].address);
		ck_assert_msg(port_rd(strays[i].port, strays[i].len) == ones(strays[i].len),
			      "stray %u read something", i);
	}
	/* Past the 4 KiB an ECAM function has, slots past 31, functions past 0 (direct). */
	static const uint32_t offs[] = { 0x1000, 0x1004, 0xfffffffc, 0xffffffff };

	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(b, 0, sizeof(b));
		pci_config_access(&pcit_bus, 1, 0, offs[i], b, 4, false);
		ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	}
	/* Extended configuration space of a function that has none reads as 0. */
	static const uint32_t ext[] = { 256, 257, 0x800, 0xffc };

	for (unsigned i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		memset(b, 0xaa, sizeof(b));
		pci_config_access(&pcit_bus, 1, 0, ext[i], b, 4, false);
		ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
	}
	memset(b, 0, sizeof(b));
	pci_config_access(&pcit_bus, PCI_MAX_SLOTS, 0, 0, b, 4, false);
	ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	memset(b, 0, sizeof(b));
	pci_config_access(&pcit_bus, 1, 8, 0, b, 4, false);
	ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	/* Straddling the end of the 256 bytes: the bytes inside are real, the rest extended space (0). */
	memset(b, 0xaa, sizeof(b));
	cfg_wr(1, 0xfc, 4, 0);	/* nothing there: stays 0 */
	pci_config_access(&pcit_bus, 1, 0, 254, b, 4, false);
	ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
	/* Nothing was routed to a function's hooks. */
	ck_assert_uint_eq(r1.cfg_reads, 1);	/* the direct read at 254 */
	ck_assert_uint_eq(r1.cr_off, 254);
	ck_assert_uint_eq(r1.cr_len, 2);
	ck_assert_uint_eq(r2.cfg_reads, 0);
}
END_TEST

START_TEST(test_stray_writes_change_nothing)
{
	static const uint32_t vals[] = { 0xffffffff, 0 };
	uint8_t before[3][PCI_CFG_SIZE], after[3][PCI_CFG_SIZE];
	uint8_t b[4];

	/* Make the writable bytes differ from both values first. */
	cfg_wr(1, PCI_CFG_INT_LINE, 1, 0x5a);
	cfg_wr(2, PCI_CFG_INT_LINE, 1, 0x5a);
	cfg_wr(0, PCI_CFG_INT_LINE, 1, 0x5a);
	rec_clear(&r1);
	rec_clear(&r2);
	for (unsigned s = 0; s < 3; s++)
		image(s, before[s]);
	for (unsigned v = 0; v < 2; v++) {
		for (unsigned i = 0; i < sizeof(strays) / sizeof(strays[0]); i++) {
			latch(strays[i].address);
			port_wr(strays[i].port, strays[i].len, vals[v]);
		}
		memcpy(b, &vals[v], 4);
		pci_config_access(&pcit_bus, 1, 0, 256, b, 4, true);
		pci_config_access(&pcit_bus, 1, 0, 0xfffffffc, b, 4, true);
		pci_config_access(&pcit_bus, 1, 0, 0xffffffff, b, 4, true);
		pci_config_access(&pcit_bus, PCI_MAX_SLOTS, 0, PCI_CFG_INT_LINE, b, 4, true);
		pci_config_access(&pcit_bus, 1, 1, PCI_CFG_INT_LINE, b, 4, true);
		pci_config_access(&pcit_bus, 1, 8, PCI_CFG_INT_LINE, b, 4, true);
	}
	for (unsigned s = 0; s < 3; s++) {
		image(s, after[s]);
		ck_assert_mem_eq(before[s], after[s], PCI_CFG_SIZE);
	}
	ck_assert_uint_eq(r1.cfg_writes, 0);
	ck_assert_uint_eq(r2.cfg_writes, 0);
	ck_assert_uint_eq(r1.moves + r2.moves, 0);
}
END_TEST

START_TEST(test_config_hooks)
{
	uint8_t b[4] = { 1, 2, 3, 4 };

	cfg_wr(1, PCI_CFG_INT_LINE, 1, 9);
	ck_assert_uint_eq(r1.cfg_writes, 1);
	ck_assert_uint_eq(r1.cw_off, PCI_CFG_INT_LINE);
	ck_assert_uint_eq(r1.cw_len, 1);
	cfg_rd(1, PCI_CFG_STATUS, 2);
	ck_assert_uint_eq(r1.cfg_reads, 1);
	ck_assert_uint_eq(r1.cr_off, PCI_CFG_STATUS);
	ck_assert_uint_eq(r1.cr_len, 2);
	/* A write straddling the end is cut at 256 before the hook sees it. */
	pci_config_access(&pcit_bus, 1, 0, 254, b, 4, true);
	ck_assert_uint_eq(r1.cfg_writes, 2);
	ck_assert_uint_eq(r1.cw_off, 254);
	ck_assert_uint_eq(r1.cw_len, 2);
	ck_assert_uint_eq(r2.cfg_writes + r2.cfg_reads, 0);
}
END_TEST

/* ---- BARs ---- */

START_TEST(test_bar_placement)
{
	struct { unsigned slot, bar; uint32_t size; struct rec *r; } bars[] = {
		{ 1, 0, R1_BAR0, &r1 }, { 1, 2, R1_BAR2, &r1 },
		{ 2, 0, R2_BAR0, &r2 }, { 2, 5, R2_BAR5, &r2 },
	};
	unsigned n = sizeof(bars) / sizeof(bars[0]);

	for (unsigned i = 0; i < n; i++) {
		uint32_t reg = bar_reg(bars[i].slot, bars[i].bar);
		uint64_t a = reg & ~BAR_MEM_FLAGS;

		ck_assert_uint_eq(reg & BAR_MEM_FLAGS, 0);	/* 32-bit memory, not prefetchable */
		ck_assert_uint_eq(a & (bars[i].size - 1), 0);	/* naturally aligned */
		ck_assert_uint_ge(a, PCI_WINDOW_BASE);
		ck_assert_uint_le(a + bars[i].size, PCI_WINDOW_BASE + PCI_WINDOW_SIZE);
		ck_assert_uint_eq(bars[i].r->f.bar_decoded[bars[i].bar], a);
		for (unsigned j = 0; j < i; j++) {
			uint64_t b = bar_reg(bars[j].slot, bars[j].bar) & ~BAR_MEM_FLAGS;

			ck_assert(a + bars[i].size <= b || b + bars[j].size <= a);
		}
	}
	/* BARs that were not declared read 0 and stay 0. */
	static const unsigned none1[] = { 1, 3, 4, 5 }, none2[] = { 1, 2, 3, 4 };

	for (unsigned i = 0; i < 4; i++) {
		cfg_wr(1, PCI_CFG_BAR0 + 4 * none1[i], 4, 0xffffffff);
		cfg_wr(2, PCI_CFG_BAR0 + 4 * none2[i], 4, 0xffffffff);
		ck_assert_uint_eq(bar_reg(1, none1[i]), 0);
		ck_assert_uint_eq(bar_reg(2, none2[i]), 0);
	}
	ck_assert_uint_eq(r1.moves + r2.moves, 0);
}
END_TEST

START_TEST(test_bar_placement_reports_decoding)
{
	struct pci_bus b2;
	struct rec r;

	/* A function added to a bus gets bar_moved(0 -> addr) for each BAR at once. */
	pci_bus_init(&b2);
	rec_init(&r, 7);
	pci_function_add_bar(&r.f, 1, 0x4000);
	pci_function_add_bar(&r.f, 3, 0x100);
	ck_assert_int_eq(pci_bus_add(&b2, &r.f), 1);
	ck_assert_uint_eq(r.moves, 2);
	ck_assert_uint_eq(r.mv[0].bar, 1);
	ck_assert_uint_eq(r.mv[0].old, 0);
	ck_assert_uint_eq(r.mv[0].addr, pci_cfg_read32(&r.f, PCI_CFG_BAR0 + 4));
	ck_assert_uint_eq(r.mv[1].bar, 3);
	ck_assert_uint_eq(r.mv[1].old, 0);
	ck_assert_uint_eq(r.mv[1].addr, pci_cfg_read32(&r.f, PCI_CFG_BAR0 + 12));
	ck_assert_uint_eq(r.f.slot, 1);
	pci_bus_destroy(&b2);
}
END_TEST

START_TEST(test_bar_sizing)
{
	uint32_t a0 = bar_reg(1, 0), a2 = bar_reg(1, 2);

	/* As Linux does it: decoding off, all-ones, read, restore, decoding on. */
	cfg_wr(1, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(r1.moves, 2);
	cfg_wr(1, PCI_CFG_BAR0, 4, 0xffffffff);
	ck_assert_uint_eq(bar_reg(1, 0), ~(R1_BAR0 - 1));
	cfg_wr(1, PCI_CFG_BAR0, 4, a0);
	cfg_wr(1, PCI_CFG_BAR0 + 8, 4, 0xffffffff);
	ck_assert_uint_eq(bar_reg(1, 2), ~(R1_BAR2 - 1));
	cfg_wr(1, PCI_CFG_BAR0 + 8, 4, a2);
	cfg_wr(2, PCI_CFG_BAR0, 4, 0xffffffff);
	ck_assert_uint_eq(bar_reg(2, 0), ~(R2_BAR0 - 1));
	cfg_wr(2, PCI_CFG_BAR0 + 20, 4, 0xffffffff);
	ck_assert_uint_eq(bar_reg(2, 5), ~(R2_BAR5 - 1));
	ck_assert_uint_eq(r1.moves, 2);	/* nothing decodes while memory is off */
	cfg_wr(1, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY);
	ck_assert_uint_eq(r1.moves, 4);
	ck_assert_uint_eq(bar_reg(1, 0), a0);
	ck_assert_uint_eq(bar_reg(1, 2), a2);
	ck_assert_uint_eq(r1.f.bar_decoded[0], a0);
	ck_assert_uint_eq(r1.f.bar_decoded[2], a2);
	/* Sizing with decoding on: it stops (0xfffff000 is not in the window), then resumes. */
	cfg_wr(1, PCI_CFG_BAR0, 4, 0xffffffff);
	ck_assert_uint_eq(r1.moves, 5);
	ck_assert_uint_eq(r1.mv[4].bar, 0);
	ck_assert_uint_eq(r1.mv[4].old, a0);
	ck_assert_uint_eq(r1.mv[4].addr, 0);
	ck_assert_uint_eq(mmio_rd(a0, 4), 0xffffffff);
	cfg_wr(1, PCI_CFG_BAR0, 4, a0);
	ck_assert_uint_eq(r1.moves, 6);
	ck_assert_uint_eq(r1.mv[5].old, 0);
	ck_assert_uint_eq(r1.mv[5].addr, a0);
	ck_assert_uint_eq(mmio_rd(a0, 4), pattern_val(0, 0, 4));
	/* Byte-wide sizing writes work too: the flag nibble never becomes 1. */
	cfg_wr(1, PCI_CFG_COMMAND, 2, 0);
	for (unsigned i = 0; i < 4; i++)
		cfg_wr(1, PCI_CFG_BAR0 + i, 1, 0xff);
	ck_assert_uint_eq(bar_reg(1, 0), ~(R1_BAR0 - 1));
	cfg_wr(1, PCI_CFG_BAR0, 4, a0);
	ck_assert_uint_eq(r1.moves, 8);
}
END_TEST

START_TEST(test_bar_move)
{
	uint64_t old = bar_reg(1, 0), to = 0xc8000000;
	unsigned ios;

	ck_assert_uint_eq(mmio_rd(old + 0x10, 4), pattern_val(0, 0x10, 4));
	ck_assert_uint_eq(r1.ios, 1);
	cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)to);
	ck_assert_uint_eq(r1.moves, 1);
	ck_assert_uint_eq(r1.mv[0].bar, 0);
	ck_assert_uint_eq(r1.mv[0].old, old);
	ck_assert_uint_eq(r1.mv[0].addr, to);
	ck_assert_uint_eq(r1.f.bar_decoded[0], to);
	/* Accesses follow the BAR. */
	ck_assert_uint_eq(mmio_rd(to + 0x10, 4), pattern_val(0, 0x10, 4));
	ck_assert_uint_eq(r1.io_bar, 0);
	ck_assert_uint_eq(r1.io_off, 0x10);
	ck_assert_uint_eq(r1.io_len, 4);
	ck_assert(!r1.io_write);
	mmio_wr(to + 0xffc, 4, 0x11223344);
	ck_assert(r1.io_write);
	ck_assert_uint_eq(r1.io_off, 0xffc);
	ck_assert_uint_eq(r1.io_val, 0x11223344);
	ios = r1.ios;
	ck_assert_uint_eq(mmio_rd(old + 0x10, 4), 0xffffffff);
	mmio_wr(old, 4, 1);
	ck_assert_uint_eq(r1.ios, ios);
	/* Low address bits are not writable: an unaligned address is rounded down, no move. */
	cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)to + 0x800);
	ck_assert_uint_eq(bar_reg(1, 0), to);
	ck_assert_uint_eq(r1.moves, 1);
	/* Rewriting the same address is not a move. */
	cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)to);
	ck_assert_uint_eq(r1.moves, 1);
	/* The other BAR did not move. */
	ck_assert_uint_eq(mmio_rd(bar_reg(1, 2) + 8, 2), pattern_val(2, 8, 2));
	ck_assert_uint_eq(r1.io_bar, 2);
	/* A 16-bit write to the upper half of the BAR moves it as well. */
	cfg_wr(1, PCI_CFG_BAR0 + 2, 2, 0xd000);
	ck_assert_uint_eq(bar_reg(1, 0), 0xd0000000);
	ck_assert_uint_eq(r1.moves, 2);
	ck_assert_uint_eq(r1.mv[1].old, to);
	ck_assert_uint_eq(r1.mv[1].addr, 0xd0000000);
	ck_assert_uint_eq(mmio_rd(0xd0000000, 1), pattern_val(0, 0, 1));
}
END_TEST

START_TEST(test_bar_window_edges)
{
	uint64_t top = PCI_WINDOW_BASE + PCI_WINDOW_SIZE;
	static const uint32_t outside[] = {
		(uint32_t)(PCI_WINDOW_BASE - R1_BAR0),		/* just below */
		(uint32_t)(PCI_WINDOW_BASE + PCI_WINDOW_SIZE),	/* just above */
		0x00001000, 0xfebff000, 0xfffff000,
	};

	/* The last page of the window decodes, up to its last byte. */
	cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)(top - R1_BAR0));
	ck_assert_uint_eq(r1.f.bar_decoded[0], top - R1_BAR0);
	ck_assert_uint_eq(mmio_rd(top - 1, 1), pattern_val(0, R1_BAR0 - 1, 1));
	ck_assert_uint_eq(mmio_rd(top - 4, 4), pattern_val(0, R1_BAR0 - 4, 4));
	ck_assert_uint_eq(mmio_rd(top - 8, 8), pattern_val(0, R1_BAR0 - 8, 8));
	/* So does the first. */
	cfg_wr(2, PCI_CFG_BAR0 + 20, 4, (uint32_t)PCI_WINDOW_BASE);
	cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)PCI_WINDOW_BASE + R2_BAR5);
	ck_assert_uint_eq(r2.f.bar_decoded[5], PCI_WINDOW_BASE);
	ck_assert_uint_eq(mmio_rd(PCI_WINDOW_BASE, 2), pattern_val(5, 0, 2));
	ck_assert_uint_eq(r2.io_bar, 5);
	rec_clear(&r1);
	for (unsigned i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		uint64_t was = r1.f.bar_decoded[0];

		cfg_wr(1, PCI_CFG_BAR0, 4, outside[i]);
		ck_assert_uint_eq(bar_reg(1, 0), outside[i]);	/* the register holds it... */
		ck_assert_uint_eq(r1.f.bar_decoded[0], 0);	/* ...but it does not decode */
		if (was) {
			ck_assert_uint_eq(r1.mv[r1.moves - 1].old, was);
			ck_assert_uint_eq(r1.mv[r1.moves - 1].addr, 0);
		}
		cfg_wr(1, PCI_CFG_BAR0, 4, (uint32_t)PCI_WINDOW_BASE + 0x10000);
		ck_assert_uint_eq(r1.f.bar_decoded[0], PCI_WINDOW_BASE + 0x10000);
		cfg_wr(1, PCI_CFG_BAR0, 4, outside[i]);
	}
	/* First pass: out, in, out; the others start from "not decoding": in, out. */
	ck_assert_uint_eq(r1.moves, 1 + 2 * (sizeof(outside) / sizeof(outside[0])));
	/* Nowhere in the window reaches BAR 0 now. */
	rec_clear(&r1);
	ck_assert_uint_eq(mmio_rd(PCI_WINDOW_BASE + 0x10000, 4), 0xffffffff);
	ck_assert_uint_eq(mmio_rd(top - 4, 4), 0xffffffff);
	ck_assert_uint_eq(r1.ios, 0);
}
END_TEST

START_TEST(test_memory_enable)
{
	uint64_t a0 = bar_reg(1, 0), a2 = bar_reg(1, 2);

	cfg_wr(1, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);	/* no change */
	ck_assert_uint_eq(r1.moves, 0);
	cfg_wr(1, PCI_CFG_COMMAND, 2, PCI_CMD_MASTER);
	ck_assert_uint_eq(r1.moves, 2);
	ck_assert_uint_eq(r1.mv[0].bar, 0);
	ck_assert_uint_eq(r1.mv[0].old, a0);
	ck_assert_uint_eq(r1.mv[0].addr, 0);
	ck_assert_uint_eq(r1.mv[1].bar, 2);
	ck_assert_uint_eq(r1.mv[1].old, a2);
	ck_assert_uint_eq(r1.mv[1].addr, 0);
	ck_assert_uint_eq(mmio_rd(a0, 4), 0xffffffff);
	ck_assert_uint_eq(mmio_rd(a2 + 0x100, 8), ~0ULL);
	mmio_wr(a0, 4, 0);
	ck_assert_uint_eq(r1.ios, 0);
	/* Only r1 stopped. */
	ck_assert_uint_eq(mmio_rd(bar_reg(2, 0), 4), pattern_val(0, 0, 4));
	ck_assert_uint_eq(r2.ios, 1);
	/* Moving a BAR while decoding is off is silent; turning it on reports the new place. */
	cfg_wr(1, PCI_CFG_BAR0, 4, 0xcc000000);
	ck_assert_uint_eq(r1.moves, 2);
	cfg_wr(1, PCI_CFG_COMMAND, 1, PCI_CMD_MEMORY);	/* byte write to the command register */
	ck_assert_uint_eq(r1.moves, 4);
	ck_assert_uint_eq(r1.mv[2].bar, 0);
	ck_assert_uint_eq(r1.mv[2].old, 0);
	ck_assert_uint_eq(r1.mv[2].addr, 0xcc000000);
	ck_assert_uint_eq(r1.mv[3].addr, a2);
	ck_assert_uint_eq(mmio_rd(0xcc000004, 4), pattern_val(0, 4, 4));
	/* Bits the function does not implement stay 0 (no I/O space here). */
	cfg_wr(1, PCI_CFG_COMMAND, 2, 0xffff);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_COMMAND, 2) & ~(uint32_t)(PCI_CMD_MEMORY |
			  PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE | 0x0140), 0);
	ck_assert(cfg_rd(1, PCI_CFG_COMMAND, 2) & PCI_CMD_MEMORY);
}
END_TEST

START_TEST(test_window_dispatch)
{
	uint64_t a[2][2] = { { bar_reg(1, 0), bar_reg(1, 2) }, { bar_reg(2, 0), bar_reg(2, 5) } };
	static const uint32_t widths[] = { 1, 2, 4, 8 };

	for (unsigned w = 0; w < 4; w++) {
		uint32_t len = widths[w];

		ck_assert_uint_eq(mmio_rd(a[0][0] + 8, len), pattern_val(0, 8, len));
		ck_assert_uint_eq(r1.io_len, len);
		ck_assert_uint_eq(mmio_rd(a[0][1] + 0x8000, len), pattern_val(2, 0x8000, len));
		ck_assert_uint_eq(r1.io_bar, 2);
		ck_assert_uint_eq(r1.io_off, 0x8000);
		ck_assert_uint_eq(mmio_rd(a[1][0] + R2_BAR0 - len, len),
				  pattern_val(0, R2_BAR0 - len, len));
		ck_assert_uint_eq(r2.io_bar, 0);
		ck_assert_uint_eq(mmio_rd(a[1][1] + 0x1ff0, len), pattern_val(5, 0x1ff0, len));
		ck_assert_uint_eq(r2.io_bar, 5);
		mmio_wr(a[1][1] + 0x10, len, 0x0102030405060708ULL);
		ck_assert(r2.io_write);
		ck_assert_uint_eq(r2.io_off, 0x10);
		ck_assert_uint_eq(r2.io_val, 0x0102030405060708ULL & ones(len));
	}
	ck_assert_uint_eq(r1.ios, 8);
	ck_assert_uint_eq(r2.ios, 12);
	rec_clear(&r1);
	rec_clear(&r2);
	/* Straddling the end of a BAR, holes between BARs, the end of the window. */
	ck_assert_uint_eq(mmio_rd(a[0][0] + R1_BAR0 - 2, 4), 0xffffffff);
	ck_assert_uint_eq(mmio_rd(a[1][0] + R2_BAR0 - 4, 8), ~0ULL);
	ck_assert_uint_eq(mmio_rd(a[0][0] + R1_BAR0, 4), 0xffffffff);
	ck_assert_uint_eq(mmio_rd(PCI_WINDOW_BASE + PCI_WINDOW_SIZE - 4, 4), 0xffffffff);
	mmio_wr(a[0][0] + R1_BAR0 - 2, 4, 0);
	mmio_wr(a[1][0] + R2_BAR0 - 1, 2, 0);
	mmio_wr(PCI_WINDOW_BASE + PCI_WINDOW_SIZE - 8, 8, 0);
	ck_assert_uint_eq(r1.ios + r2.ios, 0);
}
END_TEST

/* ---- capabilities ---- */

START_TEST(test_caps_layout)
{
	struct pci_function f;
	static const uint8_t lens[] = { 2, 5, 16, 60, 60, 44 };
	static const uint8_t want[] = { 0x40, 0x44, 0x4c, 0x5c, 0x98, 0xd4 };
	unsigned p, n = 0;

	pci_function_init(&f, 1, 2, 0, 0, 0, NULL, NULL);
	ck_assert_uint_eq(f.cfg[PCI_CFG_CAP_PTR], 0);
	ck_assert_uint_eq(pci_cfg_read16(&f, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST, 0);
	ck_assert_uint_eq(pci_function_add_cap(&f, 0x05, 1), 0);	/* too short */
	ck_assert_uint_eq(pci_function_add_cap(&f, 0x05, 0), 0);
	ck_assert_uint_eq(f.cfg[PCI_CFG_CAP_PTR], 0);
	ck_assert_uint_eq(pci_cfg_read16(&f, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST, 0);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_uint_eq(pci_function_add_cap(&f, (uint8_t)(0x10 + i), lens[i]), want[i]);
	/* 0xd4 + 60 would end past the 256 bytes: refused; a shorter one still fits. */
	ck_assert_uint_eq(pci_function_add_cap(&f, 0x20, 60), 0);
	ck_assert_uint_eq(pci_function_add_cap(&f, 0x15, lens[5]), want[5]);	/* ends at 0x100 */
	ck_assert_uint_eq(pci_function_add_cap(&f, 0x21, 2), 0);
	ck_assert_uint_eq(pci_cfg_read16(&f, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST,
			  PCI_STATUS_CAP_LIST);
	/* Walk it as a driver: id, next; dword-aligned pointers, ends in 0. */
	for (p = f.cfg[PCI_CFG_CAP_PTR]; p; p = f.cfg[p + 1], n++) {
		ck_assert_uint_lt(n, 6);
		ck_assert_uint_eq(p, want[n]);
		ck_assert_uint_eq(f.cfg[p], 0x10 + n);
		/* Ids and pointers are the device's. */
		ck_assert_uint_eq(f.wmask[p], 0);
		ck_assert_uint_eq(f.wmask[p + 1], 0);
	}
	ck_assert_uint_eq(n, 6);
}
END_TEST

START_TEST(test_caps_full)
{
	struct pci_function f;
	unsigned n = 0, last = 0, p;

	pci_function_init(&f, 1, 2, 0, 0, 0, NULL, NULL);
	/* 0x40, 0x80, 0xc0 fit; the next would start at 0x100. */
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(pci_function_add_cap(&f, 9, 64), 0x40 + 0x40 * i);
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 2), 0);
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 64), 0);
	/* A capability that does not fit changes nothing, a smaller one after it still may. */
	pci_function_init(&f, 1, 2, 0, 0, 0, NULL, NULL);
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 0xb0), 0x40);
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 0x20), 0);	/* 0xf0 + 0x20 > 0x100 */
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 0x10), 0xf0);
	ck_assert_uint_eq(pci_function_add_cap(&f, 9, 2), 0);
	for (p = f.cfg[PCI_CFG_CAP_PTR]; p; p = f.cfg[p + 1]) {
		last = p;
		n++;
		ck_assert_uint_lt(n, 3);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(last, 0xf0);
}
END_TEST

/* ---- capacity ---- */

START_TEST(test_bus_full)
{
	static struct rec many[PCI_MAX_SLOTS];
	unsigned added = 2;	/* r1, r2 */

	for (unsigned i = 0; i < PCI_MAX_SLOTS; i++) {
		rec_init(&many[i], (uint16_t)(0x100 + i));
		pci_function_add_bar(&many[i].f, 0, 0x1000);
		int r = pci_bus_add(&pcit_bus, &many[i].f);

		if (added < PCI_MAX_SLOTS - 1) {
			ck_assert_int_eq(r, (int)added + 1);
			added++;
		} else {
			ck_assert_int_eq(r, -ENOSPC);
		}
	}
	ck_assert_uint_eq(added, PCI_MAX_SLOTS - 1);
	ck_assert_uint_eq(cfg_rd(31, PCI_CFG_DEVICE_ID, 2), 0x100 + 28);
	ck_assert_uint_eq(cfg_rd(31, PCI_CFG_VENDOR_ID, 2), REC_VENDOR);
}
END_TEST

START_TEST(test_window_full)
{
	struct rec big, small, nobar;

	rec_init(&big, 0x200);
	pci_function_add_bar(&big.f, 0, 0x10000000);	/* 256 MiB: aligned after r1, r2 */
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &big.f), 3);
	ck_assert_uint_eq(bar_reg(3, 0), 0xd0000000);
	rec_init(&small, 0x201);
	pci_function_add_bar(&small.f, 0, 0x10000000);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &small.f), -ENOSPC);
	ck_assert_uint_eq(cfg_rd(4, PCI_CFG_VENDOR_ID, 4), 0xffffffff);	/* not plugged */
	ck_assert_uint_eq(small.f.bar_decoded[0], 0);
	/* A function without BARs still fits in the next slot. */
	rec_init(&nobar, 0x202);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &nobar.f), 4);
	/* Invalid BAR declarations are ignored. */
	pci_function_add_bar(&nobar.f, 6, 0x1000);
	pci_function_add_bar(&nobar.f, 0, 8);
	pci_function_add_bar(&nobar.f, 1, 0x3000);
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		ck_assert_uint_eq(nobar.f.bar_size[b], 0);
}
END_TEST

/* ---- read-only bytes ---- */


START_TEST(test_readonly_sweep_host_bridge)
{
	uint8_t w[PCI_CFG_SIZE];

	base_writable(w);
	sweep(0, w);
	ck_assert_uint_eq(cfg_rd(0, PCI_CFG_VENDOR_ID, 4), 0x00081b36);
}
END_TEST

START_TEST(test_readonly_sweep_function)
{
	uint8_t w[PCI_CFG_SIZE];

	base_writable(w);
	bar_writable(w, 0, R1_BAR0);
	bar_writable(w, 2, R1_BAR2);
	sweep(1, w);
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_VENDOR_ID, 2), REC_VENDOR);
}
END_TEST


/* ---- save and restore ---- */

/* A second bus built from the same configuration as the fixture's, as a restore target. */
static struct pci_bus b2;
static struct rec s1, s2;

static void twin_bus(void)
{
	pci_bus_init(&b2);
	rec_init(&s1, 0x0001);
	pci_function_add_bar(&s1.f, 0, R1_BAR0);
	pci_function_add_bar(&s1.f, 2, R1_BAR2);
	rec_init(&s2, 0x0002);
	pci_function_add_bar(&s2.f, 0, R2_BAR0);
	pci_function_add_bar(&s2.f, 5, R2_BAR5);
	ck_assert_int_eq(pci_bus_add(&b2, &s1.f), 1);
	ck_assert_int_eq(pci_bus_add(&b2, &s2.f), 2);
	rec_clear(&s1);
	rec_clear(&s2);
}

static void save_all(struct pci_bus *b, struct rec *a, struct rec *c, struct state_writer *w)
{
	state_writer_init(w);
	pci_bus_save(b, w);
	pci_function_save(&a->f, w);
	pci_function_save(&c->f, w);
	ck_assert_int_eq(w->err, 0);
}

static int restore_all(const struct state_writer *w, size_t len)
{
	struct state_reader r;

	state_reader_init(&r, w->data, len);
	if (pci_bus_restore(&b2, &r) || pci_function_restore(&s1.f, &r) ||
	    pci_function_restore(&s2.f, &r))
		return -EINVAL;
	return state_reader_finish(&r);
}

static void expect_same_config(struct pci_bus *a, struct pci_bus *b)
{
	for (unsigned slot = 0; slot < 4; slot++)
		for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4) {
			uint8_t x[4], y[4];

			pci_config_access(a, slot, 0, off, x, 4, false);
			pci_config_access(b, slot, 0, off, y, 4, false);
			ck_assert_mem_eq(x, y, 4);
		}
}

/*
 * Moved and disabled BARs, a command change on the host bridge, an interrupt
 * line and the latch: restored into a fresh bus, saved again to the same
 * bytes, decoding recomputed with bar_moved telling the functions.
 */
START_TEST(test_save_restore_round_trip)
{
	uint32_t latched = cfg_address(0, 1, 0, PCI_CFG_INT_LINE);
	struct state_writer w, w2;
	uint8_t b[4];
	uint64_t r1_bar2 = r1.f.bar_decoded[2];

	cfg_wr(1, PCI_CFG_BAR0, 4, 0xd0000000);
	cfg_wr(1, PCI_CFG_INT_LINE, 1, 0x0b);
	cfg_wr(2, PCI_CFG_COMMAND, 2, PCI_CMD_MASTER);
	cfg_wr(0, PCI_CFG_COMMAND, 2, PCI_CMD_MASTER | PCI_CMD_MEMORY);
	latch(latched);
	save_all(&pcit_bus, &r1, &r2, &w);
	twin_bus();
	ck_assert_int_eq(restore_all(&w, w.len), 0);
	save_all(&b2, &s1, &s2, &w2);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.data, w.data, w.len);
	/* BAR 0 of slot 1 moved, BAR 2 stayed; slot 2 stopped decoding. */
	ck_assert_uint_eq(s1.moves, 1);
	ck_assert_uint_eq(s1.mv[0].bar, 0);
	ck_assert_uint_eq(s1.mv[0].addr, 0xd0000000);
	ck_assert_uint_eq(s1.f.bar_decoded[2], r1_bar2);
	ck_assert_uint_eq(s2.moves, 2);
	ck_assert_uint_eq(s2.f.bar_decoded[0], 0);
	ck_assert_uint_eq(s2.f.bar_decoded[5], 0);
	/* The same accesses give the same answers: config space, the latch, the window. */
	expect_same_config(&pcit_bus, &b2);
	pci_config_io(&b2, 0, b, 4, false);
	ck_assert_uint_eq(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24, latched);
	pci_config_io(&b2, 4, b, 1, false);
	ck_assert_uint_eq(b[0], 0x0b);
	ck_assert_uint_eq(mmio_rd(0xd0000000 + 8, 4), pattern_val(0, 8, 4));
	pci_window_io(&b2, 0xd0000000 + 8 - PCI_WINDOW_BASE, b, 4, false);
	ck_assert_uint_eq(s1.ios, 1);
	ck_assert_uint_eq(s1.io_off, 8);
	state_writer_free(&w);
	state_writer_free(&w2);
	pci_bus_destroy(&b2);
}
END_TEST

/* Truncated records, read-only bits, another layout: refused, the function unchanged. */
START_TEST(test_save_restore_refused)
{
	struct state_writer w;
	struct state_reader r;
	uint8_t before[PCI_CFG_SIZE], *bad;

	save_all(&pcit_bus, &r1, &r2, &w);
	twin_bus();
	for (size_t n = 0; n < w.len; n++)
		ck_assert_int_eq(restore_all(&w, n), -EINVAL);
	state_writer_free(&w);

	state_writer_init(&w);
	pci_function_save(&r1.f, &w);
	bad = malloc(w.len);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, w.data, w.len);
	memcpy(before, s1.f.cfg, PCI_CFG_SIZE);
	/* The first byte is the command register's low byte: I/O space is not writable. */
	bad[2] |= PCI_CMD_IO;
	state_reader_init(&r, bad, w.len);
	ck_assert_int_eq(pci_function_restore(&s1.f, &r), -EINVAL);
	ck_assert_mem_eq(s1.f.cfg, before, PCI_CFG_SIZE);
	/* A record of a function with another number of writable bytes. */
	memcpy(bad, w.data, w.len);
	bad[0]++;
	state_reader_init(&r, bad, w.len);
	ck_assert_int_eq(pci_function_restore(&s1.f, &r), -EINVAL);
	/* r2's record does not fit s1 (other BARs, other writable bits). */
	state_writer_free(&w);
	state_writer_init(&w);
	pci_function_save(&r2.f, &w);
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_ne(pci_function_restore(&s1.f, &r) || state_reader_finish(&r), 0);
	ck_assert_mem_eq(s1.f.cfg, before, PCI_CFG_SIZE);
	ck_assert_uint_eq(s1.moves, 0);
	free(bad);
	state_writer_free(&w);
	pci_bus_destroy(&b2);
}
END_TEST

static Suite *pci_bus_suite(void)
{
	Suite *s = suite_create("pci_bus");
	TCase *tc = tcase_create("pci_bus");

	tcase_add_checked_fixture(tc, bus_setup, bus_teardown);
	tcase_add_test(tc, test_host_bridge);
	tcase_add_test(tc, test_function_ids);
	tcase_add_test(tc, test_latch);
	tcase_add_test(tc, test_data_port_widths);
	tcase_add_test(tc, test_stray_reads_all_ones);
	tcase_add_test(tc, test_stray_writes_change_nothing);
	tcase_add_test(tc, test_config_hooks);
	tcase_add_test(tc, test_bar_placement);
	tcase_add_test(tc, test_bar_placement_reports_decoding);
	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_move);
	tcase_add_test(tc, test_bar_window_edges);
	tcase_add_test(tc, test_memory_enable);
	tcase_add_test(tc, test_window_dispatch);
	tcase_add_test(tc, test_caps_layout);
	tcase_add_test(tc, test_caps_full);
	tcase_add_test(tc, test_bus_full);
	tcase_add_test(tc, test_window_full);
	tcase_add_test(tc, test_readonly_sweep_host_bridge);
	tcase_add_test(tc, test_readonly_sweep_function);
	tcase_add_test(tc, test_save_restore_round_trip);
	tcase_add_test(tc, test_save_restore_refused);
	tcase_add_test(tc, test_bar64_placement_and_sizing);
	tcase_add_test(tc, test_rom_bar);
	tcase_add_test(tc, test_bar64_window_moves);
	tcase_add_test(tc, test_window64_follows_ram);
	tcase_add_test(tc, test_ecam);
	tcase_add_test(tc, test_intx_status);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return testlib_run(pci_bus_suite());
}
