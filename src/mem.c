#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/mem.h"

#define HUGE_2M	(2ULL << 20)

int guest_mem_init(struct guest_mem *mem, uint64_t size, bool shared,
		   enum hugepages hugepages)
{
	/* hugetlb pages must be reserved at mmap time, or a short pool means SIGBUS later. */
	int flags = hugepages == HUGEPAGES_HUGETLB ? 0 : MAP_NORESERVE;
	int fd = -1;
	void *p;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
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
		log_warn("guest memory: transparent huge pages unavailable (%s)", strerror(errno));

	mem->map = p;
	mem->map_size = size;
	mem->memfd = fd;
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
	return 0;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	if (mem->map)
		munmap(mem->map, mem->map_size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
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

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, size_t len)
{
	void *p = guest_mem_ptr(mem, gpa, len);

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
