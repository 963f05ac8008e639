/*
 * Boot information: prints the command line and memory map the VMM passed,
 * checks the RAM total against expect_mem= (what the VMM was told), that no
 * RAM sits in the 32-bit MMIO hole, and that the last page of every RAM
 * range really holds data.
 */
#include "guest.h"

#define HOLE_START	0xc0000000ULL
#define HOLE_END	0x100000000ULL
#define MAPPED_LIMIT	(8ULL << 30)	/* the guest's identity map */

static void probe_page(uint64_t addr)
{
	volatile uint64_t *p = (volatile uint64_t *)addr;

	for (unsigned i = 0; i < 512; i++)
		p[i] = addr ^ (i * 0x9e3779b97f4a7c15ULL);
	for (unsigned i = 0; i < 512; i++)
		check(p[i] == (addr ^ (i * 0x9e3779b97f4a7c15ULL)),
		      "RAM at 0x%lx does not keep what was written", addr + i * 8);
}

void test_main(void)
{
	struct mmap_entry e[16];
	uint64_t ram = 0, expect;
	unsigned n = boot_memmap(e, 16);

	printf("protocol: %s\n", boot_protocol());
	printf("cmdline: [%s]\n", boot_cmdline());
	check(n > 0, "no memory map");
	for (unsigned i = 0; i < n; i++) {
		uint64_t end = e[i].addr + e[i].size;

		printf("map: 0x%lx-0x%lx type %u\n", e[i].addr, end, e[i].type);
		if (e[i].type != 1)
			continue;
		ram += e[i].size;
		check(end <= HOLE_START || e[i].addr >= HOLE_END,
		      "RAM range 0x%lx-0x%lx overlaps the MMIO hole", e[i].addr, end);
		if (end <= MAPPED_LIMIT && e[i].size >= 4096)
			probe_page((end - 4096) & ~4095ULL);
	}
	printf("ram: %lu KiB\n", ram >> 10);
	if (cmdline_u64("expect_mem", &expect)) {
		/* Only the legacy area between 640 KiB and 1 MiB may be held back. */
		check(ram <= expect && expect - ram <= (1ULL << 20),
		      "memory map has %lu KiB of RAM, the VMM was given %lu KiB",
		      ram >> 10, expect >> 10);
	}
}
