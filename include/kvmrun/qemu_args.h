/*
 * The QEMU-compatible front: the subset of qemu-system-x86_64's command line
 * that test tools (kunit.py, kvm-unit-tests, virtme-ng) use, turned into a
 * struct vm_config.  Pure: argv in, a config or a one-line error out.
 */
#ifndef KVMRUN_QEMU_ARGS_H
#define KVMRUN_QEMU_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "kvmrun/config.h"

/* The QEMU release whose command-line syntax the front follows (-version prints it). */
#define QEMU_ARGS_COMPAT_VERSION	"7.2.0"

#define QEMU_ARGS_NOTES		8
#define QEMU_ARGS_NOTE_LEN	160

struct qemu_args {
	struct vm_config cfg;
	const char *pidfile;		/* -pidfile: written at start, removed at exit */
	const char *name;		/* -name: accepted, kvmrun has no use for it */
	/* What was accepted but not done (-bios, -m slots=, -smp topology): said with -v. */
	char notes[QEMU_ARGS_NOTES][QEMU_ARGS_NOTE_LEN];
	unsigned nr_notes;
	bool device_help;		/* -device help (or ?): list the devices, as QEMU does */
};

/* Is argv[0] a name that selects this front (qemu-system-x86_64, qemu-system-kvmrun)? */
bool qemu_args_invoked_as(const char *argv0);

/*
 * Parses QEMU options argv[first..argc-1] into qa.  Returns 0, or -EINVAL
 * after writing one line naming the offending option into err.
 */
int qemu_args_parse(struct qemu_args *qa, int argc, char **argv, int first,
		    char *err, size_t errlen);

/* -help's text. */
extern const char qemu_args_usage_text[];
/* -device help: the devices in QEMU's format (tools grep it for "pc-testdev"). */
extern const char qemu_args_device_list[];

#endif
