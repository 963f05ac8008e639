/* Live migration (migrate.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kvmrun/migrate.h"
#include "kvmrun/vm.h"

const char *migrate_state_name(enum migrate_state s)
{
	static const char *const names[] = {
		[MIGRATE_NONE] = "none", [MIGRATE_SETUP] = "setup", [MIGRATE_ACTIVE] = "active",
		[MIGRATE_COMPLETED] = "completed", [MIGRATE_FAILED] = "failed",
		[MIGRATE_CANCELLED] = "cancelled",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "none";
}

int vm_migrate_start(struct vm *vm, const char *uri, char *err, size_t errlen)
{
	(void)vm;
	snprintf(err, errlen, "%s: migration is not implemented yet", uri);
	return -ENOSYS;
}

void vm_migrate_cancel(struct vm *vm)
{
	(void)vm;
}

void vm_migrate_query(struct vm *vm, struct migrate_status *st)
{
	(void)vm;
	memset(st, 0, sizeof(*st));
	st->downtime_limit_ms = MIGRATE_DOWNTIME_DEFAULT_MS;
}

int vm_migrate_set_downtime(struct vm *vm, uint64_t ms)
{
	(void)vm;
	return ms ? 0 : -EINVAL;
}
