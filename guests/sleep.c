/*
 * S3 and the RTC behind it: the update-in-progress bit comes and goes once a
 * second; an alarm two seconds ahead raises IRQ 8 (through the PIC) with AF
 * and IRQF in register C; then, with RTC_EN in PM1_EN, the guest writes
 * SLP_TYP S3 + SLP_EN.  The wake (the next alarm) lands in a real-mode stub at
 * the FACS's firmware waking vector, which checks that WAK_STS and RTC_STS are
 * set, that nothing ran after the sleep write (a marker), and that the clock
 * reads the alarm's second; it prints "woke" and exits PASS, or exits
 * 0x12 (status 37: PM1 status), 0x13 (39: marker), 0x14 (41: clock).
 * With rtc_en=0 the alarm is no wake event: the machine sleeps on; with
 * vector=0 the FACS has no waking vector, and the wake is a reset.
 */
#include "guest.h"

#define PM1_STS		0x600
#define PM1_EN		0x602
#define PM1_CNT		0x604
#define PM1_RTC		0x0400
#define SLP_S3		((1u << 10) | (1u << 13))	/* SLP_TYP 1 (\_S3), SLP_EN */
#define RESUME_ADDR	0x2000		/* the stub: CS 0x200, IP 0 */
#define MARKER_OFF	0x800		/* CS-relative: what the stub checks */
#define ALARM_OFF	0x804
#define MARKER		0x5eeb5eebu
#define RTC_VEC		0x28		/* slave PIC base: IRQ 8 */
#define WAIT_TSC	30000000000ULL	/* ~10 s at 3 GHz */

extern const uint8_t resume_start[], resume_end[];

__asm__(
	".code16\n"
	".globl resume_start, resume_end\n"
	"resume_start:\n"
	"	mov %cs, %ax\n"
	"	mov %ax, %ds\n"
	"	mov $0x3f8, %dx\n"
	"	mov $'w', %al\n"	/* "woke" on COM1 */
	"	out %al, %dx\n"
	"	mov $'o', %al\n"
	"	out %al, %dx\n"
	"	mov $'k', %al\n"
	"	out %al, %dx\n"
	"	mov $'e', %al\n"
	"	out %al, %dx\n"
	"	mov $'\\n', %al\n"
	"	out %al, %dx\n"
	"	mov $0x12, %ebx\n"
	"	mov $0x600, %dx\n"	/* PM1_STS: WAK_STS and RTC_STS */
	"	in %dx, %ax\n"
	"	and $0x8400, %ax\n"
	"	cmp $0x8400, %ax\n"
	"	jne 1f\n"
	"	mov $0x13, %ebx\n"
	"	cmpl $0x5eeb5eeb, 0x800\n"
	"	jne 1f\n"
	"	mov $0x14, %ebx\n"
	"	mov $0, %al\n"		/* RTC seconds: the alarm's */
	"	out %al, $0x70\n"
	"	in $0x71, %al\n"
	"	cmp 0x804, %al\n"
	"	jne 1f\n"
	"	mov $0x10, %ebx\n"
	"1:	mov %ebx, %eax\n"
	"	mov $0xf4, %dx\n"
	"	out %eax, %dx\n"
	"2:	hlt\n"
	"	jmp 2b\n"
	"resume_end:\n"
	".code64\n");

static uint8_t bcd_add(uint8_t v, unsigned n)
{
	unsigned s = ((v >> 4) * 10 + (v & 15) + n) % 60;

	return (uint8_t)((s / 10) << 4 | (s % 10));
}

static void wait_uip(bool set)
{
	uint64_t start = rdtsc();

	while (!!(cmos(0x0a) & 0x80) != set)
		check(rdtsc() - start < WAIT_TSC, "UIP never %s", set ? "set" : "cleared");
}

static volatile unsigned rtc_irqs;
static volatile uint8_t rtc_c;

static void rtc_irq(struct frame *f)
{
	(void)f;
	rtc_c = cmos(0x0c);	/* reading C lowers IRQ 8 */
	rtc_irqs++;
	outb(0xa0, 0x20);	/* EOI to the slave, then the master */
	outb(0x20, 0x20);
}

static void pic_init(void)
{
	outb(0x20, 0x11);
	outb(0x21, 0x20);
	outb(0x21, 0x04);
	outb(0x21, 0x01);
	outb(0xa0, 0x11);
	outb(0xa1, RTC_VEC);
	outb(0xa1, 0x02);
	outb(0xa1, 0x01);
	outb(0x21, 0xfb);	/* the cascade only */
	outb(0xa1, 0xfe);	/* IRQ 8 only */
}

/* The FACS as the guest finds it: RSDP at 0xe0000 (kvmrun's), XSDT, FADT's X_FIRMWARE_CTRL. */
static uint64_t facs_addr(void)
{
	uint64_t xsdt = *(volatile uint64_t *)(0xe0000 + 24);
	uint64_t fadt = *(volatile uint64_t *)(xsdt + 36);

	check(!strncmp((const char *)fadt, "FACP", 4), "no FADT first in the XSDT");
	return *(volatile uint64_t *)(fadt + 132);
}

void test_main(void)
{
	uint64_t start, facs, rtc_en = 1, vector = RESUME_ADDR;
	uint8_t sec;

	cmdline_u64("rtc_en", &rtc_en);
	cmdline_u64("vector", &vector);
	check(!(cmos(0x0b) & 0x04) && (cmos(0x0b) & 0x02), "RTC not in BCD 24-hour mode");
	/* The update: UIP rises before the second changes, falls after. */
	wait_uip(true);
	wait_uip(false);
	printf("rtc: update-in-progress seen\n");

	/* An alarm two seconds ahead, while running: IRQ 8 with AF and IRQF. */
	idt_set(RTC_VEC, rtc_irq);
	pic_init();
	(void)cmos(0x0c);
	sec = bcd_add(cmos(0x00), 2);
	cmos_write(0x01, sec);
	cmos_write(0x03, 0xc0);	/* minutes and hours: don't care */
	cmos_write(0x05, 0xc0);
	cmos_write(0x0b, cmos(0x0b) | 0x20);	/* AIE */
	start = rdtsc();
	while (!rtc_irqs && rdtsc() - start < WAIT_TSC)
		sti_hlt();
	cli();
	check(rtc_irqs == 1, "%u RTC interrupts for one alarm", rtc_irqs);
	check((rtc_c & 0xa0) == 0xa0, "register C 0x%02x at the alarm (IRQF and AF expected)", rtc_c);
	check(cmos(0x00) == sec, "alarm for second %02x came at %02x", sec, cmos(0x00));
	printf("rtc: alarm irq 8, register C 0x%02x\n", rtc_c);
	outb(0xa1, 0xff);

	/* Sleep until the next alarm, two seconds on; wake at the stub. */
	facs = facs_addr();
	memcpy((void *)RESUME_ADDR, resume_start, (size_t)(resume_end - resume_start));
	*(volatile uint32_t *)(facs + 12) = (uint32_t)vector;
	sec = bcd_add(cmos(0x00), 2);
	cmos_write(0x01, sec);
	*(volatile uint8_t *)(RESUME_ADDR + ALARM_OFF) = sec;
	(void)cmos(0x0c);
	outw(PM1_STS, 0xffff);		/* clear every status bit */
	outw(PM1_EN, rtc_en ? PM1_RTC : 0);
	*(volatile uint32_t *)(RESUME_ADDR + MARKER_OFF) = MARKER;
	printf("sleeping until second %02x\n", sec);
	outw(PM1_CNT, SLP_S3);
	/* Nothing may run from here on: the stub finds the marker changed if it does. */
	for (;;)
		*(volatile uint32_t *)(RESUME_ADDR + MARKER_OFF) = 0xdead;
}
