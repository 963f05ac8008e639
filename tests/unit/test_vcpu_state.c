/*
 * KVM state of a VM and its vCPUs (src/vcpu_state.c, src/vm_state.c) on real
 * VMs: distinctive values survive save -> restore into a second VM -> save;
 * a guest stopped between two instructions goes on in the second VM; bad
 * records (truncated, oversized counts, CPUID bits the host lacks, unknown
 * values) are refused with one line and -EINVAL.  Skipped (status 77) where
 * /dev/kvm cannot be opened.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmrun/cpuid.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/vcpu_state.h"
#include "kvmrun/vm.h"
#include "testlib.h"

#define SKIP		77
#define MEM_SIZE	(16ULL << 20)
#define NR_VCPUS	2

#define MSR_IA32_TSC		0x10
#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_STAR		0xc0000081
#define MSR_KERNEL_GS_BASE	0xc0000102

#define APIC_LVTT	0x320
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0

static struct kvm_host host;
static struct vm_config cfg;
static struct vm a, b;
static struct state_writer wvm[2], wcpu[2][NR_VCPUS];	/* [vm a, vm b][vcpu] */
static char err[256];

static void make_vm(struct vm *vm)
{
	ck_assert_int_eq(vm_create(vm, &cfg, &host), 0);
	ck_assert_int_eq(vm_create_vcpus(vm, NULL), 0);
}

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.cpus = NR_VCPUS;
	cfg.mem_size = MEM_SIZE;
	cfg.serial = SERIAL_NONE;
	make_vm(&a);
	make_vm(&b);
	for (unsigned i = 0; i < 2; i++) {
		state_writer_init(&wvm[i]);
		for (unsigned j = 0; j < NR_VCPUS; j++)
			state_writer_init(&wcpu[i][j]);
	}
	err[0] = '\0';
}

static void teardown(void)
{
	for (unsigned i = 0; i < 2; i++) {
		state_writer_free(&wvm[i]);
		for (unsigned j = 0; j < NR_VCPUS; j++)
			state_writer_free(&wcpu[i][j]);
	}
	vm_destroy(&a);
	vm_destroy(&b);
}

static void save_all(struct vm *vm, unsigned slot)
{
	ck_assert_int_eq(vm_kvm_state_save(vm, &wvm[slot]), 0);
	for (unsigned i = 0; i < NR_VCPUS; i++)
		ck_assert_int_eq(vcpu_state_save(&vm->vcpus[i], &wcpu[slot][i]), 0);
}

static void restore_all(struct vm *vm, unsigned slot)
{
	struct state_reader r;

	state_reader_init(&r, wvm[slot].data, wvm[slot].len);
	ck_assert_msg(vm_kvm_state_restore(vm, &r, err, sizeof(err)) == 0, "%s", err);
	for (unsigned i = 0; i < NR_VCPUS; i++) {
		state_reader_init(&r, wcpu[slot][i].data, wcpu[slot][i].len);
		ck_assert_msg(vcpu_state_restore(&vm->vcpus[i], &r, err, sizeof(err)) == 0, "%s", err);
	}
}

/* ---- where things are in a vCPU record (the layout vcpu_state.c writes) ---- */

struct layout {
	size_t cpuid;		/* first CPUID entry */
	uint32_t nent;
	size_t mp, sregs, regs, xcrs, lapic, msrs, events, end;
	uint32_t nmsrs;
};

static void skip(struct state_reader *r, size_t n)
{
	ck_assert_uint_le(n, r->len - r->off);
	r->off += n;
}

static struct layout walk(const struct state_writer *w)
{
	struct state_reader r;
	struct layout l;
	uint8_t kind;

	state_reader_init(&r, w->data, w->len);
	l.nent = state_get_u32(&r);
	l.cpuid = r.off;
	skip(&r, l.nent * 28);
	skip(&r, 4);				/* TSC kHz */
	l.mp = r.off;
	skip(&r, 4);
	l.sregs = r.off;
	kind = state_get_u8(&r);
	skip(&r, 8 * 23 + 2 * 10 + 7 * 8 + (kind == 1 ? 32 : 40));
	l.regs = r.off;
	skip(&r, 18 * 8);
	kind = state_get_u8(&r);
	skip(&r, kind == 2 ? state_get_u32(&r) : 411);
	l.xcrs = r.off;
	skip(&r, state_get_u32(&r) * 12);
	l.lapic = r.off;
	skip(&r, 1024);
	l.msrs = r.off;
	l.nmsrs = state_get_u32(&r);
	skip(&r, l.nmsrs * 12);
	skip(&r, 6 * 8);			/* debug registers */
	l.events = r.off;
	skip(&r, 37);
	l.end = r.off;
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(l.end, w->len);
	return l;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Same record, but for what ticks: the TSC MSR and the LAPIC timer's current count. */
static void compare_vcpu_records(const struct state_writer *x, const struct state_writer *y)
{
	struct layout lx = walk(x), ly = walk(y);

	ck_assert_uint_eq(x->len, y->len);
	ck_assert_uint_eq(lx.msrs, ly.msrs);
	ck_assert_mem_eq(x->data, y->data, lx.lapic + APIC_TMCCT);
	ck_assert_mem_eq(x->data + lx.lapic + APIC_TMCCT + 4, y->data + ly.lapic + APIC_TMCCT + 4,
			 1024 - APIC_TMCCT - 4);
	ck_assert_uint_eq(lx.nmsrs, ly.nmsrs);
	for (uint32_t i = 0; i < lx.nmsrs; i++) {
		const uint8_t *ex = x->data + lx.msrs + 4 + 12 * i, *ey = y->data + ly.msrs + 4 + 12 * i;

		ck_assert_uint_eq(rd32(ex), rd32(ey));
		if (rd32(ex) != MSR_IA32_TSC)
			ck_assert_msg(!memcmp(ex, ey, 12), "MSR 0x%x differs", rd32(ex));
	}
	ck_assert_mem_eq(x->data + lx.msrs + 4 + 12 * lx.nmsrs, y->data + ly.msrs + 4 + 12 * ly.nmsrs,
			 lx.end - lx.msrs - 4 - 12 * lx.nmsrs);
}

/* ---- distinctive state ---- */

static uint64_t get_msr(struct vcpu *v, uint32_t index)
{
	struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = { .h.nmsrs = 1, .e.index = index };

	ck_assert_int_eq(ioctl(v->fd, KVM_GET_MSRS, &m), 1);
	return m.e.data;
}

static void set_msr(struct vcpu *v, uint32_t index, uint64_t data)
{
	struct { struct kvm_msrs h; struct kvm_msr_entry e; } m = {
		.h.nmsrs = 1, .e.index = index, .e.data = data,
	};

	ck_assert_int_eq(ioctl(v->fd, KVM_SET_MSRS, &m), 1);
}

static void lapic_set(struct kvm_lapic_state *l, unsigned reg, uint32_t v)
{
	memcpy(&l->regs[reg], &v, 4);
}

static uint32_t lapic_get(const struct kvm_lapic_state *l, unsigned reg)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], 4);
	return v;
}

static bool xcr0_avx_offered(struct vm *vm)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(vm->cpuid, 0xd, 0);

	return e && (e->eax & 7) == 7 && ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
}

static void set_distinctive(struct vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct kvm_pit_state2 pit;
	struct kvm_lapic_state lapic;
	struct kvm_debugregs dbg;
	struct kvm_vcpu_events ev;
	struct kvm_sregs sregs;

	for (unsigned i = 0; i < NR_VCPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_regs regs;

		memset(&regs, 0, sizeof(regs));
		for (unsigned k = 0; k < 16; k++)
			((__u64 *)&regs)[k] = 0x1111111111111111ULL * (k + 1) + i;
		regs.rip = 0x1000 + i;
		regs.rflags = 0x202;
		ck_assert_int_eq(ioctl(v->fd, KVM_SET_REGS, &regs), 0);
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_SREGS, &sregs), 0);
		sregs.gdt.base = 0x5000 + i;
		sregs.gdt.limit = 0x37;
		sregs.idt.base = 0x6000;
		sregs.idt.limit = 0xfff;
		sregs.cr2 = 0xdead0000 + i;
		ck_assert_int_eq(ioctl(v->fd, KVM_SET_SREGS, &sregs), 0);
		set_msr(v, MSR_IA32_SYSENTER_CS, 0x10 + i);
		set_msr(v, MSR_IA32_SYSENTER_ESP, 0xffff800012340000ULL + i);
		set_msr(v, MSR_KERNEL_GS_BASE, 0xffff888000abc000ULL + i);
		set_msr(v, MSR_STAR, 0x0023001000000000ULL);
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_LAPIC, &lapic), 0);
		lapic_set(&lapic, APIC_LVTT, 0x20000 | 0xec);	/* periodic, vector 0xec */
		lapic_set(&lapic, APIC_TDCR, 0xb);		/* divide by 1 */
		lapic_set(&lapic, APIC_TMICT, 0x10000000);
		ck_assert_int_eq(ioctl(v->fd, KVM_SET_LAPIC, &lapic), 0);
		memset(&dbg, 0, sizeof(dbg));
		for (unsigned k = 0; k < 4; k++)
			dbg.db[k] = 0x400000 + 0x1000 * k + i;
		dbg.dr6 = 0xffff0ff0;
		dbg.dr7 = 0x455;	/* L0, L1, L2 enabled */
		ck_assert_int_eq(ioctl(v->fd, KVM_SET_DEBUGREGS, &dbg), 0);
		if (xcr0_avx_offered(vm)) {
			struct kvm_xcrs x = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = 7 } };

			ck_assert_int_eq(ioctl(v->fd, KVM_SET_XCRS, &x), 0);
		}
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev), 0);
		if (i == 0) {
			ev.exception.injected = 1;
			ev.exception.nr = 13;
			ev.exception.has_error_code = 1;
			ev.exception.error_code = 0x18;
		} else {
			ev.nmi.pending = 1;
			ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
		}
		ck_assert_int_eq(ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev), 0);
	}

	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.pic.irq_base = 0x20;
	chip.chip.pic.imr = 0xfa;
	chip.chip.pic.elcr = 0x00;
	ck_assert_int_eq(ioctl(vm->fd, KVM_SET_IRQCHIP, &chip), 0);
	chip.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.pic.irq_base = 0x28;
	chip.chip.pic.imr = 0xef;
	chip.chip.pic.elcr = 0x0e;
	ck_assert_int_eq(ioctl(vm->fd, KVM_SET_IRQCHIP, &chip), 0);
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.ioapic.redirtbl[4].bits = 0x24;		/* edge, unmasked, vector 0x24 */
	chip.chip.ioapic.redirtbl[9].bits = 0x18000 | 0x29;	/* level, masked */
	chip.chip.ioapic.redirtbl[9].fields.dest_id = 1;
	ck_assert_int_eq(ioctl(vm->fd, KVM_SET_IRQCHIP, &chip), 0);
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_PIT2, &pit), 0);
	pit.channels[0].mode = 2;
	pit.channels[0].rw_mode = 3;
	pit.channels[0].read_state = 3;
	pit.channels[0].write_state = 3;
	/*
	 * A long period (55 ms): each tick sets IRQ 0 in the PIC's IRR, which
	 * would differ between the two records if one fell between restore
	 * and save (seen under ASan with 0x1234, a 3.9 ms period).
	 */
	pit.channels[0].count = 0xfff0;
	ck_assert_int_eq(ioctl(vm->fd, KVM_SET_PIT2, &pit), 0);
}

static void check_distinctive(struct vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_SLAVE };
	struct kvm_pit_state2 pit;
	struct kvm_lapic_state lapic;
	struct kvm_debugregs dbg;
	struct kvm_vcpu_events ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_mp_state mp;

	for (unsigned i = 0; i < NR_VCPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];

		ck_assert_int_eq(ioctl(v->fd, KVM_GET_REGS, &regs), 0);
		ck_assert_uint_eq(regs.rax, 0x1111111111111111ULL + i);
		ck_assert_uint_eq(regs.r15, 0x1111111111111111ULL * 16 + i);
		ck_assert_uint_eq(regs.rip, 0x1000 + i);
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_SREGS, &sregs), 0);
		ck_assert_uint_eq(sregs.gdt.base, 0x5000 + i);
		ck_assert_uint_eq(sregs.cr2, 0xdead0000 + i);
		ck_assert_uint_eq(get_msr(v, MSR_IA32_SYSENTER_CS), 0x10 + i);
		ck_assert_uint_eq(get_msr(v, MSR_IA32_SYSENTER_ESP), 0xffff800012340000ULL + i);
		ck_assert_uint_eq(get_msr(v, MSR_KERNEL_GS_BASE), 0xffff888000abc000ULL + i);
		ck_assert_uint_eq(get_msr(v, MSR_STAR), 0x0023001000000000ULL);
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_LAPIC, &lapic), 0);
		ck_assert_uint_eq(lapic_get(&lapic, APIC_LVTT), 0x200ec);
		ck_assert_uint_eq(lapic_get(&lapic, APIC_TMICT), 0x10000000);
		ck_assert_uint_eq(lapic_get(&lapic, APIC_TDCR), 0xb);
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_DEBUGREGS, &dbg), 0);
		ck_assert_uint_eq(dbg.db[2], 0x402000 + i);
		ck_assert_uint_eq(dbg.dr7, 0x455);
		if (xcr0_avx_offered(vm)) {
			struct kvm_xcrs x;

			ck_assert_int_eq(ioctl(v->fd, KVM_GET_XCRS, &x), 0);
			ck_assert_uint_eq(x.xcrs[0].value, 7);
		}
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev), 0);
		if (i == 0) {
			ck_assert_uint_eq(ev.exception.injected, 1);
			ck_assert_uint_eq(ev.exception.nr, 13);
			ck_assert_uint_eq(ev.exception.error_code, 0x18);
		} else {
			ck_assert_uint_eq(ev.nmi.pending, 1);
		}
		ck_assert_int_eq(ioctl(v->fd, KVM_GET_MP_STATE, &mp), 0);
		/* The AP still waits for INIT/SIPI, the BSP runs. */
		ck_assert_uint_eq(mp.mp_state, i ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE);
	}
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), 0);
	ck_assert_uint_eq(chip.chip.pic.irq_base, 0x28);
	ck_assert_uint_eq(chip.chip.pic.imr, 0xef);
	ck_assert_uint_eq(chip.chip.pic.elcr, 0x0e);
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_IRQCHIP, &chip), 0);
	ck_assert_uint_eq(chip.chip.ioapic.redirtbl[4].bits, 0x24);
	ck_assert_uint_eq(chip.chip.ioapic.redirtbl[9].bits, 0x0100000000018029ULL);
	ck_assert_int_eq(ioctl(vm->fd, KVM_GET_PIT2, &pit), 0);
	ck_assert_uint_eq(pit.channels[0].mode, 2);
	ck_assert_uint_eq(pit.channels[0].count, 0xfff0);
}

START_TEST(round_trip)
{
	struct kvm_clock_data ca, cb;

	set_distinctive(&a);
	save_all(&a, 0);
	restore_all(&b, 0);
	ck_assert_str_eq(err, "");
	check_distinctive(&b);
	save_all(&b, 1);
	for (unsigned i = 0; i < NR_VCPUS; i++)
		compare_vcpu_records(&wcpu[0][i], &wcpu[1][i]);
	/* The VM record: all the same but kvmclock (last: u64 clock, u32 flags, u64 realtime). */
	ck_assert_uint_eq(wvm[0].len, wvm[1].len);
	ck_assert_mem_eq(wvm[0].data, wvm[1].data, wvm[0].len - 20);
	/* The clock went on from the saved value: no jump over the time in between. */
	ck_assert_int_eq(ioctl(a.fd, KVM_GET_CLOCK, &ca), 0);
	ck_assert_int_eq(ioctl(b.fd, KVM_GET_CLOCK, &cb), 0);
	ck_assert_uint_le(cb.clock, ca.clock);
	ck_assert_uint_gt(cb.clock + 1000000000ULL, ca.clock);
}
END_TEST

/*
 * Real-mode guest: eax = 0x11111111, out; add eax, 0x22222222; ebx = ...;
 * out.  Stopped at the first OUT (completed by an immediate-exit KVM_RUN, as
 * vm_pause does), saved, restored into the second VM, which runs the rest.
 */
static const uint8_t guest_code[] = {
	0x66, 0xb8, 0x11, 0x11, 0x11, 0x11,	/* mov eax, 0x11111111 */
	0xe6, 0x10,				/* out 0x10, al */
	0x66, 0x05, 0x22, 0x22, 0x22, 0x22,	/* add eax, 0x22222222 */
	0x66, 0xbb, 0x44, 0x33, 0x22, 0x11,	/* mov ebx, 0x11223344 */
	0xe6, 0x10,				/* out 0x10, al */
};

static void run_to_out(struct vcpu *v, uint8_t want)
{
	int r;

	do
		r = ioctl(v->fd, KVM_RUN, 0);
	while (r < 0 && errno == EINTR);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(v->run->exit_reason, KVM_EXIT_IO);
	ck_assert_uint_eq(v->run->io.port, 0x10);
	ck_assert_uint_eq(v->run->io.direction, KVM_EXIT_IO_OUT);
	ck_assert_uint_eq(*((uint8_t *)v->run + v->run->io.data_offset), want);
}

START_TEST(guest_continues)
{
	struct vcpu *va = &a.vcpus[0], *vb = &b.vcpus[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	ck_assert_int_eq(guest_mem_write(&a.mem, 0x1000, guest_code, sizeof(guest_code)), 0);
	ck_assert_int_eq(guest_mem_write(&b.mem, 0x1000, guest_code, sizeof(guest_code)), 0);
	ck_assert_int_eq(ioctl(va->fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ck_assert_int_eq(ioctl(va->fd, KVM_SET_SREGS, &sregs), 0);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	ck_assert_int_eq(ioctl(va->fd, KVM_SET_REGS, &regs), 0);

	run_to_out(va, 0x11);
	/* Complete the OUT without running on: what a pause does. */
	va->run->immediate_exit = 1;
	ck_assert_int_eq(ioctl(va->fd, KVM_RUN, 0), -1);
	ck_assert_int_eq(errno, EINTR);
	va->run->immediate_exit = 0;
	save_all(&a, 0);
	restore_all(&b, 0);

	run_to_out(vb, 0x33);
	ck_assert_int_eq(ioctl(vb->fd, KVM_GET_REGS, &regs), 0);
	ck_assert_uint_eq(regs.rax, 0x33333333);
	ck_assert_uint_eq(regs.rbx, 0x11223344);
	/* The first VM, run on, gets there too. */
	run_to_out(va, 0x33);
}
END_TEST

/* ---- refusals ---- */

static int restore_vcpu_bytes(const uint8_t *p, size_t len)
{
	struct state_reader r;

	err[0] = '\0';
	state_reader_init(&r, p, len);
	return vcpu_state_restore(&b.vcpus[0], &r, err, sizeof(err));
}

static int restore_vm_bytes(const uint8_t *p, size_t len)
{
	struct state_reader r;

	err[0] = '\0';
	state_reader_init(&r, p, len);
	return vm_kvm_state_restore(&b, &r, err, sizeof(err));
}

static uint8_t *copy(const struct state_writer *w)
{
	uint8_t *p = malloc(w->len + 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, w->data, w->len);
	return p;
}

START_TEST(truncated_records)
{
	save_all(&a, 0);
	for (size_t len = 0; len < wcpu[0][0].len; len++) {
		ck_assert_int_eq(restore_vcpu_bytes(wcpu[0][0].data, len), -EINVAL);
		ck_assert_msg(!strncmp(err, "vcpu0: ", 7), "len %zu: '%s'", len, err);
	}
	for (size_t len = 0; len < wvm[0].len; len++) {
		ck_assert_int_eq(restore_vm_bytes(wvm[0].data, len), -EINVAL);
		ck_assert_str_ne(err, "");
	}
	/* One byte too many is corrupt too. */
	{
		uint8_t *p = copy(&wcpu[0][0]);

		p[wcpu[0][0].len] = 0;
		ck_assert_int_eq(restore_vcpu_bytes(p, wcpu[0][0].len + 1), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "left over"));
		free(p);
	}
	/* The whole record still goes in. */
	ck_assert_int_eq(restore_vcpu_bytes(wcpu[0][0].data, wcpu[0][0].len), 0);
}
END_TEST

START_TEST(counts_too_large)
{
	struct layout l;
	uint8_t *p;

	save_all(&a, 0);
	l = walk(&wcpu[0][0]);
	p = copy(&wcpu[0][0]);
	wr32(p + l.msrs, 412000);
	ck_assert_int_eq(restore_vcpu_bytes(p, wcpu[0][0].len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: 412000 MSRs in the record, at most 1024");
	memcpy(p, wcpu[0][0].data, wcpu[0][0].len);
	wr32(p, 0xffffffff);
	ck_assert_int_eq(restore_vcpu_bytes(p, wcpu[0][0].len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: 4294967295 CPUID entries in the record, at most 256");
	memcpy(p, wcpu[0][0].data, wcpu[0][0].len);
	wr32(p + l.xcrs, 17);
	ck_assert_int_eq(restore_vcpu_bytes(p, wcpu[0][0].len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: 17 XCRs in the record, at most 16");
	free(p);
}
END_TEST

START_TEST(cpuid_bit_host_lacks)
{
	struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 512 * sizeof(sup->entries[0]));
	struct kvm_cpuid_entry2 *e;
	uint32_t missing = 0;
	struct layout l;
	uint8_t *p;
	char want[128];

	ck_assert_ptr_nonnull(sup);
	sup->nent = 512;
	ck_assert_int_eq(ioctl(host.fd, KVM_GET_SUPPORTED_CPUID, sup), 0);
	e = cpuid_find(sup, 7, 0);
	for (unsigned bit = 0; bit < 32 && !missing; bit++)
		if (!e || !(e->ebx & (1u << bit)))
			missing = 1u << bit;
	ck_assert_uint_ne(missing, 0);
	free(sup);

	save_all(&a, 0);
	l = walk(&wcpu[0][0]);
	p = copy(&wcpu[0][0]);
	for (uint32_t i = 0; i < l.nent; i++) {
		uint8_t *ent = p + l.cpuid + 28 * i;

		if (rd32(ent) == 7 && rd32(ent + 4) == 0)
			wr32(ent + 16, rd32(ent + 16) | missing);	/* ebx */
	}
	ck_assert_int_eq(restore_vcpu_bytes(p, wcpu[0][0].len), -EINVAL);
	snprintf(want, sizeof(want),
		 "vcpu0: snapshot CPUID leaf 0x7.0 ebx has bits this host cannot offer: 0x%x", missing);
	ck_assert_str_eq(err, want);
	free(p);
}
END_TEST

START_TEST(corrupt_values)
{
	struct layout l;
	uint8_t *p;
	size_t len;

	save_all(&a, 0);
	l = walk(&wcpu[0][0]);
	len = wcpu[0][0].len;
	p = copy(&wcpu[0][0]);

	wr32(p + l.mp, 77);
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: unknown MP state 77");
	memcpy(p, wcpu[0][0].data, len);

	p[l.sregs] = 9;
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: unknown segment register format 9");
	memcpy(p, wcpu[0][0].data, len);

	p[l.sregs + 1 + 14] = 200;	/* cs.type */
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: segment type 200 out of range (at most 15)");
	memcpy(p, wcpu[0][0].data, len);

	p[l.sregs + 1 + 15] = 2;	/* cs.present: a bool */
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: snapshot record truncated or corrupt in its segment registers");
	memcpy(p, wcpu[0][0].data, len);

	p[l.regs + 18 * 8] = 7;		/* FPU format */
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: unknown FPU state format 7");
	memcpy(p, wcpu[0][0].data, len);

	p[l.events + 1] = 40;		/* exception vector */
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: exception vector 40 out of range (at most 31)");
	memcpy(p, wcpu[0][0].data, len);

	wr32(p + l.events + 19, 0x80000000);	/* event flags */
	ck_assert_int_eq(restore_vcpu_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "vcpu0: unknown vCPU event flags 0x80000000");
	free(p);

	/* The VM record: pins, then a PIT mode. */
	p = copy(&wvm[0]);
	len = wvm[0].len;
	wr32(p + 2 * 16 + 8 + 12, 48);
	ck_assert_int_eq(restore_vm_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "KVM VM state: an IOAPIC with 48 pins in the record, this one has 24");
	memcpy(p, wvm[0].data, len);
	p[2 * 16 + 8 + 16 + 24 * 8 + 4 + 13] = 6;	/* channel 0 mode */
	ck_assert_int_eq(restore_vm_bytes(p, len), -EINVAL);
	ck_assert_str_eq(err, "KVM VM state: PIT mode 6 out of range (at most 5)");
	free(p);
}
END_TEST

/* --no-pit: the record says there is no PIT, and only a machine without one takes it. */
START_TEST(no_pit)
{
	struct vm_config cfg_np = cfg;
	struct kvm_pit_state2 pit;
	struct state_writer w;
	struct state_reader r;
	struct vm c, d;

	cfg_np.no_pit = true;
	ck_assert_int_eq(vm_create(&c, &cfg_np, &host), 0);
	ck_assert_int_eq(vm_create_vcpus(&c, NULL), 0);
	ck_assert_int_eq(vm_create(&d, &cfg_np, &host), 0);
	ck_assert_int_eq(vm_create_vcpus(&d, NULL), 0);
	ck_assert_int_eq(ioctl(c.fd, KVM_GET_PIT2, &pit), -1);
	ck_assert_int_eq(errno, ENXIO);

	state_writer_init(&w);
	ck_assert_int_eq(vm_kvm_state_save(&c, &w), 0);
	save_all(&a, 0);
	/* Three PIT channels of 16 bytes each are left out. */
	ck_assert_uint_eq(w.len + 3 * 16, wvm[0].len);
	state_reader_init(&r, w.data, w.len);
	ck_assert_msg(vm_kvm_state_restore(&d, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(restore_vm_bytes(w.data, w.len), -EINVAL);
	ck_assert_str_eq(err, "KVM VM state: the record has no PIT, this machine has one");
	state_reader_init(&r, wvm[0].data, wvm[0].len);
	ck_assert_int_eq(vm_kvm_state_restore(&d, &r, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "KVM VM state: the record has a PIT, this machine has none");
	/* The check without a VM reads it as a whole record, and a cut one as corrupt. */
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(vm_kvm_state_check(&r, err, sizeof(err)), 0);
	state_reader_init(&r, w.data, w.len - 1);
	ck_assert_int_eq(vm_kvm_state_check(&r, err, sizeof(err)), -EINVAL);
	state_writer_free(&w);
	vm_destroy(&c);
	vm_destroy(&d);
}
END_TEST

static Suite *vcpu_state_suite(void)
{
	Suite *s = suite_create("vcpu_state");
	TCase *tc = tcase_create("vcpu_state");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, guest_continues);
	tcase_add_test(tc, truncated_records);
	tcase_add_test(tc, counts_too_large);
	tcase_add_test(tc, cpuid_bit_host_lacks);
	tcase_add_test(tc, corrupt_values);
	tcase_add_test(tc, no_pit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int r, fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("skipped: /dev/kvm: %m\n");
		return SKIP;
	}
	close(fd);
	if (kvm_host_open(&host))
		return EXIT_FAILURE;
	r = testlib_run(vcpu_state_suite());
	kvm_host_close(&host);
	return r;
}
