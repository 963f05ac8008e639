/*
 * Live migration: pre-copy of guest RAM with KVM dirty logging, then the
 * device and vCPU state, over a UNIX or TCP stream.
 */
#ifndef KVMRUN_MIGRATE_H
#define KVMRUN_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

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

#endif
