/*
 * --vfio DEVICE resolution (devices/vfio_host.c) against a sysfs tree built
 * in a temporary directory the way the kernel lays it out: the device's
 * directory with driver and iommu_group links, the group's devices, the
 * vfio-dev cdev directory.  And the interface probe on a fake /dev.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

#include "kvmrun/memslot.h"
#include "kvmrun/vfio.h"

static char root[64];

static void mk(const char *fmt, const char *a)
{
	char p[512];

	snprintf(p, sizeof(p), fmt, root, a);
	ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s", p);
}

static void lnk(const char *target, const char *fmt, const char *a)
{
	char p[512];

	snprintf(p, sizeof(p), fmt, root, a);
	unlink(p);
	ck_assert_msg(symlink(target, p) == 0, "symlink %s", p);
}

/* root/bus/pci/devices/ADDR bound to drv in group 7 (with the group's device list). */
static void device(const char *addr, const char *drv)
{
	char t[256];

	mk("%s/bus/pci/devices/%s", addr);
	mk("%s/bus/pci/drivers/%s", drv);
	snprintf(t, sizeof(t), "../../drivers/%s", drv);
	lnk(t, "%s/bus/pci/devices/%s/driver", addr);
	lnk("../../../../kernel/iommu_groups/7", "%s/bus/pci/devices/%s/iommu_group", addr);
	snprintf(t, sizeof(t), "../../../../bus/pci/devices/%s", addr);
	lnk(t, "%s/kernel/iommu_groups/7/devices/%s", addr);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/kvmrun-vfio-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	mk("%s/bus%s", "");
	mk("%s/bus/pci%s", "");
	mk("%s/bus/pci/devices%s", "");
	mk("%s/bus/pci/drivers%s", "");
	mk("%s/kernel%s", "");
	mk("%s/kernel/iommu_groups%s", "");
	mk("%s/kernel/iommu_groups/7%s", "");
	mk("%s/kernel/iommu_groups/7/devices%s", "");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(addresses)
{
	char a[VFIO_ADDR_MAX];

	ck_assert_int_eq(vfio_parse_addr("0000:01:00.1", a), 0);
	ck_assert_str_eq(a, "0000:01:00.1");
	ck_assert_int_eq(vfio_parse_addr("3b:1f.7", a), 0);
	ck_assert_str_eq(a, "0000:3b:1f.7");
	ck_assert_int_eq(vfio_parse_addr("ABCD:FF:1F.0", a), 0);
	ck_assert_str_eq(a, "abcd:ff:1f.0");
	const char *bad[] = { "", "1:2:3", "0000:01:00.8", "0000:01:20.0", "01:00", "01:00.1x",
			      "0000:01:00.1 ", " 1:00.1", "+1:00.1", "00000:01:00.1", "g1:00.1" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(vfio_parse_addr(bad[i], a) == -EINVAL, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(specs_with_options)
{
	struct vfio_spec sp;
	char err[256];

	ck_assert_int_eq(vfio_parse_spec("01:00.1", &sp, err, sizeof(err)), 0);
	ck_assert_str_eq(sp.device, "01:00.1");
	ck_assert(!sp.rom);
	ck_assert_int_eq(vfio_parse_spec("0000:01:00.1,rom=on", &sp, err, sizeof(err)), 0);
	ck_assert_str_eq(sp.device, "0000:01:00.1");
	ck_assert(sp.rom);
	ck_assert_int_eq(vfio_parse_spec("01:00.1,rom=on,rom=off", &sp, err, sizeof(err)), 0);
	ck_assert(!sp.rom);
	/* A sysfs path is taken as it is (resolved when opened). */
	ck_assert_int_eq(vfio_parse_spec("/sys/bus/pci/devices/0000:01:00.1,rom=on", &sp, err,
					 sizeof(err)), 0);
	ck_assert_str_eq(sp.device, "/sys/bus/pci/devices/0000:01:00.1");
	ck_assert(sp.rom);
	const char *bad[] = { "", ",rom=on", "01:00.1,", "01:00.1,rom", "01:00.1,rom=1",
			      "01:00.1,rom=onx", "1:2:3,rom=on", "01:00.1,,rom=on" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(vfio_parse_spec(bad[i], &sp, err, sizeof(err)) == -EINVAL,
			      "'%s' accepted", bad[i]);
		ck_assert_msg(err[0] && !strchr(err, '\n'), "'%s': no one-line error", bad[i]);
	}
	vfio_parse_spec("01:00.1,rom=yes", &sp, err, sizeof(err));
	ck_assert_str_eq(err, "--vfio 01:00.1: unknown option 'rom=yes' (known: rom=on|off)");
}
END_TEST

START_TEST(bound_device_resolves_with_group_and_cdev)
{
	struct vfio_target t;
	char err[512] = "";

	device("0000:01:00.1", "vfio-pci");
	mk("%s/bus/pci/devices/%s/vfio-dev", "0000:01:00.1");
	mk("%s/bus/pci/devices/%s/vfio-dev/vfio3", "0000:01:00.1");
	ck_assert_int_eq(vfio_resolve("01:00.1", root, &t, err, sizeof(err)), 0);
	ck_assert_str_eq(t.addr, "0000:01:00.1");
	ck_assert_int_eq(t.group, 7);
	ck_assert_str_eq(t.cdev, "/dev/vfio/devices/vfio3");
	/* The same device by its sysfs path. */
	char path[256];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:01:00.1", root);
	ck_assert_int_eq(vfio_resolve(path, "/nonexistent", &t, err, sizeof(err)), 0);
	ck_assert_str_eq(t.addr, "0000:01:00.1");
}
END_TEST

START_TEST(errors_say_what_to_do)
{
	struct vfio_target t;
	char err[768];

	ck_assert_int_eq(vfio_resolve("01:00.9", root, &t, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "expected a PCI address"));
	ck_assert_int_eq(vfio_resolve("0000:02:00.0", root, &t, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no such PCI device"));
	ck_assert_int_eq(vfio_resolve("/tmp", root, &t, err, sizeof(err)), -EINVAL);

	device("0000:01:00.0", "ixgbe");
	ck_assert_int_eq(vfio_resolve("0000:01:00.0", root, &t, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "bound to ixgbe, not vfio-pci"));
	ck_assert_ptr_nonnull(strstr(err, "/sys/bus/pci/drivers/vfio-pci/bind"));
	ck_assert_ptr_null(strchr(err, '\n'));

	/* Bound, but its group holds a device still bound to ixgbe. */
	device("0000:01:00.1", "vfio-pci");
	ck_assert_int_eq(vfio_resolve("0000:01:00.1", root, &t, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "group 7 is not viable: 0000:01:00.0"));
	ck_assert_ptr_nonnull(strstr(err, "bound to ixgbe"));
	/* Bind the other one too: viable. */
	device("0000:01:00.0", "vfio-pci");
	ck_assert_int_eq(vfio_resolve("0000:01:00.1", root, &t, err, sizeof(err)), 0);
	ck_assert_str_eq(t.cdev, "");	/* no cdev: the legacy interface will be used */
}
END_TEST

START_TEST(probe_prefers_iommufd)
{
	char p[128];

	ck_assert_int_eq(vfio_host_probe(root), VFIO_IFACE_NONE);
	mk("%s/vfio%s", "");
	snprintf(p, sizeof(p), "%s/vfio/vfio", root);
	fclose(fopen(p, "w"));
	ck_assert_int_eq(vfio_host_probe(root), VFIO_IFACE_LEGACY);
	mk("%s/vfio/devices%s", "");
	snprintf(p, sizeof(p), "%s/iommu", root);
	fclose(fopen(p, "w"));
	ck_assert_int_eq(vfio_host_probe(root), VFIO_IFACE_IOMMUFD);
	ck_assert_ptr_nonnull(strstr(vfio_iface_name(VFIO_IFACE_NONE), "load vfio-pci"));
}
END_TEST

/* What VFIO_DEVICE_GET_REGION_INFO returns for a BAR with a sparse-mmap capability. */
struct region_reply {
	struct vfio_region_info info;
	struct vfio_info_cap_header other;	/* an unrelated capability first */
	struct vfio_region_info_cap_sparse_mmap sparse;
	struct vfio_region_sparse_mmap_area areas[2];
};

static void reply(struct region_reply *b)
{
	memset(b, 0, sizeof(*b));
	b->info.argsz = sizeof(*b);
	b->info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
	b->info.index = 0;
	b->info.size = 0x80000;
	b->info.offset = 0x1230000000ULL;
	b->info.cap_offset = offsetof(struct region_reply, other);
	b->other.id = 99;
	b->other.version = 1;
	b->other.next = offsetof(struct region_reply, sparse);
	b->sparse.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	b->sparse.header.version = 1;
	b->sparse.nr_areas = 2;
	b->areas[0] = (struct vfio_region_sparse_mmap_area){ 0, 0x8000 };
	b->areas[1] = (struct vfio_region_sparse_mmap_area){ 0x9000, 0x77000 };
}

START_TEST(region_info_with_sparse_mmap)
{
	struct region_reply b;
	struct vfio_region r;

	reply(&b);
	vfio_region_parse(&b, sizeof(b), &r);
	ck_assert_uint_eq(r.size, 0x80000);
	ck_assert_uint_eq(r.offset, 0x1230000000ULL);
	ck_assert_uint_eq(r.flags, VFIO_REGION_READ | VFIO_REGION_WRITE | VFIO_REGION_MMAP);
	ck_assert_uint_eq(r.nr_areas, 2);
	ck_assert_uint_eq(r.areas[1].offset, 0x9000);
	ck_assert_uint_eq(r.areas[1].size, 0x77000);
	/* No capability: mmappable means the whole region. */
	b.info.flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
	vfio_region_parse(&b, sizeof(b), &r);
	ck_assert_uint_eq(r.nr_areas, 1);
	ck_assert_uint_eq(r.areas[0].size, 0x80000);
	/* Cut short (the kernel said it needed more room): only the areas that fit. */
	reply(&b);
	vfio_region_parse(&b, sizeof(b) - sizeof(b.areas[1]), &r);
	ck_assert_uint_eq(r.nr_areas, 1);
	/* A chain that loops, and one that points past the end: whole-region fallback. */
	reply(&b);
	b.other.next = offsetof(struct region_reply, other);
	vfio_region_parse(&b, sizeof(b), &r);
	ck_assert_uint_eq(r.nr_areas, 1);
	ck_assert_uint_eq(r.areas[0].size, 0x80000);
	reply(&b);
	b.info.cap_offset = 0x10000;
	vfio_region_parse(&b, sizeof(b), &r);
	ck_assert_uint_eq(r.nr_areas, 1);
	/* Not mmappable: no area, whatever the capability says. */
	reply(&b);
	b.info.flags &= ~(VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
	vfio_region_parse(&b, sizeof(b), &r);
	ck_assert_uint_eq(r.nr_areas, 0);
}
END_TEST

/* The KVM side of run-time memory slots, on this host's /dev/kvm. */
START_TEST(kvm_memslots_add_move_remove)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vmfd;
	struct kvm_memslots k;
	struct vm_memslots ops;
	void *a, *b;
	int s1, s2;

	if (kvm < 0)
		return;	/* no KVM here: nothing to check */
	vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	ck_assert_int_ge(vmfd, 0);
	a = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(a != MAP_FAILED && b != MAP_FAILED);
	kvm_memslots_init(&k, vmfd, 2);
	ops = kvm_memslots_ops_for(&k);
	s1 = ops.ops->add(ops.ctx, 0xc0000000, 0x4000, a);
	ck_assert_int_eq(s1, 0);
	/* Overlapping the first: KVM refuses, the slot number is not used up. */
	ck_assert_int_eq(ops.ops->add(ops.ctx, 0xc0002000, 0x2000, b), -EEXIST);
	s2 = ops.ops->add(ops.ctx, 0xc0004000, 0x2000, b);
	ck_assert_int_eq(s2, 1);
	ops.ops->remove(ops.ctx, s1);
	ck_assert_uint_eq(k.used, 2);
	/* Where the first was, the second piece of memory now fits. */
	ck_assert_int_eq(ops.ops->add(ops.ctx, 0xc0002000, 0x2000, a), 0);
	ops.ops->remove(ops.ctx, 0);
	ops.ops->remove(ops.ctx, s2);
	ck_assert_uint_eq(k.used, 0);
	munmap(a, 0x4000);
	munmap(b, 0x2000);
	close(vmfd);
	close(kvm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio_host");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, specs_with_options);
	tcase_add_test(tc, bound_device_resolves_with_group_and_cdev);
	tcase_add_test(tc, errors_say_what_to_do);
	tcase_add_test(tc, probe_prefers_iommufd);
	tcase_add_test(tc, region_info_with_sparse_mmap);
	tcase_add_test(tc, kvm_memslots_add_move_remove);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
