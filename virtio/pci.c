/*
 * virtio-pci modern transport (virtio 1.2, 4.1): capabilities, the common
 * configuration registers, ISR, notifications and MSI-X (see virtio_pci.h).
 *
 * Locking: the PCI bus lock is held around configuration accesses (and so
 * around the config hooks here); this file takes the device lock inside it.
 * BAR accesses take only the device lock.  The worker thread raises
 * interrupts with the device lock held, so MSI-X state (table, masks,
 * pending bits) lives under the device lock, mirrored from config space.
 */
#include <errno.h>
#include <linux/virtio_pci.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio_pci.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040
#define VPCI_CAP_LEN		16	/* struct virtio_pci_cap */
#define VPCI_NOTIFY_CAP_LEN	20	/* + notify_off_multiplier */
#define VPCI_CFG_CAP_LEN	20	/* + pci_cfg_data */
#define MSIX_CAP_LEN		12
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000
#define MSIX_ENTRY_MASKED	1
#define VIRTIO_PCI_ISR_QUEUE	0x1	/* ISR bit 0: a used buffer (4.1.4.5) */

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case 1:	return 0x020000;	/* network controller, Ethernet */
	case 2:	return 0x018000;	/* mass storage, other */
	case 3:	return 0x078000;	/* communication, other */
	default: return 0xff0000;	/* unassigned class */
	}
}

/* ---- MSI-X (device lock held) ---- */

static bool vector_masked(struct virtio_pci *p, unsigned v)
{
	return p->msix_masked || (p->table[v].ctrl & MSIX_ENTRY_MASKED);
}

/* Brings vector v's route in line with its table entry while it can fire. */
static void sync_route(struct virtio_pci *p, unsigned v)
{
	uint64_t addr = (uint64_t)p->table[v].addr_hi << 32 | p->table[v].addr_lo;
	uint32_t data = p->table[v].data;

	if (!p->msix_enabled || vector_masked(p, v))
		return;
	if (p->routed[v] && p->routed_addr[v] == addr && p->routed_data[v] == data)
		return;
	if (!irq_msi_address_valid(addr))
		log_debug("%s: MSI-X vector %u points at 0x%llx, not at the APICs: dropped",
			  p->dev->name, v, (unsigned long long)addr);
	if (p->irq.ops->msi_route(p->irq.ctx, p->gsi[v], addr, data) == 0) {
		p->routed[v] = true;
		p->routed_addr[v] = addr;
		p->routed_data[v] = data;
	}
}

static void fire(struct virtio_pci *p, unsigned v)
{
	uint64_t one = 1;

	if (vector_masked(p, v)) {
		p->pending |= 1u << v;
		return;
	}
	p->pending &= ~(1u << v);
	if (p->irqfd[v] >= 0 && write(p->irqfd[v], &one, sizeof(one)) < 0)
		log_debug("%s: irqfd of vector %u: %s", p->dev->name, v, strerror(errno));
}

/* After a mask bit cleared: route, and deliver what waited. */
static void unmasked(struct virtio_pci *p)
{
	for (unsigned v = 0; v < p->nr_vectors; v++) {
		if (!p->msix_enabled || vector_masked(p, v))
			continue;
		sync_route(p, v);
		if (p->pending & (1u << v))
			fire(p, v);
	}
}

/* ---- INTx (device lock held) ---- */

static void raise_intx_fd(struct virtio_pci *p)
{
	uint64_t one = 1;

	if (write(p->intx_fd, &one, sizeof(one)) < 0)
		log_debug("%s: INTx irqfd: %s", p->dev->name, strerror(errno));
}

/*
 * Brings INTx in line with the ISR, MSI-X and the command register.  With
 * the resample irqfd only raising is ours: KVM lowers the line at the EOI
 * and intx_resample raises it again while it should stay up.
 */
static void update_intx(struct virtio_pci *p)
{
	bool pending = p->isr && !p->msix_enabled;
	bool level = pending && !pci_function_intx_disabled(&p->pci);

	pci_function_set_intx_status(&p->pci, pending);
	if (level && !p->intx_used) {
		/* Once: a driver without MSI-X is a choice worth seeing in the log. */
		log_info("%s: MSI-X is off, interrupts go out on INTx (GSI %u)", p->dev->name,
			 p->intx_gsi);
		p->intx_used = true;
	}
	if (p->intx_fd >= 0) {
		if (level)
			raise_intx_fd(p);
		return;
	}
	if (level != p->intx_level && p->intx_attached) {
		p->intx_level = level;
		p->irq.ops->set_line(p->irq.ctx, p->intx_gsi, level);
	}
}

/* The guest's EOI lowered the line: up again while the ISR still has a bit. */
static void intx_resample(struct virtio_device *d)
{
	struct virtio_pci *p = d->transport_priv;
	uint64_t v;

	while (read(p->intx_resample_fd, &v, sizeof(v)) > 0)
		;
	if (p->isr && !p->msix_enabled && !pci_function_intx_disabled(&p->pci))
		raise_intx_fd(p);
}

static void pci_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	struct virtio_pci *p = d->transport_priv;
	uint16_t v = config ? p->config_vector : p->queue_vector[q];

	p->isr |= config ? VIRTIO_PCI_ISR_CONFIG : VIRTIO_PCI_ISR_QUEUE;
	if (p->msix_enabled) {
		if (v < p->nr_vectors)
			fire(p, v);
		return;
	}
	update_intx(p);
}

/* A vector that can fire now is its irqfd: another process may write it directly. */
static int pci_call_fd(struct virtio_device *d, unsigned q)
{
	struct virtio_pci *p = d->transport_priv;
	uint16_t v = q < VIRTIO_MAX_QUEUES ? p->queue_vector[q] : VPCI_NO_VECTOR;

	if (!p->msix_enabled || v >= p->nr_vectors || vector_masked(p, v) || p->irqfd[v] < 0)
		return -1;
	sync_route(p, v);
	return p->routed[v] ? p->irqfd[v] : -1;
}

static const struct virtio_transport_ops pci_transport = {
	.interrupt = pci_interrupt,
	.fd_ready = intx_resample,
	.call_fd = pci_call_fd,
};

static void msix_table_io(struct virtio_pci *p, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	unsigned v = (unsigned)(off / 16), field = (unsigned)(off % 16);
	uint32_t val;

	/*
	 * Aligned DWORD or QWORD accesses only (PCI 3.0, 6.8.2).  KVM hands a
	 * guest's 8-byte MOV over as one 8-byte access: do it as two DWORDs.
	 */
	if (len == 8 && !(field & 7)) {
		msix_table_io(p, off, data, 4, is_write);
		msix_table_io(p, off + 4, data + 4, 4, is_write);
		return;
	}
	if (v >= p->nr_vectors || len != 4 || (field & 3)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	uint32_t *reg = (uint32_t *)&p->table[v] + field / 4;

	if (!is_write) {
		memcpy(data, reg, 4);
		return;
	}
	memcpy(&val, data, 4);
	if (field == 12) {
		bool was = vector_masked(p, v);

		p->table[v].ctrl = val & MSIX_ENTRY_MASKED;
		if (was && !vector_masked(p, v))
			unmasked(p);
		if (was != vector_masked(p, v))
			virtio_interrupts_changed(p->dev);
		return;
	}
	*reg = val;
	sync_route(p, v);	/* only acts on an unmasked vector */
}

/* ---- common configuration (device lock held) ---- */

static struct virtq *sel_queue(struct virtio_pci *p)
{
	return p->queue_select < p->dev->nr_queues ? &p->dev->vq[p->queue_select] : NULL;
}

static void put_le(uint8_t *b, unsigned off, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, unsigned off, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[off + i] << (8 * i);
	return v;
}

/* The registers as the driver would read them now. */
static void common_image(struct virtio_pci *p, uint8_t *b)
{
	struct virtio_device *d = p->dev;
	struct virtq *vq = sel_queue(p);

	memset(b, 0, VPCI_COMMON_LEN);
	put_le(b, VIRTIO_PCI_COMMON_DFSELECT, p->dfselect, 4);
	put_le(b, VIRTIO_PCI_COMMON_DF, p->dfselect < 2 ?
	       (uint32_t)(d->host_features >> (32 * p->dfselect)) : 0, 4);
	put_le(b, VIRTIO_PCI_COMMON_GFSELECT, p->gfselect, 4);
	put_le(b, VIRTIO_PCI_COMMON_GF, p->gfselect < 2 ?
	       (uint32_t)(d->guest_features >> (32 * p->gfselect)) : 0, 4);
	put_le(b, VIRTIO_PCI_COMMON_MSIX, p->config_vector, 2);
	put_le(b, VIRTIO_PCI_COMMON_NUMQ, d->nr_queues, 2);
	put_le(b, VIRTIO_PCI_COMMON_STATUS, d->status, 1);
	put_le(b, VIRTIO_PCI_COMMON_CFGGENERATION, (uint8_t)d->config_generation, 1);
	put_le(b, VIRTIO_PCI_COMMON_Q_SELECT, p->queue_select, 2);
	put_le(b, VIRTIO_PCI_COMMON_Q_MSIX, vq ? p->queue_vector[p->queue_select] :
					   VPCI_NO_VECTOR, 2);
	if (!vq)
		return;		/* a queue that does not exist reads as size 0 */
	put_le(b, VIRTIO_PCI_COMMON_Q_SIZE, vq->num, 2);
	put_le(b, VIRTIO_PCI_COMMON_Q_ENABLE, vq->ready, 2);
	put_le(b, VIRTIO_PCI_COMMON_Q_NOFF, p->queue_select, 2);
	put_le(b, VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc_gpa, 8);
	put_le(b, VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail_gpa, 8);
	put_le(b, VIRTIO_PCI_COMMON_Q_USEDLO, vq->used_gpa, 8);
}

static void reset_transport(struct virtio_pci *p)
{
	p->config_vector = VPCI_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		p->queue_vector[q] = VPCI_NO_VECTOR;
		p->dev->vq[q].num = q < p->dev->nr_queues ? p->dev->queue_max : 0;
	}
	p->isr = 0;
	update_intx(p);
}

static uint16_t checked_vector(struct virtio_pci *p, uint64_t v)
{
	/* A vector the function does not have reads back as NO_VECTOR (4.1.4.3). */
	return v < p->nr_vectors ? (uint16_t)v : VPCI_NO_VECTOR;
}

/* Applies the field at fo (width n) of the image b, which holds the written bytes. */
static void common_field(struct virtio_pci *p, unsigned fo, const uint8_t *b)
{
	struct virtio_device *d = p->dev;
	struct virtq *vq = sel_queue(p);
	bool vq_cfg = vq && !vq->ready;	/* ring layout changes only while disabled */

	switch (fo) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		p->dfselect = (uint32_t)get_le(b, fo, 4);
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		p->gfselect = (uint32_t)get_le(b, fo, 4);
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (p->gfselect < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned shift = 32 * p->gfselect;

			d->guest_features = (d->guest_features & ~(0xffffffffULL << shift)) |
					    (get_le(b, fo, 4) << shift);
		}
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		p->config_vector = checked_vector(p, get_le(b, fo, 2));
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_set_status(d, b[fo]);
		if (b[fo] == 0)
			reset_transport(p);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		p->queue_select = (uint16_t)get_le(b, fo, 2);
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (vq_cfg)
			vq->num = (uint16_t)get_le(b, fo, 2);	/* checked when enabled */
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (vq) {
			p->queue_vector[p->queue_select] = checked_vector(p, get_le(b, fo, 2));
			virtio_interrupts_changed(d);
		}
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* Writing 0 is not allowed (4.1.4.3.2); only a reset disables a queue. */
		if (vq && get_le(b, fo, 2) == 1)
			virtio_enable_queue(p->dev, vq);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		if (vq_cfg)
			vq->desc_gpa = get_le(b, fo, 8);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		if (vq_cfg)
			vq->avail_gpa = get_le(b, fo, 8);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		if (vq_cfg)
			vq->used_gpa = get_le(b, fo, 8);
		break;
	default:
		break;	/* read-only */
	}
}

/* Field offsets and widths, in register order. */
static const struct { uint8_t off, len; } common_fields[] = {
	{ VIRTIO_PCI_COMMON_DFSELECT, 4 }, { VIRTIO_PCI_COMMON_DF, 4 },
	{ VIRTIO_PCI_COMMON_GFSELECT, 4 }, { VIRTIO_PCI_COMMON_GF, 4 },
	{ VIRTIO_PCI_COMMON_MSIX, 2 }, { VIRTIO_PCI_COMMON_NUMQ, 2 },
	{ VIRTIO_PCI_COMMON_STATUS, 1 }, { VIRTIO_PCI_COMMON_CFGGENERATION, 1 },
	{ VIRTIO_PCI_COMMON_Q_SELECT, 2 }, { VIRTIO_PCI_COMMON_Q_SIZE, 2 },
	{ VIRTIO_PCI_COMMON_Q_MSIX, 2 }, { VIRTIO_PCI_COMMON_Q_ENABLE, 2 },
	{ VIRTIO_PCI_COMMON_Q_NOFF, 2 }, { VIRTIO_PCI_COMMON_Q_DESCLO, 8 },
	{ VIRTIO_PCI_COMMON_Q_AVAILLO, 8 }, { VIRTIO_PCI_COMMON_Q_USEDLO, 8 },
};

static void common_io(struct virtio_pci *p, uint32_t off, uint8_t *data, uint32_t len,
		      bool is_write)
{
	uint8_t b[VPCI_COMMON_LEN];

	common_image(p, b);
	if (!is_write) {
		memcpy(data, b + off, len);
		return;
	}
	/*
	 * Overlay the written bytes on the current values and apply every field
	 * they touch: a 32-bit half of a 64-bit address keeps the other half.
	 */
	memcpy(b + off, data, len);
	for (unsigned i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		unsigned fo = common_fields[i].off;

		if (off < fo + common_fields[i].len && fo < off + len)
			common_field(p, fo, b);
	}
}

/* ---- BAR 0 ---- */

static void bar0_io_locked(struct virtio_pci *p, uint64_t off, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct virtio_device *d = p->dev;

	/* The common configuration starts the BAR (VPCI_COMMON_OFF is 0). */
	if (off + len <= VPCI_COMMON_LEN) {
		common_io(p, (uint32_t)off, data, len, is_write);
	} else if (off >= VPCI_ISR_OFF && off + len <= VPCI_ISR_OFF + VPCI_ISR_LEN) {
		/* Reading the ISR acknowledges it (4.1.4.5). */
		if (!is_write) {
			memset(data, 0, len);
			if (off == VPCI_ISR_OFF) {
				data[0] = p->isr;
				p->isr = 0;
				update_intx(p);
			}
		}
	} else if (off >= VPCI_DEVCFG_OFF && off + len <= VPCI_DEVCFG_OFF + VPCI_DEVCFG_LEN) {
		virtio_config_access(d, (uint32_t)(off - VPCI_DEVCFG_OFF), data, len, is_write);
	} else if (off >= VPCI_NOTIFY_OFF &&
		   off + len <= VPCI_NOTIFY_OFF + (uint64_t)VPCI_NOTIFY_MULT * d->nr_queues) {
		/* Reaches us only when the ioeventfd did not match (width, or none). */
		if (is_write)
			virtio_notify_queue(d, (unsigned)((off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT));
		else
			memset(data, 0, len);
	} else if (off >= VPCI_MSIX_TABLE_OFF && off + len <= VPCI_MSIX_TABLE_OFF + 16 * p->nr_vectors) {
		msix_table_io(p, off - VPCI_MSIX_TABLE_OFF, data, len, is_write);
	} else if (off >= VPCI_MSIX_PBA_OFF && off + len <= VPCI_MSIX_PBA_OFF + 8) {
		if (!is_write) {
			uint64_t pba = p->pending;

			memcpy(data, (uint8_t *)&pba + (off - VPCI_MSIX_PBA_OFF), len);
		}
	} else if (!is_write) {
		memset(data, 0xff, len);	/* holes between the regions */
	}
}

static void bar_io(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct virtio_pci *p = f->opaque;

	if (bar != 0) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&p->dev->lock);
	bar0_io_locked(p, off, data, len, is_write);
	pthread_mutex_unlock(&p->dev->lock);
}

/* ---- configuration space hooks (bus lock held) ---- */

static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: an access to BAR memory through config space. */
static void cfg_window(struct virtio_pci *p, bool is_write)
{
	struct pci_function *f = &p->pci;
	uint8_t c = p->cfg_cap;
	uint8_t bar = f->cfg[c + offsetof(struct virtio_pci_cap, bar)];
	uint32_t off = pci_cfg_read32(f, c + offsetof(struct virtio_pci_cap, offset));
	uint32_t len = pci_cfg_read32(f, c + offsetof(struct virtio_pci_cap, length));
	uint8_t *win = &f->cfg[c + VPCI_CAP_LEN];

	/* 1, 2 or 4 bytes, naturally aligned, inside BAR 0 (4.1.4.9.1). */
	if (bar != 0 || (len != 1 && len != 2 && len != 4) || (off & (len - 1)) ||
	    off >= VPCI_BAR_SIZE)
		return;
	bar_io(f, 0, off, win, len, is_write);
}

static void config_write(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct virtio_pci *p = f->opaque;
	uint32_t ctrl_off = p->msix_cap + 2u;

	if (touches(off, len, ctrl_off, 2)) {
		uint16_t ctrl = pci_cfg_read16(f, ctrl_off);

		pthread_mutex_lock(&p->dev->lock);
		p->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
		p->msix_masked = ctrl & MSIX_CTRL_MASKALL;
		unmasked(p);
		update_intx(p);
		virtio_interrupts_changed(p->dev);
		pthread_mutex_unlock(&p->dev->lock);
	}
	if (touches(off, len, PCI_CFG_COMMAND, 2)) {
		/* Interrupt Disable cleared with the ISR set: the line goes up now. */
		pthread_mutex_lock(&p->dev->lock);
		update_intx(p);
		pthread_mutex_unlock(&p->dev->lock);
	}
	if (touches(off, len, p->cfg_cap + VPCI_CAP_LEN, 4))
		cfg_window(p, true);
}

static void config_read(struct pci_function *f, uint32_t off, uint32_t len)
{
	struct virtio_pci *p = f->opaque;

	if (touches(off, len, p->cfg_cap + VPCI_CAP_LEN, 4))
		cfg_window(p, false);
}

/* Queue q's notification address in BAR 0 goes to its eventfd inside the kernel. */
static int notify_ioeventfd(struct virtio_pci *p, uint64_t bar, unsigned q, bool assign)
{
	/* The driver writes the 16-bit queue index: any value notifies. */
	return p->irq.ops->ioeventfd(p->irq.ctx, false,
				     bar + VPCI_NOTIFY_OFF + (uint64_t)VPCI_NOTIFY_MULT * q, 2, NULL,
				     p->dev->notify_fd[q], assign);
}

static void bar_moved(struct pci_function *f, unsigned bar, uint64_t old, uint64_t addr)
{
	struct virtio_pci *p = f->opaque;
	unsigned q;

	if (bar != 0)
		return;
	if (old && p->ioeventfds)
		for (q = 0; q < p->dev->nr_queues; q++)
			notify_ioeventfd(p, old, q, false);
	p->ioeventfds = false;
	if (!addr)
		return;
	for (q = 0; q < p->dev->nr_queues; q++) {
		int r = notify_ioeventfd(p, addr, q, true);

		if (r) {
			/* Without them the BAR handler forwards notifications: slower, same result. */
			log_debug("%s: no ioeventfd for queue %u at 0x%llx (%s)", p->dev->name, q,
				  (unsigned long long)addr, strerror(-r));
			while (q--)
				notify_ioeventfd(p, addr, q, false);
			return;
		}
	}
	p->ioeventfds = true;
}

static const struct pci_function_ops vpci_ops = {
	.bar_io = bar_io,
	.config_write = config_write,
	.config_read = config_read,
	.bar_moved = bar_moved,
};

/* ---- set-up ---- */

static uint8_t add_vendor_cap(struct pci_function *f, uint8_t len, uint8_t type, uint32_t off,
			      uint32_t n)
{
	uint8_t c = pci_function_add_cap(f, PCI_CAP_ID_VNDR, len);

	if (!c)
		return 0;
	f->cfg[c + offsetof(struct virtio_pci_cap, cap_len)] = len;
	f->cfg[c + offsetof(struct virtio_pci_cap, cfg_type)] = type;
	f->cfg[c + offsetof(struct virtio_pci_cap, bar)] = 0;
	pci_cfg_write32(f, c + offsetof(struct virtio_pci_cap, offset), off);
	pci_cfg_write32(f, c + offsetof(struct virtio_pci_cap, length), n);
	return c;
}

int virtio_pci_init(struct virtio_pci *p, struct virtio_device *dev, struct vm_irq irq)
{
	struct pci_function *f = &p->pci;
	uint8_t c;

	memset(p, 0, sizeof(*p));
	p->dev = dev;
	p->irq = irq;
	p->intx_fd = p->intx_resample_fd = -1;
	p->nr_vectors = dev->nr_queues + 1;
	for (unsigned v = 0; v < VPCI_MAX_VECTORS; v++) {
		p->irqfd[v] = -1;
		p->table[v].ctrl = MSIX_ENTRY_MASKED;	/* the reset state of MSI-X entries */
	}
	reset_transport(p);
	dev->transport = &pci_transport;
	dev->transport_priv = p;

	pci_function_init(f, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + dev->device_id),
			  class_of(dev->device_id), VIRTIO_PCI_VENDOR,
			  /* 4.1.2.1: at least 0x40 for non-transitional devices */
			  (uint16_t)(VIRTIO_PCI_DEVICE_BASE + dev->device_id),
			  &vpci_ops, p);
	/* 64-bit, so that the guest may move it above 4 GiB; placed below (not prefetchable). */
	pci_function_add_bar64(f, 0, VPCI_BAR_SIZE, false);

	if (!add_vendor_cap(f, VPCI_CAP_LEN, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF,
			    VPCI_COMMON_LEN) ||
	    !add_vendor_cap(f, VPCI_CAP_LEN, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, VPCI_ISR_LEN) ||
	    !add_vendor_cap(f, VPCI_CAP_LEN, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVCFG_OFF,
			    VPCI_DEVCFG_LEN))
		return -ENOSPC;
	c = add_vendor_cap(f, VPCI_NOTIFY_CAP_LEN, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
			   VPCI_NOTIFY_MULT * dev->nr_queues);
	if (!c)
		return -ENOSPC;
	pci_cfg_write32(f, c + VPCI_CAP_LEN, VPCI_NOTIFY_MULT);
	/* The config-space window to BAR 0: its bar, offset, length and data are the driver's. */
	p->cfg_cap = add_vendor_cap(f, VPCI_CFG_CAP_LEN, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	if (!p->cfg_cap)
		return -ENOSPC;
	pci_function_wmask(f, p->cfg_cap + offsetof(struct virtio_pci_cap, bar), 1, 0xff);
	pci_function_wmask(f, p->cfg_cap + offsetof(struct virtio_pci_cap, offset), 4, ~0u);
	pci_function_wmask(f, p->cfg_cap + offsetof(struct virtio_pci_cap, length), 4, ~0u);
	pci_function_wmask(f, p->cfg_cap + VPCI_CAP_LEN, 4, ~0u);

	p->msix_cap = pci_function_add_cap(f, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
	if (!p->msix_cap)
		return -ENOSPC;
	pci_cfg_write16(f, p->msix_cap + 2, (uint16_t)(p->nr_vectors - 1));
	pci_cfg_write32(f, p->msix_cap + 4, VPCI_MSIX_TABLE_OFF);	/* BIR 0 */
	pci_cfg_write32(f, p->msix_cap + 8, VPCI_MSIX_PBA_OFF);
	pci_function_wmask(f, p->msix_cap + 2, 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);

	for (unsigned v = 0; v < p->nr_vectors; v++) {
		int gsi = irq.ops->msi_alloc(irq.ctx), r, fd;

		if (gsi < 0)
			return gsi;
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		r = irq.ops->irqfd(irq.ctx, (unsigned)gsi, fd, -1, true);
		if (r) {
			log_err("%s: no irqfd for GSI %d: %s", dev->name, gsi, strerror(-r));
			close(fd);
			return r;
		}
		p->gsi[v] = (unsigned)gsi;
		p->irqfd[v] = fd;
	}
	return 0;
}

int virtio_pci_attach_intx(struct virtio_pci *p, unsigned gsi)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	p->intx_gsi = gsi;
	p->intx_attached = true;
	if (fd < 0 || rfd < 0) {
		r = -errno;
		goto direct;
	}
	r = p->irq.ops->irqfd(p->irq.ctx, gsi, fd, rfd, true);
	if (r)
		goto direct;
	r = virtio_watch_transport_fd(p->dev, rfd);
	if (r) {
		p->irq.ops->irqfd(p->irq.ctx, gsi, fd, rfd, false);
		goto direct;
	}
	p->intx_fd = fd;
	p->intx_resample_fd = rfd;
	return 0;
direct:
	/* Slower (an exit for each change of the line), same semantics. */
	log_debug("%s: no INTx irqfd for GSI %u (%s): the line is set directly", p->dev->name,
		  gsi, strerror(-r));
	if (fd >= 0)
		close(fd);
	if (rfd >= 0)
		close(rfd);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	if (p->intx_fd >= 0) {
		p->irq.ops->irqfd(p->irq.ctx, p->intx_gsi, p->intx_fd, p->intx_resample_fd, false);
		close(p->intx_fd);
		close(p->intx_resample_fd);
		p->intx_fd = p->intx_resample_fd = -1;
	}
	for (unsigned v = 0; v < VPCI_MAX_VECTORS; v++) {
		if (p->irqfd[v] < 0)
			continue;
		/* Closing the VM fd would release it too; this keeps a failed set-up tidy. */
		p->irq.ops->irqfd(p->irq.ctx, p->gsi[v], p->irqfd[v], -1, false);
		close(p->irqfd[v]);
		p->irqfd[v] = -1;
	}
}

/* ---- save and restore ---- */

int virtio_pci_save(struct virtio_pci *p, struct state_writer *w)
{
	struct virtio_device *d = p->dev;
	int r;

	pci_function_save(&p->pci, w);
	pthread_mutex_lock(&d->lock);
	state_put_u32(w, p->dfselect);
	state_put_u32(w, p->gfselect);
	state_put_u16(w, p->queue_select);
	state_put_u16(w, p->config_vector);
	for (unsigned q = 0; q < d->nr_queues; q++)
		state_put_u16(w, p->queue_vector[q]);
	state_put_u8(w, p->isr);
	state_put_bool(w, p->msix_enabled);
	state_put_bool(w, p->msix_masked);
	for (unsigned v = 0; v < p->nr_vectors; v++) {
		state_put_u32(w, p->table[v].addr_lo);
		state_put_u32(w, p->table[v].addr_hi);
		state_put_u32(w, p->table[v].data);
		state_put_u32(w, p->table[v].ctrl);
	}
	state_put_u32(w, p->pending);
	r = virtio_device_save(d, w);
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* A vector register's value: one the function has, or NO_VECTOR (what checked_vector leaves). */
static uint16_t get_vector(struct virtio_pci *p, struct state_reader *r)
{
	uint16_t v = state_get_u16(r);

	if (v >= p->nr_vectors && v != VPCI_NO_VECTOR)
		state_reader_fail(r);
	return v;
}

int virtio_pci_restore(struct virtio_pci *p, struct state_reader *r)
{
	struct virtio_device *d = p->dev;
	struct vpci_msix_entry table[VPCI_MAX_VECTORS];
	uint16_t queue_vector[VIRTIO_MAX_QUEUES], ctrl;
	uint32_t dfselect, gfselect, pending;
	uint16_t queue_select, config_vector;
	bool enabled, masked;
	uint8_t isr;
	int ret;

	/* BAR 0 may decode elsewhere now: bar_moved moves the ioeventfds with it. */
	if (pci_function_restore(&p->pci, r)) {
		pthread_mutex_lock(&d->lock);
		virtio_set_status(d, 0);
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	ctrl = pci_cfg_read16(&p->pci, p->msix_cap + 2u);
	pthread_mutex_lock(&d->lock);
	dfselect = state_get_u32(r);
	gfselect = state_get_u32(r);
	queue_select = state_get_u16(r);
	config_vector = get_vector(p, r);
	for (unsigned q = 0; q < d->nr_queues; q++)
		queue_vector[q] = get_vector(p, r);
	isr = state_get_u8(r);
	if (isr & ~(VIRTIO_PCI_ISR_CONFIG | VIRTIO_PCI_ISR_QUEUE))
		state_reader_fail(r);
	enabled = state_get_bool(r);
	masked = state_get_bool(r);
	/* The mirrors follow the capability's control bits, restored with the function. */
	if (enabled != !!(ctrl & MSIX_CTRL_ENABLE) || masked != !!(ctrl & MSIX_CTRL_MASKALL))
		state_reader_fail(r);
	for (unsigned v = 0; v < p->nr_vectors; v++) {
		table[v].addr_lo = state_get_u32(r);
		table[v].addr_hi = state_get_u32(r);
		table[v].data = state_get_u32(r);
		table[v].ctrl = state_get_u32(r);
		if (table[v].ctrl & ~(uint32_t)MSIX_ENTRY_MASKED)
			state_reader_fail(r);
	}
	pending = state_get_u32(r);
	if (pending >> p->nr_vectors)
		state_reader_fail(r);
	/* A vector that can fire never stays pending: fire() delivers it at once. */
	for (unsigned v = 0; v < p->nr_vectors && !r->err; v++)
		if ((pending & (1u << v)) && enabled && !masked &&
		    !(table[v].ctrl & MSIX_ENTRY_MASKED))
			state_reader_fail(r);
	ret = r->err ? -EINVAL : virtio_device_restore(d, r);
	if (ret) {
		virtio_set_status(d, 0);
		reset_transport(p);
		/* Config space was restored already: the mirrors follow it, the table stays masked. */
		p->msix_enabled = ctrl & MSIX_CTRL_ENABLE;
		p->msix_masked = ctrl & MSIX_CTRL_MASKALL;
		pthread_mutex_unlock(&d->lock);
		return ret;
	}
	p->dfselect = dfselect;
	p->gfselect = gfselect;
	p->queue_select = queue_select;
	p->config_vector = config_vector;
	memcpy(p->queue_vector, queue_vector, d->nr_queues * sizeof(queue_vector[0]));
	p->isr = isr;
	p->msix_enabled = enabled;
	p->msix_masked = masked;
	memcpy(p->table, table, p->nr_vectors * sizeof(table[0]));
	p->pending = pending;
	/* The fresh transport routed nothing: every vector that can fire gets its route. */
	for (unsigned v = 0; v < p->nr_vectors; v++) {
		p->routed[v] = false;
		sync_route(p, v);
	}
	/* An asserted INTx line survives: the ISR it follows came back. */
	update_intx(p);
	pthread_mutex_unlock(&d->lock);
	return 0;
}
