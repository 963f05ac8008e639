/*
 * --vfio DEVICE resolution (devices/vfio_host.c) against a sysfs tree built
 * in a temporary directory the way the kernel lays it out: the device's
 * directory with driver and iommu_group links, the group's devices, the
 * vfio-dev cdev directory.  And the interface probe on a fake /dev.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

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

int main(void)
{
	Suite *s = suite_create("vfio_host");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, bound_device_resolves_with_group_and_cdev);
	tcase_add_test(tc, errors_say_what_to_do);
	tcase_add_test(tc, probe_prefers_iommufd);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
