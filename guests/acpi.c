/*
 * ACPI as a guest sees it: finds the RSDP by the legacy scan of the BIOS area,
 * checks every table's checksum and the PM timer's FADT fields, counts the
 * MADT's LAPICs against expect_cpus= and its PCAT_COMPAT flag against expect_pic=
 * (default 1), finds \_S5 in the DSDT, then powers off through the FADT's
 * PM1a control register (or resets through its reset register: mode=reset).
 */
#include "guest.h"

struct sdt {
	char sig[4];
	uint32_t len;
	uint8_t rev, csum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static uint8_t sum(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

static const struct sdt *table(uint64_t addr, const char *sig)
{
	const struct sdt *t = (const struct sdt *)addr;

	check(addr && !strncmp(t->sig, sig, 4), "no %s table at 0x%lx", sig, addr);
	check(t->len >= 36 && t->len < 65536, "%s length %u", sig, t->len);
	/* The FACS is the one table without a checksum. */
	check(!strcmp(sig, "FACS") || sum(t, t->len) == 0, "%s checksum is off", sig);
	printf("acpi: %s at 0x%lx, %u bytes\n", sig, addr, t->len);
	return t;
}

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

void test_main(void)
{
	const uint8_t *rsdp = NULL, *fadt = NULL, *madt = NULL, *p;
	const struct sdt *xsdt, *dsdt;
	uint64_t expect = 1, expect_pic = 1;
	unsigned cpus = 0, ioapics = 0;
	char mode[16] = "poweroff";

	cmdline_u64("expect_cpus", &expect);
	cmdline_u64("expect_pic", &expect_pic);
	cmdline_get("mode", mode, sizeof(mode));
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (!strncmp((const char *)a, "RSD PTR ", 8)) {
			rsdp = (const uint8_t *)a;
			break;
		}
	check(rsdp, "no RSDP in the BIOS area");
	check(sum(rsdp, 20) == 0 && sum(rsdp, 36) == 0 && rsdp[15] >= 2, "bad RSDP");
	xsdt = table(rd64(rsdp + 24), "XSDT");
	for (uint32_t off = sizeof(*xsdt); off + 8 <= xsdt->len; off += 8) {
		uint64_t a = rd64((const uint8_t *)xsdt + off);

		if (!strncmp((const char *)a, "FACP", 4))
			fadt = (const uint8_t *)table(a, "FACP");
		else if (!strncmp((const char *)a, "APIC", 4))
			madt = (const uint8_t *)table(a, "APIC");
	}
	check(fadt && madt, "XSDT lacks the FADT or the MADT");
	dsdt = table(rd64(fadt + 140), "DSDT");
	table(rd64(fadt + 132), "FACS");
	p = (const uint8_t *)dsdt;
	bool s5 = false;
	for (uint32_t i = sizeof(*dsdt); i + 4 <= dsdt->len; i++)
		if (!strncmp((const char *)p + i, "_S5_", 4))
			s5 = true;
	check(s5, "DSDT has no \\_S5");

	/* The PM timer: 4 ports, 32 bits (TMR_VAL_EXT), the same port in the X_ field. */
	uint32_t pmtmr = rd32(fadt + 76);

	check(pmtmr && fadt[91] == 4, "FADT PM timer at 0x%x, %u ports", pmtmr, fadt[91]);
	check(rd32(fadt + 112) & (1u << 8), "FADT: the PM timer is not 32 bits (TMR_VAL_EXT)");
	check(fadt[208] == 1 && rd64(fadt + 212) == pmtmr, "X_PM_TMR_BLK differs from PM_TMR_BLK");
	printf("acpi: PM timer at port 0x%x\n", pmtmr);

	for (uint32_t off = 44; off + 2 <= ((const struct sdt *)madt)->len; off += madt[off + 1]) {
		check(madt[off + 1] >= 2, "MADT entry of length %u", madt[off + 1]);
		if (madt[off] == 0 && (rd32(madt + off + 4) & 1)) {
			check(madt[off + 3] == cpus, "LAPIC %u has APIC id %u", cpus, madt[off + 3]);
			cpus++;
		} else if (madt[off] == 1) {
			ioapics++;
		}
	}
	printf("acpi: %u LAPICs, %u IOAPIC\n", cpus, ioapics);
	check(cpus == expect, "MADT lists %u CPUs, expected %lu", cpus, expect);
	check(ioapics == 1, "MADT lists %u IOAPICs", ioapics);
	/* PCAT_COMPAT: 8259 PICs beside the IOAPIC (none with the split irqchip). */
	check((rd32(madt + 40) & 1) == expect_pic, "MADT flags 0x%x, expected PCAT_COMPAT %lu",
	      rd32(madt + 40), expect_pic);

	if (!strcmp(mode, "reset")) {
		uint16_t port = (uint16_t)rd64(fadt + 116 + 4);

		check(fadt[116] == 1, "reset register is not in I/O space");
		printf("acpi: reset through port 0x%x\n", port);
		outb(port, fadt[128]);
	} else {
		uint16_t pm1a = (uint16_t)rd32(fadt + 64);

		check(inw(pm1a) & 1, "SCI_EN is clear: not in ACPI mode");
		printf("acpi: power off through PM1a_CNT 0x%x\n", pm1a);
		outw(pm1a, (uint16_t)((5 << 10) | (1 << 13)));
	}
	for (volatile unsigned i = 0; i < 100000; i++)
		pause();
	fail("still running after the %s request", mode);
}
