/*
 * vCPU exit dispatch (vcpu_handle_exit) on a hand-made kvm_run: port and MMIO
 * exits reach the bus handlers with the right data, string I/O is split into
 * its elements, unclaimed reads see all-ones, and each way a vCPU can end
 * records the right stop.  No /dev/kvm needed.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/vm.h"
#include "testlib.h"

#define DATA_OFF 1024

static struct vm vm;
static struct vcpu vcpu;
static struct kvm_run *run;

struct access {
	uint64_t off;
	uint8_t data[8];
	uint32_t len;
	bool is_write;
};

static struct access log_[16];
static unsigned nlog;

static void record(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct access *a = &log_[nlog++ % 16];

	(void)opaque;
	a->off = off;
	a->len = len;
	a->is_write = is_write;
	if (is_write)
		memcpy(a->data, data, len);
	else
		memset(data, 0x40 + (int)off, len);	/* a read answers with its offset */
}

static void setup(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(&vcpu, 0, sizeof(vcpu));
	nlog = 0;
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	ck_assert_int_eq(vm_stop_init(&vm.stop), 0);
	ck_assert_int_eq(bus_register(&vm.pio, 0x3f8, 8, record, NULL, "uart"), 0);
	ck_assert_int_eq(bus_register(&vm.mmio, 0xd0000000, 0x1000, record, NULL, "dev"), 0);
	run = calloc(1, 4096);
	ck_assert_ptr_nonnull(run);
	vcpu.vm = &vm;
	vcpu.fd = -1;
	vcpu.run = run;
}

static void teardown(void)
{
	free(run);
	bus_destroy(&vm.pio);
	bus_destroy(&vm.mmio);
	vm_stop_destroy(&vm.stop);
}

static void io_exit(uint8_t dir, uint16_t port, uint8_t size, uint32_t count)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = dir;
	run->io.port = port;
	run->io.size = size;
	run->io.count = count;
	run->io.data_offset = DATA_OFF;
}

START_TEST(port_write_string)
{
	uint8_t *data = (uint8_t *)run + DATA_OFF;

	memcpy(data, "abc", 3);
	io_exit(KVM_EXIT_IO_OUT, 0x3f8, 1, 3);	/* rep outsb: three writes */
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert_uint_eq(nlog, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert(log_[i].is_write);
		ck_assert_uint_eq(log_[i].off, 0);
		ck_assert_uint_eq(log_[i].len, 1);
		ck_assert_uint_eq(log_[i].data[0], (uint8_t)"abc"[i]);
	}
	ck_assert(!vm_stop_requested(&vm.stop));
}
END_TEST

START_TEST(port_read_and_unclaimed)
{
	uint8_t *data = (uint8_t *)run + DATA_OFF;

	io_exit(KVM_EXIT_IO_IN, 0x3fd, 1, 1);
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert_uint_eq(nlog, 1);
	ck_assert(!log_[0].is_write);
	ck_assert_uint_eq(log_[0].off, 5);
	ck_assert_uint_eq(data[0], 0x45);

	/* Nobody at 0x2f8: a read sees all-ones, the vCPU goes on. */
	memset(data, 0, 4);
	io_exit(KVM_EXIT_IO_IN, 0x2f8, 4, 1);
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert_uint_eq(nlog, 1);
	ck_assert_uint_eq(data[0] & data[1] & data[2] & data[3], 0xff);
	ck_assert(!vm_stop_requested(&vm.stop));
}
END_TEST

START_TEST(mmio_read_write)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = 0xd0000010;
	run->mmio.len = 4;
	run->mmio.is_write = 1;
	memcpy(run->mmio.data, "\x11\x22\x33\x44", 4);
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert_uint_eq(nlog, 1);
	ck_assert(log_[0].is_write);
	ck_assert_uint_eq(log_[0].off, 0x10);
	ck_assert_mem_eq(log_[0].data, "\x11\x22\x33\x44", 4);

	run->mmio.is_write = 0;
	run->mmio.phys_addr = 0xd0000002;
	run->mmio.len = 2;
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert_uint_eq(run->mmio.data[0], 0x42);
	ck_assert_uint_eq(run->mmio.data[1], 0x42);

	/* Outside every range: all-ones. */
	run->mmio.phys_addr = 0xd0001000;
	run->mmio.len = 8;
	memset(run->mmio.data, 0, 8);
	ck_assert(vcpu_handle_exit(&vcpu));
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(run->mmio.data[i], 0xff);
	ck_assert(!vm_stop_requested(&vm.stop));
}
END_TEST

START_TEST(interrupted_run_goes_on)
{
	run->exit_reason = KVM_EXIT_INTR;
	ck_assert(vcpu_handle_exit(&vcpu));
	ck_assert(!vm_stop_requested(&vm.stop));
}
END_TEST

/* Each way a vCPU ends: the loop stops and the VM records why. */
static void check_end(uint32_t reason, enum stop_reason want)
{
	run->exit_reason = reason;
	ck_assert(!vcpu_handle_exit(&vcpu));
	ck_assert(vm_stop_requested(&vm.stop));
	ck_assert_int_eq(vm.stop.reason, want);
}

START_TEST(halt_powers_off)
{
	check_end(KVM_EXIT_HLT, STOP_POWEROFF);
	ck_assert_int_eq(vm.stop.status, EXIT_GUEST_OFF);
}
END_TEST

START_TEST(triple_fault_resets)
{
	check_end(KVM_EXIT_SHUTDOWN, STOP_RESET);
}
END_TEST

START_TEST(system_events)
{
	static const struct { uint32_t type; enum stop_reason want; } ev[] = {
		{ KVM_SYSTEM_EVENT_SHUTDOWN, STOP_POWEROFF },
		{ KVM_SYSTEM_EVENT_RESET, STOP_RESET },
		{ KVM_SYSTEM_EVENT_CRASH, STOP_ERROR },
		{ 0x7777, STOP_ERROR },
	};

	run->system_event.type = ev[_i].type;
	check_end(KVM_EXIT_SYSTEM_EVENT, ev[_i].want);
}
END_TEST

START_TEST(failures_stop_with_an_error)
{
	static const uint32_t reasons[] = { KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR, 0x7777 };

	run->internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
	check_end(reasons[_i], STOP_ERROR);
	ck_assert_int_eq(vm.stop.status, EXIT_VMM_ERROR);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vcpu");
	TCase *tc = tcase_create("exit dispatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, port_write_string);
	tcase_add_test(tc, port_read_and_unclaimed);
	tcase_add_test(tc, mmio_read_write);
	tcase_add_test(tc, interrupted_run_goes_on);
	tcase_add_test(tc, halt_powers_off);
	tcase_add_test(tc, triple_fault_resets);
	tcase_add_loop_test(tc, system_events, 0, 4);
	tcase_add_loop_test(tc, failures_stop_with_an_error, 0, 3);
	suite_add_tcase(s, tc);
	return testlib_run(s);
}
