/*
 * A virtio device for the transport fuzzers (fuzz_pci, fuzz_mmio): a small
 * config space that checks what the transport hands it, a queue handler
 * that returns every chain with its writable part filled (like virtio-rng),
 * and the worker's loop (virtio/device.c) without the thread.
 */
#ifndef KVMRUN_FUZZ_VDEV_H
#define KVMRUN_FUZZ_VDEV_H

#include "kvmrun/virtio.h"

struct fuzz_vdev {
	struct virtio_device dev;
	uint8_t cfg[24];
	uint32_t cfg_window;	/* bytes of device config space the transport exposes */
};

/* Features offered: EVENT_IDX, INDIRECT_DESC and one device bit. 0 or aborts. */
void fuzz_vdev_init(struct fuzz_vdev *v, uint32_t device_id, unsigned nr_queues,
		    uint32_t cfg_window, const struct guest_mem *mem);
/* Drains each notified queue's eventfd and serves the queue (virtio_serve_queue), as the worker would. */
void fuzz_vdev_worker(struct fuzz_vdev *v);

#endif
