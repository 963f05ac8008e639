/*
 * virtio-console (device id 3) over virtio-mmio, without
 * VIRTIO_CONSOLE_F_MULTIPORT: port 0 on queues 0 (receiveq) and 1 (transmitq).
 * Sends "virtio-console: hello from the guest\n" (in two buffers), waits for a
 * line from the host, prints "virtio-console got: <line>" on COM1 and sends
 * "virtio-console echo: <line>\n" back (through an indirect table when
 * negotiated).  Runs in CPL3 (cpl=0: in CPL0).
 *
 * huge_tx=1 then sends one buffer of 256 MiB (two descriptors over RAM from
 * 256 MiB up, filled with lines of dots; needs --memory 512M or more): the
 * device writes only a bounded part of it, returns it, and the line after
 * it ("virtio-console: after the huge buffer") still comes out.
 *
 * Command line: virtio_mmio.device=... (one per transport), optional
 * console_expect=WORD (the line must equal it), huge_tx=1, virtio_timeout=MS
 * (how long to wait for the host's line, default 10000).
 */
#include "virtio.h"

#define VIRTIO_CONSOLE_F_SIZE		0
#define VIRTIO_CONSOLE_F_MULTIPORT	1

#define RX_BUFS		8
#define RX_BUF_SIZE	64
#define LINE_MAX	256

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint8_t rx_bufs[RX_BUFS][RX_BUF_SIZE];
static uint8_t head_buf[VIRTQ_MAX_SIZE];
static char line[LINE_MAX + 1];
static char tx[LINE_MAX + 64];
static uint8_t user_stack[65536] __attribute__((aligned(16)));

static void rx_post(unsigned i)
{
	struct virtq_buf b = { rx_bufs[i], RX_BUF_SIZE, true };
	int head = virtq_add(&rxq, &b, 1, false);

	check(head >= 0, "virtio-console: receive queue full");
	head_buf[head] = (uint8_t)i;
}

static void send(const char *a, const char *b, bool indirect)
{
	struct virtq_buf bufs[2] = {
		{ (void *)a, (uint32_t)strlen(a), false },
		{ (void *)b, (uint32_t)strlen(b), false },
	};

	virtq_xfer(&txq, bufs, b[0] ? 2 : 1, indirect);
}

#define HUGE_BASE	0x10000000ULL	/* 256 MiB */
#define HUGE_HALF	0x08000000U	/* 128 MiB per descriptor */

static void huge_tx(void)
{
	uint8_t *p = (uint8_t *)HUGE_BASE;
	struct virtq_buf bufs[2] = {
		{ p, HUGE_HALF, false },
		{ p + HUGE_HALF, HUGE_HALF, false },
	};

	for (uint64_t i = 0; i < 2ULL * HUGE_HALF; i++)
		p[i] = (i & 63) == 63 ? '\n' : '.';
	virtq_xfer(&txq, bufs, 2, false);
	send("virtio-console: after the huge buffer\n", "", false);
	printf("virtio-console: a 256 MiB transmit buffer came back\n");
}

/* Collects bytes from the receive queue until a newline; returns the line's length. */
static unsigned receive_line(void)
{
	unsigned len = 0, bytes = 0, bufs = 0;

	for (;;) {
		uint32_t id, n;
		uint8_t *p;

		if (!virtq_wait(&rxq, &id, &n)) {
			line[len] = 0;
			fail("virtio-console: no line from the host within %lu ms (%u bytes so far: '%s')",
			     virtio_timeout_ms, bytes, line);
		}
		check(n <= RX_BUF_SIZE, "virtio-console: device wrote %u bytes into a %u-byte buffer", n, RX_BUF_SIZE);
		p = rx_bufs[head_buf[id]];
		bytes += n;
		bufs++;
		for (uint32_t i = 0; i < n; i++) {
			if (p[i] == '\n') {
				line[len] = 0;
				if (len && line[len - 1] == '\r')
					line[--len] = 0;
				printf("virtio-console: received %u bytes in %u buffers\n", bytes, bufs);
				return len;
			}
			if (len < LINE_MAX)
				line[len++] = (char)p[i];
		}
		rx_post(head_buf[id]);
		virtq_kick(&rxq);
	}
}

static long run(long arg)
{
	char expect[LINE_MAX];
	int rs, ts;

	(void)arg;
	virtio_mmio_list();
	check(virtio_find(VIRTIO_ID_CONSOLE, 0, &dev) == 0, "virtio-console: no console device (id 3) found");
	check(virtio_init(&dev, VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE) | VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
				VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX)) == 0,
	      "virtio-console: device initialization failed");
	check(!virtio_has(&dev, VIRTIO_CONSOLE_F_MULTIPORT), "virtio-console: MULTIPORT negotiated unasked");
	rs = virtq_setup(&dev, &rxq, 0, 64);
	ts = virtq_setup(&dev, &txq, 1, 64);
	check(rs > 0 && ts > 0, "virtio-console: queue setup failed");
	virtio_driver_ok(&dev);
	printf("virtio-console: device on ");
	virtio_print_where(&dev);
	printf(", features offered 0x%lx negotiated 0x%lx, queues %d/%d\n",
	       dev.offered, dev.features, rs, ts);
	if (virtio_has(&dev, VIRTIO_CONSOLE_F_SIZE))
		printf("virtio-console: %u columns, %u rows\n", virtio_config16(&dev, 0), virtio_config16(&dev, 2));

	for (unsigned i = 0; i < RX_BUFS && i < (unsigned)rs; i++)
		rx_post(i);
	virtq_kick(&rxq);

	send("virtio-console: ", "hello from the guest\n", false);
	printf("virtio-console: sent the hello line\n");
	receive_line();
	printf("virtio-console got: %s\n", line);
	snprintf(tx, sizeof(tx), "virtio-console echo: %s\n", line);
	send(tx, "", true);
	if (cmdline_get("console_expect", expect, sizeof(expect)))
		check(!strcmp(line, expect), "virtio-console: got '%s', expected '%s'", line, expect);
	if (cmdline_get("huge_tx", expect, sizeof(expect)) && !strcmp(expect, "1"))
		huge_tx();
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "virtio-console: device needs reset");
	return 0;
}

void test_main(void)
{
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
