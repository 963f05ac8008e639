/*
 * UART: register behaviour Linux's 8250 driver relies on (scratch, IER
 * read-back, THRE interrupt on enable and its acknowledgement, loopback with
 * modem-status mirroring), then interrupt-driven receive on IRQ 4 through the
 * PIC (ioapic=1: through the IOAPIC, for machines without a PIC): reads one
 * line from the host and echoes it.
 */
#include "guest.h"

#define IRQ4_VEC	0x24
#define IOAPIC_BASE	0xfec00000ULL
static bool use_ioapic;
static volatile char line[128];
static volatile unsigned len;
static volatile bool got_line;

static void uart_isr(struct frame *f)
{
	(void)f;
	while (inb(COM1 + 5) & 0x01) {
		char c = (char)inb(COM1);

		if (c == '\n' || c == '\r')
			got_line = true;
		else if (len + 1 < sizeof(line))
			line[len++] = c;
	}
	if (use_ioapic)
		lapic_eoi();
	else
		outb(0x20, 0x20);
}

/* IOAPIC pin 4: edge, vector IRQ4_VEC, to this CPU. */
static void ioapic_route_irq4(void)
{
	lapic_write(LAPIC_SVR, 0x1ff);
	mmio_write32(IOAPIC_BASE, 0x11 + 2 * 4);
	mmio_write32(IOAPIC_BASE + 0x10, lapic_id() << 24);
	mmio_write32(IOAPIC_BASE, 0x10 + 2 * 4);
	mmio_write32(IOAPIC_BASE + 0x10, IRQ4_VEC);
}

static void registers(void)
{
	uint8_t iir;

	outb(COM1 + 7, 0xa5);
	check(inb(COM1 + 7) == 0xa5, "scratch register lost its value");
	outb(COM1 + 1, 0x0f);
	check(inb(COM1 + 1) == 0x0f, "IER reads back 0x%x", inb(COM1 + 1));
	outb(COM1 + 1, 0x00);
	check(inb(COM1 + 1) == 0x00, "IER does not clear");
	/* Divisor latch. */
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	check(inb(COM1 + 0) == 0x01, "divisor latch low byte");
	outb(COM1 + 3, 0x03);	/* 8N1, DLAB off */
	outb(COM1 + 2, 0x01);	/* FIFO on */
	check((inb(COM1 + 2) & 0xc0) == 0xc0, "IIR does not report FIFOs (16550A)");
	/* Enabling the THRE interrupt with THR empty raises it; reading IIR acknowledges it. */
	outb(COM1 + 1, 0x02);
	iir = inb(COM1 + 2);
	check((iir & 0x0f) == 0x02, "no THRE interrupt after enabling it (IIR 0x%x)", iir);
	iir = inb(COM1 + 2);
	check((iir & 0x0f) == 0x01, "THRE interrupt not acknowledged by IIR read (IIR 0x%x)", iir);
	outb(COM1 + 1, 0x00);
	/* Loopback: modem outputs show up as inputs, sent bytes come back. */
	outb(COM1 + 4, 0x10 | 0x08 | 0x02);
	check((inb(COM1 + 6) & 0xf0) == 0x90, "loopback MSR 0x%x, expected 0x90", inb(COM1 + 6));
	outb(COM1, 'Z');
	check((inb(COM1 + 5) & 0x01) && inb(COM1) == 'Z', "loopback byte did not come back");
	outb(COM1 + 4, 0x0b);	/* DTR, RTS, OUT2 */
	check((inb(COM1 + 6) & 0xb0) == 0xb0, "modem status without carrier");
	printf("uart registers behave like a 16550A\n");
}

void test_main(void)
{
	uint64_t start, ioapic = 0;

	registers();
	use_ioapic = cmdline_u64("ioapic", &ioapic) && ioapic;
	if (use_ioapic) {
		ioapic_route_irq4();
	} else {
		outb(0x20, 0x11);
		outb(0x21, 0x20);
		outb(0x21, 0x04);
		outb(0x21, 0x01);
		outb(0x21, 0xef);	/* only IRQ4 */
		outb(0xa1, 0xff);
	}
	idt_set(IRQ4_VEC, uart_isr);
	outb(COM1 + 1, 0x01);	/* received-data interrupt */
	printf("ready\n");
	start = rdtsc();
	while (!got_line && rdtsc() - start < 90000000000ULL)
		sti_hlt();
	cli();
	check(got_line, "no line arrived (%u bytes)", len);
	line[len] = 0;
	printf("echo: %s\n", (const char *)line);
}
