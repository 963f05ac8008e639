/*
 * The PC devices kvm-unit-tests relies on, from their documented interfaces:
 * fw_cfg (QEMU docs/specs/fw_cfg.rst) must report "QEMU", the CPU count
 * (expect_cpus=) and the RAM size (expect_mem=); the ACPI PM timer must count
 * at 3.579545 MHz measured against 100 ms of PIT channel 0 (nopit=1: a
 * machine without one, the measurement is skipped); with testdev=1, QEMU's
 * pc-testdev: scratch ports, the flush port, IRQ lines at the IOAPIC (edge;
 * with level=1 also level, Remote IRR, EOI and mask) and the MMIO scratch.
 * Each check prints one line.
 */
#include "guest.h"

#define FW_CFG_SEL	0x510
#define FW_CFG_DATA	0x511
#define PM_TMR		0x608
#define PIT_HZ		1193182u
#define PM_HZ		3579545u
#define PIT_TICKS	119318u		/* 100 ms of PIT ticks */
#define IOAPIC_BASE	0xfec00000ULL
#define TESTDEV_IRQ	10
#define TESTDEV_VEC	0x5a
#define TESTDEV_MMIO	0xff000000ULL

static uint64_t fw_cfg_read(uint16_t key, unsigned bytes)
{
	uint64_t v = 0;

	outw(FW_CFG_SEL, key);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return v;
}

static void test_fw_cfg(void)
{
	uint64_t cpus = 1, mem = 0, v;
	char sig[5] = { 0 };

	cmdline_u64("expect_cpus", &cpus);
	cmdline_u64("expect_mem", &mem);
	outw(FW_CFG_SEL, 0);
	for (unsigned i = 0; i < 4; i++)
		sig[i] = (char)inb(FW_CFG_DATA);
	check(!strcmp(sig, "QEMU"), "fw_cfg signature reads \"%s\"", sig);
	check(fw_cfg_read(0x01, 4) & 1, "fw_cfg ID lacks the traditional interface bit");
	v = fw_cfg_read(0x05, 2);
	check(v == cpus, "fw_cfg says %lu CPUs, expected %lu", v, cpus);
	check(fw_cfg_read(0x0f, 2) == cpus, "fw_cfg max CPUs differs from the CPU count");
	v = fw_cfg_read(0x03, 8);
	check(!mem || v == mem, "fw_cfg says %lu bytes of RAM, expected %lu", v, mem);
	/* A key with no item reads as zeros. */
	check(fw_cfg_read(0x3fff, 8) == 0, "fw_cfg key 0x3fff is not empty");
	/* A new selection starts the item over. */
	check(fw_cfg_read(0x05, 1) == (cpus & 0xff), "fw_cfg reselect did not restart the item");
	printf("fw_cfg: QEMU, %lu CPUs, %lu bytes\n", cpus, v);
}

static uint16_t pit0_count(void)
{
	uint8_t lo;

	outb(0x43, 0x00);	/* latch channel 0 */
	lo = inb(0x40);
	return (uint16_t)(lo | inb(0x40) << 8);
}

static void test_pm_timer(void)
{
	uint32_t t0, t1, pm_last;
	uint64_t pit = 0, ticks, hz;
	unsigned restarts = 0;
	uint16_t last;

	check(inl(PM_TMR) != 0xffffffff, "no PM timer at port 0x%x", PM_TMR);
	/*
	 * The reference: PIT channel 0 free-running (mode 2, count 65536), its
	 * count latched and read until PIT_TICKS have gone by.  The PIC and
	 * IOAPIC keep its interrupt masked.
	 */
	outb(0x21, 0xff);
	outb(0x43, 0x34);
	outb(0x40, 0);
	outb(0x40, 0);
	last = pit0_count();
	t0 = pm_last = inl(PM_TMR);
	for (uint64_t start = rdtsc(); pit < PIT_TICKS;) {
		uint16_t now = pit0_count();
		uint32_t pm = inl(PM_TMR);

		/*
		 * Counting down; a read more than 40 ms after the last (a busy
		 * host descheduled this vCPU) may have missed a whole 55 ms
		 * period: the measurement starts again from here.
		 */
		if ((uint32_t)(pm - pm_last) > PM_HZ / 25) {
			check(++restarts < 50, "the vCPU kept stalling for 40 ms: no measurement");
			pit = 0;
			t0 = pm;
		} else {
			pit += (uint16_t)(last - now);
		}
		last = now;
		pm_last = pm;
		check(rdtsc() - start < 30000000000ULL, "PIT channel 0 does not count");
	}
	t1 = inl(PM_TMR);
	ticks = (uint32_t)(t1 - t0);
	hz = ticks * PIT_HZ / pit;
	printf("pm timer: %lu ticks in %lu PIT ticks: %lu Hz (%u restarts)\n", ticks, pit, hz,
	       restarts);
	/* 3% covers the exits around the polling; a wrong rate is off by far more. */
	check(hz > PM_HZ - PM_HZ / 33 && hz < PM_HZ + PM_HZ / 33,
	      "PM timer runs at %lu Hz, expected %u", hz, PM_HZ);
}

static volatile unsigned testdev_irqs;
static volatile unsigned level_lower_at;	/* the level handler lowers the line at this count */

static void testdev_irq(struct frame *f)
{
	(void)f;
	testdev_irqs++;
	lapic_eoi();
}

/* A level interrupt whose source stays up until the count reaches level_lower_at. */
static void testdev_level_irq(struct frame *f)
{
	(void)f;
	if (++testdev_irqs >= level_lower_at)
		outb(0x2000 + TESTDEV_IRQ, 0);
	lapic_eoi();
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

/*
 * Lets interrupts in, n of them at most, for a while.  The port read is an
 * exit taken with interrupts on and outside sti's shadow: on PVM, where
 * sti and cli are emulated, a pending interrupt is injected at such an exit's
 * re-entry, and a window of sti; pause; cli alone catches one only when a
 * host tick happens to land in it.
 */
static void wait_irqs(unsigned n)
{
	for (volatile unsigned i = 0; i < 2000 && testdev_irqs < n; i++) {
		sti();
		pause();
		(void)inb(0x80);
		cli();
	}
}

static void test_pc_testdev(bool level)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));
	volatile uint32_t *mem = (volatile uint32_t *)TESTDEV_MMIO;

	outl(0xe0, 0x12345678);
	check(inl(0xe0) == 0x12345678, "scratch port 0xe0 reads 0x%x", inl(0xe0));
	check(inb(0xe1) == 0x56 && inw(0xe2) == 0x1234, "scratch port byte lanes are wrong");
	outb(0xea, 0xab);
	check(inl(0xe8) == 0x12ab5678, "port 0xea did not write lane 2 of the scratch: 0x%x",
	      inl(0xe8));
	printf("pc-testdev: scratch ports\n");

	/* Flushing a page loses none of it. */
	memset(page, 0x5c, sizeof(page));
	outl(0xe4, (uint32_t)(uintptr_t)page);
	for (unsigned i = 0; i < sizeof(page); i++)
		check(page[i] == 0x5c, "page byte %u changed across the flush port", i);
	printf("pc-testdev: flush page\n");

	mem[0] = 0xdeadbeef;
	mem[0x3fff] = 0xcafef00d;
	check(mem[0] == 0xdeadbeef && mem[0x3fff] == 0xcafef00d, "MMIO scratch lost a write");
	printf("pc-testdev: mmio scratch\n");

	/* IRQ 10 at the IOAPIC, edge triggered, to this CPU. */
	idt_set(TESTDEV_VEC, testdev_irq);
	lapic_write(LAPIC_SVR, 0x1ff);
	ioapic_write(0x11 + 2 * TESTDEV_IRQ, lapic_id() << 24);
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, TESTDEV_VEC);
	outb(0x2000 + TESTDEV_IRQ, 1);
	wait_irqs(1);
	outb(0x2000 + TESTDEV_IRQ, 0);
	check(testdev_irqs == 1, "raising IRQ %u brought %u interrupts", TESTDEV_IRQ, testdev_irqs);
	/* Low stays quiet; the next rising edge is a second interrupt. */
	wait_irqs(2);
	check(testdev_irqs == 1, "a lowered IRQ line interrupted");
	outb(0x2000 + TESTDEV_IRQ, 1);
	wait_irqs(2);
	outb(0x2000 + TESTDEV_IRQ, 0);
	check(testdev_irqs == 2, "second edge on IRQ %u: %u interrupts", TESTDEV_IRQ, testdev_irqs);
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, 1u << 16);
	printf("pc-testdev: irq line %u\n", TESTDEV_IRQ);
	/*
	 * KVM's in-kernel IOAPIC on PVM hosts delivers once more after the line
	 * fell (kvm-unit-tests' ioapic test fails there too): asked for only.
	 */
	if (!level)
		return;

	/* Level: the line still high after an EOI delivers again, until the handler lowers it. */
	idt_set(TESTDEV_VEC, testdev_level_irq);
	testdev_irqs = 0;
	level_lower_at = 3;
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, TESTDEV_VEC | 1u << 15);
	outb(0x2000 + TESTDEV_IRQ, 1);
	wait_irqs(4);
	check(testdev_irqs == 3, "level IRQ %u held high for 3 EOIs: %u interrupts", TESTDEV_IRQ,
	      testdev_irqs);
	check(!(ioapic_read(0x10 + 2 * TESTDEV_IRQ) & 1u << 14), "Remote IRR still set after the EOI");
	/* Masked, a high level waits; unmasked, it is delivered. */
	testdev_irqs = 0;
	level_lower_at = 1;
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, TESTDEV_VEC | 1u << 15 | 1u << 16);
	outb(0x2000 + TESTDEV_IRQ, 1);
	wait_irqs(1);
	check(testdev_irqs == 0, "a masked level IRQ interrupted");
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, TESTDEV_VEC | 1u << 15);
	wait_irqs(1);
	check(testdev_irqs == 1, "unmasking a high level IRQ brought %u interrupts", testdev_irqs);
	ioapic_write(0x10 + 2 * TESTDEV_IRQ, 1u << 16);
	printf("pc-testdev: level irq line %u, Remote IRR and mask\n", TESTDEV_IRQ);
}

void test_main(void)
{
	uint64_t testdev = 0, nopit = 0, level = 0;

	test_fw_cfg();
	if (cmdline_u64("nopit", &nopit) && nopit) {
		outb(0x21, 0xff);	/* a PIC, where there is one, stays out of the IRQ tests */
		printf("pm timer: no PIT to measure it against\n");
	} else {
		test_pm_timer();
	}
	if (cmdline_u64("testdev", &testdev) && testdev)
		test_pc_testdev(cmdline_u64("level", &level) && level);
}
