/* Serial hello: the smallest complete test. */
#include "guest.h"

void test_main(void)
{
	printf("Hello from a kvmrun test guest (booted via %s)\n", boot_protocol());
}
