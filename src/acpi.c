/*
 * ACPI 6.x tables, written field by field into a buffer and copied into guest
 * memory.  Offsets and values follow the ACPI specification's table layouts.
 */
#include <errno.h>
#include <string.h>

#include "kvmrun/acpi.h"
#include "kvmrun/config.h"
#include "kvmrun/pci.h"

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

int acpi_facs_waking_vector(const struct guest_mem *mem, uint32_t *vector, uint64_t *x_vector)
{
	uint64_t xsdt = 0, fadt = 0, facs = 0;
	char sig[4];

	/* The guest may have written over any of it: every step is read back and checked. */
	if (guest_mem_read(mem, ACPI_RSDP_ADDR + 24, &xsdt, 8) ||
	    guest_mem_read(mem, xsdt, sig, 4) || memcmp(sig, "XSDT", 4) ||
	    guest_mem_read(mem, xsdt + 36, &fadt, 8) ||
	    guest_mem_read(mem, fadt, sig, 4) || memcmp(sig, "FACP", 4) ||
	    guest_mem_read(mem, fadt + 132, &facs, 8) ||
	    guest_mem_read(mem, facs, sig, 4) || memcmp(sig, "FACS", 4) ||
	    guest_mem_read(mem, facs + 12, vector, 4) ||
	    guest_mem_read(mem, facs + 24, x_vector, 8))
		return -EINVAL;
	return 0;
}

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

/* ---- AML (ACPI 6.4, 20.2), just what the DSDT below needs ---- */

struct aml {
	uint8_t b[2048];
	size_t len;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->len + n <= sizeof(a->b))
		memcpy(a->b + a->len, p, n);
	a->len += n;	/* past the end: caught by aml_ok() */
}

static void aml_byte(struct aml *a, uint8_t v) { aml_bytes(a, &v, 1); }

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

static bool aml_ok(const struct aml *a) { return a->len <= sizeof(a->b); }

/* Appends op, a PkgLength covering what follows it, and body (20.2.4). */
static void aml_package(struct aml *a, const uint8_t *op, size_t oplen, const struct aml *body)
{
	size_t n = body->len + 1;

	aml_bytes(a, op, oplen);
	if (n < 64) {
		aml_byte(a, (uint8_t)n);
	} else {
		n = body->len + 2;	/* two PkgLength bytes cover up to 4095 */
		aml_byte(a, (uint8_t)(0x40 | (n & 0xf)));
		aml_byte(a, (uint8_t)(n >> 4));
	}
	aml_bytes(a, body->b, body->len);
}

static void aml_integer(struct aml *a, uint32_t v)
{
	if (v <= 1) {
		aml_byte(a, (uint8_t)v);	/* ZeroOp, OneOp */
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		aml_byte(a, (uint8_t)v);
	} else {
		aml_byte(a, 0x0c);
		aml_le(a, v, 4);
	}
}

/* Package (n) { ... } whose elements body holds. */
static void aml_pkg(struct aml *a, uint8_t n, const struct aml *elements)
{
	static const uint8_t package_op = 0x12;
	struct aml body = { .len = 0 };

	aml_byte(&body, n);
	aml_bytes(&body, elements->b, elements->len);
	aml_package(a, &package_op, 1, &body);
}

/* Name (NAME, integer) */
static void aml_name_int(struct aml *a, const char name[4], uint32_t v)
{
	aml_byte(a, 0x08);
	aml_bytes(a, name, 4);
	aml_integer(a, v);
}

/* "PNP0A03" as the 32-bit compressed EISA id the _HID integer holds. */
static uint32_t eisa_id(const char id[7])
{
	uint16_t vendor = (uint16_t)(((id[0] - 0x40) & 0x1f) << 10 |
				     ((id[1] - 0x40) & 0x1f) << 5 | ((id[2] - 0x40) & 0x1f));
	uint32_t product = 0;

	for (int i = 3; i < 7; i++)
		product = product << 4 | (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	/* Stored big-endian: vendor bytes, then product bytes. */
	return (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xff) << 8 |
	       (product >> 8 & 0xff) << 16 | (product & 0xff) << 24;
}

/* Word (0x88) or DWord (0x87) address space descriptor: a producer, min and max fixed. */
static void res_addr(struct aml *a, bool dword, uint8_t type, uint8_t tflags, uint32_t min,
		     uint32_t max)
{
	unsigned w = dword ? 4 : 2;

	aml_byte(a, dword ? 0x87 : 0x88);
	aml_le(a, 3 + 5 * w, 2);
	aml_byte(a, type);		/* 0 memory, 1 I/O, 2 bus numbers */
	aml_byte(a, 0x0c);		/* producer, positive decode, min and max fixed */
	aml_byte(a, tflags);
	aml_le(a, 0, w);		/* granularity */
	aml_le(a, min, w);
	aml_le(a, max, w);
	aml_le(a, 0, w);		/* translation offset */
	aml_le(a, (uint64_t)max - min + 1, w);
}

/* QWord address space descriptor (0x8a): memory, a producer, min and max fixed. */
static void res_qword_mem(struct aml *a, uint8_t tflags, uint64_t min, uint64_t size)
{
	aml_byte(a, 0x8a);
	aml_le(a, 3 + 5 * 8, 2);
	aml_byte(a, 0);			/* memory */
	aml_byte(a, 0x0c);		/* producer, positive decode, min and max fixed */
	aml_byte(a, tflags);
	aml_le(a, 0, 8);		/* granularity */
	aml_le(a, min, 8);
	aml_le(a, min + size - 1, 8);
	aml_le(a, 0, 8);		/* translation offset */
	aml_le(a, size, 8);
}

/* Name (NAME, Buffer () { descriptors, end tag }) */
static void aml_name_resources(struct aml *a, const char name[4], const struct aml *res)
{
	static const uint8_t buffer_op = 0x11;
	struct aml buf = { .len = 0 };

	aml_integer(&buf, (uint32_t)res->len + 2);
	aml_bytes(&buf, res->b, res->len);
	aml_bytes(&buf, (const uint8_t[]){ 0x79, 0x00 }, 2);		/* end tag */
	aml_byte(a, 0x08);
	aml_bytes(a, name, 4);
	aml_package(a, &buffer_op, 1, &buf);
}

/*
 * Name (_PRT, Package () { Package () { slot << 16 | 0xffff, pin, 0, GSI }, ... }):
 * pin A of every slot straight to its IOAPIC input (source 0: a GSI, which
 * the guest makes level triggered, active low; KVM's IOAPIC has no polarity).
 */
static void aml_prt(struct aml *a)
{
	struct aml entries = { .len = 0 };

	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		struct aml e = { .len = 0 };

		aml_integer(&e, slot << 16 | 0xffff);
		aml_integer(&e, PCI_INTX_PIN_A - 1);
		aml_integer(&e, 0);
		aml_integer(&e, pci_intx_gsi(slot));
		aml_pkg(&entries, 4, &e);
	}
	aml_byte(a, 0x08);
	aml_bytes(a, "_PRT", 4);
	aml_pkg(a, PCI_MAX_SLOTS - 1, &entries);
}

/*
 * Device (\_SB.PCI0): the PCIe host bridge of bus 0 (PNP0A08, compatible
 * with PNP0A03), its ECAM (_CBA), its configuration ports, the windows it
 * forwards (all I/O ports but its own, the 32-bit BAR window, the 64-bit one
 * above RAM) and its INTx routing (_PRT).  Device (\_SB.MRES): ECAM as a
 * motherboard resource (PNP0C02), as Linux wants it reserved before use.
 */
static void aml_pci_root(struct aml *a, uint64_t window64)
{
	static const uint8_t scope_op = 0x10, device_op[2] = { 0x5b, 0x82 };
	struct aml res = { .len = 0 }, dev = { .len = 0 }, mres = { .len = 0 };
	struct aml device = { .len = 0 }, scope = { .len = 0 };

	res_addr(&res, false, 2, 0, 0, 0);				/* bus 0 */
	aml_bytes(&res, (const uint8_t[]){ 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 }, 8);
	res_addr(&res, false, 1, 3, 0x0000, 0x0cf7);
	res_addr(&res, false, 1, 3, 0x0d00, 0xffff);
	res_addr(&res, true, 0, 0x01, (uint32_t)PCI_WINDOW_BASE,	/* read-write, uncached */
		 (uint32_t)(PCI_WINDOW_BASE + PCI_WINDOW_SIZE - 1));
	res_qword_mem(&res, 0x07, window64, PCI_WINDOW64_SIZE);	/* read-write, prefetchable */

	aml_bytes(&dev, "PCI0", 4);
	aml_name_int(&dev, "_HID", eisa_id("PNP0A08"));
	aml_name_int(&dev, "_CID", eisa_id("PNP0A03"));
	aml_name_int(&dev, "_UID", 0);
	aml_name_int(&dev, "_SEG", 0);
	aml_name_int(&dev, "_BBN", 0);
	aml_byte(&dev, 0x08);					/* Name (_CBA, QWord) */
	aml_bytes(&dev, "_CBA", 4);
	aml_byte(&dev, 0x0e);
	aml_le(&dev, PCI_ECAM_BASE, 8);
	aml_name_resources(&dev, "_CRS", &res);
	aml_prt(&dev);
	aml_package(&device, device_op, 2, &dev);

	/* Memory32Fixed (ReadWrite, ECAM base, ECAM size) */
	res.len = 0;
	aml_bytes(&res, (const uint8_t[]){ 0x86, 0x09, 0x00, 0x01 }, 4);
	aml_le(&res, PCI_ECAM_BASE, 4);
	aml_le(&res, PCI_ECAM_SIZE, 4);
	aml_bytes(&mres, "MRES", 4);
	aml_name_int(&mres, "_HID", eisa_id("PNP0C02"));
	aml_name_int(&mres, "_UID", 1);
	aml_name_resources(&mres, "_CRS", &res);
	aml_package(&device, device_op, 2, &mres);

	/* Scope (\_SB) { the devices } */
	aml_bytes(&scope, "\\_SB_", 5);
	aml_bytes(&scope, device.b, device.len);
	aml_package(a, &scope_op, 1, &scope);
}

static int build_dsdt(struct tbuf *t, bool pci, uint64_t window64)
{
	/*
	 * Name (_S3, Package (4) { 1, 1, 0, 0 }) and Name (_S5, Package (4) { 5, 5, 0, 0 }):
	 * the SLP_TYP values for suspend to RAM and soft-off.
	 */
	static const uint8_t s3[] = {
		0x08, '_', 'S', '3', '_', 0x12, 0x08, 0x04,
		0x0a, ACPI_S3_TYPE, 0x0a, ACPI_S3_TYPE, 0x00, 0x00,
	};
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
		0x0a, ACPI_S5_TYPE, 0x0a, ACPI_S5_TYPE, 0x00, 0x00,
	};
	struct aml a = { .len = 0 };

	header(t, "DSDT", 2);
	aml_bytes(&a, s3, sizeof(s3));
	aml_bytes(&a, s5, sizeof(s5));
	if (pci)
		aml_pci_root(&a, window64);
	if (!aml_ok(&a) || 36 + a.len > sizeof(t->b))
		return -1;
	put(t, 36, a.b, a.len);
	finish(t);
	return 0;
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
#define FADT_F_PWR_BUTTON	(1u << 4)	/* set: no fixed power button (kvmrun has one) */
#define FADT_F_SLP_BUTTON	(1u << 5)	/* set: no fixed sleep button */
#define FADT_F_TMR_VAL_EXT	(1u << 8)	/* the PM timer counts 32 bits */
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
	put32(t, 76, ACPI_PM_TMR);
	put8(t, 88, 4);				/* PM1_EVT_LEN */
	put8(t, 89, 2);				/* PM1_CNT_LEN */
	put8(t, 91, ACPI_PM_TMR_LEN);		/* PM_TMR_LEN */
	put16(t, 96, 0xffff);			/* P_LVL2_LAT: no C2 */
	put16(t, 98, 0xffff);			/* P_LVL3_LAT: no C3 */
	put8(t, 108, 0x32);			/* CENTURY register in CMOS */
	put16(t, 109, BOOT_ARCH_8042 | BOOT_ARCH_NO_VGA);
	/* PWR_BUTTON clear: the fixed power button in PM1 (system_powerdown). */
	put32(t, 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_TMR_VAL_EXT |
			FADT_F_RESET_REG_SUP);
	gas_io(t, 116, ACPI_RESET_PORT, 8);
	put8(t, 128, ACPI_RESET_VALUE);
	put8(t, 131, 4);			/* FADT minor version (6.4) */
	put64(t, 132, facs);			/* X_FIRMWARE_CTRL */
	put64(t, 140, dsdt);			/* X_DSDT */
	gas_io(t, 148, ACPI_PM1_EVT, 32);	/* X_PM1a_EVT_BLK */
	gas_io(t, 172, ACPI_PM1_CNT, 16);	/* X_PM1a_CNT_BLK */
	gas_io(t, 208, ACPI_PM_TMR, 32);	/* X_PM_TMR_BLK */
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

static int build_madt(struct tbuf *t, unsigned nr_cpus, uint32_t level_irqs, bool pic)
{
	size_t off = 44;

	header(t, "APIC", 5);
	put32(t, 36, (uint32_t)LAPIC_ADDR);
	/* Without a PIC (split irqchip) the guest must not look for one to mask. */
	put32(t, 40, pic ? MADT_PCAT_COMPAT : 0);
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

/* MCFG: one ECAM allocation, segment 0, bus 0 only (PCI Firmware 3.x, 4.1.2). */
static void build_mcfg(struct tbuf *t)
{
	header(t, "MCFG", 1);
	put64(t, 36, 0);			/* reserved */
	put64(t, 44, PCI_ECAM_BASE);
	put16(t, 52, 0);			/* segment */
	put8(t, 54, 0);				/* first bus */
	put8(t, 55, 0);				/* last bus */
	put32(t, 56, 0);
	t->len = 60;
	finish(t);
}

/* Copies a table to *addr (16-byte aligned) and advances it. */
/* DMAR (VT-d spec, chapter 8): one DRHD whose device scopes list what it translates. */
#define DMAR_INTR_REMAP		0x1
#define DMAR_X2APIC_OPT_OUT	0x2
#define DMAR_DRHD		0
#define DMAR_SCOPE_ENDPOINT	1
#define DMAR_SCOPE_IOAPIC	3
#define DMAR_HAW		47	/* host address width - 1 */

static size_t dmar_scope(struct tbuf *t, size_t off, uint8_t type, uint8_t id, uint8_t bus,
			 uint8_t devfn)
{
	put8(t, off, type);
	put8(t, off + 1, 8);			/* one path entry */
	put8(t, off + 4, id);			/* enumeration id */
	put8(t, off + 5, bus);			/* start bus */
	put8(t, off + 6, devfn >> 3);
	put8(t, off + 7, devfn & 7);
	return off + 8;
}

static void build_dmar(struct tbuf *t, const struct machine_dmar *d)
{
	size_t off = 64;

	header(t, "DMAR", 1);
	put8(t, 36, DMAR_HAW);
	/* No x2APIC remapping (no EIM): the guest must stay in xAPIC mode with IR on. */
	put8(t, 37, d->intremap ? DMAR_INTR_REMAP | DMAR_X2APIC_OPT_OUT : 0);
	put16(t, 48, DMAR_DRHD);
	put8(t, 52, 0);				/* INCLUDE_PCI_ALL clear: only the scopes */
	put16(t, 54, 0);			/* segment */
	put64(t, 56, d->base);
	for (unsigned i = 0; i < d->nr_devs; i++)
		off = dmar_scope(t, off, DMAR_SCOPE_ENDPOINT, 0, 0, d->devfn[i]);
	if (d->intremap)
		off = dmar_scope(t, off, DMAR_SCOPE_IOAPIC, 0, d->ioapic_bus, d->ioapic_devfn);
	put16(t, 50, (uint16_t)(off - 48));
	finish(t);
}

static int place(struct guest_mem *mem, uint64_t *addr, const struct tbuf *t, uint64_t *at)
{
	*at = *addr;
	if (*addr + t->len > ACPI_TABLES_END || guest_mem_write(mem, *addr, t->b, t->len))
		return -1;
	*addr = (*addr + t->len + 15) & ~15ULL;
	return 0;
}

uint64_t acpi_build(struct guest_mem *mem, unsigned nr_cpus, uint32_t level_irqs, bool pci,
		    bool pic, const struct machine_dmar *dmar)
{
	static struct tbuf t;	/* 4 KiB: keep it off the stack */
	uint64_t next = ACPI_RSDP_ADDR + 64, dsdt, facs, fadt, madt, mcfg = 0, dmar_at = 0, xsdt;
	size_t x = 52;
	uint8_t rsdp[36];

	if (build_dsdt(&t, pci, pci_window64_base(mem)) || place(mem, &next, &t, &dsdt))
		return 0;
	build_facs(&t);
	next = (next + 63) & ~63ULL;	/* the FACS is 64-byte aligned */
	if (place(mem, &next, &t, &facs))
		return 0;
	build_fadt(&t, facs, dsdt);
	if (place(mem, &next, &t, &fadt))
		return 0;
	if (build_madt(&t, nr_cpus, level_irqs, pic) || place(mem, &next, &t, &madt))
		return 0;
	if (pci) {
		build_mcfg(&t);
		if (place(mem, &next, &t, &mcfg))
			return 0;
	}
	if (dmar && dmar->base) {
		build_dmar(&t, dmar);
		if (place(mem, &next, &t, &dmar_at))
			return 0;
	}
	header(&t, "XSDT", 1);
	put64(&t, 36, fadt);
	put64(&t, 44, madt);
	if (pci) {
		put64(&t, x, mcfg);
		x += 8;
	}
	if (dmar_at)
		put64(&t, x, dmar_at);
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
