/*
 * The CPUID model as the guest sees it: the KVM signature, the topology
 * (APIC id and logical count in leaf 1 EBX, expect_cpus=), and with pvm=1
 * the extended features KVM's emulator cannot execute hidden (leaf
 * 0x80000001; PVM reports leaves 1 and 7 from the host regardless).
 * x2apic=1|0 and tscdl=1|0 (-cpu +x2apic / -x2apic, +tsc-deadline / ...):
 * the leaf 1 bit, and what KVM's LAPIC allows: x2APIC mode through
 * IA32_APIC_BASE (else #GP), the LVT timer's TSC-deadline mode.
 */
#include "guest.h"

#define MSR_APIC_BASE	0x1b
#define APIC_BASE_EXTD	(1u << 10)	/* x2APIC mode */
#define MSR_X2APIC_ID	0x802
#define LVT_MASKED	(1u << 16)
#define LVT_TSC_DEADLINE (2u << 17)

static volatile unsigned gp_faults;

/* #GP from a wrmsr or rdmsr: count it and step over the two-byte instruction. */
static void on_gp(struct frame *f)
{
	gp_faults++;
	f->rip += 2;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo = 0, hi = 0;

	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static bool wrmsr_ok(uint32_t msr, uint64_t v)
{
	unsigned before = gp_faults;

	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return gp_faults == before;
}

static void check_tsc_deadline(uint64_t want)
{
	uint32_t a, b, c, d, lvt;

	cpuid(1, 0, &a, &b, &c, &d);
	check(!!(c & (1u << 24)) == !!want, "leaf 1 ECX tsc-deadline bit is %u, expected %lu",
	      (c >> 24) & 1, want);
	/* KVM keeps the timer-mode bit 18 only when the vCPU's CPUID has the feature. */
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | LVT_TSC_DEADLINE | 0x40);
	lvt = lapic_read(LAPIC_LVT_TIMER);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	check(!!(lvt & LVT_TSC_DEADLINE) == !!want, "LVT timer read back 0x%x with tscdl=%lu", lvt, want);
	printf("tsc-deadline: %s\n", want ? "on" : "off");
}

/* Last: x2APIC mode leaves the xAPIC page behind. */
static void check_x2apic(uint64_t want)
{
	uint32_t a, b, c, d;
	unsigned id = lapic_id();
	uint64_t base = rdmsr(MSR_APIC_BASE);

	cpuid(1, 0, &a, &b, &c, &d);
	check(!!(c & (1u << 21)) == !!want, "leaf 1 ECX x2apic bit is %u, expected %lu", (c >> 21) & 1,
	      want);
	if (!want) {
		check(!wrmsr_ok(MSR_APIC_BASE, base | APIC_BASE_EXTD), "x2APIC mode without the feature");
		printf("x2apic: off, enabling it faults\n");
		return;
	}
	check(wrmsr_ok(MSR_APIC_BASE, base | APIC_BASE_EXTD), "x2APIC mode refused (#GP)");
	check(rdmsr(MSR_X2APIC_ID) == id, "x2APIC id %lu, xAPIC said %u", rdmsr(MSR_X2APIC_ID), id);
	printf("x2apic: on, id %u through MSR 0x802\n", id);
}

void test_main(void)
{
	uint32_t a, b, c, d, a7, b7, c7, d7, xa, xb, xc, xd;
	uint64_t pvm = 0, want;

	cmdline_u64("pvm", &pvm);
	cpuid(1, 0, &a, &b, &c, &d);
	cpuid(7, 0, &a7, &b7, &c7, &d7);
	cpuid(0x80000001, 0, &xa, &xb, &xc, &xd);
	printf("cpuid 1: eax=%x ebx=%x ecx=%x edx=%x\n", a, b, c, d);
	printf("cpuid 7: ebx=%x ecx=%x edx=%x\n", b7, c7, d7);
	printf("cpuid 80000001: ecx=%x edx=%x\n", xc, xd);
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	printf("cpuid 40000000: max=%x signature=%c%c%c%c%c%c%c%c%c\n", a, (char)b, (char)(b >> 8),
	       (char)(b >> 16), (char)(b >> 24), (char)c, (char)(c >> 8), (char)(c >> 16),
	       (char)(c >> 24), (char)d);
	check(b == 0x4b4d564b, "no KVM signature leaf");
	uint64_t cpus = 1;

	cmdline_u64("expect_cpus", &cpus);
	cpuid(1, 0, &a, &b, &c, &d);
	check((b >> 24) == lapic_id(), "leaf 1 APIC id %u, LAPIC says %u", b >> 24, lapic_id());
	check(((b >> 16) & 0xff) >= cpus, "leaf 1 counts %u logical CPUs for %lu", (b >> 16) & 0xff, cpus);
	if (pvm) {
		check(!(xd & (1u << 27)), "RDTSCP visible on a PVM host");
		check(!(xc & ~1u), "leaf 0x80000001 ECX 0x%x on a PVM host", xc);
	}
	idt_set(13, on_gp);
	if (cmdline_u64("tscdl", &want))
		check_tsc_deadline(want);
	if (cmdline_u64("x2apic", &want))
		check_x2apic(want);
}
