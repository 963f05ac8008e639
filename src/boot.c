/* Kernel file -> guest memory: picks the boot protocol from what the file holds. */
#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/boot.h"
#include "kvmrun/log.h"
#include "kvmrun/multiboot.h"

int boot_write_cmdline(struct guest_mem *mem, const char *cmdline)
{
	size_t len = strlen(cmdline);

	if (len >= CMDLINE_MAX)
		return -E2BIG;
	return guest_mem_write(mem, BOOT_CMDLINE_ADDR, cmdline, len + 1);
}

/* The bzImage setup header signature "HdrS" at offset 0x202. */
static bool is_bzimage(const uint8_t *img, size_t size)
{
	return size >= 0x206 && !memcmp(img + 0x202, "HdrS", 4);
}

static int load_image(const struct vm_config *cfg, const uint8_t *img, size_t size,
		      struct guest_mem *mem, struct boot_entry *entry)
{
	const char *append = cfg->append ? cfg->append : "";
	struct elf_info info;
	struct mb_header mb;
	char cmdline[CMDLINE_MAX];
	int r, has_mb;

	memset(entry, 0, sizeof(*entry));
	has_mb = multiboot_find(img, size, &mb);
	if (has_mb < 0)
		return has_mb;
	if (size >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG)) {
		r = elf_probe(img, size, &info);
		if (r)
			return r;
		if (info.has_pvh) {
			if (info.pvh_entry >= MEM_HOLE_START) {
				log_err("kernel: PVH entry point 0x%llx is not in low RAM",
					(unsigned long long)info.pvh_entry);
				return -ENOEXEC;
			}
			r = elf_load(img, size, mem, &info);
			if (r)
				return r;
			entry->rip = info.pvh_entry;
			return pvh_setup(mem, append, entry);
		}
	}
	if (has_mb) {
		uint64_t rip;

		r = multiboot_load(img, size, &mb, mem, &rip);
		if (r)
			return r;
		if (rip >= MEM_HOLE_START) {
			log_err("kernel: multiboot entry point 0x%llx is not in low RAM",
				(unsigned long long)rip);
			return -ENOEXEC;
		}
		/* Like GRUB and QEMU, the command line starts with the kernel's name. */
		if ((size_t)snprintf(cmdline, sizeof(cmdline), "%s%s%s", cfg->kernel,
				     *append ? " " : "", append) >= sizeof(cmdline)) {
			log_err("kernel: command line with the kernel's name exceeds %d bytes",
				CMDLINE_MAX - 1);
			return -E2BIG;
		}
		entry->rip = rip;
		return multiboot_setup(mem, cmdline, entry);
	}
	if (is_bzimage(img, size)) {
		log_err("%s: bzImage kernels are not supported yet - boot the ELF vmlinux (PVH)",
			cfg->kernel);
		return -ENOEXEC;
	}
	if (size >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG))
		log_err("%s: ELF file has neither a PVH entry note nor a multiboot header",
			cfg->kernel);
	else
		log_err("%s: not a kernel kvmrun can boot (expected an ELF with a PVH note, "
			"or a multiboot kernel)", cfg->kernel);
	return -ENOEXEC;
}

int boot_load(const struct vm_config *cfg, struct guest_mem *mem, struct boot_entry *entry)
{
	struct stat st;
	void *img;
	int fd, r;

	fd = open(cfg->kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_err("%s: cannot open kernel: %s", cfg->kernel, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		log_err("%s: %s", cfg->kernel, strerror(-r));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s: not a regular file", cfg->kernel);
		r = -EINVAL;
		goto out_close;
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
	r = load_image(cfg, img, (size_t)st.st_size, mem, entry);
	munmap(img, (size_t)st.st_size);
out_close:
	close(fd);
	return r;
}
