/*
 * The split irqchip's IOAPIC (see ioapic.h), after the 82093AA datasheet:
 * IOREGSEL at 0x00, IOWIN at 0x10, the EOI register of version 0x20 at
 * 0x40; ID, version and arbitration registers; 24 redirection entries.
 * Delivery is synchronous: an edge on an unmasked pin, or a high level
 * line with Remote IRR clear, becomes one MSI write at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/ioapic.h"

#define IOAPIC_STATE_VERSION	1

#define ID_MASK		0x0f000000u	/* only the ID's 4 bits are writable */
/* Writable entry bits: vector to destination mode, polarity, trigger, mask, 48-63. */
#define RTE_LOW_RW	(IOAPIC_RTE_VECTOR | IOAPIC_RTE_DELMODE | IOAPIC_RTE_DESTMODE | \
			 IOAPIC_RTE_POLARITY | IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED)
#define RTE_HIGH_RW	0xffff000000000000ULL
#define RTE_RW		(RTE_LOW_RW | RTE_HIGH_RW)

#define MSI_BASE		0xfee00000ULL
#define MSI_DATA_LEVEL_ASSERT	(1u << 14)
#define MSI_DATA_LEVEL		(1u << 15)

void ioapic_rte_msi(uint64_t rte, uint64_t *addr, uint32_t *data)
{
	/*
	 * Bits 63:48 land in address bits 19:4 and the destination mode in bit
	 * 2: the destination ID, or for the remappable format its format bit
	 * and handle, where an interrupt remapping unit looks for them.
	 */
	*addr = MSI_BASE | ((rte >> 48) << 4) | (((rte >> 11) & 1) << 2);
	*data = (uint32_t)(rte & (IOAPIC_RTE_VECTOR | IOAPIC_RTE_DELMODE));
	if (rte & IOAPIC_RTE_LEVEL)
		*data |= MSI_DATA_LEVEL | MSI_DATA_LEVEL_ASSERT;
}

/* Gives pin's route the entry's message; a masked pin never routed needs none yet.  Lock held. */
static void sync_route(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->regs.rte[pin], addr;
	uint32_t data;

	if ((rte & IOAPIC_RTE_MASKED) && !io->routed[pin])
		return;
	ioapic_rte_msi(rte, &addr, &data);
	if (io->routed[pin] && io->route_addr[pin] == addr && io->route_data[pin] == data)
		return;
	/* A route KVM refused stays unset: the next change tries again. */
	if (io->out.ops->msi_route(io->out.ctx, pin, addr, data)) {
		io->routed[pin] = false;
		return;
	}
	io->routed[pin] = true;
	io->route_addr[pin] = addr;
	io->route_data[pin] = data;
}

/* Delivers what pin holds: a high level line not awaiting its EOI.  Lock held. */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t *rte = &io->regs.rte[pin];

	if ((*rte & (IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR)) || !(*rte & IOAPIC_RTE_LEVEL) ||
	    !(io->regs.levels & (1u << pin)))
		return;
	*rte |= IOAPIC_RTE_REMOTE_IRR;
	io->out.ops->set_line(io->out.ctx, pin, 1);
}

void ioapic_init(struct ioapic *io, struct vm_irq out, struct vm_irq pass)
{
	memset(io, 0, sizeof(*io));
	pthread_mutex_init(&io->lock, NULL);
	io->out = out;
	io->pass = pass;
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		io->regs.rte[i] = IOAPIC_RTE_MASKED;
}

void ioapic_destroy(struct ioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

void ioapic_connect(struct ioapic *io, struct vm_irq out)
{
	pthread_mutex_lock(&io->lock);
	io->out = out;
	memset(io->routed, 0, sizeof(io->routed));
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		sync_route(io, i);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_set_line(struct ioapic *io, unsigned pin, int level)
{
	uint32_t bit = 1u << pin;
	bool rising;

	if (pin >= IOAPIC_NR_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	rising = level && !(io->regs.levels & bit);
	if (level)
		io->regs.levels |= bit;
	else
		io->regs.levels &= ~bit;
	if (io->regs.rte[pin] & IOAPIC_RTE_LEVEL)
		service_level(io, pin);
	else if (rising && !(io->regs.rte[pin] & IOAPIC_RTE_MASKED))
		/* The datasheet: an edge on a masked pin is ignored, not held. */
		io->out.ops->set_line(io->out.ctx, pin, 1);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++) {
		uint64_t *rte = &io->regs.rte[i];

		if ((*rte & IOAPIC_RTE_VECTOR) != vector || !(*rte & IOAPIC_RTE_LEVEL) ||
		    !(*rte & IOAPIC_RTE_REMOTE_IRR))
			continue;
		*rte &= ~IOAPIC_RTE_REMOTE_IRR;
		service_level(io, i);
	}
	pthread_mutex_unlock(&io->lock);
}

/* ---- registers (lock held) ---- */

static uint32_t read_reg(struct ioapic *io)
{
	unsigned sel = io->regs.regsel;

	switch (sel) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB:
		return io->regs.id;
	case IOAPIC_REG_VER:
		return (uint32_t)(IOAPIC_NR_PINS - 1) << 16 | IOAPIC_VERSION;
	}
	if (sel >= IOAPIC_REG_RTE && sel < IOAPIC_REG_RTE + 2 * IOAPIC_NR_PINS) {
		uint64_t rte = io->regs.rte[(sel - IOAPIC_REG_RTE) / 2];

		return (uint32_t)(sel & 1 ? rte >> 32 : rte);
	}
	return 0;
}

static void write_rte(struct ioapic *io, unsigned pin, bool high, uint32_t v)
{
	uint64_t *rte = &io->regs.rte[pin];
	uint64_t half = high ? (uint64_t)v << 32 : v;
	uint64_t half_mask = high ? 0xffffffff00000000ULL : 0xffffffffULL;

	*rte = (*rte & ~(half_mask & RTE_RW)) | (half & half_mask & RTE_RW);
	/* Remote IRR only means something for level entries. */
	if (!(*rte & IOAPIC_RTE_LEVEL))
		*rte &= ~IOAPIC_RTE_REMOTE_IRR;
	sync_route(io, pin);
	/* Unmasked (or made level) with the line high: delivered now. */
	service_level(io, pin);
}

static void write_reg(struct ioapic *io, uint32_t v)
{
	unsigned sel = io->regs.regsel;

	if (sel == IOAPIC_REG_ID)
		io->regs.id = v & ID_MASK;
	else if (sel >= IOAPIC_REG_RTE && sel < IOAPIC_REG_RTE + 2 * IOAPIC_NR_PINS)
		write_rte(io, (sel - IOAPIC_REG_RTE) / 2, sel & 1, v);
	/* The version and arbitration registers are read-only. */
}

void ioapic_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct ioapic *io = opaque;
	unsigned lane = offset & 3;
	uint8_t lanes[4];
	uint32_t v;

	/* Registers are 32 bits wide at 16-byte strides; narrower accesses use their byte lanes. */
	if (len > 4 || (offset & 0xf) + len > 4) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&io->lock);
	switch (offset & ~3ULL) {
	case IOAPIC_REGSEL:
		v = io->regs.regsel;
		break;
	case IOAPIC_WINDOW:
		v = read_reg(io);
		break;
	default:
		v = 0;	/* the EOI register and holes read zero */
		break;
	}
	memcpy(lanes, &v, 4);
	if (!is_write) {
		memcpy(data, lanes + lane, len);
		pthread_mutex_unlock(&io->lock);
		return;
	}
	memcpy(lanes + lane, data, len);
	memcpy(&v, lanes, 4);
	switch (offset & ~3ULL) {
	case IOAPIC_REGSEL:
		io->regs.regsel = (uint8_t)v;
		break;
	case IOAPIC_WINDOW:
		write_reg(io, v);
		break;
	}
	pthread_mutex_unlock(&io->lock);
	if ((offset & ~3ULL) == IOAPIC_EOI)
		ioapic_eoi(io, (uint8_t)v);
}

/* ---- what devices get ---- */

static void front_set_line(void *ctx, unsigned gsi, int level)
{
	struct ioapic *io = ctx;

	if (gsi < IOAPIC_NR_PINS)
		ioapic_set_line(io, gsi, level);
	else
		io->pass.ops->set_line(io->pass.ctx, gsi, level);
}

static int front_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len,
			   const uint64_t *match, int fd, bool assign)
{
	struct ioapic *io = ctx;

	return io->pass.ops->ioeventfd(io->pass.ctx, pio, addr, len, match, fd, assign);
}

static int front_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct ioapic *io = ctx;

	if (gsi < IOAPIC_NR_PINS)
		return -EOPNOTSUPP;
	return io->pass.ops->irqfd(io->pass.ctx, gsi, fd, resample_fd, assign);
}

static int front_msi_alloc(void *ctx)
{
	struct ioapic *io = ctx;

	return io->pass.ops->msi_alloc(io->pass.ctx);
}

static int front_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct ioapic *io = ctx;

	/* The pins' routes are the IOAPIC's own. */
	if (gsi < IOAPIC_NR_PINS)
		return -EINVAL;
	return io->pass.ops->msi_route(io->pass.ctx, gsi, addr, data);
}

static const struct vm_irq_ops front_ops = {
	.set_line = front_set_line,
	.ioeventfd = front_ioeventfd,
	.irqfd = front_irqfd,
	.msi_alloc = front_msi_alloc,
	.msi_route = front_msi_route,
};

struct vm_irq ioapic_front(struct ioapic *io)
{
	return (struct vm_irq){ .ops = &front_ops, .ctx = io };
}

/* ---- save, restore, reset ---- */

int ioapic_save(const struct ioapic *io, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&io->lock;

	pthread_mutex_lock(lock);
	state_put_u32(w, io->regs.id);
	state_put_u8(w, io->regs.regsel);
	state_put_u32(w, io->regs.levels);
	state_put_u32(w, IOAPIC_NR_PINS);
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		state_put_u64(w, io->regs.rte[i]);
	pthread_mutex_unlock(lock);
	return w->err;
}

int ioapic_restore(struct ioapic *io, struct state_reader *r, uint16_t version)
{
	struct ioapic_regs n;

	memset(&n, 0, sizeof(n));
	if (version != IOAPIC_STATE_VERSION)
		state_reader_fail(r);
	n.id = state_get_u32(r);
	n.regsel = state_get_u8(r);
	n.levels = state_get_u32(r);
	if (state_get_u32(r) != IOAPIC_NR_PINS)
		state_reader_fail(r);
	for (unsigned i = 0; i < IOAPIC_NR_PINS && !r->err; i++) {
		n.rte[i] = state_get_u64(r);
		/* Bits no write can set, or a Remote IRR on an edge entry: not from this device. */
		if ((n.rte[i] & ~(RTE_RW | IOAPIC_RTE_REMOTE_IRR)) ||
		    ((n.rte[i] & IOAPIC_RTE_REMOTE_IRR) && !(n.rte[i] & IOAPIC_RTE_LEVEL)))
			state_reader_fail(r);
	}
	if (!r->err && (state_reader_finish(r) || (n.id & ~ID_MASK) ||
			n.levels >> IOAPIC_NR_PINS))
		state_reader_fail(r);
	if (r->err) {
		ioapic_reset(io);
		return r->err;
	}
	pthread_mutex_lock(&io->lock);
	io->regs = n;
	/* KVM's routes are this machine's, not the saved one's: every pin in use is routed again. */
	memset(io->routed, 0, sizeof(io->routed));
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		sync_route(io, i);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

void ioapic_reset(struct ioapic *io)
{
	uint32_t levels;

	pthread_mutex_lock(&io->lock);
	/* The lines are the devices'; routes stay until an entry changes (masked pins never fire). */
	levels = io->regs.levels;
	memset(&io->regs, 0, sizeof(io->regs));
	io->regs.levels = levels;
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
		io->regs.rte[i] = IOAPIC_RTE_MASKED;
	pthread_mutex_unlock(&io->lock);
}

static int ioapic_ops_save(void *dev, struct state_writer *w)
{
	return ioapic_save(dev, w);
}

static int ioapic_ops_restore(void *dev, struct state_reader *r, uint16_t v)
{
	return ioapic_restore(dev, r, v);
}

static void ioapic_ops_reset(void *dev)
{
	ioapic_reset(dev);
}

/* KVM's PIC went with its irqchip: the ACPI tables must not promise one. */
static int ioapic_describe(void *dev, struct machine_desc *m)
{
	(void)dev;
	m->no_pic = true;
	return 0;
}

static void ioapic_ops_destroy(void *dev)
{
	ioapic_destroy(dev);
	free(dev);
}

const struct vm_device_ops ioapic_device_ops = {
	.kind = "ioapic",
	.state_version = IOAPIC_STATE_VERSION,
	.save = ioapic_ops_save,
	.restore = ioapic_ops_restore,
	.reset = ioapic_ops_reset,
	.describe = ioapic_describe,
	.destroy = ioapic_ops_destroy,
};
