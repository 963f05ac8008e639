/*
 * virtio-fs (device id 26) driven as a FUSE client, in CPL3 (cpl=0: in CPL0).
 * Queue 0 is the hiprio queue (FORGET only), queue 1 the first request queue;
 * every request is one chain: fuse_in_header and its arguments readable, then
 * fuse_out_header and the reply writable (virtio 1.2, 5.11.6).
 *
 * fs=check (default): the config tag must equal fs_tag=TAG (when given).
 *   INIT (7.31, reply major 7), LOOKUP hello.txt in the root, GETATTR, OPEN,
 *   READ (whole, then from offset 6, then at the end of file), print
 *     virtio-fs: read 'CONTENT'
 *   (non-printable bytes as \xNN), RELEASE; CREATE fromguest.txt (0644; when
 *   it exists: OPEN with O_TRUNC, reported as such), WRITE "written by the
 *   guest", READ it back, FLUSH, RELEASE, GETATTR and LOOKUP it again;
 *   OPENDIR + READDIR the root, one line per name
 *     virtio-fs: entry NAME
 *   (hello.txt and fromguest.txt must be among them), RELEASEDIR; LOOKUP of a
 *   missing name must fail with ENOENT, an unknown opcode with ENOSYS; FORGET
 *   on the hiprio queue.  With VIRTIO_RING_F_INDIRECT_DESC every other request
 *   goes through an indirect table.  Any failure prints one FAIL line.
 * fs=check fs_readonly=1: a read-only share (kvmrun --share DIR,readonly):
 *   the same reads, but CREATE of fromguest.txt must fail with EROFS
 *     virtio-fs: CREATE fromguest.txt refused: EROFS
 *   and READDIR need not list it.
 * fs=bench: READ the file fs_file=NAME (default bench.bin) from start to end
 *   in requests of req_kb=N KiB (default 128), then create bench-write.bin and
 *   WRITE as many bytes (or write_mb=N MiB) the same way (FLUSH and RELEASE
 *   after the clock stops), then iters=N (default 1000) LOOKUP+GETATTR pairs
 *   on fs_file.  One line per phase, timed with rdtsc at tsc_khz=N (from the
 *   host; else the CPUID guess of guests/lib/virtio.c, flagged "guessed"):
 *     virtio-fs bench: seqread reqs=N bytes=N req_bytes=N ticks=N us=N tsc_khz=N mib_s=X.Y
 *     virtio-fs bench: seqwrite reqs=N bytes=N req_bytes=N ticks=N us=N tsc_khz=N mib_s=X.Y
 *     virtio-fs bench: meta pairs=N reqs=N ticks=N us=N tsc_khz=N pairs_s=N
 *
 * Also: virtio_mmio.device=... (one per transport), fs_index=N (use the N-th
 * virtio-fs device, from 0), virtio_timeout=MS, cpl=0.
 */
#include <asm-generic/errno-base.h>
#include <asm-generic/errno.h>
#include <asm-generic/fcntl.h>
#include <linux/fuse.h>
#include <linux/stat.h>
#include "virtio.h"

/* Config space (5.11.4): char tag[36], le32 num_request_queues */
#define FS_CFG_TAG		0
#define FS_TAG_BYTES		36
#define FS_CFG_NUM_QUEUES	36

#define FS_HIPRIO_QUEUE		0
#define FS_REQUEST_QUEUE	1

/* INIT as a 7.31 client: its fuse_init_in is the 16-byte one (64 bytes from 7.36 on). */
#define FS_MINOR		31
#define FS_INIT_IN_BYTES	16

#define HELLO_NAME		"hello.txt"
#define NEW_NAME		"fromguest.txt"
#define NEW_TEXT		"written by the guest"
#define MISSING_NAME		"no-such-file.txt"
#define BENCH_WRITE_NAME	"bench-write.bin"
#define BENCH_MAX_REQ		(256 * 1024)
#define FUSE_DEFAULT_PAGES	32	/* what a server allows without FUSE_MAX_PAGES */

static struct virtio_dev dev;
static struct virtq reqq, hiprioq;
static struct fuse_in_header inh;
static struct fuse_out_header outh;
static uint64_t next_unique = 1;
static unsigned requests, indirect_requests;
static bool alternate_indirect;	/* fs=check: every other request through an indirect table */
static uint32_t max_write, max_read;
static uint8_t buf[4096] __attribute__((aligned(4096)));
static uint8_t bench_buf[BENCH_MAX_REQ] __attribute__((aligned(4096)));
static uint8_t user_stack[65536] __attribute__((aligned(16)));

static const char *op_name(uint32_t op)
{
	switch (op) {
	case FUSE_INIT: return "INIT";
	case FUSE_LOOKUP: return "LOOKUP";
	case FUSE_FORGET: return "FORGET";
	case FUSE_GETATTR: return "GETATTR";
	case FUSE_OPEN: return "OPEN";
	case FUSE_READ: return "READ";
	case FUSE_WRITE: return "WRITE";
	case FUSE_FLUSH: return "FLUSH";
	case FUSE_RELEASE: return "RELEASE";
	case FUSE_CREATE: return "CREATE";
	case FUSE_OPENDIR: return "OPENDIR";
	case FUSE_READDIR: return "READDIR";
	case FUSE_RELEASEDIR: return "RELEASEDIR";
	default: return "unknown opcode";
	}
}

static const char *err_name(int err)
{
	switch (-err) {
	case 0: return "OK";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	case EPROTO: return "EPROTO";
	default: return "?";
	}
}

/* File modes in octal (the guests' printf has no %o); four may be in use in one line. */
static const char *oct(uint32_t v)
{
	static char bufs[4][16];
	static unsigned next;
	char *b = bufs[next++ % 4], tmp[16];
	unsigned n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + (v & 7));
		v >>= 3;
	} while (v);
	b[i++] = '0';
	while (n)
		b[i++] = tmp[--n];
	b[i] = 0;
	return b;
}

/*
 * One FUSE request on q: the in header, up to two arguments (NULL/0 to leave
 * out), then the out header and one reply buffer.  Checks the reply's header
 * against the request and the used length; returns its error (0 or -errno)
 * and the reply's payload length in *got (when not NULL).
 */
static int fs_call(struct virtq *q, uint32_t op, uint64_t nodeid, const void *a1, uint32_t l1,
		   const void *a2, uint32_t l2, void *reply, uint32_t rlen, uint32_t *got)
{
	struct virtq_buf b[5];
	unsigned n = 0;
	uint32_t used;

	inh = (struct fuse_in_header){ .len = (uint32_t)sizeof(inh) + l1 + l2, .opcode = op,
				       .unique = next_unique++, .nodeid = nodeid };
	memset(&outh, 0xff, sizeof(outh));
	b[n++] = (struct virtq_buf){ &inh, sizeof(inh), false };
	if (l1)
		b[n++] = (struct virtq_buf){ (void *)a1, l1, false };
	if (l2)
		b[n++] = (struct virtq_buf){ (void *)a2, l2, false };
	b[n++] = (struct virtq_buf){ &outh, sizeof(outh), true };
	if (rlen)
		b[n++] = (struct virtq_buf){ reply, rlen, true };
	if (alternate_indirect && q->indirect && (inh.unique & 1))
		indirect_requests++;
	used = virtq_xfer(q, b, n, alternate_indirect && (inh.unique & 1));
	requests++;
	check(used >= sizeof(outh), "virtio-fs: %s: the device wrote %u bytes, less than a fuse_out_header",
	      op_name(op), used);
	check(outh.unique == inh.unique, "virtio-fs: %s: reply for unique %lu, expected %lu", op_name(op),
	      (uint64_t)outh.unique, (uint64_t)inh.unique);
	check(outh.len == used, "virtio-fs: %s: reply header says %u bytes, the used ring %u", op_name(op),
	      outh.len, used);
	check(outh.len <= sizeof(outh) + rlen, "virtio-fs: %s: reply of %u bytes exceeds the %u-byte buffer",
	      op_name(op), outh.len, (uint32_t)sizeof(outh) + rlen);
	check(outh.error <= 0 && outh.error > -4096, "virtio-fs: %s: reply error %d is not 0 or -errno",
	      op_name(op), outh.error);
	check(!outh.error || outh.len == sizeof(outh), "virtio-fs: %s: error %d with a %u-byte reply",
	      op_name(op), outh.error, outh.len);
	if (got)
		*got = outh.len - (uint32_t)sizeof(outh);
	return outh.error;
}

static void expect_ok(int err, uint32_t op, const char *what)
{
	check(!err, "virtio-fs: %s %s: error %d (%s)", op_name(op), what, err, err_name(err));
}

static void fs_init(void)
{
	struct fuse_init_in in = { .major = FUSE_KERNEL_VERSION, .minor = FS_MINOR,
				   .max_readahead = BENCH_MAX_REQ, .flags = FUSE_MAX_PAGES | FUSE_ATOMIC_O_TRUNC };
	static struct fuse_init_out out;
	uint32_t got;

	expect_ok(fs_call(&reqq, FUSE_INIT, 0, &in, FS_INIT_IN_BYTES, NULL, 0, &out, sizeof(out), &got),
		  FUSE_INIT, "7.31");
	check(got >= FUSE_COMPAT_22_INIT_OUT_SIZE, "virtio-fs: INIT reply of %u bytes is too short", got);
	check(out.major == FUSE_KERNEL_VERSION, "virtio-fs: INIT: server speaks FUSE %u.%u, expected major %u",
	      out.major, out.minor, FUSE_KERNEL_VERSION);
	max_write = out.max_write;
	max_read = (out.flags & FUSE_MAX_PAGES) && out.max_pages ? out.max_pages * 4096u : FUSE_DEFAULT_PAGES * 4096u;
	printf("virtio-fs: INIT: FUSE %u.%u, flags 0x%x, max_write %u, max_pages %u\n", out.major, out.minor,
	       out.flags, out.max_write, (out.flags & FUSE_MAX_PAGES) ? out.max_pages : 0);
	check(max_write >= 4096, "virtio-fs: INIT: max_write %u is below 4096", max_write);
}

static int fs_lookup(uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	return fs_call(&reqq, FUSE_LOOKUP, parent, name, (uint32_t)strlen(name) + 1, NULL, 0, e, sizeof(*e), NULL);
}

static int fs_getattr(uint64_t nodeid, struct fuse_attr_out *a)
{
	struct fuse_getattr_in in = { 0 };

	return fs_call(&reqq, FUSE_GETATTR, nodeid, &in, sizeof(in), NULL, 0, a, sizeof(*a), NULL);
}

/* OPEN or OPENDIR; the file handle in *fh. */
static void fs_open(uint32_t op, uint64_t nodeid, uint32_t flags, uint64_t *fh, const char *what)
{
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out out;

	expect_ok(fs_call(&reqq, op, nodeid, &in, sizeof(in), NULL, 0, &out, sizeof(out), NULL), op, what);
	*fh = out.fh;
}

/* READ or READDIR of up to size bytes at off; the byte count read. */
static uint32_t fs_read(uint32_t op, uint64_t nodeid, uint64_t fh, uint64_t off, void *data, uint32_t size,
			const char *what)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size, .flags = O_RDONLY };
	uint32_t got;

	expect_ok(fs_call(&reqq, op, nodeid, &in, sizeof(in), NULL, 0, data, size, &got), op, what);
	return got;
}

static void fs_write(uint64_t nodeid, uint64_t fh, uint64_t off, const void *data, uint32_t size, const char *what)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = size, .flags = O_RDWR };
	struct fuse_write_out out;
	uint32_t got;

	expect_ok(fs_call(&reqq, FUSE_WRITE, nodeid, &in, sizeof(in), data, size, &out, sizeof(out), &got),
		  FUSE_WRITE, what);
	check(got == sizeof(out), "virtio-fs: WRITE %s: reply of %u bytes, expected %u", what, got,
	      (uint32_t)sizeof(out));
	check(out.size == size, "virtio-fs: WRITE %s: %u of %u bytes written", what, out.size, size);
}

static void fs_flush(uint64_t nodeid, uint64_t fh, const char *what)
{
	struct fuse_flush_in in = { .fh = fh };

	expect_ok(fs_call(&reqq, FUSE_FLUSH, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, NULL), FUSE_FLUSH, what);
}

/* RELEASE or RELEASEDIR */
static void fs_release(uint32_t op, uint64_t nodeid, uint64_t fh, uint32_t flags, const char *what)
{
	struct fuse_release_in in = { .fh = fh, .flags = flags };

	expect_ok(fs_call(&reqq, op, nodeid, &in, sizeof(in), NULL, 0, NULL, 0, NULL), op, what);
}

struct create_reply {
	struct fuse_entry_out entry;
	struct fuse_open_out open;
};

static void fs_create(uint64_t parent, const char *name, uint32_t flags, uint32_t mode, struct create_reply *r)
{
	struct fuse_create_in in = { .flags = flags, .mode = mode, .umask = 022 };
	uint32_t got;

	expect_ok(fs_call(&reqq, FUSE_CREATE, parent, &in, sizeof(in), name, (uint32_t)strlen(name) + 1, r,
			  sizeof(*r), &got), FUSE_CREATE, name);
	check(got == sizeof(*r), "virtio-fs: CREATE %s: reply of %u bytes, expected %u", name, got,
	      (uint32_t)sizeof(*r));
	check(r->entry.nodeid, "virtio-fs: CREATE %s: node id 0", name);
}

/*
 * name in the root opened for writing and empty: OPEN with O_TRUNC when LOOKUP
 * finds it, else CREATE, as Linux does (virtiofsd 7.2 aborts on a CREATE of a
 * name that exists).  Either way the node holds one lookup reference.  Returns
 * true when it created the file.
 */
static bool fs_create_trunc(const char *name, uint32_t flags, struct create_reply *r)
{
	int err = fs_lookup(FUSE_ROOT_ID, name, &r->entry);

	if (err == -ENOENT) {
		fs_create(FUSE_ROOT_ID, name, flags | O_CREAT | O_TRUNC, S_IFREG | 0644, r);
		return true;
	}
	expect_ok(err, FUSE_LOOKUP, name);
	check(S_ISREG(r->entry.attr.mode), "virtio-fs: %s exists and is not a regular file", name);
	fs_open(FUSE_OPEN, r->entry.nodeid, flags | O_TRUNC, &r->open.fh, name);
	return false;
}

/* FORGET has no reply: a chain of readable buffers only, on the hiprio queue. */
static void fs_forget(uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };
	struct virtq_buf b[2] = { { &inh, sizeof(inh), false }, { &in, sizeof(in), false } };
	uint32_t used;

	inh = (struct fuse_in_header){ .len = sizeof(inh) + sizeof(in), .opcode = FUSE_FORGET,
				       .unique = next_unique++, .nodeid = nodeid };
	used = virtq_xfer(&hiprioq, b, 2, false);
	requests++;
	check(used == 0, "virtio-fs: FORGET: the device wrote %u bytes into a request without a reply", used);
}

/* ---- check ---- */

static void print_content(const char *label, const uint8_t *p, uint32_t n)
{
	printf("virtio-fs: %s '", label);
	for (uint32_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			printf("%c", p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	printf("'\n");
}

static void check_tag(void)
{
	char tag[FS_TAG_BYTES + 1], want[64];
	uint32_t nq = virtio_config32(&dev, FS_CFG_NUM_QUEUES);

	virtio_config_read(&dev, FS_CFG_TAG, tag, FS_TAG_BYTES);
	tag[FS_TAG_BYTES] = 0;	/* a 36-byte tag has no NUL of its own */
	for (unsigned i = 0; tag[i]; i++)
		if (tag[i] < 0x20 || tag[i] > 0x7e)
			tag[i] = '?';
	printf("virtio-fs: tag '%s', %u request queue(s)\n", tag, nq);
	check(nq >= 1, "virtio-fs: num_request_queues is 0");
	if (cmdline_get("fs_tag", want, sizeof(want)))
		check(!strcmp(tag, want), "virtio-fs: tag '%s', expected '%s'", tag, want);
}

static void check_hello(uint64_t *hello_id)
{
	static uint8_t part[sizeof(buf)];
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	uint64_t fh, size;
	uint32_t got;

	expect_ok(fs_lookup(FUSE_ROOT_ID, HELLO_NAME, &e), FUSE_LOOKUP, HELLO_NAME);
	check(e.nodeid && e.nodeid != FUSE_ROOT_ID, "virtio-fs: LOOKUP " HELLO_NAME ": node id %lu", (uint64_t)e.nodeid);
	check(S_ISREG(e.attr.mode), "virtio-fs: " HELLO_NAME " has mode %s, not a regular file", oct(e.attr.mode));
	expect_ok(fs_getattr(e.nodeid, &a), FUSE_GETATTR, HELLO_NAME);
	check(a.attr.ino == e.attr.ino && a.attr.size == e.attr.size && a.attr.mode == e.attr.mode,
	      "virtio-fs: GETATTR " HELLO_NAME ": ino %lu size %lu mode %s, LOOKUP said ino %lu size %lu mode %s",
	      (uint64_t)a.attr.ino, (uint64_t)a.attr.size, oct(a.attr.mode), (uint64_t)e.attr.ino,
	      (uint64_t)e.attr.size, oct(e.attr.mode));
	size = a.attr.size;
	check(size < sizeof(buf), "virtio-fs: " HELLO_NAME " has %lu bytes, at most %u expected", size,
	      (uint32_t)sizeof(buf) - 1);
	printf("virtio-fs: " HELLO_NAME ": node %lu, ino %lu, %lu bytes, mode %s\n", (uint64_t)e.nodeid,
	       (uint64_t)a.attr.ino, size, oct(a.attr.mode));

	fs_open(FUSE_OPEN, e.nodeid, O_RDONLY, &fh, HELLO_NAME);
	memset(buf, 0, sizeof(buf));
	got = fs_read(FUSE_READ, e.nodeid, fh, 0, buf, sizeof(buf), HELLO_NAME);
	check(got == size, "virtio-fs: READ " HELLO_NAME ": %u bytes, GETATTR said %lu", got, size);
	print_content("read", buf, got);
	if (size > 6) {
		memset(part, 0, sizeof(part));
		got = fs_read(FUSE_READ, e.nodeid, fh, 6, part, sizeof(part), HELLO_NAME " from offset 6");
		check(got == size - 6, "virtio-fs: READ " HELLO_NAME " from offset 6: %u bytes, expected %lu", got,
		      size - 6);
		for (uint32_t i = 0; i < got; i++)
			check(part[i] == buf[6 + i], "virtio-fs: READ from offset 6: byte %u differs", i);
	}
	got = fs_read(FUSE_READ, e.nodeid, fh, size, part, sizeof(part), HELLO_NAME " at its end");
	check(got == 0, "virtio-fs: READ at the end of " HELLO_NAME ": %u bytes, expected none", got);
	fs_release(FUSE_RELEASE, e.nodeid, fh, O_RDONLY, HELLO_NAME);
	*hello_id = e.nodeid;
}

static void check_create(uint64_t *new_id)
{
	static struct create_reply r;
	static const char text[] = NEW_TEXT;
	const uint32_t len = sizeof(text) - 1;
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	uint32_t got;

	bool created = fs_create_trunc(NEW_NAME, O_RDWR, &r);

	/* umask 022 leaves 0644 as it is. */
	check(!created || (S_ISREG(r.entry.attr.mode) && (r.entry.attr.mode & 0777) == 0644),
	      "virtio-fs: CREATE " NEW_NAME ": mode %s, expected %s", oct(r.entry.attr.mode), oct(S_IFREG | 0644));
	fs_write(r.entry.nodeid, r.open.fh, 0, text, len, NEW_NAME);
	memset(buf, 0, sizeof(buf));
	got = fs_read(FUSE_READ, r.entry.nodeid, r.open.fh, 0, buf, sizeof(buf), NEW_NAME);
	check(got == len, "virtio-fs: " NEW_NAME " reads back %u bytes, %u were written", got, len);
	for (uint32_t i = 0; i < len; i++)
		check(buf[i] == (uint8_t)text[i], "virtio-fs: " NEW_NAME " reads back 0x%x at byte %u, 0x%x was written",
		      buf[i], i, (uint8_t)text[i]);
	fs_flush(r.entry.nodeid, r.open.fh, NEW_NAME);
	fs_release(FUSE_RELEASE, r.entry.nodeid, r.open.fh, O_RDWR, NEW_NAME);
	expect_ok(fs_getattr(r.entry.nodeid, &a), FUSE_GETATTR, NEW_NAME);
	check(a.attr.size == len, "virtio-fs: " NEW_NAME " has %lu bytes after the write, expected %u",
	      (uint64_t)a.attr.size, len);
	expect_ok(fs_lookup(FUSE_ROOT_ID, NEW_NAME, &e), FUSE_LOOKUP, NEW_NAME);
	check(e.nodeid == r.entry.nodeid, "virtio-fs: LOOKUP " NEW_NAME ": node %lu, CREATE gave %lu",
	      (uint64_t)e.nodeid, (uint64_t)r.entry.nodeid);
	printf("virtio-fs: %s " NEW_NAME " (node %lu), wrote and read back %u bytes\n",
	       created ? "created" : "truncated the existing", (uint64_t)r.entry.nodeid, len);
	*new_id = r.entry.nodeid;
}

/* A read-only share: the CREATE must come back EROFS and leave nothing behind. */
static void check_create_refused(void)
{
	struct fuse_create_in in = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644, .umask = 022 };
	static struct create_reply r;
	struct fuse_entry_out e;
	int err;

	err = fs_call(&reqq, FUSE_CREATE, FUSE_ROOT_ID, &in, sizeof(in), NEW_NAME, sizeof(NEW_NAME), &r,
		      sizeof(r), NULL);
	check(err == -EROFS, "virtio-fs: CREATE " NEW_NAME " on a read-only share: error %d (%s), expected %d (EROFS)",
	      err, err_name(err), -EROFS);
	err = fs_lookup(FUSE_ROOT_ID, NEW_NAME, &e);
	check(err == -ENOENT, "virtio-fs: " NEW_NAME " exists after a refused CREATE (error %d)", err);
	printf("virtio-fs: CREATE " NEW_NAME " refused: EROFS\n");
}

static void check_readdir(bool readonly)
{
	uint64_t fh, off = 0;
	unsigned entries = 0, reads = 0;
	bool hello = false, created = readonly;

	fs_open(FUSE_OPENDIR, FUSE_ROOT_ID, O_RDONLY, &fh, "/");
	for (;;) {
		uint32_t got = fs_read(FUSE_READDIR, FUSE_ROOT_ID, fh, off, buf, sizeof(buf), "/");
		uint32_t pos = 0;

		check(++reads < 1000, "virtio-fs: READDIR does not end");
		if (!got)
			break;
		while (pos < got) {
			const struct fuse_dirent *d = (const void *)(buf + pos);
			char name[256];

			check(got - pos >= FUSE_NAME_OFFSET, "virtio-fs: READDIR: truncated entry at byte %u", pos);
			check(d->namelen >= 1 && d->namelen < sizeof(name) && FUSE_DIRENT_SIZE(d) <= got - pos,
			      "virtio-fs: READDIR: entry at byte %u: name length %u does not fit", pos, d->namelen);
			memcpy(name, d->name, d->namelen);
			name[d->namelen] = 0;
			printf("virtio-fs: entry %s\n", name);
			hello |= !strcmp(name, HELLO_NAME);
			created |= !strcmp(name, NEW_NAME);
			entries++;
			check(d->off != off, "virtio-fs: READDIR: entry %s does not advance the offset", name);
			off = d->off;
			pos += (uint32_t)FUSE_DIRENT_SIZE(d);
		}
	}
	fs_release(FUSE_RELEASEDIR, FUSE_ROOT_ID, fh, O_RDONLY, "/");
	check(hello && created, "virtio-fs: READDIR: %s%s missing from the root", hello ? "" : HELLO_NAME " ",
	      created ? "" : NEW_NAME);
	printf("virtio-fs: READDIR: %u entries in %u requests\n", entries, reads);
}

static void check_errors(void)
{
	struct fuse_entry_out e;
	int err = fs_lookup(FUSE_ROOT_ID, MISSING_NAME, &e);

	check(err == -ENOENT, "virtio-fs: LOOKUP " MISSING_NAME ": error %d (%s), expected %d (ENOENT)", err,
	      err_name(err), -ENOENT);
	printf("virtio-fs: LOOKUP " MISSING_NAME ": ENOENT\n");
	/* An opcode no FUSE version defines: a server answers ENOSYS. */
	err = fs_call(&reqq, 0xfff0, FUSE_ROOT_ID, NULL, 0, NULL, 0, NULL, 0, NULL);
	check(err == -ENOSYS, "virtio-fs: unknown opcode: error %d (%s), expected %d (ENOSYS)", err,
	      err_name(err), -ENOSYS);
	printf("virtio-fs: unknown opcode: ENOSYS\n");
}

static void fs_check(void)
{
	uint64_t hello_id, new_id;

	uint64_t readonly = 0;

	cmdline_u64("fs_readonly", &readonly);
	check_hello(&hello_id);
	if (readonly)
		check_create_refused();
	else
		check_create(&new_id);
	check_readdir(readonly);
	check_errors();
	/* Each successful LOOKUP or CREATE took one reference. */
	fs_forget(hello_id, 1);
	if (!readonly)
		fs_forget(new_id, 2);
	printf("virtio-fs: FORGET on the hiprio queue\n");
}

/* ---- bench ---- */

struct bench_clock {
	uint64_t tsc_khz;
	bool guessed;
};

static void bench_line(const struct bench_clock *c, const char *phase, uint64_t reqs, uint64_t bytes,
		       uint64_t req_bytes, uint64_t ticks)
{
	uint64_t us = ticks * 1000 / c->tsc_khz;
	uint64_t tenths = us ? bytes * 10 * 1000000 / us / 1048576 : 0;	/* MiB/s * 10 */

	printf("virtio-fs bench: %s reqs=%lu bytes=%lu req_bytes=%lu ticks=%lu us=%lu tsc_khz=%lu mib_s=%lu.%lu%s\n",
	       phase, reqs, bytes, req_bytes, ticks, us, c->tsc_khz, tenths / 10, tenths % 10,
	       c->guessed ? " (guessed)" : "");
}

static void bench_read(const struct bench_clock *c, const char *name, uint64_t nodeid, uint64_t size, uint32_t req,
		       uint64_t *bytes)
{
	uint64_t fh, off = 0, reqs = 0, t0;

	fs_open(FUSE_OPEN, nodeid, O_RDONLY, &fh, name);
	t0 = rdtsc();
	while (off < size) {
		uint32_t want = size - off < req ? (uint32_t)(size - off) : req;
		uint32_t got = fs_read(FUSE_READ, nodeid, fh, off, bench_buf, req, name);

		check(got == want, "virtio-fs: bench READ at %lu: %u bytes, expected %u", off, got, want);
		off += got;
		reqs++;
	}
	bench_line(c, "seqread", reqs, off, req, rdtsc() - t0);
	fs_release(FUSE_RELEASE, nodeid, fh, O_RDONLY, name);
	*bytes = off;
}

static void bench_write(const struct bench_clock *c, uint64_t size, uint32_t req)
{
	static struct create_reply r;
	uint64_t off = 0, reqs = 0, t0, ticks;

	for (uint32_t i = 0; i < req; i++)
		bench_buf[i] = (uint8_t)(i * 7 + 1);
	fs_create_trunc(BENCH_WRITE_NAME, O_WRONLY, &r);
	t0 = rdtsc();
	while (off < size) {
		uint32_t n = size - off < req ? (uint32_t)(size - off) : req;

		fs_write(r.entry.nodeid, r.open.fh, off, bench_buf, n, BENCH_WRITE_NAME);
		off += n;
		reqs++;
	}
	ticks = rdtsc() - t0;
	fs_flush(r.entry.nodeid, r.open.fh, BENCH_WRITE_NAME);
	fs_release(FUSE_RELEASE, r.entry.nodeid, r.open.fh, O_WRONLY, BENCH_WRITE_NAME);
	bench_line(c, "seqwrite", reqs, off, req, ticks);
	fs_forget(r.entry.nodeid, 1);
}

static void bench_meta(const struct bench_clock *c, const char *name, uint64_t nodeid, uint64_t iters)
{
	struct fuse_entry_out e;
	struct fuse_attr_out a;
	uint64_t t0 = rdtsc(), ticks, us;

	for (uint64_t i = 0; i < iters; i++) {
		expect_ok(fs_lookup(FUSE_ROOT_ID, name, &e), FUSE_LOOKUP, name);
		check(e.nodeid == nodeid, "virtio-fs: bench LOOKUP %s: node %lu, expected %lu", name,
		      (uint64_t)e.nodeid, nodeid);
		expect_ok(fs_getattr(e.nodeid, &a), FUSE_GETATTR, name);
	}
	ticks = rdtsc() - t0;
	us = ticks * 1000 / c->tsc_khz;
	printf("virtio-fs bench: meta pairs=%lu reqs=%lu ticks=%lu us=%lu tsc_khz=%lu pairs_s=%lu%s\n", iters,
	       iters * 2, ticks, us, c->tsc_khz, us ? iters * 1000000 / us : 0, c->guessed ? " (guessed)" : "");
	fs_forget(nodeid, iters);
}

static void fs_bench(void)
{
	struct bench_clock c = { 0 };
	char name[64] = "bench.bin";
	uint64_t req_kb = 128, iters = 1000, write_mb = 0, bytes;
	struct fuse_entry_out e;
	uint32_t req;

	c.guessed = !cmdline_u64("tsc_khz", &c.tsc_khz) || !c.tsc_khz;
	if (c.guessed)
		c.tsc_khz = virtio_tsc_per_ms();
	cmdline_get("fs_file", name, sizeof(name));
	cmdline_u64("req_kb", &req_kb);
	cmdline_u64("iters", &iters);
	cmdline_u64("write_mb", &write_mb);
	check(req_kb >= 1 && req_kb * 1024 <= BENCH_MAX_REQ, "req_kb=%lu: must be 1..%u", req_kb, BENCH_MAX_REQ / 1024);
	req = (uint32_t)req_kb * 1024;
	check(req <= max_read && req <= max_write, "req_kb=%lu: the server allows reads of %u and writes of %u bytes",
	      req_kb, max_read, max_write);

	expect_ok(fs_lookup(FUSE_ROOT_ID, name, &e), FUSE_LOOKUP, name);
	check(S_ISREG(e.attr.mode) && e.attr.size, "virtio-fs: bench: %s is not a non-empty regular file", name);
	printf("virtio-fs bench: %s has %lu bytes, requests of %u bytes\n", name, (uint64_t)e.attr.size, req);
	bench_read(&c, name, e.nodeid, e.attr.size, req, &bytes);
	bench_write(&c, write_mb ? write_mb << 20 : bytes, req);
	bench_meta(&c, name, e.nodeid, iters);
	fs_forget(e.nodeid, 1);
}

static long run(long arg)
{
	char mode[16] = "check";
	uint64_t index = 0;
	uint64_t want = VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);
	int qs;

	(void)arg;
	cmdline_get("fs", mode, sizeof(mode));
	check(!strcmp(mode, "check") || !strcmp(mode, "bench"), "fs=%s: expected check or bench", mode);

	virtio_mmio_list();
	cmdline_u64("fs_index", &index);
	check(virtio_find(VIRTIO_ID_FS, (unsigned)index, &dev) == 0, "virtio-fs: no virtio-fs device (id %u) number %lu found",
	      VIRTIO_ID_FS, index);
	check(virtio_init(&dev, want) == 0, "virtio-fs: device initialization failed");
	check(virtq_setup(&dev, &hiprioq, FS_HIPRIO_QUEUE, VIRTQ_MAX_SIZE) > 0, "virtio-fs: hiprio queue setup failed");
	qs = virtq_setup(&dev, &reqq, FS_REQUEST_QUEUE, VIRTQ_MAX_SIZE);
	check(qs > 0, "virtio-fs: request queue setup failed");
	virtio_driver_ok(&dev);
	printf("virtio-fs: device on ");
	virtio_print_where(&dev);
	printf(", features offered 0x%lx negotiated 0x%lx, queue size %d\n", dev.offered, dev.features, qs);
	check_tag();
	fs_init();

	if (!strcmp(mode, "bench")) {
		fs_bench();
	} else {
		alternate_indirect = true;
		fs_check();
	}
	printf("virtio-fs: %u requests (%u indirect), %lu notifies (%lu skipped)%s%s\n", requests, indirect_requests,
	       reqq.notifies + hiprioq.notifies, reqq.kicks_skipped + hiprioq.kicks_skipped,
	       reqq.indirect ? ", indirect" : "", reqq.event_idx ? ", event-idx" : "");
	check(!(virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET), "virtio-fs: device needs reset");
	if (alternate_indirect && reqq.indirect)
		check(indirect_requests > 0, "virtio-fs: no indirect request was made");
	return 0;
}

void test_main(void)
{
	virtio_run(run, 0, user_stack + sizeof(user_stack));
	pass();
}
