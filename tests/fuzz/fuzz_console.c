/*
 * virtio-console (virtio/console.c) as the worker and the console thread
 * drive it, without threads: the guest's transmit queue written to
 * /dev/null, host input offered to its receive queue, over guest RAM and
 * queue layouts from the input.
 *
 * Input: u8 flags (2: EVENT_IDX, 4: INDIRECT_DESC), for queue 0 (receive)
 * and queue 1 (transmit) u16 size and u32 desc, avail and used addresses;
 * 16 ops of 4 bytes (op, a, u16 b); then the contents of RAM (64 KiB).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "kvmrun/virtio_devices.h"

#define RAM0		0x10000ULL
#define NR_OPS		16
#define NR_QUEUES	2

enum { OP_END, OP_NOTIFY, OP_POKE, OP_INPUT, OP_RESET, OP_COUNT };

static struct guest_mem mem;
static int null_fd = -1;
static struct out_sink null_out;	/* output to /dev/null, drained by its thread */
static bool rx_wanted;

static void fake_interrupt(struct virtio_device *d, unsigned q, bool config)
{
	FUZZ_CHECK(config || q < d->nr_queues, "interrupt for queue %u", q);
}

static const struct virtio_transport_ops fake_transport = { .interrupt = fake_interrupt };

/* kvmrun's console thread is told to offer its pending input again (device lock held here). */
static void rx_space(void *opaque)
{
	(void)opaque;
	rx_wanted = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, 0, 0);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0 || out_sink_init(&null_out, null_fd, SINK_CAPACITY, "fuzz") ||
	    out_sink_start(&null_out))
		abort();
	return 0;
}

struct queue_layout {
	uint16_t num;
	uint32_t desc, avail, used;
};

static void driver_init(struct virtio_device *d, uint8_t flags, const struct queue_layout *l)
{
	uint64_t drop = 0;

	if (!(flags & 2))
		drop |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (!(flags & 4))
		drop |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	d->guest_features = d->host_features & ~drop;
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < NR_QUEUES; q++) {
		struct virtq *vq = &d->vq[q];

		vq->num = l[q].num;
		vq->desc_gpa = l[q].desc;
		vq->avail_gpa = l[q].avail;
		vq->used_gpa = l[q].used;
		if (!virtq_enable(vq, d->mem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
				  virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC)))
			vq->ready = true;
	}
	virtio_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct queue_layout l[NR_QUEUES];
	struct virtio_device d;
	uint8_t ops[NR_OPS][4];
	uint8_t flags = in_u8(&in);

	for (unsigned q = 0; q < NR_QUEUES; q++) {
		l[q].num = in_u16(&in);
		l[q].desc = in_u32(&in);
		l[q].avail = in_u32(&in);
		l[q].used = in_u32(&in);
	}
	in_bytes(&in, ops, sizeof(ops));
	in_bytes(&in, mem.region[0].host, RAM0);

	if (virtio_console_init(&d, &null_out, rx_space, NULL, &mem))
		abort();
	d.transport = &fake_transport;
	rx_wanted = false;
	driver_init(&d, flags, l);
	for (unsigned i = 0; i < NR_OPS; i++) {
		uint8_t op = ops[i][0] % OP_COUNT, arg = ops[i][1];
		uint16_t b = (uint16_t)(ops[i][2] | ops[i][3] << 8);

		if (op == OP_END)
			break;
		switch (op) {
		case OP_NOTIFY: {
			struct virtq *vq = &d.vq[arg % NR_QUEUES];
			uint16_t before = vq->last_avail;

			pthread_mutex_lock(&d.lock);
			virtio_serve_queue(&d, arg % NR_QUEUES);
			pthread_mutex_unlock(&d.lock);
			FUZZ_CHECK((uint16_t)(vq->last_avail - before) <=
				   VIRTIO_SERVE_ROUNDS * (unsigned)vq->num, "popped %u of a %u ring",
				   (uint16_t)(vq->last_avail - before), vq->num);
			break;
		}
		case OP_POKE:
			((uint8_t *)mem.region[0].host)[b % RAM0] = arg;
			break;
		case OP_INPUT: {	/* b bytes of typed input (from RAM, as good as any) */
			size_t n = b % 4096, taken;
			uint8_t *buf = malloc(n ? n : 1);

			if (!buf)
				abort();
			memcpy(buf, mem.region[0].host, n);
			taken = virtio_console_input(&d, buf, n);
			FUZZ_CHECK(taken <= n, "took %zu of %zu", taken, n);
			free(buf);
			break;
		}
		case OP_RESET:
			pthread_mutex_lock(&d.lock);
			virtio_set_status(&d, 0);
			pthread_mutex_unlock(&d.lock);
			driver_init(&d, flags, l);
			break;
		}
	}
	virtio_device_destroy(&d);
	return 0;
}
