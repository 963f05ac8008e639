/*
 * A vCPU's KVM state as one record: read from KVM into a struct vcpu_snap,
 * written field by field; on restore read back into a vcpu_snap, checked
 * whole (bounds, known values, what this host offers), and only then handed
 * to KVM, so that a bad record never leaves a half-restored vCPU behind.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmrun/cpuid.h"
#include "kvmrun/log.h"
#include "kvmrun/vcpu_state.h"
#include "kvmrun/vm.h"

enum { SREGS_KIND_SREGS = 1, SREGS_KIND_SREGS2 = 2 };
enum { FPU_KIND_FPU = 1, FPU_KIND_XSAVE = 2 };

#define NR_SEGS		8	/* cs, ds, es, fs, gs, ss, tr, ldt */
#define CPUID_1_ECX_OSXSAVE	(1u << 27)	/* mirrors CR4.OSXSAVE */
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_7_ECX_OSPKE	(1u << 4)	/* mirrors CR4.PKE */
#define CPUID_1_EDX_HTT		(1u << 28)	/* topology the VMM describes (cpuid_set_topology) */
#define TSC_TOLERANCE_PPM	250		/* what KVM itself treats as the same rate */
#define EVENT_FLAGS_KNOWN	(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
				 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | \
				 KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

struct vcpu_snap {
	struct kvm_cpuid2 *cpuid;
	uint32_t tsc_khz;		/* 0: the host could not tell */
	struct kvm_mp_state mp;
	uint8_t sregs_kind;
	struct kvm_sregs2 sregs;	/* SREGS: the common part; flags and pdptrs unused */
	uint64_t interrupt_bitmap[4];	/* SREGS only */
	struct kvm_regs regs;
	uint8_t fpu_kind;
	struct kvm_fpu fpu;
	struct kvm_xsave *xsave;
	uint32_t xsave_size;
	struct kvm_xcrs xcrs;		/* nr_xcrs 0: the host has no XCRs to save */
	struct kvm_lapic_state lapic;
	struct kvm_msrs *msrs;
	struct kvm_debugregs dbg;
	struct kvm_vcpu_events events;
};

static void snap_free(struct vcpu_snap *s)
{
	free(s->cpuid);
	free(s->xsave);
	free(s->msrs);
	memset(s, 0, sizeof(*s));
}

static int vcpu_ioctl(struct vcpu *vcpu, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vcpu->fd, req, arg) < 0) {
		int e = errno;

		log_err("vcpu%u: %s: %s", vcpu->id, what, strerror(e));
		return -e;
	}
	return 0;
}

static int check_ext(int fd, int cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/* Bytes KVM_GET_XSAVE2 fills (on the VM fd), 4096 for plain XSAVE, 0 without XSAVE. */
static uint32_t host_xsave_size(struct vm *vm)
{
	int n = check_ext(vm->fd, KVM_CAP_XSAVE2);

	if (n >= (int)sizeof(struct kvm_xsave))
		return (uint32_t)n;
	return check_ext(vm->fd, KVM_CAP_XSAVE) ? sizeof(struct kvm_xsave) : 0;
}

#define COPY_SREGS_COMMON(d, s) do {					\
	(d)->cs = (s)->cs; (d)->ds = (s)->ds; (d)->es = (s)->es;	\
	(d)->fs = (s)->fs; (d)->gs = (s)->gs; (d)->ss = (s)->ss;	\
	(d)->tr = (s)->tr; (d)->ldt = (s)->ldt;				\
	(d)->gdt = (s)->gdt; (d)->idt = (s)->idt;			\
	(d)->cr0 = (s)->cr0; (d)->cr2 = (s)->cr2; (d)->cr3 = (s)->cr3;	\
	(d)->cr4 = (s)->cr4; (d)->cr8 = (s)->cr8;			\
	(d)->efer = (s)->efer; (d)->apic_base = (s)->apic_base;		\
} while (0)

/* ---- reading KVM ---- */

/* The table vcpu_create (or a restore) set: PVM's KVM_GET_CPUID2 reports other values. */
static int get_cpuid(struct vcpu *vcpu, struct vcpu_snap *s)
{
	size_t size;

	if (!vcpu->cpuid || vcpu->cpuid->nent > VCPU_STATE_MAX_CPUID) {
		log_err("vcpu%u: no CPUID table kept to save", vcpu->id);
		return -EINVAL;
	}
	size = sizeof(*s->cpuid) + vcpu->cpuid->nent * sizeof(s->cpuid->entries[0]);
	s->cpuid = malloc(size);
	if (!s->cpuid)
		return -ENOMEM;
	memcpy(s->cpuid, vcpu->cpuid, size);
	return 0;
}

/*
 * Every MSR KVM lists as state.  KVM_GET_MSRS stops at the first index it
 * cannot read and returns how many it did: skip that one and go on.
 */
static int get_msrs(struct vcpu *vcpu, struct vcpu_snap *s)
{
	const struct kvm_msr_list *list = vcpu->vm->msr_list;
	struct kvm_msrs *b;
	uint32_t n, kept = 0;
	int r = 0;

	if (!list) {
		log_err("vcpu%u: no MSR list kept to save", vcpu->id);
		return -EINVAL;
	}
	n = list->nmsrs;
	b = calloc(1, sizeof(*b) + (n + 1) * sizeof(b->entries[0]));
	s->msrs = calloc(1, sizeof(*s->msrs) + (n + 1) * sizeof(s->msrs->entries[0]));
	if (!b || !s->msrs) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t next = 0; next < n;) {
		int got;

		b->nmsrs = n - next;
		for (uint32_t i = 0; i < b->nmsrs; i++)
			b->entries[i] = (struct kvm_msr_entry){ .index = list->indices[next + i] };
		got = ioctl(vcpu->fd, KVM_GET_MSRS, b);
		if (got < 0) {
			r = -errno;
			log_err("vcpu%u: KVM_GET_MSRS: %s", vcpu->id, strerror(-r));
			goto out;
		}
		if ((uint32_t)got > b->nmsrs)
			got = (int)b->nmsrs;
		for (int i = 0; i < got; i++)
			s->msrs->entries[kept++] = b->entries[i];
		if ((uint32_t)got < b->nmsrs)
			log_debug("vcpu%u: MSR 0x%x is not readable here: left out", vcpu->id,
				  b->entries[got].index);
		next += (uint32_t)got + 1;
	}
	s->msrs->nmsrs = kept;
out:
	free(b);
	return r;
}

static int get_fpu(struct vcpu *vcpu, struct vcpu_snap *s)
{
	uint32_t size = host_xsave_size(vcpu->vm);

	if (!size) {
		s->fpu_kind = FPU_KIND_FPU;
		return vcpu_ioctl(vcpu, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU");
	}
	if (size > VCPU_STATE_MAX_XSAVE) {
		log_err("vcpu%u: an XSAVE area of %u bytes, kvmrun saves at most %u", vcpu->id, size,
			VCPU_STATE_MAX_XSAVE);
		return -E2BIG;
	}
	s->fpu_kind = FPU_KIND_XSAVE;
	s->xsave_size = size;
	s->xsave = calloc(1, size);
	if (!s->xsave)
		return -ENOMEM;
	if (size > sizeof(struct kvm_xsave))
		return vcpu_ioctl(vcpu, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2");
	return vcpu_ioctl(vcpu, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
}

static int get_sregs(struct vcpu *vcpu, struct vcpu_snap *s)
{
	struct kvm_sregs old;
	int r;

	if (check_ext(vcpu->vm->fd, KVM_CAP_SREGS2)) {
		s->sregs_kind = SREGS_KIND_SREGS2;
		return vcpu_ioctl(vcpu, KVM_GET_SREGS2, &s->sregs, "KVM_GET_SREGS2");
	}
	s->sregs_kind = SREGS_KIND_SREGS;
	r = vcpu_ioctl(vcpu, KVM_GET_SREGS, &old, "KVM_GET_SREGS");
	if (r)
		return r;
	COPY_SREGS_COMMON(&s->sregs, &old);
	memcpy(s->interrupt_bitmap, old.interrupt_bitmap, sizeof(s->interrupt_bitmap));
	return 0;
}

static int snap_get(struct vcpu *vcpu, struct vcpu_snap *s)
{
	int r, khz;

	r = get_cpuid(vcpu, s);
	if (!r) {
		khz = check_ext(vcpu->fd, KVM_CAP_GET_TSC_KHZ) ? ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0) : -1;
		s->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
		r = vcpu_ioctl(vcpu, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE");
	}
	if (!r)
		r = get_sregs(vcpu, s);
	if (!r)
		r = vcpu_ioctl(vcpu, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	if (!r)
		r = get_fpu(vcpu, s);
	if (!r && check_ext(vcpu->vm->fd, KVM_CAP_XCRS))
		r = vcpu_ioctl(vcpu, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
	if (!r && s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		r = -EIO;
	if (!r)
		r = vcpu_ioctl(vcpu, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	if (!r)
		r = get_msrs(vcpu, s);
	if (!r)
		r = vcpu_ioctl(vcpu, KVM_GET_DEBUGREGS, &s->dbg, "KVM_GET_DEBUGREGS");
	if (!r)
		r = vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	return r;
}

/* ---- the record ---- */

static void put_seg(struct state_writer *w, const struct kvm_segment *g)
{
	state_put_u64(w, g->base);
	state_put_u32(w, g->limit);
	state_put_u16(w, g->selector);
	state_put_u8(w, g->type);
	state_put_u8(w, g->present);
	state_put_u8(w, g->dpl);
	state_put_u8(w, g->db);
	state_put_u8(w, g->s);
	state_put_u8(w, g->l);
	state_put_u8(w, g->g);
	state_put_u8(w, g->avl);
	state_put_u8(w, g->unusable);
}

static void put_dtable(struct state_writer *w, const struct kvm_dtable *t)
{
	state_put_u64(w, t->base);
	state_put_u16(w, t->limit);
}

static struct kvm_segment *seg_at(struct kvm_sregs2 *s, unsigned i)
{
	struct kvm_segment *segs[NR_SEGS] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss,
					      &s->tr, &s->ldt };

	return segs[i];
}

static void put_sregs(struct state_writer *w, struct vcpu_snap *s)
{
	const __u64 *cr[] = { &s->sregs.cr0, &s->sregs.cr2, &s->sregs.cr3, &s->sregs.cr4,
				 &s->sregs.cr8, &s->sregs.efer, &s->sregs.apic_base };

	state_put_u8(w, s->sregs_kind);
	for (unsigned i = 0; i < NR_SEGS; i++)
		put_seg(w, seg_at(&s->sregs, i));
	put_dtable(w, &s->sregs.gdt);
	put_dtable(w, &s->sregs.idt);
	for (unsigned i = 0; i < sizeof(cr) / sizeof(cr[0]); i++)
		state_put_u64(w, *cr[i]);
	if (s->sregs_kind == SREGS_KIND_SREGS) {
		for (unsigned i = 0; i < 4; i++)
			state_put_u64(w, s->interrupt_bitmap[i]);
	} else {
		state_put_u64(w, s->sregs.flags);
		for (unsigned i = 0; i < 4; i++)
			state_put_u64(w, s->sregs.pdptrs[i]);
	}
}

static __u64 *reg_at(struct kvm_regs *r, unsigned i)
{
	__u64 *regs[] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rsp, &r->rbp,
			     &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
			     &r->rip, &r->rflags };

	return regs[i];
}

#define NR_REGS 18

static void put_fpu(struct state_writer *w, const struct vcpu_snap *s)
{
	state_put_u8(w, s->fpu_kind);
	if (s->fpu_kind == FPU_KIND_XSAVE) {
		state_put_u32(w, s->xsave_size);
		state_put_bytes(w, s->xsave, s->xsave_size);	/* the architectural XSAVE layout */
		return;
	}
	state_put_bytes(w, s->fpu.fpr, sizeof(s->fpu.fpr));
	state_put_u16(w, s->fpu.fcw);
	state_put_u16(w, s->fpu.fsw);
	state_put_u8(w, s->fpu.ftwx);
	state_put_u16(w, s->fpu.last_opcode);
	state_put_u64(w, s->fpu.last_ip);
	state_put_u64(w, s->fpu.last_dp);
	state_put_bytes(w, s->fpu.xmm, sizeof(s->fpu.xmm));
	state_put_u32(w, s->fpu.mxcsr);
}

static void put_events(struct state_writer *w, const struct kvm_vcpu_events *e)
{
	state_put_u8(w, e->exception.injected);
	state_put_u8(w, e->exception.nr);
	state_put_u8(w, e->exception.has_error_code);
	state_put_u8(w, e->exception.pending);
	state_put_u32(w, e->exception.error_code);
	state_put_u8(w, e->interrupt.injected);
	state_put_u8(w, e->interrupt.nr);
	state_put_u8(w, e->interrupt.soft);
	state_put_u8(w, e->interrupt.shadow);
	state_put_u8(w, e->nmi.injected);
	state_put_u8(w, e->nmi.pending);
	state_put_u8(w, e->nmi.masked);
	state_put_u32(w, e->sipi_vector);
	state_put_u32(w, e->flags);
	state_put_u8(w, e->smi.smm);
	state_put_u8(w, e->smi.pending);
	state_put_u8(w, e->smi.smm_inside_nmi);
	state_put_u8(w, e->smi.latched_init);
	state_put_u8(w, e->triple_fault.pending);
	state_put_u8(w, e->exception_has_payload);
	state_put_u64(w, e->exception_payload);
}

static void snap_put(struct state_writer *w, struct vcpu_snap *s)
{
	state_put_u32(w, s->cpuid->nent);
	for (uint32_t i = 0; i < s->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &s->cpuid->entries[i];

		state_put_u32(w, e->function);
		state_put_u32(w, e->index);
		state_put_u32(w, e->flags);
		state_put_u32(w, e->eax);
		state_put_u32(w, e->ebx);
		state_put_u32(w, e->ecx);
		state_put_u32(w, e->edx);
	}
	state_put_u32(w, s->tsc_khz);
	state_put_u32(w, s->mp.mp_state);
	put_sregs(w, s);
	for (unsigned i = 0; i < NR_REGS; i++)
		state_put_u64(w, *reg_at(&s->regs, i));
	put_fpu(w, s);
	state_put_u32(w, s->xcrs.nr_xcrs);
	for (uint32_t i = 0; i < s->xcrs.nr_xcrs; i++) {
		state_put_u32(w, s->xcrs.xcrs[i].xcr);
		state_put_u64(w, s->xcrs.xcrs[i].value);
	}
	state_put_bytes(w, s->lapic.regs, sizeof(s->lapic.regs));	/* the APIC register page */
	state_put_u32(w, s->msrs->nmsrs);
	for (uint32_t i = 0; i < s->msrs->nmsrs; i++) {
		state_put_u32(w, s->msrs->entries[i].index);
		state_put_u64(w, s->msrs->entries[i].data);
	}
	for (unsigned i = 0; i < 4; i++)
		state_put_u64(w, s->dbg.db[i]);
	state_put_u64(w, s->dbg.dr6);
	state_put_u64(w, s->dbg.dr7);
	put_events(w, &s->events);
}

int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w)
{
	struct vcpu_snap s;
	int r;

	memset(&s, 0, sizeof(s));
	r = snap_get(vcpu, &s);
	if (!r) {
		snap_put(w, &s);
		r = w->err;
	}
	snap_free(&s);
	return r;
}

/* ---- reading a record: everything bounded and checked before KVM sees it ---- */

struct rd {
	struct state_reader *r;
	unsigned id;
	char *err;
	size_t errlen;
	bool said;		/* err holds the line already */
};

static void __attribute__((format(printf, 2, 3))) refuse(struct rd *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	state_reader_fail(c->r);
	if (c->said)
		return;
	c->said = true;
	n = snprintf(c->err, c->errlen, "vcpu%u: ", c->id);
	if (n < 0 || (size_t)n >= c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* After a part of the record: a truncation or a bad value there gets its line. */
static bool part_ok(struct rd *c, const char *part)
{
	if (c->r->err && !c->said)
		refuse(c, "snapshot record truncated or corrupt in its %s", part);
	return !c->r->err;
}

static uint8_t get_u8_max(struct rd *c, uint8_t max, const char *what)
{
	uint8_t v = state_get_u8(c->r);

	if (v > max)
		refuse(c, "%s %u out of range (at most %u)", what, v, max);
	return v;
}

static void get_seg(struct rd *c, struct kvm_segment *g)
{
	g->base = state_get_u64(c->r);
	g->limit = state_get_u32(c->r);
	g->selector = state_get_u16(c->r);
	g->type = get_u8_max(c, 15, "segment type");
	g->present = state_get_bool(c->r);
	g->dpl = get_u8_max(c, 3, "segment DPL");
	g->db = state_get_bool(c->r);
	g->s = state_get_bool(c->r);
	g->l = state_get_bool(c->r);
	g->g = state_get_bool(c->r);
	g->avl = state_get_bool(c->r);
	g->unusable = state_get_bool(c->r);
}

static void get_dtable(struct rd *c, struct kvm_dtable *t)
{
	t->base = state_get_u64(c->r);
	t->limit = state_get_u16(c->r);
}

static void read_sregs(struct rd *c, struct vcpu_snap *s)
{
	__u64 *cr[] = { &s->sregs.cr0, &s->sregs.cr2, &s->sregs.cr3, &s->sregs.cr4,
			   &s->sregs.cr8, &s->sregs.efer, &s->sregs.apic_base };

	s->sregs_kind = state_get_u8(c->r);
	if (!c->r->err && s->sregs_kind != SREGS_KIND_SREGS && s->sregs_kind != SREGS_KIND_SREGS2)
		refuse(c, "unknown segment register format %u", s->sregs_kind);
	for (unsigned i = 0; i < NR_SEGS; i++)
		get_seg(c, seg_at(&s->sregs, i));
	get_dtable(c, &s->sregs.gdt);
	get_dtable(c, &s->sregs.idt);
	for (unsigned i = 0; i < sizeof(cr) / sizeof(cr[0]); i++)
		*cr[i] = state_get_u64(c->r);
	if (s->sregs_kind == SREGS_KIND_SREGS) {
		for (unsigned i = 0; i < 4; i++)
			s->interrupt_bitmap[i] = state_get_u64(c->r);
	} else {
		s->sregs.flags = state_get_u64(c->r);
		if (s->sregs.flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
			refuse(c, "unknown segment register flags 0x%llx",
			       (unsigned long long)s->sregs.flags);
		for (unsigned i = 0; i < 4; i++)
			s->sregs.pdptrs[i] = state_get_u64(c->r);
	}
}

static void read_fpu(struct rd *c, struct vcpu_snap *s)
{
	s->fpu_kind = state_get_u8(c->r);
	if (c->r->err)
		return;
	if (s->fpu_kind == FPU_KIND_XSAVE) {
		s->xsave_size = state_get_u32(c->r);
		if (c->r->err)
			return;
		if (s->xsave_size < sizeof(struct kvm_xsave) || s->xsave_size > VCPU_STATE_MAX_XSAVE) {
			refuse(c, "an XSAVE area of %u bytes in the record (%zu to %u)", s->xsave_size,
			       sizeof(struct kvm_xsave), VCPU_STATE_MAX_XSAVE);
			return;
		}
		if (s->xsave_size > c->r->len - c->r->off) {
			state_reader_fail(c->r);
			return;
		}
		s->xsave = malloc(s->xsave_size);
		if (!s->xsave) {
			refuse(c, "out of memory for the XSAVE area");
			return;
		}
		state_get_bytes(c->r, s->xsave, s->xsave_size);
		return;
	}
	if (s->fpu_kind != FPU_KIND_FPU) {
		refuse(c, "unknown FPU state format %u", s->fpu_kind);
		return;
	}
	state_get_bytes(c->r, s->fpu.fpr, sizeof(s->fpu.fpr));
	s->fpu.fcw = state_get_u16(c->r);
	s->fpu.fsw = state_get_u16(c->r);
	s->fpu.ftwx = state_get_u8(c->r);
	s->fpu.last_opcode = state_get_u16(c->r);
	s->fpu.last_ip = state_get_u64(c->r);
	s->fpu.last_dp = state_get_u64(c->r);
	state_get_bytes(c->r, s->fpu.xmm, sizeof(s->fpu.xmm));
	s->fpu.mxcsr = state_get_u32(c->r);
}

static void read_events(struct rd *c, struct kvm_vcpu_events *e)
{
	struct state_reader *r = c->r;

	e->exception.injected = state_get_bool(r);
	e->exception.nr = get_u8_max(c, 31, "exception vector");
	e->exception.has_error_code = state_get_bool(r);
	e->exception.pending = state_get_bool(r);
	e->exception.error_code = state_get_u32(r);
	e->interrupt.injected = state_get_bool(r);
	e->interrupt.nr = state_get_u8(r);
	e->interrupt.soft = state_get_bool(r);
	e->interrupt.shadow = get_u8_max(c, KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI,
					 "interrupt shadow");
	e->nmi.injected = state_get_bool(r);
	e->nmi.pending = state_get_bool(r);
	e->nmi.masked = state_get_bool(r);
	e->sipi_vector = state_get_u32_below(r, 256);
	e->flags = state_get_u32(r);
	if (e->flags & ~(uint32_t)EVENT_FLAGS_KNOWN)
		refuse(c, "unknown vCPU event flags 0x%x", e->flags & ~(uint32_t)EVENT_FLAGS_KNOWN);
	e->smi.smm = state_get_bool(r);
	e->smi.pending = state_get_bool(r);
	e->smi.smm_inside_nmi = state_get_bool(r);
	e->smi.latched_init = state_get_bool(r);
	e->triple_fault.pending = state_get_bool(r);
	e->exception_has_payload = state_get_bool(r);
	e->exception_payload = state_get_u64(r);
}

static void snap_read(struct rd *c, struct vcpu_snap *s)
{
	struct state_reader *r = c->r;
	uint32_t n;

	n = state_get_u32(r);
	if (!r->err && n > VCPU_STATE_MAX_CPUID)
		refuse(c, "%u CPUID entries in the record, at most %u", n, VCPU_STATE_MAX_CPUID);
	if (!part_ok(c, "CPUID"))
		return;
	s->cpuid = calloc(1, sizeof(*s->cpuid) + (n + 1) * sizeof(s->cpuid->entries[0]));
	if (!s->cpuid) {
		refuse(c, "out of memory for %u CPUID entries", n);
		return;
	}
	s->cpuid->nent = n;
	for (uint32_t i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &s->cpuid->entries[i];

		e->function = state_get_u32(r);
		e->index = state_get_u32(r);
		e->flags = state_get_u32(r);
		if (e->flags & ~(uint32_t)(KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC |
					   KVM_CPUID_FLAG_STATE_READ_NEXT))
			refuse(c, "unknown CPUID entry flags 0x%x", e->flags);
		e->eax = state_get_u32(r);
		e->ebx = state_get_u32(r);
		e->ecx = state_get_u32(r);
		e->edx = state_get_u32(r);
	}
	s->tsc_khz = state_get_u32(r);
	if (!r->err && s->tsc_khz > (uint32_t)INT32_MAX)
		refuse(c, "TSC frequency %u kHz out of range", s->tsc_khz);
	s->mp.mp_state = state_get_u32(r);
	/* The states an x86 vCPU can be in; the others are other architectures'. */
	if (!r->err && s->mp.mp_state > KVM_MP_STATE_SIPI_RECEIVED)
		refuse(c, "unknown MP state %u", s->mp.mp_state);
	if (!part_ok(c, "CPUID, TSC and MP state"))
		return;
	read_sregs(c, s);
	if (!part_ok(c, "segment registers"))
		return;
	for (unsigned i = 0; i < NR_REGS; i++)
		*reg_at(&s->regs, i) = state_get_u64(r);
	read_fpu(c, s);
	if (!part_ok(c, "FPU state"))
		return;
	s->xcrs.nr_xcrs = state_get_u32(r);
	if (!r->err && s->xcrs.nr_xcrs > KVM_MAX_XCRS) {
		refuse(c, "%u XCRs in the record, at most %u", s->xcrs.nr_xcrs, KVM_MAX_XCRS);
		return;
	}
	for (uint32_t i = 0; i < s->xcrs.nr_xcrs && !r->err; i++) {
		s->xcrs.xcrs[i].xcr = state_get_u32(r);
		s->xcrs.xcrs[i].value = state_get_u64(r);
	}
	state_get_bytes(r, s->lapic.regs, sizeof(s->lapic.regs));
	if (!part_ok(c, "XCRs and LAPIC"))
		return;
	n = state_get_u32(r);
	if (!r->err && n > VCPU_STATE_MAX_MSRS)
		refuse(c, "%u MSRs in the record, at most %u", n, VCPU_STATE_MAX_MSRS);
	if (!part_ok(c, "MSRs"))
		return;
	s->msrs = calloc(1, sizeof(*s->msrs) + (n + 1) * sizeof(s->msrs->entries[0]));
	if (!s->msrs) {
		refuse(c, "out of memory for %u MSRs", n);
		return;
	}
	s->msrs->nmsrs = n;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		s->msrs->entries[i].index = state_get_u32(r);
		s->msrs->entries[i].data = state_get_u64(r);
	}
	for (unsigned i = 0; i < 4; i++)
		s->dbg.db[i] = state_get_u64(r);
	s->dbg.dr6 = state_get_u64(r);
	s->dbg.dr7 = state_get_u64(r);
	read_events(c, &s->events);
	if (!part_ok(c, "MSRs, debug registers and events"))
		return;
	if (state_reader_finish(r))
		refuse(c, "%zu bytes left over after the record", r->len - r->off);
}

/* ---- what this host can take ---- */

static const struct feature_reg {
	uint32_t function, index;
	uint8_t reg;		/* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint32_t dynamic;	/* bits that are not features (guest state, topology) */
} feature_regs[] = {
	{ 1, 0, 2, CPUID_1_ECX_OSXSAVE }, { 1, 0, 3, CPUID_1_EDX_HTT },
	{ 7, 0, 1, 0 }, { 7, 0, 2, CPUID_7_ECX_OSPKE }, { 7, 0, 3, 0 }, { 7, 1, 0, 0 },
	{ 0xd, 0, 0, 0 }, { 0xd, 0, 3, 0 }, { 0xd, 1, 0, 0 },
	{ 0x80000001, 0, 2, 0 }, { 0x80000001, 0, 3, 0 },
};

static uint32_t entry_reg(const struct kvm_cpuid_entry2 *e, unsigned reg)
{
	const uint32_t v[4] = { e->eax, e->ebx, e->ecx, e->edx };

	return v[reg];
}

static int check_cpuid(struct vcpu *vcpu, struct rd *c, struct vcpu_snap *s)
{
	static const char *const names[] = { "eax", "ebx", "ecx", "edx" };
	struct kvm_cpuid2 *host;
	int r = 0;

	host = calloc(1, sizeof(*host) + 512 * sizeof(host->entries[0]));
	if (!host)
		return -ENOMEM;
	host->nent = 512;
	if (ioctl(vcpu->vm->host->fd, KVM_GET_SUPPORTED_CPUID, host) < 0) {
		r = -errno;
		refuse(c, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto out;
	}
	for (unsigned i = 0; i < sizeof(feature_regs) / sizeof(feature_regs[0]); i++) {
		const struct feature_reg *f = &feature_regs[i];
		struct kvm_cpuid_entry2 *want = cpuid_find(s->cpuid, f->function, f->index);
		struct kvm_cpuid_entry2 *have = cpuid_find(host, f->function, f->index);
		uint32_t extra;

		if (!want)
			continue;
		extra = entry_reg(want, f->reg) & ~f->dynamic;
		if (have)
			extra &= ~entry_reg(have, f->reg);
		/* cpuid_apply_features offers the deadline timer by capability too. */
		if (f->function == 1 && f->reg == 2 &&
		    check_ext(vcpu->vm->fd, KVM_CAP_TSC_DEADLINE_TIMER))
			extra &= ~CPUID_1_ECX_TSC_DEADLINE;
		if (extra) {
			refuse(c, "snapshot CPUID leaf 0x%x%s%s %s has bits this host cannot offer: 0x%x",
			       f->function, f->function == 7 || f->function == 0xd ? "." : "",
			       f->function == 7 || f->function == 0xd ? (f->index ? "1" : "0") : "",
			       names[f->reg], extra);
			r = -EINVAL;
			goto out;
		}
	}
out:
	free(host);
	return r;
}

/*
 * The TSC must tick at the saved rate, or guest time runs fast or slow:
 * scale it where KVM can; a rate within KVM's own tolerance is the same one.
 */
static int set_tsc_khz(struct vcpu *vcpu, struct rd *c, uint32_t want)
{
	int have = check_ext(vcpu->fd, KVM_CAP_GET_TSC_KHZ) ? ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0) : -1;
	uint64_t diff;

	if (!want || have <= 0 || (uint32_t)have == want)
		return 0;
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)want) == 0)
		return 0;
	diff = (uint32_t)have > want ? (uint32_t)have - want : want - (uint32_t)have;
	if (diff * 1000000 <= (uint64_t)want * TSC_TOLERANCE_PPM)
		return 0;
	refuse(c, "snapshot TSC runs at %u kHz, this host's at %d kHz, and KVM cannot scale it "
	       "(KVM_SET_TSC_KHZ: %s)", want, have, strerror(errno));
	return -EINVAL;
}

static int set_xsave(struct vcpu *vcpu, struct rd *c, struct vcpu_snap *s)
{
	uint32_t size = host_xsave_size(vcpu->vm);
	struct kvm_xsave *x;
	int r = 0;

	if (!size) {
		refuse(c, "the snapshot has an XSAVE area, this host has no KVM_CAP_XSAVE");
		return -EINVAL;
	}
	if (s->xsave_size > size) {
		refuse(c, "the snapshot's XSAVE area has %u bytes, this host's %u", s->xsave_size, size);
		return -EINVAL;
	}
	x = calloc(1, size);
	if (!x)
		return -ENOMEM;
	memcpy(x, s->xsave, s->xsave_size);
	if (ioctl(vcpu->fd, KVM_SET_XSAVE, x) < 0) {
		r = -errno;
		refuse(c, "KVM_SET_XSAVE: %s", strerror(-r));
	}
	free(x);
	return r;
}

static int set_one(struct vcpu *vcpu, struct rd *c, unsigned long req, void *arg, const char *what)
{
	if (ioctl(vcpu->fd, req, arg) < 0) {
		int e = errno;

		refuse(c, "%s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

static int set_msrs(struct vcpu *vcpu, struct rd *c, struct kvm_msrs *m)
{
	int n = ioctl(vcpu->fd, KVM_SET_MSRS, m);

	if (n < 0) {
		n = -errno;
		refuse(c, "KVM_SET_MSRS: %s", strerror(-n));
		return n;
	}
	if ((uint32_t)n < m->nmsrs) {
		refuse(c, "KVM_SET_MSRS refused MSR 0x%x (value 0x%llx)", m->entries[n].index,
		       (unsigned long long)m->entries[n].data);
		return -EINVAL;
	}
	return 0;
}

/*
 * The order follows what KVM checks against what (api.rst, and the order
 * QEMU and Firecracker use):
 *  - CPUID first, on a vCPU that has never run: MSRs, XCR0 and the XSAVE
 *    features are validated against the guest's CPUID;
 *  - the TSC rate before the TSC MSR, whose value is in guest ticks;
 *  - MP state before the events: KVM refuses an INIT-received state while an
 *    INIT is latched, which the events may carry;
 *  - sregs (modes, APIC base, x2APIC) before regs, and before the LAPIC,
 *    which enabling or disabling the APIC through its base would reset;
 *  - LAPIC before the MSRs: the TSC deadline MSR only takes while the LVT
 *    timer is in TSC-deadline mode;
 *  - events last: KVM_SET_REGS and KVM_SET_SREGS drop a pending exception
 *    and KVM_SET_LAPIC re-evaluates interrupts.
 */
static int snap_apply(struct vcpu *vcpu, struct rd *c, struct vcpu_snap *s)
{
	int r;

	r = set_one(vcpu, c, KVM_SET_CPUID2, s->cpuid, "KVM_SET_CPUID2");
	if (!r) {
		/* The vCPU's table now: what the next snapshot saves. */
		free(vcpu->cpuid);
		vcpu->cpuid = s->cpuid;
		s->cpuid = NULL;
	}
	if (!r)
		r = set_tsc_khz(vcpu, c, s->tsc_khz);
	if (!r)
		r = set_one(vcpu, c, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE");
	if (!r && s->sregs_kind == SREGS_KIND_SREGS2) {
		if (!check_ext(vcpu->vm->fd, KVM_CAP_SREGS2)) {
			refuse(c, "the snapshot needs KVM_CAP_SREGS2, which this host lacks");
			return -EINVAL;
		}
		r = set_one(vcpu, c, KVM_SET_SREGS2, &s->sregs, "KVM_SET_SREGS2");
	} else if (!r) {
		struct kvm_sregs old;

		memset(&old, 0, sizeof(old));
		COPY_SREGS_COMMON(&old, &s->sregs);
		memcpy(old.interrupt_bitmap, s->interrupt_bitmap, sizeof(old.interrupt_bitmap));
		r = set_one(vcpu, c, KVM_SET_SREGS, &old, "KVM_SET_SREGS");
	}
	if (!r)
		r = set_one(vcpu, c, KVM_SET_REGS, &s->regs, "KVM_SET_REGS");
	if (!r && s->fpu_kind == FPU_KIND_XSAVE)
		r = set_xsave(vcpu, c, s);
	else if (!r)
		r = set_one(vcpu, c, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU");
	if (!r && s->xcrs.nr_xcrs) {
		if (!check_ext(vcpu->vm->fd, KVM_CAP_XCRS)) {
			refuse(c, "the snapshot has XCRs, this host has no KVM_CAP_XCRS");
			return -EINVAL;
		}
		r = set_one(vcpu, c, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS");
	}
	if (!r)
		r = set_one(vcpu, c, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC");
	if (!r)
		r = set_msrs(vcpu, c, s->msrs);
	if (!r)
		r = set_one(vcpu, c, KVM_SET_DEBUGREGS, &s->dbg, "KVM_SET_DEBUGREGS");
	if (!r)
		r = set_one(vcpu, c, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS");
	return r;
}

int vcpu_state_restore(struct vcpu *vcpu, struct state_reader *r, char *err, size_t errlen)
{
	struct rd c = { .r = r, .id = vcpu->id, .err = err, .errlen = errlen };
	struct vcpu_snap s;
	int ret;

	if (errlen)
		err[0] = '\0';
	memset(&s, 0, sizeof(s));
	snap_read(&c, &s);
	ret = r->err;
	if (!ret)
		ret = check_cpuid(vcpu, &c, &s);
	if (!ret)
		ret = snap_apply(vcpu, &c, &s);
	if (ret && !c.said)
		refuse(&c, "restore failed: %s", strerror(-ret));
	snap_free(&s);
	return ret;
}

int vcpu_state_check(struct state_reader *r, char *err, size_t errlen)
{
	struct rd c = { .r = r, .err = err, .errlen = errlen };
	struct vcpu_snap s;
	int ret;

	if (errlen)
		err[0] = '\0';
	memset(&s, 0, sizeof(s));
	snap_read(&c, &s);
	ret = r->err;
	snap_free(&s);
	return ret;
}

struct kvm_msr_list *vcpu_state_msr_list(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		log_err("KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
		return NULL;
	}
	if (probe.nmsrs > VCPU_STATE_MAX_MSRS) {
		log_err("KVM lists %u MSRs to save, kvmrun takes at most %u", probe.nmsrs,
			VCPU_STATE_MAX_MSRS);
		return NULL;
	}
	list = calloc(1, sizeof(*list) + (probe.nmsrs + 1) * sizeof(list->indices[0]));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		log_err("KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
		free(list);
		return NULL;
	}
	return list;
}
