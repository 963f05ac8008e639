/*
 * The split irqchip's IOAPIC (devices/ioapic.c) as a guest and its devices
 * drive it: MMIO at any offset and width in its 4 KiB window, input lines,
 * EOIs of any vector, resets.  A fake vm_irq checks what it asks of KVM:
 * routes only for GSIs 0-23 and to the APICs' MSI window, interrupts only on
 * a pin that is routed and unmasked, a level entry's only while its Remote
 * IRR was clear.
 *
 * Input: a stream of operations until the input ends: u8 op, then its
 * operands (offset u16, width u8, value u32; pin u8, level u8; vector u8).
 * At the end the record must restore into a fresh IOAPIC that saves the
 * same bytes, and a record with one byte changed must be refused or, when
 * taken, saved back unchanged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/ioapic.h"

#define MAX_OPS	1024

enum { OP_WRITE, OP_READ, OP_LINE, OP_EOI, OP_RESET, OP_COUNT };

struct fake {
	struct ioapic *io;	/* whose entries the checks read */
	bool routed[IOAPIC_NR_PINS];
};

static struct fake fk;

static void fake_set_line(void *ctx, unsigned gsi, int level)
{
	struct fake *f = ctx;

	FUZZ_CHECK(gsi < IOAPIC_NR_PINS && level == 1, "set_line(%u, %d)", gsi, level);
	FUZZ_CHECK(f->routed[gsi], "pin %u fired without a route", gsi);
	/* Called with the IOAPIC's lock held, right after it decided to deliver. */
	uint64_t rte = f->io->regs.rte[gsi];

	FUZZ_CHECK(!(rte & IOAPIC_RTE_MASKED), "masked pin %u fired (rte 0x%llx)", gsi,
		   (unsigned long long)rte);
	FUZZ_CHECK(!(rte & IOAPIC_RTE_LEVEL) || (rte & IOAPIC_RTE_REMOTE_IRR),
		   "level pin %u fired without setting Remote IRR", gsi);
}

static int fake_ioeventfd(void *ctx, bool pio, uint64_t addr, unsigned len, const uint64_t *match,
			  int fd, bool assign)
{
	(void)ctx, (void)pio, (void)addr, (void)len, (void)match, (void)fd, (void)assign;
	FUZZ_CHECK(false, "the IOAPIC asked for an ioeventfd");
	return -ENOSYS;
}

static int fake_irqfd(void *ctx, unsigned gsi, int fd, int resample_fd, bool assign)
{
	(void)ctx, (void)gsi, (void)fd, (void)resample_fd, (void)assign;
	FUZZ_CHECK(false, "the IOAPIC asked for an irqfd");
	return -ENOSYS;
}

static int fake_msi_alloc(void *ctx)
{
	(void)ctx;
	FUZZ_CHECK(false, "the IOAPIC allocated a GSI");
	return -ENOSPC;
}

static int fake_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fake *f = ctx;

	FUZZ_CHECK(gsi < IOAPIC_NR_PINS, "route for GSI %u", gsi);
	FUZZ_CHECK(irq_msi_address_valid(addr) && addr >> 32 == 0, "route to 0x%llx",
		   (unsigned long long)addr);
	FUZZ_CHECK(!(data & ~0xc7ffu), "MSI data 0x%x", data);
	f->routed[gsi] = true;
	return 0;
}

static const struct vm_irq_ops fake_ops = {
	.set_line = fake_set_line, .ioeventfd = fake_ioeventfd, .irqfd = fake_irqfd,
	.msi_alloc = fake_msi_alloc, .msi_route = fake_msi_route,
};

static void fresh(struct ioapic *io)
{
	struct vm_irq irq = { &fake_ops, &fk };

	memset(&fk, 0, sizeof(fk));
	fk.io = io;
	ioapic_init(io, irq, irq);
}

static void save(struct ioapic *io, struct state_writer *w)
{
	state_writer_init(w);
	FUZZ_CHECK(device_save_one(&ioapic_device_ops, io, w) == 0, "save failed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct state_writer w1, w2;
	struct ioapic io, io2;
	uint8_t buf[8];

	fresh(&io);
	for (unsigned n = 0; in.n && n < MAX_OPS; n++) {
		uint8_t op = in_u8(&in) % OP_COUNT;
		uint64_t off;
		uint32_t len, v;

		switch (op) {
		case OP_WRITE:
		case OP_READ:
			off = in_u16(&in) % IOAPIC_MMIO_LEN;
			len = 1u << (in_u8(&in) % 4);		/* 1, 2, 4, 8 */
			v = in_u32(&in);
			memset(buf, 0, sizeof(buf));
			memcpy(buf, &v, 4);
			ioapic_mmio(&io, off, buf, len, op == OP_WRITE);
			break;
		case OP_LINE: {
			uint8_t pin = in_u8(&in);

			ioapic_set_line(&io, pin % 32, in_u8(&in) & 1);
			break;
		}
		case OP_EOI:
			ioapic_eoi(&io, in_u8(&in));
			break;
		case OP_RESET:
			ioapic_reset(&io);
			break;
		}
		for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
			FUZZ_CHECK(!(io.regs.rte[i] & IOAPIC_RTE_REMOTE_IRR) ||
				   (io.regs.rte[i] & IOAPIC_RTE_LEVEL),
				   "edge pin %u holds Remote IRR", i);
	}

	/* The record round-trips; a byte changed is refused or saved back as taken. */
	save(&io, &w1);
	fresh(&io2);
	FUZZ_CHECK(device_restore_one(&ioapic_device_ops, &io2, w1.data, w1.len) == 0,
		   "own record refused");
	save(&io2, &w2);
	FUZZ_CHECK(w1.len == w2.len && !memcmp(w1.data, w2.data, w1.len), "round trip differs");
	state_writer_free(&w2);
	if (w1.len && size) {
		size_t at = data[0] % w1.len;

		w1.data[at] ^= (uint8_t)(data[size - 1] | 1);
		ioapic_destroy(&io2);
		fresh(&io2);
		if (device_restore_one(&ioapic_device_ops, &io2, w1.data, w1.len) == 0) {
			save(&io2, &w2);
			FUZZ_CHECK(w1.len == w2.len && !memcmp(w1.data, w2.data, w1.len),
				   "a changed record was taken but saves differently");
			state_writer_free(&w2);
		}
	}
	state_writer_free(&w1);
	ioapic_destroy(&io2);
	ioapic_destroy(&io);
	return 0;
}
