/*
 * virtio-blk (device id 2) over virtio-mmio, run in CPL3 (cpl=0: in CPL0).
 *
 * blk=check (default): the host wrote pattern A to the first sectors=N (default
 *   64) sectors: byte i of sector s = (uint8_t)(s * 31 + i * 7 + 1).  Reads them
 *   back in several request shapes (one sector per request, one large request,
 *   scattered segments, indirect tables); writes pattern B (s * 13 + i * 3 + 5)
 *   to sectors 64..127, flushes (when VIRTIO_BLK_F_FLUSH is offered) and reads
 *   it back; with readonly=1 the device must offer VIRTIO_BLK_F_RO, writes must
 *   end in VIRTIO_BLK_S_IOERR and sectors 64..127 must not change.  Requests
 *   past the end must end in IOERR, an unknown request type in UNSUPP; GET_ID
 *   prints the serial (compared with blk_serial=STR when given).
 * blk=bench: iters=N (default 1000) random 4 KiB reads, then sequential 64 KiB
 *   reads over the disk (or its first seq_mb=N MiB), then with seq_write=1 the
 *   same sequential range written (no flush); qd=N requests in flight
 *   (default 1, at most 32); seed=N for the random offsets.  Each phase is
 *   timed with rdtsc at tsc_khz=N (from the host; else the CPUID guess of
 *   guests/lib/virtio.c, flagged "guessed") and reported in one line:
 *     virtio-blk bench: PHASE reqs=N bytes=N qd=N ticks=N us=N tsc_khz=N
 *   PHASE is rand4k, seqread or seqwrite; us is the phase's wall time.
 *
 * blk=survive: for a disk whose backend is killed (vhost-user): reads pattern A
 *   from sectors 0..sectors-1 in a loop ("virtio-blk: reading in a loop" after
 *   the first 100) until a request does not complete and the device says
 *   NEEDS_RESET ("virtio-blk: device needs reset after N reads"); then the
 *   disk other_index=N (default 1) must still read its pattern, and the
 *   first one is reset and set up again every 100 ms until it works again
 *   (a backend that came back: "virtio-blk: works again after N resets"),
 *   for at most 20 s.
 *
 * Also: virtio_mmio.device=... (one per transport), blk_index=N (use the N-th
 * block device, from 0), virtio_timeout=MS, cpl=0.
 */
#include "virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX	1
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9

#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2
#define VIRTIO_BLK_ID_BYTES	20

/* Config space offsets (5.2.4) */
#define BLK_CFG_CAPACITY	0
#define BLK_CFG_SIZE_MAX	8
#define BLK_CFG_SEG_MAX		12
#define BLK_CFG_BLK_SIZE	20

#define SECTOR		512
#define PAT_SECTORS	64		/* pattern A is checked in 0..63 at most */
#define WR_FIRST	64		/* pattern B goes to 64..127 */
#define WR_SECTORS	64
#define MAX_QD		32
#define BENCH_BYTES	65536
#define MAX_SEGS	8

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct slot {
	struct blk_hdr hdr;
	uint8_t status;
	uint8_t *buf;
};

static struct virtio_dev dev;
static struct virtq vq;
static uint64_t capacity;
static uint32_t seg_max = MAX_SEGS;
static unsigned requests, indirect_requests;
static struct slot slots[MAX_QD];
static uint8_t bench_bufs[MAX_QD][BENCH_BYTES] __attribute__((aligned(4096)));
static uint8_t buf[(WR_FIRST + WR_SECTORS) * SECTOR] __attribute__((aligned(4096)));
static uint8_t saved[WR_SECTORS * SECTOR] __attribute__((aligned(4096)));
static uint8_t user_stack[65536] __attribute__((aligned(16)));

static uint8_t pat_a(uint64_t s, unsigned i) { return (uint8_t)(s * 31 + i * 7 + 1); }
static uint8_t pat_b(uint64_t s, unsigned i) { return (uint8_t)(s * 13 + i * 3 + 5); }

/*
 * One request through slot 0: header, the data split into segments of the
 * given byte sizes (the last one takes the rest), status.  Returns the status.
 */
static uint8_t blk_req(uint32_t type, uint64_t sector, void *data, uint32_t len,
		       const uint32_t *seg, unsigned nseg, bool indirect)
{
	struct slot *s = &slots[0];
	struct virtq_buf b[MAX_SEGS + 2];
	bool dev_writes = type != VIRTIO_BLK_T_OUT;
	uint32_t off = 0;
	unsigned n = 0;

	s->hdr = (struct blk_hdr){ .type = type, .sector = sector };
	s->status = 0xff;
	b[n++] = (struct virtq_buf){ &s->hdr, sizeof(s->hdr), false };
	if (len) {
		if (!nseg)
			nseg = 1;
		check(nseg <= MAX_SEGS && nseg <= seg_max, "virtio-blk: %u segments exceed the limit", nseg);
		for (unsigned i = 0; i < nseg; i++) {
			uint32_t l = i + 1 < nseg ? seg[i] : len - off;

			b[n++] = (struct virtq_buf){ (uint8_t *)data + off, l, dev_writes };
			off += l;
		}
	}
	b[n++] = (struct virtq_buf){ &s->status, 1, true };
	if (indirect && vq.indirect)
		indirect_requests++;
	virtq_xfer(&vq, b, n, indirect);
	requests++;
	return s->status;
}

static uint8_t blk_simple(uint32_t type, uint64_t sector, void *data, uint32_t nsect, bool indirect)
{
	return blk_req(type, sector, data, nsect * SECTOR, NULL, 0, indirect);
}

static void expect_status(uint8_t got, uint8_t want, const char *what)
{
	static const char *const names[] = { "OK", "IOERR", "UNSUPP" };

	check(got == want, "virtio-blk: %s: status %u (%s), expected %u (%s)", what, got,
	      got < 3 ? names[got] : "not written", want, names[want]);
}

static void verify(const uint8_t *p, uint64_t first, uint32_t nsect, uint8_t (*pat)(uint64_t, unsigned),
		   const char *what)
{
	for (uint32_t s = 0; s < nsect; s++)
		for (unsigned i = 0; i < SECTOR; i++)
			if (p[s * SECTOR + i] != pat(first + s, i))
				fail("virtio-blk: %s: sector %lu byte %u is 0x%x, expected 0x%x", what,
				     first + s, i, p[s * SECTOR + i], pat(first + s, i));
}

static void fill(uint8_t *p, uint64_t first, uint32_t nsect, uint8_t (*pat)(uint64_t, unsigned))
{
	for (uint32_t s = 0; s < nsect; s++)
		for (unsigned i = 0; i < SECTOR; i++)
			p[s * SECTOR + i] = pat(first + s, i);
}

static void read_pattern(uint32_t nsect)
{
	static const uint32_t odd[] = { 1000, 24, 512 * 3, 7 };	/* + 505: 6 sectors */
	static const uint32_t quarters[] = { 4096, 4096, 4096, 4096, 4096, 4096, 4096 };

	/* One sector per request, every other one through an indirect table. */
	memset(buf, 0, sizeof(buf));
	for (uint32_t s = 0; s < nsect; s++)
		expect_status(blk_simple(VIRTIO_BLK_T_IN, s, buf + s * SECTOR, 1, s & 1), VIRTIO_BLK_S_OK,
			      "read one sector");
	verify(buf, 0, nsect, pat_a, "one sector per request");

	/* All of them in one request and one segment. */
	memset(buf, 0, sizeof(buf));
	expect_status(blk_simple(VIRTIO_BLK_T_IN, 0, buf, nsect, false), VIRTIO_BLK_S_OK, "read in one request");
	verify(buf, 0, nsect, pat_a, "one request");

	/* Scattered: 8 segments of 4 KiB in an indirect table (when there are 64 sectors). */
	if (nsect == PAT_SECTORS) {
		memset(buf, 0, sizeof(buf));
		expect_status(blk_req(VIRTIO_BLK_T_IN, 0, buf, nsect * SECTOR, quarters, 8, true),
			      VIRTIO_BLK_S_OK, "read in 8 segments");
		verify(buf, 0, nsect, pat_a, "8 segments");
	}

	/* Segments that do not follow sector boundaries (only the total must be whole sectors). */
	if (nsect >= 7) {
		memset(buf, 0, sizeof(buf));
		expect_status(blk_req(VIRTIO_BLK_T_IN, 1, buf, 6 * SECTOR, odd, 5, false),
			      VIRTIO_BLK_S_OK, "read in odd-sized segments");
		verify(buf, 1, 6, pat_a, "odd-sized segments");
	}
	printf("virtio-blk: sectors 0..%u hold the host's pattern (%u request shapes)\n", nsect - 1,
	       nsect == PAT_SECTORS ? 4 : 3);
}

static void write_pattern(void)
{
	static const uint32_t segs[] = { 512, 1024, 1536 };	/* + the rest of 8 sectors */

	/* 8 requests of 8 sectors: plain, split in 4 segments, each direct or indirect. */
	fill(buf, WR_FIRST, WR_SECTORS, pat_b);
	for (unsigned r = 0; r < WR_SECTORS / 8; r++) {
		uint8_t *p = buf + r * 8 * SECTOR;
		uint8_t st = (r & 2) ? blk_req(VIRTIO_BLK_T_OUT, WR_FIRST + r * 8, p, 8 * SECTOR, segs, 4, r & 1)
				     : blk_simple(VIRTIO_BLK_T_OUT, WR_FIRST + r * 8, p, 8, r & 1);

		expect_status(st, VIRTIO_BLK_S_OK, "write");
	}
	if (virtio_has(&dev, VIRTIO_BLK_F_FLUSH)) {
		expect_status(blk_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0, false), VIRTIO_BLK_S_OK, "flush");
		printf("virtio-blk: flush OK\n");
	}
	memset(buf, 0, sizeof(buf));
	expect_status(blk_simple(VIRTIO_BLK_T_IN, WR_FIRST, buf, WR_SECTORS, true), VIRTIO_BLK_S_OK, "read back");
	verify(buf, WR_FIRST, WR_SECTORS, pat_b, "read back after write");
	printf("virtio-blk: wrote sectors %u..%u and read them back\n", WR_FIRST, WR_FIRST + WR_SECTORS - 1);
}

static void write_readonly(void)
{
	check(virtio_has(&dev, VIRTIO_BLK_F_RO), "virtio-blk: readonly=1 but the device does not offer VIRTIO_BLK_F_RO");
	expect_status(blk_simple(VIRTIO_BLK_T_IN, WR_FIRST, saved, WR_SECTORS, false), VIRTIO_BLK_S_OK, "read");
	fill(buf, WR_FIRST, WR_SECTORS, pat_b);
	expect_status(blk_simple(VIRTIO_BLK_T_OUT, WR_FIRST, buf, 8, false), VIRTIO_BLK_S_IOERR,
		      "write to a read-only disk");
	expect_status(blk_simple(VIRTIO_BLK_T_OUT, 0, buf, 1, true), VIRTIO_BLK_S_IOERR,
		      "indirect write to a read-only disk");
	memset(buf, 0, sizeof(buf));
	expect_status(blk_simple(VIRTIO_BLK_T_IN, WR_FIRST, buf, WR_SECTORS, false), VIRTIO_BLK_S_OK, "read");
	for (unsigned i = 0; i < sizeof(saved); i++)
		check(buf[i] == saved[i], "virtio-blk: read-only disk changed at sector %u byte %u",
		      WR_FIRST + i / SECTOR, i % SECTOR);
	memset(buf, 0, sizeof(buf));
	expect_status(blk_simple(VIRTIO_BLK_T_IN, 0, buf, 1, false), VIRTIO_BLK_S_OK, "read");
	verify(buf, 0, 1, pat_a, "sector 0 after a refused write");
	printf("virtio-blk: read-only: writes refused with IOERR, sectors unchanged\n");
}

static void edge_cases(bool readonly)
{
	expect_status(blk_simple(VIRTIO_BLK_T_IN, capacity, buf, 1, false), VIRTIO_BLK_S_IOERR,
		      "read at the capacity");
	expect_status(blk_simple(VIRTIO_BLK_T_IN, capacity - 1, buf, 2, false), VIRTIO_BLK_S_IOERR,
		      "read across the end");
	expect_status(blk_simple(VIRTIO_BLK_T_IN, ~0ULL / SECTOR, buf, 1, true), VIRTIO_BLK_S_IOERR,
		      "read at a huge sector");
	expect_status(blk_simple(VIRTIO_BLK_T_IN, ~0ULL, buf, 1, false), VIRTIO_BLK_S_IOERR,
		      "read at sector 2^64-1 (byte offset overflows)");
	if (!readonly)
		expect_status(blk_simple(VIRTIO_BLK_T_OUT, capacity, buf, 1, false), VIRTIO_BLK_S_IOERR,
			      "write at the capacity");
	expect_status(blk_simple(VIRTIO_BLK_T_IN, capacity - 1, buf, 1, false), VIRTIO_BLK_S_OK,
		      "read of the last sector");
	printf("virtio-blk: requests past the end fail with IOERR\n");
	expect_status(blk_req(0x7f, 0, buf, SECTOR, NULL, 0, false), VIRTIO_BLK_S_UNSUPP, "unknown request type");
	printf("virtio-blk: unknown request type gives UNSUPP\n");
}

static void get_id(void)
{
	static char id[VIRTIO_BLK_ID_BYTES + 1];
	char want[64];
	uint8_t st;

	memset(id, 0, sizeof(id));
	st = blk_req(VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, NULL, 0, true);
	expect_status(st, VIRTIO_BLK_S_OK, "GET_ID");
	/* At most 20 bytes; NUL-terminated only when shorter. */
	for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES; i++)
		if (id[i] && (id[i] < 0x20 || id[i] > 0x7e))
			id[i] = '?';
	printf("virtio-blk: serial '%s'\n", id);
	if (cmdline_get("blk_serial", want, sizeof(want)))
		check(!strncmp(id, want, VIRTIO_BLK_ID_BYTES), "virtio-blk: serial '%s', expected '%s'", id, want);
}

/* ---- bench ---- */

static uint64_t rng_state;

static uint64_t xorshift(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t head_slot[VIRTQ_MAX_SIZE];

static void slot_submit(unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
	struct slot *s = &slots[i];
	struct virtq_buf b[3] = {
		{ &s->hdr, sizeof(s->hdr), false },
		{ s->buf, len, type != VIRTIO_BLK_T_OUT },
		{ &s->status, 1, true },
	};
	int head;

	s->hdr = (struct blk_hdr){ .type = type, .sector = sector };
	s->status = 0xff;
	head = virtq_add(&vq, b, 3, false);
	check(head >= 0, "virtio-blk: ring full");
	head_slot[head] = (uint8_t)i;
}

static unsigned slot_complete(uint32_t id)
{
	unsigned i = head_slot[id];

	expect_status(slots[i].status, VIRTIO_BLK_S_OK, "bench request");
	requests++;
	return i;
}

/*
 * count requests with up to qd in flight: 4 KiB reads at random 4 KiB-aligned
 * offsets, or 64 KiB reads or writes (type) one after another from sector 0
 * (the last one shorter).  Returns the TSC ticks it took.
 */
static uint64_t bench_phase(uint64_t count, unsigned qd, bool random, uint32_t type, uint64_t seq_sectors)
{
	uint64_t t0 = rdtsc();
	unsigned free_slots[MAX_QD], nfree = 0;
	uint64_t submitted = 0, done = 0, next_sector = 0;

	for (unsigned i = 0; i < qd; i++)
		free_slots[nfree++] = i;
	while (done < count) {
		uint32_t id;

		while (submitted < count && nfree) {
			unsigned slot = free_slots[--nfree];

			if (random) {
				slot_submit(slot, VIRTIO_BLK_T_IN, xorshift() % (capacity / 8) * 8, 4096);
			} else {
				uint64_t n = seq_sectors - next_sector;

				if (n > BENCH_BYTES / SECTOR)
					n = BENCH_BYTES / SECTOR;
				slot_submit(slot, type, next_sector, (uint32_t)n * SECTOR);
				next_sector += n;
			}
			submitted++;
		}
		virtq_kick(&vq);
		check(virtq_wait(&vq, &id, NULL), "virtio-blk: no completion within %lu ms (%u in flight)",
		      virtio_timeout_ms, virtq_in_flight(&vq));
		free_slots[nfree++] = slot_complete(id);
		done++;
		while (virtq_poll(&vq, &id, NULL)) {
			free_slots[nfree++] = slot_complete(id);
			done++;
		}
	}
	return rdtsc() - t0;
}

static void bench_report(const char *phase, uint64_t reqs, uint64_t bytes, uint64_t qd, uint64_t ticks,
			 uint64_t tsc_khz, bool guessed)
{
	printf("virtio-blk bench: %s reqs=%lu bytes=%lu qd=%lu ticks=%lu us=%lu tsc_khz=%lu%s\n", phase, reqs,
	       bytes, qd, ticks, ticks * 1000 / tsc_khz, tsc_khz, guessed ? " (guessed)" : "");
}

static void bench(void)
{
	uint64_t iters = 1000, qd = 1, seq_mb = 0, seq_sectors = capacity, seq_reqs, seq_write = 0;
	uint64_t tsc_khz = 0, ticks;
	bool guessed = !cmdline_u64("tsc_khz", &tsc_khz) || !tsc_khz;

	if (guessed)
		tsc_khz = virtio_tsc_per_ms();
	cmdline_u64("iters", &iters);
	cmdline_u64("seq_write", &seq_write);
	cmdline_u64("qd", &qd);
	cmdline_u64("seed", &rng_state);
	if (!rng_state)
		rng_state = 0x9e3779b97f4a7c15ULL;
	check(qd >= 1 && qd <= MAX_QD && qd * 3 <= vq.size, "virtio-blk: qd=%lu: must be 1..%u (queue size %u)",
	      qd, MAX_QD, vq.size);
	check(capacity >= 8, "virtio-blk: bench needs at least 4 KiB of disk");
	if (cmdline_u64("seq_mb", &seq_mb) && seq_mb && seq_mb * 2048 < capacity)
		seq_sectors = seq_mb * 2048;
	for (unsigned i = 0; i < MAX_QD; i++)
		slots[i].buf = bench_bufs[i];

	ticks = bench_phase(iters, (unsigned)qd, true, VIRTIO_BLK_T_IN, 0);
	printf("virtio-blk bench: %lu random 4 KiB reads (qd %lu)\n", iters, qd);
	bench_report("rand4k", iters, iters * 4096, qd, ticks, tsc_khz, guessed);
	seq_reqs = (seq_sectors + BENCH_BYTES / SECTOR - 1) / (BENCH_BYTES / SECTOR);
	ticks = bench_phase(seq_reqs, (unsigned)qd, false, VIRTIO_BLK_T_IN, seq_sectors);
	printf("virtio-blk bench: %lu sequential reads of up to 64 KiB (%lu KiB, qd %lu)\n", seq_reqs,
	       seq_sectors / 2, qd);
	bench_report("seqread", seq_reqs, seq_sectors * SECTOR, qd, ticks, tsc_khz, guessed);
	if (seq_write) {
		check(!virtio_has(&dev, VIRTIO_BLK_F_RO), "virtio-blk: seq_write=1 on a read-only device");
		ticks = bench_phase(seq_reqs, (unsigned)qd, false, VIRTIO_BLK_T_OUT, seq_sectors);
		bench_report("seqwrite", seq_reqs, seq_sectors * SECTOR, qd, ticks, tsc_khz, guessed);
	}
	printf("virtio-blk bench: %u requests, %lu notifies (%lu skipped)\n", requests, vq.notifies, vq.kicks_skipped);
}

/* Resets d and sets it up again: 0, or -1 when it says NEEDS_RESET (no backend) or fails. */
static int blk_setup(struct virtio_dev *d, struct virtq *q)
{
	if (virtio_init(d, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) || virtq_setup(d, q, 0, VIRTQ_MAX_SIZE) <= 0)
		return -1;
	virtio_driver_ok(d);
	return virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET ? -1 : 0;
}

/* One read of pattern A through q: 1 if it completed with the pattern, 0 if it never completed. */
static int survive_read(struct virtq *q, uint32_t nsect)
{
	struct slot *s = &slots[0];
	struct virtq_buf b[3];
	uint32_t id, len;

	s->hdr = (struct blk_hdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
	s->status = 0xff;
	b[0] = (struct virtq_buf){ &s->hdr, sizeof(s->hdr), false };
	b[1] = (struct virtq_buf){ buf, nsect * SECTOR, true };
	b[2] = (struct virtq_buf){ &s->status, 1, true };
	check(virtq_add(q, b, 3, false) >= 0, "virtio-blk: ring full");
	virtq_kick(q);
	if (!virtq_wait(q, &id, &len))
		return 0;
	expect_status(s->status, VIRTIO_BLK_S_OK, "read");
	verify(buf, 0, nsect, pat_a, "pattern A");
	return 1;
}

static void sleep_ms(uint64_t ms)
{
	uint64_t end = rdtsc() + ms * virtio_tsc_per_ms();

	while (rdtsc() < end)
		pause();
}

static void survive(uint32_t nsect)
{
	static struct virtio_dev other;
	static struct virtq other_vq;
	uint64_t other_index = 1, reads = 0, resets = 0, t0;

	cmdline_u64("other_index", &other_index);
	virtio_timeout_ms = 1000;
	while (survive_read(&vq, nsect))
		if (++reads == 100)
			printf("virtio-blk: reading in a loop\n");
	check(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET,
	      "virtio-blk: a read never completed but the device does not say NEEDS_RESET");
	printf("virtio-blk: device needs reset after %lu reads\n", reads);

	check(virtio_find(VIRTIO_ID_BLOCK, (unsigned)other_index, &other) == 0,
	      "virtio-blk: no block device number %lu", other_index);
	check(blk_setup(&other, &other_vq) == 0, "virtio-blk: disk %lu cannot be set up", other_index);
	check(survive_read(&other_vq, nsect) == 1, "virtio-blk: disk %lu does not read", other_index);
	printf("virtio-blk: disk %lu still works\n", other_index);

	t0 = rdtsc();
	for (;;) {
		resets++;
		if (blk_setup(&dev, &vq) == 0 && survive_read(&vq, nsect) == 1)
			break;
		check(rdtsc() - t0 < 20000 * virtio_tsc_per_ms(),
		      "virtio-blk: the device did not work again within 20 s (%lu resets)", resets);
		sleep_ms(100);
	}
	printf("virtio-blk: works again after %lu resets\n", resets);
}

static long run(long arg)
{
	char mode[16] = "check";
	uint64_t ro = 0, nsect = PAT_SECTORS, index = 0;
	uint64_t want = VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |
			VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	int qs;

	(void)arg;
	cmdline_get("blk", mode, sizeof(mode));
	cmdline_u64("readonly", &ro);
	cmdline_u64("sectors", &nsect);
	check(!strcmp(mode, "check") || !strcmp(mode, "bench") || !strcmp(mode, "survive"),
	      "blk=%s: expected check, bench or survive", mode);
	check(nsect >= 1 && nsect <= PAT_SECTORS, "sectors=%lu: must be 1..%u", nsect, PAT_SECTORS);

	virtio_mmio_list();
	cmdline_u64("blk_index", &index);
	check(virtio_find(VIRTIO_ID_BLOCK, (unsigned)index, &dev) == 0, "virtio-blk: no block device (id 2) number %lu found",
	      index);
	check(virtio_init(&dev, want) == 0, "virtio-blk: device initialization failed");
	qs = virtq_setup(&dev, &vq, 0, VIRTQ_MAX_SIZE);
	check(qs > 0, "virtio-blk: request queue setup failed");
	virtio_driver_ok(&dev);

	capacity = virtio_config64(&dev, BLK_CFG_CAPACITY);
	if (virtio_has(&dev, VIRTIO_BLK_F_SEG_MAX)) {
		seg_max = virtio_config32(&dev, BLK_CFG_SEG_MAX);
		check(seg_max >= 1, "virtio-blk: seg_max is 0");
	}
	printf("virtio-blk: device on ");
	virtio_print_where(&dev);
	printf(", features offered 0x%lx negotiated 0x%lx, queue size %d\n",
	       dev.offered, dev.features, qs);
	printf("virtio-blk: capacity %lu sectors (%lu KiB)%s%s", capacity, capacity / 2,
	       virtio_has(&dev, VIRTIO_BLK_F_RO) ? ", read-only" : "",
	       virtio_has(&dev, VIRTIO_BLK_F_FLUSH) ? ", flush" : "");
	if (virtio_has(&dev, VIRTIO_BLK_F_SEG_MAX))
		printf(", seg_max %u", seg_max);
	if (virtio_has(&dev, VIRTIO_BLK_F_BLK_SIZE))
		printf(", blk_size %u", virtio_config32(&dev, BLK_CFG_BLK_SIZE));
	printf("\n");

	if (!strcmp(mode, "bench")) {
		bench();
		return 0;
	}
	if (!strcmp(mode, "survive")) {
		survive((uint32_t)nsect);
		return 0;
	}
	check(capacity >= WR_FIRST + WR_SECTORS, "virtio-blk: check needs at least %u sectors", WR_FIRST + WR_SECTORS);
	for (unsigned i = 0; i < MAX_QD; i++)
		slots[i].buf = bench_bufs[i];
	read_pattern((uint32_t)nsect);
	if (ro) {
		write_readonly();
	} else {
		check(!virtio_has(&dev, VIRTIO_BLK_F_RO), "virtio-blk: device is read-only (VIRTIO_BLK_F_RO) without readonly=1");
		write_pattern();
		memset(buf, 0, sizeof(buf));
		expect_status(blk_simple(VIRTIO_BLK_T_IN, 0, buf, WR_FIRST + WR_SECTORS, false), VIRTIO_BLK_S_OK, "read");
		verify(buf, 0, (uint32_t)nsect, pat_a, "pattern A after the writes");
		verify(buf + WR_FIRST * SECTOR, WR_FIRST, WR_SECTORS, pat_b, "pattern B after the writes");
		printf("virtio-blk: sectors 0..%u read in one 64 KiB request hold both patterns\n",
		       WR_FIRST + WR_SECTORS - 1);
	}
	edge_cases(ro);
	get_id();
	printf("virtio-blk: %u requests (%u indirect), %lu notifies (%lu skipped)%s%s\n", requests,
	       indirect_requests, vq.notifies, vq.kicks_skipped, vq.indirect ? ", indirect" : "",
	       vq.event_idx ? ", event-idx" : "");
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "virtio-blk: device needs reset");
	if (vq.indirect)
		check(indirect_requests > 0, "virtio-blk: no indirect request was made");
	return 0;
}

void test_main(void)
{
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
