/*
 * PVH boot: the kernel's 32-bit entry point (from its Xen ELF note) gets the
 * physical address of an hvm_start_info in EBX, in flat 32-bit protected mode
 * with paging off.
 */
#include <errno.h>
#include <string.h>

#include "kvmrun/boot.h"
#include "kvmrun/pvh.h"

int pvh_setup(struct guest_mem *mem, const struct boot_extras *x, struct boot_entry *entry)
{
	struct mem_map_entry map[MEM_MAP_MAX];
	struct hvm_memmap_table_entry mm[MEM_MAP_MAX];
	struct hvm_start_info si;
	uint64_t shift = (uint64_t)x->boot_shift;
	uint64_t mmap_addr = BOOT_INFO_ADDR + shift + sizeof(si);
	unsigned n = guest_mem_map(mem, map, MEM_MAP_MAX);
	int r;

	memset(&si, 0, sizeof(si));
	memset(mm, 0, sizeof(mm));
	si.magic = HVM_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = BOOT_CMDLINE_ADDR + shift;
	si.memmap_paddr = mmap_addr;
	si.memmap_entries = n;
	si.rsdp_paddr = x->rsdp;
	if (x->initrd_size) {
		struct hvm_modlist_entry mod = { .paddr = x->initrd_addr, .size = x->initrd_size };

		if (guest_mem_write(mem, BOOT_MODLIST_ADDR + shift, &mod, sizeof(mod)))
			return -EFAULT;
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_MODLIST_ADDR + shift;
	}
	for (unsigned i = 0; i < n; i++) {
		mm[i].addr = map[i].addr;
		mm[i].size = map[i].size;
		mm[i].type = map[i].type;
	}
	r = guest_mem_write(mem, BOOT_INFO_ADDR + shift, &si, sizeof(si));
	if (!r)
		r = guest_mem_write(mem, mmap_addr, mm, n * sizeof(mm[0]));
	if (!r)
		r = boot_write_cmdline(mem, x->cmdline, x->boot_shift);
	if (r)
		return r;
	entry->mode = BOOT_MODE_PROT32;
	entry->boot_shift = x->boot_shift;
	entry->rbx = BOOT_INFO_ADDR + shift;
	entry->protocol = "PVH";
	return 0;
}
