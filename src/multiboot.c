/*
 * Multiboot v1: find and check the header, load the image (ELF or a.out
 * kludge addresses), and build the information structure a kernel receives
 * in EBX with EAX = 0x2badb002, in 32-bit protected mode with paging off.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kvmrun/boot.h"
#include "kvmrun/log.h"
#include "kvmrun/multiboot.h"

int multiboot_find(const uint8_t *img, size_t size, struct mb_header *hdr)
{
	size_t limit = size < MB_SEARCH ? size : MB_SEARCH;

	for (size_t off = 0; off + 12 <= limit; off += 4) {
		uint32_t w[8];

		memcpy(w, img + off, 12);
		if (w[0] != MB_HEADER_MAGIC || (uint32_t)(w[0] + w[1] + w[2]) != 0)
			continue;
		memset(hdr, 0, sizeof(*hdr));
		hdr->magic = w[0];
		hdr->flags = w[1];
		hdr->checksum = w[2];
		hdr->offset = off;
		if ((hdr->flags & 0xffff) & ~MB_FLAGS_KNOWN) {
			log_err("kernel: multiboot header requires features kvmrun does not know (flags 0x%x)",
				hdr->flags);
			return -ENOTSUP;
		}
		if (hdr->flags & MB_FLAG_AOUT_KLUDGE) {
			if (off + sizeof(w) > size) {
				log_err("kernel: truncated multiboot header");
				return -ENOEXEC;
			}
			memcpy(w, img + off, sizeof(w));
			hdr->header_addr = w[3];
			hdr->load_addr = w[4];
			hdr->load_end_addr = w[5];
			hdr->bss_end_addr = w[6];
			hdr->entry_addr = w[7];
		}
		return 1;
	}
	return 0;
}

int multiboot_load(const uint8_t *img, size_t size, const struct mb_header *hdr,
		   struct guest_mem *mem, uint64_t *entry)
{
	struct elf_info info;
	uint64_t file_off, load_len, mem_len;
	uint8_t *dst;
	int r;

	if (!(hdr->flags & MB_FLAG_AOUT_KLUDGE)) {
		r = elf_load(img, size, mem, &info);
		if (r)
			return r;
		*entry = info.entry;
		return 0;
	}
	/* The a.out kludge: the header says where the file goes. */
	if (hdr->load_addr > hdr->header_addr ||
	    hdr->header_addr - hdr->load_addr > hdr->offset) {
		log_err("kernel: multiboot load address lies after its header");
		return -ENOEXEC;
	}
	file_off = hdr->offset - (hdr->header_addr - hdr->load_addr);
	if (hdr->load_end_addr) {
		if (hdr->load_end_addr < hdr->load_addr) {
			log_err("kernel: multiboot load_end_addr is below load_addr");
			return -ENOEXEC;
		}
		load_len = (uint64_t)hdr->load_end_addr - hdr->load_addr;
	} else {
		load_len = size - file_off;
	}
	if (file_off + load_len > size) {
		log_err("kernel: multiboot image is shorter than its header says");
		return -ENOEXEC;
	}
	mem_len = load_len;
	if (hdr->bss_end_addr) {
		if (hdr->bss_end_addr < hdr->load_addr + load_len) {
			log_err("kernel: multiboot bss_end_addr is below the loaded image");
			return -ENOEXEC;
		}
		mem_len = (uint64_t)hdr->bss_end_addr - hdr->load_addr;
	}
	if (hdr->load_addr < KERNEL_MIN_ADDR && hdr->load_addr + mem_len > LOW_RAM_END) {
		log_err("kernel: multiboot image at 0x%x-0x%llx crosses 0x%llx (ACPI and reserved)",
			hdr->load_addr, (unsigned long long)(hdr->load_addr + mem_len),
			(unsigned long long)LOW_RAM_END);
		return -ENOEXEC;
	}
	dst = guest_mem_ptr(mem, hdr->load_addr, mem_len);
	if (!dst) {
		log_err("kernel: multiboot image does not fit in guest RAM - give more --memory");
		return -ENOEXEC;
	}
	memcpy(dst, img + file_off, load_len);
	memset(dst + load_len, 0, mem_len - load_len);
	*entry = hdr->entry_addr;
	return 0;
}

int multiboot_setup(struct guest_mem *mem, const char *cmdline, const struct boot_extras *x,
		    struct boot_entry *entry)
{
	static const char loader_name[] = "kvmrun " KVMRUN_VERSION;
	struct mem_map_entry map[MEM_MAP_MAX];
	struct mb_mmap_entry mm[MEM_MAP_MAX];
	struct mb_info mbi;
	uint64_t shift = (uint64_t)x->boot_shift;
	uint64_t mmap_addr = (BOOT_INFO_ADDR + shift + sizeof(mbi) + 7) & ~7ULL;
	unsigned n = guest_mem_map(mem, map, MEM_MAP_MAX);
	int r;

	memset(&mbi, 0, sizeof(mbi));
	mbi.flags = MB_INFO_MEMORY | MB_INFO_MEM_MAP | MB_INFO_LOADER_NAME | MB_INFO_CMDLINE;
	mbi.mem_lower = 639;
	/* KiB of contiguous RAM from 1 MiB up (the field is 32 bits of KiB). */
	mbi.mem_upper = (uint32_t)((mem->region[0].size - KERNEL_MIN_ADDR) >> 10);
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct mb_mmap_entry){ 20, map[i].addr, map[i].size, map[i].type };
	mbi.mmap_addr = (uint32_t)mmap_addr;
	mbi.mmap_length = (uint32_t)(n * sizeof(mm[0]));
	mbi.boot_loader_name = BOOT_NAME_ADDR + (uint32_t)shift;
	mbi.cmdline = BOOT_CMDLINE_ADDR + (uint32_t)shift;
	if (x->initrd_size) {
		/* The initrd is module 0: start, end, no string. */
		uint32_t mod[4] = { (uint32_t)x->initrd_addr,
				    (uint32_t)(x->initrd_addr + x->initrd_size), 0, 0 };

		if (guest_mem_write(mem, BOOT_MODLIST_ADDR + shift, mod, sizeof(mod)))
			return -EFAULT;
		mbi.flags |= MB_INFO_MODS;
		mbi.mods_count = 1;
		mbi.mods_addr = BOOT_MODLIST_ADDR + (uint32_t)shift;
	}

	r = guest_mem_write(mem, BOOT_INFO_ADDR + shift, &mbi, sizeof(mbi));
	if (!r)
		r = guest_mem_write(mem, mmap_addr, mm, n * sizeof(mm[0]));
	if (!r)
		r = guest_mem_write(mem, BOOT_NAME_ADDR + shift, loader_name, sizeof(loader_name));
	if (!r)
		r = boot_write_cmdline(mem, cmdline, x->boot_shift);
	if (r)
		return r;
	entry->mode = BOOT_MODE_PROT32;
	entry->boot_shift = x->boot_shift;
	entry->rax = MB_BOOTLOADER_MAGIC;
	entry->rbx = BOOT_INFO_ADDR + shift;
	entry->protocol = "multiboot";
	return 0;
}
