/*
 * virtio-rng (device id 4) over virtio-mmio: reads bytes= (default 4096) bytes
 * twice, first one request at a time (every other one through an indirect
 * table when negotiated), then with the whole ring in flight; checks the data
 * looks random and that the two reads differ.  Runs in CPL3 (cpl=0: in CPL0).
 *
 * reinit=N then resets the device N times right after posting requests and
 * initializes it again (features and queue size alternate): the device must
 * come back empty (no stale completions) and serve the new rings.
 *
 * Command line: virtio_mmio.device=... (one per transport), optional
 * bytes=N (<= 16384), chunk=N (bytes per request, default 256), reinit=N,
 * virtio_timeout=MS.
 */
#include "virtio.h"

#define MAX_BYTES	16384

static struct virtio_dev dev;
static struct virtq vq;
static uint8_t data[2][MAX_BYTES];
static uint8_t user_stack[65536] __attribute__((aligned(16)));
static uint64_t total = 4096, chunk = 256, reinit;
static unsigned requests;

/* One request at a time; a device may fill less than it was given. */
static void read_serial(uint8_t *p, uint64_t n)
{
	uint64_t got = 0;

	while (got < n) {
		uint32_t want = (uint32_t)(n - got < chunk ? n - got : chunk), len;
		bool ind = (requests & 1) && want >= 2;
		struct virtq_buf b[2] = {
			{ p + got, ind ? want / 2 : want, true },
			{ p + got + want / 2, want - want / 2, true },
		};

		len = virtq_xfer(&vq, b, ind ? 2 : 1, ind);
		requests++;
		check(len <= want, "virtio-rng: device wrote %u bytes into a %u-byte request", len, want);
		got += len;
	}
}

/* Many requests in flight at once; completions may come back in any order. */
static void read_parallel(uint8_t *p, uint64_t n)
{
	uint64_t next = 0, done = 0;
	uint64_t off[VIRTQ_MAX_SIZE];
	uint32_t size[VIRTQ_MAX_SIZE];

	while (done < n) {
		uint32_t id, len;

		while (next < n && vq.num_free) {
			uint32_t want = (uint32_t)(n - next < chunk ? n - next : chunk);
			struct virtq_buf b = { p + next, want, true };
			int head = virtq_add(&vq, &b, 1, false);

			check(head >= 0, "virtio-rng: ring full with %u free", vq.num_free);
			off[head] = next;
			size[head] = want;
			next += want;
			requests++;
		}
		virtq_kick(&vq);
		check(virtq_wait(&vq, &id, &len), "virtio-rng: no completion within %lu ms (%u in flight)",
		      virtio_timeout_ms, virtq_in_flight(&vq));
		check(len <= size[id], "virtio-rng: device wrote %u bytes into a %u-byte request", len, size[id]);
		if (len < size[id]) {
			/* Short fill: ask again for the rest of that piece. */
			struct virtq_buf b = { p + off[id] + len, size[id] - len, true };
			int head = virtq_add(&vq, &b, 1, false);

			check(head >= 0, "virtio-rng: no room to re-queue a short request");
			off[head] = off[id] + len;
			size[head] = size[id] - len;
			requests++;
		}
		done += len;
	}
}

static void check_random(const uint8_t *p, uint64_t n, const char *what)
{
	bool seen[256] = { false };
	unsigned distinct = 0, zeros = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (!seen[p[i]]) {
			seen[p[i]] = true;
			distinct++;
		}
		zeros += p[i] == 0;
	}
	check(zeros < n, "virtio-rng: %s: all %lu bytes are zero", what, n);
	check(distinct > 1, "virtio-rng: %s: all %lu bytes are 0x%x", what, n, p[0]);
	/* 4 KiB of random bytes hit nearly all 256 values; demand a loose share. */
	if (n >= 4096)
		check(distinct >= 200, "virtio-rng: %s: only %u distinct byte values in %lu bytes", what, distinct, n);
	printf("virtio-rng: %s: %lu bytes, %u distinct values, %u zeros\n", what, n, distinct, zeros);
}

/* Reset right after posting requests, then a fresh start with other features and another ring size. */
static void reset_and_reinit(unsigned round)
{
	uint64_t feats = round & 1 ? 0 : VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
					  VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	unsigned size = round & 1 ? 16 : 64;
	uint32_t id, len;
	int qs;

	for (unsigned i = 0; i < 8 && vq.num_free; i++) {
		struct virtq_buf b = { data[0] + 64 * i, 64, true };

		check(virtq_add(&vq, &b, 1, false) >= 0, "virtio-rng: ring full");
	}
	virtq_kick(&vq);
	check(virtio_reset(&dev) == 0, "virtio-rng: reset %u did not complete", round);
	check(virtio_status(&dev) == 0, "virtio-rng: status 0x%x after reset", virtio_status(&dev));
	check(virtio_init(&dev, feats) == 0, "virtio-rng: re-initialization %u failed", round);
	qs = virtq_setup(&dev, &vq, 0, size);	/* also checks the queue is not live after the reset */
	check(qs == (int)size, "virtio-rng: queue size %d after reset, wanted %u", qs, size);
	virtio_driver_ok(&dev);
	check(!virtq_poll(&vq, &id, &len), "virtio-rng: a completion on a fresh ring after reset");
	memset(data[1], 0, total);
	read_serial(data[1], total);
	check_random(data[1], total, "after reset");
	printf("virtio-rng: reset %u right after posting requests, re-initialized (features 0x%lx, queue size %d)\n",
	       round, dev.features, qs);
}

static long run(long arg)
{
	int qs;
	unsigned same = 0;

	(void)arg;
	virtio_mmio_list();
	check(virtio_find(VIRTIO_ID_RNG, 0, &dev) == 0, "virtio-rng: no entropy device (id 4) found");
	check(virtio_init(&dev, VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX)) == 0,
	      "virtio-rng: device initialization failed");
	qs = virtq_setup(&dev, &vq, 0, 64);
	check(qs > 0, "virtio-rng: request queue setup failed");
	virtio_driver_ok(&dev);
	printf("virtio-rng: device on ");
	virtio_print_where(&dev);
	printf(", features offered 0x%lx negotiated 0x%lx, queue size %d\n",
	       dev.offered, dev.features, qs);

	memset(data, 0, sizeof(data));
	read_serial(data[0], total);
	check_random(data[0], total, "serial read");
	read_parallel(data[1], total);
	check_random(data[1], total, "parallel read");
	for (uint64_t i = 0; i < total; i++)
		same += data[0][i] == data[1][i];
	check(same < total / 16 + 8, "virtio-rng: two reads agree in %u of %lu bytes", same, total);
	printf("virtio-rng: the two reads differ (%u equal bytes at the same offsets)\n", same);
	printf("virtio-rng: %lu bytes in %u requests, %lu notifies (%lu skipped)%s%s\n",
	       2 * total, requests, vq.notifies, vq.kicks_skipped,
	       vq.indirect ? ", indirect" : "", vq.event_idx ? ", event-idx" : "");
	check(virtio_status(&dev) & VIRTIO_STATUS_DRIVER_OK, "virtio-rng: device status 0x%x", virtio_status(&dev));
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "virtio-rng: device needs reset");
	for (uint64_t i = 0; i < reinit; i++)
		reset_and_reinit((unsigned)i);
	return 0;
}

void test_main(void)
{
	cmdline_u64("bytes", &total);
	cmdline_u64("chunk", &chunk);
	cmdline_u64("reinit", &reinit);
	check(total > 0 && total <= MAX_BYTES, "bytes= must be 1..%u", MAX_BYTES);
	check(chunk > 0 && chunk <= 65536, "chunk= must be 1..65536");
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
