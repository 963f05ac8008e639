/* The stop watchdog (see watchdog.h). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/clock.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/watchdog.h"

static void __attribute__((noreturn)) exit_now(struct stop_watchdog *w, int status)
{
	console_restore(w->con);
	_exit(status);
}

static void *watchdog_thread(void *arg)
{
	struct stop_watchdog *w = arg;
	struct pollfd pfd[2] = { { w->stop->efd, POLLIN, 0 }, { w->done_efd, POLLIN, 0 } };
	int64_t deadline;

	pthread_setname_np(pthread_self(), "watchdog");
	if (sandbox_enter(SANDBOX_WATCHDOG, "watchdog"))
		return NULL;
	/* Until a stop is requested (or the VM never ran). */
	while (poll(pfd, 2, -1) < 0 && errno == EINTR)
		;
	if (pfd[1].revents & POLLIN)
		return NULL;
	deadline = clock_now_ms() + STOP_BOUND_MS;
	pfd[0] = (struct pollfd){ w->sfd, POLLIN, 0 };
	for (;;) {
		int64_t left = deadline - clock_now_ms();
		int n;

		if (left <= 0) {
			log_err("stop: threads still busy %d ms after the stop request (blocked host "
				"I/O?): exiting", STOP_BOUND_MS);
			exit_now(w, w->status(w->stop));
		}
		n = poll(pfd, 2, (int)left);
		if (n < 0 && errno != EINTR)
			exit_now(w, w->status(w->stop));
		if (n <= 0)
			continue;
		if (pfd[1].revents & POLLIN)
			return NULL;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(w->sfd, &si, sizeof(si)) == sizeof(si)) {
				log_warn("signal %u while stopping: exiting now", si.ssi_signo);
				exit_now(w, 128 + (int)si.ssi_signo);
			}
		}
	}
}

int stop_watchdog_start(struct stop_watchdog *w, struct vm_stop *stop, int sfd,
			struct console *con, int (*status)(const struct vm_stop *))
{
	int r;

	memset(w, 0, sizeof(*w));
	w->stop = stop;
	w->sfd = sfd;
	w->con = con;
	w->status = status;
	w->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->done_efd < 0)
		return -errno;
	r = pthread_create(&w->thread, NULL, watchdog_thread, w);
	if (r) {
		close(w->done_efd);
		w->done_efd = -1;
		return -r;
	}
	w->started = true;
	return 0;
}

void stop_watchdog_finish(struct stop_watchdog *w)
{
	uint64_t one = 1;

	if (!w->started)
		return;
	if (write(w->done_efd, &one, sizeof(one)) < 0) {
		/* An eventfd write of 1 cannot fail here; the join below would tell. */
	}
	pthread_join(w->thread, NULL);
	close(w->done_efd);
	w->started = false;
}
