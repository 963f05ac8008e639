/*
 * Floods the guest's output devices for ever, to test that kvmrun stops in
 * time when its output cannot drain (stdout a pipe nobody reads).
 *
 *   out=serial    bytes to COM1 as fast as the UART takes them (CPL3 loop),
 *                 without looking at the line status
 *   out=console   1 MiB buffers to the virtio console's transmit queue, as
 *                 many in flight as the ring holds
 *   out=both      the console from the BSP's user mode and COM1 after each
 *                 round of buffers
 *   out=blk-read  64 MiB virtio-blk reads into a buffer that is not 512-byte
 *                 aligned (with cache=none they bounce), the ring kept full
 *   out=blk-zeroes WRITE_ZEROES requests of 16 segments, each the whole
 *                 disk, without the unmap flag (on tmpfs, which has no
 *                 FALLOC_FL_ZERO_RANGE, every zero is written), ring kept full
 *
 * With more than one CPU and a blk mode, the other CPUs read the disk's
 * configuration space in a loop from kernel mode: each read waits for the
 * device's lock, which the worker holds while it serves a request, so a stop
 * must make the device give up a long request before the vCPUs can be
 * joined.
 *
 * Prints "flood: out=..." on COM1 first; never ends by itself.
 */
#include "virtio.h"

#define TX_BUF	(1u << 20)
#define TX_BASE	0x01000000ULL		/* 16 MiB: the buffers, 16 MiB of them */
#define RING	16

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint8_t user_stack[65536] __attribute__((aligned(16)));
static bool also_serial;

#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_WRITE_ZEROES	13
#define BLK_READ_LEN			(64u << 20)
#define BLK_BUF				(TX_BASE + 8)	/* 16 MiB + 8: O_DIRECT cannot take it */
#define BLK_SEGS			16

struct blk_hdr {
	uint32_t type, ioprio;
	uint64_t sector;
};

struct zero_seg {
	uint64_t sector;
	uint32_t num_sectors, flags;
};

static struct blk_hdr hdrs[RING];
static volatile bool dev_ready;
static volatile uint64_t ap_config_reads;
static struct zero_seg segs[RING][BLK_SEGS];
static uint8_t status[RING];

static long blk_flood(long zeroes)
{
	uint64_t sectors;
	int qs;

	check(virtio_find(VIRTIO_ID_BLOCK, 0, &dev) == 0, "flood: no virtio-blk");
	check(virtio_init(&dev, 0) == 0, "flood: virtio-blk initialization failed");
	qs = virtq_setup(&dev, &txq, 0, 4 * RING);	/* 3 descriptors a request */
	check(qs >= 3 * RING, "flood: queue setup failed");
	virtio_driver_ok(&dev);
	sectors = virtio_config64(&dev, 0);
	dev_ready = true;
	printf("flood: %s on a %lu-sector disk\n", zeroes ? "write-zeroes" : "64 MiB reads",
	       (unsigned long)sectors);
	for (unsigned i = 0; i < RING; i++)
		for (unsigned k = 0; k < BLK_SEGS; k++)
			segs[i][k] = (struct zero_seg){ 0, (uint32_t)sectors, 0 };
	for (unsigned n = 0;; n++) {
		uint32_t id, len;
		unsigned i = n % RING;
		struct virtq_buf b[3] = {
			{ &hdrs[i], sizeof(hdrs[i]), false },
			{ zeroes ? (void *)segs[i] : (void *)BLK_BUF,
			  zeroes ? (uint32_t)sizeof(segs[i]) : BLK_READ_LEN, !zeroes },
			{ &status[i], 1, true },
		};

		while (virtq_in_flight(&txq) >= RING)
			if (!virtq_poll(&txq, &id, &len))
				pause();
		while (virtq_poll(&txq, &id, &len))
			;
		hdrs[i] = (struct blk_hdr){ zeroes ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_IN, 0, 0 };
		check(virtq_add(&txq, b, 3, false) >= 0, "flood: request queue full");
		virtq_kick(&txq);
	}
	return 0;
}

static long serial_flood(long arg)
{
	(void)arg;
	for (;;)
		for (unsigned i = 0; i < 4096; i++)
			outb(0x3f8, (uint8_t)('a' + i % 26));
	return 0;
}

static long console_flood(long arg)
{
	uint8_t *p = (uint8_t *)TX_BASE;
	int rs, ts;

	(void)arg;
	check(virtio_find(VIRTIO_ID_CONSOLE, 0, &dev) == 0, "flood: no virtio console");
	check(virtio_init(&dev, 0) == 0, "flood: virtio-console initialization failed");
	rs = virtq_setup(&dev, &rxq, 0, RING);
	ts = virtq_setup(&dev, &txq, 1, RING);
	check(rs > 0 && ts > 0, "flood: queue setup failed");
	virtio_driver_ok(&dev);
	for (uint64_t i = 0; i < (uint64_t)RING * TX_BUF; i++)
		p[i] = (i & 63) == 63 ? '\n' : '#';
	for (unsigned round = 0;; round++) {
		uint32_t id, len;
		struct virtq_buf b = { p + (uint64_t)(round % RING) * TX_BUF, TX_BUF, false };

		/* Keep the ring full: reclaim what came back, then add one more. */
		while (virtq_in_flight(&txq) >= (unsigned)ts)
			if (!virtq_poll(&txq, &id, &len))
				pause();
		while (virtq_poll(&txq, &id, &len))
			;
		check(virtq_add(&txq, &b, 1, false) >= 0, "flood: transmit queue full");
		virtq_kick(&txq);
		if (also_serial)
			for (unsigned i = 0; i < 64; i++)
				outb(0x3f8, '+');
	}
	return 0;
}

void test_ap_main(unsigned index)
{
	(void)index;
	while (!dev_ready)
		pause();
	for (;;) {
		(void)virtio_config64(&dev, 0);
		__atomic_fetch_add(&ap_config_reads, 1, __ATOMIC_RELAXED);
	}
}

void test_main(void)
{
	char out[16] = "serial";

	cmdline_get("out", out, sizeof(out));
	printf("flood: out=%s\n", out);
	also_serial = !strcmp(out, "both");
	if (!strcmp(out, "serial"))
		user_call(serial_flood, 0, user_stack + sizeof(user_stack));
	else if (!strcmp(out, "console") || also_serial)
		virtio_run(console_flood, 0, user_stack + sizeof(user_stack));
	else if (!strcmp(out, "blk-read") || !strcmp(out, "blk-zeroes")) {
		smp_start_aps();
		virtio_run(blk_flood, !strcmp(out, "blk-zeroes"), user_stack + sizeof(user_stack));
	}
	fail("flood: out=%s: expected serial, console, both, blk-read or blk-zeroes", out);
}
