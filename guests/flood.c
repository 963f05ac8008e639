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
	fail("flood: out=%s: expected serial, console or both", out);
}
