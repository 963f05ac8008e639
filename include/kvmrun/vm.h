/* One struct vm owns a virtual machine: its fds, memory, buses, vCPUs and devices. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kvmrun/bus.h"
#include "kvmrun/config.h"
#include "kvmrun/console.h"
#include "kvmrun/device.h"
#include "kvmrun/irq.h"
#include "kvmrun/kvm_irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/mem.h"
#include "kvmrun/memslot.h"
#include "kvmrun/reaper.h"
#include "kvmrun/sink.h"
#include "kvmrun/stop.h"
#include "kvmrun/watchdog.h"

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
	pid_t tid;		/* its thread's id once running (query-cpus-fast) */
	/* The last exit was handled but KVM has not completed it yet (a KVM_RUN does). */
	bool exit_incomplete;
	/* The table given to KVM_SET_CPUID2, for a snapshot (KVM_GET_CPUID2 is unreliable on PVM). */
	struct kvm_cpuid2 *cpuid;
	/* Its dirty ring (vm->dirty_ring_entries of them), or NULL; the harvester's index. */
	struct kvm_dirty_gfn *ring;
	uint32_t ring_fetch;
	uint64_t nr_ring_full;	/* KVM_EXIT_DIRTY_RING_FULL exits */
};

struct serial8250;
struct acpi_pm;
struct rtc_cmos;
struct pci_bus;
struct virtio_device;
struct ioapic;

/* Where guest output goes: one sink per host fd, shared by the devices writing there. */
enum { VM_OUT_STDOUT, VM_OUT_SERIAL_FILE, VM_NR_OUTS };

struct vm_output {
	struct out_sink sink;
	int fd;				/* closed with the VM when above stderr */
	bool used;
};

/*
 * Who watches the VM's life (the control socket): emit is called from any
 * thread, without VM locks, for QMP events ("STOP", "RESUME", "SHUTDOWN",
 * "RESET", "POWERDOWN", "MIGRATION"); data is NULL or the text of a JSON
 * object.  Unset: nobody listens.
 */
struct vm_events {
	void (*emit)(void *opaque, const char *event, const char *data_json);
	void *opaque;
};

struct vm {
	const struct vm_config *cfg;
	struct kvm_host *host;
	int fd;
	bool pvm;			/* PVM workarounds active */
	pthread_t pit_thread;		/* creating the in-kernel PIT (vm_pit_wait) */
	bool pit_pending;
	int pit_err;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct kvm_cpuid2 *cpuid;	/* the model, before per-vCPU ids */
	struct kvm_msr_list *msr_list;	/* MSRs a snapshot saves (vcpu_state.h) */
	unsigned nr_vcpus;
	struct vcpu *vcpus;
	size_t run_size;
	/* Dirty ring entries per vCPU (power of 2), 0: no ring, migration uses the bitmap. */
	unsigned dirty_ring_entries;

	struct kvm_irq kvm_irq;		/* KVM plumbing: lines, ioeventfds, irqfds, MSI routes */
	struct vm_irq irq;		/* what devices get: kvm_irq behind ops (split: the IOAPIC's front) */
	struct ioapic *ioapic;		/* --irqchip split: the userspace IOAPIC, else NULL */
	struct kvm_memslots memslots;	/* run-time slots after RAM's (VFIO BARs) */
	/* Every device, in the builder's order (src/builder.c). */
	struct device_list devices;
	unsigned next_mmio_slot;	/* builder: virtio-mmio windows handed out */
	struct vm_output out[VM_NR_OUTS];
	/* Devices the main loop talks to. */
	struct serial8250 *serial;	/* COM1: console input without a virtio console */
	struct virtio_device *vconsole;	/* gets console input when present */
	struct pci_bus *pci;		/* with --transport pci */
	struct snapshot_port *snapshot_port;
	int snap_efd;			/* the guest asked for a snapshot (main loop) */
	/* S3 (src/sleep.c): the PM block that sleeps and wakes, the RTC whose alarm wakes. */
	struct acpi_pm *acpi_pm;
	struct rtc_cmos *rtc;
	int sleep_efd;			/* the guest asked to sleep (main loop) */
	int rtc_efd;			/* the RTC's next event moved (main loop) */
	int rtc_tfd;			/* CLOCK_REALTIME timer at the RTC's next event */
	atomic_bool asleep;		/* in S3: vCPUs parked until a wake event */

	struct vm_events events;
	struct migration *migration;	/* migrate.c's bookkeeping */

	/* Pause (vm_pause): vCPUs park between two KVM_RUNs, devices hold still. */
	pthread_mutex_t pause_lock;	/* one pause or resume at a time */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;	/* parked changed, or the pause ended */
	atomic_bool pause_req;
	atomic_bool paused;
	unsigned parked, running;	/* vCPU threads parked / inside their loop (park_lock) */
	unsigned holds;			/* vm_pause_hold: a resume must wait (pause_lock) */
	bool start_paused;		/* vm_run starts with the VM paused (restore, incoming) */

	struct vm_stop stop;
	struct timespec deadline;	/* CLOCK_MONOTONIC; zero: no --timeout */
	int sfd;			/* signalfd: SIGINT, SIGTERM, SIGHUP */
	struct vm_reaper reaper;	/* drops the VM's last reference after kvmrun exits */
	struct console con;		/* the host terminal, raw while the guest runs */
	struct stop_watchdog watchdog;	/* bounds the stop, teardown included */
	int rx_efd;			/* UART made room for console input */

	/* Unhandled accesses are logged once: per port, and for the first few MMIO addresses. */
	_Atomic uint8_t pio_logged[65536 / 8];
	atomic_uint mmio_logged;
};

/*
 * Creates the VM: VM fd, memory slots, irqchip (or split irqchip), PIT, CPUID model.  The
 * builder (builder.h) then fills it with devices, the kernel and vCPUs.
 */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct kvm_host *host);
void vm_destroy(struct vm *vm);
/* Flushes and closes the VM's outputs (vm_destroy does it after the devices). */
void vm_outputs_destroy(struct vm *vm);

/*
 * Creates the vCPUs (CPUID, LAPIC wiring); the BSP starts at the boot entry,
 * or, with entry NULL, no registers are set (a restore sets them all).
 */
struct boot_entry;
int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry);
/* Waits for the in-kernel PIT, created in the background by vm_create: 0 or -errno. */
int vm_pit_wait(struct vm *vm);

/* Starts the devices' threads and the vCPUs, runs until the guest or the host stops it; returns the exit status. */
int vm_run(struct vm *vm);

/*
 * Pause: every vCPU out of KVM_RUN with its last exit completed, device
 * workers quiesced, what the guest wrote to its outputs flushed; the VM's
 * state is then stable for save ops and RAM copies.  Any thread but a
 * vCPU's; a pause of a paused VM is a no-op.  Emit STOP / RESUME.  0 or
 * -errno (-ESHUTDOWN: the VM is stopping).
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/*
 * A pause nobody can end while it is held: a snapshot or a migration's last
 * phase reads the VM, and a `cont` in the middle would save a moving
 * machine.  vm_resume returns -EBUSY while any hold remains.  vm_pause_hold
 * returns as vm_pause does; vm_release drops the hold and, when resume is
 * true and it was the last, resumes.
 */
int vm_pause_hold(struct vm *vm);
void vm_release(struct vm *vm, bool resume);

/* vCPU thread body and helpers (vcpu.c). */
void *vcpu_thread(void *arg);
int vcpu_setup_boot_regs(struct vcpu *vcpu, const struct boot_entry *entry);
/*
 * Resuming from S3 (a vCPU outside KVM_RUN): real mode at vector's
 * segment:offset for the BSP, waiting for INIT/SIPI for the others.  0 or -errno.
 */
int vcpu_setup_wake_regs(struct vcpu *vcpu, uint32_t vector, bool bsp);
void vcpu_kick(struct vcpu *vcpu);
/* Handles the exit in vcpu->run; false when the vCPU loop must end. */
bool vcpu_handle_exit(struct vcpu *vcpu);

/* S3 (src/sleep.c).  The guest wrote SLP_TYP S3 (acpi_pm's handler, vCPU thread): park now. */
void vm_sleep_requested(void *opaque);
/* The RTC's next alarm or update moved (its callback, any thread). */
void vm_rtc_changed(void *opaque);
/* Main loop: the machine sleeps (sleep_efd). */
void vm_sleep_enter(struct vm *vm);
/* Main loop: the RTC timer fired or moved; an enabled alarm wakes a sleeping machine. */
void vm_rtc_event(struct vm *vm, bool fired);

/* The guest wrote the snapshot port (vCPU thread): pause now, the main loop saves. */
void vm_snapshot_requested(void *opaque);

/* Wakes the main loop: the console device can take more input (opaque: &vm->rx_efd). */
void vm_console_rx_space(void *opaque);

/*
 * Blocks the signals the main loop takes through its signalfd, before any
 * thread exists, so that every thread inherits the mask.
 */
void vm_block_signals(void);

#endif
