/* Kernel loading and boot protocols (PVH, multiboot v1). */
#ifndef KVMRUN_BOOT_H
#define KVMRUN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/config.h"
#include "kvmrun/device.h"
#include "kvmrun/mem.h"

/* Low memory kvmrun fills with boot data; kernels may not load here. */
#define BOOT_GDT_ADDR		0x5000ULL	/* flat GDT matching the entry segments */
#define BOOT_INFO_ADDR		0x6000ULL	/* start info / multiboot info + memory map */
#define BOOT_ZERO_PAGE_ADDR	0x6000ULL	/* bzImage: boot_params */
#define BOOT_NAME_ADDR		0x7000ULL	/* boot loader name */
#define BOOT_SETUP_DATA_ADDR	0x9000ULL	/* bzImage: setup_data (RNG seed) */
#define BOOT_MODLIST_ADDR	0xa000ULL	/* PVH module list / multiboot modules */
#define BOOT_PT_ADDR		0x10000ULL	/* 64-bit entry: PML4, PDPT, 4 PDs */
#define BOOT_PT_END		0x16000ULL
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_DATA_START		BOOT_GDT_ADDR
#define BOOT_DATA_END		(BOOT_CMDLINE_ADDR + CMDLINE_MAX)
#define BOOT_DATA_LEN		(BOOT_DATA_END - BOOT_DATA_START)
/* A bzImage loads at or above 1 MiB; ELF and multiboot kernels may load lower. */
#define KERNEL_MIN_ADDR		0x100000ULL
/*
 * Below 1 MiB, kernel segments stay in conventional memory: 0xA0000 up holds
 * the ACPI tables and is reserved in the memory map.  The boot data block moves
 * (boot_entry.boot_shift) out of the way of a kernel that loads over it.
 */
#define LOW_RAM_END		0xa0000ULL

enum boot_mode {
	BOOT_MODE_PROT32,	/* flat 32-bit protected mode, paging off */
	BOOT_MODE_LONG64,	/* 64-bit mode, first 4 GiB identity mapped at BOOT_PT_ADDR */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rax, rbx, rsi;
	const char *protocol;	/* "PVH", "multiboot", "Linux boot protocol 2.15" */
	int64_t boot_shift;	/* boot_extras.boot_shift: where the GDT went */
	char protocol_buf[40];
};

/* What the VMM hands every protocol besides the kernel. */
struct boot_extras {
	const char *cmdline;
	uint64_t initrd_addr, initrd_size;	/* size 0: no initrd */
	uint64_t rsdp;				/* 0: no ACPI */
	/* Added to every BOOT_*_ADDR: 0, or where a low kernel left room for the block. */
	int64_t boot_shift;
};

/* bzImage setup header, checked (Documentation/arch/x86/boot.rst). */
struct bzimage_info {
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment, initrd_addr_max, cmdline_size, init_size;
	uint64_t pref_address;
	size_t setup_size;		/* boot sector + setup code: the kernel follows */
	size_t hdr_end;			/* end of the setup header in the file */
	uint64_t load_addr;		/* where the protected-mode kernel goes */
	uint64_t load_end;		/* load_addr + the larger of init_size and the kernel */
};

/* What was found in an ELF kernel. */
struct elf_info {
	uint64_t entry;			/* ELF e_entry */
	bool has_pvh;
	uint64_t pvh_entry;
	bool is_linux;			/* has "Linux" ELF notes: a vmlinux */
	uint64_t load_start, load_end;	/* physical span of PT_LOAD segments */
};

/*
 * Loads cfg->kernel into guest memory and writes the boot information its
 * protocol asks for: ACPI tables and command-line additions come from desc,
 * the machine the builder made (NULL: no devices to tell of).  Logs one line
 * and returns a negative errno on failure.
 */
int boot_load(const struct vm_config *cfg, struct guest_mem *mem, bool pvm,
	      const struct machine_desc *desc, struct boot_entry *entry);

/*
 * Prepended to a Linux command line on PVM hosts.  PVM reports the host's
 * CPUID leaves 1 and 7 whatever the VMM sets, so Linux must be told on its
 * command line not to use what KVM's emulator cannot execute (xsave and the
 * AVX family through noxsave; clearcpuid= takes at most 127 characters).
 */
#define PVM_LINUX_ARGS "noxsave clearcpuid=cx16,popcnt,smap,sse4_1,sse4_2,ssse3,movbe," \
	"bmi1,bmi2,adx,fsgsbase,rdrand,rdseed,invpcid,pcid,erms,fsrm,rdtscp,rdpid"

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
int multiboot_setup(struct guest_mem *mem, const char *cmdline, const struct boot_extras *x,
		    struct boot_entry *entry);

int pvh_setup(struct guest_mem *mem, const struct boot_extras *x, struct boot_entry *entry);

/* 0, or -ENOEXEC after logging what is wrong with the image. */
int bzimage_parse(const uint8_t *img, size_t size, const struct guest_mem *mem,
		  struct bzimage_info *bi);
int bzimage_load(const uint8_t *img, size_t size, const struct bzimage_info *bi,
		 struct guest_mem *mem, const struct boot_extras *x, struct boot_entry *entry);

/*
 * Places the initrd file in the highest free RAM below limit and above
 * kernel_end.  Sets x->initrd_addr/size; logs and returns <0 on failure.
 */
int initrd_load(const char *path, struct guest_mem *mem, uint64_t kernel_end, uint64_t limit,
		struct boot_extras *x);

/* Identity page tables for the first 4 GiB at BOOT_PT_ADDR (64-bit entry). */
int boot_write_page_tables(struct guest_mem *mem);

/* Writes the NUL-terminated command line at BOOT_CMDLINE_ADDR + shift. */
int boot_write_cmdline(struct guest_mem *mem, const char *cmdline, int64_t shift);

/*
 * The boot_shift for a kernel spanning [start, end): 0 when it leaves the
 * block's usual place free, else a place above it (or below) in conventional
 * memory; -ENOSPC when low RAM has no room beside it.
 */
int boot_shift_for(uint64_t start, uint64_t end, int64_t *shift);

#endif
