/*
 * The split-virtqueue walker (virtio/virtqueue.c) over guest memory whose
 * every byte comes from the input: ring addresses and size, descriptors,
 * indirect tables, and a script of device operations (pop, push, interrupt
 * and notification checks, copies through the popped chains) interleaved
 * with the guest rewriting its memory, under the worker's per-round allowance
 * or not.
 *
 * Input: u16 num, u8 flags (1: EVENT_IDX, 2: INDIRECT_DESC), u64 desc, avail
 * and used addresses; 32 ops of 4 bytes (op, a, u16 b); then the contents
 * of RAM (64 KiB at 0, then 4 KiB at 4 GiB).
 */
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/virtio.h"

#define RAM0		0x10000ULL
#define RAM1_GPA	0x100000000ULL
#define RAM1		0x1000ULL
#define NR_OPS		32
#define MAX_PENDING	512

enum { OP_END, OP_POP, OP_PUSH, OP_INTERRUPT, OP_NOTIFY, OP_HAS_AVAIL, OP_POKE, OP_COPY,
       OP_RESET, OP_BUDGET, OP_COUNT };

static struct guest_mem mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	fuzz_mem_init(&mem, RAM0, RAM1_GPA, RAM1);
	return 0;
}

/* What virtq_pop() promises about a chain it returns. */
static void check_chain(const struct virtq *vq, const struct virtq_chain *c)
{
	size_t out = 0, in = 0;

	FUZZ_CHECK(c->head < vq->num, "head %u, num %u", c->head, vq->num);
	FUZZ_CHECK(c->n_out + c->n_in >= 1 && c->n_out + c->n_in <= VIRTQ_MAX_SEGS,
		   "%u + %u segments", c->n_out, c->n_in);
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		const volatile uint8_t *p = c->iov[i].iov_base;
		size_t l = c->iov[i].iov_len;

		FUZZ_CHECK(fuzz_mem_contains(&mem, c->iov[i].iov_base, l), "segment %u (%zu bytes) outside RAM", i, l);
		if (l) {
			(void)p[0];	/* ASan: both ends are real guest RAM */
			(void)p[l - 1];
		}
		if (i < c->n_out)
			out += l;
		else
			in += l;
	}
	FUZZ_CHECK(out == c->out_len && in == c->in_len, "lengths %zu/%zu vs %zu/%zu", out, in,
		   c->out_len, c->in_len);
}

static int setup(struct virtq *vq, uint16_t num, uint64_t d, uint64_t a, uint64_t u,
		 uint8_t flags)
{
	virtq_reset(vq);
	vq->num = num;
	vq->desc_gpa = d;
	vq->avail_gpa = a;
	vq->used_gpa = u;
	if (virtq_enable(vq, &mem, flags & 1, flags & 2))
		return -1;
	FUZZ_CHECK(guest_mem_ptr(&mem, d, 16ULL * num) && guest_mem_ptr(&mem, a, 6 + 2ULL * num) &&
		   guest_mem_ptr(&mem, u, 6 + 8ULL * num), "enabled rings outside RAM");
	vq->ready = true;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	static uint16_t pending[MAX_PENDING];
	static uint8_t scratch[4096];
	struct fuzz_in in = { data, size };
	struct virtq vq;
	uint8_t ops[NR_OPS][4];
	uint16_t num = in_u16(&in);
	uint8_t flags = in_u8(&in);
	uint64_t d = in_u64(&in), a = in_u64(&in), u = in_u64(&in);
	unsigned np = 0, pp = 0;
	uint16_t allowance = 0;	/* the worker's, lent to the queue by OP_BUDGET */
	bool have_chain = false;

	in_bytes(&in, ops, sizeof(ops));
	in_bytes(&in, mem.region[0].host, RAM0);
	in_bytes(&in, mem.region[1].host, RAM1);

	if (setup(&vq, num, d, a, u, flags))
		return 0;
	for (unsigned i = 0; i < NR_OPS; i++) {
		uint8_t op = ops[i][0] % OP_COUNT, arg = ops[i][1];
		uint16_t b = (uint16_t)(ops[i][2] | ops[i][3] << 8);
		uint16_t before = vq.last_avail;
		int r;

		switch (op) {
		case OP_END:
			return 0;
		case OP_POP: {
			bool had = virtq_has_avail(&vq), spent = vq.budget && !*vq.budget;
			uint16_t budget = vq.budget ? *vq.budget : 0;

			r = virtq_pop(&vq, &mem, &chain);
			/* has_avail false: nothing to pop; a spent allowance: nothing either. */
			FUZZ_CHECK(r == 0 || (had && !spent), "pop returned %d (has_avail %d, spent %d)",
				   r, had, spent);
			if (r == 1 && vq.budget)
				FUZZ_CHECK(*vq.budget == budget - 1, "allowance %u -> %u", budget,
					   *vq.budget);
			if (r == 1) {
				check_chain(&vq, &chain);
				FUZZ_CHECK((uint16_t)(vq.last_avail - before) == 1, "last_avail moved %u",
					   (uint16_t)(vq.last_avail - before));
				if (np < MAX_PENDING)
					pending[np++] = chain.head;
				have_chain = true;
			} else if (r < 0) {
				FUZZ_CHECK(r == -EINVAL && vq.broken, "pop returned %d", r);
				FUZZ_CHECK(virtq_pop(&vq, &mem, &chain) == 0, "broken queue still pops");
				FUZZ_CHECK(!virtq_has_avail(&vq), "broken queue has buffers");
				have_chain = false;
			} else {
				FUZZ_CHECK(r == 0 && vq.last_avail == before, "pop returned %d", r);
			}
			break;
		}
		case OP_BUDGET:	/* the worker's per-round allowance (virtio_serve_queue) */
			allowance = (uint16_t)(b % (VIRTQ_MAX_SIZE + 1));
			vq.budget = arg & 1 ? &allowance : NULL;
			break;
		case OP_PUSH:
			/* Devices return what they popped, in any order: oldest first here. */
			if (pp < np)
				virtq_push(&vq, pending[pp++], (uint32_t)b << 8 | arg);
			break;
		case OP_INTERRUPT:
			virtq_should_interrupt(&vq, b);
			break;
		case OP_NOTIFY:
			virtq_set_notification(&vq, arg & 1);
			break;
		case OP_HAS_AVAIL:
			virtq_has_avail(&vq);
			break;
		case OP_POKE:	/* the guest changes its memory between device steps */
			((uint8_t *)mem.region[0].host)[b % RAM0] = arg;
			break;
		case OP_COPY:
			if (!have_chain)
				break;
			iov_to_buf(chain.iov, chain.n_out, b, scratch, arg * 16u);
			buf_to_iov(chain.iov + chain.n_out, chain.n_in, b, scratch, arg * 16u);
			break;
		case OP_RESET:	/* a device reset, then the same rings again */
			np = pp = 0;
			have_chain = false;
			if (setup(&vq, num, d, a, u, flags))
				return 0;
			break;
		}
	}
	return 0;
}
