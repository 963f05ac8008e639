/*
 * Ends the machine the way mode= says: kbd (i8042 0xfe), outport (i8042 0xd1),
 * triple (fault with an empty IDT), cf9 (the reset control register, as
 * Linux's reboot=pci writes it), or hang (cli; hlt: only --timeout or a
 * signal ends it).
 */
#include "guest.h"

void test_main(void)
{
	char mode[16] = "kbd";

	cmdline_get("mode", mode, sizeof(mode));
	printf("resetting via %s\n", mode);
	if (!strcmp(mode, "kbd")) {
		outb(0x64, 0xfe);
	} else if (!strcmp(mode, "outport")) {
		outb(0x64, 0xd1);
		outb(0x60, 0x00);
	} else if (!strcmp(mode, "cf9")) {
		outb(0xcf9, 0x02);
		check(inb(0xcf9) == 0x02, "0xcf9 reads 0x%x after 0x02", inb(0xcf9));
		outb(0xcf9, 0x06);
	} else if (!strcmp(mode, "triple")) {
		struct { uint16_t limit; uint64_t base; } __attribute__((packed)) none = { 0, 0 };

		__asm__ volatile("lidt %0; int3" :: "m"(none));
	} else if (!strcmp(mode, "hang")) {
		for (;;) {
			cli();
			hlt();
		}
	}
	/* Still here: the reset did not happen. */
	for (volatile unsigned i = 0; i < 100000; i++)
		pause();
	fail("reset via %s did not stop the machine", mode);
}
