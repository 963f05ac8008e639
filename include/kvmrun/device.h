/*
 * The device registry: every device of a VM, platform or virtio, is one
 * struct vm_device in the VM's device list, created by the machine builder
 * (src/builder.c) in the order the machine table gives.  Through its ops the
 * VMM resets, saves, restores, describes and destroys it without knowing
 * what it is.  A device's ops live in its own file beside its code.
 */
#ifndef KVMRUN_DEVICE_H
#define KVMRUN_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/state.h"

#define DEVICE_NAME_MAX		32
#define MACHINE_CMDLINE_MAX	1024

/*
 * A VT-d unit for the guest's DMAR table (base 0: none): the functions on
 * bus 0 it translates (their device scopes) and, with interrupt remapping,
 * the IOAPIC it remaps.
 */
#define MACHINE_DMAR_DEVS	8
struct machine_dmar {
	uint64_t base;
	bool intremap;
	uint8_t ioapic_bus, ioapic_devfn;	/* the IOAPIC's scope path */
	unsigned nr_devs;
	uint8_t devfn[MACHINE_DMAR_DEVS];
};

/*
 * What the guest must be told about the machine, gathered from the devices
 * (describe ops) and turned by the VMM into ACPI tables and the kernel
 * command line: nothing about the devices is predicted from the config.
 */
struct machine_desc {
	uint32_t level_irqs;		/* ISA IRQs (bits 0-15) that are level triggered, active high */
	bool pci_host;			/* a PCI host bridge on 0xCF8: ACPI's \_SB.PCI0 */
	bool no_pic;			/* no 8259 PICs (split irqchip): no PCAT_COMPAT in the MADT */
	char cmdline[MACHINE_CMDLINE_MAX];	/* appended to the kernel command line */
	size_t cmdline_len;
	struct machine_dmar dmar;
};

/* Appends " " + the formatted text to m->cmdline.  0, or -E2BIG when full. */
int machine_desc_cmdline(struct machine_desc *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct vm_device_ops {
	const char *kind;		/* "serial8250", "virtio-blk/pci", ... */
	uint16_t state_version;		/* of the record save writes */
	/*
	 * Appends the device's guest-visible state (registers, queues, not
	 * fds or threads).  Called with the device quiesced: no vCPU and no
	 * worker inside it.  0, or -errno when it cannot be saved now.
	 */
	int (*save)(void *dev, struct state_writer *w);
	/*
	 * Replaces the guest-visible state of a device built from the same
	 * configuration with a record of the given version (at most
	 * state_version).  Checks every value; 0, or -EINVAL on a corrupt or
	 * impossible record (the device is then reset).
	 */
	int (*restore)(void *dev, struct state_reader *r, uint16_t version);
	/* Starts the device's threads once the whole machine is built.  Optional. */
	int (*start)(void *dev);
	/*
	 * A stop was requested: abandon long host operations and let threads
	 * leave, so that teardown is quick.  Any thread, without the device's
	 * locks (a vCPU or a worker may hold them).  Optional.
	 */
	void (*stop)(void *dev);
	/*
	 * The VM pauses (vCPUs already out of the guest): finish what is in
	 * flight and touch neither guest memory nor guest-visible state until
	 * resume, so that save and RAM copies see a still machine.  Optional.
	 */
	void (*pause)(void *dev);
	void (*resume)(void *dev);
	/* Back to the power-on state, as a machine reset does.  Optional. */
	void (*reset)(void *dev);
	/* Adds what the guest must be told about it.  Optional.  0 or -errno. */
	int (*describe)(void *dev, struct machine_desc *m);
	/* Why a live migration cannot carry it (NULL: it can).  Optional. */
	const char *(*live_blocker)(void *dev);
	/* Stops its threads, releases its host resources and frees dev. */
	void (*destroy)(void *dev);
};

/*
 * Defines PREFIX_device_ops for a device type whose own functions are
 * PREFIX_save(const struct *, w), PREFIX_restore(struct *, r, version),
 * PREFIX_reset and PREFIX_destroy; the ops' destroy also frees the device
 * (the builder allocates it).  Needs <stdlib.h>.
 */
#define VM_DEVICE_OPS_DEFINE(PREFIX, KIND, VERSION)					\
	static int PREFIX##_ops_save(void *dev, struct state_writer *w)			\
	{										\
		return PREFIX##_save(dev, w);						\
	}										\
	static int PREFIX##_ops_restore(void *dev, struct state_reader *r, uint16_t v)	\
	{										\
		return PREFIX##_restore(dev, r, v);					\
	}										\
	static void PREFIX##_ops_reset(void *dev)					\
	{										\
		PREFIX##_reset(dev);							\
	}										\
	static void PREFIX##_ops_destroy(void *dev)					\
	{										\
		PREFIX##_destroy(dev);							\
		free(dev);								\
	}										\
	const struct vm_device_ops PREFIX##_device_ops = {				\
		.kind = KIND,								\
		.state_version = VERSION,						\
		.save = PREFIX##_ops_save,						\
		.restore = PREFIX##_ops_restore,					\
		.reset = PREFIX##_ops_reset,						\
		.destroy = PREFIX##_ops_destroy,					\
	}

struct vm_device {
	const struct vm_device_ops *ops;
	void *dev;
	char name[DEVICE_NAME_MAX];	/* the instance: "serial0", "virtio-blk1" */
};

struct device_list {
	struct vm_device *v;
	unsigned nr, cap;
};

void device_list_init(struct device_list *l);
/*
 * Takes ownership of dev (ops->destroy frees it, also when adding fails).
 * 0, -ENOMEM or -EEXIST (a device of that name is already there).
 */
int device_list_add(struct device_list *l, const struct vm_device_ops *ops, void *dev,
		    const char *name);
struct vm_device *device_list_find(struct device_list *l, const char *name);
/* Destroys every device, the last added first. */
void device_list_destroy(struct device_list *l);
/* Starts every device in list order; 0 or the first error. */
int device_list_start(struct device_list *l);
void device_list_reset(struct device_list *l);
/* Pauses every device, in list order; resumes them, the last first. */
void device_list_pause(struct device_list *l);
void device_list_resume(struct device_list *l);
/* Tells every device that a stop was requested (ops->stop). */
void device_list_stop(struct device_list *l);
int device_list_describe(struct device_list *l, struct machine_desc *m);

/*
 * Every device's record, in list order, each framed as: name, kind,
 * version, length, record.  0 or -errno (the writer's error included).
 */
int device_list_save(struct device_list *l, struct state_writer *w);
/*
 * Restores the list from what device_list_save wrote for the same machine:
 * the same names and kinds in the same order, versions no newer than this
 * build's, every record consumed whole.  0, or -EINVAL with why in err.
 */
int device_list_restore(struct device_list *l, struct state_reader *r, char *err,
			size_t errlen);

/* One device's record alone (the round-trip unit tests use these). */
int device_save_one(const struct vm_device_ops *ops, void *dev, struct state_writer *w);
int device_restore_one(const struct vm_device_ops *ops, void *dev, const void *data,
		       size_t len);

#endif
