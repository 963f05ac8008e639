/*
 * virtio-blk (virtio 1.2, 5.2): the protocol (request headers, the status
 * byte, config space, GET_ID, segment limits) over a disk of the block
 * module (block/), on the engine --disk aio= picks: io_uring by default
 * (a queue's requests in flight together, completing out of order back on
 * the worker), the I/O threads, or the worker itself (sync).  While requests
 * are on the disk the driver is not asked to notify: their completion
 * serves what it added meanwhile.  Requests wait on the ring while the
 * disk's rate limit says so.  A read-only disk refuses every write with
 * IOERR.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmrun/block.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio_devices.h"

#define SECTOR			512ULL
#define REQ_HDR			16
#define MAX_REQ_BYTES		(64ULL << 20)	/* larger requests fail with IOERR */
#define MAX_DISCARD_SEGS	16
#define MAX_SECTORS		(UINT32_MAX / SECTOR)
#define IO_JOBS			64	/* cache=none: requests popped and not yet completed */

_Static_assert(SECTOR == BLOCK_SECTOR, "virtio-blk sectors are the disk's logical blocks");

/* A request popped from a queue, until its status byte is written. */
struct blk_job {
	struct block_req req;
	struct blk_job *next;		/* on the free list */
	struct blk *blk;
	struct virtq_chain chain;
	struct iovec data[VIRTQ_MAX_SEGS];
	struct block_range ranges[MAX_DISCARD_SEGS];
	unsigned q;
	uint64_t gen;			/* the device's reset count when it was popped */
	bool refuse;			/* a discard segment past those run was bad: IOERR anyway */
};

struct blk {
	struct virtio_device *dev;
	struct disk_config cfg;
	struct block_disk disk;
	struct block_engine *engine;
	uint64_t capacity;		/* sectors */
	struct virtio_blk_config config;
	struct blk_job *jobs, *free;
	uint64_t gen;			/* resets so far: completions of older jobs are dropped */
	uint32_t starved;		/* queues left unserved for want of a free job */
	/*
	 * Each queue's used index when the driver was last considered for an
	 * interrupt: completions may land on any queue while another is served
	 * (an engine completing what it can at once), and each is signalled
	 * by the next signal_used().
	 */
	uint16_t signaled[VIRTIO_MAX_QUEUES];
	struct virtio_throttle throttle;	/* iops=, bps= */
	uint32_t quiet;		/* queues left without notifications: served at the next completion */
	bool engine_threads;	/* aio=threads */
};

struct discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* The data part of a request: readable after the header, or writable before the status byte. */
static unsigned data_iov(const struct virtq_chain *c, bool writable, size_t skip, size_t len,
			 struct iovec *out)
{
	unsigned first = writable ? c->n_out : 0, end = writable ? c->n_out + c->n_in : c->n_out;
	unsigned n = 0;

	for (unsigned i = first; i < end && len; i++) {
		size_t l = c->iov[i].iov_len, take;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		take = l - skip < len ? l - skip : len;
		out[n++] = (struct iovec){ (uint8_t *)c->iov[i].iov_base + skip, take };
		len -= take;
		skip = 0;
	}
	return n;
}

static bool in_range(const struct blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t sectors = bytes / SECTOR;

	return sector <= b->capacity && sectors <= b->capacity - sector;
}

/* The status is the last writable byte of the chain. */
static void complete(struct virtq *vq, const struct virtq_chain *c, uint8_t status,
		     uint32_t written)
{
	buf_to_iov(c->iov + c->n_out, c->n_in, c->in_len - 1, &status, 1);
	virtq_push(vq, c->head, written + 1);
}

static void job_put(struct blk *b, struct blk_job *j)
{
	j->next = b->free;
	b->free = j;
}

/* Worker thread, device lock held (from block_submit, block_complete or block_cancel). */
static void job_done(struct block_req *req, int result)
{
	struct blk_job *j = (struct blk_job *)((uint8_t *)req - offsetof(struct blk_job, req));
	struct blk *b = j->blk;
	struct virtq *vq = &b->dev->vq[j->q];
	uint8_t status = result || j->refuse ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	uint32_t written = !status && req->op == BLOCK_OP_READ ? (uint32_t)req->len : 0;

	/* A job from before a reset belongs to rings the driver has given up. */
	if (j->gen == b->gen && vq->ready && !vq->broken)
		complete(vq, &j->chain, status, written);
	job_put(b, j);
}

/* Checked here, so that only requests the disk can run reach the engine. */
static bool rw_prepare(struct blk *b, struct blk_job *j, uint64_t sector, bool write)
{
	const struct virtq_chain *c = &j->chain;
	size_t len = write ? c->out_len - REQ_HDR : c->in_len - 1;

	if (len % SECTOR || len > MAX_REQ_BYTES || !in_range(b, sector, len))
		return false;
	if (write && b->cfg.readonly)
		return false;
	j->req.op = write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
	j->req.iov = j->data;
	j->req.iovcnt = data_iov(c, !write, write ? REQ_HDR : 0, len, j->data);
	j->req.offset = sector * SECTOR;
	j->req.len = len;
	return true;
}

/*
 * The segments up to the first bad one go to the disk, as they are checked;
 * a bad one fails the request after those.
 */
static bool discard_prepare(struct blk *b, struct blk_job *j, bool zeroes)
{
	struct discard_seg segs[MAX_DISCARD_SEGS];
	const struct virtq_chain *c = &j->chain;
	size_t len = c->out_len - REQ_HDR;
	unsigned n = (unsigned)(len / sizeof(segs[0])), i;

	if (b->cfg.readonly || !n || len % sizeof(segs[0]) || n > MAX_DISCARD_SEGS)
		return false;
	iov_to_buf(c->iov, c->n_out, REQ_HDR, segs, len);
	for (i = 0; i < n; i++) {
		uint64_t bytes = (uint64_t)segs[i].num_sectors * SECTOR;

		if ((segs[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!zeroes && segs[i].flags) || !in_range(b, segs[i].sector, bytes))
			break;
		j->ranges[i] = (struct block_range){
			.offset = segs[i].sector * SECTOR, .len = bytes,
			.unmap = segs[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
		};
	}
	j->refuse = i < n;
	j->req.op = zeroes ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_DISCARD;
	j->req.ranges = j->ranges;
	j->req.nr_ranges = i;
	return true;
}

/*
 * Starts the request in j (its chain popped, header and status byte there):
 * on the engine, or completed right here.
 */
static void start(struct blk *b, struct blk_job *j, bool more)
{
	const struct virtq_chain *c = &j->chain;
	struct virtq *vq = &b->dev->vq[j->q];
	struct virtio_blk_outhdr hdr;
	bool ok;

	iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
	j->refuse = false;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		ok = rw_prepare(b, j, hdr.sector, hdr.type == VIRTIO_BLK_T_OUT);
		break;
	case VIRTIO_BLK_T_FLUSH:
		j->req.op = BLOCK_OP_FLUSH;
		ok = true;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		ok = discard_prepare(b, j, hdr.type == VIRTIO_BLK_T_WRITE_ZEROES);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t len = c->in_len - 1 < VIRTIO_BLK_ID_BYTES ? c->in_len - 1 : VIRTIO_BLK_ID_BYTES;
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };
		uint32_t written;

		memcpy(id, b->cfg.serial, strnlen(b->cfg.serial, VIRTIO_BLK_ID_BYTES));
		written = (uint32_t)buf_to_iov(c->iov + c->n_out, c->n_in, 0, id, len);
		complete(vq, c, VIRTIO_BLK_S_OK, written);
		job_put(b, j);
		return;
	}
	default:
		complete(vq, c, VIRTIO_BLK_S_UNSUPP, 0);
		job_put(b, j);
		return;
	}
	if (!ok) {
		complete(vq, c, VIRTIO_BLK_S_IOERR, 0);
		job_put(b, j);
		return;
	}
	block_submit(b->engine, &j->req, more ? BLOCK_SUBMIT_MORE : 0);
}

/* Interrupts for what every queue completed since its last one (as the driver asks). */
static void signal_used(struct blk *b)
{
	struct virtio_device *d = b->dev;

	for (unsigned q = 0; q < d->nr_queues; q++) {
		if (d->vq[q].used_idx == b->signaled[q])
			continue;
		virtio_signal_used(d, q, b->signaled[q]);
		b->signaled[q] = d->vq[q].used_idx;
	}
}

static void blk_notify(struct virtio_device *d, unsigned q)
{
	struct blk *b = d->priv;
	struct virtq *vq = &d->vq[q];
	int r;

	for (;;) {
		struct blk_job *j = b->free;

		if (!virtio_throttle_admit(d, &b->throttle, q)) {
			r = 0;	/* the rest waits on the ring for tokens */
			break;
		}
		if (!j) {
			/* All jobs out: the next completion pops the rest. */
			b->starved |= 1u << q;
			r = 0;
			break;
		}
		r = virtq_pop(vq, d->mem, &j->chain);
		if (r <= 0)
			break;
		b->free = j->next;
		/* A header to read and a status byte to write, at least. */
		if (j->chain.out_len < REQ_HDR || j->chain.in_len < 1) {
			job_put(b, j);
			virtio_needs_reset(d, "request without header or status byte");
			return;
		}
		j->q = q;
		j->gen = b->gen;
		/* Its data bytes: the readable ones past the header, the writable ones but the status. */
		virtio_throttle_take(&b->throttle, 1, j->chain.out_len - REQ_HDR + j->chain.in_len - 1);
		/* More behind it only if there is a job to carry it: else the engine must go now. */
		start(b, j, b->free && virtq_has_avail(vq));
	}
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain");
	signal_used(b);
}

/* Worker thread, device lock held: hand back what the I/O threads finished. */
static void blk_fd_ready(struct virtio_device *d, int fd)
{
	struct blk *b = d->priv;
	uint32_t starved = b->starved, quiet;

	if (virtio_throttle_fd_ready(d, &b->throttle, fd) || fd != b->engine->event_fd)
		return;
	b->starved = 0;
	block_complete(b->engine);
	signal_used(b);
	quiet = b->quiet;
	b->quiet = 0;
	for (unsigned q = 0; q < d->nr_queues; q++) {
		if (quiet & (1u << q))
			virtio_serve_queue_replied(d, q);	/* what the driver added meanwhile, or adds now */
		else if (starved & (1u << q))
			virtio_notify_queue(d, q);	/* jobs are free again: pop the rest */
	}
}

/*
 * Requests on the disk: their completion comes back to this worker, which
 * then takes what the driver added meanwhile, so the driver need not
 * notify (the last completion re-arms notifications).
 */
static bool blk_revisits(struct virtio_device *d, unsigned q)
{
	struct blk *b = d->priv;

	if (b->engine->event_fd < 0 || !block_inflight(b->engine))
		return false;
	b->quiet |= 1u << q;
	return true;
}

/* Device reset (lock held): forget queued requests, wait for those on the disk. */
static void blk_reset(struct virtio_device *d)
{
	struct blk *b = d->priv;

	b->gen++;
	block_cancel(b->engine);
	b->starved = 0;
	b->quiet = 0;
	memset(b->signaled, 0, sizeof(b->signaled));	/* the rings start again at 0 */
}

/* Pause: every request on the disk finished and handed back, the image flushed. */
static void blk_drain(struct virtio_device *d)
{
	struct blk *b = d->priv;
	uint32_t starved = b->starved;

	b->starved = 0;
	block_drain(b->engine);
	signal_used(b);
	for (unsigned q = 0; q < d->nr_queues; q++) {
		/* Nothing is on the disk now: the driver must notify again. */
		if (b->quiet & (1u << q)) {
			virtq_set_notification(&d->vq[q], true);
			starved |= virtq_has_avail(&d->vq[q]) ? 1u << q : 0;
		}
		if (starved & (1u << q))
			virtio_notify_queue(d, q);	/* served once the device resumes */
	}
	b->quiet = 0;
	if (!b->cfg.readonly && fdatasync(b->disk.fd))
		log_warn("%s: flushing the image: %s", d->name, strerror(errno));
}

static void blk_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct blk *b = d->priv;

	virtio_config_copy(&b->config, sizeof(b->config), off, data, len);
}

/*
 * The device type's own state.  The driver cannot write any config field
 * (no VIRTIO_BLK_F_CONFIG_WCE: the cache mode is the host's choice), so
 * the record only carries the geometry the driver was shown, to refuse a
 * restore onto a different disk.  Requests in flight on the I/O threads
 * are not saved: they hold guest buffers the disk is still writing, so
 * the device must be quiesced with them completed (their status bytes
 * written), and save returns -EBUSY while any is still out.
 */
static int blk_save(struct virtio_device *d, struct state_writer *w)
{
	struct blk *b = d->priv;

	if (block_inflight(b->engine))
		return -EBUSY;
	state_put_u64(w, b->capacity);
	state_put_u16(w, b->config.num_queues);
	state_put_bool(w, b->cfg.readonly);
	return w->err;
}

static int blk_restore(struct virtio_device *d, struct state_reader *r)
{
	struct blk *b = d->priv;
	uint64_t capacity = state_get_u64(r);
	uint16_t queues = state_get_u16(r);
	bool readonly = state_get_bool(r);

	if (!r->err && (capacity != b->capacity || queues != b->config.num_queues ||
			readonly != b->cfg.readonly))
		state_reader_fail(r);
	/* The queues are restored by now: what they hold was signalled before the save. */
	for (unsigned q = 0; q < d->nr_queues; q++)
		b->signaled[q] = d->vq[q].used_idx;
	return r->err;
}

static void blk_destroy(struct virtio_device *d)
{
	struct blk *b = d->priv;

	virtio_throttle_destroy(&b->throttle);
	log_debug("%s: at the end: %u requests in flight, quiet queues 0x%x, starved 0x%x",
		  d->name, block_inflight(b->engine), b->quiet, b->starved);
	block_engine_destroy(b->engine);
	block_disk_close(&b->disk);
	free(b->jobs);
	free(b);
}

static struct virtio_throttle *blk_throttle(struct virtio_device *d)
{
	struct blk *b = d->priv;

	return &b->throttle;
}

/* The VM is stopping: long requests on the worker or the I/O threads end at their next piece. */
static void blk_stop(struct virtio_device *d)
{
	struct blk *b = d->priv;

	block_disk_cancel(&b->disk);
}

static const struct virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.stop = blk_stop,
	.drain = blk_drain,
	.queue_notify = blk_notify,
	.fd_ready = blk_fd_ready,
	.reset = blk_reset,
	.destroy = blk_destroy,
	.save = blk_save,
	.restore = blk_restore,
	.throttle = blk_throttle,
	.revisits = blk_revisits,
};

/*
 * The engine --disk asked for.  aio=auto: io_uring where the kernel offers
 * it, else the I/O threads with cache=none (where every request waits for
 * the disk) and the worker itself with the page cache.
 */
static int engine_create(struct blk *b, const struct disk_config *dc)
{
	enum disk_aio aio = dc->aio;
	int r;

	if (aio == DISK_AIO_AUTO || aio == DISK_AIO_IO_URING) {
		r = block_engine_uring_create(&b->disk, &b->engine);
		if (!r)
			return 0;
		if (aio == DISK_AIO_IO_URING) {
			log_err("--disk %s,aio=io_uring: this kernel offers no usable io_uring: %s",
				dc->path, strerror(-r));
			return r;
		}
		log_info("--disk %s: no io_uring (%s): %s", dc->path, strerror(-r),
			 dc->cache_none ? "I/O threads" : "requests on the device's worker");
		aio = dc->cache_none ? DISK_AIO_THREADS : DISK_AIO_SYNC;
	}
	b->engine_threads = aio == DISK_AIO_THREADS;
	if (aio == DISK_AIO_THREADS)
		return block_engine_threads_create(&b->disk, BLOCK_IO_THREADS, &b->engine);
	return block_engine_sync_create(&b->disk, &b->engine);
}

/* The jobs: one for the sync engine (done before the next pop), IO_JOBS for the others. */
static int jobs_create(struct blk *b, unsigned n)
{
	b->jobs = calloc(n, sizeof(*b->jobs));
	if (!b->jobs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		b->jobs[i].blk = b;
		b->jobs[i].req.done = job_done;
		job_put(b, &b->jobs[i]);
	}
	return 0;
}

int virtio_blk_init(struct virtio_device *d, const struct disk_config *dc,
		    const struct guest_mem *mem)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct block_params p = {
		.path = dc->path, .readonly = dc->readonly, .direct = dc->cache_none,
		.name = "virtio-blk",
	};
	uint64_t features;
	int r;

	if (!b)
		return -ENOMEM;
	b->dev = d;
	b->cfg = *dc;
	r = block_disk_open(&b->disk, &p);
	if (r) {
		free(b);
		return r;
	}
	b->capacity = b->disk.size / SECTOR;
	b->config.capacity = b->capacity;
	b->config.size_max = 1U << 30;
	b->config.seg_max = VIRTQ_MAX_SEGS - 2;
	b->config.blk_size = SECTOR;
	b->config.num_queues = (uint16_t)dc->num_queues;
	b->config.max_discard_sectors = MAX_SECTORS;
	b->config.max_discard_seg = MAX_DISCARD_SEGS;
	b->config.discard_sector_alignment = 1;
	b->config.max_write_zeroes_sectors = MAX_SECTORS;
	b->config.max_write_zeroes_seg = MAX_DISCARD_SEGS;
	b->config.write_zeroes_may_unmap = 1;

	features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		   (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
		   (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (dc->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	if (dc->num_queues > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	r = engine_create(b, dc);
	if (!r)
		r = jobs_create(b, b->engine->event_fd >= 0 ? IO_JOBS : 1);
	if (!r)
		r = virtio_device_init(d, "virtio-blk", VIRTIO_ID_BLOCK, dc->num_queues, features,
				       &blk_ops, b, mem);
	if (r) {
		block_engine_destroy(b->engine);
		block_disk_close(&b->disk);
		free(b->jobs);
		free(b);
		return r;
	}
	/* From here virtio_device_destroy() releases b through blk_destroy(). */
	b->throttle.timer_fd = -1;
	r = virtio_throttle_init(d, &b->throttle, &dc->limit);
	if (r) {
		virtio_device_destroy(d);
		return r;
	}
	if (b->engine->event_fd >= 0) {
		r = virtio_watch_fd(d, b->engine->event_fd);
		/* The I/O threads need the CPUs more than a spinning worker does. */
		d->no_poll = b->engine_threads;
		if (r)
			virtio_device_destroy(d);	/* the caller only cleans up after success */
	}
	return r;
}
