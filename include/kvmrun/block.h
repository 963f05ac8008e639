/*
 * Block I/O under the disk devices (block/): a disk opened from plain
 * parameters, and engines that run requests on it.  Every submitted request
 * completes exactly once through its done callback with 0 or a negative
 * errno: the sync engine calls it before block_submit() returns; the
 * threaded engine runs reads and writes on its I/O threads and calls it
 * from block_complete(), on the owner's thread, when its event fd is
 * readable.  An engine is driven from one thread at a time (the device's
 * worker, with its lock held): submit, complete and cancel need no locking
 * by the caller.  The io_uring engine (block/uring.c) completes like the
 * threaded one, through its event fd.
 */
#ifndef KVMRUN_BLOCK_H
#define KVMRUN_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLOCK_SECTOR		512u	/* the logical block size of every disk, for now */
#define BLOCK_DIRECT_ALIGN	512u	/* buffers aligned so go to O_DIRECT as they are */
#define BLOCK_IO_THREADS	16u	/* the threaded engine's requests on the disk at once */
/*
 * Every thread that runs requests owns one aligned bounce buffer of this
 * size: O_DIRECT transfers of unaligned guest buffers and zeroes written
 * where fallocate cannot go through it piece by piece, so host memory per
 * disk is (I/O threads + 1) x BLOCK_BOUNCE_SIZE whatever the guest asks.
 */
#define BLOCK_BOUNCE_SIZE	(256u << 10)

/* What to open: plain values, no command-line types. */
struct block_params {
	const char *path;
	bool readonly;
	bool direct;		/* O_DIRECT (cache=none) */
	const char *name;	/* prefix of the engine's log lines ("virtio-blk") */
};

struct block_disk {
	int fd;
	bool readonly;
	bool direct;
	uint64_t size;		/* bytes, at least one sector */
	uint32_t block_size;	/* logical block size */
	uint32_t align;		/* memory and length alignment O_DIRECT takes as is; 1 without */
	const char *name;
	/* Set when the VM stops: requests end with -ECANCELED, long ones between pieces. */
	_Atomic bool cancel;
};

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH,		/* what completed before is on stable storage */
	BLOCK_OP_DISCARD,	/* a hint: failures to deallocate are not errors */
	BLOCK_OP_WRITE_ZEROES,
};

/* A byte range of DISCARD or WRITE_ZEROES; unmap: zeroes may be deallocated. */
struct block_range {
	uint64_t offset, len;
	bool unmap;
};

struct block_req {
	enum block_op op;
	/* READ, WRITE: the buffers (restored if the engine adjusts them), offset and length. */
	struct iovec *iov;
	unsigned iovcnt;
	uint64_t offset;
	size_t len;
	/* DISCARD, WRITE_ZEROES: applied in order, stopping at the first error. */
	const struct block_range *ranges;
	unsigned nr_ranges;
	/*
	 * result: 0, -EIO, -EROFS (a write to a read-only disk), -EINVAL (past
	 * the end), -ECANCELED (the VM stopped: block_disk_cancel).
	 */
	void (*done)(struct block_req *req, int result);
	/* The engine's. */
	struct block_req *next;
	int result;
};

/* Opens the image (one line on error: "--disk PATH: ..."); 0 or -errno. */
int block_disk_open(struct block_disk *disk, const struct block_params *p);
void block_disk_close(struct block_disk *disk);
/*
 * Runs req on the calling thread and returns its result (done is not
 * called); bounce is the thread's BLOCK_BOUNCE_SIZE buffer (block_bounce_alloc).
 */
int block_disk_run(struct block_disk *disk, struct block_req *req, uint8_t *bounce);
/*
 * The rest of a READ or WRITE whose first done bytes another path already
 * moved (a short transfer): same result values as block_disk_run.
 */
int block_disk_finish(struct block_disk *disk, struct block_req *req, size_t done, uint8_t *bounce);
/* A bounce buffer (4 KiB aligned), or NULL; free() releases it. */
uint8_t *block_bounce_alloc(void);
/*
 * The VM is stopping: requests not started end with -ECANCELED, and long
 * ones (zeroes written piece by piece, bounced transfers) stop at the next
 * piece.  Any thread, no lock; for good.
 */
void block_disk_cancel(struct block_disk *disk);

/* Submit hint: the caller has more requests right behind this one (worth running in parallel). */
#define BLOCK_SUBMIT_MORE	1u

struct block_engine;

struct block_engine_ops {
	void (*submit)(struct block_engine *e, struct block_req *req, unsigned flags);
	void (*complete)(struct block_engine *e);
	void (*cancel)(struct block_engine *e);
	void (*drain)(struct block_engine *e);
	void (*destroy)(struct block_engine *e);
};

struct block_engine {
	const struct block_engine_ops *ops;
	struct block_disk *disk;
	uint8_t *bounce;	/* for requests run on the owner's thread */
	int event_fd;		/* readable when completions wait for block_complete(); -1: never */
	unsigned inflight;	/* submitted, done not yet called */
};

/* Every request on the caller's thread, completed before block_submit() returns. */
int block_engine_sync_create(struct block_disk *disk, struct block_engine **out);
/*
 * Reads and writes on nr_threads I/O threads (sandboxed as device threads),
 * in submission order, completing in any order; a lone read or write (no
 * BLOCK_SUBMIT_MORE, nothing in flight) and every other request run on the
 * caller's thread, where a hand-over would only add two wake-ups.
 */
int block_engine_threads_create(struct block_disk *disk, unsigned nr_threads,
				struct block_engine **out);

/*
 * Reads, writes and flushes through an io_uring of the disk's own (a
 * queue's requests in one system call, completions out of order, on the
 * event fd); -errno where the kernel offers no usable io_uring.
 */
int block_engine_uring_create(struct block_disk *disk, struct block_engine **out);

static inline void block_submit(struct block_engine *e, struct block_req *req, unsigned flags)
{
	e->ops->submit(e, req, flags);
}

/* Calls done for every request the engine finished (after its event fd became readable). */
static inline void block_complete(struct block_engine *e)
{
	if (e->ops->complete)
		e->ops->complete(e);
}

/*
 * Waits for the requests on the disk, then completes every submitted one:
 * those not started with -ECANCELED (their I/O never happens).
 */
static inline void block_cancel(struct block_engine *e)
{
	if (e->ops->cancel)
		e->ops->cancel(e);
}

/*
 * Waits for every submitted request to run and completes them all (a
 * pause: nothing may touch guest memory afterwards).  Owner's side, with
 * whatever lock the done callbacks need held.
 */
static inline void block_drain(struct block_engine *e)
{
	if (e->ops->drain)
		e->ops->drain(e);
}

static inline unsigned block_inflight(const struct block_engine *e)
{
	return e->inflight;
}

/* Stops the engine's threads; requests still submitted are dropped without a callback. */
void block_engine_destroy(struct block_engine *e);

#endif
