/* The virtio devices (one file each in virtio/). */
#ifndef KVMRUN_VIRTIO_DEVICES_H
#define KVMRUN_VIRTIO_DEVICES_H

#include <stdbool.h>

#include "kvmrun/disk_config.h"
#include "kvmrun/net_config.h"
#include "kvmrun/tap.h"
#include "kvmrun/sink.h"
#include "kvmrun/virtio.h"

int virtio_rng_init(struct virtio_device *d, const struct guest_mem *mem);

/* Opens the image (one line on error) and sets up the device. */
int virtio_blk_init(struct virtio_device *d, const struct disk_config *dc,
		    const struct guest_mem *mem);

/* virtio-net on a tap device (virtio/net.c): opens tap nc->tap (one line on error). */
int virtio_net_init(struct virtio_device *d, const struct net_config *nc,
		    const struct guest_mem *mem);
/* virtio-net on a tap already open (tests adopt a socketpair); takes tap over, also on failure. */
int virtio_net_init_tap(struct virtio_device *d, struct tap *tap, const struct net_config *nc,
			const struct guest_mem *mem);

/*
 * virtio-console, port 0 only (virtio/console.c): output to out (the VM's
 * output, shared; NULL: discarded), input pushed by the VMM; rx_space(opaque)
 * runs when the guest adds receive buffers.
 */
int virtio_console_init(struct virtio_device *d, struct out_sink *out, void (*rx_space)(void *),
			void *opaque, const struct guest_mem *mem);
/* Offers console input; returns how many bytes the guest's receive buffers took. */
size_t virtio_console_input(struct virtio_device *d, const uint8_t *buf, size_t n);

/* A virtio device whose rings a vhost-user backend serves (virtio/vhost_user_dev.c). */
struct vhost_user_dev_config {
	uint32_t device_id;		/* VIRTIO_ID_FS or VIRTIO_ID_BLOCK */
	const char *socket;		/* the backend's UNIX socket */
	const char *tag;		/* virtio-fs: the mount tag */
	unsigned num_queues;		/* request queues (fs) or queues (blk); 0: one */
	unsigned queue_size;		/* 0: VIRTQ_MAX_SIZE */
};

/*
 * Connects to the backend (one line on error) and sets up the device; guest
 * RAM must be a shared memfd (mem->memfd).
 */
int virtio_vhost_user_init(struct virtio_device *d, const struct vhost_user_dev_config *c,
			   const struct guest_mem *mem);

#endif
