/* Unit tests for the 8250/16550A UART model and its save/restore. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/devices.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MCR_OUT2	0x08
#define MCR_LOOP	0x10

/* ---- fixture: a UART with a recording IRQ line, a pipe as output ---- */

struct irq_rec {
	int level;
	unsigned changes;
	unsigned gsi;
};

static struct irq_rec irq;
static unsigned rx_space_calls;
static struct serial8250 uart;
static int pipefd[2];
static struct out_sink sink;		/* the UART's output, on the pipe */

static void irq_set(void *opaque, unsigned gsi, int level)
{
	struct irq_rec *r = opaque;

	r->level = level;
	r->gsi = gsi;
	r->changes++;
}

static void rx_space(void *opaque)
{
	ck_assert_ptr_eq(opaque, &uart);
	rx_space_calls++;
}

static void setup(void)
{
	struct irq_line line = { .set = irq_set, .opaque = &irq, .gsi = 4 };

	memset(&irq, 0, sizeof(irq));
	rx_space_calls = 0;
	ck_assert_int_eq(pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(out_sink_init(&sink, pipefd[1], SINK_CAPACITY, "serial"), 0);
	ck_assert_int_eq(out_sink_start(&sink), 0);
	serial8250_init(&uart, &sink, line, rx_space, &uart);
}

static void teardown(void)
{
	serial8250_destroy(&uart);
	out_sink_destroy(&sink);
	close(pipefd[0]);
	close(pipefd[1]);
}

static uint8_t rd(unsigned reg)
{
	uint8_t v = 0x5a;

	serial8250_io(&uart, reg, &v, 1, false);
	return v;
}

static void wr(unsigned reg, uint8_t v)
{
	serial8250_io(&uart, reg, &v, 1, true);
}

/*
 * Bytes the UART's writer thread put into the pipe: whatever arrives until
 * 100 ms pass without more (0 when none).
 */
static size_t drain(uint8_t *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		struct pollfd pfd = { pipefd[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			break;
		n = read(pipefd[0], buf + got, cap - got);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			continue;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* ---- transmit ---- */

START_TEST(test_reset_state)
{
	ck_assert_uint_eq(rd(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);	/* no interrupt, FIFO off */
	ck_assert_uint_eq(rd(IER), 0);
	ck_assert_uint_eq(irq.changes, 0);
}
END_TEST

START_TEST(test_thr_transmits)
{
	uint8_t out[16];

	wr(THR, 'h');
	wr(THR, 'i');
	wr(THR, 0x00);
	wr(THR, 0xff);
	ck_assert_uint_eq(drain(out, sizeof(out)), 4);
	ck_assert_uint_eq(out[0], 'h');
	ck_assert_uint_eq(out[1], 'i');
	ck_assert_uint_eq(out[2], 0x00);
	ck_assert_uint_eq(out[3], 0xff);
	ck_assert_uint_eq(uart.tx_bytes, 4);
	ck_assert_uint_eq(rd(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
}
END_TEST

START_TEST(test_discarded_output)
{
	struct serial8250 s;
	struct irq_line none = { 0 };
	uint8_t v = 'x';

	serial8250_init(&s, NULL, none, NULL, NULL);
	serial8250_io(&s, THR, &v, 1, true);
	ck_assert_uint_eq(s.tx_bytes, 1);
	serial8250_io(&s, LSR, &v, 1, false);
	ck_assert_uint_eq(v & LSR_THRE, LSR_THRE);
	/* No callback set: reading RBR must not crash. */
	serial8250_io(&s, RBR, &v, 1, false);
	serial8250_destroy(&s);
}
END_TEST

START_TEST(test_broken_output)
{
	close(pipefd[0]);
	pipefd[0] = -1;
	/* The reader is gone: the writer thread's write fails (EPIPE; SIGPIPE ignored below). */
	wr(THR, 'a');
	for (unsigned i = 0; i < 200 && !sink.broken; i++)
		usleep(5000);
	ck_assert(sink.broken);
	wr(THR, 'b');
	ck_assert_uint_eq(sink.dropped, 2);
	ck_assert_uint_eq(uart.tx_bytes, 2);
	ck_assert_uint_eq(rd(LSR) & LSR_THRE, LSR_THRE);
	pipefd[0] = open("/dev/null", O_RDONLY);
}
END_TEST

/* ---- divisor latch ---- */

START_TEST(test_dlab)
{
	uint8_t out[4];

	ck_assert_uint_eq(uart.regs.dll, 0x0c);
	wr(LCR, 0x83);		/* DLAB, 8N1 */
	ck_assert_uint_eq(rd(LCR), 0x83);
	ck_assert_uint_eq(rd(DLL), 0x0c);	/* 9600 baud after reset */
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	ck_assert_uint_eq(rd(DLL), 0x01);
	ck_assert_uint_eq(rd(DLM), 0x02);
	ck_assert_uint_eq(drain(out, sizeof(out)), 0);	/* DLL writes are not data */
	ck_assert_uint_eq(uart.tx_bytes, 0);
	wr(LCR, 0x03);
	/* IER is its own register, not the DLM. */
	ck_assert_uint_eq(rd(IER), 0);
	wr(THR, 'z');
	ck_assert_uint_eq(drain(out, sizeof(out)), 1);
	ck_assert_uint_eq(out[0], 'z');
	/* The divisor survives. */
	wr(LCR, 0x83);
	ck_assert_uint_eq(rd(DLL), 0x01);
	ck_assert_uint_eq(rd(DLM), 0x02);
}
END_TEST

START_TEST(test_dlab_rbr_read_does_not_drain)
{
	const uint8_t in = 'q';

	ck_assert_uint_eq(serial8250_rx_push(&uart, &in, 1), 1);
	wr(LCR, 0x80);
	ck_assert_uint_eq(rd(RBR), 0x0c);	/* the DLL, not the data */
	ck_assert_uint_eq(rx_space_calls, 0);
	wr(LCR, 0x00);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(RBR), 'q');
}
END_TEST

/* ---- registers ---- */

START_TEST(test_ier_low_bits)
{
	wr(IER, 0xff);
	ck_assert_uint_eq(rd(IER), 0x0f);
	wr(IER, 0xf5);
	ck_assert_uint_eq(rd(IER), 0x05);
}
END_TEST

START_TEST(test_scr_lcr_mcr)
{
	wr(SCR, 0xa5);
	ck_assert_uint_eq(rd(SCR), 0xa5);
	wr(SCR, 0x5a);
	ck_assert_uint_eq(rd(SCR), 0x5a);
	wr(LCR, 0x1b);
	ck_assert_uint_eq(rd(LCR), 0x1b);
	wr(MCR, 0xff);
	ck_assert_uint_eq(rd(MCR), 0x1f);	/* 5 bits */
	/* LSR and MSR are read-only. */
	wr(LSR, 0x00);
	ck_assert_uint_eq(rd(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
}
END_TEST

START_TEST(test_msr_normal)
{
	wr(MCR, 0x00);
	/* Not looped: DCD, DSR and CTS asserted (a cable with a peer). */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
}
END_TEST

/* ---- THRE interrupt ---- */

START_TEST(test_thri_on_enable_and_ack)
{
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(irq.level, 0);
	wr(IER, 0x02);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.gsi, 4);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);
	/* Reading IIR acknowledged it. */
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);

	/* A write to THR raises it again. */
	wr(THR, 'x');
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);

	/* Re-enabling ETBEI while THR is empty raises it again (Linux's probe). */
	wr(IER, 0x00);
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);
	/* Writing the same IER value again is not an enable edge. */
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
}
END_TEST

START_TEST(test_thri_masked_by_ier)
{
	wr(MCR, MCR_OUT2);
	wr(THR, 'a');		/* THRE pending but not enabled */
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.changes, 0);
}
END_TEST

START_TEST(test_irq_needs_out2)
{
	wr(MCR, 0x03);		/* DTR | RTS, no OUT2 */
	wr(IER, 0x02);
	/* The UART has an interrupt, but it does not reach the line. */
	ck_assert_uint_eq(uart.regs.thr_ipending, true);
	ck_assert_uint_eq(irq.changes, 0);
	ck_assert_int_eq(irq.level, 0);
	wr(MCR, 0x0b);		/* OUT2 on: the pending interrupt shows */
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(irq.changes, 1);
	wr(MCR, 0x03);		/* and off again */
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(irq.changes, 2);
}
END_TEST

START_TEST(test_iir_fifo_bits)
{
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0x00);
	wr(FCR, 0x01);
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0xc0);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	wr(FCR, 0xc7);		/* enable, clear both, 14-byte trigger */
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0xc0);
	wr(FCR, 0x00);
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0x00);
	/* With the FIFO on, the THRE ack still works on the low nibble. */
	wr(FCR, 0x01);
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert_uint_eq(rd(IIR), 0xc1);
}
END_TEST

/* ---- receive ---- */

START_TEST(test_rx_fifo_off_one_byte)
{
	const uint8_t in[4] = { 'a', 'b', 'c', 'd' };

	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 4), 1);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in + 1, 3), 0);
	ck_assert_uint_eq(rd(RBR), 'a');
	ck_assert_uint_eq(rx_space_calls, 1);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in + 1, 3), 1);
	ck_assert_uint_eq(rd(RBR), 'b');
	/* Empty RBR reads something harmless and still signals room. */
	rd(RBR);
	ck_assert_uint_eq(rx_space_calls, 3);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	/* rx_push never overruns: the host keeps what did not fit. */
	ck_assert_uint_eq(rd(LSR) & LSR_OE, 0);
}
END_TEST

START_TEST(test_rx_fifo_on_sixteen)
{
	uint8_t in[20];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('A' + i);
	wr(FCR, 0x01);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, sizeof(in)), SERIAL_FIFO);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 1), 0);
	for (unsigned i = 0; i < SERIAL_FIFO; i++) {
		ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
		ck_assert_uint_eq(rd(RBR), 'A' + i);
	}
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(rx_space_calls, SERIAL_FIFO);
	/* Order is kept across the ring's wrap-around. */
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 5), 5);
	ck_assert_uint_eq(rd(RBR), 'A');
	ck_assert_uint_eq(serial8250_rx_push(&uart, in + 5, 15), 12);
	for (unsigned i = 1; i < 17; i++)
		ck_assert_uint_eq(rd(RBR), 'A' + i);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
}
END_TEST

START_TEST(test_rda_interrupt_priority)
{
	const uint8_t in = 'r';

	wr(MCR, MCR_OUT2);
	wr(IER, 0x03);		/* RDI | THRI: THRE pending at once */
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(serial8250_rx_push(&uart, &in, 1), 1);
	/* Received data outranks THR empty. */
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x04);
	/* Reading IIR while it shows RDA does not acknowledge THRE. */
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x04);
	ck_assert_uint_eq(rd(RBR), 'r');
	/* THRE is still pending underneath. */
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
}
END_TEST

START_TEST(test_rda_only_when_enabled)
{
	const uint8_t in = 'r';

	wr(MCR, MCR_OUT2);
	ck_assert_uint_eq(serial8250_rx_push(&uart, &in, 1), 1);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
	wr(IER, 0x01);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(rd(RBR), 'r');
	ck_assert_int_eq(irq.level, 0);
}
END_TEST

START_TEST(test_fcr_clear_rx)
{
	const uint8_t in[SERIAL_FIFO] = "abcdefghijklmno";

	wr(FCR, 0x01);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 7), 7);
	ck_assert_uint_eq(rd(RBR), 'a');
	wr(FCR, 0x03);		/* keep enabled, clear RX */
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 16), 16);
	ck_assert_uint_eq(rd(RBR), 'a');
	/* Turning the FIFO off also empties it. */
	wr(FCR, 0x00);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, 7), 1);
	ck_assert_uint_eq(rd(RBR), 'a');
}
END_TEST

/* ---- loopback ---- */

START_TEST(test_loopback)
{
	uint8_t out[4];
	const uint8_t host = 'h';

	wr(MCR, MCR_LOOP);
	wr(THR, 0x5c);
	ck_assert_uint_eq(drain(out, sizeof(out)), 0);	/* nothing left the UART */
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	/* Host input is not heard in loopback. */
	ck_assert_uint_eq(serial8250_rx_push(&uart, &host, 1), 0);
	ck_assert_uint_eq(rd(RBR), 0x5c);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	/* A second byte overruns the 1-byte holding register with the FIFO off. */
	wr(THR, 1);
	wr(THR, 2);
	ck_assert_uint_eq(rd(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
	ck_assert_uint_eq(rd(LSR) & LSR_OE, 0);	/* OE clears on read */
	ck_assert_uint_eq(rd(RBR), 1);
	/* Out of loopback the bytes go out again. */
	wr(MCR, 0);
	wr(THR, 'o');
	ck_assert_uint_eq(drain(out, sizeof(out)), 1);
	ck_assert_uint_eq(out[0], 'o');
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
}
END_TEST

START_TEST(test_loopback_msr)
{
	wr(MCR, 0x1a);		/* LOOP | OUT2 | RTS: what Linux's 8250 probe writes */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x90);	/* DCD | CTS */
	wr(MCR, 0x10);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x00);
	wr(MCR, 0x15);		/* LOOP | OUT1 | DTR */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x60);	/* RI | DSR */
	wr(MCR, 0x1f);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xf0);
	wr(MCR, 0x00);		/* back to a normal line */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
}
END_TEST

START_TEST(test_loopback_no_irq_line)
{
	/* In loopback the interrupt output is disconnected from the line. */
	wr(MCR, MCR_LOOP | MCR_OUT2);
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);	/* internally pending */
	ck_assert_int_eq(irq.level, 0);
}
END_TEST

/* ---- odd accesses ---- */

START_TEST(test_offsets_beyond_regs)
{
	uint8_t v[4] = { 0x11, 0x22, 0x33, 0x44 };

	for (uint64_t off = 8; off < 16; off++) {
		serial8250_io(&uart, off, v, 4, false);
		serial8250_io(&uart, off, v, 1, true);
	}
	serial8250_io(&uart, UINT64_MAX, v, 1, false);
	serial8250_io(&uart, UINT64_MAX, v, 1, true);
	/* Nothing changed. */
	ck_assert_uint_eq(uart.tx_bytes, 0);
	ck_assert_uint_eq(rd(SCR), 0);
	ck_assert_uint_eq(rd(IER), 0);
}
END_TEST

START_TEST(test_wide_access_first_register_only)
{
	uint8_t w[4] = { 0x0f, 0xee, 0x03, 0x1b };	/* IER, (IIR/FCR), LCR, MCR bytes */
	uint8_t r[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	uint8_t out[8];

	serial8250_io(&uart, IER, w, 4, true);
	ck_assert_uint_eq(rd(IER), 0x0f);
	ck_assert_uint_eq(rd(LCR), 0x00);	/* not 0x03 */
	ck_assert_uint_eq(rd(MCR), 0x00);	/* not 0x1b */
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0x00);	/* FCR not written */

	wr(SCR, 0x77);
	serial8250_io(&uart, SCR, r, 4, false);
	ck_assert_uint_eq(r[0], 0x77);
	ck_assert_uint_eq(r[1], 0);
	ck_assert_uint_eq(r[2], 0);
	ck_assert_uint_eq(r[3], 0);

	/* A 2-byte THR write sends one byte. */
	w[0] = 'A';
	w[1] = 'B';
	serial8250_io(&uart, THR, w, 2, true);
	ck_assert_uint_eq(drain(out, sizeof(out)), 1);
	ck_assert_uint_eq(out[0], 'A');
}
END_TEST

/* ---- save, restore, reset ---- */

/* The record's layout (state_version 1), byte offsets. */
enum { REC_IER = 0, REC_LCR, REC_MCR, REC_LSR, REC_MSR, REC_SCR, REC_FCR, REC_DLL, REC_DLM,
       REC_THR_IPENDING, REC_RX, REC_RX_HEAD = REC_RX + SERIAL_FIFO, REC_RX_COUNT, REC_LEN };

static struct serial8250 uart2;
static struct irq_rec irq2;
static unsigned rx_space2_calls;

static void rx_space2(void *opaque)
{
	ck_assert_ptr_eq(opaque, &uart2);
	rx_space2_calls++;
}

static void init_uart2(void)
{
	struct irq_line line = { .set = irq_set, .opaque = &irq2, .gsi = 4 };

	memset(&irq2, 0, sizeof(irq2));
	rx_space2_calls = 0;
	serial8250_init(&uart2, NULL, line, rx_space2, &uart2);
}

static uint8_t rd_on(struct serial8250 *s, unsigned reg)
{
	uint8_t v = 0x5a;

	serial8250_io(s, reg, &v, 1, false);
	return v;
}

static void wr_on(struct serial8250 *s, unsigned reg, uint8_t v)
{
	serial8250_io(s, reg, &v, 1, true);
}

/*
 * FIFO on with 5 bytes (the head moved on by one read), divisor 0x0201,
 * received-data and THRE interrupts enabled with OUT2: the line is up.
 */
static void make_busy(void)
{
	const uint8_t in[6] = { 'a', 'b', 'c', 'd', 'e', 'f' };

	wr(FCR, 0x01);
	wr(LCR, 0x83);
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	wr(LCR, 0x03);
	wr(MCR, 0x0b);
	wr(SCR, 0x42);
	ck_assert_uint_eq(serial8250_rx_push(&uart, in, sizeof(in)), sizeof(in));
	ck_assert_uint_eq(rd(RBR), 'a');
	wr(IER, 0x03);
	ck_assert_int_eq(irq.level, 1);
	ck_assert_uint_eq(uart.regs.rx_count, 5);
}

static void save(struct serial8250 *s, struct state_writer *w)
{
	state_writer_init(w);
	ck_assert_int_eq(device_save_one(&serial8250_device_ops, s, w), 0);
}

/* The same accesses on a device; what they read and the line after each, into log. */
static unsigned run_script(struct serial8250 *s, const struct irq_rec *ir, uint8_t *log)
{
	static const uint8_t regs[] = { IIR, LSR, IER, LCR, MCR, MSR, SCR };
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(regs); i++) {
		log[n++] = rd_on(s, regs[i]);
		log[n++] = (uint8_t)ir->level;
	}
	for (unsigned i = 0; i < SERIAL_FIFO + 1; i++) {	/* drains the FIFO, one more */
		log[n++] = rd_on(s, IIR);
		log[n++] = rd_on(s, RBR);
		log[n++] = rd_on(s, LSR);
		log[n++] = (uint8_t)ir->level;
	}
	log[n++] = rd_on(s, IIR);	/* THRE acknowledged */
	log[n++] = (uint8_t)ir->level;
	wr_on(s, LCR, 0x83);
	log[n++] = rd_on(s, DLL);
	log[n++] = rd_on(s, DLM);
	wr_on(s, LCR, 0x03);
	wr_on(s, MCR, 0x1b);		/* loopback: a byte sent comes back */
	wr_on(s, THR, 'z');
	log[n++] = rd_on(s, MSR);
	log[n++] = rd_on(s, LSR);
	log[n++] = rd_on(s, RBR);
	log[n++] = (uint8_t)ir->level;
	return n;
}

START_TEST(test_save_restore_round_trip)
{
	struct state_writer w1, w2;
	uint8_t log1[256], log2[256];
	unsigned n1, n2;

	make_busy();
	save(&uart, &w1);
	ck_assert_uint_eq(w1.len, REC_LEN);
	ck_assert_uint_eq(w1.data[REC_RX_COUNT], 5);
	ck_assert_uint_eq(w1.data[REC_RX_HEAD], 1);

	init_uart2();
	ck_assert_int_eq(device_restore_one(&serial8250_device_ops, &uart2, w1.data, w1.len), 0);
	/* The restored device raised its line again, and offered its FIFO's room. */
	ck_assert_int_eq(irq2.level, 1);
	ck_assert_uint_eq(irq2.gsi, 4);
	ck_assert_uint_eq(rx_space2_calls, 1);
	save(&uart2, &w2);
	ck_assert_uint_eq(w2.len, w1.len);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);

	n1 = run_script(&uart, &irq, log1);
	n2 = run_script(&uart2, &irq2, log2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(log1, log2, n1);
	ck_assert_uint_eq(log1[1], 1);		/* the script did see the line up first */

	state_writer_free(&w1);
	state_writer_free(&w2);
	serial8250_destroy(&uart2);
}
END_TEST

START_TEST(test_restore_power_on_state)
{
	struct state_writer w1, w2;

	save(&uart, &w1);
	make_busy();		/* the restored-into device has state of its own */
	ck_assert_int_eq(device_restore_one(&serial8250_device_ops, &uart, w1.data, w1.len), 0);
	ck_assert_int_eq(irq.level, 0);
	save(&uart, &w2);
	ck_assert_mem_eq(w2.data, w1.data, w1.len);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

/* Restoring rec (len bytes) into a fresh UART fails, leaving it at power-on. */
static void assert_refused(const uint8_t *rec, size_t len)
{
	init_uart2();
	irq2.level = 1;
	ck_assert_int_eq(device_restore_one(&serial8250_device_ops, &uart2, rec, len), -EINVAL);
	ck_assert_int_eq(irq2.level, 0);
	ck_assert_uint_eq(uart2.regs.rx_count, 0);
	ck_assert_uint_eq(rd_on(&uart2, LSR), LSR_THRE | LSR_TEMT);
	serial8250_destroy(&uart2);
}

START_TEST(test_restore_refuses_corrupt)
{
	static const struct { unsigned off; uint8_t v; } bad[] = {
		{ REC_RX_COUNT, 17 },		/* more than the FIFO holds */
		{ REC_FCR, 0x00 },		/* 5 bytes with the FIFO off (one byte) */
		{ REC_RX_HEAD, SERIAL_FIFO },
		{ REC_THR_IPENDING, 2 },	/* not a boolean */
		{ REC_IER, 0x13 },		/* IER has four bits */
		{ REC_MCR, 0x2b },		/* MCR has five */
		{ REC_FCR, 0x07 },		/* the clear bits are never stored */
		{ REC_LSR, LSR_DR | LSR_TEMT },	/* THR is always empty */
		{ REC_LSR, LSR_THRE | LSR_TEMT },	/* DR clear with bytes in the FIFO */
		{ REC_LSR, 0x80 | LSR_DR | LSR_THRE | LSR_TEMT },
		{ REC_MSR, 0x00 },		/* modem inputs that do not follow MCR */
	};
	struct state_writer w;
	uint8_t rec[REC_LEN + 1];
	struct state_reader r;

	make_busy();
	save(&uart, &w);
	ck_assert_uint_eq(w.len, REC_LEN);
	for (size_t len = 0; len < w.len; len++)
		assert_refused(w.data, len);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(rec, w.data, w.len);
		rec[bad[i].off] = bad[i].v;
		assert_refused(rec, w.len);
	}
	/* A byte too many, and a version this build does not know. */
	memcpy(rec, w.data, w.len);
	rec[REC_LEN] = 0;
	assert_refused(rec, REC_LEN + 1);
	init_uart2();
	state_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(serial8250_restore(&uart2, &r, 2), -EINVAL);
	ck_assert_uint_eq(uart2.regs.rx_count, 0);
	serial8250_destroy(&uart2);
	/* The unchanged record still restores. */
	init_uart2();
	ck_assert_int_eq(device_restore_one(&serial8250_device_ops, &uart2, w.data, w.len), 0);
	serial8250_destroy(&uart2);
	state_writer_free(&w);
}
END_TEST

START_TEST(test_reset)
{
	struct state_writer w0, w1;
	struct serial8250 fresh;
	struct irq_line none = { 0 };

	serial8250_init(&fresh, NULL, none, NULL, NULL);
	save(&fresh, &w0);
	make_busy();
	rx_space_calls = 0;
	serial8250_device_ops.reset(&uart);
	ck_assert_int_eq(irq.level, 0);
	ck_assert_uint_eq(rx_space_calls, 1);
	save(&uart, &w1);
	ck_assert_uint_eq(w1.len, w0.len);
	ck_assert_mem_eq(w1.data, w0.data, w0.len);
	wr(LCR, 0x80);
	ck_assert_uint_eq(rd(DLL), 0x0c);
	ck_assert_uint_eq(rd(DLM), 0x00);
	state_writer_free(&w0);
	state_writer_free(&w1);
	serial8250_destroy(&fresh);
}
END_TEST

START_TEST(test_device_ops)
{
	struct irq_line none = { 0 };
	struct serial8250 *s;

	ck_assert_str_eq(serial8250_device_ops.kind, "serial8250");
	ck_assert_uint_eq(serial8250_device_ops.state_version, 1);
	ck_assert_ptr_null(serial8250_device_ops.describe);

	/* destroy frees the device and leaves its output alone: the VM's, shared. */
	s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	serial8250_init(s, &sink, none, NULL, NULL);
	serial8250_device_ops.destroy(s);
	ck_assert_int_ne(fcntl(pipefd[1], F_GETFD), -1);
}
END_TEST

static Suite *serial_suite(void)
{
	Suite *s = suite_create("serial8250");
	TCase *tc;

	tc = tcase_create("tx");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reset_state);
	tcase_add_test(tc, test_thr_transmits);
	tcase_add_test(tc, test_discarded_output);
	tcase_add_test(tc, test_broken_output);
	tcase_add_test(tc, test_dlab);
	tcase_add_test(tc, test_dlab_rbr_read_does_not_drain);
	tcase_add_test(tc, test_ier_low_bits);
	tcase_add_test(tc, test_scr_lcr_mcr);
	tcase_add_test(tc, test_msr_normal);
	suite_add_tcase(s, tc);

	tc = tcase_create("irq");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_thri_on_enable_and_ack);
	tcase_add_test(tc, test_thri_masked_by_ier);
	tcase_add_test(tc, test_irq_needs_out2);
	tcase_add_test(tc, test_iir_fifo_bits);
	suite_add_tcase(s, tc);

	tc = tcase_create("rx");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rx_fifo_off_one_byte);
	tcase_add_test(tc, test_rx_fifo_on_sixteen);
	tcase_add_test(tc, test_rda_interrupt_priority);
	tcase_add_test(tc, test_rda_only_when_enabled);
	tcase_add_test(tc, test_fcr_clear_rx);
	suite_add_tcase(s, tc);

	tc = tcase_create("loopback");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_loopback_msr);
	tcase_add_test(tc, test_loopback_no_irq_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_offsets_beyond_regs);
	tcase_add_test(tc, test_wide_access_first_register_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_save_restore_round_trip);
	tcase_add_test(tc, test_restore_power_on_state);
	tcase_add_test(tc, test_restore_refuses_corrupt);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_device_ops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* A closed pipe must give EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(serial_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
