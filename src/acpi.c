/*
 * ACPI 6.x tables, written field by field into a buffer and copied into guest
 * memory.  Offsets and values follow the ACPI specification's table layouts.
 */
#include <string.h>

#include "kvmrun/acpi.h"
#include "kvmrun/config.h"

#define OEM_ID		"KVMRUN"
#define OEM_TABLE_ID	"KVMRUNVM"
#define CREATOR_ID	"KVMR"

struct tbuf {
	uint8_t b[4096];
	size_t len;
};

static void put(struct tbuf *t, size_t off, const void *p, size_t n)
{
	memcpy(t->b + off, p, n);
	if (off + n > t->len)
		t->len = off + n;
}

static void put8(struct tbuf *t, size_t off, uint8_t v) { put(t, off, &v, 1); }
static void put16(struct tbuf *t, size_t off, uint16_t v) { put(t, off, &v, 2); }
static void put32(struct tbuf *t, size_t off, uint32_t v) { put(t, off, &v, 4); }
static void put64(struct tbuf *t, size_t off, uint64_t v) { put(t, off, &v, 8); }

uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

/* The 36-byte header every system description table starts with. */
static void header(struct tbuf *t, const char sig[4], uint8_t rev)
{
	memset(t, 0, sizeof(*t));
	put(t, 0, sig, 4);
	put8(t, 8, rev);
	put(t, 10, OEM_ID, 6);
	put(t, 16, OEM_TABLE_ID, 8);
	put32(t, 24, 1);		/* OEM revision */
	put(t, 28, CREATOR_ID, 4);
	put32(t, 32, 1);		/* creator revision */
	t->len = 36;
}

static void finish(struct tbuf *t)
{
	put32(t, 4, (uint32_t)t->len);
	t->b[9] = 0;
	t->b[9] = (uint8_t)-acpi_sum(t->b, t->len);
}

/* Generic Address Structure for a port in system I/O space. */
static void gas_io(struct tbuf *t, size_t off, uint16_t port, uint8_t bits)
{
	put8(t, off, 1);		/* system I/O */
	put8(t, off + 1, bits);
	put8(t, off + 2, 0);
	put8(t, off + 3, bits <= 8 ? 1 : bits <= 16 ? 2 : 3);	/* access size */
	put64(t, off + 4, port);
}

static void build_dsdt(struct tbuf *t)
{
	/* Name (_S5, Package (4) { 5, 5, 0, 0 }): the SLP_TYP values for soft-off. */
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
		0x0a, ACPI_S5_TYPE, 0x0a, ACPI_S5_TYPE, 0x00, 0x00,
	};

	header(t, "DSDT", 2);
	put(t, 36, s5, sizeof(s5));
	finish(t);
}

static void build_facs(struct tbuf *t)
{
	memset(t, 0, sizeof(*t));
	put(t, 0, "FACS", 4);
	put32(t, 4, 64);
	put8(t, 32, 2);			/* version */
	t->len = 64;
}

#define FADT_LEN		276
#define FADT_F_WBINVD		(1u << 0)
#define FADT_F_PROC_C1		(1u << 2)
#define FADT_F_PWR_BUTTON	(1u << 4)	/* set: no fixed power button */
#define FADT_F_SLP_BUTTON	(1u << 5)	/* set: no fixed sleep button */
#define FADT_F_RESET_REG_SUP	(1u << 10)
#define BOOT_ARCH_8042		(1u << 1)
#define BOOT_ARCH_NO_VGA	(1u << 2)

static void build_fadt(struct tbuf *t, uint64_t facs, uint64_t dsdt)
{
	header(t, "FACP", 6);
	put32(t, 36, (uint32_t)facs);
	put32(t, 40, (uint32_t)dsdt);
	put8(t, 45, 0);				/* preferred PM profile: unspecified */
	put16(t, 46, ACPI_SCI_IRQ);
	put32(t, 48, 0);			/* no SMI command port: always in ACPI mode */
	put32(t, 56, ACPI_PM1_EVT);
	put32(t, 64, ACPI_PM1_CNT);
	put8(t, 88, 4);				/* PM1_EVT_LEN */
	put8(t, 89, 2);				/* PM1_CNT_LEN */
	put16(t, 96, 0xffff);			/* P_LVL2_LAT: no C2 */
	put16(t, 98, 0xffff);			/* P_LVL3_LAT: no C3 */
	put8(t, 108, 0x32);			/* CENTURY register in CMOS */
	put16(t, 109, BOOT_ARCH_8042 | BOOT_ARCH_NO_VGA);
	put32(t, 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON |
		      FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
	gas_io(t, 116, ACPI_RESET_PORT, 8);
	put8(t, 128, ACPI_RESET_VALUE);
	put8(t, 131, 4);			/* FADT minor version (6.4) */
	put64(t, 132, facs);			/* X_FIRMWARE_CTRL */
	put64(t, 140, dsdt);			/* X_DSDT */
	gas_io(t, 148, ACPI_PM1_EVT, 32);	/* X_PM1a_EVT_BLK */
	gas_io(t, 172, ACPI_PM1_CNT, 16);	/* X_PM1a_CNT_BLK */
	t->len = FADT_LEN;
	finish(t);
}

#define MADT_PCAT_COMPAT	1
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_INT_OVERRIDE	2
#define MADT_LAPIC_NMI		4
#define MPS_ACTIVE_HIGH		0x1
#define MPS_LEVEL		0xc

static size_t level_override(struct tbuf *t, size_t off, unsigned irq)
{
	put8(t, off, MADT_INT_OVERRIDE);
	put8(t, off + 1, 10);
	put8(t, off + 2, 0);			/* ISA bus */
	put8(t, off + 3, (uint8_t)irq);
	put32(t, off + 4, irq);			/* same GSI: KVM's IOAPIC pins follow ISA IRQs */
	put16(t, off + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);
	return off + 10;
}

static int build_madt(struct tbuf *t, unsigned nr_cpus, uint32_t level_irqs)
{
	size_t off = 44;

	header(t, "APIC", 5);
	put32(t, 36, (uint32_t)LAPIC_ADDR);
	put32(t, 40, MADT_PCAT_COMPAT);
	if (off + nr_cpus * 8 + 12 + 10 * 17 + 6 > sizeof(t->b))
		return -1;
	for (unsigned i = 0; i < nr_cpus; i++, off += 8) {
		put8(t, off, MADT_LAPIC);
		put8(t, off + 1, 8);
		put8(t, off + 2, (uint8_t)i);	/* ACPI processor UID */
		put8(t, off + 3, (uint8_t)i);	/* APIC id */
		put32(t, off + 4, 1);		/* enabled */
	}
	put8(t, off, MADT_IOAPIC);
	put8(t, off + 1, 12);
	put8(t, off + 2, 0);			/* IOAPIC id */
	put32(t, off + 4, (uint32_t)IOAPIC_ADDR);
	put32(t, off + 8, 0);			/* GSI base */
	off += 12;
	/* The SCI and virtio-mmio lines are level triggered, active high. */
	off = level_override(t, off, ACPI_SCI_IRQ);
	for (unsigned irq = 0; irq < 16; irq++)
		if ((level_irqs & (1u << irq)) && irq != ACPI_SCI_IRQ)
			off = level_override(t, off, irq);
	put8(t, off, MADT_LAPIC_NMI);
	put8(t, off + 1, 6);
	put8(t, off + 2, 0xff);			/* all processors */
	put16(t, off + 3, 0);
	put8(t, off + 5, 1);			/* LINT1 */
	off += 6;
	t->len = off;
	finish(t);
	return 0;
}

/* Copies a table to *addr (16-byte aligned) and advances it. */
static int place(struct guest_mem *mem, uint64_t *addr, const struct tbuf *t, uint64_t *at)
{
	*at = *addr;
	if (*addr + t->len > ACPI_TABLES_END || guest_mem_write(mem, *addr, t->b, t->len))
		return -1;
	*addr = (*addr + t->len + 15) & ~15ULL;
	return 0;
}

uint64_t acpi_build(struct guest_mem *mem, unsigned nr_cpus, uint32_t level_irqs)
{
	static struct tbuf t;	/* 4 KiB: keep it off the stack */
	uint64_t next = ACPI_RSDP_ADDR + 64, dsdt, facs, fadt, madt, xsdt;
	uint8_t rsdp[36];

	build_dsdt(&t);
	if (place(mem, &next, &t, &dsdt))
		return 0;
	build_facs(&t);
	next = (next + 63) & ~63ULL;	/* the FACS is 64-byte aligned */
	if (place(mem, &next, &t, &facs))
		return 0;
	build_fadt(&t, facs, dsdt);
	if (place(mem, &next, &t, &fadt))
		return 0;
	if (build_madt(&t, nr_cpus, level_irqs) || place(mem, &next, &t, &madt))
		return 0;
	header(&t, "XSDT", 1);
	put64(&t, 36, fadt);
	put64(&t, 44, madt);
	finish(&t);
	if (place(mem, &next, &t, &xsdt))
		return 0;

	memset(rsdp, 0, sizeof(rsdp));
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	rsdp[15] = 2;				/* revision: ACPI 2.0+ */
	memcpy(rsdp + 24, &xsdt, 8);
	rsdp[20] = 36;				/* length */
	rsdp[8] = (uint8_t)-acpi_sum(rsdp, 20);
	rsdp[32] = (uint8_t)-acpi_sum(rsdp, 36);
	if (guest_mem_write(mem, ACPI_RSDP_ADDR, rsdp, sizeof(rsdp)))
		return 0;
	return ACPI_RSDP_ADDR;
}
