/*
 * Unit tests for the split-virtqueue walker (virtio/virtqueue.c) against
 * hand-built, hostile rings in a real guest_mem: bad addresses, loops,
 * malformed indirect tables, rings the guest rewrites behind our back.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmrun/mem.h"
#include "kvmrun/virtio.h"
#include "testlib.h"

#define RAM_SIZE	(16ULL << 20)
/* DESC_GPA, AVAIL_GPA and USED_GPA come from testlib.h. */
#define IND_GPA		0x40000ULL	/* indirect tables, up to 0x50000 */
#define IND2_GPA	0x50000ULL
#define BUF_GPA		0x100000ULL	/* data buffers */

static struct guest_mem mem;
static struct virtq vq;

/* ---- building rings in guest memory, as a driver would ---- */

static void *gptr(uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&mem, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static struct vring_desc *table_at(uint64_t gpa)
{
	return gptr(gpa, sizeof(struct vring_desc));
}

static void set_desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	/* memcpy: a hostile table need not be aligned. */
	memcpy(gptr(table + 16ULL * i, sizeof(d)), &d, sizeof(d));
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc_at(DESC_GPA, i, addr, len, flags, next);
}

static struct vring_avail *avail(void)
{
	return gptr(AVAIL_GPA, 4);
}

static struct vring_used *used(void)
{
	return gptr(USED_GPA, 4);
}

/* Makes head available: writes the ring slot, then bumps avail->idx. */
static void avail_add(uint16_t head)
{
	struct vring_avail *a = avail();

	a->ring[a->idx % vq.num] = head;
	a->idx++;
}

/* Fresh rings of num entries at the fixed addresses, enabled and ready. */
static void vq_setup(uint16_t num, bool event_idx, bool indirect)
{
	memset(gptr(DESC_GPA, 0x10000), 0, 0x10000);
	memset(gptr(AVAIL_GPA, 0x10000), 0, 0x10000);
	memset(gptr(USED_GPA, 0x10000), 0, 0x10000);
	memset(gptr(IND_GPA, 0x20000), 0, 0x20000);
	virtq_reset(&vq);
	vq.num = num;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	ck_assert_int_eq(virtq_enable(&vq, &mem, event_idx, indirect), 0);
	vq.ready = true;
}

/* A chain checked by ASan: an exact-size heap object, so iov[VIRTQ_MAX_SEGS] overflows show. */
static struct virtq_chain *chain_new(void)
{
	struct virtq_chain *c = malloc(sizeof(*c));

	ck_assert_ptr_nonnull(c);
	memset(c, 0xa5, sizeof(*c));
	return c;
}

/* Pops one chain that must be rejected, then checks the queue stays dead. */
static void expect_rejected(void)
{
	struct virtq_chain *c = chain_new();

	ck_assert_int_eq(virtq_pop(&vq, &mem, c), -EINVAL);
	ck_assert(vq.broken);
	ck_assert(!virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	free(c);
}

static void setup(void)
{
	ck_assert_int_eq(guest_mem_init(&mem, RAM_SIZE, false, HUGEPAGES_NONE), 0);
	vq_setup(8, false, true);
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

/* ---- valid chains ---- */

START_TEST(test_valid_chain)
{
	struct virtq_chain *c = chain_new();

	/* Head 5 -> 2 -> 7: two readable, then one writable. */
	set_desc(5, BUF_GPA, 100, VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA + 0x1000, 200, VRING_DESC_F_NEXT, 7);
	set_desc(7, BUF_GPA + 0x2000, 300, VRING_DESC_F_WRITE, 0);
	ck_assert(!virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	avail_add(5);
	ck_assert(virtq_has_avail(&vq));

	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 5);
	ck_assert_uint_eq(c->n_out, 2);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_uint_eq(c->out_len, 300);
	ck_assert_uint_eq(c->in_len, 300);
	ck_assert_ptr_eq(c->iov[0].iov_base, guest_mem_ptr(&mem, BUF_GPA, 1));
	ck_assert_uint_eq(c->iov[0].iov_len, 100);
	ck_assert_ptr_eq(c->iov[1].iov_base, guest_mem_ptr(&mem, BUF_GPA + 0x1000, 1));
	ck_assert_uint_eq(c->iov[1].iov_len, 200);
	ck_assert_ptr_eq(c->iov[2].iov_base, guest_mem_ptr(&mem, BUF_GPA + 0x2000, 1));
	ck_assert_uint_eq(c->iov[2].iov_len, 300);
	ck_assert(!vq.broken);
	ck_assert_uint_eq(vq.last_avail, 1);

	/* Consumed: nothing more until the driver adds another. */
	ck_assert(!virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);

	/* A single writable descriptor is a valid chain too. */
	set_desc(0, BUF_GPA + 0x3000, 4096, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 0);
	ck_assert_uint_eq(c->n_out, 0);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_uint_eq(c->out_len, 0);
	ck_assert_uint_eq(c->in_len, 4096);
	free(c);
}
END_TEST

START_TEST(test_several_chains_in_order)
{
	struct virtq_chain *c = chain_new();

	for (unsigned i = 0; i < 8; i++) {
		set_desc(i, BUF_GPA + 0x1000ULL * i, 10 + i, 0, 0);
		avail_add((uint16_t)(7 - i));
	}
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
		ck_assert_uint_eq(c->head, 7 - i);
		ck_assert_uint_eq(c->n_out, 1);
		ck_assert_uint_eq(c->iov[0].iov_len, 10 + (7 - i));
	}
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	free(c);
}
END_TEST

START_TEST(test_not_ready)
{
	struct virtq_chain *c = chain_new();

	set_desc(0, BUF_GPA, 16, 0, 0);
	avail_add(0);
	vq.ready = false;
	ck_assert(!virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	ck_assert_uint_eq(vq.last_avail, 0);
	vq.ready = true;
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	free(c);
}
END_TEST

START_TEST(test_zero_length_descriptors)
{
	struct virtq_chain *c = chain_new();

	set_desc(0, BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA + 0x100, 8, VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA + 0x200, 0, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->n_out, 2);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_uint_eq(c->out_len, 8);
	ck_assert_uint_eq(c->in_len, 0);
	ck_assert_uint_eq(c->iov[0].iov_len, 0);
	ck_assert_uint_eq(c->iov[1].iov_len, 8);
	ck_assert_uint_eq(c->iov[2].iov_len, 0);
	ck_assert(!vq.broken);
	free(c);
}
END_TEST

START_TEST(test_full_length_chain_ok)
{
	struct virtq_chain *c = chain_new();

	/* Exactly num descriptors, each visited once: the longest legal chain. */
	vq_setup(256, false, false);
	for (unsigned i = 0; i < 256; i++)
		set_desc(i, BUF_GPA + i, 1, i == 255 ? 0 : VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->n_out, 256);
	ck_assert_uint_eq(c->out_len, 256);
	ck_assert_ptr_eq(c->iov[255].iov_base, guest_mem_ptr(&mem, BUF_GPA + 255, 1));
	free(c);
}
END_TEST

/* ---- indirect tables ---- */

START_TEST(test_indirect_valid)
{
	struct virtq_chain *c = chain_new();

	set_desc_at(IND_GPA, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);
	set_desc_at(IND_GPA, 2, BUF_GPA + 0x100, 32, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA + 0x200, 64, VRING_DESC_F_WRITE, 0);
	/* The WRITE flag on the descriptor that points to the table must be ignored. */
	set_desc(3, IND_GPA, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	avail_add(3);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 3);
	ck_assert_uint_eq(c->n_out, 2);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_uint_eq(c->out_len, 48);
	ck_assert_uint_eq(c->in_len, 64);
	ck_assert_ptr_eq(c->iov[0].iov_base, guest_mem_ptr(&mem, BUF_GPA, 1));
	ck_assert_ptr_eq(c->iov[1].iov_base, guest_mem_ptr(&mem, BUF_GPA + 0x100, 1));
	ck_assert_ptr_eq(c->iov[2].iov_base, guest_mem_ptr(&mem, BUF_GPA + 0x200, 1));
	ck_assert_uint_eq(c->iov[2].iov_len, 64);
	ck_assert(!vq.broken);
	free(c);
}
END_TEST

START_TEST(test_indirect_max_entries_ok)
{
	struct virtq_chain *c = chain_new();

	/* A table of exactly VIRTQ_MAX_INDIRECT entries of which the chain uses one. */
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(0, IND_GPA, VIRTQ_MAX_INDIRECT * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->n_out, 1);
	ck_assert_uint_eq(c->out_len, 8);
	free(c);
}
END_TEST

START_TEST(test_indirect_nested)
{
	set_desc_at(IND2_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, IND2_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_nested_first)
{
	/* The table's very first entry is itself indirect (pointing at its own table). */
	set_desc_at(IND_GPA, 0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_with_next)
{
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(0, IND_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_bad_sizes)
{
	static const uint32_t lens[] = {
		0, 8, 15, 17, 24, 16 * 3 + 1, (VIRTQ_MAX_INDIRECT + 1) * 16,
		(VIRTQ_MAX_INDIRECT + 2) * 16, 0x80000000u, 0xfffffff0u, 0xffffffffu,
	};

	for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		vq_setup(8, false, true);
		for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT + 2; i++)
			set_desc_at(IND_GPA, i, BUF_GPA, 8, 0, 0);
		set_desc(0, IND_GPA, lens[k], VRING_DESC_F_INDIRECT, 0);
		avail_add(0);
		expect_rejected();
	}
}
END_TEST

START_TEST(test_indirect_not_negotiated)
{
	vq_setup(8, false, false);
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_loop)
{
	/* Two-node loop 0 -> 1 -> 0 inside a 2-entry table. */
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	set_desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_self_loop_big_table)
{
	/* A self loop in a table of 1024 entries: must stop, not spin or overflow iov[]. */
	for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		set_desc_at(IND_GPA, i, BUF_GPA, 8, VRING_DESC_F_NEXT, (uint16_t)i);
	set_desc(0, IND_GPA, VIRTQ_MAX_INDIRECT * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_next_out_of_range)
{
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 3);	/* table has 3 entries */
	set_desc_at(IND_GPA, 3, BUF_GPA, 8, 0, 0);
	set_desc(0, IND_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_table_outside_ram)
{
	static const struct { uint64_t addr; uint32_t len; } bad[] = {
		{ RAM_SIZE - 16, 32 },			/* straddles the end of RAM */
		{ RAM_SIZE, 16 },			/* just past it */
		{ UINT64_MAX - 15, 32 },		/* addr + len wraps past 2^64 */
		{ UINT64_MAX & ~15ULL, 16 },		/* ends exactly at 2^64 */
		{ MEM_HOLE_START, 16 },			/* in the MMIO hole */
	};

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		vq_setup(8, false, true);
		set_desc(0, bad[k].addr, bad[k].len, VRING_DESC_F_INDIRECT, 0);
		avail_add(0);
		expect_rejected();
	}
	/* A zero-length table right at the end of RAM: no entry may be read. */
	vq_setup(8, false, true);
	set_desc(0, RAM_SIZE, 0, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
	/* The last whole entry in RAM is fine. */
	vq_setup(8, false, true);
	set_desc_at(RAM_SIZE - 16, 0, BUF_GPA, 8, 0, 0);
	set_desc(0, RAM_SIZE - 16, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	{
		struct virtq_chain *c = chain_new();

		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
		ck_assert_uint_eq(c->out_len, 8);
		free(c);
	}
}
END_TEST

START_TEST(test_indirect_segment_outside_ram)
{
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA, 1, RAM_SIZE - 4, 8, VRING_DESC_F_WRITE, 0);
	set_desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_indirect_inside_chain_rejected_cleanly)
{
	/* Chain 0 -> 1 where 1 is indirect AND has NEXT: never valid. */
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, IND_GPA, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

#if 1
/*
 * Was a bug (fixed): virtio 1.2, 2.7.5.3.2: "The device MUST handle the case of zero or more
 * normal chained descriptors followed by a single descriptor with
 * flags&VIRTQ_DESC_F_INDIRECT."  virtq_pop() rejects such a chain ("indirect
 * descriptor inside a chain") and marks the queue broken.  Input (queue size 8,
 * INDIRECT_DESC negotiated): desc[0] = { BUF_GPA, 8, NEXT, next 1 },
 * desc[1] = { IND_GPA, 16, INDIRECT }, indirect[0] = { BUF_GPA + 0x100, 16, WRITE };
 * avail ring = [0].  Expected 1 with n_out 1, n_in 1; got -EINVAL.
 */
START_TEST(test_indirect_after_direct_descriptors)
{
	struct virtq_chain *c = chain_new();

	set_desc_at(IND_GPA, 0, BUF_GPA + 0x100, 16, VRING_DESC_F_WRITE, 0);
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->n_out, 1);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_uint_eq(c->out_len, 8);
	ck_assert_uint_eq(c->in_len, 16);
	ck_assert(!vq.broken);
	free(c);
}
END_TEST
#endif

START_TEST(test_indirect_odd_address)
{
	struct virtq_chain *c = chain_new();
	int r;

	/* Nothing in the spec aligns an indirect table: accept it or reject it, never crash. */
	set_desc_at(IND_GPA + 1, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc_at(IND_GPA + 1, 1, BUF_GPA + 0x100, 4, VRING_DESC_F_WRITE, 0);
	set_desc(0, IND_GPA + 1, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	r = virtq_pop(&vq, &mem, c);
	ck_assert(r == 1 || r == -EINVAL);
	if (r == 1) {
		ck_assert_uint_eq(c->n_out, 1);
		ck_assert_uint_eq(c->n_in, 1);
		ck_assert_uint_eq(c->out_len, 8);
		ck_assert_uint_eq(c->in_len, 4);
	}
	free(c);
}
END_TEST

/* ---- segment limits ---- */

START_TEST(test_max_segments_ok)
{
	struct virtq_chain *c = chain_new();

	for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
		set_desc_at(IND_GPA, i, BUF_GPA + i, 1,
			    i + 1 < VIRTQ_MAX_SEGS ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(0, IND_GPA, VIRTQ_MAX_SEGS * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->n_out, VIRTQ_MAX_SEGS);
	ck_assert_uint_eq(c->out_len, VIRTQ_MAX_SEGS);
	ck_assert_ptr_eq(c->iov[VIRTQ_MAX_SEGS - 1].iov_base,
			 guest_mem_ptr(&mem, BUF_GPA + VIRTQ_MAX_SEGS - 1, 1));
	free(c);
}
END_TEST

START_TEST(test_too_many_segments)
{
	/* VIRTQ_MAX_SEGS + 1 distinct entries: no loop, just too long (iov[] would overflow). */
	for (unsigned i = 0; i <= VIRTQ_MAX_SEGS; i++)
		set_desc_at(IND_GPA, i, BUF_GPA + i, 1,
			    i < VIRTQ_MAX_SEGS ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE,
			    (uint16_t)(i + 1));
	set_desc(0, IND_GPA, (VIRTQ_MAX_SEGS + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_too_many_segments_all_writable)
{
	for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		set_desc_at(IND_GPA, i, BUF_GPA + i, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
			    (uint16_t)(i + 1));
	set_desc_at(IND_GPA, VIRTQ_MAX_INDIRECT - 1, BUF_GPA, 1, VRING_DESC_F_WRITE, 0);
	set_desc(0, IND_GPA, VIRTQ_MAX_INDIRECT * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

/* ---- bad addresses and lengths ---- */

static void expect_single_desc_rejected(uint64_t addr, uint32_t len, uint16_t flags)
{
	vq_setup(8, false, true);
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, addr, len, flags, 0);
	avail_add(0);
	expect_rejected();
}

START_TEST(test_desc_outside_ram)
{
	expect_single_desc_rejected(RAM_SIZE - 8, 16, 0);	/* straddles the end */
	expect_single_desc_rejected(RAM_SIZE, 1, 0);
	expect_single_desc_rejected(RAM_SIZE, 1, VRING_DESC_F_WRITE);
	expect_single_desc_rejected(1ULL << 40, 4096, VRING_DESC_F_WRITE);
	expect_single_desc_rejected(MEM_HOLE_START, 4096, 0);	/* the 32-bit MMIO hole */
	expect_single_desc_rejected(MEM_HOLE_END, 4096, 0);	/* no RAM above 4 GiB here */
}
END_TEST

START_TEST(test_desc_last_bytes_of_ram_ok)
{
	struct virtq_chain *c = chain_new();

	set_desc(0, RAM_SIZE - 16, 16, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_ptr_eq(c->iov[0].iov_base, mem.map + RAM_SIZE - 16);
	ck_assert_uint_eq(c->iov[0].iov_len, 16);
	free(c);
}
END_TEST

START_TEST(test_desc_wraps_2_64)
{
	expect_single_desc_rejected(UINT64_MAX - 7, 16, 0);
	expect_single_desc_rejected(UINT64_MAX, 1, VRING_DESC_F_WRITE);
	expect_single_desc_rejected(UINT64_MAX - 0xfff, 0x1000, 0);	/* ends exactly at 2^64 */
	expect_single_desc_rejected(UINT64_MAX - 0xfff, 0xffffffffu, 0);
	/* So large that addr + len wraps to a small in-RAM value. */
	expect_single_desc_rejected(0xffffffff00001000ULL, 0xffffffffu, 0);
}
END_TEST

START_TEST(test_desc_huge_length)
{
	expect_single_desc_rejected(0x1000, 0xffffffffu, 0);
	expect_single_desc_rejected(0, 0x80000000u, VRING_DESC_F_WRITE);
	expect_single_desc_rejected(0, (uint32_t)RAM_SIZE + 1, 0);
}
END_TEST

/* RAM above 4 GiB: a real hole between MEM_HOLE_START and MEM_HOLE_END. */
START_TEST(test_desc_mmio_hole)
{
	struct guest_mem big;
	struct virtq_chain *c = chain_new();
	struct virtq hq;
	struct vring_desc *desc;
	struct vring_avail *av;
	static const struct { uint64_t addr; uint32_t len; } bad[] = {
		{ MEM_HOLE_START - 8, 16 },		/* runs from low RAM into the hole */
		{ MEM_HOLE_START, 1 },
		{ MEM_HOLE_START + 0x1000, 0x1000 },
		{ MEM_HOLE_END - 8, 16 },		/* runs from the hole into high RAM */
		{ MEM_HOLE_START - 16, 0x40000010u },	/* spans the whole hole */
		{ MEM_HOLE_END + (16ULL << 20) - 8, 16 },	/* past the end of high RAM */
	};

	ck_assert_int_eq(guest_mem_init(&big, MEM_HOLE_START + (16ULL << 20), false,
					 HUGEPAGES_NONE), 0);
	ck_assert_uint_eq(big.nr_regions, 2);
	desc = guest_mem_ptr(&big, DESC_GPA, 16 * 8);
	av = guest_mem_ptr(&big, AVAIL_GPA, 6 + 2 * 8);
	ck_assert_ptr_nonnull(desc);
	ck_assert_ptr_nonnull(av);

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		memset(&hq, 0, sizeof(hq));
		hq.num = 8;
		hq.desc_gpa = DESC_GPA;
		hq.avail_gpa = AVAIL_GPA;
		hq.used_gpa = USED_GPA;
		ck_assert_int_eq(virtq_enable(&hq, &big, false, false), 0);
		hq.ready = true;
		desc[0] = (struct vring_desc){ bad[k].addr, bad[k].len, 0, 0 };
		av->ring[0] = 0;
		av->idx = 1;
		ck_assert_int_eq(virtq_pop(&hq, &big, c), -EINVAL);
		ck_assert(hq.broken);
		av->idx = 0;
	}

	/* Either side of the hole is RAM. */
	memset(&hq, 0, sizeof(hq));
	hq.num = 8;
	hq.desc_gpa = DESC_GPA;
	hq.avail_gpa = AVAIL_GPA;
	hq.used_gpa = USED_GPA;
	ck_assert_int_eq(virtq_enable(&hq, &big, false, false), 0);
	hq.ready = true;
	desc[0] = (struct vring_desc){ MEM_HOLE_START - 16, 16, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ MEM_HOLE_END, 32, VRING_DESC_F_WRITE, 0 };
	av->ring[0] = 0;
	av->idx = 1;
	ck_assert_int_eq(virtq_pop(&hq, &big, c), 1);
	ck_assert_ptr_eq(c->iov[0].iov_base, big.map + MEM_HOLE_START - 16);
	ck_assert_ptr_eq(c->iov[1].iov_base, big.map + MEM_HOLE_START);
	ck_assert_uint_eq(c->in_len, 32);

	/* Rings may not straddle the hole either. */
	memset(&hq, 0, sizeof(hq));
	hq.num = 8;
	hq.desc_gpa = MEM_HOLE_START - 64;
	hq.avail_gpa = AVAIL_GPA;
	hq.used_gpa = USED_GPA;
	ck_assert_int_eq(virtq_enable(&hq, &big, false, false), -EINVAL);
	hq.desc_gpa = MEM_HOLE_START;
	ck_assert_int_eq(virtq_enable(&hq, &big, false, false), -EINVAL);
	hq.desc_gpa = MEM_HOLE_END;	/* high RAM is fine */
	ck_assert_int_eq(virtq_enable(&hq, &big, false, false), 0);

	free(c);
	guest_mem_destroy(&big);
}
END_TEST

/* ---- loops and bad indices in the main table ---- */

START_TEST(test_self_loop)
{
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_two_node_loop)
{
	set_desc(3, BUF_GPA, 8, VRING_DESC_F_NEXT, 6);
	set_desc(6, BUF_GPA, 8, VRING_DESC_F_NEXT, 3);
	avail_add(3);
	expect_rejected();
}
END_TEST

START_TEST(test_loop_writable)
{
	/* A loop of writable descriptors that never breaks the read/write order. */
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(2, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_chain_longer_than_queue)
{
	/* Every descriptor of a 256 queue, then back to the start. */
	vq_setup(256, false, false);
	for (unsigned i = 0; i < 256; i++)
		set_desc(i, BUF_GPA + i, 1, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 256));
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_readable_after_writable)
{
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(2, BUF_GPA, 8, 0, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_readable_after_writable_indirect)
{
	set_desc_at(IND_GPA, 0, BUF_GPA, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc_at(IND_GPA, 1, BUF_GPA, 8, 0, 0);
	set_desc(0, IND_GPA, 2 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_next_out_of_range)
{
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 8);	/* queue size 8 */
	avail_add(0);
	expect_rejected();

	vq_setup(8, false, true);
	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 0xffff);
	avail_add(0);
	expect_rejected();
}
END_TEST

START_TEST(test_head_out_of_range)
{
	struct vring_avail *a = avail();

	for (unsigned i = 0; i < 8; i++)
		set_desc(i, BUF_GPA, 8, 0, 0);
	a->ring[0] = 8;
	a->idx = 1;
	expect_rejected();
	ck_assert_uint_eq(used()->idx, 0);

	vq_setup(8, false, true);
	a->ring[0] = 0xffff;
	a->idx = 1;
	expect_rejected();
}
END_TEST

START_TEST(test_avail_idx_jump)
{
	struct virtq_chain *c = chain_new();
	struct vring_avail *a = avail();

	for (unsigned i = 0; i < 8; i++)
		set_desc(i, BUF_GPA, 8, 0, 0);
	a->idx = 9;		/* 9 new entries in a ring of 8 */
	expect_rejected();

	vq_setup(8, false, true);
	a->idx = 0x8000;
	expect_rejected();

	vq_setup(8, false, true);
	a->idx = 0xffff;	/* "minus one": far more than the ring holds */
	expect_rejected();

	/* Exactly num new entries is a full ring: fine. */
	vq_setup(8, false, true);
	for (unsigned i = 0; i < 8; i++) {
		set_desc(i, BUF_GPA, 8, 0, 0);
		a->ring[i] = (uint16_t)i;
	}
	a->idx = 8;
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
		ck_assert_uint_eq(c->head, i);
	}
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	free(c);
}
END_TEST

START_TEST(test_avail_idx_wraps_16_bits)
{
	struct virtq_chain *c = chain_new();
	struct vring_avail *a = avail();

	/* Device and driver both near the 16-bit wrap: 0xfffe -> 0x0001 is 3 entries. */
	for (unsigned i = 0; i < 8; i++)
		set_desc(i, BUF_GPA, 8 + i, 0, 0);
	vq.last_avail = 0xfffe;
	a->ring[0xfffe % 8] = 1;
	a->ring[0xffff % 8] = 2;
	a->ring[0] = 3;
	a->idx = 1;
	ck_assert(virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 2);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 3);
	ck_assert_uint_eq(vq.last_avail, 1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	free(c);
}
END_TEST

/* ---- virtq_enable ---- */

static int enable_with(uint16_t num, uint64_t desc, uint64_t av, uint64_t us, bool event_idx)
{
	struct virtq q;

	memset(&q, 0, sizeof(q));
	q.num = num;
	q.desc_gpa = desc;
	q.avail_gpa = av;
	q.used_gpa = us;
	return virtq_enable(&q, &mem, event_idx, false);
}

START_TEST(test_enable_queue_sizes)
{
	static const uint16_t bad[] = { 0, 3, 5, 6, 7, 12, 100, 255, 257, 384, 512, 1024,
					0x8000, 0xffff };
	static const uint16_t good[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		ck_assert_msg(enable_with(bad[k], DESC_GPA, AVAIL_GPA, USED_GPA, false) == -EINVAL,
			      "queue size %u accepted", bad[k]);
	for (unsigned k = 0; k < sizeof(good) / sizeof(good[0]); k++)
		ck_assert_msg(enable_with(good[k], DESC_GPA, AVAIL_GPA, USED_GPA, true) == 0,
			      "queue size %u refused", good[k]);
}
END_TEST

START_TEST(test_enable_alignment)
{
	for (unsigned off = 1; off < 16; off++)
		ck_assert_int_eq(enable_with(8, DESC_GPA + off, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA + 3, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA + 2, USED_GPA, false), 0);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA, USED_GPA + 1, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA, USED_GPA + 3, false), -EINVAL);
	ck_assert_int_eq(enable_with(8, DESC_GPA, AVAIL_GPA, USED_GPA + 4, false), 0);
	ck_assert_int_eq(enable_with(8, DESC_GPA + 16, AVAIL_GPA, USED_GPA, false), 0);
}
END_TEST

START_TEST(test_enable_rings_outside_ram)
{
	const uint16_t n = 256;
	const uint64_t desc_len = 16ULL * n, avail_len = 6 + 2ULL * n, used_len = 6 + 8ULL * n;

	/* Each ring just fits at the very end of RAM ... */
	ck_assert_int_eq(enable_with(n, RAM_SIZE - desc_len, AVAIL_GPA, USED_GPA, false), 0);
	ck_assert_int_eq(enable_with(n, DESC_GPA, RAM_SIZE - avail_len, USED_GPA, false), 0);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, (RAM_SIZE - used_len) & ~3ULL,
				     false), 0);
	/* ... and one step further it hangs over the end. */
	ck_assert_int_eq(enable_with(n, RAM_SIZE - desc_len + 16, AVAIL_GPA, USED_GPA, false),
			 -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, RAM_SIZE - avail_len + 2, USED_GPA, false),
			 -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, RAM_SIZE - used_len + 2, false),
			 -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, RAM_SIZE - 4, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, RAM_SIZE, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, RAM_SIZE, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, RAM_SIZE, false), -EINVAL);
	/* Addresses whose end wraps past 2^64, in the hole, far above RAM. */
	ck_assert_int_eq(enable_with(n, UINT64_MAX & ~15ULL, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, UINT64_MAX & ~1ULL, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, UINT64_MAX & ~3ULL, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, MEM_HOLE_START, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, 1ULL << 40, false), -EINVAL);
}
END_TEST

#if 1
/*
 * Was a bug (fixed): with event_idx, virtq_enable() requires 8 + 2 * num bytes of avail ring
 * and 8 + 8 * num bytes of used ring, 2 more than the rings occupy (virtio
 * 1.2, 2.7: 6 + 2 * Queue Size and 6 + 8 * Queue Size, used_event and
 * avail_event included).  Input: 16 MiB RAM, num 256, event_idx = true,
 * avail_gpa = 16 MiB - 518 (0xfffdfa) or used_gpa = 16 MiB - 2054
 * (0xfff7fa): valid rings ending exactly at the end of RAM; virtq_enable
 * returns -EINVAL.
 */
START_TEST(test_enable_event_idx_rings_at_end_of_ram)
{
	const uint16_t n = 256;

	ck_assert_int_eq(enable_with(n, DESC_GPA, RAM_SIZE - (6 + 2ULL * n), USED_GPA, true), 0);
	/* The used ring must be 4-byte aligned: end 2 bytes short of RAM's end. */
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, RAM_SIZE - (6 + 8ULL * n) - 2, true), 0);
	ck_assert_int_eq(enable_with(n, DESC_GPA, AVAIL_GPA, RAM_SIZE - (6 + 8ULL * n) + 2, true),
			 -EINVAL);
}
END_TEST
#endif

START_TEST(test_enable_resets_progress)
{
	struct virtq_chain *c = chain_new();

	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);	/* self loop */
	avail_add(0);
	expect_rejected();
	/* A reset and a fresh enable bring the queue back. */
	vq_setup(8, false, true);
	ck_assert(!vq.broken);
	ck_assert_uint_eq(vq.last_avail, 0);
	ck_assert_uint_eq(vq.used_idx, 0);
	set_desc(0, BUF_GPA, 8, 0, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	free(c);
}
END_TEST

/* ---- a broken queue stays broken ---- */

START_TEST(test_broken_queue_stops)
{
	struct virtq_chain *c = chain_new();
	uint16_t last;

	set_desc(0, BUF_GPA, 8, VRING_DESC_F_NEXT, 9);	/* next out of range */
	set_desc(1, BUF_GPA, 8, 0, 0);
	set_desc(2, BUF_GPA, 8, 0, 0);
	avail_add(0);
	avail_add(1);
	avail_add(2);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), -EINVAL);
	ck_assert(vq.broken);
	last = vq.last_avail;
	/* The valid chains behind it are not processed, however often we ask. */
	for (unsigned i = 0; i < 10; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
		ck_assert(!virtq_has_avail(&vq));
	}
	avail_add(1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	ck_assert_uint_eq(vq.last_avail, last);
	ck_assert_uint_eq(used()->idx, 0);
	free(c);
}
END_TEST

/* The worker's per-round allowance (virtio_serve_queue): a ring that keeps refilling yields. */
START_TEST(test_pop_budget)
{
	struct virtq_chain *c = chain_new();
	uint16_t allowance = 2;

	for (unsigned i = 0; i < 5; i++) {
		set_desc(i, BUF_GPA + 16 * i, 16, 0, 0);
		avail_add((uint16_t)i);
	}
	vq.budget = &allowance;
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(allowance, 1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(allowance, 0);
	/* Spent: nothing more this round, though the driver has more for us. */
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	ck_assert_uint_eq(vq.last_avail, 2);
	ck_assert(!virtq_has_avail(&vq));	/* "while has_avail: pop" loops end too */
	ck_assert(!vq.broken);
	/* Outside a round (receive paths, console input) there is no limit. */
	vq.budget = NULL;
	ck_assert(virtq_has_avail(&vq));
	for (unsigned i = 2; i < 5; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
		ck_assert_uint_eq(c->head, i);
	}
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	free(c);
}
END_TEST

/* Bytes count too: the chain that spends the round's bytes is its last (a huge request alone). */
START_TEST(test_pop_budget_bytes)
{
	struct virtq_chain *c = chain_new();
	uint16_t allowance = 100;
	uint64_t bytes = 16ULL << 20;

	set_desc(0, BUF_GPA, 12u << 20, 0, 0);
	set_desc(1, BUF_GPA, 8u << 20, 0, 0);
	set_desc(2, BUF_GPA, 16, 0, 0);
	for (uint16_t i = 0; i < 3; i++)
		avail_add(i);
	vq.budget = &allowance;
	vq.budget_bytes = &bytes;
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(bytes, 4ULL << 20);
	ck_assert_uint_eq(allowance, 99);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);	/* 8 MiB > the 4 left: taken, round over */
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(allowance, 0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 0);
	ck_assert(!virtq_has_avail(&vq));
	ck_assert_uint_eq(vq.last_avail, 2);
	vq.budget = NULL;
	vq.budget_bytes = NULL;
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c->head, 2);
	free(c);
}
END_TEST

/* ---- the guest rewriting descriptors ---- */

START_TEST(test_desc_changed_after_pop)
{
	struct virtq_chain *c = chain_new();
	void *p0 = guest_mem_ptr(&mem, BUF_GPA, 1), *p1 = guest_mem_ptr(&mem, BUF_GPA + 0x100, 1);

	set_desc_at(IND_GPA, 0, BUF_GPA + 0x100, 32, VRING_DESC_F_WRITE, 0);
	set_desc(0, BUF_GPA, 16, 0, 0);
	set_desc(2, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(0);
	avail_add(2);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	/* The guest now points everything outside RAM and makes a loop. */
	set_desc(0, UINT64_MAX - 3, 0xffffffffu, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
	ck_assert_uint_eq(c->n_out, 1);
	ck_assert_uint_eq(c->n_in, 0);
	ck_assert_ptr_eq(c->iov[0].iov_base, p0);
	ck_assert_uint_eq(c->iov[0].iov_len, 16);

	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	set_desc(2, UINT64_MAX - 3, 0xffffffffu, VRING_DESC_F_INDIRECT, 0);
	set_desc_at(IND_GPA, 0, RAM_SIZE, 0x7fffffff, VRING_DESC_F_NEXT, 0);
	ck_assert_uint_eq(c->head, 2);
	ck_assert_uint_eq(c->n_in, 1);
	ck_assert_ptr_eq(c->iov[0].iov_base, p1);
	ck_assert_uint_eq(c->iov[0].iov_len, 32);
	ck_assert_uint_eq(c->in_len, 32);
	free(c);
}
END_TEST

/*
 * A second thread (the "guest") keeps rewriting a descriptor: address A =
 * BUF_GPA or B = RAM_SIZE - 16, length 16 or 1 MiB.  A walker that checks
 * one read of the descriptor and uses another could pair B with 1 MiB, past
 * the end of RAM, or count a length other than the one it maps.  Whatever it
 * pops must lie inside guest memory and agree with itself.
 */
struct flipper {
	struct vring_desc *d;
	volatile int stop;
};

static void *flip_thread(void *arg)
{
	struct flipper *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		/* A, its length flipping (a walker reading it twice sees two lengths) ... */
		__atomic_store_n(&f->d->addr, BUF_GPA, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < 8; i++) {
			__atomic_store_n(&f->d->len, 1u << 20, __ATOMIC_RELAXED);
			__atomic_store_n(&f->d->len, 16, __ATOMIC_RELAXED);
		}
		/* ... then B, and B's address with A's length (outside RAM). */
		__atomic_store_n(&f->d->addr, RAM_SIZE - 16, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < 8; i++) {
			__atomic_store_n(&f->d->len, 1u << 20, __ATOMIC_RELAXED);
			__atomic_store_n(&f->d->len, 16, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void race_descriptor(bool indirect_entry)
{
	struct virtq_chain *c = chain_new();
	struct flipper f = { 0 };
	struct vring_avail *a = avail();
	pthread_t t;
	const uint8_t *lo = mem.map, *hi = mem.map + RAM_SIZE;
	const uint8_t *base = NULL;
	unsigned ok = 0, rejected = 0;
	int r = 0;
	bool bad_pop = false;
	double end = now() + 0.5;

	if (indirect_entry) {
		set_desc(0, IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
		f.d = table_at(IND_GPA);
	} else {
		f.d = table_at(DESC_GPA);
	}
	f.d->addr = BUF_GPA;
	f.d->len = 16;
	f.d->flags = VRING_DESC_F_WRITE;
	ck_assert_int_eq(pthread_create(&t, NULL, flip_thread, &f), 0);
	while (now() < end || ok + rejected < 1000) {
		/* Re-arm: one available chain at head 0. */
		vq.last_avail = 0;
		vq.broken = false;
		a->ring[0] = 0;
		__atomic_store_n(&a->idx, 1, __ATOMIC_RELEASE);
		r = virtq_pop(&vq, &mem, c);
		if (r == -EINVAL) {
			rejected++;
			continue;
		}
		/* No ck_assert in the loop: each one is a write to libcheck's pipe, too slow. */
		base = c->iov[0].iov_base;
		if (r != 1 || c->n_out != 0 || c->n_in != 1 || c->in_len != c->iov[0].iov_len ||
		    base < lo || base > hi || c->iov[0].iov_len > (size_t)(hi - base)) {
			bad_pop = true;
			break;
		}
		ok++;
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ck_assert_msg(!bad_pop,
		      "popped r=%d n_out=%u n_in=%u in_len=%zu iov {%p, len %zu}, RAM at %p-%p",
		      r, c->n_out, c->n_in, c->in_len, (const void *)base, c->iov[0].iov_len,
		      (const void *)lo, (const void *)hi);
	ck_assert_uint_gt(ok, 0);
	free(c);
}

START_TEST(test_race_main_descriptor)
{
	race_descriptor(false);
}
END_TEST

START_TEST(test_race_indirect_entry)
{
	race_descriptor(true);
}
END_TEST

/* ---- used ring ---- */

START_TEST(test_push)
{
	struct vring_used *u = used();

	vq_setup(4, false, false);
	virtq_push(&vq, 3, 77);
	ck_assert_uint_eq(u->idx, 1);
	ck_assert_uint_eq(u->ring[0].id, 3);
	ck_assert_uint_eq(u->ring[0].len, 77);
	ck_assert_uint_eq(vq.used_idx, 1);
	for (unsigned i = 1; i < 5; i++)
		virtq_push(&vq, (uint16_t)i, 100 + i);
	/* The fifth element wrapped around to slot 0. */
	ck_assert_uint_eq(u->idx, 5);
	ck_assert_uint_eq(u->ring[0].id, 4);
	ck_assert_uint_eq(u->ring[0].len, 104);
	ck_assert_uint_eq(u->ring[1].id, 1);
	ck_assert_uint_eq(u->ring[3].id, 3);
	ck_assert_uint_eq(u->ring[3].len, 103);
	/* Nothing written past the ring of 4 (where avail_event would live). */
	ck_assert_uint_eq(*(uint16_t *)&u->ring[4], 0);
	ck_assert_uint_eq(u->flags, 0);
}
END_TEST

START_TEST(test_push_wraps_16_bits)
{
	struct vring_used *u = used();

	vq.used_idx = 0xffff;
	virtq_push(&vq, 6, 1);
	ck_assert_uint_eq(u->ring[0xffff % 8].id, 6);
	ck_assert_uint_eq(u->idx, 0);
	virtq_push(&vq, 5, 2);
	ck_assert_uint_eq(u->ring[0].id, 5);
	ck_assert_uint_eq(u->ring[0].len, 2);
	ck_assert_uint_eq(u->idx, 1);
}
END_TEST

/* ---- interrupt and notification suppression ---- */

static void set_used_event(uint16_t v)
{
	avail()->ring[vq.num] = v;
}

static bool push_and_ask(unsigned n)
{
	uint16_t old = vq.used_idx;

	for (unsigned i = 0; i < n; i++)
		virtq_push(&vq, 0, 0);
	return virtq_should_interrupt(&vq, old);
}

START_TEST(test_interrupt_flags)
{
	vq_setup(8, false, false);
	set_used_event(0x1234);	/* ignored without EVENT_IDX */
	ck_assert(push_and_ask(1));
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	ck_assert(!push_and_ask(1));
	ck_assert(!push_and_ask(3));
	avail()->flags = 0;
	ck_assert(push_and_ask(1));
}
END_TEST

START_TEST(test_interrupt_event_idx)
{
	vq_setup(8, true, false);
	/* The flags are ignored with EVENT_IDX: only used_event counts. */
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	set_used_event(0);
	ck_assert(push_and_ask(1));		/* 0 -> 1 passes used_event 0 */
	ck_assert(!push_and_ask(1));		/* 1 -> 2 does not */
	set_used_event(4);
	ck_assert(!push_and_ask(1));		/* 2 -> 3 */
	ck_assert(!push_and_ask(1));		/* 3 -> 4: reaching 4 is not passing it */
	ck_assert(push_and_ask(1));		/* 4 -> 5 */
	set_used_event(6);
	ck_assert(push_and_ask(3));		/* 5 -> 8 passes 6 in a batch */
	set_used_event(7);
	ck_assert(!push_and_ask(1));		/* 8 -> 9: 7 was already behind */
	/* Across the 16-bit wrap. */
	vq.used_idx = 0xfffe;
	set_used_event(0xffff);
	ck_assert(push_and_ask(2));		/* 0xfffe -> 0x0000 passes 0xffff */
	set_used_event(0x0000);
	ck_assert(push_and_ask(1));		/* 0x0000 -> 0x0001 passes 0x0000 */
	set_used_event(0x0005);
	ck_assert(!push_and_ask(1));
}
END_TEST

START_TEST(test_set_notification_flags)
{
	vq_setup(8, false, false);
	virtq_set_notification(&vq, false);
	ck_assert_uint_eq(used()->flags, VRING_USED_F_NO_NOTIFY);
	virtq_set_notification(&vq, true);
	ck_assert_uint_eq(used()->flags, 0);
	/* avail_event is not touched without EVENT_IDX. */
	ck_assert_uint_eq(*(uint16_t *)&used()->ring[8], 0);
}
END_TEST

START_TEST(test_set_notification_event_idx)
{
	struct virtq_chain *c = chain_new();

	vq_setup(8, true, false);
	for (unsigned i = 0; i < 3; i++) {
		set_desc(i, BUF_GPA, 8, 0, 0);
		avail_add((uint16_t)i);
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	*(uint16_t *)&used()->ring[8] = 0x5555;
	virtq_set_notification(&vq, true);
	ck_assert_uint_eq(*(uint16_t *)&used()->ring[8], 3);	/* avail_event = next to pop */
	ck_assert_uint_eq(used()->flags, 0);			/* flags unused with EVENT_IDX */
	/* Disabling must not move avail_event forward (that would ask for a kick). */
	virtq_set_notification(&vq, false);
	ck_assert_uint_eq(used()->flags, 0);
	ck_assert_uint_eq(*(uint16_t *)&used()->ring[8], 3);
	free(c);
}
END_TEST

/* ---- copying between chains and flat buffers ---- */

START_TEST(test_iov_to_buf)
{
	uint8_t a[3] = { 0, 1, 2 }, b[5] = { 3, 4, 5, 6, 7 }, z[1] = { 0xee },
		d[7] = { 8, 9, 10, 11, 12, 13, 14 };
	const struct iovec iov[4] = { { a, 3 }, { z, 0 }, { b, 5 }, { d, 7 } };
	uint8_t out[32];

	memset(out, 0xcc, sizeof(out));
	ck_assert_uint_eq(iov_to_buf(iov, 4, 0, out, sizeof(out)), 15);
	for (unsigned i = 0; i < 15; i++)
		ck_assert_uint_eq(out[i], i);
	ck_assert_uint_eq(out[15], 0xcc);

	/* skip landing exactly on a segment boundary */
	memset(out, 0xcc, sizeof(out));
	ck_assert_uint_eq(iov_to_buf(iov, 4, 3, out, 4), 4);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(out[i], 3 + i);
	ck_assert_uint_eq(out[4], 0xcc);

	/* skip inside a segment, copy across two boundaries */
	memset(out, 0xcc, sizeof(out));
	ck_assert_uint_eq(iov_to_buf(iov, 4, 2, out, 8), 8);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(out[i], 2 + i);
	ck_assert_uint_eq(out[8], 0xcc);

	/* skip spanning two whole segments */
	ck_assert_uint_eq(iov_to_buf(iov, 4, 9, out, 32), 6);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_eq(out[i], 9 + i);

	/* at or past the end: nothing */
	memset(out, 0xcc, sizeof(out));
	ck_assert_uint_eq(iov_to_buf(iov, 4, 15, out, 32), 0);
	ck_assert_uint_eq(iov_to_buf(iov, 4, SIZE_MAX, out, 32), 0);
	ck_assert_uint_eq(out[0], 0xcc);
	ck_assert_uint_eq(iov_to_buf(iov, 4, 14, out, 32), 1);
	ck_assert_uint_eq(out[0], 14);
	ck_assert_uint_eq(out[1], 0xcc);

	/* n limits the segments looked at, len 0 copies nothing */
	ck_assert_uint_eq(iov_to_buf(iov, 2, 0, out, 32), 3);
	ck_assert_uint_eq(iov_to_buf(iov, 0, 0, out, 32), 0);
	ck_assert_uint_eq(iov_to_buf(iov, 4, 0, out, 0), 0);
}
END_TEST

START_TEST(test_buf_to_iov)
{
	uint8_t a[3], b[5], d[7], z[1] = { 0xee };
	const struct iovec iov[4] = { { a, 3 }, { z, 0 }, { b, 5 }, { d, 7 } };
	uint8_t in[16];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0x40 + i);
	memset(a, 0, 3);
	memset(b, 0, 5);
	memset(d, 0, 7);

	/* skip 2, write 7: a[2], b[0..4], d[0] */
	ck_assert_uint_eq(buf_to_iov(iov, 4, 2, in, 7), 7);
	ck_assert_uint_eq(a[0], 0);
	ck_assert_uint_eq(a[1], 0);
	ck_assert_uint_eq(a[2], 0x40);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_uint_eq(b[i], 0x41 + i);
	ck_assert_uint_eq(d[0], 0x46);
	ck_assert_uint_eq(d[1], 0);
	ck_assert_uint_eq(z[0], 0xee);

	/* more than fits: truncated at the end of the chain */
	memset(d, 0, 7);
	ck_assert_uint_eq(buf_to_iov(iov, 4, 13, in, 16), 2);
	ck_assert_uint_eq(d[4], 0);
	ck_assert_uint_eq(d[5], 0x40);
	ck_assert_uint_eq(d[6], 0x41);

	/* skip on a boundary, and past the end */
	memset(b, 0, 5);
	ck_assert_uint_eq(buf_to_iov(iov, 4, 3, in, 1), 1);
	ck_assert_uint_eq(b[0], 0x40);
	ck_assert_uint_eq(b[1], 0);
	ck_assert_uint_eq(buf_to_iov(iov, 4, 15, in, 16), 0);
	ck_assert_uint_eq(buf_to_iov(iov, 4, SIZE_MAX, in, 16), 0);
}
END_TEST

START_TEST(test_copy_through_popped_chain)
{
	struct virtq_chain *c = chain_new();
	uint8_t msg[10] = "abcdefghi", back[10];
	uint8_t *w0 = gptr(BUF_GPA + 0x1000, 4), *w1 = gptr(BUF_GPA + 0x2000, 6);

	memcpy(gptr(BUF_GPA, 4), "HDR!", 4);
	set_desc(0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA + 0x1000, 4, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(2, BUF_GPA + 0x2000, 6, VRING_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(iov_to_buf(c->iov, c->n_out, 0, back, 4), 4);
	ck_assert_mem_eq(back, "HDR!", 4);
	ck_assert_uint_eq(buf_to_iov(c->iov + c->n_out, c->n_in, 1, msg, sizeof(msg)), 9);
	ck_assert_mem_eq(w0 + 1, "abc", 3);
	ck_assert_mem_eq(w1, "defghi", 6);
	free(c);
}
END_TEST
/* ---- save and restore ---- */

/* Record layout (virtq_save): offsets of the fields the tests corrupt. */
#define VQREC_NUM	0
#define VQREC_READY	2
#define VQREC_DESC	3
#define VQREC_BROKEN	33
#define VQREC_LEN	34

static void vq_save_bytes(const struct virtq *q, struct state_writer *w)
{
	state_writer_init(w);
	virtq_save(q, w);
	ck_assert_int_eq(w->err, 0);
}

static int vq_restore_bytes(struct virtq *q, const uint8_t *b, size_t len)
{
	struct state_reader r;
	int ret;

	state_reader_init(&r, b, len);
	ret = virtq_restore(q, &mem, &r);
	return ret ? ret : state_reader_finish(&r);
}

/*
 * Save, restore into a fresh queue, save again: the same bytes; and the
 * restored queue pops, pushes and decides interrupts as the original does.
 */
START_TEST(test_save_restore_round_trip)
{
	struct virtq_chain *c = chain_new(), *c2 = chain_new();
	struct state_writer w, w2;
	struct virtq fresh;

	vq_setup(8, true, true);
	for (unsigned i = 0; i < 5; i++) {
		set_desc(i, BUF_GPA + 16 * i, 16, i & 1 ? VRING_DESC_F_WRITE : 0, 0);
		avail_add((uint16_t)i);
	}
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	virtq_push(&vq, 0, 16);
	vq_save_bytes(&vq, &w);
	ck_assert_uint_eq(w.len, VQREC_LEN);
	memset(&fresh, 0, sizeof(fresh));
	ck_assert_int_eq(vq_restore_bytes(&fresh, w.data, w.len), 0);
	vq_save_bytes(&fresh, &w2);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.data, w.data, w.len);
	ck_assert(fresh.ready && fresh.event_idx && fresh.indirect && !fresh.broken);
	ck_assert_ptr_eq(fresh.desc, vq.desc);
	ck_assert_ptr_null(fresh.budget);
	/* The same accesses on both: the same chains, the same interrupt decisions. */
	ck_assert_int_eq(virtq_has_avail(&fresh), virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&fresh, &mem, c2), 1);
	ck_assert_int_eq(virtq_pop(&vq, &mem, c), 1);
	ck_assert_uint_eq(c2->head, c->head);
	ck_assert_uint_eq(c2->n_out, c->n_out);
	ck_assert_uint_eq(c2->n_in, c->n_in);
	ck_assert_ptr_eq(c2->iov[0].iov_base, c->iov[0].iov_base);
	ck_assert_uint_eq(fresh.last_avail, vq.last_avail);
	/* Both push into the same used ring: the original's push is what the restored one redoes. */
	uint16_t old = vq.used_idx;

	virtq_push(&vq, c->head, 8);
	fresh.used_idx = old;
	virtq_push(&fresh, c2->head, 8);
	ck_assert_uint_eq(fresh.used_idx, vq.used_idx);
	ck_assert_int_eq(virtq_should_interrupt(&fresh, old), virtq_should_interrupt(&vq, old));
	state_writer_free(&w);
	state_writer_free(&w2);
	free(c);
	free(c2);
}
END_TEST

/* A queue the driver has not enabled keeps its settings, even impossible ones. */
START_TEST(test_save_restore_not_ready)
{
	struct state_writer w, w2;
	struct virtq fresh;

	virtq_reset(&vq);
	vq.num = 3;			/* not a power of two: checked only when enabled */
	vq.desc_gpa = RAM_SIZE;		/* past RAM: the same */
	vq.last_avail = 7;
	vq_save_bytes(&vq, &w);
	memset(&fresh, 0xff, sizeof(fresh));
	ck_assert_int_eq(vq_restore_bytes(&fresh, w.data, w.len), 0);
	ck_assert(!fresh.ready);
	ck_assert_ptr_null(fresh.desc);
	ck_assert_uint_eq(fresh.num, 3);
	ck_assert_uint_eq(fresh.last_avail, 7);
	vq_save_bytes(&fresh, &w2);
	ck_assert_mem_eq(w2.data, w.data, w.len);
	state_writer_free(&w);
	state_writer_free(&w2);
}
END_TEST

/* Truncated records, impossible rings and non-boolean flags are refused; the queue is reset. */
START_TEST(test_save_restore_refused)
{
	struct state_writer w;
	struct virtq fresh;
	uint8_t b[VQREC_LEN];
	uint64_t past = RAM_SIZE;

	vq_save_bytes(&vq, &w);
	ck_assert_uint_eq(w.len, VQREC_LEN);
	for (size_t n = 0; n < w.len; n++) {
		memset(&fresh, 0xff, sizeof(fresh));
		ck_assert_int_eq(vq_restore_bytes(&fresh, w.data, n), -EINVAL);
		ck_assert(!fresh.ready && !fresh.num && !fresh.desc);
	}
	/* A live queue of 3 entries. */
	memcpy(b, w.data, sizeof(b));
	b[VQREC_NUM] = 3;
	ck_assert_int_eq(vq_restore_bytes(&fresh, b, sizeof(b)), -EINVAL);
	ck_assert(!fresh.ready);
	/* A live queue whose descriptors lie past RAM. */
	memcpy(b, w.data, sizeof(b));
	for (unsigned i = 0; i < 8; i++)
		b[VQREC_DESC + i] = (uint8_t)(past >> (8 * i));
	ck_assert_int_eq(vq_restore_bytes(&fresh, b, sizeof(b)), -EINVAL);
	/* A live queue of 512 entries (we offer at most VIRTQ_MAX_SIZE). */
	memcpy(b, w.data, sizeof(b));
	b[VQREC_NUM] = 0;
	b[VQREC_NUM + 1] = 2;
	ck_assert_int_eq(vq_restore_bytes(&fresh, b, sizeof(b)), -EINVAL);
	/* Booleans are 0 or 1. */
	memcpy(b, w.data, sizeof(b));
	b[VQREC_READY] = 2;
	ck_assert_int_eq(vq_restore_bytes(&fresh, b, sizeof(b)), -EINVAL);
	memcpy(b, w.data, sizeof(b));
	b[VQREC_BROKEN] = 0x80;
	ck_assert_int_eq(vq_restore_bytes(&fresh, b, sizeof(b)), -EINVAL);
	/* A byte too many. */
	uint8_t longer[VQREC_LEN + 1] = { 0 };

	memcpy(longer, w.data, VQREC_LEN);
	ck_assert_int_eq(vq_restore_bytes(&fresh, longer, sizeof(longer)), -EINVAL);
	state_writer_free(&w);
}
END_TEST

static Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("walker");
	TCase *rings = tcase_create("rings");
	TCase *race = tcase_create("race");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_save_restore_round_trip);
	tcase_add_test(tc, test_save_restore_not_ready);
	tcase_add_test(tc, test_save_restore_refused);
	tcase_add_test(tc, test_valid_chain);
	tcase_add_test(tc, test_several_chains_in_order);
	tcase_add_test(tc, test_not_ready);
	tcase_add_test(tc, test_zero_length_descriptors);
	tcase_add_test(tc, test_full_length_chain_ok);
	tcase_add_test(tc, test_indirect_valid);
	tcase_add_test(tc, test_indirect_max_entries_ok);
	tcase_add_test(tc, test_indirect_nested);
	tcase_add_test(tc, test_indirect_nested_first);
	tcase_add_test(tc, test_indirect_with_next);
	tcase_add_test(tc, test_indirect_bad_sizes);
	tcase_add_test(tc, test_indirect_not_negotiated);
	tcase_add_test(tc, test_indirect_loop);
	tcase_add_test(tc, test_indirect_self_loop_big_table);
	tcase_add_test(tc, test_indirect_next_out_of_range);
	tcase_add_test(tc, test_indirect_table_outside_ram);
	tcase_add_test(tc, test_indirect_segment_outside_ram);
	tcase_add_test(tc, test_indirect_inside_chain_rejected_cleanly);
	tcase_add_test(tc, test_indirect_odd_address);
#if 1	/* fixed: regression test */
	tcase_add_test(tc, test_indirect_after_direct_descriptors);
#endif
	tcase_add_test(tc, test_max_segments_ok);
	tcase_add_test(tc, test_too_many_segments);
	tcase_add_test(tc, test_too_many_segments_all_writable);
	tcase_add_test(tc, test_desc_outside_ram);
	tcase_add_test(tc, test_desc_last_bytes_of_ram_ok);
	tcase_add_test(tc, test_desc_wraps_2_64);
	tcase_add_test(tc, test_desc_huge_length);
	tcase_add_test(tc, test_desc_mmio_hole);
	tcase_add_test(tc, test_self_loop);
	tcase_add_test(tc, test_two_node_loop);
	tcase_add_test(tc, test_loop_writable);
	tcase_add_test(tc, test_chain_longer_than_queue);
	tcase_add_test(tc, test_readable_after_writable);
	tcase_add_test(tc, test_readable_after_writable_indirect);
	tcase_add_test(tc, test_next_out_of_range);
	tcase_add_test(tc, test_head_out_of_range);
	tcase_add_test(tc, test_avail_idx_jump);
	tcase_add_test(tc, test_avail_idx_wraps_16_bits);
	tcase_add_test(tc, test_broken_queue_stops);
	tcase_add_test(tc, test_pop_budget);
	tcase_add_test(tc, test_pop_budget_bytes);
	tcase_add_test(tc, test_desc_changed_after_pop);
	tcase_add_test(tc, test_copy_through_popped_chain);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(rings, setup, teardown);
	tcase_add_test(rings, test_enable_queue_sizes);
	tcase_add_test(rings, test_enable_alignment);
	tcase_add_test(rings, test_enable_rings_outside_ram);
#if 1	/* fixed: regression test */
	tcase_add_test(rings, test_enable_event_idx_rings_at_end_of_ram);
#endif
	tcase_add_test(rings, test_enable_resets_progress);
	tcase_add_test(rings, test_push);
	tcase_add_test(rings, test_push_wraps_16_bits);
	tcase_add_test(rings, test_interrupt_flags);
	tcase_add_test(rings, test_interrupt_event_idx);
	tcase_add_test(rings, test_set_notification_flags);
	tcase_add_test(rings, test_set_notification_event_idx);
	tcase_add_test(rings, test_iov_to_buf);
	tcase_add_test(rings, test_buf_to_iov);
	suite_add_tcase(s, rings);

	tcase_add_checked_fixture(race, setup, teardown);
	tcase_set_timeout(race, 30);
	tcase_add_test(race, test_race_main_descriptor);
	tcase_add_test(race, test_race_indirect_entry);
	suite_add_tcase(s, race);
	return s;
}

int main(void)
{
	return testlib_run(virtqueue_suite());
}
