/*
 * CPL3: work in user mode (where PVM hosts run guests natively), port output
 * from user mode through IOPL 3, and faults from user mode delivered to the
 * guest kernel (#GP from hlt, then the #UD that returns from user_call).
 */
#include "guest.h"

static uint8_t user_stack[16384] __attribute__((aligned(16)));
#define STACK_TOP (user_stack + sizeof(user_stack))

static uint64_t mix(uint64_t n)
{
	uint64_t x = 1;

	for (uint64_t i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + i;
	return x;
}

static long user_work(long n)
{
	if (current_cpl() != 3)
		return -1;
	puts_raw("hello from CPL3\n");
	return (long)mix((uint64_t)n);
}

static long user_hlt(long n)
{
	(void)n;
	__asm__ volatile("hlt");	/* #GP in user mode */
	return 0;
}

static volatile unsigned gp_from_user;
extern const uint8_t user_return_point[];

static void gp_handler(struct frame *f)
{
	if ((f->cs & 3) != 3)
		fail("#GP in kernel mode at 0x%lx", f->rip);
	gp_from_user++;
	/* Leave user mode through the normal way back, with a marker value. */
	f->rax = 0x6b6b;
	f->rip = (uint64_t)user_return_point;
}

void test_main(void)
{
	const long small = 1000, big = 20000000;
	uint64_t t0, t1;
	long r;

	check(current_cpl() == 0, "test_main runs in CPL %u", current_cpl());
	r = user_call(user_work, small, STACK_TOP);
	check(r != -1, "user_call did not run its function in CPL3");
	check((uint64_t)r == mix(small), "user mode computed 0x%lx, kernel 0x%lx", r, mix(small));

	t0 = rdtsc();
	r = user_call(user_work, big, STACK_TOP);
	t1 = rdtsc();
	check(r != -1, "second user_call not in CPL3");
	printf("cpl3: %ld iterations in %lu TSC cycles\n", big, t1 - t0);

	idt_set(13, gp_handler);
	r = user_call(user_hlt, 0, STACK_TOP);
	check(gp_from_user == 1 && r == 0x6b6b, "hlt in CPL3 did not raise #GP in the guest (%u, 0x%lx)",
	      gp_from_user, r);
	printf("user-mode #GP and #UD reached the guest kernel\n");
}
