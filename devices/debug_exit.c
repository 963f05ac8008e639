/*
 * Debug-exit port, compatible with QEMU's isa-debug-exit: a guest write of V
 * ends kvmrun with exit status (V << 1) | 1.  Test guests report through it.
 */
#include <string.h>

#include "kvmrun/devices.h"

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
