/*
 * Instructions KVM's emulator cannot run on PVM hosts, in kernel mode: int3
 * (the VMM steps over it and injects #BP, which must reach our handler with
 * RIP after the int3) and fwait (completed by the VMM).  Native elsewhere.
 */
#include "guest.h"

static volatile unsigned bp_hits;
static volatile uint64_t bp_rip;
extern const uint8_t after_int3[];

static void bp_handler(struct frame *f)
{
	bp_hits++;
	bp_rip = f->rip;
}

void test_main(void)
{
	idt_set(3, bp_handler);
	__asm__ volatile("int3\n.globl after_int3\nafter_int3:" ::: "memory");
	check(bp_hits == 1, "int3 reached the #BP handler %u times", bp_hits);
	check(bp_rip == (uint64_t)after_int3, "#BP reported rip 0x%lx, expected 0x%lx",
	      bp_rip, (uint64_t)after_int3);
	__asm__ volatile("int3" ::: "memory");
	check(bp_hits == 2, "second int3: %u hits", bp_hits);
	__asm__ volatile("fwait" ::: "memory");
	printf("int3 and fwait completed\n");
}
