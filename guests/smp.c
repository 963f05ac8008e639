/*
 * SMP bring-up: the BSP wakes every other vCPU with INIT, SIPI, SIPI through
 * the in-kernel LAPIC; each AP reports in with its APIC id, which must match
 * its CPUID and be unique.  expect_cpus= says how many there should be.
 */
#include "guest.h"

static volatile unsigned online = 1;
static volatile unsigned mismatch;
static volatile uint8_t seen[256];

void test_ap_main(unsigned index)
{
	uint32_t a, b, c, d;
	unsigned id = lapic_id();

	cpuid(1, 0, &a, &b, &c, &d);
	if ((b >> 24) != id)
		__atomic_fetch_add(&mismatch, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&seen[id], 1, __ATOMIC_SEQ_CST);
	printf("cpu %u online (apic id %u)\n", index, id);
	__atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
}

void test_main(void)
{
	uint64_t expect = 1, start;
	uint32_t a, b, c, d;

	cmdline_u64("expect_cpus", &expect);
	check(lapic_id() == 0, "BSP has APIC id %u", lapic_id());
	cpuid(1, 0, &a, &b, &c, &d);
	if (expect > 1)
		check((d & (1u << 28)) && ((b >> 16) & 0xff) >= expect,
		      "CPUID leaf 1 announces %u logical CPUs", (b >> 16) & 0xff);
	seen[0] = 1;
	lapic_write(LAPIC_SVR, 0x1ff);
	smp_start_aps();
	start = rdtsc();
	/* Up to ~30 s at 3 GHz: APs start in emulated real mode on PVM hosts. */
	while (online < expect && rdtsc() - start < 90000000000ULL)
		pause();
	/* Give stragglers beyond expect_cpus a moment to show up, then count. */
	for (volatile unsigned i = 0; i < 20000; i++)
		pause();
	check(online == expect, "%u CPUs online, expected %lu", online, expect);
	check(!mismatch, "%u APs see an APIC id in CPUID that differs from their LAPIC", mismatch);
	for (unsigned i = 0; i < 256; i++)
		check(seen[i] <= 1, "APIC id %u reported %u times", i, seen[i]);
	printf("all %u CPUs online\n", online);
}
