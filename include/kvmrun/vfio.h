/*
 * VFIO passthrough, the host side: a narrow table of the kernel calls a
 * passed-through PCI function needs (struct vfio_dev_ops), with the real
 * implementation over iommufd (/dev/iommu + /dev/vfio/devices/vfioN) or the
 * legacy container/group interface (type1), in devices/vfio_host.c, and a
 * fake in the unit tests.  Above it, devices/vfio_pci.c is the PCI function
 * the guest sees.  Written from the kernel's Documentation/driver-api/vfio.rst,
 * userspace-api/iommufd.rst and the UAPI headers.
 */
#ifndef KVMRUN_VFIO_H
#define KVMRUN_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VFIO_MAX_AREAS		8	/* sparse mmap areas kept per region */
#define VFIO_ADDR_MAX		16	/* "0000:01:00.1" + NUL */
#define VFIO_PATH_MAX		256

/* Region indexes and IRQ indexes of a vfio-pci device (linux/vfio.h). */
#define VFIO_PCI_REGION_BAR0	0
#define VFIO_PCI_REGION_ROM	6
#define VFIO_PCI_REGION_CONFIG	7
#define VFIO_PCI_NR_REGIONS	9
#define VFIO_PCI_IRQ_INTX	0
#define VFIO_PCI_IRQ_MSI	1
#define VFIO_PCI_IRQ_MSIX	2

/* Region flags, as VFIO_DEVICE_GET_REGION_INFO reports them. */
#define VFIO_REGION_READ	(1u << 0)
#define VFIO_REGION_WRITE	(1u << 1)
#define VFIO_REGION_MMAP	(1u << 2)

struct vfio_area {
	uint64_t offset, size;		/* inside the region */
};

struct vfio_region {
	uint32_t flags;			/* VFIO_REGION_* */
	uint64_t size;
	uint64_t offset;		/* of the region in the device fd */
	/*
	 * Where mmap is allowed: the sparse-mmap capability's areas, or the
	 * whole region when the region is mmappable and has no such capability.
	 */
	unsigned nr_areas;
	struct vfio_area areas[VFIO_MAX_AREAS];
};

/*
 * Decodes what VFIO_DEVICE_GET_REGION_INFO returned (len bytes of struct
 * vfio_region_info and its capability chain) into r: flags, size, offset,
 * the sparse-mmap areas.  Capabilities past len, chains that loop and
 * areas past the end are ignored.
 */
void vfio_region_parse(const void *info, size_t len, struct vfio_region *r);

enum vfio_iface { VFIO_IFACE_NONE, VFIO_IFACE_IOMMUFD, VFIO_IFACE_LEGACY };

/*
 * One opened device.  Every call returns 0 (or a count) or -errno; h is
 * the implementation's handle.
 */
struct vfio_dev_ops {
	/* VFIO_DEVICE_GET_INFO: flags (VFIO_DEVICE_FLAGS_*), region and IRQ counts. */
	int (*device_info)(void *h, uint32_t *flags, uint32_t *nr_regions, uint32_t *nr_irqs);
	/* VFIO_DEVICE_GET_REGION_INFO, the sparse-mmap capability parsed into r. */
	int (*region_info)(void *h, unsigned index, struct vfio_region *r);
	/* pread/pwrite on the device fd at the region's offset + off: bytes done or -errno. */
	ssize_t (*region_read)(void *h, const struct vfio_region *r, uint64_t off, void *buf,
			       size_t len);
	ssize_t (*region_write)(void *h, const struct vfio_region *r, uint64_t off,
				const void *buf, size_t len);
	/* mmap of [off, off + len) of the region, shared, read-write; NULL on failure. */
	void *(*region_mmap)(void *h, const struct vfio_region *r, uint64_t off, uint64_t len);
	void (*region_munmap)(void *h, void *p, uint64_t len);
	/* VFIO_DEVICE_GET_IRQ_INFO: how many vectors index has (0: none). */
	int (*irq_count)(void *h, unsigned index);
	/*
	 * VFIO_DEVICE_SET_IRQS, ACTION_TRIGGER: vectors [start, start + n) of
	 * index signal fds[i] (-1: that vector signals nothing); n == 0
	 * disables the index.
	 */
	int (*irq_trigger)(void *h, unsigned index, unsigned start, unsigned n, const int *fds);
	/* VFIO_DEVICE_SET_IRQS, ACTION_UNMASK with an eventfd: INTx unmasks when fd is signalled. */
	int (*irq_unmask_fd)(void *h, unsigned index, int fd);
	/* VFIO_DEVICE_RESET (a function-level reset where the device has one). */
	int (*reset)(void *h);
	/* Guest RAM for DMA: iova = guest-physical address, pinned by the kernel. */
	int (*dma_map)(void *h, uint64_t iova, void *host, uint64_t size);
	int (*dma_unmap)(void *h, uint64_t iova, uint64_t size);
	/* Closes the device, its IOMMU context and frees h. */
	void (*close)(void *h);
};

struct vfio_dev {
	const struct vfio_dev_ops *ops;
	void *h;
	enum vfio_iface iface;
};

/* A device named on the command line, resolved in sysfs. */
struct vfio_target {
	char addr[VFIO_ADDR_MAX];	/* "0000:01:00.1" */
	char sysfs[VFIO_PATH_MAX];	/* its directory */
	int group;			/* IOMMU group number, -1: none */
	char cdev[VFIO_PATH_MAX];	/* "/dev/vfio/devices/vfio3", "" without one */
};

/*
 * Normalizes a PCI address ("01:00.1" or "0000:01:00.1") into out
 * ("0000:01:00.1").  0 or -EINVAL.
 */
int vfio_parse_addr(const char *s, char out[VFIO_ADDR_MAX]);

/* --vfio DEVICE[,rom=on|off], split: the device (address or sysfs path) and its options. */
struct vfio_spec {
	char device[VFIO_PATH_MAX];
	bool rom;			/* show the expansion ROM (default: hidden) */
};

/*
 * Splits arg into s; an unknown option, a bad value or an address that is
 * not one (a sysfs path is checked when opened): -EINVAL with one line in err.
 */
int vfio_parse_spec(const char *arg, struct vfio_spec *s, char *err, size_t errlen);

/*
 * Resolves --vfio DEVICE (a PCI address, looked up under sysfs_root, or a
 * device's sysfs directory) and checks that it is bound to vfio-pci and that
 * every device of its IOMMU group is bound to vfio-pci (or to no driver).
 * 0, or -errno with one line of what to do in err.
 */
int vfio_resolve(const char *spec, const char *sysfs_root, struct vfio_target *t, char *err,
		 size_t errlen);

/* Which interface this host offers under dev_root ("/dev"): iommufd first. */
enum vfio_iface vfio_host_probe(const char *dev_root);
const char *vfio_iface_name(enum vfio_iface i);

/*
 * The kernel calls vfio_host.c makes to set a device up and tear it down
 * (open, ioctl, close: iommufd, container, group, DMA maps), each returning
 * a value or -errno: the kernel's own by default, a fake kernel in the unit
 * tests.  The device fd's own calls (region info, reads, writes, mmaps,
 * interrupts, reset) always go to the kernel.
 */
struct vfio_sys {
	int (*open)(void *ctx, const char *path, int flags);
	int (*ioctl)(void *ctx, int fd, unsigned long req, void *arg);
	void (*close)(void *ctx, int fd);
	void *ctx;
};

/*
 * One VM's IOMMU context, shared by all its --vfio devices: one iommufd and
 * IOAS, or one type1 container and each IOMMU group opened once (the kernel
 * lets a group be opened once and bound to one context, so two functions of
 * one group need this), guest RAM mapped into it once.  Reference counted:
 * every device opened with it holds a reference.  sys NULL: the kernel;
 * dev_root: where /dev is (the interface is probed there, and the same
 * device paths are opened through sys).  NULL when out of memory.
 */
struct vfio_iommu *vfio_iommu_new(const struct vfio_sys *sys, const char *dev_root);
void vfio_iommu_get(struct vfio_iommu *io);
void vfio_iommu_put(struct vfio_iommu *io);
/* The context a device was opened with (a reference is not taken), or NULL for another kind. */
struct vfio_iommu *vfio_dev_iommu(const struct vfio_dev *d);

/*
 * Opens a resolved device in io with the interface the host offers
 * (iommufd, else legacy type1), attached to io's IOAS or container.
 * mem_bytes is the guest RAM that will be pinned (checked against
 * RLIMIT_MEMLOCK for non-root users: type1 path and iommufd alike).  0, or
 * -errno with one line of what to do in err.  The device's dma_map of a
 * range io already maps (for another device) only counts a reference.
 */
int vfio_host_open(struct vfio_iommu *io, const struct vfio_target *t, uint64_t mem_bytes,
		   struct vfio_dev *d, char *err, size_t errlen);

#endif
