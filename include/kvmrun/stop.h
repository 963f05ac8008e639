/*
 * Why and how a VM stops.  The first request wins; later ones are ignored,
 * except that a signal overrides a reset (src/stop.c says why).
 * Devices get a stop handle instead of the whole VM so they can be tested alone.
 */
#ifndef KVMRUN_STOP_H
#define KVMRUN_STOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

enum stop_reason {
	STOP_NONE,
	STOP_POWEROFF,		/* guest powered off */
	STOP_RESET,		/* guest reset: keyboard controller, triple fault, ... */
	STOP_DEBUG_EXIT,	/* guest wrote the debug-exit port */
	STOP_TIMEOUT,
	STOP_SIGNAL,
	STOP_USER,		/* Ctrl-A x */
	STOP_ERROR,		/* VMM or unrecoverable guest error */
	STOP_MIGRATED,		/* the guest runs on a migration's destination now: status 0 */
};

struct vm_stop {
	pthread_mutex_t lock;
	atomic_bool requested;
	enum stop_reason reason;
	int status;
	int efd;		/* eventfd that wakes the main loop */
};

int vm_stop_init(struct vm_stop *s);
void vm_stop_destroy(struct vm_stop *s);

/* Records the first stop request (or a signal after a reset) and wakes the main loop. */
void vm_stop_request(struct vm_stop *s, enum stop_reason reason, int status);

static inline bool vm_stop_requested(struct vm_stop *s)
{
	return atomic_load_explicit(&s->requested, memory_order_acquire);
}

const char *stop_reason_name(enum stop_reason r);

#endif
