/*
 * A snapshot's state file is user input (kvmrun restore DIR, a migration
 * stream): the file checks, then the input taken as a payload (its CRC
 * already passed) through the configuration and memory records, the KVM
 * and vCPU records' checks, and the device records restored into two
 * machines built without KVM (virtio over mmio and over pci).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/builder.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/vm.h"

static void nop_line(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
}

static int nop_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
			 int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	return -ENOSYS;		/* the transports forward notifications themselves */
}

static int nop_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
	return 0;		/* nothing is ever signalled here */
}

static int next_gsi = 24;

static int nop_msi_alloc(void *ctx)
{
	(void)ctx;
	return next_gsi < 1024 ? next_gsi++ : -ENOSPC;
}

static int nop_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)ctx, (void)gsi, (void)addr, (void)data;
	return 0;
}

static const struct vm_irq_ops nop_irq = {
	.set_line = nop_line, .ioeventfd = nop_ioeventfd, .irqfd = nop_irqfd,
	.msi_alloc = nop_msi_alloc, .msi_route = nop_msi_route,
};

static struct vm_config cfg[2];
static struct vm machine[2];

static void build(struct vm *v, struct vm_config *c, enum transport t)
{
	memset(c, 0, sizeof(*c));
	c->cpus = 1;
	c->mem_size = 16ULL << 20;
	c->serial = SERIAL_NONE;
	c->transport = t;
	c->rng = true;
	memset(v, 0, sizeof(*v));
	v->cfg = c;
	v->fd = -1;
	v->mem.memfd = -1;
	v->mem.backing_fd = -1;
	bus_init(&v->pio, "pio");
	bus_init(&v->mmio, "mmio");
	device_list_init(&v->devices);
	FUZZ_CHECK(!vm_stop_init(&v->stop), "stop");
	FUZZ_CHECK(!guest_mem_init(&v->mem, c->mem_size, false, HUGEPAGES_NONE), "memory");
	v->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->snap_efd = -1;
	v->irq = (struct vm_irq){ .ops = &nop_irq, .ctx = NULL };
	FUZZ_CHECK(!builder_create_devices(v), "the machine");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	build(&machine[0], &cfg[0], TRANSPORT_MMIO);
	build(&machine[1], &cfg[1], TRANSPORT_PCI);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot s;
	char err[512];
	size_t plen;
	uint8_t *copy;

	if (!snapshot_check_file(data, size, &plen, err, sizeof(err)))
		FUZZ_CHECK(plen + 28 == size, "payload length %zu of a %zu-byte file", plen, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(&s, 0, sizeof(s));
	s.mem_fd = -1;
	if (!snapshot_parse(&s, copy, size, err, sizeof(err))) {
		FUZZ_CHECK(s.cfg.cpus >= 1 && s.cfg.cpus <= CPUS_MAX, "cpus %u", s.cfg.cpus);
		FUZZ_CHECK(s.cfg.nr_disks <= MAX_DISKS, "disks %u", s.cfg.nr_disks);
		for (unsigned i = 0; i < 2; i++)
			snapshot_check_payload(&s, &machine[i].devices, err, sizeof(err));
	}
	free(copy);
	return 0;
}
