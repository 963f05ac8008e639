/* Shared unit-test scaffolding (see testlib.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

int testlib_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void testlib_mem_init(struct guest_mem *mem, uint64_t size)
{
	ck_assert_int_eq(guest_mem_init(mem, size, false, HUGEPAGES_NONE), 0);
}

uint64_t testlib_eventfd_count(int fd)
{
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	ck_assert_int_eq(n, 8);
	return v;
}

/* ---- fake vm_irq ---- */

static void fake_set_line(void *ctx, unsigned gsi, int level)
{
	struct fake_irq *f = ctx;

	f->line_sets++;
	f->line_gsi = gsi;
	f->line_level = level;
}

static int fake_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len,
			  const uint64_t *match, int fd, bool assign)
{
	struct fake_irq *f = ctx;
	struct fake_ioeventfd e = { .pio = pio, .has_match = match != NULL,
				    .addr = addr, .match = match ? *match : 0, .len = len,
				    .fd = fd };

	f->ioeventfd_calls++;
	if (f->refuse_ioeventfd)
		return -ENOSYS;
	for (unsigned i = 0; i < f->nr_ioeventfds; i++) {
		const struct fake_ioeventfd *o = &f->ioeventfd[i];

		if (o->pio != e.pio || o->has_match != e.has_match || o->addr != e.addr ||
		    o->match != e.match || o->len != e.len || o->fd != e.fd)
			continue;
		if (assign)
			return -EEXIST;		/* as KVM: the same range twice */
		f->ioeventfd[i] = f->ioeventfd[--f->nr_ioeventfds];
		return 0;
	}
	if (!assign)
		return -ENOENT;
	ck_assert_uint_lt(f->nr_ioeventfds, FAKE_IRQ_SLOTS);
	f->ioeventfd[f->nr_ioeventfds++] = e;
	return 0;
}

static int fake_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct fake_irq *f = ctx;

	if (f->refuse_irqfd)
		return -ENOSYS;
	for (unsigned i = 0; i < f->nr_irqfds; i++) {
		if (f->irqfd[i].gsi != gsi || f->irqfd[i].fd != fd)
			continue;
		if (assign)
			return -EBUSY;
		f->irqfd[i] = f->irqfd[--f->nr_irqfds];
		return 0;
	}
	if (!assign)
		return -ENOENT;
	ck_assert_uint_lt(f->nr_irqfds, FAKE_IRQ_SLOTS);
	f->irqfd[f->nr_irqfds++] = (struct fake_irqfd){ gsi, fd, resample_fd };
	return 0;
}

static int fake_msi_alloc(void *ctx)
{
	struct fake_irq *f = ctx;

	if (!f->msi_left)
		return -ENOSPC;
	f->msi_left--;
	return (int)f->next_gsi++;
}

static int fake_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fake_irq *f = ctx;

	f->route_calls++;
	if (gsi < FAKE_IRQ_FIRST_GSI || gsi >= f->next_gsi)
		return -EINVAL;
	/* As irq_routing_set_msi: an address off the APICs removes the route. */
	f->route[gsi - FAKE_IRQ_FIRST_GSI] = irq_msi_address_valid(addr) ?
		(struct fake_route){ true, addr, data } : (struct fake_route){ 0 };
	return 0;
}

static const struct vm_irq_ops fake_irq_vtable = {
	.set_line = fake_set_line,
	.ioeventfd = fake_ioeventfd,
	.irqfd = fake_irqfd,
	.msi_alloc = fake_msi_alloc,
	.msi_route = fake_msi_route,
};

void fake_irq_init(struct fake_irq *f)
{
	memset(f, 0, sizeof(*f));
	f->next_gsi = FAKE_IRQ_FIRST_GSI;
	f->msi_left = FAKE_IRQ_SLOTS;
}

struct vm_irq fake_irq_ops(struct fake_irq *f)
{
	return (struct vm_irq){ .ops = &fake_irq_vtable, .ctx = f };
}

const struct fake_ioeventfd *fake_irq_find_ioeventfd(const struct fake_irq *f, uint64_t addr,
						     const uint64_t *match)
{
	for (unsigned i = 0; i < f->nr_ioeventfds; i++) {
		const struct fake_ioeventfd *e = &f->ioeventfd[i];

		if (e->addr == addr && e->has_match == (match != NULL) &&
		    (!match || e->match == *match))
			return e;
	}
	return NULL;
}

int fake_irq_irqfd(const struct fake_irq *f, unsigned gsi)
{
	for (unsigned i = 0; i < f->nr_irqfds; i++)
		if (f->irqfd[i].gsi == gsi)
			return f->irqfd[i].fd;
	return -1;
}

/* ---- fake virtio device ---- */

static void fake_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake *f = d->priv;

	f->cfg_reads++;
	f->cfg_off = off;
	f->cfg_len = len;
	virtio_config_copy(f->cfg, sizeof(f->cfg), off, data, len);
}

static void fake_config_write(struct virtio_device *d, uint32_t off, const uint8_t *data,
			      uint32_t len)
{
	struct fake *f = d->priv;

	f->cfg_writes++;
	f->cfg_off = off;
	f->cfg_len = len;
	memcpy(f->cfg_written, data, len < sizeof(f->cfg_written) ? len : sizeof(f->cfg_written));
}

static void fake_queue_notify(struct virtio_device *d, unsigned q)
{
	struct fake *f = d->priv;

	(void)q;
	f->notify_calls++;
}

static void fake_reset(struct virtio_device *d)
{
	struct fake *f = d->priv;

	f->reset_calls++;
	f->own_state = 0;
}

static int fake_save(struct virtio_device *d, struct state_writer *w)
{
	struct fake *f = d->priv;

	state_put_u32(w, f->own_state);
	return 0;
}

static int fake_restore(struct virtio_device *d, struct state_reader *r)
{
	struct fake *f = d->priv;
	uint32_t v = state_get_u32_below(r, FAKE_STATE_MAX);

	if (r->err)
		return -EINVAL;
	f->own_state = v;
	return 0;
}

const struct virtio_device_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.queue_notify = fake_queue_notify,
	.reset = fake_reset,
	.save = fake_save,
	.restore = fake_restore,
};

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < sizeof(f->cfg); i++)
		f->cfg[i] = (uint8_t)(0xc0 + i);
}
