/*
 * bench_bareloop: the platform's limit for port-I/O exit round trips.
 *
 * A minimal KVM program that uses nothing but the KVM UAPI and glibc (no
 * kvmrun code).  It builds a one-vCPU VM with 2 MiB of RAM at GPA 0,
 * identity-mapped with a single user-accessible 2 MiB page, and runs this
 * loop in 64-bit user mode (CPL3, RFLAGS.IOPL=3):
 *
 *	loop:	test %rcx, %rcx ; jz done ; out %al, $0x80 ; dec %rcx ; jmp loop
 *	done:	out %al, $0xf4 ; jmp done
 *
 * with RCX = N.  Every `out` to port 0x80 is one KVM_EXIT_IO round trip;
 * on PVM hosts, which run guest CPL3 natively but with the hardware IOPL
 * forced to 0 (RFLAGS reads 0x6 at the first exit), each `out` traps and is
 * carried out by KVM's instruction emulator after it checks the TSS I/O
 * permission bitmap, so the TSS below has one that allows every port;
 * the write to 0xf4 ends the run.  The time of the KVM_RUN loop is measured
 * with CLOCK_MONOTONIC and printed as one machine-readable line:
 *
 *	bareloop exits=N seconds=S rate=R entry=sregs|iretq cpl=3
 *
 * CPL3 is entered by loading DPL3 CS/SS straight through KVM_SET_SREGS
 * ("sregs").  If the kernel refuses that, or the guest does not turn out to
 * run at CPL3, the VM is rebuilt and started at CPL0 with a five-instruction
 * stub that iretq's into the same user loop ("iretq").  --iretq forces the
 * second way.  `bench_bareloop 0` runs no loop iteration and measures the
 * fixed cost of process start, VM set-up and the first port write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE	0x200000ULL	/* 2 MiB at GPA 0 */
#define TSS_ADDR	0xfffbd000ULL	/* KVM_SET_TSS_ADDR (3 pages, outside RAM) */

/* Guest physical (= virtual) layout inside the 2 MiB. */
#define GDT_GPA		0x1000ULL
#define PML4_GPA	0x2000ULL
#define PDPT_GPA	0x3000ULL
#define PD_GPA		0x4000ULL
#define KSTACK_TOP	0x7ff0ULL
#define USER_CODE_GPA	0x8000ULL
#define KERN_CODE_GPA	0x9000ULL
#define TSS_GPA		0x10000ULL	/* 104 bytes + 8 KiB I/O bitmap + 0xff */
#define TSS_IOMAP	0x68ULL
#define TSS_LIMIT	(TSS_IOMAP + 0x2000ULL)
#define USTACK_TOP	0x100000ULL

/* GDT selectors. */
#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UCODE	0x18	/* | 3 when loaded */
#define SEL_UDATA	0x20	/* | 3 when loaded */
#define SEL_TSS		0x28	/* 16-byte system descriptor */

#define PORT_LOOP	0x80
#define PORT_DONE	0xf4

#define CR0_PE	(1ULL << 0)
#define CR0_MP	(1ULL << 1)
#define CR0_ET	(1ULL << 4)
#define CR0_NE	(1ULL << 5)
#define CR0_WP	(1ULL << 16)
#define CR0_PG	(1ULL << 31)
#define CR4_PAE	(1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_P	(1ULL << 0)
#define PTE_W	(1ULL << 1)
#define PTE_U	(1ULL << 2)
#define PTE_PS	(1ULL << 7)

#define RFLAGS_FIXED	0x2ULL
#define RFLAGS_IOPL3	(3ULL << 12)

enum entry { ENTRY_SREGS, ENTRY_IRETQ };

/* Outcome of one attempt: ok, "this entry method does not work here"
 * (caller may fall back), or a hard failure (already reported). */
enum attempt { ATTEMPT_OK, ATTEMPT_RETRY, ATTEMPT_FAIL };

static const char *prog = "bench_bareloop";

static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* User-mode loop, see the comment at the top. */
static const uint8_t user_code[] = {
	0x48, 0x85, 0xc9,	/* 0:  test %rcx,%rcx */
	0x74, 0x07,		/* 3:  jz 12 */
	0xe6, PORT_LOOP,	/* 5:  out %al,$0x80 */
	0x48, 0xff, 0xc9,	/* 7:  dec %rcx */
	0xeb, 0xf4,		/* 10: jmp 0 */
	0xe6, PORT_DONE,	/* 12: out %al,$0xf4 */
	0xeb, 0xfc,		/* 14: jmp 12 */
};

/* CPL0 stub for ENTRY_IRETQ: build an iretq frame to the user loop. */
static const uint8_t kern_code[] = {
	0x6a, SEL_UDATA | 3,			/* push $0x23        (SS)     */
	0x68, 0x00, 0x00, 0x10, 0x00,		/* push $0x100000    (RSP)    */
	0x68, 0x02, 0x30, 0x00, 0x00,		/* push $0x3002      (RFLAGS) */
	0x6a, SEL_UCODE | 3,			/* push $0x1b        (CS)     */
	0x68, 0x00, 0x80, 0x00, 0x00,		/* push $0x8000      (RIP)    */
	0x48, 0xcf,				/* iretq                      */
};

struct vm {
	int kvm;
	int vm;
	int vcpu;
	uint8_t *ram;
	struct kvm_run *run;
	size_t run_size;
};

static void vm_close(struct vm *v)
{
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, v->run_size);
	if (v->ram && v->ram != MAP_FAILED)
		munmap(v->ram, RAM_SIZE);
	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	if (v->kvm >= 0)
		close(v->kvm);
	memset(v, 0, sizeof(*v));
	v->kvm = v->vm = v->vcpu = -1;
}

static uint64_t seg_desc(uint64_t type, uint64_t s, uint64_t dpl, uint64_t l,
			 uint64_t db)
{
	/* base 0, limit 0xfffff, G=1, P=1 */
	return 0xffffULL | (0xfULL << 48) | (type << 40) | (s << 44) |
	       (dpl << 45) | (1ULL << 47) | (l << 53) | (db << 54) |
	       (1ULL << 55);
}

static void build_memory(uint8_t *ram)
{
	uint64_t *gdt = (uint64_t *)(ram + GDT_GPA);
	uint64_t *pml4 = (uint64_t *)(ram + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(ram + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(ram + PD_GPA);
	uint64_t tss_base = TSS_GPA, tss_limit = TSS_LIMIT;
	uint64_t rsp0 = KSTACK_TOP;
	uint16_t iomap = (uint16_t)TSS_IOMAP;

	/* Identity map of the first 2 MiB, user-accessible and writable. */
	pml4[0] = PDPT_GPA | PTE_P | PTE_W | PTE_U;
	pdpt[0] = PD_GPA | PTE_P | PTE_W | PTE_U;
	pd[0] = 0 | PTE_P | PTE_W | PTE_U | PTE_PS;

	gdt[0] = 0;
	gdt[SEL_KCODE / 8] = seg_desc(0xb, 1, 0, 1, 0);
	gdt[SEL_KDATA / 8] = seg_desc(0x3, 1, 0, 0, 1);
	gdt[SEL_UCODE / 8] = seg_desc(0xb, 1, 3, 1, 0);
	gdt[SEL_UDATA / 8] = seg_desc(0x3, 1, 3, 0, 1);
	/* 64-bit TSS, busy (type 0xb), byte granular. */
	gdt[SEL_TSS / 8] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) |
			   (0xbULL << 40) | (1ULL << 47) |
			   (((tss_base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = tss_base >> 32;

	/* TSS: RSP0 (offset 4) for completeness, and an all-zero I/O
	 * permission bitmap (every port allowed, followed by the 0xff end
	 * byte).  Hardware KVM lets CPL3 `out` through on IOPL=3 alone, but
	 * PVM does not keep the guest's IOPL while user code runs natively:
	 * the `out` traps, KVM's emulator performs it after checking this
	 * bitmap, and without the bitmap the guest gets a #GP (a triple fault
	 * here, as there is no IDT). */
	memcpy(ram + TSS_GPA + 4, &rsp0, sizeof(rsp0));	/* unaligned */
	memcpy(ram + TSS_GPA + 102, &iomap, sizeof(iomap));
	memset(ram + TSS_GPA + TSS_IOMAP, 0, 0x2000);
	ram[TSS_GPA + TSS_LIMIT] = 0xff;

	memcpy(ram + USER_CODE_GPA, user_code, sizeof(user_code));
	memcpy(ram + KERN_CODE_GPA, kern_code, sizeof(kern_code));
}

static void set_seg(struct kvm_segment *s, uint16_t sel, int code, int dpl)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = code ? 0xb : 0x3;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->s = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
	s->g = 1;
}

static int set_cpuid(struct vm *v)
{
	int n = 128;

	for (;;) {
		size_t sz = sizeof(struct kvm_cpuid2) +
			    (size_t)n * sizeof(struct kvm_cpuid_entry2);
		struct kvm_cpuid2 *c = calloc(1, sz);

		if (!c) {
			errmsg("out of memory");
			return -1;
		}
		c->nent = (uint32_t)n;
		if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, c) < 0) {
			int e = errno;

			free(c);
			if (e == E2BIG && n < 4096) {
				n *= 2;
				continue;
			}
			errmsg("KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
			return -1;
		}
		/* Long mode must be in the guest's CPUID, or KVM refuses
		 * EFER.LME in KVM_SET_SREGS. */
		if (ioctl(v->vcpu, KVM_SET_CPUID2, c) < 0) {
			errmsg("KVM_SET_CPUID2: %s", strerror(errno));
			free(c);
			return -1;
		}
		free(c);
		return 0;
	}
}

static int vm_setup(struct vm *v, enum entry how, uint64_t n)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret, cpl;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0) {
		errmsg("cannot open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	ret = ioctl(v->kvm, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		errmsg("KVM API version %d, expected %d", ret, KVM_API_VERSION);
		return -1;
	}
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0) {
		errmsg("KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	if (ioctl(v->vm, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR) < 0) {
		errmsg("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -1;
	}

	v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->ram == MAP_FAILED) {
		v->ram = NULL;
		errmsg("mmap guest RAM: %s", strerror(errno));
		return -1;
	}
	build_memory(v->ram);

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = RAM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)v->ram;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		errmsg("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}

	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0) {
		errmsg("KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	ret = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret < (int)sizeof(struct kvm_run)) {
		errmsg("KVM_GET_VCPU_MMAP_SIZE: %s",
		       ret < 0 ? strerror(errno) : "too small");
		return -1;
	}
	v->run_size = (size_t)ret;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		errmsg("mmap kvm_run: %s", strerror(errno));
		return -1;
	}
	if (set_cpuid(v) < 0)
		return -1;

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) {
		errmsg("KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	cpl = how == ENTRY_SREGS ? 3 : 0;
	if (cpl == 3) {
		set_seg(&sregs.cs, SEL_UCODE | 3, 1, 3);
		set_seg(&sregs.ss, SEL_UDATA | 3, 0, 3);
	} else {
		set_seg(&sregs.cs, SEL_KCODE, 1, 0);
		set_seg(&sregs.ss, SEL_KDATA, 0, 0);
	}
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss;

	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.base = TSS_GPA;
	sregs.tr.limit = (uint32_t)TSS_LIMIT;
	sregs.tr.selector = SEL_TSS;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 0x2;
	sregs.ldt.unusable = 1;

	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 7 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;	/* no IDT: any exception ends in a shutdown */

	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0) {
		int e = errno;

		if (how == ENTRY_SREGS) {
			errmsg("note: KVM_SET_SREGS refused DPL3 segments "
			       "(%s); retrying with iretq", strerror(e));
			return 1;	/* refused: fall back */
		}
		errmsg("KVM_SET_SREGS: %s", strerror(e));
		return -1;
	}
	if (how == ENTRY_SREGS) {
		/* Did it stick? */
		if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) {
			errmsg("KVM_GET_SREGS: %s", strerror(errno));
			return -1;
		}
		if (sregs.cs.dpl != 3 || (sregs.cs.selector & 3) != 3 ||
		    sregs.ss.dpl != 3) {
			errmsg("note: KVM_SET_SREGS did not keep DPL3 segments; "
			       "retrying with iretq");
			return 1;
		}
	}

	memset(&regs, 0, sizeof(regs));
	regs.rcx = n;
	if (how == ENTRY_SREGS) {
		regs.rip = USER_CODE_GPA;
		regs.rsp = USTACK_TOP;
		regs.rflags = RFLAGS_FIXED | RFLAGS_IOPL3;
	} else {
		regs.rip = KERN_CODE_GPA;
		regs.rsp = KSTACK_TOP;
		regs.rflags = RFLAGS_FIXED;
	}
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) {
		errmsg("KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static const char *exit_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN (triple fault)";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	default: return "other";
	}
}

static void describe_exit(int vcpu, const struct kvm_run *run, char *buf,
			  size_t len)
{
	struct kvm_regs regs;
	size_t used;

	if (ioctl(vcpu, KVM_GET_REGS, &regs) == 0) {
		snprintf(buf, len, "RIP 0x%llx RSP 0x%llx RFLAGS 0x%llx: ",
			 (unsigned long long)regs.rip,
			 (unsigned long long)regs.rsp,
			 (unsigned long long)regs.rflags);
		used = strlen(buf);
		buf += used;
		len -= used;
	}
	if (run->exit_reason == KVM_EXIT_IO)
		snprintf(buf, len, "IO %s port 0x%x size %u count %u",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size, run->io.count);
	else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(buf, len, "INTERNAL_ERROR suberror %u",
			 run->internal.suberror);
	else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		snprintf(buf, len, "FAIL_ENTRY reason 0x%llx",
			 (unsigned long long)
			 run->fail_entry.hardware_entry_failure_reason);
	else
		snprintf(buf, len, "%s (exit reason %u)",
			 exit_name(run->exit_reason), run->exit_reason);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static enum attempt attempt(enum entry how, uint64_t n, uint64_t *exits,
			    double *secs)
{
	struct vm v;
	struct kvm_sregs sregs;
	uint64_t count = 0;
	double t0, t1;
	int first = 1, ret;
	char what[192];

	memset(&v, 0, sizeof(v));
	v.kvm = v.vm = v.vcpu = -1;

	ret = vm_setup(&v, how, n);
	if (ret != 0) {
		vm_close(&v);
		return ret > 0 ? ATTEMPT_RETRY : ATTEMPT_FAIL;
	}

	t0 = now_s();
	for (;;) {
		struct kvm_run *run = v.run;

		if (ioctl(v.vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			errmsg("KVM_RUN: %s", strerror(errno));
			vm_close(&v);
			return ATTEMPT_FAIL;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (first) {
			/* One look at the CPU state at the first exit, to be
			 * sure the loop runs in user mode (one ioctl, no
			 * guest entry). */
			first = 0;
			if (ioctl(v.vcpu, KVM_GET_SREGS, &sregs) < 0) {
				errmsg("KVM_GET_SREGS: %s", strerror(errno));
				vm_close(&v);
				return ATTEMPT_FAIL;
			}
			if (run->exit_reason != KVM_EXIT_IO ||
			    (sregs.cs.selector & 3) != 3 || sregs.cs.dpl != 3) {
				describe_exit(v.vcpu, run, what, sizeof(what));
				if (how == ENTRY_SREGS) {
					errmsg("note: DPL3 segments from "
					       "KVM_SET_SREGS did not work (first "
					       "exit %s, CS 0x%x DPL %u); "
					       "retrying with iretq", what,
					       sregs.cs.selector, sregs.cs.dpl);
					vm_close(&v);
					return ATTEMPT_RETRY;
				}
				errmsg("guest did not reach the CPL3 loop: "
				       "first exit %s, CS 0x%x DPL %u",
				       what, sregs.cs.selector, sregs.cs.dpl);
				vm_close(&v);
				return ATTEMPT_FAIL;
			}
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT) {
			if (run->io.port == PORT_LOOP) {
				count++;
				continue;
			}
			if (run->io.port == PORT_DONE)
				break;
		}
		describe_exit(v.vcpu, run, what, sizeof(what));
		errmsg("unexpected exit after %" PRIu64 " loop exits: %s",
		       count, what);
		vm_close(&v);
		return ATTEMPT_FAIL;
	}
	t1 = now_s();
	vm_close(&v);

	if (count != n) {
		errmsg("counted %" PRIu64 " exits on port 0x%x, expected %" PRIu64,
		       count, PORT_LOOP, n);
		return ATTEMPT_FAIL;
	}
	*exits = count;
	*secs = t1 - t0;
	return ATTEMPT_OK;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--iretq] N\n"
		"  Runs N `out %%al,$0x80` exits from a 64-bit CPL3 guest loop, then\n"
		"  one write to port 0xf4, and prints\n"
		"  'bareloop exits=N seconds=S rate=R entry=sregs|iretq cpl=3'.\n"
		"  --iretq  enter user mode through iretq from CPL0 instead of\n"
		"           loading DPL3 segments with KVM_SET_SREGS\n",
		prog);
}

int main(int argc, char **argv)
{
	enum entry how = ENTRY_SREGS;
	const char *arg = NULL;
	uint64_t n, exits = 0;
	double secs = 0;
	enum attempt r;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iretq")) {
			how = ENTRY_IRETQ;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!arg) {
			arg = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!arg) {
		usage(stderr);
		return 2;
	}
	errno = 0;
	n = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-') {
		errmsg("bad iteration count '%s' (want a number >= 0)", arg);
		return 2;
	}

	r = attempt(how, n, &exits, &secs);
	if (r == ATTEMPT_RETRY) {
		/* Loading DPL3 segments directly was refused or did not give
		 * a CPL3 guest: start at CPL0 and iretq into user mode. */
		how = ENTRY_IRETQ;
		r = attempt(how, n, &exits, &secs);
	}
	if (r != ATTEMPT_OK)
		return 1;

	printf("bareloop exits=%" PRIu64 " seconds=%.6f rate=%.0f entry=%s cpl=3\n",
	       exits, secs, secs > 0 ? (double)exits / secs : 0.0,
	       how == ENTRY_SREGS ? "sregs" : "iretq");
	return 0;
}
