/* The VM's teardown in a child of its own (see reaper.h). */
#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "kvmrun/reaper.h"

/* Reapers of earlier VMs (a guest reset boots a new VM) not yet collected. */
#define PENDING_MAX	8
static pid_t pending[PENDING_MAX];

static void collect_pending(void)
{
	for (unsigned i = 0; i < PENDING_MAX; i++)
		if (pending[i] > 0 && waitpid(pending[i], NULL, WNOHANG) != 0)
			pending[i] = 0;
}

static void remember(pid_t pid)
{
	for (unsigned i = 0; i < PENDING_MAX; i++)
		if (pending[i] <= 0) {
			pending[i] = pid;
			return;
		}
	/* Eight resets within one teardown: wait for the oldest rather than leave a zombie. */
	waitpid(pending[0], NULL, 0);
	pending[0] = pid;
}

/* The child: async-signal-safe calls only (the parent has threads). */
static void __attribute__((noreturn)) reaper_main(int vm_fd, int sock)
{
	int lo = vm_fd < sock ? vm_fd : sock, hi = vm_fd < sock ? sock : vm_fd;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	char c = 'r';

	/* Only the VM: no pipe, socket or file of kvmrun's stays open in here. */
	if (lo > 0)
		close_range(0, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "kvmrun-reaper");
	prctl(PR_SET_PDEATHSIG, 0);
	/* From here on: read, write and exit only. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) == 0 && write(sock, &c, 1) == 1)
		while (read(sock, &c, 1) > 0)
			;
	/* The thread's own exit (exit_group is not allowed in strict mode); the last reference goes with it. */
	syscall(SYS_exit, 0);
	__builtin_unreachable();
}

void vm_reaper_start(struct vm_reaper *r, int vm_fd)
{
	int sv[2];

	r->pid = 0;
	r->sock = -1;
	collect_pending();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_debug("VM teardown stays on the exit path: socketpair: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();

	if (pid == 0)
		reaper_main(vm_fd, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		log_debug("VM teardown stays on the exit path: fork: %s", strerror(errno));
		close(sv[0]);
		return;
	}
	r->pid = pid;
	r->sock = sv[0];
}

void vm_reaper_release(struct vm_reaper *r)
{
	char c;

	/*
	 * Its one byte says it holds nothing else of ours (the caller's pipes
	 * must close with kvmrun); long sent by now, or it is gone (0 bytes).
	 */
	if (r->sock >= 0) {
		while (read(r->sock, &c, 1) < 0 && errno == EINTR)
			;
		close(r->sock);
	}
	r->sock = -1;
	if (r->pid > 0)
		remember(r->pid);
	r->pid = 0;
}
