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

/* Between an iovec array and a flat buffer; to_iov picks the direction. */
static void iov_flat(const struct iovec *iov, unsigned n, uint8_t *buf, size_t len, bool to_iov)
{
	for (unsigned i = 0; i < n && len; i++) {
		size_t take = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (to_iov)
			memcpy(iov[i].iov_base, buf, take);
		else
			memcpy(buf, iov[i].iov_base, take);
		buf += take;
		len -= take;
	}
}

/* O_DIRECT wants aligned memory; the caller's buffers need not be: go through an aligned copy. */
static int bounce_rw(struct block_disk *disk, const struct block_req *req, bool write)
{
	int r = 0;
	void *buf;

	if (!req->len)
		return 0;
	if (posix_memalign(&buf, 4096, req->len))
		return -EIO;
	if (write) {
		iov_flat(req->iov, req->iovcnt, buf, req->len, false);
		if (pwrite(disk->fd, buf, req->len, (off_t)req->offset) != (ssize_t)req->len)
			r = -EIO;
	} else if (pread(disk->fd, buf, req->len, (off_t)req->offset) != (ssize_t)req->len) {
		r = -EIO;
	} else {
		iov_flat(req->iov, req->iovcnt, buf, req->len, true);
	}
	free(buf);
	return r;
}

static bool direct_ok(const struct block_disk *disk, const struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if ((uintptr_t)v[i].iov_base % disk->align || v[i].iov_len % disk->align)
			return false;
	return true;
}

static int disk_rw(struct block_disk *disk, struct block_req *req, bool write)
{
	off_t off = (off_t)req->offset;
	size_t done = 0, len = req->len;

	if (write && disk->readonly)
		return -EROFS;
	if (!in_disk(disk, req->offset, len))
		return -EINVAL;
	/* O_DIRECT takes aligned buffers as they are; others go through an aligned copy. */
	if (disk->direct && !direct_ok(disk, req->iov, req->iovcnt))
		return bounce_rw(disk, req, write);
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
			return bounce_rw(disk, req, write);	/* stricter alignment */
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

/* No fallocate support: write the zeroes. */
static int write_zeroes(struct block_disk *disk, uint64_t offset, uint64_t len)
{
	static const uint8_t zero[4096];

	for (uint64_t o = 0; o < len; o += sizeof(zero)) {
		size_t l = len - o < sizeof(zero) ? (size_t)(len - o) : sizeof(zero);

		if (pwrite(disk->fd, zero, l, (off_t)(offset + o)) != (ssize_t)l)
			return -EIO;
	}
	return 0;
}

static int disk_deallocate(struct block_disk *disk, const struct block_req *req, bool zeroes)
{
	if (disk->readonly)
		return -EROFS;
	for (unsigned i = 0; i < req->nr_ranges; i++) {
		const struct block_range *g = &req->ranges[i];
		int mode;

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
			if (write_zeroes(disk, g->offset, g->len))
				return -EIO;
		}
	}
	return 0;
}

int block_disk_run(struct block_disk *disk, struct block_req *req)
{
	switch (req->op) {
	case BLOCK_OP_READ:
		return disk_rw(disk, req, false);
	case BLOCK_OP_WRITE:
		return disk_rw(disk, req, true);
	case BLOCK_OP_FLUSH:
		return fdatasync(disk->fd) ? -EIO : 0;
	case BLOCK_OP_DISCARD:
		return disk_deallocate(disk, req, false);
	case BLOCK_OP_WRITE_ZEROES:
		return disk_deallocate(disk, req, true);
	}
	return -EINVAL;
}
