/* The bzImage loader (64-bit boot protocol), its zero page, and initrd placement. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/boot.h"

#define MEM_SIZE	(64ULL << 20)
#define SETUP_SECTS	4
#define SETUP_SIZE	((SETUP_SECTS + 1) * 512)
#define PAYLOAD		8192
#define IMG_SIZE	(SETUP_SIZE + PAYLOAD)
#define BP_SIZE_FOR_TEST	0x1000	/* the zero page */

static struct guest_mem mem;
static uint8_t img[IMG_SIZE];

static void w16(size_t off, uint16_t v) { memcpy(img + off, &v, 2); }
static void w32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }
static void w64(size_t off, uint64_t v) { memcpy(img + off, &v, 8); }
static uint32_t r32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t r64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

/* A minimal, valid 2.15 bzImage: setup header fields plus a recognisable payload. */
static void make_image(void)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = SETUP_SECTS;
	w16(0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;			/* header ends at 0x202 + 0x6a = 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	w16(0x206, 0x020f);
	img[0x211] = 0x01;			/* LOADED_HIGH */
	w32(0x22c, 0x7fffffff);			/* initrd_addr_max */
	w32(0x230, 0x200000);			/* kernel_alignment */
	img[0x234] = 1;				/* relocatable */
	w16(0x236, 0x0001);			/* XLF_KERNEL_64 */
	w32(0x238, 2047);			/* cmdline_size */
	w64(0x258, 0x1000000);			/* pref_address */
	w32(0x260, 0x100000);			/* init_size */
	for (size_t i = 0; i < PAYLOAD; i++)
		img[SETUP_SIZE + i] = (uint8_t)(i * 7 + 3);
}

static void setup(void)
{
	ck_assert_int_eq(guest_mem_init(&mem, MEM_SIZE, false, HUGEPAGES_NONE), 0);
	make_image();
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

START_TEST(valid_image_loads)
{
	struct boot_extras x = { .cmdline = "console=ttyS0 quiet", .initrd_addr = 0x3000000,
				 .initrd_size = 12345, .rsdp = 0xe0000 };
	struct bzimage_info bi;
	struct boot_entry e;
	const uint8_t *zp, *k, *sd;

	ck_assert_int_eq(bzimage_parse(img, IMG_SIZE, &mem, &bi), 0);
	ck_assert_uint_eq(bi.version, 0x020f);
	ck_assert_uint_eq(bi.setup_size, SETUP_SIZE);
	ck_assert_uint_eq(bi.load_addr, 0x1000000);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(bzimage_load(img, IMG_SIZE, &bi, &mem, &x, &e), 0);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	ck_assert_uint_eq(e.rip, 0x1000200);
	ck_assert_uint_eq(e.rsi, BOOT_ZERO_PAGE_ADDR);
	ck_assert_str_eq(e.protocol, "Linux boot protocol 2.15");

	k = guest_mem_ptr(&mem, 0x1000000, PAYLOAD);
	ck_assert_mem_eq(k, img + SETUP_SIZE, PAYLOAD);

	zp = guest_mem_ptr(&mem, BOOT_ZERO_PAGE_ADDR, 4096);
	ck_assert_mem_eq(zp + 0x202, "HdrS", 4);
	ck_assert_uint_eq(zp[0x210], 0xff);			/* type_of_loader */
	ck_assert_uint_eq(r32(zp, 0x228), BOOT_CMDLINE_ADDR);
	ck_assert_str_eq((const char *)guest_mem_ptr(&mem, BOOT_CMDLINE_ADDR, 1), x.cmdline);
	ck_assert_uint_eq(r32(zp, 0x218), 0x3000000);		/* ramdisk_image */
	ck_assert_uint_eq(r32(zp, 0x21c), 12345);
	ck_assert_uint_eq(r64(zp, 0x070), 0xe0000);		/* acpi_rsdp_addr */
	ck_assert_uint_eq(zp[0x1e8], 3);			/* e820 entries for 64 MiB */
	ck_assert_uint_eq(r64(zp, 0x2d0 + 2 * 20), 0x100000);	/* third: RAM from 1 MiB */
	ck_assert_uint_eq(r64(zp, 0x2d0 + 2 * 20 + 8), MEM_SIZE - 0x100000);
	ck_assert_uint_eq(r32(zp, 0x2d0 + 2 * 20 + 16), 1);

	/* setup_data: one RNG seed of 32 bytes, not all zero. */
	ck_assert_uint_eq(r64(zp, 0x250), BOOT_SETUP_DATA_ADDR);
	sd = guest_mem_ptr(&mem, BOOT_SETUP_DATA_ADDR, 48);
	ck_assert_uint_eq(r64(sd, 0), 0);
	ck_assert_uint_eq(r32(sd, 8), 9);
	ck_assert_uint_eq(r32(sd, 12), 32);
	{
		uint8_t zero[32] = { 0 };

		ck_assert(memcmp(sd + 16, zero, 32) != 0);
	}
	/* Identity map: PML4[0] -> PDPT, PD entry 3 maps 6 MiB with a 2 MiB page. */
	ck_assert_uint_eq(r64(guest_mem_ptr(&mem, BOOT_PT_ADDR, 8), 0) & ~0xfffULL,
			  BOOT_PT_ADDR + 0x1000);
	ck_assert_uint_eq(r64(guest_mem_ptr(&mem, BOOT_PT_ADDR + 0x2000 + 3 * 8, 8), 0),
			  (3ULL << 21) | 0x83);
}
END_TEST

static int parse(void)
{
	struct bzimage_info bi;

	return bzimage_parse(img, IMG_SIZE, &mem, &bi);
}

START_TEST(rejects_broken_headers)
{
	struct bzimage_info bi;

	ck_assert_int_eq(bzimage_parse(img, 0x200, &mem, &bi), -ENOEXEC);	/* truncated */
	make_image(); memcpy(img + 0x202, "HdrX", 4); ck_assert_int_eq(parse(), -ENOEXEC);
	make_image(); w16(0x1fe, 0x55aa); ck_assert_int_eq(parse(), -ENOEXEC);
	make_image(); w16(0x206, 0x020b); ck_assert_int_eq(parse(), -ENOEXEC);	/* too old */
	make_image(); w16(0x236, 0); ck_assert_int_eq(parse(), -ENOEXEC);	/* no 64-bit entry */
	make_image(); img[0x211] = 0; ck_assert_int_eq(parse(), -ENOEXEC);	/* zImage */
	make_image(); img[0x1f1] = 200; ck_assert_int_eq(parse(), -ENOEXEC);	/* setup past EOF */
	make_image(); img[0x201] = 0x10; ck_assert_int_eq(parse(), -ENOEXEC);	/* header too short */
	make_image(); w32(0x230, 0x300000); ck_assert_int_eq(parse(), -ENOEXEC);	/* alignment */
	make_image(); w32(0x260, 0x8000000); ck_assert_int_eq(parse(), -ENOEXEC);	/* > RAM */
	make_image(); ck_assert_int_eq(parse(), 0);
}
END_TEST

START_TEST(load_address)
{
	struct bzimage_info bi;

	w64(0x258, 0x80000);		/* below 1 MiB: relocatable, so 16 MiB */
	ck_assert_int_eq(bzimage_parse(img, IMG_SIZE, &mem, &bi), 0);
	ck_assert_uint_eq(bi.load_addr, 0x1000000);
	img[0x234] = 0;			/* not relocatable: refused */
	ck_assert_int_eq(bzimage_parse(img, IMG_SIZE, &mem, &bi), -ENOEXEC);
}
END_TEST

START_TEST(cmdline_limit)
{
	struct boot_extras x = { .cmdline = "0123456789" };
	struct bzimage_info bi;
	struct boot_entry e;

	w32(0x238, 9);
	ck_assert_int_eq(bzimage_parse(img, IMG_SIZE, &mem, &bi), 0);
	ck_assert_int_eq(bzimage_load(img, IMG_SIZE, &bi, &mem, &x, &e), -E2BIG);
	x.cmdline = "012345678";
	ck_assert_int_eq(bzimage_load(img, IMG_SIZE, &bi, &mem, &x, &e), 0);
}
END_TEST

static char *temp_file(size_t size)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/kvmrun-initrd-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(i ^ 0x5a);

		ck_assert_int_eq(write(fd, &b, 1), 1);
	}
	close(fd);
	return path;
}

START_TEST(initrd_placement)
{
	struct boot_extras x = { 0 };
	char *path = temp_file(5000);
	const uint8_t *p;

	/* Highest page-aligned spot below the limit. */
	ck_assert_int_eq(initrd_load(path, &mem, 0x2000000, 0x3000000, &x), 0);
	ck_assert_uint_eq(x.initrd_size, 5000);
	ck_assert_uint_eq(x.initrd_addr, (0x3000000 - 5000) & ~0xfffULL);
	p = guest_mem_ptr(&mem, x.initrd_addr, 5000);
	for (size_t i = 0; i < 5000; i++)
		ck_assert_uint_eq(p[i], (uint8_t)(i ^ 0x5a));
	/* Without a limit: the top of RAM. */
	ck_assert_int_eq(initrd_load(path, &mem, 0x2000000, 0, &x), 0);
	ck_assert_uint_eq(x.initrd_addr, (MEM_SIZE - 5000) & ~0xfffULL);
	/* No room above the kernel. */
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(initrd_load(path, &mem, MEM_SIZE - 4096, 0, &x), -EFBIG);
	ck_assert_uint_eq(x.initrd_size, 0);
	unlink(path);
	ck_assert_int_lt(initrd_load("/nonexistent/initrd", &mem, 0x2000000, 0, &x), 0);
	ck_assert_int_eq(initrd_load("/tmp", &mem, 0x2000000, 0, &x), -EINVAL);
}
END_TEST

/*
 * Found by tests/fuzz/fuzz_loader: the initrd went above load_addr + init_size,
 * and a header whose init_size is below the kernel's own size got its initrd
 * placed on the kernel, which bzimage_load() then copied over it.
 */
START_TEST(initrd_clear_of_kernel_larger_than_init_size)
{
	char kpath[] = "/tmp/kvmrun-bzimage-XXXXXX";
	char *ipath = temp_file(5000);
	struct bzimage_info bi;
	struct vm_config cfg;
	struct boot_entry e;
	const uint8_t *p;
	int fd;

	w32(0x230, 0);				/* any load address */
	w64(0x258, 0x2000000);			/* pref_address: 32 MiB */
	w32(0x260, 0);				/* init_size below the 8 KiB kernel */
	ck_assert_int_eq(bzimage_parse(img, IMG_SIZE, &mem, &bi), 0);
	ck_assert_uint_eq(bi.load_end, 0x2000000 + PAYLOAD);
	fd = mkstemp(kpath);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, img, IMG_SIZE), IMG_SIZE);
	close(fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.cmd = CMD_RUN;
	cfg.kernel = kpath;
	cfg.initrd = ipath;
	cfg.cpus = 1;
	cfg.mem_size = MEM_SIZE;
	cfg.transport = TRANSPORT_PCI;

	/* Room for it only below the kernel's end: refused, not overlapped. */
	w32(0x22c, 0x2002000 - 1);		/* initrd_addr_max */
	fd = open(kpath, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, img, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &e), -EFBIG);

	/* Room above it: the initrd is there, intact, clear of the kernel. */
	w32(0x22c, 0x2004000 - 1);
	fd = open(kpath, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, img, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	ck_assert_int_eq(boot_load(&cfg, &mem, false, NULL, &e), 0);
	p = guest_mem_ptr(&mem, BOOT_ZERO_PAGE_ADDR, BP_SIZE_FOR_TEST);
	ck_assert_uint_ge(r32(p, 0x218), 0x2000000 + PAYLOAD);
	ck_assert_uint_eq(r32(p, 0x21c), 5000);
	p = guest_mem_ptr(&mem, r32(p, 0x218), 5000);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < 5000; i++)
		ck_assert_uint_eq(p[i], (uint8_t)(i ^ 0x5a));
	p = guest_mem_ptr(&mem, 0x2000000, PAYLOAD);
	ck_assert_mem_eq(p, img + SETUP_SIZE, PAYLOAD);
	unlink(kpath);
	unlink(ipath);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bzimage");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_image_loads);
	tcase_add_test(tc, rejects_broken_headers);
	tcase_add_test(tc, load_address);
	tcase_add_test(tc, cmdline_limit);
	tcase_add_test(tc, initrd_placement);
	tcase_add_test(tc, initrd_clear_of_kernel_larger_than_init_size);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
