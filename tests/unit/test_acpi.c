/* ACPI tables as built for the guest, and the PM1a / reset registers behind them. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "kvmrun/acpi.h"
#include "kvmrun/devices.h"
#include "kvmrun/pci.h"

static struct guest_mem mem;

static void setup(void)
{
	ck_assert_int_eq(guest_mem_init(&mem, 16 << 20, false, HUGEPAGES_NONE), 0);
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* The table at addr, checked for signature, sane length and checksum. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
	const uint8_t *t = guest_mem_ptr(&mem, addr, 36);
	uint32_t len;

	ck_assert_ptr_nonnull(t);
	ck_assert_mem_eq(t, sig, 4);
	len = r32(t + 4);
	ck_assert_uint_ge(len, 36);
	ck_assert_ptr_nonnull(guest_mem_ptr(&mem, addr, len));
	ck_assert_uint_eq(acpi_sum(t, len), 0);
	return t;
}

static const uint8_t *find(const uint8_t *xsdt, const char *sig)
{
	for (uint32_t off = 36; off < r32(xsdt + 4); off += 8) {
		const uint8_t *t = guest_mem_ptr(&mem, r64(xsdt + off), 4);

		if (!memcmp(t, sig, 4))
			return table(r64(xsdt + off), sig);
	}
	ck_abort_msg("no %s in the XSDT", sig);
	return NULL;
}

/* Linux's acpi_pci_irq_find_prt_entry reads these: Package (4) { slot << 16 | 0xffff, pin, 0, GSI }. */
static unsigned count_prt(const uint8_t *dsdt)
{
	uint32_t len = r32(dsdt + 4);
	const uint8_t *prt = memmem(dsdt, len, "_PRT", 4);
	unsigned n = 0;

	ck_assert_ptr_nonnull(prt);
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		/* 0x12 PkgLength(1) NumElements(4) DWordConst address ZeroOp ZeroOp ByteConst GSI */
		uint8_t want[] = { 0x12, 11, 4, 0x0c, 0xff, 0xff, (uint8_t)slot, 0, 0, 0, 0x0a,
				   (uint8_t)pci_intx_gsi(slot) };

		if (memmem(prt, len - (size_t)(prt - dsdt), want, sizeof(want)))
			n++;
	}
	return n;
}

static void check_pci(const uint8_t *xsdt, const uint8_t *dsdt)
{
	const uint8_t *mcfg = find(xsdt, "MCFG");
	uint32_t len = r32(dsdt + 4);
	const uint8_t pnp0a08[4] = { 0x41, 0xd0, 0x0a, 0x08 }, pnp0c02[4] = { 0x41, 0xd0, 0x0c, 0x02 };
	uint8_t cba[9] = { 0x0e }, ecam_res[12] = { 0x86, 0x09, 0x00, 0x01 };
	uint8_t qword[14] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07 };
	uint64_t win64 = pci_window64_base(&mem);

	/* One ECAM allocation: base, segment 0, buses 0-0. */
	ck_assert_uint_eq(r32(mcfg + 4), 60);
	ck_assert_uint_eq(r64(mcfg + 44), PCI_ECAM_BASE);
	ck_assert_uint_eq(mcfg[52] | mcfg[53] << 8, 0);
	ck_assert_uint_eq(mcfg[54], 0);
	ck_assert_uint_eq(mcfg[55], 0);
	/* PNP0A08 (PCIe) with _CBA at the same ECAM; that ECAM reserved by a PNP0C02. */
	ck_assert_ptr_nonnull(memmem(dsdt, len, pnp0a08, 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, pnp0c02, 4));
	memcpy(cba + 1, &(uint64_t){ PCI_ECAM_BASE }, 8);
	ck_assert_ptr_nonnull(memmem(dsdt, len, cba, sizeof(cba)));
	memcpy(ecam_res + 4, &(uint32_t){ (uint32_t)PCI_ECAM_BASE }, 4);
	memcpy(ecam_res + 8, &(uint32_t){ (uint32_t)PCI_ECAM_SIZE }, 4);
	ck_assert_ptr_nonnull(memmem(dsdt, len, ecam_res, sizeof(ecam_res)));
	/* The 64-bit window above RAM and 4 GiB, prefetchable, as a QWordMemory producer. */
	ck_assert_uint_ge(win64, 0x100000000ULL);
	memcpy(qword + 14 - 8, &(uint64_t){ 0 }, 8);	/* granularity */
	const uint8_t *q = memmem(dsdt, len, qword, 14);

	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(r64(q + 14), win64);
	ck_assert_uint_eq(r64(q + 22), win64 + PCI_WINDOW64_SIZE - 1);
	ck_assert_uint_eq(r64(q + 38), PCI_WINDOW64_SIZE);
	/* Pin A of every slot 1-31. */
	ck_assert_uint_eq(count_prt(dsdt), PCI_MAX_SLOTS - 1);
}

START_TEST(tables_are_consistent)
{
	unsigned cpus = (unsigned)_i;
	uint64_t rsdp_addr = acpi_build(&mem, cpus, (1u << 5) | (1u << 10), true, true, NULL);
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt, *facs;
	unsigned lapics = 0, ioapics = 0, level = 0;

	ck_assert_uint_eq(rsdp_addr, ACPI_RSDP_ADDR);
	rsdp = guest_mem_ptr(&mem, rsdp_addr, 36);
	ck_assert_mem_eq(rsdp, "RSD PTR ", 8);
	ck_assert_uint_eq(acpi_sum(rsdp, 20), 0);
	ck_assert_uint_eq(acpi_sum(rsdp, 36), 0);
	ck_assert_uint_eq(rsdp[15], 2);
	xsdt = table(r64(rsdp + 24), "XSDT");
	ck_assert_uint_eq(r32(xsdt + 4), 36 + 3 * 8);	/* FADT, MADT, MCFG */
	fadt = find(xsdt, "FACP");
	madt = find(xsdt, "APIC");
	ck_assert_uint_eq(r32(fadt + 4), 276);
	ck_assert_uint_eq(r32(fadt + 64), ACPI_PM1_CNT);		/* PM1a_CNT_BLK */
	ck_assert_uint_eq(fadt[89], 2);
	ck_assert_uint_eq(r32(fadt + 48), 0);			/* no SMI_CMD */
	ck_assert_uint_eq(r64(fadt + 116 + 4), ACPI_RESET_PORT);	/* RESET_REG */
	ck_assert_uint_eq(fadt[128], ACPI_RESET_VALUE);
	ck_assert(r32(fadt + 112) & (1u << 10));		/* RESET_REG_SUP */
	ck_assert(!(r32(fadt + 112) & (1u << 4)));		/* a fixed power button */
	ck_assert(!(r32(fadt + 112) & (1u << 20)));		/* not hardware-reduced */
	dsdt = table(r64(fadt + 140), "DSDT");
	ck_assert_uint_eq(r32(fadt + 40), r64(fadt + 140));
	ck_assert_ptr_nonnull(memmem(dsdt, r32(dsdt + 4), "_S5_", 4));
	/* \_S3's package: SLP_TYP 1 for PM1a and PM1b. */
	ck_assert_ptr_nonnull(memmem(dsdt, r32(dsdt + 4),
				     "_S3_\x12\x08\x04\x0a\x01\x0a\x01\x00\x00", 13));
	check_pci(xsdt, dsdt);
	facs = guest_mem_ptr(&mem, r64(fadt + 132), 64);
	ck_assert_mem_eq(facs, "FACS", 4);
	ck_assert_uint_eq(r64(fadt + 132) % 64, 0);

	for (uint32_t off = 44; off < r32(madt + 4); off += madt[off + 1]) {
		ck_assert_uint_ge(madt[off + 1], 2);
		if (madt[off] == 0) {
			ck_assert_uint_eq(madt[off + 3], lapics);	/* APIC id = vCPU index */
			ck_assert_uint_eq(r32(madt + off + 4) & 1, 1);
			lapics++;
		} else if (madt[off] == 1) {
			ck_assert_uint_eq(r32(madt + off + 4), IOAPIC_ADDR);
			ioapics++;
		} else if (madt[off] == 2) {
			/* SCI (9) and the two requested lines: level, active high, GSI = IRQ. */
			ck_assert(madt[off + 3] == 9 || madt[off + 3] == 5 || madt[off + 3] == 10);
			ck_assert_uint_eq(r32(madt + off + 4), madt[off + 3]);
			ck_assert_uint_eq(madt[off + 8], 0x0d);
			level++;
		}
	}
	ck_assert_uint_eq(lapics, cpus);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(level, 3);
	ck_assert_uint_eq(r32(madt + 36), LAPIC_ADDR);
	ck_assert_uint_eq(r32(madt + 40), 1);			/* PCAT_COMPAT: PICs there */
	/* Everything stays inside the BIOS area. */
	ck_assert_uint_le(r64(rsdp + 24) + r32(xsdt + 4), ACPI_TABLES_END);
}
END_TEST

/* The split irqchip's machine: no PICs, so no PCAT_COMPAT; the IOAPIC and the SCI stay. */
START_TEST(madt_without_pic)
{
	const uint8_t *madt;
	unsigned ioapics = 0, sci = 0;

	ck_assert_uint_eq(acpi_build(&mem, 2, 0, false, false, NULL), ACPI_RSDP_ADDR);
	madt = find(table(r64(guest_mem_ptr(&mem, ACPI_RSDP_ADDR, 36) + 24), "XSDT"), "APIC");
	ck_assert_uint_eq(r32(madt + 40), 0);
	for (uint32_t off = 44; off < r32(madt + 4); off += madt[off + 1]) {
		ioapics += madt[off] == 1;
		sci += madt[off] == 2 && madt[off + 3] == 9;
	}
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(sci, 1);
	ck_assert_uint_eq(acpi_sum(madt, r32(madt + 4)), 0);
}
END_TEST

static uint16_t pm_read16(struct acpi_pm *pm, unsigned off)
{
	uint8_t d[2];

	acpi_pm_io(pm, off, d, 2, false);
	return (uint16_t)(d[0] | d[1] << 8);
}

static void pm_write16(struct acpi_pm *pm, unsigned off, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	acpi_pm_io(pm, off, d, 2, true);
}

/* The waking vector the guest writes into the FACS is what S3 resumes at. */
START_TEST(facs_waking_vector)
{
	uint32_t v = 1, want = 0x1000;
	uint64_t xv = 1, facs;
	uint8_t junk[4] = "XXXX";

	ck_assert_uint_eq(acpi_build(&mem, 1, 0, false, true, NULL), ACPI_RSDP_ADDR);
	ck_assert_int_eq(acpi_facs_waking_vector(&mem, &v, &xv), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(xv, 0);
	facs = r64(find(table(r64(guest_mem_ptr(&mem, ACPI_RSDP_ADDR, 36) + 24), "XSDT"), "FACP") + 132);
	ck_assert_int_eq(guest_mem_write(&mem, facs + 12, &want, 4), 0);
	ck_assert_int_eq(acpi_facs_waking_vector(&mem, &v, &xv), 0);
	ck_assert_uint_eq(v, 0x1000);
	/* A FACS the guest overwrote is no FACS. */
	ck_assert_int_eq(guest_mem_write(&mem, facs, junk, 4), 0);
	ck_assert_int_eq(acpi_facs_waking_vector(&mem, &v, &xv), -EINVAL);
}
END_TEST

START_TEST(pm_poweroff_and_reset)
{
	struct vm_stop stop;
	struct acpi_pm pm;
	uint8_t b;

	ck_assert_int_eq(vm_stop_init(&stop), 0);
	acpi_pm_init(&pm, &stop);
	ck_assert_uint_eq(pm_read16(&pm, 4) & 1, 1);		/* SCI_EN: ACPI mode */
	pm_write16(&pm, 4, (3 << 10) | (1 << 13));		/* S3: not supported, ignored */
	ck_assert(!vm_stop_requested(&stop));
	pm_write16(&pm, 4, 5 << 10);				/* S5 without SLP_EN */
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(pm_read16(&pm, 4) & (1 << 13), 0);	/* SLP_EN reads 0 */
	pm_write16(&pm, 4, (5 << 10) | (1 << 13));
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_POWEROFF);
	acpi_pm_destroy(&pm);
	vm_stop_destroy(&stop);

	ck_assert_int_eq(vm_stop_init(&stop), 0);
	acpi_pm_init(&pm, &stop);
	b = 0x02;
	acpi_pm_io(&pm, 6, &b, 1, true);
	ck_assert(!vm_stop_requested(&stop));
	b = ACPI_RESET_VALUE;
	acpi_pm_io(&pm, 6, &b, 1, true);
	ck_assert_int_eq(stop.reason, STOP_RESET);
	/* Enable register keeps what is written; status bits are write-1-to-clear. */
	pm_write16(&pm, 2, 0x0120);
	ck_assert_uint_eq(pm_read16(&pm, 2), 0x0120);
	pm.regs.pm1_sts = 0x8001;
	pm_write16(&pm, 0, 0x0001);
	ck_assert_uint_eq(pm_read16(&pm, 0), 0x8000);
	acpi_pm_destroy(&pm);
	vm_stop_destroy(&stop);
}
END_TEST

/* A DMAR table for a VT-d unit: one DRHD, INCLUDE_PCI_ALL clear, the scopes given. */
START_TEST(dmar_table)
{
	struct machine_dmar d = {
		.base = 0xfed90000, .intremap = true, .ioapic_bus = 0, .ioapic_devfn = 0xf8,
		.nr_devs = 2, .devfn = { 0x08, 0x11 },
	};
	const uint8_t *xsdt, *dmar, *drhd, *sc;

	xsdt = table(r64(guest_mem_ptr(&mem, acpi_build(&mem, 2, 0, true, true, &d), 36) + 24), "XSDT");
	ck_assert_uint_eq(r32(xsdt + 4), 36 + 4 * 8);	/* FADT, MADT, MCFG, DMAR */
	dmar = find(xsdt, "DMAR");
	ck_assert_uint_eq(dmar[36], 47);			/* host address width - 1 */
	ck_assert_uint_eq(dmar[37], 0x3);			/* INTR_REMAP, X2APIC_OPT_OUT */
	drhd = dmar + 48;
	ck_assert_uint_eq(drhd[0] | drhd[1] << 8, 0);		/* DRHD */
	ck_assert_uint_eq(drhd[2] | drhd[3] << 8, 16 + 3 * 8);
	ck_assert_uint_eq(r32(dmar + 4), 48 + 16 + 3 * 8);
	ck_assert_uint_eq(drhd[4] & 1, 0);			/* INCLUDE_PCI_ALL clear */
	ck_assert_uint_eq(r64(drhd + 8), 0xfed90000);
	sc = drhd + 16;
	ck_assert_uint_eq(sc[0], 1);				/* PCI endpoint 00:01.0 */
	ck_assert_uint_eq(sc[1], 8);
	ck_assert_uint_eq(sc[6], 1);
	ck_assert_uint_eq(sc[7], 0);
	ck_assert_uint_eq(sc[8 + 6], 2);			/* 00:02.1 */
	ck_assert_uint_eq(sc[8 + 7], 1);
	ck_assert_uint_eq(sc[16], 3);				/* IOAPIC 0 at 00:1f.0 */
	ck_assert_uint_eq(sc[16 + 4], 0);
	ck_assert_uint_eq(sc[16 + 6], 0x1f);
	/* Without interrupt remapping: no flag, no IOAPIC scope. */
	d.intremap = false;
	d.nr_devs = 1;
	xsdt = table(r64(guest_mem_ptr(&mem, acpi_build(&mem, 2, 0, false, true, &d), 36) + 24), "XSDT");
	ck_assert_uint_eq(r32(xsdt + 4), 36 + 3 * 8);	/* FADT, MADT, DMAR */
	dmar = find(xsdt, "DMAR");
	ck_assert_uint_eq(dmar[37], 0);
	ck_assert_uint_eq(r32(dmar + 4), 48 + 16 + 8);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, tables_are_consistent, 1, 5);
	tcase_add_loop_test(tc, tables_are_consistent, 255, 256);
	tcase_add_test(tc, pm_poweroff_and_reset);
	tcase_add_test(tc, facs_waking_vector);
	tcase_add_test(tc, dmar_table);
	tcase_add_test(tc, madt_without_pic);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
