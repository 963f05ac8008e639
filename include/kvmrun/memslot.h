/*
 * KVM memory slots added and removed while the VM runs: a passed-through
 * device's mmapped BAR pages appear at the guest's BAR address.  Devices get
 * a struct vm_memslots (ops + ctx) like struct vm_irq and never call KVM
 * themselves; src/memslot.c is the KVM implementation, unit tests a fake.
 */
#ifndef KVMRUN_MEMSLOT_H
#define KVMRUN_MEMSLOT_H

#include <stdint.h>

struct vm_memslot_ops {
	/*
	 * Maps size bytes of host memory at guest-physical gpa (both page
	 * aligned).  The slot id (>= 0), or -errno (-EEXIST: it overlaps
	 * another slot, -ENOSPC: no slot left).
	 */
	int (*add)(void *ctx, uint64_t gpa, uint64_t size, void *host);
	/* Removes what add returned. */
	void (*remove)(void *ctx, int slot);
};

struct vm_memslots {
	const struct vm_memslot_ops *ops;
	void *ctx;
};

#define KVM_MEMSLOTS_EXTRA	64	/* run-time slots per VM */

/* The KVM implementation: slots first..first+KVM_MEMSLOTS_EXTRA-1 of vm_fd. */
struct kvm_memslots {
	int vm_fd;
	unsigned first;
	uint64_t used;			/* bit i: slot first + i is in use */
};

void kvm_memslots_init(struct kvm_memslots *k, int vm_fd, unsigned first);
struct vm_memslots kvm_memslots_ops_for(struct kvm_memslots *k);

#endif
