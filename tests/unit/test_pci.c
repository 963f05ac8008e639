/*
 * Unit tests for the PCI host bridge (devices/pci.c) and the virtio-pci
 * modern transport (virtio/pci.c), without /dev/kvm: configuration cycles
 * go through the 0xCF8/0xCFC port handler exactly as a vCPU's port I/O
 * exit would make them, BAR accesses through the MMIO window handler, and
 * the virtio device is a fake without a worker thread (as in
 * test_virtio_mmio.c).  With vm_fd -1 and no routing, MSI-X vectors end up
 * as pending bits, which the tests read through the PBA.
 */
#include <check.h>
#include <errno.h>
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/mem.h"
#include "kvmrun/pci.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtio_pci.h"

/* MSI-X capability and table layout (PCI Local Bus 3.0, 6.8.2). */
#define MSIX_FLAGS		2
#define MSIX_FLAGS_QSIZE	0x07ff
#define MSIX_FLAGS_MASKALL	0x4000
#define MSIX_FLAGS_ENABLE	0x8000
#define MSIX_TABLE		4
#define MSIX_PBA		8
#define MSIX_BIR		7u
#define MSIX_ENTRY_SIZE		16
#define MSIX_ENTRY_ADDR_LO	0
#define MSIX_ENTRY_ADDR_HI	4
#define MSIX_ENTRY_DATA		8
#define MSIX_ENTRY_CTRL		12
#define MSIX_ENTRY_MASKBIT	1u

#define BAR_MEM_FLAGS		0xfu	/* memory BAR: space, type, prefetchable */
#define PCI_CFG_ROM		0x30
#define PCI_CFG_SUBCLASS	0x0a
#define PCI_CFG_BASECLASS	0x0b

static uint64_t ones(uint32_t len)
{
	return len >= 8 ? ~0ULL : (1ULL << (8 * len)) - 1;
}

/* ---- configuration mechanism #1, as the guest drives it ---- */

static struct pci_bus bus;

static uint32_t cfg_address(unsigned busno, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | busno << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

static void port_wr(uint64_t port_off, uint32_t len, uint32_t v)
{
	uint8_t b[4];

	memcpy(b, &v, 4);
	pci_config_io(&bus, port_off, b, len, true);
}

static uint32_t port_rd(uint64_t port_off, uint32_t len)
{
	uint8_t b[4];
	uint32_t v = 0;

	memset(b, 0x5a, sizeof(b));
	pci_config_io(&bus, port_off, b, len, false);
	memcpy(&v, b, len);
	return v;
}

static void latch(uint32_t a)
{
	port_wr(0, 4, a);
}

static uint32_t cfg_rd(unsigned slot, unsigned off, uint32_t len)
{
	latch(cfg_address(0, slot, 0, off));
	return port_rd(4 + (off & 3), len);
}

static void cfg_wr(unsigned slot, unsigned off, uint32_t len, uint32_t v)
{
	latch(cfg_address(0, slot, 0, off));
	port_wr(4 + (off & 3), len, v);
}

/* The whole configuration space of a function, read dword by dword. */
static void image(unsigned slot, uint8_t *out)
{
	for (unsigned off = 0; off < PCI_CFG_SIZE; off += 4)
		pci_config_access(&bus, slot, 0, off, out + off, 4, false);
}

/* ---- the MMIO window ---- */

static uint64_t mmio_rd(uint64_t addr, uint32_t len)
{
	uint8_t b[8];
	uint64_t v = 0;

	memset(b, 0x5a, sizeof(b));
	pci_window_io(&bus, addr - PCI_WINDOW_BASE, b, len, false);
	memcpy(&v, b, len);
	return v;
}

static void mmio_wr(uint64_t addr, uint32_t len, uint64_t v)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	pci_window_io(&bus, addr - PCI_WINDOW_BASE, b, len, true);
}

/*
 * Asserts that a write of len bytes at off changed no bit outside the
 * bits the PCI and virtio specs let a driver write (writable[]), and no
 * byte outside [off, off + len) at all.
 */
static void check_only_writable_changed(const uint8_t *before, const uint8_t *after,
					const uint8_t *writable, unsigned off, unsigned len,
					uint32_t pat)
{
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t changed = before[i] ^ after[i];
		bool in = i >= off && i < off + len;

		/* Not ck_assert per byte: each passing check is a message to the parent. */
		if (changed & (in ? ~writable[i] : 0xff))
			ck_abort_msg("write of 0x%08x (%u bytes at 0x%02x) changed byte 0x%02x: "
				     "0x%02x -> 0x%02x", pat, len, off, i, before[i], after[i]);
	}
}

/*
 * Every write, every width, every offset (and past the end), four patterns;
 * each image after a write is the image before the next one.
 */
static void sweep(unsigned slot, const uint8_t *writable)
{
	static const uint32_t pats[] = { 0xffffffff, 0, 0xa5a5a5a5, 0x5a5a5a5a };
	static const uint32_t widths[] = { 1, 2, 4 };
	uint8_t img[2][PCI_CFG_SIZE];
	uint8_t other_before[PCI_CFG_SIZE], other_after[PCI_CFG_SIZE];
	unsigned other = slot ? 0 : 1, cur = 0;

	image(other, other_before);
	image(slot, img[cur]);
	for (unsigned p = 0; p < sizeof(pats) / sizeof(pats[0]); p++) {
		for (unsigned w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
			for (unsigned off = 0; off < PCI_CFG_SIZE; off++) {
				uint8_t b[4];

				memcpy(b, &pats[p], 4);
				pci_config_access(&bus, slot, 0, off, b, widths[w], true);
				image(slot, img[!cur]);
				check_only_writable_changed(img[cur], img[!cur], writable, off,
							    widths[w], pats[p]);
				cur = !cur;
				/* The same write as mechanism #1 makes it, where it can. */
				if ((off & 3) + widths[w] > 4)
					continue;
				cfg_wr(slot, off, widths[w], pats[p]);
				image(slot, img[!cur]);
				check_only_writable_changed(img[cur], img[!cur], writable, off,
							    widths[w], pats[p]);
				cur = !cur;
			}
		}
	}
	image(other, other_after);
	ck_assert_mem_eq(other_before, other_after, PCI_CFG_SIZE);
}

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
	pci_bus_init(&bus);
	rec_init(&r1, 0x0001);
	pci_function_add_bar(&r1.f, 0, R1_BAR0);
	pci_function_add_bar(&r1.f, 2, R1_BAR2);
	rec_init(&r2, 0x0002);
	pci_function_add_bar(&r2.f, 0, R2_BAR0);
	pci_function_add_bar(&r2.f, 5, R2_BAR5);
	ck_assert_int_eq(pci_bus_add(&bus, &r1.f), 1);
	ck_assert_int_eq(pci_bus_add(&bus, &r2.f), 2);
	rec_clear(&r1);
	rec_clear(&r2);
}

static void bus_teardown(void)
{
	pci_bus_destroy(&bus);
}

static uint32_t bar_reg(unsigned slot, unsigned bar)
{
	return cfg_rd(slot, PCI_CFG_BAR0 + 4 * bar, 4);
}

/* ---- identification ---- */

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
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_PIN, 1), 0);
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
	/* The low two latch bits do not offset the register. */
	latch(cfg_address(0, 1, 0, PCI_CFG_VENDOR_ID) | 3);
	ck_assert_uint_eq(port_rd(4, 4), id);
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
	ck_assert_uint_eq(cfg_rd(1, PCI_CFG_INT_PIN, 1), 0);
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
	/* Past the 256-byte space, slots past 31, functions past 0 (direct). */
	static const uint32_t offs[] = { 256, 257, 0x1000, 0xfffffffc, 0xffffffff };

	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(b, 0, sizeof(b));
		pci_config_access(&bus, 1, 0, offs[i], b, 4, false);
		ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	}
	memset(b, 0, sizeof(b));
	pci_config_access(&bus, PCI_MAX_SLOTS, 0, 0, b, 4, false);
	ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	memset(b, 0, sizeof(b));
	pci_config_access(&bus, 1, 8, 0, b, 4, false);
	ck_assert_uint_eq(b[0] & b[1] & b[2] & b[3], 0xff);
	/* Straddling the end: the bytes inside are real, the rest all-ones. */
	memset(b, 0, sizeof(b));
	cfg_wr(1, 0xfc, 4, 0);	/* nothing there: stays 0 */
	pci_config_access(&bus, 1, 0, 254, b, 4, false);
	ck_assert_uint_eq(b[0], 0);
	ck_assert_uint_eq(b[1], 0);
	ck_assert_uint_eq(b[2], 0xff);
	ck_assert_uint_eq(b[3], 0xff);
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
		pci_config_access(&bus, 1, 0, 256, b, 4, true);
		pci_config_access(&bus, 1, 0, 0xfffffffc, b, 4, true);
		pci_config_access(&bus, 1, 0, 0xffffffff, b, 4, true);
		pci_config_access(&bus, PCI_MAX_SLOTS, 0, PCI_CFG_INT_LINE, b, 4, true);
		pci_config_access(&bus, 1, 1, PCI_CFG_INT_LINE, b, 4, true);
		pci_config_access(&bus, 1, 8, PCI_CFG_INT_LINE, b, 4, true);
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
	pci_config_access(&bus, 1, 0, 254, b, 4, true);
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
		int r = pci_bus_add(&bus, &many[i].f);

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
	ck_assert_int_eq(pci_bus_add(&bus, &big.f), 3);
	ck_assert_uint_eq(bar_reg(3, 0), 0xd0000000);
	rec_init(&small, 0x201);
	pci_function_add_bar(&small.f, 0, 0x10000000);
	ck_assert_int_eq(pci_bus_add(&bus, &small.f), -ENOSPC);
	ck_assert_uint_eq(cfg_rd(4, PCI_CFG_VENDOR_ID, 4), 0xffffffff);	/* not plugged */
	ck_assert_uint_eq(small.f.bar_decoded[0], 0);
	/* A function without BARs still fits in the next slot. */
	rec_init(&nobar, 0x202);
	ck_assert_int_eq(pci_bus_add(&bus, &nobar.f), 4);
	/* Invalid BAR declarations are ignored. */
	pci_function_add_bar(&nobar.f, 6, 0x1000);
	pci_function_add_bar(&nobar.f, 0, 8);
	pci_function_add_bar(&nobar.f, 1, 0x3000);
	for (unsigned b = 0; b < PCI_NR_BARS; b++)
		ck_assert_uint_eq(nobar.f.bar_size[b], 0);
}
END_TEST

/* ---- read-only bytes ---- */

static void base_writable(uint8_t *w)
{
	memset(w, 0, PCI_CFG_SIZE);
	w[PCI_CFG_COMMAND] = 0x47;	/* I/O, memory, master, parity response */
	w[PCI_CFG_COMMAND + 1] = 0x05;	/* SERR, INTx disable */
	w[PCI_CFG_INT_LINE] = 0xff;
}

static void bar_writable(uint8_t *w, unsigned bar, uint32_t size)
{
	uint32_t m = ~(size - 1) & ~BAR_MEM_FLAGS;

	for (unsigned i = 0; i < 4; i++)
		w[PCI_CFG_BAR0 + 4 * bar + i] = (uint8_t)(m >> (8 * i));
}

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

/* ================= virtio-pci ================= */

#define RAM_SIZE	(16ULL << 20)
#define FAKE_ID		42
#define FAKE_QUEUES	2
#define FAKE_VECTORS	(FAKE_QUEUES + 1)
#define DESC_GPA	0x10000ULL
#define AVAIL_GPA	0x20000ULL
#define USED_GPA	0x30000ULL
#define FAKE_FEATURES	((1ULL << 0) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
			 (1ULL << VIRTIO_RING_F_EVENT_IDX))
#define VERSION_1_HI	(1u << (VIRTIO_F_VERSION_1 - 32))

#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER	VIRTIO_CONFIG_S_DRIVER
#define S_FEAT_OK	VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK	VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RESET	VIRTIO_CONFIG_S_NEEDS_RESET

#define CAP_BAR		offsetof(struct virtio_pci_cap, bar)
#define CAP_OFFSET	offsetof(struct virtio_pci_cap, offset)
#define CAP_LENGTH	offsetof(struct virtio_pci_cap, length)
#define CAP_DATA	sizeof(struct virtio_pci_cap)	/* pci_cfg_data, notify multiplier */

struct fake {
	unsigned cfg_reads, cfg_writes;
	uint32_t cfg_off, cfg_len;
	uint8_t cfg_written[8];
	uint8_t cfg[16];
	unsigned resets;
};

static void fake_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = d->priv;

	f->cfg_reads++;
	f->cfg_off = off;
	f->cfg_len = len;
	virtio_config_copy(f->cfg, sizeof(f->cfg), off, data, len);
}

static void fake_config_write(struct virtio_device *d, uint32_t off, const uint8_t *data,
			      uint32_t len)
{
	struct fake *f = d->priv;

	f->cfg_writes++;
	f->cfg_off = off;
	f->cfg_len = len;
	memcpy(f->cfg_written, data, len < sizeof(f->cfg_written) ? len : sizeof(f->cfg_written));
}

static void fake_reset(struct virtio_device *d)
{
	struct fake *f = d->priv;

	f->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.reset = fake_reset,
};

static struct guest_mem mem;
static struct fake fake;
static struct virtio_device dev;
static struct virtio_pci vp;
static unsigned vslot;
static uint64_t bar_base;

/* What a driver learns from the capability list (filled by discover()). */
static struct {
	uint8_t cap[VIRTIO_PCI_CAP_PCI_CFG + 1];	/* by cfg_type */
	uint32_t off[VIRTIO_PCI_CAP_PCI_CFG + 1], len[VIRTIO_PCI_CAP_PCI_CFG + 1];
	uint32_t notify_mult;
	uint8_t msix;
	uint32_t table, pba;
	unsigned table_size;
} L;

static void discover(void)
{
	unsigned p = cfg_rd(vslot, PCI_CFG_CAP_PTR, 1) & ~3u, steps = 0;

	memset(&L, 0, sizeof(L));
	while (p) {
		uint8_t id = (uint8_t)cfg_rd(vslot, p, 1);

		ck_assert_uint_lt(++steps, 48);
		if (id == PCI_CAP_ID_VNDR) {
			uint8_t type = (uint8_t)cfg_rd(vslot, p + 3, 1);

			if (type <= VIRTIO_PCI_CAP_PCI_CFG && !L.cap[type]) {
				L.cap[type] = (uint8_t)p;
				L.off[type] = cfg_rd(vslot, p + CAP_OFFSET, 4);
				L.len[type] = cfg_rd(vslot, p + CAP_LENGTH, 4);
			}
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
				L.notify_mult = cfg_rd(vslot, p + CAP_DATA, 4);
		} else if (id == PCI_CAP_ID_MSIX) {
			L.msix = (uint8_t)p;
			L.table_size = (cfg_rd(vslot, p + MSIX_FLAGS, 2) & MSIX_FLAGS_QSIZE) + 1;
			L.table = cfg_rd(vslot, p + MSIX_TABLE, 4);
			L.pba = cfg_rd(vslot, p + MSIX_PBA, 4);
		}
		p = cfg_rd(vslot, p + 1, 1) & ~3u;
	}
}

static void vpci_setup(void)
{
	memset(&fake, 0, sizeof(fake));
	for (unsigned i = 0; i < sizeof(fake.cfg); i++)
		fake.cfg[i] = (uint8_t)(0xc0 + i);
	ck_assert_int_eq(guest_mem_init(&mem, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	ck_assert_int_eq(virtio_device_init(&dev, "fake", FAKE_ID, FAKE_QUEUES, FAKE_FEATURES,
					    &fake_ops, &fake, &mem), 0);
	ck_assert_int_eq(virtio_pci_init(&vp, &dev, -1, NULL), 0);
	pci_bus_init(&bus);
	ck_assert_int_eq(pci_bus_add(&bus, &vp.pci), 1);
	vslot = 1;
	bar_base = cfg_rd(vslot, PCI_CFG_BAR0, 4) & ~BAR_MEM_FLAGS;
	discover();
}

static void vpci_teardown(void)
{
	pci_bus_destroy(&bus);
	virtio_pci_destroy(&vp);
	virtio_device_destroy(&dev);
	guest_mem_destroy(&mem);
}

static uint64_t bar_rd(uint32_t off, uint32_t len)
{
	return mmio_rd(bar_base + off, len);
}

static void bar_wr(uint32_t off, uint32_t len, uint64_t v)
{
	mmio_wr(bar_base + off, len, v);
}

static uint64_t cc_rd(unsigned field, uint32_t len)
{
	return bar_rd(L.off[VIRTIO_PCI_CAP_COMMON_CFG] + field, len);
}

static void cc_wr(unsigned field, uint32_t len, uint64_t v)
{
	bar_wr(L.off[VIRTIO_PCI_CAP_COMMON_CFG] + field, len, v);
}

static uint8_t status(void)
{
	return (uint8_t)cc_rd(VIRTIO_PCI_COMMON_STATUS, 1);
}

static void write_features(uint32_t lo, uint32_t hi)
{
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	cc_wr(VIRTIO_PCI_COMMON_GF, 4, lo);
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	cc_wr(VIRTIO_PCI_COMMON_GF, 4, hi);
}

static uint8_t negotiate(uint32_t lo, uint32_t hi)
{
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER);
	write_features(lo, hi);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER | S_FEAT_OK);
	return status();
}

/* 64-bit fields as two 32-bit halves, low first (as Linux's vp_iowrite64_twopart). */
static void cc_wr64(unsigned field, uint64_t v)
{
	cc_wr(field, 4, (uint32_t)v);
	cc_wr(field + 4, 4, (uint32_t)(v >> 32));
}

static void setup_queue(uint16_t q, uint16_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	cc_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, num);
	cc_wr64(VIRTIO_PCI_COMMON_Q_DESCLO, desc);
	cc_wr64(VIRTIO_PCI_COMMON_Q_AVAILLO, avail);
	cc_wr64(VIRTIO_PCI_COMMON_Q_USEDLO, used);
	cc_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static uint64_t kicks(unsigned q)
{
	uint64_t v = 0;
	ssize_t n = read(dev.notify_fd[q], &v, sizeof(v));

	if (n < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	ck_assert_int_eq(n, 8);
	return v;
}

/* The device side raising an interrupt, as its worker would (device lock held). */
static void raise_irq(unsigned q, bool config)
{
	pthread_mutex_lock(&dev.lock);
	dev.transport->interrupt(&dev, q, config);
	pthread_mutex_unlock(&dev.lock);
}

static uint8_t isr_read(void)
{
	return (uint8_t)bar_rd(L.off[VIRTIO_PCI_CAP_ISR_CFG], 1);
}

static void msix_ctrl(uint16_t v)
{
	cfg_wr(vslot, L.msix + MSIX_FLAGS, 2, v);
}

static uint32_t tbl_rd(unsigned v, unsigned field)
{
	return (uint32_t)bar_rd(L.table + MSIX_ENTRY_SIZE * v + field, 4);
}

static void tbl_wr(unsigned v, unsigned field, uint32_t val)
{
	bar_wr(L.table + MSIX_ENTRY_SIZE * v + field, 4, val);
}

static uint64_t pba(void)
{
	return bar_rd(L.pba, 8);
}

/* ---- identification ---- */

START_TEST(test_vpci_ids)
{
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_DEVICE_ID, 2), 0x1040 + FAKE_ID);
	ck_assert_uint_ge(cfg_rd(vslot, PCI_CFG_REVISION, 1), 1);	/* non-transitional */
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_BASECLASS, 1), 0xff);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_SUBSYS_VENDOR, 2), 0x1af4);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_SUBSYS_ID, 2), 0x1040 + FAKE_ID);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_INT_PIN, 1), 0);	/* MSI-X only */
	ck_assert(cfg_rd(vslot, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* BAR 0: 32-bit memory, not prefetchable, 32 KiB, in the window; no other BAR. */
	uint32_t b0 = cfg_rd(vslot, PCI_CFG_BAR0, 4);

	ck_assert_uint_eq(b0 & BAR_MEM_FLAGS, 0);
	ck_assert_uint_eq(b0 & (VPCI_BAR_SIZE - 1), 0);
	ck_assert_uint_eq(vp.pci.bar_decoded[0], b0);
	ck_assert_uint_ge(b0, PCI_WINDOW_BASE);
	cfg_wr(vslot, PCI_CFG_COMMAND, 2, 0);
	cfg_wr(vslot, PCI_CFG_BAR0, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_BAR0, 4), ~(uint32_t)(VPCI_BAR_SIZE - 1));
	cfg_wr(vslot, PCI_CFG_BAR0, 4, b0);
	for (unsigned b = 1; b < PCI_NR_BARS; b++) {
		cfg_wr(vslot, PCI_CFG_BAR0 + 4 * b, 4, 0xffffffff);
		ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_BAR0 + 4 * b, 4), 0);
	}
	cfg_wr(vslot, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_NUMQ, 2), FAKE_QUEUES);
}
END_TEST

START_TEST(test_vpci_class_per_device)
{
	static const struct { uint32_t id, cls; } want[] = {
		{ 1, 0x020000 }, { 2, 0x018000 }, { 3, 0x078000 }, { 4, 0xff0000 },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct virtio_device d;
		struct virtio_pci p;

		ck_assert_int_eq(virtio_device_init(&d, "d", want[i].id, 1, 0, &fake_ops, &fake,
						    &mem), 0);
		ck_assert_int_eq(virtio_pci_init(&p, &d, -1, NULL), 0);
		ck_assert_uint_eq(pci_cfg_read16(&p.pci, PCI_CFG_VENDOR_ID), 0x1af4);
		ck_assert_uint_eq(pci_cfg_read16(&p.pci, PCI_CFG_DEVICE_ID), 0x1040 + want[i].id);
		ck_assert_uint_eq(pci_cfg_read32(&p.pci, PCI_CFG_REVISION) >> 8, want[i].cls);
		ck_assert_uint_eq(pci_cfg_read16(&p.pci, PCI_CFG_SUBSYS_ID), 0x1040 + want[i].id);
		ck_assert_uint_eq(p.nr_vectors, 2);
		virtio_pci_destroy(&p);
		virtio_device_destroy(&d);
	}
}
END_TEST

/* ---- the capability chain, walked as a driver would ---- */

static bool disjoint(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen <= b || b + blen <= a;
}

START_TEST(test_vpci_cap_chain)
{
	unsigned p = cfg_rd(vslot, PCI_CFG_CAP_PTR, 1), steps = 0;
	unsigned count[VIRTIO_PCI_CAP_PCI_CFG + 1] = { 0 }, msix = 0;

	/* BAR 0's size, learnt by sizing it. */
	uint32_t b0 = cfg_rd(vslot, PCI_CFG_BAR0, 4);

	cfg_wr(vslot, PCI_CFG_BAR0, 4, 0xffffffff);
	uint64_t bar_size = (uint64_t)(~(cfg_rd(vslot, PCI_CFG_BAR0, 4) & ~BAR_MEM_FLAGS)) + 1;

	cfg_wr(vslot, PCI_CFG_BAR0, 4, b0);
	ck_assert_uint_eq(bar_size, VPCI_BAR_SIZE);

	ck_assert_uint_ge(p, PCI_CFG_CAPS);
	while (p) {
		ck_assert_uint_eq(p & 3, 0);
		ck_assert_uint_ge(p, PCI_CFG_CAPS);
		ck_assert_uint_lt(++steps, 16);
		uint8_t id = (uint8_t)cfg_rd(vslot, p, 1);

		if (id == PCI_CAP_ID_VNDR) {
			uint8_t cap_len = (uint8_t)cfg_rd(vslot, p + 2, 1);
			uint8_t type = (uint8_t)cfg_rd(vslot, p + 3, 1);
			uint8_t bar = (uint8_t)cfg_rd(vslot, p + CAP_BAR, 1);
			uint32_t off = cfg_rd(vslot, p + CAP_OFFSET, 4);
			uint32_t len = cfg_rd(vslot, p + CAP_LENGTH, 4);

			ck_assert_uint_ge(type, VIRTIO_PCI_CAP_COMMON_CFG);
			ck_assert_uint_le(type, VIRTIO_PCI_CAP_PCI_CFG);
			count[type]++;
			ck_assert_uint_ge(cap_len, sizeof(struct virtio_pci_cap));
			ck_assert_uint_le(p + cap_len, PCI_CFG_SIZE);
			ck_assert_uint_eq(bar, 0);
			switch (type) {
			case VIRTIO_PCI_CAP_COMMON_CFG:
				ck_assert_uint_eq(cap_len, 16);
				ck_assert_uint_ge(len, 0x38);
				ck_assert_uint_eq(off & 3, 0);
				break;
			case VIRTIO_PCI_CAP_NOTIFY_CFG:
				ck_assert_uint_eq(cap_len, sizeof(struct virtio_pci_notify_cap));
				ck_assert_uint_eq(cfg_rd(vslot, p + CAP_DATA, 4), 4);
				ck_assert_uint_eq(off & 1, 0);
				/* Every queue's notify address lies inside, with room for 16 bits. */
				for (unsigned q = 0; q < FAKE_QUEUES; q++) {
					cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
					ck_assert_uint_le(cc_rd(VIRTIO_PCI_COMMON_Q_NOFF, 2) * 4 + 2,
							  len);
				}
				break;
			case VIRTIO_PCI_CAP_ISR_CFG:
				ck_assert_uint_ge(len, 1);
				break;
			case VIRTIO_PCI_CAP_DEVICE_CFG:
				ck_assert_uint_ge(len, sizeof(fake.cfg));
				ck_assert_uint_eq(off & 3, 0);
				break;
			case VIRTIO_PCI_CAP_PCI_CFG:
				ck_assert_uint_eq(cap_len, sizeof(struct virtio_pci_cfg_cap));
				ck_assert_uint_eq(p, vp.cfg_cap);
				break;
			}
			if (type != VIRTIO_PCI_CAP_PCI_CFG) {
				ck_assert_uint_gt(len, 0);
				ck_assert_uint_le((uint64_t)off + len, bar_size);
			}
		} else {
			ck_assert_uint_eq(id, PCI_CAP_ID_MSIX);
			msix++;
			uint16_t ctrl = (uint16_t)cfg_rd(vslot, p + MSIX_FLAGS, 2);
			uint32_t t = cfg_rd(vslot, p + MSIX_TABLE, 4);
			uint32_t b = cfg_rd(vslot, p + MSIX_PBA, 4);

			ck_assert_uint_eq(ctrl, FAKE_VECTORS - 1);	/* disabled, unmasked, N-1 */
			ck_assert_uint_eq(t & MSIX_BIR, 0);
			ck_assert_uint_eq(b & MSIX_BIR, 0);
			ck_assert_uint_eq(t, VPCI_MSIX_TABLE_OFF);
			ck_assert_uint_eq(b, VPCI_MSIX_PBA_OFF);
			ck_assert_uint_le(t + MSIX_ENTRY_SIZE * FAKE_VECTORS, bar_size);
			ck_assert_uint_le(b + 8, bar_size);
			ck_assert(disjoint(t, MSIX_ENTRY_SIZE * FAKE_VECTORS, b, 8));
			ck_assert_uint_eq(p, vp.msix_cap);
		}
		p = cfg_rd(vslot, p + 1, 1);
	}
	for (unsigned t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_PCI_CFG; t++)
		ck_assert_msg(count[t] == 1, "%u capabilities of type %u", count[t], t);
	ck_assert_uint_eq(msix, 1);
	/* The regions do not overlap each other or the MSI-X structures. */
	for (unsigned a = 1; a <= VIRTIO_PCI_CAP_DEVICE_CFG; a++) {
		for (unsigned b = a + 1; b <= VIRTIO_PCI_CAP_DEVICE_CFG; b++)
			ck_assert(disjoint(L.off[a], L.len[a], L.off[b], L.len[b]));
		ck_assert(disjoint(L.off[a], L.len[a], L.table, MSIX_ENTRY_SIZE * L.table_size));
		ck_assert(disjoint(L.off[a], L.len[a], L.pba, 8));
	}
	ck_assert_uint_eq(L.notify_mult, VPCI_NOTIFY_MULT);
	ck_assert_uint_eq(L.off[VIRTIO_PCI_CAP_COMMON_CFG], VPCI_COMMON_OFF);
	ck_assert_uint_eq(L.off[VIRTIO_PCI_CAP_NOTIFY_CFG], VPCI_NOTIFY_OFF);
	ck_assert_uint_eq(L.off[VIRTIO_PCI_CAP_ISR_CFG], VPCI_ISR_OFF);
	ck_assert_uint_eq(L.off[VIRTIO_PCI_CAP_DEVICE_CFG], VPCI_DEVCFG_OFF);
	ck_assert_uint_eq(L.len[VIRTIO_PCI_CAP_NOTIFY_CFG], VPCI_NOTIFY_MULT * FAKE_QUEUES);
	ck_assert_uint_eq(L.table_size, FAKE_VECTORS);
}
END_TEST

/* Every configuration write leaves ids, BAR flags, capabilities alone. */
START_TEST(test_vpci_readonly_sweep)
{
	uint8_t w[PCI_CFG_SIZE];
	uint8_t c = L.cap[VIRTIO_PCI_CAP_PCI_CFG];

	base_writable(w);
	bar_writable(w, 0, VPCI_BAR_SIZE);
	/* The pci-cfg window's bar, offset, length and data are the driver's (4.1.4.9). */
	w[c + CAP_BAR] = 0xff;
	memset(w + c + CAP_OFFSET, 0xff, 4);
	memset(w + c + CAP_LENGTH, 0xff, 4);
	memset(w + c + CAP_DATA, 0xff, 4);
	/* MSI-X: enable and function mask only. */
	w[L.msix + MSIX_FLAGS + 1] = (MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL) >> 8;
	sweep(vslot, w);
	/* Still a virtio device, still reachable. */
	ck_assert_uint_eq(cfg_rd(vslot, PCI_CFG_DEVICE_ID, 2), 0x1040 + FAKE_ID);
	discover();
	ck_assert_uint_eq(L.table_size, FAKE_VECTORS);
	ck_assert_uint_eq(L.notify_mult, VPCI_NOTIFY_MULT);
	ck_assert_uint_eq(L.off[VIRTIO_PCI_CAP_DEVICE_CFG], VPCI_DEVCFG_OFF);
}
END_TEST

/* ---- common configuration ---- */

START_TEST(test_vpci_device_features)
{
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DF, 4), (uint32_t)FAKE_FEATURES);
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DFSELECT, 4), 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DF, 4), VERSION_1_HI);
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 2);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DF, 4), 0);
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 0xffffffff);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DF, 4), 0);
	/* device_feature is read-only. */
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	cc_wr(VIRTIO_PCI_COMMON_DF, 4, 0xffffffff);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_DF, 4), (uint32_t)FAKE_FEATURES);
	ck_assert_uint_eq(dev.host_features, FAKE_FEATURES | 1ULL << VIRTIO_F_VERSION_1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_NUMQ, 2), FAKE_QUEUES);
	cc_wr(VIRTIO_PCI_COMMON_NUMQ, 2, 7);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_NUMQ, 2), FAKE_QUEUES);
	dev.config_generation = 0x105;
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 0x05);
	cc_wr(VIRTIO_PCI_COMMON_CFGGENERATION, 1, 0);
	ck_assert_uint_eq(dev.config_generation, 0x105);
}
END_TEST

START_TEST(test_vpci_driver_features)
{
	uint32_t lo = (1u << 0) | (1u << VIRTIO_RING_F_EVENT_IDX);

	write_features(lo, VERSION_1_HI);
	ck_assert_uint_eq(dev.guest_features, lo | 1ULL << VIRTIO_F_VERSION_1);
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_GF, 4), lo);
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_GF, 4), VERSION_1_HI);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_GFSELECT, 4), 1);
	/* Selectors past the 64 bits write nothing. */
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 2);
	cc_wr(VIRTIO_PCI_COMMON_GF, 4, 0xffffffff);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_GF, 4), 0);
	cc_wr(VIRTIO_PCI_COMMON_GFSELECT, 4, 0x80000000);
	cc_wr(VIRTIO_PCI_COMMON_GF, 4, 0xffffffff);
	ck_assert_uint_eq(dev.guest_features, lo | 1ULL << VIRTIO_F_VERSION_1);

	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER | S_FEAT_OK);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK);
	/* Frozen after FEATURES_OK. */
	write_features(0xffffffff, 0xffffffff);
	ck_assert_uint_eq(dev.guest_features, lo | 1ULL << VIRTIO_F_VERSION_1);
	write_features(0, 0);
	ck_assert_uint_eq(dev.guest_features, lo | 1ULL << VIRTIO_F_VERSION_1);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK);
}
END_TEST

START_TEST(test_vpci_features_refused)
{
	ck_assert_uint_eq(negotiate(1u << 1, VERSION_1_HI) & S_FEAT_OK, 0);	/* not offered */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(negotiate(1u << 0, 0) & S_FEAT_OK, 0);		/* no VERSION_1 */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(negotiate(1u << 0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
}
END_TEST

START_TEST(test_vpci_queue_select_nonexistent)
{
	static const uint16_t sels[] = { FAKE_QUEUES, VIRTIO_MAX_QUEUES - 1, VIRTIO_MAX_QUEUES,
					 0x8000, 0xffff };
	struct virtq before[VIRTIO_MAX_QUEUES];
	uint16_t qv[VIRTIO_MAX_QUEUES];

	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	memcpy(before, dev.vq, sizeof(before));
	memcpy(qv, vp.queue_vector, sizeof(qv));
	for (unsigned k = 0; k < sizeof(sels) / sizeof(sels[0]); k++) {
		cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, sels[k]);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SELECT, 2), sels[k]);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
		/* Writing to it changes nothing anywhere. */
		setup_queue(sels[k], 64, DESC_GPA, AVAIL_GPA, USED_GPA);
		cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
		ck_assert_uint_eq(status() & S_NEEDS_RESET, 0);
	}
	ck_assert_mem_eq(dev.vq, before, sizeof(before));
	ck_assert_mem_eq(vp.queue_vector, qv, sizeof(qv));
	/* Existing queues still answer. */
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTQ_MAX_SIZE);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
}
END_TEST

START_TEST(test_vpci_reset)
{
	ck_assert_uint_eq(negotiate(0, VERSION_1_HI) & S_FEAT_OK, S_FEAT_OK);
	cc_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	for (uint16_t q = 0; q < FAKE_QUEUES; q++) {
		cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTQ_MAX_SIZE);
		cc_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, 64);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
		cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, q + 1);
	}
	setup_queue(0, 64, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	raise_irq(0, false);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(status(), 0);
	ck_assert_uint_eq(fake.resets, 1);
	ck_assert_uint_eq(dev.guest_features, 0);
	ck_assert_uint_eq(isr_read(), 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	for (uint16_t q = 0; q < FAKE_QUEUES; q++) {
		cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTQ_MAX_SIZE);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_AVAILLO, 8), 0);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_USEDLO, 8), 0);
		ck_assert(!dev.vq[q].ready);
	}
	/* Negotiation starts over. */
	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
}
END_TEST

START_TEST(test_vpci_msix_vector_range)
{
	static const struct { uint16_t w, r; } cases[] = {
		{ 0, 0 }, { FAKE_VECTORS - 1, FAKE_VECTORS - 1 }, { FAKE_VECTORS, 0xffff },
		{ VPCI_MAX_VECTORS, 0xffff }, { 0x7fff, 0xffff }, { 0xfffe, 0xffff },
		{ 0xffff, 0xffff }, { 1, 1 },
	};

	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cc_wr(VIRTIO_PCI_COMMON_MSIX, 2, cases[i].w);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_MSIX, 2), cases[i].r);
		for (uint16_t q = 0; q < FAKE_QUEUES; q++) {
			cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
			cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, cases[i].w);
			ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), cases[i].r);
		}
	}
	/* Each queue keeps its own. */
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), 2);
}
END_TEST

START_TEST(test_vpci_queue_address_halves)
{
	struct virtq *vq = &dev.vq[1];

	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	cc_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x12345670);
	ck_assert_uint_eq(vq->desc_gpa, 0x12345670);
	cc_wr(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0x9);
	ck_assert_uint_eq(vq->desc_gpa, 0x912345670ULL);
	cc_wr(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0xabcdef00);	/* keeps the high half */
	ck_assert_uint_eq(vq->desc_gpa, 0x9abcdef00ULL);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0xabcdef00);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0x9);
	cc_wr64(VIRTIO_PCI_COMMON_Q_AVAILLO, 0xfedcba9876543210ULL);
	ck_assert_uint_eq(vq->avail_gpa, 0xfedcba9876543210ULL);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_AVAILLO, 4), 0x76543210);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_AVAILHI, 4), 0xfedcba98);
	cc_wr(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0x1);	/* high half first */
	cc_wr(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x2000);
	ck_assert_uint_eq(vq->used_gpa, 0x100002000ULL);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_USEDLO, 8), 0x100002000ULL);
	/* One 64-bit access works as well. */
	cc_wr(VIRTIO_PCI_COMMON_Q_USEDLO, 8, USED_GPA);
	ck_assert_uint_eq(vq->used_gpa, USED_GPA);
	/* Queue 0 was not touched. */
	ck_assert_uint_eq(dev.vq[0].desc_gpa, 0);
	ck_assert_uint_eq(dev.vq[0].avail_gpa, 0);
	ck_assert_uint_eq(dev.vq[0].used_gpa, 0);
}
END_TEST

START_TEST(test_vpci_queue_enable_bad)
{
	static const struct { uint16_t num; uint64_t desc, avail, used; } bad[] = {
		{ 64, RAM_SIZE, AVAIL_GPA, USED_GPA },			/* past RAM */
		{ 64, RAM_SIZE - 16 * 32, AVAIL_GPA, USED_GPA },	/* straddles the end */
		{ 64, DESC_GPA, AVAIL_GPA, 0xfffffffffffffff0ULL },	/* wraps */
		{ 64, 0x100000000ULL + DESC_GPA, AVAIL_GPA, USED_GPA },	/* high half */
		{ 64, MEM_HOLE_START, AVAIL_GPA, USED_GPA },		/* MMIO hole */
		{ 64, DESC_GPA + 8, AVAIL_GPA, USED_GPA },		/* misaligned */
		{ 64, DESC_GPA, AVAIL_GPA + 1, USED_GPA },
		{ 64, DESC_GPA, AVAIL_GPA, USED_GPA + 2 },
		{ 0, DESC_GPA, AVAIL_GPA, USED_GPA },			/* sizes */
		{ 3, DESC_GPA, AVAIL_GPA, USED_GPA },
		{ 512, DESC_GPA, AVAIL_GPA, USED_GPA },
		{ 0xffff, DESC_GPA, AVAIL_GPA, USED_GPA },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
		ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
		setup_queue(0, bad[i].num, bad[i].desc, bad[i].avail, bad[i].used);
		ck_assert_msg(status() & S_NEEDS_RESET, "case %u accepted", i);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		ck_assert(!dev.vq[0].ready);
		/* The driver is not told by interrupt before DRIVER_OK. */
		ck_assert_uint_eq(isr_read(), 0);
	}
	/* After DRIVER_OK it is: a configuration change interrupt. */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
	setup_queue(1, 64, RAM_SIZE, AVAIL_GPA, USED_GPA);
	ck_assert(status() & S_NEEDS_RESET);
	ck_assert_uint_eq(isr_read(), VIRTIO_PCI_ISR_CONFIG);
	/* A reset makes the device usable again. */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	ck_assert_uint_eq(status(), 0);
	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	setup_queue(1, 64, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(status() & S_NEEDS_RESET, 0);
	ck_assert(dev.vq[1].ready);
}
END_TEST

START_TEST(test_vpci_queue_enable_good)
{
	struct virtq *vq = &dev.vq[1];
	struct vring_desc *desc;
	struct vring_avail *avail;
	static struct virtq_chain chain;

	ck_assert_uint_eq(negotiate(1u << VIRTIO_RING_F_EVENT_IDX, VERSION_1_HI),
			  S_ACK | S_DRIVER | S_FEAT_OK);
	/* Writing 0 to queue_enable does not enable a configured queue. */
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	cc_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, 64);
	cc_wr64(VIRTIO_PCI_COMMON_Q_DESCLO, DESC_GPA);
	cc_wr64(VIRTIO_PCI_COMMON_Q_AVAILLO, AVAIL_GPA);
	cc_wr64(VIRTIO_PCI_COMMON_Q_USEDLO, USED_GPA);
	cc_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	ck_assert(!vq->ready);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	setup_queue(1, 64, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(status() & S_NEEDS_RESET, 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	ck_assert(vq->ready);
	ck_assert(vq->event_idx);
	ck_assert_ptr_eq(vq->desc, guest_mem_ptr(&mem, DESC_GPA, 16 * 64));
	ck_assert_ptr_eq(vq->avail, guest_mem_ptr(&mem, AVAIL_GPA, 6 + 2 * 64));
	ck_assert_ptr_eq(vq->used, guest_mem_ptr(&mem, USED_GPA, 6 + 8 * 64));
	ck_assert(!dev.vq[0].ready);
	/* Ring layout is frozen while the queue is enabled; 0 does not disable it. */
	cc_wr(VIRTIO_PCI_COMMON_Q_SIZE, 2, 128);
	cc_wr64(VIRTIO_PCI_COMMON_Q_DESCLO, 0x40000);
	cc_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	cc_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), DESC_GPA);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	ck_assert_ptr_eq(vq->desc, guest_mem_ptr(&mem, DESC_GPA, 16 * 64));
	/* The driver posts a buffer where it said the rings are; the device finds it. */
	desc = guest_mem_ptr(&mem, DESC_GPA, 16);
	avail = guest_mem_ptr(&mem, AVAIL_GPA, 6);
	desc[0] = (struct vring_desc){ .addr = 0x50000, .len = 24, .flags = 0, .next = 0 };
	avail->ring[0] = 0;
	avail->idx = 1;
	ck_assert_int_eq(virtq_pop(vq, &mem, &chain), 1);
	ck_assert_uint_eq(chain.head, 0);
	ck_assert_uint_eq(chain.out_len, 24);
	ck_assert_ptr_eq(chain.iov[0].iov_base, guest_mem_ptr(&mem, 0x50000, 24));
	/* Enabling it again is not a re-initialisation: the device keeps its place. */
	cc_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	ck_assert_uint_eq(vq->last_avail, 1);
	ck_assert(!virtq_has_avail(vq));
	/* DRIVER_OK kicks the enabled queue only. */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK);
	ck_assert_uint_eq(kicks(1), 1);
	ck_assert_uint_eq(kicks(0), 0);
}
END_TEST

/* ---- ISR, notifications, device configuration ---- */

START_TEST(test_vpci_isr)
{
	uint32_t isr = L.off[VIRTIO_PCI_CAP_ISR_CFG];

	ck_assert_uint_eq(isr_read(), 0);
	raise_irq(1, false);
	ck_assert_uint_eq(isr_read(), 1);
	ck_assert_uint_eq(isr_read(), 0);	/* read to clear */
	raise_irq(0, true);
	ck_assert_uint_eq(isr_read(), VIRTIO_PCI_ISR_CONFIG);
	ck_assert_uint_eq(isr_read(), 0);
	raise_irq(0, true);
	raise_irq(0, false);
	/* Writes do not clear it; reads of the other bytes do not either. */
	bar_wr(isr, 1, 0);
	bar_wr(isr, 4, 0);
	ck_assert_uint_eq(bar_rd(isr + 1, 1), 0);
	ck_assert_uint_eq(bar_rd(isr + 2, 2), 0);
	ck_assert_uint_eq(bar_rd(isr, 4), 1 | VIRTIO_PCI_ISR_CONFIG);	/* a wide read clears too */
	ck_assert_uint_eq(isr_read(), 0);
	/* Without MSI-X nothing else records it. */
	ck_assert_uint_eq(vp.pending, 0);
}
END_TEST

START_TEST(test_vpci_notify)
{
	uint32_t base = L.off[VIRTIO_PCI_CAP_NOTIFY_CFG];

	for (uint16_t q = 0; q < FAKE_QUEUES; q++) {
		cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		uint32_t addr = base + (uint32_t)cc_rd(VIRTIO_PCI_COMMON_Q_NOFF, 2) * L.notify_mult;

		bar_wr(addr, 2, q);
		ck_assert_uint_eq(kicks(q), 1);
		ck_assert_uint_eq(kicks(1 - q), 0);
		/* The written value is not what selects the queue: the address is. */
		bar_wr(addr, 2, 1 - q);
		bar_wr(addr, 4, 0xffffffff);
		ck_assert_uint_eq(kicks(q), 2);
		ck_assert_uint_eq(kicks(1 - q), 0);
		ck_assert_uint_eq(bar_rd(addr, 2), 0);
	}
	/* Past the last queue's slot: nothing. */
	bar_wr(base + L.notify_mult * FAKE_QUEUES, 2, 0);
	bar_wr(base + L.len[VIRTIO_PCI_CAP_NOTIFY_CFG] - 1, 2, 0);
	bar_wr(base + 0x100, 2, 0);
	ck_assert_uint_eq(kicks(0), 0);
	ck_assert_uint_eq(kicks(1), 0);
}
END_TEST

START_TEST(test_vpci_device_config)
{
	uint32_t d = L.off[VIRTIO_PCI_CAP_DEVICE_CFG];

	ck_assert_uint_eq(bar_rd(d, 4), 0xc3c2c1c0);
	ck_assert_uint_eq(fake.cfg_off, 0);
	ck_assert_uint_eq(fake.cfg_len, 4);
	ck_assert_uint_eq(bar_rd(d + 5, 1), 0xc5);
	ck_assert_uint_eq(fake.cfg_off, 5);
	ck_assert_uint_eq(bar_rd(d + 8, 8), 0xcfcecdcccbcac9c8ULL);
	ck_assert_uint_eq(bar_rd(d + 0x100, 4), 0);	/* past the device's own config */
	ck_assert_uint_eq(fake.cfg_reads, 4);
	bar_wr(d + 6, 2, 0xcdab);
	ck_assert_uint_eq(fake.cfg_writes, 1);
	ck_assert_uint_eq(fake.cfg_off, 6);
	ck_assert_uint_eq(fake.cfg_len, 2);
	ck_assert_uint_eq(fake.cfg_written[0], 0xab);
	ck_assert_uint_eq(fake.cfg_written[1], 0xcd);
	/* The last bytes of the region still reach the device; past it, nothing does. */
	bar_rd(d + L.len[VIRTIO_PCI_CAP_DEVICE_CFG] - 4, 4);
	ck_assert_uint_eq(fake.cfg_off, L.len[VIRTIO_PCI_CAP_DEVICE_CFG] - 4);
	ck_assert_uint_eq(fake.cfg_reads, 5);
	ck_assert_uint_eq(bar_rd(d + L.len[VIRTIO_PCI_CAP_DEVICE_CFG] - 2, 4), 0xffffffff);
	ck_assert_uint_eq(fake.cfg_reads, 5);
}
END_TEST

START_TEST(test_vpci_bar_holes)
{
	uint32_t holes[] = {
		L.off[VIRTIO_PCI_CAP_COMMON_CFG] + L.len[VIRTIO_PCI_CAP_COMMON_CFG],
		L.off[VIRTIO_PCI_CAP_ISR_CFG] + 0x100,
		L.off[VIRTIO_PCI_CAP_NOTIFY_CFG] + L.len[VIRTIO_PCI_CAP_NOTIFY_CFG] + 0x10,
		L.table + MSIX_ENTRY_SIZE * L.table_size,
		L.pba + 8, VPCI_BAR_SIZE - 4,
	};

	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	for (unsigned i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		ck_assert_msg(bar_rd(holes[i], 4) == 0xffffffff, "hole at 0x%x", holes[i]);
		bar_wr(holes[i], 4, 0);
	}
	/* A read straddling the end of the common configuration is not a register read. */
	ck_assert_uint_eq(bar_rd(L.len[VIRTIO_PCI_CAP_COMMON_CFG] - 4, 8), ~0ULL);
	bar_wr(L.len[VIRTIO_PCI_CAP_COMMON_CFG] - 4, 8, 0);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK);
	ck_assert_uint_eq(fake.cfg_writes, 0);
	ck_assert_uint_eq(kicks(0) + kicks(1), 0);
	ck_assert_uint_eq(fake.resets, 0);
}
END_TEST

START_TEST(test_vpci_bar_move)
{
	uint64_t old = bar_base, to = 0xd0000000;

	ck_assert_uint_eq(bar_rd(VIRTIO_PCI_COMMON_NUMQ, 2), FAKE_QUEUES);
	cfg_wr(vslot, PCI_CFG_BAR0, 4, (uint32_t)to);
	ck_assert_uint_eq(vp.pci.bar_decoded[0], to);
	ck_assert_uint_eq(mmio_rd(old + VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	bar_base = to;
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_NUMQ, 2), FAKE_QUEUES);
	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	/* No ioeventfds without a VM: notifications go through the BAR handler. */
	ck_assert(!vp.ioeventfds);
	bar_wr(L.off[VIRTIO_PCI_CAP_NOTIFY_CFG] + L.notify_mult, 2, 1);
	ck_assert_uint_eq(kicks(1), 1);
	/* Memory space off: the registers vanish, state stays. */
	cfg_wr(vslot, PCI_CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(vp.pci.bar_decoded[0], 0);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_STATUS, 1), 0xff);
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	bar_wr(L.off[VIRTIO_PCI_CAP_NOTIFY_CFG], 2, 0);
	ck_assert_uint_eq(kicks(0), 0);
	ck_assert_uint_eq(dev.status, S_ACK | S_DRIVER | S_FEAT_OK);
	cfg_wr(vslot, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK);
	/* Outside the window: gone as well. */
	cfg_wr(vslot, PCI_CFG_BAR0, 4, 0xfe000000);
	ck_assert_uint_eq(vp.pci.bar_decoded[0], 0);
	ck_assert_uint_eq(mmio_rd(to, 4), 0xffffffff);
}
END_TEST

/* ---- MSI-X ---- */

START_TEST(test_vpci_msix_table)
{
	for (unsigned v = 0; v < FAKE_VECTORS; v++) {
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_ADDR_LO), 0);
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_ADDR_HI), 0);
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_DATA), 0);
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_CTRL), MSIX_ENTRY_MASKBIT);	/* reset */
	}
	for (unsigned v = 0; v < FAKE_VECTORS; v++) {
		tbl_wr(v, MSIX_ENTRY_ADDR_LO, 0xfee00000 | v << 12);
		tbl_wr(v, MSIX_ENTRY_ADDR_HI, v);
		tbl_wr(v, MSIX_ENTRY_DATA, 0x4020 + v);
	}
	for (unsigned v = 0; v < FAKE_VECTORS; v++) {
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_ADDR_LO), 0xfee00000 | v << 12);
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_ADDR_HI), v);
		ck_assert_uint_eq(tbl_rd(v, MSIX_ENTRY_DATA), 0x4020 + v);
	}
	/* Vector control: only the mask bit exists. */
	tbl_wr(1, MSIX_ENTRY_CTRL, 0xfffffffe);
	ck_assert_uint_eq(tbl_rd(1, MSIX_ENTRY_CTRL), 0);
	tbl_wr(1, MSIX_ENTRY_CTRL, 0xffffffff);
	ck_assert_uint_eq(tbl_rd(1, MSIX_ENTRY_CTRL), 1);
	/* Entries past the table size are not there. */
	ck_assert_uint_eq(tbl_rd(FAKE_VECTORS, MSIX_ENTRY_ADDR_LO), 0xffffffff);
	tbl_wr(FAKE_VECTORS, MSIX_ENTRY_DATA, 0x1234);
	ck_assert_uint_eq(tbl_rd(FAKE_VECTORS, MSIX_ENTRY_DATA), 0xffffffff);
}
END_TEST

START_TEST(test_vpci_msix_table_bad_accesses)
{
	uint32_t e = L.table + MSIX_ENTRY_SIZE;	/* entry 1 */
	struct vpci_msix_entry before[VPCI_MAX_VECTORS];

	tbl_wr(1, MSIX_ENTRY_ADDR_LO, 0xfee01000);
	tbl_wr(1, MSIX_ENTRY_DATA, 0x4041);
	memcpy(before, vp.table, sizeof(before));
	/* Reads of the wrong width or alignment are all-ones. */
	ck_assert_uint_eq(bar_rd(e, 1), 0xff);
	ck_assert_uint_eq(bar_rd(e, 2), 0xffff);
	ck_assert_uint_eq(bar_rd(e + 2, 2), 0xffff);
	for (unsigned o = 1; o < 4; o++)
		ck_assert_uint_eq(bar_rd(e + o, 4), 0xffffffff);
	ck_assert_uint_eq(bar_rd(e + 4, 8), ~0ULL);	/* QWORD not QWORD-aligned */
	/* Writes of the wrong width or alignment change nothing, mask bits included. */
	for (unsigned o = 0; o < MSIX_ENTRY_SIZE; o++) {
		bar_wr(e + o, 1, 0);
		if (!(o & 1))
			bar_wr(e + o, 2, 0);
		if (o & 3)
			bar_wr(e + o, 4, 0);
		if (o & 7)
			bar_wr(e + o, 8, 0);
		bar_wr(e + o, 3, 0);
	}
	ck_assert_mem_eq(vp.table, before, sizeof(before));
	ck_assert_uint_eq(tbl_rd(1, MSIX_ENTRY_CTRL), MSIX_ENTRY_MASKBIT);
	/* PBA writes are ignored. */
	msix_ctrl(MSIX_FLAGS_ENABLE);
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	raise_irq(0, false);
	ck_assert_uint_eq(pba(), 1u << 1);
	bar_wr(L.pba, 8, 0);
	bar_wr(L.pba, 4, 0);
	bar_wr(L.pba, 1, 0);
	ck_assert_uint_eq(pba(), 1u << 1);
}
END_TEST

#if 1
/*
 * Was a bug (fixed): the MSI-X table ignored 64-bit accesses.  PCI Local
 * Bus 3.0, 6.8.2: "For all accesses to MSI-X Table and MSI-X PBA fields,
 * software must use aligned full DWORD or aligned full QWORD transactions",
 * and KVM hands a guest's 8-byte MOV to the MMIO bus as one 8-byte access.
 * Input: an 8-byte write of the message address (low | high << 32) at entry
 * offset 0, and one of data | vector control << 32 at offset 8 (unmasking).
 * Expected: both halves written, the vector unmasked and its pending bit
 * delivered; got: nothing written, reads all-ones, the vector stays masked.
 */
START_TEST(test_vpci_msix_table_qword)
{
	uint32_t e = L.table + MSIX_ENTRY_SIZE * 2;	/* entry 2 */

	bar_wr(e + MSIX_ENTRY_ADDR_LO, 8, 0x00000001fee02000ULL);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_ADDR_LO), 0xfee02000);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_ADDR_HI), 1);
	ck_assert_uint_eq(bar_rd(e + MSIX_ENTRY_ADDR_LO, 8), 0x00000001fee02000ULL);
	ck_assert_uint_eq(bar_rd(e + MSIX_ENTRY_DATA, 8), (uint64_t)MSIX_ENTRY_MASKBIT << 32);
	/* Data and vector control in one go: unmasks, and delivers what was pending. */
	msix_ctrl(MSIX_FLAGS_ENABLE);
	cc_wr(VIRTIO_PCI_COMMON_MSIX, 2, 2);
	raise_irq(0, true);
	ck_assert_uint_eq(pba(), 1u << 2);
	bar_wr(e + MSIX_ENTRY_DATA, 8, 0x4042);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_DATA), 0x4042);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_CTRL), 0);
	ck_assert_uint_eq(pba(), 0);
	/* And masks again. */
	bar_wr(e + MSIX_ENTRY_DATA, 8, (uint64_t)MSIX_ENTRY_MASKBIT << 32 | 0x4043);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_CTRL), MSIX_ENTRY_MASKBIT);
	ck_assert_uint_eq(tbl_rd(2, MSIX_ENTRY_DATA), 0x4043);
	/* Past the table, still nothing. */
	bar_wr(L.table + MSIX_ENTRY_SIZE * FAKE_VECTORS, 8, 0);
	ck_assert_uint_eq(bar_rd(L.table + MSIX_ENTRY_SIZE * FAKE_VECTORS, 8), ~0ULL);
}
END_TEST
#endif

START_TEST(test_vpci_msix_pending)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t n = 0;

	ck_assert_int_ge(efd, 0);
	vp.irqfd[1] = efd;	/* stands in for the irqfd KVM would hold */
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	cc_wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	/* MSI-X disabled: the ISR only. */
	raise_irq(0, false);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_uint_eq(isr_read(), 1);
	/* Enabled, entry masked (its reset state): pending. */
	msix_ctrl(MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(cfg_rd(vslot, L.msix + MSIX_FLAGS, 2), MSIX_FLAGS_ENABLE | (FAKE_VECTORS - 1));
	raise_irq(0, false);
	ck_assert_uint_eq(pba(), 1u << 1);
	ck_assert_uint_eq(bar_rd(L.pba, 4), 1u << 1);
	ck_assert_uint_eq(bar_rd(L.pba + 4, 4), 0);
	ck_assert_int_lt(read(efd, &n, sizeof(n)), 0);
	/* Unmasking delivers it and clears the bit. */
	tbl_wr(1, MSIX_ENTRY_CTRL, 0);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(read(efd, &n, sizeof(n)), 8);
	ck_assert_uint_eq(n, 1);
	/* Unmasked: delivered at once. */
	raise_irq(0, false);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(read(efd, &n, sizeof(n)), 8);
	/* Function mask: pending again; the entry mask changing does not deliver. */
	msix_ctrl(MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
	raise_irq(0, false);
	ck_assert_uint_eq(pba(), 1u << 1);
	tbl_wr(1, MSIX_ENTRY_CTRL, 1);
	tbl_wr(1, MSIX_ENTRY_CTRL, 0);
	ck_assert_uint_eq(pba(), 1u << 1);
	ck_assert_int_lt(read(efd, &n, sizeof(n)), 0);
	msix_ctrl(MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(read(efd, &n, sizeof(n)), 8);
	/* The function mask through a byte write of the control's high byte. */
	cfg_wr(vslot, L.msix + MSIX_FLAGS + 1, 1, (MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL) >> 8);
	ck_assert(vp.msix_masked);
	raise_irq(0, false);
	cfg_wr(vslot, L.msix + MSIX_FLAGS + 1, 1, MSIX_FLAGS_ENABLE >> 8);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(read(efd, &n, sizeof(n)), 8);
	/* The config vector, masked, and a queue without a vector. */
	cc_wr(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	raise_irq(0, true);
	ck_assert_uint_eq(pba(), 1u << 0);
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	raise_irq(1, false);
	ck_assert_uint_eq(pba(), 1u << 0);
	/* Disabling MSI-X keeps what is pending; nothing is delivered on the way. */
	msix_ctrl(0);
	ck_assert_uint_eq(pba(), 1u << 0);
	tbl_wr(0, MSIX_ENTRY_CTRL, 0);
	ck_assert_uint_eq(pba(), 1u << 0);
	ck_assert_int_lt(read(efd, &n, sizeof(n)), 0);
	/* Re-enabling with the entry unmasked delivers it. */
	msix_ctrl(MSIX_FLAGS_ENABLE);
	ck_assert_uint_eq(pba(), 0);
	close(efd);
	vp.irqfd[1] = -1;
}
END_TEST

/* ---- the VIRTIO_PCI_CAP_PCI_CFG window ---- */

static void window(uint8_t bar, uint32_t off, uint32_t len)
{
	uint8_t c = L.cap[VIRTIO_PCI_CAP_PCI_CFG];

	cfg_wr(vslot, c + CAP_BAR, 1, bar);
	cfg_wr(vslot, c + CAP_OFFSET, 4, off);
	cfg_wr(vslot, c + CAP_LENGTH, 4, len);
}

static uint32_t window_rd(uint32_t len)
{
	return cfg_rd(vslot, L.cap[VIRTIO_PCI_CAP_PCI_CFG] + CAP_DATA, len);
}

static void window_wr(uint32_t len, uint32_t v)
{
	cfg_wr(vslot, L.cap[VIRTIO_PCI_CAP_PCI_CFG] + CAP_DATA, len, v);
}

START_TEST(test_vpci_cfg_window)
{
	uint8_t c = L.cap[VIRTIO_PCI_CAP_PCI_CFG];

	/* Its fields read back as written. */
	window(0, VIRTIO_PCI_COMMON_STATUS, 1);
	ck_assert_uint_eq(cfg_rd(vslot, c + CAP_BAR, 1), 0);
	ck_assert_uint_eq(cfg_rd(vslot, c + CAP_OFFSET, 4), VIRTIO_PCI_COMMON_STATUS);
	ck_assert_uint_eq(cfg_rd(vslot, c + CAP_LENGTH, 4), 1);
	/* Read the device status through it. */
	cc_wr(VIRTIO_PCI_COMMON_STATUS, 1, S_ACK);
	ck_assert_uint_eq(window_rd(1), S_ACK);
	ck_assert_uint_eq(window_rd(4) & 0xff, S_ACK);
	/* Write it through it. */
	window_wr(1, S_ACK | S_DRIVER);
	ck_assert_uint_eq(status(), S_ACK | S_DRIVER);
	/* queue_select, 16 bits. */
	window(0, VIRTIO_PCI_COMMON_Q_SELECT, 2);
	window_wr(2, 1);
	ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
	ck_assert_uint_eq(window_rd(2), 1);
	/* 32 bits: device_feature with select 1. */
	cc_wr(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	window(0, VIRTIO_PCI_COMMON_DF, 4);
	ck_assert_uint_eq(window_rd(4), VERSION_1_HI);
	/* The ISR, read to clear, through the window too. */
	raise_irq(0, false);
	window(0, L.off[VIRTIO_PCI_CAP_ISR_CFG], 1);
	ck_assert_uint_eq(window_rd(1), 1);
	ck_assert_uint_eq(isr_read(), 0);
	/* Device configuration and the MSI-X table are BAR 0 as well. */
	window(0, L.off[VIRTIO_PCI_CAP_DEVICE_CFG] + 4, 4);
	ck_assert_uint_eq(window_rd(4), 0xc7c6c5c4);
	window(0, L.table + MSIX_ENTRY_DATA, 4);
	window_wr(4, 0x4055);
	ck_assert_uint_eq(tbl_rd(0, MSIX_ENTRY_DATA), 0x4055);
	/* Notifications too. */
	window(0, L.off[VIRTIO_PCI_CAP_NOTIFY_CFG] + L.notify_mult * 1, 2);
	window_wr(2, 1);
	ck_assert_uint_eq(kicks(1), 1);
	ck_assert_uint_eq(kicks(0), 0);
	/* Reading the window's bar/offset/length fields does not access the BAR. */
	raise_irq(0, false);
	window(0, L.off[VIRTIO_PCI_CAP_ISR_CFG], 1);
	cfg_rd(vslot, c + CAP_LENGTH, 4);
	cfg_rd(vslot, c + CAP_BAR, 4);
	ck_assert_uint_eq(isr_read(), 1);
}
END_TEST

START_TEST(test_vpci_cfg_window_bad)
{
	static const struct { uint8_t bar; uint32_t off, len; } bad[] = {
		{ 0, VIRTIO_PCI_COMMON_STATUS, 3 },	/* bad lengths */
		{ 0, VIRTIO_PCI_COMMON_STATUS, 0 },
		{ 0, VIRTIO_PCI_COMMON_STATUS, 8 },
		{ 0, VIRTIO_PCI_COMMON_STATUS, 0xffffffff },
		{ 0, VIRTIO_PCI_COMMON_STATUS - 1, 2 },	/* unaligned */
		{ 0, VIRTIO_PCI_COMMON_STATUS - 3, 4 },
		{ 0, VIRTIO_PCI_COMMON_STATUS - 2, 4 },
		{ 1, VIRTIO_PCI_COMMON_STATUS, 1 },	/* another BAR */
		{ 5, VIRTIO_PCI_COMMON_STATUS, 1 },
		{ 6, VIRTIO_PCI_COMMON_STATUS, 1 },
		{ 0xff, VIRTIO_PCI_COMMON_STATUS, 1 },
		{ 0, VPCI_BAR_SIZE, 1 },		/* past BAR 0 */
		{ 0, VPCI_BAR_SIZE + VIRTIO_PCI_COMMON_STATUS, 1 },
		{ 0, 0xfffffffc, 4 },
		{ 0, 0xffffffff, 1 },
	};
	uint8_t c = L.cap[VIRTIO_PCI_CAP_PCI_CFG];

	ck_assert_uint_eq(negotiate(0, VERSION_1_HI), S_ACK | S_DRIVER | S_FEAT_OK);
	cc_wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		window(bad[i].bar, bad[i].off, bad[i].len);
		ck_assert_uint_eq(cfg_rd(vslot, c + CAP_BAR, 1), bad[i].bar);
		ck_assert_uint_eq(cfg_rd(vslot, c + CAP_OFFSET, 4), bad[i].off);
		ck_assert_uint_eq(cfg_rd(vslot, c + CAP_LENGTH, 4), bad[i].len);
		/* A write that would reset the device and select queue 0. */
		window_wr(4, 0);
		window_wr(1, 0);
		window_wr(2, 0);
		ck_assert_msg(status() == (S_ACK | S_DRIVER | S_FEAT_OK), "case %u wrote", i);
		ck_assert_uint_eq(cc_rd(VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
		ck_assert_uint_eq(fake.resets, 0);
		/* A read leaves the data as the driver last wrote it. */
		window_wr(4, 0xdeadbeef);
		ck_assert_msg(window_rd(4) == 0xdeadbeef, "case %u read", i);
		ck_assert_uint_eq(window_rd(1), 0xef);
		ck_assert_uint_eq(status(), S_ACK | S_DRIVER | S_FEAT_OK);
	}
	/* ISR reads through a bad window do not clear it. */
	raise_irq(0, false);
	window(0, L.off[VIRTIO_PCI_CAP_ISR_CFG], 3);
	window_rd(4);
	window(1, L.off[VIRTIO_PCI_CAP_ISR_CFG], 1);
	window_rd(1);
	ck_assert_uint_eq(isr_read(), 1);
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("pci_bus");
	TCase *tv = tcase_create("virtio_pci");

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
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tv, vpci_setup, vpci_teardown);
	tcase_add_test(tv, test_vpci_ids);
	tcase_add_test(tv, test_vpci_class_per_device);
	tcase_add_test(tv, test_vpci_cap_chain);
	tcase_add_test(tv, test_vpci_readonly_sweep);
	tcase_add_test(tv, test_vpci_device_features);
	tcase_add_test(tv, test_vpci_driver_features);
	tcase_add_test(tv, test_vpci_features_refused);
	tcase_add_test(tv, test_vpci_queue_select_nonexistent);
	tcase_add_test(tv, test_vpci_reset);
	tcase_add_test(tv, test_vpci_msix_vector_range);
	tcase_add_test(tv, test_vpci_queue_address_halves);
	tcase_add_test(tv, test_vpci_queue_enable_bad);
	tcase_add_test(tv, test_vpci_queue_enable_good);
	tcase_add_test(tv, test_vpci_isr);
	tcase_add_test(tv, test_vpci_notify);
	tcase_add_test(tv, test_vpci_device_config);
	tcase_add_test(tv, test_vpci_bar_holes);
	tcase_add_test(tv, test_vpci_bar_move);
	tcase_add_test(tv, test_vpci_msix_table);
	tcase_add_test(tv, test_vpci_msix_table_bad_accesses);
#if 1	/* fixed: regression test */
	tcase_add_test(tv, test_vpci_msix_table_qword);
#endif
	tcase_add_test(tv, test_vpci_msix_pending);
	tcase_add_test(tv, test_vpci_cfg_window);
	tcase_add_test(tv, test_vpci_cfg_window_bad);
	suite_add_tcase(s, tv);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pci_suite());
	int failed;

	log_threshold = LOG_ERROR;	/* the NEEDS_RESET warnings are expected here */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
