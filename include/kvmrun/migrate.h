/*
 * Live migration: pre-copy of guest RAM with KVM dirty logging, then the
 * device and vCPU state, over a UNIX or TCP stream.
 */
#ifndef KVMRUN_MIGRATE_H
#define KVMRUN_MIGRATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vm;

enum migrate_state {
	MIGRATE_NONE,
	MIGRATE_SETUP,
	MIGRATE_ACTIVE,
	MIGRATE_COMPLETED,
	MIGRATE_FAILED,
	MIGRATE_CANCELLED,
};

#define MIGRATE_DOWNTIME_DEFAULT_MS	300

struct migrate_status {
	enum migrate_state state;
	uint64_t total_bytes;		/* guest RAM */
	uint64_t transferred_bytes;	/* on the wire so far */
	uint64_t remaining_bytes;	/* dirty RAM not sent yet */
	uint64_t pages_sent;
	uint64_t iterations;		/* dirty-log passes */
	uint64_t downtime_ms;		/* paused time, once completed */
	uint64_t total_ms;
	uint64_t downtime_limit_ms;
	char dirty_tracking[8];		/* "ring" or "bitmap" once tracking started */
	uint64_t ring_full_waits;	/* vCPUs that waited for a harvest (full ring) */
	char error[256];		/* MIGRATE_FAILED: why */
};

/* QMP's names for the states ("none", "setup", "active", "completed", "failed", "cancelled"). */
const char *migrate_state_name(enum migrate_state s);

/*
 * Starts migrating to uri ("unix:PATH" or "tcp:HOST:PORT") on a thread of
 * its own.  0, -EBUSY while one is active, or -errno with one line in err.
 */
int vm_migrate_start(struct vm *vm, const char *uri, char *err, size_t errlen);
void vm_migrate_cancel(struct vm *vm);
void vm_migrate_query(struct vm *vm, struct migrate_status *st);
/* migrate-set-parameters downtime-limit: 0 or -EINVAL. */
int vm_migrate_set_downtime(struct vm *vm, uint64_t ms);

/*
 * The migration's bookkeeping, made by vm_create (0 or -ENOMEM) and
 * freed by vm_destroy.  vm_migrate_thread_start starts the sending thread
 * (vm_run does, while it may still create threads: before the main
 * thread's seccomp filter; the thread enters its own).  vm_migrate_stop
 * ends a migration in progress (the guest resumes unless it moved) and
 * joins the thread; vm_run's teardown calls it, within the stop bound.
 */
int vm_migrate_create(struct vm *vm);
int vm_migrate_thread_start(struct vm *vm);
void vm_migrate_stop(struct vm *vm);
void vm_migrate_destroy(struct vm *vm);

/*
 * A vCPU thread's KVM_EXIT_DIRTY_RING_FULL: asks the migration thread to
 * harvest the rings and waits until it did, a pause or a stop is
 * requested, or 1 s passed; then the vCPU goes back to KVM_RUN (which
 * exits again while its ring is still full).
 */
void vm_migrate_ring_full(struct vm *vm);

/*
 * The stream, little-endian:
 *   header   "KVMRUNMG", u32 version, u32 page size (4096), u64 RAM bytes
 *   records  u32 type, u32 count, u64 offset (bytes into RAM, page-aligned)
 *     PAGES  count pages of data follow (count <= MIGRATE_PAGES_MAX)
 *     ZERO   the count pages at offset are zero now
 *     STATE  the last record: count 0, offset = the state payload's length
 *            (snapshot_state_build, <= SNAPSHOT_STATE_MAX); the payload and
 *            its CRC-32C (u32) follow
 *   answer   destination -> source, once the state is restored: u32 errno
 *            (0: the guest runs here now), u32 length (< 256), a message
 */
#define MIGRATE_MAGIC		"KVMRUNMG"
#define MIGRATE_VERSION		1
#define MIGRATE_PAGE		4096u
#define MIGRATE_HEADER		24u
#define MIGRATE_REC		16u
#define MIGRATE_REC_PAGES	1u
#define MIGRATE_REC_ZERO	2u
#define MIGRATE_REC_STATE	3u
#define MIGRATE_PAGES_MAX	256u
#define MIGRATE_MSG_MAX		256u
/* No byte for this long: the other side is gone. */
#define MIGRATE_IDLE_MS		30000

/* The socket address of "unix:PATH" or "tcp:HOST:PORT" (no name lookups).  0 or -EINVAL. */
int migrate_uri_addr(const char *uri, struct sockaddr_storage *ss, socklen_t *len, char *err,
		     size_t errlen);

/* ---- the destination (migrate_in.c) ---- */

/*
 * Listens on uri (unix:PATH: refused if PATH exists and is not a socket
 * nobody listens on; tcp:HOST:PORT, HOST an IP address or localhost).
 * The listening fd, or -errno with one line in err.
 */
int migrate_listen(const char *uri, char *err, size_t errlen);
/* Closes the listening fd and removes a unix: socket's file. */
void migrate_unlisten(const char *uri, int lfd);
/*
 * Waits for the source's connection; gives up on a signal read from sigfd
 * (-EINTR) or after timeout_ms (-ETIMEDOUT; < 0: no limit).  The
 * connection's fd, or -errno with one line in err.
 */
int migrate_accept(int lfd, int sigfd, int timeout_ms, char *err, size_t errlen);
/*
 * Receives a migration on fd into vm (vm_create'd from the local
 * configuration, no devices yet): RAM, then the state, checks that the
 * source's machine is the local one (vCPUs, memory, transport, disks and
 * their sizes, rng, network, console), restores it and answers the source.
 * 0: the guest is here, vm_run it; or -errno with one line in err, which
 * the source was told too (it resumes the guest).
 */
int migrate_receive(struct vm *vm, int fd, char *err, size_t errlen);

#endif
