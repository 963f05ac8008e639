/*
 * The snapshot-request port (SNAPSHOT_PORT): a guest write asks the VMM for
 * a snapshot at that exact point; a read says how the last request went
 * (SNAPSHOT_PORT_* values), and a run restored from the snapshot reads
 * SNAPSHOT_PORT_RESTORED.  The test-harness use: boot once, restore many
 * times.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define SNAPSHOT_PORT_STATE_VERSION	1

void snapshot_port_init(struct snapshot_port *p, void (*request)(void *opaque), void *opaque)
{
	memset(p, 0, sizeof(*p));
	p->request = request;
	p->opaque = opaque;
}

void snapshot_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct snapshot_port *p = opaque;

	(void)offset;
	if (is_write) {
		/* Nobody to ask (no --snapshot-dir): the answer stays "none". */
		atomic_store(&p->result, SNAPSHOT_PORT_NONE);
		if (p->request)
			p->request(p->opaque);
		return;
	}
	memset(data, 0, len);
	data[0] = atomic_load(&p->result);
}

void snapshot_port_done(struct snapshot_port *p, bool saved)
{
	atomic_store(&p->result, saved ? SNAPSHOT_PORT_SAVED : SNAPSHOT_PORT_NONE);
}

void snapshot_port_restored(struct snapshot_port *p)
{
	atomic_store(&p->result, SNAPSHOT_PORT_RESTORED);
}

static int snapshot_port_save(const struct snapshot_port *p, struct state_writer *w)
{
	state_put_u8(w, atomic_load(&p->result));
	return w->err;
}

static int snapshot_port_restore(struct snapshot_port *p, struct state_reader *r, uint16_t version)
{
	uint8_t v = state_get_u8(r);

	if (version != SNAPSHOT_PORT_STATE_VERSION || v > SNAPSHOT_PORT_RESTORED)
		state_reader_fail(r);
	if (!r->err)
		atomic_store(&p->result, v);
	return r->err;
}

static void snapshot_port_reset(struct snapshot_port *p)
{
	atomic_store(&p->result, SNAPSHOT_PORT_NONE);
}

static void snapshot_port_destroy(struct snapshot_port *p)
{
	(void)p;
}

VM_DEVICE_OPS_DEFINE(snapshot_port, "snapshot-port", SNAPSHOT_PORT_STATE_VERSION);
