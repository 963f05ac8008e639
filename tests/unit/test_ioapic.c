/*
 * Unit tests for the split irqchip's IOAPIC (devices/ioapic.c): registers,
 * edge and level delivery, Remote IRR and EOI, masking, the MSI composed
 * from both entry formats, the front devices get, save and restore.  A fake
 * vm_irq records the routes the IOAPIC sets and the GSIs it fires.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/ioapic.h"
#include "testlib.h"

#define NR_GSI	64

struct rec_irq {
	uint64_t addr[NR_GSI];
	uint32_t data[NR_GSI];
	unsigned route_calls[NR_GSI];
	unsigned fired[NR_GSI];		/* set_line(gsi, 1) */
	unsigned lowered[NR_GSI];	/* set_line(gsi, 0) */
	unsigned irqfds, allocs;
	int last_irqfd_gsi;
};

static void rec_set_line(void *ctx, unsigned gsi, int level)
{
	struct rec_irq *f = ctx;

	ck_assert_uint_lt(gsi, NR_GSI);
	if (level)
		f->fired[gsi]++;
	else
		f->lowered[gsi]++;
}

static int rec_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
			 int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	return 0;
}

static int rec_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	struct rec_irq *f = ctx;

	(void)fd, (void)resample_fd, (void)assign;
	f->irqfds++;
	f->last_irqfd_gsi = (int)gsi;
	return 0;
}

static int rec_msi_alloc(void *ctx)
{
	struct rec_irq *f = ctx;

	return 24 + (int)f->allocs++;
}

static int rec_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct rec_irq *f = ctx;

	ck_assert_uint_lt(gsi, NR_GSI);
	f->route_calls[gsi]++;
	f->addr[gsi] = addr;
	f->data[gsi] = data;
	return 0;
}

static const struct vm_irq_ops rec_ops = {
	.set_line = rec_set_line, .ioeventfd = rec_ioeventfd, .irqfd = rec_irqfd,
	.msi_alloc = rec_msi_alloc, .msi_route = rec_msi_route,
};

static struct rec_irq out, pass;
static struct ioapic io;

static void setup(void)
{
	memset(&out, 0, sizeof(out));
	memset(&pass, 0, sizeof(pass));
	ioapic_init(&io, (struct vm_irq){ &rec_ops, &out }, (struct vm_irq){ &rec_ops, &pass });
}

static void teardown(void)
{
	ioapic_destroy(&io);
}

static void mmio_w32(uint64_t off, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	ioapic_mmio(&io, off, d, 4, true);
}

static uint32_t mmio_r32(uint64_t off)
{
	uint8_t d[4];
	uint32_t v;

	ioapic_mmio(&io, off, d, 4, false);
	memcpy(&v, d, 4);
	return v;
}

static void reg_w(uint32_t reg, uint32_t v)
{
	mmio_w32(IOAPIC_REGSEL, reg);
	mmio_w32(IOAPIC_WINDOW, v);
}

static uint32_t reg_r(uint32_t reg)
{
	mmio_w32(IOAPIC_REGSEL, reg);
	return mmio_r32(IOAPIC_WINDOW);
}

static void rte_w(unsigned pin, uint64_t rte)
{
	reg_w(IOAPIC_REG_RTE + 2 * pin + 1, (uint32_t)(rte >> 32));
	reg_w(IOAPIC_REG_RTE + 2 * pin, (uint32_t)rte);
}

static uint64_t rte_r(unsigned pin)
{
	return reg_r(IOAPIC_REG_RTE + 2 * pin) | (uint64_t)reg_r(IOAPIC_REG_RTE + 2 * pin + 1) << 32;
}

static unsigned fired_total(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NR_GSI; i++)
		n += out.fired[i];
	return n;
}

START_TEST(test_registers)
{
	uint8_t b;

	/* Version 0x20 (with the EOI register), 24 entries; read-only. */
	ck_assert_uint_eq(reg_r(IOAPIC_REG_VER), 0x00170020);
	reg_w(IOAPIC_REG_VER, 0);
	ck_assert_uint_eq(reg_r(IOAPIC_REG_VER), 0x00170020);
	/* ID: bits 24-27 only; the arbitration register follows it and is read-only. */
	reg_w(IOAPIC_REG_ID, 0xffffffff);
	ck_assert_uint_eq(reg_r(IOAPIC_REG_ID), 0x0f000000);
	ck_assert_uint_eq(reg_r(IOAPIC_REG_ARB), 0x0f000000);
	reg_w(IOAPIC_REG_ARB, 0);
	ck_assert_uint_eq(reg_r(IOAPIC_REG_ARB), 0x0f000000);
	/* Power-on: every entry masked, nothing routed. */
	for (unsigned i = 0; i < IOAPIC_NR_PINS; i++) {
		ck_assert_uint_eq(rte_r(i), IOAPIC_RTE_MASKED);
		ck_assert_uint_eq(out.route_calls[i], 0);
	}
	/* IOREGSEL is a byte; registers past the table read zero. */
	b = 0x13;
	ioapic_mmio(&io, IOAPIC_REGSEL, &b, 1, true);
	b = 0;
	ioapic_mmio(&io, IOAPIC_REGSEL, &b, 1, false);
	ck_assert_uint_eq(b, 0x13);
	ck_assert_uint_eq(reg_r(0x40), 0);
	ck_assert_uint_eq(reg_r(0xff), 0);
	/* Writable bits only: delivery status, Remote IRR and reserved bits stay clear. */
	rte_w(3, ~0ULL);
	ck_assert_uint_eq(rte_r(3), 0xffff000000000000ULL | 0x1afff);
	/* A byte of the window: its lane of the register. */
	rte_w(3, 0x0100000000010041ULL);
	mmio_w32(IOAPIC_REGSEL, IOAPIC_REG_RTE + 6);
	ioapic_mmio(&io, IOAPIC_WINDOW + 2, &b, 1, false);
	ck_assert_uint_eq(b, 0x01);
	b = 0x00;
	ioapic_mmio(&io, IOAPIC_WINDOW + 2, &b, 1, true);	/* unmask through byte 2 */
	ck_assert_uint_eq(rte_r(3), 0x0100000000000041ULL);
}
END_TEST

/* Compatibility format: the destination and its mode, the vector, delivery and trigger mode. */
START_TEST(test_msi_compat)
{
	uint64_t addr;
	uint32_t data;

	ioapic_rte_msi(0x0500000000000041ULL, &addr, &data);
	ck_assert_uint_eq(addr, 0xfee05000);
	ck_assert_uint_eq(data, 0x41);
	/* Logical destination, lowest priority, level: bits 2, 8 and 14-15. */
	ioapic_rte_msi(0x0300000000000000ULL | IOAPIC_RTE_DESTMODE | 1u << 8 | IOAPIC_RTE_LEVEL | 0x62,
		       &addr, &data);
	ck_assert_uint_eq(addr, 0xfee03004);
	ck_assert_uint_eq(data, 0xc162);
	/* Mask, polarity, Remote IRR are not part of the message. */
	ioapic_rte_msi(0xff00000000000000ULL | IOAPIC_RTE_MASKED | IOAPIC_RTE_POLARITY | 0x30,
		       &addr, &data);
	ck_assert_uint_eq(addr, 0xfeeff000);
	ck_assert_uint_eq(data, 0x30);
	/* What the guest programs is what KVM gets for that pin's GSI. */
	rte_w(9, 0x0200000000000000ULL | IOAPIC_RTE_LEVEL | 0x55);
	ck_assert_uint_eq(out.addr[9], 0xfee02000);
	ck_assert_uint_eq(out.data[9], 0xc055);
}
END_TEST

/* Remappable format (VT-d): format bit 48 and handle[14:0] in 49-63, handle[15] in bit 11. */
START_TEST(test_msi_remappable)
{
	unsigned handle = 0x9234;
	uint64_t rte = IOAPIC_RTE_FORMAT | (uint64_t)(handle & 0x7fff) << 49 |
		       (uint64_t)(handle >> 15) << 11 | 0xed;
	uint64_t addr;
	uint32_t data;

	ioapic_rte_msi(rte, &addr, &data);
	ck_assert_uint_eq(addr, 0xfee00000 | (handle & 0x7fff) << 5 | 1u << 4 | 1u << 2);
	ck_assert_uint_eq(data, 0xed);
	/* The handle decodes back from the address as a remapping unit reads it. */
	ck_assert_uint_eq(((addr >> 5) & 0x7fff) | ((addr >> 2) & 1) << 15, handle);
	rte_w(11, rte | IOAPIC_RTE_LEVEL);
	ck_assert_uint_eq(rte_r(11), rte | IOAPIC_RTE_LEVEL);
	ck_assert_uint_eq(out.addr[11], addr);
	ck_assert_uint_eq(out.data[11], 0xc0ed);
}
END_TEST

START_TEST(test_edge)
{
	rte_w(4, 0x24);
	ck_assert_uint_eq(out.route_calls[4], 1);
	ioapic_set_line(&io, 4, 1);
	ck_assert_uint_eq(out.fired[4], 1);
	/* A level held is no new edge. */
	ioapic_set_line(&io, 4, 1);
	ck_assert_uint_eq(out.fired[4], 1);
	ioapic_set_line(&io, 4, 0);
	ioapic_set_line(&io, 4, 1);
	ck_assert_uint_eq(out.fired[4], 2);
	/* Edge entries have no Remote IRR; an EOI changes nothing. */
	ck_assert(!(rte_r(4) & IOAPIC_RTE_REMOTE_IRR));
	ioapic_eoi(&io, 0x24);
	ck_assert_uint_eq(out.fired[4], 2);
	/* The datasheet: an edge on a masked pin is ignored, not delivered at unmask. */
	ioapic_set_line(&io, 4, 0);
	rte_w(4, 0x24 | IOAPIC_RTE_MASKED);
	ioapic_set_line(&io, 4, 1);
	rte_w(4, 0x24);
	ck_assert_uint_eq(out.fired[4], 2);
	/* Only the pin's own GSI; never a lowering (an MSI has none). */
	ck_assert_uint_eq(fired_total(), 2);
	ck_assert_uint_eq(out.lowered[4], 0);
	ck_assert_uint_eq(pass.fired[4], 0);
}
END_TEST

START_TEST(test_level_remote_irr)
{
	rte_w(10, IOAPIC_RTE_LEVEL | 0x5a);
	ioapic_set_line(&io, 10, 1);
	ck_assert_uint_eq(out.fired[10], 1);
	ck_assert(rte_r(10) & IOAPIC_RTE_REMOTE_IRR);
	/* Awaiting its EOI: neither the held line nor another vector's EOI delivers. */
	ioapic_set_line(&io, 10, 1);
	ioapic_eoi(&io, 0x5b);
	ck_assert_uint_eq(out.fired[10], 1);
	ck_assert(rte_r(10) & IOAPIC_RTE_REMOTE_IRR);
	/* The EOI with the line still high delivers again. */
	ioapic_eoi(&io, 0x5a);
	ck_assert_uint_eq(out.fired[10], 2);
	ck_assert(rte_r(10) & IOAPIC_RTE_REMOTE_IRR);
	/* Lowered, then the EOI: Remote IRR clears, nothing more. */
	ioapic_set_line(&io, 10, 0);
	ioapic_eoi(&io, 0x5a);
	ck_assert_uint_eq(out.fired[10], 2);
	ck_assert(!(rte_r(10) & IOAPIC_RTE_REMOTE_IRR));
	/* The EOI register (version 0x20) does what a LAPIC's EOI does. */
	ioapic_set_line(&io, 10, 1);
	ck_assert_uint_eq(out.fired[10], 3);
	mmio_w32(IOAPIC_EOI, 0x5a);
	ck_assert_uint_eq(out.fired[10], 4);
	/* Remote IRR is read-only; turning the entry to edge clears it. */
	rte_w(10, 0x5a);
	ck_assert(!(rte_r(10) & IOAPIC_RTE_REMOTE_IRR));
	ck_assert_uint_eq(fired_total(), 4);
}
END_TEST

START_TEST(test_level_mask)
{
	rte_w(14, IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED | 0x82);
	ioapic_set_line(&io, 14, 1);
	ck_assert_uint_eq(out.fired[14], 0);
	ck_assert(!(rte_r(14) & IOAPIC_RTE_REMOTE_IRR));
	/* Unmasked with the line high: delivered then. */
	rte_w(14, IOAPIC_RTE_LEVEL | 0x82);
	ck_assert_uint_eq(out.fired[14], 1);
	/* Masked while awaiting the EOI: the EOI clears Remote IRR, delivery waits for the unmask. */
	rte_w(14, IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED | 0x82);
	ioapic_eoi(&io, 0x82);
	ck_assert_uint_eq(out.fired[14], 1);
	ck_assert(!(rte_r(14) & IOAPIC_RTE_REMOTE_IRR));
	rte_w(14, IOAPIC_RTE_LEVEL | 0x82);
	ck_assert_uint_eq(out.fired[14], 2);
	/* A lowered line is not delivered at the unmask. */
	ioapic_set_line(&io, 14, 0);
	ioapic_eoi(&io, 0x82);
	rte_w(14, IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED | 0x82);
	rte_w(14, IOAPIC_RTE_LEVEL | 0x82);
	ck_assert_uint_eq(out.fired[14], 2);
}
END_TEST

/* A route per change of the message, none for a mask bit alone or an unused masked pin. */
START_TEST(test_routes)
{
	rte_w(5, IOAPIC_RTE_MASKED | 0x30);
	ck_assert_uint_eq(out.route_calls[5], 0);
	rte_w(5, 0x30);
	ck_assert_uint_eq(out.route_calls[5], 1);
	rte_w(5, IOAPIC_RTE_MASKED | 0x30);
	rte_w(5, 0x30);
	ck_assert_uint_eq(out.route_calls[5], 1);
	rte_w(5, 0x31);
	ck_assert_uint_eq(out.route_calls[5], 2);
	ck_assert_uint_eq(out.data[5], 0x31);
	/* A wrapper of the ops (interrupt remapping) connected later gets every route in use. */
	struct rec_irq other;

	memset(&other, 0, sizeof(other));
	ioapic_connect(&io, (struct vm_irq){ &rec_ops, &other });
	ck_assert_uint_eq(other.route_calls[5], 1);
	ck_assert_uint_eq(other.data[5], 0x31);
	ck_assert_uint_eq(other.route_calls[6], 0);
	ioapic_set_line(&io, 5, 1);
	ck_assert_uint_eq(other.fired[5], 1);
	ck_assert_uint_eq(out.fired[5], 0);
}
END_TEST

/* Devices' ops: lines 0-23 are pins, no irqfds there, the rest passes through. */
START_TEST(test_front)
{
	struct vm_irq f = ioapic_front(&io);

	rte_w(7, 0x47);
	f.ops->set_line(f.ctx, 7, 1);
	ck_assert_uint_eq(out.fired[7], 1);
	ck_assert_uint_eq(pass.fired[7], 0);
	f.ops->set_line(f.ctx, 30, 1);
	ck_assert_uint_eq(pass.fired[30], 1);
	ck_assert_uint_eq(out.fired[30], 0);
	ck_assert_int_eq(f.ops->irqfd(f.ctx, 7, 3, 4, true), -EOPNOTSUPP);
	ck_assert_int_eq(f.ops->irqfd(f.ctx, 23, 3, -1, true), -EOPNOTSUPP);
	ck_assert_uint_eq(pass.irqfds, 0);
	ck_assert_int_eq(f.ops->irqfd(f.ctx, 24, 3, -1, true), 0);
	ck_assert_int_eq(pass.last_irqfd_gsi, 24);
	ck_assert_int_eq(f.ops->msi_alloc(f.ctx), 24);
	ck_assert_int_eq(f.ops->msi_route(f.ctx, 7, 0xfee00000, 0x41), -EINVAL);
	ck_assert_int_eq(f.ops->msi_route(f.ctx, 24, 0xfee00000, 0x41), 0);
	ck_assert_uint_eq(pass.data[24], 0x41);
	ck_assert_uint_eq(out.route_calls[24], 0);
}
END_TEST

START_TEST(test_save_restore)
{
	struct state_writer w;
	struct rec_irq out2, pass2;
	struct ioapic io2;

	reg_w(IOAPIC_REG_ID, 0x03000000);
	rte_w(1, 0x0100000000000021ULL);
	rte_w(10, IOAPIC_RTE_LEVEL | 0x5a);
	rte_w(12, IOAPIC_RTE_FORMAT | 0x0002000000000000ULL | IOAPIC_RTE_MASKED | 0x70);
	ioapic_set_line(&io, 10, 1);		/* level, awaiting its EOI */
	ioapic_set_line(&io, 3, 1);		/* masked pin held high */
	mmio_w32(IOAPIC_REGSEL, 0x15);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&ioapic_device_ops, &io, &w), 0);

	memset(&out2, 0, sizeof(out2));
	memset(&pass2, 0, sizeof(pass2));
	ioapic_init(&io2, (struct vm_irq){ &rec_ops, &out2 }, (struct vm_irq){ &rec_ops, &pass2 });
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io2, w.data, w.len), 0);
	ck_assert_mem_eq(&io2.regs, &io.regs, sizeof(io.regs));
	ck_assert(io2.regs.rte[10] & IOAPIC_RTE_REMOTE_IRR);
	/* The routes in use are set again; nothing is delivered by the restore itself. */
	ck_assert_uint_eq(out2.route_calls[1], 1);
	ck_assert_uint_eq(out2.addr[1], 0xfee01000);
	ck_assert_uint_eq(out2.route_calls[10], 1);
	ck_assert_uint_eq(out2.data[10], 0xc05a);
	ck_assert_uint_eq(out2.route_calls[12], 0);	/* masked, never used */
	for (unsigned i = 0; i < NR_GSI; i++)
		ck_assert_uint_eq(out2.fired[i], 0);
	/* And it goes on where it was: the EOI delivers the held level again. */
	ioapic_eoi(&io2, 0x5a);
	ck_assert_uint_eq(out2.fired[10], 1);
	ioapic_destroy(&io2);
	state_writer_free(&w);
}
END_TEST

/* A record this device could not have written is refused, and the device is reset. */
START_TEST(test_restore_refuses)
{
	struct state_writer w;
	uint8_t *rec;
	size_t rte10;

	rte_w(10, IOAPIC_RTE_LEVEL | 0x5a);
	state_writer_init(&w);
	ck_assert_int_eq(device_save_one(&ioapic_device_ops, &io, &w), 0);
	/* id u32, regsel u8, levels u32, pins u32, then the entries */
	rte10 = 4 + 1 + 4 + 4 + 10 * 8;
	rec = malloc(w.len);
	ck_assert_ptr_nonnull(rec);

	memcpy(rec, w.data, w.len);
	rec[rte10 + 1] |= IOAPIC_RTE_DELIVS >> 8;	/* delivery status: read-only */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, rec, w.len), -EINVAL);
	ck_assert_uint_eq(rte_r(10), IOAPIC_RTE_MASKED);

	memcpy(rec, w.data, w.len);
	rec[rte10 + 1] = (uint8_t)(IOAPIC_RTE_REMOTE_IRR >> 8);	/* Remote IRR on an edge entry */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, rec, w.len), -EINVAL);

	memcpy(rec, w.data, w.len);
	rec[0] = 1;					/* ID bits outside 24-27 */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, rec, w.len), -EINVAL);

	memcpy(rec, w.data, w.len);
	rec[4 + 1 + 3] = 0x01;				/* a line above pin 23 */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, rec, w.len), -EINVAL);

	memcpy(rec, w.data, w.len);
	rec[4 + 1 + 4] = 16;				/* another pin count */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, rec, w.len), -EINVAL);

	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, w.data, w.len - 1), -EINVAL);
	/* The untouched record still restores. */
	ck_assert_int_eq(device_restore_one(&ioapic_device_ops, &io, w.data, w.len), 0);
	ck_assert_uint_eq(rte_r(10), IOAPIC_RTE_LEVEL | 0x5a);
	free(rec);
	state_writer_free(&w);
}
END_TEST

/* Reset masks every entry and forgets Remote IRR; the lines stay the devices'. */
START_TEST(test_reset)
{
	rte_w(10, IOAPIC_RTE_LEVEL | 0x5a);
	ioapic_set_line(&io, 10, 1);
	ioapic_device_ops.reset(&io);
	ck_assert_uint_eq(rte_r(10), IOAPIC_RTE_MASKED);
	ck_assert_uint_eq(reg_r(IOAPIC_REG_ID), 0);
	/* Unmasked again with the line still high: delivered. */
	rte_w(10, IOAPIC_RTE_LEVEL | 0x5a);
	ck_assert_uint_eq(out.fired[10], 2);
}
END_TEST

/* The describe op: no PIC beside this IOAPIC, so no PCAT_COMPAT. */
START_TEST(test_describe)
{
	struct machine_desc m;

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(ioapic_device_ops.describe(&io, &m), 0);
	ck_assert(m.no_pic);
}
END_TEST

static Suite *ioapic_suite(void)
{
	Suite *s = suite_create("ioapic");
	TCase *tc = tcase_create("ioapic");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_registers);
	tcase_add_test(tc, test_msi_compat);
	tcase_add_test(tc, test_msi_remappable);
	tcase_add_test(tc, test_edge);
	tcase_add_test(tc, test_level_remote_irr);
	tcase_add_test(tc, test_level_mask);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_front);
	tcase_add_test(tc, test_save_restore);
	tcase_add_test(tc, test_restore_refuses);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_describe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testlib_run(ioapic_suite());
}
