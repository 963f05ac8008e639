/*
 * virtio-console (virtio 1.2, 5.3) with a single port and no multiport
 * control queue: queue 0 receives what the host types, queue 1 carries the
 * guest's output to the VM's output sink.  Linux's hvc0 runs on it.
 */
#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/sink.h"
#include "kvmrun/virtio_devices.h"

enum { RXQ, TXQ, NR_QUEUES };

struct vconsole {
	struct out_sink *out;		/* the VM's; never blocks the worker (sink.h) */
	bool tx_truncated;		/* an oversized transmit buffer was cut (logged once) */
	void (*rx_space)(void *);
	void *opaque;
	struct virtq_chain chain;
};

/*
 * Output per buffer: a console line is short, but a hostile chain may name
 * all of guest RAM 256 times over, and the device lock is held meanwhile.
 * A chain is taken only while one fits whole in the output's buffer
 * (SINK_CAPACITY, at least twice this), so that output waits in the guest's
 * ring, not dropped, when stdout drains slowly.
 */
#define TX_CHAIN_MAX	(1u << 20)

static void transmit(struct virtio_device *d)
{
	struct vconsole *c = d->priv;
	struct virtq *vq = &d->vq[TXQ];
	uint16_t old = vq->used_idx;
	int r = 0;

	/* No room for a whole chain: the sink calls console_room() when there is. */
	while ((!c->out || out_sink_reserve(c->out, TX_CHAIN_MAX)) &&
	       (r = virtq_pop(vq, d->mem, &c->chain)) > 0) {
		size_t budget = TX_CHAIN_MAX;

		if (c->chain.out_len > TX_CHAIN_MAX && !c->tx_truncated) {
			c->tx_truncated = true;
			log_warn("virtio-console: a %zu-byte transmit buffer: only its first %u bytes "
				 "are written (reported once)", c->chain.out_len, TX_CHAIN_MAX);
		}
		for (unsigned i = 0; i < c->chain.n_out && budget; i++) {
			size_t len = c->chain.iov[i].iov_len < budget ? c->chain.iov[i].iov_len : budget;

			if (c->out)
				out_sink_write(c->out, c->chain.iov[i].iov_base, len);
			budget -= len;
		}
		virtq_push(vq, c->chain.head, 0);
	}
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain on the transmit queue");
	virtio_signal_used(d, TXQ, old);
}

static void console_notify(struct virtio_device *d, unsigned q)
{
	struct vconsole *c = d->priv;

	if (q == TXQ)
		transmit(d);
	else if (c->rx_space)
		c->rx_space(c->opaque);		/* new receive buffers: send pending input */
}

size_t virtio_console_input(struct virtio_device *d, const uint8_t *buf, size_t n)
{
	struct vconsole *c = d->priv;
	struct virtq *vq = &d->vq[RXQ];
	size_t taken = 0;
	uint16_t old;

	pthread_mutex_lock(&d->lock);
	old = vq->used_idx;
	while (!d->paused && taken < n && (d->status & VIRTIO_CONFIG_S_DRIVER_OK) && virtq_has_avail(vq)) {
		size_t len;
		int r = virtq_pop(vq, d->mem, &c->chain);

		if (r < 0)
			virtio_needs_reset(d, "malformed descriptor chain on the receive queue");
		if (r <= 0)
			break;
		len = buf_to_iov(c->chain.iov + c->chain.n_out, c->chain.n_in, 0, buf + taken,
				 n - taken);
		virtq_push(vq, c->chain.head, (uint32_t)len);
		taken += len;
	}
	if (vq->ready && !vq->broken) {
		virtio_signal_used(d, RXQ, old);
		virtq_set_notification(vq, true);
	}
	pthread_mutex_unlock(&d->lock);
	return taken;
}

/* The output drained enough (sink writer thread): serve the transmit queue again. */
static void console_room(void *opaque)
{
	virtio_notify_queue(opaque, TXQ);
}

static void console_destroy(struct virtio_device *d)
{
	struct vconsole *c = d->priv;

	if (c->out)
		out_sink_on_room(c->out, NULL, NULL);
	free(c);
}

/*
 * No save/restore hooks: no config space is offered (no SIZE, no
 * MULTIPORT), a transmit chain is written out and pushed within the
 * notification, and input is delivered only as far as receive buffers
 * take it (virtio_console_input returns the rest to the VMM, which keeps
 * it): the device holds nothing between notifications.  tx_truncated is
 * host-side (a warning given).
 */
static const struct virtio_device_ops console_ops = {
	.queue_notify = console_notify,
	.destroy = console_destroy,
};

int virtio_console_init(struct virtio_device *d, struct out_sink *out, void (*rx_space)(void *),
			void *opaque, const struct guest_mem *mem)
{
	struct vconsole *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->rx_space = rx_space;
	c->opaque = opaque;
	c->out = out;
	r = virtio_device_init(d, "virtio-console", VIRTIO_ID_CONSOLE, NR_QUEUES,
			       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			       (1ULL << VIRTIO_RING_F_EVENT_IDX), &console_ops, c, mem);
	if (r) {
		free(c);
		return r;
	}
	if (out)
		out_sink_on_room(out, console_room, d);
	return 0;
}
