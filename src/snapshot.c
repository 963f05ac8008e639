/*
 * Snapshot files (snapshot.h): the state payload and its checksummed file,
 * the sparse RAM image, and the way back into a new VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmrun/builder.h"
#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/vcpu_state.h"
#include "kvmrun/vm.h"

static const char state_magic[8] = "KVMRUNSS";
static const char mem_magic[8] = "KVMRUNMM";
#define STATE_HEADER	24u		/* magic, version, reserved, payload length */
#define ID_LEN		16u
#define PAGE		4096u
#define STR_MAX		4096u

/* Section tags, in payload order. */
#define SEC_CONF	0x464e4f43u	/* "CONF" */
#define SEC_MEM		0x594d454du	/* "MEMY" */
#define SEC_KVM		0x534d564bu	/* "KVMS" */
#define SEC_VCPU	0x55504356u	/* "VCPU", one per vCPU */
#define SEC_DEVS	0x53564544u	/* "DEVS" */

uint32_t snapshot_crc32c(uint32_t crc, const void *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	const uint8_t *b = p;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- the payload ---- */

static void put_str(struct state_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	state_put_u32(w, (uint32_t)n);
	state_put_bytes(w, s, n);
}

/* A string of fewer than size bytes, NUL-terminated into buf; corrupt: the reader fails. */
static void get_str(struct state_reader *r, char *buf, size_t size)
{
	uint32_t n = state_get_u32_below(r, (uint32_t)size);

	state_get_bytes(r, buf, n);
	buf[r->err ? 0 : n] = '\0';
	if (!r->err && strlen(buf) != n)
		state_reader_fail(r);
}

static void put_section(struct state_writer *w, uint32_t tag, const struct state_writer *inner)
{
	state_put_u32(w, tag);
	state_put_u64(w, inner->len);
	state_put_bytes(w, inner->data, inner->len);
	if (inner->err && !w->err)
		w->err = inner->err;
}

/* The next section must be tag: a reader over its bytes. */
static int get_section(struct state_reader *r, uint32_t tag, struct state_reader *inner)
{
	uint32_t t = state_get_u32(r);
	uint64_t len = state_get_u64(r);

	if (r->err || t != tag || len > r->len - r->off)
		return -EINVAL;
	state_reader_init(inner, r->data + r->off, (size_t)len);
	r->off += (size_t)len;
	return 0;
}

/* Size of an image file or block device: what the guest sees as its disk. */
int snapshot_disk_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;

	if (fd < 0)
		return -errno;
	end = lseek(fd, 0, SEEK_END);
	close(fd);
	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

static int put_config(struct state_writer *w, const struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;

	state_put_u32(w, c->cpus);
	state_put_u64(w, c->mem_size);
	state_put_bool(w, c->mem_shared);
	state_put_u8(w, (uint8_t)c->hugepages);
	state_put_bool(w, vm->pvm);
	state_put_u8(w, (uint8_t)c->transport);
	state_put_u8(w, (uint8_t)c->serial);
	put_str(w, c->serial == SERIAL_FILE ? c->serial_path : NULL);
	state_put_bool(w, c->rng);
	state_put_bool(w, c->virtio_console);
	state_put_u32(w, c->nr_disks);
	for (unsigned i = 0; i < c->nr_disks; i++) {
		const struct disk_config *d = &c->disks[i];
		uint64_t size = 0;
		/* A vhost-user disk's image is its backend's: no size to check here. */
		int r = d->vhost_user ? 0 : snapshot_disk_size(d->path, &size);

		if (r) {
			snprintf(err, errlen, "%s: %s", d->path, strerror(-r));
			return r;
		}
		put_str(w, d->path);
		state_put_bool(w, d->readonly);
		state_put_bool(w, d->cache_none);
		put_str(w, d->serial);
		state_put_u32(w, d->num_queues);
		state_put_u64(w, size);
	}
	state_put_bool(w, c->has_net);
	put_str(w, c->has_net ? c->net.tap : NULL);
	/* Added later: an older record ends before it (no vhost-user disks). */
	uint32_t vhost_user = 0;

	for (unsigned i = 0; i < c->nr_disks; i++)
		vhost_user |= (uint32_t)c->disks[i].vhost_user << i;
	state_put_u32(w, vhost_user);
	/* Added later still: the test devices, bit 0 pc-testdev, bit 1 pci-testdev. */
	state_put_u8(w, (uint8_t)(c->pc_testdev | c->pci_testdev << 1));
	/* Added after that: machine options, bit 0 no PIT (--no-pit), bit 1 --irqchip split. */
	state_put_u8(w, (uint8_t)(c->no_pit | (c->irqchip == IRQCHIP_SPLIT) << 1));
	/* Then: bit 0 edu, bit 1 a VT-d unit, bits 2-3 its interrupt remapping. */
	state_put_u8(w, (uint8_t)(c->edu | c->iommu << 1 | c->iommu_ir << 2));
	return w->err;
}

static void get_config(struct state_reader *r, struct snapshot *s)
{
	struct vm_config *c = &s->cfg;

	memset(c, 0, sizeof(*c));
	c->cmd = CMD_RESTORE;
	c->kernel = "(snapshot)";
	c->seccomp = true;
	c->cpus = state_get_u32(r);
	c->mem_size = state_get_u64(r);
	c->mem_shared = state_get_bool(r);
	c->hugepages = (enum hugepages)state_get_u8(r);
	c->pvm = state_get_bool(r) ? TRI_ON : TRI_OFF;
	c->transport = (enum transport)state_get_u8(r);
	c->serial = (enum serial_sink)state_get_u8(r);
	get_str(r, s->serial_path, sizeof(s->serial_path));
	c->serial_path = s->serial_path;
	c->rng = state_get_bool(r);
	c->virtio_console = state_get_bool(r);
	c->nr_disks = state_get_u32_below(r, MAX_DISKS + 1);
	for (unsigned i = 0; i < c->nr_disks && !r->err; i++) {
		struct disk_config *d = &c->disks[i];

		get_str(r, d->path, sizeof(d->path));
		d->readonly = state_get_bool(r);
		d->cache_none = state_get_bool(r);
		get_str(r, d->serial, sizeof(d->serial));
		d->num_queues = state_get_u32_below(r, 1025);
		s->disk_size[i] = state_get_u64(r);
	}
	c->has_net = state_get_bool(r);
	get_str(r, c->net.tap, sizeof(c->net.tap));
	if (r->off < r->len) {
		uint32_t vhost_user = state_get_u32(r);

		if (vhost_user >> c->nr_disks)
			state_reader_fail(r);
		for (unsigned i = 0; i < c->nr_disks; i++)
			c->disks[i].vhost_user = vhost_user & (1u << i);
	}
	if (r->off < r->len) {
		uint8_t testdevs = state_get_u8(r);

		if (testdevs >> 2)
			state_reader_fail(r);
		c->pc_testdev = testdevs & 1;
		c->pci_testdev = testdevs >> 1 & 1;
	}
	if (r->off < r->len) {
		uint8_t machine = state_get_u8(r);

		/* The split irqchip has no PIT: a record with one is not ours. */
		if (machine >> 2 || machine == 2)
			state_reader_fail(r);
		c->no_pit = machine & 1;
		c->irqchip = machine & 2 ? IRQCHIP_SPLIT : IRQCHIP_KERNEL;
	}
	if (r->off < r->len) {
		uint8_t dma = state_get_u8(r);

		if (dma >> 4 || (dma >> 2) > IOMMU_IR_MSI || (!(dma & 2) && dma >> 2))
			state_reader_fail(r);
		c->edu = dma & 1;
		c->iommu = dma >> 1 & 1;
		c->iommu_ir = (enum iommu_ir)(dma >> 2);
	}
	if (c->cpus == 0 || c->cpus > CPUS_MAX || c->mem_size < (2ULL << 20) ||
	    c->mem_size > (1ULL << 40) || (c->mem_size & (PAGE - 1)) ||
	    c->hugepages > HUGEPAGES_HUGETLB || c->transport > TRANSPORT_PCI ||
	    c->serial > SERIAL_NONE || (c->serial == SERIAL_FILE && !s->serial_path[0]) ||
	    (c->has_net && !c->net.tap[0]))
		state_reader_fail(r);
}

static void put_mem(struct state_writer *w, const struct guest_mem *mem, const uint8_t *id)
{
	state_put_u64(w, mem->map_size);
	state_put_u32(w, mem->nr_regions);
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		state_put_u64(w, mem->region[i].gpa);
		state_put_u64(w, mem->region[i].size);
	}
	state_put_bytes(w, id, ID_LEN);
}

/* Builds the payload with this id for the memory it belongs to. */
static int build(struct vm *vm, struct state_writer *w, const uint8_t *id, char *err,
		 size_t errlen)
{
	struct state_writer sec;
	int r;

	state_writer_init(&sec);
	r = put_config(&sec, vm, err, errlen);
	put_section(w, SEC_CONF, &sec);
	state_writer_free(&sec);
	if (r)
		return r;

	state_writer_init(&sec);
	put_mem(&sec, &vm->mem, id);
	put_section(w, SEC_MEM, &sec);
	state_writer_free(&sec);

	state_writer_init(&sec);
	r = vm_kvm_state_save(vm, &sec);
	put_section(w, SEC_KVM, &sec);
	state_writer_free(&sec);
	if (r) {
		snprintf(err, errlen, "saving the VM's KVM state: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		state_writer_init(&sec);
		r = vcpu_state_save(&vm->vcpus[i], &sec);
		put_section(w, SEC_VCPU, &sec);
		state_writer_free(&sec);
		if (r) {
			snprintf(err, errlen, "saving vcpu%u: %s", i, strerror(-r));
			return r;
		}
	}
	state_writer_init(&sec);
	r = device_list_save(&vm->devices, &sec);
	put_section(w, SEC_DEVS, &sec);
	state_writer_free(&sec);
	if (r) {
		snprintf(err, errlen, "saving the devices: %s", strerror(-r));
		return r;
	}
	if (w->err)
		snprintf(err, errlen, "building the state: %s", strerror(-w->err));
	return w->err;
}

int snapshot_state_build(struct vm *vm, struct state_writer *w, char *err, size_t errlen)
{
	uint8_t id[ID_LEN] = { 0 };

	return build(vm, w, id, err, errlen);
}

/* ---- files ---- */

static int write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int snapshot_write_state_file(int dirfd, const char *name, const struct state_writer *payload)
{
	uint8_t hdr[STATE_HEADER];
	uint32_t crc;
	uint8_t tail[4];
	int fd, r;

	memcpy(hdr, state_magic, 8);
	for (int i = 0; i < 4; i++) {
		hdr[8 + i] = (uint8_t)(SNAPSHOT_VERSION >> (8 * i));
		hdr[12 + i] = 0;
	}
	for (int i = 0; i < 8; i++)
		hdr[16 + i] = (uint8_t)((uint64_t)payload->len >> (8 * i));
	crc = snapshot_crc32c(0, hdr, sizeof(hdr));
	crc = snapshot_crc32c(crc, payload->data, payload->len);
	for (int i = 0; i < 4; i++)
		tail[i] = (uint8_t)(crc >> (8 * i));

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, hdr, sizeof(hdr), 0);
	if (!r)
		r = write_all(fd, payload->data, payload->len, sizeof(hdr));
	if (!r)
		r = write_all(fd, tail, sizeof(tail), sizeof(hdr) + payload->len);
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	return r;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define CHUNK_PAGES	512u
#define RUN_MAX_PAGES	2048u		/* 8 MiB per write */

/* Where the file behind RAM (a restored snapshot's, a memfd) has data: a moving window. */
struct extents {
	int fd;
	uint64_t base;			/* file offset of RAM */
	uint64_t data, hole;		/* RAM offsets of the current extent */
};

static bool extent_has_data(struct extents *x, uint64_t off)
{
	if (x->fd < 0)
		return false;
	if (off < x->hole)
		return off >= x->data;
	off_t d = lseek(x->fd, (off_t)(x->base + off), SEEK_DATA);

	if (d < 0) {			/* ENXIO: no data after off */
		x->data = x->hole = UINT64_MAX;
		return false;
	}
	off_t h = lseek(x->fd, d, SEEK_HOLE);

	x->data = (uint64_t)d - x->base;
	x->hole = h < 0 ? UINT64_MAX : (uint64_t)h - x->base;
	return off >= x->data && off < x->hole;
}

/*
 * Writes RAM's non-zero pages to fd at base + their offset.  Pages the
 * process never touched are skipped without being read: /proc/self/pagemap
 * says which are present or swapped, the backing file which it holds.
 */
static int write_ram(const struct guest_mem *mem, int fd, uint64_t base, uint64_t *bytes)
{
	uint64_t npages = mem->map_size / PAGE, run = UINT64_MAX, ent[CHUNK_PAGES];
	struct extents x = {
		.fd = mem->backing_fd >= 0 ? mem->backing_fd : mem->memfd,
		.base = mem->backing_fd >= 0 ? mem->backing_off : 0,
	};
	int pm = mem->hugetlb ? -1 : open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int r = 0;

	*bytes = 0;
	for (uint64_t c = 0; c < npages && !r; c += CHUNK_PAGES) {
		uint64_t n = npages - c < CHUNK_PAGES ? npages - c : CHUNK_PAGES;
		bool all = pm < 0;

		if (!all) {
			off_t at = (off_t)(((uintptr_t)mem->map / PAGE + c) * sizeof(ent[0]));

			all = pread(pm, ent, n * sizeof(ent[0]), at) != (ssize_t)(n * sizeof(ent[0]));
		}
		for (uint64_t i = 0; i < n && !r; i++) {
			uint64_t page = c + i;
			bool data = (all || (ent[i] & (PM_PRESENT | PM_SWAPPED)) ||
				     extent_has_data(&x, page * PAGE)) &&
				    !guest_page_zero(mem->map + page * PAGE);

			if (data && run == UINT64_MAX)
				run = page;
			if (run != UINT64_MAX && (!data || page + 1 - run == RUN_MAX_PAGES)) {
				uint64_t end = data ? page + 1 : page;

				r = write_all(fd, mem->map + run * PAGE, (end - run) * PAGE,
					      base + run * PAGE);
				*bytes += (end - run) * PAGE;
				run = UINT64_MAX;
			}
		}
	}
	if (!r && run != UINT64_MAX) {
		r = write_all(fd, mem->map + run * PAGE, (npages - run) * PAGE, base + run * PAGE);
		*bytes += (npages - run) * PAGE;
	}
	if (pm >= 0)
		close(pm);
	return r;
}

static int write_mem_file(struct vm *vm, int dirfd, const char *name, const uint8_t *id,
			  uint64_t *bytes)
{
	uint8_t hdr[SNAPSHOT_MEM_HEADER] = { 0 };
	int fd, r;

	memcpy(hdr, mem_magic, 8);
	hdr[8] = SNAPSHOT_VERSION;
	for (int i = 0; i < 8; i++)
		hdr[16 + i] = (uint8_t)(vm->mem.map_size >> (8 * i));
	memcpy(hdr + 24, id, ID_LEN);

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, (off_t)(SNAPSHOT_MEM_HEADER + vm->mem.map_size)) ? -errno : 0;
	if (!r)
		r = write_all(fd, hdr, sizeof(hdr), 0);
	if (!r)
		r = write_ram(&vm->mem, fd, SNAPSHOT_MEM_HEADER, bytes);
	if (!r && fdatasync(fd))
		r = -errno;
	close(fd);
	return r;
}

static int save_locked(struct vm *vm, const char *dir, char *err, size_t errlen)
{
	struct state_writer w;
	uint8_t id[ID_LEN];
	uint64_t ram = 0;
	uint64_t t0 = clock_now_ns();
	int dirfd, r;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		for (unsigned i = 0; i < ID_LEN; i++)	/* identity, not secrecy */
			id[i] = (uint8_t)(t0 >> (8 * (i % 8))) ^ (uint8_t)i;
	}
	state_writer_init(&w);
	r = build(vm, &w, id, err, errlen);
	if (!r) {
		r = write_mem_file(vm, dirfd, "memory.new", id, &ram);
		if (r)
			snprintf(err, errlen, "%s/memory: %s", dir, strerror(-r));
	}
	if (!r) {
		r = snapshot_write_state_file(dirfd, "state.new", &w);
		if (r)
			snprintf(err, errlen, "%s/state: %s", dir, strerror(-r));
	}
	/* The pair is replaced together; a crash in between leaves ids that differ (refused). */
	if (!r && (renameat(dirfd, "memory.new", dirfd, "memory") ||
		   renameat(dirfd, "state.new", dirfd, "state"))) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
	}
	if (!r)
		fsync(dirfd);
	if (r) {
		unlinkat(dirfd, "memory.new", 0);
		unlinkat(dirfd, "state.new", 0);
	} else {
		log_info("snapshot %s: %zu bytes of state, %llu MiB of RAM data, %.1f ms", dir,
			 w.len, (unsigned long long)(ram >> 20), (double)(clock_now_ns() - t0) / 1e6);
	}
	state_writer_free(&w);
	close(dirfd);
	return r;
}

int vm_snapshot_save(struct vm *vm, const char *dir, bool stay_paused, char *err, size_t errlen)
{
	bool was_paused = vm_is_paused(vm);
	int r;

	/* Its vCPUs restored would run on past the sleep instead of at the waking vector. */
	if (atomic_load(&vm->asleep)) {
		snprintf(err, errlen, "the guest is asleep (S3): snapshot it once it wakes");
		return -EBUSY;
	}
	r = vm_pause_hold(vm);

	if (r) {
		snprintf(err, errlen, "cannot pause the VM: %s",
			 r == -ESHUTDOWN ? "it is stopping" : strerror(-r));
		return r;
	}
	r = save_locked(vm, dir, err, errlen);
	vm_release(vm, !was_paused && !stay_paused);
	return r;
}

/* ---- reading ---- */

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int snapshot_parse(struct snapshot *s, uint8_t *payload, size_t len, char *err, size_t errlen)
{
	struct state_reader r, sec;
	uint64_t map_size;
	uint32_t nr;

	s->payload = payload;
	s->payload_len = len;
	state_reader_init(&r, payload, len);
	if (get_section(&r, SEC_CONF, &sec)) {
		snprintf(err, errlen, "no configuration record");
		return -EINVAL;
	}
	get_config(&sec, s);
	if (state_reader_finish(&sec)) {
		snprintf(err, errlen, "the configuration record is corrupt");
		return -EINVAL;
	}
	if (get_section(&r, SEC_MEM, &sec)) {
		snprintf(err, errlen, "no memory record");
		return -EINVAL;
	}
	map_size = state_get_u64(&sec);
	nr = state_get_u32_below(&sec, MEM_MAX_REGIONS + 1);
	for (uint32_t i = 0; i < nr; i++) {
		state_get_u64(&sec);
		state_get_u64(&sec);
	}
	state_get_bytes(&sec, s->id, ID_LEN);
	if (state_reader_finish(&sec) || map_size != s->cfg.mem_size) {
		snprintf(err, errlen, "the memory record is corrupt");
		return -EINVAL;
	}
	return 0;
}

static int read_file(int dirfd, const char *name, uint8_t **data, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t off = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (off_t)SNAPSHOT_STATE_MAX) {
		int e = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;

		close(fd);
		return e;
	}
	*len = (size_t)st.st_size;
	*data = malloc(*len ? *len : 1);
	if (!*data) {
		close(fd);
		return -ENOMEM;
	}
	while (off < *len) {
		ssize_t n = read(fd, *data + off, *len - off);

		if (n <= 0) {
			*len = off;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

int snapshot_check_file(const uint8_t *file, size_t len, size_t *payload_len, char *err,
			size_t errlen)
{
	uint64_t version, plen;

	if (len < STATE_HEADER + 4 || memcmp(file, state_magic, 8)) {
		snprintf(err, errlen, "not a kvmrun snapshot");
		return -EINVAL;
	}
	version = le(file + 8, 4);
	if (version > SNAPSHOT_VERSION) {
		snprintf(err, errlen, "format version %llu is newer than this kvmrun's (%u)",
			 (unsigned long long)version, SNAPSHOT_VERSION);
		return -EINVAL;
	}
	plen = le(file + 16, 8);
	if (plen != len - STATE_HEADER - 4) {
		snprintf(err, errlen, "truncated or padded (%zu bytes, the header says %llu)", len,
			 plen > SIZE_MAX - STATE_HEADER - 4 ? (unsigned long long)plen :
			 (unsigned long long)(plen + STATE_HEADER + 4));
		return -EINVAL;
	}
	if (snapshot_crc32c(0, file, len - 4) != (uint32_t)le(file + len - 4, 4)) {
		snprintf(err, errlen, "checksum mismatch: the file is corrupt");
		return -EINVAL;
	}
	*payload_len = (size_t)plen;
	return 0;
}

int snapshot_open(struct snapshot *s, const char *dir, char *err, size_t errlen)
{
	uint8_t *file = NULL, mhdr[SNAPSHOT_MEM_HEADER];
	size_t len = 0, plen;
	struct stat st;
	char why[256];
	int dirfd, r;

	memset(s, 0, sizeof(*s));
	s->mem_fd = -1;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = read_file(dirfd, "state", &file, &len);
	if (r) {
		snprintf(err, errlen, "%s/state: %s", dir,
			 r == -EFBIG ? "too large to be a kvmrun snapshot" : strerror(-r));
		goto out;
	}
	r = snapshot_check_file(file, len, &plen, why, sizeof(why));
	if (r) {
		snprintf(err, errlen, "%s/state: %s", dir, why);
		goto out;
	}
	memmove(file, file + STATE_HEADER, (size_t)plen);
	r = snapshot_parse(s, file, (size_t)plen, err, errlen);
	file = NULL;			/* s->payload owns it now */
	if (r) {
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s/state: %s", dir, why);
		goto out;
	}

	s->mem_fd = openat(dirfd, "memory", O_RDONLY | O_CLOEXEC);
	if (s->mem_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s/memory: %s", dir, strerror(-r));
		goto out;
	}
	r = -EINVAL;
	if (fstat(s->mem_fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != SNAPSHOT_MEM_HEADER + s->cfg.mem_size ||
	    pread(s->mem_fd, mhdr, sizeof(mhdr), 0) != (ssize_t)sizeof(mhdr)) {
		snprintf(err, errlen, "%s/memory: not the %llu bytes the snapshot's RAM needs", dir,
			 (unsigned long long)(SNAPSHOT_MEM_HEADER + s->cfg.mem_size));
		goto out;
	}
	if (memcmp(mhdr, mem_magic, 8) || le(mhdr + 16, 8) != s->cfg.mem_size) {
		snprintf(err, errlen, "%s/memory: not a kvmrun snapshot's memory", dir);
		goto out;
	}
	if (memcmp(mhdr + 24, s->id, ID_LEN)) {
		snprintf(err, errlen, "%s: state and memory are from different snapshots", dir);
		goto out;
	}
	s->mem_file = (struct mem_file){ s->mem_fd, SNAPSHOT_MEM_HEADER };
	r = 0;
out:
	free(file);
	close(dirfd);
	if (r)
		snapshot_close(s);
	return r;
}

void snapshot_close(struct snapshot *s)
{
	free(s->payload);
	s->payload = NULL;
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	s->mem_fd = -1;
}

int snapshot_config(const struct snapshot *s, const struct vm_config *cli, struct vm_config *out,
		    char *err, size_t errlen)
{
	*out = s->cfg;
	/* Run-time options are this run's. */
	out->cmd = cli->cmd;
	out->timeout = cli->timeout;
	out->seccomp = cli->seccomp;
	out->verbosity = cli->verbosity;
	out->reboot_restart = false;	/* nothing to boot again: a reset ends the run */
	out->snapshot_dir = cli->snapshot_dir;
	out->start_paused = cli->start_paused;
	out->restore_dir = cli->restore_dir;
	out->mem_file = s->mem_fd >= 0 ? &s->mem_file : NULL;
	if (cli->given & CFG_GIVEN_SERIAL) {
		out->serial = cli->serial;
		out->serial_path = cli->serial_path;
	}
	if (cli->given & CFG_GIVEN_DISK) {
		if (cli->nr_disks != s->cfg.nr_disks)
			return snprintf(err, errlen, "restore: the snapshot has %u disk(s), %u given",
					s->cfg.nr_disks, cli->nr_disks), -EINVAL;
		for (unsigned i = 0; i < cli->nr_disks; i++) {
			if (cli->disks[i].vhost_user != s->cfg.disks[i].vhost_user)
				return snprintf(err, errlen, "restore: disk %u was %s when the snapshot "
						"was taken", i, s->cfg.disks[i].vhost_user ?
						"a vhost-user disk (--disk vhost-user=SOCKET)" :
						"an image file"), -EINVAL;
			out->disks[i] = cli->disks[i];
		}
	}
	for (unsigned i = 0; i < out->nr_disks; i++) {
		uint64_t size;
		int r;

		if (out->disks[i].vhost_user)
			continue;	/* its backend serves the image the snapshot's must match */
		r = snapshot_disk_size(out->disks[i].path, &size);

		if (r)
			return snprintf(err, errlen, "restore: disk %u: %s: %s", i,
					out->disks[i].path, strerror(-r)), r;
		if (size != s->disk_size[i])
			return snprintf(err, errlen, "restore: disk %u: %s is %llu bytes, it was %llu "
					"when the snapshot was taken", i, out->disks[i].path,
					(unsigned long long)size,
					(unsigned long long)s->disk_size[i]), -EINVAL;
	}
	if (cli->given & CFG_GIVEN_NET) {
		if (!s->cfg.has_net)
			return snprintf(err, errlen, "restore: the snapshot has no network device"),
			       -EINVAL;
		memcpy(out->net.tap, cli->net.tap, sizeof(out->net.tap));
	}
	return 0;
}

int snapshot_check_payload(const struct snapshot *s, struct device_list *devices, char *err,
			   size_t errlen)
{
	struct state_reader r, sec;
	int ret;

	state_reader_init(&r, s->payload, s->payload_len);
	get_section(&r, SEC_CONF, &sec);
	get_section(&r, SEC_MEM, &sec);
	if (get_section(&r, SEC_KVM, &sec))
		return -EINVAL;
	ret = vm_kvm_state_check(&sec, err, errlen);
	for (unsigned i = 0; !ret && i < s->cfg.cpus; i++) {
		if (get_section(&r, SEC_VCPU, &sec))
			return -EINVAL;
		ret = vcpu_state_check(&sec, err, errlen);
	}
	if (ret || get_section(&r, SEC_DEVS, &sec))
		return -EINVAL;
	return device_list_restore(devices, &sec, err, errlen);
}

int snapshot_restore(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	struct state_reader r, sec;
	char why[256] = "";
	int ret;

	state_reader_init(&r, s->payload, s->payload_len);
	get_section(&r, SEC_CONF, &sec);
	get_section(&r, SEC_MEM, &sec);
	ret = builder_create_devices(vm);
	if (!ret)
		ret = vm_create_vcpus(vm, NULL);
	if (ret) {
		snprintf(err, errlen, "cannot build the machine: %s", strerror(-ret));
		return ret;
	}
	/* The irqchip first: devices then raise the lines they hold high again. */
	if (get_section(&r, SEC_KVM, &sec)) {
		snprintf(err, errlen, "no KVM state record");
		return -EINVAL;
	}
	ret = vm_kvm_state_restore(vm, &sec, why, sizeof(why));
	if (!ret && state_reader_finish(&sec))
		ret = -EINVAL;
	if (ret) {
		snprintf(err, errlen, "KVM state: %s", why[0] ? why : strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (get_section(&r, SEC_VCPU, &sec)) {
			snprintf(err, errlen, "no record for vcpu%u", i);
			return -EINVAL;
		}
		ret = vcpu_state_restore(&vm->vcpus[i], &sec, why, sizeof(why));
		if (!ret && state_reader_finish(&sec))
			ret = -EINVAL;
		if (ret) {
			snprintf(err, errlen, "vcpu%u: %s", i, why[0] ? why : strerror(-ret));
			return ret;
		}
	}
	if (get_section(&r, SEC_DEVS, &sec)) {
		snprintf(err, errlen, "no device records");
		return -EINVAL;
	}
	ret = device_list_restore(&vm->devices, &sec, why, sizeof(why));
	if (!ret && state_reader_finish(&r))
		ret = -EINVAL;
	if (ret) {
		snprintf(err, errlen, "devices: %s", why[0] ? why : "the records are corrupt");
		return ret;
	}
	if (vm->snapshot_port)
		snapshot_port_restored(vm->snapshot_port);
	return 0;
}
