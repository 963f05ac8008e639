/*
 * Start-up benchmark: the first port write is one byte to COM1 (a VMM shows it
 * on stdout, where the benchmark times it), then the debug-exit port ends the VM.
 */
#include "guest.h"

void test_main(void)
{
	outb(COM1, '!');
	guest_exit(GUEST_PASS);
}
