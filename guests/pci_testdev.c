/*
 * QEMU's pci-testdev as a guest finds it (QEMU docs/specs/pci-testdev.rst):
 * scans bus 0 through configuration mechanism #1 for 1b36:0005, checks that
 * BAR 0 is memory and BAR 1 I/O (sizing them by writing all-ones), then runs
 * every test on each BAR: selecting a test clears its count, the writes the
 * header asks for are counted, and the scan ends at a width of 0.  Under QEMU
 * an ioeventfd takes the writes of the *-eventfd tests and their count stays 0
 * (the spec's count is "for debugging"); exact_counts=1 wants every write
 * counted, as kvmrun counts them.
 */
#include "guest.h"

#define NR_WRITES	16

static uint64_t exact_counts;

static uint32_t cfg_read(unsigned dev, unsigned reg)
{
	outl(0xcf8, 0x80000000u | dev << 11 | reg);
	return inl(0xcfc);
}

static void cfg_write(unsigned dev, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | dev << 11 | reg);
	outl(0xcfc, v);
}

static uint8_t rd8(uint64_t base, bool io, unsigned off)
{
	return io ? inb((uint16_t)(base + off)) : *(volatile uint8_t *)(base + off);
}

static uint32_t rd32(uint64_t base, bool io, unsigned off)
{
	return io ? inl((uint16_t)(base + off)) : *(volatile uint32_t *)(base + off);
}

static void wr(uint64_t base, bool io, unsigned off, uint32_t v, unsigned width)
{
	if (io) {
		if (width == 1) outb((uint16_t)(base + off), (uint8_t)v);
		else if (width == 2) outw((uint16_t)(base + off), (uint16_t)v);
		else outl((uint16_t)(base + off), v);
	} else {
		if (width == 1) *(volatile uint8_t *)(base + off) = (uint8_t)v;
		else if (width == 2) *(volatile uint16_t *)(base + off) = (uint16_t)v;
		else *(volatile uint32_t *)(base + off) = v;
	}
}

/* Runs the BAR's tests; returns how many there were. */
static unsigned run_tests(uint64_t base, bool io)
{
	unsigned n;

	for (n = 0;; n++) {
		char name[40];
		uint32_t width, off, data, count;
		unsigned i;

		wr(base, io, 0, n, 1);
		width = rd8(base, io, 1);
		if (width != 1 && width != 2 && width != 4)
			break;
		check(rd32(base, io, 12) == 0, "%s test %u: count not cleared", io ? "io" : "mem", n);
		off = rd32(base, io, 4);
		data = rd32(base, io, 8);
		for (i = 0; i < sizeof(name) - 1; i++) {
			name[i] = (char)rd8(base, io, 16 + i);
			if (!name[i])
				break;
		}
		name[i] = 0;
		check(off >= 16 + i + 1, "%s test %u: offset %u overlaps the header", name, n, off);
		for (i = 0; i < NR_WRITES; i++)
			wr(base, io, off, data, width);
		count = rd32(base, io, 12);
		check(count == NR_WRITES || (!exact_counts && count == 0 && strncmp(name + (io ? 7 : 5),
		      "no-", 3)), "%s: %u of %u writes counted", name, count, NR_WRITES);
		printf("pci-testdev %s: %s width %u: %u writes counted\n", io ? "io" : "mem", name,
		       width, count);
	}
	return n;
}

void test_main(void)
{
	unsigned dev;
	uint32_t bar0, bar1, size0, size1;
	uint64_t expect = 3;

	cmdline_u64("expect_tests", &expect);
	cmdline_u64("exact_counts", &exact_counts);
	for (dev = 0; dev < 32; dev++)
		if (cfg_read(dev, 0) == (0x0005u << 16 | 0x1b36))
			break;
	check(dev < 32, "no 1b36:0005 on bus 0");
	printf("pci-testdev in slot %u\n", dev);
	bar0 = cfg_read(dev, 0x10);
	bar1 = cfg_read(dev, 0x14);
	check(!(bar0 & 1) && bar0 & ~0xfu, "BAR 0 0x%x is not an assigned memory BAR", bar0);
	check((bar1 & 3) == 1 && bar1 & ~3u, "BAR 1 0x%x is not an assigned I/O BAR", bar1);
	check(cfg_read(dev, 0x04) & 3, "memory or I/O decoding is off");
	/* Sizing: all-ones, read back, restore. */
	cfg_write(dev, 0x10, 0xffffffff);
	size0 = ~(cfg_read(dev, 0x10) & ~0xfu) + 1;
	cfg_write(dev, 0x10, bar0);
	cfg_write(dev, 0x14, 0xffffffff);
	size1 = (~(cfg_read(dev, 0x14) & ~3u) + 1) & 0xffff;
	cfg_write(dev, 0x14, bar1);
	check(size0 >= 16 && !(size0 & (size0 - 1)), "BAR 0 size %u", size0);
	check(size1 >= 4 && !(size1 & (size1 - 1)), "BAR 1 size %u", size1);
	printf("BAR 0 memory at 0x%x (%u bytes), BAR 1 I/O at 0x%x (%u ports)\n", bar0 & ~0xfu,
	       size0, bar1 & ~3u, size1);
	check(run_tests(bar0 & ~0xfu, false) == expect, "memory BAR: not %lu tests", expect);
	check(run_tests(bar1 & ~3u, true) == expect, "I/O BAR: not %lu tests", expect);
	/* With I/O decoding off, the I/O BAR is gone. */
	cfg_write(dev, 0x04, cfg_read(dev, 0x04) & ~1u);
	check(rd8(bar1 & ~3u, true, 1) == 0xff, "I/O BAR still decodes with I/O space off");
	printf("pci-testdev: I/O space off hides BAR 1\n");
}
