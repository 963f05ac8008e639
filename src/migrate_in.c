/*
 * Live migration, the receiving side (migrate.h): `kvmrun run --incoming
 * URI` listens, takes one connection, and fills a VM made from its own
 * configuration with the source's RAM and state.  Everything in the stream
 * is hostile: offsets and counts are checked against RAM before a byte is
 * stored, the state carries a CRC and goes through snapshot_parse, and the
 * source's machine must be the local one.  Runs on the main thread before
 * vm_run, so before its seccomp filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/migrate.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/vm.h"

#define PAGE	MIGRATE_PAGE

/* A socket file nobody listens on any more (a crashed destination's) may be replaced. */
static int unix_path_free(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (r = -errno,
		       snprintf(err, errlen, "%s: %s", path, strerror(-r)), r);
	if (!S_ISSOCK(st.st_mode))
		return snprintf(err, errlen, "%s exists and is not a socket: choose another path",
				path), -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&un, sizeof(un));
	close(fd);
	if (r == 0)
		return snprintf(err, errlen, "%s: another process listens there", path), -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return r = -errno, snprintf(err, errlen, "%s: %s", path, strerror(-r)), r;
	return 0;
}

int migrate_listen(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r, one = 1;

	r = migrate_uri_addr(uri, &ss, &len, err, errlen);
	if (r)
		return r;
	if (ss.ss_family == AF_UNIX && (r = unix_path_free(uri + 5, err, errlen)))
		return r;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return r = -errno, snprintf(err, errlen, "socket: %s", strerror(-r)), r;
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		snprintf(err, errlen, "--incoming %s: %s", uri, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

void migrate_unlisten(const char *uri, int lfd)
{
	if (lfd >= 0)
		close(lfd);
	if (!strncmp(uri, "unix:", 5))
		unlink(uri + 5);
}

int migrate_accept(int lfd, int sigfd, int timeout_ms, char *err, size_t errlen)
{
	int64_t end = clock_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		int left = timeout_ms < 0 ? -1 : (int)(end - clock_now_ms());
		int n, fd;

		if (timeout_ms >= 0 && left <= 0)
			return snprintf(err, errlen, "no migration arrived in time (--timeout)"),
			       -ETIMEDOUT;
		n = poll(p, sigfd >= 0 ? 2 : 1, left);
		if (n < 0 && errno != EINTR)
			return n = -errno, snprintf(err, errlen, "poll: %s", strerror(-n)), n;
		if (n > 0 && sigfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				return snprintf(err, errlen, "stopped by signal %u while waiting for "
						"the migration", si.ssi_signo), -EINTR;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				return fd;
			if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
				return fd = -errno, snprintf(err, errlen, "accept: %s", strerror(-fd)), fd;
		}
	}
}

/* ---- the stream ---- */

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* n bytes, or -ECONNRESET (the source closed) / -ETIMEDOUT (silent too long) / -errno. */
static int read_all(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;

	while (n) {
		struct pollfd p = { fd, POLLIN, 0 };
		int k = poll(&p, 1, MIGRATE_IDLE_MS);
		ssize_t got;

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ETIMEDOUT;
		got = read(fd, b, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -ECONNRESET;
		b += got;
		n -= (size_t)got;
	}
	return 0;
}

static const char *io_why(int r)
{
	return r == -ECONNRESET ? "the source closed the connection" :
	       r == -ETIMEDOUT ? "the source sent nothing for 30 s" : strerror(-r);
}

/* RAM records until the state's: the payload (CRC checked) in *payload. */
static int receive_stream(struct vm *vm, int fd, uint8_t **payload, size_t *plen, char *err,
			  size_t errlen)
{
	struct guest_mem *mem = &vm->mem;
	uint64_t pages_total = mem->map_size / PAGE, pages = 0;
	uint8_t h[MIGRATE_HEADER];
	int r = read_all(fd, h, sizeof(h));

	if (r)
		return snprintf(err, errlen, "reading the stream's header: %s", io_why(r)), r;
	if (memcmp(h, MIGRATE_MAGIC, 8))
		return snprintf(err, errlen, "not a kvmrun migration stream"), -EINVAL;
	if (get32(h + 8) != MIGRATE_VERSION)
		return snprintf(err, errlen, "migration stream version %u, this kvmrun speaks %u",
				get32(h + 8), MIGRATE_VERSION), -EINVAL;
	if (get32(h + 12) != PAGE)
		return snprintf(err, errlen, "page size %u in the stream, expected %u",
				get32(h + 12), PAGE), -EINVAL;
	if (get64(h + 16) != mem->map_size)
		return snprintf(err, errlen, "the source has %llu MiB of RAM, this side %llu MiB "
				"(--memory)", (unsigned long long)(get64(h + 16) >> 20),
				(unsigned long long)(mem->map_size >> 20)), -EINVAL;
	for (;;) {
		uint8_t rec[MIGRATE_REC];
		uint32_t type, count;
		uint64_t off;

		r = read_all(fd, rec, sizeof(rec));
		if (r)
			return snprintf(err, errlen, "reading RAM: %s", io_why(r)), r;
		type = get32(rec);
		count = get32(rec + 4);
		off = get64(rec + 8);
		if (type == MIGRATE_REC_STATE) {
			uint8_t crc[4];

			if (count || off == 0 || off > SNAPSHOT_STATE_MAX)
				return snprintf(err, errlen, "a state of %llu bytes: corrupt stream",
						(unsigned long long)off), -EINVAL;
			*payload = malloc((size_t)off);
			if (!*payload)
				return snprintf(err, errlen, "no memory for the state"), -ENOMEM;
			*plen = (size_t)off;
			r = read_all(fd, *payload, *plen);
			if (!r)
				r = read_all(fd, crc, sizeof(crc));
			if (r)
				return snprintf(err, errlen, "reading the state: %s", io_why(r)), r;
			if (snapshot_crc32c(0, *payload, *plen) != get32(crc))
				return snprintf(err, errlen, "the state's checksum does not match: "
						"corrupt stream"), -EINVAL;
			log_info("incoming migration: %llu MiB of RAM, %zu bytes of state",
				 (unsigned long long)((pages * PAGE) >> 20), *plen);
			return 0;
		}
		/* Offsets and counts are the source's word: checked before any byte lands. */
		if ((type != MIGRATE_REC_PAGES && type != MIGRATE_REC_ZERO) || count == 0 ||
		    (type == MIGRATE_REC_PAGES && count > MIGRATE_PAGES_MAX) || (off % PAGE) ||
		    off / PAGE > pages_total || count > pages_total - off / PAGE)
			return snprintf(err, errlen, "record type %u, %u pages at 0x%llx: corrupt "
					"stream", type, count, (unsigned long long)off), -EINVAL;
		if (type == MIGRATE_REC_PAGES) {
			r = read_all(fd, mem->map + off, (size_t)count * PAGE);
			if (r)
				return snprintf(err, errlen, "reading RAM: %s", io_why(r)), r;
			pages += count;
			continue;
		}
		for (uint32_t i = 0; i < count; i++) {
			uint8_t *p = mem->map + off + (uint64_t)i * PAGE;

			/* Untouched pages stay unallocated. */
			if (!guest_page_zero(p))
				memset(p, 0, PAGE);
		}
	}
}

#define DIFFER(what, a, b, opt) \
	return snprintf(err, errlen, "the source's machine has %s %llu, this one %llu (%s)", what, \
			(unsigned long long)(a), (unsigned long long)(b), opt), -EINVAL

/* The source's machine (s->cfg) must be the one the local configuration builds. */
static int check_machine(const struct snapshot *s, const struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *src = &s->cfg, *c = vm->cfg;

	if (src->cpus != c->cpus)
		DIFFER("vCPUs:", src->cpus, c->cpus, "--cpus");
	if (src->mem_size != c->mem_size)
		DIFFER("bytes of RAM:", src->mem_size, c->mem_size, "--memory");
	if (src->transport != c->transport)
		return snprintf(err, errlen, "the source's devices are on %s, this side's on %s "
				"(--transport)", src->transport == TRANSPORT_PCI ? "pci" : "mmio",
				c->transport == TRANSPORT_PCI ? "pci" : "mmio"), -EINVAL;
	if ((src->pvm == TRI_ON) != vm->pvm)
		return snprintf(err, errlen, "the source runs %s PVM workarounds, this side %s",
				src->pvm == TRI_ON ? "with" : "without", vm->pvm ? "with" : "without"),
		       -EINVAL;
	if (src->rng != c->rng)
		DIFFER("virtio-rng devices:", src->rng, c->rng, "--rng");
	if (src->pc_testdev != c->pc_testdev)
		DIFFER("pc-testdevs:", src->pc_testdev, c->pc_testdev, "--pc-testdev");
	if (src->pci_testdev != c->pci_testdev)
		DIFFER("pci-testdevs:", src->pci_testdev, c->pci_testdev, "--pci-testdev");
	if (src->edu != c->edu)
		DIFFER("edu devices:", src->edu, c->edu, "--edu");
	if (src->iommu != c->iommu || src->iommu_ir != c->iommu_ir)
		return snprintf(err, errlen, "the source's VT-d unit differs from this side's "
				"(--iommu)"), -EINVAL;
	if (src->irqchip != c->irqchip)
		return snprintf(err, errlen, "the source's irqchip is %s, this side's %s (--irqchip)",
				src->irqchip == IRQCHIP_SPLIT ? "split" : "in the kernel",
				c->irqchip == IRQCHIP_SPLIT ? "split" : "in the kernel"), -EINVAL;
	if (src->no_pit != c->no_pit)
		DIFFER("PITs:", !src->no_pit, !c->no_pit, "--no-pit");
	if (src->virtio_console != c->virtio_console)
		DIFFER("virtio consoles:", src->virtio_console, c->virtio_console, "--virtio-console");
	if (src->has_net != c->has_net)
		DIFFER("network devices:", src->has_net, c->has_net, "--net");
	if (src->nr_disks != c->nr_disks)
		DIFFER("disks:", src->nr_disks, c->nr_disks, "--disk");
	for (unsigned i = 0; i < c->nr_disks; i++) {
		uint64_t size = 0;
		int r = snapshot_disk_size(c->disks[i].path, &size);

		if (r)
			return snprintf(err, errlen, "disk %u: %s: %s", i, c->disks[i].path,
					strerror(-r)), r;
		if (size != s->disk_size[i])
			return snprintf(err, errlen, "disk %u: %s is %llu bytes, the source's %llu", i,
					c->disks[i].path, (unsigned long long)size,
					(unsigned long long)s->disk_size[i]), -EINVAL;
		if (src->disks[i].readonly != c->disks[i].readonly ||
		    src->disks[i].num_queues != c->disks[i].num_queues)
			return snprintf(err, errlen, "disk %u: read-only and queue options differ "
					"from the source's", i), -EINVAL;
	}
	return 0;
}

static void answer(int fd, int r, const char *msg)
{
	uint8_t b[8 + MIGRATE_MSG_MAX];
	size_t n = r ? strnlen(msg, MIGRATE_MSG_MAX - 1) : 0, off = 0;
	uint32_t st = (uint32_t)-r;

	for (int i = 0; i < 4; i++) {
		b[i] = (uint8_t)(st >> (8 * i));
		b[4 + i] = (uint8_t)(n >> (8 * i));
	}
	memcpy(b + 8, msg, n);
	while (off < 8 + n) {
		ssize_t w = send(fd, b + off, 8 + n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;		/* the source is gone: it resumes, or has already */
		off += (size_t)w;
	}
}

int migrate_receive(struct vm *vm, int fd, char *err, size_t errlen)
{
	struct snapshot snap;
	uint8_t *payload = NULL;
	size_t plen = 0;
	char why[512];
	int r;

	memset(&snap, 0, sizeof(snap));
	snap.mem_fd = -1;
	r = receive_stream(vm, fd, &payload, &plen, err, errlen);
	if (!r) {
		r = snapshot_parse(&snap, payload, plen, why, sizeof(why));
		payload = NULL;		/* snap owns it */
		if (r)
			snprintf(err, errlen, "the source's state: %s", why);
	}
	if (!r)
		r = check_machine(&snap, vm, err, errlen);
	if (!r) {
		r = snapshot_restore(vm, &snap, why, sizeof(why));
		if (r)
			snprintf(err, errlen, "restoring the source's state: %s", why);
	}
	answer(fd, r, err);
	free(payload);
	snapshot_close(&snap);
	return r;
}
