/* virtio-rng (virtio 1.2, 5.4): one request queue filled from the host's getrandom(). */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtio_devices.h"

/*
 * Entropy per request, at most.  The device may fill less than the buffer
 * (virtio 1.2, 5.4.6.2), and a chain may reach 256 segments of up to all of
 * guest RAM each: filled in full, one request kept the worker busy (holding
 * the device lock, so vCPUs touching the device and kvmrun's shutdown waited
 * too) for as long as the guest liked, a minute per 32 GiB.
 */
#define RNG_MAX_PER_REQUEST	(64 * 1024)

static void rng_notify(struct virtio_device *d, unsigned q)
{
	struct virtq *vq = &d->vq[q];
	uint16_t old = vq->used_idx;
	struct virtq_chain *c = d->priv;
	int r;

	while ((r = virtq_pop(vq, d->mem, c)) > 0) {
		uint32_t written = 0;

		/* Only writable buffers take entropy; readable ones are ignored. */
		for (unsigned i = c->n_out; i < c->n_out + c->n_in && written < RNG_MAX_PER_REQUEST; i++) {
			uint8_t *p = c->iov[i].iov_base;
			size_t left = c->iov[i].iov_len;

			if (left > RNG_MAX_PER_REQUEST - written)
				left = RNG_MAX_PER_REQUEST - written;

			while (left) {
				ssize_t n = getrandom(p, left, 0);

				if (n < 0) {
					if (errno == EINTR)
						continue;
					log_warn("virtio-rng: getrandom: %s", strerror(errno));
					break;
				}
				p += n;
				left -= (size_t)n;
				written += (uint32_t)n;
			}
		}
		virtq_push(vq, c->head, written);
	}
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain on the request queue");
	virtio_signal_used(d, q, old);
}

static void rng_destroy(struct virtio_device *d)
{
	free(d->priv);
}

/*
 * No save/restore hooks: virtio-rng has no config space and holds no
 * request between notifications (every chain popped is filled and pushed
 * before rng_notify returns), so the common virtio state is all of it.
 */
static const struct virtio_device_ops rng_ops = {
	.queue_notify = rng_notify,
	.destroy = rng_destroy,
};

int virtio_rng_init(struct virtio_device *d, const struct guest_mem *mem)
{
	struct virtq_chain *c = malloc(sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = virtio_device_init(d, "virtio-rng", VIRTIO_ID_RNG, 1,
			       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			       (1ULL << VIRTIO_RING_F_EVENT_IDX), &rng_ops, c, mem);
	if (r)
		free(c);
	return r;
}
