/* The host side: /dev/kvm, its API version, capabilities and backend. */
#ifndef KVMRUN_KVM_H
#define KVMRUN_KVM_H

#include <stdbool.h>

enum kvm_backend {
	BACKEND_UNKNOWN,
	BACKEND_VMX,	/* Intel VT-x */
	BACKEND_SVM,	/* AMD-V */
	BACKEND_PVM,	/* Pagetable-based Virtual Machine: kernel code emulated */
};

struct kvm_host {
	int fd;
	int api_version;
	int nr_vcpus;		/* recommended */
	int max_vcpus;
	enum kvm_backend backend;
	/*
	 * Dirty ring entries per vCPU that vm_create enables: 0 where the host
	 * has no KVM_CAP_DIRTY_LOG_RING, or on PVM (kvm.c says why): then
	 * migration uses the dirty bitmap.  Tests may set it (up to
	 * dirty_ring_max), or set 0 to exercise the bitmap path.
	 */
	unsigned dirty_ring_entries;
	unsigned dirty_ring_max;	/* entries the host's dirty ring can have; 0: none */
};

/*
 * 4096 entries (16 bytes each: 64 KiB per vCPU): a vCPU may dirty 16 MiB
 * between two harvests before it exits with a full ring, and a full exit
 * costs ~44 us on PVM hosts, so a busy guest makes few of them.
 */
#define KVM_DIRTY_RING_ENTRIES	4096u

struct kvm_cap_req {
	int cap;
	const char *name;
};

/* Capabilities kvmrun needs; all are checked by kvm_host_open(). */
extern const struct kvm_cap_req kvm_required_caps[];
extern const unsigned kvm_nr_required_caps;

/*
 * Opens /dev/kvm (path overridable by $KVMRUN_DEV_KVM, for tests) and checks
 * the API version and the required capabilities.  On failure it logs one
 * line that says what to do and returns a negative errno.
 */
int kvm_host_open(struct kvm_host *host);
void kvm_host_close(struct kvm_host *host);

enum kvm_backend kvm_detect_backend(void);
const char *kvm_backend_name(enum kvm_backend b);

#endif
