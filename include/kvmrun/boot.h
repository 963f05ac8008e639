/* Kernel loading and boot protocols (PVH, multiboot v1). */
#ifndef KVMRUN_BOOT_H
#define KVMRUN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/config.h"
#include "kvmrun/mem.h"

/* Low memory kvmrun fills with boot data; kernels may not load here. */
#define BOOT_GDT_ADDR		0x5000ULL	/* flat GDT matching the entry segments */
#define BOOT_INFO_ADDR		0x6000ULL	/* start info / multiboot info + memory map */
#define BOOT_NAME_ADDR		0x7000ULL	/* boot loader name */
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_DATA_START		BOOT_GDT_ADDR
#define BOOT_DATA_END		(BOOT_CMDLINE_ADDR + CMDLINE_MAX)
/* Kernels load at or above 1 MiB (below is real-mode and firmware land). */
#define KERNEL_MIN_ADDR		0x100000ULL

enum boot_mode {
	BOOT_MODE_PROT32,	/* flat 32-bit protected mode, paging off */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rax, rbx, rsi;
	const char *protocol;	/* "PVH", "multiboot" */
};

/* What was found in an ELF kernel. */
struct elf_info {
	uint64_t entry;			/* ELF e_entry */
	bool has_pvh;
	uint64_t pvh_entry;
	uint64_t load_start, load_end;	/* physical span of PT_LOAD segments */
};

/*
 * Loads cfg->kernel into guest memory and writes the boot information its
 * protocol asks for.  Logs one line and returns a negative errno on failure.
 */
int boot_load(const struct vm_config *cfg, struct guest_mem *mem, struct boot_entry *entry);

/* The pieces, exposed for unit and fuzz tests.  They parse in-memory images. */
int elf_load(const uint8_t *img, size_t size, struct guest_mem *mem, struct elf_info *info);
int elf_probe(const uint8_t *img, size_t size, struct elf_info *info);

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
	size_t offset;			/* where in the file the header stands */
};

/* 1 and *hdr filled when img has a valid multiboot header, 0 when none, <0 when broken. */
int multiboot_find(const uint8_t *img, size_t size, struct mb_header *hdr);
int multiboot_load(const uint8_t *img, size_t size, const struct mb_header *hdr,
		   struct guest_mem *mem, uint64_t *entry);
int multiboot_setup(struct guest_mem *mem, const char *cmdline, struct boot_entry *entry);

int pvh_setup(struct guest_mem *mem, const char *cmdline, struct boot_entry *entry);

/* Writes the NUL-terminated command line at BOOT_CMDLINE_ADDR. */
int boot_write_cmdline(struct guest_mem *mem, const char *cmdline);

#endif
