/* Snapshot writer and reader (snapshot.h). */
#include <errno.h>
#include <stdio.h>

#include "kvmrun/snapshot.h"
#include "kvmrun/vm.h"

int vm_snapshot_save(struct vm *vm, const char *dir, bool stay_paused, char *err, size_t errlen)
{
	(void)vm;
	(void)stay_paused;
	snprintf(err, errlen, "%s: snapshots are not implemented yet", dir);
	return -ENOSYS;
}
