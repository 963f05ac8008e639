/*
 * bench_disk: what the host's disk itself gives to O_DIRECT I/O, with no VM
 * in the way: the ceiling for the virtio-blk rows with cache=none.
 *
 *   bench_disk FILE seqread|seqwrite|randread QD BLOCK_KIB TOTAL_MIB
 *
 * Keeps QD requests of BLOCK_KIB in flight through one io_uring (raw system
 * calls, as block/uring.c) until TOTAL_MIB went by (randread: 4 KiB-aligned
 * offsets spread over the file), then prints one line:
 *   bench_disk: MODE qd=QD bs=KIB MiB/s=N iops=N
 * A seqwrite overwrites the file's first TOTAL_MIB: give it a scratch image.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD	64u

static void die(const char *what)
{
	fprintf(stderr, "bench_disk: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64: random offsets without libc's state. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	unsigned qd, inflight = 0;
	uint64_t bs, total, size, next = 0, done = 0, issued = 0, seed = 0x9e3779b97f4a7c15ull;
	int fd, rfd, write_mode, rand_mode;
	struct stat st;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_disk FILE seqread|seqwrite|randread QD BLOCK_KIB TOTAL_MIB\n");
		return 2;
	}
	write_mode = !strcmp(argv[2], "seqwrite");
	rand_mode = !strcmp(argv[2], "randread");
	if (!write_mode && !rand_mode && strcmp(argv[2], "seqread")) {
		fprintf(stderr, "bench_disk: mode '%s' is not seqread, seqwrite or randread\n", argv[2]);
		return 2;
	}
	qd = (unsigned)strtoul(argv[3], NULL, 10);
	bs = strtoull(argv[4], NULL, 10) << 10;
	total = strtoull(argv[5], NULL, 10) << 20;
	if (!qd || qd > MAX_QD || !bs || bs > (8u << 20) || total < bs) {
		fprintf(stderr, "bench_disk: QD 1..%u, BLOCK_KIB 1..8192, TOTAL_MIB at least one block\n",
			MAX_QD);
		return 2;
	}
	fd = open(argv[1], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(argv[1]);
	size = (uint64_t)st.st_size / bs * bs;
	if (size < bs || (!rand_mode && size < total)) {
		fprintf(stderr, "bench_disk: %s is smaller than TOTAL_MIB\n", argv[1]);
		return 1;
	}

	rfd = (int)syscall(__NR_io_uring_setup, MAX_QD, &p);
	if (rfd < 0)
		die("io_uring_setup");
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	uint8_t *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rfd,
			   IORING_OFF_SQ_RING);
	uint8_t *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rfd,
			   IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, rfd, IORING_OFF_SQES);

	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		die("mmap of the ring");
	unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail), *sq_array = (unsigned *)(sq + p.sq_off.array);
	unsigned sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *cq_head = (unsigned *)(cq + p.cq_off.head), *cq_tail = (unsigned *)(cq + p.cq_off.tail);
	unsigned cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	/* On transparent huge pages, as kvmrun's guest RAM: 4 KiB pages split large transfers. */
	size_t blen = ((size_t)(qd * bs) + (4u << 20)) & ~(size_t)((2u << 20) - 1);
	uint8_t *raw = mmap(NULL, blen + (2u << 20), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned free_slots[MAX_QD], nfree = qd;

	if (raw == MAP_FAILED)
		die("buffers");
	uint8_t *bufs = (uint8_t *)(((uintptr_t)raw + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));

	madvise(bufs, blen, MADV_HUGEPAGE);
	memset(bufs, 0x5a, (size_t)(qd * bs));
	for (unsigned i = 0; i < qd; i++)
		free_slots[i] = i;

	uint64_t t0 = now_ns();

	while (done < total) {
		unsigned tail = __atomic_load_n(sq_tail, __ATOMIC_RELAXED), queued = 0;

		while (nfree && issued < total) {
			unsigned slot = free_slots[--nfree], idx = tail & sq_mask;
			struct io_uring_sqe *e = &sqes[idx];

			memset(e, 0, sizeof(*e));
			e->opcode = write_mode ? IORING_OP_WRITE : IORING_OP_READ;
			e->fd = fd;
			e->addr = (uint64_t)(uintptr_t)(bufs + slot * bs);
			e->len = (unsigned)bs;
			e->off = rand_mode ? rnd(&seed) % (size / bs) * bs : next;
			e->user_data = slot;
			next += bs;
			issued += bs;
			sq_array[idx] = idx;
			tail++;
			queued++;
		}
		__atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
		inflight += queued;
		if (syscall(__NR_io_uring_enter, rfd, queued, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 &&
		    errno != EINTR)
			die("io_uring_enter");
		unsigned head = *cq_head;

		while (head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
			struct io_uring_cqe *c = &cqes[head & cq_mask];

			if (c->res != (int)bs) {
				errno = c->res < 0 ? -c->res : EIO;
				die(c->res < 0 ? "I/O" : "short I/O");
			}
			free_slots[nfree++] = (unsigned)c->user_data;
			inflight--;
			done += bs;
			head++;
		}
		__atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
	}
	double s = (double)(now_ns() - t0) / 1e9;

	printf("bench_disk: %s qd=%u bs=%llu MiB/s=%.0f iops=%.0f\n", argv[2], qd,
	       (unsigned long long)(bs >> 10), (double)total / 1048576.0 / s, (double)(total / bs) / s);
	return 0;
}
