#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/config.h"
#include "kvmrun/vfio.h"

const char config_usage_text[] =
"usage: kvmrun run --kernel FILE [options]\n"
"       kvmrun restore DIR [options]\n"
"       kvmrun info\n"
"       kvmrun ctl SOCKET COMMAND [KEY=VALUE...]  (see README: Control socket)\n"
"       kvmrun qemu QEMU-OPTIONS...  (QEMU-compatible mode: kvmrun qemu -help)\n"
"       kvmrun --help | --version\n"
"\n"
"Boots FILE in a KVM virtual machine.  FILE is a Linux bzImage (64-bit boot\n"
"protocol), an ELF kernel with a PVH entry note (such as Linux's vmlinux), or\n"
"a multiboot (v1) kernel.\n"
"\n"
"run options:\n"
"  -k, --kernel FILE        kernel to boot (required)\n"
"  -i, --initrd FILE        initial ramdisk (cpio, compressed or not)\n"
"  -a, --append STRING      kernel command line (Linux default: console=ttyS0)\n"
"  -c, --cpus N             number of vCPUs (1-255, default 1)\n"
"  -m, --memory SIZE        guest RAM, with K/M/G suffix (default 256M)\n"
"      --mem-shared         back RAM with a shared memfd\n"
"      --hugepages MODE     thp (madvise, default), hugetlb (MAP_HUGETLB) or none\n"
"  -t, --timeout SECONDS    stop the guest after SECONDS (exit status 124)\n"
"  -s, --serial SINK        COM1 output: stdio (default), file:PATH, none\n"
"      --pvm auto|on|off    PVM host workarounds (default auto: detected)\n"
"      --reboot exit|restart  on a guest reset: end with status 0 (default)\n"
"                           or boot the guest again\n"
"      --seccomp on|off     per-thread system-call allow-lists (default on;\n"
"                           off is for debugging)\n"
"      --api PATH           a QMP control socket at PATH (kvmrun ctl PATH ...)\n"
"\n"
"virtio devices:\n"
"      --disk PATH[,readonly][,cache=none|writeback][,serial=ID][,num-queues=N]\n"
"                           a raw image as virtio-blk (repeat for more, up to 4)\n"
"      --disk vhost-user=SOCKET[,num-queues=N]\n"
"                           virtio-blk served by a vhost-user backend (such as\n"
"                           qemu-storage-daemon --export type=vhost-user-blk)\n"
"      --fs socket=SOCKET,tag=TAG[,queue-size=N][,num-queues=N]\n"
"                           virtio-fs served by a vhost-user backend (virtiofsd);\n"
"                           Linux mounts it with mount -t virtiofs TAG DIR\n"
"      --share HOSTDIR,tag=TAG[,readonly]\n"
"                           the same with a virtiofsd that kvmrun starts for\n"
"                           HOSTDIR and stops at exit (up to 4 --fs/--share)\n"
"                           vhost-user devices put guest RAM in a shared memfd\n"
"      --rng                virtio-rng fed from the host's getrandom()\n"
"      --net tap=NAME[,mac=MAC]  virtio-net on a tap device (created when run as root)\n"
"      --virtio-console     a virtio console (hvc0 in Linux) on stdin/stdout;\n"
"                           it takes the console input instead of COM1\n"
"      --pc-testdev         QEMU's pc-testdev (ports 0xe0-0xeb, 0x2000-0x2017,\n"
"                           MMIO at 0xff000000), for kvm-unit-tests\n"
"      --pci-testdev        QEMU's pci-testdev (1b36:0005) on the PCI bus\n"
"      --edu                QEMU's edu device (1234:11e8) on the PCI bus\n"
"      --iommu intel[,intremap=on|msi|off]\n"
"                           a VT-d unit (0xfed90000) translating the edu's DMA;\n"
"                           intremap=on remaps MSIs and the IOAPIC (needs the\n"
"                           split irqchip), msi remaps MSIs only\n"
"      --no-pit             no 8254 PIT (QEMU's -machine pit=off): ports 0x40-0x43\n"
"                           and 0x61 are left unclaimed\n"
"      --irqchip kernel|split  interrupt controllers: all in KVM (default: PIC,\n"
"                           IOAPIC, LAPICs, PIT) or split: LAPICs in KVM, the\n"
"                           IOAPIC in kvmrun, no PIC and no PIT (as --no-pit)\n"
"      --transport pci|mmio how virtio devices attach: virtio-pci behind a PCI\n"
"                           host bridge (default) or virtio-mmio windows\n"
"\n"
"passthrough:\n"
"      --vfio DEVICE[,rom=on]\n"
"                           pass a host PCI function bound to vfio-pci through\n"
"                           (0000:01:00.1, 01:00.1 or its sysfs path; repeat\n"
"                           for more, up to 8); needs an IOMMU and --transport pci;\n"
"                           rom=on shows its expansion ROM (hidden by default)\n"
"\n"
"snapshots and migration:\n"
"      --snapshot-dir DIR   where a snapshot the guest asks for (a write to\n"
"                           port 0x5f0) is written\n"
"      --incoming URI       wait for a migration from unix:PATH or tcp:HOST:PORT\n"
"                           instead of booting (same devices as the source)\n"
"      --paused             start paused (resume with the control socket's cont)\n"
"  restore DIR continues the guest saved in DIR; --disk, --net and --serial\n"
"  replace the snapshot's (same order, same disk sizes), the machine options\n"
"  (--kernel, --cpus, --memory, ...) come from the snapshot.\n"
"\n"
"  -v, --verbose            more log lines (repeat for debug)\n"
"  -q, --quiet              errors only\n"
"\n"
"Console: when stdin is a terminal it is put in raw mode and every key\n"
"goes to the guest.  Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n"
"\n"
"Exit status:\n"
"  0        the guest powered off or reset, or Ctrl-A x\n"
"  1        kvmrun failed: bad flags or files, no usable /dev/kvm, KVM error\n"
"  (V<<1)|1 the guest wrote V to the debug-exit port 0xf4 (as QEMU's isa-debug-exit)\n"
"  124      --timeout expired\n"
"  128+N    stopped by signal N (SIGINT, SIGTERM)\n";

int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* The message quotes the user's arguments: keep it one printable line. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}


int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	/* Accept "256M", "256MB", "256MiB". */
	if (shift && (!strcmp(end, "B") || !strcmp(end, "iB")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (ULLONG_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int rate_limit_parse_option(const char *opt, const char *ops_name, struct rate_limit_params *p,
			    const char *flag, char *err, size_t errlen)
{
	size_t n = strlen(ops_name);
	const char *eq = strchr(opt, '=');
	uint64_t *field = NULL, v;

	if (!eq)
		return 0;
	if ((size_t)(eq - opt) == n && !strncmp(opt, ops_name, n))
		field = &p->ops;
	else if ((size_t)(eq - opt) == n + 6 && !strncmp(opt, ops_name, n) &&
		 !strncmp(opt + n, "-burst", 6))
		field = &p->ops_burst;
	else if (!strncmp(opt, "bps=", 4))
		field = &p->bytes;
	else if (!strncmp(opt, "bps-burst=", 10))
		field = &p->bytes_burst;
	if (!field)
		return 0;
	/* Up to 2^40 per second: far past any device, and no overflow in the buckets. */
	if (parse_size(eq + 1, &v) || v > (1ULL << 40))
		return config_fail(err, errlen, "%s: '%s': expected a number (K/M/G suffixes), at most 2^40",
			    flag, opt);
	*field = v;
	return 1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

enum {
	OPT_MEM_SHARED = 256,
	OPT_HUGEPAGES,
	OPT_PVM,
	OPT_REBOOT,
	OPT_SECCOMP,
	OPT_DISK,
	OPT_RNG,
	OPT_TRANSPORT,
	OPT_NET,
	OPT_VCONSOLE,
	OPT_API,
	OPT_SNAPSHOT_DIR,
	OPT_INCOMING,
	OPT_PAUSED,
	OPT_FS,
	OPT_SHARE,
	OPT_PC_TESTDEV,
	OPT_PCI_TESTDEV,
	OPT_VFIO,
	OPT_NO_PIT,
	OPT_EDU,
	OPT_IOMMU,
	OPT_IRQCHIP,
};

static const struct option run_options[] = {
	{ "kernel",	required_argument, NULL, 'k' },
	{ "append",	required_argument, NULL, 'a' },
	{ "initrd",	required_argument, NULL, 'i' },
	{ "cpus",	required_argument, NULL, 'c' },
	{ "memory",	required_argument, NULL, 'm' },
	{ "mem-shared",	no_argument,	   NULL, OPT_MEM_SHARED },
	{ "hugepages",	required_argument, NULL, OPT_HUGEPAGES },
	{ "timeout",	required_argument, NULL, 't' },
	{ "serial",	required_argument, NULL, 's' },
	{ "pvm",	required_argument, NULL, OPT_PVM },
	{ "reboot",	required_argument, NULL, OPT_REBOOT },
	{ "seccomp",	required_argument, NULL, OPT_SECCOMP },
	{ "disk",	required_argument, NULL, OPT_DISK },
	{ "fs",		required_argument, NULL, OPT_FS },
	{ "share",	required_argument, NULL, OPT_SHARE },
	{ "vfio",	required_argument, NULL, OPT_VFIO },
	{ "rng",	no_argument,	   NULL, OPT_RNG },
	{ "transport",	required_argument, NULL, OPT_TRANSPORT },
	{ "net",	required_argument, NULL, OPT_NET },
	{ "virtio-console", no_argument,  NULL, OPT_VCONSOLE },
	{ "api",	required_argument, NULL, OPT_API },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
	{ "incoming",	required_argument, NULL, OPT_INCOMING },
	{ "paused",	no_argument,	   NULL, OPT_PAUSED },
	{ "pc-testdev", no_argument,	   NULL, OPT_PC_TESTDEV },
	{ "pci-testdev", no_argument,	   NULL, OPT_PCI_TESTDEV },
	{ "no-pit",	no_argument,	   NULL, OPT_NO_PIT },
	{ "edu",	no_argument,	   NULL, OPT_EDU },
	{ "iommu",	required_argument, NULL, OPT_IOMMU },
	{ "irqchip",	required_argument, NULL, OPT_IRQCHIP },
	{ "verbose",	no_argument,	   NULL, 'v' },
	{ "quiet",	no_argument,	   NULL, 'q' },
	{ "help",	no_argument,	   NULL, 'h' },
	{ "version",	no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char short_options[] = ":k:i:a:c:m:t:s:vqhV";

/*
 * Was getopt_long's '?' about a short option character?  A long option
 * leaves optopt 0 (unknown, ambiguous) or its val (given a value it does
 * not take): 256 and up, or a valid short letter.  A byte above 0x7f in a
 * short group comes back negative.
 */
static bool short_option_error(int opt)
{
	if (opt == 0 || opt >= 256)
		return false;
	return opt < 0 || opt == ':' || !strchr(short_options, opt);
}

/* A long option given a value it does not take ("--quiet=1"), or an unknown one. */
static int bad_option(const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');

	if (!strncmp(arg, "--", 2) && eq) {
		for (const struct option *o = run_options; o->name; o++)
			if (o->has_arg == no_argument && strlen(o->name) == (size_t)(eq - arg - 2) &&
			    !strncmp(o->name, arg + 2, (size_t)(eq - arg - 2)))
				return config_fail(err, errlen, "option '--%s' takes no value", o->name);
	}
	return config_fail(err, errlen, "unknown option '%s': try 'kvmrun --help'", arg);
}

#define MEM_MIN	(2ULL << 20)
#define MEM_MAX	(1ULL << 40)

/* Which CFG_GIVEN_* group an option belongs to (restore refuses the machine's). */
static uint32_t given_bit(int c)
{
	switch (c) {
	case 'k': case 'i': case 'a': case 'c': case 'm': case OPT_MEM_SHARED: case OPT_VFIO:
	case OPT_HUGEPAGES: case OPT_PVM: case OPT_RNG: case OPT_TRANSPORT: case OPT_VCONSOLE:
	case OPT_PC_TESTDEV: case OPT_PCI_TESTDEV: case OPT_NO_PIT: case OPT_EDU: case OPT_IOMMU:
	case OPT_IRQCHIP:
		return CFG_GIVEN_MACHINE;
	case OPT_DISK:
		return CFG_GIVEN_DISK;
	case OPT_NET:
		return CFG_GIVEN_NET;
	case OPT_FS: case OPT_SHARE:
		return CFG_GIVEN_FS;
	case 's':
		return CFG_GIVEN_SERIAL;
	default:
		return 0;
	}
}

int config_parse_iommu(struct vm_config *cfg, const char *arg, const char *flag, char *err,
		       size_t errlen)
{
	const char *opt = strchr(arg, ',');

	if (strncmp(arg, "intel", 5) || (arg[5] && arg[5] != ','))
		return config_fail(err, errlen, "%s '%s': expected intel[,intremap=on|msi|off]",
			    flag, arg);
	cfg->iommu = true;
	cfg->iommu_ir = IOMMU_IR_OFF;
	if (!opt)
		return 0;
	if (!strcmp(opt, ",intremap=on"))
		cfg->iommu_ir = IOMMU_IR_ON;
	else if (!strcmp(opt, ",intremap=msi"))
		cfg->iommu_ir = IOMMU_IR_MSI;
	else if (strcmp(opt, ",intremap=off"))
		return config_fail(err, errlen, "%s '%s': unsupported option '%s' (intremap=on|msi|off "
			    "is)", flag, arg, opt + 1);
	return 0;
}

static int parse_run_option(struct vm_config *cfg, int c, const char *arg,
			    char *err, size_t errlen)
{
	unsigned long n;
	char *end;
	int r;

	switch (c) {
	case 'k':
		if (!*arg)
			return config_fail(err, errlen, "--kernel: empty file name");
		cfg->kernel = arg;
		return 0;
	case 'i':
		if (!*arg)
			return config_fail(err, errlen, "--initrd: empty file name");
		cfg->initrd = arg;
		return 0;
	case 'a':
		if (strlen(arg) >= CMDLINE_MAX)
			return config_fail(err, errlen, "--append: command line is %zu bytes, the limit is %d",
				    strlen(arg), CMDLINE_MAX - 1);
		cfg->append = arg;
		return 0;
	case 'c':
		r = parse_uint(arg, CPUS_MAX, &n);
		if (r || n == 0)
			return config_fail(err, errlen, "--cpus '%s': expected a number from 1 to %d",
				    arg, CPUS_MAX);
		cfg->cpus = (unsigned)n;
		return 0;
	case 'm':
		r = parse_size(arg, &cfg->mem_size);
		if (r)
			return config_fail(err, errlen, "--memory '%s': expected a size such as 256M or 2G",
				    arg);
		if (cfg->mem_size < MEM_MIN || cfg->mem_size > MEM_MAX)
			return config_fail(err, errlen, "--memory '%s': must be between 2M and 1T", arg);
		if (cfg->mem_size & 0xfff)
			return config_fail(err, errlen, "--memory '%s': must be a multiple of 4K", arg);
		return 0;
	case OPT_MEM_SHARED:
		cfg->mem_shared = true;
		return 0;
	case OPT_HUGEPAGES:
		if (!strcmp(arg, "thp"))
			cfg->hugepages = HUGEPAGES_THP;
		else if (!strcmp(arg, "hugetlb"))
			cfg->hugepages = HUGEPAGES_HUGETLB;
		else if (!strcmp(arg, "none"))
			cfg->hugepages = HUGEPAGES_NONE;
		else
			return config_fail(err, errlen, "--hugepages '%s': expected thp, hugetlb or none", arg);
		return 0;
	case 't':
		errno = 0;
		cfg->timeout = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(cfg->timeout) ||
		    cfg->timeout <= 0 || cfg->timeout > 31536000.0)
			return config_fail(err, errlen, "--timeout '%s': expected seconds, greater than 0", arg);
		return 0;
	case 's':
		if (!strcmp(arg, "stdio")) {
			cfg->serial = SERIAL_STDIO;
		} else if (!strcmp(arg, "none")) {
			cfg->serial = SERIAL_NONE;
		} else if (!strncmp(arg, "file:", 5) && arg[5]) {
			cfg->serial = SERIAL_FILE;
			cfg->serial_path = arg + 5;
		} else {
			return config_fail(err, errlen, "--serial '%s': expected stdio, none or file:PATH", arg);
		}
		return 0;
	case OPT_PVM:
		if (!strcmp(arg, "auto"))
			cfg->pvm = TRI_AUTO;
		else if (!strcmp(arg, "on"))
			cfg->pvm = TRI_ON;
		else if (!strcmp(arg, "off"))
			cfg->pvm = TRI_OFF;
		else
			return config_fail(err, errlen, "--pvm '%s': expected auto, on or off", arg);
		return 0;
	case OPT_REBOOT:
		if (!strcmp(arg, "exit"))
			cfg->reboot_restart = false;
		else if (!strcmp(arg, "restart"))
			cfg->reboot_restart = true;
		else
			return config_fail(err, errlen, "--reboot '%s': expected exit or restart", arg);
		return 0;
	case OPT_SECCOMP:
		if (!strcmp(arg, "on"))
			cfg->seccomp = true;
		else if (!strcmp(arg, "off"))
			cfg->seccomp = false;
		else
			return config_fail(err, errlen, "--seccomp '%s': expected on or off", arg);
		return 0;
	case OPT_DISK:
		if (cfg->nr_disks == MAX_DISKS)
			return config_fail(err, errlen, "--disk: at most %d disks", MAX_DISKS);
		{
			char why[512];

			if (disk_config_parse(arg, &cfg->disks[cfg->nr_disks], why, sizeof(why)))
				return config_fail(err, errlen, "%s", why);
		}
		cfg->nr_disks++;
		return 0;
	case OPT_FS:
	case OPT_SHARE:
		if (cfg->nr_fs == MAX_FS)
			return config_fail(err, errlen, "--fs/--share: at most %d shared file systems", MAX_FS);
		{
			char why[512];

			if (fs_config_parse(arg, &cfg->fs[cfg->nr_fs], c == OPT_SHARE, why, sizeof(why)))
				return config_fail(err, errlen, "%s", why);
			for (unsigned i = 0; i < cfg->nr_fs; i++)
				if (!strcmp(cfg->fs[i].tag, cfg->fs[cfg->nr_fs].tag))
					return config_fail(err, errlen, "--fs/--share: tag '%s' is used twice",
						    cfg->fs[i].tag);
		}
		cfg->nr_fs++;
		return 0;
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case OPT_VFIO:
		if (cfg->nr_vfio == MAX_VFIO)
			return config_fail(err, errlen, "--vfio: at most %d devices", MAX_VFIO);
		{
			struct vfio_spec spec;
			char msg[512];

			/* A sysfs path is checked when the device is opened. */
			if (vfio_parse_spec(arg, &spec, msg, sizeof(msg)))
				return config_fail(err, errlen, "%s", msg);
		}
		cfg->vfio[cfg->nr_vfio++] = arg;
		return 0;
	case OPT_NET:
		if (cfg->has_net)
			return config_fail(err, errlen, "--net: only one network device is supported");
		{
			char why[512];

			if (net_config_parse(arg, &cfg->net, why, sizeof(why)))
				return config_fail(err, errlen, "%s", why);
		}
		cfg->has_net = true;
		return 0;
	case OPT_VCONSOLE:
		cfg->virtio_console = true;
		return 0;
	case OPT_TRANSPORT:
		if (!strcmp(arg, "mmio"))
			cfg->transport = TRANSPORT_MMIO;
		else if (!strcmp(arg, "pci"))
			cfg->transport = TRANSPORT_PCI;
		else
			return config_fail(err, errlen, "--transport '%s': expected mmio or pci", arg);
		return 0;
	case OPT_API:
		if (!*arg)
			return config_fail(err, errlen, "--api: empty socket path");
		cfg->api_path = arg;
		return 0;
	case OPT_SNAPSHOT_DIR:
		if (!*arg)
			return config_fail(err, errlen, "--snapshot-dir: empty directory name");
		cfg->snapshot_dir = arg;
		return 0;
	case OPT_INCOMING:
		if (strncmp(arg, "unix:", 5) && strncmp(arg, "tcp:", 4))
			return config_fail(err, errlen, "--incoming '%s': expected unix:PATH or tcp:HOST:PORT",
				    arg);
		cfg->incoming = arg;
		return 0;
	case OPT_PAUSED:
		cfg->start_paused = true;
		return 0;
	case OPT_PC_TESTDEV:
		cfg->pc_testdev = true;
		return 0;
	case OPT_NO_PIT:
		cfg->no_pit = true;
		return 0;
	case OPT_IRQCHIP:
		if (!strcmp(arg, "kernel"))
			cfg->irqchip = IRQCHIP_KERNEL;
		else if (!strcmp(arg, "split"))
			cfg->irqchip = IRQCHIP_SPLIT;
		else
			return config_fail(err, errlen, "--irqchip '%s': expected kernel or split", arg);
		return 0;
	case OPT_PCI_TESTDEV:
		cfg->pci_testdev = true;
		return 0;
	case OPT_EDU:
		cfg->edu = true;
		return 0;
	case OPT_IOMMU:
		return config_parse_iommu(cfg, arg, "--iommu", err, errlen);
	case 'v':
		cfg->verbosity++;
		return 0;
	case 'q':
		cfg->verbosity = -1;
		return 0;
	case 'h':
		cfg->cmd = CMD_HELP;
		return 0;
	case 'V':
		cfg->cmd = CMD_VERSION;
		return 0;
	}
	return config_fail(err, errlen, "internal: unhandled option %d", c);
}

int config_parse(struct vm_config *cfg, int argc, char **argv,
		 char *err, size_t errlen)
{
	const char *cmd;
	int first, c, r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cmd = CMD_RUN;
	cfg->cpus = 1;
	cfg->mem_size = 256ULL << 20;
	/* As QEMU: a guest buffer is then few, large pieces of host memory for O_DIRECT DMA. */
	cfg->hugepages = HUGEPAGES_THP;
	cfg->serial = SERIAL_STDIO;
	cfg->pvm = TRI_AUTO;
	cfg->transport = TRANSPORT_PCI;
	cfg->seccomp = true;

	if (argc < 2)
		return config_fail(err, errlen, "missing command: try 'kvmrun --help'");
	cmd = argv[1];
	first = 2;
	if (!strcmp(cmd, "run")) {
		cfg->cmd = CMD_RUN;
	} else if (!strcmp(cmd, "restore")) {
		cfg->cmd = CMD_RESTORE;
	} else if (!strcmp(cmd, "info")) {
		cfg->cmd = CMD_INFO;
	} else if (!strcmp(cmd, "help")) {
		cfg->cmd = CMD_HELP;
	} else if (!strcmp(cmd, "ctl")) {
		/* The client has a grammar of its own (src/ctl.c). */
		cfg->cmd = CMD_CTL;
		cfg->ctl_argc = argc - 2;
		cfg->ctl_argv = argv + 2;
		return 0;
	} else if (cmd[0] == '-') {
		/* "kvmrun --kernel X" means "kvmrun run --kernel X". */
		first = 1;
	} else {
		return config_fail(err, errlen, "unknown command '%s': try 'kvmrun --help'", cmd);
	}

	/* getopt keeps state in globals; reset it so that parsing can run twice (tests). */
	optind = 0;
	opterr = 0;
	argv[first - 1] = argv[0];
	for (;;) {
		int longindex = -1;

		c = getopt_long(argc - first + 1, argv + first - 1, short_options, run_options,
				&longindex);
		if (c == -1)
			break;
		/*
		 * After a long option getopt has stepped past its word.  A short one
		 * may sit inside a group ("-xv"), where optind has not moved: name it
		 * by its character.
		 */
		if (c == '?') {
			if (short_option_error(optopt))
				return config_fail(err, errlen, "unknown option '-%c': try 'kvmrun --help'",
					    (char)optopt);
			return bad_option(argv[first - 1 + optind - 1], err, errlen);
		}
		if (c == ':') {
			const char *arg = argv[first - 1 + optind - 1];

			if (!strncmp(arg, "--", 2))
				return config_fail(err, errlen, "option '%s' needs a value", arg);
			return config_fail(err, errlen, "option '-%c' needs a value", (char)optopt);
		}
		r = parse_run_option(cfg, c, optarg, err, errlen);
		if (r)
			return r;
		cfg->given |= given_bit(c);
	}
	if (cfg->cmd == CMD_RESTORE && optind < argc - first + 1)
		cfg->restore_dir = argv[first - 1 + optind++];
	if (optind < argc - first + 1)
		return config_fail(err, errlen, "unexpected argument '%s'", argv[first - 1 + optind]);
	if (cfg->cmd == CMD_RESTORE) {
		if (!cfg->restore_dir || !*cfg->restore_dir)
			return config_fail(err, errlen, "restore: missing the snapshot directory: "
				    "kvmrun restore DIR [options]");
		if (cfg->given & CFG_GIVEN_MACHINE)
			return config_fail(err, errlen, "restore: the machine (kernel, vCPUs, memory, "
				    "devices) is the snapshot's; only --disk, --net, --serial and "
				    "run-time options can be given");
		if (cfg->incoming)
			return config_fail(err, errlen, "restore: --incoming is for 'run'");
		if (cfg->given & CFG_GIVEN_FS)
			return config_fail(err, errlen, "restore: a snapshot holds no virtio-fs device "
				    "(--fs, --share): its state lives in virtiofsd");
		return 0;
	}
	if (cfg->cmd == CMD_RUN && cfg->incoming && !cfg->kernel)
		cfg->kernel = "(incoming migration)";

	if (cfg->cmd == CMD_INFO && (cfg->kernel || cfg->append || cfg->initrd))
		return config_fail(err, errlen, "'info' takes no kernel options");
	if (cfg->cmd == CMD_RUN && !cfg->kernel)
		return config_fail(err, errlen, "missing --kernel FILE: try 'kvmrun --help'");
	/* The split irqchip has no PIC for a PIT to tick through. */
	if (cfg->irqchip == IRQCHIP_SPLIT)
		cfg->no_pit = true;
	if (cfg->nr_vfio && cfg->transport != TRANSPORT_PCI)
		return config_fail(err, errlen, "--vfio needs --transport pci: the device sits on the PCI bus");
	if ((cfg->edu || cfg->iommu) && cfg->transport != TRANSPORT_PCI)
		return config_fail(err, errlen, "%s needs --transport pci: it sits on the PCI bus",
			    cfg->edu ? "--edu" : "--iommu");
	if (cfg->iommu_ir == IOMMU_IR_ON && !config_irqchip_split(cfg))
		return config_fail(err, errlen, "--iommu intel,intremap=on needs the split irqchip: "
			    "KVM's IOAPIC cannot remap (intremap=msi remaps MSIs only)");
	if (cfg->nr_vfio && cfg->irqchip == IRQCHIP_SPLIT)
		return config_fail(err, errlen, "--vfio with --irqchip split: a passed-through "
			    "device's INTx needs KVM's IOAPIC (its resample irqfd); use --irqchip kernel");
	if (cfg->nr_vfio && cfg->incoming)
		return config_fail(err, errlen, "--incoming: a migration cannot carry --vfio devices");
	if (cfg->hugepages == HUGEPAGES_HUGETLB && (cfg->mem_size & ((2ULL << 20) - 1)))
		return config_fail(err, errlen, "--hugepages hugetlb needs --memory in whole 2M pages");
	/* A vhost-user backend maps guest RAM: it must be a memfd it can be handed. */
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		cfg->mem_shared |= cfg->disks[i].vhost_user;
	if (cfg->nr_fs)
		cfg->mem_shared = true;
	if (cfg->incoming && cfg->mem_shared && (cfg->nr_fs || cfg->given & CFG_GIVEN_DISK))
		for (unsigned i = 0; i < cfg->nr_disks + cfg->nr_fs; i++)
			if (i >= cfg->nr_disks || cfg->disks[i].vhost_user)
				return config_fail(err, errlen, "--incoming: a migration cannot carry "
					    "vhost-user devices (--fs, --share, --disk vhost-user=)");
	return 0;
}
