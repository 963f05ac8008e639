/*
 * Hostile virtqueues (issue 5): a driver that writes impossible descriptors,
 * chains, indirect tables, ring indexes and ring layouts into the queue of a
 * virtio-blk disk, on either transport, while another vCPU keeps reading from
 * a virtio-rng (see hostile.h).
 *
 * Each scenario starts from a freshly initialized disk and checks what the
 * spec asks of the device:
 *   - a malformed chain or ring: DEVICE_NEEDS_RESET in Status, with a
 *     configuration change notification (ISR bit 1); more notifications and
 *     buffers after that change nothing (and, checked by the test through
 *     kvmrun's log, the problem is logged once, not once per kick);
 *   - a well-formed chain carrying a bad request: a used buffer whose status
 *     byte says IOERR or UNSUPP, and nothing written where it must not be;
 *   - legal corner cases (a buffer ending exactly at the end of RAM, a
 *     zero-length buffer, 256 segments, rings in the last bytes of RAM, one
 *     chain in every slot of the available ring): they work;
 * then that the disk works again after a reset and a fresh initialization,
 * and that the other vCPU made progress with the other device meanwhile.
 *
 * Command line: transport=pci|mmio (what to expect).  Needs --cpus 2, --rng,
 * and --disk with the image tests/integration/guests.cmake writes.
 */
#include "hostile.h"

#define W	VIRTQ_DESC_F_WRITE
#define N	VIRTQ_DESC_F_NEXT
#define I	VIRTQ_DESC_F_INDIRECT
#define BIG_SECTORS	254	/* data segments of a request at the 256-segment limit */

static struct blk_hdr hdr_in = { VIRTIO_BLK_T_IN, 0, 0 };
static struct blk_hdr hdr_x;
static uint8_t st;
static uint8_t dbuf[SECTOR] __attribute__((aligned(4096)));
static uint8_t bigbuf[BIG_SECTORS * SECTOR] __attribute__((aligned(4096)));
static struct virtq_desc table[2048] __attribute__((aligned(16)));
static uint8_t user_stack[65536] __attribute__((aligned(16)));

/* ---- raw descriptors ---- */

static void dsc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	bvq.desc[i] = (struct virtq_desc){ addr, len, flags, next };
}

static void tbl(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	table[i] = (struct virtq_desc){ addr, len, flags, next };
}

/* Makes head available (raw: the library's free list is not used). */
static void post(uint16_t head)
{
	bvq.avail_ring[bvq.next_avail & (bvq.size - 1)] = head;
	__asm__ volatile("" ::: "memory");
	bvq.next_avail++;
	*bvq.avail_idx = bvq.next_avail;
}

/* header, one data buffer, status byte in descriptors first, first + 1, first + 2 */
static void chain3(unsigned first, const void *hdr, uint64_t data, uint32_t len, uint16_t dflags)
{
	dsc(first, (uint64_t)hdr, sizeof(struct blk_hdr), N, (uint16_t)(first + 1));
	dsc(first + 1, data, len, (uint16_t)(dflags | N), (uint16_t)(first + 2));
	dsc(first + 2, (uint64_t)&st, 1, W, 0);
}

static void post_kick(uint16_t head)
{
	st = 0xff;
	post(head);
	virtq_notify(&bvq);
}

/* ---- what the device must do ---- */

/* Waits until n more used entries are there; false when NEEDS_RESET came instead or after 3 s. */
static bool wait_used(uint16_t base, uint16_t n)
{
	uint64_t t = rdtsc(), look = rdtsc();

	while ((uint16_t)(*bvq.used_idx - base) < n) {
		if (ms_since(t) > 3000)
			return false;
		if (ms_since(look) >= 1) {
			look = rdtsc();
			if (virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET)
				return (uint16_t)(*bvq.used_idx - base) >= n;
		}
		pause();
	}
	return true;
}

/*
 * The chain just posted is malformed: NEEDS_RESET and a configuration change
 * notification.  Then prods the broken queue (a good chain and three more
 * notifications): it stays broken, and kvmrun must not log again.
 */
static void expect_broken(const char *what)
{
	uint32_t isr;

	hcheck(virtio_wait_status(&blk, VIRTIO_STATUS_NEEDS_RESET, 3000),
	       "no DEVICE_NEEDS_RESET within 3 s (status 0x%x, used idx %u)", virtio_status(&blk), *bvq.used_idx);
	isr = virtio_irq_ack(&blk);
	hcheck(isr & ISR_CONFIG, "DEVICE_NEEDS_RESET without a configuration change notification (ISR 0x%x)", isr);
	chain3(120, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	post(120);
	for (unsigned i = 0; i < 3; i++)
		virtq_notify(&bvq);
	delay_ms(20);
	hcheck(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET, "DEVICE_NEEDS_RESET went away without a reset");
	scen_needs_reset++;
	blk_works();
	scen_end("DEVICE_NEEDS_RESET (%s), config change; works after a reset", what);
}

/* The request just posted completes (the chain is fine) with a status byte in want (a bit mask of statuses). */
static uint8_t expect_status(unsigned want)
{
	hcheck(wait_used(0, 1), "no completion within 3 s (status 0x%x)", virtio_status(&blk));
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "a well-formed chain set DEVICE_NEEDS_RESET");
	hcheck(st < 8 && (want & (1u << st)), "request status %u, expected one of mask 0x%x", st, want);
	return st;
}

static void done_status(unsigned want, const char *fmt)
{
	uint8_t s = expect_status(want);

	blk_works();
	scen_end(fmt, s == 0 ? "OK" : s == 1 ? "IOERR" : "UNSUPP");
}

#define S_OK		(1u << VIRTIO_BLK_S_OK)
#define S_IOERR		(1u << VIRTIO_BLK_S_IOERR)
#define S_UNSUPP	(1u << VIRTIO_BLK_S_UNSUPP)

/* ---- buffers in the wrong place ---- */

static void bad_buffer(uint64_t addr, uint32_t len, const char *what)
{
	chain3(0, &hdr_in, addr, len, W);
	post_kick(0);
	expect_broken(what);
}

static void s_beyond_ram(void) { bad_buffer(ram_end + 0x100000, SECTOR, "buffer outside RAM"); }
static void s_straddle_ram(void) { bad_buffer(ram_end - 256, SECTOR, "buffer across the end of RAM"); }
static void s_mmio_window(void) { bad_buffer(0xfeb00000, SECTOR, "buffer on the virtio-mmio windows"); }
static void s_pci_window(void) { bad_buffer(0xc0000000, SECTOR, "buffer on the PCI BAR window"); }
static void s_lapic(void) { bad_buffer(0xfee00000, SECTOR, "buffer on the local APIC"); }
static void s_wrap(void) { bad_buffer(0xfffffffffffff000ULL, 0x2000, "addr + len wraps around 2^64"); }
static void s_end_2_64(void) { bad_buffer(0ULL - SECTOR, SECTOR, "buffer ending at 2^64"); }
static void s_gigantic(void) { bad_buffer(0x100000, 0xffffffffu, "len 0xffffffff"); }

static void s_end_of_ram(void)
{
	uint8_t *p = (uint8_t *)(ram_end - SECTOR);

	memset(p, 0, SECTOR);
	chain3(0, &hdr_in, (uint64_t)p, SECTOR, W);
	post_kick(0);
	expect_status(S_OK);
	hcheck(disk_text_ok(p, SECTOR), "the read into the last 512 bytes of RAM returned wrong data");
	blk_works();
	scen_end("read into the last 512 bytes of RAM: OK, right data");
}

/* ---- lengths and directions ---- */

static void s_zero_len_middle(void)
{
	memset(dbuf, 0, sizeof(dbuf));
	dsc(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 1);
	dsc(1, (uint64_t)bigbuf, 0, W | N, 2);
	dsc(2, (uint64_t)dbuf, SECTOR, W | N, 3);
	dsc(3, (uint64_t)bigbuf, 0, W | N, 4);
	dsc(4, (uint64_t)&st, 1, W, 0);
	post_kick(0);
	expect_status(S_OK);
	hcheck(disk_text_ok(dbuf, SECTOR), "wrong data around zero-length buffers");
	blk_works();
	scen_end("zero-length buffers around the data: OK, right data");
}

static void s_zero_len_header(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	bvq.desc[0].len = 0;
	post_kick(0);
	expect_broken("zero-length header");
}

static void s_zero_len_status(void)
{
	dsc(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 1);
	dsc(1, (uint64_t)&st, 0, W, 0);
	post_kick(0);
	expect_broken("no writable byte for the status");
}

static void s_header_writable(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	bvq.desc[0].flags |= W;
	post_kick(0);
	expect_broken("header marked device-writable");
}

static void s_status_readable(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	bvq.desc[2].flags = 0;
	post_kick(0);
	expect_broken("readable descriptor after a writable one");
}

/* A read whose data buffer is device-readable: the device must not write into it. */
static void s_read_into_readable(void)
{
	memset(dbuf, 0xa5, sizeof(dbuf));
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, 0);
	post_kick(0);
	expect_status(S_OK | S_IOERR);
	for (unsigned i = 0; i < SECTOR; i++)
		hcheck(dbuf[i] == 0xa5, "the device wrote into a device-readable buffer (byte %u)", i);
	blk_works();
	scen_end("status %s, the device-readable buffer untouched", st ? "IOERR" : "OK");
}

/* A write whose data buffer is device-writable: nothing may reach the disk. */
static void s_write_from_writable(void)
{
	static uint8_t before[SECTOR], after[SECTOR];

	hcheck(blk_read(SCRATCH_SECTOR, before, 1, false) == VIRTIO_BLK_S_OK, "reading the scratch sector failed");
	hdr_x = (struct blk_hdr){ VIRTIO_BLK_T_OUT, 0, SCRATCH_SECTOR };
	for (unsigned i = 0; i < SECTOR; i++)
		dbuf[i] = (uint8_t)~before[i];
	chain3(100, &hdr_x, (uint64_t)dbuf, SECTOR, W);
	st = 0xff;
	post(100);
	virtq_notify(&bvq);
	hcheck(wait_used(1, 1), "no completion within 3 s (status 0x%x)", virtio_status(&blk));
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "a well-formed chain set DEVICE_NEEDS_RESET");
	hcheck(st == VIRTIO_BLK_S_OK || st == VIRTIO_BLK_S_IOERR, "status %u", st);
	blk_fresh(blk_feats);
	hcheck(blk_read(SCRATCH_SECTOR, after, 1, false) == VIRTIO_BLK_S_OK, "reading the scratch sector failed");
	hcheck(same_bytes(before, after, SECTOR), "a write from a device-writable buffer changed the disk");
	blk_works();
	scen_end("status %s, the disk unchanged", st ? "IOERR" : "OK");
}

/* ---- loops and indexes ---- */

static void s_loop(void)
{
	dsc(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 1);
	dsc(1, (uint64_t)dbuf, SECTOR, W | N, 0);
	post_kick(0);
	expect_broken("loop 0 -> 1 -> 0");
}

static void s_self_loop(void)
{
	dsc(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 0);
	post_kick(0);
	expect_broken("descriptor 0 -> 0");
}

static void s_full_loop(void)
{
	unsigned n = bvq.size;

	dsc(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 1);
	for (unsigned i = 1; i < n; i++)
		dsc(i, (uint64_t)dbuf, SECTOR, W | N, (uint16_t)((i + 1) % n));
	post_kick(0);
	expect_broken("a chain through all 128 descriptors and back");
}

static void s_next_out_of_range(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	bvq.desc[1].next = bvq.size;
	post_kick(0);
	expect_broken("next index = queue size");
}

static void s_head_out_of_range(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	post_kick(bvq.size);
	expect_broken("head index = queue size");
}

static void s_head_ffff(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	post_kick(0xffff);
	expect_broken("head index 0xffff");
}

static void s_avail_jump(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	post(0);
	bvq.next_avail = (uint16_t)(bvq.size + 1);
	*bvq.avail_idx = bvq.next_avail;
	virtq_notify(&bvq);
	expect_broken("avail idx = queue size + 1");
}

static void s_avail_backwards(void)
{
	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	post_kick(0);
	expect_status(S_OK);
	*bvq.avail_idx = 0xffff;	/* one behind what the device has consumed */
	virtq_notify(&bvq);
	expect_broken("avail idx moved backwards");
}

/* The same chain in all 128 slots of the available ring: legal for the walker, 128 completions. */
static void s_same_chain_everywhere(void)
{
	unsigned n = bvq.size;

	chain3(0, &hdr_in, (uint64_t)dbuf, SECTOR, W);
	for (unsigned i = 0; i < n; i++)
		bvq.avail_ring[i] = 0;
	__asm__ volatile("" ::: "memory");
	*bvq.avail_idx = (uint16_t)n;
	bvq.next_avail = (uint16_t)n;
	st = 0xff;
	virtq_notify(&bvq);
	hcheck(wait_used(0, (uint16_t)n), "%u of %u completions", *bvq.used_idx, n);
	for (unsigned i = 0; i < n; i++)
		hcheck(bvq.used_ring[i].id == 0 && bvq.used_ring[i].len == SECTOR + 1,
		       "used entry %u: id %u len %u", i, bvq.used_ring[i].id, bvq.used_ring[i].len);
	hcheck(st == VIRTIO_BLK_S_OK && disk_text_ok(dbuf, SECTOR), "status %u or wrong data", st);
	blk_works();
	scen_end("a full ring of one chain: %u completions, right data", n);
}

/* ---- indirect tables ---- */

static void post_indirect(uint64_t addr, uint32_t len, uint16_t flags)
{
	dsc(0, addr, len, (uint16_t)(I | flags), 1);
	post_kick(0);
}

/* hdr, n - 2 data sectors (into bigbuf, wrapping), status: a table of n entries. */
static void table_chain(unsigned n)
{
	tbl(0, (uint64_t)&hdr_in, sizeof(hdr_in), N, 1);
	for (unsigned i = 1; i + 1 < n; i++)
		tbl(i, (uint64_t)bigbuf + (i - 1) % BIG_SECTORS * SECTOR, SECTOR, W | N, (uint16_t)(i + 1));
	tbl(n - 1, (uint64_t)&st, 1, W, 0);
}

static void s_indirect_unnegotiated(void)
{
	blk_fresh(blk_feats & ~VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC));
	table_chain(3);
	post_indirect((uint64_t)table, 3 * 16, 0);
	expect_broken("indirect descriptor, feature not negotiated");
}

static void s_indirect_loop(void)
{
	table_chain(3);
	table[1].next = 0;
	post_indirect((uint64_t)table, 3 * 16, 0);
	expect_broken("loop inside an indirect table");
}

static void s_indirect_next_range(void)
{
	table_chain(3);
	table[1].next = 3;
	post_indirect((uint64_t)table, 3 * 16, 0);
	expect_broken("indirect next index beyond the table");
}

static void s_indirect_len0(void)
{
	table_chain(3);
	post_indirect((uint64_t)table, 0, 0);
	expect_broken("indirect table of length 0");
}

static void s_indirect_len_odd(void)
{
	table_chain(3);
	post_indirect((uint64_t)table, 40, 0);
	expect_broken("indirect table of 40 bytes");
}

static void s_indirect_too_many(void)
{
	table_chain(2048);
	post_indirect((uint64_t)table, 2048 * 16, 0);
	expect_broken("indirect table of 2048 entries");
}

static void s_indirect_gigantic(void)
{
	table_chain(3);
	post_indirect((uint64_t)table, 0xfffffff0u, 0);
	expect_broken("indirect table length 0xfffffff0");
}

static void s_indirect_wrap(void)
{
	post_indirect(0xfffffffffffffff0ULL, 48, 0);
	expect_broken("indirect table wrapping around 2^64");
}

static void s_indirect_beyond_ram(void)
{
	post_indirect(ram_end - 16, 48, 0);
	expect_broken("indirect table across the end of RAM");
}

static void s_indirect_nested(void)
{
	static struct virtq_desc inner[3] __attribute__((aligned(16)));

	inner[0] = (struct virtq_desc){ (uint64_t)&hdr_in, sizeof(hdr_in), N, 1 };
	inner[1] = (struct virtq_desc){ (uint64_t)dbuf, SECTOR, W | N, 2 };
	inner[2] = (struct virtq_desc){ (uint64_t)&st, 1, W, 0 };
	tbl(0, (uint64_t)inner, sizeof(inner), I, 0);
	post_indirect((uint64_t)table, 16, 0);
	expect_broken("indirect table inside an indirect table");
}

static void s_indirect_with_next(void)
{
	table_chain(3);
	dsc(1, (uint64_t)dbuf, SECTOR, W, 0);
	post_indirect((uint64_t)table, 3 * 16, N);
	expect_broken("indirect descriptor with NEXT");
}

static void s_indirect_256(void)
{
	memset(bigbuf, 0, sizeof(bigbuf));
	table_chain(BIG_SECTORS + 2);
	post_indirect((uint64_t)table, (BIG_SECTORS + 2) * 16, 0);
	expect_status(S_OK);
	hcheck(disk_text_ok(bigbuf, sizeof(bigbuf)), "wrong data in a 256-segment read");
	blk_works();
	scen_end("256 segments (254 data sectors): OK, right data");
}

static void s_indirect_257(void)
{
	table_chain(BIG_SECTORS + 3);
	post_indirect((uint64_t)table, (BIG_SECTORS + 3) * 16, 0);
	expect_broken("257 segments");
}

static void s_indirect_1024(void)
{
	table_chain(1024);
	post_indirect((uint64_t)table, 1024 * 16, 0);
	expect_broken("1024 segments");
}

/* ---- well-formed chains, bad requests ---- */

static void s_request_64m(void)
{
	/* 64 MiB + 512 bytes of RAM from 64 MiB up: more than one request may move. */
	chain3(0, &hdr_in, 0x4000000, 0x4000000 + SECTOR, W);
	post_kick(0);
	done_status(S_IOERR, "a 64 MiB + 512 byte read: %s");
}

static void s_request_odd_len(void)
{
	chain3(0, &hdr_in, (uint64_t)bigbuf, SECTOR + 1, W);
	post_kick(0);
	done_status(S_IOERR, "a 513-byte read: %s");
}

static void s_request_past_end(void)
{
	hdr_x = (struct blk_hdr){ VIRTIO_BLK_T_IN, 0, virtio_config64(&blk, 0) };
	chain3(0, &hdr_x, (uint64_t)dbuf, SECTOR, W);
	post_kick(0);
	done_status(S_IOERR, "a read at the capacity: %s");
}

static void s_request_sector_overflow(void)
{
	hdr_x = (struct blk_hdr){ VIRTIO_BLK_T_IN, 0, ~0ULL };
	chain3(0, &hdr_x, (uint64_t)dbuf, SECTOR, W);
	post_kick(0);
	done_status(S_IOERR, "a read at sector 2^64-1: %s");
}

static void s_request_unknown(void)
{
	hdr_x = (struct blk_hdr){ 0x7fff0000u, 0, 0 };
	chain3(0, &hdr_x, (uint64_t)dbuf, SECTOR, W);
	post_kick(0);
	done_status(S_UNSUPP, "request type 0x7fff0000: %s");
}

/* ---- queue layouts ---- */

/* Queue 0 with this size and ring addresses, then enable (after FEATURES_OK, before DRIVER_OK). */
static void queue_program(unsigned size, uint64_t desc, uint64_t avail, uint64_t used)
{
	if (blk.pci) {
		uint64_t c = blk.common;

		mmio_wr(c + VPCI_Q_SELECT, 2, 0);
		mmio_wr(c + VPCI_Q_SIZE, 2, size);
		/* 64-bit fields as two 32-bit halves, as the spec has drivers do (4.1.3.1). */
		mmio_wr(c + VPCI_Q_DESC, 4, (uint32_t)desc);
		mmio_wr(c + VPCI_Q_DESC + 4, 4, (uint32_t)(desc >> 32));
		mmio_wr(c + VPCI_Q_DRIVER, 4, (uint32_t)avail);
		mmio_wr(c + VPCI_Q_DRIVER + 4, 4, (uint32_t)(avail >> 32));
		mmio_wr(c + VPCI_Q_DEVICE, 4, (uint32_t)used);
		mmio_wr(c + VPCI_Q_DEVICE + 4, 4, (uint32_t)(used >> 32));
		mmio_wr(c + VPCI_Q_ENABLE, 2, 1);
	} else {
		uint64_t b = blk.base;

		mmio_wr(b + VIRTIO_MMIO_QUEUE_SEL, 4, 0);
		mmio_wr(b + VIRTIO_MMIO_QUEUE_NUM, 4, size);
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DESC_LOW, 4, (uint32_t)desc);
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DESC_HIGH, 4, (uint32_t)(desc >> 32));
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DRIVER_LOW, 4, (uint32_t)avail);
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 4, (uint32_t)(avail >> 32));
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DEVICE_LOW, 4, (uint32_t)used);
		mmio_wr(b + VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 4, (uint32_t)(used >> 32));
		mmio_wr(b + VIRTIO_MMIO_QUEUE_READY, 4, 1);
	}
}

static uint32_t queue0_ready(void)
{
	if (blk.pci) {
		mmio_wr(blk.common + VPCI_Q_SELECT, 2, 0);
		return (uint32_t)mmio_rd(blk.common + VPCI_Q_ENABLE, 2);
	}
	mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_SEL, 4, 0);
	return (uint32_t)mmio_rd(blk.base + VIRTIO_MMIO_QUEUE_READY, 4);
}

/* Enabling must fail: NEEDS_RESET, the queue not ready; a reset brings the device back. */
static void refused_enable(unsigned size, uint64_t desc, uint64_t avail, uint64_t used, const char *what)
{
	hcheck(virtio_init(&blk, blk_feats) == 0, "initialization failed");
	queue_program(size, desc, avail, used);
	hcheck(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET, "%s: enabling did not set NEEDS_RESET", what);
	hcheck(!queue0_ready(), "%s: the queue reads as enabled", what);
	scen_needs_reset++;
}

static void s_queue_sizes(void)
{
	static const unsigned sizes[] = { 0, 3, 100, 512 };

	for (unsigned i = 0; i < 4; i++) {
		char what[32];

		snprintf(what, sizeof(what), "queue size %u", sizes[i]);
		refused_enable(sizes[i], (uint64_t)bvq.desc, (uint64_t)bvq.avail_mem, (uint64_t)bvq.used_mem, what);
	}
	blk_works();
	scen_end("sizes 0, 3, 100 and 512 refused at enable (NEEDS_RESET); works after a reset");
}

static void s_ring_addresses(void)
{
	uint64_t d = (uint64_t)bvq.desc, a = (uint64_t)bvq.avail_mem, u = (uint64_t)bvq.used_mem;

	refused_enable(128, ram_end + 0x10000, a, u, "descriptor table outside RAM");
	refused_enable(128, d, 0xfeb00000, u, "available ring on the virtio-mmio windows");
	refused_enable(128, d, a, 0xfffffffffffffff0ULL, "used ring wrapping around 2^64");
	refused_enable(128, d + 8, a, u, "descriptor table not 16-byte aligned");
	blk_works();
	scen_end("rings outside RAM, in the MMIO hole, wrapping 2^64, misaligned: refused at enable; works after a reset");
}

/* Rings in the last pages of RAM, the available ring's last byte the last byte of RAM. */
static void s_rings_at_end_of_ram(void)
{
	const unsigned n = 8;
	uint64_t desc = ram_end - 0x2000, used = ram_end - 0x1000, avail = ram_end - (6 + 2 * n);
	struct virtq_desc *dt = (struct virtq_desc *)desc;
	volatile uint16_t *av = (volatile uint16_t *)avail, *uidx = (volatile uint16_t *)(used + 2);

	memset((void *)desc, 0, 0x2000);
	hcheck(virtio_init(&blk, blk_feats) == 0, "initialization failed");
	queue_program(n, desc, avail, used);
	hcheck(queue0_ready() == 1 && !(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET),
	       "rings ending at the end of RAM were refused (status 0x%x)", virtio_status(&blk));
	virtio_driver_ok(&blk);
	memset(dbuf, 0, sizeof(dbuf));
	dt[0] = (struct virtq_desc){ (uint64_t)&hdr_in, sizeof(hdr_in), N, 1 };
	dt[1] = (struct virtq_desc){ (uint64_t)dbuf, SECTOR, W | N, 2 };
	dt[2] = (struct virtq_desc){ (uint64_t)&st, 1, W, 0 };
	st = 0xff;
	av[2] = 0;		/* ring[0] = head 0 */
	av[2 + n] = 0x8000;	/* used_event: no interrupts */
	__asm__ volatile("" ::: "memory");
	av[1] = 1;
	if (blk.pci)
		mmio_wr(blk.notify, 2, 0);	/* queue 0's notify offset is 0 */
	else
		mmio_wr(blk.base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, 0);
	for (uint64_t t = rdtsc(); *uidx != 1 && ms_since(t) < 3000;)
		pause();
	hcheck(*uidx == 1, "no completion on rings at the end of RAM (status 0x%x)", virtio_status(&blk));
	hcheck(st == VIRTIO_BLK_S_OK && disk_text_ok(dbuf, SECTOR), "status %u or wrong data", st);
	blk_works();
	scen_end("size-8 rings in the last 8 KiB of RAM (available ring ends at the last byte): OK");
}

/* ---- the other device ---- */

/*
 * A legal but gigantic entropy request: 256 writable segments of up to
 * 128 MiB.  The device may fill less than asked (5.4.6.2); it must not
 * spend minutes on it, with its registers (and kvmrun's shutdown) waiting.
 */
static void s_rng_gigantic(void)
{
	uint64_t base = 0x4000000, seg = ram_end - base < (128ULL << 20) ? (ram_end - base) & ~0xfffULL : 128ULL << 20;
	uint64_t t, status_ms, done_ms;
	uint32_t len;

	ap_pause();
	hcheck(virtio_init(&rng, VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC)) == 0, "entropy device initialization failed");
	hcheck(virtq_setup(&rng, &rng_vq, 0, 16) == 16, "entropy queue setup failed");
	virtio_driver_ok(&rng);
	for (unsigned i = 0; i < 256; i++)
		tbl(i, base, (uint32_t)seg, (uint16_t)(W | (i < 255 ? N : 0)), (uint16_t)(i + 1));
	rng_vq.desc[0] = (struct virtq_desc){ (uint64_t)table, 256 * 16, I, 0 };
	rng_vq.avail_ring[0] = 0;
	__asm__ volatile("" ::: "memory");
	*rng_vq.avail_idx = 1;
	t = rdtsc();
	virtq_notify(&rng_vq);
	(void)virtio_status(&rng);
	status_ms = ms_since(t);
	while (*rng_vq.used_idx != 1 && ms_since(t) < 5000)
		pause();
	done_ms = ms_since(t);
	hcheck(*rng_vq.used_idx == 1, "a request for 256 x %lu MiB was not done after 5 s (Status took %lu ms to read)",
	       seg >> 20, status_ms);
	len = rng_vq.used_ring[0].len;
	hcheck(len > 0 && len <= 256 * seg, "%u bytes used", len);
	hcheck(!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET), "the entropy device needs a reset");
	ap_resume(true);
	blk_works();
	scen_end("entropy request of 256 x %lu MiB: %u bytes in %lu ms, Status read in %lu ms", seg >> 20, len,
		 done_ms, status_ms);
}

static const struct { const char *name; void (*run)(void); } scenarios[] = {
	{ "buffer beyond the end of RAM", s_beyond_ram },
	{ "buffer straddling the end of RAM", s_straddle_ram },
	{ "buffer at 0xfeb00000 (virtio-mmio windows)", s_mmio_window },
	{ "buffer at 0xc0000000 (PCI window)", s_pci_window },
	{ "buffer at 0xfee00000 (local APIC)", s_lapic },
	{ "buffer wrapping around 2^64", s_wrap },
	{ "buffer ending exactly at 2^64", s_end_2_64 },
	{ "gigantic buffer (len 0xffffffff)", s_gigantic },
	{ "buffer ending exactly at the end of RAM", s_end_of_ram },
	{ "zero-length buffers in a request", s_zero_len_middle },
	{ "zero-length header", s_zero_len_header },
	{ "zero-length status descriptor", s_zero_len_status },
	{ "header marked device-writable", s_header_writable },
	{ "status byte marked device-readable", s_status_readable },
	{ "read into a device-readable buffer", s_read_into_readable },
	{ "write from a device-writable buffer", s_write_from_writable },
	{ "descriptor loop", s_loop },
	{ "descriptor chained to itself", s_self_loop },
	{ "chain longer than the queue", s_full_loop },
	{ "next index out of range", s_next_out_of_range },
	{ "head index equal to the queue size", s_head_out_of_range },
	{ "head index 0xffff", s_head_ffff },
	{ "available index more than a queue ahead", s_avail_jump },
	{ "available index moved backwards", s_avail_backwards },
	{ "one chain in every slot of the available ring", s_same_chain_everywhere },
	{ "indirect descriptor without the feature", s_indirect_unnegotiated },
	{ "loop inside an indirect table", s_indirect_loop },
	{ "indirect next index out of range", s_indirect_next_range },
	{ "indirect table of length 0", s_indirect_len0 },
	{ "indirect table length not a multiple of 16", s_indirect_len_odd },
	{ "indirect table over 1024 entries", s_indirect_too_many },
	{ "indirect table of length 0xfffffff0", s_indirect_gigantic },
	{ "indirect table wrapping around 2^64", s_indirect_wrap },
	{ "indirect table straddling the end of RAM", s_indirect_beyond_ram },
	{ "nested indirect table", s_indirect_nested },
	{ "indirect descriptor with NEXT", s_indirect_with_next },
	{ "indirect chain of 256 segments (the limit)", s_indirect_256 },
	{ "indirect chain of 257 segments", s_indirect_257 },
	{ "indirect chain of 1024 segments", s_indirect_1024 },
	{ "request over 64 MiB", s_request_64m },
	{ "data length not a multiple of 512", s_request_odd_len },
	{ "read past the end of the disk", s_request_past_end },
	{ "sector 2^64-1", s_request_sector_overflow },
	{ "unknown request type", s_request_unknown },
	{ "queue sizes that are not powers of two", s_queue_sizes },
	{ "ring addresses outside RAM", s_ring_addresses },
	{ "rings at the very end of RAM", s_rings_at_end_of_ram },
	{ "gigantic entropy request", s_rng_gigantic },
};

static long run(long arg)
{
	(void)arg;
	for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		scen_begin(scenarios[i].name);
		blk_fresh(blk_feats);
		scenarios[i].run();
	}
	return 0;
}

void test_main(void)
{
	hostile_start("ring");
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	hostile_done("ring");
}
