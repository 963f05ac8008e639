/*
 * The engine interface's common part and the sync engine: every request runs
 * on the caller's thread (the device's worker), one at a time, the page cache
 * making most of them quick.
 */
#include <errno.h>
#include <stdlib.h>

#include "kvmrun/block.h"

static void sync_submit(struct block_engine *e, struct block_req *req, unsigned flags)
{
	(void)flags;
	e->inflight++;
	req->result = block_disk_run(e->disk, req, e->bounce);
	e->inflight--;
	req->done(req, req->result);
}

static void sync_destroy(struct block_engine *e)
{
	free(e->bounce);
	free(e);
}

static const struct block_engine_ops sync_ops = {
	.submit = sync_submit,
	.destroy = sync_destroy,
};

int block_engine_sync_create(struct block_disk *disk, struct block_engine **out)
{
	struct block_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->bounce = block_bounce_alloc();
	if (!e->bounce) {
		free(e);
		return -ENOMEM;
	}
	e->ops = &sync_ops;
	e->disk = disk;
	e->event_fd = -1;
	*out = e;
	return 0;
}

void block_engine_destroy(struct block_engine *e)
{
	if (e)
		e->ops->destroy(e);
}
