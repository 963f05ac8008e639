/* Unit tests for the command line: parse_size() and config_parse(). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/config.h"

/* ---- helpers ---- */

#define MAX_ARGS 32

/*
 * config_parse() rewrites argv (the subcommand slot, and getopt permutes), so
 * every call gets a fresh mutable pointer array.  The strings themselves are
 * never written.
 */
struct args {
	char *v[MAX_ARGS + 1];
	int c;
};

static void args_build(struct args *a, const char *const *list)
{
	a->c = 0;
	while (list[a->c]) {
		ck_assert_int_lt(a->c, MAX_ARGS);
		a->v[a->c] = (char *)list[a->c];
		a->c++;
	}
	a->v[a->c] = NULL;
}

static char errbuf[512];

/* Parses a NULL-terminated list; on failure checks the error is a non-empty one-liner. */
static int parse_list(struct vm_config *cfg, const char *const *list)
{
	struct args a;
	int r;

	args_build(&a, list);
	memset(errbuf, 0, sizeof(errbuf));
	r = config_parse(cfg, a.c, a.v, errbuf, sizeof(errbuf));
	if (r) {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_msg(errbuf[0] != '\0', "empty error message");
		ck_assert_msg(strchr(errbuf, '\n') == NULL, "error has a newline: '%s'", errbuf);
	}
	return r;
}

#define PARSE(cfg, ...) parse_list((cfg), (const char *const[]){ __VA_ARGS__, NULL })

static void assert_ok(int r)
{
	ck_assert_msg(r == 0, "config_parse failed: %d '%s'", r, errbuf);
}

static void assert_err(int r)
{
	ck_assert_msg(r == -EINVAL, "config_parse accepted a bad command line (r=%d)", r);
}

static void assert_err_contains(int r, const char *needle)
{
	assert_err(r);
	ck_assert_msg(strstr(errbuf, needle) != NULL, "error '%s' does not mention '%s'",
		      errbuf, needle);
}

/* ---- parse_size ---- */

struct size_case {
	const char *s;
	int r;
	uint64_t v;
};

static const struct size_case size_cases[] = {
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "4096", 0, 4096 },
	{ "1k", 0, 1024 },
	{ "1K", 0, 1024 },
	{ "256M", 0, 256ULL << 20 },
	{ "256m", 0, 256ULL << 20 },
	{ "256MiB", 0, 256ULL << 20 },
	{ "256MB", 0, 256ULL << 20 },
	{ "4KiB", 0, 4096 },
	{ "3G", 0, 3ULL << 30 },
	{ "3g", 0, 3ULL << 30 },
	{ "2GiB", 0, 2ULL << 30 },
	{ "1T", 0, 1ULL << 40 },
	{ "1t", 0, 1ULL << 40 },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "17179869183G", 0, 17179869183ULL << 30 },
	/* Overflow. */
	{ "99999999999999999999", -ERANGE, 0 },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "20000000T", -ERANGE, 0 },
	{ "16777216T", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
	{ "18446744073709551615K", -ERANGE, 0 },
	/* Garbage. */
	{ "", -EINVAL, 0 },
	{ "M", -EINVAL, 0 },
	{ "12Q", -EINVAL, 0 },
	{ "-5", -EINVAL, 0 },
	{ "+5", -EINVAL, 0 },
	{ " 5", -EINVAL, 0 },
	{ "5 ", -EINVAL, 0 },
	{ "5M ", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "256B", -EINVAL, 0 },
	{ "256Mi", -EINVAL, 0 },
	{ "256MiBB", -EINVAL, 0 },
	{ "256MBB", -EINVAL, 0 },
	{ "256mib", -EINVAL, 0 },
	{ "256KM", -EINVAL, 0 },
	{ "256iB", -EINVAL, 0 },
};

START_TEST(test_parse_size_table)
{
	const struct size_case *c = &size_cases[_i];
	uint64_t v = 0x5a5a5a5a5a5a5a5aULL;
	int r = parse_size(c->s, &v);

	ck_assert_msg(r == c->r, "parse_size(\"%s\") = %d, expected %d", c->s, r, c->r);
	if (c->r == 0)
		ck_assert_msg(v == c->v, "parse_size(\"%s\") -> %llu, expected %llu", c->s,
			      (unsigned long long)v, (unsigned long long)c->v);
	else
		ck_assert_msg(v == 0x5a5a5a5a5a5a5a5aULL,
			      "parse_size(\"%s\") wrote its output on failure", c->s);
}
END_TEST

START_TEST(test_parse_size_null)
{
	uint64_t v = 7;

	ck_assert_int_eq(parse_size(NULL, &v), -EINVAL);
	ck_assert_uint_eq(v, 7);
}
END_TEST

/* ---- config_parse: basics ---- */

START_TEST(test_run_minimal_defaults)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "vmlinux"));
	ck_assert_int_eq(cfg.cmd, CMD_RUN);
	ck_assert_str_eq(cfg.kernel, "vmlinux");
	ck_assert_ptr_null(cfg.append);
	ck_assert_ptr_null(cfg.initrd);
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_uint_eq(cfg.mem_size, 256ULL << 20);
	ck_assert(!cfg.mem_shared);
	ck_assert_int_eq(cfg.hugepages, HUGEPAGES_THP);
	ck_assert(cfg.timeout == 0.0);
	ck_assert_int_eq(cfg.serial, SERIAL_STDIO);
	ck_assert_int_eq(cfg.pvm, TRI_AUTO);
	ck_assert(!cfg.reboot_restart);
	ck_assert(!cfg.no_pit);
	ck_assert_int_eq(cfg.verbosity, 0);
}
END_TEST

START_TEST(test_run_all_options)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "-k", "bzImage", "-i", "initrd.cpio",
			"-a", "console=ttyS0 quiet", "-c", "4", "-m", "1G", "--mem-shared",
			"--hugepages", "thp", "-t", "2.5", "-s", "none", "--pvm", "off",
			"--reboot", "restart", "-v"));
	ck_assert_str_eq(cfg.kernel, "bzImage");
	ck_assert_str_eq(cfg.initrd, "initrd.cpio");
	ck_assert_str_eq(cfg.append, "console=ttyS0 quiet");
	ck_assert_uint_eq(cfg.cpus, 4);
	ck_assert_uint_eq(cfg.mem_size, 1ULL << 30);
	ck_assert(cfg.mem_shared);
	ck_assert_int_eq(cfg.hugepages, HUGEPAGES_THP);
	ck_assert(cfg.timeout == 2.5);
	ck_assert_int_eq(cfg.serial, SERIAL_NONE);
	ck_assert_int_eq(cfg.pvm, TRI_OFF);
	ck_assert(cfg.reboot_restart);
	ck_assert_int_eq(cfg.verbosity, 1);
}
END_TEST

START_TEST(test_long_option_equals_form)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel=k", "--cpus=3", "--memory=64M"));
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_uint_eq(cfg.cpus, 3);
	ck_assert_uint_eq(cfg.mem_size, 64ULL << 20);
}
END_TEST

START_TEST(test_options_before_kernel_order_independent)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--cpus", "2", "--kernel", "k"));
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_uint_eq(cfg.cpus, 2);
}
END_TEST

START_TEST(test_missing_kernel)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "run"), "--kernel");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--cpus", "2"), "--kernel");
}
END_TEST

START_TEST(test_empty_kernel_name)
{
	struct vm_config cfg;

	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", ""));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel="));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--initrd", ""));
}
END_TEST

START_TEST(test_no_command)
{
	struct vm_config cfg;

	assert_err(PARSE(&cfg, "kvmrun"));
}
END_TEST

START_TEST(test_unknown_command)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "bogus", "--kernel", "k"), "bogus");
	assert_err(PARSE(&cfg, "kvmrun", "runn", "--kernel", "k"));
	assert_err(PARSE(&cfg, "kvmrun", "", "--kernel", "k"));
}
END_TEST

START_TEST(test_implicit_run)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "--kernel", "k", "--cpus", "2"));
	ck_assert_int_eq(cfg.cmd, CMD_RUN);
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_uint_eq(cfg.cpus, 2);

	assert_ok(PARSE(&cfg, "kvmrun", "-k", "k2"));
	ck_assert_str_eq(cfg.kernel, "k2");
}
END_TEST

/* ---- --cpus ---- */

START_TEST(test_cpus)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "1"));
	ck_assert_uint_eq(cfg.cpus, 1);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "255"));
	ck_assert_uint_eq(cfg.cpus, 255);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-c", "17"));
	ck_assert_uint_eq(cfg.cpus, 17);

	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "0"), "--cpus");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "256"), "--cpus");
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "abc"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "-1"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "2x"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", ""));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus", "4294967297"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--cpus",
			 "99999999999999999999999"));
}
END_TEST

/* ---- --memory ---- */

START_TEST(test_memory)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2M"));
	ck_assert_uint_eq(cfg.mem_size, 2ULL << 20);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "3G"));
	ck_assert_uint_eq(cfg.mem_size, 3ULL << 30);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-m", "1T"));
	ck_assert_uint_eq(cfg.mem_size, 1ULL << 40);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-m", "2052K"));
	ck_assert_uint_eq(cfg.mem_size, 2052ULL << 10);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-m", "512MiB"));
	ck_assert_uint_eq(cfg.mem_size, 512ULL << 20);

	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "1M"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2047K"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "0"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "4097"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "1025G"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2T"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "20000000T"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "12Q"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "lots"));
	/* At least 2M but not whole 4K pages. */
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2049K"),
			    "4K");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2097153"),
			    "4K");
}
END_TEST

/* ---- --timeout ---- */

START_TEST(test_timeout)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "0.5"));
	ck_assert(cfg.timeout == 0.5);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-t", "30"));
	ck_assert(cfg.timeout == 30.0);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-t", "31536000"));
	ck_assert(cfg.timeout == 31536000.0);

	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "0"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "-1"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "abc"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "inf"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "nan"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", ""));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "5s"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "1e999"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--timeout", "31536001"));
}
END_TEST

/* ---- --serial ---- */

START_TEST(test_serial)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "stdio"));
	ck_assert_int_eq(cfg.serial, SERIAL_STDIO);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "none"));
	ck_assert_int_eq(cfg.serial, SERIAL_NONE);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "file:/x"));
	ck_assert_int_eq(cfg.serial, SERIAL_FILE);
	ck_assert_str_eq(cfg.serial_path, "/x");
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-s", "file:out:log"));
	ck_assert_int_eq(cfg.serial, SERIAL_FILE);
	ck_assert_str_eq(cfg.serial_path, "out:log");

	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "file:"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "bogus"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "file"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", "STDIO"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--serial", ""));
}
END_TEST

/* ---- --hugepages ---- */

START_TEST(test_hugepages)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", "thp"));
	ck_assert_int_eq(cfg.hugepages, HUGEPAGES_THP);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", "hugetlb"));
	ck_assert_int_eq(cfg.hugepages, HUGEPAGES_HUGETLB);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", "thp",
			"--hugepages", "none"));
	ck_assert_int_eq(cfg.hugepages, HUGEPAGES_NONE);
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", "bad"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", ""));
}
END_TEST

START_TEST(test_hugetlb_needs_2m_multiple)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages", "hugetlb",
			"--memory", "4M"));
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2M",
			"--hugepages", "hugetlb"));
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--hugepages",
				  "hugetlb", "--memory", "3M"), "2M");
	/* The order of the options must not matter. */
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "3M",
			 "--hugepages", "hugetlb"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "2052K",
			 "--hugepages", "hugetlb"));
	/* thp has no such constraint. */
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory", "3M",
			"--hugepages", "thp"));
}
END_TEST

/* ---- --pvm, --reboot ---- */

START_TEST(test_pvm)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm", "on"));
	ck_assert_int_eq(cfg.pvm, TRI_ON);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm", "off"));
	ck_assert_int_eq(cfg.pvm, TRI_OFF);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm", "on", "--pvm", "auto"));
	ck_assert_int_eq(cfg.pvm, TRI_AUTO);
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm", "bad"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm", "yes"));
}
END_TEST

START_TEST(test_reboot)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--reboot", "restart"));
	ck_assert(cfg.reboot_restart);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--reboot", "restart",
			"--reboot", "exit"));
	ck_assert(!cfg.reboot_restart);
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--reboot", "again"));
}
END_TEST

/* --irqchip split: the IOAPIC in kvmrun, so no PIC and no PIT; kernel is the default. */
START_TEST(test_irqchip)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k"));
	ck_assert_int_eq(cfg.irqchip, IRQCHIP_KERNEL);
	ck_assert(!cfg.no_pit);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--irqchip", "split"));
	ck_assert_int_eq(cfg.irqchip, IRQCHIP_SPLIT);
	ck_assert(cfg.no_pit);
	ck_assert_uint_eq(cfg.given & CFG_GIVEN_MACHINE, CFG_GIVEN_MACHINE);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--irqchip", "kernel"));
	ck_assert_int_eq(cfg.irqchip, IRQCHIP_KERNEL);
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--irqchip", "off"),
			    "--irqchip 'off': expected kernel or split");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--irqchip", "split",
				  "--vfio", "0000:01:00.1"),
			    "--vfio with --irqchip split");
	assert_err_contains(PARSE(&cfg, "kvmrun", "restore", "dir", "--irqchip", "split"),
			    "the machine (kernel, vCPUs, memory, devices) is the snapshot's");
}
END_TEST

START_TEST(test_no_pit)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--no-pit"));
	ck_assert(cfg.no_pit);
	ck_assert_uint_eq(cfg.given & CFG_GIVEN_MACHINE, CFG_GIVEN_MACHINE);
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--no-pit=1"),
			    "option '--no-pit' takes no value");
}
END_TEST

START_TEST(test_edu_iommu)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--edu"));
	ck_assert(cfg.edu && !cfg.iommu);
	ck_assert_uint_eq(cfg.given & CFG_GIVEN_MACHINE, CFG_GIVEN_MACHINE);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--edu", "--iommu", "intel"));
	ck_assert(cfg.iommu);
	ck_assert_int_eq(cfg.iommu_ir, IOMMU_IR_OFF);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu", "intel,intremap=msi"));
	ck_assert_int_eq(cfg.iommu_ir, IOMMU_IR_MSI);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu", "intel,intremap=off"));
	ck_assert_int_eq(cfg.iommu_ir, IOMMU_IR_OFF);
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu", "amd"),
			    "--iommu 'amd': expected intel[,intremap=on|msi|off]");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu", "intelx"),
			    "--iommu 'intelx': expected intel");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu",
				  "intel,eim=on"), "unsupported option 'eim=on'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--edu", "--transport",
				  "mmio"), "--edu needs --transport pci");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--iommu",
				  "intel,intremap=on"), "needs the split irqchip");
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--irqchip", "split", "--iommu",
			"intel,intremap=on", "--edu"));
	ck_assert_int_eq(cfg.iommu_ir, IOMMU_IR_ON);
}
END_TEST

/* ---- getopt errors ---- */

START_TEST(test_unknown_option)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--bogus"), "--bogus");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-Z"), "-Z");
	assert_err(PARSE(&cfg, "kvmrun", "run", "--bogus", "--kernel", "k"));
	assert_err(PARSE(&cfg, "kvmrun", "--bogus", "--kernel", "k"));
}
END_TEST

/* Found by tests/fuzz/fuzz_config: a bad letter before the end of a group named the previous word. */
START_TEST(test_unknown_option_in_group)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "-xv"), "unknown option '-x'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "-xv"), "'-x'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "file", "-vxq"), "'-x'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--rng", "-xk", "k"), "'-x'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "-:v"), "'-:'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "-\xe9v"), "'-\xe9'");
	/* Long options still name their word. */
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "--bogus", "-v"), "'--bogus'");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "--rng=1"),
			    "option '--rng' takes no value");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "f", "--verbose=1"),
			    "option '--verbose' takes no value");
	/* A missing value inside a group names the option, not the group. */
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-vk"), "option '-k' needs a value");
}
END_TEST

/* Found by tests/fuzz/fuzz_config: sscanf's %2x took signs, spaces and newlines in a MAC. */
START_TEST(test_net_mac)
{
	static const char *const bad[] = {
		"tap=t,mac=-2:-2:-2:-2:-2:-2", "tap=t,mac= 2: 2: 2: 2: 2: 2",
		"tap=t,mac=+2:+2:+2:+2:+2:+2", "tap=t,mac=52:53:00:\n2:34:56",
		"tap=t,mac=52:54:00:12:34:5", "tap=t,mac=52:54:00:12:34:567",
		"tap=t,mac=52-54-00-12-34-56", "tap=t,mac=52:54:00:12:34:5g",
		"tap=t,mac=0x:54:00:12:34:56", "tap=t,mac=01:54:00:12:34:56",
	};
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xCD, 0xef };
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "-k", "k", "--net", "tap=t,mac=52:54:00:ab:CD:ef"));
	ck_assert(cfg.has_net && cfg.net.mac_given);
	ck_assert_mem_eq(cfg.net.mac, want, 6);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_err_contains(PARSE(&cfg, "kvmrun", "run", "-k", "k", "--net", bad[i]), "mac");
}
END_TEST

START_TEST(test_option_without_value)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel"), "--kernel");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--memory"), "--memory");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-c"), "-c");
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--pvm"));
	assert_err(PARSE(&cfg, "kvmrun", "--kernel", "k", "--timeout"));
}
END_TEST

START_TEST(test_flag_with_value)
{
	struct vm_config cfg;

	/* A no-argument option given a value must be refused. */
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--quiet=1"));
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--mem-shared=yes"));
}
END_TEST

START_TEST(test_flag_with_value_message)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--mem-shared=yes"),
			    "mem-shared");
}
END_TEST

START_TEST(test_error_is_one_printable_line)
{
	struct vm_config cfg;
	char err[256];
	const char *argv_c[] = { "kvmrun", "bad\ncmd\x1b[2J", NULL };
	char *argv[3] = { (char *)argv_c[0], (char *)argv_c[1], NULL };

	ck_assert_int_eq(config_parse(&cfg, 2, argv, err, sizeof(err)), -EINVAL);
	for (const char *p = err; *p; p++)
		ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "control character in '%s'", err);
	ck_assert_ptr_nonnull(strstr(err, "bad?cmd"));
}
END_TEST

START_TEST(test_stray_argument)
{
	struct vm_config cfg;

	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "stray"), "stray");
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "stray", "--kernel", "k"), "stray");
	assert_err(PARSE(&cfg, "kvmrun", "--kernel", "k", "extra"));
	assert_err(PARSE(&cfg, "kvmrun", "info", "extra"));
	/* After "--" everything is an argument, and arguments are refused. */
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--", "--cpus"));
}
END_TEST

/* ---- commands ---- */

START_TEST(test_info)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "info"));
	ck_assert_int_eq(cfg.cmd, CMD_INFO);
	assert_ok(PARSE(&cfg, "kvmrun", "info", "-v"));
	ck_assert_int_eq(cfg.cmd, CMD_INFO);
	ck_assert_int_eq(cfg.verbosity, 1);

	assert_err(PARSE(&cfg, "kvmrun", "info", "--kernel", "k"));
	assert_err(PARSE(&cfg, "kvmrun", "info", "--append", "x"));
	assert_err(PARSE(&cfg, "kvmrun", "info", "--initrd", "i"));
}
END_TEST

START_TEST(test_help_version)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "--help"));
	ck_assert_int_eq(cfg.cmd, CMD_HELP);
	assert_ok(PARSE(&cfg, "kvmrun", "-h"));
	ck_assert_int_eq(cfg.cmd, CMD_HELP);
	assert_ok(PARSE(&cfg, "kvmrun", "help"));
	ck_assert_int_eq(cfg.cmd, CMD_HELP);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--help"));
	ck_assert_int_eq(cfg.cmd, CMD_HELP);
	assert_ok(PARSE(&cfg, "kvmrun", "--version"));
	ck_assert_int_eq(cfg.cmd, CMD_VERSION);
	assert_ok(PARSE(&cfg, "kvmrun", "-V"));
	ck_assert_int_eq(cfg.cmd, CMD_VERSION);

	ck_assert(strstr(config_usage_text, "--kernel") != NULL);
	ck_assert(strstr(config_usage_text, "usage:") == config_usage_text);
}
END_TEST

START_TEST(test_verbosity)
{
	struct vm_config cfg;

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-v", "-v"));
	ck_assert_int_eq(cfg.verbosity, 2);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-vvv"));
	ck_assert_int_eq(cfg.verbosity, 3);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--verbose"));
	ck_assert_int_eq(cfg.verbosity, 1);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "-q"));
	ck_assert_int_eq(cfg.verbosity, -1);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--quiet"));
	ck_assert_int_eq(cfg.verbosity, -1);
}
END_TEST

/* ---- --append length ---- */

START_TEST(test_append_length)
{
	struct vm_config cfg;
	char *s = malloc(CMDLINE_MAX + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'a', CMDLINE_MAX);
	s[CMDLINE_MAX - 1] = '\0';	/* CMDLINE_MAX - 1 characters: fits with the NUL */
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--append", s));
	ck_assert_uint_eq(strlen(cfg.append), CMDLINE_MAX - 1);

	memset(s, 'a', CMDLINE_MAX);
	s[CMDLINE_MAX] = '\0';		/* one too many */
	assert_err_contains(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--append", s),
			    "--append");

	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "k", "--append", ""));
	ck_assert_str_eq(cfg.append, "");
	free(s);
}
END_TEST

/* ---- repeated parses ---- */

START_TEST(test_parse_twice_resets_state)
{
	struct vm_config cfg;

	/* getopt state from the first parse must not leak into the second. */
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "a", "--cpus", "8", "-v"));
	ck_assert_uint_eq(cfg.cpus, 8);
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--kernel", "b"));
	ck_assert_str_eq(cfg.kernel, "b");
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_int_eq(cfg.verbosity, 0);
	assert_err(PARSE(&cfg, "kvmrun", "run", "--kernel", "b", "--bogus"));
	assert_ok(PARSE(&cfg, "kvmrun", "run", "--memory", "8M", "--kernel", "c"));
	ck_assert_str_eq(cfg.kernel, "c");
	ck_assert_uint_eq(cfg.mem_size, 8ULL << 20);
}
END_TEST

START_TEST(test_small_error_buffer)
{
	struct vm_config cfg;
	char small[8];
	char *argv[] = { (char *)"kvmrun", (char *)"run", (char *)"--cpus", (char *)"0",
			 (char *)"--kernel", (char *)"k", NULL };

	memset(small, 'X', sizeof(small));
	ck_assert_int_eq(config_parse(&cfg, 6, argv, small, sizeof(small)), -EINVAL);
	/* Truncated, but NUL-terminated inside the buffer. */
	ck_assert_ptr_nonnull(memchr(small, '\0', sizeof(small)));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("parse_size");
	tcase_add_loop_test(tc, test_parse_size_table, 0,
			    (int)(sizeof(size_cases) / sizeof(size_cases[0])));
	tcase_add_test(tc, test_parse_size_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("config_parse");
	tcase_add_test(tc, test_run_minimal_defaults);
	tcase_add_test(tc, test_run_all_options);
	tcase_add_test(tc, test_long_option_equals_form);
	tcase_add_test(tc, test_options_before_kernel_order_independent);
	tcase_add_test(tc, test_missing_kernel);
	tcase_add_test(tc, test_empty_kernel_name);
	tcase_add_test(tc, test_no_command);
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_implicit_run);
	tcase_add_test(tc, test_cpus);
	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_serial);
	tcase_add_test(tc, test_hugepages);
	tcase_add_test(tc, test_hugetlb_needs_2m_multiple);
	tcase_add_test(tc, test_pvm);
	tcase_add_test(tc, test_reboot);
	tcase_add_test(tc, test_no_pit);
	tcase_add_test(tc, test_edu_iommu);
	tcase_add_test(tc, test_irqchip);
	tcase_add_test(tc, test_unknown_option);
	tcase_add_test(tc, test_unknown_option_in_group);
	tcase_add_test(tc, test_net_mac);
	tcase_add_test(tc, test_option_without_value);
	tcase_add_test(tc, test_flag_with_value);
	tcase_add_test(tc, test_flag_with_value_message);
	tcase_add_test(tc, test_error_is_one_printable_line);
	tcase_add_test(tc, test_stray_argument);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_verbosity);
	tcase_add_test(tc, test_append_length);
	tcase_add_test(tc, test_parse_twice_resets_state);
	tcase_add_test(tc, test_small_error_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
