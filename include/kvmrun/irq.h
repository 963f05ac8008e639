/*
 * Interrupt and notification plumbing as devices see it.  A device never
 * calls KVM itself: it gets a struct vm_irq whose ops the VMM fills with the
 * KVM implementation (kvm_irq_ops, src/kvm_irq.c) and unit tests with a fake
 * that records what the device asked for.
 */
#ifndef KVMRUN_IRQ_H
#define KVMRUN_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm_irq_ops {
	/* Drives an irqchip input (GSI) to level (KVM_IRQ_LINE). */
	void (*set_line)(void *ctx, unsigned gsi, int level);
	/*
	 * A guest write of len bytes to addr (port I/O when pio) signals fd
	 * inside the kernel; with match, only a write of *match does.
	 * assign = false removes what an earlier call with the same
	 * arguments added.  0 or -errno.
	 */
	int (*ioeventfd)(void *ctx, bool pio, uint64_t addr, unsigned len,
			 const uint64_t *match, int fd, bool assign);
	/*
	 * Writes to fd raise gsi (edge).  resample_fd >= 0: level semantics,
	 * the line stays up until the guest's EOI, then resample_fd is
	 * signalled.  0 or -errno.
	 */
	int (*irqfd)(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign);
	/* A fresh GSI for MSI delivery (no route yet), or -ENOSPC. */
	int (*msi_alloc)(void *ctx);
	/*
	 * Routes gsi to the MSI message (addr, data).  An address outside
	 * the x86 interrupt range removes the route: a guest that programs
	 * garbage gets no interrupt.  0 or -errno.
	 */
	int (*msi_route)(void *ctx, unsigned gsi, uint64_t addr, uint32_t data);
};

struct vm_irq {
	const struct vm_irq_ops *ops;
	void *ctx;
};

/* An interrupt line into the irqchip; tests plug in their own set(). */
struct irq_line {
	void (*set)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->opaque, l->gsi, level);
}

/* Is addr where x86 MSI writes go? */
static inline bool irq_msi_address_valid(uint64_t addr)
{
	return (addr >> 20) == 0xfee;
}

#endif
