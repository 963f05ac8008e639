#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/bus.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
}

/* Index of the first range whose base is greater than addr. */
static unsigned upper_bound(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name)
{
	uint64_t end;
	unsigned i;

	if (!len || !fn || __builtin_add_overflow(base, len - 1, &end))
		return -EINVAL;
	i = upper_bound(bus, base);
	/* Overlap with the range before (which starts at or below base)... */
	if (i > 0 && bus->ranges[i - 1].base + (bus->ranges[i - 1].len - 1) >= base)
		return -EEXIST;
	/* ...or with the range after. */
	if (i < bus->nr && bus->ranges[i].base <= end)
		return -EEXIST;
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct bus_range){ base, len, fn, opaque, name };
	bus->nr++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned i = upper_bound(bus, addr);
	const struct bus_range *r;

	if (i == 0)
		return NULL;
	r = &bus->ranges[i - 1];
	return addr - r->base < r->len ? r : NULL;
}

bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	uint64_t off;

	if (!r || len == 0 || len > 8)
		goto unclaimed;
	off = addr - r->base;
	/* off < r->len here, so r->len - off cannot wrap; off + len could. */
	if (len > r->len - off)
		goto unclaimed;
	r->fn(r->opaque, off, data, len, is_write);
	return true;
unclaimed:
	if (!is_write && len <= 8)
		memset(data, 0xff, len);
	return false;
}
