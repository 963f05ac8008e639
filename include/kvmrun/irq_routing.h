/*
 * The VM's GSI routing table.  KVM_SET_GSI_ROUTING replaces the whole table,
 * so this keeps KVM's default routes for GSIs 0-23 (PIC and IOAPIC pins) and
 * adds one MSI route per allocated GSI once a device programs its message.
 * Safe to call from any thread.
 */
#ifndef KVMRUN_IRQ_ROUTING_H
#define KVMRUN_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/irq.h"

#define IRQ_ROUTING_FIRST_MSI	24	/* after the IOAPIC's pins */
#define IRQ_ROUTING_MAX		1024	/* entries, KVM allows 4096 */

struct irq_routing {
	pthread_mutex_t lock;
	int vm_fd;
	struct kvm_irq_routing *table;
	unsigned next_gsi;
	bool split;		/* GSIs 0-23 are the userspace IOAPIC's MSI routes */
};

/* Sets up the default routes (what KVM_CREATE_IRQCHIP installs). 0 or -ENOMEM. */
int irq_routing_init(struct irq_routing *r, int vm_fd);
/*
 * The split irqchip's table (KVM_CAP_SPLIT_IRQCHIP): no irqchip routes;
 * GSIs 0-23 take the MSI routes the userspace IOAPIC sets for its pins.
 */
int irq_routing_init_split(struct irq_routing *r, int vm_fd);
void irq_routing_destroy(struct irq_routing *r);

/* A fresh GSI for MSI use (no route yet), or -ENOSPC. */
int irq_routing_alloc(struct irq_routing *r);

/*
 * Routes gsi (from 24 up; any in the split table) to the MSI (addr, data)
 * and tells KVM.  An address outside the x86 interrupt range 0xfeexxxxx
 * removes the route instead: a guest that programs garbage gets no
 * interrupt rather than a stray one.  0 or -errno.
 */
int irq_routing_set_msi(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data);

#endif
