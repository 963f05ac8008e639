/*
 * The ACPI power-management timer (ACPI 6.4, 4.8.3.3): a free-running
 * counter at 3.579545 MHz behind PM_TMR_BLK, 32 bits wide (the FADT sets
 * TMR_VAL_EXT).  Derived from the host's monotonic clock on every read; it
 * raises no interrupt (TMR_EN is never set).  Writes are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmrun/clock.h"
#include "kvmrun/devices.h"

#define PM_TIMER_STATE_VERSION	1
#define NS_PER_SEC		1000000000u

static uint64_t host_now_ns(void)
{
	return clock_now_ns();
}

static uint32_t count_at(const struct pm_timer *t, uint64_t now)
{
	uint64_t base = atomic_load(&t->base_ns);
	uint64_t dt = now > base ? now - base : 0;
	/* 128-bit product: dt * 3.58e6 passes 64 bits after about 85 minutes. */
	unsigned __int128 ticks = (unsigned __int128)dt * ACPI_PM_TMR_HZ / NS_PER_SEC;

	return (uint32_t)(atomic_load(&t->start) + (uint64_t)ticks);
}

void pm_timer_init(struct pm_timer *t, uint64_t (*now_ns)(void))
{
	t->now_ns = now_ns ? now_ns : host_now_ns;
	atomic_store(&t->start, 0);
	atomic_store(&t->base_ns, t->now_ns());
}

uint32_t pm_timer_count(const struct pm_timer *t)
{
	return count_at(t, t->now_ns());
}

void pm_timer_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t v;

	if (is_write)
		return;
	v = pm_timer_count(opaque);
	memset(data, 0xff, len);
	for (uint32_t i = 0; i < len && offset + i < ACPI_PM_TMR_LEN; i++)
		data[i] = (uint8_t)(v >> (8 * (offset + i)));
}

int pm_timer_save(const struct pm_timer *t, struct state_writer *w)
{
	state_put_u32(w, pm_timer_count(t));
	return w->err;
}

int pm_timer_restore(struct pm_timer *t, struct state_reader *r, uint16_t version)
{
	uint32_t count;

	if (version != PM_TIMER_STATE_VERSION)
		state_reader_fail(r);
	count = state_get_u32(r);
	if (!r->err && state_reader_finish(r))
		state_reader_fail(r);
	/* Refused: the power-on count, from now. */
	atomic_store(&t->start, r->err ? 0 : count);
	atomic_store(&t->base_ns, t->now_ns());
	return r->err;
}

/* The counter runs through a reset, as the chipset's does. */
void pm_timer_reset(struct pm_timer *t)
{
	(void)t;
}

void pm_timer_destroy(struct pm_timer *t)
{
	(void)t;
}

VM_DEVICE_OPS_DEFINE(pm_timer, "pm-timer", PM_TIMER_STATE_VERSION);
