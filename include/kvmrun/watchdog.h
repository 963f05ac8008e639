/*
 * The stop bound's last line of defence.  Once a stop is requested, kvmrun
 * must be gone within STOP_BOUND_MS whatever the guest or the host's files
 * do: a thread stuck in a write to a stalled pipe or in a long I/O must not
 * hold the exit.  The watchdog thread waits for the stop request, then for
 * teardown to finish; when the bound passes first, or a second signal
 * arrives, it restores the terminal, says so in one line and ends the
 * process with the stop's exit status (a second signal: 128 + its number).
 */
#ifndef KVMRUN_WATCHDOG_H
#define KVMRUN_WATCHDOG_H

#include <pthread.h>
#include <stdbool.h>

#include "kvmrun/console.h"
#include "kvmrun/stop.h"

#define STOP_BOUND_MS	1000

struct stop_watchdog {
	pthread_t thread;
	bool started;
	int done_efd;			/* teardown finished */
	int sfd;			/* the VM's signalfd: a second signal */
	struct vm_stop *stop;
	struct console *con;
	int (*status)(const struct vm_stop *stop);	/* exit status of a stop */
};

/* Starts the thread; sfd and con stay valid until stop_watchdog_finish. 0 or -errno. */
int stop_watchdog_start(struct stop_watchdog *w, struct vm_stop *stop, int sfd,
			struct console *con, int (*status)(const struct vm_stop *));
/* Teardown is over: ends the thread. */
void stop_watchdog_finish(struct stop_watchdog *w);

#endif
