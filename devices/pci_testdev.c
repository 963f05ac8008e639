/*
 * QEMU's pci-testdev (1b36:0005, QEMU docs/specs/pci-testdev.rst): BAR 0 in
 * memory space and BAR 1 in I/O space, each starting with the header
 * { u8 test; u8 width; u8 pad[2]; u32 offset; u32 data; u32 count; char name[] }.
 * Writing test selects a test and clears its count; width, offset and data
 * say which write the test wants; count says how many such writes arrived.
 * Tests 0-2 on each BAR ("no-eventfd", "wildcard-eventfd",
 * "datamatch-eventfd": with which kind of ioeventfd QEMU would take the
 * write) are all counted here, in the exit handler; a higher test number
 * reads width 0, where the guest's scan stops.  kvm-unit-tests' vmexit test
 * times these writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/devices.h"

#define PCI_TESTDEV_STATE_VERSION	1
#define CLASS_OTHER		0xff0000u
#define HDR_TEST		0
#define HDR_WIDTH		1
#define HDR_OFFSET		4
#define HDR_DATA		8
#define HDR_COUNT		12
#define HDR_NAME		16
#define NAME_MAX_LEN		32	/* with its NUL */
#define TEST_AREA		0x40	/* test n writes at TEST_AREA + 4 n */
#define TEST_WIDTH		1
#define DATA_MATCH		0xfa	/* the byte the datamatch test wants */
#define DATA_ANY		0xce	/* what the other tests suggest (any value counts) */

static const char *const test_names[PCI_TESTDEV_NR_TESTS] = {
	"no-eventfd", "wildcard-eventfd", "datamatch-eventfd",
};

/* The header bytes of BAR bar as the guest reads them now (lock held). */
static void header(const struct pci_testdev *d, unsigned bar, uint8_t *h, size_t n)
{
	uint8_t t = d->regs.test[bar];
	uint32_t v;

	memset(h, 0, n);
	h[HDR_TEST] = t;
	if (t >= PCI_TESTDEV_NR_TESTS)
		return;
	h[HDR_WIDTH] = TEST_WIDTH;
	v = TEST_AREA + 4u * t;
	memcpy(h + HDR_OFFSET, &v, 4);
	v = t == 2 ? DATA_MATCH : DATA_ANY;
	memcpy(h + HDR_DATA, &v, 4);
	memcpy(h + HDR_COUNT, &d->regs.count[bar], 4);
	snprintf((char *)h + HDR_NAME, NAME_MAX_LEN, "%s-%s", bar ? "portio" : "mmio",
		 test_names[t]);
}

static void bar_io(struct pci_function *f, unsigned bar, uint64_t off, uint8_t *data,
		   uint32_t len, bool is_write)
{
	struct pci_testdev *d = f->opaque;
	uint8_t h[TEST_AREA];
	uint8_t t;

	if (bar > 1)
		return;
	pthread_mutex_lock(&d->lock);
	t = d->regs.test[bar];
	if (!is_write) {
		header(d, bar, h, sizeof(h));
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < sizeof(h) ? h[off + i] : 0;
	} else if (off == HDR_TEST) {
		d->regs.test[bar] = data[0];
		d->regs.count[bar] = 0;
	} else if (t < PCI_TESTDEV_NR_TESTS && off == TEST_AREA + 4u * t) {
		/* Any write counts, but datamatch's only with its byte. */
		if (t != 2 || data[0] == DATA_MATCH)
			d->regs.count[bar]++;
	}
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_function_ops pci_testdev_fn_ops = {
	.bar_io = bar_io,
};

void pci_testdev_init(struct pci_testdev *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pci_function_init(&d->fn, PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE, CLASS_OTHER, 0, 0,
			  &pci_testdev_fn_ops, d);
	pci_function_add_bar(&d->fn, 0, PCI_TESTDEV_MEM_SIZE);
	pci_function_add_io_bar(&d->fn, 1, PCI_TESTDEV_IO_SIZE);
}

void pci_testdev_destroy(struct pci_testdev *d)
{
	pthread_mutex_destroy(&d->lock);
}

/* ---- save, restore, reset ---- */

int pci_testdev_save(const struct pci_testdev *d, struct state_writer *w)
{
	/* The lock guards the registers; taking it does not change the device. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&d->lock;

	pci_function_save(&d->fn, w);
	pthread_mutex_lock(lock);
	for (unsigned b = 0; b < 2; b++) {
		state_put_u8(w, d->regs.test[b]);
		state_put_u32(w, d->regs.count[b]);
	}
	pthread_mutex_unlock(lock);
	return w->err;
}

int pci_testdev_restore(struct pci_testdev *d, struct state_reader *r, uint16_t version)
{
	struct pci_testdev_regs n;
	int ret;

	if (version != PCI_TESTDEV_STATE_VERSION)
		return -EINVAL;
	ret = pci_function_restore(&d->fn, r);
	if (ret)
		return ret;
	for (unsigned b = 0; b < 2; b++) {
		n.test[b] = state_get_u8(r);
		n.count[b] = state_get_u32(r);
	}
	if (!r->err && state_reader_finish(r))
		state_reader_fail(r);
	pthread_mutex_lock(&d->lock);
	if (r->err)
		memset(&d->regs, 0, sizeof(d->regs));
	else
		d->regs = n;
	pthread_mutex_unlock(&d->lock);
	return r->err;
}

void pci_testdev_reset(struct pci_testdev *d)
{
	pthread_mutex_lock(&d->lock);
	memset(&d->regs, 0, sizeof(d->regs));
	pthread_mutex_unlock(&d->lock);
}

VM_DEVICE_OPS_DEFINE(pci_testdev, "pci-testdev", PCI_TESTDEV_STATE_VERSION);
