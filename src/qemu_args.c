/*
 * The QEMU-compatible front (README: QEMU-compatible mode): QEMU's own
 * syntax for the options test tools pass, mapped onto struct vm_config.
 * What kvmrun cannot honour fails with one line naming the option; what
 * changes nothing for the guest (-bios, -name, -m slots=) is noted for -v.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/cpuid.h"
#include "kvmrun/qemu_args.h"
#include "kvmrun/virtio.h"

const char qemu_args_usage_text[] =
"usage: qemu-system-x86_64 [options]    (kvmrun's QEMU-compatible mode)\n"
"       kvmrun qemu [options]\n"
"\n"
"kvmrun reads the part of QEMU's command line that test tools use and runs the\n"
"guest as 'kvmrun run' would.  Anything else fails with one line naming it.\n"
"\n"
"  -kernel FILE -initrd FILE -append STRING\n"
"  -m [size=]SIZE[,slots=N][,maxmem=SIZE]   plain number: MiB; K/M/G/T suffixes\n"
"  -smp N[,cpus=N][,sockets=N][,cores=N][,threads=N][,maxcpus=N]\n"
"  -machine|-M pc|q35|microvm[,accel=kvm][,pit=on|off][,kernel-irqchip=on|split]\n"
"                                 pc, q35: virtio-pci; microvm: virtio-mmio\n"
"                                 split: IOAPIC in kvmrun, no PIC, no PIT\n"
"  -accel kvm  -enable-kvm\n"
"  -cpu host|max|qemu64|kvm64[,+F|-F|F=on|off]...   F: x2apic tsc-deadline pcid\n"
"      invpcid la57 pku umip rdtscp rdpid smep smap fsgsbase erms rdrand rdseed\n"
"      popcnt movbe pdpe1gb hypervisor (set where KVM offers it; -v notes the rest)\n"
"  -nodefaults -no-user-config -no-reboot -nographic -display none -vga none\n"
"  -vnc none -monitor none -serial stdio|mon:stdio|file:PATH|null|none\n"
"  -device isa-debug-exit,iobase=0xf4[,iosize=N]  -device pc-testdev|pci-testdev|help\n"
"  -device edu  -device intel-iommu[,intremap=on|off][,eim=off][,caching-mode=off]\n"
"      [,device-iotlb=off][,aw-bits=39|48]   (intremap=on needs the split irqchip)\n"
"  -drive file=PATH,format=raw,if=virtio|none[,id=ID][,readonly=on][,cache=none]\n"
"  -device virtio-blk-pci|virtio-blk-device,drive=ID[,serial=S][,num-queues=N]\n"
"  -netdev tap,id=ID,ifname=NAME[,script=no][,downscript=no]\n"
"  -device virtio-net-pci|virtio-net-device,netdev=ID[,mac=MAC]\n"
"  -device virtio-rng-pci|virtio-rng-device\n"
"  -global kvm-pit.lost_tick_policy=discard\n"
"  -bios FILE (skipped: kvmrun boots kernels directly)  -name NAME  -pidfile FILE\n"
"  -v (kvmrun's: more log lines)  -version  -help\n"
"\n"
"Exit status: 0 guest power-off, or reset with -no-reboot (without it a reset\n"
"boots the guest again); (V<<1)|1 the guest wrote V to isa-debug-exit;\n"
"1 kvmrun failed; 128+N signal N.\n";

const char qemu_args_device_list[] =
"Misc devices:\n"
"name \"isa-debug-exit\", bus ISA\n"
"name \"pc-testdev\", bus ISA\n"
"name \"pci-testdev\", bus PCI, desc \"PCI Test Device\"\n"
"name \"edu\", bus PCI\n"
"name \"intel-iommu\", bus System, desc \"Intel IOMMU (VT-d) DMA Remapping device\"\n"
"name \"virtio-rng-device\", bus virtio-bus\n"
"name \"virtio-rng-pci\", bus PCI\n"
"\n"
"Storage devices:\n"
"name \"virtio-blk-device\", bus virtio-bus\n"
"name \"virtio-blk-pci\", bus PCI\n"
"\n"
"Network devices:\n"
"name \"virtio-net-device\", bus virtio-bus\n"
"name \"virtio-net-pci\", bus PCI\n";

static const char *const invoked_names[] = { "qemu-system-x86_64", "qemu-system-kvmrun" };

bool qemu_args_invoked_as(const char *argv0)
{
	const char *base;

	if (!argv0)
		return false;
	base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	for (size_t i = 0; i < sizeof(invoked_names) / sizeof(invoked_names[0]); i++)
		if (!strcmp(base, invoked_names[i]))
			return true;
	return false;
}

static void note(struct qemu_args *qa, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct qemu_args *qa, const char *fmt, ...)
{
	va_list ap;

	if (qa->nr_notes == QEMU_ARGS_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(qa->notes[qa->nr_notes++], QEMU_ARGS_NOTE_LEN, fmt, ap);
	va_end(ap);
}

/* ---- QEMU's option lists: "a,b=c,d=e,,f" (",," is a comma inside a value) ---- */

#define OPTS_MAX	16

struct opts {
	char buf[4352];
	char *key[OPTS_MAX];
	char *val[OPTS_MAX];	/* NULL: a bare word ("tap", "pc", "+x2apic") */
	int n;
};

static int opts_split(struct opts *o, const char *s)
{
	size_t len = strlen(s), j = 0;
	char *start = o->buf;

	o->n = 0;
	if (len >= sizeof(o->buf))
		return -E2BIG;
	for (size_t i = 0; i <= len; i++) {
		if (s[i] == ',' && s[i + 1] == ',') {
			o->buf[j++] = ',';
			i++;
			continue;
		}
		if (s[i] != ',' && s[i] != '\0') {
			o->buf[j++] = s[i];
			continue;
		}
		o->buf[j++] = '\0';
		if (o->n == OPTS_MAX)
			return -E2BIG;
		o->key[o->n] = start;
		o->val[o->n] = NULL;
		/* Only the first '=' splits: a file name may hold another. */
		for (char *p = start; *p; p++)
			if (*p == '=') {
				*p = '\0';
				o->val[o->n] = p + 1;
				break;
			}
		o->n++;
		start = o->buf + j;
	}
	return 0;
}

/* QEMU's sizes: digits[.digits][B|K|M|G|T] (any case); no suffix means default_shift. */
static int qemu_size(const char *s, unsigned default_shift, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	unsigned shift = default_shift;
	const char *p = s;
	bool has_frac = false;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		has_frac = true;
		for (p++; *p >= '0' && *p <= '9'; p++)
			/* Six digits: the fraction times 2^40 (T) stays within 64 bits. */
			if (scale < 1000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	switch (*p) {
	case '\0': break;
	case 'b': case 'B': shift = 0; p++; break;
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: return -EINVAL;
	}
	if (*p || (has_frac && shift == 0))
		return -EINVAL;
	if (whole > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (whole << shift) + (frac << shift) / scale;
	return 0;
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 0);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

/* ---- per-option handlers ---- */

#define MEM_MIN	(2ULL << 20)
#define MEM_MAX	(1ULL << 40)

static int opt_memory(struct qemu_args *qa, const char *arg, char *err, size_t errlen)
{
	struct opts o;
	uint64_t size = 0, maxmem = 0;
	bool have_size = false;

	if (opts_split(&o, arg))
		return config_fail(err, errlen, "-m '%s': too long", arg);
	for (int i = 0; i < o.n; i++) {
		const char *v = o.val[i];

		if ((!v && i == 0) || !strcmp(o.key[i], "size")) {
			if (qemu_size(v ? v : o.key[i], 20, &size))
				return config_fail(err, errlen, "-m '%s': expected a size such as 512 (MiB), 512M or 2G",
					    arg);
			have_size = true;
		} else if (!v) {
			return config_fail(err, errlen, "-m: unsupported option '%s'", o.key[i]);
		} else if (!strcmp(o.key[i], "slots")) {
			note(qa, "-m slots=%s ignored: kvmrun has no memory hotplug", v);
		} else if (!strcmp(o.key[i], "maxmem")) {
			if (qemu_size(v, 20, &maxmem))
				return config_fail(err, errlen, "-m maxmem='%s': expected a size", v);
		} else {
			return config_fail(err, errlen, "-m: unsupported option '%s'", o.key[i]);
		}
	}
	if (!have_size)
		return config_fail(err, errlen, "-m '%s': no size given", arg);
	if (size < MEM_MIN || size > MEM_MAX)
		return config_fail(err, errlen, "-m '%s': must be between 2M and 1T", arg);
	if (size & 0xfff)
		return config_fail(err, errlen, "-m '%s': must be a multiple of 4K", arg);
	if (maxmem > size)
		return config_fail(err, errlen, "-m maxmem: kvmrun has no memory hotplug (maxmem must not exceed the RAM size)");
	qa->cfg.mem_size = size;
	return 0;
}

static int opt_smp(struct qemu_args *qa, const char *arg, char *err, size_t errlen)
{
	unsigned long cpus = 0, sockets = 0, cores = 0, threads = 0, maxcpus = 0, v;
	struct opts o;

	if (opts_split(&o, arg))
		return config_fail(err, errlen, "-smp '%s': too long", arg);
	for (int i = 0; i < o.n; i++) {
		const char *k = o.key[i];
		unsigned long *field = !o.val[i] && i == 0 ? &cpus :
			!strcmp(k, "cpus") ? &cpus : !strcmp(k, "sockets") ? &sockets :
			!strcmp(k, "cores") ? &cores : !strcmp(k, "threads") ? &threads :
			!strcmp(k, "maxcpus") ? &maxcpus : NULL;

		if (!field)
			return config_fail(err, errlen, "-smp: unsupported option '%s'", k);
		if (parse_num(o.val[i] ? o.val[i] : k, 1024, &v) || !v)
			return config_fail(err, errlen, "-smp '%s': expected counts from 1 to %d", arg, CPUS_MAX);
		*field = v;
	}
	/* QEMU fills in what is missing: the count from the topology, then the topology from it. */
	if (!cpus)
		cpus = maxcpus ? maxcpus : (sockets ? sockets : 1) * (cores ? cores : 1) *
		       (threads ? threads : 1);
	if (cpus > CPUS_MAX)
		return config_fail(err, errlen, "-smp '%s': expected counts from 1 to %d", arg, CPUS_MAX);
	if (maxcpus && maxcpus != cpus)
		return config_fail(err, errlen, "-smp maxcpus=%lu: kvmrun has no CPU hotplug (maxcpus must equal cpus)",
			    maxcpus);
	if ((sockets || cores || threads) &&
	    (sockets ? sockets : 1) * (cores ? cores : 1) * (threads ? threads : 1) < cpus)
		return config_fail(err, errlen, "-smp '%s': sockets*cores*threads is less than cpus", arg);
	if (sockets > 1 || threads > 1)
		note(qa, "-smp: the guest sees %lu cores in one package (kvmrun's only topology)", cpus);
	qa->cfg.cpus = (unsigned)cpus;
	return 0;
}

enum machine { MACHINE_DEFAULT, MACHINE_PC, MACHINE_Q35, MACHINE_MICROVM };

/* Properties kvmrun honours as they are: the value it is built with. */
static const char *const machine_props_fixed[][2] = {
	{ "accel", "kvm" }, { "kernel-irqchip", "on" }, { "usb", "off" }, { "vmport", "off" },
	{ "smm", "off" }, { "hpet", "off" }, { "graphics", "off" }, { "dump-guest-core", "off" },
	{ "x-option-roms", "off" },
};

static int opt_machine(struct vm_config *cfg, enum machine *m, const char *arg, char *err,
		       size_t errlen)
{
	struct opts o;

	if (opts_split(&o, arg))
		return config_fail(err, errlen, "-machine '%s': too long", arg);
	for (int i = 0; i < o.n; i++) {
		const char *k = o.key[i], *v = o.val[i];
		bool ok = false;

		if (!v && i == 0) {
			v = k;
			k = "type";
		}
		if (!strcmp(k, "type")) {
			if (!strcmp(v, "pc") || !strncmp(v, "pc-i440fx", 9))
				*m = MACHINE_PC;
			else if (!strcmp(v, "q35") || !strncmp(v, "pc-q35", 6))
				*m = MACHINE_Q35;
			else if (!strcmp(v, "microvm"))
				*m = MACHINE_MICROVM;
			else
				return config_fail(err, errlen, "-machine %s: unsupported machine type "
					    "(pc, q35 and microvm are)", v);
			continue;
		}
		if (!v)
			return config_fail(err, errlen, "-machine: unsupported option '%s'", k);
		/* "kvm:tcg" is a list of fallbacks: KVM is its first. */
		if (!strcmp(k, "accel") && !strncmp(v, "kvm:", 4))
			continue;
		/* kvm-unit-tests' vmexit_ipi: no PIT, so that AVIC stays usable. */
		if (!strcmp(k, "pit") && (!strcmp(v, "on") || !strcmp(v, "off"))) {
			cfg->no_pit = !strcmp(v, "off");
			continue;
		}
		/* split: the IOAPIC in kvmrun (kvm-unit-tests' intel_iommu); off would need a userspace LAPIC. */
		if (!strcmp(k, "kernel-irqchip") && !strcmp(v, "split")) {
			cfg->irqchip = IRQCHIP_SPLIT;
			continue;
		}
		if (!strcmp(k, "kernel-irqchip") && !strcmp(v, "on")) {
			cfg->irqchip = IRQCHIP_KERNEL;
			continue;
		}
		if (!strcmp(k, "kernel-irqchip"))
			return config_fail(err, errlen, "-machine kernel-irqchip=%s: unsupported (on and "
				    "split are: kvmrun keeps the LAPICs in KVM)", v);
		for (size_t j = 0; j < sizeof(machine_props_fixed) / sizeof(machine_props_fixed[0]); j++)
			if (!strcmp(k, machine_props_fixed[j][0]))
				ok = !strcmp(v, machine_props_fixed[j][1]);
		if (!ok)
			return config_fail(err, errlen, "-machine: unsupported option '%s=%s'", k, v);
	}
	return 0;
}

static int opt_accel(const char *arg, char *err, size_t errlen)
{
	struct opts o;

	if (opts_split(&o, arg) || o.n < 1)
		return config_fail(err, errlen, "-accel '%s': only kvm is supported", arg);
	if (strcmp(o.key[0], "kvm") || o.val[0])
		return config_fail(err, errlen, "-accel %s: only kvm is supported", o.key[0]);
	if (o.n > 1)
		return config_fail(err, errlen, "-accel kvm: unsupported option '%s'", o.key[1]);
	return 0;
}

/* A -cpu property: +F, -F, F=on|off, or F alone (QEMU's old spelling of F=on). */
static int cpu_flag(struct vm_config *cfg, const char *k, const char *v, char *err, size_t errlen)
{
	const char *name = k;
	int on = -1, i;

	if (!v && (k[0] == '+' || k[0] == '-')) {
		on = k[0] == '+';
		name = k + 1;
	} else if (!v) {
		on = 1;
	} else if (!strcmp(v, "on") || !strcmp(v, "off")) {
		on = !strcmp(v, "on");
	}
	if (!strcmp(name, "vmx") || !strcmp(name, "svm")) {
		if (on == 0)
			return 0;	/* off is what kvmrun's guests have anyway */
		return config_fail(err, errlen, "-cpu: feature '%s%s%s' is not supported: kvmrun offers "
			    "no nested virtualization", k, v ? "=" : "", v ? v : "");
	}
	i = cpuid_feature_find(name);
	if (i < 0 || on < 0)
		return config_fail(err, errlen, "-cpu: feature '%s%s%s' is not supported (see 'kvmrun qemu "
			    "-help' for those that are)", k, v ? "=" : "", v ? v : "");
	/* The last word on a feature wins. */
	if (on) {
		cfg->cpu_on |= 1u << i;
		cfg->cpu_off &= ~(1u << i);
	} else {
		cfg->cpu_off |= 1u << i;
		cfg->cpu_on &= ~(1u << i);
	}
	return 0;
}

static int opt_cpu(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	struct opts o;
	int r;

	if (opts_split(&o, arg) || o.n < 1)
		return config_fail(err, errlen, "-cpu '%s': too long", arg);
	/* Every named model is kvmrun's one CPUID model: what KVM offers, less what PVM cannot run. */
	if (strcmp(o.key[0], "host") && strcmp(o.key[0], "max") && strcmp(o.key[0], "qemu64") &&
	    strcmp(o.key[0], "kvm64"))
		return config_fail(err, errlen, "-cpu %s: unsupported CPU model (host, max, qemu64 and kvm64 are)",
			    o.key[0]);
	/* A later -cpu replaces an earlier one, flags and all. */
	cfg->cpu_on = cfg->cpu_off = 0;
	for (int i = 1; i < o.n; i++) {
		r = cpu_flag(cfg, o.key[i], o.val[i], err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static int opt_serial(struct qemu_args *qa, unsigned *nr_serial, const char *arg,
		      char *err, size_t errlen)
{
	struct vm_config *cfg = &qa->cfg;

	if (++*nr_serial > 1)
		return config_fail(err, errlen, "-serial %s: kvmrun has one serial port (COM1)", arg);
	if (!strcmp(arg, "stdio") || !strcmp(arg, "mon:stdio")) {
		cfg->serial = SERIAL_STDIO;
	} else if (!strcmp(arg, "null") || !strcmp(arg, "none")) {
		cfg->serial = SERIAL_NONE;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = arg + 5;
	} else {
		return config_fail(err, errlen, "-serial %s: unsupported (stdio, file:PATH, null and none are)",
			    arg);
	}
	return 0;
}

/* Drives and netdevs that wait for the -device naming their id. */
struct pending {
	struct {
		char id[64];
		struct disk_config dc;
		bool used;
	} drives[MAX_DISKS];
	unsigned nr_drives;
	char netdev_id[64];
	struct net_config net;
	bool has_netdev, netdev_used;
	bool pci_devices, mmio_devices;	/* a virtio-*-pci / virtio-*-device was asked for */
	const char *first_pci, *first_mmio;
	unsigned nr_serial;
	bool nodefaults, no_reboot;
	enum machine machine;
	int intremap;			/* -device intel-iommu,intremap=: 1 on, 0 off, -1 auto */
};

static int add_disk(struct qemu_args *qa, const struct disk_config *dc, char *err, size_t errlen)
{
	if (qa->cfg.nr_disks == MAX_DISKS)
		return config_fail(err, errlen, "-drive: at most %d disks", MAX_DISKS);
	qa->cfg.disks[qa->cfg.nr_disks++] = *dc;
	return 0;
}

static int opt_drive(struct qemu_args *qa, struct pending *p, const char *arg,
		     char *err, size_t errlen)
{
	struct disk_config dc;
	struct opts o;
	const char *id = NULL, *iface = NULL;

	memset(&dc, 0, sizeof(dc));
	dc.num_queues = 1;
	if (opts_split(&o, arg))
		return config_fail(err, errlen, "-drive: value too long");
	for (int i = 0; i < o.n; i++) {
		const char *k = o.key[i], *v = o.val[i];

		if (!v)
			return config_fail(err, errlen, "-drive: unsupported option '%s'", k);
		if (!strcmp(k, "file")) {
			if (!*v || strlen(v) >= sizeof(dc.path))
				return config_fail(err, errlen, "-drive: file= needs a path");
			snprintf(dc.path, sizeof(dc.path), "%s", v);
		} else if (!strcmp(k, "format")) {
			if (strcmp(v, "raw"))
				return config_fail(err, errlen, "-drive format=%s: unsupported (raw is)", v);
		} else if (!strcmp(k, "if")) {
			if (strcmp(v, "virtio") && strcmp(v, "none"))
				return config_fail(err, errlen, "-drive if=%s: unsupported (virtio and none are)", v);
			iface = v;
		} else if (!strcmp(k, "id")) {
			if (!*v || strlen(v) >= sizeof(p->drives[0].id))
				return config_fail(err, errlen, "-drive: id= needs 1 to 63 characters");
			id = v;
		} else if (!strcmp(k, "readonly") && (!strcmp(v, "on") || !strcmp(v, "off"))) {
			dc.readonly = !strcmp(v, "on");
		} else if (!strcmp(k, "cache") && (!strcmp(v, "none") || !strcmp(v, "writeback"))) {
			dc.cache_none = !strcmp(v, "none");
		} else if (!strcmp(k, "aio") && (!strcmp(v, "io_uring") || !strcmp(v, "threads"))) {
			dc.aio = !strcmp(v, "io_uring") ? DISK_AIO_IO_URING : DISK_AIO_THREADS;
		} else if (!strcmp(k, "media") && !strcmp(v, "disk")) {
			continue;
		} else if (!strcmp(k, "serial")) {
			if (strlen(v) >= sizeof(dc.serial))
				return config_fail(err, errlen, "-drive: serial '%s' is longer than %zu bytes", v,
					    sizeof(dc.serial) - 1);
			snprintf(dc.serial, sizeof(dc.serial), "%s", v);
		} else {
			return config_fail(err, errlen, "-drive: unsupported option '%s=%s'", k, v);
		}
	}
	if (!dc.path[0])
		return config_fail(err, errlen, "-drive: file= is required");
	if (!iface)
		return config_fail(err, errlen, "-drive: if= is required (if=virtio, or if=none with -device virtio-blk-pci)");
	if (!strcmp(iface, "virtio")) {
		p->pci_devices = true;
		p->first_pci = p->first_pci ? p->first_pci : "-drive if=virtio";
		return add_disk(qa, &dc, err, errlen);
	}
	if (!id)
		return config_fail(err, errlen, "-drive if=none: id= is required");
	if (p->nr_drives == MAX_DISKS)
		return config_fail(err, errlen, "-drive: at most %d disks", MAX_DISKS);
	for (unsigned i = 0; i < p->nr_drives; i++)
		if (!strcmp(p->drives[i].id, id))
			return config_fail(err, errlen, "-drive: id '%s' is used twice", id);
	snprintf(p->drives[p->nr_drives].id, sizeof(p->drives[0].id), "%s", id);
	p->drives[p->nr_drives].dc = dc;
	p->drives[p->nr_drives++].used = false;
	return 0;
}

static int opt_netdev(struct pending *p, const char *arg, char *err, size_t errlen)
{
	char spec[64];
	const char *id = NULL, *ifname = NULL;
	struct opts o;

	if (opts_split(&o, arg) || o.n < 1)
		return config_fail(err, errlen, "-netdev: value too long");
	if (strcmp(o.key[0], "tap") || o.val[0])
		return config_fail(err, errlen, "-netdev %s: unsupported backend (tap is)", o.key[0]);
	if (p->has_netdev)
		return config_fail(err, errlen, "-netdev: kvmrun has one network device");
	for (int i = 1; i < o.n; i++) {
		const char *k = o.key[i], *v = o.val[i];

		if (!v)
			return config_fail(err, errlen, "-netdev: unsupported option '%s'", k);
		if (!strcmp(k, "id"))
			id = v;
		else if (!strcmp(k, "ifname"))
			ifname = v;
		else if ((!strcmp(k, "script") || !strcmp(k, "downscript")) && !strcmp(v, "no"))
			continue;
		else if (!strcmp(k, "vhost") && !strcmp(v, "off"))
			continue;
		else
			return config_fail(err, errlen, "-netdev: unsupported option '%s=%s'", k, v);
	}
	if (!id || !*id || strlen(id) >= sizeof(p->netdev_id))
		return config_fail(err, errlen, "-netdev tap: id= is required (1 to 63 characters)");
	if (!ifname)
		return config_fail(err, errlen, "-netdev tap: ifname= is required");
	snprintf(spec, sizeof(spec), "tap=%.*s", (int)sizeof(spec) - 5, ifname);
	if (net_config_parse(spec, &p->net, err, errlen))
		return config_fail(err, errlen, "-netdev tap: ifname '%s' must be 1-%d characters", ifname,
			    IFNAMSIZ - 1);
	snprintf(p->netdev_id, sizeof(p->netdev_id), "%s", id);
	p->has_netdev = true;
	return 0;
}

/* virtio-X-pci or virtio-X-device (or virtio-X, which QEMU resolves by machine): X's kind. */
static const char *virtio_kind(struct pending *p, const char *driver, const char *arg)
{
	static const char *const kinds[] = { "blk", "net", "rng" };

	if (strncmp(driver, "virtio-", 7))
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i]);
		const char *rest = driver + 7 + n;

		if (strncmp(driver + 7, kinds[i], n))
			continue;
		if (!strcmp(rest, "-pci")) {
			p->pci_devices = true;
			p->first_pci = p->first_pci ? p->first_pci : arg;
		} else if (!strcmp(rest, "-device")) {
			p->mmio_devices = true;
			p->first_mmio = p->first_mmio ? p->first_mmio : arg;
		} else if (*rest) {
			return NULL;
		}
		return kinds[i];
	}
	return NULL;
}

/* -device intel-iommu: what kvmrun's VT-d unit is; anything else is refused by name. */
static int opt_intel_iommu(struct vm_config *cfg, struct pending *p, const struct opts *o,
			   char *err, size_t errlen)
{
	if (cfg->iommu)
		return config_fail(err, errlen, "-device intel-iommu: only one is supported");
	cfg->iommu = true;
	p->intremap = -1;	/* QEMU's auto: on with the split irqchip */
	for (int i = 1; i < o->n; i++) {
		const char *k = o->key[i], *v = o->val[i] ? o->val[i] : "on";
		bool on = !strcmp(v, "on") || !strcmp(v, "true");
		bool off = !strcmp(v, "off") || !strcmp(v, "false");

		if (!strcmp(k, "intremap") && (on || off || !strcmp(v, "auto"))) {
			p->intremap = on ? 1 : off ? 0 : -1;
		} else if (!strcmp(k, "aw-bits") && (!strcmp(v, "39") || !strcmp(v, "48"))) {
			continue;	/* the unit offers both widths */
		} else if (!strcmp(k, "eim") || !strcmp(k, "caching-mode") ||
			   !strcmp(k, "device-iotlb") || !strcmp(k, "x-scalable-mode") ||
			   !strcmp(k, "x-pasid-mode") || !strcmp(k, "snoop-control")) {
			if (!off)
				return config_fail(err, errlen, "-device intel-iommu: %s=%s: unsupported "
					    "(kvmrun's VT-d unit has no %s)", k, v, k);
		} else {
			return config_fail(err, errlen, "-device intel-iommu: unsupported option '%s'", k);
		}
	}
	return 0;
}

static int opt_device(struct qemu_args *qa, struct pending *p, const char *arg,
		      char *err, size_t errlen)
{
	struct vm_config *cfg = &qa->cfg;
	struct opts o;
	const char *drv, *kind;

	if (opts_split(&o, arg) || o.n < 1)
		return config_fail(err, errlen, "-device: value too long");
	drv = o.key[0];
	if (o.val[0] && !strcmp(drv, "driver")) {
		drv = o.val[0];
	} else if (o.val[0]) {
		return config_fail(err, errlen, "-device '%s': expected DRIVER[,PROP=VALUE...]", arg);
	}

	if (!strcmp(drv, "isa-debug-exit")) {
		unsigned long iobase = 0x501, iosize = 1;	/* QEMU's defaults */

		for (int i = 1; i < o.n; i++) {
			unsigned long *f = !strcmp(o.key[i], "iobase") ? &iobase :
					   !strcmp(o.key[i], "iosize") ? &iosize : NULL;

			if (!f || !o.val[i])
				return config_fail(err, errlen, "-device isa-debug-exit: unsupported option '%s'",
					    o.key[i]);
			if (parse_num(o.val[i], 0xffff, f))
				return config_fail(err, errlen, "-device isa-debug-exit: %s '%s': expected a number",
					    o.key[i], o.val[i]);
		}
		if (iobase != 0xf4)
			return config_fail(err, errlen, "-device isa-debug-exit: iobase 0x%lx: kvmrun's "
				    "debug-exit port is at 0xf4 (iobase=0xf4)", iobase);
		if (iosize < 1 || iosize > 4)
			return config_fail(err, errlen, "-device isa-debug-exit: iosize %lu: 1 to 4 are supported",
				    iosize);
		return 0;
	}
	if (!strcmp(drv, "pc-testdev") || !strcmp(drv, "pci-testdev")) {
		if (o.n > 1)
			return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, o.key[1]);
		if (!strcmp(drv, "pc-testdev"))
			cfg->pc_testdev = true;
		else
			cfg->pci_testdev = true;
		return 0;
	}
	if (!strcmp(drv, "edu")) {
		if (o.n > 1)
			return config_fail(err, errlen, "-device edu: unsupported option '%s'", o.key[1]);
		cfg->edu = true;
		return 0;
	}
	if (!strcmp(drv, "intel-iommu"))
		return opt_intel_iommu(cfg, p, &o, err, errlen);
	kind = virtio_kind(p, drv, arg);
	if (!kind)
		return config_fail(err, errlen, "-device %s: unsupported device", drv);

	if (!strcmp(kind, "rng")) {
		if (o.n > 1)
			return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, o.key[1]);
		cfg->rng = true;
		return 0;
	}
	if (!strcmp(kind, "blk")) {
		struct disk_config *dc = NULL;
		const char *serial = NULL;
		unsigned long queues = 0;

		for (int i = 1; i < o.n; i++) {
			const char *k = o.key[i], *v = o.val[i];

			if (!v)
				return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, k);
			if (!strcmp(k, "drive")) {
				for (unsigned j = 0; j < p->nr_drives; j++)
					if (!strcmp(p->drives[j].id, v)) {
						if (p->drives[j].used)
							return config_fail(err, errlen, "-device %s: drive '%s' is "
								    "already in use", drv, v);
						p->drives[j].used = true;
						dc = &p->drives[j].dc;
					}
				if (!dc)
					return config_fail(err, errlen, "-device %s: no -drive if=none,id=%s",
						    drv, v);
			} else if (!strcmp(k, "serial")) {
				serial = v;
			} else if (!strcmp(k, "num-queues")) {
				if (parse_num(v, VIRTIO_MAX_QUEUES, &queues) || !queues)
					return config_fail(err, errlen, "-device %s: num-queues '%s': expected 1 to %d",
						    drv, v, VIRTIO_MAX_QUEUES);
			} else {
				return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, k);
			}
		}
		if (!dc)
			return config_fail(err, errlen, "-device %s: drive= is required", drv);
		if (serial) {
			if (strlen(serial) >= sizeof(dc->serial))
				return config_fail(err, errlen, "-device %s: serial '%s' is longer than %zu bytes",
					    drv, serial, sizeof(dc->serial) - 1);
			snprintf(dc->serial, sizeof(dc->serial), "%s", serial);
		}
		if (queues)
			dc->num_queues = (unsigned)queues;
		return add_disk(qa, dc, err, errlen);
	}
	/* net */
	for (int i = 1; i < o.n; i++) {
		const char *k = o.key[i], *v = o.val[i];

		if (!v)
			return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, k);
		if (!strcmp(k, "netdev")) {
			if (!p->has_netdev || strcmp(p->netdev_id, v))
				return config_fail(err, errlen, "-device %s: no -netdev tap,id=%s", drv, v);
			if (p->netdev_used)
				return config_fail(err, errlen, "-device %s: netdev '%s' is already in use", drv, v);
			p->netdev_used = true;
		} else if (!strcmp(k, "mac")) {
			char spec[64];
			struct net_config probe;

			snprintf(spec, sizeof(spec), "tap=x,mac=%.40s", v);
			if (net_config_parse(spec, &probe, err, errlen))
				return config_fail(err, errlen, "-device %s: mac '%s': expected a unicast address "
					    "such as 52:54:00:12:34:56", drv, v);
			memcpy(p->net.mac, probe.mac, sizeof(p->net.mac));
			p->net.mac_given = true;
		} else {
			return config_fail(err, errlen, "-device %s: unsupported option '%s'", drv, k);
		}
	}
	if (!p->netdev_used)
		return config_fail(err, errlen, "-device %s: netdev= is required", drv);
	cfg->net = p->net;
	cfg->has_net = true;
	return 0;
}

/* ---- the option table ---- */

enum qopt {
	Q_KERNEL, Q_INITRD, Q_APPEND, Q_MEMORY, Q_SMP, Q_MACHINE, Q_ACCEL, Q_ENABLE_KVM, Q_CPU,
	Q_NODEFAULTS, Q_NO_USER_CONFIG, Q_NO_REBOOT, Q_NO_SHUTDOWN, Q_NOGRAPHIC, Q_DISPLAY,
	Q_VGA, Q_VNC, Q_MONITOR, Q_SERIAL, Q_DEVICE, Q_DRIVE, Q_NETDEV, Q_BIOS, Q_NAME, Q_PIDFILE,
	Q_DAEMONIZE, Q_VERSION, Q_HELP, Q_VERBOSE, Q_GLOBAL,
};

static const struct {
	const char *name;
	enum qopt opt;
	bool has_arg;
} qopts[] = {
	{ "kernel", Q_KERNEL, true }, { "initrd", Q_INITRD, true }, { "append", Q_APPEND, true },
	{ "m", Q_MEMORY, true }, { "smp", Q_SMP, true }, { "machine", Q_MACHINE, true },
	{ "M", Q_MACHINE, true }, { "accel", Q_ACCEL, true }, { "enable-kvm", Q_ENABLE_KVM, false },
	{ "cpu", Q_CPU, true }, { "nodefaults", Q_NODEFAULTS, false },
	{ "no-user-config", Q_NO_USER_CONFIG, false }, { "no-reboot", Q_NO_REBOOT, false },
	{ "no-shutdown", Q_NO_SHUTDOWN, false }, { "nographic", Q_NOGRAPHIC, false },
	{ "display", Q_DISPLAY, true }, { "vga", Q_VGA, true }, { "vnc", Q_VNC, true },
	{ "monitor", Q_MONITOR, true }, { "serial", Q_SERIAL, true }, { "device", Q_DEVICE, true },
	{ "drive", Q_DRIVE, true }, { "netdev", Q_NETDEV, true }, { "bios", Q_BIOS, true },
	{ "name", Q_NAME, true }, { "pidfile", Q_PIDFILE, true }, { "daemonize", Q_DAEMONIZE, false },
	{ "version", Q_VERSION, false }, { "help", Q_HELP, false }, { "h", Q_HELP, false },
	{ "v", Q_VERBOSE, false }, { "global", Q_GLOBAL, true },
};

static int parse_one(struct qemu_args *qa, struct pending *p, enum qopt opt, const char *name,
		     const char *arg, char *err, size_t errlen)
{
	struct vm_config *cfg = &qa->cfg;

	switch (opt) {
	case Q_KERNEL:
		if (!*arg)
			return config_fail(err, errlen, "-kernel: empty file name");
		cfg->kernel = arg;
		return 0;
	case Q_INITRD:
		if (!*arg)
			return config_fail(err, errlen, "-initrd: empty file name");
		cfg->initrd = arg;
		return 0;
	case Q_APPEND:
		if (strlen(arg) >= CMDLINE_MAX)
			return config_fail(err, errlen, "-append: command line is %zu bytes, the limit is %d",
				    strlen(arg), CMDLINE_MAX - 1);
		cfg->append = arg;
		return 0;
	case Q_MEMORY:
		return opt_memory(qa, arg, err, errlen);
	case Q_SMP:
		return opt_smp(qa, arg, err, errlen);
	case Q_MACHINE:
		return opt_machine(cfg, &p->machine, arg, err, errlen);
	case Q_ACCEL:
		return opt_accel(arg, err, errlen);
	case Q_CPU:
		return opt_cpu(cfg, arg, err, errlen);
	case Q_ENABLE_KVM: case Q_NO_USER_CONFIG: case Q_NOGRAPHIC:
		return 0;
	case Q_NODEFAULTS:
		p->nodefaults = true;
		return 0;
	case Q_NO_REBOOT:
		p->no_reboot = true;
		return 0;
	case Q_NO_SHUTDOWN:
		return config_fail(err, errlen, "-no-shutdown: unsupported: kvmrun ends the run when the guest powers off");
	case Q_DISPLAY: case Q_VGA: case Q_VNC: case Q_MONITOR:
		if (strcmp(arg, "none"))
			return config_fail(err, errlen, "-%s %s: unsupported (only none is)", name, arg);
		return 0;
	case Q_SERIAL:
		return opt_serial(qa, &p->nr_serial, arg, err, errlen);
	case Q_DEVICE:
		if (!strcmp(arg, "help") || !strcmp(arg, "?")) {
			qa->device_help = true;
			cfg->cmd = CMD_HELP;
			return 0;
		}
		return opt_device(qa, p, arg, err, errlen);
	case Q_DRIVE:
		return opt_drive(qa, p, arg, err, errlen);
	case Q_NETDEV:
		return opt_netdev(p, arg, err, errlen);
	case Q_BIOS:
		note(qa, "-bios %s skipped: kvmrun boots the kernel directly", arg);
		return 0;
	case Q_NAME:
		qa->name = arg;
		return 0;
	case Q_PIDFILE:
		if (!*arg)
			return config_fail(err, errlen, "-pidfile: empty file name");
		qa->pidfile = arg;
		return 0;
	case Q_DAEMONIZE:
		return config_fail(err, errlen, "-daemonize: unsupported: run kvmrun in the background instead");
	case Q_VERSION:
		cfg->cmd = CMD_VERSION;
		return 0;
	case Q_HELP:
		cfg->cmd = CMD_HELP;
		return 0;
	case Q_VERBOSE:
		cfg->verbosity++;
		return 0;
	case Q_GLOBAL:
		/* kvm-unit-tests asks for it: KVM's PIT then drops the ticks a guest missed. */
		if (strcmp(arg, "kvm-pit.lost_tick_policy=discard"))
			return config_fail(err, errlen, "-global %s: unsupported (only "
				    "kvm-pit.lost_tick_policy=discard is)", arg);
		cfg->pit_discard = true;
		return 0;
	}
	return config_fail(err, errlen, "internal: unhandled option -%s", name);
}

/* What holds only once every option is known: the transport, the serial default, resets. */
static int parse_finish(struct qemu_args *qa, struct pending *p, char *err, size_t errlen)
{
	struct vm_config *cfg = &qa->cfg;

	if (cfg->cmd != CMD_RUN)
		return 0;
	if (!cfg->kernel)
		return config_fail(err, errlen, "-kernel FILE is required: kvmrun boots kernels directly, without firmware");
	for (unsigned i = 0; i < p->nr_drives; i++)
		if (!p->drives[i].used)
			return config_fail(err, errlen, "-drive id=%s: no -device virtio-blk-pci,drive=%s uses it",
				    p->drives[i].id, p->drives[i].id);
	if (p->has_netdev && !p->netdev_used)
		return config_fail(err, errlen, "-netdev id=%s: no -device virtio-net-pci,netdev=%s uses it",
			    p->netdev_id, p->netdev_id);
	/* QEMU's microvm has virtio-mmio and no PCI; pc and q35 put virtio on PCI. */
	if (p->machine == MACHINE_MICROVM) {
		if (p->pci_devices)
			return config_fail(err, errlen, "%s: -machine microvm has no PCI bus (use virtio-*-device)",
				    p->first_pci);
		if (cfg->pci_testdev)
			return config_fail(err, errlen, "-device pci-testdev: -machine microvm has no PCI bus");
		if (cfg->edu || cfg->iommu)
			return config_fail(err, errlen, "-device %s: -machine microvm has no PCI bus",
				    cfg->edu ? "edu" : "intel-iommu");
		cfg->transport = TRANSPORT_MMIO;
	} else {
		if (p->mmio_devices)
			return config_fail(err, errlen, "%s: virtio-mmio devices need -machine microvm "
				    "(use virtio-*-pci)", p->first_mmio);
		cfg->transport = TRANSPORT_PCI;
	}
	if (cfg->iommu) {
		bool split = config_irqchip_split(cfg);

		if (p->intremap == 1 && !split)
			return config_fail(err, errlen, "-device intel-iommu,intremap=on: needs "
				    "-machine kernel-irqchip=split (KVM's IOAPIC cannot remap)");
		cfg->iommu_ir = (p->intremap == 1 || (p->intremap < 0 && split)) ? IOMMU_IR_ON :
				IOMMU_IR_OFF;
	}
	/* -nodefaults leaves out the default serial port: no -serial then means no output. */
	if (!p->nr_serial && p->nodefaults)
		cfg->serial = SERIAL_NONE;
	/* QEMU boots the guest again after a reset unless told -no-reboot. */
	cfg->reboot_restart = !p->no_reboot;
	/* As with --irqchip split: no PIC for a PIT to tick through. */
	if (cfg->irqchip == IRQCHIP_SPLIT)
		cfg->no_pit = true;
	return 0;
}

int qemu_args_parse(struct qemu_args *qa, int argc, char **argv, int first,
		    char *err, size_t errlen)
{
	/* config_parse's defaults (whatever options it grows) are the starting point. */
	static char *const base_argv[] = { "kvmrun", "run", "--kernel", "qemu", NULL };
	char *base[5];
	struct pending *p;
	int r = 0;

	memset(qa, 0, sizeof(*qa));
	memcpy(base, base_argv, sizeof(base));
	r = config_parse(&qa->cfg, 4, base, err, errlen);
	if (r)
		return r;
	qa->cfg.kernel = NULL;
	qa->cfg.mem_size = 128ULL << 20;	/* QEMU's default */

	p = calloc(1, sizeof(*p));
	if (!p)
		return config_fail(err, errlen, "out of memory");
	/* As in QEMU, -drive and -netdev exist before any -device, wherever they stand. */
	for (int pass = 0; pass < 2 && !r; pass++) {
		for (int i = first; i < argc && !r; i++) {
			const char *a = argv[i], *name;
			size_t k;

			if (a[0] != '-' || !a[1]) {
				r = config_fail(err, errlen, "%s: unexpected argument (QEMU's disk image "
					 "shorthand is not supported: use -drive)", a);
				break;
			}
			/* QEMU takes -opt and --opt alike. */
			name = a + (a[1] == '-' ? 2 : 1);
			for (k = 0; k < sizeof(qopts) / sizeof(qopts[0]); k++)
				if (!strcmp(name, qopts[k].name))
					break;
			if (k == sizeof(qopts) / sizeof(qopts[0])) {
				r = config_fail(err, errlen, "%s: unsupported option in kvmrun's QEMU-compatible "
					 "mode (see 'kvmrun qemu -help')", a);
				break;
			}
			if (qopts[k].has_arg && i + 1 >= argc) {
				r = config_fail(err, errlen, "%s: requires an argument", a);
				break;
			}
			bool backend = qopts[k].opt == Q_DRIVE || qopts[k].opt == Q_NETDEV;
			const char *arg = qopts[k].has_arg ? argv[++i] : NULL;

			if (backend == (pass == 0))
				r = parse_one(qa, p, qopts[k].opt, qopts[k].name, arg, err, errlen);
		}
	}
	if (!r)
		r = parse_finish(qa, p, err, errlen);
	free(p);
	return r;
}
