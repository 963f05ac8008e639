/*
 * The machine builder without KVM: given a configuration, the device list it
 * creates (names, kinds, order), the ports and windows it places, and what it
 * derives for the guest from that list (kernel command line, level-triggered
 * IRQs, the PCI host bridge).  Interrupt plumbing is a fake vm_irq.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/builder.h"
#include "kvmrun/devices.h"
#include "kvmrun/pci.h"
#include "kvmrun/virtio_mmio.h"
#include "kvmrun/vm.h"

#define MEM_SIZE (64ULL << 20)

/* The fake's context: it begins like the interim KVM context (an fd of -1, no routing). */
struct fake_irq {
	int vm_fd;
	void *routing;
	unsigned next_gsi;
};

static void fake_set_line(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
}

static int fake_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len,
			  const uint64_t *match, int fd, bool assign)
{
	(void)ctx; (void)pio; (void)addr; (void)len; (void)match; (void)fd; (void)assign;
	return -ENOSYS;
}

static int fake_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx; (void)gsi; (void)fd; (void)resample_fd; (void)assign;
	return -ENOSYS;
}

static int fake_msi_alloc(void *ctx)
{
	struct fake_irq *f = ctx;

	return (int)f->next_gsi++;
}

static int fake_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)ctx; (void)gsi; (void)addr; (void)data;
	return 0;
}

static const struct vm_irq_ops fake_ops = {
	.set_line = fake_set_line,
	.ioeventfd = fake_ioeventfd,
	.irqfd = fake_irqfd,
	.msi_alloc = fake_msi_alloc,
	.msi_route = fake_msi_route,
};

static struct vm vm;
static struct vm_config cfg;
static struct fake_irq fake;
static char img[2][64];

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	fake = (struct fake_irq){ .vm_fd = -1, .next_gsi = 24 };
	cfg.cpus = 1;
	cfg.mem_size = MEM_SIZE;
	cfg.serial = SERIAL_NONE;
	for (unsigned i = 0; i < 2; i++) {
		int fd;

		snprintf(img[i], sizeof(img[i]), "/tmp/kvmrun-builder-XXXXXX");
		fd = mkstemp(img[i]);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
		close(fd);
		snprintf(cfg.disks[i].path, sizeof(cfg.disks[i].path), "%s", img[i]);
		cfg.disks[i].num_queues = 1;
	}
	vm.cfg = &cfg;
	vm.fd = -1;
	vm.mem.memfd = -1;
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	device_list_init(&vm.devices);
	ck_assert_int_eq(vm_stop_init(&vm.stop), 0);
	ck_assert_int_eq(guest_mem_init(&vm.mem, MEM_SIZE, false, HUGEPAGES_NONE), 0);
	vm.rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(vm.rx_efd, 0);
	vm.irq = (struct vm_irq){ &fake_ops, &fake };
}

static void teardown(void)
{
	device_list_destroy(&vm.devices);
	guest_mem_destroy(&vm.mem);
	bus_destroy(&vm.pio);
	bus_destroy(&vm.mmio);
	vm_stop_destroy(&vm.stop);
	close(vm.rx_efd);
	for (unsigned i = 0; i < 2; i++)
		unlink(img[i]);
}

static void check_names(const char *const *want, unsigned n)
{
	ck_assert_uint_eq(vm.devices.nr, n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_str_eq(vm.devices.v[i].name, want[i]);
}

static void check_platform_ports(void)
{
	static const uint64_t ports[] = { COM1_BASE, I8042_DATA_PORT, I8042_CMD_PORT,
					  DEBUG_EXIT_PORT, POST_PORT, ACPI_PM_BASE, RTC_PORT };

	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		ck_assert_msg(bus_find(&vm.pio, ports[i]), "nothing at port 0x%llx",
			      (unsigned long long)ports[i]);
}

START_TEST(mmio_machine)
{
	static const char *const names[] = {
		"serial0", "i8042-0", "debug-exit0", "post0", "acpi-pm0", "rtc0",
		"virtio-blk0", "virtio-blk1", "virtio-rng0", "virtio-console0",
	};
	struct machine_desc d;

	cfg.transport = TRANSPORT_MMIO;
	cfg.nr_disks = 2;
	cfg.rng = true;
	cfg.virtio_console = true;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	check_names(names, 10);
	ck_assert_str_eq(vm.devices.v[6].ops->kind, "virtio-mmio");
	check_platform_ports();
	ck_assert_ptr_null(bus_find(&vm.pio, PCI_CONFIG_ADDRESS));
	ck_assert_ptr_nonnull(vm.serial);
	ck_assert_ptr_nonnull(vm.vconsole);
	ck_assert_ptr_null(vm.pci);
	/* One 4 KiB window each, in list order. */
	for (unsigned i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(bus_find(&vm.mmio, VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE));
	ck_assert_ptr_null(bus_find(&vm.mmio, VIRTIO_MMIO_BASE + 4 * VIRTIO_MMIO_SIZE));

	/* What the guest is told comes from the list: the windows, their IRQs, level triggered. */
	ck_assert_int_eq(builder_describe(&vm, &d), 0);
	ck_assert_str_eq(d.cmdline, " virtio_mmio.device=4K@0xfeb00000:5"
			 " virtio_mmio.device=4K@0xfeb01000:6"
			 " virtio_mmio.device=4K@0xfeb02000:7"
			 " virtio_mmio.device=4K@0xfeb03000:10");
	ck_assert_uint_eq(d.level_irqs, (1u << 5) | (1u << 6) | (1u << 7) | (1u << 10));
	ck_assert(!d.pci_host);
}
END_TEST

START_TEST(pci_machine)
{
	static const char *const names[] = {
		"serial0", "i8042-0", "debug-exit0", "post0", "acpi-pm0", "rtc0",
		"pci-host0", "virtio-blk0", "virtio-rng0",
	};
	struct machine_desc d;

	cfg.transport = TRANSPORT_PCI;
	cfg.nr_disks = 1;
	cfg.rng = true;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	check_names(names, 9);
	ck_assert_str_eq(vm.devices.v[7].ops->kind, "virtio-pci");
	check_platform_ports();
	ck_assert_ptr_nonnull(bus_find(&vm.pio, PCI_CONFIG_ADDRESS));
	ck_assert_ptr_nonnull(bus_find(&vm.mmio, PCI_WINDOW_BASE));
	ck_assert_ptr_nonnull(vm.pci);
	/* Slot 0 is the host bridge; the devices follow in list order. */
	ck_assert_ptr_nonnull(vm.pci->fn[1]);
	ck_assert_uint_eq(pci_cfg_read16(vm.pci->fn[1], PCI_CFG_DEVICE_ID), 0x1040 + 2);
	ck_assert_uint_eq(pci_cfg_read16(vm.pci->fn[2], PCI_CFG_DEVICE_ID), 0x1040 + 4);
	ck_assert_ptr_null(vm.pci->fn[3]);
	ck_assert_ptr_null(vm.vconsole);

	ck_assert_int_eq(builder_describe(&vm, &d), 0);
	ck_assert_str_eq(d.cmdline, "");
	ck_assert_uint_eq(d.level_irqs, 0);
	ck_assert(d.pci_host);
}
END_TEST

START_TEST(pci_host_without_devices)
{
	struct machine_desc d;

	cfg.transport = TRANSPORT_PCI;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	ck_assert_uint_eq(vm.devices.nr, 7);
	ck_assert_int_eq(builder_describe(&vm, &d), 0);
	ck_assert(d.pci_host);
}
END_TEST

START_TEST(bad_disk_fails_and_releases)
{
	cfg.transport = TRANSPORT_MMIO;
	cfg.nr_disks = 2;
	snprintf(cfg.disks[1].path, sizeof(cfg.disks[1].path), "/nonexistent/kvmrun-disk");
	ck_assert_int_lt(builder_create_devices(&vm), 0);
	/* What was built before the failure is in the list, for the caller to destroy. */
	ck_assert_uint_eq(vm.devices.nr, 7);
	ck_assert_str_eq(vm.devices.v[6].name, "virtio-blk0");
}
END_TEST

START_TEST(serial_file_is_the_uarts)
{
	char path[] = "/tmp/kvmrun-serial-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	cfg.serial = SERIAL_FILE;
	cfg.serial_path = path;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	fd = vm.serial->out_fd;
	ck_assert_int_gt(fd, STDERR_FILENO);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	/* The device list owns the fd: destroying the list closes it. */
	device_list_destroy(&vm.devices);
	vm.serial = NULL;
	ck_assert_int_lt(fcntl(fd, F_GETFD), 0);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("builder");
	TCase *tc = tcase_create("machine");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mmio_machine);
	tcase_add_test(tc, pci_machine);
	tcase_add_test(tc, pci_host_without_devices);
	tcase_add_test(tc, bad_disk_fails_and_releases);
	tcase_add_test(tc, serial_file_is_the_uarts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
