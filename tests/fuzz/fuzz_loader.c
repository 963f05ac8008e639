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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t initrd[4096] = { 0x30, 0x37, 0x30, 0x37, 0x30, 0x31 };

	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM, 0, 0);
	fuzz_mem_init(&small, SMALL_RAM, 0, 0);
	kernel_fd = memfd("fuzz-kernel", kernel_path, sizeof(kernel_path));
	initrd_fd = memfd("fuzz-initrd", initrd_path, sizeof(initrd_path));
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
	if (!boot_load(&cfg, &mem, size & 4, &e))
		check_entry(&e);

	/* A private copy: libelf and the loaders get a writable image, as from mmap(). */
	img = malloc(size ? size : 1);
	if (!img)
		abort();
	memcpy(img, data, size);
	pieces(img, size);
	free(img);
	return 0;
}
