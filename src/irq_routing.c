/* GSI routing: the default irqchip routes plus MSI routes (see irq_routing.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/irq_routing.h"
#include "kvmrun/log.h"

#define PIC_PINS	8
#define ISA_IRQS	16
/* Entries irq_routing_init() sets up: ISA IRQs on a PIC and the IOAPIC, the other pins on the IOAPIC. */
#define DEFAULT_ROUTES	(2 * ISA_IRQS + IRQ_ROUTING_FIRST_MSI - ISA_IRQS)

static void add_irqchip(struct kvm_irq_routing *t, unsigned gsi, unsigned chip, unsigned pin)
{
	t->entries[t->nr++] = (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

/* An empty table, its lock, and MSI GSIs handed out from IRQ_ROUTING_FIRST_MSI. */
static int routing_new(struct irq_routing *r, int vm_fd, bool split)
{
	memset(r, 0, sizeof(*r));
	r->table = calloc(1, sizeof(*r->table) +
			     IRQ_ROUTING_MAX * sizeof(struct kvm_irq_routing_entry));
	if (!r->table)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
	r->split = split;
	r->next_gsi = IRQ_ROUTING_FIRST_MSI;
	return 0;
}

int irq_routing_init_split(struct irq_routing *r, int vm_fd)
{
	/* No irqchip routes: GSIs 0-23 get the userspace IOAPIC's MSI routes as it programs them. */
	return routing_new(r, vm_fd, true);
}

int irq_routing_init(struct irq_routing *r, int vm_fd)
{
	int ret = routing_new(r, vm_fd, false);

	if (ret)
		return ret;
	/* As KVM sets them up: GSIs 0-15 on both PICs and the IOAPIC, 16-23 on the IOAPIC. */
	for (unsigned gsi = 0; gsi < ISA_IRQS; gsi++) {
		add_irqchip(r->table, gsi, gsi < PIC_PINS ? KVM_IRQCHIP_PIC_MASTER :
							 KVM_IRQCHIP_PIC_SLAVE, gsi % PIC_PINS);
		add_irqchip(r->table, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	}
	for (unsigned gsi = ISA_IRQS; gsi < IRQ_ROUTING_FIRST_MSI; gsi++)
		add_irqchip(r->table, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	return 0;
}

void irq_routing_destroy(struct irq_routing *r)
{
	if (!r->table)
		return;
	free(r->table);
	r->table = NULL;
	pthread_mutex_destroy(&r->lock);
}

int irq_routing_alloc(struct irq_routing *r)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	/* Every GSI may need an entry, next to the defaults. */
	if (r->next_gsi - IRQ_ROUTING_FIRST_MSI + DEFAULT_ROUTES < IRQ_ROUTING_MAX)
		gsi = (int)r->next_gsi++;
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

int irq_routing_set_msi(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing *t = r->table;
	struct kvm_irq_routing_entry e = {
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
			   .data = data },
	};
	unsigned i;
	int ret = 0;

	if (gsi < IRQ_ROUTING_FIRST_MSI && !r->split)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < t->nr && t->entries[i].gsi != gsi; i++)
		;
	if (!irq_msi_address_valid(addr)) {
		if (i == t->nr)
			goto out;	/* nothing routed, nothing to remove */
		t->entries[i] = t->entries[--t->nr];
	} else if (i < t->nr) {
		if (!memcmp(&t->entries[i], &e, sizeof(e)))
			goto out;
		t->entries[i] = e;
	} else if (t->nr < IRQ_ROUTING_MAX) {
		t->entries[t->nr++] = e;
	} else {
		ret = -ENOSPC;
		goto out;
	}
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		ret = -errno;
		log_warn("KVM_SET_GSI_ROUTING (GSI %u): %s", gsi, strerror(errno));
	}
out:
	pthread_mutex_unlock(&r->lock);
	return ret;
}
