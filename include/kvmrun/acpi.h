/*
 * ACPI tables built by the VMM: RSDP, XSDT, FADT (with PM1a power-off and a
 * reset register), FACS, DSDT (the \_S3 and \_S5 sleep states and, with virtio-pci, the
 * PCI root bridge) and MADT (one LAPIC per vCPU, the IOAPIC, the SCI override
 * and LINT1 NMIs).
 */
#ifndef KVMRUN_ACPI_H
#define KVMRUN_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/devices.h"
#include "kvmrun/mem.h"

/* The tables live in the BIOS area, where legacy scans for the RSDP look too. */
#define ACPI_TABLES_ADDR	0xe0000ULL
#define ACPI_TABLES_END		0x100000ULL
#define ACPI_RSDP_ADDR		ACPI_TABLES_ADDR

#define IOAPIC_ADDR		0xfec00000ULL
#define LAPIC_ADDR		0xfee00000ULL

/*
 * Writes all tables for nr_cpus vCPUs; bit n of level_irqs makes ISA IRQ n
 * level triggered, active high (virtio-mmio); pci adds the PCI host bridge
 * (\_SB.PCI0, bus 0, the BAR window) to the DSDT; pic sets the MADT's
 * PCAT_COMPAT flag (8259 PICs present); dmar with a base adds a DMAR table for
 * that VT-d unit (NULL: none).  Returns the RSDP address, or 0 when they do
 * not fit.
 */
uint64_t acpi_build(struct guest_mem *mem, unsigned nr_cpus, uint32_t level_irqs, bool pci,
		    bool pic, const struct machine_dmar *dmar);

/*
 * Where the guest wants to resume from S3: the FACS's firmware waking vector
 * (real mode) and its 64-bit X_ form, found through the RSDP, XSDT and FADT
 * acpi_build wrote.  0, or -EINVAL when the guest overwrote them.
 */
int acpi_facs_waking_vector(const struct guest_mem *mem, uint32_t *vector, uint64_t *x_vector);

/* Sum of len bytes, for checksums (exposed for tests). */
uint8_t acpi_sum(const void *p, size_t len);

#endif
