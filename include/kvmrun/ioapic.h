/*
 * A userspace 82093AA-style IOAPIC for the split irqchip (--irqchip split):
 * the LAPICs stay in KVM, this device owns the 24 redirection entries.  It
 * delivers only through the vm_irq it is connected to: pin i is GSI i, whose
 * MSI route it sets (msi_route) from the entry as the hardware would forward
 * it, and which it fires with set_line.  Level entries set Remote IRR on
 * delivery and deliver again after the EOI while the line is still high;
 * KVM reports those EOIs (KVM_EXIT_IOAPIC_EOI) because the routes say level.
 */
#ifndef KVMRUN_IOAPIC_H
#define KVMRUN_IOAPIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/state.h"

#define IOAPIC_NR_PINS		24
#define IOAPIC_BASE		0xfec00000ULL
#define IOAPIC_MMIO_LEN		0x1000
#define IOAPIC_VERSION		0x20	/* with the EOI register */

/* MMIO offsets */
#define IOAPIC_REGSEL		0x00
#define IOAPIC_WINDOW		0x10
#define IOAPIC_EOI		0x40

/* Indirect registers */
#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VER		0x01
#define IOAPIC_REG_ARB		0x02
#define IOAPIC_REG_RTE		0x10	/* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

/* Redirection entry bits */
#define IOAPIC_RTE_VECTOR	0xffULL
#define IOAPIC_RTE_DELMODE	(7ULL << 8)
#define IOAPIC_RTE_DESTMODE	(1ULL << 11)	/* remappable format: handle bit 15 */
#define IOAPIC_RTE_DELIVS	(1ULL << 12)
#define IOAPIC_RTE_POLARITY	(1ULL << 13)
#define IOAPIC_RTE_REMOTE_IRR	(1ULL << 14)
#define IOAPIC_RTE_LEVEL	(1ULL << 15)
#define IOAPIC_RTE_MASKED	(1ULL << 16)
#define IOAPIC_RTE_FORMAT	(1ULL << 48)	/* remappable (VT-d) format */

struct ioapic_regs {
	uint64_t rte[IOAPIC_NR_PINS];
	uint32_t id;		/* the ID register: bits 24-27 */
	uint8_t regsel;
	uint32_t levels;	/* input lines as the devices drive them (a level pin's IRR) */
};

struct ioapic {
	pthread_mutex_t lock;
	struct ioapic_regs regs;
	struct vm_irq out;	/* where pins deliver (msi_route, set_line on GSI = pin) */
	struct vm_irq pass;	/* what ioapic_front passes everything but lines to */
	/* The MSI route each pin has in out (set once it first mattered). */
	bool routed[IOAPIC_NR_PINS];
	uint64_t route_addr[IOAPIC_NR_PINS];
	uint32_t route_data[IOAPIC_NR_PINS];
};

/* Power-on state (every entry masked), delivering through out; pass: see ioapic_front. */
void ioapic_init(struct ioapic *io, struct vm_irq out, struct vm_irq pass);
void ioapic_destroy(struct ioapic *io);
/*
 * Delivers through out from now on, its routes set again from the entries:
 * a wrapper of the vm_irq ops (interrupt remapping) slots in after the fact.
 */
void ioapic_connect(struct ioapic *io, struct vm_irq out);

/*
 * The vm_irq that devices get in split mode: set_line on GSIs 0-23 drives
 * this IOAPIC's pins; irqfds on them are refused (-EOPNOTSUPP: KVM would
 * deliver past the mask and Remote IRR, so devices set their lines
 * directly); everything else goes to pass.
 */
struct vm_irq ioapic_front(struct ioapic *io);

/* Drives input pin to level (any thread). */
void ioapic_set_line(struct ioapic *io, unsigned pin, int level);
/* A LAPIC's EOI of vector (KVM_EXIT_IOAPIC_EOI) or a write to the EOI register. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);
void ioapic_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The MSI the hardware forwards for entry rte. */
void ioapic_rte_msi(uint64_t rte, uint64_t *addr, uint32_t *data);

int ioapic_save(const struct ioapic *io, struct state_writer *w);
int ioapic_restore(struct ioapic *io, struct state_reader *r, uint16_t version);
void ioapic_reset(struct ioapic *io);

extern const struct vm_device_ops ioapic_device_ops;

#endif
