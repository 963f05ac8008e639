/*
 * What the hostile test guests share (hostile_ring.c, hostile_io.c,
 * hostile_msix.c): guests
 * that attack kvmrun from inside and check that it survives, reports each
 * problem the way the virtio spec asks, and recovers after a reset.
 *
 * Devices, on either transport: a virtio-blk disk, the victim most attacks go
 * at, and a virtio-rng, the bystander.  From start to end one AP reads from
 * the entropy device in CPL0, one request per LAPIC timer tick (about 2 ms),
 * so every scenario checks that another vCPU and another device kept working
 * while it ran (ap_reads advanced).  Attacks that would also hit the
 * bystander's registers (PCI configuration space, BAR moves) first switch the
 * AP to counting: it then only reads port 0x80 (an exit to kvmrun) per tick.
 *
 * The disk image holds DISK_UNIT repeated (tests/integration/guests.cmake
 * writes it); sectors from SCRATCH_SECTOR on are the guests' to write.
 *
 * Every scenario prints one line, "hostile: NAME: ok: DETAILS", or fails with
 * "FAIL: hostile: NAME: WHAT".  Hot loops run in CPL3 (virtio_run()), where
 * PVM hosts run guest code natively; only interrupt checks need CPL0.
 */
#ifndef GUEST_HOSTILE_H
#define GUEST_HOSTILE_H

#include "virtio.h"

#define HOSTILE		static __attribute__((unused))

/* virtio-blk (virtio 1.2, 5.2) */
#define VIRTIO_BLK_F_FLUSH	9
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2
#define SECTOR			512
#define DISK_UNIT		"kvmrun-hostile!\n"	/* 16 bytes, repeated over the image */
#define DISK_MIN_SECTORS	512			/* the image is 256 KiB */
#define SCRATCH_SECTOR		400

#define POST_PORT		0x80
#define PCI_CAP_VNDR		0x09
#define PCI_CAP_MSIX		0x11
#define AP_TICK_VEC		0x30
#define ISR_CONFIG		2	/* configuration change, in ISR / InterruptStatus */

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* ---- accesses of every width ---- */

static inline uint64_t mmio_rd(uint64_t a, unsigned w)
{
	switch (w) {
	case 1: return *(volatile uint8_t *)a;
	case 2: return *(volatile uint16_t *)a;
	case 4: return *(volatile uint32_t *)a;
	default: return *(volatile uint64_t *)a;
	}
}

static inline void mmio_wr(uint64_t a, unsigned w, uint64_t v)
{
	switch (w) {
	case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
	default: *(volatile uint64_t *)a = v; break;
	}
}

static inline uint32_t pio_rd(uint16_t port, unsigned w)
{
	return w == 1 ? inb(port) : w == 2 ? inw(port) : inl(port);
}

static inline void pio_wr(uint16_t port, unsigned w, uint32_t v)
{
	if (w == 1)
		outb(port, (uint8_t)v);
	else if (w == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

static inline bool same_bytes(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	while (n--)
		if (*p++ != *q++)
			return false;
	return true;
}

static inline bool overlaps(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
	return a < b + m && b < a + n;
}

/* Garbage, the same on every run (xorshift64; never 0). */
static uint64_t garbage_state = 0x9e3779b97f4a7c15ULL;

HOSTILE uint64_t garbage(void)
{
	garbage_state ^= garbage_state << 13;
	garbage_state ^= garbage_state >> 7;
	garbage_state ^= garbage_state << 17;
	return garbage_state;
}

/* ---- time ---- */

HOSTILE uint64_t ms_since(uint64_t tsc)
{
	return (rdtsc() - tsc) / virtio_tsc_per_ms();
}

HOSTILE void delay_ms(uint64_t ms)
{
	uint64_t t = rdtsc();

	while (ms_since(t) < ms)
		pause();
}

/* ---- scenarios ---- */

static const char *scen_name = "start-up";
static unsigned scen_count, scen_needs_reset;
static uint64_t scen_tsc, scen_ap_reads, scen_ap_loops;
static volatile uint64_t ap_reads, ap_loops;
static volatile unsigned ap_cmd, ap_state;
enum { AP_RNG = 1, AP_COUNT = 2 };

/* Fails the current scenario with one line. */
#define hcheck(cond, fmt, ...) \
	check(cond, "hostile: %s: " fmt, scen_name, ##__VA_ARGS__)

HOSTILE void scen_begin(const char *name)
{
	scen_name = name;
	scen_tsc = rdtsc();
	scen_ap_reads = ap_reads;
	scen_ap_loops = ap_loops;
}

/*
 * Ends the scenario: the AP must have made progress since scen_begin (reads
 * from the entropy device, or loops while it only counts); waits up to 3 s
 * for it, since a scenario may take less than one timer tick.
 */
HOSTILE void scen_end(const char *fmt, ...)
{
	char detail[300];
	uint64_t ms = ms_since(scen_tsc), t = rdtsc();
	bool reading = ap_cmd == AP_RNG;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	while ((reading ? ap_reads <= scen_ap_reads : ap_loops <= scen_ap_loops) && ms_since(t) < 3000)
		pause();
	hcheck(reading ? ap_reads > scen_ap_reads : ap_loops > scen_ap_loops,
	       "the other vCPU made no progress (%s)", reading ? "entropy reads" : "loops");
	scen_count++;
	printf("hostile: %s: ok: %s [%lu ms, AP +%lu %s]\n", scen_name, detail, ms,
	       reading ? ap_reads - scen_ap_reads : ap_loops - scen_ap_loops,
	       reading ? "entropy reads" : "loops");
}

/* ---- guest RAM ---- */

static uint64_t ram_end;	/* end of the RAM region the guest image sits in */

HOSTILE void find_ram_end(void)
{
	struct mmap_entry e[32];
	unsigned n = boot_memmap(e, 32);

	for (unsigned i = 0; i < n; i++)
		if (e[i].type == 1 && e[i].addr <= 0x100000 && e[i].addr + e[i].size > 0x100000)
			ram_end = e[i].addr + e[i].size;
	check(ram_end >= 0x8000000 && ram_end <= 0xc0000000,
	      "hostile: needs 128 MiB to 3 GiB of low RAM (end 0x%lx)", ram_end);
}

/* ---- the devices ---- */

static struct virtio_dev blk, rng;
static struct virtq bvq, rng_vq;
static const uint64_t blk_feats = VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
				  VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
static struct blk_hdr good_hdr;
static uint8_t good_status;
static uint8_t good_buf[2 * SECTOR] __attribute__((aligned(4096)));

HOSTILE bool disk_text_ok(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)DISK_UNIT[i % 16])
			return false;
	return true;
}

/* Reset, initialization with feats, queue 0 with 128 entries, DRIVER_OK. */
HOSTILE void blk_fresh(uint64_t feats)
{
	hcheck(virtio_init(&blk, feats) == 0, "disk initialization failed (status 0x%x)", virtio_status(&blk));
	hcheck(virtq_setup(&blk, &bvq, 0, VIRTQ_MAX_SIZE) == VIRTQ_MAX_SIZE, "disk queue setup failed");
	virtio_driver_ok(&blk);
	hcheck(!(virtio_status(&blk) & VIRTIO_STATUS_NEEDS_RESET), "the disk needs a reset right after initialization");
}

/* One read of nsect sectors from sector into p, through the library's driver; returns the status byte. */
HOSTILE uint8_t blk_read(uint64_t sector, void *p, uint32_t nsect, bool indirect)
{
	struct virtq_buf b[3] = {
		{ &good_hdr, sizeof(good_hdr), false },
		{ p, nsect * SECTOR, true },
		{ &good_status, 1, true },
	};

	good_hdr = (struct blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = sector };
	good_status = 0xff;
	virtq_xfer(&bvq, b, 3, indirect);
	return good_status;
}

/*
 * The disk works after a reset and a fresh initialization: two reads (one
 * through an indirect table) return the image's text.
 */
HOSTILE void blk_works(void)
{
	blk_fresh(blk_feats);
	memset(good_buf, 0, sizeof(good_buf));
	hcheck(blk_read(0, good_buf, 1, false) == VIRTIO_BLK_S_OK, "after re-initialization a read failed (status %u)",
	       good_status);
	hcheck(blk_read(7, good_buf + SECTOR, 1, true) == VIRTIO_BLK_S_OK,
	       "after re-initialization an indirect read failed (status %u)", good_status);
	hcheck(disk_text_ok(good_buf, sizeof(good_buf)), "after re-initialization the disk reads wrong data");
}

/* Sector 0 into good_buf through the library's driver; returns the status byte. */
HOSTILE uint8_t disk_read_sector0(void)
{
	memset(good_buf, 0, SECTOR);
	return blk_read(0, good_buf, 1, false);
}

/* The capability id (of vendor-specific ones: cfg_type vndr_type) in slot's list, or 0. */
HOSTILE uint8_t find_cap(unsigned slot, uint8_t id, uint8_t vndr_type)
{
	unsigned c = pci_cfg_read8(slot, 0x34) & 0xfc;

	for (unsigned guard = 0; c && guard < 48; guard++, c = pci_cfg_read8(slot, c + 1) & 0xfc)
		if (pci_cfg_read8(slot, c) == id && (id != PCI_CAP_VNDR || pci_cfg_read8(slot, c + 3) == vndr_type))
			return (uint8_t)c;
	return 0;
}

/* Puts queue index into DEVICE_NEEDS_RESET by enabling it with size 3 (not a power of two). */
HOSTILE void break_by_queue_size(struct virtio_dev *d)
{
	hcheck(virtio_init(d, VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC)) == 0, "initialization failed");
	if (d->pci) {
		mmio_wr(d->common + VPCI_Q_SELECT, 2, 0);
		mmio_wr(d->common + VPCI_Q_SIZE, 2, 3);
		mmio_wr(d->common + VPCI_Q_ENABLE, 2, 1);
	} else {
		mmio_wr(d->base + VIRTIO_MMIO_QUEUE_SEL, 4, 0);
		mmio_wr(d->base + VIRTIO_MMIO_QUEUE_NUM, 4, 3);
		mmio_wr(d->base + VIRTIO_MMIO_QUEUE_READY, 4, 1);
	}
	hcheck(virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET, "enabling a queue of size 3 did not set NEEDS_RESET");
	scen_needs_reset++;
}

/* ---- the other vCPU ---- */

static uint8_t ap_buf[32];

static void ap_tick(struct frame *f)
{
	(void)f;
	lapic_eoi();
}

/* The entropy device for the AP: 16 entries, no interrupts (the AP polls). */
HOSTILE void rng_init(void)
{
	hcheck(virtio_init(&rng, VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX)) == 0, "entropy device initialization failed");
	hcheck(virtq_setup(&rng, &rng_vq, 0, 16) == 16, "entropy queue setup failed");
	virtio_driver_ok(&rng);
}

static void ap_rng_read(void)
{
	struct virtq_buf b = { ap_buf, sizeof(ap_buf), true };
	uint32_t id, len;

	if (virtq_add(&rng_vq, &b, 1, false) < 0)
		fail("hostile: AP: no room in the entropy queue (during %s)", scen_name);
	virtq_kick(&rng_vq);
	if (!virtq_wait(&rng_vq, &id, &len))
		fail("hostile: AP: entropy read %lu did not complete during %s (status 0x%x)", ap_reads, scen_name,
		     virtio_status(&rng));
	if (len == 0 || len > sizeof(ap_buf))
		fail("hostile: AP: entropy read returned %u bytes for %u", len, (unsigned)sizeof(ap_buf));
	ap_reads++;
}

void test_ap_main(unsigned index)
{
	if (index != 1)
		return;		/* one AP is enough */
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_TIMER_DCR, 0x0b);				/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, AP_TICK_VEC | (1u << 17));		/* periodic */
	lapic_write(LAPIC_TIMER_ICR, 2000000);				/* ~2 ms */
	for (;;) {
		unsigned cmd = ap_cmd;

		if (cmd == AP_RNG)
			ap_rng_read();
		else
			(void)inb(POST_PORT);
		ap_state = cmd;
		ap_loops++;
		sti_hlt();
		cli();
	}
}

/* CPL0: finds both devices, starts the AP on the entropy device and waits for its first reads. */
HOSTILE void hostile_start(const char *guest)
{
	char transport[8] = "";
	uint64_t t;

	scen_name = "start-up";
	find_ram_end();
	cmdline_get("transport", transport, sizeof(transport));
	/* The legacy PICs stay masked: only MSI-X and the AP's LAPIC timer interrupt. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	hcheck(virtio_find(VIRTIO_ID_BLOCK, 0, &blk) == 0, "no block device (id 2)");
	hcheck(virtio_find(VIRTIO_ID_RNG, 0, &rng) == 0, "no entropy device (id 4)");
	printf("hostile: %s: disk on ", guest);
	virtio_print_where(&blk);
	printf(", entropy device on ");
	virtio_print_where(&rng);
	printf(", RAM ends at 0x%lx\n", ram_end);
	hcheck(!transport[0] || !strcmp(transport, blk.pci ? "pci" : "mmio"), "expected the devices on %s", transport);
	hcheck(blk.pci == rng.pci, "the two devices sit on different transports");
	blk_fresh(blk_feats);
	hcheck(virtio_config64(&blk, 0) >= DISK_MIN_SECTORS, "the disk has %lu sectors, expected %u or more",
	       virtio_config64(&blk, 0), DISK_MIN_SECTORS);
	hcheck(blk_read(0, good_buf, 2, false) == VIRTIO_BLK_S_OK && disk_text_ok(good_buf, 2 * SECTOR),
	       "the disk does not hold the test image's text");
	rng_init();
	idt_set(AP_TICK_VEC, ap_tick);
	ap_cmd = AP_RNG;
	lapic_write(LAPIC_SVR, 0x1ff);
	smp_start_aps();
	for (t = rdtsc(); ap_reads < 3 && ms_since(t) < 20000;)
		pause();
	hcheck(ap_reads >= 3, "the AP did not start reading from the entropy device (needs --cpus 2)");
}

/* The AP stops using the entropy device and only counts. */
HOSTILE void ap_pause(void)
{
	uint64_t t = rdtsc(), loops;

	ap_cmd = AP_COUNT;
	while (ap_state != AP_COUNT && ms_since(t) < 15000)
		pause();
	hcheck(ap_state == AP_COUNT, "the AP did not stop reading");
	for (loops = ap_loops, t = rdtsc(); ap_loops == loops && ms_since(t) < 3000;)
		pause();
	hcheck(ap_loops != loops, "the AP stopped counting");
}

/* Has the AP read from the entropy device again (after re-initializing it when reinit). */
HOSTILE void ap_resume(bool reinit)
{
	uint64_t t = rdtsc(), reads = ap_reads;

	if (reinit)
		rng_init();
	ap_cmd = AP_RNG;
	while (ap_reads < reads + 2 && ms_since(t) < 5000)
		pause();
	hcheck(ap_reads >= reads + 2, "the AP's entropy reads did not resume%s", reinit ? "" :
	       " (without a re-initialization)");
}

/* The end: totals (tests/integration/guests.cmake checks the log against needs-reset). */
HOSTILE void hostile_done(const char *guest)
{
	scen_name = "end";
	hcheck(!(virtio_status(&rng) & VIRTIO_STATUS_NEEDS_RESET), "the entropy device needs a reset");
	printf("hostile: %s: %u scenarios passed, %u of them left the disk needing a reset; the AP made %lu "
	       "entropy reads\n", guest, scen_count, scen_needs_reset, ap_reads);
}

#endif
