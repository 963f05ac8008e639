/* Command line -> one validated struct vm_config. */
#ifndef KVMRUN_CONFIG_H
#define KVMRUN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/disk_config.h"
#include "kvmrun/fs_config.h"
#include "kvmrun/mem.h"
#include "kvmrun/net_config.h"

#define KVMRUN_VERSION "0.1.0"

/* Exit statuses (also documented in --help and README). */
#define EXIT_GUEST_OFF	0	/* guest powered off or reset */
#define EXIT_VMM_ERROR	1	/* kvmrun itself failed */
#define EXIT_TIMEOUT	124	/* --timeout expired */
#define EXIT_USAGE	1	/* bad command line: same status as any other failure */

#define CMDLINE_MAX	4096	/* bytes including the terminating NUL */
#define CPUS_MAX	255	/* xAPIC ids fit in 8 bits; 0xff is broadcast */
#define MAX_VFIO	8	/* --vfio devices */

enum cmd { CMD_RUN, CMD_INFO, CMD_HELP, CMD_VERSION, CMD_RESTORE, CMD_CTL };

enum serial_sink { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE };

enum tristate { TRI_AUTO, TRI_ON, TRI_OFF };

enum transport { TRANSPORT_MMIO, TRANSPORT_PCI };

/* --iommu intel,intremap=: MSI-only remapping works beside KVM's own IOAPIC. */
enum iommu_ir { IOMMU_IR_OFF, IOMMU_IR_ON, IOMMU_IR_MSI };
/* Where the interrupt controllers live: all in KVM, or the IOAPIC in kvmrun (no PIC, no PIT). */
enum irqchip { IRQCHIP_KERNEL, IRQCHIP_SPLIT };

struct vm_config {
	enum cmd cmd;
	const char *kernel;
	const char *append;		/* NULL: no command line */
	const char *initrd;
	unsigned cpus;
	uint64_t mem_size;
	bool mem_shared;		/* memfd instead of private anonymous memory */
	enum hugepages hugepages;
	double timeout;			/* seconds, 0 = none */
	enum serial_sink serial;
	const char *serial_path;	/* SERIAL_FILE */
	enum tristate pvm;		/* PVM host workarounds */
	bool reboot_restart;		/* --reboot restart: a guest reset boots it again */
	bool seccomp;			/* --seccomp on (default): per-thread allow-lists */
	bool pit_discard;		/* PIT ticks the guest missed are dropped, not reinjected */
	bool no_pit;			/* --no-pit: no in-kernel PIT; ports 0x40-0x43, 0x61 unclaimed */
	enum irqchip irqchip;		/* --irqchip; split implies no_pit */
	uint32_t cpu_on, cpu_off;	/* -cpu MODEL,+F,-F: bit i is cpuid_features[i] (cpuid.h) */
	enum transport transport;
	struct disk_config disks[MAX_DISKS];
	unsigned nr_disks;
	struct fs_config fs[MAX_FS];	/* --fs and --share, in command-line order */
	unsigned nr_fs;
	bool rng;
	struct net_config net;
	bool has_net;
	bool virtio_console;		/* a virtio console (hvc0) on stdio */
	bool pc_testdev;		/* --pc-testdev: QEMU's pc-testdev (kvm-unit-tests) */
	bool pci_testdev;		/* --pci-testdev: QEMU's pci-testdev (1b36:0005) */
	bool edu;			/* --edu: QEMU's edu device (1234:11e8) */
	bool iommu;			/* --iommu intel: a VT-d unit at 0xfed90000 */
	enum iommu_ir iommu_ir;		/* its interrupt remapping */
	const char *vfio[MAX_VFIO];	/* --vfio DEVICE: PCI address or sysfs path */
	unsigned nr_vfio;
	int verbosity;			/* -1 quiet, 0 default, 1+ verbose */
	const char *api_path;		/* --api: the control socket, or NULL */
	int ctl_argc;			/* kvmrun ctl: its arguments (src/ctl.c parses them) */
	char **ctl_argv;

	/* Snapshots and migration (snapshot.h, migrate.h). */
	const char *snapshot_dir;	/* --snapshot-dir: where guest-requested snapshots go */
	const char *restore_dir;	/* restore DIR */
	const char *incoming;		/* --incoming URI */
	bool start_paused;		/* --paused */
	const struct mem_file *mem_file;	/* restore: RAM from this file (not an option) */
	uint32_t given;			/* CFG_GIVEN_* bits: options on the command line */
};

/* Options restore refuses, because the snapshot fixes them. */
#define CFG_GIVEN_MACHINE	(1u << 0)	/* --kernel, --cpus, --memory, ... */
#define CFG_GIVEN_DISK		(1u << 1)
#define CFG_GIVEN_NET		(1u << 2)
#define CFG_GIVEN_SERIAL	(1u << 3)
#define CFG_GIVEN_FS		(1u << 4)

/*
 * Parses argv into cfg.  Returns 0, or -EINVAL after writing one line that
 * says what is wrong into err (size errlen).
 */
int config_parse(struct vm_config *cfg, int argc, char **argv,
		 char *err, size_t errlen);

/* One --disk value (src/disk_config.c); 0 or -EINVAL with a one-line reason in err. */
int disk_config_parse(const char *arg, struct disk_config *dc, char *err, size_t errlen);
/* One --fs (share false) or --share value (src/fs_config.c); 0 or -EINVAL with a reason in err. */
int fs_config_parse(const char *arg, struct fs_config *fc, bool share, char *err, size_t errlen);
/* One --net value (src/net_config.c); 0 or -EINVAL with a one-line reason in err. */
int net_config_parse(const char *arg, struct net_config *nc, char *err, size_t errlen);

/*
 * A rate-limit option of --disk (ops_name "iops") or --net ("pps"): NAME=N,
 * bps=N (K/M/G suffixes: bytes), NAME-burst=N, bps-burst=N.  1: it was one
 * and p has it; 0: not a rate-limit option; -EINVAL: a bad value, with a
 * line naming flag ("--disk") in err.
 */
int rate_limit_parse_option(const char *opt, const char *ops_name, struct rate_limit_params *p,
			    const char *flag, char *err, size_t errlen);

/*
 * --iommu's value, intel[,intremap=on|msi|off] (flag names the option in
 * errors): sets cfg->iommu and cfg->iommu_ir.  0 or -EINVAL with a reason.
 */
int config_parse_iommu(struct vm_config *cfg, const char *arg, const char *flag, char *err,
		       size_t errlen);
/* Is the IOAPIC kvmrun's own (split irqchip), so that interrupt remapping can reach its pins? */
static inline bool config_irqchip_split(const struct vm_config *cfg)
{
	return cfg->irqchip == IRQCHIP_SPLIT;
}

/* "256M" -> bytes.  Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *out);
/*
 * Writes the one-line error (control characters of quoted arguments made
 * '?') into err and returns -EINVAL: the parsers' common exit.
 */
int config_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The --help text. */
extern const char config_usage_text[];

#endif
