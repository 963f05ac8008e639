/*
 * i8042 keyboard controller: the reset line (command 0xfe, or output-port bit 0
 * cleared through command 0xd1) and enough of the controller and keyboard
 * protocol for probes to find a controller with a keyboard and no mouse.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define ST_OBF		0x01	/* output buffer full */
#define ST_SYS		0x04	/* system flag: self-test passed */
#define ST_CMD		0x08	/* last write was a command */
#define ST_UNLOCKED	0x10
#define ST_AUX_OBF	0x20

#define CTR_KBD_INT	0x01
#define CTR_AUX_INT	0x02
#define CTR_SYS		0x04
#define CTR_KBD_OFF	0x10
#define CTR_AUX_OFF	0x20
#define CTR_XLATE	0x40

#define CMD_READ_CTR	0x20
#define CMD_WRITE_CTR	0x60
#define CMD_AUX_DISABLE	0xa7
#define CMD_AUX_ENABLE	0xa8
#define CMD_AUX_TEST	0xa9
#define CMD_SELF_TEST	0xaa
#define CMD_KBD_TEST	0xab
#define CMD_KBD_DISABLE	0xad
#define CMD_KBD_ENABLE	0xae
#define CMD_READ_OUTP	0xd0
#define CMD_WRITE_OUTP	0xd1
#define CMD_WRITE_KBD	0xd2
#define CMD_WRITE_AUX	0xd4
#define CMD_PULSE_RESET	0xfe

#define KBD_ACK		0xfa
#define KBD_RESEND	0xfe

#define OUTP_RESET	0x01	/* active low: clearing it resets the CPU */

/* The byte at the head of the queue interrupts on its port's line, if enabled. */
static void compute_levels(const struct i8042_regs *r, bool *kbd, bool *aux)
{
	*kbd = *aux = false;
	if (r->q_count) {
		if (r->q_aux[r->q_head])
			*aux = r->ctr & CTR_AUX_INT;
		else
			*kbd = r->ctr & CTR_KBD_INT;
	}
}

static void update_irqs(struct i8042 *k)
{
	struct i8042_regs *r = &k->regs;
	bool kbd, aux;

	compute_levels(r, &kbd, &aux);
	if (kbd != r->kbd_level) {
		r->kbd_level = kbd;
		irq_line_set(&k->kbd_irq, kbd);
	}
	if (aux != r->aux_level) {
		r->aux_level = aux;
		irq_line_set(&k->aux_irq, aux);
	}
}

static void queue_byte(struct i8042_regs *r, uint8_t v, bool aux)
{
	unsigned i;

	if (r->q_count == I8042_QUEUE)
		return;
	i = (r->q_head + r->q_count) % I8042_QUEUE;
	r->queue[i] = v;
	r->q_aux[i] = aux;
	r->q_count++;
}

static uint8_t obf_bits(const struct i8042_regs *r)
{
	if (!r->q_count)
		return 0;
	return r->q_aux[r->q_head] ? ST_OBF | ST_AUX_OBF : ST_OBF;
}

static void update_status(struct i8042_regs *r)
{
	r->status = (uint8_t)((r->status & ~(ST_OBF | ST_AUX_OBF)) | obf_bits(r));
}

static void command(struct i8042 *k, uint8_t cmd)
{
	struct i8042_regs *r = &k->regs;

	/* A new command replaces one still waiting for its data byte. */
	r->pending_cmd = 0;
	r->status |= ST_CMD;
	if (cmd >= 0xf0) {
		/* Pulse output lines; bit 0 low pulses the reset line. */
		if (!(cmd & 0x01))
			vm_stop_request(k->stop, STOP_RESET, 0);
		return;
	}
	switch (cmd) {
	case CMD_READ_CTR:
		queue_byte(r, r->ctr, false);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD:
	case CMD_WRITE_AUX:
		r->pending_cmd = cmd;
		break;
	case CMD_AUX_DISABLE:
		r->ctr |= CTR_AUX_OFF;
		break;
	case CMD_AUX_ENABLE:
		r->ctr &= (uint8_t)~CTR_AUX_OFF;
		break;
	case CMD_AUX_TEST:
		queue_byte(r, 0x01, false);	/* clock line stuck low: no mouse port */
		break;
	case CMD_SELF_TEST:
		r->status |= ST_SYS;
		queue_byte(r, 0x55, false);
		break;
	case CMD_KBD_TEST:
		queue_byte(r, 0x00, false);
		break;
	case CMD_KBD_DISABLE:
		r->ctr |= CTR_KBD_OFF;
		break;
	case CMD_KBD_ENABLE:
		r->ctr &= (uint8_t)~CTR_KBD_OFF;
		break;
	case CMD_READ_OUTP:
		queue_byte(r, r->outport, false);
		break;
	default:
		break;		/* unknown commands are ignored, as by real controllers */
	}
}

/* A byte sent to the keyboard itself. */
static void keyboard_write(struct i8042_regs *r, uint8_t v)
{
	switch (v) {
	case 0xff:			/* reset */
		queue_byte(r, KBD_ACK, false);
		queue_byte(r, 0xaa, false);	/* basic assurance test passed */
		break;
	case 0xf2:			/* identify: MF2 keyboard */
		queue_byte(r, KBD_ACK, false);
		queue_byte(r, 0xab, false);
		queue_byte(r, 0x83, false);
		break;
	case 0xee:			/* echo */
		queue_byte(r, 0xee, false);
		break;
	default:
		queue_byte(r, KBD_ACK, false);
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	struct i8042_regs *r = &k->regs;
	uint8_t cmd = r->pending_cmd;

	r->status &= (uint8_t)~ST_CMD;
	r->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		r->ctr = v;
		if (v & CTR_SYS)
			r->status |= ST_SYS;
		break;
	case CMD_WRITE_OUTP:
		r->outport = v;
		if (!(v & OUTP_RESET))
			vm_stop_request(k->stop, STOP_RESET, 0);
		break;
	case CMD_WRITE_KBD:
		queue_byte(r, v, false);
		break;
	case CMD_WRITE_AUX:
		break;		/* no mouse: the byte is lost, as without a device */
	default:
		keyboard_write(r, v);
		break;
	}
}

static void i8042_access(struct i8042 *k, bool is_cmd_port, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct i8042_regs *r = &k->regs;

	pthread_mutex_lock(&k->lock);
	if (is_write) {
		if (is_cmd_port)
			command(k, data[0]);
		else
			data_write(k, data[0]);
	} else {
		memset(data, 0, len);
		if (is_cmd_port) {
			data[0] = r->status;
		} else if (r->q_count) {
			data[0] = r->queue[r->q_head];
			r->q_head = (r->q_head + 1) % I8042_QUEUE;
			r->q_count--;
		}
	}
	update_status(r);
	update_irqs(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	(void)offset;
	i8042_access(opaque, false, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write)
{
	(void)offset;
	i8042_access(opaque, true, data, len, is_write);
}

static void regs_power_on(struct i8042_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->status = ST_UNLOCKED;
	r->ctr = CTR_KBD_INT | CTR_XLATE | CTR_AUX_OFF;
	r->outport = OUTP_RESET | 0x02;	/* A20 enabled */
}

void i8042_init(struct i8042 *k, struct vm_stop *stop, struct irq_line kbd_irq,
		struct irq_line aux_irq)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->stop = stop;
	k->kbd_irq = kbd_irq;
	k->aux_irq = aux_irq;
	regs_power_on(&k->regs);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

/* ---- save, restore, reset ---- */

#define I8042_STATE_VERSION	1

/* Both lines to what the registers imply: a restored irqchip has not seen them yet. */
static void drive_irqs(struct i8042 *k)
{
	compute_levels(&k->regs, &k->regs.kbd_level, &k->regs.aux_level);
	irq_line_set(&k->kbd_irq, k->regs.kbd_level);
	irq_line_set(&k->aux_irq, k->regs.aux_level);
}

/* Only the commands that wait for a data byte can be pending. */
static bool pending_cmd_valid(uint8_t cmd)
{
	switch (cmd) {
	case 0:
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD:
	case CMD_WRITE_AUX:
		return true;
	default:
		return false;
	}
}

static bool regs_valid(const struct i8042_regs *r)
{
	const uint8_t status_bits = ST_OBF | ST_SYS | ST_CMD | ST_UNLOCKED | ST_AUX_OBF;

	return r->q_head < I8042_QUEUE && r->q_count <= I8042_QUEUE &&
	       pending_cmd_valid(r->pending_cmd) && !(r->status & ~status_bits) &&
	       (r->status & (ST_OBF | ST_AUX_OBF)) == obf_bits(r);
}

int i8042_save(const struct i8042 *k, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&k->lock;
	const struct i8042_regs *r = &k->regs;

	pthread_mutex_lock(lock);
	state_put_u8(w, r->status);
	state_put_u8(w, r->ctr);
	state_put_u8(w, r->pending_cmd);
	state_put_u8(w, r->outport);
	state_put_bytes(w, r->queue, I8042_QUEUE);
	state_put_u8(w, r->q_head);
	state_put_u8(w, r->q_count);
	for (unsigned i = 0; i < I8042_QUEUE; i++)
		state_put_bool(w, r->q_aux[i]);
	pthread_mutex_unlock(lock);
	return w->err;
}

int i8042_restore(struct i8042 *k, struct state_reader *r, uint16_t version)
{
	struct i8042_regs n = { 0 };

	if (version != I8042_STATE_VERSION)
		state_reader_fail(r);
	n.status = state_get_u8(r);
	n.ctr = state_get_u8(r);
	n.pending_cmd = state_get_u8(r);
	n.outport = state_get_u8(r);
	state_get_bytes(r, n.queue, I8042_QUEUE);
	n.q_head = state_get_u8(r);
	n.q_count = state_get_u8(r);
	for (unsigned i = 0; i < I8042_QUEUE; i++)
		n.q_aux[i] = state_get_bool(r);
	/* The record is this device's alone: bytes left over are corruption too. */
	if (!r->err && (state_reader_finish(r) || !regs_valid(&n)))
		state_reader_fail(r);

	pthread_mutex_lock(&k->lock);
	if (r->err)
		regs_power_on(&k->regs);
	else
		k->regs = n;
	drive_irqs(k);
	pthread_mutex_unlock(&k->lock);
	return r->err;
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	regs_power_on(&k->regs);
	drive_irqs(k);
	pthread_mutex_unlock(&k->lock);
}

VM_DEVICE_OPS_DEFINE(i8042, "i8042", I8042_STATE_VERSION);
