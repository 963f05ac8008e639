/* One struct vm owns a virtual machine: its fds, memory, buses, vCPUs and devices. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kvmrun/bus.h"
#include "kvmrun/config.h"
#include "kvmrun/kvm_irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/mem.h"
#include "kvmrun/stop.h"

/* Fixed guest-physical addresses KVM needs on Intel hosts (below the LAPIC). */
#define KVM_TSS_ADDR		0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR	0xfffbc000ULL

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t nr_exits;
	uint64_t nr_fixups;	/* PVM emulation fix-ups applied */
};

struct serial8250;
struct i8042;
struct debug_exit;
struct acpi_pm;
struct rtc_cmos;
struct virtio_slot;
struct pci_bus;

struct vm {
	const struct vm_config *cfg;
	struct kvm_host *host;
	int fd;
	bool pvm;			/* PVM workarounds active */
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct kvm_cpuid2 *cpuid;	/* the model, before per-vCPU ids */
	unsigned nr_vcpus;
	struct vcpu *vcpus;
	size_t run_size;

	struct serial8250 *serial;
	struct i8042 *i8042;
	struct debug_exit *debug_exit;
	struct acpi_pm *acpi_pm;
	struct rtc_cmos *rtc;
	struct kvm_irq irq;		/* KVM plumbing for devices: lines, ioeventfds, irqfds, MSI routes */
	struct pci_bus *pci;		/* with --transport pci */
	struct virtio_slot **virtio;
	unsigned nr_virtio;
	struct virtio_device *vconsole;	/* gets console input when present */

	struct vm_stop stop;
	struct timespec deadline;	/* CLOCK_MONOTONIC; zero: no --timeout */
	int rx_efd;			/* UART made room for console input */

	/* Unhandled accesses are logged once: per port, and for the first few MMIO addresses. */
	_Atomic uint8_t pio_logged[65536 / 8];
	atomic_uint mmio_logged;
};

/* Creates the VM: VM fd, memory slots, irqchip, PIT, CPUID model, devices. */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct kvm_host *host);
void vm_destroy(struct vm *vm);

/* Creates the vCPUs (CPUID, LAPIC wiring); the BSP starts at the boot entry. */
struct boot_entry;
int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry);

/* Runs until the guest or the host stops it; returns the exit status. */
int vm_run(struct vm *vm);

/* vCPU thread body and helpers (vcpu.c). */
void *vcpu_thread(void *arg);
int vcpu_setup_boot_regs(struct vcpu *vcpu, const struct boot_entry *entry);
void vcpu_kick(struct vcpu *vcpu);

/* Wakes the main loop: the console device can take more input (opaque: &vm->rx_efd). */
void vm_console_rx_space(void *opaque);

/* Sets an in-kernel irqchip line (GSI) to level. */
void vm_irq_line(void *vm_opaque, unsigned gsi, int level);

#endif
