/*
 * Split virtqueues (virtio 1.2, 2.7), device side.  The rings live in guest
 * memory and the guest may change them at any time: every descriptor is
 * copied once before it is used, every address and length is checked through
 * guest_mem_ptr(), and a chain may visit each descriptor at most once.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "kvmrun/log.h"
#include "kvmrun/virtio.h"

static bool pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_enable(struct virtq *vq, const struct guest_mem *mem, bool event_idx, bool indirect)
{
	uint64_t desc_len = 16ULL * vq->num;
	/* The spec's sizes already count used_event / avail_event. */
	uint64_t avail_len = 6 + 2ULL * vq->num;
	uint64_t used_len = 6 + 8ULL * vq->num;

	if (!pow2(vq->num) || vq->num > VIRTQ_MAX_SIZE)
		return -EINVAL;
	/* Alignments from the spec: 16 for descriptors, 2 for avail, 4 for used. */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	vq->desc = guest_mem_ptr(mem, vq->desc_gpa, desc_len);
	vq->avail = guest_mem_ptr(mem, vq->avail_gpa, avail_len);
	vq->used = guest_mem_ptr(mem, vq->used_gpa, used_len);
	if (!vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->broken = false;
	return 0;
}

void virtq_save(const struct virtq *vq, struct state_writer *w)
{
	state_put_u16(w, vq->num);
	state_put_bool(w, vq->ready);
	state_put_u64(w, vq->desc_gpa);
	state_put_u64(w, vq->avail_gpa);
	state_put_u64(w, vq->used_gpa);
	state_put_u16(w, vq->last_avail);
	state_put_u16(w, vq->used_idx);
	state_put_bool(w, vq->event_idx);
	state_put_bool(w, vq->indirect);
	state_put_bool(w, vq->broken);
}

int virtq_restore(struct virtq *vq, const struct guest_mem *mem, struct state_reader *r)
{
	struct virtq v = { 0 };
	uint16_t last_avail, used_idx;
	bool broken;

	v.num = state_get_u16(r);
	v.ready = state_get_bool(r);
	v.desc_gpa = state_get_u64(r);
	v.avail_gpa = state_get_u64(r);
	v.used_gpa = state_get_u64(r);
	last_avail = state_get_u16(r);
	used_idx = state_get_u16(r);
	v.event_idx = state_get_bool(r);
	v.indirect = state_get_bool(r);
	broken = state_get_bool(r);
	/* A live queue's rings must fit guest memory now as they did when it was enabled. */
	if (!r->err && v.ready && virtq_enable(&v, mem, v.event_idx, v.indirect))
		state_reader_fail(r);
	if (r->err) {
		virtq_reset(vq);
		return -EINVAL;
	}
	v.last_avail = last_avail;
	v.used_idx = used_idx;
	v.broken = broken;
	*vq = v;
	return 0;
}

static uint16_t load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static int bad(struct virtq *vq, const char *why)
{
	vq->broken = true;
	log_debug("virtqueue: %s", why);
	return -EINVAL;
}

/* Adds one descriptor's buffer to the chain, enforcing readable-before-writable. */
static int add_seg(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c,
		   const struct vring_desc *d)
{
	void *p;

	if (d->flags & VRING_DESC_F_WRITE) {
		c->n_in++;
		c->in_len += d->len;
	} else {
		if (c->n_in)
			return bad(vq, "readable descriptor after a writable one");
		c->n_out++;
		c->out_len += d->len;
	}
	if (c->n_out + c->n_in > VIRTQ_MAX_SEGS)
		return bad(vq, "chain has too many segments");
	p = guest_mem_ptr(mem, d->addr, d->len);
	if (!p)
		return bad(vq, "descriptor points outside guest RAM");
	c->iov[c->n_out + c->n_in - 1] = (struct iovec){ p, d->len };
	return 0;
}

static int walk_indirect(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c,
			 const struct vring_desc *outer)
{
	const struct vring_desc *table;
	unsigned n = outer->len / sizeof(struct vring_desc), i = 0, seen = 0;

	if (!vq->indirect)
		return bad(vq, "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
	if (outer->flags & VRING_DESC_F_NEXT)
		return bad(vq, "indirect descriptor with NEXT");
	if (!n || outer->len % sizeof(struct vring_desc) || n > VIRTQ_MAX_INDIRECT)
		return bad(vq, "indirect table of impossible size");
	table = guest_mem_ptr(mem, outer->addr, outer->len);
	if (!table)
		return bad(vq, "indirect table outside guest RAM");
	for (;;) {
		struct vring_desc d;

		memcpy(&d, &table[i], sizeof(d));	/* read once: the guest may change it */
		if (++seen > n)
			return bad(vq, "loop in an indirect table");
		if (d.flags & VRING_DESC_F_INDIRECT)
			return bad(vq, "nested indirect table");
		if (add_seg(vq, mem, c, &d))
			return -EINVAL;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return bad(vq, "indirect next index out of range");
		i = d.next;
	}
}

static int pop_chain(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c);

int virtq_pop(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c)
{
	int r = pop_chain(vq, mem, c);

	/* Bytes count towards the round too: one huge request is a round of its own. */
	if (r == 1 && vq->budget && vq->budget_bytes) {
		uint64_t len = (uint64_t)c->out_len + c->in_len;

		if (len >= *vq->budget_bytes) {
			*vq->budget_bytes = 0;
			*vq->budget = 0;
		} else {
			*vq->budget_bytes -= len;
		}
	}
	return r;
}

static int pop_chain(struct virtq *vq, const struct guest_mem *mem, struct virtq_chain *c)
{
	uint16_t avail_idx, head, i;
	unsigned seen = 0;

	if (!vq->ready || vq->broken || (vq->budget && !*vq->budget))
		return 0;
	avail_idx = load16(&vq->avail->idx);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->num)
		return bad(vq, "available index moved by more than the queue size");
	head = load16(&vq->avail->ring[vq->last_avail % vq->num]);
	if (head >= vq->num)
		return bad(vq, "head index out of range");
	vq->last_avail++;
	if (vq->budget)
		(*vq->budget)--;
	memset(c, 0, offsetof(struct virtq_chain, iov));
	c->head = head;
	i = head;
	for (;;) {
		struct vring_desc d;

		memcpy(&d, &vq->desc[i], sizeof(d));
		if (++seen > vq->num)
			return bad(vq, "loop in a descriptor chain");
		/* Direct descriptors may precede one indirect one, which ends the chain (2.7.5.3.2). */
		if (d.flags & VRING_DESC_F_INDIRECT)
			return walk_indirect(vq, mem, c, &d) ? -EINVAL : 1;
		if (add_seg(vq, mem, c, &d))
			return -EINVAL;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= vq->num)
			return bad(vq, "next index out of range");
		i = d.next;
	}
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx % vq->num];

	e->id = head;
	e->len = len;
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	store16(&vq->used->idx, vq->used_idx);
	/* The ring pointer is long-lived: a migration learns of the write here. */
	guest_mem_mark_dirty(vq->mem, vq->used_gpa, 6 + 8ULL * vq->num);
}

bool virtq_should_interrupt(struct virtq *vq, uint16_t old_used)
{
	uint16_t used_event;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	used_event = load16(&vq->avail->ring[vq->num]);
	/* vring_need_event(): did the used index just pass used_event? */
	return (uint16_t)(vq->used_idx - used_event - 1) < (uint16_t)(vq->used_idx - old_used);
}

bool virtq_has_avail(struct virtq *vq)
{
	/* What virtq_pop() would look at: a spent allowance means nothing for now. */
	return vq->ready && !vq->broken && !(vq->budget && !*vq->budget) &&
	       load16(&vq->avail->idx) != vq->last_avail;
}

void virtq_set_notification(struct virtq *vq, bool enable)
{
	if (vq->event_idx) {
		if (enable)
			store16(&vq->used->ring[vq->num], vq->last_avail);
	} else {
		store16(&vq->used->flags, enable ? 0 : VRING_USED_F_NO_NOTIFY);
	}
	guest_mem_mark_dirty(vq->mem, vq->used_gpa, 6 + 8ULL * vq->num);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Copies between a flat buffer and the iovecs from byte skip on; to_iov picks the direction. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, take;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p = (uint8_t *)iov[i].iov_base + skip;
		take = l - skip < len - done ? l - skip : len - done;
		if (to_iov)
			memcpy(p, buf + done, take);
		else
			memcpy(buf + done, p, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, false);
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	/* The buffer is only read in this direction. */
	return iov_copy(iov, n, skip, (uint8_t *)(uintptr_t)buf, len, true);
}
