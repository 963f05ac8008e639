/*
 * Timer interrupts through the in-kernel irqchip: the LAPIC timer in periodic
 * mode, then the PIT through the 8259 PIC (LINT0 in ExtINT mode).  With
 * nopit=1 (a machine without a PIT) the PIT's ports read all-ones and its
 * IRQ 0 stays silent over 50 LAPIC ticks.
 */
#include "guest.h"

#define TICKS		10
#define LAPIC_VEC	0x40
#define PIC_BASE_VEC	0x20
#define WAIT_TSC	60000000000ULL	/* ~20 s at 3 GHz */

static volatile unsigned lapic_ticks, pit_ticks;

static void lapic_tick(struct frame *f)
{
	(void)f;
	lapic_ticks++;
	lapic_eoi();
}

static void pit_tick(struct frame *f)
{
	(void)f;
	pit_ticks++;
	outb(0x20, 0x20);	/* non-specific EOI to the master PIC */
}

static void wait_ticks(volatile unsigned *counter, const char *what)
{
	uint64_t start = rdtsc();

	while (*counter < TICKS && rdtsc() - start < WAIT_TSC)
		sti_hlt();
	cli();
	check(*counter >= TICKS, "%s: %u of %u interrupts arrived", what, *counter, TICKS);
	printf("%s: %u interrupts\n", what, *counter);
}

static void pic_init(uint8_t master_mask)
{
	outb(0x20, 0x11);	/* ICW1: edge, cascade, ICW4 */
	outb(0x21, PIC_BASE_VEC);
	outb(0x21, 0x04);	/* slave on IRQ2 */
	outb(0x21, 0x01);	/* 8086 mode */
	outb(0xa0, 0x11);
	outb(0xa1, PIC_BASE_VEC + 8);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0x21, master_mask);
	outb(0xa1, 0xff);
}

void test_main(void)
{
	uint64_t nopit = 0;

	idt_set(LAPIC_VEC, lapic_tick);
	idt_set(PIC_BASE_VEC, pit_tick);
	pic_init(0xff);
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_TIMER_DCR, 0x0b);			/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, LAPIC_VEC | (1u << 17));	/* periodic */
	lapic_write(LAPIC_TIMER_ICR, 1000000);
	wait_ticks(&lapic_ticks, "lapic timer");
	lapic_write(LAPIC_LVT_TIMER, 1u << 16);			/* masked */

	pic_init(0xfe);			/* only IRQ0 */
	outb(0x43, 0x34);		/* channel 0, lo/hi byte, rate generator */
	outb(0x40, 1193 & 0xff);	/* ~1 kHz */
	outb(0x40, 1193 >> 8);
	if (cmdline_u64("nopit", &nopit) && nopit) {
		uint8_t lo, hi;

		outb(0x43, 0x00);	/* latch channel 0: a PIT answers with its count */
		lo = inb(0x40);
		hi = inb(0x40);
		check(lo == 0xff && hi == 0xff, "port 0x40 answered 0x%02x%02x: a PIT is there", hi, lo);
		/* 50 LAPIC ticks of 1 ms: a 1 kHz PIT would have ticked as often. */
		lapic_ticks = 0;
		lapic_write(LAPIC_LVT_TIMER, LAPIC_VEC | (1u << 17));
		lapic_write(LAPIC_TIMER_ICR, 1000000);
		while (lapic_ticks < 50)
			sti_hlt();
		cli();
		lapic_write(LAPIC_LVT_TIMER, 1u << 16);
		check(pit_ticks == 0, "%u PIT interrupts on a machine without a PIT", pit_ticks);
		printf("no pit: port 0x40 reads 0xffff, no IRQ 0 in %u lapic ticks\n", lapic_ticks);
		outb(0x21, 0xff);
		return;
	}
	wait_ticks(&pit_ticks, "pit via pic");
	outb(0x21, 0xff);
}
