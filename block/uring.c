/*
 * The io_uring engine: reads, writes and flushes go to the kernel as ring
 * entries, a queue's worth per io_uring_enter (the device marks all but the
 * last request of a round BLOCK_SUBMIT_MORE), and complete in any order;
 * the ring signals an eventfd the device's worker watches, so there is no
 * thread per request and none of kvmrun's own.  Guest buffers go to the
 * kernel as they are (zero copy), contiguous ones merged into one entry.
 * Through the page cache, where a request is a memory copy, cached reads
 * (RWF_NOWAIT) and writes are done on the worker at once.  What the kernel
 * cannot take as it is (a buffer O_DIRECT refuses, a short transfer) and
 * the rare DISCARD and WRITE_ZEROES run on the worker through
 * block_disk_run, with the engine's one bounce buffer.
 *
 * The ring is spoken to with the raw system calls (<linux/io_uring.h>): no
 * library.  It is locked down before use: created disabled, restricted to
 * the opcodes above on the disk's registered file only, then enabled, so
 * that a thread that can reach io_uring_enter can do nothing else with it
 * (io_uring's operations do not pass through seccomp).
 */
#include <errno.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/block.h"
#include "kvmrun/log.h"

#define URING_ENTRIES	128u	/* submission entries; requests beyond wait in a backlog */
#define DRAIN_SLICE_NS	100000000LL	/* a drain or cancel re-checks the stop this often */
/*
 * A lone request (nothing else in flight, no more behind it) is waited for
 * on the spot this long: the guest waits for it anyway, and the completion
 * then costs no trip through the worker's event loop.
 */
#define LONE_WAIT_NS	2000000LL
/*
 * Reads (or writes) of a round that follow each other on the disk go in as
 * one ring entry, as QEMU's virtio-blk merges them: larger transfers, which
 * the host's disk serves faster.  At most 512 KiB each, so that a guest's
 * 16 sequential 64 KiB reads are two entries, not one: the disk works on
 * one while the other completes (1 MiB measured 3-4 % slower on reads and
 * 10-14 % on writes, 256 KiB slower still, 20 interleaved runs each).
 */
#define MERGE_SLOTS	32		/* merged requests in flight at once */
#define MERGE_IOV	64		/* segments of one merged request */
#define MERGE_BYTES	(512u << 10)

struct merge {
	struct iovec iov[MERGE_IOV];
	bool used;
};

struct uring {
	struct block_engine e;
	int fd;
	unsigned entries;
	void *sq_map, *cq_map;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	_Atomic unsigned *sq_head, *sq_tail, *cq_head, *cq_tail;
	unsigned sq_mask, cq_mask;
	unsigned *sq_array;
	struct io_uring_cqe *cqes;
	bool no_nowait;		/* the file refused RWF_NOWAIT once: straight to the ring */
	unsigned queued;	/* entries written since the last io_uring_enter */
	unsigned in_ring;	/* handed to the kernel, no completion seen */
	struct block_req *backlog, **backlog_tail;
	/* The round's group being gathered: contiguous requests of one direction, chained by next. */
	struct block_req *pend, *pend_last;
	unsigned pend_n, pend_iov;
	size_t pend_len;
	struct merge merges[MERGE_SLOTS];
	uint64_t merged_reqs, merged_entries;	/* statistics, for the debug log */
};

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned min_complete, unsigned flags, void *arg,
		     size_t argsz)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, min_complete, flags, arg, argsz);
}

static int sys_register(int fd, unsigned op, const void *arg, unsigned nr)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static void unmap(struct uring *u)
{
	if (u->sqes && u->sqes != MAP_FAILED)
		munmap(u->sqes, u->sqes_len);
	if (u->cq_map && u->cq_map != MAP_FAILED && u->cq_map != u->sq_map)
		munmap(u->cq_map, u->cq_len);
	if (u->sq_map && u->sq_map != MAP_FAILED)
		munmap(u->sq_map, u->sq_len);
}

static int map_rings(struct uring *u, const struct io_uring_params *p)
{
	uint8_t *sq, *cq;

	u->sq_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	u->cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP)
		u->sq_len = u->cq_len = u->sq_len > u->cq_len ? u->sq_len : u->cq_len;
	u->sq_map = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
			 IORING_OFF_SQ_RING);
	if (u->sq_map == MAP_FAILED)
		return -errno;
	u->cq_map = p->features & IORING_FEAT_SINGLE_MMAP ? u->sq_map :
		    mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
			 IORING_OFF_CQ_RING);
	if (u->cq_map == MAP_FAILED)
		return -errno;
	u->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
		       IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED)
		return -errno;
	sq = u->sq_map;
	cq = u->cq_map;
	u->sq_head = (_Atomic unsigned *)(sq + p->sq_off.head);
	u->sq_tail = (_Atomic unsigned *)(sq + p->sq_off.tail);
	u->sq_mask = *(unsigned *)(sq + p->sq_off.ring_mask);
	u->sq_array = (unsigned *)(sq + p->sq_off.array);
	u->cq_head = (_Atomic unsigned *)(cq + p->cq_off.head);
	u->cq_tail = (_Atomic unsigned *)(cq + p->cq_off.tail);
	u->cq_mask = *(unsigned *)(cq + p->cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
	u->entries = p->sq_entries;
	return 0;
}

/* Only what the engine submits, only on the registered disk. */
static int lock_down(struct uring *u)
{
	static const uint8_t ops[] = {
		IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
	};
	struct io_uring_restriction res[sizeof(ops) + 1];
	int fd = u->e.disk->fd;

	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < sizeof(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	res[sizeof(ops)].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[sizeof(ops)].sqe_flags = IOSQE_FIXED_FILE;
	if (sys_register(u->fd, IORING_REGISTER_FILES, &fd, 1) < 0 ||
	    sys_register(u->fd, IORING_REGISTER_RESTRICTIONS, res, sizeof(ops) + 1) < 0 ||
	    sys_register(u->fd, IORING_REGISTER_EVENTFD, &u->e.event_fd, 1) < 0 ||
	    sys_register(u->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* Hands the written entries to the kernel. */
static void flush_sq(struct uring *u)
{
	while (u->queued) {
		int n = sys_enter(u->fd, u->queued, 0, 0, NULL, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EBUSY))
			return;		/* no room now: the next completion's reap submits them */
		if (n < 0) {
			log_err("%s: io_uring_enter: %s", u->e.disk->name, strerror(errno));
			return;
		}
		u->queued -= (unsigned)n;
	}
}

static bool aligned_for_direct(const struct block_disk *disk, const struct block_req *req)
{
	if (req->offset % disk->align || req->len % disk->align)
		return false;
	for (unsigned i = 0; i < req->iovcnt; i++)
		if ((uintptr_t)req->iov[i].iov_base % disk->align || req->iov[i].iov_len % disk->align)
			return false;
	return true;
}

/* On the caller's thread, now: what the ring does not take as it is. */
static void run_here(struct uring *u, struct block_req *req, size_t done)
{
	int r = done ? block_disk_finish(u->e.disk, req, done, u->e.bounce) :
		       block_disk_run(u->e.disk, req, u->e.bounce);

	u->e.inflight--;
	req->done(req, r);
}

/* One entry for req, or for the group it heads (its iovecs in merges[slot], total len bytes). */
static void to_ring_as(struct uring *u, struct block_req *req, int slot, size_t len)
{
	unsigned tail = atomic_load_explicit(u->sq_tail, memory_order_relaxed);
	unsigned idx = tail & u->sq_mask;
	struct io_uring_sqe *sqe = &u->sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->fd = 0;			/* the registered disk */
	sqe->user_data = (uint64_t)(uintptr_t)req;
	if (req->op == BLOCK_OP_FLUSH) {
		sqe->opcode = IORING_OP_FSYNC;
		sqe->fsync_flags = IORING_FSYNC_DATASYNC;
	} else {
		sqe->opcode = req->op == BLOCK_OP_READ ? IORING_OP_READV : IORING_OP_WRITEV;
		sqe->addr = (uint64_t)(uintptr_t)(slot >= 0 ? u->merges[slot].iov : req->iov);
		sqe->len = slot >= 0 ? u->pend_iov : req->iovcnt;
		sqe->off = req->offset;
	}
	(void)len;
	req->result = slot;	/* the engine's field: which merge the entry used, -1 none */
	u->sq_array[idx] = idx;
	atomic_store_explicit(u->sq_tail, tail + 1, memory_order_release);
	u->queued++;
	u->in_ring++;
}

static void to_ring(struct uring *u, struct block_req *req)
{
	req->next = NULL;
	to_ring_as(u, req, -1, req->len);
}

/* To the ring, or to the backlog when it is full. */
static void enqueue(struct uring *u, struct block_req *req)
{
	if (u->in_ring == u->entries) {
		req->next = NULL;
		*u->backlog_tail = req;
		u->backlog_tail = &req->next;
	} else {
		to_ring(u, req);
	}
}

/* Sends the gathered group: one entry when it merged several requests and there is room. */
static void group_flush(struct uring *u)
{
	struct block_req *m = u->pend, *n;
	int slot = -1;

	if (!m)
		return;
	u->pend = u->pend_last = NULL;
	if (u->pend_n > 1 && u->in_ring < u->entries)
		for (int i = 0; i < MERGE_SLOTS && slot < 0; i++)
			if (!u->merges[i].used)
				slot = i;
	if (slot < 0) {
		for (; m; m = n) {
			n = m->next;
			enqueue(u, m);
		}
		return;
	}
	u->merges[slot].used = true;
	unsigned k = 0;

	for (struct block_req *r = m; r; r = r->next)
		for (unsigned i = 0; i < r->iovcnt; i++)
			u->merges[slot].iov[k++] = r->iov[i];
	u->merged_reqs += u->pend_n;
	u->merged_entries++;
	to_ring_as(u, m, slot, u->pend_len);
}

/* Adds a read or write to the round's group, or starts a new group with it. */
static void group_add(struct uring *u, struct block_req *req)
{
	struct block_req *last = u->pend_last;

	req->next = NULL;
	if (last && req->op == last->op && (req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE) &&
	    last->offset + last->len == req->offset && u->pend_iov + req->iovcnt <= MERGE_IOV &&
	    u->pend_len + req->len <= MERGE_BYTES) {
		last->next = req;
		u->pend_last = req;
		u->pend_n++;
		u->pend_iov += req->iovcnt;
		u->pend_len += req->len;
		return;
	}
	group_flush(u);
	u->pend = u->pend_last = req;
	u->pend_n = 1;
	u->pend_iov = req->iovcnt;
	u->pend_len = req->len;
}

/*
 * Through the page cache: a read that need not wait (the data is cached) is
 * done right here with RWF_NOWAIT, as fast as the sync engine; only one that
 * would block goes to the ring.
 */
static bool done_at_once(struct uring *u, struct block_req *req)
{
	ssize_t n;

	if (u->e.disk->direct || u->no_nowait || req->iovcnt > IOV_MAX)
		return false;
	n = preadv2(u->e.disk->fd, req->iov, (int)req->iovcnt, (off_t)req->offset, RWF_NOWAIT);
	if (n < 0 && errno == EOPNOTSUPP)
		u->no_nowait = true;
	if (n < 0 || (size_t)n != req->len)
		return false;	/* the ring does it again, whole: the same bytes */
	u->e.inflight--;
	req->done(req, 0);
	return true;
}

/* Completes what is there, and feeds the ring from the backlog. */
static void reap_all(struct uring *u);

static void uring_submit(struct block_engine *e, struct block_req *req, unsigned flags)
{
	struct uring *u = (struct uring *)e;
	bool rw = req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE, ring = false;

	e->inflight++;
	req->next = NULL;
	if (atomic_load_explicit(&e->disk->cancel, memory_order_relaxed)) {
		e->inflight--;
		req->done(req, -ECANCELED);
	} else if ((!rw && req->op != BLOCK_OP_FLUSH) || (rw && req->len == 0) ||
		   (rw && e->disk->direct && !aligned_for_direct(e->disk, req)) ||
		   (req->op == BLOCK_OP_WRITE && !e->disk->direct)) {
		/*
		 * The device checked ranges and read-only; O_DIRECT's alignment is
		 * ours.  A write through the page cache is a memory copy: done
		 * here it costs what the sync engine's does (RWF_NOWAIT refuses
		 * most of them on ext4, and the ring then only adds a round trip).
		 */
		run_here(u, req, 0);
	} else if (!(rw && done_at_once(u, req))) {
		ring = true;
		group_add(u, req);
	}
	if (flags & BLOCK_SUBMIT_MORE) {
		if (u->queued == u->entries)
			flush_sq(u);
		return;
	}
	/* The round is over: hand the ring what it got (earlier requests' entries too). */
	bool lone = u->pend_n == 1 && u->pend == req;

	group_flush(u);
	/* Only a request alone: a merged one stands for many the guest may add to meanwhile. */
	if (ring && lone && u->in_ring == 1 && u->queued == 1 && !u->backlog) {
		struct __kernel_timespec ts = { 0, LONE_WAIT_NS };
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };

		/* Submitted and, usually, completed in one call; else the event fd says when. */
		if (sys_enter(u->fd, 1, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
			      sizeof(arg)) >= 1)
			u->queued = 0;
	}
	flush_sq(u);
	reap_all(u);
}

/* A merged entry completed: all its requests are done, or each runs again on its own. */
static void finish_group(struct uring *u, struct block_req *m, int res)
{
	size_t total = 0;
	struct block_req *n;

	u->merges[m->result].used = false;
	for (struct block_req *r = m; r; r = r->next)
		total += r->len;
	for (; m; m = n) {
		n = m->next;	/* done may reuse m */
		if (res >= 0 && (size_t)res == total) {
			u->e.inflight--;
			m->done(m, 0);
		} else if (res == -ECANCELED) {
			u->e.inflight--;
			m->done(m, res);
		} else {
			run_here(u, m, 0);	/* short or failed: each on its own, here */
		}
	}
}

/* Reaps every completion there is; 0 when none was there. */
static unsigned reap(struct uring *u)
{
	unsigned head = atomic_load_explicit(u->cq_head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(u->cq_tail, memory_order_acquire);
	unsigned n = 0;

	while (head != tail) {
		struct io_uring_cqe *cqe = &u->cqes[head & u->cq_mask];
		struct block_req *req = (struct block_req *)(uintptr_t)cqe->user_data;
		int res = cqe->res;

		head++;
		n++;
		atomic_store_explicit(u->cq_head, head, memory_order_release);
		u->in_ring--;
		if (req->result >= 0) {
			finish_group(u, req, res);
			tail = atomic_load_explicit(u->cq_tail, memory_order_acquire);
			continue;
		}
		if (req->op == BLOCK_OP_FLUSH) {
			u->e.inflight--;
			req->done(req, res < 0 ? (res == -ECANCELED ? res : -EIO) : 0);
		} else if (res >= 0 && (size_t)res == req->len) {
			u->e.inflight--;
			req->done(req, 0);
		} else if (res >= 0 || res == -EINVAL || res == -EAGAIN || res == -EINTR) {
			/* Short, or stricter alignment than announced: the rest, here. */
			run_here(u, req, res > 0 ? (size_t)res : 0);
		} else {
			log_debug("%s: %s at sector %llu: %s", u->e.disk->name,
				  req->op == BLOCK_OP_WRITE ? "write" : "read",
				  (unsigned long long)(req->offset / BLOCK_SECTOR), strerror(-res));
			u->e.inflight--;
			req->done(req, res == -ECANCELED ? res : -EIO);
		}
		tail = atomic_load_explicit(u->cq_tail, memory_order_acquire);
	}
	return n;
}

/* Moves waiting requests into the room completions made. */
static void feed_backlog(struct uring *u)
{
	while (u->backlog && u->in_ring < u->entries) {
		struct block_req *req = u->backlog;

		u->backlog = req->next;
		if (!u->backlog)
			u->backlog_tail = &u->backlog;
		to_ring(u, req);
	}
	flush_sq(u);
}

static void reap_all(struct uring *u)
{
	while (reap(u))
		feed_backlog(u);
}

static void uring_complete(struct block_engine *e)
{
	struct uring *u = (struct uring *)e;
	uint64_t v;

	while (read(e->event_fd, &v, sizeof(v)) > 0)
		;
	reap_all(u);
}

/* Waits (in slices) until the kernel completed everything it holds, or the disk is cancelled. */
static void wait_ring(struct uring *u, bool stop_on_cancel)
{
	while (u->in_ring || u->backlog) {
		struct __kernel_timespec ts = { 0, DRAIN_SLICE_NS };
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };

		if (stop_on_cancel && atomic_load_explicit(&u->e.disk->cancel, memory_order_relaxed))
			return;
		feed_backlog(u);	/* and hands the ring what is queued */
		if (u->in_ring && sys_enter(u->fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
					    &arg, sizeof(arg)) < 0 &&
		    errno != ETIME && errno != EINTR)
			return;
		while (reap(u))
			feed_backlog(u);
	}
}

static void uring_drain(struct block_engine *e)
{
	group_flush((struct uring *)e);
	wait_ring((struct uring *)e, false);
}

/*
 * The VM stops: the backlog never reaches the disk (-ECANCELED); what the
 * kernel holds completes on its own, which the stop does not wait for
 * beyond one slice (the ring's release waits for it, holding guest pages).
 */
static void uring_cancel(struct block_engine *e)
{
	struct uring *u = (struct uring *)e;

	while (u->pend) {
		struct block_req *req = u->pend;

		u->pend = req->next;
		e->inflight--;
		req->done(req, -ECANCELED);
	}
	u->pend_last = NULL;
	while (u->backlog) {
		struct block_req *req = u->backlog;

		u->backlog = req->next;
		e->inflight--;
		req->done(req, -ECANCELED);
	}
	u->backlog_tail = &u->backlog;
	wait_ring(u, true);
}

static void uring_destroy(struct block_engine *e)
{
	struct uring *u = (struct uring *)e;

	if (u->merged_entries)
		log_debug("%s: io_uring merged %llu requests into %llu", e->disk->name,
			  (unsigned long long)u->merged_reqs, (unsigned long long)u->merged_entries);
	unmap(u);
	if (u->fd >= 0)
		close(u->fd);
	if (e->event_fd >= 0)
		close(e->event_fd);
	free(e->bounce);
	free(u);
}

static const struct block_engine_ops uring_ops = {
	.submit = uring_submit,
	.complete = uring_complete,
	.cancel = uring_cancel,
	.drain = uring_drain,
	.destroy = uring_destroy,
};

int block_engine_uring_create(struct block_disk *disk, struct block_engine **out)
{
	struct io_uring_params p;
	struct uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->e.ops = &uring_ops;
	u->e.disk = disk;
	u->e.event_fd = -1;
	u->fd = -1;
	u->backlog_tail = &u->backlog;
	u->e.bounce = block_bounce_alloc();
	if (!u->e.bounce) {
		free(u);
		return -ENOMEM;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	u->fd = sys_setup(URING_ENTRIES, &p);
	if (u->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (!(p.features & IORING_FEAT_EXT_ARG)) {
		r = -ENOSYS;	/* bounded waits need it (Linux 5.11) */
		goto fail;
	}
	r = map_rings(u, &p);
	if (r)
		goto fail;
	u->e.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->e.event_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = lock_down(u);
	if (r)
		goto fail;
	*out = &u->e;
	return 0;
fail:
	uring_destroy(&u->e);
	return r;
}
