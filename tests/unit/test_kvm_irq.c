/*
 * Unit tests for the KVM implementation of struct vm_irq (src/kvm_irq.c)
 * against a real VM with an in-kernel irqchip: what the kernel accepts and
 * refuses.  Skipped (status 77) where /dev/kvm cannot be opened.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmrun/kvm_irq.h"
#include "kvmrun/log.h"
#include "testlib.h"

#define SKIP	77

static int kvm_fd = -1, vm_fd = -1;
static struct kvm_irq k;
static struct vm_irq irq;

static void setup(void)
{
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	ck_assert_int_ge(vm_fd, 0);
	ck_assert_int_eq(ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0), 0);
	ck_assert_int_eq(kvm_irq_init(&k, vm_fd), 0);
	irq = kvm_irq_ops_for(&k);
	ck_assert_ptr_eq(irq.ctx, &k);
}

static void teardown(void)
{
	kvm_irq_destroy(&k);
	close(vm_fd);
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* MMIO with datamatch, PIO without: assigned once, refused twice, removed once. */
START_TEST(test_ioeventfd)
{
	int fd = efd();
	uint64_t match = 1;

	ck_assert_int_eq(irq.ops->ioeventfd(irq.ctx, false, 0xfeb00050, 4, &match, fd, true), 0);
	ck_assert_int_eq(irq.ops->ioeventfd(irq.ctx, false, 0xfeb00050, 4, &match, fd, true),
			 -EEXIST);
	ck_assert_int_eq(irq.ops->ioeventfd(irq.ctx, true, 0x510, 2, NULL, fd, true), 0);
	ck_assert_int_eq(irq.ops->ioeventfd(irq.ctx, false, 0xfeb00050, 4, &match, fd, false), 0);
	ck_assert_int_eq(irq.ops->ioeventfd(irq.ctx, true, 0x510, 2, NULL, fd, false), 0);
	ck_assert_int_lt(irq.ops->ioeventfd(irq.ctx, true, 0x510, 2, NULL, fd, false), 0);
	close(fd);
}
END_TEST

/* A level irqfd with a resample fd on an IOAPIC pin, an edge one on an MSI GSI. */
START_TEST(test_irqfd)
{
	int fd = efd(), rfd = efd(), fd2 = efd();
	int gsi = irq.ops->msi_alloc(irq.ctx);

	ck_assert_int_eq(gsi, IRQ_ROUTING_FIRST_MSI);
	ck_assert_int_eq(irq.ops->irqfd(irq.ctx, 5, fd, rfd, true), 0);
	ck_assert_int_eq(irq.ops->irqfd(irq.ctx, (unsigned)gsi, fd2, -1, true), 0);
	ck_assert_int_eq(irq.ops->irqfd(irq.ctx, 5, fd, rfd, false), 0);
	ck_assert_int_eq(irq.ops->irqfd(irq.ctx, (unsigned)gsi, fd2, -1, false), 0);
	close(fd);
	close(rfd);
	close(fd2);
}
END_TEST

/* GSIs from 24 up; a route to the APICs is set, one elsewhere removes it; lines do not fail. */
START_TEST(test_msi_and_line)
{
	int a = irq.ops->msi_alloc(irq.ctx), b = irq.ops->msi_alloc(irq.ctx);

	ck_assert_int_eq(a, IRQ_ROUTING_FIRST_MSI);
	ck_assert_int_eq(b, a + 1);
	ck_assert_int_eq(irq.ops->msi_route(irq.ctx, (unsigned)a, 0xfee00000, 0x41), 0);
	ck_assert_uint_eq(k.routing.table->entries[k.routing.table->nr - 1].gsi, (unsigned)a);
	ck_assert_int_eq(irq.ops->msi_route(irq.ctx, (unsigned)a, 0x1000, 0x41), 0);
	for (unsigned i = 0; i < k.routing.table->nr; i++)
		ck_assert_uint_ne(k.routing.table->entries[i].gsi, (unsigned)a);
	ck_assert_int_eq(irq.ops->msi_route(irq.ctx, 3, 0xfee00000, 0), -EINVAL);
	irq.ops->set_line(irq.ctx, 5, 1);
	irq.ops->set_line(irq.ctx, 5, 0);
}
END_TEST

static Suite *kvm_irq_suite(void)
{
	Suite *s = suite_create("kvm_irq");
	TCase *tc = tcase_create("kvm_irq");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ioeventfd);
	tcase_add_test(tc, test_irqfd);
	tcase_add_test(tc, test_msi_and_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int r;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("skipped: /dev/kvm: %m\n");
		return SKIP;
	}
	r = testlib_run(kvm_irq_suite());
	close(kvm_fd);
	return r;
}
