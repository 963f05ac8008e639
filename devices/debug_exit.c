/*
 * Debug-exit port, compatible with QEMU's isa-debug-exit: a guest write of V
 * ends kvmrun with exit status (V << 1) | 1.  Test guests report through it.
 * Also the POST port 0x80, which accepts and ignores everything.  Neither
 * has guest-visible state: their records are empty.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define NO_STATE_VERSION	1

void debug_exit_init(struct debug_exit *d, struct vm_stop *stop)
{
	memset(d, 0, sizeof(*d));
	d->stop = stop;
}

void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct debug_exit *d = opaque;
	uint32_t v = 0;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	/* A process exit status has 8 bits, as under QEMU. */
	vm_stop_request(d->stop, STOP_DEBUG_EXIT, (int)(((v << 1) | 1) & 0xff));
}

void ignore_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len);
}

/* ---- save and restore of the empty records (both devices have no state) ---- */

static int empty_save(void *dev, struct state_writer *w)
{
	(void)dev;
	return w->err;
}

static int empty_restore(void *dev, struct state_reader *r, uint16_t version)
{
	(void)dev;
	/* The record is this device's alone: any byte in it is corruption. */
	if (version != NO_STATE_VERSION || state_reader_finish(r))
		state_reader_fail(r);
	return r->err;
}

/* Nothing to reset: no reset op.  Nothing held but the allocation. */
const struct vm_device_ops debug_exit_device_ops = {
	.kind = "debug-exit",
	.state_version = NO_STATE_VERSION,
	.save = empty_save,
	.restore = empty_restore,
	.destroy = free,
};

const struct vm_device_ops post_port_device_ops = {
	.kind = "post-port",
	.state_version = NO_STATE_VERSION,
	.save = empty_save,
	.restore = empty_restore,
	.destroy = free,
};
