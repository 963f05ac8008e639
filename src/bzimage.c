/*
 * Linux bzImage through the 64-bit boot protocol (Documentation/arch/x86/
 * boot.rst): check the setup header, copy the protected-mode kernel to its
 * preferred address, fill the zero page (boot_params) and enter startup_64
 * in long mode with RSI pointing at it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kvmrun/boot.h"
#include "kvmrun/log.h"

/* Offsets in the image and in boot_params (the header sits at the same place in both). */
#define BP_ACPI_RSDP		0x070
#define BP_EXT_RAMDISK_IMAGE	0x0c0
#define BP_EXT_RAMDISK_SIZE	0x0c4
#define BP_EXT_CMD_LINE_PTR	0x0c8
#define BP_E820_ENTRIES		0x1e8
#define BP_SENTINEL		0x1ef
#define HDR_SETUP_SECTS		0x1f1
#define HDR_BOOT_FLAG		0x1fe
#define HDR_JUMP		0x200
#define HDR_MAGIC		0x202
#define HDR_VERSION		0x206
#define HDR_TYPE_OF_LOADER	0x210
#define HDR_LOADFLAGS		0x211
#define HDR_RAMDISK_IMAGE	0x218
#define HDR_RAMDISK_SIZE	0x21c
#define HDR_CMD_LINE_PTR	0x228
#define HDR_INITRD_ADDR_MAX	0x22c
#define HDR_KERNEL_ALIGNMENT	0x230
#define HDR_RELOCATABLE		0x234
#define HDR_XLOADFLAGS		0x236
#define HDR_CMDLINE_SIZE	0x238
#define HDR_SETUP_DATA		0x250
#define HDR_PREF_ADDRESS	0x258
#define HDR_INIT_SIZE		0x260
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128
#define BP_SIZE			0x1000

#define LOADED_HIGH		0x01
#define XLF_KERNEL_64		0x0001
#define PROTOCOL_MIN		0x020c	/* 2.12: XLF_KERNEL_64, the 64-bit entry */
#define LOADER_UNDEFINED	0xff
#define SETUP_RNG_SEED		9
#define RNG_SEED_LEN		32
#define STARTUP_64_OFFSET	0x200

static uint16_t rd16(const uint8_t *p, size_t off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static uint32_t rd32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t rd64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }
static void wr32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void wr64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

int bzimage_parse(const uint8_t *img, size_t size, const struct guest_mem *mem,
		  struct bzimage_info *bi)
{
	unsigned sects;
	uint64_t need, end;

	memset(bi, 0, sizeof(*bi));
	if (size < HDR_INIT_SIZE + 4 || memcmp(img + HDR_MAGIC, "HdrS", 4)) {
		log_err("kernel: bzImage too short or without a setup header");
		return -ENOEXEC;
	}
	if (rd16(img, HDR_BOOT_FLAG) != 0xaa55) {
		log_err("kernel: bzImage boot sector lacks its 0xAA55 signature");
		return -ENOEXEC;
	}
	bi->version = rd16(img, HDR_VERSION);
	if (bi->version < PROTOCOL_MIN) {
		log_err("kernel: boot protocol %u.%02u is too old: kvmrun needs 2.12 or later "
			"(Linux 3.8+) for the 64-bit entry", bi->version >> 8, bi->version & 0xff);
		return -ENOEXEC;
	}
	bi->loadflags = img[HDR_LOADFLAGS];
	bi->xloadflags = rd16(img, HDR_XLOADFLAGS);
	bi->relocatable = img[HDR_RELOCATABLE];
	bi->kernel_alignment = rd32(img, HDR_KERNEL_ALIGNMENT);
	bi->initrd_addr_max = rd32(img, HDR_INITRD_ADDR_MAX);
	bi->cmdline_size = rd32(img, HDR_CMDLINE_SIZE);
	bi->pref_address = rd64(img, HDR_PREF_ADDRESS);
	bi->init_size = rd32(img, HDR_INIT_SIZE);
	if (!(bi->xloadflags & XLF_KERNEL_64)) {
		log_err("kernel: bzImage has no 64-bit entry point (a 32-bit kernel?)");
		return -ENOEXEC;
	}
	if (!(bi->loadflags & LOADED_HIGH)) {
		log_err("kernel: zImage kernels (loaded below 1 MiB) are not supported");
		return -ENOEXEC;
	}
	sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	bi->setup_size = (size_t)(sects + 1) * 512;
	bi->hdr_end = HDR_MAGIC + img[HDR_JUMP + 1];
	if (bi->setup_size >= size || bi->hdr_end > BP_SIZE || bi->hdr_end > bi->setup_size ||
	    bi->hdr_end < HDR_INIT_SIZE + 4) {
		log_err("kernel: bzImage setup header is inconsistent (setup %zu bytes, file %zu)",
			bi->setup_size, size);
		return -ENOEXEC;
	}
	if (bi->kernel_alignment & (bi->kernel_alignment - 1)) {
		log_err("kernel: bzImage kernel_alignment 0x%x is not a power of two",
			bi->kernel_alignment);
		return -ENOEXEC;
	}
	/* The preferred address is where the kernel was linked; take it whenever it is sane. */
	bi->load_addr = bi->pref_address;
	if (bi->load_addr < KERNEL_MIN_ADDR ||
	    (bi->kernel_alignment && (bi->load_addr & (bi->kernel_alignment - 1)))) {
		if (!bi->relocatable) {
			log_err("kernel: bzImage wants to load at 0x%llx and is not relocatable",
				(unsigned long long)bi->pref_address);
			return -ENOEXEC;
		}
		bi->load_addr = 0x1000000;	/* 16 MiB, the usual default */
	}
	need = bi->init_size > size - bi->setup_size ? bi->init_size : size - bi->setup_size;
	if (__builtin_add_overflow(bi->load_addr, need, &end) ||
	    !guest_mem_ptr(mem, bi->load_addr, need)) {
		log_err("kernel: bzImage needs RAM up to 0x%llx, more than the guest has - "
			"give more --memory", (unsigned long long)(bi->load_addr + need));
		return -ENOEXEC;
	}
	bi->load_end = end;
	return 0;
}

int bzimage_load(const uint8_t *img, size_t size, const struct bzimage_info *bi,
		 struct guest_mem *mem, const struct boot_extras *x, struct boot_entry *entry)
{
	struct mem_map_entry map[MEM_MAP_MAX];
	uint8_t zp[BP_SIZE];
	size_t len = strlen(x->cmdline);
	unsigned n;
	int r;

	if (bi->cmdline_size && len > bi->cmdline_size) {
		log_err("kernel: command line is %zu bytes, this kernel takes %u", len,
			bi->cmdline_size);
		return -E2BIG;
	}
	uint8_t *dst = guest_mem_ptr(mem, bi->load_addr, size - bi->setup_size);

	if (!dst)
		return -EFAULT;		/* bzimage_parse() checked this; keep the invariant local */
	memcpy(dst, img + bi->setup_size, size - bi->setup_size);

	memset(zp, 0, sizeof(zp));
	memcpy(zp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, bi->hdr_end - HDR_SETUP_SECTS);
	zp[BP_SENTINEL] = 0;
	zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	wr32(zp, HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	wr32(zp, BP_EXT_CMD_LINE_PTR, 0);
	if (x->initrd_size) {
		wr32(zp, HDR_RAMDISK_IMAGE, (uint32_t)x->initrd_addr);
		wr32(zp, HDR_RAMDISK_SIZE, (uint32_t)x->initrd_size);
		wr32(zp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(x->initrd_addr >> 32));
		wr32(zp, BP_EXT_RAMDISK_SIZE, (uint32_t)(x->initrd_size >> 32));
	}
	if (x->rsdp)
		wr64(zp, BP_ACPI_RSDP, x->rsdp);
	n = guest_mem_map(mem, map, MEM_MAP_MAX);
	for (unsigned i = 0; i < n && i < BP_E820_MAX; i++) {
		uint8_t *e = zp + BP_E820_TABLE + i * 20;

		wr64(e, 0, map[i].addr);
		wr64(e, 8, map[i].size);
		wr32(e, 16, map[i].type);
	}
	zp[BP_E820_ENTRIES] = (uint8_t)n;

	/* A boot-time seed: without RDRAND the kernel would spend long emulated seconds gathering entropy. */
	if (bi->version >= 0x0209) {
		uint8_t sd[16 + RNG_SEED_LEN];
		uint32_t type = SETUP_RNG_SEED, slen = RNG_SEED_LEN;

		memset(sd, 0, 16);
		memcpy(sd + 8, &type, 4);
		memcpy(sd + 12, &slen, 4);
		if (getrandom(sd + 16, RNG_SEED_LEN, 0) == RNG_SEED_LEN &&
		    !guest_mem_write(mem, BOOT_SETUP_DATA_ADDR, sd, sizeof(sd)))
			wr64(zp, HDR_SETUP_DATA, BOOT_SETUP_DATA_ADDR);
		memset(sd, 0, sizeof(sd));
	}

	r = guest_mem_write(mem, BOOT_ZERO_PAGE_ADDR, zp, sizeof(zp));
	if (!r)
		r = boot_write_cmdline(mem, x->cmdline, 0);
	if (!r)
		r = boot_write_page_tables(mem);
	if (r)
		return r;
	entry->mode = BOOT_MODE_LONG64;
	entry->rip = bi->load_addr + STARTUP_64_OFFSET;
	entry->rsi = BOOT_ZERO_PAGE_ADDR;
	snprintf(entry->protocol_buf, sizeof(entry->protocol_buf), "Linux boot protocol %u.%02u",
		 bi->version >> 8, bi->version & 0xff);
	entry->protocol = entry->protocol_buf;
	return 0;
}
