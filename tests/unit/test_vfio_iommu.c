/*
 * The VM's IOMMU context (devices/vfio_host.c: vfio_iommu_new,
 * vfio_host_open) against a fake kernel behind struct vfio_sys that keeps
 * the rules Documentation/driver-api/vfio.rst and userspace-api/iommufd.rst
 * state (and drivers/vfio enforces): a legacy group file opens once, a
 * group joins one container, VFIO_SET_IOMMU once and only after a group
 * joined, a device fd only from a group in a set-up container; a cdev binds
 * once, the devices of one group bind to one iommufd and attach to one IOAS;
 * overlapping DMA mappings are refused with EEXIST.  Several devices, two
 * of them functions of one group, share one context.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

#include "kvmrun/vfio.h"

/* The newer UAPI the host code carries for Debian 12's 6.1 headers, by number. */
#define FK_BIND_IOMMUFD		_IO(VFIO_TYPE, VFIO_BASE + 18)
#define FK_ATTACH_PT		_IO(VFIO_TYPE, VFIO_BASE + 19)
#define FK_IOAS_ALLOC		_IO(';', 0x81)
#define FK_IOAS_MAP		_IO(';', 0x85)
#define FK_IOAS_UNMAP		_IO(';', 0x86)

struct fk_ioas_alloc { uint32_t size, flags, out_ioas_id; };
struct fk_ioas_map { uint32_t size, flags, ioas_id, reserved; uint64_t user_va, length, iova; };
struct fk_ioas_unmap { uint32_t size, ioas_id; uint64_t iova, length; };
struct fk_bind { uint32_t argsz, flags; int32_t iommufd; uint32_t out_devid; };
struct fk_attach { uint32_t argsz, flags, pt_id; };

#define FK_FILES	32
#define FK_FD0		100
#define FK_MAPS		16
#define FK_DEVS		3

enum fk_kind { FK_FREE, FK_IOMMUFD, FK_CDEV, FK_CONTAINER, FK_GROUP, FK_DEVICE };

struct fk_map {
	int owner;			/* container fd or IOAS id, 0: free */
	uint64_t iova, size;
};

/* This host: 0000:01:00.0 and .1 in group 5 (cdevs vfio0, vfio1), 0000:02:00.0 in group 6 (vfio2). */
static const struct { const char *addr; int group; } fk_dev[FK_DEVS] = {
	{ "0000:01:00.0", 5 }, { "0000:01:00.1", 5 }, { "0000:02:00.0", 6 },
};

struct fake_kernel {
	struct {
		enum fk_kind kind;
		int n;			/* CDEV/DEVICE: device index; GROUP: group number */
		int bound;		/* CDEV: the iommufd it is bound to, 0: none */
		int container;		/* GROUP: the container fd it joined, 0: none */
		int groups;		/* CONTAINER: groups in it */
		bool iommu;		/* CONTAINER: VFIO_SET_IOMMU done */
	} f[FK_FILES];
	int group_ictx[8];		/* iommufd: the iommufd owning group g's DMA, 0: none */
	uint32_t group_ioas[8];		/* ... and the IOAS it is attached to */
	int group_binds[8];		/* bound cdevs of group g */
	int ioas_owner[8];		/* IOAS id -> its iommufd */
	uint32_t next_ioas;
	struct fk_map map[FK_MAPS];
	unsigned opens, closes, ioas_allocs, set_iommus, maps, unmaps;
	char root[64];
};

static struct fake_kernel K;

static int fk_new(enum fk_kind kind, int n)
{
	for (int i = 0; i < FK_FILES; i++)
		if (K.f[i].kind == FK_FREE) {
			memset(&K.f[i], 0, sizeof(K.f[i]));
			K.f[i].kind = kind;
			K.f[i].n = n;
			K.opens++;
			return FK_FD0 + i;
		}
	return -EMFILE;
}

static bool fk_is(int fd, enum fk_kind kind)
{
	return fd >= FK_FD0 && fd < FK_FD0 + FK_FILES && K.f[fd - FK_FD0].kind == kind;
}

#define F(fd) K.f[(fd) - FK_FD0]

static int fk_open(void *ctx, const char *path, int flags)
{
	size_t n = strlen(K.root);
	int num;
	char c;

	(void)ctx;
	ck_assert(flags & O_RDWR);
	if (strncmp(path, K.root, n))
		return -ENOENT;
	path += n;
	if (!strcmp(path, "/iommu"))
		return fk_new(FK_IOMMUFD, 0);
	if (!strcmp(path, "/vfio/vfio"))
		return fk_new(FK_CONTAINER, 0);
	if (sscanf(path, "/vfio/devices/vfio%d%c", &num, &c) == 1 && num >= 0 && num < FK_DEVS)
		return fk_new(FK_CDEV, num);
	if (sscanf(path, "/vfio/%d%c", &num, &c) == 1 && (num == 5 || num == 6)) {
		/* A legacy group file is exclusive: the second open is refused. */
		for (int i = 0; i < FK_FILES; i++)
			if (K.f[i].kind == FK_GROUP && K.f[i].n == num)
				return -EBUSY;
		return fk_new(FK_GROUP, num);
	}
	return -ENOENT;
}

static bool overlaps(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return a < b + bl && b < a + al;
}

static int fk_map(int owner, uint64_t iova, uint64_t size)
{
	struct fk_map *free_slot = NULL;

	for (unsigned i = 0; i < FK_MAPS; i++) {
		if (K.map[i].owner == owner && overlaps(iova, size, K.map[i].iova, K.map[i].size))
			return -EEXIST;
		if (!K.map[i].owner && !free_slot)
			free_slot = &K.map[i];
	}
	ck_assert_ptr_nonnull(free_slot);
	*free_slot = (struct fk_map){ owner, iova, size };
	K.maps++;
	return 0;
}

static int fk_unmap(int owner, uint64_t iova, uint64_t size)
{
	for (unsigned i = 0; i < FK_MAPS; i++)
		if (K.map[i].owner == owner && K.map[i].iova == iova && K.map[i].size == size) {
			K.map[i].owner = 0;
			K.unmaps++;
			return 0;
		}
	return -ENOENT;
}

static unsigned fk_nr_maps(int owner)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FK_MAPS; i++)
		n += K.map[i].owner == owner;
	return n;
}

static int fk_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	(void)ctx;
	if (fk_is(fd, FK_IOMMUFD)) {
		if (req == FK_IOAS_ALLOC) {
			struct fk_ioas_alloc *a = arg;

			ck_assert_uint_eq(a->size, sizeof(*a));
			a->out_ioas_id = ++K.next_ioas;
			K.ioas_owner[a->out_ioas_id] = fd;
			K.ioas_allocs++;
			return 0;
		}
		if (req == FK_IOAS_MAP) {
			struct fk_ioas_map *m = arg;

			if (m->ioas_id >= 8 || K.ioas_owner[m->ioas_id] != fd)
				return -ENOENT;
			ck_assert(m->flags & 1);	/* FIXED_IOVA: IOVA = guest-physical */
			return fk_map(-(int)m->ioas_id, m->iova, m->length);
		}
		if (req == FK_IOAS_UNMAP) {
			struct fk_ioas_unmap *u = arg;

			return fk_unmap(-(int)u->ioas_id, u->iova, u->length);
		}
		return -ENOTTY;
	}
	if (fk_is(fd, FK_CDEV)) {
		int g = fk_dev[F(fd).n].group;

		if (req == FK_BIND_IOMMUFD) {
			struct fk_bind *b = arg;

			if (!fk_is(b->iommufd, FK_IOMMUFD))
				return -EBADF;
			if (F(fd).bound)
				return -EINVAL;
			/* A group's DMA has one owner: its devices bind to one iommufd. */
			if (K.group_ictx[g] && K.group_ictx[g] != b->iommufd)
				return -EBUSY;
			K.group_ictx[g] = b->iommufd;
			K.group_binds[g]++;
			F(fd).bound = b->iommufd;
			return 0;
		}
		if (req == FK_ATTACH_PT) {
			struct fk_attach *a = arg;

			if (!F(fd).bound)
				return -EINVAL;
			if (a->pt_id >= 8 || K.ioas_owner[a->pt_id] != F(fd).bound)
				return -ENOENT;
			/* One group, one domain: its devices attach to one IOAS. */
			if (K.group_ioas[g] && K.group_ioas[g] != a->pt_id)
				return -EINVAL;
			K.group_ioas[g] = a->pt_id;
			return 0;
		}
		return -ENOTTY;
	}
	if (fk_is(fd, FK_CONTAINER)) {
		switch (req) {
		case VFIO_GET_API_VERSION:
			return VFIO_API_VERSION;
		case VFIO_CHECK_EXTENSION:
			return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU;
		case VFIO_SET_IOMMU:
			if (!F(fd).groups || F(fd).iommu)
				return -EINVAL;
			F(fd).iommu = true;
			K.set_iommus++;
			return 0;
		case VFIO_IOMMU_MAP_DMA: {
			struct vfio_iommu_type1_dma_map *m = arg;

			if (!F(fd).iommu)
				return -EINVAL;
			return fk_map(fd, m->iova, m->size);
		}
		case VFIO_IOMMU_UNMAP_DMA: {
			struct vfio_iommu_type1_dma_unmap *u = arg;

			return fk_unmap(fd, u->iova, u->size);
		}
		}
		return -ENOTTY;
	}
	if (fk_is(fd, FK_GROUP)) {
		switch (req) {
		case VFIO_GROUP_GET_STATUS: {
			struct vfio_group_status *st = arg;

			st->flags = VFIO_GROUP_FLAGS_VIABLE |
				    (F(fd).container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
			return 0;
		}
		case VFIO_GROUP_SET_CONTAINER: {
			int c = *(int *)arg;

			if (!fk_is(c, FK_CONTAINER))
				return -EBADF;
			if (F(fd).container)
				return -EBUSY;
			F(fd).container = c;
			F(c).groups++;
			return 0;
		}
		case VFIO_GROUP_GET_DEVICE_FD:
			if (!F(fd).container || !F(F(fd).container).iommu)
				return -EINVAL;
			for (int i = 0; i < FK_DEVS; i++)
				if (!strcmp(arg, fk_dev[i].addr))
					return fk_dev[i].group == F(fd).n ? fk_new(FK_DEVICE, i) : -ENODEV;
			return -ENODEV;
		}
		return -ENOTTY;
	}
	return -EBADF;
}

static void fk_close(void *ctx, int fd)
{
	(void)ctx;
	ck_assert_msg(fd >= FK_FD0 && fd < FK_FD0 + FK_FILES && F(fd).kind != FK_FREE,
		      "close of fd %d, not open", fd);
	if (F(fd).kind == FK_GROUP && F(fd).container) {
		int c = F(fd).container;

		/* The container's last group gone: its IOMMU and mappings go with it. */
		if (!--F(c).groups) {
			F(c).iommu = false;
			for (unsigned i = 0; i < FK_MAPS; i++)
				if (K.map[i].owner == c)
					K.map[i].owner = 0;
		}
	}
	if (F(fd).kind == FK_CDEV && F(fd).bound) {
		int g = fk_dev[F(fd).n].group;

		if (!--K.group_binds[g])
			K.group_ictx[g] = 0, K.group_ioas[g] = 0;
	}
	if (F(fd).kind == FK_IOMMUFD)
		for (unsigned i = 0; i < FK_MAPS; i++)
			if (K.map[i].owner < 0 && K.ioas_owner[-K.map[i].owner] == fd)
				K.map[i].owner = 0;
	F(fd).kind = FK_FREE;
	K.closes++;
}

static const struct vfio_sys fk_sys = { fk_open, fk_ioctl, fk_close, NULL };

static char ram[2][4096];	/* two guest RAM regions, as below and above the 32-bit hole */
static const uint64_t ram_gpa[2] = { 0, 0x100000000ULL };

static void setup_root(bool iommufd)
{
	char p[128];

	memset(&K, 0, sizeof(K));
	snprintf(K.root, sizeof(K.root), "/tmp/kvmrun-fk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(K.root));
	snprintf(p, sizeof(p), "%s/vfio", K.root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/vfio/vfio", K.root);
	fclose(fopen(p, "w"));
	if (iommufd) {
		snprintf(p, sizeof(p), "%s/vfio/devices", K.root);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		snprintf(p, sizeof(p), "%s/iommu", K.root);
		fclose(fopen(p, "w"));
	}
}

static void remove_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", K.root);
	ck_assert_int_eq(system(cmd), 0);
}

static struct vfio_target target(int i, bool cdev)
{
	struct vfio_target t = { .group = fk_dev[i].group };

	snprintf(t.addr, sizeof(t.addr), "%s", fk_dev[i].addr);
	if (cdev)
		snprintf(t.cdev, sizeof(t.cdev), "/dev/vfio/devices/vfio%d", i);
	return t;
}

/* What vfio_pci_init and vfio_pci_destroy do with the device's DMA calls. */
static void map_ram(struct vfio_dev *d)
{
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(d->ops->dma_map(d->h, ram_gpa[i], ram[i], sizeof(ram[i])), 0);
}

static void unmap_ram_and_close(struct vfio_dev *d)
{
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(d->ops->dma_unmap(d->h, ram_gpa[i], sizeof(ram[i])), 0);
	d->ops->close(d->h);
}

static void open_all(struct vfio_iommu *io, bool cdev, struct vfio_dev d[FK_DEVS],
		     enum vfio_iface want)
{
	char err[256];

	for (int i = 0; i < FK_DEVS; i++) {
		struct vfio_target t = target(i, cdev);

		ck_assert_msg(vfio_host_open(io, &t, 0, &d[i], err, sizeof(err)) == 0, "%s: %s",
			      t.addr, err);
		ck_assert_int_eq(d[i].iface, want);
		ck_assert_ptr_eq(vfio_dev_iommu(&d[i]), io);
		map_ram(&d[i]);
	}
}

START_TEST(iommufd_devices_share_one_ioas)
{
	struct vfio_dev d[FK_DEVS];
	struct vfio_iommu *io;

	setup_root(true);
	io = vfio_iommu_new(&fk_sys, K.root);
	ck_assert_ptr_nonnull(io);
	open_all(io, true, d, VFIO_IFACE_IOMMUFD);
	/* One iommufd, one IOAS, each guest RAM region mapped once for the three devices. */
	ck_assert_uint_eq(K.ioas_allocs, 1);
	ck_assert_uint_eq(K.opens, 1 + FK_DEVS);
	ck_assert_uint_eq(K.maps, 2);
	ck_assert_uint_eq(fk_nr_maps(-1), 2);
	ck_assert_int_eq(K.group_ioas[5], 1);
	ck_assert_int_eq(K.group_ioas[6], 1);
	/* The context outlives the builder's reference while devices hold theirs. */
	vfio_iommu_put(io);
	unmap_ram_and_close(&d[1]);
	unmap_ram_and_close(&d[0]);
	ck_assert_uint_eq(K.unmaps, 0);		/* 0000:02:00.0 still does DMA */
	ck_assert_uint_eq(fk_nr_maps(-1), 2);
	unmap_ram_and_close(&d[2]);
	ck_assert_uint_eq(K.unmaps, 2);
	ck_assert_uint_eq(K.closes, K.opens);	/* every fd closed, the iommufd last */
	remove_root();
}
END_TEST

START_TEST(legacy_devices_share_one_container_and_group)
{
	struct vfio_dev d[FK_DEVS];
	struct vfio_iommu *io;

	setup_root(false);
	io = vfio_iommu_new(&fk_sys, K.root);
	ck_assert_ptr_nonnull(io);
	open_all(io, false, d, VFIO_IFACE_LEGACY);
	/* One container, group 5 opened once for both its functions, group 6, three device fds. */
	ck_assert_uint_eq(K.opens, 1 + 2 + FK_DEVS);
	ck_assert_uint_eq(K.set_iommus, 1);
	ck_assert_uint_eq(K.maps, 2);
	vfio_iommu_put(io);
	/* Group 5 stays open while its other function is in use; the mappings stay too. */
	unmap_ram_and_close(&d[0]);
	ck_assert_uint_eq(K.closes, 1);
	unmap_ram_and_close(&d[2]);
	ck_assert_uint_eq(K.closes, 3);		/* device and group 6 */
	ck_assert_uint_eq(K.unmaps, 0);
	unmap_ram_and_close(&d[1]);
	ck_assert_uint_eq(K.unmaps, 2);
	ck_assert_uint_eq(K.closes, K.opens);
	remove_root();
}
END_TEST

/* Why: a context per device cannot have the second function of a group (the kernel's refusals). */
START_TEST(a_context_per_device_is_refused_by_the_kernel)
{
	struct vfio_dev a, b;
	struct vfio_iommu *io1, *io2;
	struct vfio_target t0 = target(0, true), t1 = target(1, true);
	char err[256];

	setup_root(true);
	io1 = vfio_iommu_new(&fk_sys, K.root);
	io2 = vfio_iommu_new(&fk_sys, K.root);
	ck_assert_int_eq(vfio_host_open(io1, &t0, 0, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(vfio_host_open(io2, &t1, 0, &b, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "--vfio 0000:01:00.1: VFIO_DEVICE_BIND_IOMMUFD"));
	ck_assert_ptr_null(strchr(err, '\n'));
	vfio_iommu_put(io2);
	a.ops->close(a.h);
	vfio_iommu_put(io1);
	ck_assert_uint_eq(K.closes, K.opens);	/* the failed open released what it opened */
	remove_root();

	setup_root(false);
	io1 = vfio_iommu_new(&fk_sys, K.root);
	io2 = vfio_iommu_new(&fk_sys, K.root);
	t0 = target(0, false);
	t1 = target(1, false);
	ck_assert_int_eq(vfio_host_open(io1, &t0, 0, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(vfio_host_open(io2, &t1, 0, &b, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "/vfio/5: Device or resource busy"));
	vfio_iommu_put(io2);
	a.ops->close(a.h);
	vfio_iommu_put(io1);
	ck_assert_uint_eq(K.closes, K.opens);
	remove_root();
}
END_TEST

/* A failure inside a shared context leaves the others working and leaks nothing. */
START_TEST(failures_release_and_keep_the_context)
{
	struct vfio_dev a, b;
	struct vfio_iommu *io;
	struct vfio_target t0 = target(0, false), bad = target(2, false);
	char err[256];

	setup_root(false);
	io = vfio_iommu_new(&fk_sys, K.root);
	ck_assert_int_eq(vfio_host_open(io, &t0, 0, &a, err, sizeof(err)), 0);
	map_ram(&a);
	/* 0000:02:00.0 claimed to be in group 5: the kernel gives no device fd. */
	bad.group = 5;
	ck_assert_int_eq(vfio_host_open(io, &bad, 0, &b, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "VFIO_GROUP_GET_DEVICE_FD"));
	/* Group 5 is still open for the first device, its mapping still there. */
	ck_assert_uint_eq(fk_nr_maps(FK_FD0), 2);
	/* No group: refused before any file is opened. */
	bad.group = -1;
	unsigned opens = K.opens;

	ck_assert_int_eq(vfio_host_open(io, &bad, 0, &b, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "no IOMMU group"));
	ck_assert_uint_eq(K.opens, opens);
	/* A range mapped once by one device: a second unmap of it is an error, not a double unmap. */
	ck_assert_int_eq(a.ops->dma_unmap(a.h, ram_gpa[0], sizeof(ram[0])), 0);
	ck_assert_int_eq(a.ops->dma_unmap(a.h, ram_gpa[0], sizeof(ram[0])), -ENOENT);
	ck_assert_int_eq(a.ops->dma_unmap(a.h, ram_gpa[1], sizeof(ram[1])), 0);
	a.ops->close(a.h);
	vfio_iommu_put(io);
	ck_assert_uint_eq(K.closes, K.opens);
	ck_assert_uint_eq(K.unmaps, 2);
	remove_root();
}
END_TEST

/* A host without VFIO: the context exists, opening a device says what to do. */
START_TEST(no_vfio_on_the_host)
{
	struct vfio_target t = target(0, true);
	struct vfio_iommu *io;
	struct vfio_dev d;
	char err[256];

	memset(&K, 0, sizeof(K));
	snprintf(K.root, sizeof(K.root), "/tmp/kvmrun-fk-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(K.root));
	io = vfio_iommu_new(&fk_sys, K.root);
	ck_assert_int_eq(vfio_host_open(io, &t, 0, &d, err, sizeof(err)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(err, "this host has no IOMMU/VFIO"));
	ck_assert_uint_eq(K.opens, 0);
	vfio_iommu_put(io);
	remove_root();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio_iommu");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, iommufd_devices_share_one_ioas);
	tcase_add_test(tc, legacy_devices_share_one_container_and_group);
	tcase_add_test(tc, a_context_per_device_is_refused_by_the_kernel);
	tcase_add_test(tc, failures_release_and_keep_the_context);
	tcase_add_test(tc, no_vfio_on_the_host);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
