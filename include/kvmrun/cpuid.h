/* The CPUID model the guest sees. */
#ifndef KVMRUN_CPUID_H
#define KVMRUN_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* A CPUID feature bit that -cpu MODEL,+NAME / -NAME turns on or off (QEMU's names). */
struct cpuid_feature {
	const char *name;
	uint32_t function, index;
	uint8_t reg;		/* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint8_t bit;
};

/* The features kvmrun can set: cpuid_features[i] is bit i of the masks below. */
extern const struct cpuid_feature cpuid_features[];
extern const unsigned cpuid_nr_features;

/* Index into cpuid_features of QEMU's NAME ('_' and '-' alike), or -ENOENT. */
int cpuid_feature_find(const char *name);

/*
 * KVM_GET_SUPPORTED_CPUID, adjusted for the host (PVM: only what the
 * emulator runs), then the features in mask on set where KVM offers them and
 * those in off cleared.  Each feature asked for that KVM cannot offer is left
 * off and logged at info level (-v), as QEMU warns.
 */
struct kvm_cpuid2 *cpuid_model_create(int kvm_fd, bool pvm, uint32_t on, uint32_t off);

/*
 * Applies on/off to model; supported is KVM's own table, tsc_deadline
 * whether KVM has KVM_CAP_TSC_DEADLINE_TIMER.  Returns the features of on
 * that were left off.
 */
uint32_t cpuid_apply_features(struct kvm_cpuid2 *model, struct kvm_cpuid2 *supported,
			      bool tsc_deadline, uint32_t on, uint32_t off);

/* Writes topology and APIC id for vCPU id of nr_vcpus into c. */
void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned id, unsigned nr_vcpus);

/* Removes features a PVM host's instruction emulator cannot execute. */
void cpuid_restrict_for_pvm(struct kvm_cpuid2 *c);

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index);

#endif
