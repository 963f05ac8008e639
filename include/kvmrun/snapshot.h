/*
 * Snapshots: a VM's whole state written to a directory and read back.
 *
 * DIR/state   "KVMRUNSS", format version, payload length, the payload
 *             (sections: configuration, memory layout, KVM VM state,
 *             vCPUs, devices), CRC-32C of everything before it
 * DIR/memory  a 4 KiB header ("KVMRUNMM", the snapshot's id), then guest
 *             RAM as one image, sparse: holes where pages are zero
 *
 * Disk images are not copied: they are flushed, and the user owns them.
 * Live migration sends the same payload after the RAM (migrate.c).
 */
#ifndef KVMRUN_SNAPSHOT_H
#define KVMRUN_SNAPSHOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/config.h"
#include "kvmrun/devices.h"
#include "kvmrun/mem.h"
#include "kvmrun/state.h"

struct vm;

#define SNAPSHOT_VERSION	1
#define SNAPSHOT_STATE_MAX	(64u << 20)	/* a state file above this is not ours */
#define SNAPSHOT_MEM_HEADER	4096u		/* RAM starts at this offset of DIR/memory */

/*
 * Pauses the VM (if it runs), writes the snapshot into dir (created if
 * missing; the files of a snapshot already there are replaced only once
 * the new ones are complete), and resumes unless stay_paused.  Any thread
 * but a vCPU's.  0, or -errno with one line in err.
 */
int vm_snapshot_save(struct vm *vm, const char *dir, bool stay_paused, char *err, size_t errlen);

/*
 * The state payload of a paused VM: configuration, memory layout, KVM
 * state, vCPUs, devices.  0 or -errno with one line in err.
 */
int snapshot_state_build(struct vm *vm, struct state_writer *w, char *err, size_t errlen);

/* A checked snapshot directory, before a VM exists for it. */
struct snapshot {
	uint8_t *payload;		/* the state file's payload, checksum verified */
	size_t payload_len;
	struct vm_config cfg;		/* the machine it was taken of */
	char serial_path[PATH_MAX];
	uint64_t disk_size[MAX_DISKS];	/* each disk's size when it was taken */
	uint8_t id[16];			/* the memory file must carry the same */
	int mem_fd;			/* DIR/memory, -1 for a migration stream */
	struct mem_file mem_file;
};

/*
 * Reads and checks DIR/state and DIR/memory: format version, checksum,
 * sizes, the two files belonging together.  0, or -errno with one line.
 */
int snapshot_open(struct snapshot *s, const char *dir, char *err, size_t errlen);
/*
 * A state file's header and checksum; its payload starts at byte 24.  0, or
 * -EINVAL with one line (not a snapshot, a newer format, truncated, corrupt).
 */
int snapshot_check_file(const uint8_t *file, size_t len, size_t *payload_len, char *err,
			size_t errlen);
/* The payload's configuration and memory records (also for a migration stream). */
int snapshot_parse(struct snapshot *s, uint8_t *payload, size_t len, char *err, size_t errlen);
void snapshot_close(struct snapshot *s);

/*
 * The configuration to rebuild the machine: the snapshot's, with the
 * command line's run-time options and its replacements for disks (the
 * same number, the same sizes), the tap and the serial output.  0 or
 * -EINVAL with one line in err.
 */
int snapshot_config(const struct snapshot *s, const struct vm_config *cli, struct vm_config *out,
		    char *err, size_t errlen);

/*
 * Puts the snapshot's state into a VM created (vm_create) from
 * snapshot_config with RAM already holding the guest's: builds the
 * devices and vCPUs, restores devices, KVM state and vCPUs.  0, or -errno
 * with one line in err.
 */
int snapshot_restore(struct vm *vm, const struct snapshot *s, char *err, size_t errlen);

/*
 * Checks the KVM and vCPU records without KVM and restores the device
 * records into devices (a machine built for s->cfg): the fuzz target's way
 * through a payload.  0 or -errno.
 */
int snapshot_check_payload(const struct snapshot *s, struct device_list *devices, char *err,
			   size_t errlen);

/* Writes the state file (checksummed) for payload to dir/name.  0 or -errno. */
int snapshot_write_state_file(int dirfd, const char *name, const struct state_writer *payload);

/* Size of a disk image file or block device, as the guest sees it.  0 or -errno. */
int snapshot_disk_size(const char *path, uint64_t *size);

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (0 to start). */
uint32_t snapshot_crc32c(uint32_t crc, const void *p, size_t len);

#endif
