/*
 * The seccomp sandbox: after set-up, every thread runs under an allow-list
 * of the system calls its role needs (ioctl narrowed to a list of request
 * numbers).  A forbidden call raises SIGSYS: one line on stderr naming the
 * thread and the call, then the process dies by SIGSYS.  `--seccomp off`
 * turns it off for debugging.
 */
#ifndef KVMRUN_SANDBOX_H
#define KVMRUN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* Sanitizer builds leave the main thread unfiltered (LeakSanitizer's exit check needs it). */
#ifdef KVMRUN_SANITIZE
#define SANDBOX_MAIN_FILTERED	false
#else
#define SANDBOX_MAIN_FILTERED	true
#endif

enum sandbox_role {
	SANDBOX_VCPU,		/* KVM_RUN loop: exits, device registers */
	SANDBOX_DEVICE,		/* virtio worker: queue I/O on images, taps, the console */
	SANDBOX_MAIN,		/* poll loop: console, signals, timeout; then teardown */
	SANDBOX_SINK,		/* guest output writer (sink.h) */
	SANDBOX_WATCHDOG,	/* the stop bound (watchdog.h) */
	SANDBOX_CONTROL,	/* the control socket (control.h): clients, commands, snapshots */
	SANDBOX_MIGRATE,	/* a live migration's sender (migrate.h): socket, dirty log, state */
	SANDBOX_NR_ROLES,
};

/*
 * Called once by the main thread before any other thread exists: sets
 * no_new_privs and the SIGSYS reporter when on.  0 or -errno.
 */
int sandbox_setup(bool on);
bool sandbox_on(void);

/*
 * Puts the calling thread under its role's filter; name is what the SIGSYS
 * line calls it ("vcpu0", "virtio-blk").  No-op when the sandbox is off.
 * 0 or -errno (the caller stops the VM: running unfiltered is not an option).
 */
int sandbox_enter(enum sandbox_role role, const char *name);

/* Allow-list of a role (for `kvmrun info`, the README table and tests). */
size_t sandbox_syscalls(enum sandbox_role role, const int **nrs);
size_t sandbox_ioctls(enum sandbox_role role, const unsigned long **reqs);
const char *sandbox_role_name(enum sandbox_role role);

#endif
