/*
 * Snapshots: a VM's whole state written to a directory and read back.
 *
 * DIR/state   versioned, checksummed: configuration, KVM VM state (irqchip,
 *             PIT, clock), every vCPU, every device (device_list_save)
 * DIR/memory  guest RAM, region after region, sparse: holes for zero pages
 *
 * Disk images are not copied: they are flushed, and the user owns them.
 */
#ifndef KVMRUN_SNAPSHOT_H
#define KVMRUN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct vm;

/* A guest asks for a snapshot at an exact point by writing any value to this port. */
#define SNAPSHOT_PORT	0x5f0

/*
 * Pauses the VM (if it runs), writes the snapshot into dir (created; an
 * existing snapshot there is replaced only once the new one is complete),
 * and resumes unless stay_paused.  Any thread but a vCPU's.  0, or -errno
 * with one line in err.
 */
int vm_snapshot_save(struct vm *vm, const char *dir, bool stay_paused, char *err, size_t errlen);

#endif
