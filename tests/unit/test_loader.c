/*
 * Unit tests for kernel loading: ELF (with the PVH note), multiboot v1, the
 * PVH start info and the multiboot information structure, and boot_load()
 * end to end on files.  All images are built in memory.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/boot.h"
#include "kvmrun/config.h"
#include "kvmrun/mem.h"
#include "kvmrun/multiboot.h"
#include "kvmrun/pvh.h"

#define MiB (1ULL << 20)
#define MEM_SIZE (32 * MiB)
#define FILL 0xaa

/* ---- guest memory fixture ---- */

static struct guest_mem mem;

static void mem_setup(void)
{
	ck_assert_int_eq(guest_mem_init(&mem, MEM_SIZE, false, HUGEPAGES_NONE), 0);
	memset(mem.map, FILL, MEM_SIZE);
}

static void mem_teardown(void)
{
	guest_mem_destroy(&mem);
}

static const uint8_t *gptr(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_mem_ptr(&mem, gpa, len);

	ck_assert_msg(p != NULL, "guest range 0x%llx+0x%llx not in RAM",
		      (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

static void assert_filled(uint64_t gpa, uint64_t len, uint8_t v)
{
	const uint8_t *p = gptr(gpa, len);

	for (uint64_t i = 0; i < len; i++)
		ck_assert_msg(p[i] == v, "guest byte 0x%llx is 0x%02x, expected 0x%02x",
			      (unsigned long long)(gpa + i), p[i], v);
}

/* ---- ELF image builder ---- */

struct seg {
	uint32_t type;		/* PT_LOAD, PT_NOTE, ... */
	uint64_t paddr;
	const uint8_t *data;
	uint64_t filesz;	/* bytes of data in the file */
	uint64_t memsz;
};

struct elf_opts {
	bool is64;
	uint16_t machine;	/* 0: EM_X86_64 / EM_386 */
	uint16_t type;		/* 0: ET_EXEC */
	uint64_t entry;
};

#define IMG_MAX (256 * 1024)
static uint8_t img[IMG_MAX] __attribute__((aligned(16)));

/*
 * ELF header, program headers right after it, then each segment's file bytes
 * at a 16-byte aligned offset.  Returns the image size.
 */
static size_t build_elf(const struct elf_opts *o, const struct seg *segs, unsigned n)
{
	size_t ehsz = o->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsz = o->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t off = (ehsz + n * phsz + 15) & ~(size_t)15;
	uint16_t machine = o->machine ? o->machine : (o->is64 ? EM_X86_64 : EM_386);
	uint16_t type = o->type ? o->type : ET_EXEC;

	memset(img, 0, sizeof(img));
	if (o->is64) {
		Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS64;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_ident[EI_VERSION] = EV_CURRENT;
		eh->e_type = type;
		eh->e_machine = machine;
		eh->e_version = EV_CURRENT;
		eh->e_entry = o->entry;
		eh->e_phoff = ehsz;
		eh->e_ehsize = (uint16_t)ehsz;
		eh->e_phentsize = (uint16_t)phsz;
		eh->e_phnum = (uint16_t)n;
	} else {
		Elf32_Ehdr *eh = (Elf32_Ehdr *)img;

		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS32;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_ident[EI_VERSION] = EV_CURRENT;
		eh->e_type = type;
		eh->e_machine = machine;
		eh->e_version = EV_CURRENT;
		eh->e_entry = (Elf32_Addr)o->entry;
		eh->e_phoff = (Elf32_Off)ehsz;
		eh->e_ehsize = (uint16_t)ehsz;
		eh->e_phentsize = (uint16_t)phsz;
		eh->e_phnum = (uint16_t)n;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct seg *s = &segs[i];

		ck_assert_uint_le(off + s->filesz, sizeof(img));
		if (s->data && s->filesz)
			memcpy(img + off, s->data, s->filesz);
		if (o->is64) {
			Elf64_Phdr *ph = (Elf64_Phdr *)(img + ehsz) + i;

			ph->p_type = s->type;
			ph->p_flags = PF_R | PF_X;
			ph->p_offset = off;
			ph->p_vaddr = s->paddr;
			ph->p_paddr = s->paddr;
			ph->p_filesz = s->filesz;
			ph->p_memsz = s->memsz;
			ph->p_align = s->type == PT_NOTE ? 4 : 16;
		} else {
			Elf32_Phdr *ph = (Elf32_Phdr *)(img + ehsz) + i;

			ph->p_type = s->type;
			ph->p_flags = PF_R | PF_X;
			ph->p_offset = (Elf32_Off)off;
			ph->p_vaddr = (Elf32_Addr)s->paddr;
			ph->p_paddr = (Elf32_Addr)s->paddr;
			ph->p_filesz = (Elf32_Word)s->filesz;
			ph->p_memsz = (Elf32_Word)s->memsz;
			ph->p_align = s->type == PT_NOTE ? 4 : 16;
		}
		off = (off + s->filesz + 15) & ~(size_t)15;
	}
	return off;
}

static Elf64_Phdr *phdr64(unsigned i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Ehdr *ehdr64(void)
{
	return (Elf64_Ehdr *)img;
}

/* One ELF note with 4-byte aligned name and descriptor.  Returns its size. */
static size_t make_note(uint8_t *buf, const char *name, uint32_t namesz, uint32_t type,
			const void *desc, uint32_t descsz)
{
	size_t off = 12;

	memcpy(buf, &namesz, 4);
	memcpy(buf + 4, &descsz, 4);
	memcpy(buf + 8, &type, 4);
	memset(buf + 12, 0, ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u));
	memcpy(buf + off, name, namesz);
	off += (namesz + 3) & ~3u;
	if (desc)
		memcpy(buf + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

static size_t pvh_note(uint8_t *buf, uint32_t entry)
{
	return make_note(buf, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
}

/* A code pattern for segments: byte i is (i * 13 + seed). */
static void pattern(uint8_t *buf, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 13 + seed);
}

#define KADDR	0x100000ULL	/* the lowest address a kernel may load at */
#define PVH_ENTRY 0x100040U

static uint8_t code[0x3000], data2[0x800], note[64];

/* The standard test kernel: code at 1 MiB (0x3000 bytes + 0x1000 bss), a note. */
static size_t build_pvh_kernel(bool is64)
{
	struct elf_opts o = { .is64 = is64, .entry = 0x1000000 };
	size_t nsz = pvh_note(note, PVH_ENTRY);
	struct seg s[] = {
		{ PT_LOAD, KADDR, code, sizeof(code), sizeof(code) + 0x1000 },
		{ PT_NOTE, 0, note, nsz, nsz },
	};

	pattern(code, sizeof(code), 1);
	return build_elf(&o, s, 2);
}

/* ---- elf_probe / elf_load: good images ---- */

START_TEST(test_elf64_pvh_probe)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(info.has_pvh);
	ck_assert_uint_eq(info.pvh_entry, PVH_ENTRY);
	ck_assert_uint_eq(info.entry, 0x1000000);
	ck_assert_uint_eq(info.load_start, KADDR);
	ck_assert_uint_eq(info.load_end, KADDR + sizeof(code) + 0x1000);
	/* Probing writes no guest memory. */
	assert_filled(KADDR, 64, FILL);
}
END_TEST

START_TEST(test_elf64_pvh_load)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	ck_assert_int_eq(elf_load(img, size, &mem, &info), 0);
	ck_assert(info.has_pvh);
	ck_assert_uint_eq(info.pvh_entry, PVH_ENTRY);
	ck_assert_mem_eq(gptr(KADDR, sizeof(code)), code, sizeof(code));
	assert_filled(KADDR + sizeof(code), 0x1000, 0);		/* bss */
	assert_filled(KADDR + sizeof(code) + 0x1000, 0x100, FILL);	/* untouched after */
	assert_filled(KADDR - 0x100, 0x100, FILL);		/* and before */
}
END_TEST

START_TEST(test_elf32_two_segments)
{
	struct elf_opts o = { .is64 = false, .entry = 0x200000 };
	size_t nsz = pvh_note(note, 0x200010);
	struct seg s[] = {
		{ PT_LOAD, 0x200000, code, 0x1000, 0x1000 },
		{ PT_NOTE, 0, note, nsz, nsz },
		{ PT_LOAD, 0x400000, data2, sizeof(data2), 0x2000 },
	};
	struct elf_info info;
	size_t size;

	pattern(code, sizeof(code), 3);
	pattern(data2, sizeof(data2), 77);
	size = build_elf(&o, s, 3);
	ck_assert_int_eq(elf_load(img, size, &mem, &info), 0);
	ck_assert(info.has_pvh);
	ck_assert_uint_eq(info.pvh_entry, 0x200010);
	ck_assert_uint_eq(info.entry, 0x200000);
	ck_assert_uint_eq(info.load_start, 0x200000);
	ck_assert_uint_eq(info.load_end, 0x402000);
	ck_assert_mem_eq(gptr(0x200000, 0x1000), code, 0x1000);
	ck_assert_mem_eq(gptr(0x400000, sizeof(data2)), data2, sizeof(data2));
	assert_filled(0x400000 + sizeof(data2), 0x2000 - sizeof(data2), 0);
	assert_filled(0x402000, 16, FILL);
	assert_filled(0x201000, 16, FILL);	/* the gap between segments */
}
END_TEST

START_TEST(test_elf_pvh_note_8_byte_desc)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	uint64_t entry = 0x1234560ULL;
	size_t nsz = make_note(note, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
	struct seg s[] = {
		{ PT_NOTE, 0, note, nsz, nsz },
		{ PT_LOAD, KADDR, code, 0x100, 0x100 },
	};
	struct elf_info info;
	size_t size = build_elf(&o, s, 2);

	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(info.has_pvh);
	ck_assert_uint_eq(info.pvh_entry, 0x1234560ULL);
}
END_TEST

START_TEST(test_elf_other_notes)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	uint32_t desc = 0x100000;
	size_t nsz = 0;
	struct elf_info info;
	size_t size;

	/* A GNU note, a Xen note of another type, then the PVH one: found after skipping. */
	nsz += make_note(note + nsz, "GNU", 4, XEN_ELFNOTE_PHYS32_ENTRY, &desc, 4);
	nsz += make_note(note + nsz, "Xen", 4, 17, &desc, 4);
	nsz += make_note(note + nsz, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, &(uint32_t){ 0x100abc }, 4);
	{
		struct seg s[] = {
			{ PT_LOAD, KADDR, code, 0x100, 0x100 },
			{ PT_NOTE, 0, note, nsz, nsz },
		};

		size = build_elf(&o, s, 2);
	}
	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(info.has_pvh);
	ck_assert_uint_eq(info.pvh_entry, 0x100abc);

	/* Without the PVH note the image is fine, just not PVH. */
	nsz = make_note(note, "GNU", 4, XEN_ELFNOTE_PHYS32_ENTRY, &desc, 4);
	{
		struct seg s[] = {
			{ PT_LOAD, KADDR, code, 0x100, 0x100 },
			{ PT_NOTE, 0, note, nsz, nsz },
		};

		size = build_elf(&o, s, 2);
	}
	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(!info.has_pvh);
}
END_TEST

START_TEST(test_elf_zero_memsz_skipped)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	struct seg s[] = {
		{ PT_LOAD, 0x1000, code, 0, 0 },	/* empty: ignored even below 1 MiB */
		{ PT_LOAD, KADDR, code, 0x10, 0x10 },
	};
	struct elf_info info;
	size_t size = build_elf(&o, s, 2);

	ck_assert_int_eq(elf_load(img, size, &mem, &info), 0);
	ck_assert_uint_eq(info.load_start, KADDR);
}
END_TEST

START_TEST(test_elf_segment_at_end_of_ram)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	struct seg s[] = {
		{ PT_LOAD, MEM_SIZE - 0x1000, code, 0x800, 0x1000 },
	};
	struct elf_info info;
	size_t size = build_elf(&o, s, 1);

	ck_assert_int_eq(elf_load(img, size, &mem, &info), 0);
	assert_filled(MEM_SIZE - 0x800, 0x800, 0);
}
END_TEST

/* ---- elf_probe / elf_load: broken images ---- */

START_TEST(test_elf_truncated_phdrs)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	(void)size;
	/* Cut inside the second program header. */
	ck_assert_int_lt(elf_probe(img, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 20, &info), 0);
	ck_assert_int_lt(elf_load(img, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 20, &mem, &info),
			 0);
	/* Cut inside the first one. */
	ck_assert_int_lt(elf_probe(img, sizeof(Elf64_Ehdr) + 8, &info), 0);
	/* Cut inside the ELF header. */
	ck_assert_int_lt(elf_probe(img, sizeof(Elf64_Ehdr) - 4, &info), 0);
	ck_assert_int_lt(elf_probe(img, EI_NIDENT, &info), 0);
	ck_assert_int_lt(elf_probe(img, 4, &info), 0);
	ck_assert_int_lt(elf_probe(img, 0, &info), 0);
	assert_filled(KADDR, 0x100, FILL);
}
END_TEST

START_TEST(test_elf_truncated_elf32_header)
{
	struct elf_info info;

	build_pvh_kernel(false);
	ck_assert_int_lt(elf_probe(img, sizeof(Elf32_Ehdr) - 1, &info), 0);
}
END_TEST

START_TEST(test_elf_segment_past_file)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	/* The last bytes of the segment are missing from the file. */
	ck_assert_int_lt(elf_load(img, phdr64(0)->p_offset + phdr64(0)->p_filesz - 1, &mem, &info),
			 0);
	/* p_offset + p_filesz beyond the file. */
	phdr64(0)->p_filesz = size;
	phdr64(0)->p_memsz = size;
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	/* p_offset + p_filesz wraps around. */
	build_pvh_kernel(true);
	phdr64(0)->p_offset = UINT64_MAX - 8;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_filesz_gt_memsz)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	phdr64(0)->p_memsz = phdr64(0)->p_filesz - 1;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	assert_filled(KADDR, 0x100, FILL);
}
END_TEST

START_TEST(test_elf_paddr_overflow)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	phdr64(0)->p_paddr = UINT64_MAX - 0x100;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
}
END_TEST

START_TEST(test_elf_below_1m)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	phdr64(0)->p_paddr = KADDR - 0x1000;
	/* Probing only reports the span; loading refuses it. */
	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert_uint_eq(info.load_start, KADDR - 0x1000);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	assert_filled(KADDR - 0x1000, 0x100, FILL);
	/* Over the boot data's usual place it loads; the boot data moves above it. */
	phdr64(0)->p_paddr = 0x6000;
	ck_assert_int_eq(elf_load(img, size, &mem, &info), 0);
	{
		int64_t shift;

		ck_assert_int_eq(boot_shift_for(info.load_start, info.load_end, &shift), 0);
		ck_assert_uint_eq(BOOT_DATA_START + (uint64_t)shift,
				  (info.load_end + 0xfff) & ~0xfffULL);
		ck_assert_uint_le(BOOT_DATA_END + (uint64_t)shift, LOW_RAM_END);
		/* Clear of the block: no move; no room either side: refused. */
		ck_assert_int_eq(boot_shift_for(BOOT_DATA_END, 0x90000, &shift), 0);
		ck_assert_int_eq(shift, 0);
		ck_assert_int_eq(boot_shift_for(0x8000, 0x90000, &shift), -ENOSPC);
		/* Room only below: the block goes under the kernel. */
		ck_assert_int_eq(boot_shift_for(0x20000, 0x90000, &shift), 0);
		ck_assert_uint_eq(BOOT_DATA_END + (uint64_t)shift, 0x20000);
		ck_assert_uint_ge(BOOT_DATA_START + (uint64_t)shift, 0x1000);
	}
}
END_TEST

START_TEST(test_elf_beyond_ram)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	/* Starts in RAM, ends past it. */
	phdr64(0)->p_paddr = MEM_SIZE - 0x1000;
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	/* Entirely past it. */
	phdr64(0)->p_paddr = 64 * MiB;
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	/* In the 32-bit hole. */
	phdr64(0)->p_paddr = MEM_HOLE_START;
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
}
END_TEST

START_TEST(test_elf_wrong_machine)
{
	struct elf_opts o = { .is64 = true, .machine = EM_ARM, .entry = 0x100000 };
	struct seg s[] = { { PT_LOAD, KADDR, code, 0x100, 0x100 } };
	struct elf_info info;
	size_t size = build_elf(&o, s, 1);

	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	o.machine = EM_AARCH64;
	size = build_elf(&o, s, 1);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	o.is64 = false;
	o.machine = EM_ARM;
	size = build_elf(&o, s, 1);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_big_endian)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	img[EI_DATA] = ELFDATA2MSB;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	img[EI_DATA] = ELFDATANONE;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_not_exec)
{
	struct elf_opts o = { .is64 = true, .type = ET_DYN, .entry = 0x100000 };
	struct seg s[] = { { PT_LOAD, KADDR, code, 0x100, 0x100 } };
	struct elf_info info;
	size_t size = build_elf(&o, s, 1);

	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	o.type = ET_REL;
	size = build_elf(&o, s, 1);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	o.type = ET_CORE;
	size = build_elf(&o, s, 1);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_bad_magic)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	img[1] = 'e';
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_malformed_notes)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	struct elf_info info;
	size_t nsz, size;
	uint32_t big;

	/* descsz runs past the end of the note segment. */
	nsz = pvh_note(note, PVH_ENTRY);
	big = 0x100;
	memcpy(note + 4, &big, 4);
	{
		struct seg s[] = {
			{ PT_LOAD, KADDR, code, 0x100, 0x100 },
			{ PT_NOTE, 0, note, nsz, nsz },
		};
		size = build_elf(&o, s, 2);
	}
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);

	/* descsz near 2^32: the sum must not wrap. */
	big = 0xfffffffc;
	memcpy(img + phdr64(1)->p_offset + 4, &big, 4);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);

	/* namesz runs past the end. */
	build_elf(&o, (struct seg[]){ { PT_LOAD, KADDR, code, 0x100, 0x100 },
				     { PT_NOTE, 0, note, nsz, nsz } }, 2);
	big = 0x40;
	memcpy(img + phdr64(1)->p_offset, &big, 4);
	memcpy(img + phdr64(1)->p_offset + 4, &(uint32_t){ 4 }, 4);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);

	/* The PVH note with a 2-byte descriptor. */
	nsz = make_note(note, "Xen", 4, XEN_ELFNOTE_PHYS32_ENTRY, "\x40\x00", 2);
	{
		struct seg s[] = {
			{ PT_LOAD, KADDR, code, 0x100, 0x100 },
			{ PT_NOTE, 0, note, nsz, nsz },
		};
		size = build_elf(&o, s, 2);
	}
	ck_assert_int_lt(elf_probe(img, size, &info), 0);

	/* The note segment itself lies outside the file. */
	size = build_pvh_kernel(true);
	phdr64(1)->p_offset = size - 4;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_note_trailing_padding)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	struct elf_info info;
	size_t nsz = pvh_note(note, PVH_ENTRY), size;

	/* Fewer than 12 trailing bytes after the last note are ignored. */
	memset(note + nsz, 0, 8);
	{
		struct seg s[] = {
			{ PT_LOAD, KADDR, code, 0x100, 0x100 },
			{ PT_NOTE, 0, note, nsz + 8, nsz + 8 },
		};
		size = build_elf(&o, s, 2);
	}
	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(info.has_pvh);
}
END_TEST

START_TEST(test_elf_no_load)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	size_t nsz = pvh_note(note, PVH_ENTRY);
	struct seg s[] = { { PT_NOTE, 0, note, nsz, nsz } };
	struct elf_info info;
	size_t size = build_elf(&o, s, 1);

	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	ck_assert_int_lt(elf_load(img, size, &mem, &info), 0);
	/* No program headers at all. */
	size = build_elf(&o, s, 0);
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
	/* Only empty PT_LOADs. */
	{
		struct seg e[] = { { PT_LOAD, KADDR, code, 0, 0 } };

		size = build_elf(&o, e, 1);
	}
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

START_TEST(test_elf_section_headers_past_end)
{
	struct elf_info info;
	size_t size = build_pvh_kernel(true);

	ehdr64()->e_shoff = size - 64;
	ehdr64()->e_shentsize = sizeof(Elf64_Shdr);
	ehdr64()->e_shnum = 4;
	ck_assert_int_lt(elf_probe(img, size, &info), 0);
}
END_TEST

/* ---- multiboot_find ---- */

#define MB_BUF 16384
static uint8_t mbimg[MB_BUF] __attribute__((aligned(16)));

static void put_mb(uint8_t *buf, size_t off, uint32_t flags, const uint32_t kludge[5])
{
	uint32_t w[8] = { MB_HEADER_MAGIC, flags, (uint32_t)-(MB_HEADER_MAGIC + flags) };

	if (kludge)
		memcpy(&w[3], kludge, 5 * sizeof(uint32_t));
	memcpy(buf + off, w, kludge ? 32 : 12);
}

START_TEST(test_mb_find_at_zero)
{
	struct mb_header h;

	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 0, MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.offset, 0);
	ck_assert_uint_eq(h.magic, MB_HEADER_MAGIC);
	ck_assert_uint_eq(h.flags, 3);
	ck_assert_uint_eq(h.load_addr, 0);	/* no kludge fields */
	/* Exactly the 12-byte header. */
	ck_assert_int_eq(multiboot_find(mbimg, 12, &h), 1);
	ck_assert_int_eq(multiboot_find(mbimg, 11, &h), 0);
	ck_assert_int_eq(multiboot_find(mbimg, 0, &h), 0);
}
END_TEST

START_TEST(test_mb_find_search_limit)
{
	struct mb_header h;

	/* The last 4-aligned place where the 12-byte header ends inside 8 KiB. */
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, MB_SEARCH - 12, 0, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.offset, MB_SEARCH - 12);

	/* One word later the header crosses the 8 KiB limit. */
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, MB_SEARCH - 8, 0, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, MB_SEARCH, 0, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, MB_SEARCH + 64, 0, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
}
END_TEST

START_TEST(test_mb_find_alignment)
{
	struct mb_header h;

	for (size_t off = 1; off < 4; off++) {
		memset(mbimg, 0, sizeof(mbimg));
		put_mb(mbimg, 100 + off, 0, NULL);
		ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	}
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 104, 0, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.offset, 104);
}
END_TEST

START_TEST(test_mb_find_bad_checksum)
{
	struct mb_header h;
	uint32_t bad;

	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 64, 0, NULL);
	memcpy(&bad, mbimg + 72, 4);
	bad++;
	memcpy(mbimg + 72, &bad, 4);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	/* A good header after a bad one is still found. */
	put_mb(mbimg, 256, MB_FLAG_MEMORY_INFO, NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.offset, 256);
}
END_TEST

START_TEST(test_mb_find_flags)
{
	struct mb_header h;

	/* Unknown required bit (bits 0-15): refused. */
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 0, 1u << 3, NULL);
	ck_assert_int_lt(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 0, MB_FLAG_PAGE_ALIGN | (1u << 15), NULL);
	ck_assert_int_lt(multiboot_find(mbimg, sizeof(mbimg), &h), 0);
	/* Known ones, and optional bits above 16 (other than the kludge): fine. */
	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 0, MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE | (1u << 20),
	       NULL);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.flags, 7u | (1u << 20));
}
END_TEST

START_TEST(test_mb_find_kludge_fields)
{
	const uint32_t k[5] = { 0x100040, 0x100000, 0x102000, 0x104000, 0x100080 };
	struct mb_header h;

	memset(mbimg, 0, sizeof(mbimg));
	put_mb(mbimg, 0x40, MB_FLAG_AOUT_KLUDGE | MB_FLAG_PAGE_ALIGN, k);
	ck_assert_int_eq(multiboot_find(mbimg, sizeof(mbimg), &h), 1);
	ck_assert_uint_eq(h.offset, 0x40);
	ck_assert_uint_eq(h.header_addr, 0x100040);
	ck_assert_uint_eq(h.load_addr, 0x100000);
	ck_assert_uint_eq(h.load_end_addr, 0x102000);
	ck_assert_uint_eq(h.bss_end_addr, 0x104000);
	ck_assert_uint_eq(h.entry_addr, 0x100080);
	/* The file ends inside the kludge fields. */
	ck_assert_int_lt(multiboot_find(mbimg, 0x40 + 20, &h), 0);
	ck_assert_int_eq(multiboot_find(mbimg, 0x40 + 32, &h), 1);
}
END_TEST

/* ---- multiboot_load (a.out kludge) ---- */

#define MB_LOAD		0x200000U
#define MB_HDR_OFF	0x40U
#define MB_FILE		0x3000U

static size_t build_mb_kludge(uint32_t load_addr, uint32_t load_end, uint32_t bss_end,
			      uint32_t entry, struct mb_header *h)
{
	uint32_t k[5] = { load_addr + MB_HDR_OFF, load_addr, load_end, bss_end, entry };

	pattern(mbimg, MB_FILE, 9);
	put_mb(mbimg, MB_HDR_OFF, MB_FLAG_AOUT_KLUDGE, k);
	ck_assert_int_eq(multiboot_find(mbimg, MB_FILE, h), 1);
	return MB_FILE;
}

START_TEST(test_mb_load_kludge)
{
	struct mb_header h;
	uint64_t entry = 0;
	size_t size = build_mb_kludge(MB_LOAD, MB_LOAD + 0x2000, MB_LOAD + 0x4000, MB_LOAD + 0x80, &h);

	ck_assert_int_eq(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	ck_assert_uint_eq(entry, MB_LOAD + 0x80);
	ck_assert_mem_eq(gptr(MB_LOAD, 0x2000), mbimg, 0x2000);
	assert_filled(MB_LOAD + 0x2000, 0x2000, 0);	/* bss */
	assert_filled(MB_LOAD + 0x4000, 0x10, FILL);
	assert_filled(MB_LOAD - 0x10, 0x10, FILL);
}
END_TEST

START_TEST(test_mb_load_kludge_whole_file)
{
	struct mb_header h;
	uint64_t entry = 0;
	size_t size = build_mb_kludge(MB_LOAD, 0, 0, MB_LOAD, &h);

	ck_assert_int_eq(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	ck_assert_mem_eq(gptr(MB_LOAD, MB_FILE), mbimg, MB_FILE);
	assert_filled(MB_LOAD + MB_FILE, 0x10, FILL);	/* no bss */
}
END_TEST

START_TEST(test_mb_load_kludge_header_not_at_start)
{
	/* The file starts 0x20 bytes before the header: load_addr = header_addr - 0x20. */
	uint32_t k[5] = { 0x300040, 0x300020, 0, 0x304000, 0x300020 };
	struct mb_header h;
	uint64_t entry;

	pattern(mbimg, MB_FILE, 5);
	put_mb(mbimg, 0x40, MB_FLAG_AOUT_KLUDGE, k);
	ck_assert_int_eq(multiboot_find(mbimg, MB_FILE, &h), 1);
	ck_assert_int_eq(multiboot_load(mbimg, MB_FILE, &h, &mem, &entry), 0);
	/* File offset 0x20 lands at 0x300020. */
	ck_assert_mem_eq(gptr(0x300020, MB_FILE - 0x20), mbimg + 0x20, MB_FILE - 0x20);
	assert_filled(0x303000, 0x1000, 0);	/* bss up to bss_end_addr */
	assert_filled(0x304000, 0x10, FILL);
	assert_filled(0x300010, 0x10, FILL);
}
END_TEST

START_TEST(test_mb_load_kludge_errors)
{
	struct mb_header h;
	uint64_t entry = 0;
	size_t size;

	/* load_addr above header_addr. */
	size = build_mb_kludge(MB_LOAD, 0, 0, MB_LOAD, &h);
	h.load_addr = h.header_addr + 4;
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* load_addr so far below that the file would start before offset 0. */
	size = build_mb_kludge(MB_LOAD, 0, 0, MB_LOAD, &h);
	h.load_addr = h.header_addr - MB_HDR_OFF - 4;
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* Image shorter than load_end_addr says. */
	size = build_mb_kludge(MB_LOAD, MB_LOAD + MB_FILE + 1, 0, MB_LOAD, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* load_end_addr below load_addr. */
	size = build_mb_kludge(MB_LOAD, MB_LOAD - 0x1000, 0, MB_LOAD, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* bss_end_addr inside the loaded image. */
	size = build_mb_kludge(MB_LOAD, MB_LOAD + 0x2000, MB_LOAD + 0x1000, MB_LOAD, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* Below 1 MiB but across 0xA0000 (ACPI and reserved). */
	size = build_mb_kludge(0x9f000, 0, 0xa1000, 0x9f000, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* bss past the end of RAM. */
	size = build_mb_kludge(MB_LOAD, 0, MEM_SIZE + 0x1000, MB_LOAD, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* Load address past RAM. */
	size = build_mb_kludge(0x80000000, 0, 0, 0x80000000, &h);
	ck_assert_int_lt(multiboot_load(mbimg, size, &h, &mem, &entry), 0);
	/* Nothing was written by any of them. */
	assert_filled(MB_LOAD, 0x100, FILL);
	assert_filled(0x80000, 0x100, FILL);
}
END_TEST

START_TEST(test_mb_load_elf)
{
	/* Without the kludge flag a multiboot kernel is an ELF: loaded by its program headers. */
	struct elf_opts o = { .is64 = false, .entry = 0x100010 };
	struct seg s[] = { { PT_LOAD, KADDR, code, 0x1000, 0x2000 } };
	struct mb_header h;
	uint64_t entry = 0;
	size_t size;

	memset(code, 0x90, sizeof(code));
	put_mb(code, 0x20, MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO, NULL);
	size = build_elf(&o, s, 1);
	ck_assert_int_eq(multiboot_find(img, size, &h), 1);
	ck_assert_int_eq(multiboot_load(img, size, &h, &mem, &entry), 0);
	ck_assert_uint_eq(entry, 0x100010);
	ck_assert_mem_eq(gptr(KADDR, 0x1000), code, 0x1000);
	assert_filled(KADDR + 0x1000, 0x1000, 0);
}
END_TEST

/* ---- PVH start info ---- */

static void check_memmap(uint64_t addr, uint32_t n)
{
	struct mem_map_entry map[MEM_MAP_MAX];
	struct hvm_memmap_table_entry e;
	unsigned want = guest_mem_map(&mem, map, MEM_MAP_MAX);

	ck_assert_uint_eq(n, want);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(guest_mem_read(&mem, addr + i * sizeof(e), &e, sizeof(e)), 0);
		ck_assert_uint_eq(e.addr, map[i].addr);
		ck_assert_uint_eq(e.size, map[i].size);
		ck_assert_uint_eq(e.type, map[i].type);
		ck_assert_uint_eq(e.reserved, 0);
	}
}

START_TEST(test_pvh_setup)
{
	struct boot_extras x = { .cmdline = "console=ttyS0 root=/dev/vda", .rsdp = 0xe0000 };
	struct boot_entry entry;
	struct hvm_start_info si;

	memset(&entry, 0, sizeof(entry));
	ck_assert_int_eq(pvh_setup(&mem, &x, &entry), 0);
	ck_assert_int_eq(entry.mode, BOOT_MODE_PROT32);
	ck_assert_uint_eq(entry.rbx, BOOT_INFO_ADDR);
	ck_assert_str_eq(entry.protocol, "PVH");

	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.magic, 0x336ec578u);
	ck_assert_uint_eq(si.version, 1);
	ck_assert_uint_eq(si.flags, 0);
	ck_assert_uint_eq(si.nr_modules, 0);
	ck_assert_uint_eq(si.rsdp_paddr, 0xe0000);
	ck_assert_str_eq((const char *)gptr(si.cmdline_paddr, sizeof("console=ttyS0 root=/dev/vda")),
			 "console=ttyS0 root=/dev/vda");
	ck_assert_uint_eq(si.cmdline_paddr, BOOT_CMDLINE_ADDR);
	/* The memory map follows the start info, inside the boot data area. */
	ck_assert_uint_ge(si.memmap_paddr, BOOT_INFO_ADDR + sizeof(si));
	ck_assert_uint_eq(si.memmap_paddr % 8, 0);
	ck_assert_uint_le(si.memmap_paddr + si.memmap_entries * sizeof(struct hvm_memmap_table_entry),
			  BOOT_NAME_ADDR);
	check_memmap(si.memmap_paddr, si.memmap_entries);
	ck_assert_uint_eq(si.memmap_entries, 3);
}
END_TEST

START_TEST(test_pvh_setup_initrd)
{
	struct boot_extras x = { .cmdline = "", .initrd_addr = 0x1000000, .initrd_size = 0x12345 };
	struct boot_entry entry;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;

	ck_assert_int_eq(pvh_setup(&mem, &x, &entry), 0);
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.nr_modules, 1);
	ck_assert_uint_eq(si.modlist_paddr, BOOT_MODLIST_ADDR);
	ck_assert_uint_eq(si.rsdp_paddr, 0);
	ck_assert_int_eq(guest_mem_read(&mem, si.modlist_paddr, &mod, sizeof(mod)), 0);
	ck_assert_uint_eq(mod.paddr, 0x1000000);
	ck_assert_uint_eq(mod.size, 0x12345);
	ck_assert_uint_eq(mod.cmdline_paddr, 0);
	ck_assert_uint_eq(mod.reserved, 0);
	/* An empty command line is still a valid string. */
	ck_assert_uint_eq(*gptr(si.cmdline_paddr, 1), 0);
}
END_TEST

START_TEST(test_pvh_setup_cmdline_too_long)
{
	char *s = malloc(CMDLINE_MAX + 1);
	struct boot_extras x = { .cmdline = s };
	struct boot_entry entry;

	ck_assert_ptr_nonnull(s);
	memset(s, 'c', CMDLINE_MAX);
	s[CMDLINE_MAX] = '\0';
	ck_assert_int_eq(pvh_setup(&mem, &x, &entry), -E2BIG);
	free(s);
}
END_TEST

/* ---- multiboot information ---- */

START_TEST(test_multiboot_setup)
{
	struct boot_extras x = { .cmdline = "unused", .rsdp = 0xe0000 };
	struct boot_entry entry;
	struct mb_info mbi;
	struct mem_map_entry map[MEM_MAP_MAX];
	unsigned n = guest_mem_map(&mem, map, MEM_MAP_MAX);
	const char *cmd = "/boot/kernel console=ttyS0";

	memset(&entry, 0, sizeof(entry));
	ck_assert_int_eq(multiboot_setup(&mem, cmd, &x, &entry), 0);
	ck_assert_int_eq(entry.mode, BOOT_MODE_PROT32);
	ck_assert_uint_eq(entry.rax, 0x2badb002);
	ck_assert_uint_eq(entry.rbx, BOOT_INFO_ADDR);
	ck_assert_str_eq(entry.protocol, "multiboot");

	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &mbi, sizeof(mbi)), 0);
	ck_assert_uint_eq(mbi.flags & (MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP),
			  MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP);
	ck_assert_uint_eq(mbi.flags & MB_INFO_MODS, 0);
	ck_assert_uint_eq(mbi.mem_lower, 639);
	ck_assert_uint_eq(mbi.mem_upper, (MEM_SIZE - MiB) / 1024);
	ck_assert_str_eq((const char *)gptr(mbi.cmdline, strlen(cmd) + 1), cmd);
	if (mbi.flags & MB_INFO_LOADER_NAME)
		ck_assert(strncmp((const char *)gptr(mbi.boot_loader_name, 7), "kvmrun", 6) == 0);

	ck_assert_uint_eq(mbi.mmap_length, n * sizeof(struct mb_mmap_entry));
	ck_assert_uint_eq(sizeof(struct mb_mmap_entry), 24);
	ck_assert_uint_eq(mbi.mmap_addr % 4, 0);
	/* The map lies in low boot data, not overlapping the info block. */
	ck_assert_uint_ge(mbi.mmap_addr, BOOT_INFO_ADDR + sizeof(mbi));
	ck_assert_uint_le(mbi.mmap_addr + mbi.mmap_length, BOOT_NAME_ADDR);
	/* Walk it the way the spec says: size does not include itself. */
	{
		uint64_t a = mbi.mmap_addr, end = a + mbi.mmap_length;
		unsigned i = 0;

		while (a < end) {
			struct mb_mmap_entry e;

			ck_assert_int_eq(guest_mem_read(&mem, a, &e, sizeof(e)), 0);
			ck_assert_uint_eq(e.size, 20);
			ck_assert_uint_lt(i, n);
			ck_assert_uint_eq(e.addr, map[i].addr);
			ck_assert_uint_eq(e.len, map[i].size);
			ck_assert_uint_eq(e.type, map[i].type);
			a += e.size + 4;
			i++;
		}
		ck_assert_uint_eq(i, n);
	}
}
END_TEST

START_TEST(test_multiboot_setup_initrd)
{
	struct boot_extras x = { .cmdline = "", .initrd_addr = 0x1800000, .initrd_size = 0x4000 };
	struct boot_entry entry;
	struct mb_info mbi;
	uint32_t mod[4];

	ck_assert_int_eq(multiboot_setup(&mem, "k", &x, &entry), 0);
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &mbi, sizeof(mbi)), 0);
	ck_assert(mbi.flags & MB_INFO_MODS);
	ck_assert_uint_eq(mbi.mods_count, 1);
	ck_assert_int_eq(guest_mem_read(&mem, mbi.mods_addr, mod, sizeof(mod)), 0);
	ck_assert_uint_eq(mod[0], 0x1800000);
	ck_assert_uint_eq(mod[1], 0x1804000);	/* end, exclusive */
}
END_TEST

START_TEST(test_multiboot_setup_cmdline_too_long)
{
	char *s = malloc(CMDLINE_MAX + 1);
	struct boot_extras x = { .cmdline = "" };
	struct boot_entry entry;

	ck_assert_ptr_nonnull(s);
	memset(s, 'm', CMDLINE_MAX);
	s[CMDLINE_MAX] = '\0';
	ck_assert_int_eq(multiboot_setup(&mem, s, &x, &entry), -E2BIG);
	free(s);
}
END_TEST

/* ---- command line, page tables ---- */

START_TEST(test_write_cmdline)
{
	char *s = malloc(CMDLINE_MAX + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'z', CMDLINE_MAX);
	s[CMDLINE_MAX] = '\0';
	ck_assert_int_eq(boot_write_cmdline(&mem, s, 0), -E2BIG);
	assert_filled(BOOT_CMDLINE_ADDR, 16, FILL);	/* nothing written */

	s[CMDLINE_MAX - 1] = '\0';
	ck_assert_int_eq(boot_write_cmdline(&mem, s, 0), 0);
	ck_assert_mem_eq(gptr(BOOT_CMDLINE_ADDR, CMDLINE_MAX - 1), s, CMDLINE_MAX - 1);
	ck_assert_uint_eq(*gptr(BOOT_CMDLINE_ADDR + CMDLINE_MAX - 1, 1), 0);
	/* The last byte of the reserved area is the NUL: nothing beyond is touched. */
	ck_assert_uint_eq(BOOT_CMDLINE_ADDR + CMDLINE_MAX, BOOT_DATA_END);
	assert_filled(BOOT_DATA_END, 16, FILL);

	ck_assert_int_eq(boot_write_cmdline(&mem, "", 0), 0);
	ck_assert_uint_eq(*gptr(BOOT_CMDLINE_ADDR, 1), 0);
	free(s);
}
END_TEST

START_TEST(test_page_tables)
{
	const uint64_t *pt;

	ck_assert_int_eq(boot_write_page_tables(&mem), 0);
	pt = (const uint64_t *)gptr(BOOT_PT_ADDR, BOOT_PT_END - BOOT_PT_ADDR);
	ck_assert_uint_eq(pt[0], (BOOT_PT_ADDR + 0x1000) | 3);
	for (unsigned i = 1; i < 512; i++)
		ck_assert_uint_eq(pt[i], 0);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(pt[512 + i], (BOOT_PT_ADDR + 0x2000 + i * 0x1000ULL) | 3);
	ck_assert_uint_eq(pt[512 + 4], 0);
	/* 2048 2-MiB pages: identity map of 4 GiB. */
	for (unsigned i = 0; i < 2048; i++)
		ck_assert_uint_eq(pt[1024 + i], ((uint64_t)i << 21) | 0x83);
	assert_filled(BOOT_PT_END, 16, FILL);
}
END_TEST

/* ---- boot_load on files ---- */

static char tmpdir[64];
static char kpath[128], ipath[128];

static void files_setup(void)
{
	mem_setup();
	strcpy(tmpdir, "/tmp/kvmrun-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(kpath, sizeof(kpath), "%s/kernel", tmpdir);
	snprintf(ipath, sizeof(ipath), "%s/initrd", tmpdir);
}

static void files_teardown(void)
{
	unlink(kpath);
	unlink(ipath);
	rmdir(tmpdir);
	mem_teardown();
}

static void write_file(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static void cfg_init(struct vm_config *cfg, const char *kernel, const char *append)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmd = CMD_RUN;
	cfg->kernel = kernel;
	cfg->append = append;
	cfg->cpus = 1;
	cfg->mem_size = MEM_SIZE;
}

START_TEST(test_boot_load_mkstemp_text)
{
	char path[] = "/tmp/kvmrun-text-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "#!/bin/sh\necho this is not a kernel\n";
	struct vm_config cfg;
	struct boot_entry entry;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	cfg_init(&cfg, path, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	unlink(path);
}
END_TEST

START_TEST(test_boot_load_empty)
{
	struct vm_config cfg;
	struct boot_entry entry;

	write_file(kpath, "", 0);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_boot_load_directory)
{
	struct vm_config cfg;
	struct boot_entry entry;

	cfg_init(&cfg, tmpdir, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_boot_load_nonexistent)
{
	struct vm_config cfg;
	struct boot_entry entry;

	cfg_init(&cfg, kpath, NULL);	/* not created */
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), -ENOENT);
}
END_TEST

START_TEST(test_boot_load_short_garbage)
{
	struct vm_config cfg;
	struct boot_entry entry;

	write_file(kpath, "\x7f" "EL", 3);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	write_file(kpath, "\x7f" "ELF", 4);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_boot_load_pvh)
{
	struct vm_config cfg;
	struct boot_entry entry;
	struct hvm_start_info si;
	size_t size = build_pvh_kernel(true);

	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "console=ttyS0 earlyprintk");
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_ptr_nonnull(entry.protocol);
	ck_assert_str_eq(entry.protocol, "PVH");
	ck_assert_int_eq(entry.mode, BOOT_MODE_PROT32);
	ck_assert_uint_eq(entry.rip, PVH_ENTRY);
	ck_assert_uint_eq(entry.rbx, BOOT_INFO_ADDR);
	ck_assert_mem_eq(gptr(KADDR, sizeof(code)), code, sizeof(code));
	assert_filled(KADDR + sizeof(code), 0x1000, 0);

	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.magic, HVM_START_MAGIC);
	ck_assert_uint_eq(si.nr_modules, 0);
	ck_assert_str_eq((const char *)gptr(si.cmdline_paddr, 26), "console=ttyS0 earlyprintk");
	/* ACPI tables were built and the RSDP is where the start info says. */
	ck_assert_uint_ne(si.rsdp_paddr, 0);
	ck_assert_mem_eq(gptr(si.rsdp_paddr, 8), "RSD PTR ", 8);
	check_memmap(si.memmap_paddr, si.memmap_entries);
}
END_TEST

START_TEST(test_boot_load_pvh_elf32_no_append)
{
	struct vm_config cfg;
	struct boot_entry entry;
	struct hvm_start_info si;
	size_t size = build_pvh_kernel(false);

	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(entry.protocol, "PVH");
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(*gptr(si.cmdline_paddr, 1), 0);
}
END_TEST

START_TEST(test_boot_load_pvh_initrd)
{
	static uint8_t initrd[0x5000];
	struct vm_config cfg;
	struct boot_entry entry;
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	size_t size = build_pvh_kernel(true);

	pattern(initrd, sizeof(initrd), 42);
	write_file(kpath, img, size);
	write_file(ipath, initrd, sizeof(initrd));
	cfg_init(&cfg, kpath, "");
	cfg.initrd = ipath;
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.nr_modules, 1);
	ck_assert_int_eq(guest_mem_read(&mem, si.modlist_paddr, &mod, sizeof(mod)), 0);
	ck_assert_uint_eq(mod.size, sizeof(initrd));
	ck_assert_uint_eq(mod.paddr % 0x1000, 0);
	ck_assert_uint_ge(mod.paddr, KADDR + sizeof(code) + 0x1000);	/* above the kernel + bss */
	ck_assert_uint_le(mod.paddr + mod.size, MEM_SIZE);
	ck_assert_mem_eq(gptr(mod.paddr, sizeof(initrd)), initrd, sizeof(initrd));
	/* The kernel is intact. */
	ck_assert_mem_eq(gptr(KADDR, sizeof(code)), code, sizeof(code));
}
END_TEST

START_TEST(test_boot_load_bad_initrd)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_pvh_kernel(true);

	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "");
	cfg.initrd = ipath;		/* missing */
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	write_file(ipath, "", 0);	/* empty */
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	cfg.initrd = tmpdir;		/* a directory */
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_initrd_too_big)
{
	struct boot_extras x = { .cmdline = "" };
	static uint8_t buf[3 * MiB / 2];

	memset(buf, 1, sizeof(buf));
	write_file(ipath, buf, sizeof(buf));
	/* 32 MiB of RAM, kernel up to 31 MiB: 1.5 MiB does not fit above it. */
	ck_assert_int_lt(initrd_load(ipath, &mem, 31 * MiB, 0, &x), 0);
	ck_assert_uint_eq(x.initrd_size, 0);
	/* With the kernel ending at 16 MiB it fits, just below the top, page aligned. */
	ck_assert_int_eq(initrd_load(ipath, &mem, 16 * MiB, 0, &x), 0);
	ck_assert_uint_eq(x.initrd_size, sizeof(buf));
	ck_assert_uint_eq(x.initrd_addr, (MEM_SIZE - sizeof(buf)) & ~0xfffULL);
	/* A limit below the top of RAM moves it down. */
	ck_assert_int_eq(initrd_load(ipath, &mem, 1 * MiB, 8 * MiB, &x), 0);
	ck_assert_uint_le(x.initrd_addr + x.initrd_size, 8 * MiB);
	ck_assert_uint_eq(x.initrd_addr % 0x1000, 0);
	ck_assert_mem_eq(gptr(x.initrd_addr, sizeof(buf)), buf, sizeof(buf));
}
END_TEST

/* A PVH kernel that also carries a "Linux" ELF note, as a vmlinux does. */
static size_t build_linux_pvh_kernel(void)
{
	struct elf_opts o = { .is64 = true, .entry = 0x1000000 };
	size_t nsz = pvh_note(note, PVH_ENTRY);
	struct seg s[2];

	nsz += make_note(note + nsz, "Linux", 6, 1, "6.6", 4);
	pattern(code, sizeof(code), 1);
	s[0] = (struct seg){ PT_LOAD, KADDR, code, sizeof(code), sizeof(code) };
	s[1] = (struct seg){ PT_NOTE, 0, note, nsz, nsz };
	return build_elf(&o, s, 2);
}

static const char *pvh_cmdline(void)
{
	struct hvm_start_info si;

	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.cmdline_paddr, BOOT_CMDLINE_ADDR);
	return (const char *)gptr(BOOT_CMDLINE_ADDR, CMDLINE_MAX);
}

START_TEST(test_elf_linux_note)
{
	struct elf_info info;
	size_t size = build_linux_pvh_kernel();

	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(info.is_linux);
	ck_assert(info.has_pvh);
	size = build_pvh_kernel(true);
	ck_assert_int_eq(elf_probe(img, size, &info), 0);
	ck_assert(!info.is_linux);
}
END_TEST

START_TEST(test_boot_load_linux_default_console)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_linux_pvh_kernel();

	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(entry.protocol, "PVH");
	ck_assert_str_eq(pvh_cmdline(), "console=ttyS0");
	/* An explicit --append replaces the default, even when empty. */
	cfg_init(&cfg, kpath, "quiet");
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), "quiet");
	cfg_init(&cfg, kpath, "");
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), "");
}
END_TEST

/* A kernel loading over the boot data's usual place: the block moves above it, whole. */
START_TEST(test_boot_load_low_kernel)
{
	struct vm_config cfg;
	struct boot_entry entry;
	struct hvm_start_info si;
	size_t size = build_pvh_kernel(true);
	uint64_t base;

	phdr64(0)->p_paddr = 0x8000;
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "low one");
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_int_gt(entry.boot_shift, 0);
	base = BOOT_DATA_START + (uint64_t)entry.boot_shift;
	ck_assert_uint_eq(base % 0x1000, 0);
	ck_assert_uint_le(base + BOOT_DATA_LEN, LOW_RAM_END);
	/* The kernel's bytes stayed; the start info and command line are where EBX says. */
	ck_assert_mem_eq(gptr(0x8000, 16), img + phdr64(0)->p_offset, 16);
	ck_assert_uint_eq(entry.rbx, BOOT_INFO_ADDR + (uint64_t)entry.boot_shift);
	ck_assert_uint_ge(entry.rbx, 0x8000 + phdr64(0)->p_memsz);
	ck_assert_int_eq(guest_mem_read(&mem, entry.rbx, &si, sizeof(si)), 0);
	ck_assert_uint_eq(si.magic, HVM_START_MAGIC);
	ck_assert_uint_eq(si.cmdline_paddr, BOOT_CMDLINE_ADDR + (uint64_t)entry.boot_shift);
	ck_assert_str_eq((const char *)gptr(si.cmdline_paddr, 8), "low one");
	/* Across 0xA0000 it is refused. */
	phdr64(0)->p_paddr = LOW_RAM_END - 0x100;
	write_file(kpath, img, size);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_boot_load_linux_pvm_args)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_linux_pvh_kernel();

	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "root=/dev/vda");
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	/* The workarounds first, so the user's arguments win. */
	ck_assert_str_eq(pvh_cmdline(), PVM_LINUX_ARGS " root=/dev/vda");
	cfg_init(&cfg, kpath, "");
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), PVM_LINUX_ARGS);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), PVM_LINUX_ARGS " console=ttyS0");
}
END_TEST

START_TEST(test_boot_load_linux_pvm_args_too_long)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_linux_pvh_kernel();
	char *append = malloc(CMDLINE_MAX);

	ck_assert_ptr_nonnull(append);
	/* Fits alone (config_parse accepts it), not after the PVM arguments. */
	memset(append, 'a', CMDLINE_MAX - 1);
	append[CMDLINE_MAX - 1] = '\0';
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, append);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_uint_eq(strlen(pvh_cmdline()), CMDLINE_MAX - 1);
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), -E2BIG);
	/* Exactly at the limit with the arguments and the space. */
	append[CMDLINE_MAX - 1 - strlen(PVM_LINUX_ARGS) - 1] = '\0';
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	ck_assert_uint_eq(strlen(pvh_cmdline()), CMDLINE_MAX - 1);
	free(append);
}
END_TEST

START_TEST(test_boot_load_non_linux_pvm_untouched)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_pvh_kernel(true);

	/* Only Linux gets the PVM arguments and the default console. */
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "x=1");
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), "x=1");
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, true, NULL, &entry), 0);
	ck_assert_str_eq(pvh_cmdline(), "");
}
END_TEST

START_TEST(test_boot_load_pvh_entry_in_hole)
{
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size = build_pvh_kernel(true);
	uint32_t bad = 0xc0000000;

	/* Patch the note's descriptor: 12 header bytes + 4 name bytes into the note. */
	memcpy(img + phdr64(1)->p_offset + 16, &bad, 4);
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

START_TEST(test_boot_load_elf_without_protocol)
{
	struct elf_opts o = { .is64 = true, .entry = 0x100000 };
	struct seg s[] = { { PT_LOAD, KADDR, code, 0x100, 0x100 } };
	struct vm_config cfg;
	struct boot_entry entry;
	size_t size;

	memset(code, 0, sizeof(code));
	size = build_elf(&o, s, 1);
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), -ENOEXEC);
}
END_TEST

START_TEST(test_boot_load_multiboot_elf)
{
	struct elf_opts o = { .is64 = false, .entry = 0x100020 };
	struct seg s[] = { { PT_LOAD, KADDR, code, 0x1000, 0x1000 } };
	struct vm_config cfg;
	struct boot_entry entry;
	struct mb_info mbi;
	char want[256];
	size_t size;

	memset(code, 0x90, sizeof(code));
	put_mb(code, 0, MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO, NULL);
	size = build_elf(&o, s, 1);
	write_file(kpath, img, size);
	cfg_init(&cfg, kpath, "quiet");
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(entry.protocol, "multiboot");
	ck_assert_uint_eq(entry.rip, 0x100020);
	ck_assert_uint_eq(entry.rax, MB_BOOTLOADER_MAGIC);
	ck_assert_uint_eq(entry.rbx, BOOT_INFO_ADDR);
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &mbi, sizeof(mbi)), 0);
	/* Like GRUB: the kernel's name, a space, the arguments. */
	snprintf(want, sizeof(want), "%s quiet", kpath);
	ck_assert_str_eq((const char *)gptr(mbi.cmdline, strlen(want) + 1), want);
	ck_assert_mem_eq(gptr(KADDR, 0x1000), code, 0x1000);

	/* Without arguments: just the name, no trailing space. */
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_int_eq(guest_mem_read(&mem, BOOT_INFO_ADDR, &mbi, sizeof(mbi)), 0);
	ck_assert_str_eq((const char *)gptr(mbi.cmdline, strlen(kpath) + 1), kpath);
}
END_TEST

START_TEST(test_boot_load_multiboot_kludge_file)
{
	struct vm_config cfg;
	struct boot_entry entry;
	struct mb_header h;
	size_t size = build_mb_kludge(MB_LOAD, 0, MB_LOAD + 0x8000, MB_LOAD + 0x100, &h);

	write_file(kpath, mbimg, size);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), 0);
	ck_assert_str_eq(entry.protocol, "multiboot");
	ck_assert_uint_eq(entry.rip, MB_LOAD + 0x100);
	ck_assert_mem_eq(gptr(MB_LOAD, MB_FILE), mbimg, MB_FILE);
	assert_filled(MB_LOAD + MB_FILE, 0x8000 - MB_FILE, 0);
}
END_TEST

START_TEST(test_boot_load_multiboot_cmdline_too_long)
{
	struct vm_config cfg;
	struct boot_entry entry;
	struct mb_header h;
	size_t size = build_mb_kludge(MB_LOAD, 0, 0, MB_LOAD, &h);
	char *append = malloc(CMDLINE_MAX);

	ck_assert_ptr_nonnull(append);
	/* CMDLINE_MAX - 1 bytes fit alone, but not after the kernel's name. */
	memset(append, 'a', CMDLINE_MAX - 1);
	append[CMDLINE_MAX - 1] = '\0';
	write_file(kpath, mbimg, size);
	cfg_init(&cfg, kpath, append);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &entry), -E2BIG);
	free(append);
}
END_TEST

START_TEST(test_boot_load_multiboot_unknown_flag)
{
	struct vm_config cfg;
	struct boot_entry entry;

	memset(mbimg, 0, MB_FILE);
	put_mb(mbimg, 0, 1u << 4, NULL);
	write_file(kpath, mbimg, MB_FILE);
	cfg_init(&cfg, kpath, NULL);
	ck_assert_int_lt(boot_load(&cfg, &mem, false, NULL, &entry), 0);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc;

	tc = tcase_create("elf");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_elf64_pvh_probe);
	tcase_add_test(tc, test_elf64_pvh_load);
	tcase_add_test(tc, test_elf32_two_segments);
	tcase_add_test(tc, test_elf_pvh_note_8_byte_desc);
	tcase_add_test(tc, test_elf_other_notes);
	tcase_add_test(tc, test_elf_zero_memsz_skipped);
	tcase_add_test(tc, test_elf_segment_at_end_of_ram);
	tcase_add_test(tc, test_elf_truncated_phdrs);
	tcase_add_test(tc, test_elf_truncated_elf32_header);
	tcase_add_test(tc, test_elf_segment_past_file);
	tcase_add_test(tc, test_elf_filesz_gt_memsz);
	tcase_add_test(tc, test_elf_paddr_overflow);
	tcase_add_test(tc, test_elf_below_1m);
	tcase_add_test(tc, test_elf_beyond_ram);
	tcase_add_test(tc, test_elf_wrong_machine);
	tcase_add_test(tc, test_elf_big_endian);
	tcase_add_test(tc, test_elf_not_exec);
	tcase_add_test(tc, test_elf_bad_magic);
	tcase_add_test(tc, test_elf_malformed_notes);
	tcase_add_test(tc, test_elf_note_trailing_padding);
	tcase_add_test(tc, test_elf_no_load);
	tcase_add_test(tc, test_elf_section_headers_past_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("multiboot");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_mb_find_at_zero);
	tcase_add_test(tc, test_mb_find_search_limit);
	tcase_add_test(tc, test_mb_find_alignment);
	tcase_add_test(tc, test_mb_find_bad_checksum);
	tcase_add_test(tc, test_mb_find_flags);
	tcase_add_test(tc, test_mb_find_kludge_fields);
	tcase_add_test(tc, test_mb_load_kludge);
	tcase_add_test(tc, test_mb_load_kludge_whole_file);
	tcase_add_test(tc, test_mb_load_kludge_header_not_at_start);
	tcase_add_test(tc, test_mb_load_kludge_errors);
	tcase_add_test(tc, test_mb_load_elf);
	suite_add_tcase(s, tc);

	tc = tcase_create("boot_info");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_pvh_setup);
	tcase_add_test(tc, test_pvh_setup_initrd);
	tcase_add_test(tc, test_pvh_setup_cmdline_too_long);
	tcase_add_test(tc, test_multiboot_setup);
	tcase_add_test(tc, test_multiboot_setup_initrd);
	tcase_add_test(tc, test_multiboot_setup_cmdline_too_long);
	tcase_add_test(tc, test_write_cmdline);
	tcase_add_test(tc, test_page_tables);
	suite_add_tcase(s, tc);

	tc = tcase_create("boot_load");
	tcase_add_checked_fixture(tc, files_setup, files_teardown);
	tcase_add_test(tc, test_boot_load_mkstemp_text);
	tcase_add_test(tc, test_boot_load_empty);
	tcase_add_test(tc, test_boot_load_directory);
	tcase_add_test(tc, test_boot_load_nonexistent);
	tcase_add_test(tc, test_boot_load_short_garbage);
	tcase_add_test(tc, test_boot_load_pvh);
	tcase_add_test(tc, test_boot_load_pvh_elf32_no_append);
	tcase_add_test(tc, test_boot_load_pvh_initrd);
	tcase_add_test(tc, test_boot_load_bad_initrd);
	tcase_add_test(tc, test_initrd_too_big);
	tcase_add_test(tc, test_elf_linux_note);
	tcase_add_test(tc, test_boot_load_low_kernel);
	tcase_add_test(tc, test_boot_load_linux_default_console);
	tcase_add_test(tc, test_boot_load_linux_pvm_args);
	tcase_add_test(tc, test_boot_load_linux_pvm_args_too_long);
	tcase_add_test(tc, test_boot_load_non_linux_pvm_untouched);
	tcase_add_test(tc, test_boot_load_pvh_entry_in_hole);
	tcase_add_test(tc, test_boot_load_elf_without_protocol);
	tcase_add_test(tc, test_boot_load_multiboot_elf);
	tcase_add_test(tc, test_boot_load_multiboot_kludge_file);
	tcase_add_test(tc, test_boot_load_multiboot_cmdline_too_long);
	tcase_add_test(tc, test_boot_load_multiboot_unknown_flag);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
