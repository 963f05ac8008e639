/* Run-time KVM memory slots (memslot.h): KVM_SET_USER_MEMORY_REGION and nothing else. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/log.h"
#include "kvmrun/memslot.h"

static int set_region(struct kvm_memslots *k, unsigned i, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = k->first + i,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	return ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

static int kvm_memslot_add(void *ctx, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_memslots *k = ctx;
	unsigned i;
	int r;

	for (i = 0; i < KVM_MEMSLOTS_EXTRA && (k->used >> i & 1); i++)
		;
	if (i == KVM_MEMSLOTS_EXTRA)
		return -ENOSPC;
	r = set_region(k, i, gpa, size, host);
	if (r)
		return r;
	k->used |= 1ULL << i;
	return (int)i;
}

static void kvm_memslot_remove(void *ctx, int slot)
{
	struct kvm_memslots *k = ctx;
	int r;

	if (slot < 0 || slot >= KVM_MEMSLOTS_EXTRA || !(k->used >> slot & 1))
		return;
	/* Size 0 deletes the slot. */
	r = set_region(k, (unsigned)slot, 0, 0, NULL);
	if (r)
		log_warn("removing memory slot %u: %s", k->first + (unsigned)slot, strerror(-r));
	k->used &= ~(1ULL << slot);
}

static const struct vm_memslot_ops kvm_memslot_ops = {
	.add = kvm_memslot_add,
	.remove = kvm_memslot_remove,
};

void kvm_memslots_init(struct kvm_memslots *k, int vm_fd, unsigned first)
{
	k->vm_fd = vm_fd;
	k->first = first;
	k->used = 0;
}

struct vm_memslots kvm_memslots_ops_for(struct kvm_memslots *k)
{
	return (struct vm_memslots){ .ops = &kvm_memslot_ops, .ctx = k };
}
