/*
 * Guest physical memory: host mappings and the only way to reach them.
 * Every guest address is hostile: the accessors check gpa + len for overflow
 * and against the memory map before any host pointer exists.
 */
#ifndef KVMRUN_MEM_H
#define KVMRUN_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/* x86 layout: RAM up to the 32-bit MMIO hole, the rest from 4 GiB up. */
#define MEM_HOLE_START	0xc0000000ULL
#define MEM_HOLE_END	0x100000000ULL

#define MEM_MAX_REGIONS	2

enum hugepages { HUGEPAGES_NONE, HUGEPAGES_THP, HUGEPAGES_HUGETLB };

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct mem_region region[MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t total;
	uint8_t *map;		/* one host mapping behind all regions */
	size_t map_size;
	int memfd;		/* -1 unless --mem-shared */
	/* Restored RAM: the snapshot file mapped copy-on-write behind map (-1: none). */
	int backing_fd;
	uint64_t backing_off;
	bool hugetlb;
	/*
	 * Pages kvmrun itself wrote while a migration tracks dirty pages (KVM
	 * only sees the guest's writes): one bit per 4 KiB of map, set by
	 * guest_mem_ptr / guest_mem_write / guest_mem_mark_dirty while
	 * dirty_on.  Allocated by the first guest_mem_dirty_start, freed with
	 * the memory (a device may be marking when tracking ends).
	 */
	uint64_t *dirty;
	bool dirty_on;
};

/* Where restored RAM comes from: a snapshot's memory file, RAM starting at offset. */
struct mem_file {
	int fd;
	uint64_t offset;
};

/* E820 / PVH memory map entry types. */
#define E820_RAM	1
#define E820_RESERVED	2

struct mem_map_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define MEM_MAP_MAX	8

int guest_mem_init(struct guest_mem *mem, uint64_t size, bool shared,
		   enum hugepages hugepages);
/*
 * RAM from a snapshot's memory file (size bytes from offset): mapped
 * privately, so that pages load on demand and guest writes stay in this
 * process (copy-on-write).  Shared or hugetlb RAM cannot map a file that
 * way: it is created as guest_mem_init does and the file's data is copied
 * in.  0 or -errno after one logged line.
 */
int guest_mem_init_file(struct guest_mem *mem, uint64_t size, bool shared,
			enum hugepages hugepages, const struct mem_file *f);
void guest_mem_destroy(struct guest_mem *mem);

/*
 * Host pointer for [gpa, gpa + len) if it lies inside one RAM region, else
 * NULL.  The caller may write there: the range is marked dirty (above).
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/*
 * Tracking of the pages the VMM writes (migration): start clears the
 * bitmap and turns marking on (0 or -ENOMEM), stop turns it off.  Marks
 * are only ever set while on; the migration thread reads and clears them.
 */
int guest_mem_dirty_start(struct guest_mem *mem);
void guest_mem_dirty_stop(struct guest_mem *mem);
/* Marks [gpa, gpa + len) written when tracking is on; anything outside RAM is ignored. */
void guest_mem_mark_dirty(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Is the 4 KiB page at p (8-byte aligned) all zeroes?  Snapshots and migration skip those. */
bool guest_page_zero(const void *p);

/* Copy helpers: 0 or -EFAULT.  guest_mem_write marks what it writes (above). */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len);

/* The memory map the guest is told about (E820 style).  Returns entry count. */
unsigned guest_mem_map(const struct guest_mem *mem, struct mem_map_entry *map,
		       unsigned max);

#endif
