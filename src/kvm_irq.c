/* vm_irq_ops on KVM: the only place device interrupts and notifications meet ioctls. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/kvm_irq.h"
#include "kvmrun/log.h"

static void kvm_set_line(void *ctx, unsigned gsi, int level)
{
	struct kvm_irq *k = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static int kvm_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len,
			 const uint64_t *match, int fd, bool assign)
{
	struct kvm_irq *k = ctx;
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.datamatch = match ? *match : 0,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int kvm_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct kvm_irq *k = ctx;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	if (!assign)
		irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	else if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)resample_fd;
	}
	return ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int kvm_msi_alloc(void *ctx)
{
	struct kvm_irq *k = ctx;

	return irq_routing_alloc(&k->routing);
}

static int kvm_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq *k = ctx;

	return irq_routing_set_msi(&k->routing, gsi, addr, data);
}

static const struct vm_irq_ops kvm_irq_ops = {
	.set_line = kvm_set_line,
	.ioeventfd = kvm_ioeventfd,
	.irqfd = kvm_irqfd,
	.msi_alloc = kvm_msi_alloc,
	.msi_route = kvm_msi_route,
};

int kvm_irq_init(struct kvm_irq *k, int vm_fd)
{
	k->vm_fd = vm_fd;
	return irq_routing_init(&k->routing, vm_fd);
}

int kvm_irq_init_split(struct kvm_irq *k, int vm_fd)
{
	k->vm_fd = vm_fd;
	return irq_routing_init_split(&k->routing, vm_fd);
}

void kvm_irq_destroy(struct kvm_irq *k)
{
	irq_routing_destroy(&k->routing);
}

struct vm_irq kvm_irq_ops_for(struct kvm_irq *k)
{
	return (struct vm_irq){ .ops = &kvm_irq_ops, .ctx = k };
}
