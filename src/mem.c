#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/mem.h"

#define HUGE_2M	(2ULL << 20)

static void split_regions(struct guest_mem *mem, uint8_t *p, uint64_t size);

int guest_mem_init(struct guest_mem *mem, uint64_t size, bool shared,
		   enum hugepages hugepages)
{
	/* hugetlb pages must be reserved at mmap time, or a short pool means SIGBUS later. */
	int flags = hugepages == HUGEPAGES_HUGETLB ? 0 : MAP_NORESERVE;
	int fd = -1;
	void *p;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->backing_fd = -1;
	mem->hugetlb = hugepages == HUGEPAGES_HUGETLB;
	if (size == 0 || size > (1ULL << 46))
		return -EINVAL;

	if (shared) {
		unsigned mfd_flags = MFD_CLOEXEC;

		if (hugepages == HUGEPAGES_HUGETLB)
			mfd_flags |= MFD_HUGETLB;
		fd = memfd_create("kvmrun-ram", mfd_flags);
		if (fd < 0) {
			int e = errno;

			log_err("guest memory: memfd_create: %s", strerror(e));
			return -e;
		}
		if (ftruncate(fd, (off_t)size) < 0) {
			int e = errno;

			if (hugepages == HUGEPAGES_HUGETLB)
				log_err("guest memory: cannot size a %llu MiB hugetlb memfd: %s"
					" (reserve pages in /proc/sys/vm/nr_hugepages)",
					(unsigned long long)(size >> 20), strerror(e));
			else
				log_err("guest memory: ftruncate: %s", strerror(e));
			close(fd);
			return -e;
		}
		flags |= MAP_SHARED;
	} else {
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		if (hugepages == HUGEPAGES_HUGETLB)
			flags |= MAP_HUGETLB;
	}

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		if (hugepages == HUGEPAGES_HUGETLB)
			log_err("guest memory: no %llu MiB of free 2 MiB huge pages (%s): "
				"reserve them in /proc/sys/vm/nr_hugepages or use --hugepages thp",
				(unsigned long long)(size >> 20), strerror(e));
		else
			log_err("guest memory: cannot map %llu MiB: %s",
				(unsigned long long)(size >> 20), strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (hugepages == HUGEPAGES_THP && madvise(p, size, MADV_HUGEPAGE) < 0)
		log_info("guest memory: no transparent huge pages (%s)", strerror(errno));

	mem->memfd = fd;
	split_regions(mem, p, size);
	return 0;
}

/* One host mapping of size bytes behind the RAM regions of the x86 layout. */
static void split_regions(struct guest_mem *mem, uint8_t *p, uint64_t size)
{
	mem->map = p;
	mem->map_size = size;
	mem->total = size;
	if (size <= MEM_HOLE_START) {
		mem->region[0] = (struct mem_region){ 0, size, p };
		mem->nr_regions = 1;
	} else {
		mem->region[0] = (struct mem_region){ 0, MEM_HOLE_START, p };
		mem->region[1] = (struct mem_region){ MEM_HOLE_END, size - MEM_HOLE_START,
						      (uint8_t *)p + MEM_HOLE_START };
		mem->nr_regions = 2;
	}
}

/* Copies the file's data extents into RAM that is already mapped; holes stay zero. */
static int load_file(struct guest_mem *mem, const struct mem_file *f)
{
	uint64_t off = 0;

	while (off < mem->map_size) {
		off_t data = lseek(f->fd, (off_t)(f->offset + off), SEEK_DATA);
		off_t hole;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		if ((uint64_t)data >= f->offset + mem->map_size)
			return 0;
		hole = lseek(f->fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		uint64_t end = (uint64_t)hole - f->offset;

		if (end > mem->map_size)
			end = mem->map_size;
		for (off = (uint64_t)data - f->offset; off < end;) {
			ssize_t n = pread(f->fd, mem->map + off, end - off, (off_t)(f->offset + off));

			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			off += (uint64_t)n;
		}
	}
	return 0;
}

int guest_mem_init_file(struct guest_mem *mem, uint64_t size, bool shared,
			enum hugepages hugepages, const struct mem_file *f)
{
	void *p;
	int r;

	if (shared || hugepages == HUGEPAGES_HUGETLB) {
		r = guest_mem_init(mem, size, shared, hugepages);
		if (!r && (r = load_file(mem, f)))
			log_err("guest memory: loading the snapshot's memory: %s", strerror(-r));
		return r;
	}
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->backing_fd = -1;
	if (size == 0 || size > (1ULL << 46))
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, f->fd,
		 (off_t)f->offset);
	if (p == MAP_FAILED) {
		r = -errno;
		log_err("guest memory: cannot map the snapshot's memory: %s", strerror(-r));
		return r;
	}
	mem->backing_fd = dup(f->fd);
	mem->backing_off = f->offset;
	if (mem->backing_fd < 0) {
		r = -errno;
		munmap(p, size);
		return r;
	}
	if (hugepages == HUGEPAGES_THP && madvise(p, size, MADV_HUGEPAGE) < 0)
		log_debug("guest memory: no transparent huge pages on a file mapping");
	split_regions(mem, p, size);
	return 0;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	if (mem->map)
		munmap(mem->map, mem->map_size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	/* Only an initialised mapping has a backing fd (a zeroed struct's 0 is not one). */
	if (mem->map && mem->backing_fd >= 0)
		close(mem->backing_fd);
	free(mem->dirty);
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->backing_fd = -1;
}

#define PAGE_SHIFT	12

int guest_mem_dirty_start(struct guest_mem *mem)
{
	size_t words = (mem->map_size >> PAGE_SHIFT) / 64 + 1;

	if (!mem->dirty) {
		mem->dirty = calloc(words, sizeof(uint64_t));
		if (!mem->dirty)
			return -ENOMEM;
	} else {
		for (size_t i = 0; i < words; i++)
			__atomic_store_n(&mem->dirty[i], 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&mem->dirty_on, true, __ATOMIC_SEQ_CST);
	return 0;
}

void guest_mem_dirty_stop(struct guest_mem *mem)
{
	__atomic_store_n(&mem->dirty_on, false, __ATOMIC_SEQ_CST);
}

/* Marks the map pages of [host, host + len): host lies inside the map. */
static void mark(const struct guest_mem *mem, const uint8_t *host, uint64_t len)
{
	uint64_t first, last;

	if (!len)
		return;
	first = (uint64_t)(host - mem->map) >> PAGE_SHIFT;
	last = ((uint64_t)(host - mem->map) + len - 1) >> PAGE_SHIFT;
	for (uint64_t p = first; p <= last; p++)
		__atomic_fetch_or(&mem->dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

/* The host address of [gpa, gpa + len) inside one region, without marking. */
static uint8_t *lookup(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *r = &mem->region[i];

		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

static inline bool tracking(const struct guest_mem *mem)
{
	return __atomic_load_n(&mem->dirty_on, __ATOMIC_ACQUIRE);
}

void guest_mem_mark_dirty(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint8_t *p;

	if (!mem || !tracking(mem))
		return;
	p = lookup(mem, gpa, len);
	if (p)
		mark(mem, p, len);
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	uint8_t *p = lookup(mem, gpa, len);

	if (p && tracking(mem))
		mark(mem, p, len);
	return p;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	void *p = lookup(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

/* Low memory the guest must not treat as RAM: EBDA and the BIOS area. */
#define EBDA_START	0x9fc00ULL
#define HIGH_START	0x100000ULL

unsigned guest_mem_map(const struct guest_mem *mem, struct mem_map_entry *map,
		       unsigned max)
{
	struct mem_map_entry e[MEM_MAP_MAX];
	unsigned n = 0, i;
	uint64_t low_end = mem->region[0].size;

	e[n++] = (struct mem_map_entry){ 0, EBDA_START, E820_RAM };
	e[n++] = (struct mem_map_entry){ EBDA_START, HIGH_START - EBDA_START, E820_RESERVED };
	if (low_end > HIGH_START)
		e[n++] = (struct mem_map_entry){ HIGH_START, low_end - HIGH_START, E820_RAM };
	if (mem->nr_regions > 1)
		e[n++] = (struct mem_map_entry){ mem->region[1].gpa, mem->region[1].size, E820_RAM };
	for (i = 0; i < n && i < max; i++)
		map[i] = e[i];
	return i;
}

bool guest_page_zero(const void *p)
{
	const uint64_t *q = p;
	uint64_t acc = 0;

	for (unsigned i = 0; i < 4096 / 8; i++)
		acc |= q[i];
	return !acc;
}
