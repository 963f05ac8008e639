/* Unit tests for the QEMU-compatible front (src/qemu_args.c): every option, accepted and refused. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/cpuid.h"
#include "kvmrun/qemu_args.h"
#include "testlib.h"

#define MAX_ARGS 40

static struct qemu_args qa;
static char errbuf[512];

/* Parses "qemu-system-x86_64 LIST..."; a failure must leave a non-empty one-line error. */
static int parse_list(const char *const *list)
{
	char *v[MAX_ARGS + 1];
	int c = 0, r;

	v[c++] = "qemu-system-x86_64";
	while (list[c - 1]) {
		ck_assert_int_lt(c, MAX_ARGS);
		v[c] = (char *)list[c - 1];
		c++;
	}
	v[c] = NULL;
	memset(errbuf, 0, sizeof(errbuf));
	r = qemu_args_parse(&qa, c, v, 1, errbuf, sizeof(errbuf));
	if (r) {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_msg(errbuf[0] && !strchr(errbuf, '\n'), "bad error line '%s'", errbuf);
	}
	return r;
}

#define PARSE(...) parse_list((const char *const[]){ __VA_ARGS__, NULL })
#define OK(...) ck_assert_msg(PARSE(__VA_ARGS__) == 0, "refused: '%s'", errbuf)

/* ---- accepted ---- */

START_TEST(test_invoked_as)
{
	ck_assert(qemu_args_invoked_as("qemu-system-x86_64"));
	ck_assert(qemu_args_invoked_as("/tmp/bin/qemu-system-x86_64"));
	ck_assert(qemu_args_invoked_as("/usr/local/bin/qemu-system-kvmrun"));
	ck_assert(!qemu_args_invoked_as("kvmrun"));
	ck_assert(!qemu_args_invoked_as("/usr/bin/qemu-system-x86_64-spice"));
	ck_assert(!qemu_args_invoked_as("qemu-system-x86"));
	ck_assert(!qemu_args_invoked_as(NULL));
}
END_TEST

START_TEST(test_defaults)
{
	OK("-kernel", "k");
	ck_assert_int_eq(qa.cfg.cmd, CMD_RUN);
	ck_assert_str_eq(qa.cfg.kernel, "k");
	ck_assert_ptr_null(qa.cfg.append);
	ck_assert_ptr_null(qa.cfg.initrd);
	ck_assert_uint_eq(qa.cfg.mem_size, 128ULL << 20);	/* QEMU's default, not kvmrun's */
	ck_assert_uint_eq(qa.cfg.cpus, 1);
	ck_assert_int_eq(qa.cfg.serial, SERIAL_STDIO);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
	ck_assert(qa.cfg.reboot_restart);	/* QEMU boots again after a reset */
	ck_assert(qa.cfg.seccomp);
	ck_assert_int_eq(qa.cfg.pvm, TRI_AUTO);
	ck_assert_uint_eq(qa.cfg.nr_disks, 0);
	ck_assert(!qa.cfg.has_net && !qa.cfg.rng && !qa.cfg.pc_testdev && !qa.cfg.pci_testdev);
	ck_assert(!qa.cfg.pit_discard);
	ck_assert(!qa.cfg.no_pit);
	ck_assert_ptr_null(qa.pidfile);
	ck_assert_uint_eq(qa.nr_notes, 0);
}
END_TEST

/* kunit.py's command line (tools/testing/kunit/kunit_kernel.py) and the project's qemu_config. */
START_TEST(test_kunit_command_line)
{
	OK("-nodefaults", "-m", "1024", "-kernel", "/b/vmlinux", "-append",
	   "kunit.enable=1 console=ttyS0 kunit_shutdown=reboot", "-no-reboot", "-nographic",
	   "-serial", "stdio", "-enable-kvm", "-cpu", "host", "-smp", "2");
	ck_assert_str_eq(qa.cfg.kernel, "/b/vmlinux");
	ck_assert_str_eq(qa.cfg.append, "kunit.enable=1 console=ttyS0 kunit_shutdown=reboot");
	ck_assert_uint_eq(qa.cfg.mem_size, 1024ULL << 20);
	ck_assert_uint_eq(qa.cfg.cpus, 2);
	ck_assert_int_eq(qa.cfg.serial, SERIAL_STDIO);
	ck_assert(!qa.cfg.reboot_restart);
	/* tools/kunit/kvmrun_x86_64.py's extra -m and -smp come last and win, as in QEMU. */
	OK("-nodefaults", "-m", "1024", "-kernel", "/b/vmlinux", "-smp", "1", "-m", "256");
	ck_assert_uint_eq(qa.cfg.mem_size, 256ULL << 20);
	ck_assert_uint_eq(qa.cfg.cpus, 1);
}
END_TEST

/* kvm-unit-tests' x86 runner, less the testdevs (their own test below). */
START_TEST(test_kvm_unit_tests_command_line)
{
	OK("--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard",
	   "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4",
	   "-vnc", "none", "-serial", "stdio", "-machine", "accel=kvm", "-kernel", "x86/msr.flat",
	   "-smp", "1", "-initrd", "/tmp/env", "-append", "-cpu max", "-cpu", "max");
	ck_assert(!qa.cfg.reboot_restart);
	ck_assert(qa.cfg.pit_discard);
	ck_assert_str_eq(qa.cfg.initrd, "/tmp/env");
	ck_assert_str_eq(qa.cfg.append, "-cpu max");
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
}
END_TEST

struct mem_case {
	const char *arg;
	uint64_t bytes;
};

static const struct mem_case mem_cases[] = {
	{ "512", 512ULL << 20 }, { "64M", 64ULL << 20 }, { "64m", 64ULL << 20 },
	{ "2G", 2ULL << 30 }, { "1.5G", 3ULL << 29 }, { "1T", 1ULL << 40 },
	{ "4096k", 4ULL << 20 }, { "4096K", 4ULL << 20 }, { "8388608B", 8ULL << 20 },
	{ "size=256", 256ULL << 20 }, { "size=1G", 1ULL << 30 },
	{ "256M,maxmem=256M", 256ULL << 20 }, { "0.5T", 1ULL << 39 }, { "0.25G", 256ULL << 20 },
	{ "0x10", 0 }, { "1.5X", 0 }, { "64MiB", 0 }, { "-64", 0 },
};

START_TEST(test_memory_sizes)
{
	const struct mem_case *mc = &mem_cases[_i];
	int r = PARSE("-kernel", "k", "-m", mc->arg);

	if (!mc->bytes) {
		ck_assert_int_eq(r, -EINVAL);
		return;
	}
	ck_assert_msg(r == 0, "-m %s refused: %s", mc->arg, errbuf);
	ck_assert_uint_eq(qa.cfg.mem_size, mc->bytes);
}
END_TEST

START_TEST(test_memory_slots_noted)
{
	OK("-kernel", "k", "-m", "size=512M,slots=4");
	ck_assert_uint_eq(qa.cfg.mem_size, 512ULL << 20);
	ck_assert_uint_eq(qa.nr_notes, 1);
	ck_assert_str_eq(qa.notes[0], "-m slots=4 ignored: kvmrun has no memory hotplug");
}
END_TEST

START_TEST(test_smp)
{
	OK("-kernel", "k", "-smp", "4");
	ck_assert_uint_eq(qa.cfg.cpus, 4);
	OK("-kernel", "k", "-smp", "cpus=3");
	ck_assert_uint_eq(qa.cfg.cpus, 3);
	OK("-kernel", "k", "-smp", "sockets=1,cores=4,threads=1");
	ck_assert_uint_eq(qa.cfg.cpus, 4);
	ck_assert_uint_eq(qa.nr_notes, 0);
	OK("-kernel", "k", "-smp", "2,maxcpus=2");
	ck_assert_uint_eq(qa.cfg.cpus, 2);
	OK("-kernel", "k", "-smp", "8,sockets=2,cores=2,threads=2");
	ck_assert_uint_eq(qa.cfg.cpus, 8);
	ck_assert_uint_eq(qa.nr_notes, 1);
	ck_assert_str_eq(qa.notes[0], "-smp: the guest sees 8 cores in one package (kvmrun's only topology)");
	OK("-kernel", "k", "-smp", "255");
	ck_assert_uint_eq(qa.cfg.cpus, 255);
}
END_TEST

START_TEST(test_machine)
{
	static const char *const pci[] = { "pc", "q35", "pc-i440fx-7.2", "pc-q35-7.2",
					   "pc,accel=kvm", "q35,accel=kvm,kernel-irqchip=on",
					   "type=pc", "accel=kvm", "accel=kvm:tcg", "pc,usb=off,vmport=off,smm=off,hpet=off" };

	for (size_t i = 0; i < sizeof(pci) / sizeof(pci[0]); i++) {
		ck_assert_msg(PARSE("-kernel", "k", "-machine", pci[i]) == 0, "%s: %s", pci[i], errbuf);
		ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
	}
	OK("-kernel", "k", "-M", "microvm,accel=kvm");
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_MMIO);
	OK("-kernel", "k", "-M", "microvm", "-device", "virtio-rng-device");
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_MMIO);
	ck_assert(qa.cfg.rng);
}
END_TEST

/* kvm-unit-tests' intel_iommu: the split irqchip (userspace IOAPIC), which has no PIT. */
START_TEST(test_machine_split_irqchip)
{
	OK("-kernel", "k", "-global", "kvm-pit.lost_tick_policy=discard", "-M",
	   "q35,kernel-irqchip=split", "-smp", "4");
	ck_assert_int_eq(qa.cfg.irqchip, IRQCHIP_SPLIT);
	ck_assert(qa.cfg.no_pit);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
	OK("-kernel", "k", "-M", "q35,kernel-irqchip=on");
	ck_assert_int_eq(qa.cfg.irqchip, IRQCHIP_KERNEL);
	ck_assert(!qa.cfg.no_pit);
	/* The last word wins. */
	OK("-kernel", "k", "-M", "q35,kernel-irqchip=split", "-M", "kernel-irqchip=on");
	ck_assert_int_eq(qa.cfg.irqchip, IRQCHIP_KERNEL);
	ck_assert(!qa.cfg.no_pit);
}
END_TEST

/* kvm-unit-tests' vmexit_ipi adds -machine pit=off to the runner's line (and its -global). */
START_TEST(test_machine_pit)
{
	OK("-kernel", "k", "-global", "kvm-pit.lost_tick_policy=discard", "-machine", "accel=kvm",
	   "-smp", "2", "-machine", "pit=off");
	ck_assert(qa.cfg.no_pit);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
	OK("-kernel", "k", "-M", "microvm,pit=off");
	ck_assert(qa.cfg.no_pit);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_MMIO);
	/* The last word wins, as with every QEMU property. */
	OK("-kernel", "k", "-M", "pc,pit=off", "-M", "pit=on");
	ck_assert(!qa.cfg.no_pit);
}
END_TEST

START_TEST(test_accel_cpu_display)
{
	OK("-kernel", "k", "-accel", "kvm", "-enable-kvm", "--enable-kvm", "-no-user-config",
	   "-display", "none", "-vga", "none", "-vnc", "none", "-monitor", "none", "-nographic");
	OK("-kernel", "k", "-cpu", "host");
	OK("-kernel", "k", "-cpu", "max");
	OK("-kernel", "k", "-cpu", "qemu64");
	OK("-kernel", "k", "-cpu", "kvm64");
	ck_assert_uint_eq(qa.cfg.cpu_on | qa.cfg.cpu_off, 0);
}
END_TEST

static uint32_t feat(const char *name)
{
	int i = cpuid_feature_find(name);

	ck_assert_msg(i >= 0, "%s not in the table", name);
	return 1u << i;
}

/* Every -cpu line of kvm-unit-tests' x86/unittests.cfg that kvmrun can honour. */
START_TEST(test_cpu_features)
{
	OK("-kernel", "k", "-cpu", "qemu64,+x2apic,+tsc-deadline");
	ck_assert_uint_eq(qa.cfg.cpu_on, feat("x2apic") | feat("tsc-deadline"));
	ck_assert_uint_eq(qa.cfg.cpu_off, 0);
	OK("-kernel", "k", "-cpu", "qemu64,-x2apic,+tsc-deadline");
	ck_assert_uint_eq(qa.cfg.cpu_on, feat("tsc-deadline"));
	ck_assert_uint_eq(qa.cfg.cpu_off, feat("x2apic"));
	OK("-kernel", "k", "-cpu", "qemu64,-pcid,-invpcid");
	ck_assert_uint_eq(qa.cfg.cpu_on, 0);
	ck_assert_uint_eq(qa.cfg.cpu_off, feat("pcid") | feat("invpcid"));
	OK("-kernel", "k", "-cpu", "qemu64,+umip");
	ck_assert_uint_eq(qa.cfg.cpu_on, feat("umip"));
	/* QEMU's other spellings: F=on|off, a bare F, underscores. */
	OK("-kernel", "k", "-cpu", "host,x2apic=off,tsc_deadline=on,la57,pku=on,rdtscp=off");
	ck_assert_uint_eq(qa.cfg.cpu_on, feat("tsc-deadline") | feat("la57") | feat("pku"));
	ck_assert_uint_eq(qa.cfg.cpu_off, feat("x2apic") | feat("rdtscp"));
	/* Turning nested virtualization off is what kvmrun does anyway. */
	OK("-kernel", "k", "-cpu", "max,-vmx,svm=off");
	ck_assert_uint_eq(qa.cfg.cpu_on | qa.cfg.cpu_off, 0);
	/* The last word on a feature wins; a later -cpu replaces the earlier one. */
	OK("-kernel", "k", "-cpu", "qemu64,+x2apic,-x2apic,-pcid,pcid=on");
	ck_assert_uint_eq(qa.cfg.cpu_on, feat("pcid"));
	ck_assert_uint_eq(qa.cfg.cpu_off, feat("x2apic"));
	OK("-kernel", "k", "-cpu", "qemu64,+x2apic", "-cpu", "max");
	ck_assert_uint_eq(qa.cfg.cpu_on | qa.cfg.cpu_off, 0);
}
END_TEST

/* -help names every feature the table has, as a word of its own. */
START_TEST(test_cpu_features_in_help)
{
	for (unsigned i = 0; i < cpuid_nr_features; i++) {
		const char *name = cpuid_features[i].name, *p = qemu_args_usage_text;
		size_t n = strlen(name);
		bool found = false;

		while (!found && (p = strstr(p, name))) {
			found = p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n');
			p += n;
		}
		ck_assert_msg(found, "-help does not list %s", name);
	}
}
END_TEST

START_TEST(test_serial)
{
	OK("-kernel", "k", "-serial", "stdio");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_STDIO);
	OK("-kernel", "k", "-serial", "mon:stdio");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_STDIO);
	OK("-kernel", "k", "-serial", "null");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_NONE);
	OK("-kernel", "k", "-serial", "none");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_NONE);
	OK("-kernel", "k", "-serial", "file:/tmp/com1.log");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_FILE);
	ck_assert_str_eq(qa.cfg.serial_path, "/tmp/com1.log");
	/* -nodefaults removes the default serial port; an explicit one stays. */
	OK("-kernel", "k", "-nodefaults");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_NONE);
	OK("-serial", "stdio", "-kernel", "k", "-nodefaults");
	ck_assert_int_eq(qa.cfg.serial, SERIAL_STDIO);
}
END_TEST

START_TEST(test_debug_exit_and_testdevs)
{
	OK("-kernel", "k", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4");
	OK("-kernel", "k", "-device", "isa-debug-exit,iobase=244,iosize=1");
	OK("-kernel", "k", "-device", "isa-debug-exit,iosize=2,iobase=0xf4");
	ck_assert(!qa.cfg.pc_testdev && !qa.cfg.pci_testdev);
	OK("-kernel", "k", "-device", "pc-testdev");
	ck_assert(qa.cfg.pc_testdev && !qa.cfg.pci_testdev);
	OK("-kernel", "k", "-device", "pci-testdev");
	ck_assert(!qa.cfg.pc_testdev && qa.cfg.pci_testdev);
}
END_TEST

START_TEST(test_edu_intel_iommu)
{
	OK("-kernel", "k", "-M", "q35", "-device", "edu");
	ck_assert(qa.cfg.edu && !qa.cfg.iommu);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);
	/* kvm-unit-tests' intel_iommu line, less the split irqchip this tree lacks. */
	OK("-kernel", "k", "-M", "q35", "-device", "intel-iommu,intremap=off,eim=off,caching-mode=off",
	   "-device", "edu", "-smp", "4");
	ck_assert(qa.cfg.edu && qa.cfg.iommu);
	ck_assert_int_eq(qa.cfg.iommu_ir, IOMMU_IR_OFF);
	/* QEMU's auto: on only with the split irqchip. */
	OK("-kernel", "k", "-device", "intel-iommu,aw-bits=48,device-iotlb=off");
	ck_assert(qa.cfg.iommu);
	ck_assert_int_eq(qa.cfg.iommu_ir, IOMMU_IR_OFF);
	OK("-kernel", "k", "-device", "intel-iommu", "-M", "q35,kernel-irqchip=split");
	ck_assert_int_eq(qa.cfg.iommu_ir, IOMMU_IR_ON);
	/* kvm-unit-tests' intel_iommu line as it is. */
	OK("-kernel", "k", "-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on,eim=off",
	   "-device", "edu", "-smp", "4");
	ck_assert(qa.cfg.edu && qa.cfg.iommu);
	ck_assert_int_eq(qa.cfg.iommu_ir, IOMMU_IR_ON);
	ck_assert_int_eq(qa.cfg.irqchip, IRQCHIP_SPLIT);
}
END_TEST

START_TEST(test_drives)
{
	OK("-kernel", "k", "-drive", "file=/img/a.raw,format=raw,if=virtio,readonly=on,cache=none",
	   "-drive", "file=b,,c.img,if=virtio,aio=threads,serial=disk-b");
	ck_assert_uint_eq(qa.cfg.nr_disks, 2);
	ck_assert_str_eq(qa.cfg.disks[0].path, "/img/a.raw");
	ck_assert(qa.cfg.disks[0].readonly && qa.cfg.disks[0].cache_none);
	ck_assert_int_eq(qa.cfg.disks[0].aio, DISK_AIO_AUTO);
	ck_assert_uint_eq(qa.cfg.disks[0].num_queues, 1);
	ck_assert(!qa.cfg.disks[0].vhost_user);
	ck_assert_str_eq(qa.cfg.disks[1].path, "b,c.img");	/* ",," is a comma */
	ck_assert(!qa.cfg.disks[1].readonly && !qa.cfg.disks[1].cache_none);
	ck_assert_int_eq(qa.cfg.disks[1].aio, DISK_AIO_THREADS);
	ck_assert_str_eq(qa.cfg.disks[1].serial, "disk-b");
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_PCI);

	/* if=none plus a -device: the order of the -device options is the guest's. */
	OK("-drive", "if=none,id=d0,file=zero.img,format=raw,cache=writeback,readonly=off",
	   "-drive", "if=none,id=d1,file=one.img,aio=io_uring", "-kernel", "k",
	   "-device", "virtio-blk-pci,drive=d1,num-queues=4,serial=S1",
	   "-device", "virtio-blk-pci,drive=d0");
	ck_assert_uint_eq(qa.cfg.nr_disks, 2);
	ck_assert_str_eq(qa.cfg.disks[0].path, "one.img");
	ck_assert_uint_eq(qa.cfg.disks[0].num_queues, 4);
	ck_assert_str_eq(qa.cfg.disks[0].serial, "S1");
	ck_assert_int_eq(qa.cfg.disks[0].aio, DISK_AIO_IO_URING);
	ck_assert_str_eq(qa.cfg.disks[1].path, "zero.img");
	ck_assert(!qa.cfg.disks[1].readonly && !qa.cfg.disks[1].cache_none);

	/* A -device may come before its -drive, as in QEMU. */
	OK("-kernel", "k", "-device", "virtio-blk-pci,drive=late", "-drive", "if=none,id=late,file=l.img");
	ck_assert_uint_eq(qa.cfg.nr_disks, 1);
	ck_assert_str_eq(qa.cfg.disks[0].path, "l.img");

	OK("-M", "microvm", "-kernel", "k", "-drive", "if=none,id=d,file=x.img",
	   "-device", "virtio-blk-device,drive=d");
	ck_assert_uint_eq(qa.cfg.nr_disks, 1);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_MMIO);
}
END_TEST

START_TEST(test_net_rng)
{
	OK("-kernel", "k", "-netdev", "tap,id=n0,ifname=kvmtap0,script=no,downscript=no,vhost=off",
	   "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56", "-device", "virtio-rng-pci");
	ck_assert(qa.cfg.has_net);
	ck_assert_str_eq(qa.cfg.net.tap, "kvmtap0");
	ck_assert(qa.cfg.net.mac_given);
	ck_assert_mem_eq(qa.cfg.net.mac, ((uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }), 6);
	ck_assert(qa.cfg.rng);
	OK("-kernel", "k", "-device", "virtio-net-pci,netdev=n", "-netdev", "tap,id=n,ifname=t1");
	ck_assert(qa.cfg.has_net && !qa.cfg.net.mac_given);
	ck_assert_str_eq(qa.cfg.net.tap, "t1");
	OK("-M", "microvm", "-kernel", "k", "-netdev", "tap,id=n,ifname=t1",
	   "-device", "virtio-net-device,netdev=n");
	ck_assert(qa.cfg.has_net);
	ck_assert_int_eq(qa.cfg.transport, TRANSPORT_MMIO);
}
END_TEST

START_TEST(test_misc)
{
	OK("-kernel", "k", "-bios", "qboot.rom", "-name", "guest=t,debug-threads=on",
	   "-pidfile", "/run/k.pid", "-v", "-v");
	ck_assert_uint_eq(qa.nr_notes, 1);
	ck_assert_str_eq(qa.notes[0], "-bios qboot.rom skipped: kvmrun boots the kernel directly");
	ck_assert_str_eq(qa.name, "guest=t,debug-threads=on");
	ck_assert_str_eq(qa.pidfile, "/run/k.pid");
	ck_assert_int_eq(qa.cfg.verbosity, 2);
	/* -version and -help need no kernel. */
	OK("-version");
	ck_assert_int_eq(qa.cfg.cmd, CMD_VERSION);
	OK("--version");
	ck_assert_int_eq(qa.cfg.cmd, CMD_VERSION);
	OK("-help");
	ck_assert_int_eq(qa.cfg.cmd, CMD_HELP);
	OK("-h");
	ck_assert_int_eq(qa.cfg.cmd, CMD_HELP);
}
END_TEST

/* "kvmrun qemu ARGS": the options start after "qemu". */
START_TEST(test_first_argument)
{
	char *v[] = { "kvmrun", "qemu", "-kernel", "k", "-smp", "3", NULL };

	ck_assert_int_eq(qemu_args_parse(&qa, 6, v, 2, errbuf, sizeof(errbuf)), 0);
	ck_assert_str_eq(qa.cfg.kernel, "k");
	ck_assert_uint_eq(qa.cfg.cpus, 3);
}
END_TEST

/* ---- refused, each with its exact line ---- */

struct bad_case {
	const char *args[8];
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ { "-kernel", "k", "-bogus" },
	  "-bogus: unsupported option in kvmrun's QEMU-compatible mode (see 'kvmrun qemu -help')" },
	{ { "-kernel", "k", "--frob" },
	  "--frob: unsupported option in kvmrun's QEMU-compatible mode (see 'kvmrun qemu -help')" },
	{ { "-kernel", "k", "-S" },
	  "-S: unsupported option in kvmrun's QEMU-compatible mode (see 'kvmrun qemu -help')" },
	{ { "-kernel", "k", "-hda", "x.img" },
	  "-hda: unsupported option in kvmrun's QEMU-compatible mode (see 'kvmrun qemu -help')" },
	{ { "disk.img" },
	  "disk.img: unexpected argument (QEMU's disk image shorthand is not supported: use -drive)" },
	{ { "-nodefaults" },
	  "-kernel FILE is required: kvmrun boots kernels directly, without firmware" },
	{ { "-kernel" }, "-kernel: requires an argument" },
	{ { "-kernel", "" }, "-kernel: empty file name" },
	{ { "-kernel", "k", "-initrd", "" }, "-initrd: empty file name" },
	{ { "-kernel", "k", "-m", "12Q" }, "-m '12Q': expected a size such as 512 (MiB), 512M or 2G" },
	{ { "-kernel", "k", "-m", "1" }, "-m '1': must be between 2M and 1T" },
	{ { "-kernel", "k", "-m", "2T" }, "-m '2T': must be between 2M and 1T" },
	{ { "-kernel", "k", "-m", "4098k" }, "-m '4098k': must be a multiple of 4K" },
	{ { "-kernel", "k", "-m", "slots=2" }, "-m 'slots=2': no size given" },
	{ { "-kernel", "k", "-m", "256,maxmem=1G" },
	  "-m maxmem: kvmrun has no memory hotplug (maxmem must not exceed the RAM size)" },
	{ { "-kernel", "k", "-m", "256,foo=1" }, "-m: unsupported option 'foo'" },
	{ { "-kernel", "k", "-smp", "0" }, "-smp '0': expected counts from 1 to 255" },
	{ { "-kernel", "k", "-smp", "256" }, "-smp '256': expected counts from 1 to 255" },
	{ { "-kernel", "k", "-smp", "2,maxcpus=4" },
	  "-smp maxcpus=4: kvmrun has no CPU hotplug (maxcpus must equal cpus)" },
	{ { "-kernel", "k", "-smp", "4,sockets=1,cores=2" },
	  "-smp '4,sockets=1,cores=2': sockets*cores*threads is less than cpus" },
	{ { "-kernel", "k", "-smp", "2,dies=1" }, "-smp: unsupported option 'dies'" },
	{ { "-kernel", "k", "-machine", "isapc" },
	  "-machine isapc: unsupported machine type (pc, q35 and microvm are)" },
	{ { "-kernel", "k", "-M", "pc,accel=tcg" }, "-machine: unsupported option 'accel=tcg'" },
	{ { "-kernel", "k", "-M", "q35,kernel-irqchip=off" },
	  "-machine kernel-irqchip=off: unsupported (on and split are: kvmrun keeps the LAPICs in KVM)" },
	{ { "-kernel", "k", "-M", "pc,pit=no" }, "-machine: unsupported option 'pit=no'" },
	{ { "-kernel", "k", "-M", "pc,pit" }, "-machine: unsupported option 'pit'" },
	{ { "-kernel", "k", "-accel", "tcg" }, "-accel tcg: only kvm is supported" },
	{ { "-kernel", "k", "-accel", "kvm,thread=multi" },
	  "-accel kvm: unsupported option 'thread'" },
	{ { "-kernel", "k", "-cpu", "Skylake-Server" },
	  "-cpu Skylake-Server: unsupported CPU model (host, max, qemu64 and kvm64 are)" },
	{ { "-kernel", "k", "-cpu", "max,+vmx" },
	  "-cpu: feature '+vmx' is not supported: kvmrun offers no nested virtualization" },
	{ { "-kernel", "k", "-cpu", "max,svm=on" },
	  "-cpu: feature 'svm=on' is not supported: kvmrun offers no nested virtualization" },
	{ { "-kernel", "k", "-cpu", "host,+frob" },
	  "-cpu: feature '+frob' is not supported (see 'kvmrun qemu -help' for those that are)" },
	{ { "-kernel", "k", "-cpu", "qemu64,vendor=GenuineIntel" },
	  "-cpu: feature 'vendor=GenuineIntel' is not supported (see 'kvmrun qemu -help' for those that are)" },
	{ { "-kernel", "k", "-cpu", "qemu64,x2apic=maybe" },
	  "-cpu: feature 'x2apic=maybe' is not supported (see 'kvmrun qemu -help' for those that are)" },
	{ { "-kernel", "k", "-cpu", "max,host-phys-bits" },
	  "-cpu: feature 'host-phys-bits' is not supported (see 'kvmrun qemu -help' for those that are)" },
	{ { "-kernel", "k", "-cpu", "host,hv_passthrough" },
	  "-cpu: feature 'hv_passthrough' is not supported (see 'kvmrun qemu -help' for those that are)" },
	{ { "-kernel", "k", "-no-shutdown" },
	  "-no-shutdown: unsupported: kvmrun ends the run when the guest powers off" },
	{ { "-kernel", "k", "-daemonize" },
	  "-daemonize: unsupported: run kvmrun in the background instead" },
	{ { "-kernel", "k", "-display", "gtk" }, "-display gtk: unsupported (only none is)" },
	{ { "-kernel", "k", "-vga", "std" }, "-vga std: unsupported (only none is)" },
	{ { "-kernel", "k", "-monitor", "stdio" }, "-monitor stdio: unsupported (only none is)" },
	{ { "-kernel", "k", "-serial", "pty" },
	  "-serial pty: unsupported (stdio, file:PATH, null and none are)" },
	{ { "-kernel", "k", "-serial", "stdio", "-serial", "null" },
	  "-serial null: kvmrun has one serial port (COM1)" },
	{ { "-kernel", "k", "-device", "isa-debug-exit" },
	  "-device isa-debug-exit: iobase 0x501: kvmrun's debug-exit port is at 0xf4 (iobase=0xf4)" },
	{ { "-kernel", "k", "-device", "isa-debug-exit,iobase=0x501,iosize=2" },
	  "-device isa-debug-exit: iobase 0x501: kvmrun's debug-exit port is at 0xf4 (iobase=0xf4)" },
	{ { "-kernel", "k", "-device", "isa-debug-exit,iobase=0xf4,iosize=8" },
	  "-device isa-debug-exit: iosize 8: 1 to 4 are supported" },
	{ { "-kernel", "k", "-device", "isa-debug-exit,iobase=0xf4,bus=isa.0" },
	  "-device isa-debug-exit: unsupported option 'bus'" },
	{ { "-kernel", "k", "-device", "pc-testdev,x=1" }, "-device pc-testdev: unsupported option 'x'" },
	{ { "-kernel", "k", "-device", "e1000" }, "-device e1000: unsupported device" },
	{ { "-kernel", "k", "-device", "virtio-gpu-pci" }, "-device virtio-gpu-pci: unsupported device" },
	{ { "-kernel", "k", "-device", "virtio-rng-pci,rng=r0" },
	  "-device virtio-rng-pci: unsupported option 'rng'" },
	{ { "-kernel", "k", "-device", "virtio-blk-pci" }, "-device virtio-blk-pci: drive= is required" },
	{ { "-kernel", "k", "-device", "virtio-blk-pci,drive=nope" },
	  "-device virtio-blk-pci: no -drive if=none,id=nope" },
	{ { "-kernel", "k", "-drive", "file=a.img,if=none,id=d", "-device", "virtio-blk-pci,drive=d,bootindex=1" },
	  "-device virtio-blk-pci: unsupported option 'bootindex'" },
	{ { "-kernel", "k", "-drive", "file=a.img,if=none,id=d" },
	  "-drive id=d: no -device virtio-blk-pci,drive=d uses it" },
	{ { "-kernel", "k", "-drive", "file=a.img" },
	  "-drive: if= is required (if=virtio, or if=none with -device virtio-blk-pci)" },
	{ { "-kernel", "k", "-drive", "file=a.img,if=ide" },
	  "-drive if=ide: unsupported (virtio and none are)" },
	{ { "-kernel", "k", "-drive", "file=a.qcow2,format=qcow2,if=virtio" },
	  "-drive format=qcow2: unsupported (raw is)" },
	{ { "-kernel", "k", "-drive", "if=virtio" }, "-drive: file= is required" },
	{ { "-kernel", "k", "-drive", "file=a,if=virtio,cache=unsafe" },
	  "-drive: unsupported option 'cache=unsafe'" },
	{ { "-kernel", "k", "-drive", "file=a,if=none" }, "-drive if=none: id= is required" },
	{ { "-kernel", "k", "-netdev", "user,id=n" }, "-netdev user: unsupported backend (tap is)" },
	{ { "-kernel", "k", "-netdev", "tap,id=n,ifname=t,script=/etc/qemu-ifup" },
	  "-netdev: unsupported option 'script=/etc/qemu-ifup'" },
	{ { "-kernel", "k", "-netdev", "tap,ifname=t" },
	  "-netdev tap: id= is required (1 to 63 characters)" },
	{ { "-kernel", "k", "-netdev", "tap,id=n" }, "-netdev tap: ifname= is required" },
	{ { "-kernel", "k", "-netdev", "tap,id=n,ifname=t" },
	  "-netdev id=n: no -device virtio-net-pci,netdev=n uses it" },
	{ { "-kernel", "k", "-netdev", "tap,id=n,ifname=t", "-device", "virtio-net-pci,netdev=n,mac=ff:00:00:00:00:01" },
	  "-device virtio-net-pci: mac 'ff:00:00:00:00:01': expected a unicast address such as 52:54:00:12:34:56" },
	{ { "-kernel", "k", "-device", "virtio-net-pci,netdev=x" },
	  "-device virtio-net-pci: no -netdev tap,id=x" },
	{ { "-kernel", "k", "-M", "microvm", "-device", "virtio-rng-pci" },
	  "virtio-rng-pci: -machine microvm has no PCI bus (use virtio-*-device)" },
	{ { "-kernel", "k", "-M", "microvm", "-device", "pci-testdev" },
	  "-device pci-testdev: -machine microvm has no PCI bus" },
	{ { "-kernel", "k", "-device", "edu,id=e" }, "-device edu: unsupported option 'id'" },
	{ { "-kernel", "k", "-device", "intel-iommu,x-buggy-eim=on" },
	  "-device intel-iommu: unsupported option 'x-buggy-eim'" },
	{ { "-kernel", "k", "-device", "intel-iommu,eim=on" },
	  "-device intel-iommu: eim=on: unsupported (kvmrun's VT-d unit has no eim)" },
	{ { "-kernel", "k", "-device", "intel-iommu,caching-mode=on" },
	  "-device intel-iommu: caching-mode=on: unsupported (kvmrun's VT-d unit has no caching-mode)" },
	{ { "-kernel", "k", "-device", "intel-iommu,aw-bits=57" },
	  "-device intel-iommu: unsupported option 'aw-bits'" },
	{ { "-kernel", "k", "-device", "intel-iommu", "-device", "intel-iommu" },
	  "-device intel-iommu: only one is supported" },
	{ { "-kernel", "k", "-M", "microvm", "-device", "edu" },
	  "-device edu: -machine microvm has no PCI bus" },
	{ { "-kernel", "k", "-M", "q35", "-device", "intel-iommu,intremap=on,eim=off" },
	  "-device intel-iommu,intremap=on: needs -machine kernel-irqchip=split (KVM's IOAPIC cannot remap)" },
	{ { "-kernel", "k", "-device", "virtio-rng-device" },
	  "virtio-rng-device: virtio-mmio devices need -machine microvm (use virtio-*-pci)" },
	{ { "-kernel", "k", "-pidfile", "" }, "-pidfile: empty file name" },
	{ { "-kernel", "k", "-global", "kvm-pit.lost_tick_policy=delay" },
	  "-global kvm-pit.lost_tick_policy=delay: unsupported (only kvm-pit.lost_tick_policy=discard is)" },
};

START_TEST(test_refused)
{
	const struct bad_case *bc = &bad_cases[_i];

	ck_assert_int_eq(parse_list(bc->args), -EINVAL);
	ck_assert_str_eq(errbuf, bc->msg);
}
END_TEST

START_TEST(test_append_too_long)
{
	char *big = malloc(CMDLINE_MAX + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', CMDLINE_MAX);
	big[CMDLINE_MAX] = '\0';
	ck_assert_int_eq(PARSE("-kernel", "k", "-append", big), -EINVAL);
	ck_assert_str_eq(errbuf, "-append: command line is 4096 bytes, the limit is 4095");
	free(big);
}
END_TEST

static Suite *qemu_args_suite(void)
{
	Suite *s = suite_create("qemu_args");
	TCase *tc = tcase_create("accepted");

	tcase_add_test(tc, test_invoked_as);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_kunit_command_line);
	tcase_add_test(tc, test_kvm_unit_tests_command_line);
	tcase_add_loop_test(tc, test_memory_sizes, 0, (int)(sizeof(mem_cases) / sizeof(mem_cases[0])));
	tcase_add_test(tc, test_memory_slots_noted);
	tcase_add_test(tc, test_smp);
	tcase_add_test(tc, test_machine);
	tcase_add_test(tc, test_machine_pit);
	tcase_add_test(tc, test_machine_split_irqchip);
	tcase_add_test(tc, test_accel_cpu_display);
	tcase_add_test(tc, test_cpu_features);
	tcase_add_test(tc, test_cpu_features_in_help);
	tcase_add_test(tc, test_serial);
	tcase_add_test(tc, test_debug_exit_and_testdevs);
	tcase_add_test(tc, test_drives);
	tcase_add_test(tc, test_net_rng);
	tcase_add_test(tc, test_misc);
	tcase_add_test(tc, test_edu_intel_iommu);
	tcase_add_test(tc, test_first_argument);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_append_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testlib_run(qemu_args_suite());
}
