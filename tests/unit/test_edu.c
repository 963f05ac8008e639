/*
 * The edu device on a PCI bus over fake guest memory and a fake vm_irq:
 * configuration space, registers, factorial, interrupts (INTx and MSI, also
 * through the VT-d unit's interrupt remapping), DMA straight and through
 * VT-d page tables, hostile DMA arguments, save/restore.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/edu.h"
#include "testlib.h"
#include "testlib_pci.h"

#define RAM		(16ull << 20)
#define SLOT		1
#define DATA		0x200000ull
#define ROOT		0x100000ull
#define CTX		0x101000ull
#define PT3		0x102000ull
#define PT2		0x103000ull
#define PT1		0x104000ull
#define IRT		0x105000ull

static struct guest_mem mem;
static struct fake_irq fi;
static struct edu *d;
static struct vtd *io;
static uint64_t bar;

static void start(bool iommu, bool intremap)
{
	testlib_mem_init(&mem, RAM);
	fake_irq_init(&fi);
	d = malloc(sizeof(*d));
	ck_assert_ptr_nonnull(d);
	io = NULL;
	if (iommu) {
		io = malloc(sizeof(*io));
		ck_assert_ptr_nonnull(io);
		vtd_init(io, &mem, fake_irq_ops(&fi), intremap);
	}
	ck_assert_int_eq(edu_init(d, &mem, io, intremap ? vtd_irq(io) : fake_irq_ops(&fi)), 0);
	pci_bus_init(&pcit_bus);
	ck_assert_int_eq(pci_bus_add(&pcit_bus, &d->fn), SLOT);
	bar = d->fn.bar_decoded[0];
	ck_assert_uint_ne(bar, 0);
}

static void setup(void)
{
	start(false, false);
}

static void teardown(void)
{
	pci_bus_destroy(&pcit_bus);
	edu_destroy(d);
	free(d);
	if (io) {
		vtd_destroy(io);
		free(io);
	}
	guest_mem_destroy(&mem);
}

static uint32_t rd(uint64_t off)
{
	return (uint32_t)mmio_rd(bar + off, 4);
}

static void wr(uint64_t off, uint32_t v)
{
	mmio_wr(bar + off, 4, v);
}

static void master(bool on)
{
	cfg_wr(SLOT, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | (on ? PCI_CMD_MASTER : 0));
}

/* A DMA as a driver starts it, 64-bit register writes. */
static void dma(uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	mmio_wr(bar + EDU_DMA_SRC, 8, src);
	mmio_wr(bar + EDU_DMA_DST, 8, dst);
	mmio_wr(bar + EDU_DMA_CNT, 8, cnt);
	wr(EDU_DMA_CMD, cmd | EDU_DMA_START);
	ck_assert_uint_eq(rd(EDU_DMA_CMD) & EDU_DMA_START, 0);
}

static void fill(uint64_t gpa, uint8_t seed, size_t n)
{
	uint8_t b[EDU_DMA_BUF_SIZE];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 3);
	ck_assert_int_eq(guest_mem_write(&mem, gpa, b, n), 0);
}

START_TEST(test_config_space)
{
	uint8_t cap = (uint8_t)cfg_rd(SLOT, PCI_CFG_CAP_PTR, 1);

	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_VENDOR_ID, 2), EDU_VENDOR);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_DEVICE_ID, 2), EDU_DEVICE);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_REVISION, 1), EDU_REVISION);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_INT_PIN, 1), PCI_INTX_PIN_A);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	ck_assert_uint_eq(cfg_rd(SLOT, cap, 1), PCI_CAP_ID_MSI);
	/* One vector, 32-bit: MMC 0, no 64-bit bit; only enable is writable. */
	cfg_wr(SLOT, cap + 2, 2, 0xffff);
	ck_assert_uint_eq(cfg_rd(SLOT, cap + 2, 2), 1);
	cfg_wr(SLOT, cap + 4, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(SLOT, cap + 4, 4), 0xfffffffc);
	/* BAR 0: 1 MiB of memory. */
	cfg_wr(SLOT, PCI_CFG_BAR0, 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_BAR0, 4) & ~0xfu, ~(EDU_BAR_SIZE - 1));
}
END_TEST

START_TEST(test_registers)
{
	ck_assert_uint_eq(rd(EDU_ID), 0x010000ed);
	wr(EDU_ID, 0);
	ck_assert_uint_eq(rd(EDU_ID), 0x010000ed);
	wr(EDU_ALIVE, 0x12345678);
	ck_assert_uint_eq(rd(EDU_ALIVE), ~0x12345678u);
	wr(EDU_FACT, 5);
	ck_assert_uint_eq(rd(EDU_STATUS) & EDU_STATUS_COMPUTING, 0);
	ck_assert_uint_eq(rd(EDU_FACT), 120);
	wr(EDU_FACT, 12);
	ck_assert_uint_eq(rd(EDU_FACT), 479001600);
	wr(EDU_FACT, 13);	/* modulo 2^32 */
	ck_assert_uint_eq(rd(EDU_FACT), (uint32_t)(479001600ull * 13));
	wr(EDU_FACT, 0);
	ck_assert_uint_eq(rd(EDU_FACT), 1);
	wr(EDU_FACT, 0xffffffff);	/* a huge one ends at once: 0 from 34! on */
	ck_assert_uint_eq(rd(EDU_FACT), 0);
	/* Status: only the interrupt-enable bit is the guest's. */
	wr(EDU_STATUS, 0xffffffff);
	ck_assert_uint_eq(rd(EDU_STATUS), EDU_STATUS_IRQ_FACT);
	/* Unknown registers read all-ones; odd widths below 0x80 are not registers. */
	ck_assert_uint_eq(rd(0x10), 0xffffffff);
	ck_assert_uint_eq(mmio_rd(bar + EDU_ID, 2), 0xffff);
	ck_assert_uint_eq(mmio_rd(bar + EDU_ID, 8), ~0ull);
	/* DMA registers take 32-bit halves as well. */
	wr(EDU_DMA_SRC, 0x11223344);
	wr(EDU_DMA_SRC + 4, 0x55667788);
	ck_assert_uint_eq(mmio_rd(bar + EDU_DMA_SRC, 8), 0x5566778811223344ull);
	ck_assert_uint_eq(rd(EDU_DMA_SRC + 4), 0x55667788);
	/* The buffer: any width. */
	mmio_wr(bar + EDU_DMA_BUF + 3, 2, 0xbeef);
	ck_assert_uint_eq(mmio_rd(bar + EDU_DMA_BUF + 3, 2), 0xbeef);
	ck_assert_uint_eq(mmio_rd(bar + EDU_DMA_BUF + EDU_DMA_BUF_SIZE, 4), 0xffffffff);
}
END_TEST

START_TEST(test_intx)
{
	unsigned gsi = pci_intx_gsi(SLOT);

	wr(EDU_IRQ_RAISE, 0x40);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), 0x40);
	ck_assert_uint_eq(fi.line_gsi, gsi);
	ck_assert_int_eq(fi.line_level, 1);
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	wr(EDU_IRQ_RAISE, 0x2);
	wr(EDU_IRQ_ACK, 0x40);
	ck_assert_int_eq(fi.line_level, 1);	/* 0x2 is still up */
	wr(EDU_IRQ_ACK, 0x2);
	ck_assert_int_eq(fi.line_level, 0);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), 0);
	/* A finished factorial raises 0x1 when asked to. */
	wr(EDU_STATUS, EDU_STATUS_IRQ_FACT);
	wr(EDU_FACT, 3);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), EDU_IRQ_FACT);
	ck_assert_int_eq(fi.line_level, 1);
	/* Interrupt Disable in the command register lowers the line, not the status. */
	cfg_wr(SLOT, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_INTX_DISABLE);
	ck_assert_int_eq(fi.line_level, 0);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), EDU_IRQ_FACT);
}
END_TEST

START_TEST(test_msi)
{
	uint8_t cap = d->msi_cap;
	int gsi = d->msi_gsi;
	struct fake_route *r = &fi.route[gsi - FAKE_IRQ_FIRST_GSI];

	cfg_wr(SLOT, cap + 4, 4, 0xfee01000);
	cfg_wr(SLOT, cap + 8, 2, 0x4031);
	ck_assert(!r->set);		/* not yet enabled */
	cfg_wr(SLOT, cap + 2, 2, 1);
	ck_assert(r->set);
	ck_assert_uint_eq(r->addr, 0xfee01000);
	ck_assert_uint_eq(r->data, 0x4031);
	/* Without bus mastering an MSI (a memory write) is not sent. */
	unsigned sets = fi.line_sets;

	wr(EDU_IRQ_RAISE, 1);
	ck_assert_uint_eq(fi.line_sets, sets);
	master(true);
	wr(EDU_IRQ_RAISE, 1);
	ck_assert_uint_eq(fi.line_sets, sets + 2);	/* the MSI GSI up, then down */
	ck_assert_uint_eq(fi.line_gsi, (unsigned)gsi);
	/* MSI on: INTx stays down while the status is set. */
	ck_assert_uint_eq(cfg_rd(SLOT, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* Disabled again: the pending status comes out on INTx. */
	cfg_wr(SLOT, cap + 2, 2, 0);
	ck_assert(!r->set);
	ck_assert_uint_eq(fi.line_gsi, pci_intx_gsi(SLOT));
	ck_assert_int_eq(fi.line_level, 1);
}
END_TEST

START_TEST(test_dma_direct)
{
	uint8_t a[EDU_DMA_BUF_SIZE], b[EDU_DMA_BUF_SIZE];

	master(true);
	fill(DATA, 7, sizeof(a));
	dma(DATA, EDU_DMA_BUF, sizeof(a), 0);
	ck_assert_int_eq(guest_mem_read(&mem, DATA, a, sizeof(a)), 0);
	ck_assert_mem_eq(d->regs.buf, a, sizeof(a));
	dma(EDU_DMA_BUF + 16, DATA + 0x10000, 100, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x10000, b, 100), 0);
	ck_assert_mem_eq(b, a + 16, 100);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), EDU_IRQ_DMA);
	ck_assert_int_eq(fi.line_level, 1);
}
END_TEST

START_TEST(test_dma_hostile)
{
	uint8_t zero[256] = { 0 }, b[256];

	master(true);
	fill(DATA, 1, 256);
	dma(DATA, EDU_DMA_BUF, 256, 0);
	/* Past RAM, wrapping, too long, outside the buffer: nothing moves, no interrupt. */
	dma(EDU_DMA_BUF, RAM - 16, 32, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(EDU_DMA_BUF, ~0ull - 8, 32, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(EDU_DMA_BUF, DATA + 0x1000, EDU_DMA_BUF_SIZE + 1, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(EDU_DMA_BUF + EDU_DMA_BUF_SIZE - 8, DATA + 0x1000, 16, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(EDU_DMA_BUF - 1, DATA + 0x1000, 16, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(~0ull, DATA + 0x1000, 2, EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	dma(RAM + 0x1000, EDU_DMA_BUF, 16, EDU_DMA_IRQ);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x1000, b, sizeof(b)), 0);
	ck_assert_mem_eq(b, zero, sizeof(b));
	ck_assert_int_eq(guest_mem_read(&mem, RAM - 16, b, 16), 0);
	ck_assert_mem_eq(b, zero, 16);
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), 0);
	/* Bus mastering off: no DMA either. */
	master(false);
	dma(EDU_DMA_BUF, DATA + 0x1000, 16, EDU_DMA_FROM_DEV);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x1000, b, 16), 0);
	ck_assert_mem_eq(b, zero, 16);
}
END_TEST

static void put64(uint64_t gpa, uint64_t x)
{
	ck_assert_int_eq(guest_mem_write(&mem, gpa, &x, 8), 0);
}

static void vwr(uint32_t off, uint64_t x)
{
	vtd_mmio(io, off, (uint8_t *)&x, 8, true);
}

static uint64_t vrd(uint32_t off)
{
	uint64_t x = 0;

	vtd_mmio(io, off, (uint8_t *)&x, 8, false);
	return x;
}

START_TEST(test_dma_through_vtd)
{
	uint16_t sid = SLOT << 3;
	uint8_t a[64], b[64], zero[64] = { 0 };

	teardown();
	start(true, false);
	ck_assert_uint_eq(edu_sid(d), sid);
	master(true);
	/* IOVA 0x5000 -> DATA + 0x3000, read-write; IOVA 0x6000 read-only; the rest unmapped. */
	put64(ROOT, CTX | 1);
	put64(CTX + sid * 16, PT3 | 1);
	put64(CTX + sid * 16 + 8, 1 | 9 << 8);
	put64(PT3, PT2 | 3);
	put64(PT2, PT1 | 3);
	put64(PT1 + 5 * 8, (DATA + 0x3000) | 3);
	put64(PT1 + 6 * 8, (DATA + 0x8000) | 1);
	vwr(VTD_RTADDR, ROOT);
	vwr(VTD_GCMD, VTD_GCMD_SRTP);
	vwr(VTD_GCMD, VTD_GCMD_TE | VTD_GCMD_SRTP);
	fill(DATA + 0x3000, 9, sizeof(a));
	dma(0x5000, EDU_DMA_BUF, sizeof(a), 0);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x3000, a, sizeof(a)), 0);
	ck_assert_mem_eq(d->regs.buf, a, sizeof(a));
	dma(EDU_DMA_BUF, 0x5000 + 0x100, sizeof(a), EDU_DMA_FROM_DEV);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x3100, b, sizeof(b)), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	/* Identity would have put it at 0x5100: it did not. */
	ck_assert_int_eq(guest_mem_read(&mem, 0x5100, b, sizeof(b)), 0);
	ck_assert_mem_eq(b, zero, sizeof(b));
	/* Unmapped IOVA: nothing lands, the fault names the edu. */
	dma(EDU_DMA_BUF, 0x9000, sizeof(a), EDU_DMA_FROM_DEV | EDU_DMA_IRQ);
	ck_assert_int_eq(guest_mem_read(&mem, 0x9000, b, sizeof(b)), 0);
	ck_assert_mem_eq(b, zero, sizeof(b));
	ck_assert_uint_eq(rd(EDU_IRQ_STATUS), 0);
	ck_assert_uint_eq(vrd(VTD_FRCD + 8) >> 63, 1);
	ck_assert_uint_eq(vrd(VTD_FRCD + 8) & 0xffff, sid);
	ck_assert_uint_eq(vrd(VTD_FRCD + 8) >> 32 & 0xff, VTD_FR_WRITE);
	ck_assert_uint_eq(vrd(VTD_FRCD), 0x9000);
	/* Into the read-only page: refused too. */
	dma(EDU_DMA_BUF, 0x6000, 8, EDU_DMA_FROM_DEV);
	ck_assert_int_eq(guest_mem_read(&mem, DATA + 0x8000, b, 8), 0);
	ck_assert_mem_eq(b, zero, 8);
	/* The DMAR table gets its scope. */
	struct machine_desc m;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(edu_device_ops.describe(d, &m), 0);
	ck_assert_uint_eq(m.dmar.nr_devs, 1);
	ck_assert_uint_eq(m.dmar.devfn[0], sid);
}
END_TEST

START_TEST(test_msi_through_irte)
{
	uint8_t cap;
	struct fake_route *r;

	teardown();
	start(true, true);
	cap = d->msi_cap;
	r = &fi.route[d->msi_gsi - FAKE_IRQ_FIRST_GSI];
	master(true);
	/* IRTE 4: vector 0x61 to APIC 2; the MSI names only the handle. */
	put64(IRT + 4 * 16, 1 | 0x61ull << 16 | 2ull << 40);
	vwr(VTD_IRTA, IRT | 3);
	vwr(VTD_GCMD, VTD_GCMD_SIRTP);
	vwr(VTD_GCMD, VTD_GCMD_SIRTP | VTD_GCMD_IRE);
	cfg_wr(SLOT, cap + 4, 4, 0xfee00000 | 4 << 5 | VTD_MSI_REMAPPABLE);
	cfg_wr(SLOT, cap + 8, 2, 0);
	cfg_wr(SLOT, cap + 2, 2, 1);
	ck_assert(r->set);
	ck_assert_uint_eq(r->addr, 0xfee02000);
	ck_assert_uint_eq(r->data, 0x61);
	/* An index past the 16-entry table: no route at all. */
	cfg_wr(SLOT, cap + 4, 4, 0xfee00000 | 16 << 5 | VTD_MSI_REMAPPABLE);
	ck_assert(!r->set);
}
END_TEST

START_TEST(test_save_restore)
{
	struct state_writer w;
	struct edu_regs *saved = malloc(sizeof(*saved));

	ck_assert_ptr_nonnull(saved);
	master(true);
	wr(EDU_ALIVE, 0x77);
	wr(EDU_FACT, 6);
	wr(EDU_STATUS, EDU_STATUS_IRQ_FACT);
	wr(EDU_IRQ_RAISE, 0x30);
	fill(DATA, 3, EDU_DMA_BUF_SIZE);
	dma(DATA, EDU_DMA_BUF, EDU_DMA_BUF_SIZE, EDU_DMA_IRQ);
	mmio_wr(bar + EDU_DMA_CNT, 8, 0x123);
	*saved = d->regs;
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&edu_device_ops, d, &w), 0);

	/* Back to power-on, then the record: every register and the buffer return. */
	edu_reset(d);
	ck_assert_int_eq(fi.line_level, 0);
	ck_assert_uint_eq(rd(EDU_FACT), 0);
	ck_assert_int_eq(device_restore_one(&edu_device_ops, d, w.data, w.len), 0);
	ck_assert_mem_eq(&d->regs, saved, sizeof(*saved));
	ck_assert_uint_eq(rd(EDU_FACT), 720);
	ck_assert_uint_eq(rd(EDU_ALIVE), ~0x77u);
	ck_assert_int_eq(fi.line_level, 1);		/* the pending status drives INTx again */
	/* Truncated: refused, the registers reset. */
	ck_assert_int_eq(device_restore_one(&edu_device_ops, d, w.data, w.len - 1), -EINVAL);
	ck_assert_uint_eq(d->regs.irq_status, 0);
	state_writer_free(&w);
	/* A DMA in flight cannot be: refused. */
	*saved = d->regs;
	d->regs.dma_cmd |= EDU_DMA_START;
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&edu_device_ops, d, &w), 0);
	ck_assert_int_eq(device_restore_one(&edu_device_ops, d, w.data, w.len), -EINVAL);
	state_writer_free(&w);
	free(saved);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("edu");
	TCase *tc = tcase_create("edu");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_registers);
	tcase_add_test(tc, test_intx);
	tcase_add_test(tc, test_msi);
	tcase_add_test(tc, test_dma_direct);
	tcase_add_test(tc, test_dma_hostile);
	tcase_add_test(tc, test_dma_through_vtd);
	tcase_add_test(tc, test_msi_through_irte);
	tcase_add_test(tc, test_save_restore);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
