/*
 * virtio-blk (virtio 1.2, 5.2) over a raw image file.  Requests run on the
 * device's worker thread: preadv/pwritev straight into the guest's buffers,
 * fdatasync for FLUSH (so that what the guest was told is flushed survives a
 * kill of kvmrun), fallocate for DISCARD and WRITE_ZEROES.  With cache=none
 * (O_DIRECT, where every request waits for the disk) reads and writes go to
 * a pool of I/O threads instead, so that a queue's requests are in flight
 * together; they complete out of order, back on the worker.  A read-only
 * disk refuses every write with IOERR.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/virtio_devices.h"

#define SECTOR			512ULL
#define REQ_HDR			16
#define MAX_REQ_BYTES		(64ULL << 20)	/* larger requests fail with IOERR */
#define MAX_DISCARD_SEGS	16
#define MAX_SECTORS		(UINT32_MAX / SECTOR)
#define IO_THREADS		16	/* cache=none: requests in flight at once */
#define IO_JOBS			64	/* requests popped and not yet completed */
#define DIRECT_ALIGN		512	/* buffers aligned so go to O_DIRECT as they are */

/* A read or write handed to the I/O threads. */
struct blk_job {
	struct blk_job *next;
	struct virtq_chain chain;
	struct iovec data[VIRTQ_MAX_SEGS];
	unsigned q;
	uint64_t gen;			/* the device's reset count when it was popped */
	uint64_t sector;
	bool write;
	uint8_t status;
	uint32_t written;
};

struct blk_pool {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct blk_job *free, *pending, *done;
	unsigned busy;			/* jobs an I/O thread holds */
	bool stop;
	int done_fd;			/* eventfd: completed jobs for the worker */
	pthread_t threads[IO_THREADS];
	unsigned nr_threads;
	uint32_t starved;		/* queues left unserved for want of a free job */
	struct blk_job jobs[IO_JOBS];
};

struct blk {
	int fd;
	struct disk_config cfg;
	uint64_t capacity;		/* sectors */
	struct virtio_blk_config config;
	struct virtq_chain chain;
	struct iovec data[VIRTQ_MAX_SEGS];
	struct blk_pool *pool;		/* cache=none only */
	uint64_t gen;			/* resets so far: completions of older jobs are dropped */
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

/* O_DIRECT wants aligned memory; the guest's buffers need not be: go through an aligned copy. */
static uint8_t bounce_rw(struct blk *b, const struct iovec *data, unsigned n, off_t off,
			 size_t len, bool write, uint32_t *written)
{
	uint8_t status = VIRTIO_BLK_S_OK;
	void *buf;

	if (!len)
		return VIRTIO_BLK_S_OK;
	if (posix_memalign(&buf, 4096, len))
		return VIRTIO_BLK_S_IOERR;
	if (write) {
		iov_to_buf(data, n, 0, buf, len);
		if (pwrite(b->fd, buf, len, off) != (ssize_t)len)
			status = VIRTIO_BLK_S_IOERR;
	} else if (pread(b->fd, buf, len, off) != (ssize_t)len) {
		status = VIRTIO_BLK_S_IOERR;
	} else {
		buf_to_iov(data, n, 0, buf, len);
		*written = (uint32_t)len;
	}
	free(buf);
	return status;
}

static bool direct_ok(const struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)v[i].iov_base % DIRECT_ALIGN || v[i].iov_len % DIRECT_ALIGN)
			return false;
	return true;
}

/* data: scratch room for the request's iovecs (one per thread that runs requests). */
static uint8_t do_rw(struct blk *b, const struct virtq_chain *c, uint64_t sector, bool write,
		     uint32_t *written, struct iovec *data)
{
	size_t len = write ? c->out_len - REQ_HDR : c->in_len - 1;
	unsigned n = data_iov(c, !write, write ? REQ_HDR : 0, len, data);
	off_t off = (off_t)(sector * SECTOR);
	size_t done = 0;

	if (len % SECTOR || len > MAX_REQ_BYTES || !in_range(b, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (write && b->cfg.readonly)
		return VIRTIO_BLK_S_IOERR;
	/* O_DIRECT takes aligned buffers as they are; others go through an aligned copy. */
	if (b->cfg.cache_none && !direct_ok(data, n))
		return bounce_rw(b, data, n, off, len, write, written);
	while (done < len) {
		struct iovec *v = data;
		unsigned vn = n;
		size_t skip = done;
		ssize_t r;

		/* Resume a short transfer where it stopped. */
		while (vn && skip >= v->iov_len) {
			skip -= v->iov_len;
			v++;
			vn--;
		}
		if (!vn)
			break;
		v->iov_base = (uint8_t *)v->iov_base + skip;
		v->iov_len -= skip;
		r = write ? pwritev(b->fd, v, (int)vn, off + (off_t)done) :
			    preadv(b->fd, v, (int)vn, off + (off_t)done);
		v->iov_base = (uint8_t *)v->iov_base - skip;
		v->iov_len += skip;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL && b->cfg.cache_none && !done)
			return bounce_rw(b, data, n, off, len, write, written);	/* stricter alignment */
		if (r <= 0) {
			log_debug("virtio-blk: %s at sector %llu: %s", write ? "write" : "read",
				  (unsigned long long)sector, r ? strerror(errno) : "end of file");
			return VIRTIO_BLK_S_IOERR;
		}
		done += (size_t)r;
	}
	if (!write)
		*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_discard(struct blk *b, const struct virtq_chain *c, bool zeroes)
{
	struct discard_seg segs[MAX_DISCARD_SEGS];
	size_t len = c->out_len - REQ_HDR;
	unsigned n = (unsigned)(len / sizeof(segs[0]));

	if (b->cfg.readonly || !n || len % sizeof(segs[0]) || n > MAX_DISCARD_SEGS)
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(c->iov, c->n_out, REQ_HDR, segs, len);
	for (unsigned i = 0; i < n; i++) {
		uint64_t bytes = (uint64_t)segs[i].num_sectors * SECTOR;
		bool unmap = segs[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		int mode;

		if ((segs[i].flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!zeroes && segs[i].flags) || !in_range(b, segs[i].sector, bytes))
			return VIRTIO_BLK_S_IOERR;
		if (!bytes)
			continue;
		/* Punching a hole reads back as zeroes too; ZERO_RANGE keeps the blocks. */
		mode = !zeroes || unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
					  FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		if (fallocate(b->fd, mode, (off_t)(segs[i].sector * SECTOR), (off_t)bytes) < 0) {
			if (!zeroes)
				continue;	/* discard is only a hint */
			/* No fallocate support: write the zeroes. */
			static const uint8_t zero[4096];

			for (uint64_t o = 0; o < bytes; o += sizeof(zero)) {
				size_t l = bytes - o < sizeof(zero) ? (size_t)(bytes - o) : sizeof(zero);

				if (pwrite(b->fd, zero, l,
					   (off_t)(segs[i].sector * SECTOR + o)) != (ssize_t)l)
					return VIRTIO_BLK_S_IOERR;
			}
		}
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t handle(struct blk *b, const struct virtq_chain *c, uint32_t *written)
{
	struct virtio_blk_outhdr hdr;

	*written = 0;
	iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		return do_rw(b, c, hdr.sector, false, written, b->data);
	case VIRTIO_BLK_T_OUT:
		return do_rw(b, c, hdr.sector, true, written, b->data);
	case VIRTIO_BLK_T_FLUSH:
		return fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t len = c->in_len - 1 < VIRTIO_BLK_ID_BYTES ? c->in_len - 1 : VIRTIO_BLK_ID_BYTES;
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };

		memcpy(id, b->cfg.serial, strnlen(b->cfg.serial, VIRTIO_BLK_ID_BYTES));
		*written = (uint32_t)buf_to_iov(c->iov + c->n_out, c->n_in, 0, id, len);
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
		return do_discard(b, c, false);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return do_discard(b, c, true);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* The status is the last writable byte of the chain. */
static void complete(struct virtq *vq, const struct virtq_chain *c, uint8_t status,
		     uint32_t written)
{
	buf_to_iov(c->iov + c->n_out, c->n_in, c->in_len - 1, &status, 1);
	virtq_push(vq, c->head, written + 1);
}

/* ---- the I/O threads (cache=none) ---- */

static void *io_thread(void *arg)
{
	struct blk *b = arg;
	struct blk_pool *p = b->pool;
	uint64_t one = 1;

	if (sandbox_enter(SANDBOX_DEVICE, "virtio-blk-io")) {
		log_err("virtio-blk: an I/O thread stops");
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->pending)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		struct blk_job *j = p->pending;

		p->pending = j->next;
		p->busy++;
		pthread_mutex_unlock(&p->lock);
		j->written = 0;
		j->status = do_rw(b, &j->chain, j->sector, j->write, &j->written, j->data);
		pthread_mutex_lock(&p->lock);
		j->next = p->done;
		p->done = j;
		if (!--p->busy)
			pthread_cond_broadcast(&p->idle);
		if (write(p->done_fd, &one, sizeof(one)) < 0)
			log_debug("virtio-blk: completion eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static bool pool_active(struct blk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	bool active = p->busy || p->pending || p->done;

	pthread_mutex_unlock(&p->lock);
	return active;
}

static struct blk_job *job_get(struct blk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	struct blk_job *j = p->free;

	if (j)
		p->free = j->next;
	pthread_mutex_unlock(&p->lock);
	return j;
}

static void job_put(struct blk_pool *p, struct blk_job *j)
{
	pthread_mutex_lock(&p->lock);
	j->next = p->free;
	p->free = j;
	pthread_mutex_unlock(&p->lock);
}

/* Requests run in submission order within the pool (completion order is free). */
static void job_submit(struct blk_pool *p, struct blk_job *j)
{
	struct blk_job **tail = &p->pending;

	pthread_mutex_lock(&p->lock);
	while (*tail)
		tail = &(*tail)->next;
	j->next = NULL;
	*tail = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* Worker thread, device lock held: hand back what the I/O threads finished. */
static void blk_fd_ready(struct virtio_device *d, int fd)
{
	struct blk *b = d->priv;
	struct blk_pool *p = b->pool;
	uint16_t old[VIRTIO_MAX_QUEUES];
	uint32_t touched = 0, starved;
	struct blk_job *done;
	uint64_t v;

	if (!p || fd != p->done_fd)
		return;
	while (read(fd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&p->lock);
	done = p->done;
	p->done = NULL;
	starved = p->starved;
	p->starved = 0;
	pthread_mutex_unlock(&p->lock);
	while (done) {
		struct blk_job *j = done;
		struct virtq *vq = &d->vq[j->q];

		done = j->next;
		/* A job from before a reset belongs to rings the driver has given up. */
		if (j->gen == b->gen && vq->ready && !vq->broken) {
			if (!(touched & (1u << j->q)))
				old[j->q] = vq->used_idx;
			touched |= 1u << j->q;
			complete(vq, &j->chain, j->status, j->written);
		}
		job_put(p, j);
	}
	for (unsigned q = 0; q < d->nr_queues; q++) {
		if (touched & (1u << q))
			virtio_signal_used(d, q, old[q]);
		if (starved & (1u << q))
			virtio_notify_queue(d, q);	/* jobs are free again: pop the rest */
	}
}

/* Device reset (lock held): forget queued jobs, wait for those on the disk. */
static void blk_reset(struct virtio_device *d)
{
	struct blk *b = d->priv;
	struct blk_pool *p = b->pool;
	uint64_t v;

	b->gen++;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->busy)
		pthread_cond_wait(&p->idle, &p->lock);
	struct blk_job *lists[2] = { p->pending, p->done };

	p->pending = p->done = NULL;
	for (unsigned i = 0; i < 2; i++)
		while (lists[i]) {
			struct blk_job *j = lists[i];

			lists[i] = j->next;
			j->next = p->free;
			p->free = j;
		}
	p->starved = 0;
	pthread_mutex_unlock(&p->lock);
	while (read(p->done_fd, &v, sizeof(v)) > 0)
		;
}

static void pool_destroy(struct blk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->done_fd >= 0)
		close(p->done_fd);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int pool_create(struct blk *b)
{
	struct blk_pool *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (unsigned i = 0; i < IO_JOBS; i++) {
		p->jobs[i].next = p->free;
		p->free = &p->jobs[i];
	}
	b->pool = p;
	p->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->done_fd < 0) {
		r = -errno;
		goto fail;
	}
	for (; p->nr_threads < IO_THREADS; p->nr_threads++) {
		r = pthread_create(&p->threads[p->nr_threads], NULL, io_thread, b);
		if (r) {
			r = -r;
			goto fail;
		}
	}
	return 0;
fail:
	log_err("virtio-blk: cannot start its I/O threads: %s", strerror(-r));
	pool_destroy(p);
	b->pool = NULL;
	return r;
}

static void blk_notify(struct virtio_device *d, unsigned q)
{
	struct blk *b = d->priv;
	struct virtq *vq = &d->vq[q];
	uint16_t old = vq->used_idx;
	int r;

	for (;;) {
		struct blk_job *j = NULL;
		struct virtq_chain *c = &b->chain;
		struct virtio_blk_outhdr hdr;
		uint32_t written = 0;

		if (b->pool) {
			j = job_get(b->pool);
			if (!j) {
				/* All jobs out: the next completion pops the rest. */
				pthread_mutex_lock(&b->pool->lock);
				b->pool->starved |= 1u << q;
				pthread_mutex_unlock(&b->pool->lock);
				r = 0;
				break;
			}
			c = &j->chain;
		}
		r = virtq_pop(vq, d->mem, c);
		if (r <= 0) {
			if (j)
				job_put(b->pool, j);
			break;
		}
		/* A header to read and a status byte to write, at least. */
		if (c->out_len < REQ_HDR || c->in_len < 1) {
			if (j)
				job_put(b->pool, j);
			virtio_needs_reset(d, "request without header or status byte");
			return;
		}
		iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
		/*
		 * A lone request (nothing else queued or in flight) runs right here:
		 * the hand-over to an I/O thread would only add two wake-ups.
		 */
		if (j && (hdr.type == VIRTIO_BLK_T_IN || hdr.type == VIRTIO_BLK_T_OUT) &&
		    (virtq_has_avail(vq) || pool_active(b->pool))) {
			j->q = q;
			j->gen = b->gen;
			j->sector = hdr.sector;
			j->write = hdr.type == VIRTIO_BLK_T_OUT;
			job_submit(b->pool, j);
			continue;
		}
		uint8_t status = handle(b, c, &written);

		complete(vq, c, status, written);
		if (j)
			job_put(b->pool, j);
	}
	if (r < 0)
		virtio_needs_reset(d, "malformed descriptor chain");
	virtio_signal_used(d, q, old);
}

static void blk_config_read(struct virtio_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct blk *b = d->priv;

	virtio_config_copy(&b->config, sizeof(b->config), off, data, len);
}

static void blk_destroy(struct virtio_device *d)
{
	struct blk *b = d->priv;

	if (b->pool)
		pool_destroy(b->pool);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

static const struct virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.queue_notify = blk_notify,
	.fd_ready = blk_fd_ready,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

int virtio_blk_init(struct virtio_device *d, const struct disk_config *dc,
		    const struct guest_mem *mem)
{
	struct blk *b = calloc(1, sizeof(*b));
	uint64_t features;
	struct stat st;
	int flags = (dc->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, r;

	if (!b)
		return -ENOMEM;
	b->cfg = *dc;
	b->fd = open(dc->path, flags | (dc->cache_none ? O_DIRECT : 0));
	if (b->fd < 0 && dc->cache_none && errno == EINVAL) {
		log_err("--disk %s: cache=none needs O_DIRECT, which this file system refuses",
			dc->path);
		free(b);
		return -EINVAL;
	}
	if (b->fd < 0) {
		r = -errno;
		log_err("--disk %s: %s", dc->path, strerror(-r));
		free(b);
		return r;
	}
	if (fstat(b->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		log_err("--disk %s: not a regular file or block device", dc->path);
		close(b->fd);
		free(b);
		return -EINVAL;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(b->fd, 0, SEEK_END);

		st.st_size = end < 0 ? 0 : end;
	}
	if (st.st_size < (off_t)SECTOR) {
		log_err("--disk %s: the image is smaller than one 512-byte sector", dc->path);
		close(b->fd);
		free(b);
		return -EINVAL;
	}
	b->capacity = (uint64_t)st.st_size / SECTOR;
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
	r = virtio_device_init(d, "virtio-blk", VIRTIO_ID_BLOCK, dc->num_queues, features,
			       &blk_ops, b, mem);
	if (r) {
		close(b->fd);
		free(b);
		return r;
	}
	/* From here virtio_device_destroy() releases b through blk_destroy(). */
	if (dc->cache_none) {
		r = pool_create(b);
		if (!r)
			r = virtio_watch_fd(d, b->pool->done_fd);
		/* The I/O threads need the CPUs more than a spinning worker does. */
		d->no_poll = true;
		if (r)
			virtio_device_destroy(d);	/* the caller only cleans up after success */
	}
	return r;
}

int disk_config_parse(const char *arg, struct disk_config *dc, char *err, size_t errlen)
{
	char buf[4096], *save = NULL, *opt;
	size_t len = strlen(arg);

	memset(dc, 0, sizeof(*dc));
	dc->num_queues = 1;
	if (!len || len >= sizeof(buf) || arg[0] == ',') {
		snprintf(err, errlen, "--disk '%s': expected PATH[,readonly][,cache=none|writeback]"
			 "[,serial=ID][,num-queues=N]", arg);
		return -EINVAL;
	}
	memcpy(buf, arg, len + 1);
	opt = strtok_r(buf, ",", &save);
	snprintf(dc->path, sizeof(dc->path), "%s", opt);
	while ((opt = strtok_r(NULL, ",", &save))) {
		char *end;

		if (!strcmp(opt, "readonly") || !strcmp(opt, "ro")) {
			dc->readonly = true;
		} else if (!strcmp(opt, "cache=none")) {
			dc->cache_none = true;
		} else if (!strcmp(opt, "cache=writeback")) {
			dc->cache_none = false;
		} else if (!strncmp(opt, "serial=", 7)) {
			if (strlen(opt + 7) > VIRTIO_BLK_ID_BYTES) {
				snprintf(err, errlen, "--disk: serial '%s' is longer than %d bytes",
					 opt + 7, VIRTIO_BLK_ID_BYTES);
				return -EINVAL;
			}
			snprintf(dc->serial, sizeof(dc->serial), "%s", opt + 7);
		} else if (!strncmp(opt, "num-queues=", 11)) {
			unsigned long n = strtoul(opt + 11, &end, 10);

			if (!opt[11] || *end || n < 1 || n > VIRTIO_MAX_QUEUES) {
				snprintf(err, errlen, "--disk: num-queues '%s': expected 1 to %d",
					 opt + 11, VIRTIO_MAX_QUEUES);
				return -EINVAL;
			}
			dc->num_queues = (unsigned)n;
		} else {
			snprintf(err, errlen, "--disk: unknown option '%s' (readonly, cache=none|"
				 "writeback, serial=ID, num-queues=N)", opt);
			return -EINVAL;
		}
	}
	return 0;
}
