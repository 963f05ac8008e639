/*
 * virtio-mmio, version 2 (virtio 1.2, 4.2.2): the register file, feature
 * and queue set-up, and a level-triggered interrupt line that stays up while
 * InterruptStatus has bits the driver has not acknowledged: an irqfd with a
 * resample fd (no exit on the interrupt path), or the irqchip line set
 * through the VM's irq ops.  Queue notifications normally bypass this code:
 * the kernel signals the device's eventfd directly (ioeventfd); a write that
 * reaches us is forwarded the same way.
 */
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_mmio.h"

#define MMIO_MAGIC	0x74726976	/* "virt" */
#define MMIO_VERSION	2
#define MMIO_VENDOR	0x4b564d52	/* "RMVK": kvmrun */

const unsigned virtio_mmio_irqs[VIRTIO_MMIO_MAX] = { 5, 6, 7, 10, 11, 14, 15 };

static void raise_irqfd(struct virtio_mmio *m)
{
	uint64_t one = 1;

	if (write(m->irqfd, &one, sizeof(one)) < 0)
		log_debug("%s: irqfd: %s", m->dev->name, strerror(errno));
}

static void update_irq(struct virtio_mmio *m)
{
	bool level = m->isr != 0;
	bool changed = level != m->irq_level;

	m->irq_level = level;
	if (m->irqfd >= 0) {
		/* The kernel lowers the line itself at the EOI; only raising is ours. */
		if (level)
			raise_irqfd(m);
		return;
	}
	if (changed)
		m->irq.ops->set_line(m->irq.ctx, m->gsi, level);
}

/* Transport hook, called with the device lock held. */
static void mmio_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	struct virtio_mmio *m = d->transport_priv;

	(void)q;
	m->isr |= config ? VIRTIO_MMIO_INT_CONFIG : VIRTIO_MMIO_INT_VRING;
	update_irq(m);
}

/* The guest's EOI lowered the line: raise it again if something is still unacknowledged. */
static void mmio_resample(struct virtio_device *d)
{
	struct virtio_mmio *m = d->transport_priv;

	if (m->isr)
		raise_irqfd(m);
}

static const struct virtio_transport_ops mmio_transport = {
	.interrupt = mmio_interrupt,
	.fd_ready = mmio_resample,
};

/* A level-triggered irqfd whose resample fd the device's worker watches.  0 or -errno. */
static int use_irqfd(struct virtio_mmio *m)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r = 0;

	if (fd < 0 || rfd < 0) {
		r = -errno;
		goto fail;
	}
	r = m->irq.ops->irqfd(m->irq.ctx, m->gsi, fd, rfd, true);
	if (r)
		goto fail;
	r = virtio_watch_transport_fd(m->dev, rfd);
	if (r) {
		m->irq.ops->irqfd(m->irq.ctx, m->gsi, fd, rfd, false);
		goto fail;
	}
	m->irqfd = fd;
	m->resamplefd = rfd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (rfd >= 0)
		close(rfd);
	return r;
}

int virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		     unsigned gsi, struct vm_irq irq)
{
	int r;

	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->base = base;
	m->gsi = gsi;
	m->irq = irq;
	m->irqfd = m->resamplefd = -1;
	dev->transport = &mmio_transport;
	dev->transport_priv = m;
	r = use_irqfd(m);
	if (r)
		log_debug("%s: no irqfd for IRQ %u (%s): the line is set directly", dev->name, gsi,
			  strerror(-r));
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		uint64_t match = q;

		r = irq.ops->ioeventfd(irq.ctx, false, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, &match,
				       dev->notify_fd[q], true);
		/* Without it the transport forwards the write itself: slower, same result. */
		if (r)
			log_debug("%s: no ioeventfd for queue %u (%s)", dev->name, q, strerror(-r));
		m->ioeventfd[q] = !r;
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	/*
	 * The ioeventfds stay: the device's notify fds are closed by now and
	 * the VM fd's release drops them with it.
	 */
	if (m->irqfd < 0)
		return;
	m->irq.ops->irqfd(m->irq.ctx, m->gsi, m->irqfd, m->resamplefd, false);
	close(m->irqfd);
	close(m->resamplefd);
	m->irqfd = m->resamplefd = -1;
}

int virtio_mmio_save(struct virtio_mmio *m, struct state_writer *w)
{
	int r;

	pthread_mutex_lock(&m->dev->lock);
	state_put_u32(w, m->device_features_sel);
	state_put_u32(w, m->driver_features_sel);
	state_put_u32(w, m->queue_sel);
	state_put_u32(w, m->isr);
	state_put_bool(w, m->irq_level);
	r = virtio_device_save(m->dev, w);
	pthread_mutex_unlock(&m->dev->lock);
	return r;
}

int virtio_mmio_restore(struct virtio_mmio *m, struct state_reader *r)
{
	struct virtio_device *d = m->dev;
	uint32_t isr;
	bool level;
	int ret;

	pthread_mutex_lock(&d->lock);
	m->device_features_sel = state_get_u32(r);
	m->driver_features_sel = state_get_u32(r);
	m->queue_sel = state_get_u32(r);
	isr = state_get_u32(r);
	level = state_get_bool(r);
	/* Only the two causes exist, and the line is up exactly while one is unacknowledged. */
	if ((isr & ~(uint32_t)(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)) ||
	    level != (isr != 0))
		state_reader_fail(r);
	ret = r->err ? -EINVAL : virtio_device_restore(d, r);
	if (ret) {
		virtio_set_status(d, 0);
		m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
		isr = 0;
	}
	m->isr = isr;
	/* irq_level is where the line is now: update_irq moves it to the restored level. */
	update_irq(m);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static struct virtq *cur_queue(struct virtio_mmio *m)
{
	return m->queue_sel < m->dev->nr_queues ? &m->dev->vq[m->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_device *d = m->dev;
	struct virtq *vq = cur_queue(m);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:	return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:	return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:	return d->device_id;
	case VIRTIO_MMIO_VENDOR_ID:	return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return m->device_features_sel < 2 ?
		       (uint32_t)(d->host_features >> (32 * m->device_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:	return vq ? d->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:	return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return m->isr;
	case VIRTIO_MMIO_STATUS:	return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return d->config_generation;
	default:			return 0;	/* write-only or reserved */
	}
}

static void set_addr(uint64_t *a, bool high, uint32_t v)
{
	if (high)
		*a = (*a & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*a = (*a & ~0xffffffffULL) | v;
}

static void reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_device *d = m->dev;
	struct virtq *vq = cur_queue(m);
	/* Queue layout may change only while the queue is not in use. */
	bool vq_cfg = vq && !vq->ready;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (m->driver_features_sel < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned shift = 32 * m->driver_features_sel;

			d->guest_features = (d->guest_features & ~(0xffffffffULL << shift)) |
					    ((uint64_t)v << shift);
		}
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (vq_cfg)
			vq->num = v > 0xffff ? 0 : (uint16_t)v;	/* checked when enabled */
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq && !v)
			vq->ready = false;
		else if (vq)
			virtio_enable_queue(d, vq);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		virtio_notify_queue(d, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->isr &= ~v;
		update_irq(m);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_set_status(d, (uint8_t)v);
		if ((uint8_t)v == 0) {
			m->isr = 0;
			update_irq(m);
		}
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (vq_cfg)
			set_addr(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (vq_cfg)
			set_addr(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (vq_cfg)
			set_addr(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
		break;
	default:
		break;	/* read-only or reserved: ignored */
	}
}

void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *m = opaque;
	struct virtio_device *d = m->dev;
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		virtio_config_access(d, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data, len, is_write);
	} else if (len != 4 || (offset & 3)) {
		/* The spec allows only aligned 32-bit accesses to the registers. */
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		reg_write(m, offset, v);
	} else {
		v = reg_read(m, offset);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}
