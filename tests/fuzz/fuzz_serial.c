/*
 * The 8250/16550A UART model (devices/serial8250.c): a stream of register
 * reads and writes of every width, host input pushed into the receive FIFO,
 * and out-of-range offsets, checked against the model's own invariants
 * (FIFO bounds, LSR.DR, the interrupt line and IIR agreeing).
 *
 * Input: u8 flags (1: output to /dev/null instead of nowhere), then
 * operations until the input ends.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/devices.h"

#define MAX_OPS	1024

static int null_fd = -1;
static struct out_sink null_out;	/* output to /dev/null, drained by its thread */
static int line_level;
static unsigned line_changes;

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	FUZZ_CHECK(gsi == COM1_IRQ, "irq %u", gsi);
	/* The model raises or lowers the line only when its level changes. */
	FUZZ_CHECK(level != line_level, "line set to %d twice", level);
	line_level = level;
	line_changes++;
}

static void rx_space(void *opaque)
{
	struct serial8250 *s = opaque;

	/* Called without the device lock: taking it here must not deadlock. */
	pthread_mutex_lock(&s->lock);
	pthread_mutex_unlock(&s->lock);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0 || out_sink_init(&null_out, null_fd, SINK_CAPACITY, "fuzz") ||
	    out_sink_start(&null_out))
		abort();
	return 0;
}

static void check(const struct serial8250 *s)
{
	const struct serial_regs *r = &s->regs;
	unsigned fifo = (r->fcr & 1) ? SERIAL_FIFO : 1;

	FUZZ_CHECK(r->rx_head < SERIAL_FIFO && r->rx_count <= fifo, "rx head %u count %u fifo %u",
		   r->rx_head, r->rx_count, fifo);
	FUZZ_CHECK(!!(r->lsr & 0x01) == !!r->rx_count, "LSR.DR %u with %u bytes", r->lsr & 1,
		   r->rx_count);
	FUZZ_CHECK(r->irq_level == line_level, "level %d, line %d", r->irq_level, line_level);
	FUZZ_CHECK(!(r->ier & 0xf0) && !(r->mcr & 0xe0), "IER 0x%x MCR 0x%x", r->ier, r->mcr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t widths[] = { 1, 2, 4, 8 };
	struct fuzz_in in = { data, size };
	struct irq_line line = { irq_set, NULL, COM1_IRQ };
	struct serial8250 s;
	uint8_t flags = in_u8(&in);

	line_level = 0;
	line_changes = 0;
	serial8250_init(&s, (flags & 1) ? &null_out : NULL, line, rx_space, &s);
	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = in_u8(&in);
		uint32_t len = widths[(op >> 4) & 3];
		uint64_t off = op & 7;

		switch (op >> 6) {
		case 0:		/* register write */
		case 1: {	/* register read: an exact-size buffer, zeroed past the register */
			uint8_t *b = malloc(len);
			uint64_t v = in_u64(&in);
			bool w = !(op >> 6);

			if (!b)
				abort();
			memcpy(b, &v, len);
			if (op & 8)
				off = in_u64(&in);	/* out of range: must be ignored */
			serial8250_io(&s, off, b, len, w);
			if (!w && off < SERIAL_NR_REGS)
				for (uint32_t i = 1; i < len; i++)
					FUZZ_CHECK(!b[i], "byte %u of a %u-byte read is 0x%x", i, len, b[i]);
			free(b);
			break;
		}
		case 2: {	/* host input */
			uint8_t buf[SERIAL_FIFO * 2];
			size_t k = in_bytes(&in, buf, op & 31), taken;
			uint8_t before = s.regs.rx_count;

			taken = serial8250_rx_push(&s, buf, k);
			FUZZ_CHECK(taken <= k && s.regs.rx_count == before + taken,
				   "took %zu of %zu, count %u -> %u", taken, k, before, s.regs.rx_count);
			break;
		}
		case 3:		/* a read of every register, as a driver's probe would */
			for (unsigned r = 0; r < SERIAL_NR_REGS; r++) {
				uint8_t b;

				serial8250_io(&s, r, &b, 1, false);
				check(&s);
			}
			break;
		}
		check(&s);
	}
	serial8250_destroy(&s);
	return 0;
}
