/*
 * Address-range buses for port I/O and MMIO.  Devices register ranges during
 * set-up; lookup is a binary search over the sorted ranges and needs no lock,
 * because the table does not change once the vCPUs run.
 */
#ifndef KVMRUN_BUS_H
#define KVMRUN_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One handler type serves PIO and MMIO.  offset is relative to the range
 * base; data holds len bytes (1, 2, 4 or 8), little endian.  A read handler
 * fills data.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	struct bus_range *ranges;
	unsigned nr, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* 0, -EINVAL (empty or wrapping range), -EEXIST (overlap) or -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name);

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/*
 * Dispatches one access.  Returns false when no device claims addr (a read
 * then returns all-ones).  An access that straddles the end of a range is
 * handled as unclaimed.
 */
bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write);

#endif
