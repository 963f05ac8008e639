/*
 * Kernel file -> guest memory.  Picks the boot protocol from what the file
 * holds (bzImage setup header, PVH note, multiboot header), loads the kernel,
 * places the initrd above it, builds the ACPI tables and the protocol's boot
 * information.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/acpi.h"
#include "kvmrun/boot.h"
#include "kvmrun/host_file.h"
#include "kvmrun/log.h"
#include "kvmrun/multiboot.h"

int boot_write_cmdline(struct guest_mem *mem, const char *cmdline, int64_t shift)
{
	size_t len = strlen(cmdline);

	if (len >= CMDLINE_MAX)
		return -E2BIG;
	return guest_mem_write(mem, BOOT_CMDLINE_ADDR + (uint64_t)shift, cmdline, len + 1);
}

/* The lowest byte the block may use: the real-mode IVT and BIOS data area lie below. */
#define BOOT_LOW_LIMIT	0x1000ULL
#define PAGE_MASK_4K	0xfffULL

int boot_shift_for(uint64_t start, uint64_t end, int64_t *shift)
{
	uint64_t above = (end + PAGE_MASK_4K) & ~PAGE_MASK_4K;
	uint64_t below = start >= BOOT_DATA_LEN ? (start - BOOT_DATA_LEN) & ~PAGE_MASK_4K : 0;

	*shift = 0;
	if (end <= BOOT_DATA_START || start >= BOOT_DATA_END)
		return 0;
	if (above + BOOT_DATA_LEN <= LOW_RAM_END)
		*shift = (int64_t)above - (int64_t)BOOT_DATA_START;
	else if (below >= BOOT_LOW_LIMIT)
		*shift = (int64_t)below - (int64_t)BOOT_DATA_START;
	else
		return -ENOSPC;
	return 0;
}

int boot_write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem_ptr(mem, BOOT_PT_ADDR, BOOT_PT_END - BOOT_PT_ADDR);
	uint64_t *pdpt, *pd;

	if (!pml4)
		return -EFAULT;
	memset(pml4, 0, BOOT_PT_END - BOOT_PT_ADDR);
	pdpt = pml4 + 512;
	pd = pdpt + 512;
	pml4[0] = (BOOT_PT_ADDR + 0x1000) | 0x03;		/* present, writable */
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PT_ADDR + 0x2000 + i * 0x1000ULL) | 0x03;
	for (unsigned i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;		/* 2 MiB page */
	return 0;
}

static bool is_bzimage(const uint8_t *img, size_t size)
{
	return size >= 0x206 && !memcmp(img + 0x202, "HdrS", 4);
}

static bool is_elf(const uint8_t *img, size_t size)
{
	return size >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG);
}

int initrd_load(const char *path, struct guest_mem *mem, uint64_t kernel_end, uint64_t limit,
		struct boot_extras *x)
{
	uint64_t top = mem->region[0].size, addr, done = 0;
	struct stat st;
	uint8_t *dst;
	int fd, r = 0;

	fd = host_file_open(path, O_RDONLY, 0, HOST_FILE_REG, &st);
	if (fd == EFTYPE_HOST || (fd >= 0 && st.st_size == 0)) {
		log_err("%s: initrd is not a regular, non-empty file", path);
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (fd < 0) {
		log_err("%s: cannot open initrd: %s", path, strerror(-fd));
		return fd;
	}
	if (limit && top > limit)
		top = limit;
	kernel_end = (kernel_end + 0xfff) & ~0xfffULL;
	if ((uint64_t)st.st_size > top || (((top - (uint64_t)st.st_size) & ~0xfffULL) < kernel_end)) {
		log_err("%s: initrd (%lld KiB) does not fit in low RAM above the kernel - "
			"give more --memory", path, (long long)((st.st_size + 1023) >> 10));
		close(fd);
		return -EFBIG;
	}
	addr = (top - (uint64_t)st.st_size) & ~0xfffULL;
	dst = guest_mem_ptr(mem, addr, (uint64_t)st.st_size);
	while (dst && done < (uint64_t)st.st_size) {
		ssize_t n = pread(fd, dst + done, (size_t)st.st_size - done, (off_t)done);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			log_err("%s: reading initrd: %s", path, n ? strerror(errno) : "file shrank");
			r = -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	close(fd);
	if (!r && !dst)
		r = -EFAULT;
	if (!r) {
		x->initrd_addr = addr;
		x->initrd_size = (uint64_t)st.st_size;
	}
	return r;
}

/* Where a loaded multiboot kernel starts (multiboot_load() succeeded on it). */
static uint64_t mb_kernel_start(const uint8_t *img, size_t size, const struct mb_header *mb)
{
	struct elf_info info;

	if (!(mb->flags & MB_FLAG_AOUT_KLUDGE))
		return elf_probe(img, size, &info) ? 0 : info.load_start;
	return mb->load_addr;
}

/* Moves the boot data block out of a low kernel's way, or says why it cannot. */
static int place_boot_data(uint64_t start, uint64_t end, struct boot_extras *x)
{
	int r = boot_shift_for(start, end, &x->boot_shift);

	if (r)
		log_err("kernel: loads at 0x%llx-0x%llx, leaving no %llu KiB below 0x%llx for the "
			"boot data", (unsigned long long)start, (unsigned long long)end,
			(unsigned long long)(BOOT_DATA_LEN >> 10), (unsigned long long)LOW_RAM_END);
	else if (x->boot_shift)
		log_debug("boot data at 0x%llx: the kernel loads over 0x%llx",
			  (unsigned long long)(BOOT_DATA_START + (uint64_t)x->boot_shift),
			  (unsigned long long)BOOT_DATA_START);
	return r;
}

/* Where a loaded multiboot kernel ends (multiboot_load() succeeded on it). */
static uint64_t mb_kernel_end(const uint8_t *img, size_t size, const struct mb_header *mb)
{
	struct elf_info info;
	size_t file_off;

	if (!(mb->flags & MB_FLAG_AOUT_KLUDGE))
		return elf_probe(img, size, &info) ? 0 : info.load_end;
	if (mb->bss_end_addr)
		return mb->bss_end_addr;
	if (mb->load_end_addr)
		return mb->load_end_addr;
	file_off = mb->offset - (mb->header_addr - mb->load_addr);
	return mb->load_addr + (size - file_off);
}

/* Appends what the devices put on the kernel command line to buf. */
static int add_devices(const struct machine_desc *desc, char *buf, size_t len)
{
	size_t used = strlen(buf);

	if (desc && (size_t)snprintf(buf + used, len - used, "%s", desc->cmdline) >= len - used) {
		log_err("kernel: command line with the virtio devices exceeds %d bytes",
			CMDLINE_MAX - 1);
		return -E2BIG;
	}
	return 0;
}

/*
 * The command line a Linux kernel gets: PVM workarounds first, so that the
 * user's arguments win; without --append, the serial console.
 */
static int linux_cmdline(const struct vm_config *cfg, const struct machine_desc *desc, bool pvm,
			 char *buf, size_t len)
{
	const char *append = cfg->append ? cfg->append : "console=ttyS0";

	if (!pvm) {
		snprintf(buf, len, "%s", append);
		return add_devices(desc, buf, len);
	}
	if ((size_t)snprintf(buf, len, "%s%s%s", PVM_LINUX_ARGS, *append ? " " : "", append) >= len) {
		log_err("kernel: command line with the PVM arguments (%zu bytes) exceeds %d bytes",
			strlen(PVM_LINUX_ARGS), CMDLINE_MAX - 1);
		return -E2BIG;
	}
	return add_devices(desc, buf, len);
}

static int load_image(const struct vm_config *cfg, const struct machine_desc *desc,
		      const uint8_t *img, size_t size, struct guest_mem *mem, bool pvm,
		      struct boot_entry *entry)
{
	struct boot_extras x = { .cmdline = cfg->append ? cfg->append : "" };
	char linux_args[CMDLINE_MAX], plain_args[CMDLINE_MAX];
	struct bzimage_info bi;
	struct elf_info info;
	struct mb_header mb;
	char cmdline[CMDLINE_MAX];
	uint64_t rip;
	int r, has_mb;

	memset(entry, 0, sizeof(*entry));
	snprintf(plain_args, sizeof(plain_args), "%s", x.cmdline);
	r = add_devices(desc, plain_args, sizeof(plain_args));
	if (r)
		return r;
	x.cmdline = plain_args;
	x.rsdp = acpi_build(mem, cfg->cpus, desc ? desc->level_irqs : 0, desc && desc->pci_host,
			    !desc || !desc->no_pic, desc ? &desc->dmar : NULL);
	if (!x.rsdp)
		log_warn("ACPI tables do not fit; the guest gets none");

	if (is_bzimage(img, size)) {
		r = linux_cmdline(cfg, desc, pvm, linux_args, sizeof(linux_args));
		if (r)
			return r;
		x.cmdline = linux_args;
		r = bzimage_parse(img, size, mem, &bi);
		/* Above the kernel's file size too: a header may claim an init_size below it. */
		if (!r && cfg->initrd)
			r = initrd_load(cfg->initrd, mem, bi.load_end,
					(uint64_t)bi.initrd_addr_max + 1, &x);
		return r ? r : bzimage_load(img, size, &bi, mem, &x, entry);
	}

	has_mb = multiboot_find(img, size, &mb);
	if (has_mb < 0)
		return has_mb;
	if (is_elf(img, size)) {
		r = elf_probe(img, size, &info);
		if (r)
			return r;
		if (info.has_pvh) {
			if (info.pvh_entry >= MEM_HOLE_START) {
				log_err("kernel: PVH entry point 0x%llx is not in low RAM",
					(unsigned long long)info.pvh_entry);
				return -ENOEXEC;
			}
			if (info.is_linux) {
				r = linux_cmdline(cfg, desc, pvm, linux_args, sizeof(linux_args));
				if (r)
					return r;
				x.cmdline = linux_args;
			}
			r = place_boot_data(info.load_start, info.load_end, &x);
			if (!r)
				r = elf_load(img, size, mem, &info);
			if (!r && cfg->initrd)
				r = initrd_load(cfg->initrd, mem, info.load_end, MEM_HOLE_START, &x);
			if (r)
				return r;
			entry->rip = info.pvh_entry;
			return pvh_setup(mem, &x, entry);
		}
	}
	if (has_mb) {
		r = multiboot_load(img, size, &mb, mem, &rip);
		if (!r)
			r = place_boot_data(mb_kernel_start(img, size, &mb),
					    mb_kernel_end(img, size, &mb), &x);
		if (r)
			return r;
		if (rip >= MEM_HOLE_START) {
			log_err("kernel: multiboot entry point 0x%llx is not in low RAM",
				(unsigned long long)rip);
			return -ENOEXEC;
		}
		if (cfg->initrd) {
			r = initrd_load(cfg->initrd, mem, mb_kernel_end(img, size, &mb),
					MEM_HOLE_START, &x);
			if (r)
				return r;
		}
		/* Like GRUB and QEMU, the command line starts with the kernel's name. */
		if ((size_t)snprintf(cmdline, sizeof(cmdline), "%s%s%s", cfg->kernel,
				     *x.cmdline ? " " : "", x.cmdline) >= sizeof(cmdline)) {
			log_err("kernel: command line with the kernel's name exceeds %d bytes",
				CMDLINE_MAX - 1);
			return -E2BIG;
		}
		entry->rip = rip;
		return multiboot_setup(mem, cmdline, &x, entry);
	}
	if (is_elf(img, size))
		log_err("%s: ELF file has neither a PVH entry note nor a multiboot header",
			cfg->kernel);
	else
		log_err("%s: not a kernel kvmrun can boot (expected a bzImage, an ELF with a PVH "
			"note, or a multiboot kernel)", cfg->kernel);
	return -ENOEXEC;
}

int boot_load(const struct vm_config *cfg, struct guest_mem *mem, bool pvm,
	      const struct machine_desc *desc, struct boot_entry *entry)
{
	struct stat st;
	void *img;
	int fd, r;

	fd = host_file_open(cfg->kernel, O_RDONLY, 0, HOST_FILE_REG, &st);
	if (fd == EFTYPE_HOST) {
		log_err("%s: kernel is not a regular file but %s", cfg->kernel,
			host_file_type(st.st_mode));
		return -EINVAL;
	}
	if (fd < 0) {
		/* QEMU's words, which test runners (kvm-unit-tests) look for. */
		log_err("%s: could not open kernel: %s", cfg->kernel, strerror(-fd));
		return fd;
	}
	if (st.st_size == 0) {
		log_err("%s: kernel file is empty", cfg->kernel);
		r = -ENOEXEC;
		goto out_close;
	}
	/* Private and writable: libelf may not write, but a stray write must not reach the file. */
	img = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED) {
		r = -errno;
		log_err("%s: cannot map kernel: %s", cfg->kernel, strerror(-r));
		goto out_close;
	}
	r = load_image(cfg, desc, img, (size_t)st.st_size, mem, pvm, entry);
	munmap(img, (size_t)st.st_size);
out_close:
	close(fd);
	return r;
}
