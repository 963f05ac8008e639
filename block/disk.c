/*
 * A disk image (a regular file or a block device) and the synchronous
 * execution of one request on it: preadv/pwritev straight into the caller's
 * buffers, fdatasync for FLUSH (so that what was reported flushed survives a
 * kill of kvmrun), fallocate for DISCARD and WRITE_ZEROES.  With O_DIRECT,
 * buffers the kernel would refuse go through an aligned copy (the bounce).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/block.h"
#include "kvmrun/host_file.h"
#include "kvmrun/log.h"

int block_disk_open(struct block_disk *disk, const struct block_params *p)
{
	int flags = (p->readonly ? O_RDONLY : O_RDWR) | (p->direct ? O_DIRECT : 0);
	struct stat st;

	memset(disk, 0, sizeof(*disk));
	disk->readonly = p->readonly;
	disk->direct = p->direct;
	disk->name = p->name;
	disk->block_size = BLOCK_SECTOR;
	disk->align = p->direct ? BLOCK_DIRECT_ALIGN : 1;
	/* Never blocks (a FIFO opened for reading would wait for a writer for ever). */
	disk->fd = host_file_open(p->path, flags, 0, HOST_FILE_REG | HOST_FILE_BLK, &st);
	if (disk->fd == -EINVAL && p->direct) {
		log_err("--disk %s: cache=none needs O_DIRECT, which this file system refuses",
			p->path);
		return -EINVAL;
	}
	if (disk->fd == EFTYPE_HOST) {
		log_err("--disk %s: not a regular file or block device but %s", p->path,
			host_file_type(st.st_mode));
		disk->fd = -1;
		return -EINVAL;
	}
	if (disk->fd < 0) {
		int r = disk->fd;

		log_err("--disk %s: %s", p->path, strerror(-r));
		disk->fd = -1;
		return r;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(disk->fd, 0, SEEK_END);

		st.st_size = end < 0 ? 0 : end;
	}
	if (st.st_size < (off_t)BLOCK_SECTOR) {
		log_err("--disk %s: the image is smaller than one 512-byte sector", p->path);
		block_disk_close(disk);
		return -EINVAL;
	}
	disk->size = (uint64_t)st.st_size;
	return 0;
}

void block_disk_close(struct block_disk *disk)
{
	if (disk->fd >= 0)
		close(disk->fd);
	disk->fd = -1;
}

static bool in_disk(const struct block_disk *disk, uint64_t offset, uint64_t len)
{
	return offset <= disk->size && len <= disk->size - offset;
}

uint8_t *block_bounce_alloc(void)
{
	void *p;

	return posix_memalign(&p, 4096, BLOCK_BOUNCE_SIZE) ? NULL : p;
}

void block_disk_cancel(struct block_disk *disk)
{
	atomic_store(&disk->cancel, true);
}

static bool cancelled(struct block_disk *disk)
{
	return atomic_load_explicit(&disk->cancel, memory_order_relaxed);
}

/* Bytes [skip, skip + len) of an iovec array to or from a flat buffer. */
static void iov_part(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf, size_t len,
		     bool to_iov)
{
	for (unsigned i = 0; i < n && len; i++) {
		size_t seg = iov[i].iov_len, take;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		take = seg - skip < len ? seg - skip : len;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + skip, buf, take);
		else
			memcpy(buf, (uint8_t *)iov[i].iov_base + skip, take);
		buf += take;
		len -= take;
		skip = 0;
	}
}

/*
 * O_DIRECT wants aligned memory; the caller's buffers need not be: through
 * the thread's aligned bounce buffer, a piece at a time.
 */
static int bounce_rw(struct block_disk *disk, const struct block_req *req, bool write,
		     uint8_t *bounce)
{
	for (size_t done = 0; done < req->len;) {
		size_t n = req->len - done < BLOCK_BOUNCE_SIZE ? req->len - done : BLOCK_BOUNCE_SIZE;
		off_t off = (off_t)(req->offset + done);

		if (cancelled(disk))
			return -ECANCELED;
		if (write) {
			iov_part(req->iov, req->iovcnt, done, bounce, n, false);
			if (pwrite(disk->fd, bounce, n, off) != (ssize_t)n)
				return -EIO;
		} else {
			if (pread(disk->fd, bounce, n, off) != (ssize_t)n)
				return -EIO;
			iov_part(req->iov, req->iovcnt, done, bounce, n, true);
		}
		done += n;
	}
	return 0;
}

static bool direct_ok(const struct block_disk *disk, const struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)v[i].iov_base % disk->align || v[i].iov_len % disk->align)
			return false;
	return true;
}

static int disk_rw(struct block_disk *disk, struct block_req *req, bool write, uint8_t *bounce,
		   size_t done)
{
	off_t off = (off_t)req->offset;
	size_t len = req->len;

	if (write && disk->readonly)
		return -EROFS;
	if (!in_disk(disk, req->offset, len))
		return -EINVAL;
	/* O_DIRECT takes aligned buffers as they are; others go through an aligned copy. */
	if (disk->direct && !direct_ok(disk, req->iov, req->iovcnt))
		return bounce_rw(disk, req, write, bounce);
	while (done < len) {
		struct iovec *v = req->iov;
		unsigned vn = req->iovcnt;
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
		r = write ? pwritev(disk->fd, v, (int)vn, off + (off_t)done) :
			    preadv(disk->fd, v, (int)vn, off + (off_t)done);
		v->iov_base = (uint8_t *)v->iov_base - skip;
		v->iov_len += skip;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL && disk->direct && !done)
			return bounce_rw(disk, req, write, bounce);	/* stricter alignment */
		if (r <= 0) {
			log_debug("%s: %s at sector %llu: %s", disk->name, write ? "write" : "read",
				  (unsigned long long)(req->offset / BLOCK_SECTOR),
				  r ? strerror(errno) : "end of file");
			return -EIO;
		}
		done += (size_t)r;
	}
	return 0;
}

/*
 * No fallocate support (tmpfs has no ZERO_RANGE): write the zeroes from the
 * aligned bounce buffer, which O_DIRECT takes, a piece at a time.
 */
static int write_zeroes(struct block_disk *disk, uint64_t offset, uint64_t len, uint8_t *bounce)
{
	memset(bounce, 0, BLOCK_BOUNCE_SIZE);
	for (uint64_t o = 0; o < len;) {
		size_t l = len - o < BLOCK_BOUNCE_SIZE ? (size_t)(len - o) : BLOCK_BOUNCE_SIZE;
		ssize_t w;

		if (cancelled(disk))
			return -ECANCELED;
		w = pwrite(disk->fd, bounce, l, (off_t)(offset + o));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		o += (uint64_t)w;
	}
	return 0;
}

static int disk_deallocate(struct block_disk *disk, const struct block_req *req, bool zeroes,
			   uint8_t *bounce)
{
	if (disk->readonly)
		return -EROFS;
	for (unsigned i = 0; i < req->nr_ranges; i++) {
		const struct block_range *g = &req->ranges[i];
		int mode, r;

		if (!in_disk(disk, g->offset, g->len))
			return -EINVAL;
		if (!g->len)
			continue;
		/* Punching a hole reads back as zeroes too; ZERO_RANGE keeps the blocks. */
		mode = !zeroes || g->unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
					     FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		if (fallocate(disk->fd, mode, (off_t)g->offset, (off_t)g->len) < 0) {
			if (!zeroes)
				continue;	/* discard is only a hint */
			r = write_zeroes(disk, g->offset, g->len, bounce);
			if (r)
				return r == -ECANCELED ? r : -EIO;
		}
	}
	return 0;
}

int block_disk_run(struct block_disk *disk, struct block_req *req, uint8_t *bounce)
{
	if (cancelled(disk))
		return -ECANCELED;
	switch (req->op) {
	case BLOCK_OP_READ:
		return disk_rw(disk, req, false, bounce, 0);
	case BLOCK_OP_WRITE:
		return disk_rw(disk, req, true, bounce, 0);
	case BLOCK_OP_FLUSH:
		return fdatasync(disk->fd) ? -EIO : 0;
	case BLOCK_OP_DISCARD:
		return disk_deallocate(disk, req, false, bounce);
	case BLOCK_OP_WRITE_ZEROES:
		return disk_deallocate(disk, req, true, bounce);
	}
	return -EINVAL;
}

int block_disk_finish(struct block_disk *disk, struct block_req *req, size_t done, uint8_t *bounce)
{
	if (cancelled(disk))
		return -ECANCELED;
	if (done >= req->len)
		return 0;
	return disk_rw(disk, req, req->op == BLOCK_OP_WRITE, bounce, done);
}
