/*
 * Builds the VM's virtio devices from the configuration and binds each to
 * its transport: a virtio-mmio window, an IRQ, and one KVM ioeventfd per
 * queue so that a queue notification goes straight to the device's worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"
#include "kvmrun/virtio_mmio.h"
#include "kvmrun/virtio_setup.h"
#include "kvmrun/vm.h"

struct virtio_slot {
	struct virtio_device dev;
	struct virtio_mmio mmio;
	bool initialised;
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

	for (unsigned i = 0; i < virtio_count(cfg) && i < VIRTIO_MMIO_MAX; i++)
		mask |= 1u << virtio_mmio_irqs[i];
	return mask;
}

/* Queue notifications for the device: a write of q to QueueNotify signals notify_fd[q]. */
static void add_ioeventfds(struct vm *vm, struct virtio_slot *s)
{
	for (unsigned q = 0; q < s->dev.nr_queues; q++) {
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = s->mmio.base + 0x50,	/* VIRTIO_MMIO_QUEUE_NOTIFY */
			.len = 4,
			.fd = s->dev.notify_fd[q],
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		/* Without it the transport forwards the write itself: slower, same result. */
		if (ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0)
			log_debug("%s: no ioeventfd for queue %u (%s)", s->dev.name, q,
				  strerror(errno));
	}
}

int vm_create_virtio(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned n = virtio_count(cfg);
	int r = 0;

	if (n > VIRTIO_MMIO_MAX) {
		log_err("too many virtio devices: %u, at most %d", n, VIRTIO_MMIO_MAX);
		return -EINVAL;
	}
	vm->virtio = calloc(n ? n : 1, sizeof(*vm->virtio));
	if (!vm->virtio)
		return -ENOMEM;
	for (unsigned i = 0; i < n && !r; i++) {
		struct virtio_slot *s = calloc(1, sizeof(*s));
		struct irq_line irq = { vm_irq_line, vm, virtio_mmio_irqs[i] };

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
		virtio_mmio_init(&s->mmio, &s->dev, slot_base(i), irq);
		r = bus_register(&vm->mmio, slot_base(i), VIRTIO_MMIO_SIZE, virtio_mmio_io, &s->mmio,
				 s->dev.name);
		if (r) {
			log_err("%s: cannot place it at 0x%llx: %s", s->dev.name,
				(unsigned long long)slot_base(i), strerror(-r));
			break;
		}
		add_ioeventfds(vm, s);
		r = virtio_device_start(&s->dev);
		log_info("%s at 0x%llx, IRQ %u", s->dev.name, (unsigned long long)slot_base(i),
			 virtio_mmio_irqs[i]);
	}
	return r;
}

void vm_destroy_virtio(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->initialised)
			virtio_device_destroy(&vm->virtio[i]->dev);
		free(vm->virtio[i]);
	}
	free(vm->virtio);
	vm->virtio = NULL;
	vm->nr_virtio = 0;
}
