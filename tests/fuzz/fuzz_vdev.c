#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_vdev.h"

/* The transport's promise to a device: config accesses of 1-8 bytes inside its window. */
static void check_cfg_access(const struct fuzz_vdev *v, uint32_t off, uint32_t len)
{
	FUZZ_CHECK(len >= 1 && len <= 8 && off < v->cfg_window && len <= v->cfg_window - off,
		   "device config access of %u bytes at 0x%x", len, off);
}

static void vdev_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fuzz_vdev *v = d->priv;

	check_cfg_access(v, off, len);
	virtio_config_copy(v->cfg, sizeof(v->cfg), off, data, len);
}

static void vdev_config_write(struct virtio_device *d, uint32_t off, const uint8_t *data,
			      uint32_t len)
{
	struct fuzz_vdev *v = d->priv;

	check_cfg_access(v, off, len);
	if (off < sizeof(v->cfg))
		memcpy(v->cfg + off, data, len < sizeof(v->cfg) - off ? len : sizeof(v->cfg) - off);
}

static void vdev_notify(struct virtio_device *d, unsigned q)
{
	static const uint8_t fill[64];
	static struct virtq_chain c;
	struct virtq *vq = &d->vq[q];
	uint16_t old = vq->used_idx;
	int r;

	while ((r = virtq_pop(vq, d->mem, &c)) > 0)
		virtq_push(vq, c.head, (uint32_t)buf_to_iov(c.iov + c.n_out, c.n_in, 0, fill,
							    sizeof(fill)));
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain");
	virtio_signal_used(d, q, old);
}

static const struct virtio_device_ops vdev_ops = {
	.config_read = vdev_config_read,
	.config_write = vdev_config_write,
	.queue_notify = vdev_notify,
};

void fuzz_vdev_init(struct fuzz_vdev *v, uint32_t device_id, unsigned nr_queues,
		    uint32_t cfg_window, const struct guest_mem *mem)
{
	memset(v, 0, sizeof(*v));
	v->cfg_window = cfg_window;
	for (unsigned i = 0; i < sizeof(v->cfg); i++)
		v->cfg[i] = (uint8_t)(0xc0 + i);
	if (virtio_device_init(&v->dev, "fuzz", device_id, nr_queues,
			       (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << 3),
			       &vdev_ops, v, mem))
		abort();
}

void fuzz_vdev_worker(struct fuzz_vdev *v)
{
	struct virtio_device *d = &v->dev;

	for (unsigned q = 0; q < d->nr_queues; q++) {
		struct virtq *vq = &d->vq[q];
		uint16_t before = vq->last_avail;
		uint64_t n;

		if (read(d->notify_fd[q], &n, sizeof(n)) != sizeof(n))
			continue;
		FUZZ_CHECK(!vq->ready || (vq->num && vq->num <= VIRTQ_MAX_SIZE &&
			   guest_mem_ptr(d->mem, vq->desc_gpa, 16ULL * vq->num)),
			   "queue %u live with num %u at 0x%llx", q, vq->num,
			   (unsigned long long)vq->desc_gpa);
		pthread_mutex_lock(&d->lock);
		virtio_serve_queue(d, q);
		pthread_mutex_unlock(&d->lock);
		/* It returns, after at most a ring's worth per round. */
		FUZZ_CHECK(!vq->budget && (uint16_t)(vq->last_avail - before) <=
			   VIRTIO_SERVE_ROUNDS * (unsigned)vq->num,
			   "popped %u in one pass of a %u ring", (uint16_t)(vq->last_avail - before),
			   vq->num);
	}
}
