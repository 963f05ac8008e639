/*
 * Runs an instruction KVM's emulator cannot execute (xgetbv) in kernel mode.
 * On a PVM host, where kernel code is emulated, kvmrun must stop with status 1
 * and report the RIP and the instruction bytes; elsewhere the instruction runs
 * natively (if the CPU has it) and the guest passes.
 */
#include "guest.h"

void test_main(void)
{
	uint32_t a, b, c, d, lo, hi;

	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 26))) {
		printf("no XSAVE: nothing to try\n");
		return;
	}
	/* CR4.OSXSAVE, or xgetbv raises #UD even on hardware. */
	__asm__ volatile("mov %%cr4, %%rax; or $0x40000, %%rax; mov %%rax, %%cr4" ::: "rax");
	printf("running xgetbv\n");
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	printf("xgetbv ran natively: xcr0 0x%x\n", lo);
}
