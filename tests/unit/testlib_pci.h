/*
 * PCI helpers of the unit tests (test_pci_bus.c, test_virtio_pci.c):
 * configuration cycles through the 0xCF8/0xCFC port handler exactly as a
 * vCPU's port I/O exit would make them, BAR accesses through the MMIO window
 * handler, all on pcit_bus, and a sweep that writes every config byte.
 */
#ifndef KVMRUN_TESTLIB_PCI_H
#define KVMRUN_TESTLIB_PCI_H

#include <stdint.h>

#include "kvmrun/pci.h"

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

extern struct pci_bus pcit_bus;

/* All-ones of len bytes: what an unclaimed read returns. */
uint64_t ones(uint32_t len);
uint32_t cfg_address(unsigned busno, unsigned slot, unsigned fn, unsigned reg);
void port_wr(uint64_t port_off, uint32_t len, uint32_t v);
uint32_t port_rd(uint64_t port_off, uint32_t len);
void latch(uint32_t a);
uint32_t cfg_rd(unsigned slot, unsigned off, uint32_t len);
void cfg_wr(unsigned slot, unsigned off, uint32_t len, uint32_t v);
/* The whole configuration space of a function, read dword by dword. */
void image(unsigned slot, uint8_t *out);
uint64_t mmio_rd(uint64_t addr, uint32_t len);
void mmio_wr(uint64_t addr, uint32_t len, uint64_t v);
void check_only_writable_changed(const uint8_t *before, const uint8_t *after,
				 const uint8_t *writable, unsigned off, unsigned len, uint32_t pat);
/* Every write, every width, every offset: only writable[] bits of slot ever change. */
void sweep(unsigned slot, const uint8_t *writable);
/* What any function lets a driver write (command, interrupt line), and a BAR's bits. */
void base_writable(uint8_t *w);
void bar_writable(uint8_t *w, unsigned bar, uint32_t size);

#endif
