/* The CPUID model the guest sees. */
#ifndef KVMRUN_CPUID_H
#define KVMRUN_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* KVM_GET_SUPPORTED_CPUID, adjusted for the host (PVM: only what the emulator runs). */
struct kvm_cpuid2 *cpuid_model_create(int kvm_fd, bool pvm);

/* Writes topology and APIC id for vCPU id of nr_vcpus into c. */
void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned id, unsigned nr_vcpus);

/* Removes features a PVM host's instruction emulator cannot execute. */
void cpuid_restrict_for_pvm(struct kvm_cpuid2 *c);

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index);

#endif
