/*
 * Builds the VM's virtio devices from the configuration and binds each to
 * its transport.  virtio-pci (the default): a PCI host bridge on ports
 * 0xCF8-0xCFF with one function per device, BARs in the PCI window, MSI-X
 * vectors as irqfds.  virtio-mmio: a 4 KiB window and an IRQ per device.
 * Either way each queue has a KVM ioeventfd, so that a queue notification
 * goes straight to the device's worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"
#include "kvmrun/virtio_mmio.h"
#include "kvmrun/virtio_pci.h"
#include "kvmrun/virtio_setup.h"
#include "kvmrun/vm.h"

struct virtio_slot {
	struct virtio_device dev;
	struct virtio_mmio mmio;
	struct virtio_pci pci;
	bool initialised, mmio_bound, pci_bound;
};

/* Slot order: disks, rng, net, console. */
unsigned virtio_count(const struct vm_config *cfg)
{
	return cfg->nr_disks + (cfg->rng ? 1 : 0) + (cfg->has_net ? 1 : 0) +
	       (cfg->virtio_console ? 1 : 0);
}

static uint64_t slot_base(unsigned i)
{
	return VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE;
}

int virtio_cmdline(const struct vm_config *cfg, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	if (cfg->transport != TRANSPORT_MMIO)
		return 0;
	for (unsigned i = 0; i < virtio_count(cfg); i++) {
		int n = snprintf(buf + used, len - used, " virtio_mmio.device=4K@0x%llx:%u",
				 (unsigned long long)slot_base(i), virtio_mmio_irqs[i]);

		if (n < 0 || (size_t)n >= len - used)
			return -E2BIG;
		used += (size_t)n;
	}
	return 0;
}

uint32_t virtio_level_irqs(const struct vm_config *cfg)
{
	uint32_t mask = 0;

	if (cfg->transport != TRANSPORT_MMIO)
		return 0;
	for (unsigned i = 0; i < virtio_count(cfg) && i < VIRTIO_MMIO_MAX; i++)
		mask |= 1u << virtio_mmio_irqs[i];
	return mask;
}

/* The host bridge and its window: every VM with --transport pci has them, devices or not. */
static int create_pci_bus(struct vm *vm)
{
	int r;

	vm->pci = malloc(sizeof(*vm->pci));
	if (!vm->pci)
		return -ENOMEM;
	pci_bus_init(vm->pci);
	r = bus_register(&vm->pio, PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS, pci_config_io, vm->pci,
			 "pci-config");
	if (!r)
		r = bus_register(&vm->mmio, PCI_WINDOW_BASE, PCI_WINDOW_SIZE, pci_window_io, vm->pci,
				 "pci-window");
	if (r)
		log_err("PCI host bridge: %s", strerror(-r));
	return r;
}

static int bind_mmio(struct vm *vm, struct virtio_slot *s, unsigned i)
{
	int r = virtio_mmio_init(&s->mmio, &s->dev, slot_base(i), virtio_mmio_irqs[i],
				 kvm_irq_ops_for(&vm->irq));

	s->mmio_bound = true;
	if (!r)
		r = bus_register(&vm->mmio, slot_base(i), VIRTIO_MMIO_SIZE, virtio_mmio_io,
				 &s->mmio, s->dev.name);
	if (r) {
		log_err("%s: cannot place it at 0x%llx: %s", s->dev.name,
			(unsigned long long)slot_base(i), strerror(-r));
		return r;
	}
	log_info("%s at 0x%llx, IRQ %u", s->dev.name, (unsigned long long)slot_base(i),
		 virtio_mmio_irqs[i]);
	return 0;
}

static int bind_pci(struct vm *vm, struct virtio_slot *s)
{
	int r = virtio_pci_init(&s->pci, &s->dev, kvm_irq_ops_for(&vm->irq));

	s->pci_bound = true;
	if (!r)
		r = pci_bus_add(vm->pci, &s->pci.pci);
	if (r < 0) {
		log_err("%s: cannot attach it to the PCI bus: %s", s->dev.name, strerror(-r));
		return r;
	}
	log_info("%s at PCI 00:%02x.0, BAR 0x%llx, %u MSI-X vectors", s->dev.name, (unsigned)r,
		 (unsigned long long)s->pci.pci.bar_decoded[0], s->pci.nr_vectors);
	return 0;
}

int vm_create_virtio(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned n = virtio_count(cfg);
	bool pci = cfg->transport == TRANSPORT_PCI;
	int r = 0;

	if (!pci && n > VIRTIO_MMIO_MAX) {
		log_err("too many virtio devices: %u, at most %d with --transport mmio", n,
			VIRTIO_MMIO_MAX);
		return -EINVAL;
	}
	if (pci && (r = create_pci_bus(vm)))
		return r;
	vm->virtio = calloc(n ? n : 1, sizeof(*vm->virtio));
	if (!vm->virtio)
		return -ENOMEM;
	for (unsigned i = 0; i < n && !r; i++) {
		struct virtio_slot *s = calloc(1, sizeof(*s));

		if (!s)
			return -ENOMEM;
		vm->virtio[vm->nr_virtio++] = s;
		unsigned k = i;

		if (k < cfg->nr_disks) {
			r = virtio_blk_init(&s->dev, &cfg->disks[k], &vm->mem);
		} else if ((k -= cfg->nr_disks) == 0 && cfg->rng) {
			r = virtio_rng_init(&s->dev, &vm->mem);
		} else if ((k -= cfg->rng) == 0 && cfg->has_net) {
			r = virtio_net_init(&s->dev, &cfg->net, &vm->mem);
		} else {
			r = virtio_console_init(&s->dev, STDOUT_FILENO, vm_console_rx_space,
						&vm->rx_efd, &vm->mem);
			vm->vconsole = &s->dev;
		}
		if (r)
			break;
		s->initialised = true;
		r = pci ? bind_pci(vm, s) : bind_mmio(vm, s, i);
		if (!r)
			r = virtio_device_start(&s->dev);
	}
	return r;
}

void vm_destroy_virtio(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->initialised)
			virtio_device_destroy(&vm->virtio[i]->dev);
		if (vm->virtio[i]->pci_bound)
			virtio_pci_destroy(&vm->virtio[i]->pci);
		if (vm->virtio[i]->mmio_bound)
			virtio_mmio_destroy(&vm->virtio[i]->mmio);
		free(vm->virtio[i]);
	}
	free(vm->virtio);
	vm->virtio = NULL;
	vm->nr_virtio = 0;
	if (vm->pci) {
		pci_bus_destroy(vm->pci);
		free(vm->pci);
		vm->pci = NULL;
	}
}
