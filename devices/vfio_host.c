/*
 * The VFIO kernel interface (vfio.h): sysfs resolution of --vfio DEVICE,
 * and the device calls over iommufd or the legacy container/group (type1).
 * Nothing here runs on the development hosts (no IOMMU, no /dev/vfio): it
 * follows Documentation/driver-api/vfio.rst and userspace-api/iommufd.rst.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/vfio.h"

/*
 * The cdev and iommufd ioctls arrived in Linux 6.2 and 6.6; older UAPI
 * headers (Debian 12 ships 6.1's) lack them: the ABI, from 6.12's
 * include/uapi/linux/vfio.h and iommufd.h.
 */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD	_IO(VFIO_TYPE, VFIO_BASE + 18)
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 19)
#endif
#ifndef IOMMUFD_TYPE
#define IOMMUFD_TYPE		(';')
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC	_IO(IOMMUFD_TYPE, 0x81)
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP		_IO(IOMMUFD_TYPE, 0x85)
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP	_IO(IOMMUFD_TYPE, 0x86)
#define IOMMU_IOAS_MAP_FIXED_IOVA	(1 << 0)
#define IOMMU_IOAS_MAP_WRITEABLE	(1 << 1)
#define IOMMU_IOAS_MAP_READABLE		(1 << 2)
#endif

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- resolution ---- */

int vfio_parse_addr(const char *s, char out[VFIO_ADDR_MAX])
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;

	if (sscanf(s, "%4x:%2x:%2x.%1u%n", &dom, &bus, &dev, &fn, &n) == 4 && !s[n] &&
	    n == 12) {
		/* domain given */
	} else if (dom = 0, n = 0, sscanf(s, "%2x:%2x.%1u%n", &bus, &dev, &fn, &n) == 3 &&
		   !s[n] && n == 7) {
		/* short form: domain 0 */
	} else {
		return -EINVAL;
	}
	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '+' || *p == '-')
			return -EINVAL;	/* sscanf's %x takes signs and spaces */
	if (dev > 31 || fn > 7)
		return -EINVAL;
	snprintf(out, VFIO_ADDR_MAX, "%04x:%02x:%02x.%u", dom, bus, dev, fn);
	return 0;
}

int vfio_parse_spec(const char *arg, struct vfio_spec *s, char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
	char addr[VFIO_ADDR_MAX];

	memset(s, 0, sizeof(*s));
	if (!n || n >= sizeof(s->device))
		return fail(err, errlen, -EINVAL, "--vfio '%s': expected a PCI address (0000:01:00.1 "
			    "or 01:00.1) or a sysfs path, then ,rom=on|off", arg);
	memcpy(s->device, arg, n);
	if (!strchr(s->device, '/') && vfio_parse_addr(s->device, addr))
		return fail(err, errlen, -EINVAL, "--vfio '%s': expected a PCI address "
			    "(0000:01:00.1 or 01:00.1) or a sysfs path", s->device);
	while (comma) {
		const char *opt = comma + 1;

		comma = strchr(opt, ',');
		n = comma ? (size_t)(comma - opt) : strlen(opt);
		if (n == 6 && !strncmp(opt, "rom=on", 6))
			s->rom = true;
		else if (n == 7 && !strncmp(opt, "rom=off", 7))
			s->rom = false;
		else
			return fail(err, errlen, -EINVAL, "--vfio %s: unknown option '%.*s' (known: "
				    "rom=on|off)", s->device, (int)n, opt);
	}
	return 0;
}

/* The last component of the symlink dir/name ("vfio-pci", "7"), or -errno. */
static int link_name(const char *dir, const char *name, char *out, size_t len)
{
	char path[VFIO_PATH_MAX + 32], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	const char *base = strrchr(target, '/');

	if (snprintf(out, len, "%s", base ? base + 1 : target) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* Every other device of the group bound to vfio-pci or to nothing?  Else the first offender. */
static int group_viable(const char *sysfs, char *bad, size_t badlen, char *drv, size_t drvlen)
{
	char devs[VFIO_PATH_MAX + 32];
	struct dirent *e;
	DIR *d;

	snprintf(devs, sizeof(devs), "%s/iommu_group/devices", sysfs);
	d = opendir(devs);
	if (!d)
		return 0;	/* no list to check: the kernel's viability check still runs */
	while ((e = readdir(d))) {
		char dir[VFIO_PATH_MAX + 64];

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(dir, sizeof(dir), "%s/%s", devs, e->d_name) >= (int)sizeof(dir))
			continue;
		if (link_name(dir, "driver", drv, drvlen) == 0 && strcmp(drv, "vfio-pci") &&
		    strcmp(drv, "pcieport")) {
			if (snprintf(bad, badlen, "%s", e->d_name) >= (int)badlen)
				bad[0] = 0;
			closedir(d);
			return -EBUSY;
		}
	}
	closedir(d);
	return 0;
}

int vfio_resolve(const char *spec, const char *sysfs_root, struct vfio_target *t, char *err,
		 size_t errlen)
{
	char drv[64], grp[32], real[PATH_MAX];
	struct stat st;

	memset(t, 0, sizeof(*t));
	t->group = -1;
	if (strchr(spec, '/')) {
		/* A sysfs path: its last component is the address. */
		if (!realpath(spec, real))
			return fail(err, errlen, -ENOENT, "--vfio %s: no such device", spec);
		const char *base = strrchr(real, '/') + 1;

		if (vfio_parse_addr(base, t->addr))
			return fail(err, errlen, -EINVAL, "--vfio %s: not a PCI device's sysfs "
				    "directory (its name is no PCI address)", spec);
		if (snprintf(t->sysfs, sizeof(t->sysfs), "%s", real) >= (int)sizeof(t->sysfs))
			return fail(err, errlen, -ENAMETOOLONG, "--vfio %s: path too long", spec);
	} else {
		if (vfio_parse_addr(spec, t->addr))
			return fail(err, errlen, -EINVAL, "--vfio '%s': expected a PCI address "
				    "(0000:01:00.1 or 01:00.1) or a sysfs path", spec);
		snprintf(t->sysfs, sizeof(t->sysfs), "%s/bus/pci/devices/%s", sysfs_root, t->addr);
	}
	if (stat(t->sysfs, &st) || !S_ISDIR(st.st_mode))
		return fail(err, errlen, -ENOENT, "--vfio %s: no such PCI device (see lspci -D)",
			    t->addr);
	if (link_name(t->sysfs, "driver", drv, sizeof(drv)))
		snprintf(drv, sizeof(drv), "no driver");
	if (strcmp(drv, "vfio-pci"))
		return fail(err, errlen, -EBUSY, "--vfio %s: bound to %s, not vfio-pci: bind it: "
			    "modprobe vfio-pci; echo %s > /sys/bus/pci/devices/%s/driver/unbind; "
			    "echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers/vfio-pci/bind (or driverctl set-override %s "
			    "vfio-pci)", t->addr, drv, t->addr, t->addr, t->addr, t->addr, t->addr);
	if (link_name(t->sysfs, "iommu_group", grp, sizeof(grp)) == 0)
		t->group = atoi(grp);
	char bad[64];

	if (group_viable(t->sysfs, bad, sizeof(bad), drv, sizeof(drv)))
		return fail(err, errlen, -EBUSY, "--vfio %s: IOMMU group %d is not viable: %s in "
			    "the same group is bound to %s; bind every device of "
			    "/sys/kernel/iommu_groups/%d/devices to vfio-pci", t->addr, t->group,
			    bad, drv, t->group);
	/* The device's cdev (iommufd): vfio-dev/vfioN. */
	char vdir[VFIO_PATH_MAX + 16];
	DIR *d;

	snprintf(vdir, sizeof(vdir), "%s/vfio-dev", t->sysfs);
	d = opendir(vdir);
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)))
			if (!strncmp(e->d_name, "vfio", 4) && e->d_name[4]) {
				if (snprintf(t->cdev, sizeof(t->cdev), "/dev/vfio/devices/%s",
					     e->d_name) >= (int)sizeof(t->cdev))
					t->cdev[0] = 0;
				break;
			}
		closedir(d);
	}
	return 0;
}

enum vfio_iface vfio_host_probe(const char *dev_root)
{
	char p[VFIO_PATH_MAX];

	snprintf(p, sizeof(p), "%s/iommu", dev_root);
	if (access(p, F_OK) == 0) {
		snprintf(p, sizeof(p), "%s/vfio/devices", dev_root);
		if (access(p, F_OK) == 0)
			return VFIO_IFACE_IOMMUFD;
	}
	snprintf(p, sizeof(p), "%s/vfio/vfio", dev_root);
	return access(p, F_OK) == 0 ? VFIO_IFACE_LEGACY : VFIO_IFACE_NONE;
}

const char *vfio_iface_name(enum vfio_iface i)
{
	switch (i) {
	case VFIO_IFACE_IOMMUFD:
		return "iommufd (/dev/iommu, /dev/vfio/devices)";
	case VFIO_IFACE_LEGACY:
		return "legacy container/group, type1 IOMMU (/dev/vfio/vfio)";
	case VFIO_IFACE_NONE:
		break;
	}
	return "none (no /dev/iommu, no /dev/vfio: load vfio-pci and enable the IOMMU)";
}

/* ---- the VM's IOMMU context ---- */

#define HOST_GROUPS	16	/* IOMMU groups per VM: one per device at most */
#define HOST_MAPS	16	/* DMA mappings per IOAS or container (guest RAM's regions) */

static int kernel_open(void *ctx, const char *path, int flags)
{
	int fd = open(path, flags);

	(void)ctx;
	return fd < 0 ? -errno : fd;
}

static int kernel_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	int r;

	(void)ctx;
	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void kernel_close(void *ctx, int fd)
{
	(void)ctx;
	close(fd);
}

static const struct vfio_sys kernel_sys = { kernel_open, kernel_ioctl, kernel_close, NULL };

struct dma_range {
	uint64_t iova, size;
	void *host;
	unsigned refs;			/* devices that mapped it, 0: a free entry */
};

/* Where DMA mappings live: an iommufd IOAS or a type1 container. */
struct dma_space {
	int fd;				/* /dev/iommu or /dev/vfio/vfio, -1: not open */
	uint32_t ioas;			/* iommufd */
	bool iommu_set;			/* type1: VFIO_SET_IOMMU done (once, after a group joined) */
	struct dma_range map[HOST_MAPS];
};

struct host_group {
	int num, fd;			/* /dev/vfio/num, -1: a free entry */
	unsigned refs;			/* devices opened through it */
};

struct vfio_iommu {
	struct vfio_sys sys;
	unsigned refs;
	enum vfio_iface iface;		/* what dev_root offers */
	char dev_root[VFIO_PATH_MAX];
	struct dma_space ioas, container;
	struct host_group group[HOST_GROUPS];
};

struct host_dev {
	struct vfio_iommu *io;
	struct dma_space *space;	/* &io->ioas or &io->container */
	struct host_group *group;	/* legacy: the group it came from */
	int dev_fd;
};

static int sys_ioctl(struct vfio_iommu *io, int fd, unsigned long req, void *arg)
{
	return io->sys.ioctl(io->sys.ctx, fd, req, arg);
}

struct vfio_iommu *vfio_iommu_new(const struct vfio_sys *sys, const char *dev_root)
{
	struct vfio_iommu *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->sys = sys ? *sys : kernel_sys;
	io->refs = 1;
	snprintf(io->dev_root, sizeof(io->dev_root), "%s", dev_root);
	io->iface = vfio_host_probe(dev_root);
	io->ioas.fd = io->container.fd = -1;
	for (unsigned i = 0; i < HOST_GROUPS; i++)
		io->group[i].fd = -1;
	return io;
}

void vfio_iommu_get(struct vfio_iommu *io)
{
	io->refs++;
}

void vfio_iommu_put(struct vfio_iommu *io)
{
	if (!io || --io->refs)
		return;
	/* Groups before their container: closing the last group detaches the container's IOMMU. */
	for (unsigned i = 0; i < HOST_GROUPS; i++)
		if (io->group[i].fd >= 0)
			io->sys.close(io->sys.ctx, io->group[i].fd);
	if (io->container.fd >= 0)
		io->sys.close(io->sys.ctx, io->container.fd);
	if (io->ioas.fd >= 0)
		io->sys.close(io->sys.ctx, io->ioas.fd);
	free(io);
}

/* ---- the device calls, common to both interfaces ---- */

static int xioctl(int fd, unsigned long req, void *arg)
{
	return kernel_ioctl(NULL, fd, req, arg);
}

static int host_device_info(void *h, uint32_t *flags, uint32_t *nr_regions, uint32_t *nr_irqs)
{
	struct host_dev *d = h;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int r = xioctl(d->dev_fd, VFIO_DEVICE_GET_INFO, &info);

	if (r < 0)
		return r;
	*flags = info.flags;
	*nr_regions = info.num_regions;
	*nr_irqs = info.num_irqs;
	return 0;
}

void vfio_region_parse(const void *buf, size_t len, struct vfio_region *r)
{
	const struct vfio_region_info *info = buf;
	const uint8_t *base = buf;

	memset(r, 0, sizeof(*r));
	if (len < sizeof(*info))
		return;
	r->flags = info->flags & (VFIO_REGION_READ | VFIO_REGION_WRITE | VFIO_REGION_MMAP);
	r->size = info->size;
	r->offset = info->offset;
	uint32_t argsz = info->argsz < len ? info->argsz : (uint32_t)len;
	uint32_t off = info->flags & VFIO_REGION_INFO_FLAG_CAPS ? info->cap_offset : 0;
	unsigned hops = 0;

	r->nr_areas = 0;
	/* The kernel puts capabilities 8-byte aligned: anything else is not from it. */
	while (off && !(off & 7) && off + sizeof(struct vfio_info_cap_header) <= argsz &&
	       hops++ < 16) {
		const struct vfio_info_cap_header *c = (const void *)(base + off);

		if (c->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
		    off + sizeof(struct vfio_region_info_cap_sparse_mmap) <= argsz) {
			const struct vfio_region_info_cap_sparse_mmap *s = (const void *)c;

			for (uint32_t i = 0; i < s->nr_areas && r->nr_areas < VFIO_MAX_AREAS; i++) {
				if (off + sizeof(*s) + (i + 1) * sizeof(s->areas[0]) > argsz)
					break;
				r->areas[r->nr_areas].offset = s->areas[i].offset;
				r->areas[r->nr_areas++].size = s->areas[i].size;
			}
			return;
		}
		if (c->next <= off)
			break;
		off = c->next;
	}
	if (r->flags & VFIO_REGION_MMAP && r->size) {
		r->areas[0].offset = 0;
		r->areas[0].size = r->size;
		r->nr_areas = 1;
	}
}

static int host_region_info(void *h, unsigned index, struct vfio_region *r)
{
	struct host_dev *d = h;
	size_t sz = sizeof(struct vfio_region_info);
	struct vfio_region_info *info = NULL;
	int ret;

	/* The kernel says in argsz how much room the capabilities need: ask twice. */
	for (int pass = 0; pass < 2; pass++) {
		struct vfio_region_info *n = realloc(info, sz);

		if (!n) {
			free(info);
			return -ENOMEM;
		}
		info = n;
		memset(info, 0, sz);
		info->argsz = (uint32_t)sz;
		info->index = index;
		ret = xioctl(d->dev_fd, VFIO_DEVICE_GET_REGION_INFO, info);
		if (ret < 0) {
			free(info);
			return ret;
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;
	}
	vfio_region_parse(info, sz, r);
	free(info);
	return 0;
}

static ssize_t host_region_read(void *h, const struct vfio_region *r, uint64_t off, void *buf,
				size_t len)
{
	struct host_dev *d = h;
	ssize_t n;

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	n = pread(d->dev_fd, buf, len, (off_t)(r->offset + off));
	return n < 0 ? -errno : n;
}

static ssize_t host_region_write(void *h, const struct vfio_region *r, uint64_t off,
				 const void *buf, size_t len)
{
	struct host_dev *d = h;
	ssize_t n;

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	n = pwrite(d->dev_fd, buf, len, (off_t)(r->offset + off));
	return n < 0 ? -errno : n;
}

static void *host_region_mmap(void *h, const struct vfio_region *r, uint64_t off, uint64_t len)
{
	struct host_dev *d = h;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, d->dev_fd,
		       (off_t)(r->offset + off));

	return p == MAP_FAILED ? NULL : p;
}

static void host_region_munmap(void *h, void *p, uint64_t len)
{
	(void)h;
	munmap(p, len);
}

static int host_irq_count(void *h, unsigned index)
{
	struct host_dev *d = h;
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
	int r = xioctl(d->dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &info);

	return r < 0 ? r : (int)info.count;
}

static int set_irqs(struct host_dev *d, uint32_t flags, unsigned index, unsigned start,
		    unsigned n, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? n * sizeof(int32_t) : 0);
	struct vfio_irq_set *s = calloc(1, sz);
	int r;

	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->flags = flags | (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	s->index = index;
	s->start = start;
	s->count = n;
	if (fds)
		memcpy(s->data, fds, n * sizeof(int32_t));
	r = xioctl(d->dev_fd, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return r < 0 ? r : 0;
}

static int host_irq_trigger(void *h, unsigned index, unsigned start, unsigned n, const int *fds)
{
	/* DATA_NONE with count 0 disables the whole index (vfio.h, VFIO_DEVICE_SET_IRQS). */
	return set_irqs(h, VFIO_IRQ_SET_ACTION_TRIGGER, index, n ? start : 0, n, n ? fds : NULL);
}

static int host_irq_unmask_fd(void *h, unsigned index, int fd)
{
	return set_irqs(h, VFIO_IRQ_SET_ACTION_UNMASK, index, 0, 1, &fd);
}

static int host_reset(void *h)
{
	struct host_dev *d = h;
	int r = xioctl(d->dev_fd, VFIO_DEVICE_RESET, NULL);

	return r < 0 ? r : 0;
}

/* The kernel's map or unmap of [iova, iova + size) in d's IOAS or container. */
static int space_map(struct host_dev *d, uint64_t iova, void *host, uint64_t size)
{
	struct vfio_iommu *io = d->io;
	int r;

	if (d->space == &io->ioas) {
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = io->ioas.ioas,
			.user_va = (uint64_t)(uintptr_t)host,
			.length = size,
			.iova = iova,
		};

		r = sys_ioctl(io, io->ioas.fd, IOMMU_IOAS_MAP, &m);
	} else {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uint64_t)(uintptr_t)host,
			.iova = iova,
			.size = size,
		};

		r = sys_ioctl(io, io->container.fd, VFIO_IOMMU_MAP_DMA, &m);
	}
	return r < 0 ? r : 0;
}

static int space_unmap(struct host_dev *d, uint64_t iova, uint64_t size)
{
	struct vfio_iommu *io = d->io;
	int r;

	if (d->space == &io->ioas) {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u), .ioas_id = io->ioas.ioas, .iova = iova, .length = size,
		};

		r = sys_ioctl(io, io->ioas.fd, IOMMU_IOAS_UNMAP, &u);
	} else {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = iova, .size = size,
		};

		r = sys_ioctl(io, io->container.fd, VFIO_IOMMU_UNMAP_DMA, &u);
	}
	return r < 0 ? r : 0;
}

/* Every device maps all guest RAM: the second one to map a range only counts itself in. */
static int host_dma_map(void *h, uint64_t iova, void *host, uint64_t size)
{
	struct host_dev *d = h;
	struct dma_range *free_slot = NULL;
	int r;

	for (unsigned i = 0; i < HOST_MAPS; i++) {
		struct dma_range *m = &d->space->map[i];

		if (m->refs && m->iova == iova && m->size == size && m->host == host) {
			m->refs++;
			return 0;
		}
		if (!m->refs && !free_slot)
			free_slot = m;
	}
	if (!free_slot)
		return -ENOSPC;
	r = space_map(d, iova, host, size);
	if (r)
		return r;
	*free_slot = (struct dma_range){ iova, size, host, 1 };
	return 0;
}

static int host_dma_unmap(void *h, uint64_t iova, uint64_t size)
{
	struct host_dev *d = h;

	for (unsigned i = 0; i < HOST_MAPS; i++) {
		struct dma_range *m = &d->space->map[i];

		if (!m->refs || m->iova != iova || m->size != size)
			continue;
		if (--m->refs)
			return 0;	/* another device still does DMA there */
		return space_unmap(d, iova, size);
	}
	return -ENOENT;
}

static void host_close(void *h)
{
	struct host_dev *d = h;
	struct vfio_iommu *io = d->io;

	/* The device first: closing it detaches it from its IOAS or container. */
	if (d->dev_fd >= 0)
		io->sys.close(io->sys.ctx, d->dev_fd);
	if (d->group && !--d->group->refs) {
		bool any = false;

		io->sys.close(io->sys.ctx, d->group->fd);
		d->group->fd = -1;
		for (unsigned i = 0; i < HOST_GROUPS; i++)
			any |= io->group[i].fd >= 0;
		/* The container's last group gone: the kernel dropped its IOMMU and mappings. */
		if (!any) {
			io->container.iommu_set = false;
			memset(io->container.map, 0, sizeof(io->container.map));
		}
	}
	free(d);
	vfio_iommu_put(io);
}

static const struct vfio_dev_ops host_ops = {
	.device_info = host_device_info,
	.region_info = host_region_info,
	.region_read = host_region_read,
	.region_write = host_region_write,
	.region_mmap = host_region_mmap,
	.region_munmap = host_region_munmap,
	.irq_count = host_irq_count,
	.irq_trigger = host_irq_trigger,
	.irq_unmask_fd = host_irq_unmask_fd,
	.reset = host_reset,
	.dma_map = host_dma_map,
	.dma_unmap = host_dma_unmap,
	.close = host_close,
};

struct vfio_iommu *vfio_dev_iommu(const struct vfio_dev *d)
{
	return d->ops == &host_ops ? ((struct host_dev *)d->h)->io : NULL;
}

static int open_dev(struct vfio_iommu *io, const char *path, char *err, size_t errlen,
		    const char *addr)
{
	int fd = io->sys.open(io->sys.ctx, path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (fd == -EACCES || fd == -EPERM)
		return fail(err, errlen, fd, "--vfio %s: %s: permission denied - run as root "
			    "or give your user access to it (chown or a udev rule)", addr, path);
	return fail(err, errlen, fd, "--vfio %s: %s: %s", addr, path, strerror(-fd));
}

/* The VM's iommufd and its one IOAS, made by the first device that needs them. */
static int ioas_open(struct vfio_iommu *io, const struct vfio_target *t, char *err,
		     size_t errlen)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[VFIO_PATH_MAX + 8];
	int fd, r;

	if (io->ioas.fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/iommu", io->dev_root);
	fd = open_dev(io, path, err, errlen, t->addr);
	if (fd < 0)
		return fd;
	r = sys_ioctl(io, fd, IOMMU_IOAS_ALLOC, &alloc);
	if (r < 0) {
		io->sys.close(io->sys.ctx, fd);
		return fail(err, errlen, r, "--vfio %s: IOMMU_IOAS_ALLOC: %s", t->addr, strerror(-r));
	}
	io->ioas.fd = fd;
	io->ioas.ioas = alloc.out_ioas_id;
	return 0;
}

static int open_iommufd(struct host_dev *d, const struct vfio_target *t, char *err, size_t errlen)
{
	struct vfio_iommu *io = d->io;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	char path[VFIO_PATH_MAX * 2];
	int r;

	r = ioas_open(io, t, err, errlen);
	if (r)
		return r;
	d->space = &io->ioas;
	/* The cdev's path under dev_root ("/dev" on a real host). */
	snprintf(path, sizeof(path), "%s%s", io->dev_root,
		 t->cdev + (strncmp(t->cdev, "/dev/", 5) ? 0 : 4));
	d->dev_fd = open_dev(io, path, err, errlen, t->addr);
	if (d->dev_fd < 0)
		return d->dev_fd;
	bind.iommufd = io->ioas.fd;
	r = sys_ioctl(io, d->dev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (r < 0)
		return fail(err, errlen, r, "--vfio %s: VFIO_DEVICE_BIND_IOMMUFD: %s", t->addr,
			    strerror(-r));
	/* Every device in the one IOAS: guest RAM mapped there once serves them all. */
	at.pt_id = io->ioas.ioas;
	r = sys_ioctl(io, d->dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
	if (r < 0)
		return fail(err, errlen, r, "--vfio %s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", t->addr,
			    strerror(-r));
	return 0;
}

/* The VM's type1 container, checked once. */
static int container_open(struct vfio_iommu *io, const struct vfio_target *t, char *err,
			  size_t errlen)
{
	char path[VFIO_PATH_MAX + 16];
	int fd, r;

	if (io->container.fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/vfio/vfio", io->dev_root);
	fd = open_dev(io, path, err, errlen, t->addr);
	if (fd < 0)
		return fd;
	r = sys_ioctl(io, fd, VFIO_GET_API_VERSION, NULL);
	if (r != VFIO_API_VERSION)
		r = fail(err, errlen, -EINVAL, "--vfio %s: VFIO API version %d, expected %d",
			 t->addr, r, VFIO_API_VERSION);
	else if (sys_ioctl(io, fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0)
		r = fail(err, errlen, -EINVAL, "--vfio %s: the host's VFIO has no type1 IOMMU "
			 "(modprobe vfio_iommu_type1)", t->addr);
	else
		r = 0;
	if (r) {
		io->sys.close(io->sys.ctx, fd);
		return r;
	}
	io->container.fd = fd;
	return 0;
}

/* The device's group, opened once (the kernel refuses a second open), in the container. */
static int group_open(struct vfio_iommu *io, const struct vfio_target *t,
		      struct host_group **out, char *err, size_t errlen)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct host_group *g = NULL;
	char path[VFIO_PATH_MAX + 32];
	int fd, r;

	for (unsigned i = 0; i < HOST_GROUPS; i++)
		if (io->group[i].fd >= 0 && io->group[i].num == t->group) {
			io->group[i].refs++;
			*out = &io->group[i];
			return 0;
		}
	for (unsigned i = 0; i < HOST_GROUPS && !g; i++)
		if (io->group[i].fd < 0)
			g = &io->group[i];
	if (!g)
		return fail(err, errlen, -ENOSPC, "--vfio %s: more than %d IOMMU groups", t->addr,
			    HOST_GROUPS);
	snprintf(path, sizeof(path), "%s/vfio/%d", io->dev_root, t->group);
	fd = open_dev(io, path, err, errlen, t->addr);
	if (fd < 0)
		return fd;
	r = sys_ioctl(io, fd, VFIO_GROUP_GET_STATUS, &st);
	if (r < 0 || !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		io->sys.close(io->sys.ctx, fd);
		return fail(err, errlen, -EBUSY, "--vfio %s: IOMMU group %d is not viable: bind "
			    "every device of /sys/kernel/iommu_groups/%d/devices to vfio-pci",
			    t->addr, t->group, t->group);
	}
	r = sys_ioctl(io, fd, VFIO_GROUP_SET_CONTAINER, &io->container.fd);
	/* The IOMMU model is set once, after the first group joined (vfio.rst's order). */
	if (r >= 0 && !io->container.iommu_set) {
		r = sys_ioctl(io, io->container.fd, VFIO_SET_IOMMU,
			      (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
		io->container.iommu_set = r >= 0;
	}
	if (r < 0) {
		io->sys.close(io->sys.ctx, fd);
		return fail(err, errlen, r, "--vfio %s: attaching group %d to a type1 container: "
			    "%s", t->addr, t->group, strerror(-r));
	}
	*g = (struct host_group){ .num = t->group, .fd = fd, .refs = 1 };
	*out = g;
	return 0;
}

static int open_legacy(struct host_dev *d, const struct vfio_target *t, char *err,
		       size_t errlen)
{
	struct vfio_iommu *io = d->io;
	int r;

	if (t->group < 0)
		return fail(err, errlen, -ENODEV, "--vfio %s: no IOMMU group: enable the IOMMU "
			    "(intel_iommu=on or amd_iommu=on on the host's command line)", t->addr);
	r = container_open(io, t, err, errlen);
	if (r)
		return r;
	d->space = &io->container;
	r = group_open(io, t, &d->group, err, errlen);
	if (r)
		return r;
	r = sys_ioctl(io, d->group->fd, VFIO_GROUP_GET_DEVICE_FD, (void *)t->addr);
	if (r < 0)
		return fail(err, errlen, r, "--vfio %s: VFIO_GROUP_GET_DEVICE_FD: %s", t->addr,
			    strerror(-r));
	d->dev_fd = r;
	return 0;
}

int vfio_host_open(struct vfio_iommu *io, const struct vfio_target *t, uint64_t mem_bytes,
		   struct vfio_dev *out, char *err, size_t errlen)
{
	enum vfio_iface iface = io->iface;
	struct host_dev *d;
	int r;

	if (iface == VFIO_IFACE_NONE)
		return fail(err, errlen, -ENODEV, "--vfio %s: this host has no IOMMU/VFIO (no "
			    "/dev/iommu, no /dev/vfio): load vfio-pci (modprobe vfio-pci), enable "
			    "the IOMMU (intel_iommu=on or amd_iommu=on)", t->addr);
	if (iface == VFIO_IFACE_IOMMUFD && !t->cdev[0])
		iface = VFIO_IFACE_LEGACY;	/* a kernel without VFIO_DEVICE_CDEV */
	/* Both interfaces pin all guest RAM, counted against the locked-memory limit. */
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < mem_bytes && geteuid() != 0)
		return fail(err, errlen, -ENOMEM, "--vfio %s: RLIMIT_MEMLOCK is %llu KiB, the "
			    "guest's %llu MiB of RAM must be pinned: raise it (ulimit -l, "
			    "limits.conf memlock)", t->addr, (unsigned long long)rl.rlim_cur >> 10,
			    (unsigned long long)mem_bytes >> 20);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	vfio_iommu_get(io);
	d->io = io;
	d->dev_fd = -1;
	r = iface == VFIO_IFACE_IOMMUFD ? open_iommufd(d, t, err, errlen) :
					  open_legacy(d, t, err, errlen);
	if (r) {
		host_close(d);
		return r;
	}
	out->ops = &host_ops;
	out->h = d;
	out->iface = iface;
	return 0;
}
