/*
 * The reset control register at 0xCF9: RST_CPU set where it was clear resets
 * the machine (Linux's reboot=pci writes code & ~4, then code); the other
 * bits alone do not; reads give back what was written; save/restore round
 * trip; and behind the PCI host bridge, whose ports it lies in.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "kvmrun/devices.h"
#include "kvmrun/pci.h"
#include "testlib.h"

static struct vm_stop stop;
static struct reset_control rc;

static void setup(void)
{
	ck_assert_int_eq(vm_stop_init(&stop), 0);
	reset_control_init(&rc, &stop);
}

static void teardown(void)
{
	reset_control_destroy(&rc);
	vm_stop_destroy(&stop);
}

static void wr(uint8_t v)
{
	reset_control_io(&rc, 0, &v, 1, true);
}

static uint8_t rd(void)
{
	uint8_t v = 0;

	reset_control_io(&rc, 0, &v, 1, false);
	return v;
}

START_TEST(linux_reboot_pci)
{
	wr(0x02);		/* SYS_RST: the kind of reset, not the reset */
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(rd(), 0x02);
	wr(0x06);		/* RST_CPU 0 -> 1 */
	ck_assert(vm_stop_requested(&stop));
	ck_assert_int_eq(stop.reason, STOP_RESET);
	ck_assert_int_eq(stop.status, 0);
}
END_TEST

START_TEST(only_a_rising_rst_cpu_resets)
{
	wr(0x0a);		/* FULL_RST | SYS_RST */
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(rd(), 0x0a);
	wr(0xf1);		/* bits the register does not have are dropped */
	ck_assert(!vm_stop_requested(&stop));
	ck_assert_uint_eq(rd(), 0x00);
	wr(0x0e);
	ck_assert(vm_stop_requested(&stop));
}
END_TEST

START_TEST(save_restore_round_trip)
{
	struct reset_control other;
	struct state_writer w1, w2;
	struct state_reader r;
	const uint8_t bad = 0x10, two[2] = { 0x02, 0x00 };

	wr(0x0a);
	state_writer_init(&w1);
	ck_assert_int_eq(device_save_one(&reset_control_device_ops, &rc, &w1), 0);
	reset_control_init(&other, &stop);
	ck_assert_int_eq(device_restore_one(&reset_control_device_ops, &other, w1.data, w1.len), 0);
	state_writer_init(&w2);
	ck_assert_int_eq(device_save_one(&reset_control_device_ops, &other, &w2), 0);
	ck_assert_uint_eq(w1.len, w2.len);
	ck_assert_mem_eq(w1.data, w2.data, w1.len);
	{
		uint8_t v = 0;

		reset_control_io(&other, 0, &v, 1, false);
		ck_assert_uint_eq(v, 0x0a);
	}
	/* Refused: a bit the register does not have, a record too long, too short, a newer version. */
	ck_assert_int_eq(device_restore_one(&reset_control_device_ops, &other, &bad, 1), -EINVAL);
	ck_assert_int_eq(device_restore_one(&reset_control_device_ops, &other, two, 2), -EINVAL);
	ck_assert_int_eq(device_restore_one(&reset_control_device_ops, &other, two, 0), -EINVAL);
	state_reader_init(&r, w1.data, w1.len);
	ck_assert_int_eq(reset_control_device_ops.restore(&other, &r, 2), -EINVAL);
	reset_control_reset(&other);
	{
		uint8_t v = 0xff;

		reset_control_io(&other, 0, &v, 1, false);
		ck_assert_uint_eq(v, 0);
	}
	ck_assert(!vm_stop_requested(&stop));
	reset_control_destroy(&other);
	state_writer_free(&w1);
	state_writer_free(&w2);
}
END_TEST

START_TEST(behind_the_pci_host_bridge)
{
	struct pci_bus bus;
	uint8_t v;
	uint32_t addr = 0x80000000u;

	pci_bus_init(&bus);
	pci_bus_chain_cf9(&bus, reset_control_io, &rc);
	/* The 32-bit latch at 0xCF8 is the bridge's; a byte at 0xCF9 the register's. */
	pci_config_io(&bus, 0, (uint8_t *)&addr, 4, true);
	v = 0x02;
	pci_config_io(&bus, 1, &v, 1, true);
	ck_assert_uint_eq(rd(), 0x02);
	ck_assert_uint_eq(bus.address, 0x80000000u);
	v = 0;
	pci_config_io(&bus, 1, &v, 1, false);
	ck_assert_uint_eq(v, 0x02);
	v = 0x06;
	pci_config_io(&bus, 1, &v, 1, true);
	ck_assert_int_eq(stop.reason, STOP_RESET);
	pci_bus_destroy(&bus);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reset_control");
	TCase *tc = tcase_create("0xcf9");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, linux_reboot_pci);
	tcase_add_test(tc, only_a_rising_rst_cpu_resets);
	tcase_add_test(tc, save_restore_round_trip);
	tcase_add_test(tc, behind_the_pci_host_bridge);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
