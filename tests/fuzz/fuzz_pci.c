/*
 * The PCI host bridge (devices/pci.c) and the virtio-pci transport
 * (virtio/pci.c), driven as a guest's port I/O and MMIO exits would drive
 * them: configuration mechanism #1 on 0xCF8-0xCFF, ECAM, the BAR windows, and in
 * between the device side (a worker that serves notified queues, device
 * interrupts, NEEDS_RESET).  Without /dev/kvm: irq ops whose irqfds are
 * the transport's eventfds alone, no ioeventfds, and MSI routes either
 * refused or kept in a GSI routing table whose updates fail without KVM.
 *
 * Input: u8 flags (1: two functions; 0x06: queues - 1; 0x18: device id;
 * 0x20: routes kept in the GSI routing table; 0x40: INTx through an irqfd),
 * then a stream of operations until the input ends.  At the end the bus's
 * and the first function's records must restore onto a fresh bus and
 * function that save the same bytes, and a record with one byte changed
 * must be refused or, when taken, saved back unchanged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_vdev.h"
#include "kvmrun/irq_routing.h"
#include "kvmrun/pci.h"
#include "kvmrun/virtio.h"
#include "kvmrun/virtio_pci.h"

#define RAM0		0x10000ULL
#define MAX_FN		2
#define MAX_OPS		512

enum { OP_PORT_WRITE, OP_PORT_READ, OP_LATCH, OP_WIN_WRITE, OP_WIN_READ, OP_CFG_ACCESS,
       OP_WORKER, OP_INTERRUPT, OP_POKE, OP_NEEDS_RESET, OP_ECAM, OP_WIN64, OP_COUNT };

static struct guest_mem mem;
static struct pci_bus bus;
static struct fuzz_vdev vdev[MAX_FN];
static struct virtio_pci vp[MAX_FN];
static unsigned nr_fn;
static struct irq_routing routing;
static bool keep_routes;

/* Accepted: a vector that fires writes its eventfd, which nothing reads. */
static int any_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
	return 0;
}

static int msi_alloc(void *ctx)
{
	return irq_routing_alloc(ctx);
}

static int msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	return keep_routes ? irq_routing_set_msi(ctx, gsi, addr, data) : -ENOSYS;
}

/* INTx: the level is checked against what the transport may do. */
static void line_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	if (gsi < PCI_INTX_GSI_BASE || gsi >= PCI_INTX_GSI_BASE + PCI_INTX_GSIS || level < 0 || level > 1)
		abort();
}

static const struct vm_irq_ops fuzz_irq = {
	.set_line = line_set, .ioeventfd = fuzz_no_ioeventfd, .irqfd = any_irqfd, .msi_alloc = msi_alloc,
	.msi_route = msi_route,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, 0, 0);
	return 0;
}

static struct pci_bus twin_bus;
static struct fuzz_vdev twin;
static struct virtio_pci twin_vp;

static void save_all(struct pci_bus *b, struct virtio_pci *p, struct state_writer *w)
{
	state_writer_init(w);
	pci_bus_save(b, w);
	FUZZ_CHECK(!virtio_pci_save(p, w), "save");
}

/* Restores rec onto a fresh bus with a function like vp[0]; 0 or -EINVAL; on 0, *again. */
static int restore_fresh(const struct state_writer *rec, struct state_writer *again)
{
	struct virtio_device *d = &vdev[0].dev;
	struct state_reader r;
	int ret;

	pci_bus_init(&twin_bus);
	fuzz_vdev_init(&twin, d->device_id, d->nr_queues, VPCI_DEVCFG_LEN, &mem);
	if (virtio_pci_init(&twin_vp, &twin.dev, (struct vm_irq){ &fuzz_irq, &routing }) ||
	    pci_bus_add(&twin_bus, &twin_vp.pci) < 0)
		abort();
	state_reader_init(&r, rec->data, rec->len);
	ret = pci_bus_restore(&twin_bus, &r);
	if (!ret)
		ret = virtio_pci_restore(&twin_vp, &r);
	if (!ret)
		ret = state_reader_finish(&r);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL, "restore returned %d", ret);
	if (!ret) {
		save_all(&twin_bus, &twin_vp, again);
		FUZZ_CHECK(!(twin_vp.pending >> twin_vp.nr_vectors), "pending 0x%x", twin_vp.pending);
	}
	virtio_pci_destroy(&twin_vp);
	virtio_device_destroy(&twin.dev);
	pci_bus_destroy(&twin_bus);
	return ret;
}

static void check_save_restore(const uint8_t *data, size_t size)
{
	struct state_writer w, again;

	save_all(&bus, &vp[0], &w);
	FUZZ_CHECK(restore_fresh(&w, &again) == 0, "a saved record was refused");
	FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
		   "the record changed through a restore");
	state_writer_free(&again);
	/* One byte changed: refused, or taken exactly as it is. */
	w.data[size % w.len] ^= (uint8_t)(data[0] | 1);
	if (!restore_fresh(&w, &again)) {
		FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
			   "an accepted record did not come back as it was");
		state_writer_free(&again);
	}
	state_writer_free(&w);
}

/* What no sequence of guest accesses may change. */
static void check_functions(void)
{
	FUZZ_CHECK(pci_cfg_read16(&bus.host_bridge, PCI_CFG_VENDOR_ID) == 0x1b36, "bridge vendor");
	for (unsigned i = 0; i < nr_fn; i++) {
		struct pci_function *f = &vp[i].pci;
		uint32_t lo = pci_cfg_read32(f, PCI_CFG_BAR0);
		uint64_t bar = pci_function_bar_address(f, 0);

		FUZZ_CHECK(pci_cfg_read16(f, PCI_CFG_VENDOR_ID) == 0x1af4 &&
			   pci_cfg_read16(f, PCI_CFG_DEVICE_ID) == 0x1040 + vdev[i].dev.device_id,
			   "ids of function %u changed", i);
		/* BAR 0 (BAR 1 its upper dword): 64-bit memory, naturally aligned. */
		FUZZ_CHECK((lo & 0xf) == PCI_BAR_MEM_64 && !(bar & (VPCI_BAR_SIZE - 1)),
			   "BAR 0 reads 0x%llx", (unsigned long long)bar);
		for (unsigned b = 2; b < PCI_NR_BARS; b++)
			FUZZ_CHECK(!pci_cfg_read32(f, PCI_CFG_BAR0 + 4 * b), "BAR %u appeared", b);
		bool low = bar >= PCI_WINDOW_BASE && bar + VPCI_BAR_SIZE <= PCI_WINDOW_BASE + PCI_WINDOW_SIZE;
		bool high = bar >= bus.window64_base &&
			    bar + VPCI_BAR_SIZE <= bus.window64_base + bus.window64_size;

		FUZZ_CHECK(!f->bar_decoded[0] || (f->bar_decoded[0] == bar && (low || high)),
			   "BAR 0 decodes at 0x%llx, reads 0x%llx",
			   (unsigned long long)f->bar_decoded[0], (unsigned long long)bar);
		FUZZ_CHECK(!(vp[i].pending >> vp[i].nr_vectors), "pending 0x%x with %u vectors",
			   vp[i].pending, vp[i].nr_vectors);
	}
	/* One MSI route per GSI at most, all of them for x86 interrupt addresses. */
	for (unsigned e = 0; e < routing.table->nr; e++) {
		const struct kvm_irq_routing_entry *r = &routing.table->entries[e];

		if (r->type != KVM_IRQ_ROUTING_MSI)
			continue;
		FUZZ_CHECK(irq_msi_address_valid((uint64_t)r->u.msi.address_hi << 32 |
						 r->u.msi.address_lo), "route to 0x%x", r->u.msi.address_lo);
		for (unsigned f = e + 1; f < routing.table->nr; f++)
			FUZZ_CHECK(routing.table->entries[f].gsi != r->gsi, "GSI %u routed twice",
				   r->gsi);
	}
}

/* An access through an exact-size buffer (ASan sees a handler that writes past len). */
static void io(void (*fn)(void *, uint64_t, uint8_t *, uint32_t, bool), uint64_t off,
	       uint32_t len, uint64_t val, bool is_write)
{
	uint8_t *b = malloc(len);

	if (!b)
		abort();
	memcpy(b, &val, len);
	fn(&bus, off, b, len, is_write);
	free(b);
}

static const uint32_t widths[] = { 1, 2, 4, 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = in_u8(&in);
	unsigned nq = 1 + ((flags >> 1) & 3), id = 1 + ((flags >> 3) & 3);

	fuzz_mem_clear(&mem);
	pci_bus_init(&bus);
	if (irq_routing_init(&routing, -1))
		abort();
	/* A GSI routing table without KVM: routes are kept, KVM_SET_GSI_ROUTING fails. */
	keep_routes = flags & 0x20;
	nr_fn = 0;
	for (unsigned i = 0; i < 1 + (flags & 1); i++) {
		fuzz_vdev_init(&vdev[i], id, nq, VPCI_DEVCFG_LEN, &mem);
		nr_fn++;
		if (virtio_pci_init(&vp[i], &vdev[i].dev, (struct vm_irq){ &fuzz_irq, &routing }) ||
		    pci_bus_add(&bus, &vp[i].pci) < 0)
			abort();
		/* INTx set directly: (flags & 0x40) hands the transport an irqfd instead. */
		if (!(flags & 0x40))
			vp[i].intx_attached = true, vp[i].intx_gsi = pci_intx_gsi(vp[i].pci.slot);
		else
			virtio_pci_attach_intx(&vp[i], pci_intx_gsi(vp[i].pci.slot));
	}

	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = in_u8(&in) % OP_COUNT;
		struct virtio_device *d;
		uint8_t a;

		switch (op) {
		case OP_PORT_WRITE:
		case OP_PORT_READ: {
			uint64_t off = in_u8(&in) % PCI_CONFIG_PORTS;
			uint32_t len = widths[in_u8(&in) % 3];
			uint32_t v = in_u32(&in);

			/* The PIO bus hands over only accesses inside the 8 ports. */
			if (off + len <= PCI_CONFIG_PORTS)
				io(pci_config_io, off, len, v, op == OP_PORT_WRITE);
			break;
		}
		case OP_LATCH: {
			uint32_t slot = in_u8(&in) % PCI_MAX_SLOTS, fn = in_u8(&in) & 7u;

			io(pci_config_io, 0, 4, 0x80000000u | slot << 11 | fn << 8 | in_u8(&in), true);
			break;
		}
		case OP_WIN_WRITE:
		case OP_WIN_READ: {
			uint64_t off = in_u32(&in) % PCI_WINDOW_SIZE;
			uint32_t len = widths[in_u8(&in) % 4];
			uint64_t v = in_u64(&in);

			if (off + len <= PCI_WINDOW_SIZE)
				io(pci_window_io, off, len, v, op == OP_WIN_WRITE);
			break;
		}
		case OP_ECAM:
		case OP_WIN64: {
			/* ECAM of bus 0, or the start of the 64-bit window (where BARs may be moved). */
			uint64_t off = in_u32(&in) % (op == OP_ECAM ? PCI_ECAM_SIZE : 0x100000);
			uint8_t wl = in_u8(&in);
			uint32_t len = widths[wl % 4];
			uint64_t v = in_u64(&in);

			io(op == OP_ECAM ? pci_ecam_io : pci_window64_io, off, len, v, wl & 0x80);
			break;
		}
		case OP_CFG_ACCESS: {
			unsigned slot = in_u8(&in), fn = in_u8(&in);
			uint32_t off = in_u16(&in), len = 1 + in_u8(&in) % 8;
			uint64_t v = in_u64(&in);
			bool w = in_u8(&in) & 1;
			uint8_t *b = malloc(len);

			if (!b)
				abort();
			memcpy(b, &v, len);
			pci_config_access(&bus, slot, fn, off, b, len, w);
			free(b);
			break;
		}
		case OP_WORKER:
			for (unsigned i = 0; i < nr_fn; i++)
				fuzz_vdev_worker(&vdev[i]);
			break;
		case OP_INTERRUPT:
			a = in_u8(&in);
			d = &vdev[(a >> 4) % nr_fn].dev;
			pthread_mutex_lock(&d->lock);
			d->transport->interrupt(d, a % d->nr_queues, a & 0x80);
			pthread_mutex_unlock(&d->lock);
			break;
		case OP_POKE: {
			uint16_t off = in_u16(&in);

			((uint8_t *)mem.region[0].host)[off % RAM0] = in_u8(&in);
			break;
		}
		case OP_NEEDS_RESET:
			d = &vdev[in_u8(&in) % nr_fn].dev;
			pthread_mutex_lock(&d->lock);
			virtio_needs_reset(d, "fuzz");
			pthread_mutex_unlock(&d->lock);
			break;
		}
		check_functions();
	}
	if (size)
		check_save_restore(data, size);

	for (unsigned i = 0; i < nr_fn; i++) {
		virtio_pci_destroy(&vp[i]);
		virtio_device_destroy(&vdev[i].dev);
	}
	pci_bus_destroy(&bus);
	irq_routing_destroy(&routing);
	return 0;
}
