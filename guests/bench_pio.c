/* Benchmark: iters= port writes from CPL3 to the UART scratch register (0x3ff). */
#include "guest.h"

static uint8_t user_stack[4096] __attribute__((aligned(16)));

static long pio_loop(long n)
{
	for (long i = 0; i < n; i++)
		outb(COM1 + 7, (uint8_t)i);
	return 0;
}

void test_main(void)
{
	uint64_t iters = 0;

	cmdline_u64("iters", &iters);
	user_call(pio_loop, (long)iters, user_stack + sizeof(user_stack));
	guest_exit(GUEST_PASS);
}
