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
#include "testlib.h"

#define MEM_SIZE (64ULL << 20)

static struct vm vm;
static struct vm_config cfg;
static struct fake_irq fake;
static char img[2][64];

/* A VM as vm_create leaves it, without KVM: buses, memory, stop, the fake irq. */
static void vm_init_fake(struct vm *v)
{
	memset(v, 0, sizeof(*v));
	v->cfg = &cfg;
	v->fd = -1;
	v->mem.memfd = -1;
	bus_init(&v->pio, "pio");
	bus_init(&v->mmio, "mmio");
	device_list_init(&v->devices);
	ck_assert_int_eq(vm_stop_init(&v->stop), 0);
	ck_assert_int_eq(guest_mem_init(&v->mem, MEM_SIZE, false, HUGEPAGES_NONE), 0);
	v->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(v->rx_efd, 0);
	v->irq = fake_irq_ops(&fake);
}

static void vm_fini_fake(struct vm *v)
{
	device_list_destroy(&v->devices);
	vm_outputs_destroy(v);
	guest_mem_destroy(&v->mem);
	bus_destroy(&v->pio);
	bus_destroy(&v->mmio);
	vm_stop_destroy(&v->stop);
	close(v->rx_efd);
}

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	fake_irq_init(&fake);
	fake.refuse_ioeventfd = true;	/* the transports forward notifications themselves */
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
	vm_init_fake(&vm);
}

static void teardown(void)
{
	vm_fini_fake(&vm);
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
					  DEBUG_EXIT_PORT, POST_PORT, SNAPSHOT_PORT, ACPI_PM_BASE, RTC_PORT,
					  RESET_CONTROL_PORT, FW_CFG_PORT, ACPI_PM_TMR };

	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		ck_assert_msg(bus_find(&vm.pio, ports[i]), "nothing at port 0x%llx",
			      (unsigned long long)ports[i]);
}

START_TEST(mmio_machine)
{
	static const char *const names[] = {
		"serial0", "i8042-0", "debug-exit0", "post0", "snapshot-port0", "acpi-pm0", "rtc0",
		"reset-control0", "virtio-blk0", "virtio-blk1", "virtio-rng0", "virtio-console0",
		"fw-cfg0", "pm-timer0",
	};
	struct machine_desc d;

	cfg.transport = TRANSPORT_MMIO;
	cfg.nr_disks = 2;
	cfg.rng = true;
	cfg.virtio_console = true;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	check_names(names, 14);
	ck_assert_str_eq(vm.devices.v[7].ops->kind, "reset-control");
	ck_assert_str_eq(vm.devices.v[8].ops->kind, "virtio-mmio");
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
		"serial0", "i8042-0", "debug-exit0", "post0", "snapshot-port0", "acpi-pm0", "rtc0",
		"pci-host0", "reset-control0", "virtio-blk0", "virtio-rng0", "fw-cfg0", "pm-timer0",
	};
	struct machine_desc d;

	cfg.transport = TRANSPORT_PCI;
	cfg.nr_disks = 1;
	cfg.rng = true;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	check_names(names, 13);
	ck_assert_str_eq(vm.devices.v[9].ops->kind, "virtio-pci");
	check_platform_ports();
	/* 0xCF9 lies inside the host bridge's ports: the bridge hands it on. */
	ck_assert_ptr_eq(bus_find(&vm.pio, PCI_CONFIG_ADDRESS), bus_find(&vm.pio, RESET_CONTROL_PORT));
	ck_assert_ptr_eq(vm.pci->cf9_opaque, vm.devices.v[8].dev);
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
	ck_assert_uint_eq(vm.devices.nr, 11);
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
	ck_assert_uint_eq(vm.devices.nr, 9);
	ck_assert_str_eq(vm.devices.v[8].name, "virtio-blk0");
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
	ck_assert(vm.out[VM_OUT_SERIAL_FILE].used);
	ck_assert_ptr_eq(vm.serial->out, &vm.out[VM_OUT_SERIAL_FILE].sink);
	ck_assert(!vm.out[VM_OUT_STDOUT].used);
	fd = vm.out[VM_OUT_SERIAL_FILE].fd;
	ck_assert_int_gt(fd, STDERR_FILENO);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	/* The VM owns the fd: its outputs, destroyed after the devices, close it. */
	vm_fini_fake(&vm);
	ck_assert_int_lt(fcntl(fd, F_GETFD), 0);
	vm_init_fake(&vm);
	unlink(path);
}
END_TEST

/*
 * The whole machine's device state through the registry: a second machine
 * built from the same configuration takes the first one's record, saves the
 * same bytes and answers the same register reads; another machine refuses it.
 */
static uint64_t frozen_ns(void)
{
	return 1000000000ULL;
}

/* The PM timer counts on host time: stopped, the two records can be compared. */
static void freeze_pm_timer(struct vm *v)
{
	for (unsigned i = 0; i < v->devices.nr; i++)
		if (v->devices.v[i].ops == &pm_timer_device_ops)
			pm_timer_init(v->devices.v[i].dev, frozen_ns);
}

static void machine_round_trip(enum transport t)
{
	struct state_writer w1, w2;
	struct state_reader r;
	struct vm other;
	char err[256] = "";
	uint8_t v;

	cfg.transport = t;
	cfg.nr_disks = 1;
	cfg.rng = true;
	ck_assert_int_eq(builder_create_devices(&vm), 0);
	/* Some guest-visible state: UART scratch and divisor, CMOS NVRAM, reset control. */
	v = 0x5a;
	bus_dispatch(&vm.pio, COM1_BASE + 7, &v, 1, true);
	v = 0x34;
	bus_dispatch(&vm.pio, RTC_PORT, &v, 1, true);
	v = 0x77;
	bus_dispatch(&vm.pio, RTC_PORT + 1, &v, 1, true);
	v = 0x0a;
	bus_dispatch(&vm.pio, RESET_CONTROL_PORT, &v, 1, true);
	state_writer_init(&w1);
	freeze_pm_timer(&vm);
	ck_assert_int_eq(device_list_save(&vm.devices, &w1), 0);

	vm_init_fake(&other);
	ck_assert_int_eq(builder_create_devices(&other), 0);
	freeze_pm_timer(&other);
	state_reader_init(&r, w1.data, w1.len);
	ck_assert_msg(device_list_restore(&other.devices, &r, err, sizeof(err)) == 0, "%s", err);
	state_writer_init(&w2);
	ck_assert_int_eq(device_list_save(&other.devices, &w2), 0);
	ck_assert_uint_eq(w1.len, w2.len);
	ck_assert_mem_eq(w1.data, w2.data, w1.len);
	bus_dispatch(&other.pio, COM1_BASE + 7, &v, 1, false);
	ck_assert_uint_eq(v, 0x5a);
	v = 0x34;
	bus_dispatch(&other.pio, RTC_PORT, &v, 1, true);
	bus_dispatch(&other.pio, RTC_PORT + 1, &v, 1, false);
	ck_assert_uint_eq(v, 0x77);
	bus_dispatch(&other.pio, RESET_CONTROL_PORT, &v, 1, false);
	ck_assert_uint_eq(v, 0x0a);
	vm_fini_fake(&other);

	/* A machine without the rng: a different device list, refused with a reason. */
	cfg.rng = false;
	vm_init_fake(&other);
	ck_assert_int_eq(builder_create_devices(&other), 0);
	state_reader_init(&r, w1.data, w1.len);
	ck_assert_int_eq(device_list_restore(&other.devices, &r, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "devices"));
	vm_fini_fake(&other);
	state_writer_free(&w1);
	state_writer_free(&w2);
}

START_TEST(machine_state_round_trip_mmio)
{
	machine_round_trip(TRANSPORT_MMIO);
}
END_TEST

START_TEST(machine_state_round_trip_pci)
{
	machine_round_trip(TRANSPORT_PCI);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("builder");
	TCase *tc = tcase_create("machine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mmio_machine);
	tcase_add_test(tc, pci_machine);
	tcase_add_test(tc, pci_host_without_devices);
	tcase_add_test(tc, bad_disk_fails_and_releases);
	tcase_add_test(tc, serial_file_is_the_uarts);
	tcase_add_test(tc, machine_state_round_trip_mmio);
	tcase_add_test(tc, machine_state_round_trip_pci);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
