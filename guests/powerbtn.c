/*
 * The ACPI fixed power button as a guest sees it: enables PWRBTN_EN in
 * PM1_EN, routes the SCI (IRQ 9, level, active high) through the IOAPIC,
 * says "powerbtn: ready" and waits, printing a heartbeat every 100 ms from
 * the LAPIC timer.  When the host presses the button (QMP system_powerdown)
 * the SCI arrives: PWRBTN_STS is checked and cleared, then PASS.
 */
#include "guest.h"

#define IOAPIC_BASE	0xfec00000ULL
#define PM1_STS		0x600		/* the FADT's PM1a_EVT_BLK (checked by the acpi guest) */
#define PM1_EN		0x602
#define PWRBTN		0x0100
#define SCI_IRQ		9
#define SCI_VEC		0x50
#define TIMER_VEC	0x40

static volatile unsigned ticks, scis;
static volatile uint16_t sts_seen;

static void sci_handler(struct frame *f)
{
	uint16_t sts = inw(PM1_STS);

	(void)f;
	sts_seen = sts;
	outw(PM1_STS, sts & PWRBTN);	/* write-1-to-clear: the SCI goes down */
	scis++;
	lapic_eoi();
}

static void timer_handler(struct frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

static void ioapic_route(unsigned pin, unsigned vec)
{
	volatile uint32_t *sel = (volatile uint32_t *)IOAPIC_BASE;
	volatile uint32_t *win = (volatile uint32_t *)(IOAPIC_BASE + 0x10);

	*sel = 0x10 + 2 * pin + 1;
	*win = lapic_id() << 24;
	*sel = 0x10 + 2 * pin;
	*win = vec | 1u << 15;		/* fixed, physical, active high, level, unmasked */
}

void test_main(void)
{
	unsigned seen = 0;

	idt_set(SCI_VEC, sci_handler);
	idt_set(TIMER_VEC, timer_handler);
	outb(0x21, 0xff);		/* the legacy PICs stay masked: the IOAPIC delivers */
	outb(0xa1, 0xff);
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_TIMER_DCR, 0x0b);			/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VEC | (1u << 17));	/* periodic */
	lapic_write(LAPIC_TIMER_ICR, 100000000);		/* 100 ms */
	check(!(inw(PM1_STS) & PWRBTN), "PWRBTN_STS set before anyone pressed the button");
	outw(PM1_EN, inw(PM1_EN) | PWRBTN);
	check(inw(PM1_EN) & PWRBTN, "PWRBTN_EN does not stick");
	ioapic_route(SCI_IRQ, SCI_VEC);
	printf("powerbtn: ready\n");
	while (!scis) {
		sti_hlt();
		cli();
		if (ticks != seen) {
			seen = ticks;
			printf("powerbtn: tick %u\n", seen);
		}
	}
	lapic_write(LAPIC_LVT_TIMER, 1u << 16);			/* masked */
	check(sts_seen & PWRBTN, "SCI without PWRBTN_STS (PM1_STS 0x%x)", sts_seen);
	check(!(inw(PM1_STS) & PWRBTN), "PWRBTN_STS did not clear");
	printf("powerbtn: power button pressed (PM1_STS 0x%x, %u SCI)\n", sts_seen, scis);
	pass();
}
