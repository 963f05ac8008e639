/*
 * The PC chipset's reset control register at port 0xCF9 (Intel PIIX/ICH
 * RST_CNT): a byte write that sets RST_CPU (bit 2) where it was clear resets
 * the machine; SYS_RST (bit 1) and FULL_RST (bit 3) only choose the kind,
 * which a VM does not tell apart.  Linux writes it with reboot=pci, as
 * "code & ~RST_CPU" then "code".  Reads return the last value written.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define RST_CNT_SYS_RST		0x02
#define RST_CNT_RST_CPU		0x04
#define RST_CNT_FULL_RST	0x08
#define RST_CNT_BITS		(RST_CNT_SYS_RST | RST_CNT_RST_CPU | RST_CNT_FULL_RST)

void reset_control_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct reset_control *rc = opaque;

	pthread_mutex_lock(&rc->lock);
	if (!is_write) {
		memset(data, 0xff, len);
		if (offset == 0)
			data[0] = rc->value;
	} else if (offset == 0) {
		bool go = (data[0] & RST_CNT_RST_CPU) && !(rc->value & RST_CNT_RST_CPU);

		rc->value = data[0] & RST_CNT_BITS;
		if (go)
			vm_stop_request(rc->stop, STOP_RESET, 0);
	}
	pthread_mutex_unlock(&rc->lock);
}

void reset_control_init(struct reset_control *rc, struct vm_stop *stop)
{
	memset(rc, 0, sizeof(*rc));
	pthread_mutex_init(&rc->lock, NULL);
	rc->stop = stop;
}

void reset_control_destroy(struct reset_control *rc)
{
	pthread_mutex_destroy(&rc->lock);
}

/* ---- save, restore, reset ---- */

#define RESET_CONTROL_STATE_VERSION	1

int reset_control_save(const struct reset_control *rc, struct state_writer *w)
{
	/* The lock guards the register; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&rc->lock;

	pthread_mutex_lock(lock);
	state_put_u8(w, rc->value);
	pthread_mutex_unlock(lock);
	return w->err;
}

int reset_control_restore(struct reset_control *rc, struct state_reader *r, uint16_t version)
{
	uint8_t v;

	if (version != RESET_CONTROL_STATE_VERSION)
		state_reader_fail(r);
	v = state_get_u8(r);
	if (v & ~RST_CNT_BITS)
		state_reader_fail(r);
	if (!r->err && state_reader_finish(r))
		state_reader_fail(r);
	pthread_mutex_lock(&rc->lock);
	rc->value = r->err ? 0 : v;
	pthread_mutex_unlock(&rc->lock);
	return r->err;
}

void reset_control_reset(struct reset_control *rc)
{
	pthread_mutex_lock(&rc->lock);
	rc->value = 0;
	pthread_mutex_unlock(&rc->lock);
}

VM_DEVICE_OPS_DEFINE(reset_control, "reset-control", RESET_CONTROL_STATE_VERSION);
