/*
 * fw_cfg, the ACPI PM timer and pc-testdev at their bus handlers: what the
 * guest reads, the timer's rate on a fake clock, the IRQ lines a pc-testdev
 * port write drives, pci-testdev behind the PCI bus (its I/O BAR in the I/O
 * window), and each device's save/restore round trip and refusals.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/bus.h"
#include "kvmrun/devices.h"
#include "kvmrun/pci.h"
#include "testlib.h"

static uint8_t rd8(bus_io_fn fn, void *dev, uint64_t off)
{
	uint8_t v = 0;

	fn(dev, off, &v, 1, false);
	return v;
}

static uint32_t rd32(bus_io_fn fn, void *dev, uint64_t off)
{
	uint32_t v = 0;

	fn(dev, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(bus_io_fn fn, void *dev, uint64_t off, uint32_t v, uint32_t len)
{
	fn(dev, off, (uint8_t *)&v, len, true);
}

static uint64_t item(struct fw_cfg *c, uint16_t key, unsigned n)
{
	uint64_t v = 0;

	wr(fw_cfg_io, c, 0, key, 2);
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)rd8(fw_cfg_io, c, 1) << (8 * i);
	return v;
}

START_TEST(fw_cfg_items)
{
	struct fw_cfg c;
	char sig[5] = { 0 };

	fw_cfg_init(&c, 3, 512ULL << 20);
	wr(fw_cfg_io, &c, 0, FW_CFG_SIGNATURE, 2);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)rd8(fw_cfg_io, &c, 1);
	ck_assert_str_eq(sig, "QEMU");
	ck_assert_uint_eq(rd8(fw_cfg_io, &c, 1), 0);	/* past the end: zeros */
	ck_assert_uint_eq(item(&c, FW_CFG_ID, 4), 1);
	ck_assert_uint_eq(item(&c, FW_CFG_NB_CPUS, 2), 3);
	ck_assert_uint_eq(item(&c, FW_CFG_MAX_CPUS, 2), 3);
	ck_assert_uint_eq(item(&c, FW_CFG_RAM_SIZE, 8), 512ULL << 20);
	ck_assert_uint_eq(item(&c, 0x11, 8), 0);	/* kvm-unit-tests' MAX_RAM: no limit */
	/* A 4-byte read of the data port streams 4 bytes; a byte-wide selector write is ignored. */
	wr(fw_cfg_io, &c, 0, FW_CFG_SIGNATURE, 2);
	ck_assert_uint_eq(rd32(fw_cfg_io, &c, 1), 0x554d4551);
	wr(fw_cfg_io, &c, 0, FW_CFG_NB_CPUS, 1);
	ck_assert_uint_eq(c.regs.selector, FW_CFG_SIGNATURE);
	fw_cfg_destroy(&c);
}
END_TEST

START_TEST(fw_cfg_save_restore)
{
	struct fw_cfg a, b;
	struct state_writer w;
	const uint8_t too_far[6] = { 0x05, 0, 9, 0, 0, 0 };

	fw_cfg_init(&a, 2, 64ULL << 20);
	fw_cfg_init(&b, 2, 64ULL << 20);
	wr(fw_cfg_io, &a, 0, FW_CFG_SIGNATURE, 2);
	rd8(fw_cfg_io, &a, 1);
	rd8(fw_cfg_io, &a, 1);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&fw_cfg_device_ops, &a, &w), 0);
	ck_assert_int_eq(device_restore_one(&fw_cfg_device_ops, &b, w.data, w.len), 0);
	/* The restored device goes on where the saved one was: "MU". */
	ck_assert_uint_eq(rd8(fw_cfg_io, &b, 1), 'M');
	ck_assert_uint_eq(rd8(fw_cfg_io, &b, 1), 'U');
	/* Refused: an offset no item reaches, a short record. */
	ck_assert_int_eq(device_restore_one(&fw_cfg_device_ops, &b, too_far, 6), -EINVAL);
	ck_assert_uint_eq(b.regs.selector, 0);
	ck_assert_int_eq(device_restore_one(&fw_cfg_device_ops, &b, w.data, 3), -EINVAL);
	state_writer_free(&w);
	fw_cfg_destroy(&a);
	fw_cfg_destroy(&b);
}
END_TEST

static uint64_t fake_ns;

static uint64_t fake_now(void)
{
	return fake_ns;
}

START_TEST(pm_timer_rate_and_restore)
{
	struct pm_timer a, b;
	struct state_writer w;

	fake_ns = 1000;
	pm_timer_init(&a, fake_now);
	ck_assert_uint_eq(rd32(pm_timer_io, &a, 0), 0);
	fake_ns += 1000000000ULL;
	ck_assert_uint_eq(rd32(pm_timer_io, &a, 0), ACPI_PM_TMR_HZ);
	/* After 2^32 ticks (about 20 minutes) the 32-bit count wraps. */
	fake_ns += 1200ULL * 1000000000ULL;
	ck_assert_uint_eq(rd32(pm_timer_io, &a, 0),
			  (uint32_t)(1201ULL * ACPI_PM_TMR_HZ));
	ck_assert_uint_eq(rd8(pm_timer_io, &a, 1), (uint8_t)((1201ULL * ACPI_PM_TMR_HZ) >> 8));
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&pm_timer_device_ops, &a, &w), 0);
	/* Restored later on another host clock: it runs on from the saved count. */
	fake_ns = 5;
	pm_timer_init(&b, fake_now);
	fake_ns = 777000000000ULL;
	ck_assert_int_eq(device_restore_one(&pm_timer_device_ops, &b, w.data, w.len), 0);
	ck_assert_uint_eq(rd32(pm_timer_io, &b, 0), (uint32_t)(1201ULL * ACPI_PM_TMR_HZ));
	fake_ns += 1000000;
	ck_assert_uint_eq(rd32(pm_timer_io, &b, 0),
			  (uint32_t)(1201ULL * ACPI_PM_TMR_HZ + ACPI_PM_TMR_HZ / 1000));
	ck_assert_int_eq(device_restore_one(&pm_timer_device_ops, &b, w.data, 3), -EINVAL);
	state_writer_free(&w);
}
END_TEST

static int levels[PC_TESTDEV_NR_IRQS];

static void set_line(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	levels[gsi] = level;
}

static void *flushed_opaque;
static uint64_t flushed_gpa;

static void flush(void *opaque, uint64_t gpa)
{
	flushed_opaque = opaque;
	flushed_gpa = gpa;
}

static struct pc_testdev *testdev_new(void)
{
	struct pc_testdev *d = malloc(sizeof(*d));
	struct irq_line irq[PC_TESTDEV_NR_IRQS];

	for (unsigned i = 0; i < PC_TESTDEV_NR_IRQS; i++)
		irq[i] = (struct irq_line){ set_line, NULL, i };
	pc_testdev_init(d, irq, flush, &flushed_gpa);
	return d;
}

START_TEST(pc_testdev_ports)
{
	struct pc_testdev *d = testdev_new();
	uint32_t v;

	memset(levels, 0, sizeof(levels));
	wr(pc_testdev_scratch_io, d, 0, 0x11223344, 4);
	ck_assert_uint_eq(rd32(pc_testdev_scratch_io, d, 0), 0x11223344);
	wr(pc_testdev_scratch_io, d, 3, 0xaa, 1);
	ck_assert_uint_eq(rd8(pc_testdev_scratch_io, d, 3), 0xaa);
	ck_assert_uint_eq(rd32(pc_testdev_scratch_io, d, 0), 0xaa223344);
	wr(pc_testdev_flush_io, d, 0, 0x123000, 4);
	ck_assert_ptr_eq(flushed_opaque, &flushed_gpa);
	ck_assert_uint_eq(flushed_gpa, 0x123000);
	wr(pc_testdev_irq_io, d, 23, 1, 1);
	ck_assert_int_eq(levels[23], 1);
	wr(pc_testdev_irq_io, d, 5, 7, 1);
	ck_assert_int_eq(levels[5], 1);
	wr(pc_testdev_irq_io, d, 5, 0, 1);
	ck_assert_int_eq(levels[5], 0);
	ck_assert_uint_eq(d->regs.irq_levels, 1u << 23);
	v = 0xfeedf00d;
	pc_testdev_mmio(d, PC_TESTDEV_MMIO_LEN - 4, (uint8_t *)&v, 4, true);
	v = 0;
	pc_testdev_mmio(d, PC_TESTDEV_MMIO_LEN - 4, (uint8_t *)&v, 4, false);
	ck_assert_uint_eq(v, 0xfeedf00d);
	/* Out of range: all-ones, nothing stored. */
	pc_testdev_mmio(d, PC_TESTDEV_MMIO_LEN - 2, (uint8_t *)&v, 4, false);
	ck_assert_uint_eq(v, 0xffffffff);
	pc_testdev_destroy(d);
	free(d);
}
END_TEST

START_TEST(pc_testdev_save_restore)
{
	struct pc_testdev *a = testdev_new(), *b = testdev_new();
	struct state_writer w;
	uint8_t m = 0x42;

	wr(pc_testdev_scratch_io, a, 0, 0xcafe, 4);
	wr(pc_testdev_irq_io, a, 9, 1, 1);
	pc_testdev_mmio(a, 100, &m, 1, true);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&pc_testdev_device_ops, a, &w), 0);
	memset(levels, 0, sizeof(levels));
	ck_assert_int_eq(device_restore_one(&pc_testdev_device_ops, b, w.data, w.len), 0);
	ck_assert_uint_eq(rd32(pc_testdev_scratch_io, b, 0), 0xcafe);
	ck_assert_int_eq(levels[9], 1);			/* the line is driven again */
	m = 0;
	pc_testdev_mmio(b, 100, &m, 1, false);
	ck_assert_uint_eq(m, 0x42);
	/* A level for a line that does not exist is refused, and the device powers on. */
	((uint8_t *)w.data)[7] = 0x80;
	ck_assert_int_eq(device_restore_one(&pc_testdev_device_ops, b, w.data, w.len), -EINVAL);
	ck_assert_uint_eq(rd32(pc_testdev_scratch_io, b, 0), 0);
	ck_assert_int_eq(levels[9], 0);
	pc_testdev_reset(a);
	ck_assert_uint_eq(rd32(pc_testdev_scratch_io, a, 0), 0);
	state_writer_free(&w);
	pc_testdev_destroy(a);
	pc_testdev_destroy(b);
	free(a);
	free(b);
}
END_TEST

static uint32_t io_rd(struct pci_bus *bus, uint16_t port, uint32_t len)
{
	uint32_t v = 0;

	pci_io_window_io(bus, port - PCI_IO_WINDOW_BASE, (uint8_t *)&v, len, false);
	return v;
}

static void io_wr(struct pci_bus *bus, uint16_t port, uint32_t v, uint32_t len)
{
	pci_io_window_io(bus, port - PCI_IO_WINDOW_BASE, (uint8_t *)&v, len, true);
}

START_TEST(pci_testdev_on_the_bus)
{
	struct pci_bus bus;
	struct pci_testdev *d = malloc(sizeof(*d)), *e = malloc(sizeof(*e));
	struct state_writer w;
	uint32_t off, data, v;
	char name[32];

	pci_bus_init(&bus);
	pci_testdev_init(d);
	ck_assert_int_eq(pci_bus_add(&bus, &d->fn), 1);
	ck_assert_uint_eq(pci_cfg_read16(&d->fn, PCI_CFG_VENDOR_ID), 0x1b36);
	ck_assert_uint_eq(pci_cfg_read16(&d->fn, PCI_CFG_DEVICE_ID), 0x0005);
	ck_assert_uint_eq(pci_cfg_read32(&d->fn, PCI_CFG_BAR0), (uint32_t)PCI_WINDOW_BASE);
	ck_assert_uint_eq(pci_cfg_read32(&d->fn, PCI_CFG_BAR0 + 4), PCI_IO_WINDOW_BASE | 1);
	ck_assert_uint_eq(pci_cfg_read16(&d->fn, PCI_CFG_COMMAND) & 3, PCI_CMD_IO | PCI_CMD_MEMORY);

	/* Test 2 on the I/O BAR: only the data byte it names counts. */
	io_wr(&bus, PCI_IO_WINDOW_BASE, 2, 1);
	ck_assert_uint_eq(io_rd(&bus, PCI_IO_WINDOW_BASE + 1, 1), 1);
	off = io_rd(&bus, PCI_IO_WINDOW_BASE + 4, 4);
	data = io_rd(&bus, PCI_IO_WINDOW_BASE + 8, 4);
	for (unsigned i = 0; i < sizeof(name); i++)
		name[i] = (char)io_rd(&bus, (uint16_t)(PCI_IO_WINDOW_BASE + 16 + i), 1);
	ck_assert_str_eq(name, "portio-datamatch-eventfd");
	io_wr(&bus, (uint16_t)(PCI_IO_WINDOW_BASE + off), data, 1);
	io_wr(&bus, (uint16_t)(PCI_IO_WINDOW_BASE + off), data ^ 1, 1);
	io_wr(&bus, (uint16_t)(PCI_IO_WINDOW_BASE + off), data, 1);
	ck_assert_uint_eq(io_rd(&bus, PCI_IO_WINDOW_BASE + 12, 4), 2);
	/* The memory BAR has its own selection: test 3 does not exist (width 0). */
	v = 3;
	pci_window_io(&bus, 0, (uint8_t *)&v, 1, true);
	v = 0xff;
	pci_window_io(&bus, 1, (uint8_t *)&v, 1, false);
	ck_assert_uint_eq(v & 0xff, 0);

	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&pci_testdev_device_ops, d, &w), 0);

	/* I/O space off: the BAR stops decoding. */
	pci_cfg_write16(&d->fn, PCI_CFG_COMMAND, PCI_CMD_MEMORY);
	pci_config_access(&bus, 1, 0, PCI_CFG_COMMAND, (uint8_t[]){ PCI_CMD_MEMORY, 0 }, 2, true);
	ck_assert_uint_eq(io_rd(&bus, PCI_IO_WINDOW_BASE + 12, 4), 0xffffffff);
	pci_bus_destroy(&bus);

	/* The record restores into a device on another bus, counts and selection included. */
	pci_bus_init(&bus);
	pci_testdev_init(e);
	ck_assert_int_eq(pci_bus_add(&bus, &e->fn), 1);
	ck_assert_int_eq(device_restore_one(&pci_testdev_device_ops, e, w.data, w.len), 0);
	ck_assert_uint_eq(io_rd(&bus, PCI_IO_WINDOW_BASE + 12, 4), 2);
	ck_assert_uint_eq(io_rd(&bus, PCI_IO_WINDOW_BASE, 1), 2);
	ck_assert_int_eq(device_restore_one(&pci_testdev_device_ops, e, w.data, w.len - 1), -EINVAL);
	state_writer_free(&w);
	pci_testdev_destroy(d);
	pci_testdev_destroy(e);
	pci_bus_destroy(&bus);
	free(d);
	free(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pcdevs");
	TCase *tc = tcase_create("pcdevs");

	tcase_add_test(tc, fw_cfg_items);
	tcase_add_test(tc, fw_cfg_save_restore);
	tcase_add_test(tc, pm_timer_rate_and_restore);
	tcase_add_test(tc, pc_testdev_ports);
	tcase_add_test(tc, pc_testdev_save_restore);
	tcase_add_test(tc, pci_testdev_on_the_bus);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
