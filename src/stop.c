#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvmrun/stop.h"

int vm_stop_init(struct vm_stop *s)
{
	memset(s, 0, sizeof(*s));
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void vm_stop_destroy(struct vm_stop *s)
{
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	pthread_mutex_destroy(&s->lock);
}

void vm_stop_request(struct vm_stop *s, enum stop_reason reason, int status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	/*
	 * A signal read while a reset is being handled still ends the run: under
	 * --reboot restart (QEMU mode without -no-reboot) the reset alone would
	 * boot the guest again and the signal would be lost.
	 */
	if (!atomic_load(&s->requested) || (s->reason == STOP_RESET && reason == STOP_SIGNAL)) {
		s->reason = reason;
		s->status = status;
		atomic_store_explicit(&s->requested, true, memory_order_release);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->efd >= 0 && write(s->efd, &one, sizeof(one)) < 0) {
		/* The counter can only overflow after 2^64 requests; nothing to do. */
	}
}

const char *stop_reason_name(enum stop_reason r)
{
	switch (r) {
	case STOP_NONE:		return "running";
	case STOP_POWEROFF:	return "guest powered off";
	case STOP_RESET:	return "guest reset";
	case STOP_DEBUG_EXIT:	return "guest wrote the debug-exit port";
	case STOP_TIMEOUT:	return "timeout expired";
	case STOP_SIGNAL:	return "stopped by signal";
	case STOP_USER:		return "quit from the console";
	case STOP_ERROR:	return "error";
	case STOP_MIGRATED:	return "the guest moved to the migration's destination";
	}
	return "?";
}
