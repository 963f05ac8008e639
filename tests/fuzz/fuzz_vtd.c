/*
 * The VT-d unit (devices/vtd.c) and the edu device (devices/edu.c) as a
 * hostile guest drives them: register writes of any width at any offset,
 * root/context/page/IRT/queue entries written anywhere in RAM, the edu's
 * registers, DMA engine and configuration space, translations, DMAs and MSI
 * routes through the unit's vm_irq wrapper.  Nothing may read or write
 * outside guest RAM (AddressSanitizer), a DMA that fails must leave RAM as
 * it was, and at the end both devices' records must restore onto fresh
 * devices that save the same bytes.
 *
 * Input: u8 flags (1: interrupt remapping; 2: the edu's DMA through the
 * unit), then operations until the input ends: u8 op, then its operands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/edu.h"
#include "kvmrun/pci.h"
#include "kvmrun/vtd.h"

#define RAM0		0x40000ULL	/* 256 KiB: tables land on each other often */
#define MAX_OPS		512
#define MAX_GSI		64

enum { OP_VTD_WRITE, OP_VTD_READ, OP_POKE, OP_TABLES, OP_EDU_WRITE, OP_EDU_READ, OP_CFG,
       OP_TRANSLATE, OP_DMA, OP_ROUTE, OP_MSI, OP_COUNT };

static struct guest_mem mem;
static struct vtd vtd, twin;
static struct edu edu;
static struct pci_bus bus;
static unsigned next_gsi;
static const uint32_t widths[] = { 1, 2, 4, 8 };

static void line_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	FUZZ_CHECK(gsi < MAX_GSI && level >= 0 && level <= 1, "line %u level %d", gsi, level);
}

static int msi_alloc(void *ctx)
{
	(void)ctx;
	return next_gsi < MAX_GSI ? (int)next_gsi++ : -ENOSPC;
}

/* What KVM gets: never a remappable-format message while the unit remaps. */
static int msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	const struct vtd *v = ctx;

	(void)data;
	FUZZ_CHECK(gsi < next_gsi, "route for GSI %u never allocated", gsi);
	/* The unit's own event messages are the guest's FEADDR/IEADDR, not remapped. */
	if (v && (int)gsi != v->event_gsi && (v->r.gsts & VTD_GCMD_IRE) &&
	    irq_msi_address_valid(addr))
		FUZZ_CHECK(!(addr & VTD_MSI_REMAPPABLE), "a remappable message 0x%llx reached KVM",
			   (unsigned long long)addr);
	return 0;
}

static const struct vm_irq_ops fuzz_irq = {
	.set_line = line_set, .ioeventfd = fuzz_no_ioeventfd, .irqfd = fuzz_no_irqfd,
	.msi_alloc = msi_alloc, .msi_route = msi_route,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, 0, 0);
	return 0;
}

static void put64(uint64_t gpa, uint64_t v)
{
	guest_mem_write(&mem, gpa % (RAM0 - 7), &v, 8);
}

/* A plausible set of tables for the edu's requester id, so that walks go deep. */
static void tables(struct fuzz_in *in)
{
	uint16_t sid = edu_sid(&edu);
	uint64_t perm = in_u8(in) & 3, aw = 1 + (in_u8(in) & 1);

	put64(0x1000, 0x2000 | 1);
	put64(0x2000 + (sid & 0xff) * 16, 0x3000 | 1);
	put64(0x2000 + (sid & 0xff) * 16 + 8, aw);
	put64(0x3000, 0x4000 | 3);
	put64(0x4000, 0x5000 | 3);
	put64(0x5000, 0x6000 | 3);
	put64(0x5000 + 8 * (in_u8(in) & 7), (uint64_t)in_u16(in) << 12 | perm);
	put64(0x4000 + 8, (uint64_t)in_u8(in) << 21 | VTD_PTE_PS | perm);
	put64(0x7000 + 16 * (in_u8(in) & 15), in_u64(in));
}

static void vtd_access(uint32_t off, uint32_t len, uint64_t v, bool write)
{
	vtd_mmio(&vtd, off, (uint8_t *)&v, len, write);
}

static void check_dma(struct fuzz_in *in)
{
	uint8_t buf[0x1800], *before = malloc(RAM0), *ram = guest_mem_ptr(&mem, 0, RAM0);
	uint64_t iova = in_u32(in);
	size_t len = in_u16(in) % sizeof(buf);
	bool write = in_u8(in) & 1;
	int ret;

	if (!before)
		abort();
	memset(buf, 0xa5, sizeof(buf));
	memcpy(before, ram, RAM0);
	ret = vtd_dma_rw(&vtd, in_u16(in), iova, buf, len, write);
	FUZZ_CHECK(ret == 0 || ret == -EFAULT, "vtd_dma_rw returned %d", ret);
	/* A failed DMA moved nothing; the unit's own writes are only the queue's, not here. */
	if (ret)
		FUZZ_CHECK(!memcmp(before, ram, RAM0), "a failed DMA changed guest RAM");
	free(before);
}

static void roundtrip_vtd(const uint8_t *data, size_t size)
{
	struct state_writer w, again;
	struct state_reader r;

	state_writer_init(&w);
	FUZZ_CHECK(!vtd_save(&vtd, &w), "vtd save");
	for (int pass = 0; pass < 2; pass++) {
		int ret;

		if (pass)
			w.data[size % w.len] ^= (uint8_t)(data[0] | 1);
		vtd_init(&twin, &mem, (struct vm_irq){ &fuzz_irq, NULL }, vtd.intremap);
		state_reader_init(&r, w.data, w.len);
		ret = vtd_restore(&twin, &r, 1);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL, "vtd restore returned %d", ret);
		FUZZ_CHECK(pass || ret == 0, "a saved vtd record was refused");
		if (!ret) {
			state_writer_init(&again);
			FUZZ_CHECK(!vtd_save(&twin, &again), "vtd save again");
			FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
				   "the vtd record changed through a restore");
			state_writer_free(&again);
		}
		vtd_destroy(&twin);
	}
	state_writer_free(&w);
}

static void roundtrip_edu(void)
{
	struct state_writer w, again;
	struct state_reader r;

	state_writer_init(&w);
	FUZZ_CHECK(!edu_save(&edu, &w), "edu save");
	state_reader_init(&r, w.data, w.len);
	FUZZ_CHECK(!edu_restore(&edu, &r, 1), "a saved edu record was refused");
	state_writer_init(&again);
	FUZZ_CHECK(!edu_save(&edu, &again), "edu save again");
	FUZZ_CHECK(again.len == w.len && !memcmp(again.data, w.data, w.len),
		   "the edu record changed through a restore");
	state_writer_free(&again);
	state_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = in_u8(&in);
	struct vm_irq raw = { &fuzz_irq, NULL }, wrapped;
	uint64_t bar;

	fuzz_mem_clear(&mem);
	next_gsi = 24;
	vtd_init(&vtd, &mem, raw, flags & 1);
	raw.ctx = &vtd;
	vtd.inner = raw;
	wrapped = (flags & 1) ? vtd_irq(&vtd) : raw;
	if (edu_init(&edu, &mem, (flags & 2) ? &vtd : NULL, wrapped))
		abort();
	pci_bus_init(&bus);
	if (pci_bus_add(&bus, &edu.fn) < 0)
		abort();
	bar = edu.fn.bar_decoded[0];

	for (unsigned n = 0; n < MAX_OPS && in.n; n++) {
		uint8_t op = in_u8(&in) % OP_COUNT;
		uint64_t v, gpa, span;
		uint32_t off, len, d32;

		switch (op) {
		case OP_VTD_WRITE:
		case OP_VTD_READ:
			off = in_u16(&in) % (VTD_SIZE + 8);
			len = widths[in_u8(&in) % 4];
			v = in_u64(&in);
			/* Table addresses mostly inside RAM, so that walks find something. */
			if (off == VTD_RTADDR || off == VTD_IQA || off == VTD_IRTA)
				v %= RAM0;
			vtd_access(off, len, v, op == OP_VTD_WRITE);
			break;
		case OP_POKE:
			gpa = in_u32(&in);
			put64(gpa, in_u64(&in));
			break;
		case OP_TABLES:
			tables(&in);
			break;
		case OP_EDU_WRITE:
		case OP_EDU_READ:
			off = in_u32(&in) % EDU_BAR_SIZE;
			len = widths[in_u8(&in) % 4];
			v = in_u64(&in) % (RAM0 + 0x100);
			if (bar && off + len <= EDU_BAR_SIZE)
				pci_window_io(&bus, bar - PCI_WINDOW_BASE + off, (uint8_t *)&v, len,
					      op == OP_EDU_WRITE);
			break;
		case OP_CFG:
			off = in_u8(&in);
			len = widths[in_u8(&in) % 3];
			d32 = in_u32(&in);
			if (!(off & (len - 1)))
				pci_config_access(&bus, edu.fn.slot, 0, off, (uint8_t *)&d32, len,
						  in_u8(&in) & 1);
			bar = edu.fn.bar_decoded[0];
			break;
		case OP_TRANSLATE: {
			uint16_t sid = in_u16(&in);
			uint64_t iova = in_u64(&in);
			int ret = vtd_translate(&vtd, sid, iova, in_u8(&in) & 1, &gpa, &span);

			FUZZ_CHECK(ret == 0 || ret == -EFAULT, "translate returned %d", ret);
			FUZZ_CHECK(ret || (span >= 1 && span <= (1ull << 30)), "span %llu",
				   (unsigned long long)span);
			break;
		}
		case OP_DMA:
			check_dma(&in);
			break;
		case OP_ROUTE: {
			unsigned gsi = 24 + in_u8(&in) % 8;

			v = 0xfee00000 | (in_u32(&in) & 0xfffff);
			if (gsi < next_gsi)
				wrapped.ops->msi_route(wrapped.ctx, gsi, v, in_u32(&in));
			break;
		}
		case OP_MSI: {
			uint64_t a;
			uint32_t dd;

			v = 0xfee00000 | (in_u32(&in) & 0xfffff);
			vtd_msi_translate(&vtd, v, in_u32(&in), &a, &dd);
			break;
		}
		}
	}
	roundtrip_vtd(data, size);
	roundtrip_edu();
	pci_bus_destroy(&bus);
	edu_destroy(&edu);
	vtd_destroy(&vtd);
	return 0;
}
