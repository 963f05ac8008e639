/* The virtio devices (one file each in virtio/). */
#ifndef KVMRUN_VIRTIO_DEVICES_H
#define KVMRUN_VIRTIO_DEVICES_H

#include <stdbool.h>

#include "kvmrun/disk_config.h"
#include "kvmrun/virtio.h"

int virtio_rng_init(struct virtio_device *d, const struct guest_mem *mem);

/* Opens the image (one line on error) and sets up the device. */
int virtio_blk_init(struct virtio_device *d, const struct disk_config *dc,
		    const struct guest_mem *mem);

#endif
