/*
 * What KVM itself holds for a VM and its vCPUs, as records in the state byte
 * format (state.h): saved from a paused VM, restored into a fresh one built
 * by vm_create + vm_create_vcpus(vm, NULL).  The caller frames and versions
 * each record; a record is hostile input: every count and size is bounded
 * before anything is allocated, and nothing reaches KVM before the whole
 * record has been read and checked.
 *
 * Restore order: vm_kvm_state_restore (irqchip, PIT, kvmclock), then
 * vcpu_state_restore for every vCPU, then the vCPUs may run.
 */
#ifndef KVMRUN_VCPU_STATE_H
#define KVMRUN_VCPU_STATE_H

#include <stddef.h>

#include "kvmrun/state.h"

struct vm;
struct vcpu;

/* Bounds on what a record may hold (KVM's own limits, with room to spare). */
#define VCPU_STATE_MAX_CPUID	256		/* KVM_MAX_CPUID_ENTRIES */
#define VCPU_STATE_MAX_MSRS	1024
#define VCPU_STATE_MAX_XSAVE	(1u << 20)	/* bytes of XSAVE area */

/* Per VM: PIC master and slave, IOAPIC (KVM_GET_IRQCHIP), PIT (KVM_GET_PIT2), kvmclock. */
int vm_kvm_state_save(struct vm *vm, struct state_writer *w);
int vm_kvm_state_restore(struct vm *vm, struct state_reader *r, char *err, size_t errlen);

/*
 * Per vCPU, with its thread outside KVM_RUN (a paused VM, or one not started
 * yet); restore wants a vCPU that has never run.  0 or -errno; restore
 * writes one line into err ("vcpu1: ...") when it fails.
 */
int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w);
int vcpu_state_restore(struct vcpu *vcpu, struct state_reader *r, char *err, size_t errlen);

/*
 * The MSRs KVM lists as vCPU state (a /dev/kvm ioctl: fetched when the VM is
 * created, since the host fd is closed once the machine is built).  NULL
 * after one logged line.
 */
struct kvm_msr_list *vcpu_state_msr_list(int kvm_fd);

/* Reads and checks a record without touching KVM (the fuzz target's way in). */
int vm_kvm_state_check(struct state_reader *r, char *err, size_t errlen);
int vcpu_state_check(struct state_reader *r, char *err, size_t errlen);

#endif
