/*
 * 8250/16550A UART, modelled on the National Semiconductor PC16550D datasheet:
 * divisor latch, FIFO control, the interrupt priority of IIR, loopback mode
 * and the THRE interrupt that Linux's 8250 driver tests for at start-up.
 * Transmission is instantaneous: THR is always empty again after a write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/devices.h"
#include "kvmrun/log.h"

enum {
	REG_RBR_THR = 0, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR,
};

#define IER_RDI		0x01	/* received data available */
#define IER_THRI	0x02	/* THR empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */

#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_FIFO_ON	0xc0

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_BI_ERRS	0x1e
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DELTAS	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

static unsigned fifo_size(const struct serial_regs *r)
{
	return (r->fcr & FCR_ENABLE) ? SERIAL_FIFO : 1;
}

static uint8_t compute_iir(const struct serial_regs *r)
{
	uint8_t iir = IIR_NO_INT;

	if ((r->ier & IER_RLSI) && (r->lsr & LSR_OE))
		iir = IIR_RLSI;
	else if ((r->ier & IER_RDI) && r->rx_count)
		iir = IIR_RDI;
	else if ((r->ier & IER_THRI) && r->thr_ipending)
		iir = IIR_THRI;
	else if ((r->ier & IER_MSI) && (r->msr & MSR_DELTAS))
		iir = IIR_MSI;
	if (r->fcr & FCR_ENABLE)
		iir |= IIR_FIFO_ON;
	return iir;
}

static bool compute_irq_level(const struct serial_regs *r)
{
	/* OUT2 gates the interrupt onto the bus on PC-compatible boards. */
	return !(compute_iir(r) & IIR_NO_INT) && (r->mcr & MCR_OUT2) && !(r->mcr & MCR_LOOP);
}

/* Called with the lock held after every state change. */
static void update_irq(struct serial8250 *s)
{
	struct serial_regs *r = &s->regs;
	bool level = compute_irq_level(r);

	if (level != r->irq_level) {
		r->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static void rx_put(struct serial_regs *r, uint8_t c)
{
	if (r->rx_count >= fifo_size(r)) {
		r->lsr |= LSR_OE;
		return;
	}
	r->rx[(r->rx_head + r->rx_count) % SERIAL_FIFO] = c;
	r->rx_count++;
	r->lsr |= LSR_DR;
}

static uint8_t rx_get(struct serial_regs *r)
{
	uint8_t c;

	if (!r->rx_count)
		return 0;
	c = r->rx[r->rx_head];
	r->rx_head = (r->rx_head + 1) % SERIAL_FIFO;
	r->rx_count--;
	if (!r->rx_count)
		r->lsr &= (uint8_t)~LSR_DR;
	return c;
}

static void transmit(struct serial8250 *s, uint8_t c)
{
	s->tx_bytes++;
	if (s->regs.mcr & MCR_LOOP) {
		rx_put(&s->regs, c);
		return;
	}
	/* Never blocks: a stalled reader costs dropped bytes, not a stuck vCPU. */
	if (s->out)
		out_sink_write(s->out, &c, 1);
}

/* The modem inputs MSR shows for an MCR: in loopback they follow the outputs. */
static uint8_t modem_inputs(uint8_t mcr)
{
	uint8_t m = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (mcr & MCR_RTS)
		m |= MSR_CTS;
	if (mcr & MCR_DTR)
		m |= MSR_DSR;
	if (mcr & MCR_OUT1)
		m |= MSR_RI;
	if (mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void loopback_msr(struct serial_regs *r)
{
	r->msr = (uint8_t)((r->msr & MSR_DELTAS) | modem_inputs(r->mcr));
}

static void reg_write(struct serial8250 *s, unsigned reg, uint8_t v)
{
	struct serial_regs *r = &s->regs;
	uint8_t old;

	switch (reg) {
	case REG_RBR_THR:
		if (r->lcr & LCR_DLAB) {
			r->dll = v;
			break;
		}
		transmit(s, v);
		/* The byte left at once: THR is empty again and says so. */
		r->thr_ipending = true;
		r->lsr |= LSR_THRE | LSR_TEMT;
		break;
	case REG_IER:
		if (r->lcr & LCR_DLAB) {
			r->dlm = v;
			break;
		}
		old = r->ier;
		r->ier = v & 0x0f;
		/* Enabling ETBEI while THR is empty raises THRE (datasheet, and Linux checks). */
		if ((r->ier & IER_THRI) && !(old & IER_THRI) && (r->lsr & LSR_THRE))
			r->thr_ipending = true;
		break;
	case REG_IIR_FCR:
		if ((v ^ r->fcr) & FCR_ENABLE)
			r->rx_count = 0;	/* changing FIFO mode clears it */
		if (v & FCR_CLEAR_RX) {
			r->rx_count = 0;
			r->rx_head = 0;
		}
		if (!r->rx_count)
			r->lsr &= (uint8_t)~LSR_DR;
		r->fcr = v & 0xc9;	/* enable, DMA mode and trigger level stay */
		break;
	case REG_LCR:
		r->lcr = v;
		break;
	case REG_MCR:
		r->mcr = v & 0x1f;
		if (r->mcr & MCR_LOOP)
			loopback_msr(r);
		else
			r->msr = MSR_DCD | MSR_DSR | MSR_CTS;
		break;
	case REG_LSR:
	case REG_MSR:
		break;		/* read-only: factory test use only */
	case REG_SCR:
		r->scr = v;
		break;
	}
}

static uint8_t reg_read(struct serial8250 *s, unsigned reg, bool *made_space)
{
	struct serial_regs *r = &s->regs;
	uint8_t v = 0xff;

	switch (reg) {
	case REG_RBR_THR:
		if (r->lcr & LCR_DLAB)
			return r->dll;
		v = rx_get(r);
		*made_space = true;
		break;
	case REG_IER:
		return (r->lcr & LCR_DLAB) ? r->dlm : r->ier;
	case REG_IIR_FCR:
		v = compute_iir(r);
		/* Reading IIR while it reports THRE acknowledges that interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			r->thr_ipending = false;
		break;
	case REG_LCR:
		return r->lcr;
	case REG_MCR:
		return r->mcr;
	case REG_LSR:
		v = r->lsr;
		r->lsr &= (uint8_t)~(LSR_OE | LSR_BI_ERRS);
		break;
	case REG_MSR:
		v = r->msr;
		r->msr &= (uint8_t)~MSR_DELTAS;
		break;
	case REG_SCR:
		return r->scr;
	}
	return v;
}

void serial8250_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct serial8250 *s = opaque;
	bool made_space = false;

	/* The registers are bytes; a wider access touches only the first. */
	if (offset >= SERIAL_NR_REGS)
		return;
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		reg_write(s, (unsigned)offset, data[0]);
	} else {
		memset(data, 0, len);
		data[0] = reg_read(s, (unsigned)offset, &made_space);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (made_space && s->rx_space)
		s->rx_space(s->rx_space_opaque);
}

size_t serial8250_rx_push(struct serial8250 *s, const uint8_t *buf, size_t n)
{
	size_t taken = 0;

	pthread_mutex_lock(&s->lock);
	/* In loopback the receiver hears only the transmitter. */
	if (!(s->regs.mcr & MCR_LOOP)) {
		while (taken < n && s->regs.rx_count < fifo_size(&s->regs))
			rx_put(&s->regs, buf[taken++]);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

static void regs_power_on(struct serial_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->lsr = LSR_THRE | LSR_TEMT;
	r->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	r->dll = 0x0c;	/* 9600 baud, as after a BIOS */
}

void serial8250_init(struct serial8250 *s, struct out_sink *out, struct irq_line irq,
		     void (*rx_space)(void *), void *rx_space_opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out = out;
	s->irq = irq;
	s->rx_space = rx_space;
	s->rx_space_opaque = rx_space_opaque;
	regs_power_on(&s->regs);
}

void serial8250_destroy(struct serial8250 *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* ---- save, restore, reset ---- */

#define SERIAL_STATE_VERSION	1

/*
 * Drives the line to what the registers imply whatever it was before: the
 * irqchip of a restored machine has not seen this device's line yet.
 */
static void drive_irq(struct serial8250 *s)
{
	s->regs.irq_level = compute_irq_level(&s->regs);
	irq_line_set(&s->irq, s->regs.irq_level);
}

/* Could the model have reached these registers? */
static bool regs_valid(const struct serial_regs *r)
{
	/* THR is always empty again at once; DR says whether the FIFO holds bytes. */
	uint8_t lsr = LSR_THRE | LSR_TEMT | (r->rx_count ? LSR_DR : 0);

	return !(r->ier & ~0x0f) && !(r->mcr & ~0x1f) && !(r->fcr & ~0xc9) &&
	       (r->lsr & (uint8_t)~LSR_OE) == lsr &&
	       (r->msr & (uint8_t)~MSR_DELTAS) == modem_inputs(r->mcr) &&
	       r->rx_head < SERIAL_FIFO && r->rx_count <= fifo_size(r);
}

int serial8250_save(const struct serial8250 *s, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&s->lock;
	const struct serial_regs *r = &s->regs;

	pthread_mutex_lock(lock);
	state_put_u8(w, r->ier);
	state_put_u8(w, r->lcr);
	state_put_u8(w, r->mcr);
	state_put_u8(w, r->lsr);
	state_put_u8(w, r->msr);
	state_put_u8(w, r->scr);
	state_put_u8(w, r->fcr);
	state_put_u8(w, r->dll);
	state_put_u8(w, r->dlm);
	state_put_bool(w, r->thr_ipending);
	state_put_bytes(w, r->rx, SERIAL_FIFO);
	state_put_u8(w, r->rx_head);
	state_put_u8(w, r->rx_count);
	pthread_mutex_unlock(lock);
	return w->err;
}

int serial8250_restore(struct serial8250 *s, struct state_reader *r, uint16_t version)
{
	struct serial_regs n = { 0 };

	if (version != SERIAL_STATE_VERSION)
		state_reader_fail(r);
	n.ier = state_get_u8(r);
	n.lcr = state_get_u8(r);
	n.mcr = state_get_u8(r);
	n.lsr = state_get_u8(r);
	n.msr = state_get_u8(r);
	n.scr = state_get_u8(r);
	n.fcr = state_get_u8(r);
	n.dll = state_get_u8(r);
	n.dlm = state_get_u8(r);
	n.thr_ipending = state_get_bool(r);
	state_get_bytes(r, n.rx, SERIAL_FIFO);
	n.rx_head = state_get_u8(r);
	n.rx_count = state_get_u8(r);
	/* The record is this device's alone: bytes left over are corruption too. */
	if (!r->err && (state_reader_finish(r) || !regs_valid(&n)))
		state_reader_fail(r);

	pthread_mutex_lock(&s->lock);
	if (r->err)
		regs_power_on(&s->regs);
	else
		s->regs = n;
	drive_irq(s);
	pthread_mutex_unlock(&s->lock);
	/* The FIFO may have room it did not have before: host input can resume. */
	if (s->rx_space)
		s->rx_space(s->rx_space_opaque);
	return r->err;
}

void serial8250_reset(struct serial8250 *s)
{
	pthread_mutex_lock(&s->lock);
	regs_power_on(&s->regs);
	drive_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (s->rx_space)
		s->rx_space(s->rx_space_opaque);
}

VM_DEVICE_OPS_DEFINE(serial8250, "serial8250", SERIAL_STATE_VERSION);
