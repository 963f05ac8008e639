/*
 * The CPUID model as the guest sees it: the KVM signature, the topology
 * (APIC id and logical count in leaf 1 EBX, expect_cpus=), and with pvm=1
 * the extended features KVM's emulator cannot execute hidden (leaf
 * 0x80000001; PVM reports leaves 1 and 7 from the host regardless).
 */
#include "guest.h"

void test_main(void)
{
	uint32_t a, b, c, d, a7, b7, c7, d7, xa, xb, xc, xd;
	uint64_t pvm = 0;

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
}
