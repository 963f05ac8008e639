/*
 * QEMU's pc-testdev, which kvm-unit-tests drives: a 32-bit scratch register
 * at ports 0xe0-0xe3 (any access width, byte lanes by port offset) and again
 * at 0xe8-0xeb; port 0xe4, where a 32-bit write names a guest page whose
 * host mappings are dropped so the next guest access faults it back in
 * (the eventinj test faults during event delivery that way); ports
 * 0x2000-0x2017, where a byte write sets the level of IRQ line N (0 low,
 * else high) at the PIC and IOAPIC; and 64 KiB of scratch MMIO at
 * 0xff000000, backed by a buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define PC_TESTDEV_STATE_VERSION	1

void pc_testdev_init(struct pc_testdev *d, const struct irq_line irq[PC_TESTDEV_NR_IRQS],
		     void (*flush_page)(void *, uint64_t), void *flush_opaque)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	memcpy(d->irq, irq, sizeof(d->irq));
	d->flush_page = flush_page;
	d->flush_opaque = flush_opaque;
}

void pc_testdev_destroy(struct pc_testdev *d)
{
	pthread_mutex_destroy(&d->lock);
}

void pc_testdev_scratch_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct pc_testdev *d = opaque;
	uint8_t lanes[4];

	pthread_mutex_lock(&d->lock);
	memcpy(lanes, &d->regs.scratch, 4);
	for (uint32_t i = 0; i < len; i++) {
		unsigned lane = (unsigned)(offset + i) & 3;

		if (is_write)
			lanes[lane] = data[i];
		else
			data[i] = lanes[lane];
	}
	memcpy(&d->regs.scratch, lanes, 4);
	pthread_mutex_unlock(&d->lock);
}

void pc_testdev_flush_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct pc_testdev *d = opaque;
	uint32_t gpa = 0;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	if (offset != 0 || len != 4 || !d->flush_page)
		return;
	memcpy(&gpa, data, 4);
	d->flush_page(d->flush_opaque, gpa);
}

void pc_testdev_irq_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *d = opaque;
	uint32_t bit;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	if (offset >= PC_TESTDEV_NR_IRQS)
		return;
	bit = 1u << offset;
	pthread_mutex_lock(&d->lock);
	if (data[0])
		d->regs.irq_levels |= bit;
	else
		d->regs.irq_levels &= ~bit;
	/* Under the lock: two vCPUs toggling one line leave it at the last level stored. */
	irq_line_set(&d->irq[offset], data[0] != 0);
	pthread_mutex_unlock(&d->lock);
}

void pc_testdev_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pc_testdev *d = opaque;

	if (offset >= PC_TESTDEV_MMIO_LEN || len > PC_TESTDEV_MMIO_LEN - offset) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (is_write)
		memcpy(d->regs.mem + offset, data, len);
	else
		memcpy(data, d->regs.mem + offset, len);
	pthread_mutex_unlock(&d->lock);
}

/* ---- save, restore, reset ---- */

static void drive_lines(struct pc_testdev *d)
{
	for (unsigned i = 0; i < PC_TESTDEV_NR_IRQS; i++)
		irq_line_set(&d->irq[i], (d->regs.irq_levels >> i) & 1);
}

int pc_testdev_save(const struct pc_testdev *d, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&d->lock;

	pthread_mutex_lock(lock);
	state_put_u32(w, d->regs.scratch);
	state_put_u32(w, d->regs.irq_levels);
	state_put_bytes(w, d->regs.mem, PC_TESTDEV_MMIO_LEN);
	pthread_mutex_unlock(lock);
	return w->err;
}

int pc_testdev_restore(struct pc_testdev *d, struct state_reader *r, uint16_t version)
{
	struct pc_testdev_regs *n = malloc(sizeof(*n));

	if (!n)
		return -ENOMEM;
	if (version != PC_TESTDEV_STATE_VERSION)
		state_reader_fail(r);
	n->scratch = state_get_u32(r);
	n->irq_levels = state_get_u32(r);
	state_get_bytes(r, n->mem, PC_TESTDEV_MMIO_LEN);
	if (!r->err && (state_reader_finish(r) || n->irq_levels >> PC_TESTDEV_NR_IRQS))
		state_reader_fail(r);
	pthread_mutex_lock(&d->lock);
	if (r->err)
		memset(&d->regs, 0, sizeof(d->regs));
	else
		d->regs = *n;
	drive_lines(d);
	pthread_mutex_unlock(&d->lock);
	free(n);
	return r->err;
}

void pc_testdev_reset(struct pc_testdev *d)
{
	pthread_mutex_lock(&d->lock);
	memset(&d->regs, 0, sizeof(d->regs));
	drive_lines(d);
	pthread_mutex_unlock(&d->lock);
}

VM_DEVICE_OPS_DEFINE(pc_testdev, "pc-testdev", PC_TESTDEV_STATE_VERSION);
