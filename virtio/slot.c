/* A virtio device and its transport as one registry device (see virtio_slot.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_slot.h"

/* INTERIM: mirrors struct kvm_irq in vm.h until the transports take struct vm_irq. */
struct interim_kvm_irq {
	int vm_fd;
	struct irq_routing *routing;
};

struct virtio_slot *virtio_slot_alloc(void)
{
	return calloc(1, sizeof(struct virtio_slot));
}

int virtio_slot_attach_mmio(struct virtio_slot *s, struct bus *mmio, uint64_t base,
			    unsigned gsi, struct vm_irq irq)
{
	struct irq_line line = { irq.ops->set_line, irq.ctx, gsi };
	int r;

	virtio_mmio_init(&s->mmio, &s->dev, base, line);
	s->mmio_bound = true;
	r = virtio_mmio_use_irqfd(&s->mmio, *(int *)irq.ctx);
	if (r)
		log_debug("%s: no irqfd for IRQ %u (%s): KVM_IRQ_LINE instead", s->dev.name, gsi,
			  strerror(-r));
	r = bus_register(mmio, base, VIRTIO_MMIO_SIZE, virtio_mmio_io, &s->mmio, s->dev.name);
	if (r) {
		log_err("%s: cannot place it at 0x%llx: %s", s->dev.name,
			(unsigned long long)base, strerror(-r));
		return r;
	}
	for (unsigned q = 0; q < s->dev.nr_queues; q++) {
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = base + 0x50,
			.len = 4,
			.fd = s->dev.notify_fd[q],
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		if (ioctl(*(int *)irq.ctx, KVM_IOEVENTFD, &io) < 0)
			log_debug("%s: no ioeventfd for queue %u (%s)", s->dev.name, q,
				  strerror(errno));
	}
	return 0;
}

int virtio_slot_attach_pci(struct virtio_slot *s, struct pci_bus *bus, struct vm_irq irq)
{
	struct interim_kvm_irq *k = irq.ctx;
	int r = virtio_pci_init(&s->pci, &s->dev, k->vm_fd, k->routing);

	s->pci_bound = true;
	if (!r)
		r = pci_bus_add(bus, &s->pci.pci);
	if (r < 0)
		log_err("%s: cannot attach it to the PCI bus: %s", s->dev.name, strerror(-r));
	return r;
}

static void slot_destroy(void *opaque)
{
	struct virtio_slot *s = opaque;

	/* The worker stops first: it may be inside the transport. */
	if (s->initialised)
		virtio_device_destroy(&s->dev);
	if (s->pci_bound)
		virtio_pci_destroy(&s->pci);
	if (s->mmio_bound)
		virtio_mmio_destroy(&s->mmio);
	free(s);
}

static int slot_start(void *opaque)
{
	struct virtio_slot *s = opaque;

	return virtio_device_start(&s->dev);
}

static int mmio_describe(void *opaque, struct machine_desc *m)
{
	struct virtio_slot *s = opaque;

	/* Linux's virtio-mmio driver finds devices on its command line; the MADT makes the IRQ level. */
	m->level_irqs |= 1u << s->mmio.irq.gsi;
	return machine_desc_cmdline(m, "virtio_mmio.device=4K@0x%llx:%u",
				    (unsigned long long)s->mmio.base, s->mmio.irq.gsi);
}

const struct vm_device_ops virtio_mmio_slot_ops = {
	.kind = "virtio-mmio",
	.state_version = 1,
	.start = slot_start,
	.describe = mmio_describe,
	.destroy = slot_destroy,
};

const struct vm_device_ops virtio_pci_slot_ops = {
	.kind = "virtio-pci",
	.state_version = 1,
	.start = slot_start,
	.destroy = slot_destroy,
};
