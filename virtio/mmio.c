/*
 * virtio-mmio, version 2 (virtio 1.2, 4.2.2): the register file, feature
 * and queue set-up, and a level-triggered interrupt line that stays up while
 * InterruptStatus has bits the driver has not acknowledged: a KVM irqfd with
 * a resample fd (no ioctl on the interrupt path), or KVM_IRQ_LINE.  Queue
 * notifications normally bypass this code: KVM signals the device's eventfd
 * directly (ioeventfd); a write that reaches us is forwarded the same way.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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

	if (m->irqfd >= 0) {
		/* KVM lowers the line itself at the EOI; only raising is ours. */
		if (level)
			raise_irqfd(m);
		return;
	}
	if (level != m->irq_level) {
		m->irq_level = level;
		irq_line_set(&m->irq, level);
	}
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

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		      struct irq_line irq)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->base = base;
	m->irq = irq;
	m->irqfd = m->resamplefd = m->vm_fd = -1;
	dev->transport = &mmio_transport;
	dev->transport_priv = m;
}

int virtio_mmio_use_irqfd(struct virtio_mmio *m, int vm_fd)
{
	struct kvm_irqfd irqfd = { .gsi = m->irq.gsi, .flags = KVM_IRQFD_FLAG_RESAMPLE };
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r = 0;

	if (fd < 0 || rfd < 0) {
		r = -errno;
		goto fail;
	}
	irqfd.fd = (uint32_t)fd;
	irqfd.resamplefd = (uint32_t)rfd;
	if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0) {
		r = -errno;
		goto fail;
	}
	r = virtio_watch_transport_fd(m->dev, rfd);
	if (r) {
		irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
		ioctl(vm_fd, KVM_IRQFD, &irqfd);
		goto fail;
	}
	m->irqfd = fd;
	m->resamplefd = rfd;
	m->vm_fd = vm_fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (rfd >= 0)
		close(rfd);
	return r;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (m->irqfd < 0)
		return;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)m->irqfd, .gsi = m->irq.gsi,
				   .flags = KVM_IRQFD_FLAG_DEASSIGN };

	ioctl(m->vm_fd, KVM_IRQFD, &irqfd);
	close(m->irqfd);
	close(m->resamplefd);
	m->irqfd = m->resamplefd = -1;
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

static void queue_ready(struct virtio_mmio *m, struct virtq *vq, uint32_t v)
{
	struct virtio_device *d = m->dev;

	if (!v) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;		/* already live: re-enabling would replay or unmap it */
	if (virtq_enable(vq, d->mem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			 virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC))) {
		virtio_needs_reset(d, "driver enabled a queue with impossible ring addresses or size");
		return;
	}
	vq->ready = true;
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
		if (vq)
			queue_ready(m, vq, v);
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
