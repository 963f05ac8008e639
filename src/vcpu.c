/*
 * vCPU threads: KVM_RUN, then dispatch the exit to the bus or end the VM.
 * On PVM hosts a few instructions KVM's emulator cannot run are completed here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvmrun/boot.h"
#include "kvmrun/ioapic.h"
#include "kvmrun/log.h"
#include "kvmrun/migrate.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/vm.h"

#define BOOT_CS		0x10
#define BOOT_DS		0x18
#define BOOT_TSS	0x20

/* Flat 4 GiB descriptors in KVM's unpacked form; the same ones go into the guest GDT. */
static struct kvm_segment flat_segment(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

static uint64_t gdt_entry(const struct kvm_segment *s)
{
	uint64_t limit = s->g ? s->limit >> 12 : s->limit;

	return (limit & 0xffffULL) | ((s->base & 0xffffffULL) << 16) |
	       ((uint64_t)s->type << 40) | ((uint64_t)s->s << 44) |
	       ((uint64_t)s->dpl << 45) | ((uint64_t)s->present << 47) |
	       (((limit >> 16) & 0xfULL) << 48) | ((uint64_t)s->l << 53) |
	       ((uint64_t)s->db << 54) | ((uint64_t)s->g << 55) |
	       (((s->base >> 24) & 0xffULL) << 56);
}

int vcpu_setup_boot_regs(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct vm *vm = vcpu->vm;
	bool long_mode = entry->mode == BOOT_MODE_LONG64;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment cs = flat_segment(BOOT_CS, 0xb);	/* code, execute/read, accessed */
	struct kvm_segment ds = flat_segment(BOOT_DS, 0x3);	/* data, read/write, accessed */
	struct kvm_segment tr = {
		.base = 0, .limit = 0x67, .selector = BOOT_TSS, .type = 0xb,	/* busy TSS */
		.present = 1, .s = 0,
	};
	uint64_t gdt[5];

	if (long_mode) {
		/* The Linux 64-bit boot protocol: __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18. */
		cs.l = 1;
		cs.db = 0;
	}
	gdt[0] = gdt[1] = 0;
	gdt[2] = gdt_entry(&cs);
	gdt[3] = gdt_entry(&ds);
	gdt[4] = gdt_entry(&tr);
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (guest_mem_write(&vm->mem, BOOT_GDT_ADDR + (uint64_t)entry->boot_shift, gdt, sizeof(gdt)))
		return -EFAULT;
	sregs.gdt.base = BOOT_GDT_ADDR + (uint64_t)entry->boot_shift;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
	sregs.tr = tr;
	if (long_mode) {
		sregs.cr3 = BOOT_PT_ADDR + (uint64_t)entry->boot_shift;
		sregs.cr4 = 0x20;		/* PAE */
		sregs.cr0 = 0x80050033;		/* PG, AM, WP, NE, ET, MP, PE */
		sregs.efer = 0x500;		/* LME, LMA */
	} else {
		sregs.cr0 = 0x11;		/* PE, ET */
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = entry->rip;
	regs.rax = entry->rax;
	regs.rbx = entry->rbx;
	regs.rsi = entry->rsi;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* A real-mode segment as after INIT: base selector << 4, 64 KiB. */
static struct kvm_segment real_segment(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){
		.base = (uint64_t)sel << 4, .limit = 0xffff, .selector = sel, .type = type,
		.present = 1, .s = 1,
	};
}

int vcpu_setup_wake_regs(struct vcpu *vcpu, uint32_t vector, bool bsp)
{
	struct kvm_mp_state mp = {
		.mp_state = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* Read first: KVM_SET_SREGS also sets the APIC base, which stays. */
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = real_segment((uint16_t)(vector >> 4), 0xb);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = real_segment(0, 0x3);
	sregs.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .present = 1 };
	sregs.gdt.base = sregs.idt.base = 0;
	sregs.gdt.limit = 0xffff;
	sregs.idt.limit = 0x3ff;
	/* What firmware hands the OS: real mode with caches on, no paging, no long mode. */
	sregs.cr0 = 0x10;		/* ET */
	sregs.cr2 = sregs.cr3 = sregs.cr4 = 0;
	sregs.efer = 0;
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = vector & 0xf;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	/* The APs wait in the LAPIC for the guest's INIT and SIPI, as after power-on. */
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
		return -errno;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/* immediate_exit covers a thread that is about to enter KVM_RUN... */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* ...the signal one that is inside it. */
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIGUSR1);
}

static void stop_error(struct vcpu *vcpu)
{
	vm_stop_request(&vcpu->vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint16_t port = run->io.port;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (bus_dispatch(&vm->pio, port, data, run->io.size, is_write))
			continue;
		uint8_t bit = (uint8_t)(1u << (port & 7));

		if (!(atomic_fetch_or(&vm->pio_logged[port >> 3], bit) & bit))
			log_debug("vcpu%u: unhandled port %s 0x%x (%u bytes)%s", vcpu->id,
				  is_write ? "write to" : "read from", port, run->io.size,
				  is_write ? "" : ": reads all-ones");
	}
}

#define MMIO_LOG_MAX 16

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	uint32_t len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (bus_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			 run->mmio.is_write))
		return;
	if (atomic_fetch_add(&vm->mmio_logged, 1) < MMIO_LOG_MAX)
		log_debug("vcpu%u: unhandled MMIO %s 0x%llx (%u bytes)%s", vcpu->id,
			  run->mmio.is_write ? "write to" : "read from",
			  (unsigned long long)run->mmio.phys_addr, len,
			  run->mmio.is_write ? "" : ": reads all-ones");
}

/* Up to 15 bytes at the guest's RIP, from KVM's report or through its page tables. */
static int fetch_insn(struct vcpu *vcpu, uint64_t rip, uint8_t *buf, unsigned *len)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_translation tr = { .linear_address = rip };

	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	    run->emulation_failure.insn_size > 0) {
		*len = run->emulation_failure.insn_size;
		if (*len > 15)
			*len = 15;
		memcpy(buf, run->emulation_failure.insn_bytes, *len);
		return 0;
	}
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return -EFAULT;
	for (*len = 15; *len > 0; (*len)--)
		if (!guest_mem_read(&vcpu->vm->mem, tr.physical_address, buf, *len))
			return 0;
	return -EFAULT;
}

#define INSN_INT3	0xcc
#define INSN_FWAIT	0x9b
#define VEC_BP		3

/* Returns true when the instruction was completed on the guest's behalf. */
static bool pvm_fixup(struct vcpu *vcpu, struct kvm_regs *regs, const uint8_t *insn,
		      unsigned len)
{
	struct kvm_vcpu_events ev;

	if (len < 1)
		return false;
	switch (insn[0]) {
	case INSN_INT3:
		/* No emulator handler for int3: step over it and raise #BP ourselves. */
		regs->rip += 1;
		if (ioctl(vcpu->fd, KVM_SET_REGS, regs) < 0)
			return false;
		if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			return false;
		ev.exception.injected = 1;
		ev.exception.nr = VEC_BP;
		ev.exception.has_error_code = 0;
		ev.exception.error_code = 0;
		ev.flags = 0;
		return ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) == 0;
	case INSN_FWAIT:
		/* No unmasked x87 exceptions are ever pending here: fwait is a no-op. */
		regs->rip += 1;
		return ioctl(vcpu->fd, KVM_SET_REGS, regs) == 0;
	default:
		return false;
	}
}

static void handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	uint8_t insn[15];
	unsigned len = 0;
	char hex[15 * 3 + 1] = "";

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		memset(&regs, 0, sizeof(regs));
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		if (fetch_insn(vcpu, regs.rip, insn, &len))
			len = 0;
		if (vcpu->vm->pvm && pvm_fixup(vcpu, &regs, insn, len)) {
			if (vcpu->nr_fixups++ == 0)
				log_info("vcpu%u: completed an instruction KVM could not emulate "
					 "(0x%02x at 0x%llx); PVM fix-ups active", vcpu->id,
					 insn[0], (unsigned long long)regs.rip - 1);
			return;
		}
		for (unsigned i = 0; i < len; i++)
			snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", insn[i]);
		log_err("vcpu%u: KVM cannot emulate the instruction at rip 0x%llx [%s]%s",
			vcpu->id, (unsigned long long)regs.rip, len ? hex : "bytes unknown",
			vcpu->vm->pvm ? "" : " (try --pvm on if this host is PVM)");
	} else {
		log_err("vcpu%u: KVM internal error, suberror %u, at rip 0x%llx", vcpu->id,
			run->internal.suberror, (unsigned long long)regs.rip);
	}
	stop_error(vcpu);
}

static void handle_system_event(struct vcpu *vcpu)
{
	struct vm_stop *stop = &vcpu->vm->stop;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_stop_request(stop, STOP_POWEROFF, EXIT_GUEST_OFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_stop_request(stop, STOP_RESET, EXIT_GUEST_OFF);
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		log_err("vcpu%u: the guest reported a crash", vcpu->id);
		stop_error(vcpu);
		break;
	default:
		log_err("vcpu%u: unknown system event %u", vcpu->id,
			vcpu->run->system_event.type);
		stop_error(vcpu);
		break;
	}
}

/* Returns false when the loop must end (vm.h). */
bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		/* Split irqchip: a level vector's EOI clears Remote IRR, may deliver again. */
		if (vcpu->vm->ioapic)
			ioapic_eoi(vcpu->vm->ioapic, run->eoi.vector);
		return true;
	case KVM_EXIT_DIRTY_RING_FULL:
		/* Nothing to complete: KVM looks at the ring again on entry; a pause may park now. */
		vcpu->exit_incomplete = false;
		vcpu->nr_ring_full++;
		vm_migrate_ring_full(vcpu->vm);
		return true;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT only exits when nothing can wake the vCPU. */
		log_info("vcpu%u: halted for good", vcpu->id);
		vm_stop_request(&vcpu->vm->stop, STOP_POWEROFF, EXIT_GUEST_OFF);
		return false;
	case KVM_EXIT_SHUTDOWN:
		log_info("vcpu%u: triple fault: the guest reset", vcpu->id);
		vm_stop_request(&vcpu->vm->stop, STOP_RESET, EXIT_GUEST_OFF);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_err("vcpu%u: KVM could not enter the guest (hardware reason 0x%llx)", vcpu->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		stop_error(vcpu);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(vcpu);
		return !vm_stop_requested(&vcpu->vm->stop);
	default:
		log_err("vcpu%u: unexpected KVM exit reason %u", vcpu->id, run->exit_reason);
		stop_error(vcpu);
		return false;
	}
}

/* Waits out a pause (vm_pause counts the parked vCPUs). */
static void park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->park_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->park_cond);
	while (atomic_load(&vm->pause_req) && !vm_stop_requested(&vm->stop))
		pthread_cond_wait(&vm->park_cond, &vm->park_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->park_lock);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];
	sigset_t set;

	vcpu->tid = (pid_t)syscall(SYS_gettid);
	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* The kick signal must reach this thread; everything else goes to the main loop. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (sandbox_enter(SANDBOX_VCPU, name)) {
		stop_error(vcpu);
		return NULL;
	}

	while (!vm_stop_requested(&vcpu->vm->stop)) {
		/* A pause waits for KVM to complete the last exit: state saved before would repeat it. */
		if (atomic_load(&vcpu->vm->pause_req) && !vcpu->exit_incomplete) {
			park(vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* KVM completes a pending exit before it looks at kicks. */
				vcpu->exit_incomplete = false;
				continue;
			}
			log_err("vcpu%u: KVM_RUN: %s", vcpu->id, strerror(errno));
			stop_error(vcpu);
			break;
		}
		vcpu->exit_incomplete = true;
		vcpu->nr_exits++;
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	pthread_mutex_lock(&vcpu->vm->park_lock);
	vcpu->vm->running--;
	pthread_cond_broadcast(&vcpu->vm->park_cond);
	pthread_mutex_unlock(&vcpu->vm->park_lock);
	return NULL;
}
