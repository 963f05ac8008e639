/*
 * Accesses to nothing: unknown ports and unmapped MMIO must read all-ones,
 * swallow writes, and leave the VMM running.  A storm of them follows, which
 * the VMM must log only once per port.
 */
#include "guest.h"

#define NO_PORT		0x1234
#define HOLE_MMIO	0xe8000000ULL	/* in the 32-bit hole, past the PCI window: no device */
#define PAST_RAM	0x1f0000000ULL	/* mapped by the guest, not RAM for small guests */

void test_main(void)
{
	uint8_t buf[16], *dst = buf;
	uint64_t count = sizeof(buf);

	check(inb(NO_PORT) == 0xff, "inb from an unknown port gave 0x%x", inb(NO_PORT));
	check(inw(NO_PORT) == 0xffff, "inw from an unknown port gave 0x%x", inw(NO_PORT));
	check(inl(NO_PORT + 4) == 0xffffffffu, "inl from an unknown port");
	outb(NO_PORT, 0x55);
	outw(NO_PORT, 0x5555);
	outl(NO_PORT + 4, 0x55555555);
	memset(buf, 0, sizeof(buf));
	__asm__ volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(NO_PORT + 8) : "memory");
	for (unsigned i = 0; i < sizeof(buf); i++)
		check(buf[i] == 0xff, "rep insb from an unknown port: byte %u is 0x%x", i, buf[i]);

	check(mmio_read32(HOLE_MMIO) == 0xffffffffu, "unmapped MMIO read gave 0x%x",
	      mmio_read32(HOLE_MMIO));
	check(*(volatile uint8_t *)(HOLE_MMIO + 3) == 0xff, "unmapped 8-bit MMIO read");
	check(*(volatile uint64_t *)(HOLE_MMIO + 8) == ~0ULL, "unmapped 64-bit MMIO read");
	mmio_write32(HOLE_MMIO, 0x12345678);
	check(mmio_read32(HOLE_MMIO) == 0xffffffffu, "a write to unmapped MMIO stuck");
	check(mmio_read32(PAST_RAM) == 0xffffffffu, "read past the end of RAM gave 0x%x",
	      mmio_read32(PAST_RAM));
	printf("unknown ports and unmapped MMIO read all-ones\n");

	for (unsigned i = 0; i < 200; i++) {
		outb(NO_PORT, (uint8_t)i);
		(void)inb(NO_PORT);
		mmio_write32(HOLE_MMIO + 16, i);
	}
	printf("survived a storm of 600 stray accesses\n");
}
