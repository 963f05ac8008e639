/*
 * The VM's teardown off kvmrun's exit path.  When the last reference to a
 * VM goes, KVM unregisters the in-kernel PIC, IOAPIC and PIT, and each
 * unregistered device waits for an SRCU grace period: about 20 ms of
 * sleeping (no CPU) on these hosts, most of a whole run of a small guest.
 * A reaper, a small child forked right after KVM_CREATE_VM, holds a second
 * reference to the VM and nothing else (every other fd closed, strict
 * seccomp).  kvmrun's own close is then cheap; when kvmrun closes its end
 * of the reaper's socket (or exits, however it does), the reaper exits and
 * the kernel drops the last reference there, after kvmrun's caller already
 * has its exit status.  Every side effect the caller can see (outputs, disk
 * data, taps) is still finished before kvmrun exits.
 */
#ifndef KVMRUN_REAPER_H
#define KVMRUN_REAPER_H

#include <sys/types.h>

struct vm_reaper {
	pid_t pid;	/* 0: none (the teardown stays on kvmrun's exit path) */
	int sock;	/* kvmrun's end: closing it releases the reaper */
};

/* Forks the reaper holding vm_fd; on failure r->pid stays 0 (and says so with -v). */
void vm_reaper_start(struct vm_reaper *r, int vm_fd);
/* kvmrun has closed its VM fd: the reaper drops the last reference, in its own time. */
void vm_reaper_release(struct vm_reaper *r);

#endif
