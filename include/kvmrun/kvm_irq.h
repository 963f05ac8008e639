/*
 * The KVM implementation of struct vm_irq (kvmrun/irq.h): KVM_IRQ_LINE,
 * KVM_IOEVENTFD, KVM_IRQFD and MSI routes through the VM's GSI routing
 * table.  The VMM owns one per VM and hands kvm_irq_ops_for() to devices.
 */
#ifndef KVMRUN_KVM_IRQ_H
#define KVMRUN_KVM_IRQ_H

#include "kvmrun/irq.h"
#include "kvmrun/irq_routing.h"

struct kvm_irq {
	int vm_fd;
	struct irq_routing routing;	/* GSI routes: defaults plus MSI */
};

/* Sets up the routing table for vm_fd (after KVM_CREATE_IRQCHIP).  0 or -ENOMEM. */
int kvm_irq_init(struct kvm_irq *k, int vm_fd);
/* The same after KVM_CAP_SPLIT_IRQCHIP: GSIs 0-23 are the userspace IOAPIC's MSI routes. */
int kvm_irq_init_split(struct kvm_irq *k, int vm_fd);
void kvm_irq_destroy(struct kvm_irq *k);
/* The ops table bound to k, for devices. */
struct vm_irq kvm_irq_ops_for(struct kvm_irq *k);

#endif
