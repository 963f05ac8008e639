/*
 * Live migration, the sending side (migrate.h).  Pre-copy: every page the
 * guest has, then rounds of the pages dirtied meanwhile while the guest
 * runs on, until what is left fits the downtime limit at the bandwidth
 * measured; then the VM pauses, the last dirty pages and the state payload
 * go, and only the destination's answer that it restored the guest ends
 * the VM here (STOP_MIGRATED).  Any failure before that answer resumes it.
 *
 * Dirty pages: KVM's dirty ring where vm_create enabled it (each vCPU's
 * ring is harvested every round, and whenever a vCPU exits with a full
 * ring; KVM_RESET_DIRTY_RINGS re-protects the pages before they are
 * copied).  Else KVM's dirty log bitmap per memory slot, cleared by hand
 * chunk by chunk just before the chunk is sent where KVM offers
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (else KVM_GET_DIRTY_LOG clears it).
 * KVM sees only the guest's writes; the VMM's own (virtio used rings and
 * buffers) are marked in guest_mem's bitmap.  Those marks are sticky for a
 * migration: a device may take a pointer (the mark) and write much later,
 * after the page went, so the paused last round sends every page marked.
 * Tracking starts with the VM paused for a moment, so that no write
 * through a pointer taken before is still in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/migrate.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/snapshot.h"
#include "kvmrun/vm.h"

#define PAGE		MIGRATE_PAGE
#define CHUNK_PAGES	4096u		/* cleared in KVM's log, then sent: 16 MiB */
#define MAX_ROUNDS	30		/* then the last round, however much is dirty */
#define CONNECT_MS	5000
#define POLL_MS		100		/* how soon a cancel or a stop is noticed */

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)

struct migration {
	struct vm *vm;
	pthread_mutex_t lock;		/* the fields up to st */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_started, quit, request;
	char uri[4200];
	struct migrate_status st;
	atomic_bool cancel;
	/* Dirty ring: a vCPU's ring is full (set by it, cleared by the harvest). */
	atomic_bool harvest_req;
	uint64_t ring_gen;		/* harvests done (lock) */
	int ring_efd;			/* wakes the migration thread's polls */
	bool ring_warned;

	/* The migration thread's own. */
	int fd;
	bool manual_tried, manual;	/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	bool logging;
	uint64_t *kvm_bm[MEM_MAX_REGIONS];	/* dirty pages per slot, accumulated */
	uint64_t *tmp_bm;
	uint64_t *seen;			/* device marks already sent (map pages) */
	uint64_t sent_bytes;		/* this round's, for the bandwidth */
	uint64_t ent[CHUNK_PAGES];	/* /proc/self/pagemap entries of a chunk */
};

const char *migrate_state_name(enum migrate_state s)
{
	static const char *const names[] = {
		[MIGRATE_NONE] = "none", [MIGRATE_SETUP] = "setup", [MIGRATE_ACTIVE] = "active",
		[MIGRATE_COMPLETED] = "completed", [MIGRATE_FAILED] = "failed",
		[MIGRATE_CANCELLED] = "cancelled",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "none";
}

/* ---- addresses ---- */

int migrate_uri_addr(const char *uri, struct sockaddr_storage *ss, socklen_t *len, char *err,
		     size_t errlen)
{
	memset(ss, 0, sizeof(*ss));
	if (!strncmp(uri, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = strlen(uri + 5);

		if (!n || n >= sizeof(un->sun_path))
			return snprintf(err, errlen, "%s: the socket path must be 1 to %zu bytes", uri,
					sizeof(un->sun_path) - 1), -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, uri + 5, n + 1);
		*len = (socklen_t)sizeof(*un);
		return 0;
	}
	if (!strncmp(uri, "tcp:", 4)) {
		char host[64];
		const char *colon = strrchr(uri + 4, ':');
		char *end;
		unsigned long port;
		size_t hl;

		if (!colon)
			return snprintf(err, errlen, "%s: expected tcp:HOST:PORT", uri), -EINVAL;
		port = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || port == 0 || port > 65535)
			return snprintf(err, errlen, "%s: the port must be 1 to 65535", uri), -EINVAL;
		hl = (size_t)(colon - (uri + 4));
		if (hl >= 2 && uri[4] == '[' && colon[-1] == ']') {	/* [v6 address] */
			hl -= 2;
			memcpy(host, uri + 5, hl < sizeof(host) ? hl : 0);
		} else if (hl < sizeof(host)) {
			memcpy(host, uri + 4, hl);
		}
		if (hl >= sizeof(host))
			return snprintf(err, errlen, "%s: host name too long", uri), -EINVAL;
		host[hl] = '\0';
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		if (hl == 0)
			strcpy(host, "0.0.0.0");
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
			in4->sin_family = AF_INET;
			in4->sin_port = htons((uint16_t)port);
			*len = (socklen_t)sizeof(*in4);
			return 0;
		}
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)port);
			*len = (socklen_t)sizeof(*in6);
			return 0;
		}
		/* No name lookups: the migration thread's sandbox has no resolver. */
		return snprintf(err, errlen, "%s: HOST must be an IP address or localhost", uri),
		       -EINVAL;
	}
	return snprintf(err, errlen, "'%s': expected unix:PATH or tcp:HOST:PORT", uri), -EINVAL;
}

/* ---- status ---- */

static void set_state(struct migration *m, enum migrate_state s, const char *why)
{
	struct vm *vm = m->vm;
	char data[64];

	pthread_mutex_lock(&m->lock);
	m->st.state = s;
	if (why)
		snprintf(m->st.error, sizeof(m->st.error), "%s", why);
	pthread_mutex_unlock(&m->lock);
	snprintf(data, sizeof(data), "{\"status\": \"%s\"}", migrate_state_name(s));
	if (vm->events.emit)
		vm->events.emit(vm->events.opaque, "MIGRATION", data);
}

static void account(struct migration *m, uint64_t wire, uint64_t pages, uint64_t done)
{
	pthread_mutex_lock(&m->lock);
	m->st.transferred_bytes += wire;
	m->st.pages_sent += pages;
	m->st.remaining_bytes -= done < m->st.remaining_bytes ? done : m->st.remaining_bytes;
	pthread_mutex_unlock(&m->lock);
	m->sent_bytes += wire;
}

static bool aborted(struct migration *m)
{
	return atomic_load(&m->cancel) || vm_stop_requested(&m->vm->stop);
}

static int abort_reason(struct migration *m, char *err, size_t errlen)
{
	if (vm_stop_requested(&m->vm->stop))
		snprintf(err, errlen, "the VM is stopping");
	else
		snprintf(err, errlen, "cancelled");
	return -ECANCELED;
}

/* ---- the connection ---- */

static int ring_service(struct migration *m);

static int wait_fd(struct migration *m, short events, bool cancellable)
{
	struct pollfd p[2] = { { m->fd, events, 0 }, { m->ring_efd, POLLIN, 0 } };
	int n = poll(p, m->vm->dirty_ring_entries && m->ring_efd >= 0 ? 2 : 1, POLL_MS);

	if (n < 0 && errno != EINTR)
		return -errno;
	if (cancellable ? aborted(m) : vm_stop_requested(&m->vm->stop))
		return -ECANCELED;
	n = ring_service(m);
	if (n)
		return n;
	return p[0].revents ? 1 : 0;
}

static int connect_uri(struct migration *m, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len, elen = sizeof(int);
	int64_t t0 = clock_now_ms();
	int r, e = 0, one = 1;

	r = migrate_uri_addr(m->uri, &ss, &len, err, errlen);
	if (r)
		return r;
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->fd < 0)
		return r = -errno, snprintf(err, errlen, "socket: %s", strerror(-r)), r;
	if (ss.ss_family != AF_UNIX)
		setsockopt(m->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(m->fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return r = -errno, snprintf(err, errlen, "cannot connect: %s", strerror(-r)), r;
	while ((r = wait_fd(m, POLLOUT, true)) == 0) {
		if (clock_now_ms() - t0 > CONNECT_MS)
			return snprintf(err, errlen, "no connection after %d s",
					CONNECT_MS / 1000), -ETIMEDOUT;
	}
	if (r < 0)
		return r == -ECANCELED ? abort_reason(m, err, errlen) :
		       (snprintf(err, errlen, "cannot connect: %s", strerror(-r)), r);
	if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e)
		return snprintf(err, errlen, "cannot connect: %s", strerror(e)), -e;
	return 0;
}

/*
 * After a send or receive on the non-blocking socket moved nothing (errno
 * set): 0 to try again once it is ready, -ETIMEDOUT when the peer did
 * nothing for MIGRATE_IDLE_MS since last, or -errno.
 */
static int io_wait(struct migration *m, int64_t last, short events, bool cancellable)
{
	int r;

	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return -errno;
	if (clock_now_ms() - last > MIGRATE_IDLE_MS)
		return -ETIMEDOUT;
	r = wait_fd(m, events, cancellable);
	return r < 0 ? r : 0;
}

/* Sends all of iov (consumed on the way); a peer that takes nothing for MIGRATE_IDLE_MS is gone. */
static int send_iov(struct migration *m, struct iovec *iov, int n)
{
	int64_t last = clock_now_ms();

	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w;
		int r;

		if (aborted(m))
			return -ECANCELED;
		w = sendmsg(m->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			r = io_wait(m, last, POLLOUT, true);
			if (r < 0)
				return r;
			continue;
		}
		last = clock_now_ms();
		account(m, (uint64_t)w, 0, 0);
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int send_rec(struct migration *m, uint32_t type, uint32_t count, uint64_t off,
		    const void *data, size_t len)
{
	uint8_t h[MIGRATE_REC];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)data, len } };

	put32(h, type);
	put32(h + 4, count);
	put64(h + 8, off);
	return send_iov(m, iov, len ? 2 : 1);
}

static int send_header(struct migration *m)
{
	uint8_t h[MIGRATE_HEADER];
	struct iovec iov = { h, sizeof(h) };

	memcpy(h, MIGRATE_MAGIC, 8);
	put32(h + 8, MIGRATE_VERSION);
	put32(h + 12, PAGE);
	put64(h + 16, m->vm->mem.map_size);
	return send_iov(m, &iov, 1);
}

/* ---- dirty tracking ---- */

static uint64_t slot_pages(const struct guest_mem *mem, unsigned i)
{
	return mem->region[i].size / PAGE;
}

/* The slot's first page among the map's pages (a multiple of 64: regions are aligned). */
static uint64_t slot_base(const struct guest_mem *mem, unsigned i)
{
	return (uint64_t)(mem->region[i].host - mem->map) / PAGE;
}

static size_t words_of(uint64_t pages)
{
	return (size_t)((pages + 63) / 64);
}

static int set_logging(struct migration *m, bool on)
{
	struct vm *vm = m->vm;

	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.region[i].host,
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

static int alloc_bitmaps(struct migration *m)
{
	const struct guest_mem *mem = &m->vm->mem;
	size_t all = words_of(mem->map_size / PAGE);

	if (!m->seen && !(m->seen = calloc(all, 8)))
		return -ENOMEM;
	if (!m->tmp_bm && !(m->tmp_bm = calloc(all, 8)))
		return -ENOMEM;
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (!m->kvm_bm[i] && !(m->kvm_bm[i] = calloc(words_of(slot_pages(mem, i)), 8)))
			return -ENOMEM;
	memset(m->seen, 0, all * 8);
	return 0;
}

/* ---- the dirty ring ---- */

static void ring_mark(struct migration *m, uint32_t slot, uint64_t off)
{
	const struct guest_mem *mem = &m->vm->mem;

	/* KVM's word, but checked: a bad entry must not write outside kvm_bm. */
	if ((slot >> 16) || slot >= mem->nr_regions || off >= slot_pages(mem, slot)) {
		if (!m->ring_warned)
			log_warn("migration: dirty ring entry for slot %u page %llu ignored", slot,
				 (unsigned long long)off);
		m->ring_warned = true;
		return;
	}
	m->kvm_bm[slot][off / 64] |= 1ULL << (off % 64);
}

/*
 * Takes every vCPU's dirty entries (into kvm_bm while tracking, else they
 * are dropped), hands them back to KVM, which re-protects their pages in
 * KVM_RESET_DIRTY_RINGS: a page is copied only after that, so a later
 * write shows in the ring again.  Wakes vCPUs waiting on a full ring.
 */
static int ring_harvest(struct migration *m)
{
	struct vm *vm = m->vm;
	uint32_t mask = vm->dirty_ring_entries - 1;
	uint64_t n = 0, cnt;
	int r = 0;

	/* Cleared first: a ring that fills during this harvest asks again. */
	atomic_store(&m->harvest_req, false);
	if (m->ring_efd >= 0 && read(m->ring_efd, &cnt, sizeof(cnt)) < 0) {
		/* Nothing pending. */
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->ring)
			continue;
		for (;;) {
			struct kvm_dirty_gfn *e = &v->ring[v->ring_fetch & mask];
			/* Acquire: the slot and offset are read after KVM published them. */
			uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

			if ((flags & KVM_DIRTY_GFN_F_MASK) != KVM_DIRTY_GFN_F_DIRTY)
				break;
			if (m->logging)
				ring_mark(m, e->slot, e->offset);
			/* Release: KVM may reuse the entry once it sees the flag. */
			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			v->ring_fetch++;
			n++;
		}
	}
	if (n && ioctl(vm->fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
		r = -errno;
	pthread_mutex_lock(&m->lock);
	m->ring_gen++;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* A vCPU asked for a harvest: now (migration thread, anywhere between two sends). */
static int ring_service(struct migration *m)
{
	if (!m->vm->dirty_ring_entries || !atomic_load(&m->harvest_req))
		return 0;
	return ring_harvest(m);
}

void vm_migrate_ring_full(struct vm *vm)
{
	struct migration *m = vm->migration;
	int64_t until = clock_now_ms() + 1000;
	uint64_t gen, one = 1;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	gen = m->ring_gen;
	m->st.ring_full_waits++;
	atomic_store(&m->harvest_req, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->ring_efd >= 0 && write(m->ring_efd, &one, sizeof(one)) < 0) {
		/* Saturated: a wake-up is pending anyway. */
	}
	pthread_mutex_lock(&m->lock);
	/* A pause or a stop does not signal m->cond: look again every 5 ms. */
	while (m->ring_gen == gen && !atomic_load(&vm->pause_req) &&
	       !vm_stop_requested(&vm->stop) && clock_now_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->cond, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
}

static void tracking_stop(struct migration *m)
{
	if (!m->logging)
		return;
	guest_mem_dirty_stop(&m->vm->mem);
	if (set_logging(m, false))
		log_warn("migration: cannot turn KVM's dirty log off: %s", strerror(errno));
	m->logging = false;
	/* Empty rings: a ring left soft-full would stop its vCPU on every entry. */
	if (m->vm->dirty_ring_entries && ring_harvest(m))
		log_warn("migration: KVM_RESET_DIRTY_RINGS: %s", strerror(errno));
}

/*
 * Turns dirty tracking on with the VM paused for a moment (device writes
 * through pointers taken before have landed), marking every page dirty:
 * round 0 sends them all.
 */
static int tracking_start(struct migration *m, char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	bool was_paused = vm_is_paused(vm);
	int r;

	r = alloc_bitmaps(m);
	if (r)
		return snprintf(err, errlen, "no memory for the dirty bitmaps"), r;
	r = vm_pause_hold(vm);
	if (r)
		return snprintf(err, errlen, "cannot pause the VM: %s",
				r == -ESHUTDOWN ? "it is stopping" : strerror(-r)), r;
	if (vm->dirty_ring_entries) {
		/* Leftovers predate this migration's tracking: dropped (not logging yet). */
		r = ring_harvest(m);
		if (r) {
			snprintf(err, errlen, "KVM_RESET_DIRTY_RINGS: %s", strerror(-r));
			vm_release(vm, !was_paused);
			return r;
		}
	} else if (!m->manual_tried) {
		int caps = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
				   (caps > 0 ? (unsigned)caps & KVM_DIRTY_LOG_INITIALLY_SET : 0),
		};

		m->manual_tried = true;
		m->manual = caps > 0 && ioctl(vm->fd, KVM_ENABLE_CAP, &cap) == 0;
		log_debug("migration: dirty log %s", m->manual ? "cleared by hand (manual protect)" :
			  "cleared by KVM_GET_DIRTY_LOG");
	}
	r = guest_mem_dirty_start(&vm->mem);
	if (!r)
		r = set_logging(m, true);
	if (r) {
		guest_mem_dirty_stop(&vm->mem);
		set_logging(m, false);
		snprintf(err, errlen, "cannot turn on dirty page tracking: %s", strerror(-r));
	} else {
		m->logging = true;
		pthread_mutex_lock(&m->lock);
		snprintf(m->st.dirty_tracking, sizeof(m->st.dirty_tracking), "%s",
			 vm->dirty_ring_entries ? "ring" : "bitmap");
		pthread_mutex_unlock(&m->lock);
		if (vm->dirty_ring_entries)
			log_info("migration: dirty tracking: ring (%u entries per vCPU)",
				 vm->dirty_ring_entries);
		else
			log_info("migration: dirty tracking: bitmap%s",
				 m->manual ? " (manual protect)" : "");
		for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
			uint64_t n = slot_pages(&vm->mem, i);

			memset(m->kvm_bm[i], 0xff, words_of(n) * 8);
			if (n % 64)
				m->kvm_bm[i][n / 64] = (1ULL << (n % 64)) - 1;
		}
	}
	vm_release(vm, !was_paused);
	return r;
}

/* Adds what KVM logged since the last call to kvm_bm. */
static int kvm_harvest(struct migration *m)
{
	struct vm *vm = m->vm;

	if (vm->dirty_ring_entries)
		return ring_harvest(m);
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		size_t nw = words_of(slot_pages(&vm->mem, i));
		struct kvm_dirty_log d = { .slot = i, .dirty_bitmap = m->tmp_bm };

		memset(m->tmp_bm, 0, nw * 8);
		if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &d) < 0)
			return -errno;
		for (size_t w = 0; w < nw; w++)
			m->kvm_bm[i][w] |= m->tmp_bm[w];
	}
	return 0;
}

static const char *harvest_name(const struct migration *m)
{
	return m->vm->dirty_ring_entries ? "KVM_RESET_DIRTY_RINGS" : "KVM_GET_DIRTY_LOG";
}

static uint64_t dev_bits(struct migration *m, uint64_t word, bool final)
{
	uint64_t d = __atomic_load_n(&m->vm->mem.dirty[word], __ATOMIC_ACQUIRE);

	if (!final)
		d &= ~m->seen[word];
	m->seen[word] |= d;
	return d;
}

/* Pages a round would send: KVM's and the device marks not sent yet (all of them: final). */
static uint64_t count_dirty(struct migration *m, bool final)
{
	const struct guest_mem *mem = &m->vm->mem;
	uint64_t n = 0;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		uint64_t base = slot_base(mem, i) / 64;
		size_t nw = words_of(slot_pages(mem, i));

		for (size_t w = 0; w < nw; w++) {
			uint64_t d = __atomic_load_n(&mem->dirty[base + w], __ATOMIC_RELAXED);

			if (!final)
				d &= ~m->seen[base + w];
			n += (uint64_t)__builtin_popcountll(m->kvm_bm[i][w] | d);
		}
	}
	return n;
}

/* A run of pages of one kind (data or zero) waiting to be sent. */
struct run {
	uint64_t first, count;		/* map pages */
	bool zero;
};

static int flush_run(struct migration *m, struct run *run)
{
	const uint8_t *map = m->vm->mem.map;
	int r;

	if (!run->count)
		return 0;
	if (run->zero)
		r = send_rec(m, MIGRATE_REC_ZERO, (uint32_t)run->count, run->first * PAGE, NULL, 0);
	else
		r = send_rec(m, MIGRATE_REC_PAGES, (uint32_t)run->count, run->first * PAGE,
			     map + run->first * PAGE, run->count * PAGE);
	if (!r)
		account(m, 0, run->zero ? 0 : run->count, run->count * PAGE);
	run->count = 0;
	return r;
}

static int add_page(struct migration *m, struct run *run, uint64_t page, bool zero)
{
	int r = 0;

	if (run->count && (run->zero != zero || run->first + run->count != page ||
			   (!zero && run->count == MIGRATE_PAGES_MAX) || run->count == 0xffffffffu))
		r = flush_run(m, run);
	if (!run->count) {
		run->first = page;
		run->zero = zero;
	}
	run->count++;
	return r;
}

/*
 * Pages present in the process (or in the file behind RAM): round 0 skips
 * the others without reading them, the destination's RAM starts zero.
 */
static void present_pages(struct migration *m, int pm, uint64_t first, uint64_t n,
			  uint64_t *ent)
{
	const struct guest_mem *mem = &m->vm->mem;
	off_t at = (off_t)(((uintptr_t)mem->map / PAGE + first) * sizeof(ent[0]));

	if (pm < 0 || pread(pm, ent, n * sizeof(ent[0]), at) != (ssize_t)(n * sizeof(ent[0])))
		for (uint64_t j = 0; j < n; j++)
			ent[j] = PM_PRESENT;
}

/* Sends the pages of kvm_bm and the device marks; round 0 skips zero pages. */
static int send_round(struct migration *m, bool round0, bool final, int pm)
{
	struct vm *vm = m->vm;
	struct guest_mem *mem = &vm->mem;
	uint64_t *ent = m->ent;
	struct run run = { 0, 0, false };
	int r = 0;

	for (unsigned i = 0; i < mem->nr_regions && !r; i++) {
		uint64_t np = slot_pages(mem, i), base = slot_base(mem, i);

		for (uint64_t c = 0; c < np && !r; c += CHUNK_PAGES) {
			uint64_t n = np - c < CHUNK_PAGES ? np - c : CHUNK_PAGES;
			uint64_t *bm = &m->kvm_bm[i][c / 64], any = 0;
			size_t nw = words_of(n);

			if (aborted(m))
				return -ECANCELED;
			r = ring_service(m);
			if (r)
				return r;
			for (size_t w = 0; w < nw; w++)
				any |= bm[w];
			/* Cleared before the copy: a write after it shows in the next round. */
			if (m->manual && any) {
				struct kvm_clear_dirty_log cl = {
					.slot = i, .num_pages = (uint32_t)n, .first_page = c,
					.dirty_bitmap = bm,
				};

				if (ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &cl) < 0)
					return -errno;
			}
			if (round0)
				present_pages(m, pm, base + c, n, ent);
			for (size_t w = 0; w < nw && !r; w++) {
				uint64_t bits = bm[w] | dev_bits(m, (base + c) / 64 + w, final);

				bm[w] = 0;
				while (bits && !r) {
					uint64_t j = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
					uint64_t page = base + c + j;
					bool zero;

					bits &= bits - 1;
					if (round0 && !(ent[j] & (PM_PRESENT | PM_SWAPPED))) {
						account(m, 0, 0, PAGE);
						continue;
					}
					zero = guest_page_zero(mem->map + page * PAGE);
					if (round0 && zero) {
						account(m, 0, 0, PAGE);
						continue;
					}
					r = add_page(m, &run, page, zero);
				}
			}
		}
	}
	if (!r)
		r = flush_run(m, &run);
	return r;
}

/* One round: what is dirty now, sent; *next gets the estimate of what the next round holds. */
static int round_once(struct migration *m, bool round0, bool final, int pm, char *err,
		      size_t errlen)
{
	int r = round0 ? 0 : kvm_harvest(m);

	if (r)
		return snprintf(err, errlen, "%s: %s", harvest_name(m), strerror(-r)), r;
	pthread_mutex_lock(&m->lock);
	m->st.remaining_bytes = count_dirty(m, final) * PAGE;
	m->st.iterations++;
	pthread_mutex_unlock(&m->lock);
	r = send_round(m, round0, final, pm);
	if (r == -ECANCELED)
		return abort_reason(m, err, errlen);
	if (r)
		snprintf(err, errlen, "sending RAM: %s", strerror(-r));
	return r;
}

/* Rounds with the guest running, until the rest fits the downtime limit. */
static int precopy(struct migration *m, char *err, size_t errlen)
{
	const struct guest_mem *mem = &m->vm->mem;
	bool anon = mem->memfd < 0 && mem->backing_fd < 0 && !mem->hugetlb;
	int pm = anon ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
	double bw = 0;			/* bytes per ms */
	int r = 0;

	for (unsigned round = 0; round < MAX_ROUNDS && !r; round++) {
		uint64_t t0 = clock_now_ns(), limit, dirty;

		m->sent_bytes = 0;
		r = round_once(m, round == 0, false, pm, err, errlen);
		if (r)
			break;
		uint64_t ns = clock_now_ns() - t0;

		if (m->sent_bytes > (1u << 20) || bw == 0)
			bw = (double)m->sent_bytes / ((double)(ns ? ns : 1) / 1e6);
		r = kvm_harvest(m);
		if (r) {
			snprintf(err, errlen, "%s: %s", harvest_name(m), strerror(-r));
			break;
		}
		pthread_mutex_lock(&m->lock);
		limit = m->st.downtime_limit_ms;
		dirty = count_dirty(m, true) * PAGE;
		m->st.remaining_bytes = dirty;
		pthread_mutex_unlock(&m->lock);
		log_debug("migration: round %u sent %llu KiB in %.1f ms; %llu KiB dirty", round,
			  (unsigned long long)(m->sent_bytes >> 10), (double)ns / 1e6,
			  (unsigned long long)(dirty >> 10));
		if ((double)dirty <= bw * (double)limit)
			break;
	}
	if (pm >= 0)
		close(pm);
	return r;
}

static int send_state(struct migration *m, char *err, size_t errlen)
{
	struct state_writer w;
	uint8_t crc[4];
	int r;

	state_writer_init(&w);
	r = snapshot_state_build(m->vm, &w, err, errlen);
	if (!r && w.len > SNAPSHOT_STATE_MAX)
		r = -EFBIG, snprintf(err, errlen, "the state is %zu bytes, at most %u", w.len,
				     SNAPSHOT_STATE_MAX);
	if (!r) {
		put32(crc, snapshot_crc32c(0, w.data, w.len));
		r = send_rec(m, MIGRATE_REC_STATE, 0, w.len, w.data, w.len);
		if (!r) {
			struct iovec iov = { crc, sizeof(crc) };

			r = send_iov(m, &iov, 1);
		}
		if (r == -ECANCELED)
			r = abort_reason(m, err, errlen);
		else if (r)
			snprintf(err, errlen, "sending the state: %s", strerror(-r));
	}
	state_writer_free(&w);
	return r;
}

/* Reads n bytes; only a stop (not a cancel) interrupts: the destination may be starting the guest. */
static int recv_all(struct migration *m, void *buf, size_t n)
{
	int64_t last = clock_now_ms();
	uint8_t *b = buf;

	while (n) {
		ssize_t got = recv(m->fd, b, n, MSG_DONTWAIT);
		int r;

		if (got == 0)
			return -ECONNRESET;
		if (got > 0) {
			b += got;
			n -= (size_t)got;
			last = clock_now_ms();
			continue;
		}
		r = io_wait(m, last, POLLIN, false);
		if (r < 0)
			return r;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The destination's answer: 0 once it has the guest, else -errno with its reason. */
static int wait_answer(struct migration *m, char *err, size_t errlen)
{
	uint8_t h[8];
	char msg[MIGRATE_MSG_MAX];
	uint32_t status, len;
	int r = recv_all(m, h, sizeof(h));

	if (r) {
		if (r == -ECANCELED)
			return abort_reason(m, err, errlen);
		return snprintf(err, errlen, "no answer from the destination: %s",
				r == -ECONNRESET ? "the connection closed" : strerror(-r)), r;
	}
	status = get32(h);
	len = get32(h + 4);
	if (len >= sizeof(msg) || status > 4095)
		return snprintf(err, errlen, "the destination answered garbage"), -EPROTO;
	r = recv_all(m, msg, len);
	if (r)
		return snprintf(err, errlen, "the destination's answer was cut short"), -EPROTO;
	msg[len] = '\0';
	for (uint32_t i = 0; i < len; i++)
		if (msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if (status)
		return snprintf(err, errlen, "the destination refused: %.200s",
				len ? msg : strerror((int)status)), -(int)status;
	return 0;
}

static void run_migration(struct migration *m)
{
	struct vm *vm = m->vm;
	char err[sizeof(m->st.error)] = "";
	bool paused_by_us = false, held = false;
	uint64_t t0 = clock_now_ns(), tp = 0;
	int r;

	set_state(m, MIGRATE_SETUP, NULL);
	r = connect_uri(m, err, sizeof(err));
	if (!r && (r = send_header(m)))
		snprintf(err, sizeof(err), "sending the header: %s",
			 r == -ECANCELED ? "cancelled" : strerror(-r));
	if (!r)
		r = tracking_start(m, err, sizeof(err));
	if (!r) {
		set_state(m, MIGRATE_ACTIVE, NULL);
		r = precopy(m, err, sizeof(err));
	}
	if (!r) {
		bool was_paused = vm_is_paused(vm);

		tp = clock_now_ns();
		/* Held: a `cont` now would send a moving machine's state. */
		r = vm_pause_hold(vm);
		if (r)
			snprintf(err, sizeof(err), "cannot pause the VM: %s",
				 r == -ESHUTDOWN ? "it is stopping" : strerror(-r));
		held = !r;
		paused_by_us = !r && !was_paused;
	}
	/* Paused: the last dirty pages, every page a device touched, the state. */
	if (!r)
		r = round_once(m, false, true, -1, err, sizeof(err));
	if (!r)
		r = send_state(m, err, sizeof(err));
	if (!r)
		r = wait_answer(m, err, sizeof(err));
	pthread_mutex_lock(&m->lock);
	m->st.total_ms = (clock_now_ns() - t0) / 1000000u;
	if (!r)
		m->st.downtime_ms = (clock_now_ns() - tp) / 1000000u;
	m->st.remaining_bytes = r ? m->st.remaining_bytes : 0;
	pthread_mutex_unlock(&m->lock);
	if (!r) {
		set_state(m, MIGRATE_COMPLETED, NULL);
		if (log_threshold >= LOG_WARN)
			fprintf(stderr, "kvmrun: the guest moved to %s (%llu MiB sent in %llu ms, "
				"paused for %llu ms)\n", m->uri,
				(unsigned long long)(m->st.transferred_bytes >> 20),
				(unsigned long long)m->st.total_ms,
				(unsigned long long)m->st.downtime_ms);
		vm_stop_request(&vm->stop, STOP_MIGRATED, EXIT_GUEST_OFF);
		vm_release(vm, false);
	} else {
		tracking_stop(m);
		if (held)
			vm_release(vm, paused_by_us);
		if (atomic_load(&m->cancel) && !vm_stop_requested(&vm->stop)) {
			set_state(m, MIGRATE_CANCELLED, "cancelled");
			log_info("migration to %s cancelled; the guest goes on here", m->uri);
		} else {
			set_state(m, MIGRATE_FAILED, err);
			log_err("migration to %s failed: %s%s", m->uri, err,
				vm_stop_requested(&vm->stop) ? "" : "; the guest goes on here");
		}
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

static void *migrate_thread(void *arg)
{
	struct migration *m = arg;

	pthread_setname_np(pthread_self(), "migrate");
	if (sandbox_enter(SANDBOX_MIGRATE, "migrate")) {
		vm_stop_request(&m->vm->stop, STOP_ERROR, EXIT_VMM_ERROR);
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->quit && !m->request && !atomic_load(&m->harvest_req))
			pthread_cond_wait(&m->cond, &m->lock);
		if (m->quit)
			break;
		if (!m->request) {
			/* No migration: a full ring (left over) is emptied, its entries dropped. */
			pthread_mutex_unlock(&m->lock);
			int r = ring_service(m);

			if (r)
				log_warn("KVM_RESET_DIRTY_RINGS: %s", strerror(-r));
			pthread_mutex_lock(&m->lock);
			continue;
		}
		m->request = false;
		pthread_mutex_unlock(&m->lock);
		run_migration(m);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- the API ---- */

int vm_migrate_create(struct vm *vm)
{
	struct migration *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->vm = vm;
	m->fd = -1;
	m->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->ring_efd < 0) {
		free(m);
		return -errno;
	}
	m->st.downtime_limit_ms = MIGRATE_DOWNTIME_DEFAULT_MS;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	vm->migration = m;
	return 0;
}

int vm_migrate_thread_start(struct vm *vm)
{
	struct migration *m = vm->migration;
	int r;

	if (!m || m->thread_started)
		return m ? 0 : -EINVAL;
	r = pthread_create(&m->thread, NULL, migrate_thread, m);
	if (r)
		return -r;
	pthread_mutex_lock(&m->lock);
	m->thread_started = true;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void vm_migrate_stop(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->quit = true;
	atomic_store(&m->cancel, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	m->thread_started = false;
}

void vm_migrate_destroy(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (!m)
		return;
	vm_migrate_stop(vm);
	for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
		free(m->kvm_bm[i]);
	free(m->tmp_bm);
	free(m->seen);
	close(m->ring_efd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	vm->migration = NULL;
}

int vm_migrate_start(struct vm *vm, const char *uri, char *err, size_t errlen)
{
	struct migration *m = vm->migration;
	struct sockaddr_storage ss;
	socklen_t len;
	int r;

	if (!m)
		return snprintf(err, errlen, "migrate: no VM"), -ENODEV;
	r = migrate_uri_addr(uri, &ss, &len, err, errlen);
	if (r)
		return r;
	if (strlen(uri) >= sizeof(m->uri))
		return snprintf(err, errlen, "migrate: the URI is too long"), -EINVAL;
	/* Resumed on the other side, its vCPUs would run past the sleep, not at the waking vector. */
	if (atomic_load(&vm->asleep))
		return snprintf(err, errlen, "migrate: the guest is asleep (S3): migrate it once it wakes"),
		       -EBUSY;
	for (unsigned i = 0; i < vm->devices.nr; i++) {
		const struct vm_device *dv = &vm->devices.v[i];
		const char *why = dv->ops->live_blocker ? dv->ops->live_blocker(dv->dev) : NULL;

		if (why)
			return snprintf(err, errlen, "migrate: %s cannot be migrated live: %s",
					dv->name, why), -ENOTSUP;
	}
	pthread_mutex_lock(&m->lock);
	if (!m->thread_started || m->quit || vm_stop_requested(&vm->stop)) {
		r = -ESHUTDOWN;
		snprintf(err, errlen, "migrate: the VM is not running");
	} else if (m->request || m->st.state == MIGRATE_SETUP || m->st.state == MIGRATE_ACTIVE) {
		r = -EBUSY;
		snprintf(err, errlen, "migrate: a migration is already in progress");
	} else {
		uint64_t limit = m->st.downtime_limit_ms;

		memcpy(m->uri, uri, strlen(uri) + 1);
		memset(&m->st, 0, sizeof(m->st));
		m->st.state = MIGRATE_SETUP;
		m->st.downtime_limit_ms = limit;
		m->st.total_bytes = vm->mem.total;
		atomic_store(&m->cancel, false);
		m->request = true;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void vm_migrate_cancel(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->request || m->st.state == MIGRATE_SETUP || m->st.state == MIGRATE_ACTIVE)
		atomic_store(&m->cancel, true);
	pthread_mutex_unlock(&m->lock);
}

void vm_migrate_query(struct vm *vm, struct migrate_status *st)
{
	struct migration *m = vm ? vm->migration : NULL;

	memset(st, 0, sizeof(*st));
	st->downtime_limit_ms = MIGRATE_DOWNTIME_DEFAULT_MS;
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	pthread_mutex_unlock(&m->lock);
}

int vm_migrate_set_downtime(struct vm *vm, uint64_t ms)
{
	struct migration *m = vm->migration;

	if (!ms || ms > 2000000)
		return -EINVAL;
	if (!m)
		return -ENODEV;
	pthread_mutex_lock(&m->lock);
	m->st.downtime_limit_ms = ms;
	pthread_mutex_unlock(&m->lock);
	return 0;
}
