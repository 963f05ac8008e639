/*
 * The kernel loaders through boot_load() (src/boot.c), exactly as kvmrun
 * uses them: the input is the kernel file (a memfd), probed as a bzImage,
 * an ELF with a PVH note (libelf) or a multiboot kernel (ELF or a.out
 * kludge), loaded into 32 MiB of guest RAM with an initrd placed above it,
 * the ACPI tables and the boot information written.  Then the pieces on
 * the in-memory image, with a smaller RAM: bzimage_parse/load, elf_probe/
 * load, multiboot_find/load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/boot.h"
#include "kvmrun/multiboot.h"

#define RAM		(32ULL << 20)
#define SMALL_RAM	(4ULL << 20)

static struct guest_mem mem, small;
static int kernel_fd = -1, initrd_fd = -1;
static char kernel_path[64], initrd_path[64];

static int memfd(const char *name, char *path, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

#define INITRD_SIZE	0x1800	/* not a multiple of pages: the tail matters too */

static void initrd_pattern(uint8_t *p)
{
	for (unsigned i = 0; i < INITRD_SIZE; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 8) + 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t initrd[INITRD_SIZE];

	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM, 0, 0);
	fuzz_mem_init(&small, SMALL_RAM, 0, 0);
	kernel_fd = memfd("fuzz-kernel", kernel_path, sizeof(kernel_path));
	initrd_fd = memfd("fuzz-initrd", initrd_path, sizeof(initrd_path));
	initrd_pattern(initrd);
	if (write(initrd_fd, initrd, sizeof(initrd)) != sizeof(initrd))
		abort();
	return 0;
}

static void check_entry(const struct boot_entry *e)
{
	FUZZ_CHECK(e->protocol && (e->mode == BOOT_MODE_PROT32 || e->mode == BOOT_MODE_LONG64),
		   "entry without protocol or mode");
	/* The vCPU starts there with paging off (PROT32) or the first 4 GiB mapped. */
	FUZZ_CHECK(e->rip < MEM_HOLE_START, "entry point 0x%llx", (unsigned long long)e->rip);
}

/* The loaders on the image in memory, into RAM too small for most kernels. */
static void pieces(const uint8_t *img, size_t size)
{
	struct boot_extras x = { .cmdline = "console=ttyS0", .initrd_addr = 0x180000,
				 .initrd_size = 0x1000 };
	struct bzimage_info bi;
	struct elf_info info;
	struct boot_entry e;
	struct mb_header mb;
	uint64_t entry;

	if (!bzimage_parse(img, size, &small, &bi)) {
		FUZZ_CHECK(guest_mem_ptr(&small, bi.load_addr, size - bi.setup_size),
			   "bzImage accepted at 0x%llx", (unsigned long long)bi.load_addr);
		memset(&e, 0, sizeof(e));
		if (!bzimage_load(img, size, &bi, &small, &x, &e))
			check_entry(&e);
	}
	if (!elf_probe(img, size, &info))
		FUZZ_CHECK(info.load_start < info.load_end, "ELF loads [0x%llx, 0x%llx)",
			   (unsigned long long)info.load_start, (unsigned long long)info.load_end);
	elf_load(img, size, &small, &info);
	if (multiboot_find(img, size, &mb) == 1) {
		FUZZ_CHECK(mb.offset + 12 <= size && mb.offset < MB_SEARCH, "header at %zu",
			   mb.offset);
		multiboot_load(img, size, &mb, &small, &entry);
	}
}

/* Where the kernel's image and its bss / init_size lie, as its own header says. */
static void kernel_span(const uint8_t *img, size_t size, const struct boot_entry *e,
			uint64_t *start, uint64_t *end)
{
	struct bzimage_info bi;
	struct elf_info info;
	struct mb_header mb;

	*start = *end = 0;
	if (!strncmp(e->protocol, "Linux", 5)) {
		FUZZ_CHECK(!bzimage_parse(img, size, &mem, &bi), "loaded bzImage does not parse");
		*start = bi.load_addr;
		*end = bi.load_addr + (bi.init_size > size - bi.setup_size ? bi.init_size :
				       size - bi.setup_size);
	} else if (!strcmp(e->protocol, "multiboot") && multiboot_find(img, size, &mb) == 1 &&
		   (mb.flags & MB_FLAG_AOUT_KLUDGE)) {
		uint64_t file_off = mb.offset - (mb.header_addr - mb.load_addr);

		*start = mb.load_addr;
		*end = mb.load_end_addr ? mb.load_end_addr : mb.load_addr + (size - file_off);
		if (mb.bss_end_addr > *end)
			*end = mb.bss_end_addr;
	} else if (!elf_probe(img, size, &info)) {
		*start = info.load_start;
		*end = info.load_end;
	}
}

/* The initrd the protocol told the kernel about: in RAM, intact, clear of the kernel. */
static void check_initrd(const uint8_t *img, size_t size, const struct boot_entry *e)
{
	uint8_t want[INITRD_SIZE];
	uint64_t addr = 0, kstart, kend;
	const uint8_t *p;

	if (!strncmp(e->protocol, "Linux", 5)) {
		uint32_t lo, hi;

		guest_mem_read(&mem, BOOT_ZERO_PAGE_ADDR + 0x218, &lo, 4);
		guest_mem_read(&mem, BOOT_ZERO_PAGE_ADDR + 0xc0, &hi, 4);
		addr = (uint64_t)hi << 32 | lo;
	} else {
		/* PVH's module list and multiboot's module 0 both start with the address. */
		uint32_t lo;

		/* Where a low kernel moved the boot data (boot_shift), the list moved too. */
		guest_mem_read(&mem, BOOT_MODLIST_ADDR + (uint64_t)e->boot_shift, &lo, 4);
		addr = lo;
	}
	p = guest_mem_ptr(&mem, addr, INITRD_SIZE);
	FUZZ_CHECK(p, "initrd at 0x%llx is not in RAM", (unsigned long long)addr);
	initrd_pattern(want);
	FUZZ_CHECK(!memcmp(p, want, INITRD_SIZE), "initrd at 0x%llx was overwritten (%s)",
		   (unsigned long long)addr, e->protocol);
	kernel_span(img, size, e, &kstart, &kend);
	FUZZ_CHECK(addr >= kend || addr + INITRD_SIZE <= kstart,
		   "initrd [0x%llx, 0x%llx) overlaps the kernel [0x%llx, 0x%llx) (%s)",
		   (unsigned long long)addr, (unsigned long long)addr + INITRD_SIZE,
		   (unsigned long long)kstart, (unsigned long long)kend, e->protocol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	struct boot_entry e;
	uint8_t *img;

	if (ftruncate(kernel_fd, 0) || pwrite(kernel_fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.cmd = CMD_RUN;
	cfg.kernel = kernel_path;
	cfg.cpus = 1;
	cfg.mem_size = RAM;
	cfg.transport = TRANSPORT_PCI;
	/* Both with and without an initrd and the PVM arguments, picked by the size. */
	cfg.initrd = (size & 1) ? initrd_path : NULL;
	cfg.append = (size & 2) ? NULL : "console=ttyS0 panic=-1";
	/* A private copy: libelf and the loaders get a writable image, as from mmap(). */
	img = malloc(size ? size : 1);
	if (!img)
		abort();
	memcpy(img, data, size);
	if (!boot_load(&cfg, &mem, size & 4, NULL, &e)) {
		check_entry(&e);
		if (cfg.initrd)
			check_initrd(img, size, &e);
	}
	pieces(img, size);
	free(img);
	return 0;
}
