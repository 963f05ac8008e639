/* A virtio device and its transport as one registry device (see virtio_slot.h). */
#define VIRTIO_SLOT_STATE_VERSION	2	/* 2: virtio-pci BAR 0 is 64-bit (its upper dword is saved) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_slot.h"

struct virtio_slot *virtio_slot_alloc(void)
{
	return calloc(1, sizeof(struct virtio_slot));
}

int virtio_slot_attach_mmio(struct virtio_slot *s, struct bus *mmio, uint64_t base,
			    unsigned gsi, struct vm_irq irq)
{
	int r = virtio_mmio_init(&s->mmio, &s->dev, base, gsi, irq);

	s->mmio_bound = true;
	if (!r)
		r = bus_register(mmio, base, VIRTIO_MMIO_SIZE, virtio_mmio_io, &s->mmio, s->dev.name);
	if (r)
		log_err("%s: cannot place it at 0x%llx: %s", s->dev.name,
			(unsigned long long)base, strerror(-r));
	return r;
}

int virtio_slot_attach_pci(struct virtio_slot *s, struct pci_bus *bus, struct vm_irq irq)
{
	int r = virtio_pci_init(&s->pci, &s->dev, irq);

	s->pci_bound = true;
	if (!r)
		r = pci_bus_add(bus, &s->pci.pci);
	if (r >= 0)
		virtio_pci_attach_intx(&s->pci, pci_intx_gsi((unsigned)r));
	if (r < 0)
		log_err("%s: cannot attach it to the PCI bus: %s", s->dev.name, strerror(-r));
	return r;
}

static void slot_destroy(void *opaque)
{
	struct virtio_slot *s = opaque;

	/* The worker stops first: it may be inside the transport. */
	if (s->initialised)
		virtio_device_destroy(&s->dev);
	if (s->pci_bound)
		virtio_pci_destroy(&s->pci);
	if (s->mmio_bound)
		virtio_mmio_destroy(&s->mmio);
	free(s);
}

static int slot_start(void *opaque)
{
	struct virtio_slot *s = opaque;

	return virtio_device_start(&s->dev);
}

static void slot_stop(void *opaque)
{
	struct virtio_slot *s = opaque;

	if (s->initialised)
		virtio_device_stop(&s->dev);
}

static void slot_pause(void *opaque)
{
	struct virtio_slot *s = opaque;

	if (s->initialised)
		virtio_device_pause(&s->dev);
}

static void slot_resume(void *opaque)
{
	struct virtio_slot *s = opaque;

	if (s->initialised)
		virtio_device_resume(&s->dev);
}

static int mmio_describe(void *opaque, struct machine_desc *m)
{
	struct virtio_slot *s = opaque;

	/* Linux's virtio-mmio driver finds devices on its command line; the MADT makes the IRQ level. */
	m->level_irqs |= 1u << s->mmio.gsi;
	return machine_desc_cmdline(m, "virtio_mmio.device=4K@0x%llx:%u",
				    (unsigned long long)s->mmio.base, s->mmio.gsi);
}

/* The transport's record carries the device model's (virtio_mmio.h, virtio_pci.h). */
static int slot_save(void *opaque, struct state_writer *w)
{
	struct virtio_slot *s = opaque;

	return s->pci_bound ? virtio_pci_save(&s->pci, w) : virtio_mmio_save(&s->mmio, w);
}

static int slot_restore(void *opaque, struct state_reader *r, uint16_t version)
{
	struct virtio_slot *s = opaque;

	if (version != VIRTIO_SLOT_STATE_VERSION)
		return -EINVAL;
	return s->pci_bound ? virtio_pci_restore(&s->pci, r) : virtio_mmio_restore(&s->mmio, r);
}

static const char *slot_live_blocker(void *opaque)
{
	struct virtio_slot *s = opaque;

	return s->initialised ? s->dev.live_blocker : NULL;
}

const struct vm_device_ops virtio_mmio_slot_ops = {
	.kind = "virtio-mmio",
	.state_version = VIRTIO_SLOT_STATE_VERSION,
	.save = slot_save,
	.restore = slot_restore,
	.start = slot_start,
	.stop = slot_stop,
	.pause = slot_pause,
	.resume = slot_resume,
	.describe = mmio_describe,
	.live_blocker = slot_live_blocker,
	.destroy = slot_destroy,
};

const struct vm_device_ops virtio_pci_slot_ops = {
	.kind = "virtio-pci",
	.state_version = VIRTIO_SLOT_STATE_VERSION,
	.save = slot_save,
	.restore = slot_restore,
	.start = slot_start,
	.stop = slot_stop,
	.pause = slot_pause,
	.resume = slot_resume,
	.live_blocker = slot_live_blocker,
	.destroy = slot_destroy,
};

struct virtio_device *virtio_slot_device(const struct vm_device *vd)
{
	struct virtio_slot *s = vd->dev;

	if (vd->ops != &virtio_mmio_slot_ops && vd->ops != &virtio_pci_slot_ops)
		return NULL;
	return s->initialised ? &s->dev : NULL;
}
