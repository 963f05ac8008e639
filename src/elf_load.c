/*
 * ELF kernels: program headers through libelf, PT_LOAD segments copied to
 * their physical addresses, the PVH entry found in the Xen ELF notes.
 * The image is hostile: every offset and size is checked before use.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>

#include "kvmrun/boot.h"
#include "kvmrun/log.h"
#include "kvmrun/pvh.h"

static bool range_in_file(uint64_t off, uint64_t len, size_t size)
{
	uint64_t end;

	return !__builtin_add_overflow(off, len, &end) && end <= size;
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~3ULL;
}

/* Looks for the Xen PHYS32_ENTRY note in one PT_NOTE segment. */
static int scan_notes(const uint8_t *p, uint64_t len, struct elf_info *info)
{
	uint64_t off = 0;

	while (len - off >= 12) {
		uint32_t namesz, descsz, type;
		uint64_t name_off, desc_off, next;

		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		name_off = off + 12;
		desc_off = name_off + align4(namesz);
		next = desc_off + align4(descsz);
		if (desc_off > len || next > len)
			return -ENOEXEC;
		if (namesz == 6 && !memcmp(p + name_off, "Linux", 6))
			info->is_linux = true;
		if (namesz == 4 && !memcmp(p + name_off, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t entry = 0;

			if (descsz != 4 && descsz != 8)
				return -ENOEXEC;
			memcpy(&entry, p + desc_off, descsz);
			info->has_pvh = true;
			info->pvh_entry = entry;
		}
		off = next;
	}
	return 0;
}

/* Walks the program headers; with mem != NULL also loads the segments. */
static int elf_walk(const uint8_t *img, size_t size, struct guest_mem *mem,
		    struct elf_info *info)
{
	GElf_Ehdr eh;
	size_t phnum;
	Elf *e;
	int r = -ENOEXEC;

	memset(info, 0, sizeof(*info));
	info->load_start = UINT64_MAX;
	if (size < SELFMAG || memcmp(img, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (size < sizeof(Elf64_Ehdr) && (size < EI_NIDENT || img[EI_CLASS] != ELFCLASS32 ||
					   size < sizeof(Elf32_Ehdr))) {
		log_err("kernel: truncated ELF header (%zu bytes)", size);
		return -ENOEXEC;
	}
	/* libelf may convert a foreign byte order in place; x86 kernels are little endian. */
	if (img[EI_DATA] != ELFDATA2LSB) {
		log_err("kernel: not a little-endian ELF file");
		return -ENOEXEC;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		log_err("kernel: libelf is unusable: %s", elf_errmsg(-1));
		return -ENOEXEC;
	}
	e = elf_memory((char *)img, size);
	if (!e) {
		log_err("kernel: unreadable ELF file: %s", elf_errmsg(-1));
		return -ENOEXEC;
	}
	if (!gelf_getehdr(e, &eh) || elf_getphdrnum(e, &phnum) != 0) {
		log_err("kernel: broken ELF header: %s", elf_errmsg(-1));
		goto out;
	}
	if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64) {
		log_err("kernel: ELF file for machine %u, not x86", eh.e_machine);
		goto out;
	}
	if (eh.e_type != ET_EXEC) {
		log_err("kernel: ELF file is not an executable (type %u)", eh.e_type);
		goto out;
	}
	/* Section headers come last: a file cut short (a partial copy) loses them first. */
	if (eh.e_shoff && !range_in_file(eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize, size)) {
		log_err("kernel: truncated ELF file (its section headers end past %zu bytes)", size);
		goto out;
	}
	info->entry = eh.e_entry;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		uint64_t end;

		if (!gelf_getphdr(e, (int)i, &ph)) {
			log_err("kernel: broken ELF program header %zu", i);
			goto out;
		}
		if (ph.p_type == PT_NOTE) {
			if (!range_in_file(ph.p_offset, ph.p_filesz, size)) {
				log_err("kernel: ELF note segment %zu lies outside the file", i);
				goto out;
			}
			if (scan_notes(img + ph.p_offset, ph.p_filesz, info)) {
				log_err("kernel: malformed ELF note in segment %zu", i);
				goto out;
			}
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || !range_in_file(ph.p_offset, ph.p_filesz, size) ||
		    __builtin_add_overflow(ph.p_paddr, ph.p_memsz, &end)) {
			log_err("kernel: ELF segment %zu has impossible offsets or sizes", i);
			goto out;
		}
		if (ph.p_paddr < info->load_start)
			info->load_start = ph.p_paddr;
		if (end > info->load_end)
			info->load_end = end;
		if (!mem)
			continue;
		/* Low segments stay in conventional memory: the boot data then moves aside. */
		if (ph.p_paddr < KERNEL_MIN_ADDR && end > LOW_RAM_END) {
			log_err("kernel: ELF segment %zu at 0x%llx-0x%llx crosses 0x%llx (ACPI and "
				"reserved)", i, (unsigned long long)ph.p_paddr, (unsigned long long)end,
				(unsigned long long)LOW_RAM_END);
			goto out;
		}
		uint8_t *dst = guest_mem_ptr(mem, ph.p_paddr, ph.p_memsz);

		if (!dst) {
			log_err("kernel: ELF segment %zu (0x%llx-0x%llx) does not fit in guest RAM "
				"(%llu MiB) - give more --memory",
				i, (unsigned long long)ph.p_paddr, (unsigned long long)end,
				(unsigned long long)(mem->total >> 20));
			goto out;
		}
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}
	if (info->load_start == UINT64_MAX) {
		log_err("kernel: ELF file has nothing to load");
		goto out;
	}
	r = 0;
out:
	elf_end(e);
	return r;
}

int elf_probe(const uint8_t *img, size_t size, struct elf_info *info)
{
	return elf_walk(img, size, NULL, info);
}

int elf_load(const uint8_t *img, size_t size, struct guest_mem *mem, struct elf_info *info)
{
	return elf_walk(img, size, mem, info);
}
